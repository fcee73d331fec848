#!/usr/bin/env bash
# `make bench`: the pipeline benchmark on the release binaries (the Makefile builds
# MODE=release first). Starts a stack of its own with scripts/stack.sh (Postgres, the
# Kafka broker, topics, the six services), posts the alerts with bench/pipeline.py,
# prints the table, writes bench/results/pipeline.json, and always stops the stack.
# Loopback only; bounded: stack start-up (stack.sh's own limits), posting, and a wait
# of at most HUTCH_BENCH_WAIT seconds for the last notification.
#
# It runs beside a `make up` stack or the end-to-end tests without touching them: its
# state lives in build/bench-stack/ (never committed) and it uses ports of its own
# (Postgres 55452, Kafka 59112, services 28181-28186; override with the HUTCH_*_PORT
# variables of stack.sh).
#
# Settings (environment):
#   HUTCH_BENCH_ALERTS=10000      alerts to post
#   HUTCH_BENCH_CONCURRENCY=16    HTTP/1.1 keep-alive clients
#   HUTCH_BENCH_WAIT=300          seconds to wait for every notification row
#   HUTCH_BENCH_OUT=bench/results/pipeline.json
#   HUTCH_BENCH_MODE=release      binaries to measure (debug/asan only to compare)
#   HUTCH_BENCH_KEEP=1            leave the stack running afterwards (stop it with
#                                 HUTCH_STATE=build/bench-stack scripts/stack.sh down)
#   HUTCH_BROKER=dev              the dev broker instead of Kafka (as stack.sh)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

mode=${HUTCH_BENCH_MODE:-release}
export HUTCH_STATE=${HUTCH_BENCH_STATE:-$HUTCH_ROOT/build/bench-stack}
export HUTCH_PG_PORT=${HUTCH_PG_PORT:-55452}
export HUTCH_BROKER_PORT=${HUTCH_BROKER_PORT:-59112}
i=0
for s in "${HUTCH_SERVICES[@]}"; do
    v="HUTCH_${s^^}_PORT"
    export "$v=${!v:-$((28181 + i))}"
    i=$((i + 1))
done
out=${HUTCH_BENCH_OUT:-$HUTCH_ROOT/bench/results/pipeline.json}

bin=$(build_dir "$mode")/bin
for s in "${HUTCH_SERVICES[@]}"; do
    [[ -x $bin/hutch-$s ]] || die "$bin/hutch-$s missing: make MODE=$mode programs"
done

stack() { "$HUTCH_ROOT/scripts/stack.sh" "$@"; }
cleanup() {
    local rc=$?
    if [[ ${HUTCH_BENCH_KEEP:-0} == 1 ]]; then
        log "stack left running (HUTCH_STATE=$HUTCH_STATE scripts/stack.sh down stops it)"
    else
        stack down || true
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A stale stack of an interrupted run would skew the figures: start from nothing.
[[ -d $HUTCH_STATE ]] && stack down
log "bench: starting the $mode stack in $HUTCH_STATE"
stack up "$mode"
. "$HUTCH_STATE/env"

# Everything from here on is bounded by pipeline.py's own wait, plus a hard cap.
wait_s=${HUTCH_BENCH_WAIT:-300}
timeout --kill-after=10 $((wait_s + 240)) /usr/bin/python3 "$HUTCH_ROOT/bench/pipeline.py" \
    --url "$HUTCH_INGEST_URL" --db "$HUTCH_DATABASE_URL" --state "$HUTCH_STATE" \
    --alerts "${HUTCH_BENCH_ALERTS:-10000}" --concurrency "${HUTCH_BENCH_CONCURRENCY:-16}" \
    --timeout "$wait_s" --out "$out" --mode "$mode"
