#!/usr/bin/env bash
# Runs the Rego engine's libFuzzer targets (built by `make fuzz` into build/fuzz/).
#
#   fuzz/run.sh [SECONDS] [TARGET...]        (`make fuzz-run FUZZ_SECONDS=N`)
#
# For each target (default: all; fuzz_json: the JSON parser; fuzz_ingest_*: ingest's
# decoders, fuzz_jwt: common/jwt.c, see fuzz/ingest.mk), in turn, on one core:
#   1. replays the stored regression inputs fuzz/regressions/<target>/* (inputs that
#      once crashed, hung or leaked; each must now run clean),
#   2. fuzzes for SECONDS (default 60) from the corpus build/fuzz/corpus/<target>,
#      seeded on first use from the repository: OPA's conformance modules
#      (../shared/opa-conformance), the differential-test corpus and policies/,
#      with a Rego dictionary (fuzz/rego.dict); fuzz/seeds/<target>/ adds its own seeds
#      (envelopes, SNS messages, a signed JWT and a JWKS).
# Per-input limits: 10 s (a hang is a finding), 2 GB RSS, leaks detected (ASan).
# Findings are written to fuzz/crashes/<target>-crash-<sha1> (or leak-/timeout-/oom-);
# move a fixed one to fuzz/regressions/<target>/ so it is replayed from then on.
# Prints one line per target: "<target>: clean for Ns (N execs)" or the finding, and
# exits non-zero if any target found something.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
secs=${1:-60}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(fuzz_parse fuzz_eval_input fuzz_eval_policy fuzz_json fuzz_ingest_raw fuzz_ingest_pubsub
                            fuzz_ingest_sns fuzz_ingest_kafka_json fuzz_ingest_sns_canonical fuzz_jwt)
fz=$root/build/fuzz
mkdir -p "$here/crashes"
status=0

seed() { # seed TARGET DIR: fill an empty corpus dir from repository files
    local t=$1 dir=$2
    [[ -n $(ls -A "$dir" 2>/dev/null) ]] && return 0
    /usr/bin/python3 - "$t" "$dir" "$root" <<'PY'
import glob, hashlib, json, os, sys
t, out, root = sys.argv[1:]
def put(data):
    if isinstance(data, str):
        data = data.encode()
    if 0 < len(data) <= 16384:
        with open(os.path.join(out, hashlib.sha1(data).hexdigest()), "wb") as f:
            f.write(data)
modules, inputs = [], []
try:
    import yaml
    for y in sorted(glob.glob(os.path.join(root, "..", "shared", "opa-conformance", "*", "*", "*.yaml")))[:1500]:
        try:
            doc = yaml.safe_load(open(y))
        except Exception:
            continue
        for c in (doc or {}).get("cases", []) or []:
            for m in c.get("modules", []) or []:
                modules.append(m)
            if "input" in c:
                inputs.append(json.dumps(c["input"]))
except ImportError:
    pass
for p in glob.glob(os.path.join(root, "policies", "**", "*.rego"), recursive=True) + \
         glob.glob(os.path.join(root, "tests", "**", "*.rego"), recursive=True) + \
         glob.glob(os.path.join(root, "build", "rego-diff", "gen", "*", "*.rego"))[:300]:
    modules.append(open(p, errors="replace").read())
for p in glob.glob(os.path.join(root, "policies", "**", "*.json"), recursive=True) + \
         glob.glob(os.path.join(root, "tests", "e2e", "fixtures", "**", "*.json"), recursive=True) + \
         glob.glob(os.path.join(root, "build", "rego-diff", "gen", "*", "input*.json"))[:200]:
    inputs.append(open(p, errors="replace").read())
seeds = os.path.join(root, "fuzz", "seeds", t)
for p in sorted(glob.glob(os.path.join(seeds, "*"))):
    put(open(p, "rb").read())
if t in ("fuzz_ingest_pubsub", "fuzz_ingest_sns", "fuzz_ingest_sns_canonical", "fuzz_jwt"):
    sys.exit(0)  # their inputs are envelopes, not the repository's JSON documents
if t == "fuzz_ingest_kafka_json":
    for s in inputs:
        put(b"\xff" + s.encode())
    sys.exit(0)
if t == "fuzz_parse":
    for i, m in enumerate(modules):
        put(bytes([i % 3]) + m.encode())
elif t == "fuzz_eval_policy":
    for m in modules:  # the target adds `package f` + `import rego.v1`
        put("\n".join(l for l in m.splitlines() if not l.startswith(("package ", "import "))))
else:
    for s in inputs:
        put(s)
PY
}

for t in "${targets[@]}"; do
    bin=$fz/$t
    if [[ ! -x $bin ]]; then
        echo "$t: not built (make fuzz)"
        status=1
        continue
    fi
    corpus=$fz/corpus/$t
    mkdir -p "$corpus"
    seed "$t" "$corpus"
    common=(-timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 -detect_leaks=1 -dict="$here/rego.dict"
            -max_len=16384 -print_final_stats=1 -artifact_prefix="$here/crashes/$t-")
    regs=("$here"/regressions/"$t"/*)
    if [[ -e ${regs[0]} ]]; then
        if ! "$bin" "${common[@]}" "${regs[@]}" >"$fz/$t.replay.log" 2>&1; then
            echo "$t: a stored regression fails again (see $fz/$t.replay.log)"
            status=1
            continue
        fi
    fi
    log=$fz/$t.log
    t0=$(date +%s)
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1} UBSAN_OPTIONS=print_stacktrace=1 \
        "$bin" "${common[@]}" -max_total_time="$secs" "$corpus" >"$log" 2>&1
    rc=$?
    took=$(($(date +%s) - t0))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    if ((rc == 0)); then
        echo "$t: clean for ${took}s (${execs:-?} execs, corpus $(ls "$corpus" | wc -l))"
    else
        status=1
        art=$(grep -o "Test unit written to [^ ]*" "$log" | tail -1 | sed 's/Test unit written to //')
        what=$(grep -m1 -E '^==[0-9]+==ERROR|^SUMMARY|ALARM: working on the last Unit|out-of-memory|runtime error' "$log")
        echo "$t: FINDING after ${took}s: ${what:-exit $rc} -> ${art:-see $log}"
    fi
done
exit $status
