#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The integration tests with vhostd under valgrind's memcheck: main and,
# through --trace-children, every worker it re-executes.  Builds nothing:
# runs the programs of an existing build (by default the current
# directory, else $1) configured with --enable-test-hooks and without
# sanitizers, and fails if any process's valgrind log shows an error or a
# definite leak, naming the log.  Exit 0 pass, 1 fail, 77 skipped.
#
#	tests/valgrind.sh [BUILDDIR]	(make check-valgrind: tests/valgrind.mk)
#
# Knobs (environment):
#	VALGRIND_TESTS	programs to run, default
#			"test_integration test_vsock test_hostile hw-sim.sh"
#	VALGRIND_LOGDIR	where the logs go, no blanks (default: a new /tmp
#			directory, removed when everything passed)
#	VALGRIND_OPTS	more valgrind options (after ours)
#	VUF_SLOW	harness timeouts factor (default 4)
#	HOSTILE_REPS	test_hostile's repetitions (default here 20)
#
# Why VHOSTD_TEST_VALGRIND=1: valgrind runs inside the process it checks,
# and its own system calls meet that process's seccomp filter; the first
# one trapped kills valgrind.  With that variable a test-hooks build
# parses and builds its filters but loads none, and a worker keeps its
# RLIMIT_FSIZE and RLIMIT_NOFILE (src/sandbox.c, sbx_test_valgrind).  So
# test_confine, whose point is the seccomp kills, is not run here, and
# the sandbox is checked by the normal runs of the suite only.
#
# With VHOSTD_TEST_VALGRIND=1 main does not SIGKILL a worker it stops: the
# worker exits when its channel closes, and its leaks are checked then.
# Workers killed on purpose by a test (restarts) and those still running
# when main exits (PR_SET_PDEATHSIG) are counted apart: their errors are
# reported as they happen, their leaks are not checked.  Main's leaks are
# checked at every vhostd's exit (SIGTERM).
set -u

me=valgrind.sh
src=$(cd "$(dirname "$0")" && pwd)
build=${1:-.}
build=$(cd "$build" 2>/dev/null && pwd) || { echo "$me: no build directory $1" >&2; exit 1; }

skip() { echo "SKIP: $me: $*"; exit 77; }

command -v valgrind >/dev/null 2>&1 || skip "valgrind is not installed (apt-get install valgrind)"
VHOSTD=${VHOSTD:-$build/src/vhostd}
[ -x "$VHOSTD" ] || skip "no vhostd binary at $VHOSTD (build first)"
# A test-hooks build knows VHOSTD_TEST_VALGRIND; without it the first
# seccomp filter kills valgrind.
grep -q VHOSTD_TEST_VALGRIND "$VHOSTD" ||
	skip "$VHOSTD is not a --enable-test-hooks build"
# ASan and valgrind do not mix.
grep -q __asan_init "$VHOSTD" && skip "$VHOSTD is a sanitizer build"

tests=${VALGRIND_TESTS:-test_integration test_vsock test_hostile hw-sim.sh}
for t in $tests; do
	case $t in
	*.sh) [ -f "$src/$t" ] || { echo "$me: no $src/$t" >&2; exit 1; } ;;
	*) [ -x "$build/tests/$t" ] || skip "no $build/tests/$t (make check builds it)" ;;
	esac
done
case " $tests " in *" hw-sim.sh "*)
	[ -x "$build/tests/vufdev" ] || skip "no $build/tests/vufdev" ;;
esac

if [ -n "${VALGRIND_LOGDIR:-}" ]; then
	logdir=$VALGRIND_LOGDIR
	mkdir -p "$logdir" || exit 1
	keep=1
else
	logdir=$(mktemp -d /tmp/vhostd-valgrind.XXXXXX) || exit 1
	keep=
fi
# valgrind splits $VALGRIND_OPTS at blanks.
case $logdir$src in *[[:space:]]*)
	echo "$me: $logdir or $src has a blank: not for valgrind options" >&2
	exit 1 ;;
esac
# main and its workers write their logs once they run as nobody (root
# starts vhostd): the directory must let them create files.
chmod 1777 "$logdir"

