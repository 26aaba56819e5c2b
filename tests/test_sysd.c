/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vhostd under a service manager and next to VMM management software, with
 * the real binary ($VHOSTD) and no systemd: the test plays the manager.
 *  - sd_notify: a datagram socket of ours in $NOTIFY_SOCKET (a path, or an
 *    abstract "@name"); READY=1 must come from vhostd's own pid and only
 *    once every device socket accepts connections, WATCHDOG=1 must keep
 *    coming at half $WATCHDOG_USEC (and never for another $WATCHDOG_PID),
 *    STOPPING=1 on SIGTERM.
 *  - socket activation: listening sockets bound by the test, passed as
 *    fds 3... with $LISTEN_FDS, $LISTEN_FDNAMES and $LISTEN_PID (set in the
 *    child, after fork); a front-end is served through them, by path and
 *    by name, across a restart of vhostd, and to devices set up later by
 *    a reload or vhostctl add; a passed socket that matches no
 *    device, or is no listening socket, stops vhostd with its name logged.
 *  - vhostd --print-capabilities prints valid JSON naming every device
 *    type; the vhost-user description files made by the build follow
 *    QEMU's docs/interop/vhost-user.json and name the installed vhostd.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "device.h"
#include "vuf_daemon.h"
#include "vufront.h"

#define QSIZE		64
#define WAIT_MS		DAEMON_WAIT_MS
#define MAX_PASS	4
#define WD_USEC		200000	/* the watchdog interval we ask for */

/* What the test hands vhostd besides the config. */
struct run {
	const char	*env[8];	/* "NAME=value" to set */
	int		 pass[MAX_PASS];	/* become fds 3, 4, ... */
	int		 npass;
	const char	*names;		/* LISTEN_FDNAMES, or NULL */
	bool		 listen_pid_wrong;	/* LISTEN_PID not vhostd's */
	bool		 watchdog_pid;	/* WATCHDOG_PID: vhostd's */
};

/*
 * The child's side of start(): the passed fds at 3, 4, ... (moved out of
 * the way first, in case one already sits where another must go), every
 * other fd closed, the environment a manager would give, then vhostd.
 */
static void
child_exec(struct daemon *d, const struct run *r)
{
	const char *argv[] = { "vhostd", "-f", "-v", "-c", d->cfg, NULL };
	int hi[MAX_PASS], i, fd;
	char pid[32];

	if ((fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0644)) == -1 ||
	    dup2(fd, STDERR_FILENO) == -1)
		_exit(126);
	for (i = 0; i < r->npass; i++)
		if ((hi[i] = fcntl(r->pass[i], F_DUPFD, 100)) == -1)
			_exit(126);
	for (i = 0; i < r->npass; i++)
		if (dup2(hi[i], 3 + i) == -1)
			_exit(126);
	close_range(3 + (unsigned)r->npass, ~0U, 0);
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	unsetenv("LISTEN_PID");
	for (i = 0; i < 8 && r->env[i] != NULL; i++)
		putenv((char *)r->env[i]);
	/* Only now is vhostd's pid known: ours, kept by exec. */
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	if (r->watchdog_pid)
		setenv("WATCHDOG_PID", pid, 1);
	if (r->npass > 0) {
		snprintf(pid, sizeof(pid), "%d", r->npass);
		setenv("LISTEN_FDS", pid, 1);
		if (r->names != NULL)
			setenv("LISTEN_FDNAMES", r->names, 1);
		snprintf(pid, sizeof(pid), "%d", (int)getpid() +
		    (r->listen_pid_wrong ? 1 : 0));
		setenv("LISTEN_PID", pid, 1);
	}
	execv(getenv("VHOSTD"), (char *const *)argv);
	_exit(127);
}

/* Starts vhostd as a service manager would; does not wait for it. */
static void
start(struct daemon *d, const struct run *r)
{
	daemon_write_config(d);
	assert_int_not_equal(d->pid = fork(), -1);
	if (d->pid == 0)
		child_exec(d, r);
}

