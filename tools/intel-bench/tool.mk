# hutch-intel-bench: enrich's threat-intel batch path with a warm cache (`make bench-intel`).
PROGRAMS += $(BIN)/hutch-intel-bench
hutch_intel_bench_SRCS := tools/intel-bench/main.c $(INTEL_SRCS) services/enrich/enrich.c \
	services/enrich/intel_policy.c services/enrich/intel_store.c
hutch_intel_bench_PKGS := $(INTEL_PKGS)
hutch_intel_bench_REGO := yes
