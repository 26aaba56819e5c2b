#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Installs, as root on Debian 12, every package needed to build vhostd,
# run its test suite (unit, integration, QEMU end to end) and its demo.
# Idempotent: a second run installs nothing new.
set -eu

if [ "$(id -u)" != 0 ]; then
	echo "deps.sh: must run as root (it calls apt-get)" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive

# libgpiod 2.x (the v2 API) is only in bookworm-backports on Debian 12.
. /etc/os-release
if [ "${VERSION_CODENAME:-}" = bookworm ] &&
    ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
	cat > /etc/apt/sources.list.d/vhostd-backports.sources <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi

BP=""
[ "${VERSION_CODENAME:-}" = bookworm ] && BP="/bookworm-backports"

apt-get update -q
apt-get install -y -q --no-install-recommends \
	build-essential autoconf automake libtool pkg-config make \
	libevent-dev libjansson-dev libseccomp-dev libcap-ng-dev libcmocka-dev \
	"libgpiod-dev$BP" "libgpiod3$BP" \
	mandoc groff-base \
	qemu-system-x86 busybox-static cpio xz-utils \
	clang libclang-rt-14-dev libelf1 \
	procps psmisc valgrind \
	systemd
