#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# End to end: does a guest keep its devices across a restart of vhostd
# itself (kill -9 of main, which takes its workers with it, then a new
# vhostd on the same configuration)? For each QEMU (Debian 12's 7.2;
# bookworm-backports' 10.0 through e2e_use_backports_qemu, or a SKIP with
# the reason) and each socket mode:
#   A  vhostd listens; QEMU connects with -chardev socket,path=S,reconnect=1
#   B  vhostd connects ("connect": true, "reconnect_ms": 200); QEMU
#      listens with -chardev socket,path=S,server=on,wait=off
# one guest is booted with all four devices (rng; gpio on a sim chip; i2c
# on a sim bus with a 24c02 at 0x50; vsock, CID 3), whose loops
# (guest/reconnect.sh) keep using each device and print a marker per
# operation; the vsock loop connects to the host's port 5001, where
# vsockhost listens again after each connection. Once every device works,
# vhostd is killed with SIGKILL, left dead E2E_RECONNECT_DOWN s (2),
# started again, and each device is "recovered" if its loop completes a
# new operation within E2E_RECONNECT_WAIT s (20) of the restart, else
# "not-recovered", with the guest's view (the operation stuck, for how
# long, in which kernel wait; or the errors), what vhostd logged and which
# vhost-user messages QEMU sent after the restart (vhostd -v -v).
# If QEMU dies on the reconnection, which device did it is not known:
# then each device gets a guest of its own, and QEMU's death is that
# device's result.
#
# Neither mode can give these devices to QEMU with -device at start:
# vhost-user-{rng,gpio,i2c,vsock} talk to the back-end during realize,
# and a reconnect=1 chardev connects only later (from the main loop), a
# server=on,wait=off one has no client yet: "Failed to set msg fds.",
# "vhost_backend_init failed" (QEMU 7.2's vhost-user-rng even asserts).
# Only QEMU 7.2's vhost-user-gpio waits for its chardev in realize. So
# each device's cold-plug is first probed alone (QEMU -S, no guest: it
# answers QMP once its devices are realized) and noted in the detail, and
# the guest is booted with QEMU -S: the chardevs connect, then the
# devices are added with QMP device_add into pcie-root-ports (before the
# guest runs, so that it finds them at boot), then cont. In mode B QEMU
# runs with umask 000: vhostd's user (nobody) must be able to connect to
# QEMU's sockets. QEMU's output (what it says on the disconnection and
# the reconnection) is in $e2e_work/VM.qemu.log, the part after the kill
# is printed; vhostd's log is VM.vhostd.log.
#
# Output: one line per combination,
#   RESULT <qemu> <device> <mode> recovered|not-recovered|skipped (<detail>)
# also written to $E2E_OUT/reconnect-results.txt (default
# $E2E_BUILDDIR/tests/e2e/reconnect-results.txt), then a table. A device
# that does not recover is a result, not a failure: the script exits 0 if
# it ran, 1 on an infrastructure failure (vhostd does not start or does
# not connect, a guest does not boot, QMP does not answer), 77 if the
# guest or QEMU 7.2's devices cannot be had.
#
# Seen with QEMU 7.2.22 and 10.0.2 (Debian): only QEMU 7.2's gpio
# recovers, in both modes (it sets the device up again from
# GET_FEATURES); QEMU 7.2's rng and i2c resume the old session without
# negotiating (SET_VRING_CALL, SET_FEATURES, then GET_STATUS, which
# vhostd refuses as not negotiated) and QEMU aborts in
# msix_unset_vector_notifiers; QEMU 10's rng, gpio and i2c
# (vhost-user-base) abort at once on the new connection (vhost_dev_start:
# hdev->vhost_ops); vhost-user-vsock has no reconnection at all: the
# chardev reconnects, QEMU sends nothing, the guest's connects time out.
#
# Variables: E2E_RECONNECT_QEMU10=0 leaves QEMU 10 out;
# E2E_RECONNECT_EXPECT="7.2:rng 7.2:gpio" fails the script unless those
# recover in every mode (tests/e2e/reconnect-check.sh);
# E2E_RECONNECT_MEM_SLOTS=1 keeps vhostd's default "mem_slots": true (rng
# and i2c on QEMU 7.2 then do not recover); E2E_RECONNECT_SPLIT=1 gives
# each device its own guest from the start;
# E2E_RECONNECT_MODES (default "A B"); E2E_RECONNECT_WAIT,
# E2E_RECONNECT_DOWN; E2E_RECONNECT_BOOT: how long a guest may take to
# boot and have every device work (150 s); the usual ones of lib.sh.
# Boots of 10-30 s each: 4 when QEMU survives every reconnection, 20
# as seen (QEMU dies in each combined guest); about 7 minutes on two
# loaded cores.

