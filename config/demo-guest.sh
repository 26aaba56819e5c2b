# SPDX-License-Identifier: BSD-3-Clause
# Guest side of config/demo.sh, run by the demo guest's /init: shows which
# hwrng the kernel uses and reads entropy from it through vhostd.
echo "demo: hw_random uses: $(cat /sys/class/misc/hw_random/rng_current)"
for i in 1 2 3; do
	echo "demo: 16 bytes from /dev/hwrng: $(head -c 16 /dev/hwrng | hexdump -v -e '16/1 "%02x"')"
done
t0=$(cut -d' ' -f1 /proc/uptime)
dd if=/dev/hwrng of=/dev/null bs=1024 count=8 iflag=fullblock 2>/dev/null
t1=$(cut -d' ' -f1 /proc/uptime)
echo "demo: 8 KiB from /dev/hwrng took $(echo "$t0 $t1" | awk '{printf "%.1f", $2 - $1}') s"
