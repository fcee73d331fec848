/* Postgres access (pg.h).
 *
 * One libpq connection per handle, used by one thread at a time. Queries are
 * parameterised only (text parameters, never SQL built from data); the one
 * exception is a migration script, which is a constant of the program run with
 * PQexec because it holds several statements.
 *
 * Connection loss: libpq notices it when a query fails and sets CONNECTION_BAD.
 * The next pg_exec then reconnects (once, without waiting) before running its
 * statement — except inside a transaction: the transaction died with the old
 * connection, so every statement up to pg_rollback fails with PG_RETRY instead of
 * silently running outside it. The caller re-runs the whole transaction later.
 *
 * Statements are prepared once per connection (named after a hash of their text)
 * and then run with PQexecPrepared: services run the same few statements for every
 * message, and parsing and planning them each time was most of Postgres' work.
 * The cache holds the text of each prepared statement and is emptied whenever the
 * connection is replaced or reset; a statement the server no longer knows is
 * prepared again.
 *
 * `up` mirrors the connection state in an atomic so that pg_connected can be
 * called from another thread (the HTTP thread's /readyz) without touching libpq. */
#include "common/pg.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>

#include "common/ids.h"
#include "common/log.h"
#include "common/migrations.h"

/* An arbitrary constant: "hutch" in ASCII, the key of the migration lock. */
#define PG_MIGRATION_LOCK_KEY "1752462440"

#define PG_PREPARED_MAX 64

struct pg {
    PGconn *conn;
    char *prepared[PG_PREPARED_MAX]; /* texts prepared on conn ... */
    unsigned prepared_id[PG_PREPARED_MAX]; /* ... as "s<id>", ids never reused */
    int nprepared;
    char last_error[512]; /* of the last failed statement */
    unsigned next_id;
    char *url;
    bool in_tx;     /* between pg_begin and pg_commit/pg_rollback */
    bool tx_broken; /* the connection was lost during the transaction */
    atomic_int up;
};

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0) {
    }
}

/* Copies libpq's message without its trailing newline(s). */
static void copy_error(char *err, size_t errlen, const char *what, const char *msg)
{
    if (!err || !errlen)
        return;
    snprintf(err, errlen, "%s: %s", what, msg ? msg : "unknown error");
    size_t n = strlen(err);
    while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == ' '))
        err[--n] = '\0';
    for (char *p = err; *p; p++)
        if (*p == '\n' || *p == '\t')
            *p = ' ';
}

/* Server notices ("relation already exists, skipping") become debug log lines
 * instead of raw text on stderr. */
static void notice_to_log(void *arg, const char *message)
{
    char text[512];
    copy_error(text, sizeof text, "postgres notice", message);
    LOG_DEBUG("pg_notice", "message", text, NULL);
}

static PGconn *try_connect(const char *url, char *err, size_t errlen)
{
    /* The URL comes first so that it is expanded; the later keywords only fill
     * in what the URL leaves unset-by-default (an unreachable host must not hang
     * start-up for the TCP timeout). The application name is the service's, so
     * pg_stat_activity says whose a session is. */
    const char *keys[] = {"dbname", "fallback_application_name", "connect_timeout", "keepalives_idle", NULL};
    const char *vals[] = {url, log_service_name(), "5", "30", NULL};
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    if (conn && PQstatus(conn) == CONNECTION_OK) {
        PQsetNoticeProcessor(conn, notice_to_log, NULL);
        return conn;
    }
    copy_error(err, errlen, "postgres connect", conn ? PQerrorMessage(conn) : "out of memory");
    PQfinish(conn);
    return NULL;
}

