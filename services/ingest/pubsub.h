/* Google Pub/Sub push authentication: the OIDC token Pub/Sub puts in
 * "Authorization: Bearer <JWT>" when the subscription has push authentication on
 * (Google: "Authenticate push subscriptions").
 *
 * The token is an RS256 JWT signed by Google (keys from the JWKS URL, cached by kid,
 * see common/jwt.h). Accepted when: the signature verifies; iss is one of the
 * issuers; aud equals the configured audience (the subscription's "audience", by
 * default its push endpoint URL); it has not expired; and, when an allow-list is
 * set, "email" is one of the listed service accounts and "email_verified" is true. */
#ifndef HUTCH_INGEST_PUBSUB_H
#define HUTCH_INGEST_PUBSUB_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/jwt.h"

#define PUBSUB_DEFAULT_JWKS "https://www.googleapis.com/oauth2/v3/certs"
#define PUBSUB_DEFAULT_ISSUERS "https://accounts.google.com,accounts.google.com"

typedef struct {
    const char *jwks_url;  /* Google's JWKS */
    const char *issuers;   /* comma-separated */
    const char *audience;  /* required: NULL/"" makes every push unverifiable */
    const char *emails;    /* comma-separated service accounts; NULL/"" = any */
    int64_t min_refresh_ms;
    fetch_options fetch;
} pubsub_options;

typedef struct pubsub_verifier pubsub_verifier;

/* Strings are copied. NEW or NULL (OOM). */
pubsub_verifier *pubsub_verifier_new(const pubsub_options *o);
void pubsub_verifier_free(pubsub_verifier *v);

/* Verifies an Authorization header value (BORROWED, may be NULL). 0 with *claims NEW
 * (json_decref), or -1 with the reason in err (never the token). */
int pubsub_verify(pubsub_verifier *v, const char *authorization, json_t **claims, char *err, size_t errlen);

/* The email checks alone (pure): 0 or -1 with err. emails NULL/"" = any. */
int pubsub_check_email(const json_t *claims, const char *emails, char *err, size_t errlen);

#endif
