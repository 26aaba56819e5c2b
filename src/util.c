/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Small helpers shared by main's modules and the workers: directory
 * creation for the runtime directory and socket paths, listening sockets,
 * the event base.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "util.h"

/*
 * An event base on epoll whatever the environment says: the seccomp
 * policies allow epoll's system calls only, and the workers' kick events
 * are edge-triggered, which poll(2) and select(2) cannot do.  An
 * EVENT_NOEPOLL inherited from the environment would otherwise pick a
 * backend the filter kills.
 */
struct event_base *
util_event_base(void)
{
	struct event_config *cfg;
	struct event_base *base = NULL;

	if ((cfg = event_config_new()) == NULL)
		return NULL;
	if (event_config_set_flag(cfg, EVENT_BASE_FLAG_IGNORE_ENV) == 0 &&
	    event_config_require_features(cfg, EV_FEATURE_ET |
	    EV_FEATURE_O1) == 0)
		base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base;
}

int
util_mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	char *p;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) == -1 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(buf, mode) == -1 && errno != EEXIST)
		return -1;
	return 0;
}

int
util_mkdir_parent(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	char *slash;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((slash = strrchr(buf, '/')) == NULL || slash == buf)
		return 0;
	*slash = '\0';
	return util_mkdir_p(buf, mode);
}

/*
 * A socket file at path: 1 if a process listens on it, 0 if it is stale
 * (nothing listens, or that cannot be told, as before this check).
 * Non-blocking, so that it never waits on a peer whose backlog is full
 * (that one is in use).
 */
static int
util_sock_in_use(const struct sockaddr_un *sun, int type)
{
	int probe, r;

	probe = socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (probe == -1)
		return 0;
	r = connect(probe, (const struct sockaddr *)sun, sizeof(*sun));
	if (r == 0 || errno == EAGAIN || errno == EINPROGRESS)
		r = 1;
	else
		r = 0;
	close(probe);
	return r;
}

int
util_listen_unix(const char *who, const char *path, int type, uid_t uid,
    gid_t gid, mode_t mode)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t old;
	int fd, r;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_warnx("%s: socket path %s is too long", who, path);
		return -1;
	}
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (util_mkdir_parent(sun.sun_path, 0755) == -1) {
		log_warn("%s: creating the directory of %s", who, sun.sun_path);
		return -1;
	}
	if (lstat(sun.sun_path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_warnx("%s: %s exists and is not a socket", who,
			    sun.sun_path);
			return -1;
		}
		if (util_sock_in_use(&sun, type) != 0) {
			log_warnx("%s: %s is in use by another process", who,
			    sun.sun_path);
			return -1;
		}
		if (unlink(sun.sun_path) == -1) {
			log_warn("%s: removing stale socket %s", who,
			    sun.sun_path);
			return -1;
		}
	}
	fd = socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		log_warn("%s: socket", who);
		return -1;
	}
	/* Born with no permissions, so that nobody connects before the
	 * configured ones are in place. */
	old = umask(0777);
	r = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (r == -1) {
		log_warn("%s: bind %s", who, sun.sun_path);
		close(fd);
		return -1;
	}
	if ((uid != (uid_t)-1 || gid != (gid_t)-1) &&
	    chown(sun.sun_path, uid, gid) == -1) {
		log_warn("%s: setting the owner of %s", who, sun.sun_path);
		goto fail;
	}
	if (chmod(sun.sun_path, mode) == -1) {
		log_warn("%s: setting the mode of %s", who, sun.sun_path);
		goto fail;
	}
	if (listen(fd, 16) == -1) {
		log_warn("%s: listen on %s", who, sun.sun_path);
		goto fail;
	}
	return fd;
fail:
	close(fd);
	unlink(sun.sun_path);
	return -1;
}

/* What util_vis makes of byte c: its length, and the text in out. */
static size_t
util_vis_one(unsigned char c, char out[5])
{
	static const char hex[] = "0123456789abcdef";

	if (c == '\\') {
		memcpy(out, "\\\\", 2);
		return 2;
	}
	if (c >= 0x20 && c < 0x7f) {
		out[0] = (char)c;
		return 1;
	}
	out[0] = '\\';
	out[1] = 'x';
	out[2] = hex[c >> 4];
	out[3] = hex[c & 0xf];
	return 4;
}

const char *
util_vis(char *dst, size_t len, const char *src, size_t srclen)
{
	size_t i, o = 0, total = 0, room;
	char e[5];

	for (i = 0; i < srclen; i++)
		total += util_vis_one((unsigned char)src[i], e);
	/* All of it, or as much as leaves room for "...". */
	room = total < len ? total : len > 4 ? len - 4 : len - 1;
	for (i = 0; i < srclen; i++) {
		size_t n = util_vis_one((unsigned char)src[i], e);

		if (o + n > room)
			break;
		memcpy(dst + o, e, n);
		o += n;
	}
	if (i < srclen && len > 4) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o] = '\0';
	return dst;
}

size_t
util_utf8_trim(const char *s, size_t len)
{
	size_t i = len, cont = 0, need;
	unsigned char c;

	while (i > 0 && cont < 3 && ((unsigned char)s[i - 1] & 0xc0) == 0x80) {
		i--;
		cont++;
	}
	if (i == 0)
		return len;
	c = (unsigned char)s[i - 1];
	if (c < 0xc0)
		return len;	/* ASCII, or not UTF-8 at all: left as is */
	need = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : 1;
	return cont < need ? i - 1 : len;
}

/* The peer's supplementary groups: a malloc'ed array of *n, or NULL. */
static gid_t *
util_peer_groups(int fd, size_t *n)
{
	socklen_t len = 256 * sizeof(gid_t);
	gid_t *g = NULL, *p;
	int tries;

	*n = 0;
	/* Too small a buffer fails with ERANGE and the size it needs: the
	 * groups are the peer's at connect(2), so once is enough. */
	for (tries = 0; tries < 2; tries++) {
		if ((p = realloc(g, len > 0 ? len : sizeof(gid_t))) == NULL)
			break;
		g = p;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) == 0) {
			*n = len / sizeof(gid_t);
			return g;
		}
		if (errno != ERANGE)
			break;
	}
	free(g);
	return NULL;
}

bool
util_peer_in_gids(int fd, const struct ucred *cred, const gid_t *gids,
    size_t n)
{
	gid_t *groups;
	size_t i, k, ng;
	bool in = false;

	for (i = 0; i < n; i++)
		if (gids[i] == cred->gid)
			return true;
	if (n == 0 || (groups = util_peer_groups(fd, &ng)) == NULL)
		return false;
	for (k = 0; k < ng && !in; k++)
		for (i = 0; i < n && !in; i++)
			in = gids[i] == groups[k];
	free(groups);
	return in;
}
