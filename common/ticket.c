/* The ticket lifecycle (ticket.h): the pure rule of which operation each status
 * allows, and the transactions that apply them.
 *
 * Every operation is one transaction run by run_txn (or, when the caller has one open,
 * a savepoint of the caller's: run_in_callers_txn): BEGIN; the ticket rows locked
 * with one SELECT ... ORDER BY ticket_id FOR UPDATE (rows are locked in the order the
 * sort returns them, so two transactions that lock the same tickets take them in one
 * order and never wait on each other in a cycle); the rule (ticket_op_refusal) read
 * on the locked rows; the change; one ticket_history row per ticket changed. A refusal
 * rolls back. PG_RETRY (deadlock, serialization failure, lost connection) runs the
 * whole transaction again, up to TICKET_TRIES times with a short growing backoff,
 * before it is returned to the caller.
 *
 * seq: tickets.history_seq is the ticket's last history seq; history_add takes the
 * next one with an UPDATE of the (locked) row, so it needs no max() over the history
 * and hutch-cluster's batch statement takes seqs the same way. `at` is
 * clock_timestamp(), not now(): a later seq of one ticket is written after the
 * earlier one committed (the row lock), so ordering by `at` keeps each ticket's order,
 * which is what the relay publishes in.
 *
 * What must stay true: ticket_alerts holds the binding (an alert in one ticket at
 * most, alerts.ticket_id mirrors it); a declined alert has no ticket_alerts row and
 * alerts.declined_at set, and only a person (create, bind) binds it again; severity is
 * refreshed (severity_refresh) whenever alerts join or leave. Severity names and their
 * order come from common/severity.h, passed as an array parameter. */
#include "common/ticket.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/ids.h"
#include "common/log.h"
#include "common/similar.h"
#include "common/msg.h"
#include "common/severity.h"
#include "hutch/v1/ticket.pb-c.h"

#define TICKET_TRIES 5
#define RELAY_PRODUCER "hutch-ticket-relay"

/* ---- the pure part ---- */

static const char *const status_names[] = {"open", "resolved", "archived"};
static const char *const op_names[] = {"create", "bind",    "decline",  "resolve", "reopen",  "archive", "assign",
                                       "edit",   "finding", "severity", "merge",   "unmerge", "salvage"};
static const char *const conclusions[] = {"intended", "unaffected", "false_positive", "true_positive", "escalated"};

const char *ticket_op_refusal(ticket_op op, ticket_status from, bool merged)
{
    if ((unsigned)op > TICKET_OP_SALVAGE)
        return "unknown operation";
    if (op == TICKET_OP_CREATE)
        return NULL; /* no ticket yet */
    if ((unsigned)from > TICKET_ARCHIVED)
        return "unknown status";
    if (merged && op != TICKET_OP_ARCHIVE)
        return "the ticket was merged into another: change that one (unmerge brings alerts back)";
    switch (op) {
    case TICKET_OP_REOPEN: return from == TICKET_OPEN ? "the ticket is open already" : NULL;
    case TICKET_OP_ARCHIVE: return from == TICKET_ARCHIVED ? "the ticket is archived already" : NULL;
    case TICKET_OP_RESOLVE:
        return from == TICKET_OPEN       ? NULL
               : from == TICKET_RESOLVED ? "the ticket is resolved already"
                                         : "the ticket is archived: reopen it first";
    case TICKET_OP_ASSIGN:
    case TICKET_OP_EDIT:
    case TICKET_OP_FINDING: return from == TICKET_ARCHIVED ? "the ticket is archived: reopen it first" : NULL;
    default: /* bind, decline, severity, merge, unmerge, salvage: alerts or triage of a live ticket */
        return from == TICKET_OPEN       ? NULL
               : from == TICKET_RESOLVED ? "the ticket is resolved: reopen it first"
                                         : "the ticket is archived: reopen it first";
    }
}

const char *ticket_status_name(ticket_status s) { return (unsigned)s <= TICKET_ARCHIVED ? status_names[s] : "?"; }

int ticket_status_parse(const char *name, ticket_status *out)
{
    for (size_t i = 0; name && i < sizeof status_names / sizeof *status_names; i++)
        if (!strcmp(name, status_names[i])) {
            *out = (ticket_status)i;
            return 0;
        }
    return -1;
}

const char *ticket_op_name(ticket_op op) { return (unsigned)op <= TICKET_OP_SALVAGE ? op_names[op] : "?"; }

int ticket_conclusion_check(const char *name)
{
    for (size_t i = 0; name && i < sizeof conclusions / sizeof *conclusions; i++)
        if (!strcmp(name, conclusions[i]))
            return 0;
    return -1;
}

/* ---- helpers of the transactions ---- */

static int refuse(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int refuse(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && errlen)
        vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return TICKET_REFUSED;
}

typedef int (*txn_fn)(pg *db, void *arg, char *err, size_t errlen);

/* One operation inside the caller's open transaction: a savepoint, released on
 * success, rolled back to on a refusal or a refused statement (the caller's
 * transaction goes on); PG_RETRY is returned at once (a deadlock or a lost connection
 * spoils the caller's whole transaction, which the caller runs again). */
static int run_in_callers_txn(pg *db, txn_fn fn, void *arg, char *err, size_t errlen)
{
    err[0] = '\0';
    int rc = pg_exec(db, NULL, "SAVEPOINT ticket_op", 0, NULL);
    if (rc == PG_OK)
        rc = fn(db, arg, err, errlen);
    if (rc == PG_OK)
        return pg_exec(db, NULL, "RELEASE SAVEPOINT ticket_op", 0, NULL);
    if (rc == TICKET_REFUSED || rc == PG_FATAL) {
        int undo = pg_exec(db, NULL, "ROLLBACK TO SAVEPOINT ticket_op", 0, NULL);
        if (undo != PG_OK)
            rc = undo;
    }
    if (rc != TICKET_REFUSED && !err[0])
        snprintf(err, errlen, "%s", pg_last_error(db) ? pg_last_error(db) : "database error");
    return rc;
}

/* One operation: its transaction, run again on PG_RETRY a few times; or a savepoint of
 * the caller's transaction when one is open. */