: "${E2E_GUEST_TIMEOUT:=400}" "${E2E_QEMU_TIMEOUT:=420}"
: "${E2E_RECONNECT_WAIT:=20}" "${E2E_RECONNECT_DOWN:=2}"
: "${E2E_RECONNECT_BOOT:=150}" "${E2E_RECONNECT_MODES:=A B}"
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

devices="rng gpio i2c vsock"

e2e_setup
e2e_require_qemu vhost-user-rng-pci vhost-user-gpio-pci vhost-user-i2c-pci \
    vhost-user-vsock-pci pcie-root-port
e2e_require_vhostd

results=${E2E_OUT:-$E2E_BUILDDIR/tests/e2e}/reconnect-results.txt
mkdir -p "$(dirname "$results")" || e2e_error "cannot create $(dirname "$results")"
: > "$results" || e2e_error "cannot write $results"

e2e_vsockhost

e2e_build_modules
e2e_static_cc "$e2e_work/gpiotest" "$E2E_SRCDIR/guest/gpiotest.c"
e2e_static_cc "$e2e_work/i2ctest" "$E2E_SRCDIR/guest/i2ctest.c"
e2e_static_cc "$e2e_work/vsocktest" "$E2E_SRCDIR/guest/vsocktest.c"
guest=$e2e_work/guest
e2e_build_guest "$guest" -m virtio_rng \
    -m "$e2e_modules/gpio-virtio.ko" \
    -m i2c-dev -m "$e2e_modules/i2c-virtio.ko" \
    -m vsock -m vmw_vsock_virtio_transport_common -m vmw_vsock_virtio_transport \
    -f "$e2e_work/gpiotest:/e2e/bin/gpiotest" \
    -f "$e2e_work/i2ctest:/e2e/bin/i2ctest" \
    -f "$e2e_work/vsocktest:/e2e/bin/vsocktest" \
    -f "$E2E_SRCDIR/guest/reconnect.sh:/e2e/tests/reconnect"

# vhostd (main, as nobody) must reach the runtime directories under it.
chmod 755 "$e2e_rt"

infra=0
result() { # QEMU DEVICE MODE STATUS DETAIL [SHORT]: SHORT for the table
	line="RESULT $1 $2 $3 $4 ($5)"
	echo "$line"
	echo "$line" >> "$results"
	eval "short_$(echo "$1" | tr -d .)_$2_$3=\"\${6:-\$4}\""
}
con() { tr -d '\r' < "$e2e_work/$1.console"; }
now_ms() { date +%s%N | cut -c1-13; }

# ---- vhostd, one per combination, restarted once ----------------------

# rc_vhostd_start CFG LOG [SOCKET...]: start vhostd (log appended to LOG)
# and wait until it serves (its "serving" line) and, for listening
# devices, until the sockets exist. 1 if it did not.
rc_vhostd_start() {
	cfg=$1 vhostd_log=$2
	shift 2
	_vn0=$(grep -c ' serving ' "$vhostd_log" 2>/dev/null)
	echo "==== $(date +%T) starting vhostd" >> "$vhostd_log"
	"$VHOSTD" -f -v -v -c "$cfg" >> "$vhostd_log" 2>&1 &
	vhostd_pid=$!
	_vi=0
	while [ "$(grep -c ' serving ' "$vhostd_log")" -le "${_vn0:-0}" ]; do
		if ! pid_running "$vhostd_pid"; then
			wait "$vhostd_pid"
			e2e_log "vhostd exited (status $?) at start"
			vhostd_pid=
			tail -n 20 "$vhostd_log" | sed 's/^/  vhostd: /'
			return 1
		fi
		_vi=$((_vi + 1))
		[ $_vi -gt 100 ] && { e2e_log "vhostd did not start within 10 s"; return 1; }
		sleep 0.1
	done
	for s in "$@"; do
		[ -S "$s" ] || { e2e_log "vhostd serves, but no socket $s"; return 1; }
	done
	e2e_log "vhostd (pid $vhostd_pid) serving"
}

# ---- QMP over a pipe chardev (VM.qmp.in, VM.qmp.out) ------------------

