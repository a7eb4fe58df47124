#!/usr/bin/env bash
# End-to-end tests of bdevperf and the aio/uring bdev modules (see test_bdevperf.py).
# Usage: test/bdev/test_bdevperf.sh [case ...]   (e.g. aio_verify error_injection)
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python3 test/bdev/test_bdevperf.py "$@"
