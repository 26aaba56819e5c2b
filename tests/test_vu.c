/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of main's vhost-user protocol code (src/vu.c): the framing
 * rules of every message (vu_validate), and the handlers' checks driven
 * through a socketpair standing in for the front-end, with no worker.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "cfg.h"
#include "inst.h"
#include "log.h"
#include "vu_proto.h"

extern const struct dev_ops rng_ops;
extern const struct dev_ops i2c_ops;

/* ---- vu_validate ---- */

static struct inst vin;

static int
setup_inst(void **state)
{
	memset(&vin, 0, sizeof(vin));
	vin.ops = &rng_ops;
	vin.id = "test";
	/* Everything negotiated, so only framing is judged. */
	vin.pfeatures = vu_offered_pfeatures(&vin);
	return 0;
}

static void
msg(struct vu_msg *m, uint32_t req, uint32_t size, unsigned nfds)
{
	memset(m, 0, sizeof(*m));
	m->hdr.request = req;
	m->hdr.flags = VU_VERSION;
	m->hdr.size = size;
	m->nfds = nfds;
}

static void
test_fixed_sizes(void **state)
{
	static const struct { uint32_t req, size; } ok[] = {
		{ VU_GET_FEATURES, 0 }, { VU_SET_FEATURES, 8 },
		{ VU_SET_OWNER, 0 }, { VU_RESET_OWNER, 0 },
		{ VU_SET_VRING_NUM, 8 }, { VU_SET_VRING_ADDR, 40 },
		{ VU_SET_VRING_BASE, 8 }, { VU_GET_VRING_BASE, 8 },
		{ VU_GET_PROTOCOL_FEATURES, 0 },
		{ VU_SET_PROTOCOL_FEATURES, 8 }, { VU_GET_QUEUE_NUM, 0 },
		{ VU_SET_VRING_ENABLE, 8 }, { VU_RESET_DEVICE, 0 },
		{ VU_GET_MAX_MEM_SLOTS, 0 }, { VU_REM_MEM_REG, 40 },
		{ VU_SET_STATUS, 8 }, { VU_GET_STATUS, 0 },
		{ VU_GET_INFLIGHT_FD, 24 },
	};
	struct vu_msg m;
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		msg(&m, ok[i].req, ok[i].size, 0);
		assert_null(vu_validate(&vin, &m));
		msg(&m, ok[i].req, ok[i].size + 1, 0);
		assert_string_equal(vu_validate(&vin, &m),
		    "wrong payload size");
		if (ok[i].size > 0) {
			msg(&m, ok[i].req, ok[i].size - 1, 0);
			assert_string_equal(vu_validate(&vin, &m),
			    "wrong payload size");
		}
		/* None of these takes an fd (REM_MEM_REG may carry one). */
		if (ok[i].req == VU_REM_MEM_REG)
			continue;
		msg(&m, ok[i].req, ok[i].size, 1);
		assert_string_equal(vu_validate(&vin, &m),
		    "wrong number of file descriptors");
	}
}

static void
test_header_flags(void **state)
{
	struct vu_msg m;

	msg(&m, VU_GET_FEATURES, 0, 0);
	m.hdr.flags = 2;
	assert_string_equal(vu_validate(&vin, &m),
	    "unsupported protocol version");
	m.hdr.flags = VU_VERSION | VU_FLAG_REPLY;
	assert_string_equal(vu_validate(&vin, &m),
	    "unknown or reply flags set");
	m.hdr.flags = VU_VERSION | 0x100;
	assert_string_equal(vu_validate(&vin, &m),
	    "unknown or reply flags set");
	m.hdr.flags = VU_VERSION | VU_FLAG_NEED_REPLY;
	assert_null(vu_validate(&vin, &m));
}

static void
test_unknown_requests(void **state)
{
	static const uint32_t bad[] = {
		0, VU_SET_LOG_BASE, VU_SET_LOG_FD, VU_SEND_RARP,
		VU_IOTLB_MSG, VU_REQUEST_MAX, 1000,
		UINT32_MAX,
	};
	struct vu_msg m;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		msg(&m, bad[i], 0, 0);
		assert_string_equal(vu_validate(&vin, &m),
		    "unknown or unsupported request");
	}
}

static void
test_payload_limit(void **state)
{
	struct vu_msg m;

	msg(&m, VU_SET_MEM_TABLE, VU_PAYLOAD_MAX + 1, 1);
	assert_string_equal(vu_validate(&vin, &m), "payload too large");
}

static void
test_vring_index(void **state)
{
	static const uint32_t reqs[] = {
		VU_SET_VRING_NUM, VU_SET_VRING_BASE, VU_GET_VRING_BASE,
		VU_SET_VRING_ENABLE,
	};
	struct vu_msg m;
	size_t i;

	for (i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		msg(&m, reqs[i], 8, 0);
		m.p.state.index = 1;	/* rng has one queue */
		assert_string_equal(vu_validate(&vin, &m),
		    "queue index out of range");
		m.p.state.index = UINT32_MAX;
		assert_string_equal(vu_validate(&vin, &m),
		    "queue index out of range");
		m.p.state.index = 0;
		assert_null(vu_validate(&vin, &m));
	}
	msg(&m, VU_SET_VRING_ADDR, 40, 0);
	m.p.addr.index = 8;
	assert_string_equal(vu_validate(&vin, &m), "queue index out of range");
}

