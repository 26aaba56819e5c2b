/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vubench's set-up of a device and the data path of the request devices
 * (virtio-rng, virtio-gpio, virtio-i2c).  vufront does the vhost-user part
 * (connect, features, memory table, rings); from then on the split rings
 * are driven here directly, from pointers taken once: every request slot
 * has its descriptor chain and buffers built at set-up and reused as they
 * are (slot s is always head s * nd), so a request costs a few stores to
 * the avail ring, a release store of avail->idx, a fence and, when the
 * device asks for one (EVENT_IDX's avail_event, or no VRING_USED_F_NO_NOTIFY),
 * a kick.  Completions are seen on the used ring, by waiting on the call
 * eventfd (--completion call) or by spinning on used->idx with calls
 * suppressed (--completion poll).  Each completion is checked: the head
 * must be a request in flight (else a protocol error), its result must be
 * right (rng: the buffer written up to the used length; gpio: status OK
 * and, for get_value, a value 0 or 1; i2c: status OK).
 */
#include "config.h"

#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#define VIRTIO_GPIO_MSG_SET_DIRECTION	3
#define VIRTIO_GPIO_MSG_GET_VALUE	4
#define VIRTIO_GPIO_MSG_SET_VALUE	5
#define VIRTIO_GPIO_DIRECTION_OUT	1
#define VIRTIO_I2C_FLAGS_M_RD		(1u << 1)
#define VIRTIO_I2C_F_ZERO_LENGTH_REQUEST 0

#define RESP_OFF	32		/* response/status in a slot's line */
#define CANARY		UINT64_C(0x5ca1ab1e0ddba11)
#define QUIET_EVERY	4096		/* poll: used_event refresh */

#define MIB		(1024ULL * 1024)

static const uint64_t one = 1;

uint16_t
qsize_for(unsigned nslots, unsigned nd)
{
	unsigned need = nslots * nd, q = 256;

	if (O.qsize != 0)
		return need <= O.qsize ? (uint16_t)O.qsize : 0;
	while (q < need && q < 32768)
		q *= 2;
	return need <= q ? (uint16_t)q : 0;
}

uint64_t
ring_alloc(struct bdev *d, uint64_t len, uint64_t align)
{
	uint64_t gpa = vuf_alloc(d->v, 0, len, align);

	if (gpa == VUF_BAD_GPA)
		dev_fail(d, false, "guest RAM: %s", vuf_error(d->v));
	return gpa;
}

void
pin_self(struct bdev *d)
{
	cpu_set_t set;

	if (d->cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(d->cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) == -1)
		fprintf(stderr, "vubench: %s: pinning to CPU %d: %s\n",
		    d->path, d->cpu, strerror(errno));
}

/* The guest RAM size for nqueues rings and buf_bytes of buffers. */
static uint64_t
ram_size(unsigned nqueues, const uint16_t *qsize, uint64_t buf_bytes)
{
	uint64_t ram = 2 * 4096 + buf_bytes + MIB;
	unsigned q;

	/* Rings (each part on its own page), then the buffers. */
	for (q = 0; q < nqueues; q++)
		ram += 26 * (uint64_t)qsize[q] + 4 * 4096;
	return (ram + 2 * MIB - 1) & ~(2 * MIB - 1);
}

/* --loopback: the same layout with no back-end (loop.c plays it). */
static int
loop_open(struct bdev *d, uint64_t features, unsigned nqueues,
    const uint16_t *qsize, uint64_t buf_bytes)
{
	unsigned q;

	if ((d->v = vuf_from_fd(-1)) == NULL) {
		dev_fail(d, false, "out of memory");
		return -1;
	}
	d->v->features = features & ~(1ULL << VUF_F_PROTOCOL_FEATURES);
	d->v->event_idx = (features >> VIRTIO_RING_F_EVENT_IDX) & 1;
	d->ram = ram_size(nqueues, qsize, buf_bytes);
	if (vuf_mem_add(d->v, 0, d->ram, 0) == -1) {
		dev_fail(d, false, "guest RAM: %s", vuf_error(d->v));
		return -1;
	}
	for (q = 0; q < nqueues; q++)
		if (vuf_vq_alloc_aligned(d->v, q, qsize[q], 0, 4096) == -1) {
			dev_fail(d, false, "queue %u: %s", q, vuf_error(d->v));
			return -1;
		}
	d->nqueues = nqueues;
	return 0;
}

int
dev_open(struct bdev *d, uint64_t dev_bits, unsigned nqueues,
    const uint16_t *qsize, uint64_t buf_bytes)
{
	uint64_t want, wantp, ram, n;
	unsigned q;

	want = (1ULL << VIRTIO_F_VERSION_1) |
	    (1ULL << VUF_F_PROTOCOL_FEATURES) | dev_bits;
	if (O.event_idx)
		want |= 1ULL << VIRTIO_RING_F_EVENT_IDX;
	wantp = (1ULL << VUF_PF_MQ) | (1ULL << VUF_PF_REPLY_ACK) |
	    (1ULL << VUF_PF_CONFIG) | (1ULL << VUF_PF_STATUS);
	if (O.loopback > 0)
		return loop_open(d, want, nqueues, qsize, buf_bytes);
	if ((d->v = vuf_connect(d->path, O.timeout_ms)) == NULL) {
		dev_fail(d, false, "connect: %s", strerror(errno));
		return -1;
	}
	d->v->timeout_ms = O.timeout_ms;
	if (vuf_negotiate(d->v, want, wantp) == -1) {
		dev_fail(d, false, "negotiation: %s", vuf_error(d->v));
		return -1;
	}
	if ((d->v->dev_features & dev_bits) != dev_bits)
		fprintf(stderr, "vubench: %s: the back-end does not offer "
		    "feature bits %#llx\n", d->path, (unsigned long long)
		    (dev_bits & ~d->v->dev_features));
	if (!((d->v->features >> VIRTIO_F_VERSION_1) & 1))
		fprintf(stderr, "vubench: %s: the back-end does not offer "
		    "VIRTIO_F_VERSION_1\n", d->path);
	if ((d->v->protocol_features >> VUF_PF_MQ) & 1) {
		if (vuf_get_queue_num(d->v, &n) == -1) {
			dev_fail(d, false, "GET_QUEUE_NUM: %s",
			    vuf_error(d->v));
			return -1;
		}
		if (n < nqueues) {
			dev_fail(d, false, "the back-end has %llu queue(s), %u "
			    "needed", (unsigned long long)n, nqueues);
			return -1;
		}
	}
	ram = d->ram = ram_size(nqueues, qsize, buf_bytes);
	if (vuf_mem_add(d->v, 0, ram, 0) == -1 ||
	    vuf_set_mem_table(d->v) == -1) {
		dev_fail(d, false, "guest RAM of %llu MiB: %s",
		    (unsigned long long)(ram / MIB), vuf_error(d->v));
		return -1;
	}
	for (q = 0; q < nqueues; q++)
		if (vuf_vq_alloc_aligned(d->v, q, qsize[q], 0, 4096) == -1 ||
		    vuf_vq_start(d->v, q) == -1) {
			dev_fail(d, false, "queue %u: %s", q, vuf_error(d->v));
			return -1;
		}
	d->nqueues = nqueues;
	if (((d->v->protocol_features >> VUF_PF_STATUS) & 1) &&
	    vuf_set_status(d->v, VUF_S_ACKNOWLEDGE | VUF_S_DRIVER |
	    VUF_S_FEATURES_OK | VUF_S_DRIVER_OK) == -1) {
		dev_fail(d, false, "SET_STATUS: %s", vuf_error(d->v));
		return -1;
	}
	return 0;
}

/* Takes over queue q from vufront for nslots chains of nd descriptors
 * (head of slot s: s * nd, its descriptors linked in a row). */
int
bq_init(struct bdev *d, unsigned qi, unsigned nslots, unsigned nd)
{
	struct vuf_vq *vq = &d->v->vq[qi];
	struct bq *q = &d->q[qi];
	unsigned s, k, h;

	memset(q, 0, sizeof(*q));
	q->index = qi;
	q->desc = vq->desc;
	q->avail = vq->avail;
	q->used = vq->used;
	q->num = vq->num;
	q->mask = (uint16_t)(vq->num - 1);
	q->used_event = &vq->avail->ring[vq->num];
	q->avail_event = (volatile uint16_t *)&vq->used->ring[vq->num];
	q->avail_idx = vq->avail_idx;
	q->last_used = q->ue_base = vq->last_used;
	q->kick_fd = vq->kick_fd;
	q->call_fd = vq->call_fd;
	q->event_idx = d->v->event_idx;
	q->nd = nd;
	q->nslots = nslots;
	if (nslots * nd > q->num) {
		dev_fail(d, false, "queue %u: %u requests of %u descriptors "
		    "do not fit in %u entries", qi, nslots, nd, q->num);
		return -1;
	}
	q->slot_of = malloc(q->num * sizeof(*q->slot_of));
	q->head_of = calloc(nslots, sizeof(*q->head_of));
	q->t_sub = calloc(nslots, sizeof(*q->t_sub));
	q->inflight = calloc(nslots, 1);
	q->resub = calloc(nslots, sizeof(*q->resub));
	q->buf = calloc(nslots, sizeof(*q->buf));
	q->aux = calloc(nslots, sizeof(*q->aux));
	if (q->slot_of == NULL || q->head_of == NULL || q->t_sub == NULL ||
	    q->inflight == NULL || q->resub == NULL || q->buf == NULL ||
	    q->aux == NULL) {
		dev_fail(d, false, "out of memory");
		return -1;
	}
	for (h = 0; h < q->num; h++)
		q->slot_of[h] = NOSLOT;
	for (s = 0; s < nslots; s++) {
		h = s * nd;
		q->head_of[s] = (uint16_t)h;
		q->slot_of[h] = (uint16_t)s;
		for (k = 0; k < nd; k++) {
			q->desc[h + k].flags = k + 1 < nd ? VRING_DESC_F_NEXT :
			    0;
			q->desc[h + k].next = (uint16_t)(h + k + 1 < q->num ?
			    h + k + 1 : 0);
		}
	}
	if (O.completion == BC_POLL)
		bq_quiet(q);
	else
		bq_arm(q);
	return 0;
}

static void
bq_free(struct bq *q)
{
	free(q->slot_of);
	free(q->head_of);
	free(q->t_sub);
	free(q->inflight);
	free(q->resub);
	free(q->buf);
	free(q->aux);
	memset(q, 0, sizeof(*q));
}

/* Standard event index test (VIRTIO 1.x 2.7.7.2). */
static inline bool
need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

/* Publishes the `added` entries just written to the avail ring and kicks
 * if the device wants it. */
void
bq_publish(struct bdev *d, struct bq *q, unsigned added)
{
	uint16_t old = (uint16_t)(q->avail_idx - added);
	bool kick;

	__atomic_store_n(&q->avail->idx, q->avail_idx, __ATOMIC_RELEASE);
	/* The index is visible before we read the device's wishes; it
	 * does the converse (VIRTIO 2.7.10). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (q->event_idx)
		kick = need_event(*q->avail_event, q->avail_idx, old);
	else
		kick = !(__atomic_load_n(&q->used->flags, __ATOMIC_RELAXED) &
		    VRING_USED_F_NO_NOTIFY);
	if (kick) {
		if (write(q->kick_fd, &one, sizeof(one)) != sizeof(one))
			dev_fail(d, true, "queue %u: kick: %s", q->index,
			    strerror(errno));
		q->kicks++;
	}
}

/* Asks for a call at the next used entry (--completion call). */
void
bq_arm(struct bq *q)
{
	if (q->event_idx)
		*q->used_event = q->last_used;
	else
		q->avail->flags = 0;
}

/* Asks for no calls (--completion poll): with EVENT_IDX, used_event just
 * behind what was read (refreshed every QUIET_EVERY entries, well before
 * the device's index could come round to it); else NO_INTERRUPT. */
void
bq_quiet(struct bq *q)
{
	if (q->event_idx) {
		*q->used_event = (uint16_t)(q->last_used - 1);
		q->ue_base = q->last_used;
	} else
		q->avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
}

/*
 * --completion call: arms every queue, and if none has a used entry
 * waits up to timeout_ms for a call.  Returns 1 (maybe something to
 * read), 0 on timeout, -1 on error.
 */
int
bq_wait(struct bdev *d, struct bq **qs, unsigned n, int timeout_ms)
{
	struct pollfd pfd[BENCH_MAX_QUEUES];
	uint64_t v;
	unsigned i;
	int r;

	for (i = 0; i < n; i++)
		bq_arm(qs[i]);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	for (i = 0; i < n; i++)
		if (__atomic_load_n(&qs[i]->used->idx, __ATOMIC_ACQUIRE) !=
		    qs[i]->last_used)
			return 1;
	for (i = 0; i < n; i++) {
		pfd[i].fd = qs[i]->call_fd;
		pfd[i].events = POLLIN;
		pfd[i].revents = 0;
	}
	d->waits++;
	r = poll(pfd, n, timeout_ms);
	if (r == -1 && errno == EINTR)
		return 1;
	if (r == -1) {
		dev_fail(d, false, "poll: %s", strerror(errno));
		return -1;
	}
	for (i = 0; i < n; i++)
		if ((pfd[i].revents & POLLIN) &&
		    read(qs[i]->call_fd, &v, sizeof(v)) == sizeof(v))
			qs[i]->calls += v;
	return r > 0;
}

/* ---- the request devices ---- */

static unsigned
chain_len(void)
{
	switch (O.type) {
	case BT_RNG:
		return 1;
	case BT_GPIO:
		return 2;
	case BT_I2C:
		return O.size > 0 ? 3 : 2;
	default:
		return 0;
	}
}

static void
put_le16(uint8_t *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, 2);
}

static void
put_le32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

/* gpio set_value: the line becomes an output first (once, through
 * vufront's own calls, before the ring is taken over). */
static int
gpio_make_output(struct bdev *d)
{
	struct vuf_seg seg[2];
	uint32_t head, len;
	uint64_t a;
	uint8_t *p;

	if ((a = ring_alloc(d, 64, 64)) == VUF_BAD_GPA)
		return -1;
	p = vuf_gpa_to_host(d->v, a, 64);
	put_le16(p, VIRTIO_GPIO_MSG_SET_DIRECTION);
	put_le16(p + 2, (uint16_t)O.gpio_line);
	put_le32(p + 4, VIRTIO_GPIO_DIRECTION_OUT);
	p[RESP_OFF] = 0xff;
	seg[0] = (struct vuf_seg){ a, 8, false };
	seg[1] = (struct vuf_seg){ a + RESP_OFF, 2, true };
	if (vuf_vq_add(d->v, 0, seg, 2) == -1 || vuf_kick(d->v, 0) == -1 ||
	    vuf_vq_wait_used(d->v, 0, &head, &len, O.timeout_ms) != 1) {
		dev_fail(d, false, "gpio set_direction out: %s",
		    vuf_error(d->v));
		return -1;
	}
	if (len != 2 || p[RESP_OFF] != 0) {
		dev_fail(d, false, "gpio set_direction out of line %u: used "
		    "length %u, status %u", O.gpio_line, len, p[RESP_OFF]);
		return -1;
	}
	return 0;
}

/* Rewrites what the device must overwrite, so that a result left alone
 * is seen. */
static inline void
rearm(struct bq *q, unsigned s)
{
	uint8_t *b;
	size_t i;

	switch (O.type) {
	case BT_RNG:
		if (O.verify == VERIFY_NONE || O.size < 8)
			break;
		b = q->buf[s];
		if (O.verify == VERIFY_FULL) {
			for (i = 0; i + 8 <= O.size; i += 8)
				memcpy(b + i, &(uint64_t){ CANARY }, 8);
			break;
		}
		memcpy(b, &(uint64_t){ CANARY }, 8);
		if (O.size >= 16)
			memcpy(b + O.size - 8, &(uint64_t){ CANARY }, 8);
		break;
	case BT_GPIO:
		memcpy(q->aux[s], &(uint16_t){ 0xffff }, 2);
		break;
	case BT_I2C:
		*q->aux[s] = 0xff;
		break;
	default:
		break;
	}
}

static inline bool
has_canary(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v == CANARY;
}

/* Checks what the device made of slot s, used with len bytes. */
static inline void
check(struct bdev *d, struct bq *q, unsigned s, uint32_t len)
{
	const uint8_t *b;
	size_t i;

	d->requests++;
	switch (O.type) {
	case BT_RNG:
		if (len == 0 || len > O.size) {
			result_error(d, "queue %u head %u: rng used length %u "
			    "for a buffer of %u", q->index, q->head_of[s], len,
			    O.size);
			break;
		}
		d->bytes += len;
		if (len < O.size)
			d->short_fills++;
		if (O.verify == VERIFY_NONE || O.size < 8 || len < 8)
			break;
		b = q->buf[s];
		if (O.verify == VERIFY_FULL) {
			for (i = 0; i + 8 <= len; i += 8)
				if (has_canary(b + i))
					break;
			if (i + 8 <= len)
				result_error(d, "queue %u head %u: rng bytes "
				    "%zu-%zu of the %u used not written",
				    q->index, q->head_of[s], i, i + 7, len);
			break;
		}
		if (has_canary(b) || (len == O.size && O.size >= 16 &&
		    has_canary(b + O.size - 8)))
			result_error(d, "queue %u head %u: rng buffer not "
			    "written (used length %u)", q->index,
			    q->head_of[s], len);
		break;
	case BT_GPIO:
		b = q->aux[s];
		if (len != 2 || b[0] != 0 || (O.gpio == GPIO_GET && b[1] > 1))
			result_error(d, "queue %u head %u: gpio %s of line %u: "
			    "used length %u, status %u, value %u", q->index,
			    q->head_of[s], O.gpio == GPIO_GET ? "get_value" :
			    "set_value", O.gpio_line, len, b[0], b[1]);
		else
			d->bytes += 2;
		break;
	case BT_I2C:
		b = q->aux[s];
		if (b[0] != 0 || len < 1 || len > O.size + 1)
			result_error(d, "queue %u head %u: i2c %s of %u bytes "
			    "at 0x%02x: status %u, used length %u", q->index,
			    q->head_of[s], O.i2c == I2C_READ ? "read" : "write",
			    O.size, O.i2c_addr, b[0], len);
		else
			d->bytes += O.size;
		break;
	default:
		break;
	}
}

/*
 * Takes every used entry of q, checks it and (if resubmit) makes its
 * slot available again at once, then publishes them in one go.  Returns
 * the number of entries taken (0 after a protocol error).
 */
static inline unsigned
service(struct bdev *d, struct bq *q, bool resubmit)
{
	uint16_t u = __atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE);
	uint16_t n = (uint16_t)(u - q->last_used), s;
	struct vring_used_elem *e;
	uint64_t now, t;
	int64_t lat;
	unsigned i, nr = 0;
	uint32_t id, len;

	if (n == 0)
		return 0;
	if (n > q->num) {
		dev_fail(d, true, "queue %u: used idx %u is %u entries ahead "
		    "of %u (size %u)", q->index, u, n, q->last_used, q->num);
		return 0;
	}
	now = clk_ticks();
	for (i = 0; i < n; i++) {
		e = &q->used->ring[q->last_used & q->mask];
		id = e->id;
		len = e->len;
		q->last_used++;
		if (id >= q->num || (s = q->slot_of[id]) == NOSLOT ||
		    !q->inflight[s]) {
			dev_fail(d, true, "queue %u: used id %u (entry %u) is "
			    "not a request in flight", q->index, id,
			    (uint16_t)(q->last_used - 1));
			return 0;
		}
		q->inflight[s] = 0;
		q->completed++;
		check(d, q, s, len);
		lat = (int64_t)(now - q->t_sub[s]);
		hist_add(d->lat, clk_ns(lat > 0 ? (uint64_t)lat : 0));
		q->resub[nr++] = (uint16_t)s;
	}
	/* Only once the whole batch is taken (a head used twice in it is
	 * a protocol error, not a completion of its next request). */
	if (resubmit && nr > 0) {
		for (i = 0; i < nr; i++) {
			s = q->resub[i];
			rearm(q, s);
			q->avail->ring[q->avail_idx++ & q->mask] =
			    q->head_of[s];
			q->inflight[s] = 1;
		}
		q->submitted += nr;
		t = clk_ticks();
		for (i = 0; i < nr; i++)
			q->t_sub[q->resub[i]] = t;
		bq_publish(d, q, nr);
	}
	if (O.completion == BC_POLL && q->event_idx &&
	    (uint16_t)(q->last_used - q->ue_base) >= QUIET_EVERY)
		bq_quiet(q);
	return n;
}

