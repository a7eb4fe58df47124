#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The one guest builder of every QEMU guest test (kernel initiators: NVMe/TCP,
# iSCSI, ...). Builds (or reuses) in GUEST_DIR:
#   vmlinux                 Debian's kernel, uncompressed ELF: QEMU enters it
#                           through PVH, which boots about twice as fast under TCG
#                           as the XZ bzImage (kept as vmlinuz if extraction fails)
#   kver, modules/          the kernel release and the part of its module tree
#                           the profiles may use (MODSET below)
#   pkgs/<package>/         Debian packages a profile unpacks into its guest
#   initramfs-<name>.cpio.gz  per profile: busybox-static + the profile's
#                           modules (with their dependencies) + its packages'
#                           programs (with the shared libraries they need) +
#                           test/common/guest/init
# The kernel is Debian's linux-image-amd64 of the configured repositories and
# packages come the same way: 'apt-get download' + 'dpkg-deb -x', nothing is
# installed. Nothing is downloaded when the cache is complete; an initramfs is
# rebuilt when this script, init, the profile or busybox change.
#
# A profile (test/<area>/guest/profile) is a bash fragment that sets:
#   NAME          initramfs-$NAME.cpio.gz
#   MODULES       modules loaded at boot, in order after their dependencies;
#                 "name:opt" marks one that may be missing (built in / absent)
#   MODULE_ARGS   associative array: module -> insmod arguments
#   REF_MODULES   extra modules copied into the guest but not loaded
#                 (/etc/modules.ref, for a reference-target mode)
#   PACKAGES      Debian packages unpacked into the guest (their usr/share,
#                 systemd and udev parts left out)
#   PROGRAMS      programs of those packages whose shared libraries must come
#                 along (taken from the packages, else from this host, which
#                 must be the same Debian release as the repositories)
#   PACKAGE_ONLY  associative array: package -> the only paths of it that go
#                 into the guest (space-separated, relative to /): for a
#                 package whose other programs would shadow busybox applets
#                 the guest's init relies on (util-linux: dmesg, flock, ...)
#
# Usage: test/common/guest/build.sh PROFILE [GUEST_DIR]
#        (GUEST_DIR default $OSPREY_GUEST_DIR or build/guest)
#        prints the initramfs path on its last line of stdout
# Env:   OSPREY_GUEST_KPKG  kernel package to use (default: what
#                           linux-image-amd64 depends on)
# Needs: apt-get, dpkg-deb, busybox-static, cpio, gzip, xz-utils, python3, flock, ldd.
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
PROFILE=${1:?usage: build.sh PROFILE [GUEST_DIR]}
PROFILE=$(cd "$(dirname "$PROFILE")" && pwd)/$(basename "$PROFILE")
GUEST_DIR=${2:-${OSPREY_GUEST_DIR:-$ROOT/build/guest}}
BUSYBOX=${BUSYBOX:-/bin/busybox}
# The parts of the kernel's module tree kept in the cache, for every profile
# (a change refetches the kernel).
MODSET="kernel/drivers/nvme kernel/drivers/scsi kernel/drivers/net/virtio_net.ko* kernel/drivers/net/net_failover.ko*
	kernel/drivers/block/virtio_blk.ko*
	kernel/net/core kernel/drivers/virtio kernel/crypto kernel/arch/x86/crypto kernel/lib
	kernel/block kernel/fs/configfs kernel/drivers/uio kernel/drivers/vfio kernel/virt/lib
	kernel/drivers/infiniband kernel/net/ipv4 kernel/net/ipv6 kernel/drivers/block/null_blk"

die() { echo "guest/build.sh: $*" >&2; exit 1; }
ms() { echo $(( ${EPOCHREALTIME/./} / 1000 )); }

[ -r "$PROFILE" ] || die "no profile $PROFILE"
NAME='' MODULES=() REF_MODULES=() PACKAGES=() PROGRAMS=()
declare -A MODULE_ARGS=() PACKAGE_ONLY=()
# shellcheck disable=SC1090
. "$PROFILE"
[ -n "$NAME" ] || die "$PROFILE sets no NAME"

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

