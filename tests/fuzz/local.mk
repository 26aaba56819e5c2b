# SPDX-License-Identifier: BSD-3-Clause
# libFuzzer targets (tests/fuzz/README), built only with --enable-fuzzing
# (clang).  The core is compiled a second time, into libfuzzcore.a, with
# the fuzzer's coverage instrumentation and the sanitizers; each target
# links it.  make check runs every target for a bounded time
# (FUZZ_SECONDS, default 20) from a scratch copy of its seed corpus.
FUZZ_TARGETS = fuzz_vu fuzz_virtq fuzz_config fuzz_ipc fuzz_rng fuzz_gpio \
	fuzz_i2c fuzz_vsock
FUZZ_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined \
	-fno-sanitize-recover=undefined -fno-omit-frame-pointer -g
FUZZ_LDOPTS = $(AM_LDFLAGS) -fsanitize=fuzzer,address,undefined
FUZZ_LIBS = tests/fuzz/libfuzzcore.a $(LIBEVENT_LIBS) $(JANSSON_LIBS) \
	$(SECCOMP_LIBS) $(CAPNG_LIBS) $(GPIOD_LIBS)

EXTRA_DIST += tests/fuzz/README tests/fuzz/run.sh tests/fuzz/fuzz.h \
	tests/fuzz/fuzz_dev.h tests/fuzz/config.dict tests/fuzz/vu.dict \
	tests/fuzz/mkcorpus.py \
	tests/fuzz/corpus

if FUZZING
noinst_LIBRARIES += tests/fuzz/libfuzzcore.a
tests_fuzz_libfuzzcore_a_SOURCES = $(src_libvhostd_a_SOURCES)
nodist_tests_fuzz_libfuzzcore_a_SOURCES = $(nodist_src_libvhostd_a_SOURCES)
tests_fuzz_libfuzzcore_a_CFLAGS = $(FUZZ_CFLAGS)

noinst_PROGRAMS += tests/fuzz/fuzz_vu tests/fuzz/fuzz_virtq \
	tests/fuzz/fuzz_config tests/fuzz/fuzz_ipc tests/fuzz/fuzz_rng \
	tests/fuzz/fuzz_gpio tests/fuzz/fuzz_i2c tests/fuzz/fuzz_vsock

tests_fuzz_fuzz_vu_SOURCES = tests/fuzz/fuzz_vu.c
tests_fuzz_fuzz_vu_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_vu_LDFLAGS = $(FUZZ_LDOPTS)
tests_fuzz_fuzz_vu_LDADD = $(FUZZ_LIBS)

tests_fuzz_fuzz_virtq_SOURCES = tests/fuzz/fuzz_virtq.c
tests_fuzz_fuzz_virtq_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_virtq_LDFLAGS = $(FUZZ_LDOPTS)
tests_fuzz_fuzz_virtq_LDADD = $(FUZZ_LIBS)

tests_fuzz_fuzz_config_SOURCES = tests/fuzz/fuzz_config.c
tests_fuzz_fuzz_config_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_config_LDFLAGS = $(FUZZ_LDOPTS)
tests_fuzz_fuzz_config_LDADD = $(FUZZ_LIBS)

tests_fuzz_fuzz_ipc_SOURCES = tests/fuzz/fuzz_ipc.c
tests_fuzz_fuzz_ipc_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_ipc_LDFLAGS = $(FUZZ_LDOPTS)
tests_fuzz_fuzz_ipc_LDADD = $(FUZZ_LIBS)

tests_fuzz_fuzz_rng_SOURCES = tests/fuzz/fuzz_rng.c
tests_fuzz_fuzz_rng_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_rng_LDFLAGS = $(FUZZ_LDOPTS)
tests_fuzz_fuzz_rng_LDADD = $(FUZZ_LIBS)

tests_fuzz_fuzz_gpio_SOURCES = tests/fuzz/fuzz_gpio.c
tests_fuzz_fuzz_gpio_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_gpio_LDFLAGS = $(FUZZ_LDOPTS)
tests_fuzz_fuzz_gpio_LDADD = $(FUZZ_LIBS)

tests_fuzz_fuzz_i2c_SOURCES = tests/fuzz/fuzz_i2c.c
tests_fuzz_fuzz_i2c_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_i2c_LDFLAGS = $(FUZZ_LDOPTS)
tests_fuzz_fuzz_i2c_LDADD = $(FUZZ_LIBS)

tests_fuzz_fuzz_vsock_SOURCES = tests/fuzz/fuzz_vsock.c
tests_fuzz_fuzz_vsock_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_vsock_LDFLAGS = $(FUZZ_LDOPTS)
tests_fuzz_fuzz_vsock_LDADD = $(FUZZ_LIBS)

TESTS += tests/fuzz/run.sh
AM_TESTS_ENVIRONMENT += FUZZ_SRCDIR='$(abs_top_srcdir)/tests/fuzz'; \
	FUZZ_BUILDDIR='$(abs_top_builddir)/tests/fuzz'; \
	FUZZ_TARGETS='$(FUZZ_TARGETS)'; \
	export FUZZ_SRCDIR FUZZ_BUILDDIR FUZZ_TARGETS;
endif
