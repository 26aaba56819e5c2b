#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# End to end: two QEMU 7.2 guests at once, each with a vhost-user-gpio-pci
# and a vhost-user-i2c-pci device, all four served by one vhostd from ONE
# simulated GPIO chip (8 lines: vm1 gets 0-3, vm2 gets 4-5) and ONE
# simulated I2C bus (vm1: an EEPROM at 0x50, vm2: a sensor at 0x48).
# Each guest's own drivers must see only its own grant: its line count and
# names, only its address on a probe; what each drives lands on its own
# host line of the shared chip file.
: "${E2E_GUEST_TIMEOUT:=60}" "${E2E_QEMU_TIMEOUT:=90}"
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

e2e_setup
e2e_require_qemu vhost-user-gpio-pci
e2e_require_qemu vhost-user-i2c-pci
e2e_require_vhostd

e2e_build_modules
e2e_static_cc "$e2e_work/gpiotest" "$E2E_SRCDIR/guest/gpiotest.c"
e2e_static_cc "$e2e_work/i2ctest" "$E2E_SRCDIR/guest/i2ctest.c"
guest=$e2e_work/guest
e2e_build_guest "$guest" -m "$e2e_modules/gpio-virtio.ko" \
    -m "$e2e_modules/i2c-virtio.ko" -m i2c-dev \
    -f "$e2e_work/gpiotest:/e2e/bin/gpiotest" \
    -f "$e2e_work/i2ctest:/e2e/bin/i2ctest" \
    -f "$E2E_SRCDIR/guest/shared.sh:/e2e/tests/shared"

rt=$e2e_rt
chip=$rt/board.gpiosim
cfg=$e2e_work/vhostd.json
cat > "$cfg" <<JSON
{
  "runtime_dir": "$rt",
  "devices": [
    { "id": "vm1-gpio", "type": "gpio", "socket": "vm1-gpio.sock",
      "backend": "sim", "chip": "$chip", "ngpio": 8, "lines": [0, 1, 2, 3],
      "names": ["vm1led", "vm1a", "vm1b", "vm1c"] },
    { "id": "vm2-gpio", "type": "gpio", "socket": "vm2-gpio.sock",
      "backend": "sim", "chip": "$chip", "ngpio": 8, "lines": [4, 5],
      "names": ["vm2led", "vm2a"] },
    { "id": "vm1-i2c", "type": "i2c", "socket": "vm1-i2c.sock",
      "backend": "sim", "bus": "board-i2c", "addresses": ["0x50"],
      "parts": [{ "type": "24c02", "address": "0x50" }] },
    { "id": "vm2-i2c", "type": "i2c", "socket": "vm2-i2c.sock",
      "backend": "sim", "bus": "board-i2c", "addresses": ["0x48"],
      "parts": [{ "type": "lm75", "address": "0x48" }] }
  ]
}
JSON
vhostd_start "$cfg" "$rt/vm1-gpio.sock" "$rt/vm2-gpio.sock" \
    "$rt/vm1-i2c.sock" "$rt/vm2-i2c.sock" || e2e_finish

# Both guests at once.  vm1 drives its line 0 (host line 0), vm2 its
# line 1 (host line 5).
qemu_start vm1 "$guest" shared "4,vm1led,0x50,0" -- \
    -chardev "socket,id=g,path=$rt/vm1-gpio.sock" -device vhost-user-gpio-pci,chardev=g \
    -chardev "socket,id=i,path=$rt/vm1-i2c.sock" -device vhost-user-i2c-pci,chardev=i
qemu_start vm2 "$guest" shared "2,vm2led,0x48,1" -- \
    -chardev "socket,id=g,path=$rt/vm2-gpio.sock" -device vhost-user-gpio-pci,chardev=g \
    -chardev "socket,id=i,path=$rt/vm2-i2c.sock" -device vhost-user-i2c-pci,chardev=i

# The guest side of the chip file (bytes 9..16) while both hold their
# output (10 s each): each on its own host line.
qemu_wait_marker vm1 '^set line=0 value=1' 60
qemu_wait_marker vm2 '^set line=1 value=1' 60
sleep 0.5
side=$(dd if="$chip" bs=1 skip=9 count=8 2>/dev/null)
if [ "$(printf '%s' "$side" | cut -c1)" = 1 ] &&
    [ "$(printf '%s' "$side" | cut -c6)" = 1 ]; then
	e2e_pass "vm1's line 0 is host line 0, vm2's line 1 is host line 5 ($side)"
else
	e2e_fail "chip file guest side '$side': expected 1 at host lines 0 and 5"
fi
qemu_wait vm1
qemu_wait vm2
guest_check vm1 shared || e2e_dump_guest vm1
guest_check vm2 shared || e2e_dump_guest vm2
vhostd_alive || e2e_fail "vhostd died"
if grep -q forbids "$vhostd_log"; then
	e2e_fail "a worker made a forbidden system call"
	e2e_dump_vhostd
fi
if vhostd_stop TERM 10; then
	e2e_pass "vhostd exited with status 0 on SIGTERM"
else
	e2e_fail "vhostd exit status $vhostd_status"
	e2e_dump_vhostd
fi
e2e_finish
