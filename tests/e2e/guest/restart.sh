# SPDX-License-Identifier: BSD-3-Clause
# Guest side of tests/e2e/restart.sh, run by the guest's /init as
# /e2e/tests/restart. Argument: how long the loops run, in seconds.
#
# Three devices served by one vhostd, whose workers the host kills with
# SIGKILL while three loops use them, all at the same time:
#   rng   dd of 1024 bytes from /dev/hwrng, over and over: every read must
#         be full (one read(2), no iflag=fullblock), have at least 16
#         distinct byte values (all zero or constant: the device did not
#         write it) and differ from the read before (a stale buffer)
#   gpio  gpiotest loop: set line 0 (output, toggled), read it back, read
#         line 2 (an input the host drives to 1); a set the device fails
#         (it completes an in-flight write with VIRTIO_GPIO_STATUS_ERR
#         when its worker dies) is counted, a wrong or failed read is not
#         allowed (see gpiotest.c)
#   i2c   i2ctest loop: write an 8-byte page of the 24c02 at 0x50 in
#         [0x00, 0x80), read it back; a transfer the device fails is
#         counted, data other than what was written is not allowed, all
#         0xff (the sim EEPROM erased) is counted apart (see i2ctest.c)
# Console lines for the host:
#   RS-DEVICES ...                    the devices are there
#   RS-READY up=S                     the loops run
#   RS-PROGRESS up=S rng_reads=N rng_bytes=B gpio_ops=N gpio_failed=F
#       gpio_werr=W i2c_ops=N i2c_xerr=E i2c_erased=Z     (every second)
#   RS-FINAL (the same fields)        the loops ended
#   RS-EEPROM ...                     the page written before the loops
# and E2E-CHECK PASS/FAIL lines: every loop ran to its end with no wrong
# read, none went 10 s without progress (a request the device lost hangs
# its driver: gpio-virtio and virtio_rng wait with no time limit), the
# kernel log has no virtio error beyond gpio-virtio's one line per failed
# request (as many as gpiotest counted) and no BUG, WARNING, Oops or "bad".
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
bus='i2c_virtio*'
stall=10

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
i2c=$(i2ctest -w 10000 buses 2>&1 | grep 'name=i2c_virtio')
echo "RS-DEVICES rng_current=$rng | $gpio | $i2c"
case $rng in virtio_rng*) ;; *) flunk "rng_current is '$rng', not virtio_rng" ;; esac
case $gpio in *' lines=4') ;; *) flunk "no virtio GPIO chip of 4 lines: $gpio" ;; esac
[ -n "$i2c" ] || flunk "no i2c_virtio adapter"
[ $fail = 0 ] || exit 1
pass "the three devices are there"

# A page the loop does not touch, written before the host kills anything
# and read at the end: does the sim EEPROM keep its content?
eeprom_page="0xf8 0x11 0x22 0x33 0x44 0x55 0x66 0x77 0x88"
eeprom_want="11 22 33 44 55 66 77 88"
# shellcheck disable=SC2086 # the bytes are words
i2ctest -b "$bus" write 0x50 $eeprom_page > /dev/null ||
	flunk "the EEPROM page 0xf8 cannot be written"

# ---- the loops ----------------------------------------------------------

