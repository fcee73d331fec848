/* hutch-console: the web console (console.h). Settings, start-up, the routes, and the
 * live updates: it consumes hutch.tickets.events (no database claim: an event is only
 * a hint to refresh) and pushes each one to every open page as a Server-Sent Event,
 * "chat" for the agent's TicketEvents of kind chat (a stored turn, chat.c), else "ticket", with
 * data {ticket_id, kind, alert_id, actor, detail}; a comment line every 15 s keeps
 * idle streams open through proxies.
 * Every console process must see every event, so each takes a consumer group of its
 * own ("hutch-console-<uuid>"): several consoles behind a load balancer all push
 * every change. While no page is open the events are read and dropped. */
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <openssl/rand.h>

#include "common/ids.h"
#include "common/log.h"
#include "common/msg.h"
#include "common/password.h"
#include "common/service.h"
#include "common/topics.h"
#include "services/console/console.h"

#ifndef HUTCH_CONSOLE_WEB_DEFAULT
#define HUTCH_CONSOLE_WEB_DEFAULT "services/console/web"
#endif

static const config_field console_config_table[] = {
    {"HUTCH_CONSOLE_WEB_DIR", CONFIG_STRING, HUTCH_CONSOLE_WEB_DEFAULT, offsetof(console_config, web_dir),
     "directory of the console's static files (index.html, app.js, app.css)", 0, 0},
    {"HUTCH_POLICY_DIR", CONFIG_STRING, "policies", offsetof(console_config, policy_dir),
     "policies the playground decides with (as hutch-policy)", 0, 0},
    {"HUTCH_POLICY_STRICT", CONFIG_BOOL, "0", offsetof(console_config, policy_strict),
     "as hutch-policy: a schema without a policy is ignored instead of the default alert", 0, 0},
    {"HUTCH_CONSOLE_TRUSTED_HEADER", CONFIG_STRING, "", offsetof(console_config, trusted_header),
     "header naming the signed-in user, set by a single-sign-on proxy (e.g. X-Forwarded-User); empty: off", 0, 0},
    {"HUTCH_CONSOLE_TRUSTED_PROXIES", CONFIG_STRING, "", offsetof(console_config, trusted_proxies),
     "comma list of peer addresses whose trusted header is believed (others are ignored)", 0, 0},
    {"HUTCH_CONSOLE_TRUSTED_ROLE", CONFIG_STRING, "viewer", offsetof(console_config, trusted_role),
     "role of a trusted-header user without a console account", 0, 0, "viewer|analyst|admin"},
    {"HUTCH_CONSOLE_SECURE_COOKIES", CONFIG_BOOL, "0", offsetof(console_config, secure_cookies),
     "1 when the console is served over TLS (by a proxy): the session cookie is Secure", 0, 0},
    {"HUTCH_CONSOLE_SESSION_TTL", CONFIG_DURATION_MS, "12h", offsetof(console_config, session_ttl_ms),
     "how long a session lasts", 0, 0},
    {"HUTCH_CONSOLE_LOGIN_LIMIT", CONFIG_INT, "5", offsetof(console_config, login_limit),
     "failed sign-ins per window, per client address and per user name, before 429", 1, 1000},
    {"HUTCH_CONSOLE_LOGIN_WINDOW", CONFIG_DURATION_MS, "5m", offsetof(console_config, login_window_ms),
     "the window of HUTCH_CONSOLE_LOGIN_LIMIT", 0, 0},
    {"HUTCH_LLM_PROVIDER", CONFIG_STRING, "none", offsetof(console_config, llm_provider),
     "the agent's model provider (the agent's own setting): none turns chat with the agent off in the console", 0, 0,
     "none|openai|anthropic|gemini"},
    CONFIG_END,
};

static console app;
static atomic_size_t open_streams; /* written on the loop thread, read by the consumer */

/* ------------------------------------------------------------ Server-Sent Events */

/* The stream's connection is going away. When the browser hung up, libevent has already
 * detached the unfinished request from the connection and leaves it to us to free; when
 * the server shuts down, the request is still attached and the connection frees it. */
static void sse_closed(struct evhttp_connection *conn, void *arg)
{
    sse_client *cl = arg;
    if (evhttp_request_get_connection(cl->req) == NULL)
        evhttp_request_free(cl->req);
    LIST_REMOVE(cl, link);
    app.sse_count--;
    atomic_store(&open_streams, app.sse_count);
    free(cl);
}

