# SPDX-License-Identifier: BSD-3-Clause
#
# lib.sh: shared helpers for the QEMU end-to-end tests. Source it from a
# test script (tests/e2e/NAME.sh); see tests/e2e/README and rng.sh.
#
# Environment (make check sets what it knows; all have defaults so that a
# test also runs by hand from the top build directory):
#   E2E_SRCDIR       tests/e2e in the source tree (default: the script's dir)
#   E2E_BUILDDIR     the top build directory (default: $PWD)
#   VHOSTD           the daemon (default: $E2E_BUILDDIR/src/vhostd)
#   QEMU_SYSTEM_X86  QEMU (default: qemu-system-x86_64 from PATH)
#   E2E_QEMU_TIMEOUT hard limit in seconds for one QEMU run (default 40)
#   E2E_GUEST_TIMEOUT the guest's own limit for its test, after boot, so
#                    that a hung device still gives a report (default 20)
#   E2E_KEEP         if set, keep the work directory even when all passed
#   VHOSTD_E2E_CACHE where mkguest.sh keeps the kernel package (and
#                    mkmodules.sh the headers and the modules it builds)
#
# Results: e2e_pass/e2e_fail print "PASS: ..."/"FAIL: ..." lines; e2e_finish
# exits 0, 1 (some check failed) or 77 (skipped, automake's SKIP).

e2e_name=$(basename "$0" .sh)
: "${E2E_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}"
: "${E2E_BUILDDIR:=$PWD}"
E2E_BUILDDIR=$(cd "$E2E_BUILDDIR" && pwd)
: "${VHOSTD:=$E2E_BUILDDIR/src/vhostd}"
: "${QEMU_SYSTEM_X86:=qemu-system-x86_64}"
: "${E2E_QEMU_TIMEOUT:=40}"
: "${E2E_GUEST_TIMEOUT:=20}"
export E2E_SRCDIR E2E_BUILDDIR

e2e_failed=0
e2e_work=
e2e_rt=
e2e_vms=
vhostd_pid=
vhostd_log=

e2e_log() { echo "$e2e_name: $*"; }
e2e_pass() { echo "PASS: $e2e_name: $*"; }
e2e_fail() { echo "FAIL: $e2e_name: $*"; e2e_failed=1; }
e2e_skip() {
	echo "SKIP: $e2e_name: $*"
	e2e_failed=77
	exit 77
}
# A broken test environment, not a failed check: automake's ERROR.
e2e_error() {
	echo "ERROR: $e2e_name: $*"
	exit 99
}
e2e_now() { date +%s; }

# e2e_setup: the work directory ($E2E_BUILDDIR/tests/e2e/NAME.work, logs
# and guests, kept on failure) and a short runtime directory in /tmp for
# sockets (a sun_path holds 108 bytes; build directories can be deep).
e2e_setup() {
	e2e_t0=$(e2e_now)
	e2e_work=$E2E_BUILDDIR/tests/e2e/$e2e_name.work
	rm -rf "$e2e_work"
	mkdir -p "$e2e_work" || e2e_error "cannot create $e2e_work"
	e2e_rt=$(mktemp -d /tmp/vhostd-e2e.XXXXXX) || e2e_error "mktemp failed"
	trap e2e_cleanup EXIT
	trap 'e2e_fail "interrupted"; exit 1' INT TERM HUP
	e2e_log "work directory $e2e_work, runtime directory $e2e_rt"
}

# Host helpers a test starts in the background: append their pids to
# e2e_bg_pids and they die with the test.
e2e_bg_pids=

e2e_cleanup() {
	rc=$?
	trap - EXIT
	for p in $e2e_bg_pids; do
		kill "$p" 2>/dev/null
	done
	for vm in $e2e_vms; do
		pid=$(eval echo "\${e2e_qemu_pid_$vm:-}")
		[ -n "$pid" ] && kill "$pid" 2>/dev/null
	done
	if [ -n "$vhostd_pid" ] && kill -0 "$vhostd_pid" 2>/dev/null; then
		kill -KILL "$vhostd_pid" 2>/dev/null
		wait "$vhostd_pid" 2>/dev/null
	fi
	[ -n "$e2e_rt" ] && rm -rf "$e2e_rt"
	if { [ "$rc" = 0 ] || [ "$rc" = 77 ]; } && [ -z "${E2E_KEEP:-}" ] &&
	    [ -n "$e2e_work" ]; then
		rm -rf "$e2e_work"
	elif [ -n "$e2e_work" ] && [ -d "$e2e_work" ]; then
		echo "$e2e_name: logs kept in $e2e_work"
	fi
	exit "$rc"
}

