#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# End to end: reloads that add, remove and change devices while a QEMU
# guest keeps using two devices the reloads leave as they are. One vhostd
# serves four devices: vm1-rng and vm1-gpio (a sim chip of 4 lines) to
# one QEMU 7.2 guest, and vm2-i2c (a sim bus with a 24c02) and vm2-rng
# (max_bytes 4096) that no guest uses (another VM's). In the guest two
# loops use vm1-rng and vm1-gpio the whole time (guest/reload.sh:
# /dev/hwrng reads, gpiotest loop) and print their counts every second
# and every error at once. Meanwhile the host rewrites the configuration
# file and reloads, one step every E2E_RELOAD_GAP s (3) and no sooner
# than two of the guest's counts after the last:
#   1. vhostctl reload: vm2-rng's max_bytes 4096 -> 8192 (changed)
#   2. vhostctl reload: vm2-i2c removed, vm3-gpio added (a new sim chip)
#   3. SIGHUP: vm2-i2c added again; the devices in another order, and
#      vm1-rng given "period_ms": 1000, its default (no change)
#   4. vhostctl reload of a file with an error (vm2-rng's max_bytes 0)
#   5. vhostctl reload: vm3-gpio removed, vm2-rng back to 4096
#   6. vhostctl reload: vm3-gpio added again
#   7. vhostctl reload of the same file: nothing to do
#
# Checks:
#   1. each vhostctl reload answer (--json) names exactly the devices
#      added, removed, changed and unchanged; the SIGHUP reload logs its
#      counts and leaves the devices listed that the file has; vhostd's
#      reload count is the number of reloads applied;
#   2. the file with an error is refused (exit status 1, "ok": false),
#      its error names the file, the device's path and max_bytes, vhostd
#      logs "nothing changed", and nothing did: the same devices with the
#      same workers, the reload count as before, vm2-rng still serves;
#   3. an added or changed device's socket is there and serves a
#      front-end (tests/vufdev: rng read, gpio info, i2c probe); a removed
#      device's socket is gone, vhostctl show no longer knows it and no
#      worker of it is left;
#   4. vm1-rng and vm1-gpio: after every reload the same worker (vhostctl
#      show and "vhostd --worker ID", vhostd_worker) and the same
#      front-end, QEMU's pid, still connected ("running"), one
#      connection in all and no worker restart; in the end vhostd's log
#      has one "front-end ... connected" line for each, no disconnection
#      and no restart of them;
#   5. both guest loops made progress after each reload (their counts
#      grew between the first count printed after the reload's answer and
#      the last before the next step, or the end), with no error at all
#      (bad hwrng read, failed GPIO request, wrong or failed read), and
#      the guest passed (its kernel log clean). The longest wait the
#      guest saw between two reads or rounds, and each reload's time, are
#      printed as figures, not judged (no timed assertion);
#   6. vhostd exits 0 on SIGTERM, removes its sockets, no sanitizer
#      report.
# Skips (77) when QEMU, its devices, the kernel or the modules are
# missing. About 50 s.

: "${E2E_GUEST_TIMEOUT:=80}" "${E2E_QEMU_TIMEOUT:=110}"
: "${E2E_RELOAD_GAP:=3}"
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
: "${VHOSTCTL:=$(dirname "$VHOSTD")/vhostctl}"

nsteps=7
# The guest's loops: 2 s before the first step, the steps, 12 s more
# (the steps wait for the guest's counts, so they may run late).
loop_s=$((2 + nsteps * E2E_RELOAD_GAP + 12))

e2e_setup
e2e_require_qemu vhost-user-rng-pci vhost-user-gpio-pci
e2e_require_vhostd
[ -x "$VHOSTCTL" ] || e2e_error "no vhostctl at $VHOSTCTL (run make first)"

e2e_build_modules
e2e_static_cc "$e2e_work/gpiotest" "$E2E_SRCDIR/guest/gpiotest.c"
e2e_build_vufdev "$e2e_work/vufdev"
guest=$e2e_work/guest
e2e_build_guest "$guest" -m virtio_rng -m "$e2e_modules/gpio-virtio.ko" \
    -f "$e2e_work/gpiotest:/e2e/bin/gpiotest" \
    -f "$E2E_SRCDIR/guest/reload.sh:/e2e/tests/reload"