static void
test_vring_fd_messages(void **state)
{
	static const uint32_t reqs[] = {
		VU_SET_VRING_KICK, VU_SET_VRING_CALL, VU_SET_VRING_ERR,
	};
	struct vu_msg m;
	size_t i;

	for (i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		msg(&m, reqs[i], 8, 1);
		m.p.u64 = 0;
		assert_null(vu_validate(&vin, &m));
		m.p.u64 = VU_VRING_NOFD;
		assert_string_equal(vu_validate(&vin, &m),
		    "fd presence does not match the no-fd flag");
		m.nfds = 0;
		assert_null(vu_validate(&vin, &m));
		m.p.u64 = 0;
		assert_string_equal(vu_validate(&vin, &m),
		    "fd presence does not match the no-fd flag");
		m.p.u64 = 1 | VU_VRING_NOFD;
		assert_string_equal(vu_validate(&vin, &m),
		    "queue index out of range");
		m.p.u64 = UINT64_C(1) << 9;
		assert_string_equal(vu_validate(&vin, &m),
		    "reserved bits set");
		msg(&m, reqs[i], 8, 2);
		assert_string_equal(vu_validate(&vin, &m),
		    "wrong number of file descriptors");
	}
}

static void
test_mem_table_framing(void **state)
{
	struct vu_msg m;

	msg(&m, VU_SET_MEM_TABLE, 4, 1);
	assert_string_equal(vu_validate(&vin, &m), "payload too short");
	msg(&m, VU_SET_MEM_TABLE, 8, 1);
	m.p.mem.nregions = 0;
	assert_string_equal(vu_validate(&vin, &m), "region count out of range");
	msg(&m, VU_SET_MEM_TABLE, 8, 0);
	assert_string_equal(vu_validate(&vin, &m),
	    "wrong number of file descriptors");
	msg(&m, VU_SET_MEM_TABLE, 8 + 32, 1);
	m.p.mem.nregions = 0;
	assert_string_equal(vu_validate(&vin, &m), "region count out of range");
	m.p.mem.nregions = 9;
	assert_string_equal(vu_validate(&vin, &m), "region count out of range");
	m.p.mem.nregions = 2;
	assert_string_equal(vu_validate(&vin, &m),
	    "payload size does not match region count");
	msg(&m, VU_SET_MEM_TABLE, 8 + 64, 1);
	m.p.mem.nregions = 2;
	assert_string_equal(vu_validate(&vin, &m),
	    "fd count does not match region count");
	msg(&m, VU_SET_MEM_TABLE, 8 + 64, 2);
	m.p.mem.nregions = 2;
	assert_null(vu_validate(&vin, &m));
	msg(&m, VU_SET_MEM_TABLE, 8 + 8 * 32, 8);
	m.p.mem.nregions = 8;
	assert_null(vu_validate(&vin, &m));
}

static void
test_mem_reg_framing(void **state)
{
	struct vu_msg m;

	msg(&m, VU_ADD_MEM_REG, 40, 1);
	assert_null(vu_validate(&vin, &m));
	msg(&m, VU_ADD_MEM_REG, 40, 0);
	assert_string_equal(vu_validate(&vin, &m),
	    "wrong number of file descriptors");
	msg(&m, VU_ADD_MEM_REG, 32, 1);
	assert_string_equal(vu_validate(&vin, &m), "wrong payload size");
	msg(&m, VU_REM_MEM_REG, 40, 2);
	assert_string_equal(vu_validate(&vin, &m),
	    "wrong number of file descriptors");
}

static void
test_config_framing(void **state)
{
	struct vu_msg m;

	msg(&m, VU_GET_CONFIG, 11, 0);
	assert_string_equal(vu_validate(&vin, &m), "payload too short");
	msg(&m, VU_GET_CONFIG, 12 + 8, 0);
	m.p.cfg.size = 8;
	assert_null(vu_validate(&vin, &m));
	m.p.cfg.size = 9;
	assert_string_equal(vu_validate(&vin, &m),
	    "payload size does not match config size");
	m.p.cfg.size = 257;
	assert_string_equal(vu_validate(&vin, &m), "config size too large");
	msg(&m, VU_SET_CONFIG, 12 + 4, 0);
	m.p.cfg.size = 4;
	assert_null(vu_validate(&vin, &m));
}

static void
test_protocol_feature_gating(void **state)
{
	struct vu_msg m;

	vin.pfeatures = 0;
	msg(&m, VU_GET_QUEUE_NUM, 0, 0);
	assert_string_equal(vu_validate(&vin, &m),
	    "protocol feature not negotiated");
	msg(&m, VU_GET_CONFIG, 12, 0);
	assert_string_equal(vu_validate(&vin, &m),
	    "protocol feature not negotiated");
	msg(&m, VU_ADD_MEM_REG, 40, 1);
	assert_string_equal(vu_validate(&vin, &m),
	    "protocol feature not negotiated");
	msg(&m, VU_SET_STATUS, 8, 0);
	assert_string_equal(vu_validate(&vin, &m),
	    "protocol feature not negotiated");
	msg(&m, VU_RESET_DEVICE, 0, 0);
	assert_string_equal(vu_validate(&vin, &m),
	    "protocol feature not negotiated");
	msg(&m, VU_SET_BACKEND_REQ_FD, 0, 1);
	assert_string_equal(vu_validate(&vin, &m),
	    "protocol feature not negotiated");
	msg(&m, VU_GET_FEATURES, 0, 0);
	assert_null(vu_validate(&vin, &m));
}

/* ---- handlers, through a socketpair and no worker ---- */

struct fe {
	struct event_base	*base;
	struct inst		 in;
	struct dev_cfg		 dc;
	int			 peer;	/* the test's end */
};

