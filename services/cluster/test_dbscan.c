/* Unit tests for dbscan.c against a reference DBSCAN written here the textbook way
 * (O(n^2) neighbour lists in double precision, no index, no collapsing of duplicates), on
 * random clustered data. Results agree when the noise points are the same, the core
 * points fall into the same groups, and every border point sits in a cluster holding one
 * of its core neighbours (the one cluster DBSCAN leaves to visiting order). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

#include "services/cluster/dbscan.h"

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static double uniform(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) * 0x1.0p-53;
}
static double gauss(void)
{
    double u = uniform() + 1e-12, v = uniform();
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

static void normalise(float *v, int dim)
{
    double n = 0;
    for (int i = 0; i < dim; i++)
        n += (double)v[i] * v[i];
    for (int i = 0; i < dim; i++)
        v[i] = (float)(v[i] / sqrt(n));
}

/* n points: a tenth in random directions, the rest around `centres` random centres with a
 * spread between sigma/2 and 3sigma/2 (dense and loose clusters), a share duplicated. */
static float *make_data(size_t n, int dim, int centres, double sigma, double dup_ratio)
{
    float *c = malloc((size_t)centres * dim * sizeof *c), *x = malloc(n * dim * sizeof *x);
    for (int k = 0; k < centres; k++) {
        for (int i = 0; i < dim; i++)
            c[k * dim + i] = (float)gauss();
        normalise(c + k * dim, dim);
    }
    for (size_t r = 0; r < n; r++) {
        if (r > 0 && uniform() < dup_ratio) {
            memcpy(x + r * dim, x + (size_t)(uniform() * r) * dim, dim * sizeof *x);
            continue;
        }
        int k = (int)(uniform() * centres);
        double spread = sigma * (0.5 + (double)k / centres);
        bool stray = uniform() < 0.1;
        for (int i = 0; i < dim; i++)
            x[r * dim + i] = stray ? (float)gauss() : c[k * dim + i] + (float)(spread * gauss());
        normalise(x + r * dim, dim);
    }
    free(c);
    return x;
}

static double cosine_distance(const float *a, const float *b, int dim)
{
    double s = 0;
    for (int i = 0; i < dim; i++)
        s += (double)a[i] * b[i];
    return 1 - s;
}

/* The reference: labels (cluster ids in discovery order, -1 noise) and core flags. */
static void reference(const float *x, size_t n, int dim, double eps, int min_samples, int *label, bool *core, bool *adj)
{
    for (size_t i = 0; i < n; i++) {
        int cnt = 1;
        for (size_t j = 0; j < n; j++) {
            adj[i * n + j] = i != j && cosine_distance(x + i * dim, x + j * dim, dim) <= eps;
            cnt += adj[i * n + j];
        }
        core[i] = cnt >= min_samples;
        label[i] = -2;
    }
    int c = 0;
    size_t *stack = malloc(n * sizeof *stack);
    for (size_t i = 0; i < n; i++) {
        if (!core[i] || label[i] >= 0)
            continue;
        size_t top = 0;
        stack[top++] = i;
        label[i] = c;
        while (top) {
            size_t p = stack[--top];
            for (size_t j = 0; j < n; j++) {
                if (!adj[p * n + j] || label[j] >= 0)
                    continue;
                label[j] = c;
                if (core[j])
                    stack[top++] = j;
            }
        }
        c++;
    }
    for (size_t i = 0; i < n; i++)
        if (label[i] < 0)
            label[i] = -1;
    free(stack);
}

