# lcow: one entry point. See README.md.
#   make deps | all | check | fuzz | install | clean | fmt | fmt-check | demo | bench | bench-shim
#   make initrd [WITH_RUNC=1] | kernel-pin [KERNEL_VERSION=6.1.0-57] | distclean | check-containerd
#   make check SANITIZE=address,undefined   (everything under ASan + UBSan, in its own build dir)

SHELL := /bin/bash
.SUFFIXES:
.DELETE_ON_ERROR:

PREFIX ?= /usr/local
DESTDIR ?=
SANITIZE ?=
FUZZ_SECONDS ?= 60
WITH_RUNC ?= 0
CC ?= cc
CLANG ?= clang
CLANG_FORMAT ?= clang-format

comma := ,
ifeq ($(SANITIZE),)
BUILD := build/default
SAN_FLAGS :=
else
BUILD := build/san-$(subst $(comma),-,$(SANITIZE))
SAN_FLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
endif

# Debian packages the project needs; `make deps` installs the missing ones.
DEPS_PKGS := build-essential pkg-config libjansson-dev libseccomp-dev check libsubunit-dev \
	clang clang-format libclang-rt-14-dev runc busybox-static e2fsprogs socat libnl-3-dev libnl-route-3-dev iproute2 \
	qemu-system-x86 cpio xz-utils zstd kmod jq \
	protobuf-c-compiler libprotobuf-c-dev protobuf-compiler libprotobuf-dev containerd libmd-dev tmux

# The utility VM's kernel: the Debian package initrd/kernel.lock pins. `make deps` downloads it
# into KERNEL_CACHE and checks its SHA256; `make initrd` reads it from there and never uses apt.
# The cache is outside build/ so that `make clean` keeps it (a pinned, hash-checked download,
# never stale); `make distclean` removes it.
KERNEL_CACHE ?= $(CURDIR)/.cache/kernel
export KERNEL_CACHE

# The containerd shim's .proto files: host/shim/protos.sh (run by `make deps`) takes them from
# three Debian -dev packages it downloads into PROTO_CACHE (without installing them) and strips
# their gogoproto options; the build runs protoc-c on them. Kept by `make clean`, like the kernel.
PROTO_CACHE ?= $(CURDIR)/.cache/protos
export PROTO_CACHE

# libnl-route-3: route netlink for the agent's and the host's network set-up (Debian's libmnl-dev
# has no static archive, and the agent links statically).
PKGS := jansson libnl-route-3.0
CPPFLAGS_BASE := -D_GNU_SOURCE -D_FORTIFY_SOURCE=2 -Icommon -Iprotocol/include -Iprotocol
CFLAGS_BASE := -std=gnu11 -Wall -Wextra -Werror -O2 -g -fPIC -fvisibility=hidden \
	-Wno-missing-field-initializers -Wno-format-truncation $(SAN_FLAGS)
JSON_CFLAGS = $(shell pkg-config --cflags $(PKGS))
JSON_LIBS = $(shell pkg-config --libs $(PKGS))
STATIC_LIBS = $(shell pkg-config --static --libs $(PKGS))
CHECK_CFLAGS = $(shell pkg-config --cflags check)
CHECK_LIBS = $(shell pkg-config --libs check)

