/* Hot reload of the policy directory (reload.h). */
#include "services/policy/reload.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/log.h"
#include "common/metrics.h"

struct policy_reload {
    char *dir;
    int64_t interval_ms;
    pthread_t thread;
    bool started;
    atomic_bool stop;
    atomic_bool requested; /* set by SIGHUP */
    uint64_t fingerprint;  /* of the files last compiled (good or not): retry only on a change */

    pthread_mutex_t lock;  /* guards the fields below */
    policy_rules *pending;
    int64_t generation;
    size_t modules;
    time_t loaded_at, failed_at;
    char error[768];       /* the last failed attempt's, "" after a good one */

    metric *m_generation, *m_ok, *m_failed, *m_stale, *m_modules;
};

/* ---- fingerprint: FNV-1a over path, size, mtime, inode of every *.rego ---- */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ULL;
    return h;
}

static int visible(const struct dirent *e) { return e->d_name[0] != '.'; }

static uint64_t fingerprint_dir(const char *dir, uint64_t h, int depth)
{
    struct dirent **ents = NULL;
    int n = scandir(dir, &ents, visible, alphasort);
    if (n < 0)
        return fnv(h, "?", 1); /* unreadable: a state of its own */
    for (int i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        size_t len = strlen(ents[i]->d_name);
        if (snprintf(path, sizeof path, "%s/%s", dir, ents[i]->d_name) < (int)sizeof path && stat(path, &st) == 0) {
            if (S_ISDIR(st.st_mode) && depth < 64) {
                h = fingerprint_dir(path, h, depth + 1);
            } else if (S_ISREG(st.st_mode) && len > 5 && strcmp(ents[i]->d_name + len - 5, ".rego") == 0) {
                h = fnv(h, path, strlen(path) + 1);
                int64_t facts[4] = {(int64_t)st.st_size, (int64_t)st.st_mtim.tv_sec, (int64_t)st.st_mtim.tv_nsec,
                                    (int64_t)st.st_ino};
                h = fnv(h, facts, sizeof facts);
            }
        }
        free(ents[i]);
    }
    free(ents);
    return h;
}

static uint64_t fingerprint(const char *dir)
{
    return fingerprint_dir(dir, 14695981039346656037ULL, 0);
}

/* ---- compiling ------------------------------------------------------------ */

/* Compiles the directory; a good set goes to pending (or *first), a bad one is
 * recorded. Returns 0 when it compiled. */
static int compile(policy_reload *w, policy_rules **first, char *err, size_t errlen)
{
    char e[768] = "";
    w->fingerprint = fingerprint(w->dir);
    policy_rules *r = policy_rules_load(w->dir, e, sizeof e);
    pthread_mutex_lock(&w->lock);
    if (r) {
        w->generation++;
        w->modules = policy_rules_module_count(r);
        w->loaded_at = time(NULL);
        w->error[0] = '\0';
        if (first) {
            *first = r;
        } else {
            policy_rules_free(w->pending); /* never taken: superseded */
            w->pending = r;
        }
    } else {
        w->failed_at = time(NULL);
        snprintf(w->error, sizeof w->error, "%s", e);
    }
    int64_t generation = w->generation;
    size_t modules = w->modules;
    pthread_mutex_unlock(&w->lock);

    char gen[24], mods[24];
    snprintf(gen, sizeof gen, "%lld", (long long)generation);
    snprintf(mods, sizeof mods, "%zu", modules);
    if (r) {
        metrics_add(w->m_ok, 1);
        metrics_set(w->m_generation, generation);
        metrics_set(w->m_modules, (int64_t)modules);
        metrics_set(w->m_stale, 0);
        LOG_INFO("policy_loaded", "dir", w->dir, "generation", gen, "modules", mods, NULL);
        return 0;
    }
    metrics_add(w->m_failed, 1);
    metrics_set(w->m_stale, 1);
    if (first)
        snprintf(err, errlen, "%s", e);
    else
        LOG_ERROR("policy_reload_failed", "dir", w->dir, "error", e, "serving_generation", gen, NULL);
    return -1;
}