static int run_txn(pg *db, txn_fn fn, void *arg, char *err, size_t errlen)
{
    char scratch[8];
    if (!err || !errlen) {
        err = scratch;
        errlen = sizeof scratch;
    }
    if (pg_in_transaction(db))
        return run_in_callers_txn(db, fn, arg, err, errlen);
    for (int attempt = 1;; attempt++) {
        err[0] = '\0';
        int rc = pg_begin(db);
        if (rc == PG_OK)
            rc = fn(db, arg, err, errlen);
        if (rc == PG_OK)
            rc = pg_commit(db);
        else
            pg_rollback(db);
        if (rc == PG_OK || rc == TICKET_REFUSED)
            return rc;
        if (!err[0])
            snprintf(err, errlen, "%s", pg_last_error(db) ? pg_last_error(db) : "database error");
        if (rc != PG_RETRY || attempt == TICKET_TRIES)
            return rc;
        /* deadlock or lost connection: 20, 40, 80, 160 ms plus a little jitter */
        struct timespec ts = {0, (long)((20L << (attempt - 1)) + rand() % 10) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static bool valid_ids(const char *const *ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!ids[i] || !ids_is_uuid(ids[i]))
            return false;
    return n > 0;
}

static const char *bad_id(const char *const *ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!ids[i] || !ids_is_uuid(ids[i]))
            return ids[i] ? ids[i] : "(null)";
    return "";
}

/* "{id,id}" for $n::uuid[]: NEW (free()), NULL on OOM. */
static char *id_array(const char *const *ids, size_t n)
{
    pg_array a;
    pg_array_init(&a);
    for (size_t i = 0; i < n; i++)
        pg_array_add(&a, ids[i]);
    const char *text = pg_array_text(&a);
    char *out = text ? strdup(text) : NULL;
    pg_array_free(&a);
    return out;
}

/* The severity names in order ("{info,...,critical}"), for array_position. */
static const char *severity_order(void)
{
    static char text[96];
    if (!text[0]) {
        size_t len = 0;
        text[len++] = '{';
        for (int i = SEVERITY_INFO; i <= SEVERITY_CRITICAL; i++)
            len += (size_t)snprintf(text + len, sizeof text - len, "%s%s", i ? "," : "", severity_name(i));
        snprintf(text + len, sizeof text - len, "}");
    }
    return text;
}

typedef struct {
    char id[37];
    ticket_status status;
    bool merged;
    char merged_into[37];
    char severity[16];
} locked_ticket;

/* Locks the tickets ids[0..n) in ticket-id order and reads their state into out
 * (in the order of ids). TICKET_REFUSED if one does not exist. */
static int lock_tickets(pg *db, const char *const *ids, size_t n, locked_ticket *out, char *err, size_t errlen)
{
    if (!valid_ids(ids, n))
        return refuse(err, errlen, "not a ticket id: \"%s\"", bad_id(ids, n));
    char *arr = id_array(ids, n);
    if (!arr)
        return PG_RETRY;
    const char *p[] = {arr};
    PGresult *r = NULL;
    int rc = pg_exec(db, &r,
                     "SELECT ticket_id::text, status, coalesce(merged_into::text, ''), coalesce(severity, '') "
                     "FROM tickets WHERE ticket_id = ANY($1::uuid[]) ORDER BY ticket_id FOR UPDATE",
                     1, p);
    free(arr);
    for (size_t i = 0; rc == PG_OK && i < n; i++) {
        int k = 0;
        while (k < PQntuples(r) && strcasecmp(PQgetvalue(r, k, 0), ids[i]))
            k++;
        if (k == PQntuples(r)) {
            rc = refuse(err, errlen, "ticket %s not found", ids[i]);
            break;
        }
        locked_ticket *t = &out[i];
        snprintf(t->id, sizeof t->id, "%s", PQgetvalue(r, k, 0));
        if (ticket_status_parse(PQgetvalue(r, k, 1), &t->status) != 0)
            t->status = TICKET_OPEN; /* the CHECK constraint keeps this from happening */
        snprintf(t->merged_into, sizeof t->merged_into, "%s", PQgetvalue(r, k, 2));
        t->merged = t->merged_into[0] != '\0';
        snprintf(t->severity, sizeof t->severity, "%s", PQgetvalue(r, k, 3));
    }
    PQclear(r);
    return rc;
}

static int check_op(ticket_op op, const locked_ticket *t, char *err, size_t errlen)
{
    const char *why = ticket_op_refusal(op, t->status, t->merged);
    return why ? refuse(err, errlen, "cannot %s ticket %s: %s", ticket_op_name(op), t->id, why) : PG_OK;
}

/* One history row for ticket_id (locked by the caller); detail is STOLEN. */
static int history_add(pg *db, const char *ticket_id, const char *actor, const char *kind, json_t *detail)
{
    char *text = detail ? json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(detail);
    if (!text)
        return PG_RETRY; /* out of memory */
    const char *p[] = {ticket_id, actor, kind, text};
    int rc = pg_exec(db, NULL,
                     "WITH s AS (UPDATE tickets SET history_seq = history_seq + 1, updated_at = now()"
                     " WHERE ticket_id = $1::uuid RETURNING history_seq) "
                     "INSERT INTO ticket_history (ticket_id, seq, at, actor, kind, detail)"
                     " SELECT $1::uuid, history_seq, clock_timestamp(), $2, $3, $4::jsonb FROM s",
                     4, p);
    free(text);
    return rc;
}

/* alert_count and severity (the highest of the alerts' and the raised floor) again. */
static int ticket_refresh(pg *db, const char *ticket_id)
{
    const char *p[] = {ticket_id, severity_order()};
    return pg_exec(db, NULL,
                   "UPDATE tickets t SET"
                   " alert_count = (SELECT count(*) FROM ticket_alerts b WHERE b.ticket_id = t.ticket_id),"
                   " severity = coalesce(($2::text[])[(SELECT max(r) FROM ("
                   "   SELECT array_position($2::text[], a.severity) AS r FROM ticket_alerts b"
                   "   JOIN alerts a USING (alert_id) WHERE b.ticket_id = t.ticket_id"
                   "   UNION ALL SELECT array_position($2::text[], t.severity_raised)) x)], t.severity),"
                   " updated_at = now() "
                   "WHERE t.ticket_id = $1::uuid",
                   2, p);
}

/* The alerts ids[0..n) must exist and be unbound: TICKET_REFUSED naming the first
 * that is not. (A concurrent bind is caught by bind_alerts' count.) */
static int check_unbound(pg *db, const char *const *ids, size_t n, char *err, size_t errlen)
{
    if (!valid_ids(ids, n))
        return n ? refuse(err, errlen, "not an alert id: \"%s\"", bad_id(ids, n))
                 : refuse(err, errlen, "no alerts given");
    char *arr = id_array(ids, n);
    if (!arr)
        return PG_RETRY;
    const char *p[] = {arr};
    PGresult *r = NULL;
    int rc = pg_exec(db, &r,
                     "SELECT x.id::text, a.alert_id IS NOT NULL, coalesce(b.ticket_id::text, '') "
                     "FROM unnest($1::uuid[]) WITH ORDINALITY AS x(id, i)"
                     " LEFT JOIN alerts a ON a.alert_id = x.id LEFT JOIN ticket_alerts b ON b.alert_id = x.id "
                     "ORDER BY x.i",
                     1, p);
    free(arr);
    for (int k = 0; rc == PG_OK && k < PQntuples(r); k++) {
        if (strcmp(PQgetvalue(r, k, 1), "t"))
            rc = refuse(err, errlen, "alert %s not found", PQgetvalue(r, k, 0));
        else if (*PQgetvalue(r, k, 2))
            rc =
                refuse(err, errlen, "alert %s is bound to ticket %s already", PQgetvalue(r, k, 0), PQgetvalue(r, k, 2));
        for (int j = 0; rc == PG_OK && j < k; j++)
            if (!strcmp(PQgetvalue(r, j, 0), PQgetvalue(r, k, 0)))
                rc = refuse(err, errlen, "alert %s is given twice", PQgetvalue(r, k, 0));
    }
    PQclear(r);
    return rc;
}

/* Binds alerts (a "{...}" uuid array of n) to ticket_id; every one must be bound by
 * this statement, or TICKET_REFUSED (another transaction bound one first). Clears a
 * decline: only a person binds a declined alert. */
static int bind_alerts(pg *db, const char *ticket_id, const char *arr, size_t n, char *err, size_t errlen)
{
    const char *p[] = {arr, ticket_id};
    PGresult *r = NULL;
    int rc = pg_exec(db, &r,
                     "WITH b AS (INSERT INTO ticket_alerts (alert_id, ticket_id)"
                     " SELECT x, $2::uuid FROM unnest($1::uuid[]) AS x ON CONFLICT DO NOTHING RETURNING alert_id),"
                     " a AS (UPDATE alerts SET ticket_id = $2::uuid, declined_at = NULL,"
                     " clustered_at = coalesce(clustered_at, now()) FROM b WHERE alerts.alert_id = b.alert_id"
                     " RETURNING 1) "
                     "SELECT (SELECT count(*) FROM b), (SELECT count(*) FROM a)",
                     2, p);
    if (rc == PG_OK && strtoull(PQgetvalue(r, 0, 0), NULL, 10) != n)
        rc = refuse(err, errlen, "an alert was bound to another ticket meanwhile");
    PQclear(r);
    if (rc == PG_OK)
        rc = pg_exec(db, NULL,
                     "UPDATE tickets SET last_alert_at = greatest(last_alert_at, now()) WHERE ticket_id = $1::uuid", 1,
                     (const char *const[]){ticket_id});
    return rc;
}

/* A JSON array of the ids (NEW). */
static json_t *json_ids(const char *const *ids, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_string(ids[i]));
    return a;
}

