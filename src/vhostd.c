/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vhostd: one server for many vhost-user devices of many VMs.  This file is
 * main's entry point: options, the configuration, the listening sockets,
 * signals and the event loop.  The same binary re-executed with --worker
 * becomes one device instance's worker (worker.c).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "caps.h"
#include "cfg.h"
#include "ctl.h"
#include "devset.h"
#include "inst.h"
#include "ipc.h"
#include "log.h"
#include "sandbox.h"
#include "sdlisten.h"
#include "sdnotify.h"
#include "util.h"
#include "worker.h"

#define SHUTDOWN_REAP_MS	3000
/* What main's fds are estimated at: this many per device instance (its
 * socket, a front-end's connection, its worker's channel, memory regions,
 * the rings' eventfds, host resources), and this many besides (stdio, the
 * event loop, syslog, our own executable). */
#define NOFILE_PER_DEV		16
#define NOFILE_MARGIN		64

static struct event_base	*base;
static bool			 foreground;
static int			 report_fd = -1;	/* see main_seccomp_report */

static void
usage(FILE *f)
{
	fprintf(f, "usage: vhostd [-fhnSVv] [-c file]\n"
	    "       vhostd --print-capabilities\n"
	    "  -c file  configuration file (default %s)\n"
	    "  -f       stay in the foreground and log to stderr\n"
	    "  -n       check the configuration and exit\n"
	    "  -S       seccomp log mode: report forbidden system calls "
	    "instead of killing\n"
	    "  -v       more verbose logging (repeatable)\n"
	    "  -V       print the version and exit\n"
	    "  -h       print this help and exit\n", CFG_DEFAULT_PATH);
}

/*
 * SIGSYS handler's report for main's own filter; async-signal-safe: one
 * write(2) to stderr in the foreground, else one datagram on report_fd, a
 * socket connected to the syslog socket before lockdown (syslog(3) itself
 * takes a lock the trapped call may hold).
 */
static void
main_seccomp_report(long nr, const char *name)
{
	char buf[192];
	const char *s = name;
	char num[24], *p = num + sizeof(num);
	size_t len = 0;
	unsigned long v = nr < 0 ? 0 : (unsigned long)nr;

	/* No snprintf: not async-signal-safe. */
	*--p = '\0';
	do
		*--p = (char)('0' + v % 10);
	while ((v /= 10) != 0 && p > num);
#define PUT(str) for (s = (str); *s != '\0' && len < sizeof(buf) - 1; s++) \
		buf[len++] = *s
	PUT(foreground ? "vhostd: " : "<26>vhostd: ");
	PUT("main made the system call ");
	PUT(name);
	PUT(" (");
	PUT(p);
	PUT("), which its seccomp policy forbids\n");
#undef PUT
	if (foreground)
		(void)!write(STDERR_FILENO, buf, len);
	else if (report_fd != -1)
		(void)!send(report_fd, buf, len, MSG_DONTWAIT);
}

/* In the background: a datagram socket to syslogd for that report. */
static void
open_report_fd(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	snprintf(sun.sun_path, sizeof(sun.sun_path), "/dev/log");
	report_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (report_fd != -1 && connect(report_fd, (struct sockaddr *)&sun,
	    sizeof(sun)) == -1) {
		close(report_fd);
		report_fd = -1;
	}
}

/*
 * Who main and the workers run as once set up: the configured user;
 * without one, "nobody" when started as root, else whoever started us.
 */
static int
run_as(const struct vhostd_cfg *cfg, struct sandbox_creds *c, char *name,
    size_t len)
{
	struct passwd *pw;

	memset(c, 0, sizeof(*c));
	c->uid = getuid();
	c->gid = getgid();
	if (cfg->user_set) {
		c->uid = cfg->uid;
		c->gid = cfg->gid;
		if ((pw = getpwuid(cfg->uid)) != NULL)
			snprintf(name, len, "%s", pw->pw_name);
		else
			name[0] = '\0';
	} else if (geteuid() == 0) {
		if ((pw = getpwnam("nobody")) == NULL) {
			log_warnx("no \"user\" configured and no user "
			    "\"nobody\" to fall back on");
			return -1;
		}
		log_info("no \"user\" configured: running as nobody");
		c->uid = pw->pw_uid;
		c->gid = pw->pw_gid;
		snprintf(name, len, "%s", pw->pw_name);
	} else
		return 0;
	if (geteuid() != 0) {
		if (c->uid != getuid() || c->gid != getgid()) {
			log_warnx("cannot become uid %u gid %u: vhostd was "
			    "not started as root", (unsigned)c->uid,
			    (unsigned)c->gid);
			return -1;
		}
		return 0;
	}
	c->change = true;
	c->user = name[0] != '\0' ? name : NULL;
	return 0;
}

