# hutch-enrich: hutch.alerts.accepted -> indicators + risk score -> hutch.alerts.enriched.
PROGRAMS += $(BIN)/hutch-enrich
hutch_enrich_SRCS := services/enrich/main.c services/enrich/enrich.c services/enrich/store.c
hutch_enrich_PKGS := $(PKGS_service) libpcre2-8 libpsl
UNIT_TESTS += $(BIN)/test_enrich
test_enrich_SRCS := services/enrich/test_enrich.c services/enrich/enrich.c
test_enrich_PKGS := cmocka jansson libpcre2-8 libpsl $(PKGS_msg)
# Threat intel (issue 9), not wired into hutch-enrich yet: indicator normalisation,
# provider requests and verdicts, rate limits and cache (Postgres), the HTTP client.
# They use enrich.c's range rules (enrich_ip_is_public), so a program linking
# INTEL_SRCS links services/enrich/enrich.c too.
INTEL_SRCS := services/enrich/intel_indicator.c services/enrich/intel_provider.c services/enrich/intel_quota.c \
	services/enrich/intel_client.c
INTEL_PKGS := jansson libpsl libidn2 libcurl libpcre2-8 $(PKGS_msg) $(PKGS_pg)
UNIT_TESTS += $(BIN)/test_intel
test_intel_SRCS := services/enrich/test_intel.c $(INTEL_SRCS) services/enrich/enrich.c
test_intel_PKGS := cmocka $(INTEL_PKGS)
# The client against tests/intel/fake_intel.py (started by the runner, loopback only).
UNIT_TESTS += $(BIN)/test_intel_client
test_intel_client_SRCS := services/enrich/test_intel_client.c $(INTEL_SRCS) services/enrich/enrich.c
test_intel_client_PKGS := cmocka $(INTEL_PKGS)
