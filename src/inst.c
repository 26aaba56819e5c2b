/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device instances in main: the listening socket and its one front-end
 * connection, and the worker subprocess that runs the data plane.  main
 * spawns a worker when a front-end connects (a re-exec of this binary in
 * worker mode, talking over a SOCK_SEQPACKET socketpair), replays to it the
 * state the front-end has set so far, forwards each later change, and
 * stops it when the front-end goes.  A worker that dies or misbehaves costs
 * its own connection only; main logs why (exit status or signal) when it
 * reaps it.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "inst.h"
#include "ipc.h"
#include "log.h"
#include "sandbox.h"
#include "sdlisten.h"
#include "util.h"

#define INST_WORKER_TIMEOUT_S	3	/* for an answer to VRING_STOP */
#define INST_IPC_PER_WAKE	64
/*
 * Worker restarts: a worker that dies while serving a front-end is
 * replaced after a back-off that doubles from INST_BACKOFF_MIN_MS to
 * INST_BACKOFF_MAX_MS; the (INST_RESTART_MAX + 1)th death within
 * INST_RESTART_WINDOW_S marks the device failed: its front-end is
 * disconnected and new ones are refused for INST_FAILED_HOLD_S.
 */
#define INST_RESTART_MAX	5
#define INST_RESTART_WINDOW_S	60
#define INST_BACKOFF_MIN_MS	50
#define INST_BACKOFF_MAX_MS	2000
#define INST_FAILED_HOLD_S	60

extern char **environ;

static int self_exe_fd = -1;
static bool seccomp_log;
static uid_t run_uid = (uid_t)-1;	/* main's user once set up */
static gid_t run_gid = (gid_t)-1;

/* Workers that are gone from their instance but not yet reaped. */
struct zombie {
	pid_t	pid;
	bool	expected;	/* we stopped it on purpose */
	char	id[CFG_ID_MAX];
};
static struct zombie	*zombies;
static size_t		 nzombies, zombies_cap;

static struct inst *const *all_insts;
static size_t		 n_all_insts;
static void		(*stats_hook)(struct inst *);

static void inst_worker_readable(evutil_socket_t, short, void *);
static void inst_worker_lost(struct inst *, const char *);
static int inst_worker_spawn(struct inst *);

uint64_t
inst_now_ms(void)
{
	return util_now_ns() / 1000000;
}

/* Arms timer ev for ms milliseconds from now. */
static void
inst_timer_ms(struct event *ev, uint64_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000),
	    (suseconds_t)(ms % 1000) * 1000 };

	evtimer_add(ev, &tv);
}

void
inst_set_self_exe(int fd)
{
	self_exe_fd = fd;
}

void
inst_set_table(struct inst *const *insts, size_t n)
{
	size_t i;

	all_insts = insts;
	n_all_insts = n;
	for (i = 0; i < n; i++)
		insts[i]->tbl_idx = i;
}

void
inst_set_seccomp_log(bool on)
{
	seccomp_log = on;
}

void
inst_set_run_as(uid_t uid, gid_t gid)
{
	run_uid = uid;
	run_gid = gid;
}

#ifdef VHOSTD_TEST_HOOKS
/* Test builds: VHOSTD_TEST_FAULT=<device id>:<syscall> makes that
 * device's workers try the syscall at their first kick. */
static void
inst_test_fault(const char *id, char *out, size_t len)
{
	const char *env = getenv("VHOSTD_TEST_FAULT"), *colon;

	if (env == NULL || (colon = strchr(env, ':')) == NULL ||
	    strlen(id) != (size_t)(colon - env) ||
	    strncmp(env, id, strlen(id)) != 0)
		return;
	snprintf(out, len, "%s", colon + 1);
}
#endif

size_t
inst_zombie_count(void)
{
	return nzombies;
}

static void
zombie_add(pid_t pid, const char *id, bool expected)
{
	struct zombie *z;

	if (nzombies == zombies_cap) {
		size_t cap = zombies_cap ? zombies_cap * 2 : 16;

		z = reallocarray(zombies, cap, sizeof(*z));
		if (z == NULL) {
			/* Still reaped by waitpid(-1); only its log line
			 * loses the device id. */
			log_warn("%s: remembering worker %d", id, (int)pid);
			return;
		}
		zombies = z;
		zombies_cap = cap;
	}
	z = &zombies[nzombies++];
	z->pid = pid;
	z->expected = expected;
	snprintf(z->id, sizeof(z->id), "%s", id);
}

static void
describe_status(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exited with status %d",
		    WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "was killed by signal %d (%s)%s",
		    WTERMSIG(status), strsignal(WTERMSIG(status)),
		    WTERMSIG(status) == SIGSYS ?
		    ": a system call its policy forbids" : "");
	else
		snprintf(buf, len, "changed state 0x%x", status);
}

/*
 * A child was reaped: log why it ended.  `insts` is every instance, to
 * find a live worker that died before its channel said so.
 */
