#!/usr/bin/env bash
# `make bench`: the pipeline benchmark on the release binaries (the Makefile builds
# MODE=release first), with build/release/bin/hutch-loadgen making the HTTP load and
# bench/pipeline.py orchestrating and reading Postgres. One stack of its own
# (scripts/stack.sh), always stopped at the end, in two runs:
#   1. ingest alone (Kafka, Postgres, hutch-ingest): full-speed requests/s;
#   2. the five other services started too: 202 -> notification latency at 1,000/s
#      and 5,000/s (open loop), then alerts/s through all six services at
#      HUTCH_BENCH_E2E_RATE; CPU seconds per 1,000 alerts per process, peak RSS per
#      service.
# Writes bench/results/pipeline.json and prints the table. Loopback only; every
# step is bounded (stack start-up by stack.sh, the phases by their settings, plus
# a hard cap per run).
#
# It runs beside a `make up` stack or the end-to-end tests without touching them: its
# state lives in build/bench-stack/ (never committed)
# and it uses ports of its own (Postgres 55452, Kafka 59112, services 28181-28186,
# console 28190, fake intel 28191;
# override with the HUTCH_*_PORT variables of stack.sh).
#
# Settings (environment), with the defaults (7-9 minutes in all here, start-up included):
#   HUTCH_BENCH_SECONDS=30          each latency phase, and the ingest-alone run, each
#                                   after HUTCH_BENCH_WARMUP=10 s of the same load that
#                                   is not recorded (a fresh JVM is slow at first)
#   HUTCH_BENCH_DRAIN=60            at most this long for a phase's last notification
#   HUTCH_BENCH_RATE_LOW=1000       HUTCH_BENCH_RATE_HIGH=5000    (requests/s, open loop)
#   HUTCH_BENCH_E2E_RATE=10000      offered during the throughput phase
#   HUTCH_BENCH_E2E_SECONDS=60      measured, after HUTCH_BENCH_E2E_WARMUP=10
#   HUTCH_BENCH_CONNECTIONS=256     keep-alive connections (ingest alone, latency phases)
#   HUTCH_BENCH_LOADGEN_THREADS=1   generator threads
#   HUTCH_BENCH_ONLY=ingest|pipeline   one of the two runs only
#   HUTCH_BENCH_OUT=bench/results/pipeline.json
#   HUTCH_BENCH_MODE=release        binaries to measure (debug/asan only to compare)
#   HUTCH_BENCH_KEEP=1              leave the stack running afterwards
#   HUTCH_BROKER=dev                the dev broker instead of Kafka (as stack.sh)
#   HUTCH_BENCH_INTEL=off           threat intel: off (no provider, RDAP included), or
#                                   fake (make run's: every provider, with its quota,
#                                   answered by tests/intel/fake_intel.py)
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
export HUTCH_CONSOLE_PORT=${HUTCH_CONSOLE_PORT:-28190}
export HUTCH_INTEL_FAKE_PORT=${HUTCH_INTEL_FAKE_PORT:-28191}
case ${HUTCH_BENCH_INTEL:-off} in
off) export HUTCH_INTEL_FAKE=0 HUTCH_INTEL_RDAP=0 ;;
fake) export HUTCH_INTEL_FAKE=1 ;;
*) die "HUTCH_BENCH_INTEL: off or fake" ;;
esac
out=${HUTCH_BENCH_OUT:-$HUTCH_ROOT/bench/results/pipeline.json}
only=${HUTCH_BENCH_ONLY:-}
secs=${HUTCH_BENCH_SECONDS:-30}
warm=${HUTCH_BENCH_WARMUP:-10}
drain=${HUTCH_BENCH_DRAIN:-60}
e2e_secs=${HUTCH_BENCH_E2E_SECONDS:-60}
e2e_warm=${HUTCH_BENCH_E2E_WARMUP:-10}

bin=$(build_dir "$mode")/bin
for s in "${HUTCH_SERVICES[@]}" loadgen; do
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
    rm -rf "$tmp"
    exit $rc
}
tmp=$(mktemp -d)
trap cleanup EXIT
trap 'exit 130' INT TERM
started=$(date +%s)
bodies=$tmp/guardduty.jsonl

driver() { # RUN HARD-CAP-SECONDS ARGS...
    local run=$1 cap=$2; shift 2
    . "$HUTCH_STATE/env"
    timeout --kill-after=10 "$cap" /usr/bin/python3 "$HUTCH_ROOT/bench/pipeline.py" "$run" \
        --url "$HUTCH_INGEST_URL" --db "$HUTCH_DATABASE_URL" --state "$HUTCH_STATE" \
        --loadgen "$bin/hutch-loadgen" --loadgen-threads "${HUTCH_BENCH_LOADGEN_THREADS:-1}" \
        --bodies "$bodies" --connections "${HUTCH_BENCH_CONNECTIONS:-256}" --seconds "$secs" --warmup "$warm" "$@"
}

# A stale stack of an interrupted run would skew the figures: start from nothing.
[[ -d $HUTCH_STATE ]] && stack down
# One broker for both runs (a fresh one spends its first tens of seconds creating its
# internal topics); the pipeline's consumers, which join after the ingest-alone run,
# start at the end of their topics instead of working off that run's backlog.
export HUTCH_KAFKA_AUTO_OFFSET_RESET=latest
if [[ -z $only || $only == ingest ]]; then
    log "bench: ingest alone ($mode) in $HUTCH_STATE"
    HUTCH_STACK_SERVICES=ingest stack up "$mode"
    driver ingest $((secs + warm + 180)) --out "$tmp/ingest.json"
fi
if [[ -z $only || $only == pipeline ]]; then
    log "bench: the six services ($mode) in $HUTCH_STATE"
    stack up "$mode"
    driver pipeline $((2 * (secs + warm + drain) + e2e_secs + e2e_warm + 300)) --out "$tmp/pipeline.json" \
        --drain "$drain" --rate-low "${HUTCH_BENCH_RATE_LOW:-1000}" --rate-high "${HUTCH_BENCH_RATE_HIGH:-5000}" \
        --e2e-rate "${HUTCH_BENCH_E2E_RATE:-10000}" --e2e-seconds "$e2e_secs" --e2e-warmup "$e2e_warm"
fi
/usr/bin/python3 "$HUTCH_ROOT/bench/pipeline.py" merge --out "$out" --mode "$mode" --started "$started" \
    --ingest-json "$tmp/ingest.json" --pipeline-json "$tmp/pipeline.json"
