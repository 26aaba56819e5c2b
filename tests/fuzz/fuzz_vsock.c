/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: the virtio-vsock device's worker (devices/vsock.c), driven
 * by a hostile guest through the device harness (fuzz_dev.h): any chain
 * on the rx queue (0), the tx queue (1, guest packets: a struct
 * virtio_vsock_hdr of 44 bytes, then the payload) and the event queue
 * (2), while operation 6 plays the device's main side and the host
 * programs at the other end of its connections.  main's own code
 * (accept, connect, CONNECT lines) does not run here: the host ends are
 * socketpairs the target makes.
 *
 * Input: the first byte picks the config (guest CID 3 with the default
 * buffers; CID 5 in a group, 4 KiB buffers and 2 connections at most;
 * the highest CID, 64 KiB buffers, 4 connections; one 4 KiB connection);
 * the second's bits 2-3 may add VIRTIO_VSOCK_F_STREAM and
 * VIRTIO_VSOCK_F_SEQPACKET; the rest is fuzz_dev.h's.  Operation 6 is
 * one byte (% 10), then:
 *   0  answer the oldest VS_MSG_CONNECT the device sent (a zeroed one if
 *      none: a stale answer) with VS_MSG_RESULT; a flags byte:
 *        bits 0-1  0, 1: an fd, one end of a new socketpair of the
 *                  connection's type (the other end becomes a host end);
 *                  2: an error (errno: next byte, 0 taken as
 *                  ECONNREFUSED); 3: err 0 but no fd
 *        bit 2     id off by one;  bit 3  guest port off by one
 *        bit 4     small socket buffers (the host fills up soon)
 *        bit 5     keep the CONNECT: it may be answered again
 *        bit 6     an fd all the same (with an error: main never
 *                  sends that)
 *   1  VS_MSG_INCOMING, a host connection to the guest; a flags byte:
 *        bits 0-1  type: STREAM, SEQPACKET, DGRAM (3, never offered),
 *                  raw (next byte)
 *        bit 2     token 0 (a host socket: nobody waits for the answer)
 *        bit 3     greeting from the input: length byte (may exceed
 *                  the 24 the message holds) and up to 24 bytes; else
 *                  "OK <peer port>\n"
 *        bit 4     small socket buffers;  bit 5  no fd attached
 *      then guest port (4 bytes), peer port (4), peer CID (1: below 3
 *      means the host, 2)
 *   2  host end (byte % 8) writes: a length byte, bit 7 set: (bits 0-6
 *      + 1) * 512 bytes of a pattern, else bits 0-6 bytes from the
 *      input; as one message on a SEQPACKET end (empty reads as EOF)
 *   3  host end (byte % 8) reads everything it has and drops it (a host
 *      end nobody drains stalls the guest's sends: flow control)
 *   4  host end (byte % 8) shuts down its sending side
 *   5  host end (byte % 8) is closed
 *   6  a raw message from main: op byte, length byte (% (DEV_MSG_MAX +
 *      1)), that many data bytes, fd byte (bit 0: attach an fd, one end
 *      of a socketpair, SEQPACKET if bit 1, the other end a host end)
 *   7  the next (byte % 4) messages to main fail (main is busy)
 *   8  every pending timer fires now (accept and drain timeouts)
 *   9  queue (byte % 3) stops as on GET_VRING_BASE if it runs, else
 *      restarts from index 0
 * then the event loop runs once.  Every non-zero token of a
 * VS_MSG_INCOMING that came with an fd must be answered (VS_MSG_ANSWER)
 * exactly once by the end, and no other token ever; every message to
 * main must be well formed (a CONNECT only of an offered type, to a CID
 * and port one may connect to).
 * Host ends (8 at most; a new one closes the oldest when full) are closed
 * at the end of each input.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <sys/socket.h>

#include <linux/virtio_vsock.h>

#include "fuzz_dev.h"

#include "vsock.h"	/* the messages between main and the worker */

#define F_STREAM	0
#define F_SEQPACKET	1
#define CID_HOST	2
#define CID_MAX		UINT32_C(0xfffffffe)
#define PORT_ANY	UINT32_C(0xffffffff)

#define HOST_MAX	8
#define TOKEN_MAX	64
#define BIG_MAX		(128 * 512)

static const char *const configs[] = {
	"\"type\": \"vsock\", \"guest_cid\": 3, "
	    "\"uds_path\": \"/fuzz/vsock/a.sock\"",
	"\"type\": \"vsock\", \"guest_cid\": 5, "
	    "\"uds_path\": \"/fuzz/vsock/b.sock\", \"group\": \"g\", "
	    "\"buffer_size\": 4096, \"max_connections\": 2",
	"\"type\": \"vsock\", \"guest_cid\": 4294967294, "
	    "\"uds_path\": \"/fuzz/vsock/c.sock\", \"group\": \"g-2.x\", "
	    "\"buffer_size\": 65536, \"max_connections\": 4",
	"\"type\": \"vsock\", \"guest_cid\": 3, "
	    "\"uds_path\": \"/fuzz/vsock/d.sock\", \"buffer_size\": 4096, "
	    "\"max_connections\": 1",
};
static const uint64_t config_cid[] = { 3, 5, CID_MAX, 3 };

/* The host programs' ends of the device's connections. */
struct host {
	int	fd;
	int	type;		/* SOCK_STREAM, SOCK_SEQPACKET */
};

/* The tokens of the VS_MSG_INCOMING messages the device took. */
struct token {
	uint64_t	token;
	unsigned	answers;
};

static struct {
	struct host	host[HOST_MAX];
	unsigned	victim;		/* the next to close when full */
	struct token	tok[TOKEN_MAX];
	unsigned	ntok;
	bool		tok_off;	/* too many, or one twice: unchecked */
	uint64_t	next_token;
	uint64_t	guest_cid;
	uint8_t		big[BIG_MAX];
} S;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	size_t i;

	fz_quiet_logs("fuzz_vsock");
	/* As the worker: a host end that went away is EPIPE, not death. */
	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < sizeof(S.big); i++)
		S.big[i] = (uint8_t)(i * 7 + i / 251);
	return 0;
}

