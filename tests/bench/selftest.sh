#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# vubench checks what it measures: against its loopback device, a clean
# run must succeed and a run where the device breaks one rule once (a
# head used twice, a head never made available, a request never answered,
# an error status, a wrong used length, an rng buffer left unwritten, a
# used index too far ahead) must fail with exit status 1.  Times play no
# part in the verdict.  $VUBENCH names the program.

VUBENCH=${VUBENCH:-tests/bench/vubench}
if [ ! -x "$VUBENCH" ]; then
	echo "selftest.sh: $VUBENCH is not executable" >&2
	exit 99
fi

fails=0
# expect STATUS TYPE FAULT
expect() {
	"$VUBENCH" --loopback --type "$2" --loopback-fault "$3" --depth 8 \
	    --seconds 0.2 --warmup 0 --timeout 1000 --no-floors \
	    --completion call --json >/dev/null 2>"${TMPDIR:-/tmp}/vubench-selftest.$$"
	st=$?
	if [ "$st" -eq "$1" ]; then
		echo "ok: $2 $3: exit status $st"
	else
		echo "FAIL: $2 $3: exit status $st, expected $1"
		sed 's/^/    /' "${TMPDIR:-/tmp}/vubench-selftest.$$"
		fails=$((fails + 1))
	fi
	rm -f "${TMPDIR:-/tmp}/vubench-selftest.$$"
}

for t in rng gpio i2c; do
	expect 0 $t none
	for f in dup bad-head lose status len idx; do
		[ $t = rng ] && [ $f = status ] && continue
		expect 1 $t $f
	done
done
expect 1 rng no-write

[ $fails -eq 0 ]
