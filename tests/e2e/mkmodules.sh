#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# mkmodules.sh: build, out of tree, the kernel modules the e2e guests need
# and Debian's amd64 kernel does not have, for exactly the kernel
# mkguest.sh boots:
#
#   gpio-virtio.ko  drivers/gpio/gpio-virtio.c   (CONFIG_GPIO_VIRTIO)
#   i2c-virtio.ko   drivers/i2c/busses/i2c-virtio.c (CONFIG_I2C_VIRTIO)
#   gpio-sim.ko     drivers/gpio/gpio-sim.c      (CONFIG_GPIO_SIM), a
#                   simulated chip configured through configfs
#   gpio-mockup.ko  drivers/gpio/gpio-mockup.c   (CONFIG_GPIO_MOCKUP), the
#                   older simulator, set up by module parameters and
#                   driven through debugfs
#
# gpio-sim and gpio-mockup need the interrupt simulator (kernel/irq/irq_sim.c,
# CONFIG_IRQ_SIM), which Debian does not build either: each of the two
# modules carries its own copy, its symbols not exported. irq_sim.c calls
# irq_to_desc(), which the kernel does not export to modules; the copy
# calls generic_handle_irq() instead, which is the same thing for the
# simple-irq descriptors irq_sim sets up.
#
# Everything comes from Debian packages, fetched with apt-get download and
# unpacked with dpkg-deb -x into the e2e cache (nothing is installed):
#   linux-headers-KVER, linux-headers-...-common, linux-kbuild-6.1 (the
#   headers package's Depends), at the kernel package's version, unpacked
#   and kept (about 85 MB);
#   linux-source-6.1 (140 MB), from which only the few .c/.h files above
#   are extracted and kept; the package itself is deleted afterwards.
# The modules are built with the host's make and gcc (gcc-12 on Debian 12,
# the kernel's compiler) and cached by kernel version; a second run only
# copies them. The cache entry also depends on this script's contents, so
# editing it rebuilds.
#
# Usage: mkmodules.sh -o OUTDIR
#   writes OUTDIR/gpio-virtio.ko, i2c-virtio.ko, gpio-sim.ko,
#   gpio-mockup.ko and OUTDIR/kver; pass them to mkguest.sh -m PATH.ko.
#
# Environment: as mkguest.sh (VHOSTD_E2E_CACHE, VHOSTD_E2E_KERNEL_DEB,
# E2E_BUILDDIR); VHOSTD_E2E_SOURCE_DEB forces a linux-source .deb.
#
# Exit status: 0 built, 77 (automake's SKIP) when the modules cannot be
# had here (no kernel, a package cannot be downloaded and is not cached,
# no make or gcc), 1 on any other error (the build failed: its log is
# printed). Messages on stderr.
set -eu

me=mkmodules.sh
srcdir=$(cd "$(dirname "$0")" && pwd)
modules="gpio-virtio i2c-virtio gpio-sim gpio-mockup"

skip() { echo "$me: SKIP: $*" >&2; exit 77; }
die() { echo "$me: error: $*" >&2; exit 1; }
note() { echo "$me: $*" >&2; }

outdir=
while getopts o:h opt; do
	case $opt in
	o) outdir=$OPTARG ;;
	h) sed -n '4,44p' "$0"; exit 0 ;;
	*) exit 1 ;;
	esac
done
[ -n "$outdir" ] || die "missing -o OUTDIR (try -h)"

t0=$(date +%s)

# ---- the kernel, as mkguest.sh boots it -------------------------------

kinfo=$(sh "$srcdir/mkguest.sh" -K) || {
	rc=$?
	[ $rc = 77 ] && skip "no guest kernel (see mkguest.sh's message above)"
	die "mkguest.sh -K failed (status $rc)"
}
kver= kversion= kroot= cache=
eval "$kinfo"
[ -n "$kver" ] && [ -n "$kversion" ] && [ -d "$kroot" ] && [ -d "$cache" ] ||
	die "mkguest.sh -K gave no kernel: $kinfo"
case $kver in
*-amd64) ;;
*) die "kernel $kver: only Debian's amd64 flavour is supported" ;;
esac

for c in make gcc xz tar strip; do
	command -v $c >/dev/null 2>&1 ||
		skip "no $c (Debian packages make, gcc, binutils, xz-utils, tar)"
done

# ---- the cache ----------------------------------------------------------

if command -v flock >/dev/null 2>&1; then
	exec 9>"$cache/.modules.lock"
	flock -w 600 9 || die "timed out waiting for the lock on $cache/.modules.lock"
