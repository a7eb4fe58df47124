# Osprey top-level Makefile.
#   make            build libraries (build/lib/libosp_<name>.a) and apps (build/bin/)
#   make check      install packages, build, run every test (what CI runs)
#   make run        install packages, build, start osprey_tgt with a default config
#   make unittest   build and run the unit tests only
#   make check-deps build everything with its declared libraries (mk/deps.mk), check them with nm
#   make install    install binaries, headers, libraries, osprey.pc and rpc.py under PREFIX
#   make uninstall  remove what make install put there
# CFLAGS, CPPFLAGS and LDFLAGS from the command line or environment are added
# after Osprey's own; PREFIX, BINDIR, LIBDIR, INCLUDEDIR, DATADIR and DESTDIR
# place the installed files.

TOP := $(CURDIR)
-include $(TOP)/mk/config.mk

BUILD ?= build
PREFIX ?= $(CONFIG_PREFIX)
ifeq ($(PREFIX),)
PREFIX := /usr/local
endif
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(if $(CONFIG_LIBDIR),$(CONFIG_LIBDIR),$(PREFIX)/lib)
INCLUDEDIR ?= $(PREFIX)/include
DATADIR ?= $(PREFIX)/share

CC ?= cc
ifeq ($(CC),cc)
CC := gcc
endif