int
ring_setup(struct bdev *d)
{
	unsigned nd = chain_len(), nq = O.queues, nstart, q, s;
	uint16_t qs[BENCH_MAX_QUEUES];
	uint64_t bits = 0, per, gpa, aux;
	uint8_t *line;
	struct bq *b;

	if (O.type == BT_I2C)
		bits = 1ULL << VIRTIO_I2C_F_ZERO_LENGTH_REQUEST;
	/* gpio: the requestq is driven, the eventq started (as a VMM
	 * does), with no buffers. */
	nstart = O.type == BT_GPIO ? 2 : nq;
	for (q = 0; q < nstart; q++)
		if ((qs[q] = qsize_for(O.depth, nd)) == 0) {
			dev_fail(d, false, "depth %u x %u descriptors: more "
			    "than the ring size", O.depth, nd);
			return -1;
		}
	per = ((uint64_t)O.size + 63) / 64 * 64 + 64;
	if (dev_open(d, bits, nstart, qs, per * O.depth * nq) == -1)
		return -1;
	if (O.type == BT_GPIO && O.gpio == GPIO_SET && O.loopback == 0 &&
	    gpio_make_output(d) == -1)
		return -1;
	d->nq = nq;
	for (q = 0; q < nq; q++) {
		if (bq_init(d, q, O.depth, nd) == -1)
			return -1;
		b = &d->q[q];
		for (s = 0; s < O.depth; s++) {
			struct vring_desc *dd = &b->desc[b->head_of[s]];

			if ((aux = ring_alloc(d, 64, 64)) == VUF_BAD_GPA)
				return -1;
			line = vuf_gpa_to_host(d->v, aux, 64);
			memset(line, 0, 64);
			b->aux[s] = line + RESP_OFF;
			gpa = 0;
			if (O.size > 0 && O.type != BT_GPIO) {
				if ((gpa = ring_alloc(d, O.size, 64)) ==
				    VUF_BAD_GPA)
					return -1;
				b->buf[s] = vuf_gpa_to_host(d->v, gpa, O.size);
				memset(b->buf[s], 0, O.size);
			}
			switch (O.type) {
			case BT_RNG:
				dd[0].addr = gpa;
				dd[0].len = O.size;
				dd[0].flags = VRING_DESC_F_WRITE;
				break;
			case BT_GPIO:
				put_le16(line, O.gpio == GPIO_GET ?
				    VIRTIO_GPIO_MSG_GET_VALUE :
				    VIRTIO_GPIO_MSG_SET_VALUE);
				put_le16(line + 2, (uint16_t)O.gpio_line);
				put_le32(line + 4, O.gpio == GPIO_SET ?
				    s & 1 : 0);
				dd[0].addr = aux;
				dd[0].len = 8;
				dd[1].addr = aux + RESP_OFF;
				dd[1].len = 2;
				dd[1].flags = VRING_DESC_F_WRITE;
				break;
			case BT_I2C:
				put_le16(line, (uint16_t)(O.i2c_addr << 1));
				put_le32(line + 4, O.i2c == I2C_READ ?
				    VIRTIO_I2C_FLAGS_M_RD : 0);
				dd[0].addr = aux;
				dd[0].len = 8;
				if (O.size > 0) {
					unsigned i;

					dd[1].addr = gpa;
					dd[1].len = O.size;
					dd[1].flags = (uint16_t)(VRING_DESC_F_NEXT |
					    (O.i2c == I2C_READ ?
					    VRING_DESC_F_WRITE : 0));
					/* A write: the EEPROM's word address
					 * 0, then a pattern. */
					for (i = 1; i < O.size; i++)
						b->buf[s][i] = (uint8_t)(i * 7);
				}
				dd[nd - 1].addr = aux + RESP_OFF;
				dd[nd - 1].len = 1;
				dd[nd - 1].flags = VRING_DESC_F_WRITE;
				break;
			default:
				break;
			}
			rearm(b, s);
		}
	}
	return 0;
}

