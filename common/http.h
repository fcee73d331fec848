/* HTTP server (libevent evhttp) with the endpoints every service has:
 *   GET /healthz  200 while the process runs
 *   GET /readyz   200 when the readiness callback says so, else 503 with the reason
 *   GET /metrics  Prometheus text (metrics.h)
 * and routes a service adds by path prefix. The server runs its event loop on its
 * own thread (http_server_start); handlers run on that thread and must not block
 * for long: each one ends in exactly one evhttp_send_reply/evhttp_send_error, now or
 * later from the loop thread (use http_server_defer to get back onto it). */
#ifndef HUTCH_HTTP_H
#define HUTCH_HTTP_H

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <stdbool.h>

typedef struct http_server http_server;

/* Returns true when ready; otherwise false and a reason in buf. Called on the loop thread. */
typedef bool (*http_ready_fn)(void *ctx, char *reason, size_t reason_len);

/* Binds addr:port (port 0 = any, read it back with http_server_port).
 * max_body: requests with a larger body get 413 before any handler runs. NEW or NULL+err. */
http_server *http_server_new(const char *addr, int port, size_t max_body, char *err, size_t errlen);
int http_server_port(const http_server *s);
struct event_base *http_server_base(http_server *s);
void http_server_set_ready(http_server *s, http_ready_fn fn, void *ctx);
/* What a service adds to its /readyz body (e.g. the policy set in use): fn returns a
 * NEW object whose members join the reply, ready or not. Called on the loop thread. */
typedef json_t *(*http_status_fn)(void *ctx);
void http_server_set_status(http_server *s, http_status_fn fn, void *ctx);
/* Requests whose path starts with prefix go to cb (evhttp's generic callback signature).
 * The longest matching prefix wins. Safe to call while the loop runs. */
void http_server_route(http_server *s, const char *prefix, void (*cb)(struct evhttp_request *, void *), void *ctx);
/* Changes the body limit (413 above it); safe while the
 * loop runs (applied on the loop thread). service_start uses HTTP_DEFAULT_MAX_BODY. */
#define HTTP_DEFAULT_MAX_BODY (1024 * 1024)
void http_server_set_max_body(http_server *s, size_t max_body);
/* Runs the server on `loops` event loops (threads), 1 to HTTP_MAX_LOOPS, each
 * accepting connections from the same listening socket; a connection stays on the
 * loop that accepted it, and its handlers run on that loop's thread. Before or
 * after http_server_start; loops are only added. 0, or -1 (the loops made so far
 * stay). */
#define HTTP_MAX_LOOPS 16
int http_server_set_loops(http_server *s, int loops);
int http_server_loops(const http_server *s);
/* Loop i's event base (0 is http_server_base), BORROWED until http_server_free;
 * NULL if there is no loop i. A request's loop is
 * evhttp_connection_get_base(evhttp_request_get_connection(req)). */
struct event_base *http_server_loop_base(http_server *s, int i);
/* Starts the loop threads. 0 or -1. */
int http_server_start(http_server *s);
/* Runs fn(ctx) on the (first) loop's thread soon; safe from any thread. 0 or -1. */
int http_server_defer(http_server *s, void (*fn)(void *ctx), void *ctx);
/* Stops the loop and joins the thread, then runs the
 * deferred calls already queued (on the calling thread); after it, handlers no
 * longer run and http_server_defer returns -1 (so a late callback must free its own
 * context). The server is still allocated: http_server_free it. Idempotent. */
void http_server_stop(http_server *s);
/* Stops the loop, joins the thread, frees. NULL is fine. */
void http_server_free(http_server *s);

/* Helpers for handlers: reply with a JSON body (text BORROWED) and status. */
void http_reply_json(struct evhttp_request *req, int status, const char *json_text);
/* {"error": message} */
void http_reply_error(struct evhttp_request *req, int status, const char *message);

#endif
