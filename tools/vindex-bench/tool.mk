# hutch-vindex-bench: top-k search and DBSCAN timings on random vectors (`make bench-vindex`).
PROGRAMS += $(BIN)/hutch-vindex-bench
hutch_vindex_bench_SRCS := tools/vindex-bench/main.c services/cluster/dbscan.c
hutch_vindex_bench_PKGS :=