rng_loop() { # END_MS: reads, bytes, bad reads into /tmp/rs.rng
	n=0 bytes=0 bad=0
	: > /tmp/rs.rng.prev
	while [ "$(upms)" -lt "$1" ]; do
		dd if=/dev/hwrng of=/tmp/rs.rng.cur bs=1024 count=1 2>/dev/null
		got=$(wc -c < /tmp/rs.rng.cur)
		n=$((n + 1))
		bytes=$((bytes + got))
		distinct=$(od -An -v -tx1 /tmp/rs.rng.cur | tr -s ' ' '\n' | grep . | sort -u | wc -l)
		if [ "$got" != 1024 ]; then
			echo "RS-RNG-BAD read=$n got $got of 1024 bytes"
			bad=$((bad + 1))
		elif [ "$distinct" -lt 16 ]; then
			echo "RS-RNG-BAD read=$n only $distinct distinct byte values: $(od -An -tx1 -N 16 /tmp/rs.rng.cur)"
			bad=$((bad + 1))
		elif cmp -s /tmp/rs.rng.cur /tmp/rs.rng.prev; then
			echo "RS-RNG-BAD read=$n the same 1024 bytes as read $((n - 1))"
			bad=$((bad + 1))
		fi
		mv /tmp/rs.rng.cur /tmp/rs.rng.prev
		echo "$n $bytes $bad" > /tmp/rs.rng
	done
}

echo "0 0 0" > /tmp/rs.rng
t0=$(upms)
end=$((t0 + dur * 1000))
rng_loop "$end" &
rng_pid=$!
gpiotest -c "$chip" -h 1 loop 0 2 1 $((dur * 1000)) > /tmp/rs.gpio 2>&1 &
gpio_pid=$!
i2ctest -b "$bus" loop 0x50 0x80 $((dur * 1000)) > /tmp/rs.i2c 2>&1 &
i2c_pid=$!
echo "RS-READY up=$(up)"

# A field of the last loop-progress/loop-end record of gpiotest/i2ctest.
field() { # FILE KEY
	grep '^loop-\(progress\|end\) ' "$1" | tail -n 1 | tr ' ' '\n' |
	    sed -n "s/^$2=//p"
}
# running PID: the process is there and not a zombie
running() {
	[ -d "/proc/$1" ] &&
	    [ "$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null)" != Z ]
}
counts() {
	read -r rn rb rbad < /tmp/rs.rng
	go=$(field /tmp/rs.gpio ops) gf=$(field /tmp/rs.gpio failed) gw=$(field /tmp/rs.gpio werr)
	io=$(field /tmp/rs.i2c ops) ix=$(field /tmp/rs.i2c xerr) iz=$(field /tmp/rs.i2c erased)
	echo "up=$(up) rng_reads=$rn rng_bytes=$rb gpio_ops=${go:-0} gpio_failed=${gf:-0} gpio_werr=${gw:-0} i2c_ops=${io:-0} i2c_xerr=${ix:-0} i2c_erased=${iz:-0}"
}

# What shows that a loop moves: its count (rng), its last record (gpio,
# i2c: one a second, even in a second of failed rounds).
moved() { # LOOP
	case $1 in
	rng) cat /tmp/rs.rng ;;
	*) grep '^loop-' "/tmp/rs.$1" | tail -n 1 ;;
	esac
}
state() { # PID: its state and kernel wait
	echo "$(sed -n 's/^State:[[:space:]]*//p' "/proc/$1/status") in $(cat "/proc/$1/wchan" 2>/dev/null)"
}

# Every second: the counts; a loop that stops moving is reported once.
for d in rng gpio i2c; do
	eval "last_$d= seen_$d=\$t0"
done
stalled=
limit=$((end + 20000))
while :; do
	sleep 1
	now=$(upms)
	echo "RS-PROGRESS $(counts)"
	left=
	for d in rng gpio i2c; do
		eval "p=\$${d}_pid lv=\$last_$d sv=\$seen_$d"
		running "$p" || continue
		left="$left $d"
		v=$(moved $d)
		if [ "$v" != "$lv" ]; then
			eval "last_$d=\$v seen_$d=\$now"
		elif [ $((now - sv)) -gt $((stall * 1000)) ]; then
			case " $stalled " in
			*" $d "*) ;;
			*)
				stalled="$stalled $d"
				flunk "$d loop: no progress for $(((now - sv) / 1000)) s: $(state "$p")"
				for q in $(cat "/proc/$p/task/$p/children" 2>/dev/null); do
					echo "  child $q: $(tr '\0' ' ' < "/proc/$q/cmdline") $(state "$q")"
				done
				;;
			esac
		fi
	done
	[ -z "$left" ] && break
	if [ "$now" -gt "$limit" ]; then
		flunk "loops still running 20 s after their end:$left (a request never completed)"
		echo "RS-FINAL $(counts)"
		exit 1
	fi
