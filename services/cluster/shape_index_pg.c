/* shape_index_refresh (shape_index.h): the shapes of recent alerts from Postgres. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/log.h"
#include "services/cluster/shape_index.h"

/* Every shape with an alert embedded since $3 (ms), and its newest alert's time. */
static const char sql_recent[] =
    "SELECT shape_hash, (extract(epoch FROM max(created_at)) * 1000)::bigint FROM embeddings"
    " WHERE created_at >= to_timestamp($3::float8 / 1000) AND model = $1 AND dims = $2::int"
    " AND shape_hash IS NOT NULL GROUP BY shape_hash";
/* The vectors of the shapes $3 (with their times $4, handed back), in binary. */
static const char sql_vectors[] =
    "SELECT s.shape_hash, array_send(s.vector), x.ms FROM unnest($3::text[], $4::bigint[]) AS x(h, ms)"
    " JOIN shape_embeddings s ON s.shape_hash = x.h AND s.embedder = $1 AND s.dims = $2::int";

#define VECTOR_PAGE 10000

static int rc_of(int rc) { return rc == PG_OK ? PG_OK : rc == PG_RETRY ? PG_RETRY : PG_FATAL; }

/* One page of new shapes: their vectors into ix. */
static int add_vectors(shape_index *ix, pg *db, const char *embedder, const char *dims, pg_array *hashes,
                       pg_array *times, size_t *added)
{
    const char *p[] = {embedder, dims, pg_array_text(hashes), pg_array_text(times)};
    PGresult *vec = NULL;
    int rc = p[2] && p[3] ? rc_of(pg_exec(db, &vec, sql_vectors, 4, p)) : PG_RETRY;
    for (int i = 0; rc == PG_OK && i < PQntuples(vec); i++) {
        float *v = pg_real_array_decode(PQgetvalue(vec, i, 1), shape_index_dim(ix));
        if (!v) {
            LOG_WARN("shape_index_bad_vector", "shape_hash", PQgetvalue(vec, i, 0), "embedder", embedder, NULL);
            continue;
        }
        int t = shape_index_touch(ix, PQgetvalue(vec, i, 0), v, strtoll(PQgetvalue(vec, i, 2), NULL, 10));
        free(v);
        if (t < 0)
            rc = PG_RETRY; /* out of memory */
        else
            *added += (size_t)t;
    }
    PQclear(vec);
    return rc;
}

int shape_index_refresh(shape_index *ix, pg *db, const char *embedder, int64_t since_ms, int64_t *newest_ms,
                        size_t *added, volatile sig_atomic_t *stop)
{
    *added = 0;
    char dims[16], since[24];
    snprintf(dims, sizeof dims, "%d", shape_index_dim(ix));
    snprintf(since, sizeof since, "%" PRId64, since_ms);
    PGresult *recent = NULL;
    int rc = rc_of(pg_exec(db, &recent, sql_recent, 3, (const char *const[]){embedder, dims, since}));
    pg_array hashes, times;
    pg_array_init(&hashes);
    pg_array_init(&times);
    int rows = rc == PG_OK ? PQntuples(recent) : 0;
    for (int i = 0; rc == PG_OK && i < rows; i++) {
        const char *hash = PQgetvalue(recent, i, 0);
        int64_t ms = strtoll(PQgetvalue(recent, i, 1), NULL, 10);
        if (ms > *newest_ms)
            *newest_ms = ms;
        if (shape_index_has(ix, hash)) {
            if (shape_index_touch(ix, hash, NULL, ms) < 0)
                rc = PG_RETRY;
        } else {
            pg_array_add(&hashes, hash);
            pg_array_add(&times, PQgetvalue(recent, i, 1));
        }
        /* the new shapes' vectors, a page at a time (a start loads the whole window) */
        if (rc == PG_OK && stop && *stop)
            rc = PG_RETRY;
        if (rc == PG_OK && hashes.n && (hashes.n == VECTOR_PAGE || i == rows - 1)) {
            rc = add_vectors(ix, db, embedder, dims, &hashes, &times, added);
            pg_array_free(&hashes);
            pg_array_free(&times);
            pg_array_init(&hashes);
            pg_array_init(&times);
        }
    }
    pg_array_free(&hashes);
    pg_array_free(&times);
    PQclear(recent);
    return rc;
}
