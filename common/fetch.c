/* A bounded HTTPS GET with libcurl (see fetch.h). The body is collected into a
 * growing buffer that refuses to pass max_bytes, so a hostile or broken server
 * cannot make the caller allocate without bound. */
#include "common/fetch.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct {
    char *buf;
    size_t len, cap, max;
    bool too_big;
} sink;

static size_t on_data(char *p, size_t size, size_t n, void *ctx)
{
    sink *s = ctx;
    size_t add = size * n;
    if (s->len + add > s->max) {
        s->too_big = true;
        return 0; /* aborts the transfer */
    }
    if (s->len + add + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + add + 1)
            cap *= 2;
        char *nb = realloc(s->buf, cap);
        if (!nb)
            return 0;
        s->buf = nb;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, p, add);
    s->len += add;
    s->buf[s->len] = '\0';
    return add;
}

int fetch_get(const char *url, const fetch_options *o, char **body, size_t *len, char *err, size_t errlen)
{
    *body = NULL;
    *len = 0;
    if (!url || (strncasecmp(url, "https://", 8) != 0 && !(o->allow_http && strncasecmp(url, "http://", 7) == 0))) {
        snprintf(err, errlen, "not an https URL");
        return -1;
    }
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    sink s = {.max = o->max_bytes ? o->max_bytes : 1024 * 1024};
    char cerr[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, o->allow_http ? "https,http" : "https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, o->timeout_ms > 0 ? o->timeout_ms : 5000L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (o->ca_file && *o->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, o->ca_file);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "hutch");
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK) {
        if (s.too_big)
            snprintf(err, errlen, "response larger than %zu bytes", s.max);
        else
            snprintf(err, errlen, "%s", cerr[0] ? cerr : curl_easy_strerror(rc));
        free(s.buf);
        return -1;
    }
    if (status < 200 || status > 299) {
        snprintf(err, errlen, "HTTP %ld", status);
        free(s.buf);
        return -1;
    }
    if (!s.buf) {
        s.buf = strdup("");
        if (!s.buf) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    *body = s.buf;
    *len = s.len;
    return 0;
}
