/* HTTP server (http.h) on libevent's evhttp, with its event loop on its own thread.
 *
 * One generic callback dispatches every request: the three built-in endpoints
 * first, then the routes by longest matching prefix, else 404. evhttp itself
 * answers 413 when a body exceeds max_body and 405 for methods it does not allow.
 *
 * Threading: libevent is put in pthreads mode once (evthread_use_pthreads) before
 * any base exists, so the base is lockable and can be woken from another thread.
 * http_server_defer uses event_base_once, which is then safe from any thread.
 * http_server_stop breaks the loop, joins the thread, then runs the deferred calls
 * that were already queued (so a reply handed over by a Kafka delivery callback is
 * still sent) before the connections are freed.
 *
 * Several loops (http_server_set_loops, ingest's HTTP threads): every extra loop
 * has its own event base, evhttp and thread, and accepts from a dup of the same
 * listening socket, so the kernel hands each new connection to whichever loop
 * accepts first and a connection then stays on its loop; handlers run on several
 * threads at once (routes and readiness are read under the lock, metrics are
 * atomic). http_server_defer still runs on the first loop.
 *
 * Handlers must not block: a slow handler stalls /healthz and /readyz too. */
#include "common/http.h"

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <jansson.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/metrics.h"

#define HTTP_MAX_ROUTES 32

/* An extra event loop (the first one is the server's own base/http/thread). */
typedef struct {
    struct event_base *base;
    struct evhttp *http;
    pthread_t thread;
    bool running;
} http_loop;

typedef struct {
    char *prefix;
    size_t len;
    void (*cb)(struct evhttp_request *, void *);
    void *ctx;
} http_route;

struct http_server {
    struct event_base *base;
    struct evhttp *http;
    int port;
    pthread_t thread;
    bool running;
    atomic_bool stopped;
    http_ready_fn ready;
    void *ready_ctx;
    http_status_fn status;
    void *status_ctx;
    pthread_mutex_t lock; /* routes and readiness: services add them while the loop runs */
    http_route routes[HTTP_MAX_ROUTES];
    int nroutes;
    metric *m_requests;
    int listen_fd;        /* the first loop's listening socket (borrowed from its evhttp) */
    size_t max_body;      /* applied to every loop */
    http_loop extra[HTTP_MAX_LOOPS - 1];
    int nextra;
};

static pthread_once_t evthread_once = PTHREAD_ONCE_INIT;
static int evthread_ok;
static void evthread_init(void) { evthread_ok = evthread_use_pthreads() == 0; }

static void set_err(char *err, size_t errlen, const char *msg, const char *detail)
{
    if (err && errlen)
        snprintf(err, errlen, "%s%s%s", msg, detail ? ": " : "", detail ? detail : "");
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return status < 300 ? "OK" : status < 500 ? "Client Error" : "Server Error";
    }
}

static void reply_text(struct evhttp_request *req, int status, const char *content_type, const char *body)
{
    struct evbuffer *buf = evbuffer_new();
    if (!buf) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    if (body)
        evbuffer_add(buf, body, strlen(body));
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", content_type);
    evhttp_send_reply(req, status, reason_phrase(status), buf);
    evbuffer_free(buf);
}

void http_reply_json(struct evhttp_request *req, int status, const char *json_text)
{
    reply_text(req, status, "application/json", json_text ? json_text : "{}");
}

void http_reply_error(struct evhttp_request *req, int status, const char *message)
{
    json_t *o = json_pack("{s:s}", "error", message ? message : reason_phrase(status));
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    http_reply_json(req, status, text ? text : "{\"error\":\"error\"}");
    free(text);
}

static void handle_readyz(http_server *s, struct evhttp_request *req)
{
    char reason[256] = "";
    pthread_mutex_lock(&s->lock);
    http_ready_fn fn = s->ready;
    void *ctx = s->ready_ctx;
    http_status_fn status = s->status;
    void *status_ctx = s->status_ctx;
    pthread_mutex_unlock(&s->lock);
    bool ready = fn ? fn(ctx, reason, sizeof reason) : true;
    reason[sizeof reason - 1] = '\0';
    json_t *o = ready ? json_pack("{s:s}", "status", "ready")
                      : json_pack("{s:s,s:s}", "status", "not ready", "reason", reason[0] ? reason : "not ready");
    json_t *extra = status ? status(status_ctx) : NULL;
    if (o && json_is_object(extra))
        json_object_update_missing(o, extra);
    json_decref(extra);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    http_reply_json(req, ready ? 200 : 503, text ? text : (ready ? "{\"status\":\"ready\"}" : "{\"status\":\"not ready\"}"));
    free(text);
}

