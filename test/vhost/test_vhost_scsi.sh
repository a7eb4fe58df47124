#!/usr/bin/env bash
# End-to-end test of the vhost target's vhost-user-scsi controllers (see test_vhost_scsi.py):
# the vhost app serves malloc, delay and null bdevs as SCSI targets to a small vhost-user-scsi
# front end written in Python (test/vhost/vhost_user_client.py).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python3 test/vhost/test_vhost_scsi.py "$@"
