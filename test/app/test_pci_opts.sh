#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The app framework's PCI options on this host (no NVMe device needed):
# -A / -a / --pci-allowed and -B / --pci-blocked take PCI addresses (bad ones
# and too many are refused with a message), imply --pci, and a daemon given
# them starts (the env's PCI layer with its lists, the EAL with -a) and stops
# cleanly. Opening real devices: test/nvme/test_pcie_guest.sh.
set -uo pipefail
cd "$(dirname "$0")/../.."
B=${OSPREY_BIN_DIR:-build/bin}
T=$(mktemp -d /tmp/osp_pci_opts.XXXXXX)
PID=
cleanup() {
	[ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
pass=0
ok() { echo "  ok   $1"; pass=$((pass + 1)); }
fail() { echo "  FAIL $1"; [ -n "${2:-}" ] && echo "$2" | sed 's/^/    | /'; echo "$pass passed, 1 failed"; exit 1; }
[ -x "$B/nvmf_tgt" ] || fail "no $B/nvmf_tgt: build first (make)"

refused() { # name regex args...
	local name=$1 re=$2 out rc
	shift 2
	out=$(timeout 20 "$B/nvmf_tgt" -r "$T/x.sock" "$@" 2>&1)
	rc=$?
	[ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "$name: exit $rc, expected a refusal" "$out"
	grep -qE -- "$re" <<<"$out" || fail "$name: no /$re/" "$out"
	ok "$name"
}
refused "-A with a device number out of range" "invalid PCI address '0000:00:20.0'" -A 0000:00:20.0
refused "--pci-allowed with garbage" "invalid PCI address 'nvme0'" --pci-allowed nvme0
refused "-B with a bad function" "invalid PCI address '00:04.8'" -B 00:04.8
many=()
for i in $(seq 0 16); do many+=(-a "0000:00:$(printf %02x "$i").0"); done
refused "17 allowed addresses" 'at most 16 PCI addresses with -a' "${many[@]}"
"$B/nvmf_tgt" -h > "$T/help" 2>&1
grep -q -- '-A, --pci-allowed <bdf>' "$T/help" && grep -q -- '-B, --pci-blocked <bdf>' "$T/help" ||
	fail "-h lists -A/--pci-allowed and -B/--pci-blocked" "$(cat "$T/help")"
ok "-h lists the options"

# Allowed and blocked lists together, short and long forms: the daemon runs.
"$B/nvmf_tgt" -r "$T/rpc.sock" -A 0000:00:04.0 -a 00:05.0 --pci-allowed 0000:00:06.0 \
	-B 0000:00:07.0 --pci-blocked 0000:00:08.0 > "$T/log" 2>&1 &
PID=$!
for _ in $(seq 200); do
	grep -q 'ready, RPC socket' "$T/log" && break
	kill -0 "$PID" 2>/dev/null || break
	sleep 0.1
done
grep -q 'ready, RPC socket' "$T/log" || fail "nvmf_tgt with PCI lists did not start" "$(cat "$T/log")"
kill -TERM "$PID"
rc=
for _ in $(seq 100); do
	if ! kill -0 "$PID" 2>/dev/null; then
		wait "$PID"
		rc=$?
		break
	fi
	sleep 0.1
done
PID=
[ "$rc" = 0 ] || fail "nvmf_tgt with PCI lists: exit '$rc' on SIGTERM" "$(cat "$T/log")"
ok "a daemon with -A/-a/--pci-allowed and -B/--pci-blocked starts and stops cleanly"
echo "$pass passed, 0 failed"
