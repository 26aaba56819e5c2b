/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Worker mode: one process per device instance, exec'd by main with its
 * IPC socket at fd IPC_FD.  It learns who it is from IPC_INIT, receives
 * the host resource fds and the guest memory fds, maps guest memory and
 * runs the data plane: the device's queues, driven by kick eventfds in a
 * libevent loop.  It holds one device of one VM and nothing else.
 *
 * Datapath modes (vhostd(8), DATAPATH MODES; the command line main execs
 * the worker with says which): "interrupt" sleeps in the loop on the kick
 * eventfds.  "poll" pins the worker to its poll core and busy-polls: each
 * sweep runs every ring with new entries while kicks stay suppressed,
 * publishes what was used and signals the driver once per ring and sweep
 * if it asks; the loop gets a non-blocking turn every WQ_PASS_NS for
 * main's messages and the device's timers and fds; a sweep that found
 * nothing yields the core to the other workers polling on it.
 * "adaptive" polls the same way while there is work and, after its idle
 * time, re-enables kicks, looks at the rings once more and sleeps in the
 * loop until a kick.
 *
 * Security model: the guest controls every byte of its rings and buffers
 * (checked by virtq.c); main is trusted but every message from it is still
 * checked for size and fds by ipc_recv, and a message out of place ends
 * the worker (fatalx), which costs this device's connection only.  Before
 * any of that, right after IPC_INIT handed it its host resources, the
 * worker locks itself down (sandbox_lockdown_worker): only its own fds, no
 * new processes, no capabilities, an unprivileged user, and the seccomp
 * allow-list of its device type.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sched.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "cfg.h"
#include "device.h"
#include "ipc.h"
#include "log.h"
#include "memtab.h"
#include "sandbox.h"
#include "util.h"
#include "virtq.h"
#include "worker.h"

#define WQ_POLL_US	1000	/* ring sweep period when the front-end
				   gives no kick fd */
#define WQ_PASS_NS	200000	/* busy-poll: the event loop's turn (main's
				   messages, device timers and fds) at
				   least this often */
/* fds a worker may hold: stdio, IPC, host fds, one per memory region
 * while a table is mapped, kick/call/err per queue, and the event loop's
 * epoll fd, with room for a table being replaced. */
#define WORKER_NOFILE	(4 + DEV_MAX_HOST_FDS + 2 * MEMTAB_MAX_REGIONS + \
			 3 * DEV_MAX_QUEUES + 8)

struct wq {
	struct virtq	 vq;
	bool		 running;
	bool		 enabled;
	bool		 paused;	/* the device said DEV_RUN_PAUSED and
					   will run it again itself */
	int		 kick_fd;
	struct event	*kick_ev;
	uint64_t	 desc, avail, used;
	struct ipc_queue_stats done;	/* counters of the ring's earlier
					   runs under this worker */
};

struct region_file {
	dev_t		dev;
	ino_t		ino;
};

static struct {
	struct event_base	*base;
	struct event		*ipc_ev;
	bool			 inited;
	struct dev_ctx		 ctx;
	uint8_t			 cfg[DEV_CFG_MAX];
	char			 id[64];
	int			 host_fds[DEV_MAX_HOST_FDS];
	struct memtab		 mt;
	struct region_file	 files[MEMTAB_MAX_REGIONS];
	struct wq		 q[DEV_MAX_QUEUES];
	char			 fault[16];	/* test builds */
	/* The in-flight area (ipc.h, IPC_INIT). */
	uint8_t			*area;
	size_t			 area_len;
	uint32_t		 log_nq, log_qsize;
	/* The datapath mode (command line), and the busy-poll loop's
	 * state: polling while kicks are suppressed and the loop sweeps
	 * (poll: always; adaptive: until it goes to sleep); done once main
	 * closed the channel. */
	enum cfg_datapath	 mode;
	int			 cpu;
	uint64_t		 idle_ns;
	bool			 polling;
	bool			 done;
} W;

static void worker_ipc(evutil_socket_t, short, void *);

static void
worker_log_sink(int prio, const char *msg)
{
	struct ipc_log l;

	memset(&l, 0, sizeof(l));
	l.type = IPC_LOG;
	l.prio = prio;
	snprintf(l.text, sizeof(l.text), "%s", msg);
	/* Never block on main: a line it cannot take now is dropped. */
	(void)ipc_send(IPC_FD, &l, sizeof(l), NULL, 0, MSG_DONTWAIT);
}

#ifdef VHOSTD_TEST_HOOKS
/*
 * Test builds only: the fault the test asked for (VHOSTD_TEST_FAULT),
 * tried once, when a queue first has a request, before the request is
 * handled: a system call the policy forbids.
 */
