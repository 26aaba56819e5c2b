#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Integration test of the gpio and i2c devices over their simulated
# hardware, against the real vhostd (workers under their seccomp policies
# in kill mode), driven from the VMM side by the project's front-end
# program (vufdev): one simulated GPIO chip and one simulated I2C bus
# shared by two VMs with disjoint grants, each seeing only its own; the
# chip's state file shows what the guests set and drives their inputs;
# GPIO interrupts through the eventq (edge and level); overlapping grants
# refused at config load, naming both owners.
set -u

: "${VHOSTD:?VHOSTD must name the vhostd binary}"
: "${VUFDEV:?VUFDEV must name the vufdev binary}"

fail=0
pass() { echo "PASS: hw-sim: $*"; }
bad() { echo "FAIL: hw-sim: $*"; fail=1; }

dir=$(mktemp -d /tmp/vhostd-hwsim.XXXXXX)
# vhostd's workers run as nobody and must reach the chip file.
chmod 755 "$dir"
vpid=
cleanup() {
	[ -n "$vpid" ] && kill "$vpid" 2>/dev/null && wait "$vpid" 2>/dev/null
	[ -n "${KEEP:-}" ] && cp "$dir/vhostd.log" /tmp/hwsim.log; rm -rf "$dir"
}
trap cleanup EXIT
chip=$dir/chip0
cat > "$dir/vhostd.json" <<JSON
{
  "runtime_dir": "$dir/run",
  "devices": [
    { "id": "vm1-gpio", "type": "gpio", "socket": "vm1-gpio.sock",
      "backend": "sim", "chip": "$chip", "ngpio": 8, "lines": [0, 1, 2, 3],
      "names": ["led0", "led1", "btn0", "btn1"] },
    { "id": "vm2-gpio", "type": "gpio", "socket": "vm2-gpio.sock",
      "backend": "sim", "chip": "$chip", "ngpio": 8, "lines": [4, 5, 6, 7] },
    { "id": "vm1-i2c", "type": "i2c", "socket": "vm1-i2c.sock",
      "backend": "sim", "bus": "bus0", "addresses": [80],
      "parts": [{ "type": "24c02", "address": 80 }] },
    { "id": "vm2-i2c", "type": "i2c", "socket": "vm2-i2c.sock",
      "backend": "sim", "bus": "bus0", "addresses": ["0x48"],
      "parts": [{ "type": "lm75", "address": 72, "temp_mc": -5500 }] }
  ]
}
JSON

# Overlapping grants are a config error naming the first owner.
sed 's/"lines": \[4, 5, 6, 7\]/"lines": [3, 4]/; s/"addresses": \["0x48"\]/"addresses": [80, 72]/' \
    "$dir/vhostd.json" > "$dir/overlap.json"
out=$("$VHOSTD" -n -c "$dir/overlap.json" 2>&1)
if echo "$out" | grep -q 'devices\[1\].lines\[0\]: line 3 of gpio sim chip .* is already given to vm1-gpio' &&
    echo "$out" | grep -q 'devices\[3\].addresses\[0\]: address 0x50 of i2c bus bus0 is already given to vm1-i2c'; then
	pass "overlapping lines and addresses refused at load"
else
	bad "overlap not refused as expected: $out"
fi

# $VHOSTD_WRAPPER (words; tests/valgrind.sh) runs vhostd, in its own
# process; $VUF_SLOW multiplies the start-up wait.
# shellcheck disable=SC2086
${VHOSTD_WRAPPER:-} "$VHOSTD" -f -c "$dir/vhostd.json" > "$dir/vhostd.log" 2>&1 &
vpid=$!
i=0
while [ ! -S "$dir/run/vm2-i2c.sock" ]; do
	i=$((i + 1))
	[ $i -gt $((100 * ${VUF_SLOW:-1})) ] && { cat "$dir/vhostd.log"; bad "vhostd did not start"; exit 1; }
	sleep 0.1
done

dev() { "$VUFDEV" "$dir/run/$1.sock" "$2" "$3" 2>&1; }
# expect NAME OUTPUT PATTERN...: every grep pattern must match a line.
expect() {
	name=$1 out=$2
	shift 2
	for p in "$@"; do
		if ! printf '%s\n' "$out" | grep -qx -- "$p"; then
			bad "$name: no line '$p' in: $(printf '%s' "$out" | tr '\n' '|')"
			return
		fi
	done
	pass "$name"
}
# The guest side of the chip file, one byte per chip line.
guest_side() { dd if="$chip" bs=1 skip=9 count=8 2>/dev/null; }

