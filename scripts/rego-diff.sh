#!/usr/bin/env bash
# Differential test of the Rego engine against OPA (the oracle).
#
#   scripts/rego-diff.sh [--record] [--count N] [--seed S] [MODE]
#
# Runs tests/rego-diff/run.py over: the regression cases (tests/rego-diff/regressions,
# OPA's answers stored, so they run without OPA), the hand-written corpus
# (tests/rego-diff/cases: alert policies in Warren/AlertChain style, builtin families)
# and a generated corpus (tests/rego-diff/generate.py, N policies x 2 inputs, seeded,
# written to a fresh $BUILD/rego-diff/gen.XXXXXX, removed afterwards). Prints one line per divergence and
# 'N passed, N failed' at the end. Exits non-zero only on divergences not listed in
# tests/rego-diff/known-divergences.txt. --record turns new divergences into regression
# cases. Without OPA ($HUTCH_OPA, installed by `make deps`) only the regressions run.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

record=() count=${REGO_DIFF_COUNT:-500} seed=${REGO_DIFF_SEED:-1} mode=debug
while (($#)); do
    case $1 in
        --record) record=(--record) ;;
        --count) count=$2; shift ;;
        --seed) seed=$2; shift ;;
        debug|asan|release) mode=$1 ;;
        *) die "usage: scripts/rego-diff.sh [--record] [--count N] [--seed S] [MODE]" ;;
    esac
    shift
done

build=$(build_dir "$mode")
eval_bin=$build/bin/hutch-rego-eval
make -C "$HUTCH_ROOT" --no-print-directory -j2 MODE="$mode" "${eval_bin#"$HUTCH_ROOT"/}" >/dev/null \
    || die "could not build $eval_bin"

dirs=()
opa=()
if [[ -x $HUTCH_OPA ]]; then
    opa=(--opa "$HUTCH_OPA")
    # a directory of its own: several runs (make test, a helper) may overlap
    mkdir -p "$build/rego-diff"
    gen=$(mktemp -d "$build/rego-diff/gen.XXXXXX")
    trap 'rm -rf "$gen"' EXIT
    /usr/bin/python3 "$HUTCH_ROOT/tests/rego-diff/generate.py" --seed "$seed" --count "$count" "$gen"
    dirs=("$HUTCH_ROOT/tests/rego-diff/cases" "$gen")
else
    log "note: OPA not found at $HUTCH_OPA (make deps): running the stored regression cases only"
fi
/usr/bin/python3 "$HUTCH_ROOT/tests/rego-diff/run.py" --eval "$eval_bin" "${opa[@]}" "${record[@]}" "${dirs[@]}"
