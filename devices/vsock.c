/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * virtio-vsock (virtio ID 19, VIRTIO 1.2 section 5.10): sockets between a
 * guest and host programs, and between sibling guests, in the "hybrid"
 * UNIX-socket style of Firecracker and vhost-device-vsock.
 *
 * Host side.  Each device has a host socket, "uds_path" (SOCK_STREAM), and
 * beside it "<uds_path>.seqpacket" (SOCK_SEQPACKET).  A host program
 * connects and sends "CONNECT <port>\n"; main hands the accepted socket to
 * the worker, which asks the guest (OP_REQUEST) and, once it accepts,
 * writes "OK <host port>\n" and then moves the bytes; a refusal closes the
 * socket.  A guest connect to CID 2 port P is a UNIX connect to
 * "<uds_path>_<P>" of the guest socket's type, made by main.  A guest
 * connect to the CID of a sibling (a vsock device of the same "group") is
 * a socketpair made by main, one end to each worker, once the sibling's
 * guest accepted: the bytes flow worker to worker, never through main.
 *
 * So the worker never creates, connects or accepts a socket: main does,
 * and the worker reads and writes the fds it is handed (policy/vsock.policy
 * has no socket, connect or accept).
 *
 * Flow control is the spec's credit scheme, both ways.  Guest to host:
 * vhostd advertises buf_alloc = buffer_size per connection and counts in
 * fwd_cnt what it has written to the host socket; what the host socket
 * does not take at once waits in a ring of buffer_size bytes, which the
 * credit keeps the guest from overrunning (a guest that tries is reset).
 * Host to guest: vhostd reads from the host socket only as much as the
 * guest's credit allows, so a slow guest reader leaves the bytes in the
 * host socket and stalls that connection alone.  Memory per connection is
 * bounded by twice buffer_size.
 *
 * SEQPACKET keeps message boundaries: guest messages (RW packets up to the
 * one with VIRTIO_VSOCK_SEQ_EOM) are sent as one message each on the
 * SOCK_SEQPACKET host socket; a host message becomes RW packets, the last
 * with EOM.  A zero-length host message cannot be told from end of file
 * and reads as end of file.
 */
#include "config.h"

#include <assert.h>
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <linux/virtio_vsock.h>

#include "cfg.h"
#include "device.h"
#include "log.h"
#include "vsock.h"

#define VS_RXQ			0
#define VS_TXQ			1
#define VS_EVQ			2

#define VS_F_STREAM		0	/* VIRTIO_VSOCK_F_STREAM */
#define VS_F_SEQPACKET		1	/* VIRTIO_VSOCK_F_SEQPACKET */

#define VS_CID_HOST		2
#define VS_CID_MIN		3
#define VS_CID_MAX		UINT32_C(0xfffffffe)
#define VS_PORT_ANY		UINT32_C(0xffffffff)

#define VS_HDR			44	/* sizeof(struct virtio_vsock_hdr) */
#define VS_MAX_PKT		(64 * 1024)	/* payload of one packet */
#define VS_BUF_DEFAULT		(256 * 1024)
#define VS_BUF_MIN		4096
#define VS_BUF_MAX		(4 * 1024 * 1024)
#define VS_CONNS_DEFAULT	128
#define VS_CONNS_MAX		1024
#define VS_UDS_MAX		96	/* leaves room for "_<port>" */
#define VS_GROUP_MAX		32

#define VS_NBUCKET		256
#define VS_RSTQ			256	/* RSTs for packets of no connection */
#define VS_MSGQ			64	/* whole guest messages buffered */
#define VS_IOV_MAX		64
#define VS_ACCEPT_TIMEOUT_S	5	/* for the guest to answer a REQUEST */
#define VS_DRAIN_TIMEOUT_S	30	/* to flush after the guest closed */

/* main: host sockets waiting for their CONNECT line, per device. */
#define VS_HOST_PENDING_MAX	16
#define VS_HOST_LINE_MAX	32
#define VS_HOST_LINE_TIMEOUT_S	5
#define VS_SIB_TIMEOUT_S	10	/* for a sibling guest to accept */

static_assert(sizeof(struct virtio_vsock_hdr) == VS_HDR, "vsock header");

struct vsock_cfg {
	uint64_t	guest_cid;
	char		uds_path[VS_UDS_MAX + 1];
	char		group[VS_GROUP_MAX];	/* "": none */
	uint32_t	buffer_size;
	uint32_t	max_conns;
};

/* ---- the worker's connections ---- */

enum vc_state {
	VC_CONNECTING,		/* guest REQUEST; main is connecting */
	VC_ACCEPTING,		/* REQUEST sent to the guest */
	VC_OPEN,
	VC_DRAIN,		/* guest closed; flushing to the host */
};

#define P_REQUEST	0x1
#define P_RESPONSE	0x2
#define P_SHUTDOWN	0x4
#define P_CREDIT	0x8

struct vs;

struct vconn {
	struct vconn		*hnext;
	TAILQ_ENTRY(vconn)	 rlink;
	bool			 on_ready;
	struct vs		*s;
	struct vs_key		 key;
	uint16_t		 type;
	uint64_t		 id;
	uint64_t		 token;
	enum vc_state		 state;
	int			 fd;
	struct event		*rev, *wev, *timer;
	bool			 readable;	/* the fd said so; no EAGAIN yet */
	bool			 host_eof;
	bool			 guest_no_send;	/* guest SHUTDOWN SEND */
	bool			 guest_no_rcv;	/* guest SHUTDOWN RCV */
	bool			 wr_shut;	/* shutdown(SHUT_WR) done */
	unsigned		 pend;		/* P_*: packets owed the guest */
	uint32_t		 shut_flags;

	/* Credit, guest to host: what we received and forwarded. */
	uint32_t		 rx_cnt, fwd_cnt, fwd_sent;
	/* Credit, host to guest: what we sent and what the guest has. */
	uint32_t		 tx_cnt, peer_buf_alloc, peer_fwd_cnt;

	/* Guest bytes the host socket has not taken: a ring. */
	uint8_t			*buf;
	uint32_t		 bhead, blen;
	/* SEQPACKET: lengths of the whole messages in the ring, then the
	 * bytes of the one being received. */
	uint32_t		 msgq[VS_MSGQ];
	unsigned		 mhead, mn;
	uint32_t		 mcur;
	/* SEQPACKET: a host message being passed to the guest. */
	uint8_t			*hbuf;
	uint32_t		 hlen, hoff;

	char			 greet[VS_GREET_MAX];
	uint32_t		 greet_len;
};

struct vs_rst {
	struct vs_key	key;
	uint16_t	type;
};

struct vs {
	struct dev_ctx		*ctx;
	const struct vsock_cfg	*cfg;
	struct vconn		*bucket[VS_NBUCKET];
	unsigned		 nconns;
	TAILQ_HEAD(, vconn)	 ready;
	struct vs_rst		 rstq[VS_RSTQ];
	unsigned		 rhead, rn;
	uint64_t		 next_id;
	struct event		*rx_ev;		/* runs the rx queue soon */
	struct iovec		 iov[VS_IOV_MAX];
	/* An rx buffer taken for a packet that did not come. */
	bool			 spare;
	bool			 reset_sent;	/* transport reset after a restart */
	struct vq_req		 spare_req;
	struct iovec		 spare_iov[VS_IOV_MAX];
	struct log_ratelimit	 rl;
};

static const char *const vsock_keys[] = {
	"guest_cid", "uds_path", "group", "buffer_size", "max_connections",
	NULL
};

/* ---- config (main) ---- */