/* Waits for vhostd to exit; its exit status, or -1 on a signal. */
static int
wait_exit(struct daemon *d, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	int status;
	pid_t p;

	while ((p = waitpid(d->pid, &status, WNOHANG)) == 0) {
		if (now_ms() > deadline)
			fail_msg("vhostd still running after %d ms",
			    timeout_ms);
		sleep_ms(10);
	}
	assert_int_equal(p, d->pid);
	d->pid = 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* SIGTERM, and vhostd must exit 0. */
static void
stop(struct daemon *d)
{
	int rc;

	assert_int_equal(kill(d->pid, SIGTERM), 0);
	if ((rc = wait_exit(d, WAIT_MS)) != 0) {
		daemon_log_dump(d);
		fail_msg("vhostd exited with %d after SIGTERM", rc);
	}
}

/*
 * True if a socket bound at path is listening, from /proc/net/unix (the
 * flag __SO_ACCEPTCON), without connecting: a connection would be a
 * front-end to vhostd, and would keep the device busy for a moment.
 */
static bool
listening(const char *path)
{
	char line[PATH_MAX + 128];
	size_t n, len = strlen(path);
	unsigned long flags;
	bool found = false;
	FILE *f;

	if ((f = fopen("/proc/net/unix", "r")) == NULL)
		fail_msg("/proc/net/unix: %s", strerror(errno));
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		n = strlen(line);
		if (n <= len || line[n - len - 1] != ' ' ||
		    strcmp(line + n - len, path) != 0)
			continue;
		/* "Num: RefCount Protocol Flags Type St Inode Path" */
		if (sscanf(line, "%*s %*s %*s %lx", &flags) == 1 &&
		    (flags & 0x10000) != 0)
			found = true;
	}
	fclose(f);
	return found;
}

/* A listening stream socket bound at path, as a .socket unit makes. */
static int
listener(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	assert_int_not_equal(fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC,
	    0), -1);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    listen(fd, 16) == -1)
		fail_msg("bind/listen %s: %s", path, strerror(errno));
	/* vhostd's workers run as nobody when we are root: let them and
	 * the front-end in, as SocketMode= would. */
	chmod(path, 0666);
	return fd;
}

/* Reads one rng request through the device at path: it is served. */
static void
served(const char *path)
{
	uint8_t buf[256];
	struct vuf *v;
	ssize_t n;

	v = daemon_open_dev(path, QSIZE);
	n = vuf_read_writable(v, 0, sizeof(buf), VUF_ONE, buf, WAIT_MS);
	if (n != (ssize_t)sizeof(buf))
		fail_msg("rng read through %s: %zd (%s)", path, n,
		    vuf_error(v));
	vuf_close(v);
}

/* ---- sd_notify ---- */

/* Our end of $NOTIFY_SOCKET: a path under d->dir, or abstract. */
static int
notify_socket(struct daemon *d, bool abstract, char *env, size_t len)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	socklen_t alen = sizeof(sun);
	int fd, on = 1;

	assert_int_not_equal(fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC,
	    0), -1);
	if (abstract) {
		snprintf(sun.sun_path + 1, sizeof(sun.sun_path) - 1,
		    "vhostd-test-%d", (int)getpid());
		alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
		    strlen(sun.sun_path + 1));
		snprintf(env, len, "NOTIFY_SOCKET=@%s", sun.sun_path + 1);
	} else {
		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/notify",
		    d->dir);
		snprintf(env, len, "NOTIFY_SOCKET=%s", sun.sun_path);
	}
	if (bind(fd, (struct sockaddr *)&sun, alen) == -1)
		fail_msg("bind notify socket: %s", strerror(errno));
	/* As systemd: the sender's pid comes with each datagram. */
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on,
	    sizeof(on)), 0);
	if (!abstract)
		chmod(sun.sun_path, 0666);
	return fd;
}

/*
 * The next notification within timeout_ms into buf; its sender's pid in
 * *pid.  False if none came.
 */
static bool
notify_recv(int fd, char *buf, size_t len, pid_t *pid, int timeout_ms)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(struct ucred))];
	} cb;
	struct iovec iov = { buf, len - 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
	    .msg_control = cb.buf, .msg_controllen = sizeof(cb.buf) };
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	struct cmsghdr *c;
	struct ucred uc;
	ssize_t n;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if ((n = recvmsg(fd, &mh, 0)) <= 0)
		return false;
	buf[n] = '\0';
	*pid = 0;
	for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET &&
		    c->cmsg_type == SCM_CREDENTIALS) {
			memcpy(&uc, CMSG_DATA(c), sizeof(uc));
			*pid = uc.pid;
		}
	return true;
}

/* 1 if /proc/<pid>/environ names var (a worker must not inherit the
 * manager's variables), 0 if not, -1 if it cannot be read. */
