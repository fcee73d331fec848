/* shapes: memory cache, shape_embeddings, then one embedder call (see shapes.h).
 *
 * The memory table is open addressing on the first 16 hex digits of the hash (a
 * SHA-256: uniform), power-of-two sized, emptied when it would pass SHAPES_MEMORY_MAX
 * (a restarted instance refills from Postgres; nothing is lost but a query). */
#include "services/cluster/shapes.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/shape.h"
#include "common/strbuf.h"
#include "common/vindex.h"

typedef struct {
    char hash[SHAPE_HASH_LEN]; /* "" = empty slot */
    float *vec;                /* dim floats, owned */
} slot;

struct shapes {
    embedder *e;
    slot *slots;
    size_t cap, used;
};

shapes *shapes_new(embedder *e)
{
    shapes *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->e = e;
    s->cap = 1024;
    s->slots = calloc(s->cap, sizeof *s->slots);
    if (!s->slots) {
        free(s);
        return NULL;
    }
    return s;
}

static void clear(shapes *s)
{
    for (size_t i = 0; i < s->cap; i++) {
        free(s->slots[i].vec);
        s->slots[i].vec = NULL;
        s->slots[i].hash[0] = 0;
    }
    s->used = 0;
}

void shapes_free(shapes *s)
{
    if (!s)
        return;
    clear(s);
    free(s->slots);
    free(s);
}

void shapes_trim(shapes *s)
{
    if (s->used > SHAPES_MEMORY_MAX)
        clear(s);
}

int shapes_dim(const shapes *s) { return embedder_dim(s->e); }
const char *shapes_embedder_name(const shapes *s) { return embedder_name(s->e); }

float shapes_dot(const shapes *s, const float *a, const float *b)
{
    int dim = shapes_dim(s);
    float acc = 0;
    for (int i = 0; i < dim; i++)
        acc += a[i] * b[i];
    return acc;
}

static size_t slot_of(const shapes *s, const char *hash)
{
    char head[17];
    memcpy(head, hash, 16);
    head[16] = 0;
    size_t i = (size_t)strtoull(head, NULL, 16) & (s->cap - 1);
    while (s->slots[i].hash[0] && strcmp(s->slots[i].hash, hash))
        i = (i + 1) & (s->cap - 1);
    return i;
}

static const float *lookup(const shapes *s, const char *hash)
{
    if (strlen(hash) != SHAPE_HASH_LEN - 1)
        return NULL;
    const slot *x = &s->slots[slot_of(s, hash)];
    return x->hash[0] ? x->vec : NULL;
}

/* Takes vec (owned). 0, -1 on out of memory (vec freed). */
static int insert(shapes *s, const char *hash, float *vec)
{
    if (strlen(hash) != SHAPE_HASH_LEN - 1) {
        free(vec);
        return 0;
    }
    if ((s->used + 1) * 2 > s->cap) {
        {
            slot *old = s->slots;
            size_t old_cap = s->cap;
            slot *grown = calloc(old_cap * 2, sizeof *grown);
            if (!grown) {
                free(vec);
                return -1;
            }
            s->slots = grown;
            s->cap = old_cap * 2;
            for (size_t i = 0; i < old_cap; i++)
                if (old[i].hash[0])
                    s->slots[slot_of(s, old[i].hash)] = old[i];
            free(old);
        }
    }
    slot *x = &s->slots[slot_of(s, hash)];
    if (x->hash[0]) {
        free(vec); /* there already */
        return 0;
    }
    memcpy(x->hash, hash, SHAPE_HASH_LEN);
    x->vec = vec;
    s->used++;
    return 0;
}

/* The real[] literal of v into b. */
static void vector_literal(strbuf *b, const float *v, int dim)
{
    strbuf_puts(b, "{");
    for (int i = 0; i < dim; i++)
        strbuf_printf(b, i ? ",%.9g" : "%.9g", (double)v[i]);
    strbuf_puts(b, "}");
}

/* Reads the misses' vectors (under this embedder, this size) from shape_embeddings, and
 * the texts of those that have none here but were stored under another embedder. */
static int read_stored(shapes *s, pg *db, const char *const *hashes, size_t n, const bool *miss, char **texts_out,
                       uint64_t *found)
{
    pg_array h;
    pg_array_init(&h);
    for (size_t i = 0; i < n; i++)
        if (miss[i])
            pg_array_add(&h, hashes[i]);
    char dim[16];
    snprintf(dim, sizeof dim, "%d", shapes_dim(s));
    const char *p[] = {pg_array_text(&h), shapes_embedder_name(s), dim};
    PGresult *r = NULL;
    int rc = !p[0]      ? PG_RETRY
             : h.n == 0 ? PG_OK
                        : pg_exec(db, &r,
                                  "SELECT DISTINCT ON (shape_hash) shape_hash,"
                                  " CASE WHEN embedder = $2 AND dims = $3::int THEN vector::text END, shape_text "
                                  "FROM shape_embeddings WHERE shape_hash = ANY($1::text[]) "
                                  "ORDER BY shape_hash, (embedder = $2 AND dims = $3::int) DESC",
                                  3, p);
    for (int k = 0; rc == PG_OK && r && k < PQntuples(r); k++) {
        const char *hash = PQgetvalue(r, k, 0);
        float *v = PQgetisnull(r, k, 1) ? NULL : vindex_parse_vector(PQgetvalue(r, k, 1), shapes_dim(s));
        if (v) {
            if (insert(s, hash, v) != 0)
                rc = PG_RETRY;
            (*found)++;
            continue;
        }
        for (size_t i = 0; i < n; i++)
            if (miss[i] && !texts_out[i] && !strcmp(hashes[i], hash)) {
                texts_out[i] = strdup(PQgetvalue(r, k, 2));
                if (!texts_out[i])
                    rc = PG_RETRY;
            }
    }
    PQclear(r);
    pg_array_free(&h);
    return rc;
}