fi

recipe=$(sha256sum "$0" | cut -c1-16)
entry=$cache/modules-${kver}_$kversion
copy_out() {
	mkdir -p "$outdir"
	for m in $modules; do
		cp "$entry/$m.ko" "$outdir/$m.ko"
	done
	echo "$kver" > "$outdir/kver"
	note "modules for $kver in $outdir: $modules ($(( $(date +%s) - t0 ))s)"
}
if [ "$(cat "$entry/.built" 2>/dev/null)" = "$recipe" ]; then
	copy_out
	exit 0
fi

series=$(echo "$kver" | sed -n 's/^\([0-9]*\.[0-9]*\)\..*/\1/p')
dl=$cache/.modules-download
rm -rf "$dl"
mkdir -p "$dl"
trap 'rm -rf "$dl" "$entry.tmp"' EXIT

# fetch PKG VERSION: PKG=VERSION's .deb into $dl (its path on stdout), or
# the candidate version when VERSION is not available. Empty on failure.
fetch() {
	(cd "$dl" && apt-get download -q "$1=$2") > "$dl/$1.log" 2>&1 ||
		(cd "$dl" && apt-get download -q "$1") >> "$dl/$1.log" 2>&1 || {
		sed 's/^/  /' "$dl/$1.log" >&2
		return 0
	}
	ls "$dl/$1"_*.deb 2>/dev/null | head -n 1
}

# The headers: linux-headers-KVER, its -common, linux-kbuild, unpacked
# together as they would be installed; the arch Makefile includes the
# common one by absolute path, which is pointed into the unpacked tree.
hroot=$cache/linux-headers-${kver}_$kversion
hdir=$hroot/usr/src/linux-headers-$kver
if [ ! -e "$hroot/.unpacked" ]; then
	command -v apt-get >/dev/null 2>&1 || skip "no apt-get, and no headers for $kver in $cache"
	hpkg=linux-headers-$kver
	deps=$(apt-cache show "$hpkg=$kversion" 2>/dev/null |
	    sed -n 's/^Depends: //p' | head -n 1 | tr ',' '\n' |
	    sed -n 's/^ *\(linux-\(headers\|kbuild\)-[^ ]*\).*/\1/p') || :
	[ -n "$deps" ] ||
		skip "apt-cache knows no $hpkg=$kversion (its Depends name the -common and linux-kbuild packages)"
	note "downloading $hpkg $(echo $deps) ($kversion)"
	debs=
	for p in $hpkg $deps; do
		d=$(fetch "$p" "$kversion")
		[ -n "$d" ] || skip "cannot download $p ($kversion) with apt-get download"
		case $d in *"_${kversion}_"*) ;;
		*) note "warning: $p $kversion not available, took $(basename "$d")" ;;
		esac
		debs="$debs $d"
	done
	rm -rf "$hroot" "$hroot.tmp"
	for d in $debs; do
		dpkg-deb -x "$d" "$hroot.tmp" || die "dpkg-deb -x $d failed"
	done
	sed -i "s|^include /usr/src/|include $hroot/usr/src/|" \
	    "$hroot.tmp/usr/src/linux-headers-$kver/Makefile"
	mv "$hroot.tmp" "$hroot"
	: > "$hroot/.unpacked"
	rm -f $debs
fi
[ -f "$hdir/Module.symvers" ] || die "no Module.symvers in $hdir"
grep -q "^include $hroot/" "$hdir/Makefile" ||
	die "$hdir/Makefile does not include the unpacked -common tree (moved cache?); remove $hroot"
objtool=$hroot/usr/lib/linux-kbuild-$series/tools/objtool/objtool
if [ -x "$objtool" ] && command -v ldd >/dev/null 2>&1 &&
    ldd "$objtool" 2>&1 | grep -q 'not found'; then
	skip "the kernel's objtool lacks libraries: $(ldd "$objtool" 2>&1 | grep 'not found' | tr -s ' \t' ' ') (Debian package libelf1)"
fi

