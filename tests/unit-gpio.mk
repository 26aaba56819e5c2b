# SPDX-License-Identifier: BSD-3-Clause
# Unit tests of the gpio device (devices/gpio.c) through the device
# harness, over its sim backend (a state file in a temporary directory).
check_PROGRAMS += tests/test_gpio
TESTS += tests/test_gpio
tests_test_gpio_SOURCES = tests/test_gpio.c
tests_test_gpio_CFLAGS = $(TEST_CFLAGS)
tests_test_gpio_LDADD = $(DEVTEST_LIBS)
