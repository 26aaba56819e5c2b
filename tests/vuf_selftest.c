/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Checks the vufront library on its own, against a minimal vhost-user
 * back-end written here (a forked child serving one connection): it maps
 * the memfd regions it is given, and on a kick fills every device-writable
 * buffer with a running byte counter, so that each layout of guest buffers
 * (one region, a chain across a hole, one descriptor across two memfds)
 * can be checked byte for byte.  This back-end trusts its peer: it is a
 * test double for the front-end library, not a model of vhostd.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "vufront.h"

#define FAKE_FEATURES	((1ULL << VIRTIO_F_VERSION_1) | \
	(1ULL << VUF_F_PROTOCOL_FEATURES) | (1ULL << VIRTIO_RING_F_EVENT_IDX))
#define FAKE_PROTOCOL	((1ULL << VUF_PF_MQ) | (1ULL << VUF_PF_REPLY_ACK) | \
	(1ULL << VUF_PF_CONFIG) | (1ULL << VUF_PF_STATUS) | \
	(1ULL << VUF_PF_RESET_DEVICE) | (1ULL << VUF_PF_CONFIGURE_MEM_SLOTS))

/* ---- the fake back-end (child process) ---- */

struct fake_region {
	struct vuf_mem_region	 d;
	uint8_t			*host;
	bool			 used;
};

struct fake {
	int			 conn;
	struct fake_region	 r[VUF_MAX_REGIONS];
	uint16_t		 num;
	uint64_t		 desc_uva, avail_uva, used_uva;
	uint16_t		 last_avail, used_idx;
	int			 kick, call;
	bool			 event_idx;
	uint8_t			 counter;
	uint8_t			 status;
};

static void
fake_map(struct fake *f, const struct vuf_mem_region *d, int fd)
{
	unsigned i;
	void *p;

	for (i = 0; i < VUF_MAX_REGIONS && f->r[i].used; i++)
		;
	if (i == VUF_MAX_REGIONS)
		_exit(2);
	p = mmap(NULL, d->size + d->mmap_offset, PROT_READ | PROT_WRITE,
	    MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		_exit(2);
	close(fd);
	f->r[i].d = *d;
	f->r[i].host = (uint8_t *)p + d->mmap_offset;
	f->r[i].used = true;
}

static void
fake_unmap(struct fake *f, const struct vuf_mem_region *d)
{
	unsigned i;

	for (i = 0; i < VUF_MAX_REGIONS; i++)
		if (f->r[i].used && f->r[i].d.gpa == d->gpa) {
			munmap(f->r[i].host - f->r[i].d.mmap_offset,
			    f->r[i].d.size + f->r[i].d.mmap_offset);
			f->r[i].used = false;
		}
}

/* One byte of guest memory by guest-physical (gpa) or front-end virtual
 * address (uva), NULL if unmapped. */
static uint8_t *
fake_byte(struct fake *f, uint64_t a, bool uva)
{
	unsigned i;
	uint64_t base;

	for (i = 0; i < VUF_MAX_REGIONS; i++) {
		if (!f->r[i].used)
			continue;
		base = uva ? f->r[i].d.uva : f->r[i].d.gpa;
		if (a >= base && a - base < f->r[i].d.size)
			return f->r[i].host + (a - base);
	}
	return NULL;
}

static void
fake_run_queue(struct fake *f)
{
	struct vring_desc *desc = (void *)fake_byte(f, f->desc_uva, true);
	struct vring_avail *avail = (void *)fake_byte(f, f->avail_uva, true);
	struct vring_used *used = (void *)fake_byte(f, f->used_uva, true);
	uint16_t head, i, old = f->used_idx, ue;
	uint32_t len, k;
	uint64_t one = 1;
	uint8_t *b;

	if (desc == NULL || avail == NULL || used == NULL)
		_exit(3);
	while (f->last_avail != __atomic_load_n(&avail->idx,
	    __ATOMIC_ACQUIRE)) {
		head = avail->ring[f->last_avail++ & (f->num - 1)];
		len = 0;
		for (i = head;; i = desc[i].next) {
			if (desc[i].flags & VRING_DESC_F_WRITE)
				for (k = 0; k < desc[i].len; k++) {
					if ((b = fake_byte(f, desc[i].addr + k,
					    false)) == NULL)
						_exit(4);
					*b = f->counter++;
					len++;
				}
			if (!(desc[i].flags & VRING_DESC_F_NEXT))
				break;
		}
		used->ring[f->used_idx & (f->num - 1)].id = head;
		used->ring[f->used_idx & (f->num - 1)].len = len;
		f->used_idx++;
	}
	__atomic_store_n(&used->idx, f->used_idx, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	ue = avail->ring[f->num];
	if (!f->event_idx ||
	    (uint16_t)(f->used_idx - ue - 1) < (uint16_t)(f->used_idx - old))
		if (write(f->call, &one, sizeof(one)) == -1)
			_exit(5);
}

static void
fake_reply(struct fake *f, const struct vuf_msg *m, const void *p,
    uint32_t size)
{
	uint8_t buf[12 + 256];
	struct vuf_hdr h = { m->hdr.request, VUF_VERSION | VUF_FLAG_REPLY,
	    size };

	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), p, size);
	if (write(f->conn, buf, sizeof(h) + size) == -1)
		_exit(6);
}

