# hutch-agent: triage of clustered alerts, notify requests.
PROGRAMS += $(BIN)/hutch-agent
hutch_agent_SRCS := services/agent/main.c services/agent/agent.c services/agent/store.c
hutch_agent_PKGS := $(PKGS_service)
UNIT_TESTS += $(BIN)/test_agent
test_agent_SRCS := services/agent/test_agent.c services/agent/agent.c
test_agent_PKGS := cmocka jansson $(PKGS_msg)
# The action chain (chain.c, pure) and its actions (actions.c, HTTP): hutchctl links them too.
ACTION_CHAIN_SRCS := services/agent/chain.c
ACTION_CHAIN_PKGS := jansson
ACTION_SRCS := $(ACTION_CHAIN_SRCS) services/agent/actions.c
ACTION_PKGS := jansson libcurl libcrypto
UNIT_TESTS += $(BIN)/test_chain
test_chain_SRCS := services/agent/test_chain.c $(ACTION_CHAIN_SRCS)
test_chain_PKGS := cmocka $(ACTION_CHAIN_PKGS)
test_chain_REGO := yes