# held NAME PATTERN DEVICE SCRIPT: runs SCRIPT on DEVICE and keeps the
# connection while the chip file's guest side is checked against the case
# PATTERN (what the file shows after the front-end has gone depends on
# whether its worker was stopped or killed); the script's output is left in $out.  Waits up to 10 s for the file.
held() {
	name=$1 pat=$2
	"$VUFDEV" "$dir/run/$3.sock" gpio "$4; hold 15000" > "$dir/held.out" 2>&1 &
	hpid=$!
	i=0 seen=
	while [ $i -lt 100 ]; do
		seen=$(guest_side)
		# shellcheck disable=SC2254
		case $seen in $pat) break ;; esac
		i=$((i + 1))
		sleep 0.1
	done
	kill "$hpid" 2>/dev/null
	wait "$hpid" 2>/dev/null
	# shellcheck disable=SC2254
	case $seen in $pat) pass "$name" ;;
	*) bad "$name: chip file guest side is '$seen', expected $pat" ;; esac
	out=$(cat "$dir/held.out")
}

held "the chip file shows vm1's output on chip line 0" '1???----' \
    vm1-gpio 'info; dir 0 out; set 0 1; gdir 0'
expect "vm1 sees its 4 named lines and drives line 0" "$out" \
    'ngpio 4' 'line 0 led0' 'line 3 btn1' 'value 0 1' 'dir 0 out'

held "vm2's guest line 1 is chip line 5" '????i1ii' \
    vm2-gpio 'info; dir 1 out; set 1 1; get 1'
expect "vm2 sees its own 4 lines, unnamed" "$out" 'ngpio 4' 'value 1 1'

out=$(dev vm2-gpio gpio 'get 4')
case $out in *error*) pass "vm2 cannot reach a line beyond its grant" ;;
*) bad "vm2 line 4 answered: $out" ;; esac

# Inputs driven from outside: vm2's line 2 is chip line 6.
printf 1 | dd of="$chip" bs=1 seek=6 conv=notrunc 2>/dev/null
out=$(dev vm2-gpio gpio 'dir 2 in; get 2')
expect "vm2 reads the input level set in the chip file" "$out" 'value 2 1'
printf 0 | dd of="$chip" bs=1 seek=6 conv=notrunc 2>/dev/null

# Edge interrupt through the eventq: vm1's line 2 (chip line 2) rises.
# The edge must come after vufdev has armed the interrupt, which takes
# longer under a slow wrapper (its worker starts first): both scaled.
slow=${VUF_SLOW:-1}
(sleep "$((slow / 2)).$((slow % 2 * 5))"
    printf 1 | dd of="$chip" bs=1 seek=2 conv=notrunc 2>/dev/null) &
writer=$!
out=$(dev vm1-gpio gpio "dir 2 in; irq 2 rising $((5000 * slow)); get 2")
wait "$writer"
expect "rising edge delivered on the eventq" "$out" 'irq 2 fired' 'value 2 1'
# No edge: the request stays pending.
out=$(dev vm1-gpio gpio 'dir 2 in; irq 2 falling 400')
expect "no falling edge, no interrupt" "$out" 'irq 2 timeout'
# Level high already holds: fires at once; level low does not.
out=$(dev vm1-gpio gpio 'dir 2 in; irq 2 high 2000')
expect "level-high interrupt while the line is high" "$out" 'irq 2 fired'
out=$(dev vm1-gpio gpio 'dir 2 in; irq 2 low 400')
expect "no level-low interrupt while the line is high" "$out" 'irq 2 timeout'

# I2C: each VM probes only its own address of the shared bus.
out=$(dev vm1-i2c i2c 'probe')
expect "vm1 probes only the EEPROM" "$out" 'found 0x50'
printf '%s\n' "$out" | grep -q 'found 0x48' && bad "vm1 sees vm2's sensor"
out=$(dev vm2-i2c i2c 'probe; wr 0x48 0 -- 2')
expect "vm2 probes only the sensor and reads -5.5 C" "$out" 'found 0x48' 'data fa 80'
printf '%s\n' "$out" | grep -q 'found 0x50' && bad "vm2 sees vm1's EEPROM"
out=$(dev vm1-i2c i2c 'write 0x50 16 1 2 3; wr 0x50 16 -- 3')
expect "vm1 writes and reads back the EEPROM" "$out" 'ok' 'data 01 02 03'
out=$(dev vm2-i2c i2c 'read 0x50 1')
case $out in *error*) pass "vm2 cannot read vm1's EEPROM" ;;
*) bad "vm2 read 0x50: $out" ;; esac

kill -0 "$vpid" 2>/dev/null && pass "vhostd still serving" || bad "vhostd died"
if grep -q 'forbids' "$dir/vhostd.log"; then
	bad "a worker made a forbidden system call"
	cat "$dir/vhostd.log"
fi
kill -TERM "$vpid"
wait "$vpid"
st=$?
vpid=
[ "$st" = 0 ] && pass "vhostd exits 0 on SIGTERM" || { bad "vhostd exit status $st"; cat "$dir/vhostd.log"; }
exit $fail
