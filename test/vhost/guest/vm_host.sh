# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=bash disable=SC2034,SC2054 # sets the caller's variables; QEMU option strings have commas
# Host side shared by the vhost guest runs: test/vhost/vm_vhost.sh (the test)
# and bench/vhost/run_vm_ref.sh (the reference figures). Sourced after
# test/common/guest/guest.sh and ki_host.sh; uses VHOST (the daemon), SOCK
# (its RPC socket), SDIR (the vhost-user socket directory), TMP.
#
#   vm_guest_memory       the guest RAM backend from VM_MEM (appends to
#                         GUEST_QEMU_ARGS: call it after setting that array):
#                           memfd      (default) memory-backend-memfd, share=on
#                           file       memory-backend-file on /dev/shm (tmpfs),
#                                      share=on: a file the front end cannot seal
#                           hugetlbfs  memory-backend-file on a hugetlbfs mount,
#                                      share=on, only if the mount has enough
#                                      free huge pages (never changes
#                                      nr_hugepages); else returns 1 with
#                                      VM_MEM_SKIP saying why
#                         VM_MEM_DESC describes the choice.
#   vm_vhost_start ARGS   start the vhost daemon on core 0 (VM_VHOST_ARGS: more
#                         options), its PID in TPID and $TMP/vhost.pid
#   vm_wait_sockets SOCK  until each vhost-user socket exists (10 s each)

vm_guest_memory() {
	local mnt="" opts pk need free
	VM_MEM_SKIP=
	case "${VM_MEM:-memfd}" in
	memfd)
		GUEST_MEMFD=1
		VM_MEM_DESC="memfd (memory-backend-memfd, share=on)" ;;
	file)
		[ -d /dev/shm ] || { VM_MEM_SKIP="no /dev/shm"; return 1; }
		GUEST_MEMFD=0
		GUEST_QEMU_ARGS+=(-object "memory-backend-file,id=mem0,size=${GUEST_MEM:-512M},mem-path=/dev/shm,share=on"
				  -numa node,memdev=mem0)
		VM_MEM_DESC="a file on /dev/shm (memory-backend-file, share=on)" ;;
	hugetlbfs)
		# The first hugetlbfs mount; its page size from pagesize= or the default.
		while read -r _ dir type opts _; do
			if [ "$type" = hugetlbfs ]; then
				mnt=$dir
				break
			fi
		done < /proc/mounts
		if [ -z "$mnt" ]; then
			VM_MEM_SKIP="no hugetlbfs mount (mount -t hugetlbfs none DIR, and reserve huge pages: this test never changes nr_hugepages)"
			return 1
		fi
		pk=$(sed -n 's/.*pagesize=\([0-9]*\)\([KMG]\).*/\1 \2/p' <<<"$opts" |
			awk '{print $1 * ($2 == "K" ? 1 : $2 == "M" ? 1024 : 1048576)}')
		[ -n "$pk" ] || pk=$(awk '/^Hugepagesize:/ {print $2}' /proc/meminfo)
		need=$(( $(numfmt --from=iec "${GUEST_MEM:-512M}") / 1024 / pk ))
		free=$(cat "/sys/kernel/mm/hugepages/hugepages-${pk}kB/free_hugepages" 2>/dev/null || echo 0)
		if [ "$free" -lt "$need" ]; then
			VM_MEM_SKIP="hugetlbfs $mnt: $free free ${pk} KiB huge pages, the guest's ${GUEST_MEM:-512M} needs $need (this test never changes nr_hugepages)"
			return 1
		fi
		GUEST_MEMFD=0
		GUEST_QEMU_ARGS+=(-object "memory-backend-file,id=mem0,size=${GUEST_MEM:-512M},mem-path=$mnt,share=on,prealloc=on"
				  -numa node,memdev=mem0)
		VM_MEM_DESC="hugetlbfs $mnt (${pk} KiB pages, memory-backend-file, share=on)" ;;
	*)
		die "VM_MEM=${VM_MEM}: memfd, file or hugetlbfs" ;;
	esac
	return 0
}

vm_vhost_start() { # more vhost options
	rm -f "$SOCK"
	# shellcheck disable=SC2086 # VM_VHOST_ARGS: more options, split on spaces
	ki_start_daemon "$VHOST" -m 0x1 -r "$SOCK" -S "$SDIR" ${VM_VHOST_ARGS:-} "$@"
	echo "$TPID" > "$TMP/vhost.pid"
}

vm_wait_sockets() { # socket...
	local s
	for s in "$@"; do
		for _ in $(seq 100); do
			[ -S "$s" ] && break
			sleep 0.1
		done
		[ -S "$s" ] || die "vhost made no socket $s"
	done
}