static int
vsock_parse(struct cfg_ctx *ctx, json_t *obj, const char *path, void *out)
{
	struct vsock_cfg *c = out;
	const char *s;
	char sub[256];
	uint64_t v;
	int rc = 0;

	if (cfg_check_device_keys(ctx, obj, path, vsock_keys) == -1)
		rc = -1;
	if (cfg_uint(ctx, obj, path, "guest_cid", true, 0, VS_CID_MIN,
	    VS_CID_MAX, &v) == -1)
		rc = -1;
	else
		c->guest_cid = v;
	snprintf(sub, sizeof(sub), "%s.uds_path", path);
	if (cfg_string(ctx, obj, path, "uds_path", true, NULL, &s) == -1)
		rc = -1;
	else if (s[0] != '/') {
		cfg_error(ctx, sub, "must be an absolute path");
		rc = -1;
	} else if (strlen(s) > VS_UDS_MAX) {
		cfg_error(ctx, sub, "is too long (at most %d bytes, to leave "
		    "room for \"_<port>\" and \".seqpacket\")", VS_UDS_MAX);
		rc = -1;
	} else
		strcpy(c->uds_path, s);
	snprintf(sub, sizeof(sub), "%s.group", path);
	if (cfg_string(ctx, obj, path, "group", false, "", &s) == -1 ||
	    cfg_check_name(ctx, sub, s, VS_GROUP_MAX) == -1)
		rc = -1;
	else
		strcpy(c->group, s);
	if (cfg_uint(ctx, obj, path, "buffer_size", false, VS_BUF_DEFAULT,
	    VS_BUF_MIN, VS_BUF_MAX, &v) == -1)
		rc = -1;
	else
		c->buffer_size = (uint32_t)v;
	if (cfg_uint(ctx, obj, path, "max_connections", false,
	    VS_CONNS_DEFAULT, 1, VS_CONNS_MAX, &v) == -1)
		rc = -1;
	else
		c->max_conns = (uint32_t)v;
	return rc;
}

/* The CID is unique in its group; the host socket belongs to one device. */
static unsigned
vsock_claims(const void *cfg, struct dev_claim *out)
{
	const struct vsock_cfg *c = cfg;
	unsigned n = 0;

	/* Named as the core names every device's own socket. */
	snprintf(out[n].resource, sizeof(out[n].resource), "socket %s",
	    c->uds_path);
	snprintf(out[n].path, sizeof(out[n].path), "uds_path");
	n++;
	snprintf(out[n].resource, sizeof(out[n].resource),
	    "socket %s.seqpacket", c->uds_path);
	snprintf(out[n].path, sizeof(out[n].path), "uds_path");
	n++;
	if (c->group[0] != '\0') {
		snprintf(out[n].resource, sizeof(out[n].resource),
		    "vsock group %s", c->group);
		out[n].unit = (uint32_t)c->guest_cid;
		snprintf(out[n].what, sizeof(out[n].what), "guest_cid");
		snprintf(out[n].path, sizeof(out[n].path), "guest_cid");
		n++;
	}
	return n;
}

static void
vsock_config_space(const void *cfg, uint8_t *buf)
{
	const struct vsock_cfg *c = cfg;
	uint64_t cid = htole64(c->guest_cid);

	memcpy(buf, &cid, sizeof(cid));
}

static unsigned
vsock_extra_fds(const void *cfg)
{
	const struct vsock_cfg *c = cfg;

	/* One fd per connection, and the ones arriving meanwhile. */
	return c->max_conns + 4;
}

/* ---- the worker ---- */

static void vs_conn_update(struct vconn *);
static void vs_conn_reset(struct vconn *, const char *);

static bool
vs_seqpacket_ok(const struct vs *s)
{
	return (s->ctx->features >> VS_F_SEQPACKET) & 1;
}

static unsigned
vs_hash(const struct vs_key *k)
{
	uint64_t h = k->lport * UINT64_C(0x9e3779b97f4a7c15) ^
	    k->pport * UINT64_C(0xc2b2ae3d27d4eb4f) ^ k->pcid;

	return (unsigned)((h ^ (h >> 29)) % VS_NBUCKET);
}

static struct vconn *
vs_find(struct vs *s, const struct vs_key *k)
{
	struct vconn *c;

	for (c = s->bucket[vs_hash(k)]; c != NULL; c = c->hnext)
		if (c->key.lport == k->lport && c->key.pport == k->pport &&
		    c->key.pcid == k->pcid)
			return c;
	return NULL;
}

/* Credit the guest gives us now (host to guest bytes). */
static uint32_t
vs_peer_credit(const struct vconn *c)
{
	uint32_t inflight = c->tx_cnt - c->peer_fwd_cnt;

	return inflight >= c->peer_buf_alloc ? 0 :
	    c->peer_buf_alloc - inflight;
}

static void
vs_rx_schedule(struct vs *s)
{
	if (s->rx_ev != NULL)
		event_active(s->rx_ev, EV_TIMEOUT, 0);
}

static void
vs_answer(struct vs *s, uint64_t token, bool accepted)
{
	struct dev_msg m = { .op = VS_MSG_ANSWER };
	struct vs_msg_answer a = { .token = token, .accepted = accepted };

	if (token == 0)
		return;
	memcpy(m.data, &a, sizeof(a));
	m.len = sizeof(a);
	if (s->ctx->send_main(s->ctx, &m) == -1)
		log_rl(&s->rl, LOG_WARNING, "%s: cannot answer main: %s",
		    s->ctx->id, strerror(errno));
}

static void
vs_rst_queue(struct vs *s, const struct vs_key *k, uint16_t type)
{
	if (s->rn == VS_RSTQ) {
		log_rl(&s->rl, LOG_WARNING, "%s: too many resets pending; "
		    "one for guest port %u dropped", s->ctx->id, k->lport);
		return;
	}
	s->rstq[(s->rhead + s->rn) % VS_RSTQ] = (struct vs_rst){ *k, type };
	s->rn++;
	vs_rx_schedule(s);
}

static void
vs_conn_free(struct vconn *c)
{
	struct vs *s = c->s;
	struct vconn **pp;

	for (pp = &s->bucket[vs_hash(&c->key)]; *pp != NULL;
	    pp = &(*pp)->hnext)
		if (*pp == c) {
			*pp = c->hnext;
			break;
		}
	if (c->on_ready)
		TAILQ_REMOVE(&s->ready, c, rlink);
	if (c->state == VC_ACCEPTING)
		vs_answer(s, c->token, false);
	if (c->rev != NULL)
		event_free(c->rev);
	if (c->wev != NULL)
		event_free(c->wev);
	if (c->timer != NULL)
		event_free(c->timer);
	if (c->fd != -1)
		close(c->fd);
	free(c->buf);
	free(c->hbuf);
	free(c);
	s->nconns--;
}

/* Ends a connection with an RST to the guest. */
static void
vs_conn_reset(struct vconn *c, const char *why)
{
	struct vs *s = c->s;

	if (why != NULL)
		log_rl(&s->rl, LOG_INFO, "%s: connection guest port %u, "
		    "peer %llu:%u reset: %s", s->ctx->id, c->key.lport,
		    (unsigned long long)c->key.pcid, c->key.pport, why);
	vs_rst_queue(s, &c->key, c->type);
	vs_conn_free(c);
}

static void vs_conn_readable(evutil_socket_t, short, void *);
static void vs_conn_writable(evutil_socket_t, short, void *);
static void vs_conn_timeout(evutil_socket_t, short, void *);

