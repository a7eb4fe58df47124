#!/usr/bin/env bash
# Black-box test of the vhost target against a hostile vhost-user-blk front end
# (test/vhost/hostile/vhost_hostile.c; see test_vhost_hostile.py). Under ASan:
#   OSPREY_BIN_DIR=build/san/bin test/vhost/test_vhost_hostile.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python3 test/vhost/test_vhost_hostile.py "$@"
