/* Tests for store.c against Postgres (HUTCH_TEST_DATABASE_URL, a database they may
 * wipe; skipped without it): the history rows a batch writes ("opened" for the tickets
 * it opens, "bound" for the others, seqs after the lifecycle module's), open tickets
 * only as candidates, a redelivered alert re-read, a declined alert never bound
 * again, and a storm (one ticket per actor, counted title, severity, one notifying
 * alert read back the same on redelivery, a person's title kept), and vectors
 * stored once per shape. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/ids.h"
#include "common/log.h"
#include "common/pg.h"
#include "common/shape.h"
#include "common/similar.h"
#include "common/ticket.h"
#include "services/cluster/cluster.h"
#include "services/cluster/store.h"

/* The hash embedder: vectors without a model. */
static shapes *test_shapes(void)
{
    static embed_config cfg = {
        .provider = "hash", .url = "", .model = "", .api_key = "", .local_dir = "", .timeout_ms = 1000, .batch = 64};
    static embedder *e;
    static shapes *s;
    char err[256];
    if (!s) {
        e = embedder_new(&cfg, err, sizeof err);
        if (!e)
            fail_msg("embedder: %s", err);
        s = shapes_new(e);
    }
    return s;
}

#define HOUR (3600 * 1000LL)

static pg *fresh_db(void)
{
    const char *url = getenv("HUTCH_TEST_DATABASE_URL");
    if (!url || !*url)
        skip();
    char err[512];
    pg *db = pg_connect(url, 5000, err, sizeof err);
    if (!db)
        fail_msg("connect: %s", err);
    assert_int_equal(pg_exec(db, NULL, "DROP SCHEMA public CASCADE", 0, NULL), PG_OK);
    assert_int_equal(pg_exec(db, NULL, "CREATE SCHEMA public", 0, NULL), PG_OK);
    if (pg_migrate(db, err, sizeof err) != 0)
        fail_msg("migrate: %s", err);
    return db;
}

static char *query1(pg *db, const char *sql, const char *p1)
{
    PGresult *r = NULL;
    assert_int_equal(pg_exec(db, &r, sql, p1 ? 1 : 0, p1 ? (const char *const[]){p1} : NULL), PG_OK);
    char *out = strdup(PQntuples(r) && !PQgetisnull(r, 0, 0) ? PQgetvalue(r, 0, 0) : "(null)");
    PQclear(r);
    return out;
}

static void check_query(pg *db, const char *sql, const char *p1, const char *want)
{
    char *got = query1(db, sql, p1);
    if (strcmp(got, want))
        fail_msg("%s [%s]: got \"%s\", want \"%s\"", sql, p1 ? p1 : "", got, want);
    free(got);
}

/* An alert of the batch: its row in alerts, and its cluster_row. */
typedef struct {
    char id[37], new_ticket_id[37], fp[CLUSTER_FINGERPRINT_LEN];
    const char *title;
    char shape[128], hash[SHAPE_HASH_LEN];
    bind_alert bind; /* no actor: the fingerprint key */
} alert_fixture;

static void add_alert(pg *db, alert_fixture *a, const char *title)
{
    char ev[37];
    ids_uuid7(a->id);
    ids_uuid7(ev);
    a->title = title;
    assert_int_equal(cluster_fingerprint("test", title, a->fp), 0);
    cluster_ticket_id(a->new_ticket_id, a->id, ids_now_ms());
    snprintf(a->shape, sizeof a->shape, "schema: test\ntitle: %s", title);
    assert_int_equal(shape_hash(a->shape, a->hash), 0);
    memset(&a->bind, 0, sizeof a->bind);
    snprintf(a->bind.keys[0], sizeof a->bind.keys[0], "fp:%s", a->fp);
    a->bind.n_keys = 1;
    assert_int_equal(pg_exec(db, NULL,
                             "INSERT INTO alerts (alert_id, event_id, trace_id, schema, title, severity)"
                             " VALUES ($1::uuid, $2::uuid, $2, 'test', $3, 'low')",
                             3, (const char *const[]){a->id, ev, title}),
                     PG_OK);
}

/* One batch of alerts in its own transaction, like the frame's; rows out. */
static void run_batch(pg *db, alert_fixture *const *alerts, size_t n, cluster_row *rows)
{
    const char *keys[8], *hashes[8], *texts[8];
    const float *vectors[8];
    for (size_t i = 0; i < n; i++) {
        keys[i] = alerts[i]->bind.keys[0];
        hashes[i] = alerts[i]->hash;
        texts[i] = alerts[i]->shape;
    }
    assert_int_equal(pg_begin(db), PG_OK);
    shapes_trim(test_shapes());
    assert_int_equal(shapes_vectors(test_shapes(), db, hashes, texts, n, vectors, NULL), PG_OK);
    for (size_t i = 0; i < n; i++)
        rows[i] = (cluster_row){.alert_id = alerts[i]->id,
                                .namespace_ = "",
                                .fingerprint = alerts[i]->fp,
                                .title = alerts[i]->title,
                                .severity = "low",
                                .shape_hash = alerts[i]->hash,
                                .vector = vectors[i],
                                .bind = &alerts[i]->bind,
                                .new_ticket_id = alerts[i]->new_ticket_id};
    cluster_store_params p = {.threshold = 0.9, .window_ms = HOUR};
    assert_int_equal(cluster_store_lock(db, keys, n), PG_OK);
    assert_int_equal(cluster_store_batch(db, test_shapes(), rows, n, &p), PG_OK);
    assert_int_equal(pg_commit(db), PG_OK);
}

