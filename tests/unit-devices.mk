# SPDX-License-Identifier: BSD-3-Clause
# Unit tests of the device types through the device harness
# (tests/devtest.c: fake guest memory, real rings, no process or VMM).
check_LIBRARIES += tests/libdevtest.a
tests_libdevtest_a_SOURCES = tests/devtest.c tests/devtest.h
tests_libdevtest_a_CFLAGS = $(TEST_CFLAGS)
DEVTEST_LIBS = tests/libdevtest.a $(TEST_LIBS)

check_PROGRAMS += tests/test_rng
TESTS += tests/test_rng
tests_test_rng_SOURCES = tests/test_rng.c
tests_test_rng_CFLAGS = $(TEST_CFLAGS)
tests_test_rng_LDADD = $(DEVTEST_LIBS)

check_PROGRAMS += tests/test_vsock_dev
TESTS += tests/test_vsock_dev
tests_test_vsock_dev_SOURCES = tests/test_vsock_dev.c
tests_test_vsock_dev_CFLAGS = $(TEST_CFLAGS)
tests_test_vsock_dev_LDADD = $(DEVTEST_LIBS)
