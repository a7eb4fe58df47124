#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The env's PCI layer and scripts/setup.sh on QEMU's NVMe controllers, in a
# q35 guest under TCG (no KVM needed), booted once:
#   C0  -device nvme,id=nvme0,serial=osp0 (one namespace, 64 MiB)
#   C1  -device nvme,id=nvme1,serial=osp1,cmb_size_mb=1 + two nvme-ns (8 MiB each):
#       a 1 MiB controller memory buffer, where the driver puts its I/O SQs
#   each behind its own pcie-root-port (hot-pluggable; the guest finds them by
#   serial), QMP on a socket: the host removes both (device_del) when the
#   guest asks, while pci_probe holds them
#   VT-d: -device intel-iommu,intremap=on,aw-bits=48, guest intel_iommu=on
#   iommu=pt (C0 does DMA with physical addresses through uio_pci_generic
#   while C1 is in a VFIO domain).
# In the guest (test/nvme/guest/pcie_test.sh): setup.sh status / config (C0 ->
# uio_pci_generic, C1 -> vfio-pci after being skipped while its namespace was
# swap) / reset; build/test/nvme/pci_probe on both controllers (IOVA = PA),
# on C1 alone (IOVA = VA, with and without hugepages), refused on C0 without
# hugepages; Identify through env DMA memory must return each serial; no DMA
# fault in the guest's kernel log nor in QEMU's; after reset the kernel reads
# back what the host wrote; then the surprise removal of both controllers
# while attached is reported to pci_probe through the env. The guest (kernel + initramfs) is cached in
# $OSPREY_GUEST_DIR (build/guest) by test/common/guest/build.sh with
# test/nvme/guest/profile; Osprey's programs come in a per-run layer.
#
# Env: OSPREY_BIN_DIR    Osprey's binaries (default build/bin)
#      OSPREY_GUEST_DIR  guest cache (default build/guest)
#      PCIE_TIMEOUT      seconds for the guest run (default 240)
#      KI_KEEP=1         keep the temp dir (guest log, disk images)
#      PCIE_BENCH=N      also run N rounds of the guest benchmark (kernel nvme +
#                        io_uring vs Osprey's nvme_perf on C0; bench/nvme_pcie/run_guest.sh)
#      PCIE_BENCH_SECS   seconds per benchmark run (default 10)
#      PCIE_SELFTEST=nobm|data  break one thing on purpose: the test must then
#                        FAIL (nobm: pci_probe clears bus mastering before its
#                        Identify on the vfio controller; data: the guest
#                        expects other data than the host wrote)
#      OSPREY_SKIP_QEMU=1 (or OSPREY_PKGDEP_QEMU=0) skip: no QEMU wanted here
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
export LC_ALL=C

BIN_DIR=${OSPREY_BIN_DIR:-$ROOT/build/bin}
PROBE=${OSPREY_PCI_PROBE:-$(dirname "$BIN_DIR")/test/nvme/pci_probe}
TIMEOUT=${PCIE_TIMEOUT:-240}
GUEST_TIMEOUT=$TIMEOUT
# shellcheck source=test/common/guest/guest.sh
. "$ROOT/test/common/guest/guest.sh"
log() { echo "nvme pcie guest: $*"; }
TGT_LABEL=qemu
# shellcheck source=test/common/guest/ki_host.sh
. "$ROOT/test/common/guest/ki_host.sh"
ki_skip_without_qemu
ki_tmp osp_pcie
ki_need_tools qemu-system-x86_64 cpio gzip strip ldd
[ -x "$PROBE" ] || die "no $PROBE: build first (make)"
[ -x "$BIN_DIR/nvme_identify" ] || die "no $BIN_DIR/nvme_identify: build first (make)"