pg *pg_connect(const char *url, int wait_ms, char *err, size_t errlen)
{
    if (!url) {
        copy_error(err, errlen, "postgres connect", "no URL");
        return NULL;
    }
    pg *db = calloc(1, sizeof *db);
    if (!db || !(db->url = strdup(url))) {
        free(db);
        copy_error(err, errlen, "postgres connect", "out of memory");
        return NULL;
    }
    int64_t deadline = ids_now_ms() + (wait_ms > 0 ? wait_ms : 0);
    int64_t backoff = 100;
    for (int attempt = 1;; attempt++) {
        db->conn = try_connect(url, err, errlen);
        if (db->conn)
            break;
        int64_t now = ids_now_ms();
        if (now >= deadline) {
            pg_free(db);
            return NULL;
        }
        if (attempt == 1 || attempt % 10 == 0)
            LOG_WARN("pg_connect_retry", "error", err, NULL);
        int64_t wait = backoff < deadline - now ? backoff : deadline - now;
        sleep_ms(wait);
        backoff = backoff * 2 > 2000 ? 2000 : backoff * 2;
    }
    atomic_store(&db->up, 1);
    return db;
}

static void forget_prepared(pg *db)
{
    for (int i = 0; i < db->nprepared; i++)
        free(db->prepared[i]);
    db->nprepared = 0;
}

void pg_free(pg *db)
{
    if (!db)
        return;
    forget_prepared(db);
    if (db->conn)
        PQfinish(db->conn);
    free(db->url);
    free(db);
}

int pg_connected(pg *db)
{
    return db && atomic_load(&db->up);
}

/* Makes sure there is a live connection; reconnects once if it was lost. */
static int ensure_connection(pg *db)
{
    if (db->conn && PQstatus(db->conn) == CONNECTION_OK)
        return PG_OK;
    atomic_store(&db->up, 0);
    if (db->in_tx) {
        db->tx_broken = true;
        return PG_RETRY;
    }
    forget_prepared(db); /* a new session knows none of them */
    if (db->conn) {
        PQreset(db->conn);
        if (PQstatus(db->conn) == CONNECTION_OK) {
            LOG_INFO("pg_reconnected", NULL);
            atomic_store(&db->up, 1);
            return PG_OK;
        }
        PQfinish(db->conn);
        db->conn = NULL;
    }
    char err[512];
    db->conn = try_connect(db->url, err, sizeof err);
    if (!db->conn) {
        LOG_WARN("pg_reconnect_failed", "error", err, NULL);
        return PG_RETRY;
    }
    LOG_INFO("pg_reconnected", NULL);
    atomic_store(&db->up, 1);
    return PG_OK;
}

/* SQLSTATEs worth retrying: the same transaction may well succeed later. */
static bool sqlstate_retryable(const char *st)
{
    if (!st)
        return true; /* no SQLSTATE: client-side, i.e. connection trouble */
    return !strcmp(st, "40001") || !strcmp(st, "40P01") || !strncmp(st, "08", 2) || !strcmp(st, "57P01") ||
           !strcmp(st, "57P02") || !strcmp(st, "57P03") || !strcmp(st, "53300");
}

static int classify_failure(pg *db, PGresult *r, const char *sql)
{
    const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = r ? PQresultErrorMessage(r) : NULL;
    if (!msg || !*msg)
        msg = PQerrorMessage(db->conn);
    bool conn_bad = PQstatus(db->conn) != CONNECTION_OK;
    int rc = (conn_bad || sqlstate_retryable(st)) ? PG_RETRY : PG_FATAL;
    if (conn_bad) {
        atomic_store(&db->up, 0);
        if (db->in_tx)
            db->tx_broken = true;
    }
    char err[512];
    copy_error(err, sizeof err, "postgres", msg);
    snprintf(db->last_error, sizeof db->last_error, "%s", err);
    char stmt[80];
    snprintf(stmt, sizeof stmt, "%.79s", sql);
    if (rc == PG_RETRY)
        LOG_WARN("pg_error", "sqlstate", st ? st : "", "error", err, "statement", stmt, "retryable", "true", NULL);
    else
        LOG_ERROR("pg_error", "sqlstate", st ? st : "", "error", err, "statement", stmt, "retryable", "false", NULL);
    return rc;
}

