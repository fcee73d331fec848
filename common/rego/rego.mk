# Rego engine (common/rego): value model, parser, compiler, evaluator and builtin
# families. Every common/rego/*.c except the cmocka runners goes into
# libhutch_rego.a, so a new builtin family file is picked up without editing this
# (its table is named in builtins.c's family list). A program using the engine sets
# NAME_REGO := yes and gets the archive and REGO_PKGS.
REGO_SRCS += $(filter-out common/rego/test_%.c,$(wildcard common/rego/*.c))
REGO_PKGS := jansson libpcre2-8 libcrypto yaml-0.1 uuid

UNIT_TESTS += $(BIN)/test_rego_value $(BIN)/test_rego $(BIN)/test_rego_limits
test_rego_value_SRCS := common/rego/test_rego_value.c
test_rego_SRCS := common/rego/test_rego.c
test_rego_limits_SRCS := common/rego/test_rego_limits.c
$(foreach t,test_rego_value test_rego test_rego_limits,$(eval $(t)_PKGS := cmocka)$(eval $(t)_REGO := yes))
