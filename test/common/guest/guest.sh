# shellcheck shell=bash
# SPDX-License-Identifier: BSD-3-Clause
# Host side of every guest test, sourced by test/<area>/kernel_initiator.sh:
#   guest_build PROFILE        build/reuse the cached kernel + the profile's
#                              initramfs (test/common/guest/build.sh); sets
#                              GUEST_KERNEL, GUEST_INITRD
#   guest_run LAYER LOG T0     boot the guest once with LAYER (a folder: its
#                              ki/test.sh runs as the guest's test, ki/env etc.)
#                              appended to the initramfs; the serial console
#                              goes to LOG, OSPREY-* lines are echoed as they
#                              come with times since T0 (ms); returns QEMU's
#                              exit status, sets GUEST_TXT (LOG without \r)
#   guest_start LAYER LOG      the first half of guest_run: QEMU started in
#                              the background (QPID)
#   guest_wait T0              the second half: echo, wait, GUEST_TXT, status;
#                              with GUEST_LINE_HOOK=FUNCTION, FUNCTION runs in
#                              this shell on every console line as it comes
#                              (the host acting on what the guest says while
#                              it runs; it may change TPID)
#   guest_result               the guest's OSPREY-RESULT text, or "" if none
#   guest_add_programs LAYER DIR FILE...  copy host programs (Osprey's
#                              binaries: DPDK is linked in statically) into
#                              LAYER/DIR, stripped, with every shared library
#                              ldd lists and the dynamic loader at their host
#                              paths (the guest has no libc of its own)
# Guest: q35, TCG (no KVM needed), 2 vCPUs, 512 MiB, virtio-net on QEMU's
# user networking (slirp): the host's 127.0.0.1 is 10.0.2.2 in the guest.
# Env: OSPREY_GUEST_DIR   cache (default build/guest)
#      GUEST_TIMEOUT      seconds for the guest run (default 300)
#      GUEST_PCAP=FILE    record the guest's network traffic (QEMU filter-dump;
#                         headers only: GUEST_PCAP_SNAPLEN bytes a packet, 128)
#      GUEST_EXTRA_APPEND more kernel arguments
#      GUEST_SMP          vCPUs (default 2)
#      GUEST_MEM          guest RAM (default 512M)
#      GUEST_MEMFD=1      guest RAM in a shared memfd (memory-backend-memfd,
#                         share=on, one NUMA node on it): what vhost-user
#                         back ends map
#      GUEST_BIOS         firmware (-bios), e.g. /usr/share/qemu/qboot.rom:
#                         boots -kernel without probing disks (SeaBIOS hangs
#                         probing a vhost-user-scsi-pci disk)
#      GUEST_HOSTFWD      hostfwd=... options of the user network (guest services
#                         reachable on host loopback ports), comma-separated
#      GUEST_QEMU_ARGS    array: more QEMU arguments (devices, drives, chardevs;
#                         a second -machine adds properties: kernel-irqchip=split)
# The caller defines log() and provides QPID (cleared when QEMU is done;
# its EXIT trap should kill a QPID that is still set).
GUEST_COMMON=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
GUEST_DIR=${OSPREY_GUEST_DIR:-$(cd "$GUEST_COMMON/../../.." && pwd)/build/guest}
GUEST_TIMEOUT=${GUEST_TIMEOUT:-300}

guest_ms() { echo $(( ${EPOCHREALTIME/./} / 1000 )); }
guest_secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f s", (b - a) / 1000 }'; }

guest_build() { # profile
	local name
	"$GUEST_COMMON/build.sh" "$1" "$GUEST_DIR" >/dev/null || return 1
	name=$(bash -c '. "$1"; echo "$NAME"' _ "$1")
	GUEST_INITRD=$GUEST_DIR/initramfs-$name.cpio.gz
	GUEST_KERNEL=$GUEST_DIR/vmlinux
	[ -s "$GUEST_KERNEL" ] || GUEST_KERNEL=$GUEST_DIR/vmlinuz
	[ -s "$GUEST_INITRD" ] && [ -s "$GUEST_KERNEL" ]
}

