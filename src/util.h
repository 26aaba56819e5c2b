/* SPDX-License-Identifier: BSD-3-Clause */
/* Small helpers shared by main's modules (util.c). */
#ifndef VHOSTD_UTIL_H
#define VHOSTD_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct event_base;

/* CLOCK_MONOTONIC in nanoseconds, from the vDSO: no system call.  Inline:
 * the datapath reads it per request and per busy-poll sweep. */
static inline uint64_t
util_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

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

/*
 * Is the peer of the connected UNIX socket fd, whose SO_PEERCRED is cred,
 * in one of the n groups gids: by its primary group, or by one of its
 * supplementary groups as the kernel recorded them when it connected
 * (SO_PEERGROUPS, however many there are)?  False if they cannot be had.
 */
struct ucred;
bool	util_peer_in_gids(int fd, const struct ucred *cred, const gid_t *gids,
	    size_t n);

/*
 * Copies the srclen bytes of src into dst (of len bytes, at least 1) as
 * printable ASCII, for messages that echo what a client sent: the bytes
 * 0x20 to 0x7e as they are but the backslash, which is doubled, and every
 * other byte (control characters, newlines, UTF-8) as \xNN.  What does not
 * fit is cut between two escapes, never inside one, and "..." ends it.
 * The result is one line, valid UTF-8 and JSON-safe.  Returns dst.
 */
const char *util_vis(char *dst, size_t len, const char *src, size_t srclen);

/* The length of s[0..len) without the incomplete UTF-8 sequence a cut may
 * have left at its end. */
size_t	util_utf8_trim(const char *s, size_t len);

#endif
