#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# End to end: transparent worker restart. One vhostd serves one QEMU
# guest three devices (rng; gpio on a sim chip of 4 lines; i2c on a sim
# bus with a 24c02 at 0x50). In the guest, three loops use them at the
# same time for the whole test (guest/restart.sh: /dev/hwrng reads,
# gpiotest loop, i2ctest loop). Meanwhile the host kills each device's
# worker with SIGKILL, E2E_RESTART_KILLS times per device (4; vhostd
# fails a device at the 6th death within 60 s), a kill every
# E2E_RESTART_GAP s (2), interleaved rng, gpio, i2c, rng, ... A worker is
# the child of vhostd whose command line is "vhostd --worker ID"
# (vhostd_worker); no test hook is needed.
#
# Checks:
#   1. after each kill a new worker serves the device, and vhostd's log
#      says "ID: restarting its worker" once more; in the end exactly one
#      such line per kill, and no device failed;
#   2. vhostd's main process is the one started, still running;
#   3. each loop made progress after the last kill (the guest's counts
#      at the last kill and at the end are printed), none hung, every
#      hwrng read was full and not constant, no GPIO or I2C read was
#      wrong; the requests the devices failed (a write in flight when its
#      worker died) are counted: at most one per kill of that device;
#   4. the guest's kernel log has no virtio error but gpio-virtio's one
#      line per failed request, no BUG, WARNING or "bad";
#   5. the guest passed (E2E-RESULT PASS restart), and vhostd exits 0 on
#      SIGTERM;
#   6. the sim 24c02 kept a page written before the kills, and none of
#      the loop's read-backs found it erased (devices/i2c.c keeps the sim
#      parts in the state a new worker gets).
# Skips (77) when QEMU, its devices, the kernel or the modules are
# missing. About 45 s.

: "${E2E_GUEST_TIMEOUT:=75}" "${E2E_QEMU_TIMEOUT:=100}"
: "${E2E_RESTART_KILLS:=4}" "${E2E_RESTART_GAP:=2}"
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

devs="rng gpio i2c"
nkills=$((E2E_RESTART_KILLS * 3))
# The guest's loops run through the kills and 8 s more.
loop_s=$((nkills * E2E_RESTART_GAP + 8))

e2e_setup
e2e_require_qemu vhost-user-rng-pci vhost-user-gpio-pci vhost-user-i2c-pci
e2e_require_vhostd

e2e_build_modules
e2e_static_cc "$e2e_work/gpiotest" "$E2E_SRCDIR/guest/gpiotest.c"
e2e_static_cc "$e2e_work/i2ctest" "$E2E_SRCDIR/guest/i2ctest.c"
guest=$e2e_work/guest
e2e_build_guest "$guest" -m virtio_rng -m "$e2e_modules/gpio-virtio.ko" \
    -m i2c-dev -m "$e2e_modules/i2c-virtio.ko" \
    -f "$e2e_work/gpiotest:/e2e/bin/gpiotest" \
    -f "$e2e_work/i2ctest:/e2e/bin/i2ctest" \
    -f "$E2E_SRCDIR/guest/restart.sh:/e2e/tests/restart"

rt=$e2e_rt
chip=$rt/board.gpiosim
cfg=$e2e_work/vhostd.json
cat > "$cfg" <<EOF
{
  "runtime_dir": "$rt",
  "devices": [
    { "id": "vm1-rng", "type": "rng", "socket": "vm1-rng.sock" },
    { "id": "vm1-gpio", "type": "gpio", "socket": "vm1-gpio.sock",
      "backend": "sim", "chip": "$chip", "ngpio": 4 },
    { "id": "vm1-i2c", "type": "i2c", "socket": "vm1-i2c.sock",
      "backend": "sim", "bus": "e2e", "addresses": ["0x50"],
      "parts": [ { "type": "24c02", "address": "0x50" } ] }
  ]
}
EOF
vhostd_check_config "$cfg"
vhostd_start "$cfg" "$rt/vm1-rng.sock" "$rt/vm1-gpio.sock" "$rt/vm1-i2c.sock" ||
	e2e_finish
main_pid=$vhostd_pid
# The sim chip's line 2 is an input the guest's loop expects to read 1
# (the file: 4 input bytes, '\n', the guest's side, '\n').
printf 1 | dd of="$chip" bs=1 seek=2 conv=notrunc 2>/dev/null