/* A limit for a log line: its number, or "unlimited". */
static const char *
rlim_str(rlim_t v, char *buf, size_t len)
{
	if (v == RLIM_INFINITY)
		snprintf(buf, len, "unlimited");
	else
		snprintf(buf, len, "%llu", (unsigned long long)v);
	return buf;
}

/*
 * main holds about ten fds for each connected front-end, so the usual soft
 * RLIMIT_NOFILE of 1024 refused front-ends from the 81st or so on.  main
 * waits with epoll, never select(2), so it may take what the hard limit
 * allows; it warns if even that is short of what `ndevs` devices may need.
 * Workers set their own limit when they lock down.
 */
static void
raise_nofile(size_t ndevs)
{
	struct rlimit rl;
	rlim_t was, need = (rlim_t)ndevs * NOFILE_PER_DEV + NOFILE_MARGIN;
	char b1[24], b2[24], b3[24];

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1) {
		log_warn("getrlimit RLIMIT_NOFILE");
		return;
	}
	was = rl.rlim_cur;
	if (rl.rlim_cur != rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
			log_warn("raising the soft RLIMIT_NOFILE from %s to "
			    "the hard limit %s", rlim_str(was, b1, sizeof(b1)),
			    rlim_str(rl.rlim_max, b2, sizeof(b2)));
			rl.rlim_cur = was;
		}
	}
	log_debug("RLIMIT_NOFILE: soft limit %s (was %s), hard limit %s",
	    rlim_str(rl.rlim_cur, b1, sizeof(b1)), rlim_str(was, b2,
	    sizeof(b2)), rlim_str(rl.rlim_max, b3, sizeof(b3)));
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need)
		log_warnx("the hard RLIMIT_NOFILE, %s, is below the %llu fds "
		    "that %zu device%s may need (%d each and %d more): "
		    "front-ends will be refused once main runs out; raise it "
		    "(ulimit -Hn, systemd's LimitNOFILE=)",
		    rlim_str(rl.rlim_max, b1, sizeof(b1)),
		    (unsigned long long)need, ndevs, ndevs == 1 ? "" : "s",
		    NOFILE_PER_DEV, NOFILE_MARGIN);
}

/*
 * With poll cores, main keeps off them, and so do the interrupt-mode
 * workers it starts, which inherit its affinity; a polled worker pins
 * itself to its own core.  Before the lockdown (main's filter allows
 * sched_setaffinity only for the new workers' own use).
 */
static int
leave_poll_cores(const struct vhostd_cfg *cfg)
{
	char a[256], b[256];

	if (!cfg->has_poll_set)
		return 0;
	if (sched_setaffinity(0, sizeof(cfg->main_set), &cfg->main_set) ==
	    -1) {
		log_warn("cannot move main to CPUs %s, off the poll cores %s",
		    cfg_cpulist(&cfg->main_set, a, sizeof(a)),
		    cfg_cpulist(&cfg->poll_set, b, sizeof(b)));
		return -1;
	}
	log_info("main and interrupt-mode workers run on CPUs %s; poll cores "
	    "%s", cfg_cpulist(&cfg->main_set, a, sizeof(a)),
	    cfg_cpulist(&cfg->poll_set, b, sizeof(b)));
	return 0;
}

/* -n: every seccomp policy the configuration needs must parse. */
static int
check_policies(const struct vhostd_cfg *cfg)
{
	char err[256];
	size_t i, j;
	int rc = 0;

	if (sandbox_policy_check("main", err, sizeof(err)) == -1) {
		fprintf(stderr, "%s\n", err);
		rc = -1;
	}
	for (i = 0; i < cfg->ndevs; i++) {
		for (j = 0; j < i; j++)
			if (cfg->devs[j].ops == cfg->devs[i].ops)
				break;
		if (j < i)
			continue;
		if (sandbox_policy_check(cfg->devs[i].ops->name, err,
		    sizeof(err)) == -1) {
			fprintf(stderr, "%s\n", err);
			rc = -1;
		}
	}
	return rc;
}