rt=$e2e_rt
chip=$rt/board.gpiosim
chip2=$rt/board2.gpiosim
ctl_sock=$rt/control.sock
# The file vhostd reloads, in the runtime directory: vhostd reads it
# again as the user it runs as (nobody, when started by root), which
# owns that directory once vhostd started. Each version is also kept in
# the work directory.
cfg=$rt/vhostd.json

d_vm1_rng='{ "id": "vm1-rng", "type": "rng", "socket": "vm1-rng.sock" }'
d_vm1_rng_dflt='{ "id": "vm1-rng", "type": "rng", "socket": "vm1-rng.sock", "period_ms": 1000 }'
d_vm1_gpio='{ "id": "vm1-gpio", "type": "gpio", "socket": "vm1-gpio.sock",
      "backend": "sim", "chip": "'$chip'", "ngpio": 4 }'
d_vm2_i2c='{ "id": "vm2-i2c", "type": "i2c", "socket": "vm2-i2c.sock",
      "backend": "sim", "bus": "e2e", "addresses": ["0x50"],
      "parts": [ { "type": "24c02", "address": "0x50" } ] }'
d_vm2_rng() { # MAX_BYTES
	echo '{ "id": "vm2-rng", "type": "rng", "socket": "vm2-rng.sock", "max_bytes": '"$1"' }'
}
d_vm3_gpio='{ "id": "vm3-gpio", "type": "gpio", "socket": "vm3-gpio.sock",
      "backend": "sim", "chip": "'$chip2'", "ngpio": 4 }'

# write_cfg NAME DEVICE...: the configuration file with these devices,
# replaced in one rename (vhostd never reads half a file); a copy as
# $e2e_work/NAME.json.
write_cfg() {
	name=$1
	shift
	{
		printf '{\n  "runtime_dir": "%s",\n  "devices": [\n' "$rt"
		sep=
		for d in "$@"; do
			printf '%s    %s' "$sep" "$d"
			sep=',
'
		done
		printf '\n  ]\n}\n'
	} > "$cfg.new"
	cp "$cfg.new" "$e2e_work/$name.json"
	mv "$cfg.new" "$cfg"
}

