#!/usr/bin/env bash
# `make run`: start osprey_tgt serving a RAM disk over NVMe/TCP, print how to
# reach it, and stay in the foreground until Ctrl-C (or SIGTERM).
#
# Settings (environment; the defaults need no hugepages and no root):
#   OSPREY_ADDR      listen address            (127.0.0.1)
#   OSPREY_PORT      NVMe/TCP port             (4420)
#   OSPREY_SIZE_MB   size of the RAM disk, MiB (64)
#   OSPREY_CORES     core mask                 (0x1)
#   OSPREY_NQN       subsystem NQN             (nqn.2016-06.io.spdk:cnode1)
#   OSPREY_RPC_SOCK  RPC socket                (/var/tmp/osprey.sock)
#   OSPREY_CONFIG    a JSON config to load instead of the generated one
#   OSPREY_ARGS      more osprey_tgt options
set -euo pipefail
cd "$(dirname "$0")/.."

ADDR=${OSPREY_ADDR:-127.0.0.1}
PORT=${OSPREY_PORT:-4420}
SIZE_MB=${OSPREY_SIZE_MB:-64}
CORES=${OSPREY_CORES:-0x1}
NQN=${OSPREY_NQN:-nqn.2016-06.io.spdk:cnode1}
SOCK=${OSPREY_RPC_SOCK:-/var/tmp/osprey.sock}

die() { echo "make run: $*" >&2; exit 1; }
[[ $PORT =~ ^[0-9]+$ ]] && [ "$PORT" -ge 1 ] && [ "$PORT" -le 65535 ] ||
	die "OSPREY_PORT=$PORT is not a TCP port (1-65535)"
[[ $SIZE_MB =~ ^[0-9]+$ ]] && [ "$SIZE_MB" -ge 1 ] ||
	die "OSPREY_SIZE_MB=$SIZE_MB is not a size in MiB (a positive integer)"
case $ADDR in
*:*) ADRFAM=IPv6 ;;
*) ADRFAM=IPv4 ;;
esac

if [ -n "${OSPREY_CONFIG:-}" ]; then
	CONFIG=$OSPREY_CONFIG
	[ -r "$CONFIG" ] || die "OSPREY_CONFIG=$CONFIG cannot be read"
else
	CONFIG=$(mktemp /tmp/osprey_run.XXXXXX.json)
	trap 'rm -f "$CONFIG"' EXIT
	# etc/osprey_default.json with the settings above filled in.
	python3 - "$CONFIG" "$ADDR" "$ADRFAM" "$PORT" "$SIZE_MB" "$NQN" <<'PY'
import json, sys
out, addr, adrfam, port, size_mb, nqn = sys.argv[1:]
cfg = json.load(open("etc/osprey_default.json"))
for sub in cfg["subsystems"]:
    for call in sub["config"]:
        p = call.get("params", {})
        if call["method"] == "bdev_malloc_create":
            p["num_blocks"] = int(size_mb) * 1024 * 1024 // p["block_size"]
        if "nqn" in p:
            p["nqn"] = nqn
        if "listen_address" in p:
            p["listen_address"].update(traddr=addr, adrfam=adrfam, trsvcid=port)
json.dump(cfg, open(out, "w"), indent=1)
PY
fi

build/bin/osprey_tgt -m "$CORES" -r "$SOCK" --json "$CONFIG" ${OSPREY_ARGS:-} &
TGT=$!
trap 'kill -TERM $TGT 2>/dev/null' INT TERM

# Wait for the RPC server, then read back what is served.
for _ in $(seq 100); do
	kill -0 $TGT 2>/dev/null || { wait $TGT; exit $?; }
	scripts/rpc.py -s "$SOCK" -t 2 framework_wait_init >/dev/null 2>&1 && break
	sleep 0.1
done
listening=$(scripts/rpc.py -s "$SOCK" nvmf_get_subsystems 2>/dev/null | python3 -c '
import json, sys
for s in json.load(sys.stdin):
    for l in s.get("listen_addresses", []):
        print(" ", s["nqn"], l["traddr"], l["trsvcid"])' || true)

TRID_ADDR=$ADDR
case $ADDR in 0.0.0.0) TRID_ADDR=127.0.0.1 ;; esac
cat <<MSG

Osprey is serving a ${SIZE_MB} MiB RAM disk (bdev Malloc0) over NVMe/TCP.
Listening (subsystem, address, port):
${listening:-(nothing: see the log above)}

Reach it from a Linux host (nvme-cli, kernel nvme-tcp):
  nvme connect -t tcp -a $TRID_ADDR -s $PORT -n $NQN
  nvme disconnect -n $NQN
With Osprey's own initiator tools:
  build/bin/nvme_identify -r 'trtype:TCP adrfam:$ADRFAM traddr:$TRID_ADDR trsvcid:$PORT subnqn:$NQN'
  build/bin/nvme_perf -q 32 -o 4096 -w randread -t 5 -c 0x2 -r 'trtype:TCP adrfam:$ADRFAM traddr:$TRID_ADDR trsvcid:$PORT subnqn:$NQN'
Configure it live over RPC:
  scripts/rpc.py -s $SOCK bdev_get_bdevs
  scripts/rpc.py -s $SOCK bdev_malloc_create -b Malloc1 64 4096
  scripts/rpc.py -s $SOCK nvmf_subsystem_add_ns $NQN Malloc1
  scripts/rpc.py -s $SOCK nvmf_get_subsystems
  scripts/rpc.py -s $SOCK save_config > my_config.json   # OSPREY_CONFIG=my_config.json make run
Ctrl-C stops it.
MSG

set +e
wait $TGT
rc=$?
# A Ctrl-C interrupted the first wait: wait for the daemon's orderly exit.
if kill -0 $TGT 2>/dev/null; then
	wait $TGT
	rc=$?
fi
exit $rc
