/* Postgres statements of notify's outbox (see store.h). Parameterised queries only. */
#include "services/notify/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char sql_processed[] =
    "INSERT INTO processed_messages (consumer, message_id) VALUES ('hutch-notify', $1) ON CONFLICT DO NOTHING";

static const char sql_insert[] =
    "INSERT INTO notifications (request_id, ticket_id, alert_id, kind, target, channel, message, status, sent_at) "
    "VALUES ($1, $2::uuid, $3::uuid, $4, $5, $6, $7::jsonb, $8::text, CASE WHEN $8::text = 'sent' THEN now() END) "
    "ON CONFLICT (request_id) DO NOTHING RETURNING 1";

static const char sql_status[] = "SELECT status, attempts FROM notifications WHERE request_id = $1";
static const char sql_claim[] = "SELECT status, attempts FROM notifications WHERE request_id = $1 FOR UPDATE";

static const char sql_attempt[] =
    "UPDATE notifications SET attempts = attempts + 1, status = $2::text, last_error = coalesce($3::text, last_error),"
    " sent_at = CASE WHEN $2::text = 'sent' THEN now() ELSE sent_at END "
    "WHERE request_id = $1 AND status = 'pending'";

int notify_store_record(pg *db, const char *message_id, notify_row *rows, size_t n)
{
    int rc = pg_begin(db);
    if (rc != PG_OK)
        goto fail;
    const char *p[] = {message_id};
    if ((rc = pg_exec(db, NULL, sql_processed, 1, p)) != PG_OK)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        notify_row *r = &rows[i];
        const char *params[] = {r->row_id,  r->ticket_id,
                                r->alert_id && *r->alert_id ? r->alert_id : NULL,
                                r->kind,    r->target,
                                r->channel ? r->channel : "",
                                r->message, r->sent ? "sent" : "pending"};
        PGresult *res = NULL;
        if ((rc = pg_exec(db, &res, sql_insert, 8, params)) != PG_OK)
            goto fail;
        r->inserted = PQntuples(res) == 1;
        PQclear(res);
    }
    if ((rc = pg_commit(db)) != PG_OK)
        goto fail;
    return PG_OK;
fail:
    pg_rollback(db);
    return rc == PG_RETRY ? PG_RETRY : PG_FATAL;
}

static int read_status(pg *db, const char *sql, const char *row_id, char *status, size_t status_len, int *attempts)
{
    PGresult *res = NULL;
    const char *p[] = {row_id};
    int rc = pg_exec(db, &res, sql, 1, p);
    if (rc != PG_OK)
        return rc == PG_RETRY ? PG_RETRY : PG_FATAL;
    status[0] = '\0';
    *attempts = 0;
    if (PQntuples(res) == 1) {
        snprintf(status, status_len, "%s", PQgetvalue(res, 0, 0));
        *attempts = (int)strtol(PQgetvalue(res, 0, 1), NULL, 10);
    }
    PQclear(res);
    return PG_OK;
}

int notify_store_status(pg *db, const char *row_id, char *status, size_t status_len, int *attempts)
{
    return read_status(db, sql_status, row_id, status, status_len, attempts);
}

int notify_store_claim(pg *db, const char *row_id, char *status, size_t status_len, int *attempts)
{
    int rc = pg_begin(db);
    if (rc == PG_OK)
        rc = read_status(db, sql_claim, row_id, status, status_len, attempts);
    if (rc != PG_OK)
        pg_rollback(db);
    return rc == PG_OK ? PG_OK : rc == PG_RETRY ? PG_RETRY : PG_FATAL;
}

int notify_store_attempt(pg *db, const char *row_id, const char *new_status, const char *last_error)
{
    const char *p[] = {row_id, new_status, last_error};
    int rc = pg_exec(db, NULL, sql_attempt, 3, p);
    return rc == PG_OK ? PG_OK : rc == PG_RETRY ? PG_RETRY : PG_FATAL;
}
