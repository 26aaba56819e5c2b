/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the sandbox (src/sandbox.c): the policy parser's errors,
 * each naming its file and line; every policy compiled in from policy/
 * passing the check; and the real lockdown of forked children under the
 * real policies: allowed calls work, forbidden ones kill by SIGSYS after
 * the report ran (or fail with ENOSYS in log mode), and /proc shows no
 * capabilities, no-new-privs, seccomp filtering, the new user and limits.
 * The user-switch tests need root and are skipped without it.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "sandbox.h"

#define NOBODY		65534
#define CHILD_NOFILE	64

/*
 * This program's own policy table (it replaces the one in libvhostd.a):
 * broken policies for the parser, then every real one from policy/.
 */
const struct sandbox_policy sandbox_policies[] = {
	{ "t-ok",
	    "# a comment line, then a blank one\n"
	    "\n"
	    "read\t\t\t# plain\n"
	    "mmap arg2 & PROT_EXEC == 0 arg3 != MAP_FIXED # two conditions\n"
	    "socket arg0 == AF_UNIX arg1 == SOCK_STREAM|SOCK_CLOEXEC # ORed\n"
	    "ioctl arg1 == 0x5401 # a number\n"
	    "close arg0 >= 3 # a comparison\n"
	    "@include t-leaf # an include\n"
	    "@include t-mid # the same leaf again, through another\n"
	    "@include-if-sanitizers t-leaf # followed in ASan builds only\n"
	    "write # no newline at the end" },
	{ "t-mid", "@include t-leaf\nfstat # size of files\n" },
	{ "t-leaf", "getpid # logs\n" },
	{ "t-badsys", "read # ok\nfrobnicate # no such call\n" },
	{ "t-nocomment", "read # ok\n\nwrite\n" },
	{ "t-emptycomment", "read #   \n" },
	{ "t-badop", "mmap arg2 =~ 3 # no such operator\n" },
	{ "t-badarg", "mmap arg6 == 3 # no seventh argument\n" },
	{ "t-shortcond", "mmap arg2 == # no value\n" },
	{ "t-badmask", "mmap arg2 & PROT_EXEC != 0 # mask needs ==\n" },
	{ "t-neverholds", "mmap arg2 & PROT_EXEC == PROT_READ # never\n" },
	{ "t-badconst", "mmap arg2 & PROT_BOGUS == 0 # unknown\n" },
	{ "t-badnum", "mmap arg2 == 12abc # not a number\n" },
	{ "t-samearg", "fcntl arg1 >= 1 arg1 <= 4 # one arg twice\n" },
	{ "t-loop-a", "read # ok\n@include t-loop-b\n" },
	{ "t-loop-b", "write # ok\n\n@include t-loop-a\n" },
	{ "t-self", "@include t-self\n" },
	{ "t-noinc", "read # ok\n@include t-missing\n" },
	{ "t-baddir", "@includ common\n" },
	{ "t-incargs", "@include common rng\n" },
	{ "t-ctl", "read # a \001 control character\n" },
	{ "t-long", "read # "
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "\n" },
	{ "t-d1", "@include t-d2\n" },
	{ "t-d2", "@include t-d3\n" },
	{ "t-d3", "@include t-d4\n" },
	{ "t-d4", "@include t-d5\n" },
	{ "t-d5", "read # too deep\n" },
#include "policies.inc"
	{ NULL, NULL },
};

/* The report pipe: the SIGSYS handler writes the call's name to it. */
static int rep[2] = { -1, -1 };
/* The parent tells a waiting child to go on through this one. */
static int ctl[2] = { -1, -1 };