# ---- 1. the guest (cached) and this run's layer ---------------------------------
t=$(ms)
guest_build "$ROOT/test/nvme/guest/profile" || die "could not build the guest (test/common/guest/build.sh test/nvme/guest/profile)"
L=$TMP/layer
mkdir -p "$L/ki"
guest_add_programs "$L" osprey/bin "$BIN_DIR"/* "$PROBE" "$(dirname "$PROBE")/rpc_uds" "$(dirname "$PROBE")/uring_perf" || die "cannot copy Osprey's programs into the guest layer"
install -m 0755 "$ROOT/scripts/setup.sh" "$L/osprey/bin/setup.sh"
install -m 0755 "$ROOT/test/nvme/guest/pcie_test.sh" "$L/ki/test.sh"
phase "guest-image" "$t"

# ---- 2. disks: C0's first MiB is random (read back after reset) -----------------------
head -c 1048576 /dev/urandom > "$TMP/pattern.bin"
truncate -s 64M "$TMP/n0.img"
dd if="$TMP/pattern.bin" of="$TMP/n0.img" conv=notrunc status=none
truncate -s 8M "$TMP/n1a.img" "$TMP/n1b.img"
ki_pick_port 14420 20
NVMF_PORT=$PORT
ki_pick_port $((NVMF_PORT + 1)) 20
DONE_PORT=$PORT
NVMF_NQN=nqn.2016-06.io.osprey:pcie-guest
cat > "$L/ki/env" <<EOF
NVMF_NQN=$NVMF_NQN
HUGEMEM=512
PATTERN_MD5=$(md5sum < "$TMP/pattern.bin" | cut -d' ' -f1)
SELFTEST=${PCIE_SELFTEST:-}
BENCH_ROUNDS=${PCIE_BENCH:-0}
BENCH_SECS=${PCIE_BENCH_SECS:-10}
EOF
if [ "${PCIE_SELFTEST:-}" = data ]; then
	sed -i 's/^PATTERN_MD5=.*/PATTERN_MD5=0123456789abcdef0123456789abcdef/' "$L/ki/env"
fi

# ---- 3. the guest run ------------------------------------------------------------------
t=$(ms)
GUEST_MEM=1280M
# (no_timer_check, against boot panics of the IO-APIC timer check under load,
# is on every guest's command line: test/common/guest/guest.sh)
GUEST_EXTRA_APPEND="intel_iommu=on iommu=pt"
# Hot-pluggable: each controller behind its own PCIe root port.
GUEST_QEMU_ARGS=(
	-machine kernel-irqchip=split
	-device intel-iommu,intremap=on,aw-bits=48
	-qmp "unix:$TMP/qmp.sock,server=on,wait=off"
	-device pcie-root-port,id=rp0,chassis=1,slot=1,addr=0x4
	-device pcie-root-port,id=rp1,chassis=2,slot=2,addr=0x5
	-drive "file=$TMP/n0.img,if=none,id=n0,format=raw"
	-device nvme,id=nvme0,serial=osp0,drive=n0,bus=rp0
	-drive "file=$TMP/n1a.img,if=none,id=n1a,format=raw"
	-drive "file=$TMP/n1b.img,if=none,id=n1b,format=raw"
	-device nvme,id=nvme1,serial=osp1,bus=rp1,cmb_size_mb=1
	-device nvme-ns,drive=n1a,bus=nvme1,nsid=1
	-device nvme-ns,drive=n1b,bus=nvme1,nsid=2
)
GUEST_HOSTFWD="hostfwd=tcp:127.0.0.1:$NVMF_PORT-:4420,hostfwd=tcp:127.0.0.1:$DONE_PORT-:4421"
# The host's part of the guest's steps, as the guest asks on its console:
#   OSPREY-NVMF-READY     nvme_perf -V over NVMe/TCP to the guest's nvmf_tgt
#                         (hostfwd), the verdict sent to the guest's port 4421
#   OSPREY-UNPLUG ids...  QMP device_del of those devices
python3 - "$TMP/guest.log" "$TMP/qmp.sock" "$TIMEOUT" "$BIN_DIR/nvme_perf" "$NVMF_PORT" "$DONE_PORT" \
	"$NVMF_NQN" > "$TMP/host_steps.log" 2>&1 <<'PY' &