static void dispatch(struct evhttp_request *req, void *arg)
{
    http_server *s = arg;
    metrics_add(s->m_requests, 1);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    if (!path || !*path)
        path = "/";
    enum evhttp_cmd_type method = evhttp_request_get_command(req);
    bool get = method == EVHTTP_REQ_GET || method == EVHTTP_REQ_HEAD;

    if (!strcmp(path, "/healthz") || !strcmp(path, "/readyz") || !strcmp(path, "/metrics")) {
        if (!get) {
            http_reply_error(req, 405, "method not allowed");
            return;
        }
        if (!strcmp(path, "/healthz")) {
            http_reply_json(req, 200, "{\"status\":\"ok\"}");
        } else if (!strcmp(path, "/readyz")) {
            handle_readyz(s, req);
        } else {
            char *text = metrics_render();
            if (text)
                reply_text(req, 200, "text/plain; version=0.0.4; charset=utf-8", text);
            else
                http_reply_error(req, 500, "out of memory");
            free(text);
        }
        return;
    }
    http_route best = {0};
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < s->nroutes; i++) {
        const http_route *r = &s->routes[i];
        if (!strncmp(path, r->prefix, r->len) && (!best.cb || r->len > best.len))
            best = *r;
    }
    pthread_mutex_unlock(&s->lock);
    if (best.cb) {
        best.cb(req, best.ctx);
        return;
    }
    http_reply_error(req, 404, "not found");
}

/* The settings every loop's evhttp gets. */
static void configure(http_server *s, struct evhttp *http)
{
    if (s->max_body > 0)
        evhttp_set_max_body_size(http, (ev_ssize_t)s->max_body);
    evhttp_set_max_headers_size(http, 64 * 1024);
    evhttp_set_timeout(http, 30);
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
                                         EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH | EVHTTP_REQ_OPTIONS);
    evhttp_set_gencb(http, dispatch, s);
}

http_server *http_server_new(const char *addr, int port, size_t max_body, char *err, size_t errlen)
{
    pthread_once(&evthread_once, evthread_init);
    if (!evthread_ok) {
        set_err(err, errlen, "http: libevent has no pthreads support", NULL);
        return NULL;
    }
    http_server *s = calloc(1, sizeof *s);
    if (!s) {
        set_err(err, errlen, "http: out of memory", NULL);
        return NULL;
    }
    atomic_init(&s->stopped, false);
    pthread_mutex_init(&s->lock, NULL);
    s->base = event_base_new();
    s->http = s->base ? evhttp_new(s->base) : NULL;
    if (!s->http) {
        set_err(err, errlen, "http: cannot create the event loop", NULL);
        http_server_free(s);
        return NULL;
    }
    s->max_body = max_body;
    configure(s, s->http);

    struct evhttp_bound_socket *sock =
        evhttp_bind_socket_with_handle(s->http, addr && *addr ? addr : "127.0.0.1", (ev_uint16_t)port);
    if (!sock) {
        char what[128];
        snprintf(what, sizeof what, "%s:%d", addr && *addr ? addr : "127.0.0.1", port);
        set_err(err, errlen, "http: cannot listen on", what);
        http_server_free(s);
        return NULL;
    }
    s->listen_fd = evhttp_bound_socket_get_fd(sock);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(s->listen_fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET)
            s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6)
            s->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    s->m_requests = metrics_counter("hutch_http_requests_total", "HTTP requests received.");
    return s;
}

int http_server_port(const http_server *s) { return s ? s->port : -1; }

struct event_base *http_server_base(http_server *s) { return s ? s->base : NULL; }

void http_server_set_ready(http_server *s, http_ready_fn fn, void *ctx)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->ready = fn;
    s->ready_ctx = ctx;
    pthread_mutex_unlock(&s->lock);
}

void http_server_set_status(http_server *s, http_status_fn fn, void *ctx)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->status = fn;
    s->status_ctx = ctx;
    pthread_mutex_unlock(&s->lock);
}

void http_server_route(http_server *s, const char *prefix, void (*cb)(struct evhttp_request *, void *), void *ctx)
{
    if (!s || !prefix || !cb)
        return;
    char *copy = strdup(prefix);
    if (!copy)
        return;
    pthread_mutex_lock(&s->lock);
    if (s->nroutes >= HTTP_MAX_ROUTES) {
        pthread_mutex_unlock(&s->lock);
        LOG_ERROR("http_too_many_routes", "prefix", prefix, NULL);
        free(copy);
        return;
    }
    http_route *r = &s->routes[s->nroutes++];
    r->prefix = copy;
    r->len = strlen(prefix);
    r->cb = cb;
    r->ctx = ctx;
    pthread_mutex_unlock(&s->lock);
}

typedef struct {
    struct evhttp *http;
    size_t max_body;
} max_body_change;

static void apply_max_body(evutil_socket_t fd, short what, void *arg)
{
    max_body_change *m = arg;
    evhttp_set_max_body_size(m->http, (ev_ssize_t)m->max_body);
    free(m);
}

/* On the loop's own thread when it runs (evhttp is not thread-safe). */
static void set_loop_max_body(struct event_base *base, struct evhttp *http, bool running, size_t max_body)
{
    if (!running) {
        evhttp_set_max_body_size(http, (ev_ssize_t)max_body);
        return;
    }
    max_body_change *m = malloc(sizeof *m);
    if (!m)
        return;
    m->http = http;
    m->max_body = max_body;
    struct timeval now = {0, 0};
    if (event_base_once(base, -1, EV_TIMEOUT, apply_max_body, m, &now) != 0)
        free(m);
}

