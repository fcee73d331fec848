#!/usr/bin/env bash
# Runs the OPA conformance driver on the v1 and v0 case sets and fails if any
# category has more failures than tests/rego-conformance-baseline.json allows.
#
#   scripts/check-conformance.sh [BUILD_DIR]          (default: build)
#   scripts/check-conformance.sh --update [BUILD_DIR] rewrite the baseline from this run
#
# A category that is new (absent from the baseline) may not fail at all. Fewer
# failures than the baseline is reported so the baseline can be tightened.
set -uo pipefail
cd "$(dirname "$0")/.."

update=0
if [[ ${1:-} == --update ]]; then update=1; shift; fi
build=${1:-build}
driver=$build/bin/hutch-rego-conformance
cases=${HUTCH_CONFORMANCE_DIR:-../shared/opa-conformance}
baseline=tests/rego-conformance-baseline.json

[[ -x $driver ]] || { echo "check-conformance: $driver not built" >&2; exit 2; }
[[ -d $cases/v1 ]] || { echo "check-conformance: no cases in $cases" >&2; exit 2; }

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$driver" --json --syntax v1 "$cases/v1" >"$tmp/v1.json" || exit 2
"$driver" --json --syntax v0 "$cases/v0" >"$tmp/v0.json" || exit 2
jq -n --slurpfile a "$tmp/v1.json" --slurpfile b "$tmp/v0.json" '{v1: $a[0], v0: $b[0]}' >"$tmp/now.json" || exit 2

if (( update )); then
    cp "$tmp/now.json" "$baseline"
    echo "check-conformance: baseline updated: $(jq -c '{v1: .v1.total, v0: .v0.total}' "$baseline")"
    exit 0
fi
[[ -f $baseline ]] || { echo "check-conformance: missing $baseline" >&2; exit 2; }

report=$(jq -r --slurpfile base "$baseline" '
  . as $now
  | [ "v1", "v0" ][] as $syn
  | ($now[$syn].categories // {}) | to_entries[]
  | .key as $cat | .value.failed as $f
  | (($base[0][$syn].categories[$cat].failed) // 0) as $bf
  | if $f > $bf then "REGRESSION \($syn) \($cat): \($f) failed (baseline \($bf))"
    elif $f < $bf then "improved \($syn) \($cat): \($f) failed (baseline \($bf))"
    else empty end' "$tmp/now.json")
[[ -n $report ]] && echo "$report"
jq -r '"conformance v1: \(.v1.total.passed) passed, \(.v1.total.failed) failed, \(.v1.total.skipped) skipped; v0: \(.v0.total.passed) passed, \(.v0.total.failed) failed, \(.v0.total.skipped) skipped"' "$tmp/now.json"
if grep -q '^REGRESSION' <<<"$report"; then exit 1; fi
exit 0
