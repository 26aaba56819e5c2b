#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# End to end: QEMU guests with vhost-user-vsock-pci devices served by
# vhostd's vsock device, driven by the guest kernel's virtio-vsock
# transport and vsocktest (AF_VSOCK) in the guests, and by vsockhost
# (tests/vsockhost.c) on the device's host UNIX sockets. One vhostd, three
# devices: vm1 (CID 3) and vm2 (CID 4) in group "a", vm3 (CID 5) in group
# "b". vm1, vm2 and vm3 boot at once, once each; everything is checked in
# that one boot:
#   1. config: each guest reads its CID from the device; vhostd -n refuses
#      a CID twice in a group and allows it in another group;
#   2. guest to host, stream: vm1 sends 1 MiB to <uds_path>_5001 while the
#      host sends 64 KiB back; both sides check every byte and each other's
#      count and FNV-1a hash (vm1's printed hash is compared with the
#      host's too); vm2 does the same through its own device;
#   3. guest to host, no listener on <uds_path>_5009: the connect fails
#      (ECONNRESET or ECONNREFUSED), stream and seqpacket;
#   4. slow host reader: the host reads nothing for 3 s while vm1 sends
#      2 MiB; vm1's writes must wait (flow control) and all of it arrives;
#   5. seqpacket, guest to host (<uds_path>_5003) and host to guest
#      (<uds_path>.seqpacket, CONNECT 6002): messages of 1, 100, 4000 and
#      60000 bytes, all sent before the first is read, echoed back whole;
#   6. host to guest, stream: CONNECT 6001 on uds_path gets "OK <port>"
#      (the port vm1 sees the connection come from, CID 2); 1 MiB to a
#      guest that does not read for 2 s, 256 KiB back; CONNECT to a port
#      the guest does not listen on (stream and seqpacket): closed, no OK;
#   7. siblings: vm1 and vm2 exchange 256 KiB each way (stream) and
#      seqpacket messages, vm2 sees vm1's CID; a port vm2 does not listen
#      on fails; vm1's connect to CID 5 (vm3, group "b") fails although
#      vm3 listens there (vm3 then gets the host's connection, not vm1's);
#   8. vhostd outlives the guests, no seccomp violation or sanitizer
#      report, exits 0 on SIGTERM, leaves no worker, removes its device
#      sockets and the host sockets (uds_path and uds_path.seqpacket).
# E2E_VSOCK_VM3=0 boots only vm1 and vm2 (faster; CID 5 is then only a
# device with no guest). Skips (77) when QEMU's device or the kernel is
# missing. VSOCKHOST is the host helper (make check builds it; built here
# from the source if it is not there).

: "${E2E_GUEST_TIMEOUT:=100}" "${E2E_QEMU_TIMEOUT:=130}" # three TCG guests
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

e2e_setup
e2e_require_qemu vhost-user-vsock-pci
e2e_require_vhostd

e2e_vsockhost

e2e_static_cc "$e2e_work/vsocktest" "$E2E_SRCDIR/guest/vsocktest.c"
guest=$e2e_work/guest
e2e_build_guest "$guest" -m vsock -m vmw_vsock_virtio_transport_common \
    -m vmw_vsock_virtio_transport \
    -f "$e2e_work/vsocktest:/e2e/bin/vsocktest" \
    -f "$E2E_SRCDIR/guest/vsock.sh:/e2e/tests/vsock"

rt=$e2e_rt
# vsock_config FILE CID2 GROUP3 CID3: vm1 is always CID 3 in group a.
vsock_config() {
	cat > "$1" <<JSON
{
  "runtime_dir": "$rt",
  "devices": [
    { "id": "vm1-vsock", "type": "vsock", "socket": "vm1-vsock.sock",
      "guest_cid": 3, "uds_path": "$rt/vm1.vsock", "group": "a" },
    { "id": "vm2-vsock", "type": "vsock", "socket": "vm2-vsock.sock",
      "guest_cid": $2, "uds_path": "$rt/vm2.vsock", "group": "a",
      "buffer_size": 262144, "max_connections": 16 },
    { "id": "vm3-vsock", "type": "vsock", "socket": "vm3-vsock.sock",
      "guest_cid": $4, "uds_path": "$rt/vm3.vsock", "group": "$3" }
  ]
}
JSON
}
cfg=$e2e_work/vhostd.json
vsock_config "$cfg" 4 b 5
if ! "$VHOSTD" -n -c "$cfg" > "$e2e_work/check-config.log" 2>&1; then
	e2e_fail "vhostd -n rejects the config:"
	sed 's/^/  /' "$e2e_work/check-config.log"
	e2e_finish
