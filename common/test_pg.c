/* Tests for pg.c. Those needing a server run only with HUTCH_TEST_DATABASE_URL set
 * (a database they may wipe: they drop and recreate schema public), e.g.
 *   HUTCH_TEST_DATABASE_URL='postgresql://postgres@/hutch_test?host=/tmp&port=55432' */
#include <pthread.h>
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
#include "common/migrations.h"
#include "common/pg.h"

static const char *url(void)
{
    const char *u = getenv("HUTCH_TEST_DATABASE_URL");
    return u && *u ? u : NULL;
}

static pg *open_or_skip(void)
{
    if (!url())
        skip();
    char err[512];
    pg *db = pg_connect(url(), 5000, err, sizeof err);
    if (!db)
        fail_msg("connect: %s", err);
    return db;
}

static void reset_schema(pg *db)
{
    assert_int_equal(pg_exec(db, NULL, "DROP SCHEMA public CASCADE", 0, NULL), PG_OK);
    assert_int_equal(pg_exec(db, NULL, "CREATE SCHEMA public", 0, NULL), PG_OK);
}

static void test_connect_fails(void **state)
{
    char err[512] = "";
    int64_t t0 = ids_now_ms();
    pg *db = pg_connect("postgresql://nobody@127.0.0.1:1/none", 0, err, sizeof err);
    assert_null(db);
    assert_true(strlen(err) > 0);
    assert_null(strchr(err, '\n'));
    db = pg_connect("postgresql://nobody@127.0.0.1:1/none", 700, err, sizeof err);
    assert_null(db);
    int64_t took = ids_now_ms() - t0;
    assert_true(took >= 600 && took < 5000);
    assert_false(pg_connected(NULL));
    pg_free(NULL);
}

static void test_exec_params(void **state)
{
    pg *db = open_or_skip();
    assert_true(pg_connected(db));
    PGresult *r = NULL;
    const char *params[] = {"it's \"quoted\"; DROP TABLE x; --", NULL, "41"};
    assert_int_equal(pg_exec(db, &r, "SELECT $1::text, $2::text IS NULL, $3::int + 1", 3, params), PG_OK);
    assert_non_null(r);
    assert_string_equal(PQgetvalue(r, 0, 0), params[0]);
    assert_string_equal(PQgetvalue(r, 0, 1), "t");
    assert_string_equal(PQgetvalue(r, 0, 2), "42");
    PQclear(r);
    assert_int_equal(pg_exec(db, &r, "SELEC nonsense", 0, NULL), PG_FATAL);
    assert_null(r);
    assert_int_equal(pg_exec(db, NULL, "DO $$ BEGIN RAISE EXCEPTION 'x' USING ERRCODE = '40001'; END $$", 0, NULL),
                     PG_RETRY);
    assert_int_equal(pg_exec(db, NULL, "DO $$ BEGIN RAISE EXCEPTION 'x' USING ERRCODE = '40P01'; END $$", 0, NULL),
                     PG_RETRY);
    assert_int_equal(pg_exec(db, NULL, "DO $$ BEGIN RAISE EXCEPTION 'x' USING ERRCODE = '23505'; END $$", 0, NULL),
                     PG_FATAL);
    assert_int_equal(pg_exec(db, NULL, "SELECT 1", 0, NULL), PG_OK);
    pg_free(db);
}

/* Statements are prepared once per connection; a session that lost them (DEALLOCATE
 * ALL, as a pooler may do) gets them prepared again, or a retry inside a transaction. */
static void test_prepared_statements(void **state)
{
    pg *db = open_or_skip();
    const char *sql = "SELECT $1::int * 2";
    const char *p[] = {"21"};
    for (int round = 0; round < 3; round++) {
        PGresult *r = NULL;
        assert_int_equal(pg_exec(db, &r, sql, 1, p), PG_OK);
        assert_string_equal(PQgetvalue(r, 0, 0), "42");
        PQclear(r);
        if (round == 0)
            assert_int_equal(pg_exec(db, NULL, "DEALLOCATE ALL", 0, NULL), PG_OK);
    }
    assert_int_equal(pg_exec(db, NULL, "DEALLOCATE ALL", 0, NULL), PG_OK);
    assert_int_equal(pg_begin(db), PG_OK);
    assert_int_equal(pg_exec(db, NULL, sql, 1, p), PG_RETRY);
    pg_rollback(db);
    assert_int_equal(pg_begin(db), PG_OK);
    PGresult *r = NULL;
    assert_int_equal(pg_exec(db, &r, sql, 1, p), PG_OK);
    assert_string_equal(PQgetvalue(r, 0, 0), "42");
    PQclear(r);
    assert_int_equal(pg_commit(db), PG_OK);
    pg_free(db);
}

