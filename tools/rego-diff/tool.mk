# Rego engine test tools: the differential-test driver (hutch-rego-eval, compared
# with OPA by scripts/rego-diff.sh), the benchmark (hutch-rego-bench, run by
# scripts/rego-bench.sh) and the libFuzzer targets (`make fuzz`, sources in fuzz/).
PROGRAMS += $(BIN)/hutch-rego-eval $(BIN)/hutch-rego-bench
hutch_rego_eval_SRCS := tools/rego-diff/eval.c
hutch_rego_bench_SRCS := tools/rego-diff/bench.c
hutch_rego_eval_REGO := yes
hutch_rego_bench_REGO := yes

# ---- fuzzing: clang + libFuzzer + ASan + UBSan, into build/fuzz/ (independent of MODE).
# The engine sources are compiled again with coverage instrumentation and linked as
# objects (not an archive), so every builtin family is in.
FUZZ_DIR := build/fuzz
FUZZ_CC := clang
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -g -O1 -pthread -I. -Icommon $(FUZZ_SAN) $(call pkg_config,--cflags,$(REGO_PKGS))
FUZZ_LIBS = $(call pkg_config,--libs,$(REGO_PKGS)) -lm -pthread
FUZZ_TARGETS := fuzz_parse fuzz_eval_input fuzz_eval_policy fuzz_json
FUZZ_BINS := $(addprefix $(FUZZ_DIR)/,$(FUZZ_TARGETS))
FUZZ_REGO_OBJS := $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(filter-out common/rego/test_%.c,$(wildcard common/rego/*.c)))

.PHONY: fuzz fuzz-run
.SECONDARY: $(FUZZ_REGO_OBJS) $(patsubst %,$(FUZZ_DIR)/obj/fuzz/%.o,$(FUZZ_TARGETS))
fuzz: $(FUZZ_BINS)

$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_DIR)/fuzz_%: $(FUZZ_DIR)/obj/fuzz/fuzz_%.o $(FUZZ_REGO_OBJS)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(FUZZ_LIBS)

include fuzz/ingest.mk

# `make fuzz-run FUZZ_SECONDS=120`: each target for FUZZ_SECONDS, crashers into fuzz/crashes/.
FUZZ_SECONDS ?= 60
fuzz-run: fuzz
	@fuzz/run.sh $(FUZZ_SECONDS)

-include $(shell find $(FUZZ_DIR)/obj -name '*.d' 2>/dev/null)
