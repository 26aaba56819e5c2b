#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# End to end: vhostd's real hardware backends against real kernel drivers.
# vhostd itself runs INSIDE a QEMU guest (the host's build, with the
# shared libraries ldd lists, put in the initramfs by mkguest.sh -b), on
# gpio-sim (the gpio device's "gpiod" backend, through libgpiod and the
# GPIO character device) and i2c-stub (the i2c device's "i2cdev" backend,
# through i2c-dev and SMBus ioctls), and is driven over its sockets by
# vufdev, the project's front-end test program, in the same guest, as the
# VMM would (see tests/e2e/README, "What hw-real.sh checks"):
#   - gpio: the line count and the host chip's line names, renumbered;
#     outputs seen in gpio-sim's sysfs on the right host lines, inputs
#     pulled through gpio-sim read back, a rising-edge interrupt, the
#     lines the kernel shows as vhostd's (and only those), lines outside
#     the grant refused;
#   - i2c: probing finds exactly the given guest addresses, writes and
#     reads land in i2c-stub's registers (checked through i2c-dev
#     directly), the remapped address reaches the right chip, addresses
#     not given fail;
#   - vhostd runs as nobody (group gpio, the chip's group), its workers
#     under their real seccomp policies in kill mode, with no violation
#     logged, and exits 0 on SIGTERM.
# One guest boot, no vhost-user device in QEMU. Skips (77) when QEMU, the
# kernel or the modules cannot be had.
# E2E_HWREAL_SECCOMP=log runs vhostd with "seccomp": "log", to list every
# call a policy lacks in one run.

: "${E2E_GUEST_TIMEOUT:=45}" "${E2E_QEMU_TIMEOUT:=75}" # TCG under load is slow
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

mode=${E2E_HWREAL_SECCOMP:-kill}
e2e_setup
e2e_require_qemu
e2e_require_vhostd
command -v ldd >/dev/null 2>&1 || e2e_skip "no ldd to find vhostd's libraries"
if command -v file >/dev/null 2>&1 && ! file -L "$VHOSTD" | grep -q 'x86-64'; then
	e2e_skip "$VHOSTD is not an x86-64 program for the guest"
fi

e2e_build_modules
m=$e2e_modules
e2e_static_cc "$e2e_work/gpiotest" "$E2E_SRCDIR/guest/gpiotest.c"
e2e_static_cc "$e2e_work/i2ctest" "$E2E_SRCDIR/guest/i2ctest.c"
e2e_build_vufdev "$e2e_work/vufdev"

# vhostd becomes nobody; the gpio chip is given to the group gpio.
mkdir -p "$e2e_work/etc"
cat > "$e2e_work/etc/passwd" <<'EOF'
root:x:0:0:root:/:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat > "$e2e_work/etc/group" <<'EOF'
root:x:0:
gpio:x:997:
nogroup:x:65534:
EOF

guest=$e2e_work/guest
e2e_build_guest "$guest" \
    -m i2c-dev -m 'i2c-stub:chip_addr=0x50,0x51,0x52' -m "$m/gpio-sim.ko" \
    -b "$VHOSTD:/e2e/bin/vhostd" \
    -f "$e2e_work/vufdev:/e2e/bin/vufdev" \
    -f "$e2e_work/gpiotest:/e2e/bin/gpiotest" \
    -f "$e2e_work/i2ctest:/e2e/bin/i2ctest" \
    -f "$E2E_SRCDIR/guest/gpio-sim.sh:/e2e/bin/gpio-sim" \
    -f "$e2e_work/etc/passwd:/etc/passwd" \
    -f "$e2e_work/etc/group:/etc/group" \
    -f "$E2E_SRCDIR/guest/hw-real.sh:/e2e/tests/hw-real"

t=$(e2e_now)
qemu_start vm1 "$guest" hw-real "$mode"
qemu_wait vm1
con=$e2e_work/vm1.console
# vhostd's log, printed by the guest at its end, for e2e_dump_vhostd
vhostd_log=$e2e_work/vhostd.log
tr -d '\r' < "$con" | sed -n 's/^VHOSTD-LOG //p' > "$vhostd_log"
if grep -q '^E2E-MODULE-FAILED' "$con"; then
	e2e_fail "modules failed to load: $(grep '^E2E-MODULE-FAILED' "$con" | cut -d' ' -f2 | tr '\n' ' ')"
fi
if guest_check vm1 hw-real; then
	e2e_pass "gpiod on gpio-sim and i2cdev on i2c-stub, vhostd in the guest ($(( $(e2e_now) - t ))s)"
else
	e2e_dump_vhostd
fi
if grep -Eiq 'forbids|SIGSYS|signal 31' "$vhostd_log"; then
	e2e_fail "seccomp: $(grep -Ei 'forbids|SIGSYS|signal 31' "$vhostd_log" | sort -u | tr '\n' ' ')"
fi
if grep -Eq 'AddressSanitizer|UndefinedBehaviorSanitizer|runtime error:' "$vhostd_log"; then
	e2e_fail "sanitizer report in the vhostd log"
	e2e_dump_vhostd
fi

e2e_finish
