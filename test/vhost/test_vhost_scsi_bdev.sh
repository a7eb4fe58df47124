#!/usr/bin/env bash
# Osprey's virtio-scsi front end (bdev_virtio -d scsi) against Osprey's
# vhost-user-scsi target (see test_vhost_scsi_bdev.py).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python3 test/vhost/test_vhost_scsi_bdev.py "$@"
