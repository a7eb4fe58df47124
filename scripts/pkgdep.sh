#!/usr/bin/env bash
# Install the Debian 12 packages Osprey needs to build and test.
# Idempotent and quiet when nothing is missing. Run as root (or with sudo).
set -euo pipefail

PKGS=(
	# build
	gcc make pkg-config python3
	libdpdk-dev libcjson-dev libcunit1-dev libaio-dev liburing-dev
	libibverbs-dev librdmacm-dev libnuma-dev libbsd-dev
	# tests and tools
	clang libclang-rt-14-dev procps util-linux iproute2
	# iSCSI peers: libiscsi's conformance suite and iscsi-perf, and tgtd
	libiscsi-bin tgt
)
if [ "${OSPREY_PKGDEP_QEMU:-1}" = 1 ]; then
	# Kernel initiators and real hardware come from QEMU guests under TCG.
	PKGS+=(qemu-system-x86 qemu-system-common qemu-utils busybox-static xz-utils cpio)
fi

missing=()
for p in "${PKGS[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	SUDO=sudo
fi
echo "pkgdep: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