void
inst_child_reaped(pid_t pid, int status)
{
	struct inst *in;
	char what[128];
	size_t i;

	describe_status(status, what, sizeof(what));
	for (i = 0; i < n_all_insts; i++) {
		in = all_insts[i];
		if (in->wstate != W_NONE && in->wpid == pid) {
			log_warnx("%s: worker %d %s", in->id, (int)pid, what);
			inst_worker_lost(in, NULL);
			break;
		}
	}
	for (i = 0; i < nzombies; i++) {
		if (zombies[i].pid != pid)
			continue;
		/* Told to go, it either saw its channel close and exited
		 * or was killed first: both are a normal stop. */
		if (zombies[i].expected && ((WIFSIGNALED(status) &&
		    WTERMSIG(status) == SIGKILL) || (WIFEXITED(status) &&
		    WEXITSTATUS(status) == 0)))
			log_debug("%s: worker %d stopped", zombies[i].id,
			    (int)pid);
		else if (zombies[i].expected)
			log_info("%s: worker %d %s", zombies[i].id, (int)pid,
			    what);
		else
			log_warnx("%s: worker %d %s", zombies[i].id,
			    (int)pid, what);
		zombies[i] = zombies[--nzombies];
		return;
	}
}

/* Stops the worker (if any): closes the channel and kills it.  It is
 * reaped later by the SIGCHLD handler. */
static void
inst_worker_stop(struct inst *in, bool expected)
{
	if (in->wstate == W_NONE)
		return;
	if (in->wev != NULL) {
		event_free(in->wev);
		in->wev = NULL;
	}
	if (in->wfd != -1) {
		close(in->wfd);
		in->wfd = -1;
	}
	/* Under valgrind (test builds only) the worker, which exits when
	 * its channel closes, is left to do so: its leaks are checked then.
	 * PR_SET_PDEATHSIG still ends it with main. */
	if (!sandbox_test_valgrind())
		kill(in->wpid, SIGKILL);
	zombie_add(in->wpid, in->id, expected);
	in->wpid = -1;
	in->wstate = W_NONE;
	in->stats_valid = false;
	if (in->dev_started && in->ops->main_worker_gone != NULL)
		in->ops->main_worker_gone(in);
}

static void
inst_restart_due(evutil_socket_t fd, short ev, void *arg)
{
	struct inst *in = arg;

	if (in->conn_fd == -1 || in->wstate != W_NONE)
		return;
	if (inst_worker_spawn(in) == -1)
		inst_conn_close(in, "its worker cannot be restarted");
}

/*
 * The worker died (or broke its protocol) while serving a front-end: the
 * front-end and the guest are not told.  Rings the worker ran are marked
 * to resume from the in-flight log, and a new worker is started after a
 * back-off; one that keeps dying fails the device.
 */
static void
inst_restart_schedule(struct inst *in)
{
	uint64_t now = inst_now_ms();
	unsigned i, ms;

	if (now - in->restart_window > INST_RESTART_WINDOW_S * 1000) {
		in->restart_window = now;
		in->restarts = 0;
	}
	if (in->restarts >= INST_RESTART_MAX) {
		log_warnx("%s: its worker died %u times within %d s: device "
		    "failed; front-ends are refused for %d s", in->id,
		    in->restarts + 1, INST_RESTART_WINDOW_S,
		    INST_FAILED_HOLD_S);
		in->failed_until = now + INST_FAILED_HOLD_S * 1000;
		inst_conn_close(in, "the device failed");
		return;
	}
	ms = INST_BACKOFF_MIN_MS << in->restarts;
	if (ms > INST_BACKOFF_MAX_MS)
		ms = INST_BACKOFF_MAX_MS;
	in->restarts++;
	in->n_restarts++;
	for (i = 0; i < DEV_MAX_QUEUES; i++)
		if (in->vr[i].running)
			in->vr[i].resume = true;
	if (in->waiting) {
		/* The stop goes to the next worker, once it has resumed the
		 * ring; give it the time to come. */
		struct timeval wt = { INST_WORKER_TIMEOUT_S +
		    INST_BACKOFF_MAX_MS / 1000, 0 };

		in->stop_pending = true;
		evtimer_add(in->wait_timer, &wt);
	}
	log_warnx("%s: restarting its worker in %u ms (restart %u within "
	    "%d s)", in->id, ms, in->restarts, INST_RESTART_WINDOW_S);
	inst_timer_ms(in->restart_timer, ms);
}

/*
 * The worker is gone or broke its protocol.  While a front-end is served
 * a new one takes over (inst_restart_schedule).  `why` is logged if not
 * NULL (NULL: it was reaped, and that was logged).
 */
static void
inst_worker_lost(struct inst *in, const char *why)
{
	if (why != NULL)
		log_warnx("%s: worker %d %s", in->id, (int)in->wpid, why);
	inst_worker_stop(in, why == NULL);
	if (in->conn_fd != -1)
		inst_restart_schedule(in);
}

void
inst_worker_renew(struct inst *in)
{
	if (in->wstate == W_NONE || in->conn_fd == -1)
		return;
	inst_worker_stop(in, true);
	if (inst_worker_spawn(in) == -1)
		inst_conn_close(in, "cannot start its worker");
}

static void
inst_area_close(struct inst *in)
{
	if (in->area_fd != -1)
		close(in->area_fd);
	in->area_fd = -1;
	in->area_size = in->area_offset = 0;
	in->area_nq = in->area_qsize = 0;
	in->area_used = false;
}

