/* hutch-vindex-bench: the figures of the vector index and of DBSCAN on random unit
 * vectors (`make bench-vindex`).
 *
 *   hutch-vindex-bench search --rows 1000000 --dim 384 [--storage f32|i8] [--queries 20] [--threads 1]
 *                             [--data uniform|clustered] [--kinds 2000] [--partitions N]
 *   hutch-vindex-bench dbscan --rows 100000 --dim 384 --shapes 2000 [--storage f32|i8]
 *   hutch-vindex-bench rows --rows 1000000 --dim 384 [--data uniform|clustered] [--kinds 2000]
 *
 * rows: prints the data set as COPY text lines "N\t{x,...}" (row number, a real[]) for
 * scripts/bench-cluster-index.sh to load into Postgres.
 * search: fills an index, runs exact top-10 queries, prints one JSON line: the kernel,
 * median/p90/max query time and the median CPU time of a query (the machine may be
 * shared: CPU time is what the search itself cost), index bytes per million rows, RSS,
 * and a memory-bandwidth floor for the flat scan: the bytes of the rows over the rate at
 * which this process streams a 256 MB buffer (one thread, best of 3 reads).
 * --partitions N > 0 calls vindex_partition(ix, N) first (its wall and CPU time printed);
 * 0 is the flat scan. The hits are the same either way (exact).
 * --data uniform: independent uniform unit vectors, queries too: the worst case, no
 * structure to prune with.
 * --data clustered: a model of alert embeddings. e5 puts any two texts at cosine ~0.83
 * and two alerts of one kind at ~0.98 (README, Embeddings); so a row is
 *     normalise(0.911 g + 0.361 t_kind + 0.2 e)
 * with g one direction shared by all rows (0.911^2 = 0.83 of the energy), t_kind the
 * kind's direction and e the row's own random direction (every row distinct). Two rows of
 * one kind are at cosine ~0.96, of unrelated kinds ~0.83. --kinds kinds (2000) come in
 * families of 8 whose directions share 0.36 of their energy (related alert kinds, cosine
 * ~0.88 across them). Kinds are skewed like alert volume: kind floor(kinds * u^2), u
 * uniform, so the top kind has ~2% of the rows and the median one ~0.03%. A query is a
 * new alert (not in the index) of a kind drawn the same way.
 * dbscan: `rows` alerts drawn from `shapes` distinct vectors (alerts of one shape share
 * an embedding; --shapes = --rows for all distinct), 20 shapes to a topic so that
 * clusters form, every tenth shape a stray of its own (noise); times dbscan_run with Warren's defaults. Random data,
 * fixed seed. */
#include <getopt.h>
#include <stdbool.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/vindex.h"
#include "services/cluster/dbscan.h"

static uint64_t rng = 0x2545F4914F6CDD1DULL;
static float uniform(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) * 0x1.0p-24) * 2.0f - 1.0f;
}

