#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Guest side of test/nvmf/rdma/test_rdma_blackbox.sh (PID 1's /ki/test.sh):
# soft-RoCE on eth0, NVMe-oF RDMA targets on the rxe device's own IP, and the
# black-box client (nvmf_rdma_bb) against each over RoCE loopback.
# TARGETS (from /ki/env: a list, run one after the other in this boot, each
# on its own port):
#   kernel  the guest kernel's nvmet-rdma, configured through configfs: a
#           memory-backed null_blk disk (64 MiB, 512 B blocks) as namespace 1
#   osprey  Osprey's nvmf_tgt: RDMA transport, a malloc bdev (64 MiB, 512 B
#           blocks), a subsystem with it as namespace 1, an RDMA listener:
#           the rpc.py calls as a --json config (the guest has no Python)
# XFAIL_kernel / XFAIL_osprey: the client's -x CASE=REASON words (no spaces
# in a reason: '_' for them) for that target, NOTRUN_<target> its -k words
# (cases not run: they take the guest down); BB_ARGS more client arguments.
# Prints the client's lines (OSPREY-BB <target> ...), one OSPREY-TARGET line
# per target (PASS / FAIL / SKIP with the reason) and one OSPREY-RESULT line:
# FAIL if a target failed, SKIP if every target was skipped, else PASS.
. /ki/env
export PATH="/osprey/bin:$PATH"
NQN=nqn.2016-06.io.osprey:rdma-bb
IP=10.0.2.15
up() { cut -d' ' -f1 /proc/uptime; }
step() { echo "OSPREY-STEP $* (t=$(up))"; }
show() { sed 's/^/  | /' "$1"; }
fail() {
	echo "OSPREY-RESULT: FAIL: $*"
	dmesg | grep -iE 'rxe|rdma|nvme|bug|warn' | tail -25 | sed 's/^/dmesg: /'
	exit 1
}

# ---- soft-RoCE ------------------------------------------------------------------
rdma link add rxe0 type rxe netdev eth0 > /tmp/rxe 2>&1 || { show /tmp/rxe; fail "rdma link add rxe0 failed"; }
i=0
while ! rdma link show 2>/dev/null | grep -q 'rxe0.*state ACTIVE' && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
rdma link show | grep -q 'rxe0.*state ACTIVE' || fail "rxe0 not ACTIVE: $(rdma link show 2>&1)"
step "rxe0 on eth0 ($IP): $(rdma link show | grep rxe0 | tr -s ' ')"

# ---- one target: start it, run the client, check it is still there -----------
# run_target NAME PORT: returns 0 pass, 1 fail, 2 skip; WHY says why.
run_target() {
	t=$1 port=$2 TPID=
	case "$t" in
	kernel)
		mount -t configfs none /sys/kernel/config 2>/dev/null
		C=/sys/kernel/config
		if ! { mkdir $C/nullb/bb0 && echo 64 > $C/nullb/bb0/size && echo 1 > $C/nullb/bb0/memory_backed &&
		       echo 512 > $C/nullb/bb0/blocksize && echo 1 > $C/nullb/bb0/power && [ -b /dev/bb0 ]; }; then
			WHY="null_blk bb0 through configfs failed"
			return 1
		fi
		S=$C/nvmet/subsystems/$NQN
		P=$C/nvmet/ports/1
		if ! { mkdir $S && echo 1 > $S/attr_allow_any_host && mkdir $S/namespaces/1 &&
		       echo /dev/bb0 > $S/namespaces/1/device_path && echo 1 > $S/namespaces/1/enable &&
		       mkdir $P && echo rdma > $P/addr_trtype && echo ipv4 > $P/addr_adrfam &&
		       echo $IP > $P/addr_traddr && echo "$port" > $P/addr_trsvcid && ln -s $S $P/subsystems/$NQN; }; then
			WHY="nvmet RDMA subsystem/port through configfs failed"
			return 1
		fi
		step "kernel nvmet-rdma: $NQN on $IP:$port, namespace 1 = null_blk bb0 (64 MiB, memory backed)"
		;;
	osprey)
		cat > /tmp/tgt.json <<EOC
{"subsystems": [
 {"subsystem": "bdev", "config": [
  {"method": "bdev_malloc_create", "params": {"name": "Malloc0", "num_blocks": 131072, "block_size": 512}}]},
 {"subsystem": "nvmf", "config": [
  {"method": "nvmf_create_transport", "params": {"trtype": "RDMA"}},
  {"method": "nvmf_create_subsystem", "params": {"nqn": "$NQN", "allow_any_host": true, "serial_number": "OSPRDMABB"}},
  {"method": "nvmf_subsystem_add_ns", "params": {"nqn": "$NQN", "namespace": {"nsid": 1, "bdev_name": "Malloc0"}}},
  {"method": "nvmf_subsystem_add_listener", "params": {"nqn": "$NQN",
   "listen_address": {"trtype": "RDMA", "adrfam": "IPv4", "traddr": "$IP", "trsvcid": "$port"}}}]}]}