ALL_CFLAGS = $(CPPFLAGS_BASE) $(CFLAGS_BASE) $(JSON_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(SAN_FLAGS) $(LDFLAGS)

# ---- common: internal helpers every program may use (libcommon.a) ----
COMMON_SRCS := $(wildcard common/*.c)
COMMON_OBJS := $(COMMON_SRCS:%.c=$(BUILD)/%.o)
COMMON_LIB := $(BUILD)/libcommon.a

# ---- protocol: libgcsproto.a ----
PROTO_SRCS := $(wildcard protocol/*.c)
PROTO_OBJS := $(PROTO_SRCS:%.c=$(BUILD)/%.o)
PROTO_LIB := $(BUILD)/libgcsproto.a

# ---- host: libgcs (static + shared), gcsctl ----
GCS_SRCS := $(wildcard host/lib/*.c host/uvm/*.c host/layers/*.c)
GCS_OBJS := $(GCS_SRCS:%.c=$(BUILD)/%.o)
GCS_LIB := $(BUILD)/libgcs.a
GCS_SO := $(BUILD)/libgcs.so
GCS_PC := $(BUILD)/gcs.pc
GCSCTL := $(BUILD)/gcsctl
HOST_CPPFLAGS := -Ihost/include -Ihost/lib -Ihost/uvm

# ---- guest: the agent ----
AGENT_SRCS := $(wildcard guest/gcs/*.c)
AGENT_OBJS := $(AGENT_SRCS:%.c=$(BUILD)/%.o)
AGENT := $(BUILD)/gcs

# ---- host: the runtime core both front ends drive (liblcowrt.a) ----
RT_SRCS := $(wildcard host/runtime/*.c)
RT_OBJS := $(RT_SRCS:%.c=$(BUILD)/%.o)
RT_LIB := $(BUILD)/liblcowrt.a

# ---- host: the lcow CLI (runhcs's commands on Linux hosts) ----
CLI_SRCS := $(wildcard host/cli/*.c)
CLI_OBJS := $(CLI_SRCS:%.c=$(BUILD)/%.o)
CLI_LIB := $(BUILD)/liblcowcli.a
LCOW := $(BUILD)/lcow

# ---- guest: the UVM's PID 1 (static) ----
INIT_SRCS := $(wildcard guest/init/*.c)
INIT_OBJS := $(INIT_SRCS:%.c=$(BUILD)/%.o)
INIT := $(BUILD)/init

# ---- host: the vhost-user vsock device ----
VSOCK_SRCS := $(wildcard host/vsock/*.c)
VSOCK_OBJS := $(VSOCK_SRCS:%.c=$(BUILD)/%.o)
VSOCK_LIB := $(BUILD)/libvsockdev.a
VSOCK := $(BUILD)/lcow-vsock

# ---- host: the containerd shim v2 (containerd-shim-lcow-v1, runtime io.containerd.lcow.v1) ----
# protoc-c output goes to SHIM_GEN, never into the tree.
SHIM_GEN := $(BUILD)/host/shim/gen
CTRD_PROTO := github.com/containerd/containerd
SHIM_PROTOS := $(CTRD_PROTO)/runtime/v2/task/shim.proto $(CTRD_PROTO)/api/types/mount.proto \
	$(CTRD_PROTO)/api/types/metrics.proto $(CTRD_PROTO)/api/types/task/task.proto \
	$(CTRD_PROTO)/api/events/task.proto $(CTRD_PROTO)/api/services/ttrpc/events/v1/events.proto \
	github.com/containerd/cgroups/stats/v1/metrics.proto google/rpc/status.proto
SHIM_PROTOS_WKT := google/protobuf/any.proto google/protobuf/empty.proto google/protobuf/timestamp.proto
SHIM_GEN_SRCS := $(patsubst %.proto,$(SHIM_GEN)/%.pb-c.c,$(SHIM_PROTOS) $(SHIM_PROTOS_WKT) ttrpc.proto)
SHIM_GEN_OBJS := $(SHIM_GEN_SRCS:.c=.o)
SHIM_SRCS := $(wildcard host/shim/*.c)
SHIM_OBJS := $(SHIM_SRCS:%.c=$(BUILD)/%.o)
SHIM_LIB := $(BUILD)/libshim.a
SHIM := $(BUILD)/containerd-shim-lcow-v1
PROTOBUF_C_CFLAGS = $(shell pkg-config --cflags libprotobuf-c)
PROTOBUF_C_LIBS = $(shell pkg-config --libs libprotobuf-c)

# ---- unit tests: one Check program per module ----
UNIT_SRCS := $(filter-out tests/unit/testutil.c,$(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)
UNIT_UTIL := $(BUILD)/tests/unit/testutil.o

# ---- integration tests: the real agent driven through libgcs ----
IT_SRCS := $(wildcard tests/integration/test_*.c)
IT_BINS := $(IT_SRCS:tests/integration/%.c=$(BUILD)/tests/integration/%)
# every other file there is the suites' shared harness
IT_UTIL := $(patsubst tests/integration/%.c,$(BUILD)/tests/integration/%.o,$(filter-out $(IT_SRCS),$(wildcard tests/integration/*.c)))

# ---- CLI tests: the built lcow binary driven as a user would (process-mode UVMs) ----
CLI_TEST_SRCS := $(wildcard tests/cli/test_*.c)
CLI_TEST_BINS := $(CLI_TEST_SRCS:tests/cli/%.c=$(BUILD)/tests/cli/%)
# qemu_*.c: CLI suites with QEMU-mode UVMs, run by vm-check once the initrd is built
CLI_QEMU_SRCS := $(wildcard tests/cli/qemu_*.c)
CLI_QEMU_BINS := $(CLI_QEMU_SRCS:tests/cli/%.c=$(BUILD)/tests/cli/%)
# every other file there is the suites' shared harness
CLI_TEST_UTIL := $(patsubst tests/cli/%.c,$(BUILD)/tests/cli/%.o,$(filter-out $(CLI_TEST_SRCS) $(CLI_QEMU_SRCS),$(wildcard tests/cli/*.c)))

# ---- containerd tests: Debian's containerd with a config, root and sockets of their own ----
CTRD_TEST_SRCS := $(wildcard tests/containerd/test_*.c)
CTRD_TEST_BINS := $(CTRD_TEST_SRCS:tests/containerd/%.c=$(BUILD)/tests/containerd/%)
# qemu_*.c: the QEMU-mode suites, run by vm-check
CTRD_QEMU_SRCS := $(wildcard tests/containerd/qemu_*.c)
CTRD_QEMU_BINS := $(CTRD_QEMU_SRCS:tests/containerd/%.c=$(BUILD)/tests/containerd/%)
CTRD_TEST_UTIL := $(patsubst tests/containerd/%.c,$(BUILD)/tests/containerd/%.o,$(filter-out $(CTRD_TEST_SRCS) $(CTRD_QEMU_SRCS),$(wildcard tests/containerd/*.c)))

# ---- the VM suite: lcow's kernel and initrd under QEMU ----
VM_SRCS := $(wildcard tests/vm/test_*.c)
VM_BINS := $(VM_SRCS:tests/vm/%.c=$(BUILD)/tests/vm/%)
# The initrd's agent and init are always the static default build.
IMG := build/default

.PHONY: all deps kernel-pin check check-unit check-integration check-cli fuzz install clean distclean \
	fmt fmt-check demo help

all: deps build

.PHONY: build
build: $(COMMON_LIB) $(PROTO_LIB) $(GCS_LIB) $(GCS_SO) $(RT_LIB) $(GCS_PC) $(GCSCTL) $(AGENT) $(UNIT_BINS) $(IT_BINS) \
	$(if $(INIT_SRCS),$(INIT)) $(if $(VSOCK_SRCS),$(VSOCK)) $(VM_BINS) \
	$(if $(CLI_SRCS),$(LCOW)) $(CLI_TEST_BINS) $(CLI_QEMU_BINS) $(SHIM) $(CTRD_TEST_BINS) $(CTRD_QEMU_BINS)

help:
	@sed -n '1,4p' Makefile

deps:
	@missing=""; \
	for p in $(DEPS_PKGS); do \
		dpkg-query -W -f='$${Status}\n' "$$p" 2>/dev/null | grep -q '^install ok installed$$' \
			|| missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "deps: installing$$missing"; \
		if [ "$$(id -u)" != 0 ]; then echo "deps: run as root to install:$$missing" >&2; exit 1; fi; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y --no-install-recommends $$missing \
			|| { apt-get update && apt-get install -y --no-install-recommends $$missing; }; \
	fi
	@initrd/kernel.sh fetch
	@host/shim/protos.sh fetch

# Rewrites initrd/kernel.lock from what apt offers now (KERNEL_VERSION=<abi>: that kernel).
kernel-pin:
	@initrd/kernel.sh pin

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(PROTO_LIB): $(PROTO_OBJS)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(COMMON_LIB): $(COMMON_OBJS)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/host/%.o: host/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(HOST_CPPFLAGS) -pthread -MMD -MP -c -o $@ $<

$(GCS_LIB): $(GCS_OBJS) $(PROTO_OBJS) $(COMMON_OBJS)
	rm -f $@ && ar rcs $@ $^

$(GCS_SO): $(GCS_OBJS) $(PROTO_OBJS) $(COMMON_OBJS)
	$(CC) $(ALL_LDFLAGS) -shared -Wl,-soname,libgcs.so.0 -pthread -o $@ $^ $(JSON_LIBS)

# The pkg-config file names PREFIX, so it is written for the PREFIX of each build or install.
define write_pc
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$${prefix}/lib' 'includedir=$${prefix}/include' '' \
		'Name: gcs' 'Description: lcow host library for the GCS bridge' 'Version: 0.1' \
		'Requires.private: jansson libnl-route-3.0' 'Cflags: -I$${includedir}' \
		'Libs: -L$${libdir} -lgcs' 'Libs.private: -pthread' > $(1)
endef

.PHONY: $(GCS_PC)
$(GCS_PC):
	@mkdir -p $(@D)
	@$(call write_pc,$@)

$(GCSCTL): $(BUILD)/host/gcsctl/gcsctl.o $(GCS_LIB) $(PROTO_LIB) $(COMMON_LIB)
	$(CC) $(ALL_LDFLAGS) -pthread -o $@ $^ $(JSON_LIBS)

# The agent links statically (small RSS, no libraries to carry into the initrd), except under
# the sanitizers, which need the dynamic runtime.
AGENT_STATIC := $(if $(SANITIZE),,-static)
$(AGENT): $(AGENT_OBJS) $(PROTO_LIB) $(COMMON_LIB)
	$(CC) $(ALL_LDFLAGS) $(AGENT_STATIC) -o $@ $^ $(if $(SANITIZE),$(JSON_LIBS),$(STATIC_LIBS))

$(BUILD)/tests/unit/%.o: tests/unit/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(HOST_CPPFLAGS) -Iguest/gcs -Ihost/vsock -Ihost/cli $(CHECK_CFLAGS) -DLCOW_TESTDATA='"$(CURDIR)/tests/data"' -MMD -MP -c -o $@ $<

$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(UNIT_UTIL) $(GCS_LIB) $(PROTO_LIB) $(COMMON_LIB)
	$(CC) $(ALL_LDFLAGS) -pthread -o $@ $^ $(JSON_LIBS) $(CHECK_LIBS)

$(CLI_LIB): $(filter-out %/main.o,$(CLI_OBJS))
	rm -f $@ && ar rcs $@ $^

$(RT_LIB): $(RT_OBJS)
	rm -f $@ && ar rcs $@ $^

$(LCOW): $(BUILD)/host/cli/main.o $(CLI_LIB) $(RT_LIB) $(GCS_LIB) $(PROTO_LIB) $(COMMON_LIB)
	$(CC) $(ALL_LDFLAGS) -pthread -o $@ $^ $(JSON_LIBS)

# Suites of the CLI's internals (test_cli_*.c) link its objects, all but main.
$(BUILD)/tests/unit/test_cli_%: $(BUILD)/tests/unit/test_cli_%.o $(UNIT_UTIL) $(CLI_LIB) $(RT_LIB) $(GCS_LIB) $(PROTO_LIB) $(COMMON_LIB)
	$(CC) $(ALL_LDFLAGS) -pthread -o $@ $^ $(JSON_LIBS) $(CHECK_LIBS)

$(INIT): $(INIT_OBJS)
	$(CC) $(ALL_LDFLAGS) $(AGENT_STATIC) -o $@ $^

$(VSOCK_LIB): $(filter-out %/main.o,$(VSOCK_OBJS))
	rm -f $@ && ar rcs $@ $^

$(VSOCK): $(BUILD)/host/vsock/main.o $(VSOCK_LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^

# Suites of the vsock device's internals (test_vsock_*.c) link its objects, all but main.
$(BUILD)/tests/unit/test_vsock_%: $(BUILD)/tests/unit/test_vsock_%.o $(UNIT_UTIL) $(VSOCK_LIB)
	$(CC) $(ALL_LDFLAGS) -pthread -o $@ $^ $(CHECK_LIBS)

# The shim: protoc-c runs once over every .proto (they import each other) into SHIM_GEN.
$(SHIM_GEN)/.stamp: host/shim/ttrpc.proto host/shim/protos.sh
	@src=$$(host/shim/protos.sh dir) && rm -rf $(SHIM_GEN) && mkdir -p $(SHIM_GEN) && \
		cd "$$src" && protoc-c -I. -I$(CURDIR)/host/shim -I/usr/include \
		--c_out=$(CURDIR)/$(SHIM_GEN) $(SHIM_PROTOS) ttrpc.proto $(SHIM_PROTOS_WKT)
	@touch $@

$(SHIM_GEN_SRCS): $(SHIM_GEN)/.stamp ;

$(SHIM_GEN)/%.pb-c.o: $(SHIM_GEN)/%.pb-c.c
	$(CC) $(ALL_CFLAGS) $(PROTOBUF_C_CFLAGS) -I$(SHIM_GEN) -MMD -MP -c -o $@ $<

$(BUILD)/host/shim/%.o: ALL_CFLAGS += -I$(SHIM_GEN) $(PROTOBUF_C_CFLAGS)
$(SHIM_OBJS): | $(SHIM_GEN)/.stamp

$(SHIM_LIB): $(filter-out %/main.o,$(SHIM_OBJS)) $(SHIM_GEN_OBJS)
	rm -f $@ && ar rcs $@ $^

$(SHIM): $(BUILD)/host/shim/main.o $(SHIM_LIB) $(RT_LIB) $(GCS_LIB) $(PROTO_LIB) $(COMMON_LIB)
	$(CC) $(ALL_LDFLAGS) -pthread -o $@ $^ $(JSON_LIBS) $(PROTOBUF_C_LIBS) -lmd

# Suites of the shim's internals (test_shim_*.c) link its objects, all but main.
SHIM_TEST_OBJS := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%.o,$(wildcard tests/unit/test_shim_*.c))
$(SHIM_TEST_OBJS): ALL_CFLAGS += -Ihost/shim -I$(SHIM_GEN) $(PROTOBUF_C_CFLAGS)
$(SHIM_TEST_OBJS): | $(SHIM_GEN)/.stamp
$(BUILD)/tests/unit/test_shim_%: $(BUILD)/tests/unit/test_shim_%.o $(UNIT_UTIL) $(SHIM_LIB) $(RT_LIB) $(GCS_LIB) $(PROTO_LIB) $(COMMON_LIB)
	$(CC) $(ALL_LDFLAGS) -pthread -o $@ $^ $(JSON_LIBS) $(PROTOBUF_C_LIBS) -lmd $(CHECK_LIBS)

# Suites of init's internals (test_init_*.c) link its objects, all but main.
$(BUILD)/tests/unit/test_init_%.o: ALL_CFLAGS += -Iguest/init
$(BUILD)/tests/unit/test_init_%: $(BUILD)/tests/unit/test_init_%.o $(UNIT_UTIL) $(filter-out %/main.o,$(INIT_OBJS))
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CHECK_LIBS)

# Suites of the agent's internals (test_agent_*.c) link its objects, all but main.
AGENT_LIB := $(BUILD)/libgcsagent.a
$(AGENT_LIB): $(filter-out %/main.o,$(AGENT_OBJS))
	rm -f $@ && ar rcs $@ $^

$(BUILD)/tests/unit/test_agent_%: $(BUILD)/tests/unit/test_agent_%.o $(UNIT_UTIL) $(AGENT_LIB) $(PROTO_LIB) $(COMMON_LIB)
	$(CC) $(ALL_LDFLAGS) -pthread -o $@ $^ $(JSON_LIBS) $(CHECK_LIBS)

$(BUILD)/tests/integration/%.o: tests/integration/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(HOST_CPPFLAGS) $(CHECK_CFLAGS) -DLCOW_TESTDATA='"$(CURDIR)/tests/data"' \
		-DLCOW_AGENT='"$(CURDIR)/$(AGENT)"' -MMD -MP -c -o $@ $<

$(BUILD)/tests/integration/%: $(BUILD)/tests/integration/%.o $(IT_UTIL) $(GCS_LIB) $(PROTO_LIB) $(COMMON_LIB)
	$(CC) $(ALL_LDFLAGS) -pthread -o $@ $^ $(JSON_LIBS) $(CHECK_LIBS)

# The runtime core's suite links liblcowrt.a too.
$(BUILD)/tests/integration/test_runtime: $(BUILD)/tests/integration/test_runtime.o $(IT_UTIL) $(RT_LIB) $(GCS_LIB) $(PROTO_LIB) $(COMMON_LIB)
	$(CC) $(ALL_LDFLAGS) -pthread -o $@ $^ $(JSON_LIBS) $(CHECK_LIBS)

$(BUILD)/tests/vm/%.o: tests/vm/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(HOST_CPPFLAGS) -Itests/integration $(CHECK_CFLAGS) \
		-DLCOW_KERNEL='"$(CURDIR)/$(IMG)/vmlinux"' -DLCOW_INITRD='"$(CURDIR)/$(IMG)/initrd.img"' \
		-DLCOW_VSOCK='"$(CURDIR)/$(VSOCK)"' -MMD -MP -c -o $@ $<

$(BUILD)/tests/vm/%: $(BUILD)/tests/vm/%.o $(BUILD)/tests/integration/layers.o $(GCS_LIB) $(PROTO_LIB) $(COMMON_LIB)
	$(CC) $(ALL_LDFLAGS) -pthread -o $@ $^ $(JSON_LIBS) $(CHECK_LIBS)

check: deps
	@$(MAKE) --no-print-directory build
	@$(MAKE) --no-print-directory check-unit
	@$(MAKE) --no-print-directory check-integration
	@$(MAKE) --no-print-directory check-cli
	@$(MAKE) --no-print-directory check-containerd
	@$(MAKE) --no-print-directory vm-check

# Boots lcow's utility VM under QEMU (TCG) and runs the VM suites in it.
.PHONY: vm-check
vm-check: deps
	@$(MAKE) --no-print-directory SANITIZE= initrd WITH_RUNC=1
	@$(MAKE) --no-print-directory $(VM_BINS) $(VSOCK) $(LCOW) $(AGENT) $(CLI_QEMU_BINS) $(SHIM) $(CTRD_QEMU_BINS)
	@fail=0; for t in $(VM_BINS) $(CLI_QEMU_BINS) $(CTRD_QEMU_BINS); do \
		echo "== $$t"; \
		CK_TIMEOUT_MULTIPLIER=$(if $(SANITIZE),2,1) $$t || { fail=1; echo "FAILED: $$t"; }; \
	done; \
	if [ $$fail = 0 ]; then echo "vm-check: all VM suites passed"; else echo "vm-check: FAILURES" >&2; exit 1; fi

# Each suite runs the agent it was built with; every suite runs even when one fails.
check-integration: $(IT_BINS) $(AGENT)
	@fail=0; for t in $(IT_BINS); do \
		echo "== $$t"; \
		CK_TIMEOUT_MULTIPLIER=$(if $(SANITIZE),4,1) $$t || { fail=1; echo "FAILED: $$t"; }; \
	done; \
	if [ $$fail = 0 ]; then echo "check: all integration suites passed"; else echo "check: FAILURES" >&2; exit 1; fi

$(BUILD)/tests/cli/%.o: tests/cli/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) -DLCOW_BIN='"$(CURDIR)/$(LCOW)"' -MMD -MP -c -o $@ $<

$(BUILD)/tests/cli/%: $(BUILD)/tests/cli/%.o $(CLI_TEST_UTIL)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CHECK_LIBS)

# The lcow binary of this build, its agent next to it; every suite runs even when one fails.
check-cli: $(CLI_TEST_BINS) $(LCOW) $(AGENT)
	@fail=0; for t in $(CLI_TEST_BINS); do \
		echo "== $$t"; \
		CK_TIMEOUT_MULTIPLIER=$(if $(SANITIZE),4,1) $$t || { fail=1; echo "FAILED: $$t"; }; \
	done; \
	if [ $$fail = 0 ]; then echo "check: all CLI suites passed"; else echo "check: FAILURES" >&2; exit 1; fi

$(BUILD)/tests/containerd/%.o: tests/containerd/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) -DLCOW_SHIM_DIR='"$(CURDIR)/$(BUILD)"' -MMD -MP -c -o $@ $<

$(BUILD)/tests/containerd/%: $(BUILD)/tests/containerd/%.o $(CTRD_TEST_UTIL)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CHECK_LIBS)

# Debian's containerd with configs of the suites' own; the lcow shim through
# `ctr run --runtime io.containerd.lcow.v1`. Every suite runs even when one fails.
.PHONY: check-containerd
check-containerd: $(CTRD_TEST_BINS) $(SHIM)
	@fail=0; for t in $(CTRD_TEST_BINS); do \
		echo "== $$t"; \
		CK_TIMEOUT_MULTIPLIER=$(if $(SANITIZE),2,1) $$t || { fail=1; echo "FAILED: $$t"; }; \
	done; \
	if [ $$fail = 0 ]; then echo "check: all containerd suites passed"; else echo "check: FAILURES" >&2; exit 1; fi

# Runs every suite even when one fails; fails if any did.
check-unit: $(UNIT_BINS)
	@fail=0; for t in $(UNIT_BINS); do \
		echo "== $$t"; \
		CK_TIMEOUT_MULTIPLIER=$(if $(SANITIZE),10,1) $$t || { fail=1; echo "FAILED: $$t"; }; \
	done; \
	if [ $$fail = 0 ]; then echo "check: all unit suites passed"; else echo "check: FAILURES" >&2; exit 1; fi

# ---- benchmarks ----
# One program from every file of tests/bench, with the VM suite's busybox layer fixture.
BENCH := $(BUILD)/tests/bench/bench_bridge
BENCH_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(wildcard tests/bench/*.c))

$(BUILD)/tests/bench/%.o: tests/bench/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(HOST_CPPFLAGS) -Itests/integration \
		-DLCOW_KERNEL='"$(CURDIR)/$(IMG)/vmlinux"' \
		-DLCOW_INITRD='"$(CURDIR)/$(IMG)/initrd.img"' -DLCOW_VSOCK='"$(CURDIR)/$(VSOCK)"' \
		-MMD -MP -c -o $@ $<

$(BENCH): $(BENCH_OBJS) $(BUILD)/tests/integration/layers.o $(GCS_LIB) $(PROTO_LIB) $(COMMON_LIB)
	$(CC) $(ALL_LDFLAGS) -pthread -o $@ $^ $(JSON_LIBS)

# The containerd shims' bench: `ctr run` through lcow's shim beside runc's, with the containerd
# suites' harness (tests/containerd/ctrd.c, Check). BENCH_SHIM_ARGS=--runc-only: the baseline alone.
BENCH_SHIM := $(BUILD)/tests/bench/shim/bench_shim
BENCH_SHIM_ARGS ?=

$(BUILD)/tests/bench/shim/%.o: tests/bench/shim/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(HOST_CPPFLAGS) -Itests/bench -Itests/containerd $(CHECK_CFLAGS) \
		-DLCOW_SHIM_DIR='"$(CURDIR)/$(BUILD)"' -MMD -MP -c -o $@ $<

$(BENCH_SHIM): $(BUILD)/tests/bench/shim/bench_shim.o $(BUILD)/tests/containerd/ctrd.o \
		$(BUILD)/tests/bench/bench_util.o $(GCS_LIB) $(PROTO_LIB) $(COMMON_LIB)
	$(CC) $(ALL_LDFLAGS) -pthread -o $@ $^ $(JSON_LIBS) $(CHECK_LIBS)

# Non-zero when a part that could run failed; a part that cannot run here says why. Both
# programs run even when the first fails.
.PHONY: bench bench-shim
bench: deps
	@$(MAKE) --no-print-directory SANITIZE= initrd WITH_RUNC=1
	@$(MAKE) --no-print-directory -j$$(nproc) $(BENCH) $(AGENT) $(VSOCK) $(BENCH_SHIM) $(SHIM)
	@rc=0; echo "$(BENCH) $(AGENT) 1000"; $(BENCH) $(AGENT) 1000 || rc=1; \
	echo "$(BENCH_SHIM) $(BENCH_SHIM_ARGS)"; $(BENCH_SHIM) $(BENCH_SHIM_ARGS) || rc=1; exit $$rc

# The shims' bench alone.
bench-shim: deps
	@$(MAKE) --no-print-directory -j$$(nproc) $(BENCH_SHIM) $(SHIM) $(AGENT)
	$(BENCH_SHIM) $(BENCH_SHIM_ARGS)

# ---- fuzzing (clang + libFuzzer) ----
FUZZ_BUILD := build/fuzz
FUZZ_FLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_PROTO_OBJS := $(PROTO_SRCS:%.c=$(FUZZ_BUILD)/%.o)
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,$(FUZZ_BUILD)/%,$(wildcard tests/fuzz/fuzz_*.c))
# Objects reached only through pattern rules are intermediate: keep them so reruns don't rebuild.
.SECONDARY: $(FUZZ_PROTO_OBJS) $(FUZZ_TARGETS:$(FUZZ_BUILD)/%=$(FUZZ_BUILD)/tests/fuzz/%.o)

$(FUZZ_BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CLANG) $(CPPFLAGS_BASE) -std=gnu11 -Wall -Wextra -Werror -Wno-missing-field-initializers \
		-O1 -g $(FUZZ_FLAGS) $(JSON_CFLAGS) -MMD -MP -c -o $@ $<

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/tests/fuzz/fuzz_%.o $(FUZZ_PROTO_OBJS)
	$(CLANG) -fsanitize=fuzzer,address,undefined -o $@ $^ $(JSON_LIBS)

fuzz: deps $(FUZZ_TARGETS)
	@for t in $(FUZZ_TARGETS); do \
		name=$$(basename $$t); corpus=$(FUZZ_BUILD)/corpus-$$name; mkdir -p $$corpus; \
		echo "== $$name for $(FUZZ_SECONDS)s"; \
		( cd $(FUZZ_BUILD) && ./$$name -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
			-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
			$$( [ -f $(CURDIR)/tests/fuzz/$$name.dict ] && echo -dict=$(CURDIR)/tests/fuzz/$$name.dict ) \
			corpus-$$name $$( [ -d $(CURDIR)/tests/fuzz/corpus ] && echo $(CURDIR)/tests/fuzz/corpus ) \
		) || exit 1; \
	done

# ---- install ----
install: build
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include/gcs \
		$(DESTDIR)$(PREFIX)/include/lcow $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/libexec/lcow
	install -m 0644 $(PROTO_LIB) $(GCS_LIB) $(RT_LIB) $(DESTDIR)$(PREFIX)/lib/
	install -m 0755 $(GCS_SO) $(DESTDIR)$(PREFIX)/lib/libgcs.so.0
	ln -sf libgcs.so.0 $(DESTDIR)$(PREFIX)/lib/libgcs.so
	$(call write_pc,$(DESTDIR)$(PREFIX)/lib/pkgconfig/gcs.pc)
	install -m 0644 protocol/include/gcs/*.h $(DESTDIR)$(PREFIX)/include/gcs/
	install -m 0644 host/include/lcow/*.h $(DESTDIR)$(PREFIX)/include/lcow/
	install -m 0755 $(GCSCTL) $(LCOW) $(VSOCK) $(SHIM) $(DESTDIR)$(PREFIX)/bin/
	install -m 0755 $(AGENT) $(INIT) $(DESTDIR)$(PREFIX)/libexec/lcow/

# ---- formatting ----
FMT_FILES = $(shell git ls-files '*.c' '*.h' 2>/dev/null || find . -name '*.[ch]' -not -path './build/*')

fmt:
	$(CLANG_FORMAT) -i $(FMT_FILES)

fmt-check:
	@$(CLANG_FORMAT) --dry-run --Werror $(FMT_FILES) && echo "fmt-check: clean"

# ---- the utility VM image ----
# Offline: the kernel package comes from the cache `make deps` fills.
.PHONY: initrd
initrd:
	@$(MAKE) --no-print-directory SANITIZE= build/default/gcs build/default/init
	BUILD=build/default WITH_RUNC=$(WITH_RUNC) initrd/build.sh

# A busybox container in a utility VM through lcow create/start/delete (demo/demo.sh), which
# builds only what it runs. QEMU when it is installed (a QEMU failure fails the demo), else
# process mode, said so.
demo: deps
	@BUILD=build/default MAKE="$(MAKE)" demo/demo.sh

clean:
	rm -rf build

distclean: clean
	rm -rf .cache

-include $(shell find build -name '*.d' 2>/dev/null)
