# hutch-agent: triage of clustered alerts, notify requests.
PROGRAMS += $(BIN)/hutch-agent
hutch_agent_SRCS := services/agent/main.c services/agent/agent.c services/agent/store.c
hutch_agent_PKGS := $(PKGS_service)
UNIT_TESTS += $(BIN)/test_agent
test_agent_SRCS := services/agent/test_agent.c services/agent/agent.c
test_agent_PKGS := cmocka jansson $(PKGS_msg)
