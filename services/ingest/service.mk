# hutch-ingest: webhooks and hutch.ingest.json -> hutch.events.raw.
INGEST_LIB_SRCS := services/ingest/ingest.c services/ingest/sns.c services/ingest/pubsub.c services/ingest/auth.c
PROGRAMS += $(BIN)/hutch-ingest
hutch_ingest_SRCS := services/ingest/main.c services/ingest/guard.c $(INGEST_LIB_SRCS)
UNIT_TESTS += $(BIN)/test_ingest $(BIN)/test_ingest_verify
test_ingest_SRCS := services/ingest/test_ingest.c $(INGEST_LIB_SRCS)
test_ingest_LIBS := -lcmocka
test_ingest_verify_SRCS := services/ingest/test_ingest_verify.c $(INGEST_LIB_SRCS)
test_ingest_verify_LIBS := -lcmocka
