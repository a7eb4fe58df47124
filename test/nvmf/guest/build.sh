#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Build (or reuse) the cached test guest for the kernel initiator tests:
#   $GUEST_DIR/vmlinux           Debian's kernel, uncompressed ELF: QEMU enters it
#                                through PVH, which boots about twice as fast under
#                                TCG as the XZ bzImage (kept as vmlinuz if the
#                                extraction fails)
#   $GUEST_DIR/initramfs.cpio.gz busybox-static + the nvme-tcp and virtio-net
#                                modules (with their dependencies) + guest/init
#   $GUEST_DIR/kver              the kernel release
# The kernel is Debian's linux-image-amd64 of the configured repositories:
# 'apt-get download' + 'dpkg-deb -x' of its versioned package, not installed
# (an install spends minutes regenerating an unused /boot initramfs).
# Nothing is downloaded when the cache is complete; the initramfs is rebuilt
# when this script, guest/init or busybox change.
#
# Usage: test/nvmf/guest/build.sh [GUEST_DIR]   (default $OSPREY_GUEST_DIR or build/guest)
# Env:   OSPREY_GUEST_KPKG  kernel package to use (default: what linux-image-amd64 depends on)
# Needs: apt-get, dpkg-deb, busybox-static, cpio, gzip, xz-utils, python3, flock.
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
GUEST_DIR=${1:-${OSPREY_GUEST_DIR:-$ROOT/build/guest}}
BUSYBOX=${BUSYBOX:-/bin/busybox}
# Modules the guest loads, in this order after their dependencies. nvme-tcp's
# digests use the crypto API's crc32c; crc-t10dif/crc64-rocksoft (for t10-pi,
# a dependency of nvme-core) want a crct10dif/crc64 provider as soft deps.
MODULES=(crc32c_generic crc32c-intel crct10dif_generic crc64_rocksoft_generic
	 nvme-core nvme-fabrics nvme-tcp virtio_pci virtio_net)
# The Linux kernel's own target, loaded only by the reference mode of the
# test (KI_REFERENCE=1: the same guest steps against nvmet-tcp in the guest).
REF_MODULES=(configfs nvmet nvmet-tcp)
# The parts of the kernel's module tree kept in the cache (a change refetches).
MODSET="kernel/drivers/nvme kernel/drivers/net/virtio_net.ko* kernel/drivers/net/net_failover.ko*
	kernel/net/core kernel/drivers/virtio kernel/crypto kernel/arch/x86/crypto kernel/lib
	kernel/block kernel/fs/configfs"

die() { echo "guest/build.sh: $*" >&2; exit 1; }
ms() { echo $(( ${EPOCHREALTIME/./} / 1000 )); }

mkdir -p "$GUEST_DIR"
GUEST_DIR=$(cd "$GUEST_DIR" && pwd)
# Two test runs may build at once (make check and a developer): one builds.
exec 9>"$GUEST_DIR/.lock"
flock -w 600 9 || die "timed out waiting for $GUEST_DIR/.lock"

# Static means no PT_INTERP program header ('file' may not be installed).
is_static() {
	python3 - "$1" <<'PY'
import struct, sys
d = open(sys.argv[1], 'rb').read()
if d[:5] != b'\x7fELF\x02':
    sys.exit(1)
phoff, = struct.unpack_from('<Q', d, 0x20)
phentsize, phnum = struct.unpack_from('<HH', d, 0x36)
types = [struct.unpack_from('<I', d, phoff + i * phentsize)[0] for i in range(phnum)]
sys.exit(1 if 3 in types else 0)
PY
}
[ -x "$BUSYBOX" ] || die "no $BUSYBOX: install busybox-static (scripts/pkgdep.sh)"
for tool in cpio gzip dpkg-deb python3; do
	command -v "$tool" >/dev/null || die "$tool not found (scripts/pkgdep.sh installs it)"
done

# What the initramfs is made of; a change means a rebuild.
recipe_id() {
	{
		cat "$HERE/build.sh" "$HERE/init"
		sha256sum "$BUSYBOX"
		cat "$GUEST_DIR/kver"
	} | sha256sum | cut -c1-16
}

