/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit-test harness for device types (devtest.h).
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "devtest.h"

/* Where the rings of each queue live: the end of region 0. */
#define RING_AREA	(DEVTEST_REGION_SIZE - DEV_MAX_QUEUES * 0x2000)

static void
devtest_queue_run(struct dev_ctx *ctx, unsigned q)
{
	struct devtest *t = (struct devtest *)((char *)ctx -
	    offsetof(struct devtest, ctx));

	devtest_run(t, q);
}

static int
devtest_send_main(struct dev_ctx *ctx, const struct dev_msg *m)
{
	struct devtest *t = (struct devtest *)((char *)ctx -
	    offsetof(struct devtest, ctx));

	/* The worker runtime refuses these; a device must not send them. */
	assert_in_range(m->len, 0, DEV_MSG_MAX);
	if (t->send_fail > 0) {
		t->send_fail--;
		errno = EAGAIN;
		return -1;
	}
	if (t->nsent == DEVTEST_SENT_MAX) {
		memmove(&t->sent[0], &t->sent[1],
		    (DEVTEST_SENT_MAX - 1) * sizeof(t->sent[0]));
		t->nsent--;
		t->sent_dropped++;
	}
	t->sent[t->nsent++] = *m;
	return 0;
}

void
devtest_init(struct devtest *t, const char *device_json, uint64_t features)
{
	const struct dev_ops *ops;
	struct mem_region_desc d;
	char *text, *errors = NULL;
	char err[256];
	int fds[DEV_MAX_HOST_FDS];
	unsigned nfds = 0, q, r;

	memset(t, 0, sizeof(*t));
	assert_true(asprintf(&text, "{\"devices\": [{\"id\": \"dut\", "
	    "\"socket\": \"/devtest/dut.sock\", %s}]}", device_json) > 0);
	t->cfg = cfg_load_string(text, "devtest.json", &errors);
	free(text);
	if (t->cfg == NULL)
		fail_msg("config: %s", errors);
	ops = t->cfg->devs[0].ops;

	memtab_init(&t->mt);
	for (r = 0; r < 2; r++) {
		assert_non_null(t->mem[r] = calloc(1, DEVTEST_REGION_SIZE));
		d.gpa = r == 0 ? 0 : DEVTEST_GPA1;
		d.size = DEVTEST_REGION_SIZE;
		d.uva = (uint64_t)(uintptr_t)t->mem[r];
		d.mmap_offset = 0;
		assert_int_equal(memtab_add_mapped(&t->mt, &d, t->mem[r]), 0);
		t->next[r] = d.gpa + 0x1000;	/* gpa 0 stays unused */
	}
	if (ops->open != NULL && ops->open(t->cfg->devs[0].priv, fds, &nfds,
	    err, sizeof(err)) == -1)
		fail_msg("open hook: %s", err);
	assert_non_null(t->base = event_base_new());
	t->ctx.id = "dut";
	t->ctx.ops = ops;
	t->ctx.cfg = t->cfg->devs[0].priv;
	t->ctx.host_fds = malloc(sizeof(fds));
	memcpy((int *)t->ctx.host_fds, fds, sizeof(fds));
	t->ctx.n_host_fds = nfds;
	t->ctx.base = t->base;
	t->ctx.features = features;
	t->ctx.queue_run = devtest_queue_run;
	t->ctx.send_main = devtest_send_main;
	if (ops->preopen != NULL)
		assert_int_equal(ops->preopen(&t->ctx), 0);
	for (q = 0; q < ops->num_queues; q++) {
		uint64_t base = RING_AREA + (uint64_t)q * 0x2000;
		uint8_t *h = t->mem[0];

		vq_init(&t->vq[q], "dut queue");
		t->call_fd[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		assert_true(t->call_fd[q] >= 0);
		t->vq[q].call_fd = t->call_fd[q];
		assert_int_equal(vq_setup(&t->vq[q], &t->mt, DEVTEST_QSIZE,
		    (uint64_t)(uintptr_t)(h + base),
		    (uint64_t)(uintptr_t)(h + base + 0x400),
		    (uint64_t)(uintptr_t)(h + base + 0x800), 0,
		    (features >> VIRTIO_RING_F_EVENT_IDX) & 1,
		    (features >> VIRTIO_RING_F_INDIRECT_DESC) & 1), 0);
		t->ctx.vq[q] = &t->vq[q];
	}
	if (ops->init != NULL)
		assert_int_equal(ops->init(&t->ctx), 0);
}

void
devtest_fini(struct devtest *t)
{
	unsigned q, i;

	if (t->ctx.ops->reset != NULL)
		t->ctx.ops->reset(&t->ctx);
	if (t->ctx.ops->fini != NULL)
		t->ctx.ops->fini(&t->ctx);
	for (q = 0; q < t->ctx.ops->num_queues; q++) {
		vq_teardown(&t->vq[q]);
		close(t->call_fd[q]);
		t->vq[q].call_fd = -1;
	}
	for (i = 0; i < t->ctx.n_host_fds; i++)
		close(t->ctx.host_fds[i]);
	for (i = 0; i < t->ctx.n_kept_fds; i++)
		close(t->ctx.kept_fds[i]);
	free((int *)t->ctx.host_fds);
	event_base_free(t->base);
	memtab_clear(&t->mt);
	free(t->mem[0]);
	free(t->mem[1]);
	cfg_free(t->cfg);
	dev_host_close_all();
}

uint64_t
devtest_alloc(struct devtest *t, unsigned r, uint32_t len)
{
	uint64_t gpa = t->next[r], start = r == 0 ? 0 : DEVTEST_GPA1;

	assert_true(r < 2);
	assert_true(gpa - start + len <= (r == 0 ? RING_AREA :
	    DEVTEST_REGION_SIZE));
	t->next[r] += (len + 15) & ~15u;
	return gpa;
}

void *
devtest_ptr(struct devtest *t, uint64_t gpa)
{
	if (gpa >= DEVTEST_GPA1)
		return t->mem[1] + (gpa - DEVTEST_GPA1);
	return t->mem[0] + gpa;
}

uint16_t
devtest_post(struct devtest *t, unsigned q, const struct devtest_buf *bufs,
    unsigned n)
{
	struct virtq *vq = &t->vq[q];
	uint16_t head, slot;
	unsigned i;

	assert_true(n > 0 && n <= DEVTEST_QSIZE);
	/* Descriptors: a fresh run of slots per chain, wrapping. */
	head = (uint16_t)((t->avail_idx[q] * 4) % DEVTEST_QSIZE);
	for (i = 0; i < n; i++) {
		slot = (uint16_t)((head + i) % DEVTEST_QSIZE);
		vq->desc[slot].addr = bufs[i].gpa;
		vq->desc[slot].len = bufs[i].len;
		vq->desc[slot].flags = (uint16_t)((bufs[i].writable ?
		    VRING_DESC_F_WRITE : 0) | (i + 1 < n ? VRING_DESC_F_NEXT :
		    0));
		vq->desc[slot].next = (uint16_t)((slot + 1) % DEVTEST_QSIZE);
	}
	vq->avail->ring[t->avail_idx[q] % DEVTEST_QSIZE] = head;
	__atomic_store_n(&vq->avail->idx, ++t->avail_idx[q], __ATOMIC_RELEASE);
	return head;
}

void
devtest_run(struct devtest *t, unsigned q)
{
	struct virtq *vq = &t->vq[q];
	enum dev_run r;

	for (;;) {
		vq_disable_notify(vq);
		r = t->ctx.ops->run(&t->ctx, q);
		vq_flush(vq);
		if (r == DEV_RUN_PAUSED || vq->broken)
			return;
		if (!vq_enable_notify(vq))
			return;
	}
}

void
devtest_dispatch(struct devtest *t)
{
	event_base_loop(t->base, EVLOOP_NONBLOCK);
}

int
devtest_used(struct devtest *t, unsigned q, uint16_t *head, uint32_t *len)
{
	struct virtq *vq = &t->vq[q];
	uint16_t idx = __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE);
	struct vring_used_elem *e;

	if (idx == t->used_seen[q])
		return 0;
	e = &vq->used->ring[t->used_seen[q] % DEVTEST_QSIZE];
	*head = (uint16_t)e->id;
	*len = e->len;
	t->used_seen[q]++;
	return 1;
}