done
echo "RS-FINAL $(counts)"

# ---- the verdicts -------------------------------------------------------

events() { # FILE NAME: a loop's records but its progress, the first 30
	n=$(grep -vc '^loop-\(progress\|end\) ' "$1")
	grep -v '^loop-\(progress\|end\) ' "$1" | head -n 30 | sed "s/^/  $2: /"
	[ "$n" -gt 30 ] && echo "  $2: ... $((n - 30)) more"
	grep '^loop-end ' "$1" | sed "s/^/  $2: /"
}

wait $rng_pid
read -r rn rb rbad < /tmp/rs.rng
if [ "$rn" -gt 0 ] && [ "$rbad" = 0 ]; then
	pass "rng: $rn reads of 1024 bytes ($rb bytes), all full and random-looking"
else
	flunk "rng: $rbad bad reads of $rn"
fi

loop_judged() { # PID FILE PROGRAM DEVICE WHAT: a loop program's verdict
	wait "$1"
	rc=$?
	events "$2" "$3"
	if [ $rc = 0 ] && grep -q '^loop-end ' "$2"; then
		pass "$4: $(grep '^loop-end ' "$2" | cut -d' ' -f2-4): $5"
	else
		flunk "$4: $3 loop exited $rc"
	fi
}
loop_judged $gpio_pid /tmp/rs.gpio gpiotest gpio "no wrong or failed read"
loop_judged $i2c_pid /tmp/rs.i2c i2ctest i2c "no wrong data"

got=$(i2ctest -b "$bus" wr 0x50 0xf8 -- 8 2>&1)
echo "RS-EEPROM want=$eeprom_want got=$(echo "$got" | sed -n 's/.* rdata=//p')"
echo "$got" | grep -q '^wr ' || flunk "i2c: the bus does not work after the loop: $got"

# The kernel log: gpio-virtio's "GPIO request failed: N" is the device's
# error status, one per failed request, which gpiotest counted (it reads
# /dev/kmsg); anything else about virtio, and any BUG, is not expected.
dmesg > /tmp/rs.dmesg
nfail=$(grep -c 'GPIO request failed: ' /tmp/rs.dmesg)
werr=$(field /tmp/rs.gpio werr)
if [ "$nfail" = "${werr:-0}" ]; then
	pass "kernel log: $nfail 'GPIO request failed' lines, the failed requests gpiotest counted"
else
	flunk "kernel log: $nfail 'GPIO request failed' lines, gpiotest counted ${werr:-0}"
fi
{
	# the devices' drivers and the virtio core saying something is wrong
	grep -iE 'virtio|vring|vhost|gpio|i2c|hwrng' /tmp/rs.dmesg |
	    grep -iE 'err|warn|fail|bad|bug|broken|invalid|unexpected|not a head|time.?out|stall' |
	    grep -v 'GPIO request failed: \|loading out-of-tree module taints kernel\|module verification failed: signature'
	# the kernel in trouble, whatever the subsystem
	grep -E '(^|[^A-Za-z])(BUG|WARNING|Oops|bad|Bad)([^A-Za-z]|$)|Call Trace|blocked for more than|rcu.*stall|soft lockup' /tmp/rs.dmesg
} | sort -u > /tmp/rs.dmesg.bad
if [ -s /tmp/rs.dmesg.bad ]; then
	sed 's/^/  dmesg: /' /tmp/rs.dmesg.bad
	flunk "kernel log: $(wc -l < /tmp/rs.dmesg.bad) lines about virtio or errors"
else
	pass "kernel log: no virtio error or warning, no BUG"
fi
exit $fail