/* Runs sql as a prepared statement (preparing it first on this connection), or
 * with PQexecParams once the cache is full. */
static PGresult *run_statement(pg *db, const char *sql, int nparams, const char *const *params)
{
    int i = 0;
    while (i < db->nprepared && strcmp(db->prepared[i], sql) != 0)
        i++;
    char name[16];
    if (i == db->nprepared) {
        char *copy = i < PG_PREPARED_MAX ? strdup(sql) : NULL;
        if (!copy)
            return PQexecParams(db->conn, sql, nparams, NULL, params, NULL, NULL, 0);
        unsigned id = db->next_id++;
        snprintf(name, sizeof name, "s%u", id);
        PGresult *prep = PQprepare(db->conn, name, sql, nparams, NULL);
        if (!prep || PQresultStatus(prep) != PGRES_COMMAND_OK) {
            free(copy);
            return prep; /* the error is the statement's: classified by the caller */
        }
        PQclear(prep);
        db->prepared[i] = copy;
        db->prepared_id[i] = id;
        db->nprepared++;
    }
    snprintf(name, sizeof name, "s%u", db->prepared_id[i]);
    return PQexecPrepared(db->conn, name, nparams, params, NULL, NULL, 0);
}

int pg_exec(pg *db, PGresult **res, const char *sql, int nparams, const char *const *params)
{
    if (res)
        *res = NULL;
    if (!db || !sql)
        return PG_FATAL;
    if (db->tx_broken)
        return PG_RETRY;
    int rc = ensure_connection(db);
    if (rc != PG_OK)
        return rc;
    PGresult *r = run_statement(db, sql, nparams, params);
    ExecStatusType status = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (status == PGRES_FATAL_ERROR && state && !strcmp(state, "26000") && !db->in_tx) {
        /* invalid_sql_statement_name: the session lost our statements (a pooler, a
         * DISCARD ALL): forget them and run this one unprepared */
        forget_prepared(db);
        PQclear(r);
        r = PQexecParams(db->conn, sql, nparams, NULL, params, NULL, NULL, 0);
        status = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    } else if (status == PGRES_FATAL_ERROR && state && !strcmp(state, "26000")) {
        /* the same inside a transaction, which that error aborted: run it again */
        forget_prepared(db);
        PQclear(r);
        LOG_WARN("pg_prepared_statements_lost", "statement", sql, NULL);
        return PG_RETRY;
    }
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_EMPTY_QUERY) {
        if (res)
            *res = r;
        else
            PQclear(r);
        return PG_OK;
    }
    rc = classify_failure(db, r, sql);
    PQclear(r);
    return rc;
}

int pg_begin(pg *db)
{
    if (!db)
        return PG_FATAL;
    if (db->in_tx) /* a previous transaction was never closed: start clean */
        pg_rollback(db);
    int rc = pg_exec(db, NULL, "BEGIN", 0, NULL);
    if (rc == PG_OK) {
        db->in_tx = true;
        db->tx_broken = false;
    }
    return rc;
}

int pg_commit(pg *db)
{
    if (!db)
        return PG_FATAL;
    if (!db->in_tx)
        return PG_FATAL;
    if (db->tx_broken) {
        pg_rollback(db);
        return PG_RETRY;
    }
    PGresult *r = NULL;
    int rc = pg_exec(db, &r, "COMMIT", 0, NULL);
    if (rc == PG_OK) {
        /* COMMIT of an aborted transaction "succeeds" with tag ROLLBACK. */
        const char *tag = PQcmdStatus(r);
        if (tag && !strcmp(tag, "ROLLBACK")) {
            LOG_ERROR("pg_commit_rolled_back", NULL);
            rc = PG_FATAL;
        }
    }
    PQclear(r);
    if (rc == PG_OK) {
        db->in_tx = false;
        db->tx_broken = false;
    } else {
        pg_rollback(db);
    }
    return rc;
}

