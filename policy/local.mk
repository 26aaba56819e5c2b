# SPDX-License-Identifier: BSD-3-Clause
# Seccomp policies, one per process kind, compiled into the binary:
# policy/embed.sh turns them into src/policies.c (sandbox_policies[]) and,
# for tests/test_sandbox, into src/policies.inc (the entries alone).
POLICY_FILES = \
	policy/common.policy \
	policy/gpio.policy \
	policy/i2c.policy \
	policy/main.policy \
	policy/rng.policy \
	policy/sanitizer.policy \
	policy/sanitizer-main.policy \
	policy/vsock.policy
EXTRA_DIST += $(POLICY_FILES) policy/embed.sh

nodist_src_libvhostd_a_SOURCES = src/policies.c
CLEANFILES += src/policies.c src/policies.inc

src/policies.c: $(POLICY_FILES) $(top_srcdir)/policy/embed.sh
	$(AM_V_GEN)$(MKDIR_P) src && \
	$(SHELL) $(top_srcdir)/policy/embed.sh $(srcdir) $(POLICY_FILES) \
	    >$@-t && mv $@-t $@

src/policies.inc: $(POLICY_FILES) $(top_srcdir)/policy/embed.sh
	$(AM_V_GEN)$(MKDIR_P) src && \
	$(SHELL) $(top_srcdir)/policy/embed.sh -e $(srcdir) $(POLICY_FILES) \
	    >$@-t && mv $@-t $@
