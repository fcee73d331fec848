# libhutch: everything in common/ except tests and the Rego engine (common/rego/).
COMMON_SRCS += $(filter-out common/test_%.c,$(wildcard common/*.c))

# The pkg-config packages of each module, with those of the modules it calls. A
# program names those of the modules it uses in NAME_PKGS; libhutch.a is an archive,
# so a program only links the modules it uses.
PKGS_log := jansson
PKGS_ids := libcrypto
PKGS_msg := libprotobuf-c $(PKGS_ids)
PKGS_http := libevent libevent_pthreads $(PKGS_log)
PKGS_pg := libpq $(PKGS_ids) $(PKGS_log)
PKGS_kafka := rdkafka $(PKGS_msg) $(PKGS_log)
PKGS_consumer := $(sort $(PKGS_kafka) $(PKGS_pg))
PKGS_severity := jansson $(PKGS_msg)
PKGS_fetch := libcurl
PKGS_jwt := libcrypto jansson $(PKGS_fetch) $(PKGS_log)
PKGS_shape := libpcre2-8 libcrypto $(PKGS_msg)
PKGS_embed := libcurl jansson
PKGS_llm := libcurl jansson $(PKGS_log)
PKGS_mcp := libcurl jansson
PKGS_vindex :=
PKGS_similar := $(PKGS_pg)
PKGS_password := libcrypto
PKGS_ticket := $(sort $(PKGS_pg) $(PKGS_msg) $(PKGS_severity) jansson)
PKGS_service := $(sort $(PKGS_http) $(PKGS_consumer)) # what every service links

# One cmocka runner per module: common/test_<module>.c -> $(BIN)/test_<module>.
COMMON_TESTS := $(patsubst common/%.c,%,$(wildcard common/test_*.c))
UNIT_TESTS += $(addprefix $(BIN)/,$(COMMON_TESTS))
$(foreach t,$(COMMON_TESTS),$(eval $(t)_SRCS := common/$(t).c)$(eval $(t)_PKGS := cmocka $(PKGS_$(t:test_%=%))))
# The HTTP tests are libcurl clients of the server they start.
test_http_PKGS += libcurl
test_service_PKGS += libcurl
test_jwt_PKGS += libevent libevent_pthreads
