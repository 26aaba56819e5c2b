/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The service manager's notification protocol (sd_notify(3)), spoken
 * directly: one datagram of "KEY=VALUE" lines per notification, on an
 * AF_UNIX datagram socket whose address the manager gives in
 * $NOTIFY_SOCKET.  main connects it once, before its lockdown, and keeps
 * it: after that a notification is one send(2) on it.  main sends READY=1
 * once every device is set up, WATCHDOG=1 from its event loop when the
 * manager asked for a watchdog, and STOPPING=1 when it shuts down.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "sdnotify.h"

#define SDN_MSG_MAX	512	/* bytes of one notification */

static int			 sdn_fd = -1;
static uint64_t			 sdn_wd_usec;
static struct event		*sdn_wd_ev;
static struct log_ratelimit	 sdn_rl = LOG_RATELIMIT_INIT;

/* A decimal number of at least 1 and at most max, or 0 if it is not. */
static uint64_t
sdn_number(const char *s, uint64_t max)
{
	unsigned long long v;
	char *end;

	if (s == NULL || *s < '0' || *s > '9')
		return 0;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return 0;
	return v;
}

/*
 * The address in $NOTIFY_SOCKET: an absolute path, or "@name" for the
 * abstract name "name".  Returns its length for connect(2), 0 if the
 * address is not one of those.
 */
static socklen_t
sdn_address(const char *s, struct sockaddr_un *sun)
{
	size_t len = strlen(s);

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if ((s[0] != '/' && s[0] != '@') || len < 2 ||
	    len > sizeof(sun->sun_path) - (s[0] == '/'))
		return 0;
	memcpy(sun->sun_path, s, len);
	if (s[0] == '@')
		sun->sun_path[0] = '\0';	/* abstract: no NUL after it */
	else
		len++;				/* a path: with its NUL */
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
}

/* $WATCHDOG_USEC, if it is for us. */
static void
sdn_watchdog_env(void)
{
	const char *usec = getenv("WATCHDOG_USEC");
	const char *pid = getenv("WATCHDOG_PID");
	uint64_t v;

	if (usec == NULL)
		return;
	if ((v = sdn_number(usec, UINT64_MAX / 2)) == 0) {
		log_warnx("systemd: WATCHDOG_USEC=%s is not a positive number "
		    "of microseconds: no watchdog", usec);
		return;
	}
	if (pid != NULL && sdn_number(pid, INT_MAX) != (uint64_t)getpid()) {
		log_info("systemd: WATCHDOG_PID=%s is not vhostd's pid %d: no "
		    "watchdog", pid, (int)getpid());
		return;
	}
	sdn_wd_usec = v;
}

void
sdnotify_init(void)
{
	const char *addr = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun;
	socklen_t len;
	int fd = -1;

	if (addr == NULL)
		goto out;
	if ((len = sdn_address(addr, &sun)) == 0) {
		log_warnx("systemd: NOTIFY_SOCKET=%s is neither an absolute "
		    "path nor an abstract \"@name\": no notifications", addr);
		goto out;
	}
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1) {
		log_warn("systemd: socket for NOTIFY_SOCKET %s", addr);
		goto out;
	}
	if (connect(fd, (struct sockaddr *)&sun, len) == -1) {
		log_warn("systemd: connecting to NOTIFY_SOCKET %s", addr);
		close(fd);
		goto out;
	}
	sdn_fd = fd;
	sdn_watchdog_env();
	log_debug("systemd: notifying %s%s", addr, sdn_wd_usec == 0 ? "" :
	    ", with a watchdog");
out:
	/* Workers are started with main's environment: none of this is for
	 * them. */
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
}

bool
sdnotify_enabled(void)
{
	return sdn_fd != -1;
}

uint64_t
sdnotify_watchdog_usec(void)
{
	return sdn_fd == -1 ? 0 : sdn_wd_usec;
}

int
sdnotify_send(const char *fmt, ...)
{
	char msg[SDN_MSG_MAX];
	va_list ap;
	int n;

	if (sdn_fd == -1)
		return 0;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(msg)) {
		log_warnx("systemd: a notification of %d bytes is too long", n);
		return -1;
	}
	/* send(2) is sendto(2) without an address: main's filter allows it
	 * (policy/main.policy). */
	if (send(sdn_fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) == -1) {
		log_rl(&sdn_rl, LOG_WARNING, "systemd: sending \"%.*s\" to "
		    "the service manager: %s", (int)strcspn(msg, "\n"), msg,
		    strerror(errno));
		return -1;
	}
	return 0;
}

static void
sdn_watchdog_tick(evutil_socket_t unused, short ev, void *arg)
{
	(void)sdnotify_send("WATCHDOG=1");
}

int
sdnotify_watchdog_start(struct event_base *base)
{
	uint64_t half = sdnotify_watchdog_usec() / 2;
	struct timeval tv;

	if (half == 0)
		return 0;
	tv.tv_sec = (time_t)(half / 1000000);
	tv.tv_usec = (suseconds_t)(half % 1000000);
	sdn_wd_ev = event_new(base, -1, EV_PERSIST, sdn_watchdog_tick, NULL);
	if (sdn_wd_ev == NULL || event_add(sdn_wd_ev, &tv) == -1) {
		log_warnx("systemd: cannot start the watchdog timer");
		return -1;
	}
	log_info("systemd: watchdog every %" PRIu64 " us, pinged every %"
	    PRIu64 " us", sdn_wd_usec, half);
	return 0;
}

void
sdnotify_close(void)
{
	if (sdn_wd_ev != NULL)
		event_free(sdn_wd_ev);
	sdn_wd_ev = NULL;
	if (sdn_fd != -1)
		close(sdn_fd);
	sdn_fd = -1;
	sdn_wd_usec = 0;
}