int
inst_area_new(struct inst *in, uint32_t nq, uint32_t qsize)
{
	uint64_t size = (uint64_t)nq * vq_log_size(qsize) + DEV_STATE_MAX;
	long pg = sysconf(_SC_PAGESIZE);
	int fd;

	if (pg > 0)
		size = (size + (uint64_t)pg - 1) / (uint64_t)pg * (uint64_t)pg;
	fd = memfd_create("vhostd-inflight", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd == -1) {
		log_warn("%s: in-flight area", in->id);
		return -1;
	}
	/* Sealed: nobody (the front-end included, if it is given the fd)
	 * can shrink it under a worker that has it mapped. */
	if (ftruncate(fd, (off_t)size) == -1 || fcntl(fd, F_ADD_SEALS,
	    F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) == -1) {
		log_warn("%s: sizing the in-flight area", in->id);
		close(fd);
		return -1;
	}
	inst_area_adopt(in, fd, size, 0, nq, qsize);
	in->area_used = false;		/* new, zeroed */
	return 0;
}

void
inst_area_adopt(struct inst *in, int fd, uint64_t size, uint64_t offset,
    uint32_t nq, uint32_t qsize)
{
	inst_area_close(in);
	in->area_fd = fd;
	in->area_size = size;
	in->area_offset = offset;
	in->area_nq = nq;
	in->area_qsize = qsize;
	/* It holds what a worker of an earlier vhostd left. */
	in->area_used = true;
}

int
inst_worker_send(struct inst *in, const void *msg, size_t len,
    const int *fds, unsigned nfds)
{
	if (in->wstate != W_READY)
		return 0;
	if (ipc_send(in->wfd, msg, len, fds, nfds, MSG_DONTWAIT) == -1) {
		char why[96];

		snprintf(why, sizeof(why), "cannot be sent %s: %s",
		    ipc_type_name(*(const uint32_t *)msg), strerror(errno));
		inst_worker_lost(in, why);
		return -1;
	}
	return 0;
}

/* Sends the worker the whole memory table with its fds (a no-op while
 * there is no ready worker).  -1 if the worker was lost doing so. */
int
inst_worker_send_mem(struct inst *in)
{
	struct ipc_mem_table mt = { .type = IPC_MEM_TABLE };
	unsigned i;

	if (in->wstate != W_READY)
		return 0;
	mt.nregions = in->nmem;
	for (i = 0; i < in->nmem; i++) {
		mt.r[i].gpa = in->mem[i].gpa;
		mt.r[i].size = in->mem[i].size;
		mt.r[i].uva = in->mem[i].uva;
		mt.r[i].mmap_offset = in->mem[i].mmap_offset;
	}
	return inst_worker_send(in, &mt, sizeof(mt), in->mem_fd, in->nmem);
}

/* Hands ring `index` to the worker if it is complete and not running. */
void
inst_vring_start(struct inst *in, unsigned index)
{
	struct vring_cfg *v = &in->vr[index];
	struct ipc_vring_start m = { .type = IPC_VRING_START, .index = index };
	int fds[3];
	unsigned n = 0;

	if (in->wstate != W_READY || !v->started ||
	    (v->running && !v->resume) ||
	    !v->addr_set || v->num == 0 || in->nmem == 0)
		return;
	if (v->resume)
		m.flags |= IPC_VRING_RESUME;
	m.num = v->num;
	m.base = v->base;
	m.desc = v->desc;
	m.avail = v->avail;
	m.used = v->used;
	if (v->kick_fd != -1) {
		m.flags |= IPC_VRING_HAS_KICK;
		fds[n++] = v->kick_fd;
	}
	if (v->call_fd != -1) {
		m.flags |= IPC_VRING_HAS_CALL;
		fds[n++] = v->call_fd;
	}
	if (v->err_fd != -1) {
		m.flags |= IPC_VRING_HAS_ERR;
		fds[n++] = v->err_fd;
	}
	if (v->enabled)
		m.flags |= IPC_VRING_ENABLED;
	if (inst_worker_send(in, &m, sizeof(m), fds, n) == 0 &&
	    in->wstate == W_READY) {
		v->running = true;
		v->resume = false;
	}
}

