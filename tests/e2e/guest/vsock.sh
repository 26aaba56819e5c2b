# SPDX-License-Identifier: BSD-3-Clause
# Guest side of tests/e2e/vsock.sh, run by the guest's /init as
# /e2e/tests/vsock in each of the test's guests, with vsocktest (AF_VSOCK)
# against a vhost-user-vsock-pci device served by vhostd. Arguments (comma
# separated on the command line): this guest's role and CID, vm1,3 or
# vm2,4 or vm3,5; for vm1 a third one, 1 when vm3 runs (other group).
#   vm1: the host's ports through its device (stream, seqpacket, refused),
#        a slow host reader, host-initiated connections it accepts (with
#        a slow guest reader), its sibling vm2 (CID 4, same group), and
#        CID 5 (vm3, another group), which must not answer
#   vm2: listens for vm1, and talks to the host through its own device
#   vm3: listens on the port vm1 tries, for the host only
# The host answers the "E2E-STEP listening PORT" lines by connecting.
set -f
role=$1 mycid=$2 vm3=${3:-0}
fail=0
pass() { echo "E2E-CHECK PASS $*"; }
flunk() { echo "E2E-CHECK FAIL $*"; fail=1; }
# expect TAG RC CMD...: run CMD, its output in $got (echoed, tagged for
# the host); 0 if it exited RC
expect() {
	tag=$1 want=$2
	shift 2
	got=$("$@" 2>&1)
	rc=$?
	echo "$got" | sed "s/^/  $tag: /"
	[ "$rc" = "$want" ] && return 0
	flunk "$tag: '$*' exited $rc, not $want"
	return 1
}
has() { # DESCRIPTION PATTERN
	if echo "$got" | grep -Eq "$2"; then
		pass "$1"
	else
		flunk "$1: no line matching '$2'"
	fi
}
# A listener in the background: started, announced once it listens
# (E2E-STEP listening PORT, for the host), then collected by collect.
bg_listen() { # NAME PORT VSOCKTEST-ARGS...
	name=$1 port=$2
	shift 2
	vsocktest "$@" > "/tmp/$name.out" 2>&1 &
	eval "pid_$name=\$!"
	i=0
	while [ $i -lt 100 ] && ! grep -q '^listening ' "/tmp/$name.out"; do
		sleep 0.1
		i=$((i + 1))
	done
	grep -q '^listening ' "/tmp/$name.out" ||
		flunk "$name: vsocktest did not listen on port $port: $(cat "/tmp/$name.out")"
	echo "E2E-STEP listening $port"
}
collect() { # NAME RC: wait for the listener, its output in $got
	eval "wait \$pid_$1"
	rc=$?
	got=$(cat "/tmp/$1.out")
	echo "$got" | sed "s/^/  $1: /"
	[ "$rc" = "$2" ] && return 0
	flunk "$1: the listener exited $rc, not $2"
	return 1
}
refused='^connect-failed .* errno=(104|111) '
msgs='^msg i=0 len=1 echo-len=1 ok
^msg i=1 len=100 echo-len=100 ok
^msg i=2 len=4000 echo-len=4000 ok
^msg i=3 len=60000 echo-len=60000 ok
^msgs ok n=4 '
has_msgs() { # DESCRIPTION: the 4 echoed messages of the msgs action
	n=$(echo "$msgs" | while read -r re; do echo "$got" | grep -E "$re"; done | wc -l)
	[ "$n" = 5 ] && pass "$1" || flunk "$1: not the 4 messages whole (1, 100, 4000, 60000 bytes)"
}

# /dev/vsock exists once vsock.ko is in; the CID is the device's config.
i=0
while [ $i -lt 30 ] && [ ! -e /dev/vsock ]; do
	sleep 0.1
	i=$((i + 1))
done
expect cid 0 vsocktest cid &&
	has "the guest's CID is $mycid (guest_cid from the device's config space)" "^cid=$mycid\$"

