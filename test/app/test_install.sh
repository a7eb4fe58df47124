#!/usr/bin/env bash
# `make install` into a scratch prefix, then build a small application
# against the installed headers and libraries with pkg-config, and run it.
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
make -s install PREFIX="$dir/prefix" >/dev/null
for f in bin/osprey_tgt include/osprey/thread.h include/osprey/event.h lib/libosp_thread.a \
	lib/libosp_event.a lib/pkgconfig/osprey.pc; do
	[ -e "$dir/prefix/$f" ] || { echo "missing after install: $f"; exit 1; }
done
cat > "$dir/app.c" <<'C'
#include <stdio.h>
#include "osprey/event.h"

static int g_count;
static struct osp_poller *g_poller;

static int
tick(void *arg)
{
	if (++g_count == 3) {
		osp_poller_unregister(&g_poller);
		osp_app_stop(0);
	}
	return OSP_POLLER_BUSY;
}

static void
start(void *ctx)
{
	g_poller = osp_poller_register(tick, NULL, 1000);
}

int
main(int argc, char **argv)
{
	struct osp_app_opts opts;
	int rc;

	osp_app_opts_init(&opts, sizeof(opts));
	opts.name = "install_test";
	opts.rpc_addr = NULL;
	opts.no_huge = true;
	opts.mem_size = 128;
	rc = osp_app_start(&opts, start, NULL);
	osp_app_fini();
	printf("ticks=%d rc=%d\n", g_count, rc);
	return rc;
}
C
export PKG_CONFIG_PATH="$dir/prefix/lib/pkgconfig"
gcc -o "$dir/app" "$dir/app.c" $(pkg-config --cflags osprey) $(pkg-config --libs osprey)
out=$(timeout 30 "$dir/app" 2>&1)
echo "$out"
echo "$out" | grep -q "ticks=3 rc=0"
echo "1 passed, 0 failed"
