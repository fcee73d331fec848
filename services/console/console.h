/* hutch-console: the web console's process (not in the alert path). Shared state of
 * its parts: main.c (settings, start, the tickets-events consumer, Server-Sent
 * Events), auth.c (accounts, sessions, CSRF, login rate limit, trusted header),
 * api.c (the JSON API of docs/API.md), actions.c (ticket changes through
 * common/ticket.h), chat.c (questions to the agent), dlq.c (the dead letters of
 * hutch.dlq: their consumer and replay), web.c (the static files of services/console/web), guard.c (the
 * pure checks: login rate limiter, cookie reader, static-path rule).
 *
 * Threads: every HTTP handler runs on the one HTTP loop thread and uses `db`, the
 * loop's own Postgres connection (blocking: the console is not in the alert path;
 * a slow query delays other console requests only). The consumer thread (service
 * frame) only hands ticket events to the loop with http_server_defer. The DLQ
 * consumer (dlq.c) runs on a thread of its own with its own connection, producer
 * and claims; it only writes dead_letters.
 *
 * Stop order (main.c): the consumers return (stop flag), the DLQ thread is joined,
 * then on the loop thread every open stream is ended, the loop is stopped and
 * joined, and only then is what its handlers use freed. */
#ifndef HUTCH_CONSOLE_H
#define HUTCH_CONSOLE_H

#include <event2/http.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "common/pg.h"
#include "common/service.h"
#include "services/console/guard.h"
#include "services/policy/rules.h"

typedef struct {
    char *web_dir;           /* HUTCH_CONSOLE_WEB_DIR */
    char *policy_dir;        /* HUTCH_POLICY_DIR: the playground's policies */
    bool policy_strict;      /* HUTCH_POLICY_STRICT, as hutch-policy */
    char *trusted_header;    /* HUTCH_CONSOLE_TRUSTED_HEADER ("" = off) */
    char *trusted_proxies;   /* HUTCH_CONSOLE_TRUSTED_PROXIES: comma list of peer addresses */
    char *trusted_role;      /* HUTCH_CONSOLE_TRUSTED_ROLE: role of a header user without an account */
    bool secure_cookies;     /* HUTCH_CONSOLE_SECURE_COOKIES */
    int64_t session_ttl_ms;  /* HUTCH_CONSOLE_SESSION_TTL */
    int64_t login_limit;     /* HUTCH_CONSOLE_LOGIN_LIMIT: failures per window per address and per name */
    int64_t login_window_ms; /* HUTCH_CONSOLE_LOGIN_WINDOW */
    char *llm_provider;      /* HUTCH_LLM_PROVIDER, as the agent's: "none" turns chat off */
} console_config;

/* One open Server-Sent Events stream. */
typedef struct sse_client {
    struct evhttp_request *req; /* BORROWED from evhttp until its connection closes */
    LIST_ENTRY(sse_client) link;
} sse_client;

#define CONSOLE_LOGIN_COUNTERS 1024

typedef struct {
    service *svc;
    const console_config *cfg;
    pg *db;              /* the HTTP loop's connection */
    policy_rules *rules; /* NULL when the policy directory did not load */
    char policy_error[512];
    int64_t policy_loaded_ms;
    unsigned char header_secret[32]; /* CSRF tokens of trusted-header users */
    LIST_HEAD(, sse_client) sse;
    size_t sse_count;
    struct event *sse_ping;
    guard_counter counters[CONSOLE_LOGIN_COUNTERS];
    guard_limiter limiter; /* over counters, from the settings */
    bool chat_model;       /* a model is configured: questions go to the agent */
    /* the DLQ consumer (dlq.c), all OWNED, on its own thread */
    pg *dlq_db;
    kafka_producer *dlq_producer;
    consumer *dlq_consumer;
    pthread_t dlq_thread;
    bool dlq_running;
} console;

#define PASSWORD_CSRF_MAX 80

/* The signed-in user of a request. */
typedef struct {
    char name[96];
    char role[16]; /* viewer | analyst | admin */
    char csrf[PASSWORD_CSRF_MAX];
    bool from_header; /* trusted-header mode */
} console_user;

/* --- auth.c --- */
/* POST /api/login, POST /api/logout, GET /api/me. */
void auth_login(console *c, struct evhttp_request *req);
void auth_logout(console *c, struct evhttp_request *req, const console_user *u);
/* Who signed the request: true and *u filled, or false (reply 401 yourself). */
bool auth_user(console *c, struct evhttp_request *req, console_user *u);
/* For a change: the CSRF header matches and the role may change things; otherwise
 * replies 403 and returns false. */
bool auth_may_change(struct evhttp_request *req, const console_user *u);

/* --- api.c --- */
void api_route(console *c, struct evhttp_request *req);

/* --- actions.c --- POST /api/tickets/ID/VERB with a JSON body (BORROWED). */
void actions_ticket(console *c, struct evhttp_request *req, const console_user *u, const char *ticket_id,
                    const char *verb, json_t *body);

/* --- chat.c --- POST /api/tickets/ID/chat {text} (body BORROWED): the question as
 * an AgentRequest, 202 {request_id}. GET /api/tickets/ID/chat: the ticket's questions
 * with their turns. GET /api/chats: the latest questions of every ticket. */
void chat_ask(console *c, struct evhttp_request *req, const console_user *u, const char *ticket_id, json_t *body);
void chat_get(console *c, struct evhttp_request *req, const char *ticket_id);
void chat_recent(console *c, struct evhttp_request *req);

/* --- dlq.c --- the consumer that stores hutch.dlq (0, or -1 logged: the console then
 * runs without it), its stop (after the stop flag is set; frees what start made);
 * GET /api/dlq/ID and POST /api/dlq/ID/replay. */
int dlq_consumer_start(console *c);
void dlq_consumer_stop(console *c);
void dlq_detail(console *c, struct evhttp_request *req, const char *id);
void dlq_replay(console *c, struct evhttp_request *req, const console_user *u, const char *id);

/* --- web.c --- GET of a static file (or index.html for the pages' paths). */
void web_serve(console *c, struct evhttp_request *req);

/* --- shared helpers (api.c) --- */
/* Adds the security headers every answer carries (CSP, nosniff, no-store for API). */
void console_headers(struct evhttp_request *req, bool api);
/* Replies with the one JSON value of a one-row, one-column query; 404 (not_found)
 * when there is no row or it is NULL; 500 on a database error. */
void console_reply_query(console *c, struct evhttp_request *req, const char *not_found, const char *sql, int n,
                         const char *const *params);
/* The request's JSON body as an object (NEW), or NULL after replying 400. */
json_t *console_body_object(struct evhttp_request *req);
/* The peer's address (BORROWED from the connection). */
const char *console_peer(struct evhttp_request *req);

#endif