static void *watch(void *arg)
{
    policy_reload *w = arg;
    int64_t waited = 0;
    const int64_t tick = 100;
    while (!atomic_load(&w->stop)) {
        struct timespec ts = {0, tick * 1000000L};
        nanosleep(&ts, NULL);
        waited += tick;
        bool asked = atomic_exchange(&w->requested, false);
        bool due = w->interval_ms > 0 && waited >= w->interval_ms;
        if (!asked && !due)
            continue;
        waited = 0;
        if (asked) {
            LOG_INFO("policy_reload_requested", "dir", w->dir, NULL);
            compile(w, NULL, NULL, 0);
        } else if (fingerprint(w->dir) != w->fingerprint) {
            LOG_INFO("policy_files_changed", "dir", w->dir, NULL);
            compile(w, NULL, NULL, 0);
        }
    }
    return NULL;
}

policy_reload *policy_reload_start(const char *dir, int64_t interval_ms, policy_rules **first, char *err,
                                   size_t errlen)
{
    *first = NULL;
    policy_reload *w = calloc(1, sizeof *w);
    if (!w || !(w->dir = strdup(dir))) {
        free(w);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    w->interval_ms = interval_ms;
    pthread_mutex_init(&w->lock, NULL);
    w->m_generation = metrics_gauge("hutch_policy_generation", "policy set in use (1 = the one loaded at start)");
    w->m_modules = metrics_gauge("hutch_policy_modules", "Rego modules in the policy set in use");
    w->m_ok = metrics_counter("hutch_policy_reloads_total{result=\"ok\"}", "policy set compilations");
    w->m_failed = metrics_counter("hutch_policy_reloads_total{result=\"failed\"}", "policy set compilations");
    w->m_stale = metrics_gauge("hutch_policy_reload_failed",
                               "1 when the last change to the policy files did not compile (the last good set serves)");
    if (compile(w, first, err, errlen) != 0) {
        policy_reload_stop(w);
        return NULL;
    }
    if (pthread_create(&w->thread, NULL, watch, w) != 0) {
        snprintf(err, errlen, "cannot start the policy watcher thread");
        policy_rules_free(*first);
        *first = NULL;
        policy_reload_stop(w);
        return NULL;
    }
    w->started = true;
    return w;
}

void policy_reload_stop(policy_reload *w)
{
    if (!w)
        return;
    atomic_store(&w->stop, true);
    if (w->started)
        pthread_join(w->thread, NULL);
    policy_rules_free(w->pending);
    pthread_mutex_destroy(&w->lock);
    free(w->dir);
    free(w);
}

void policy_reload_request(policy_reload *w)
{
    if (w)
        atomic_store(&w->requested, true);
}

policy_rules *policy_reload_take(policy_reload *w)
{
    if (!w)
        return NULL;
    pthread_mutex_lock(&w->lock);
    policy_rules *r = w->pending;
    w->pending = NULL;
    pthread_mutex_unlock(&w->lock);
    return r;
}

static void put_time(json_t *o, const char *key, time_t t)
{
    char buf[32];
    struct tm tm;
    if (t && gmtime_r(&t, &tm) && strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm))
        json_object_set_new(o, key, json_string(buf));
}

json_t *policy_reload_status(policy_reload *w)
{
    json_t *o = json_object();
    if (!w || !o)
        return o;
    pthread_mutex_lock(&w->lock);
    json_object_set_new(o, "dir", json_string(w->dir));
    json_object_set_new(o, "generation", json_integer(w->generation));
    json_object_set_new(o, "modules", json_integer((json_int_t)w->modules));
    put_time(o, "loaded_at", w->loaded_at);
    json_object_set_new(o, "state", json_string(w->error[0] ? "stale" : "ok"));
    if (w->error[0]) {
        json_object_set_new(o, "error", json_string(w->error));
        put_time(o, "failed_at", w->failed_at);
    }
    pthread_mutex_unlock(&w->lock);
    return o;
}
