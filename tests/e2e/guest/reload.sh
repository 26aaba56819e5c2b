# SPDX-License-Identifier: BSD-3-Clause
# Guest side of tests/e2e/reload.sh, run by the guest's /init as
# /e2e/tests/reload. Argument: how long the loops run, in seconds.
#
# Two devices served by one vhostd, which the host reloads again and
# again (devices added, removed and changed around them, never these
# two) while two loops use them, at the same time:
#   rng   dd of 1024 bytes from /dev/hwrng, over and over: every read must
#         be full (one read(2), no iflag=fullblock), have at least 16
#         distinct byte values and differ from the read before
#   gpio  gpiotest loop: set line 0 (output, toggled), read it back, read
#         line 2 (an input the host holds at 1); line 0 released and
#         requested again every 16 rounds (see gpiotest.c)
# Unlike restart.sh nothing is meant to happen to these devices, so no
# error of any kind is allowed: no bad read, no failed request (werr), no
# wrong or failed read.
# Console lines for the host:
#   RL-DEVICES ...                    the devices are there
#   RL-READY up=S                     the loops run
#   RL-PROGRESS up=S rng_reads=N rng_bytes=B rng_bad=X rng_gap_ms=G
#       gpio_ops=N gpio_failed=F gpio_werr=W gpio_wrong=X gpio_rerr=R
#       gpio_other=O gpio_gap_ms=G                        (every second)
#   RL-FINAL (the same fields)        the loops ended
#   RL-RNG-BAD ...                    a bad hwrng read, when it happens
#   RL-GPIO-ERR ...                   a gpiotest record other than its
#                                     progress, within a second of it
# *_gap_ms is the longest wait so far between two consecutive reads or
# rounds: a figure for the host to print, not a verdict (a loop that
# stops altogether shows as counts that no longer grow).
# E2E-CHECK PASS/FAIL lines: both loops ran to their end with no error of
# any kind; the kernel log has no line about virtio, gpio or hwrng with an
# error word, no BUG, WARNING, Oops or "bad". A loop that has not ended
# 20 s after its end is hung on a request that never completed: its
# state is printed and the test fails then, so that a hang still gives a
# report before the guest's time limit.
set -f
dur=${1:-30}
fail=0
pass() { echo "E2E-CHECK PASS $*"; }
flunk() { echo "E2E-CHECK FAIL $*"; fail=1; }
up() { cut -d' ' -f1 /proc/uptime; }
upms() { # milliseconds since boot, without a fork
	read -r u _ < /proc/uptime
	echo $(( ${u%.*} * 1000 + 1${u#*.} * 10 - 1000 ))
}
chip='virtio*'

# ---- the devices ------------------------------------------------------

i=0
while [ $i -lt 100 ]; do
	case $(cat /sys/class/misc/hw_random/rng_current 2>/dev/null) in
	virtio_rng*) break ;;
	esac
	sleep 0.1
	i=$((i + 1))
done
rng=$(cat /sys/class/misc/hw_random/rng_current 2>/dev/null)
gpio=$(gpiotest -w 10000 -c "$chip" info 2>&1 | head -n 1)
echo "RL-DEVICES rng_current=$rng | $gpio"
case $rng in virtio_rng*) ;; *) flunk "rng_current is '$rng', not virtio_rng" ;; esac
case $gpio in *' lines=4') ;; *) flunk "no virtio GPIO chip of 4 lines: $gpio" ;; esac
[ $fail = 0 ] || exit 1
pass "the two devices are there"

# ---- the loops ----------------------------------------------------------

rng_loop() { # END_MS: reads, bytes, bad reads, longest gap into /tmp/rl.rng
	n=0 bytes=0 bad=0 gap=0 last=$(upms)
	: > /tmp/rl.rng.prev
	while [ "$last" -lt "$1" ]; do
		dd if=/dev/hwrng of=/tmp/rl.rng.cur bs=1024 count=1 2>/dev/null
		got=$(wc -c < /tmp/rl.rng.cur)
		n=$((n + 1))
		bytes=$((bytes + got))
		distinct=$(od -An -v -tx1 /tmp/rl.rng.cur | tr -s ' ' '\n' | grep . | sort -u | wc -l)
		if [ "$got" != 1024 ]; then
			echo "RL-RNG-BAD read=$n got $got of 1024 bytes"
			bad=$((bad + 1))
		elif [ "$distinct" -lt 16 ]; then
			echo "RL-RNG-BAD read=$n only $distinct distinct byte values: $(od -An -tx1 -N 16 /tmp/rl.rng.cur)"
			bad=$((bad + 1))
		elif cmp -s /tmp/rl.rng.cur /tmp/rl.rng.prev; then
			echo "RL-RNG-BAD read=$n the same 1024 bytes as read $((n - 1))"
			bad=$((bad + 1))
		fi
		mv /tmp/rl.rng.cur /tmp/rl.rng.prev
		now=$(upms)
		[ $((now - last)) -gt $gap ] && gap=$((now - last))
		last=$now
		echo "$n $bytes $bad $gap" > /tmp/rl.rng
	done
}

