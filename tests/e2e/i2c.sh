#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# End to end: a QEMU guest with a vhost-user-i2c-pci device served by
# vhostd's i2c device on a sim bus (a 24c02 EEPROM at 0x50, an LM75 at
# host address 0x49 given to the guest as 0x48), driven by the guest
# kernel's i2c-virtio driver (built by mkmodules.sh), i2c-dev and i2ctest:
#   1. the adapter, its functionality, probing (zero-length writes and
#      1-byte reads) finds exactly the given addresses; EEPROM writes, page
#      wrap, current-address reads, a 256-byte read, SMBus emulation; the
#      LM75's registers under the remapped address; addresses not given,
#      the host address among them, fail as absent devices;
#   2. vhostd outlives the guest and exits 0 on SIGTERM.
# Skips (77) when QEMU's device, the kernel or the modules are missing.

: "${E2E_GUEST_TIMEOUT:=45}" "${E2E_QEMU_TIMEOUT:=75}" # TCG under load is slow
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

e2e_setup
e2e_require_qemu vhost-user-i2c-pci
e2e_require_vhostd

e2e_build_modules
e2e_static_cc "$e2e_work/i2ctest" "$E2E_SRCDIR/guest/i2ctest.c"
guest=$e2e_work/guest
e2e_build_guest "$guest" -m i2c-dev -m "$e2e_modules/i2c-virtio.ko" \
    -f "$e2e_work/i2ctest:/e2e/bin/i2ctest" \
    -f "$E2E_SRCDIR/guest/i2c.sh:/e2e/tests/i2c"

rt=$e2e_rt
cfg=$e2e_work/vhostd.json
cat > "$cfg" <<CFG
{
  "runtime_dir": "$rt",
  "devices": [
    { "id": "vm1-i2c", "type": "i2c", "socket": "vm1-i2c.sock",
      "backend": "sim", "bus": "e2e",
      "addresses": ["0x50", { "guest": "0x48", "host": "0x49" }],
      "parts": [
        { "type": "24c02", "address": "0x50" },
        { "type": "lm75", "address": "0x49", "temp_mc": 42000 }
      ] }
  ]
}
CFG
sock=$rt/vm1-i2c.sock
if ! "$VHOSTD" -n -c "$cfg" > "$e2e_work/check-config.log" 2>&1; then
	e2e_fail "vhostd -n rejects the config:"
	sed 's/^/  /' "$e2e_work/check-config.log"
	e2e_finish
fi
vhostd_start "$cfg" "$sock" || e2e_finish

t=$(e2e_now)
qemu_start vm1 "$guest" i2c -- \
    -chardev "socket,id=c0,path=$sock" -device vhost-user-i2c-pci,chardev=c0
qemu_wait vm1
if guest_check vm1 i2c; then
	e2e_pass "the guest's I2C transfers went through vhostd ($(( $(e2e_now) - t ))s)"
else
	e2e_dump_vhostd
fi

if vhostd_alive; then
	if vhostd_stop TERM 10; then
		e2e_pass "vhostd exited with status 0 on SIGTERM"
	else
		e2e_fail "vhostd on SIGTERM: exit status $vhostd_status (-1: still running after 10 s, killed)"
		e2e_dump_vhostd
	fi
	[ -e "$sock" ] && e2e_fail "socket $sock left behind"
else
	e2e_fail "vhostd is not running after the guest powered off"
	e2e_dump_vhostd
fi
if grep -Eq 'AddressSanitizer|UndefinedBehaviorSanitizer|runtime error:' "$e2e_work/vhostd.log"; then
	e2e_fail "sanitizer report in the vhostd log"
	e2e_dump_vhostd
fi

e2e_finish
