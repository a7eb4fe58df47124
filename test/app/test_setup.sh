#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# scripts/setup.sh on this host, without touching it: status of the real
# machine (any NVMe controllers or none), bad options, config/reset refused
# without root, and config/reset/status against a fake /sys and /proc
# (OSP_SETUP_SYSFS, OSP_SETUP_PROC): controllers in use (a mounted partition,
# a holder, swap) are skipped with the reason, the allow and block lists are
# honoured, hugepages are computed from HUGEMEM / NRHUGE, a failed bind is
# reported. Binding real devices is tested in a QEMU guest
# (test/nvme/test_pcie_guest.sh). Never writes to the real /sys or /proc.
set -uo pipefail
cd "$(dirname "$0")/../.."
S=$PWD/scripts/setup.sh
T=$(mktemp -d /tmp/osp_setup_test.XXXXXX)
chmod 755 "$T"
trap 'rm -rf "$T"' EXIT
pass=0
ok() { echo "  ok   $1"; pass=$((pass + 1)); }
fail() { echo "  FAIL $1"; [ -n "${2:-}" ] && echo "$2" | sed 's/^/    | /'; echo "$pass passed, 1 failed"; exit 1; }

# expect <name> <rc> <regex> <cmd...>: exit status rc and output matching regex.
expect() {
	local name=$1 rc=$2 re=$3 out got
	shift 3
	out=$("$@" 2>&1)
	got=$?
	[ "$got" -eq "$rc" ] || fail "$name: exit $got, expected $rc" "$out"
	grep -qE -- "$re" <<<"$out" || fail "$name: output does not match /$re/" "$out"
	ok "$name"
}

