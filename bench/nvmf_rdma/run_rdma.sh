#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# NVMe-oF over RDMA benchmark, in one QEMU guest (TCG) with soft-RoCE
# (rdma_rxe on the guest's virtio-net): Osprey's nvmf_tgt (one reactor, a null
# bdev) and the guest kernel's NVMe-oF target (nvmet, a null_blk namespace),
# side by side in one run, each over RDMA and over TCP, the same Osprey
# nvme_perf as the host. Cases: 4 KiB randread qd32 and 128 KiB sequential
# read qd8; the four targets alternate within each case, ROUNDS rounds.
# For each: IOPS, MiB/s, the guest's busy CPU time outside nvme_perf per I/O
# (the target plus the soft-RoCE/TCP stack of both sides), nvme_perf's own CPU
# per I/O and, for Osprey, nvmf_tgt's own CPU per I/O; medians with [min-max]
# over the rounds, and Osprey/nvmet ratios. Then one JSON line per case.
#
#   bench/nvmf_rdma/run_rdma.sh [-t SECONDS] [-n ROUNDS]  (default 10 s, 3 rounds)
#   env: OSPREY_BIN_DIR, OSPREY_GUEST_DIR (guest cache, default build/guest)
#
# Under TCG every packet's ICRC and every copy is computed by an emulated CPU:
# absolute figures are low and noisy; the ratios and the per-I/O CPU are what
# count. Runs one guest; stops only what it started.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
export LC_ALL=C
SECS=10
ROUNDS=3
while [ $# -gt 0 ]; do
	case "$1" in
	-t) SECS=$2; shift 2 ;;
	-n) ROUNDS=$2; shift 2 ;;
	*) echo "usage: $0 [-t SECONDS] [-n ROUNDS]" >&2; exit 2 ;;
	esac
done
BIN_DIR=${OSPREY_BIN_DIR:-$ROOT/build/bin}
GUEST_TIMEOUT=$(( (SECS + 15) * 8 * ROUNDS + 300 ))
# shellcheck source=test/common/guest/guest.sh
. "$ROOT/test/common/guest/guest.sh"
log() { echo "nvmf_rdma bench: $*"; }
TGT_LABEL=nvmet
# shellcheck source=test/common/guest/ki_host.sh
. "$ROOT/test/common/guest/ki_host.sh"
grep -q '^CONFIG_RDMA := y' "$ROOT/mk/config.mk" 2>/dev/null || die "built without RDMA (configure found no libibverbs/librdmacm)"
ki_tmp osp_rdma_bench
ki_need_tools qemu-system-x86_64 cpio gzip strip ldd
for b in nvme_perf nvmf_tgt; do
	[ -x "$BIN_DIR/$b" ] || die "no $BIN_DIR/$b: build first (make)"
done

guest_build "$ROOT/test/nvmf/rdma/guest/profile" || die "could not build the guest"
L=$TMP/layer
mkdir -p "$L/ki"
guest_add_programs "$L" osprey/bin "$BIN_DIR/nvme_perf" "$BIN_DIR/nvmf_tgt" || die "cannot copy nvme_perf and nvmf_tgt into the guest layer"
install -m 0755 "$ROOT/bench/nvmf_rdma/guest_bench.sh" "$L/ki/test.sh"
install -m 0644 "$ROOT/test/nvmf/rdma/guest/rdma_lib.sh" "$L/ki/rdma_lib.sh"
printf 'BENCH_SECS=%s\nBENCH_ROUNDS=%s\n' "$SECS" "$ROUNDS" > "$L/ki/env"
GUEST_MEM=1280M
guest_run "$L" "$TMP/guest.log" "$(ms)" > /dev/null
[ "$(guest_result)" = PASS ] || die "guest: $(guest_result)"

grep '^OSPREY-BENCH' "$GUEST_TXT" > "$TMP/bench.txt"
python3 - "$TMP/bench.txt" <<'PY'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) != 11:
        continue
    _, tgt, tr, wl, sz, q, iops, mibs, oc, pc, tc = f
    k = (tr, wl, int(sz), int(q.lstrip('q')), tgt)
    runs.setdefault(k, []).append((float(iops), float(mibs), float(oc), float(pc), None if tc == '-' else float(tc)))
def med(v):
    v = [x for x in v if x is not None]
    return (statistics.median(v), min(v), max(v)) if v else None
def fmt(m, d=0):
    return '-' if m is None else ('%.*f [%.*f-%.*f]' % (d, m[0], d, m[1], d, m[2]))
print()
print('%-5s %-16s %-7s %24s %10s %22s %22s %20s' % ('tr', 'case', 'target', 'IOPS median [range]', 'MiB/s', 'other CPU us/IO', 'nvmf_tgt CPU us/IO', 'nvme_perf us/IO'))
out = []
for k in sorted(runs):
    tr, wl, sz, q, tgt = k
    r = runs[k]
    mi, mm, mo, mp, mt = (med([x[i] for x in r]) for i in range(5))
    print('%-5s %-16s %-7s %24s %10.1f %22s %22s %20s' % (tr, '%s %dk q%d' % (wl, sz // 1024, q), tgt, fmt(mi), mm[0], fmt(mo, 1), fmt(mt, 1), fmt(mp, 1)))
    out.append({'bench': 'nvmf_rdma', 'target': tgt, 'transport': tr, 'workload': wl, 'io_size': sz, 'qd': q,
                'rounds': len(r), 'iops_median': mi[0], 'iops_min': mi[1], 'iops_max': mi[2], 'mibs_median': mm[0],
                'other_cpu_us_per_io': mo[0], 'perf_cpu_us_per_io': mp[0], 'tgt_cpu_us_per_io': None if mt is None else mt[0]})
print()
for tr in ('RDMA', 'TCP'):
    for wl, sz, q in sorted({(k[1], k[2], k[3]) for k in runs if k[0] == tr}):
        o, n = runs.get((tr, wl, sz, q, 'osprey')), runs.get((tr, wl, sz, q, 'nvmet'))
        if o and n:
            print('%s %s %dk q%d: Osprey/nvmet IOPS %.2fx, other CPU per I/O %.2fx' % (tr, wl, sz // 1024, q,
                  statistics.median([x[0] for x in o]) / max(statistics.median([x[0] for x in n]), 1e-9),
                  statistics.median([x[2] for x in o]) / max(statistics.median([x[2] for x in n]), 1e-9)))
print()
for o in out:
    print(json.dumps(o))
PY