/* The worker said hello: tell it who it is and replay the state. */
static void
inst_worker_hello(struct inst *in, const struct ipc_hello *h)
{
	struct ipc_init *init;
	struct ipc_features f = { .type = IPC_FEATURES };
	int fds[DEV_MAX_HOST_FDS + 1];
	unsigned i, nfds;

	if (in->wstate != W_STARTING) {
		inst_worker_lost(in, "said hello twice");
		return;
	}
	if (h->version != IPC_VERSION) {
		inst_worker_lost(in, "speaks another IPC version");
		return;
	}
	if ((init = calloc(1, sizeof(*init))) == NULL) {
		inst_worker_lost(in, "cannot be initialised: out of memory");
		return;
	}
	in->wstate = W_READY;
	init->type = IPC_INIT;
	init->version = IPC_VERSION;
	init->log_level = log_get_level();
	init->n_host_fds = in->n_host_fds;
	snprintf(init->id, sizeof(init->id), "%s", in->id);
	snprintf(init->dev_type, sizeof(init->dev_type), "%s", in->ops->name);
	init->cfg_size = (uint32_t)in->ops->cfg_size;
	init->seccomp_log = seccomp_log;
	/* Workers run as main runs once it has dropped its privileges. */
	init->uid = (uint32_t)getuid();
	init->gid = (uint32_t)getgid();
#ifdef VHOSTD_TEST_HOOKS
	inst_test_fault(in->id, init->fault, sizeof(init->fault));
#endif
	memcpy(init->cfg, in->cfg->priv, in->ops->cfg_size);
	memcpy(fds, in->host_fds, in->n_host_fds * sizeof(int));
	nfds = in->n_host_fds;
	if (in->area_fd != -1) {
		fds[nfds++] = in->area_fd;
		init->inflight_size = in->area_size;
		init->inflight_offset = in->area_offset;
		init->inflight_nq = in->area_nq;
		init->inflight_qsize = in->area_qsize;
		init->restarted = in->area_used;
	}
	i = inst_worker_send(in, init, sizeof(*init), fds, nfds);
	free(init);
	if (i != 0)
		return;
	if (in->area_fd != -1)
		in->area_used = true;
	log_debug("%s: worker %d ready", in->id, (int)in->wpid);
	if (in->features != 0) {
		f.features = in->features;
		if (inst_worker_send(in, &f, sizeof(f), NULL, 0) == -1)
			return;
	}
	if (in->nmem > 0 && inst_worker_send_mem(in) == -1)
		return;
	for (i = 0; i < in->ops->num_queues && in->wstate == W_READY; i++)
		inst_vring_start(in, i);
	if (in->wstate == W_READY && in->dev_started &&
	    in->ops->main_worker_ready != NULL)
		in->ops->main_worker_ready(in);
	if (in->wstate == W_READY)
		vu_worker_back(in);
}

static void
inst_worker_readable(evutil_socket_t fd, short ev, void *arg)
{
	struct inst *in = arg;
	union ipc_msg m;
	int fds[IPC_MAX_FDS];
	unsigned nfds, i, k;
	const char *why;
	char buf[128];
	int r;

	for (i = 0; i < INST_IPC_PER_WAKE && in->wstate != W_NONE; i++) {
		r = ipc_recv(in->wfd, &m, fds, &nfds, &why);
		if (r == -1 && errno == EAGAIN)
			return;
		if (r == 0 || (r == -1 && errno == ECONNRESET)) {
			/* Gone; its exit status is logged when reaped. */
			inst_worker_lost(in, "closed its channel");
			return;
		}
		if (r == -1) {
			snprintf(buf, sizeof(buf), "sent a bad message: %s",
			    why != NULL ? why : strerror(errno));
			inst_worker_lost(in, buf);
			return;
		}
		/* No worker-to-main message carries fds. */
		for (k = 0; k < nfds; k++)
			close(fds[k]);
		if (nfds > 0) {
			inst_worker_lost(in, "sent fds");
			return;
		}
		switch (m.type) {
		case IPC_HELLO:
			inst_worker_hello(in, &m.hello);
			break;
		case IPC_VRING_BASE:
			if (m.ctl.index >= in->ops->num_queues) {
				inst_worker_lost(in, "named a bad ring");
				return;
			}
			evtimer_del(in->wait_timer);
			vu_worker_answered(in, m.ctl.index, m.ctl.value);
			break;
		case IPC_SECCOMP:
			m.seccomp.name[sizeof(m.seccomp.name) - 1] = '\0';
			log_rl(&in->wlog_rl, LOG_ERR, "%s: worker %d made the "
			    "system call %s (%lld), which its seccomp policy "
			    "forbids; %s", in->id, (int)in->wpid,
			    m.seccomp.name, (long long)m.seccomp.nr,
			    seccomp_log ? "it failed with ENOSYS (seccomp "
			    "log mode)" : "the worker is killed");
			break;
		case IPC_DEV:
			if (m.dev.has_fd != 0 ||
			    in->ops->main_msg == NULL) {
				inst_worker_lost(in, "sent a device message "
				    "main does not take");
				return;
			}
			in->ops->main_msg(in, &m.dev.msg);
			break;
		case IPC_STATS:
			if (m.stats.nq != in->ops->num_queues) {
				inst_worker_lost(in, "sent counters of another "
				    "number of queues");
				return;
			}
			in->stats = m.stats;
			in->stats_valid = true;
			in->stats_pid = in->wpid;
			if (stats_hook != NULL)
				stats_hook(in);
			break;
		case IPC_LOG:
			m.log.text[IPC_LOG_MAX - 1] = '\0';
			if (m.log.prio < LOG_EMERG || m.log.prio > LOG_DEBUG)
				m.log.prio = LOG_WARNING;
			log_rl(&in->wlog_rl, m.log.prio, "%s", m.log.text);
			break;
		default:
			snprintf(buf, sizeof(buf), "sent %s, which only main "
			    "may send", ipc_type_name(m.type));
			inst_worker_lost(in, buf);
			return;
		}
	}
}

void
inst_set_stats_hook(void (*hook)(struct inst *))
{
	stats_hook = hook;
}

int
inst_stats_request(struct inst *in, uint32_t seq)
{
	struct ipc_stats_req r = { .type = IPC_STATS_REQ, .seq = seq };

	if (in->wstate != W_READY)
		return -1;
	if (inst_worker_send(in, &r, sizeof(r), NULL, 0) == -1)
		return -1;
	return in->wstate == W_READY ? 0 : -1;
}

