# Unit tests of the strings, regex, collections and json builtin families
# (builtins_strings.c, builtins_regex.c, builtins_collections.c, builtins_json.c).
UNIT_TESTS += $(BIN)/test_rego_builtins_a
test_rego_builtins_a_SRCS := common/rego/test_rego_builtins_a.c
test_rego_builtins_a_PKGS := cmocka
test_rego_builtins_a_REGO := yes