/* The ids of a result's column (NEW array of n strings into r: BORROWED from r). */
static const char **column_ids(PGresult *r, int col, size_t *n)
{
    *n = (size_t)PQntuples(r);
    const char **ids = calloc(*n ? *n : 1, sizeof *ids);
    for (size_t i = 0; ids && i < *n; i++)
        ids[i] = PQgetvalue(r, (int)i, col);
    return ids;
}

/* Inserts a new ticket titled after the first of the alerts (ids, uuid array). */
static int insert_ticket(pg *db, const char *ticket_id, const char *first_alert, size_t n)
{
    char count[24];
    snprintf(count, sizeof count, "%zu", n);
    const char *p[] = {ticket_id, first_alert, count};
    return pg_exec(db, NULL,
                   "INSERT INTO tickets (ticket_id, title, namespace, fingerprint, alert_count, last_alert_at)"
                   " SELECT $1::uuid, CASE WHEN $3::int > 1 THEN a.title || ' (+' || ($3::int - 1) || ' alerts)'"
                   " ELSE a.title END, a.namespace, coalesce(a.fingerprint, ''), 0, now()"
                   " FROM alerts a WHERE a.alert_id = $2::uuid",
                   3, p);
}

/* ---- the operations ---- */

typedef struct {
    const char *actor, *ticket_id, *other_id;
    const char *const *alert_ids;
    size_t n;
    const char *s1, *s2;
    const ticket_finding *finding;
    double threshold;
    int64_t window_ms;
    bool dry_run;
    size_t count;
    char out_id[37];
} op_args;

static int do_create(pg *db, void *va, char *err, size_t errlen)
{
    op_args *a = va;
    int rc = check_unbound(db, a->alert_ids, a->n, err, errlen);
    char *arr = rc == PG_OK ? id_array(a->alert_ids, a->n) : NULL;
    if (rc == PG_OK && !arr)
        rc = PG_RETRY;
    ids_uuid7(a->out_id);
    if (rc == PG_OK)
        rc = insert_ticket(db, a->out_id, a->alert_ids[0], a->n);
    if (rc == PG_OK)
        rc = bind_alerts(db, a->out_id, arr, a->n, err, errlen);
    if (rc == PG_OK)
        rc = ticket_refresh(db, a->out_id);
    if (rc == PG_OK)
        rc = history_add(db, a->out_id, a->actor, "opened",
                         json_pack("{s:o}", "alert_ids", json_ids(a->alert_ids, a->n)));
    free(arr);
    return rc;
}