void
inst_worker_log_level(struct inst *in, int level)
{
	struct ipc_log_level m = { .type = IPC_LOG_LEVEL, .level = level };

	(void)inst_worker_send(in, &m, sizeof(m), NULL, 0);
}

const char *
inst_state(const struct inst *in)
{
	if (in->failed_until != 0 && inst_now_ms() < in->failed_until)
		return "failed";
	if (in->conn_fd == -1)
		return "waiting";
	if (in->wstate == W_NONE)
		return "restarting";
	if (in->wstate == W_READY) {
		unsigned i;

		for (i = 0; i < in->ops->num_queues; i++)
			if (in->vr[i].running)
				return "running";
	}
	return "connected";
}

int
inst_worker_restart(struct inst *in, char *why, size_t len)
{
	unsigned i;

	if (in->conn_fd == -1) {
		if (in->failed_until != 0) {
			in->failed_until = 0;
			in->restarts = 0;
			log_msg(LOG_NOTICE, "%s: failed device let off its hold "
			    "(vhostctl restart): front-ends are taken again",
			    in->id);
			if (in->cfg->connect && in->listen_timer != NULL)
				inst_timer_ms(in->listen_timer, 0);
			return 0;
		}
		snprintf(why, len, "device '%s' has no worker: no front-end "
		    "is connected", in->id);
		return -1;
	}
	log_msg(LOG_NOTICE, "%s: restarting its worker (vhostctl restart)",
	    in->id);
	evtimer_del(in->restart_timer);
	in->restarts = 0;
	for (i = 0; i < DEV_MAX_QUEUES; i++)
		if (in->vr[i].running)
			in->vr[i].resume = true;
	if (in->waiting) {
		/* As after a death: the stop goes to the next worker. */
		struct timeval wt = { INST_WORKER_TIMEOUT_S, 0 };

		in->stop_pending = true;
		evtimer_add(in->wait_timer, &wt);
	}
	inst_worker_stop(in, true);
	if (inst_worker_spawn(in) == -1) {
		inst_conn_close(in, "its worker cannot be restarted");
		snprintf(why, len, "device '%s': its worker cannot be "
		    "started again (see the log)", in->id);
		return -1;
	}
	return 0;
}

static void
inst_wait_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct inst *in = arg;

	if (!in->waiting)
		return;
	if (in->wstate == W_NONE)
		inst_conn_close(in, "its worker did not come back in time to "
		    "stop a ring");
	else
		inst_worker_lost(in, "did not stop its ring in time");
}

/*
 * Starts this binary again as the instance's worker.  vfork, not fork:
 * the child only sets up its channel and execs, and fork would copy
 * main's page tables first, which under memory pressure or CPU
 * contention stalled main (and so every device's control plane) for
 * seconds (seen by tests/test_load.c).
 */
static int
inst_worker_spawn(struct inst *in)
{
	const struct dev_cfg *dc = in->cfg;
	int sv[2];
	pid_t pid;
	char cpu[16], idle[16];
	/* The datapath mode rides on the command line (worker_args): a
	 * polled worker pins itself to its core before anything else. */
	char *argv[] = { "vhostd", "--worker", (char *)in->id, NULL, NULL,
	    NULL, NULL, NULL, NULL, NULL };
	sigset_t all;

	if (dc->datapath != CFG_DP_INTERRUPT) {
		snprintf(cpu, sizeof(cpu), "%d", dc->poll_core);
		snprintf(idle, sizeof(idle), "%u", dc->adaptive_idle_us);
		argv[3] = "--datapath";
		argv[4] = (char *)cfg_datapath_name(dc->datapath);
		argv[5] = "--cpu";
		argv[6] = cpu;
		if (dc->datapath == CFG_DP_ADAPTIVE) {
			argv[7] = "--idle-us";
			argv[8] = idle;
		}
	}

	if (in->area_fd == -1 &&
	    inst_area_new(in, in->ops->num_queues, VQ_MAX_SIZE) == -1)
		return -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		log_warn("%s: socketpair for worker", in->id);
		return -1;
	}
	switch (pid = vfork()) {
	case -1:
		log_warn("%s: vfork", in->id);
		close(sv[0]);
		close(sv[1]);
		return -1;
	case 0:
		/* Child, sharing main's memory until exec: system calls
		 * only, no writes to memory. */
		if (sv[1] == IPC_FD) {
			if (fcntl(IPC_FD, F_SETFD, 0) == -1)
				_exit(126);
		} else if (dup2(sv[1], IPC_FD) == -1)
			_exit(126);
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		fexecve(self_exe_fd, argv, environ);
		_exit(127);
	}
	close(sv[1]);
	if (fcntl(sv[0], F_SETFL, O_NONBLOCK) == -1)
		log_warn("%s: worker channel non-blocking", in->id);
	in->wfd = sv[0];
	in->wpid = pid;
	in->wstate = W_STARTING;
	in->wstart_ms = inst_now_ms();
	in->wev = event_new(in->base, in->wfd, EV_READ | EV_PERSIST,
	    inst_worker_readable, in);
	if (in->wev == NULL || event_add(in->wev, NULL) == -1) {
		inst_worker_stop(in, true);
		return -1;
	}
	log_debug("%s: worker %d started", in->id, (int)pid);
	return 0;
}

