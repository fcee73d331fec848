/* intel_client: the HTTP part of a threat-intel lookup (see the header).
 *
 * One curl easy handle per call: lookups are rare next to the cache hits, and a
 * handle per call keeps the function re-entrant from any thread (curl_global_init
 * must have run once, before threads start: intel_lookup calls it under a
 * pthread_once). Redirects are followed (rdap.org is a redirector) only to http(s),
 * at most 5. */
#include "services/enrich/intel_client.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "common/strbuf.h"

const char *intel_lookup_result_name(int rc)
{
    switch (rc) {
    case INTEL_LOOKUP_OK: return "ok";
    case INTEL_LOOKUP_RATE_LIMITED: return "rate_limited";
    case INTEL_LOOKUP_RETRY: return "retry";
    default: return "error";
    }
}

int64_t intel_retry_after_ms(const char *name, const char *value, int64_t now_ms)
{
    if (!name || !value)
        return -1;
    while (*value == ' ' || *value == '\t')
        value++;
    char *end;
    if (!strcasecmp(name, "Retry-After") || !strcasecmp(name, "X-Rate-Limit-Reset-After")) {
        double s = strtod(value, &end);
        if (end != value && (*end == 0 || *end == '\r' || *end == '\n' || *end == ' '))
            return s < 0 ? 0 : (int64_t)(s * 1000.0);
        if (!strcasecmp(name, "Retry-After")) {
            time_t t = curl_getdate(value, NULL);
            if (t != (time_t)-1) {
                int64_t ms = (int64_t)t * 1000 - now_ms;
                return ms < 0 ? 0 : ms;
            }
        }
        return -1;
    }
    if (!strcasecmp(name, "X-RateLimit-Reset")) { /* AbuseIPDB: Unix seconds */
        long long t = strtoll(value, &end, 10);
        if (end == value)
            return -1;
        int64_t ms = (int64_t)t * 1000 - now_ms;
        return ms < 0 ? 0 : ms;
    }
    return -1;
}

typedef struct {
    strbuf body;
    bool too_big;
    int64_t now_ms;
    int64_t retry_after_ms; /* the first header that says; -1 */
    int64_t retry_after_pref; /* Retry-After beats the others */
} answer;

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    answer *a = arg;
    size_t len = size * n;
    if (a->body.len + len > INTEL_MAX_ANSWER) {
        a->too_big = true;
        return 0;
    }
    return strbuf_add(&a->body, data, len) == 0 ? len : 0;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
    answer *a = arg;
    size_t len = size * n;
    char line[512];
    if (len >= sizeof line)
        return len;
    memcpy(line, data, len);
    line[len] = 0;
    char *colon = strchr(line, ':');
    if (!colon)
        return len;
    *colon = 0;
    char *v = colon + 1;
    v[strcspn(v, "\r\n")] = 0;
    int64_t ms = intel_retry_after_ms(line, v, a->now_ms);
    if (ms >= 0) {
        bool pref = !strcasecmp(line, "Retry-After");
        if (a->retry_after_ms < 0 || (pref && !a->retry_after_pref)) {
            a->retry_after_ms = ms;
            a->retry_after_pref = pref;
        }
    }
    return len;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

