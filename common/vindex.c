/* The flat vector index (see vindex.h): rows in one growing array, a size-k min-heap per
 * search, kernels chosen once; optionally partitions over the same rows (lists of row
 * numbers and bounds, "partitions" below) that a search reads in order of bound.
 *
 * Layout: row r occupies stride elements at f32 + r*stride (or i8 + r*stride), stride =
 * dim rounded up to 32, the padding zero; so the kernels never handle a tail and padding
 * adds nothing to a dot product. int8 rows keep scale[r] with v ~= i8 * scale, the query
 * is quantised the same way for an integer dot product (exact in int32: |v| <= 127, so a
 * pair sum fits int16 in the AVX2 kernel's maddubs and a row of 65536 fits int32). */
#include "vindex.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

struct vindex {
    int dim;
    size_t stride; /* dim rounded up to 32 */
    vindex_storage storage;
    size_t n, cap;
    float *f32;    /* VINDEX_F32: cap*stride */
    int8_t *i8;    /* VINDEX_I8: cap*stride */
    float *scale;  /* VINDEX_I8: cap */
    uint64_t *ids; /* cap */
    int threads;   /* vindex_set_threads, >= 1 */
    /* vindex_partition: 0 partitions = flat. cent[p*stride] is partition p's unit
     * direction (padded with zeros), part[p] its rows and angular bound. */
    size_t nparts;
    float *cent;
    struct part *part;
};

/* A partition: its rows (row numbers, ascending within each build, appended ones after)
 * and the bounds over their STORED vectors x (dequantised for int8): every row's angle
 * to the direction c is at most theta, and its norm at most norm; cnorm is the computed
 * norm of the stored float c (about 1). */
struct part {
    uint32_t *rows;
    size_t n, cap;
    double theta, norm, cnorm;
};

/* ---- kernels ---- */

float vindex_dot_f32_scalar(const float *a, const float *b, size_t n)
{
    float s = 0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

int32_t vindex_dot_i8_scalar(const int8_t *a, const int8_t *b, size_t n)
{
    int32_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += (int32_t)a[i] * b[i];
    return s;
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) float vindex_dot_f32_avx2(const float *a, const float *b, size_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    for (size_t i = 0; i < n; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

__attribute__((target("avx2"))) int32_t vindex_dot_i8_avx2(const int8_t *a, const int8_t *b, size_t n)
{
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i acc = _mm256_setzero_si256();
    for (size_t i = 0; i < n; i += 32) {
        __m256i va = _mm256_loadu_si256((const __m256i *)(a + i));
        __m256i vb = _mm256_loadu_si256((const __m256i *)(b + i));
        /* |a| * (b with a's sign): unsigned x signed as maddubs wants it */
        __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(va, va), _mm256_sign_epi8(vb, va));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p16, ones));
    }
    __m128i h = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
    return _mm_cvtsi128_si32(h);
}

