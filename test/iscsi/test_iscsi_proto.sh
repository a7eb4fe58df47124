#!/usr/bin/env bash
# Black-box iSCSI protocol conformance and robustness test of iscsi_tgt,
# written from RFC 7143 (raw PDUs from Python); see
# test/iscsi/proto/test_iscsi_proto.py. OSPREY_BIN_DIR picks the binaries
# (default build/bin). Extra arguments go to the test (--target tgtd runs it
# against Debian's tgtd instead, to calibrate it).
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${OSPREY_BIN_DIR:-build/bin}/iscsi_tgt
if [ ! -x "$bin" ] && ! ls lib/iscsi/*.c >/dev/null 2>&1 && [[ " $* " != *" --target tgtd "* ]]; then
	# TEMPORARY (remove once lib/iscsi lands): neither the target nor its
	# sources exist yet in this tree, so there is nothing to test.
	echo "test_iscsi_proto: no $bin and no lib/iscsi/*.c in this tree: iscsi_tgt not built yet, nothing to test"
	exit 0
fi
# the client's own encoding checks (CRC32C vectors, PDU layouts) first
python3 test/iscsi/proto/iscsi_wire.py >/dev/null || { python3 test/iscsi/proto/iscsi_wire.py; exit 1; }
exec timeout 400 python3 test/iscsi/proto/test_iscsi_proto.py "$@"
