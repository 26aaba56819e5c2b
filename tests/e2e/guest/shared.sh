# SPDX-License-Identifier: BSD-3-Clause
# Guest side of tests/e2e/shared.sh, run as /e2e/tests/shared: one of two
# guests whose vhost-user-gpio-pci and vhost-user-i2c-pci devices are
# served by one vhostd from one simulated GPIO chip and one simulated I2C
# bus, split between them.  Arguments (comma separated on the command
# line): this guest's line count, its first line's name, the one I2C
# address it must find, and the GPIO line it drives to 1 for the host to
# see.
set -f
nlines=$1 name0=$2 addr=$3 drive=$4
fail=0
pass() { echo "E2E-CHECK PASS $*"; }
flunk() { echo "E2E-CHECK FAIL $*"; fail=1; }

out=$(gpiotest -c 'virtio*' info 2>&1)
echo "$out"
echo "$out" | grep -Eq "^chip path=/dev/gpiochip[0-9]+ .* lines=$nlines\$" &&
	pass "its gpiochip has its own $nlines lines" ||
	flunk "no virtio gpiochip with $nlines lines"
echo "$out" | grep -q "^line 0 name=$name0 " &&
	pass "line 0 is its own, named $name0" ||
	flunk "line 0 is not named $name0"

out=$(i2ctest -b 'i2c_virtio*' probe 2>&1)
echo "$out"
found=$(echo "$out" | sed -n 's/.*found=\([^ ]*\).*/\1/p')
[ "$found" = "$addr" ] &&
	pass "the I2C probe finds exactly its own address $addr" ||
	flunk "the I2C probe found '$found', not $addr alone"

# Hold line `drive` at 1 while the host looks at the chip file (long
# enough for both guests' holds to overlap whatever their boot skew).
# (tee: the host watches for the line while the value is held)
gpiotest -c 'virtio*' -h 10000 set "$drive" 1 2>&1 | tee /tmp/set.out
out=$(cat /tmp/set.out)
echo "$out" | grep -q "^set line=$drive value=1 readback=1" &&
	pass "drove its line $drive to 1" || flunk "could not drive line $drive"
exit $fail