int
devtest_request(struct devtest *t, unsigned q, const void *out,
    uint32_t outlen, void *in, uint32_t inlen, uint32_t *written)
{
	struct devtest_buf b[2];
	unsigned n = 0;
	uint16_t head, uhead;
	uint32_t len;

	if (outlen > 0) {
		b[n].gpa = devtest_alloc(t, 0, outlen);
		b[n].len = outlen;
		b[n].writable = false;
		memcpy(devtest_ptr(t, b[n].gpa), out, outlen);
		n++;
	}
	if (inlen > 0) {
		b[n].gpa = devtest_alloc(t, 1, inlen);
		b[n].len = inlen;
		b[n].writable = true;
		memset(devtest_ptr(t, b[n].gpa), 0xa5, inlen);
		n++;
	}
	head = devtest_post(t, q, b, n);
	devtest_run(t, q);
	assert_false(t->vq[q].broken);
	if (!devtest_used(t, q, &uhead, &len))
		return 0;
	assert_int_equal(uhead, head);
	if (written != NULL)
		*written = len;
	if (in != NULL && inlen > 0)
		memcpy(in, devtest_ptr(t, b[n - 1].gpa), len < inlen ? len :
		    inlen);
	return 1;
}

int
devtest_sent(struct devtest *t, uint32_t op, struct dev_msg *m)
{
	unsigned i;

	for (i = 0; i < t->nsent; i++)
		if (op == 0 || t->sent[i].op == op)
			break;
	if (i == t->nsent)
		return 0;
	if (m != NULL)
		*m = t->sent[i];
	memmove(&t->sent[i], &t->sent[i + 1],
	    (t->nsent - i - 1) * sizeof(t->sent[0]));
	t->nsent--;
	return 1;
}

void
devtest_worker_msg(struct devtest *t, uint32_t op, const void *data,
    uint32_t len, int fd)
{
	struct dev_msg m;

	assert_non_null(t->ctx.ops->worker_msg);
	assert_in_range(len, 0, DEV_MSG_MAX);
	memset(&m, 0, sizeof(m));
	m.op = op;
	m.len = len;
	if (len > 0)
		memcpy(m.data, data, len);
	t->ctx.ops->worker_msg(&t->ctx, &m, fd);
}