# Libraries (the base ones named; link order comes from mk/deps.mk). drivers/<type>/<name>
# become <type>_<name>.
LIB_NAMES := util log env_dpdk thread json jsonrpc rpc event
DRIVER_DIRS := $(sort $(patsubst %/,%,$(dir $(wildcard drivers/*/*/*.c))))
# Without liburing the uring module still builds and refuses to create bdevs.
ifneq ($(CONFIG_URING),y)
URING_LIBS :=
endif
DRIVER_NAMES := $(subst /,_,$(patsubst drivers/%,%,$(DRIVER_DIRS)))
# Upper layers that exist in the tree, added after event in order.
EXTRA_LIBS := $(sort $(filter-out $(LIB_NAMES),$(notdir $(patsubst %/,%,$(dir $(wildcard lib/*/*.c))))))
# Without rdma-core (./configure found no libibverbs/librdmacm, or --without-rdma):
# lib/rdma, every lib/*/rdma.c transport and their unit tests are left out, so
# nvmf_create_transport -t rdma answers that RDMA is not in this build.
ifneq ($(CONFIG_RDMA),y)
NO_RDMA_SRCS := $(wildcard lib/rdma/*.c lib/*/rdma.c test/unit/lib/rdma/*_ut.c test/unit/lib/*/rdma_ut.c)
EXTRA_LIBS := $(filter-out rdma,$(EXTRA_LIBS))
endif
ALL_LIBS := $(LIB_NAMES) $(EXTRA_LIBS) $(DRIVER_NAMES)
# app/common is not an app: what the tools share (see app/common/osp_tool.h).
APPS := $(filter-out common,$(notdir $(patsubst %/,%,$(dir $(wildcard app/*/*.c)))))

# Declared layers (mk/deps.mk): what each library, app, bench and unit test uses.
# PLAIN_LIBS are in the graph but linked as plain archives and not installed: tool
# (app/common, libosp_tool.a), the tools' shared code.
PLAIN_LIBS := $(if $(wildcard app/common/*.c),tool)
GRAPH_LIBS := $(ALL_LIBS) $(PLAIN_LIBS)
include $(TOP)/mk/deps.mk
$(foreach l,$(GRAPH_LIBS),$(if $(filter undefined,$(origin DEPDIRS-$(l))),\
	$(error library $(l) has no DEPDIRS-$(l) in mk/deps.mk: declare what it uses)))
$(foreach a,$(APPS),$(if $(filter undefined,$(origin APP_LIBS-$(a))),\
	$(error app $(a) has no APP_LIBS-$(a) in mk/deps.mk: declare the libraries it links)))
$(foreach v,$(filter DEPDIRS-% APP_LIBS-% BENCH_LIBS-% UT_LIBS-% UT_LIB-%,$(.VARIABLES)),\
	$(foreach d,$($(v)),$(if $(filter $(d),$(GRAPH_LIBS)),,\
	$(error $(v) in mk/deps.mk names $(d), which is no library (lib/*, drivers/*/*, tool)))))
# Every library, each before all the libraries it declares (tsort of DEPDIRS).
DEPDIRS_PAIRS := $(foreach l,$(GRAPH_LIBS),$(l) $(l) $(foreach d,$(DEPDIRS-$(l)),$(l) $(d)))
LIB_LOOP := $(shell printf '%s %s\n' $(DEPDIRS_PAIRS) | tsort 2>&1 >/dev/null)
ifneq ($(LIB_LOOP),)
$(error the DEPDIRS in mk/deps.mk loop ($(LIB_LOOP)))
endif
LIB_ORDER := $(shell printf '%s %s\n' $(DEPDIRS_PAIRS) | tsort)
# CLOSURE-<lib>: the library and everything it declares, recursively (computed once,
# dependencies first); deps_closure(libs): the union for a list.
reverse = $(if $(1),$(call reverse,$(wordlist 2,$(words $(1)),$(1))) $(firstword $(1)))
$(foreach l,$(call reverse,$(LIB_ORDER)),\
	$(eval CLOSURE-$(l) := $(sort $(l) $(foreach d,$(DEPDIRS-$(l)),$(CLOSURE-$(d))))))
deps_closure = $(sort $(foreach l,$(1),$(CLOSURE-$(l))))
# link_order(libs): the closure of libs, dependents first.
link_order = $(filter $(call deps_closure,$(1)),$(LIB_ORDER))
lib_files = $(foreach l,$(call link_order,$(1)),$(BUILD)/lib/libosp_$(l).a)
# link_whole(libs): the closure and nothing else, so an undeclared dependency is a
# link error. Each library whole (constructors register RPCs, subsystems and
# modules that nothing references), except PLAIN_LIBS and what is reached only
# through them: those are plain archives ahead of the rest (only what is used).
whole_libs = $(filter-out $(PLAIN_LIBS),$(call link_order,$(filter-out $(PLAIN_LIBS),$(1))))
plain_libs = $(filter-out $(call whole_libs,$(1)),$(call link_order,$(1)))
link_whole = -L$(BUILD)/lib $(foreach l,$(call plain_libs,$(1)),-losp_$(l)) \
	-Wl,--whole-archive $(foreach l,$(call whole_libs,$(1)),-losp_$(l)) -Wl,--no-whole-archive

OPT := -O2
ifeq ($(CONFIG_DEBUG),y)
OPT := -O0 -DDEBUG
else
OPT += -DNDEBUG
endif
SAN_FLAGS :=
ifeq ($(CONFIG_ASAN),y)
SAN_FLAGS += -fsanitize=address -fno-omit-frame-pointer
endif
ifeq ($(CONFIG_UBSAN),y)
SAN_FLAGS += -fsanitize=undefined -fno-sanitize-recover=undefined
endif

WARN := -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers \
	-Wformat=2 -Wshadow=local -Wmissing-prototypes -Wstrict-prototypes
CFLAGS_COMMON := -std=gnu11 $(OPT) -g $(WARN) -fno-strict-aliasing -D_GNU_SOURCE \
	-msse4.2 -I$(TOP)/include $(CJSON_CFLAGS) $(SAN_FLAGS) \
	-DOSP_VERSION_STRING='"$(CONFIG_VERSION)"' $(EXTRA_CFLAGS)
ifeq ($(CONFIG_URING),y)
CFLAGS_COMMON += -DOSP_HAVE_URING
else
CFLAGS_COMMON += -DOSP_NO_URING
endif
# The RDMA transports (lib/nvme/rdma.c, ...) build only with libibverbs/librdmacm.
ifeq ($(CONFIG_RDMA),y)
CFLAGS_COMMON += -DOSP_HAVE_RDMA
endif
CFLAGS_env_dpdk := $(DPDK_CFLAGS) -DALLOW_EXPERIMENTAL_API -Wno-shadow=local
# lib/vhost's rte_vhost glue (vhost.c) includes rte_vhost.h.
CFLAGS_vhost := $(DPDK_CFLAGS) -DALLOW_EXPERIMENTAL_API -Wno-shadow=local

DPDK_LIBS := -Wl,--whole-archive -l:librte_mempool_ring.a -l:librte_bus_vdev.a \
	-l:librte_bus_pci.a -Wl,--no-whole-archive \
	-l:librte_vhost.a -l:librte_cryptodev.a -l:librte_hash.a -l:librte_dmadev.a \
	-l:librte_ethdev.a -l:librte_net.a -l:librte_mbuf.a -l:librte_meter.a -l:librte_rcu.a \
	-l:librte_pci.a -l:librte_mempool.a \
	-l:librte_ring.a -l:librte_eal.a -l:librte_kvargs.a -l:librte_telemetry.a \
	-lbsd -lnuma
SYS_LIBS := $(DPDK_LIBS) $(CJSON_LIBS) -laio $(URING_LIBS) $(RDMA_LIBS) -lpthread -ldl -lm -lrt
LDFLAGS_COMMON := $(SAN_FLAGS) $(EXTRA_LDFLAGS) $(LDFLAGS)

lib_src = $(filter-out $(NO_RDMA_SRCS),$(if $(filter $(1),$(DRIVER_NAMES)),$(wildcard drivers/$(subst _,/,$(word 1,$(subst _, ,$(1))))/$(patsubst $(word 1,$(subst _, ,$(1)))_%,%,$(1))/*.c),$(wildcard lib/$(1)/*.c)))
lib_obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(call lib_src,$(1)))
LIB_FILES := $(foreach l,$(ALL_LIBS),$(BUILD)/lib/libosp_$(l).a)

.PHONY: test-progs uninstall all libs apps unittest unittest-bins print-unittests benches check check-deps run install clean distclean e2e bench
all: apps

$(TOP)/mk/config.mk:
	@echo "mk/config.mk missing: running ./configure"
	./configure

define LIB_RULE
$(BUILD)/lib/libosp_$(1).a: $(call lib_obj,$(1))
	@mkdir -p $$(dir $$@)
	@rm -f $$@
	@echo "  AR $$@"
	@ar rcs $$@ $$^
$(call lib_obj,$(1)): EXTRA_OBJ_CFLAGS := $(CFLAGS_$(1))
endef
$(foreach l,$(ALL_LIBS),$(eval $(call LIB_RULE,$(l))))

$(BUILD)/obj/%.o: %.c $(TOP)/mk/config.mk
	@mkdir -p $(dir $@)
	@echo "  CC $<"
	@$(CC) $(CFLAGS_COMMON) $(EXTRA_OBJ_CFLAGS) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

libs: $(LIB_FILES)

# The tools' shared code (app/common): libosp_tool.a, linked into the tools that
# declare "tool" (mk/deps.mk) as a plain archive (only what they use), not installed.
TOOL_LIB := $(BUILD)/lib/libosp_tool.a
$(TOOL_LIB): $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard app/common/*.c))
	@mkdir -p $(dir $@)
	@rm -f $@
	@echo "  AR $@"
	@ar rcs $@ $^
$(BUILD)/obj/app/%.o $(BUILD)/obj/bench/%.o: EXTRA_OBJ_CFLAGS := -I$(TOP)/app/common

# An app links the closure of APP_LIBS-<app> (mk/deps.mk).
define APP_RULE
$(BUILD)/bin/$(1): $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard app/$(1)/*.c)) $(call lib_files,$(APP_LIBS-$(1)))
	@mkdir -p $$(dir $$@)
	$(CC) $(LDFLAGS_COMMON) -o $$@ $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard app/$(1)/*.c)) $(call link_whole,$(APP_LIBS-$(1))) $(SYS_LIBS)
endef
$(foreach a,$(APPS),$(eval $(call APP_RULE,$(a))))
apps: libs $(foreach a,$(APPS),$(BUILD)/bin/$(a)) benches

# Benchmark programs: bench/<name>/*.c -> build/bench/<name>, linked like apps
# (the closure of BENCH_LIBS-<name>).
BENCHES := $(notdir $(patsubst %/,%,$(dir $(wildcard bench/*/*.c))))
$(foreach b,$(BENCHES),$(if $(filter undefined,$(origin BENCH_LIBS-$(b))),\
	$(error bench $(b) has no BENCH_LIBS-$(b) in mk/deps.mk: declare the libraries it links)))
define BENCH_RULE
$(BUILD)/bench/$(1): $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard bench/$(1)/*.c)) $(call lib_files,$(BENCH_LIBS-$(1)))
	@mkdir -p $$(dir $$@)
	$(CC) $(LDFLAGS_COMMON) -o $$@ $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard bench/$(1)/*.c)) $(call link_whole,$(BENCH_LIBS-$(1))) $(SYS_LIBS)
endef
$(foreach b,$(BENCHES),$(eval $(call BENCH_RULE,$(b))))
benches: $(foreach b,$(BENCHES),$(BUILD)/bench/$(b))

# Test programs that end-to-end tests run (in QEMU guests): test/<area>/<name>.c ->
# build/test/<area>/<name>, linked like apps with the closure of TEST_PROG_LIBS-<name>
# (mk/deps.mk). Built by `make all`.
TEST_PROGS := test/nvme/pci_probe test/nvme/rpc_uds test/nvme/uring_perf
define TEST_PROG_RULE
$(BUILD)/$(1): $(BUILD)/obj/$(1).o $(call lib_files,$(TEST_PROG_LIBS-$(notdir $(1))))
	@mkdir -p $$(dir $$@)
	$(CC) $(LDFLAGS_COMMON) -o $$@ $(BUILD)/obj/$(1).o $(call link_whole,$(TEST_PROG_LIBS-$(notdir $(1)))) $(SYS_LIBS)
endef
$(foreach t,$(TEST_PROGS),$(eval $(call TEST_PROG_RULE,$(t))))
test-progs: $(foreach t,$(TEST_PROGS),$(BUILD)/$(t))
apps: test-progs

# Unit tests. test/unit/lib/<lib>/<x>_ut.c tests lib/<lib> and builds
# build/test/unit/<lib>/<x>_ut; test/unit/drivers/<type>/<name>/<x>_ut.c tests
# drivers/<type>/<name> (library <type>_<name>) and builds build/test/unit/drivers/
# <type>/<name>/<x>_ut; test/unit/app/common/<x>_ut.c tests the tools' library
# (tool) and builds build/test/unit/app/common/<x>_ut. A test #includes the sources it exercises and links, as a
# group of plain archives, the closure of its library's DEPDIRS (not the library,
# nothing above it) plus UT_LIBS-<test> (mk/deps.mk), and test/common.
UT_LIB_SRCS := $(filter-out $(NO_RDMA_SRCS),$(wildcard test/unit/lib/*/*_ut.c))
UT_DRV_SRCS := $(wildcard test/unit/drivers/*/*/*_ut.c)
UT_TOOL_SRCS := $(wildcard test/unit/app/common/*_ut.c)
UT_SRCS := $(UT_LIB_SRCS) $(UT_DRV_SRCS) $(UT_TOOL_SRCS)
UT_COMMON := $(BUILD)/test/libut_common.a
$(UT_COMMON): $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard test/common/*.c))
	@mkdir -p $(dir $@)
	@rm -f $@
	@ar rcs $@ $^
# ut_key(src): the test's name under build/test/unit (and in UT_LIB-/UT_LIBS-).
ut_key = $(patsubst test/unit/lib/%.c,%,$(filter test/unit/lib/%,$(1)))$(patsubst test/unit/%.c,%,$(filter test/unit/drivers/% test/unit/app/%,$(1)))
# ut_lib(key): the library under test (UT_LIB-<key>, or the folder's name).
ut_lib = $(if $(UT_LIB-$(1)),$(UT_LIB-$(1)),$(if $(filter app/common/%,$(1)),tool,$(if $(filter drivers/%,$(1)),$(word 2,$(subst /, ,$(1)))_$(word 3,$(subst /, ,$(1))),$(word 1,$(subst /, ,$(1))))))
ut_libs = $(call link_order,$(filter-out $(call ut_lib,$(1)),$(DEPDIRS-$(call ut_lib,$(1)))) $(UT_LIBS-$(1)))
UT_BINS := $(foreach s,$(UT_SRCS),$(BUILD)/test/unit/$(strip $(call ut_key,$(s))))
define UT_RULE
$(BUILD)/test/unit/$(2): $(BUILD)/obj/$(1:.c=.o) $(UT_COMMON) $(foreach l,$(call ut_libs,$(2)),$(BUILD)/lib/libosp_$(l).a)
	@mkdir -p $$(dir $$@)
	$(CC) $(LDFLAGS_COMMON) -o $$@ $$< -L$(BUILD)/lib -Wl,--start-group $(UT_COMMON) \
		$(foreach l,$(call ut_libs,$(2)),-losp_$(l)) -Wl,--end-group $(CUNIT_LIBS) $(SYS_LIBS)
endef
$(foreach s,$(UT_SRCS),$(eval $(call UT_RULE,$(s),$(strip $(call ut_key,$(s))))))
$(BUILD)/obj/test/%.o: EXTRA_OBJ_CFLAGS := -I$(TOP)/test/common -I$(TOP)/lib -I$(TOP)/app \
	-I$(TOP)/app/common -Wno-missing-prototypes

# check-deps: build every program with its declared closure (a library that uses an
# undeclared one fails to link there), then check each library's undefined symbols
# against its declared closure with nm (mk/check_deps.sh names library and symbol).
check-deps: all $(if $(filter n,$(CONFIG_UNIT_TESTS)),,unittest-bins)
	@mk/check_deps.sh $(BUILD)/lib $(foreach l,$(GRAPH_LIBS),'$(l)=$(call deps_closure,$(DEPDIRS-$(l)))')

ifeq ($(CONFIG_UNIT_TESTS),n)
unittest-bins unittest:
	@echo "unit tests are off: ./configure found no CUnit (apt-get install libcunit1-dev, then ./configure)"
	@exit 1
else
unittest-bins: $(UT_BINS)
unittest: $(UT_BINS)
	@test/unit/run.sh $(UT_BINS)
endif
print-unittests:
	@echo $(UT_BINS)

check:
	scripts/pkgdep.sh
	@[ -f mk/config.mk ] || ./configure
	$(MAKE) all
	test/run_all.sh

run:
	scripts/pkgdep.sh
	@[ -f mk/config.mk ] || ./configure
	$(MAKE) all
	scripts/run_default.sh

# Installed layout: binaries in BINDIR, libosp_*.a and pkgconfig/osprey.pc in
# LIBDIR, public headers in INCLUDEDIR/osprey, rpc.py with its package in
# DATADIR/osprey/scripts behind a BINDIR/osprey-rpc.py launcher.
PC_REQUIRES_PRIVATE := libcjson $(if $(URING_LIBS),liburing) $(if $(RDMA_LIBS),libibverbs librdmacm)
PC_LIBS_PRIVATE := $(DPDK_LIBS) -laio -lpthread -ldl -lm -lrt
RPC_PY_FILES := $(wildcard scripts/rpc/*.py)
install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)/osprey \
		$(DESTDIR)$(DATADIR)/osprey/scripts/rpc
	install -m 0755 $(foreach a,$(APPS),$(BUILD)/bin/$(a)) $(DESTDIR)$(BINDIR)/
	install -m 0644 $(LIB_FILES) $(DESTDIR)$(LIBDIR)/
	install -m 0644 include/osprey/*.h $(DESTDIR)$(INCLUDEDIR)/osprey/
	install -m 0755 scripts/rpc.py scripts/bdevperf.py $(DESTDIR)$(DATADIR)/osprey/scripts/
	install -m 0644 $(RPC_PY_FILES) $(DESTDIR)$(DATADIR)/osprey/scripts/rpc/
	printf '#!/bin/sh\nexec python3 %s "$$@"\n' '$(DATADIR)/osprey/scripts/rpc.py' \
		> $(DESTDIR)$(BINDIR)/osprey-rpc.py
	chmod 0755 $(DESTDIR)$(BINDIR)/osprey-rpc.py
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
		-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(CONFIG_VERSION)|g' \
		-e 's|@LIBS@|$(foreach l,$(filter $(ALL_LIBS),$(LIB_ORDER)),-losp_$(l))|g' \
		-e 's|@REQUIRES_PRIVATE@|$(strip $(PC_REQUIRES_PRIVATE))|g' \
		-e 's|@LIBS_PRIVATE@|$(PC_LIBS_PRIVATE)|g' \
		mk/osprey.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/osprey.pc

uninstall:
	rm -f $(foreach a,$(APPS),$(DESTDIR)$(BINDIR)/$(a)) $(DESTDIR)$(BINDIR)/osprey-rpc.py
	rm -f $(foreach l,$(ALL_LIBS),$(DESTDIR)$(LIBDIR)/libosp_$(l).a) \
		$(DESTDIR)$(LIBDIR)/pkgconfig/osprey.pc
	rm -rf $(DESTDIR)$(INCLUDEDIR)/osprey $(DESTDIR)$(DATADIR)/osprey

clean:
	rm -rf $(BUILD)

distclean: clean
	rm -f mk/config.mk

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
