# SPDX-License-Identifier: BSD-3-Clause
# Worker restarts against the real vhostd ($VHOSTD): killed workers are
# replaced without the front-end noticing and every request comes back
# exactly once (tests/test_restart.c).
check_PROGRAMS += tests/test_restart
TESTS += tests/test_restart
tests_test_restart_SOURCES = tests/test_restart.c
tests_test_restart_CFLAGS = $(TEST_CFLAGS)
tests_test_restart_LDADD = tests/libvufront.a $(TEST_LIBS)
