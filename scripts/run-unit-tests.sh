#!/usr/bin/env bash
# Runs cmocka unit-test runners and adds up their results.
#
#   scripts/run-unit-tests.sh BIN...      (make unit-test passes $(UNIT_TESTS))
#
# Each runner gets HUTCH_UNIT_TIMEOUT seconds (default 300). Its output is shown
# only when it fails. A runner that crashes or times out before cmocka's summary
# counts as one failed test. The closing line is 'N passed, N failed' alone on its
# line; the exit status is non-zero if anything failed.
# ASan/UBSan runners (MODE=asan) abort on the first error and report leaks.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1:detect_stack_use_after_return=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
timeout_s=${HUTCH_UNIT_TIMEOUT:-300}
passed=0 failed=0 runners=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

for t in "$@"; do
    [[ -x $t ]] || { log "not found or not executable: $t"; failed=$((failed + 1)); continue; }
    runners=$((runners + 1))
    name=$(basename "$t")
    start=$(date +%s%3N)
    timeout -k 5 "$timeout_s" "$t" > "$tmp/out" 2>&1
    rc=$?
    ms=$(( $(date +%s%3N) - start ))
    # cmocka: "[  PASSED  ] 3 test(s)."  "[  FAILED  ] 1 test(s), listed below:"
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s)\..*/\1/p' "$tmp/out" | awk '{s+=$1} END {print s+0}')
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s), listed below:.*/\1/p' "$tmp/out" | awk '{s+=$1} END {print s+0}')
    if ((rc != 0 && f == 0)); then f=1; fi   # crash, sanitizer report, timeout, no summary
    passed=$((passed + p)); failed=$((failed + f))
    if ((rc == 0 && f == 0)); then
        printf '  ok    %-28s %4d passed  %6d ms\n' "$name" "$p" "$ms"
    else
        printf '  FAIL  %-28s %4d passed, %d failed (exit %d%s)  %6d ms\n' "$name" "$p" "$f" "$rc" \
            "$( ((rc == 124)) && echo ", timed out after ${timeout_s}s")" "$ms"
        sed 's/^/      | /' "$tmp/out" | tail -80
    fi
done

echo "unit: $runners runners"
echo "$passed passed, $failed failed"
((failed == 0))
