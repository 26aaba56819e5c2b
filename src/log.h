/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The one logging API of vhostd, in the OpenBSD privsep style: log_warn
 * appends strerror(errno), log_warnx does not; fatal/fatalx are for broken
 * invariants of our own and end the process (in a worker: one worker).
 * Every message concerning a device should name its id.  Messages a guest
 * or front-end can trigger repeatedly go through a struct log_ratelimit.
 */
#ifndef VHOSTD_LOG_H
#define VHOSTD_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <syslog.h>
#include <time.h>

#define LOG_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* Where messages go after the level filter: stderr, syslog, or a hook. */
typedef void (*log_sink_fn)(int prio, const char *msg);

void	log_init(bool to_stderr, int level, const char *ident);
void	log_set_level(int level);
int	log_get_level(void);
void	log_set_sink(log_sink_fn sink);
int	log_level_parse(const char *name);	/* -1 if unknown */
const char *log_level_name(int level);

/* From now until log_capture(NULL, 0), warnings and errors are also
 * appended to buf (len bytes, NUL-terminated, one per line), even those
 * below the level: main returns them to vhostctl. */
void	log_capture(char *buf, size_t len);

void	log_msg(int prio, const char *fmt, ...) LOG_PRINTF(2, 3);
void	log_vmsg(int prio, const char *fmt, va_list ap) LOG_PRINTF(2, 0);
void	log_warn(const char *fmt, ...) LOG_PRINTF(1, 2);
void	log_warnx(const char *fmt, ...) LOG_PRINTF(1, 2);
void	log_info(const char *fmt, ...) LOG_PRINTF(1, 2);
void	log_debug(const char *fmt, ...) LOG_PRINTF(1, 2);
__attribute__((noreturn)) void fatal(const char *fmt, ...) LOG_PRINTF(1, 2);
__attribute__((noreturn)) void fatalx(const char *fmt, ...) LOG_PRINTF(1, 2);

/*
 * At most `burst` messages per `interval` seconds pass; the rest are counted
 * and the count is reported with the next message that passes.
 */
struct log_ratelimit {
	unsigned	interval;
	unsigned	burst;
	time_t		window_start;
	unsigned	passed;
	unsigned	suppressed;
};
#define LOG_RATELIMIT_INIT { 5, 10, 0, 0, 0 }

void	log_rl(struct log_ratelimit *rl, int prio, const char *fmt, ...)
	    LOG_PRINTF(3, 4);

#endif
