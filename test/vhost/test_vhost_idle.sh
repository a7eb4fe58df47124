#!/usr/bin/env bash
# The vhost target's reactor rule and coalescing (see test_vhost_idle.py): an idle
# controller with a connected front end costs < 5 % CPU, kicks wake it, no lost wake-ups.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python3 test/vhost/test_vhost_idle.py "$@"
