# SPDX-License-Identifier: BSD-3-Clause
# Unit tests of main's vhost-user protocol code and the main<->worker IPC.
check_PROGRAMS += tests/test_vu tests/test_ipc
TESTS += tests/test_vu tests/test_ipc

tests_test_vu_SOURCES = tests/test_vu.c
tests_test_vu_CFLAGS = $(TEST_CFLAGS)
tests_test_vu_LDADD = $(TEST_LIBS)

tests_test_ipc_SOURCES = tests/test_ipc.c
tests_test_ipc_CFLAGS = $(TEST_CFLAGS)
tests_test_ipc_LDADD = $(TEST_LIBS)
