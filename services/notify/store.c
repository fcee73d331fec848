/* Postgres statements of notify's outbox (see store.h). Parameterised queries only. */
#include "services/notify/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char sql_insert[] =
    "INSERT INTO notifications (request_id, ticket_id, alert_id, kind, target, channel, message, status, sent_at) "
    "SELECT x.request_id, x.ticket_id, x.alert_id, x.kind, x.target, x.channel, x.message, x.status,"
    " CASE WHEN x.status = 'sent' THEN now() END "
    "FROM unnest($1::text[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::jsonb[], $8::text[])"
    " AS x(request_id, ticket_id, alert_id, kind, target, channel, message, status) "
    "ON CONFLICT (request_id) DO NOTHING RETURNING request_id";

static const char sql_status[] = "SELECT status, attempts FROM notifications WHERE request_id = $1";
static const char sql_claim[] = "SELECT status, attempts FROM notifications WHERE request_id = $1 FOR UPDATE";

static const char sql_attempt[] =
    "UPDATE notifications SET attempts = attempts + 1, status = $2::text, last_error = coalesce($3::text, last_error),"
    " sent_at = CASE WHEN $2::text = 'sent' THEN now() ELSE sent_at END "
    "WHERE request_id = $1 AND status = 'pending'";

int notify_store_record(pg *db, notify_row *rows, size_t n)
{
    if (n == 0)
        return PG_OK;
    pg_array cols[8];
    for (int c = 0; c < 8; c++)
        pg_array_init(&cols[c]);
    for (size_t i = 0; i < n; i++) {
        notify_row *r = &rows[i];
        r->inserted = false;
        pg_array_add(&cols[0], r->row_id);
        pg_array_add(&cols[1], r->ticket_id);
        pg_array_add(&cols[2], r->alert_id && *r->alert_id ? r->alert_id : NULL);
        pg_array_add(&cols[3], r->kind);
        pg_array_add(&cols[4], r->target);
        pg_array_add(&cols[5], r->channel ? r->channel : "");
        pg_array_add(&cols[6], r->message);
        pg_array_add(&cols[7], r->sent ? "sent" : "pending");
    }
    const char *params[8];
    int rc = PG_OK;
    for (int c = 0; c < 8; c++)
        if (!(params[c] = pg_array_text(&cols[c])))
            rc = PG_RETRY; /* out of memory */
    PGresult *res = NULL;
    if (rc == PG_OK)
        rc = pg_exec(db, &res, sql_insert, 8, params);
    for (int r = 0; rc == PG_OK && r < PQntuples(res); r++)
        for (size_t i = 0; i < n; i++)
            if (!rows[i].inserted && !strcmp(rows[i].row_id, PQgetvalue(res, r, 0)))
                rows[i].inserted = true;
    PQclear(res);
    for (int c = 0; c < 8; c++)
        pg_array_free(&cols[c]);
    return rc;
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

int notify_store_pending_message(pg *db, const char *row_id, char **message)
{
    *message = NULL;
    PGresult *res = NULL;
    const char *p[] = {row_id};
    int rc =
        pg_exec(db, &res, "SELECT message::text FROM notifications WHERE request_id = $1 AND status = 'pending'", 1, p);
    if (rc == PG_OK && PQntuples(res) == 1 && !(*message = strdup(PQgetvalue(res, 0, 0))))
        rc = PG_RETRY;
    PQclear(res);
    return rc == PG_OK ? PG_OK : rc == PG_RETRY ? PG_RETRY : PG_FATAL;
}