int ticket_create(pg *db, const char *actor, const char *const *alert_ids, size_t n, char out_ticket_id[37], char *err,
                  size_t errlen)
{
    op_args a = {.actor = actor, .alert_ids = alert_ids, .n = n};
    int rc = run_txn(db, do_create, &a, err, errlen);
    if (out_ticket_id)
        snprintf(out_ticket_id, 37, "%s", rc == PG_OK ? a.out_id : "");
    return rc;
}

/* Locks the one ticket an operation changes and checks the rule for op on it. */
static int lock_one(pg *db, const char *ticket_id, ticket_op op, locked_ticket *t, char *err, size_t errlen)
{
    int rc = lock_tickets(db, &ticket_id, 1, t, err, errlen);
    return rc == PG_OK ? check_op(op, t, err, errlen) : rc;
}

static int do_bind(pg *db, void *va, char *err, size_t errlen)
{
    op_args *a = va;
    locked_ticket t;
    int rc = lock_one(db, a->ticket_id, TICKET_OP_BIND, &t, err, errlen);
    if (rc == PG_OK)
        rc = check_unbound(db, a->alert_ids, a->n, err, errlen);
    char *arr = rc == PG_OK ? id_array(a->alert_ids, a->n) : NULL;
    if (rc == PG_OK && !arr)
        rc = PG_RETRY;
    if (rc == PG_OK)
        rc = bind_alerts(db, t.id, arr, a->n, err, errlen);
    if (rc == PG_OK)
        rc = ticket_refresh(db, t.id);
    if (rc == PG_OK)
        rc = history_add(db, t.id, a->actor, "bound", json_pack("{s:o}", "alert_ids", json_ids(a->alert_ids, a->n)));
    free(arr);
    return rc;
}

int ticket_bind(pg *db, const char *actor, const char *ticket_id, const char *const *alert_ids, size_t n, char *err,
                size_t errlen)
{
    op_args a = {.actor = actor, .ticket_id = ticket_id, .alert_ids = alert_ids, .n = n};
    return run_txn(db, do_bind, &a, err, errlen);
}

static int do_decline(pg *db, void *va, char *err, size_t errlen)
{
    op_args *a = va;
    locked_ticket t;
    int rc = lock_one(db, a->ticket_id, TICKET_OP_DECLINE, &t, err, errlen);
    if (rc == PG_OK && !valid_ids(&a->s1, 1))
        rc = refuse(err, errlen, "not an alert id: \"%s\"", a->s1 ? a->s1 : "(null)");
    PGresult *r = NULL;
    if (rc == PG_OK)
        rc = pg_exec(db, &r,
                     "WITH d AS (DELETE FROM ticket_alerts WHERE alert_id = $1::uuid AND ticket_id = $2::uuid"
                     " RETURNING alert_id) "
                     "UPDATE alerts SET declined_at = now(), ticket_id = NULL FROM d WHERE alerts.alert_id = d.alert_id"
                     " RETURNING 1",
                     2, (const char *const[]){a->s1, t.id});
    if (rc == PG_OK && PQntuples(r) != 1)
        rc = refuse(err, errlen, "alert %s is not bound to ticket %s", a->s1, t.id);
    PQclear(r);
    if (rc == PG_OK)
        rc = ticket_refresh(db, t.id);
    if (rc == PG_OK)
        rc = history_add(db, t.id, a->actor, "declined", json_pack("{s:s}", "alert_id", a->s1));
    return rc;
}

int ticket_decline(pg *db, const char *actor, const char *ticket_id, const char *alert_id, char *err, size_t errlen)
{
    op_args a = {.actor = actor, .ticket_id = ticket_id, .s1 = alert_id};
    return run_txn(db, do_decline, &a, err, errlen);
}

static int do_resolve(pg *db, void *va, char *err, size_t errlen)
{
    op_args *a = va;
    if (ticket_conclusion_check(a->s1) != 0)
        return refuse(err, errlen,
                      "unknown conclusion \"%s\" (intended, unaffected, false_positive, true_positive, escalated)",
                      a->s1 ? a->s1 : "");
    if (!a->s2 || !*a->s2)
        return refuse(err, errlen, "a resolve needs a reason");
    locked_ticket t;
    int rc = lock_one(db, a->ticket_id, TICKET_OP_RESOLVE, &t, err, errlen);
    if (rc == PG_OK)
        rc = pg_exec(db, NULL,
                     "UPDATE tickets SET status = 'resolved', conclusion = $2, reason = $3, resolved_at = now()"
                     " WHERE ticket_id = $1::uuid",
                     3, (const char *const[]){t.id, a->s1, a->s2});
    if (rc == PG_OK)
        rc = history_add(db, t.id, a->actor, "resolved", json_pack("{s:s, s:s}", "conclusion", a->s1, "reason", a->s2));
    return rc;
}

int ticket_resolve(pg *db, const char *actor, const char *ticket_id, const char *conclusion, const char *reason,
                   char *err, size_t errlen)
{
    op_args a = {.actor = actor, .ticket_id = ticket_id, .s1 = conclusion, .s2 = reason};
    return run_txn(db, do_resolve, &a, err, errlen);
}

static int do_reopen(pg *db, void *va, char *err, size_t errlen)
{
    op_args *a = va;
    locked_ticket t;
    int rc = lock_one(db, a->ticket_id, TICKET_OP_REOPEN, &t, err, errlen);
    if (rc == PG_OK)
        rc = pg_exec(db, NULL,
                     "UPDATE tickets SET status = 'open', conclusion = NULL, reason = NULL, resolved_at = NULL,"
                     " archived_at = NULL WHERE ticket_id = $1::uuid",
                     1, (const char *const[]){t.id});
    if (rc == PG_OK)
        rc = history_add(db, t.id, a->actor, "reopened", json_pack("{s:s}", "from", ticket_status_name(t.status)));
    return rc;
}

int ticket_reopen(pg *db, const char *actor, const char *ticket_id, char *err, size_t errlen)
{
    op_args a = {.actor = actor, .ticket_id = ticket_id};
    return run_txn(db, do_reopen, &a, err, errlen);
}

