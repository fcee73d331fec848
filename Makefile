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
#   make run / up / down / bench / conformance / bench-vindex / bench-cluster-index / bench-intel
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
BIN := $(BUILD)/bin
OBJ := $(BUILD)/obj

# Filled by the fragments. A program or test runner $(BIN)/NAME (NAME with '-' as '_'
# in variable names) declares:
#   NAME_SRCS  its own sources
#   NAME_PKGS  the pkg-config packages of what it uses: its own code's, and those of
#              the libhutch modules it links (PKGS_<module>, common/common.mk)
#   NAME_REGO  non-empty when it uses the Rego engine: links libhutch_rego.a and
#              REGO_PKGS (common/rego/rego.mk)
#   NAME_LIBS  any other linker arguments
PROTO_SRCS :=     # proto/hutch/v1/*.proto
COMMON_SRCS :=    # common/*.c            -> $(BUILD)/libhutch.a
REGO_SRCS :=      # common/rego/*.c       -> $(BUILD)/libhutch_rego.a
PROGRAMS :=       # $(BIN)/name
UNIT_TESTS :=     # $(BIN)/test_x, cmocka runners

.PHONY: all deps test unit-test e2e-test conformance run up down bench bench-policy rego-bench bench-vindex bench-cluster-index clean fmt fmt-check \
	images test-deploy k8s-policies bench-intel
all: programs

include proto/proto.mk
include common/common.mk
include $(wildcard common/rego/*.mk)
include $(wildcard services/*/service.mk)
include cli/cli.mk
include $(wildcard tools/*/tool.mk)

# `pkg-config OPTION PACKAGES`, stopping make (with pkg-config's message naming the
# package) when it fails; nothing for no packages.
pkg_config = $(if $(strip $(2)),$(shell pkg-config $(1) $(sort $(2)))$(if $(filter-out 0,$(.SHELLSTATUS)),$(error pkg-config $(1) $(sort $(2)) failed (`make deps` installs what is missing))))

prog_name = $(subst -,_,$(notdir $(1)))
ALL_PKGS := $(sort $(REGO_PKGS) $(foreach p,$(PROGRAMS) $(UNIT_TESTS),$($(call prog_name,$(p))_PKGS)))
# Goals that compile nothing run without the packages (`make deps` installs them).
ifneq ($(filter-out deps clean down fmt,$(or $(MAKECMDGOALS),all)),)
  PKG_MISSING := $(shell for p in $(ALL_PKGS); do pkg-config --exists $$p || echo $$p; done)
  ifneq ($(PKG_MISSING),)
    $(error pkg-config does not find $(PKG_MISSING): `make deps` installs them)
  endif
  PKG_CFLAGS := $(call pkg_config,--cflags,$(ALL_PKGS))
endif

CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers \
	-pthread $(MODE_CFLAGS) -I. -Icommon -I$(BUILD)/gen $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDFLAGS := -pthread $(MODE_LDFLAGS) $(EXTRA_LDFLAGS)
LDLIBS := -lm

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

# A program or test links its own objects, then libhutch_rego (if NAME_REGO), then
# libhutch, then its packages.
define link_program
$(1): $$(patsubst %.c,$$(OBJ)/%.o,$$($(2)_SRCS)) $(if $($(2)_REGO),$$(LIBREGO)) $$(LIBHUTCH)
	@mkdir -p $$(@D)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(call pkg_config,--libs,$$($(2)_PKGS) $(if $($(2)_REGO),$$(REGO_PKGS))) \
		$$($(2)_LIBS) $$(LDLIBS)
endef
$(foreach p,$(PROGRAMS) $(UNIT_TESTS),$(eval $(call link_program,$(p),$(call prog_name,$(p)))))

programs: $(PROGRAMS) $(UNIT_TESTS)

deps:
	@scripts/deps.sh

unit-test: deps programs pyproto
	@scripts/run-unit-tests.sh $(UNIT_TESTS)

test: deps programs pyproto
	@scripts/test.sh $(MODE)

# OPA's conformance cases (its test/cases, v1 and v0 syntax): HUTCH_CONFORMANCE_DIR,
# as scripts/check-conformance.sh reads it.
HUTCH_CONFORMANCE_DIR ?= ../shared/opa-conformance
conformance: programs
	$(BIN)/hutch-rego-conformance --syntax v1 $(HUTCH_CONFORMANCE_DIR)/v1
	$(BIN)/hutch-rego-conformance --syntax v0 $(HUTCH_CONFORMANCE_DIR)/v0

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
	@scripts/bench-intel.sh

# hutch-policy alone: Kafka in, Postgres and Kafka out (scripts/bench-policy.sh; EVENTS=N).
bench-policy: deps pyproto
	@$(MAKE) --no-print-directory MODE=release build/release/bin/hutch-policy
	@$(if $(EVENTS),HUTCH_BENCH_EVENTS=$(EVENTS) )scripts/bench-policy.sh

# Threat-intel lookups with a warm cache (scripts/bench-intel.sh; ALERTS=N).
bench-intel: deps
	@$(MAKE) --no-print-directory MODE=release build/release/bin/hutch-intel-bench
	@$(if $(ALERTS),ALERTS=$(ALERTS) )scripts/bench-intel.sh

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

# Vector index top-10 at 1M rows and DBSCAN at 100k alerts (scripts/bench-vindex.sh).
bench-vindex:
	@$(MAKE) --no-print-directory MODE=release build/release/bin/hutch-vindex-bench
	@scripts/bench-vindex.sh
# hutch-cluster's similarity index holding 1M shapes: load time, RSS, GET /v1/similar
# (scripts/bench-cluster-index.sh; a scratch Postgres, no broker).
bench-cluster-index:
	@$(MAKE) --no-print-directory MODE=release build/release/bin/hutch-cluster build/release/bin/hutch-vindex-bench
	@scripts/bench-cluster-index.sh
	@STORAGE=i8 scripts/bench-cluster-index.sh

clean:
	rm -rf build

# Formatting (clang-format 14, `make deps`), by the nearest .clang-format: the top-level
# style, common/rego/, tools/ and fuzz/ with their one-line bodies. `make fmt` formats
# only the C lines changed since FMT_BASE (HEAD: what you are about to commit), so it
# never rewrites code nobody touched; `make fmt-check` fails when those lines or any
# file of FMT_CLEAN (the directories formatted throughout) would change.
FMT_BASE ?= HEAD
FMT_CLEAN := common/rego tools fuzz
fmt:
	git clang-format --force --extensions c,h $(FMT_BASE)
fmt-check:
	@clang-format --dry-run --Werror $$(git ls-files $(addsuffix /*.c,$(FMT_CLEAN)) $(addsuffix /*.h,$(FMT_CLEAN)))
	@d=$$(git clang-format --diff --extensions c,h $(FMT_BASE)); \
	if printf '%s\n' "$$d" | grep -q '^[-+]'; then printf '%s\n' "$$d"; echo "make fmt would change the lines above"; exit 1; fi

-include $(shell find $(OBJ) -name '*.d' 2>/dev/null)
