/* hutchctl alert similar | ticket similar | ticket suggest: similarity over the vectors
 * hutch-cluster stored (embeddings: one row per alert with its shape hash;
 * shape_embeddings: one vector per shape and embedder; ticket_shapes: a ticket's shapes).
 *
 * Alerts of one shape share one vector, so the searches run over shapes, not alerts:
 * the vectors are read once per shape into a vindex (common/vindex.h, exact top-k with
 * the AVX2 kernel), and alerts or tickets are attached to the shapes found.
 *   - alert similar ID: the shapes most like the alert's, from hutch-cluster's
 *     similarity index (GET /v1/similar: the shapes of its HUTCH_CLUSTER_INDEX_WINDOW,
 *     services/cluster/shape_index.h), best first (score = cosine of the shapes), then
 *     their alerts of that window from Postgres, newest first;
 *   - ticket similar ID: every other ticket scored by its best shape against the best
 *     of ID's (max over pairs): common/similar.h, the ranking Slack's bind modal uses;
 *   - ticket suggest: DBSCAN (services/cluster/dbscan.h; --eps, --min-samples, Warren's
 *     0.3 / 2) over the alerts of the last SUGGEST_WINDOW that are unbound or in open
 *     tickets; a group is suggested when binding kept it apart (its alerts are in more
 *     than one ticket, or some are unbound): suggestions only, nothing is bound.
 * Vectors are compared only with vectors of the same embedder and size. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/output.h"
#include "common/fetch.h"
#include "common/ids.h"
#include "common/similar.h"
#include "common/vindex.h"
#include "services/cluster/dbscan.h"

#define SUGGEST_WINDOW "24 hours"
#define MAX_ALERTS 500000
#define GROUP_SAMPLE 20

static const col_spec similar_alert_cols[] = {
    {"score", "SCORE", COL_SCORE, 0},
    {"alert_id", "ALERT", COL_TEXT, 0},
    {"created_at", "CREATED", COL_TIME, 0},
    {"schema", "SCHEMA", COL_TEXT, 12},
    {"ticket_id", "TICKET", COL_TEXT, 0},
    {"title", "TITLE", COL_TEXT, 60},
    {NULL},
};

static const col_spec similar_ticket_cols[] = {
    {"score", "SCORE", COL_SCORE, 0},
    {"ticket_id", "TICKET", COL_TEXT, 0},
    {"status", "STATUS", COL_TEXT, 0},
    {"severity", "SEVERITY", COL_TEXT, 0},
    {"alert_count", "ALERTS", COL_TEXT, 0},
    {"title", "TITLE", COL_TEXT, 60},
    {NULL},
};

static const col_spec suggest_cols[] = {
    {"group", "GROUP", COL_TEXT, 0},
    {"alerts", "ALERTS", COL_TEXT, 0},
    {"unbound", "UNBOUND", COL_TEXT, 0},
    {"ticket_count", "TICKETS", COL_TEXT, 0},
    {"sample_title", "SAMPLE TITLE", COL_TEXT, 60},
    {NULL},
};

static int print_doc(cli *c, json_t *doc, const col_spec *cols)
{
    if (!doc) {
        cli_error("out of memory");
        return CLI_FAIL;
    }
    if (c->json)
        output_json(stdout, doc);
    else
        output_table(stdout, doc, cols);
    json_decref(doc);
    return CLI_OK;
}

static PGresult *query(cli *c, const char *sql, int n, const char *const *p)
{
    pg *db = cli_db(c);
    PGresult *r = NULL;
    if (!db)
        return NULL;
    if (pg_exec(db, &r, sql, n, p) != PG_OK) {
        cli_error("query failed (see the log line above)");
        PQclear(r);
        return NULL;
    }
    return r;
}

/* Asks hutch-cluster's similarity index (GET /v1/similar) for the shapes of its window
 * most like `hash`: a NEW document {embedder, window_ms, shapes: [{shape_hash, score}]}
 * or NULL with the error printed. */