guest_start() { # layer-dir log
	local layer=$1 glog=$2 img pcap=() mem=() qextra=()
	img=$(dirname "$glog")/initrd.img
	# The kernel unpacks concatenated archives in order: the cached base,
	# then this run's files.
	(cd "$layer" && find . -print0 | cpio --null -o -H newc --quiet --owner 0:0) | gzip -1 > "$img.layer"
	cat "$GUEST_INITRD" "$img.layer" > "$img"
	rm -f "$img.layer"
	if [ -n "${GUEST_PCAP:-}" ]; then
		pcap=(-object "filter-dump,id=f0,netdev=n0,file=$GUEST_PCAP,maxlen=${GUEST_PCAP_SNAPLEN:-128}")
	fi
	if [ "${GUEST_MEMFD:-0}" = 1 ]; then
		# shellcheck disable=SC2054 # commas inside QEMU option values
		mem=(-object "memory-backend-memfd,id=mem0,size=${GUEST_MEM:-512M},share=on" -numa node,memdev=mem0)
	fi
	if [ -n "${GUEST_BIOS:-}" ]; then
		mem+=(-bios "$GUEST_BIOS")
	fi
	if declare -p GUEST_QEMU_ARGS > /dev/null 2>&1; then
		qextra=("${GUEST_QEMU_ARGS[@]}")
	fi
	: > "$glog"
	timeout -k 5 "$GUEST_TIMEOUT" qemu-system-x86_64 -machine q35 -accel tcg -cpu max -smp "${GUEST_SMP:-2}" -m "${GUEST_MEM:-512M}" \
		"${mem[@]}" -kernel "$GUEST_KERNEL" -initrd "$img" -nographic -no-reboot \
		-netdev "user,id=n0${GUEST_HOSTFWD:+,$GUEST_HOSTFWD}" -device virtio-net-pci,netdev=n0,romfile= "${pcap[@]}" "${qextra[@]}" \
		-append "console=ttyS0 panic=-1 loglevel=4 no_timer_check osprey.watchdog=$((GUEST_TIMEOUT - 20)) ${GUEST_EXTRA_APPEND:-}" \
		< /dev/null > "$glog" 2>&1 &
	QPID=$!
	GUEST_LOG=$glog
}

guest_wait() { # t0
	local t0=$1 qrc line
	# Show the guest's progress with host-side times as it happens (the loop
	# runs in this shell, so that a hook may change its variables).
	while IFS= read -r line; do
		line=${line%$'\r'}
		case "$line" in
		*OSPREY-*|*dmesg:*|*nvme*|*Kernel\ panic*|*BUG:*|*qemu-system*|*I/O\ error*)
			printf '  [%6s] %s\n' "$(guest_secs "$t0" "$(guest_ms)")" "$line" ;;
		esac
		[ -n "${GUEST_LINE_HOOK:-}" ] && "$GUEST_LINE_HOOK" "$line"
	done < <(tail -n +1 -f --pid="$QPID" "$GUEST_LOG" 2>/dev/null)
	wait "$QPID"
	qrc=$?
	QPID=
	GUEST_TXT=${GUEST_LOG%.log}.txt
	tr -d '\r' < "$GUEST_LOG" > "$GUEST_TXT"
	return $qrc
}

guest_run() { # layer-dir log t0
	guest_start "$1" "$2"
	guest_wait "$3"
}

guest_result() {
	grep -m1 'OSPREY-RESULT:' "$GUEST_TXT" | sed 's/.*OSPREY-RESULT: //'
}

guest_add_programs() { # layer dir file...
	local layer=$1 dir=$2 f lib out
	shift 2
	mkdir -p "$layer/$dir"
	for f in "$@"; do
		install -m 0755 "$f" "$layer/$dir/"
		strip --strip-debug "$layer/$dir/$(basename "$f")" 2>/dev/null || true
		out=$(ldd "$f" 2>/dev/null) || continue	# a script or a static program
		if grep -q 'not found' <<<"$out"; then
			echo "guest_add_programs: $f needs libraries this host lacks: $(grep 'not found' <<<"$out" | tr '\n' ' ')" >&2
			return 1
		fi
		while read -r lib; do
			[ -e "$layer$lib" ] && continue
			mkdir -p "$layer$(dirname "$lib")"
			cp -L "$lib" "$layer$lib"
		done < <(awk '/=> \// {print $3} /^\t\/[^ ]* \(/ {print $1}' <<<"$out")
	done
}