# qmp VM JSON: send, wait for the reply ({"return"...} or {"error"...}),
# which is left in $qmp_reply. 1 on no reply within 10 s.
qmp() {
	_ql=$e2e_work/$1.qmp.log
	_qn=$(grep -c '^{"return"\|^{"error"' "$_ql")
	_qp=$(eval echo "\${e2e_qemu_pid_$1:-}")
	[ -n "$_qp" ] && kill -0 "$_qp" 2>/dev/null || { qmp_reply="(QEMU is gone)"; return 1; }
	timeout 5 sh -c 'printf "%s\n" "$1" > "$2"' sh "$2" "$e2e_work/$1.qmp.in" ||
		{ qmp_reply="(cannot write to QMP)"; return 1; }
	_qi=0
	while [ "$(grep -c '^{"return"\|^{"error"' "$_ql")" -le "$_qn" ]; do
		_qi=$((_qi + 1))
		[ $_qi -gt 100 ] && { qmp_reply="(no QMP reply)"; return 1; }
		kill -0 "$_qp" 2>/dev/null || { qmp_reply="(QEMU is gone)"; return 1; }
		sleep 0.1
	done
	qmp_reply=$(grep '^{"return"\|^{"error"' "$_ql" | sed -n "$((_qn + 1))p")
	case $qmp_reply in '{"return"'*) return 0 ;; esac
	return 1
}

# ---- the cold-plug probe -------------------------------------------------

# coldplug DEV CHARDEV-OPTS: can QEMU start with this device given by
# -device on such a chardev? Sets $cold to "ok" or what went wrong. QEMU
# runs paused (-S), without a guest; it answers QMP only once every
# device is realized. (Not -daemonize: its child resets the umask to 027,
# so that vhostd's user could not connect to its sockets in mode B.)
coldplug() {
	pv=probe_$1
	rm -f "$e2e_work/$pv.qmp.in" "$e2e_work/$pv.qmp.out"
	mkfifo "$e2e_work/$pv.qmp.in" "$e2e_work/$pv.qmp.out" || e2e_error "mkfifo"
	: > "$e2e_work/$pv.qmp.log"
	cat "$e2e_work/$pv.qmp.out" > "$e2e_work/$pv.qmp.log" &
	_cat=$!
	(
		[ "$mode" = B ] && umask 000
		exec timeout -k 2 30 "$QEMU_SYSTEM_X86" -nodefaults -display none \
		    -no-user-config -S -machine q35,accel=tcg -m 128 \
		    -object memory-backend-memfd,id=mem,size=128M,share=on \
		    -numa node,memdev=mem \
		    -chardev "pipe,id=qmp,path=$e2e_work/$pv.qmp" \
		    -mon chardev=qmp,mode=control \
		    -chardev "socket,id=p,path=$2" \
		    -device "vhost-user-$1-pci,chardev=p"
	) > "$e2e_work/$pv.log" 2>&1 &
	_cp=$!
	eval "e2e_qemu_pid_$pv=$_cp"
	if qmp "$pv" '{"execute":"qmp_capabilities"}'; then
		cold=ok
	elif kill -0 "$_cp" 2>/dev/null; then
		cold="QEMU hangs at start: $(grep -v 'terminating on signal' "$e2e_work/$pv.log" | sed 's/^[^ ]*: -device [^ ]*: //' | tr '\n' ' ' | sed 's/ *$//')"
	else
		wait "$_cp"
		cold="exit $?: $(grep -v 'terminating on signal' "$e2e_work/$pv.log" | sed 's/^[^ ]*: -device [^ ]*: //; s/^qemu-system-x86_64: //' | tr '\n' ' ' | sed 's/ *$//')"
	fi
	kill "$_cp" 2>/dev/null
	wait "$_cp" 2>/dev/null
	kill "$_cat" 2>/dev/null
	eval "e2e_qemu_pid_$pv="
	sleep 0.5	# vhostd sees the probe go
}

# ---- one guest: some devices, one QEMU, one socket mode ---------------

# dev_json DEV SUFFIX: the device's entry in vhostd's configuration
dev_json() {
	case $1 in
	rng) echo "{ \"id\": \"$vm-rng\", \"type\": \"rng\", \"socket\": \"rng.sock\"$2 }" ;;
	gpio) echo "{ \"id\": \"$vm-gpio\", \"type\": \"gpio\", \"socket\": \"gpio.sock\"$2,
      \"backend\": \"sim\", \"chip\": \"$d/board.gpiosim\", \"ngpio\": 4 }" ;;
	i2c) echo "{ \"id\": \"$vm-i2c\", \"type\": \"i2c\", \"socket\": \"i2c.sock\"$2,
      \"backend\": \"sim\", \"bus\": \"e2e\", \"addresses\": [\"0x50\"],
      \"parts\": [ { \"type\": \"24c02\", \"address\": \"0x50\" } ] }" ;;
	vsock) echo "{ \"id\": \"$vm-vsock\", \"type\": \"vsock\", \"socket\": \"vsock.sock\"$2,
      \"guest_cid\": 3, \"uds_path\": \"$d/vm.vsock\" }" ;;
	esac
}

