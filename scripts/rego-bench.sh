#!/usr/bin/env bash
# Rego engine benchmark: our engine against OPA on the same policies and inputs.
#
#   scripts/rego-bench.sh [--runs N] [--min-ms MS] [--no-opa] [CASE...]
#
# CASE is a directory under bench/rego/ (default: every one, today guardduty and
# heavy). Each holds policy.rego, input.json, optionally data.json (merged at the data
# root, like `opa eval -d data.json`) and `query` (one line, the query both engines
# evaluate). For each case:
#   - ours: build/release/bin/hutch-rego-bench (built here with MODE=release) runs N
#     timed runs on one thread and reports the median ns/eval and its peak RSS; once
#     more with --fresh-input (the input JSON parsed again for every evaluation, as a
#     service does per event; reported separately, OPA's figure does not include it);
#     and once more with --limits (max_steps 1e6 and max_memory 64 MB, as a service
#     evaluates: the 'limits' column);
#   - OPA ($HUTCH_OPA, see scripts/lib.sh): `opa bench --format json --count N` with the
#     same -d/-i files and query, GOMAXPROCS=1 (one core, like ours); ns/op = T/N per
#     run, the median taken, peak RSS of the process from /usr/bin/time;
#   - both engines' answers are compared once (hutch-rego-eval vs `opa eval`), so a
#     fast wrong answer cannot pass unnoticed.
# Prints a table and writes bench/results/rego.json. Exit 1 if the answers differ or
# a tool fails; missing OPA only drops the OPA columns (with a warning).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

runs=5 min_ms=300 use_opa=1 cases=()
while (($#)); do
    case $1 in
        --runs) runs=$2; shift ;;
        --min-ms) min_ms=$2; shift ;;
        --no-opa) use_opa=0 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        -*) die "usage: scripts/rego-bench.sh [--runs N] [--min-ms MS] [--no-opa] [CASE...]" ;;
        *) cases+=("$1") ;;
    esac
    shift
done
command -v jq >/dev/null || die "jq is required"

