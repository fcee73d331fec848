/* Postgres access (libpq): one connection per pg handle, parameterised queries only,
 * reconnect with backoff, transactions, and the schema migrations.
 *
 * A pg handle is used by one thread at a time. Errors are split the way consumers
 * need them: PG_RETRY (connection lost, serialization failure, deadlock: run the
 * whole transaction again later) and PG_FATAL (a bug or bad data: dead-letter). */
#ifndef HUTCH_PG_H
#define HUTCH_PG_H

#include <libpq-fe.h>

typedef struct pg pg;

enum { PG_OK = 0, PG_RETRY = -1, PG_FATAL = -2 };

/* Connects, retrying with backoff for up to wait_ms (0 = one try). NEW or NULL + err. */
pg *pg_connect(const char *url, int wait_ms, char *err, size_t errlen);
void pg_free(pg *db);

/* Runs one statement with text parameters (NULL param = SQL NULL).
 * On success returns 0 and, if res != NULL, a NEW PGresult (PQclear it).
 * On failure returns PG_RETRY or PG_FATAL and logs the error; if the connection was
 * lost, the next call reconnects first. */
int pg_exec(pg *db, PGresult **res, const char *sql, int nparams, const char *const *params);

int pg_begin(pg *db);
int pg_commit(pg *db);
void pg_rollback(pg *db); /* safe to call after any failure */

/* Applies every migration not applied yet (table schema_migrations) under a
 * Postgres advisory lock, so several services starting together apply them once. */
int pg_migrate(pg *db, char *err, size_t errlen);

/* True if the connection is up (for /readyz). */
int pg_connected(pg *db);

#endif
