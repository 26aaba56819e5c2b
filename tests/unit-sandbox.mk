# SPDX-License-Identifier: BSD-3-Clause
# Unit tests of the sandbox: the policy parser, every policy of policy/,
# and the lockdown of forked children under the real filters.  The test
# brings its own sandbox_policies[]: broken policies for the parser plus
# the real ones (src/policies.inc), so libvhostd.a's policies.o is not
# linked in.
check_PROGRAMS += tests/test_sandbox
TESTS += tests/test_sandbox

tests_test_sandbox_SOURCES = tests/test_sandbox.c
tests_test_sandbox_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_builddir)/src
tests_test_sandbox_CFLAGS = $(TEST_CFLAGS)
tests_test_sandbox_LDADD = $(TEST_LIBS)
tests/test_sandbox-test_sandbox.$(OBJEXT): src/policies.inc