echo "0 0 0 0" > /tmp/rl.rng
t0=$(upms)
end=$((t0 + dur * 1000))
rng_loop "$end" &
rng_pid=$!
gpiotest -c "$chip" -h 1 loop 0 2 1 $((dur * 1000)) > /tmp/rl.gpio 2>&1 &
gpio_pid=$!
echo "RL-READY up=$(up)"

# A field of gpiotest's last loop-progress/loop-end record.
field() { # KEY (0 before the first record)
	v=$(grep '^loop-\(progress\|end\) ' /tmp/rl.gpio | tail -n 1 | tr ' ' '\n' |
	    sed -n "s/^$1=//p")
	echo "${v:-0}"
}
running() { # PID: the process is there and not a zombie
	[ -d "/proc/$1" ] &&
	    [ "$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null)" != Z ]
}
counts() {
	read -r rn rb rbad rgap < /tmp/rl.rng
	echo "up=$(up) rng_reads=$rn rng_bytes=$rb rng_bad=$rbad rng_gap_ms=$rgap" \
	    "gpio_ops=$(field ops) gpio_failed=$(field failed) gpio_werr=$(field werr)" \
	    "gpio_wrong=$(field wrong) gpio_rerr=$(field rerr) gpio_other=$(field other)" \
	    "gpio_gap_ms=$(field maxgap_ms)"
}
gpio_errs_shown=0
gpio_errs() { # gpiotest's records but its progress, each shown once
	grep -v '^loop-\(progress\|end\) ' /tmp/rl.gpio > /tmp/rl.gpio.err
	n=$(wc -l < /tmp/rl.gpio.err)
	if [ "$n" -gt "$gpio_errs_shown" ]; then
		sed -n "$((gpio_errs_shown + 1)),\$p" /tmp/rl.gpio.err | sed 's/^/RL-GPIO-ERR /'
		gpio_errs_shown=$n
	fi
}
state() { # PID: its state and kernel wait
	echo "$(sed -n 's/^State:[[:space:]]*//p' "/proc/$1/status") in $(cat "/proc/$1/wchan" 2>/dev/null)"
}

limit=$((end + 20000))
while :; do
	sleep 1
	echo "RL-PROGRESS $(counts)"
	gpio_errs
	left=
	running $rng_pid && left="$left rng"
	running $gpio_pid && left="$left gpio"
	[ -z "$left" ] && break
	if [ "$(upms)" -gt "$limit" ]; then
		for d in $left; do
			eval "p=\$${d}_pid"
			echo "RL-HUNG $d: $(state "$p")"
			for q in $(cat "/proc/$p/task/$p/children" 2>/dev/null); do
				echo "RL-HUNG   child $q: $(tr '\0' ' ' < "/proc/$q/cmdline") $(state "$q")"
			done
		done
		flunk "loops still running 20 s after their end:$left (a request never completed)"
		echo "RL-FINAL $(counts)"
		exit 1
	fi
done
gpio_errs
echo "RL-FINAL $(counts)"

# ---- the verdicts -------------------------------------------------------

wait $rng_pid
read -r rn rb rbad rgap < /tmp/rl.rng
if [ "$rn" -gt 0 ] && [ "$rbad" = 0 ]; then
	pass "rng: $rn reads of 1024 bytes ($rb bytes), all full and random-looking"
else
	flunk "rng: $rbad bad reads of $rn"
fi

wait $gpio_pid
rc=$?
end_rec=$(grep '^loop-end ' /tmp/rl.gpio)
if [ $rc = 0 ] && [ -n "$end_rec" ] && [ "$(field failed)" = 0 ] &&
    [ "$(field werr)" = 0 ] && [ "$gpio_errs_shown" = 0 ]; then
	pass "gpio: $(echo "$end_rec" | cut -d' ' -f2-4): no failed request, no wrong or failed read"
else
	flunk "gpio: gpiotest loop exited $rc, ${end_rec:-no loop-end}, $gpio_errs_shown other records"
fi

# The kernel log: nothing about the devices failing, and no trouble.
dmesg > /tmp/rl.dmesg
{
	grep -iE 'virtio|vring|vhost|gpio|hwrng' /tmp/rl.dmesg |
	    grep -iE 'err|warn|fail|bad|bug|broken|invalid|unexpected|not a head|time.?out|stall' |
	    grep -v 'loading out-of-tree module taints kernel\|module verification failed: signature'
	grep -E '(^|[^A-Za-z])(BUG|WARNING|Oops|bad|Bad)([^A-Za-z]|$)|Call Trace|blocked for more than|rcu.*stall|soft lockup' /tmp/rl.dmesg
} | sort -u > /tmp/rl.dmesg.bad
if [ -s /tmp/rl.dmesg.bad ]; then
	sed 's/^/  dmesg: /' /tmp/rl.dmesg.bad
	flunk "kernel log: $(wc -l < /tmp/rl.dmesg.bad) lines about virtio or errors"
else
	pass "kernel log: no virtio error or warning, no BUG"
fi
exit $fail
