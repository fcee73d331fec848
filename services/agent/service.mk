# hutch-agent: triage of clustered alerts, notify requests, LLM analyses of tickets.
PROGRAMS += $(BIN)/hutch-agent
hutch_agent_SRCS := services/agent/main.c services/agent/agent.c services/agent/store.c services/agent/jobs.c \
	services/agent/analysis.c services/agent/tools.c services/agent/worker.c services/enrich/intel_indicator.c \
	services/enrich/enrich.c
hutch_agent_PKGS := $(sort $(PKGS_service) $(PKGS_llm) $(PKGS_fetch) libpsl libidn2 libpcre2-8)
UNIT_TESTS += $(BIN)/test_agent
test_agent_SRCS := services/agent/test_agent.c services/agent/agent.c services/agent/analysis.c
test_agent_PKGS := cmocka jansson $(PKGS_msg)