# ---- the real machine: read-only -------------------------------------------
expect "status on this host" 0 'Hugepages' "$S" status
expect "status prints the device table header" 0 'Type +BDF +Vendor +Device +NUMA +Driver' "$S" status
n=$(for d in /sys/bus/pci/devices/*; do [ "$(cat "$d/class")" = 0x010802 ] && echo; done | wc -l)
if [ "$n" -eq 0 ]; then
	expect "status says there are no NVMe controllers" 0 'no NVMe controllers' "$S" status
else
	expect "status lists the $n NVMe controllers" 0 'NVMe +[0-9a-f]{4}:' "$S" status
fi
expect "help" 0 'setup.sh reset' "$S" help
expect "unknown command" 1 "unknown command 'bogus'" "$S" bogus
expect "two commands" 1 'one command at most' "$S" config reset
expect "bad HUGEMEM" 1 "HUGEMEM='12x' is not a number" env HUGEMEM=12x "$S" status
expect "bad PCI_ALLOWED" 1 "PCI_ALLOWED: '00:4.0' is not a PCI address" env PCI_ALLOWED="0000:00:04.0 00:4.0" "$S" status
expect "bad PCI_BLOCKED" 1 "PCI_BLOCKED: 'x' is not a PCI address" env PCI_BLOCKED=x "$S" status

NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
if "${NOBODY[@]}" true 2>/dev/null; then
	expect "config refused without root" 1 'config needs root' "${NOBODY[@]}" "$S" config
	expect "reset refused without root" 1 'reset needs root' "${NOBODY[@]}" "$S" reset
	expect "status works without root" 0 'Type +BDF' "${NOBODY[@]}" "$S" status
else
	echo "  skip non-root checks: setpriv cannot switch to nobody here"
fi

# ---- a fake machine ----------------------------------------------------------
F=$T/sys
P=$T/proc
mkdir -p "$F/bus/pci/devices" "$F/bus/pci/drivers/nvme" "$F/bus/pci/drivers/uio_pci_generic" \
	"$F/kernel/iommu_groups" "$F/devices/system/node/node0/hugepages/hugepages-2048kB" \
	"$P/sys/vm"
touch "$F/bus/pci/drivers_probe" "$F/bus/pci/drivers/nvme/unbind" "$F/bus/pci/drivers/uio_pci_generic/unbind"
echo 4 > "$F/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages"
echo 3 > "$F/devices/system/node/node0/hugepages/hugepages-2048kB/free_hugepages"
echo 0 > "$P/sys/vm/nr_hugepages"
printf 'MemTotal:  1000000 kB\nHugepagesize:       2048 kB\n' > "$P/meminfo"
printf '/dev/nvme0n1p1 /mnt ext4 rw 0 0\nproc /proc proc rw 0 0\n' > "$P/mounts"
printf 'Filename Type Size Used Priority\n/dev/nvme3n1 partition 1 0 -2\n' > "$P/swaps"

fake_pci() { # bdf class driver [ctrl ns...]
	local bdf=$1 cls=$2 drv=$3 ctrl=${4:-} d
	d=$F/bus/pci/devices/$bdf
	mkdir -p "$d"
	echo "$cls" > "$d/class"; echo 0x1b36 > "$d/vendor"; echo 0x0010 > "$d/device"; echo -1 > "$d/numa_node"
	touch "$d/driver_override"
	[ -n "$drv" ] && ln -s "../../drivers/$drv" "$d/driver"
	if [ -n "$ctrl" ]; then
		shift 4
		mkdir -p "$d/nvme/$ctrl"
		for ns in "$@"; do
			mkdir -p "$d/nvme/$ctrl/${ns%%p*}" "$F/class/block/$ns/holders"
			[ "$ns" != "${ns%%p*}" ] && mkdir -p "$d/nvme/$ctrl/${ns%%p*}/$ns"
		done
	fi
}
fake_pci 0000:00:04.0 0x010802 nvme nvme0 nvme0n1 nvme0n1p1	# partition mounted
fake_pci 0000:00:05.0 0x010802 nvme nvme1 nvme1n1		# held by dm-0
mkdir -p "$F/class/block/nvme1n1/holders/dm-0"
fake_pci 0000:00:06.0 0x010802 uio_pci_generic			# ours already
fake_pci 0000:00:07.0 0x020000 ''				# a NIC: not listed
fake_pci 0000:00:08.0 0x010802 nvme nvme2 nvme2n1		# free (bind will "fail": fake kernel)
fake_pci 0000:00:09.0 0x010802 nvme nvme3 nvme3n1		# swap
FAKE=(env OSP_SETUP_SYSFS="$F" OSP_SETUP_PROC="$P")

out=$("${FAKE[@]}" "$S" status 2>&1) || fail "fake status" "$out"
grep -qE '^NVMe +0000:00:04.0 +1b36 +0010 +unknown +nvme +nvme0 +nvme0n1 +\(in use: nvme0n1p1 is mounted on /mnt\)' <<<"$out" ||
	fail "fake status: 00:04.0 row (mounted partition)" "$out"
grep -qE '^NVMe +0000:00:05.0 .*\(in use: nvme1n1 is held by dm-0\)' <<<"$out" || fail "fake status: holder" "$out"
grep -qE '^NVMe +0000:00:06.0 +1b36 +0010 +unknown +uio_pci_generic' <<<"$out" || fail "fake status: uio row" "$out"
grep -qE '^NVMe +0000:00:09.0 .*nvme3n1 is used as swap' <<<"$out" || fail "fake status: swap" "$out"
grep -q '0000:00:07.0' <<<"$out" && fail "fake status lists a NIC" "$out"
grep -qE '^node0 +2048kB +3 / +4' <<<"$out" || fail "fake status: hugepages" "$out"
grep -q 'IOMMU: none' <<<"$out" || fail "fake status: no IOMMU" "$out"
ok "fake status: rows, in-use reasons (mount, holder, swap), hugepages, IOMMU"

out=$("${FAKE[@]}" HUGEMEM=64 PCI_BLOCKED=0000:00:08.0 "$S" config 2>&1)
rc=$?
[ $rc -eq 0 ] || fail "fake config (08.0 blocked): exit $rc" "$out"
grep -q '0000:00:04.0: skipped: in use by the kernel: nvme0n1p1 is mounted on /mnt' <<<"$out" || fail "config skips a mounted one" "$out"
grep -q '0000:00:05.0: skipped: in use by the kernel: nvme1n1 is held by dm-0' <<<"$out" || fail "config skips a held one" "$out"
grep -q '0000:00:09.0: skipped: in use by the kernel: nvme3n1 is used as swap' <<<"$out" || fail "config skips swap" "$out"
grep -q '0000:00:06.0: already bound to uio_pci_generic' <<<"$out" || fail "config: already bound" "$out"
grep -q '0000:00:08.0: skipped: in PCI_BLOCKED' <<<"$out" || fail "config: blocked" "$out"
[ "$(cat "$P/sys/vm/nr_hugepages")" = 32 ] || fail "HUGEMEM=64 -> 32 pages of 2 MiB (got $(cat "$P/sys/vm/nr_hugepages"))" "$out"
ok "fake config: in-use controllers skipped with the reason, block list, HUGEMEM=64 -> 32 hugepages"

out=$("${FAKE[@]}" NRHUGE=7 PCI_ALLOWED=00:08.0 "$S" config 2>&1)
rc=$?
[ $rc -eq 1 ] || fail "fake config of 08.0: the fake kernel binds nothing, so exit 1 (got $rc)" "$out"
grep -q '0000:00:08.0: binding to uio_pci_generic failed' <<<"$out" || fail "config reports a failed bind" "$out"
grep -q '0000:00:04.0: skipped: not in PCI_ALLOWED' <<<"$out" || fail "config: allow list" "$out"
[ "$(cat "$F/bus/pci/devices/0000:00:08.0/driver_override")" = uio_pci_generic ] || fail "config wrote driver_override" "$out"
[ "$(cat "$F/bus/pci/drivers_probe")" = 0000:00:08.0 ] || fail "config wrote drivers_probe" "$out"
[ "$(cat "$P/sys/vm/nr_hugepages")" = 7 ] || fail "NRHUGE=7" "$out"
ok "fake config: allow list, driver_override + drivers_probe written, failed bind reported (exit 1), NRHUGE"

expect "bad NRHUGE" 1 "NRHUGE='x' is not a number" "${FAKE[@]}" NRHUGE=x SKIP_HUGE=no PCI_ALLOWED=0000:00:06.0 "$S" config
expect "bad HUGENODE" 1 "HUGENODE='a': 'a' is not a node number" "${FAKE[@]}" HUGENODE=a PCI_ALLOWED=0000:00:06.0 "$S" config
expect "absent HUGENODE" 1 'node 5 does not exist' "${FAKE[@]}" HUGENODE=5 PCI_ALLOWED=0000:00:06.0 "$S" config
expect "a driver that does not exist" 1 'cannot load module osp_no_such_drv|driver osp-no-such-drv is not loaded' \
	"${FAKE[@]}" DRIVER_OVERRIDE=osp-no-such-drv "$S" config
expect "bad DRIVER_OVERRIDE" 1 "DRIVER_OVERRIDE='a b' is not a driver name" "${FAKE[@]}" DRIVER_OVERRIDE='a b' "$S" config

out=$("${FAKE[@]}" PCI_ALLOWED=0000:00:06.0 "$S" reset 2>&1)
[ "$(cat "$F/bus/pci/devices/0000:00:06.0/driver_override")" = "" ] || fail "reset clears driver_override" "$out"
grep -q '0000:00:06.0: binding to nvme failed' <<<"$out" || fail "reset reports the (fake) failure" "$out"
ok "fake reset: driver_override cleared, re-probe asked, failure reported"

echo "$pass passed, 0 failed"
