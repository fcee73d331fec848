/* shape_index: hutch-cluster's in-memory index of the alert shapes of a recent window,
 * for similarity reads (`hutchctl alert similar` asks it: GET /v1/similar on the
 * cluster's HTTP port).
 *
 * Alerts of one shape share one vector (shapes.h), so the index holds shapes, not alerts:
 * one row per shape hash (a vindex row, common/vindex.h), with the time its newest
 * alert was embedded. A search returns the best shapes whose newest alert is within
 * the window, exact (vindex_search with a filter); the caller attaches the alerts.
 *
 * Rows are never removed: a shape that leaves the window stays, filtered out, and comes
 * back when an alert of it arrives again. The vectors are those of one embedder (the
 * instance's); dimensions are fixed at creation.
 *
 * Thread-safe: a read-write lock, writers (the consumer thread) exclusive, searches
 * (the HTTP threads) shared. */
#ifndef HUTCH_CLUSTER_SHAPE_INDEX_H
#define HUTCH_CLUSTER_SHAPE_INDEX_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "common/pg.h"
#include "common/shape.h"
#include "common/vindex.h"

typedef struct shape_index shape_index;

typedef struct {
    char hash[SHAPE_HASH_LEN];
    float score;          /* cosine of the query and the shape's vector */
    int64_t last_seen_ms; /* when the shape's newest known alert was embedded */
} shape_hit;

/* A NEW empty index of dim-sized vectors (storage: f32 or i8, vindex.h); NULL on bad
 * arguments or out of memory. */
shape_index *shape_index_new(int dim, vindex_storage storage);
void shape_index_free(shape_index *ix);

/* Records that an alert of shape `hash` (64 hex digits) was embedded at seen_ms: a new
 * shape is added with its vector v (dim floats, borrowed, copied); a known one keeps
 * its vector and its last_seen_ms becomes the later of the two (v may then be NULL).
 * 1 = added, 0 = known (or unknown with v NULL: nothing done), -1 = bad hash or out of
 * memory (the index is unchanged). */
int shape_index_touch(shape_index *ix, const char *hash, const float *v, int64_t seen_ms);
/* True when the shape is in the index. */
int shape_index_has(shape_index *ix, const char *hash);

/* The best (up to) k shapes with score >= min_score whose last_seen_ms >= since_ms,
 * best first (ties: the older row first), into out[k]. q: dim floats, borrowed.
 * Returns the number of hits, -1 on out of memory. */
int shape_index_search(shape_index *ix, const float *q, size_t k, float min_score, int64_t since_ms, shape_hit *out);

/* The same with the stored vector of shape `hash` as the query (the shape itself is
 * among the hits). 0 hits and *known = 0 when the shape is not in the index. */
int shape_index_search_like(shape_index *ix, const char *hash, size_t k, float min_score, int64_t since_ms,
                            shape_hit *out, int *known);

/* Partitions the index for faster exact searches (vindex_partition) when it holds at
 * least SHAPE_INDEX_PARTITION_MIN shapes. Pruning needs about as many partitions as
 * there are kinds of alert (hutch-vindex-bench's alert-like data, 2,000 kinds: 60,000
 * rows search in 3 ms with 2,400 partitions, 13-16 ms with 480-1,200, 11 ms flat), so
 * one per 25 shapes, but no more than 8,000 or one per 125 shapes, whichever is more
 * (the build grows with them: about 50 s for a million 384-d shapes in 8,000). Holds
 * the write lock while it builds: call it before the index is shared. Shapes added
 * later join the nearest partition (exact still, the bounds widen). The number of
 * partitions, or -1 on out of memory. */
#define SHAPE_INDEX_PARTITION_MIN 50000
long shape_index_partition(shape_index *ix);
/* How many partitions shape_index_partition makes of n shapes (0: stays flat). */
size_t shape_index_partitions_for(size_t n);

size_t shape_index_count(shape_index *ix);
int shape_index_dim(const shape_index *ix);
/* Bytes held by the vectors, the hashes and the lookup table (approximately). */
size_t shape_index_memory(shape_index *ix);

/* Postgres (shape_index_pg.c), from the consumer thread outside a batch. Adds to ix the
 * shapes of the alerts embedded by `embedder` at or after since_ms (epoch ms, the
 * database's clock), whichever instance embedded them, and moves their last_seen_ms:
 * two statements (the shapes and their newest time from embeddings; the vectors of
 * the shapes new to ix from shape_embeddings). A shape whose stored vector is not of
 * the index's size is skipped. *newest_ms becomes the newest created_at seen (left as
 * it was when there is none); *added counts the new shapes. A non-zero *stop (NULL:
 * none) ends it early with PG_RETRY. PG_OK, PG_RETRY, PG_FATAL. */
int shape_index_refresh(shape_index *ix, pg *db, const char *embedder, int64_t since_ms, int64_t *newest_ms,
                        size_t *added, volatile sig_atomic_t *stop);

#endif
