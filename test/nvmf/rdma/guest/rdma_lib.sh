# SPDX-License-Identifier: BSD-3-Clause
# Guest-side set-up shared by the NVMe-oF RDMA guest scripts (test/nvmf/rdma/guest/
# tgt_test.sh, rdma_host_test.sh, bench/nvmf_rdma/guest_bench.sh). Each host-side
# script installs it as /ki/rdma_lib.sh next to /ki/test.sh; the guest script sources
# it after defining fail() (prints OSPREY-RESULT: FAIL and exits). busybox sh.
#
#   rxe_up                      soft-RoCE rxe0 on eth0, waits until ACTIVE (5 s)
#   nullb_create NAME MIB BS [MEM]  a null_blk disk through configfs: /dev/NAME;
#                               memory backed (data kept) unless MEM is 0 (reads zeroes)
#   nvmet_subsystem NQN DEV     an nvmet subsystem (any host) with DEV as namespace 1
#   nvmet_port ID TRTYPE IP PORT NQN   an nvmet port (rdma|tcp, IPv4) exporting NQN
RDMA_CFS=/sys/kernel/config

rxe_up() {
	rdma link add rxe0 type rxe netdev eth0 > /tmp/rxe.err 2>&1 ||
		fail "rdma link add rxe0 failed: $(cat /tmp/rxe.err)"
	_i=0
	while ! rdma link show 2>/dev/null | grep -q 'rxe0.*ACTIVE' && [ $_i -lt 50 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	rdma link show 2>&1 | grep -q 'rxe0.*ACTIVE' || fail "rxe0 is not ACTIVE: $(rdma link show 2>&1)"
}

rdma_configfs() {
	grep -q configfs /proc/mounts || mount -t configfs none $RDMA_CFS || fail "cannot mount configfs"
}

nullb_create() { # name size_mib block_size [memory_backed: 1]
	rdma_configfs
	mkdir $RDMA_CFS/nullb/$1 || fail "no null_blk configfs (is null_blk loaded?)"
	echo "$2" > $RDMA_CFS/nullb/$1/size &&
		echo "${4:-1}" > $RDMA_CFS/nullb/$1/memory_backed &&
		echo "$3" > $RDMA_CFS/nullb/$1/blocksize &&
		echo 1 > $RDMA_CFS/nullb/$1/power || fail "null_blk $1: power on failed"
	[ -b /dev/$1 ] || fail "null_blk $1: no /dev/$1"
}

nvmet_subsystem() { # nqn device
	rdma_configfs
	_s=$RDMA_CFS/nvmet/subsystems/$1
	mkdir $_s || fail "nvmet configfs missing (is nvmet loaded?)"
	echo 1 > $_s/attr_allow_any_host
	mkdir $_s/namespaces/1 && echo "$2" > $_s/namespaces/1/device_path &&
		echo 1 > $_s/namespaces/1/enable || fail "nvmet: namespace $2 of $1 not enabled"
}

nvmet_port() { # id trtype ip port nqn
	_p=$RDMA_CFS/nvmet/ports/$1
	mkdir $_p && echo "$2" > $_p/addr_trtype && echo ipv4 > $_p/addr_adrfam &&
		echo "$3" > $_p/addr_traddr && echo "$4" > $_p/addr_trsvcid &&
		ln -s $RDMA_CFS/nvmet/subsystems/$5 $_p/subsystems/$5 ||
		fail "nvmet: cannot export $5 on $2 $3:$4"
}