ctl() { "$VHOSTCTL" -s "$ctl_sock" -j "$@"; }
# json_ids JSON KEY: the ids in the array KEY of a compact JSON answer,
# sorted, space separated (ids are letters, digits, '.', '_', '-').
json_ids() {
	printf '%s\n' "$1" | sed -n "s/.*\"$2\":\[\([^]]*\)\].*/\1/p" |
	    tr -d '"' | tr ',' '\n' | grep . | sort | tr '\n' ' ' | sed 's/ $//'
}
# json_num JSON KEY: the first number of KEY
json_num() {
	printf '%s\n' "$1" | grep -o "\"$2\":[0-9-]*" | head -n 1 | cut -d: -f2
}
sorted() { echo "$*" | tr ' ' '\n' | grep . | sort | tr '\n' ' ' | sed 's/ $//'; }
listed() { # the ids vhostctl list gives, sorted
	sorted "$(ctl list | grep -o '"id":"[^"]*"' | cut -d'"' -f4)"
}
# dev_info ID: "state worker-pid front-end-pid connections restarts
# requests" of device ID from vhostctl show (- for none)
dev_info() {
	j=$(ctl show "$1") || { echo "- - - - - -"; return; }
	st=$(printf '%s' "$j" | sed -n 's/.*"state":"\([a-z]*\)".*/\1/p')
	wp=$(printf '%s' "$j" | sed -n 's/.*"worker":{[^}]*"pid":\([0-9]*\).*/\1/p')
	fp=$(printf '%s' "$j" | sed -n 's/.*"frontend":{[^}]*"pid":\([0-9]*\).*/\1/p')
	nc=$(json_num "$j" connections)
	wr=$(json_num "$j" worker_restarts)
	rq=$(printf '%s' "$j" | grep -o '"requests":[0-9]*' | cut -d: -f2 |
	    awk '{ s += $1 } END { print s + 0 }')
	echo "${st:--} ${wp:--} ${fp:--} ${nc:--} ${wr:--} $rq"
}
reloads() { json_num "$(ctl status)" reloads; }
con() { tr -d '\r' < "$e2e_work/vm1.console"; }
# The console's lines so far, a line the guest is still writing included
# (it counts as before a mark).
con_lines() { con | awk 'END { print NR }'; }
guest_field() { # LINE KEY: KEY=VALUE of an RL-PROGRESS/RL-FINAL line
	echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"
}
now_ms() { date +%s%N | cut -c1-13; }
qemu_running() {
	p=$(eval echo "\${e2e_qemu_pid_vm1:-}")
	[ -n "$p" ] && kill -0 "$p" 2>/dev/null
}
# serves ID TYPE SCRIPT WANT: a front-end (vufdev) on ID's socket runs
# SCRIPT and prints a line matching WANT.
serves() {
	out=$(timeout 30 "$e2e_work/vufdev" "$rt/$1.sock" "$2" "$3" 2>&1)
	rc=$?
	if [ $rc = 0 ] && echo "$out" | grep -q "$4"; then
		e2e_pass "$step_name: $1's socket serves a front-end ($3: $(echo "$out" | grep "$4" | head -n 1))"
	else
		e2e_fail "$step_name: $1's socket $rt/$1.sock does not serve a front-end ($3: status $rc: $(echo "$out" | tr '\n' ';'))"
	fi
}
gone() { # ID: the socket, the device and its worker are gone
	# a worker vhostd SIGKILLed may take a moment to die (up to 5 s)
	i=0
	while [ -n "$(vhostd_worker "$1")" ] && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if [ ! -e "$rt/$1.sock" ] && ! ctl show "$1" > /dev/null &&
	    [ -z "$(vhostd_worker "$1")" ]; then
		e2e_pass "$step_name: $1 is gone: no socket, unknown to vhostctl show, no worker"
	else
		e2e_fail "$step_name: $1 was removed but is still there (socket: $(ls -l "$rt/$1.sock" 2>&1); show: $(ctl show "$1" | cut -c1-200); worker: $(vhostd_worker "$1"))"
	fi
}

# ---- vhostd and the guest -------------------------------------------------

write_cfg config-0 "$d_vm1_rng" "$d_vm1_gpio" "$d_vm2_i2c" "$(d_vm2_rng 4096)"
vhostd_check_config "$cfg"
vhostd_start "$cfg" "$rt/vm1-rng.sock" "$rt/vm1-gpio.sock" "$rt/vm2-i2c.sock" \
    "$rt/vm2-rng.sock" "$ctl_sock" || e2e_finish
main_pid=$vhostd_pid
# The sim chip's line 2 is an input the guest's loop expects to read 1.
printf 1 | dd of="$chip" bs=1 seek=2 conv=notrunc 2>/dev/null
# vm3-gpio's chip: a device set up by a reload needs its file made, and
# writable by the user vhostd runs as (vhostd.json(5), The sim backend),
# the owner of the runtime directory by now.
printf '0000\n----\n' > "$chip2"
chown --reference="$rt" "$chip2" ||
	e2e_error "cannot give $chip2 to the user vhostd runs as"

t=$(e2e_now)
qemu_start vm1 "$guest" reload "$loop_s" -- \
    -chardev "socket,id=c0,path=$rt/vm1-rng.sock" -device vhost-user-rng-pci,chardev=c0 \
    -chardev "socket,id=c1,path=$rt/vm1-gpio.sock" -device vhost-user-gpio-pci,chardev=c1
if ! qemu_wait_marker vm1 '^RL-READY' 60; then
	e2e_fail "vm1: the guest's loops did not start"
	kill "$e2e_qemu_pid_vm1" 2>/dev/null
	qemu_wait vm1
	e2e_dump_guest vm1
	e2e_dump_vhostd
	e2e_finish
fi
e2e_log "vm1: guest up, loops started in $(( $(e2e_now) - t ))s; $nsteps reload steps, one every ${E2E_RELOAD_GAP}s"
con | grep '^RL-DEVICES' | sed 's/^/  vm1: /'

# QEMU itself, the child of timeout(1): the guest devices' front-end.
qemu_pid=$(ps -o pid= --ppid "$e2e_qemu_pid_vm1" | tr -d ' ' | head -n 1)
guest_devs="vm1-rng vm1-gpio"
for id in $guest_devs; do
	# shellcheck disable=SC2046 # its fields are words
	set -- $(dev_info "$id")
	w=$(vhostd_worker "$id")
	if [ "$1" = running ] && [ "$3" = "$qemu_pid" ] && [ "$2" = "$w" ] &&
	    [ "$4" = 1 ]; then
		e2e_pass "$id: running, worker $2, front-end QEMU (pid $3)"
	else
		e2e_fail "$id before the reloads: state $1, worker $2 (vhostd_worker: $w), front-end $3 (QEMU: $qemu_pid), $4 connections"
	fi
	id_=$(echo "$id" | tr - _)
	eval "worker_$id_=\$2"
done

# ---- the reloads ------------------------------------------------------------

# guest_same STEP: the guest's devices kept their worker and front-end.
guest_same() {
	for id in $guest_devs; do
		id_=$(echo "$id" | tr - _)
		eval "w0=\$worker_$id_"
		# shellcheck disable=SC2046 # its fields are words
	set -- $(dev_info "$id")
		w=$(vhostd_worker "$id")
		if [ "$1" = running ] && [ "$2" = "$w0" ] && [ "$w" = "$w0" ] &&
		    [ "$3" = "$qemu_pid" ] && [ "$4" = 1 ] && [ "$5" = 0 ]; then
			e2e_pass "$step_name: $id untouched: running, worker $2, front-end $3, 1 connection"
		else
			e2e_fail "$step_name: $id: state $1, worker $2 (vhostd_worker: ${w:-none}; was $w0), front-end $3 (QEMU: $qemu_pid), $4 connections, $5 worker restarts"
		fi
	done
}

# check_answer JSON RC ADDED REMOVED CHANGED UNCHANGED: a vhostctl reload
# answer that names exactly these devices (space-separated lists).
check_answer() {
	j=$1 rc=$2
	shift 2
	bad=
	[ "$rc" = 0 ] || bad="exit status $rc"
	case $j in *'"ok":true'*) ;; *) bad="$bad, not ok" ;; esac
	for k in added removed changed unchanged; do
		got=$(json_ids "$j" $k)
		want=$(sorted "$1")
		shift
		[ "$got" = "$want" ] || bad="$bad, $k [$got], not [$want]"
	done
	[ -z "$(json_ids "$j" failed)" ] || bad="$bad, failed [$(json_ids "$j" failed)]"
	if [ -z "$bad" ]; then
		e2e_pass "$step_name: vhostctl reload answered added [$(json_ids "$j" added)] removed [$(json_ids "$j" removed)] changed [$(json_ids "$j" changed)] unchanged [$(json_ids "$j" unchanged)]"
	else
		e2e_fail "$step_name: vhostctl reload:${bad#,}: $j"
	fi
}