static void
fake_reply_u64(struct fake *f, const struct vuf_msg *m, uint64_t u)
{
	fake_reply(f, m, &u, sizeof(u));
}

/* Handles one message; false to close the connection. */
static bool
fake_handle(struct fake *f, struct vuf_msg *m)
{
	struct vuf_vring_state s;
	struct vuf_vring_addr a;
	struct vuf_mem_reg_msg rm;
	struct vuf_mem_region d;
	uint64_t u = 0, ack = 0;
	uint32_t n, i;

	memcpy(&s, m->payload.bytes, sizeof(s));
	memcpy(&u, m->payload.bytes, sizeof(u));
	switch (m->hdr.request) {
	case VUF_GET_FEATURES:
		fake_reply_u64(f, m, FAKE_FEATURES);
		return true;
	case VUF_GET_PROTOCOL_FEATURES:
		fake_reply_u64(f, m, FAKE_PROTOCOL);
		return true;
	case VUF_GET_QUEUE_NUM:
		fake_reply_u64(f, m, 1);
		return true;
	case VUF_GET_MAX_MEM_SLOTS:
		fake_reply_u64(f, m, VUF_MAX_REGIONS);
		return true;
	case VUF_GET_STATUS:
		fake_reply_u64(f, m, f->status);
		return true;
	case VUF_GET_VRING_BASE:
		s.num = f->last_avail;
		fake_reply(f, m, &s, sizeof(s));
		return true;
	case VUF_SET_FEATURES:
		if (m->hdr.size != 8)
			return false;
		f->event_idx = (u >> VIRTIO_RING_F_EVENT_IDX) & 1;
		break;
	case VUF_SET_STATUS:
		f->status = (uint8_t)u;
		break;
	case VUF_SET_MEM_TABLE:
		memcpy(&n, m->payload.bytes, 4);
		if (m->hdr.size != 8 + 32 * n || (int)n != m->nfds)
			return false;
		for (i = 0; i < n; i++) {
			memcpy(&d, m->payload.bytes + 8 + 32 * i, sizeof(d));
			fake_map(f, &d, m->fds[i]);
		}
		m->nfds = 0;
		break;
	case VUF_ADD_MEM_REG:
	case VUF_REM_MEM_REG:
		if (m->hdr.size != sizeof(rm))
			return false;
		memcpy(&rm, m->payload.bytes, sizeof(rm));
		if (m->hdr.request == VUF_ADD_MEM_REG) {
			if (m->nfds != 1)
				return false;
			fake_map(f, &rm.region, m->fds[0]);
			m->nfds = 0;
		} else
			fake_unmap(f, &rm.region);
		break;
	case VUF_SET_VRING_NUM:
		if (m->hdr.size != sizeof(s))
			return false;
		if (s.num == 0 || (s.num & (s.num - 1)) != 0)
			ack = 1;
		else
			f->num = (uint16_t)s.num;
		break;
	case VUF_SET_VRING_BASE:
		f->last_avail = f->used_idx = (uint16_t)s.num;
		break;
	case VUF_SET_VRING_ADDR:
		memcpy(&a, m->payload.bytes, sizeof(a));
		f->desc_uva = a.desc_uva;
		f->avail_uva = a.avail_uva;
		f->used_uva = a.used_uva;
		break;
	case VUF_SET_VRING_KICK:
	case VUF_SET_VRING_CALL:
		if (m->nfds != 1)
			return false;
		if (m->hdr.request == VUF_SET_VRING_KICK)
			f->kick = m->fds[0];
		else
			f->call = m->fds[0];
		m->nfds = 0;
		break;
	default:
		break;
	}
	if (m->hdr.flags & VUF_FLAG_NEED_REPLY)
		fake_reply_u64(f, m, ack);
	return true;
}

