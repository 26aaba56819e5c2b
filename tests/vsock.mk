# SPDX-License-Identifier: BSD-3-Clause
# The vsock device against the real vhostd ($VHOSTD, exported by
# tests/integration.mk): tests/test_vsock plays the VMM (vufront), the
# guest's vsock driver and the host programs behind uds_path; host- and
# guest-initiated connections, SEQPACKET, credit both ways, SHUTDOWN,
# sibling groups, bad packets, fd leaks, and vhostd -n on vsock configs.
# VSOCK_ONLY=<glob> runs some tests only, VSOCK_TRACE=1 prints packets.
check_PROGRAMS += tests/test_vsock
TESTS += tests/test_vsock
tests_test_vsock_SOURCES = tests/test_vsock.c
tests_test_vsock_CFLAGS = $(TEST_CFLAGS)
tests_test_vsock_LDADD = tests/libvufront.a $(TEST_LIBS)