fi
vsock_config "$e2e_work/dup.json" 3 b 5
if "$VHOSTD" -n -c "$e2e_work/dup.json" > "$e2e_work/dup.log" 2>&1; then
	e2e_fail "vhostd -n accepts CID 3 twice in group a"
elif grep -q guest_cid "$e2e_work/dup.log"; then
	e2e_pass "vhostd -n refuses CID 3 twice in a group: $(head -n 1 "$e2e_work/dup.log")"
else
	e2e_fail "vhostd -n refuses CID 3 twice in a group, but does not name guest_cid:"
	sed 's/^/  /' "$e2e_work/dup.log"
fi
vsock_config "$e2e_work/other.json" 4 b 3
if "$VHOSTD" -n -c "$e2e_work/other.json" > "$e2e_work/other.log" 2>&1; then
	e2e_pass "vhostd -n allows CID 3 in group a and in group b"
else
	e2e_fail "vhostd -n refuses CID 3 in two different groups:"
	sed 's/^/  /' "$e2e_work/other.log"
fi

vhostd_start "$cfg" "$rt/vm1-vsock.sock" "$rt/vm2-vsock.sock" \
    "$rt/vm3-vsock.sock" || e2e_finish
for s in vm1.vsock vm1.vsock.seqpacket vm2.vsock vm3.vsock; do
	[ -S "$rt/$s" ] || e2e_fail "vhostd did not create the host socket $rt/$s"
done

# host_bg NAME VSOCKHOST-ARGS...: a host helper in the background, its
# output in $e2e_work/NAME.out, its pid in pid_NAME.
host_bg() {
	n=$1
	shift
	"$VSOCKHOST" "$@" > "$e2e_work/$n.out" 2>&1 &
	eval "pid_$n=\$!"
	e2e_bg_pids="$e2e_bg_pids $!"
}
# host_run NAME RC VSOCKHOST-ARGS...: a host helper in the foreground,
# output in $got and $e2e_work/NAME.out; 0 if it exited RC.
host_run() {
	n=$1 want=$2
	shift 2
	"$VSOCKHOST" "$@" > "$e2e_work/$n.out" 2>&1
	rc=$?
	got=$(cat "$e2e_work/$n.out")
	echo "$got" | sed "s/^/  host $n: /"
	[ "$rc" = "$want" ] && return 0
	e2e_fail "host $n: vsockhost $* exited $rc, not $want"
	return 1
}
# host_collect NAME RC: wait for a background helper, output in $got.
host_collect() {
	eval "p=\$pid_$1"
	wait "$p"
	rc=$?
	got=$(cat "$e2e_work/$1.out")
	echo "$got" | sed "s/^/  host $1: /"
	[ "$rc" = "$2" ] && return 0
	e2e_fail "host $1: vsockhost exited $rc, not $2"
	return 1
}
has() { # DESCRIPTION PATTERN: a check on $got
	if echo "$got" | grep -Eq "$2"; then
		e2e_pass "$1"
	else
		e2e_fail "$1: no line matching '$2'"
	fi
}
# guest_out VM TAG: what the guest printed of its command TAG
guest_out() {
	tr -d '\r' < "$e2e_work/$1.console" | sed -n "s/^  $2: //p"
}

# The host's listeners for the guests' connects: <uds_path>_<port>.
host_bg l_g2h -t 90000 -s 101 listen "$rt/vm1.vsock_5001" stream xfer 65536
host_bg l_slow -t 90000 -p 3000 listen "$rt/vm1.vsock_5002" stream xfer 0
host_bg l_seq -t 90000 listen "$rt/vm1.vsock_5003" seqpacket echo
host_bg l_vm2 -t 90000 -s 102 listen "$rt/vm2.vsock_5001" stream xfer 4096
for n in l_g2h l_slow l_seq l_vm2; do
	i=0
	while [ $i -lt 50 ] && ! grep -q '^listening' "$e2e_work/$n.out"; do
		sleep 0.1
		i=$((i + 1))
	done
	grep -q '^listening' "$e2e_work/$n.out" ||
		e2e_error "host listener $n did not start: $(cat "$e2e_work/$n.out")"