static int
fe_setup(void **state)
{
	struct fe *f = calloc(1, sizeof(*f));
	int sv[2];

	assert_non_null(f);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sv), 0);
	f->base = event_base_new();
	f->dc.ops = &rng_ops;
	f->dc.mem_slots = true;
	strcpy(f->dc.id, "test");
	f->in.cfg = &f->dc;
	f->in.ops = &rng_ops;
	f->in.id = "test";
	f->in.base = f->base;
	f->in.listen_fd = f->in.wfd = f->in.area_fd = -1;
	f->in.wpid = -1;
	vu_state_init(&f->in);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	f->in.conn_fd = sv[0];
	f->in.conn_ev = event_new(f->base, sv[0], EV_READ | EV_PERSIST,
	    vu_conn_readable, &f->in);
	f->peer = sv[1];
	*state = f;
	return 0;
}

static int
fe_teardown(void **state)
{
	struct fe *f = *state;

	inst_conn_close(&f->in, NULL);
	close(f->peer);
	event_base_free(f->base);
	free(f);
	return 0;
}

static void
fe_send(struct fe *f, uint32_t req, uint32_t flags, const void *p,
    uint32_t size, const int *fds, unsigned nfds)
{
	struct vu_hdr h = { req, VU_VERSION | flags, size };
	union {
		struct cmsghdr	c;
		char		buf[CMSG_SPACE(sizeof(int) * 8)];
	} cb;
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)p, size } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = size ? 2 : 1 };
	struct cmsghdr *c;

	if (nfds) {
		mh.msg_control = cb.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	assert_int_equal(sendmsg(f->peer, &mh, 0),
	    (ssize_t)(sizeof(h) + size));
	vu_conn_readable(f->in.conn_fd, EV_READ, &f->in);
}

/* Reads one reply; returns its payload size, or -1 if none is there. */
static int
fe_reply(struct fe *f, uint32_t req, void *p, size_t max)
{
	struct vu_hdr h;
	struct pollfd pfd = { f->peer, POLLIN, 0 };
	ssize_t n;

	if (poll(&pfd, 1, 0) != 1)
		return -1;
	n = recv(f->peer, &h, sizeof(h), 0);
	if (n == 0)
		return -1;
	assert_int_equal(n, sizeof(h));
	assert_int_equal(h.request, req);
	assert_int_equal(h.flags, VU_VERSION | VU_FLAG_REPLY);
	assert_true(h.size <= max);
	if (h.size)
		assert_int_equal(recv(f->peer, p, h.size, 0), h.size);
	return (int)h.size;
}

/* fe_reply for a reply that carries one fd (*fd, or -1). */
static int
fe_reply_fd(struct fe *f, uint32_t req, void *p, size_t max, int *fd)
{
	struct vu_hdr h;
	union {
		struct cmsghdr	c;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cb;
	struct iovec iov = { &h, sizeof(h) };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cb.buf, .msg_controllen = sizeof(cb.buf),
	};
	struct cmsghdr *c;

	*fd = -1;
	if (recvmsg(f->peer, &mh, MSG_DONTWAIT) != (ssize_t)sizeof(h))
		return -1;
	if ((c = CMSG_FIRSTHDR(&mh)) != NULL && c->cmsg_type == SCM_RIGHTS)
		memcpy(fd, CMSG_DATA(c), sizeof(int));
	assert_int_equal(h.request, req);
	assert_true(h.size <= max);
	if (h.size)
		assert_int_equal(recv(f->peer, p, h.size, 0), h.size);
	return (int)h.size;
}

static bool
fe_closed(struct fe *f)
{
	char c;

	return f->in.conn_fd == -1 &&
	    recv(f->peer, &c, 1, MSG_DONTWAIT) == 0;
}

static uint64_t
fe_ack(struct fe *f, uint32_t req)
{
	uint64_t v = UINT64_MAX;

	assert_int_equal(fe_reply(f, req, &v, sizeof(v)), 8);
	return v;
}

static void
fe_negotiate(struct fe *f)
{
	uint64_t v = UINT64_C(1) << VU_PF_REPLY_ACK |
	    UINT64_C(1) << VU_PF_CONFIGURE_MEM_SLOTS |
	    UINT64_C(1) << VU_PF_STATUS | UINT64_C(1) << VU_PF_MQ |
	    UINT64_C(1) << VU_PF_CONFIG;

	fe_send(f, VU_SET_PROTOCOL_FEATURES, 0, &v, 8, NULL, 0);
	assert_int_equal(fe_reply(f, 0, NULL, 0), -1);
}