void
inst_conn_close(struct inst *in, const char *why)
{
	unsigned i;

	if (in->conn_fd == -1)
		return;
	if (why != NULL)
		log_warnx("%s: closing connection of front-end pid %d: %s",
		    in->id, (int)in->peer_pid, why);
	else
		log_info("%s: front-end pid %d disconnected", in->id,
		    (int)in->peer_pid);
	event_free(in->conn_ev);
	in->conn_ev = NULL;
	close(in->conn_fd);
	in->conn_fd = -1;
	for (i = 0; i < in->rx.msg.nfds; i++)
		if (in->rx.msg.fds[i] != -1)
			close(in->rx.msg.fds[i]);
	memset(&in->rx, 0, sizeof(in->rx));
	inst_worker_stop(in, true);
	if (in->restart_timer != NULL)
		evtimer_del(in->restart_timer);
	if (in->waiting && in->wait_timer != NULL)
		evtimer_del(in->wait_timer);
	in->waiting = in->stop_pending = false;
	inst_area_close(in);
	vu_state_reset(in);
	for (i = 0; i < in->nmem; i++) {
		close(in->mem_fd[i]);
		in->mem_fd[i] = -1;
	}
	in->nmem = 0;
	if (in->backend_fd != -1) {
		close(in->backend_fd);
		in->backend_fd = -1;
	}
	in->pfeatures = 0;
	in->pf_seen = false;
	in->owner = false;
	if (in->cfg->connect && in->listen_timer != NULL)
		inst_timer_ms(in->listen_timer, in->cfg->reconnect_ms);
}

static void
inst_listen_resume(evutil_socket_t fd, short ev, void *arg)
{
	struct inst *in = arg;

	event_add(in->listen_ev, NULL);
}

/*
 * The device's allow-list: the peer's uid in allow_uids, or its primary
 * or a supplementary group (SO_PEERGROUPS) in allow_gids.
 */
static bool
inst_peer_allowed(const struct inst *in, int fd, const struct ucred *cred)
{
	const struct dev_cfg *dc = in->cfg;
	unsigned i;

	for (i = 0; i < dc->n_allow_uids; i++)
		if (dc->allow_uids[i] == cred->uid)
			return true;
	return util_peer_in_gids(fd, cred, dc->allow_gids, dc->n_allow_gids);
}

/*
 * A front-end's connection is up (accepted, or made with "connect"):
 * checks who it is and whether the device takes it, then serves it and
 * starts a worker.  Returns 0, or -1 with fd closed.
 */
static int
inst_conn_open(struct inst *in, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
		log_warn("%s: SO_PEERCRED", in->id);
		close(fd);
		return -1;
	}
	if (in->cfg->acl && !inst_peer_allowed(in, fd, &cred)) {
		log_rl(&in->rl, LOG_WARNING, "%s: refusing front-end pid %d "
		    "uid %u gid %u: not in the device's allow_uids or "
		    "allow_gids", in->id, (int)cred.pid, (unsigned)cred.uid,
		    (unsigned)cred.gid);
		close(fd);
		return -1;
	}
	if (in->failed_until != 0 && inst_now_ms() < in->failed_until) {
		log_rl(&in->rl, LOG_WARNING, "%s: refusing front-end pid %d "
		    "uid %u: the device failed (its worker kept dying); "
		    "retry in %llu s", in->id, (int)cred.pid,
		    (unsigned)cred.uid, (unsigned long long)
		    ((in->failed_until - inst_now_ms()) / 1000 + 1));
		close(fd);
		return -1;
	}
	if (in->conn_fd != -1) {
		log_rl(&in->rl, LOG_WARNING, "%s: refusing front-end pid %d "
		    "uid %u: device is in use by pid %d", in->id,
		    (int)cred.pid, (unsigned)cred.uid, (int)in->peer_pid);
		close(fd);
		return -1;
	}
	in->conn_fd = fd;
	in->peer_pid = cred.pid;
	in->peer_uid = cred.uid;
	in->conn_ev = event_new(in->base, fd, EV_READ | EV_PERSIST,
	    vu_conn_readable, in);
	if (in->conn_ev == NULL || event_add(in->conn_ev, NULL) == -1) {
		inst_conn_close(in, "out of memory");
		return -1;
	}
	in->n_conns++;
	in->conn_ms = inst_now_ms();
	in->failed_until = 0;
	in->restarts = 0;
	log_info("%s: front-end pid %d uid %u connected", in->id,
	    (int)cred.pid, (unsigned)cred.uid);
	if (inst_worker_spawn(in) == -1) {
		inst_conn_close(in, "cannot start its worker");
		return -1;
	}
	return 0;
}

static void
inst_accept(evutil_socket_t lfd, short ev, void *arg)
{
	struct inst *in = arg;
	struct timeval tv = { 1, 0 };
	int fd;

	fd = accept4(in->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd == -1) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			/* Out of fds: stop accepting for a second rather
			 * than spin on a readable listening socket. */
			log_rl(&in->rl, LOG_WARNING, "%s: accept: %s",
			    in->id, strerror(errno));
			event_del(in->listen_ev);
			evtimer_add(in->listen_timer, &tv);
		}
		return;
	}
	(void)inst_conn_open(in, fd);
}