static json_t *ask_cluster(cli *c, const char *hash, int64_t limit)
{
    const char *base = c->cfg.cluster_url;
    size_t blen = strlen(base);
    while (blen && base[blen - 1] == '/')
        blen--;
    char *url = NULL, *body = NULL, err[256] = "";
    size_t len = 0;
    if (asprintf(&url, "%.*s/v1/similar?shape_hash=%s&limit=%" PRId64, (int)blen, base, hash, limit) < 0) {
        cli_error("out of memory");
        return NULL;
    }
    fetch_options o = {.timeout_ms = 30000, .max_bytes = 4 << 20, .allow_http = true};
    json_t *doc = NULL;
    if (fetch_get(url, &o, &body, &len, err, sizeof err) != 0)
        cli_error("hutch-cluster's similarity index at %.*s: %s", (int)blen, base, err);
    else if (!(doc = json_loadb(body, len, 0, NULL)) || !json_is_array(json_object_get(doc, "shapes")))
        cli_error("hutch-cluster's similarity index answered what is not its document");
    free(url);
    free(body);
    return doc && json_is_array(json_object_get(doc, "shapes")) ? doc : (json_decref(doc), NULL);
}

int cmd_alert_similar(cli *c)
{
    const char *id = c->args[0];
    if (!ids_is_uuid(id)) {
        cli_error("not an alert id: \"%s\"", id);
        return CLI_USAGE;
    }
    const char *p1[] = {id};
    PGresult *me = query(c, "SELECT shape_hash, model FROM embeddings WHERE alert_id = $1::uuid", 1, p1);
    if (!me)
        return CLI_FAIL;
    if (PQntuples(me) == 0 || PQgetisnull(me, 0, 0)) {
        cli_error("alert %s has no embedding (not clustered yet, or unknown)", id);
        PQclear(me);
        return CLI_FAIL;
    }
    /* the alerts of limit + 1 shapes are enough: every shape of the window has an alert,
     * and only the query's own shape may have no other */
    json_t *found = ask_cluster(c, PQgetvalue(me, 0, 0), c->limit + 1);
    const char *embedder = json_string_value(json_object_get(found, "embedder"));
    int rc = CLI_FAIL;
    if (found && (!embedder || strcmp(embedder, PQgetvalue(me, 0, 1)) != 0)) {
        cli_error("alert %s was embedded by %s; hutch-cluster's index holds %s's vectors", id, PQgetvalue(me, 0, 1),
                  embedder ? embedder : "another embedder");
        found = (json_decref(found), NULL);
    }
    if (found) {
        /* the alerts of the best shapes, in the shapes' order, newest first */
        pg_array hashes, scores;
        pg_array_init(&hashes);
        pg_array_init(&scores);
        json_t *shapes = json_object_get(found, "shapes"), *sh;
        size_t i;
        json_array_foreach (shapes, i, sh) {
            pg_array_add(&hashes, json_string_value(json_object_get(sh, "shape_hash")));
            pg_array_addf(&scores, "%.6f", json_number_value(json_object_get(sh, "score")));
        }
        char limit[24], window[24];
        snprintf(limit, sizeof limit, "%" PRId64, c->limit);
        snprintf(window, sizeof window, "%" JSON_INTEGER_FORMAT,
                 json_integer_value(json_object_get(found, "window_ms")));
        const char *p3[] = {pg_array_text(&hashes), pg_array_text(&scores), id, limit, window};
        bool got;
        json_t *doc =
            p3[0] && p3[1]
                ? cli_query_json(
                      c,
                      "WITH s AS (SELECT h, sc, ord FROM unnest($1::text[], $2::float8[]) WITH ORDINALITY AS s(h, sc, "
                      "ord)) "
                      "SELECT coalesce(json_agg(x ORDER BY x.ord, x.created_at DESC, x.alert_id), '[]')::text FROM ("
                      " SELECT round(s.sc::numeric, 4) AS score, a.alert_id, a.created_at, a.schema, a.ticket_id, "
                      "a.title,"
                      "  s.ord FROM s JOIN embeddings e ON e.shape_hash = s.h JOIN alerts a USING (alert_id)"
                      " WHERE e.alert_id <> $3::uuid AND e.created_at >= now() - $5::bigint * interval '1 millisecond'"
                      " ORDER BY s.ord, a.created_at DESC, a.alert_id LIMIT $4::int) x",
                      5, p3, &got)
                : NULL;
        if (doc) {
            for (size_t k = 0; k < json_array_size(doc); k++)
                json_object_del(json_array_get(doc, k), "ord");
            rc = print_doc(c, doc, similar_alert_cols);
        }
        pg_array_free(&hashes);
        pg_array_free(&scores);
    }
    json_decref(found);
    PQclear(me);
    return rc;
}

