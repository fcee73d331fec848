/* The per-request check of ingest's hooks (see guard.h): verification by kind, then
 * the auth.http policy. The evhttp request is turned into plain data here
 * (ingest_auth_request) so auth.c stays free of HTTP. */
#include "services/ingest/guard.h"

#include <curl/curl.h>
#include <event2/http.h>
#include <sys/queue.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "services/ingest/auth.h"

struct ingest_guard {
    bool curl_ready;
    sns_verifier *sns;
    pubsub_verifier *pubsub;
    ingest_auth *auth; /* NULL: no policy directory */
};

void ingest_guard_free(ingest_guard *g)
{
    if (!g)
        return;
    sns_verifier_free(g->sns);
    pubsub_verifier_free(g->pubsub);
    ingest_auth_free(g->auth);
    if (g->curl_ready)
        curl_global_cleanup();
    free(g);
}

ingest_guard *ingest_guard_new(const ingest_guard_config *c, char *err, size_t errlen)
{
    ingest_guard *g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    /* Auto-confirming with no allow-list would let any AWS account subscribe this
     * endpoint to its topic and push events signed by AWS itself. */
    if (c->sns_auto_confirm && !(c->sns_topics && *c->sns_topics)) {
        snprintf(err, errlen, "HUTCH_INGEST_SNS_AUTO_CONFIRM=1 needs HUTCH_INGEST_SNS_TOPICS (the topics to confirm)");
        goto fail;
    }
    /* libcurl's global state, before any thread can fetch (not thread-safe itself) */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errlen, "libcurl did not initialise");
        goto fail;
    }
    g->curl_ready = true;
    fetch_options fo = {.ca_file = c->ca_file, .timeout_ms = 5000, .max_bytes = 256 * 1024};
    sns_options so = {.cert_hosts = c->sns_cert_hosts, .topics = c->sns_topics, .auto_confirm = c->sns_auto_confirm,
                      .fetch = fo};
    g->sns = sns_verifier_new(&so, err, errlen);
    if (!g->sns)
        goto fail;
    pubsub_options po = {.jwks_url = c->pubsub_jwks_url, .issuers = c->pubsub_issuers,
                         .audience = c->pubsub_audience, .emails = c->pubsub_emails,
                         .min_refresh_ms = c->pubsub_jwks_min_refresh_ms, .fetch = fo};
    g->pubsub = pubsub_verifier_new(&po);
    if (!g->pubsub) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (c->policy_dir && *c->policy_dir) {
        char perr[1024];
        g->auth = ingest_auth_load(c->policy_dir, perr, sizeof perr);
        if (!g->auth) {
            snprintf(err, errlen, "HUTCH_INGEST_POLICY_DIR: %s", perr);
            goto fail;
        }
    }
    return g;
fail:
    ingest_guard_free(g);
    return NULL;
}

static const char *method_name(enum evhttp_cmd_type m)
{
    switch (m) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    case EVHTTP_REQ_TRACE: return "TRACE";
    case EVHTTP_REQ_CONNECT: return "CONNECT";
    case EVHTTP_REQ_PATCH: return "PATCH";
    }
    return "";
}

/* The request as plain data; the arrays are NEW (free both), strings borrowed
 * from req except remote (in the caller's buffer). */
static int describe(struct evhttp_request *req, const char *body, size_t len, char *remote, size_t remote_len,
                    ingest_auth_request *r)
{
    memset(r, 0, sizeof *r);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    r->method = method_name(evhttp_request_get_command(req));
    r->path = evhttp_uri_get_path(uri);
    r->query = evhttp_uri_get_query(uri);
    char *addr = NULL;
    ev_uint16_t port = 0;
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    if (conn)
        evhttp_connection_get_peer(conn, &addr, &port);
    snprintf(remote, remote_len, "%s:%u", addr ? addr : "", (unsigned)port);
    r->remote = remote;
    r->body = body;
    r->body_len = len;
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    size_t n = 0;
    struct evkeyval *e;
    TAILQ_FOREACH(e, h, next) n++;
    const char **names = calloc(n + 1, sizeof *names), **values = calloc(n + 1, sizeof *values);
    if (!names || !values) {
        free(names);
        free(values);
        return -1;
    }
    n = 0;
    TAILQ_FOREACH(e, h, next) {
        names[n] = e->key;
        values[n++] = e->value;
    }
    r->header_names = names;
    r->header_values = values;
    r->nheaders = n;
    return 0;
}

static void log_refusal(const char *event, const ingest_auth_request *r, const char *schema, const char *why)
{
    json_t *j = ingest_auth_redacted(r);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    LOG_WARN(event, "schema", schema, "reason", why, "request", text ? text : "", NULL);
    free(text);
    json_decref(j);
}

int ingest_guard_check(ingest_guard *g, struct evhttp_request *req, ingest_kind kind, const char *schema,
                       const char *body, size_t len, char *err, size_t errlen)
{
    char remote[80];
    ingest_auth_request r;
    if (describe(req, body, len, remote, sizeof remote, &r) != 0) {
        snprintf(err, errlen, "out of memory");
        return 500;
    }
    json_t *sns_msg = NULL, *claims = NULL;
    int status = 0;
    if (kind == INGEST_KIND_SNS) {
        sns_status st = sns_verify(g->sns, body, len, &sns_msg, err, errlen);
        if (st != SNS_OK) {
            status = st == SNS_FORBIDDEN ? 403 : st == SNS_ERROR ? 500 : 401;
            log_refusal("sns_refused", &r, schema, err);
            goto out;
        }
        r.sns = sns_msg;
    } else if (kind == INGEST_KIND_PUBSUB) {
        const char *authz = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
        if (pubsub_verify(g->pubsub, authz, &claims, err, errlen) != 0) {
            status = 401;
            log_refusal("pubsub_refused", &r, schema, err);
            goto out;
        }
        r.google = claims;
    }
    if (g->auth) {
        rv *input = ingest_auth_input(g->auth, &r);
        bool allow = false;
        int rc = input ? ingest_auth_decide(g->auth, input, &allow, err, errlen) : -1;
        if (!input)
            snprintf(err, errlen, "out of memory");
        rv_unref(input);
        if (rc != 0) {
            status = 500;
            log_refusal("auth_policy_error", &r, schema, err);
            snprintf(err, errlen, "authorization policy error");
            goto out;
        }
        if (!allow) {
            status = 403;
            snprintf(err, errlen, "denied by the auth.http policy");
            log_refusal("auth_denied", &r, schema, err);
            goto out;
        }
    }
    if (sns_msg) {
        const char *type = json_string_value(json_object_get(sns_msg, "Type"));
        const char *topic = json_string_value(json_object_get(sns_msg, "TopicArn"));
        const char *url = json_string_value(json_object_get(sns_msg, "SubscribeURL"));
        int c = sns_confirm(g->sns, sns_msg, err, errlen);
        if (c < 0) {
            status = 502;
            LOG_WARN("sns_confirm_failed", "schema", schema, "topic", topic, "reason", err, NULL);
        } else if (c > 0) {
            LOG_INFO("sns_subscription_confirmed", "schema", schema, "topic", topic, NULL);
        } else if (strcmp(type, "Notification") != 0) {
            /* confirm by hand: open the URL (or aws sns confirm-subscription with its Token) */
            LOG_WARN("sns_confirmation_pending", "schema", schema, "type", type, "topic", topic, "subscribe_url",
                     url ? url : "", NULL);
        }
    }
out:
    json_decref(sns_msg);
    json_decref(claims);
    free((void *)r.header_names);
    free((void *)r.header_values);
    return status;
}
