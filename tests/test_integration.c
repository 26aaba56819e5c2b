/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Integration tests: the real vhostd binary (path in $VHOSTD), started by
 * each test with a config of its own in a fresh mkdtemp directory, driven
 * over its sockets by the vufront front-end library as a VMM would: memfd
 * guest RAM in several regions with holes, split rings, kicks and calls.
 * Each test ends vhostd with SIGTERM and checks that it exits 0 and removes
 * its sockets.  vhostd's log goes to this program's stderr (set
 * VUF_VERBOSE=1 to start it with -v).  Without $VHOSTD the tests skip.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "vuf_daemon.h"
#include "vufront.h"

#define QSIZE		256
#define WAIT_MS		DAEMON_WAIT_MS

/* The rng devices of these tests: socket <dir>/<id>.sock. */
static void
add_rng(struct daemon *d, const char *id, const char *extra)
{
	daemon_add(d, "rng", id, extra);
}

static struct vuf *
open_dev(const char *path)
{
	return daemon_open_dev(path, QSIZE);
}

/* Reads size bytes of entropy with `layout`, failing unless all come. */
static void
read_rng(struct vuf *v, size_t size, enum vuf_layout layout, uint8_t *out)
{
	ssize_t n;

	n = vuf_read_writable(v, 0, size, layout, out, WAIT_MS);
	if (n == -1)
		fail_msg("read of %zu bytes (layout %d): %s", size, layout,
		    vuf_error(v));
	if ((size_t)n != size)
		fail_msg("read of %zu bytes (layout %d): device wrote %zd",
		    size, layout, n);
}

/* How many bytes of buf[0..len) still hold the 0xa5 fill. */
static size_t
count_fill(const uint8_t *buf, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		n += buf[i] == 0xa5;
	return n;
}

/* (1) Random bytes fill the whole buffer, whatever its layout in guest
 * RAM, and differ between requests. */
static void
test_random(void **state)
{
	static const enum vuf_layout layouts[] = { VUF_ONE, VUF_CHAIN,
	    VUF_SPAN };
	uint8_t a[8192], b[8192];
	struct daemon *d = *state;
	struct vuf *v;
	unsigned i;

	DAEMON_SKIP_IF_NONE(d);
	add_rng(d, "vm1-rng", "");
	daemon_start(d);
	v = open_dev(d->sock[0]);
	for (i = 0; i < 3; i++) {
		read_rng(v, sizeof(a), layouts[i], a);
		read_rng(v, sizeof(b), layouts[i], b);
		/* Each half (each region, for CHAIN and SPAN) was written:
		 * 4096 random bytes hold about 16 of 0xa5, never 256. */
		assert_true(count_fill(a, 4096) < 256);
		assert_true(count_fill(a + 4096, 4096) < 256);
		assert_true(count_fill(b, 4096) < 256);
		assert_true(count_fill(b + 4096, 4096) < 256);
		assert_memory_not_equal(a, b, sizeof(a));
	}
	vuf_close(v);
	daemon_stop(d);
}

/* The known bytes of the source file of test (2). */
static uint8_t
src_byte(size_t i)
{
	uint32_t x = (uint32_t)i * 2654435761u;

	return (uint8_t)(x >> 13 ^ x >> 24);
}

/* (2) With a "source" file the device returns exactly its bytes, in
 * order, across requests of any size and layout. */
static void
test_source(void **state)
{
	static const struct {
		size_t		size;
		enum vuf_layout	layout;
	} reqs[] = {
		{ 1, VUF_ONE }, { 1000, VUF_ONE }, { 4096, VUF_CHAIN },
		{ 513, VUF_SPAN }, { 7, VUF_CHAIN }, { 8192, VUF_ONE },
		{ 3000, VUF_SPAN },
	};
	uint8_t *want, got[8192];
	char extra[PATH_MAX + 32];
	struct daemon *d = *state;
	size_t i, off = 0, total = 64 * 1024;
	struct vuf *v;
	char src[PATH_MAX];
	ssize_t n;
	int fd;

	DAEMON_SKIP_IF_NONE(d);
	assert_non_null(want = malloc(total));
	for (i = 0; i < total; i++)
		want[i] = src_byte(i);
	snprintf(src, sizeof(src), "%s/entropy.bin", d->dir);
	assert_int_not_equal(fd = open(src, O_WRONLY | O_CREAT | O_EXCL,
	    0644), -1);
	assert_int_equal(write(fd, want, total), (ssize_t)total);
	assert_int_equal(close(fd), 0);
	snprintf(extra, sizeof(extra), ", \"source\": \"%s\"", src);
	add_rng(d, "vm1-rng", extra);
	daemon_start(d);

	v = open_dev(d->sock[0]);
	for (i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		n = vuf_read_writable(v, 0, reqs[i].size, reqs[i].layout, got,
		    WAIT_MS);
		if (n <= 0)
			fail_msg("request %zu: %zd: %s", i, n, vuf_error(v));
		/* A file reads in full: the device owes every byte. */
		assert_int_equal(n, reqs[i].size);
		if (memcmp(got, want + off, (size_t)n) != 0)
			fail_msg("request %zu: bytes differ from the file at "
			    "offset %zu", i, off);
		off += (size_t)n;
	}
	vuf_close(v);
	daemon_stop(d);
	free(want);
}