static int do_archive(pg *db, void *va, char *err, size_t errlen)
{
    op_args *a = va;
    locked_ticket t;
    int rc = lock_one(db, a->ticket_id, TICKET_OP_ARCHIVE, &t, err, errlen);
    if (rc == PG_OK)
        rc = pg_exec(db, NULL, "UPDATE tickets SET status = 'archived', archived_at = now() WHERE ticket_id = $1::uuid",
                     1, (const char *const[]){t.id});
    if (rc == PG_OK)
        rc = history_add(db, t.id, a->actor, "archived", json_pack("{s:s}", "from", ticket_status_name(t.status)));
    return rc;
}

int ticket_archive(pg *db, const char *actor, const char *ticket_id, char *err, size_t errlen)
{
    op_args a = {.actor = actor, .ticket_id = ticket_id};
    return run_txn(db, do_archive, &a, err, errlen);
}

static int do_assign(pg *db, void *va, char *err, size_t errlen)
{
    op_args *a = va;
    if (!a->s1)
        return refuse(err, errlen, "no assignee given (\"\" unassigns)");
    locked_ticket t;
    int rc = lock_one(db, a->ticket_id, TICKET_OP_ASSIGN, &t, err, errlen);
    PGresult *r = NULL;
    if (rc == PG_OK)
        rc = pg_exec(
            db, &r,
            "UPDATE tickets t SET assignee = $2 FROM (SELECT assignee FROM tickets WHERE ticket_id = $1::uuid) o"
            " WHERE t.ticket_id = $1::uuid RETURNING o.assignee",
            2, (const char *const[]){t.id, a->s1});
    if (rc == PG_OK)
        rc = history_add(db, t.id, a->actor, "assigned",
                         json_pack("{s:s, s:s}", "assignee", a->s1, "previous", PQgetvalue(r, 0, 0)));
    PQclear(r);
    return rc;
}

int ticket_assign(pg *db, const char *actor, const char *ticket_id, const char *assignee, char *err, size_t errlen)
{
    op_args a = {.actor = actor, .ticket_id = ticket_id, .s1 = assignee};
    return run_txn(db, do_assign, &a, err, errlen);
}

static int do_edit(pg *db, void *va, char *err, size_t errlen)
{
    op_args *a = va;
    if (!a->s1 && !a->s2)
        return refuse(err, errlen, "nothing to edit: give a title or a description");
    if (a->s1 && !*a->s1)
        return refuse(err, errlen, "a ticket's title cannot be empty");
    locked_ticket t;
    int rc = lock_one(db, a->ticket_id, TICKET_OP_EDIT, &t, err, errlen);
    if (rc == PG_OK)
        rc = pg_exec(db, NULL,
                     "UPDATE tickets SET title = coalesce($2, title), description = coalesce($3, description)"
                     " WHERE ticket_id = $1::uuid",
                     3, (const char *const[]){t.id, a->s1, a->s2});
    json_t *detail = json_object();
    if (detail && a->s1)
        json_object_set_new(detail, "title", json_string(a->s1));
    if (detail && a->s2)
        json_object_set_new(detail, "description", json_string(a->s2));
    if (rc == PG_OK)
        rc = history_add(db, t.id, a->actor, "edited", json_incref(detail));
    json_decref(detail);
    return rc;
}

int ticket_edit(pg *db, const char *actor, const char *ticket_id, const char *title, const char *description, char *err,
                size_t errlen)
{
    op_args a = {.actor = actor, .ticket_id = ticket_id, .s1 = title, .s2 = description};
    return run_txn(db, do_edit, &a, err, errlen);
}

