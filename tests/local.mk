# SPDX-License-Identifier: BSD-3-Clause
# Each part of the test suite keeps its own fragment.
TEST_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
TEST_LIBS = $(VHOSTD_LIBS) $(CMOCKA_LIBS)
EXTRA_DIST += tests/deps.sh tests/run-all.sh

include tests/unit-config.mk
include tests/unit-virtq.mk
include tests/unit-vu.mk
include tests/unit-sandbox.mk
include tests/unit-devices.mk
include tests/unit-gpio.mk
include tests/unit-i2c.mk
include tests/integration.mk
include tests/ctl.mk
include tests/vsock.mk
include tests/e2e.mk
include tests/fuzz/local.mk
include tests/hostile.mk
include tests/restart.mk
include tests/sysd.mk
include tests/load.mk
include tests/valgrind.mk
include tests/datapath.mk
include tests/bench/local.mk
