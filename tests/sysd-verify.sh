#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# make check test: the systemd units are clean and fit vhostd.
#  1. systemd-analyze verify prints nothing for config/vhostd.service (as
#     built, with ExecStart= and ExecReload= pointing at the built vhostd
#     and vhostctl, since verify checks that the programs exist) and
#     config/vhostd-devices.socket:
#     it exits 0 even on an unknown or unparsable directive, so any line
#     it prints is a failure;
#  2. every system call of the seccomp policies (policy/*.policy but the
#     sanitizer builds' ones) is in the unit's SystemCallFilter=, expanded
#     with systemd-analyze syscall-filter: the outer filter must never deny
#     what vhostd's own allow-lists allow;
#  3. ExecReload= is vhostctl's reload, which returns when the reload is
#     done and fails if it was refused: a signal would make systemctl
#     reload return at once and report success whatever happened.
# Exit status: 0 pass, 1 fail, 77 skip (no systemd-analyze).  Automake sets
# $srcdir, $VHOSTD and $VHOSTCTL (by default the vhostctl next to $VHOSTD);
# the built unit is taken from the current directory (the build directory)
# or $BUILT_UNIT.
set -u

srcdir=${srcdir:-$(dirname "$0")/..}
SYSTEMD_ANALYZE=${SYSTEMD_ANALYZE:-systemd-analyze}
unit=${BUILT_UNIT:-config/vhostd.service}
socket=$srcdir/config/vhostd-devices.socket
fail=0

err() {
	echo "sysd-verify: $*" >&2
	fail=1
}

if ! command -v "$SYSTEMD_ANALYZE" >/dev/null 2>&1; then
	echo "sysd-verify: SKIP: systemd-analyze not found (Debian package:" \
	    "systemd)"
	exit 77
fi
for f in "$unit" "$socket"; do
	if [ ! -r "$f" ]; then
		echo "sysd-verify: cannot read $f (make builds the unit)" >&2
		exit 1
	fi
done
if [ -z "${VHOSTD:-}" ] || [ ! -x "$VHOSTD" ]; then
	echo "sysd-verify: VHOSTD unset or not executable" >&2
	exit 1
fi
VHOSTCTL=${VHOSTCTL:-$(dirname "$VHOSTD")/vhostctl}
if [ ! -x "$VHOSTCTL" ]; then
	echo "sysd-verify: VHOSTCTL ($VHOSTCTL) not executable" >&2
	exit 1
fi

tmp=$(mktemp -d /tmp/sysd-verify.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT

# 1. verify.  The units keep their names: the socket names its service.
sed -e "s|^ExecStart=[^ ]*|ExecStart=$VHOSTD|" \
    -e "s|^ExecReload=[^ ]*vhostctl |ExecReload=$VHOSTCTL |" \
    "$unit" >"$tmp/vhostd.service"
cp "$socket" "$tmp/vhostd-devices.socket"
out=$(cd "$tmp" && "$SYSTEMD_ANALYZE" verify --man=no \
    "$tmp/vhostd.service" "$tmp/vhostd-devices.socket" 2>&1)
rc=$?
if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
	printf '%s\n' "$out" >&2
	err "systemd-analyze verify: status $rc, $(printf '%s\n' "$out" |
	    grep -c .) lines of complaint about $unit or $socket"
fi

# 2. SystemCallFilter= covers the policies.  Groups (@name) expand
# recursively; "~" lists (deny lists) are not used by the unit.
filter=$(sed -n 's/^SystemCallFilter=//p' "$unit")
if [ -z "$filter" ]; then
	err "$unit has no SystemCallFilter="
fi
case "$filter" in
*"~"*) err "SystemCallFilter= of $unit is a deny list: this check" \
    "handles allow lists only" ;;
esac
expand() {
	for w in "$@"; do
		case "$w" in
		@*)
			"$SYSTEMD_ANALYZE" syscall-filter "$w" 2>/dev/null |
			    sed -n 's/^[[:space:]]*\([@a-z0-9_][a-z0-9_-]*\)$/\1/p' |
			    grep -v "^$w\$" >"$tmp/group"
			# shellcheck disable=SC2046
			expand $(cat "$tmp/group")
			;;
		*)
			echo "$w"
			;;
		esac
	done
}
# shellcheck disable=SC2086
expand $filter | sort -u >"$tmp/allowed"
if [ "$(grep -c . "$tmp/allowed")" -lt 100 ]; then
	err "SystemCallFilter=$filter expanded to only" \
	    "$(grep -c . "$tmp/allowed") calls: systemd-analyze" \
	    "syscall-filter did not answer as expected"
fi
for p in "$srcdir"/policy/*.policy; do
	case "$p" in */sanitizer*) continue ;; esac
	sed -e 's/#.*//' -e '/^[[:space:]]*@/d' "$p" |
	    awk 'NF { print $1 }' | sort -u |
	    while read -r call; do
		grep -qx "$call" "$tmp/allowed" ||
		    echo "$call (${p#"$srcdir"/})"
	    done
done >"$tmp/missing"
if [ -s "$tmp/missing" ]; then
	err "system calls vhostd's policies allow but SystemCallFilter= of" \
	    "$unit denies: $(tr '\n' ' ' <"$tmp/missing")"
fi

# 3. A synchronous reload.
reload=$(sed -n 's/^ExecReload=//p' "$unit")
case "$reload" in
*/vhostctl\ reload | */vhostctl\ -s\ *\ reload) ;;
*) err "ExecReload=$reload of $unit is not vhostctl reload: systemctl" \
    "reload would neither wait for the reload nor see it refused" ;;
esac

if [ "$fail" = 0 ]; then
	echo "sysd-verify: OK ($(grep -c . "$tmp/allowed") calls in" \
	    "SystemCallFilter=$filter cover policy/*.policy)"
fi
exit "$fail"
