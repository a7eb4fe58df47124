#!/usr/bin/env bash
# The layer-cost benchmark's shim (bench/bdev/null_direct) still builds against
# today's null module and runs: an API change must not silently drop the figure.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash bench/bdev/null_direct/build.sh build
out=$(timeout 60 build/bench/null_direct -t 1 -q 32)
echo "$out"
if echo "$out" | grep -Eq "^null_direct: [0-9]+ IOPS, .*, 0 failed\\)"; then
	echo "1 passed, 0 failed"
else
	echo "0 passed, 1 failed"
	exit 1
fi
