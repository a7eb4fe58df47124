#!/usr/bin/env bash
# LUN resize and hot remove with I/O in flight, seen by an iSCSI initiator
# (see the .py).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec timeout 300 python3 test/iscsi/test_iscsi_hotplug.py
