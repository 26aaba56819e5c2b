/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Socket activation: a service manager (systemd, from a .socket unit)
 * creates the devices' listening sockets and passes them to vhostd as fds
 * 3, 4, ... with $LISTEN_FDS (how many), $LISTEN_PID (for which process)
 * and $LISTEN_FDNAMES (their names, colon-separated).  The sockets then
 * outlive vhostd: a front-end that reconnects while vhostd restarts waits
 * in the backlog instead of finding no socket.  At start every passed
 * socket must match a device of the configuration (an error otherwise,
 * before any device is set up); the sockets then stay ours, open, until
 * exit.  inst.c asks for its device's socket each time it sets a device
 * up, at start or later (a device changed by a reload, removed and added
 * again, or added with the path of a socket it was passed for), and gets
 * a duplicate of it, to close as its own when the device goes: the socket
 * itself must outlive any one device instance.  The variables come from
 * our own service manager, but what they describe (fds, names, paths) is
 * checked as if they did not: the kind of every fd, the count of names,
 * every match.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "sdlisten.h"

#define SDL_FD_START	3	/* SD_LISTEN_FDS_START */
#define SDL_FDS_MAX	1024	/* passed sockets we look at */
#define SDL_NAME_MAX	256	/* systemd's FDNAME_MAX is 255 */

struct sdl_sock {
	int	 fd;
	char	 name[SDL_NAME_MAX];	/* "" if none given */
	char	 path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
					/* bound to; "" if not a path */
	bool	 by_name;	/* matched to a device by its name at start:
				   it is that id's, never another path's */
};

static struct sdl_sock	*sdl_socks;
static size_t		 sdl_n;

/* "fd 4 \"vm1-rng\" (/run/vhostd-sockets/vm1-rng.sock)", for messages. */
static const char *
sdl_desc(const struct sdl_sock *s, char *buf, size_t len)
{
	snprintf(buf, len, "fd %d%s%s%s (%s)", s->fd,
	    s->name[0] != '\0' ? " \"" : "", s->name,
	    s->name[0] != '\0' ? "\"" : "",
	    s->path[0] != '\0' ? s->path : "no path");
	return buf;
}

/*
 * How many fds were passed to us: $LISTEN_FDS if $LISTEN_PID is our pid.
 * 0 if nothing is for us, -1 after logging if the variables are wrong.
 */
static long
sdl_count(void)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	char *end;
	long p, n;

	if (pid == NULL || fds == NULL)
		return 0;
	errno = 0;
	p = strtol(pid, &end, 10);
	if (errno != 0 || end == pid || *end != '\0' || p <= 0) {
		log_warnx("systemd: LISTEN_PID=%s is not a process id", pid);
		return -1;
	}
	if (p != (long)getpid()) {
		log_info("systemd: LISTEN_PID=%s is not vhostd's pid %d: the "
		    "passed sockets are not for us", pid, (int)getpid());
		return 0;
	}
	errno = 0;
	n = strtol(fds, &end, 10);
	if (errno != 0 || end == fds || *end != '\0' || n < 0 ||
	    n > SDL_FDS_MAX) {
		log_warnx("systemd: LISTEN_FDS=%s is not a number of file "
		    "descriptors from 0 to %d", fds, SDL_FDS_MAX);
		return -1;
	}
	return n;
}

/* Names from $LISTEN_FDNAMES, one per socket; none without it. */
static int
sdl_names(void)
{
	const char *names = getenv("LISTEN_FDNAMES"), *p, *colon;
	size_t i, len, count = 1;

	if (names == NULL)
		return 0;
	for (p = names; *p != '\0'; p++)
		count += *p == ':';
	if (count != sdl_n) {
		log_warnx("systemd: LISTEN_FDNAMES=%s gives %zu name%s for %zu "
		    "socket%s", names, count, count == 1 ? "" : "s", sdl_n,
		    sdl_n == 1 ? "" : "s");
		return -1;
	}
	for (i = 0, p = names; i < sdl_n; i++, p = colon + 1) {
		if ((colon = strchr(p, ':')) == NULL)
			colon = p + strlen(p);
		len = (size_t)(colon - p);
		if (len >= SDL_NAME_MAX) {
			log_warnx("systemd: the name of passed fd %zu is longer "
			    "than %d bytes", SDL_FD_START + i,
			    SDL_NAME_MAX - 1);
			return -1;
		}
		memcpy(sdl_socks[i].name, p, len);
		sdl_socks[i].name[len] = '\0';
	}
	return 0;
}