/* GET /api/stream (signed in: api.c checked). */
void console_sse_open(console *c, struct evhttp_request *req);
void console_sse_open(console *c, struct evhttp_request *req)
{
    sse_client *cl = calloc(1, sizeof *cl);
    if (!cl) {
        http_reply_error(req, 503, "out of memory");
        return;
    }
    cl->req = req;
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    console_headers(req, true);
    evhttp_add_header(h, "Content-Type", "text/event-stream");
    evhttp_add_header(h, "X-Accel-Buffering", "no");
    evhttp_send_reply_start(req, 200, "OK");
    LIST_INSERT_HEAD(&c->sse, cl, link);
    c->sse_count++;
    atomic_store(&open_streams, c->sse_count);
    evhttp_connection_set_closecb(evhttp_request_get_connection(req), sse_closed, cl);
    struct evbuffer *b = evbuffer_new();
    if (b) {
        evbuffer_add_printf(b, "retry: 2000\nevent: hello\ndata: {}\n\n");
        evhttp_send_reply_chunk(req, b);
        evbuffer_free(b);
    }
}

static void sse_send_all(const char *event, const char *data)
{
    sse_client *cl, *next;
    for (cl = LIST_FIRST(&app.sse); cl; cl = next) {
        next = LIST_NEXT(cl, link);
        struct evbuffer *b = evbuffer_new();
        if (!b)
            continue;
        if (event)
            evbuffer_add_printf(b, "event: %s\ndata: %s\n\n", event, data);
        else
            evbuffer_add_printf(b, ": %s\n\n", data);
        evhttp_send_reply_chunk(cl->req, b);
        evbuffer_free(b);
    }
}

static void sse_ping(evutil_socket_t fd, short what, void *arg) { sse_send_all(NULL, "keep-alive"); }

/* On the loop thread: one event (NEW JSON text after the event name and a NUL,
 * freed here). */
static void sse_deliver(void *named)
{
    const char *name = named;
    sse_send_all(name, name + strlen(name) + 1);
    free(named);
}

/* On the loop thread, at stop: ends every open stream (its reply completes; the
 * close callback is taken off first, so nothing of ours is touched when libevent
 * frees the connection later) and the keep-alive timer, before the loop stops and
 * while every request is still attached to its connection. */
static void sse_end_all(void *arg)
{
    (void)arg;
    sse_client *cl;
    while ((cl = LIST_FIRST(&app.sse)) != NULL) {
        LIST_REMOVE(cl, link);
        struct evhttp_connection *conn = evhttp_request_get_connection(cl->req);
        if (conn) {
            evhttp_connection_set_closecb(conn, NULL, NULL);
            evhttp_send_reply_end(cl->req);
        } else {
            evhttp_request_free(cl->req); /* detached by a hang-up not yet seen by sse_closed */
        }
        free(cl);
    }
    app.sse_count = 0;
    atomic_store(&open_streams, 0);
    if (app.sse_ping)
        event_free(app.sse_ping);
    app.sse_ping = NULL;
}

static int handle_ticket_events(void *ctx, pg *db, consumer_item **items, size_t n)
{
    if (atomic_load(&open_streams) == 0)
        return PG_OK;
    for (size_t i = 0; i < n; i++) {
        const Hutch__V1__TicketEvent *e = (const Hutch__V1__TicketEvent *)items[i]->value;
        /* the agent's "chat" events (a stored turn of a question) feed the chat page */
        const char *name = e->kind && !strcmp(e->kind, "chat") ? "chat" : "ticket";
        json_t *detail = NULL;
        if (e->detail_json && *e->detail_json)
            detail = json_loads(e->detail_json, JSON_DECODE_ANY, NULL);
        json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:o}", "ticket_id", e->ticket_id ? e->ticket_id : "", "kind",
                              e->kind ? e->kind : "", "alert_id", e->alert_id ? e->alert_id : "", "actor",
                              e->actor ? e->actor : "", "detail", detail ? detail : json_null());
        char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        char *named = NULL;
        if (text && asprintf(&named, "%s%c%s", name, '\0', text) < 0)
            named = NULL;
        free(text);
        if (named && http_server_defer(app.svc->http, sse_deliver, named) != 0)
            free(named);
    }
    return PG_OK;
}

/* ------------------------------------------------------------ routes */

static void on_api(struct evhttp_request *req, void *arg) { api_route(&app, req); }