int cmd_ticket_similar(cli *c)
{
    const char *id = c->args[0];
    if (!ids_is_uuid(id)) {
        cli_error("not a ticket id: \"%s\"", id);
        return CLI_USAGE;
    }
    pg *db = cli_db(c);
    if (!db)
        return CLI_FAIL;
    similar_query q = {.ticket_id = id, .limit = c->limit > 0 ? (size_t)c->limit : 1};
    similar_ticket *found = NULL;
    size_t n = 0;
    char err[256] = "";
    int src = similar_tickets(db, &q, &found, &n, err, sizeof err);
    if (src == SIMILAR_NO_VECTORS) {
        cli_error("ticket %s has no embedded alert shapes (unknown ticket, or made before embeddings)", id);
        return CLI_FAIL;
    }
    if (src != PG_OK) {
        cli_error("%s", err);
        return CLI_FAIL;
    }
    pg_array ids, scores;
    pg_array_init(&ids);
    pg_array_init(&scores);
    for (size_t k = 0; k < n; k++) {
        pg_array_add(&ids, found[k].ticket_id);
        pg_array_addf(&scores, "%.6f", found[k].score);
    }
    free(found);
    const char *p[] = {pg_array_text(&ids), pg_array_text(&scores)};
    bool got;
    int rc = CLI_FAIL;
    /* the ranking's order (similar.h), with what a person reads beside it */
    json_t *doc = p[0] && p[1]
                      ? cli_query_json(c,
                                       "SELECT coalesce(json_agg(x ORDER BY x.ord), '[]')::text FROM ("
                                       " SELECT s.ord, round(s.sc::numeric, 4) AS score, t.ticket_id,"
                                       "  t.status, t.severity, t.alert_count, t.title"
                                       " FROM unnest($1::uuid[], $2::float8[]) WITH ORDINALITY AS s(id, sc, ord)"
                                       " JOIN tickets t ON t.ticket_id = s.id) x",
                                       2, p, &got)
                      : NULL;
    if (doc) {
        for (size_t i = 0; i < json_array_size(doc); i++)
            json_object_del(json_array_get(doc, i), "ord");
        rc = print_doc(c, doc, similar_ticket_cols);
    }
    pg_array_free(&ids);
    pg_array_free(&scores);
    return rc;
}

static int parse_params(cli *c, dbscan_params *p)
{
    p->eps = DBSCAN_DEFAULT_EPS;
    p->min_samples = DBSCAN_DEFAULT_MIN_SAMPLES;
    p->neighbours = DBSCAN_AUTO;
    char *end = NULL;
    if (c->eps) {
        errno = 0;
        double e = strtod(c->eps, &end);
        if (errno || end == c->eps || *end || !(e > 0 && e <= 2)) {
            cli_error("--eps wants a cosine distance in (0, 2]");
            return -1;
        }
        p->eps = (float)e;
    }
    if (c->min_samples) {
        errno = 0;
        long m = strtol(c->min_samples, &end, 10);
        if (errno || end == c->min_samples || *end || m < 1 || m > 1000000) {
            cli_error("--min-samples wants a number from 1");
            return -1;
        }
        p->min_samples = (int)m;
    }
    return 0;
}

