# hutch-policy: hutch.events.raw -> events/alerts rows -> hutch.alerts.accepted.
# policy.c and rules.c are the decision (no I/O); hutchctl links them too
# (`policy decide`, `policy test --detect/--ignore`), so a test decides like the service.
# They use the Rego engine: whoever links them sets NAME_REGO := yes.
POLICY_DECISION_SRCS := services/policy/policy.c services/policy/rules.c services/policy/decide_json.c
POLICY_DECISION_PKGS := jansson $(PKGS_msg)
PROGRAMS += $(BIN)/hutch-policy
hutch_policy_SRCS := services/policy/main.c services/policy/store.c services/policy/reload.c $(POLICY_DECISION_SRCS)
hutch_policy_PKGS := $(PKGS_service) $(POLICY_DECISION_PKGS)
hutch_policy_REGO := yes
UNIT_TESTS += $(BIN)/test_policy
test_policy_SRCS := services/policy/test_policy.c $(POLICY_DECISION_SRCS)
test_policy_PKGS := cmocka $(POLICY_DECISION_PKGS)
test_policy_REGO := yes
UNIT_TESTS += $(BIN)/test_rules
test_rules_SRCS := services/policy/test_rules.c $(POLICY_DECISION_SRCS)
test_rules_PKGS := cmocka $(POLICY_DECISION_PKGS)
test_rules_REGO := yes
UNIT_TESTS += $(BIN)/test_reload
test_reload_SRCS := services/policy/test_reload.c services/policy/reload.c $(POLICY_DECISION_SRCS)
test_reload_PKGS := cmocka $(POLICY_DECISION_PKGS) $(PKGS_log)
test_reload_REGO := yes