/* Makes every slot of every queue available (the run's start). */
static void
prime(struct bdev *d)
{
	struct bq *q;
	unsigned i, s;
	uint64_t t;

	for (i = 0; i < d->nq; i++) {
		q = &d->q[i];
		for (s = 0; s < q->nslots; s++) {
			q->avail->ring[q->avail_idx++ & q->mask] =
			    q->head_of[s];
			q->inflight[s] = 1;
			q->submitted++;
		}
		t = clk_ticks();
		for (s = 0; s < q->nslots; s++)
			q->t_sub[s] = t;
		bq_publish(d, q, q->nslots);
	}
}

static uint64_t
inflight(const struct bdev *d)
{
	uint64_t n = 0;
	unsigned i;

	for (i = 0; i < d->nq; i++)
		n += d->q[i].submitted - d->q[i].completed;
	return n;
}

/* Collects what is still in flight, for up to the timeout. */
static void
drain(struct bdev *d, struct bq **qs)
{
	uint64_t deadline = now_ns() + (uint64_t)O.timeout_ms * 1000000;
	unsigned i, got;

	while (inflight(d) > 0 && !d->proto_error) {
		for (got = 0, i = 0; i < d->nq; i++)
			got += service(d, qs[i], false);
		if (got > 0)
			continue;
		if (now_ns() > deadline)
			break;
		if (O.completion == BC_CALL) {
			if (bq_wait(d, qs, d->nq, 10) == -1)
				break;
		} else
			cpu_relax();
	}
	if (!d->proto_error && (d->lost = inflight(d)) > 0)
		dev_fail(d, true, "%llu requests never completed (%d ms after "
		    "the end)", (unsigned long long)d->lost, O.timeout_ms);
}

