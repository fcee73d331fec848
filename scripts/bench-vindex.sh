#!/usr/bin/env bash
# The vector index and DBSCAN figures (`make bench-vindex`; README "Similarity search
# benchmark"): exact top-10 over 1,000,000 unit vectors at 384 and 256 dimensions,
# float32 and int8 rows, flat and partitioned (vindex_partition with PARTITIONS
# partitions), on clustered vectors (a model of alert embeddings, see
# tools/vindex-bench/main.c) and on uniform random ones (the worst case); DBSCAN (eps 0.3,
# minSamples 2) over 100,000 alerts with 2,000, 10,000 and 30,000 distinct shapes. One
# JSON line each, from the release build of hutch-vindex-bench. ROWS, QUERIES, PARTITIONS
# and ALERTS override the sizes.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench=$(build_dir release)/bin/hutch-vindex-bench
[[ -x $bench ]] || die "$bench missing: make MODE=release $bench"
rows=${ROWS:-1000000} queries=${QUERIES:-20} alerts=${ALERTS:-100000} partitions=${PARTITIONS:-8000}
log "top-10 of $rows vectors, $queries queries each (kernel chosen at run time)"
for data in clustered uniform; do
    for dim in 384 256; do
        for storage in f32 i8; do
            for parts in 0 "$partitions"; do
                "$bench" search --rows "$rows" --dim "$dim" --storage "$storage" --queries "$queries" \
                    --data "$data" --partitions "$parts"
            done
        done
    done
done
log "DBSCAN over $alerts alerts"
for shapes in 2000 10000 30000; do
    for storage in f32 i8; do
        "$bench" dbscan --rows "$alerts" --dim 384 --shapes "$shapes" --storage "$storage"
    done
done