bool pg_in_transaction(const pg *db) { return db != NULL && db->in_tx; }

void pg_rollback(pg *db)
{
    if (!db)
        return;
    if (db->conn && PQstatus(db->conn) == CONNECTION_OK && PQtransactionStatus(db->conn) != PQTRANS_IDLE) {
        PGresult *r = PQexecParams(db->conn, "ROLLBACK", 0, NULL, NULL, NULL, NULL, 0);
        PQclear(r);
    }
    db->in_tx = false;
    db->tx_broken = false;
}

/* Runs a constant multi-statement migration script (PQexecParams allows one statement). */
static int exec_script(pg *db, const char *sql, char *err, size_t errlen)
{
    PGresult *r = PQexec(db->conn, sql);
    ExecStatusType status = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    int rc = PG_OK;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && status != PGRES_EMPTY_QUERY) {
        copy_error(err, errlen, "migration", r ? PQresultErrorMessage(r) : PQerrorMessage(db->conn));
        rc = PQstatus(db->conn) != CONNECTION_OK ? PG_RETRY : PG_FATAL;
    }
    PQclear(r);
    return rc;
}

int pg_migrate(pg *db, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!db)
        return PG_FATAL;
    int rc = pg_exec(db, NULL, "SELECT pg_advisory_lock(" PG_MIGRATION_LOCK_KEY ")", 0, NULL);
    if (rc != PG_OK) {
        copy_error(err, errlen, "migration", "could not take the migration lock");
        return rc;
    }
    rc = pg_exec(db, NULL,
                 "CREATE TABLE IF NOT EXISTS schema_migrations ("
                 " version int PRIMARY KEY, name text NOT NULL,"
                 " applied_at timestamptz NOT NULL DEFAULT now())",
                 0, NULL);
    if (rc != PG_OK)
        copy_error(err, errlen, "migration", "could not create schema_migrations");

    for (int i = 0; rc == PG_OK && i < migrations_count; i++) {
        const migration *m = &migrations[i];
        char version[16];
        snprintf(version, sizeof version, "%d", m->version);
        const char *params[] = {version, m->name};
        PGresult *r = NULL;
        rc = pg_exec(db, &r, "SELECT 1 FROM schema_migrations WHERE version = $1::int", 1, params);
        if (rc != PG_OK) {
            copy_error(err, errlen, "migration", "could not read schema_migrations");
            break;
        }
        int applied = PQntuples(r) > 0;
        PQclear(r);
        if (applied)
            continue;
        rc = pg_begin(db);
        if (rc == PG_OK)
            rc = exec_script(db, m->sql, err, errlen);
        if (rc == PG_OK)
            rc = pg_exec(db, NULL, "INSERT INTO schema_migrations (version, name) VALUES ($1::int, $2)", 2, params);
        if (rc == PG_OK)
            rc = pg_commit(db);
        if (rc != PG_OK) {
            pg_rollback(db);
            if (err && !*err)
                copy_error(err, errlen, "migration", "could not record the migration");
            LOG_ERROR("migration_failed", "version", version, "name", m->name, "error", err, NULL);
            break;
        }
        LOG_INFO("migration_applied", "version", version, "name", m->name, NULL);
    }
    /* The lock is per session: if the connection died it is gone already. */
    if (db->conn && PQstatus(db->conn) == CONNECTION_OK)
        PQclear(PQexecParams(db->conn, "SELECT pg_advisory_unlock(" PG_MIGRATION_LOCK_KEY ")", 0, NULL, NULL, NULL,
                             NULL, 0));
    return rc;
}

/* ---- batch statements ---------------------------------------------------- */

void pg_array_init(pg_array *a) { memset(a, 0, sizeof *a); }

