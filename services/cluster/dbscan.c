/* DBSCAN over a vindex (see dbscan.h): collapse identical rows, run the classic
 * expansion over the distinct points with weights, renumber clusters by size. */
#include "dbscan.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define UNVISITED (-2)

typedef struct {
    uint64_t hash;
    uint32_t row;
} hashed_row;

static int cmp_hashed(const void *a, const void *b)
{
    const hashed_row *x = a, *y = b;
    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    return x->row < y->row ? -1 : x->row > y->row;
}

/* The neighbour list of one query: distinct points other than itself. */
typedef struct {
    uint32_t self;
    uint32_t *items;
    size_t n, cap;
    bool failed;
} neighbours;

static int collect(uint32_t row, float score, void *arg)
{
    neighbours *nb = arg;
    if (row == nb->self)
        return 0;
    if (nb->n == nb->cap) {
        size_t cap = nb->cap ? nb->cap * 2 : 64;
        uint32_t *p = realloc(nb->items, cap * sizeof *p);
        if (!p) {
            nb->failed = true;
            return 1;
        }
        nb->items = p;
        nb->cap = cap;
    }
    nb->items[nb->n++] = row;
    return 0;
}

/* Step 2's neighbour lists, computed beforehand in batches (vindex_range_batch) while
 * their total stays within a budget; beyond it, each list is queried when needed. */
#define BATCH 64
#define LIST_BUDGET (32u << 20) /* entries: 128 MB */
#define CACHE_BYTES (8u << 20)  /* DBSCAN_AUTO batches rows beyond this */

typedef struct {
    uint32_t *items;
    uint32_t n, cap;
} nlist;

typedef struct {
    nlist *lists;
    size_t base, total, budget;
    bool over, failed;
} lists_fill;

static int collect_batch(size_t q, uint32_t row, float score, void *arg)
{
    lists_fill *f = arg;
    size_t self = f->base + q;
    if (row == self)
        return 0;
    if (++f->total > f->budget) {
        f->over = true;
        return 1;
    }
    nlist *l = &f->lists[self];
    if (l->n == l->cap) {
        uint32_t cap = l->cap ? l->cap * 2 : 8;
        uint32_t *p = realloc(l->items, cap * sizeof *p);
        if (!p) {
            f->failed = true;
            return 1;
        }
        l->items = p;
        l->cap = cap;
    }
    l->items[l->n++] = row;
    return 0;
}

static void free_lists(nlist *lists, size_t n)
{
    for (size_t i = 0; lists && i < n; i++)
        free(lists[i].items);
    free(lists);
}

/* All lists, or NULL in *out when over the budget. 0, or -2 out of memory. */
static int precompute_lists(const vindex *space, size_t npoints, float min_score, size_t budget, nlist **out)
{
    *out = NULL;
    int dim = vindex_dim(space);
    nlist *lists = calloc(npoints, sizeof *lists);
    float *qs = malloc((size_t)BATCH * dim * sizeof *qs);
    if (!lists || !qs) {
        free(lists);
        free(qs);
        return -2;
    }
    lists_fill f = {lists, 0, 0, budget, false, false};
    for (size_t b = 0; b < npoints && !f.over && !f.failed; b += BATCH) {
        size_t m = npoints - b < BATCH ? npoints - b : BATCH;
        for (size_t i = 0; i < m; i++)
            vindex_row(space, (uint32_t)(b + i), qs + i * (size_t)dim);
        f.base = b;
        if (vindex_range_batch(space, qs, m, min_score, collect_batch, &f) < 0)
            f.failed = true;
    }
    free(qs);
    if (f.failed || f.over) {
        free_lists(lists, npoints);
        return f.failed ? -2 : 0;
    }
    *out = lists;
    return 0;
}

/* The neighbours of point i: its precomputed list, or a query into nb. 0 or -2. */
static int neighbours_of(const vindex *space, const nlist *lists, uint32_t i, float min_score, float *v, neighbours *nb,
                         const uint32_t **items, size_t *n)
{
    if (lists) {
        *items = lists[i].items;
        *n = lists[i].n;
        return 0;
    }
    nb->self = i;
    nb->n = 0;
    vindex_row(space, i, v);
    if (vindex_range(space, v, min_score, collect, nb) != 0 || nb->failed)
        return -2;
    *items = nb->items;
    *n = nb->n;
    return 0;
}

typedef struct {
    int32_t cluster;
    uint64_t size;
    uint32_t first;
} cluster_size;

static int cmp_size(const void *a, const void *b)
{
    const cluster_size *x = a, *y = b;
    if (x->size != y->size)
        return x->size > y->size ? -1 : 1;
    return x->first < y->first ? -1 : x->first > y->first;
}

