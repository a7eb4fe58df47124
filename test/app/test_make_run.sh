#!/usr/bin/env bash
# `make run` serves storage: the default target is reachable with the commands it prints.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python3 test/app/make_run_e2e.py
