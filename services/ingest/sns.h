/* AWS SNS HTTP(S) deliveries, verified (AWS: "Verifying the signatures of Amazon
 * SNS messages").
 *
 * Every message (Notification, SubscriptionConfirmation, UnsubscribeConfirmation)
 * carries a signature over a canonical string of some of its fields, made with the
 * key of an X.509 certificate that SNS serves at SigningCertURL. Verification:
 *   1. the canonical string of the message's Type (sns_canonical_string);
 *   2. SigningCertURL must be https and its host[:port] must match the host pattern
 *      (a PCRE2 regex; AWS: sns.<region>.amazonaws.com[.cn]), so a forger cannot
 *      point at a certificate of their own;
 *   3. the certificate is fetched (fetch.h, TLS verified against the CA bundle) and
 *      its public key cached by URL (at most SNS_CERT_CACHE entries, oldest out);
 *   4. the signature (base64) is checked with SHA1 (SignatureVersion 1) or SHA256
 *      (SignatureVersion 2), RSASSA-PKCS1-v1_5;
 *   5. TopicArn must be in the allow-list, when one is set.
 * A SubscriptionConfirmation that verified is confirmed (a GET of its SubscribeURL,
 * whose host must match the same pattern) only when auto_confirm is on; otherwise
 * the caller logs the URL for an operator.
 *
 * Thread-safe: the certificate cache has its own lock; a fetch happens under it. */
#ifndef HUTCH_INGEST_SNS_H
#define HUTCH_INGEST_SNS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/fetch.h"

#define SNS_CERT_CACHE 32
#define SNS_DEFAULT_CERT_HOSTS "^sns\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?$"

typedef struct {
    const char *cert_hosts; /* PCRE2 pattern for host[:port] of SigningCertURL and SubscribeURL */
    const char *topics;     /* comma-separated TopicArn allow-list; NULL/"" = every topic */
    bool auto_confirm;      /* GET SubscribeURL of a verified SubscriptionConfirmation */
    fetch_options fetch;    /* ca_file is copied */
} sns_options;

typedef enum {
    SNS_OK = 0,
    SNS_UNVERIFIED = -1, /* 401: signature, certificate or fields do not check out */
    SNS_FORBIDDEN = -2,  /* 403: verified, but the topic is not allowed */
    SNS_ERROR = -3,      /* 500: out of memory */
} sns_status;

typedef struct sns_verifier sns_verifier;

/* Strings of o are copied. NEW, or NULL with err (a pattern that does not compile). */
sns_verifier *sns_verifier_new(const sns_options *o, char *err, size_t errlen);
void sns_verifier_free(sns_verifier *v);

/* The string SNS signs for msg (by its "Type"): "Key\nvalue\n" for each of
 *   Notification:  Message, MessageId, Subject (only when present), Timestamp, TopicArn, Type
 *   SubscriptionConfirmation, UnsubscribeConfirmation:
 *                  Message, MessageId, SubscribeURL, Timestamp, Token, TopicArn, Type
 * NEW (free()), or NULL with err when Type is unknown or a field is missing or not
 * a string (an SNS message always has them). Pure. */
char *sns_canonical_string(const json_t *msg, char *err, size_t errlen);

/* True if url is https and its host[:port] matches the pattern. */
bool sns_url_allowed(const sns_verifier *v, const char *url);

/* Verifies one delivery (body BORROWED, len bytes). SNS_OK: *msg is the message
 * object, NEW (json_decref). Otherwise the reason is in err (for the log and the
 * client: it names the failed check, never key material). */
sns_status sns_verify(sns_verifier *v, const char *body, size_t len, json_t **msg, char *err, size_t errlen);

/* For a verified SubscriptionConfirmation: with auto_confirm, GETs SubscribeURL and
 * returns 1 (confirmed) or -1 (err says why); without it returns 0 (the caller logs
 * the URL). Other types: 0. */
int sns_confirm(sns_verifier *v, const json_t *msg, char *err, size_t errlen);

#endif
