/* Slack Socket Mode client (see slack_socket.h): one thread, one libwebsockets context,
 * one connection at a time. Everything below runs on that thread: the envelopes are
 * read, published and acknowledged inside libwebsockets' receive callback, and the
 * acknowledgements written from its writeable callback. */
#include "services/notify/slack_socket.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <libwebsockets.h>

#include "common/kafka.h"
#include "common/log.h"
#include "common/topics.h"
#include "services/notify/slack_api.h"
#include "services/notify/slack_callback.h"

#define FRAME_MAX (1024 * 1024) /* an envelope larger than this is dropped (Slack's are KBs) */
#define ACKS_MAX 64
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 30000

struct slack_socket {
    slack_socket_config cfg;
    kafka_producer *producer; /* OWNED: the thread's own, acknowledged synchronously */
    struct lws_context *lws;  /* OWNED */
    struct lws *wsi;          /* the live connection, or NULL */
    pthread_t thread;
    bool started;
    volatile int stop;
    bool closed, established;
    char *frame; /* the message being received (fragments joined) */
    size_t frame_len;
    bool frame_too_big;
    char *acks[ACKS_MAX]; /* NEW texts waiting for a writeable callback */
    size_t n_acks;
};

static const char *str_at(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static void queue_ack(slack_socket *s, struct lws *wsi, const char *envelope_id)
{
    json_t *ack = json_pack("{s:s}", "envelope_id", envelope_id);
    char *text = ack ? json_dumps(ack, JSON_COMPACT) : NULL;
    json_decref(ack);
    if (text == NULL || s->n_acks == ACKS_MAX) {
        free(text); /* not acknowledged: Slack sends it again */
        return;
    }
    s->acks[s->n_acks++] = text;
    lws_callback_on_writable(wsi);
}

/* One envelope. Returns -1 when the connection is to be closed (disconnect). */
static int handle_envelope(slack_socket *s, struct lws *wsi, const char *text, size_t len)
{
    json_error_t jerr;
    json_t *env = json_loadb(text, len, 0, &jerr);
    const char *type = str_at(env, "type");
    const char *envelope_id = str_at(env, "envelope_id");
    int rc = 0;
    if (type == NULL) {
        LOG_WARN("slack_socket_bad_envelope", "reason", "not a JSON object with a type", NULL);
    } else if (!strcmp(type, "disconnect")) {
        LOG_INFO("slack_socket_disconnect", "reason", str_at(env, "reason"), NULL);
        rc = -1;
    } else if (envelope_id != NULL && (!strcmp(type, "events_api") || !strcmp(type, "interactive"))) {
        /* the payload's own text, keys sorted: a re-sent envelope gives the same bytes,
         * hence the same dedupe key */
        char *payload = json_dumps(json_object_get(env, "payload"), JSON_COMPACT | JSON_SORT_KEYS);
        slack_callback cb;
        char err[256] = "";
        int read = payload == NULL ? -1
                   : !strcmp(type, "events_api")
                       ? slack_read_event(payload, strlen(payload), &cb, err, sizeof err)
                       : slack_read_interaction_json(payload, strlen(payload), &cb, err, sizeof err);
        bool ack = true;
        if (read != 0) {
            LOG_WARN("slack_socket_bad_payload", "envelope_id", envelope_id, "type", type, "reason",
                     payload ? err : "out of memory", NULL);
            ack = payload != NULL; /* a payload we cannot read will not read better later */
        } else if (cb.kind == SLACK_CB_COMMAND) {
            char id[37];
            size_t n = 0;
            uint8_t *buf = slack_command_pack(&cb, id, &n);
            ack = buf != NULL && kafka_produce_sync(s->producer, TOPIC_SLACK_COMMANDS, id, strlen(id), buf, n, NULL,
                                                    (int)s->cfg.timeout_ms) == 0;
            free(buf);
            if (ack)
                LOG_INFO("slack_command_received", "action", cb.cmd.action, "actor", cb.cmd.actor, "ticket_id",
                         cb.cmd.ticket_id, "command_id", id, "via", "socket", NULL);
            else
                LOG_WARN("slack_socket_not_published", "envelope_id", envelope_id, "action", cb.cmd.action, NULL);
        }
        if (payload != NULL) /* the readers initialised cb, whatever they returned */
            slack_callback_free(&cb);
        free(payload);
        if (ack)
            queue_ack(s, wsi, envelope_id);
    } else if (envelope_id != NULL) {
        queue_ack(s, wsi, envelope_id); /* slash commands and the like: nothing of ours */
    }
    json_decref(env);
    return rc;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    slack_socket *s = lws_context_user(lws_get_context(wsi));
    switch (reason) {
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        s->established = true;
        LOG_INFO("slack_socket_connected", NULL);
        break;
    case LWS_CALLBACK_CLIENT_RECEIVE: {
        if (!s->frame_too_big && s->frame_len + len <= FRAME_MAX) {
            char *grown = realloc(s->frame, s->frame_len + len + 1);
            if (grown == NULL) {
                s->frame_too_big = true;
            } else {
                s->frame = grown;
                memcpy(s->frame + s->frame_len, in, len);
                s->frame_len += len;
            }
        } else {
            s->frame_too_big = true;
        }
        if (!lws_is_final_fragment(wsi))
            break;
        int rc = 0;
        if (s->frame_too_big)
            LOG_WARN("slack_socket_bad_envelope", "reason", "larger than 1 MiB", NULL);
        else if (s->frame_len > 0)
            rc = handle_envelope(s, wsi, s->frame, s->frame_len);
        s->frame_len = 0;
        s->frame_too_big = false;
        if (rc != 0)
            return -1; /* closes the connection; the thread opens a new one */
        break;
    }
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        if (s->n_acks > 0) {
            char *text = s->acks[0];
            size_t n = strlen(text);
            unsigned char *buf = malloc(LWS_PRE + n);
            int wrote = buf ? (memcpy(buf + LWS_PRE, text, n), lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_TEXT)) : -1;
            free(buf);
            if (wrote < (int)n)
                return -1;
            free(text);
            memmove(s->acks, s->acks + 1, --s->n_acks * sizeof *s->acks);
            if (s->n_acks > 0)
                lws_callback_on_writable(wsi);
        }
        break;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        LOG_WARN("slack_socket_error", "reason", in ? (const char *)in : "connection failed", NULL);
        s->closed = true;
        s->wsi = NULL;
        break;
    case LWS_CALLBACK_CLIENT_CLOSED:
        LOG_INFO("slack_socket_closed", NULL);
        s->closed = true;
        s->wsi = NULL;
        break;
    default: break;
    }
    return 0;
}

