# SPDX-License-Identifier: BSD-3-Clause
# Leaks and load against the real vhostd ($VHOSTD): 10000 cycles of
# connect, set-up, one request and disconnect over 16 sockets with main's
# fd count and RSS flat and every worker reaped; then 64 VMs x 3 devices
# driven at once (LOAD_SECONDS, default 120) with every request answered
# once, no device starved and new connections served within 100 ms.
# The knobs are described at the top of tests/test_load.c.
check_PROGRAMS += tests/test_load
TESTS += tests/test_load
tests_test_load_SOURCES = tests/test_load.c
tests_test_load_CFLAGS = $(TEST_CFLAGS) -pthread
tests_test_load_LDFLAGS = -pthread
tests_test_load_LDADD = tests/libvufront.a $(TEST_LIBS)
