/* Tests for ticket.c: the rule of every operation in every status (a table with the
 * forbidden ones), the names, and, with HUTCH_TEST_DATABASE_URL set (a database they
 * may wipe), every operation against Postgres: what it changes, that a refusal
 * changes nothing, the history rows, two writers at once, and the relay. */
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
#include "common/pg.h"
#include "common/ticket.h"
#include "hutch/v1/ticket.pb-c.h"

/* ---- the pure rule ---- */

/* Columns: open, resolved, archived, resolved+merged, archived+merged. 1 = allowed. */
static const struct {
    ticket_op op;
    int allowed[5];
} rule_table[] = {
    {TICKET_OP_CREATE, {1, 1, 1, 1, 1}},   {TICKET_OP_BIND, {1, 0, 0, 0, 0}},   {TICKET_OP_DECLINE, {1, 0, 0, 0, 0}},
    {TICKET_OP_RESOLVE, {1, 0, 0, 0, 0}},  {TICKET_OP_REOPEN, {0, 1, 1, 0, 0}}, {TICKET_OP_ARCHIVE, {1, 1, 0, 1, 0}},
    {TICKET_OP_ASSIGN, {1, 1, 0, 0, 0}},   {TICKET_OP_EDIT, {1, 1, 0, 0, 0}},   {TICKET_OP_FINDING, {1, 1, 0, 0, 0}},
    {TICKET_OP_SEVERITY, {1, 0, 0, 0, 0}}, {TICKET_OP_MERGE, {1, 0, 0, 0, 0}},  {TICKET_OP_UNMERGE, {1, 0, 0, 0, 0}},
    {TICKET_OP_SALVAGE, {1, 0, 0, 0, 0}},
};

static void test_rule_table(void **state)
{
    static const ticket_status st[5] = {TICKET_OPEN, TICKET_RESOLVED, TICKET_ARCHIVED, TICKET_RESOLVED,
                                        TICKET_ARCHIVED};
    static const bool merged[5] = {false, false, false, true, true};
    assert_int_equal(sizeof rule_table / sizeof *rule_table, TICKET_OP_SALVAGE + 1); /* every op */
    for (size_t i = 0; i < sizeof rule_table / sizeof *rule_table; i++)
        for (int s = 0; s < 5; s++) {
            const char *why = ticket_op_refusal(rule_table[i].op, st[s], merged[s]);
            if (rule_table[i].allowed[s] != (why == NULL))
                fail_msg("%s on %s%s: expected %s, got %s", ticket_op_name(rule_table[i].op), ticket_status_name(st[s]),
                         merged[s] ? " (merged)" : "", rule_table[i].allowed[s] ? "allowed" : "refused",
                         why ? why : "allowed");
            if (why)
                assert_true(strlen(why) > 10); /* a reason a person can read */
        }
    assert_non_null(ticket_op_refusal((ticket_op)99, TICKET_OPEN, false));
    assert_non_null(ticket_op_refusal(TICKET_OP_BIND, (ticket_status)7, false));
    assert_string_equal(ticket_op_refusal(TICKET_OP_BIND, TICKET_RESOLVED, false),
                        "the ticket is resolved: reopen it first");
}

static void test_names(void **state)
{
    ticket_status s;
    for (int i = TICKET_OPEN; i <= TICKET_ARCHIVED; i++) {
        assert_int_equal(ticket_status_parse(ticket_status_name((ticket_status)i), &s), 0);
        assert_int_equal(s, i);
    }
    assert_int_equal(ticket_status_parse("acknowledged", &s), -1);
    assert_int_equal(ticket_status_parse(NULL, &s), -1);
    assert_string_equal(ticket_op_name(TICKET_OP_MERGE), "merge");
    assert_string_equal(ticket_op_name(TICKET_OP_SALVAGE), "salvage");
    assert_string_equal(ticket_op_name((ticket_op)99), "?");
    const char *good[] = {"intended", "unaffected", "false_positive", "true_positive", "escalated"};
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(ticket_conclusion_check(good[i]), 0);
    assert_int_equal(ticket_conclusion_check("fixed"), -1);
    assert_int_equal(ticket_conclusion_check(""), -1);
    assert_int_equal(ticket_conclusion_check(NULL), -1);
}

/* ---- against Postgres ---- */