static int
memfd(size_t size)
{
	int fd = memfd_create("guest", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	return fd;
}

static void
test_features(void **state)
{
	struct fe *f = *state;
	uint64_t v;

	fe_send(f, VU_GET_FEATURES, 0, NULL, 0, NULL, 0);
	assert_int_equal(fe_reply(f, VU_GET_FEATURES, &v, 8), 8);
	assert_true(v & (UINT64_C(1) << 32));
	assert_true(v & (UINT64_C(1) << VU_F_PROTOCOL_FEATURES));
	assert_true(v & (UINT64_C(1) << 29));
	fe_send(f, VU_GET_PROTOCOL_FEATURES, 0, NULL, 0, NULL, 0);
	assert_int_equal(fe_reply(f, VU_GET_PROTOCOL_FEATURES, &v, 8), 8);
	assert_int_equal(v, UINT64_C(1) << VU_PF_MQ |
	    UINT64_C(1) << VU_PF_REPLY_ACK | UINT64_C(1) << VU_PF_BACKEND_REQ |
	    UINT64_C(1) << VU_PF_CONFIG | UINT64_C(1) << VU_PF_RESET_DEVICE |
	    UINT64_C(1) << VU_PF_CONFIGURE_MEM_SLOTS |
	    UINT64_C(1) << VU_PF_INFLIGHT_SHMFD | UINT64_C(1) << VU_PF_STATUS);
	fe_negotiate(f);
	fe_send(f, VU_GET_QUEUE_NUM, 0, NULL, 0, NULL, 0);
	assert_int_equal(fe_reply(f, VU_GET_QUEUE_NUM, &v, 8), 8);
	assert_int_equal(v, 1);
	fe_send(f, VU_GET_MAX_MEM_SLOTS, 0, NULL, 0, NULL, 0);
	assert_int_equal(fe_reply(f, VU_GET_MAX_MEM_SLOTS, &v, 8), 8);
	assert_int_equal(v, MEMTAB_MAX_REGIONS);
	/* Unoffered feature bits are refused. */
	v = UINT64_C(1) << 20;
	fe_send(f, VU_SET_FEATURES, VU_FLAG_NEED_REPLY, &v, 8, NULL, 0);
	assert_int_not_equal(fe_ack(f, VU_SET_FEATURES), 0);
	v = UINT64_C(1) << 32;
	fe_send(f, VU_SET_FEATURES, VU_FLAG_NEED_REPLY, &v, 8, NULL, 0);
	assert_int_equal(fe_ack(f, VU_SET_FEATURES), 0);
	assert_int_equal(f->in.features, v);
	assert_true(f->in.conn_fd != -1);
}

/* A feature the device requires (i2c's ZERO_LENGTH_REQUEST) must be
 * accepted: SET_FEATURES without it is refused. */
static void
test_required_features(void **state)
{
	struct fe *f = *state;
	uint64_t v;

	f->in.ops = &i2c_ops;
	fe_negotiate(f);
	v = UINT64_C(1) << 32;
	fe_send(f, VU_SET_FEATURES, VU_FLAG_NEED_REPLY, &v, 8, NULL, 0);
	assert_int_equal(fe_ack(f, VU_SET_FEATURES), 1);
	v |= 1;
	fe_send(f, VU_SET_FEATURES, VU_FLAG_NEED_REPLY, &v, 8, NULL, 0);
	assert_int_equal(fe_ack(f, VU_SET_FEATURES), 0);
	assert_int_equal(f->in.features, v);
}

static void
test_vring_num_values(void **state)
{
	struct fe *f = *state;
	static const uint32_t bad[] = { 0, 3, 100, 65536, 32769, UINT32_MAX };
	struct vu_vring_state st = { 0, 0 };
	size_t i;

	fe_negotiate(f);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		st.num = bad[i];
		fe_send(f, VU_SET_VRING_NUM, VU_FLAG_NEED_REPLY, &st, 8,
		    NULL, 0);
		assert_int_equal(fe_ack(f, VU_SET_VRING_NUM), 1);
	}
	st.num = 32768;
	fe_send(f, VU_SET_VRING_NUM, VU_FLAG_NEED_REPLY, &st, 8, NULL, 0);
	assert_int_equal(fe_ack(f, VU_SET_VRING_NUM), 0);
	assert_int_equal(f->in.vr[0].num, 32768);
	/* Without NEED_REPLY a refusal closes the connection. */
	st.num = 5;
	fe_send(f, VU_SET_VRING_NUM, 0, &st, 8, NULL, 0);
	assert_true(fe_closed(f));
}

static void
test_vring_base_and_enable_values(void **state)
{
	struct fe *f = *state;
	struct vu_vring_state st = { 0, 0x10000 };

	fe_negotiate(f);
	fe_send(f, VU_SET_VRING_BASE, VU_FLAG_NEED_REPLY, &st, 8, NULL, 0);
	assert_int_equal(fe_ack(f, VU_SET_VRING_BASE), 1);
	st.num = 0xffff;
	fe_send(f, VU_SET_VRING_BASE, VU_FLAG_NEED_REPLY, &st, 8, NULL, 0);
	assert_int_equal(fe_ack(f, VU_SET_VRING_BASE), 0);
	fe_send(f, VU_GET_VRING_BASE, 0, &st, 8, NULL, 0);
	assert_int_equal(fe_reply(f, VU_GET_VRING_BASE, &st, 8), 8);
	assert_int_equal(st.index, 0);
	assert_int_equal(st.num, 0xffff);
	st.num = 2;
	fe_send(f, VU_SET_VRING_ENABLE, VU_FLAG_NEED_REPLY, &st, 8, NULL, 0);
	assert_int_equal(fe_ack(f, VU_SET_VRING_ENABLE), 1);
	st.num = 1;
	fe_send(f, VU_SET_VRING_ENABLE, VU_FLAG_NEED_REPLY, &st, 8, NULL, 0);
	assert_int_equal(fe_ack(f, VU_SET_VRING_ENABLE), 0);
	assert_true(f->in.vr[0].enabled);
}