/* Submits n writable buffers of len bytes each (from region 0) on v. */
static void
submit_many(struct vuf *v, unsigned n, uint32_t len, uint64_t *gpa)
{
	struct vuf_seg seg;
	unsigned i;

	for (i = 0; i < n; i++) {
		if (gpa[i] == 0 &&
		    (gpa[i] = vuf_alloc(v, 0, len, 64)) == VUF_BAD_GPA)
			fail_msg("alloc: %s", vuf_error(v));
		seg = (struct vuf_seg){ gpa[i], len, true };
		if (vuf_vq_add(v, 0, &seg, 1) == -1)
			fail_msg("add: %s", vuf_error(v));
	}
	assert_int_equal(vuf_kick(v, 0), 0);
}

/* Harvests what is used until `until` (a now_ms() time) or until every
 * buffer is back; returns the bytes written and counts the buffers. */
static uint64_t
harvest_until(struct vuf *v, int64_t until, unsigned *nbufs)
{
	uint64_t bytes = 0;
	uint32_t head, len;
	int64_t left;
	int r;

	while (vuf_vq_inflight(v, 0) > 0 && (left = until - now_ms()) > 0) {
		r = vuf_vq_wait_used(v, 0, &head, &len, (int)left);
		if (r == 0)
			break;
		if (r != 1)
			fail_msg("harvest: %s", vuf_error(v));
		bytes += len;
		(*nbufs)++;
	}
	return bytes;
}

/* (3) max_bytes 4096 per 1000 ms: of 16 KiB asked at once, no more than
 * 4096 bytes come in the first period, and the rest follows later. */
static void
test_rate_limit(void **state)
{
	struct daemon *d = *state;
	uint64_t gpa[16] = { 0 }, first, total;
	unsigned nbufs = 0;
	struct vuf *v;
	int64_t t0;

	DAEMON_SKIP_IF_NONE(d);
	add_rng(d, "vm1-rng", ", \"max_bytes\": 4096, \"period_ms\": 1000");
	daemon_start(d);
	v = open_dev(d->sock[0]);
	/* Whatever period was running when the device started is over
	 * (the worker starts it, late under a slow wrapper: VUF_SLOW): the
	 * first request opens a new one. */
	sleep_ms(1100 * daemon_slow());
	t0 = now_ms();
	submit_many(v, 16, 1024, gpa);
	/* Half a period: well inside the first one. */
	first = harvest_until(v, t0 + 500, &nbufs);
	fprintf(stderr, "rate limit: %llu bytes in %u buffers in the first "
	    "500 ms\n", (unsigned long long)first, nbufs);
	assert_true(first > 0);
	assert_true(first <= 4096);
	/* The rest comes in the next periods (about 3 s). */
	total = first + harvest_until(v, t0 + 8000, &nbufs);
	fprintf(stderr, "rate limit: %llu bytes in %u buffers in %lld ms\n",
	    (unsigned long long)total, nbufs, (long long)(now_ms() - t0));
	assert_int_equal(nbufs, 16);
	assert_int_equal(total, 16 * 1024);
	vuf_close(v);
	daemon_stop(d);
}

/* (4) Three VMs on three sockets, served at once: requests interleaved.
 * vm2 does without EVENT_IDX (VRING_AVAIL_F_NO_INTERRUPT path), vm3
 * without REPLY_ACK. */
