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
 * and makes a storm of one shape cost one query. Each distinct point is queried once
 * against the distinct points with the index's exact kernel: O(distinct^2) dot products.
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

typedef struct {
    float eps;       /* cosine distance, (0, 2] */
    int min_samples; /* >= 1, the point itself included */
} dbscan_params;

/* Clusters the rows of ix (borrowed, not modified). labels[vindex_count(ix)] (caller's)
 * gets each row's cluster (0 = largest) or DBSCAN_NOISE. Returns the number of clusters,
 * or -1 for bad parameters (eps outside (0, 2], min_samples < 1), -2 out of memory. */
int dbscan_run(const vindex *ix, const dbscan_params *p, int32_t *labels);

#endif
