#!/usr/bin/env bash
# `make bench-policy` (and part of `make bench`): the policy service alone, on the
# release binary. Starts Postgres, the Kafka broker and the topics with scripts/stack.sh
# (HUTCH_STACK_SERVICES empty: no Hutch service), then bench/policy.py pre-loads the
# GuardDuty RawEvents into hutch.events.raw, starts hutch-policy with
# HUTCH_POLICY_DIR=policies (the shipped policies), waits for every events row and
# every Alert on hutch.alerts.accepted, checks nothing was lost or duplicated, prints
# the table and writes bench/results/policy.json. Always stops its stack.
# Loopback only; bounded: stack start-up (stack.sh's own limits), the pre-load, and a
# wait of at most HUTCH_BENCH_WAIT seconds for the last event, plus a hard cap.
#
# It runs beside a `make up` stack, the pipeline bench or the end-to-end tests: its
# state lives in build/bench-policy-stack/ (never committed) and it uses ports of its
# own (Postgres 55462, Kafka 59122 (+1 controller), hutch-policy HTTP 28282).
#
# Settings (environment):
#   HUTCH_BENCH_EVENTS=20000       RawEvents to pre-load
#   HUTCH_BENCH_LOW_FRACTION=0.2   share of low-severity findings (low-severity alerts)
#   HUTCH_BENCH_POLICY_DIR=policies  HUTCH_POLICY_DIR given to hutch-policy
#   HUTCH_BENCH_WAIT=300           seconds to wait for the last event
#   HUTCH_BENCH_POLICY_OUT=bench/results/policy.json
#   HUTCH_BENCH_MODE=release       binary to measure (debug/asan only to compare)
#   HUTCH_BENCH_KEEP=1             leave Postgres and Kafka running afterwards (stop them
#                                  with HUTCH_STATE=build/bench-policy-stack scripts/stack.sh down)
#   HUTCH_BROKER=dev               the dev broker instead of Kafka (as stack.sh)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

mode=${HUTCH_BENCH_MODE:-release}
export HUTCH_STATE=${HUTCH_BENCH_POLICY_STATE:-$HUTCH_ROOT/build/bench-policy-stack}
export HUTCH_PG_PORT=${HUTCH_BENCH_POLICY_PG_PORT:-55462}
export HUTCH_BROKER_PORT=${HUTCH_BENCH_POLICY_BROKER_PORT:-59122}
export HUTCH_STACK_SERVICES=""
policy_port=${HUTCH_BENCH_POLICY_PORT:-28282}
out=${HUTCH_BENCH_POLICY_OUT:-$HUTCH_ROOT/bench/results/policy.json}
policy_dir=${HUTCH_BENCH_POLICY_DIR:-$HUTCH_ROOT/policies}

exe=$(build_dir "$mode")/bin/hutch-policy
[[ -x $exe ]] || die "$exe missing: make MODE=$mode programs"
port_open 127.0.0.1 "$policy_port" && die "port $policy_port (hutch-policy) is taken by another process"

stack() { "$HUTCH_ROOT/scripts/stack.sh" "$@"; }
cleanup() {
    local rc=$?
    if ((rc)) && [[ -f $HUTCH_STATE/logs/policy.log ]]; then
        log "hutch-policy's log, without the per-event lines:"
        grep -v '"event_id":' "$HUTCH_STATE/logs/policy.log" | tail -15 >&2 || true
    fi
    if [[ ${HUTCH_BENCH_KEEP:-0} == 1 ]]; then
        stop_pidfile "$HUTCH_STATE/pids/policy.pid" 20
        log "Postgres and Kafka left running (HUTCH_STATE=$HUTCH_STATE scripts/stack.sh down stops them)"
    else
        stack down || true  # also stops hutch-policy through its pid file
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A stale stack of an interrupted run would skew the figures: start from nothing.
[[ -d $HUTCH_STATE ]] && stack down
log "bench-policy: starting Postgres and the broker in $HUTCH_STATE"
stack up "$mode"
. "$HUTCH_STATE/env"

wait_s=${HUTCH_BENCH_WAIT:-300}
timeout --kill-after=10 $((wait_s + 300)) /usr/bin/python3 "$HUTCH_ROOT/bench/policy.py" \
    --brokers "$HUTCH_KAFKA_BROKERS" --db "$HUTCH_DATABASE_URL" --state "$HUTCH_STATE" --bin "$exe" \
    --policy-dir "$policy_dir" --port "$policy_port" --events "${HUTCH_BENCH_EVENTS:-20000}" \
    --low-fraction "${HUTCH_BENCH_LOW_FRACTION:-0.2}" --timeout "$wait_s" --out "$out" --mode "$mode"