static void
test_many_vms(void **state)
{
	static const char *const ids[] = { "vm1-rng", "vm2-rng", "vm3-rng" };
	uint8_t bufs[3][512];
	struct daemon *d = *state;
	struct vuf *v[3];
	struct vuf_seg seg[3];
	uint32_t head, len;
	unsigned i, round;
	int h[3];

	DAEMON_SKIP_IF_NONE(d);
	for (i = 0; i < 3; i++)
		add_rng(d, ids[i], "");
	daemon_start(d);
	v[0] = open_dev(d->sock[0]);
	for (i = 1; i < 3; i++) {
		if ((v[i] = vuf_connect(d->sock[i], WAIT_MS)) == NULL)
			fail_msg("connect %s: %s", d->sock[i], strerror(errno));
		if (vuf_setup_with(v[i], i == 1 ?
		    ~(1ULL << VIRTIO_RING_F_EVENT_IDX) : ~0ULL, i == 2 ?
		    ~(1ULL << VUF_PF_REPLY_ACK) : ~0ULL, 1, QSIZE) == -1)
			fail_msg("setup on %s: %s", d->sock[i],
			    vuf_error(v[i]));
	}
	assert_true(v[0]->event_idx && v[0]->reply_ack);
	assert_true(!v[1]->event_idx && v[1]->reply_ack);
	assert_true(v[2]->event_idx && !v[2]->reply_ack);
	for (i = 0; i < 3; i++) {
		seg[i] = (struct vuf_seg){ vuf_alloc(v[i], 0, 512, 64), 512,
		    true };
		assert_int_not_equal(seg[i].gpa, VUF_BAD_GPA);
	}
	for (round = 0; round < 50; round++) {
		for (i = 0; i < 3; i++) {
			memset(vuf_gpa_to_host(v[i], seg[i].gpa, 512), 0xa5,
			    512);
			assert_int_not_equal(h[i] = vuf_vq_add(v[i], 0,
			    &seg[i], 1), -1);
			assert_int_equal(vuf_kick(v[i], 0), 0);
		}
		for (i = 0; i < 3; i++) {
			if (vuf_vq_wait_used(v[i], 0, &head, &len,
			    WAIT_MS) != 1)
				fail_msg("%s round %u: %s", ids[i], round,
				    vuf_error(v[i]));
			assert_int_equal(head, h[i]);
			assert_int_equal(len, 512);
			vuf_gather(v[i], &seg[i], 1, bufs[i], 512);
			assert_true(count_fill(bufs[i], 512) < 64);
		}
		assert_memory_not_equal(bufs[0], bufs[1], 512);
		assert_memory_not_equal(bufs[1], bufs[2], 512);
	}
	for (i = 0; i < 3; i++)
		vuf_close(v[i]);
	daemon_stop(d);
}

/*
 * Opens a device over a connection that the back-end may refuse for a
 * moment (it has not yet seen the previous front-end go): retries for up
 * to 2 s while the connection is closed under us.  Counts the retries.
 */
static struct vuf *
open_dev_retry(const char *path, unsigned *retries)
{
	int64_t deadline = now_ms() + 2000;
	struct vuf *v;

	for (;;) {
		if ((v = vuf_connect(path, WAIT_MS)) == NULL)
			fail_msg("connect %s: %s", path, strerror(errno));
		if (vuf_setup(v, 1, QSIZE) == 0)
			return v;
		if (errno != ECONNRESET || now_ms() > deadline)
			fail_msg("setup on %s: %s", path, vuf_error(v));
		vuf_close(v);
		(*retries)++;
		sleep_ms(10);
	}
}

/* (5) 100 disconnect/reconnect cycles, each served; main's open fds come
 * back to where they started. */
static void
test_reconnect(void **state)
{
	struct daemon *d = *state;
	unsigned i, retries = 0;
	int before, after;
	uint8_t buf[64];
	struct vuf *v;

	DAEMON_SKIP_IF_NONE(d);
	add_rng(d, "vm1-rng", "");
	daemon_start(d);
	assert_int_not_equal(before = proc_count_fds(d->pid, false), -1);
	for (i = 0; i < 100; i++) {
		v = open_dev_retry(d->sock[0], &retries);
		read_rng(v, sizeof(buf), i % 2 ? VUF_CHAIN : VUF_ONE, buf);
		vuf_close(v);
	}
	after = proc_fds_settle(d->pid, before, 3000);
	fprintf(stderr, "reconnect: main had %d fds before, %d after; %u "
	    "refused reconnects retried\n", before, after, retries);
	if (after > before) {
		proc_count_fds(d->pid, true);
		fail_msg("main leaked %d fds over 100 cycles", after - before);
	}
	/* Still serving. */
	v = open_dev_retry(d->sock[0], &retries);
	read_rng(v, sizeof(buf), VUF_SPAN, buf);
	vuf_close(v);
	daemon_stop(d);
}