static struct vconn *
vs_conn_new(struct vs *s, const struct vs_key *k, uint16_t type)
{
	struct vconn *c;
	unsigned h;

	if (s->nconns >= s->cfg->max_conns) {
		log_rl(&s->rl, LOG_WARNING, "%s: refusing a connection to "
		    "guest port %u: max_connections (%u) reached", s->ctx->id,
		    k->lport, s->cfg->max_conns);
		return NULL;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->s = s;
	c->key = *k;
	c->type = type;
	c->fd = -1;
	c->id = ++s->next_id;
	h = vs_hash(k);
	c->hnext = s->bucket[h];
	s->bucket[h] = c;
	s->nconns++;
	return c;
}

/* Gives the connection its host fd and its events. */
static int
vs_conn_attach(struct vconn *c, int fd)
{
	struct event_base *base = c->s->ctx->base;

	c->fd = fd;
	c->rev = event_new(base, fd, EV_READ, vs_conn_readable, c);
	c->wev = event_new(base, fd, EV_WRITE, vs_conn_writable, c);
	if (c->rev == NULL || c->wev == NULL)
		return -1;
	return 0;
}

static int
vs_conn_timer(struct vconn *c, int seconds)
{
	struct timeval tv = { seconds, 0 };

	if (c->timer == NULL &&
	    (c->timer = evtimer_new(c->s->ctx->base, vs_conn_timeout, c)) ==
	    NULL)
		return -1;
	return evtimer_add(c->timer, &tv);
}

/* Guest bytes waiting for the host socket (stream), or whole messages
 * (seqpacket). */
static bool
vs_conn_has_out(const struct vconn *c)
{
	return c->type == VIRTIO_VSOCK_TYPE_SEQPACKET ? c->mn > 0 :
	    c->blen > 0;
}

/* Copies len guest bytes at offset off of the segments into the ring,
 * allocated the first time the host does not take bytes at once.
 * Returns -1 if it cannot be. */
static int
vs_ring_put(struct vconn *c, const struct iovec *iov, unsigned n,
    uint64_t off, uint32_t len)
{
	uint32_t size = c->s->cfg->buffer_size;
	uint32_t tail = (c->bhead + c->blen) % size;
	uint32_t first = len < size - tail ? len : size - tail;

	if (c->buf == NULL && (c->buf = malloc(size)) == NULL)
		return -1;
	vq_iov_from(iov, n, off, c->buf + tail, first);
	if (len > first)
		vq_iov_from(iov, n, off + first, c->buf, len - first);
	c->blen += len;
	return 0;
}

/* The ring's bytes [0, len) as at most two segments. */
static unsigned
vs_ring_iov(const struct vconn *c, uint32_t len, struct iovec *iov)
{
	uint32_t size = c->s->cfg->buffer_size;
	uint32_t first = len < size - c->bhead ? len : size - c->bhead;

	iov[0].iov_base = c->buf + c->bhead;
	iov[0].iov_len = first;
	if (len == first)
		return 1;
	iov[1].iov_base = c->buf;
	iov[1].iov_len = len - first;
	return 2;
}

static void
vs_ring_take(struct vconn *c, uint32_t len)
{
	c->bhead = (c->bhead + len) % c->s->cfg->buffer_size;
	c->blen -= len;
	if (c->blen == 0)
		c->bhead = 0;
	c->fwd_cnt += len;
}

/*
 * Writes what the ring holds to the host socket, as far as it takes it.
 * Returns -1 if the connection was reset (and freed).
 */
static int
vs_conn_flush(struct vconn *c)
{
	struct iovec iov[2];
	struct msghdr mh;
	unsigned n;
	ssize_t w;
	uint32_t len;

	while (vs_conn_has_out(c)) {
		if (c->type == VIRTIO_VSOCK_TYPE_SEQPACKET) {
			len = c->msgq[c->mhead];
			n = vs_ring_iov(c, len, iov);
			memset(&mh, 0, sizeof(mh));
			mh.msg_iov = iov;
			mh.msg_iovlen = n;
			w = sendmsg(c->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (w >= 0 && (uint32_t)w != len) {
				vs_conn_reset(c, "host socket cut a message");
				return -1;
			}
		} else {
			len = c->blen;
			n = vs_ring_iov(c, len, iov);
			w = writev(c->fd, iov, (int)n);
		}
		if (w == -1) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			vs_conn_reset(c, errno == EMSGSIZE ? "a guest message "
			    "is larger than the host socket's buffer" :
			    "the host socket is closed");
			return -1;
		}
		vs_ring_take(c, (uint32_t)w);
		if (c->type == VIRTIO_VSOCK_TYPE_SEQPACKET) {
			c->mhead = (c->mhead + 1) % VS_MSGQ;
			c->mn--;
		}
	}
	return 0;
}

/* After the host took bytes: tell the guest if it may be waiting for
 * credit (it believes more than half of our buffer is in use). */
static void
vs_conn_credit_check(struct vconn *c)
{
	uint32_t believed = c->rx_cnt - c->fwd_sent;
	uint32_t used = c->rx_cnt - c->fwd_cnt;

	if (believed >= c->s->cfg->buffer_size / 2 && used < believed)
		c->pend |= P_CREDIT;
}

static bool
vs_conn_wants_rx(const struct vconn *c)
{
	if (c->pend != 0)
		return true;
	if (c->state != VC_OPEN || c->guest_no_rcv || vs_peer_credit(c) == 0)
		return false;
	return c->hoff < c->hlen || (c->readable && !c->host_eof);
}

/*
 * Brings a connection's events and its place on the ready list in line
 * with its state, and closes it if it is done.  May free c.
 */
static void
vs_conn_update(struct vconn *c)
{
	struct vs *s = c->s;
	bool want_read, want_write, drained;

	if (c->state == VC_OPEN || c->state == VC_DRAIN) {
		drained = !vs_conn_has_out(c) &&
		    (c->type != VIRTIO_VSOCK_TYPE_SEQPACKET || c->mcur == 0);
		if (drained && c->guest_no_send && !c->wr_shut) {
			shutdown(c->fd, SHUT_WR);
			c->wr_shut = true;
		}
		if (drained && c->state == VC_DRAIN) {
			vs_conn_reset(c, NULL);
			return;
		}
		want_read = c->state == VC_OPEN && !c->host_eof &&
		    !c->guest_no_rcv && !c->readable && c->hoff >= c->hlen &&
		    vs_peer_credit(c) > 0;
		want_write = vs_conn_has_out(c);
		if (want_read)
			event_add(c->rev, NULL);
		else
			event_del(c->rev);
		if (want_write)
			event_add(c->wev, NULL);
		else
			event_del(c->wev);
	}
	if (vs_conn_wants_rx(c) && !c->on_ready) {
		TAILQ_INSERT_TAIL(&s->ready, c, rlink);
		c->on_ready = true;
		vs_rx_schedule(s);
	}
}

static void
vs_conn_readable(evutil_socket_t fd, short ev, void *arg)
{
	struct vconn *c = arg;

	c->readable = true;
	vs_conn_update(c);
}

static void
vs_conn_writable(evutil_socket_t fd, short ev, void *arg)
{
	struct vconn *c = arg;

	if (vs_conn_flush(c) == -1)
		return;
	vs_conn_credit_check(c);
	vs_conn_update(c);
}

static void
vs_conn_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct vconn *c = arg;

	if (c->state == VC_ACCEPTING)
		vs_conn_reset(c, "the guest did not answer in time");
	else if (c->state == VC_DRAIN)
		vs_conn_reset(c, "the host did not read the last bytes in "
		    "time");
}

/* ---- packets to the guest (rx queue) ---- */

static void
vs_hdr_fill(struct virtio_vsock_hdr *h, const struct vs *s,
    const struct vs_key *k, uint16_t type, uint16_t op)
{
	memset(h, 0, sizeof(*h));
	h->src_cid = htole64(k->pcid);
	h->dst_cid = htole64(s->cfg->guest_cid);
	h->src_port = htole32(k->pport);
	h->dst_port = htole32(k->lport);
	h->type = htole16(type);
	h->op = htole16(op);
	h->buf_alloc = htole32(s->cfg->buffer_size);
}

/*
 * Writes the next packet connection c owes the guest into req.  Returns
 * its length, or 0 if it had nothing after all (c may be freed then: the
 * caller looks at c no more).
 */
