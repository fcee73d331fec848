/* Unit tests for shape_index.c: one row per shape, last_seen moves forward only, the
 * window filter, search by a stored shape, bad hashes refused, and the search against a
 * brute-force reference over random shapes (with concurrent readers and a writer). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <pthread.h>

#include <cmocka.h>

#include "services/cluster/shape_index.h"

#define DIM 16

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static double uniform(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) * 0x1.0p-53;
}

static void random_unit(float *v)
{
    double n = 0;
    for (int i = 0; i < DIM; i++) {
        v[i] = (float)(uniform() * 2 - 1);
        n += (double)v[i] * v[i];
    }
    for (int i = 0; i < DIM; i++)
        v[i] = (float)(v[i] / sqrt(n));
}

static void hash_of(int i, char out[SHAPE_HASH_LEN]) { snprintf(out, SHAPE_HASH_LEN, "%064x", (unsigned)i); }

static void test_one_row_per_shape(void **state)
{
    (void)state;
    shape_index *ix = shape_index_new(DIM, VINDEX_F32);
    assert_non_null(ix);
    float a[DIM], b[DIM];
    random_unit(a);
    random_unit(b);
    char h[SHAPE_HASH_LEN];
    hash_of(1, h);
    assert_int_equal(shape_index_touch(ix, h, a, 1000), 1);
    assert_int_equal(shape_index_touch(ix, h, b, 500), 0); /* known: vector kept, time not moved back */
    assert_int_equal(shape_index_count(ix), 1);
    shape_hit hit[2];
    int known = 0;
    assert_int_equal(shape_index_search_like(ix, h, 2, -1, 0, hit, &known), 1);
    assert_int_equal(known, 1);
    assert_string_equal(hit[0].hash, h);
    assert_true(fabsf(hit[0].score - 1.0f) < 1e-5f); /* a's vector, not b's */
    assert_int_equal(hit[0].last_seen_ms, 1000);
    assert_int_equal(shape_index_touch(ix, h, NULL, 2000), 0);
    assert_int_equal(shape_index_search_like(ix, h, 2, -1, 0, hit, &known), 1);
    assert_int_equal(hit[0].last_seen_ms, 2000);
    char other[SHAPE_HASH_LEN];
    hash_of(2, other);
    assert_int_equal(shape_index_touch(ix, other, NULL, 3000), 0); /* unknown and no vector: nothing */
    assert_false(shape_index_has(ix, other));
    assert_int_equal(shape_index_search_like(ix, other, 2, -1, 0, hit, &known), 0);
    assert_int_equal(known, 0);
    shape_index_free(ix);
}

static void test_bad_hash_refused(void **state)
{
    (void)state;
    shape_index *ix = shape_index_new(DIM, VINDEX_F32);
    float a[DIM];
    random_unit(a);
    const char *bad[] = {"",
                         "abc",
                         "0000000000000000000000000000000000000000000000000000000000000000X",
                         "000000000000000000000000000000000000000000000000000000000000000G",
                         "00000000000000000000000000000000000000000000000000000000000000A0",
                         NULL};
    for (int i = 0; bad[i]; i++)
        assert_int_equal(shape_index_touch(ix, bad[i], a, 1), -1);
    assert_int_equal(shape_index_count(ix), 0);
    shape_index_free(ix);
}

static void test_window_filter(void **state)
{
    (void)state;
    shape_index *ix = shape_index_new(DIM, VINDEX_F32);
    float v[DIM];
    random_unit(v);
    char h[SHAPE_HASH_LEN];
    for (int i = 0; i < 10; i++) {
        float w[DIM];
        for (int d = 0; d < DIM; d++)
            w[d] = v[d] * (1.0f - 0.01f * (float)i); /* descending scores: row i is i-th best */
        hash_of(i, h);
        assert_int_equal(shape_index_touch(ix, h, w, i * 100), 1);
    }
    shape_hit hit[10];
    /* only shapes seen at or after 500: rows 5..9, best first */
    assert_int_equal(shape_index_search(ix, v, 10, -1, 500, hit), 5);
    for (int i = 0; i < 5; i++) {
        hash_of(5 + i, h);
        assert_string_equal(hit[i].hash, h);
    }
    /* a shape seen again comes back into the window */
    hash_of(0, h);
    assert_int_equal(shape_index_touch(ix, h, NULL, 900), 0);
    assert_int_equal(shape_index_search(ix, v, 1, -1, 500, hit), 1);
    assert_string_equal(hit[0].hash, h);
    /* min_score */
    assert_int_equal(shape_index_search(ix, v, 10, 0.955f, 0, hit), 5);
    shape_index_free(ix);
}

typedef struct {
    float *vecs;
    int64_t *seen;
    int n;
} reference;

