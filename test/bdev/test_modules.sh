#!/usr/bin/env bash
# End-to-end test of the bdev modules (malloc, null, passthru, split, delay,
# error) on osprey_tgt; see test_modules.py.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec timeout 600 python3 test/bdev/test_modules.py