now_ms() { date +%s%N | cut -c1-13; }
con() { tr -d '\r' < "$e2e_work/vm1.console"; }
restarts() { # DEVICE: vhostd's "restarting its worker" lines for it
	grep -c "^vhostd: vm1-$1: restarting its worker" "$vhostd_log"
}
# guest_field LINE KEY: KEY=VALUE of an RS-PROGRESS/RS-FINAL line
guest_field() {
	echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"
}

t=$(e2e_now)
qemu_start vm1 "$guest" restart "$loop_s" -- \
    -chardev "socket,id=c0,path=$rt/vm1-rng.sock" -device vhost-user-rng-pci,chardev=c0 \
    -chardev "socket,id=c1,path=$rt/vm1-gpio.sock" -device vhost-user-gpio-pci,chardev=c1 \
    -chardev "socket,id=c2,path=$rt/vm1-i2c.sock" -device vhost-user-i2c-pci,chardev=c2
if ! qemu_wait_marker vm1 '^RS-READY' 60; then
	e2e_fail "vm1: the guest's loops did not start"
	kill "$e2e_qemu_pid_vm1" 2>/dev/null
	qemu_wait vm1
	e2e_dump_guest vm1
	e2e_dump_vhostd
	e2e_finish
fi
e2e_log "vm1: guest up, loops started in $(( $(e2e_now) - t ))s; $nkills kills, one every ${E2E_RESTART_GAP}s"
con | grep '^RS-DEVICES' | sed 's/^/  vm1: /'

# ---- the kills ----------------------------------------------------------

for d in $devs; do
	eval "kills_$d=0 replaced_$d=0 killed_$d="
done
t_kill=$(( $(now_ms) + 1000 ))
k=0
while [ $k -lt $nkills ]; do
	for d in $devs; do
		k=$((k + 1))
		while [ "$(now_ms)" -lt $t_kill ]; do
			sleep 0.05
		done
		t_kill=$((t_kill + E2E_RESTART_GAP * 1000))
		id=vm1-$d
		old=$(vhostd_worker "$id")
		if [ -z "$old" ]; then
			e2e_fail "kill $k: $id has no worker to kill ($(ps -o pid=,args= --ppid "$main_pid" | tr '\n' ';'))"
			continue
		fi
		n0=$(restarts "$d")
		t0=$(now_ms)
		kill -KILL "$old"
		eval "kills_$d=\$((kills_$d + 1)) killed_$d=\"\$killed_$d $old\""
		# the new worker: up to 5 s (the back-off is 50 ms to 400 ms)
		new=
		while [ $(( $(now_ms) - t0 )) -lt 5000 ]; do
			new=$(vhostd_worker "$id")
			[ -n "$new" ] && [ "$new" != "$old" ] && pid_running "$new" && break
			new=
			sleep 0.02
		done
		n1=$(restarts "$d")
		if [ -n "$new" ] && [ "$n1" -gt "$n0" ]; then
			eval "replaced_$d=\$((replaced_$d + 1))"
			e2e_log "kill $k: $id worker $old killed, worker $new serves it after $(( $(now_ms) - t0 )) ms: $(grep "^vhostd: $id: restarting its worker" "$vhostd_log" | tail -n 1 | sed 's/^vhostd: //')"
		elif [ -n "$new" ]; then
			e2e_fail "kill $k: $id has a new worker $new but vhostd's log has no new 'restarting its worker' line"
		else
			e2e_fail "kill $k: $id: no new worker within 5 s of killing $old ($(ps -o pid=,stat=,args= --ppid "$main_pid" | tr '\n' ';'))"
		fi
		vhostd_alive || break 2
	done
done
# Where the console was once the last kill's new worker came: the
# guest's first counts after this are the "before" of the last check.
mark=$(con | wc -l)
e2e_log "kills done"

# ---- the guest's end ------------------------------------------------------

qemu_wait vm1
guest_ok=0
guest_check vm1 restart && guest_ok=1

# vhostd's main: the same process, running, all along.
if [ "$vhostd_pid" = "$main_pid" ] && vhostd_alive; then
	e2e_pass "vhostd main (pid $main_pid) survived $k worker kills"
else
	e2e_fail "vhostd main (pid $main_pid) is not running any more"
	e2e_dump_vhostd
fi