static void test_history_rows(void **state)
{
    pg *db = fresh_db();
    alert_fixture a, b, c;
    add_alert(db, &a, "probe");
    add_alert(db, &b, "probe");
    add_alert(db, &c, "probe");
    cluster_row rows[3];
    run_batch(db, (alert_fixture *[]){&a, &b}, 2, rows);
    assert_true(rows[0].new_ticket && !rows[1].new_ticket);
    assert_string_equal(rows[0].ticket_id, rows[1].ticket_id);
    char t[37];
    snprintf(t, sizeof t, "%s", rows[0].ticket_id);
    /* one "opened" row holding both alerts of the batch */
    check_query(db,
                "SELECT string_agg(seq || ' ' || kind || ' ' || actor, ',' ORDER BY seq) FROM ticket_history"
                " WHERE ticket_id = $1::uuid",
                t, "1 opened hutch-cluster");
    check_query(db,
                "SELECT jsonb_array_length(detail->'alert_ids') || ' ' || (detail->>'title') FROM ticket_history"
                " WHERE ticket_id = $1::uuid",
                t, "2 probe");
    /* a person's change, then a batch binding: seqs go on */
    char err[256];
    assert_int_equal(ticket_assign(db, "user:ana", t, "bob", err, sizeof err), PG_OK);
    run_batch(db, (alert_fixture *[]){&c}, 1, rows);
    assert_string_equal(rows[0].ticket_id, t);
    check_query(db,
                "SELECT string_agg(seq || ' ' || kind, ',' ORDER BY seq) FROM ticket_history"
                " WHERE ticket_id = $1::uuid",
                t, "1 opened,2 assigned,3 bound");
    check_query(db, "SELECT history_seq || ' ' || alert_count FROM tickets WHERE ticket_id = $1::uuid", t, "3 3");
    /* a redelivery writes nothing */
    run_batch(db, (alert_fixture *[]){&c}, 1, rows);
    assert_true(rows[0].again);
    check_query(db, "SELECT count(*) FROM ticket_history WHERE ticket_id = $1::uuid", t, "3");
    pg_free(db);
}

static void test_open_only_and_declined(void **state)
{
    pg *db = fresh_db();
    alert_fixture a, b, c;
    add_alert(db, &a, "scan");
    add_alert(db, &b, "scan");
    add_alert(db, &c, "scan");
    cluster_row rows[2];
    run_batch(db, (alert_fixture *[]){&a, &b}, 2, rows);
    char t[37], err[256];
    snprintf(t, sizeof t, "%s", rows[0].ticket_id);
    /* a person declines b: redelivered, it is re-read as declined, never bound again */
    assert_int_equal(ticket_decline(db, "user:ana", t, b.id, err, sizeof err), PG_OK);
    run_batch(db, (alert_fixture *[]){&b}, 1, rows);
    assert_true(rows[0].again && rows[0].declined);
    check_query(db, "SELECT count(*) FROM ticket_alerts WHERE alert_id = $1::uuid", b.id, "0");
    /* an archived ticket takes no alert: c opens its own */
    assert_int_equal(ticket_archive(db, "user:ana", t, err, sizeof err), PG_OK);
    run_batch(db, (alert_fixture *[]){&c}, 1, rows);
    assert_true(rows[0].new_ticket);
    assert_string_not_equal(rows[0].ticket_id, t);
    check_query(db, "SELECT alert_count FROM tickets WHERE ticket_id = $1::uuid", t, "1");
    pg_free(db);
}

/* A port-scan storm over two batches: one ticket for the scanner, its title counted,
 * its severity raised at 100 probes or 5 hosts, one alert marked to notify -- and a
 * redelivered batch reads the same marks back. */
