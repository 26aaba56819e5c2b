#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# gpio-sim.sh: set up and drive simulated GPIO chips in an e2e guest with
# the gpio-sim module (built by tests/e2e/mkmodules.sh, loaded with
# mkguest.sh -m .../gpio-sim.ko; its dependency configfs comes along).
# Put in the initramfs as /e2e/bin/gpio-sim (busybox sh).
#
#   gpio-sim create NAME NUM_LINES [LINE_NAME...]
#       a device NAME with one bank of NUM_LINES lines, named in order
#       (LINE_NAME '-' leaves a line unnamed), label NAME; prints
#       "gpio-sim name=NAME dev=gpio-sim.N chip=gpiochipM lines=NUM_LINES"
#   gpio-sim chip NAME         the bank's chip (gpiochipM)
#   gpio-sim pull NAME LINE pull-up|pull-down|1|0
#       the simulated outside world drives the input LINE (edges on it
#       reach line requests with edge detection)
#   gpio-sim value NAME LINE   what the chip outputs on LINE: 0 or 1 (for
#       an input, the pull)
#   gpio-sim remove NAME
#
# configfs (/sys/kernel/config/gpio-sim/NAME/bank0/...) and the sysfs
# attributes (/sys/devices/platform/gpio-sim.N/gpiochipM/sim_gpioL/{pull,
# value}) are Documentation/admin-guide/gpio/gpio-sim.rst of Linux 6.1.
set -eu

cfs=/sys/kernel/config
die() { echo "gpio-sim: error: $*" >&2; exit 1; }

mount_configfs() {
	[ -d $cfs/gpio-sim ] && return 0
	grep -q " $cfs configfs" /proc/mounts ||
		mount -t configfs configfs $cfs || die "cannot mount configfs"
	[ -d $cfs/gpio-sim ] || die "no $cfs/gpio-sim (is gpio_sim loaded?)"
}

# the sim_gpioL directory of NAME's line L
line_dir() {
	d=$cfs/gpio-sim/$1
	[ -d "$d" ] || die "no gpio-sim device $1"
	echo "/sys/devices/platform/$(cat "$d/dev_name")/$(cat "$d/bank0/chip_name")/sim_gpio$2"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
create)
	[ $# -ge 2 ] || die "usage: gpio-sim create NAME NUM_LINES [LINE_NAME...]"
	name=$1 n=$2
	shift 2
	mount_configfs
	d=$cfs/gpio-sim/$name
	mkdir "$d" || die "cannot create $d"
	mkdir "$d/bank0"
	echo "$n" > "$d/bank0/num_lines"
	echo "$name" > "$d/bank0/label"
	i=0
	for ln in "$@"; do
		if [ "$ln" != - ]; then
			mkdir "$d/bank0/line$i"
			echo "$ln" > "$d/bank0/line$i/name"
		fi
		i=$((i + 1))
	done
	echo 1 > "$d/live" || die "cannot enable $name (dmesg has why)"
	echo "gpio-sim name=$name dev=$(cat "$d/dev_name") chip=$(cat "$d/bank0/chip_name") lines=$n"
	;;
chip)
	[ $# = 1 ] || die "usage: gpio-sim chip NAME"
	cat "$cfs/gpio-sim/$1/bank0/chip_name"
	;;
pull)
	[ $# = 3 ] || die "usage: gpio-sim pull NAME LINE pull-up|pull-down|1|0"
	case $3 in
	1|pull-up|up) p=pull-up ;;
	0|pull-down|down) p=pull-down ;;
	*) die "pull '$3' is not pull-up or pull-down" ;;
	esac
	echo "$p" > "$(line_dir "$1" "$2")/pull"
	;;
value)
	[ $# = 2 ] || die "usage: gpio-sim value NAME LINE"
	cat "$(line_dir "$1" "$2")/value"
	;;
remove)
	[ $# = 1 ] || die "usage: gpio-sim remove NAME"
	d=$cfs/gpio-sim/$1
	echo 0 > "$d/live"
	for l in "$d"/bank0/line*; do
		[ -d "$l" ] && rmdir "$l"
	done
	rmdir "$d/bank0" "$d"
	;;
*)
	die "usage: gpio-sim create|chip|pull|value|remove ..."
	;;
esac