static void
worker_test_fault(void)
{
	char *argv[] = { "true", NULL };

	if (W.fault[0] == '\0')
		return;
	log_warnx("%s: test hook: trying %s", W.id, W.fault);
	if (strcmp(W.fault, "open") == 0)
		(void)!open("/etc/passwd", O_RDONLY);
	else if (strcmp(W.fault, "socket") == 0)
		(void)!socket(AF_INET, SOCK_STREAM, 0);
	else if (strcmp(W.fault, "unix-socket") == 0)
		/* The very call main's own filter allows (vsock). */
		(void)!socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
	else if (strcmp(W.fault, "execve") == 0)
		execve("/bin/true", argv, argv + 1);
	else if (strcmp(W.fault, "ptrace") == 0)
		(void)!ptrace(PTRACE_TRACEME, 0, NULL, NULL);
	W.fault[0] = '\0';
}
#endif

static void
worker_queue_run(unsigned i)
{
	struct wq *q = &W.q[i];
	enum dev_run r;

	if (!q->running || !q->enabled || q->vq.broken)
		return;
#ifdef VHOSTD_TEST_HOOKS
	if (vq_has_avail(&q->vq))
		worker_test_fault();
#endif
	q->paused = false;
	if (W.polling) {
		/* Kicks stay off: the busy-poll loop comes back to the
		 * ring.  One flush, so one call at most, for the batch. */
		if (!q->vq.notify_off)
			vq_disable_notify(&q->vq);
		r = W.ctx.ops->run(&W.ctx, i);
		vq_flush(&q->vq);
		q->paused = r == DEV_RUN_PAUSED;
		return;
	}
	for (;;) {
		vq_disable_notify(&q->vq);
		r = W.ctx.ops->run(&W.ctx, i);
		vq_flush(&q->vq);
		if (r == DEV_RUN_PAUSED || q->vq.broken) {
			q->paused = r == DEV_RUN_PAUSED;
			return;
		}
		if (!vq_enable_notify(&q->vq))
			return;
	}
}

static void
worker_ctx_queue_run(struct dev_ctx *ctx, unsigned qidx)
{
	if (qidx < DEV_MAX_QUEUES)
		worker_queue_run(qidx);
}

static int
worker_ctx_send_main(struct dev_ctx *ctx, const struct dev_msg *m)
{
	struct ipc_dev d;

	if (m->len > DEV_MSG_MAX)
		return -1;
	memset(&d, 0, sizeof(d));
	d.type = IPC_DEV;
	d.msg = *m;
	/* Like a log line, never block on main; the device handles the
	 * failure (a guest connect refused). */
	return ipc_send(IPC_FD, &d, sizeof(d), NULL, 0, MSG_DONTWAIT);
}


/*
 * A kick on ring i (or, with no kick fd, its sweep timer).  The kick
 * eventfd is watched edge-triggered and never read: each write to it is
 * a new edge, and its count means nothing to us, so a kick costs one
 * epoll_wait and no read(2).  An adaptive worker asleep polls again.
 */
static void
worker_kick(evutil_socket_t fd, short ev, void *arg)
{
	unsigned i = (unsigned)(uintptr_t)arg;

	if (fd != -1 && W.mode == CFG_DP_ADAPTIVE && !W.polling)
		W.polling = true;
	worker_queue_run(i);
}

static void
worker_close(int *fd)
{
	if (*fd != -1) {
		close(*fd);
		*fd = -1;
	}
}

/* Watches the kick fd of ring i (or sweeps the ring if there is none). */
static void
worker_set_kick(unsigned i, int fd)
{
	struct wq *q = &W.q[i];
	struct timeval tv = { 0, WQ_POLL_US };

	if (q->kick_ev != NULL) {
		event_free(q->kick_ev);
		q->kick_ev = NULL;
	}
	worker_close(&q->kick_fd);
	q->kick_fd = fd;
	if (fd != -1) {
		/* Never read: an edge per kick is all it says. */
		q->kick_ev = event_new(W.base, fd, EV_READ | EV_PERSIST | EV_ET,
		    worker_kick, (void *)(uintptr_t)i);
		if (q->kick_ev == NULL || event_add(q->kick_ev, NULL) == -1)
			fatalx("%s: cannot watch the kick fd", W.id);
	} else {
		q->kick_ev = event_new(W.base, -1, EV_PERSIST, worker_kick,
		    (void *)(uintptr_t)i);
		if (q->kick_ev == NULL || event_add(q->kick_ev, &tv) == -1)
			fatalx("%s: cannot sweep queue %u", W.id, i);
	}
}