import json, os, re, socket, subprocess, sys, time
log, sock, deadline = sys.argv[1], sys.argv[2], time.time() + int(sys.argv[3])
perf, port, done_port, nqn = sys.argv[4], sys.argv[5], int(sys.argv[6]), sys.argv[7]
def console():
    try:
        return open(log, errors='replace').read()
    except OSError:
        return ''
ids = None
nvmf_done = False
while time.time() < deadline and ids is None:
    text = console()
    if not nvmf_done and 'OSPREY-NVMF-READY' in text:
        nvmf_done = True
        trid = 'trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:%s subnqn:%s' % (port, nqn)
        verdict = 'PASS'
        # Slow here (TCG, slirp twice): ~130 IOPS at q1. The first run writes
        # the pattern over both (small) namespaces in 128 KiB I/Os and checks
        # it; the second, at q1 in 4 KiB, checks against it (--no-prefill).
        seed = str(int(time.time()) & 0xffffff)
        for q, o, extra in (('16', '131072', []), ('1', '4096', ['--no-prefill'])):
            cmd = [perf, '-r', trid, '-q', q, '-o', o, '-w', 'randrw', '-V', '--seed', seed, '-t', '6'] + extra
            try:
                r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
                out = r.stdout + r.stderr
                print('$ %s\n%s' % (' '.join(cmd), out), flush=True)
                tot = [l for l in out.splitlines() if l.startswith('Total')]
                if r.returncode != 0 or not re.search(r'Verify: .* 0 miscompares', out):
                    verdict = 'FAIL nvme_perf -q %s -o %s exit %d: %s' % (q, o, r.returncode, ' '.join(out.split())[-200:])
                    break
                verdict += ' q%s/%sB %s;' % (q, o, ' '.join(tot[0].split()[2:4]) if tot else '?')
            except subprocess.TimeoutExpired:
                verdict = 'FAIL nvme_perf -q %s -o %s timed out' % (q, o)
                break
        for _ in range(50):
            try:
                c = socket.create_connection(('127.0.0.1', done_port), timeout=5)
                c.sendall((verdict + '\n').encode())
                c.close()
                break
            except OSError:
                time.sleep(0.2)
        print('verdict:', verdict, flush=True)
    m = re.search(r'OSPREY-UNPLUG ([\w ]+)', text)
    ids = m.group(1).split() if m else None
    time.sleep(0.2)
if ids is None:
    sys.exit(0)
s = socket.socket(socket.AF_UNIX)
s.connect(sock)
f = s.makefile('rw')
f.readline()
def cmd(c, **args):
    f.write(json.dumps({'execute': c, 'arguments': args}) + '\n'); f.flush()
    while True:
        r = json.loads(f.readline())
        if 'return' in r or 'error' in r:
            return r
print(cmd('qmp_capabilities'))
for i in ids:
    print(i, cmd('device_del', id=i))
PY
UPID=$!
guest_run "$L" "$TMP/guest.log" "$t"
qrc=$?
kill "$UPID" 2>/dev/null
wait "$UPID" 2>/dev/null
grep -E '^verdict:|^\{|^nvme[0-9]' "$TMP/host_steps.log" | sed 's/^/  host: /'
phase "guest-run" "$t"
ki_guest_passed "$qrc"
# QEMU 7.2 completes a command whose DMA the IOMMU blocked with status 0: its
# own log line is the evidence.
if grep -q 'detected translation failure' "$GUEST_TXT"; then
	die "QEMU reported a blocked DMA (vtd_iommu_translate): $(grep -m3 'translation failure' "$GUEST_TXT")"
fi
grep 'OSPREY-STEP' "$GUEST_TXT" | sed 's/^.*OSPREY-STEP /  /'
grep 'OSPREY-BENCH' "$GUEST_TXT" | sed 's/^.*OSPREY-BENCH /  bench: /'
log "PASS in $(secs "$T_START" "$(ms)") (${PHASES[*]/%/;})"
exit 0
