# hutch-ingest: webhooks and hutch.ingest.json -> hutch.events.raw.
PROGRAMS += $(BIN)/hutch-ingest
hutch_ingest_SRCS := services/ingest/main.c services/ingest/ingest.c services/ingest/parked.c
UNIT_TESTS += $(BIN)/test_ingest
test_ingest_SRCS := services/ingest/test_ingest.c services/ingest/ingest.c
test_ingest_LIBS := -lcmocka
UNIT_TESTS += $(BIN)/test_parked
test_parked_SRCS := services/ingest/test_parked.c services/ingest/parked.c
test_parked_LIBS := -lcmocka
