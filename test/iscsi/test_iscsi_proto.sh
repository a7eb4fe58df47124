#!/usr/bin/env bash
# Black-box iSCSI protocol conformance and robustness test of iscsi_tgt,
# written from RFC 7143 (raw PDUs from Python); see
# test/iscsi/proto/test_iscsi_proto.py. OSPREY_BIN_DIR picks the binaries
# (default build/bin). Extra arguments go to the test (--target tgtd runs it
# against Debian's tgtd instead, to calibrate it).
set -euo pipefail
cd "$(dirname "$0")/../.."
# the client's own encoding checks (CRC32C vectors, PDU layouts) first
python3 test/iscsi/proto/iscsi_wire.py >/dev/null || { python3 test/iscsi/proto/iscsi_wire.py; exit 1; }
exec timeout 400 python3 test/iscsi/proto/test_iscsi_proto.py "$@"