/* Adds the counters of ring vq to st. */
static void
worker_stats_add(struct ipc_queue_stats *st, const struct virtq *vq)
{
	unsigned b;

	st->requests += vq->n_requests;
	st->bytes_out += vq->n_bytes_out;
	st->bytes_in += vq->n_bytes_in;
	st->errors += vq->n_errors;
	st->signals += vq->n_signals;
	for (b = 0; b < VQ_LAT_BUCKETS; b++)
		st->lat[b] += vq->lat[b];
}

/*
 * main asks for the counters (vhostctl stats): every queue's, since this
 * worker started, those of its rings' earlier runs included.  Read off
 * the rings' plain counters, nothing else; never blocks on main.
 */
static void
worker_stats(const struct ipc_stats_req *m)
{
	struct ipc_stats *st;
	unsigned i;

	if ((st = calloc(1, sizeof(*st))) == NULL) {
		log_warnx("%s: no memory for the counters", W.id);
		return;
	}
	st->type = IPC_STATS;
	st->seq = m->seq;
	st->nq = W.ctx.ops->num_queues;
	for (i = 0; i < st->nq && i < DEV_MAX_QUEUES; i++) {
		st->q[i] = W.q[i].done;
		if (W.q[i].running)
			worker_stats_add(&st->q[i], &W.q[i].vq);
	}
	(void)ipc_send(IPC_FD, st, sizeof(*st), NULL, 0, MSG_DONTWAIT);
	free(st);
}

static void
worker_vring_stop(unsigned i)
{
	struct wq *q = &W.q[i];

	if (!q->running)
		return;
	worker_stats_add(&q->done, &q->vq);
	if (W.ctx.ops->queue_stop != NULL)
		W.ctx.ops->queue_stop(&W.ctx, i);
	vq_flush(&q->vq);
	if (q->kick_ev != NULL)
		event_free(q->kick_ev);
	q->kick_ev = NULL;
	worker_close(&q->kick_fd);
	worker_close(&q->vq.call_fd);
	worker_close(&q->vq.err_fd);
	vq_teardown(&q->vq);
	q->running = false;
	W.ctx.vq[i] = NULL;
}

static bool
worker_any_running(void)
{
	unsigned i;

	for (i = 0; i < W.ctx.ops->num_queues; i++)
		if (W.q[i].running)
			return true;
	return false;
}

/* SIGSYS handler's report: one IPC message to main (sendmsg is
 * async-signal-safe and allowed by every policy). */
static void
worker_seccomp_report(long nr, const char *name)
{
	struct ipc_seccomp s;

	memset(&s, 0, sizeof(s));
	s.type = IPC_SECCOMP;
	s.nr = nr;
	strncpy(s.name, name, sizeof(s.name) - 1);
	(void)ipc_send(IPC_FD, &s, sizeof(s), NULL, 0, MSG_DONTWAIT);
}

/*
 * Maps the in-flight area main made for the connection (or the front-end
 * keeps): the queues' logs, then the device's saved state.  Before the
 * lockdown; the fd is closed once mapped.
 */
static void
worker_map_area(const struct ipc_init *m, int fd)
{
	struct stat st;
	size_t need;
	void *p;

	if (m->inflight_nq > DEV_MAX_QUEUES || m->inflight_qsize == 0 ||
	    m->inflight_qsize > VQ_MAX_SIZE ||
	    (m->inflight_qsize & (m->inflight_qsize - 1)) != 0)
		fatalx("%s: worker: in-flight area of a bad shape", W.id);
	need = m->inflight_nq * vq_log_size(m->inflight_qsize) +
	    DEV_STATE_MAX;
	if (m->inflight_size < need || m->inflight_size > SIZE_MAX ||
	    m->inflight_offset > (uint64_t)INT64_MAX - m->inflight_size ||
	    fstat(fd, &st) == -1 ||
	    (uint64_t)st.st_size < m->inflight_offset + m->inflight_size)
		fatalx("%s: worker: in-flight area too small", W.id);
	p = mmap(NULL, (size_t)m->inflight_size, PROT_READ | PROT_WRITE,
	    MAP_SHARED, fd, (off_t)m->inflight_offset);
	if (p == MAP_FAILED)
		fatal("%s: worker: mapping the in-flight area", W.id);
	close(fd);
	W.area = p;
	W.area_len = (size_t)m->inflight_size;
	W.log_nq = m->inflight_nq;
	W.log_qsize = m->inflight_qsize;
	W.ctx.state = W.area + W.log_nq * vq_log_size(W.log_qsize);
	W.ctx.state_len = DEV_STATE_MAX;
}

/*
 * Takes IPC_INIT (who this worker is, its host fds), then locks the
 * process down.  Runs before the event loop exists: nothing from the
 * front-end or the guest has been seen yet.
 */
