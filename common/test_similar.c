/* Tests of similar.h against Postgres (HUTCH_TEST_DATABASE_URL; skipped without it):
 * tickets ranked by their best shape against an alert's vector or a ticket's shapes,
 * open only, the query's own and an excluded ticket left out, the limit, other
 * embedders never compared, and a query without vectors. Vectors are 3-dimensional and
 * unit length so the expected cosines are written by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/ids.h"
#include "common/pg.h"
#include "common/similar.h"

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

static void exec(pg *db, const char *sql, int n, const char *const *p)
{
    assert_int_equal(pg_exec(db, NULL, sql, n, p), PG_OK);
}

static void shape(pg *db, const char *hash, const char *embedder, const char *vector)
{
    const char *p[] = {hash, embedder, vector};
    exec(db,
         "INSERT INTO shape_embeddings (shape_hash, embedder, dims, vector, shape_text)"
         " VALUES ($1, $2, cardinality($3::real[]), $3::real[], $1)",
         3, p);
}

/* A ticket (status) with the given shapes ("" ends the list); its id in out. */
static void ticket(pg *db, char out[37], const char *status, const char *s1, const char *s2)
{
    ids_uuid7(out);
    const char *p[] = {out, status};
    exec(db,
         "INSERT INTO tickets (ticket_id, title, severity, alert_count, status) VALUES ($1::uuid, $1, 'low', 1, $2)", 2,
         p);
    const char *shapes[] = {s1, s2};
    for (int i = 0; i < 2; i++)
        if (shapes[i]) {
            const char *q[] = {out, shapes[i]};
            exec(db, "INSERT INTO ticket_shapes (ticket_id, shape_hash) VALUES ($1::uuid, $2)", 2, q);
        }
}

static void alert(pg *db, char out[37], const char *vector, const char *model)
{
    char ev[37];
    ids_uuid7(out);
    ids_uuid7(ev);
    const char *p[] = {out, ev};
    exec(db,
         "INSERT INTO alerts (alert_id, event_id, trace_id, schema, title, severity)"
         " VALUES ($1::uuid, $2::uuid, $2, 'test', 'x', 'low')",
         2, p);
    exec(db,
         "INSERT INTO embeddings (alert_id, vector, model, dims) VALUES ($1::uuid, $2::real[], $3,"
         " cardinality($2::real[]))",
         3, (const char *const[]){out, vector, model});
}

static void test_ranking(void **state)
{
    pg *db = fresh_db();
    shape(db, "sx", "e", "{1,0,0}");
    shape(db, "sy", "e", "{0,1,0}");
    shape(db, "sxy", "e", "{0.6,0.8,0}");
    shape(db, "sz", "e", "{0,0,1}");
    shape(db, "sx", "other", "{1,0,0,0}"); /* another embedder: never compared */
    char tx[37], ty[37], txy[37], tz[37], tclosed[37], tother[37];
    ticket(db, tx, "open", "sx", NULL);
    ticket(db, ty, "open", "sy", "sz"); /* its best shape counts: sy */
    ticket(db, txy, "open", "sxy", NULL);
    ticket(db, tz, "open", "sz", NULL);
    ticket(db, tclosed, "resolved", "sx", NULL);
    ticket(db, tother, "open", NULL, NULL);
    char a[37];
    alert(db, a, "{0.8,0.6,0}", "e"); /* cos: sx 0.8, sy 0.6, sxy 0.96, sz 0 */

    similar_ticket *out = NULL;
    size_t n = 0;
    char err[256];
    similar_query q = {.alert_id = a, .open_only = true, .limit = 10};
    assert_int_equal(similar_tickets(db, &q, &out, &n, err, sizeof err), PG_OK);
    assert_int_equal(n, 4);
    const char *want[] = {txy, tx, ty, tz};
    const double score[] = {0.96, 0.8, 0.6, 0.0};
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(out[i].ticket_id, want[i]);
        assert_true(out[i].score > score[i] - 1e-5 && out[i].score < score[i] + 1e-5);
    }
    free(out);

    /* resolved tickets too when asked; an excluded one out; the limit */
    q.open_only = false;
    q.exclude_ticket_id = txy;
    q.limit = 2;
    assert_int_equal(similar_tickets(db, &q, &out, &n, err, sizeof err), PG_OK);
    assert_int_equal(n, 2);
    /* tx and tclosed tie at 0.8: by ticket id */
    assert_string_equal(out[0].ticket_id, strcmp(tx, tclosed) < 0 ? tx : tclosed);
    assert_string_equal(out[1].ticket_id, strcmp(tx, tclosed) < 0 ? tclosed : tx);
    free(out);

    /* by ticket: its shapes against the others', itself left out */
    similar_query t = {.ticket_id = ty, .open_only = true, .limit = 10};
    assert_int_equal(similar_tickets(db, &t, &out, &n, err, sizeof err), PG_OK);
    assert_int_equal(n, 3);
    assert_string_equal(out[0].ticket_id, tz);  /* sz = sz: 1 */
    assert_string_equal(out[1].ticket_id, txy); /* sy . sxy: 0.8 */
    assert_string_equal(out[2].ticket_id, tx);  /* 0 */
    free(out);

    /* no vectors: an alert without an embedding, a ticket without shapes */
    char bare[37];
    ids_uuid7(bare);
    similar_query none = {.alert_id = bare, .limit = 10};
    assert_int_equal(similar_tickets(db, &none, &out, &n, err, sizeof err), SIMILAR_NO_VECTORS);
    assert_null(out);
    similar_query none2 = {.ticket_id = tother, .limit = 10};
    assert_int_equal(similar_tickets(db, &none2, &out, &n, err, sizeof err), SIMILAR_NO_VECTORS);
    /* bad arguments */
    similar_query both = {.alert_id = a, .ticket_id = tx, .limit = 10};
    assert_int_equal(similar_tickets(db, &both, &out, &n, err, sizeof err), PG_FATAL);
    similar_query zero = {.alert_id = a, .limit = 0};
    assert_int_equal(similar_tickets(db, &zero, &out, &n, err, sizeof err), PG_FATAL);
    pg_free(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ranking),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