# e2e_finish: the test's exit, with the total time.
e2e_finish() {
	t=$(( $(e2e_now) - e2e_t0 ))
	if [ "$e2e_failed" = 0 ]; then
		echo "PASS: $e2e_name: all checks passed (${t}s)"
		exit 0
	fi
	echo "FAIL: $e2e_name: some checks failed (${t}s)"
	exit 1
}

# e2e_require_qemu [DEVICE]...: skip unless QEMU runs and has the devices
# and the memfd memory backend vhost-user needs. Devices are checked one by
# one with -device NAME,help: -device help loads every QEMU module, which
# fails for a private QEMU next to the host's (e2e_use_backports_qemu).
e2e_require_qemu() {
	command -v "$QEMU_SYSTEM_X86" >/dev/null 2>&1 ||
		e2e_skip "no QEMU ($QEMU_SYSTEM_X86; Debian package qemu-system-x86)"
	command -v timeout >/dev/null 2>&1 || e2e_skip "no timeout(1)"
	v=$("$QEMU_SYSTEM_X86" -nodefaults -machine none -version 2>&1) ||
		e2e_skip "$QEMU_SYSTEM_X86 does not run: $v"
	for d in "$@"; do
		"$QEMU_SYSTEM_X86" -nodefaults -machine none -device "$d,help" 2>&1 |
		    grep -q "^$d options:" ||
			e2e_skip "$QEMU_SYSTEM_X86 has no device $d"
	done
	"$QEMU_SYSTEM_X86" -nodefaults -machine none -object help 2>&1 |
	    grep -q memory-backend-memfd ||
		e2e_skip "$QEMU_SYSTEM_X86 has no memory-backend-memfd"
	e2e_log "$(echo "$v" | head -n 1)"
}