static void
worker_init(const struct ipc_init *m, const int *fds, unsigned nfds)
{
	const struct dev_ops *ops;
	struct sandbox_creds creds;
	char type[sizeof(m->dev_type) + 1], err[256];
	int keep[1 + 2 * DEV_MAX_HOST_FDS];
	unsigned i;

	if (W.inited)
		fatalx("worker: INIT received twice");
	if (m->version != IPC_VERSION)
		fatalx("worker: main speaks IPC version %u, not %u",
		    m->version, IPC_VERSION);
	memcpy(type, m->dev_type, sizeof(m->dev_type));
	type[sizeof(m->dev_type)] = '\0';
	memcpy(W.id, m->id, sizeof(W.id) - 1);
	W.id[sizeof(W.id) - 1] = '\0';
	if ((ops = dev_lookup(type)) == NULL)
		fatalx("%s: worker: unknown device type", W.id);
	if (m->cfg_size != ops->cfg_size || m->n_host_fds > DEV_MAX_HOST_FDS)
		fatalx("%s: worker: config of the wrong size", W.id);
	if (m->inflight_size != 0) {
		worker_map_area(m, fds[--nfds]);
		W.ctx.restarted = m->restarted != 0;
	}
	log_set_level(m->log_level);
	memcpy(W.cfg, m->cfg, ops->cfg_size);
	memcpy(W.fault, m->fault, sizeof(W.fault));
	W.fault[sizeof(W.fault) - 1] = '\0';
#ifdef VHOSTD_TEST_HOOKS
	/* "pop-exit:N": the first worker of a connection exits right after
	 * taking its Nth request; the ones that replace it do not. */
	if (strncmp(W.fault, "pop-exit:", 9) == 0) {
		if (m->restarted == 0)
			vq_test_exit_after_pops = (unsigned)atoi(W.fault + 9);
		W.fault[0] = '\0';
	}
#endif
	keep[0] = IPC_FD;
	for (i = 0; i < nfds; i++)
		W.host_fds[i] = keep[1 + i] = fds[i];
	W.ctx.id = W.id;
	W.ctx.ops = ops;
	W.ctx.cfg = W.cfg;
	W.ctx.host_fds = W.host_fds;
	W.ctx.n_host_fds = nfds;
	W.ctx.queue_run = worker_ctx_queue_run;
	W.ctx.send_main = worker_ctx_send_main;
	if (ops->preopen != NULL && ops->preopen(&W.ctx) == -1)
		fatalx("%s: cannot open the device's host resources", W.id);
	for (i = 0; i < W.ctx.n_kept_fds; i++)
		keep[1 + nfds + i] = W.ctx.kept_fds[i];

	/* Nobody may ptrace this process or read its memory through /proc,
	 * not even another worker of the same user. */
	if (prctl(PR_SET_DUMPABLE, 0) == -1)
		fatal("%s: PR_SET_DUMPABLE", W.id);
	memset(&creds, 0, sizeof(creds));
	creds.uid = m->uid;
	creds.gid = m->gid;
	creds.change = getuid() != m->uid || getgid() != m->gid ||
	    geteuid() != m->uid;
	creds.user = NULL;	/* no supplementary groups */
	if (sandbox_lockdown_worker(keep, 1 + nfds + W.ctx.n_kept_fds,
	    WORKER_NOFILE + (ops->extra_fds != NULL ?
	    ops->extra_fds(W.cfg) : 0), &creds,
	    ops->name, m->seccomp_log ? SANDBOX_LOG : SANDBOX_KILL,
	    worker_seccomp_report, err, sizeof(err)) == -1)
		fatalx("%s: worker lockdown: %s", W.id, err);
	W.inited = true;
}

/* After lockdown: the event loop and the device. */
static void
worker_start(void)
{
	if ((W.base = util_event_base()) == NULL)
		fatalx("%s: cannot make an epoll event base", W.id);
	W.ctx.base = W.base;
	W.ipc_ev = event_new(W.base, IPC_FD, EV_READ | EV_PERSIST,
	    worker_ipc, NULL);
	if (W.ipc_ev == NULL || event_add(W.ipc_ev, NULL) == -1)
		fatalx("%s: cannot watch the IPC socket", W.id);
	if (W.ctx.ops->init != NULL && W.ctx.ops->init(&W.ctx) == -1)
		fatal("%s: device init", W.id);
	log_debug("%s: worker %d serving as uid %u", W.id, (int)getpid(),
	    (unsigned)getuid());
}

/*
 * Replaces the memory table.  Regions that stay the same (same layout,
 * same file) keep their mapping, so buffers a device holds in them stay
 * valid; the others are unmapped after running rings were re-translated.
 */