static void
test_mem_table_values(void **state)
{
	struct fe *f = *state;
	struct {
		uint32_t		nregions;
		uint32_t		padding;
		struct vu_region	r[2];
	} __attribute__((packed)) mt;
	int fds[2] = { memfd(0x10000), memfd(0x10000) };

	fe_negotiate(f);
	memset(&mt, 0, sizeof(mt));
	mt.nregions = 2;
	mt.r[0] = (struct vu_region){ 0, 0x10000, 0x7f0000000000, 0 };
	mt.r[1] = (struct vu_region){ 0x100000, 0x10000, 0x7f0000100000, 0 };
	/* Beyond the file. */
	mt.r[1].size = 0x20000;
	fe_send(f, VU_SET_MEM_TABLE, VU_FLAG_NEED_REPLY, &mt, sizeof(mt),
	    fds, 2);
	assert_int_equal(fe_ack(f, VU_SET_MEM_TABLE), 1);
	/* Overlap in guest-physical space. */
	mt.r[1] = (struct vu_region){ 0x8000, 0x10000, 0x7f0000100000, 0 };
	fe_send(f, VU_SET_MEM_TABLE, VU_FLAG_NEED_REPLY, &mt, sizeof(mt),
	    fds, 2);
	assert_int_equal(fe_ack(f, VU_SET_MEM_TABLE), 1);
	/* Overlap in front-end space. */
	mt.r[1] = (struct vu_region){ 0x100000, 0x10000, 0x7f0000008000, 0 };
	fe_send(f, VU_SET_MEM_TABLE, VU_FLAG_NEED_REPLY, &mt, sizeof(mt),
	    fds, 2);
	assert_int_equal(fe_ack(f, VU_SET_MEM_TABLE), 1);
	/* Arithmetic overflow. */
	mt.r[1] = (struct vu_region){ UINT64_MAX - 0xfff, 0x2000,
	    0x7f0000100000, 0 };
	fe_send(f, VU_SET_MEM_TABLE, VU_FLAG_NEED_REPLY, &mt, sizeof(mt),
	    fds, 2);
	assert_int_equal(fe_ack(f, VU_SET_MEM_TABLE), 1);
	/* Ending exactly at 2^64: refused, as the worker's memtab would. */
	mt.r[1] = (struct vu_region){ UINT64_MAX - 0xffff, 0x10000,
	    0x7f0000100000, 0 };
	fe_send(f, VU_SET_MEM_TABLE, VU_FLAG_NEED_REPLY, &mt, sizeof(mt),
	    fds, 2);
	assert_int_equal(fe_ack(f, VU_SET_MEM_TABLE), 1);
	mt.r[1] = (struct vu_region){ 0x100000, 0x1000, 0x7f0000100000,
	    UINT64_MAX - 0x10 };
	fe_send(f, VU_SET_MEM_TABLE, VU_FLAG_NEED_REPLY, &mt, sizeof(mt),
	    fds, 2);
	assert_int_equal(fe_ack(f, VU_SET_MEM_TABLE), 1);
	/* Size 0. */
	mt.r[1] = (struct vu_region){ 0x100000, 0, 0x7f0000100000, 0 };
	fe_send(f, VU_SET_MEM_TABLE, VU_FLAG_NEED_REPLY, &mt, sizeof(mt),
	    fds, 2);
	assert_int_equal(fe_ack(f, VU_SET_MEM_TABLE), 1);
	assert_int_equal(f->in.nmem, 0);
	/* Good. */
	mt.r[1] = (struct vu_region){ 0x100000, 0x10000, 0x7f0000100000, 0 };
	fe_send(f, VU_SET_MEM_TABLE, VU_FLAG_NEED_REPLY, &mt, sizeof(mt),
	    fds, 2);
	assert_int_equal(fe_ack(f, VU_SET_MEM_TABLE), 0);
	assert_int_equal(f->in.nmem, 2);
	/* Remove an unknown region, then a known one; add it back. */
	{
		struct vu_mem_single one;

		memset(&one, 0, sizeof(one));
		one.region = (struct vu_region){ 0x200000, 0x10000,
		    0x7f0000200000, 0 };
		fe_send(f, VU_REM_MEM_REG, VU_FLAG_NEED_REPLY, &one,
		    sizeof(one), NULL, 0);
		assert_int_equal(fe_ack(f, VU_REM_MEM_REG), 1);
		one.region = mt.r[1];
		fe_send(f, VU_REM_MEM_REG, VU_FLAG_NEED_REPLY, &one,
		    sizeof(one), NULL, 0);
		assert_int_equal(fe_ack(f, VU_REM_MEM_REG), 0);
		assert_int_equal(f->in.nmem, 1);
		/* Overlapping the remaining one. */
		one.region = (struct vu_region){ 0xf000, 0x1000,
		    0x7f0000300000, 0 };
		fe_send(f, VU_ADD_MEM_REG, VU_FLAG_NEED_REPLY, &one,
		    sizeof(one), &fds[1], 1);
		assert_int_equal(fe_ack(f, VU_ADD_MEM_REG), 1);
		one.region = mt.r[1];
		fe_send(f, VU_ADD_MEM_REG, VU_FLAG_NEED_REPLY, &one,
		    sizeof(one), &fds[1], 1);
		assert_int_equal(fe_ack(f, VU_ADD_MEM_REG), 0);
		assert_int_equal(f->in.nmem, 2);
	}
	close(fds[0]);
	close(fds[1]);
}