/*
 * Checks that s->fd is a listening AF_UNIX stream socket, makes it
 * close-on-exec and fills in the path it is bound to.
 */
static int
sdl_inspect(struct sdl_sock *s)
{
	struct sockaddr_un sun;
	socklen_t len = sizeof(int), alen = sizeof(sun);
	int domain = 0, type = 0, listening = 0, fl;
	char d[SDL_NAME_MAX + 128];

	if (fcntl(s->fd, F_SETFD, FD_CLOEXEC) == -1) {
		log_warn("systemd: passed %s", sdl_desc(s, d, sizeof(d)));
		return -1;
	}
	if (getsockopt(s->fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == -1 ||
	    (len = sizeof(int), getsockopt(s->fd, SOL_SOCKET, SO_TYPE, &type,
	    &len)) == -1 || (len = sizeof(int), getsockopt(s->fd, SOL_SOCKET,
	    SO_ACCEPTCONN, &listening, &len)) == -1 || domain != AF_UNIX ||
	    type != SOCK_STREAM || !listening) {
		log_warnx("systemd: passed %s is not a listening AF_UNIX "
		    "stream socket (ListenStream= with a path)",
		    sdl_desc(s, d, sizeof(d)));
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	if (getsockname(s->fd, (struct sockaddr *)&sun, &alen) == -1) {
		log_warn("systemd: getsockname of passed %s",
		    sdl_desc(s, d, sizeof(d)));
		return -1;
	}
	/* An abstract or unnamed socket has no path: it can be matched by
	 * its name only. */
	if (alen > offsetof(struct sockaddr_un, sun_path) &&
	    sun.sun_path[0] != '\0')
		memcpy(s->path, sun.sun_path, strnlen(sun.sun_path,
		    sizeof(sun.sun_path)));
	/* Accepted on from the event loop.  The flag is the open file's:
	 * every duplicate handed out shares it. */
	if ((fl = fcntl(s->fd, F_GETFL)) == -1 ||
	    fcntl(s->fd, F_SETFL, fl | O_NONBLOCK) == -1) {
		log_warn("systemd: passed %s", sdl_desc(s, d, sizeof(d)));
		return -1;
	}
	return 0;
}

/* True if the socket file at a and the one at b are the same file. */
static bool
sdl_same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	if (strcmp(a, b) == 0)
		return true;
	return stat(a, &sa) == 0 && stat(b, &sb) == 0 &&
	    S_ISSOCK(sa.st_mode) && sa.st_dev == sb.st_dev &&
	    sa.st_ino == sb.st_ino;
}

/* The device socket s belongs to: by name, else by path; NULL if none. */
static const struct dev_cfg *
sdl_match(const struct sdl_sock *s, const struct vhostd_cfg *cfg)
{
	size_t i;

	for (i = 0; s->name[0] != '\0' && i < cfg->ndevs; i++)
		if (strcmp(cfg->devs[i].id, s->name) == 0)
			return &cfg->devs[i];
	if (s->path[0] == '\0')
		return NULL;
	for (i = 0; i < cfg->ndevs; i++)
		if (sdl_same_file(s->path, cfg->devs[i].socket))
			return &cfg->devs[i];
	return NULL;
}

/* Gives socket k to its device; -1 after logging why it cannot be. */
static int
sdl_assign(size_t k, const struct vhostd_cfg *cfg)
{
	struct sdl_sock *s = &sdl_socks[k];
	char d[SDL_NAME_MAX + 128], e[SDL_NAME_MAX + 256];
	const struct dev_cfg *dc;
	size_t j;

	if ((dc = sdl_match(s, cfg)) == NULL) {
		if (s->name[0] != '\0' && s->path[0] != '\0')
			snprintf(e, sizeof(e), "no device has the id \"%s\" or "
			    "the socket %s", s->name, s->path);
		else if (s->name[0] != '\0')
			snprintf(e, sizeof(e), "no device has the id \"%s\"",
			    s->name);
		else if (s->path[0] != '\0')
			snprintf(e, sizeof(e), "no device has the socket %s",
			    s->path);
		else
			snprintf(e, sizeof(e), "it has neither a name "
			    "(FileDescriptorName=) nor a path");
		log_warnx("systemd: passed socket %s matches no device: %s",
		    sdl_desc(s, d, sizeof(d)), e);
		return -1;
	}
	if (dc->connect) {
		log_warnx("systemd: passed socket %s is for device %s, which "
		    "connects to its front-end (\"connect\": true) and "
		    "listens on no socket", sdl_desc(s, d, sizeof(d)), dc->id);
		return -1;
	}
	s->by_name = s->name[0] != '\0' && strcmp(s->name, dc->id) == 0;
	for (j = 0; j < k; j++)
		if (sdl_match(&sdl_socks[j], cfg) == dc) {
			log_warnx("systemd: passed sockets %s and %s are both "
			    "for device %s", sdl_desc(&sdl_socks[j], e,
			    sizeof(e)), sdl_desc(s, d, sizeof(d)), dc->id);
			return -1;
		}
	return 0;
}

int
sdlisten_init(const struct vhostd_cfg *cfg)
{
	size_t i, bad = 0, unmatched = 0;
	long n;

	if ((n = sdl_count()) > 0) {
		if ((sdl_socks = calloc((size_t)n, sizeof(*sdl_socks))) ==
		    NULL)
			fatal("calloc");
		sdl_n = (size_t)n;
	}
	for (i = 0; i < sdl_n; i++)
		sdl_socks[i].fd = SDL_FD_START + (int)i;
	if (sdl_n > 0 && sdl_names() == -1)
		bad++;
	/* Every socket is judged, so that every error is logged at once;
	 * matching waits until all are known to be sockets with paths. */
	for (i = 0; i < sdl_n; i++)
		if (sdl_inspect(&sdl_socks[i]) == -1)
			bad++;
	for (i = 0; bad == 0 && i < sdl_n; i++)
		if (sdl_assign(i, cfg) == -1)
			unmatched++;
	/* Workers are started with main's environment: none of this is for
	 * them. */
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (n == -1 || bad > 0 || unmatched > 0)
		return -1;
	if (sdl_n > 0)
		log_info("systemd: %zu listening socket%s passed", sdl_n,
		    sdl_n == 1 ? "" : "s");
	return 0;
}

/*
 * The passed socket of device dc now: the one named after its id, else
 * one bound to its "socket" that was not matched by name at start.
 */
static const struct sdl_sock *
sdl_find(const struct dev_cfg *dc)
{
	size_t i;

	for (i = 0; i < sdl_n; i++)
		if (sdl_socks[i].name[0] != '\0' &&
		    strcmp(sdl_socks[i].name, dc->id) == 0)
			return &sdl_socks[i];
	for (i = 0; i < sdl_n; i++)
		if (!sdl_socks[i].by_name && sdl_socks[i].path[0] != '\0' &&
		    sdl_same_file(sdl_socks[i].path, dc->socket))
			return &sdl_socks[i];
	return NULL;
}

int
sdlisten_take(const struct dev_cfg *dc, int *fdp)
{
	char d[SDL_NAME_MAX + 128];
	const struct sdl_sock *s;
	int fd;

	*fdp = -1;
	if ((s = sdl_find(dc)) == NULL)
		return 0;
	/* Never 0 to 2, were stdio closed. */
	if ((fd = fcntl(s->fd, F_DUPFD_CLOEXEC, SDL_FD_START)) == -1) {
		log_warn("%s: passed socket %s", dc->id,
		    sdl_desc(s, d, sizeof(d)));
		return -1;
	}
	if (s->path[0] != '\0' && !sdl_same_file(s->path, dc->socket))
		log_msg(LOG_NOTICE, "%s: serving the socket passed by "
		    "systemd, %s, instead of its \"socket\" %s", dc->id,
		    sdl_desc(s, d, sizeof(d)), dc->socket);
	else
		log_info("%s: serving the socket passed by systemd, %s",
		    dc->id, sdl_desc(s, d, sizeof(d)));
	*fdp = fd;
	return 1;
}
