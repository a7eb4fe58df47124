#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Guest side of test/nvmf/rdma/test_rdma_host_guest.sh: Osprey's NVMe-oF RDMA
# host driver against the guest kernel's own NVMe-oF target (nvmet), which
# nobody here wrote. Runs as /ki/test.sh from init (busybox) with /ki/env and
# Osprey's programs in /osprey/bin. Steps:
#   1. soft-RoCE: rdma link add rxe0 on eth0 (10.0.2.15), ACTIVE
#   2. nvmet through configfs: a memory-backed null_blk namespace in one
#      subsystem, exported on an RDMA port (4420) and a TCP port (4421)
#   3. nvme_identify over RDMA and over TCP: the subsystem NQN and the
#      namespace size must come back
#   4. nvme_perf -V randrw over RDMA (4 KiB qd32: in-capsule writes; 128 KiB
#      qd16: keyed SGL both ways) and the same over TCP: exit 0, 0 miscompares,
#      I/Os counted
#   4b. bdevperf over bdev_nvme_attach_controller -t rdma (JSON config):
#      verify 4 KiB qd32 and 128 KiB qd8 (env DMA buffers: no copy), then the
#      reset workload (controller resets under I/O: qpairs re-created)
#   5. bad cases: a wrong subnqn (the Connect is refused) and a port nobody
#      listens on (the CM connection is rejected): both fail within seconds
#      with a message naming the step
# Prints OSPREY-STEP lines and one OSPREY-RESULT line.
. /ki/env
export PATH=/osprey/bin:$PATH
IP=10.0.2.15
NQN=nqn.2014-08.org.osprey:rdma-host-kernel-tgt

up() { cut -d' ' -f1 /proc/uptime; }
step() { echo "OSPREY-STEP $* (t=$(up))"; }
fail() {
	echo "OSPREY-RESULT: FAIL: $*"
	dmesg | grep -iE 'nvme|rdma|rxe|infiniband' | tail -25 | sed 's/^/dmesg: /'
	exit 1
}
show() { sed 's/^/  | /' "$1"; }

# ---- 1. soft-RoCE ------------------------------------------------------------
. /ki/rdma_lib.sh
rxe_up
step "rxe0 ACTIVE on eth0 ($IP)"

# ---- 2. the kernel's target ----------------------------------------------------
nullb_create nb0 12 4096
nvmet_subsystem $NQN /dev/nb0
nvmet_port 1 rdma $IP 4420 $NQN
nvmet_port 2 tcp $IP 4421 $NQN
step "nvmet: $NQN (12 MiB null_blk) on rdma $IP:4420 and tcp $IP:4421"

RDMA_TRID="trtype:RDMA adrfam:IPv4 traddr:$IP trsvcid:4420 subnqn:$NQN"
TCP_TRID="trtype:TCP adrfam:IPv4 traddr:$IP trsvcid:4421 subnqn:$NQN"

# ---- 3. identify -----------------------------------------------------------------
for t in RDMA TCP; do
	if [ $t = RDMA ]; then trid=$RDMA_TRID; else trid=$TCP_TRID; fi
	timeout -s KILL 60 nvme_identify -r "$trid" > /tmp/id 2>&1 || { show /tmp/id; fail "nvme_identify over $t failed"; }
	grep -q "$NQN" /tmp/id || { show /tmp/id; fail "nvme_identify over $t: no subsystem NQN in the output"; }
	# 12 MiB of 4 KiB blocks
	grep -qE "3072" /tmp/id || { show /tmp/id; fail "nvme_identify over $t: namespace size 3072 blocks not shown"; }
	step "nvme_identify over $t: $(grep -m1 -iE 'model' /tmp/id | tr -s ' ')"
done
show /tmp/id | head -30