case $role in
vm1)
	# 1. Guest to host, stream: 1 MiB out, 64 KiB back (the host's
	# listener on <uds_path>_5001 sends them with seed 101).
	expect g2h-stream 0 vsocktest -t 30000 -s 11 connect 2 5001 stream xfer 1048576 &&
		has "1 MiB to the host's port 5001 and 64 KiB back, both intact" \
		    '^xfer ok sent=1048576 received=65536 '
	has "the host's bytes carry its seed, none bad" '^received bytes=65536 seed=101 .* bad=0$'
	echo "E2E-DIGEST g2h-stream $(echo "$got" | grep '^sent ')"

	# 2. Nobody listens on <uds_path>_5009: the connect fails.
	expect g2h-refused 3 vsocktest -t 10000 connect 2 5009 stream xfer 0 &&
		has "a stream connect to host port 5009 (no listener) fails" "$refused"
	expect g2h-refused-seq 3 vsocktest -t 10000 connect 2 5009 seqpacket msgs 1 &&
		has "a seqpacket connect to host port 5009 (no listener) fails" "$refused"

	# 3. Slow host reader: it reads nothing for 3 s; 2 MiB (more than
	# vhostd's 256 KiB buffer and the sockets' buffers together) must
	# wait for it (flow control) and arrive whole.
	expect g2h-slow 0 vsocktest -t 40000 -s 12 connect 2 5002 stream xfer 2097152 &&
		has "2 MiB to a host reader that pauses 3 s, all of it intact" \
		    '^xfer ok sent=2097152 received=0 '
	ms=$(echo "$got" | sed -n 's/^xfer ok .* ms=\([0-9]*\)$/\1/p')
	[ -n "$ms" ] && [ "$ms" -ge 2000 ] &&
		pass "the sender was held back while the host did not read (${ms} ms)" ||
		flunk "2 MiB went in '${ms:-?}' ms although the host did not read for 3 s: no back-pressure"

	# 4. Guest to host, seqpacket: 4 messages, all sent before the
	# first echo is read; each comes back whole.
	expect g2h-seqpacket 0 vsocktest -t 30000 -s 13 connect 2 5003 seqpacket msgs 1,100,4000,60000 &&
		has_msgs "seqpacket to host port 5003: 4 messages echoed whole, boundaries kept"

	# 5. Host to guest, stream: the host connects through uds_path with
	# CONNECT 6001, sends 1 MiB while this side does not read for 2 s
	# (vhostd must respect the guest's credit), and takes 256 KiB.
	bg_listen h2g_stream 6001 -t 60000 -p 2000 -s 16 listen 6001 stream xfer 262144
	if collect h2g_stream 0; then
		has "the host's connection comes from CID 2" '^accepted cid=2 port=[0-9]+$'
		has "1 MiB from the host to a slow guest reader and 256 KiB back, both intact" \
		    '^xfer ok sent=262144 received=1048576 '
		has "the host's bytes carry its seed, none bad" '^received bytes=1048576 seed=106 .* bad=0$'
		has "the host's close arrives" '^eof '
	fi

	# 6. Host to guest, seqpacket: CONNECT 6002 on <uds_path>.seqpacket.
	bg_listen h2g_seqpacket 6002 -t 60000 listen 6002 seqpacket echo
	if collect h2g_seqpacket 0; then
		has "the host's seqpacket connection comes from CID 2" '^accepted cid=2 port=[0-9]+$'
		has "the host's 4 messages arrive whole, boundaries kept" \
		    '^echo done msgs=4 sizes=1,100,4000,60000$'
	fi

	# 7. The sibling vm2 (CID 4, same group): a stream both ways at once,
	# seqpacket messages, and a port it does not listen on.
	expect sib-stream 0 vsocktest -t 60000 -r 40000 -s 17 connect 4 7001 stream xfer 262144 &&
		has "256 KiB each way with the sibling vm2 (CID 4)" \
		    '^xfer ok sent=262144 received=262144 '
	has "vm2's bytes carry its seed, none bad" '^received bytes=262144 seed=27 .* bad=0$'
	expect sib-seqpacket 0 vsocktest -t 30000 -r 20000 -s 18 connect 4 7003 seqpacket msgs 1,100,4000,60000 &&
		has_msgs "seqpacket with the sibling vm2: 4 messages echoed whole"
	expect sib-refused 3 vsocktest -t 10000 connect 4 7002 stream xfer 0 &&
		has "a connect to vm2's port 7002 (no listener) fails" "$refused"
	# vm2 waits for this one before it powers off: it was up for 7002.
	expect sib-bye 0 vsocktest -t 20000 -r 10000 connect 4 7009 stream xfer 0 &&
		pass "vm2 still listens on 7009 after that"

	# 8. CID 5 is in another group: unreachable, although (when vm3
	# runs) it listens on 7001. The host says when vm3 listens.
	if [ "$vm3" = 1 ]; then
		bg_listen go 6009 -t 60000 listen 6009 stream xfer 0
		collect go 0
	fi
	expect other-group 3 vsocktest -t 10000 connect 5 7001 stream xfer 0 &&
		has "a connect to CID 5 (another group) fails" "$refused"
	echo "E2E-STEP other-group done"
	;;
vm2)
	# vm1 connects to 7001 (stream), 7003 (seqpacket) and last 7009
	# when it gets there; meanwhile this guest talks to the host through its own
	# device (<its uds_path>_5001).
	vsocktest -t 80000 -s 27 listen 7001 stream xfer 262144 > /tmp/sib.out 2>&1 &
	pid_sib=$!
	vsocktest -t 80000 listen 7003 seqpacket echo > /tmp/sibseq.out 2>&1 &
	pid_sibseq=$!
	vsocktest -t 80000 listen 7009 stream xfer 0 > /tmp/bye.out 2>&1 &
	pid_bye=$!
	expect g2h-stream 0 vsocktest -t 30000 -s 21 connect 2 5001 stream xfer 65536 &&
		has "64 KiB to the host through vm2's own device and 4 KiB back" \
		    '^xfer ok sent=65536 received=4096 '
	has "the host's bytes carry its seed, none bad" '^received bytes=4096 seed=102 .* bad=0$'
	if collect sib 0; then
		has "the connection comes from vm1 (CID 3)" '^accepted cid=3 port=[0-9]+$'
		has "256 KiB each way with vm1, both intact" '^xfer ok sent=262144 received=262144 '
		has "vm1's bytes carry its seed, none bad" '^received bytes=262144 seed=17 .* bad=0$'
		has "vm1's close arrives" '^eof '
	fi
	if collect sibseq 0; then
		has "vm1's seqpacket connection comes from CID 3" '^accepted cid=3 port=[0-9]+$'
		has "vm1's 4 messages arrive whole" '^echo done msgs=4 sizes=1,100,4000,60000$'
	fi
	# vm1 says goodbye after its try of port 7002, which must find this
	# guest up (its kernel refuses, not vhostd for a guest gone).
	collect bye 0 && has "vm1's last connection (port 7009)" '^accepted cid=3 '
	;;
vm3)
	# Only the host may reach this guest; vm1 (another group) tries
	# first and must not get here.
	bg_listen other 7001 -t 80000 -s 35 listen 7001 stream xfer 4096
	if collect other 0; then
		has "the one connection to port 7001 is the host's (CID 2), not vm1's" \
		    '^accepted cid=2 port=[0-9]+$'
		has "4 KiB each way with the host" '^xfer ok sent=4096 received=4096 '
	fi
	;;
*)
	flunk "unknown role '$role'"
	;;
esac
exit $fail
