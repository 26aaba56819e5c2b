#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# End to end: a QEMU guest with a vhost-user-gpio-pci device served by
# vhostd's gpio device on a sim chip, driven by the guest kernel's
# gpio-virtio driver (built by mkmodules.sh) and gpiotest (GPIO v2 uAPI).
# The sim chip has 8 lines; the device gives the guest lines 1, 2, 5, 6 as
# its 0..3, named led0 led1 btn0 btn1.
#   1. QEMU 7.2 (Debian 12): chip and line info with the configured names;
#      outputs the guest drives show in the sim file (on the renumbered
#      host lines), and go back to unused when released; inputs the host
#      writes into the sim file read in the guest, active low too; no
#      VIRTIO_GPIO_F_IRQ (QEMU 7.2 never offers it): edge requests refused.
#   2. QEMU 10 from bookworm-backports, unpacked privately (skipped, not
#      failed, when it cannot be had): the same, plus VIRTIO_GPIO_F_IRQ
#      negotiated and rising/falling/both edge events from host writes.
#   3. vhostd outlives the guests and exits 0 on SIGTERM.
# Skips (77) when QEMU 7.2's device, the kernel or the modules are missing.
# E2E_GPIO_QEMU10=0 leaves part 2 out.

: "${E2E_GUEST_TIMEOUT:=90}" "${E2E_QEMU_TIMEOUT:=120}" # TCG under load is slow
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

e2e_setup
e2e_require_qemu vhost-user-gpio-pci
e2e_require_vhostd

e2e_build_modules
e2e_static_cc "$e2e_work/gpiotest" "$E2E_SRCDIR/guest/gpiotest.c"
guest=$e2e_work/guest
e2e_build_guest "$guest" -m "$e2e_modules/gpio-virtio.ko" \
    -f "$e2e_work/gpiotest:/e2e/bin/gpiotest" \
    -f "$E2E_SRCDIR/guest/gpio.sh:/e2e/tests/gpio"

rt=$e2e_rt
chip=$rt/board.gpiosim
cfg=$e2e_work/vhostd.json
cat > "$cfg" <<EOF
{
  "runtime_dir": "$rt",
  "devices": [
    { "id": "vm1-gpio", "type": "gpio", "socket": "vm1-gpio.sock",
      "backend": "sim", "chip": "$chip", "ngpio": 8,
      "lines": [1, 2, 5, 6], "names": ["led0", "led1", "btn0", "btn1"] }
  ]
}
EOF
sock=$rt/vm1-gpio.sock
if ! "$VHOSTD" -n -c "$cfg" > "$e2e_work/check-config.log" 2>&1; then
	e2e_fail "vhostd -n rejects the config:"
	sed 's/^/  /' "$e2e_work/check-config.log"
	e2e_finish
fi
vhostd_start "$cfg" "$sock" || e2e_finish

