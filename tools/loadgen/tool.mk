# hutch-loadgen: HTTP/1.1 keep-alive load generator for ingest's webhooks (make bench).
PROGRAMS += $(BIN)/hutch-loadgen
hutch_loadgen_SRCS := tools/loadgen/main.c
