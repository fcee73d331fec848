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
    if (!p || !(p->eps > 0 && p->eps <= 2) || p->min_samples < 1)
        return -1;
    size_t n = vindex_count(ix);
    if (n == 0)
        return 0;
    int dim = vindex_dim(ix);
    int rc = -2, nclusters = 0;
    hashed_row *hr = malloc(n * sizeof *hr);
    uint32_t *point_of = malloc(n * sizeof *point_of); /* row -> distinct point */
    uint32_t *rep = malloc(n * sizeof *rep);           /* distinct point -> first row */
    uint64_t *weight = calloc(n, sizeof *weight);
    int32_t *label = malloc(n * sizeof *label);        /* per distinct point */
    uint32_t *queue = malloc(n * sizeof *queue);
    float *v = malloc((size_t)dim * sizeof *v);
    vindex *points = NULL;
    neighbours nb = {0};
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
    size_t npoints = 0;
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
    for (size_t i = 0; i < npoints; i++)
        label[i] = UNVISITED;
    for (size_t i = 0; i < npoints; i++) {
        if (label[i] != UNVISITED)
            continue;
        nb.self = (uint32_t)i;
        nb.n = 0;
        vindex_row(space, (uint32_t)i, v);
        if (vindex_range(space, v, min_score, collect, &nb) != 0 || nb.failed)
            goto out;
        uint64_t w = weight[i];
        for (size_t j = 0; j < nb.n; j++)
            w += weight[nb.items[j]];
        if (w < (uint64_t)p->min_samples) {
            label[i] = DBSCAN_NOISE;
            continue;
        }
        int32_t c = nclusters++;
        label[i] = c;
        size_t head = 0, tail = 0;
        for (size_t j = 0; j < nb.n; j++) {
            uint32_t q = nb.items[j];
            if (label[q] == UNVISITED)
                queue[tail++] = q;
            if (label[q] == UNVISITED || label[q] == DBSCAN_NOISE)
                label[q] = c;
        }
        while (head < tail) {
            uint32_t q = queue[head++];
            nb.self = q;
            nb.n = 0;
            vindex_row(space, q, v);
            if (vindex_range(space, v, min_score, collect, &nb) != 0 || nb.failed)
                goto out;
            uint64_t wq = weight[q];
            for (size_t j = 0; j < nb.n; j++)
                wq += weight[nb.items[j]];
            if (wq < (uint64_t)p->min_samples)
                continue; /* a border point: in the cluster, not expanded */
            for (size_t j = 0; j < nb.n; j++) {
                uint32_t x = nb.items[j];
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
    return rc;
}