/* Serves connections on lfd one after the other until killed. */
static void __attribute__((noreturn))
fake_backend(int lfd)
{
	struct pollfd pfd[2];
	struct vuf_msg m;
	struct vuf peer;
	struct fake f;
	uint64_t cnt;
	int i;

	for (;;) {
		memset(&f, 0, sizeof(f));
		f.kick = f.call = -1;
		if ((f.conn = accept(lfd, NULL, NULL)) == -1)
			_exit(1);
		/* Borrow the library's reader on the back-end's side. */
		memset(&peer, 0, sizeof(peer));
		peer.sock = f.conn;
		for (;;) {
			pfd[0].fd = f.conn;
			pfd[0].events = POLLIN;
			pfd[1].fd = f.kick;
			pfd[1].events = POLLIN;
			if (poll(pfd, 2, -1) == -1)
				_exit(1);
			if (pfd[1].revents & POLLIN) {
				if (read(f.kick, &cnt, sizeof(cnt)) == -1)
					_exit(1);
				fake_run_queue(&f);
			}
			if (!(pfd[0].revents & (POLLIN | POLLHUP)))
				continue;
			if (vuf_recv(&peer, &m, 1000) == -1 ||
			    !fake_handle(&f, &m))
				break;
			for (i = 0; i < m.nfds; i++)
				close(m.fds[i]);
		}
		close(f.conn);
		if (f.kick != -1)
			close(f.kick);
		if (f.call != -1)
			close(f.call);
		for (i = 0; i < VUF_MAX_REGIONS; i++)
			if (f.r[i].used)
				fake_unmap(&f, &f.r[i].d);
	}
}

/* ---- the tests ---- */

struct fixture {
	char	dir[64];
	char	path[128];
	pid_t	pid;
};