/* (6) A second front-end on a busy socket is refused (closed) while the
 * first keeps working. */
static void
test_second_refused(void **state)
{
	struct daemon *d = *state;
	struct vuf *v, *w;
	uint8_t buf[256];
	int closed;

	DAEMON_SKIP_IF_NONE(d);
	add_rng(d, "vm1-rng", "");
	daemon_start(d);
	v = open_dev(d->sock[0]);
	read_rng(v, sizeof(buf), VUF_ONE, buf);

	w = vuf_connect(d->sock[0], 0);
	if (w == NULL) {
		/* Refused at connect: as good as closed. */
		assert_int_equal(errno, ECONNREFUSED);
	} else {
		/* It may already be closed: the send's result is moot. */
		(void)vuf_send(w, VUF_GET_FEATURES, VUF_VERSION, NULL, 0,
		    NULL, 0);
		closed = vuf_wait_closed(w, 3000);
		if (closed != 1)
			fail_msg("second front-end not closed (%d)", closed);
	}
	read_rng(v, sizeof(buf), VUF_CHAIN, buf);
	vuf_close(w);
	read_rng(v, sizeof(buf), VUF_SPAN, buf);
	vuf_close(v);
	daemon_stop(d);
}

/* (7) What the device says of itself. */
static void
test_features(void **state)
{
	static const int pbits[] = { VUF_PF_MQ, VUF_PF_REPLY_ACK,
	    VUF_PF_CONFIG, VUF_PF_BACKEND_REQ, VUF_PF_CONFIGURE_MEM_SLOTS,
	    VUF_PF_RESET_DEVICE, VUF_PF_STATUS };
	struct daemon *d = *state;
	uint64_t f, pf, n;
	struct vuf *v;
	uint8_t st = 0;
	unsigned i;

	DAEMON_SKIP_IF_NONE(d);
	add_rng(d, "vm1-rng", "");
	daemon_start(d);
	assert_non_null(v = vuf_connect(d->sock[0], WAIT_MS));
	if (vuf_get_features(v, &f) == -1)
		fail_msg("GET_FEATURES: %s", vuf_error(v));
	assert_true(f & (1ULL << VIRTIO_F_VERSION_1));
	assert_true(f & (1ULL << VUF_F_PROTOCOL_FEATURES));
	if (vuf_get_protocol_features(v, &pf) == -1)
		fail_msg("GET_PROTOCOL_FEATURES: %s", vuf_error(v));
	for (i = 0; i < sizeof(pbits) / sizeof(pbits[0]); i++)
		if (!(pf & (1ULL << pbits[i])))
			fail_msg("protocol feature %d missing from %#llx",
			    pbits[i], (unsigned long long)pf);
	if (vuf_set_protocol_features(v, pf) == -1)
		fail_msg("SET_PROTOCOL_FEATURES: %s", vuf_error(v));
	if (vuf_get_queue_num(v, &n) == -1)
		fail_msg("GET_QUEUE_NUM: %s", vuf_error(v));
	assert_int_equal(n, 1);
	if (vuf_get_max_mem_slots(v, &n) == -1)
		fail_msg("GET_MAX_MEM_SLOTS: %s", vuf_error(v));
	assert_true(n >= 3);
	if (vuf_set_backend_req(v) == -1)
		fail_msg("SET_BACKEND_REQ_FD: %s", vuf_error(v));
	if (vuf_set_owner(v) == -1)
		fail_msg("SET_OWNER: %s", vuf_error(v));
	if (vuf_set_features(v, f) == -1)
		fail_msg("SET_FEATURES: %s", vuf_error(v));
	if (vuf_set_status(v, VUF_S_ACKNOWLEDGE | VUF_S_DRIVER |
	    VUF_S_FEATURES_OK) == -1 || vuf_get_status(v, &st) == -1)
		fail_msg("STATUS: %s", vuf_error(v));
	assert_int_equal(st, VUF_S_ACKNOWLEDGE | VUF_S_DRIVER |
	    VUF_S_FEATURES_OK);
	vuf_close(v);
	daemon_stop(d);
}

