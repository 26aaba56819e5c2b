# SPDX-License-Identifier: BSD-3-Clause
EXTRA_DIST += config/README config/demo.json config/vhostd.example.json \
	config/demo.sh config/demo-guest.sh \
	config/shared-hw.json config/shared-sim.json

# Files that name installed paths are made from a .in at build time, with
# the directories of this configuration (make expands them fully; configure
# would leave ${prefix} in them).
config_subst = sed -e 's|@sbindir[@]|$(sbindir)|g' \
	-e 's|@sysconfdir[@]|$(sysconfdir)|g'

# The systemd unit (vhostd(8), SYSTEMD); configure
# --with-systemdsystemunitdir=no leaves it out.  The socket-activation
# unit is an example to copy and edit: installed with the docs.
EXTRA_DIST += config/vhostd.service.in
CLEANFILES += config/vhostd.service
if INSTALL_SYSTEMD_UNIT
systemdsystemunit_DATA = config/vhostd.service
else
noinst_DATA = config/vhostd.service
endif
dist_doc_DATA = config/vhostd-devices.socket

config/vhostd.service: $(srcdir)/config/vhostd.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) config && \
	$(config_subst) $(srcdir)/config/vhostd.service.in >$@-t && mv $@-t $@

# vhost-user back-end description files (QEMU's
# docs/interop/vhost-user.json), where management software looks for
# them: one per device type that the schema's VHostUserBackendType knows.
# It has no "gpio" and no "i2c": those types get none (vhostd(8), QEMU
# AND LIBVIRT).
vhostuserdir = $(datadir)/qemu/vhost-user
vhostuser_DATA = config/vhost-user/50-vhostd-rng.json \
	config/vhost-user/50-vhostd-vsock.json
EXTRA_DIST += config/vhost-user/50-vhostd-rng.json.in \
	config/vhost-user/50-vhostd-vsock.json.in
CLEANFILES += $(vhostuser_DATA)

config/vhost-user/50-vhostd-rng.json: \
    $(srcdir)/config/vhost-user/50-vhostd-rng.json.in Makefile
	$(AM_V_GEN)$(MKDIR_P) config/vhost-user && \
	$(config_subst) $(srcdir)/config/vhost-user/50-vhostd-rng.json.in \
	    >$@-t && mv $@-t $@

config/vhost-user/50-vhostd-vsock.json: \
    $(srcdir)/config/vhost-user/50-vhostd-vsock.json.in Makefile
	$(AM_V_GEN)$(MKDIR_P) config/vhost-user && \
	$(config_subst) $(srcdir)/config/vhost-user/50-vhostd-vsock.json.in \
	    >$@-t && mv $@-t $@