void *
ring_thread(void *arg)
{
	struct bdev *d = arg;
	struct bq *qs[BENCH_MAX_QUEUES];
	uint64_t idle_since = 0;
	unsigned i, got, spins = 0;
	int seen = PH_WARMUP, r;

	pin_self(d);
	for (i = 0; i < d->nq; i++)
		qs[i] = &d->q[i];
	pthread_barrier_wait(&start_barrier);
	prime(d);
	for (;;) {
		if (dev_phase_done(d, &seen))
			break;
		for (got = 0, i = 0; i < d->nq; i++)
			got += service(d, qs[i], true);
		if (d->proto_error)
			break;
		if (got > 0) {
			idle_since = 0;
			spins = 0;
			continue;
		}
		if (O.completion == BC_POLL) {
			cpu_relax();
			if ((++spins & 0xfff) != 0)
				continue;
		} else if ((r = bq_wait(d, qs, d->nq, 100)) == -1)
			break;
		else if (r == 1)
			continue;
		if (idle_since == 0)
			idle_since = now_ns();
		else if (now_ns() - idle_since >
		    (uint64_t)O.timeout_ms * 1000000) {
			dev_fail(d, true, "no request completed for %d ms "
			    "(%llu in flight)", O.timeout_ms,
			    (unsigned long long)inflight(d));
			break;
		}
	}
	if (!d->proto_error)
		drain(d, qs);
	return NULL;
}

void
ring_teardown(struct bdev *d)
{
	uint32_t base;
	unsigned q;

	if (d->v == NULL)
		return;
	/* Stop the rings as a VMM does, unless the connection is broken. */
	if (!d->proto_error && O.loopback == 0)
		for (q = 0; q < d->nqueues; q++)
			if (vuf_get_vring_base(d->v, q, &base) == -1)
				break;
	for (q = 0; q < BENCH_MAX_QUEUES; q++)
		bq_free(&d->q[q]);
	vuf_close(d->v);
	d->v = NULL;
}