t0=$(ms)
# ---- the kernel: download and unpack once ----------------------------------
# shellcheck disable=SC2086,SC2116 # echo joins MODSET's lines into one
if [ ! -s "$GUEST_DIR/kver" ] || [ "$(cat "$GUEST_DIR/modules.set" 2>/dev/null)" != "$(echo $MODSET)" ] ||
   { [ ! -s "$GUEST_DIR/vmlinux" ] && [ ! -s "$GUEST_DIR/vmlinuz" ]; }; then
	KPKG=${OSPREY_GUEST_KPKG:-}
	if [ -z "$KPKG" ]; then
		KPKG=$(apt-cache depends linux-image-amd64 2>/dev/null |
		       sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\).*/\1/p' | head -1)
	fi
	if [ -z "$KPKG" ] && [ "$(id -u)" -eq 0 ]; then
		apt-get update -qq >/dev/null 2>&1 || true
		KPKG=$(apt-cache depends linux-image-amd64 2>/dev/null |
		       sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\).*/\1/p' | head -1)
	fi
	[ -n "$KPKG" ] || die "cannot find the kernel package: 'apt-cache depends linux-image-amd64' names none (apt-get update?)"
	echo "guest: fetching $KPKG into $GUEST_DIR"
	DL=$(mktemp -d "$GUEST_DIR/dl.XXXXXX")
	trap 'rm -rf "$DL"' EXIT
	# apt drops privileges to _apt for downloads: let it write here.
	chmod 777 "$DL"
	if ! (cd "$DL" && apt-get download -q "$KPKG" >download.log 2>&1); then
		# Stale package lists on a fresh machine: the archive moved on.
		if [ "$(id -u)" -eq 0 ]; then
			apt-get update -qq >/dev/null 2>&1 || true
		fi
		(cd "$DL" && apt-get download -q "$KPKG" >download.log 2>&1) ||
			die "apt-get download $KPKG failed: $(tail -3 "$DL/download.log")"
	fi
	mkdir "$DL/x"
	dpkg-deb -x "$DL"/"$KPKG"_*.deb "$DL/x"
	KVER=$(basename "$(find "$DL/x/lib/modules" -mindepth 1 -maxdepth 1 -type d | head -1)")
	[ -r "$DL/x/boot/vmlinuz-$KVER" ] || die "$KPKG has no boot/vmlinuz-$KVER"
	rm -rf "$GUEST_DIR/modules" "$GUEST_DIR/vmlinux" "$GUEST_DIR/vmlinuz" "$GUEST_DIR/kver" "$GUEST_DIR/modules.set"
	# Keep only part of the module tree (uncompressed by Debian 12, maybe
	# .ko.xz later; ~350 MB in all is too much to cache): the initramfs
	# picks its modules and their dependencies from it.
	mkdir -p "$GUEST_DIR/modules"
	# shellcheck disable=SC2086 # MODSET holds globs
	(cd "$DL/x/lib/modules/$KVER" && tar -cf - $MODSET 2>/dev/null) | tar -xf - -C "$GUEST_DIR/modules"
	# The uncompressed ELF kernel sits behind the XZ stream of the bzImage.
	if ! python3 - "$DL/x/boot/vmlinuz-$KVER" "$GUEST_DIR/vmlinux.tmp" <<'PY'
import lzma, sys
d = open(sys.argv[1], 'rb').read()
i = d.find(b'\xfd7zXZ\x00')
if i < 0:
    sys.exit(1)
out = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(d[i:])
if out[:4] != b'\x7fELF':
    sys.exit(1)
open(sys.argv[2], 'wb').write(out)
PY
	then
		rm -f "$GUEST_DIR/vmlinux.tmp"
		cp "$DL/x/boot/vmlinuz-$KVER" "$GUEST_DIR/vmlinuz"
	else
		mv "$GUEST_DIR/vmlinux.tmp" "$GUEST_DIR/vmlinux"
	fi
	echo "$KVER" > "$GUEST_DIR/kver"
	# shellcheck disable=SC2086
	echo $MODSET > "$GUEST_DIR/modules.set"
	rm -rf "$DL"
	trap - EXIT
	echo "guest: kernel $KVER ready in $(( $(ms) - t0 )) ms"
