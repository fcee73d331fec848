/* intel_client: one threat-intel lookup over HTTP (libcurl): build the request
 * (intel_provider.h), send it, classify the answer, reduce it.
 *
 * Outcome classes, so that the caller (the enrich lookup worker, hutchctl) decides:
 *   OK            a verdict (not_found included) and the raw answer to cache;
 *   RATE_LIMITED  429: retry_after_ms says how long to cool the provider down
 *                 (Retry-After in seconds or as an HTTP date, else AbuseIPDB's
 *                 X-RateLimit-Reset epoch or urlscan's X-Rate-Limit-Reset-After,
 *                 else INTEL_DEFAULT_COOLDOWN_MS);
 *   RETRY         5xx, timeout, connection failure: a bounded retry with backoff;
 *   ERROR         anything else (401/403 bad key, a 4xx, an answer that is not the
 *                 documented JSON): not retried, err says why.
 * Keys are secrets: err never holds the URL (Shodan's key is in it) nor a header.
 * Blocking: call it from a worker thread, never from an event loop. */
#ifndef HUTCH_INTEL_CLIENT_H
#define HUTCH_INTEL_CLIENT_H

#include <stdint.h>

#include "services/enrich/intel_provider.h"

#define INTEL_DEFAULT_COOLDOWN_MS 60000
/* Answers larger than this are an ERROR (a provider's answer is a few kB; RDAP's
 * biggest are ~100 kB). */
#define INTEL_MAX_ANSWER (4 * 1024 * 1024)

enum {
    INTEL_LOOKUP_OK = 0,
    INTEL_LOOKUP_RATE_LIMITED = -1,
    INTEL_LOOKUP_RETRY = -2,
    INTEL_LOOKUP_ERROR = -3,
};
const char *intel_lookup_result_name(int rc); /* "ok", "rate_limited", "retry", "error" */

typedef struct {
    int64_t timeout_ms;
    int64_t now_ms; /* Unix ms: RDAP's registration age, Retry-After dates */
} intel_lookup_opts;

/* Asks provider p about ind (BORROWED) at base_url with key (BORROWED; NULL/"" for
 * none). On OK fills out and, if raw != NULL, sets *raw to the answer body (NEW,
 * free(); NULL for a 404 without a body). On RATE_LIMITED sets *retry_after_ms.
 * err gets a one-line reason for every other outcome. */
int intel_lookup(intel_provider p, const char *base_url, const char *key, const intel_indicator *ind,
                 const intel_lookup_opts *opts, intel_verdict *out, char **raw, int64_t *retry_after_ms, char *err,
                 size_t errlen);

/* The cool-down a 429 asks for, from one response header (name case-insensitive,
 * value BORROWED): ms from now_ms, or -1 when the header says nothing. Pure. */
int64_t intel_retry_after_ms(const char *name, const char *value, int64_t now_ms);

#endif
