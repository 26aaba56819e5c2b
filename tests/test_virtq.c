/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the split virtqueue engine (src/virtq.c) over fake guest
 * memory: one buffer registered as several regions with holes between
 * them, rings laid out in it, descriptors written by hand as a guest
 * driver (or a hostile one) would.  Calls and errors are counted on real
 * eventfds; the reason of each broken queue is checked in the log line.
 */
#include "config.h"

#include <sys/eventfd.h>
#include <sys/mman.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "memtab.h"
#include "virtq.h"

#define NUM		16
#define MEM_SIZE	0x80000

/*
 * Guest memory map.  A and B are apart in guest-physical space (a hole
 * between them); B and C are adjacent in guest-physical space but not in
 * host memory, so a buffer crossing them must become two iovecs; D ends
 * one byte short of 2^64.
 */
static const struct {
	uint64_t	gpa;
	uint64_t	size;
	uint64_t	uva;
	size_t		hostoff;
} regions[] = {
	{ 0x00000,		0x10000, 0x100000000, 0x00000 },	/* A */
	{ 0x20000,		0x10000, 0x200000000, 0x20000 },	/* B */
	{ 0x30000,		0x10000, 0x300000000, 0x50000 },	/* C */
	{ 0xffffffffffff0000,	0xffff,	 0x400000000, 0x70000 },	/* D */
};

/* Rings in region A. */
#define DESC_GPA	0x0000
#define AVAIL_GPA	0x1000
#define USED_GPA	0x2000
#define A_UVA		0x100000000ULL
#define BUF_GPA		0x4000		/* data buffers */
#define TABLE_GPA	0x8000		/* indirect tables */

struct fx {
	uint8_t			*mem;
	struct memtab		 mt;
	struct virtq		 vq;
	int			 call_fd;
	int			 err_fd;
	struct vring_desc	*desc;
	struct vring_avail	*avail;
	struct vring_used	*used;
	struct vq_req		 req;
	struct iovec		 iov[64];
};

static char	last_log[1024];
static int	n_logs;

static void
capture_log(int prio, const char *msg)
{
	snprintf(last_log, sizeof(last_log), "%s", msg);
	n_logs++;
}

/* Host address of a guest-physical address, computed from the map above
 * (not through the code under test). */
static uint8_t *
host_of(struct fx *fx, uint64_t gpa)
{
	size_t i;

	for (i = 0; i < sizeof(regions) / sizeof(regions[0]); i++)
		if (gpa >= regions[i].gpa &&
		    gpa - regions[i].gpa < regions[i].size)
			return fx->mem + regions[i].hostoff +
			    (gpa - regions[i].gpa);
	fail_msg("gpa 0x%llx not in the test map", (unsigned long long)gpa);
	return NULL;
}

static uint64_t
counter(int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) != (ssize_t)sizeof(v)) {
		assert_int_equal(errno, EAGAIN);
		return 0;
	}
	return v;
}

static uint16_t *
used_event(struct fx *fx)
{
	return &fx->avail->ring[NUM];
}

static uint16_t *
avail_event(struct fx *fx)
{
	return (uint16_t *)(void *)&fx->used->ring[NUM];
}

/* (Re)creates the queue from scratch over the current ring memory. */
static void
queue_setup(struct fx *fx, uint16_t last_avail, bool event_idx,
    bool indirect)
{
	vq_teardown(&fx->vq);
	vq_init(&fx->vq, "test-dev queue 0");
	fx->vq.call_fd = fx->call_fd;
	fx->vq.err_fd = fx->err_fd;
	assert_int_equal(vq_setup(&fx->vq, &fx->mt, NUM, A_UVA + DESC_GPA,
	    A_UVA + AVAIL_GPA, A_UVA + USED_GPA, last_avail, event_idx,
	    indirect), 0);
	(void)counter(fx->call_fd);
	(void)counter(fx->err_fd);
	last_log[0] = '\0';
	n_logs = 0;
}

/* Fresh rings (indexes at idx) and a fresh queue. */
static void
reset(struct fx *fx, uint16_t idx, bool event_idx, bool indirect)
{
	memset(fx->mem, 0, 0x4000);
	fx->avail->idx = idx;
	fx->used->idx = idx;
	queue_setup(fx, idx, event_idx, indirect);
}

static int
fx_setup(void **state)
{
	struct mem_region_desc d;
	struct fx *fx;
	size_t i;

	log_set_sink(capture_log);
	fx = calloc(1, sizeof(*fx));
	assert_non_null(fx);
	fx->mem = aligned_alloc(4096, MEM_SIZE);
	assert_non_null(fx->mem);
	memset(fx->mem, 0, MEM_SIZE);
	memtab_init(&fx->mt);
	for (i = 0; i < sizeof(regions) / sizeof(regions[0]); i++) {
		d.gpa = regions[i].gpa;
		d.size = regions[i].size;
		d.uva = regions[i].uva;
		d.mmap_offset = 0;
		assert_int_equal(memtab_add_mapped(&fx->mt, &d,
		    fx->mem + regions[i].hostoff), 0);
	}
	fx->desc = (struct vring_desc *)(void *)(fx->mem + DESC_GPA);
	fx->avail = (struct vring_avail *)(void *)(fx->mem + AVAIL_GPA);
	fx->used = (struct vring_used *)(void *)(fx->mem + USED_GPA);
	fx->call_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	fx->err_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(fx->call_fd >= 0 && fx->err_fd >= 0);
	vq_init(&fx->vq, "test-dev queue 0");
	queue_setup(fx, 0, false, true);
	*state = fx;
	return 0;
}

static int
fx_teardown(void **state)
{
	struct fx *fx = *state;

	vq_teardown(&fx->vq);
	memtab_clear(&fx->mt);
	close(fx->call_fd);
	close(fx->err_fd);
	free(fx->mem);
	free(fx);
	log_set_sink(NULL);
	return 0;
}

static void
set_desc(struct vring_desc *table, unsigned i, uint64_t addr, uint32_t len,
    uint16_t flags, uint16_t next)
{
	table[i].addr = addr;
	table[i].len = len;
	table[i].flags = flags;
	table[i].next = next;
}

static void
avail_add(struct fx *fx, uint16_t head)
{
	uint16_t idx = fx->avail->idx;

	fx->avail->ring[idx % NUM] = head;
	__atomic_store_n(&fx->avail->idx, (uint16_t)(idx + 1),
	    __ATOMIC_RELEASE);
}

