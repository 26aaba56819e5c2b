/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The integration tests' harness around the real vhostd binary (see
 * vuf_daemon.h).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "vuf_daemon.h"

int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

int
daemon_slow(void)
{
	const char *env = getenv("VUF_SLOW");
	long v;

	if (env == NULL || *env == '\0')
		return 1;
	v = strtol(env, NULL, 10);
	return v < 1 ? 1 : v > 100 ? 100 : (int)v;
}

int
daemon_setup(void **state)
{
	struct daemon *d;

	if (getenv("VHOSTD") == NULL || access(getenv("VHOSTD"), X_OK) != 0) {
		fprintf(stderr, "VHOSTD unset or not executable: skipped\n");
		*state = NULL;
		return 0;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return -1;
	strcpy(d->dir, "/tmp/vit-XXXXXX");
	if (mkdtemp(d->dir) == NULL) {
		free(d);
		return -1;
	}
	snprintf(d->log, sizeof(d->log), "%s/vhostd.log", d->dir);
	*state = d;
	return 0;
}

int
daemon_teardown(void **state)
{
	struct daemon *d = *state;
	struct dirent *de;
	char path[PATH_MAX];
	DIR *dir;
	int status;

	if (d == NULL)
		return 0;
	if (d->pid > 0) {
		/* The test failed half-way: show why, then clean up. */
		daemon_log_dump(d);
		kill(d->pid, SIGKILL);
		waitpid(d->pid, &status, 0);
	}
	if ((dir = opendir(d->dir)) != NULL) {
		while ((de = readdir(dir)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", d->dir,
			    de->d_name);
			unlink(path);
		}
		closedir(dir);
	}
	rmdir(d->dir);
	free(d);
	return 0;
}

void
daemon_add(struct daemon *d, const char *type, const char *id,
    const char *extra)
{
	char path[PATH_MAX];
	size_t len = strlen(d->json);

	assert_true(d->ndevs < DAEMON_MAX_DEVS);
	snprintf(d->json + len, sizeof(d->json) - len,
	    "%s\n    {\"id\": \"%s\", \"type\": \"%s\", \"socket\": "
	    "\"%s.sock\"%s}", d->ndevs > 0 ? "," : "", id, type, id, extra);
	snprintf(path, sizeof(path), "%s/%s.sock", d->dir, id);
	memcpy(d->sock[d->ndevs], path, sizeof(path));
	d->ndevs++;
}

bool
path_is_socket(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

#define DAEMON_WRAP_MAX	48	/* words of $VHOSTD_WRAPPER */

/*
 * Splits $VHOSTD_WRAPPER at blanks into argv (at most max words, in buf):
 * the number of words, 0 if it is unset or blank, -1 if it is too long.
 */
static int
wrapper_words(char *buf, size_t len, const char **argv, int max)
{
	const char *env = getenv("VHOSTD_WRAPPER");
	char *w, *save;
	int n = 0;

	if (env == NULL)
		return 0;
	if (strlen(env) >= len)
		return -1;
	strcpy(buf, env);
	for (w = strtok_r(buf, " \t\n", &save); w != NULL;
	    w = strtok_r(NULL, " \t\n", &save)) {
		if (n == max)
			return -1;
		argv[n++] = w;
	}
	return n;
}

void
daemon_write_config(struct daemon *d)
{
	FILE *f;

	snprintf(d->cfg, sizeof(d->cfg), "%s/vhostd.json", d->dir);
	assert_non_null(f = fopen(d->cfg, "w"));
	fprintf(f, "{\n  \"runtime_dir\": \"%s\"%s,\n  \"devices\": [%s\n  ]\n"
	    "}\n", d->dir, d->global, d->json);
	assert_int_equal(fclose(f), 0);
}

/* The lines of d's log in which vhostd said it started serving. */
static int
serving_lines(struct daemon *d)
{
	char line[2048];
	int n = 0;
	FILE *f;

	if ((f = fopen(d->log, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "vhostd: vhostd ", 15) == 0 &&
		    strstr(line, " serving ") != NULL)
			n++;
	fclose(f);
	return n;
}

void
daemon_start(struct daemon *d)
{
	const char *verbose = getenv("VUF_VERBOSE");
	const char *argv[DAEMON_WRAP_MAX + 12];
	char wrap[4096];
	int64_t deadline;
	int i, n, nwrap, status, fd, served;

	daemon_write_config(d);

	if ((nwrap = wrapper_words(wrap, sizeof(wrap), argv,
	    DAEMON_WRAP_MAX)) == -1)
		fail_msg("VHOSTD_WRAPPER is longer than %zu characters or "
		    "%d words", sizeof(wrap) - 1, DAEMON_WRAP_MAX);
	n = nwrap;
	/* Under a wrapper, vhostd's argv[0] is its path. */
	argv[n++] = nwrap > 0 ? getenv("VHOSTD") : "vhostd";
	argv[n++] = "-f";
	if (verbose != NULL && *verbose != '\0' && *verbose != '0')
		argv[n++] = "-v";
	for (i = 0; i < 4 && d->flags[i] != NULL; i++)
		argv[n++] = d->flags[i];
	argv[n++] = "-c";
	argv[n++] = d->cfg;
	argv[n] = NULL;

	served = serving_lines(d);
	assert_int_not_equal(d->pid = fork(), -1);
	if (d->pid == 0) {
		if ((fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0644))
		    != -1)
			dup2(fd, STDERR_FILENO);
		if (nwrap > 0)
			execvp(argv[0], (char *const *)argv);
		else
			execv(getenv("VHOSTD"), (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", nwrap > 0 ? argv[0] :
		    getenv("VHOSTD"), strerror(errno));
		_exit(127);
	}
	/* Up: every socket there, and main's "serving" line, which it logs
	 * once done starting (after binding the sockets it opens its control
	 * socket and signal fds and locks itself down). */
	deadline = now_ms() + 10000 * daemon_slow();
	for (;;) {
		for (i = 0; i < d->ndevs && path_is_socket(d->sock[i]); i++)
			;
		if (i == d->ndevs && serving_lines(d) > served)
			return;
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			d->pid = 0;
			daemon_log_dump(d);
			fail_msg("vhostd exited (status %#x) %s%s", status,
			    i < d->ndevs ? "before creating " : "while starting",
			    i < d->ndevs ? d->sock[i] : "");
		}
		if (now_ms() > deadline) {
			daemon_log_dump(d);
			if (i < d->ndevs)
				fail_msg("no socket %s after %d s", d->sock[i],
				    10 * daemon_slow());
			fail_msg("vhostd did not log \"serving\" within %d s",
			    10 * daemon_slow());
		}
		sleep_ms(10);
	}
}

void
daemon_stop(struct daemon *d)
{
	int64_t deadline = now_ms() + 10000 * daemon_slow();
	pid_t r;
	int i, status;

	assert_int_equal(kill(d->pid, SIGTERM), 0);
	while ((r = waitpid(d->pid, &status, WNOHANG)) == 0) {
		if (now_ms() > deadline)
			fail_msg("vhostd still running %d s after SIGTERM",
			    10 * daemon_slow());
		sleep_ms(10);
	}
	assert_int_equal(r, d->pid);
	d->pid = 0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		daemon_log_dump(d);
	if (!WIFEXITED(status))
		fail_msg("vhostd ended by signal %d", WTERMSIG(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	for (i = 0; i < d->ndevs; i++)
		if (access(d->sock[i], F_OK) == 0)
			fail_msg("%s left behind", d->sock[i]);
}

static bool
line_has_all(const char *line, va_list ap)
{
	const char *s;

	while ((s = va_arg(ap, const char *)) != NULL)
		if (strstr(line, s) == NULL)
			return false;
	return true;
}

bool
daemon_log_has(struct daemon *d, int timeout_ms, ...)
{
	int64_t deadline = now_ms() + timeout_ms;
	char line[2048];
	va_list ap;
	bool found;
	FILE *f;

	for (;;) {
		found = false;
		if ((f = fopen(d->log, "r")) != NULL) {
			while (!found && fgets(line, sizeof(line), f) != NULL) {
				va_start(ap, timeout_ms);
				found = line_has_all(line, ap);
				va_end(ap);
			}
			fclose(f);
		}
		if (found || now_ms() > deadline)
			return found;
		sleep_ms(20);
	}
}

void
daemon_log_dump(struct daemon *d)
{
	char line[2048];
	FILE *f;

	if ((f = fopen(d->log, "r")) == NULL)
		return;
	fprintf(stderr, "---- vhostd log %s\n", d->log);
	while (fgets(line, sizeof(line), f) != NULL)
		fputs(line, stderr);
	fprintf(stderr, "----\n");
	fclose(f);
}

int
daemon_children(struct daemon *d, pid_t *out, int max)
{
	char path[64], buf[4096];
	char *p, *end;
	int n = 0;
	long v;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)d->pid,
	    (int)d->pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	if (fgets(buf, sizeof(buf), f) != NULL)
		for (p = buf; n < max; p = end) {
			v = strtol(p, &end, 10);
			if (end == p)
				break;
			out[n++] = (pid_t)v;
		}
	fclose(f);
	return n;
}

pid_t
daemon_worker_of(struct daemon *d, const char *id)
{
	pid_t kids[1024];
	char path[64], cmd[1024];
	int i, n, fd;
	ssize_t len;
	size_t a;

	n = daemon_children(d, kids, 1024);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)kids[i]);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
			continue;
		len = read(fd, cmd, sizeof(cmd) - 1);
		close(fd);
		if (len <= 0)
			continue;
		cmd[len] = '\0';
		/* "vhostd\0--worker\0<id>\0", or under valgrind
		 * "valgrind.bin\0<path>\0--worker\0<id>\0": "--worker" and
		 * the id anywhere. */
		for (a = 0; (ssize_t)a < len; a += strlen(cmd + a) + 1)
			if ((ssize_t)(a + 9) < len &&
			    strcmp(cmd + a, "--worker") == 0 &&
			    strcmp(cmd + a + 9, id) == 0)
				return kids[i];
	}
	return 0;
}