static void test_storm(void **state)
{
    pg *db = fresh_db();
    enum { N = 6 };
    alert_fixture a[N];
    cluster_row rows[N];
    const bind_storm_kind *ps = bind_storm_named("port_scan");
    for (int i = 0; i < N; i++) {
        add_alert(db, &a[i], "Unprotected port on EC2 instance is being probed.");
        memset(&a[i].bind, 0, sizeof a[i].bind);
        snprintf(a[i].bind.keys[0], sizeof a[i].bind.keys[0], "ip:198.51.100.7");
        a[i].bind.n_keys = 1;
        a[i].bind.storm = ps;
        snprintf(a[i].bind.storm_target, sizeof a[i].bind.storm_target, "i-%d", i);
    }
    run_batch(db, (alert_fixture *[]){&a[0], &a[1], &a[2]}, 3, rows);
    char t[37];
    snprintf(t, sizeof t, "%s", rows[0].ticket_id);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(rows[i].ticket_id, t);
        assert_string_equal(rows[i].notify, "quiet"); /* 3 probes on 3 hosts: low */
    }
    assert_string_equal(rows[2].ticket_title, "Port scan from 198.51.100.7: 3 probes on 3 hosts");
    check_query(db, "SELECT title || ' ' || severity FROM tickets WHERE ticket_id = $1::uuid", t,
                "Port scan from 198.51.100.7: 3 probes on 3 hosts low");
    run_batch(db, (alert_fixture *[]){&a[3], &a[4], &a[5]}, 3, rows);
    assert_string_equal(rows[0].notify, "quiet");
    assert_string_equal(rows[1].notify, "storm"); /* the 5th host: medium */
    assert_string_equal(rows[2].notify, "quiet");
    check_query(db, "SELECT title || ' ' || severity FROM tickets WHERE ticket_id = $1::uuid", t,
                "Port scan from 198.51.100.7: 6 probes on 6 hosts medium");
    check_query(db, "SELECT notify_alert_id::text FROM ticket_storms WHERE ticket_id = $1::uuid", t, a[4].id);
    /* every title and severity the storm set is in the history, with the batch that set it */
    check_query(db,
                "SELECT string_agg(kind || ' ' || jsonb_array_length(detail->'alert_ids') || ' ' || (detail->>'title')"
                " || ' ' || coalesce(detail->>'severity', '-'), '; ' ORDER BY seq) FROM ticket_history"
                " WHERE ticket_id = $1::uuid",
                t,
                "opened 3 Port scan from 198.51.100.7: 3 probes on 3 hosts low; "
                "bound 3 Port scan from 198.51.100.7: 6 probes on 6 hosts medium");
    /* redelivered: nothing written, the same marks */
    run_batch(db, (alert_fixture *[]){&a[3], &a[4], &a[5]}, 3, rows);
    assert_true(rows[0].again && rows[1].again && rows[2].again);
    assert_string_equal(rows[1].notify, "storm");
    assert_string_equal(rows[0].notify, "quiet");
    check_query(db, "SELECT alert_count FROM tickets WHERE ticket_id = $1::uuid", t, "6");
    /* a person's title is theirs */
    char err[256];
    assert_int_equal(ticket_edit(db, "user:ana", t, "Scanner from the lab", NULL, err, sizeof err), PG_OK);
    alert_fixture b;
    add_alert(db, &b, "Unprotected port on EC2 instance is being probed.");
    b.bind = a[0].bind;
    run_batch(db, (alert_fixture *[]){&b}, 1, rows);
    assert_string_equal(rows[0].ticket_id, t);
    check_query(db, "SELECT title FROM tickets WHERE ticket_id = $1::uuid", t, "Scanner from the lab");
    check_query(db,
                "SELECT kind || ' ' || coalesce(detail->>'title', '-') FROM ticket_history WHERE ticket_id = $1::uuid"
                " ORDER BY seq DESC LIMIT 1",
                t, "bound -");
    pg_free(db);
}

/* An alert's vector is its shape's: alerts of a shape in shape_embeddings store none
 * of their own, and EMBEDDING_VECTORS gives each the shape's; when the shape has no
 * row there (a vector this process kept while its transaction rolled back), the
 * alert's row carries the vector itself. */
static void test_vectors_by_shape(void **state)
{
    (void)state;
    pg *db = fresh_db();
    alert_fixture a, b, c;
    add_alert(db, &a, "Port probe on web-1");
    add_alert(db, &b, "Port probe on web-1");
    cluster_row rows[2];
    run_batch(db, (alert_fixture *const[]){&a, &b}, 2, rows);
    check_query(db, "SELECT count(*) FROM shape_embeddings", NULL, "1");
    check_query(db, "SELECT count(*) FROM embeddings WHERE vector IS NULL AND shape_hash IS NOT NULL", NULL, "2");
    check_query(db,
                "SELECT count(*) FROM " EMBEDDING_VECTORS " JOIN shape_embeddings s USING (vector)"
                " WHERE e.vector IS NOT NULL",
                NULL, "2");
    /* the shape's row is gone but this process still has the vector in memory */
    assert_int_equal(pg_exec(db, NULL, "DELETE FROM shape_embeddings", 0, NULL), PG_OK);
    add_alert(db, &c, "Port probe on web-1");
    run_batch(db, (alert_fixture *const[]){&c}, 1, rows);
    check_query(db, "SELECT cardinality(vector) = dims FROM embeddings WHERE alert_id = $1::uuid", c.id, "t");
    check_query(db, "SELECT count(*) FROM " EMBEDDING_VECTORS " WHERE e.vector IS NOT NULL", NULL, "1");
    pg_free(db);
}

int main(void)
{
    log_init("test-cluster-store", getenv("TEST_LOG_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_history_rows),
        cmocka_unit_test(test_open_only_and_declined),
        cmocka_unit_test(test_storm),
        cmocka_unit_test(test_vectors_by_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
