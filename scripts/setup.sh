#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Prepare a machine for Osprey's userspace NVMe driver (SPDK's setup.sh interface).
#
#   scripts/setup.sh [config]   reserve hugepages; bind every NVMe controller
#                               (PCI class 010802) that is not in use to vfio-pci
#                               when the machine has an IOMMU, else to
#                               uio_pci_generic
#   scripts/setup.sh reset      give the controllers back to the kernel's nvme driver
#   scripts/setup.sh status     devices, their drivers and block devices; hugepages
#   scripts/setup.sh help
#
# Environment (all optional):
#   HUGEMEM=MiB        hugepage memory to reserve (default 2048)
#   NRHUGE=N           number of hugepages instead (overrides HUGEMEM)
#   HUGENODE=LIST      NUMA nodes to reserve on, "0" or "0,1" (each gets NRHUGE);
#                      default: the kernel spreads them
#   PCI_ALLOWED="BDF.."  only these controllers (space separated, 0000:00:04.0)
#   PCI_BLOCKED="BDF.."  never these
#   DRIVER_OVERRIDE=NAME  bind to this driver instead (vfio-pci, uio_pci_generic)
#   CLEAR_HUGE=yes     reset also frees the hugepages
#   SKIP_HUGE=yes      config leaves hugepages alone
# A controller is skipped (and the reason printed) when one of its namespaces or
# their partitions is mounted, used as swap, or held by another block device
# (device mapper, md RAID). Needs root for config and reset; status works as
# any user. POSIX sh: runs under busybox too.
set -u
export LC_ALL=C

SYSFS=${OSP_SETUP_SYSFS:-/sys}	# test hooks: a fake tree
PROCFS=${OSP_SETUP_PROC:-/proc}
PCI_DEVS=$SYSFS/bus/pci/devices
NVME_CLASS=0x010802
ME=setup.sh

die() { echo "$ME: $*" >&2; exit 1; }
say() { echo "$ME: $*"; }

usage() {
	awk 'NR > 2 && /^#/ { sub(/^# ?/, ""); print; next } NR > 2 { exit }' "$0"
}

# 0000:00:04.0 from 00:04.0 / 0000:00:04.0 (lower case); empty if malformed.
norm_bdf() {
	b=$(echo "$1" | tr 'A-F' 'a-f')
	case "$b" in
	[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f].[0-7]) b=0000:$b ;;
	esac
	case "$b" in
	[0-9a-f][0-9a-f][0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f].[0-7]) echo "$b" ;;
	*) echo "" ;;
	esac
}

norm_list() { # name value -> normalized list, or die
	out=
	for x in $2; do
		n=$(norm_bdf "$x")
		[ -n "$n" ] || die "$1: '$x' is not a PCI address (expected 0000:00:04.0)"
		out="$out $n"
	done
	echo "$out"
}

in_list() { # bdf list
	for x in $2; do
		[ "$x" = "$1" ] && return 0
	done
	return 1
}

is_num() {
	case "$1" in
	''|*[!0-9]*) return 1 ;;
	esac
	return 0
}

driver_of() { # bdf -> driver name or ""
	if [ -e "$PCI_DEVS/$1/driver" ]; then
		basename "$(readlink "$PCI_DEVS/$1/driver")"
	fi
}

