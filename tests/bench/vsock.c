/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vubench's vsock: the bench plays the guest's virtio-vsock driver (it
 * writes and reads struct virtio_vsock_hdr packets on the rx and tx
 * queues itself, VIRTIO 1.2 5.10.6) and the host program on the other
 * side, in the hybrid UNIX-socket convention of Firecracker and
 * vhost-device-vsock that vhostd follows: a guest connect to CID 2 port P
 * is a UNIX connect by the back-end to "<uds_path>_<P>", where a thread
 * of the bench listens.
 *
 * One stream connection per device.  --vsock echo (the default): the
 * guest sends messages of --size bytes, the host writes every byte back,
 * and a message is complete when the last of its bytes is back in the
 * guest; latency is from the tx kick to then.  --vsock sink: the host
 * reads and discards; a message is complete when the device has used its
 * tx buffer.  --depth messages are kept in flight, within the credit the
 * device grants (buf_alloc - (tx_cnt - fwd_cnt)); the bench grants
 * VS_GUEST_BUF and sends a CREDIT_UPDATE when the device could run short.
 * Every message starts with its 8-byte sequence number and goes on with a
 * fixed pattern; every echoed byte is compared, and in sink mode the host
 * must have read every byte sent.
 */
#include "config.h"

#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <linux/virtio_vsock.h>
#include <linux/vm_sockets.h>

#include "bench.h"

#define VS_RXQ		0
#define VS_TXQ		1
#define VS_EVQ		2
#define VS_HDR		VUF_VSOCK_HDR
#define VS_F_STREAM	0

#define VS_GUEST_BUF	(1u << 20)	/* our buf_alloc */
#define VS_NEV		4
#define VS_LPORT_BASE	50000
#define HOST_BUF	(256 * 1024)

/* Control packets owed (the single control slot sends one at a time). */
#define P_REQUEST	0x1
#define P_CREDIT	0x2
#define P_CREDIT_REQ	0x4
#define P_SHUTDOWN	0x8