bool vindex_cpu_has_avx2(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#else
float vindex_dot_f32_avx2(const float *a, const float *b, size_t n) { return vindex_dot_f32_scalar(a, b, n); }
int32_t vindex_dot_i8_avx2(const int8_t *a, const int8_t *b, size_t n) { return vindex_dot_i8_scalar(a, b, n); }
bool vindex_cpu_has_avx2(void) { return false; }
#endif

/* Block kernels: q against rows[0..n) (stride elements apart) into out[n]: one indirect
 * call per block, not per row (a 384-byte int8 row is 12 AVX2 steps: the call cost showed
 * as a third of a DBSCAN's time). */
static void dots_f32_scalar(const float *q, const float *rows, size_t n, size_t stride, float *out)
{
    for (size_t r = 0; r < n; r++)
        out[r] = vindex_dot_f32_scalar(q, rows + r * stride, stride);
}

static void dots_i8_scalar(const int8_t *q, const int8_t *rows, size_t n, size_t stride, int32_t *out)
{
    for (size_t r = 0; r < n; r++)
        out[r] = vindex_dot_i8_scalar(q, rows + r * stride, stride);
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) static void dots_f32_avx2(const float *q, const float *rows, size_t n,
                                                              size_t stride, float *out)
{
    for (size_t r = 0; r < n; r++)
        out[r] = vindex_dot_f32_avx2(q, rows + r * stride, stride);
}

__attribute__((target("avx2"))) static void dots_i8_avx2(const int8_t *q, const int8_t *rows, size_t n, size_t stride,
                                                         int32_t *out)
{
    for (size_t r = 0; r < n; r++)
        out[r] = vindex_dot_i8_avx2(q, rows + r * stride, stride);
}
#else
#define dots_f32_avx2 dots_f32_scalar
#define dots_i8_avx2 dots_i8_scalar
#endif

/* Gather kernels: q against the rows listed in rows[0..n) of base (a partition's rows,
 * scattered in the array) into out[n], the same per-row dot products as the block kernels
 * (so the same scores, bit for bit); the rows a few ahead are prefetched. */
#define PREFETCH_AHEAD 4

static void gdots_f32_scalar(const float *q, const float *base, const uint32_t *rows, size_t n, size_t stride,
                             float *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = vindex_dot_f32_scalar(q, base + (size_t)rows[i] * stride, stride);
}

static void gdots_i8_scalar(const int8_t *q, const int8_t *base, const uint32_t *rows, size_t n, size_t stride,
                            int32_t *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = vindex_dot_i8_scalar(q, base + (size_t)rows[i] * stride, stride);
}

#if defined(__x86_64__)
static inline void prefetch_row(const void *row, size_t bytes)
{
    for (size_t b = 0; b < bytes; b += 64)
        _mm_prefetch((const char *)row + b, _MM_HINT_T0);
}

__attribute__((target("avx2,fma"))) static void gdots_f32_avx2(const float *q, const float *base, const uint32_t *rows,
                                                               size_t n, size_t stride, float *out)
{
    for (size_t i = 0; i < n; i++) {
        if (i + PREFETCH_AHEAD < n)
            prefetch_row(base + (size_t)rows[i + PREFETCH_AHEAD] * stride, stride * sizeof(float));
        out[i] = vindex_dot_f32_avx2(q, base + (size_t)rows[i] * stride, stride);
    }
}

__attribute__((target("avx2"))) static void gdots_i8_avx2(const int8_t *q, const int8_t *base, const uint32_t *rows,
                                                          size_t n, size_t stride, int32_t *out)
{
    for (size_t i = 0; i < n; i++) {
        if (i + PREFETCH_AHEAD < n)
            prefetch_row(base + (size_t)rows[i + PREFETCH_AHEAD] * stride, stride);
        out[i] = vindex_dot_i8_avx2(q, base + (size_t)rows[i] * stride, stride);
    }
}
#else
#define gdots_f32_avx2 gdots_f32_scalar
#define gdots_i8_avx2 gdots_i8_scalar
#endif

static float (*dot_f32)(const float *, const float *, size_t); /* for vindex_kernel_name */
static void (*gdots_f32)(const float *, const float *, const uint32_t *, size_t, size_t, float *);
static void (*gdots_i8)(const int8_t *, const int8_t *, const uint32_t *, size_t, size_t, int32_t *);
static void (*dots_f32)(const float *, const float *, size_t, size_t, float *);
static void (*dots_i8)(const int8_t *, const int8_t *, size_t, size_t, int32_t *);
static bool force_scalar;
static pthread_once_t kernel_once = PTHREAD_ONCE_INIT;

static void choose_kernels(void)
{
    bool avx2 = !force_scalar && vindex_cpu_has_avx2();
    dot_f32 = avx2 ? vindex_dot_f32_avx2 : vindex_dot_f32_scalar;
    dots_f32 = avx2 ? dots_f32_avx2 : dots_f32_scalar;
    dots_i8 = avx2 ? dots_i8_avx2 : dots_i8_scalar;
    gdots_f32 = avx2 ? gdots_f32_avx2 : gdots_f32_scalar;
    gdots_i8 = avx2 ? gdots_i8_avx2 : gdots_i8_scalar;
}

static void kernels(void) { pthread_once(&kernel_once, choose_kernels); }

void vindex_use_scalar(bool scalar)
{
    kernels();
    force_scalar = scalar;
    choose_kernels();
}

const char *vindex_kernel_name(void)
{
    kernels();
    return dot_f32 == vindex_dot_f32_avx2 && vindex_cpu_has_avx2() ? "avx2" : "scalar";
}

/* ---- storage ---- */

static void parts_free(vindex *ix)
{
    for (size_t p = 0; p < ix->nparts; p++)
        free(ix->part[p].rows);
    free(ix->part);
    free(ix->cent);
    ix->part = NULL;
    ix->cent = NULL;
    ix->nparts = 0;
}

static int part_place(vindex *ix, uint32_t row);

vindex *vindex_new(int dim, vindex_storage storage)
{
    if (dim < 1 || dim > 65536 || (storage != VINDEX_F32 && storage != VINDEX_I8))
        return NULL;
    kernels();
    vindex *ix = calloc(1, sizeof *ix);
    if (!ix)
        return NULL;
    ix->dim = dim;
    ix->stride = ((size_t)dim + 31) / 32 * 32;
    ix->storage = storage;
    ix->threads = 1;
    return ix;
}

void vindex_free(vindex *ix)
{
    if (!ix)
        return;
    free(ix->f32);
    free(ix->i8);
    free(ix->scale);
    free(ix->ids);
    parts_free(ix);
    free(ix);
}

int vindex_reserve(vindex *ix, size_t n)
{
    if (n <= ix->cap)
        return 0;
    if (n > SIZE_MAX / (ix->stride * sizeof(float)))
        return -1;
    uint64_t *ids = realloc(ix->ids, n * sizeof *ids);
    if (!ids)
        return -1;
    ix->ids = ids;
    if (ix->storage == VINDEX_F32) {
        float *f = realloc(ix->f32, n * ix->stride * sizeof *f);
        if (!f)
            return -1;
        ix->f32 = f;
    } else {
        int8_t *q = realloc(ix->i8, n * ix->stride);
        if (!q)
            return -1;
        ix->i8 = q;
        float *s = realloc(ix->scale, n * sizeof *s);
        if (!s)
            return -1;
        ix->scale = s;
    }
    ix->cap = n;
    return 0;
}

/* v (dim floats) -> out[stride] int8, returns the scale (0 for a zero vector). */
static float quantise(const float *v, int dim, size_t stride, int8_t *out)
{
    float m = 0;
    for (int i = 0; i < dim; i++)
        m = fmaxf(m, fabsf(v[i]));
    float scale = m > 0 ? m / 127.0f : 0;
    for (int i = 0; i < dim; i++)
        out[i] = scale > 0 ? (int8_t)lrintf(v[i] / scale) : 0;
    memset(out + dim, 0, stride - (size_t)dim);
    return scale;
}

int vindex_add(vindex *ix, uint64_t id, const float *v)
{
    if (ix->n == ix->cap && vindex_reserve(ix, ix->cap ? ix->cap * 2 : 1024) != 0)
        return -1;
    size_t r = ix->n;
    if (ix->storage == VINDEX_F32) {
        float *row = ix->f32 + r * ix->stride;
        memcpy(row, v, (size_t)ix->dim * sizeof *row);
        memset(row + ix->dim, 0, (ix->stride - (size_t)ix->dim) * sizeof *row);
    } else {
        ix->scale[r] = quantise(v, ix->dim, ix->stride, ix->i8 + r * ix->stride);
    }
    ix->ids[r] = id;
    if (ix->nparts && part_place(ix, (uint32_t)r) != 0)
        return -1; /* row r is not counted: the index is unchanged */
    ix->n++;
    return 0;
}

size_t vindex_count(const vindex *ix) { return ix->n; }
int vindex_dim(const vindex *ix) { return ix->dim; }
vindex_storage vindex_storage_of(const vindex *ix) { return ix->storage; }
uint64_t vindex_id(const vindex *ix, uint32_t row) { return ix->ids[row]; }

size_t vindex_memory(const vindex *ix)
{
    size_t per_row =
        sizeof(uint64_t) + (ix->storage == VINDEX_F32 ? ix->stride * sizeof(float) : ix->stride + sizeof(float));
    size_t parts = ix->nparts * (ix->stride * sizeof(float) + sizeof(struct part));
    for (size_t p = 0; p < ix->nparts; p++)
        parts += ix->part[p].cap * sizeof(uint32_t);
    return sizeof *ix + ix->cap * per_row + parts;
}

void vindex_row(const vindex *ix, uint32_t row, float *out)
{
    if (ix->storage == VINDEX_F32) {
        memcpy(out, ix->f32 + (size_t)row * ix->stride, (size_t)ix->dim * sizeof *out);
        return;
    }
    const int8_t *q = ix->i8 + (size_t)row * ix->stride;
    for (int i = 0; i < ix->dim; i++)
        out[i] = q[i] * ix->scale[row];
}

static const void *row_bytes(const vindex *ix, uint32_t row, size_t *len)
{
    if (ix->storage == VINDEX_F32) {
        *len = ix->stride * sizeof(float);
        return ix->f32 + (size_t)row * ix->stride;
    }
    *len = ix->stride;
    return ix->i8 + (size_t)row * ix->stride;
}

bool vindex_rows_equal(const vindex *ix, uint32_t a, uint32_t b)
{
    size_t la, lb;
    const void *pa = row_bytes(ix, a, &la), *pb = row_bytes(ix, b, &lb);
    if (memcmp(pa, pb, la) != 0)
        return false;
    return ix->storage == VINDEX_F32 || ix->scale[a] == ix->scale[b];
}

uint64_t vindex_row_hash(const vindex *ix, uint32_t row)
{
    size_t len;
    const unsigned char *p = row_bytes(ix, row, &len);
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    if (ix->storage == VINDEX_I8) {
        const unsigned char *s = (const unsigned char *)&ix->scale[row];
        for (size_t i = 0; i < sizeof(float); i++)
            h = (h ^ s[i]) * 1099511628211ULL;
    }
    return h;
}

/* ---- queries ---- */

/* The query in the index's layout: padded floats, or int8 and its scale. NEW buffers. */
typedef struct {
    float *f32;
    int8_t *i8;
    float scale;
} query;

static int query_prepare(const vindex *ix, const float *q, query *out)
{
    memset(out, 0, sizeof *out);
    if (ix->storage == VINDEX_F32) {
        out->f32 = calloc(ix->stride, sizeof(float));
        if (!out->f32)
            return -1;
        memcpy(out->f32, q, (size_t)ix->dim * sizeof(float));
    } else {
        out->i8 = malloc(ix->stride);
        if (!out->i8)
            return -1;
        out->scale = quantise(q, ix->dim, ix->stride, out->i8);
    }
    return 0;
}

static void query_free(query *q)
{
    free(q->f32);
    free(q->i8);
}

#define BLOCK 256

/* Scores of rows [r0, r0+n), n <= BLOCK, into out[n]. */
static void score_block(const vindex *ix, const query *q, size_t r0, size_t n, float *out)
{
    if (ix->storage == VINDEX_F32) {
        dots_f32(q->f32, ix->f32 + r0 * ix->stride, n, ix->stride, out);
        return;
    }
    int32_t d[BLOCK];
    dots_i8(q->i8, ix->i8 + r0 * ix->stride, n, ix->stride, d);
    for (size_t i = 0; i < n; i++)
        out[i] = (float)d[i] * q->scale * ix->scale[r0 + i];
}

/* A hit ranks before another by higher score, then lower row. */
static inline bool worse(const vindex_hit *a, const vindex_hit *b)
{
    return a->score < b->score || (a->score == b->score && a->row > b->row);
}

static void sift_down(vindex_hit *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && worse(&h[l], &h[m]))
            m = l;
        if (r < n && worse(&h[r], &h[m]))
            m = r;
        if (m == i)
            return;
        vindex_hit t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void sift_up(vindex_hit *h, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!worse(&h[i], &h[p]))
            return;
        vindex_hit t = h[i];
        h[i] = h[p];
        h[p] = t;
        i = p;
    }
}