static void
on_stop(evutil_socket_t sig, short ev, void *arg)
{
	log_info("received %s, shutting down", strsignal((int)sig));
	(void)sdnotify_send("STOPPING=1");
	event_base_loopbreak(base);
}

/* SIGHUP: reload the configuration; what it did (or why it was
 * refused) is logged by devset_reload. */
static void
on_hup(evutil_socket_t sig, short ev, void *arg)
{
	struct devset_report r;
	char *errors = NULL;

	log_msg(LOG_NOTICE, "received SIGHUP");
	if (devset_reload(&r, &errors) == 0)
		devset_report_free(&r);
	free(errors);
}

static void
reap(void)
{
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		inst_child_reaped(pid, status);
}

static void
on_chld(evutil_socket_t sig, short ev, void *arg)
{
	reap();
}

static void
shutdown_all(void)
{
	int waited = 0;

	ctl_close();
	devset_stop();
	/* Every worker was killed; collect them, but do not hang on a
	 * process stuck in the kernel. */
	while (inst_zombie_count() > 0 && waited < SHUTDOWN_REAP_MS) {
		reap();
		if (inst_zombie_count() == 0)
			break;
		usleep(10000);
		waited += 10;
	}
	if (inst_zombie_count() > 0)
		log_warnx("%zu workers not reaped at exit",
		    inst_zombie_count());
}

