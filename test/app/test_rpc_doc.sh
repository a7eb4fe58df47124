#!/usr/bin/env bash
# Every registered RPC method is documented in doc/rpc.md, and every documented one exists.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python3 test/app/rpc_doc_e2e.py