/* h into the top-k min-heap out[*n] (worst at out[0]) when it beats the worst of a full
 * heap and the filter takes it (asked only then). */
static inline void offer(vindex_hit *out, size_t k, size_t *n, vindex_hit h, vindex_filter_fn filter, void *arg)
{
    if (*n == k && !worse(&out[0], &h))
        return;
    if (filter && !filter(h.id, h.row, arg))
        return;
    if (*n < k) {
        out[*n] = h;
        sift_up(out, (*n)++);
    } else {
        out[0] = h;
        sift_down(out, *n, 0);
    }
}

static int cmp_hits(const void *a, const void *b)
{
    const vindex_hit *x = a, *y = b;
    return worse(x, y) ? 1 : worse(y, x) ? -1 : 0;
}

void vindex_set_threads(vindex *ix, int threads) { ix->threads = threads < 1 ? 1 : threads > 64 ? 64 : threads; }

/* Rows [r0, r1) into the min-heap out[0..*n) of at most k hits. */
static void scan(const vindex *ix, const query *qq, size_t r0, size_t r1, size_t k, float min_score,
                 vindex_filter_fn filter, void *arg, vindex_hit *out, size_t *nout)
{
    size_t n = *nout; /* out[0..n) is a min-heap: out[0] the worst kept */
    float sc[BLOCK];
    for (size_t r = r0; r < r1; r++) {
        if ((r - r0) % BLOCK == 0)
            score_block(ix, qq, r, r1 - r < BLOCK ? r1 - r : BLOCK, sc);
        float s = sc[(r - r0) % BLOCK];
        if (s < min_score)
            continue;
        offer(out, k, &n, (vindex_hit){ix->ids[r], (uint32_t)r, s}, filter, arg);
    }
    *nout = n;
}