/* Stores the freshly embedded vectors, one statement. */
static int write_stored(shapes *s, pg *db, const char *const *hashes, const char *const *texts, const float *vecs,
                        size_t m)
{
    pg_array h, t, v;
    pg_array_init(&h);
    pg_array_init(&t);
    pg_array_init(&v);
    strbuf b = {0};
    int dim = shapes_dim(s);
    for (size_t i = 0; i < m; i++) {
        pg_array_add(&h, hashes[i]);
        pg_array_add(&t, texts[i]);
        strbuf_free(&b);
        vector_literal(&b, vecs + i * (size_t)dim, dim);
        pg_array_add(&v, b.p ? b.p : "{}");
    }
    char d[16];
    snprintf(d, sizeof d, "%d", dim);
    const char *p[] = {pg_array_text(&h), pg_array_text(&t), pg_array_text(&v), shapes_embedder_name(s), d};
    int rc = p[0] && p[1] && p[2] && !b.failed
                 ? pg_exec(db, NULL,
                           "INSERT INTO shape_embeddings (shape_hash, embedder, dims, vector, shape_text) "
                           "SELECT x.h, $4, $5::int, x.v::real[], x.t "
                           "FROM unnest($1::text[], $2::text[], $3::text[]) AS x(h, t, v) "
                           "ON CONFLICT DO NOTHING",
                           5, p)
                 : PG_RETRY;
    strbuf_free(&b);
    pg_array_free(&h);
    pg_array_free(&t);
    pg_array_free(&v);
    return rc;
}

int shapes_vectors(shapes *s, pg *db, const char *const *hashes, const char *const *texts, size_t n, const float **out,
                   shapes_stats *st)
{
    shapes_stats local = {0};
    bool *miss = calloc(n ? n : 1, sizeof *miss);
    char **fetched = calloc(n ? n : 1, sizeof *fetched);
    const char **todo_h = calloc(n ? n : 1, sizeof *todo_h), **todo_t = calloc(n ? n : 1, sizeof *todo_t);
    int rc = miss && fetched && todo_h && todo_t ? PG_OK : PG_RETRY;
    size_t n_miss = 0;
    for (size_t i = 0; rc == PG_OK && i < n; i++) {
        out[i] = shapes_dim(s) > 0 ? lookup(s, hashes[i]) : NULL;
        if (out[i]) {
            local.memory++;
            continue;
        }
        /* a hash twice in the batch is one miss */
        bool dup = false;
        for (size_t j = 0; j < i && !dup; j++)
            dup = miss[j] && !strcmp(hashes[j], hashes[i]);
        miss[i] = !dup;
        n_miss += !dup;
        local.memory += dup; /* served by the batch's first occurrence */
    }
    if (rc == PG_OK && n_miss && shapes_dim(s) > 0)
        rc = read_stored(s, db, hashes, n, miss, fetched, &local.database);
    size_t m = 0;
    for (size_t i = 0; rc == PG_OK && i < n; i++) {
        if (!miss[i] || (shapes_dim(s) > 0 && lookup(s, hashes[i])))
            continue;
        const char *text = texts && texts[i] ? texts[i] : fetched[i];
        if (!text)
            continue; /* only a hash, and no text stored anywhere */
        todo_h[m] = hashes[i];
        todo_t[m++] = text;
    }
    if (rc == PG_OK && m) {
        float *vecs = NULL;
        int64_t retry_after = 0;
        char err[512] = "";
        embed_result er = embedder_embed(s->e, todo_t, m, &vecs, &retry_after, err, sizeof err);
        if (er == EMBED_OK) {
            local.model += m;
            rc = write_stored(s, db, todo_h, todo_t, vecs, m);
            int dim = shapes_dim(s);
            for (size_t i = 0; rc == PG_OK && i < m; i++) {
                float *v = malloc((size_t)dim * sizeof *v);
                if (!v || (memcpy(v, vecs + i * (size_t)dim, (size_t)dim * sizeof *v), insert(s, todo_h[i], v)) != 0)
                    rc = PG_RETRY;
            }
        } else if (er == EMBED_RETRY) {
            LOG_WARN("cluster_embed_retry", "embedder", shapes_embedder_name(s), "error", err, NULL);
            rc = PG_RETRY;
        } else {
            /* a refusal that will not change: bind without similarity (actor and storm rules still hold) */
            LOG_ERROR("cluster_embed_failed", "embedder", shapes_embedder_name(s), "error", err, NULL);
            local.failed += m;
        }
        free(vecs);
    }
    for (size_t i = 0; rc == PG_OK && i < n; i++)
        if (!out[i] && shapes_dim(s) > 0)
            out[i] = lookup(s, hashes[i]);
    for (size_t i = 0; fetched && i < n; i++)
        free(fetched[i]);
    free(fetched);
    free(miss);
    free(todo_h);
    free(todo_t);
    if (st && rc == PG_OK) {
        st->memory += local.memory;
        st->database += local.database;
        st->model += local.model;
        st->failed += local.failed;
    }
    return rc;
}
