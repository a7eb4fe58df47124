#!/usr/bin/env bash
# Build null_direct (see null_direct.c) into BUILD/bench/null_direct: the null
# module's library with the shim in null_direct.c standing in for lib/bdev, so
# it cannot go through the Makefile's declared closures (bdev_null declares bdev).
#   bench/bdev/null_direct/build.sh [BUILD]     (default build; libraries must exist)
set -euo pipefail
cd "$(dirname "$0")/../../.."
B=${1:-build}
[ -f "$B/lib/libosp_bdev_null.a" ] || { echo "null_direct: no $B/lib/libosp_bdev_null.a (run make first)" >&2; exit 1; }
mkvar() { make -s --no-print-directory BUILD="$B" --eval 'osp-print-%: ; @echo $($*)' "osp-print-$1"; }
mkdir -p "$B/bench" "$B/obj/bench/bdev/null_direct"
# shellcheck disable=SC2046
gcc $(mkvar CFLAGS_COMMON) -Wno-missing-prototypes -c bench/bdev/null_direct/null_direct.c \
	-o "$B/obj/bench/bdev/null_direct/null_direct.o"
# shellcheck disable=SC2046
gcc -o "$B/bench/null_direct" "$B/obj/bench/bdev/null_direct/null_direct.o" -L"$B/lib" \
	-Wl,--whole-archive -losp_bdev_null -Wl,--no-whole-archive \
	-Wl,--start-group -losp_util -losp_log -losp_env_dpdk -losp_thread -losp_json \
	-losp_jsonrpc -losp_rpc -Wl,--end-group $(mkvar SYS_LIBS)
