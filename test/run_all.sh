#!/usr/bin/env bash
# Run every test: unit tests (plain and under ASan+UBSan), then the
# end-to-end suites (test/<area>/test_*.sh). Prints "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
JOBS=${JOBS:-2}
# Build and fuzz logs of this run, in a directory of its own so that two runs
# on one machine do not write each other's logs.
LOGS=$(mktemp -d /tmp/osp_run_all.XXXXXX)
pass=0
fail=0
failed=()

record() { # record <name> <rc>
	if [ "$2" -eq 0 ]; then
		pass=$((pass + 1)); echo "PASS $1"
	else
		fail=$((fail + 1)); failed+=("$1"); echo "FAIL $1"
	fi
}

run_units() { # run_units <build dir> <label> [make vars...]
	local build=$1 label=$2
	shift 2
	if ! make -s -j"$JOBS" BUILD="$build" "$@" unittest-bins >"$LOGS/build_$label.log" 2>&1; then
		cat "$LOGS/build_$label.log"
		record "build $label" 1
		return
	fi
	local t log
	for t in $(make -s BUILD="$build" "$@" print-unittests); do
		log=$(mktemp)
		if timeout 300 "$t" >"$log" 2>&1; then
			record "$label $(basename "$t")" 0
		else
			record "$label $(basename "$t")" 1
			tail -50 "$log" | sed 's/^/    | /'
		fi
		rm -f "$log"
	done
}

echo "== unit tests"
run_units build unit
echo "== unit tests under ASan+UBSan"
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
	run_units build/san unit-san CONFIG_ASAN=y CONFIG_UBSAN=y

echo "== daemons under ASan+UBSan: framework end-to-end, NVMe/TCP and iSCSI protocols and bad input, nvme_perf's SPDK options, libiscsi conformance, vhost-user-blk (its interrupt mode, a hostile front end) and -scsi"
if make -s -j"$JOBS" BUILD=build/san CONFIG_ASAN=y CONFIG_UBSAN=y apps >"$LOGS/build_san_apps.log" 2>&1; then
	for t in test/app/framework_e2e.py test/nvmf/test_nvmf_tcp_proto.py \
		test/nvmf/test_nvme_perf_opts.py \
		test/iscsi/proto/test_iscsi_proto.py test/iscsi/test_iscsi_hotplug.py \
		test/iscsi/libiscsi/run_libiscsi.py test/vhost/test_vhost_blk.py \
		test/vhost/test_vhost_scsi.py test/vhost/test_vhost_scsi_bdev.py \
		test/vhost/test_vhost_idle.py test/vhost/test_vhost_hotplug.py \
		test/vhost/test_vhost_restart.py test/vhost/test_vhost_hostile.py \
		test/vhost/test_vhost_partial.py; do
		log=$(mktemp)
		if ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 OSPREY_BIN_DIR=build/san/bin \
			timeout 600 python3 "$t" >"$log" 2>&1; then
			record "san $t" 0
		else
			record "san $t" 1
			# A sanitizer report's head (what and where) first, then the end.
			grep -m1 -A40 -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$log" | sed 's/^/    | /'
			tail -60 "$log" | sed 's/^/    | /'
		fi
		rm -f "$log"
	done
	# NVMe-oF RDMA black box against the ASan nvmf_tgt in a soft-RoCE guest
	# (skips with the reason while nvmf_tgt has no RDMA transport).
	log=$(mktemp)
	# (the client itself is the plain build: only the target is under test)
	if OSPREY_BIN_DIR=build/san/bin OSPREY_RDMA_BB=build/test/nvmf/rdma/blackbox/nvmf_rdma_bb \
		timeout 900 bash test/nvmf/rdma/test_rdma_blackbox.sh >"$log" 2>&1; then
		record "san test/nvmf/rdma/test_rdma_blackbox.sh$(grep -qE 'blackbox: (osprey: )?SKIP' "$log" && echo ' (SKIP)')" 0
	else
		record "san test/nvmf/rdma/test_rdma_blackbox.sh" 1
		grep -m1 -A40 -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$log" | sed 's/^/    | /'
		tail -60 "$log" | sed 's/^/    | /'
	fi
	rm -f "$log"
else
	cat "$LOGS/build_san_apps.log"
	record "build san apps" 1
fi

echo "== fuzz (libFuzzer, ASan+UBSan): NVMe/TCP PDU receiver and target transport, iSCSI PDUs and text keys, virtqueues"
if FUZZ_SECONDS=${FUZZ_SECONDS:-20} bash test/fuzz/run.sh >"$LOGS/fuzz.log" 2>&1; then
	record "fuzz: NVMe/TCP, iSCSI PDU and text, vring harnesses (${FUZZ_SECONDS:-20}s each)" 0