struct vsock_dev {
	uint64_t	 cid;
	uint32_t	 lport, port;
	char		 lpath[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int		 lfd, hfd;
	pthread_t	 host_th;
	bool		 host_started;
	_Atomic uint64_t host_rx;	/* bytes the host side read */
	_Atomic int	 host_state;	/* 0 waiting, 1 connected, 2 done */
	char		 host_err[160];

	uint32_t	 rxroom;
	unsigned	 nrx;
	uint8_t		*ref;		/* the pattern, [O.size] */
	uint8_t		**txhdr;	/* [depth + 1] */
	uint8_t		**txpay;	/* [depth] */
	uint16_t	*txfree;	/* free data slots */
	unsigned	 ntxfree;
	unsigned	 ctl;		/* the control slot: depth */
	bool		 ctl_busy;
	unsigned	 pend;		/* P_* */

	bool		 connected, reset, peer_shut, stopping;
	uint32_t	 tx_cnt, rx_cnt, fwd_cnt, adv_fwd;
	uint32_t	 peer_buf_alloc, peer_fwd_cnt;
	bool		 credit_asked;
	uint64_t	 msgs_sent, msgs_done;
	uint64_t	*msg_t;		/* [depth]: ticks at publish */
	uint64_t	 stream;	/* echo: bytes of the echo received */
};

static void
vs_hdr(const struct vsock_dev *vs, struct vuf_vsock_hdr *h, uint16_t op,
    uint32_t len)
{
	memset(h, 0, sizeof(*h));
	h->src_cid = vs->cid;
	h->dst_cid = VMADDR_CID_HOST;
	h->src_port = vs->lport;
	h->dst_port = vs->port;
	h->len = len;
	h->type = VIRTIO_VSOCK_TYPE_STREAM;
	h->op = op;
	h->buf_alloc = VS_GUEST_BUF;
	h->fwd_cnt = vs->fwd_cnt;
}

/* ---- the host side ---- */

static void *
host_thread(void *arg)
{
	struct bdev *d = arg;
	struct vsock_dev *vs = d->vs;
	struct pollfd p = { vs->lfd, POLLIN, 0 };
	uint8_t *buf;
	ssize_t n, w, off;
	int r;

	if ((buf = malloc(HOST_BUF)) == NULL) {
		snprintf(vs->host_err, sizeof(vs->host_err), "out of memory");
		goto out;
	}
	do
		r = poll(&p, 1, O.timeout_ms);
	while (r == -1 && errno == EINTR);
	if (r != 1 || (vs->hfd = accept4(vs->lfd, NULL, NULL,
	    SOCK_CLOEXEC)) == -1) {
		snprintf(vs->host_err, sizeof(vs->host_err), "no connection "
		    "to %s within %d ms of the guest's REQUEST", vs->lpath,
		    O.timeout_ms);
		goto out;
	}
	atomic_store(&vs->host_state, 1);
	for (;;) {
		n = read(vs->hfd, buf, HOST_BUF);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		atomic_fetch_add_explicit(&vs->host_rx, (uint64_t)n,
		    memory_order_relaxed);
		if (O.vsock == VS_SINK)
			continue;
		for (off = 0; off < n; off += w) {
			w = write(vs->hfd, buf + off, (size_t)(n - off));
			if (w == -1 && errno == EINTR) {
				w = 0;
				continue;
			}
			if (w <= 0)
				goto out;
		}
	}
out:
	free(buf);
	atomic_store(&vs->host_state, 2);
	return NULL;
}

static int
host_listen(struct bdev *d)
{
	struct vsock_dev *vs = d->vs;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	const char *uds;

	uds = O.nvsock_uds == 1 ? O.vsock_uds[0] : O.vsock_uds[d->index];
	if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path), "%s_%u", uds,
	    vs->port) >= sizeof(sun.sun_path)) {
		dev_fail(d, false, "%s_%u: path too long", uds, vs->port);
		return -1;
	}
	snprintf(vs->lpath, sizeof(vs->lpath), "%s", sun.sun_path);
	unlink(sun.sun_path);
	/* The back-end (maybe another user) connects: mode 0666, as
	 * tests/vsockhost.c. */
	if ((vs->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    bind(vs->lfd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    chmod(sun.sun_path, 0666) == -1 || listen(vs->lfd, 4) == -1) {
		dev_fail(d, false, "host listener %s: %s", sun.sun_path,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- set-up ---- */

int
vsock_setup(struct bdev *d)
{
	struct vsock_dev *vs;
	struct vuf_seg seg;
	uint16_t qs[3];
	uint64_t bytes, gpa, cid;
	unsigned i, per;
	struct bq *rx, *tx;
	uint8_t *p;

	if ((vs = calloc(1, sizeof(*vs))) == NULL) {
		dev_fail(d, false, "out of memory");
		return -1;
	}
	d->vs = vs;
	vs->lfd = vs->hfd = -1;
	vs->port = O.vsock_port;
	vs->lport = VS_LPORT_BASE + d->index;
	vs->rxroom = O.vsock_rxbuf != 0 ? O.vsock_rxbuf : O.size < 4096 ?
	    4096 : O.size;
	if (O.vsock == VS_ECHO) {
		per = (O.size + vs->rxroom - 1) / vs->rxroom;
		vs->nrx = 2 * O.depth * per;
		vs->nrx = vs->nrx < 16 ? 16 : vs->nrx > 256 ? 256 : vs->nrx;
	} else
		vs->nrx = 16;
	vs->ctl = O.depth;
	qs[VS_RXQ] = qsize_for(vs->nrx, 1);
	qs[VS_TXQ] = qsize_for(O.depth + 1, 2);
	qs[VS_EVQ] = qsize_for(VS_NEV, 1);
	if (qs[VS_RXQ] == 0 || qs[VS_TXQ] == 0 || qs[VS_EVQ] == 0) {
		dev_fail(d, false, "depth %u: more than the ring size",
		    O.depth);
		return -1;
	}
	bytes = (uint64_t)vs->nrx * (VS_HDR + vs->rxroom + 64) +
	    (uint64_t)(O.depth + 1) * (128 + O.size) + 64 * VS_NEV;
	if (dev_open(d, 1ULL << VS_F_STREAM, 3, qs, bytes) == -1)
		return -1;
	if (O.vsock_cid != 0)
		vs->cid = O.vsock_cid;
	else if ((d->v->protocol_features >> VUF_PF_CONFIG) & 1) {
		if (vuf_get_config(d->v, 0, 8, &cid) == -1) {
			dev_fail(d, false, "GET_CONFIG (guest_cid): %s",
			    vuf_error(d->v));
			return -1;
		}
		vs->cid = le64toh(cid);
	} else {
		dev_fail(d, false, "no config space: give --vsock-cid");
		return -1;
	}
	if (host_listen(d) == -1)
		return -1;

	/* Event queue: buffers for the device's transport resets. */
	for (i = 0; i < VS_NEV; i++) {
		if ((gpa = ring_alloc(d, 8, 8)) == VUF_BAD_GPA)
			return -1;
		seg = (struct vuf_seg){ gpa, 8, true };
		if (vuf_vq_add(d->v, VS_EVQ, &seg, 1) == -1) {
			dev_fail(d, false, "event queue: %s", vuf_error(d->v));
			return -1;
		}
	}
	if (vuf_kick(d->v, VS_EVQ) == -1) {
		dev_fail(d, false, "event queue: %s", vuf_error(d->v));
		return -1;
	}

	d->nq = 2;
	if (bq_init(d, VS_RXQ, vs->nrx, 1) == -1 ||
	    bq_init(d, VS_TXQ, O.depth + 1, 2) == -1)
		return -1;
	rx = &d->q[VS_RXQ];
	tx = &d->q[VS_TXQ];
	for (i = 0; i < vs->nrx; i++) {
		if ((gpa = ring_alloc(d, VS_HDR + vs->rxroom, 64)) ==
		    VUF_BAD_GPA)
			return -1;
		rx->buf[i] = vuf_gpa_to_host(d->v, gpa, VS_HDR + vs->rxroom);
		rx->desc[rx->head_of[i]].addr = gpa;
		rx->desc[rx->head_of[i]].len = VS_HDR + vs->rxroom;
		rx->desc[rx->head_of[i]].flags = VRING_DESC_F_WRITE;
	}
	vs->ref = malloc(O.size);
	vs->txhdr = calloc(O.depth + 1, sizeof(*vs->txhdr));
	vs->txpay = calloc(O.depth, sizeof(*vs->txpay));
	vs->txfree = calloc(O.depth, sizeof(*vs->txfree));
	vs->msg_t = calloc(O.depth, sizeof(*vs->msg_t));
	if (vs->ref == NULL || vs->txhdr == NULL || vs->txpay == NULL ||
	    vs->txfree == NULL || vs->msg_t == NULL) {
		dev_fail(d, false, "out of memory");
		return -1;
	}
	for (i = 0; i < O.size; i++)
		vs->ref[i] = (uint8_t)(i * 131 + 17);
	for (i = 0; i <= O.depth; i++) {
		struct vring_desc *dd = &tx->desc[tx->head_of[i]];

		if ((gpa = ring_alloc(d, 64, 64)) == VUF_BAD_GPA)
			return -1;
		vs->txhdr[i] = vuf_gpa_to_host(d->v, gpa, 64);
		dd[0].addr = gpa;
		dd[0].len = VS_HDR;
		if (i == vs->ctl) {
			dd[0].flags = 0;	/* a header alone */
			break;
		}
		if ((gpa = ring_alloc(d, O.size, 64)) == VUF_BAD_GPA)
			return -1;
		p = vuf_gpa_to_host(d->v, gpa, O.size);
		memcpy(p, vs->ref, O.size);
		vs->txpay[i] = p;
		dd[0].flags = VRING_DESC_F_NEXT;
		dd[1].addr = gpa;
		dd[1].len = O.size;
		dd[1].flags = 0;
		vs->txfree[vs->ntxfree++] = (uint16_t)(O.depth - 1 - i);
	}
	return 0;
}

/* ---- the guest driver ---- */

static void
rx_post_all(struct bdev *d)
{
	struct bq *q = &d->q[VS_RXQ];
	unsigned s;

	for (s = 0; s < q->nslots; s++) {
		q->avail->ring[q->avail_idx++ & q->mask] = q->head_of[s];
		q->inflight[s] = 1;
		q->submitted++;
	}
	bq_publish(d, q, q->nslots);
}

/* Sends the owed control packet, if the control slot is free. */
static unsigned
send_control(struct bdev *d)
{
	struct vsock_dev *vs = d->vs;
	struct bq *q = &d->q[VS_TXQ];
	struct vuf_vsock_hdr h;
	uint16_t op;

	if (vs->ctl_busy || vs->pend == 0)
		return 0;
	if (vs->pend & P_REQUEST) {
		op = VIRTIO_VSOCK_OP_REQUEST;
		vs->pend &= ~P_REQUEST;
	} else if (vs->pend & P_SHUTDOWN) {
		op = VIRTIO_VSOCK_OP_SHUTDOWN;
		vs->pend &= ~P_SHUTDOWN;
	} else if (vs->pend & P_CREDIT_REQ) {
		op = VIRTIO_VSOCK_OP_CREDIT_REQUEST;
		vs->pend &= ~P_CREDIT_REQ;
	} else {
		op = VIRTIO_VSOCK_OP_CREDIT_UPDATE;
		vs->pend &= ~P_CREDIT;
	}
	vs_hdr(vs, &h, op, 0);
	if (op == VIRTIO_VSOCK_OP_SHUTDOWN)
		h.flags = 3;		/* RCV | SEND */
	vuf_vsock_hdr_put(vs->txhdr[vs->ctl], &h);
	vs->adv_fwd = vs->fwd_cnt;
	q->avail->ring[q->avail_idx++ & q->mask] = q->head_of[vs->ctl];
	q->inflight[vs->ctl] = 1;
	q->submitted++;
	vs->ctl_busy = true;
	bq_publish(d, q, 1);
	return 1;
}

/* Checks echoed bytes at stream offset vs->stream against what was sent:
 * message m = its 8-byte number, then the pattern. */
static bool
echo_ok(struct vsock_dev *vs, const uint8_t *p, uint32_t n)
{
	uint64_t o = vs->stream, m;
	uint32_t off, k, j, start;

	while (n > 0) {
		m = o / O.size;
		off = (uint32_t)(o % O.size);
		k = O.size - off < n ? O.size - off : n;
		for (j = off; j < 8 && j < off + k; j++)
			if (p[j - off] != (uint8_t)(m >> (8 * j)))
				return false;
		start = off > 8 ? off : 8;
		if (off + k > start && memcmp(p + (start - off),
		    vs->ref + start, off + k - start) != 0)
			return false;
		o += k;
		p += k;
		n -= k;
	}
	return true;
}

/* Takes the packets the device put on rx, re-posts their buffers. */
static unsigned
rx_service(struct bdev *d)
{
	struct vsock_dev *vs = d->vs;
	struct bq *q = &d->q[VS_RXQ];
	uint16_t u = __atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE);
	uint16_t n = (uint16_t)(u - q->last_used), s;
	struct vring_used_elem *e;
	struct vuf_vsock_hdr h;
	unsigned i;
	uint64_t now = 0, end;
	int64_t lat;
	uint32_t id, len;

	if (n == 0)
		return 0;
	if (n > q->num) {
		dev_fail(d, true, "rx: used idx %u is %u ahead of %u", u, n,
		    q->last_used);
		return 0;
	}
	for (i = 0; i < n; i++) {
		e = &q->used->ring[q->last_used & q->mask];
		id = e->id;
		len = e->len;
		q->last_used++;
		if (id >= q->num || (s = q->slot_of[id]) == NOSLOT ||
		    !q->inflight[s]) {
			dev_fail(d, true, "rx: used id %u is not a buffer in "
			    "flight", id);
			return 0;
		}
		q->completed++;
		vuf_vsock_hdr_get(&h, q->buf[s]);
		if (len < VS_HDR || h.len > vs->rxroom ||
		    len != VS_HDR + h.len) {
			dev_fail(d, true, "rx: used length %u for a packet of "
			    "%u bytes (op %u)", len, h.len, h.op);
			return 0;
		}
		if (h.src_cid != VMADDR_CID_HOST || h.dst_cid != vs->cid ||
		    h.src_port != vs->port || h.dst_port != vs->lport ||
		    h.type != VIRTIO_VSOCK_TYPE_STREAM) {
			dev_fail(d, true, "rx: packet op %u from %llu:%u to "
			    "%llu:%u type %u, not of our connection", h.op,
			    (unsigned long long)h.src_cid, h.src_port,
			    (unsigned long long)h.dst_cid, h.dst_port, h.type);
			return 0;
		}
		vs->peer_buf_alloc = h.buf_alloc;
		vs->peer_fwd_cnt = h.fwd_cnt;
		vs->credit_asked = false;
		switch (h.op) {
		case VIRTIO_VSOCK_OP_RESPONSE:
			vs->connected = true;
			break;
		case VIRTIO_VSOCK_OP_RW:
			if (!vs->connected || O.vsock == VS_SINK) {
				dev_fail(d, true, "rx: %u bytes of data %s",
				    h.len, vs->connected ? "in sink mode" :
				    "before the RESPONSE");
				return 0;
			}
			if (!echo_ok(vs, q->buf[s] + VS_HDR, h.len))
				result_error(d, "echoed bytes at offset %llu "
				    "differ from those sent",
				    (unsigned long long)vs->stream);
			vs->rx_cnt += h.len;
			vs->fwd_cnt += h.len;	/* consumed at once */
			vs->stream += h.len;
			if (now == 0)
				now = clk_ticks();
			/* Messages whose last byte is back. */
			while (vs->msgs_done < vs->msgs_sent &&
			    (end = (vs->msgs_done + 1) * O.size) <=
			    vs->stream) {
				lat = (int64_t)(now -
				    vs->msg_t[vs->msgs_done % O.depth]);
				hist_add(d->lat, clk_ns(lat > 0 ?
				    (uint64_t)lat : 0));
				vs->msgs_done++;
				d->requests++;
				d->bytes += O.size;
			}
			if (vs->fwd_cnt - vs->adv_fwd > VS_GUEST_BUF / 4)
				vs->pend |= P_CREDIT;
			break;
		case VIRTIO_VSOCK_OP_CREDIT_UPDATE:
			break;
		case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
			vs->pend |= P_CREDIT;
			break;
		case VIRTIO_VSOCK_OP_RST:
			vs->reset = true;
			if (!vs->stopping)
				dev_fail(d, true, "the device reset the "
				    "connection%s", vs->connected ? "" :
				    " (is anyone listening on the host "
				    "port?)");
			break;
		case VIRTIO_VSOCK_OP_SHUTDOWN:
			vs->peer_shut = true;
			if (!vs->stopping)
				dev_fail(d, true, "the device shut the "
				    "connection down (flags %u)", h.flags);
			break;
		default:
			dev_fail(d, true, "rx: op %u", h.op);
			return 0;
		}
		/* The buffer goes back at once. */
		q->avail->ring[q->avail_idx++ & q->mask] = q->head_of[s];
		q->submitted++;
	}
	bq_publish(d, q, n);
	return n;
}

/* Takes the tx buffers the device used. */
static unsigned
tx_service(struct bdev *d)
{
	struct vsock_dev *vs = d->vs;
	struct bq *q = &d->q[VS_TXQ];
	uint16_t u = __atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE);
	uint16_t n = (uint16_t)(u - q->last_used), s;
	struct vring_used_elem *e;
	unsigned i;
	uint64_t now = 0;
	int64_t lat;
	uint32_t id;

	if (n == 0)
		return 0;
	if (n > q->num) {
		dev_fail(d, true, "tx: used idx %u is %u ahead of %u", u, n,
		    q->last_used);
		return 0;
	}
	for (i = 0; i < n; i++) {
		e = &q->used->ring[q->last_used & q->mask];
		id = e->id;
		q->last_used++;
		if (id >= q->num || (s = q->slot_of[id]) == NOSLOT ||
		    !q->inflight[s]) {
			dev_fail(d, true, "tx: used id %u is not a packet in "
			    "flight", id);
			return 0;
		}
		q->inflight[s] = 0;
		q->completed++;
		if (s == vs->ctl) {
			vs->ctl_busy = false;
			continue;
		}
		vs->txfree[vs->ntxfree++] = s;
		if (O.vsock == VS_SINK) {
			if (now == 0)
				now = clk_ticks();
			lat = (int64_t)(now - q->t_sub[s]);
			hist_add(d->lat, clk_ns(lat > 0 ? (uint64_t)lat : 0));
			vs->msgs_done++;
			d->requests++;
			d->bytes += O.size;
		}
	}
	return n;
}

/* Sends messages while depth, tx slots and the device's credit allow. */
static unsigned
send_more(struct bdev *d)
{
	struct vsock_dev *vs = d->vs;
	struct bq *q = &d->q[VS_TXQ];
	struct vuf_vsock_hdr h;
	unsigned nr = 0, i, s;
	uint32_t credit;
	uint64_t m, t;

	for (;;) {
		credit = vs->peer_buf_alloc - (vs->tx_cnt - vs->peer_fwd_cnt);
		if (vs->msgs_sent - vs->msgs_done >= O.depth ||
		    vs->ntxfree == 0)
			break;
		if (credit < O.size || credit > vs->peer_buf_alloc) {
			/* Out of credit: ask, if nothing in flight will
			 * bring an update. */
			if (vs->msgs_sent == vs->msgs_done && !vs->credit_asked) {
				vs->pend |= P_CREDIT_REQ;
				vs->credit_asked = true;
			}
			break;
		}
		s = vs->txfree[--vs->ntxfree];
		m = vs->msgs_sent++;
		vs_hdr(vs, &h, VIRTIO_VSOCK_OP_RW, O.size);
		vuf_vsock_hdr_put(vs->txhdr[s], &h);
		for (i = 0; i < 8 && i < O.size; i++)
			vs->txpay[s][i] = (uint8_t)(m >> (8 * i));
		vs->tx_cnt += O.size;
		q->avail->ring[q->avail_idx++ & q->mask] = q->head_of[s];
		q->inflight[s] = 1;
		q->submitted++;
		q->resub[nr++] = (uint16_t)s;
	}
	if (nr == 0)
		return 0;
	vs->adv_fwd = vs->fwd_cnt;
	vs->pend &= ~P_CREDIT;
	t = clk_ticks();
	for (i = 0; i < nr; i++) {
		q->t_sub[q->resub[i]] = t;
		vs->msg_t[(vs->msgs_sent - nr + i) % O.depth] = t;
	}
	bq_publish(d, q, nr);
	return nr;
}

/* One turn of the driver; returns what it did (0: nothing to do). */
static unsigned
turn(struct bdev *d, bool send)
{
	unsigned got;

	got = rx_service(d);
	got += tx_service(d);
	if (send && d->vs->connected && !d->proto_error)
		got += send_more(d);
	got += send_control(d);
	return got;
}

/* Turns until done() or the timeout; false on timeout or error. */
static bool
wait_until(struct bdev *d, bool (*done)(struct bdev *), int timeout_ms)
{
	struct bq *qs[2] = { &d->q[VS_RXQ], &d->q[VS_TXQ] };
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000;

	while (!done(d) && !d->proto_error) {
		if (turn(d, false) > 0)
			continue;
		if (now_ns() > deadline)
			return false;
		if (O.completion == BC_CALL) {
			if (bq_wait(d, qs, 2, 10) == -1)
				return false;
		} else
			cpu_relax();
	}
	return !d->proto_error;
}

static bool
is_connected(struct bdev *d)
{
	return d->vs->connected || d->vs->reset;
}

static bool
is_drained(struct bdev *d)
{
	struct vsock_dev *vs = d->vs;

	if (O.vsock == VS_ECHO)
		return vs->msgs_done == vs->msgs_sent;
	return vs->ntxfree == O.depth && atomic_load(&vs->host_rx) ==
	    vs->msgs_sent * O.size;
}

static bool
is_reset(struct bdev *d)
{
	return d->vs->reset;
}

void *
vsock_thread(void *arg)
{
	struct bdev *d = arg;
	struct vsock_dev *vs = d->vs;
	struct bq *qs[2] = { &d->q[VS_RXQ], &d->q[VS_TXQ] };
	uint64_t idle_since = 0;
	unsigned got, spins = 0;
	int seen = PH_WARMUP, r;

	pin_self(d);
	if (pthread_create(&vs->host_th, NULL, host_thread, d) != 0)
		dev_fail(d, false, "pthread_create");
	else
		vs->host_started = true;
	pthread_barrier_wait(&start_barrier);
	if (!vs->host_started)
		return NULL;
	rx_post_all(d);
	vs->pend |= P_REQUEST;
	send_control(d);
	if (!wait_until(d, is_connected, O.timeout_ms) || !vs->connected) {
		dev_fail(d, true, "no RESPONSE to the guest's REQUEST to port "
		    "%u within %d ms%s%s", vs->port, O.timeout_ms,
		    vs->host_err[0] != '\0' ? ": " : "", vs->host_err);
		return NULL;
	}
	for (;;) {
		if (dev_phase_done(d, &seen))
			break;
		got = turn(d, true);
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
		} else if ((r = bq_wait(d, qs, 2, 100)) == -1)
			break;
		else if (r == 1)
			continue;
		if (idle_since == 0)
			idle_since = now_ns();
		else if (now_ns() - idle_since >
		    (uint64_t)O.timeout_ms * 1000000) {
			dev_fail(d, true, "nothing moved for %d ms (%llu "
			    "messages in flight, credit %u)", O.timeout_ms,
			    (unsigned long long)(vs->msgs_sent -
			    vs->msgs_done), vs->peer_buf_alloc - (vs->tx_cnt -
			    vs->peer_fwd_cnt));
			break;
		}
	}
	if (d->proto_error)
		return NULL;
	if (!wait_until(d, is_drained, O.timeout_ms)) {
		d->lost = vs->msgs_sent - vs->msgs_done;
		dev_fail(d, true, "not drained %d ms after the end: %llu of "
		    "%llu messages complete, the host read %llu of %llu "
		    "bytes", O.timeout_ms, (unsigned long long)vs->msgs_done,
		    (unsigned long long)vs->msgs_sent, (unsigned long long)
		    atomic_load(&vs->host_rx), (unsigned long long)
		    (vs->msgs_sent * O.size));
		return NULL;
	}
	/* Close as a guest does: SHUTDOWN, and the device's RST. */
	vs->stopping = true;
	vs->pend |= P_SHUTDOWN;
	send_control(d);
	if (!wait_until(d, is_reset, O.timeout_ms))
		fprintf(stderr, "vubench: %s: no RST %d ms after the guest's "
		    "SHUTDOWN\n", d->path, O.timeout_ms);
	return NULL;
}

uint64_t
vsock_host_bytes(const struct bdev *d)
{
	return d->vs != NULL ? atomic_load(&d->vs->host_rx) : 0;
}

void
vsock_teardown(struct bdev *d)
{
	struct vsock_dev *vs = d->vs;
	uint16_t used;

	if (vs == NULL) {
		ring_teardown(d);
		return;
	}
	if (d->v != NULL && d->v->vq[VS_EVQ].ready) {
		used = __atomic_load_n(&d->v->vq[VS_EVQ].used->idx,
		    __ATOMIC_ACQUIRE);
		if (used != 0)
			fprintf(stderr, "vubench: %s: %u transport event(s) "
			    "on the event queue\n", d->path, used);
	}
	if (vs->host_started) {
		/* Unblocks the host thread whatever it waits for. */
		if (vs->hfd != -1)
			shutdown(vs->hfd, SHUT_RDWR);
		if (vs->lfd != -1)
			shutdown(vs->lfd, SHUT_RDWR);
		pthread_join(vs->host_th, NULL);
	}
	if (vs->hfd != -1)
		close(vs->hfd);
	if (vs->lfd != -1) {
		close(vs->lfd);
		unlink(vs->lpath);
	}
	ring_teardown(d);
	free(vs->ref);
	free(vs->txhdr);
	free(vs->txpay);
	free(vs->txfree);
	free(vs->msg_t);
	free(vs);
	d->vs = NULL;
}