static int do_finding(pg *db, void *va, char *err, size_t errlen)
{
    op_args *a = va;
    const ticket_finding *f = a->finding;
    if (!f || severity_rank(f->severity) < 0)
        return refuse(err, errlen, "a finding needs a severity (info, low, medium, high, critical)");
    if (!f->summary || !*f->summary)
        return refuse(err, errlen, "a finding needs a summary");
    locked_ticket t;
    int rc = lock_one(db, a->ticket_id, TICKET_OP_FINDING, &t, err, errlen);
    json_t *finding =
        json_pack("{s:s, s:s, s:s, s:s}", "severity", f->severity, "summary", f->summary, "reason",
                  f->reason ? f->reason : "", "recommendation", f->recommendation ? f->recommendation : "");
    char *text = finding ? json_dumps(finding, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (rc == PG_OK && !text)
        rc = PG_RETRY;
    if (rc == PG_OK)
        rc = pg_exec(db, NULL, "UPDATE tickets SET finding = $2::jsonb WHERE ticket_id = $1::uuid", 2,
                     (const char *const[]){t.id, text});
    if (rc == PG_OK)
        rc = history_add(db, t.id, a->actor, "finding", json_incref(finding));
    json_decref(finding);
    free(text);
    return rc;
}

int ticket_set_finding(pg *db, const char *actor, const char *ticket_id, const ticket_finding *f, char *err,
                       size_t errlen)
{
    op_args a = {.actor = actor, .ticket_id = ticket_id, .finding = f};
    return run_txn(db, do_finding, &a, err, errlen);
}

static int do_severity(pg *db, void *va, char *err, size_t errlen)
{
    op_args *a = va;
    int want = severity_rank(a->s1);
    if (want < 0)
        return refuse(err, errlen, "unknown severity \"%s\" (info, low, medium, high, critical)", a->s1 ? a->s1 : "");
    locked_ticket t;
    int rc = lock_one(db, a->ticket_id, TICKET_OP_SEVERITY, &t, err, errlen);
    if (rc == PG_OK && severity_rank(t.severity) >= want)
        rc = refuse(err, errlen, "ticket %s is %s already: severity is only raised, never lowered", t.id, t.severity);
    if (rc == PG_OK)
        rc = pg_exec(db, NULL, "UPDATE tickets SET severity_raised = $2 WHERE ticket_id = $1::uuid", 2,
                     (const char *const[]){t.id, a->s1});
    if (rc == PG_OK)
        rc = ticket_refresh(db, t.id);
    if (rc == PG_OK)
        rc = history_add(db, t.id, a->actor, "severity",
                         json_pack("{s:s, s:s?}", "severity", a->s1, "previous", t.severity[0] ? t.severity : NULL));
    return rc;
}

int ticket_raise_severity(pg *db, const char *actor, const char *ticket_id, const char *severity, char *err,
                          size_t errlen)
{
    op_args a = {.actor = actor, .ticket_id = ticket_id, .s1 = severity};
    return run_txn(db, do_severity, &a, err, errlen);
}

static int do_merge(pg *db, void *va, char *err, size_t errlen)
{
    op_args *a = va;
    const char *ids[2] = {a->ticket_id, a->other_id}; /* target, source */
    if (valid_ids(ids, 2) && !strcasecmp(ids[0], ids[1]))
        return refuse(err, errlen, "cannot merge ticket %s into itself", ids[0]);
    locked_ticket t[2];
    int rc = lock_tickets(db, ids, 2, t, err, errlen);
    for (int i = 0; rc == PG_OK && i < 2; i++)
        rc = check_op(TICKET_OP_MERGE, &t[i], err, errlen);
    PGresult *r = NULL;
    if (rc == PG_OK)
        rc = pg_exec(db, &r,
                     "WITH m AS (UPDATE ticket_alerts SET ticket_id = $1::uuid, merged_from = $2::uuid"
                     " WHERE ticket_id = $2::uuid RETURNING alert_id),"
                     " a AS (UPDATE alerts SET ticket_id = $1::uuid FROM m WHERE alerts.alert_id = m.alert_id"
                     " RETURNING 1) "
                     "SELECT alert_id::text FROM m ORDER BY alert_id",
                     2, (const char *const[]){t[0].id, t[1].id});
    size_t n = 0;
    const char **moved = rc == PG_OK ? column_ids(r, 0, &n) : NULL;
    if (rc == PG_OK && !moved)
        rc = PG_RETRY;
    if (rc == PG_OK)
        rc = pg_exec(db, NULL,
                     "UPDATE tickets t SET last_alert_at = greatest(t.last_alert_at, s.last_alert_at)"
                     " FROM tickets s WHERE t.ticket_id = $1::uuid AND s.ticket_id = $2::uuid",
                     2, (const char *const[]){t[0].id, t[1].id});
    if (rc == PG_OK)
        rc = pg_exec(db, NULL,
                     "UPDATE tickets SET status = 'resolved', merged_into = $1::uuid, resolved_at = now()"
                     " WHERE ticket_id = $2::uuid",
                     2, (const char *const[]){t[0].id, t[1].id});
    for (int i = 0; rc == PG_OK && i < 2; i++)
        rc = ticket_refresh(db, t[i].id);
    if (rc == PG_OK)
        rc = history_add(db, t[0].id, a->actor, "merged",
                         json_pack("{s:s, s:o}", "from", t[1].id, "alert_ids", json_ids(moved, n)));
    if (rc == PG_OK)
        rc = history_add(db, t[1].id, a->actor, "merged",
                         json_pack("{s:s, s:o}", "into", t[0].id, "alert_ids", json_ids(moved, n)));
    free(moved);
    PQclear(r);
    return rc;
}

int ticket_merge(pg *db, const char *actor, const char *target_id, const char *source_id, char *err, size_t errlen)
{
    op_args a = {.actor = actor, .ticket_id = target_id, .other_id = source_id};
    return run_txn(db, do_merge, &a, err, errlen);
}

/* Where unmerged alerts go: the ticket they were all merged from, when they share one
 * and it is still merged into this one or open; else a new ticket. */
static int do_unmerge(pg *db, void *va, char *err, size_t errlen)
{
    op_args *a = va;
    if (!valid_ids(&a->ticket_id, 1))
        return refuse(err, errlen, "not a ticket id: \"%s\"", a->ticket_id ? a->ticket_id : "(null)");
    if (!valid_ids(a->alert_ids, a->n))
        return a->n ? refuse(err, errlen, "not an alert id: \"%s\"", bad_id(a->alert_ids, a->n))
                    : refuse(err, errlen, "no alerts given");
    char *arr = id_array(a->alert_ids, a->n);
    if (!arr)
        return PG_RETRY;
    PGresult *r = NULL;
    int rc = pg_exec(db, &r,
                     "SELECT x.id::text, coalesce(b.ticket_id::text, ''), coalesce(b.merged_from::text, '')"
                     " FROM unnest($1::uuid[]) WITH ORDINALITY AS x(id, i)"
                     " LEFT JOIN ticket_alerts b ON b.alert_id = x.id ORDER BY x.i",
                     1, (const char *const[]){arr});
    char from[37] = "";
    bool same_source = true;
    for (int k = 0; rc == PG_OK && k < PQntuples(r); k++) {
        if (strcasecmp(PQgetvalue(r, k, 1), a->ticket_id))
            rc = refuse(err, errlen, "alert %s is not in ticket %s", PQgetvalue(r, k, 0), a->ticket_id);
        if (k == 0)
            snprintf(from, sizeof from, "%s", PQgetvalue(r, k, 2));
        else if (strcmp(from, PQgetvalue(r, k, 2)))
            same_source = false;
    }
    PQclear(r);
    if (!same_source)
        from[0] = '\0';
    locked_ticket t[2];
    const char *ids[2] = {a->ticket_id, from};
    if (rc == PG_OK)
        rc = lock_tickets(db, ids, from[0] ? 2 : 1, t, err, errlen);
    if (rc == PG_OK)
        rc = check_op(TICKET_OP_UNMERGE, &t[0], err, errlen);
    bool back =
        rc == PG_OK && from[0] &&
        ((t[1].merged && !strcasecmp(t[1].merged_into, t[0].id)) || (!t[1].merged && t[1].status == TICKET_OPEN));
    bool reopen = back && t[1].merged;
    if (back)
        snprintf(a->out_id, sizeof a->out_id, "%s", t[1].id);
    else
        ids_uuid7(a->out_id);
    if (rc == PG_OK && !back)
        rc = insert_ticket(db, a->out_id, a->alert_ids[0], a->n);
    if (rc == PG_OK && reopen)
        rc = pg_exec(db, NULL,
                     "UPDATE tickets SET status = 'open', merged_into = NULL, conclusion = NULL, reason = NULL,"
                     " resolved_at = NULL, archived_at = NULL WHERE ticket_id = $1::uuid",
                     1, (const char *const[]){a->out_id});
    if (rc == PG_OK) {
        /* under the lock of the ticket the alerts leave: none can have left meanwhile */
        rc = pg_exec(db, &r,
                     "WITH m AS (UPDATE ticket_alerts SET ticket_id = $2::uuid, merged_from = NULL"
                     " WHERE alert_id = ANY($1::uuid[]) AND ticket_id = $3::uuid RETURNING alert_id),"
                     " a AS (UPDATE alerts SET ticket_id = $2::uuid FROM m WHERE alerts.alert_id = m.alert_id"
                     " RETURNING 1) "
                     "SELECT count(*) FROM m",
                     3, (const char *const[]){arr, a->out_id, t[0].id});
        if (rc == PG_OK && strtoull(PQgetvalue(r, 0, 0), NULL, 10) != a->n)
            rc = refuse(err, errlen, "an alert left ticket %s meanwhile", t[0].id);
        PQclear(r);
    }
    if (rc == PG_OK)
        rc = pg_exec(db, NULL,
                     "UPDATE tickets SET last_alert_at = greatest(last_alert_at, now()) WHERE ticket_id = $1::uuid", 1,
                     (const char *const[]){a->out_id});
    if (rc == PG_OK)
        rc = ticket_refresh(db, t[0].id);
    if (rc == PG_OK)
        rc = ticket_refresh(db, a->out_id);
    if (rc == PG_OK)
        rc = history_add(db, t[0].id, a->actor, "unmerged",
                         json_pack("{s:s, s:o}", "to", a->out_id, "alert_ids", json_ids(a->alert_ids, a->n)));
    if (rc == PG_OK)
        rc = back ? history_add(db, a->out_id, a->actor, "unmerged",
                                json_pack("{s:s, s:o, s:b}", "from", t[0].id, "alert_ids", json_ids(a->alert_ids, a->n),
                                          "reopened", reopen))
                  : history_add(db, a->out_id, a->actor, "opened",
                                json_pack("{s:s, s:o}", "from", t[0].id, "alert_ids", json_ids(a->alert_ids, a->n)));
    free(arr);
    return rc;
}

int ticket_unmerge(pg *db, const char *actor, const char *ticket_id, const char *const *alert_ids, size_t n,
                   char out_ticket_id[37], char *err, size_t errlen)
{
    op_args a = {.actor = actor, .ticket_id = ticket_id, .alert_ids = alert_ids, .n = n};
    int rc = run_txn(db, do_unmerge, &a, err, errlen);
    if (out_ticket_id)
        snprintf(out_ticket_id, 37, "%s", rc == PG_OK ? a.out_id : "");
    return rc;
}

static int do_salvage(pg *db, void *va, char *err, size_t errlen)
{
    op_args *a = va;
    if (!(a->threshold > 0 && a->threshold <= 1))
        return refuse(err, errlen, "the threshold is a cosine similarity in (0, 1]");
    if (a->window_ms <= 0)
        return refuse(err, errlen, "the window must be positive");
    locked_ticket t;
    int rc = lock_one(db, a->ticket_id, TICKET_OP_SALVAGE, &t, err, errlen);
    /* the ticket's vector: the normalised mean of its alerts' vectors of the model
     * (and dimensions) most of them were embedded with */
    PGresult *v = NULL, *r = NULL;
    if (rc == PG_OK)
        rc = pg_exec(db, &v,
                     "WITH v AS (SELECT e.model, e.dims, e.vector FROM ticket_alerts b JOIN " EMBEDDING_VECTORS
                     " USING (alert_id)"
                     "  WHERE b.ticket_id = $1::uuid AND e.dims = cardinality(e.vector)),"
                     " m AS (SELECT model, dims FROM v GROUP BY model, dims ORDER BY count(*) DESC, model LIMIT 1),"
                     " s AS (SELECT u.i, avg(u.x) AS x FROM v JOIN m USING (model, dims), unnest(v.vector)"
                     "  WITH ORDINALITY AS u(x, i) GROUP BY u.i),"
                     " n AS (SELECT sqrt(sum(x * x)) AS norm FROM s) "
                     "SELECT m.model, m.dims, (SELECT array_agg((s.x / n.norm)::real ORDER BY s.i) FROM s, n"
                     " WHERE n.norm > 0)::text FROM m",
                     1, (const char *const[]){t.id});
    if (rc == PG_OK && (PQntuples(v) != 1 || PQgetisnull(v, 0, 2)))
        rc = refuse(err, errlen, "ticket %s has no embedded alerts to compare with", t.id);
    char threshold[32], window[32];
    snprintf(threshold, sizeof threshold, "%.17g", a->threshold);
    snprintf(window, sizeof window, "%lld", (long long)a->window_ms);
    const char *kw = a->s1 && *a->s1 ? a->s1 : NULL;
    if (rc == PG_OK)
        rc = pg_exec(db, &r,
                     "SELECT a.alert_id::text FROM alerts a JOIN " EMBEDDING_VECTORS " USING (alert_id)"
                     " WHERE a.created_at >= now() - $2::bigint * interval '1 millisecond'"
                     " AND a.declined_at IS NULL"
                     " AND NOT EXISTS (SELECT 1 FROM ticket_alerts b WHERE b.alert_id = a.alert_id)"
                     " AND e.model = $3 AND e.dims = $4::int AND cardinality(e.vector) = $4::int"
                     " AND ($5::text IS NULL OR strpos(lower(a.title || ' ' || a.description), lower($5)) > 0)"
                     " AND (SELECT sum(x::float8 * y::float8) FROM unnest(e.vector, $1::real[]) AS u(x, y))"
                     "  >= $6::float8 - 1e-6"
                     " ORDER BY a.created_at, a.alert_id",
                     6,
                     (const char *const[]){PQgetvalue(v, 0, 2), window, PQgetvalue(v, 0, 0), PQgetvalue(v, 0, 1), kw,
                                           threshold});
    PQclear(v);
    size_t n = 0;
    const char **found = rc == PG_OK ? column_ids(r, 0, &n) : NULL;
    if (rc == PG_OK && !found)
        rc = PG_RETRY;
    a->count = n;
    char *arr = rc == PG_OK && n && !a->dry_run ? id_array(found, n) : NULL;
    PGresult *b = NULL;
    if (arr) {
        /* an alert bound by hutch-cluster since the query is left where it went */
        rc = pg_exec(db, &b,
                     "WITH b AS (INSERT INTO ticket_alerts (alert_id, ticket_id)"
                     " SELECT x, $2::uuid FROM unnest($1::uuid[]) AS x ON CONFLICT DO NOTHING RETURNING alert_id),"
                     " a AS (UPDATE alerts SET ticket_id = $2::uuid, clustered_at = coalesce(clustered_at, now())"
                     " FROM b WHERE alerts.alert_id = b.alert_id RETURNING 1) "
                     "SELECT alert_id::text FROM b ORDER BY alert_id",
                     2, (const char *const[]){arr, t.id});
        free(found);
        found = rc == PG_OK ? column_ids(b, 0, &n) : NULL;
        if (rc == PG_OK && !found)
            rc = PG_RETRY;
        a->count = n;
        if (rc == PG_OK && n)
            rc = pg_exec(db, NULL,
                         "UPDATE tickets SET last_alert_at = greatest(last_alert_at, now()) WHERE ticket_id = $1::uuid",
                         1, (const char *const[]){t.id});
        if (rc == PG_OK && n)
            rc = ticket_refresh(db, t.id);
        if (rc == PG_OK && n)
            rc = history_add(db, t.id, a->actor, "salvaged",
                             json_pack("{s:o, s:f, s:s?}", "alert_ids", json_ids(found, n), "threshold", a->threshold,
                                       "keyword", kw));
    }
    free(arr);
    free(found);
    PQclear(b);
    PQclear(r);
    return rc;
}

int ticket_salvage(pg *db, const char *actor, const char *ticket_id, double threshold, const char *keyword,
                   int64_t window_ms, bool dry_run, size_t *out_count, char *err, size_t errlen)
{
    op_args a = {.actor = actor,
                 .ticket_id = ticket_id,
                 .threshold = threshold,
                 .s1 = keyword,
                 .window_ms = window_ms,
                 .dry_run = dry_run};
    int rc = run_txn(db, do_salvage, &a, err, errlen);
    if (out_count)
        *out_count = rc == PG_OK ? a.count : 0;
    return rc;
}

/* ---- the relay ---- */

/* One relay at a time (any instance), so each ticket's events go out in seq order. */
int ticket_relay_publish(pg *db, size_t max, ticket_publish_fn publish, void *arg)
{
    char limit[24];
    snprintf(limit, sizeof limit, "%zu", max ? max : 1);
    int rc = pg_begin(db);
    PGresult *lock = NULL, *r = NULL;
    if (rc == PG_OK)
        rc = pg_exec(db, &lock, "SELECT pg_try_advisory_xact_lock(hashtext('hutch.ticket_relay'))", 0, NULL);
    bool mine = rc == PG_OK && !strcmp(PQgetvalue(lock, 0, 0), "t");
    PQclear(lock);
    if (mine)
        rc = pg_exec(db, &r,
                     "SELECT ticket_id::text, seq, (extract(epoch FROM at) * 1000)::bigint, actor, kind, detail::text,"
                     " coalesce(detail->>'alert_id', '')"
                     " FROM ticket_history WHERE published_at IS NULL ORDER BY at, ticket_id, seq LIMIT $1::int",
                     1, (const char *const[]){limit});
    size_t n = rc == PG_OK && mine ? (size_t)PQntuples(r) : 0;
    ticket_relay_event *events = n ? calloc(n, sizeof *events) : NULL;
    if (n && !events)
        rc = PG_RETRY;
    for (size_t k = 0; rc == PG_OK && k < n; k++) {
        const char *ticket_id = PQgetvalue(r, (int)k, 0), *seq = PQgetvalue(r, (int)k, 1);
        char seed[80];
        snprintf(seed, sizeof seed, "%s/history/%s", ticket_id, seq);
        msg_meta_buf mb;
        msg_meta_init(&mb, ticket_id, RELAY_PRODUCER, strtoll(PQgetvalue(r, (int)k, 2), NULL, 10), seed);
        Hutch__V1__TicketEvent ev = HUTCH__V1__TICKET_EVENT__INIT;
        ev.meta = &mb.meta;
        ev.ticket_id = (char *)ticket_id;
        ev.kind = PQgetvalue(r, (int)k, 4);
        ev.actor = PQgetvalue(r, (int)k, 3);
        ev.detail_json = PQgetvalue(r, (int)k, 5);
        ev.alert_id = PQgetvalue(r, (int)k, 6);
        events[k].ticket_id = ticket_id;
        if (!(events[k].value = msg_pack(&ev.base, &events[k].len)))
            rc = PG_RETRY;
    }
    if (rc == PG_OK && n)
        publish(events, n, arg);
    /* published: the acknowledged events of each ticket up to its first one that was not */
    pg_array done_ids, done_seqs;
    pg_array_init(&done_ids);
    pg_array_init(&done_seqs);
    int published = 0;
    size_t first_failed = n; /* events before it were all acknowledged */
    for (size_t k = 0; rc == PG_OK && k < n; k++) {
        const char *ticket_id = events[k].ticket_id;
        bool stopped = !events[k].acked;
        for (size_t j = first_failed; j < k && !stopped; j++)
            stopped = !events[j].acked && !strcmp(events[j].ticket_id, ticket_id);
        if (!events[k].acked && first_failed == n)
            first_failed = k;
        if (stopped)
            continue;
        pg_array_add(&done_ids, ticket_id);
        pg_array_add(&done_seqs, PQgetvalue(r, (int)k, 1));
        published++;
    }
    for (size_t k = 0; events && k < n; k++)
        free((void *)events[k].value);
    free(events);
    PQclear(r);
    if (rc == PG_OK && published) {
        const char *p[] = {pg_array_text(&done_ids), pg_array_text(&done_seqs)};
        rc = p[0] && p[1] ? pg_exec(db, NULL,
                                    "UPDATE ticket_history h SET published_at = now()"
                                    " FROM unnest($1::uuid[], $2::int[]) AS x(id, seq)"
                                    " WHERE h.ticket_id = x.id AND h.seq = x.seq",
                                    2, p)
                          : PG_RETRY;
    }
    pg_array_free(&done_ids);
    pg_array_free(&done_seqs);
    if (rc == PG_OK)
        rc = pg_commit(db);
    else
        pg_rollback(db);
    return rc == PG_OK ? published : rc;
}