else
	record "fuzz: NVMe/TCP, iSCSI PDU and text, vring harnesses (${FUZZ_SECONDS:-20}s each)" 1
	tail -60 "$LOGS/fuzz.log" | sed 's/^/    | /'
fi

echo "== end-to-end tests"
for t in test/*/test_*.sh test/nvmf/rdma/test_*.sh test/nvmf/kernel_initiator.sh test/iscsi/kernel_initiator.sh test/vhost/vm_vhost.sh; do
	[ -e "$t" ] || continue
	log=$(mktemp)
	start=$(date +%s)
	if timeout 900 bash "$t" >"$log" 2>&1; then
		record "$t ($(( $(date +%s) - start ))s)" 0
	else
		record "$t ($(( $(date +%s) - start ))s)" 1
		tail -60 "$log" | sed 's/^/    | /'
	fi
	rm -f "$log"
done
# Once more with the target on two cores: the kernel's I/O queues then land
# on the other poll group than their controller.
log=$(mktemp)
start=$(date +%s)
if KI_CPUMASK=0x3 timeout 900 bash test/nvmf/kernel_initiator.sh >"$log" 2>&1; then
	record "test/nvmf/kernel_initiator.sh, nvmf_tgt -m 0x3 ($(( $(date +%s) - start ))s)" 0
else
	record "test/nvmf/kernel_initiator.sh, nvmf_tgt -m 0x3 ($(( $(date +%s) - start ))s)" 1
	tail -60 "$log" | sed 's/^/    | /'
fi
rm -f "$log"

# The vhost guest test once more on packed virtqueues (its restart step then
# goes through the packed inflight region) and with SeaBIOS, whose own
# virtio-scsi driver sets up one queue of the vhost-user-scsi disk.
log=$(mktemp)
start=$(date +%s)
if VM_PACKED=1 VM_BIOS= timeout 900 bash test/vhost/vm_vhost.sh >"$log" 2>&1; then
	record "test/vhost/vm_vhost.sh, VM_PACKED=1, SeaBIOS ($(( $(date +%s) - start ))s)" 0
else
	record "test/vhost/vm_vhost.sh, VM_PACKED=1, SeaBIOS ($(( $(date +%s) - start ))s)" 1
	tail -60 "$log" | sed 's/^/    | /'
fi
rm -f "$log"

# The vhost guest test once more with its RAM on hugetlbfs (QEMU's
# memory-backend-file on a hugetlbfs mount, shared with the vhost daemon). The
# test itself never changes the system's huge pages: when run as root, this run
# reserves them for its duration (and mounts hugetlbfs if nothing has it
# mounted), then gives back exactly what it took.
hp_sys=/proc/sys/vm/nr_hugepages
if [ "$(id -u)" = 0 ] && [ -w "$hp_sys" ] && [ "$(awk '/^Hugepagesize:/ {print $2}' /proc/meminfo)" = 2048 ]; then
	log=$(mktemp)
	start=$(date +%s)
	hp_before=$(cat "$hp_sys")
	hp_mnt=
	if ! awk '$3 == "hugetlbfs" {found = 1} END {exit !found}' /proc/mounts; then
		hp_mnt=$(mktemp -d)
		mount -t hugetlbfs -o pagesize=2M none "$hp_mnt" || { rmdir "$hp_mnt"; hp_mnt=; }
	fi
	# 512 MiB of guest RAM = 256 pages, and room for the daemons' own DPDK memory.
	echo $((hp_before + 768)) > "$hp_sys"
	if VM_MEM=hugetlbfs timeout 900 bash test/vhost/vm_vhost.sh >"$log" 2>&1; then
		record "test/vhost/vm_vhost.sh, VM_MEM=hugetlbfs ($(( $(date +%s) - start ))s)$(grep -q 'SKIP (VM_MEM' "$log" && echo " (SKIP: $(grep -o 'SKIP (VM_MEM.*' "$log" | head -1))")" 0
	else
		record "test/vhost/vm_vhost.sh, VM_MEM=hugetlbfs ($(( $(date +%s) - start ))s)" 1
		tail -60 "$log" | sed 's/^/    | /'
	fi
	echo "$hp_before" > "$hp_sys"
	if [ -n "$hp_mnt" ]; then
		umount "$hp_mnt" && rmdir "$hp_mnt"
	fi
	rm -f "$log"
fi

echo
if [ "$fail" -gt 0 ]; then
	echo "failed: ${failed[*]}"
fi
rm -rf "$LOGS"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