static void test_transactions(void **state)
{
    pg *db = open_or_skip();
    assert_int_equal(pg_exec(db, NULL, "CREATE TEMP TABLE t (v int PRIMARY KEY)", 0, NULL), PG_OK);
    assert_int_equal(pg_begin(db), PG_OK);
    assert_int_equal(pg_exec(db, NULL, "INSERT INTO t VALUES (1)", 0, NULL), PG_OK);
    assert_int_equal(pg_commit(db), PG_OK);
    assert_int_equal(pg_begin(db), PG_OK);
    assert_int_equal(pg_exec(db, NULL, "INSERT INTO t VALUES (2)", 0, NULL), PG_OK);
    assert_int_equal(pg_exec(db, NULL, "INSERT INTO t VALUES (1)", 0, NULL), PG_FATAL);
    pg_rollback(db);
    PGresult *r = NULL;
    assert_int_equal(pg_exec(db, &r, "SELECT count(*) FROM t", 0, NULL), PG_OK);
    assert_string_equal(PQgetvalue(r, 0, 0), "1");
    PQclear(r);
    /* COMMIT of an aborted transaction is not a success */
    assert_int_equal(pg_begin(db), PG_OK);
    assert_int_equal(pg_exec(db, NULL, "INSERT INTO t VALUES (1)", 0, NULL), PG_FATAL);
    assert_int_not_equal(pg_commit(db), PG_OK);
    assert_int_equal(pg_exec(db, NULL, "SELECT 1", 0, NULL), PG_OK);
    pg_rollback(db); /* harmless outside a transaction */
    pg_free(db);
}

