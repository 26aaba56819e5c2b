# SPDX-License-Identifier: BSD-3-Clause
# Benchmarks (tests/bench/README): programs that print figures; no test
# asserts a time.  Built by `make`; `make bench` runs the standard set.
noinst_PROGRAMS += tests/bench/vubench
tests_bench_vubench_SOURCES = tests/bench/vubench.c tests/bench/bench.h \
	tests/bench/ring.c tests/bench/vsock.c tests/bench/floors.c \
	tests/bench/procstat.c tests/bench/scale.c tests/bench/loop.c
tests_bench_vubench_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests
tests_bench_vubench_CFLAGS = $(AM_CFLAGS)
tests_bench_vubench_LDADD = tests/libvufront.a -lpthread -lm

EXTRA_DIST += tests/bench/README tests/bench/run.sh

# vubench fails when a device breaks a rule (its loopback device, faults
# injected); no time is asserted.
TESTS += tests/bench/selftest.sh
dist_check_SCRIPTS += tests/bench/selftest.sh
AM_TESTS_ENVIRONMENT += VUBENCH=$(abs_top_builddir)/tests/bench/vubench; \
	export VUBENCH;

# The standard set against a vhostd of this build; the table goes to
# stdout and to bench-results.md here.
.PHONY: bench
bench: src/vhostd tests/bench/vubench
	VHOSTD=$(abs_top_builddir)/src/vhostd \
	VUBENCH=$(abs_top_builddir)/tests/bench/vubench \
	$(SHELL) $(abs_top_srcdir)/tests/bench/run.sh \
	    -o $(abs_top_builddir)/bench-results.md