# run_combo QLABEL MODE DEVICES PROBE: one guest with DEVICES (a list) on
# QEMU QLABEL in socket mode MODE, vhostd killed and restarted once; PROBE
# 1: probe each device's cold-plug first (into cold_DEV). Prints the
# RESULT lines, except when the guest has several devices and QEMU died
# after the restart: then $combo_qemu_died says how, for the caller to
# try each device alone.
run_combo() {
	ql=$1 mode=$2 devs=$3 probe=$4
	combo_qemu_died=
	vm=v$(echo "$ql" | tr -d .)$mode
	solo=
	case $devs in *" "*) ;; *) solo=1; vm=${vm}_$devs ;; esac
	d=$e2e_rt/$vm
	mkdir -p "$d"
	chmod 755 "$d"
	vlog=$e2e_work/$vm.vhostd.log
	: > "$vlog"
	vh_loop=
	e2e_log "==== QEMU $ql, mode $mode, devices $devs ($vm)"
	# "mem_slots": false: QEMU then sends the whole memory table again
	# on the new connection (E2E_RECONNECT_MEM_SLOTS=1: the default).
	c=', "mem_slots": false'
	[ "${E2E_RECONNECT_MEM_SLOTS:-0}" = 1 ] && c=
	[ "$mode" = B ] && c="$c"', "connect": true, "reconnect_ms": 200'
	cfg=$e2e_work/$vm.json
	{
		echo "{ \"runtime_dir\": \"$d\", \"devices\": ["
		sep=
		for dev in $devs; do
			printf '%s    %s' "$sep" "$(dev_json "$dev" "$c")"
			sep=",
"
		done
		echo
		echo "] }"
	} > "$cfg"
	if ! "$VHOSTD" -n -c "$cfg" > "$e2e_work/$vm.check.log" 2>&1; then
		sed 's/^/  /' "$e2e_work/$vm.check.log"
		combo_fail "vhostd -n rejects the configuration"
		return
	fi
	socks=
	if [ "$mode" = A ]; then
		chopt=reconnect=1
		for dev in $devs; do
			socks="$socks $d/$dev.sock"
		done
	else
		chopt=server=on,wait=off
	fi

	# The host's end of the vsock loop: a listener on port 5001, again
	# after each connection.
	case " $devs " in
	*" vsock "*)
		( vhc=
		  trap 'kill $vhc 2>/dev/null; exit 0' TERM
		  while :; do
			"$VSOCKHOST" -t 20000 -s 8 listen "$d/vm.vsock_5001" stream xfer 64 &
			vhc=$!
			wait $vhc
			sleep 0.1
		  done ) > "$e2e_work/$vm.vsockhost.log" 2>&1 &
		vh_loop=$!
		e2e_bg_pids="$e2e_bg_pids $vh_loop"
		;;
	esac

	# shellcheck disable=SC2086
	if ! rc_vhostd_start "$cfg" "$vlog" $socks; then
		combo_fail "vhostd did not start"
		return
	fi

	# Cold-plug probes, one device at a time.
	if [ "$probe" = 1 ]; then
		for dev in $devs; do
			coldplug "$dev" "$d/$dev.sock,$chopt"
			eval "cold_$dev=\$cold"
			e2e_log "$vm: -device vhost-user-$dev-pci on a $chopt chardev at start: $cold"
		done
		pid_running "$vhostd_pid" || { combo_fail "vhostd died during the cold-plug probes"; return; }
	fi

	# The guest: chardevs and root ports, QEMU paused; devices come by QMP.
	rm -f "$e2e_work/$vm.qmp.in" "$e2e_work/$vm.qmp.out"
	mkfifo "$e2e_work/$vm.qmp.in" "$e2e_work/$vm.qmp.out" || e2e_error "mkfifo"
	: > "$e2e_work/$vm.qmp.log"
	cat "$e2e_work/$vm.qmp.out" > "$e2e_work/$vm.qmp.log" &
	e2e_bg_pids="$e2e_bg_pids $!"
	qargs="-S -chardev pipe,id=qmp,path=$e2e_work/$vm.qmp -mon chardev=qmp,mode=control"
	i=0
	for dev in $devs; do
		qargs="$qargs -chardev socket,id=c$i,path=$d/$dev.sock,$chopt"
		qargs="$qargs -device pcie-root-port,id=rp$i,chassis=$((i + 1))"
		i=$((i + 1))
	done
	old_umask=$(umask)
	[ "$mode" = B ] && umask 000	# vhostd's user must connect to QEMU's sockets
	# shellcheck disable=SC2086
	qemu_start "$vm" "$guest" reconnect "$(echo $devs | tr ' ' ,)" -- $qargs
	umask "$old_umask"
	qpid=$(eval echo "\${e2e_qemu_pid_$vm}")
	t_boot=$(e2e_now)

	if ! qmp "$vm" '{"execute":"qmp_capabilities"}'; then
		combo_fail "QMP does not answer: $qmp_reply"
		return
	fi
	# Every chardev connected (vhostd accepted, or connected to QEMU).
	i=0
	while :; do
		qmp "$vm" '{"execute":"query-chardev"}'
		disc=$(echo "$qmp_reply" | tr '{' '\n' | grep '"label": "c[0-9]"' | grep -c 'disconnected:')
		[ "$disc" = 0 ] && break
		i=$((i + 1))
		if [ $i -gt 150 ]; then
			combo_fail "QEMU's chardevs not connected after 15 s: $qmp_reply"
			return
		fi
		sleep 0.1
	done
	i=0
	plugged=
	for dev in $devs; do
		if qmp "$vm" "{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"vhost-user-$dev-pci\",\"chardev\":\"c$i\",\"bus\":\"rp$i\",\"id\":\"$dev\"}}"; then
			plugged="$plugged $dev"
			eval "plug_$dev=ok"
		else
			eval "plug_$dev=\$qmp_reply"
			e2e_log "$vm: device_add $dev: $qmp_reply"
		fi
		i=$((i + 1))
	done
	qmp "$vm" '{"execute":"cont"}' || { combo_fail "cont: $qmp_reply"; return; }
	e2e_log "$vm: devices added:$plugged; guest running"

	# Boot, and every device used at least twice.
	i=0
	lim=$((E2E_RECONNECT_BOOT * 10))
	while [ $i -lt $lim ]; do
		ready=
		con "$vm" | grep -q '^RC-READY' && ready=1
		for dev in $plugged; do
			con "$vm" | grep -q "^RC-ABSENT $dev" && continue
			[ "$(con "$vm" | grep -c "^RC-OK $dev ")" -ge 2 ] || ready=
		done
		[ -n "$ready" ] && break
		kill -0 "$qpid" 2>/dev/null || break
		sleep 0.1
		i=$((i + 1))
	done
	if ! con "$vm" | grep -q '^RC-READY'; then
		if con "$vm" | grep -q '^E2E-BOOTED'; then
			combo_fail "the guest booted but its loops did not start"
		else
			combo_fail "the guest did not boot"
		fi
		e2e_dump_guest "$vm"
		return
	fi
	kill -0 "$qpid" 2>/dev/null || { combo_fail "QEMU ended before the restart"; e2e_dump_guest "$vm"; return; }
	e2e_log "$vm: guest up and devices used in $(( $(e2e_now) - t_boot ))s"
	con "$vm" | grep '^RC-DEVICE\|^RC-ABSENT' | sed "s/^/  $vm: /"

	# Kill vhostd in the middle of the loops.
	workers=$(vhostd_children)
	qlog0=$(wc -l < "$e2e_work/$vm.qemu.log")
	vlog0=$(wc -l < "$vlog")
	n0=$(con "$vm" | wc -l)
	kill -KILL "$vhostd_pid"
	wait "$vhostd_pid" 2>/dev/null
	vhostd_pid=
	e2e_log "$vm: vhostd killed (SIGKILL); its workers were: $(echo $workers)"
	sleep 1
	# (PR_SET_PDEATHSIG: they die with main; gone or a zombie is fine)
	left=
	for w in $workers; do
		wst=$(ps -o stat=,wchan=,args= -p "$w" 2>/dev/null)
		case $wst in
		""|Z*) ;;
		*) left="$left $w ($wst)" ;;
		esac
	done
	[ -n "$left" ] && e2e_log "$vm: NOTE: workers still running 1 s after main's SIGKILL:$left"
	sleep $((E2E_RECONNECT_DOWN - 1))
	n1=$(con "$vm" | wc -l)
	t_re=$(now_ms)
	# shellcheck disable=SC2086
	if ! rc_vhostd_start "$cfg" "$vlog" $socks; then
		combo_fail "vhostd did not start again"
		return
	fi
	e2e_log "$vm: vhostd started again after ${E2E_RECONNECT_DOWN}s"

	# Recovery: a new RC-OK after the restart, per device.
	for dev in $plugged; do
		eval "rec_$dev="
	done
	i=0
	lim=$((E2E_RECONNECT_WAIT * 10))
	done_at=
	while [ $i -lt $lim ]; do
		all=1
		for dev in $plugged; do
			if [ -z "$(eval echo "\$rec_$dev")" ]; then
				if con "$vm" | sed -n "$((n1 + 1)),\$p" | grep -q "^RC-OK $dev "; then
					eval "rec_$dev=$(( $(now_ms) - t_re ))"
				else
					all=
				fi
			fi
		done
		# all back: 5 s more to see them keep working
		if [ -n "$all" ] && [ -z "$done_at" ]; then
			done_at=$i
		fi
		[ -n "$done_at" ] && [ $((i - done_at)) -ge 50 ] && break
		kill -0 "$qpid" 2>/dev/null || break
		sleep 0.1
		i=$((i + 1))
	done
	# One more round of the guest's state lines.
	kill -0 "$qpid" 2>/dev/null && sleep 3.5
	t_obs=$(( ($(now_ms) - t_re) / 1000 ))
	after=$e2e_work/$vm.after
	con "$vm" | sed -n "$((n1 + 1)),\$p" > "$after"
	if [ "$n1" -gt "$n0" ]; then
		con "$vm" | sed -n "$((n0 + 1)),${n1}p"
	fi > "$e2e_work/$vm.down"

	echo "---- $vm: QEMU's output after the kill ----"
	sed -n "$((qlog0 + 1)),\$p" "$e2e_work/$vm.qemu.log" | uniq -c | head -n 40
	echo "---- $vm: vhostd after the restart ----"
	sed -n "$((vlog0 + 1)),\$p" "$vlog" | grep -v ' cannot connect to the front-end' | head -n 30
	echo "---- $vm: the guest after the restart (first lines, and its last state) ----"
	grep -v '^RC-STATE' "$after" | head -n 16 | sed 's/^/  /'
	for dev in $plugged; do
		grep "^RC-STATE $dev " "$after" | tail -n 1 | sed 's/^/  /'
	done
	echo "----"

	# QEMU died: with several devices, which one did it is not known.
	qdied=
	if ! kill -0 "$qpid" 2>/dev/null; then
		qemu_wait "$vm"
		qdied="QEMU exited with status $(eval echo "\${e2e_qemu_status_$vm}") after the restart: $(sed -n "$((qlog0 + 1)),\$p" "$e2e_work/$vm.qemu.log" | grep -v 'Unable to connect character device' | tail -n 3 | sed 's/^qemu-system-x86_64: //' | tr '\n' '|' | sed 's/|$//; s/|/ | /g')"
		if [ -z "$solo" ]; then
			combo_qemu_died=$qdied
			e2e_log "$vm: $qdied; every device will be tried alone"
		fi
	fi

	if [ -z "$combo_qemu_died" ]; then
		for dev in $devs; do
			cold=$(eval echo "\$cold_$dev")
			[ "$cold" = ok ] && how="-device at start works" ||
				how="plugged by device_add, -device at start fails: $cold"
			case " $plugged " in
			*" $dev "*) ;;
			*)
				result "$ql" "$dev" "$mode" not-recovered "device_add refused: $(eval echo "\$plug_$dev"); $how"
				continue
				;;
			esac
			if grep -q "^RC-ABSENT $dev" "$e2e_work/$vm.console"; then
				result "$ql" "$dev" "$mode" skipped "the guest does not see the device; $how"
				continue
			fi
			down=$(grep -c "^RC-OK $dev " "$e2e_work/$vm.down")
			okn=$(grep -c "^RC-OK $dev " "$after")
			errn=$(grep -c "^RC-ERR $dev " "$after")
			lasterr=$(grep "^RC-ERR $dev " "$after" | tail -n 1 | sed 's/^RC-ERR [a-z0-9]* n=[0-9]* up=[0-9.]* //')
			st=$(grep "^RC-STATE $dev " "$after" | tail -n 1 | sed 's/^RC-STATE [a-z0-9]* up=[0-9.]* //')
			# what vhostd said of it after the restart
			vl=$(sed -n "$((vlog0 + 1)),\$p" "$vlog" | grep "^vhostd: $vm-$dev: " |
			    grep -v ' cannot connect to the front-end\| device listening on \| device connecting to \| size [0-9]* fds [0-9]*$\|: worker [0-9]* ' |
			    sed "s/^vhostd: $vm-$dev: //; s/front-end pid [0-9]* //" | tr '\n' '|' | sed 's/|$//; s/|/ | /g')
			# the front-end's messages after the restart (vhostd -v -v)
			msgs=$(sed -n "$((vlog0 + 1)),\$p" "$vlog" |
			    sed -n "s/^vhostd: $vm-$dev: \([A-Z_]*\) size [0-9]* fds [0-9]*$/\1/p")
			nm=$(echo "$msgs" | grep -c .)
			msgs=$(echo $msgs | cut -d' ' -f1-14)
			[ "$nm" -gt 14 ] && msgs="$msgs ..."
			vl="$vl; messages from QEMU after the restart: $nm${msgs:+ ($msgs)}"
			rec=$(eval echo "\$rec_$dev")
			extra=
			[ "$down" != 0 ] && extra="; $down ops completed after the kill, before the restart"
			[ "$errn" != 0 ] && extra="$extra; $errn failed ops after the restart, last: $lasterr"
			[ -n "$qdied" ] && extra="$extra; $qdied"
			extra="$extra; vhostd: ${vl:-nothing}"
			if [ -n "$rec" ]; then
				sec=$(awk -v m="$rec" 'BEGIN { printf "%.1f", m / 1000 }')
				result "$ql" "$dev" "$mode" recovered "first op ${sec}s after the new vhostd was started, $okn ops in ${t_obs}s$extra; $how" "recovered ${sec}s"
			elif [ -n "$qdied" ]; then
				result "$ql" "$dev" "$mode" not-recovered "no op after the restart$extra; $how" "no: QEMU aborts"
			elif [ "$errn" != 0 ]; then
				result "$ql" "$dev" "$mode" not-recovered "no op in ${E2E_RECONNECT_WAIT}s after the restart, guest: $st$extra; $how" "no: ops fail"
			else
				result "$ql" "$dev" "$mode" not-recovered "no op in ${E2E_RECONNECT_WAIT}s after the restart, guest: $st$extra; $how" "no: op stuck"
			fi
		done
	fi

	# Stop the guest, then vhostd.
	if kill -0 "$qpid" 2>/dev/null; then
		qmp "$vm" '{"execute":"quit"}' || e2e_log "$vm: quit: $qmp_reply"
		i=0
		while kill -0 "$qpid" 2>/dev/null && [ $i -lt 100 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		kill "$qpid" 2>/dev/null
		qemu_wait "$vm"
	fi
	[ -n "$vh_loop" ] && kill "$vh_loop" 2>/dev/null
	if pid_running "$vhostd_pid"; then
		if vhostd_stop TERM 10; then
			e2e_log "$vm: vhostd exited 0 on SIGTERM"
		else
			e2e_log "$vm: NOTE: vhostd on SIGTERM: exit status $vhostd_status (-1: killed after 10 s)"
		fi
	else
		e2e_log "$vm: NOTE: vhostd (restarted) is not running at the end"
		tail -n 20 "$vlog" | sed 's/^/  vhostd: /'
		vhostd_pid=
	fi
	if grep -Eq 'AddressSanitizer|UndefinedBehaviorSanitizer|runtime error:| forbids ' "$vlog"; then
		e2e_log "$vm: NOTE: sanitizer report or seccomp violation in $vlog:"
		grep -E 'AddressSanitizer|UndefinedBehaviorSanitizer|runtime error:| forbids ' "$vlog" | head -n 5
	fi
}

