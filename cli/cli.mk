# hutchctl: the operator CLI (cli/hutchctl.c is the command table). It links the
# policy service's decision code (POLICY_DECISION_SRCS, services/policy/service.mk,
# included before this file) so `policy decide` and `policy test --detect` decide
# exactly like hutch-policy, ingest.c for its schema-name rule (`alert send`), and
# enrich's threat-intel modules (INTEL_SRCS, services/enrich/service.mk) for `intel lookup`,
# the agent's context, sessions and tools (services/agent/) for `chat`, and cluster's
# stored-vector reader and DBSCAN for `alert similar`, `ticket similar`, `ticket suggest`.
PROGRAMS += $(BIN)/hutchctl
hutchctl_SRCS := cli/hutchctl.c cli/output.c cli/fixture.c cli/cmd_alert.c cli/cmd_ticket.c cli/cmd_event.c \
	cli/cmd_policy.c $(POLICY_DECISION_SRCS) services/ingest/ingest.c cli/cmd_intel.c $(INTEL_SRCS) \
	services/enrich/enrich.c cli/cmd_notify.c services/notify/blocks.c services/notify/notify.c \
	services/notify/slack_store.c cli/cmd_agent.c services/agent/jobs.c services/agent/tools.c services/agent/analysis.c $(AGENT_CHAT_SRCS) \
	cli/cmd_user.c cli/cmd_similar.c services/cluster/shapes.c services/cluster/dbscan.c cli/cmd_action.c \
	$(filter-out services/enrich/enrich.c $(INTEL_SRCS),$(ACTION_SRCS))
hutchctl_PKGS = $(sort $(POLICY_DECISION_PKGS) $(PKGS_pg) $(PKGS_ticket) libcurl libpcre2-8 $(INTEL_PKGS) $(PKGS_llm) \
	$(PKGS_mcp) $(PKGS_password) $(PKGS_embed) $(PKGS_kafka) $(ACTION_PKGS))
hutchctl_REGO := yes
hutchctl_LIBS := -ljsonnet # Debian's libjsonnet-dev has no pkg-config file (action test's *.jsonnet playbooks)
UNIT_TESTS += $(BIN)/test_cli_output
test_cli_output_SRCS := cli/test_cli_output.c cli/output.c
test_cli_output_PKGS := cmocka jansson
UNIT_TESTS += $(BIN)/test_cli_fixture
test_cli_fixture_SRCS := cli/test_cli_fixture.c cli/fixture.c $(POLICY_DECISION_SRCS)
test_cli_fixture_PKGS := cmocka $(POLICY_DECISION_PKGS)
test_cli_fixture_REGO := yes
