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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "cfg.h"
#include "inst.h"
#include "ipc.h"
#include "log.h"
#include "util.h"
#include "worker.h"

#define SHUTDOWN_REAP_MS	3000

static struct event_base	*base;
static struct inst		*insts;
static size_t			 ninsts;

static void
usage(FILE *f)
{
	fprintf(f, "usage: vhostd [-fhnVv] [-c file]\n"
	    "  -c file  configuration file (default %s)\n"
	    "  -f       stay in the foreground and log to stderr\n"
	    "  -n       check the configuration and exit\n"
	    "  -v       more verbose logging (repeatable)\n"
	    "  -V       print the version and exit\n"
	    "  -h       print this help and exit\n", CFG_DEFAULT_PATH);
}

static void
on_stop(evutil_socket_t sig, short ev, void *arg)
{
	log_info("received %s, shutting down", strsignal((int)sig));
	event_base_loopbreak(base);
}

static void
on_hup(evutil_socket_t sig, short ev, void *arg)
{
	log_msg(LOG_NOTICE, "SIGHUP ignored: this vhostd does not reload "
	    "its configuration; restart it to apply changes");
}

static void
reap(void)
{
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		inst_child_reaped(insts, ninsts, pid, status);
}

static void
on_chld(evutil_socket_t sig, short ev, void *arg)
{
	reap();
}

static void
shutdown_all(void)
{
	size_t i;
	int waited = 0;

	for (i = 0; i < ninsts; i++)
		inst_teardown(&insts[i]);
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
	bool foreground = false, check = false;
	int ch, verbose = 0, level, self, rc = 0;
	char *errors;
	size_t i;

	if (argc >= 2 && strcmp(argv[1], "--worker") == 0)
		return worker_main();

	while ((ch = getopt(argc, argv, "c:fhnVv")) != -1) {
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
	if ((cfg = cfg_load(path, &errors)) == NULL) {
		fprintf(stderr, "%s\n", errors);
		free(errors);
		return 1;
	}
	if (check) {
		printf("configuration OK\n");
		cfg_free(cfg);
		return 0;
	}
	level = cfg->log_level + verbose;
	if (level > LOG_DEBUG)
		level = LOG_DEBUG;
	/* Until it is in the background, errors go to the terminal that
	 * started it. */
	log_init(true, level, "vhostd");

	/* Workers are exec'd from this fd, so that they run the very binary
	 * main runs even if the file is replaced.  Kept clear of the fd
	 * number a child puts its IPC socket at. */
	if ((ch = open("/proc/self/exe", O_RDONLY | O_CLOEXEC)) == -1 ||
	    (self = fcntl(ch, F_DUPFD_CLOEXEC, IPC_FD + 1)) == -1)
		fatal("cannot open my own executable for workers");
	close(ch);
	inst_set_self_exe(self);
	signal(SIGPIPE, SIG_IGN);
	if (util_mkdir_p(cfg->runtime_dir, 0755) == -1)
		fatal("runtime directory %s", cfg->runtime_dir);
	if ((base = event_base_new()) == NULL)
		fatalx("event_base_new");

	if (cfg->ndevs > 0 &&
	    (insts = calloc(cfg->ndevs, sizeof(*insts))) == NULL)
		fatal("calloc");
	for (i = 0; i < cfg->ndevs; i++) {
		if (inst_setup(&insts[i], &cfg->devs[i], base) == -1) {
			log_warnx("%s: cannot serve this device; exiting",
			    cfg->devs[i].id);
			ninsts = i + 1;
			rc = 1;
			goto out;
		}
		ninsts = i + 1;
	}
	if (!foreground) {
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

	log_msg(LOG_NOTICE, "vhostd %s serving %zu device%s from %s",
	    PACKAGE_VERSION, ninsts, ninsts == 1 ? "" : "s", path);
	if (event_base_dispatch(base) == -1) {
		log_warnx("event loop failed");
		rc = 1;
	}
	event_free(sig_term);
	event_free(sig_int);
	event_free(sig_chld);
	event_free(sig_hup);
out:
	shutdown_all();
	free(insts);
	event_base_free(base);
	close(self);
	cfg_free(cfg);
	log_msg(LOG_NOTICE, "vhostd exiting");
	return rc;
}