done

vm3=${E2E_VSOCK_VM3:-1}
[ "$vm3" = 1 ] || vm3=0
t=$(e2e_now)
vsock_qemu() { # VM ARGS
	qemu_start "$1" "$guest" vsock "$2" -- \
	    -chardev "socket,id=v,path=$rt/$1-vsock.sock" \
	    -device vhost-user-vsock-pci,chardev=v
}
vsock_qemu vm1 "vm1,3,$vm3"
vsock_qemu vm2 vm2,4
[ "$vm3" = 1 ] && vsock_qemu vm3 vm3,5

# Host to guest, stream: CONNECT 6001 once vm1 listens.
hport=
if qemu_wait_marker vm1 '^E2E-STEP listening 6001' 100; then
	if host_run c-h2g 0 -t 60000 -s 106 connect "$rt/vm1.vsock" 6001 stream xfer 1048576; then
		has "CONNECT 6001 on uds_path: OK with the host-side port" '^ok hostport=[0-9]+$'
		has "1 MiB to vm1 (a slow reader) and 256 KiB back, both intact" \
		    '^xfer ok sent=1048576 received=262144 '
		has "vm1's bytes carry its seed, none bad" '^received bytes=262144 seed=16 .* bad=0$'
	fi
	hport=$(echo "$got" | sed -n 's/^ok hostport=//p')
else
	e2e_fail "vm1 never listened on port 6001"
fi

# Host to guest, seqpacket: CONNECT 6002 on <uds_path>.seqpacket.
sport=
if qemu_wait_marker vm1 '^E2E-STEP listening 6002' 60; then
	if host_run c-h2g-seq 0 -t 30000 -s 107 connect "$rt/vm1.vsock" 6002 seqpacket msgs 1,100,4000,60000; then
		has "CONNECT 6002 on uds_path.seqpacket: OK" '^ok hostport=[0-9]+$'
		n=$(echo "$got" | grep -cE '^msg i=[0-3] len=(1|100|4000|60000) echo-len=(1|100|4000|60000) ok$')
		[ "$n" = 4 ] && echo "$got" | grep -q '^msgs ok n=4 ' &&
			e2e_pass "4 seqpacket messages to vm1 echoed whole, boundaries kept" ||
			e2e_fail "seqpacket messages to vm1 and back: $n of 4 whole"
	fi
	sport=$(echo "$got" | sed -n 's/^ok hostport=//p')

	# A port vm1 does not listen on: closed without OK.
	host_run c-refused 3 -t 20000 connect "$rt/vm1.vsock" 6003 stream xfer 0 &&
		has "CONNECT 6003 (vm1 does not listen): closed, no OK" '^refused port=6003$'
	host_run c-refused-seq 3 -t 20000 connect "$rt/vm1.vsock" 6003 seqpacket msgs 1 &&
		has "seqpacket CONNECT 6003 (vm1 does not listen): closed, no OK" '^refused port=6003$'
else
	e2e_fail "vm1 never listened on port 6002"
fi

# Another group: vm1 tries CID 5 once vm3 listens on the port it tries;
# then the host connects there, and vm3 must see the host, not vm1.
if [ "$vm3" = 1 ]; then
	if qemu_wait_marker vm3 '^E2E-STEP listening 7001' 60 &&
	    qemu_wait_marker vm1 '^E2E-STEP listening 6009' 80; then
		host_run c-go 0 -t 20000 connect "$rt/vm1.vsock" 6009 stream xfer 0
		if qemu_wait_marker vm1 '^E2E-STEP other-group done' 30; then
			host_run c-vm3 0 -t 30000 -s 105 connect "$rt/vm3.vsock" 7001 stream xfer 4096 &&
				has "vm3 still listened on 7001 after vm1's try: the host gets through" \
				    '^xfer ok sent=4096 received=4096 '
		else
			e2e_fail "vm1 never tried CID 5"
		fi
	else
		e2e_fail "vm3 never listened on 7001, or vm1 never got to CID 5"
	fi
