#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# vubench's standard set (tests/bench/README) against a vhostd it starts
# from the build tree: a markdown table to stdout and to a file, and the
# runs' JSON lines beside it (FILE with .jsonl for .md).
#
#	sh tests/bench/run.sh [-o FILE] [-s SECONDS] [-q]
#
# VHOSTD and VUBENCH name the binaries (`make bench` sets both; the
# defaults are those of a build directory at the top of the source tree,
# build/).  -s: measured seconds per run (default 5, $BENCH_SECONDS); -q:
# a quick pass (1 s per run, no scale 256).  Every run also measures the
# floors (vubench's default), so that each row is read against this
# machine at that moment.  A datapath mode ("datapath": "poll" or
# "adaptive", "poll_cores") that this vhostd does not take is reported as
# not available, and the rest goes on.  Exit status: 0, or 1 if a run
# failed (its row says so, and its messages follow the table).

set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
VHOSTD=${VHOSTD:-$top/build/src/vhostd}
VUBENCH=${VUBENCH:-$top/build/tests/bench/vubench}
out=bench-results.md
secs=${BENCH_SECONDS:-5}
quick=0

usage() {
	echo "usage: run.sh [-o FILE] [-s SECONDS] [-q]" >&2
	exit 2
}

while getopts o:s:qh opt; do
	case $opt in
	o) out=$OPTARG ;;
	s) secs=$OPTARG ;;
	q) quick=1; secs=1 ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || usage

for b in "$VHOSTD" "$VUBENCH"; do
	if [ ! -x "$b" ]; then
		echo "run.sh: $b is not executable (set VHOSTD and VUBENCH)" >&2
		exit 2
	fi
done

dir=$(mktemp -d /tmp/vubench-run.XXXXXX) || exit 2
# vhostd's main runs as an unprivileged user and connects to the vsock
# listener in here.
chmod 755 "$dir"
pid=
failed=0
rows=$dir/rows.md
scale_rows=$dir/scale.md
notes=$dir/notes.txt
errs=$dir/errors.txt
json=${out%.md}.jsonl
: >"$rows"
: >"$scale_rows"
: >"$notes"
: >"$errs"
: >"$json"

stop_vhostd() {
	if [ -n "$pid" ]; then
		kill -TERM "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		st=$?
		if [ "$st" -ne 0 ]; then
			echo "vhostd exited with status $st after SIGTERM" \
			    >>"$errs"
			failed=1
		fi
		pid=
	fi
}

cleanup() {
	stop_vhostd
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# write_config FILE [DATAPATH]: rng, gpio (sim), i2c (sim, a 24C02 at
# 0x50) and vsock, each with "datapath": DATAPATH if given.
write_config() {
	dp=
	pc=
	if [ -n "${2:-}" ]; then
		dp=", \"datapath\": \"$2\""
		# The last CPU polls; the bench's threads keep to the others.
		pc="  \"poll_cores\": [$(($(nproc) - 1))],"
	fi
	cat >"$1" <<EOF
{
  "runtime_dir": "$dir",
$pc
  "devices": [
    {"id": "rng", "type": "rng", "socket": "rng.sock"$dp},
    {"id": "gpio", "type": "gpio", "socket": "gpio.sock", "backend": "sim",
     "chip": "$dir/gpio.chip", "ngpio": 8$dp},
    {"id": "i2c", "type": "i2c", "socket": "i2c.sock", "backend": "sim",
     "bus": "bench", "addresses": [80],
     "parts": [{"type": "24c02", "address": 80}]$dp},
    {"id": "vsock", "type": "vsock", "socket": "vsock.sock",
     "guest_cid": 3, "uds_path": "$dir/vsock"$dp}
  ]
}
EOF
}

# start_vhostd CONFIG [CPU]: starts it (all its processes on CPU if
# given), waits for its sockets.
start_vhostd() {
	if [ -n "${2:-}" ]; then
		taskset -c "$2" "$VHOSTD" -f -c "$1" 2>>"$dir/vhostd.log" &
	else
		"$VHOSTD" -f -c "$1" 2>>"$dir/vhostd.log" &
	fi
	pid=$!
	n=0
	for s in rng gpio i2c vsock; do
		while [ ! -S "$dir/$s.sock" ]; do
			n=$((n + 1))
			if [ $n -gt 1000 ] || ! kill -0 "$pid" 2>/dev/null; then
				echo "run.sh: vhostd did not start:" >&2
				cat "$dir/vhostd.log" >&2
				exit 1
			fi
			sleep 0.01
		done
	done
}

# run LABEL ARGS...: one vubench run against the running vhostd.
run() {
	label=$1
	shift
	echo "run.sh: $label" >&2
	res=$("$VUBENCH" --label "$label" --json --md --seconds "$secs" \
	    --pid-tree "$pid" "$@" 2>"$dir/err.txt")
	rc=$?
	printf '%s\n' "$res" | grep '^{' >>"$json"
	row=$(printf '%s\n' "$res" | grep '^|')
	if [ -z "$row" ]; then
		row="| $label | vubench exit status $rc, no figures |"
	fi
	printf '%s\n' "$row" >>"$rows"
	if [ $rc -ne 0 ]; then
		failed=1
		{ echo "$label: exit status $rc"; cat "$dir/err.txt"; } >>"$errs"
	fi
}

# The vubench arguments of each device.
rng="--socket $dir/rng.sock --type rng"
gpio="--socket $dir/gpio.sock --type gpio"
i2c="--socket $dir/i2c.sock --type i2c --i2c-addr 0x50"
vsock="--socket $dir/vsock.sock --type vsock --vsock-uds $dir/vsock"

load0=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u '+%Y-%m-%d %H:%M UTC')