/* Kills db's backend from another connection. */
static void kill_backend(pg *db)
{
    PGresult *r = NULL;
    assert_int_equal(pg_exec(db, &r, "SELECT pg_backend_pid()::text", 0, NULL), PG_OK);
    char pid[32];
    snprintf(pid, sizeof pid, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    pg *killer = open_or_skip();
    const char *params[] = {pid};
    assert_int_equal(pg_exec(killer, NULL, "SELECT pg_terminate_backend($1::int)", 1, params), PG_OK);
    pg_free(killer);
}

static void test_reconnect(void **state)
{
    pg *db = open_or_skip();
    kill_backend(db);
    assert_int_equal(pg_exec(db, NULL, "SELECT 1", 0, NULL), PG_RETRY); /* notices the loss */
    assert_false(pg_connected(db));
    assert_int_equal(pg_exec(db, NULL, "SELECT 1", 0, NULL), PG_OK); /* reconnected */
    assert_true(pg_connected(db));

    /* Inside a transaction the loss sticks until rollback: nothing runs outside it. */
    assert_int_equal(pg_begin(db), PG_OK);
    kill_backend(db);
    assert_int_equal(pg_exec(db, NULL, "SELECT 1", 0, NULL), PG_RETRY);
    assert_int_equal(pg_exec(db, NULL, "SELECT 1", 0, NULL), PG_RETRY);
    assert_int_equal(pg_commit(db), PG_RETRY);
    pg_rollback(db);
    assert_int_equal(pg_exec(db, NULL, "SELECT 1", 0, NULL), PG_OK);
    pg_free(db);
}

static void *migrate_thread(void *arg)
{
    char err[512];
    pg *db = pg_connect(url(), 5000, err, sizeof err);
    if (!db)
        return (void *)1;
    int rc = pg_migrate(db, err, sizeof err);
    pg_free(db);
    return (void *)(intptr_t)(rc == PG_OK ? 0 : 1);
}

static void test_migrate(void **state)
{
    pg *db = open_or_skip();
    reset_schema(db);
    /* several services starting together */
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&th[i], NULL, migrate_thread, NULL);
    for (int i = 0; i < 3; i++) {
        void *rc;
        pthread_join(th[i], &rc);
        assert_null(rc);
    }
    char err[512];
    assert_int_equal(pg_migrate(db, err, sizeof err), PG_OK); /* idempotent */
    PGresult *r = NULL;
    assert_int_equal(pg_exec(db, &r, "SELECT count(*)::int, max(version) FROM schema_migrations", 0, NULL), PG_OK);
    char want[16];
    snprintf(want, sizeof want, "%d", migrations_count);
    assert_string_equal(PQgetvalue(r, 0, 0), want);
    PQclear(r);
    assert_int_equal(pg_exec(db, &r, "SELECT count(*) FROM tickets", 0, NULL), PG_OK);
    PQclear(r);
    /* the lock was released */
    assert_int_equal(pg_exec(db, &r, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'", 0, NULL), PG_OK);
    assert_string_equal(PQgetvalue(r, 0, 0), "0");
    PQclear(r);
    pg_free(db);
}

/* The array literal builder of batch statements: quoting, escaping, NULL, reuse. */
static void test_array_literal(void **state)
{
    pg_array a;
    pg_array_init(&a);
    assert_string_equal(pg_array_text(&a), "{}");
    pg_array_add(&a, "plain");
    assert_string_equal(pg_array_text(&a), "{\"plain\"}");
    pg_array_add(&a, "a \"quoted\" \\ back,slash {x}");
    pg_array_add(&a, NULL);
    pg_array_add(&a, "");
    pg_array_addf(&a, "%d", -42);
    assert_string_equal(pg_array_text(&a),
                        "{\"plain\",\"a \\\"quoted\\\" \\\\ back,slash {x}\",NULL,\"\",\"-42\"}");
    assert_int_equal(a.n, 5);
    assert_false(pg_array_failed(&a));
    pg_array_free(&a);
}

/* array_send of a real[] from the server decodes to the same floats as its text; a
 * wrong size, a NULL element, another element type or no array at all are refused. */
static void test_real_array_decode(void **state)
{
    (void)state;
    assert_null(pg_real_array_decode("nonsense", 3));
    assert_null(pg_real_array_decode("\\x", 3));
    pg *db = open_or_skip();
    PGresult *r = NULL;
    assert_int_equal(pg_exec(db, &r,
                             "SELECT array_send('{0.5,-2e-05,3.4028235e38,-0}'::real[]),"
                             " array_send('{1,NULL,3,4}'::real[]), array_send('{1,2,3,4}'::float8[]),"
                             " array_send('{{1,2},{3,4}}'::real[])",
                             0, NULL),
                     PG_OK);
    float *v = pg_real_array_decode(PQgetvalue(r, 0, 0), 4);
    assert_non_null(v);
    assert_true(v[0] == 0.5f && v[1] == -2e-05f && v[2] == 3.4028235e38f && v[3] == 0.0f);
    free(v);
    assert_null(pg_real_array_decode(PQgetvalue(r, 0, 0), 3));
    assert_null(pg_real_array_decode(PQgetvalue(r, 0, 0), 5));
    assert_null(pg_real_array_decode(PQgetvalue(r, 0, 1), 4)); /* a NULL element */
    assert_null(pg_real_array_decode(PQgetvalue(r, 0, 2), 4)); /* float8 */
    assert_null(pg_real_array_decode(PQgetvalue(r, 0, 3), 4)); /* two dimensions */
    PQclear(r);
    pg_free(db);
}

int main(void)
{
    log_init("test-pg", getenv("TEST_LOG_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_array_literal), cmocka_unit_test(test_connect_fails),
        cmocka_unit_test(test_exec_params),   cmocka_unit_test(test_prepared_statements),
        cmocka_unit_test(test_transactions),  cmocka_unit_test(test_reconnect),
        cmocka_unit_test(test_migrate),       cmocka_unit_test(test_real_array_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
