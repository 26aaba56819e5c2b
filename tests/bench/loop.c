/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vubench --loopback: no back-end at all.  The rings are laid out in guest
 * RAM as usual, but no socket is connected: a thread of vubench plays a
 * trivial, busy-polling device on them (it answers each request at once:
 * rng writes the first and last 8 bytes of the buffer, gpio status OK and
 * value 0, i2c status OK), and tells the driver it needs no kicks.  What
 * is left is the driver's own cost, so the figure is vubench's ceiling:
 * the rate above which a back-end cannot be measured by it on this
 * machine.  Not for vsock.  --loopback-fault makes it break one rule
 * once, after LOOP_FAULT_AT requests, so that tests/bench/selftest.sh can
 * check that vubench notices and fails.
 */
#include "config.h"

#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#define LOOP_FAULT_AT	1000

static const uint64_t one = 1;

static inline void *
host(struct bdev *d, uint64_t gpa, uint32_t len)
{
	return vuf_gpa_to_host(d->v, gpa, len);
}

/* The device's answer to the chain at head: its used length. */
static inline uint32_t
answer(struct bdev *d, const struct vring_desc *desc, uint16_t head,
    int fault)
{
	const struct vring_desc *c = &desc[head];
	uint8_t *p;
	uint64_t v = 0x0123456789abcdefULL;

	if (fault == LF_LEN)
		return O.type == BT_GPIO ? 1 : (uint32_t)O.size + 2;
	switch (O.type) {
	case BT_RNG:
		p = host(d, c->addr, c->len);
		if (fault == LF_NO_WRITE)
			return c->len;
		if (c->len >= 8) {
			memcpy(p, &v, 8);
			memcpy(p + c->len - 8, &v, 8);
		} else
			memset(p, 0x5a, c->len);
		return c->len;
	case BT_GPIO:
		p = host(d, desc[c->next].addr, 2);
		p[0] = fault == LF_STATUS ? 1 : 0;
		p[1] = 0;
		return 2;
	case BT_I2C:
		while (c->flags & VRING_DESC_F_NEXT)
			c = &desc[c->next];
		p = host(d, c->addr, 1);
		*p = fault == LF_STATUS ? 1 : 0;
		return O.i2c == I2C_READ ? O.size + 1 : 1;
	default:
		return 0;
	}
}

static inline bool
need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

/* Before any request: where the device starts, and no kicks wanted. */
void
loop_init(struct bdev *d)
{
	struct bq *q;
	unsigned i;

	for (i = 0; i < d->nq; i++) {
		q = &d->q[i];
		q->loop_avail0 = q->avail_idx;
		q->used->flags = VRING_USED_F_NO_NOTIFY;
		*q->avail_event = (uint16_t)(q->avail_idx - 1);
	}
}

void *
loop_thread(void *arg)
{
	struct bdev *d = arg;
	struct bq *q;
	uint16_t last_avail[BENCH_MAX_QUEUES] = { 0 };
	uint16_t used_idx[BENCH_MAX_QUEUES] = { 0 };
	uint16_t a, head, old;
	struct vring_used_elem *e;
	unsigned i, got;
	uint64_t served = 0;
	int fault;
	cpu_set_t set;

	if (d->loop_cpu >= 0) {
		CPU_ZERO(&set);
		CPU_SET(d->loop_cpu, &set);
		sched_setaffinity(0, sizeof(set), &set);
	}
	for (i = 0; i < d->nq; i++)
		last_avail[i] = used_idx[i] = d->q[i].loop_avail0;
	while (!atomic_load_explicit(&d->loop_stop, memory_order_relaxed)) {
		for (got = 0, i = 0; i < d->nq; i++) {
			q = &d->q[i];
			a = __atomic_load_n(&q->avail->idx, __ATOMIC_ACQUIRE);
			if (a == last_avail[i])
				continue;
			old = used_idx[i];
			while (last_avail[i] != a) {
				head = q->avail->ring[last_avail[i]++ &
				    q->mask];
				fault = ++served == LOOP_FAULT_AT ?
				    O.loop_fault : LF_NONE;
				if (fault == LF_LOSE)
					continue;
				if (fault == LF_BAD_HEAD)
					head = (uint16_t)(head + 1);
				e = &q->used->ring[used_idx[i]++ & q->mask];
				e->id = head;
				e->len = answer(d, q->desc, head, fault);
				if (fault == LF_DUP) {
					e = &q->used->ring[used_idx[i]++ &
					    q->mask];
					e->id = head;
					e->len = answer(d, q->desc, head,
					    LF_NONE);
				}
				if (fault == LF_IDX)
					used_idx[i] = (uint16_t)(used_idx[i] +
					    q->num);
			}
			*q->avail_event = (uint16_t)(last_avail[i] - 1);
			__atomic_store_n(&q->used->idx, used_idx[i],
			    __ATOMIC_RELEASE);
			got++;
			if (O.completion == BC_POLL)
				continue;
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
			if (!q->event_idx ? !(q->avail->flags &
			    VRING_AVAIL_F_NO_INTERRUPT) : need_event(
			    *q->used_event, used_idx[i], old))
				if (write(q->call_fd, &one, sizeof(one)) !=
				    sizeof(one))
					break;
		}
		if (got == 0)
			cpu_relax();
	}
	return NULL;
}
