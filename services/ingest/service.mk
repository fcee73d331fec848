# hutch-ingest: webhooks and the Kafka JSON topics (HUTCH_INGEST_TOPICS) -> hutch.events.raw.
INGEST_LIB_SRCS := services/ingest/ingest.c services/ingest/sns.c services/ingest/pubsub.c services/ingest/auth.c \
	services/ingest/router.c
# the domain files' packages, with those of common/jwt.c and common/fetch.c they call
INGEST_LIB_PKGS := jansson libcrypto libpcre2-8 libcurl libevent $(PKGS_msg) $(PKGS_log)
PROGRAMS += $(BIN)/hutch-ingest
hutch_ingest_SRCS := services/ingest/main.c services/ingest/guard.c services/ingest/parked.c $(INGEST_LIB_SRCS)
hutch_ingest_PKGS := $(PKGS_service) $(INGEST_LIB_PKGS) libcurl
hutch_ingest_REGO := yes
UNIT_TESTS += $(BIN)/test_ingest $(BIN)/test_ingest_verify
test_ingest_SRCS := services/ingest/test_ingest.c $(INGEST_LIB_SRCS)
test_ingest_PKGS := cmocka $(INGEST_LIB_PKGS)
test_ingest_REGO := yes
test_ingest_verify_SRCS := services/ingest/test_ingest_verify.c $(INGEST_LIB_SRCS)
test_ingest_verify_PKGS := cmocka $(INGEST_LIB_PKGS)
test_ingest_verify_REGO := yes
UNIT_TESTS += $(BIN)/test_parked
test_parked_SRCS := services/ingest/test_parked.c services/ingest/parked.c
test_parked_PKGS := cmocka $(PKGS_http)
UNIT_TESTS += $(BIN)/test_router
test_router_SRCS := services/ingest/test_router.c $(INGEST_LIB_SRCS)
test_router_PKGS := cmocka $(INGEST_LIB_PKGS)
test_router_REGO := yes
