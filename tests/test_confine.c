/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Integration tests of the sandbox and of access control, against the
 * real vhostd ($VHOSTD) running its workers under the real seccomp
 * policies in kill mode: the confinement /proc shows for main and each
 * worker; a worker made to try a forbidden system call (test-hooks builds
 * only) dies of SIGSYS with the call named in main's log while main and
 * the other VM's device keep serving; log mode (-S) reports and goes on;
 * socket permissions and the uid/gid allow-list; user and group names
 * in a reload, with no NSS lookup after the lockdown.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <poll.h>
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
#include <unistd.h>

#include <cmocka.h>

#include "vuf_daemon.h"
#include "vufront.h"

#define QSIZE		64
#define NOBODY		65534

/* Reads a 64-byte request's worth of entropy; fails the test if not. */
static void
read_some(struct vuf *v)
{
	uint8_t buf[64];
	ssize_t n;

	n = vuf_read_writable(v, 0, sizeof(buf), VUF_ONE, buf,
	    DAEMON_WAIT_MS);
	if (n != (ssize_t)sizeof(buf))
		fail_msg("rng read: %zd: %s", n, vuf_error(v));
}

/* The value of field `key` ("CapEff:") in /proc/pid/status. */
static void
proc_status(pid_t pid, const char *key, char *out, size_t len)
{
	char path[64], line[256];
	FILE *f;

	out[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	assert_non_null(f = fopen(path, "r"));
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, strlen(key)) == 0) {
			snprintf(out, len, "%s", line + strlen(key) +
			    strspn(line + strlen(key), " \t"));
			out[strcspn(out, "\n")] = '\0';
			break;
		}
	fclose(f);
}

static void
assert_confined(pid_t pid, const char *what)
{
	char v[128], want[64];

	proc_status(pid, "CapEff:", v, sizeof(v));
	if (strcmp(v, "0000000000000000") != 0)
		fail_msg("%s %d: CapEff %s", what, (int)pid, v);
	proc_status(pid, "CapPrm:", v, sizeof(v));
	if (strcmp(v, "0000000000000000") != 0)
		fail_msg("%s %d: CapPrm %s", what, (int)pid, v);
	proc_status(pid, "CapBnd:", v, sizeof(v));
	if (strcmp(v, "0000000000000000") != 0)
		fail_msg("%s %d: CapBnd %s", what, (int)pid, v);
	proc_status(pid, "NoNewPrivs:", v, sizeof(v));
	if (strcmp(v, "1") != 0)
		fail_msg("%s %d: NoNewPrivs %s", what, (int)pid, v);
	proc_status(pid, "Seccomp:", v, sizeof(v));
	if (strcmp(v, "2") != 0)
		fail_msg("%s %d: Seccomp %s", what, (int)pid, v);
	snprintf(want, sizeof(want), "%d\t%d\t%d\t%d", NOBODY, NOBODY, NOBODY,
	    NOBODY);
	proc_status(pid, "Uid:", v, sizeof(v));
	if (strcmp(v, want) != 0)
		fail_msg("%s %d: Uid %s, not %s", what, (int)pid, v, want);
	proc_status(pid, "Gid:", v, sizeof(v));
	if (strncmp(v, "65534\t65534\t65534\t65534", 23) != 0)
		fail_msg("%s %d: Gid %s", what, (int)pid, v);
}

/* main and every worker: no capabilities, no new privileges, seccomp
 * filter on, the configured user. */
static void
test_confinement(void **state)
{
	struct daemon *d = *state;
	struct vuf *v[2];
	pid_t kids[8];
	int n, i;

	DAEMON_SKIP_IF_NONE(d);
	snprintf(d->global, sizeof(d->global), ",\n  \"user\": \"nobody\"");
	daemon_add(d, "rng", "vm1-rng", "");
	daemon_add(d, "rng", "vm2-rng", "");
	daemon_start(d);
	v[0] = daemon_open_dev(d->sock[0], QSIZE);
	v[1] = daemon_open_dev(d->sock[1], QSIZE);
	read_some(v[0]);
	read_some(v[1]);
	assert_confined(d->pid, "main");
	n = daemon_children(d, kids, 8);
	assert_int_equal(n, 2);
	for (i = 0; i < n; i++)
		assert_confined(kids[i], "worker");
	/* Workers cannot be ptraced or read through /proc by their peers:
	 * not dumpable. */
	vuf_close(v[0]);
	vuf_close(v[1]);
	daemon_stop(d);
}

