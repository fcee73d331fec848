#!/bin/bash
# Entrypoint of hutch-postgres (deploy/postgres/Dockerfile): initialises PGDATA once
# (user, password, database), then runs postgres in the foreground as PID 1 (SIGINT:
# fast shutdown). Extra arguments go to postgres (e.g. -c shared_buffers=256MB).
set -euo pipefail
die() { echo "hutch-postgres: $*" >&2; exit 1; }

if [[ -n ${POSTGRES_PASSWORD_FILE:-} ]]; then
    [[ -r $POSTGRES_PASSWORD_FILE ]] || die "cannot read POSTGRES_PASSWORD_FILE $POSTGRES_PASSWORD_FILE"
    POSTGRES_PASSWORD=$(< "$POSTGRES_PASSWORD_FILE")
fi
if [[ ! -s $PGDATA/PG_VERSION ]]; then
    [[ -n ${POSTGRES_PASSWORD:-} ]] || die "POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE must be set to initialise $PGDATA"
    pwfile=$(mktemp); trap 'rm -f "$pwfile"' EXIT
    printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
    initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 \
        --auth-local=peer --auth-host=scram-sha-256 >/dev/null
    rm -f "$pwfile"; trap - EXIT
    {
        echo "host all all 0.0.0.0/0 scram-sha-256"
        echo "host all all ::/0 scram-sha-256"
    } >> "$PGDATA/pg_hba.conf"
    if [[ $POSTGRES_DB != postgres ]]; then
        postgres --single -D "$PGDATA" -c unix_socket_directories= postgres \
            <<< "CREATE DATABASE \"$POSTGRES_DB\" OWNER \"$POSTGRES_USER\";" >/dev/null
    fi
    echo "hutch-postgres: initialised $PGDATA (user $POSTGRES_USER, database $POSTGRES_DB)" >&2
fi
exec postgres -D "$PGDATA" -c listen_addresses="$POSTGRES_LISTEN" -p "$POSTGRES_PORT" \
    -c unix_socket_directories=/tmp "$@"
