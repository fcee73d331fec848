/* Slack Web API calls and rate limiters (see slack_api.h). A fresh curl handle per
 * call, like post.c: Slack calls are a few per second at most. */
#include "services/notify/slack_api.h"
#include "services/notify/post.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <time.h>

#define SLACK_MAX_ANSWER (256 * 1024)

typedef struct {
    char *data;
    size_t len;
    bool too_big;
    int retry_after_s;
} answer;

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    answer *a = ud;
    size_t n = size * nmemb;
    if (a->too_big || a->len + n > SLACK_MAX_ANSWER) {
        a->too_big = true;
        return n;
    }
    char *grown = realloc(a->data, a->len + n + 1);
    if (grown == NULL) {
        a->too_big = true;
        return n;
    }
    a->data = grown;
    memcpy(a->data + a->len, data, n);
    a->len += n;
    a->data[a->len] = '\0';
    return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    answer *a = ud;
    size_t n = size * nmemb;
    if (n > 12 && strncasecmp(data, "Retry-After:", 12) == 0) {
        char buf[32];
        size_t len = n - 12 < sizeof buf - 1 ? n - 12 : sizeof buf - 1;
        memcpy(buf, data + 12, len);
        buf[len] = '\0';
        long v = strtol(buf, NULL, 10);
        a->retry_after_s = v > 0 && v < 3600 ? (int)v : 1;
    }
    return n;
}

static void copy_str(char *dst, size_t len, const json_t *v)
{
    snprintf(dst, len, "%s", json_is_string(v) ? json_string_value(v) : "");
}

/* Runs the request curl was set up for and reads Slack's answer into res: not answered,
 * 429 (Retry-After), or {"ok": ...} with its error. The answer when ok (NEW), else NULL. */
static json_t *perform(CURL *curl, slack_result *res)
{
    answer a = {0};
    CURLcode rc = CURLE_OUT_OF_MEMORY;
    json_t *ok = NULL;
    if (curl != NULL) {
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &a);
        curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(curl, CURLOPT_HEADERDATA, &a);
        rc = curl_easy_perform(curl);
    }
    if (rc == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &res->status);
        res->answered = res->status > 0;
    }
    if (!res->answered) {
        snprintf(res->error, sizeof res->error, "%s", curl_easy_strerror(rc == CURLE_OK ? CURLE_GOT_NOTHING : rc));
    } else if (res->status == 429) {
        res->retry_after_s = a.retry_after_s > 0 ? a.retry_after_s : 1;
        snprintf(res->error, sizeof res->error, "ratelimited");
    } else {
        json_error_t jerr;
        json_t *j = a.data && !a.too_big ? json_loadb(a.data, a.len, 0, &jerr) : NULL;
        res->ok = json_is_true(json_object_get(j, "ok"));
        if (res->ok) {
            ok = j;
        } else {
            const char *e = json_string_value(json_object_get(j, "error"));
            snprintf(res->error, sizeof res->error, "HTTP %ld: %s", res->status,
                     e ? e
                       : (a.too_big ? "answer too large"
                          : j       ? "no error given"
                                    : "answer is not JSON"));
            json_decref(j);
        }
    }
    free(a.data);
    return ok;
}

int slack_call(const char *api_url, const char *token, const char *method, const json_t *body, long timeout_ms,
               slack_result *res)
{
    memset(res, 0, sizeof *res);
    char url[1024];
    char *text = json_dumps(body, JSON_COMPACT);
    char auth[512];
    if (snprintf(url, sizeof url, "%s/%s", api_url, method) >= (int)sizeof url ||
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token) >= (int)sizeof auth || text == NULL) {
        free(text);
        snprintf(res->error, sizeof res->error, "request too large or out of memory");
        return -1;
    }
    CURL *curl = curl_easy_init();
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json; charset=utf-8");
    headers = headers ? curl_slist_append(headers, auth) : NULL;
    headers = headers ? curl_slist_append(headers, "Expect:") : NULL;
    json_t *j = NULL;
    if (curl != NULL && headers != NULL) {
        notify_post_setopt(curl, url, headers, text, timeout_ms);
        j = perform(curl, res);
    } else {
        snprintf(res->error, sizeof res->error, "out of memory");
    }
    copy_str(res->ts, sizeof res->ts, json_object_get(j, "ts"));
    copy_str(res->channel, sizeof res->channel, json_object_get(j, "channel"));
    copy_str(res->url, sizeof res->url, json_object_get(j, "url"));
    json_decref(j);
    free(text);
    curl_slist_free_all(headers);
    if (curl != NULL)
        curl_easy_cleanup(curl);
    return res->ok ? 0 : -1;
}