long
proc_rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "VmRSS:", 6) == 0)
			kb = strtol(line + 6, NULL, 10);
	fclose(f);
	return kb;
}

bool
proc_maps_has(pid_t pid, const char *needle)
{
	char path[64], line[512];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return false;
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

int
proc_count_fds(pid_t pid, bool show)
{
	char path[64], link[PATH_MAX], target[PATH_MAX];
	struct dirent *de;
	DIR *dir;
	ssize_t n;
	int count = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	if ((dir = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		count++;
		if (!show)
			continue;
		snprintf(link, sizeof(link), "%s/%s", path, de->d_name);
		if ((n = readlink(link, target, sizeof(target) - 1)) == -1)
			n = 0;
		target[n] = '\0';
		fprintf(stderr, "  fd %s -> %s\n", de->d_name, target);
	}
	closedir(dir);
	return count;
}

int
proc_fds_settle(pid_t pid, int want, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	int n;

	for (;;) {
		n = proc_count_fds(pid, false);
		if (n <= want || now_ms() >= deadline)
			return n;
		sleep_ms(20);
	}
}

struct vuf *
daemon_open_dev(const char *path, uint16_t qsize)
{
	struct vuf *v;

	if ((v = vuf_connect(path, DAEMON_WAIT_MS)) == NULL)
		fail_msg("connect %s: %s", path, strerror(errno));
	if (vuf_setup(v, 1, qsize) == -1)
		fail_msg("setup on %s: %s", path, vuf_error(v));
	return v;
}