# The steps run on a schedule, each once the guest printed two counts
# since the last (so that progress after it can be judged). Marks: the
# console's line count before each step's reload and after its answer.
t_next=$(( $(now_ms) + 2000 ))
mark_after=$(con_lines)
step=0
applied=0
reload_ms=
next_step() { # NAME
	step=$((step + 1))
	step_name="reload $step ($1)"
	while :; do
		n=$(con | sed -n "$((mark_after + 1)),\$p" | grep -c '^RL-PROGRESS ')
		[ "$(now_ms)" -ge "$t_next" ] && [ "$n" -ge 2 ] && break
		qemu_running || break
		con | grep -q '^RL-FINAL ' && break
		sleep 0.2
	done
	t_next=$(( $(now_ms) + E2E_RELOAD_GAP * 1000 ))
	if con | grep -q '^RL-FINAL ' || ! qemu_running; then
		e2e_fail "$step_name: the guest's loops had ended already (make the loops longer than the steps)"
	fi
	eval "mark_before_$step=\$(con_lines)"
	t_reload=$(now_ms)
}
after_step() {
	ms=$(( $(now_ms) - t_reload ))
	reload_ms="$reload_ms $ms"
	mark_after=$(con_lines)
	eval "mark_after_$step=\$mark_after"
	e2e_log "$step_name done in $ms ms"
}
vreload() { # vhostctl reload, its answer in $ans and status in $ans_rc
	ans=$(ctl reload)
	ans_rc=$?
	after_step
}

# 1. vm2-rng changed.
next_step "vm2-rng's max_bytes changed"
write_cfg config-1 "$d_vm1_rng" "$d_vm1_gpio" "$d_vm2_i2c" "$(d_vm2_rng 8192)"
vreload
check_answer "$ans" $ans_rc "" "" "vm2-rng" "vm1-rng vm1-gpio vm2-i2c"
applied=$((applied + 1))
guest_same
serves vm2-rng rng 'read 64' '^data '

