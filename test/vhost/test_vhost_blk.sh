#!/usr/bin/env bash
# End-to-end test of the vhost target's vhost-user-blk controllers (see test_vhost_blk.py):
# the vhost app serves a malloc bdev, Osprey's own vhost-user front end (bdev_virtio) attaches.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python3 test/vhost/test_vhost_blk.py "$@"
