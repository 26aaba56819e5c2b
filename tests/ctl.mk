# SPDX-License-Identifier: BSD-3-Clause
# The control socket and vhostctl against the real vhostd ($VHOSTD) and
# vhostctl ($VHOSTCTL), with vufront front-ends (tests/test_ctl.c).
check_PROGRAMS += tests/test_ctl
TESTS += tests/test_ctl
tests_test_ctl_SOURCES = tests/test_ctl.c
tests_test_ctl_CFLAGS = $(TEST_CFLAGS)
tests_test_ctl_LDADD = tests/libvufront.a $(TEST_LIBS)

AM_TESTS_ENVIRONMENT += VHOSTCTL=$(abs_top_builddir)/src/vhostctl; export VHOSTCTL;
