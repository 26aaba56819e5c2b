/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The device fuzz targets' harness: tests/devtest.c without cmocka.  A
 * device's worker hooks run the way the worker runtime runs them, over
 * fake guest memory (two regions with a hole between them) and real split
 * rings, while the input plays a hostile guest driver that posts any
 * descriptor chain it likes.
 *
 * Input, after the target's own first byte (which config to load):
 *   features  1 byte: bit 0 EVENT_IDX, bit 1 INDIRECT_DESC, bits 2-7 the
 *             device's feature bits 0-5 (those it offers)
 *   then operations until the input ends, each one byte (op % 8):
 *     0-2  post a chain on queue (next byte % queues): 1 + (byte % 4)
 *          descriptors, each
 *            sel    1 byte: bit 0 region 1, bit 1 raw 8-byte address
 *                   instead of a 2-byte offset into the data area,
 *                   bit 2 raw flags byte and next byte instead of the
 *                   harness's chaining, bit 3 device-writable, bit 4 the
 *                   chain's descriptor table is an indirect table
 *                   (first descriptor only)
 *            addr   2 or 8 bytes;  len  2 bytes
 *            [flags 1 byte, next 1 byte]
 *            data   for a device-readable buffer, min(len, 256) bytes
 *                   copied to it from the input
 *     3    run a queue (next byte % queues), as on a kick
 *     4    run the event loop once without blocking (timers, fds)
 *     5    reset the device and restart every queue from index 0, as a
 *          VMM's reset and ring restart do
 *     6    the target's own operation (may be a no-op)
 *     7    rewrite one descriptor slot of a queue with raw bytes:
 *          queue byte, slot byte, 16 bytes (a guest changing its mind)
 * At the end every queue runs once more and the loop is dispatched.
 * Each used entry must name a head that is in flight, with a length no
 * larger than the writable bytes of the chain the harness posted there
 * (as long as the guest did nothing that could change a chain in flight:
 * raw addresses or flags, a rewritten slot, a reused head).
 * The process must keep its fd count.
 *
 * The harness plays the device's main side too: what the device sends
 * to main (ctx->send_main) is kept in a small ring (the oldest dropped
 * when full) for the target to answer through ops->worker_msg, and a
 * target may make the next sends fail (main busy).  Helpers a target's
 * operation may use: stop one queue as GET_VRING_BASE does and restart
 * it, and fire every pending timer at once.  Optional hooks a target
 * sets: fdev_on_send sees every message sent to main, fdev_on_end runs
 * after the device is gone and before the fd count (to close the
 * target's own fds and check what it kept).
 */
#ifndef VHOSTD_FUZZ_DEV_H
#define VHOSTD_FUZZ_DEV_H

#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "cfg.h"
#include "device.h"
#include "memtab.h"
#include "virtq.h"
#include "fuzz.h"

#define FDEV_QSIZE	64
#define FDEV_REGION	(256u << 10)
#define FDEV_GPA1	UINT64_C(0x100000000)
#define FDEV_DATA	0x1000u		/* data area: [0x1000, RING_AREA) */
#define FDEV_RING_AREA	(FDEV_REGION - DEV_MAX_QUEUES * 0x2000)
#define FDEV_SENT	16		/* messages to main kept */
#define FDEV_TIMERS	64		/* timers fired at once */

struct fdev {
	struct vhostd_cfg	*cfg;
	const struct dev_ops	*ops;
	struct memtab		 mt;
	uint8_t			*mem[2];
	struct virtq		 vq[DEV_MAX_QUEUES];
	uint16_t		 avail_idx[DEV_MAX_QUEUES];
	uint16_t		 used_seen[DEV_MAX_QUEUES];
	int			 call_fd[DEV_MAX_QUEUES];
	/* Per queue and head: in flight, and the writable bytes of the
	 * chain posted there. */
	bool			 busy[DEV_MAX_QUEUES][FDEV_QSIZE];
	uint64_t		 wsum[DEV_MAX_QUEUES][FDEV_QSIZE];
	struct event_base	*base;
	struct dev_ctx		 ctx;
	int			 fds[DEV_MAX_HOST_FDS];
	unsigned		 nfds;
	uint64_t		 features;
	/* The guest wrote where it could have changed a chain in flight
	 * (raw addresses, rewritten slots, a reused head): from then on
	 * only memory safety is checked, not the used entries. */
	bool			 tainted;
	/* Stopped alone (fdev_queue_stop), until restarted or reset. */
	bool			 stopped[DEV_MAX_QUEUES];
	/* Messages the device sent to main, oldest first from sent_head. */
	struct dev_msg		 sent[FDEV_SENT];
	unsigned		 sent_head, nsent;
	/* The next send_fail sends to main fail (-1, EAGAIN). */
	unsigned		 send_fail;
};

/* Optional, set by a target once: sees every message the device sends to
 * main, failed sends included. */
static void (*fdev_on_send)(struct fdev *, const struct dev_msg *);
/* Optional: at the end of each input, after the device's fini and before
 * the fd count. */
static void (*fdev_on_end)(struct fdev *);

static void fdev_run(struct fdev *t, unsigned q);

static void
fdev_queue_run(struct dev_ctx *ctx, unsigned q)
{
	struct fdev *t = (struct fdev *)(void *)((char *)ctx -
	    offsetof(struct fdev, ctx));

	fdev_run(t, q);
}

static int
fdev_send_main(struct dev_ctx *ctx, const struct dev_msg *m)
{
	struct fdev *t = (struct fdev *)(void *)((char *)ctx -
	    offsetof(struct fdev, ctx));

	/* The worker runtime refuses these: a device bug. */
	if (m->len > DEV_MSG_MAX) {
		fprintf(stderr, "fuzz: a message to main of %u bytes\n",
		    m->len);
		abort();
	}
	if (fdev_on_send != NULL)
		fdev_on_send(t, m);
	if (t->send_fail > 0) {
		t->send_fail--;
		errno = EAGAIN;
		return -1;
	}
	if (t->nsent == FDEV_SENT) {
		t->sent_head = (t->sent_head + 1) % FDEV_SENT;
		t->nsent--;
	}
	t->sent[(t->sent_head + t->nsent) % FDEV_SENT] = *m;
	t->nsent++;
	return 0;
}

/* The oldest kept message to main of op `op`: 1 and *m (taken from the
 * ring if `take`), or 0. */
static inline int
fdev_sent_get(struct fdev *t, uint32_t op, struct dev_msg *m, bool take)
{
	unsigned i, j;

	for (i = 0; i < t->nsent; i++)
		if (t->sent[(t->sent_head + i) % FDEV_SENT].op == op)
			break;
	if (i == t->nsent)
		return 0;
	*m = t->sent[(t->sent_head + i) % FDEV_SENT];
	if (!take)
		return 1;
	for (j = i; j + 1 < t->nsent; j++)
		t->sent[(t->sent_head + j) % FDEV_SENT] =
		    t->sent[(t->sent_head + j + 1) % FDEV_SENT];
	t->nsent--;
	return 1;
}

static uint8_t *
fdev_ring(struct fdev *t, unsigned q)
{
	return t->mem[0] + FDEV_RING_AREA + (size_t)q * 0x2000;
}

static void
fdev_queue_setup(struct fdev *t, unsigned q)
{
	uint8_t *h = fdev_ring(t, q);

	memset(h, 0, 0x2000);
	memset(t->busy[q], 0, sizeof(t->busy[q]));
	t->avail_idx[q] = t->used_seen[q] = 0;
	t->stopped[q] = false;
	if (vq_setup(&t->vq[q], &t->mt, FDEV_QSIZE, (uintptr_t)h,
	    (uintptr_t)(h + 0x400), (uintptr_t)(h + 0x800), 0,
	    (t->features >> VIRTIO_RING_F_EVENT_IDX) & 1,
	    (t->features >> VIRTIO_RING_F_INDIRECT_DESC) & 1) == -1)
		abort();
	t->ctx.vq[q] = &t->vq[q];
}

/* Returns -1 if the config is refused (a bug in the target's table). */
static int
fdev_init(struct fdev *t, const char *device_json, uint64_t features)
{
	struct mem_region_desc d;
	char text[1024], *errors = NULL, err[256];
	unsigned q, r;

	memset(t, 0, sizeof(*t));
	snprintf(text, sizeof(text), "{\"devices\": [{\"id\": \"dut\", "
	    "\"socket\": \"/fuzz/dut.sock\", %s}]}", device_json);
	if ((t->cfg = cfg_load_string(text, "fuzz.json", &errors)) == NULL) {
		fprintf(stderr, "fuzz config: %s\n", errors);
		free(errors);
		return -1;
	}
	t->ops = t->cfg->devs[0].ops;
	t->features = features;
	memtab_init(&t->mt);
	for (r = 0; r < 2; r++) {
		if ((t->mem[r] = calloc(1, FDEV_REGION)) == NULL)
			abort();
		d.gpa = r == 0 ? 0 : FDEV_GPA1;
		d.size = FDEV_REGION;
		d.uva = (uintptr_t)t->mem[r];
		d.mmap_offset = 0;
		if (memtab_add_mapped(&t->mt, &d, t->mem[r]) == -1)
			abort();
	}
	if (t->ops->open != NULL && t->ops->open(t->cfg->devs[0].priv, t->fds,
	    &t->nfds, err, sizeof(err)) == -1) {
		fprintf(stderr, "fuzz open hook: %s\n", err);
		abort();
	}
	if ((t->base = event_base_new()) == NULL)
		abort();
	t->ctx.id = "dut";
	t->ctx.ops = t->ops;
	t->ctx.cfg = t->cfg->devs[0].priv;
	t->ctx.host_fds = t->fds;
	t->ctx.n_host_fds = t->nfds;
	t->ctx.base = t->base;
	t->ctx.features = features;
	t->ctx.queue_run = fdev_queue_run;
	t->ctx.send_main = fdev_send_main;
	if (t->ops->preopen != NULL && t->ops->preopen(&t->ctx) != 0)
		abort();
	for (q = 0; q < t->ops->num_queues; q++) {
		vq_init(&t->vq[q], "dut queue");
		t->call_fd[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (t->call_fd[q] < 0)
			abort();
		t->vq[q].call_fd = t->call_fd[q];
		fdev_queue_setup(t, q);
	}
	if (t->ops->init != NULL && t->ops->init(&t->ctx) != 0)
		abort();
	return 0;
}

static void
fdev_fini(struct fdev *t)
{
	unsigned q, i;

	if (t->ops->reset != NULL)
		t->ops->reset(&t->ctx);
	if (t->ops->fini != NULL)
		t->ops->fini(&t->ctx);
	for (q = 0; q < t->ops->num_queues; q++) {
		vq_teardown(&t->vq[q]);
		close(t->call_fd[q]);
	}
	for (i = 0; i < t->nfds; i++)
		close(t->fds[i]);
	for (i = 0; i < t->ctx.n_kept_fds; i++)
		close(t->ctx.kept_fds[i]);
	event_base_free(t->base);
	memtab_clear(&t->mt);
	free(t->mem[0]);
	free(t->mem[1]);
	cfg_free(t->cfg);
	dev_host_close_all();
}

/* Harvests the used ring of queue q and checks each entry. */
static void
fdev_harvest(struct fdev *t, unsigned q)
{
	struct virtq *vq = &t->vq[q];
	struct vring_used_elem *e;
	uint16_t idx;

	if (t->stopped[q])
		return;
	idx = __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE);
	while (t->used_seen[q] != idx) {
		e = &vq->used->ring[t->used_seen[q] % FDEV_QSIZE];
		if (t->tainted) {
			t->used_seen[q]++;
			continue;
		}
		if (e->id >= FDEV_QSIZE || !t->busy[q][e->id]) {
			fprintf(stderr, "fuzz: used id %u not in flight\n",
			    e->id);
			abort();
		}
		if (e->len > t->wsum[q][e->id]) {
			fprintf(stderr, "fuzz: used len %u beyond the %llu "
			    "writable bytes of head %u\n", e->len,
			    (unsigned long long)t->wsum[q][e->id], e->id);
			abort();
		}
		t->busy[q][e->id] = false;
		t->used_seen[q]++;
	}
}

static void
fdev_run(struct fdev *t, unsigned q)
{
	struct virtq *vq = &t->vq[q];
	enum dev_run r;
	unsigned guard;

	if (t->stopped[q])
		return;		/* the runtime runs no stopped ring */
	for (guard = 0; guard < 4 * FDEV_QSIZE; guard++) {
		vq_disable_notify(vq);
		r = t->ops->run(&t->ctx, q);
		vq_flush(vq);
		if (r == DEV_RUN_PAUSED || vq->broken)
			break;
		if (!vq_enable_notify(vq))
			break;
	}
	fdev_harvest(t, q);
}

/* The guest address of the data area at `off` in region r. */
static uint64_t
fdev_gpa(unsigned r, uint16_t off)
{
	return (r ? FDEV_GPA1 : 0) + FDEV_DATA +
	    off % (FDEV_RING_AREA - FDEV_DATA);
}

static void *
fdev_host(struct fdev *t, uint64_t gpa, uint64_t len)
{
	uint64_t contig;
	void *p = memtab_gpa(&t->mt, gpa, len, &contig);

	return p != NULL && contig == len ? p : NULL;
}

/* Reads one descriptor from the input into *d (see the header). */
static void
fdev_read_desc(struct fdev *t, struct fz *f, struct vring_desc *d,
    bool last, uint16_t next, bool *raw)
{
	uint8_t sel = fz_u8(f), data[256];
	void *p;
	size_t k;

	d->addr = (sel & 2) ? fz_u64(f) : fdev_gpa(sel & 1, fz_u16(f));
	d->len = fz_u16(f);
	/* Beyond the data area: into the rings or the indirect tables. */
	if ((sel & 2) || (d->addr & UINT32_MAX) + d->len > FDEV_RING_AREA)
		*raw = true;
	if (sel & 4) {
		d->flags = fz_u8(f);
		d->next = fz_u8(f);
		*raw = true;
	} else {
		d->flags = (uint16_t)(((sel & 8) ? VRING_DESC_F_WRITE : 0) |
		    (last ? 0 : VRING_DESC_F_NEXT));
		d->next = next;
	}
	if (!(d->flags & VRING_DESC_F_WRITE)) {
		k = fz_bytes(f, data, d->len < sizeof(data) ? d->len :
		    sizeof(data));
		if (k > 0 && (p = fdev_host(t, d->addr, k)) != NULL)
			memcpy(p, data, k);
	}
}

static void
fdev_post(struct fdev *t, struct fz *f, unsigned q)
{
	struct virtq *vq = &t->vq[q];
	struct vring_desc chain[4];
	uint16_t head, slot;
	unsigned n = 1 + fz_u8(f) % 4, i;
	bool raw = false, indirect;
	uint64_t wsum = 0, gpa;
	uint8_t sel;

	head = (uint16_t)((t->avail_idx[q] * 4) % FDEV_QSIZE);
	sel = f->left > 0 ? f->p[0] : 0;	/* peek: the first's sel */
	indirect = (sel & 16) != 0;
	for (i = 0; i < n; i++) {
		fdev_read_desc(t, f, &chain[i], i + 1 == n,
		    indirect ? (uint16_t)(i + 1) :
		    (uint16_t)((head + i + 1) % FDEV_QSIZE), &raw);
		if (chain[i].flags & VRING_DESC_F_WRITE)
			wsum += chain[i].len;
	}
	if (t->stopped[q])
		return;		/* no ring to post on: restart resets it */
	if (indirect) {
		/* The chain as an indirect table in the unused ring area of
		 * region 1 (one slot per queue and head), behind one
		 * descriptor in the ring. */
		gpa = FDEV_GPA1 + FDEV_RING_AREA +
		    ((uint64_t)q * FDEV_QSIZE + head) * sizeof(chain);
		memcpy(fdev_host(t, gpa, sizeof(chain)), chain,
		    n * sizeof(chain[0]));
		vq->desc[head].addr = gpa;
		vq->desc[head].len = (uint32_t)(n * sizeof(chain[0]));
		vq->desc[head].flags = VRING_DESC_F_INDIRECT;
		vq->desc[head].next = 0;
	} else {
		for (i = 0; i < n; i++) {
			slot = (uint16_t)((head + i) % FDEV_QSIZE);
			vq->desc[slot] = chain[i];
		}
	}
	if (raw || t->busy[q][head])
		t->tainted = true;
	t->wsum[q][head] = wsum;
	t->busy[q][head] = true;
	vq->avail->ring[t->avail_idx[q] % FDEV_QSIZE] = head;
	__atomic_store_n(&vq->avail->idx, ++t->avail_idx[q], __ATOMIC_RELEASE);
}

/*
 * Stops queue q alone, as the worker runtime does on GET_VRING_BASE: the
 * device's queue_stop hook, the ring flushed and forgotten, and the
 * device reset once no queue runs.
 */
static inline void
fdev_queue_stop(struct fdev *t, unsigned q)
{
	unsigned i;

	if (t->stopped[q])
		return;
	if (t->ops->queue_stop != NULL)
		t->ops->queue_stop(&t->ctx, q);
	vq_flush(&t->vq[q]);
	fdev_harvest(t, q);
	vq_teardown(&t->vq[q]);
	t->stopped[q] = true;
	t->ctx.vq[q] = NULL;
	for (i = 0; i < t->ops->num_queues; i++)
		if (!t->stopped[i])
			return;
	if (t->ops->reset != NULL)
		t->ops->reset(&t->ctx);
}

/* Restarts a stopped queue from index 0 and runs it, as VRING_START. */
static inline void
fdev_queue_restart(struct fdev *t, unsigned q)
{
	if (!t->stopped[q])
		return;
	fdev_queue_setup(t, q);
	fdev_run(t, q);
}

struct fdev_timers {
	struct event	*ev[FDEV_TIMERS];
	unsigned	 n;
};

static inline int
fdev_timer_pending(const struct event_base *base, const struct event *ev,
    void *arg)
{
	struct fdev_timers *ft = arg;

	(void)base;
	if (ft->n < FDEV_TIMERS && event_pending(ev, EV_TIMEOUT, NULL))
		ft->ev[ft->n++] = (struct event *)(uintptr_t)ev;
	return 0;
}

/* Fires every pending timer now, as if their time had come, and runs the
 * event loop once. */
static inline void
fdev_fire_timers(struct fdev *t)
{
	struct fdev_timers ft;
	unsigned i, q;

	ft.n = 0;
	event_base_foreach_event(t->base, fdev_timer_pending, &ft);
	for (i = 0; i < ft.n; i++)
		event_active(ft.ev[i], EV_TIMEOUT, 0);
	event_base_loop(t->base, EVLOOP_NONBLOCK);
	for (q = 0; q < t->ops->num_queues; q++)
		fdev_harvest(t, q);
}

static void
fdev_reset(struct fdev *t)
{
	unsigned q;

	if (t->ops->reset != NULL)
		t->ops->reset(&t->ctx);
	for (q = 0; q < t->ops->num_queues; q++) {
		vq_teardown(&t->vq[q]);
		fdev_queue_setup(t, q);
	}
}

/*
 * One input: configs[first byte % n] is loaded, then the operations run.
 * dev_features: the device's feature bits (0-5) the input may turn on;
 * extra_op is the target's operation 6 (may be NULL).
 */
static int
fdev_main(const uint8_t *data, size_t size, const char *const configs[],
    unsigned nconfigs, uint64_t dev_features,
    void (*extra_op)(struct fdev *, struct fz *))
{
	struct fdev *t;
	struct fz f;
	unsigned q, nq, ops = 0;
	int before = fz_count_fds();

	fz_init(&f, data, size);
	if ((t = malloc(sizeof(*t))) == NULL)
		abort();
	{
		const char *json = configs[fz_u8(&f) % nconfigs];
		uint8_t feat = fz_u8(&f);
		uint64_t features =
		    ((feat & 1) ? UINT64_C(1) << VIRTIO_RING_F_EVENT_IDX : 0) |
		    ((feat & 2) ? UINT64_C(1) << VIRTIO_RING_F_INDIRECT_DESC :
		    0) | (UINT64_C(1) << VIRTIO_F_VERSION_1) |
		    ((uint64_t)(feat >> 2) & dev_features);

		if (fdev_init(t, json, features) == -1)
			abort();
	}
	nq = t->ops->num_queues;
	while (f.left > 0 && ops++ < 1024) {
		uint8_t op = fz_u8(&f) % 8;

		switch (op) {
		case 0: case 1: case 2:
			fdev_post(t, &f, fz_u8(&f) % nq);
			break;
		case 3:
			fdev_run(t, fz_u8(&f) % nq);
			break;
		case 4:
			event_base_loop(t->base, EVLOOP_NONBLOCK);
			for (q = 0; q < nq; q++)
				fdev_harvest(t, q);
			break;
		case 5:
			fdev_reset(t);
			break;
		case 6:
			if (extra_op != NULL)
				extra_op(t, &f);
			break;
		default:
			q = fz_u8(&f) % nq;
			{
				uint8_t slot = fz_u8(&f) % FDEV_QSIZE;
				struct vring_desc dummy;

				fz_bytes(&f, t->stopped[q] ? &dummy :
				    &t->vq[q].desc[slot], 16);
				t->tainted = true;
			}
			break;
		}
	}
	for (q = 0; q < nq; q++)
		fdev_run(t, q);
	event_base_loop(t->base, EVLOOP_NONBLOCK);
	fdev_fini(t);
	if (fdev_on_end != NULL)
		fdev_on_end(t);
	free(t);
	if (fz_count_fds() > before) {
		fprintf(stderr, "fuzz: fd leak: %d open before, %d after\n",
		    before, fz_count_fds());
		abort();
	}
	return 0;
}

#endif