static struct token *
token_find(uint64_t token)
{
	unsigned i;

	for (i = 0; i < S.ntok; i++)
		if (S.tok[i].token == token)
			return &S.tok[i];
	return NULL;
}

/* A token main sent in an INCOMING that carried an fd: it must be
 * answered once. */
static void
token_issue(uint64_t token)
{
	if (token == 0)
		return;
	if (token_find(token) != NULL || S.ntok == TOKEN_MAX) {
		S.tok_off = true;
		return;
	}
	S.tok[S.ntok].token = token;
	S.tok[S.ntok].answers = 0;
	S.ntok++;
}

static void
on_send(struct fdev *t, const struct dev_msg *m)
{
	struct vs_msg_connect mc;
	struct vs_msg_answer a;
	struct token *k;

	switch (m->op) {
	case VS_MSG_CONNECT:
		if (m->len != sizeof(mc)) {
			fprintf(stderr, "fuzz: CONNECT of %u bytes\n", m->len);
			abort();
		}
		memcpy(&mc, m->data, sizeof(mc));
		if ((mc.type != VIRTIO_VSOCK_TYPE_STREAM &&
		    (mc.type != VIRTIO_VSOCK_TYPE_SEQPACKET ||
		    !((t->ctx.features >> F_SEQPACKET) & 1))) ||
		    mc.key.pcid < CID_HOST || mc.key.pcid > CID_MAX ||
		    mc.key.pcid == S.guest_cid || mc.key.pport == PORT_ANY ||
		    mc.id == 0) {
			fprintf(stderr, "fuzz: CONNECT id %llu type %u to "
			    "%llu:%u\n", (unsigned long long)mc.id, mc.type,
			    (unsigned long long)mc.key.pcid, mc.key.pport);
			abort();
		}
		break;
	case VS_MSG_ANSWER:
		if (m->len != sizeof(a)) {
			fprintf(stderr, "fuzz: ANSWER of %u bytes\n", m->len);
			abort();
		}
		memcpy(&a, m->data, sizeof(a));
		if (S.tok_off)
			break;
		if ((k = token_find(a.token)) == NULL || k->answers > 0 ||
		    a.accepted > 1) {
			fprintf(stderr, "fuzz: ANSWER for token %llu (%s), "
			    "accepted %u\n", (unsigned long long)a.token,
			    k == NULL ? "never sent" : "answered before",
			    a.accepted);
			abort();
		}
		k->answers++;
		break;
	default:
		fprintf(stderr, "fuzz: message to main of op %u\n", m->op);
		abort();
	}
}

