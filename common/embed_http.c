/* The HTTP embedders (see embed.h): OpenAI-compatible /embeddings and Gemini
 * embedContent / batchEmbedContents over libcurl, and the pure parsers of their answers.
 *
 * Wire formats (EXTERNAL-APIS.md §6.4):
 *   openai  POST {url}/embeddings  Authorization: Bearer KEY
 *           {"model":M,"input":[..],"encoding_format":"float"[,"dimensions":D]}
 *           -> {"data":[{"index":i,"embedding":[..]}],..}  (rows placed by index)
 *   gemini  POST {url}/models/M:embedContent  x-goog-api-key: KEY
 *           {"content":{"parts":[{"text":T}]},"taskType":"SEMANTIC_SIMILARITY"[,"outputDimensionality":D]}
 *           -> {"embedding":{"values":[..]}}
 *           POST {url}/models/M:batchEmbedContents {"requests":[{"model":"models/M",..same..}]}
 *           -> {"embeddings":[{"values":[..]}]}
 *   errors  both {"error":{"message":..}}; 429 and 5xx are worth a retry (Retry-After
 *           honoured), other 4xx are not. */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embed_internal.h"
#include "strbuf.h"

#define MAX_BODY (64u << 20)

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

int embed_http_open(embedder *e, char *err, size_t errlen)
{
    pthread_once(&curl_once, curl_init);
    e->curl = curl_easy_init();
    if (!e->curl) {
        snprintf(err, errlen, "curl_easy_init failed");
        return -1;
    }
    return 0;
}

void embed_http_close(embedder *e)
{
    if (e->curl)
        curl_easy_cleanup(e->curl);
    e->curl = NULL;
}

void embed_error_message(const char *body, char *err, size_t errlen)
{
    json_t *j = json_loads(body ? body : "", 0, NULL);
    const char *msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
    if (!msg) /* some servers: {"error":"text"} */
        msg = json_string_value(json_object_get(j, "error"));
    if (msg)
        snprintf(err, errlen, "%s", msg);
    else
        snprintf(err, errlen, "%.200s", body ? body : "");
    json_decref(j);
}

/* values (a JSON array of numbers) into row[dim]; *dim fixed from it when 0. */
static embed_result take_vector(json_t *values, int *dim, float *row, size_t i, char *err, size_t errlen)
{
    if (!json_is_array(values) || json_array_size(values) == 0) {
        snprintf(err, errlen, "vector %zu: not an array of numbers", i);
        return EMBED_ERROR;
    }
    if ((size_t)*dim != json_array_size(values)) {
        snprintf(err, errlen, "vector %zu has %zu dimensions, expected %d", i, json_array_size(values), *dim);
        return EMBED_ERROR;
    }
    size_t k;
    json_t *x;
    json_array_foreach (values, k, x) {
        if (!json_is_number(x)) {
            snprintf(err, errlen, "vector %zu: element %zu is not a number", i, k);
            return EMBED_ERROR;
        }
        row[k] = (float)json_number_value(x);
    }
    return EMBED_OK;
}

/* The common part of both parsers: vectors[i] (got by `get`) into NEW out. */
static embed_result parse_rows(json_t *root, json_t *list, size_t n, int *dim, bool by_index, float **out,
                               const char *what, char *err, size_t errlen)
{
    *out = NULL;
    if (!json_is_array(list)) {
        snprintf(err, errlen, "answer without %s", what);
        return EMBED_ERROR;
    }
    if (json_array_size(list) != n) {
        snprintf(err, errlen, "answer has %zu vectors for %zu texts", json_array_size(list), n);
        return EMBED_ERROR;
    }
    if (*dim == 0) {
        json_t *first = json_array_get(list, 0);
        json_t *v = by_index ? json_object_get(first, "embedding") : json_object_get(first, "values");
        *dim = json_is_array(v) ? (int)json_array_size(v) : 0;
        if (*dim <= 0 || *dim > 65536) {
            snprintf(err, errlen, "vector 0: not an array of numbers");
            return EMBED_ERROR;
        }
    }
    float *rows = calloc(n * (size_t)*dim, sizeof *rows);
    bool *seen = calloc(n, sizeof *seen);
    if (!rows || !seen) {
        free(rows);
        free(seen);
        snprintf(err, errlen, "out of memory");
        return EMBED_RETRY;
    }
    embed_result r = EMBED_OK;
    for (size_t i = 0; i < n && r == EMBED_OK; i++) {
        json_t *item = json_array_get(list, i);
        size_t at = i;
        if (by_index) {
            json_t *ix = json_object_get(item, "index");
            if (ix) {
                if (!json_is_integer(ix) || json_integer_value(ix) < 0 || (size_t)json_integer_value(ix) >= n) {
                    snprintf(err, errlen, "vector %zu: bad index", i);
                    r = EMBED_ERROR;
                    break;
                }
                at = (size_t)json_integer_value(ix);
            }
            if (seen[at]) {
                snprintf(err, errlen, "index %zu given twice", at);
                r = EMBED_ERROR;
                break;
            }
            seen[at] = true;
            r = take_vector(json_object_get(item, "embedding"), dim, rows + at * (size_t)*dim, i, err, errlen);
        } else {
            r = take_vector(json_object_get(item, "values"), dim, rows + at * (size_t)*dim, i, err, errlen);
        }
    }
    free(seen);
    (void)root;
    if (r != EMBED_OK) {
        free(rows);
        return r;
    }
    *out = rows;
    return EMBED_OK;
}

