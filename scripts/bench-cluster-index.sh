#!/usr/bin/env bash
# hutch-cluster's similarity index at scale (`make bench-cluster-index`; README
# "Benchmarks"): SHAPES distinct shapes (default 1,000,000) of 384-d unit vectors drawn
# like alert embeddings (hutch-vindex-bench's clustered model, DATA=uniform for
# independent ones), each with one alert embedded in the last hour, in a scratch
# Postgres; then the release hutch-cluster starts on it and loads them. Prints
# one JSON line: load time, the process's RSS after the load, and the
# latency of GET /v1/similar (top 10, over HTTP, QUERIES queries) at that size. No
# broker is needed: the index loads before the consumer starts. STORAGE=i8 for the
# int8 index.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
shapes=${SHAPES:-1000000} queries=${QUERIES:-20} storage=${STORAGE:-f32} data=${DATA:-clustered}
bin=$(build_dir release)/bin
for b in hutch-cluster hutch-vindex-bench; do
    [[ -x $bin/$b ]] || die "$bin/$b missing: make MODE=release $bin/$b"
done
work=$(mktemp -d /tmp/hutch-bench-index.XXXXXX)
pg_port=${PG_PORT:-55471} http_port=${HTTP_PORT:-18084}
cleanup() {
    [[ -n ${pid:-} ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    "$HUTCH_ROOT/scripts/postgres.sh" stop "$work/pg" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
url=$("$HUTCH_ROOT/scripts/postgres.sh" start "$work/pg" "$pg_port")
psql() { command psql -X -q -v ON_ERROR_STOP=1 "$url" "$@"; }

start_cluster() {
    rm -f "$work/cluster.log"
    env HUTCH_DATABASE_URL="$url" HUTCH_KAFKA_BROKERS=127.0.0.1:1 HUTCH_EMBED_PROVIDER=hash \
        HUTCH_CLUSTER_INDEX_STORAGE="$storage" HUTCH_CLUSTER_PORT="$http_port" HUTCH_LOG_LEVEL=info \
        "$bin/hutch-cluster" > "$work/cluster.log" 2>&1 &
    pid=$!
}
wait_loaded() {
    local t=0
    until grep -qs similarity_index_loaded "$work/cluster.log"; do
        kill -0 "$pid" 2>/dev/null || die "hutch-cluster exited: $(tail -5 "$work/cluster.log")"
        sleep 0.1; t=$((t + 1)); ((t < 6000)) || die "index not loaded in 600 s"
    done
}
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }

log "migrating (a first start on the empty database)"
start_cluster; wait_loaded; kill "$pid"; wait "$pid" 2>/dev/null || true; pid=

log "$shapes shapes of 384-d $data unit vectors into shape_embeddings and embeddings"
t0=$(date +%s%3N)
psql -c "CREATE UNLOGGED TABLE bench_rows (n bigint, v real[])"
"$bin/hutch-vindex-bench" rows --rows "$shapes" --dim 384 --data "$data" | psql -c "COPY bench_rows FROM STDIN"
psql <<SQL
INSERT INTO shape_embeddings (shape_hash, embedder, dims, vector, shape_text)
SELECT encode(sha256(int8send(n)), 'hex'), 'hash:384', 384, v, 'bench shape ' || n FROM bench_rows;
DROP TABLE bench_rows;
INSERT INTO embeddings (alert_id, vector, model, dims, shape_hash, created_at)
SELECT gen_random_uuid(), '{}', 'hash:384', 384, shape_hash, now() - random() * interval '1 hour'
FROM shape_embeddings;
SQL
log "filled in $(( $(date +%s%3N) - t0 )) ms"

start_cluster
wait_loaded
load_ms=$(grep -o '"event":"similarity_index_loaded".*' "$work/cluster.log" | grep -o '"ms":"[0-9]*"' | tr -dc 0-9)
rss=$(rss_kib)
hashes=$(psql -At -c "SELECT shape_hash FROM shape_embeddings ORDER BY random() LIMIT $queries")
partitions=$(grep -o '"event":"similarity_index_loaded".*' "$work/cluster.log" | grep -o '"partitions":"[-0-9]*"' | tr -dc 0-9-)
times=()
for h in $hashes; do
    times+=("$(curl -s -o /dev/null -w '%{time_total}' "http://127.0.0.1:$http_port/v1/similar?shape_hash=$h&limit=10")")
done
curl -s "http://127.0.0.1:$http_port/v1/similar?shape_hash=$(echo "$hashes" | head -1)&limit=3" > "$work/answer.json"
[[ $(grep -o '"index_shapes":[0-9]*' "$work/answer.json") == "\"index_shapes\":$shapes" ]] \
    || die "the index does not hold $shapes shapes: $(cat "$work/answer.json")"
median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)] * 1000}')
p90=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int(NR*0.9+0.5)] * 1000}')
printf '{"shapes":%d,"dim":384,"data":"%s","storage":"%s","load_ms":%d,"partitions":%d,"rss_mib":%d,"similar_http_ms_median":%.1f,"similar_http_ms_p90":%.1f}\n' \
    "$shapes" "$data" "$storage" "$load_ms" "$partitions" "$((rss / 1024))" "$median" "$p90"
