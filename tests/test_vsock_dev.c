/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the vsock device's worker (devices/vsock.c) through the
 * device harness (tests/devtest.h), which plays the guest driver on the
 * rings and main on the device's messages, with socketpairs for the host
 * sockets main would hand down.  The end to end behaviour is in
 * tests/test_vsock.c and tests/e2e/vsock.sh; these pin down worker state
 * transitions, with regression tests for what fuzzing and review found.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/virtio_vsock.h>

#include "devtest.h"
#include "vsock.h"

#define CID		3
#define GUEST_BUF	65536
#define RXBUF		(44 + 4096)
#define F_SEQPACKET	(UINT64_C(1) << 1)
#define F_V1		(UINT64_C(1) << 32)

struct vt {
	struct devtest	 t;
	uint64_t	 rx_gpa[DEVTEST_QSIZE];	/* by head */
	uint32_t	 guest_fwd;		/* the guest's fwd_cnt */
};

static void
vt_init(struct vt *v, uint64_t features)
{
	memset(v, 0, sizeof(*v));
	devtest_init(&v->t, "\"type\": \"vsock\", \"guest_cid\": 3, "
	    "\"uds_path\": \"/devtest/v.sock\", \"buffer_size\": 4096",
	    F_V1 | features);
}

/* Posts n device-writable rx buffers. */
static void
vt_rx_post(struct vt *v, unsigned n)
{
	struct devtest_buf b = { .len = RXBUF, .writable = true };
	uint16_t head;

	while (n-- > 0) {
		b.gpa = devtest_alloc(&v->t, 0, RXBUF);
		head = devtest_post(&v->t, 0, &b, 1);
		v->rx_gpa[head] = b.gpa;
	}
}

/* The guest sends one packet (header and payload in one buffer). */
static void
vt_tx(struct vt *v, uint32_t sport, uint64_t dcid, uint32_t dport,
    uint16_t type, uint16_t op, uint32_t flags, const void *data,
    uint32_t len)
{
	struct virtio_vsock_hdr h;
	struct devtest_buf b;
	uint16_t head;
	uint32_t used;

	memset(&h, 0, sizeof(h));
	h.src_cid = CID;
	h.dst_cid = dcid;
	h.src_port = sport;
	h.dst_port = dport;
	h.len = len;
	h.type = type;
	h.op = op;
	h.flags = flags;
	h.buf_alloc = GUEST_BUF;
	h.fwd_cnt = v->guest_fwd;
	b.gpa = devtest_alloc(&v->t, 1, 44 + len);
	b.len = 44 + len;
	b.writable = false;
	memcpy(devtest_ptr(&v->t, b.gpa), &h, sizeof(h));
	if (len > 0)
		memcpy((uint8_t *)devtest_ptr(&v->t, b.gpa) + 44, data, len);
	devtest_post(&v->t, 1, &b, 1);
	devtest_run(&v->t, 1);
	assert_int_equal(devtest_used(&v->t, 1, &head, &used), 1);
	assert_int_equal(used, 0);
}

/* The next packet on rx: 1 and its header (payload to data), or 0. */
static int
vt_rx(struct vt *v, struct virtio_vsock_hdr *h, void *data, size_t max)
{
	uint16_t head;
	uint32_t len;
	const uint8_t *p;

	devtest_dispatch(&v->t);
	devtest_run(&v->t, 0);
	if (devtest_used(&v->t, 0, &head, &len) != 1)
		return 0;
	assert_true(len >= 44);
	p = devtest_ptr(&v->t, v->rx_gpa[head]);
	memcpy(h, p, sizeof(*h));
	assert_int_equal(h->len, len - 44);
	assert_int_equal(h->dst_cid, CID);
	if (data != NULL) {
		assert_true(h->len <= max);
		memcpy(data, p + 44, h->len);
	}
	vt_rx_post(v, 1);
	return 1;
}

/* The guest connects to host port `port`; main answers with one end of
 * a socketpair of `type`, whose other end is returned. */
static int
vt_guest_connect(struct vt *v, uint32_t sport, uint32_t port, uint16_t type)
{
	struct virtio_vsock_hdr h;
	struct vs_msg_connect mc;
	struct vs_msg_result r;
	struct dev_msg m;
	int sv[2];

	vt_tx(v, sport, 2, port, type, VIRTIO_VSOCK_OP_REQUEST, 0, NULL, 0);
	assert_int_equal(devtest_sent(&v->t, VS_MSG_CONNECT, &m), 1);
	assert_int_equal(m.len, sizeof(mc));
	memcpy(&mc, m.data, sizeof(mc));
	assert_int_equal(mc.key.lport, sport);
	assert_int_equal(mc.key.pport, port);
	assert_int_equal(mc.key.pcid, 2);
	assert_int_equal(mc.type, type);
	assert_int_equal(socketpair(AF_UNIX, (type == 1 ? SOCK_STREAM :
	    SOCK_SEQPACKET) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	memset(&r, 0, sizeof(r));
	r.id = mc.id;
	r.key = mc.key;
	devtest_worker_msg(&v->t, VS_MSG_RESULT, &r, sizeof(r), sv[0]);
	assert_int_equal(vt_rx(v, &h, NULL, 0), 1);
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RESPONSE);
	assert_int_equal(h.src_port, port);
	assert_int_equal(h.dst_port, sport);
	assert_int_equal(h.buf_alloc, 4096);
	return sv[1];
}

/*
 * Regression (found by review of the fuzz target): a seqpacket message
 * the guest never ended, then the guest's close (SHUTDOWN RCV|SEND), left
 * the connection in its drain state for ever: no RST, no end of file on
 * the host side.  The unfinished message is dropped and the close goes
 * through.
 */
static void
test_seqpacket_partial_then_close(void **state)
{
	struct vt v;
	struct virtio_vsock_hdr h;
	char buf[64];
	int host;

	vt_init(&v, F_SEQPACKET);
	vt_rx_post(&v, 8);
	host = vt_guest_connect(&v, 1000, 5000, 2);
	vt_tx(&v, 1000, 2, 5000, 2, VIRTIO_VSOCK_OP_RW, 0, "unfinished", 10);
	vt_tx(&v, 1000, 2, 5000, 2, VIRTIO_VSOCK_OP_SHUTDOWN,
	    VIRTIO_VSOCK_SHUTDOWN_RCV | VIRTIO_VSOCK_SHUTDOWN_SEND, NULL, 0);
	assert_int_equal(vt_rx(&v, &h, NULL, 0), 1);
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RST);
	assert_int_equal(h.dst_port, 1000);
	/* The host end sees the end, not the unfinished message. */
	assert_int_equal(read(host, buf, sizeof(buf)), 0);
	close(host);
	devtest_fini(&v.t);
}

