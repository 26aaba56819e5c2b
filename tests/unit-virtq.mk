# SPDX-License-Identifier: BSD-3-Clause
# Unit tests of the guest memory table and the split virtqueue engine,
# both over fake guest memory (and a memfd for the real mapping path).
check_PROGRAMS += tests/test_virtq tests/test_memtab
TESTS += tests/test_virtq tests/test_memtab

tests_test_virtq_SOURCES = tests/test_virtq.c
tests_test_virtq_CFLAGS = $(TEST_CFLAGS)
tests_test_virtq_LDADD = $(TEST_LIBS)

tests_test_memtab_SOURCES = tests/test_memtab.c
tests_test_memtab_CFLAGS = $(TEST_CFLAGS)
tests_test_memtab_LDADD = $(TEST_LIBS)
