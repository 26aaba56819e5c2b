#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# mkguest.sh: build a tiny guest for the QEMU end-to-end tests from Debian
# packages: the stock Debian amd64 kernel (downloaded with apt-get download,
# unpacked with dpkg-deb -x, never installed on the host) and an initramfs
# made of the host's static busybox, the kernel modules the test needs
# (with their dependencies, in load order) and the test's own files.
#
# Usage: mkguest.sh -o OUTDIR [-m MODULE[:PARAMS]]... [-f SRC:DEST]...
#                   [-b BINARY:DEST]...
#        mkguest.sh -K
#
#   -o OUTDIR       write OUTDIR/vmlinuz, OUTDIR/initrd.img, OUTDIR/kver
#   -m MODULE       a kernel module to load at boot, by name (virtio_rng or
#                   virtio-rng) or as a path to a .ko built out of tree
#                   (see mkmodules.sh); its dependencies are added.
#                   virtio_pci is always loaded. Module parameters follow
#                   a colon, separated by spaces, as insmod takes them:
#                   -m 'i2c-stub:chip_addr=0x50,0x51 default_func=...'.
#                   Every module is also in the initramfs as
#                   /lib/modules/NAME.ko, for a test to rmmod and insmod
#                   again with other parameters.
#   -K              only get the kernel (download, unpack into the cache)
#                   and print, as shell assignments: kver (6.1.0-NN-amd64),
#                   kpkg (linux-image-...), kversion (its package
#                   version), kroot (the unpacked package), cache
#   -f SRC:DEST     copy the host file SRC to DEST in the initramfs (DEST
#                   absolute; mode kept). Guest test scripts go to
#                   /e2e/tests/NAME and are run with e2e_test=NAME on the
#                   kernel command line (see init.sh).
#   -b BINARY:DEST  copy the dynamically linked host program BINARY to
#                   DEST, and with it every shared library `ldd BINARY`
#                   lists and the dynamic loader, each at its host path
#                   (symbolic links resolved), so that it runs in the
#                   guest: a program of the host's build, such as vhostd
#                   (also an ASan/UBSan build: libasan, libstdc++ come
#                   along). No ld.so.cache: the loader's default
#                   directories (/lib/x86_64-linux-gnu, ...) are where the
#                   libraries are.
#
# Environment:
#   VHOSTD_E2E_CACHE       where the kernel package is downloaded to and
#                          unpacked (default /var/cache/vhostd-e2e, or
#                          $E2E_BUILDDIR/tests/e2e/cache if that is not
#                          writable), shared by every run on the machine
#   VHOSTD_E2E_KERNEL_DEB  use this linux-image .deb instead of resolving
#                          and downloading linux-image-amd64's dependency
#   BUSYBOX                static busybox (default /bin/busybox)
#
# Exit status: 0 built, 77 (automake's SKIP) when a guest cannot be had on
# this machine (no kernel package, no static busybox, no cpio), 1 on any
# other error. The reason is printed on stderr.
set -eu

me=mkguest.sh
srcdir=$(cd "$(dirname "$0")" && pwd)

skip() { echo "$me: SKIP: $*" >&2; exit 77; }
die() { echo "$me: error: $*" >&2; exit 1; }
note() { echo "$me: $*" >&2; }

outdir=
modules=virtio_pci # one MODULE[:PARAMS] per line
files=
binaries=
kernel_only=
while getopts o:m:f:b:Kh opt; do
	case $opt in
	o) outdir=$OPTARG ;;
	m) modules="$modules
$OPTARG" ;;
	f) files="$files
$OPTARG" ;;
	b) binaries="$binaries
$OPTARG" ;;
	K) kernel_only=1 ;;
	h) sed -n '4,53p' "$0"; exit 0 ;;
	*) exit 1 ;;
	esac
done
[ -n "$outdir" ] || [ -n "$kernel_only" ] || die "missing -o OUTDIR (try -h)"

busybox=${BUSYBOX:-/bin/busybox}
[ -n "$kernel_only" ] || [ -x "$busybox" ] || skip "no static busybox at $busybox (Debian package busybox-static)"
if [ -z "$kernel_only" ] && command -v file >/dev/null 2>&1 &&
    file -L "$busybox" | grep -q 'dynamically linked'; then
	skip "$busybox is dynamically linked; install busybox-static"
fi
[ -n "$kernel_only" ] || command -v cpio >/dev/null 2>&1 ||
	skip "no cpio (Debian package cpio)"
command -v dpkg-deb >/dev/null 2>&1 || skip "no dpkg-deb (not a Debian system)"
command -v gzip >/dev/null 2>&1 || skip "no gzip"

# ---- the cache --------------------------------------------------------

cache=${VHOSTD_E2E_CACHE:-}
if [ -z "$cache" ]; then
	cache=/var/cache/vhostd-e2e
	if ! mkdir -p "$cache" 2>/dev/null || [ ! -w "$cache" ]; then
		cache=${E2E_BUILDDIR:-.}/tests/e2e/cache
	fi