static int
environ_has(pid_t pid, const char *var)
{
	char path[64], buf[16384];
	size_t a, len = strlen(var);
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	for (a = 0; (ssize_t)a < n; a += strlen(buf + a) + 1)
		if (strncmp(buf + a, var, len) == 0 && buf[a + len] == '=')
			return 1;
	return 0;
}

/*
 * (1) READY=1 comes from vhostd itself and only once every device socket
 * accepts connections; then WATCHDOG=1 every half WATCHDOG_USEC while the
 * devices serve; RELOADING=1 with MONOTONIC_USEC, then READY=1, on
 * SIGHUP; STOPPING=1 on SIGTERM.  Workers do not inherit the manager's
 * variables.
 */
static void
test_notify_ready_watchdog(void **state)
{
	struct daemon *d = *state;
	char env[3][160], msg[512];
	struct run r = { .watchdog_pid = true };
	int fd, i, pings = 0, before = 0;
	int64_t t0, last = 0;
	unsigned long long t_us, mono;
	struct timespec ts;
	struct vuf *v;
	pid_t from, w;

	DAEMON_SKIP_IF_NONE(d);
	daemon_add(d, "rng", "vm1-rng", "");
	daemon_add(d, "rng", "vm2-rng", "");
	daemon_add(d, "rng", "vm3-rng", "");
	fd = notify_socket(d, false, env[0], sizeof(env[0]));
	snprintf(env[1], sizeof(env[1]), "WATCHDOG_USEC=%d", WD_USEC);
	r.env[0] = env[0];
	r.env[1] = env[1];
	start(d, &r);

	for (;;) {
		if (!notify_recv(fd, msg, sizeof(msg), &from, WAIT_MS))
			fail_msg("no READY=1 within %d ms", WAIT_MS);
		if (strstr(msg, "READY=1") != NULL)
			break;
		before++;
	}
	/* At READY=1 every socket is there and listening. */
	for (i = 0; i < d->ndevs; i++)
		if (!path_is_socket(d->sock[i]) || !listening(d->sock[i]))
			fail_msg("READY=1 came before %s accepted connections",
			    d->sock[i]);
	assert_int_equal(before, 0);
	assert_int_equal(from, d->pid);
	assert_non_null(strstr(msg, "STATUS=serving 3 devices"));

	/* The watchdog pings keep coming, devices served meanwhile; the
	 * worker of a device has none of the manager's variables (root may
	 * read a worker's environment, which is not dumpable). */
	t0 = now_ms();
	served(d->sock[1]);
	v = daemon_open_dev(d->sock[0], QSIZE);
	while ((w = daemon_worker_of(d, "vm1-rng")) == 0 &&
	    now_ms() - t0 < WAIT_MS)
		sleep_ms(5);
	assert_int_not_equal(w, 0);
	if (getuid() == 0) {
		assert_int_equal(environ_has(w, "NOTIFY_SOCKET"), 0);
		assert_int_equal(environ_has(w, "WATCHDOG_USEC"), 0);
		assert_int_equal(environ_has(w, "WATCHDOG_PID"), 0);
	}
	vuf_close(v);
	while (now_ms() - t0 < 1500) {
		if (!notify_recv(fd, msg, sizeof(msg), &from, 1000))
			break;
		assert_int_equal(from, d->pid);
		if (strcmp(msg, "WATCHDOG=1") == 0) {
			pings++;
			last = now_ms();
		}
	}
	/* 15 at 100 ms; fewer under load, but still coming at the end. */
	if (pings < 5 || now_ms() - last > 2 * WD_USEC / 1000)
		fail_msg("%d WATCHDOG=1 in 1.5 s%s", pings, pings > 0 &&
		    now_ms() - last > 2 * WD_USEC / 1000 ? ", none at the end" :
		    "");
	served(d->sock[2]);

	/* A reload: RELOADING=1 with the CLOCK_MONOTONIC time it began,
	 * then READY=1. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	t_us = (unsigned long long)ts.tv_sec * 1000000 +
	    (unsigned long long)ts.tv_nsec / 1000;
	assert_int_equal(kill(d->pid, SIGHUP), 0);
	do {
		if (!notify_recv(fd, msg, sizeof(msg), &from, WAIT_MS))
			fail_msg("no RELOADING=1 after SIGHUP");
	} while (strcmp(msg, "WATCHDOG=1") == 0);
	if (sscanf(msg, "RELOADING=1\nMONOTONIC_USEC=%llu", &mono) != 1)
		fail_msg("after SIGHUP: \"%s\"", msg);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	assert_true(mono >= t_us && mono <= (unsigned long long)ts.tv_sec *
	    1000000 + (unsigned long long)ts.tv_nsec / 1000);
	do {
		if (!notify_recv(fd, msg, sizeof(msg), &from, WAIT_MS))
			fail_msg("no READY=1 after the reload");
	} while (strcmp(msg, "WATCHDOG=1") == 0);
	assert_non_null(strstr(msg, "READY=1"));

	assert_int_equal(kill(d->pid, SIGTERM), 0);
	do {
		if (!notify_recv(fd, msg, sizeof(msg), &from, WAIT_MS))
			fail_msg("no STOPPING=1 after SIGTERM");
	} while (strcmp(msg, "WATCHDOG=1") == 0);
	assert_string_equal(msg, "STOPPING=1");
	assert_int_equal(wait_exit(d, WAIT_MS), 0);
	close(fd);
}

/*
 * (2) An abstract $NOTIFY_SOCKET ("@name") works too; a $WATCHDOG_PID of
 * another process means no watchdog for vhostd.
 */
static void
test_notify_abstract_other_pid(void **state)
{
	struct daemon *d = *state;
	char env[2][160], msg[512];
	struct run r = { .npass = 0 };
	pid_t from;
	int fd;

	DAEMON_SKIP_IF_NONE(d);
	daemon_add(d, "rng", "vm1-rng", "");
	fd = notify_socket(d, true, env[0], sizeof(env[0]));
	snprintf(env[1], sizeof(env[1]), "WATCHDOG_USEC=%d", WD_USEC / 4);
	r.env[0] = env[0];
	r.env[1] = env[1];
	r.env[2] = "WATCHDOG_PID=1";
	start(d, &r);
	if (!notify_recv(fd, msg, sizeof(msg), &from, WAIT_MS))
		fail_msg("no notification on the abstract socket");
	assert_non_null(strstr(msg, "READY=1"));
	assert_int_equal(from, d->pid);
	served(d->sock[0]);
	/* 50 ms pings would be 10 by now. */
	if (notify_recv(fd, msg, sizeof(msg), &from, 500))
		fail_msg("\"%s\" came though WATCHDOG_PID is not vhostd's",
		    msg);
	assert_true(daemon_log_has(d, 0, "WATCHDOG_PID=1", "no watchdog",
	    NULL));
	stop(d);
	close(fd);
}

/* ---- socket activation ---- */

/*
 * (3) Passed sockets are served: one matched by its path to a device's
 * "socket", one by its name to a device's id (bound elsewhere: vhostd
 * binds nothing at that device's configured path); a third device gets a
 * socket of vhostd's own.  At exit vhostd leaves the passed sockets' files,
 * which are the manager's, and removes its own.  A front-end that connects
 * while vhostd is down waits in the backlog and is served by the next
 * vhostd given the same sockets.
 */
static void
test_activation_served(void **state)
{
	struct daemon *d = *state;
	char other[PATH_MAX];
	struct run r = { .names = "vhostd-devices.socket:vm2-rng" };
	struct stat st0, st1;
	struct vuf *v;
	uint8_t buf[64];

	DAEMON_SKIP_IF_NONE(d);
	daemon_add(d, "rng", "vm1-rng", "");
	daemon_add(d, "rng", "vm2-rng", "");
	daemon_add(d, "rng", "vm3-rng", "");
	snprintf(other, sizeof(other), "%s/elsewhere.sock", d->dir);
	r.pass[0] = listener(d->sock[0]);
	r.pass[1] = listener(other);
	r.npass = 2;
	assert_int_equal(stat(d->sock[0], &st0), 0);
	start(d, &r);
	if (!daemon_log_has(d, WAIT_MS, "serving 3 devices", NULL)) {
		daemon_log_dump(d);
		fail_msg("vhostd did not start with passed sockets");
	}
	served(d->sock[0]);
	served(other);
	served(d->sock[2]);
	assert_false(path_is_socket(d->sock[1]));
	assert_int_equal(stat(d->sock[0], &st1), 0);
	assert_true(st0.st_ino == st1.st_ino);
	assert_true(daemon_log_has(d, 0, "vm1-rng: serving the socket passed "
	    "by systemd", "fd 3", NULL));
	assert_true(daemon_log_has(d, 0, "vm2-rng: serving the socket passed "
	    "by systemd", "fd 4 \"vm2-rng\"", "instead of", NULL));
	stop(d);
	assert_true(path_is_socket(d->sock[0]));
	assert_true(path_is_socket(other));
	assert_false(path_is_socket(d->sock[2]));

	/* A restart of vhostd under a waiting front-end. */
	assert_non_null(v = vuf_connect(d->sock[0], 0));
	start(d, &r);
	if (vuf_setup(v, 1, QSIZE) == -1)
		fail_msg("the front-end that waited: %s", vuf_error(v));
	assert_int_equal(vuf_read_writable(v, 0, sizeof(buf), VUF_ONE, buf,
	    WAIT_MS), sizeof(buf));
	vuf_close(v);
	stop(d);
	close(r.pass[0]);
	close(r.pass[1]);
	unlink(other);
}

/* One request on vhostd's control socket (<dir>/control.sock) and its
 * answer, parsed; the answer must say "ok": true. */
static json_t *
ctl_ok(struct daemon *d, const char *req)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char buf[65536];
	size_t len = 0;
	ssize_t n;
	json_t *j;
	int fd;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/control.sock",
	    d->dir);
	assert_int_not_equal(fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC,
	    0), -1);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)),
	    0);
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	while (len < sizeof(buf) - 1 && memchr(buf, '\n', len) == NULL) {
		if ((n = read(fd, buf + len, sizeof(buf) - 1 - len)) <= 0)
			fail_msg("no answer to %s", req);
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	if ((j = json_loads(buf, JSON_DISABLE_EOF_CHECK, NULL)) == NULL ||
	    !json_is_true(json_object_get(j, "ok"))) {
		daemon_log_dump(d);
		fail_msg("%s: %s", req, buf);
	}
	return j;
}

