#!/usr/bin/env bash
# A vhost-user device whose front end starts only some of its queues (as SeaBIOS does with a
# vhost-user-scsi-pci disk): vhost starts it with the rings it has (see test_vhost_partial.py).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python3 test/vhost/test_vhost_partial.py "$@"