fi
mkdir -p "$cache" || die "cannot create cache directory $cache"
cache=$(cd "$cache" && pwd)

# Serialise the download and the unpacking between concurrent runs.
if command -v flock >/dev/null 2>&1; then
	exec 9>"$cache/.lock"
	flock -w 600 9 || die "timed out waiting for the lock on $cache"
fi

# ---- the kernel package ----------------------------------------------

deb=${VHOSTD_E2E_KERNEL_DEB:-}
if [ -z "$deb" ]; then
	pkg= ver=
	if command -v apt-cache >/dev/null 2>&1; then
		pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
		    sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' |
		    head -n 1)
		[ -z "$pkg" ] ||
			ver=$(apt-cache show --no-all-versions "$pkg" 2>/dev/null |
			    sed -n 's/^Version: //p' | head -n 1)
	fi
	if [ -n "$pkg" ] && [ -n "$ver" ]; then
		deb=$cache/${pkg}_$(echo "$ver" | sed 's/:/%3a/')_amd64.deb
		if [ ! -s "$deb" ]; then
			note "downloading $pkg $ver into $cache"
			if ! (cd "$cache" && apt-get download -q "$pkg=$ver") >"$cache/.download.log" 2>&1; then
				sed 's/^/  /' "$cache/.download.log" >&2
				deb=
			fi
		fi
	fi
	if [ -z "$deb" ] || [ ! -s "$deb" ]; then
		# Offline, or no apt: take the newest kernel already cached.
		deb=$(ls -t "$cache"/linux-image-[0-9]*-amd64_*_amd64.deb 2>/dev/null | head -n 1) || :
		[ -n "$deb" ] ||
			skip "cannot get the Debian kernel package (apt-cache depends linux-image-amd64 gave '${pkg:-nothing}'; apt-get download failed; nothing in $cache)"
		note "using cached $deb"
	fi
fi
[ -s "$deb" ] || skip "kernel package $deb does not exist"

# Unpack once per package into the cache; the stamp marks a complete job.
kroot=$cache/$(basename "$deb" .deb)
if [ ! -e "$kroot/.unpacked" ]; then
	note "unpacking $(basename "$deb")"
	rm -rf "$kroot" "$kroot.tmp"
	if ! dpkg-deb -x "$deb" "$kroot.tmp"; then
		rm -rf "$kroot.tmp"
		# A damaged download: drop it so that the next run fetches it again.
		[ -n "${VHOSTD_E2E_KERNEL_DEB:-}" ] || rm -f "$deb"
		die "dpkg-deb -x $deb failed"
	fi
	mv "$kroot.tmp" "$kroot"
	: > "$kroot/.unpacked"
fi
kver=$(ls "$kroot/lib/modules" | head -n 1)
[ -n "$kver" ] && [ -d "$kroot/lib/modules/$kver" ] || die "no modules in $deb"
vmlinuz=$kroot/boot/vmlinuz-$kver
[ -f "$vmlinuz" ] || die "no $vmlinuz in $deb"
moddir=$kroot/lib/modules/$kver

# Module index: "name path" for every .ko (names use '_', as modinfo does).
index=$moddir/.e2e-index
if [ ! -s "$index" ]; then
	find "$moddir" -name '*.ko' |
	    awk '{ n = $0; sub(/.*\//, "", n); sub(/\.ko$/, "", n);
		   gsub(/-/, "_", n); print n, $0 }' > "$index.tmp"
	mv "$index.tmp" "$index"
fi

exec 9>&- # release the cache lock

if [ -n "$kernel_only" ]; then
	# The package version from the file name (apt-get download's
	# NAME_VERSION_ARCH.deb, with the epoch's colon as %3a).
	kb=$(basename "$deb" .deb)
	kpkg=${kb%%_*}
	kversion=$(echo "$kb" | sed 's/^[^_]*_//; s/_[^_]*$//; s/%3a/:/')
	echo "kver='$kver'"
	echo "kpkg='$kpkg'"
	echo "kversion='$kversion'"
	echo "kroot='$kroot'"
	echo "cache='$cache'"
	exit 0
fi

# ---- modules and their dependencies ----------------------------------

norm() { echo "$1" | tr - _; }
# modinfo without kmod: the .modinfo section is NUL-separated key=value.
modfield() { tr '\0' '\n' < "$1" | sed -n "s/^$2=//p" | head -n 1; }
builtin_mod() {
	grep -q "/$(echo "$1" | sed 's/_/[-_]/g')\.ko\$" "$moddir/modules.builtin"
}

