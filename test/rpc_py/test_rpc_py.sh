#!/usr/bin/env bash
# Client-side tests of scripts/rpc.py (no daemon needed).
# Prints one line per test and a final "N passed, M failed"; exits non-zero on failure.
# Arguments, if any, select the tests whose names contain one of them.
set -euo pipefail
export PYTHONDONTWRITEBYTECODE=1
exec python3 "$(dirname "${BASH_SOURCE[0]}")/test_rpc_py.py" "$@"