static uint32_t
vs_conn_fill(struct vconn *c, const struct vq_req *req, bool *freed)
{
	struct vs *s = c->s;
	struct virtio_vsock_hdr h;
	struct iovec iov[VS_IOV_MAX];
	struct msghdr mh;
	uint32_t space, len = 0;
	size_t got;
	unsigned n;
	ssize_t r;
	uint16_t op = 0;

	*freed = false;
	if (c->pend & P_REQUEST) {
		c->pend &= ~P_REQUEST;
		op = VIRTIO_VSOCK_OP_REQUEST;
	} else if (c->pend & P_RESPONSE) {
		c->pend &= ~P_RESPONSE;
		op = VIRTIO_VSOCK_OP_RESPONSE;
	} else if (c->state == VC_OPEN && !c->guest_no_rcv &&
	    vs_peer_credit(c) > 0 && (c->hoff < c->hlen ||
	    (c->readable && !c->host_eof))) {
		space = req->in_len - VS_HDR > VS_MAX_PKT ? VS_MAX_PKT :
		    (uint32_t)(req->in_len - VS_HDR);
		if (space > vs_peer_credit(c))
			space = vs_peer_credit(c);
		if (space == 0)
			goto control;	/* a buffer for a header only */
		if (c->type == VIRTIO_VSOCK_TYPE_STREAM) {
			n = vq_iov_slice(req->in, req->n_in, VS_HDR, space,
			    iov, VS_IOV_MAX, &got);
			r = readv(c->fd, iov, (int)n);
			if (r == -1 && (errno == EAGAIN || errno == EINTR)) {
				c->readable = false;
				goto control;
			}
			if (r == -1) {
				vs_conn_reset(c, "reading the host socket "
				    "failed");
				*freed = true;
				return 0;
			}
			if (r == 0) {
				c->host_eof = true;
				c->readable = false;
				c->pend |= P_SHUTDOWN;
				c->shut_flags |= VIRTIO_VSOCK_SHUTDOWN_SEND;
				goto control;
			}
			len = (uint32_t)r;
			op = VIRTIO_VSOCK_OP_RW;
			vs_hdr_fill(&h, s, &c->key, c->type, op);
		} else {
			if (c->hoff >= c->hlen) {
				/* The next host message: its size first. */
				memset(&mh, 0, sizeof(mh));
				r = recvmsg(c->fd, &mh, MSG_PEEK | MSG_TRUNC |
				    MSG_DONTWAIT);
				if (r == -1 && (errno == EAGAIN ||
				    errno == EINTR)) {
					c->readable = false;
					goto control;
				}
				if (r == 0) {
					c->host_eof = true;
					c->readable = false;
					c->pend |= P_SHUTDOWN;
					c->shut_flags |=
					    VIRTIO_VSOCK_SHUTDOWN_SEND;
					goto control;
				}
				if (r == -1 || (uint64_t)r > s->cfg->buffer_size ||
				    (uint32_t)r > c->peer_buf_alloc) {
					vs_conn_reset(c, r == -1 ?
					    "reading the host socket failed" :
					    "a host message is larger than "
					    "the buffers");
					*freed = true;
					return 0;
				}
				free(c->hbuf);
				if ((c->hbuf = malloc((size_t)r)) == NULL) {
					vs_conn_reset(c, "out of memory");
					*freed = true;
					return 0;
				}
				if (read(c->fd, c->hbuf, (size_t)r) != r) {
					vs_conn_reset(c, "reading the host "
					    "socket failed");
					*freed = true;
					return 0;
				}
				c->hlen = (uint32_t)r;
				c->hoff = 0;
			}
			len = c->hlen - c->hoff;
			if (len > space)
				len = space;
			vq_iov_to(req->in, req->n_in, VS_HDR,
			    c->hbuf + c->hoff, len);
			c->hoff += len;
			op = VIRTIO_VSOCK_OP_RW;
			vs_hdr_fill(&h, s, &c->key, c->type, op);
			if (c->hoff == c->hlen) {
				h.flags = htole32(VIRTIO_VSOCK_SEQ_EOM);
				free(c->hbuf);
				c->hbuf = NULL;
				c->hlen = c->hoff = 0;
			}
		}
		c->tx_cnt += len;
		h.len = htole32(len);
		goto out;
	}
control:
	if (op == 0 && (c->pend & P_SHUTDOWN)) {
		c->pend &= ~P_SHUTDOWN;
		op = VIRTIO_VSOCK_OP_SHUTDOWN;
	} else if (op == 0 && (c->pend & P_CREDIT)) {
		c->pend &= ~P_CREDIT;
		op = VIRTIO_VSOCK_OP_CREDIT_UPDATE;
	}
	if (op == 0)
		return 0;
	vs_hdr_fill(&h, s, &c->key, c->type, op);
	if (op == VIRTIO_VSOCK_OP_SHUTDOWN)
		h.flags = htole32(c->shut_flags);
out:
	h.fwd_cnt = htole32(c->fwd_cnt);
	c->fwd_sent = c->fwd_cnt;
	c->pend &= ~P_CREDIT;	/* every packet carries the credit */
	vq_iov_to(req->in, req->n_in, 0, &h, sizeof(h));
	return VS_HDR + len;
}

static enum dev_run
vs_rx_run(struct vs *s)
{
	struct virtq *vq = s->ctx->vq[VS_RXQ];
	struct virtio_vsock_hdr h;
	struct vconn *c;
	uint32_t len;
	bool freed;
	int r;

	for (;;) {
		if (s->rn == 0 && TAILQ_EMPTY(&s->ready))
			return DEV_RUN_PAUSED;	/* nothing to send */
		if (!s->spare) {
			r = vq_pop(vq, &s->spare_req, s->spare_iov,
			    VS_IOV_MAX);
			if (r != 1)
				return DEV_RUN_DRAINED;	/* wait for buffers */
			s->spare = true;
		}
		if (s->spare_req.in_len < VS_HDR) {
			log_rl(&s->rl, LOG_WARNING, "%s: an rx buffer of %llu "
			    "bytes cannot hold a header; returned empty",
			    s->ctx->id,
			    (unsigned long long)s->spare_req.in_len);
			vq_push(vq, s->spare_req.head, 0);
			s->spare = false;
			continue;
		}
		if (s->rn > 0) {
			struct vs_rst *x = &s->rstq[s->rhead];

			vs_hdr_fill(&h, s, &x->key, x->type,
			    VIRTIO_VSOCK_OP_RST);
			vq_iov_to(s->spare_req.in, s->spare_req.n_in, 0, &h,
			    sizeof(h));
			vq_push(vq, s->spare_req.head, VS_HDR);
			s->spare = false;
			s->rhead = (s->rhead + 1) % VS_RSTQ;
			s->rn--;
			continue;
		}
		c = TAILQ_FIRST(&s->ready);
		TAILQ_REMOVE(&s->ready, c, rlink);
		c->on_ready = false;
		len = vs_conn_fill(c, &s->spare_req, &freed);
		if (len == 0 && !freed && vs_conn_wants_rx(c)) {
			/* Data waits but this buffer has no room for it. */
			log_rl(&s->rl, LOG_WARNING, "%s: an rx buffer of %llu "
			    "bytes has no room for data; returned empty",
			    s->ctx->id,
			    (unsigned long long)s->spare_req.in_len);
			len = 0;
			vq_push(vq, s->spare_req.head, 0);
			s->spare = false;
		} else if (len > 0) {
			vq_push(vq, s->spare_req.head, len);
			s->spare = false;
		}
		if (!freed)
			vs_conn_update(c);
	}
}

static void
vs_rx_event(evutil_socket_t fd, short ev, void *arg)
{
	struct vs *s = arg;

	s->ctx->queue_run(s->ctx, VS_RXQ);
}

/* ---- packets from the guest (tx queue) ---- */

/* An RST for a packet that has no connection (never for an RST). */
static void
vs_reply_rst(struct vs *s, const struct virtio_vsock_hdr *h)
{
	struct vs_key k;

	if (le16toh(h->op) == VIRTIO_VSOCK_OP_RST)
		return;
	k.lport = le32toh(h->src_port);
	k.pport = le32toh(h->dst_port);
	k.pcid = le64toh(h->dst_cid);
	vs_rst_queue(s, &k, le16toh(h->type));
}

static void
vs_guest_connect(struct vs *s, const struct virtio_vsock_hdr *h,
    const struct vs_key *k, uint16_t type)
{
	struct dev_msg m = { .op = VS_MSG_CONNECT };
	struct vs_msg_connect mc;
	struct vconn *c;

	if (k->pcid == s->cfg->guest_cid || k->pcid < VS_CID_HOST ||
	    k->pcid > VS_CID_MAX || k->pport == VS_PORT_ANY) {
		vs_reply_rst(s, h);
		return;
	}
	if ((c = vs_conn_new(s, k, type)) == NULL) {
		vs_reply_rst(s, h);
		return;
	}
	c->state = VC_CONNECTING;
	c->peer_buf_alloc = le32toh(h->buf_alloc);
	c->peer_fwd_cnt = le32toh(h->fwd_cnt);
	memset(&mc, 0, sizeof(mc));
	mc.id = c->id;
	mc.key = *k;
	mc.type = type;
	memcpy(m.data, &mc, sizeof(mc));
	m.len = sizeof(mc);
	if (s->ctx->send_main(s->ctx, &m) == -1)
		vs_conn_reset(c, "main cannot take the connect now");
}