static void
test_vring_addr_values(void **state)
{
	struct fe *f = *state;
	struct vu_vring_addr a;
	struct {
		uint32_t		nregions;
		uint32_t		padding;
		struct vu_region	r;
	} __attribute__((packed)) mt;
	struct vu_vring_state st = { 0, 256 };
	int fd = memfd(0x10000);

	fe_negotiate(f);
	memset(&mt, 0, sizeof(mt));
	mt.nregions = 1;
	mt.r = (struct vu_region){ 0, 0x10000, 0x1000000, 0 };
	fe_send(f, VU_SET_MEM_TABLE, VU_FLAG_NEED_REPLY, &mt, sizeof(mt),
	    &fd, 1);
	assert_int_equal(fe_ack(f, VU_SET_MEM_TABLE), 0);
	fe_send(f, VU_SET_VRING_NUM, VU_FLAG_NEED_REPLY, &st, 8, NULL, 0);
	assert_int_equal(fe_ack(f, VU_SET_VRING_NUM), 0);
	memset(&a, 0, sizeof(a));
	a.desc = 0x1000000;
	a.avail = 0x1001000;
	a.used = 0x1002000;
	fe_send(f, VU_SET_VRING_ADDR, VU_FLAG_NEED_REPLY, &a, 40, NULL, 0);
	assert_int_equal(fe_ack(f, VU_SET_VRING_ADDR), 0);
	/* Misaligned desc, avail, used. */
	a.desc += 8;
	fe_send(f, VU_SET_VRING_ADDR, VU_FLAG_NEED_REPLY, &a, 40, NULL, 0);
	assert_int_equal(fe_ack(f, VU_SET_VRING_ADDR), 1);
	a.desc -= 8;
	a.used += 2;
	fe_send(f, VU_SET_VRING_ADDR, VU_FLAG_NEED_REPLY, &a, 40, NULL, 0);
	assert_int_equal(fe_ack(f, VU_SET_VRING_ADDR), 1);
	a.used -= 2;
	/* A ring running past the region's end, one outside any region. */
	a.used = 0x1000000 + 0x10000 - 16;
	fe_send(f, VU_SET_VRING_ADDR, VU_FLAG_NEED_REPLY, &a, 40, NULL, 0);
	assert_int_equal(fe_ack(f, VU_SET_VRING_ADDR), 1);
	a.used = 0x5000000;
	fe_send(f, VU_SET_VRING_ADDR, VU_FLAG_NEED_REPLY, &a, 40, NULL, 0);
	assert_int_equal(fe_ack(f, VU_SET_VRING_ADDR), 1);
	/* Dirty logging was not offered; unknown flags. */
	a.used = 0x1002000;
	a.flags = 1;
	fe_send(f, VU_SET_VRING_ADDR, VU_FLAG_NEED_REPLY, &a, 40, NULL, 0);
	assert_int_equal(fe_ack(f, VU_SET_VRING_ADDR), 1);
	a.flags = 2;
	fe_send(f, VU_SET_VRING_ADDR, VU_FLAG_NEED_REPLY, &a, 40, NULL, 0);
	assert_int_equal(fe_ack(f, VU_SET_VRING_ADDR), 1);
	assert_int_equal(f->in.vr[0].used, 0x1002000);
	close(fd);
}

static void
test_config_space(void **state)
{
	struct fe *f = *state;
	uint32_t c[3] = { 0, 4, 0 };	/* offset, size, flags */
	uint8_t p[VU_CONFIG_HDR + 4];

	fe_negotiate(f);
	memcpy(p, c, sizeof(c));
	memset(p + VU_CONFIG_HDR, 0, 4);
	/* rng has no config space: any range is beyond it. */
	fe_send(f, VU_GET_CONFIG, 0, p, sizeof(p), NULL, 0);
	assert_true(fe_closed(f));
}

static void
test_set_config_refused(void **state)
{
	struct fe *f = *state;
	struct {
		uint32_t		offset, size, flags;
		uint8_t			d[4];
	} __attribute__((packed)) p = { 0, 4, 0, { 1, 2, 3, 4 } };

	fe_negotiate(f);
	fe_send(f, VU_SET_CONFIG, VU_FLAG_NEED_REPLY, &p, sizeof(p), NULL, 0);
	assert_int_equal(fe_ack(f, VU_SET_CONFIG), 1);
}

static void
test_status_and_reset(void **state)
{
	struct fe *f = *state;
	uint64_t v = 0x10f;

	fe_negotiate(f);
	fe_send(f, VU_SET_STATUS, VU_FLAG_NEED_REPLY, &v, 8, NULL, 0);
	assert_int_equal(fe_ack(f, VU_SET_STATUS), 1);
	v = 0x0f;
	fe_send(f, VU_SET_STATUS, VU_FLAG_NEED_REPLY, &v, 8, NULL, 0);
	assert_int_equal(fe_ack(f, VU_SET_STATUS), 0);
	fe_send(f, VU_GET_STATUS, 0, NULL, 0, NULL, 0);
	assert_int_equal(fe_reply(f, VU_GET_STATUS, &v, 8), 8);
	assert_int_equal(v, 0x0f);
	/* RESET_DEVICE was not negotiated by fe_negotiate: refused by
	 * framing, which closes. */
	fe_send(f, VU_RESET_DEVICE, VU_FLAG_NEED_REPLY, NULL, 0, NULL, 0);
	assert_true(fe_closed(f));
}

/* A front-end resuming a session (QEMU 7.2's rng and i2c after a
 * reconnection) sends SET_FEATURES with PROTOCOL_FEATURES and no
 * protocol negotiation, then uses protocol features: it gets all vhostd
 * offers, REPLY_ACK on that SET_FEATURES included.  One that negotiated
 * (even nothing) keeps what it negotiated. */