# ---- 4. nvme_perf -V ----------------------------------------------------------------
perf() { # label trid q o
	timeout -s KILL 150 nvme_perf -r "$2" -q "$3" -o "$4" -w randrw -V -t "${PERF_SECS:-3}" > /tmp/perf 2>&1
	rc=$?
	if [ $rc -ne 0 ] || ! grep -qE 'Verify: .* 0 miscompares' /tmp/perf; then
		show /tmp/perf
		fail "nvme_perf -V over $1 -q $3 -o $4: exit $rc"
	fi
	tot=$(grep -m1 '^Total' /tmp/perf | tr -s ' ')
	ios=$(echo "$tot" | awk '{print $3}')
	case "$ios" in
	''|0|0.0|0.00) show /tmp/perf; fail "nvme_perf over $1 -q $3 -o $4 counted no I/O" ;;
	esac
	step "nvme_perf -V randrw over $1 q$3 ${4}B: $tot"
}
perf RDMA "$RDMA_TRID" 32 4096
perf RDMA "$RDMA_TRID" 16 131072
perf TCP "$TCP_TRID" 32 4096
perf TCP "$TCP_TRID" 16 131072

# ---- 4b. bdev_nvme over RDMA (bdevperf): verify, then resets under I/O ----------
cat > /tmp/bdev_rdma.json <<EOF
{"subsystems": [{"subsystem": "bdev", "config": [
 {"method": "bdev_nvme_attach_controller", "params": {"name": "R0", "trtype": "rdma",
  "adrfam": "ipv4", "traddr": "$IP", "trsvcid": "4420", "subnqn": "$NQN"}}]}]}
EOF
bperf() { # workload q o
	timeout -s KILL 150 bdevperf -s 64 --json /tmp/bdev_rdma.json -w "$1" -q "$2" -o "$3" -t "${PERF_SECS:-3}" > /tmp/bp 2>&1
	rc=$?
	fails=$(grep -m1 '^ *Total' /tmp/bp | awk '{print $5}')
	# Total : IOPS MiB/s Fail/s ...: verify must not fail an I/O
	if [ $rc -ne 0 ] || [ -z "$fails" ] || grep -qi 'miscompare' /tmp/bp ||
	   { [ "$1" = verify ] && [ "$fails" != 0.00 ]; }; then
		show /tmp/bp
		fail "bdevperf -w $1 -q $2 -o $3 over bdev_nvme -t rdma: exit $rc"
	fi
	step "bdevperf -w $1 q$2 ${3}B over bdev_nvme -t rdma: $(grep -m1 '^ *Total' /tmp/bp | tr -s ' ')"
}
bperf verify 32 4096
bperf verify 8 131072
bperf reset 16 4096
grep -iE 'reset' /tmp/bp | head -5 | sed 's/^/  | /'

# ---- 5. bad cases ----------------------------------------------------------------------
t0=$(up)
timeout -s KILL 30 nvme_identify -r "trtype:RDMA adrfam:IPv4 traddr:$IP trsvcid:4420 subnqn:nqn.2014-08.org.osprey:no-such-subsystem" > /tmp/bad 2>&1
rc=$?
show /tmp/bad
[ $rc -eq 124 ] || [ $rc -eq 137 ] && fail "a wrong subnqn over RDMA hung (timeout)"
[ $rc -ne 0 ] || fail "a wrong subnqn over RDMA connected"
grep -q 'fabrics connect' /tmp/bad || fail "a wrong subnqn: the error does not name the fabrics connect"
step "wrong subnqn over RDMA refused: $(grep -m1 'cannot connect' /tmp/bad)"
timeout -s KILL 30 nvme_identify -r "trtype:RDMA adrfam:IPv4 traddr:$IP trsvcid:4999 subnqn:$NQN" > /tmp/bad 2>&1
rc=$?
show /tmp/bad
[ $rc -eq 124 ] || [ $rc -eq 137 ] && fail "a closed RDMA port hung (timeout)"
[ $rc -ne 0 ] || fail "a closed RDMA port connected"
grep -qi 'rdma connect' /tmp/bad || fail "a closed RDMA port: the error does not name the rdma connect"
step "closed RDMA port refused: $(grep -m1 'cannot connect' /tmp/bad)"
timeout -s KILL 30 nvme_identify -r "trtype:RDMA adrfam:IPv4 traddr:10.0.2.99 trsvcid:4420 subnqn:$NQN" > /tmp/bad 2>&1
rc=$?
show /tmp/bad
[ $rc -eq 124 ] || [ $rc -eq 137 ] && fail "an unreachable RDMA address hung (timeout)"
[ $rc -ne 0 ] || fail "an unreachable RDMA address connected"
step "unreachable RDMA address refused: $(grep -m1 'cannot connect' /tmp/bad)"

echo "OSPREY-RESULT: PASS"