# The options go through $VALGRIND_OPTS, which valgrind reads in every
# process (it does not pass them on the command line of the workers it
# follows into exec): a worker's /proc/PID/cmdline stays short enough for
# the tests that look for "--worker ID" there.  Options already in
# $VALGRIND_OPTS come after ours and win.
VALGRIND_OPTS="--tool=memcheck --trace-children=yes \
 --child-silent-after-fork=yes --vgdb=no --error-exitcode=97 \
 --leak-check=full --errors-for-leak-kinds=definite \
 --show-leak-kinds=definite --error-markers=VGERR-BEGIN,VGERR-END \
 --num-callers=30 --suppressions=$src/valgrind.supp \
 --log-file=$logdir/vg.%p ${VALGRIND_OPTS:-}"
VHOSTD_WRAPPER=valgrind
VHOSTD_TEST_VALGRIND=1
VUF_SLOW=${VUF_SLOW:-4}
HOSTILE_REPS=${HOSTILE_REPS:-20}
VUFDEV=${VUFDEV:-$build/tests/vufdev}
export VALGRIND_OPTS VHOSTD VHOSTD_WRAPPER VHOSTD_TEST_VALGRIND VUF_SLOW \
    HOSTILE_REPS VUFDEV

fail=0
start=$(date +%s)
for t in $tests; do
	out=$logdir/$t.out
	t0=$(date +%s)
	case $t in
	*.sh) sh "$src/$t" > "$out" 2>&1 ;;
	*) "$build/tests/$t" > "$out" 2>&1 ;;
	esac
	rc=$?
	t1=$(date +%s)
	if [ "$rc" = 0 ]; then
		echo "PASS: $me: $t ($((t1 - t0)) s)"
	else
		echo "FAIL: $me: $t exited $rc ($((t1 - t0)) s); its output: $out"
		grep -E '^\[  (ERROR|FAILED) +\]|^\[   LINE   \]|^FAIL' "$out" | head -20
		fail=1
	fi
done

# Every process's log: an error (leaks of kind definite are errors, see
# --errors-for-leak-kinds) is framed by the markers; a crash or a
# valgrind failure has lines of its own.
nlogs=0 nexit=0 nbad=0
for log in "$logdir"/vg.*; do
	[ -f "$log" ] || continue
	nlogs=$((nlogs + 1))
	grep -q 'ERROR SUMMARY:' "$log" && nexit=$((nexit + 1))
	why=
	if grep -q 'VGERR-BEGIN' "$log"; then
		why="$(grep -c 'VGERR-BEGIN' "$log") error(s)"
	elif grep -q 'ERROR SUMMARY: [1-9]' "$log"; then
		why="errors in its summary"
	elif grep -Eq 'Process terminating with default action|the .impossible. happened|Assertion .* failed' "$log"; then
		why="a crash"
	fi
	if [ -n "$why" ]; then
		cmd=$(sed -n 's/^==[0-9]*== Command: //p' "$log" | head -1)
		echo "FAIL: $me: $why in $log ($cmd)"
		nbad=$((nbad + 1))
		# The first few in full; the rest are often the same.
		[ "$nbad" -le 3 ] && sed -n '/VGERR-BEGIN/,/VGERR-END/p
		    /Process terminating/,/^==[0-9]*== $/p' "$log" |
		    grep -v 'VGERR-' | head -60
		fail=1
	fi
done
# valgrind answers ENOSYS to a system call it does not know: listed, so
# that a new one is seen.  seccomp(2) is one on valgrind 3.19 (317 on
# x86_64; libseccomp probes it, then loads filters with prctl).
grep -h 'WARNING: unhandled .* syscall' "$logdir"/vg.* 2>/dev/null |
    sed 's/^--[0-9]*-- *//' | sort | uniq -c |
    sed "s/^ *\([0-9]*\) \(.*\)/NOTE: $me: \2 (\1 times)/"
[ "$nlogs" -gt 0 ] || { echo "FAIL: $me: no valgrind log in $logdir"; fail=1; }

end=$(date +%s)
echo "$me: $nlogs processes under valgrind, $nexit of them checked at exit (the others were killed by a test or ended with main); $((end - start)) s"
if [ "$fail" = 0 ]; then
	[ -z "$keep" ] && rm -rf "$logdir"
	echo "PASS: $me: no errors, no definite leaks"
	exit 0
fi
echo "FAIL: $me: logs and test output kept in $logdir"
exit 1
