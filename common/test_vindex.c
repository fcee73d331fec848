/* Unit tests for vindex.c: the AVX2 kernels against the scalar ones on random data,
 * top-k search (order, ties, k, min_score, filter, int8 storage) against a full sort, and
 * the partitioned search against the flat one (uniform and clustered rows, int8, filter,
 * min_score, rows appended after partitioning, ties). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

#include "common/vindex.h"

static uint64_t rng = 88172645463325252ULL;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
static float uniform(void) { return (float)((next() >> 11) * 0x1.0p-53) * 2.0f - 1.0f; }

static void random_unit(float *v, int dim)
{
    double n = 0;
    for (int i = 0; i < dim; i++) {
        v[i] = uniform();
        n += (double)v[i] * v[i];
    }
    for (int i = 0; i < dim; i++)
        v[i] = (float)(v[i] / sqrt(n));
}

static void test_kernels_match_scalar(void **state)
{
    if (!vindex_cpu_has_avx2())
        skip();
    for (size_t n = 32; n <= 4096; n += 32) {
        float a[4096], b[4096];
        int8_t x[4096], y[4096];
        double ref = 0;
        for (size_t i = 0; i < n; i++) {
            a[i] = uniform();
            b[i] = uniform();
            ref += (double)a[i] * b[i];
            x[i] = (int8_t)((int)(next() % 255) - 127); /* -127..127, the quantiser's range */
            y[i] = (int8_t)((int)(next() % 255) - 127);
        }
        float s = vindex_dot_f32_scalar(a, b, n), v = vindex_dot_f32_avx2(a, b, n);
        assert_true(fabs(s - ref) < 1e-3 && fabs(v - ref) < 1e-3);
        assert_int_equal(vindex_dot_i8_avx2(x, y, n), vindex_dot_i8_scalar(x, y, n));
    }
    int8_t ext[64];
    memset(ext, -127, sizeof ext); /* the extreme that must not saturate */
    assert_int_equal(vindex_dot_i8_avx2(ext, ext, 64), 64 * 127 * 127);
}

typedef struct {
    float score;
    uint32_t row;
} ranked;

static int cmp_ranked(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->row < y->row ? -1 : x->row > y->row;
}

static bool even_ids(uint64_t id, uint32_t row, void *arg)
{
    (*(int *)arg)++;
    return id % 2 == 0;
}

/* Top-k of vindex_search = the first k of a full sort by the scalar kernel. */
static void check_topk(int dim, size_t n, bool scalar)
{
    vindex_use_scalar(scalar);
    vindex *ix = vindex_new(dim, VINDEX_F32);
    assert_non_null(ix);
    float *rows = malloc(n * (size_t)dim * sizeof *rows), q[512];
    ranked *all = malloc(n * sizeof *all);
    for (size_t r = 0; r < n; r++) {
        random_unit(rows + r * dim, dim);
        assert_int_equal(vindex_add(ix, 1000 + r, rows + r * dim), 0);
    }
    assert_int_equal(vindex_count(ix), n);
    random_unit(q, dim);
    for (size_t r = 0; r < n; r++)
        all[r] = (ranked){vindex_dot_f32_scalar(q, rows + r * dim, (size_t)dim), (uint32_t)r};
    qsort(all, n, sizeof *all, cmp_ranked);
    vindex_hit hits[50];
    int got = vindex_search(ix, q, 50, -2.0f, NULL, NULL, hits);
    assert_int_equal(got, 50);
    for (int i = 0; i < got; i++) {
        assert_int_equal(hits[i].row, all[i].row); /* random data: no near ties */
        assert_int_equal(hits[i].id, 1000 + all[i].row);
        assert_true(fabsf(hits[i].score - all[i].score) < 1e-5f);
    }
    /* min_score: exactly those above it */
    float cut = (all[7].score + all[8].score) / 2; /* between two: no rounding edge */
    got = vindex_search(ix, q, 50, cut, NULL, NULL, hits);
    assert_int_equal(got, 8);
    /* filter: the even ids of the sorted list, called only for candidates */
    int calls = 0;
    got = vindex_search(ix, q, 10, -2.0f, even_ids, &calls, hits);
    assert_int_equal(got, 10);
    assert_true(calls < (int)n);
    size_t j = 0;
    for (int i = 0; i < got; i++) {
        while ((1000 + all[j].row) % 2 != 0)
            j++;
        assert_int_equal(hits[i].row, all[j++].row);
    }
    /* k larger than the index */
    vindex_hit *many = malloc((n + 5) * sizeof *many);
    assert_int_equal(vindex_search(ix, q, n + 5, -2.0f, NULL, NULL, many), (int)n);
    for (size_t i = 1; i < n; i++)
        assert_true(many[i - 1].score >= many[i].score);
    free(many);
    free(rows);
    free(all);
    vindex_free(ix);
    vindex_use_scalar(false);
}

