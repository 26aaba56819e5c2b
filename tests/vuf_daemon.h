/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The integration tests' harness around the real vhostd binary ($VHOSTD):
 * a fresh mkdtemp directory per test, a config built device by device,
 * vhostd started in the foreground with its log captured in a file, and
 * stopped with SIGTERM with its exit checked.  Used with cmocka.
 */
#ifndef VUF_DAEMON_H
#define VUF_DAEMON_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "vufront.h"

#define DAEMON_MAX_DEVS	8
/* How long a test waits for vhostd's answer, times VUF_SLOW. */
#define DAEMON_WAIT_MS	(5000 * daemon_slow())

struct daemon {
	char	 dir[64];
	char	 cfg[PATH_MAX];
	char	 log[PATH_MAX];		/* vhostd's stderr */
	char	 global[1024];		/* extra top-level keys: ",\"k\": v" */
	char	 json[8192];		/* the "devices" array, being built */
	char	 sock[DAEMON_MAX_DEVS][PATH_MAX];
	int	 ndevs;
	const char *flags[4];		/* extra command-line flags */
	pid_t	 pid;			/* 0: not running */
};

/* cmocka setup/teardown: *state is a struct daemon, or NULL (and the test
 * skips through DAEMON_SKIP_IF_NONE) when $VHOSTD is not executable. */
int	daemon_setup(void **state);
int	daemon_teardown(void **state);

#define DAEMON_SKIP_IF_NONE(d) do {					\
	if ((d) == NULL)						\
		skip();							\
} while (0)

/* Adds a device of `type` with socket <dir>/<id>.sock and extra JSON keys
 * (",\"k\": v..." or ""). */
void	daemon_add(struct daemon *d, const char *type, const char *id,
	    const char *extra);

/* Writes the config (<dir>/vhostd.json) as it is now: for a reload. */
void	daemon_write_config(struct daemon *d);

/* Writes the config, starts vhostd -f -c CONFIG and waits for every
 * socket and for its "serving" line in the log, which it writes once it is
 * done starting (10 s times VUF_SLOW; so the config may not set a
 * log_level above notice).  With $VHOSTD_WRAPPER set, its words
 * (split at blanks, the first looked up in $PATH) run vhostd: e.g.
 * "valgrind --trace-children=yes" (tests/valgrind.sh).  The wrapper must
 * run vhostd in its own process, as valgrind does, so that d->pid is
 * vhostd's pid, signals reach it and its children are vhostd's workers. */
void	daemon_start(struct daemon *d);

/* SIGTERM; checks exit status 0 and every socket removed (waits 10 s
 * times VUF_SLOW). */
void	daemon_stop(struct daemon *d);

/* $VUF_SLOW (1 to 100, default 1): what the harness's timeouts are
 * multiplied by, for vhostd under a slow wrapper such as valgrind. */
int	daemon_slow(void);

/* True if vhostd's log has a line containing every one of the strings
 * (NULL-terminated), waiting up to timeout_ms for it to appear. */
bool	daemon_log_has(struct daemon *d, int timeout_ms, ...);

/* Copies vhostd's log to stderr (for a failing test). */
void	daemon_log_dump(struct daemon *d);

/* The pids of vhostd's children (its workers), at most max. */
int	daemon_children(struct daemon *d, pid_t *out, int max);

/* The pid of device id's worker (a child of vhostd whose command line is
 * "vhostd --worker <id>"), 0 if none. */
pid_t	daemon_worker_of(struct daemon *d, const char *id);

/* VmRSS of process pid in kB, -1 if unknown. */
long	proc_rss_kb(pid_t pid);

/* True if a line of /proc/<pid>/maps contains `needle` (a library). */
bool	proc_maps_has(pid_t pid, const char *needle);

/* Open fds of process pid; lists them to stderr if `show`. */
int	proc_count_fds(pid_t pid, bool show);

/* True if path is a socket file. */
bool	path_is_socket(const char *path);

/* Waits up to timeout_ms for process pid to hold at most `want` fds (the
 * last close of a connection, the last worker reaped); the count then. */
int	proc_fds_settle(pid_t pid, int want, int timeout_ms);

/* Connects and starts the device as a VMM does; fails the test if not. */
struct vuf *daemon_open_dev(const char *path, uint16_t qsize);

int64_t	now_ms(void);
void	sleep_ms(int ms);

#endif
