# Osprey top-level Makefile.
#   make            build libraries (build/lib/libosp_<name>.a) and apps (build/bin/)
#   make check      install packages, build, run every test (what CI runs)
#   make run        install packages, build, start osprey_tgt with a default config
#   make unittest   build and run the unit tests only
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

# Libraries in dependency order (lowest first). drivers/<type>/<name> become <type>_<name>.
LIB_NAMES := util log env_dpdk thread json jsonrpc rpc event
DRIVER_DIRS := $(sort $(patsubst %/,%,$(dir $(wildcard drivers/*/*/*.c))))
# Without liburing the uring module still builds and refuses to create bdevs.
ifneq ($(CONFIG_URING),y)
URING_LIBS :=
endif
DRIVER_NAMES := $(subst /,_,$(patsubst drivers/%,%,$(DRIVER_DIRS)))
# Upper layers that exist in the tree, added after event in order.
EXTRA_LIBS := $(sort $(filter-out $(LIB_NAMES),$(notdir $(patsubst %/,%,$(dir $(wildcard lib/*/*.c))))))
ALL_LIBS := $(LIB_NAMES) $(EXTRA_LIBS) $(DRIVER_NAMES)
# app/common is not an app: what the tools share (see app/common/osp_tool.h).
APPS := $(filter-out common,$(notdir $(patsubst %/,%,$(dir $(wildcard app/*/*.c)))))

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
CFLAGS_env_dpdk := $(DPDK_CFLAGS) -DALLOW_EXPERIMENTAL_API -Wno-shadow=local

DPDK_LIBS := -Wl,--whole-archive -l:librte_mempool_ring.a -l:librte_bus_vdev.a \
	-l:librte_bus_pci.a -Wl,--no-whole-archive -l:librte_pci.a -l:librte_mempool.a \
	-l:librte_ring.a -l:librte_eal.a -l:librte_kvargs.a -l:librte_telemetry.a \
	-lbsd -lnuma
SYS_LIBS := $(DPDK_LIBS) $(CJSON_LIBS) -laio $(URING_LIBS) $(RDMA_LIBS) -lpthread -ldl -lm -lrt
LDFLAGS_COMMON := $(SAN_FLAGS) $(EXTRA_LDFLAGS) $(LDFLAGS)

lib_src = $(if $(filter $(1),$(DRIVER_NAMES)),$(wildcard drivers/$(subst _,/,$(word 1,$(subst _, ,$(1))))/$(patsubst $(word 1,$(subst _, ,$(1)))_%,%,$(1))/*.c),$(wildcard lib/$(1)/*.c))
lib_obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(call lib_src,$(1)))
LIB_FILES := $(foreach l,$(ALL_LIBS),$(BUILD)/lib/libosp_$(l).a)

.PHONY: uninstall all libs apps unittest unittest-bins print-unittests benches check run install clean distclean e2e bench
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

LINK_OSP_WHOLE := -L$(BUILD)/lib -Wl,--whole-archive $(foreach l,$(ALL_LIBS),-losp_$(l)) -Wl,--no-whole-archive

# The tools' shared code (app/common): an archive linked into the apps and benches only
# (not whole: a daemon that uses none of it carries none), neither installed nor in ALL_LIBS.
TOOL_LIB := $(BUILD)/lib/libosp_tool.a
$(TOOL_LIB): $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard app/common/*.c))
	@mkdir -p $(dir $@)
	@rm -f $@
	@echo "  AR $@"
	@ar rcs $@ $^
$(BUILD)/obj/app/%.o $(BUILD)/obj/bench/%.o: EXTRA_OBJ_CFLAGS := -I$(TOP)/app/common

define APP_RULE
$(BUILD)/bin/$(1): $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard app/$(1)/*.c)) $(TOOL_LIB) $(LIB_FILES)
	@mkdir -p $$(dir $$@)
	$(CC) $(LDFLAGS_COMMON) -o $$@ $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard app/$(1)/*.c)) $(TOOL_LIB) $(LINK_OSP_WHOLE) $(SYS_LIBS)
endef
$(foreach a,$(APPS),$(eval $(call APP_RULE,$(a))))
apps: libs $(foreach a,$(APPS),$(BUILD)/bin/$(a)) benches

# Benchmark programs: bench/<name>/*.c -> build/bench/<name>, linked like apps.
BENCHES := $(notdir $(patsubst %/,%,$(dir $(wildcard bench/*/*.c))))
define BENCH_RULE
$(BUILD)/bench/$(1): $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard bench/$(1)/*.c)) $(TOOL_LIB) $(LIB_FILES)
	@mkdir -p $$(dir $$@)
	$(CC) $(LDFLAGS_COMMON) -o $$@ $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard bench/$(1)/*.c)) $(TOOL_LIB) $(LINK_OSP_WHOLE) $(SYS_LIBS)
endef
$(foreach b,$(BENCHES),$(eval $(call BENCH_RULE,$(b))))
benches: $(foreach b,$(BENCHES),$(BUILD)/bench/$(b))

# Unit tests: test/unit/lib/<lib>/<file>_ut.c links every library except <lib>
# (the test #includes the .c files it exercises) plus test/common helpers.
UT_SRCS := $(wildcard test/unit/lib/*/*_ut.c)
UT_COMMON := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard test/common/*.c))
UT_BINS := $(patsubst test/unit/lib/%.c,$(BUILD)/test/unit/%,$(UT_SRCS))
# test/unit/app/common/<file>_ut.c: the tools' shared code (the test #includes its .c).
UT_TOOL_BINS := $(patsubst test/unit/%.c,$(BUILD)/test/unit/%,$(wildcard test/unit/app/common/*_ut.c))
# env_dpdk's sources need DPDK's flags: its test links the library instead.
UT_KEEP_OWN := env_dpdk
ut_lib = $(filter-out $(UT_KEEP_OWN),$(word 1,$(subst /, ,$(patsubst $(BUILD)/test/unit/%,%,$(1)))))
$(BUILD)/test/unit/%: $(BUILD)/obj/test/unit/lib/%.o $(UT_COMMON) $(LIB_FILES)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_COMMON) -o $@ $< $(UT_COMMON) -L$(BUILD)/lib -Wl,--start-group \
		$(foreach l,$(filter-out $(call ut_lib,$@),$(ALL_LIBS)),-losp_$(l)) -Wl,--end-group \
		$(CUNIT_LIBS) $(SYS_LIBS)
$(UT_TOOL_BINS): $(BUILD)/test/unit/%: $(BUILD)/obj/test/unit/%.o $(UT_COMMON) $(LIB_FILES)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_COMMON) -o $@ $< $(UT_COMMON) -L$(BUILD)/lib -Wl,--start-group \
		$(foreach l,$(ALL_LIBS),-losp_$(l)) -Wl,--end-group $(CUNIT_LIBS) $(SYS_LIBS)
$(BUILD)/obj/test/%.o: EXTRA_OBJ_CFLAGS := -I$(TOP)/test/common -I$(TOP)/lib -I$(TOP)/app \
	-I$(TOP)/app/common -Wno-missing-prototypes

ifeq ($(CONFIG_UNIT_TESTS),n)
unittest-bins unittest:
	@echo "unit tests are off: ./configure found no CUnit (apt-get install libcunit1-dev, then ./configure)"
	@exit 1
else
unittest-bins: $(UT_BINS) $(UT_TOOL_BINS)
unittest: $(UT_BINS) $(UT_TOOL_BINS)
	@test/unit/run.sh $(UT_BINS) $(UT_TOOL_BINS)
endif
print-unittests:
	@echo $(UT_BINS) $(UT_TOOL_BINS)

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
		-e 's|@LIBS@|$(foreach l,$(ALL_LIBS),-losp_$(l))|g' \
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