static int
pop(struct fx *fx)
{
	memset(&fx->req, 0xa5, sizeof(fx->req));
	return vq_pop(&fx->vq, &fx->req, fx->iov, 64);
}

/* The queue is broken for `why`, the error eventfd was written once, and
 * it stays broken. */
static void
expect_broken(struct fx *fx, const char *why)
{
	assert_true(fx->vq.broken);
	if (strstr(last_log, why) == NULL ||
	    strstr(last_log, "test-dev queue 0") == NULL)
		fail_msg("log line \"%s\" lacks \"%s\"", last_log, why);
	assert_int_equal(n_logs, 1);
	assert_int_equal(counter(fx->err_fd), 1);
	assert_int_equal(pop(fx), -1);
	assert_int_equal(counter(fx->err_fd), 0);
}

/* Pops one chain of a single buffer and expects it to break the queue. */
static void
expect_pop_breaks(struct fx *fx, const char *why)
{
	assert_int_equal(pop(fx), -1);
	expect_broken(fx, why);
}

static void
test_setup_checks(void **state)
{
	struct fx *fx = *state;
	struct mem_region_desc d = { 0x40000, 0x1000, 0x500000000, 0 };
	struct virtq vq;

	vq_init(&vq, "setup");
	errno = 0;
	assert_int_equal(vq_setup(&vq, &fx->mt, 0, A_UVA, A_UVA + 0x1000,
	    A_UVA + 0x2000, 0, false, false), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(vq_setup(&vq, &fx->mt, 12, A_UVA, A_UVA + 0x1000,
	    A_UVA + 0x2000, 0, false, false), -1);
	assert_int_equal(vq_setup(&vq, NULL, 16, A_UVA, A_UVA + 0x1000,
	    A_UVA + 0x2000, 0, false, false), -1);
	/* Misaligned rings. */
	assert_int_equal(vq_setup(&vq, &fx->mt, 16, A_UVA + 8, A_UVA + 0x1000,
	    A_UVA + 0x2000, 0, false, false), -1);
	assert_int_equal(vq_setup(&vq, &fx->mt, 16, A_UVA, A_UVA + 0x1001,
	    A_UVA + 0x2000, 0, false, false), -1);
	assert_int_equal(vq_setup(&vq, &fx->mt, 16, A_UVA, A_UVA + 0x1000,
	    A_UVA + 0x2002, 0, false, false), -1);
	/* In a hole of uva space; a descriptor table past A's end. */
	assert_int_equal(vq_setup(&vq, &fx->mt, 16, A_UVA + 0x10000,
	    A_UVA + 0x1000, A_UVA + 0x2000, 0, false, false), -1);
	assert_int_equal(vq_setup(&vq, &fx->mt, 16, A_UVA + 0xff80,
	    A_UVA + 0x1000, A_UVA + 0x2000, 0, false, false), -1);
	/* The used ring fits but its avail_event does not (6 + 8 * num). */
	assert_int_equal(vq_setup(&vq, &fx->mt, 16, A_UVA, A_UVA + 0x1000,
	    A_UVA + 0x10000 - 4 - 8 * 16, 0, false, false), -1);
	/* Same for the avail ring and its used_event (6 + 2 * num). */
	assert_int_equal(vq_setup(&vq, &fx->mt, 16, A_UVA,
	    A_UVA + 0x10000 - 4 - 2 * 16, A_UVA + 0x2000, 0, false, false), -1);
	assert_null(vq.inflight);
	assert_int_equal(vq.num, 0);

	/* Aligned in uva space, but the region's host address is odd. */
	assert_int_equal(memtab_add_mapped(&fx->mt, &d, fx->mem + 0x60001), 0);
	assert_int_equal(vq_setup(&vq, &fx->mt, 16, A_UVA, 0x500000000,
	    A_UVA + 0x2000, 0, false, false), -1);

	assert_non_null(strstr(last_log, "host address not aligned"));

	/* A descriptor table ending exactly at the region's end is fine. */
	assert_int_equal(vq_setup(&vq, &fx->mt, 16, A_UVA + 0x10000 - 256,
	    A_UVA + 0x2000 - 6 - 2 * 16, A_UVA + 0x3000 - 6 - 8 * 16 - 2,
	    0, false, false), 0);
	assert_int_equal(vq.num, 16);
	assert_non_null(vq.inflight);
	vq_teardown(&vq);
	assert_null(vq.inflight);
}

static void
test_not_set_up(void **state)
{
	struct vq_req req;
	struct iovec iov[4];
	struct virtq vq;

	vq_init(&vq, "idle");
	assert_int_equal(vq.call_fd, -1);
	assert_int_equal(vq.err_fd, -1);
	assert_string_equal(vq.name, "idle");
	assert_int_equal(vq_pop(&vq, &req, iov, 4), -1);
	assert_false(vq_has_avail(&vq));
	assert_false(vq_enable_notify(&vq));
	vq_disable_notify(&vq);
	vq_push(&vq, 0, 0);
	vq_flush(&vq);
	assert_int_equal(vq_remap(&vq, A_UVA, A_UVA, A_UVA), -1);
	vq_teardown(&vq);
	assert_int_equal(vq_pop(&vq, &req, iov, 4), -1);
	assert_false(vq.broken);
}

static void
test_pop_empty(void **state)
{
	struct fx *fx = *state;

	assert_false(vq_has_avail(&fx->vq));
	assert_int_equal(pop(fx), 0);
	assert_false(fx->vq.broken);
	assert_int_equal(fx->vq.last_avail, 0);
}

static void
test_plain_chain(void **state)
{
	struct fx *fx = *state;

	set_desc(fx->desc, 5, BUF_GPA, 100, VRING_DESC_F_NEXT, 3);
	set_desc(fx->desc, 3, BUF_GPA + 0x100, 50, VRING_DESC_F_NEXT, 9);
	set_desc(fx->desc, 9, BUF_GPA + 0x200, 200, VRING_DESC_F_WRITE, 0);
	avail_add(fx, 5);
	assert_true(vq_has_avail(&fx->vq));

	assert_int_equal(pop(fx), 1);
	assert_int_equal(fx->req.head, 5);
	assert_int_equal(fx->req.n_out, 2);
	assert_int_equal(fx->req.out_len, 150);
	assert_int_equal(fx->req.n_in, 1);
	assert_int_equal(fx->req.in_len, 200);
	assert_ptr_equal(fx->req.out, fx->iov);
	assert_ptr_equal(fx->req.in, fx->iov + 2);
	assert_ptr_equal(fx->iov[0].iov_base, host_of(fx, BUF_GPA));
	assert_int_equal(fx->iov[0].iov_len, 100);
	assert_ptr_equal(fx->iov[1].iov_base, host_of(fx, BUF_GPA + 0x100));
	assert_int_equal(fx->iov[1].iov_len, 50);
	assert_ptr_equal(fx->req.in[0].iov_base, host_of(fx, BUF_GPA + 0x200));
	assert_int_equal(fx->req.in[0].iov_len, 200);
	assert_int_equal(fx->vq.last_avail, 1);
	assert_int_equal(pop(fx), 0);
	assert_false(vq_has_avail(&fx->vq));

	vq_push(&fx->vq, 5, 123);
	/* Not visible before the flush. */
	assert_int_equal(fx->used->idx, 0);
	assert_int_equal(counter(fx->call_fd), 0);
	vq_flush(&fx->vq);
	assert_int_equal(fx->used->idx, 1);
	assert_int_equal(fx->used->ring[0].id, 5);
	assert_int_equal(fx->used->ring[0].len, 123);
	assert_int_equal(counter(fx->call_fd), 1);
	assert_int_equal(fx->vq.n_requests, 1);
	assert_int_equal(fx->vq.n_signals, 1);
	/* Nothing new: no second signal. */
	vq_flush(&fx->vq);
	assert_int_equal(counter(fx->call_fd), 0);

	/* The same head again, now that it is back: fine. */
	avail_add(fx, 5);
	assert_int_equal(pop(fx), 1);
	assert_int_equal(fx->req.head, 5);
	assert_false(fx->vq.broken);
	assert_int_equal(counter(fx->err_fd), 0);
}

static void
test_zero_length(void **state)
{
	struct fx *fx = *state;

	/* Zero-length descriptors are allowed and give no iovec. */
	set_desc(fx->desc, 0, BUF_GPA, 0, VRING_DESC_F_NEXT, 1);
	set_desc(fx->desc, 1, 0x10000 /* hole, but no bytes */, 0,
	    VRING_DESC_F_NEXT, 2);
	set_desc(fx->desc, 2, BUF_GPA, 8, VRING_DESC_F_WRITE, 0);
	avail_add(fx, 0);
	assert_int_equal(pop(fx), 1);
	assert_int_equal(fx->req.n_out, 0);
	assert_int_equal(fx->req.out_len, 0);
	assert_int_equal(fx->req.n_in, 1);
	assert_int_equal(fx->req.in_len, 8);
	assert_ptr_equal(fx->req.in, fx->iov);
}

static void
test_full_length_chain(void **state)
{
	struct fx *fx = *state;
	unsigned i;

	/* A chain using all NUM descriptors is legal (the loop bound is
	 * not off by one). */
	for (i = 0; i < NUM; i++)
		set_desc(fx->desc, i, BUF_GPA + i, 1,
		    i + 1 < NUM ? VRING_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	avail_add(fx, 0);
	assert_int_equal(pop(fx), 1);
	assert_int_equal(fx->req.n_out, NUM);
	assert_int_equal(fx->req.out_len, NUM);
	assert_ptr_equal(fx->iov[NUM - 1].iov_base,
	    host_of(fx, BUF_GPA + NUM - 1));
}

static void
test_indirect(void **state)
{
	struct fx *fx = *state;
	struct vring_desc *t = (struct vring_desc *)(void *)host_of(fx,
	    TABLE_GPA);

	set_desc(t, 0, BUF_GPA, 10, VRING_DESC_F_NEXT, 2);
	set_desc(t, 2, BUF_GPA + 0x100, 20,
	    VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	set_desc(t, 1, BUF_GPA + 0x200, 30, VRING_DESC_F_WRITE, 0);
	/* WRITE on the indirect descriptor itself is ignored. */
	set_desc(fx->desc, 3, TABLE_GPA, 3 * 16,
	    VRING_DESC_F_INDIRECT | VRING_DESC_F_WRITE, 0);
	avail_add(fx, 3);
	assert_int_equal(pop(fx), 1);
	assert_int_equal(fx->req.head, 3);
	assert_int_equal(fx->req.n_out, 1);
	assert_int_equal(fx->req.out_len, 10);
	assert_int_equal(fx->req.n_in, 2);
	assert_int_equal(fx->req.in_len, 50);
	assert_ptr_equal(fx->req.out[0].iov_base, host_of(fx, BUF_GPA));
	assert_ptr_equal(fx->req.in[0].iov_base, host_of(fx, BUF_GPA + 0x100));
	assert_int_equal(fx->req.in[0].iov_len, 20);
	assert_ptr_equal(fx->req.in[1].iov_base, host_of(fx, BUF_GPA + 0x200));
	assert_int_equal(fx->req.in[1].iov_len, 30);

	/* Direct descriptors, then an indirect one ending the chain. */
	set_desc(fx->desc, 7, BUF_GPA + 0x300, 4, VRING_DESC_F_NEXT, 8);
	set_desc(fx->desc, 8, TABLE_GPA, 3 * 16, VRING_DESC_F_INDIRECT, 0);
	avail_add(fx, 7);
	assert_int_equal(pop(fx), 1);
	assert_int_equal(fx->req.head, 7);
	assert_int_equal(fx->req.n_out, 2);
	assert_int_equal(fx->req.out_len, 14);
	assert_int_equal(fx->req.in_len, 50);

	/* An indirect table at the top of guest-physical space. */
	t = (struct vring_desc *)(void *)host_of(fx, 0xffffffffffff0000);
	set_desc(t, 0, BUF_GPA, 1, VRING_DESC_F_WRITE, 0);
	set_desc(fx->desc, 0, 0xffffffffffff0000, 16, VRING_DESC_F_INDIRECT,
	    0);
	avail_add(fx, 0);
	assert_int_equal(pop(fx), 1);
	assert_int_equal(fx->req.in_len, 1);
	assert_false(fx->vq.broken);
}

static void
test_indirect_not_negotiated(void **state)
{
	struct fx *fx = *state;

	reset(fx, 0, false, false);
	set_desc((struct vring_desc *)(void *)host_of(fx, TABLE_GPA), 0,
	    BUF_GPA, 1, 0, 0);
	set_desc(fx->desc, 0, TABLE_GPA, 16, VRING_DESC_F_INDIRECT, 0);
	avail_add(fx, 0);
	expect_pop_breaks(fx, "not negotiated");
}

static void
test_wrap(void **state)
{
	struct fx *fx = *state;
	uint16_t i, slot;

	reset(fx, 65533, false, true);
	for (i = 0; i < 5; i++) {
		set_desc(fx->desc, i, BUF_GPA + 0x100 * i, 8 + i,
		    VRING_DESC_F_WRITE, 0);
		avail_add(fx, i);
	}
	assert_int_equal(fx->avail->idx, 2);
	for (i = 0; i < 5; i++) {
		assert_int_equal(pop(fx), 1);
		assert_int_equal(fx->req.head, i);
		assert_int_equal(fx->req.in_len, 8 + i);
	}
	assert_int_equal(fx->vq.last_avail, 2);
	assert_int_equal(pop(fx), 0);
	for (i = 0; i < 5; i++)
		vq_push(&fx->vq, 4 - i, 100 + i);
	vq_flush(&fx->vq);
	assert_int_equal(fx->used->idx, 2);
	for (i = 0; i < 5; i++) {
		slot = (uint16_t)(65533 + i) % NUM;
		assert_int_equal(fx->used->ring[slot].id, 4 - i);
		assert_int_equal(fx->used->ring[slot].len, 100 + i);
	}
	assert_int_equal(counter(fx->call_fd), 1);
	assert_false(fx->vq.broken);
}

static void
test_loop_self(void **state)
{
	struct fx *fx = *state;

	set_desc(fx->desc, 4, BUF_GPA, 8, VRING_DESC_F_NEXT, 4);
	avail_add(fx, 4);
	expect_pop_breaks(fx, "loops");
	/* Nothing was consumed. */
	assert_int_equal(fx->vq.last_avail, 0);
}

static void
test_loop_zero_length(void **state)
{
	struct fx *fx = *state;

	set_desc(fx->desc, 0, BUF_GPA, 0, VRING_DESC_F_NEXT, 1);
	set_desc(fx->desc, 1, BUF_GPA, 0, VRING_DESC_F_NEXT, 0);
	avail_add(fx, 0);
	expect_pop_breaks(fx, "loops");
}

static void
test_loop_indirect(void **state)
{
	struct fx *fx = *state;
	struct vring_desc *t = (struct vring_desc *)(void *)host_of(fx,
	    TABLE_GPA);

	set_desc(t, 0, BUF_GPA, 0, VRING_DESC_F_NEXT, 1);
	set_desc(t, 1, BUF_GPA, 0, VRING_DESC_F_NEXT, 0);
	set_desc(fx->desc, 0, TABLE_GPA, 2 * 16, VRING_DESC_F_INDIRECT, 0);
	avail_add(fx, 0);
	expect_pop_breaks(fx, "loops");
}

static void
test_next_out_of_range(void **state)
{
	struct fx *fx = *state;
	struct vring_desc *t = (struct vring_desc *)(void *)host_of(fx,
	    TABLE_GPA);

	set_desc(fx->desc, 0, BUF_GPA, 8, VRING_DESC_F_NEXT, NUM);
	avail_add(fx, 0);
	expect_pop_breaks(fx, "index 16 out of range");

	/* In an indirect table: next past its 2 entries. */
	reset(fx, 0, false, true);
	set_desc(t, 0, BUF_GPA, 8, VRING_DESC_F_NEXT, 2);
	set_desc(fx->desc, 0, TABLE_GPA, 2 * 16, VRING_DESC_F_INDIRECT, 0);
	avail_add(fx, 0);
	expect_pop_breaks(fx, "index 2 out of range");
}

static void
test_head_out_of_range(void **state)
{
	struct fx *fx = *state;

	avail_add(fx, NUM);
	expect_pop_breaks(fx, "head 16 out of range");
	reset(fx, 0, false, true);
	avail_add(fx, 0xffff);
	expect_pop_breaks(fx, "head 65535 out of range");
}

static void
test_bad_addresses(void **state)
{
	struct fx *fx = *state;

	/* In the hole between A and B. */
	set_desc(fx->desc, 0, 0x18000, 8, 0, 0);
	avail_add(fx, 0);
	expect_pop_breaks(fx, "0x18000 not in guest memory");

	/* Starting in A, running into the hole. */
	reset(fx, 0, false, true);
	set_desc(fx->desc, 0, 0xff00, 0x200, VRING_DESC_F_WRITE, 0);
	avail_add(fx, 0);
	expect_pop_breaks(fx, "0x10000 not in guest memory");

	/* Past everything. */
	reset(fx, 0, false, true);
	set_desc(fx->desc, 0, 0x123456789, 1, 0, 0);
	avail_add(fx, 0);
	expect_pop_breaks(fx, "not in guest memory");
}

static void
test_cross_region(void **state)
{
	struct fx *fx = *state;

	set_desc(fx->desc, 0, 0x2ff00, 0x100, VRING_DESC_F_NEXT, 1);
	set_desc(fx->desc, 1, 0x2ff80, 0x200, VRING_DESC_F_WRITE, 0);
	avail_add(fx, 0);
	assert_int_equal(pop(fx), 1);
	assert_int_equal(fx->req.n_out, 1);
	assert_ptr_equal(fx->req.out[0].iov_base, fx->mem + 0x2ff00);
	assert_int_equal(fx->req.out[0].iov_len, 0x100);
	/* B ends at 0x30000; C begins there but elsewhere in host memory. */
	assert_int_equal(fx->req.n_in, 2);
	assert_int_equal(fx->req.in_len, 0x200);
	assert_ptr_equal(fx->req.in[0].iov_base, fx->mem + 0x2ff80);
	assert_int_equal(fx->req.in[0].iov_len, 0x80);
	assert_ptr_equal(fx->req.in[1].iov_base, fx->mem + 0x50000);
	assert_int_equal(fx->req.in[1].iov_len, 0x180);
}

static void
test_overflow(void **state)
{
	struct fx *fx = *state;

	/* Top of the address space is fine while it stays in D. */
	set_desc(fx->desc, 0, 0xffffffffffff0000, 0xffff, 0, 0);
	avail_add(fx, 0);
	assert_int_equal(pop(fx), 1);
	assert_int_equal(fx->req.n_out, 1);
	assert_int_equal(fx->req.out[0].iov_len, 0xffff);
	assert_ptr_equal(fx->req.out[0].iov_base, fx->mem + 0x70000);

	reset(fx, 0, false, true);
	set_desc(fx->desc, 0, 0xfffffffffffff000, 0x2000, 0, 0);
	avail_add(fx, 0);
	expect_pop_breaks(fx, "overflows");

	/* addr + len == 2^64 */
	reset(fx, 0, false, true);
	set_desc(fx->desc, 0, 0xffffffffffff0000, 0x10000, 0, 0);
	avail_add(fx, 0);
	expect_pop_breaks(fx, "overflows");
}

static void
test_nested_indirect(void **state)
{
	struct fx *fx = *state;
	struct vring_desc *t = (struct vring_desc *)(void *)host_of(fx,
	    TABLE_GPA);

	set_desc(t, 0, TABLE_GPA + 0x100, 16, VRING_DESC_F_INDIRECT, 0);
	set_desc(t + 16, 0, BUF_GPA, 8, 0, 0);
	set_desc(fx->desc, 0, TABLE_GPA, 16, VRING_DESC_F_INDIRECT, 0);
	avail_add(fx, 0);
	expect_pop_breaks(fx, "nested");
}

static void
test_indirect_next(void **state)
{
	struct fx *fx = *state;

	set_desc((struct vring_desc *)(void *)host_of(fx, TABLE_GPA), 0,
	    BUF_GPA, 8, 0, 0);
	set_desc(fx->desc, 0, TABLE_GPA, 16,
	    VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
	set_desc(fx->desc, 1, BUF_GPA, 8, 0, 0);
	avail_add(fx, 0);
	expect_pop_breaks(fx, "with NEXT");
}

static void
test_indirect_bad_table(void **state)
{
	struct fx *fx = *state;

	/* Straddles B and C: refused even though both halves are mapped. */
	set_desc(fx->desc, 0, 0x2ffe0, 4 * 16, VRING_DESC_F_INDIRECT, 0);
	avail_add(fx, 0);
	expect_pop_breaks(fx, "not inside one memory region");

	reset(fx, 0, false, true);
	set_desc(fx->desc, 0, 0x18000, 16, VRING_DESC_F_INDIRECT, 0);
	avail_add(fx, 0);
	expect_pop_breaks(fx, "not inside one memory region");

	reset(fx, 0, false, true);
	set_desc(fx->desc, 0, TABLE_GPA, 0, VRING_DESC_F_INDIRECT, 0);
	avail_add(fx, 0);
	expect_pop_breaks(fx, "bad indirect table length 0");

	reset(fx, 0, false, true);
	set_desc(fx->desc, 0, TABLE_GPA, 24, VRING_DESC_F_INDIRECT, 0);
	avail_add(fx, 0);
	expect_pop_breaks(fx, "bad indirect table length 24");

	reset(fx, 0, false, true);
	set_desc(fx->desc, 0, TABLE_GPA, 16 * (VQ_MAX_SIZE + 1),
	    VRING_DESC_F_INDIRECT, 0);
	avail_add(fx, 0);
	expect_pop_breaks(fx, "bad indirect table length");
}

static void
test_read_after_write(void **state)
{
	struct fx *fx = *state;

	set_desc(fx->desc, 0, BUF_GPA, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT,
	    1);
	set_desc(fx->desc, 1, BUF_GPA + 8, 8, 0, 0);
	avail_add(fx, 0);
	expect_pop_breaks(fx, "device-readable descriptor after");

	/* A zero-length writable one counts too. */
	reset(fx, 0, false, true);
	set_desc(fx->desc, 0, BUF_GPA, 0, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT,
	    1);
	set_desc(fx->desc, 1, BUF_GPA + 8, 8, 0, 0);
	avail_add(fx, 0);
	expect_pop_breaks(fx, "device-readable descriptor after");
}

static void
test_too_many_segments(void **state)
{
	struct fx *fx = *state;
	unsigned i;

	for (i = 0; i < 5; i++)
		set_desc(fx->desc, i, BUF_GPA + 16 * i, 16,
		    i < 4 ? VRING_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	/* Four fit in four... */
	set_desc(fx->desc, 3, BUF_GPA + 48, 16, 0, 0);
	avail_add(fx, 0);
	assert_int_equal(vq_pop(&fx->vq, &fx->req, fx->iov, 4), 1);
	assert_int_equal(fx->req.n_out, 4);
	/* ...five do not. */
	set_desc(fx->desc, 3, BUF_GPA + 48, 16, VRING_DESC_F_NEXT, 4);
	vq_push(&fx->vq, 0, 0);
	avail_add(fx, 0);
	assert_int_equal(vq_pop(&fx->vq, &fx->req, fx->iov, 4), -1);
	expect_broken(fx, "too many segments");

	/* One descriptor split in two by a region edge, one iovec. */
	reset(fx, 0, false, true);
	set_desc(fx->desc, 0, 0x2fff0, 0x20, 0, 0);
	avail_add(fx, 0);
	assert_int_equal(vq_pop(&fx->vq, &fx->req, fx->iov, 1), -1);
	expect_broken(fx, "too many segments");
}

static void
test_avail_jump(void **state)
{
	struct fx *fx = *state;
	unsigned i;

	/* Exactly NUM ahead: legal, all popped. */
	for (i = 0; i < NUM; i++) {
		set_desc(fx->desc, i, BUF_GPA, 1, 0, 0);
		avail_add(fx, (uint16_t)i);
	}
	for (i = 0; i < NUM; i++)
		assert_int_equal(pop(fx), 1);
	assert_int_equal(pop(fx), 0);

	reset(fx, 0, false, true);
	set_desc(fx->desc, 0, BUF_GPA, 1, 0, 0);
	fx->avail->idx = NUM + 1;
	assert_true(vq_has_avail(&fx->vq));
	expect_pop_breaks(fx, "ahead");

	/* Also across the wrap. */
	reset(fx, 65530, false, true);
	fx->avail->idx = (uint16_t)(65530 + NUM + 1);
	expect_pop_breaks(fx, "ahead");
}

static void
test_same_head_twice(void **state)
{
	struct fx *fx = *state;

	set_desc(fx->desc, 2, BUF_GPA, 8, 0, 0);
	avail_add(fx, 2);
	avail_add(fx, 2);
	assert_int_equal(pop(fx), 1);
	assert_int_equal(fx->req.head, 2);
	expect_pop_breaks(fx, "head 2 made available while in flight");
}

static void
test_total_length(void **state)
{
	struct fx *fx = *state;
	struct mem_region_desc d = { 0x100000000, 0x100000000, 0x600000000, 0 };
	void *big;

	/* 4 GiB of guest-physical space, reserved, never touched. */
	big = mmap(NULL, 0x100000000, PROT_NONE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	assert_true(big != MAP_FAILED);
	assert_int_equal(memtab_add_mapped(&fx->mt, &d, big), 0);

	/* Exactly UINT32_MAX bytes: fine. */
	set_desc(fx->desc, 0, 0x100000000, 0xfffffffe, VRING_DESC_F_NEXT, 1);
	set_desc(fx->desc, 1, BUF_GPA, 1, 0, 0);
	avail_add(fx, 0);
	assert_int_equal(pop(fx), 1);
	assert_int_equal(fx->req.out_len, UINT32_MAX);
	assert_int_equal(fx->req.n_out, 2);

	/* One byte more, on the readable side. */
	reset(fx, 0, false, true);
	set_desc(fx->desc, 0, 0x100000000, 0xffffffff, VRING_DESC_F_NEXT, 1);
	set_desc(fx->desc, 1, BUF_GPA, 1, 0, 0);
	avail_add(fx, 0);
	expect_pop_breaks(fx, "longer than");

	/* And on the writable side, the readable part notwithstanding. */
	reset(fx, 0, false, true);
	set_desc(fx->desc, 0, BUF_GPA, 8, VRING_DESC_F_NEXT, 1);
	set_desc(fx->desc, 1, 0x100000000, 0xffffffff,
	    VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
	set_desc(fx->desc, 2, BUF_GPA, 1, VRING_DESC_F_WRITE, 0);
	avail_add(fx, 0);
	expect_pop_breaks(fx, "longer than");

	memtab_clear(&fx->mt);
	assert_int_equal(munmap(big, 0x100000000), 0);
}

static void
test_event_idx(void **state)
{
	struct fx *fx = *state;
	unsigned i;

	reset(fx, 0, true, true);
	for (i = 0; i < 4; i++)
		set_desc(fx->desc, i, BUF_GPA, 8, VRING_DESC_F_WRITE, 0);
	/* setup asks for a kick at the next entry. */
	assert_int_equal(*avail_event(fx), 0);

	/* The first flush always signals. */
	*used_event(fx) = 100;
	avail_add(fx, 0);
	assert_int_equal(pop(fx), 1);
	assert_int_equal(*avail_event(fx), 1);
	vq_push(&fx->vq, 0, 8);
	vq_flush(&fx->vq);
	assert_int_equal(fx->used->idx, 1);
	assert_int_equal(counter(fx->call_fd), 1);

	/* Driver: interrupt me when entry 3 is used (used->idx passes 3). */
	*used_event(fx) = 3;
	for (i = 2; i <= 4; i++) {
		avail_add(fx, 0);
		assert_int_equal(pop(fx), 1);
		vq_push(&fx->vq, 0, 8);
		vq_flush(&fx->vq);
		assert_int_equal(fx->used->idx, i);
		assert_int_equal(counter(fx->call_fd), i == 4 ? 1 : 0);
	}

	/* A batch that passes used_event: one signal for three entries. */
	*used_event(fx) = 5;
	for (i = 1; i <= 3; i++)
		avail_add(fx, (uint16_t)i);
	for (i = 1; i <= 3; i++)
		assert_int_equal(pop(fx), 1);
	for (i = 1; i <= 3; i++)
		vq_push(&fx->vq, (uint16_t)i, 8);
	vq_flush(&fx->vq);
	assert_int_equal(fx->used->idx, 7);
	assert_int_equal(counter(fx->call_fd), 1);

	/* A used_event the batch does not reach: none. */
	*used_event(fx) = 20;
	avail_add(fx, 0);
	assert_int_equal(pop(fx), 1);
	vq_push(&fx->vq, 0, 8);
	vq_flush(&fx->vq);
	assert_int_equal(counter(fx->call_fd), 0);

	/* With EVENT_IDX the NO_INTERRUPT flag is ignored. */
	fx->avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	*used_event(fx) = 8;
	avail_add(fx, 0);
	assert_int_equal(pop(fx), 1);
	vq_push(&fx->vq, 0, 8);
	vq_flush(&fx->vq);
	assert_int_equal(fx->used->idx, 9);
	assert_int_equal(counter(fx->call_fd), 1);
	assert_int_equal(fx->vq.n_signals, 4);
}

static void
test_event_idx_wrap(void **state)
{
	struct fx *fx = *state;

	/* used_event 65535 is passed by the flush that wraps to 0. */
	reset(fx, 65534, true, true);
	set_desc(fx->desc, 0, BUF_GPA, 8, VRING_DESC_F_WRITE, 0);
	set_desc(fx->desc, 1, BUF_GPA, 8, VRING_DESC_F_WRITE, 0);
	avail_add(fx, 0);
	assert_int_equal(pop(fx), 1);
	vq_push(&fx->vq, 0, 8);
	vq_flush(&fx->vq);
	assert_int_equal(counter(fx->call_fd), 1);
	*used_event(fx) = 65535;
	avail_add(fx, 0);
	avail_add(fx, 1);
	assert_int_equal(pop(fx), 1);
	assert_int_equal(pop(fx), 1);
	assert_int_equal(*avail_event(fx), 1);
	vq_push(&fx->vq, 0, 8);
	vq_push(&fx->vq, 1, 8);
	vq_flush(&fx->vq);
	assert_int_equal(fx->used->idx, 1);
	assert_int_equal(counter(fx->call_fd), 1);
}

static void
test_no_interrupt(void **state)
{
	struct fx *fx = *state;
	unsigned i;

	for (i = 0; i < 3; i++)
		set_desc(fx->desc, i, BUF_GPA, 8, VRING_DESC_F_WRITE, 0);

	fx->avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	avail_add(fx, 0);
	assert_int_equal(pop(fx), 1);
	vq_push(&fx->vq, 0, 8);
	vq_flush(&fx->vq);
	assert_int_equal(fx->used->idx, 1);
	assert_int_equal(counter(fx->call_fd), 0);

	/* Interrupts wanted again; three entries, one flush, one signal. */
	fx->avail->flags = 0;
	for (i = 0; i < 3; i++)
		avail_add(fx, (uint16_t)i);
	for (i = 0; i < 3; i++)
		assert_int_equal(pop(fx), 1);
	for (i = 0; i < 3; i++)
		vq_push(&fx->vq, (uint16_t)i, 8);
	vq_flush(&fx->vq);
	assert_int_equal(fx->used->idx, 4);
	assert_int_equal(counter(fx->call_fd), 1);
	assert_int_equal(fx->vq.n_signals, 1);

	/* No call fd: publishing still works. */
	fx->vq.call_fd = -1;
	avail_add(fx, 0);
	assert_int_equal(pop(fx), 1);
	vq_push(&fx->vq, 0, 8);
	vq_flush(&fx->vq);
	assert_int_equal(fx->used->idx, 5);
}

static void
test_notify(void **state)
{
	struct fx *fx = *state;

	set_desc(fx->desc, 0, BUF_GPA, 8, 0, 0);
	set_desc(fx->desc, 1, BUF_GPA, 8, 0, 0);

	/* Without EVENT_IDX: the NO_NOTIFY flag. */
	fx->used->flags = VRING_USED_F_NO_NOTIFY;
	queue_setup(fx, 0, false, true);
	assert_int_equal(fx->used->flags, 0);
	vq_disable_notify(&fx->vq);
	assert_int_equal(fx->used->flags, VRING_USED_F_NO_NOTIFY);
	assert_false(vq_enable_notify(&fx->vq));
	assert_int_equal(fx->used->flags, 0);
	vq_disable_notify(&fx->vq);
	avail_add(fx, 0);	/* arrives while kicks are off */
	assert_true(vq_enable_notify(&fx->vq));
	assert_int_equal(fx->used->flags, 0);
	assert_int_equal(pop(fx), 1);
	assert_false(vq_enable_notify(&fx->vq));

	/* With EVENT_IDX: avail_event. */
	reset(fx, 0, true, true);
	set_desc(fx->desc, 0, BUF_GPA, 8, 0, 0);
	set_desc(fx->desc, 1, BUF_GPA, 8, 0, 0);
	avail_add(fx, 0);
	assert_int_equal(pop(fx), 1);
	assert_int_equal(*avail_event(fx), 1);
	vq_disable_notify(&fx->vq);
	assert_int_equal(fx->used->flags, 0);
	avail_add(fx, 1);
	assert_int_equal(pop(fx), 1);
	/* Not advanced while suppressed. */
	assert_int_equal(*avail_event(fx), 1);
	assert_false(vq_enable_notify(&fx->vq));
	assert_int_equal(*avail_event(fx), 2);
	vq_disable_notify(&fx->vq);
	vq_push(&fx->vq, 0, 0);
	avail_add(fx, 0);
	assert_true(vq_enable_notify(&fx->vq));
	assert_int_equal(*avail_event(fx), 2);
}

static void
test_break_signals_err(void **state)
{
	struct fx *fx = *state;
	uint8_t before[0x100];

	set_desc(fx->desc, 0, BUF_GPA, 8, VRING_DESC_F_WRITE, 0);
	avail_add(fx, 0);
	assert_int_equal(pop(fx), 1);
	avail_add(fx, 0);

	vq_break(&fx->vq, "because %s", "the test says so");
	assert_true(fx->vq.broken);
	assert_string_equal(last_log,
	    "test-dev queue 0: queue broken: because the test says so");
	assert_int_equal(counter(fx->err_fd), 1);

	/* One line, one error signal, however often it breaks. */
	vq_break(&fx->vq, "again");
	assert_int_equal(n_logs, 1);
	assert_int_equal(counter(fx->err_fd), 0);

	/* Everything else is now a no-op. */
	memcpy(before, fx->used, sizeof(before));
	vq_push(&fx->vq, 0, 8);
	vq_flush(&fx->vq);
	assert_memory_equal(before, fx->used, sizeof(before));
	assert_int_equal(counter(fx->call_fd), 0);
	assert_int_equal(pop(fx), -1);
	assert_false(vq_has_avail(&fx->vq));
	assert_false(vq_enable_notify(&fx->vq));
	vq_disable_notify(&fx->vq);
	assert_memory_equal(before, fx->used, sizeof(before));
	assert_int_equal(vq_remap(&fx->vq, A_UVA + DESC_GPA,
	    A_UVA + AVAIL_GPA, A_UVA + USED_GPA), -1);
	assert_int_equal(counter(fx->err_fd), 0);

	/* A new setup (device reset) starts over. */
	queue_setup(fx, 1, false, true);
	assert_false(fx->vq.broken);
	assert_int_equal(pop(fx), 1);
}

static void
test_push_not_in_flight(void **state)
{
	struct fx *fx = *state;

	vq_push(&fx->vq, 3, 0);
	expect_broken(fx, "push of head 3 not in flight");
	assert_int_equal(fx->used->idx, 0);

	reset(fx, 0, false, true);
	vq_push(&fx->vq, NUM, 0);
	expect_broken(fx, "push of head 16 not in flight");
}

static void
test_remap(void **state)
{
	struct fx *fx = *state;
	struct mem_region_desc a = { 0x00000, 0x10000, 0x100000000, 0 };
	uint64_t b_uva = 0x200000000;

	/* Move the rings to region B, as after a memory table change. */
	set_desc(fx->desc, 0, BUF_GPA, 8, 0, 0);
	avail_add(fx, 0);
	memcpy(host_of(fx, 0x20000), fx->mem, 0x4000);
	memset(fx->mem, 0, 0x4000);
	assert_int_equal(vq_remap(&fx->vq, b_uva + DESC_GPA,
	    b_uva + AVAIL_GPA, b_uva + USED_GPA), 0);
	assert_int_equal(pop(fx), 1);
	assert_int_equal(fx->req.head, 0);
	vq_push(&fx->vq, 0, 0);
	vq_flush(&fx->vq);
	assert_int_equal(((struct vring_used *)(void *)host_of(fx,
	    0x20000 + USED_GPA))->idx, 1);
	assert_int_equal(fx->used->idx, 0);

	/* Region A gone: the old ring addresses no longer translate. */
	assert_int_equal(memtab_remove(&fx->mt, &a), 0);
	assert_int_equal(vq_remap(&fx->vq, A_UVA + DESC_GPA,
	    A_UVA + AVAIL_GPA, A_UVA + USED_GPA), -1);
	expect_broken(fx, "after a memory table change: descriptor ring");
}

#define T(f)	cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)

/* ---- the in-flight log (worker restarts) ---- */

static _Alignas(64) uint8_t logmem[4096];

static struct vq_log *
fresh_log(void)
{
	memset(logmem, 0, sizeof(logmem));
	return (struct vq_log *)(void *)logmem;
}

/* Heads 0..n-1, one 16-byte writable buffer each, made available. */
static void
offer(struct fx *fx, unsigned n)
{
	unsigned h;

	for (h = 0; h < n; h++) {
		set_desc(fx->desc, h, BUF_GPA + 16 * h, 16, VRING_DESC_F_WRITE,
		    0);
		avail_add(fx, (uint16_t)h);
	}
}

/*
 * A worker takes heads 0..3, returns 1 (flushed) and 3 (pushed, not
 * flushed), and dies.  The next one hands out 0, 2 and 3 again, in the
 * order they were taken, then goes on with the ring; nothing twice.
 */
static void
test_log_resume(void **state)
{
	struct fx *fx = *state;
	struct vq_log *log = fresh_log();
	unsigned i;

	reset(fx, 7, false, false);
	assert_int_equal(vq_log_start(&fx->vq, log, NUM, false), 0);
	assert_int_equal(log->version, VQ_LOG_VERSION);
	assert_int_equal(log->avail_gap, 0);
	offer(fx, 6);
	for (i = 0; i < 4; i++)
		assert_int_equal(pop(fx), 1);
	vq_push(&fx->vq, 1, 16);
	vq_flush(&fx->vq);
	vq_push(&fx->vq, 3, 16);
	/* Dies here.  A new worker: */
	queue_setup(fx, 0 /* main's stale base */, false, false);
	assert_int_equal(vq_log_start(&fx->vq, log, NUM, true), 3);
	assert_true(vq_has_avail(&fx->vq));
	assert_int_equal(pop(fx), 1);
	assert_int_equal(fx->req.head, 0);
	assert_true(fx->req.resubmitted);
	assert_int_equal(fx->req.in_len, 16);
	assert_int_equal(pop(fx), 1);
	assert_int_equal(fx->req.head, 2);
	assert_int_equal(pop(fx), 1);
	assert_int_equal(fx->req.head, 3);
	/* Then the ring goes on after the four taken before. */
	assert_int_equal(pop(fx), 1);
	assert_int_equal(fx->req.head, 4);
	assert_false(fx->req.resubmitted);
	assert_int_equal(pop(fx), 1);
	assert_int_equal(fx->req.head, 5);
	assert_int_equal(pop(fx), 0);
	for (i = 0; i < 6; i++)
		if (i != 1)
			vq_push(&fx->vq, (uint16_t)i, 16);
	vq_flush(&fx->vq);
	assert_int_equal(fx->used->idx, 7 + 6);
	assert_false(fx->vq.broken);
}

/*
 * The worker died after publishing a batch and before clearing its
 * inflight flags: the batch is finished, not handed out again.
 */
static void
test_log_half_committed_batch(void **state)
{
	struct fx *fx = *state;
	struct vq_log *log = fresh_log();

	reset(fx, 0, false, false);
	vq_log_start(&fx->vq, log, NUM, false);
	offer(fx, 3);
	assert_int_equal(pop(fx), 1);
	assert_int_equal(pop(fx), 1);
	assert_int_equal(pop(fx), 1);
	vq_push(&fx->vq, 2, 16);
	vq_push(&fx->vq, 0, 16);
	/* vq_flush up to the used index only: */
	__atomic_store_n(&fx->used->idx, 2, __ATOMIC_RELEASE);
	assert_int_equal(log->desc[0].inflight, 1);
	assert_int_equal(log->desc[2].inflight, 1);
	queue_setup(fx, 0, false, false);
	assert_int_equal(vq_log_start(&fx->vq, log, NUM, true), 1);
	assert_int_equal(pop(fx), 1);
	assert_int_equal(fx->req.head, 1);
	assert_true(fx->req.resubmitted);
	assert_int_equal(pop(fx), 0);
	assert_int_equal(log->used_idx, 2);
}

/*
 * A log that does not match the queue (never set up, another size) is
 * ignored: a fresh start from main's base.  Garbage in a matching log
 * (written by a worker its guest took over) is bounded: no crash, no
 * head out of range, at most the queue's size handed out.
 */
static void
test_log_mismatch_and_garbage(void **state)
{
	struct fx *fx = *state;
	struct vq_log *log = fresh_log();
	unsigned i, n;

	reset(fx, 5, false, false);
	assert_int_equal(vq_log_start(&fx->vq, log, NUM, true), 0);
	assert_int_equal(fx->vq.last_avail, 5);
	assert_int_equal(log->desc_num, NUM);
	log->desc_num = NUM * 2;
	queue_setup(fx, 5, false, false);
	assert_int_equal(vq_log_start(&fx->vq, log, NUM, true), 0);
	assert_int_equal(fx->vq.last_avail, 5);
	/* Too small a region for the queue: no log at all. */
	queue_setup(fx, 5, false, false);
	assert_int_equal(vq_log_start(&fx->vq, log, NUM / 2, false), 0);
	assert_null(fx->vq.log);

	for (i = 0; i < sizeof(logmem); i++)
		logmem[i] = (uint8_t)(i * 37 + 11);
	log->version = VQ_LOG_VERSION;
	log->desc_num = NUM;
	log->last_batch_head = 0xffff;
	for (i = 0; i < NUM; i++)
		set_desc(fx->desc, i, BUF_GPA + 16 * i, 16,
		    VRING_DESC_F_WRITE, 0);
	fx->used->idx = 3;
	queue_setup(fx, 0, false, false);
	n = vq_log_start(&fx->vq, log, NUM, true);
	assert_true(n <= NUM);
	for (i = 0; i < n; i++) {
		assert_int_equal(pop(fx), 1);
		assert_true(fx->req.head < NUM);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_setup_checks),
		cmocka_unit_test(test_not_set_up),
		T(test_log_resume),
		T(test_log_half_committed_batch),
		T(test_log_mismatch_and_garbage),
		T(test_pop_empty),
		T(test_plain_chain),
		T(test_zero_length),
		T(test_full_length_chain),
		T(test_indirect),
		T(test_indirect_not_negotiated),
		T(test_wrap),
		T(test_loop_self),
		T(test_loop_zero_length),
		T(test_loop_indirect),
		T(test_next_out_of_range),
		T(test_head_out_of_range),
		T(test_bad_addresses),
		T(test_cross_region),
		T(test_overflow),
		T(test_nested_indirect),
		T(test_indirect_next),
		T(test_indirect_bad_table),
		T(test_read_after_write),
		T(test_too_many_segments),
		T(test_avail_jump),
		T(test_same_head_twice),
		T(test_total_length),
		T(test_event_idx),
		T(test_event_idx_wrap),
		T(test_no_interrupt),
		T(test_notify),
		T(test_break_signals_err),
		T(test_push_not_in_flight),
		T(test_remap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
