/* One HTTP POST of a JSON body (libcurl), for Slack webhooks, PagerDuty and
 * generic webhooks. Blocking, one call per notification, from the consumer thread. */
#ifndef HUTCH_NOTIFY_POST_H
#define HUTCH_NOTIFY_POST_H

#include <stdbool.h>
#include <stddef.h>

#include <curl/curl.h>

/* The answer to one POST. */
typedef struct {
    bool answered;     /* an HTTP status came back */
    long status;       /* HTTP status when answered */
    char body[512];    /* start of the response body (NUL-terminated), for last_error */
    char error[256];   /* transport error when not answered (never contains the URL) */
} notify_post_result;

/* Call once at start, before threads (curl_global_init). 0 or -1. */
int notify_post_init(void);
void notify_post_cleanup(void);

/* POSTs json_body (BORROWED) to url (BORROWED; may hold a secret: never logged) with
 * Content-Type: application/json, no redirects, http/https only, timeout_ms for the
 * whole exchange. Fills *res; returns 0 when answered, -1 otherwise. */
int notify_post_json(const char *url, const char *json_body, long timeout_ms, notify_post_result *res);

/* The options every POST of notify sets on a libcurl handle (webhooks, Slack's Web API):
 * url, http(s) only, no redirects, timeout_ms for connect and whole, headers (BORROWED),
 * body (BORROWED, NUL-terminated), notify's user agent. The caller adds its callbacks. */
void notify_post_setopt(CURL *curl, const char *url, struct curl_slist *headers, const char *body, long timeout_ms);

#endif