# run_mode QLABEL MODE: all devices in one guest; each alone if QEMU died
# (or right away with E2E_RECONNECT_SPLIT=1).
run_mode() {
	if [ "${E2E_RECONNECT_SPLIT:-0}" = 1 ]; then
		for dv in $devices; do
			run_combo "$1" "$2" "$dv" 1
		done
		return
	fi
	run_combo "$1" "$2" "$devices" 1
	if [ -n "$combo_qemu_died" ]; then
		for dv in $devices; do
			run_combo "$1" "$2" "$dv" 0
		done
	fi
}

# combo_fail DETAIL: an infrastructure failure of the current combination:
# its devices are "skipped" with the reason, the script will exit 1.
combo_fail() {
	e2e_log "ERROR: $vm: $1"
	infra=1
	for dev in $devs; do
		result "$ql" "$dev" "$mode" skipped "infrastructure: $1"
	done
	[ -n "$vhostd_pid" ] && tail -n 20 "$vlog" | sed 's/^/  vhostd: /'
	pid=$(eval echo "\${e2e_qemu_pid_$vm:-}")
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null
		qemu_wait "$vm"
		sed 's/^/  qemu: /' "$e2e_work/$vm.qemu.log" | tail -n 20
	fi
	[ -n "$vh_loop" ] && kill "$vh_loop" 2>/dev/null
	if [ -n "$vhostd_pid" ]; then
		kill -KILL "$vhostd_pid" 2>/dev/null
		wait "$vhostd_pid" 2>/dev/null
		vhostd_pid=
	fi
}

