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

/* The current value (tests, gauges computed from counters). */
int64_t metrics_value(const metric *m);

#endif
