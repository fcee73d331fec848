/* shapes: the vectors of alert shapes, through two caches, for hutch-cluster.
 *
 * A shape (common/shape.h) is looked up by its hash: first in this process's memory
 * (a table emptied by shapes_trim once it holds more than SHAPES_MEMORY_MAX vectors), then in Postgres
 * (shape_embeddings, keyed by shape hash and embedder name, with the vector's size
 * checked), and only the shapes found in neither are embedded, in ONE embedder call per
 * batch (the embedder batches by HUTCH_EMBED_BATCH), then written to shape_embeddings
 * (ON CONFLICT DO NOTHING: two instances embedding one shape at once store it once).
 * A storm of 900 probes of one shape costs one model call, and a restarted instance
 * none. A shape known only under another embedder (the provider was changed) is
 * re-embedded from the shape text stored beside the old vector: lazily, when needed.
 *
 * Not thread-safe: one per consumer thread (the embedder is not either). */
#ifndef HUTCH_CLUSTER_SHAPES_H
#define HUTCH_CLUSTER_SHAPES_H

#include <stddef.h>
#include <stdint.h>

#include "common/embed.h"
#include "common/pg.h"

#define SHAPES_MEMORY_MAX 65536

typedef struct shapes shapes;

typedef struct {
    uint64_t memory;   /* found in this process (or earlier in the same call) */
    uint64_t database; /* found in shape_embeddings */
    uint64_t model;    /* embedded now */
    uint64_t failed;   /* the embedder refused (EMBED_ERROR): no vector */
} shapes_stats;

/* A NEW cache over e (BORROWED: must outlive it); NULL on out of memory. */
shapes *shapes_new(embedder *e);
void shapes_free(shapes *s);

/* Empties the memory table when it holds more than SHAPES_MEMORY_MAX vectors: call it
 * between batches (it ends the life of every vector shapes_vectors returned). */
void shapes_trim(shapes *s);

/* The vectors of the n shapes hashes[i] (texts[i] the shape text, or NULL when only
 * the hash is known: then the text is read from shape_embeddings, and a shape with
 * no stored text gets no vector). out[i] is BORROWED (valid until shapes_trim) or
 * NULL (no vector: the embedder refused, or the text is unknown). Runs inside the
 * caller's transaction on db. PG_OK, PG_RETRY (database, or EMBED_RETRY from the
 * embedder), PG_FATAL. Counts of this call are added to *st when st is not NULL. */
int shapes_vectors(shapes *s, pg *db, const char *const *hashes, const char *const *texts, size_t n, const float **out,
                   shapes_stats *st);

/* Dimensions of the vectors (0 before the first embedding of an openai/gemini
 * embedder without HUTCH_EMBED_DIMENSIONS). */
int shapes_dim(const shapes *s);
const char *shapes_embedder_name(const shapes *s);

/* The dot product of two vectors of shapes_dim() floats. */
float shapes_dot(const shapes *s, const float *a, const float *b);

#endif