/*
 * (3b) The passed sockets stay vhostd's for the devices set up later: a
 * device changed by a reload, one removed and added again, and a new
 * device added with the path of a socket passed for a device since
 * removed are each served through the passed socket (none binds its own
 * against the manager's live socket), and the files stay at exit.
 */
static void
test_activation_later(void **state)
{
	struct daemon *d = *state;
	char other[PATH_MAX], req[PATH_MAX + 256];
	struct run r = { .names = "vhostd-devices.socket:vm2-rng" };
	json_t *j;

	DAEMON_SKIP_IF_NONE(d);
	daemon_add(d, "rng", "vm1-rng", "");
	daemon_add(d, "rng", "vm2-rng", "");
	snprintf(other, sizeof(other), "%s/elsewhere.sock", d->dir);
	r.pass[0] = listener(d->sock[0]);
	r.pass[1] = listener(other);
	r.npass = 2;
	start(d, &r);
	if (!daemon_log_has(d, WAIT_MS, "serving 2 devices", NULL)) {
		daemon_log_dump(d);
		fail_msg("vhostd did not start with passed sockets");
	}
	served(d->sock[0]);
	served(other);

	/* A reload that changes both devices. */
	d->json[0] = '\0';
	d->ndevs = 0;
	daemon_add(d, "rng", "vm1-rng", ", \"max_bytes\": 100000");
	daemon_add(d, "rng", "vm2-rng", ", \"max_bytes\": 100000");
	daemon_write_config(d);
	j = ctl_ok(d, "{\"version\": 1, \"cmd\": \"reload\"}\n");
	assert_int_equal(json_array_size(json_object_get(j, "changed")), 2);
	json_decref(j);
	served(d->sock[0]);
	served(other);

	/* Removed and added again. */
	json_decref(ctl_ok(d, "{\"version\": 1, \"cmd\": \"remove\", \"id\": "
	    "\"vm2-rng\"}\n"));
	json_decref(ctl_ok(d, "{\"version\": 1, \"cmd\": \"add\", \"device\": "
	    "\"{\\\"id\\\": \\\"vm2-rng\\\", \\\"type\\\": \\\"rng\\\", "
	    "\\\"socket\\\": \\\"vm2-rng.sock\\\"}\"}\n"));
	served(other);
	assert_false(path_is_socket(d->sock[1]));

	/* Another device on the path of a removed one's socket. */
	json_decref(ctl_ok(d, "{\"version\": 1, \"cmd\": \"remove\", \"id\": "
	    "\"vm1-rng\"}\n"));
	snprintf(req, sizeof(req), "{\"version\": 1, \"cmd\": \"add\", "
	    "\"device\": \"{\\\"id\\\": \\\"vm9-rng\\\", \\\"type\\\": "
	    "\\\"rng\\\", \\\"socket\\\": \\\"%s\\\"}\"}\n", d->sock[0]);
	json_decref(ctl_ok(d, req));
	served(d->sock[0]);
	assert_true(daemon_log_has(d, 0, "vm9-rng: serving the socket passed "
	    "by systemd", "fd 3", NULL));
	stop(d);
	assert_true(path_is_socket(d->sock[0]));
	assert_true(path_is_socket(other));
	close(r.pass[0]);
	close(r.pass[1]);
	unlink(other);
}