embed_result embed_parse_openai(const char *body, size_t n, int *dim, float **out, char *err, size_t errlen)
{
    json_error_t je;
    json_t *root = json_loads(body, 0, &je);
    if (!root) {
        *out = NULL;
        snprintf(err, errlen, "answer is not JSON: %s", je.text);
        return EMBED_ERROR;
    }
    embed_result r = parse_rows(root, json_object_get(root, "data"), n, dim, true, out, "\"data\"", err, errlen);
    json_decref(root);
    return r;
}

embed_result embed_parse_gemini(const char *body, size_t n, int *dim, float **out, char *err, size_t errlen)
{
    json_error_t je;
    json_t *root = json_loads(body, 0, &je);
    if (!root) {
        *out = NULL;
        snprintf(err, errlen, "answer is not JSON: %s", je.text);
        return EMBED_ERROR;
    }
    embed_result r;
    json_t *one = json_object_get(root, "embedding");
    if (one && n == 1) { /* embedContent */
        json_t *list = json_pack("[O]", one);
        r = parse_rows(root, list, 1, dim, false, out, "\"embedding\"", err, errlen);
        json_decref(list);
    } else {
        r = parse_rows(root, json_object_get(root, "embeddings"), n, dim, false, out, "\"embeddings\"", err, errlen);
    }
    json_decref(root);
    return r;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
    strbuf *b = arg;
    size_t n = size * nmemb;
    if (b->len + n > MAX_BODY || strbuf_add(b, p, n) != 0)
        return 0; /* curl reports a write error */
    return n;
}

static json_t *gemini_request(const embedder *e, const char *text, bool with_model)
{
    json_t *r = json_pack("{s:{s:[{s:s}]}, s:s}", "content", "parts", "text", text, "taskType", "SEMANTIC_SIMILARITY");
    if (r && e->dims_asked)
        json_object_set_new(r, "outputDimensionality", json_integer(e->dims_asked));
    if (r && with_model) {
        char m[512];
        snprintf(m, sizeof m, "models/%s", e->model);
        json_object_set_new(r, "model", json_string(m));
    }
    return r;
}

embed_result embed_http_batch(embedder *e, const char *const *texts, size_t n, float **out, int64_t *retry_after_ms,
                              char *err, size_t errlen)
{
    *out = NULL;
    bool gemini = e->kind == EMBEDDER_GEMINI;
    json_t *body = NULL;
    char url[4096];
    if (!gemini) {
        snprintf(url, sizeof url, "%s/embeddings", e->url);
        json_t *input = json_array();
        for (size_t i = 0; input && i < n; i++)
            json_array_append_new(input, json_string(texts[i]));
        body = json_pack("{s:s, s:o, s:s}", "model", e->model, "input", input, "encoding_format", "float");
        if (body && e->dims_asked)
            json_object_set_new(body, "dimensions", json_integer(e->dims_asked));
    } else if (n == 1) {
        snprintf(url, sizeof url, "%s/models/%s:embedContent", e->url, e->model);
        body = gemini_request(e, texts[0], false);
    } else {
        snprintf(url, sizeof url, "%s/models/%s:batchEmbedContents", e->url, e->model);
        json_t *reqs = json_array();
        for (size_t i = 0; reqs && i < n; i++)
            json_array_append_new(reqs, gemini_request(e, texts[i], true));
        body = json_pack("{s:o}", "requests", reqs);
    }
    char *payload = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!payload) { /* jansson refuses invalid UTF-8 too */
        snprintf(err, errlen, "cannot encode the request (out of memory, or a text that is not UTF-8)");
        return EMBED_ERROR;
    }

    CURL *c = e->curl;
    curl_easy_reset(c);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    char auth[4200] = "";
    if (*e->api_key) {
        snprintf(auth, sizeof auth, gemini ? "x-goog-api-key: %s" : "Authorization: Bearer %s", e->api_key);
        h = curl_slist_append(h, auth);
    }
    strbuf resp = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)e->timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "hutch-embed");
    CURLcode cc = curl_easy_perform(c);
    memset(auth, 0, sizeof auth);
    curl_slist_free_all(h);
    free(payload);

    embed_result r;
    long status = 0;
    if (cc != CURLE_OK) {
        snprintf(err, errlen, "%s: %s", url, curl_easy_strerror(cc));
        r = EMBED_RETRY;
        goto done;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
        char msg[400];
        embed_error_message(resp.p, msg, sizeof msg);
        snprintf(err, errlen, "%s: HTTP %ld: %s", url, status, msg);
        r = status == 429 || status >= 500 || status == 408 ? EMBED_RETRY : EMBED_ERROR;
        curl_off_t ra = 0;
        if (retry_after_ms && curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
            *retry_after_ms = (int64_t)ra * 1000;
        goto done;
    }
    int dim = e->dim;
    r = gemini ? embed_parse_gemini(resp.p ? resp.p : "", n, &dim, out, err, errlen)
               : embed_parse_openai(resp.p ? resp.p : "", n, &dim, out, err, errlen);
    if (r == EMBED_OK)
        e->dim = dim;
done:
    strbuf_free(&resp);
    return r;
}
