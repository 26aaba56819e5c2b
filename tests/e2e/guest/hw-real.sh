# SPDX-License-Identifier: BSD-3-Clause
# Guest side of tests/e2e/hw-real.sh, run by the guest's /init as
# /e2e/tests/hw-real: vhostd's real hardware backends (gpio "gpiod", i2c
# "i2cdev") against real kernel drivers, all inside this guest. vhostd
# runs here as root and becomes nobody (group gpio); vufdev plays the VMM
# and the guest driver over the device sockets.
# Expects at boot: i2c_dev, i2c_stub (chip_addr=0x50,0x51,0x52), gpio_sim;
# /e2e/bin/{vhostd,vufdev,gpiotest,i2ctest,gpio-sim}; /etc/passwd and
# /etc/group with root, nobody and the group gpio.
# Argument: the seccomp mode for vhostd, kill (default) or log.
#
# The host chip (gpio-sim "hwreal", 8 lines) and the grant:
#   host line:  0  1     2     3  4     5     6     7
#   name:       -  led-a led-b -  btn-a btn-b spare busy
#   guest line:    3     0              1     2
# The i2c-stub bus has chips at 0x50, 0x51, 0x52; the guest is given 0x50
# as it is and 0x51 as 0x48; 0x52 is on the bus but not given.
mode=${1:-kill}
fail=0
pass() { echo "E2E-CHECK PASS $*"; }
flunk() { echo "E2E-CHECK FAIL $*"; fail=1; }
# expect DESCRIPTION EXPECTED-RC CMD...: run CMD, keep its output in $got
# and echo it, check its exit status
expect() {
	desc=$1 want=$2
	shift 2
	got=$("$@" 2>&1)
	rc=$?
	echo "$got" | sed 's/^/    /'
	[ "$rc" = "$want" ] && return 0
	flunk "$desc: '$*' exited $rc, not $want"
	return 1
}
# has DESCRIPTION PATTERN: $got has a line matching the grep -E PATTERN
has() {
	if echo "$got" | grep -Eq "$2"; then
		pass "$1"
	else
		flunk "$1: no line matching '$2'"
	fi
}
# wait_file FILE PATTERN [TENTHS]: until FILE has a line matching PATTERN
wait_file() {
	i=0
	while [ $i -lt "${3:-100}" ]; do
		grep -Eq "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}
# simval HOSTLINE WANT WHAT: gpio-sim's sysfs value of the host line
simval() {
	v=$(gpio-sim value hwreal "$1" 2>&1)
	if [ "$v" = "$2" ]; then
		pass "$3: $simdir/sim_gpio$1/value is $2"
	else
		flunk "$3: $simdir/sim_gpio$1/value is '$v', not $2"
	fi
}

vlog=/tmp/vhostd.log
vpid=
dump_log() {
	echo "E2E: vhostd log follows"
	sed 's/^/VHOSTD-LOG /' "$vlog" 2>/dev/null
	echo "E2E: end of vhostd log"
}
bail() {
	flunk "$*"
	[ -n "$vpid" ] && kill -KILL "$vpid" 2>/dev/null
	dump_log
	exit 1
}

# ---- the hardware --------------------------------------------------------
expect "gpio-sim create" 0 gpio-sim create hwreal 8 - led-a led-b - btn-a btn-b spare busy ||
	bail "no gpio-sim chip"
chip=$(gpio-sim chip hwreal)
gdev=/dev/$chip
simdir=/sys/devices/platform/$(cat /sys/kernel/config/gpio-sim/hwreal/dev_name)/$chip
[ -c "$gdev" ] || bail "no $gdev"
# vhostd's gpio worker opens the chip as nobody, group gpio (the "group"
# key): only that group may use it.
chgrp gpio "$gdev" && chmod 0660 "$gdev" || bail "cannot chgrp/chmod $gdev"
ls -l "$gdev" | sed 's/^/    /'

ibus=
for d in /sys/class/i2c-dev/i2c-*; do
	[ "$(cat "$d/name" 2>/dev/null)" = "SMBus stub driver" ] && ibus=${d##*/}
done
[ -n "$ibus" ] && [ -c "/dev/$ibus" ] || bail "no i2c-dev node of i2c-stub"
ino=${ibus#i2c-}
echo "    gpio: $gdev ($simdir), i2c: /dev/$ibus"

# ---- vhostd ------------------------------------------------------------------
rt=/run/vhostd
cfg=/tmp/vhostd.json
cat > "$cfg" <<CFG
{
  "runtime_dir": "$rt",
  "user": "nobody",
  "group": "gpio",
  "seccomp": "$mode",
  "devices": [
    { "id": "vm1-gpio", "type": "gpio", "socket": "vm1-gpio.sock",
      "backend": "gpiod", "chip": "$gdev", "lines": [2, 5, 6, 1] },
    { "id": "vm1-i2c", "type": "i2c", "socket": "vm1-i2c.sock",
      "backend": "i2cdev", "bus": "/dev/$ibus",
      "addresses": ["0x50", { "guest": "0x48", "host": "0x51" }] }
  ]
}
CFG
sed 's/^/    cfg: /' "$cfg"
expect "vhostd -n accepts the config" 0 vhostd -n -c "$cfg" ||
	bail "config rejected"
vhostd -f -v -c "$cfg" > "$vlog" 2>&1 &
vpid=$!
gs=$rt/vm1-gpio.sock
is=$rt/vm1-i2c.sock
i=0
while [ ! -S "$gs" ] || [ ! -S "$is" ]; do
	kill -0 $vpid 2>/dev/null || { wait $vpid; bail "vhostd exited ($?) before listening"; }
	i=$((i + 1))
	[ $i -gt 150 ] && bail "vhostd did not create its sockets within 15 s"
	sleep 0.1
done
pass "vhostd (pid $vpid) listens on $gs and $is"

# ---- GPIO ----------------------------------------------------------------------
echo "== gpio: the gpiod backend on gpio-sim"
expect "vufdev gpio info" 0 vufdev "$gs" gpio info && {
	has "info: 4 lines" '^ngpio 4$'
	has "info: guest line 0 is host line 2, led-b" '^line 0 led-b$'
	has "info: guest line 1 is host line 5, btn-b" '^line 1 btn-b$'
	has "info: guest line 2 is host line 6, spare" '^line 2 spare$'
	has "info: guest line 3 is host line 1, led-a" '^line 3 led-a$'
}

# Outputs. vufdev holds the connection (and vhostd the lines) while it
# waits for an interrupt on an idle input (2, then 0: line 2's buffer is
# still queued after its timeout) that does not come: the windows in
# which gpio-sim's sysfs is read.
vufdev "$gs" gpio 'dir 3 out; set 3 1; irq 2 rising 4000; set 3 0; irq 0 rising 2000; gdir 3' \
    > /tmp/hold.out 2>&1 &
hpid=$!
if wait_file /tmp/hold.out '^value 3 1$' 150; then
	pass "vufdev: dir 3 out; set 3 1"
	simval 1 1 "guest line 3 set to 1: host line 1 (led-a)"
	simval 2 0 "host line 2 (guest 0, an input) untouched"
	simval 3 0 "host line 3 (not given) untouched"
	expect "gpiotest info while vhostd holds the lines" 0 gpiotest -c hwreal info && {
		has "the kernel: host line 1 is vhostd's output" '^line 1 name=led-a consumer=vhostd:vm1-gpio dir=output used=1 '
		has "the kernel: host line 2 is vhostd's input" '^line 2 name=led-b consumer=vhostd:vm1-gpio dir=input used=1 '
		has "the kernel: host line 5 is vhostd's" '^line 5 name=btn-b consumer=vhostd:vm1-gpio dir=input used=1 '
		has "the kernel: host line 6 is vhostd's" '^line 6 name=spare consumer=vhostd:vm1-gpio dir=input used=1 '
		has "the kernel: host line 0 (not given) is free" '^line 0 name=- consumer=- dir=input used=0 '
		has "the kernel: host line 4 (not given) is free" '^line 4 name=btn-a consumer=- dir=input used=0 '
		has "the kernel: host line 7 (not given) is free" '^line 7 name=busy consumer=- dir=input used=0 '
	}
	# Who vhostd runs as, now that a worker is up.
	ids=
	for p in /proc/[0-9]*; do
		[ "$(cat "$p/comm" 2>/dev/null)" = vhostd ] || continue
		ids="$ids $(sed -n 's/^Uid:[[:space:]]*\([0-9]*\).*/\1/p' "$p/status"):$(sed -n 's/^Gid:[[:space:]]*\([0-9]*\).*/\1/p' "$p/status")"
	done
	echo "    vhostd processes (uid:gid):$ids"
	gid=$(sed -n 's/^gpio:[^:]*:\([0-9]*\):.*/\1/p' /etc/group)
	n=$(echo $ids | wc -w)
	if [ "$n" -ge 2 ] && [ -z "$(echo $ids | tr ' ' '\n' | grep -v "^65534:$gid\$")" ]; then
		pass "vhostd and its worker(s) run as nobody, group gpio ($n processes)"
	else
		flunk "vhostd's processes are not all uid 65534 gid $gid:$ids"
	fi
	grep -q '^irq 2 ' /tmp/hold.out &&
		flunk "the first window closed before all was read (TCG too slow?)"
else
	flunk "vufdev did not set line 3"
fi
if wait_file /tmp/hold.out '^value 3 0$' 100; then
	simval 1 0 "guest line 3 set to 0: host line 1"
	grep -q '^irq 0 ' /tmp/hold.out &&
		flunk "the second window closed before gpio-sim was read"
else
	flunk "vufdev did not set line 3 to 0"
fi
wait $hpid
rc=$?
sed 's/^/    /' /tmp/hold.out
[ $rc = 0 ] && pass "vufdev output session exited 0" || flunk "vufdev output session exited $rc"
grep -q '^irq 2 timeout$' /tmp/hold.out && grep -q '^irq 0 timeout$' /tmp/hold.out &&
	pass "no interrupt on the idle lines 2 and 0 (both waits timed out)" ||
	flunk "not 'irq 2 timeout' and 'irq 0 timeout': the windows were not held"
grep -q '^dir 3 out$' /tmp/hold.out && [ "$(grep -c '^dir 3 out$' /tmp/hold.out)" = 2 ] &&
	pass "gdir 3: out" || flunk "gdir 3 did not say out"
i=0
while gpiotest -c hwreal info | grep -q 'consumer=vhostd' && [ $i -lt 50 ]; do
	sleep 0.1
	i=$((i + 1))
done
expect "gpiotest info after the session" 0 gpiotest -c hwreal info &&
	has "the lines are released when the front-end goes" '^line 1 name=led-a consumer=- dir=[a-z]+ used=0 '

# Inputs: gpio-sim's pulls are the outside world.
gpio-sim pull hwreal 5 pull-up
gpio-sim pull hwreal 2 pull-down
expect "vufdev get, host line 5 pulled up" 0 vufdev "$gs" gpio 'dir 1 in; get 1; get 0' && {
	has "get 1 reads host line 5 pulled up: 1" '^value 1 1$'
	has "get 0 reads host line 2 pulled down: 0" '^value 0 0$'
}
gpio-sim pull hwreal 5 pull-down
gpio-sim pull hwreal 2 pull-up
expect "vufdev get, host line 5 pulled down" 0 vufdev "$gs" gpio 'get 1; get 0' && {
	has "get 1 reads host line 5 pulled down: 0" '^value 1 0$'
	has "get 0 reads host line 2 pulled up: 1" '^value 0 1$'
}
gpio-sim pull hwreal 2 pull-down

# An edge interrupt: armed when the kernel shows edge detection on host
# line 5, fired by the pull going up.
vufdev "$gs" gpio 'dir 1 in; irq 1 rising 8000' > /tmp/irq.out 2>&1 &
ipid=$!
armed=
i=0
while [ $i -lt 80 ]; do
	gpiotest -c hwreal info 2>/dev/null |
	    grep -q '^line 5 name=btn-b consumer=vhostd:vm1-gpio dir=input used=1 .*edge=rising' &&
		{ armed=1; break; }
	sleep 0.1
	i=$((i + 1))
done
if [ -n "$armed" ]; then
	pass "irq 1 rising: the kernel shows rising-edge detection on host line 5"
else
	flunk "irq 1 rising: no edge detection on host line 5 within 8 s"
	gpiotest -c hwreal info | sed 's/^/    /'
fi
sleep 0.2
gpio-sim pull hwreal 5 pull-up
wait $ipid
rc=$?
sed 's/^/    /' /tmp/irq.out
if [ $rc = 0 ] && grep -q '^irq 1 fired$' /tmp/irq.out; then
	pass "irq 1 rising fired when host line 5 was pulled up"
else
	flunk "irq 1 rising: no 'irq 1 fired' (exit $rc)"
	grep -Ei 'gpio|sim|vhostd' /proc/interrupts | sed 's/^/    diag: /'
fi
gpio-sim pull hwreal 5 pull-down

# Outside the grant
expect "vufdev get 4" 1 vufdev "$gs" gpio 'get 4' &&
	has "guest line 4 (there are 4) refused" '^error: gpio request [0-9]+ line 4: status 1$'
expect "vufdev dir 4 out" 1 vufdev "$gs" gpio 'dir 4 out' &&
	has "dir 4 out refused" '^error: gpio request [0-9]+ line 4: status 1$'
simval 4 0 "host line 4 (not given) still not driven"

# ---- I2C -----------------------------------------------------------------------
echo "== i2c: the i2cdev backend on i2c-stub (SMBus only)"
expect "vufdev i2c probe" 0 vufdev "$is" i2c probe &&
	if [ "$(echo "$got" | grep '^found' | tr '\n' ' ')" = "found 0x48 found 0x50 " ]; then
		pass "probe finds exactly the given guest addresses 0x48 and 0x50"
	else
		flunk "probe found '$(echo "$got" | grep '^found' | tr '\n' ' ')', not 0x48 and 0x50"
	fi
expect "vufdev write, read 0x50" 0 vufdev "$is" i2c 'write 0x50 0x10 0xab; wr 0x50 0x10 -- 1' && {
	has "write 0x50 register 0x10" '^ok$'
	has "read back 0x50 register 0x10: ab" '^data ab$'
}
expect "i2ctest on the host adapter reads 0x50 register 0x10" 0 i2ctest -b "$ino" wr 0x50 0x10 -- 1 &&
	has "i2c-stub stored ab at 0x50 register 0x10" ' rdata=ab$'
expect "vufdev write, read 0x48 (host 0x51)" 0 vufdev "$is" i2c 'write 0x48 0x20 0x5a; wr 0x48 0x20 -- 1' && {
	has "write 0x48 register 0x20" '^ok$'
	has "read back 0x48 register 0x20: 5a" '^data 5a$'
}
expect "i2ctest reads host 0x51 register 0x20" 0 i2ctest -b "$ino" wr 0x51 0x20 -- 1 &&
	has "guest 0x48 reached i2c-stub's chip 0x51" ' rdata=5a$'
expect "i2ctest reads host 0x50 register 0x20" 0 i2ctest -b "$ino" wr 0x50 0x20 -- 1 &&
	has "0x50 register 0x20 untouched" ' rdata=00$'
expect "i2ctest writes host 0x51 register 0x21" 0 i2ctest -b "$ino" write 0x51 0x21 0x77
expect "vufdev reads 0x48 register 0x21" 0 vufdev "$is" i2c 'wr 0x48 0x21 -- 1' &&
	has "the guest reads what the host wrote to 0x51: 77" '^data 77$'
expect "vufdev reads 0x51 (the host address of 0x48)" 1 vufdev "$is" i2c 'wr 0x51 0x20 -- 1' &&
	has "0x51 not given: the request fails" '^error: i2c 0x51: status 1$'
expect "vufdev reads 0x52 (on the bus, not given)" 1 vufdev "$is" i2c 'wr 0x52 0x20 -- 1' &&
	has "0x52 not given: the request fails" '^error: i2c 0x52: status 1$'
expect "vufdev writes 0x52" 1 vufdev "$is" i2c 'write 0x52 0x20 0x11' &&
	has "a write to 0x52 fails" '^error: i2c 0x52: status 1$'
expect "i2ctest reads host 0x52 register 0x20" 0 i2ctest -b "$ino" wr 0x52 0x20 -- 1 &&
	has "0x52 register 0x20 untouched" ' rdata=00$'

# ---- vhostd at the end ----------------------------------------------------------
if kill -0 $vpid 2>/dev/null; then
	pass "vhostd still running"
	kill -TERM $vpid
	i=0
	while kill -0 $vpid 2>/dev/null && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if kill -0 $vpid 2>/dev/null; then
		flunk "vhostd still running 10 s after SIGTERM"
		kill -KILL $vpid
	fi
	wait $vpid
	rc=$?
	[ $rc = 0 ] && pass "vhostd exited 0 on SIGTERM" || flunk "vhostd exited $rc on SIGTERM"
else
	wait $vpid
	flunk "vhostd died (status $?)"
fi
vpid=
if grep -Eiq 'forbids|SIGSYS|signal 31|bad system call' "$vlog"; then
	flunk "seccomp violations in vhostd's log: $(grep -Ei 'forbids|SIGSYS|signal 31|bad system call' "$vlog" | tr '\n' ' ')"
else
	pass "no seccomp violation in vhostd's log (seccomp $mode)"
fi
if grep -Eq 'AddressSanitizer|UndefinedBehaviorSanitizer|runtime error:' "$vlog"; then
	flunk "sanitizer report in vhostd's log"
fi
dump_log
dmesg | grep -Ei 'gpio|i2c|seccomp|audit|BUG|WARNING' | tail -n 20 | sed 's/^/  dmesg: /'
if dmesg | grep -Eq 'BUG:|WARNING:|Oops'; then
	flunk "kernel BUG/WARNING/Oops in dmesg"
fi
exit $fail