static void test_topk_avx2(void **state) { check_topk(384, 3000, false); }
static void test_topk_scalar(void **state) { check_topk(256, 2000, true); }
static void test_topk_odd_dim(void **state) { check_topk(100, 500, false); }

static void test_ties_and_empty(void **state)
{
    vindex *ix = vindex_new(4, VINDEX_F32);
    vindex_hit h[4];
    float q[4] = {1, 0, 0, 0}, v[4] = {0.5f, 0.5f, 0.5f, 0.5f};
    assert_int_equal(vindex_search(ix, q, 3, -1, NULL, NULL, h), 0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(vindex_add(ix, 50 - i, v), 0);
    assert_int_equal(vindex_search(ix, q, 3, -1, NULL, NULL, h), 3);
    for (int i = 0; i < 3; i++) /* equal scores: lower rows first */
        assert_int_equal(h[i].row, i);
    assert_int_equal(vindex_search(ix, q, 0, -1, NULL, NULL, h), 0);
    assert_null(vindex_new(0, VINDEX_F32));
    vindex_free(ix);
    vindex_free(NULL);
}

/* int8: the same ranking as float up to quantisation, scores within 0.02, 4x less memory. */
static void test_int8(void **state)
{
    const int dim = 384;
    const size_t n = 2000;
    vindex *f = vindex_new(dim, VINDEX_F32), *q8 = vindex_new(dim, VINDEX_I8);
    float v[384], q[384];
    for (size_t r = 0; r < n; r++) {
        random_unit(v, dim);
        vindex_add(f, r, v);
        vindex_add(q8, r, v);
    }
    assert_true(vindex_memory(f) > 3 * vindex_memory(q8));
    float back[384];
    vindex_row(q8, 5, back);
    vindex_row(f, 5, v);
    for (int i = 0; i < dim; i++)
        assert_true(fabsf(back[i] - v[i]) < 0.01f);
    random_unit(q, dim);
    vindex_hit hf[10], hq[10];
    assert_int_equal(vindex_search(f, q, 10, -2, NULL, NULL, hf), 10);
    assert_int_equal(vindex_search(q8, q, 10, -2, NULL, NULL, hq), 10);
    for (int i = 0; i < 10; i++)
        assert_true(fabsf(hf[i].score - hq[i].score) < 0.02f);
    vindex_use_scalar(true); /* the scalar int8 path gives the same integers */
    vindex_hit hs[10];
    assert_int_equal(vindex_search(q8, q, 10, -2, NULL, NULL, hs), 10);
    vindex_use_scalar(false);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(hs[i].row, hq[i].row);
        assert_true(hs[i].score == hq[i].score);
    }
    /* a row with itself scores ~1 */
    vindex_row(f, 7, v);
    assert_int_equal(vindex_search(q8, v, 1, 0.99f, NULL, NULL, hq), 1);
    assert_int_equal(hq[0].row, 7);
    vindex_free(f);
    vindex_free(q8);
}