/* The brute-force answer: indices of the k best in the window, ties by index. */
static int reference_search(const reference *r, const float *q, int k, int64_t since, int *out, float *scores)
{
    float *all = calloc((size_t)r->n, sizeof *all);
    bool *taken = calloc((size_t)r->n, sizeof *taken);
    for (int i = 0; i < r->n; i++)
        for (int d = 0; d < DIM; d++)
            all[i] += q[d] * r->vecs[i * DIM + d];
    int m = 0;
    for (; m < k; m++) {
        int best = -1;
        for (int i = 0; i < r->n; i++)
            if (!taken[i] && r->seen[i] >= since && (best < 0 || all[i] > all[best]))
                best = i;
        if (best < 0)
            break;
        taken[best] = true;
        out[m] = best;
        scores[m] = all[best];
    }
    free(all);
    free(taken);
    return m;
}

typedef struct {
    shape_index *ix;
    volatile bool stop;
    int searches;
} reader_arg;

static void *reader(void *p)
{
    reader_arg *a = p;
    float q[DIM];
    shape_hit hit[5];
    while (!a->stop) {
        random_unit(q); /* racy rng use is harmless: any vector will do */
        if (shape_index_search(a->ix, q, 5, -1, 0, hit) < 0)
            return NULL;
        a->searches++;
    }
    return NULL;
}

static void test_search_matches_reference(void **state)
{
    (void)state;
    enum { N = 3000, Q = 50, K = 7 };
    shape_index *ix = shape_index_new(DIM, VINDEX_F32);
    reference r = {calloc(N * DIM, sizeof(float)), calloc(N, sizeof(int64_t)), N};
    reader_arg ra = {ix, false, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, reader, &ra), 0);
    char h[SHAPE_HASH_LEN];
    for (int i = 0; i < N; i++) {
        random_unit(r.vecs + i * DIM);
        r.seen[i] = (int64_t)(uniform() * 1000);
        hash_of(i, h);
        assert_int_equal(shape_index_touch(ix, h, r.vecs + i * DIM, r.seen[i]), 1);
    }
    ra.stop = true;
    pthread_join(t, NULL);
    for (int qi = 0; qi < Q; qi++) {
        float q[DIM];
        random_unit(q);
        int64_t since = (int64_t)(uniform() * 800);
        int want[K];
        float ws[K];
        int m = reference_search(&r, q, K, since, want, ws);
        shape_hit hit[K];
        int n = shape_index_search(ix, q, K, -1, since, hit);
        assert_int_equal(n, m);
        for (int i = 0; i < n; i++) {
            hash_of(want[i], h);
            assert_string_equal(hit[i].hash, h);
            assert_true(fabsf(hit[i].score - ws[i]) < 1e-5f);
            assert_true(hit[i].last_seen_ms >= since);
        }
    }
    free(r.vecs);
    free(r.seen);
    shape_index_free(ix);
}

/* A large index is partitioned; its answers do not change, and shapes added after it
 * are found. */
static void test_partition_keeps_answers(void **state)
{
    (void)state;
    enum { N = SHAPE_INDEX_PARTITION_MIN + 1000, Q = 20, K = 10 };
    shape_index *ix = shape_index_new(DIM, VINDEX_F32);
    char h[SHAPE_HASH_LEN];
    float v[DIM];
    for (int i = 0; i < N; i++) {
        random_unit(v);
        hash_of(i, h);
        assert_int_equal(shape_index_touch(ix, h, v, i), 1);
    }
    float qs[Q][DIM];
    shape_hit before[Q][K], after[K];
    for (int q = 0; q < Q; q++) {
        random_unit(qs[q]);
        assert_int_equal(shape_index_search(ix, qs[q], K, -1, 100, before[q]), K);
    }
    assert_int_equal(shape_index_partition(ix), N / 25);
    for (int q = 0; q < Q; q++) {
        assert_int_equal(shape_index_search(ix, qs[q], K, -1, 100, after), K);
        for (int i = 0; i < K; i++) {
            assert_string_equal(after[i].hash, before[q][i].hash);
            assert_true(after[i].score == before[q][i].score);
        }
    }
    hash_of(N, h);
    assert_int_equal(shape_index_touch(ix, h, qs[0], N), 1);
    assert_int_equal(shape_index_search(ix, qs[0], 1, -1, 0, after), 1);
    assert_string_equal(after[0].hash, h);
    shape_index_free(ix);
    assert_int_equal(shape_index_partitions_for(SHAPE_INDEX_PARTITION_MIN - 1), 0);
    assert_int_equal(shape_index_partitions_for(200000), 8000);
    assert_int_equal(shape_index_partitions_for(1000000), 8000);
    assert_int_equal(shape_index_partitions_for(2000000), 16000);
    /* a small index stays flat */
    ix = shape_index_new(DIM, VINDEX_F32);
    assert_int_equal(shape_index_partition(ix), 0);
    shape_index_free(ix);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_row_per_shape),       cmocka_unit_test(test_bad_hash_refused),
        cmocka_unit_test(test_window_filter),           cmocka_unit_test(test_search_matches_reference),
        cmocka_unit_test(test_partition_keeps_answers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