#ifdef VHOSTD_TEST_HOOKS
/*
 * The worker of vm1-rng tries `call` at its first kick: it must die of
 * SIGSYS, main must name the call and the device, and main and vm2-rng
 * must go on.  Every new worker takes up the request again and dies the
 * same way: after INST_RESTART_MAX restarts the device is failed, its
 * front-end disconnected and the next one refused.
 */
static void
fault_case(struct daemon *d, const char *call)
{
	char env[64], name[64];
	uint8_t buf[64];
	struct vuf *v1, *v2;

	snprintf(env, sizeof(env), "vm1-rng:%s", call);
	setenv("VHOSTD_TEST_FAULT", env, 1);
	daemon_add(d, "rng", "vm1-rng", "");
	daemon_add(d, "rng", "vm2-rng", "");
	daemon_start(d);
	unsetenv("VHOSTD_TEST_FAULT");
	v1 = daemon_open_dev(d->sock[0], QSIZE);
	v2 = daemon_open_dev(d->sock[1], QSIZE);
	read_some(v2);
	/* The kick that sets off the fault: no answer; restarts, then the
	 * connection goes. */
	assert_int_equal(vuf_read_writable(v1, 0, sizeof(buf), VUF_ONE, buf,
	    1000), -1);
	assert_int_equal(vuf_wait_closed(v1, DAEMON_WAIT_MS), 1);
	snprintf(name, sizeof(name), "system call %s", call);
	if (!daemon_log_has(d, DAEMON_WAIT_MS, "vm1-rng", name, "forbids",
	    (char *)NULL))
		fail_msg("main did not name the forbidden call %s", call);
	if (!daemon_log_has(d, DAEMON_WAIT_MS, "vm1-rng", "killed by signal 31",
	    (char *)NULL))
		fail_msg("main did not report the worker's death by SIGSYS");
	if (!daemon_log_has(d, DAEMON_WAIT_MS, "vm1-rng", "restarting its "
	    "worker", "restart 5 within", (char *)NULL) ||
	    !daemon_log_has(d, DAEMON_WAIT_MS, "vm1-rng", "died 6 times",
	    "device failed", (char *)NULL))
		fail_msg("main did not restart the worker, then fail the "
		    "device");
	assert_int_equal(kill(d->pid, 0), 0);
	read_some(v2);
	read_some(v2);
	vuf_close(v1);
	/* A failed device refuses front-ends for a while. */
	if ((v1 = vuf_connect(d->sock[0], DAEMON_WAIT_MS)) == NULL)
		fail_msg("connect %s: %s", d->sock[0], strerror(errno));
	assert_int_equal(vuf_wait_closed(v1, DAEMON_WAIT_MS), 1);
	if (!daemon_log_has(d, DAEMON_WAIT_MS, "vm1-rng", "refusing",
	    "the device failed", (char *)NULL))
		fail_msg("main did not say why it refused");
	vuf_close(v1);
	vuf_close(v2);
	daemon_stop(d);
}

/*
 * The vsock worker holds sockets main made but may create none: its
 * first packet sets off socket(AF_UNIX, SOCK_STREAM|SOCK_NONBLOCK|
 * SOCK_CLOEXEC), the very call main's own filter (stacked under the
 * worker's) allows for vsock, so only policy/vsock.policy stands in the
 * way.  It must kill the worker; main and the other device go on.
 */