# 2. vm2-i2c removed, vm3-gpio added.
next_step "vm2-i2c removed, vm3-gpio added"
write_cfg config-2 "$d_vm1_rng" "$d_vm1_gpio" "$(d_vm2_rng 8192)" "$d_vm3_gpio"
vreload
check_answer "$ans" $ans_rc "vm3-gpio" "vm2-i2c" "" "vm1-rng vm1-gpio vm2-rng"
applied=$((applied + 1))
guest_same
gone vm2-i2c
serves vm3-gpio gpio 'info' '^ngpio 4'

# 3. SIGHUP: vm2-i2c back, another order, a default spelled out.
next_step "SIGHUP: vm2-i2c added again, devices reordered, vm1-rng's default period_ms spelled out"
write_cfg config-3 "$(d_vm2_rng 8192)" "$d_vm2_i2c" "$d_vm3_gpio" "$d_vm1_gpio" "$d_vm1_rng_dflt"
n0=$(reloads)
kill -HUP "$vhostd_pid"
i=0
while [ "$(reloads)" = "$n0" ] && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
after_step
applied=$((applied + 1))
n1=$(reloads)
line=$(grep '^vhostd: reload: [0-9]* devices\{0,1\} added' "$vhostd_log" | tail -n 1)
want_line="vhostd: reload: 1 device added, 0 removed, 0 changed, 4 unchanged, 0 failed"
ids=$(listed)
want_ids=$(sorted vm1-rng vm1-gpio vm2-i2c vm2-rng vm3-gpio)
if [ "$n1" = $((n0 + 1)) ] && [ "$line" = "$want_line" ] && [ "$ids" = "$want_ids" ]; then
	e2e_pass "$step_name: applied (reload count $n0 -> $n1), logged '${line#vhostd: }', devices [$ids]"
else
	e2e_fail "$step_name: reload count $n0 -> $n1, last reload log line '$line' (want '$want_line'), devices [$ids] (want [$want_ids])"
fi
guest_same
serves vm2-i2c i2c 'probe' '^found 0x50'

# 4. A file with an error: refused, nothing changes.
next_step "a file with an error"
before_ids=$(listed)
before_workers=$(for id in $before_ids; do echo "$id=$(dev_info "$id" | cut -d' ' -f2)"; done | tr '\n' ' ')
n0=$(reloads)
nlog0=$(grep -c 'reload: the configuration is not valid; nothing changed' "$vhostd_log")
write_cfg config-4-bad "$(d_vm2_rng 0)" "$d_vm2_i2c" "$d_vm3_gpio" "$d_vm1_gpio" "$d_vm1_rng"
vreload
n1=$(reloads)
after_ids=$(listed)
after_workers=$(for id in $after_ids; do echo "$id=$(dev_info "$id" | cut -d' ' -f2)"; done | tr '\n' ' ')
nlog1=$(grep -c 'reload: the configuration is not valid; nothing changed' "$vhostd_log")
err=$(printf '%s\n' "$ans" | sed -n 's/.*"errors":\[\(.*\)\].*/\1/p')
if [ "$ans_rc" = 1 ] && echo "$ans" | grep -q '"ok":false' &&
    echo "$err" | grep -q 'vhostd\.json:[0-9]*:[0-9]*: devices\[0\]\.max_bytes: '; then
	e2e_pass "$step_name: refused (exit status 1): $err"
else
	e2e_fail "$step_name: not refused as it should be: exit status $ans_rc (want 1), answer $ans (want an error naming vhostd.json:LINE:COL: devices[0].max_bytes)"
fi
if [ "$n1" = "$n0" ] && [ "$after_ids" = "$before_ids" ] &&
    [ "$after_workers" = "$before_workers" ] && [ "$nlog1" = $((nlog0 + 1)) ]; then
	e2e_pass "$step_name: nothing changed: reload count $n1, devices and workers $after_workers; logged 'nothing changed'"
else
	e2e_fail "$step_name: reload count $n0 -> $n1, devices and workers '$before_workers' -> '$after_workers', 'nothing changed' logged $((nlog1 - nlog0)) times"
fi
guest_same
serves vm2-rng rng 'read 64' '^data '