/*
 * "connect": tries to connect to the front-end's socket; again
 * reconnect_ms later if it is not there (yet) or when the connection
 * ends.  A failed device waits out its hold first.
 */
static void
inst_connect_try(evutil_socket_t unused, short ev, void *arg)
{
	struct inst *in = arg;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	uint64_t now = inst_now_ms(), wait = in->cfg->reconnect_ms;
	int fd;

	if (in->conn_fd != -1)
		return;
	if (in->failed_until != 0 && now < in->failed_until) {
		wait = in->failed_until - now;
		goto later;
	}
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", in->cfg->socket);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		log_rl(&in->rl, LOG_WARNING, "%s: socket: %s", in->id,
		    strerror(errno));
		goto later;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		int e = errno;

		/* Not there yet is normal; anything else (EACCES: vhostd's
		 * user may not reach it) is the operator's to fix.  Each
		 * new reason is logged, so that a socket that appears out
		 * of reach after vhostd started is reported too. */
		if (e != in->connect_errno)
			log_msg(e == ENOENT || e == ECONNREFUSED ?
			    LOG_INFO : LOG_WARNING, "%s: cannot connect to the "
			    "front-end at %s (%s); trying every %u ms", in->id,
			    in->cfg->socket, strerror(e),
			    in->cfg->reconnect_ms);
		in->connect_errno = e;
		close(fd);
		goto later;
	}
	in->connect_errno = 0;
	if (inst_conn_open(in, fd) == 0)
		return;
later:
	inst_timer_ms(in->listen_timer, wait);
}


/*
 * Binds the listening socket at path, made as the device's own socket
 * (socket_owner, socket_group, socket_mode; by default owned by the user
 * vhostd runs as, who must be able to remove it at exit).
 */
static int
inst_bind(struct inst *in, const char *path, int type)
{
	uid_t uid = in->cfg->sock_uid != (uid_t)-1 ? in->cfg->sock_uid :
	    run_uid;
	gid_t gid = in->cfg->sock_gid != (gid_t)-1 ? in->cfg->sock_gid :
	    run_gid;

	return util_listen_unix(in->id, path, type, uid, gid,
	    in->cfg->sock_mode);
}

static int
inst_listen(struct inst *in)
{
	int fd;

	/* A socket passed by systemd is served as it is, through a
	 * duplicate closed when the device goes, and its file left in
	 * place: it is the socket unit's (sdlisten.c). */
	switch (sdlisten_take(in->cfg, &fd)) {
	case 1:
		in->listen_fd = fd;
		return 0;
	case -1:
		return -1;
	}
	if ((fd = inst_bind(in, in->cfg->socket, SOCK_STREAM)) == -1)
		return -1;
	in->sock_created = true;
	in->listen_fd = fd;
	return 0;
}

static void
inst_log_datapath(const struct inst *in)
{
	const struct dev_cfg *dc = in->cfg;

	if (dc->datapath == CFG_DP_POLL)
		log_info("%s: datapath poll on CPU %d", in->id, dc->poll_core);
	else if (dc->datapath == CFG_DP_ADAPTIVE)
		log_info("%s: datapath adaptive on CPU %d, asleep after %u us "
		    "idle", in->id, dc->poll_core, dc->adaptive_idle_us);
}

int
inst_setup(struct inst *in, const struct dev_cfg *dc, struct event_base *base)
{
	char err[256];
	size_t size = dc->ops->cfg_size > 0 ? dc->ops->cfg_size : 1;
	const void *src = dc->priv;

	memset(in, 0, sizeof(*in));
	in->dc = *dc;
	in->dc.priv = malloc(size);
	in->parsed = malloc(size);
	dc = in->cfg = &in->dc;
	in->ops = dc->ops;
	in->id = dc->id;
	in->base = base;
	in->listen_fd = in->conn_fd = in->wfd = in->backend_fd = -1;
	in->area_fd = -1;
	in->wpid = -1;
	if (in->dc.priv == NULL || in->parsed == NULL) {
		log_warn("%s: its configuration", in->id);
		return -1;
	}
	memcpy(in->dc.priv, src, size);
	memcpy(in->parsed, src, size);
	in->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT;
	in->wlog_rl = (struct log_ratelimit){ 5, 200, 0, 0, 0 };
	vu_state_init(in);
	if (in->ops->open != NULL && in->ops->open(in->dc.priv, in->host_fds,
	    &in->n_host_fds, err, sizeof(err)) == -1) {
		log_warnx("%s: %s", in->id, err);
		return -1;
	}
	if (in->ops->config_space != NULL)
		in->ops->config_space(in->dc.priv, in->config_space);
	if (!dc->connect && inst_listen(in) == -1)
		return -1;
	if (in->ops->main_start != NULL) {
		if (in->ops->main_start(in, err, sizeof(err)) == -1) {
			log_warnx("%s: %s", in->id, err);
			if (in->ops->main_stop != NULL)
				in->ops->main_stop(in);
			return -1;
		}
		in->dev_started = true;
	}
	in->wait_timer = evtimer_new(base, inst_wait_timeout, in);
	in->restart_timer = evtimer_new(base, inst_restart_due, in);
	if (dc->connect) {
		/* The first try waits for the event loop, after main has
		 * dropped its privileges. */
		struct timeval now = { 0, 0 };

		in->listen_timer = evtimer_new(base, inst_connect_try, in);
		if (in->listen_timer == NULL || in->wait_timer == NULL ||
		    in->restart_timer == NULL ||
		    evtimer_add(in->listen_timer, &now) == -1) {
			log_warnx("%s: cannot set up its connection", in->id);
			return -1;
		}
		log_info("%s: %s device connecting to %s", in->id,
		    in->ops->name, dc->socket);
		inst_log_datapath(in);
		return 0;
	}
	in->listen_ev = event_new(base, in->listen_fd, EV_READ | EV_PERSIST,
	    inst_accept, in);
	in->listen_timer = evtimer_new(base, inst_listen_resume, in);
	if (in->listen_ev == NULL || in->listen_timer == NULL ||
	    in->wait_timer == NULL || in->restart_timer == NULL ||
	    event_add(in->listen_ev, NULL) == -1) {
		log_warnx("%s: cannot watch its socket", in->id);
		return -1;
	}
	log_info("%s: %s device listening on %s", in->id, in->ops->name,
	    dc->socket);
	inst_log_datapath(in);
	return 0;
}

