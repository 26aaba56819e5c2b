#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# End to end: QEMU guests with vhost-user-rng-pci devices served by one
# vhostd. The guests run Debian's kernel and its virtio_rng driver.
#   1. one guest on one socket: rng_current is virtio_rng, two reads of
#      4096 bytes from /dev/hwrng are full and differ;
#   2. two guests at the same time, one per socket (the first socket now
#      serves its second front-end), both pass the same checks;
#   3. vhostd survives its front-ends leaving, then exits with status 0
#      on SIGTERM and removes its sockets.
# Skips (77) when QEMU or the Debian kernel package cannot be had.

. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

e2e_setup
e2e_require_qemu vhost-user-rng-pci
e2e_require_vhostd

guest=$e2e_work/guest
e2e_build_guest "$guest" -m virtio_rng \
    -f "$E2E_SRCDIR/guest/rng.sh:/e2e/tests/rng"

rt=$e2e_rt
cfg=$e2e_work/vhostd.json
cat > "$cfg" <<EOF
{
  "runtime_dir": "$rt",
  "devices": [
    { "id": "vm1-rng", "type": "rng", "socket": "vm1-rng.sock" },
    { "id": "vm2-rng", "type": "rng", "socket": "vm2-rng.sock" }
  ]
}
EOF
sock1=$rt/vm1-rng.sock
sock2=$rt/vm2-rng.sock

if ! "$VHOSTD" -n -c "$cfg" > "$e2e_work/check-config.log" 2>&1; then
	e2e_fail "vhostd -n rejects the config:"
	sed 's/^/  /' "$e2e_work/check-config.log"
	cat "$cfg"
	e2e_finish
fi

vhostd_start "$cfg" "$sock1" "$sock2" || e2e_finish

rng_dev() { # ID SOCKET: the QEMU arguments for one vhost-user-rng-pci
	echo "-chardev socket,id=$1,path=$2 -device vhost-user-rng-pci,chardev=$1"
}

# 1. One guest, one device.
t=$(e2e_now)
# shellcheck disable=SC2046 # word splitting of rng_dev is intended
qemu_start vm1 "$guest" rng 4096 -- $(rng_dev rng0 "$sock1")
qemu_wait vm1
if guest_check vm1 rng; then
	e2e_pass "one guest read /dev/hwrng through vhostd ($(( $(e2e_now) - t ))s)"
else
	e2e_dump_vhostd
fi
vhostd_alive || e2e_fail "vhostd died while serving one guest"

# 2. Two guests at once, one per socket. Not worth another round of
# timeouts when the first guest's QEMU had to be killed (vhost-user calls
# are synchronous: a back-end that does not answer hangs QEMU itself).
if [ "${e2e_qemu_status_vm1:-}" = 124 ] || [ "${e2e_qemu_status_vm1:-}" = 137 ]; then
	e2e_fail "two guests at once: not tried, the first guest's QEMU hung"
elif vhostd_alive; then
	t=$(e2e_now)
	# shellcheck disable=SC2046
	qemu_start vm2 "$guest" rng 4096 -- $(rng_dev rng0 "$sock1")
	# shellcheck disable=SC2046
	qemu_start vm3 "$guest" rng 4096 -- $(rng_dev rng0 "$sock2")
	qemu_wait vm2
	qemu_wait vm3
	ok=0
	guest_check vm2 rng || ok=1
	guest_check vm3 rng || ok=1
	if [ $ok = 0 ]; then
		e2e_pass "two guests at once on two sockets ($(( $(e2e_now) - t ))s)"
	else
		e2e_dump_vhostd
	fi
fi

# 3. vhostd outlives its guests and stops cleanly.
if vhostd_alive; then
	e2e_pass "vhostd still running after the guests powered off"
	kids=$(vhostd_children)
	e2e_log "vhostd children before SIGTERM: ${kids:-none}"
	if vhostd_stop TERM 10; then
		e2e_pass "vhostd exited with status 0 on SIGTERM"
	else
		e2e_fail "vhostd on SIGTERM: exit status $vhostd_status (-1: still running after 10 s, killed)"
		e2e_dump_vhostd
	fi
	left=
	for s in "$sock1" "$sock2"; do
		[ -e "$s" ] && left="$left $s"
	done
	if [ -z "$left" ]; then
		e2e_pass "vhostd removed its sockets"
	else
		e2e_fail "sockets left behind:$left"
	fi
	left=
	for p in $kids; do
		pid_running "$p" && left="$left $p"
	done
	if [ -z "$left" ]; then
		e2e_pass "no vhostd worker outlived vhostd"
	else
		e2e_fail "vhostd children still running after it exited:$left"
		ps -o pid,ppid,stat,args -p "$(echo $left | tr ' ' ,)"
		kill -KILL $left 2>/dev/null
	fi
else
	e2e_fail "vhostd is not running after the guests powered off"
	[ -n "$vhostd_pid" ] && wait "$vhostd_pid"
	e2e_log "vhostd exit status $?"
	vhostd_pid=
	e2e_dump_vhostd
fi

if grep -Eq 'AddressSanitizer|UndefinedBehaviorSanitizer|runtime error:' "$e2e_work/vhostd.log"; then
	e2e_fail "sanitizer report in the vhostd log"
	e2e_dump_vhostd
fi

e2e_finish
