# hutch-ingest: webhooks and hutch.ingest.json -> hutch.events.raw.
PROGRAMS += $(BIN)/hutch-ingest
hutch_ingest_SRCS := services/ingest/main.c services/ingest/ingest.c services/ingest/parked.c
hutch_ingest_PKGS := $(PKGS_service) libcrypto
hutch_ingest_REGO := yes
UNIT_TESTS += $(BIN)/test_ingest
test_ingest_SRCS := services/ingest/test_ingest.c services/ingest/ingest.c
test_ingest_PKGS := cmocka jansson libcrypto $(PKGS_msg)
test_ingest_REGO := yes
UNIT_TESTS += $(BIN)/test_parked
test_parked_SRCS := services/ingest/test_parked.c services/ingest/parked.c
test_parked_PKGS := cmocka $(PKGS_http)
