# SPDX-License-Identifier: BSD-3-Clause
# Unit tests of the i2c device (devices/i2c.c) over its sim backend, its
# config parsing and claims, and its SMBus translation.
check_PROGRAMS += tests/test_i2c
TESTS += tests/test_i2c
tests_test_i2c_SOURCES = tests/test_i2c.c
tests_test_i2c_CFLAGS = $(TEST_CFLAGS)
tests_test_i2c_LDADD = $(DEVTEST_LIBS)