typedef struct {
    const vindex *ix;
    const query *qq;
    size_t r0, r1, k, n;
    float min_score;
    vindex_filter_fn filter;
    void *arg;
    vindex_hit *heap; /* k */
} scan_part;

static void *scan_thread(void *p)
{
    scan_part *s = p;
    scan(s->ix, s->qq, s->r0, s->r1, s->k, s->min_score, s->filter, s->arg, s->heap, &s->n);
    return NULL;
}

/* ---- partitions ---- */

/* Rows are grouped around unit directions c_p by spherical k-means. A partition keeps the
 * largest angle theta_p between one of its stored rows and c_p and the largest row norm
 * N_p, so for a query q at angle phi to c_p every row x of it has
 *     q.x = |q| |x| cos(angle(q, x)) <= |q| N_p cos(max(0, phi - theta_p))
 * (angles on the sphere obey the triangle inequality; the cosine taken as 0 past 90
 * degrees, where q.x <= 0). A search visits partitions by that bound, highest first, and
 * stops at the first one whose bound is below the k-th best score found: what is left
 * cannot enter the top k, so the hits are those of the flat scan. The bound is that of a
 * spherical cap, much tighter than |q| |x - c| for unit vectors that share a common
 * component (e5's unrelated texts score ~0.83), and translation does not enter it.
 *
 * Rounding: the stored scores come from float dot products of `stride` terms, whose error
 * is at most stride * 2^-24 * |q| |x|; BOUND_TOL(stride) twice that plus 1e-6 is added to
 * cos(phi) (computed by the same kernel) and to the bound's cosine. The int8 rows' angles
 * and norms are computed in double on the dequantised values (exact), and the query is
 * the dequantised int8 one, which is what their scores are products of. */
#define BOUND_TOL(stride) ((double)(stride)*1.2e-7 + 1e-6)
#define KMEANS_ITERS 6
#define KMEANS_SAMPLE 48 /* sample points per centroid */

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Row r as stride floats (dequantised, padding zero). */
static void row_padded(const vindex *ix, uint32_t r, float *out)
{
    vindex_row(ix, r, out);
    memset(out + ix->dim, 0, (ix->stride - (size_t)ix->dim) * sizeof *out);
}

/* Row r as dim doubles, exactly the stored value (int8 times its scale). */
static void row_exact(const vindex *ix, uint32_t r, double *out)
{
    if (ix->storage == VINDEX_F32) {
        const float *f = ix->f32 + (size_t)r * ix->stride;
        for (int i = 0; i < ix->dim; i++)
            out[i] = f[i];
        return;
    }
    const int8_t *q = ix->i8 + (size_t)r * ix->stride;
    for (int i = 0; i < ix->dim; i++)
        out[i] = (double)q[i] * ix->scale[r];
}

static size_t argmax(const float *s, size_t n)
{
    size_t b = 0;
    for (size_t i = 1; i < n; i++)
        if (s[i] > s[b])
            b = i;
    return b;
}

/* Spherical k-means of rows[0..n) into k <= n unit directions cent[k*stride]; label[i]
 * the direction of rows[i]. A sample of KMEANS_SAMPLE*k rows runs KMEANS_ITERS rounds,
 * then every row takes its nearest direction. -1 on out of memory. */
static int kmeans(const vindex *ix, const uint32_t *rows, size_t n, size_t k, uint64_t *seed, float *cent,
                  uint32_t *label)
{
    size_t st = ix->stride, m = n < KMEANS_SAMPLE * k ? n : KMEANS_SAMPLE * k;
    float *pts = malloc(m * st * sizeof *pts), *sc = malloc(k * sizeof *sc);
    double *sum = malloc(k * st * sizeof *sum);
    uint32_t *pick = malloc(n * sizeof *pick), *lab = malloc(m * sizeof *lab);
    int rc = -1;
    if (!pts || !sc || !sum || !pick || !lab)
        goto out;
    for (size_t i = 0; i < n; i++)
        pick[i] = (uint32_t)i;
    for (size_t i = 0; i < m; i++) { /* the sample: a random m of n (partial Fisher-Yates) */
        size_t j = i + xorshift(seed) % (n - i);
        uint32_t t = pick[i];
        pick[i] = pick[j];
        pick[j] = t;
        row_padded(ix, rows[pick[i]], pts + i * st);
    }
    /* k-means++ seeding: each next direction a sample point drawn with probability
     * proportional to its squared distance (2 - 2 cos) to the nearest one so far, so
     * that small groups get a direction of their own */
    double total = 0, *near = malloc(m * sizeof *near);
    if (!near)
        goto out;
    memcpy(cent, pts, st * sizeof *cent);
    for (size_t i = 0; i < m; i++) {
        double d = 2 - 2 * (double)dot_f32(pts + i * st, cent, st);
        near[i] = d > 0 ? d : 0;
        total += near[i];
    }
    for (size_t c = 1; c < k; c++) {
        size_t pick_i = 0;
        if (total > 0) {
            double x = (double)(xorshift(seed) >> 11) * 0x1.0p-53 * total, acc = 0;
            for (pick_i = 0; pick_i + 1 < m; pick_i++) {
                acc += near[pick_i];
                if (acc > x)
                    break;
            }
        } else {
            pick_i = c; /* all points on the directions already: any (m >= k) */
        }
        float *cc = cent + c * st;
        memcpy(cc, pts + pick_i * st, st * sizeof *cent);
        total = 0;
        for (size_t i = 0; i < m; i++) {
            double d = 2 - 2 * (double)dot_f32(pts + i * st, cc, st);
            if (d < near[i])
                near[i] = d > 0 ? d : 0;
            total += near[i];
        }
    }
    free(near);
    for (int it = 0; it < KMEANS_ITERS; it++) {
        for (size_t i = 0; i < m; i++) {
            dots_f32(pts + i * st, cent, k, st, sc);
            lab[i] = (uint32_t)argmax(sc, k);
        }
        memset(sum, 0, k * st * sizeof *sum);
        for (size_t i = 0; i < m; i++)
            for (size_t d = 0; d < st; d++)
                sum[lab[i] * st + d] += pts[i * st + d];
        for (size_t c = 0; c < k; c++) {
            double nn = 0;
            for (size_t d = 0; d < st; d++)
                nn += sum[c * st + d] * sum[c * st + d];
            if (nn > 0) /* an empty cluster keeps its direction */
                for (size_t d = 0; d < st; d++)
                    cent[c * st + d] = (float)(sum[c * st + d] / sqrt(nn));
        }
    }
    for (size_t i = 0; i < n; i++) {
        row_padded(ix, rows[i], pts); /* pts[0] as scratch */
        dots_f32(pts, cent, k, st, sc);
        label[i] = (uint32_t)argmax(sc, k);
    }
    rc = 0;
out:
    free(pts);
    free(sc);
    free(sum);
    free(pick);
    free(lab);
    return rc;
}