int slack_get(const char *api_url, const char *token, const char *method, const char *query, long timeout_ms,
              slack_result *res, json_t **out)
{
    memset(res, 0, sizeof *res);
    *out = NULL;
    char url[2048];
    char auth[512];
    if (snprintf(url, sizeof url, "%s/%s?%s", api_url, method, query) >= (int)sizeof url ||
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token) >= (int)sizeof auth) {
        snprintf(res->error, sizeof res->error, "request too large");
        return -1;
    }
    CURL *curl = curl_easy_init();
    struct curl_slist *headers = curl_slist_append(NULL, auth);
    if (curl != NULL && headers != NULL) {
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
        curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(curl, CURLOPT_USERAGENT, "hutch-notify");
        *out = perform(curl, res);
    } else {
        snprintf(res->error, sizeof res->error, "out of memory");
    }
    curl_slist_free_all(headers);
    if (curl != NULL)
        curl_easy_cleanup(curl);
    return res->ok ? 0 : -1;
}

bool slack_retryable(const slack_result *res)
{
    if (!res->answered || res->status == 429 || res->status == 408 || res->status >= 500)
        return true;
    return strstr(res->error, "ratelimited") != NULL || strstr(res->error, "rate_limited") != NULL ||
           strstr(res->error, "internal_error") != NULL || strstr(res->error, "service_unavailable") != NULL ||
           strstr(res->error, "fatal_error") != NULL || strstr(res->error, "answer is not JSON") != NULL ||
           strstr(res->error, "answer too large") != NULL;
}

/* ---- limiters ---- */

typedef struct bucket {
    char key[80];
    double tokens;
    int64_t at_ms;
    int64_t blocked_until_ms;
    LIST_ENTRY(bucket) link;
} bucket;

struct slack_limiter {
    pthread_mutex_t mu;
    double rate, burst;
    LIST_HEAD(, bucket) buckets;
};

slack_limiter *slack_limiter_new(double rate, double burst)
{
    slack_limiter *l = calloc(1, sizeof *l);
    if (l == NULL)
        return NULL;
    pthread_mutex_init(&l->mu, NULL);
    l->rate = rate > 0 ? rate : 1;
    l->burst = burst >= 1 ? burst : 1;
    LIST_INIT(&l->buckets);
    return l;
}

void slack_limiter_free(slack_limiter *l)
{
    if (l == NULL)
        return;
    while (!LIST_EMPTY(&l->buckets)) {
        bucket *b = LIST_FIRST(&l->buckets);
        LIST_REMOVE(b, link);
        free(b);
    }
    pthread_mutex_destroy(&l->mu);
    free(l);
}

/* The bucket of key, made full when new. NULL on OOM. Called with mu held. */
static bucket *bucket_of(slack_limiter *l, const char *key, int64_t now_ms)
{
    bucket *b;
    LIST_FOREACH (b, &l->buckets, link)
        if (!strncmp(b->key, key, sizeof b->key - 1))
            return b;
    b = calloc(1, sizeof *b);
    if (b == NULL)
        return NULL;
    snprintf(b->key, sizeof b->key, "%s", key);
    b->tokens = l->burst;
    b->at_ms = now_ms;
    LIST_INSERT_HEAD(&l->buckets, b, link);
    return b;
}

int64_t slack_limiter_take(slack_limiter *l, const char *key, int64_t now_ms)
{
    pthread_mutex_lock(&l->mu);
    bucket *b = bucket_of(l, key, now_ms);
    int64_t wait = 0;
    if (b == NULL) {
        wait = 100;
    } else if (now_ms < b->blocked_until_ms) {
        wait = b->blocked_until_ms - now_ms;
    } else {
        if (now_ms > b->at_ms) {
            b->tokens += (double)(now_ms - b->at_ms) * l->rate / 1000.0;
            if (b->tokens > l->burst)
                b->tokens = l->burst;
            b->at_ms = now_ms;
        }
        if (b->tokens >= 1) {
            b->tokens -= 1;
        } else {
            wait = (int64_t)((1 - b->tokens) * 1000.0 / l->rate) + 1;
        }
    }
    pthread_mutex_unlock(&l->mu);
    return wait;
}

void slack_limiter_block(slack_limiter *l, const char *key, int64_t now_ms, int retry_after_s)
{
    pthread_mutex_lock(&l->mu);
    bucket *b = bucket_of(l, key, now_ms);
    if (b != NULL) {
        b->blocked_until_ms = now_ms + (int64_t)retry_after_s * 1000;
        b->tokens = 0;
        b->at_ms = b->blocked_until_ms;
    }
    pthread_mutex_unlock(&l->mu);
}

int64_t slack_monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int slack_limiter_wait(slack_limiter *l, const char *key, volatile int *stop)
{
    for (;;) {
        if (stop != NULL && *stop)
            return -1;
        int64_t wait = slack_limiter_take(l, key, slack_monotonic_ms());
        if (wait == 0)
            return 0;
        if (wait > 200)
            wait = 200; /* look at *stop now and then */
        struct timespec ts = {wait / 1000, (long)(wait % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}