nvme_devices() { # every NVMe controller, in address order
	for d in "$PCI_DEVS"/*; do
		[ -r "$d/class" ] || continue
		[ "$(cat "$d/class")" = "$NVME_CLASS" ] && basename "$d"
	done
}

# Block devices of a controller bound to nvme: namespaces (nvme0n1) and, with
# "all", their partitions too.
block_devs() { # bdf [all]
	for c in "$PCI_DEVS/$1"/nvme/nvme*; do
		[ -d "$c" ] || continue
		for ns in "$c"/nvme*n*; do
			[ -d "$ns" ] || continue
			n=$(basename "$ns")
			case "$n" in
			*c*n*) continue ;;	# multipath path device: not a block device
			esac
			echo "$n"
			if [ "${2:-}" = all ]; then
				for p in "$ns"/"$n"p*; do
					[ -d "$p" ] && basename "$p"
				done
			fi
		done
	done
}

# Why a controller must not be taken from the kernel, or "" when it may.
in_use() { # bdf
	why=
	for b in $(block_devs "$1" all); do
		m=$(awk -v d="/dev/$b" '$1 == d { print $2; exit }' "$PROCFS/mounts" 2>/dev/null)
		[ -n "$m" ] && why="$why $b is mounted on $m;"
		if awk -v d="/dev/$b" '$1 == d { f = 1 } END { exit !f }' "$PROCFS/swaps" 2>/dev/null; then
			why="$why $b is used as swap;"
		fi
		h=$(ls "$SYSFS/class/block/$b/holders" 2>/dev/null | tr '\n' ' ')
		[ -n "$h" ] && why="$why $b is held by ${h% };"
	done
	why=${why# }
	echo "${why%;}"
}

# ---- status ------------------------------------------------------------------
hugepages_status() {
	echo "Hugepages"
	printf '%-8s %-12s %8s / %8s\n' node hugesize free total
	found=0
	for d in "$SYSFS"/devices/system/node/node*/hugepages/hugepages-*; do
		[ -d "$d" ] || continue
		node=$(basename "$(dirname "$(dirname "$d")")")
		size=${d##*hugepages-}
		printf '%-8s %-12s %8s / %8s\n' "$node" "$size" "$(cat "$d/free_hugepages")" "$(cat "$d/nr_hugepages")"
		found=1
	done
	if [ $found = 0 ]; then
		for d in "$SYSFS"/kernel/mm/hugepages/hugepages-*; do
			[ -d "$d" ] || continue
			printf '%-8s %-12s %8s / %8s\n' - "${d##*hugepages-}" "$(cat "$d/free_hugepages")" "$(cat "$d/nr_hugepages")"
			found=1
		done
	fi
	[ $found = 1 ] || echo "(this kernel has no hugepages)"
}

status() {
	hugepages_status
	echo
	printf '%-6s %-13s %-6s %-6s %-5s %-16s %-8s %s\n' Type BDF Vendor Device NUMA Driver Device 'Block devices'
	n=0
	for bdf in $(nvme_devices); do
		d=$PCI_DEVS/$bdf
		ven=$(cat "$d/vendor"); dev=$(cat "$d/device")
		numa=$(cat "$d/numa_node" 2>/dev/null || echo -1)
		[ "$numa" = -1 ] && numa=unknown
		drv=$(driver_of "$bdf")
		ctrl=-
		for c in "$d"/nvme/nvme*; do
			[ -d "$c" ] && ctrl=$(basename "$c")
		done
		blk=$(block_devs "$bdf" | tr '\n' ' ')
		blk=${blk% }
		use=$(in_use "$bdf")
		printf '%-6s %-13s %-6s %-6s %-5s %-16s %-8s %s%s\n' NVMe "$bdf" "${ven#0x}" "${dev#0x}" "$numa" \
			"${drv:-(none)}" "$ctrl" "${blk:--}" "${use:+ (in use: $use)}"
		n=$((n + 1))
	done
	[ $n -gt 0 ] || echo "(no NVMe controllers)"
	echo
	if [ -n "$(ls "$SYSFS/kernel/iommu_groups" 2>/dev/null)" ]; then
		echo "IOMMU: present (config binds to vfio-pci)"
	else
		echo "IOMMU: none (config binds to uio_pci_generic; the env then needs hugepages)"
	fi
}

# ---- config / reset ------------------------------------------------------------
need_root() {
	[ "$(id -u)" = 0 ] || die "$1 needs root (it writes to /sys): run it as root or with sudo"
}

# Make sure the driver is there: loaded, or loadable with modprobe.
load_driver() { # driver
	[ -d "$SYSFS/bus/pci/drivers/$1" ] && return 0
	command -v modprobe > /dev/null 2>&1 || die "driver $1 is not loaded and there is no modprobe to load it"
	mod=$(echo "$1" | tr - _)
	modprobe "$mod" > /tmp/osp_setup_modprobe.$$ 2>&1 ||
		die "cannot load module $mod: $(tail -1 /tmp/osp_setup_modprobe.$$; rm -f /tmp/osp_setup_modprobe.$$) (is it in this kernel? Debian: linux-image package; VFIO also needs an IOMMU on)"
	rm -f /tmp/osp_setup_modprobe.$$
	[ -d "$SYSFS/bus/pci/drivers/$1" ] || die "module $mod loaded but no PCI driver $1 appeared"
}

bind() { # bdf driver
	d=$PCI_DEVS/$1
	cur=$(driver_of "$1")
	[ "$cur" = "$2" ] && return 0
	if [ -n "$cur" ]; then
		echo "$1" > "$d/driver/unbind" || return 1
	fi
	echo "$2" > "$d/driver_override" || return 1
	echo "$1" > "$PCI_DEVS/../drivers_probe" 2>/dev/null
	[ "$(driver_of "$1")" = "$2" ]
}

wanted() { # bdf -> 0 when the lists let us touch it (prints why not)
	if [ -n "$ALLOWED" ] && ! in_list "$1" "$ALLOWED"; then
		say "$1: skipped: not in PCI_ALLOWED"
		return 1
	fi
	if in_list "$1" "$BLOCKED"; then
		say "$1: skipped: in PCI_BLOCKED"
		return 1
	fi
	return 0
}

hugepages_config() {
	size_kb=$(awk '/^Hugepagesize:/ { print $2 }' "$PROCFS/meminfo")
	[ -n "$size_kb" ] || die "this kernel has no hugepages (no Hugepagesize in /proc/meminfo)"
	if [ -n "${NRHUGE:-}" ]; then
		is_num "$NRHUGE" || die "NRHUGE='$NRHUGE' is not a number of pages"
		pages=$NRHUGE
	else
		pages=$(( (HUGEMEM * 1024 + size_kb - 1) / size_kb ))
	fi
	if [ -n "${HUGENODE:-}" ]; then
		for node in $(echo "$HUGENODE" | tr ',' ' '); do
			is_num "$node" || die "HUGENODE='$HUGENODE': '$node' is not a node number"
			f=$SYSFS/devices/system/node/node$node/hugepages/hugepages-${size_kb}kB/nr_hugepages
			[ -w "$f" ] || die "HUGENODE: node $node does not exist ($f)"
			echo "$pages" > "$f"
			got=$(cat "$f")
			[ "$got" -ge "$pages" ] || say "warning: node $node has $got of the $pages hugepages asked for (memory short or fragmented)"
			say "node $node: $got hugepages of $size_kb kB"
		done
	else
		echo "$pages" > "$PROCFS/sys/vm/nr_hugepages"
		got=$(cat "$PROCFS/sys/vm/nr_hugepages")
		[ "$got" -ge "$pages" ] || say "warning: $got of the $pages hugepages asked for (memory short or fragmented)"
		say "$got hugepages of $size_kb kB ($((got * size_kb / 1024)) MiB)"
	fi
}

config() {
	need_root config
	if [ -n "${DRIVER_OVERRIDE:-}" ]; then
		drv=$DRIVER_OVERRIDE
	elif [ -n "$(ls "$SYSFS/kernel/iommu_groups" 2>/dev/null)" ]; then
		drv=vfio-pci
	else
		drv=uio_pci_generic
	fi
	case "$drv" in
	*[!A-Za-z0-9_-]*|'') die "DRIVER_OVERRIDE='$drv' is not a driver name" ;;
	esac
	devs=$(nvme_devices)
	if [ -n "$devs" ]; then
		load_driver "$drv"
	fi
	rc=0
	for bdf in $devs; do
		wanted "$bdf" || continue
		cur=$(driver_of "$bdf")
		if [ "$cur" = "$drv" ]; then
			say "$bdf: already bound to $drv"
			continue
		fi
		why=$(in_use "$bdf")
		if [ -n "$why" ]; then
			say "$bdf: skipped: in use by the kernel: $why"
			continue
		fi
		if [ "$drv" = vfio-pci ] && [ ! -e "$PCI_DEVS/$bdf/iommu_group" ]; then
			say "$bdf: skipped: no IOMMU group (vfio-pci needs the IOMMU on: intel_iommu=on / amd_iommu=on)"
			rc=1
			continue
		fi
		if bind "$bdf" "$drv"; then
			extra=
			if [ "$drv" = vfio-pci ]; then
				extra=" (/dev/vfio/$(basename "$(readlink "$PCI_DEVS/$bdf/iommu_group")"))"
			fi
			say "$bdf ($(cat "$PCI_DEVS/$bdf/vendor" | sed 's/0x//'):$(cat "$PCI_DEVS/$bdf/device" | sed 's/0x//')): ${cur:-no driver} -> $drv$extra"
		else
			say "$bdf: binding to $drv failed (now: $(driver_of "$bdf"))"
			rc=1
		fi
	done
	[ -n "$devs" ] || say "no NVMe controllers on this machine"
	if [ "${SKIP_HUGE:-no}" != yes ]; then
		hugepages_config
	fi
	return $rc
}