static int count_range(uint32_t row, float score, void *arg)
{
    (*(int *)arg)++;
    return 0;
}

static void test_range(void **state)
{
    vindex *ix = vindex_new(8, VINDEX_F32);
    float e[8] = {0};
    for (int i = 0; i < 8; i++) {
        memset(e, 0, sizeof e);
        e[i] = 1;
        vindex_add(ix, i, e);
    }
    vindex_add(ix, 8, e); /* a duplicate of row 7 */
    assert_true(vindex_rows_equal(ix, 7, 8));
    assert_true(vindex_row_hash(ix, 7) == vindex_row_hash(ix, 8));
    assert_false(vindex_rows_equal(ix, 6, 7));
    int n = 0;
    assert_int_equal(vindex_range(ix, e, 0.5f, count_range, &n), 0);
    assert_int_equal(n, 2);
    vindex_free(ix);
}

typedef struct {
    uint32_t *rows;
    size_t n;
} found;

static int found_one(uint32_t row, float score, void *arg)
{
    found *f = arg;
    f->rows[f->n++] = row;
    return 0;
}

static int found_batch(size_t q, uint32_t row, float score, void *arg)
{
    found *f = arg;
    f[q].rows[f[q].n++] = row;
    return 0;
}

/* A batch of range queries finds what each query alone finds, tiles notwithstanding. */
static void test_range_batch(void **state)
{
    for (int st = 0; st < 2; st++) {
        const int dim = 48;
        const size_t n = 3000, nq = 70;
        vindex *ix = vindex_new(dim, st ? VINDEX_I8 : VINDEX_F32);
        float *qs = malloc(nq * dim * sizeof *qs), v[48];
        for (size_t r = 0; r < n; r++) {
            random_unit(v, dim);
            vindex_add(ix, r, v);
            if (r < nq)
                memcpy(qs + r * dim, v, sizeof v);
        }
        found alone[70], batch[70];
        for (size_t i = 0; i < nq; i++) {
            alone[i] = (found){malloc(n * sizeof(uint32_t)), 0};
            batch[i] = (found){malloc(n * sizeof(uint32_t)), 0};
            assert_int_equal(vindex_range(ix, qs + i * dim, 0.3f, found_one, &alone[i]), 0);
        }
        assert_int_equal(vindex_range_batch(ix, qs, nq, 0.3f, found_batch, batch), 0);
        size_t total = 0;
        for (size_t i = 0; i < nq; i++) {
            assert_int_equal(alone[i].n, batch[i].n);
            assert_memory_equal(alone[i].rows, batch[i].rows, alone[i].n * sizeof(uint32_t));
            assert_true(alone[i].n >= 1); /* itself */
            total += alone[i].n;
            free(alone[i].rows);
            free(batch[i].rows);
        }
        assert_true(total > nq); /* some neighbours besides themselves */
        free(qs);
        vindex_free(ix);
    }
}

/* Parallel scan: the same hits as one thread, filter and min_score included. */
static void test_threads(void **state)
{
    const int dim = 64;
    const size_t n = 70000; /* above the parallel threshold */
    vindex *a = vindex_new(dim, VINDEX_I8), *b = vindex_new(dim, VINDEX_I8);
    float v[64];
    for (size_t r = 0; r < n; r++) {
        random_unit(v, dim);
        vindex_add(a, r, v);
        vindex_add(b, r, v);
    }
    vindex_set_threads(b, 3);
    for (int round = 0; round < 5; round++) {
        random_unit(v, dim);
        vindex_hit x[20], y[20];
        int calls = 0;
        int nx = vindex_search(a, v, 20, 0.1f, round % 2 ? even_ids : NULL, &calls, x);
        int ny = vindex_search(b, v, 20, 0.1f, round % 2 ? even_ids : NULL, &calls, y);
        assert_int_equal(nx, ny);
        for (int i = 0; i < nx; i++) {
            assert_int_equal(x[i].row, y[i].row);
            assert_true(x[i].score == y[i].score);
        }
    }
    vindex_free(a);
    vindex_free(b);
}

