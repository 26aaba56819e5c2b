/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Logging for main and workers.  main logs to stderr (-f) or syslog; a
 * worker installs a sink that forwards each line to main over its IPC
 * socket, so that a worker needs no syslog socket of its own.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "util.h"

static bool		 log_stderr = true;
static int		 log_level = LOG_NOTICE;
static log_sink_fn	 log_sink;
static const char	*log_ident = "vhostd";
/* log_capture: warnings and errors also go here, whatever the level. */
static char		*cap_buf;
static size_t		 cap_len, cap_used;

static const struct {
	const char	*name;
	int		 level;
} log_levels[] = {
	{ "error",	LOG_ERR },
	{ "warning",	LOG_WARNING },
	{ "notice",	LOG_NOTICE },
	{ "info",	LOG_INFO },
	{ "debug",	LOG_DEBUG },
};

void
log_init(bool to_stderr, int level, const char *ident)
{
	log_stderr = to_stderr;
	log_level = level;
	if (ident != NULL)
		log_ident = ident;
	if (!to_stderr)
		openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
log_set_level(int level)
{
	if (level < LOG_ERR)
		level = LOG_ERR;
	if (level > LOG_DEBUG)
		level = LOG_DEBUG;
	log_level = level;
}

int
log_get_level(void)
{
	return log_level;
}

void
log_set_sink(log_sink_fn sink)
{
	log_sink = sink;
}

int
log_level_parse(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(log_levels) / sizeof(log_levels[0]); i++)
		if (strcasecmp(name, log_levels[i].name) == 0)
			return log_levels[i].level;
	return -1;
}

const char *
log_level_name(int level)
{
	size_t i;

	for (i = 0; i < sizeof(log_levels) / sizeof(log_levels[0]); i++)
		if (log_levels[i].level == level)
			return log_levels[i].name;
	return "unknown";
}

static void
log_emit(int prio, const char *msg)
{
	int saved = errno;

	if (log_sink != NULL)
		log_sink(prio, msg);
	else if (log_stderr)
		fprintf(stderr, "%s: %s\n", log_ident, msg);
	else
		syslog(prio, "%s", msg);
	errno = saved;
}

void
log_capture(char *buf, size_t len)
{
	cap_buf = len > 0 ? buf : NULL;
	cap_len = len;
	cap_used = 0;
	if (cap_buf != NULL)
		cap_buf[0] = '\0';
}

/* Appends a warning or error to the capture buffer, one line each. */
static void
log_capture_add(int prio, const char *msg)
{
	int n;

	if (cap_buf == NULL || prio > LOG_WARNING || cap_used >= cap_len - 1)
		return;
	n = snprintf(cap_buf + cap_used, cap_len - cap_used, "%s%s",
	    cap_used > 0 ? "\n" : "", msg);
	if (n > 0)
		cap_used += (size_t)n;
	if (cap_used >= cap_len)
		cap_used = cap_len - 1;
	/* A line cut short (here or by log_vmsg's buffer) must not end in
	 * half a UTF-8 character: the text goes into JSON answers. */
	cap_used = util_utf8_trim(cap_buf, cap_used);
	cap_buf[cap_used] = '\0';
}

void
log_vmsg(int prio, const char *fmt, va_list ap)
{
	char buf[1024];

	if (prio > log_level && (cap_buf == NULL || prio > LOG_WARNING))
		return;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	log_capture_add(prio, buf);
	if (prio <= log_level)
		log_emit(prio, buf);
}

void
log_msg(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(prio, fmt, ap);
	va_end(ap);
}

static void log_verr(int, const char *, va_list) LOG_PRINTF(2, 0);

static void
log_verr(int prio, const char *fmt, va_list ap)
{
	char buf[1024];
	int saved = errno;
	size_t n;

	if (prio > log_level && (cap_buf == NULL || prio > LOG_WARNING))
		return;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	snprintf(buf + n, sizeof(buf) - n, ": %s", strerror(saved));
	log_capture_add(prio, buf);
	if (prio <= log_level)
		log_emit(prio, buf);
	errno = saved;
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_verr(LOG_WARNING, fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_WARNING, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_INFO, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_DEBUG, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_verr(LOG_CRIT, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_CRIT, fmt, ap);
	va_end(ap);
	exit(1);
}

void
log_rl(struct log_ratelimit *rl, int prio, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	time_t now;
	size_t n;

	if (prio > log_level)
		return;
	now = time(NULL);
	if (now - rl->window_start >= (time_t)rl->interval) {
		rl->window_start = now;
		rl->passed = 0;
	}
	if (rl->passed >= rl->burst) {
		rl->suppressed++;
		return;
	}
	rl->passed++;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (rl->suppressed > 0) {
		n = strlen(buf);
		snprintf(buf + n, sizeof(buf) - n,
		    " (%u similar messages suppressed)", rl->suppressed);
		rl->suppressed = 0;
	}
	log_emit(prio, buf);
}
