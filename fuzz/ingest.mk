# libFuzzer targets of ingest's decoders and verifiers and of common/jwt.c (sources
# fuzz/fuzz_ingest_*.c, fuzz/fuzz_jwt.c), built like the engine's (tools/rego-diff/
# tool.mk includes this after its own rules): `make fuzz`, `fuzz/run.sh SECONDS TARGET`.
# They link ingest's domain files, common/jwt.c, fetch.c, ids.c, msg.c and the
# protobuf code, instrumented the same way. No target does I/O: the SNS verifier is
# built with a certificate-host pattern that matches nothing, so no fetch happens.
FUZZ_INGEST_TARGETS := fuzz_ingest_raw fuzz_ingest_pubsub fuzz_ingest_sns fuzz_ingest_kafka_json \
	fuzz_ingest_sns_canonical fuzz_jwt
FUZZ_INGEST_SRCS := services/ingest/ingest.c services/ingest/sns.c services/ingest/pubsub.c services/ingest/router.c common/jwt.c common/config.c \
	common/fetch.c common/ids.c common/msg.c
FUZZ_INGEST_OBJS := $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(FUZZ_INGEST_SRCS)) \
	$(patsubst $(BUILD)/gen/%.c,$(FUZZ_DIR)/obj/gen/%.o,$(PROTO_GEN_C))
FUZZ_INGEST_LIBS = $(shell pkg-config --libs libprotobuf-c libcurl 2>/dev/null)
FUZZ_TARGETS += $(FUZZ_INGEST_TARGETS)
FUZZ_BINS := $(addprefix $(FUZZ_DIR)/,$(FUZZ_TARGETS))
.SECONDARY: $(FUZZ_INGEST_OBJS) $(patsubst %,$(FUZZ_DIR)/obj/fuzz/%.o,$(FUZZ_INGEST_TARGETS))
fuzz: $(addprefix $(FUZZ_DIR)/,$(FUZZ_INGEST_TARGETS))

$(FUZZ_DIR)/obj/gen/%.o: $(BUILD)/gen/%.c $(PROTO_GEN_H)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -I$(BUILD)/gen -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@
$(FUZZ_INGEST_OBJS) $(patsubst %,$(FUZZ_DIR)/obj/fuzz/%.o,$(FUZZ_INGEST_TARGETS)): FUZZ_CFLAGS += -I$(BUILD)/gen \
	$(shell pkg-config --cflags libprotobuf-c libcurl 2>/dev/null)
$(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(FUZZ_INGEST_SRCS)): $(PROTO_GEN_H)

$(addprefix $(FUZZ_DIR)/,$(FUZZ_INGEST_TARGETS)): $(FUZZ_DIR)/%: $(FUZZ_DIR)/obj/fuzz/%.o $(FUZZ_INGEST_OBJS) $(FUZZ_REGO_OBJS)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(FUZZ_LIBS) $(FUZZ_INGEST_LIBS)