# Every kill: vhostd saw that worker die of SIGKILL and restarted it once;
# no other worker died.
for d in $devs; do
	eval "kd=\$kills_$d rd=\$replaced_$d pids=\$killed_$d"
	n=$(restarts "$d")
	unseen=
	for p in $pids; do
		grep -q "^vhostd: vm1-$d: worker $p was killed by signal 9" "$vhostd_log" ||
			unseen="$unseen $p"
	done
	if [ "$kd" = "$E2E_RESTART_KILLS" ] && [ "$rd" = "$kd" ] && [ "$n" = "$kd" ] &&
	    [ -z "$unseen" ]; then
		e2e_pass "vm1-$d: $kd kills (workers$pids), each followed by a new worker and a 'restarting its worker' line"
	else
		e2e_fail "vm1-$d: $kd kills (want $E2E_RESTART_KILLS), $rd replaced, $n 'restarting its worker' lines${unseen:+, no 'was killed by signal 9' for$unseen}"
	fi
done
if grep -q 'device failed\|cannot be restarted' "$vhostd_log"; then
	e2e_fail "vhostd failed a device:"
	grep 'device failed\|cannot be restarted' "$vhostd_log" | sed 's/^/  /'
fi

# Progress after the last kill: the first count the guest printed after
# it, and the final one.
before=$(con | sed -n "$((mark + 1)),\$p" | grep '^RS-PROGRESS ' | head -n 1)
final=$(con | grep '^RS-FINAL ' | tail -n 1)
if [ -z "$before" ] || [ -z "$final" ]; then
	e2e_fail "no guest counts after the last kill (before: '${before:-none}', final: '${final:-none}')"
else
	e2e_log "guest counts after the last kill: $before"
	e2e_log "guest counts at the end:          $final"
	for f in rng_reads gpio_ops i2c_ops; do
		b=$(guest_field "$before" $f)
		a=$(guest_field "$final" $f)
		if [ "${a:-0}" -gt "${b:-0}" ]; then
			e2e_pass "$f went on after the last kill: $b -> $a"
		else
			e2e_fail "$f made no progress after the last kill: ${b:-?} -> ${a:-?}"
		fi
	done
	# A kill fails at most the one request in flight on that device
	# (gpio: a round; i2c: a transfer), or erases the sim EEPROM under
	# one round.
	for f in gpio_failed:gpio i2c_xerr:i2c i2c_erased:i2c; do
		a=$(guest_field "$final" "${f%:*}")
		eval "kd=\$kills_${f#*:}"
		if [ "${a:-0}" -le "$kd" ]; then
			e2e_pass "${f%:*}=$a, at most one per kill of vm1-${f#*:} ($kd)"
		else
			e2e_fail "${f%:*}=$a, more than the $kd kills of vm1-${f#*:}"
		fi
	done
fi

# The sim 24c02's content outlives its worker (devices/i2c.c, sim_save).
eeprom=$(con | grep '^RS-EEPROM ' | tail -n 1)
w=$(echo "$eeprom" | sed -n 's/.*want=\(.*\) got=.*/\1/p')
g=$(echo "$eeprom" | sed -n 's/.* got=//p')
erased=$(guest_field "$final" i2c_erased)
if [ -z "$eeprom" ]; then
	e2e_fail "the guest did not read the EEPROM page back at the end"
elif [ "$w" = "$g" ] && [ "${erased:-0}" = 0 ]; then
	e2e_pass "the sim 24c02 kept its content across the worker restarts"
else
	e2e_fail "the sim 24c02 lost its content with its worker: the page written before the kills reads '$g', not '$w'; ${erased:-?} read-backs in the loop found it erased"
fi

# The figures.
echo "---- figures ----"
echo "  kills: rng $kills_rng, gpio $kills_gpio, i2c $kills_i2c (restarts logged: rng $(restarts rng), gpio $(restarts gpio), i2c $(restarts i2c))"
if [ -n "$final" ]; then
	g() { guest_field "$final" "$1"; }
	echo "  rng:  $(g rng_reads) reads, $(g rng_bytes) bytes"
	echo "  gpio: $(g gpio_ops) rounds (set, read back, read input), $(g gpio_failed) failed by a write error, $(g gpio_werr) requests failed by the device"
	echo "  i2c:  $(g i2c_ops) rounds (write page, read back), $(g i2c_xerr) transfers failed, $(g i2c_erased) read-backs found the EEPROM erased"
fi
echo "  vhostd main pid $main_pid; worker deaths it logged: $(grep -c ': worker [0-9]* was killed by signal 9' "$vhostd_log")"
echo "----"

[ $guest_ok = 1 ] || e2e_dump_vhostd
vhostd_stop_check "$rt/vm1-rng.sock" "$rt/vm1-gpio.sock" "$rt/vm1-i2c.sock"
vhostd_check_log
e2e_finish