static void
test_fault_vsock_socket(void **state)
{
	struct daemon *d = *state;
	struct vuf_seg seg;
	struct vuf *v;
	char extra[PATH_MAX + 64];
	uint8_t *pkt;

	DAEMON_SKIP_IF_NONE(d);
	setenv("VHOSTD_TEST_FAULT", "vm1-vsock:unix-socket", 1);
	snprintf(extra, sizeof(extra), ", \"guest_cid\": 3, "
	    "\"uds_path\": \"%s/vm1.vsock\"", d->dir);
	daemon_add(d, "vsock", "vm1-vsock", extra);
	daemon_add(d, "rng", "vm2-rng", "");
	daemon_start(d);
	unsetenv("VHOSTD_TEST_FAULT");
	if ((v = vuf_connect(d->sock[0], DAEMON_WAIT_MS)) == NULL)
		fail_msg("connect %s: %s", d->sock[0], strerror(errno));
	if (vuf_setup(v, 3, QSIZE) == -1)
		fail_msg("vsock setup: %s", vuf_error(v));
	/* A 44-byte packet header on tx (queue 1): what it says does not
	 * matter, the fault comes first. */
	seg.gpa = vuf_alloc(v, 0, 44, 8);
	seg.len = 44;
	seg.writable = false;
	assert_non_null(pkt = vuf_gpa_to_host(v, seg.gpa, 44));
	memset(pkt, 0, 44);
	assert_true(vuf_vq_add(v, 1, &seg, 1) >= 0);
	assert_int_equal(vuf_kick(v, 1), 0);
	assert_int_equal(vuf_wait_closed(v, DAEMON_WAIT_MS), 1);
	if (!daemon_log_has(d, DAEMON_WAIT_MS, "vm1-vsock",
	    "system call socket", "forbids", (char *)NULL))
		fail_msg("main did not name socket as forbidden for vsock");
	if (!daemon_log_has(d, DAEMON_WAIT_MS, "vm1-vsock",
	    "killed by signal 31", (char *)NULL))
		fail_msg("main did not report the vsock worker's SIGSYS");
	assert_int_equal(kill(d->pid, 0), 0);
	vuf_close(v);
	v = daemon_open_dev(d->sock[1], QSIZE);
	read_some(v);
	vuf_close(v);
	daemon_stop(d);
}

static void test_fault_open(void **state)
{ DAEMON_SKIP_IF_NONE(*state); fault_case(*state, "open"); }
static void test_fault_socket(void **state)
{ DAEMON_SKIP_IF_NONE(*state); fault_case(*state, "socket"); }
static void test_fault_execve(void **state)
{ DAEMON_SKIP_IF_NONE(*state); fault_case(*state, "execve"); }
static void test_fault_ptrace(void **state)
{ DAEMON_SKIP_IF_NONE(*state); fault_case(*state, "ptrace"); }

/* Log mode (-S): the forbidden call fails with ENOSYS, is reported, and
 * the worker goes on serving. */
static void
test_log_mode(void **state)
{
	struct daemon *d = *state;
	struct vuf *v;

	DAEMON_SKIP_IF_NONE(d);
	setenv("VHOSTD_TEST_FAULT", "vm1-rng:socket", 1);
	d->flags[0] = "-S";
	daemon_add(d, "rng", "vm1-rng", "");
	daemon_start(d);
	unsetenv("VHOSTD_TEST_FAULT");
	v = daemon_open_dev(d->sock[0], QSIZE);
	read_some(v);
	read_some(v);
	if (!daemon_log_has(d, DAEMON_WAIT_MS, "vm1-rng",
	    "system call socket", "ENOSYS", (char *)NULL))
		fail_msg("log mode did not report the call");
	vuf_close(v);
	daemon_stop(d);
}
#else
static void
test_fault_hooks_absent(void **state)
{
	fprintf(stderr, "built without --enable-test-hooks: the forbidden "
	    "system call tests cannot run\n");
	skip();
}
#endif

/* A front-end whose uid is not in allow_uids is refused and logged; one
 * that is, is served. */