fi

qemu_wait vm1
qemu_wait vm2
[ "$vm3" = 1 ] && qemu_wait vm3
e2e_log "guests done in $(( $(e2e_now) - t ))s"
ok=1
guest_check vm1 vsock || ok=
guest_check vm2 vsock || ok=
if [ "$vm3" = 1 ]; then
	guest_check vm3 vsock || ok=
fi
[ -n "$ok" ] || e2e_dump_vhostd

# What the host's listeners saw.
if host_collect l_g2h 0; then
	has "vm1's 1 MiB reached <uds_path>_5001 intact, 64 KiB went back" \
	    '^xfer ok sent=65536 received=1048576 '
	has "the host's close wait: vm1's close arrives" '^eof '
	mine=$(echo "$got" | sed -n 's/^received \(bytes=1048576 seed=11 hash=[0-9a-f]*\) bad=0$/\1/p')
	theirs=$(guest_out vm1 g2h-stream | sed -n 's/^sent //p')
	[ -n "$mine" ] && [ "$mine" = "$theirs" ] &&
		e2e_pass "the host received what vm1 sent: $mine" ||
		e2e_fail "the host received '$mine', vm1 sent '$theirs'"
fi
if host_collect l_slow 0; then
	has "2 MiB reached the slow host reader (3 s pause) intact" \
	    '^received bytes=2097152 seed=12 .* bad=0$'
fi
if host_collect l_seq 0; then
	has "vm1's seqpacket messages reached <uds_path>_5003 one by one, boundaries kept" \
	    '^echo done msgs=4 sizes=1,100,4000,60000$'
fi
if host_collect l_vm2 0; then
	has "vm2's 64 KiB reached its own <uds_path>_5001 intact" \
	    '^xfer ok sent=4096 received=65536 '
fi
# The OK lines name the port the guest saw the connection come from.
acc=$(guest_out vm1 h2g_stream | sed -n 's/^accepted cid=2 port=//p')
[ -n "$hport" ] && [ "$hport" = "$acc" ] &&
	e2e_pass "OK $hport is the port vm1 saw the host connect from" ||
	e2e_fail "OK '$hport' on uds_path, but vm1 saw the host's port '$acc'"
acc=$(guest_out vm1 h2g_seqpacket | sed -n 's/^accepted cid=2 port=//p')
[ -n "$sport" ] && [ "$sport" = "$acc" ] &&
	e2e_pass "seqpacket: OK $sport is the port vm1 saw" ||
	e2e_fail "seqpacket: OK '$sport', but vm1 saw the host's port '$acc'"

if vhostd_alive; then
	if grep -q forbids "$vhostd_log"; then
		e2e_fail "a worker made a forbidden system call"
		grep forbids "$vhostd_log" | head -n 5 | sed 's/^/  /'
	fi
	workers=$(vhostd_children)
	if vhostd_stop TERM 10; then
		e2e_pass "vhostd exited with status 0 on SIGTERM"
	else
		e2e_fail "vhostd on SIGTERM: exit status $vhostd_status (-1: still running after 10 s, killed)"
		e2e_dump_vhostd
	fi
	for w in $workers; do
		pid_running "$w" && e2e_fail "worker $w is still running after vhostd exited"
	done
	# The device sockets and the host sockets (vhostd.json(5): removed
	# at exit).
	left=
	for s in vm1-vsock.sock vm2-vsock.sock vm3-vsock.sock vm1.vsock \
	    vm1.vsock.seqpacket vm2.vsock vm2.vsock.seqpacket vm3.vsock \
	    vm3.vsock.seqpacket; do
		[ -e "$rt/$s" ] && left="$left $s"
	done
	[ -z "$left" ] && e2e_pass "vhostd removed its device and host sockets" ||
		e2e_fail "sockets left behind in $rt:$left"
else
	e2e_fail "vhostd is not running after the guests powered off"
	e2e_dump_vhostd
fi
if grep -Eq 'AddressSanitizer|UndefinedBehaviorSanitizer|runtime error:' "$vhostd_log"; then
	e2e_fail "sanitizer report in the vhostd log"
	e2e_dump_vhostd
fi

e2e_finish