# The sim file: N=8 input bytes, '\n', 8 bytes of the guest's side, '\n'.
host_line() { # guest line -> host line
	set -- 1 2 5 6 "$1"
	eval "echo \${$(( $5 + 1 ))}"
}
sim_in() { # GUEST_LINE VALUE
	printf '%s' "$2" | dd of="$chip" bs=1 seek="$(host_line "$1")" conv=notrunc 2>/dev/null
}
sim_out() { # GUEST_LINE: the guest's side of it: - i 0 1
	dd if="$chip" bs=1 skip=$(( 9 + $(host_line "$1") )) count=1 2>/dev/null
}
expect_out() { # VM GUEST_LINE WANT DESCRIPTION
	i=0
	while [ $i -lt 20 ] && [ "$(sim_out "$2")" != "$3" ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if [ "$(sim_out "$2")" = "$3" ]; then
		e2e_pass "$1: $4"
	else
		e2e_fail "$1: $4: the sim chip shows '$(sim_out "$2")', not '$3' ($(tr '\n' '|' < "$chip"))"
	fi
}

# run_guest VM MODE: one guest, the host's half of guest/gpio.sh's steps.
run_guest() {
	vm=$1 mode=$2
	t=$(e2e_now)
	qemu_start "$vm" "$guest" gpio "$mode,led0,led1,btn0,btn1" -- \
	    -chardev "socket,id=c0,path=$sock" -device vhost-user-gpio-pci,chardev=c0
	# outputs
	if qemu_wait_marker "$vm" '^set line=0 value=1 readback=1' 40; then
		expect_out "$vm" 0 1 "guest line 0 driven 1 shows on host line 1"
		qemu_wait_marker "$vm" '^set line=0 value=0 readback=0' 20 &&
			expect_out "$vm" 0 0 "guest line 0 driven 0 shows on host line 1"
		qemu_wait_marker "$vm" '^E2E-STEP released' 20 &&
			expect_out "$vm" 0 - "released line back to unused"
		qemu_wait_marker "$vm" '^set line=1 value=1 readback=1' 20 &&
			expect_out "$vm" 1 1 "guest line 1 driven 1 shows on host line 2"
		[ "$(sim_out 2)$(sim_out 3)" = ii ] &&
			e2e_pass "$vm: lines the guest has not touched are inputs, the device's reset state" ||
			e2e_fail "$vm: untouched lines: $(tr '\n' '|' < "$chip")"
	else
		e2e_fail "$vm: the guest did not drive its first output"
	fi
	# inputs and edges, as the guest asks
	n=0
	while [ -n "$(eval echo "\${e2e_qemu_pid_$vm:-}")" ] &&
	    kill -0 "$(eval echo "\${e2e_qemu_pid_$vm}")" 2>/dev/null; do
		steps=$(tr -d '\r' < "$e2e_work/$vm.console" | grep '^E2E-STEP \(input\|pulse\)')
		cnt=$(echo "$steps" | grep -c .)
		if [ "$cnt" -gt "$n" ]; then
			n=$((n + 1))
			set -- $(echo "$steps" | sed -n "${n}p")
			case $2 in
			input) sim_in "$3" "$4" ;;
			pulse) sim_in "$3" 1; sleep 0.5; sim_in "$3" 0 ;;
			esac
			e2e_log "$vm: $2 $3 ${4:-}"
			continue
		fi
		sleep 0.1
	done
	qemu_wait "$vm"
	sim_in 2 0
	sim_in 3 0
	if guest_check "$vm" gpio; then
		e2e_pass "$vm: guest test passed ($mode, $(( $(e2e_now) - t ))s)"
	else
		e2e_dump_vhostd
	fi
}

# 1. QEMU 7.2 (or whatever QEMU_SYSTEM_X86 is): no interrupts there.
mode=noirq
case $("$QEMU_SYSTEM_X86" -version | head -n 1) in
*"version 7."*|*"version 8."*) ;;
*) mode=irq ;;
esac
run_guest vm1 $mode
vhostd_alive || e2e_fail "vhostd died while serving the first guest"

# 2. QEMU 10 from bookworm-backports: interrupts.
if [ "$mode" = noirq ] && [ "${E2E_GPIO_QEMU10:-1}" != 0 ] && vhostd_alive &&
    [ "${e2e_qemu_status_vm1:-}" != 124 ] && [ "${e2e_qemu_status_vm1:-}" != 137 ]; then
	q72=$QEMU_SYSTEM_X86
	if e2e_use_backports_qemu; then
		run_guest vm2 irq
		vhostd_alive || e2e_fail "vhostd died while serving the QEMU 10 guest"
	else
		e2e_log "SKIP part 2 (interrupts with QEMU 10): $e2e_backports_qemu_why"
	fi
	QEMU_SYSTEM_X86=$q72
fi

# 3. vhostd stops cleanly.
if vhostd_alive; then
	if vhostd_stop TERM 10; then
		e2e_pass "vhostd exited with status 0 on SIGTERM"
	else
		e2e_fail "vhostd on SIGTERM: exit status $vhostd_status (-1: still running after 10 s, killed)"
		e2e_dump_vhostd
	fi
	[ -e "$sock" ] && e2e_fail "socket $sock left behind"
else
	e2e_fail "vhostd is not running after the guests powered off"
	e2e_dump_vhostd
fi
if grep -Eq 'AddressSanitizer|UndefinedBehaviorSanitizer|runtime error:' "$e2e_work/vhostd.log"; then
	e2e_fail "sanitizer report in the vhostd log"
	e2e_dump_vhostd
fi

e2e_finish