static void compare(size_t n, int dim, int centres, double sigma, double dup, float eps, int min_samples,
                    vindex_storage st)
{
    float *x = make_data(n, dim, centres, sigma, dup);
    vindex *ix = vindex_new(dim, st);
    for (size_t r = 0; r < n; r++)
        assert_int_equal(vindex_add(ix, r, x + r * dim), 0);
    if (st == VINDEX_I8) /* the reference sees what the index stores */
        for (size_t r = 0; r < n; r++)
            vindex_row(ix, (uint32_t)r, x + r * dim);
    int32_t *got = malloc(n * sizeof *got), *queried = malloc(n * sizeof *queried);
    dbscan_params p = {eps, min_samples, DBSCAN_BATCH};
    int nc = dbscan_run(ix, &p, got);
    assert_true(nc >= 0);
    p.neighbours = DBSCAN_QUERY; /* the other path: one query per point */
    assert_int_equal(dbscan_run(ix, &p, queried), nc);
    assert_memory_equal(got, queried, n * sizeof *got);
    free(queried);

    int *want = malloc(n * sizeof *want);
    bool *core = malloc(n * sizeof *core), *adj = malloc(n * n * sizeof *adj);
    reference(x, n, dim, eps, min_samples, want, core, adj);
    int want_nc = 0;
    for (size_t i = 0; i < n; i++)
        if (want[i] + 1 > want_nc)
            want_nc = want[i] + 1;
    assert_int_equal(nc, want_nc);
    size_t noise = 0, border = 0;
    for (size_t i = 0; i < n; i++) {
        noise += want[i] == -1;
        border += want[i] >= 0 && !core[i];
    }
    print_message("%zu points: %d clusters, %zu noise, %zu border\n", n, nc, noise, border);
    /* a bijection between the reference's clusters and ours, read off the core points */
    int *map = malloc((size_t)(nc + 1) * sizeof *map);
    for (int c = 0; c <= nc; c++)
        map[c] = -1;
    size_t *size = calloc((size_t)nc + 1, sizeof *size);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(got[i] == DBSCAN_NOISE, want[i] == -1);
        if (got[i] >= 0) {
            assert_true(got[i] < nc);
            size[got[i]]++;
        }
        if (!core[i])
            continue;
        if (map[want[i]] == -1)
            map[want[i]] = got[i];
        assert_int_equal(map[want[i]], got[i]);
    }
    for (size_t i = 0; i < n; i++) { /* border: next to a core point of its cluster */
        if (core[i] || want[i] < 0)
            continue;
        bool ok = false;
        for (size_t j = 0; j < n && !ok; j++)
            ok = adj[i * n + j] && core[j] && map[want[j]] == got[i];
        assert_true(ok);
    }
    for (int c = 1; c < nc; c++) /* numbered by size */
        assert_true(size[c - 1] >= size[c]);
    free(map);
    free(size);
    free(x);
    free(got);
    free(want);
    free(core);
    free(adj);
    vindex_free(ix);
}

static void test_warren_defaults(void **state)
{
    compare(600, 32, 12, 0.1, 0.0, DBSCAN_DEFAULT_EPS, DBSCAN_DEFAULT_MIN_SAMPLES, VINDEX_F32);
}
static void test_sparse_many_noise(void **state) { compare(500, 64, 40, 0.09, 0.0, 0.3f, 4, VINDEX_F32); }
static void test_duplicates(void **state) { compare(800, 48, 15, 0.1, 0.5, 0.25f, 3, VINDEX_F32); }
static void test_int8(void **state) { compare(500, 32, 10, 0.1, 0.2, 0.3f, 2, VINDEX_I8); }
static void test_min_samples_one(void **state) { compare(300, 16, 20, 0.1, 0.1, 0.1f, 1, VINDEX_F32); }

static void test_storm_of_one_shape(void **state)
{
    /* 1000 alerts of one shape and 2 unrelated ones: one cluster of 1000, two noise */
    vindex *ix = vindex_new(3, VINDEX_F32);
    float a[3] = {1, 0, 0}, b[3] = {0, 1, 0}, c[3] = {0, 0, 1};
    vindex_add(ix, 0, b);
    for (int i = 0; i < 1000; i++)
        vindex_add(ix, 1 + i, a);
    vindex_add(ix, 1001, c);
    int32_t labels[1002];
    dbscan_params p = {DBSCAN_DEFAULT_EPS, DBSCAN_DEFAULT_MIN_SAMPLES, 0};
    assert_int_equal(dbscan_run(ix, &p, labels), 1);
    assert_int_equal(labels[0], DBSCAN_NOISE);
    assert_int_equal(labels[1001], DBSCAN_NOISE);
    for (int i = 1; i <= 1000; i++)
        assert_int_equal(labels[i], 0);
    p.min_samples = 1001; /* 1000 alike are not enough */
    assert_int_equal(dbscan_run(ix, &p, labels), 0);
    p.eps = 0;
    assert_int_equal(dbscan_run(ix, &p, labels), -1);
    p.eps = 0.3f;
    p.min_samples = 0;
    assert_int_equal(dbscan_run(ix, &p, labels), -1);
    vindex_free(ix);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_warren_defaults), cmocka_unit_test(test_sparse_many_noise),
        cmocka_unit_test(test_duplicates),      cmocka_unit_test(test_int8),
        cmocka_unit_test(test_min_samples_one), cmocka_unit_test(test_storm_of_one_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