static void
host_close(unsigned i)
{
	if (S.host[i].fd != -1)
		close(S.host[i].fd);
	S.host[i].fd = -1;
}

static void
on_end(struct fdev *t)
{
	unsigned i;

	for (i = 0; i < HOST_MAX; i++)
		host_close(i);
	if (S.tok_off)
		return;
	for (i = 0; i < S.ntok; i++)
		if (S.tok[i].answers != 1) {
			fprintf(stderr, "fuzz: token %llu never answered\n",
			    (unsigned long long)S.tok[i].token);
			abort();
		}
}

/*
 * A socketpair of `type`: returns the device's end, the other one
 * becomes a host end.  small: the least socket buffers, so that a few
 * KiB fill them.
 */
static int
host_pair(int type, bool small)
{
	int sv[2], one = 1;
	unsigned i;

	if (socketpair(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    sv) == -1)
		abort();
	if (small)
		for (i = 0; i < 2; i++) {
			(void)setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &one,
			    sizeof(one));
			(void)setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &one,
			    sizeof(one));
		}
	for (i = 0; i < HOST_MAX; i++)
		if (S.host[i].fd == -1)
			break;
	if (i == HOST_MAX) {
		i = S.victim++ % HOST_MAX;
		host_close(i);
	}
	S.host[i].fd = sv[1];
	S.host[i].type = type;
	return sv[0];
}

static int
sock_type(uint32_t vtype)
{
	return vtype == VIRTIO_VSOCK_TYPE_SEQPACKET ? SOCK_SEQPACKET :
	    SOCK_STREAM;
}

static void
deliver(struct fdev *t, uint32_t op, const void *data, uint32_t len, int fd)
{
	struct dev_msg m;

	memset(&m, 0, sizeof(m));
	m.op = op;
	m.len = len;
	memcpy(m.data, data, len);
	t->ops->worker_msg(&t->ctx, &m, fd);
}

static void
main_result(struct fdev *t, struct fz *f)
{
	struct dev_msg m;
	struct vs_msg_connect mc;
	struct vs_msg_result r;
	uint8_t flags = fz_u8(f);
	int fd = -1;

	memset(&mc, 0, sizeof(mc));
	if (fdev_sent_get(t, VS_MSG_CONNECT, &m, !(flags & 32)))
		memcpy(&mc, m.data, sizeof(mc));
	memset(&r, 0, sizeof(r));
	r.id = mc.id + ((flags & 4) ? 1 : 0);
	r.key = mc.key;
	if (flags & 8)
		r.key.lport++;
	if ((flags & 3) == 2 && (r.err = fz_u8(f)) == 0)
		r.err = ECONNREFUSED;
	if ((flags & 3) < 2 || (flags & 64))
		fd = host_pair(sock_type(mc.type), (flags & 16) != 0);
	deliver(t, VS_MSG_RESULT, &r, sizeof(r), fd);
}

static void
main_incoming(struct fdev *t, struct fz *f)
{
	struct vs_msg_incoming in;
	uint8_t flags = fz_u8(f), n;
	int fd = -1;

	memset(&in, 0, sizeof(in));
	switch (flags & 3) {
	case 0:
		in.type = VIRTIO_VSOCK_TYPE_STREAM;
		break;
	case 1:
		in.type = VIRTIO_VSOCK_TYPE_SEQPACKET;
		break;
	case 2:
		in.type = 3;	/* VIRTIO_VSOCK_TYPE_DGRAM */
		break;
	default:
		in.type = fz_u8(f);
		break;
	}
	in.token = (flags & 4) ? 0 : ++S.next_token;
	if (flags & 8) {
		n = fz_u8(f);
		in.greet_len = n;
		fz_bytes(f, in.greet, n < VS_GREET_MAX ? n : VS_GREET_MAX);
	}
	in.key.lport = fz_u32(f);
	in.key.pport = fz_u32(f);
	in.key.pcid = fz_u8(f);
	if (in.key.pcid < 3)
		in.key.pcid = CID_HOST;
	if (!(flags & 8))
		in.greet_len = (uint32_t)snprintf(in.greet, sizeof(in.greet),
		    "OK %u\n", in.key.pport);
	if (!(flags & 32)) {
		fd = host_pair(sock_type(in.type), (flags & 16) != 0);
		token_issue(in.token);
	}
	deliver(t, VS_MSG_INCOMING, &in, sizeof(in), fd);
}