static void
report(long nr, const char *name)
{
	char buf[64];
	size_t n = strlen(name);

	if (n > sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	memcpy(buf, name, n);
	buf[n++] = '\n';
	(void)write(rep[1], buf, n);
}

/* Checks policy `name` and expects the error `want` (NULL: none). */
static void
check_policy(const char *name, const char *want)
{
	char err[512] = "";
	int rc;

	rc = sandbox_policy_check(name, err, sizeof(err));
	if (want == NULL) {
		if (rc != 0)
			fail_msg("policy %s: unexpected error: %s", name, err);
		return;
	}
	if (rc != -1)
		fail_msg("policy %s: accepted, expected \"%s\"", name, want);
	if (strstr(err, want) == NULL)
		fail_msg("policy %s: error \"%s\", expected \"%s\"", name,
		    err, want);
}

static void
test_parse_ok(void **state)
{
	check_policy("t-ok", NULL);
	check_policy("t-mid", NULL);
}

static void
test_parse_errors(void **state)
{
	check_policy("t-badsys", "policy/t-badsys.policy:2: unknown system "
	    "call 'frobnicate'");
	check_policy("t-nocomment", "policy/t-nocomment.policy:3: rule for "
	    "'write' has no comment");
	check_policy("t-emptycomment", "policy/t-emptycomment.policy:1: rule "
	    "for 'read' has no comment");
	check_policy("t-badop", "policy/t-badop.policy:1: bad condition on "
	    "arg2: unknown operator '=~'");
	check_policy("t-badarg", "policy/t-badarg.policy:1: bad condition at "
	    "'arg6'");
	check_policy("t-shortcond", "policy/t-shortcond.policy:1: incomplete "
	    "condition on arg2");
	check_policy("t-badmask", "policy/t-badmask.policy:1: bad condition "
	    "on arg2");
	check_policy("t-neverholds", "policy/t-neverholds.policy:1: condition "
	    "on arg2 can never hold");
	check_policy("t-badconst", "policy/t-badconst.policy:1: unknown "
	    "constant 'PROT_BOGUS'");
	check_policy("t-badnum", "policy/t-badnum.policy:1: bad number "
	    "'12abc'");
	check_policy("t-samearg", "policy/t-samearg.policy:1: two conditions "
	    "on arg1");
	check_policy("t-ctl", "policy/t-ctl.policy:1: control or non-ASCII "
	    "character 0x01");
	check_policy("t-long", "policy/t-long.policy:1: line longer than");
	check_policy("t-baddir", "policy/t-baddir.policy:1: unknown "
	    "directive '@includ'");
	check_policy("t-incargs", "policy/t-incargs.policy:1: @include takes "
	    "one policy name");
	check_policy("no-such-policy", "no policy named 'no-such-policy'");
}

static void
test_include_errors(void **state)
{
	check_policy("t-loop-a", "policy/t-loop-b.policy:3: @include loop: "
	    "'t-loop-a' includes itself");
	check_policy("t-self", "policy/t-self.policy:1: @include loop: "
	    "'t-self' includes itself");
	check_policy("t-noinc", "policy/t-noinc.policy:2: unknown policy "
	    "'t-missing'");
	check_policy("t-d1", "policy/t-d4.policy:1: @include nested deeper "
	    "than");
	check_policy("t-d2", NULL);
}

/* Every policy of policy/ parses and libseccomp takes every rule. */
static void
test_real_policies(void **state)
{
	static const char *const want[] = {
		"common", "main", "rng", "sanitizer", "sanitizer-main",
	};
	unsigned i, n = 0, k;

	for (i = 0; sandbox_policies[i].name != NULL; i++) {
		if (strncmp(sandbox_policies[i].name, "t-", 2) == 0)
			continue;
		check_policy(sandbox_policies[i].name, NULL);
		n++;
	}
	for (k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
		for (i = 0; sandbox_policies[i].name != NULL; i++)
			if (strcmp(sandbox_policies[i].name, want[k]) == 0)
				break;
		if (sandbox_policies[i].name == NULL)
			fail_msg("policy %s is not compiled in", want[k]);
	}
	assert_true(n >= sizeof(want) / sizeof(want[0]));
}

static void
test_syscall_name(void **state)
{
	assert_string_equal(sandbox_syscall_name(SYS_read), "read");
	assert_string_equal(sandbox_syscall_name(SYS_mmap), "mmap");
	assert_string_equal(sandbox_syscall_name(SYS_ptrace), "ptrace");
	assert_string_equal(sandbox_syscall_name(-1), "?");
	assert_string_equal(sandbox_syscall_name(100000), "?");
}

static int
setup(void **state)
{
	if (pipe2(rep, O_CLOEXEC) == -1 || pipe2(ctl, O_CLOEXEC) == -1)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	close(rep[0]);
	close(rep[1]);
	close(ctl[0]);
	close(ctl[1]);
	return 0;
}

/* In a child: locks down as an rng worker; on failure says why and exits. */
static void
child_lockdown(enum sandbox_mode mode, bool change, const int *extra,
    unsigned nextra)
{
	struct sandbox_creds c = {
		.change = change, .uid = NOBODY, .gid = NOBODY, .user = NULL,
	};
	int keep[8] = { rep[1], ctl[0] };
	unsigned n = 2, i;
	char err[256];

	for (i = 0; i < nextra && n < 8; i++)
		keep[n++] = extra[i];
	if (sandbox_lockdown_worker(keep, n, CHILD_NOFILE, &c, "rng", mode,
	    report, err, sizeof(err)) == -1) {
		/* Not stderr: RLIMIT_FSIZE 0 would kill us writing to a
		 * log file. */
		(void)write(rep[1], "ERR ", 4);
		(void)write(rep[1], err, strlen(err));
		(void)write(rep[1], "\n", 1);
		_exit(90);
	}
}

/* Reads what the child wrote to the report pipe (it is gone by now). */
static void
read_reports(char *buf, size_t len)
{
	ssize_t n;
	size_t off = 0;
	int fl = fcntl(rep[0], F_GETFL);

	fcntl(rep[0], F_SETFL, fl | O_NONBLOCK);
	while (off < len - 1 &&
	    (n = read(rep[0], buf + off, len - 1 - off)) > 0)
		off += (size_t)n;
	buf[off] = '\0';
	fcntl(rep[0], F_SETFL, fl);
}

static int
wait_child(pid_t pid, char *reports, size_t len)
{
	int status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	read_reports(reports, len);
	if (strncmp(reports, "ERR ", 4) == 0)
		fail_msg("lockdown failed in the child: %s", reports + 4);
	return status;
}

/* The child's exit must be a normal one with status 0. */
static void
expect_exit0(int status, const char *reports)
{
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("child: status 0x%x (%s %d), reports \"%s\"", status,
		    WIFSIGNALED(status) ? "signal" : "exit",
		    WIFSIGNALED(status) ? WTERMSIG(status) :
		    WEXITSTATUS(status), reports);
}

/* The child must have died of SIGSYS after reporting `name`. */
static void
expect_sigsys(int status, const char *reports, const char *name)
{
	char line[64];

	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGSYS)
		fail_msg("child: status 0x%x, not killed by SIGSYS (reports "
		    "\"%s\")", status, reports);
	snprintf(line, sizeof(line), "%s\n", name);
	if (strstr(reports, line) == NULL)
		fail_msg("child: report of %s missing (reports \"%s\")", name,
		    reports);
}

