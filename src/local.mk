# SPDX-License-Identifier: BSD-3-Clause
# The core, built once as a library that vhostd and the tests link.
noinst_LIBRARIES += src/libvhostd.a
src_libvhostd_a_SOURCES = \
	src/log.c src/log.h \
	src/cfg.c src/cfg.h \
	src/device.c src/device.h \
	src/memtab.c src/memtab.h \
	src/virtq.c src/virtq.h \
	src/vu_proto.h src/vu.c \
	src/inst.c src/inst.h \
	src/devset.c src/devset.h \
	src/ctl.c src/ctl_cmd.c src/ctl.h \
	src/ipc.c src/ipc.h \
	src/worker.c src/worker.h \
	src/util.c src/util.h \
	src/sandbox.c src/sandbox.h \
	src/sdnotify.c src/sdnotify.h \
	src/sdlisten.c src/sdlisten.h \
	src/caps.c src/caps.h

VHOSTD_LIBS = src/libvhostd.a $(LIBEVENT_LIBS) $(JANSSON_LIBS) \
	$(SECCOMP_LIBS) $(CAPNG_LIBS) $(GPIOD_LIBS)
AM_CFLAGS += $(LIBEVENT_CFLAGS) $(JANSSON_CFLAGS) $(SECCOMP_CFLAGS) \
	$(CAPNG_CFLAGS) $(GPIOD_CFLAGS)

sbin_PROGRAMS += src/vhostd
src_vhostd_SOURCES = src/vhostd.c
src_vhostd_LDADD = $(VHOSTD_LIBS)

# The administrator's client of main's control socket (vhostctl(8)).
sbin_PROGRAMS += src/vhostctl
src_vhostctl_SOURCES = src/vhostctl.c
src_vhostctl_LDADD = $(JANSSON_LIBS)
