# hutch-enrich: hutch.alerts.accepted -> indicators + risk score -> hutch.alerts.enriched.
PROGRAMS += $(BIN)/hutch-enrich
hutch_enrich_SRCS := services/enrich/main.c services/enrich/enrich.c services/enrich/store.c
hutch_enrich_PKGS := $(PKGS_service) libpcre2-8 libpsl
UNIT_TESTS += $(BIN)/test_enrich
test_enrich_SRCS := services/enrich/test_enrich.c services/enrich/enrich.c
test_enrich_PKGS := cmocka jansson libpcre2-8 libpsl $(PKGS_msg)