# The sources: a handful of files from linux-source-SERIES' tarball.
files="drivers/gpio/gpio-virtio.c drivers/i2c/busses/i2c-virtio.c
drivers/gpio/gpio-sim.c drivers/gpio/gpio-mockup.c kernel/irq/irq_sim.c
drivers/gpio/gpiolib.h"
sroot=$cache/linux-source-files-$kversion
if [ ! -e "$sroot/.extracted" ]; then
	sdeb=${VHOSTD_E2E_SOURCE_DEB:-}
	if [ -z "$sdeb" ]; then
		command -v apt-get >/dev/null 2>&1 || skip "no apt-get, and no kernel sources in $cache"
		note "downloading linux-source-$series ($kversion)"
		sdeb=$(fetch "linux-source-$series" "$kversion")
		[ -n "$sdeb" ] || skip "cannot download linux-source-$series with apt-get download"
		case $sdeb in *"_${kversion}_"*) ;;
		*) note "warning: linux-source-$series $kversion not available, took $(basename "$sdeb")" ;;
		esac
	fi
	note "extracting $(echo $files | wc -w) files from $(basename "$sdeb")"
	rm -rf "$sroot" "$sroot.tmp"
	mkdir -p "$sroot.tmp"
	members=
	for f in $files; do
		members="$members linux-source-$series/$f"
	done
	# shellcheck disable=SC2086 # members are words
	dpkg-deb --fsys-tarfile "$sdeb" |
	    tar -xO "./usr/src/linux-source-$series.tar.xz" | xz -dc |
	    tar -x -C "$sroot.tmp" --strip-components=1 $members ||
		die "cannot extract the sources from $sdeb"
	for f in $files; do
		[ -s "$sroot.tmp/$f" ] || die "no $f in $sdeb"
	done
	basename "$sdeb" > "$sroot.tmp/.package"
	mv "$sroot.tmp" "$sroot"
	: > "$sroot/.extracted"
	[ -n "${VHOSTD_E2E_SOURCE_DEB:-}" ] || rm -f "$sdeb"
fi

# ---- the build --------------------------------------------------------

rm -rf "$entry.tmp"
b=$entry.tmp/build
mkdir -p "$b"
cp "$sroot/drivers/gpio/gpio-virtio.c" "$sroot/drivers/i2c/busses/i2c-virtio.c" \
    "$sroot/drivers/gpio/gpiolib.h" "$b/"
# Composite modules cannot share a name with one of their objects.
cp "$sroot/drivers/gpio/gpio-sim.c" "$b/gpio-sim-main.c"
cp "$sroot/drivers/gpio/gpio-mockup.c" "$b/gpio-mockup-main.c"
sed 's/handle_simple_irq(irq_to_desc(irqnum));/generic_handle_irq(irqnum);/' \
    "$sroot/kernel/irq/irq_sim.c" > "$b/irq_sim.c"
grep -q 'generic_handle_irq(irqnum);' "$b/irq_sim.c" && ! grep -q irq_to_desc "$b/irq_sim.c" ||
	die "kernel/irq/irq_sim.c changed: the irq_to_desc() replacement did not apply"
for m in sim mockup; do
	cat > "$b/irq-sim-$m.c" <<EOF
/* kernel/irq/irq_sim.c linked into gpio-$m.ko, its symbols not exported */
#include <linux/export.h>
#undef EXPORT_SYMBOL_GPL
#define EXPORT_SYMBOL_GPL(sym)
#include "irq_sim.c"
EOF
done
cat > "$b/Kbuild" <<EOF
obj-m := gpio-virtio.o i2c-virtio.o gpio-sim.o gpio-mockup.o
gpio-sim-y := gpio-sim-main.o irq-sim-sim.o
gpio-mockup-y := gpio-mockup-main.o irq-sim-mockup.o
EOF

note "building $modules for $kver"
j=$(nproc 2>/dev/null || echo 2)
if ! make -C "$hdir" M="$b" -j"$j" modules > "$entry.tmp/build.log" 2>&1; then
	tail -n 60 "$entry.tmp/build.log" >&2
	die "the module build failed (log above)"
fi
modfield() { tr '\0' '\n' < "$1" | sed -n "s/^$2=//p" | head -n 1; }
for m in $modules; do
	[ -f "$b/$m.ko" ] || die "the build made no $m.ko"
	vm=$(modfield "$b/$m.ko" vermagic)
	case $vm in
	"$kver "*) ;;
	*) die "$m.ko has vermagic '$vm', not for $kver" ;;
	esac
	# Debian builds with debug info: 400 KB a module, 30 KB without.
	strip --strip-debug -o "$entry.tmp/$m.ko" "$b/$m.ko" ||
		cp "$b/$m.ko" "$entry.tmp/"
done
rm -rf "$b"
echo "$kver" > "$entry.tmp/kver"
echo "$recipe" > "$entry.tmp/.built"
rm -rf "$entry"
mv "$entry.tmp" "$entry"
copy_out
