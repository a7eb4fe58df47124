#!/usr/bin/env bash
# `make run`: start osprey_tgt with the default configuration in the foreground.
# Override with OSPREY_ARGS (e.g. OSPREY_ARGS="-m 0x3 --json my.json").
set -euo pipefail
cd "$(dirname "$0")/.."
SOCK=${OSPREY_RPC_SOCK:-/var/tmp/osprey.sock}
CONFIG=${OSPREY_CONFIG:-etc/osprey_default.json}
echo "osprey_tgt: RPC socket $SOCK (drive it with: scripts/rpc.py -s $SOCK <method>)"
echo "osprey_tgt: configuration $CONFIG; Ctrl-C stops it"
exec build/bin/osprey_tgt -m "${OSPREY_CORES:-0x1}" -r "$SOCK" --json "$CONFIG" ${OSPREY_ARGS:-}