/*
 * Starts vhostd with r and expects it to exit 1 before it serves anything,
 * with a log line holding each of the strings (at most 4, NULL-terminated).
 */
static void
expect_refused(struct daemon *d, const struct run *r, ...)
{
	const char *want[6];
	va_list ap;
	int i, n = 0;

	va_start(ap, r);
	while (n < 5 && (want[n] = va_arg(ap, const char *)) != NULL)
		n++;
	va_end(ap);
	want[n] = NULL;
	start(d, r);
	if ((i = wait_exit(d, WAIT_MS)) != 1) {
		daemon_log_dump(d);
		fail_msg("vhostd exited with %d, not 1", i);
	}
	if (!daemon_log_has(d, 0, want[0], n > 1 ? want[1] : NULL,
	    n > 2 ? want[2] : NULL, n > 3 ? want[3] : NULL, NULL)) {
		daemon_log_dump(d);
		fail_msg("no log line with \"%s\"...", want[0]);
	}
	/* It served nothing before it refused. */
	assert_false(daemon_log_has(d, 0, "listening on", NULL));
	assert_false(daemon_log_has(d, 0, "serving the socket", NULL));
}

/*
 * (4) A passed socket that matches no device is an error naming it, and
 * so are two for one device, one for a device that connects, one that is
 * no listening socket, and a count of names that is not the count of
 * sockets.
 */
