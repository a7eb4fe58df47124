#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Guest side of test/nvme/test_pcie_guest.sh. Runs as /ki/test.sh from init
# (busybox) with /ki/env (parameters), /osprey/bin (Osprey's programs,
# pci_probe, setup.sh). Two QEMU NVMe controllers: C0 (serial osp0, one
# namespace) and C1 (serial osp1, two namespaces); VT-d with iommu=pt so that
# C0 can do DMA with physical addresses (uio) while C1 sits in a VFIO domain.
# Steps:
#   1. the kernel's nvme driver has both (3 namespaces); setup.sh status
#   2. setup.sh config of C0 with DRIVER_OVERRIDE=uio_pci_generic (+ hugepages)
#   3. C1 has a namespace used as swap: config skips it and says why; swapoff;
#      config binds it to vfio-pci (the IOMMU is there: no override needed)
#   4. pci_probe (env PCI layer): both controllers together (IOVA = PA),
#      C1 alone (IOVA = VA in the VFIO container), C1 alone without hugepages;
#      each maps BAR0, checks CAP/VS and bus mastering, and runs an Identify
#      through env DMA memory (serial osp0 / osp1 must come back); C0 alone
#      without hugepages must be refused with a clear message
#   4b/4c. once the tools have the PCIe transport: nvme_identify and nvme_perf
#      -V on both controllers; nvmf_tgt with bdev_nvme on C1 serving the host's
#      nvme_perf -V over NVMe/TCP (hostfwd)
#   5. no DMA fault in the kernel log (QEMU completes a blocked DMA with status 0)
#   6. setup.sh reset: both back on nvme, their namespaces back, and the data
#      the host wrote reads back through the kernel
#   7. both bound again and held by pci_probe -R (with the driver: C0 by
#      pci_probe, C1 by nvme_perf -V under I/O); the host removes them (QMP
#      device_del): the env must report the removals (uio: kernel uevent; vfio:
#      the VFIO request interrupt), pci_probe detach, nvme_perf end without a
#      crash or a hang; both leave sysfs
# Prints OSPREY-STEP lines and one OSPREY-RESULT line.
. /ki/env
export PATH=/osprey/bin:$PATH
# The controllers sit behind PCIe root ports (for hot remove): find them by serial.
C0= C1=
for c in /sys/class/nvme/nvme*; do
	case "$(cat "$c/serial" 2>/dev/null)" in
	osp0*) C0=$(basename "$(readlink "$c/device")") ;;
	osp1*) C1=$(basename "$(readlink "$c/device")") ;;
	esac
done
SETUP=/osprey/bin/setup.sh

up() { cut -d' ' -f1 /proc/uptime; }
step() { echo "OSPREY-STEP $* (t=$(up))"; }
fail() {
	echo "OSPREY-RESULT: FAIL: $*"
	dmesg | grep -iE 'nvme|vfio|uio|dmar|iommu' | tail -25 | sed 's/^/dmesg: /'
	exit 1
}
show() { sed 's/^/  | /' "$1"; }
drv() { basename "$(readlink /sys/bus/pci/devices/$1/driver 2>/dev/null)" 2>/dev/null; }
wait_ns() { # count: wait until that many nvme namespaces exist
	i=0
	while [ "$(ls /sys/block | grep -c '^nvme')" -lt "$1" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	[ "$(ls /sys/block | grep -c '^nvme')" -ge "$1" ]
}

# ---- 1. the kernel has them --------------------------------------------------
wait_ns 3 || fail "the kernel's nvme driver did not bring up 3 namespaces: $(ls /sys/block)"
[ -n "$C0" ] && [ -n "$C1" ] || fail "no controllers with serials osp0 and osp1 ($(cat /sys/class/nvme/*/serial 2>/dev/null | tr '\n' ' '))"
[ "$(drv $C0)" = nvme ] && [ "$(drv $C1)" = nvme ] || fail "controllers not on nvme: $C0 $(drv $C0), $C1 $(drv $C1)"
[ -n "$(ls /sys/kernel/iommu_groups)" ] || fail "no IOMMU groups: is VT-d on (intel_iommu=on)?"
$SETUP status > /tmp/st 2>&1 || { show /tmp/st; fail "setup.sh status failed"; }
show /tmp/st
grep -qE "^NVMe +$C0 +1b36 +0010 .* nvme +nvme[0-9] +nvme[0-9]n1" /tmp/st || fail "status: no row for $C0 on nvme"
grep -qE "^NVMe +$C1 .* nvme +nvme[0-9] +nvme[0-9]n1 nvme[0-9]n2" /tmp/st || fail "status: no row for $C1 with 2 namespaces"
step "kernel: $(ls /sys/block | grep nvme | tr '\n' ' ')on nvme; status OK"

# ---- 2. C0 to uio_pci_generic --------------------------------------------------
PCI_ALLOWED=$C0 DRIVER_OVERRIDE=uio_pci_generic HUGEMEM=$HUGEMEM $SETUP config > /tmp/cf 2>&1 ||
	{ show /tmp/cf; fail "setup.sh config of $C0 (uio) failed"; }
show /tmp/cf
[ "$(drv $C0)" = uio_pci_generic ] || fail "$C0 is on '$(drv $C0)' after config, not uio_pci_generic"
[ "$(drv $C1)" = nvme ] || fail "$C1 moved although not in PCI_ALLOWED"
free=$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages)
[ "$free" -gt 0 ] || fail "no free hugepages after config (HUGEMEM=$HUGEMEM)"
step "config: $C0 on uio_pci_generic, $free free hugepages"

