# hutch-enrich: hutch.alerts.accepted -> indicators + risk score -> hutch.alerts.enriched.
# Threat intel (issue 9): indicator normalisation, provider requests and verdicts,
# rate limits and cache (Postgres), the HTTP client.
# They use enrich.c's range rules (enrich_ip_is_public), so a program linking
# INTEL_SRCS links services/enrich/enrich.c too.
INTEL_SRCS := services/enrich/intel_indicator.c services/enrich/intel_provider.c services/enrich/intel_quota.c \
	services/enrich/intel_client.c
INTEL_PKGS := jansson libpsl libidn2 libcurl libpcre2-8 $(PKGS_msg) $(PKGS_pg)
PROGRAMS += $(BIN)/hutch-enrich
hutch_enrich_SRCS := services/enrich/main.c services/enrich/enrich.c services/enrich/store.c $(INTEL_SRCS) \
	services/enrich/intel_policy.c services/enrich/intel_store.c services/enrich/intel_worker.c
hutch_enrich_PKGS := $(PKGS_service) $(INTEL_PKGS)
hutch_enrich_REGO := yes
UNIT_TESTS += $(BIN)/test_enrich
test_enrich_SRCS := services/enrich/test_enrich.c services/enrich/enrich.c
test_enrich_PKGS := cmocka jansson libpcre2-8 libpsl $(PKGS_msg)
UNIT_TESTS += $(BIN)/test_intel
test_intel_SRCS := services/enrich/test_intel.c $(INTEL_SRCS) services/enrich/enrich.c
test_intel_PKGS := cmocka $(INTEL_PKGS)
# The client against tests/intel/fake_intel.py (started by the runner, loopback only).
UNIT_TESTS += $(BIN)/test_intel_client
test_intel_client_SRCS := services/enrich/test_intel_client.c $(INTEL_SRCS) services/enrich/enrich.c
test_intel_client_PKGS := cmocka $(INTEL_PKGS)
# The intel policy and the lookup worker's store (Postgres at HUTCH_UNIT_PG_PORT).
UNIT_TESTS += $(BIN)/test_intel_pipeline
test_intel_pipeline_SRCS := services/enrich/test_intel_pipeline.c $(INTEL_SRCS) services/enrich/enrich.c \
	services/enrich/intel_policy.c services/enrich/intel_store.c
test_intel_pipeline_PKGS := cmocka $(INTEL_PKGS)
test_intel_pipeline_REGO := yes
