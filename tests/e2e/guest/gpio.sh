# SPDX-License-Identifier: BSD-3-Clause
# Guest side of tests/e2e/gpio.sh, run by the guest's /init as
# /e2e/tests/gpio, against one vhost-user-gpio-pci device served by vhostd
# with a sim chip; the host drives the chip's inputs and reads its outputs
# when this script asks on the console:
#   E2E-STEP input LINE VALUE   drive guest line LINE's input to VALUE
#   E2E-STEP pulse LINE         drive it 1, then 0 (two edges)
# and reads the outputs when gpiotest prints its "set line=..." lines.
# Argument: irq (the device must offer VIRTIO_GPIO_F_IRQ: edge events are
# tested) or noirq (it must not: edge requests are refused), then the
# expected line names, comma separated like all arguments.
set -f
mode=${1:-noirq}
shift
fail=0
pass() { echo "E2E-CHECK PASS $*"; }
flunk() { echo "E2E-CHECK FAIL $*"; fail=1; }
c="-c virtio*"

# The device: a virtio device of ID 41 (0x0029) with its driver bound.
dev=
set +f
for d in /sys/bus/virtio/devices/*; do
	[ "$(cat "$d/device" 2>/dev/null)" = 0x0029 ] && dev=$d
done
set -f
if [ -z "$dev" ]; then
	flunk "no virtio GPIO device (ID 41) on the virtio bus"
	exit 1
fi
feat=$(cat "$dev/features")
echo "virtio GPIO device $(basename "$dev"), features $feat, driver $(basename "$(readlink "$dev/driver")")"
case $feat in
1*) irq=1 ;;
*) irq=0 ;;
esac
if [ "$mode" = irq ] && [ $irq = 1 ]; then
	pass "VIRTIO_GPIO_F_IRQ negotiated"
elif [ "$mode" = noirq ] && [ $irq = 0 ]; then
	pass "VIRTIO_GPIO_F_IRQ not negotiated, as expected of this QEMU"
else
	flunk "VIRTIO_GPIO_F_IRQ is $irq, the host expected $mode"
fi

# The chip: 4 lines named as the host configured them.
out=$(gpiotest $c info 2>&1)
echo "$out"
echo "$out" | grep -Eq '^chip path=/dev/gpiochip[0-9]+ name=gpiochip[0-9]+ label=virtio[0-9]+ lines=4$' &&
	pass "gpiochip of the virtio device, 4 lines" ||
	flunk "no gpiochip with 4 lines labelled virtioN"
i=0
for n in "$@"; do
	echo "$out" | grep -q "^line $i name=$n consumer=- dir=input used=0 " &&
		pass "line $i is named $n, a free input" ||
		flunk "line $i is not a free input named $n"
	i=$((i + 1))
done

# Outputs: the host reads the sim chip while gpiotest holds each value.
echo "E2E-STEP outputs"
gpiotest $c -h 6000 set led0 1 0
rc=$?
[ $rc = 0 ] && pass "set led0 1 then 0, read back" || flunk "gpiotest set exited $rc"
echo "E2E-STEP released"
gpiotest $c -h 6000 set 1 1 || flunk "gpiotest set 1 1"

# Inputs: the host drives them when asked; poll until the value shows.
want_input() { # LINE VALUE
	echo "E2E-STEP input $1 $2"
	i=0
	while [ $i -lt 100 ]; do
		v=$(gpiotest $c get "$1" 2>&1)
		[ "$v" = "get line=$1 value=$2" ] && break
		sleep 0.1
		i=$((i + 1))
	done
	echo "$v"
	[ "$v" = "get line=$1 value=$2" ] &&
		pass "input line $1 reads $2 after the host drove it" ||
		flunk "input line $1 did not read $2 within 10 s ($v)"
}
want_input 2 1
want_input 2 0
want_input 3 1
out=$(gpiotest $c -l get 3 2>&1)
[ "$out" = "get line=3 value=0" ] && pass "active low inverts the input" ||
	flunk "active low: $out"
want_input 3 0
out=$(gpiotest $c get 2 3 2>&1)
echo "$out"
[ "$(echo $out)" = "get line=2 value=0 get line=3 value=0" ] &&
	pass "two lines in one request" || flunk "two lines in one request"

# Edges.
if [ $irq = 0 ]; then
	out=$(gpiotest $c wait-edge btn0 both 1000 2>&1)
	rc=$?
	echo "$out"
	[ $rc = 1 ] && echo "$out" | grep -q 'GPIO_V2_GET_LINE_IOCTL' &&
		pass "edge detection refused without VIRTIO_GPIO_F_IRQ" ||
		flunk "edge request without VIRTIO_GPIO_F_IRQ: exit $rc"
	exit $fail
fi
edges() { # LINE EDGE COUNT STEP: arm, ask the host, wait for the events
	gpiotest $c wait-edge "$1" "$2" 15000 "$3" > /tmp/edge.out 2>&1 &
	p=$!
	i=0
	while [ $i -lt 100 ] && ! grep -q '^waiting' /tmp/edge.out; do
		sleep 0.1
		i=$((i + 1))
	done
	cat /tmp/edge.out
	echo "E2E-STEP $4"
	wait $p
	rc=$?
	sed 1d /tmp/edge.out
	return $rc
}
if edges 2 both 2 "pulse 2"; then
	grep -q '^event line=2 edge=rising seqno=1 ' /tmp/edge.out &&
	    grep -q '^event line=2 edge=falling seqno=2 ' /tmp/edge.out &&
		pass "both edges: a rising then a falling event" ||
		flunk "both edges: not a rising then a falling event"
else
	flunk "both edges: wait-edge exited $rc"
fi
if edges 3 rising 1 "input 3 1"; then
	grep -q '^event line=3 edge=rising ' /tmp/edge.out &&
		pass "rising edge" || flunk "rising edge: wrong event"
else
	flunk "rising edge: wait-edge exited $rc"
fi
if edges 3 falling 1 "input 3 0"; then
	grep -q '^event line=3 edge=falling ' /tmp/edge.out &&
		pass "falling edge" || flunk "falling edge: wrong event"
else
	flunk "falling edge: wait-edge exited $rc"
fi
out=$(gpiotest $c wait-edge 2 rising 500 2>&1)
rc=$?
echo "$out"
[ $rc = 2 ] && pass "no event when nothing changes" || flunk "quiet line: wait-edge exited $rc"
exit $fail