static int
setup(void **state)
{
	struct sockaddr_un sun;
	struct fixture *fx;
	int lfd;

	if ((fx = calloc(1, sizeof(*fx))) == NULL)
		return -1;
	strcpy(fx->dir, "/tmp/vufself-XXXXXX");
	if (mkdtemp(fx->dir) == NULL)
		return -1;
	snprintf(fx->path, sizeof(fx->path), "%s/be.sock", fx->dir);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, fx->path);
	if ((lfd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
	    bind(lfd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    listen(lfd, 4) == -1)
		return -1;
	if ((fx->pid = fork()) == -1)
		return -1;
	if (fx->pid == 0)
		fake_backend(lfd);
	close(lfd);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;
	int status;

	kill(fx->pid, SIGKILL);
	waitpid(fx->pid, &status, 0);
	unlink(fx->path);
	rmdir(fx->dir);
	free(fx);
	return 0;
}

static struct vuf *
open_dev(struct fixture *fx)
{
	struct vuf *v;

	v = vuf_connect(fx->path, 2000);
	assert_non_null(v);
	if (vuf_setup(v, 1, 64) == -1)
		fail_msg("setup: %s", vuf_error(v));
	return v;
}

static void
test_negotiation(void **state)
{
	struct vuf *v;
	uint64_t n;
	uint8_t st;

	v = open_dev(*state);
	assert_int_equal(v->dev_features, FAKE_FEATURES);
	assert_int_equal(v->features, FAKE_FEATURES);
	assert_int_equal(v->protocol_features, FAKE_PROTOCOL);
	assert_true(v->reply_ack);
	assert_true(v->event_idx);
	assert_int_equal(vuf_get_queue_num(v, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(vuf_get_max_mem_slots(v, &n), 0);
	assert_int_equal(n, VUF_MAX_REGIONS);
	assert_int_equal(vuf_get_status(v, &st), 0);
	assert_int_equal(st, VUF_S_ACKNOWLEDGE | VUF_S_DRIVER |
	    VUF_S_FEATURES_OK | VUF_S_DRIVER_OK);
	vuf_close(v);
}

/* Expects out[0..n) to continue the fake's byte counter from *next. */
static void
check_counter(const uint8_t *out, size_t n, uint8_t *next)
{
	size_t i;

	for (i = 0; i < n; i++, (*next)++)
		if (out[i] != *next)
			fail_msg("byte %zu is %u, not %u", i, out[i], *next);
}

static void
test_layouts(void **state)
{
	static const enum vuf_layout layouts[] = { VUF_ONE, VUF_CHAIN,
	    VUF_SPAN, VUF_ONE, VUF_CHAIN, VUF_SPAN };
	uint8_t out[8192], next = 0;
	struct vuf *v;
	uint32_t base;
	unsigned i, k;
	ssize_t n;

	v = open_dev(*state);
	for (i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++) {
		n = vuf_read_writable(v, 0, 1000 + i, layouts[i], out, 2000);
		if (n == -1)
			fail_msg("layout %d: %s", layouts[i], vuf_error(v));
		assert_int_equal(n, 1000 + i);
		check_counter(out, (size_t)n, &next);
	}
	/* More than the ring holds, to wrap it several times. */
	for (k = 0; k < 200; k++) {
		n = vuf_read_writable(v, 0, 64, VUF_ONE, out, 2000);
		assert_int_equal(n, 64);
		check_counter(out, 64, &next);
	}
	assert_int_equal(vuf_vq_inflight(v, 0), 0);
	assert_int_equal(v->vq[0].num_free, 64);
	assert_int_equal(vuf_get_vring_base(v, 0, &base), 0);
	assert_int_equal(base, (uint16_t)(i + k));
	vuf_close(v);
}

static void
test_mem_slots(void **state)
{
	uint8_t out[512], next = 0;
	struct vuf *v;
	int r;

	v = open_dev(*state);
	r = vuf_mem_add(v, 8ULL << 30, 1 << 20, 0);
	assert_int_equal(r, 3);
	assert_int_equal(vuf_add_mem_reg(v, 3), 0);
	assert_int_equal(vuf_read_writable(v, 0, sizeof(out), VUF_CHAIN, out,
	    2000), sizeof(out));
	check_counter(out, sizeof(out), &next);
	assert_int_equal(vuf_rem_mem_reg(v, 3), 0);
	vuf_close(v);
}

static void
test_hostile_helpers(void **state)
{
	struct vuf_vring_state s = { 0, 3 };
	struct vuf *v, *w;
	uint64_t ack = 0;
	uint32_t bad = 1;
	uint8_t out[16];

	v = open_dev(*state);
	assert_int_equal(vuf_request_ack(v, VUF_SET_VRING_NUM, &s, sizeof(s),
	    NULL, 0, &ack), 0);
	assert_int_not_equal(ack, 0);
	errno = 0;
	assert_int_equal(vuf_set_vring_num(v, 0, 3), -1);
	assert_int_equal(errno, EREMOTEIO);
	/* Still serving after a refusal. */
	assert_int_equal(vuf_read_writable(v, 0, sizeof(out), VUF_ONE, out,
	    2000), sizeof(out));
	/* A wrong payload size: the fake closes. */
	assert_int_equal(vuf_wait_closed(v, 100), 0);
	assert_int_equal(vuf_send(v, VUF_SET_VRING_NUM, VUF_VERSION, &bad,
	    sizeof(bad), NULL, 0), 0);
	assert_int_equal(vuf_wait_closed(v, 2000), 1);
	vuf_close(v);
	/* And serves the next front-end afresh. */
	w = open_dev(*state);
	assert_int_equal(vuf_read_writable(w, 0, sizeof(out), VUF_SPAN, out,
	    2000), sizeof(out));
	vuf_close(w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_negotiation, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_layouts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mem_slots, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_hostile_helpers, setup,
		    teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