root=$HUTCH_ROOT
benchdir=$root/bench/rego
if ((${#cases[@]} == 0)); then
    for d in "$benchdir"/*/; do cases+=("$(basename "$d")"); done
fi
rel=$(build_dir release)
make -C "$root" --no-print-directory -j2 MODE=release "${rel#"$root"/}/bin/hutch-rego-bench" \
    "${rel#"$root"/}/bin/hutch-rego-eval" >/dev/null || die "could not build the release benchmark"
ours_bin=$rel/bin/hutch-rego-bench
eval_bin=$rel/bin/hutch-rego-eval

if ((use_opa)) && [[ ! -x $HUTCH_OPA ]]; then
    log "warning: OPA not found at $HUTCH_OPA (make deps installs it): OPA columns left empty"
    use_opa=0
fi
opa_version=""
((use_opa)) && opa_version=$("$HUTCH_OPA" version 2>/dev/null | sed -n 's/^Version: //p')

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
median() { sort -g | awk '{v[NR]=$1} END {if (NR) print (NR % 2 ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2)}'; }

status=0
rows=()
for c in "${cases[@]}"; do
    dir=$benchdir/$c
    [[ -f $dir/policy.rego && -f $dir/input.json && -f $dir/query ]] || die "$dir: needs policy.rego, input.json and query"
    query=$(head -n1 "$dir/query")
    files=(-d "$dir/policy.rego")
    [[ -f $dir/data.json ]] && files+=(-d "$dir/data.json")
    input_bytes=$(wc -c <"$dir/input.json")

    log "$c: hutch-rego-bench ($runs runs)"
    "$ours_bin" --runs "$runs" --min-ms "$min_ms" "${files[@]}" -i "$dir/input.json" "$query" >"$tmp/ours.json" \
        || die "$c: hutch-rego-bench failed"
    # the same with the input's JSON parsed again for every evaluation (a service's case)
    "$ours_bin" --runs "$runs" --min-ms "$min_ms" --fresh-input "${files[@]}" -i "$dir/input.json" "$query" \
        >"$tmp/fresh.json" || die "$c: hutch-rego-bench --fresh-input failed"
    fresh_ns=$(jq '.ns_per_eval' "$tmp/fresh.json")
    # the same with the evaluation limits a service sets (rego.h: 1e6 steps, 64 MB)
    "$ours_bin" --runs "$runs" --min-ms "$min_ms" --limits "${files[@]}" -i "$dir/input.json" "$query" \
        >"$tmp/limits.json" || die "$c: hutch-rego-bench --limits failed"
    limits_ns=$(jq '.ns_per_eval' "$tmp/limits.json")

    opa_ns=null opa_rss=null opa_runs=null agree=null
    if ((use_opa)); then
        log "$c: opa bench ($runs runs, GOMAXPROCS=1)"
        GOMAXPROCS=1 /usr/bin/time -f '%M' -o "$tmp/opa.rss" \
            "$HUTCH_OPA" bench --format json --count "$runs" "${files[@]}" -i "$dir/input.json" "$query" \
            >"$tmp/opa.json" 2>"$tmp/opa.err" || { cat "$tmp/opa.err" >&2; die "$c: opa bench failed"; }
        opa_runs=$(jq -s -c '[.[] | (.T / .N * 10 | round / 10)]' "$tmp/opa.json")
        opa_ns=$(jq -r '.[]' <<<"$opa_runs" | median)
        opa_rss=$(tail -n1 "$tmp/opa.rss")
        # the same answer from both engines (compared as canonical JSON)
        "$eval_bin" "${files[@]}" -i "$dir/input.json" "$query" | jq -S -c '.result' >"$tmp/ours.ans" || true
        "$HUTCH_OPA" eval --format json "${files[@]}" -i "$dir/input.json" "$query" \
            | jq -S -c '[.result[]?.bindings // {}]' >"$tmp/opa.ans" || true
        if cmp -s "$tmp/ours.ans" "$tmp/opa.ans"; then
            agree=true
        else
            agree=false status=1
            log "$c: ANSWERS DIFFER"
            log "  ours: $(head -c 400 "$tmp/ours.ans")"
            log "  opa:  $(head -c 400 "$tmp/opa.ans")"
        fi
    fi
    rows+=("$(jq -c --arg case "$c" --arg query "$query" --argjson bytes "$input_bytes" \
        --argjson opa_ns "$opa_ns" --argjson opa_rss "$opa_rss" --argjson opa_runs "$opa_runs" \
        --argjson agree "$agree" --argjson fresh "$fresh_ns" --argjson limits "$limits_ns" '{
            case: $case, query: $query, input_bytes: $bytes,
            ours: {ns_per_eval: .ns_per_eval, us_per_eval: (.ns_per_eval / 1000 * 1000 | round / 1000),
                   evals_per_sec: .evals_per_sec, runs_ns_per_eval: .runs_ns_per_eval,
                   iterations: .iterations, peak_rss_kb: .peak_rss_kb,
                   fresh_input_ns_per_eval: $fresh, with_limits_ns_per_eval: $limits},
            opa: (if $opa_ns == null then null else
                  {ns_per_op: $opa_ns, runs_ns_per_op: $opa_runs, peak_rss_kb: $opa_rss} end),
            ratio: (if $opa_ns == null then null else ($opa_ns / .ns_per_eval * 10 | round / 10) end),
            same_answer: $agree
        }' "$tmp/ours.json")")
done

out=$root/bench/results/rego.json
mkdir -p "$(dirname "$out")"
printf '%s\n' "${rows[@]}" | jq -s --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg opa "$opa_version" \
    --argjson runs "$runs" --arg host "$(uname -srm)" \
    '{date: $date, host: $host, runs: $runs, opa_version: (if $opa == "" then null else $opa end),
      opa_env: "GOMAXPROCS=1", statistic: "median of runs", cases: .}' >"$out"

printf '\n%-10s %12s %12s %10s %14s %12s %8s %6s %12s %12s\n' case 'ours µs/eval' 'evals/s' 'RSS KB' 'OPA ns/op' \
    'OPA RSS KB' ratio same 'fresh µs' 'limits µs'
jq -r '.cases[] | [.case, (.ours.us_per_eval | tostring), (.ours.evals_per_sec | tostring),
       (.ours.peak_rss_kb | tostring), (.opa.ns_per_op // "-" | tostring), (.opa.peak_rss_kb // "-" | tostring),
       ((.ratio // "-" | tostring) + (if .ratio then "x" else "" end)), (.same_answer // "-" | tostring),
       (.ours.fresh_input_ns_per_eval / 1000 * 100 | round / 100 | tostring),
       (.ours.with_limits_ns_per_eval / 1000 * 100 | round / 100 | tostring)] | @tsv' "$out" \
    | while IFS=$'\t' read -r a b c d e f g h i j; do
        printf '%-10s %12s %12s %10s %14s %12s %8s %6s %12s %12s\n' "$a" "$b" "$c" "$d" "$e" "$f" "$g" "$h" "$i" "$j"
    done
echo "(median of $runs runs, one core; 'fresh': ours with the input JSON parsed again for every"
echo " evaluation, which opa bench does not do; 'limits': ours with max_steps 1e6 and max_memory 64 MB;"
echo " written to ${out#"$root"/})"
exit $status