/* Partition pt of rows[0..n): its direction (the normalised mean of the rows, written to
 * c[stride]) and bounds. x: dim doubles of scratch. */
static void part_finish(const vindex *ix, struct part *pt, float *c, double *x)
{
    size_t st = ix->stride;
    double *sum = x + ix->dim, nn = 0; /* x has room for 2*dim */
    memset(sum, 0, (size_t)ix->dim * sizeof *sum);
    for (size_t i = 0; i < pt->n; i++) {
        row_exact(ix, pt->rows[i], x);
        for (int d = 0; d < ix->dim; d++)
            sum[d] += x[d];
    }
    for (int d = 0; d < ix->dim; d++)
        nn += sum[d] * sum[d];
    memset(c, 0, st * sizeof *c);
    if (nn > 0)
        for (int d = 0; d < ix->dim; d++)
            c[d] = (float)(sum[d] / sqrt(nn));
    else
        c[0] = 1; /* rows that cancel out (or zeros): any direction is sound */
    double cn = 0;
    for (int d = 0; d < ix->dim; d++)
        cn += (double)c[d] * c[d];
    pt->cnorm = sqrt(cn);
    pt->theta = 0;
    pt->norm = 0;
    for (size_t i = 0; i < pt->n; i++) {
        row_exact(ix, pt->rows[i], x);
        double dot = 0, xn = 0;
        for (int d = 0; d < ix->dim; d++) {
            dot += x[d] * c[d];
            xn += x[d] * x[d];
        }
        xn = sqrt(xn);
        if (xn > pt->norm)
            pt->norm = xn;
        if (xn > 0) {
            double cs = dot / (xn * pt->cnorm);
            double a = acos(cs > 1 ? 1 : cs < -1 ? -1 : cs);
            if (a > pt->theta)
                pt->theta = a;
        }
    }
    pt->theta += 1e-9;
    pt->norm *= 1 + 1e-12;
}

/* Places the stored row `row` (not yet counted) in the partition of the nearest
 * direction, widening its bounds. -1 on out of memory (nothing changed). */
static int part_place(vindex *ix, uint32_t row)
{
    size_t st = ix->stride, P = ix->nparts;
    float *xf = malloc((st + P) * sizeof *xf);
    double *x = malloc((size_t)ix->dim * sizeof *x);
    if (!xf || !x) {
        free(xf);
        free(x);
        return -1;
    }
    float *sc = xf + st;
    row_padded(ix, row, xf);
    dots_f32(xf, ix->cent, P, st, sc);
    struct part *pt = &ix->part[argmax(sc, P)];
    const float *c = ix->cent + (pt - ix->part) * st;
    free(xf);
    if (pt->n == pt->cap) {
        size_t cap = pt->cap ? pt->cap * 2 : 16;
        uint32_t *r = realloc(pt->rows, cap * sizeof *r);
        if (!r) {
            free(x);
            return -1;
        }
        pt->rows = r;
        pt->cap = cap;
    }
    row_exact(ix, row, x);
    double dot = 0, xn = 0;
    for (int d = 0; d < ix->dim; d++) {
        dot += x[d] * c[d];
        xn += x[d] * x[d];
    }
    free(x);
    xn = sqrt(xn);
    if (xn * (1 + 1e-12) > pt->norm)
        pt->norm = xn * (1 + 1e-12);
    if (xn > 0) {
        double cs = dot / (xn * pt->cnorm);
        double a = acos(cs > 1 ? 1 : cs < -1 ? -1 : cs) + 1e-9;
        if (a > pt->theta)
            pt->theta = a;
    }
    pt->rows[pt->n++] = row;
    return 0;
}

/* Level 1 cuts through groups of rows (an alert kind split between two groups, whose
 * halves were then lumped with others): every row moves to the nearest direction among
 * the partitions of its REFINE_PROBES nearest groups (group g's are gfirst[g] up to
 * gfirst[g+1]), and the directions and bounds are those of the new members. Partitions
 * may end empty. label: n of scratch. */