static const char *url(void)
{
    const char *u = getenv("HUTCH_TEST_DATABASE_URL");
    return u && *u ? u : NULL;
}

static pg *connect_db(void)
{
    char err[512];
    pg *db = pg_connect(url(), 5000, err, sizeof err);
    if (!db)
        fail_msg("connect: %s", err);
    return db;
}

/* A fresh schema. */
static pg *fresh_db(void)
{
    if (!url())
        skip();
    pg *db = connect_db();
    char err[512];
    assert_int_equal(pg_exec(db, NULL, "DROP SCHEMA public CASCADE", 0, NULL), PG_OK);
    assert_int_equal(pg_exec(db, NULL, "CREATE SCHEMA public", 0, NULL), PG_OK);
    if (pg_migrate(db, err, sizeof err) != 0)
        fail_msg("migrate: %s", err);
    return db;
}

static char *query1(pg *db, const char *sql, const char *p1)
{
    PGresult *r = NULL;
    const char *p[] = {p1};
    assert_int_equal(pg_exec(db, &r, sql, p1 ? 1 : 0, p1 ? p : NULL), PG_OK);
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
#define assert_query(db, sql, p1, want) check_query(db, sql, p1, want)

/* An alert row (title, severity, created minutes ago); its id in out. */
static void add_alert(pg *db, char out[37], const char *title, const char *severity, int minutes_ago)
{
    char ev[37], ago[16];
    ids_uuid7(out);
    ids_uuid7(ev);
    snprintf(ago, sizeof ago, "%d", minutes_ago);
    const char *p[] = {out, ev, title, severity, ago};
    assert_int_equal(pg_exec(db, NULL,
                             "INSERT INTO alerts (alert_id, event_id, trace_id, schema, title, severity, created_at)"
                             " VALUES ($1::uuid, $2::uuid, $2, 'test', $3, $4, now() - $5::int * interval '1 minute')",
                             5, p),
                     PG_OK);
}

static void add_embedding(pg *db, const char *alert_id, const char *vector, const char *model)
{
    const char *p[] = {alert_id, vector, model};
    assert_int_equal(pg_exec(db, NULL,
                             "INSERT INTO embeddings (alert_id, vector, model, dims)"
                             " VALUES ($1::uuid, $2::real[], $3, cardinality($2::real[]))",
                             3, p),
                     PG_OK);
}

/* The ticket's history as "kind/actor,kind/actor". NEW. */
static char *history_of(pg *db, const char *ticket_id)
{
    return query1(db,
                  "SELECT coalesce(string_agg(kind || '/' || actor, ',' ORDER BY seq), '') FROM ticket_history"
                  " WHERE ticket_id = $1::uuid",
                  ticket_id);
}

#define assert_history(db, id, want)                                                                                   \
    do {                                                                                                               \
        char *h_ = history_of(db, id);                                                                                 \
        if (strcmp(h_, want))                                                                                          \
            fail_msg("history of %s: got \"%s\", want \"%s\"", id, h_, want);                                          \
        free(h_);                                                                                                      \
    } while (0)

/* Everything a refusal must leave untouched, as one text. NEW. */
static char *snapshot(pg *db)
{
    return query1(db,
                  "SELECT (SELECT coalesce(string_agg(t::text, '|' ORDER BY ticket_id), '') FROM tickets t) || '#' ||"
                  " (SELECT coalesce(string_agg(b.alert_id || b.ticket_id::text, '|' ORDER BY alert_id), '')"
                  "  FROM ticket_alerts b) || '#' || (SELECT count(*) FROM ticket_history) || '#' ||"
                  " (SELECT coalesce(string_agg(a.alert_id || coalesce(a.ticket_id::text, '-') ||"
                  "  coalesce(a.declined_at::text, '-'), '|' ORDER BY alert_id), '') FROM alerts a)",
                  NULL);
}

#define U "user:ana"

#define assert_refused(db, call, reason_part)                                                                          \
    do {                                                                                                               \
        char *before_ = snapshot(db);                                                                                  \
        char err_[512] = "";                                                                                           \
        int rc_ = (call);                                                                                              \
        if (rc_ != TICKET_REFUSED)                                                                                     \
            fail_msg("%s: rc %d, want TICKET_REFUSED (%s)", #call, rc_, err_);                                         \
        if (!strstr(err_, reason_part))                                                                                \
            fail_msg("%s: reason \"%s\" lacks \"%s\"", #call, err_, reason_part);                                      \
        char *after_ = snapshot(db);                                                                                   \
        assert_string_equal(before_, after_);                                                                          \
        free(before_);                                                                                                 \
        free(after_);                                                                                                  \
    } while (0)

#define assert_ok(call)                                                                                                \
    do {                                                                                                               \
        char err_[512] = "";                                                                                           \
        int rc_ = (call);                                                                                              \
        if (rc_ != PG_OK)                                                                                              \
            fail_msg("%s: rc %d (%s)", #call, rc_, err_);                                                              \
    } while (0)

static void test_lifecycle(void **state)
{
    pg *db = fresh_db();
    char a1[37], a2[37], a3[37], t[37];
    add_alert(db, a1, "Port probe", "low", 5);
    add_alert(db, a2, "Port probe", "high", 4);
    add_alert(db, a3, "Shell in container", "medium", 3);
    const char *ids[] = {a1, a2};
    assert_ok(ticket_create(db, U, ids, 2, t, err_, sizeof err_));
    assert_true(ids_is_uuid(t));
    assert_query(db,
                 "SELECT status || ' ' || severity || ' ' || alert_count || ' ' || title FROM tickets"
                 " WHERE ticket_id = $1::uuid",
                 t, "open high 2 Port probe (+1 alerts)");
    assert_query(db, "SELECT count(*) FROM alerts WHERE ticket_id = $1::uuid", t, "2");
    assert_history(db, t, "opened/user:ana");

    /* bad input and forbidden transitions: refused, nothing changed */
    char nx[37];
    ids_uuid7(nx);
    const char *bound[] = {a1};
    char other[37] = "x";
    assert_refused(db, ticket_create(db, U, bound, 1, other, err_, sizeof err_), "is bound to ticket");
    assert_string_equal(other, "");
    assert_refused(db, ticket_resolve(db, U, t, "fixed", "r", err_, sizeof err_), "unknown conclusion");
    assert_refused(db, ticket_resolve(db, U, t, "intended", "", err_, sizeof err_), "needs a reason");
    assert_refused(db, ticket_resolve(db, U, nx, "intended", "r", err_, sizeof err_), "not found");
    assert_refused(db, ticket_resolve(db, U, "nope", "intended", "r", err_, sizeof err_), "not a ticket id");
    assert_refused(db, ticket_reopen(db, U, t, err_, sizeof err_), "open already");
    const char *unknown[] = {nx};
    assert_refused(db, ticket_bind(db, U, t, unknown, 1, err_, sizeof err_), "not found");
    assert_refused(db, ticket_edit(db, U, t, NULL, NULL, err_, sizeof err_), "nothing to edit");
    assert_refused(db, ticket_edit(db, U, t, "", NULL, err_, sizeof err_), "cannot be empty");

    assert_ok(ticket_edit(db, U, t, "Port scan", "probes from one host", err_, sizeof err_));
    assert_ok(ticket_assign(db, U, t, "bob", err_, sizeof err_));
    ticket_finding f = {"high", "a scan", "many ports", "block it"};
    assert_ok(ticket_set_finding(db, "hutch-agent", t, &f, err_, sizeof err_));
    assert_query(db,
                 "SELECT title || '|' || description || '|' || assignee || '|' || (finding->>'recommendation')"
                 " FROM tickets WHERE ticket_id = $1::uuid",
                 t, "Port scan|probes from one host|bob|block it");
    ticket_finding bad = {"severe", "x", NULL, NULL};
    assert_refused(db, ticket_set_finding(db, U, t, &bad, err_, sizeof err_), "severity");

    assert_ok(ticket_resolve(db, U, t, "false_positive", "scanner of our own", err_, sizeof err_));
    assert_query(db,
                 "SELECT status || ' ' || conclusion || ' ' || reason || ' ' || (resolved_at IS NOT NULL)"
                 " FROM tickets WHERE ticket_id = $1::uuid",
                 t, "resolved false_positive scanner of our own true");
    const char *more[] = {a3};
    assert_refused(db, ticket_bind(db, U, t, more, 1, err_, sizeof err_), "resolved: reopen it first");
    assert_refused(db, ticket_resolve(db, U, t, "intended", "again", err_, sizeof err_), "resolved already");
    assert_ok(ticket_archive(db, U, t, err_, sizeof err_));
    assert_refused(db, ticket_assign(db, U, t, "carl", err_, sizeof err_), "archived");
    assert_refused(db, ticket_archive(db, U, t, err_, sizeof err_), "archived already");
    assert_ok(ticket_reopen(db, "slack:U123", t, err_, sizeof err_));
    assert_query(db,
                 "SELECT status || ' ' || (conclusion IS NULL) || ' ' || (archived_at IS NULL) FROM tickets"
                 " WHERE ticket_id = $1::uuid",
                 t, "open true true");
    assert_ok(ticket_bind(db, U, t, more, 1, err_, sizeof err_));
    assert_query(db, "SELECT alert_count FROM tickets WHERE ticket_id = $1::uuid", t, "3");
    assert_history(db, t,
                   "opened/user:ana,edited/user:ana,assigned/user:ana,finding/hutch-agent,resolved/user:ana,"
                   "archived/user:ana,reopened/slack:U123,bound/user:ana");
    assert_query(db, "SELECT detail::text FROM ticket_history WHERE ticket_id = $1::uuid AND kind = 'resolved'", t,
                 "{\"reason\": \"scanner of our own\", \"conclusion\": \"false_positive\"}");
    assert_query(db, "SELECT string_agg(seq::text, ',' ORDER BY seq) FROM ticket_history WHERE ticket_id = $1::uuid", t,
                 "1,2,3,4,5,6,7,8");
    pg_free(db);
}

/* Inside the caller's transaction: the change is a savepoint of it, so it commits or
 * rolls back with the caller's own work (a consumer's claim); a refusal leaves the
 * caller's transaction usable. */
static void test_inside_callers_transaction(void **state)
{
    pg *db = fresh_db();
    char a1[37], t[37];
    add_alert(db, a1, "Port probe", "low", 5);
    const char *ids[] = {a1};
    assert_ok(ticket_create(db, U, ids, 1, t, err_, sizeof err_));
    assert_int_equal(pg_exec(db, NULL, "CREATE TABLE claims (id text PRIMARY KEY)", 0, NULL), PG_OK);

    /* the caller dies before its commit (rolled back here): neither claim nor change */
    assert_int_equal(pg_begin(db), PG_OK);
    assert_int_equal(pg_exec(db, NULL, "INSERT INTO claims VALUES ('c1')", 0, NULL), PG_OK);
    assert_ok(ticket_assign(db, "slack:U1", t, "slack:U1", err_, sizeof err_));
    assert_true(pg_in_transaction(db)); /* still the caller's */
    pg_rollback(db);
    assert_query(db, "SELECT coalesce(nullif(assignee, ''), '-') FROM tickets WHERE ticket_id = $1::uuid", t, "-");
    assert_query(db, "SELECT count(*) FROM claims", NULL, "0");
    assert_history(db, t, "opened/user:ana");

    /* a refusal, then a change, then the caller's commit: the claim and the change only */
    assert_int_equal(pg_begin(db), PG_OK);
    assert_int_equal(pg_exec(db, NULL, "INSERT INTO claims VALUES ('c1')", 0, NULL), PG_OK);
    char err[256] = "";
    assert_int_equal(ticket_reopen(db, "slack:U1", t, err, sizeof err), TICKET_REFUSED);
    assert_non_null(strstr(err, "open already"));
    assert_ok(ticket_assign(db, "slack:U1", t, "slack:U1", err_, sizeof err_));
    assert_int_equal(pg_commit(db), PG_OK);
    assert_query(db, "SELECT assignee FROM tickets WHERE ticket_id = $1::uuid", t, "slack:U1");
    assert_query(db, "SELECT count(*) FROM claims", NULL, "1");
    assert_history(db, t, "opened/user:ana,assigned/slack:U1");
    /* and again: the caller's next transaction */
    assert_int_equal(pg_begin(db), PG_OK);
    assert_int_equal(pg_exec(db, NULL, "INSERT INTO claims VALUES ('c2')", 0, NULL), PG_OK);
    assert_int_equal(ticket_resolve(db, U, t, "intended", "done", err, sizeof err), PG_OK);
    assert_int_equal(pg_commit(db), PG_OK);
    assert_query(db, "SELECT status FROM tickets WHERE ticket_id = $1::uuid", t, "resolved");
    assert_query(db, "SELECT count(*) FROM claims", NULL, "2");
    pg_free(db);
}

static void test_decline_and_severity(void **state)
{
    pg *db = fresh_db();
    char a1[37], a2[37], t[37];
    add_alert(db, a1, "x", "critical", 2);
    add_alert(db, a2, "x", "low", 1);
    const char *ids[] = {a1, a2};
    assert_ok(ticket_create(db, U, ids, 2, t, err_, sizeof err_));
    assert_query(db, "SELECT severity FROM tickets WHERE ticket_id = $1::uuid", t, "critical");
    assert_refused(db, ticket_decline(db, U, t, t, err_, sizeof err_), "not bound");
    assert_ok(ticket_decline(db, U, t, a1, err_, sizeof err_));
    assert_query(db, "SELECT severity || ' ' || alert_count FROM tickets WHERE ticket_id = $1::uuid", t, "low 1");
    assert_query(db,
                 "SELECT (declined_at IS NOT NULL) || ' ' || (ticket_id IS NULL) FROM alerts"
                 " WHERE alert_id = $1::uuid",
                 a1, "true true");
    assert_refused(db, ticket_raise_severity(db, U, t, "info", err_, sizeof err_), "only raised");
    assert_refused(db, ticket_raise_severity(db, U, t, "urgent", err_, sizeof err_), "unknown severity");
    assert_ok(ticket_raise_severity(db, "hutch-agent", t, "high", err_, sizeof err_));
    assert_query(db, "SELECT severity FROM tickets WHERE ticket_id = $1::uuid", t, "high");
    /* a person binds the declined alert again: the highest wins, the decline is gone */
    const char *back[] = {a1};
    assert_ok(ticket_bind(db, U, t, back, 1, err_, sizeof err_));
    assert_query(db, "SELECT severity FROM tickets WHERE ticket_id = $1::uuid", t, "critical");
    assert_query(db, "SELECT (declined_at IS NULL)::text FROM alerts WHERE alert_id = $1::uuid", a1, "true");
    assert_ok(ticket_decline(db, U, t, a1, err_, sizeof err_));
    assert_query(db, "SELECT severity FROM tickets WHERE ticket_id = $1::uuid", t, "high"); /* the raised floor */
    assert_history(db, t, "opened/user:ana,declined/user:ana,severity/hutch-agent,bound/user:ana,declined/user:ana");
    pg_free(db);
}

static void test_merge_unmerge(void **state)
{
    pg *db = fresh_db();
    char a1[37], a2[37], a3[37], ta[37], tb[37], out[37];
    add_alert(db, a1, "one", "low", 3);
    add_alert(db, a2, "two", "high", 2);
    add_alert(db, a3, "three", "low", 1);
    assert_ok(ticket_create(db, U, (const char *[]){a1}, 1, ta, err_, sizeof err_));
    assert_ok(ticket_create(db, U, (const char *[]){a2, a3}, 2, tb, err_, sizeof err_));
    assert_refused(db, ticket_merge(db, U, ta, ta, err_, sizeof err_), "into itself");
    assert_ok(ticket_merge(db, U, ta, tb, err_, sizeof err_));
    assert_query(db, "SELECT alert_count || ' ' || severity || ' ' || status FROM tickets WHERE ticket_id = $1::uuid",
                 ta, "3 high open");
    char *want = NULL;
    assert_true(asprintf(&want, "resolved %s 0", ta) > 0);
    assert_query(db,
                 "SELECT status || ' ' || merged_into || ' ' || alert_count FROM tickets WHERE ticket_id = $1::uuid",
                 tb, want);
    free(want);
    assert_query(db, "SELECT count(*) FROM alerts WHERE ticket_id = $1::uuid", ta, "3");
    /* the merged ticket refuses everything but archive */
    assert_refused(db, ticket_reopen(db, U, tb, err_, sizeof err_), "merged into another");
    assert_refused(db, ticket_merge(db, U, tb, ta, err_, sizeof err_), "merged into another");
    assert_refused(db, ticket_unmerge(db, U, ta, (const char *[]){tb}, 1, out, err_, sizeof err_), "not in ticket");
    /* a2 came from tb by the merge: back to tb, reopened */
    assert_ok(ticket_unmerge(db, U, ta, (const char *[]){a2}, 1, out, err_, sizeof err_));
    assert_string_equal(out, tb);
    assert_query(db,
                 "SELECT status || ' ' || (merged_into IS NULL) || ' ' || alert_count || ' ' || severity"
                 " FROM tickets WHERE ticket_id = $1::uuid",
                 tb, "open true 1 high");
    assert_query(db, "SELECT alert_count || ' ' || severity FROM tickets WHERE ticket_id = $1::uuid", ta, "2 low");
    /* a1 was ta's own: a new ticket */
    assert_ok(ticket_unmerge(db, U, ta, (const char *[]){a1}, 1, out, err_, sizeof err_));
    assert_true(ids_is_uuid(out) && strcmp(out, ta) && strcmp(out, tb));
    assert_query(db, "SELECT title || ' ' || alert_count FROM tickets WHERE ticket_id = $1::uuid", out, "one 1");
    assert_history(db, ta, "opened/user:ana,merged/user:ana,unmerged/user:ana,unmerged/user:ana");
    assert_history(db, tb, "opened/user:ana,merged/user:ana,unmerged/user:ana");
    assert_history(db, out, "opened/user:ana");
    assert_query(db, "SELECT detail->>'reopened' FROM ticket_history WHERE ticket_id = $1::uuid AND seq = 3", tb,
                 "true");
    pg_free(db);
}

static void test_salvage(void **state)
{
    pg *db = fresh_db();
    char in1[37], in2[37], near1[37], near2[37], far[37], old[37], declined[37], other_model[37], t[37], t2[37];
    add_alert(db, in1, "Port probe", "low", 10);
    add_alert(db, in2, "Port probe", "low", 9);
    add_alert(db, near1, "Port probe from x", "low", 5);
    add_alert(db, near2, "Port sweep", "low", 4);
    add_alert(db, far, "Shell", "low", 3);
    add_alert(db, old, "Port probe", "low", 60 * 48);
    add_alert(db, declined, "Port probe", "low", 2);
    add_alert(db, other_model, "Port probe", "low", 2);
    add_embedding(db, in1, "{1,0,0}", "m");
    add_embedding(db, in2, "{0.8,0.6,0}", "m"); /* mean (0.9,0.3,0) -> (0.949,0.316,0) */
    add_embedding(db, near1, "{0.9487,0.3162,0}", "m");
    add_embedding(db, near2, "{0.8,0.6,0}", "m"); /* 0.948 */
    add_embedding(db, far, "{0,0,1}", "m");
    add_embedding(db, old, "{1,0,0}", "m");
    add_embedding(db, declined, "{1,0,0}", "m");
    add_embedding(db, other_model, "{1,0,0}", "other");
    assert_ok(ticket_create(db, U, (const char *[]){in1, in2}, 2, t, err_, sizeof err_));
    assert_ok(ticket_create(db, U, (const char *[]){declined}, 1, t2, err_, sizeof err_));
    assert_ok(ticket_decline(db, U, t2, declined, err_, sizeof err_));
    size_t n = 99;
    int64_t day = 24 * 3600 * 1000LL;
    assert_refused(db, ticket_salvage(db, U, t, 1.5, NULL, day, false, &n, err_, sizeof err_), "threshold");
    assert_refused(db, ticket_salvage(db, U, t2, 0.9, NULL, day, false, &n, err_, sizeof err_), "no embedded");
    char *before = snapshot(db);
    assert_ok(ticket_salvage(db, U, t, 0.9, NULL, day, true, &n, err_, sizeof err_));
    assert_int_equal(n, 2); /* near1, near2: not far, old, declined, other model */
    char *after = snapshot(db);
    assert_string_equal(before, after); /* a dry run changes nothing */
    free(before);
    free(after);
    assert_ok(ticket_salvage(db, U, t, 0.99, NULL, day, true, &n, err_, sizeof err_));
    assert_int_equal(n, 1); /* near1 only */
    assert_ok(ticket_salvage(db, U, t, 0.9, "SWEEP", day, false, &n, err_, sizeof err_));
    assert_int_equal(n, 1);
    assert_query(db, "SELECT ticket_id::text FROM ticket_alerts WHERE alert_id = $1::uuid", near2, t);
    assert_ok(ticket_salvage(db, U, t, 0.9, NULL, day, false, &n, err_, sizeof err_));
    assert_int_equal(n, 1);
    assert_ok(ticket_salvage(db, U, t, 0.9, NULL, day, false, &n, err_, sizeof err_));
    assert_int_equal(n, 0);
    assert_query(db, "SELECT alert_count FROM tickets WHERE ticket_id = $1::uuid", t, "4");
    assert_history(db, t, "opened/user:ana,salvaged/user:ana,salvaged/user:ana");
    assert_query(db, "SELECT detail->>'keyword' FROM ticket_history WHERE ticket_id = $1::uuid AND seq = 2", t,
                 "SWEEP");
    pg_free(db);
}

/* ---- two writers at once ---- */

typedef struct {
    pthread_barrier_t *go;
    int which;
    const char *a, *b;
    int rc;
    char err[512];
} race_arg;

static void *merge_thread(void *v)
{
    race_arg *r = v;
    pg *db = connect_db();
    pthread_barrier_wait(r->go);
    r->rc = r->which ? ticket_merge(db, U, r->a, r->b, r->err, sizeof r->err)
                     : ticket_merge(db, U, r->b, r->a, r->err, sizeof r->err);
    pg_free(db);
    return NULL;
}

static void *bind_thread(void *v)
{
    race_arg *r = v;
    pg *db = connect_db();
    pthread_barrier_wait(r->go);
    r->rc = ticket_bind(db, U, r->which ? r->a : r->b, (const char *[]){"00000000-0000-7000-8000-000000000001"}, 1,
                        r->err, sizeof r->err);
    pg_free(db);
    return NULL;
}

static void race(void *(*fn)(void *), const char *a, const char *b, race_arg out[2])
{
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, 2);
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        out[i] = (race_arg){.go = &go, .which = i, .a = a, .b = b};
        pthread_create(&th[i], NULL, fn, &out[i]);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&go);
}

static void test_concurrent_merges_and_binds(void **state)
{
    pg *db = fresh_db();
    for (int round = 0; round < 10; round++) {
        char a1[37], a2[37], ta[37], tb[37];
        add_alert(db, a1, "a", "low", 1);
        add_alert(db, a2, "b", "low", 1);
        assert_ok(ticket_create(db, U, (const char *[]){a1}, 1, ta, err_, sizeof err_));
        assert_ok(ticket_create(db, U, (const char *[]){a2}, 1, tb, err_, sizeof err_));
        race_arg r[2];
        race(merge_thread, ta, tb, r); /* A<-B and B<-A at once */
        int ok = (r[0].rc == PG_OK) + (r[1].rc == PG_OK);
        int refused = (r[0].rc == TICKET_REFUSED) + (r[1].rc == TICKET_REFUSED);
        if (ok != 1 || refused != 1)
            fail_msg("round %d: rc %d (%s), %d (%s)", round, r[0].rc, r[0].err, r[1].rc, r[1].err);
        assert_non_null(strstr(r[0].rc ? r[0].err : r[1].err, "merged into another"));
    }
    assert_query(db, "SELECT count(*) FROM tickets WHERE merged_into IS NOT NULL", NULL, "10");
    assert_query(db, "SELECT count(*) FROM tickets WHERE merged_into IS NULL AND alert_count = 2", NULL, "10");

    for (int round = 0; round < 10; round++) {
        char ta[37], tb[37], seed1[37], seed2[37];
        add_alert(db, seed1, "s", "low", 1);
        add_alert(db, seed2, "s", "low", 1);
        assert_ok(ticket_create(db, U, (const char *[]){seed1}, 1, ta, err_, sizeof err_));
        assert_ok(ticket_create(db, U, (const char *[]){seed2}, 1, tb, err_, sizeof err_));
        assert_int_equal(
            pg_exec(db, NULL, "DELETE FROM alerts WHERE alert_id = '00000000-0000-7000-8000-000000000001'", 0, NULL),
            PG_OK);
        assert_int_equal(pg_exec(db, NULL,
                                 "INSERT INTO alerts (alert_id, event_id, trace_id, schema, title)"
                                 " VALUES ('00000000-0000-7000-8000-000000000001', gen_random_uuid(), 't', 's', 'a')",
                                 0, NULL),
                         PG_OK);
        race_arg r[2];
        race(bind_thread, ta, tb, r); /* one alert into two tickets at once */
        int ok = (r[0].rc == PG_OK) + (r[1].rc == PG_OK);
        int refused = (r[0].rc == TICKET_REFUSED) + (r[1].rc == TICKET_REFUSED);
        if (ok != 1 || refused != 1)
            fail_msg("bind round %d: rc %d (%s), %d (%s)", round, r[0].rc, r[0].err, r[1].rc, r[1].err);
        assert_query(db, "SELECT count(*) FROM ticket_alerts WHERE alert_id = $1::uuid",
                     "00000000-0000-7000-8000-000000000001", "1");
        assert_int_equal(pg_exec(db, NULL,
                                 "DELETE FROM ticket_alerts WHERE alert_id = '00000000-0000-7000-8000-000000000001'", 0,
                                 NULL),
                         PG_OK);
    }
    pg_free(db);
}

/* ---- the relay ---- */

typedef struct {
    int accept; /* how many more to accept */
    int calls;
    char ids[16][80];
} sink;

static void sink_publish(ticket_relay_event *events, size_t n, void *arg)
{
    sink *s = arg;
    for (size_t k = 0; k < n; k++) {
        s->calls++;
        events[k].acked = s->accept > 0;
        if (s->accept <= 0)
            continue;
        Hutch__V1__TicketEvent *ev = hutch__v1__ticket_event__unpack(NULL, events[k].len, events[k].value);
        assert_non_null(ev);
        assert_string_equal(ev->ticket_id, events[k].ticket_id);
        int i = s->calls - 1;
        snprintf(s->ids[i], sizeof s->ids[i], "%s %s %s", ev->kind, ev->actor, ev->meta->id);
        hutch__v1__ticket_event__free_unpacked(ev, NULL);
        s->accept--;
    }
}

static void test_relay(void **state)
{
    pg *db = fresh_db();
    char a1[37], a2[37], t[37];
    add_alert(db, a1, "x", "low", 1);
    add_alert(db, a2, "y", "low", 1);
    assert_ok(ticket_create(db, U, (const char *[]){a1}, 1, t, err_, sizeof err_));
    assert_ok(ticket_decline(db, U, t, a1, err_, sizeof err_));
    assert_ok(ticket_bind(db, U, t, (const char *[]){a2}, 1, err_, sizeof err_));
    assert_ok(ticket_resolve(db, U, t, "intended", "ok", err_, sizeof err_));
    sink s = {.accept = 2};
    assert_int_equal(ticket_relay_publish(db, 10, sink_publish, &s), 2);
    assert_int_equal(s.calls, 4); /* all sent at once; the third failed: it and the rest of its ticket wait */
    assert_true(!strncmp(s.ids[0], "opened user:ana ", 16));
    assert_true(!strncmp(s.ids[1], "declined user:ana ", 18));
    char third_first_try[80];
    sink again = {.accept = 10};
    assert_int_equal(ticket_relay_publish(db, 1, sink_publish, &again), 1);
    snprintf(third_first_try, sizeof third_first_try, "%s", again.ids[0]);
    assert_true(!strncmp(third_first_try, "bound ", 6));
    /* a re-send is the same message: put it back and publish again */
    assert_int_equal(pg_exec(db, NULL, "UPDATE ticket_history SET published_at = NULL WHERE seq = 3", 0, NULL), PG_OK);
    sink rest = {.accept = 10};
    assert_int_equal(ticket_relay_publish(db, 10, sink_publish, &rest), 2);
    assert_string_equal(rest.ids[0], third_first_try);
    assert_true(!strncmp(rest.ids[1], "resolved ", 9));
    sink none = {.accept = 10};
    assert_int_equal(ticket_relay_publish(db, 10, sink_publish, &none), 0);
    assert_query(db, "SELECT count(*) FROM ticket_history WHERE published_at IS NULL", NULL, "0");
    pg_free(db);
}

int main(void)
{
    log_init("test-ticket", getenv("TEST_LOG_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rule_table),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_lifecycle),
        cmocka_unit_test(test_inside_callers_transaction),
        cmocka_unit_test(test_decline_and_severity),
        cmocka_unit_test(test_merge_unmerge),
        cmocka_unit_test(test_salvage),
        cmocka_unit_test(test_concurrent_merges_and_binds),
        cmocka_unit_test(test_relay),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
