# libhutch: everything in common/ except tests and the Rego engine (common/rego/).
COMMON_SRCS += $(filter-out common/test_%.c,$(wildcard common/*.c))

# One cmocka runner per module: common/test_<module>.c -> $(BIN)/test_<module>.
COMMON_TESTS := $(patsubst common/%.c,%,$(wildcard common/test_*.c))
UNIT_TESTS += $(addprefix $(BIN)/,$(COMMON_TESTS))
$(foreach t,$(COMMON_TESTS),$(eval $(t)_SRCS := common/$(t).c)$(eval $(t)_LIBS := -lcmocka))