#define REFINE_PROBES 3
static int refine(const vindex *ix, const float *c1, size_t k1, const size_t *gfirst, const float *cent,
                  struct part *part, size_t np, uint32_t *label, double *x)
{
    size_t st = ix->stride, n = ix->n, most = k1;
    for (size_t g = 0; g < k1; g++)
        if (gfirst[g + 1] - gfirst[g] > most)
            most = gfirst[g + 1] - gfirst[g];
    float *xf = malloc((st + 2 * most) * sizeof *xf), *sc = xf + st, *sc2 = sc + most;
    size_t *cnt = calloc(np, sizeof *cnt);
    if (!xf || !cnt) {
        free(xf);
        free(cnt);
        return -1;
    }
    for (size_t r = 0; r < n; r++) {
        row_padded(ix, (uint32_t)r, xf);
        dots_f32(xf, c1, k1, st, sc);
        float best = -INFINITY;
        size_t leaf = 0;
        for (int probe = 0; probe < REFINE_PROBES && probe < (int)k1; probe++) {
            size_t g = argmax(sc, k1), m = gfirst[g + 1] - gfirst[g];
            sc[g] = -INFINITY;
            if (m == 0)
                continue;
            dots_f32(xf, cent + gfirst[g] * st, m, st, sc2);
            size_t a = argmax(sc2, m);
            if (sc2[a] > best) {
                best = sc2[a];
                leaf = gfirst[g] + a;
            }
        }
        label[r] = (uint32_t)leaf;
        cnt[leaf]++;
    }
    int rc = 0;
    for (size_t p = 0; p < np; p++) {
        if (cnt[p] > part[p].cap) {
            uint32_t *rows = realloc(part[p].rows, cnt[p] * sizeof *rows);
            if (!rows)
                rc = -1;
            else {
                part[p].rows = rows;
                part[p].cap = cnt[p];
            }
        }
    }
    if (rc == 0) {
        for (size_t p = 0; p < np; p++)
            part[p].n = 0;
        for (size_t r = 0; r < n; r++)
            part[label[r]].rows[part[label[r]].n++] = (uint32_t)r;
        for (size_t p = 0; p < np; p++)
            part_finish(ix, &part[p], (float *)cent + p * st, x);
    }
    free(xf);
    free(cnt);
    return rc;
}

/* Drops the empty partitions of part[0..np) (and their directions); the new count. */
static size_t drop_empty(const vindex *ix, float *cent, struct part *part, size_t np)
{
    size_t st = ix->stride, kept = 0;
    for (size_t p = 0; p < np; p++) {
        if (part[p].n == 0) {
            free(part[p].rows);
            continue;
        }
        part[kept] = part[p];
        memmove(cent + kept * st, cent + p * st, st * sizeof *cent);
        kept++;
    }
    memset(part + kept, 0, (np - kept) * sizeof *part);
    return kept;
}

int vindex_partition(vindex *ix, size_t nlist)
{
    size_t n = ix->n, st = ix->stride;
    if (nlist == 0 || n == 0) {
        parts_free(ix);
        return 0;
    }
    if (nlist > n)
        nlist = n;
    /* two levels: k1 ~ sqrt(nlist) groups, each cut into its share of nlist, so a row is
     * compared with ~2 sqrt(nlist) directions instead of nlist */
    size_t k1 = (size_t)ceil(sqrt((double)nlist)), first_cut = nlist > 4 * k1 ? nlist / 2 : nlist;
    uint64_t seed = 0x9E3779B97F4A7C15ULL;
    uint32_t *all = malloc(n * sizeof *all), *lab1 = malloc(n * sizeof *lab1), *byg = malloc(n * sizeof *byg);
    uint32_t *lab2 = malloc(n * sizeof *lab2);
    size_t *start = calloc(k1 + 1, sizeof *start), *gfirst = calloc(k1 + 1, sizeof *gfirst);
    float *c1 = malloc(k1 * st * sizeof *c1);
    /* at most nlist + k1 leaves: a group's share is rounded up by less than 1 */
    size_t maxp = k1 + nlist;
    float *cent = malloc(maxp * st * sizeof *cent);
    struct part *part = calloc(maxp, sizeof *part);
    double *x = malloc(2 * (size_t)ix->dim * sizeof *x);
    size_t np = 0;
    int rc = -1;
    if (!all || !lab1 || !byg || !lab2 || !start || !gfirst || !c1 || !cent || !part || !x)
        goto out;
    for (size_t r = 0; r < n; r++)
        all[r] = (uint32_t)r;
    if (kmeans(ix, all, n, k1, &seed, c1, lab1) != 0)
        goto out;
    for (size_t r = 0; r < n; r++) /* rows by group, ascending within one */
        start[lab1[r] + 1]++;
    for (size_t g = 0; g < k1; g++)
        start[g + 1] += start[g];
    for (size_t r = 0; r < n; r++)
        byg[start[lab1[r]]++] = (uint32_t)r;
    for (size_t g = k1; g > 0; g--)
        start[g] = start[g - 1];
    start[0] = 0;
    for (size_t g = 0; g < k1; g++) {
        size_t gn = start[g + 1] - start[g];
        gfirst[g] = np;
        if (gn == 0)
            continue;
        size_t k2 = (size_t)llround((double)first_cut * gn / n);
        k2 = k2 < 1 ? 1 : k2 > gn ? gn : k2;
        const uint32_t *rows = byg + start[g];
        if (kmeans(ix, rows, gn, k2, &seed, cent + np * st, lab2) != 0)
            goto out;
        size_t *cnt = calloc(k2, sizeof *cnt);
        if (!cnt)
            goto out;
        for (size_t i = 0; i < gn; i++)
            cnt[lab2[i]]++;
        size_t first = np;
        for (size_t c = 0; c < k2; c++) {
            if (cnt[c] == 0)
                continue;
            part[np].rows = malloc(cnt[c] * sizeof(uint32_t));
            if (!part[np].rows) {
                free(cnt);
                goto out;
            }
            part[np].cap = cnt[c];
            cnt[c] = np++; /* now the partition of direction c */
        }
        for (size_t i = 0; i < gn; i++) {
            struct part *pt = &part[cnt[lab2[i]]];
            pt->rows[pt->n++] = rows[i];
        }
        free(cnt);
        for (size_t p = first; p < np; p++)
            part_finish(ix, &part[p], cent + p * st, x);
    }
    gfirst[k1] = np;
    if (refine(ix, c1, k1, gfirst, cent, part, np, lab1, x) != 0)
        goto out;
    np = drop_empty(ix, cent, part, np);
    /* then the widest partitions are halved until there are nlist: the shares above go
     * by rows, so groups of few rows each (rare alert kinds) were lumped together */
    uint32_t *lab = lab2;
    while (np < nlist) {
        size_t w = np; /* the one most rows would be read for: rows * theta^2 */
        double wv = 0;
        for (size_t p = 0; p < np; p++) {
            double v = (double)part[p].n * part[p].theta * part[p].theta;
            if (part[p].n >= 2 && part[p].theta > 1e-6 && v > wv) {
                w = p;
                wv = v;
            }
        }
        if (w == np)
            break; /* nothing left to split */
        struct part *pt = &part[w];
        if (kmeans(ix, pt->rows, pt->n, 2, &seed, cent + np * st, lab) != 0)
            goto out;
        size_t m1 = 0;
        for (size_t i = 0; i < pt->n; i++)
            m1 += lab[i];
        if (m1 == 0 || m1 == pt->n) {
            pt->theta = 0; /* not split by 2-means: leave it */
            continue;
        }
        struct part *nw = &part[np];
        nw->rows = malloc(m1 * sizeof(uint32_t));
        if (!nw->rows)
            goto out;
        nw->cap = m1;
        size_t keep = 0;
        for (size_t i = 0; i < pt->n; i++) {
            if (lab[i])
                nw->rows[nw->n++] = pt->rows[i];
            else
                pt->rows[keep++] = pt->rows[i];
        }
        pt->n = keep;
        part_finish(ix, pt, cent + w * st, x);
        part_finish(ix, nw, cent + np * st, x);
        np++;
    }
    for (size_t p = 0; p < np; p++) /* the thetas zeroed above */
        part_finish(ix, &part[p], cent + p * st, x);
    parts_free(ix);
    ix->part = part;
    ix->cent = cent;
    ix->nparts = np;
    part = NULL;
    cent = NULL;
    rc = 0;
out:
    if (part)
        for (size_t p = 0; p < np; p++)
            free(part[p].rows);
    free(part);
    free(cent);
    free(all);
    free(lab1);
    free(byg);
    free(lab2);
    free(start);
    free(gfirst);
    free(c1);
    free(x);
    return rc;
}

