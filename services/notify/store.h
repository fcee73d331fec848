/* notify's outbox in Postgres (table notifications, request_id primary key).
 *
 * The order that makes "never posts twice" true: the rows are inserted and
 * committed (with the frame's claim of the message, consumer "hutch-notify") BEFORE any
 * post; a post happens only for a row still 'pending'; its outcome is written
 * right after. A crash between a successful post and that write can repeat one
 * post on redelivery (the outside world has no transaction with us); nothing else can.
 * Slack bot mode's ticket messages close even that window (slack_store.h). */
#ifndef HUTCH_NOTIFY_STORE_H
#define HUTCH_NOTIFY_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/pg.h"

typedef struct {
    const char *row_id;     /* notifications.request_id */
    const char *ticket_id;  /* UUID */
    const char *alert_id;   /* UUID or NULL */
    const char *kind;
    const char *target;
    const char *channel;
    const char *message;    /* JSON text */
    bool sent;              /* true: recorded as 'sent' now (target "log"), else 'pending' */
    bool inserted;          /* OUT: this call created the row */
} notify_row;

/* Inserts every row (one statement, each ON CONFLICT DO NOTHING) inside the consumer
 * frame's batch transaction, which holds the batch's claim. Strings BORROWED.
 * PG_OK, PG_RETRY or PG_FATAL. */
int notify_store_record(pg *db, notify_row *rows, size_t n);

/* Reads a row's status ("pending"/"sent"/"failed", into status) and attempts.
 * PG_OK (status "" if there is no such row), PG_RETRY or PG_FATAL. */
int notify_store_status(pg *db, const char *row_id, char *status, size_t status_len, int *attempts);

/* The stored message (JSON text) of a row still 'pending', NEW in *message (free());
 * *message NULL when the row is not pending or does not exist. PG_OK, PG_RETRY or
 * PG_FATAL. */
int notify_store_pending_message(pg *db, const char *row_id, char **message);

/* Like notify_store_status, but opens a transaction and locks the row (FOR UPDATE)
 * first, so that two consumers handed the same request (a rebalance) never post it
 * both: the second waits for the first's outcome. On PG_OK the transaction stays
 * open: end it with notify_store_attempt + pg_commit, or pg_rollback. On failure
 * it is already rolled back. */
int notify_store_claim(pg *db, const char *row_id, char *status, size_t status_len, int *attempts);

/* Records one attempt on a pending row: attempts + 1, last_error (NULL to keep it),
 * and new_status ("sent" also sets sent_at; "pending" keeps it pending). A row no
 * longer pending is left alone. PG_OK, PG_RETRY or PG_FATAL. */
int notify_store_attempt(pg *db, const char *row_id, const char *new_status, const char *last_error);

#endif
