#!/usr/bin/env bash
# `make test [MODE=...]`: every test of the project against the binaries of MODE.
#   1. unit tests: every cmocka runner $(BUILD)/bin/test_* (scripts/run-unit-tests.sh)
#   2. conformance: scripts/check-conformance.sh BUILD_DIR, when it exists (one check)
#   3. rego differential test: scripts/rego-diff.sh (our engine against OPA; each
#      comparison counts; HUTCH_REGO_DIFF_COUNT generated policies, default 200)
#   4. policy cli: pytest tests/policy-cli (hutchctl policy eval/test)
#   4b. deploy manifests: pytest tests/deploy (k8s/ rendered by kustomize and validated
#      offline against the Kubernetes schemas, Dockerfiles, compose files; the images
#      themselves run in `make test-deploy`)
#   5. end-to-end: pytest tests/e2e on /usr/bin/python3 (Debian's pytest, psycopg2,
#      requests, confluent-kafka, protobuf with build/py from `make pyproto`) with
#      HUTCH_BIN_DIR pointing at the MODE's binaries
#      and its own Postgres and Kafka (HUTCH_BROKER=dev: the dev broker)
# Prints each stage's count and, as the very last line, the sum as
# 'N passed, N failed' (CI reads it). Exits non-zero if anything failed.
# Env: HUTCH_E2E_ARGS (extra pytest arguments, e.g. "-k http -x"), HUTCH_SKIP_E2E=1.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

mode=${1:-debug}
build=$(build_dir "$mode")
export HUTCH_BIN_DIR=${HUTCH_BIN_DIR:-$build/bin} HUTCH_MODE=$mode
cd "$HUTCH_ROOT"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
total_p=0 total_f=0 total_s=0 status=0 t_all=$(date +%s)

# last 'N passed, N failed' line of a file -> "P F"
counts() { grep -E '^([A-Za-z-]+: )?[0-9]+ passed, [0-9]+ failed' "$1" | tail -1 |
           sed -E 's/^([A-Za-z-]+: )?([0-9]+) passed, ([0-9]+) failed.*/\2 \3/'; }

stage() { printf '\n==== %s (%s) ====\n' "$1" "$mode"; }

# 1. unit, with a Postgres and a Kafka broker of their own for the tests that need
#    one (test_pg, test_kafka: HUTCH_TEST_DATABASE_URL, HUTCH_TEST_KAFKA_BROKERS)
stage "unit tests"
svc_dir=$(mktemp -d /tmp/hutch-unit-XXXXXX); chmod 755 "$svc_dir"
unit_pg_port=${HUTCH_UNIT_PG_PORT:-55472} unit_kafka_port=${HUTCH_UNIT_KAFKA_PORT:-59132}
stop_unit_services() {
    [[ -d $svc_dir ]] || return 0
    scripts/kafka.sh stop "$svc_dir/kafka" >/dev/null 2>&1 || true
    scripts/postgres.sh stop "$svc_dir/pg" >/dev/null 2>&1 || true
    rm -rf "$svc_dir"
}
trap 'stop_unit_services; rm -rf "$tmp"' EXIT
if scripts/postgres.sh start "$svc_dir/pg" "$unit_pg_port" >/dev/null; then
    export HUTCH_TEST_DATABASE_URL=$(scripts/postgres.sh url "$svc_dir/pg" "$unit_pg_port")
else
    echo "unit: could not start Postgres: the database tests will fail"
    export HUTCH_TEST_DATABASE_URL=postgresql://127.0.0.1:1/none
fi
if [[ ${HUTCH_BROKER:-kafka} != dev ]] && scripts/kafka.sh start "$svc_dir/kafka" "$unit_kafka_port" >/dev/null; then
    export HUTCH_TEST_KAFKA_BROKERS=127.0.0.1:$unit_kafka_port
