#!/usr/bin/env bash
# End-to-end test of bdev hot remove and resize under vhost-user-blk controllers, and of the
# packed_ring option (see test_vhost_hotplug.py): Osprey's bdev_virtio is the front end.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python3 test/vhost/test_vhost_hotplug.py "$@"
