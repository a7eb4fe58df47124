#!/usr/bin/env bash
# libiscsi's conformance suite (iscsi-test-cu -t ALL --dataloss, Debian
# package libiscsi-bin) against iscsi_tgt: a thin-provisioned LUN on a malloc
# bdev and one on an aio bdev over a file. Passes with 0 failures and at
# least 200 tests passed per LUN kind; see test/iscsi/libiscsi/run_libiscsi.py
# (--target tgtd calibrates against tgt) and test/iscsi/libiscsi/README.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v iscsi-test-cu > /dev/null; then
	echo "test_libiscsi: iscsi-test-cu not found (Debian package libiscsi-bin; scripts/pkgdep.sh)"
	echo "0 passed, 1 failed"
	exit 1
fi
exec timeout 480 python3 test/iscsi/libiscsi/run_libiscsi.py "$@"
