# SPDX-License-Identifier: BSD-3-Clause
# Device types: one file each, listed in devices/registry.c.
src_libvhostd_a_SOURCES += \
	devices/registry.c \
	devices/rng.c \
	devices/gpio.c \
	devices/i2c.c \
	devices/vsock.c \
	devices/vsock.h