static void
test_allow_list(void **state)
{
	struct daemon *d = *state;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct vuf *v;
	pid_t pid;
	int status, fd;
	char c;

	DAEMON_SKIP_IF_NONE(d);
	snprintf(d->global, sizeof(d->global), ",\n  \"user\": \"nobody\"");
	daemon_add(d, "rng", "vm1-rng",
	    ", \"socket_mode\": \"0666\", \"allow_uids\": [0]");
	daemon_start(d);
	assert_true(strlen(d->sock[0]) < sizeof(sun.sun_path));
	memcpy(sun.sun_path, d->sock[0], strlen(d->sock[0]) + 1);
	assert_int_not_equal(pid = fork(), -1);
	if (pid == 0) {
		/* As nobody: the socket's mode lets it connect, vhostd's
		 * allow-list must not let it in. */
		if (setgroups(0, NULL) == -1 || setgid(NOBODY) == -1 ||
		    setuid(NOBODY) == -1)
			_exit(2);
		if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
		    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
			_exit(3);
		/* Closed by vhostd: read gives EOF. */
		_exit(read(fd, &c, 1) == 0 ? 0 : 4);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	if (!daemon_log_has(d, DAEMON_WAIT_MS, "vm1-rng", "refusing",
	    "uid 65534", "allow_uids", (char *)NULL))
		fail_msg("no log line for the refused front-end");
	/* root is on the list. */
	v = daemon_open_dev(d->sock[0], QSIZE);
	read_some(v);
	vuf_close(v);
	daemon_stop(d);
}

/*
 * As nobody, with the supplementary groups g[0..n), connects to the
 * socket at path: 0 if vhostd keeps the connection (it waits for the
 * front-end's first message), 1 if it closes it (refused), 2 on an error
 * of ours.
 */
static int
connect_with_groups(const char *path, const gid_t *g, size_t n)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct pollfd pfd;
	int status, fd;
	pid_t pid;
	char c;

	memcpy(sun.sun_path, path, strlen(path) + 1);
	assert_int_not_equal(pid = fork(), -1);
	if (pid == 0) {
		if (setgroups(n, g) == -1 || setgid(NOBODY) == -1 ||
		    setuid(NOBODY) == -1)
			_exit(2);
		if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
		    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
			_exit(2);
		pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
		if (poll(&pfd, 1, 1000) == 0)
			_exit(0);
		_exit(read(fd, &c, 1) == 0 ? 1 : 2);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* allow_gids: a front-end in the group among 300 others is let in, one
 * not in it is not. */
static void
test_allow_gids_many(void **state)
{
	struct daemon *d = *state;
	gid_t g[301];
	size_t i;

	DAEMON_SKIP_IF_NONE(d);
	snprintf(d->global, sizeof(d->global), ",\n  \"user\": \"nobody\"");
	daemon_add(d, "rng", "vm1-rng",
	    ", \"socket_mode\": \"0666\", \"allow_gids\": [4242]");
	daemon_start(d);
	for (i = 0; i < 300; i++)
		g[i] = 20000 + (gid_t)i;
	g[300] = 4242;
	assert_int_equal(connect_with_groups(d->sock[0], g, 300), 1);
	if (!daemon_log_has(d, DAEMON_WAIT_MS, "vm1-rng", "refusing",
	    "uid 65534", "allow_gids", (char *)NULL))
		fail_msg("no log line for the refused front-end");
	assert_int_equal(connect_with_groups(d->sock[0], g, 301), 0);
	daemon_stop(d);
}

/*
 * Names in a reload, once main is locked down, under a service manager's
 * userdb: vhostd runs in a mount namespace of its own with a
 * /run/systemd/userdb directory, as on a host where systemd runs, so that
 * an NSS lookup would go on to nss-systemd ("passwd: files systemd") and
 * list that directory, which main's filter forbids.  An unknown
 * socket_owner is an error of the file, and main goes on; names in
 * /etc/passwd and /etc/group still work.
 */
static void
test_reload_names(void **state)
{
	struct daemon *d = *state;
	char script[PATH_MAX], wrap[PATH_MAX + 64], extra[128];
	struct vuf *v;
	struct stat st;
	FILE *f;

	DAEMON_SKIP_IF_NONE(d);
	if (getenv("VHOSTD_WRAPPER") != NULL ||
	    access("/usr/bin/unshare", X_OK) != 0)
		skip();
	snprintf(script, sizeof(script), "%s/userdb.sh", d->dir);
	assert_non_null(f = fopen(script, "w"));
	fputs("if [ -d /run/systemd ]; then mount -t tmpfs none /run/systemd; "
	    "else mount -t tmpfs none /run; fi || exit 1\n"
	    "mkdir -p /run/systemd/userdb || exit 1\n"
	    "exec \"$@\"\n", f);
	assert_int_equal(fclose(f), 0);
	snprintf(wrap, sizeof(wrap), "/usr/bin/unshare -m --propagation "
	    "private /bin/sh %s", script);
	setenv("VHOSTD_WRAPPER", wrap, 1);
	snprintf(d->global, sizeof(d->global), ",\n  \"user\": \"nobody\"");
	daemon_add(d, "rng", "vm1-rng", "");
	daemon_start(d);
	unsetenv("VHOSTD_WRAPPER");

	/* An unknown user: the reload is refused, main lives. */
	d->json[0] = '\0';
	d->ndevs = 0;
	daemon_add(d, "rng", "vm1-rng", ", \"socket_owner\": "
	    "\"no-such-user-vhostd\"");
	daemon_write_config(d);
	assert_int_equal(kill(d->pid, SIGHUP), 0);
	if (!daemon_log_has(d, DAEMON_WAIT_MS, "socket_owner: unknown user",
	    "no-such-user-vhostd", "/etc/passwd", (char *)NULL))
		fail_msg("the reload did not refuse the unknown user");
	sleep_ms(200);
	assert_int_equal(kill(d->pid, 0), 0);

	/* An unknown group, likewise. */
	d->json[0] = '\0';
	d->ndevs = 0;
	daemon_add(d, "rng", "vm1-rng", ", \"socket_group\": "
	    "\"no-such-group-vhostd\"");
	daemon_write_config(d);
	assert_int_equal(kill(d->pid, SIGHUP), 0);
	if (!daemon_log_has(d, DAEMON_WAIT_MS, "socket_group: unknown group",
	    "no-such-group-vhostd", (char *)NULL))
		fail_msg("the reload did not refuse the unknown group");

	/* Names of the files: the device is restarted with them. */
	d->json[0] = '\0';
	d->ndevs = 0;
	snprintf(extra, sizeof(extra), ", \"socket_owner\": \"nobody\", "
	    "\"socket_group\": \"%s\"", getgrgid(NOBODY) != NULL ?
	    getgrgid(NOBODY)->gr_name : "nogroup");
	daemon_add(d, "rng", "vm1-rng", extra);
	daemon_write_config(d);
	assert_int_equal(kill(d->pid, SIGHUP), 0);
	if (!daemon_log_has(d, DAEMON_WAIT_MS, "reload: 0 devices added, 0 "
	    "removed, 1 changed", (char *)NULL))
		fail_msg("the reload with known names did not apply");
	assert_int_equal(stat(d->sock[0], &st), 0);
	assert_int_equal(st.st_uid, NOBODY);
	assert_int_equal(st.st_gid, NOBODY);
	v = daemon_open_dev(d->sock[0], QSIZE);
	read_some(v);
	vuf_close(v);
	daemon_stop(d);
}

/* The socket gets the configured group and mode, and is owned by the
 * unprivileged user vhostd runs as (who removes it at exit). */
static void
test_socket_permissions(void **state)
{
	struct daemon *d = *state;
	struct stat st;
	struct group *gr;

	DAEMON_SKIP_IF_NONE(d);
	assert_non_null(gr = getgrnam("daemon"));
	snprintf(d->global, sizeof(d->global), ",\n  \"user\": \"nobody\"");
	daemon_add(d, "rng", "vm1-rng",
	    ", \"socket_group\": \"daemon\", \"socket_mode\": \"0660\"");
	daemon_add(d, "rng", "vm2-rng", "");
	daemon_start(d);
	assert_int_equal(stat(d->sock[0], &st), 0);
	assert_int_equal(st.st_mode & 07777, 0660);
	assert_int_equal(st.st_gid, gr->gr_gid);
	assert_int_equal(st.st_uid, NOBODY);
	assert_int_equal(stat(d->sock[1], &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_uid, NOBODY);
	daemon_stop(d);
}

#define T(f)	cmocka_unit_test_setup_teardown(f, daemon_setup, daemon_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_confinement),
#ifdef VHOSTD_TEST_HOOKS
		T(test_fault_open),
		T(test_fault_socket),
		T(test_fault_vsock_socket),
		T(test_fault_execve),
		T(test_fault_ptrace),
		T(test_log_mode),
#else
		T(test_fault_hooks_absent),
#endif
		T(test_allow_list),
		T(test_allow_gids_many),
		T(test_reload_names),
		T(test_socket_permissions),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "test_confine: needs root (it checks the "
		    "switch to an unprivileged user): skipped\n");
		return 77;
	}
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
