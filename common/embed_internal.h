/* What embed.c and embed_http.c share: the embedder's fields and the HTTP half's entry
 * points. Not for other modules (they use embed.h). */
#ifndef HUTCH_EMBED_INTERNAL_H
#define HUTCH_EMBED_INTERNAL_H

#include <stdbool.h>

#include "embed.h"

typedef enum { EMBEDDER_HASH, EMBEDDER_LOCAL, EMBEDDER_OPENAI, EMBEDDER_GEMINI } embedder_kind;

struct embedder {
    embedder_kind kind;
    int dim;        /* of every vector; openai/gemini without dims_asked: 0 until the first answer */
    int dims_asked; /* HUTCH_EMBED_DIMENSIONS, 0 = not sent */
    int batch;
    int64_t timeout_ms;
    char name[160];
    char note[512];
    struct local_engine {
        void *so;
        struct e5_model *model;
        struct e5_model *(*load)(const char *);
        void (*free_model)(struct e5_model *);
        int (*dim)(const struct e5_model *);
        int (*embed_batch)(struct e5_model *, const char **, int, int, float *);
    } local;
    char *url, *model, *api_key; /* OWNED; openai/gemini */
    void *curl;                  /* CURL *, OWNED */
};

/* v[0..dim) scaled to length 1 (left alone when all zero). */
void embed_normalise(float *v, int dim);

/* embed_http.c: the libcurl handle (0 or -1 with err), its release (NULL-safe), and one
 * request for texts[0..n) into *out (NEW n*e->dim floats, e->dim fixed by the first
 * answer when it was 0). */
int embed_http_open(embedder *e, char *err, size_t errlen);
void embed_http_close(embedder *e);
embed_result embed_http_batch(embedder *e, const char *const *texts, size_t n, float **out, int64_t *retry_after_ms,
                              char *err, size_t errlen);

#endif
