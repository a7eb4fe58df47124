#!/usr/bin/env bash
# Declared layers (mk/deps.mk): every program links only the closure of what it
# declares, `make check-deps` holds, and both ways of catching an undeclared
# dependency (the nm check and the link itself) do fail when one is taken away.
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${BUILD:-build}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
pass=0
ok() { echo "  ok   $1"; pass=$((pass + 1)); }
fail() { echo "  FAIL $1"; echo "$pass passed, 1 failed"; exit 1; }

out=$(make -s -j"${JOBS:-2}" BUILD="$B" check-deps 2>&1) || { echo "$out"; fail "make check-deps"; }
ok "make check-deps: every app, bench and unit test links its declared closure; nm agrees"

# carries <binary> <lib>: the binary holds a symbol libosp_<lib>.a defines (linked whole).
carries() {
	local sym
	sym=$(nm -g --defined-only "$B/lib/libosp_$2.a" | awk 'NF == 3 { print $3; exit }')
	[ -n "$sym" ] || fail "libosp_$2.a defines a symbol"
	nm "$B/bin/$1" | awk -v s="$sym" '$3 == s { f = 1 } END { exit !f }'
}
for l in nvme nvme_tcp_codec sock sock_posix; do
	carries nvme_identify "$l" || fail "nvme_identify carries the host ($l)"
done
for l in nvmf bdev bdev_malloc; do
	! carries nvme_identify "$l" || fail "nvme_identify does not carry the target ($l)"
	! carries nvme_perf "$l" || fail "nvme_perf does not carry the target ($l)"
done
ok "nvme_identify and nvme_perf carry the NVMe/TCP host, not nvmf or bdev"
! carries bdevperf nvmf || fail "bdevperf does not carry nvmf"
for l in nvmf bdev_malloc bdev_aio sock_posix; do
	carries nvmf_tgt "$l" || fail "nvmf_tgt carries $l"
done
for l in $(make -s BUILD="$B" --eval 'osp-print-%: ; @echo $($*)' osp-print-ALL_LIBS); do
	carries osprey_tgt "$l" || fail "osprey_tgt carries every library ($l)"
done
ok "nvmf_tgt carries the target, bdev modules and sockets; osprey_tgt every library"

# Take nvme_tcp_codec's one declared dependency away: the nm check names library and symbol.
if out=$(make -s BUILD="$B" check-deps DEPDIRS-nvme_tcp_codec= 2>&1); then
	fail "check-deps fails when nvme_tcp_codec does not declare util"
fi
grep -q "libosp_nvme_tcp_codec.a uses osp_[a-z0-9_]*, defined in libosp_util.a" <<<"$out" ||
	{ echo "$out"; fail "check-deps names the library, the symbol and where it is defined"; }
ok "check-deps fails naming the library and symbol of an undeclared dependency"

# Take nvme_tcp_codec out of nvme's declaration: nvme_identify no longer links.
cp -a "$B/lib" "$B/obj" "$dir/"
if out=$(make -s BUILD="$dir" DEPDIRS-nvme="log sock util" "$dir/bin/nvme_identify" 2>&1); then
	fail "nvme_identify fails to link when nvme does not declare nvme_tcp_codec"
fi
grep -q "undefined reference to .osp_nvme_tcp" <<<"$out" ||
	{ echo "$out" | tail -20; fail "the link error names the missing codec symbol"; }
ok "a library using an undeclared one fails to link"
echo "$pass passed, 0 failed"
