#!/usr/bin/env bash
# Threat-intel lookups with a warm cache (`make bench-intel`, part of `make bench`;
# README "Threat intelligence"): hutch-intel-bench (release build) on a scratch
# Postgres under a temporary directory (port HUTCH_BENCH_PG_PORT, default 55452),
# 20,000 alerts over 100 public IPs and 4 providers in batches of 500, first with the
# built-in default decision, then with the shipped policies (package intel). One JSON
# line each. ALERTS, IPS override the sizes.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench=$(build_dir release)/bin/hutch-intel-bench
[[ -x $bench ]] || die "$bench missing: make MODE=release $bench"
dir=$(mktemp -d /tmp/hutch-bench-intel-XXXXXX)
port=${HUTCH_BENCH_PG_PORT:-55452}
trap '"$HUTCH_ROOT/scripts/postgres.sh" stop "$dir/pg" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
url=$("$HUTCH_ROOT/scripts/postgres.sh" start "$dir/pg" "$port")
alerts=${ALERTS:-20000} ips=${IPS:-100}
log "warm-cache lookups: $alerts alerts, $ips IPs, 4 providers, batches of 500"
HUTCH_DATABASE_URL=$url "$bench" --alerts "$alerts" --ips "$ips" --providers 4
HUTCH_DATABASE_URL=$url "$bench" --alerts "$alerts" --ips "$ips" --providers 4 --policy "$HUTCH_ROOT/policies"
