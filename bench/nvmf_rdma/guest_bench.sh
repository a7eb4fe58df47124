#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Guest side of bench/nvmf_rdma/run_rdma.sh (runs as /ki/test.sh): soft-RoCE on
# eth0, the kernel's nvmet exporting one null_blk namespace (not memory-backed:
# the transport is measured, not the disk) over RDMA (4420) and TCP (4421), and
# Osprey's nvme_perf against each, one run per transport and workload. For each
# run it prints
#   OSPREY-BENCH <transport> <workload> <iops> <MiB/s> <other_cpu_us_per_io> <perf_cpu_us_per_io>
# other_cpu: the guest's busy CPU time during the run (/proc/stat) minus
# nvme_perf's own (its /proc/PID/stat), per I/O: the kernel target plus the
# soft-RoCE/TCP stack of both sides (rxe and the TCP stack run in the kernel for
# the host too, so this is an upper bound of the target's CPU per I/O).
. /ki/env
export PATH=/osprey/bin:$PATH
IP=10.0.2.15
NQN=nqn.2014-08.org.osprey:rdma-bench
CFS=/sys/kernel/config
fail() { echo "OSPREY-RESULT: FAIL: $*"; exit 1; }

rdma link add rxe0 type rxe netdev eth0 || fail "rdma link add"
sleep 1
grep -q configfs /proc/mounts || mount -t configfs none $CFS
mkdir $CFS/nullb/nb0 && echo 1024 > $CFS/nullb/nb0/size && echo 4096 > $CFS/nullb/nb0/blocksize &&
	echo 1 > $CFS/nullb/nb0/power || fail "null_blk"
S=$CFS/nvmet/subsystems/$NQN
mkdir $S && echo 1 > $S/attr_allow_any_host && mkdir $S/namespaces/1 &&
	echo /dev/nb0 > $S/namespaces/1/device_path && echo 1 > $S/namespaces/1/enable || fail "nvmet"
i=1
for tp in rdma:4420 tcp:4421; do
	P=$CFS/nvmet/ports/$i
	mkdir $P && echo "${tp%%:*}" > $P/addr_trtype && echo ipv4 > $P/addr_adrfam &&
		echo $IP > $P/addr_traddr && echo "${tp##*:}" > $P/addr_trsvcid &&
		ln -s $S $P/subsystems/$NQN || fail "nvmet port $tp"
	i=$((i + 1))
done

busy() { awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat; }
pcpu() { awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null; }
HZ=100
for t in RDMA TCP; do
	port=4420; [ $t = TCP ] && port=4421
	for wl in "randread 4096 32" "read 131072 8"; do
		set -- $wl
		nvme_perf -r "trtype:$t adrfam:IPv4 traddr:$IP trsvcid:$port subnqn:$NQN" -w "$1" -o "$2" -q "$3" \
			-t "${BENCH_SECS:-10}" > /tmp/p 2>&1 &
		pid=$!
		# The timed run only: from "Launching workers" (connect, memory
		# registration and start-up left out) to the process's end.
		b0= p0= pc=0
		while kill -0 $pid 2>/dev/null; do
			v=$(pcpu $pid); [ -n "$v" ] && pc=$v
			if [ -z "$b0" ] && grep -q 'Launching workers' /tmp/p; then
				b0=$(busy); p0=$pc
			fi
			sleep 0.2
		done
		wait $pid
		rc=$?
		b1=$(busy)
		[ -n "$b0" ] || { b0=$b1; p0=$pc; }
		pc=$((pc - p0))
		[ $rc -eq 0 ] || { sed 's/^/  | /' /tmp/p; fail "nvme_perf $t $wl: exit $rc"; }
		tot=$(grep -m1 '^Total' /tmp/p | tr -s ' ')
		iops=$(echo "$tot" | awk '{print $3}')
		mibs=$(echo "$tot" | awk '{print $4}')
		secs=${BENCH_SECS:-10}
		awk -v t=$t -v w="$1 $2 q$3" -v iops="$iops" -v mibs="$mibs" -v b=$((b1 - b0)) -v p="$pc" -v s="$secs" -v hz=$HZ 'BEGIN {
			n = iops * s; if (n < 1) n = 1
			o = (b - p) * 1e6 / hz / n; if (o < 0) o = 0
			printf "OSPREY-BENCH %s %s %s %s %.1f %.1f\n", t, w, iops, mibs, o, p * 1e6 / hz / n }'
	done
done
echo "OSPREY-RESULT: PASS"