size_t vindex_partitions(const vindex *ix) { return ix->nparts; }

/* Rows rows[0..m) into the min-heap out[0..*nout) of at most k hits (as scan does). */
static void scan_rows(const vindex *ix, const query *qq, const uint32_t *rows, size_t m, size_t k, float min_score,
                      vindex_filter_fn filter, void *arg, vindex_hit *out, size_t *nout)
{
    size_t n = *nout;
    float sc[BLOCK];
    int32_t d[BLOCK];
    for (size_t i0 = 0; i0 < m; i0 += BLOCK) {
        size_t b = m - i0 < BLOCK ? m - i0 : BLOCK;
        if (ix->storage == VINDEX_F32) {
            gdots_f32(qq->f32, ix->f32, rows + i0, b, ix->stride, sc);
        } else {
            gdots_i8(qq->i8, ix->i8, rows + i0, b, ix->stride, d);
            for (size_t i = 0; i < b; i++)
                sc[i] = (float)d[i] * qq->scale * ix->scale[rows[i0 + i]];
        }
        for (size_t i = 0; i < b; i++) {
            float s = sc[i];
            if (s < min_score)
                continue;
            uint32_t r = rows[i0 + i];
            offer(out, k, &n, (vindex_hit){ix->ids[r], r, s}, filter, arg);
        }
    }
    *nout = n;
}

typedef struct {
    double bound;
    size_t part;
} part_bound;

static void pb_sift_down(part_bound *h, size_t n, size_t i) /* a max-heap by bound */
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && h[l].bound > h[m].bound)
            m = l;
        if (r < n && h[r].bound > h[m].bound)
            m = r;
        if (m == i)
            return;
        part_bound t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

/* The partitioned search: visits partitions by bound until none can hold a hit. */
static int search_parts(const vindex *ix, const float *q, const query *qq, size_t k, float min_score,
                        vindex_filter_fn filter, void *arg, vindex_hit *out, size_t *nout)
{
    size_t st = ix->stride, P = ix->nparts;
    float *qb = calloc(st + P, sizeof *qb), *cs = qb + st;
    part_bound *heap = malloc(P * sizeof *heap);
    if (!qb || !heap) {
        free(qb);
        free(heap);
        return -1;
    }
    double qn = 0; /* |q| of the query the scores are products of */
    for (int i = 0; i < ix->dim; i++) {
        double v = ix->storage == VINDEX_F32 ? q[i] : (double)qq->i8[i] * qq->scale;
        qb[i] = (float)v;
        qn += v * v;
    }
    qn = sqrt(qn);
    dots_f32(qb, ix->cent, P, st, cs);
    double tol = BOUND_TOL(st);
    for (size_t p = 0; p < P; p++) {
        const struct part *pt = &ix->part[p];
        double c = 1;
        if (qn > 0) {
            double cphi = cs[p] / (qn * pt->cnorm) + tol;
            double a = acos(cphi > 1 ? 1 : cphi < -1 ? -1 : cphi) - pt->theta;
            c = a <= 0 ? 1 : a >= M_PI / 2 ? 0 : cos(a);
        }
        heap[p] = (part_bound){qn * pt->norm * (c + tol), p};
    }
    for (size_t i = P / 2; i-- > 0;)
        pb_sift_down(heap, P, i);
    size_t n = 0, left = P;
    while (left > 0) {
        part_bound b = heap[0];
        if (b.bound < min_score || (n == k && b.bound < out[0].score))
            break; /* no row left scores enough */
        heap[0] = heap[--left];
        pb_sift_down(heap, left, 0);
        const struct part *pt = &ix->part[b.part];
        scan_rows(ix, qq, pt->rows, pt->n, k, min_score, filter, arg, out, &n);
    }
    *nout = n;
    free(qb);
    free(heap);
    return 0;
}