static void
worker_mem_table(const struct ipc_mem_table *m, const int *fds)
{
	struct memtab nt, old;
	struct region_file nf[MEMTAB_MAX_REGIONS];
	struct stat st;
	unsigned i, j;
	bool lost = false;

	if (m->nregions > MEMTAB_MAX_REGIONS)
		fatalx("%s: too many regions", W.id);
	memtab_init(&nt);
	for (i = 0; i < m->nregions; i++) {
		const struct mem_region_desc *d = &m->r[i];

		if (fstat(fds[i], &st) == -1)
			fatal("%s: fstat of memory region", W.id);
		nf[i].dev = st.st_dev;
		nf[i].ino = st.st_ino;
		for (j = 0; j < W.mt.n; j++) {
			struct mem_region *o = &W.mt.r[j];

			if (o->map_base != NULL && o->d.gpa == d->gpa &&
			    o->d.size == d->size && o->d.uva == d->uva &&
			    o->d.mmap_offset == d->mmap_offset &&
			    W.files[j].dev == st.st_dev &&
			    W.files[j].ino == st.st_ino)
				break;
		}
		if (j < W.mt.n) {
			if (memtab_add_mapped(&nt, d, W.mt.r[j].host) == -1)
				fatal("%s: keeping memory region %u", W.id, i);
			nt.r[nt.n - 1].map_base = W.mt.r[j].map_base;
			nt.r[nt.n - 1].map_len = W.mt.r[j].map_len;
			W.mt.r[j].map_base = NULL;
		} else if (memtab_add(&nt, d, fds[i]) == -1)
			fatal("%s: mapping memory region %u (gpa 0x%llx size "
			    "0x%llx)", W.id, i, (unsigned long long)d->gpa,
			    (unsigned long long)d->size);
		close(fds[i]);
	}
	for (j = 0; j < W.mt.n; j++)
		if (W.mt.r[j].map_base != NULL)
			lost = true;
	old = W.mt;
	W.mt = nt;
	memcpy(W.files, nf, sizeof(nf));
	/* Held requests may point into regions that are going away. */
	if (lost && W.ctx.ops->reset != NULL && worker_any_running())
		W.ctx.ops->reset(&W.ctx);
	for (i = 0; i < W.ctx.ops->num_queues; i++) {
		struct wq *q = &W.q[i];

		if (q->running && !q->vq.broken)
			vq_remap(&q->vq, q->desc, q->avail, q->used);
	}
	memtab_clear(&old);
	/* The reset dropped what the device held and the events that would
	 * have run its rings again (a paused ring is not polled either):
	 * run them now. */
	if (lost)
		for (i = 0; i < W.ctx.ops->num_queues; i++) {
			W.q[i].paused = false;
			worker_queue_run(i);
		}
}

static void
worker_vring_start(const struct ipc_vring_start *m, const int *fds)
{
	struct wq *q;
	unsigned n = 0;
	int kick = -1;
	char name[sizeof(q->vq.name)];

	if (m->index >= W.ctx.ops->num_queues || W.q[m->index].running)
		fatalx("%s: VRING_START for ring %u out of place", W.id,
		    m->index);
	q = &W.q[m->index];
	snprintf(name, sizeof(name), "%s queue %u", W.id, m->index);
	vq_init(&q->vq, name);
	if (m->flags & IPC_VRING_HAS_KICK)
		kick = fds[n++];
	if (m->flags & IPC_VRING_HAS_CALL)
		q->vq.call_fd = fds[n++];
	if (m->flags & IPC_VRING_HAS_ERR)
		q->vq.err_fd = fds[n++];
	q->desc = m->desc;
	q->avail = m->avail;
	q->used = m->used;
	q->running = true;
	q->paused = false;
	q->enabled = (m->flags & IPC_VRING_ENABLED) != 0;
	q->kick_fd = -1;
	worker_set_kick(m->index, kick);
	if (m->num > VQ_MAX_SIZE || m->base > 0xffff ||
	    vq_setup(&q->vq, &W.mt, (uint16_t)m->num, m->desc, m->avail,
	    m->used, (uint16_t)m->base,
	    (W.ctx.features >> VIRTIO_RING_F_EVENT_IDX) & 1,
	    (W.ctx.features >> VIRTIO_RING_F_INDIRECT_DESC) & 1) == -1) {
		/* vq_setup logged why; the ring stays broken until main
		 * stops it. */
		q->vq.last_avail = (uint16_t)m->base;
		vq_break(&q->vq, "cannot set up the ring");
	}
	if (!q->vq.broken && W.area != NULL && m->index < W.log_nq) {
		unsigned again = vq_log_start(&q->vq, (struct vq_log *)(void *)
		    (W.area + m->index * vq_log_size(W.log_qsize)),
		    W.log_qsize, (m->flags & IPC_VRING_RESUME) != 0);

		if (again > 0)
			log_warnx("%s: queue %u: %u requests a previous worker "
			    "left in flight are taken up again", W.id,
			    m->index, again);
	}
	W.ctx.vq[m->index] = &q->vq;
	worker_queue_run(m->index);
}