/* ---- partitioned search: the same hits as the flat scan ---- */

/* n rows of dim: uniform (topics 0), or around `topics` centres sharing a common
 * component (cos ~0.8 between topics, ~0.97 within one), like alert embeddings. */
static void fill(float *rows, size_t n, int dim, size_t topics)
{
    float *cent = malloc((topics + 1) * (size_t)dim * sizeof *cent), *g = cent + topics * (size_t)dim;
    random_unit(g, dim);
    for (size_t t = 0; t < topics; t++)
        random_unit(cent + t * dim, dim);
    for (size_t r = 0; r < n; r++) {
        float *v = rows + r * dim;
        random_unit(v, dim);
        if (topics == 0)
            continue;
        const float *c = cent + (next() % topics) * dim;
        double nn = 0;
        for (int i = 0; i < dim; i++) {
            v[i] = 0.9f * g[i] + 0.45f * c[i] + 0.17f * v[i];
            nn += (double)v[i] * v[i];
        }
        for (int i = 0; i < dim; i++)
            v[i] = (float)(v[i] / sqrt(nn));
    }
    free(cent);
}

/* Both indexes give the same hits for q: rows, ids and scores bit for bit. */
static void same_hits(const vindex *flat, const vindex *part, const float *q, size_t k, float min_score,
                      vindex_filter_fn filter)
{
    vindex_hit a[64], b[64];
    int calls = 0;
    int na = vindex_search(flat, q, k, min_score, filter, &calls, a);
    int nb = vindex_search(part, q, k, min_score, filter, &calls, b);
    assert_int_equal(na, nb);
    for (int i = 0; i < na; i++) {
        assert_int_equal(a[i].row, b[i].row);
        assert_int_equal(a[i].id, b[i].id);
        assert_true(a[i].score == b[i].score);
    }
}

/* A flat and a partitioned index over the same rows, then many queries: random ones, rows
 * of the index and rows near them; k 1, 10 and 64; with min_score and a filter too. */
static void check_partitioned(vindex_storage st, size_t topics, size_t n, size_t nlist, size_t appended)
{
    const int dim = 64;
    float *rows = malloc((n + appended) * dim * sizeof *rows), q[64];
    fill(rows, n + appended, dim, topics);
    vindex *flat = vindex_new(dim, st), *part = vindex_new(dim, st);
    for (size_t r = 0; r < n; r++) {
        assert_int_equal(vindex_add(flat, 7 * r, rows + r * dim), 0);
        assert_int_equal(vindex_add(part, 7 * r, rows + r * dim), 0);
    }
    vindex_set_threads(part, 2); /* a partitioned search stays on one thread: same hits */
    size_t before = vindex_memory(part);
    assert_int_equal(vindex_partition(part, nlist), 0);
    assert_true(vindex_partitions(part) >= nlist / 2 && vindex_partitions(part) <= nlist + 20);
    assert_true(vindex_memory(part) > before);
    for (size_t r = n; r < n + appended; r++) { /* after partitioning: into the nearest */
        assert_int_equal(vindex_add(flat, 7 * r, rows + r * dim), 0);
        assert_int_equal(vindex_add(part, 7 * r, rows + r * dim), 0);
    }
    for (int i = 0; i < 150; i++) {
        if (i % 3 == 0) {
            random_unit(q, dim);
        } else { /* a row, or a row nudged: queries where the data is */
            memcpy(q, rows + (next() % (n + appended)) * dim, sizeof q);
            if (i % 3 == 2)
                for (int d = 0; d < dim; d++)
                    q[d] += 0.05f * uniform();
        }
        size_t k = i % 4 == 0 ? 1 : i % 4 == 1 ? 10 : 64;
        same_hits(flat, part, q, k, -2.0f, NULL);
        same_hits(flat, part, q, k, 0.5f, NULL);
        same_hits(flat, part, q, k, -2.0f, even_ids);
        same_hits(flat, part, q, k, 0.9f, even_ids);
    }
    vindex_hit h[1];
    assert_int_equal(vindex_partition(part, 0), 0); /* back to flat */
    assert_int_equal(vindex_partitions(part), 0);
    assert_int_equal(vindex_search(part, q, 1, -2.0f, NULL, NULL, h), 1);
    free(rows);
    vindex_free(flat);
    vindex_free(part);
}

