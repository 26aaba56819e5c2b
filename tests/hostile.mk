# SPDX-License-Identifier: BSD-3-Clause
# Hostile front-end and guest cases against the real vhostd ($VHOSTD):
# a malicious VMM and a malicious guest driver, each case checked for
# containment (main alive, bystander served, fault closed or broken,
# logged, guest RAM outside the driver's buffers untouched) and 1000
# repetitions of a subset checked for fd and RSS growth in main.
check_PROGRAMS += tests/test_hostile
TESTS += tests/test_hostile
tests_test_hostile_SOURCES = tests/test_hostile.c
tests_test_hostile_CFLAGS = $(TEST_CFLAGS)
tests_test_hostile_LDADD = tests/libvufront.a $(TEST_LIBS)
