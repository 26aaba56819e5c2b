# SPDX-License-Identifier: BSD-3-Clause
# Guest side of tests/e2e/reconnect.sh, run by the guest's /init as
# /e2e/tests/reconnect. Arguments: the devices to use, of rng gpio i2c
# vsock (comma separated on the command line, like all arguments).
#
# One loop per device, in the background, each using its device over and
# over, so that one device stuck in its driver does not stop the others:
#   rng    64 bytes from /dev/hwrng (the virtio_rng driver is the current
#          hwrng: checked before the loop starts)
#   gpio   gpiotest set 0 (output, toggled each time), then get 2 (input)
#   i2c    i2ctest: an 8-byte read of the 24c02 at 0x50 (wr 0x00 -- 8)
#   vsock  vsocktest: connect to the host's port 5001 (CID 2), exchange
#          64 bytes each way (the host runs vsockhost listen in a loop)
# Each operation runs under timeout(1) (OPTIMEOUT seconds: a driver wait
# that a signal can end ends; an uninterruptible one stays stuck) and
# prints, on the console, one of
#   RC-OK DEV n=N up=SECONDS              the Nth successful operation
#   RC-ERR DEV n=N up=SECONDS rc=RC MSG   a failed one (124/143: timed out)
# and every 3 s, for each device,
#   RC-STATE DEV up=S ok=N err=M busy=SECONDS|- stat=STATE wchan=WCHAN
# (busy: how long the current operation has run; stat and wchan of its
# process from /proc, when it is running). The host watches these markers,
# kills and restarts vhostd, and judges; this script never ends by itself:
# the host stops QEMU (or init's e2e_timeout does).
set -f
OPTIMEOUT=10
up() { cut -d' ' -f1 /proc/uptime; }

# Per device: /tmp/rc.DEV.ok, .err (counts), .pid (the running op's
# pid), .start (its uptime at start), the op's output in .out. The ops
# run in a fresh sh under timeout(1), so they are in a file.
cat > /tmp/rc.ops <<'OPS'
op_rng() {
	n=$(head -c 64 /dev/hwrng | wc -c)
	[ "$n" = 64 ] || { echo "read $n of 64 bytes"; return 1; }
}
op_gpio() {
	v=$(cat /tmp/rc.gpio.v 2>/dev/null || echo 0)
	v=$((1 - v))
	echo $v > /tmp/rc.gpio.v
	gpiotest -c 'virtio*' set 0 $v || return
	gpiotest -c 'virtio*' get 2
}
op_i2c() {
	i2ctest -b 'i2c_virtio*' wr 0x50 0x00 -- 8
}
op_vsock() {
	vsocktest -t 8000 -r 3000 -s 9 connect 2 5001 stream xfer 64
}
OPS

loop() { # DEV
	d=$1 ok=0 err=0
	echo 0 > /tmp/rc.$d.ok
	echo 0 > /tmp/rc.$d.err
	while :; do
		up > /tmp/rc.$d.start
		timeout $OPTIMEOUT sh -c ". /tmp/rc.ops; op_$d" > /tmp/rc.$d.out 2>&1 &
		echo $! > /tmp/rc.$d.pid
		wait $!
		rc=$?
		rm -f /tmp/rc.$d.pid
		if [ $rc = 0 ]; then
			ok=$((ok + 1))
			echo $ok > /tmp/rc.$d.ok
			echo "RC-OK $d n=$ok up=$(up)"
			sleep 0.3
		else
			err=$((err + 1))
			echo $err > /tmp/rc.$d.err
			echo "RC-ERR $d n=$err up=$(up) rc=$rc $(tail -n 2 /tmp/rc.$d.out | tr '\n' ' ' | cut -c1-160)"
			sleep 1
		fi
	done
}

# Each device must be there before its loop starts; one that is not is
# reported (RC-ABSENT DEV) and left out.
present=
for d in "$@"; do
	case $d in
	rng)
		i=0
		while [ $i -lt 100 ]; do
			case $(cat /sys/class/misc/hw_random/rng_current 2>/dev/null) in
			virtio_rng*) break ;;
			esac
			sleep 0.1
			i=$((i + 1))
		done
		info="rng_current=$(cat /sys/class/misc/hw_random/rng_current 2>/dev/null)"
		case $info in *virtio_rng*) ok=1 ;; *) ok= ;; esac
		;;
	gpio)
		info=$(gpiotest -w 10000 -c 'virtio*' info 2>&1 | head -n 1)
		case $info in chip*) ok=1 ;; *) ok= ;; esac
		;;
	i2c)
		info=$(i2ctest buses 2>&1 | grep virtio)
		[ -n "$info" ] && ok=1 || ok=
		;;
	vsock)
		i=0
		while [ $i -lt 50 ] && [ ! -e /dev/vsock ]; do
			sleep 0.1
			i=$((i + 1))
		done
		info=$(vsocktest cid 2>&1)
		case $info in cid=3) ok=1 ;; *) ok= ;; esac
		;;
	*)
		info="unknown device"
		ok=
		;;
	esac
	if [ -n "$ok" ]; then
		echo "RC-DEVICE $d $info"
		present="$present $d"
	else
		echo "RC-ABSENT $d $info"
	fi
done
set -- $present

for d in "$@"; do
	loop "$d" &
done
echo "RC-READY $* up=$(up)"

while :; do
	sleep 3
	for d in "$@"; do
		busy=- st=- wc=-
		p=$(cat /tmp/rc.$d.pid 2>/dev/null)
		if [ -n "$p" ]; then
			s=$(cat /tmp/rc.$d.start 2>/dev/null)
			busy=$(awk -v a="$(up)" -v b="${s:-0}" 'BEGIN { printf "%.1f", a - b }')
			# the op's processes (3 levels down): a stuck one (D)
			# if there is, else the last one found
			all=$p
			lvl=$p
			for i in 1 2 3; do
				nxt=
				for q in $lvl; do
					nxt="$nxt $(cat /proc/$q/task/$q/children 2>/dev/null)"
				done
				all="$all $nxt"
				lvl=$nxt
			done
			pick=
			for q in $all; do
				s=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' /proc/$q/status 2>/dev/null)
				[ -n "$s" ] || continue
				pick=$q
				[ "$s" = D ] && break
			done
			if [ -n "$pick" ]; then
				st=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' /proc/$pick/status 2>/dev/null)
				wc=$(cat /proc/$pick/wchan 2>/dev/null)
				st="$st($(tr '\0' ' ' < /proc/$pick/cmdline 2>/dev/null | cut -c1-40 | sed 's/ *$//' | tr ' ' '_'))"
			fi
		fi
		echo "RC-STATE $d up=$(up) ok=$(cat /tmp/rc.$d.ok) err=$(cat /tmp/rc.$d.err) busy=$busy stat=$st wchan=${wc:--}"
	done
done