int cmd_ticket_suggest(cli *c)
{
    dbscan_params params;
    if (parse_params(c, &params) != 0)
        return CLI_USAGE;
    /* the window's alerts (unbound, or in open tickets) of the most used embedder, and
     * its shapes' vectors */
    static const char sql_rows[] =
        "WITH m AS (SELECT model, dims FROM embeddings WHERE created_at >= now() - interval '" SUGGEST_WINDOW "'"
        " AND shape_hash IS NOT NULL GROUP BY 1, 2 ORDER BY count(*) DESC, 1 LIMIT 1) "
        "SELECT e.alert_id::text, coalesce(b.ticket_id::text, ''), s.vector::text, a.title, s.dims"
        " FROM embeddings e JOIN m ON m.model = e.model AND m.dims = e.dims"
        " JOIN shape_embeddings s ON s.shape_hash = e.shape_hash AND s.embedder = e.model AND s.dims = e.dims"
        " JOIN alerts a ON a.alert_id = e.alert_id"
        " LEFT JOIN ticket_alerts b ON b.alert_id = e.alert_id LEFT JOIN tickets t ON t.ticket_id = b.ticket_id"
        " WHERE e.created_at >= now() - interval '" SUGGEST_WINDOW "' AND (b.ticket_id IS NULL OR t.status = 'open')"
        " ORDER BY e.shape_hash, e.alert_id LIMIT 500000";
    PGresult *r = query(c, sql_rows, 0, NULL);
    if (!r)
        return CLI_FAIL;
    int n = PQntuples(r);
    json_t *groups = json_array();
    int rc = CLI_FAIL;
    if (n == 0) {
        rc = print_doc(c, groups, suggest_cols);
        PQclear(r);
        return rc;
    }
    int dim = atoi(PQgetvalue(r, 0, 4));
    vindex *ix = vindex_new(dim, VINDEX_F32);
    int32_t *labels = calloc((size_t)n, sizeof *labels);
    bool ok = ix && labels && vindex_reserve(ix, (size_t)n) == 0;
    /* rows come ordered by shape: a shape's vector is parsed once */
    float *v = NULL;
    for (int k = 0; ok && k < n; k++) {
        if (k == 0 || strcmp(PQgetvalue(r, k, 2), PQgetvalue(r, k - 1, 2)) != 0) {
            free(v);
            v = vindex_parse_vector(PQgetvalue(r, k, 2), dim);
        }
        ok = v && vindex_add(ix, (uint64_t)k, v) == 0;
    }
    free(v);
    int nclusters = ok ? dbscan_run(ix, &params, labels) : -2;
    if (nclusters < 0) {
        cli_error(nclusters == -1 ? "bad DBSCAN parameters" : "out of memory");
    } else {
        for (int g = 0; g < nclusters && (int64_t)json_array_size(groups) < c->limit; g++) {
            json_t *alerts = json_array(), *tickets = json_array();
            size_t size = 0, unbound = 0;
            const char *sample = "";
            for (int k = 0; k < n; k++) {
                if (labels[k] != g)
                    continue;
                const char *t = PQgetvalue(r, k, 1);
                if (!size)
                    sample = PQgetvalue(r, k, 3);
                size++;
                if (json_array_size(alerts) < GROUP_SAMPLE)
                    json_array_append_new(alerts, json_string(PQgetvalue(r, k, 0)));
                if (!*t) {
                    unbound++;
                    continue;
                }
                bool seen = false;
                for (size_t i = 0; i < json_array_size(tickets) && !seen; i++)
                    seen = !strcmp(json_string_value(json_array_get(tickets, i)), t);
                if (!seen)
                    json_array_append_new(tickets, json_string(t));
            }
            /* suggested only when binding kept the group apart */
            if (json_array_size(tickets) + (unbound ? 1 : 0) < 2 && !(unbound && size >= 2)) {
                json_decref(alerts);
                json_decref(tickets);
                continue;
            }
            json_array_append_new(groups, json_pack("{s:i, s:I, s:I, s:I, s:s, s:o, s:o}", "group", g, "alerts",
                                                    (json_int_t)size, "unbound", (json_int_t)unbound, "ticket_count",
                                                    (json_int_t)json_array_size(tickets), "sample_title", sample,
                                                    "alert_ids", alerts, "tickets", tickets));
        }
        rc = print_doc(c, json_incref(groups), suggest_cols);
    }
    json_decref(groups);
    free(labels);
    vindex_free(ix);
    PQclear(r);
    return rc;
}