fi
shopt -s nullglob
units=("$HUTCH_BIN_DIR"/test_*)
shopt -u nullglob
if ((${#units[@]})); then
    scripts/run-unit-tests.sh "${units[@]}" 2>&1 | tee "$tmp/unit"
    rc=${PIPESTATUS[0]}
    read -r p f < <(counts "$tmp/unit" || echo "0 1")
    ((rc != 0 && f == 0)) && f=1
    total_p=$((total_p + ${p:-0})); total_f=$((total_f + ${f:-1})); ((rc == 0)) || status=1
else
    echo "no unit-test runners in $HUTCH_BIN_DIR"
fi

stop_unit_services

# 2. conformance (one check: scripts/check-conformance.sh compares with its baseline)
if [[ -x scripts/check-conformance.sh ]]; then
    stage "conformance"
    scripts/check-conformance.sh "$(dirname "$HUTCH_BIN_DIR")" 2>&1
    rc=$?
    if ((rc == 0)); then total_p=$((total_p + 1)); echo "conformance: ok"
    else total_f=$((total_f + 1)); status=1; echo "conformance: FAILED (exit $rc)"; fi
fi

# junit XML of a pytest run -> "tests failures errors skipped"
junit_counts() {
    /usr/bin/python3 - "$1" <<'PY'
import sys, xml.etree.ElementTree as ET
r = ET.parse(sys.argv[1]).getroot()
suites = [r] if r.tag == "testsuite" else list(r)
g = lambda k: sum(int(x.get(k, 0)) for x in suites)
print(g("tests"), g("failures"), g("errors"), g("skipped"))
PY
}

# 3. differential test of the Rego engine against OPA: the stored regressions, the
#    hand-written cases and HUTCH_REGO_DIFF_COUNT generated policies (without OPA only
#    the regressions); every comparison counts, known divergences do not fail
if [[ -x scripts/rego-diff.sh ]]; then
    stage "rego differential test"
    t0=$(date +%s)
    scripts/rego-diff.sh --count "${HUTCH_REGO_DIFF_COUNT:-200}" "$mode" >"$tmp/diff" 2>&1
    rc=$?
    # divergences in full, known ones left out (they are listed in known-divergences.txt)
    awk '/^KNOWN /{skip=1; next} /^  /{if (skip) next} {skip=0; print}' "$tmp/diff" | tail -60
    read -r p f < <(counts "$tmp/diff" || echo "0 1")
    ((rc != 0 && f == 0)) && f=1
    echo "rego-diff: $p passed, $f failed in $(( $(date +%s) - t0 ))s"
    total_p=$((total_p + ${p:-0})); total_f=$((total_f + ${f:-1})); ((rc == 0)) || status=1
fi

# 4. hutchctl policy eval/test (tests/policy-cli, compared with OPA when installed)
if [[ -d tests/policy-cli ]]; then
    stage "policy cli"
    /usr/bin/python3 -m pytest tests/policy-cli -q -p no:cacheprovider -rfEs --junitxml="$tmp/pcli.xml" 2>&1
    rc=$?
    n=0 f=0 e=0 s=0
    [[ -f $tmp/pcli.xml ]] && read -r n f e s < <(junit_counts "$tmp/pcli.xml")
    p=$((n - f - e - s)); f=$((f + e))
    ((rc != 0 && f == 0)) && f=1
    echo "policy-cli: $p passed, $f failed, $s skipped"
    total_p=$((total_p + p)); total_f=$((total_f + f)); total_s=$((total_s + s)); ((rc == 0)) || status=1
fi

# 4b. deployment manifests (tests/deploy: kustomize + kubernetes-validate, offline)
if [[ -d tests/deploy ]]; then
    stage "deploy manifests"
    /usr/bin/python3 -m pytest tests/deploy -q -p no:cacheprovider -rfEs --junitxml="$tmp/deploy.xml" 2>&1
    rc=$?
    n=0 f=0 e=0 s=0
    [[ -f $tmp/deploy.xml ]] && read -r n f e s < <(junit_counts "$tmp/deploy.xml")
    p=$((n - f - e - s)); f=$((f + e))
    ((rc != 0 && f == 0)) && f=1
    echo "deploy-manifests: $p passed, $f failed, $s skipped"
    total_p=$((total_p + p)); total_f=$((total_f + f)); total_s=$((total_s + s)); ((rc == 0)) || status=1
fi

# 5. end-to-end
if [[ ${HUTCH_SKIP_E2E:-0} != 1 ]]; then
    stage "end-to-end tests (broker: ${HUTCH_BROKER:-kafka})"
    t0=$(date +%s)
    # shellcheck disable=SC2086
    /usr/bin/python3 -m pytest tests/e2e -p no:cacheprovider -rfEs --junitxml="$tmp/e2e.xml" \
        ${HUTCH_E2E_ARGS:-} 2>&1
    rc=$?
    if [[ -f $tmp/e2e.xml ]]; then
        read -r n f e s < <(junit_counts "$tmp/e2e.xml")
    else
        n=0 f=0 e=0 s=0
    fi
    p=$((n - f - e - s)); f=$((f + e))
    if ((rc == 5)); then rc=0; fi            # no tests collected is not a failure by itself
    ((rc != 0 && f == 0)) && f=1            # pytest could not run (import error, crash)
    echo "e2e: $p passed, $f failed, $s skipped in $(( $(date +%s) - t0 ))s"
    total_p=$((total_p + p)); total_f=$((total_f + f)); total_s=$((total_s + s)); ((rc == 0)) || status=1
fi

((total_f == 0)) || status=1
echo
echo "make test MODE=$mode: $(( $(date +%s) - t_all ))s"
if ((total_s)); then echo "$total_p passed, $total_f failed, $total_s skipped"; else echo "$total_p passed, $total_f failed"; fi
exit $status
