#!/usr/bin/env bash
# `make install` into a scratch prefix (libraries in a separate libdir), then
# build a small application against the installed headers and libraries with
# pkg-config, run it, drive an installed daemon with the installed rpc.py, and
# `make uninstall` it all again.
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=$(mktemp -d)
tgt_pid=
cleanup() {
	[ -n "$tgt_pid" ] && kill "$tgt_pid" 2>/dev/null && wait "$tgt_pid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
pass=0
ok() { echo "  ok   $1"; pass=$((pass + 1)); }
fail() { echo "  FAIL $1"; echo "$pass passed, 1 failed"; exit 1; }

# CFLAGS / CPPFLAGS / LDFLAGS given to make reach the compiler and the linker.
cmds=$(make -n -B BUILD="$dir/b" CFLAGS=-DOSP_USER_CFLAGS CPPFLAGS=-DOSP_USER_CPPFLAGS \
	LDFLAGS=-Wl,--osp-user-ldflags "$dir/b/bin/nvmf_tgt" 2>/dev/null || true)
# A here-string, not echo | grep -q: grep quits at the first match and, under
# pipefail, the echo it cut off (SIGPIPE) would fail the check.
grep -q -- "-DOSP_USER_CPPFLAGS -DOSP_USER_CFLAGS" <<<"$cmds" || fail "make honors CFLAGS and CPPFLAGS"
grep -q -- "-Wl,--osp-user-ldflags" <<<"$cmds" || fail "make honors LDFLAGS"
ok "make honors CFLAGS, CPPFLAGS and LDFLAGS"

make -s install PREFIX="$dir/prefix" LIBDIR="$dir/prefix/lib64" >/dev/null
for f in bin/osprey_tgt bin/osprey-rpc.py include/osprey/thread.h include/osprey/event.h \
	lib64/libosp_thread.a lib64/libosp_event.a lib64/pkgconfig/osprey.pc \
	share/osprey/scripts/rpc.py share/osprey/scripts/rpc/client.py; do
	[ -e "$dir/prefix/$f" ] || fail "installed: $f"
done
ok "make install puts binaries, headers, libraries (LIBDIR), osprey.pc and rpc.py in place"

# Public headers only, each usable on its own: nothing internal is installed or needed.
[ ! -e "$dir/prefix/include/osprey_internal" ] || fail "include/osprey_internal is not installed"
for h in "$dir"/prefix/include/osprey/*.h; do
	printf '#include "osprey/%s"\n' "$(basename "$h")" |
		gcc -fsyntax-only -std=gnu11 -D_GNU_SOURCE -I"$dir/prefix/include" \
			$(pkg-config --cflags libcjson) -x c - 2>"$dir/hdr.log" ||
		{ cat "$dir/hdr.log"; fail "installed header $(basename "$h") compiles on its own"; }
done
ok "every installed header compiles on its own; internal headers are not installed"
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
export PKG_CONFIG_PATH="$dir/prefix/lib64/pkgconfig"
grep -q "^Requires.private: libcjson" "$PKG_CONFIG_PATH/osprey.pc" || fail "osprey.pc uses Requires.private"
gcc -o "$dir/app" "$dir/app.c" $(pkg-config --cflags osprey) $(pkg-config --static --libs osprey) ||
	fail "an application builds with pkg-config --static osprey"
out=$(timeout 30 "$dir/app" 2>&1)
grep -q "ticks=3 rc=0" <<<"$out" || { echo "$out"; fail "the application runs"; }
ok "an application builds against the installed tree (pkg-config --static) and runs"

# The installed daemon, driven by the installed rpc.py from another directory.
sock="$dir/rpc.sock"
"$dir/prefix/bin/osprey_tgt" -m 0x1 -r "$sock" >"$dir/tgt.log" 2>&1 &
tgt_pid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
cd "$dir"
"$dir/prefix/bin/osprey-rpc.py" -s "$sock" framework_wait_init >/dev/null ||
	fail "the installed rpc.py reaches the installed daemon"
grep -q M0 <<<"$("$dir/prefix/bin/osprey-rpc.py" -s "$sock" bdev_malloc_create -b M0 8 4096)" ||
	fail "the installed rpc.py creates a bdev"
grep -q '"num_blocks": 2048' <<<"$("$dir/prefix/bin/osprey-rpc.py" -s "$sock" bdev_get_bdevs -b M0)" ||
	fail "the installed rpc.py reads it back"
"$dir/prefix/bin/osprey-rpc.py" -s "$sock" spdk_kill_instance SIGTERM >/dev/null
wait "$tgt_pid" || fail "the installed daemon exits cleanly"
tgt_pid=
cd - >/dev/null
ok "the installed rpc.py drives the installed daemon"

make -s uninstall PREFIX="$dir/prefix" LIBDIR="$dir/prefix/lib64" >/dev/null
left=$(find "$dir/prefix" -type f | sed "s|$dir/prefix/||")
[ -z "$left" ] || fail "make uninstall removes every installed file (left: $left)"
ok "make uninstall removes every installed file"
echo "$pass passed, 0 failed"
