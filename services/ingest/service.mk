# hutch-ingest: webhooks and hutch.ingest.json -> hutch.events.raw.
PROGRAMS += $(BIN)/hutch-ingest
hutch_ingest_SRCS := services/ingest/main.c services/ingest/ingest.c
UNIT_TESTS += $(BIN)/test_ingest
test_ingest_SRCS := services/ingest/test_ingest.c services/ingest/ingest.c
test_ingest_LIBS := -lcmocka
