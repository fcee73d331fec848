/* One bounded HTTPS GET (libcurl) for the small documents services fetch to verify
 * what they receive: signing certificates (SNS), key sets (JWKS), confirmation URLs.
 *
 * Blocking, with a total timeout and a size cap, no redirects followed (a redirect
 * could leave the host that was checked), TLS peer and host always verified against
 * ca_file (NULL or "": the system bundle). Only https:// URLs unless allow_http. */
#ifndef HUTCH_FETCH_H
#define HUTCH_FETCH_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char *ca_file;  /* BORROWED; NULL/"" = system CA bundle */
    long timeout_ms;      /* whole transfer; 0 = 5000 */
    size_t max_bytes;     /* larger bodies fail; 0 = 1 MiB */
    bool allow_http;      /* plain http:// too (tests; a service inside the deployment) */
} fetch_options;

/* GETs url. On a 2xx answer returns 0 and *body is NEW (free(), NUL-terminated,
 * length in *len). Otherwise -1 with the reason (curl error or "HTTP <status>") in err. */
int fetch_get(const char *url, const fetch_options *o, char **body, size_t *len, char *err, size_t errlen);

#endif