# ---- 3. C1: in use (swap), then to vfio-pci -------------------------------------
ns2=$(ls /sys/bus/pci/devices/$C1/nvme/*/ | grep -E '^nvme[0-9]+n2$' | head -1)
[ -n "$ns2" ] || fail "no second namespace under $C1"
mkswap /dev/$ns2 > /dev/null 2>&1 && swapon /dev/$ns2 || fail "mkswap/swapon /dev/$ns2 failed"
PCI_ALLOWED=$C1 SKIP_HUGE=yes $SETUP config > /tmp/cf 2>&1
show /tmp/cf
grep -q "$C1: skipped: in use by the kernel: $ns2 is used as swap" /tmp/cf || fail "config did not skip $C1 (swap on $ns2)"
[ "$(drv $C1)" = nvme ] || fail "$C1 left nvme while in use"
swapoff /dev/$ns2 || fail "swapoff"
PCI_ALLOWED=$C1 SKIP_HUGE=yes $SETUP config > /tmp/cf 2>&1 || { show /tmp/cf; fail "setup.sh config of $C1 (vfio) failed"; }
show /tmp/cf
[ "$(drv $C1)" = vfio-pci ] || fail "$C1 is on '$(drv $C1)' after config, not vfio-pci"
grp=$(basename "$(readlink /sys/bus/pci/devices/$C1/iommu_group)")
[ -c /dev/vfio/$grp ] || fail "no /dev/vfio/$grp"
$SETUP status > /tmp/st 2>&1
show /tmp/st
grep -qE "^NVMe +$C0 .* uio_pci_generic" /tmp/st && grep -qE "^NVMe +$C1 .* vfio-pci" /tmp/st ||
	fail "status does not show uio_pci_generic / vfio-pci"
step "config: swap on $ns2 kept $C1 on nvme (reason given); then $C1 on vfio-pci (group $grp)"

# ---- 4. the env's PCI layer --------------------------------------------------------
probe() { # label expected-status args...
	label=$1 want=$2
	shift 2
	t0=$(up)
	timeout 60 pci_probe "$@" > /tmp/pp 2>&1
	rc=$?
	show /tmp/pp
	[ $rc -eq "$want" ] || fail "pci_probe $*: exit $rc, expected $want ($label)"
	step "pci_probe $label: exit $rc in $(echo "$t0 $(up)" | awk '{printf "%.2f s", $2 - $1}')"
}
probe "both (IOVA=PA: uio + vfio)" 0 -n 2 -I
grep -q "^pci_probe: $C0 1b36:0010 .*driver uio_pci_generic .*bus master on.*VS 1\." /tmp/pp || fail "no $C0 line (uio)"
grep -q "^pci_probe: $C1 1b36:0010 .*driver vfio-pci .*bus master on.*VS 1\." /tmp/pp || fail "no $C1 line (vfio)"
grep -q "$C0: identify model 'QEMU NVMe Ctrl' serial 'osp0'" /tmp/pp || fail "$C0: Identify did not return serial osp0"
grep -q "$C1: identify model 'QEMU NVMe Ctrl' serial 'osp1'" /tmp/pp || fail "$C1: Identify did not return serial osp1"
BM=
[ "${SELFTEST:-}" = nobm ] && BM=-B	# self-test: Identify must then fail
probe "vfio alone (IOVA=VA, hugepages)" 0 -a $C1 -n 1 -I $BM
grep -q "$C1: identify .*serial 'osp1'" /tmp/pp || fail "$C1 alone: no Identify"
grep -q "$C0" /tmp/pp && fail "$C0 probed although only $C1 was allowed"
probe "vfio alone without hugepages" 0 -a $C1 -n 1 -I --no-huge
grep -q "env up (no-huge memory)" /tmp/pp && grep -q "$C1: identify .*serial 'osp1'" /tmp/pp || fail "$C1 without hugepages: no Identify"
probe "uio without hugepages (refused)" 1 -a $C0 -n 1 --no-huge
grep -q "$C0 is bound to uio_pci_generic, whose DMA needs physical addresses" /tmp/pp || fail "uio without hugepages: no clear message"
[ "$(drv $C1)" = vfio-pci ] || fail "$C1 left vfio-pci"

# ---- 4b. the NVMe driver, once lib/nvme has its PCIe transport ------------------------
# (nvme_identify's help names trtype:PCIe then). Both controllers, both
# paths: Identify with the serials and namespace counts; nvme_perf verify
# (-V) at queue depths 1 and 32, 4 KiB and 128 KiB, on every namespace.
DRIVER=0
if nvme_identify -h 2>&1 | grep -q 'trtype:PCIe'; then
	DRIVER=1
	for c in "$C0:osp0:1" "$C1:osp1:2"; do
		bdf=${c%%:osp*}; rest=${c#"$bdf":}; serial=${rest%%:*}; nns=${rest#*:}
		timeout 60 nvme_identify -r "trtype:PCIe traddr:$bdf" > /tmp/id 2>&1 ||
			{ tail -20 /tmp/id | sed 's/^/  | /'; fail "nvme_identify $bdf ($(drv "$bdf")) failed"; }
		grep -q "Serial Number: *$serial" /tmp/id || { show /tmp/id; fail "nvme_identify $bdf: no serial $serial"; }
		got=$(grep -c '^Namespace ID:' /tmp/id)
		[ "$got" = "$nns" ] || fail "nvme_identify $bdf: $got namespaces, expected $nns"
		for qo in "1 4096" "32 4096" "1 131072" "32 131072"; do
			q=${qo% *}; o=${qo#* }
			timeout 90 nvme_perf -r "trtype:PCIe traddr:$bdf" -q "$q" -o "$o" -w randrw -V -t 2 > /tmp/perf 2>&1 ||
				{ tail -20 /tmp/perf | sed 's/^/  | /'; fail "nvme_perf -V -q $q -o $o on $bdf ($(drv "$bdf")) failed"; }
			grep -q 'Verify: .* 0 miscompares' /tmp/perf || { show /tmp/perf; fail "nvme_perf -V on $bdf: no verify line"; }
			echo "OSPREY-PERF $bdf $(drv "$bdf") q$q ${o}B: $(grep -m1 '^Total' /tmp/perf | tr -s ' ')"
			# C1 has a controller memory buffer (cmb_size_mb=1): its I/O SQs go there.
			if [ "$bdf" = "$C1" ]; then
				grep -q "controller memory buffer of 1024 KiB in BAR2: I/O submission queues go there" /tmp/perf ||
					{ show /tmp/perf; fail "nvme_perf on $bdf: the CMB was not used for the submission queues"; }
			elif grep -q 'controller memory buffer' /tmp/perf; then
				show /tmp/perf; fail "nvme_perf on $bdf: a CMB reported on a controller without one"
			fi
			grep -q "^PCIe (addr:$bdf) NSID" /tmp/perf || { show /tmp/perf; fail "nvme_perf does not name the transport PCIe"; }
		done
		cmbnote=
		[ "$bdf" = "$C1" ] && cmbnote=", I/O SQs in the controller memory buffer"
		step "driver: $bdf ($(drv "$bdf")): nvme_identify (serial $serial, $nns namespace(s)), nvme_perf -V q1/q32 x 4K/128K$cmbnote"
	done
else
	step "driver: nvme_identify has no PCIe transport yet: skipped"
fi

# ---- 4c. the storage server: nvmf_tgt with bdev_nvme on C1 (PCIe), over NVMe/TCP ---
# The host reaches the guest's port 4420 through QEMU's hostfwd and runs
# Osprey's nvme_perf -V there; it sends its verdict to the guest's port 4421.
if [ $DRIVER = 1 ]; then
	cat > /tmp/nvmf.json <<EOC
{"subsystems": [
 {"subsystem": "bdev", "config": [
  {"method": "bdev_nvme_attach_controller",
   "params": {"name": "Nvme1", "trtype": "pcie", "traddr": "$C1"}}]},
 {"subsystem": "nvmf", "config": [
  {"method": "nvmf_create_transport", "params": {"trtype": "TCP"}},
  {"method": "nvmf_create_subsystem", "params": {"nqn": "$NVMF_NQN", "allow_any_host": true,
   "serial_number": "OSPPCIE1"}},
  {"method": "nvmf_subsystem_add_ns", "params": {"nqn": "$NVMF_NQN", "namespace": {"nsid": 1, "bdev_name": "Nvme1n1"}}},
  {"method": "nvmf_subsystem_add_ns", "params": {"nqn": "$NVMF_NQN", "namespace": {"nsid": 2, "bdev_name": "Nvme1n2"}}},
  {"method": "nvmf_subsystem_add_listener", "params": {"nqn": "$NVMF_NQN",
   "listen_address": {"trtype": "TCP", "adrfam": "IPv4", "traddr": "0.0.0.0", "trsvcid": "4420"}}}]}]}
EOC
	nvmf_tgt -A $C1 --json /tmp/nvmf.json -r /tmp/nvmf.sock > /tmp/tgt.log 2>&1 &
	tpid=$!
	i=0
	while ! grep -q 'ready, RPC socket' /tmp/tgt.log && kill -0 $tpid 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
	grep -q 'ready, RPC socket' /tmp/tgt.log || { kill $tpid 2>/dev/null; show /tmp/tgt.log; fail "nvmf_tgt over $C1 did not start"; }
	echo "OSPREY-NVMF-READY"
	# Reset under I/O: while the host's nvme_perf -V runs through nvmf_tgt,
	# reset C1 every 2 s with bdev_nvme_reset_controller (the PCIe controller
	# is disabled, its I/O queues die with their commands, which bdev_nvme
	# retries once the qpairs are re-created). The host's verify must pass.
	rm -f /tmp/verdict /tmp/resets
	( timeout 150 nc -l -p 4421 2>/dev/null | head -1 > /tmp/verdict.tmp; mv /tmp/verdict.tmp /tmp/verdict ) &
	vpid=$!
	sleep 3
	nreset=0 nfail=0
	while [ ! -e /tmp/verdict ] && kill -0 $tpid 2>/dev/null && [ $nreset -lt 40 ]; do
		if timeout 60 rpc_uds /tmp/nvmf.sock bdev_nvme_reset_controller '{"name": "Nvme1"}' >> /tmp/resets 2>&1; then
			nreset=$((nreset + 1))
		else
			nfail=$((nfail + 1))
			[ $nfail -ge 3 ] && break
		fi
		sleep 2
	done
	wait $vpid
	verdict=$(cat /tmp/verdict 2>/dev/null)
	[ $nfail -eq 0 ] || { show /tmp/resets; show /tmp/tgt.log; fail "bdev_nvme_reset_controller on $C1 failed $nfail time(s) under I/O"; }
	[ $nreset -ge 2 ] || { show /tmp/resets; fail "only $nreset controller reset(s) happened during the host's I/O"; }
	grep -q 'disconnected by the controller reset' /tmp/tgt.log ||
		{ show /tmp/tgt.log; fail "no I/O qpair was re-created by the resets (no I/O channel open?)"; }
	kill -0 $tpid 2>/dev/null || { show /tmp/tgt.log; fail "nvmf_tgt died while the host ran I/O ($verdict)"; }
	kill -TERM $tpid
	i=0
	while kill -0 $tpid 2>/dev/null && [ $i -lt 150 ]; do sleep 0.1; i=$((i + 1)); done
	kill -0 $tpid 2>/dev/null && { kill -9 $tpid; show /tmp/tgt.log; fail "nvmf_tgt did not stop within 15 s of SIGTERM"; }
	wait $tpid
	trc=$?
	case "$verdict" in
	PASS*) ;;
	*) show /tmp/tgt.log; fail "host nvme_perf through nvmf_tgt on $C1: ${verdict:-no verdict}" ;;
	esac
	[ $trc -eq 0 ] || { show /tmp/tgt.log; fail "nvmf_tgt exited with status $trc on SIGTERM"; }
	[ "$(drv $C1)" = vfio-pci ] || fail "$C1 left vfio-pci after nvmf_tgt"
	step "storage server: nvmf_tgt (bdev_nvme on $C1, vfio) served both namespaces over NVMe/TCP; $nreset controller resets under the host's I/O (I/O qpairs re-created $(grep -c 'disconnected by the controller reset' /tmp/tgt.log) times); host nvme_perf -V: $verdict; clean stop"
fi

# ---- 5. no DMA faults ----------------------------------------------------------------
if dmesg | grep -iE 'DMAR:.*fault|DMAR: \[DMA' > /tmp/faults; then
	show /tmp/faults
	fail "DMA faults in the kernel log"
fi
step "no DMAR faults"

# ---- 6. back to the kernel -------------------------------------------------------------
$SETUP reset > /tmp/rs 2>&1 || { show /tmp/rs; fail "setup.sh reset failed"; }
show /tmp/rs
[ "$(drv $C0)" = nvme ] && [ "$(drv $C1)" = nvme ] || fail "after reset: $C0 $(drv $C0), $C1 $(drv $C1)"
wait_ns 3 || fail "after reset: namespaces did not come back: $(ls /sys/block)"
ns=$(ls /sys/bus/pci/devices/$C0/nvme/*/ | grep -E '^nvme[0-9]+n1$' | head -1)
[ -b /dev/$ns ] || fail "no /dev/$ns after reset"
dd if=/dev/$ns of=/tmp/first bs=1M count=1 iflag=direct 2>/dev/null || fail "the kernel cannot read /dev/$ns after reset"
sum=$(md5sum < /tmp/first | cut -d' ' -f1)
if [ $DRIVER = 0 ]; then
	[ "$sum" = "$PATTERN_MD5" ] || fail "first MiB of /dev/$ns reads $sum, the host wrote $PATTERN_MD5"
	step "reset: both on nvme, /dev/$ns back, host data reads right"