qlabel() { # the QEMU's major.minor
	"$QEMU_SYSTEM_X86" -version | head -n 1 | sed -n 's/.*version \([0-9]*\.[0-9]*\).*/\1/p'
}

q72=$QEMU_SYSTEM_X86
ql72=$(qlabel)
echo "# QEMU $ql72: $("$QEMU_SYSTEM_X86" -version | head -n 1)" >> "$results"
qemus=$ql72
for m in $E2E_RECONNECT_MODES; do
	run_mode "$ql72" "$m"
done

if [ "${E2E_RECONNECT_QEMU10:-1}" = 0 ]; then
	why="E2E_RECONNECT_QEMU10=0"
elif e2e_use_backports_qemu; then
	why=
	for dv in $devices; do
		"$QEMU_SYSTEM_X86" -nodefaults -machine none -device "vhost-user-$dv-pci,help" 2>&1 |
		    grep -q "^vhost-user-$dv-pci options:" || why="$why no vhost-user-$dv-pci"
	done
else
	why=$e2e_backports_qemu_why
fi
if [ -z "$why" ]; then
	ql10=$(qlabel)
	qemus="$qemus $ql10"
	echo "# QEMU $ql10: $("$QEMU_SYSTEM_X86" -version | head -n 1)" >> "$results"
	for m in $E2E_RECONNECT_MODES; do
		run_mode "$ql10" "$m"
	done