int
main(int argc, char *argv[])
{
	const char *path = CFG_DEFAULT_PATH;
	struct vhostd_cfg *cfg;
	struct event *sig_term, *sig_int, *sig_chld, *sig_hup;
	struct sandbox_creds creds;
	bool check = false, seccomp_log = false;
	size_t ndevs, i;
	int ch, verbose = 0, level, self, rc = 0;
	char *errors, user[64], err[256];
	char cwd[PATH_MAX], abspath[PATH_MAX + 256];

	if (argc >= 2 && strcmp(argv[1], "--worker") == 0)
		return worker_main(argc, argv);
	/* QEMU's back-end program conventions: print and exit, whatever
	 * else is on the command line. */
	for (i = 1; i < (size_t)argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--print-capabilities") == 0)
			return caps_print(stdout) == 0 ? 0 : 1;

	while ((ch = getopt(argc, argv, "c:fhnSVv")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'f':
			foreground = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'n':
			check = true;
			break;
		case 'S':
			seccomp_log = true;
			break;
		case 'V':
			printf("vhostd %s\n", PACKAGE_VERSION);
			return 0;
		case 'v':
			verbose++;
			break;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 1;
	}

	log_init(true, LOG_NOTICE + verbose, "vhostd");
	/* A reload reads the file again, after daemon(3) went to "/". */
	if (path[0] != '/' && getcwd(cwd, sizeof(cwd)) != NULL &&
	    snprintf(abspath, sizeof(abspath), "%s/%s", cwd, path) <
	    (int)sizeof(abspath))
		path = abspath;
	if ((cfg = cfg_load(path, &errors)) == NULL) {
		fprintf(stderr, "%s\n", errors);
		free(errors);
		return 1;
	}
	if (check) {
		if (check_policies(cfg) == -1) {
			cfg_free(cfg);
			return 1;
		}
		printf("configuration OK\n");
		cfg_free(cfg);
		return 0;
	}
	/* systemd: the notification socket, and the passed listening
	 * sockets matched to devices before any device is set up. */
	sdnotify_init();
	if (sdlisten_init(cfg) == -1) {
		log_warnx("the sockets passed by systemd do not match the "
		    "devices of %s; exiting", path);
		cfg_free(cfg);
		return 1;
	}
	seccomp_log = seccomp_log || cfg->seccomp_log;
	level = cfg->log_level + verbose;
	if (level > LOG_DEBUG)
		level = LOG_DEBUG;
	/* Until it is in the background, errors go to the terminal that
	 * started it. */
	log_init(true, level, "vhostd");
	/* Before any fd is opened for the devices. */
	raise_nofile(cfg->ndevs);
	cfg_keep_affinity();
	if (leave_poll_cores(cfg) == -1) {
		cfg_free(cfg);
		return 1;
	}

	/* Workers are exec'd from this fd, so that they run the very binary
	 * main runs even if the file is replaced.  Kept clear of the fd
	 * number a child puts its IPC socket at. */
	if ((ch = open("/proc/self/exe", O_RDONLY | O_CLOEXEC)) == -1 ||
	    (self = fcntl(ch, F_DUPFD_CLOEXEC, IPC_FD + 1)) == -1)
		fatal("cannot open my own executable for workers");
	close(ch);
	inst_set_self_exe(self);
	signal(SIGPIPE, SIG_IGN);
	if (run_as(cfg, &creds, user, sizeof(user)) == -1) {
		cfg_free(cfg);
		return 1;
	}
	if (creds.change)
		inst_set_run_as(creds.uid, creds.gid);
	inst_set_seccomp_log(seccomp_log);
	if (util_mkdir_p(cfg->runtime_dir, 0755) == -1)
		fatal("runtime directory %s", cfg->runtime_dir);
	/* main removes its sockets there at exit, as its unprivileged
	 * user. */
	if (creds.change && chown(cfg->runtime_dir, creds.uid, creds.gid) == -1)
		fatal("runtime directory %s", cfg->runtime_dir);
	if ((base = util_event_base()) == NULL)
		fatalx("cannot make an epoll event base");

	/* From here on the running set owns cfg. */
	if (devset_start(cfg, base, verbose) == -1) {
		rc = 1;
		goto out;
	}
	/* Before the lockdown: binding it and giving it its owner may need
	 * root. */
	if (ctl_open(&cfg->control, creds.change ? creds.uid : (uid_t)-1,
	    creds.change ? creds.gid : (gid_t)-1) == -1) {
		rc = 1;
		goto out;
	}
	if (!foreground) {
		if (sdnotify_enabled())
			log_warnx("systemd: NOTIFY_SOCKET is set, but without "
			    "-f vhostd forks into the background and its "
			    "notifications come from another pid: give -f");
		if (daemon(0, 0) == -1)
			fatal("daemon");
		log_init(false, level, "vhostd");
		if (event_reinit(base) == -1)
			fatalx("event_reinit");
	}

	sig_term = evsignal_new(base, SIGTERM, on_stop, NULL);
	sig_int = evsignal_new(base, SIGINT, on_stop, NULL);
	sig_chld = evsignal_new(base, SIGCHLD, on_chld, NULL);
	sig_hup = evsignal_new(base, SIGHUP, on_hup, NULL);
	if (sig_term == NULL || sig_int == NULL || sig_chld == NULL ||
	    sig_hup == NULL || event_add(sig_term, NULL) == -1 ||
	    event_add(sig_int, NULL) == -1 ||
	    event_add(sig_chld, NULL) == -1 || event_add(sig_hup, NULL) == -1)
		fatalx("cannot watch signals");

	/* Sockets are bound, host resources open: from here on main needs
	 * no privilege.  What libc would load lazily is loaded now. */
	tzset();
	if (!foreground)
		open_report_fd();
	cfg_names_lock();
	dev_host_lock();
	if (sandbox_lockdown_main(&creds, seccomp_log ? SANDBOX_LOG :
	    SANDBOX_KILL, main_seccomp_report, err, sizeof(err)) == -1) {
		log_warnx("cannot lock main down: %s", err);
		rc = 1;
		goto out_signals;
	}
	log_info("running as uid %u gid %u, no capabilities, seccomp %s "
	    "mode", (unsigned)getuid(), (unsigned)getgid(),
	    seccomp_log ? "log" : "kill");

	if (ctl_start(base) == -1) {
		rc = 1;
		goto out_signals;
	}
	devset_insts(&ndevs);
	log_msg(LOG_NOTICE, "vhostd %s serving %zu device%s from %s",
	    PACKAGE_VERSION, ndevs, ndevs == 1 ? "" : "s", path);
	/* Every device's socket listens (or its connection is being made):
	 * the service manager may start what depends on vhostd. */
	if (sdnotify_watchdog_start(base) == -1) {
		rc = 1;
		goto out_signals;
	}
	(void)sdnotify_send("READY=1\nSTATUS=serving %zu device%s",
	    ndevs, ndevs == 1 ? "" : "s");
	if (event_base_dispatch(base) == -1) {
		log_warnx("event loop failed");
		rc = 1;
	}
out_signals:
	event_free(sig_term);
	event_free(sig_int);
	event_free(sig_chld);
	event_free(sig_hup);
out:
	shutdown_all();
	dev_host_close_all();
	event_base_free(base);
	close(self);
	sdnotify_close();
	log_msg(LOG_NOTICE, "vhostd exiting");
	return rc;
}
