/* The shape index (shape_index.h): a vindex of the shapes' vectors, per row the shape's
 * hash and last_seen_ms, and a tsearch(3) tree from hash to row. The tree's nodes are
 * row numbers (as pointers, row + 1); its comparison reads the hashes of the index in
 * use, which a thread-local pointer names for the duration of a tree call. */
#include "services/cluster/shape_index.h"

#include <pthread.h>
#include <search.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char hash[SHAPE_HASH_LEN];
    int64_t last_seen_ms;
} row_meta;

struct shape_index {
    pthread_rwlock_t lock;
    vindex *vx;
    row_meta *rows; /* one per vindex row */
    size_t cap;
    void *tree; /* tsearch root: (void *)(uintptr_t)(row + 1) */
};

/* The index and the probe of the tree call in progress on this thread. */
static _Thread_local const shape_index *tree_ix;
static _Thread_local const char *tree_probe;

#define PROBE ((uintptr_t)0) /* the node value that stands for tree_probe */

static const char *hash_of(const void *node)
{
    uintptr_t v = (uintptr_t)node;
    return v == PROBE ? tree_probe : tree_ix->rows[v - 1].hash;
}

static int by_hash(const void *a, const void *b) { return strcmp(hash_of(a), hash_of(b)); }

/* The row of hash, or -1. Caller holds the lock (either mode). */
static long find_row(const shape_index *ix, const char *hash)
{
    tree_ix = ix;
    tree_probe = hash;
    void **node = tfind((const void *)PROBE, &ix->tree, by_hash);
    return node ? (long)((uintptr_t)*node - 1) : -1;
}