static void
worker_vring_fd(const struct ipc_vring_fd *m, const int *fds)
{
	struct wq *q;
	int fd = m->has_fd ? fds[0] : -1;

	if (m->index >= W.ctx.ops->num_queues || !W.q[m->index].running ||
	    m->kind > IPC_FD_ERR)
		fatalx("%s: VRING_FD for ring %u out of place", W.id,
		    m->index);
	q = &W.q[m->index];
	switch (m->kind) {
	case IPC_FD_KICK:
		worker_set_kick(m->index, fd);
		/* A kick on the old eventfd, in the same epoll batch as this
		 * message, went with its event: look at the ring now. */
		worker_queue_run(m->index);
		break;
	case IPC_FD_CALL:
		worker_close(&q->vq.call_fd);
		q->vq.call_fd = fd;
		break;
	case IPC_FD_ERR:
		worker_close(&q->vq.err_fd);
		q->vq.err_fd = fd;
		break;
	}
}

static void
worker_reply_base(unsigned i, uint16_t base)
{
	struct ipc_vring_ctl r = {
		.type = IPC_VRING_BASE, .index = i, .value = base,
	};

	if (ipc_send(IPC_FD, &r, sizeof(r), NULL, 0, 0) == -1)
		fatal("%s: sending ring base", W.id);
}

static void
worker_dispatch(union ipc_msg *m, int *fds, unsigned nfds)
{
	unsigned i;
	uint16_t base;

	if (m->type == IPC_INIT)
		fatalx("%s: INIT received twice", W.id);
	switch (m->type) {
	case IPC_FEATURES:
		W.ctx.features = m->features.features;
		break;
	case IPC_MEM_TABLE:
		worker_mem_table(&m->mem, fds);
		break;
	case IPC_VRING_START:
		worker_vring_start(&m->start, fds);
		break;
	case IPC_VRING_FD:
		worker_vring_fd(&m->vfd, fds);
		break;
	case IPC_VRING_ENABLE:
		i = m->ctl.index;
		if (i >= W.ctx.ops->num_queues)
			fatalx("%s: VRING_ENABLE for ring %u", W.id, i);
		W.q[i].enabled = m->ctl.value != 0;
		worker_queue_run(i);
		break;
	case IPC_VRING_STOP:
		i = m->ctl.index;
		if (i >= W.ctx.ops->num_queues || !W.q[i].running)
			fatalx("%s: VRING_STOP for ring %u out of place",
			    W.id, i);
		base = W.q[i].vq.last_avail;
		worker_vring_stop(i);
		if (!worker_any_running() && W.ctx.ops->reset != NULL)
			W.ctx.ops->reset(&W.ctx);
		worker_reply_base(i, base);
		break;
	case IPC_DEV:
		if (W.ctx.ops->worker_msg == NULL)
			fatalx("%s: main sent a device message this device "
			    "does not take", W.id);
		W.ctx.ops->worker_msg(&W.ctx, &m->dev.msg,
		    m->dev.has_fd ? fds[0] : -1);
		break;
	case IPC_STATS_REQ:
		worker_stats(&m->stats_req);
		break;
	case IPC_LOG_LEVEL:
		if (m->log_level.level < LOG_ERR ||
		    m->log_level.level > LOG_DEBUG)
			fatalx("%s: main sent log level %d", W.id,
			    (int)m->log_level.level);
		log_set_level(m->log_level.level);
		break;
	case IPC_RESET:
		for (i = 0; i < W.ctx.ops->num_queues; i++)
			worker_vring_stop(i);
		if (W.ctx.ops->reset != NULL)
			W.ctx.ops->reset(&W.ctx);
		W.ctx.features = 0;
		break;
	default:
		fatalx("%s: main sent %s, which only a worker may send",
		    W.id, ipc_type_name(m->type));
	}
}

static void
worker_ipc(evutil_socket_t fd, short ev, void *arg)
{
	union ipc_msg m;
	int fds[IPC_MAX_FDS];
	unsigned nfds;
	const char *why;
	int r;

	for (;;) {
		r = ipc_recv(IPC_FD, &m, fds, &nfds, &why);
		if (r == -1 && errno == EAGAIN)
			return;
		if (r == 0 || (r == -1 && errno == ECONNRESET)) {
			/* main is gone or let us go (ECONNRESET: it closed
			 * the channel with our messages unread). */
			W.done = true;
			event_base_loopbreak(W.base);
			return;
		}
		if (r == -1)
			fatalx("%s: bad message from main: %s", W.id,
			    why != NULL ? why : strerror(errno));
		worker_dispatch(&m, fds, nfds);
	}
}