int dbscan_run(const vindex *ix, const dbscan_params *p, int32_t *labels)
{
    if (!p || !(p->eps > 0 && p->eps <= 2) || p->min_samples < 1 || p->neighbours < DBSCAN_AUTO ||
        p->neighbours > DBSCAN_QUERY)
        return -1;
    size_t n = vindex_count(ix);
    if (n == 0)
        return 0;
    int dim = vindex_dim(ix);
    int rc = -2, nclusters = 0;
    size_t npoints = 0;
    hashed_row *hr = malloc(n * sizeof *hr);
    uint32_t *point_of = malloc(n * sizeof *point_of); /* row -> distinct point */
    uint32_t *rep = malloc(n * sizeof *rep);           /* distinct point -> first row */
    uint64_t *weight = calloc(n, sizeof *weight);
    int32_t *label = malloc(n * sizeof *label); /* per distinct point */
    uint32_t *queue = malloc(n * sizeof *queue);
    float *v = malloc((size_t)dim * sizeof *v);
    vindex *points = NULL;
    neighbours nb = {0};
    nlist *lists = NULL;
    const uint32_t *items;
    size_t nitems;
    cluster_size *sizes = NULL;
    if (!hr || !point_of || !rep || !weight || !label || !queue || !v)
        goto out;

    /* 1. distinct points, numbered in order of their first row */
    for (size_t r = 0; r < n; r++)
        hr[r] = (hashed_row){vindex_row_hash(ix, (uint32_t)r), (uint32_t)r};
    qsort(hr, n, sizeof *hr, cmp_hashed);
    for (size_t r = 0; r < n; r++)
        point_of[r] = UINT32_MAX;
    for (size_t i = 0; i < n; i++) { /* within one hash, first rows first */
        uint32_t r = hr[i].row;
        if (point_of[r] != UINT32_MAX)
            continue;
        point_of[r] = r; /* provisional: its own first row */
        for (size_t j = i + 1; j < n && hr[j].hash == hr[i].hash; j++)
            if (point_of[hr[j].row] == UINT32_MAX && vindex_rows_equal(ix, r, hr[j].row))
                point_of[hr[j].row] = r;
    }
    for (size_t r = 0; r < n; r++) {
        if (point_of[r] == r) {
            rep[npoints] = (uint32_t)r;
            point_of[r] = (uint32_t)npoints++;
        } else {
            point_of[r] = point_of[point_of[r]]; /* its first row, already renumbered */
        }
        weight[point_of[r]]++;
    }
    const vindex *space = ix;
    if (npoints < n) {
        points = vindex_new(dim, vindex_storage_of(ix));
        if (!points || vindex_reserve(points, npoints) != 0)
            goto out;
        for (size_t i = 0; i < npoints; i++) {
            vindex_row(ix, rep[i], v);
            if (vindex_add(points, i, v) != 0)
                goto out;
        }
        space = points;
    }

    /* 2. expansion over the distinct points */
    float min_score = 1.0f - p->eps;
    bool batch = p->neighbours == DBSCAN_BATCH || (p->neighbours == DBSCAN_AUTO && vindex_memory(space) > CACHE_BYTES);
    if (batch && precompute_lists(space, npoints, min_score, LIST_BUDGET, &lists) != 0)
        goto out;
    for (size_t i = 0; i < npoints; i++)
        label[i] = UNVISITED;
    for (size_t i = 0; i < npoints; i++) {
        if (label[i] != UNVISITED)
            continue;
        if (neighbours_of(space, lists, (uint32_t)i, min_score, v, &nb, &items, &nitems) != 0)
            goto out;
        uint64_t w = weight[i];
        for (size_t j = 0; j < nitems; j++)
            w += weight[items[j]];
        if (w < (uint64_t)p->min_samples) {
            label[i] = DBSCAN_NOISE;
            continue;
        }
        int32_t c = nclusters++;
        label[i] = c;
        size_t head = 0, tail = 0;
        for (size_t j = 0; j < nitems; j++) {
            uint32_t q = items[j];
            if (label[q] == UNVISITED)
                queue[tail++] = q;
            if (label[q] == UNVISITED || label[q] == DBSCAN_NOISE)
                label[q] = c;
        }
        while (head < tail) {
            uint32_t q = queue[head++];
            if (neighbours_of(space, lists, q, min_score, v, &nb, &items, &nitems) != 0)
                goto out;
            uint64_t wq = weight[q];
            for (size_t j = 0; j < nitems; j++)
                wq += weight[items[j]];
            if (wq < (uint64_t)p->min_samples)
                continue; /* a border point: in the cluster, not expanded */
            for (size_t j = 0; j < nitems; j++) {
                uint32_t x = items[j];
                if (label[x] == UNVISITED)
                    queue[tail++] = x;
                if (label[x] == UNVISITED || label[x] == DBSCAN_NOISE)
                    label[x] = c;
            }
        }
    }

    /* 3. renumber by size (alerts, not distinct points), largest first */
    sizes = calloc(nclusters ? (size_t)nclusters : 1, sizeof *sizes);
    if (!sizes)
        goto out;
    for (int c = 0; c < nclusters; c++)
        sizes[c] = (cluster_size){c, 0, UINT32_MAX};
    for (size_t r = 0; r < n; r++) {
        int32_t c = label[point_of[r]];
        if (c >= 0) {
            sizes[c].size++;
            if (sizes[c].first == UINT32_MAX)
                sizes[c].first = (uint32_t)r;
        }
    }
    qsort(sizes, (size_t)nclusters, sizeof *sizes, cmp_size);
    int32_t *rank = (int32_t *)queue; /* reused: old cluster -> new number */
    for (int c = 0; c < nclusters; c++)
        rank[sizes[c].cluster] = c;
    for (size_t r = 0; r < n; r++) {
        int32_t c = label[point_of[r]];
        labels[r] = c >= 0 ? rank[c] : DBSCAN_NOISE;
    }
    rc = nclusters;
out:
    free(hr);
    free(point_of);
    free(rep);
    free(weight);
    free(label);
    free(queue);
    free(v);
    free(nb.items);
    free(sizes);
    vindex_free(points);
    free_lists(lists, npoints);
    return rc;
}
