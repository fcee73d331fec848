/* Slack's callbacks on notify's HTTP server:
 *   POST /hooks/slack/interaction   (buttons, modal submissions; form "payload=<JSON>")
 *   POST /hooks/slack/event         (Events API: url_verification, app_mention, thread messages)
 *
 * Every request is verified first (slack_callback.h: v0 signature, 5-minute window):
 * wrong, stale or missing → 401 before the body is read as anything. A verified
 * callback is answered as soon as its SlackCommand is acknowledged by the broker on
 * hutch.slack.commands (milliseconds; Slack wants < 3 s), never after doing the work:
 * notify's consumer does that (main.c). The commands go through a producer of their
 * own, polled by a timer on the HTTP loop, so an acknowledgement never waits for the
 * consumer thread (which may be waiting on a row lock or on Slack's rate limit).
 * url_verification is answered with the challenge; callbacks that ask for nothing get
 * an empty 200. */
#ifndef HUTCH_NOTIFY_SLACK_HTTP_H
#define HUTCH_NOTIFY_SLACK_HTTP_H

#include "common/http.h"
#include "common/kafka.h"

typedef struct slack_http slack_http;

/* Adds the routes and the producer's poll timer (on the server's first loop; safe
 * while it runs: libevent is in pthreads mode, common/http.c). server and signing_secret are BORROWED for
 * the life of the returned object, which must outlive the server's loop (free it
 * after http_server_stop); brokers is used at once. NEW, NULL with err (OOM, no
 * producer). */
slack_http *slack_http_register(http_server *server, const char *brokers, const char *signing_secret, char *err,
                                size_t errlen);
/* Flushes the producer (a little), frees. NULL is fine. */
void slack_http_free(slack_http *h);

#endif
