# hutch-policy: hutch.events.raw -> events/alerts rows -> hutch.alerts.accepted.
PROGRAMS += $(BIN)/hutch-policy
hutch_policy_SRCS := services/policy/main.c services/policy/policy.c services/policy/store.c
UNIT_TESTS += $(BIN)/test_policy
test_policy_SRCS := services/policy/test_policy.c services/policy/policy.c
test_policy_LIBS := -lcmocka
