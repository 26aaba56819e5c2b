# SPDX-License-Identifier: BSD-3-Clause
# Datapath modes against the real vhostd ($VHOSTD): polled and adaptive
# workers pinned to a poll core, kicks suppressed while they poll, no
# wake-up lost when an adaptive worker goes to sleep, two pollers sharing
# a core, restarts (tests/test_datapath.c).  Uses poll_cores [1]: skips
# unless CPUs 0 and 1 are both there to use.
check_PROGRAMS += tests/test_datapath
TESTS += tests/test_datapath
tests_test_datapath_SOURCES = tests/test_datapath.c
tests_test_datapath_CFLAGS = $(TEST_CFLAGS)
tests_test_datapath_LDADD = tests/libvufront.a $(TEST_LIBS)
