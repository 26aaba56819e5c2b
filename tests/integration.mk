# SPDX-License-Identifier: BSD-3-Clause
# Integration tests: the project's own vhost-user front-end library
# (tests/libvufront.a, reused by hostile-input tests and benchmarks) drives
# the real vhostd binary, started by each test from $VHOSTD.
noinst_LIBRARIES += tests/libvufront.a
tests_libvufront_a_SOURCES = tests/vufront.c tests/vufront.h \
	tests/vuf_daemon.c tests/vuf_daemon.h
tests_libvufront_a_CFLAGS = $(TEST_CFLAGS)

# The library checked on its own against a minimal back-end of its own.
check_PROGRAMS += tests/vuf_selftest
TESTS += tests/vuf_selftest
tests_vuf_selftest_SOURCES = tests/vuf_selftest.c
tests_vuf_selftest_CFLAGS = $(TEST_CFLAGS)
tests_vuf_selftest_LDADD = tests/libvufront.a $(CMOCKA_LIBS)

check_PROGRAMS += tests/test_integration
TESTS += tests/test_integration
tests_test_integration_SOURCES = tests/test_integration.c
tests_test_integration_CFLAGS = $(TEST_CFLAGS)
tests_test_integration_LDADD = tests/libvufront.a $(TEST_LIBS)

AM_TESTS_ENVIRONMENT += VHOSTD=$(abs_top_builddir)/src/vhostd; export VHOSTD;

# The sandbox and access control, against the real vhostd.
check_PROGRAMS += tests/test_confine
TESTS += tests/test_confine
tests_test_confine_SOURCES = tests/test_confine.c
tests_test_confine_CFLAGS = $(TEST_CFLAGS)
tests_test_confine_LDADD = tests/libvufront.a $(TEST_LIBS)

# The front-end test program: drives one device of any vhost-user back-end
# from the VMM's side (tests/e2e uses it, also inside a guest).
check_PROGRAMS += tests/vufdev
tests_vufdev_SOURCES = tests/vufdev.c
tests_vufdev_CFLAGS = $(TEST_CFLAGS)
tests_vufdev_LDADD = tests/libvufront.a

# gpio and i2c over simulated hardware shared by two VMs, driven by vufdev.
TESTS += tests/hw-sim.sh
dist_check_SCRIPTS += tests/hw-sim.sh
AM_TESTS_ENVIRONMENT += VUFDEV=$(abs_top_builddir)/tests/vufdev; export VUFDEV;
