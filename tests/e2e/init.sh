#!/bin/busybox sh
# SPDX-License-Identifier: BSD-3-Clause
#
# /init of the e2e guest (see mkguest.sh). Mounts the usual file systems,
# loads the modules listed in /etc/e2e-modules in order, runs the test
# /e2e/tests/$e2e_test, prints markers the host looks for on the serial
# console, and powers off.
#
# Kernel command line (read from /proc/cmdline, no spaces in values):
#   e2e_test=NAME      run /e2e/tests/NAME (sh script or program);
#                      e2e_test=shell gives an interactive shell instead
#   e2e_args=A,B,...   arguments for the test, comma separated
#   e2e_timeout=SEC    the guest-side limit for the test (default 60)
#
# Markers, each on a line of its own:
#   E2E-BOOTED kver=... / E2E-MODULE-FAILED name / E2E-MODULES-LOADED
#   E2E-TEST-START name / E2E-RESULT PASS name / E2E-RESULT FAIL name rc=N
#   E2E-POWEROFF

/bin/busybox mkdir -p /proc /sys /dev /tmp /run
/bin/busybox mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
/bin/busybox --install -s /bin
export PATH=/bin:/e2e/bin HOME=/ TERM=${TERM:-linux}
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
[ -d /sys/kernel/debug ] && mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null

e2e_test= e2e_args= e2e_timeout=60
for kv in $(cat /proc/cmdline); do
	case $kv in
	e2e_test=*) e2e_test=${kv#e2e_test=} ;;
	e2e_args=*) e2e_args=${kv#e2e_args=} ;;
	e2e_timeout=*) e2e_timeout=${kv#e2e_timeout=} ;;
	esac
done

echo "E2E-BOOTED kver=$(uname -r) uptime=$(cut -d' ' -f1 /proc/uptime)"

# One module per line, "name [parameters]" (mkguest.sh -m NAME:PARAMS).
while read -r m params; do
	[ -n "$m" ] || continue
	# shellcheck disable=SC2086 # the parameters are words for insmod
	if ! insmod "/lib/modules/$m.ko" $params; then
		echo "E2E-MODULE-FAILED $m"
	fi
done < /etc/e2e-modules
echo "E2E-MODULES-LOADED $(cut -d' ' -f1 /proc/modules | tr '\n' ' ')"

finish() {
	sync
	echo "E2E-POWEROFF"
	poweroff -f
	sleep 10
}

if [ "$e2e_test" = shell ] || [ -z "$e2e_test" ]; then
	echo "E2E: no e2e_test= given; interactive shell (exit to power off)"
	setsid cttyhack sh -l
	finish
fi

t=/e2e/tests/$e2e_test
echo "E2E-TEST-START $e2e_test"
if [ ! -e "$t" ]; then
	echo "E2E: no test $t in the initramfs"
	rc=127
else
	IFS=,
	set -- $e2e_args
	unset IFS
	cd /tmp
	if [ -x "$t" ]; then
		timeout "$e2e_timeout" "$t" "$@"
	else
		timeout "$e2e_timeout" sh "$t" "$@"
	fi
	rc=$?
	cd /
	[ $rc = 143 ] && echo "E2E: test $e2e_test timed out after ${e2e_timeout}s"
fi
if [ $rc = 0 ]; then
	echo "E2E-RESULT PASS $e2e_test"
else
	echo "E2E: kernel log (tail):"
	dmesg | tail -n 40
	echo "E2E-RESULT FAIL $e2e_test rc=$rc"
fi
finish
