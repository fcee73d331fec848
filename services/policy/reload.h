/* Hot reload of the policy directory (HUTCH_POLICY_DIR).
 *
 * A thread of its own watches the directory: every interval it fingerprints the
 * *.rego files below it (path, size, mtime, inode: this follows the symlink swap of
 * a Kubernetes ConfigMap volume), and on a change, or when asked (SIGHUP), compiles
 * the whole set again. A set that compiles is handed over; one that does not is
 * logged with its file:line and counted, and the last good set keeps serving.
 *
 * The hand-over is one pointer: the consumer thread calls policy_reload_take()
 * between two events and swaps its set, so an event is decided by exactly one set
 * and a reload neither drops nor repeats one. The state (generation, last error)
 * feeds /metrics and /readyz. */
#ifndef HUTCH_POLICY_RELOAD_H
#define HUTCH_POLICY_RELOAD_H

#include <jansson.h>
#include <signal.h>
#include <stdint.h>

#include "services/policy/rules.h"

typedef struct policy_reload policy_reload;

/* Loads dir once (NEW set in *first, or NULL and the error in err: the caller
 * refuses to start) and starts watching it every interval_ms (0: only on
 * policy_reload_request). NEW watcher, or NULL with err. dir is copied. */
policy_reload *policy_reload_start(const char *dir, int64_t interval_ms, policy_rules **first, char *err,
                                   size_t errlen);
/* Stops the thread and frees a set not taken yet. NULL is fine. */
void policy_reload_stop(policy_reload *w);

/* Asks for a reload now (async-signal-safe: the SIGHUP handler calls it). */
void policy_reload_request(policy_reload *w);

/* A newly compiled set (NEW: the caller frees the one it replaces), or NULL. */
policy_rules *policy_reload_take(policy_reload *w);

/* {"dir", "generation", "modules", "loaded_at", "state": "ok" | "stale",
 * "error", "failed_at"} for /readyz. NEW. */
json_t *policy_reload_status(policy_reload *w);

#endif
