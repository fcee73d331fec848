/* An in-memory vector index: exact top-k by dot product over a flat array.
 *
 * Rows are appended (never removed) with a caller's 64-bit id and stored contiguously,
 * either as float32 or as int8 with one float scale per row (4x less memory and memory
 * traffic; scores are then those of the quantised vectors, within about 1% of the float
 * ones for unit vectors). Vectors are expected L2-normalised so that the dot product is
 * the cosine similarity; the index does not normalise them.
 *
 * A search scans every row (exact, no recall loss) with a dot-product kernel chosen once
 * at run time: AVX2+FMA when the CPU has it (__builtin_cpu_supports), else a scalar loop
 * that gives the same results up to float rounding. Rows are padded with zeros to a
 * multiple of 32 elements so the kernels have no tail. The interface (vindex_search with
 * k, min_score and a filter) is what an approximate index would implement too.
 *
 * vindex_partition groups the rows present around directions found by spherical k-means;
 * a search then reads only the partitions whose bound (a spherical cap: the largest angle
 * between a row and its direction) lets them hold a top-k row, and returns exactly the
 * hits of the full scan. Worth it when the vectors form groups (alerts of one kind); on
 * vectors without structure every partition is read and the search is slower than flat.
 *
 * Not thread-safe for writers: one thread appends; searches may run concurrently with
 * each other but not with vindex_add (which may move the rows). */
#ifndef HUTCH_VINDEX_H
#define HUTCH_VINDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    VINDEX_F32, /* float32 rows: 4 bytes a dimension */
    VINDEX_I8,  /* int8 rows and a float scale: 1 byte a dimension + 4 a row */
} vindex_storage;

typedef struct vindex vindex;

typedef struct {
    uint64_t id;  /* the id given to vindex_add */
    uint32_t row; /* the row number (order of vindex_add, from 0) */
    float score;  /* dot product with the query */
} vindex_hit;

/* Decides whether a row may be returned (e.g. "open tickets only"). Called only for rows
 * that would enter the top k. arg is the caller's, borrowed. */
typedef bool (*vindex_filter_fn)(uint64_t id, uint32_t row, void *arg);

/* A Postgres real[] literal "{0.1,-2e-05,...}" (borrowed) into a NEW vector of dim
 * floats (free()), or NULL when it does not hold exactly dim numbers (or on OOM). */
float *vindex_parse_vector(const char *text, int dim);

/* A NEW empty index of dim dimensions (1..65536); free with vindex_free. NULL on bad
 * arguments or out of memory. */
vindex *vindex_new(int dim, vindex_storage storage);
/* Frees ix and its rows; NULL is fine. */
void vindex_free(vindex *ix);

/* Appends v (dim floats, borrowed: copied or quantised). 0, -1 on out of memory (the
 * index is unchanged). */
int vindex_add(vindex *ix, uint64_t id, const float *v);
/* Reserves room for n rows in total, so that appends do not reallocate. 0 or -1. */
int vindex_reserve(vindex *ix, size_t n);

size_t vindex_count(const vindex *ix);
int vindex_dim(const vindex *ix);
vindex_storage vindex_storage_of(const vindex *ix);
uint64_t vindex_id(const vindex *ix, uint32_t row);
/* Bytes held for the rows, ids, scales and partitions (capacity, not only the rows in
 * use). */
size_t vindex_memory(const vindex *ix);
/* Row `row` as floats (dequantised for int8) into out[dim]. */
void vindex_row(const vindex *ix, uint32_t row, float *out);
/* True when rows a and b are stored identically (bit for bit). */
bool vindex_rows_equal(const vindex *ix, uint32_t a, uint32_t b);
/* A 64-bit hash of the stored bytes of a row (equal rows hash equal). */
uint64_t vindex_row_hash(const vindex *ix, uint32_t row);

/* The best (up to) k rows with score >= min_score that filter accepts (filter NULL =
 * every row), into out[k] (caller's), best first; ties by lower row. q is dim floats,
 * borrowed. Returns the number of hits (0..k), -1 on out of memory. */
int vindex_search(const vindex *ix, const float *q, size_t k, float min_score, vindex_filter_fn filter, void *arg,
                  vindex_hit *out);

/* Partitions the rows present into about nlist groups for vindex_search, which then
 * returns the same hits as the full scan (same scores, order, ties, filter and min_score)
 * reading fewer rows. Spherical k-means, fixed seed: ~sqrt(nlist) groups, each cut into
 * its share of nlist/2 (k-means++ seeding, a few rounds on a sample of 48 rows a
 * direction), every row then moved to the nearest direction of its 3 nearest groups, and
 * the partitions with the most rows * angle^2 halved until there are nlist. Alert-like
 * vectors want several partitions per kind of alert (the benchmark: 8,000 for a million
 * rows of 2,000 kinds; build ~50 s on one core). Rows added later join the nearest
 * direction's partition and widen its bound (exact still; such an add also compares the
 * row with every direction: ~nlist*dim operations); call again after many appends, as
 * bounds only widen. Row numbers keep meaning the order of vindex_add; vindex_range and
 * vindex_range_batch still scan every row. A partitioned search runs on the caller's
 * thread (vindex_set_threads applies to the flat scan). nlist 0 returns to the flat scan.
 * Costs 4 bytes a row + ~4*dim bytes a partition. 0, or -1 on out of memory (the index
 * is as it was). */
int vindex_partition(vindex *ix, size_t nlist);
/* The number of partitions (0: flat). */
size_t vindex_partitions(const vindex *ix);

/* Searches of at least 65,536 rows scan in `threads` parts at once (default 1; at most
 * 64); filter must then be safe to call from several threads. */
void vindex_set_threads(vindex *ix, int threads);

/* Calls fn(row, score, arg) for every row with score >= min_score, in row order (a range
 * query: DBSCAN's neighbours). fn returning non-zero stops the scan and is returned.
 * Returns 0, or -1 on out of memory. */
typedef int (*vindex_range_fn)(uint32_t row, float score, void *arg);
int vindex_range(const vindex *ix, const float *q, float min_score, vindex_range_fn fn, void *arg);

/* The same for nq queries at once (qs: nq*dim floats, borrowed): fn(i, row, score, arg)
 * for query i, in no particular order. Faster than nq range queries when the rows do not
 * fit in the CPU cache (they are read once per batch). 0, fn's non-zero, or -1. */
typedef int (*vindex_range_batch_fn)(size_t query, uint32_t row, float score, void *arg);
int vindex_range_batch(const vindex *ix, const float *qs, size_t nq, float min_score, vindex_range_batch_fn fn,
                       void *arg);

/* The kernels, exposed for the tests and the benchmark. n is a multiple of 32. */
float vindex_dot_f32_scalar(const float *a, const float *b, size_t n);
int32_t vindex_dot_i8_scalar(const int8_t *a, const int8_t *b, size_t n);
/* Defined only on x86-64; call only when vindex_cpu_has_avx2(). */
float vindex_dot_f32_avx2(const float *a, const float *b, size_t n);
int32_t vindex_dot_i8_avx2(const int8_t *a, const int8_t *b, size_t n);
bool vindex_cpu_has_avx2(void);
/* The kernel in use: "avx2" or "scalar". vindex_use_scalar(true) forces the scalar one
 * (tests, benchmark comparison); call it before searching, not during. */
const char *vindex_kernel_name(void);
void vindex_use_scalar(bool scalar);

#endif