# apt-get download PKG... into DIR (retried once after an apt-get update as root).
apt_download() { # dir pkg...
	local dir=$1
	shift
	# apt drops privileges to _apt for downloads: let it write here.
	chmod 777 "$dir"
	if ! (cd "$dir" && apt-get download -q "$@" >download.log 2>&1); then
		# Stale package lists on a fresh machine: the archive moved on.
		if [ "$(id -u)" -eq 0 ]; then
			apt-get update -qq >/dev/null 2>&1 || true
		fi
		(cd "$dir" && apt-get download -q "$@" >download.log 2>&1) ||
			die "apt-get download $* failed: $(tail -3 "$dir/download.log")"
	fi
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
	apt_download "$DL" "$KPKG"
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

# ---- the profile's packages: download and unpack once ----------------------
for p in "${PACKAGES[@]}"; do
	[ -f "$GUEST_DIR/pkgs/$p/.done" ] && continue
	echo "guest: fetching package $p"
	rm -rf "$GUEST_DIR/pkgs/$p"
	mkdir -p "$GUEST_DIR/pkgs/$p"
	DL=$(mktemp -d "$GUEST_DIR/dl.XXXXXX")
	trap 'rm -rf "$DL"' EXIT
	apt_download "$DL" "$p"
	dpkg-deb -x "$DL"/"$p"_*.deb "$GUEST_DIR/pkgs/$p"
	basename "$DL"/"$p"_*.deb > "$GUEST_DIR/pkgs/$p/.done"
	rm -rf "$DL"
	trap - EXIT
done

# ---- the initramfs: rebuilt when its recipe changes ------------------------
INITRD=$GUEST_DIR/initramfs-$NAME.cpio.gz
recipe_id() {
	{
		cat "$HERE/build.sh" "$HERE/init" "$PROFILE"
		sha256sum "$BUSYBOX"
		cat "$GUEST_DIR/kver"
		for p in "${PACKAGES[@]}"; do cat "$GUEST_DIR/pkgs/$p/.done"; done
	} | sha256sum | cut -c1-16
}
ID=$(recipe_id)
if [ -s "$INITRD" ] && [ "$(cat "$GUEST_DIR/initramfs-$NAME.id" 2>/dev/null)" = "$ID" ]; then
	echo "$INITRD"
	exit 0
fi
t1=$(ms)
is_static "$BUSYBOX" || die "$BUSYBOX is not static: install busybox-static (scripts/pkgdep.sh)"
STAGE=$(mktemp -d "$GUEST_DIR/stage.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,root,lib/modules,var/lock,var/run}

# Packages first: busybox's applets must not shadow their programs.
for p in "${PACKAGES[@]}"; do
	if [ -n "${PACKAGE_ONLY[$p]:-}" ]; then
		for f in ${PACKAGE_ONLY[$p]}; do
			[ -e "$GUEST_DIR/pkgs/$p/$f" ] || die "PACKAGE_ONLY[$p]: $f is not in $p"
		done
		# shellcheck disable=SC2086 # a list of paths
		(cd "$GUEST_DIR/pkgs/$p" && tar -cf - ${PACKAGE_ONLY[$p]}) | tar -xf - -C "$STAGE"
		continue
	fi
	(cd "$GUEST_DIR/pkgs/$p" && tar -cf - --exclude=./usr/share --exclude=./lib/systemd \
		--exclude=./lib/udev --exclude=./etc/init.d --exclude=./.done .) | tar -xf - -C "$STAGE"
done
# Shared libraries of PROGRAMS: the packages' own, else the host's (ldd
# resolves them with the packages' library folders first).
if [ "${#PROGRAMS[@]}" -gt 0 ]; then
	command -v ldd >/dev/null || die "ldd not found"
	LIBPATH=
	for d in "$STAGE"/lib/x86_64-linux-gnu "$STAGE"/usr/lib/x86_64-linux-gnu; do
		[ -d "$d" ] && LIBPATH=$LIBPATH${LIBPATH:+:}$d
	done
	for prog in "${PROGRAMS[@]}"; do
		[ -f "$STAGE/$prog" ] || die "program $prog is in none of: ${PACKAGES[*]}"
		out=$(LD_LIBRARY_PATH=$LIBPATH ldd "$STAGE/$prog") || die "ldd $prog failed"
		if grep -q 'not found' <<<"$out"; then
			die "$prog needs libraries found neither in the profile's packages nor on this host: $(grep 'not found' <<<"$out" | awk '{print $1}' | tr '\n' ' ')(add their packages to PACKAGES)"
		fi
		while read -r lib; do
			case "$lib" in
			"$STAGE"/*) continue ;;	# from a package: already there
			esac
			mkdir -p "$STAGE$(dirname "$lib")"
			[ -e "$STAGE$lib" ] || cp -L "$lib" "$STAGE$lib"
		done < <(awk '/=> \// {print $3} /^\t\/[^ ]* \(/ {print $1}' <<<"$out")
	done
fi
cp "$BUSYBOX" "$STAGE/bin/busybox"
for a in $("$BUSYBOX" --list-full); do
	[ -e "$STAGE/$a" ] || [ -L "$STAGE/$a" ] || ln -s /bin/busybox "$STAGE/$a"
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
		die "module $1 not found in $KVER (built in? not in MODSET? check config)"
	fi
	loaded[$n]=1
	for dep in $(modinfo_field "$f" depends | tr ',' ' '); do
		add_module "$dep"
	done
	ORDER+=("$n")
}
for m in "${MODULES[@]}"; do
	case "$m" in
	*:opt) add_module "${m%:opt}" optional ;;
	*) add_module "$m" ;;
	esac
done
install_modules() { # list-file: copy ORDER's modules, write their load order + arguments
	local n f
	: > "$1"
	for n in "${ORDER[@]}"; do
		f=${path_of[$n]}
		case "$f" in
		*.ko.xz) xz -dc "$f" > "$STAGE/lib/modules/$n.ko" ;;
		*.ko.zst) zstd -dcq "$f" > "$STAGE/lib/modules/$n.ko" ;;
		*.ko.gz) gzip -dc "$f" > "$STAGE/lib/modules/$n.ko" ;;
		*) cp "$f" "$STAGE/lib/modules/$n.ko" ;;
		esac
		echo "$n ${MODULE_ARGS[$n]:-}" >> "$1"
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
	gzip -6 > "$INITRD.tmp"
mv "$INITRD.tmp" "$INITRD"
echo "$ID" > "$GUEST_DIR/initramfs-$NAME.id"
rm -rf "$STAGE"
trap - EXIT
echo "guest: initramfs-$NAME for $KVER with ${#BASE[@]} modules (${BASE[*]}${ORDER[*]:+; reference: ${ORDER[*]}})${PACKAGES[*]:+, packages ${PACKAGES[*]}}: $(stat -c %s "$INITRD") bytes in $(( $(ms) - t1 )) ms" >&2
echo "$INITRD"
