# SPDX-License-Identifier: BSD-3-Clause
# The integration tests with vhostd (main and every worker) under
# valgrind's memcheck: no errors, no definite leaks (tests/valgrind.sh).
# Several minutes, so not part of `make check`:
#
#	make check-valgrind	in a build configured with
#				--enable-test-hooks, without sanitizers
#
# Skipped, saying why, without valgrind, in a build without test hooks
# and in a sanitizer build.  VALGRIND_TESTS, VALGRIND_LOGDIR, VUF_SLOW and
# HOSTILE_REPS are passed on (see tests/valgrind.sh).
EXTRA_DIST += tests/valgrind.sh tests/valgrind.supp

VALGRIND_CHECK_DEPS = src/vhostd$(EXEEXT) \
	tests/test_integration$(EXEEXT) tests/test_vsock$(EXEEXT) \
	tests/test_hostile$(EXEEXT) tests/vufdev$(EXEEXT)

check-valgrind: $(VALGRIND_CHECK_DEPS)
	@VHOSTD=$(abs_top_builddir)/src/vhostd$(EXEEXT); \
	VUFDEV=$(abs_top_builddir)/tests/vufdev$(EXEEXT); \
	export VHOSTD VUFDEV; \
	$(SHELL) $(srcdir)/tests/valgrind.sh $(abs_top_builddir); rc=$$?; \
	if test $$rc = 77; then rc=0; fi; exit $$rc

.PHONY: check-valgrind
