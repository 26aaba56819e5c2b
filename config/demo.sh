#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The demo, from a fresh Debian 12 machine, as root: installs what is
# missing, builds vhostd, starts it on config/demo.json (two rng devices,
# the second rate-limited to 4 KiB/s) and boots two small QEMU guests, one
# on each socket, whose kernels read entropy from it through their virtio
# drivers.  Shows vhostctl list and stats while they run, then what the
# guests saw and vhostd's log, and stops it.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
jobs=$(nproc 2>/dev/null || echo 2)

echo "== installing build dependencies (tests/deps.sh)"
sh tests/deps.sh >/dev/null
echo "== building vhostd in build-demo/"
[ -x configure ] || autoreconf -fi >/dev/null 2>&1
mkdir -p build-demo
cd build-demo
[ -f Makefile ] || ../configure -q
make -j"$jobs" >/dev/null

echo "== building a guest: Debian's kernel and a busybox initramfs"
sh "$top/tests/e2e/mkguest.sh" -o guest -m virtio_rng \
    -f "$top/config/demo-guest.sh:/e2e/tests/demo"

rt=/tmp/vhostd-demo
rm -rf "$rt"
echo "== starting: vhostd -f -v -c config/demo.json"
./src/vhostd -f -v -c "$top/config/demo.json" > vhostd.log 2>&1 &
vpid=$!
trap 'kill $vpid 2>/dev/null || true' EXIT
for s in "$rt/vm1-rng.sock" "$rt/vm2-rng.sock"; do
	i=0
	while [ ! -S "$s" ]; do
		i=$((i + 1))
		if [ $i -gt 100 ] || ! kill -0 $vpid 2>/dev/null; then
			cat vhostd.log
			echo "demo: vhostd did not start" >&2
			exit 1
		fi
		sleep 0.1
	done
done

echo "== booting two guests (QEMU, TCG), one per vhostd socket"
for vm in vm1 vm2; do
	timeout -k 5 90 qemu-system-x86_64 -nodefaults -display none \
	    -no-reboot -no-user-config -machine q35,accel=tcg -cpu max \
	    -m 256 -smp 1 \
	    -object memory-backend-memfd,id=mem,size=256M,share=on \
	    -numa node,memdev=mem \
	    -kernel guest/vmlinuz -initrd guest/initrd.img \
	    -append "console=ttyS0 panic=-1 loglevel=1 e2e_test=demo" \
	    -serial "file:$vm.console" -monitor none \
	    -chardev "socket,id=rng0,path=$rt/$vm-rng.sock" \
	    -device vhost-user-rng-pci,chardev=rng0 > "$vm.qemu.log" 2>&1 &
	eval "q_$vm=\$!"
done
# The administrator's view while the guests run: vhostctl over vhostd's
# control socket (runtime_dir/control.sock), once vm2's guest reads.
i=0
until ./src/vhostctl -s "$rt/control.sock" list 2>/dev/null |
    grep -q '^vm2-rng .* running '; do
	i=$((i + 1))
	[ $i -gt 600 ] && break
	sleep 0.1
done
echo "== vhostctl list, then vhostctl stats"
./src/vhostctl -s "$rt/control.sock" list | sed 's/^/   /' || true
sleep 1
./src/vhostctl -s "$rt/control.sock" stats | sed 's/^/   /' || true
rc=0
for vm in vm1 vm2; do
	eval "wait \$q_$vm" || { rc=1; echo "demo: $vm: QEMU failed"; cat "$vm.qemu.log"; }
	echo "-- $vm ($vm-rng.sock) saw:"
	grep '^demo:' "$vm.console" | sed 's/^demo: /   /' ||
	    { rc=1; echo "   nothing: see build-demo/$vm.console"; }
done

kill -TERM $vpid
wait $vpid || rc=1
trap - EXIT
echo "-- vhostd's log:"
sed 's/^/   /' vhostd.log
[ "$rc" = 0 ] && echo "== demo done: vhostd served both guests and exited cleanly"
exit $rc