static void on_web(struct evhttp_request *req, void *arg) { web_serve(&app, req); }

static void load_policies(console *c)
{
    c->rules = policy_rules_load(c->cfg->policy_dir, c->policy_error, sizeof c->policy_error);
    c->policy_loaded_ms = ids_now_ms();
    if (c->rules)
        c->policy_error[0] = '\0';
    else
        LOG_WARN("console_policies_not_loaded", "dir", c->cfg->policy_dir, "error", c->policy_error, NULL);
}

/* /readyz: 200 once the routes are in place and the loop's database connection is up
 * (service_start's server answers before main has added the routes). */
static atomic_bool routes_ready;

static bool console_ready(void *ctx, char *reason, size_t reason_len)
{
    console *c = ctx;
    if (!atomic_load(&routes_ready)) {
        snprintf(reason, reason_len, "starting");
        return false;
    }
    if (!pg_connected(c->db)) {
        snprintf(reason, reason_len, "postgres unreachable");
        return false;
    }
    return true;
}

/* Routes and the loop's own things, on the loop thread (before any request). */
static void setup_on_loop(void *arg)
{
    console *c = arg;
    struct timeval tv = {15, 0};
    c->sse_ping = event_new(http_server_base(c->svc->http), -1, EV_PERSIST, sse_ping, NULL);
    if (c->sse_ping)
        event_add(c->sse_ping, &tv);
}

int main(int argc, char **argv)
{
    console_config cfg;
    memset(&cfg, 0, sizeof cfg);
    service_config_or_exit(console_config_table, &cfg, argc, argv, "hutch-console",
                           "The web console: tickets, alerts, events, the policy playground; JSON API and pages.");
    service svc;
    memset(&svc, 0, sizeof svc);
    int rc = 1;
    app.cfg = &cfg;
    app.svc = &svc;
    LIST_INIT(&app.sse);
    app.limiter = (guard_limiter){app.counters, CONSOLE_LOGIN_COUNTERS, (int)cfg.login_limit, cfg.login_window_ms};
    app.chat_model = strcmp(cfg.llm_provider, "none") != 0;
    if (RAND_bytes(app.header_secret, sizeof app.header_secret) != 1) {
        fprintf(stderr, "hutch-console: no random bytes\n");
        return 1;
    }
    if (service_start(&svc, "console", argc, argv) == 0) {
        char err[512];
        http_server_set_ready(svc.http, console_ready, &app);
        app.db = pg_connect(svc.common.database_url, 60000, err, sizeof err);
        if (!app.db) {
            LOG_ERROR("console_db", "error", err, NULL);
            goto out;
        }
        load_policies(&app);
        http_server_defer(svc.http, setup_on_loop, &app);
        http_server_route(svc.http, "/api/", on_api, &app);
        http_server_route(svc.http, "/", on_web, &app);
        http_server_set_ready(svc.http, console_ready, &app);
        atomic_store(&routes_ready, true);
        LOG_INFO("console_ready", "web_dir", cfg.web_dir, "policy_dir", cfg.policy_dir, "trusted_header",
                 cfg.trusted_header[0] ? cfg.trusted_header : "off", NULL);
        static const consumer_input inputs[] = {{TOPIC_TICKETS_EVENTS, &hutch__v1__ticket_event__descriptor},
                                                {NULL, NULL}};
        dlq_consumer_start(&app); /* without it the console runs on: the DLQ page shows what is stored */
        char group[IDS_UUID_LEN + 16];
        char uuid[IDS_UUID_LEN];
        ids_uuid7(uuid);
        snprintf(group, sizeof group, "hutch-console-%s", uuid);
        consumer_spec spec = {.inputs = inputs, .handle = handle_ticket_events, .no_database = true, .group = group};
        rc = service_consume(&svc, &spec, &app) == 0 ? 0 : 1;
    }
out:
    svc.stop = 1; /* also when the consumer ended on its own: the DLQ thread stops too */
    dlq_consumer_stop(&app);
    /* the streams end on the loop thread (run by http_server_stop if the loop has
     * already been asked to stop); no handler runs once http_server_stop returned */
    http_server_defer(svc.http, sse_end_all, NULL);
    http_server_stop(svc.http);
    service_stop(&svc);
    policy_rules_free(app.rules);
    pg_free(app.db);
    config_free(console_config_table, &cfg);
    return rc;
}