else
	echo "SKIP: $e2e_name: QEMU 10 from bookworm-backports: $why"
	qemus="$qemus 10"
	for m in $E2E_RECONNECT_MODES; do
		for dv in $devices; do
			result 10 "$dv" "$m" skipped "$why"
		done
	done
fi
QEMU_SYSTEM_X86=$q72

# The table: a row per device and mode, a column per QEMU.
echo
echo "Survival of a vhostd restart (kill -9, restart after ${E2E_RECONNECT_DOWN}s, ${E2E_RECONNECT_WAIT}s to recover)"
echo "A: vhostd listens, QEMU reconnect=1; B: vhostd connects (reconnect_ms 200), QEMU server=on"
printf '%-8s %-4s' device mode
for q in $qemus; do
	printf ' %-22s' "QEMU $q"
done
echo
for m in $E2E_RECONNECT_MODES; do
	for dv in $devices; do
		printf '%-8s %-4s' "$dv" "$m"
		for q in $qemus; do
			r=$(eval "echo \"\${short_$(echo "$q" | tr -d .)_${dv}_$m:-?}\"")
			printf ' %-22s' "$r"
		done
		echo
	done
done
echo "(results in $results)"

t=$(( $(e2e_now) - e2e_t0 ))
if [ $infra != 0 ]; then
	echo "FAIL: $e2e_name: infrastructure failures, see above (${t}s)"
	exit 1
fi
# What must recover (make check: reconnect-check.sh), as QEMU:DEVICE
# words, in every mode run.
missed=
for qd in ${E2E_RECONNECT_EXPECT:-}; do
	for m in $E2E_RECONNECT_MODES; do
		r=$(eval "echo \"\${short_$(echo "${qd%%:*}" | tr -d .)_${qd#*:}_$m:-?}\"")
		case $r in
		recovered*) ;;
		*) missed="$missed ${qd}:$m($r)" ;;
		esac
	done
done
if [ -n "$missed" ]; then
	echo "FAIL: $e2e_name: expected to recover, did not:$missed (${t}s)"
	exit 1
fi
echo "PASS: $e2e_name: ran every combination (${t}s)"
exit 0
