# hutch-ingest: webhooks and the Kafka JSON topics (HUTCH_INGEST_TOPICS) -> hutch.events.raw.
PROGRAMS += $(BIN)/hutch-ingest
hutch_ingest_SRCS := services/ingest/main.c services/ingest/ingest.c services/ingest/router.c
UNIT_TESTS += $(BIN)/test_ingest $(BIN)/test_router
test_ingest_SRCS := services/ingest/test_ingest.c services/ingest/ingest.c
test_ingest_LIBS := -lcmocka
test_router_SRCS := services/ingest/test_router.c services/ingest/router.c services/ingest/ingest.c
test_router_LIBS := -lcmocka