# e2e_use_backports_qemu: use bookworm-backports' QEMU (10.x; Debian 12's
# is 7.2) without installing it: qemu-system-x86, qemu-system-common,
# qemu-system-data and seabios from bookworm-backports are fetched with
# apt-get download and unpacked (dpkg-deb -x) into the e2e cache, once per
# version, and QEMU_SYSTEM_X86 is set to a wrapper there that points QEMU
# at its own modules (QEMU_MODULE_DIR) and firmware (-L). Its shared
# libraries are all bookworm's. Returns 1, with the reason in
# $e2e_backports_qemu_why, when that cannot be had (the caller decides
# whether to skip); E2E_BACKPORTS_QEMU=/path/to/wrapper skips the fetch.
e2e_use_backports_qemu() {
	e2e_backports_qemu_why=
	if [ -n "${E2E_BACKPORTS_QEMU:-}" ]; then
		QEMU_SYSTEM_X86=$E2E_BACKPORTS_QEMU
		return 0
	fi
	c=${VHOSTD_E2E_CACHE:-/var/cache/vhostd-e2e}
	if ! mkdir -p "$c" 2>/dev/null || [ ! -w "$c" ]; then
		c=$E2E_BUILDDIR/tests/e2e/cache
		mkdir -p "$c" || { e2e_backports_qemu_why="no cache directory"; return 1; }
	fi
	command -v apt-cache >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1 ||
		{ e2e_backports_qemu_why="no apt-cache/dpkg-deb"; return 1; }
	bv=$(apt-cache madison qemu-system-x86 2>/dev/null |
	    awk -F' *[|] *' '$3 ~ /backports/ { print $2; exit }')
	if [ -z "$bv" ]; then
		# offline: the newest one already unpacked
		w=$(ls -d "$c"/qemu-backports-*/qemu-system-x86_64 2>/dev/null | tail -n 1)
		[ -n "$w" ] || {
			e2e_backports_qemu_why="apt knows no qemu-system-x86 from bookworm-backports (is it in the sources?) and none is cached"
			return 1
		}
		QEMU_SYSTEM_X86=$w
		return 0
	fi
	d=$c/qemu-backports-$(echo "$bv" | tr ':~' '__')
	(
		if command -v flock >/dev/null 2>&1; then
			exec 9>"$c/.qemu.lock"
			flock -w 600 9 || exit 1
		fi
		[ -e "$d/.unpacked" ] && exit 0
		rm -rf "$d" "$d.dl"
		mkdir -p "$d.dl"
		sb=$(apt-cache madison seabios 2>/dev/null |
		    awk -F' *[|] *' '$3 ~ /backports/ { print "=" $2; exit }')
		(cd "$d.dl" && apt-get download -q "qemu-system-x86=$bv" \
		    "qemu-system-common=$bv" "qemu-system-data=$bv" "seabios$sb") \
		    > "$c/.qemu-download.log" 2>&1 || exit 1
		for f in "$d.dl"/*.deb; do
			dpkg-deb -x "$f" "$d.dl/root" || exit 1
		done
		mv "$d.dl/root" "$d"
		rm -rf "$d.dl"
		cat > "$d/qemu-system-x86_64" <<'WRAP'
#!/bin/sh
# bookworm-backports' QEMU, unpacked here by tests/e2e/lib.sh
d=$(cd "$(dirname "$0")" && pwd)
QEMU_MODULE_DIR=$d/usr/lib/x86_64-linux-gnu/qemu
export QEMU_MODULE_DIR
exec "$d/usr/bin/qemu-system-x86_64" -L "$d/usr/share/qemu" \
    -L "$d/usr/share/seabios" "$@"
WRAP
		chmod 755 "$d/qemu-system-x86_64"
		: > "$d/.unpacked"
	) || {
		e2e_backports_qemu_why="cannot download or unpack QEMU $bv: $(tail -n 3 "$c/.qemu-download.log" 2>/dev/null | tr '\n' ' ')"
		rm -rf "$d.dl"
		return 1
	}
	if command -v ldd >/dev/null 2>&1 &&
	    ldd "$d/usr/bin/qemu-system-x86_64" 2>&1 | grep -q 'not found'; then
		e2e_backports_qemu_why="QEMU $bv lacks libraries: $(ldd "$d/usr/bin/qemu-system-x86_64" 2>&1 | grep 'not found' | tr -s ' \t\n' ' ')"
		return 1
	fi
	QEMU_SYSTEM_X86=$d/qemu-system-x86_64
	e2e_log "using bookworm-backports QEMU $bv ($QEMU_SYSTEM_X86)"
}

e2e_require_vhostd() {
	[ -x "$VHOSTD" ] || e2e_error "no vhostd at $VHOSTD (run make first)"
}

# e2e_build_guest DIR [mkguest.sh options]: kernel + initramfs into DIR.
# Skips the test when mkguest.sh says a guest cannot be had here.
e2e_build_guest() {
	dir=$1
	shift
	t=$(e2e_now)
	E2E_BUILDDIR=$E2E_BUILDDIR sh "$E2E_SRCDIR/mkguest.sh" -o "$dir" "$@" \
	    > "$e2e_work/mkguest.log" 2>&1
	rc=$?
	sed 's/^/  mkguest: /' "$e2e_work/mkguest.log"
	case $rc in
	0) e2e_log "guest built in $(( $(e2e_now) - t ))s" ;;
	77) e2e_skip "cannot build a guest: $(grep SKIP "$e2e_work/mkguest.log" | tail -n 1)" ;;
	*) e2e_error "mkguest.sh failed (status $rc)" ;;
	esac
}

# e2e_build_modules [DIR]: the out-of-tree modules for the guest kernel
# (gpio-virtio.ko, i2c-virtio.ko, gpio-sim.ko, gpio-mockup.ko; see
# mkmodules.sh) into DIR (default $e2e_work/modules), which is also left in
# $e2e_modules for mkguest.sh -m "$e2e_modules/gpio-virtio.ko". Skips the
# test when they cannot be built here.
e2e_build_modules() {
	e2e_modules=${1:-$e2e_work/modules}
	t=$(e2e_now)
	E2E_BUILDDIR=$E2E_BUILDDIR sh "$E2E_SRCDIR/mkmodules.sh" -o "$e2e_modules" \
	    > "$e2e_work/mkmodules.log" 2>&1
	rc=$?
	sed 's/^/  mkmodules: /' "$e2e_work/mkmodules.log"
	case $rc in
	0) e2e_log "modules built in $(( $(e2e_now) - t ))s" ;;
	77) e2e_skip "cannot build the guest modules: $(grep SKIP "$e2e_work/mkmodules.log" | tail -n 1)" ;;
	*) e2e_error "mkmodules.sh failed (status $rc)" ;;
	esac
}

# e2e_vsockhost: sets VSOCKHOST to the host side of the vsock tests
# (tests/vsockhost of the build, else built into the work directory).
e2e_vsockhost() {
	: "${VSOCKHOST:=$E2E_BUILDDIR/tests/vsockhost}"
	[ -x "$VSOCKHOST" ] && return 0
	top=$(cd "$E2E_SRCDIR/../.." && pwd)
	[ -f "$E2E_BUILDDIR/config.h" ] ||
		e2e_error "no $VSOCKHOST and no config.h in $E2E_BUILDDIR to build it"
	VSOCKHOST=$e2e_work/vsockhost
	${CC:-cc} -O2 -Wall -I "$E2E_BUILDDIR" -o "$VSOCKHOST" "$top/tests/vsockhost.c" ||
		e2e_error "cannot build $VSOCKHOST"
	e2e_log "built $VSOCKHOST"
}

# e2e_static_cc OUT SRC... [CFLAGS/LIBS]: a static test program for the
# guest, built with the host compiler (the guest has no libc).
e2e_static_cc() {
	out=$1
	shift
	${CC:-cc} -static -O2 -Wall -o "$out" "$@" ||
		e2e_error "cannot build the static guest program $out"
}

# e2e_build_vufdev OUT: the project's front-end test program (tests/vufdev.c
# with tests/vufront.c, nothing else; config.h from the build directory)
# built static, to play the VMM inside a guest.
e2e_build_vufdev() {
	top=$(cd "$E2E_SRCDIR/../.." && pwd)
	[ -f "$E2E_BUILDDIR/config.h" ] ||
		e2e_error "no config.h in $E2E_BUILDDIR (run configure there)"
	e2e_static_cc "$1" -I "$E2E_BUILDDIR" -I "$top/src" -I "$top/tests" \
	    "$top/tests/vufdev.c" "$top/tests/vufront.c"
}

# ---- vhostd -----------------------------------------------------------

# vhostd_start CONFIG SOCKET...: start vhostd in the foreground (log in
# $e2e_work/vhostd.log) and wait up to 10 s for each socket to listen.
vhostd_start() {
	cfg=$1
	shift
	vhostd_log=$e2e_work/vhostd.log
	e2e_log "starting $VHOSTD -f -v -c $cfg"
	"$VHOSTD" -f -v -c "$cfg" > "$vhostd_log" 2>&1 &
	vhostd_pid=$!
	for s in "$@"; do
		i=0
		while [ ! -S "$s" ]; do
			if ! kill -0 "$vhostd_pid" 2>/dev/null; then
				wait "$vhostd_pid"
				e2e_fail "vhostd exited (status $?) before creating $s"
				vhostd_pid=
				e2e_dump_vhostd
				return 1
			fi
			i=$((i + 1))
			if [ $i -gt 100 ]; then
				e2e_fail "vhostd did not create $s within 10 s"
				e2e_dump_vhostd
				return 1
			fi
			sleep 0.1
		done
	done
	e2e_log "vhostd (pid $vhostd_pid) listens on $*"
}

# vhostd_check_config CONFIG: vhostd -n must accept it; if not, the test
# fails with vhostd's words and ends.
vhostd_check_config() {
	"$VHOSTD" -n -c "$1" > "$e2e_work/check-config.log" 2>&1 && return 0
	e2e_fail "vhostd -n rejects the config:"
	sed 's/^/  /' "$e2e_work/check-config.log"
	e2e_finish
}

# vhostd_children: the pids of vhostd's child processes (its workers).
vhostd_children() {
	[ -n "$vhostd_pid" ] || return 0
	ps -o pid= --ppid "$vhostd_pid" 2>/dev/null | tr -d ' '
}

# vhostd_worker ID: the pid of the worker serving device ID, none if it
# has none: the child whose command line is "vhostd --worker ID"
# (src/inst.c; a reaped-to-be zombie has no command line any more).
vhostd_worker() {
	[ -n "$vhostd_pid" ] || return 0
	ps -o pid=,args= --ppid "$vhostd_pid" 2>/dev/null | awk -v id="$1" '
	    { for (i = 2; i < NF; i++) if ($i == "--worker" && $(i + 1) == id) print $1 }'
}

# pid_running PID: the process exists and is not a zombie (a zombie
# answers kill -0 until its parent reaps it).
pid_running() {
	kill -0 "$1" 2>/dev/null &&
	    [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" != Z ]
}

vhostd_alive() {
	[ -n "$vhostd_pid" ] && pid_running "$vhostd_pid"
}

# vhostd_stop [SIGNAL [TIMEOUT]]: signal vhostd (default TERM) and wait up
# to TIMEOUT s (default 10) for it; its exit status in $vhostd_status
# (-1 when it had to be killed). Returns 0 iff it exited with status 0.
vhostd_stop() {
	sig=${1:-TERM}
	lim=$(( ${2:-10} * 10 ))
	vhostd_status=-1
	[ -n "$vhostd_pid" ] || return 1
	kill -"$sig" "$vhostd_pid" 2>/dev/null
	i=0
	while pid_running "$vhostd_pid" && [ $i -lt $lim ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if [ $i -ge $lim ]; then
		kill -KILL "$vhostd_pid" 2>/dev/null
		wait "$vhostd_pid" 2>/dev/null
		vhostd_pid=
		return 1
	fi
	wait "$vhostd_pid"
	vhostd_status=$?
	vhostd_pid=
	[ "$vhostd_status" = 0 ]
}

# vhostd_stop_check SOCKET...: vhostd, still running, exits with status 0
# on SIGTERM within 10 s and removes its sockets.
vhostd_stop_check() {
	if ! vhostd_alive; then
		e2e_fail "vhostd is not running at the end"
		e2e_dump_vhostd
		return 1
	fi
	if vhostd_stop TERM 10; then
		e2e_pass "vhostd exited with status 0 on SIGTERM"
	else
		e2e_fail "vhostd on SIGTERM: exit status $vhostd_status (-1: still running after 10 s, killed)"
		e2e_dump_vhostd
	fi
	for s in "$@"; do
		[ -e "$s" ] && e2e_fail "socket $s left behind"
	done
	return 0
}

# vhostd_check_log: no sanitizer report in vhostd's log.
vhostd_check_log() {
	if grep -Eq 'AddressSanitizer|UndefinedBehaviorSanitizer|runtime error:' "$vhostd_log"; then
		e2e_fail "sanitizer report in the vhostd log"
		e2e_dump_vhostd
	fi
}

e2e_dump_vhostd() {
	[ -n "$vhostd_log" ] && [ -f "$vhostd_log" ] || return 0
	echo "---- vhostd log ($vhostd_log) ----"
	tail -n 200 "$vhostd_log"
	echo "---- end of vhostd log ----"
}

# ---- QEMU guests ------------------------------------------------------

# qemu_start VM GUESTDIR TEST [ARGS] -- [QEMU ARGS]...: boot the guest in
# GUESTDIR running its test TEST (with e2e_args=ARGS), in the background
# under timeout(1). Extra QEMU arguments (chardevs, -device) follow "--".
# Console in $e2e_work/VM.console, QEMU's own output in VM.qemu.log.
qemu_start() {
	vm=$1 gdir=$2 test=$3
	shift 3
	args=
	if [ $# -gt 0 ] && [ "$1" != -- ]; then
		args=$1
		shift
	fi
	[ "${1:-}" = -- ] && shift
	con=$e2e_work/$vm.console
	: > "$con"
	append="console=ttyS0 panic=-1 loglevel=4 e2e_test=$test"
	[ -n "$args" ] && append="$append e2e_args=$args"
	append="$append e2e_timeout=$E2E_GUEST_TIMEOUT"
	set -- timeout -k 5 "$E2E_QEMU_TIMEOUT" "$QEMU_SYSTEM_X86" \
	    -nodefaults -display none -no-reboot -no-user-config \
	    -machine q35,accel=tcg -cpu max -m 256 -smp 1 \
	    -object memory-backend-memfd,id=mem,size=256M,share=on \
	    -numa node,memdev=mem \
	    -kernel "$gdir/vmlinuz" -initrd "$gdir/initrd.img" \
	    -append "$append" \
	    -serial "file:$con" -monitor none \
	    "$@"
	echo "$*" > "$e2e_work/$vm.cmdline"
	"$@" > "$e2e_work/$vm.qemu.log" 2>&1 &
	eval "e2e_qemu_pid_$vm=$!"
	e2e_vms="$e2e_vms $vm"
	e2e_log "$vm: QEMU started (pid $!), test $test"
}

# qemu_wait VM: wait for the guest's QEMU to end; its status (124 when the
# hard timeout hit, 137 when QEMU then had to be killed) in e2e_qemu_status_VM and as the return value.
qemu_wait() {
	pid=$(eval echo "\${e2e_qemu_pid_$1:-}")
	[ -n "$pid" ] || return 1
	wait "$pid"
	st=$?
	eval "e2e_qemu_status_$1=$st e2e_qemu_pid_$1="
	case $st in
	124) e2e_log "$1: QEMU hit the ${E2E_QEMU_TIMEOUT}s timeout" ;;
	137) e2e_log "$1: QEMU hit the ${E2E_QEMU_TIMEOUT}s timeout and ignored SIGTERM (killed)" ;;
	esac
	return $st
}

# qemu_wait_marker VM PATTERN [TIMEOUT]: wait until the console has a line
# matching the grep -E PATTERN (or QEMU ended). Returns 0 if seen.
qemu_wait_marker() {
	con=$e2e_work/$1.console
	lim=$(( ${3:-60} * 10 ))
	i=0
	while [ $i -lt $lim ]; do
		grep -Eq "$2" "$con" 2>/dev/null && return 0
		pid=$(eval echo "\${e2e_qemu_pid_$1:-}")
		if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
			grep -Eq "$2" "$con" 2>/dev/null
			return
		fi
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# guest_check VM TEST: PASS/FAIL line from the guest's result marker, the
# guest's own E2E-CHECK lines echoed; returns 0 iff the guest passed.
guest_check() {
	vm=$1 test=$2
	con=$e2e_work/$vm.console
	st=$(eval echo "\${e2e_qemu_status_$vm:-?}")
	tr -d '\r' < "$con" | grep -E '^E2E-(CHECK|DIGEST)' | sed "s/^/  $vm: /"
	if tr -d '\r' < "$con" | grep -q "^E2E-RESULT PASS $test\$"; then
		if tr -d '\r' < "$con" | grep -q '^E2E-POWEROFF'; then
			e2e_pass "$vm: guest test $test passed"
			return 0
		fi
		e2e_fail "$vm: guest test $test passed but the guest did not power off (QEMU status $st)"
	elif tr -d '\r' < "$con" | grep -q "^E2E-RESULT FAIL $test"; then
		e2e_fail "$vm: guest test $test failed (QEMU status $st)"
	elif ! grep -q 'E2E-BOOTED' "$con"; then
		e2e_fail "$vm: guest did not reach /init (QEMU status $st)"
	else
		e2e_fail "$vm: guest test $test gave no result (QEMU status $st)"
	fi
	e2e_dump_guest "$vm"
	return 1
}

e2e_dump_guest() {
	echo "---- $1: QEMU command ----"
	cat "$e2e_work/$1.cmdline" 2>/dev/null
	echo "---- $1: QEMU output ----"
	cat "$e2e_work/$1.qemu.log" 2>/dev/null
	echo "---- $1: guest console ----"
	tr -d '\r' < "$e2e_work/$1.console" 2>/dev/null | tail -n 150
	echo "---- end of $1 ----"
}