static void
test_resumed_session(void **state)
{
	struct fe *f = *state;
	uint64_t v = UINT64_C(1) << 32 | UINT64_C(1) << VU_F_PROTOCOL_FEATURES;

	fe_send(f, VU_SET_FEATURES, VU_FLAG_NEED_REPLY, &v, 8, NULL, 0);
	assert_int_equal(fe_ack(f, VU_SET_FEATURES), 0);
	assert_int_equal(f->in.pfeatures, vu_offered_pfeatures(&f->in));
	fe_send(f, VU_GET_STATUS, 0, NULL, 0, NULL, 0);
	assert_int_equal(fe_reply(f, VU_GET_STATUS, &v, 8), 8);
	assert_int_equal(v, 0);
}

/* "mem_slots": false takes CONFIGURE_MEM_SLOTS out of the offer, and a
 * front-end may not negotiate it. */
static void
test_mem_slots_off(void **state)
{
	struct fe *f = *state;
	uint64_t v;

	f->dc.mem_slots = false;
	fe_send(f, VU_GET_PROTOCOL_FEATURES, 0, NULL, 0, NULL, 0);
	assert_int_equal(fe_reply(f, VU_GET_PROTOCOL_FEATURES, &v, 8), 8);
	assert_false(v & (UINT64_C(1) << VU_PF_CONFIGURE_MEM_SLOTS));
	assert_true(v & (UINT64_C(1) << VU_PF_STATUS));
	v = UINT64_C(1) << VU_PF_CONFIGURE_MEM_SLOTS;
	fe_send(f, VU_SET_PROTOCOL_FEATURES, 0, &v, 8, NULL, 0);
	assert_true(fe_closed(f));
}

static void
test_negotiated_session_kept(void **state)
{
	struct fe *f = *state;
	uint64_t v = 0;

	fe_send(f, VU_SET_PROTOCOL_FEATURES, 0, &v, 8, NULL, 0);
	assert_int_equal(fe_reply(f, 0, NULL, 0), -1);
	v = UINT64_C(1) << 32 | UINT64_C(1) << VU_F_PROTOCOL_FEATURES;
	fe_send(f, VU_SET_FEATURES, 0, &v, 8, NULL, 0);
	assert_int_equal(f->in.pfeatures, 0);
	fe_send(f, VU_GET_STATUS, 0, NULL, 0, NULL, 0);
	assert_true(fe_closed(f));
}

/* GET_INFLIGHT_FD gives a sealed area of the right size; SET_INFLIGHT_FD
 * takes one back only if it is big enough and page aligned; a shape the
 * device cannot have closes the connection. */
static void
test_inflight_fd(void **state)
{
	struct fe *f = *state;
	struct vu_inflight q = { .num_queues = 1, .queue_size = 256 }, a, b;
	uint64_t v = UINT64_C(1) << VU_PF_REPLY_ACK |
	    UINT64_C(1) << VU_PF_INFLIGHT_SHMFD;
	struct stat st;
	int fd, small;

	fe_send(f, VU_SET_PROTOCOL_FEATURES, 0, &v, 8, NULL, 0);
	fe_send(f, VU_GET_INFLIGHT_FD, 0, &q, sizeof(q), NULL, 0);
	assert_int_equal(fe_reply_fd(f, VU_GET_INFLIGHT_FD, &a, sizeof(a),
	    &fd), (int)sizeof(a));
	assert_true(fd >= 0);
	assert_int_equal(a.num_queues, 1);
	assert_int_equal(a.queue_size, 256);
	assert_int_equal(a.mmap_offset, 0);
	assert_true(a.mmap_size >= vq_log_size(256) + DEV_STATE_MAX);
	assert_int_equal(fstat(fd, &st), 0);
	assert_true((uint64_t)st.st_size >= a.mmap_size);
	assert_int_equal(ftruncate(fd, 0), -1);		/* sealed */
	assert_true(f->in.area_fd >= 0);
	assert_false(f->in.area_used);

	/* Too small a file, an offset not page aligned, a size below what
	 * the shape needs: refused, the area kept. */
	small = memfd(4096);
	fe_send(f, VU_SET_INFLIGHT_FD, VU_FLAG_NEED_REPLY, &a, sizeof(a),
	    &small, 1);
	assert_int_equal(fe_ack(f, VU_SET_INFLIGHT_FD), 1);
	b = a;
	b.mmap_offset = 100;
	fe_send(f, VU_SET_INFLIGHT_FD, VU_FLAG_NEED_REPLY, &b, sizeof(b),
	    &fd, 1);
	assert_int_equal(fe_ack(f, VU_SET_INFLIGHT_FD), 1);
	b = a;
	b.mmap_size = 4096;
	fe_send(f, VU_SET_INFLIGHT_FD, VU_FLAG_NEED_REPLY, &b, sizeof(b),
	    &fd, 1);
	assert_int_equal(fe_ack(f, VU_SET_INFLIGHT_FD), 1);
	assert_false(f->in.area_used);
	close(small);

	/* Given back: taken, and the rings will resume from it. */
	fe_send(f, VU_SET_INFLIGHT_FD, VU_FLAG_NEED_REPLY, &a, sizeof(a),
	    &fd, 1);
	assert_int_equal(fe_ack(f, VU_SET_INFLIGHT_FD), 0);
	assert_true(f->in.area_used);
	assert_true(f->in.vr[0].resume);
	close(fd);

	/* rng has one queue. */
	q.num_queues = 2;
	fe_send(f, VU_GET_INFLIGHT_FD, 0, &q, sizeof(q), NULL, 0);
	assert_true(fe_closed(f));
}

