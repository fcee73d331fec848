/* DBSCAN over the vectors of a vindex: suggested groups of alerts for analysts.
 *
 * Warren's semantics (EXTERNAL-APIS.md §1.7): cosine distance 1 - dot (vectors are
 * L2-normalised), a point's neighbours are the other points within eps, a point is a core
 * point when its neighbours plus itself number at least min_samples; defaults eps 0.3,
 * min_samples 2. Clusters are numbered by size, largest first (ties: the cluster whose
 * first row comes first); noise is -1.
 *
 * Identical vectors (alerts of one shape share a cached embedding) are collapsed into one
 * point with a weight before the neighbour queries, which changes nothing in the result
 * (two identical points are always neighbours, hence in the same cluster or both noise)
 * and makes a storm of one shape cost one query. When the distinct rows no longer fit in
 * the CPU cache, the neighbour lists of all points are computed first, 64 points at a
 * time against cache-sized tiles of rows (vindex_range_batch: 100,000 alerts of 10,000
 * float32 shapes went from 13 s to 9 s), while their total stays within a budget (128
 * MB); otherwise, or past the budget, each point is queried alone when the expansion
 * reaches it (rows in cache: batching gained nothing measurable, and costs the lists). Either way O(distinct^2) dot
 * products with the index's exact kernel, and the same result.
 *
 * A border point reachable from two clusters goes to the one found first (rows in order),
 * as in every sequential DBSCAN. */
#ifndef HUTCH_CLUSTER_DBSCAN_H
#define HUTCH_CLUSTER_DBSCAN_H

#include <stddef.h>
#include <stdint.h>

#include "common/vindex.h"

#define DBSCAN_NOISE (-1)
#define DBSCAN_DEFAULT_EPS 0.3f
#define DBSCAN_DEFAULT_MIN_SAMPLES 2

typedef enum {
    DBSCAN_AUTO = 0, /* BATCH when the distinct rows exceed 8 MB (no longer in cache), else QUERY */
    DBSCAN_BATCH,    /* all lists first, by batches (falls back to QUERY past the budget) */
    DBSCAN_QUERY,    /* one range query per point when the expansion reaches it */
} dbscan_neighbours;

typedef struct {
    float eps;                    /* cosine distance, (0, 2] */
    int min_samples;              /* >= 1, the point itself included */
    dbscan_neighbours neighbours; /* how neighbours are found; 0 = DBSCAN_AUTO */
} dbscan_params;

/* Clusters the rows of ix (borrowed, not modified). labels[vindex_count(ix)] (caller's)
 * gets each row's cluster (0 = largest) or DBSCAN_NOISE. Returns the number of clusters,
 * or -1 for bad parameters (eps outside (0, 2], min_samples < 1), -2 out of memory. */
int dbscan_run(const vindex *ix, const dbscan_params *p, int32_t *labels);

#endif