fi
KVER=$(cat "$GUEST_DIR/kver")

# ---- the initramfs: rebuilt when its recipe changes ------------------------
ID=$(recipe_id)
if [ -s "$GUEST_DIR/initramfs.cpio.gz" ] && [ "$(cat "$GUEST_DIR/initramfs.id" 2>/dev/null)" = "$ID" ]; then
	exit 0
fi
t1=$(ms)
is_static "$BUSYBOX" || die "$BUSYBOX is not static: install busybox-static (scripts/pkgdep.sh)"
STAGE=$(mktemp -d "$GUEST_DIR/stage.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,root,lib/modules}
cp "$BUSYBOX" "$STAGE/bin/busybox"
for a in $("$BUSYBOX" --list-full); do
	[ -e "$STAGE/$a" ] || ln -s /bin/busybox "$STAGE/$a"
done

# Module dependencies come from each module's .modinfo "depends=" string
# (the .deb ships no modules.dep and kmod may be absent): resolve them here
# and write the load order, so the guest needs only insmod.
declare -A path_of=() loaded=()
while IFS= read -r -d '' f; do
	b=$(basename "$f"); b=${b%%.ko*}; path_of[${b//-/_}]=$f
done < <(find "$GUEST_DIR/modules" -name '*.ko*' -print0)
ORDER=()
modinfo_field() { # file field
	case "$1" in
	*.ko.xz) xz -dc "$1" ;;
	*.ko.zst) zstd -dcq "$1" ;;
	*.ko.gz) gzip -dc "$1" ;;
	*) cat "$1" ;;
	esac | tr '\0' '\n' | sed -n "s/^$2=//p"
}
add_module() { # name [optional]
	local n=${1//-/_} f dep
	[ -n "${loaded[$n]:-}" ] && return 0
	f=${path_of[$n]:-}
	if [ -z "$f" ]; then
		[ "${2:-}" = optional ] && return 0
		die "module $1 not found in $KVER (built in? check config)"
	fi
	loaded[$n]=1
	for dep in $(modinfo_field "$f" depends | tr ',' ' '); do
		add_module "$dep"
	done
	ORDER+=("$n")
}
for m in "${MODULES[@]}"; do
	case "$m" in crc32c-intel|crct10dif_generic|crc64_rocksoft_generic) add_module "$m" optional ;;
	*) add_module "$m" ;;
	esac
done
install_modules() { # list-file: copy ORDER's modules, write their load order
	: > "$1"
	for n in "${ORDER[@]}"; do
		f=${path_of[$n]}
		case "$f" in
		*.ko.xz) xz -dc "$f" > "$STAGE/lib/modules/$n.ko" ;;
		*.ko.zst) zstd -dcq "$f" > "$STAGE/lib/modules/$n.ko" ;;
		*.ko.gz) gzip -dc "$f" > "$STAGE/lib/modules/$n.ko" ;;
		*) cp "$f" "$STAGE/lib/modules/$n.ko" ;;
		esac
		echo "$n" >> "$1"
	done
}
install_modules "$STAGE/etc/modules.order"
BASE=("${ORDER[@]}")
ORDER=()
for m in "${REF_MODULES[@]}"; do
	add_module "$m"
done
install_modules "$STAGE/etc/modules.ref"
install -m 0755 "$HERE/init" "$STAGE/init"
echo "root:x:0:0:root:/root:/bin/sh" > "$STAGE/etc/passwd"
echo "root:x:0:" > "$STAGE/etc/group"
(cd "$STAGE" && find . -print0 | sort -z | cpio --null -o -H newc --quiet --owner 0:0) |
	gzip -6 > "$GUEST_DIR/initramfs.cpio.gz.tmp"
mv "$GUEST_DIR/initramfs.cpio.gz.tmp" "$GUEST_DIR/initramfs.cpio.gz"
echo "$ID" > "$GUEST_DIR/initramfs.id"
echo "guest: initramfs for $KVER with ${#BASE[@]} modules (${BASE[*]}; reference target: ${ORDER[*]}): $(stat -c %s "$GUEST_DIR/initramfs.cpio.gz") bytes in $(( $(ms) - t1 )) ms"
