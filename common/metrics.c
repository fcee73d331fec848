/* Prometheus metrics registry (metrics.h).
 *
 * Metrics are registered once (usually at start-up) and never freed: handles stay
 * valid for the whole process, so updates need no lock, only an atomic add/store.
 * The mutex guards the registry list (registration and rendering); it is never
 * taken on the update path.
 *
 * A name may carry labels ("x_total{topic=\"a\"}"); the part before '{' is the
 * family. Rendering groups series by family in first-registration order and writes
 * # HELP / # TYPE once per family, as the exposition format requires. */
#include "common/metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/strbuf.h"

typedef enum { METRIC_COUNTER, METRIC_GAUGE } metric_type;

struct metric {
    char *name;   /* full series name, labels included */
    size_t family_len;
    const char *help;
    metric_type type;
    _Atomic int64_t value;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static metric **registry;
static size_t registry_len, registry_cap;

static metric *metrics_register(const char *name, const char *help, metric_type type)
{
    if (!name || !*name)
        return NULL;
    metric *found = NULL;
    pthread_mutex_lock(&registry_lock);
    for (size_t i = 0; i < registry_len && !found; i++)
        if (!strcmp(registry[i]->name, name))
            found = registry[i];
    if (!found && registry_len == registry_cap) {
        size_t cap = registry_cap ? registry_cap * 2 : 64;
        metric **grown = realloc(registry, cap * sizeof *grown);
        if (grown) {
            registry = grown;
            registry_cap = cap;
        }
    }
    if (!found && registry_len < registry_cap) {
        metric *m = calloc(1, sizeof *m);
        if (m && (m->name = strdup(name))) {
            const char *brace = strchr(name, '{');
            m->family_len = brace ? (size_t)(brace - name) : strlen(name);
            m->help = help ? help : "";
            m->type = type;
            atomic_init(&m->value, 0);
            registry[registry_len++] = m;
            found = m;
        } else {
            free(m);
        }
    }
    pthread_mutex_unlock(&registry_lock);
    return found;
}

metric *metrics_counter(const char *name, const char *help) { return metrics_register(name, help, METRIC_COUNTER); }
metric *metrics_gauge(const char *name, const char *help) { return metrics_register(name, help, METRIC_GAUGE); }

void metrics_add(metric *m, int64_t delta)
{
    if (m)
        atomic_fetch_add_explicit(&m->value, delta, memory_order_relaxed);
}

void metrics_set(metric *m, int64_t value)
{
    if (m)
        atomic_store_explicit(&m->value, value, memory_order_relaxed);
}

int64_t metrics_value(const metric *m)
{
    return m ? atomic_load_explicit(&((metric *)m)->value, memory_order_relaxed) : 0;
}

#define HISTOGRAM_BUCKETS_MAX 16

struct metric_histogram {
    char *name;
    const char *help;
    double bounds[HISTOGRAM_BUCKETS_MAX];
    int n;
    _Atomic int64_t buckets[HISTOGRAM_BUCKETS_MAX + 1]; /* per bucket, not cumulative; last = +Inf */
    _Atomic int64_t sum_micro;                          /* sum of the values x 1e6 */
    _Atomic int64_t count;
};

static metric_histogram **histograms;
static size_t histograms_len, histograms_cap;

metric_histogram *metrics_histogram(const char *name, const char *help, const double *bounds, int n)
{
    if (!name || !*name || n < 0 || n > HISTOGRAM_BUCKETS_MAX)
        return NULL;
    metric_histogram *found = NULL;
    pthread_mutex_lock(&registry_lock);
    for (size_t i = 0; i < histograms_len && !found; i++)
        if (!strcmp(histograms[i]->name, name))
            found = histograms[i];
    if (!found && histograms_len == histograms_cap) {
        size_t cap = histograms_cap ? histograms_cap * 2 : 8;
        metric_histogram **grown = realloc(histograms, cap * sizeof *grown);
        if (grown) {
            histograms = grown;
            histograms_cap = cap;
        }
    }
    if (!found && histograms_len < histograms_cap) {
        metric_histogram *h = calloc(1, sizeof *h);
        if (h && (h->name = strdup(name))) {
            h->help = help ? help : "";
            h->n = n;
            memcpy(h->bounds, bounds, (size_t)n * sizeof *bounds);
            histograms[histograms_len++] = h;
            found = h;
        } else {
            free(h);
        }
    }
    pthread_mutex_unlock(&registry_lock);
    return found;
}

void metrics_observe(metric_histogram *h, double value)
{
    if (!h)
        return;
    int i = 0;
    while (i < h->n && value > h->bounds[i])
        i++;
    atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_micro, (int64_t)(value * 1e6), memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

int64_t metrics_histogram_count(const metric_histogram *h)
{
    return h ? atomic_load_explicit(&((metric_histogram *)h)->count, memory_order_relaxed) : 0;
}

static int64_t resident_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    long size = 0, resident = 0;
    int n = fscanf(f, "%ld %ld", &size, &resident);
    fclose(f);
    if (n != 2)
        return 0;
    return (int64_t)resident * (int64_t)sysconf(_SC_PAGESIZE);
}

char *metrics_render(void)
{
    metrics_set(metrics_gauge("process_resident_memory_bytes", "Resident memory size in bytes."), resident_bytes());

    strbuf sb = {0};

    pthread_mutex_lock(&registry_lock);
    char *done = calloc(registry_len ? registry_len : 1, 1);
    if (!done) {
        pthread_mutex_unlock(&registry_lock);
        return NULL;
    }
    for (size_t i = 0; i < registry_len; i++) {
        if (done[i])
            continue;
        const metric *head = registry[i];
        strbuf_printf(&sb, "# HELP %.*s %s\n", (int)head->family_len, head->name, head->help);
        strbuf_printf(&sb, "# TYPE %.*s %s\n", (int)head->family_len, head->name,
                      head->type == METRIC_COUNTER ? "counter" : "gauge");
        for (size_t j = i; j < registry_len; j++) {
            const metric *m = registry[j];
            if (done[j] || m->family_len != head->family_len || strncmp(m->name, head->name, head->family_len))
                continue;
            done[j] = 1;
            strbuf_printf(&sb, "%s %lld\n", m->name,
                          (long long)atomic_load_explicit(&((metric *)m)->value, memory_order_relaxed));
        }
    }
    for (size_t i = 0; i < histograms_len; i++) {
        metric_histogram *h = histograms[i];
        strbuf_printf(&sb, "# HELP %s %s\n# TYPE %s histogram\n", h->name, h->help, h->name);
        int64_t cumulative = 0;
        for (int b = 0; b <= h->n; b++) {
            cumulative += atomic_load_explicit(&h->buckets[b], memory_order_relaxed);
            if (b < h->n)
                strbuf_printf(&sb, "%s_bucket{le=\"%g\"} %lld\n", h->name, h->bounds[b], (long long)cumulative);
            else
                strbuf_printf(&sb, "%s_bucket{le=\"+Inf\"} %lld\n", h->name, (long long)cumulative);
        }
        strbuf_printf(&sb, "%s_sum %.6f\n%s_count %lld\n", h->name,
                      (double)atomic_load_explicit(&h->sum_micro, memory_order_relaxed) / 1e6, h->name,
                      (long long)atomic_load_explicit(&h->count, memory_order_relaxed));
    }
    pthread_mutex_unlock(&registry_lock);
    free(done);
    return strbuf_take(&sb); /* NULL when it ran out of memory */
}