EOC
		# -s: the env takes most of the 1 GiB guest for DMA memory otherwise
		nvmf_tgt -s 384 --json /tmp/tgt.json -r /tmp/tgt.sock > /tmp/tgt.log 2>&1 &
		TPID=$!
		i=0
		while ! grep -q 'ready, RPC socket' /tmp/tgt.log && kill -0 $TPID 2>/dev/null && [ $i -lt 600 ]; do
			sleep 0.1; i=$((i + 1))
		done
		if grep -q 'transport RDMA is not available in this build' /tmp/tgt.log; then
			kill $TPID 2>/dev/null
			wait $TPID 2>/dev/null
			WHY="Osprey's nvmf_tgt has no RDMA transport yet (nvmf_create_transport -t RDMA: not available in this build)"
			return 2
		fi
		if ! grep -q 'ready, RPC socket' /tmp/tgt.log; then
			kill $TPID 2>/dev/null
			show /tmp/tgt.log
			WHY="nvmf_tgt with an RDMA transport and listener did not start"
			return 1
		fi
		step "osprey nvmf_tgt: $NQN on RDMA $IP:$port, namespace 1 = Malloc0 (64 MiB)"
		;;
	*)
		WHY="unknown target '$t' (kernel or osprey)"
		return 1
		;;
	esac

	# -x / -k NAME=REASON words: '_' in a reason stands for a space (not in NAME).
	xf='' nr=''
	eval "xf=\${XFAIL_$t:-}"
	eval "nr=\${NOTRUN_$t:-}"
	: > /tmp/xf.args
	for x in $xf; do echo "x $x" >> /tmp/xf.args; done
	for x in $nr; do echo "k $x" >> /tmp/xf.args; done
	set --
	while read -r o x; do
		name=${x%%=*}
		reason=$(echo "${x#*=}" | tr _ ' ')
		set -- "$@" -"$o" "$name=$reason"
	done < /tmp/xf.args
	t0=$(up)
	# shellcheck disable=SC2086 # BB_ARGS is a list of words
	# (as the lines come: a target that takes the guest down leaves them)
	{ nvmf_rdma_bb -a $IP -s "$port" -n $NQN -t "${BB_TIMEOUT_MS:-10000}" "$@" ${BB_ARGS:-}; echo $? > /tmp/bb.rc; } 2>&1 |
		tee /tmp/bb.log | sed "s/^/OSPREY-BB $t /"
	rc=$(cat /tmp/bb.rc 2>/dev/null || echo 99)
	summary=$(grep '^SUMMARY' /tmp/bb.log)
	step "$t: nvmf_rdma_bb exit $rc in $(echo "$t0 $(up)" | awk '{printf "%.1f s", $2 - $1}'): $summary"

	if [ "$t" = osprey ]; then
		if ! kill -0 $TPID 2>/dev/null; then
			tail -40 /tmp/tgt.log | sed 's/^/  | /'
			WHY="nvmf_tgt died during the cases ($summary)"
			return 1
		fi
		kill -TERM $TPID
		i=0
		while kill -0 $TPID 2>/dev/null && [ $i -lt 150 ]; do sleep 0.1; i=$((i + 1)); done
		if kill -0 $TPID 2>/dev/null; then
			kill -9 $TPID
			tail -40 /tmp/tgt.log | sed 's/^/  | /'
			WHY="nvmf_tgt did not stop within 15 s of SIGTERM after the cases"
			return 1
		fi
		wait $TPID
		trc=$?
		grep -iE 'error' /tmp/tgt.log | tail -20 | sed 's/^/OSPREY-TGTLOG /'
		if [ $trc -ne 0 ]; then
			tail -40 /tmp/tgt.log | sed 's/^/  | /'
			WHY="nvmf_tgt exited with status $trc on SIGTERM after the cases"
			return 1
		fi
		step "osprey: nvmf_tgt alive after every case, clean stop"
	else
		dmesg | grep -iE 'nvmet|rxe' | tail -40 | sed 's/^/OSPREY-DMESG /'
		if dmesg | grep -E 'BUG:|WARNING:|Oops|general protection' > /tmp/oops; then
			show /tmp/oops
			WHY="the kernel logged a BUG/WARNING during the cases ($summary)"
			return 1
		fi
	fi
	if [ -z "$summary" ]; then
		WHY="nvmf_rdma_bb printed no SUMMARY (exit $rc)"
		return 1
	fi
	WHY=$summary
	[ "$rc" -eq 0 ] || return 1
	return 0
}

nfail=0 npass=0 port=4420 res=
for t in $TARGETS; do
	run_target "$t" $port
	case $? in
	0) echo "OSPREY-TARGET $t PASS: $WHY"; npass=$((npass + 1)); res="$res $t:PASS" ;;
	2) echo "OSPREY-TARGET $t SKIP: $WHY"; res="$res $t:SKIP" ;;
	*) echo "OSPREY-TARGET $t FAIL: $WHY"; nfail=$((nfail + 1)); res="$res $t:FAIL" ;;
	esac
	port=$((port + 1))
done
if [ $nfail -gt 0 ]; then
	fail "$res"
elif [ $npass -eq 0 ]; then
	echo "OSPREY-RESULT: SKIP:$res"
else
	echo "OSPREY-RESULT: PASS:$res"
fi
