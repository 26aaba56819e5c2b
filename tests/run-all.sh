#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The whole test suite, from a fresh Debian 12 machine, as root:
# installs what is missing, builds, and runs every test (unit,
# integration, QEMU end to end, man page lint), the integration tests
# under valgrind, then the same again in an
# ASan+UBSan build, then every libFuzzer target for a bounded time in a
# clang build, then make distcheck.  Exits non-zero if anything fails.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
jobs=$(nproc 2>/dev/null || echo 2)

sh tests/deps.sh
autoreconf -fi

pass=0 fail=0 skip=0

# Runs `make check $CHECK_ARGS` in build dir $1 configured with the rest
# of the arguments, and adds its counts to the totals.
CHECK_ARGS=
suite() {
	dir=$1
	shift
	rm -rf "$dir"
	mkdir -p "$dir"
	(cd "$dir" && "$top/configure" -q --enable-werror "$@" &&
	    make -j"$jobs" >/dev/null)
	# shellcheck disable=SC2086
	if (cd "$dir" && make -j"$jobs" check $CHECK_ARGS); then rc=0; else rc=$?; fi
	log="$dir/test-suite.log"
	if [ -f "$log" ]; then
		p=$(sed -n 's/^# PASS: *//p' "$log")
		f=$(sed -n 's/^# FAIL: *//p' "$log")
		x=$(sed -n 's/^# ERROR: *//p' "$log")
		s=$(sed -n 's/^# SKIP: *//p' "$log")
		pass=$((pass + ${p:-0}))
		fail=$((fail + ${f:-0} + ${x:-0}))
		skip=$((skip + ${s:-0}))
	fi
	if [ "$rc" != 0 ]; then
		[ -f "$log" ] && cat "$log"
		fail=$((fail + 1))
		echo "run-all: make check failed in $dir" >&2
	fi
}

suite build-check --enable-test-hooks
# The integration tests with main and every worker under valgrind
# memcheck (tests/valgrind.sh): no errors, no definite leaks.
if (cd build-check && make check-valgrind >valgrind.log 2>&1); then
	if grep -q '^SKIP' build-check/valgrind.log; then
		skip=$((skip + 1))
		grep '^SKIP' build-check/valgrind.log
	else
		pass=$((pass + 1))
		echo "PASS: make check-valgrind"
	fi
else
	tail -80 build-check/valgrind.log
	fail=$((fail + 1))
	echo "FAIL: make check-valgrind"
fi
suite build-sanitizers --enable-sanitizers --enable-test-hooks
# The fuzz targets (libFuzzer, ASan+UBSan), FUZZ_SECONDS each.
CHECK_ARGS="TESTS=tests/fuzz/run.sh FUZZ_SECONDS=${FUZZ_SECONDS:-20}"
suite build-fuzz CC=clang --enable-fuzzing
CHECK_ARGS=

# The release tarball builds and passes on its own.
if (cd build-check && make -j"$jobs" distcheck >distcheck.log 2>&1); then
	pass=$((pass + 1))
	echo "PASS: make distcheck"
else
	tail -50 build-check/distcheck.log
	fail=$((fail + 1))
	echo "FAIL: make distcheck"
fi

echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