static void
test_vring_fds_kept_and_closed(void **state)
{
	struct fe *f = *state;
	uint64_t v = 0;
	int efd = eventfd(0, EFD_CLOEXEC);

	fe_negotiate(f);
	fe_send(f, VU_SET_VRING_CALL, VU_FLAG_NEED_REPLY, &v, 8, &efd, 1);
	assert_int_equal(fe_ack(f, VU_SET_VRING_CALL), 0);
	assert_true(f->in.vr[0].call_fd >= 0);
	v = VU_VRING_NOFD;
	fe_send(f, VU_SET_VRING_CALL, VU_FLAG_NEED_REPLY, &v, 8, NULL, 0);
	assert_int_equal(fe_ack(f, VU_SET_VRING_CALL), 0);
	assert_int_equal(f->in.vr[0].call_fd, -1);
	close(efd);
}

static void
test_partial_message(void **state)
{
	struct fe *f = *state;
	struct vu_hdr h = { VU_GET_FEATURES, VU_VERSION, 0 };
	uint64_t v;

	/* The header in three pieces: nothing happens until it is whole. */
	assert_int_equal(send(f->peer, &h, 5, 0), 5);
	vu_conn_readable(f->in.conn_fd, EV_READ, &f->in);
	assert_int_equal(fe_reply(f, 0, NULL, 0), -1);
	assert_int_equal(send(f->peer, (char *)&h + 5, 5, 0), 5);
	vu_conn_readable(f->in.conn_fd, EV_READ, &f->in);
	assert_int_equal(fe_reply(f, 0, NULL, 0), -1);
	assert_int_equal(send(f->peer, (char *)&h + 10, 2, 0), 2);
	vu_conn_readable(f->in.conn_fd, EV_READ, &f->in);
	assert_int_equal(fe_reply(f, VU_GET_FEATURES, &v, 8), 8);
}

static void
test_oversized_payload_closes(void **state)
{
	struct fe *f = *state;
	struct vu_hdr h = { VU_SET_FEATURES, VU_VERSION, 0x100000 };

	assert_int_equal(send(f->peer, &h, sizeof(h), 0), sizeof(h));
	vu_conn_readable(f->in.conn_fd, EV_READ, &f->in);
	assert_true(fe_closed(f));
}

static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

static void
test_fds_on_fdless_message_closed(void **state)
{
	struct fe *f = *state;
	int efd = eventfd(0, EFD_CLOEXEC), before;
	uint64_t v = 0;

	before = count_fds();
	fe_send(f, VU_SET_FEATURES, 0, &v, 8, &efd, 1);
	assert_true(fe_closed(f));
	/* The connection's fd is closed and so is the copy of efd main
	 * received: one fd fewer than before, not the same number. */
	assert_int_equal(count_fds(), before - 1);
	close(efd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_fixed_sizes, setup_inst),
		cmocka_unit_test_setup(test_header_flags, setup_inst),
		cmocka_unit_test_setup(test_unknown_requests, setup_inst),
		cmocka_unit_test_setup(test_payload_limit, setup_inst),
		cmocka_unit_test_setup(test_vring_index, setup_inst),
		cmocka_unit_test_setup(test_vring_fd_messages, setup_inst),
		cmocka_unit_test_setup(test_mem_table_framing, setup_inst),
		cmocka_unit_test_setup(test_mem_reg_framing, setup_inst),
		cmocka_unit_test_setup(test_config_framing, setup_inst),
		cmocka_unit_test_setup(test_protocol_feature_gating,
		    setup_inst),
		cmocka_unit_test_setup_teardown(test_features, fe_setup,
		    fe_teardown),
		cmocka_unit_test_setup_teardown(test_required_features,
		    fe_setup, fe_teardown),
		cmocka_unit_test_setup_teardown(test_vring_num_values,
		    fe_setup, fe_teardown),
		cmocka_unit_test_setup_teardown(
		    test_vring_base_and_enable_values, fe_setup, fe_teardown),
		cmocka_unit_test_setup_teardown(test_mem_table_values,
		    fe_setup, fe_teardown),
		cmocka_unit_test_setup_teardown(test_vring_addr_values,
		    fe_setup, fe_teardown),
		cmocka_unit_test_setup_teardown(test_config_space, fe_setup,
		    fe_teardown),
		cmocka_unit_test_setup_teardown(test_set_config_refused,
		    fe_setup, fe_teardown),
		cmocka_unit_test_setup_teardown(test_status_and_reset,
		    fe_setup, fe_teardown),
		cmocka_unit_test_setup_teardown(test_resumed_session,
		    fe_setup, fe_teardown),
		cmocka_unit_test_setup_teardown(test_mem_slots_off,
		    fe_setup, fe_teardown),
		cmocka_unit_test_setup_teardown(test_negotiated_session_kept,
		    fe_setup, fe_teardown),
		cmocka_unit_test_setup_teardown(test_inflight_fd, fe_setup,
		    fe_teardown),
		cmocka_unit_test_setup_teardown(
		    test_vring_fds_kept_and_closed, fe_setup, fe_teardown),
		cmocka_unit_test_setup_teardown(test_partial_message,
		    fe_setup, fe_teardown),
		cmocka_unit_test_setup_teardown(test_oversized_payload_closes,
		    fe_setup, fe_teardown),
		cmocka_unit_test_setup_teardown(
		    test_fds_on_fdless_message_closed, fe_setup, fe_teardown),
	};

	log_init(true, getenv("TEST_DEBUG") ? LOG_DEBUG : LOG_ERR, "test_vu");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