static void
test_worker_allowed(void **state)
{
	char buf[4096], out[64];
	void *p;
	pid_t pid;
	int status;

	if ((pid = fork()) == 0) {
		child_lockdown(SANDBOX_KILL, false, NULL, 0);
		if (getrandom(buf, 64, 0) != 64)
			_exit(1);
		p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE |
		    MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			_exit(2);
		memset(p, 1, 8192);
		if (munmap(p, 8192) == -1 || getpid() <= 0)
			_exit(3);
		if ((p = malloc(1 << 20)) == NULL)
			_exit(4);
		free(p);
		/* A polled worker's loop gives its core to the others. */
		if (sched_yield() != 0)
			_exit(5);
		_exit(0);
	}
	assert_true(pid > 0);
	status = wait_child(pid, out, sizeof(out));
	expect_exit0(status, out);
	assert_string_equal(out, "");
}

enum forbidden {
	F_MMAP_EXEC, F_MPROTECT_EXEC, F_SOCKET, F_OPEN, F_EXECVE, F_PTRACE,
	F_FORK, F_SETAFFINITY,
};

/* Makes forbidden call f; returns only if it did not kill. */
static long
forbidden_call(enum forbidden f)
{
	static char *const argv[] = { "true", NULL };
	static char page[8192] __attribute__((aligned(4096)));

	switch (f) {
	case F_MMAP_EXEC:
		return (long)mmap(NULL, 4096, PROT_READ | PROT_EXEC,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	case F_MPROTECT_EXEC:
		return mprotect(page, 4096, PROT_READ | PROT_EXEC);
	case F_SOCKET:
		return socket(AF_INET, SOCK_STREAM, 0);
	case F_OPEN:
		return open("/etc/passwd", O_RDONLY);
	case F_EXECVE:
		return execve("/bin/true", argv, argv + 1);
	case F_PTRACE:
		return ptrace(PTRACE_TRACEME, 0, NULL, NULL);
	case F_FORK:
		return syscall(SYS_fork);
	case F_SETAFFINITY:
		/* A worker pins itself before its lockdown, never after. */
		return syscall(SYS_sched_setaffinity, 0, 0, NULL);
	}
	return 0;
}

static void
kill_case(enum forbidden f, const char *name)
{
	char out[256];
	pid_t pid;
	int status;

	if ((pid = fork()) == 0) {
		child_lockdown(SANDBOX_KILL, false, NULL, 0);
		forbidden_call(f);
		_exit(0);
	}
	assert_true(pid > 0);
	status = wait_child(pid, out, sizeof(out));
	expect_sigsys(status, out, name);
}

static void
test_worker_kill(void **state)
{
	kill_case(F_MMAP_EXEC, "mmap");
	kill_case(F_MPROTECT_EXEC, "mprotect");
	kill_case(F_SOCKET, "socket");
	kill_case(F_OPEN, "openat");
	kill_case(F_EXECVE, "execve");
	kill_case(F_PTRACE, "ptrace");
	kill_case(F_FORK, "fork");
	kill_case(F_SETAFFINITY, "sched_setaffinity");
}

/* Log mode: each forbidden call fails with ENOSYS and the process goes
 * on. */
static void
test_worker_log(void **state)
{
	static const enum forbidden fs[] = {
		F_MMAP_EXEC, F_SOCKET, F_OPEN, F_PTRACE,
	};
	char out[256];
	pid_t pid;
	unsigned i;
	long r;
	int status;

	if ((pid = fork()) == 0) {
		child_lockdown(SANDBOX_LOG, false, NULL, 0);
		for (i = 0; i < sizeof(fs) / sizeof(fs[0]); i++) {
			errno = 0;
			r = forbidden_call(fs[i]);
			if (!(r == -1 || (fs[i] == F_MMAP_EXEC &&
			    (void *)r == MAP_FAILED)) || errno != ENOSYS)
				_exit(10 + (int)i);
		}
		(void)write(rep[1], "went on\n", 8);
		_exit(0);
	}
	assert_true(pid > 0);
	status = wait_child(pid, out, sizeof(out));
	expect_exit0(status, out);
	assert_string_equal(out, "mmap\nsocket\nopenat\nptrace\nwent on\n");
}

/* Finds "Key:\t..." in a /proc status-like text; returns the value. */
static const char *
field(const char *text, const char *key, char *val, size_t len)
{
	const char *p = text, *e;
	size_t klen = strlen(key);

	for (;;) {
		if (strncmp(p, key, klen) == 0 && p[klen] == ':') {
			p += klen + 1;
			while (*p == ' ' || *p == '\t')
				p++;
			e = strchr(p, '\n');
			if (e == NULL)
				e = p + strlen(p);
			snprintf(val, len, "%.*s", (int)(e - p), p);
			return val;
		}
		if ((p = strchr(p, '\n')) == NULL)
			break;
		p++;
	}
	fail_msg("no %s in status", key);
	return NULL;
}

static void
read_proc(pid_t pid, const char *what, char *buf, size_t len)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
	assert_true((fd = open(path, O_RDONLY | O_CLOEXEC)) != -1);
	n = read(fd, buf, len - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	close(fd);
}

/* A line of /proc/pid/limits: "Max open files   64   64   files". */
static void
expect_limit(const char *limits, const char *name, const char *soft,
    const char *hard)
{
	const char *p = strstr(limits, name);
	char s[32], h[32];

	if (p == NULL)
		fail_msg("no \"%s\" in limits", name);
	if (sscanf(p + strlen(name), "%31s %31s", s, h) != 2)
		fail_msg("bad limits line for %s", name);
	assert_string_equal(s, soft);
	assert_string_equal(h, hard);
}

static void
test_worker_status(void **state)
{
	char status_txt[4096], limits[4096], v[128], out[256], c;
	pid_t pid;
	int status;

	if (geteuid() != 0)
		skip();
	if ((pid = fork()) == 0) {
		child_lockdown(SANDBOX_KILL, true, NULL, 0);
		(void)write(rep[1], "ready\n", 6);
		if (read(ctl[0], &c, 1) != 1)
			_exit(1);
		_exit(0);
	}
	assert_true(pid > 0);
	/* Wait for the child to be locked down. */
	assert_int_equal(read(rep[0], out, 6), 6);
	if (strncmp(out, "ready\n", 6) != 0) {
		(void)write(ctl[1], "x", 1);
		status = wait_child(pid, out + 6, sizeof(out) - 6);
		fail_msg("child did not lock down: %.6s%s", out, out + 6);
	}
	read_proc(pid, "status", status_txt, sizeof(status_txt));
	read_proc(pid, "limits", limits, sizeof(limits));
	assert_int_equal(write(ctl[1], "x", 1), 1);
	status = wait_child(pid, out, sizeof(out));
	expect_exit0(status, out);

	assert_string_equal(field(status_txt, "CapEff", v, sizeof(v)),
	    "0000000000000000");
	assert_string_equal(field(status_txt, "CapPrm", v, sizeof(v)),
	    "0000000000000000");
	assert_string_equal(field(status_txt, "CapInh", v, sizeof(v)),
	    "0000000000000000");
	assert_string_equal(field(status_txt, "CapBnd", v, sizeof(v)),
	    "0000000000000000");
	assert_string_equal(field(status_txt, "CapAmb", v, sizeof(v)),
	    "0000000000000000");
	assert_string_equal(field(status_txt, "NoNewPrivs", v, sizeof(v)),
	    "1");
	assert_string_equal(field(status_txt, "Seccomp", v, sizeof(v)), "2");
	assert_string_equal(field(status_txt, "Uid", v, sizeof(v)),
	    "65534\t65534\t65534\t65534");
	assert_string_equal(field(status_txt, "Gid", v, sizeof(v)),
	    "65534\t65534\t65534\t65534");
	assert_string_equal(field(status_txt, "Groups", v, sizeof(v)), "");
	expect_limit(limits, "Max processes", "0", "0");
	expect_limit(limits, "Max file size", "0", "0");
	expect_limit(limits, "Max core file size", "0", "0");
	expect_limit(limits, "Max open files", "64", "64");
}

/* Only 0-2 and the fds to keep survive. */
static void
test_worker_fds(void **state)
{
	static const int probe[] = { 10, 11, 40, 63 };
	int keep[] = { 11, 63 };
	char out[256];
	pid_t pid;
	unsigned i;
	int fd, status;

	if ((pid = fork()) == 0) {
		if ((fd = open("/dev/null", O_RDONLY)) == -1)
			_exit(1);
		for (i = 0; i < sizeof(probe) / sizeof(probe[0]); i++)
			if (dup2(fd, probe[i]) == -1)
				_exit(2);
		child_lockdown(SANDBOX_KILL, false, keep, 2);
		if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
			_exit(3);
		if (fcntl(10, F_GETFD) != -1 || errno != EBADF)
			_exit(4);
		if (fcntl(40, F_GETFD) != -1 || errno != EBADF)
			_exit(5);
		if (fcntl(11, F_GETFD) == -1 || fcntl(63, F_GETFD) == -1)
			_exit(6);
		if (fcntl(rep[1], F_GETFD) == -1 || fcntl(ctl[0], F_GETFD) ==
		    -1)
			_exit(7);
		if (fcntl(rep[0], F_GETFD) != -1 || fcntl(ctl[1], F_GETFD) !=
		    -1)
			_exit(8);
		if (fcntl(2, F_GETFD) == -1)
			_exit(9);
		_exit(0);
	}
	assert_true(pid > 0);
	status = wait_child(pid, out, sizeof(out));
	expect_exit0(status, out);
}

/* A fd to keep that is not open is the caller's bug: refused. */
static void
test_worker_bad_keep(void **state)
{
	int keep[] = { 200 };
	char err[256] = "", out[256];
	pid_t pid;
	int status;

	if ((pid = fork()) == 0) {
		if (sandbox_lockdown_worker(keep, 1, 64, NULL, "rng",
		    SANDBOX_KILL, report, err, sizeof(err)) != -1)
			_exit(1);
		(void)write(rep[1], err, strlen(err));
		_exit(0);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	read_reports(out, sizeof(out));
	expect_exit0(status, out);
	assert_string_equal(out, "fd 200 to keep is not open");
}

/* An unknown policy fails the lockdown (the caller then exits). */
static void
test_worker_bad_policy(void **state)
{
	char err[256] = "", out[256];
	pid_t pid;
	int status;

	if ((pid = fork()) == 0) {
		int keep[] = { rep[1] };

		if (sandbox_lockdown_worker(keep, 1, 64, NULL, "nope",
		    SANDBOX_KILL, report, err, sizeof(err)) != -1)
			_exit(1);
		(void)write(rep[1], err, strlen(err));
		_exit(0);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	read_reports(out, sizeof(out));
	expect_exit0(status, out);
	assert_string_equal(out, "no policy named 'nope' is compiled in");
}

/* In a child: locks down as main; on failure says why and exits. */
static void
child_lockdown_main(enum sandbox_mode mode)
{
	struct sandbox_creds c = {
		.change = geteuid() == 0, .uid = NOBODY, .gid = NOBODY,
		.user = NULL,
	};
	char err[256];

	if (sandbox_lockdown_main(&c, mode, report, err, sizeof(err)) == -1) {
		(void)write(rep[1], "ERR ", 4);
		(void)write(rep[1], err, strlen(err));
		(void)write(rep[1], "\n", 1);
		_exit(90);
	}
}

/* main may vfork a worker and make a socketpair; not fork (a copy of
 * main), nor open a TCP socket. */
static void
test_main_lockdown(void **state)
{
	char out[256];
	pid_t pid, w;
	int sv[2], status;

	if ((pid = fork()) == 0) {
		child_lockdown_main(SANDBOX_KILL);
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
		    sv) == -1)
			_exit(1);
		if ((w = vfork()) == 0)
			_exit(7);
		if (w == -1 || waitpid(w, &status, 0) != w ||
		    !WIFEXITED(status) || WEXITSTATUS(status) != 7)
			_exit(2);
		(void)write(rep[1], "forked\n", 7);
		forbidden_call(F_SOCKET);
		_exit(0);
	}
	assert_true(pid > 0);
	status = wait_child(pid, out, sizeof(out));
	expect_sigsys(status, out, "socket");
	assert_non_null(strstr(out, "forked\n"));

	if ((pid = fork()) == 0) {
		child_lockdown_main(SANDBOX_KILL);
		(void)fork();
		_exit(0);
	}
	assert_true(pid > 0);
	status = wait_child(pid, out, sizeof(out));
	expect_sigsys(status, out, "clone");
}

/*
 * Under main's filter (which a new worker runs under until its own
 * lockdown) a process may pin itself, as a polled worker does, but not
 * another process; and yield, as a locked-down polled worker does.
 */
static void
test_main_affinity(void **state)
{
	cpu_set_t set;
	char out[256];
	pid_t pid;
	int status;

	assert_int_equal(sched_getaffinity(0, sizeof(set), &set), 0);
	if ((pid = fork()) == 0) {
		child_lockdown_main(SANDBOX_KILL);
		if (sched_setaffinity(0, sizeof(set), &set) != 0 ||
		    sched_yield() != 0)
			_exit(1);
		(void)write(rep[1], "pinned\n", 7);
		(void)syscall(SYS_sched_setaffinity, getppid(), sizeof(set),
		    &set);
		_exit(0);
	}
	assert_true(pid > 0);
	status = wait_child(pid, out, sizeof(out));
	expect_sigsys(status, out, "sched_setaffinity");
	assert_non_null(strstr(out, "pinned\n"));
}

static void
test_main_status(void **state)
{
	char status_txt[4096], v[128], out[256], c;
	pid_t pid;
	int status;

	if (geteuid() != 0)
		skip();
	if ((pid = fork()) == 0) {
		child_lockdown_main(SANDBOX_KILL);
		(void)write(rep[1], "ready\n", 6);
		if (read(ctl[0], &c, 1) != 1)
			_exit(1);
		_exit(0);
	}
	assert_true(pid > 0);
	assert_int_equal(read(rep[0], out, 6), 6);
	if (strncmp(out, "ready\n", 6) != 0) {
		(void)write(ctl[1], "x", 1);
		status = wait_child(pid, out + 6, sizeof(out) - 6);
		fail_msg("child did not lock down: %.6s%s", out, out + 6);
	}
	read_proc(pid, "status", status_txt, sizeof(status_txt));
	assert_int_equal(write(ctl[1], "x", 1), 1);
	status = wait_child(pid, out, sizeof(out));
	expect_exit0(status, out);
	assert_string_equal(field(status_txt, "CapEff", v, sizeof(v)),
	    "0000000000000000");
	assert_string_equal(field(status_txt, "CapPrm", v, sizeof(v)),
	    "0000000000000000");
	assert_string_equal(field(status_txt, "CapBnd", v, sizeof(v)),
	    "0000000000000000");
	assert_string_equal(field(status_txt, "NoNewPrivs", v, sizeof(v)),
	    "1");
	assert_string_equal(field(status_txt, "Seccomp", v, sizeof(v)), "2");
	assert_string_equal(field(status_txt, "Uid", v, sizeof(v)),
	    "65534\t65534\t65534\t65534");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_ok),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_include_errors),
		cmocka_unit_test(test_real_policies),
		cmocka_unit_test(test_syscall_name),
		cmocka_unit_test_setup_teardown(test_worker_allowed, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_worker_kill, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_worker_log, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_worker_status, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_worker_fds, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_worker_bad_keep, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_worker_bad_policy, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_main_lockdown, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_main_affinity, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_main_status, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