order=    # module files in load order
seen=     # module names already handled
add_module() {
	local f n d  # recursive: dash, bash and busybox sh all have local
	case $1 in
	*/*|*.ko)
		f=$1
		[ -f "$f" ] || die "module file $f does not exist"
		f=$(cd "$(dirname "$f")" && pwd)/$(basename "$f")
		n=$(modfield "$f" name)
		[ -n "$n" ] || n=$(norm "$(basename "$f" .ko)") ;;
	*)
		n=$(norm "$1")
		f= ;;
	esac
	case " $seen " in *" $n "*) return 0 ;; esac
	seen="$seen $n"
	if [ -z "$f" ]; then
		f=$(awk -v n="$n" '$1 == n { print $2; exit }' "$index")
		if [ -z "$f" ]; then
			builtin_mod "$n" && { note "$n is built into $kver"; return 0; }
			die "no module $n in $kver (and not built in; check CONFIG_* in $kroot/boot/config-$kver)"
		fi
	fi
	# Depth first: dependencies load before the module.
	for d in $(modfield "$f" depends | tr , ' '); do
		add_module "$d"
	done
	order="$order $f"
}
params=   # "name PARAMS" lines for the modules given with parameters
while IFS= read -r spec; do
	[ -n "$spec" ] || continue
	m=${spec%%:*}
	add_module "$m"
	case $spec in
	*:*)
		case $m in
		*/*|*.ko) n=$(modfield "$m" name)
			[ -n "$n" ] || n=$(norm "$(basename "$m" .ko)") ;;
		*) n=$(norm "$m") ;;
		esac
		params="$params
$n ${spec#*:}" ;;
	esac
done <<MODULES
$modules
MODULES

# ---- the initramfs ---------------------------------------------------

mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
stage=$outdir/root
rm -rf "$stage"
mkdir -p "$stage/bin" "$stage/dev" "$stage/proc" "$stage/sys" "$stage/tmp" \
    "$stage/run" "$stage/etc" "$stage/lib/modules" "$stage/e2e/tests"
cp "$busybox" "$stage/bin/busybox"
ln -s busybox "$stage/bin/sh"
ln -s bin "$stage/sbin"
cp "$srcdir/init.sh" "$stage/init"
chmod 755 "$stage/init"

: > "$stage/etc/e2e-modules"
for f in $order; do
	n=$(modfield "$f" name)
	cp "$f" "$stage/lib/modules/$n.ko"
	# "name [params]"; the last -m for a module wins
	p=$(echo "$params" |
	    awk -v n="$n" '$1 == n { sub(/^[^ ]+ */, ""); p = $0 } END { print p }')
	echo "$n${p:+ $p}" >> "$stage/etc/e2e-modules"
done
echo "$kver" > "$stage/etc/e2e-kver"

# Files: "SRC:DEST" per line.
echo "$files" | while IFS= read -r spec; do
	[ -n "$spec" ] || continue
	src=${spec%%:*}
	dst=${spec#*:}
	case $dst in /*) ;; *) die "-f $spec: DEST must be absolute" ;; esac
	[ -e "$src" ] || die "-f $spec: $src does not exist"
	mkdir -p "$stage$(dirname "$dst")"
	cp -pL "$src" "$stage$dst"
done

# Programs with their shared libraries: "BINARY:DEST" per line. ldd prints
# "name => /path (addr)", the loader as "/lib64/ld-... (addr)", and
# "linux-vdso.so.1 (addr)" (no file); "not found" is an error.
echo "$binaries" | while IFS= read -r spec; do
	[ -n "$spec" ] || continue
	src=${spec%%:*}
	dst=${spec#*:}
	case $dst in /*) ;; *) die "-b $spec: DEST must be absolute" ;; esac
	[ -f "$src" ] || die "-b $spec: $src does not exist"
	command -v ldd >/dev/null 2>&1 || skip "no ldd (Debian package libc-bin)"
	deps=$(ldd "$src" 2>&1) || die "-b $spec: ldd $src failed: $deps"
	if echo "$deps" | grep -q 'not found'; then
		die "-b $spec: libraries not found: $(echo "$deps" | grep 'not found' | tr -s ' \t\n' ' ')"
	fi
	mkdir -p "$stage$(dirname "$dst")"
	cp -pL "$src" "$stage$dst"
	echo "$deps" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }
	    $1 ~ /^\// { print $1 }' | while IFS= read -r lib; do
		[ -e "$stage$lib" ] && continue
		mkdir -p "$stage$(dirname "$lib")"
		cp -L "$lib" "$stage$lib" || die "-b $spec: cannot copy $lib"
	done
	note "$dst: $(echo "$deps" | awk '$2 == "=>" { print $1 } $1 ~ /^\// { print $1 }' | tr '\n' ' ')"
done

(cd "$stage" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) |
    gzip -1 > "$outdir/initrd.img.tmp"
mv "$outdir/initrd.img.tmp" "$outdir/initrd.img"
ln -sf "$vmlinuz" "$outdir/vmlinuz"
echo "$kver" > "$outdir/kver"
cp "$stage/etc/e2e-modules" "$outdir/modules"
rm -rf "$stage"
note "guest in $outdir: kernel $kver, modules: $(tr '\n' ' ' < "$outdir/modules")"
