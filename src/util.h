/* SPDX-License-Identifier: BSD-3-Clause */
/* Small helpers shared by main's modules (util.c). */
#ifndef VHOSTD_UTIL_H
#define VHOSTD_UTIL_H

#include <sys/types.h>

struct event_base;

/* mkdir -p: creates path and its missing parents with mode.  Returns 0 or
 * -1 with errno. */
int	util_mkdir_p(const char *path, mode_t mode);

/* Creates the missing directories above the file `path`. */
int	util_mkdir_parent(const char *path, mode_t mode);

/* An epoll event base, edge-triggered events supported, whatever the
 * environment's EVENT_* variables say; NULL if libevent has none. */
struct event_base *util_event_base(void);

/*
 * Binds and listens on a UNIX socket of `type` at path, non-blocking and
 * close-on-exec, with owner uid and group gid (-1: left) and mode; the
 * file exists with no permissions until then.  A socket file nobody
 * listens on is replaced, one in use is not.  Returns the fd, or -1 after
 * logging why, each line starting with `who`.
 */
int	util_listen_unix(const char *who, const char *path, int type,
	    uid_t uid, gid_t gid, mode_t mode);

#endif