/* Waits for main's first message, which must be IPC_INIT. */
static void
worker_wait_init(void)
{
	struct pollfd pfd = { .fd = IPC_FD, .events = POLLIN };
	union ipc_msg m;
	int fds[IPC_MAX_FDS];
	unsigned nfds;
	const char *why;
	int r;

	for (;;) {
		if (poll(&pfd, 1, -1) == -1 && errno != EINTR)
			fatal("worker: poll");
		r = ipc_recv(IPC_FD, &m, fds, &nfds, &why);
		if (r == -1 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r == 0)
			exit(0);	/* main let us go before we began */
		if (r == -1)
			fatalx("worker: bad first message from main: %s",
			    why != NULL ? why : strerror(errno));
		if (m.type != IPC_INIT)
			fatalx("worker: %s before INIT",
			    ipc_type_name(m.type));
		worker_init(&m.init, fds, nfds);
		return;
	}
}

/* ---- the busy-poll loop (datapath poll and adaptive) ---- */

/* A ring the busy-poll loop looks at. */
static bool
worker_pollable(const struct wq *q)
{
	return q->running && q->enabled && !q->vq.broken && !q->paused;
}

/*
 * One sweep: every pollable ring with kicks suppressed, each one with new
 * entries run (worker_queue_run: its used entries published, the driver
 * signalled if it asks).  Returns how many rings took requests, and in
 * *pollable how many were looked at.
 */
static unsigned
worker_sweep(unsigned *pollable)
{
	struct wq *q;
	uint64_t before;
	unsigned i, busy = 0, n = 0;

	for (i = 0; i < W.ctx.ops->num_queues; i++) {
		q = &W.q[i];
		if (!worker_pollable(q))
			continue;
		n++;
		if (!q->vq.notify_off)
			vq_disable_notify(&q->vq);
		if (!vq_has_avail(&q->vq))
			continue;
		before = q->vq.n_requests;
		worker_queue_run(i);
		if (q->vq.n_requests != before)
			busy++;
	}
	*pollable = n;
	return busy;
}

/*
 * Adaptive, idle for idle_ns: re-enables kicks on every polled ring and
 * looks at each once more, so that a request made available before its
 * kick was enabled is found now (vq_enable_notify orders the two; the
 * driver publishes, then reads whether to kick, so one of us sees the
 * other).  Found: polling goes on.  Otherwise the loop sleeps until a
 * kick (worker_kick).
 */
static void
worker_poll_sleep(void)
{
	unsigned i;
	bool found = false;

	W.polling = false;
	for (i = 0; i < W.ctx.ops->num_queues; i++)
		if (worker_pollable(&W.q[i]) && vq_enable_notify(&W.q[i].vq))
			found = true;
	if (found)
		W.polling = true;	/* the next sweep turns kicks off */
}

/*
 * A poll core taken offline: the kernel moved this worker to the other
 * CPUs (main's and the interrupt workers'), where a busy poll would take
 * them over, and its filter forbids pinning it anywhere.  It serves in
 * interrupt mode from then on, kicks re-enabled and its rings looked at
 * once more.
 */
static void
worker_check_core(void)
{
	unsigned i;
	int cpu;

	if (W.mode == CFG_DP_INTERRUPT || (cpu = sched_getcpu()) == -1 ||
	    cpu == W.cpu)
		return;
	log_warnx("%s: poll core %d is gone (running on CPU %d); serving in "
	    "interrupt mode", W.id, W.cpu, cpu);
	W.mode = CFG_DP_INTERRUPT;
	W.polling = false;
	for (i = 0; i < W.ctx.ops->num_queues; i++)
		if (worker_pollable(&W.q[i]) && vq_enable_notify(&W.q[i].vq))
			worker_queue_run(i);
}

/* One turn of the event loop (EVLOOP_ONCE: waits for an event). */
static void
worker_loop_turn(int flags)
{
	if (event_base_loop(W.base, flags) == -1)
		fatalx("%s: event loop failed", W.id);
}

/*
 * The worker's loop in poll and adaptive modes, instead of
 * event_base_dispatch; returns once main closed the channel.  The event
 * loop runs without blocking at least every WQ_PASS_NS, so that main's
 * requests (GET_VRING_BASE) are answered within a fraction of a
 * millisecond plus the core's other pollers' turns, and blocks only when
 * there is nothing to poll: adaptive asleep, no ring running yet, or
 * every ring held by its device (which runs it again itself).
 */
