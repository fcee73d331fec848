/* Prometheus metrics: process-wide counters and gauges, rendered as text for /metrics.
 * Registration returns a handle that lives for the whole process; updates are
 * lock-free atomics, safe from any thread. Names may carry a fixed label set, e.g.
 * "hutch_messages_total{topic=\"hutch.events.raw\",result=\"ok\"}". */
#ifndef HUTCH_METRICS_H
#define HUTCH_METRICS_H

#include <stdint.h>

typedef struct metric metric;

/* Same name twice returns the same metric. help is BORROWED (string literal). */
metric *metrics_counter(const char *name, const char *help);
metric *metrics_gauge(const char *name, const char *help);
void metrics_add(metric *m, int64_t delta);
void metrics_set(metric *m, int64_t value);
/* Prometheus text exposition. NEW, free(). Includes process_resident_memory_bytes. */
char *metrics_render(void);

/* Current value (tests, gauges computed from counters). */
int64_t metrics_value(const metric *m);

/* A histogram with fixed upper bounds (BORROWED, ascending, n <= 16; +Inf is
 * implicit), rendered as _bucket{le=...}, _sum and _count. The name has no labels.
 * Same name twice returns the same histogram. */
typedef struct metric_histogram metric_histogram;
metric_histogram *metrics_histogram(const char *name, const char *help, const double *bounds, int n);
void metrics_observe(metric_histogram *h, double value);
/* Observations so far (tests). */
int64_t metrics_histogram_count(const metric_histogram *h);

#endif