/* An RW packet's payload, [VS_HDR, VS_HDR + len) of the request. */
static void
vs_guest_data(struct vconn *c, const struct vq_req *req, uint32_t len,
    uint32_t flags)
{
	struct vs *s = c->s;
	struct iovec iov[VS_IOV_MAX];
	size_t got;
	unsigned n;
	ssize_t w = 0;

	if (len > s->cfg->buffer_size - (c->rx_cnt - c->fwd_cnt)) {
		vs_conn_reset(c, "the guest sent beyond its credit");
		return;
	}
	c->rx_cnt += len;
	if (c->type == VIRTIO_VSOCK_TYPE_STREAM) {
		if (c->blen == 0 && len > 0) {
			n = vq_iov_slice(req->out, req->n_out, VS_HDR, len,
			    iov, VS_IOV_MAX, &got);
			w = writev(c->fd, iov, (int)n);
			if (w == -1 && errno != EAGAIN && errno != EINTR) {
				vs_conn_reset(c, "the host socket is closed");
				return;
			}
			if (w < 0)
				w = 0;
			c->fwd_cnt += (uint32_t)w;
		}
		if ((uint32_t)w < len && vs_ring_put(c, req->out, req->n_out,
		    VS_HDR + w, len - (uint32_t)w) == -1) {
			vs_conn_reset(c, "out of memory");
			return;
		}
	} else {
		if (c->mn == VS_MSGQ && (flags & VIRTIO_VSOCK_SEQ_EOM)) {
			vs_conn_reset(c, "too many guest messages waiting "
			    "for the host");
			return;
		}
		if (vs_ring_put(c, req->out, req->n_out, VS_HDR, len) == -1) {
			vs_conn_reset(c, "out of memory");
			return;
		}
		c->mcur += len;
		if (flags & VIRTIO_VSOCK_SEQ_EOM) {
			c->msgq[(c->mhead + c->mn) % VS_MSGQ] = c->mcur;
			c->mn++;
			c->mcur = 0;
		}
	}
	if (vs_conn_flush(c) == -1)
		return;
	vs_conn_credit_check(c);
	vs_conn_update(c);
}

static void
vs_guest_shutdown(struct vconn *c, uint32_t flags)
{
	if (flags & VIRTIO_VSOCK_SHUTDOWN_RCV) {
		c->guest_no_rcv = true;
		free(c->hbuf);
		c->hbuf = NULL;
		c->hlen = c->hoff = 0;
	}
	if (flags & VIRTIO_VSOCK_SHUTDOWN_SEND) {
		c->guest_no_send = true;
		/* A message the guest will never end is not sent. */
		if (c->mcur > 0) {
			c->blen -= c->mcur;
			c->fwd_cnt += c->mcur;
			c->mcur = 0;
		}
	}
	if (c->guest_no_rcv && c->guest_no_send) {
		/* The guest closed: flush what it sent, then RST. */
		c->state = VC_DRAIN;
		c->pend = 0;
		if (vs_conn_timer(c, VS_DRAIN_TIMEOUT_S) == -1) {
			vs_conn_reset(c, "out of memory");
			return;
		}
	}
	vs_conn_update(c);
}

static void
vs_tx_packet(struct vs *s, const struct vq_req *req)
{
	struct virtio_vsock_hdr h;
	struct vs_key k;
	struct vconn *c;
	uint32_t len, flags;
	uint16_t type, op;

	if (req->out_len < VS_HDR) {
		log_rl(&s->rl, LOG_WARNING, "%s: a tx buffer of %llu bytes "
		    "is shorter than a packet header; dropped", s->ctx->id,
		    (unsigned long long)req->out_len);
		return;
	}
	vq_iov_from(req->out, req->n_out, 0, &h, sizeof(h));
	len = le32toh(h.len);
	type = le16toh(h.type);
	op = le16toh(h.op);
	flags = le32toh(h.flags);
	k.lport = le32toh(h.src_port);
	k.pport = le32toh(h.dst_port);
	k.pcid = le64toh(h.dst_cid);
	if (le64toh(h.src_cid) != s->cfg->guest_cid) {
		log_rl(&s->rl, LOG_WARNING, "%s: a packet from CID %llu, not "
		    "the guest's %llu; dropped", s->ctx->id,
		    (unsigned long long)le64toh(h.src_cid),
		    (unsigned long long)s->cfg->guest_cid);
		return;
	}
	c = vs_find(s, &k);
	if (len > VS_MAX_PKT || len > req->out_len - VS_HDR) {
		log_rl(&s->rl, LOG_WARNING, "%s: a packet says %u payload "
		    "bytes, its buffer holds %llu", s->ctx->id, len,
		    (unsigned long long)(req->out_len - VS_HDR));
		if (c != NULL)
			vs_conn_reset(c, "bad packet length");
		else
			vs_reply_rst(s, &h);
		return;
	}
	if (type != VIRTIO_VSOCK_TYPE_STREAM &&
	    !(type == VIRTIO_VSOCK_TYPE_SEQPACKET && vs_seqpacket_ok(s))) {
		log_rl(&s->rl, LOG_WARNING, "%s: a packet of socket type %u, "
		    "which this device does not offer", s->ctx->id, type);
		if (c != NULL)
			vs_conn_reset(c, "a packet of a socket type not "
			    "offered");
		else
			vs_reply_rst(s, &h);
		return;
	}
	if (c != NULL && c->type != type) {
		vs_conn_reset(c, "a packet of another socket type");
		return;
	}
	if (c != NULL) {
		c->peer_buf_alloc = le32toh(h.buf_alloc);
		c->peer_fwd_cnt = le32toh(h.fwd_cnt);
	}
	switch (op) {
	case VIRTIO_VSOCK_OP_REQUEST:
		if (c != NULL) {
			vs_conn_reset(c, "a second request");
			return;
		}
		vs_guest_connect(s, &h, &k, type);
		return;
	case VIRTIO_VSOCK_OP_RESPONSE:
		if (c == NULL) {
			vs_reply_rst(s, &h);
			return;
		}
		if (c->state != VC_ACCEPTING) {
			vs_conn_reset(c, "a response out of place");
			return;
		}
		if (c->timer != NULL)
			evtimer_del(c->timer);
		if (c->greet_len > 0 &&
		    write(c->fd, c->greet, c->greet_len) !=
		    (ssize_t)c->greet_len) {
			vs_conn_reset(c, "the host socket is closed");
			return;
		}
		c->state = VC_OPEN;
		vs_answer(s, c->token, true);
		vs_conn_update(c);
		return;
	case VIRTIO_VSOCK_OP_RST:
		if (c != NULL)
			vs_conn_free(c);
		return;
	case VIRTIO_VSOCK_OP_SHUTDOWN:
		if (c == NULL) {
			vs_reply_rst(s, &h);
			return;
		}
		if (c->state != VC_OPEN) {
			vs_conn_reset(c, "a shutdown out of place");
			return;
		}
		vs_guest_shutdown(c, flags);
		return;
	case VIRTIO_VSOCK_OP_RW:
		if (c == NULL) {
			vs_reply_rst(s, &h);
			return;
		}
		if (c->state != VC_OPEN || c->guest_no_send) {
			vs_conn_reset(c, "data out of place");
			return;
		}
		vs_guest_data(c, req, len, flags);
		return;
	case VIRTIO_VSOCK_OP_CREDIT_UPDATE:
		if (c == NULL) {
			vs_reply_rst(s, &h);
			return;
		}
		vs_conn_update(c);
		return;
	case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
		if (c == NULL) {
			vs_reply_rst(s, &h);
			return;
		}
		c->pend |= P_CREDIT;
		vs_conn_update(c);
		return;
	default:
		log_rl(&s->rl, LOG_WARNING, "%s: a packet of unknown op %u",
		    s->ctx->id, op);
		if (c != NULL)
			vs_conn_reset(c, "unknown op");
		else
			vs_reply_rst(s, &h);
		return;
	}
}

