# Declared layers: which Osprey libraries each library, app, bench and unit test uses.
#
# Every library (lib/<name> -> libosp_<name>.a, drivers/<type>/<name> ->
# libosp_<type>_<name>.a) lists in DEPDIRS-<name> the libraries whose functions or
# data it uses DIRECTLY (not through another library). A program links the closure
# of what it declares (the libraries named and, recursively, their DEPDIRS), each
# library whole (its constructors register RPCs, subsystems and bdev/sock modules),
# dependents before dependencies. Nothing else is linked, so a library that calls
# into one it did not declare fails to link; `make check-deps` says which symbol.
#
# To add a library:
#   1. create lib/<name>/ (or drivers/<type>/<name>/); the Makefile finds it;
#   2. add DEPDIRS-<name> below, naming what it uses (an empty list is a declaration;
#      a library without one stops the build);
#   3. add it to the APP_LIBS-<app> / BENCH_LIBS-<bench> of the programs that need it
#      (a module registered by constructor is reached by nothing else);
#   4. run `make check-deps`: every undefined symbol of the archive must be defined
#      inside its closure or by a system library, and the layers must not loop.
# Unit tests (test/unit/lib/<lib>/<x>_ut.c for lib/<lib>, test/unit/drivers/<type>/
# <name>/<x>_ut.c for drivers/<type>/<name>, test/unit/app/common/<x>_ut.c for tool) #include the sources they test and link
# the closure of DEPDIRS-<lib> without <lib> itself, plus test/common.

# ---- libraries ----
# The base: no Osprey dependencies.
DEPDIRS-util :=
DEPDIRS-log :=
DEPDIRS-env_dpdk :=

DEPDIRS-thread := env_dpdk log util
DEPDIRS-json := util
DEPDIRS-jsonrpc := env_dpdk json log thread
DEPDIRS-rpc := env_dpdk json jsonrpc log thread
DEPDIRS-event := env_dpdk json jsonrpc log rpc thread util

# Sockets: lib/sock carries the "sock" subsystem and its RPCs (sock_rpc.c), hence
# event and rpc; an implementation (drivers/sock/*) registers itself by constructor.
DEPDIRS-sock := event json jsonrpc log rpc util
DEPDIRS-sock_posix := log sock thread util

# NVMe/TCP PDU codec, the NVMe host driver over it, and the NVMe-oF target.
DEPDIRS-nvme_tcp_codec := util
# The PCIe transport (pcie.c) takes DMA memory and PCI devices from env_dpdk; the
# RDMA transport (rdma.c) looks payloads up in lib/rdma's memory map.
DEPDIRS-nvme := env_dpdk log nvme_tcp_codec $(if $(filter y,$(CONFIG_RDMA)),rdma) sock util
# RDMA common code (lib/rdma: the memory map of the env's DMA memory per
# protection domain), for the NVMe-oF RDMA target and the NVMe RDMA host.
DEPDIRS-rdma := env_dpdk log
DEPDIRS-bdev := env_dpdk event json jsonrpc log rpc thread util
# SCSI devices over bdevs (transport independent: iSCSI now, vhost-scsi next).
DEPDIRS-scsi := bdev log thread util
# The iSCSI target: over the SCSI layer (LUNs on bdevs) and sock groups; its
# "iscsi" subsystem, RPCs and save_config live in it (lib/iscsi/iscsi_rpc.c);
# the login text keys and CHAP (param.c, chap.c) use util (MD5).
DEPDIRS-iscsi := env_dpdk event json jsonrpc log rpc scsi sock thread util
# vhost: the virtqueue layer (vring.c, mem.c: split/packed rings over a guest
# memory table, pure C), and the vhost target over rte_vhost (vhost.c: the
# controller common to every back end; vhost_blk*.c: virtio-blk; vhost_scsi*.c:
# virtio-scsi over lib/scsi; vhost_rpc.c).
DEPDIRS-vhost := bdev event json jsonrpc log rpc scsi thread util
# rdma: the RDMA transport (lib/nvmf/rdma.c), in builds with rdma-core (CONFIG_RDMA).
DEPDIRS-nvmf := bdev env_dpdk event json jsonrpc log nvme_tcp_codec $(if $(filter y,$(CONFIG_RDMA)),rdma) rpc sock thread util

# bdev modules. bdev_file is the helper the file-backed modules (aio, uring) share.
DEPDIRS-bdev_file := bdev json jsonrpc log rpc thread util
DEPDIRS-bdev_aio := bdev bdev_file env_dpdk json log rpc thread
DEPDIRS-bdev_uring := bdev bdev_file json log rpc thread
DEPDIRS-bdev_malloc := bdev env_dpdk json jsonrpc log rpc thread util
DEPDIRS-bdev_null := bdev env_dpdk json jsonrpc log rpc thread util
DEPDIRS-bdev_nvme := bdev json jsonrpc log nvme rpc thread util
DEPDIRS-bdev_delay := bdev env_dpdk json jsonrpc log rpc thread util
DEPDIRS-bdev_error := bdev json jsonrpc log rpc thread util
DEPDIRS-bdev_passthru := bdev json jsonrpc log rpc thread util
DEPDIRS-bdev_split := bdev json jsonrpc log rpc thread util
# The vhost-user front end (driver side of virtio) and virtio-blk bdevs over it.
DEPDIRS-virtio :=
DEPDIRS-bdev_virtio := bdev json jsonrpc log rpc thread util virtio

