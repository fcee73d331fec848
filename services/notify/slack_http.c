/* Slack callback handlers (see slack_http.h). The produce is asynchronous: its
 * delivery callback (producer poll thread) hands the reply back to the request's
 * loop with event_base_once, so the loop never waits for the broker. */
#include "services/notify/slack_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "common/ids.h"
#include "common/log.h"
#include "common/msg.h"
#include "common/topics.h"
#include "services/notify/slack_callback.h"

#define POLL_INTERVAL_US 20000 /* acknowledgements seen within 20 ms */

struct slack_http {
    http_server *server;
    kafka_producer *producer; /* OWNED: the callbacks' own */
    struct event *poll;       /* OWNED: kafka_producer_poll on the HTTP loop */
    const char *secret;
    bool closing; /* the loop has stopped: a late acknowledgement only frees its reply */
};

/* A request waiting for its command's broker acknowledgement. */
typedef struct {
    slack_http *h;
    struct evhttp_request *req;
    struct event_base *base;
    int err;
} pending_reply;

static void reply_on_loop(evutil_socket_t fd, short what, void *arg)
{
    pending_reply *p = arg;
    if (p->err == 0)
        evhttp_send_reply(p->req, 200, "OK", NULL);
    else
        http_reply_error(p->req, 503, "cannot queue the command: try again");
    free(p);
}

static void on_delivery(void *ctx, int err)
{
    pending_reply *p = ctx;
    p->err = err;
    if (p->h->closing) { /* the loop is gone (slack_http_free's flush): nobody to answer */
        free(p);
        return;
    }
    if (event_base_once(p->base, -1, EV_TIMEOUT, reply_on_loop, p, NULL) != 0)
        LOG_ERROR("slack_reply_lost", "reason", "event_base_once failed", NULL);
}

/* Publishes cb's command; the reply follows its acknowledgement. */
static void publish(slack_http *h, struct evhttp_request *req, slack_callback *cb)
{
    char id[37];
    size_t len = 0;
    uint8_t *buf = slack_command_pack(cb, id, &len);
    pending_reply *p = calloc(1, sizeof *p);
    if (buf == NULL || p == NULL) {
        free(buf);
        free(p);
        http_reply_error(req, 503, "out of memory");
        return;
    }
    p->h = h;
    p->req = req;
    p->base = evhttp_connection_get_base(evhttp_request_get_connection(req));
    LOG_INFO("slack_command_received", "action", cb->cmd.action, "actor", cb->cmd.actor, "ticket_id", cb->cmd.ticket_id,
             "command_id", id, NULL);
    if (kafka_produce_async(h->producer, TOPIC_SLACK_COMMANDS, id, strlen(id), buf, len, NULL, on_delivery, p) != 0) {
        free(p);
        http_reply_error(req, 503, "cannot queue the command: try again");
    }
    free(buf);
}

static void handle(struct evhttp_request *req, void *arg, bool interaction)
{
    slack_http *h = arg;
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        http_reply_error(req, 405, "POST only");
        return;
    }
    struct evkeyvalq *headers = evhttp_request_get_input_headers(req);
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *body = len ? (const char *)evbuffer_pullup(in, -1) : "";
    slack_sig_result sig =
        slack_verify(h->secret, evhttp_find_header(headers, "X-Slack-Request-Timestamp"),
                     evhttp_find_header(headers, "X-Slack-Signature"), body, len, (int64_t)time(NULL));
    if (sig != SLACK_SIG_OK) {
        LOG_WARN("slack_callback_refused", "path", evhttp_request_get_uri(req), "reason", slack_sig_reason(sig), NULL);
        http_reply_error(req, 401, slack_sig_reason(sig));
        return;
    }
    slack_callback cb;
    char err[256] = "";
    int rc = interaction ? slack_read_interaction(body, len, &cb, err, sizeof err)
                         : slack_read_event(body, len, &cb, err, sizeof err);
    if (rc != 0) {
        http_reply_error(req, 400, err);
    } else if (cb.kind == SLACK_CB_CHALLENGE) {
        struct evbuffer *out = evbuffer_new();
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/plain");
        if (out != NULL)
            evbuffer_add(out, cb.challenge, strlen(cb.challenge));
        evhttp_send_reply(req, 200, "OK", out);
        evbuffer_free(out);
    } else if (cb.kind == SLACK_CB_COMMAND) {
        publish(h, req, &cb);
    } else {
        evhttp_send_reply(req, 200, "OK", NULL);
    }
    slack_callback_free(&cb);
}

static void on_interaction(struct evhttp_request *req, void *arg) { handle(req, arg, true); }

static void on_event(struct evhttp_request *req, void *arg) { handle(req, arg, false); }

static void poll_producer(evutil_socket_t fd, short what, void *arg)
{
    slack_http *h = arg;
    kafka_producer_poll(h->producer, 0);
}

slack_http *slack_http_register(http_server *server, const char *brokers, const char *signing_secret, char *err,
                                size_t errlen)
{
    slack_http *h = calloc(1, sizeof *h);
    if (h == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->server = server;
    h->secret = signing_secret;
    h->producer = kafka_producer_new(brokers, "hutch-notify-slack", err, errlen);
    h->poll = h->producer ? event_new(http_server_base(server), -1, EV_PERSIST, poll_producer, h) : NULL;
    struct timeval every = {0, POLL_INTERVAL_US};
    if (h->poll == NULL || event_add(h->poll, &every) != 0) {
        if (h->producer != NULL)
            snprintf(err, errlen, "cannot add the producer's poll timer");
        slack_http_free(h);
        return NULL;
    }
    http_server_route(server, "/hooks/slack/interaction", on_interaction, h);
    http_server_route(server, "/hooks/slack/event", on_event, h);
    return h;
}

void slack_http_free(slack_http *h)
{
    if (h == NULL)
        return;
    if (h->poll != NULL)
        event_free(h->poll);
    h->closing = true;
    kafka_producer_free(h->producer, 2000);
    free(h);
}
