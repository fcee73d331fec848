/* Pub/Sub push OIDC tokens (see pubsub.h): the bearer token is cut from the
 * Authorization header, verified with common/jwt.c against Google's keys, then the
 * service-account email is checked against the allow-list. */
#include "services/ingest/pubsub.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/config.h"

struct pubsub_verifier {
    jwt_keyset *keys;
    char *issuers, *audience, *emails;
};

pubsub_verifier *pubsub_verifier_new(const pubsub_options *o)
{
    pubsub_verifier *v = calloc(1, sizeof *v);
    if (!v)
        return NULL;
    v->keys = jwt_keyset_new(o->jwks_url && *o->jwks_url ? o->jwks_url : PUBSUB_DEFAULT_JWKS, &o->fetch,
                             o->min_refresh_ms, 3600 * 1000);
    v->issuers = strdup(o->issuers && *o->issuers ? o->issuers : PUBSUB_DEFAULT_ISSUERS);
    v->audience = strdup(o->audience ? o->audience : "");
    v->emails = strdup(o->emails ? o->emails : "");
    if (!v->keys || !v->issuers || !v->audience || !v->emails) {
        pubsub_verifier_free(v);
        return NULL;
    }
    return v;
}

void pubsub_verifier_free(pubsub_verifier *v)
{
    if (!v)
        return;
    jwt_keyset_free(v->keys);
    free(v->issuers);
    free(v->audience);
    free(v->emails);
    free(v);
}

int pubsub_check_email(const json_t *claims, const char *emails, char *err, size_t errlen)
{
    if (!emails || !*emails)
        return 0;
    const char *email = json_string_value(json_object_get(claims, "email"));
    if (!email || !json_is_true(json_object_get(claims, "email_verified"))) {
        snprintf(err, errlen, "token without a verified \"email\"");
        return -1;
    }
    if (config_list_has(emails, email))
        return 0;
    snprintf(err, errlen, "service account not allowed (HUTCH_INGEST_PUBSUB_EMAILS)");
    return -1;
}

int pubsub_verify(pubsub_verifier *v, const char *authorization, json_t **claims, char *err, size_t errlen)
{
    *claims = NULL;
    if (!*v->audience) {
        snprintf(err, errlen, "Pub/Sub push authentication is not configured (HUTCH_INGEST_PUBSUB_AUDIENCE)");
        return -1;
    }
    if (!authorization) {
        snprintf(err, errlen, "missing bearer token");
        return -1;
    }
    while (*authorization == ' ')
        authorization++;
    if (strncasecmp(authorization, "Bearer ", 7) != 0) {
        snprintf(err, errlen, "missing bearer token");
        return -1;
    }
    const char *tok = authorization + 7;
    while (*tok == ' ')
        tok++;
    size_t len = strlen(tok);
    while (len && (tok[len - 1] == ' ' || tok[len - 1] == '\t'))
        len--;
    jwt_expect e = {.issuers = v->issuers, .audience = v->audience, .now_s = (int64_t)time(NULL), .leeway_s = 60};
    json_t *c = NULL;
    if (jwt_keyset_verify(v->keys, tok, len, &e, &c, err, errlen) != 0)
        return -1;
    if (pubsub_check_email(c, v->emails, err, errlen) != 0) {
        json_decref(c);
        return -1;
    }
    *claims = c;
    return 0;
}