else
	# nvme_perf -V wrote over the whole namespace (its own check is the data check).
	[ "$sum" != "$PATTERN_MD5" ] || fail "/dev/$ns still holds the host's data: nvme_perf -V wrote nothing?"
	step "reset: both on nvme, /dev/$ns back and readable (holds nvme_perf's data, not the host's)"
fi

# ---- 6b. benchmark (only with BENCH_ROUNDS, bench/nvme_pcie/run_guest.sh) ----------------
# On C0, the same emulated controller: the guest kernel's nvme driver through
# io_uring (uring_perf, O_DIRECT; with interrupts, and polled: IOPOLL on the
# driver's poll queue) against Osprey's nvme_perf (vfio-pci),
# 4 KiB randread and randwrite at queue depth 32, alternating, BENCH_ROUNDS
# rounds. Guest CPU from /proc/stat over the middle of each run (all CPUs:
# the kernel's interrupt and block-layer work counts too).
cpu_snap() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat; }
bench_one() { # tool workload command...
	tool=$1 w=$2
	shift 2
	"$@" > /tmp/bo 2>&1 &
	bpid=$!
	i=0
	while ! grep -qE 'uring_perf: running|Launching workers' /tmp/bo && kill -0 $bpid 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
	sleep 2
	a=$(cpu_snap) ta=$(up)
	sleep $((BENCH_SECS - 5))
	b=$(cpu_snap) tb=$(up)
	wait $bpid || { show /tmp/bo; fail "bench: $tool $w failed"; }
	iops=$(grep -m1 '^Total' /tmp/bo | awk '{for (i = 2; i <= NF; i++) if ($i ~ /^[0-9.]+$/) { print $i; exit }}')
	[ -n "$iops" ] || { show /tmp/bo; fail "bench: $tool $w: no IOPS"; }
	# (busybox awk: no conditional expressions among printf's arguments)
	echo "$a $b $ta $tb $iops" | awk -v tool="$tool" -v w="$w" -v r="$round" '{
		busy = $3 - $1; tot = $4 - $2; secs = $6 - $5; pct = 0; us = 0
		if (tot > 0) pct = 100 * busy / tot
		if ($7 > 0 && secs > 0) us = busy * 10000 / ($7 * secs)
		printf "OSPREY-BENCH round=%d tool=%s w=%s qd=32 bs=4096 iops=%.0f guest_cpu_pct=%.1f cpu_us_per_io=%.1f\n", r, tool, w, $7, pct, us }'
	grep -m1 '^uring_perf: running' /tmp/bo | sed 's/^/  | /'
	grep -m1 '^Total: IOPS' /tmp/bo | sed 's/^/  | /'
}
if [ "${BENCH_ROUNDS:-0}" -gt 0 ]; then
	BENCH_SECS=${BENCH_SECS:-10}
	round=1
	while [ $round -le "$BENCH_ROUNDS" ]; do
		ns=$(ls /sys/bus/pci/devices/$C0/nvme/*/ | grep -E '^nvme[0-9]+n1$' | head -1)
		[ -b /dev/$ns ] || fail "bench: no /dev/$ns"
		for w in randread randwrite; do
			bench_one kernel-io_uring $w uring_perf -f /dev/$ns -q 32 -o 4096 -w $w -t $BENCH_SECS
			# The kernel's polled path (nvme poll_queues=1, IORING_SETUP_IOPOLL).
			bench_one kernel-io_uring-iopoll $w uring_perf -f /dev/$ns -q 32 -o 4096 -w $w -t $BENCH_SECS -p
		done
		PCI_ALLOWED=$C0 SKIP_HUGE=yes $SETUP config > /tmp/cf 2>&1 || { show /tmp/cf; fail "bench: config of $C0"; }
		[ "$(drv $C0)" = vfio-pci ] || fail "bench: $C0 on '$(drv $C0)', not vfio-pci"
		for w in randread randwrite; do
			bench_one osprey-nvme_perf $w nvme_perf -r "trtype:PCIe traddr:$C0" -q 32 -o 4096 -w $w -t $BENCH_SECS
		done
		PCI_ALLOWED=$C0 $SETUP reset > /tmp/rs 2>&1 || { show /tmp/rs; fail "bench: reset of $C0"; }
		wait_ns 3 || fail "bench: $C0's namespace did not come back"
		round=$((round + 1))
	done
	step "bench: $BENCH_ROUNDS round(s) of kernel io_uring vs Osprey nvme_perf on $C0, 4K randread/randwrite q32"
fi

# ---- 7. surprise hot remove while attached -------------------------------------------------
PCI_ALLOWED=$C0 DRIVER_OVERRIDE=uio_pci_generic SKIP_HUGE=yes $SETUP config > /tmp/cf 2>&1 &&
PCI_ALLOWED=$C1 SKIP_HUGE=yes $SETUP config >> /tmp/cf 2>&1 || { show /tmp/cf; fail "config before hot remove"; }
# Without the driver pci_probe holds both. With it: C0 (uio) is held by
# nvmf_tgt (bdev_nvme), C1 (vfio) by nvme_perf -V under I/O; both must get the
# driver's removal callback from the env (osp_pci_event_poll: the app thread's
# poller in nvmf_tgt, nvme_perf's admin loop), and nvmf_tgt must survive it.
if [ $DRIVER = 1 ]; then
	cat > /tmp/hold.json <<EOC
{"subsystems": [
 {"subsystem": "bdev", "config": [
  {"method": "bdev_nvme_attach_controller",
   "params": {"name": "Nvme0", "trtype": "pcie", "traddr": "$C0"}}]}]}
EOC
	nvmf_tgt -A $C0 --json /tmp/hold.json -r /tmp/hold.sock > /tmp/hr 2>&1 &
	pid=$!
	i=0
	while ! grep -q 'ready, RPC socket' /tmp/hr && kill -0 $pid 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
	grep -q 'ready, RPC socket' /tmp/hr || { kill $pid 2>/dev/null; show /tmp/hr; fail "nvmf_tgt on $C0 did not start"; }
	nvme_perf -r "trtype:PCIe traddr:$C1" -q 32 -o 4096 -w randrw -V -t 60 > /tmp/hp 2>&1 &
	ppid=$!
	sleep 8	# past its start and prefill (~2-5 s here)
	kill -0 $ppid 2>/dev/null || { show /tmp/hp; fail "nvme_perf on $C1 ended before the removal"; }
	grep -q "PCIe (addr:$C1) NSID 1" /tmp/hp || { show /tmp/hp; fail "nvme_perf does not name the transport PCIe"; }
else
	pci_probe -n 2 -R 60 > /tmp/hr 2>&1 &
	pid=$!
	i=0
	while ! grep -q "waiting for hot remove of 2" /tmp/hr && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
	grep -q "waiting for hot remove of 2" /tmp/hr || { kill $pid; show /tmp/hr; fail "pci_probe -R did not attach"; }
fi
t0=$(up)
# The host sees this line and sends QMP device_del for both controllers.
echo "OSPREY-UNPLUG nvme0 nvme1"
if [ $DRIVER = 1 ]; then
	i=0
	while ! grep -q "controller $C0: hot remove reported by the env" /tmp/hr && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
	grep -q "controller $C0: hot remove reported by the env" /tmp/hr ||
		{ kill $pid; show /tmp/hr; fail "nvmf_tgt: the driver's removal callback did not run for $C0 (uio) within 30 s"; }
	tcb=$(up)
	sleep 2
	kill -0 $pid 2>/dev/null || { show /tmp/hr; fail "nvmf_tgt died after $C0 was removed"; }
	timeout 30 rpc_uds /tmp/hold.sock bdev_nvme_get_controllers > /tmp/gc 2>&1 ||
		{ show /tmp/gc; fail "nvmf_tgt does not answer RPCs after the removal of $C0"; }
	kill -TERM $pid
	i=0
	while kill -0 $pid 2>/dev/null && [ $i -lt 150 ]; do sleep 0.1; i=$((i + 1)); done
	kill -0 $pid 2>/dev/null && { kill -9 $pid; show /tmp/hr; fail "nvmf_tgt did not stop within 15 s of SIGTERM after the removal"; }
	wait $pid
	rc=$?
	show /tmp/hr
	[ $rc -eq 0 ] || fail "nvmf_tgt exited with status $rc on SIGTERM after the removal of $C0"
	i=0
	while kill -0 $ppid 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
	kill -0 $ppid 2>/dev/null && { kill -9 $ppid; show /tmp/hp; fail "nvme_perf still runs 30 s after $C1 was removed under it"; }
	wait $ppid
	prc=$?
	tail -8 /tmp/hp | sed 's/^/  | /'
	# Cleanly: an exit status, not a signal (no crash, no hang).
	[ $prc -lt 128 ] || fail "nvme_perf died of signal $((prc - 128)) when $C1 was removed under I/O"
	grep -q "controller $C1: hot remove reported by the env" /tmp/hp || fail "nvme_perf: the driver's removal callback did not run for $C1 (vfio)"
	how="nvmf_tgt (bdev_nvme on $C0, uio): removal callback $(echo "$t0 $tcb" | awk '{printf "%.2f s", $2 - $1}') after the request, survived, answered RPC, clean stop; nvme_perf on $C1 (vfio): callback, ended with status $prc under I/O"
else
	wait $pid
	rc=$?
	show /tmp/hr
	[ $rc -eq 0 ] || fail "pci_probe -R: exit $rc (hot remove not reported?)"
	grep -q "$C0: hot remove reported" /tmp/hr || fail "no hot remove reported for $C0 (uio)"
	grep -q "$C1: hot remove reported" /tmp/hr || fail "no hot remove reported for $C1 (vfio)"
	how="both reported to pci_probe (uio by uevent, vfio by its request interrupt)"
fi
i=0
while { [ -e /sys/bus/pci/devices/$C0 ] || [ -e /sys/bus/pci/devices/$C1 ]; } && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ ! -e /sys/bus/pci/devices/$C0 ] && [ ! -e /sys/bus/pci/devices/$C1 ] || fail "the controllers are still in sysfs after their removal"
step "hot remove: $how; both gone from sysfs $(echo "$t0 $(up)" | awk '{printf "%.2f s", $2 - $1}') after the request"
echo "OSPREY-RESULT: PASS"
