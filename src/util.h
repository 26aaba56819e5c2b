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

#endif
