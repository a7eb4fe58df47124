# shellcheck shell=sh
# SPDX-License-Identifier: BSD-3-Clause
# The data layout of test/vhost/vm_vhost.sh, sourced by both sides: the host
# (bash, GNU dd) builds the image the backing file must equal, the guest
# (busybox sh and dd, /ki/layout.sh) the one the disk must read back as.
#   VM_REGIONS  "OFF_KIB:LEN_KIB:BS_KIB ...": the pattern, taken in order,
#               written at OFF_KIB with dd bs=BS_KIB (so many requests of
#               that size)
#   VM_ZAPS     "d|z:OFF_KIB:LEN_KIB ...": blkdiscard (d) or blkdiscard -z
#               (z) of that range, after the writes: it reads as zeroes
# layout_expect IMG PATTERN DISK_KIB   IMG := zeroes + regions + zaps

layout_expect() { # img pattern disk_kib
	rm -f "$1"
	dd if=/dev/zero of="$1" bs=1024 count=0 seek="$3" 2>/dev/null || return 1
	src=0
	for r in $VM_REGIONS; do
		off=${r%%:*}; rest=${r#*:}; len=${rest%%:*}
		dd if="$2" of="$1" bs=1024 skip="$src" seek="$off" count="$len" conv=notrunc 2>/dev/null || return 1
		src=$((src + len))
	done
	for z in $VM_ZAPS; do
		rest=${z#*:}; off=${rest%%:*}; len=${rest#*:}
		dd if=/dev/zero of="$1" bs=1024 seek="$off" count="$len" conv=notrunc 2>/dev/null || return 1
	done
}

# layout_pattern_kib: how much of the pattern the regions take
layout_pattern_kib() {
	n=0
	for r in $VM_REGIONS; do
		rest=${r#*:}; n=$((n + ${rest%%:*}))
	done
	echo "$n"
}
