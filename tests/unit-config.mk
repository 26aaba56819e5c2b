# SPDX-License-Identifier: BSD-3-Clause
# Unit tests of the config loader (src/cfg.c).  --wrap=dev_lookup lets the
# test add device types of its own in front of the real registry, to drive
# the cfg_* helpers that no real device uses yet.
check_PROGRAMS += tests/test_config
TESTS += tests/test_config
tests_test_config_SOURCES = tests/test_config.c
tests_test_config_CFLAGS = $(TEST_CFLAGS) -DTOP_SRCDIR='"$(abs_top_srcdir)"'
tests_test_config_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=dev_lookup
tests_test_config_LDADD = $(TEST_LIBS)