/* A whole message sent before the close still reaches the host. */
static void
test_seqpacket_message_then_close(void **state)
{
	struct vt v;
	struct virtio_vsock_hdr h;
	char buf[64];
	int host;

	vt_init(&v, F_SEQPACKET);
	vt_rx_post(&v, 8);
	host = vt_guest_connect(&v, 1001, 5000, 2);
	vt_tx(&v, 1001, 2, 5000, 2, VIRTIO_VSOCK_OP_RW, 0, "one ", 4);
	vt_tx(&v, 1001, 2, 5000, 2, VIRTIO_VSOCK_OP_RW, VIRTIO_VSOCK_SEQ_EOM,
	    "message", 7);
	vt_tx(&v, 1001, 2, 5000, 2, VIRTIO_VSOCK_OP_SHUTDOWN,
	    VIRTIO_VSOCK_SHUTDOWN_RCV | VIRTIO_VSOCK_SHUTDOWN_SEND, NULL, 0);
	assert_int_equal(vt_rx(&v, &h, NULL, 0), 1);
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RST);
	assert_int_equal(read(host, buf, sizeof(buf)), 11);
	assert_memory_equal(buf, "one message", 11);
	assert_int_equal(read(host, buf, sizeof(buf)), 0);
	close(host);
	devtest_fini(&v.t);
}

/* Host to guest: never more than the guest's credit, more once the
 * guest says it has read (its fwd_cnt in a CREDIT_UPDATE). */
static void
test_stream_guest_credit(void **state)
{
	static uint8_t big[100000];
	struct vt v;
	struct virtio_vsock_hdr h;
	uint8_t got[4096];
	uint32_t total = 0;
	int host;

	vt_init(&v, 0);
	vt_rx_post(&v, 32);
	host = vt_guest_connect(&v, 1002, 6000, 1);
	memset(big, 'x', sizeof(big));
	assert_int_equal(write(host, big, 100000), 100000);
	while (vt_rx(&v, &h, got, sizeof(got)) == 1) {
		assert_int_equal(h.op, VIRTIO_VSOCK_OP_RW);
		total += h.len;
	}
	assert_int_equal(total, GUEST_BUF);
	/* The guest read it all. */
	v.guest_fwd = GUEST_BUF;
	vt_tx(&v, 1002, 2, 6000, 1, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0, NULL, 0);
	while (vt_rx(&v, &h, got, sizeof(got)) == 1)
		total += h.len;
	assert_int_equal(total, 100000);
	close(host);
	devtest_fini(&v.t);
}

/* A host connection the guest accepts: the greeting reaches the host
 * before any data, and main is told (for sibling handshakes). */
static void
test_incoming_accepted(void **state)
{
	struct vt v;
	struct virtio_vsock_hdr h;
	struct vs_msg_incoming in;
	struct vs_msg_answer a;
	struct dev_msg m;
	char buf[64];
	int sv[2];

	vt_init(&v, 0);
	vt_rx_post(&v, 8);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0, sv), 0);
	memset(&in, 0, sizeof(in));
	in.token = 77;
	in.key.lport = 22;
	in.key.pport = 1024;
	in.key.pcid = 2;
	in.type = 1;
	in.greet_len = 8;
	memcpy(in.greet, "OK 1024\n", 8);
	devtest_worker_msg(&v.t, VS_MSG_INCOMING, &in, sizeof(in), sv[0]);
	assert_int_equal(vt_rx(&v, &h, NULL, 0), 1);
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_REQUEST);
	assert_int_equal(h.src_cid, 2);
	assert_int_equal(h.src_port, 1024);
	assert_int_equal(h.dst_port, 22);
	/* Nothing is said to the host before the guest answers. */
	assert_int_equal(read(sv[1], buf, sizeof(buf)), -1);
	assert_int_equal(errno, EAGAIN);
	vt_tx(&v, 22, 2, 1024, 1, VIRTIO_VSOCK_OP_RESPONSE, 0, NULL, 0);
	vt_tx(&v, 22, 2, 1024, 1, VIRTIO_VSOCK_OP_RW, 0, "hi", 2);
	assert_int_equal(read(sv[1], buf, sizeof(buf)), 10);
	assert_memory_equal(buf, "OK 1024\nhi", 10);
	assert_int_equal(devtest_sent(&v.t, VS_MSG_ANSWER, &m), 1);
	memcpy(&a, m.data, sizeof(a));
	assert_int_equal(a.token, 77);
	assert_int_equal(a.accepted, 1);
	close(sv[1]);
	devtest_fini(&v.t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seqpacket_partial_then_close),
		cmocka_unit_test(test_seqpacket_message_then_close),
		cmocka_unit_test(test_stream_guest_credit),
		cmocka_unit_test(test_incoming_accepted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