void http_server_set_max_body(http_server *s, size_t max_body)
{
    if (!s || !max_body || atomic_load(&s->stopped))
        return;
    pthread_mutex_lock(&s->lock);
    s->max_body = max_body;
    set_loop_max_body(s->base, s->http, s->running, max_body);
    for (int i = 0; i < s->nextra; i++)
        set_loop_max_body(s->extra[i].base, s->extra[i].http, s->extra[i].running, max_body);
    pthread_mutex_unlock(&s->lock);
}

static void *loop_main(void *arg)
{
    struct event_base *base = arg;
    event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

int http_server_start(http_server *s)
{
    if (!s || s->running)
        return -1;
    pthread_mutex_lock(&s->lock);
    int rc = 0;
    if (pthread_create(&s->thread, NULL, loop_main, s->base) != 0)
        rc = -1;
    else
        s->running = true;
    for (int i = 0; rc == 0 && i < s->nextra; i++) {
        if (pthread_create(&s->extra[i].thread, NULL, loop_main, s->extra[i].base) != 0)
            rc = -1;
        else
            s->extra[i].running = true;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int http_server_set_loops(http_server *s, int loops)
{
    if (!s || loops < 1 || loops > HTTP_MAX_LOOPS || atomic_load(&s->stopped))
        return -1;
    pthread_mutex_lock(&s->lock);
    int rc = 0;
    while (rc == 0 && 1 + s->nextra < loops) {
        http_loop *l = &s->extra[s->nextra];
        int fd = dup(s->listen_fd); /* each evhttp closes its own when freed */
        l->base = fd >= 0 ? event_base_new() : NULL;
        l->http = l->base ? evhttp_new(l->base) : NULL;
        if (l->http)
            configure(s, l->http);
        if (!l->http || !evhttp_accept_socket_with_handle(l->http, fd)) {
            if (l->http)
                evhttp_free(l->http);
            if (l->base)
                event_base_free(l->base);
            if (fd >= 0)
                close(fd);
            memset(l, 0, sizeof *l);
            rc = -1;
            break;
        }
        s->nextra++;
        if (s->running) {
            if (pthread_create(&l->thread, NULL, loop_main, l->base) != 0)
                rc = -1;
            else
                l->running = true;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int http_server_loops(const http_server *s) { return s ? 1 + s->nextra : 0; }

struct event_base *http_server_loop_base(http_server *s, int i)
{
    if (!s || i < 0 || i > s->nextra)
        return NULL;
    return i == 0 ? s->base : s->extra[i - 1].base;
}

typedef struct {
    void (*fn)(void *ctx);
    void *ctx;
} deferred_call;

static void deferred_run(evutil_socket_t fd, short what, void *arg)
{
    deferred_call *d = arg;
    d->fn(d->ctx);
    free(d);
}

int http_server_defer(http_server *s, void (*fn)(void *ctx), void *ctx)
{
    if (!s || !fn || atomic_load(&s->stopped))
        return -1;
    deferred_call *d = malloc(sizeof *d);
    if (!d)
        return -1;
    d->fn = fn;
    d->ctx = ctx;
    struct timeval now = {0, 0};
    if (event_base_once(s->base, -1, EV_TIMEOUT, deferred_run, d, &now) != 0) {
        free(d);
        return -1;
    }
    return 0;
}

void http_server_stop(http_server *s)
{
    if (!s || atomic_exchange(&s->stopped, true))
        return;
    pthread_mutex_lock(&s->lock);
    if (s->running)
        event_base_loopbreak(s->base);
    for (int i = 0; i < s->nextra; i++)
        if (s->extra[i].running)
            event_base_loopbreak(s->extra[i].base);
    pthread_mutex_unlock(&s->lock);
    if (s->running) {
        pthread_join(s->thread, NULL);
        s->running = false;
    }
    for (int i = 0; i < s->nextra; i++) {
        if (s->extra[i].running) {
            pthread_join(s->extra[i].thread, NULL);
            s->extra[i].running = false;
        }
    }
    /* Deferred calls queued before the stop still run (they may reply). */
    if (s->base)
        event_base_loop(s->base, EVLOOP_NONBLOCK);
    for (int i = 0; i < s->nextra; i++)
        event_base_loop(s->extra[i].base, EVLOOP_NONBLOCK);
}

void http_server_free(http_server *s)
{
    if (!s)
        return;
    http_server_stop(s);
    for (int i = 0; i < s->nextra; i++) {
        evhttp_free(s->extra[i].http);
        event_base_free(s->extra[i].base);
    }
    if (s->http)
        evhttp_free(s->http);
    if (s->base)
        event_base_free(s->base);
    for (int i = 0; i < s->nroutes; i++)
        free(s->routes[i].prefix);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