reset() {
	need_root reset
	rc=0
	for bdf in $(nvme_devices); do
		wanted "$bdf" || continue
		cur=$(driver_of "$bdf")
		if [ "$cur" = nvme ]; then
			say "$bdf: already bound to nvme"
			continue
		fi
		if [ -z "$(ls "$SYSFS/bus/pci/drivers" | grep -x nvme)" ]; then
			load_driver nvme
		fi
		if [ -n "$cur" ]; then
			echo "$bdf" > "$PCI_DEVS/$bdf/driver/unbind" || { rc=1; continue; }
		fi
		echo "" > "$PCI_DEVS/$bdf/driver_override"
		echo "$bdf" > "$PCI_DEVS/../drivers_probe" 2>/dev/null
		if [ "$(driver_of "$bdf")" = nvme ]; then
			say "$bdf: ${cur:-no driver} -> nvme"
		else
			say "$bdf: binding to nvme failed (now: $(driver_of "$bdf"))"
			rc=1
		fi
	done
	if [ "${CLEAR_HUGE:-no}" = yes ]; then
		echo 0 > "$PROCFS/sys/vm/nr_hugepages"
		say "hugepages freed"
	fi
	return $rc
}

# ---- main ----------------------------------------------------------------------
[ $# -le 1 ] || { usage >&2; die "one command at most (got: $*)"; }
cmd=${1:-config}
HUGEMEM=${HUGEMEM:-2048}
is_num "$HUGEMEM" || die "HUGEMEM='$HUGEMEM' is not a number of MiB"
ALLOWED=$(norm_list PCI_ALLOWED "${PCI_ALLOWED:-}") || exit 1
BLOCKED=$(norm_list PCI_BLOCKED "${PCI_BLOCKED:-}") || exit 1
[ -d "$PCI_DEVS" ] || die "no $PCI_DEVS: is sysfs mounted?"
case "$cmd" in
config) config ;;
reset) reset ;;
status) status ;;
help|-h|--help) usage ;;
*) usage >&2; die "unknown command '$cmd' (config, reset, status or help)" ;;
esac