/* (8) Invalid messages: refused or closed, and only that connection. */
static void
test_invalid(void **state)
{
	struct vuf_vring_state s = { 0, 3 };
	struct daemon *d = *state;
	struct vuf *v, *w;
	uint32_t short_num = 64;
	uint8_t buf[256];
	uint64_t ack = 0;
	int r;

	DAEMON_SKIP_IF_NONE(d);
	add_rng(d, "vm1-rng", "");
	add_rng(d, "vm2-rng", "");
	daemon_start(d);
	w = open_dev(d->sock[1]);
	read_rng(w, sizeof(buf), VUF_ONE, buf);

	/* A ring size that is not a power of two, with NEED_REPLY. */
	v = open_dev(d->sock[0]);
	r = vuf_request_ack(v, VUF_SET_VRING_NUM, &s, sizeof(s), NULL, 0,
	    &ack);
	if (r == 0)
		assert_int_not_equal(ack, 0);
	else if (errno != ECONNRESET)
		fail_msg("SET_VRING_NUM 3: %s", vuf_error(v));
	fprintf(stderr, "invalid: SET_VRING_NUM 3 %s\n", r == 0 ? "refused" :
	    "closed the connection");
	read_rng(w, sizeof(buf), VUF_CHAIN, buf);
	vuf_close(v);

	/* A payload of the wrong size (4 bytes, not 8): closed. */
	v = open_dev_retry(d->sock[0], &(unsigned){ 0 });
	assert_int_equal(vuf_wait_closed(v, 0), 0);
	(void)vuf_send(v, VUF_SET_VRING_NUM, VUF_VERSION, &short_num, sizeof(short_num),
	    NULL, 0);
	if ((r = vuf_wait_closed(v, 3000)) != 1)
		fail_msg("wrong payload size: connection not closed (%d)", r);
	vuf_close(v);
	read_rng(w, sizeof(buf), VUF_SPAN, buf);

	/* And the socket serves the next front-end afresh. */
	v = open_dev_retry(d->sock[0], &(unsigned){ 0 });
	read_rng(v, sizeof(buf), VUF_ONE, buf);
	vuf_close(v);
	vuf_close(w);
	daemon_stop(d);
}

/* (9) Guest RAM given region by region with ADD_MEM_REG, and taken back
 * with REM_MEM_REG. */
static void
test_mem_slots(void **state)
{
	struct daemon *d = *state;
	uint8_t buf[4096];
	struct vuf *v;
	unsigned r;

	DAEMON_SKIP_IF_NONE(d);
	add_rng(d, "vm1-rng", "");
	daemon_start(d);
	assert_non_null(v = vuf_connect(d->sock[0], WAIT_MS));
	if (vuf_negotiate(v, ~0ULL, ~0ULL) == -1)
		fail_msg("negotiate: %s", vuf_error(v));
	assert_true(v->protocol_features & (1ULL << VUF_PF_CONFIGURE_MEM_SLOTS));
	assert_int_equal(vuf_mem_default(v), 0);
	/* A fourth region, far away, to be removed again. */
	assert_int_equal(vuf_mem_add(v, 64ULL << 30, 1 << 20, 0), 3);
	for (r = 0; r < v->nregions; r++)
		if (vuf_add_mem_reg(v, r) == -1)
			fail_msg("ADD_MEM_REG %u: %s", r, vuf_error(v));
	if (vuf_vq_alloc(v, 0, QSIZE, 1) == -1 || vuf_vq_start(v, 0) == -1 ||
	    vuf_set_status(v, VUF_S_ACKNOWLEDGE | VUF_S_DRIVER |
	    VUF_S_FEATURES_OK | VUF_S_DRIVER_OK) == -1)
		fail_msg("start: %s", vuf_error(v));
	read_rng(v, sizeof(buf), VUF_CHAIN, buf);
	read_rng(v, sizeof(buf), VUF_SPAN, buf);
	if (vuf_rem_mem_reg(v, 3) == -1)
		fail_msg("REM_MEM_REG: %s", vuf_error(v));
	read_rng(v, sizeof(buf), VUF_CHAIN, buf);
	read_rng(v, sizeof(buf), VUF_ONE, buf);
	vuf_close(v);
	daemon_stop(d);
}

/* (10) GET_VRING_BASE stops the ring at the next avail index; after
 * RESET_DEVICE the device starts again from scratch. */
