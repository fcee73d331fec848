/* Calls of Slack's Web API (chat.postMessage, chat.update, views.open,
 * conversations.history) with libcurl,
 * and the rate limiters in front of them.
 *
 * Slack answers HTTP 200 with {"ok": false, "error": "..."} for most failures, and
 * 429 with Retry-After when over a limit (EXTERNAL-APIS §3.4, §3.5); slack_call
 * reads both. The token is a secret: never logged, never stored.
 *
 * Limiters (token buckets, monotonic clock, one mutex): chat.postMessage per channel
 * at HUTCH_SLACK_POST_RATE per second with a burst of HUTCH_SLACK_POST_BURST (Slack's
 * ~1/s/channel, short bursts tolerated); chat.update through one global bucket. A 429
 * empties the bucket it came through until Retry-After has passed, so every caller
 * of that channel (or of edits) waits, not only the one that was refused. */
#ifndef HUTCH_NOTIFY_SLACK_API_H
#define HUTCH_NOTIFY_SLACK_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
    bool answered;     /* an HTTP status came back */
    long status;       /* HTTP status */
    bool ok;           /* the body said "ok": true */
    int retry_after_s; /* from Retry-After on a 429 (1 when absent) */
    char error[128];   /* Slack's "error" or the transport error */
    char ts[40];       /* "ts" of the answer (chat.postMessage / chat.update) */
    char channel[64];  /* "channel" of the answer (the channel id) */
    char url[1024];    /* "url" of the answer (apps.connections.open: the WebSocket URL) */
} slack_result;

/* POSTs body (BORROWED JSON) to <api_url>/<method> with the bearer token. Fills *res.
 * 0 when Slack said ok, -1 otherwise. */
int slack_call(const char *api_url, const char *token, const char *method, const json_t *body, long timeout_ms,
               slack_result *res);

/* GETs <api_url>/<method>?<query> (query BORROWED, already URL-encoded) with the bearer
 * token, for Slack's read methods (conversations.history takes form arguments, not
 * JSON). Fills *res; when Slack said ok, *answer is the NEW parsed answer (json_decref),
 * else NULL. 0 when Slack said ok, -1 otherwise. */
int slack_get(const char *api_url, const char *token, const char *method, const char *query, long timeout_ms,
              slack_result *res, json_t **answer);

/* What to do after a failed call: retry later (transport, 5xx, 429, ratelimited) or
 * never (anything else Slack refused: bad channel, bad blocks, bad token). */
bool slack_retryable(const slack_result *res);

typedef struct slack_limiter slack_limiter;
/* rate: tokens per second; burst: bucket size. NEW, NULL on OOM. */
slack_limiter *slack_limiter_new(double rate, double burst);
void slack_limiter_free(slack_limiter *l);
/* Milliseconds to wait before a call under key may go (0: go now, the token is taken).
 * key "" for a global bucket. now_ms: a monotonic clock (ids_now_ms is wall time;
 * tests pass their own). */
int64_t slack_limiter_take(slack_limiter *l, const char *key, int64_t now_ms);
/* After a 429: nothing under key goes before now_ms + retry_after_s seconds. */
void slack_limiter_block(slack_limiter *l, const char *key, int64_t now_ms, int retry_after_s);
/* Takes a token, sleeping as long as needed (bounded by *stop becoming non-zero).
 * Returns 0, or -1 when stopped. */
int slack_limiter_wait(slack_limiter *l, const char *key, volatile int *stop);
int64_t slack_monotonic_ms(void);

#endif