static void
worker_poll_loop(void)
{
	uint64_t now, last_work, last_pass;
	unsigned busy, pollable;

	W.polling = true;
	last_work = last_pass = util_now_ns();
	while (!W.done) {
		if (!W.polling) {
			worker_loop_turn(EVLOOP_ONCE);
			last_work = last_pass = util_now_ns();
			continue;
		}
		busy = worker_sweep(&pollable);
		now = util_now_ns();
		if (busy > 0)
			last_work = now;
		else if (pollable == 0) {
			worker_loop_turn(EVLOOP_ONCE);
			last_work = last_pass = util_now_ns();
			continue;
		} else if (W.mode == CFG_DP_ADAPTIVE &&
		    now - last_work >= W.idle_ns) {
			worker_poll_sleep();
			if (!W.polling)
				continue;
		} else {
			/* Nothing this time: the other workers polling on
			 * this core have their turn. */
			sched_yield();
		}
		if (now - last_pass >= WQ_PASS_NS) {
			worker_check_core();
			worker_loop_turn(EVLOOP_NONBLOCK);
			last_pass = now;
		}
	}
}

/*
 * The datapath mode main gave on the command line, after "--worker ID":
 * nothing (interrupt), or "--datapath poll|adaptive --cpu N" and, for
 * adaptive, "--idle-us U".  main wrote it: anything else is our bug.
 */
static void
worker_args(int argc, char *argv[])
{
	char *end;
	long v;
	int i;

	W.mode = CFG_DP_INTERRUPT;
	W.cpu = -1;
	if (argc >= 3)
		snprintf(W.id, sizeof(W.id), "%s", argv[2]);
	for (i = 3; i + 1 < argc; i += 2) {
		errno = 0;
		v = strtol(argv[i + 1], &end, 10);
		if (strcmp(argv[i], "--datapath") == 0) {
			if (strcmp(argv[i + 1], "poll") == 0)
				W.mode = CFG_DP_POLL;
			else if (strcmp(argv[i + 1], "adaptive") == 0)
				W.mode = CFG_DP_ADAPTIVE;
			else
				break;
		} else if (strcmp(argv[i], "--cpu") == 0 && errno == 0 &&
		    *end == '\0' && v >= 0 && v < CFG_CPU_MAX)
			W.cpu = (int)v;
		else if (strcmp(argv[i], "--idle-us") == 0 && errno == 0 &&
		    *end == '\0' && v >= 1 && v <= CFG_IDLE_US_MAX)
			W.idle_ns = (uint64_t)v * 1000;
		else
			break;
	}
	if (i < argc || (W.mode != CFG_DP_INTERRUPT && W.cpu == -1) ||
	    (W.mode == CFG_DP_ADAPTIVE && W.idle_ns == 0))
		fatalx("worker: bad command line");
}

/*
 * A polled worker runs on its poll core only, from its first
 * instruction on (before its lockdown: its own filter has no
 * sched_setaffinity).  If the core is gone (taken offline since vhostd
 * started), it serves in interrupt mode rather than poll on main's.
 */
static void
worker_pin(void)
{
	cpu_set_t set;

	if (W.mode == CFG_DP_INTERRUPT)
		return;
	CPU_ZERO(&set);
	CPU_SET(W.cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) == -1) {
		log_warn("%s: cannot run on poll core %d; serving in "
		    "interrupt mode", W.id, W.cpu);
		W.mode = CFG_DP_INTERRUPT;
	}
}

int
worker_main(int argc, char *argv[])
{
	struct ipc_hello h = { .type = IPC_HELLO, .version = IPC_VERSION };
	unsigned i;

	log_set_sink(worker_log_sink);
	worker_args(argc, argv);
	worker_pin();
	/* Die with main, whatever happens to it. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() == 1)
		fatalx("worker: no parent");
	signal(SIGPIPE, SIG_IGN);
	if (fcntl(IPC_FD, F_SETFD, FD_CLOEXEC) == -1 ||
	    fcntl(IPC_FD, F_SETFL, O_NONBLOCK) == -1)
		fatal("worker: IPC fd");
	memtab_init(&W.mt);
	for (i = 0; i < DEV_MAX_QUEUES; i++) {
		W.q[i].kick_fd = -1;
		vq_init(&W.q[i].vq, "unused");
	}
	h.pid = (int32_t)getpid();
	if (ipc_send(IPC_FD, &h, sizeof(h), NULL, 0, 0) == -1)
		fatal("worker: hello");
	worker_wait_init();
	worker_start();
	if (W.mode == CFG_DP_INTERRUPT)
		event_base_dispatch(W.base);
	else
		worker_poll_loop();

	if (W.inited) {
		for (i = 0; i < W.ctx.ops->num_queues; i++)
			worker_vring_stop(i);
		if (W.ctx.ops->fini != NULL)
			W.ctx.ops->fini(&W.ctx);
	}
	memtab_clear(&W.mt);
	if (W.area != NULL)
		munmap(W.area, W.area_len);
	event_free(W.ipc_ev);
	event_base_free(W.base);
	return 0;
}