static enum dev_run
vs_tx_run(struct vs *s)
{
	struct virtq *vq = s->ctx->vq[VS_TXQ];
	struct vq_req req;

	while (vq_pop(vq, &req, s->iov, VS_IOV_MAX) == 1) {
		/* A packet a worker that died had taken belongs to a
		 * connection that died with it: dropped (the transport
		 * reset tells the guest). */
		if (!req.resubmitted)
			vs_tx_packet(s, &req);
		vq_push(vq, req.head, 0);
	}
	return DEV_RUN_DRAINED;
}

#define VIRTIO_VSOCK_EVENT_TRANSPORT_RESET	0

/*
 * The event queue.  Its buffers stay in the ring, but for one: a worker
 * that replaces one that died has none of its connections, so it tells
 * the guest's driver with a transport reset (VIRTIO 1.2 5.10.6.5), which
 * resets every socket the guest had.
 */
static enum dev_run
vs_ev_run(struct vs *s)
{
	struct virtq *vq = s->ctx->vq[VS_EVQ];
	struct vq_req req;
	uint32_t id = htole32(VIRTIO_VSOCK_EVENT_TRANSPORT_RESET);

	while (s->ctx->restarted && !s->reset_sent) {
		if (vq_pop(vq, &req, s->iov, VS_IOV_MAX) != 1)
			return DEV_RUN_DRAINED;
		if (req.in_len < sizeof(id)) {
			vq_push(vq, req.head, 0);
			continue;
		}
		vq_iov_to(req.in, req.n_in, 0, &id, sizeof(id));
		vq_push(vq, req.head, sizeof(id));
		s->reset_sent = true;
		log_warnx("%s: told the guest its connections are gone "
		    "(transport reset)", s->ctx->id);
	}
	return DEV_RUN_PAUSED;
}

/* ---- messages from main ---- */

static void
vs_main_result(struct vs *s, const struct vs_msg_result *r, int fd)
{
	struct vconn *c = vs_find(s, &r->key);

	if (c == NULL || c->id != r->id || c->state != VC_CONNECTING) {
		/* The guest gave up meanwhile. */
		if (fd != -1)
			close(fd);
		return;
	}
	if (r->err != 0 || fd == -1) {
		if (fd != -1)
			close(fd);
		vs_conn_reset(c, NULL);
		return;
	}
	if (vs_conn_attach(c, fd) == -1) {
		vs_conn_reset(c, "out of memory");
		return;
	}
	c->state = VC_OPEN;
	c->pend |= P_RESPONSE;
	vs_conn_update(c);
}

static void
vs_main_incoming(struct vs *s, const struct vs_msg_incoming *in, int fd)
{
	struct vconn *c;
	const char *why = NULL;

	if (in->type != VIRTIO_VSOCK_TYPE_STREAM &&
	    !(in->type == VIRTIO_VSOCK_TYPE_SEQPACKET && vs_seqpacket_ok(s)))
		why = "the guest's driver did not accept that socket type";
	else if (in->greet_len > VS_GREET_MAX)
		why = "a bad greeting";
	else if (s->ctx->vq[VS_RXQ] == NULL || s->ctx->vq[VS_TXQ] == NULL)
		why = "the guest's driver is not running";
	else if (vs_find(s, &in->key) != NULL)
		why = "that connection exists";
	if (why != NULL || (c = vs_conn_new(s, &in->key,
	    (uint16_t)in->type)) == NULL) {
		if (why != NULL)
			log_rl(&s->rl, LOG_INFO, "%s: refusing a connection "
			    "to guest port %u: %s", s->ctx->id,
			    in->key.lport, why);
		close(fd);
		vs_answer(s, in->token, false);
		return;
	}
	c->token = in->token;
	c->state = VC_ACCEPTING;
	memcpy(c->greet, in->greet, in->greet_len);
	c->greet_len = in->greet_len;
	c->pend |= P_REQUEST;
	if (vs_conn_attach(c, fd) == -1 ||
	    vs_conn_timer(c, VS_ACCEPT_TIMEOUT_S) == -1) {
		vs_conn_free(c);	/* answers "refused" */
		return;
	}
	vs_conn_update(c);
}

static void
vsock_worker_msg(struct dev_ctx *ctx, const struct dev_msg *m, int fd)
{
	struct vs *s = ctx->priv;
	struct vs_msg_result r;
	struct vs_msg_incoming in;

	if (m->op == VS_MSG_RESULT && m->len == sizeof(r)) {
		memcpy(&r, m->data, sizeof(r));
		vs_main_result(s, &r, fd);
	} else if (m->op == VS_MSG_INCOMING && m->len == sizeof(in) &&
	    fd != -1) {
		memcpy(&in, m->data, sizeof(in));
		vs_main_incoming(s, &in, fd);
	} else {
		log_warnx("%s: a bad message from main (op %u)", ctx->id,
		    m->op);
		if (fd != -1)
			close(fd);
	}
}

/* ---- worker hooks ---- */

static int
vsock_init(struct dev_ctx *ctx)
{
	struct vs *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -1;
	s->ctx = ctx;
	s->cfg = ctx->cfg;
	s->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT;
	TAILQ_INIT(&s->ready);
	if ((s->rx_ev = event_new(ctx->base, -1, 0, vs_rx_event, s)) ==
	    NULL) {
		free(s);
		return -1;
	}
	ctx->priv = s;
	return 0;
}

static enum dev_run
vsock_run(struct dev_ctx *ctx, unsigned q)
{
	struct vs *s = ctx->priv;

	switch (q) {
	case VS_RXQ:
		return vs_rx_run(s);
	case VS_TXQ:
		return vs_tx_run(s);
	default:
		return vs_ev_run(s);
	}
}

static void
vsock_queue_stop(struct dev_ctx *ctx, unsigned q)
{
	struct vs *s = ctx->priv;

	if (q == VS_RXQ)
		s->spare = false;	/* its ring is gone */
}

static void
vsock_reset(struct dev_ctx *ctx)
{
	struct vs *s = ctx->priv;
	unsigned i;

	for (i = 0; i < VS_NBUCKET; i++)
		while (s->bucket[i] != NULL)
			vs_conn_free(s->bucket[i]);
	s->rn = s->rhead = 0;
	s->spare = false;
	event_del(s->rx_ev);
}

static void
vsock_fini(struct dev_ctx *ctx)
{
	struct vs *s = ctx->priv;

	if (s == NULL)
		return;
	vsock_reset(ctx);
	event_free(s->rx_ev);
	free(s);
	ctx->priv = NULL;
}

/* ---- main side ---- */

/* A host socket accepted on uds_path, waiting for its CONNECT line. */
struct vm_host {
	TAILQ_ENTRY(vm_host)	 link;
	struct vm		*vm;
	int			 fd;
	uint16_t		 type;
	struct event		*ev;	/* the fd, then the parked timer */
	char			 line[VS_HOST_LINE_MAX];
	size_t			 got;
	bool			 parked;	/* waits for the worker */
	uint32_t		 port;
};

/* A guest's connect to a sibling, waiting for the sibling guest. */
struct vm_sib {
	TAILQ_ENTRY(vm_sib)	 link;
	uint64_t		 token;
	struct inst		*from, *to;
	uint64_t		 id;		/* from's connection */
	struct vs_key		 key;		/* as from sees it */
	int			 fd;		/* from's end */
	struct event		*timer;
};

struct vm {
	struct inst		*in;
	const struct vsock_cfg	*cfg;
	int			 lfd[2];	/* stream, seqpacket */
	struct event		*lev[2];
	char			 lpath[2][VS_UDS_MAX + 16];
	TAILQ_HEAD(, vm_host)	 hosts;
	unsigned		 nhosts;
	uint32_t		 next_port;
	struct log_ratelimit	 rl;
};

static TAILQ_HEAD(, vm_sib) vm_sibs = TAILQ_HEAD_INITIALIZER(vm_sibs);
static uint64_t vm_next_token;

extern const struct dev_ops vsock_ops;

static void
vm_host_free(struct vm_host *h)
{
	TAILQ_REMOVE(&h->vm->hosts, h, link);
	h->vm->nhosts--;
	event_free(h->ev);
	if (h->fd != -1)
		close(h->fd);
	free(h);
}

static void
vm_sib_free(struct vm_sib *p)
{
	TAILQ_REMOVE(&vm_sibs, p, link);
	if (p->timer != NULL)
		event_free(p->timer);
	if (p->fd != -1)
		close(p->fd);
	free(p);
}

