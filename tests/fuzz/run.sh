#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# make check's bounded fuzzing run: each target of $FUZZ_TARGETS for
# $FUZZ_SECONDS seconds (default 20) from a scratch copy of its seed
# corpus (tests/fuzz/corpus/<target>, left untouched), with its
# dictionary if it has one.  Fails if any target finds a crash, a leak or
# a timeout; the reproducer is left in the scratch directory, whose path
# is printed.
set -u
: "${FUZZ_SRCDIR:?run by make check}" "${FUZZ_BUILDDIR:?run by make check}"
: "${FUZZ_TARGETS:=fuzz_vu fuzz_virtq fuzz_config fuzz_ipc fuzz_rng fuzz_gpio fuzz_i2c fuzz_vsock}"
secs=${FUZZ_SECONDS:-20}
scratch=$(mktemp -d "${TMPDIR:-/tmp}/vhostd-fuzz.XXXXXX") || exit 99
status=0

for t in $FUZZ_TARGETS; do
	bin=$FUZZ_BUILDDIR/$t
	[ -x "$bin" ] || { echo "$t: $bin not built"; status=1; continue; }
	mkdir -p "$scratch/$t/corpus" "$scratch/$t/artifacts"
	seeds=$FUZZ_SRCDIR/corpus/$t
	# crash-* files are reproducers of open bugs, not seeds.
	if [ -d "$seeds" ]; then
		for s in "$seeds"/*; do
			case ${s##*/} in crash-*|\*) continue ;; esac
			cp "$s" "$scratch/$t/corpus/"
		done
	fi
	set -- -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	    -print_final_stats=1 -artifact_prefix="$scratch/$t/artifacts/"
	dict=$FUZZ_SRCDIR/${t#fuzz_}.dict
	[ -f "$dict" ] && set -- "$@" -dict="$dict"
	echo "== $t: $secs s"
	if "$bin" "$@" "$scratch/$t/corpus" >"$scratch/$t/log" 2>&1; then
		grep -E '^(stat::number_of_executed_units|stat::new_units_added|Done)' \
		    "$scratch/$t/log"
	else
		echo "$t FAILED; reproducer(s) in $scratch/$t/artifacts:"
		ls "$scratch/$t/artifacts"
		tail -n 60 "$scratch/$t/log"
		status=1
	fi
done
[ "$status" -eq 0 ] && rm -rf "$scratch"
exit $status