void pg_array_add(pg_array *a, const char *text)
{
    strbuf_puts(&a->text, a->n++ ? "," : "{");
    if (!text) {
        strbuf_puts(&a->text, "NULL");
        return;
    }
    strbuf_puts(&a->text, "\"");
    for (const char *p = text; *p; p++) {
        size_t run = strcspn(p, "\"\\");
        strbuf_add(&a->text, p, run);
        p += run;
        if (!*p)
            break;
        strbuf_add(&a->text, "\\", 1);
        strbuf_add(&a->text, p, 1);
    }
    strbuf_puts(&a->text, "\"");
}

void pg_array_addf(pg_array *a, const char *fmt, ...)
{
    char small[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof small) { /* numbers only: anything longer is a misuse */
        a->text.failed = true;
        return;
    }
    pg_array_add(a, small);
}

const char *pg_array_text(pg_array *a)
{
    if (a->n == 0)
        return a->text.failed ? NULL : "{}";
    if (strbuf_puts(&a->text, "}") != 0)
        return NULL;
    a->text.len--; /* not counted: the next add writes over it */
    return a->text.p;
}

bool pg_array_failed(const pg_array *a) { return a->text.failed; }

void pg_array_free(pg_array *a)
{
    strbuf_free(&a->text);
    memset(a, 0, sizeof *a);
}

int pg_claim(pg *db, const char *consumer, const char *const *ids, size_t n, bool *fresh)
{
    if (n == 0)
        return PG_OK;
    pg_array arr;
    pg_array_init(&arr);
    for (size_t i = 0; i < n; i++) {
        pg_array_add(&arr, ids[i]);
        fresh[i] = false;
    }
    const char *text = pg_array_text(&arr);
    if (!text) {
        pg_array_free(&arr);
        return PG_RETRY; /* out of memory: try again later */
    }
    const char *params[] = {consumer, text};
    PGresult *res = NULL;
    int rc = pg_exec(db, &res,
                     "INSERT INTO processed_messages (consumer, message_id) SELECT $1, unnest($2::text[]) "
                     "ON CONFLICT DO NOTHING RETURNING message_id",
                     2, params);
    pg_array_free(&arr);
    if (rc != PG_OK)
        return rc;
    /* Each returned id was claimed now: the first of its copies in ids is fresh. */
    for (int r = 0; r < PQntuples(res); r++) {
        const char *id = PQgetvalue(res, r, 0);
        for (size_t i = 0; i < n; i++)
            if (!fresh[i] && !strcmp(ids[i], id)) {
                fresh[i] = true;
                break;
            }
    }
    PQclear(res);
    return PG_OK;
}

const char *pg_last_error(pg *db) { return db && db->last_error[0] ? db->last_error : "unknown database error"; }

/* The binary array (array_send): ndim, has-nulls flag, element type oid, then per
 * dimension its size and lower bound, then per element its length and its bytes, every
 * integer 4 bytes in network order. */
#define FLOAT4_OID 700

static uint32_t be32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return ntohl(v);
}

float *pg_real_array_decode(const char *bytea_text, int dim)
{
    if (dim <= 0)
        return NULL;
    size_t len = 0;
    unsigned char *b = PQunescapeBytea((const unsigned char *)bytea_text, &len);
    float *v = NULL;
    if (!b || len != 20 + (size_t)dim * 8 || be32(b) != 1 || be32(b + 4) != 0 || be32(b + 8) != FLOAT4_OID ||
        be32(b + 12) != (uint32_t)dim || !(v = malloc((size_t)dim * sizeof *v)))
        goto out;
    for (int i = 0; i < dim; i++) {
        const unsigned char *e = b + 20 + (size_t)i * 8;
        if (be32(e) != 4) {
            free(v);
            v = NULL;
            goto out;
        }
        uint32_t bits = be32(e + 4);
        memcpy(&v[i], &bits, 4);
    }
out:
    PQfreemem(b);
    return v;
}