static void
vm_result(struct inst *in, uint64_t id, const struct vs_key *k, int err,
    int fd)
{
	struct dev_msg m = { .op = VS_MSG_RESULT };
	struct vs_msg_result r;

	memset(&r, 0, sizeof(r));
	r.id = id;
	r.key = *k;
	r.err = fd == -1 ? (err != 0 ? err : ECONNREFUSED) : 0;
	memcpy(m.data, &r, sizeof(r));
	m.len = sizeof(r);
	(void)dev_inst_send(in, &m, r.err == 0 ? fd : -1);
}

static int
vm_incoming(struct inst *in, uint64_t token, const struct vs_key *k,
    uint16_t type, const char *greet, int fd)
{
	struct dev_msg m = { .op = VS_MSG_INCOMING };
	struct vs_msg_incoming i;

	memset(&i, 0, sizeof(i));
	i.token = token;
	i.key = *k;
	i.type = type;
	if (greet != NULL) {
		i.greet_len = (uint32_t)strlen(greet);
		memcpy(i.greet, greet, i.greet_len);
	}
	memcpy(m.data, &i, sizeof(i));
	m.len = sizeof(i);
	return dev_inst_send(in, &m, fd);
}

/* Parses "CONNECT <port>\n" (a trailing "\r" allowed). */
static int
vm_parse_connect(const char *line, size_t len, uint32_t *port)
{
	uint64_t v = 0;
	size_t i = 8;

	if (len < 10 || memcmp(line, "CONNECT ", 8) != 0 ||
	    line[len - 1] != '\n')
		return -1;
	len--;
	if (line[len - 1] == '\r')
		len--;
	if (i == len)
		return -1;
	for (; i < len; i++) {
		if (line[i] < '0' || line[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(line[i] - '0');
		if (v >= VS_PORT_ANY)
			return -1;
	}
	*port = (uint32_t)v;
	return 0;
}

/* A host connection's CONNECT line was read: off to the worker. */
static void
vm_host_place(struct vm_host *h)
{
	struct vm *vm = h->vm;
	char greet[VS_GREET_MAX];
	struct vs_key k;

	if (!dev_inst_worker_ready(vm->in)) {
		log_rl(&vm->rl, LOG_INFO, "%s: host connection to guest port "
		    "%u refused: no guest is connected", dev_inst_id(vm->in),
		    h->port);
		vm_host_free(h);
		return;
	}
	k.lport = h->port;
	k.pcid = VS_CID_HOST;
	k.pport = vm->next_port;
	if (++vm->next_port == VS_PORT_ANY)
		vm->next_port = 1024;
	snprintf(greet, sizeof(greet), "OK %u\n", k.pport);
	(void)vm_incoming(vm->in, 0, &k, h->type, greet, h->fd);
	vm_host_free(h);	/* the worker has its copy, or none */
}

static void
vm_host_readable(evutil_socket_t fd, short ev, void *arg)
{
	struct vm_host *h = arg;
	struct vm *vm = h->vm;
	struct timeval tv = { VS_HOST_LINE_TIMEOUT_S, 0 };
	struct iovec iov;
	struct msghdr mh;
	ssize_t r;
	uint32_t port;

	if (h->parked) {
		/* Timed out waiting for the worker. */
		vm_host_place(h);
		return;
	}
	if (ev & EV_TIMEOUT) {
		log_rl(&vm->rl, LOG_INFO, "%s: a host connection sent no "
		    "CONNECT line in time", dev_inst_id(vm->in));
		vm_host_free(h);
		return;
	}
	if (h->type == VIRTIO_VSOCK_TYPE_SEQPACKET) {
		/* One message is the line. */
		memset(&mh, 0, sizeof(mh));
		iov.iov_base = h->line;
		iov.iov_len = VS_HOST_LINE_MAX;
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		r = recvmsg(fd, &mh, MSG_DONTWAIT);
		if (r == -1 && (errno == EAGAIN || errno == EINTR))
			return;
		if (r <= 0 || (mh.msg_flags & MSG_TRUNC))
			goto bad;
		h->got = (size_t)r;
	} else {
		/* Byte by byte: what follows the line is the guest's. */
		for (;;) {
			if (h->got == VS_HOST_LINE_MAX)
				goto bad;
			r = read(fd, h->line + h->got, 1);
			if (r == -1 && (errno == EAGAIN || errno == EINTR))
				return;
			if (r <= 0)
				goto bad;
			if (h->line[h->got++] == '\n')
				break;
		}
	}
	if (vm_parse_connect(h->line, h->got, &port) == -1)
		goto bad;
	h->port = port;
	if (!dev_inst_worker_ready(vm->in) && dev_inst_frontend(vm->in)) {
		/* The front-end is there, its worker is starting: wait for
		 * it (vsock_main_worker_ready), no longer than the line's
		 * timeout. */
		event_free(h->ev);
		h->ev = evtimer_new(dev_inst_base(vm->in), vm_host_readable,
		    h);
		if (h->ev == NULL || evtimer_add(h->ev, &tv) == -1) {
			vm_host_free(h);
			return;
		}
		h->parked = true;
		return;
	}
	vm_host_place(h);
	return;
bad:
	log_rl(&vm->rl, LOG_INFO, "%s: a host connection sent no valid "
	    "\"CONNECT <port>\" line", dev_inst_id(vm->in));
	vm_host_free(h);
}

static void
vm_accept(evutil_socket_t lfd, short ev, void *arg)
{
	struct vm *vm = arg;
	struct vm_host *h;
	struct timeval tv = { VS_HOST_LINE_TIMEOUT_S, 0 };
	uint16_t type = lfd == vm->lfd[1] ? VIRTIO_VSOCK_TYPE_SEQPACKET :
	    VIRTIO_VSOCK_TYPE_STREAM;
	int fd;

	fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd == -1) {
		if (errno != EAGAIN && errno != EINTR &&
		    errno != ECONNABORTED)
			log_rl(&vm->rl, LOG_WARNING, "%s: accept on its host "
			    "socket: %s", dev_inst_id(vm->in),
			    strerror(errno));
		return;
	}
	if (vm->nhosts >= VS_HOST_PENDING_MAX ||
	    (h = calloc(1, sizeof(*h))) == NULL) {
		log_rl(&vm->rl, LOG_WARNING, "%s: too many host connections "
		    "waiting to be placed; one closed", dev_inst_id(vm->in));
		close(fd);
		return;
	}
	h->vm = vm;
	h->fd = fd;
	h->type = type;
	h->ev = event_new(dev_inst_base(vm->in), fd, EV_READ | EV_PERSIST,
	    vm_host_readable, h);
	if (h->ev == NULL || event_add(h->ev, &tv) == -1) {
		if (h->ev != NULL)
			event_free(h->ev);
		close(fd);
		free(h);
		return;
	}
	TAILQ_INSERT_TAIL(&vm->hosts, h, link);
	vm->nhosts++;
}

static int
vsock_main_start(struct inst *in, char *err, size_t errlen)
{
	const struct vsock_cfg *c = dev_inst_cfg(in);
	static const int types[2] = { SOCK_STREAM, SOCK_SEQPACKET };
	struct vm *vm;
	unsigned i;

	if ((vm = calloc(1, sizeof(*vm))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	vm->in = in;
	vm->cfg = c;
	vm->lfd[0] = vm->lfd[1] = -1;
	vm->next_port = 1024;
	vm->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT;
	TAILQ_INIT(&vm->hosts);
	dev_inst_set_priv(in, vm);
	snprintf(vm->lpath[0], sizeof(vm->lpath[0]), "%s", c->uds_path);
	snprintf(vm->lpath[1], sizeof(vm->lpath[1]), "%s.seqpacket",
	    c->uds_path);
	for (i = 0; i < 2; i++) {
		if ((vm->lfd[i] = dev_inst_listen(in, vm->lpath[i],
		    types[i])) == -1) {
			snprintf(err, errlen, "cannot serve its host socket "
			    "%s", vm->lpath[i]);
			return -1;
		}
		vm->lev[i] = event_new(dev_inst_base(in), vm->lfd[i],
		    EV_READ | EV_PERSIST, vm_accept, vm);
		if (vm->lev[i] == NULL || event_add(vm->lev[i], NULL) == -1) {
			snprintf(err, errlen, "cannot watch its host socket");
			return -1;
		}
	}
	return 0;
}

static void
vsock_main_stop(struct inst *in)
{
	struct vm *vm = dev_inst_priv(in);
	unsigned i;

	if (vm == NULL)
		return;
	vsock_ops.main_worker_gone(in);
	while (!TAILQ_EMPTY(&vm->hosts))
		vm_host_free(TAILQ_FIRST(&vm->hosts));
	for (i = 0; i < 2; i++) {
		if (vm->lev[i] != NULL)
			event_free(vm->lev[i]);
		if (vm->lfd[i] != -1) {
			close(vm->lfd[i]);
			if (unlink(vm->lpath[i]) == -1 && errno != ENOENT)
				log_warn("%s: removing %s", dev_inst_id(in),
				    vm->lpath[i]);
		}
	}
	free(vm);
	dev_inst_set_priv(in, NULL);
}

static void
vm_sib_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct vm_sib *p = arg;

	vm_result(p->from, p->id, &p->key, ETIMEDOUT, -1);
	vm_sib_free(p);
}

/* The sibling vsock device of `in` with CID cid, if in the same group. */
static struct inst *
vm_sibling(struct inst *in, uint64_t cid)
{
	const struct vsock_cfg *c = dev_inst_cfg(in), *o;
	struct inst *x;

	if (c->group[0] == '\0')
		return NULL;
	for (x = dev_inst_next(NULL); x != NULL; x = dev_inst_next(x)) {
		if (x == in || dev_inst_ops(x) != &vsock_ops)
			continue;
		o = dev_inst_cfg(x);
		if (o->guest_cid == cid && strcmp(o->group, c->group) == 0)
			return x;
	}
	return NULL;
}

static void
vm_guest_connect(struct inst *in, const struct vs_msg_connect *mc)
{
	struct vm *vm = dev_inst_priv(in);
	const struct vsock_cfg *c = vm->cfg;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct timeval tv = { VS_SIB_TIMEOUT_S, 0 };
	struct vm_sib *p;
	struct inst *to;
	struct vs_key k;
	int type, fd, sv[2], err;

	if (mc->type != VIRTIO_VSOCK_TYPE_STREAM &&
	    mc->type != VIRTIO_VSOCK_TYPE_SEQPACKET) {
		vm_result(in, mc->id, &mc->key, EINVAL, -1);
		return;
	}
	type = mc->type == VIRTIO_VSOCK_TYPE_STREAM ? SOCK_STREAM :
	    SOCK_SEQPACKET;
	if (mc->key.pcid == VS_CID_HOST) {
		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s_%u",
		    c->uds_path, mc->key.pport);
		fd = socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd == -1) {
			vm_result(in, mc->id, &mc->key, errno, -1);
			return;
		}
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
			err = errno;
			log_rl(&vm->rl, LOG_INFO, "%s: guest connect to host "
			    "port %u: %s: %s", dev_inst_id(in), mc->key.pport,
			    sun.sun_path, strerror(err));
			close(fd);
			vm_result(in, mc->id, &mc->key, err, -1);
			return;
		}
		vm_result(in, mc->id, &mc->key, 0, fd);
		close(fd);
		return;
	}
	if ((to = vm_sibling(in, mc->key.pcid)) == NULL ||
	    !dev_inst_worker_ready(to)) {
		log_rl(&vm->rl, LOG_INFO, "%s: guest connect to CID %llu port "
		    "%u refused: %s", dev_inst_id(in),
		    (unsigned long long)mc->key.pcid, mc->key.pport,
		    to == NULL ? "no such CID in its group" :
		    "that guest is not connected");
		vm_result(in, mc->id, &mc->key, ECONNRESET, -1);
		return;
	}
	if (socketpair(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    sv) == -1) {
		vm_result(in, mc->id, &mc->key, errno, -1);
		return;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->timer = evtimer_new(dev_inst_base(in), vm_sib_timeout, p)) ==
	    NULL) {
		free(p);
		close(sv[0]);
		close(sv[1]);
		vm_result(in, mc->id, &mc->key, ENOMEM, -1);
		return;
	}
	p->token = ++vm_next_token;
	p->from = in;
	p->to = to;
	p->id = mc->id;
	p->key = mc->key;
	p->fd = sv[0];
	TAILQ_INSERT_TAIL(&vm_sibs, p, link);
	evtimer_add(p->timer, &tv);
	/* As the sibling sees it: from this guest's CID and port. */
	k.lport = mc->key.pport;
	k.pport = mc->key.lport;
	k.pcid = c->guest_cid;
	err = vm_incoming(to, p->token, &k, (uint16_t)mc->type, NULL, sv[1]);
	close(sv[1]);
	if (err == -1) {
		vm_result(in, mc->id, &mc->key, ECONNRESET, -1);
		vm_sib_free(p);
	}
}