# The tools' shared code (app/common -> libosp_tool.a: RNG, verify pattern, latency
# histogram, initiator options), linked plain into the tools that declare it.
# env_dpdk: the env is started (DMA memory, PCI) when a tool is given a PCIe controller.
DEPDIRS-tool := env_dpdk nvme util

# Groups: every bdev module a daemon can be asked to create (bdev_file is only a
# helper, reached through aio and uring) and every socket implementation.
BDEV_MODULES := $(filter-out bdev_file,$(filter bdev_%,$(DRIVER_NAMES)))
SOCK_MODULES := $(filter sock_%,$(DRIVER_NAMES))

# ---- apps (app/<name>) ----
# osprey_tgt is the daemon with everything: every library in the tree, so the next
# targets (iSCSI, vhost) join it as they land. nvmf_tgt serves NVMe-oF over the
# bdev modules and sockets; it does not grow when another target is added.
APP_LIBS-osprey_tgt := $(ALL_LIBS)
APP_LIBS-nvmf_tgt := event nvmf $(BDEV_MODULES) $(SOCK_MODULES)
# iscsi_tgt serves iSCSI over the SCSI layer, the bdev modules and sockets.
APP_LIBS-iscsi_tgt := event iscsi $(BDEV_MODULES) $(SOCK_MODULES)
# vhost serves vhost-user-blk controllers over the bdev modules (SPDK's vhost app).
APP_LIBS-vhost := event vhost $(BDEV_MODULES) $(SOCK_MODULES)
APP_LIBS-bdevperf := tool event bdev $(BDEV_MODULES) $(SOCK_MODULES)
# The NVMe/TCP host tools: the host driver and a socket implementation, no target.
APP_LIBS-nvme_identify := tool nvme $(SOCK_MODULES)
APP_LIBS-nvme_perf := tool nvme $(SOCK_MODULES)

# ---- benches (bench/<name>) ----
BENCH_LIBS-thread_msg := tool event thread env_dpdk util
# nvme_pcie compiles lib/nvme's sources with the unit test's simulated PCIe
# controller (renamed PCI functions), so it links lib/nvme's dependencies, not lib/nvme.
BENCH_LIBS-nvme_pcie := env_dpdk log nvme_tcp_codec sock util

# ---- test programs (TEST_PROGS in the Makefile) ----
# pci_probe: the env's PCI layer on NVMe controllers (test/nvme/test_pcie_guest.sh).
TEST_PROG_LIBS-pci_probe := env_dpdk
# rpc_uds: one JSON-RPC call over a Unix socket (guests without python).
TEST_PROG_LIBS-rpc_uds :=
# uring_perf: io_uring on the guest kernel's nvme driver (bench/nvme_pcie/run_guest.sh).
TEST_PROG_LIBS-uring_perf :=

# ---- unit tests ----
# UT_LIBS-<test>: libraries a test links as archives beyond its library's declared
# dependencies, each with the reason. A test that drives its library through the
# archive instead of #including its sources names the library itself here.
# env_dpdk's sources need DPDK's compiler flags: its test links the archive.
UT_LIBS-env_dpdk/env_ut := env_dpdk
UT_LIBS-env_dpdk/pci_ut := env_dpdk
# uring_ut drives the uring module through its public API (the archive).
UT_LIBS-drivers/bdev/uring/uring_ut := bdev_uring
# The bdev module tests (test/unit/drivers/bdev) drive each module through the bdev API over a malloc base.
UT_LIBS-drivers/bdev/malloc/malloc_ut := bdev_malloc
UT_LIBS-drivers/bdev/null/null_ut := bdev_null
UT_LIBS-drivers/bdev/delay/delay_ut := bdev_delay bdev_malloc
UT_LIBS-drivers/bdev/error/error_ut := bdev_error bdev_malloc
UT_LIBS-drivers/bdev/passthru/passthru_ut := bdev_passthru bdev_malloc
UT_LIBS-drivers/bdev/split/split_ut := bdev_split bdev_malloc
# vbdev_ut tests lib/bdev's virtual-bdev helpers through passthru over malloc.
UT_LIBS-bdev/vbdev_ut := bdev bdev_passthru bdev_malloc
# The NVMe host and NVMe/TCP target tests run over real loopback sockets and count
# the posix implementation's sendmsg calls (g_osp_sock_posix_sendmsg_calls).
UT_LIBS-nvme/nvme_ut := sock_posix
UT_LIBS-nvme/nvme_ctrlr_ut := sock_posix
UT_LIBS-nvme/tcp_ut := sock_posix
UT_LIBS-nvmf/tcp_ut := sock_posix
# The target's controller and namespace tests serve RAM disks (and error injection
# for DSM failures) through the real bdev layer.
UT_LIBS-nvmf/ctrlr_ut := bdev_malloc
UT_LIBS-nvmf/nvmf_ut := bdev_malloc
UT_LIBS-nvmf/ctrlr_bdev_ut := bdev_malloc bdev_error
# The SCSI tests run commands against RAM disks (and error injection) through the real bdev layer.
UT_LIBS-scsi/spc_ut := bdev_malloc bdev_error
UT_LIBS-scsi/sbc_ut := bdev_malloc bdev_error
UT_LIBS-scsi/itn_ut := bdev_malloc bdev_error
UT_LIBS-scsi/pr_ut := bdev_malloc bdev_error
# The vhost-scsi back end runs on the real lib/scsi over RAM disks.
UT_LIBS-vhost/vhost_scsi_ut := bdev_malloc
# The iSCSI target test runs over real loopback sockets with a fake SCSI layer
# of its own (it defines the osp_scsi_* functions, so lib/scsi is not pulled in).
UT_LIBS-iscsi/conn_ut := sock_posix
