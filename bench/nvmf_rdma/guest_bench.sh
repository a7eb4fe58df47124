#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Guest side of bench/nvmf_rdma/run_rdma.sh (runs as /ki/test.sh): soft-RoCE on
# eth0; two targets side by side, each exporting a 1 GiB null namespace (the
# transport is measured, not a disk): the kernel's nvmet (null_blk) over RDMA
# (4420) and TCP (4421), and Osprey's nvmf_tgt on one reactor (a null bdev)
# over RDMA (4422) and TCP (4423). Osprey's nvme_perf runs against each, per
# workload, the targets alternating, ROUNDS rounds. For each run it prints
#   OSPREY-BENCH <target> <transport> <workload> <iops> <MiB/s> <other_cpu_us_per_io> <perf_cpu_us_per_io> <tgt_cpu_us_per_io>
# other_cpu: the guest's busy CPU time during the run (/proc/stat) minus
# nvme_perf's own (its /proc/PID/stat), per I/O: the kernel target plus the
# soft-RoCE/TCP stack of both sides (rxe and the TCP stack run in the kernel for
# the host too, so this is an upper bound of the target's CPU per I/O);
# tgt_cpu: Osprey's nvmf_tgt process alone (its reactor polls while I/O runs:
# busy time per I/O; "-" for nvmet, which has no process of its own).
. /ki/env
export PATH=/osprey/bin:$PATH
IP=10.0.2.15
NQN=nqn.2014-08.org.osprey:rdma-bench
fail() { echo "OSPREY-RESULT: FAIL: $*"; exit 1; }

. /ki/rdma_lib.sh
rxe_up
nullb_create nb0 1024 4096 0 # not memory backed: the transport is measured
nvmet_subsystem $NQN /dev/nb0
nvmet_port 1 rdma $IP 4420 $NQN
nvmet_port 2 tcp $IP 4421 $NQN

# Osprey's target: one reactor (core 0), a null bdev as large as the null_blk.
cat > /tmp/tgt.json <<EOC
{"subsystems": [
 {"subsystem": "bdev", "config": [
  {"method": "bdev_null_create", "params": {"name": "Null0", "num_blocks": 262144, "block_size": 4096}}]},
 {"subsystem": "nvmf", "config": [
  {"method": "nvmf_create_transport", "params": {"trtype": "RDMA"}},
  {"method": "nvmf_create_transport", "params": {"trtype": "TCP"}},
  {"method": "nvmf_create_subsystem", "params": {"nqn": "$NQN:osprey", "allow_any_host": true}},
  {"method": "nvmf_subsystem_add_ns", "params": {"nqn": "$NQN:osprey", "namespace": {"nsid": 1, "bdev_name": "Null0"}}},
  {"method": "nvmf_subsystem_add_listener", "params": {"nqn": "$NQN:osprey",
   "listen_address": {"trtype": "RDMA", "adrfam": "IPv4", "traddr": "$IP", "trsvcid": "4422"}}},
  {"method": "nvmf_subsystem_add_listener", "params": {"nqn": "$NQN:osprey",
   "listen_address": {"trtype": "TCP", "adrfam": "IPv4", "traddr": "$IP", "trsvcid": "4423"}}}]}]}
EOC
nvmf_tgt -m 0x1 -s 256 --no-huge --json /tmp/tgt.json -r /tmp/tgt.sock > /tmp/tgt.log 2>&1 &
TPID=$!
i=0
while ! grep -q "ready, RPC socket" /tmp/tgt.log && kill -0 $TPID 2>/dev/null && [ $i -lt 1200 ]; do
	sleep 0.1; i=$((i + 1))
done
grep -q 'ready, RPC socket' /tmp/tgt.log || { sed 's/^/  | /' /tmp/tgt.log; fail "nvmf_tgt did not start"; }

busy() { awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat; }
pcpu() { awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null; }
HZ=100
ROUNDS=${BENCH_ROUNDS:-3}
r=1
while [ $r -le $ROUNDS ]; do
for wl in "randread 4096 32" "read 131072 8"; do
  for tt in nvmet:RDMA:4420:$NQN osprey:RDMA:4422:$NQN:osprey nvmet:TCP:4421:$NQN osprey:TCP:4423:$NQN:osprey; do
	tgt=${tt%%:*}; rest=${tt#*:}; t=${rest%%:*}; rest=${rest#*:}; port=${rest%%:*}; nqn=${rest#*:}
	set -- $wl
	nvme_perf -r "trtype:$t adrfam:IPv4 traddr:$IP trsvcid:$port subnqn:$nqn" -w "$1" -o "$2" -q "$3" \
		-t "${BENCH_SECS:-10}" > /tmp/p 2>&1 &
	pid=$!
	# The timed run only: from "Launching workers" (connect, memory
	# registration and start-up left out) to the process's end.
	b0= p0= pc=0 tc0= tc=0
	while kill -0 $pid 2>/dev/null; do
		v=$(pcpu $pid); [ -n "$v" ] && pc=$v
		tc=$(pcpu $TPID)
		if [ -z "$b0" ] && grep -q 'Launching workers' /tmp/p; then
			b0=$(busy); p0=$pc; tc0=$tc
		fi
		sleep 0.2
	done
	wait $pid
	rc=$?
	b1=$(busy)
	tc1=$(pcpu $TPID)
	[ -n "$b0" ] || { b0=$b1; p0=$pc; tc0=$tc1; }
	pc=$((pc - p0))
	[ $rc -eq 0 ] || { sed 's/^/  | /' /tmp/p; fail "nvme_perf $tgt $t $wl: exit $rc"; }
	kill -0 $TPID 2>/dev/null || { sed 's/^/  | /' /tmp/tgt.log | tail -20; fail "nvmf_tgt died"; }
	tot=$(grep -m1 '^Total' /tmp/p | tr -s ' ')
	iops=$(echo "$tot" | awk '{print $3}')
	mibs=$(echo "$tot" | awk '{print $4}')
	secs=${BENCH_SECS:-10}
	awk -v tg=$tgt -v t=$t -v w="$1 $2 q$3" -v iops="$iops" -v mibs="$mibs" -v b=$((b1 - b0)) -v p="$pc" \
	    -v tc=$((tc1 - tc0)) -v s="$secs" -v hz=$HZ 'BEGIN {
		n = iops * s; if (n < 1) n = 1
		o = (b - p) * 1e6 / hz / n; if (o < 0) o = 0
		tcs = (tg == "osprey") ? sprintf("%.1f", tc * 1e6 / hz / n) : "-"
		printf "OSPREY-BENCH %s %s %s %s %s %.1f %.1f %s\n", tg, t, w, iops, mibs, o, p * 1e6 / hz / n, tcs }'
  done
done
r=$((r + 1))
done
kill $TPID
echo "OSPREY-RESULT: PASS"