static void normalise(float *v, int dim)
{
    double n = 0;
    for (int i = 0; i < dim; i++)
        n += (double)v[i] * v[i];
    for (int i = 0; i < dim; i++)
        v[i] = (float)(v[i] / sqrt(n));
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* CPU time of the process: the machine is shared, so wall time carries others' load */
static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

/* A random unit vector of the uniform data, or of the clustered model (see the top). */
static void random_unit(float *v, int dim)
{
    for (int i = 0; i < dim; i++) v[i] = uniform();
    normalise(v, dim);
}

typedef struct {
    long kinds;
    float *g, *kind; /* the shared direction; kinds * dim */
} model;

static void model_init(model *m, long kinds, int dim)
{
    m->kinds = kinds;
    m->g = malloc((size_t)dim * sizeof *m->g);
    m->kind = malloc((size_t)kinds * dim * sizeof *m->kind);
    float *fam = malloc((size_t)dim * sizeof *fam), *r = malloc((size_t)dim * sizeof *r);
    random_unit(m->g, dim);
    for (long k = 0; k < kinds; k++) {
        if (k % 8 == 0) random_unit(fam, dim);
        random_unit(r, dim);
        float *t = m->kind + k * dim;
        for (int i = 0; i < dim; i++) t[i] = 0.6f * fam[i] + 0.8f * r[i];
        normalise(t, dim);
    }
    free(fam);
    free(r);
}

static void model_row(const model *m, float *v, int dim)
{
    float u = (uniform() + 1) / 2;
    long k = (long)((double)m->kinds * u * u);
    const float *t = m->kind + (k < m->kinds ? k : m->kinds - 1) * dim;
    random_unit(v, dim);
    for (int i = 0; i < dim; i++) v[i] = 0.911f * m->g[i] + 0.361f * t[i] + 0.2f * v[i];
    normalise(v, dim);
}

/* GB/s at which one thread reads a 256 MB buffer (best of 3): the flat scan's floor. */
static double stream_gbps(void)
{
    size_t n = (256u << 20) / sizeof(uint64_t);
    uint64_t *b = malloc(n * sizeof *b);
    if (!b) return 0;
    for (size_t i = 0; i < n; i++) b[i] = i;
    double best = 1e30;
    volatile uint64_t sink;
    for (int pass = 0; pass < 3; pass++) {
        double t0 = now_ms();
        uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (size_t i = 0; i < n; i += 4) {
            s0 += b[i];
            s1 += b[i + 1];
            s2 += b[i + 2];
            s3 += b[i + 3];
        }
        sink = s0 + s1 + s2 + s3;
        double ms = now_ms() - t0;
        best = ms < best ? ms : best;
    }
    (void)sink;
    free(b);
    return (double)(n * sizeof *b) / (best / 1e3) / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void usage(FILE *o)
{
    fprintf(o, "usage: hutch-vindex-bench search|dbscan|rows [--rows N] [--dim D] [--storage f32|i8]\n"
               "       [--queries Q] [--shapes S] [--threads T] [--scalar]\n"
               "       [--data uniform|clustered] [--kinds K] [--partitions N]\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 ||
        (strcmp(argv[1], "search") != 0 && strcmp(argv[1], "dbscan") != 0 && strcmp(argv[1], "rows") != 0)) {
        usage(stderr);
        return 2;
    }
    const char *mode = argv[1];
    long rows = 1000000, dim = 384, queries = 20, shapes = 0, threads = 1, partitions = 0, kinds = 2000;
    bool clustered = false;
    vindex_storage st = VINDEX_F32;
    static const struct option opts[] = {
        {"rows", required_argument, NULL, 'r'},
        {"dim", required_argument, NULL, 'd'},
        {"storage", required_argument, NULL, 's'},
        {"queries", required_argument, NULL, 'q'},
        {"shapes", required_argument, NULL, 'S'},
        {"scalar", no_argument, NULL, 'x'},
        {"threads", required_argument, NULL, 't'},
        {"data", required_argument, NULL, 'D'},
        {"partitions", required_argument, NULL, 'P'},
        {"kinds", required_argument, NULL, 'K'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'r': rows = atol(optarg); break;
        case 'd': dim = atol(optarg); break;
        case 'q': queries = atol(optarg); break;
        case 'S': shapes = atol(optarg); break;
        case 't': threads = atol(optarg); break;
        case 'x': vindex_use_scalar(true); break;
        case 'P': partitions = atol(optarg); break;
        case 'K': kinds = atol(optarg); break;
        case 'D':
            if (strcmp(optarg, "uniform") == 0 || strcmp(optarg, "clustered") == 0) clustered = optarg[0] == 'c';
            else {
                fprintf(stderr, "hutch-vindex-bench: --data is uniform or clustered, not '%s'\n", optarg);
                return 2;
            }
            break;
        case 's':
            if (strcmp(optarg, "f32") == 0)
                st = VINDEX_F32;
            else if (strcmp(optarg, "i8") == 0)
                st = VINDEX_I8;
            else {
                fprintf(stderr, "hutch-vindex-bench: --storage is f32 or i8, not '%s'\n", optarg);
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (rows < 1 || dim < 1 || dim > 4096 || queries < 1 || shapes < 0 || threads < 1 || threads > 64 ||
        partitions < 0 || kinds < 1) {
        fprintf(stderr, "hutch-vindex-bench: --rows, --queries, --kinds >= 1, --dim 1..4096, --shapes, "
                        "--partitions >= 0, --threads 1..64\n");
        return 2;
    }
    if (strcmp(mode, "rows") == 0) {
        model m = {0};
        float *r = malloc((size_t)dim * sizeof *r);
        if (clustered) model_init(&m, kinds, (int)dim);
        for (long n = 0; n < rows; n++) {
            if (clustered) model_row(&m, r, (int)dim);
            else random_unit(r, (int)dim);
            printf("%ld\t{", n);
            for (long i = 0; i < dim; i++) printf(i ? ",%.9g" : "%.9g", (double)r[i]);
            fputs("}\n", stdout);
        }
        free(r);
        free(m.g);
        free(m.kind);
        return fflush(stdout) == 0 ? 0 : 1;
    }
    vindex *ix = vindex_new((int)dim, st);
    if (!ix || vindex_reserve(ix, (size_t)rows) != 0) {
        fprintf(stderr, "hutch-vindex-bench: out of memory for %ld rows\n", rows);
        return 1;
    }
    vindex_set_threads(ix, (int)threads);
    float *v = malloc((size_t)dim * sizeof *v);

    if (strcmp(mode, "search") == 0) {
        model m = {0};
        if (clustered) model_init(&m, kinds, (int)dim);
        for (long r = 0; r < rows; r++) {
            if (clustered) model_row(&m, v, (int)dim);
            else random_unit(v, (int)dim);
            vindex_add(ix, (uint64_t)r, v);
        }
        double build_ms = 0, build_cpu_ms = 0;
        if (partitions > 0) {
            double t0 = now_ms(), c0 = cpu_ms();
            if (vindex_partition(ix, (size_t)partitions) != 0) {
                fprintf(stderr, "hutch-vindex-bench: out of memory partitioning\n");
                return 1;
            }
            build_ms = now_ms() - t0;
            build_cpu_ms = cpu_ms() - c0;
        }
        double *t = malloc((size_t)queries * sizeof *t), *ct = malloc((size_t)queries * sizeof *ct);
        vindex_hit hits[10];
        for (long q = 0; q < queries; q++) {
            if (clustered) model_row(&m, v, (int)dim);
            else random_unit(v, (int)dim);
            double t0 = now_ms(), c0 = cpu_ms();
            if (vindex_search(ix, v, 10, -2.0f, NULL, NULL, hits) != 10) {
                fprintf(stderr, "hutch-vindex-bench: search failed\n");
                return 1;
            }
            t[q] = now_ms() - t0;
            ct[q] = cpu_ms() - c0;
        }
        qsort(t, (size_t)queries, sizeof *t, cmp_double);
        qsort(ct, (size_t)queries, sizeof *ct, cmp_double);
        double gbps = stream_gbps();
        double row_bytes =
            (double)rows * (st == VINDEX_F32 ? ((dim + 31) / 32 * 32) * 4.0 : (dim + 31) / 32 * 32 + 4.0);
        printf("{\"bench\":\"search\",\"kernel\":\"%s\",\"threads\":%ld,\"storage\":\"%s\",\"data\":\"%s\","
               "\"rows\":%ld,\"dim\":%ld,\"partitions\":%zu,\"build_ms\":%.0f,\"build_cpu_ms\":%.0f,"
               "\"k\":10,\"queries\":%ld,\"median_ms\":%.2f,\"p90_ms\":%.2f,\"max_ms\":%.2f,\"median_cpu_ms\":%.2f,"
               "\"stream_gbps\":%.1f,\"flat_floor_ms\":%.1f,\"index_mb_per_million\":%.1f,\"rss_mb\":%.1f}\n",
               vindex_kernel_name(), threads, st == VINDEX_F32 ? "f32" : "i8", clustered ? "clustered" : "uniform",
               rows, dim, vindex_partitions(ix), build_ms, build_cpu_ms, queries, t[queries / 2], t[queries * 9 / 10],
               t[queries - 1], ct[queries / 2], gbps, gbps > 0 ? row_bytes / gbps / 1e6 : 0,
               vindex_memory(ix) / 1048576.0 * 1e6 / rows, rss_kb() / 1024.0);
        free(m.g);
        free(m.kind);
        free(t);
        free(ct);
    } else {
        if (shapes == 0 || shapes > rows)
            shapes = rows;
        long topics = shapes / 20 > 0 ? shapes / 20 : 1; /* 20 shapes to a topic */
        float *topic = malloc((size_t)topics * dim * sizeof *topic);
        float *shape = malloc((size_t)shapes * dim * sizeof *shape);
        for (long k = 0; k < topics; k++) {
            for (long i = 0; i < dim; i++)
                topic[k * dim + i] = uniform();
            normalise(topic + k * dim, (int)dim);
        }
        for (long s = 0; s < shapes; s++) { /* a shape near its topic: cos ~ 0.9 */
            long k = s % topics;
            for (long i = 0; i < dim; i++)
                shape[s * dim + i] = s % 10 == 9 ? uniform() : topic[k * dim + i] + 0.028f * uniform();
            normalise(shape + s * dim, (int)dim);
        }
        for (long r = 0; r < rows; r++)
            vindex_add(ix, (uint64_t)r, shape + (r < shapes ? r : (long)((uniform() + 1) / 2 * shapes) % shapes) * dim);
        int32_t *labels = malloc((size_t)rows * sizeof *labels);
        dbscan_params p = {DBSCAN_DEFAULT_EPS, DBSCAN_DEFAULT_MIN_SAMPLES, 0};
        double t0 = now_ms(), c0 = cpu_ms();
        int nc = dbscan_run(ix, &p, labels);
        double ms = now_ms() - t0, cms = cpu_ms() - c0;
        long noise = 0;
        for (long r = 0; r < rows; r++)
            noise += labels[r] == DBSCAN_NOISE;
        printf("{\"bench\":\"dbscan\",\"kernel\":\"%s\",\"storage\":\"%s\",\"rows\":%ld,\"dim\":%ld,"
               "\"distinct\":%ld,\"eps\":%.2f,\"min_samples\":%d,\"clusters\":%d,\"noise\":%ld,"
               "\"ms\":%.0f,\"cpu_ms\":%.0f,\"rss_mb\":%.1f}\n",
               vindex_kernel_name(), st == VINDEX_F32 ? "f32" : "i8", rows, dim, shapes, p.eps, p.min_samples, nc,
               noise, ms, cms, rss_kb() / 1024.0);
        free(labels);
        free(topic);
        free(shape);
    }
    free(v);
    vindex_free(ix);
    return 0;
}
