# Unit tests for the net, time, crypto, encoding and misc builtin families
# (builtins_{net,time,crypto,encoding,misc}.c are picked up by rego.mk with the rest of common/rego).
UNIT_TESTS += $(BIN)/test_rego_builtins_b
test_rego_builtins_b_SRCS := common/rego/test_rego_builtins_b.c
test_rego_builtins_b_PKGS := cmocka
test_rego_builtins_b_REGO := yes