int intel_lookup(intel_provider p, const char *base_url, const char *key, const intel_indicator *ind,
                 const intel_lookup_opts *opts, intel_verdict *out, char **raw, int64_t *retry_after_ms, char *err,
                 size_t errlen)
{
    pthread_once(&curl_once, curl_init);
    if (raw)
        *raw = NULL;
    if (retry_after_ms)
        *retry_after_ms = 0;
    snprintf(err, errlen, "%s", "");
    intel_request req;
    int brc = intel_request_build(p, base_url, key, ind, &req);
    if (brc == INTEL_REQ_UNSUPPORTED) {
        snprintf(err, errlen, "%s does not answer about %s", intel_provider_name(p), intel_kind_name(ind->kind));
        return INTEL_LOOKUP_ERROR;
    }
    if (brc != INTEL_REQ_OK) {
        snprintf(err, errlen, "out of memory");
        return INTEL_LOOKUP_RETRY;
    }
    CURL *c = curl_easy_init();
    struct curl_slist *hdrs = NULL;
    answer a = {.now_ms = opts->now_ms, .retry_after_ms = -1};
    int rc = INTEL_LOOKUP_ERROR;
    if (!c) {
        snprintf(err, errlen, "curl_easy_init failed");
        rc = INTEL_LOOKUP_RETRY;
        goto done;
    }
    for (int i = 0; i < INTEL_MAX_HEADERS && req.headers[i]; i++) {
        struct curl_slist *n = curl_slist_append(hdrs, req.headers[i]);
        if (!n) {
            snprintf(err, errlen, "out of memory");
            rc = INTEL_LOOKUP_RETRY;
            goto done;
        }
        hdrs = n;
    }
    /* curl adds "Expect: 100-continue" to some POSTs; the providers do not want it */
    struct curl_slist *n = curl_slist_append(hdrs, "Expect:");
    if (n)
        hdrs = n;
    curl_easy_setopt(c, CURLOPT_URL, req.url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "hutch-intel/1");
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)opts->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(opts->timeout_ms < 10000 ? opts->timeout_ms : 10000));
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#endif
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &a);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &a);
    if (!strcmp(req.method, "POST")) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req.body ? req.body : "");
    }
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        if (a.too_big) {
            snprintf(err, errlen, "%s answer larger than %d bytes", intel_provider_name(p), INTEL_MAX_ANSWER);
            rc = INTEL_LOOKUP_ERROR;
        } else {
            /* curl_easy_strerror, never the error buffer: it may quote the URL */
            snprintf(err, errlen, "%s %s: %s", intel_provider_name(p), req.log_path, curl_easy_strerror(cc));
            rc = INTEL_LOOKUP_RETRY;
        }
        goto done;
    }
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (status == 429) {
        if (retry_after_ms)
            *retry_after_ms = a.retry_after_ms >= 0 ? a.retry_after_ms : INTEL_DEFAULT_COOLDOWN_MS;
        snprintf(err, errlen, "%s %s: HTTP 429", intel_provider_name(p), req.log_path);
        rc = INTEL_LOOKUP_RATE_LIMITED;
        goto done;
    }
    if (status >= 500 || status == 408) {
        snprintf(err, errlen, "%s %s: HTTP %ld", intel_provider_name(p), req.log_path, status);
        rc = INTEL_LOOKUP_RETRY;
        goto done;
    }
    if (status != 200 && status != 404) {
        snprintf(err, errlen, "%s %s: HTTP %ld%s", intel_provider_name(p), req.log_path, status,
                 status == 401 || status == 403 ? " (is the key right?)" : "");
        rc = INTEL_LOOKUP_ERROR;
        goto done;
    }
    char rerr[256] = "";
    if (intel_reduce(p, ind, status, a.body.p, a.body.len, opts->now_ms / 1000, out, rerr, sizeof rerr) !=
        INTEL_REDUCE_OK) {
        snprintf(err, errlen, "%s %s: %s", intel_provider_name(p), req.log_path, rerr);
        rc = INTEL_LOOKUP_ERROR;
        goto done;
    }
    if (raw && a.body.len) {
        /* kept for the agent only when it is JSON (a 404's body may be HTML) */
        json_t *j = json_loadb(a.body.p, a.body.len, 0, NULL);
        if (j)
            *raw = strbuf_take(&a.body);
        json_decref(j);
    }
    rc = INTEL_LOOKUP_OK;
done:
    curl_slist_free_all(hdrs);
    if (c)
        curl_easy_cleanup(c);
    strbuf_free(&a.body);
    intel_request_free(&req);
    return rc;
}