# ---- vubench's own ceiling: a device played in-process ----
"$VUBENCH" --label "vubench ceiling (loopback)" --loopback --type gpio \
    --depth 32 --completion poll --seconds "$secs" --json --md \
    2>"$dir/err.txt" >"$dir/loop.txt"
grep '^{' "$dir/loop.txt" >>"$json"
grep '^|' "$dir/loop.txt" >>"$rows"

# ---- the standard set, default datapath ----
write_config "$dir/vhostd.json"
start_vhostd "$dir/vhostd.json"
# shellcheck disable=SC2086
{
run "rng 64 B" $rng --size 64 --depth 32
run "rng 64 KiB" $rng --size 65536 --depth 32
run "gpio get, interrupt" $gpio --depth 32 --completion call
run "gpio get, poll d1" $gpio --depth 1 --completion poll
run "gpio get, poll d32" $gpio --depth 32 --completion poll
run "i2c read 2 B" $i2c --size 2 --depth 32
run "i2c read 256 B" $i2c --size 256 --depth 8
run "vsock echo 64 B d1" $vsock --size 64 --depth 1
run "vsock echo 64 KiB" $vsock --size 65536 --depth 4
}
stop_vhostd

# ---- interrupt mode, vhostd and vubench sharing CPU 0 ----
# A wake-up across CPUs costs this machine tens of microseconds (the
# eventfd floor); on one CPU the kick and the call wake a task there.
start_vhostd "$dir/vhostd.json" 0
# shellcheck disable=SC2086
{
run "gpio get, interrupt, one CPU" $gpio --depth 32 --completion call \
    --cpu 0
run "rng 64 B, one CPU" $rng --size 64 --depth 32 --cpu 0
}
stop_vhostd

# ---- datapath modes, if this vhostd has them ----
for mode in poll adaptive; do
	write_config "$dir/vhostd-$mode.json" "$mode"
	if ! "$VHOSTD" -n -c "$dir/vhostd-$mode.json" \
	    >"$dir/check.txt" 2>&1; then
		why=$(grep -m1 -i 'datapath\|poll_cores' "$dir/check.txt")
		[ -n "$why" ] || why=$(head -n1 "$dir/check.txt")
		echo "run.sh: datapath $mode: not available in this vhostd" >&2
		echo "- datapath \"$mode\": not available in this vhostd" \
		    "($why)" >>"$notes"
		printf '| datapath %s | not available |\n' "$mode" >>"$rows"
		continue
	fi
	start_vhostd "$dir/vhostd-$mode.json"
	# Keep the bench's driver thread off the polling CPU.
	cpus=0
	# shellcheck disable=SC2086
	{
	run "$mode: gpio get d1" $gpio --depth 1 --completion poll --cpu $cpus
	run "$mode: gpio get d32" $gpio --depth 32 --completion poll \
	    --cpu $cpus
	run "$mode: gpio get d32 call" $gpio --depth 32 --cpu $cpus
	run "$mode: rng 64 B" $rng --size 64 --depth 32 --cpu $cpus
	}
	stop_vhostd
done

# ---- scale ----
scales="1 64 256"
[ $quick -eq 1 ] && scales="1 64"
for n in $scales; do
	echo "run.sh: scale $n" >&2
	res=$("$VUBENCH" --scale "$n" --vhostd "$VHOSTD" --type rng \
	    --size 64 --depth 8 --seconds "$secs" --idle-seconds 3 \
	    --label "scale $n" --json --md 2>"$dir/err.txt")
	rc=$?
	printf '%s\n' "$res" | grep '^{' >>"$json"
	row=$(printf '%s\n' "$res" | grep '^|')
	[ -n "$row" ] || row="| $n | vubench exit status $rc, no figures |"
	printf '%s\n' "$row" >>"$scale_rows"
	if [ $rc -ne 0 ]; then
		failed=1
		{ echo "scale $n: exit status $rc"; cat "$dir/err.txt"; } \
		    >>"$errs"
	fi
done

# ---- the report ----
load1=$(cut -d' ' -f1-3 /proc/loadavg)
floor=$(grep -m1 '"shm_rtt_ns"' "$json" | sed -n \
    's/.*"shm_rtt_ns":\([0-9.]*\).*"eventfd_rtt_us":\([0-9.]*\).*"getrandom_mbps_64k":\([0-9.]*\).*/shared-memory round trip \1 ns, eventfd round trip \2 us, getrandom at 64 KiB \3 MB\/s/p')
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
ver=$("$VHOSTD" -V 2>&1 | head -n1)
rev=$(git -C "$top" describe --always --dirty 2>/dev/null || echo unknown)
{
	echo "# vubench: vhostd $rev"
	echo
	echo "$started; $ver; $(uname -sr); $cpu, $(nproc) CPUs;" \
	    "load average $load0 at the start, $load1 at the end;" \
	    "$secs s per run."
	echo
	echo "Floors of the first run: ${floor:-not measured}."
	echo
	"$VUBENCH" --md-header
	cat "$rows"
	echo
	"$VUBENCH" --md-header --scale 1
	cat "$scale_rows"
	if [ -s "$notes" ]; then
		echo
		cat "$notes"
	fi
	if [ -s "$errs" ]; then
		echo
		echo "Failures:"
		echo
		sed 's/^/    /' "$errs"
	fi
} | tee "$out"
echo "run.sh: table in $out, JSON lines in $json" >&2
exit $failed