static void test_partition_uniform(void **state) { check_partitioned(VINDEX_F32, 0, 6000, 60, 0); }
static void test_partition_clustered(void **state) { check_partitioned(VINDEX_F32, 80, 12000, 100, 0); }
static void test_partition_int8(void **state)
{
    check_partitioned(VINDEX_I8, 80, 12000, 100, 0);
    check_partitioned(VINDEX_I8, 0, 4000, 40, 0);
}
static void test_partition_appended(void **state)
{
    check_partitioned(VINDEX_F32, 80, 8000, 90, 4000);
    check_partitioned(VINDEX_I8, 0, 3000, 30, 3000); /* appended rows unlike the built ones */
}
static void test_partition_scalar(void **state)
{
    vindex_use_scalar(true);
    check_partitioned(VINDEX_F32, 50, 5000, 50, 500);
    vindex_use_scalar(false);
}

/* Ties across partitions: copies of a few vectors (and zero rows) spread over the rows;
 * lower rows first, as in the flat scan. Also fewer rows than partitions asked. */
static void test_partition_ties(void **state)
{
    const int dim = 32;
    const size_t n = 3000;
    float base[5][32], q[32], zero[32] = {0};
    for (int i = 0; i < 5; i++)
        random_unit(base[i], dim);
    vindex *flat = vindex_new(dim, VINDEX_F32), *part = vindex_new(dim, VINDEX_F32);
    for (size_t r = 0; r < n; r++) {
        const float *v = r % 97 == 0 ? zero : base[next() % 5];
        vindex_add(flat, r, v);
        vindex_add(part, r, v);
    }
    assert_int_equal(vindex_partition(part, 40), 0);
    for (int i = 0; i < 30; i++) {
        if (i < 5)
            memcpy(q, base[i], sizeof q);
        else
            random_unit(q, dim);
        same_hits(flat, part, q, 64, -2.0f, NULL);
        same_hits(flat, part, q, 64, -2.0f, even_ids);
        same_hits(flat, part, q, 5, 0.0f, NULL);
        same_hits(flat, part, zero, 10, 0.0f, NULL);
    }
    vindex *few = vindex_new(dim, VINDEX_I8);
    vindex_hit h[4];
    assert_int_equal(vindex_partition(few, 10), 0); /* empty: stays flat */
    assert_int_equal(vindex_partitions(few), 0);
    vindex_add(few, 1, base[0]);
    vindex_add(few, 2, base[1]);
    assert_int_equal(vindex_partition(few, 10), 0);
    assert_true(vindex_partitions(few) >= 1 && vindex_partitions(few) <= 2);
    assert_int_equal(vindex_search(few, base[1], 4, -2.0f, NULL, NULL, h), 2);
    assert_int_equal(h[0].row, 1);
    vindex_free(few);
    vindex_free(flat);
    vindex_free(part);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kernels_match_scalar),
        cmocka_unit_test(test_topk_avx2),
        cmocka_unit_test(test_topk_scalar),
        cmocka_unit_test(test_topk_odd_dim),
        cmocka_unit_test(test_ties_and_empty),
        cmocka_unit_test(test_int8),
        cmocka_unit_test(test_range),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_range_batch),
        cmocka_unit_test(test_partition_uniform),
        cmocka_unit_test(test_partition_clustered),
        cmocka_unit_test(test_partition_int8),
        cmocka_unit_test(test_partition_appended),
        cmocka_unit_test(test_partition_scalar),
        cmocka_unit_test(test_partition_ties),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
