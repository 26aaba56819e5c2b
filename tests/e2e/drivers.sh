#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# End to end, without vhostd: the pieces the GPIO and I2C e2e tests stand
# on work in a guest.
#   - mkmodules.sh builds gpio-virtio, i2c-virtio, gpio-sim and gpio-mockup
#     out of tree for the guest's Debian kernel, and they load;
#   - i2ctest (i2c-dev: I2C_FUNCS, SMBus ioctls) against i2c-stub: probe,
#     byte data, I2C block, send/receive byte, an absent address;
#   - gpiotest (GPIO character device, v2 uAPI) against gpio-sim set up
#     through configfs: chip and line info, line names, outputs seen by the
#     simulator, inputs pulled by the simulator, active low, rising and
#     falling edge events, timeouts (gpio-mockup is built and loaded too;
#     its checks run only on request, see guest/drivers.sh);
#   - mkguest.sh's module parameters (-m NAME:PARAMS).
# One guest boot; skips (77) when QEMU, the kernel or the kernel headers
# and sources cannot be had.

: "${E2E_GUEST_TIMEOUT:=60}" "${E2E_QEMU_TIMEOUT:=90}" # TCG under load is slow
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

e2e_setup
e2e_require_qemu

e2e_build_modules
m=$e2e_modules
e2e_static_cc "$e2e_work/gpiotest" "$E2E_SRCDIR/guest/gpiotest.c"
e2e_static_cc "$e2e_work/i2ctest" "$E2E_SRCDIR/guest/i2ctest.c"
guest=$e2e_work/guest
e2e_build_guest "$guest" \
    -m i2c-dev -m 'i2c-stub:chip_addr=0x50,0x52' \
    -m "$m/gpio-sim.ko" \
    -m "$m/gpio-mockup.ko:gpio_mockup_ranges=-1,4 gpio_mockup_named_lines" \
    -m "$m/gpio-virtio.ko" -m "$m/i2c-virtio.ko" \
    -f "$e2e_work/gpiotest:/e2e/bin/gpiotest" \
    -f "$e2e_work/i2ctest:/e2e/bin/i2ctest" \
    -f "$E2E_SRCDIR/guest/gpio-sim.sh:/e2e/bin/gpio-sim" \
    -f "$E2E_SRCDIR/guest/drivers.sh:/e2e/tests/drivers"

t=$(e2e_now)
qemu_start vm1 "$guest" drivers
qemu_wait vm1
con=$e2e_work/vm1.console
if grep -q '^E2E-MODULE-FAILED' "$con"; then
	e2e_fail "modules failed to load: $(grep '^E2E-MODULE-FAILED' "$con" | cut -d' ' -f2 | tr '\n' ' ')"
else
	e2e_pass "all modules loaded: $(sed -n 's/^E2E-MODULES-LOADED //p' "$con" | tr -d '\r')"
fi
guest_check vm1 drivers &&
	e2e_pass "i2c-stub, gpio-sim and the virtio drivers in a guest ($(( $(e2e_now) - t ))s)"

e2e_finish