static void
test_vring_base_reset(void **state)
{
	struct daemon *d = *state;
	uint8_t buf[128], st;
	uint32_t base;
	struct vuf *v;
	unsigned i;

	DAEMON_SKIP_IF_NONE(d);
	add_rng(d, "vm1-rng", "");
	daemon_start(d);
	v = open_dev(d->sock[0]);
	for (i = 0; i < 5; i++)
		read_rng(v, sizeof(buf), VUF_ONE, buf);
	if (vuf_get_vring_base(v, 0, &base) == -1)
		fail_msg("GET_VRING_BASE: %s", vuf_error(v));
	assert_int_equal(base, 5);

	if (vuf_reset_device(v) == -1)
		fail_msg("RESET_DEVICE: %s", vuf_error(v));
	if (vuf_get_status(v, &st) == -1)
		fail_msg("GET_STATUS: %s", vuf_error(v));
	assert_int_equal(st, 0);
	/* Started again as QEMU does after a reset. */
	if (vuf_set_features(v, v->features) == -1 ||
	    vuf_set_mem_table(v) == -1 || vuf_vq_start(v, 0) == -1 ||
	    vuf_set_status(v, VUF_S_ACKNOWLEDGE | VUF_S_DRIVER |
	    VUF_S_FEATURES_OK | VUF_S_DRIVER_OK) == -1)
		fail_msg("restart after reset: %s", vuf_error(v));
	read_rng(v, sizeof(buf), VUF_CHAIN, buf);
	if (vuf_get_vring_base(v, 0, &base) == -1)
		fail_msg("GET_VRING_BASE: %s", vuf_error(v));
	assert_int_equal(base, 1);
	vuf_close(v);
	daemon_stop(d);
}

/* (11) A ring held by its device (rate limit) while guest RAM changes: the
 * worker resets the device, which drops its timer, and must run the ring
 * again itself.  The driver kicked once and will not kick again. */
static void
test_paused_mem_change(void **state)
{
	struct daemon *d = *state;
	uint64_t gpa[4] = { 0 }, first, total;
	unsigned nbufs = 0;
	struct vuf *v;
	int64_t t0;

	DAEMON_SKIP_IF_NONE(d);
	add_rng(d, "vm1-rng", ", \"max_bytes\": 1024, \"period_ms\": 1000");
	daemon_start(d);
	assert_non_null(v = vuf_connect(d->sock[0], WAIT_MS));
	if (vuf_negotiate(v, ~0ULL, ~0ULL) == -1)
		fail_msg("negotiate: %s", vuf_error(v));
	assert_int_equal(vuf_mem_default(v), 0);
	assert_int_equal(vuf_mem_add(v, 64ULL << 30, 1 << 20, 0), 3);
	if (vuf_set_mem_table(v) == -1 || vuf_vq_alloc(v, 0, QSIZE, 1) == -1 ||
	    vuf_vq_start(v, 0) == -1 || vuf_set_status(v, VUF_S_ACKNOWLEDGE |
	    VUF_S_DRIVER | VUF_S_FEATURES_OK | VUF_S_DRIVER_OK) == -1)
		fail_msg("start: %s", vuf_error(v));
	sleep_ms(1100 * daemon_slow());
	t0 = now_ms();
	submit_many(v, 4, 1024, gpa);
	first = harvest_until(v, t0 + 300, &nbufs);
	assert_int_equal(first, 1024);
	/* Region 3 goes: the device is reset while it holds the ring. */
	if (vuf_rem_mem_reg(v, 3) == -1)
		fail_msg("REM_MEM_REG: %s", vuf_error(v));
	total = first + harvest_until(v, t0 + 8000, &nbufs);
	fprintf(stderr, "paused ring: %llu bytes in %u buffers in %lld ms\n",
	    (unsigned long long)total, nbufs, (long long)(now_ms() - t0));
	assert_int_equal(nbufs, 4);
	assert_int_equal(total, 4 * 1024);
	vuf_close(v);
	daemon_stop(d);
}

#define T(f)	cmocka_unit_test_setup_teardown(f, daemon_setup, daemon_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_random),
		T(test_source),
		T(test_rate_limit),
		T(test_many_vms),
		T(test_reconnect),
		T(test_second_refused),
		T(test_features),
		T(test_invalid),
		T(test_mem_slots),
		T(test_vring_base_reset),
		T(test_paused_mem_change),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