static const struct lws_protocols protocols[] = {
    {"hutch-slack-socket-mode", callback, 0, 65536, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* Sleeps ms unless stopped meanwhile. */
static void pause_ms(slack_socket *s, long ms)
{
    for (long waited = 0; waited < ms && !s->stop; waited += 100) {
        struct timespec t = {0, 100 * 1000000L};
        nanosleep(&t, NULL);
    }
}

/* apps.connections.open, then a connection to its URL. 0, or -1 (logged). */
static int connect_once(slack_socket *s)
{
    json_t *body = json_object();
    slack_result res;
    int rc = body ? slack_call(s->cfg.api_url, s->cfg.app_token, "apps.connections.open", body, s->cfg.timeout_ms, &res)
                  : -1;
    json_decref(body);
    if (rc != 0 || res.url[0] == '\0') {
        LOG_WARN("slack_socket_open_failed", "error", rc != 0 ? res.error : "no url in the answer", NULL);
        return -1;
    }
    char url[sizeof res.url];
    snprintf(url, sizeof url, "%s", res.url);
    const char *prot = NULL, *address = NULL, *rest = NULL;
    int port = 0;
    if (lws_parse_uri(url, &prot, &address, &port, &rest) != 0 || (strcmp(prot, "wss") && strcmp(prot, "ws"))) {
        LOG_WARN("slack_socket_open_failed", "error", "the url is not ws:// or wss://", NULL);
        return -1;
    }
    char path[sizeof res.url + 1];
    snprintf(path, sizeof path, "/%s", rest);
    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof ci);
    ci.context = s->lws;
    ci.address = address;
    ci.port = port;
    ci.path = path;
    ci.host = address;
    ci.origin = address;
    ci.ssl_connection = !strcmp(prot, "wss") ? LCCSCF_USE_SSL : 0;
    ci.local_protocol_name = protocols[0].name;
    ci.pwsi = &s->wsi;
    s->closed = false;
    s->established = false;
    if (lws_client_connect_via_info(&ci) == NULL) {
        LOG_WARN("slack_socket_open_failed", "error", "cannot start the connection", NULL);
        return -1;
    }
    return 0;
}

static void *run(void *arg)
{
    slack_socket *s = arg;
    long backoff = BACKOFF_MIN_MS;
    while (!s->stop) {
        if (connect_once(s) == 0) {
            while (!s->stop && !s->closed)
                lws_service(s->lws, 0);
            if (s->established)
                backoff = BACKOFF_MIN_MS; /* it worked: the next one is fetched at once */
            for (size_t i = 0; i < s->n_acks; i++)
                free(s->acks[i]); /* unwritten: Slack sends those envelopes again */
            s->n_acks = 0;
            s->frame_len = 0;
            if (s->established)
                continue;
        }
        pause_ms(s, backoff);
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
    return NULL;
}

/* libwebsockets' own log lines, as ours (warnings and errors only). */
static void lws_log(int level, const char *line)
{
    char text[300];
    snprintf(text, sizeof text, "%s", line);
    size_t n = strlen(text);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        text[--n] = '\0';
    LOG_WARN("libwebsockets", "level", level == LLL_ERR ? "error" : "warning", "message", text, NULL);
}

slack_socket *slack_socket_start(const slack_socket_config *cfg, char *err, size_t errlen)
{
    slack_socket *s = calloc(1, sizeof *s);
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->cfg = *cfg;
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.user = s;
    if ((s->producer = kafka_producer_new(cfg->brokers, "hutch-notify-socket", err, errlen)) == NULL ||
        (s->lws = lws_create_context(&info)) == NULL) {
        if (s->producer != NULL)
            snprintf(err, errlen, "cannot create the libwebsockets context");
        slack_socket_stop(s);
        return NULL;
    }
    if (pthread_create(&s->thread, NULL, run, s) != 0) {
        snprintf(err, errlen, "cannot start the Socket Mode thread");
        slack_socket_stop(s);
        return NULL;
    }
    s->started = true;
    return s;
}

void slack_socket_stop(slack_socket *s)
{
    if (s == NULL)
        return;
    if (s->started) {
        s->stop = 1;
        lws_cancel_service(s->lws); /* wakes lws_service */
        pthread_join(s->thread, NULL);
    }
    if (s->lws != NULL)
        lws_context_destroy(s->lws);
    for (size_t i = 0; i < s->n_acks; i++)
        free(s->acks[i]);
    free(s->frame);
    kafka_producer_free(s->producer, 2000);
    free(s);
}
