/* Schema migrations, in order. Each is applied once, inside one transaction, by
 * pg_migrate. Never edit a migration that has shipped: add a new one. */
#ifndef HUTCH_MIGRATIONS_H
#define HUTCH_MIGRATIONS_H

typedef struct {
    int version;
    const char *name;
    const char *sql;
} migration;

extern const migration migrations[];
extern const int migrations_count;

#endif