# 5. vm3-gpio removed, vm2-rng changed back.
next_step "vm3-gpio removed, vm2-rng's max_bytes changed back"
write_cfg config-5 "$d_vm1_rng" "$d_vm1_gpio" "$d_vm2_i2c" "$(d_vm2_rng 4096)"
vreload
check_answer "$ans" $ans_rc "" "vm3-gpio" "vm2-rng" "vm1-rng vm1-gpio vm2-i2c"
applied=$((applied + 1))
guest_same
gone vm3-gpio
serves vm2-rng rng 'read 64' '^data '

# 6. vm3-gpio added again (its chip file is still there).
next_step "vm3-gpio added again"
write_cfg config-6 "$d_vm1_rng" "$d_vm1_gpio" "$d_vm2_i2c" "$(d_vm2_rng 4096)" "$d_vm3_gpio"
vreload
check_answer "$ans" $ans_rc "vm3-gpio" "" "" "vm1-rng vm1-gpio vm2-i2c vm2-rng"
applied=$((applied + 1))
guest_same
serves vm3-gpio gpio 'info' '^ngpio 4'

# 7. The same file again.
next_step "the same file again"
vreload
check_answer "$ans" $ans_rc "" "" "" "vm1-rng vm1-gpio vm2-i2c vm2-rng vm3-gpio"
applied=$((applied + 1))
guest_same

n=$(reloads)
if [ "$n" = "$applied" ]; then
	e2e_pass "vhostd counts $n reloads applied, the $applied good files (the bad one not)"
else
	e2e_fail "vhostd counts $n reloads applied, not $applied"
fi
# Leave the guest two counts after the last step (the loops go on).
while qemu_running && [ "$(con | sed -n "$((mark_after + 1)),\$p" | grep -c '^RL-PROGRESS ')" -lt 2 ] &&
    ! con | grep -q '^RL-FINAL '; do
	sleep 0.2
done
# vhostd's log up to here: the guest's devices disconnect when it ends.
log_lines=$(wc -l < "$vhostd_log")
end_info_rng=$(dev_info vm1-rng)
end_info_gpio=$(dev_info vm1-gpio)

# ---- the guest's end --------------------------------------------------------

qemu_wait vm1
guest_ok=0
guest_check vm1 reload && guest_ok=1

# Progress after each step: the first counts the guest printed after the
# reload's answer, and the last before the next step (or the final ones).
progress_lines() { # FROM TO: the RL-PROGRESS/RL-FINAL lines in (FROM, TO]
	con | sed -n "$(($1 + 1)),${2}p" | grep '^RL-\(PROGRESS\|FINAL\) '
}
final=$(con | grep '^RL-FINAL ' | tail -n 1)
echo "---- figures: the guest's counts around each reload ----"
k=1
while [ $k -le $step ]; do
	eval "mb=\$mark_before_$k ma=\$mark_after_$k"
	if [ $k -lt $step ]; then
		eval "nb=\$mark_before_$((k + 1))"
	else
		nb=$(con_lines)
	fi
	prev=$(progress_lines 0 "$mb" | tail -n 1)
	first=$(progress_lines "$ma" "$nb" | head -n 1)
	last=$(progress_lines "$ma" "$nb" | tail -n 1)
	echo "  reload $k: before rng_reads=$(guest_field "$prev" rng_reads) gpio_ops=$(guest_field "$prev" gpio_ops);" \
	    "after rng_reads=$(guest_field "$first" rng_reads) -> $(guest_field "$last" rng_reads)," \
	    "gpio_ops=$(guest_field "$first" gpio_ops) -> $(guest_field "$last" gpio_ops);" \
	    "longest wait so far rng $(guest_field "$prev" rng_gap_ms) -> $(guest_field "$last" rng_gap_ms) ms," \
	    "gpio $(guest_field "$prev" gpio_gap_ms) -> $(guest_field "$last" gpio_gap_ms) ms"
	for f in rng_reads gpio_ops; do
		b=$(guest_field "$first" $f)
		a=$(guest_field "$last" $f)
		if [ -n "$first" ] && [ "$first" != "$last" ] && [ "${a:-0}" -gt "${b:-0}" ]; then
			e2e_pass "reload $k: $f went on after it: $b -> $a"
		else
			e2e_fail "reload $k: $f made no progress after it: ${b:-?} -> ${a:-?} (guest lines: $(progress_lines "$ma" "$nb" | wc -l))"
		fi
	done
	k=$((k + 1))
