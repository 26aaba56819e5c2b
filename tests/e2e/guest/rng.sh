# SPDX-License-Identifier: BSD-3-Clause
# Guest side of tests/e2e/rng.sh, run by the guest's /init as
# /e2e/tests/rng. Argument: bytes per read (default 4096).
# Checks that the virtio-rng driver is the current hwrng and that two
# reads of /dev/hwrng return full, different buffers.
bytes=${1:-4096}
fail=0
check() { echo "E2E-CHECK $*"; }

hw=/sys/class/misc/hw_random
cur=
i=0
while [ $i -lt 50 ]; do           # the driver registers at insmod; be lenient
	cur=$(cat $hw/rng_current 2>/dev/null)
	case $cur in virtio_rng*) break ;; esac
	sleep 0.1
	i=$((i + 1))
done
echo "rng_available: $(cat $hw/rng_available 2>/dev/null)"
echo "rng_current: $cur"
case $cur in
virtio_rng*) check "PASS rng_current names virtio_rng ($cur)" ;;
*) check "FAIL rng_current is '$cur', not virtio_rng"; fail=1 ;;
esac

for n in 1 2; do
	if ! dd if=/dev/hwrng of=/tmp/read$n bs="$bytes" count=1 iflag=fullblock 2>/tmp/dd.err; then
		cat /tmp/dd.err
		check "FAIL dd read $n from /dev/hwrng failed"
		fail=1
		continue
	fi
	got=$(wc -c < /tmp/read$n)
	sum=$(sha256sum /tmp/read$n | cut -d' ' -f1)
	echo "E2E-DIGEST read$n bytes=$got sha256=$sum"
	if [ "$got" -ge "$bytes" ]; then
		check "PASS read $n: $got bytes from /dev/hwrng"
	else
		check "FAIL read $n: only $got of $bytes bytes from /dev/hwrng"
		fail=1
	fi
done
if [ -s /tmp/read1 ] && [ -s /tmp/read2 ]; then
	if cmp -s /tmp/read1 /tmp/read2; then
		check "FAIL the two reads are identical"
		fail=1
	else
		check "PASS the two reads differ"
	fi
fi
# An all-zero buffer would mean the device completed without writing.
# (Counted, not compared as a string: $(...) drops a newline byte, so a
# read whose first non-zero byte was 0x0a looked all zero, 1 run in 256.)
nonzero=$(tr -d '\000' < /tmp/read1 2>/dev/null | wc -c)
if [ -s /tmp/read1 ] && [ $nonzero -eq 0 ]; then
	check "FAIL read 1 is all zero bytes"
	fail=1
fi
echo "first bytes: $(head -c 16 /tmp/read1 2>/dev/null | hexdump -v -e '16/1 "%02x"')"
exit $fail
