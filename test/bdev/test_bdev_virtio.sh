#!/usr/bin/env bash
# End-to-end tests of bdev_virtio (virtio-blk over vhost-user) against
# qemu-storage-daemon (see test_bdev_virtio.py). Skips (exit 0, says so) when
# qemu-storage-daemon is not installed (Debian package qemu-system-common).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python3 test/bdev/test_bdev_virtio.py "$@"