done

# No error at all, on the console or in the final counts.
if [ -z "$final" ]; then
	e2e_fail "the guest printed no final counts"
else
	errs=
	for f in rng_bad gpio_failed gpio_werr gpio_wrong gpio_rerr gpio_other; do
		v=$(guest_field "$final" $f)
		[ "$v" = 0 ] || errs="$errs $f=${v:-?}"
	done
	nbad=$(con | grep -c '^RL-\(RNG-BAD\|GPIO-ERR\|HUNG\) ')
	if [ -z "$errs" ] && [ "$nbad" = 0 ]; then
		e2e_pass "the guest's loops saw no error: $(guest_field "$final" rng_reads) hwrng reads, $(guest_field "$final" gpio_ops) GPIO rounds"
	else
		e2e_fail "the guest's loops saw errors:$errs; $nbad error lines on its console:"
		con | grep '^RL-\(RNG-BAD\|GPIO-ERR\|HUNG\) ' | head -n 20 | sed 's/^/  /'
	fi
fi

# One connection each, all along, and nothing restarted them.
head -n "$log_lines" "$vhostd_log" > "$e2e_work/vhostd-steps.log"
for id in $guest_devs; do
	nconn=$(grep -c "^vhostd: $id: front-end pid [0-9]* uid [0-9]* connected" "$e2e_work/vhostd-steps.log")
	conn=$(grep "^vhostd: $id: front-end pid [0-9]* uid [0-9]* connected" "$e2e_work/vhostd-steps.log" | head -n 1)
	other=$(grep -E "^vhostd: $id: (front-end pid [0-9]* disconnected|closing connection|its configuration changed|no longer configured|restarting)" "$e2e_work/vhostd-steps.log")
	case $conn in
	*"front-end pid $qemu_pid "*) p=1 ;;
	*) p=0 ;;
	esac
	if [ "$nconn" = 1 ] && [ $p = 1 ] && [ -z "$other" ]; then
		e2e_pass "$id: one vhost-user connection all along the reloads (QEMU pid $qemu_pid), never closed or restarted"
	else
		e2e_fail "$id: $nconn 'connected' lines in vhostd's log (first: '$conn'; QEMU pid $qemu_pid), and: $(echo "$other" | tr '\n' ';')"
	fi
done
if grep -q 'device failed\|cannot be restarted\|could not be started' "$vhostd_log"; then
	e2e_fail "vhostd failed a device:"
	grep 'device failed\|cannot be restarted\|could not be started' "$vhostd_log" | sed 's/^/  /'
fi
if [ "$vhostd_pid" = "$main_pid" ] && vhostd_alive; then
	e2e_pass "vhostd main (pid $main_pid) served through $step reload steps"
else
	e2e_fail "vhostd main (pid $main_pid) is not running any more"
fi

echo "---- figures ----"
echo "  reloads: $applied applied ($((applied - 1)) by vhostctl, 1 by SIGHUP), 1 refused; each took (ms):$reload_ms"
if [ -n "$final" ]; then
	echo "  guest rng:  $(guest_field "$final" rng_reads) reads, $(guest_field "$final" rng_bytes) bytes; longest wait between two reads $(guest_field "$final" rng_gap_ms) ms"
	echo "  guest gpio: $(guest_field "$final" gpio_ops) rounds (set, read back, read input); longest wait between two rounds $(guest_field "$final" gpio_gap_ms) ms"
fi
# shellcheck disable=SC2086 # its fields are words
set -- $end_info_rng
echo "  vm1-rng:  worker $2 all along, $6 requests served by it, front-end QEMU pid $3, $4 connection"
# shellcheck disable=SC2086
set -- $end_info_gpio
echo "  vm1-gpio: worker $2 all along, $6 requests served by it, front-end QEMU pid $3, $4 connection"
echo "----"

[ $guest_ok = 1 ] || e2e_dump_vhostd
vhostd_stop_check "$rt/vm1-rng.sock" "$rt/vm1-gpio.sock" "$rt/vm2-i2c.sock" \
    "$rt/vm2-rng.sock" "$rt/vm3-gpio.sock" "$ctl_sock"
vhostd_check_log
e2e_finish
