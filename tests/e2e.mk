# SPDX-License-Identifier: BSD-3-Clause
# End-to-end tests: QEMU guests running Debian's kernel and their real
# virtio drivers against vhostd (see tests/e2e/README). The guest is built
# by tests/e2e/mkguest.sh from Debian packages at test time, never kept in
# the tree; the tests skip (77) where QEMU or the kernel package is missing.
dist_check_SCRIPTS += tests/e2e/rng.sh tests/e2e/drivers.sh tests/e2e/gpio.sh \
	tests/e2e/i2c.sh tests/e2e/shared.sh tests/e2e/hw-real.sh \
	tests/e2e/vsock.sh tests/e2e/reconnect-check.sh tests/e2e/restart.sh \
	tests/e2e/reload.sh
TESTS += tests/e2e/rng.sh tests/e2e/drivers.sh tests/e2e/gpio.sh \
	tests/e2e/i2c.sh tests/e2e/shared.sh tests/e2e/hw-real.sh \
	tests/e2e/vsock.sh tests/e2e/reconnect-check.sh tests/e2e/restart.sh \
	tests/e2e/reload.sh
EXTRA_DIST += tests/e2e/README tests/e2e/lib.sh tests/e2e/mkguest.sh \
	tests/e2e/mkmodules.sh tests/e2e/init.sh tests/e2e/guest/rng.sh \
	tests/e2e/guest/drivers.sh tests/e2e/guest/gpio-sim.sh \
	tests/e2e/guest/shared.sh \
	tests/e2e/guest/gpiotest.c tests/e2e/guest/i2ctest.c \
	tests/e2e/guest/gpio.sh tests/e2e/guest/i2c.sh \
	tests/e2e/guest/hw-real.sh \
	tests/e2e/guest/vsock.sh tests/e2e/guest/vsocktest.c \
	tests/e2e/reconnect.sh tests/e2e/guest/reconnect.sh \
	tests/e2e/guest/restart.sh tests/e2e/guest/reload.sh
# reconnect.sh's table of results.
CLEANFILES += tests/e2e/reconnect-results.txt
# The host side of vsock.sh: host programs on the device's UNIX sockets.
# vsockproto.h is the wire protocol it shares with guest/vsocktest.c.
check_PROGRAMS += tests/vsockhost
tests_vsockhost_SOURCES = tests/vsockhost.c tests/vsockproto.h
AM_TESTS_ENVIRONMENT += VSOCKHOST='$(abs_top_builddir)/tests/vsockhost'; \
	export VSOCKHOST;
AM_TESTS_ENVIRONMENT += E2E_SRCDIR='$(abs_top_srcdir)/tests/e2e'; \
	E2E_BUILDDIR='$(abs_top_builddir)'; \
	QEMU_SYSTEM_X86='$(QEMU_SYSTEM_X86)'; \
	export E2E_SRCDIR E2E_BUILDDIR QEMU_SYSTEM_X86;
