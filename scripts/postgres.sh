#!/usr/bin/env bash
# A Postgres of the project's own (Debian's server binaries, a data dir under DIR),
# for the dev stack and the end-to-end tests.
#
#   scripts/postgres.sh start DIR PORT   initdb once, start, create database "hutch"
#   scripts/postgres.sh stop DIR         fast shutdown (bounded)
#   scripts/postgres.sh url DIR PORT     prints the HUTCH_DATABASE_URL
#
# Postgres refuses to run as root: as root, it runs as the `postgres` user (runuser),
# which is given DIR. Listens on 127.0.0.1:PORT only, its unix socket in DIR/sock,
# trust auth (loopback, throwaway data), durability off (fsync) for speed: for the dev
# and test stack only; the images and compose keep Postgres' durable defaults.
# Idempotent: start on a running server only makes sure the database exists.
# HUTCH_PG_OPTIONS: more server options for start, e.g. to profile a benchmark:
#   HUTCH_PG_OPTIONS='-c shared_preload_libraries=pg_stat_statements'
set -euo pipefail
. "$(dirname "$0")/lib.sh"

cmd=${1:-}; dir=${2:-}
[[ -n $cmd && -n $dir ]] || die "usage: postgres.sh start|stop|url DIR [PORT]"
mkdir -p "$dir"; dir=$(cd "$dir" && pwd)

pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[[ -n $pgbin && -x $pgbin/initdb ]] || die "Postgres server not found: run scripts/deps.sh"

as_pg() {
    if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case $cmd in
start)
    port=${3:-}; [[ -n $port ]] || die "usage: postgres.sh start DIR PORT"
    if [[ $(id -u) == 0 ]]; then chown postgres: "$dir"; fi
    chmod 700 "$dir"
    # the postgres user must be able to reach DIR (e.g. under a root-owned temp dir)
    p=$(dirname "$dir")
    while [[ $p != / ]]; do
        if [[ $(id -u) == 0 ]] && ! runuser -u postgres -- test -x "$p"; then chmod o+x "$p"; fi
        p=$(dirname "$p")
    done
    if [[ ! -f $dir/data/PG_VERSION ]]; then
        as_pg "$pgbin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync \
            > "$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
    fi
    as_pg mkdir -p "$dir/sock"
    if ! as_pg "$pgbin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        port_open 127.0.0.1 "$port" && die "port $port is taken by another process"
        as_pg "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start \
            -o "-c listen_addresses=127.0.0.1 -p $port -k $dir/sock -c max_connections=200 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=64MB ${HUTCH_PG_OPTIONS:-}" \
            >/dev/null || { tail -20 "$dir/postgres.log" >&2; die "postgres did not start"; }
    fi
    for _ in $(seq 1 100); do
        psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1 && break
        sleep 0.1
    done
    if [[ -z $(psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -Atqc "select 1 from pg_database where datname='hutch'") ]]; then
        psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -qc 'create database hutch' >/dev/null
    fi
    echo "postgresql://postgres@127.0.0.1:$port/hutch"
    ;;
stop)
    if [[ -f $dir/data/PG_VERSION ]] && as_pg "$pgbin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        as_pg "$pgbin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null \
            || as_pg "$pgbin/pg_ctl" -D "$dir/data" -m immediate -w -t 10 stop >/dev/null || true
    fi
    ;;
url)
    echo "postgresql://postgres@127.0.0.1:${3:?PORT}/hutch"
    ;;
*) die "usage: postgres.sh start|stop|url DIR [PORT]" ;;
esac
