# Rego engine (common/rego): value model, parser, compiler, evaluator and builtin
# families. Every common/rego/*.c except the cmocka runners goes into
# libhutch_rego.a, so a new builtin family file is picked up without editing this.
REGO_SRCS += $(filter-out common/rego/test_%.c,$(wildcard common/rego/*.c))

UNIT_TESTS += $(BIN)/test_rego_value $(BIN)/test_rego
test_rego_value_SRCS := common/rego/test_rego_value.c
test_rego_value_LIBS := -lcmocka
test_rego_SRCS := common/rego/test_rego.c
test_rego_LIBS := -lcmocka
UNIT_TESTS += $(BIN)/test_rego_limits
test_rego_limits_SRCS := common/rego/test_rego_limits.c
test_rego_limits_LIBS := -lcmocka

# Family tables are weak references in builtins.c and a static archive member is
# not pulled in for a weak reference: force extraction (-u) of each family whose
# file exists (a family without a file stays a NULL weak reference).
comma := ,
REGO_FAMILIES := core strings regex collections encoding json net time crypto misc
LDFLAGS += $(foreach f,$(REGO_FAMILIES),$(if $(wildcard common/rego/builtins_$(f).c),-Wl$(comma)-u$(comma)rego_builtins_$(f)))
