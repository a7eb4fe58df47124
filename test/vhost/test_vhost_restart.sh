#!/usr/bin/env bash
# A vhost daemon SIGKILLed with requests in flight and restarted: a Python vhost-user front end
# (doing what QEMU does with reconnect=1) gets them back resubmitted (see test_vhost_restart.py).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python3 test/vhost/test_vhost_restart.py "$@"
