/* Who may put an event into ingest: the one check main.c calls per hook request,
 * after the body is read and before it is decoded.
 *
 *   raw     the bearer tokens (HUTCH_INGEST_TOKENS; main.c checks them first)
 *   sns     the message's SNS signature and TopicArn (sns.h); a verified
 *           SubscriptionConfirmation is confirmed or logged with its URL
 *   pubsub  the OIDC token of the push (pubsub.h)
 * then, for every kind, the auth.http policy when HUTCH_INGEST_POLICY_DIR is set
 * (auth.h), with the verified SNS message or OIDC claims in its input.
 *
 * Outcome: 0 (go on) or the HTTP status to answer with the reason in err:
 * 401 unverifiable, 403 denied (topic or policy), 500 policy error, 502 a
 * subscription confirmation that failed (SNS retries it). Every refusal is logged
 * here with the request's method, path and remote address (secrets redacted). */
#ifndef HUTCH_INGEST_GUARD_H
#define HUTCH_INGEST_GUARD_H

#include <event2/http.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "services/ingest/ingest.h"
#include "services/ingest/pubsub.h"
#include "services/ingest/sns.h"

typedef struct {
    char *policy_dir;
    char *ca_file;
    char *sns_topics;
    char *sns_cert_hosts;
    bool sns_auto_confirm;
    char *pubsub_audience;
    char *pubsub_jwks_url;
    char *pubsub_issuers;
    char *pubsub_emails;
    int64_t pubsub_jwks_min_refresh_ms;
} ingest_guard_config;

/* The settings, as entries of the program's config table; S is the program's config
 * struct and M the ingest_guard_config member in it. */
#define INGEST_GUARD_CONFIG_FIELDS(S, M)                                                                               \
    {"HUTCH_INGEST_POLICY_DIR", CONFIG_STRING, "", offsetof(S, M.policy_dir),                                          \
     "directory of Rego policies whose auth.http `allow` must be true for every hook request (empty: no policy)", 0, 0, NULL}, \
    {"HUTCH_INGEST_CA_FILE", CONFIG_STRING, "", offsetof(S, M.ca_file),                                                \
     "CA bundle for fetching SNS certificates, Google's JWKS and SNS SubscribeURLs (empty: the system's)", 0, 0, NULL}, \
    {"HUTCH_INGEST_SNS_TOPICS", CONFIG_STRING, "", offsetof(S, M.sns_topics),                                          \
     "comma-separated TopicArns accepted on /hooks/alert/sns/ (empty: any topic whose signature verifies)", 0, 0, NULL}, \
    {"HUTCH_INGEST_SNS_CERT_HOSTS", CONFIG_STRING, SNS_DEFAULT_CERT_HOSTS, offsetof(S, M.sns_cert_hosts),              \
     "PCRE2 pattern the host[:port] of SigningCertURL and SubscribeURL must match", 0, 0, NULL},                        \
    {"HUTCH_INGEST_SNS_AUTO_CONFIRM", CONFIG_BOOL, "0", offsetof(S, M.sns_auto_confirm),                              \
     "confirm verified SNS subscriptions by GETting their SubscribeURL (else the URL is logged); needs HUTCH_INGEST_SNS_TOPICS", 0, 0, NULL},          \
    {"HUTCH_INGEST_PUBSUB_AUDIENCE", CONFIG_STRING, "", offsetof(S, M.pubsub_audience),                                \
     "audience of the Pub/Sub push OIDC token (required to accept /hooks/alert/pubsub/)", 0, 0, NULL},                  \
    {"HUTCH_INGEST_PUBSUB_JWKS_URL", CONFIG_STRING, PUBSUB_DEFAULT_JWKS, offsetof(S, M.pubsub_jwks_url),               \
     "keys of the OIDC tokens (Google's JWKS)", 0, 0, NULL},                                                            \
    {"HUTCH_INGEST_PUBSUB_ISSUERS", CONFIG_STRING, PUBSUB_DEFAULT_ISSUERS, offsetof(S, M.pubsub_issuers),              \
     "comma-separated accepted token issuers", 0, 0, NULL},                                                             \
    {"HUTCH_INGEST_PUBSUB_EMAILS", CONFIG_STRING, "", offsetof(S, M.pubsub_emails),                                    \
     "comma-separated service accounts allowed to push (empty: any)", 0, 0, NULL},                                      \
    {"HUTCH_INGEST_PUBSUB_JWKS_MIN_REFRESH", CONFIG_DURATION_MS, "30s", offsetof(S, M.pubsub_jwks_min_refresh_ms),     \
     "least time between two JWKS fetches caused by unknown key ids", 0, 0, NULL}

typedef struct ingest_guard ingest_guard;

/* Builds the verifiers and loads the policies; initialises libcurl, so call it
 * before other threads start (and free it after they stopped). NEW, or NULL with err
 * (a policy directory that does not compile, a bad pattern, auto-confirm without
 * a topic allow-list). cfg BORROWED. */
ingest_guard *ingest_guard_new(const ingest_guard_config *cfg, char *err, size_t errlen);
void ingest_guard_free(ingest_guard *g);

/* See the header comment. req, schema and body BORROWED. */
int ingest_guard_check(ingest_guard *g, struct evhttp_request *req, ingest_kind kind, const char *schema,
                       const char *body, size_t len, char *err, size_t errlen);

#endif
