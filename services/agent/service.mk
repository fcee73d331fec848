# hutch-agent: triage of clustered alerts, action chains, notify requests, LLM analyses of tickets.
# The action chain (chain.c, pure) and its actions (actions.c, HTTP): hutchctl links
# them too (`action play/run/test`), so a play runs the agent's loop.
ACTION_CHAIN_SRCS := services/agent/chain.c
ACTION_CHAIN_PKGS := jansson
# otx.indicator reads and fills enrich's intel cache: INTEL_SRCS (enrich's service.mk,
# read after this file, hence the recursive `=`).
ACTION_SRCS = $(ACTION_CHAIN_SRCS) services/agent/actions.c $(INTEL_SRCS) services/enrich/enrich.c
ACTION_PKGS = jansson libcurl libcrypto $(PKGS_ticket) $(INTEL_PKGS)
# The chat (chat.c on plan.c, pure, and requests.c): the agent answers hutch.agent.requests
# with it and hutchctl chat links it, so both answer alike.
AGENT_CHAT_SRCS := services/agent/chat.c services/agent/plan.c services/agent/requests.c
PROGRAMS += $(BIN)/hutch-agent
hutch_agent_SRCS = services/agent/main.c services/agent/agent.c services/agent/store.c services/agent/runs.c \
	services/agent/jobs.c services/agent/analysis.c services/agent/tools.c services/agent/worker.c \
	services/agent/triage.c services/agent/triage_store.c services/agent/triage_batch.c \
	services/agent/enrich_runner.c $(AGENT_CHAT_SRCS) $(ACTION_SRCS)
hutch_agent_PKGS = $(sort $(PKGS_service) $(PKGS_llm) $(PKGS_fetch) libpsl libidn2 libpcre2-8 $(ACTION_PKGS))
hutch_agent_REGO := yes
UNIT_TESTS += $(BIN)/test_agent
test_agent_SRCS := services/agent/test_agent.c services/agent/agent.c services/agent/analysis.c
test_agent_PKGS := cmocka jansson $(PKGS_msg)
UNIT_TESTS += $(BIN)/test_chain
test_chain_SRCS := services/agent/test_chain.c $(ACTION_CHAIN_SRCS)
test_chain_PKGS := cmocka $(ACTION_CHAIN_PKGS)
test_chain_REGO := yes
UNIT_TESTS += $(BIN)/test_plan
test_plan_SRCS := services/agent/test_plan.c services/agent/plan.c
test_plan_PKGS = cmocka $(PKGS_llm)
UNIT_TESTS += $(BIN)/test_triage
test_triage_SRCS := services/agent/test_triage.c services/agent/triage.c
test_triage_PKGS := cmocka $(sort $(PKGS_msg) $(PKGS_llm))
test_triage_REGO := yes