static void
test_activation_refused(void **state)
{
	struct daemon *d = *state;
	char stray[PATH_MAX];
	struct run r = { .names = "vm1-rng:stray" };
	int p[2];

	DAEMON_SKIP_IF_NONE(d);
	daemon_add(d, "rng", "vm1-rng", "");
	daemon_add(d, "rng", "vm2-rng", ",\"connect\": true");
	snprintf(stray, sizeof(stray), "%s/stray.sock", d->dir);
	r.pass[0] = listener(d->sock[0]);
	r.pass[1] = listener(stray);
	r.npass = 2;
	expect_refused(d, &r, "passed socket fd 4 \"stray\"", stray,
	    "matches no device", NULL);
	assert_true(daemon_log_has(d, 0, "do not match the devices", NULL));

	/* Without names, by its path alone. */
	r.names = NULL;
	expect_refused(d, &r, "passed socket fd 4 (", stray,
	    "matches no device: no device has the socket", NULL);

	/* Two for one device. */
	r.names = "vm1-rng:vm1-rng";
	expect_refused(d, &r, "passed sockets fd 3 \"vm1-rng\"",
	    "and fd 4 \"vm1-rng\"", "are both for device vm1-rng", NULL);

	/* Named after a device that connects rather than listens. */
	r.names = "vm1-rng:vm2-rng";
	expect_refused(d, &r, "fd 4 \"vm2-rng\"", "is for device vm2-rng",
	    "\"connect\": true", NULL);

	/* Not a listening socket: a pipe. */
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	r.pass[1] = p[0];
	r.names = "vm1-rng:pipe";
	expect_refused(d, &r, "passed fd 4 \"pipe\"",
	    "is not a listening AF_UNIX stream socket", NULL);
	close(p[0]);
	close(p[1]);

	/* Three names for two sockets. */
	r.pass[1] = r.pass[0];
	r.npass = 1;
	r.names = "a:b:c";
	expect_refused(d, &r, "LISTEN_FDNAMES=a:b:c gives 3 names for 1 "
	    "socket", NULL);
	close(r.pass[0]);
	unlink(d->sock[0]);
	unlink(stray);
}

/*
 * (5) Sockets passed for another pid (LISTEN_PID not vhostd's) are not
 * vhostd's: it binds its own socket and serves.
 */
