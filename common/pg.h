/* Postgres access (libpq): one connection per pg handle, parameterised queries only,
 * reconnect with backoff, transactions, and the schema migrations.
 *
 * A pg handle is used by one thread at a time. Errors are split the way consumers
 * need them: PG_RETRY (connection lost, serialization failure, deadlock: run the
 * whole transaction again later) and PG_FATAL (a bug or bad data: dead-letter). */
#ifndef HUTCH_PG_H
#define HUTCH_PG_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/strbuf.h"

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

/* The message of the last failed statement (BORROWED, until the next failure). */
const char *pg_last_error(pg *db);

int pg_begin(pg *db);
int pg_commit(pg *db);
void pg_rollback(pg *db); /* safe to call after any failure */
/* True between pg_begin and pg_commit/pg_rollback (a module that runs its own
 * transaction uses a savepoint of the caller's instead). */
bool pg_in_transaction(const pg *db);

/* A Postgres array literal built element by element ("{\"a\",NULL}"), for batch
 * statements that take one array per column: INSERT ... SELECT * FROM
 * unnest($1::uuid[], $2::text[], ...). Elements are quoted and escaped; NULL adds
 * SQL NULL. On OOM the array turns failed and pg_array_text returns NULL. */
typedef struct {
    strbuf text; /* "{" and the elements so far */
    size_t n;    /* elements */
} pg_array;
void pg_array_init(pg_array *a);
void pg_array_add(pg_array *a, const char *text);
/* Adds a short printf-formatted element (numbers: at most 63 bytes). */
void pg_array_addf(pg_array *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The literal, BORROWED until the next add or pg_array_free; NULL on OOM. */
const char *pg_array_text(pg_array *a);
/* True once an add ran out of memory (pg_array_text then returns NULL). */
bool pg_array_failed(const pg_array *a);
void pg_array_free(pg_array *a);

/* A real[] of dim numbers read as `array_send(column)`: the bytea's text (hex) form of
 * Postgres' binary array (one dimension, no NULLs, float4), decoded by PQunescapeBytea
 * and the binary layout rather than by parsing decimal text (many times faster for
 * large loads). A NEW vector of dim floats (free()), or NULL when it is not such an
 * array of exactly dim numbers (or on out of memory). */
float *pg_real_array_decode(const char *bytea_text, int dim);

/* Claims message ids for a consumer in processed_messages, in one statement, inside
 * the caller's transaction. fresh[i] = true if ids[i] was claimed now (a first
 * delivery), false if it was claimed before (a redelivery) or earlier in ids. */
int pg_claim(pg *db, const char *consumer, const char *const *ids, size_t n, bool *fresh);

/* Applies every migration not applied yet (table schema_migrations) under a
 * Postgres advisory lock, so several services starting together apply them once. */
int pg_migrate(pg *db, char *err, size_t errlen);

/* True if the connection is up (for /readyz). */
int pg_connected(pg *db);

#endif
