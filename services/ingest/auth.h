/* Warren's `auth.http` policy for ingest requests: `data.auth.http.allow` must be
 * true for a request to go on (false or undefined: 403; an evaluation error: 500).
 *
 * The policies are every *.rego below a directory (HUTCH_INGEST_POLICY_DIR, loaded
 * once at start like HUTCH_POLICY_DIR; it may be the same directory: only
 * auth.http is evaluated here), compiled with common/rego; the package must exist.
 * The input is Warren's (pkg/domain/model/auth):
 *
 *   {"req": {"method": "POST", "path": "/hooks/alert/raw/x", "body": "<text>",
 *            "header": {"Authorization": ["Bearer ..."], ...},  (canonical names, as Go's)
 *            "remote": "127.0.0.1:5678", "query": {"k": ["v"]}},
 *    "env": {"NAME": "value", ...},          (the process environment, as Warren)
 *    "google": {...OIDC claims...},          (Pub/Sub pushes, once verified)
 *    "sns": {...the SNS message...}}         (SNS deliveries, once verified)
 *
 * "remote" and "query" are Hutch's additions. A denial or an error is logged with
 * method, path, remote, query and headers, secrets redacted (ingest_auth_redacted).
 * Evaluation is thread-safe (the compiled policy is read-only). */
#ifndef HUTCH_INGEST_AUTH_H
#define HUTCH_INGEST_AUTH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "rego/value.h"

typedef struct ingest_auth ingest_auth;

/* Loads and compiles dir. NEW, or NULL with "file:line:col: ..." or "no package
 * auth.http" in err. */
ingest_auth *ingest_auth_load(const char *dir, char *err, size_t errlen);
void ingest_auth_free(ingest_auth *a);

/* One request, as plain data. All BORROWED. */
typedef struct {
    const char *method, *path;
    const char *query;           /* raw query string without '?', or NULL */
    const char *remote;          /* "addr:port" */
    const char *const *header_names, *const *header_values;
    size_t nheaders;
    const char *body;
    size_t body_len;
    const json_t *google, *sns;  /* NULL when absent */
} ingest_auth_request;

/* The policy input for r. NEW value, or NULL on OOM. */
rv *ingest_auth_input(const ingest_auth *a, const ingest_auth_request *r);

/* Evaluates data.auth.http.allow. 0 with *allow set (undefined = false), or -1 with
 * err (an evaluation error, or allow not a boolean). input BORROWED. */
int ingest_auth_decide(const ingest_auth *a, rv *input, bool *allow, char *err, size_t errlen);

/* method, path, remote, query and headers as a JSON object for a log line: values of
 * headers and query parameters whose name suggests a secret (authorization, cookie,
 * token, key, secret, signature, password) are "[redacted]". NEW. */
json_t *ingest_auth_redacted(const ingest_auth_request *r);

#endif