/* Below this many rows a search stays on the caller's thread: starting threads costs
 * more than it saves. */
#define PARALLEL_MIN_ROWS 65536

int vindex_search(const vindex *ix, const float *q, size_t k, float min_score, vindex_filter_fn filter, void *arg,
                  vindex_hit *out)
{
    if (k == 0 || ix->n == 0)
        return 0;
    if (k > ix->n)
        k = ix->n;
    query qq;
    if (query_prepare(ix, q, &qq) != 0)
        return -1;
    size_t n = 0;
    int t = ix->threads;
    if (ix->nparts) {
        int rc = search_parts(ix, q, &qq, k, min_score, filter, arg, out, &n);
        if (rc != 0) {
            query_free(&qq);
            return -1;
        }
    } else if (t > 1 && ix->n >= PARALLEL_MIN_ROWS) {
        scan_part parts[64];
        pthread_t tid[64];
        bool running[64] = {false};
        vindex_hit *heaps = malloc((size_t)t * k * sizeof *heaps);
        if (!heaps) {
            query_free(&qq);
            return -1;
        }
        for (int i = 0; i < t; i++)
            parts[i] = (scan_part){ix,        &qq,    ix->n * i / t, ix->n * (i + 1) / t,  k, 0,
                                   min_score, filter, arg,           heaps + (size_t)i * k};
        for (int i = 1; i < t; i++)
            running[i] = pthread_create(&tid[i], NULL, scan_thread, &parts[i]) == 0;
        for (int i = 0; i < t; i++) /* part 0, and any part whose thread did not start */
            if (!running[i])
                scan_thread(&parts[i]);
        for (int i = 1; i < t; i++)
            if (running[i])
                pthread_join(tid[i], NULL);
        for (int i = 0; i < t; i++) /* merge: each part's hits through the same heap */
            for (size_t j = 0; j < parts[i].n; j++) {
                vindex_hit h = parts[i].heap[j];
                if (n < k) {
                    out[n] = h;
                    sift_up(out, n++);
                } else if (worse(&out[0], &h)) {
                    out[0] = h;
                    sift_down(out, n, 0);
                }
            }
        free(heaps);
    } else {
        scan(ix, &qq, 0, ix->n, k, min_score, filter, arg, out, &n);
    }
    query_free(&qq);
    qsort(out, n, sizeof *out, cmp_hits);
    return (int)n;
}

int vindex_range(const vindex *ix, const float *q, float min_score, vindex_range_fn fn, void *arg)
{
    query qq;
    if (query_prepare(ix, q, &qq) != 0)
        return -1;
    int rc = 0;
    float sc[BLOCK];
    for (size_t r0 = 0; r0 < ix->n && rc == 0; r0 += BLOCK) {
        size_t m = ix->n - r0 < BLOCK ? ix->n - r0 : BLOCK;
        score_block(ix, &qq, r0, m, sc);
        for (size_t i = 0; i < m && rc == 0; i++)
            if (sc[i] >= min_score)
                rc = fn((uint32_t)(r0 + i), sc[i], arg);
    }
    query_free(&qq);
    return rc;
}

/* Rows in tiles of ~64 KB, each tile scored against every query of the batch while it is
 * in cache: the rows are read from memory once per batch instead of once per query. */
#define TILE_BYTES 65536

int vindex_range_batch(const vindex *ix, const float *qs, size_t nq, float min_score, vindex_range_batch_fn fn,
                       void *arg)
{
    if (nq == 0 || ix->n == 0)
        return 0;
    query *qq = calloc(nq, sizeof *qq);
    if (!qq)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < nq; i++)
        if (query_prepare(ix, qs + i * (size_t)ix->dim, &qq[i]) != 0)
            rc = -1;
    size_t row_bytes = ix->storage == VINDEX_F32 ? ix->stride * sizeof(float) : ix->stride;
    size_t tile = TILE_BYTES / row_bytes;
    tile = tile < 1 ? 1 : tile > BLOCK ? BLOCK : tile;
    float sc[BLOCK];
    for (size_t r0 = 0; rc == 0 && r0 < ix->n; r0 += tile) {
        size_t m = ix->n - r0 < tile ? ix->n - r0 : tile;
        for (size_t i = 0; rc == 0 && i < nq; i++) {
            score_block(ix, &qq[i], r0, m, sc);
            for (size_t j = 0; j < m && rc == 0; j++)
                if (sc[j] >= min_score)
                    rc = fn(i, (uint32_t)(r0 + j), sc[j], arg);
        }
    }
    for (size_t i = 0; i < nq; i++)
        query_free(&qq[i]);
    free(qq);
    return rc;
}

float *vindex_parse_vector(const char *text, int dim)
{
    if (dim <= 0 || *text != '{')
        return NULL;
    float *v = malloc((size_t)dim * sizeof *v);
    if (!v)
        return NULL;
    const char *p = text + 1;
    int n = 0;
    while (*p && *p != '}') {
        char *end;
        double x = strtod(p, &end);
        if (end == p || n >= dim) {
            free(v);
            return NULL;
        }
        v[n++] = (float)x;
        p = *end == ',' ? end + 1 : end;
    }
    if (n != dim) {
        free(v);
        return NULL;
    }
    return v;
}