static bool valid_hash(const char *h)
{
    if (!h || strlen(h) != SHAPE_HASH_LEN - 1)
        return false;
    for (const char *p = h; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

shape_index *shape_index_new(int dim, vindex_storage storage)
{
    shape_index *ix = calloc(1, sizeof *ix);
    if (!ix)
        return NULL;
    if (!(ix->vx = vindex_new(dim, storage)) || pthread_rwlock_init(&ix->lock, NULL) != 0) {
        vindex_free(ix->vx);
        free(ix);
        return NULL;
    }
    return ix;
}

static void no_free(void *node) { (void)node; }

void shape_index_free(shape_index *ix)
{
    if (!ix)
        return;
    tdestroy(ix->tree, no_free);
    vindex_free(ix->vx);
    free(ix->rows);
    pthread_rwlock_destroy(&ix->lock);
    free(ix);
}

int shape_index_touch(shape_index *ix, const char *hash, const float *v, int64_t seen_ms)
{
    if (!valid_hash(hash))
        return -1;
    pthread_rwlock_wrlock(&ix->lock);
    int rc = 0;
    long row = find_row(ix, hash);
    if (row >= 0) {
        if (seen_ms > ix->rows[row].last_seen_ms)
            ix->rows[row].last_seen_ms = seen_ms;
        goto out;
    }
    if (!v)
        goto out; /* a time for a shape not known: nothing to add it with */
    size_t n = vindex_count(ix->vx);
    if (n >= UINT32_MAX - 1) {
        rc = -1;
        goto out;
    }
    if (n == ix->cap) {
        size_t cap = ix->cap ? ix->cap * 2 : 1024;
        row_meta *grown = realloc(ix->rows, cap * sizeof *grown);
        if (!grown) {
            rc = -1;
            goto out;
        }
        ix->rows = grown;
        ix->cap = cap;
    }
    memcpy(ix->rows[n].hash, hash, SHAPE_HASH_LEN);
    ix->rows[n].last_seen_ms = seen_ms;
    if (vindex_add(ix->vx, n, v) != 0) {
        rc = -1;
        goto out;
    }
    tree_ix = ix;
    tree_probe = hash;
    if (!tsearch((const void *)(uintptr_t)(n + 1), &ix->tree, by_hash)) {
        rc = -1; /* the row stays, unreachable by hash: found again as new, added again */
        goto out;
    }
    rc = 1;
out:
    pthread_rwlock_unlock(&ix->lock);
    return rc;
}

int shape_index_has(shape_index *ix, const char *hash)
{
    if (!valid_hash(hash))
        return 0;
    pthread_rwlock_rdlock(&ix->lock);
    int has = find_row(ix, hash) >= 0;
    pthread_rwlock_unlock(&ix->lock);
    return has;
}

typedef struct {
    const row_meta *rows;
    int64_t since_ms;
} window_filter;

static bool in_window(uint64_t id, uint32_t row, void *arg)
{
    (void)id;
    const window_filter *w = arg;
    return w->rows[row].last_seen_ms >= w->since_ms;
}

/* The search, the caller holding the read lock. */
static int search_locked(shape_index *ix, const float *q, size_t k, float min_score, int64_t since_ms, shape_hit *out)
{
    vindex_hit *hits = calloc(k ? k : 1, sizeof *hits);
    if (!hits)
        return -1;
    window_filter w = {ix->rows, since_ms};
    int n = vindex_search(ix->vx, q, k, min_score, in_window, &w, hits);
    for (int i = 0; i < n; i++) {
        const row_meta *m = &ix->rows[hits[i].row];
        memcpy(out[i].hash, m->hash, SHAPE_HASH_LEN);
        out[i].score = hits[i].score;
        out[i].last_seen_ms = m->last_seen_ms;
    }
    free(hits);
    return n;
}

int shape_index_search(shape_index *ix, const float *q, size_t k, float min_score, int64_t since_ms, shape_hit *out)
{
    pthread_rwlock_rdlock(&ix->lock);
    int n = search_locked(ix, q, k, min_score, since_ms, out);
    pthread_rwlock_unlock(&ix->lock);
    return n;
}

int shape_index_search_like(shape_index *ix, const char *hash, size_t k, float min_score, int64_t since_ms,
                            shape_hit *out, int *known)
{
    *known = 0;
    if (!valid_hash(hash))
        return 0;
    float *q = malloc((size_t)vindex_dim(ix->vx) * sizeof *q);
    if (!q)
        return -1;
    pthread_rwlock_rdlock(&ix->lock);
    long row = find_row(ix, hash);
    int n = 0;
    if (row >= 0) {
        *known = 1;
        vindex_row(ix->vx, (uint32_t)row, q);
        n = search_locked(ix, q, k, min_score, since_ms, out);
    }
    pthread_rwlock_unlock(&ix->lock);
    free(q);
    return n;
}

size_t shape_index_partitions_for(size_t n)
{
    if (n < SHAPE_INDEX_PARTITION_MIN)
        return 0;
    size_t most = n / 125 > 8000 ? n / 125 : 8000;
    return n / 25 < most ? n / 25 : most;
}

long shape_index_partition(shape_index *ix)
{
    pthread_rwlock_wrlock(&ix->lock);
    size_t want = shape_index_partitions_for(vindex_count(ix->vx));
    long parts = 0;
    if (want)
        parts = vindex_partition(ix->vx, want) == 0 ? (long)vindex_partitions(ix->vx) : -1;
    pthread_rwlock_unlock(&ix->lock);
    return parts;
}

size_t shape_index_count(shape_index *ix)
{
    pthread_rwlock_rdlock(&ix->lock);
    size_t n = vindex_count(ix->vx);
    pthread_rwlock_unlock(&ix->lock);
    return n;
}

int shape_index_dim(const shape_index *ix) { return vindex_dim(ix->vx); }

size_t shape_index_memory(shape_index *ix)
{
    pthread_rwlock_rdlock(&ix->lock);
    /* a tsearch node: the key and two children, with malloc's overhead */
    size_t n = vindex_memory(ix->vx) + ix->cap * sizeof *ix->rows + vindex_count(ix->vx) * 32;
    pthread_rwlock_unlock(&ix->lock);
    return n;
}