static void
host_write(struct fz *f, struct host *h)
{
	uint8_t buf[128], n = fz_u8(f);
	const void *p = buf;
	size_t len;

	if (n & 128) {
		len = ((size_t)(n & 127) + 1) * 512;
		p = S.big;
	} else {
		len = n;
		fz_bytes(f, buf, len);
	}
	if (h->fd != -1)
		(void)send(h->fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
}

static void
host_drain(struct host *h)
{
	uint8_t buf[4096];
	unsigned i;

	if (h->fd == -1)
		return;
	for (i = 0; i < 1024; i++)
		if (recv(h->fd, buf, sizeof(buf), MSG_DONTWAIT) <= 0)
			break;
}

static void
main_raw(struct fdev *t, struct fz *f)
{
	uint8_t data[DEV_MSG_MAX], op = fz_u8(f), sel;
	uint32_t len = fz_u8(f) % (DEV_MSG_MAX + 1);
	struct vs_msg_incoming in;
	int fd = -1;

	fz_bytes(f, data, len);
	sel = fz_u8(f);
	if (sel & 1) {
		fd = host_pair((sel & 2) ? SOCK_SEQPACKET : SOCK_STREAM,
		    false);
		if (op == VS_MSG_INCOMING && len == sizeof(in)) {
			memcpy(&in, data, sizeof(in));
			token_issue(in.token);
		}
	}
	deliver(t, op, data, len, fd);
}

/* Operation 6: main, and the host programs. */
static void
outside(struct fdev *t, struct fz *f)
{
	unsigned q;

	switch (fz_u8(f) % 10) {
	case 0:
		main_result(t, f);
		break;
	case 1:
		main_incoming(t, f);
		break;
	case 2:
		host_write(f, &S.host[fz_u8(f) % HOST_MAX]);
		break;
	case 3:
		host_drain(&S.host[fz_u8(f) % HOST_MAX]);
		break;
	case 4:
		q = fz_u8(f) % HOST_MAX;
		if (S.host[q].fd != -1)
			(void)shutdown(S.host[q].fd, SHUT_WR);
		break;
	case 5:
		host_close(fz_u8(f) % HOST_MAX);
		break;
	case 6:
		main_raw(t, f);
		break;
	case 7:
		t->send_fail = fz_u8(f) % 4;
		break;
	case 8:
		fdev_fire_timers(t);
		break;
	default:
		q = fz_u8(f) % t->ops->num_queues;
		if (t->stopped[q])
			fdev_queue_restart(t, q);
		else
			fdev_queue_stop(t, q);
		break;
	}
	event_base_loop(t->base, EVLOOP_NONBLOCK);
	for (q = 0; q < t->ops->num_queues; q++)
		fdev_harvest(t, q);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned i;

	for (i = 0; i < HOST_MAX; i++)
		S.host[i].fd = -1;
	S.victim = 0;
	S.ntok = 0;
	S.tok_off = false;
	S.next_token = 0;
	S.guest_cid = config_cid[(size > 0 ? data[0] : 0) %
	    (sizeof(configs) / sizeof(configs[0]))];
	fdev_on_send = on_send;
	fdev_on_end = on_end;
	return fdev_main(data, size, configs,
	    sizeof(configs) / sizeof(configs[0]),
	    (UINT64_C(1) << F_STREAM) | (UINT64_C(1) << F_SEQPACKET),
	    outside);
}
