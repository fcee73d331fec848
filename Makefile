# Hutch — top-level build.
#
# Every module contributes a fragment (*.mk) that appends to the variables below;
# this file owns the flags, the modes and the generic rules. A newcomer reads the
# fragments to learn what a module builds.
#
#   make                build everything for MODE (debug by default)
#   make MODE=asan      AddressSanitizer + UBSan, into build/asan/
#   make MODE=release   optimised, into build/release/
#   make deps           install what is missing (idempotent)
#   make test           deps, build, unit + conformance + end-to-end tests
#   make run / up / down / bench / conformance
#   make images         the four container images (scripts/docker-images.sh; DOCKER, BASE)
#   make test-deploy    images + docker-compose.yml on a Docker engine of its own (as root)
#   make k8s-policies   k8s/base/configmap-policies.json from policies/

MODE ?= debug
ifeq ($(MODE),debug)
  BUILD := build
  MODE_CFLAGS := -O1 -g
  MODE_LDFLAGS :=
else ifeq ($(MODE),release)
  BUILD := build/release
  MODE_CFLAGS := -O2 -g -DNDEBUG
  MODE_LDFLAGS :=
else ifeq ($(MODE),asan)
  BUILD := build/asan
  MODE_CFLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  MODE_LDFLAGS := -fsanitize=address,undefined
else
  $(error MODE must be debug, release or asan)
endif

CC ?= cc
PKGS := rdkafka libprotobuf-c jansson libevent libevent_pthreads libpq libcurl libpcre2-8 yaml-0.1 uuid openssl libpsl
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers \
	-pthread $(MODE_CFLAGS) -I. -Icommon -I$(BUILD)/gen $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDFLAGS := -pthread $(MODE_LDFLAGS) $(EXTRA_LDFLAGS)
LDLIBS = $(PKG_LIBS) -lm

BIN := $(BUILD)/bin
OBJ := $(BUILD)/obj

# Filled by the fragments.
PROTO_SRCS :=     # proto/hutch/v1/*.proto
COMMON_SRCS :=    # common/*.c            -> $(BUILD)/libhutch.a
REGO_SRCS :=      # common/rego/*.c       -> $(BUILD)/libhutch_rego.a
PROGRAMS :=       # $(BIN)/name, each with NAME_SRCS
UNIT_TESTS :=     # $(BIN)/test_x, cmocka runners, each with NAME_SRCS

.PHONY: all deps test unit-test e2e-test conformance run up down bench bench-policy rego-bench clean fmt \
	images test-deploy k8s-policies
all: programs

include proto/proto.mk
include common/common.mk
-include $(wildcard common/rego/*.mk)
-include $(wildcard services/*/service.mk)
-include cli/cli.mk
-include $(wildcard tools/*/tool.mk)
-include tests/tests.mk

GEN_OBJS := $(patsubst $(BUILD)/gen/%.c,$(OBJ)/gen/%.o,$(PROTO_GEN_C))
COMMON_OBJS := $(patsubst %.c,$(OBJ)/%.o,$(COMMON_SRCS)) $(GEN_OBJS)
REGO_OBJS := $(patsubst %.c,$(OBJ)/%.o,$(REGO_SRCS))
LIBHUTCH := $(BUILD)/libhutch.a
LIBREGO := $(BUILD)/libhutch_rego.a

$(LIBHUTCH): $(COMMON_OBJS)
	@mkdir -p $(@D)
	$(AR) rcs $@ $^
$(LIBREGO): $(REGO_OBJS)
	@mkdir -p $(@D)
	$(AR) rcs $@ $^

# Objects depend on generated protobuf headers so the first build orders itself.
$(OBJ)/%.o: %.c $(PROTO_GEN_H)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@
$(OBJ)/gen/%.o: $(BUILD)/gen/%.c $(PROTO_GEN_H)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# A program or test links its own objects, then libhutch_rego, then libhutch.
define link_program
$(1): $$(patsubst %.c,$$(OBJ)/%.o,$$($(2)_SRCS)) $$(LIBREGO) $$(LIBHUTCH)
	@mkdir -p $$(@D)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS) $$($(2)_LIBS)
endef
$(foreach p,$(PROGRAMS) $(UNIT_TESTS),$(eval $(call link_program,$(p),$(subst -,_,$(notdir $(p))))))

programs: $(PROGRAMS) $(UNIT_TESTS)

deps:
	@scripts/deps.sh

unit-test: deps programs pyproto
	@scripts/run-unit-tests.sh $(UNIT_TESTS)

test: deps programs pyproto
	@scripts/test.sh $(MODE)

conformance: programs
	$(BIN)/hutch-rego-conformance --syntax v1 ../shared/opa-conformance/v1
	$(BIN)/hutch-rego-conformance --syntax v0 ../shared/opa-conformance/v0

run: deps programs
	@scripts/stack.sh run $(MODE)
up: deps programs
	@scripts/stack.sh up $(MODE)
down:
	@scripts/stack.sh down
bench: deps pyproto
	@$(MAKE) --no-print-directory MODE=release programs
	@scripts/bench.sh
	@scripts/bench-policy.sh
	@scripts/rego-bench.sh

# hutch-policy alone: Kafka in, Postgres and Kafka out (scripts/bench-policy.sh; EVENTS=N).
bench-policy: deps pyproto
	@$(MAKE) --no-print-directory MODE=release build/release/bin/hutch-policy
	@$(if $(EVENTS),HUTCH_BENCH_EVENTS=$(EVENTS) )scripts/bench-policy.sh

# Rego engine vs OPA on bench/rego/* (scripts/rego-bench.sh; RUNS=N for more runs).
rego-bench:
	@scripts/rego-bench.sh --runs $(or $(RUNS),5)

# Container images and the deployment test (scripts/docker-images.sh, scripts/test-deploy.sh).
images:
	@scripts/docker-images.sh
test-deploy: deps
	@scripts/test-deploy.sh
k8s-policies:
	@scripts/k8s-policies.sh

clean:
	rm -rf build

fmt:
	clang-format -i $$(git ls-files '*.c' '*.h')

-include $(shell find $(OBJ) -name '*.d' 2>/dev/null)
