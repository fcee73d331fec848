# hutch-agent: triage of clustered alerts, notify requests.
PROGRAMS += $(BIN)/hutch-agent
hutch_agent_SRCS := services/agent/main.c services/agent/agent.c services/agent/store.c
UNIT_TESTS += $(BIN)/test_agent
test_agent_SRCS := services/agent/test_agent.c services/agent/agent.c
test_agent_LIBS := -lcmocka