static void
vm_answer(struct inst *in, const struct vs_msg_answer *a)
{
	struct vm_sib *p;

	TAILQ_FOREACH(p, &vm_sibs, link)
		if (p->token == a->token && p->to == in)
			break;
	if (p == NULL)
		return;		/* timed out, or its guest went away */
	vm_result(p->from, p->id, &p->key, a->accepted ? 0 : ECONNRESET,
	    a->accepted ? p->fd : -1);
	vm_sib_free(p);
}

static void
vsock_main_msg(struct inst *in, const struct dev_msg *m)
{
	struct vm *vm = dev_inst_priv(in);
	struct vs_msg_connect mc;
	struct vs_msg_answer a;

	if (m->op == VS_MSG_CONNECT && m->len == sizeof(mc)) {
		memcpy(&mc, m->data, sizeof(mc));
		vm_guest_connect(in, &mc);
	} else if (m->op == VS_MSG_ANSWER && m->len == sizeof(a)) {
		memcpy(&a, m->data, sizeof(a));
		vm_answer(in, &a);
	} else
		log_rl(&vm->rl, LOG_WARNING, "%s: its worker sent a bad "
		    "message (op %u, %u bytes)", dev_inst_id(in), m->op,
		    m->len);
}

static void
vsock_main_worker_ready(struct inst *in)
{
	struct vm *vm = dev_inst_priv(in);
	struct vm_host *h, *t;

	if (vm == NULL)
		return;
	for (h = TAILQ_FIRST(&vm->hosts); h != NULL; h = t) {
		t = TAILQ_NEXT(h, link);
		if (h->parked)
			vm_host_place(h);
	}
}

static void
vsock_main_worker_gone(struct inst *in)
{
	struct vm *vm = dev_inst_priv(in);
	struct vm_sib *p, *t;

	if (vm == NULL)
		return;
	for (p = TAILQ_FIRST(&vm_sibs); p != NULL; p = t) {
		t = TAILQ_NEXT(p, link);
		if (p->to == in)
			vm_result(p->from, p->id, &p->key, ECONNRESET, -1);
		if (p->to == in || p->from == in)
			vm_sib_free(p);
	}
	while (!TAILQ_EMPTY(&vm->hosts))
		vm_host_free(TAILQ_FIRST(&vm->hosts));
}

const struct dev_ops vsock_ops = {
	.name = "vsock",
	.virtio_id = 19,
	.num_queues = 3,
	.features = (UINT64_C(1) << VS_F_STREAM) |
	    (UINT64_C(1) << VS_F_SEQPACKET),
	.cfg_size = sizeof(struct vsock_cfg),
	.config_space_size = sizeof(struct virtio_vsock_config),
	.parse = vsock_parse,
	.claims = vsock_claims,
	.config_space = vsock_config_space,
	.init = vsock_init,
	.run = vsock_run,
	.queue_stop = vsock_queue_stop,
	.reset = vsock_reset,
	.fini = vsock_fini,
	.extra_fds = vsock_extra_fds,
	.worker_msg = vsock_worker_msg,
	.main_start = vsock_main_start,
	.main_msg = vsock_main_msg,
	.main_worker_ready = vsock_main_worker_ready,
	.main_worker_gone = vsock_main_worker_gone,
	.main_stop = vsock_main_stop,
};