/* Arms the timeout for an answer from the worker (GET_VRING_BASE). */
void
inst_wait_arm(struct inst *in)
{
	struct timeval tv = { INST_WORKER_TIMEOUT_S, 0 };

	evtimer_add(in->wait_timer, &tv);
}

void
inst_teardown(struct inst *in)
{
	unsigned i;

	inst_conn_close(in, NULL);
	inst_worker_stop(in, true);
	if (in->dev_started && in->ops->main_stop != NULL)
		in->ops->main_stop(in);
	in->dev_started = false;
	if (in->listen_ev != NULL)
		event_free(in->listen_ev);
	if (in->listen_timer != NULL)
		event_free(in->listen_timer);
	if (in->wait_timer != NULL)
		event_free(in->wait_timer);
	if (in->restart_timer != NULL)
		event_free(in->restart_timer);
	in->listen_ev = in->listen_timer = in->wait_timer = NULL;
	in->restart_timer = NULL;
	if (in->listen_fd != -1)
		close(in->listen_fd);
	in->listen_fd = -1;
	if (in->sock_created && unlink(in->cfg->socket) == -1 &&
	    errno != ENOENT)
		log_warn("%s: removing %s", in->id, in->cfg->socket);
	in->sock_created = false;
	for (i = 0; i < in->n_host_fds; i++)
		close(in->host_fds[i]);
	in->n_host_fds = 0;
	free(in->dc.priv);
	free(in->parsed);
	in->dc.priv = in->parsed = NULL;
}

bool
inst_same_cfg(const struct inst *in, const struct dev_cfg *dc)
{
	struct dev_cfg a, b;

	if (in->parsed == NULL || dc->ops != in->ops)
		return false;
	/* Both were zeroed before they were filled (calloc'ed, or copied
	 * from such): padding compares equal.  Where an entry stands in
	 * the list does not matter. */
	a = in->dc;
	b = *dc;
	a.priv = b.priv = NULL;
	a.index = b.index = 0;
	return memcmp(&a, &b, sizeof(a)) == 0 &&
	    memcmp(in->parsed, dc->priv, in->ops->cfg_size) == 0;
}

/* ---- main side of devices (device.h) ---- */

const char *
dev_inst_id(const struct inst *in)
{
	return in->id;
}

const struct dev_ops *
dev_inst_ops(const struct inst *in)
{
	return in->ops;
}

const void *
dev_inst_cfg(const struct inst *in)
{
	return in->cfg->priv;
}

struct event_base *
dev_inst_base(const struct inst *in)
{
	return in->base;
}

void *
dev_inst_priv(const struct inst *in)
{
	return in->dev_priv;
}

void
dev_inst_set_priv(struct inst *in, void *priv)
{
	in->dev_priv = priv;
}

bool
dev_inst_worker_ready(const struct inst *in)
{
	return in->wstate == W_READY;
}

bool
dev_inst_frontend(const struct inst *in)
{
	return in->conn_fd != -1;
}

int
dev_inst_send(struct inst *in, const struct dev_msg *m, int fd)
{
	struct ipc_dev d;

	if (in->wstate != W_READY || m->len > DEV_MSG_MAX)
		return -1;
	memset(&d, 0, sizeof(d));
	d.type = IPC_DEV;
	d.has_fd = fd != -1;
	d.msg = *m;
	if (inst_worker_send(in, &d, sizeof(d), &fd, fd != -1) == -1)
		return -1;
	return in->wstate == W_READY ? 0 : -1;
}

struct inst *
dev_inst_next(const struct inst *prev)
{
	size_t i = 0;

	/* One no longer in the table ends the walk. */
	if (prev != NULL)
		i = prev->tbl_idx < n_all_insts &&
		    all_insts[prev->tbl_idx] == prev ? prev->tbl_idx + 1 :
		    n_all_insts;
	/* Entries not set up yet (ops NULL) are skipped. */
	for (; i < n_all_insts; i++)
		if (all_insts[i]->ops != NULL)
			return all_insts[i];
	return NULL;
}

int
dev_inst_listen(struct inst *in, const char *path, int type)
{
	return inst_bind(in, path, type);
}
