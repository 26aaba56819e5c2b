# SPDX-License-Identifier: BSD-3-Clause
# vhostd under systemd and next to VMM management software: sd_notify and
# the watchdog, socket activation, --print-capabilities and the vhost-user
# description files, against the real vhostd with this test as the service
# manager (tests/test_sysd.c); the unit files checked by systemd-analyze
# (tests/sysd-verify.sh, skipped without it).
check_PROGRAMS += tests/test_sysd
TESTS += tests/test_sysd
tests_test_sysd_SOURCES = tests/test_sysd.c
# The description files name the vhostd that make install puts in sbindir.
tests_test_sysd_CFLAGS = $(TEST_CFLAGS) \
	-DVHOSTD_INSTALLED='"$(sbindir)/vhostd"' \
	-DVHOSTUSER_BUILT='"$(abs_top_builddir)/config/vhost-user"'
tests_test_sysd_LDADD = tests/libvufront.a $(TEST_LIBS)

TESTS += tests/sysd-verify.sh
dist_check_SCRIPTS += tests/sysd-verify.sh
AM_TESTS_ENVIRONMENT += SYSTEMD_ANALYZE='$(SYSTEMD_ANALYZE)'; \
	export SYSTEMD_ANALYZE;