static void
test_activation_other_pid(void **state)
{
	struct daemon *d = *state;
	char stray[PATH_MAX];
	struct run r = { .names = "stray", .listen_pid_wrong = true };

	DAEMON_SKIP_IF_NONE(d);
	daemon_add(d, "rng", "vm1-rng", "");
	snprintf(stray, sizeof(stray), "%s/stray.sock", d->dir);
	r.pass[0] = listener(stray);
	r.npass = 1;
	start(d, &r);
	if (!daemon_log_has(d, WAIT_MS, "serving 1 device", NULL)) {
		daemon_log_dump(d);
		fail_msg("vhostd did not start");
	}
	assert_true(daemon_log_has(d, 0, "LISTEN_PID=", "not vhostd's pid",
	    NULL));
	served(d->sock[0]);
	stop(d);
	assert_false(path_is_socket(d->sock[0]));
	close(r.pass[0]);
	unlink(stray);
}

/* ---- QEMU's back-end conventions ---- */

/* Runs $VHOSTD with argv[1..] and returns what it printed on stdout
 * (malloc'ed); *status is its exit status. */
static char *
run_capture(const char *const *args, int *status)
{
	char *out = NULL;
	size_t len = 0, cap = 0;
	ssize_t n;
	int p[2], st;
	pid_t pid;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_not_equal(pid = fork(), -1);
	if (pid == 0) {
		dup2(p[1], STDOUT_FILENO);
		execv(getenv("VHOSTD"), (char *const *)args);
		_exit(127);
	}
	close(p[1]);
	for (;;) {
		if (len + 1024 > cap) {
			cap = cap * 2 + 4096;
			assert_non_null(out = realloc(out, cap));
		}
		if ((n = read(p[0], out + len, cap - len - 1)) <= 0)
			break;
		len += (size_t)n;
	}
	out[len] = '\0';
	close(p[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	*status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	return out;
}

/* True if array arr (of strings) holds s. */
static bool
array_has(json_t *arr, const char *s)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
			return true;
	return false;
}

/*
 * (6) --print-capabilities prints one JSON object and exits 0, whatever
 * else is on the command line (no configuration is read): "types" lists
 * every device type, "features" is an array of strings.
 */
static void
test_print_capabilities(void **state)
{
	const char *args[] = { "vhostd", "-c", "/nonexistent/vhostd.json",
	    "--print-capabilities", "-f", NULL };
	json_error_t e;
	json_t *caps, *types, *features, *v;
	size_t i;
	char *out;
	int status;

	if (getenv("VHOSTD") == NULL || access(getenv("VHOSTD"), X_OK) != 0) {
		print_message("VHOSTD unset or not executable: skipped\n");
		skip();
	}
	out = run_capture(args, &status);
	assert_int_equal(status, 0);
	if ((caps = json_loads(out, JSON_REJECT_DUPLICATES, &e)) == NULL)
		fail_msg("--print-capabilities: not JSON (%d:%d: %s): %s",
		    e.line, e.column, e.text, out);
	assert_true(json_is_object(caps));
	assert_true(json_is_array(types = json_object_get(caps, "types")));
	assert_true(json_is_array(features = json_object_get(caps,
	    "features")));
	json_array_foreach(features, i, v)
		assert_true(json_is_string(v));
	for (i = 0; dev_registry[i] != NULL; i++)
		if (!array_has(types, dev_registry[i]->name))
			fail_msg("--print-capabilities: no type \"%s\": %s",
			    dev_registry[i]->name, out);
	assert_int_equal(json_array_size(types), i);
	json_decref(caps);
	free(out);
}

/* QEMU's VHostUserBackendType (docs/interop/vhost-user.json). */
static const char *const schema_types[] = {
	"9p", "balloon", "block", "caif", "console", "crypto", "gpu", "input",
	"net", "rng", "rpmsg", "rproc-serial", "scsi", "vsock", "fs", NULL
};

static bool
schema_has(const char *type)
{
	size_t i;

	for (i = 0; schema_types[i] != NULL; i++)
		if (strcmp(schema_types[i], type) == 0)
			return true;
	return false;
}

/*
 * Checks one description file against the schema's VhostUserBackend:
 * "description" and "binary" strings, "type" of VHostUserBackendType,
 * optional "tags" of strings, nothing else; "binary" the installed vhostd.
 * Returns its type (owned by the returned object, which the caller frees).
 */
static json_t *
check_description(const char *path, const char **type)
{
	json_error_t e;
	json_t *o, *v;
	const char *key;
	size_t i;

	if ((o = json_load_file(path, JSON_REJECT_DUPLICATES, &e)) == NULL)
		fail_msg("%s:%d:%d: %s", path, e.line, e.column, e.text);
	if (!json_is_object(o))
		fail_msg("%s: not an object", path);
	json_object_foreach(o, key, v)
		if (strcmp(key, "description") != 0 &&
		    strcmp(key, "type") != 0 && strcmp(key, "binary") != 0 &&
		    strcmp(key, "tags") != 0)
			fail_msg("%s: member \"%s\" is not in the schema", path,
			    key);
	if (!json_is_string(v = json_object_get(o, "description")) ||
	    json_string_length(v) == 0)
		fail_msg("%s: no \"description\" string", path);
	if (!json_is_string(v = json_object_get(o, "type")) ||
	    !schema_has(json_string_value(v)))
		fail_msg("%s: \"type\" is not a VHostUserBackendType", path);
	*type = json_string_value(v);
	if (!json_is_string(v = json_object_get(o, "binary")))
		fail_msg("%s: no \"binary\" string", path);
	if (strcmp(json_string_value(v), VHOSTD_INSTALLED) != 0)
		fail_msg("%s: \"binary\" is %s, not the installed %s", path,
		    json_string_value(v), VHOSTD_INSTALLED);
	if ((v = json_object_get(o, "tags")) != NULL) {
		if (!json_is_array(v))
			fail_msg("%s: \"tags\" is not an array", path);
		for (i = 0; i < json_array_size(v); i++)
			if (!json_is_string(json_array_get(v, i)))
				fail_msg("%s: tags[%zu] is not a string", path,
				    i);
	}
	return o;
}

/*
 * (7) The build's description files: each valid, one per device type the
 * schema knows (named 50-vhostd-<type>.json), none for a type it does
 * not; every type also one that --print-capabilities lists.
 */
static void
test_description_files(void **state)
{
	char path[PATH_MAX];
	const char *type;
	struct dirent *de;
	size_t i, nfiles = 0, want = 0;
	json_t *o;
	DIR *dir;

	if ((dir = opendir(VHOSTUSER_BUILT)) == NULL)
		fail_msg("%s: %s (make builds it)", VHOSTUSER_BUILT,
		    strerror(errno));
	while ((de = readdir(dir)) != NULL) {
		if (strstr(de->d_name, ".json") == NULL ||
		    strcmp(strstr(de->d_name, ".json"), ".json") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", VHOSTUSER_BUILT,
		    de->d_name);
		o = check_description(path, &type);
		if (dev_lookup(type) == NULL)
			fail_msg("%s: type \"%s\" is no vhostd device type",
			    path, type);
		snprintf(path, sizeof(path), "50-vhostd-%s.json", type);
		if (strcmp(de->d_name, path) != 0)
			fail_msg("%s/%s: type %s, so its name should be %s",
			    VHOSTUSER_BUILT, de->d_name, type, path);
		json_decref(o);
		nfiles++;
	}
	closedir(dir);
	for (i = 0; dev_registry[i] != NULL; i++) {
		snprintf(path, sizeof(path), "%s/50-vhostd-%s.json",
		    VHOSTUSER_BUILT, dev_registry[i]->name);
		if (schema_has(dev_registry[i]->name)) {
			want++;
			if (access(path, R_OK) != 0)
				fail_msg("no %s for device type %s", path,
				    dev_registry[i]->name);
		}
	}
	assert_int_equal(nfiles, want);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_notify_ready_watchdog,
		    daemon_setup, daemon_teardown),
		cmocka_unit_test_setup_teardown(test_notify_abstract_other_pid,
		    daemon_setup, daemon_teardown),
		cmocka_unit_test_setup_teardown(test_activation_served,
		    daemon_setup, daemon_teardown),
		cmocka_unit_test_setup_teardown(test_activation_later,
		    daemon_setup, daemon_teardown),
		cmocka_unit_test_setup_teardown(test_activation_refused,
		    daemon_setup, daemon_teardown),
		cmocka_unit_test_setup_teardown(test_activation_other_pid,
		    daemon_setup, daemon_teardown),
		cmocka_unit_test(test_print_capabilities),
		cmocka_unit_test(test_description_files),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
