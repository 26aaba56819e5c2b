/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The vsock device (virtio ID 19, VIRTIO 1.2 section 5.10) against the real
 * vhostd ($VHOSTD).  The vufront library plays the VMM; the code here
 * plays the guest's vsock driver (it writes and reads struct
 * virtio_vsock_hdr packets on the rx, tx and event queues itself) and the
 * host programs on the other side of the device's UNIX sockets:
 *
 *   host -> guest  a host program connects to uds_path (SOCK_STREAM) or
 *                  <uds_path>.seqpacket (SOCK_SEQPACKET), writes
 *                  "CONNECT <port>\n"; the guest sees OP_REQUEST and
 *                  answers; the host reads "OK <hostport>\n".
 *   guest -> host  OP_REQUEST to CID 2 port P: vhostd connects to
 *                  <uds_path>_<P> (a listener of this program).
 *   guest -> guest two vsock devices of one "group" reach each other by CID.
 *
 * Each test starts its own vhostd (config in a fresh mkdtemp directory) and
 * ends it with SIGTERM, checking exit 0 and that every socket (the
 * device's, uds_path, uds_path.seqpacket) is gone.  Every wait is bounded.
 * Credit is checked on every packet the device puts on rx: it may never
 * send more than the guest's advertised buf_alloc - (rx_cnt - fwd_cnt).
 *
 * Checks that fail the test at once: everything the brief of the device
 * asks for.  "Soft" checks (spec conformance the brief does not spell out,
 * e.g. the used length of tx chains) are collected and fail the test at
 * its end, so that one does not hide the others.  Cases marked "(extra)"
 * in their name or message go beyond the device's written requirements.
 *
 * On a failure the last packets (both directions, every guest) and
 * vhostd's log are printed.  VSOCK_TRACE=1 prints every packet as it
 * goes; VSOCK_ONLY=<glob> runs only the matching tests; VUF_VERBOSE=1
 * starts vhostd with -v.  Without $VHOSTD the tests skip.
 */
#include "config.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "vuf_daemon.h"
#include "vufront.h"

/* ---- the device, as the spec and the brief say ---- */

#define VSOCK_ID		19
#define F_STREAM		0	/* VIRTIO_VSOCK_F_STREAM */
#define F_SEQPACKET		1	/* VIRTIO_VSOCK_F_SEQPACKET */

#define OP_INVALID		0
#define OP_REQUEST		1
#define OP_RESPONSE		2
#define OP_RST			3
#define OP_SHUTDOWN		4
#define OP_RW			5
#define OP_CREDIT_UPDATE	6
#define OP_CREDIT_REQUEST	7

#define T_STREAM		1
#define T_SEQPACKET		2

#define SHUT_F_RCV		1
#define SHUT_F_SEND		2
#define SEQ_EOM			1

#define HOST_CID		2
#define DEF_BUFSIZE		262144u
#define DEF_MAXCONN		128u

/* struct virtio_vsock_hdr of <linux/virtio_vsock.h>: 44 bytes, packed,
 * little-endian on the wire.  Here in host order once read. */
#define HDR_LEN		VUF_VSOCK_HDR
_Static_assert(offsetof(struct vuf_vsock_hdr, op) == 30, "vsock header op");
_Static_assert(offsetof(struct vuf_vsock_hdr, fwd_cnt) == 40, "vsock header");

/* ---- the test's guest and its memory ---- */

#define QSIZE		128
#define NQ		3
#define RXQ		0
#define TXQ		1
#define EVQ		2
#define RXN		56		/* rx buffers posted (2 descs each max) */
#define RX_DATA		4096		/* payload room of each rx buffer */
#define TX_PAYLOAD	4096		/* largest payload of a tx slot */
#define TX_OFF		64		/* payload offset in a split tx slot */
#define TX_SLOT		(TX_OFF + TX_PAYLOAD + 64)
#define BIG_LEN		(80 * 1024)	/* one big tx buffer, region 2 */
#define EVN		4		/* event buffers (held by the device) */
#define MAX_CONNS	64

#define WAIT_MS		(3000 * daemon_slow())	/* VUF_SLOW: under valgrind */
#define QUIET_MS	300

#define ANY32		UINT32_MAX
#define ANY64		UINT64_MAX
#define OPB(op)		(1u << (op))

enum txl {
	TX_SPLIT,	/* header descriptor, then payload descriptor (Linux) */
	TX_ONE,		/* header and payload in one descriptor */
};

struct pkt {
	struct vuf_vsock_hdr	h;
	uint32_t		used;		/* used length of the rx chain */
	uint8_t			data[];		/* h.len bytes */
};

struct rxbuf {
	uint64_t	hdr;		/* guest-physical */
	uint64_t	data;		/* = hdr + HDR_LEN unless split */
};

struct conn;

struct guest {
	struct vuf	*v;
	int		 dev;
	uint64_t	 cid;
	char		 name[32];
	bool		 rx_split;	/* rx buffers as 2 descriptors */
	uint32_t	 rx_data;	/* payload room posted, <= RX_DATA */
	enum txl	 tx_layout;
	bool		 foreign_ok;	/* tolerate rx with another dst_cid */
	bool		 tx_len_noted;
	struct rxbuf	 rx[RXN];
	int		 rx_of_head[QSIZE];
	uint64_t	 tx_slot[QSIZE];
	uint64_t	 big;
	uint64_t	 ev[EVN];
	struct pkt	**bl;		/* received, not yet taken */
	unsigned	 nbl, capbl;
	struct conn	*conns[MAX_CONNS];
	uint32_t	 next_port;
};

/* One connection as the guest sees it. */
struct conn {
	struct guest	*g;
	uint64_t	 peer_cid;
	uint32_t	 lport, pport;		/* guest's port, peer's port */
	uint16_t	 type;
	uint32_t	 buf_alloc, fwd_cnt;	/* ours, now */
	uint32_t	 adv_buf_alloc, adv_fwd_cnt;	/* ours, last sent */
	uint32_t	 rx_cnt, tx_cnt;
	uint32_t	 peer_buf_alloc, peer_fwd_cnt;
	bool		 peer_known;
	bool		 registered;
};

struct match {
	uint64_t	src_cid;
	uint32_t	src_port, dst_port;
	uint32_t	ops;		/* OPB() mask, 0: any */
};

/* ---- per-test state ---- */

#define MAX_FDS		512

static struct {
	struct daemon	*d;
	const void	*row;		/* table-driven tests: the row */
	struct guest	*g[DAEMON_MAX_DEVS];
	int		 fds[MAX_FDS];
	unsigned	 nfds;
	char		 uds[DAEMON_MAX_DEVS][PATH_MAX];
	char		 id[DAEMON_MAX_DEVS][32];
	uint32_t	 bufsize[DAEMON_MAX_DEVS];
	uint64_t	 cid[DAEMON_MAX_DEVS];
	long		 logoff;
	uint32_t	 rx_data;	/* rx buffer payload room, 0: RX_DATA */
} E;

/* ---- trace of packets, soft failures ---- */

#define TRACE_KEEP	240
#define TRACE_LEN	224
static char	 trace_ring[TRACE_KEEP][TRACE_LEN];
static unsigned	 trace_next;
static bool	 trace_live;

#define SOFT_KEEP	16
static char	 soft_msgs[SOFT_KEEP][320];
static unsigned	 nsoft;

static void trace(const char *, ...) __attribute__((format(printf, 1, 2)));
static void soft_fail(const char *, ...)
    __attribute__((format(printf, 1, 2)));

static void
trace(const char *fmt, ...)
{
	char *s = trace_ring[trace_next % TRACE_KEEP];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s, TRACE_LEN, fmt, ap);
	va_end(ap);
	trace_next++;
	if (trace_live)
		fprintf(stderr, "  | %s\n", s);
}

static void
trace_dump(void)
{
	unsigned i = trace_next > TRACE_KEEP ? trace_next - TRACE_KEEP : 0;

	if (trace_next == 0)
		return;
	fprintf(stderr, "---- last %u packets and events (oldest first)\n",
	    trace_next - i);
	for (; i < trace_next; i++)
		fprintf(stderr, "  | %s\n", trace_ring[i % TRACE_KEEP]);
	fprintf(stderr, "----\n");
}

static void
soft_fail(const char *fmt, ...)
{
	char msg[320];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "SOFT FAIL: %s\n", msg);
	trace("SOFT FAIL: %s", msg);
	if (nsoft < SOFT_KEEP)
		memcpy(soft_msgs[nsoft], msg, sizeof(msg));
	nsoft++;
}

static void
soft_check(void)
{
	unsigned i;

	if (nsoft == 0)
		return;
	for (i = 0; i < nsoft && i < SOFT_KEEP; i++)
		fprintf(stderr, "soft failure %u: %s\n", i + 1, soft_msgs[i]);
	trace_dump();
	fail_msg("%u soft failure(s); first: %s", nsoft, soft_msgs[0]);
}

static const char *
op_name(unsigned op)
{
	static const char *const names[] = { "INVALID", "REQUEST",
	    "RESPONSE", "RST", "SHUTDOWN", "RW", "CREDIT_UPDATE",
	    "CREDIT_REQUEST" };

	return op < sizeof(names) / sizeof(names[0]) ? names[op] : "op?";
}

static const char *
pkt_desc(const struct vuf_vsock_hdr *h, char *buf, size_t len)
{
	snprintf(buf, len, "%s(%u) %llu:%u -> %llu:%u type %u len %u flags %#x "
	    "buf_alloc %u fwd_cnt %u", op_name(h->op), h->op,
	    (unsigned long long)h->src_cid, h->src_port,
	    (unsigned long long)h->dst_cid, h->dst_port, h->type, h->len,
	    h->flags, h->buf_alloc, h->fwd_cnt);
	return buf;
}

/* ---- small things ---- */

static int
left_ms(int64_t deadline)
{
	int64_t l = deadline - now_ms();

	return l < 0 ? 0 : l > 600000 ? 600000 : (int)l;
}

static uint8_t
pat(uint32_t seed, size_t i)
{
	uint32_t x = ((uint32_t)i + seed * 7919u) * 2654435761u;

	return (uint8_t)(x >> 24 ^ x >> 11 ^ seed);
}

static void
pat_fill(uint8_t *buf, size_t len, uint32_t seed, size_t off)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = pat(seed, off + i);
}

/* Offset of the first byte of buf[0..len) that is not the pattern at
 * offset off, or len. */
static size_t
pat_diff(const uint8_t *buf, size_t len, uint32_t seed, size_t off)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (buf[i] != pat(seed, off + i))
			return i;
	return len;
}

static long
file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

/* Lines of vhostd's log written since E.logoff holding `s` (NULL: any);
 * printed to stderr with `tag` if tag != NULL.  Returns how many. */
static unsigned
log_since(const char *s, const char *tag)
{
	char line[2048];
	unsigned n = 0;
	FILE *f;

	if ((f = fopen(E.d->log, "r")) == NULL)
		return 0;
	fseek(f, E.logoff, SEEK_SET);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (s != NULL && strstr(line, s) == NULL)
			continue;
		n++;
		if (tag != NULL)
			fprintf(stderr, "  [%s] log: %s", tag, line);
	}
	fclose(f);
	return n;
}

static bool
log_since_wait(const char *s, int ms)
{
	int64_t deadline = now_ms() + ms;

	for (;;) {
		if (log_since(s, NULL) > 0)
			return true;
		if (now_ms() >= deadline)
			return false;
		sleep_ms(20);
	}
}

static void
log_mark(void)
{
	E.logoff = file_size(E.d->log);
}

/* ---- host side: the programs behind the UNIX sockets ---- */

static void
fd_track(int fd)
{
	if (E.nfds == MAX_FDS)
		fail_msg("test bug: more than %d host fds", MAX_FDS);
	E.fds[E.nfds++] = fd;
}

static void
h_close(int fd)
{
	unsigned i;

	if (fd < 0)
		return;
	for (i = 0; i < E.nfds; i++)
		if (E.fds[i] == fd) {
			E.fds[i] = E.fds[--E.nfds];
			break;
		}
	close(fd);
}

static void
sun_set(struct sockaddr_un *sun, const char *path)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path))
		fail_msg("test bug: socket path %s too long", path);
	strcpy(sun->sun_path, path);
}

/* Connects to a UNIX socket of vhostd, retrying while it is missing. */
static int
h_connect(const char *path, int type)
{
	int64_t deadline = now_ms() + WAIT_MS;
	struct sockaddr_un sun;
	int fd, e;

	sun_set(&sun, path);
	for (;;) {
		if ((fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0)) == -1)
			fail_msg("socket: %s", strerror(errno));
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
			fd_track(fd);
			return fd;
		}
		e = errno;
		close(fd);
		if ((e != ENOENT && e != ECONNREFUSED && e != EAGAIN) ||
		    now_ms() >= deadline)
			fail_msg("host connect to %s: %s", path, strerror(e));
		sleep_ms(20);
	}
}

/* A listener vhostd (running as nobody) may connect to. */
static int
h_listen(const char *path, int type)
{
	struct sockaddr_un sun;
	int fd;

	sun_set(&sun, path);
	unlink(path);
	if ((fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0)) == -1 ||
	    bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    chmod(path, 0666) == -1 || listen(fd, 64) == -1)
		fail_msg("listen on %s: %s", path, strerror(errno));
	fd_track(fd);
	return fd;
}

/* The listener for guest-initiated connections to port `port` of dev. */
static int
h_listen_port(int dev, uint32_t port, int type)
{
	char path[PATH_MAX + 16];

	snprintf(path, sizeof(path), "%s_%u", E.uds[dev], port);
	return h_listen(path, type);
}

static bool
fd_readable(int fd, int ms)
{
	struct pollfd p = { fd, POLLIN, 0 };
	int r;

	do
		r = poll(&p, 1, ms);
	while (r == -1 && errno == EINTR);
	return r == 1;
}

static int
h_accept(int lfd, int ms)
{
	int fd;

	if (!fd_readable(lfd, ms))
		return -1;
	if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) == -1)
		fail_msg("accept: %s", strerror(errno));
	fd_track(fd);
	return fd;
}

/* Writes as much of buf as goes in ms (all of it for a message of a
 * SOCK_SEQPACKET socket, or nothing).  Returns the bytes written; fails
 * the test if the socket is closed. */
static size_t
h_write(int fd, const void *buf, size_t len, int ms)
{
	int64_t deadline = now_ms() + ms;
	struct pollfd p = { fd, POLLOUT, 0 };
	size_t off = 0;
	ssize_t n;

	while (off < len) {
		n = send(fd, (const uint8_t *)buf + off, len - off,
		    MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n == -1 && errno != EAGAIN && errno != EINTR)
			fail_msg("host write: %s (after %zu of %zu bytes)",
			    strerror(errno), off, len);
		if (now_ms() >= deadline)
			break;
		poll(&p, 1, left_ms(deadline) < 20 ? left_ms(deadline) : 20);
	}
	return off;
}

#define H_TIMEOUT	(-2)

/* One read: > 0 bytes, 0 end of file (or reset: *reset), -1 error,
 * H_TIMEOUT nothing in ms. */
static ssize_t
h_read(int fd, void *buf, size_t len, int ms, bool *reset)
{
	ssize_t n;

	if (reset != NULL)
		*reset = false;
	if (!fd_readable(fd, ms))
		return H_TIMEOUT;
	n = recv(fd, buf, len, MSG_DONTWAIT);
	if (n == -1 && errno == ECONNRESET) {
		if (reset != NULL)
			*reset = true;
		return 0;
	}
	if (n == -1 && errno == EAGAIN)
		return H_TIMEOUT;
	return n;
}

/* Reads exactly len bytes unless EOF or ms pass; returns what came. */
static size_t
h_read_full(int fd, uint8_t *buf, size_t len, int ms, bool *eof)
{
	int64_t deadline = now_ms() + ms;
	size_t got = 0;
	ssize_t n;

	*eof = false;
	while (got < len) {
		n = h_read(fd, buf + got, len - got, left_ms(deadline), NULL);
		if (n == H_TIMEOUT)
			break;
		if (n <= 0) {
			*eof = true;
			break;
		}
		got += (size_t)n;
	}
	return got;
}

/* A line ending in '\n' (stream: byte by byte so that nothing after it is
 * taken; seqpacket: one message).  Returns its length with the newline,
 * 0 on EOF, -1 on error, H_TIMEOUT. */
static ssize_t
h_read_line(int fd, int type, char *line, size_t size, int ms)
{
	int64_t deadline = now_ms() + ms;
	size_t got = 0;
	ssize_t n;

	if (type == SOCK_SEQPACKET) {
		n = h_read(fd, line, size - 1, ms, NULL);
		if (n > 0)
			line[n] = '\0';
		return n;
	}
	while (got + 1 < size) {
		n = h_read(fd, line + got, 1, left_ms(deadline), NULL);
		if (n <= 0) {
			line[got] = '\0';
			return n == 0 && got > 0 ? -1 : n;
		}
		got++;
		if (line[got - 1] == '\n')
			break;
	}
	line[got] = '\0';
	return (ssize_t)got;
}

/* Waits for end of file (or reset) on fd; bytes read meanwhile are
 * counted in *extra.  1: EOF, 0: timeout. */
static int
h_wait_eof(int fd, int ms, size_t *extra)
{
	int64_t deadline = now_ms() + ms;
	uint8_t buf[65536];
	ssize_t n;

	*extra = 0;
	for (;;) {
		n = h_read(fd, buf, sizeof(buf), left_ms(deadline), NULL);
		if (n == H_TIMEOUT)
			return 0;
		if (n <= 0)
			return 1;
		*extra += (size_t)n;
	}
}

/* ---- the guest ---- */

static void
g_register(struct guest *g, struct conn *c)
{
	unsigned i;

	for (i = 0; i < MAX_CONNS; i++)
		if (g->conns[i] == NULL) {
			g->conns[i] = c;
			c->registered = true;
			return;
		}
	fail_msg("test bug: more than %d live connections", MAX_CONNS);
}

static bool
pkt_match(const struct pkt *p, const struct match *m)
{
	return (m->src_cid == ANY64 || p->h.src_cid == m->src_cid) &&
	    (m->src_port == ANY32 || p->h.src_port == m->src_port) &&
	    (m->dst_port == ANY32 || p->h.dst_port == m->dst_port) &&
	    (m->ops == 0 || (p->h.op < 32 && (m->ops & OPB(p->h.op))));
}

static struct match
c_match(const struct conn *c, uint32_t ops)
{
	struct match m = { c->peer_cid, c->pport, c->lport, ops };

	return m;
}

static struct conn *
g_conn_of(struct guest *g, const struct vuf_vsock_hdr *h)
{
	struct conn *c;
	unsigned i;

	for (i = 0; i < MAX_CONNS; i++)
		if ((c = g->conns[i]) != NULL && h->src_cid == c->peer_cid &&
		    h->src_port == c->pport && h->dst_port == c->lport)
			return c;
	return NULL;
}

static void
rx_post(struct guest *g, int i)
{
	struct vuf_seg s[2];
	unsigned n;
	int head;

	if (g->rx_split) {
		s[0] = (struct vuf_seg){ g->rx[i].hdr, HDR_LEN, true };
		s[1] = (struct vuf_seg){ g->rx[i].data, g->rx_data, true };
		n = 2;
	} else {
		s[0] = (struct vuf_seg){ g->rx[i].hdr, HDR_LEN + g->rx_data,
		    true };
		n = 1;
	}
	/* A header the device does not write is visible. */
	memset(vuf_gpa_to_host(g->v, g->rx[i].hdr, HDR_LEN), 0xee, HDR_LEN);
	if ((head = vuf_vq_add(g->v, RXQ, s, n)) == -1)
		fail_msg("%s: rx post: %s", g->name, vuf_error(g->v));
	g->rx_of_head[head] = i;
}

static void c_send(struct conn *, uint16_t, uint32_t, const void *,
    uint32_t);

/* What the guest learns from a packet of connection c. */
static void
c_note(struct conn *c, const struct vuf_vsock_hdr *h)
{
	if (h->op == OP_RW) {
		c->rx_cnt += h->len;
		if ((uint32_t)(c->rx_cnt - c->adv_fwd_cnt) > c->adv_buf_alloc)
			fail_msg("%s: the device sent beyond the guest's credit: "
			    "%u bytes received, the guest advertised buf_alloc "
			    "%u fwd_cnt %u (port %u <- %u)", c->g->name,
			    c->rx_cnt, c->adv_buf_alloc, c->adv_fwd_cnt,
			    c->lport, c->pport);
	}
	if (h->op == OP_RST)
		return;
	if (c->peer_known && (int32_t)(h->fwd_cnt - c->peer_fwd_cnt) < 0)
		soft_fail("%s: peer fwd_cnt went back from %u to %u (port %u)",
		    c->g->name, c->peer_fwd_cnt, h->fwd_cnt, c->lport);
	if ((int32_t)(c->tx_cnt - h->fwd_cnt) < 0)
		soft_fail("%s: peer fwd_cnt %u beyond the %u bytes the guest "
		    "sent (port %u)", c->g->name, h->fwd_cnt, c->tx_cnt,
		    c->lport);
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	c->peer_known = true;
}

/*
 * Takes one used rx buffer (waiting up to ms), checks the packet in it,
 * reposts the buffer and files the packet in the backlog.  Returns 1, or
 * 0 if nothing came.  A malformed packet fails the test: the device wrote
 * it.
 */
static int
g_pull(struct guest *g, int ms)
{
	uint32_t head, len;
	struct vuf_vsock_hdr h;
	struct conn *c;
	struct pkt *p;
	char desc[256];
	int r, i = -1;

	r = vuf_vq_wait_used(g->v, RXQ, &head, &len, ms);
	if (r == 0)
		return 0;
	if (r == -1)
		fail_msg("%s: rx queue: %s", g->name, vuf_error(g->v));
	if (head < QSIZE)
		i = g->rx_of_head[head];
	if (i < 0) {
		fail_msg("%s: rx head %u not posted", g->name, head);
		return 0;
	}
	g->rx_of_head[head] = -1;
	if (len < HDR_LEN)
		fail_msg("%s: rx buffer used with %u bytes, less than a header",
		    g->name, len);
	vuf_vsock_hdr_get(&h, vuf_gpa_to_host(g->v, g->rx[i].hdr, HDR_LEN));
	trace("%s <- %s (used %u)", g->name, pkt_desc(&h, desc, sizeof(desc)),
	    len);
	if (h.len > g->rx_data)
		fail_msg("%s: rx packet claims len %u, beyond the %u-byte buffer"
		    ": %s", g->name, h.len, g->rx_data, desc);
	if (len != HDR_LEN + h.len)
		soft_fail("%s: rx used length %u, not 44 + len %u: %s",
		    g->name, len, h.len, desc);
	if ((p = malloc(sizeof(*p) + h.len)) == NULL)
		fail_msg("malloc");
	p->h = h;
	p->used = len;
	if (h.len > 0)
		memcpy(p->data, vuf_gpa_to_host(g->v, g->rx[i].data, h.len),
		    h.len);
	rx_post(g, i);
	if (vuf_kick(g->v, RXQ) == -1)
		fail_msg("%s: kick rx: %s", g->name, vuf_error(g->v));

	if (h.dst_cid != g->cid && !g->foreign_ok)
		fail_msg("%s: rx packet for CID %llu, the guest is %llu: %s",
		    g->name, (unsigned long long)h.dst_cid,
		    (unsigned long long)g->cid, desc);
	if (h.op < OP_REQUEST || h.op > OP_CREDIT_REQUEST)
		fail_msg("%s: rx packet with op %u: %s", g->name, h.op, desc);
	/* An RST echoes the type of the packet it answers (as Linux does),
	 * even a bad one. */
	if (h.type != T_STREAM && h.type != T_SEQPACKET && h.op != OP_RST)
		fail_msg("%s: rx packet of type %u: %s", g->name, h.type, desc);
	if (h.op != OP_RW && h.len != 0)
		fail_msg("%s: rx %s with a payload: %s", g->name,
		    op_name(h.op), desc);
	if (h.src_cid == HOST_CID && h.op != OP_RST &&
	    h.buf_alloc != E.bufsize[g->dev])
		soft_fail("%s: host-side packet with buf_alloc %u, the "
		    "configured buffer_size is %u: %s", g->name, h.buf_alloc,
		    E.bufsize[g->dev], desc);

	if ((c = g_conn_of(g, &h)) != NULL) {
		c_note(c, &h);
		if (h.op == OP_CREDIT_REQUEST) {
			/* A driver answers at once; the test never sees it. */
			c_send(c, OP_CREDIT_UPDATE, 0, NULL, 0);
			free(p);
			return 1;
		}
	}
	if (g->nbl == g->capbl) {
		if (g->capbl >= 8192)
			fail_msg("%s: more than 8192 packets not taken",
			    g->name);
		g->capbl = g->capbl ? 2 * g->capbl : 64;
		if ((g->bl = realloc(g->bl, g->capbl * sizeof(*g->bl))) ==
		    NULL)
			fail_msg("realloc");
	}
	g->bl[g->nbl++] = p;
	return 1;
}

/* Removes and returns the oldest backlog packet matching m, or NULL. */
static struct pkt *
g_find(struct guest *g, const struct match *m)
{
	struct pkt *p;
	unsigned i;

	for (i = 0; i < g->nbl; i++)
		if (pkt_match(g->bl[i], m)) {
			p = g->bl[i];
			memmove(&g->bl[i], &g->bl[i + 1],
			    (g->nbl - i - 1) * sizeof(*g->bl));
			g->nbl--;
			return p;
		}
	return NULL;
}

static bool
g_has(struct guest *g, const struct match *m)
{
	unsigned i;

	for (i = 0; i < g->nbl; i++)
		if (pkt_match(g->bl[i], m))
			return true;
	return false;
}

/* The oldest packet matching m, waiting up to ms for it; NULL if none. */
static struct pkt *
g_take(struct guest *g, const struct match *m, int ms)
{
	int64_t deadline = now_ms() + ms;
	struct pkt *p;

	for (;;) {
		if ((p = g_find(g, m)) != NULL)
			return p;
		if (now_ms() >= deadline)
			return NULL;
		g_pull(g, left_ms(deadline));
	}
}

/* Drops every backlog packet matching m; returns how many. */
static unsigned
g_purge(struct guest *g, const struct match *m)
{
	unsigned n = 0;
	struct pkt *p;

	while ((p = g_find(g, m)) != NULL) {
		free(p);
		n++;
	}
	return n;
}

/* Pulls for ms and purges nothing: true if nothing matching m came. */
static bool
g_quiet(struct guest *g, const struct match *m, int ms)
{
	int64_t deadline = now_ms() + ms;

	while (now_ms() < deadline) {
		if (g_has(g, m))
			return false;
		g_pull(g, left_ms(deadline));
	}
	return !g_has(g, m);
}

static void
tx_used_len(struct guest *g, uint32_t head, uint32_t len)
{
	if (len != 0 && !g->tx_len_noted) {
		g->tx_len_noted = true;
		soft_fail("%s: tx chain %u used with length %u; a chain the "
		    "device only reads is used with length 0 (VIRTIO 1.2 "
		    "2.7.8.2)", g->name, head, len);
	}
}

static void
tx_reap(struct guest *g)
{
	uint32_t head, len;
	int r;

	while ((r = vuf_vq_harvest(g->v, TXQ, &head, &len)) == 1)
		tx_used_len(g, head, len);
	if (r == -1)
		fail_msg("%s: tx queue: %s", g->name, vuf_error(g->v));
}

/*
 * Waits up to ms until ndesc tx descriptors are free (0: until every tx
 * chain is used); false if that does not come in time.
 */
static bool
tx_wait(struct guest *g, unsigned ndesc, int ms)
{
	int64_t deadline = now_ms() + ms;
	uint32_t head, len;
	int r;

	tx_reap(g);
	while (ndesc == 0 ? vuf_vq_inflight(g->v, TXQ) > 0 :
	    g->v->vq[TXQ].num_free < ndesc) {
		r = vuf_vq_wait_used(g->v, TXQ, &head, &len, left_ms(deadline));
		if (r == 0)
			return false;
		if (r == -1)
			fail_msg("%s: tx queue: %s", g->name, vuf_error(g->v));
		tx_used_len(g, head, len);
	}
	return true;
}

/* Waits until ndesc tx descriptors are free. */
static void
tx_room(struct guest *g, unsigned ndesc)
{
	if (!tx_wait(g, ndesc, WAIT_MS))
		fail_msg("%s: tx queue full: %u chains not used in %d ms",
		    g->name, vuf_vq_inflight(g->v, TXQ), WAIT_MS);
}

/* True once every tx chain is used (within ms). */
static bool
tx_drain(struct guest *g, int ms)
{
	return tx_wait(g, 0, ms);
}

/*
 * Puts a packet on tx: header h (as given, len included) and dlen bytes of
 * payload (which may differ from h->len on purpose), laid out as `layout`
 * says, and kicks.
 */
static void
g_xmit(struct guest *g, const struct vuf_vsock_hdr *h, const void *data,
    uint32_t dlen, enum txl layout)
{
	uint32_t off = layout == TX_ONE ? HDR_LEN : TX_OFF;
	struct vuf_seg s[2];
	char desc[256];
	uint64_t base;
	uint8_t *hp;
	unsigned n;
	int head, want;

	if (dlen > TX_PAYLOAD) {
		if (!tx_drain(g, WAIT_MS))
			fail_msg("%s: tx chains not used in %d ms", g->name,
			    WAIT_MS);
		base = g->big;
		if (off + dlen > BIG_LEN)
			fail_msg("test bug: payload of %u bytes", dlen);
	} else {
		tx_room(g, 2);
		base = g->tx_slot[g->v->vq[TXQ].free_head];
	}
	want = g->v->vq[TXQ].free_head;
	if ((hp = vuf_gpa_to_host(g->v, base, off + dlen)) == NULL)
		fail_msg("test bug: tx buffer");
	vuf_vsock_hdr_put(hp, h);
	if (dlen > 0)
		memcpy(hp + off, data, dlen);
	if (layout == TX_ONE || dlen == 0) {
		s[0] = (struct vuf_seg){ base, HDR_LEN + (layout == TX_ONE ?
		    dlen : 0), false };
		n = 1;
	} else {
		s[0] = (struct vuf_seg){ base, HDR_LEN, false };
		s[1] = (struct vuf_seg){ base + off, dlen, false };
		n = 2;
	}
	trace("%s -> %s%s", g->name, pkt_desc(h, desc, sizeof(desc)),
	    dlen != h->len ? " (payload given differs)" : "");
	if ((head = vuf_vq_add(g->v, TXQ, s, n)) == -1)
		fail_msg("%s: tx add: %s", g->name, vuf_error(g->v));
	if (head != want)
		fail_msg("test bug: tx head %d, not %d", head, want);
	if (vuf_kick(g->v, TXQ) == -1)
		fail_msg("%s: kick tx: %s", g->name, vuf_error(g->v));
}

/* Puts a chain of caller-written segments on tx. */
static void
g_xmit_segs(struct guest *g, const struct vuf_seg *s, unsigned n,
    const char *what)
{
	tx_room(g, n);
	trace("%s -> raw chain of %u descriptors: %s", g->name, n, what);
	if (vuf_vq_add(g->v, TXQ, s, n) == -1)
		fail_msg("%s: tx add: %s", g->name, vuf_error(g->v));
	if (vuf_kick(g->v, TXQ) == -1)
		fail_msg("%s: kick tx: %s", g->name, vuf_error(g->v));
}

/* Guest RAM for raw chains: len bytes in region 2, never freed. */
static uint64_t
g_scratch(struct guest *g, uint64_t len)
{
	uint64_t gpa = vuf_alloc(g->v, 2, len, 64);

	if (gpa == VUF_BAD_GPA)
		fail_msg("test bug: scratch: %s", vuf_error(g->v));
	return gpa;
}

static struct guest *
g_open_with(int dev, uint64_t want, bool rx_split)
{
	struct guest *g;
	int64_t deadline;
	uint64_t gpa;
	struct vuf_seg s;
	int i;

	if ((g = calloc(1, sizeof(*g))) == NULL)
		fail_msg("calloc");
	E.g[dev] = g;
	g->dev = dev;
	g->cid = E.cid[dev];
	g->rx_split = rx_split;
	g->rx_data = E.rx_data != 0 ? E.rx_data : RX_DATA;
	g->tx_layout = TX_SPLIT;
	g->next_port = 50000 + (uint32_t)dev * 1000;
	snprintf(g->name, sizeof(g->name), "guest%llu",
	    (unsigned long long)g->cid);
	for (i = 0; i < QSIZE; i++)
		g->rx_of_head[i] = -1;
	/* The back-end may refuse for a moment after a previous front-end
	 * left (it has not seen it go yet): retry for 2 s. */
	deadline = now_ms() + 2000;
	for (;;) {
		if ((g->v = vuf_connect(E.d->sock[dev], WAIT_MS)) == NULL)
			fail_msg("connect %s: %s", E.d->sock[dev],
			    strerror(errno));
		if (vuf_setup_with(g->v, want, ~0ULL, NQ, QSIZE) == 0)
			break;
		if (errno != ECONNRESET || now_ms() >= deadline)
			fail_msg("%s: setup: %s", g->name, vuf_error(g->v));
		vuf_close(g->v);
		g->v = NULL;
		sleep_ms(20);
	}
	for (i = 0; i < RXN; i++) {
		if (rx_split) {
			g->rx[i].hdr = vuf_alloc(g->v, 0, 64, 64);
			g->rx[i].data = vuf_alloc(g->v, 0, RX_DATA, 64);
		} else {
			g->rx[i].hdr = vuf_alloc(g->v, 0, HDR_LEN + RX_DATA,
			    64);
			g->rx[i].data = g->rx[i].hdr + HDR_LEN;
		}
		if (g->rx[i].hdr == VUF_BAD_GPA || g->rx[i].data ==
		    VUF_BAD_GPA)
			fail_msg("test bug: rx alloc: %s", vuf_error(g->v));
	}
	for (i = 0; i < QSIZE; i++)
		if ((g->tx_slot[i] = vuf_alloc(g->v, 0, TX_SLOT, 64)) ==
		    VUF_BAD_GPA)
			fail_msg("test bug: tx alloc: %s", vuf_error(g->v));
	if ((g->big = vuf_alloc(g->v, 2, BIG_LEN, 4096)) == VUF_BAD_GPA)
		fail_msg("test bug: big alloc: %s", vuf_error(g->v));
	for (i = 0; i < RXN; i++)
		rx_post(g, i);
	for (i = 0; i < EVN; i++) {
		if ((gpa = vuf_alloc(g->v, 0, 8, 8)) == VUF_BAD_GPA)
			fail_msg("test bug: event alloc");
		g->ev[i] = gpa;
		s = (struct vuf_seg){ gpa, 4, true };
		if (vuf_vq_add(g->v, EVQ, &s, 1) == -1)
			fail_msg("%s: event post: %s", g->name,
			    vuf_error(g->v));
	}
	if (vuf_kick(g->v, RXQ) == -1 || vuf_kick(g->v, EVQ) == -1)
		fail_msg("%s: kick: %s", g->name, vuf_error(g->v));
	trace("%s: started on %s", g->name, E.d->sock[dev]);
	return g;
}

static void g_refused(struct guest *, uint64_t, uint32_t, uint16_t,
    uint32_t, const char *);

/*
 * Waits until the device's worker serves the guest: a REQUEST to host port
 * 1 (nobody listens) must come back as RST.  vhostd refuses host
 * connections until then (see test_host_connect_early).
 */
static void
g_probe(struct guest *g)
{
	g_refused(g, HOST_CID, 1, T_STREAM, 0, "probe (no listener)");
}

static struct guest *
g_open(int dev)
{
	struct guest *g = g_open_with(dev, ~0ULL, false);

	g_probe(g);
	return g;
}

static bool
err_fired(struct guest *g, unsigned q)
{
	return fd_readable(g->v->vq[q].err_fd, 0);
}

/* No queue of g reported an error, every tx chain was used. */
static void
g_queues_ok(struct guest *g, const char *when)
{
	unsigned q;

	for (q = 0; q < NQ; q++)
		if (err_fired(g, q))
			fail_msg("%s: queue %u broken (err eventfd) %s", g->name,
			    q, when);
	if (!tx_drain(g, WAIT_MS))
		fail_msg("%s: %u tx chains still not used %d ms %s", g->name,
		    vuf_vq_inflight(g->v, TXQ), WAIT_MS, when);
}

static void
g_free(struct guest *g)
{
	unsigned i;

	if (g == NULL)
		return;
	vuf_close(g->v);
	for (i = 0; i < g->nbl; i++)
		free(g->bl[i]);
	free(g->bl);
	free(g);
}

/* The VMM goes away; the event buffers must never have been used. */
static void
g_close(struct guest *g)
{
	uint32_t head, len;
	int r;

	r = vuf_vq_harvest(g->v, EVQ, &head, &len);
	if (r != 0)
		soft_fail("%s: event buffer used (r %d head %u len %u) with no "
		    "transport reset", g->name, r, head, len);
	E.g[g->dev] = NULL;
	g_free(g);
}

/* ---- connections ---- */

static void
c_init(struct conn *c, struct guest *g, uint64_t peer_cid, uint32_t lport,
    uint32_t pport, uint16_t type, uint32_t buf_alloc)
{
	*c = (struct conn){ .g = g, .peer_cid = peer_cid, .lport = lport,
	    .pport = pport, .type = type, .buf_alloc = buf_alloc,
	    .adv_buf_alloc = buf_alloc };
	g_register(g, c);
}

/* The guest forgets c and the packets of it not taken yet. */
static void
c_forget(struct conn *c)
{
	struct match m = c_match(c, 0);
	unsigned i;

	if (!c->registered)
		return;
	for (i = 0; i < MAX_CONNS; i++)
		if (c->g->conns[i] == c)
			c->g->conns[i] = NULL;
	c->registered = false;
	g_purge(c->g, &m);
}

static void
c_send(struct conn *c, uint16_t op, uint32_t flags, const void *data,
    uint32_t len)
{
	struct vuf_vsock_hdr h = {
		.src_cid = c->g->cid, .dst_cid = c->peer_cid,
		.src_port = c->lport, .dst_port = c->pport, .len = len,
		.type = c->type, .op = op, .flags = flags,
		.buf_alloc = c->buf_alloc, .fwd_cnt = c->fwd_cnt,
	};

	c->adv_buf_alloc = c->buf_alloc;
	c->adv_fwd_cnt = c->fwd_cnt;
	if (op == OP_RW)
		c->tx_cnt += len;
	g_xmit(c->g, &h, data, len, c->g->tx_layout);
}

static int64_t
c_credit(const struct conn *c)
{
	return (int64_t)c->peer_buf_alloc - (uint32_t)(c->tx_cnt -
	    c->peer_fwd_cnt);
}

static struct pkt *
c_take(struct conn *c, uint32_t ops, int ms)
{
	struct match m = c_match(c, ops);

	return g_take(c->g, &m, ms);
}

static bool
c_ended(struct conn *c)
{
	struct match m = c_match(c, OPB(OP_RST) | OPB(OP_SHUTDOWN));

	return g_has(c->g, &m);
}

/*
 * A REQUEST of g to cid:port (a connection of `type`) must be refused: the
 * first answer of the ops (OPB() mask, 0: any) is an RST.  `what` names
 * the case in a failure.
 */
static void
g_refused(struct guest *g, uint64_t cid, uint32_t port, uint16_t type,
    uint32_t ops, const char *what)
{
	struct conn c;
	struct pkt *p;
	char desc[256];

	c_init(&c, g, cid, g->next_port++, port, type, 65536);
	c_send(&c, OP_REQUEST, 0, NULL, 0);
	if ((p = c_take(&c, ops, WAIT_MS)) == NULL)
		fail_msg("%s: %s: no answer to a REQUEST for %llu:%u in %d ms",
		    g->name, what, (unsigned long long)cid, port, WAIT_MS);
	if (p->h.op != OP_RST)
		fail_msg("%s: %s: REQUEST for %llu:%u: want RST, got %s",
		    g->name, what, (unsigned long long)cid, port,
		    pkt_desc(&p->h, desc, sizeof(desc)));
	free(p);
	c_forget(&c);
}

/* A fresh CREDIT_UPDATE for c, not an older one still in the backlog
 * (the credit itself is learnt from every packet as it arrives): those
 * are dropped, a CREDIT_REQUEST sent and its answer taken. */
static struct pkt *
c_ask_credit(struct conn *c)
{
	struct match m = c_match(c, OPB(OP_CREDIT_UPDATE));
	struct pkt *p;

	g_pull(c->g, 0);
	g_purge(c->g, &m);
	c_send(c, OP_CREDIT_REQUEST, 0, NULL, 0);
	if ((p = c_take(c, OPB(OP_CREDIT_UPDATE), WAIT_MS)) == NULL)
		fail_msg("%s: no CREDIT_UPDATE answer to CREDIT_REQUEST (port "
		    "%u)", c->g->name, c->lport);
	return p;
}

/* The guest consumed n bytes: tells the peer when half the buffer is
 * free again, as a driver does. */
static void
c_consume(struct conn *c, uint32_t n)
{
	c->fwd_cnt += n;
	if (c->fwd_cnt - c->adv_fwd_cnt >= c->buf_alloc / 2)
		c_send(c, OP_CREDIT_UPDATE, 0, NULL, 0);
}

/*
 * Receives stream data of c into out until `want` bytes, ms pass, or the
 * peer ends the connection.  auto_credit: consume at once (c_consume);
 * else the test gives credit itself.  Returns the bytes received.
 */
static size_t
c_recv(struct conn *c, uint8_t *out, size_t want, int ms, bool auto_credit)
{
	int64_t deadline = now_ms() + ms;
	struct match m = c_match(c, OPB(OP_RW));
	size_t got = 0;
	struct pkt *p;

	while (got < want) {
		if ((p = g_find(c->g, &m)) == NULL) {
			if (c_ended(c) || now_ms() >= deadline)
				break;
			g_pull(c->g, left_ms(deadline));
			continue;
		}
		if (p->h.len > want - got)
			fail_msg("%s: %u more bytes than the %zu expected (port "
			    "%u)", c->g->name, p->h.len, want, c->lport);
		memcpy(out + got, p->data, p->h.len);
		got += p->h.len;
		if (auto_credit)
			c_consume(c, p->h.len);
		free(p);
	}
	return got;
}

/* A SEQPACKET message: RW packets up to the one with EOM.  Returns its
 * length, or -1 (nothing complete in ms). */
static ssize_t
c_recv_msg(struct conn *c, uint8_t *out, size_t max, int ms)
{
	int64_t deadline = now_ms() + ms;
	size_t got = 0;
	struct pkt *p;

	for (;;) {
		if ((p = c_take(c, OPB(OP_RW), left_ms(deadline))) == NULL)
			return got == 0 ? -1 : -(ssize_t)got - 1;
		if (p->h.len > max - got)
			fail_msg("%s: message longer than %zu bytes", c->g->name,
			    max);
		memcpy(out + got, p->data, p->h.len);
		got += p->h.len;
		c_consume(c, p->h.len);
		if (p->h.flags & SEQ_EOM) {
			free(p);
			return (ssize_t)got;
		}
		free(p);
	}
}

/* Waits until c has credit, asking with CREDIT_REQUEST every 500 ms. */
static void
c_wait_credit(struct conn *c, int64_t deadline, unsigned *asked)
{
	int64_t next = now_ms() + 100;

	while (c_credit(c) <= 0) {
		if (c_ended(c))
			fail_msg("%s: connection ended while waiting for credit "
			    "(port %u)", c->g->name, c->lport);
		if (now_ms() >= deadline)
			fail_msg("%s: no credit: peer buf_alloc %u fwd_cnt %u, "
			    "%u bytes sent (port %u)", c->g->name,
			    c->peer_buf_alloc, c->peer_fwd_cnt, c->tx_cnt,
			    c->lport);
		if (now_ms() >= next) {
			c_send(c, OP_CREDIT_REQUEST, 0, NULL, 0);
			(*asked)++;
			next = now_ms() + 500;
		}
		g_pull(c->g, 20);
	}
}

/* Sends a SEQPACKET message in chunks of `chunk`, EOM on the last. */
static void
c_send_msg(struct conn *c, const uint8_t *msg, size_t len, size_t chunk)
{
	int64_t deadline = now_ms() + WAIT_MS;
	size_t off = 0, n;
	unsigned asked = 0;

	do {
		c_wait_credit(c, deadline, &asked);
		n = len - off;
		if (n > chunk)
			n = chunk;
		if ((int64_t)n > c_credit(c))
			n = (size_t)c_credit(c);
		c_send(c, OP_RW, off + n == len ? SEQ_EOM : 0, msg + off,
		    (uint32_t)n);
		off += n;
	} while (off < len);
}

/* Sends up to max bytes (TX_PAYLOAD at most) of pattern `seed` from
 * offset off as one RW of c, as far as its credit goes; returns how many
 * (0: no credit, or max 0). */
static size_t
c_send_pat(struct conn *c, uint32_t seed, size_t off, size_t max)
{
	uint8_t chunk[TX_PAYLOAD];
	int64_t credit = c_credit(c);
	size_t n = max < sizeof(chunk) ? max : sizeof(chunk);

	if (n == 0 || credit <= 0)
		return 0;
	if ((int64_t)n > credit)
		n = (size_t)credit;
	pat_fill(chunk, n, seed, off);
	c_send(c, OP_RW, 0, chunk, (uint32_t)n);
	return n;
}

/* ---- transfers ---- */

/* guest -> host: len bytes of pattern `seed` over c, read by the host on
 * hfd as they come; fails unless all arrive in order. */
static void
xfer_g2h(struct conn *c, int hfd, uint32_t seed, size_t len)
{
	int64_t deadline = now_ms() + 10000 + (int64_t)(len / 100);
	size_t sent = 0, got = 0, bad;
	unsigned asked = 0;
	int64_t next_ask = 0;
	uint8_t *buf;
	ssize_t r;

	if ((buf = malloc(65536)) == NULL)
		fail_msg("malloc");
	while (got < len) {
		sent += c_send_pat(c, seed, sent, len - sent);
		r = h_read(hfd, buf, 65536, sent < len && c_credit(c) > 0 ?
		    0 : 20, NULL);
		if (r > 0) {
			bad = pat_diff(buf, (size_t)r, seed, got);
			if (bad < (size_t)r)
				fail_msg("guest->host: byte %zu differs",
				    got + bad);
			got += (size_t)r;
			if (got > sent)
				fail_msg("guest->host: %zu bytes arrived, %zu "
				    "sent", got, sent);
		} else if (r != H_TIMEOUT)
			fail_msg("guest->host: host socket closed after %zu of "
			    "%zu bytes (%zu sent)", got, len, sent);
		if (sent < len && c_credit(c) <= 0) {
			g_pull(c->g, 0);
			if (c_ended(c))
				fail_msg("guest->host: connection ended after "
				    "%zu bytes sent", sent);
			if (now_ms() >= next_ask) {
				if (next_ask != 0) {
					c_send(c, OP_CREDIT_REQUEST, 0, NULL,
					    0);
					asked++;
				}
				next_ask = now_ms() + 500;
			}
		} else
			next_ask = 0;
		if (now_ms() >= deadline)
			fail_msg("guest->host: %zu of %zu bytes sent, %zu "
			    "arrived; peer buf_alloc %u fwd_cnt %u", sent, len,
			    got, c->peer_buf_alloc, c->peer_fwd_cnt);
	}
	free(buf);
	if (asked > 0)
		fprintf(stderr, "  note: guest->host transfer of %zu bytes "
		    "stalled %u times for 500 ms without a credit update "
		    "(asked with CREDIT_REQUEST)\n", len, asked);
}

/* host -> guest: len bytes written on hfd, received by c with credit
 * given back as consumed. */
static void
xfer_h2g(int hfd, struct conn *c, uint32_t seed, size_t len)
{
	int64_t deadline = now_ms() + 10000 + (int64_t)(len / 100);
	size_t written = 0, got = 0, n, bad;
	uint8_t chunk[16384], *buf;

	if ((buf = calloc(1, len)) == NULL)
		fail_msg("malloc");
	while (got < len) {
		if (written < len) {
			n = len - written;
			if (n > sizeof(chunk))
				n = sizeof(chunk);
			pat_fill(chunk, n, seed, written);
			written += h_write(hfd, chunk, n, 0);
		}
		got += c_recv(c, buf + got, len - got, 20, true);
		if (c_ended(c))
			fail_msg("host->guest: connection ended after %zu of "
			    "%zu bytes", got, len);
		if (now_ms() >= deadline)
			fail_msg("host->guest: %zu of %zu bytes written, %zu "
			    "received", written, len, got);
	}
	bad = pat_diff(buf, len, seed, 0);
	if (bad < len)
		fail_msg("host->guest: byte %zu of %zu differs", bad, len);
	free(buf);
}

/* ---- vhostd and its devices ---- */

static int
add_vsock(const char *id, uint64_t cid, uint32_t bufsize, const char *extra)
{
	char keys[PATH_MAX + 512];
	int i = E.d->ndevs;

	snprintf(E.uds[i], sizeof(E.uds[i]), "%s/%s.vsock", E.d->dir, id);
	snprintf(E.id[i], sizeof(E.id[i]), "%s", id);
	snprintf(keys, sizeof(keys), ", \"guest_cid\": %llu, \"uds_path\": "
	    "\"%s\"", (unsigned long long)cid, E.uds[i]);
	if (bufsize != 0)
		snprintf(keys + strlen(keys), sizeof(keys) - strlen(keys),
		    ", \"buffer_size\": %u", bufsize);
	snprintf(keys + strlen(keys), sizeof(keys) - strlen(keys), "%s",
	    extra);
	daemon_add(E.d, "vsock", id, keys);
	E.bufsize[i] = bufsize != 0 ? bufsize : DEF_BUFSIZE;
	E.cid[i] = cid;
	return i;
}

static void
vs_start(void)
{
	char sp[PATH_MAX + 16];
	int64_t deadline;
	int i;

	daemon_start(E.d);
	deadline = now_ms() + 5000;
	for (i = 0; i < E.d->ndevs; i++) {
		snprintf(sp, sizeof(sp), "%s.seqpacket", E.uds[i]);
		while (!path_is_socket(E.uds[i]) || !path_is_socket(sp)) {
			if (now_ms() >= deadline)
				fail_msg("vhostd made no %s%s after 5 s",
				    path_is_socket(E.uds[i]) ? sp : E.uds[i],
				    path_is_socket(E.uds[i]) ? "" :
				    " (uds_path)");
			sleep_ms(10);
		}
	}
	log_mark();
}

/* Closes the guests (VMMs), stops vhostd, checks that its host sockets
 * are gone, then the soft failures. */
static void
vs_stop(void)
{
	char sp[PATH_MAX + 16];
	int i;

	for (i = 0; i < DAEMON_MAX_DEVS; i++)
		if (E.g[i] != NULL)
			g_close(E.g[i]);
	daemon_stop(E.d);
	for (i = 0; i < E.d->ndevs; i++) {
		snprintf(sp, sizeof(sp), "%s.seqpacket", E.uds[i]);
		if (access(E.uds[i], F_OK) == 0)
			soft_fail("%s left behind after SIGTERM", E.uds[i]);
		if (access(sp, F_OK) == 0)
			soft_fail("%s left behind after SIGTERM", sp);
	}
	soft_check();
}

/* The device of most tests: "vm1-vsock", CID 3, buffer_size bufsize (0:
 * the default) and more config keys in extra; vhostd started.  Returns
 * its index. */
static int
vs_dev(uint32_t bufsize, const char *extra)
{
	int dev = add_vsock("vm1-vsock", 3, bufsize, extra);

	vs_start();
	return dev;
}

/* vs_dev() and its guest, served (g_open). */
static struct guest *
vs_guest(uint32_t bufsize, const char *extra)
{
	return g_open(vs_dev(bufsize, extra));
}

static void
main_alive(const char *when)
{
	int status;
	pid_t r;

	if ((r = waitpid(E.d->pid, &status, WNOHANG)) == E.d->pid) {
		E.d->pid = 0;
		daemon_log_dump(E.d);
		fail_msg("vhostd main exited (status %#x) %s", status, when);
	}
	if (r != 0)
		fail_msg("waitpid: %s", strerror(errno));
}

/* The pid of the worker of device `id`, 0 if none. */
static pid_t
worker_of(const char *id)
{
	return daemon_worker_of(E.d, id);
}

static pid_t
worker_wait(const char *id)
{
	int64_t deadline = now_ms() + WAIT_MS;
	pid_t p;

	while ((p = worker_of(id)) == 0) {
		if (now_ms() >= deadline)
			fail_msg("no worker for %s", id);
		sleep_ms(10);
	}
	return p;
}

/* The fds of a process of vhostd, before and after. */
struct fdcount {
	const char	*name;
	pid_t		 pid;
	int		 before, after;
};

static void
fds_mark(struct fdcount *f, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		f[i].before = proc_count_fds(f[i].pid, false);
}

/* Waits up to 3 s for every process to have no more fds than at
 * fds_mark(); fails if one has, listing the fds of those that do. */
static void
fds_settle(struct fdcount *f, unsigned n, const char *what)
{
	int64_t deadline = now_ms() + 3000;
	char line[512];
	unsigned i, nleak;
	size_t o = 0;

	for (;;) {
		for (i = nleak = 0; i < n; i++)
			if ((f[i].after = proc_count_fds(f[i].pid, false)) >
			    f[i].before)
				nleak++;
		if (nleak == 0 || now_ms() >= deadline)
			break;
		sleep_ms(50);
	}
	for (i = 0; i < n && o < sizeof(line); i++)
		o += (size_t)snprintf(line + o, sizeof(line) - o,
		    "%s%s %d -> %d", i > 0 ? ", " : "", f[i].name, f[i].before,
		    f[i].after);
	fprintf(stderr, "%s: fds of %s\n", what, line);
	if (nleak == 0)
		return;
	for (i = 0; i < n; i++)
		if (f[i].after > f[i].before)
			proc_count_fds(f[i].pid, true);
	fail_msg("%s: fds leaked: %s", what, line);
}

/* ---- connection set-up as the guest and the host do it ---- */

struct link {
	struct conn	c;
	int		hfd;
	int		htype;		/* SOCK_STREAM or SOCK_SEQPACKET */
};

/*
 * Host-initiated: the host connects to uds_path (or .seqpacket), asks for
 * guest port `port`; the guest takes the REQUEST, checks it, answers
 * RESPONSE with buf_alloc; the host must read "OK <its port>\n".
 */
static void
host_connect(struct guest *g, uint16_t type, uint32_t port,
    uint32_t buf_alloc, struct link *l)
{
	struct match m = { HOST_CID, ANY32, port, OPB(OP_REQUEST) };
	char path[PATH_MAX + 16], line[128], want[64], desc[256];
	struct vuf_vsock_hdr *h;
	struct pkt *p;
	ssize_t n;

	l->htype = type == T_STREAM ? SOCK_STREAM : SOCK_SEQPACKET;
	snprintf(path, sizeof(path), "%s%s", E.uds[g->dev], type == T_STREAM ?
	    "" : ".seqpacket");
	l->hfd = h_connect(path, l->htype);
	n = snprintf(line, sizeof(line), "CONNECT %u\n", port);
	if (h_write(l->hfd, line, (size_t)n, WAIT_MS) != (size_t)n)
		fail_msg("host: CONNECT line not written");
	trace("host: connected to %s, wrote CONNECT %u", path, port);
	if ((p = g_take(g, &m, WAIT_MS)) == NULL)
		fail_msg("%s: no REQUEST for port %u within %d ms of the host's "
		    "CONNECT on %s", g->name, port, WAIT_MS, path);
	h = &p->h;
	pkt_desc(h, desc, sizeof(desc));
	if (h->dst_cid != g->cid || h->type != type || h->len != 0 ||
	    h->buf_alloc != E.bufsize[g->dev] || h->flags != 0 ||
	    h->fwd_cnt != 0)
		fail_msg("%s: REQUEST not as expected (dst_cid %llu, type %u, "
		    "len 0, buf_alloc %u, flags 0, fwd_cnt 0): %s", g->name,
		    (unsigned long long)g->cid, type, E.bufsize[g->dev], desc);
	c_init(&l->c, g, HOST_CID, port, h->src_port, type, buf_alloc);
	c_note(&l->c, h);
	free(p);
	c_send(&l->c, OP_RESPONSE, 0, NULL, 0);
	n = h_read_line(l->hfd, l->htype, line, sizeof(line), WAIT_MS);
	if (n <= 0)
		fail_msg("host: no \"OK\" line after the guest's RESPONSE (%s)",
		    n == 0 ? "closed" : n == H_TIMEOUT ? "timeout" :
		    "error or EOF mid-line");
	snprintf(want, sizeof(want), "OK %u\n", l->c.pport);
	if (strcmp(line, want) != 0)
		fail_msg("host: read \"%.*s\" after RESPONSE, want \"OK %u\\n\"",
		    (int)strcspn(line, "\n"), line, l->c.pport);
	trace("host: read OK %u", l->c.pport);
}

/* Guest-initiated: REQUEST to host port `port` (whose listener is lfd);
 * the host accepts; the guest must get RESPONSE. */
static void
guest_connect(struct guest *g, uint16_t type, uint32_t port, int lfd,
    uint32_t buf_alloc, struct link *l)
{
	char desc[256];
	struct pkt *p;

	l->htype = type == T_STREAM ? SOCK_STREAM : SOCK_SEQPACKET;
	c_init(&l->c, g, HOST_CID, g->next_port++, port, type, buf_alloc);
	c_send(&l->c, OP_REQUEST, 0, NULL, 0);
	if ((l->hfd = h_accept(lfd, WAIT_MS)) == -1)
		fail_msg("host: no connection on the listener of port %u within "
		    "%d ms of the guest's REQUEST", port, WAIT_MS);
	if ((p = c_take(&l->c, 0, WAIT_MS)) == NULL)
		fail_msg("%s: no answer to REQUEST for port %u", g->name, port);
	pkt_desc(&p->h, desc, sizeof(desc));
	if (p->h.op != OP_RESPONSE || p->h.type != type || p->h.len != 0 ||
	    p->h.buf_alloc != E.bufsize[g->dev])
		fail_msg("%s: answer to REQUEST for port %u: want RESPONSE of "
		    "type %u with buf_alloc %u, got %s", g->name, port, type,
		    E.bufsize[g->dev], desc);
	free(p);
}

/*
 * The host connects to uds_path and writes msg, a CONNECT line for guest
 * port 1234 (maybe with more after it); the guest must get the REQUEST.
 * Returns it, not answered; the host's socket in *fd.
 */
static struct pkt *
host_request(struct guest *g, const char *msg, int *fd)
{
	struct match m = { HOST_CID, ANY32, 1234, OPB(OP_REQUEST) };
	struct pkt *p;

	*fd = h_connect(E.uds[g->dev], SOCK_STREAM);
	h_write(*fd, msg, strlen(msg), WAIT_MS);
	if ((p = g_take(g, &m, WAIT_MS)) == NULL)
		fail_msg("%s: no REQUEST after the host wrote \"%.*s\"",
		    g->name, (int)strcspn(msg, "\n"), msg);
	return p;
}

/* host_request(), the guest's side of it in c (not answered yet). */
static void
host_request_conn(struct guest *g, const char *msg, int *fd, struct conn *c)
{
	struct pkt *p = host_request(g, msg, fd);

	c_init(c, g, HOST_CID, 1234, p->h.src_port, T_STREAM, 65536);
	free(p);
}

/* The guest refuses the host's REQUEST p (and frees it): RST. */
static void
g_refuse(struct guest *g, struct pkt *p)
{
	struct vuf_vsock_hdr h = { .src_cid = g->cid, .dst_cid = HOST_CID,
	    .src_port = p->h.dst_port, .dst_port = p->h.src_port,
	    .type = T_STREAM, .op = OP_RST };

	free(p);
	g_xmit(g, &h, NULL, 0, TX_SPLIT);
}

/* The host must read exactly the len bytes of `want` from l in time. */
static void
h_expect(struct link *l, const void *want, size_t len, const char *what)
{
	uint8_t *got;
	bool eof;
	size_t n;

	if ((got = malloc(len)) == NULL)
		fail_msg("malloc");
	n = h_read_full(l->hfd, got, len, WAIT_MS, &eof);
	if (n != len || memcmp(want, got, len) != 0)
		fail_msg("%s: guest->host: host read %zu of %zu bytes%s", what,
		    n, len, n == len ? ", differing" : eof ? " then EOF" : "");
	free(got);
}

/* The guest must receive exactly the len bytes of `want` on l in time,
 * giving credit back as it consumes them. */
static void
g_expect(struct link *l, const void *want, size_t len, const char *what)
{
	uint8_t *got;
	size_t n;

	if ((got = malloc(len)) == NULL)
		fail_msg("malloc");
	n = c_recv(&l->c, got, len, WAIT_MS, true);
	if (n != len || memcmp(want, got, len) != 0)
		fail_msg("%s: host->guest: guest got %zu of %zu bytes%s", what,
		    n, len, n == len ? ", differing" : "");
	free(got);
}

/* guest_connect() to host port 7000, whose listener (of the socket type
 * for `type`) is made new. */
static void
guest_link(struct guest *g, uint16_t type, uint32_t buf_alloc,
    struct link *l)
{
	int lfd = h_listen_port(g->dev, 7000, type == T_STREAM ? SOCK_STREAM :
	    SOCK_SEQPACKET);

	guest_connect(g, type, 7000, lfd, buf_alloc, l);
}

/* Small data both ways: the link works. */
static void
link_ping(struct link *l, const char *what)
{
	uint8_t buf[1000];

	pat_fill(buf, sizeof(buf), l->c.lport, 0);
	c_send(&l->c, OP_RW, l->c.type == T_SEQPACKET ? SEQ_EOM : 0, buf,
	    sizeof(buf));
	h_expect(l, buf, sizeof(buf), what);
	pat_fill(buf, sizeof(buf), l->c.lport + 1, 0);
	if (h_write(l->hfd, buf, sizeof(buf), WAIT_MS) != sizeof(buf))
		fail_msg("%s: host write", what);
	g_expect(l, buf, sizeof(buf), what);
}

/* Guest closes c fully: SHUTDOWN 3, the device answers RST, the host
 * socket reaches EOF. */
static void
link_close_guest(struct link *l, const char *what)
{
	size_t extra;
	struct pkt *p;

	c_send(&l->c, OP_SHUTDOWN, SHUT_F_RCV | SHUT_F_SEND, NULL, 0);
	if ((p = c_take(&l->c, OPB(OP_RST), WAIT_MS)) == NULL)
		fail_msg("%s: no RST after the guest's SHUTDOWN(RCV|SEND)",
		    what);
	free(p);
	if (h_wait_eof(l->hfd, WAIT_MS, &extra) != 1)
		fail_msg("%s: host socket not closed after the guest's "
		    "SHUTDOWN(RCV|SEND)", what);
	if (extra != 0)
		fail_msg("%s: host read %zu unexpected bytes", what, extra);
	h_close(l->hfd);
	l->hfd = -1;
	c_forget(&l->c);
}

/* The link works, then the guest closes it. */
static void
link_done(struct link *l, const char *what)
{
	link_ping(l, what);
	link_close_guest(l, what);
}

/* The peer of c ended it: the guest must get RST or SHUTDOWN, answers a
 * SHUTDOWN with RST, and forgets c. */
static void
expect_end(struct conn *c, const char *what)
{
	struct pkt *p;

	if ((p = c_take(c, OPB(OP_RST) | OPB(OP_SHUTDOWN), WAIT_MS)) == NULL)
		fail_msg("%s: the guest got neither RST nor SHUTDOWN", what);
	if (p->h.op == OP_SHUTDOWN) {
		free(p);
		c_send(c, OP_RST, 0, NULL, 0);
	} else
		free(p);
	c_forget(c);
}

/* The guest (link_close_guest) or the host (expect_end) ends l. */
static void
link_end(struct link *l, bool by_guest, const char *what)
{
	if (by_guest)
		link_close_guest(l, what);
	else {
		h_close(l->hfd);
		l->hfd = -1;
		expect_end(&l->c, what);
	}
}

/* ---- fixtures ---- */

static int
vs_setup(void **state)
{
	const void *row = *state;

	memset(&E, 0, sizeof(E));
	E.row = row;
	trace_next = 0;
	nsoft = 0;
	if (daemon_setup(state) != 0)
		return -1;
	E.d = *state;
	/* vhostd's main drops to nobody: it must reach our listeners. */
	if (E.d != NULL && chmod(E.d->dir, 0711) == -1)
		return -1;
	return 0;
}

static int
vs_teardown(void **state)
{
	unsigned i;

	if (E.d != NULL && E.d->pid > 0)
		trace_dump();
	for (i = 0; i < DAEMON_MAX_DEVS; i++) {
		g_free(E.g[i]);
		E.g[i] = NULL;
	}
	for (i = 0; i < E.nfds; i++)
		close(E.fds[i]);
	E.nfds = 0;
	return daemon_teardown(state);
}

#define SKIP_IF_NONE()	DAEMON_SKIP_IF_NONE(E.d)

/* ====================================================================
 * Configuration: vhostd -n accepts or refuses, naming what is wrong.
 * ==================================================================== */

struct cfgrow {
	const char	*name;
	const char	*devs;		/* "devices" array body; %D: the dir */
	bool		 ok;
	const char	*need[3];	/* strings the error output must hold */
	const char	*either[2][2];	/* and one of each pair */
};

#define VS(id, cid, more) "{\"id\": \"" id "\", \"type\": \"vsock\", " \
	"\"socket\": \"" id ".sock\", \"guest_cid\": " #cid ", " \
	"\"uds_path\": \"%D/" id ".vsock\"" more "}"
#define VS_NOCID(id, more) "{\"id\": \"" id "\", \"type\": \"vsock\", " \
	"\"socket\": \"" id ".sock\", \"uds_path\": \"%D/" id ".vsock\"" \
	more "}"

static const struct cfgrow cfgrows[] = {
	{ "minimal", VS("a", 3, ""), true, { NULL }, { { NULL } } },
	{ "every key", VS("a", 3, ", \"group\": \"g\", \"buffer_size\": "
	    "4096, \"max_connections\": 1024"), true, { NULL }, { { NULL } } },
	{ "upper bounds", VS("a", 4294967294, ", \"buffer_size\": 4194304, "
	    "\"max_connections\": 1"), true, { NULL }, { { NULL } } },
	{ "siblings", VS("a", 3, ", \"group\": \"g\"") ", " VS("b", 4,
	    ", \"group\": \"g\""), true, { NULL }, { { NULL } } },
	{ "same CID, other groups", VS("a", 3, ", \"group\": \"g\"") ", "
	    VS("b", 3, ", \"group\": \"h\""), true, { NULL }, { { NULL } } },
	{ "no guest_cid", VS_NOCID("a", ""), false, { "guest_cid" },
	    { { NULL } } },
	{ "guest_cid 0", VS("a", 0, ""), false, { "guest_cid" }, { { NULL } } },
	{ "guest_cid 1", VS("a", 1, ""), false, { "guest_cid" }, { { NULL } } },
	{ "guest_cid 2 (host)", VS("a", 2, ""), false, { "guest_cid" },
	    { { NULL } } },
	{ "guest_cid 2^32-1", VS("a", 4294967295, ""), false, { "guest_cid" },
	    { { NULL } } },
	{ "guest_cid 2^32", VS("a", 4294967296, ""), false, { "guest_cid" },
	    { { NULL } } },
	{ "guest_cid negative", VS("a", -3, ""), false, { "guest_cid" },
	    { { NULL } } },
	{ "guest_cid string", VS("a", "3", ""), false, { "guest_cid" },
	    { { NULL } } },
	{ "guest_cid fraction", VS("a", 3.5, ""), false, { "guest_cid" },
	    { { NULL } } },
	{ "no uds_path", "{\"id\": \"a\", \"type\": \"vsock\", \"socket\": "
	    "\"a.sock\", \"guest_cid\": 3}", false, { "uds_path" },
	    { { NULL } } },
	{ "relative uds_path", "{\"id\": \"a\", \"type\": \"vsock\", "
	    "\"socket\": \"a.sock\", \"guest_cid\": 3, \"uds_path\": "
	    "\"a.vsock\"}", false, { "uds_path" }, { { NULL } } },
	{ "empty uds_path", "{\"id\": \"a\", \"type\": \"vsock\", "
	    "\"socket\": \"a.sock\", \"guest_cid\": 3, \"uds_path\": \"\"}",
	    false, { "uds_path" }, { { NULL } } },
	{ "buffer_size 4095", VS("a", 3, ", \"buffer_size\": 4095"), false,
	    { "buffer_size" }, { { NULL } } },
	{ "buffer_size 4194305", VS("a", 3, ", \"buffer_size\": 4194305"),
	    false, { "buffer_size" }, { { NULL } } },
	{ "max_connections 0", VS("a", 3, ", \"max_connections\": 0"), false,
	    { "max_connections" }, { { NULL } } },
	{ "max_connections 1025", VS("a", 3, ", \"max_connections\": 1025"),
	    false, { "max_connections" }, { { NULL } } },
	{ "unknown key", VS("a", 3, ", \"bogus\": 1"), false, { "bogus" },
	    { { NULL } } },
	{ "group not a string", VS("a", 3, ", \"group\": 5"), false,
	    { "group" }, { { NULL } } },
	{ "same CID in one group", VS("a", 7, ", \"group\": \"g\"") ", "
	    VS("b", 7, ", \"group\": \"g\""), false, { "guest_cid" },
	    { { "devices[0]", "\"a\"" }, { "devices[1]", "\"b\"" } } },
	{ "duplicate uds_path", VS("a", 3, "") ", {\"id\": \"b\", \"type\": "
	    "\"vsock\", \"socket\": \"b.sock\", \"guest_cid\": 4, "
	    "\"uds_path\": \"%D/a.vsock\"}", false, { "uds_path" },
	    { { "devices[0]", "\"a\"" }, { "devices[1]", "\"b\"" } } },
	{ "(extra) uds_path is another device's socket", VS("a", 3, "") ", "
	    "{\"id\": \"b\", \"type\": \"vsock\", \"socket\": \"b.sock\", "
	    "\"guest_cid\": 4, \"uds_path\": \"%D/a.sock\"}", false,
	    { "uds_path" }, { { NULL } } },
	{ "(extra) uds_path too long for <uds_path>.seqpacket",
	    "{\"id\": \"a\", \"type\": \"vsock\", \"socket\": \"a.sock\", "
	    "\"guest_cid\": 3, \"uds_path\": \"/tmp/"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}", false, { "uds_path" },
	    { { NULL } } },
};

/* Writes the config of a row, runs vhostd -n on it; returns its exit
 * status (or -1: killed, timed out) and its output in out. */
static int
run_check(const struct cfgrow *r, char *out, size_t outlen)
{
	char cfg[PATH_MAX], log[PATH_MAX], body[8192];
	const char *s;
	size_t o = 0;
	int64_t deadline;
	int status, fd;
	ssize_t n;
	pid_t pid, w;
	FILE *f;

	for (s = r->devs; *s != '\0' && o + PATH_MAX < sizeof(body); s++) {
		if (s[0] == '%' && s[1] == 'D') {
			o += (size_t)snprintf(body + o, sizeof(body) - o, "%s",
			    E.d->dir);
			s++;
		} else
			body[o++] = *s;
	}
	body[o] = '\0';
	snprintf(cfg, sizeof(cfg), "%s/check.json", E.d->dir);
	snprintf(log, sizeof(log), "%s/check.out", E.d->dir);
	if ((f = fopen(cfg, "w")) == NULL)
		fail_msg("%s: %s", cfg, strerror(errno));
	fprintf(f, "{\n  \"runtime_dir\": \"%s\",\n  \"devices\": [\n    "
	    "%s\n  ]\n}\n", E.d->dir, body);
	fclose(f);
	unlink(log);
	if ((pid = fork()) == -1)
		fail_msg("fork: %s", strerror(errno));
	if (pid == 0) {
		fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd != -1) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(getenv("VHOSTD"), "vhostd", "-n", "-c", cfg,
		    (char *)NULL);
		_exit(127);
	}
	deadline = now_ms() + 10000;
	while ((w = waitpid(pid, &status, WNOHANG)) == 0) {
		if (now_ms() >= deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			snprintf(out, outlen, "(vhostd -n still running after "
			    "10 s)");
			return -1;
		}
		sleep_ms(10);
	}
	out[0] = '\0';
	if ((fd = open(log, O_RDONLY | O_CLOEXEC)) != -1) {
		n = read(fd, out, outlen - 1);
		out[n > 0 ? n : 0] = '\0';
		close(fd);
	}
	if (!WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* The rows whose name starts "(extra)" (extra) or the others. */
static void
config_rows(bool extra)
{
	char out[8192], why[256];
	unsigned i, k, nbad = 0, nrows = 0;
	const struct cfgrow *r;
	int rc;

	SKIP_IF_NONE();
	for (i = 0; i < sizeof(cfgrows) / sizeof(cfgrows[0]); i++) {
		r = &cfgrows[i];
		if ((strncmp(r->name, "(extra)", 7) == 0) != extra)
			continue;
		nrows++;
		rc = run_check(r, out, sizeof(out));
		why[0] = '\0';
		if (r->ok && rc != 0)
			snprintf(why, sizeof(why), "refused (exit %d), should "
			    "be accepted", rc);
		else if (!r->ok && rc <= 0)
			snprintf(why, sizeof(why), "%s, should be refused",
			    rc == 0 ? "accepted" : "killed or hung");
		else if (!r->ok) {
			for (k = 0; k < 3 && r->need[k] != NULL; k++)
				if (strstr(out, r->need[k]) == NULL)
					snprintf(why, sizeof(why), "refused but "
					    "the message does not say \"%s\"",
					    r->need[k]);
			for (k = 0; k < 2 && r->either[k][0] != NULL; k++)
				if (strstr(out, r->either[k][0]) == NULL &&
				    strstr(out, r->either[k][1]) == NULL)
					snprintf(why, sizeof(why), "refused but "
					    "the message names neither %s nor %s",
					    r->either[k][0], r->either[k][1]);
		}
		fprintf(stderr, "config %-50s %s (exit %d)\n", r->name,
		    why[0] ? "FAIL" : "ok", rc);
		if (why[0] != '\0' || getenv("VSOCK_TRACE") != NULL)
			fprintf(stderr, "  %s\n  output: %s", why, out);
		if (why[0] != '\0')
			nbad++;
	}
	if (nbad > 0)
		fail_msg("%u of %u config rows wrong (see above)", nbad, nrows);
}

static void
test_config_check(void **state)
{
	(void)state;
	config_rows(false);
}

static void
test_config_check_extra(void **state)
{
	(void)state;
	config_rows(true);
}

/* ====================================================================
 * What the device says of itself.
 * ==================================================================== */

static void
test_features(void **state)
{
	uint64_t f, n, cid = 4294967294ULL;
	uint8_t cfg[8];
	struct link l;
	struct vuf *v;
	int dev;

	(void)state;
	SKIP_IF_NONE();
	dev = add_vsock("vm1-vsock", cid, 0, "");
	vs_start();
	if ((v = vuf_connect(E.d->sock[dev], WAIT_MS)) == NULL)
		fail_msg("connect: %s", strerror(errno));
	if (vuf_negotiate(v, ~0ULL, ~0ULL) == -1)
		fail_msg("negotiate: %s", vuf_error(v));
	f = v->dev_features;
	fprintf(stderr, "features offered: %#llx\n", (unsigned long long)f);
	if (!(f & (1ULL << VIRTIO_F_VERSION_1)))
		fail_msg("VIRTIO_F_VERSION_1 not offered: %#llx",
		    (unsigned long long)f);
	if (!(f & (1ULL << F_STREAM)))
		fail_msg("VIRTIO_VSOCK_F_STREAM (bit 0) not offered: %#llx",
		    (unsigned long long)f);
	if (!(f & (1ULL << F_SEQPACKET)))
		fail_msg("VIRTIO_VSOCK_F_SEQPACKET (bit 1) not offered: %#llx",
		    (unsigned long long)f);
	if (vuf_get_queue_num(v, &n) == -1)
		fail_msg("GET_QUEUE_NUM: %s", vuf_error(v));
	if (n != 3)
		fail_msg("GET_QUEUE_NUM: %llu, want 3 (rx, tx, event)",
		    (unsigned long long)n);
	if (!(v->protocol_features & (1ULL << VUF_PF_CONFIG)))
		fail_msg("protocol feature CONFIG not offered");
	if (vuf_get_config(v, 0, 8, cfg) == -1)
		fail_msg("GET_CONFIG: %s", vuf_error(v));
	memcpy(&n, cfg, 8);
	if (le64toh(n) != cid)
		fail_msg("config space guest_cid %llu, want %llu",
		    (unsigned long long)le64toh(n), (unsigned long long)cid);
	vuf_close(v);
	/* And a guest with that CID gets host connections addressed to it. */
	host_connect(g_open(dev), T_STREAM, 1234, 65536, &l);
	link_ping(&l, "CID 2^32-2");
	vs_stop();
}

/* ====================================================================
 * Host-initiated connections, data both ways.
 * ==================================================================== */

struct hcrow {
	const char	*name;
	uint32_t	 bufsize;	/* 0: default */
	uint32_t	 guest_buf;
	enum txl	 tx;
	bool		 rx_split;
	size_t		 len;
};

static const struct hcrow hcrows[] = {
	{ "host_connect: default buffer_size, 512 KiB each way", 0, 262144,
	    TX_SPLIT, false, 512 * 1024 },
	{ "host_connect: buffer_size 65536, one-descriptor tx, split rx",
	    65536, 65536, TX_ONE, true, 200 * 1024 },
	{ "host_connect: buffer_size 4096, guest buf_alloc 8192", 4096, 8192,
	    TX_SPLIT, false, 100 * 1024 },
};

static void
test_host_connect(void **state)
{
	const struct hcrow *r = E.row;
	struct guest *g;
	struct link l, l2;

	(void)state;
	SKIP_IF_NONE();
	g = g_open_with(vs_dev(r->bufsize, ""), ~0ULL, r->rx_split);
	g->tx_layout = r->tx;
	g_probe(g);
	host_connect(g, T_STREAM, 1234, r->guest_buf, &l);
	/* A second one to the same port, at the same time. */
	host_connect(g, T_STREAM, 1234, r->guest_buf, &l2);
	if (l2.c.pport == l.c.pport)
		fail_msg("two host connections with the same host port %u",
		    l.c.pport);
	xfer_g2h(&l.c, l.hfd, 1, r->len);
	xfer_h2g(l.hfd, &l.c, 2, r->len);
	link_ping(&l2, "second connection");
	xfer_h2g(l2.hfd, &l2.c, 3, r->len / 2);
	xfer_g2h(&l2.c, l2.hfd, 4, r->len / 2);
	link_close_guest(&l, "first connection");
	link_ping(&l2, "second connection after the first closed");
	link_close_guest(&l2, "second connection");
	g_queues_ok(g, "at the end");
	vs_stop();
}

/* The guest refuses: RST; the host socket is closed without "OK". */
static void
test_host_connect_refused(void **state)
{
	struct match m;
	struct guest *g;
	struct link ok;
	char line[128];
	struct pkt *p;
	ssize_t n;
	int fd;

	(void)state;
	SKIP_IF_NONE();
	g = vs_guest(0, "");
	p = host_request(g, "CONNECT 1234\n", &fd);
	m = (struct match){ HOST_CID, p->h.src_port, 1234, 0 };
	g_refuse(g, p);
	n = h_read_line(fd, SOCK_STREAM, line, sizeof(line), WAIT_MS);
	if (n > 0)
		fail_msg("host read \"%s\" after the guest's RST, want EOF",
		    line);
	if (n == H_TIMEOUT)
		fail_msg("host socket still open %d ms after the guest's RST",
		    WAIT_MS);
	h_close(fd);
	/* The device says nothing more of that connection. */
	if (!g_quiet(g, &m, QUIET_MS))
		fail_msg("packets for the refused connection after RST");
	host_connect(g, T_STREAM, 1234, 65536, &ok);
	link_ping(&ok, "connection after a refused one");
	g_queues_ok(g, "at the end");
	vs_stop();
}

/* (extra) A host connection right after the VMM set the device up
 * (DRIVER_OK acknowledged) reaches the guest; tried with 20 fresh VMMs
 * (the window is a few ms wide). */
static void
test_host_connect_early(void **state)
{
	struct match m = { HOST_CID, ANY32, 1234, OPB(OP_REQUEST) };
	struct guest *g;
	struct pkt *p;
	unsigned tries, trial, refused = 0, worst = 0;
	int64_t t0, deadline, took, worst_ms = 0;
	uint8_t byte;
	int fd, dev;

	(void)state;
	SKIP_IF_NONE();
	dev = vs_dev(0, "");
	for (trial = 0; trial < 20; trial++) {
		g = g_open_with(dev, ~0ULL, false);
		t0 = now_ms();
		deadline = t0 + 5000;
		p = NULL;
		tries = 0;
		fd = -1;
		while (p == NULL && now_ms() < deadline) {
			tries++;
			fd = h_connect(E.uds[dev], SOCK_STREAM);
			h_write(fd, "CONNECT 1234\n", 13, WAIT_MS);
			while (now_ms() < deadline) {
				if ((p = g_take(g, &m, 20)) != NULL)
					break;
				if (h_read(fd, &byte, 1, 0, NULL) == 0)
					break;		/* refused */
			}
			if (p == NULL) {
				h_close(fd);
				fd = -1;
				sleep_ms(5);
			}
		}
		if (p == NULL)
			fail_msg("trial %u: no host connection reached the guest "
			    "in 5 s", trial);
		took = now_ms() - t0;
		if (tries > 1) {
			refused++;
			if (took > worst_ms)
				worst_ms = took;
			if (tries > worst)
				worst = tries;
		}
		g_refuse(g, p);
		h_close(fd);
		g_close(g);
	}
	fprintf(stderr, "early: in %u of 20 fresh VMMs the first host "
	    "connection was refused (up to %u tries, %lld ms)\n", refused,
	    worst, (long long)worst_ms);
	if (refused > 0)
		fail_msg("(extra) in %u of 20 trials, host connections made right "
		    "after the front-end's DRIVER_OK was acknowledged were refused"
		    " (\"no guest is connected\") for up to %lld ms", refused,
		    (long long)worst_ms);
	vs_stop();
}

/* (extra) Lines that are not "CONNECT <port>\n": the host socket is
 * closed, the guest sees nothing. */
static void
test_host_bad_lines(void **state)
{
	static const char *const lines[] = {
		"CONNECT abc\n", "CONNECT\n", "CONNECT 1 2\n", "HELLO 1234\n",
		"CONNECT 4294967296\n", "CONNECT -1\n", "connect 1234\n",
	};
	struct match any = { ANY64, ANY32, ANY32, OPB(OP_REQUEST) };
	char junk[600];
	struct guest *g;
	struct link ok;
	unsigned i, nbad = 0;
	size_t extra;
	int fd;

	(void)state;
	SKIP_IF_NONE();
	g = vs_guest(0, "");
	for (i = 0; i <= sizeof(lines) / sizeof(lines[0]); i++) {
		fd = h_connect(E.uds[g->dev], SOCK_STREAM);
		if (i < sizeof(lines) / sizeof(lines[0]))
			h_write(fd, lines[i], strlen(lines[i]), WAIT_MS);
		else {
			/* 600 bytes and no newline. */
			memset(junk, 'x', sizeof(junk));
			h_write(fd, junk, sizeof(junk), WAIT_MS);
		}
		if (h_wait_eof(fd, WAIT_MS, &extra) != 1 || extra != 0) {
			fprintf(stderr, "(extra) bad CONNECT line %u \"%.20s\": "
			    "host socket %s\n", i, i < sizeof(lines) /
			    sizeof(lines[0]) ? lines[i] : "xxx...", extra ?
			    "got bytes" : "not closed");
			nbad++;
		}
		h_close(fd);
	}
	if (!g_quiet(g, &any, QUIET_MS))
		fail_msg("(extra) a bad CONNECT line made a REQUEST");
	host_connect(g, T_STREAM, 1234, 65536, &ok);
	link_ping(&ok, "connection after bad lines");
	if (nbad > 0)
		fail_msg("(extra) %u bad CONNECT lines not answered by closing "
		    "the host socket", nbad);
	vs_stop();
}

/* ====================================================================
 * Guest-initiated connections.
 * ==================================================================== */

static void
test_guest_connect(void **state)
{
	struct guest *g;
	struct link l;
	int sfd;

	(void)state;
	SKIP_IF_NONE();
	g = vs_guest(65536, "");
	guest_link(g, T_STREAM, 262144, &l);
	xfer_g2h(&l.c, l.hfd, 5, 300 * 1024);
	xfer_h2g(l.hfd, &l.c, 6, 300 * 1024);

	/* Nobody listens on 7001: RST from 2:7001. */
	g_refused(g, HOST_CID, 7001, T_STREAM, 0, "port 7001, no listener");

	/* A STREAM REQUEST to a SOCK_SEQPACKET listener: RST. */
	sfd = h_listen_port(g->dev, 7002, SOCK_SEQPACKET);
	g_refused(g, HOST_CID, 7002, T_STREAM, 0,
	    "STREAM REQUEST to a SEQPACKET listener");
	if (fd_readable(sfd, 0))
		fail_msg("SEQPACKET listener got a connection for a STREAM "
		    "REQUEST");

	link_ping(&l, "after the refused connections");
	link_close_guest(&l, "guest connection");
	g_queues_ok(g, "at the end");
	vs_stop();
}

/* ====================================================================
 * SEQPACKET.
 * ==================================================================== */

static void
seq_exchange(struct link *l)
{
	static const size_t g2h[] = { 1, 100, 4096, 4097, 10000 };
	static const size_t h2g[] = { 1, 4096, 5000, 12000, 7 };
	uint8_t *msg, *got;
	unsigned i;
	ssize_t n;

	if ((msg = malloc(65536)) == NULL || (got = malloc(65536)) == NULL)
		fail_msg("malloc");
	for (i = 0; i < sizeof(g2h) / sizeof(g2h[0]); i++) {
		pat_fill(msg, g2h[i], 10 + i, 0);
		c_send_msg(&l->c, msg, g2h[i], 4096);
		n = h_read(l->hfd, got, 65536, WAIT_MS, NULL);
		if (n != (ssize_t)g2h[i] || memcmp(msg, got, g2h[i]) != 0)
			fail_msg("seqpacket guest->host message %u: sent %zu "
			    "bytes, host read %zd%s", i, g2h[i], n, n ==
			    (ssize_t)g2h[i] ? " differing" : "");
	}
	/* One message of 30 bytes in three RW packets of 10. */
	pat_fill(msg, 30, 20, 0);
	c_send_msg(&l->c, msg, 30, 10);
	n = h_read(l->hfd, got, 65536, WAIT_MS, NULL);
	if (n != 30 || memcmp(msg, got, 30) != 0)
		fail_msg("seqpacket: 3 RW packets (EOM on the last) read as %zd "
		    "bytes, want one message of 30", n);
	/* Two messages back to back stay two. */
	c_send_msg(&l->c, msg, 10, 10);
	c_send_msg(&l->c, msg + 10, 20, 20);
	n = h_read(l->hfd, got, 65536, WAIT_MS, NULL);
	if (n != 10)
		fail_msg("seqpacket: first of two messages read as %zd bytes, "
		    "want 10", n);
	n = h_read(l->hfd, got, 65536, WAIT_MS, NULL);
	if (n != 20 || memcmp(msg + 10, got, 20) != 0)
		fail_msg("seqpacket: second of two messages read as %zd bytes, "
		    "want 20", n);

	for (i = 0; i < sizeof(h2g) / sizeof(h2g[0]); i++) {
		pat_fill(msg, h2g[i], 30 + i, 0);
		if (h_write(l->hfd, msg, h2g[i], WAIT_MS) != h2g[i])
			fail_msg("seqpacket host write of %zu", h2g[i]);
	}
	for (i = 0; i < sizeof(h2g) / sizeof(h2g[0]); i++) {
		pat_fill(msg, h2g[i], 30 + i, 0);
		n = c_recv_msg(&l->c, got, 65536, WAIT_MS);
		if (n != (ssize_t)h2g[i] || memcmp(msg, got, h2g[i]) != 0)
			fail_msg("seqpacket host->guest message %u of %zu bytes: "
			    "guest got %s%zd%s", i, h2g[i], n < -1 ?
			    "an unterminated (no EOM) " : "", n < -1 ? -n - 1 :
			    n, n == (ssize_t)h2g[i] ? " differing" : "");
	}
	free(msg);
	free(got);
}

/* A SEQPACKET connection made by the host or by the guest: messages both
 * ways. */
static void
seq_test(bool by_host)
{
	struct guest *g;
	struct link l;

	SKIP_IF_NONE();
	g = vs_guest(0, "");
	if (by_host)
		host_connect(g, T_SEQPACKET, 2000, 65536, &l);
	else
		guest_link(g, T_SEQPACKET, 65536, &l);
	seq_exchange(&l);
	link_close_guest(&l, "seqpacket");
	g_queues_ok(g, "at the end");
	vs_stop();
}

static void
test_seqpacket_host(void **state)
{
	(void)state;
	seq_test(true);
}

static void
test_seqpacket_guest(void **state)
{
	(void)state;
	seq_test(false);
}

/* (extra) A driver that did not accept SEQPACKET gets no SEQPACKET. */
static void
test_seqpacket_off(void **state)
{
	struct match any = { ANY64, ANY32, ANY32, OPB(OP_REQUEST) };
	char sp[PATH_MAX + 16];
	struct guest *g;
	struct sockaddr_un sun;
	size_t extra;
	int lfd, fd, dev;

	(void)state;
	SKIP_IF_NONE();
	dev = vs_dev(0, "");
	g = g_open_with(dev, ~(1ULL << F_SEQPACKET), false);
	if (g->v->features & (1ULL << F_SEQPACKET))
		fail_msg("test bug: SEQPACKET negotiated");
	g_probe(g);
	lfd = h_listen_port(dev, 7000, SOCK_SEQPACKET);
	g_refused(g, HOST_CID, 7000, T_SEQPACKET, 0,
	    "(extra) SEQPACKET REQUEST without the feature");
	if (fd_readable(lfd, 0))
		fail_msg("(extra) SEQPACKET REQUEST without the feature reached "
		    "the host");
	/* The host side: refused or closed, no REQUEST on rx. */
	snprintf(sp, sizeof(sp), "%s.seqpacket", E.uds[dev]);
	sun_set(&sun, sp);
	if ((fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) == -1)
		fail_msg("socket");
	fd_track(fd);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
		h_write(fd, "CONNECT 1234\n", 13, WAIT_MS);
		if (!g_quiet(g, &any, QUIET_MS))
			fail_msg("(extra) host SEQPACKET connection offered to "
			    "a guest without SEQPACKET");
		if (h_wait_eof(fd, WAIT_MS, &extra) != 1)
			fail_msg("(extra) host SEQPACKET connection to a guest "
			    "without SEQPACKET left open");
	}
	h_close(fd);
	vs_stop();
}

/* ====================================================================
 * Credit, host -> guest: never beyond what the guest advertised.
 * ==================================================================== */

static void
test_credit_to_guest(void **state)
{
	const size_t total = 64 * 1024;
	uint8_t *data, *got;
	struct guest *g;
	struct link l;
	struct pkt *p;
	size_t have = 0, n, want, bad;
	unsigned round = 0;

	(void)state;
	SKIP_IF_NONE();
	g = vs_guest(0, "");
	host_connect(g, T_STREAM, 1234, 4096, &l);
	if ((data = malloc(total)) == NULL || (got = malloc(total)) == NULL)
		fail_msg("malloc");
	pat_fill(data, total, 40, 0);
	if (h_write(l.hfd, data, total, WAIT_MS) != total)
		fail_msg("host could not write 64 KiB");
	while (have < total) {
		/* Exactly what the credit allows comes, then nothing. */
		want = l.c.adv_buf_alloc - (l.c.rx_cnt - l.c.adv_fwd_cnt);
		if (want > total - have)
			want = total - have;
		n = c_recv(&l.c, got + have, want, WAIT_MS, false);
		if (n < want)
			fail_msg("round %u: the device sent %zu bytes, the "
			    "credit (buf_alloc %u fwd_cnt %u) allows %zu, and "
			    "%zu of 64 KiB are still to come", round, n,
			    l.c.adv_buf_alloc, l.c.adv_fwd_cnt, want,
			    total - have);
		have += n;
		if ((p = c_take(&l.c, OPB(OP_RW), QUIET_MS)) != NULL)
			fail_msg("round %u: data beyond the credit", round);
		if (c_ended(&l.c))
			fail_msg("round %u: connection ended", round);
		fprintf(stderr, "credit round %u: %zu bytes with buf_alloc %u, "
		    "%zu in all\n", round, n, l.c.adv_buf_alloc, have);
		/* Consumed: tell the device, larger buf_alloc late on. */
		l.c.fwd_cnt += (uint32_t)n;
		if (round == 8)
			l.c.buf_alloc = 16384;
		c_send(&l.c, OP_CREDIT_UPDATE, 0, NULL, 0);
		round++;
	}
	bad = pat_diff(got, total, 40, 0);
	if (bad < total)
		fail_msg("host->guest under credit: byte %zu differs", bad);
	link_ping(&l, "after the credit rounds");
	link_close_guest(&l, "credit");
	free(data);
	free(got);
	g_queues_ok(g, "at the end");
	vs_stop();
}

/* ====================================================================
 * Credit, guest -> host: vhostd's buffer_size is a hard limit; it tells
 * the guest when the host frees room; beyond the credit: RST.
 * ==================================================================== */

/* Sends until vhostd gives no more credit (the host does not read); the
 * credit is learnt with CREDIT_REQUEST.  Returns bytes sent by this call;
 * fails if vhostd keeps taking more than `cap`. */
static size_t
fill_up(struct conn *c, uint32_t seed, size_t cap)
{
	int64_t deadline = now_ms() + 20000;
	size_t sent = 0, n;
	unsigned zero = 0;

	while (zero < 3) {
		if ((n = c_send_pat(c, seed, c->tx_cnt, SIZE_MAX)) > 0) {
			sent += n;
			zero = 0;
			if (sent > cap)
				fail_msg("vhostd took %zu bytes with the host not "
				    "reading and buffer_size %u: no limit",
				    sent, E.bufsize[c->g->dev]);
			continue;
		}
		if (now_ms() >= deadline)
			fail_msg("fill: 20 s");
		free(c_ask_credit(c));
		if (c_ended(c))
			fail_msg("connection ended while filling (%zu bytes)",
			    sent);
		if (c_credit(c) <= 0) {
			zero++;
			sleep_ms(100);
		}
	}
	return sent;
}

static void
test_credit_to_host(void **state)
{
	struct guest *g;
	struct link l, h;
	uint8_t *buf;
	size_t sent, got, extra, bad;
	uint32_t fwd0;
	struct pkt *p;
	bool eof;

	(void)state;
	SKIP_IF_NONE();
	g = vs_guest(4096, "");
	guest_link(g, T_STREAM, 65536, &h);
	host_connect(g, T_STREAM, 1234, 65536, &l);
	if (l.c.peer_buf_alloc != 4096)
		fail_msg("REQUEST buf_alloc %u, buffer_size is 4096",
		    l.c.peer_buf_alloc);
	if ((buf = malloc(16 << 20)) == NULL)
		fail_msg("malloc");

	/* 1: the host does not read; vhostd stops giving credit. */
	sent = fill_up(&l.c, 50, 8 << 20);
	fprintf(stderr, "flow control: vhostd took %zu bytes before its "
	    "credit ran out (buffer_size 4096, host not reading)\n", sent);

	/* 2: the host reads it all; vhostd says so without being asked. */
	fwd0 = l.c.peer_fwd_cnt;
	got = h_read_full(l.hfd, buf, sent, WAIT_MS, &eof);
	if (got != sent)
		fail_msg("host read %zu of the %zu bytes sent%s", got, sent,
		    eof ? " then EOF" : "");
	if ((bad = pat_diff(buf, got, 50, 0)) < got)
		fail_msg("guest->host byte %zu differs", bad);
	{
		int64_t deadline = now_ms() + WAIT_MS;

		while (l.c.peer_fwd_cnt == fwd0 && now_ms() < deadline)
			g_pull(g, left_ms(deadline));
	}
	if (l.c.peer_fwd_cnt == fwd0)
		fail_msg("the host read all %zu bytes; in %d ms vhostd sent the "
		    "guest no packet with a larger fwd_cnt (still %u, %u sent)",
		    sent, WAIT_MS, fwd0, l.c.tx_cnt);
	fprintf(stderr, "flow control: after the host read, fwd_cnt %u -> %u "
	    "unasked\n", fwd0, l.c.peer_fwd_cnt);
	{
		struct match m = c_match(&l.c, OPB(OP_CREDIT_UPDATE));

		g_purge(g, &m);
	}

	/* 3: full again, then one byte beyond the credit: RST. */
	sent = fill_up(&l.c, 50, 8 << 20);
	got = l.c.tx_cnt;
	c_send(&l.c, OP_RW, 0, "X", 1);
	if ((p = c_take(&l.c, OPB(OP_RST), WAIT_MS)) == NULL)
		fail_msg("1 byte beyond vhostd's credit (buf_alloc %u fwd_cnt %u,"
		    " %zu sent before it): no RST in %d ms", l.c.peer_buf_alloc,
		    l.c.peer_fwd_cnt, got, WAIT_MS);
	free(p);
	if (h_wait_eof(l.hfd, WAIT_MS, &extra) != 1)
		fail_msg("host socket not closed after the RST");
	if (extra > sent)
		fail_msg("host read %zu bytes after the refill of %zu: the byte "
		    "beyond the credit was forwarded", extra, sent);
	h_close(l.hfd);
	c_forget(&l.c);

	/* The other connection never noticed. */
	link_ping(&h, "other connection after the RST");
	xfer_g2h(&h.c, h.hfd, 51, 100 * 1024);
	main_alive("after the overflow");
	free(buf);
	g_queues_ok(g, "at the end");
	vs_stop();
}

/* CREDIT_REQUEST on link i: the answer must say buffer_size 65536 and fwd
 * bytes forwarded. */
static void
credit_expect(struct link *l, int i, uint32_t fwd)
{
	struct pkt *p = c_ask_credit(&l->c);
	char desc[256];

	if (p->h.buf_alloc != 65536 || p->h.fwd_cnt != fwd)
		fail_msg("link %d: CREDIT_UPDATE after %u bytes forwarded: want "
		    "buf_alloc 65536 fwd_cnt %u, got %s", i, fwd, fwd,
		    pkt_desc(&p->h, desc, sizeof(desc)));
	free(p);
}

/* CREDIT_REQUEST => CREDIT_UPDATE with buffer_size and the bytes
 * forwarded, on both kinds of connection. */
static void
test_credit_request(void **state)
{
	uint8_t data[10000];
	struct guest *g;
	struct link l[2];
	int i;

	(void)state;
	SKIP_IF_NONE();
	g = vs_guest(65536, "");
	host_connect(g, T_STREAM, 1234, 65536, &l[0]);
	guest_link(g, T_STREAM, 65536, &l[1]);
	pat_fill(data, sizeof(data), 60, 0);
	for (i = 0; i < 2; i++) {
		credit_expect(&l[i], i, 0);
		c_send(&l[i].c, OP_RW, 0, data, 4000);
		c_send(&l[i].c, OP_RW, 0, data + 4000, 6000);
		h_expect(&l[i], data, sizeof(data), i ? "guest-initiated" :
		    "host-initiated");
		credit_expect(&l[i], i, 10000);
	}
	g_queues_ok(g, "at the end");
	vs_stop();
}

/* ====================================================================
 * SHUTDOWN and close.
 * ==================================================================== */

/* Guest SHUTDOWN(SEND) after data: the host reads the data then EOF, and
 * may still write to the guest. */
static void
test_shutdown_guest_send(void **state)
{
	uint8_t data[20000];
	struct guest *g;
	struct link l;
	struct pkt *p;
	size_t off, extra;

	(void)state;
	SKIP_IF_NONE();
	g = vs_guest(0, "");
	host_connect(g, T_STREAM, 1234, 65536, &l);
	pat_fill(data, sizeof(data), 70, 0);
	for (off = 0; off < sizeof(data); off += 4096)
		c_send(&l.c, OP_RW, 0, data + off, sizeof(data) - off < 4096 ?
		    sizeof(data) - off : 4096);
	c_send(&l.c, OP_SHUTDOWN, SHUT_F_SEND, NULL, 0);
	h_expect(&l, data, sizeof(data), "before SHUTDOWN(SEND)");
	if (h_wait_eof(l.hfd, WAIT_MS, &extra) != 1)
		fail_msg("host socket: no EOF after the guest's SHUTDOWN(SEND)");
	if ((p = c_take(&l.c, OPB(OP_RST), 0)) != NULL)
		fail_msg("SHUTDOWN(SEND) answered with RST: the host could not "
		    "answer");
	/* Half-closed: the host still talks to the guest. */
	pat_fill(data, 5000, 71, 0);
	if (h_write(l.hfd, data, 5000, WAIT_MS) != 5000)
		fail_msg("host write after the guest's SHUTDOWN(SEND) failed");
	g_expect(&l, data, 5000, "after the guest's SHUTDOWN(SEND)");
	/* The host closes: the guest hears of it. */
	link_end(&l, false, "host closed after the guest's SHUTDOWN(SEND)");
	g_queues_ok(g, "at the end");
	vs_stop();
}

/* The host writes and closes: the guest gets every byte, then SHUTDOWN
 * (SEND and/or RCV) or RST; a guest RST ends it; RW after is refused. */
static void
test_shutdown_host_close(void **state)
{
	uint8_t data[30000];
	struct match m;
	struct guest *g;
	struct link l;
	struct pkt *p;
	char desc[256];
	int i;

	(void)state;
	SKIP_IF_NONE();
	g = vs_guest(0, "");
	for (i = 0; i < 2; i++) {
		host_connect(g, T_STREAM, 1234, 65536, &l);
		pat_fill(data, sizeof(data), 80 + i, 0);
		if (h_write(l.hfd, data, sizeof(data), WAIT_MS) != sizeof(data))
			fail_msg("host write");
		h_close(l.hfd);
		g_expect(&l, data, sizeof(data), "host wrote and closed");
		if ((p = c_take(&l.c, OPB(OP_SHUTDOWN) | OPB(OP_RST), WAIT_MS))
		    == NULL)
			fail_msg("host closed: no SHUTDOWN or RST");
		pkt_desc(&p->h, desc, sizeof(desc));
		fprintf(stderr, "host close -> guest got %s\n", desc);
		if (p->h.op == OP_SHUTDOWN && (p->h.flags & (SHUT_F_SEND |
		    SHUT_F_RCV)) == 0)
			fail_msg("SHUTDOWN without SEND or RCV: %s", desc);
		if (p->h.op == OP_SHUTDOWN) {
			free(p);
			if (i == 0) {
				/* The guest closes too, as Linux does. */
				c_send(&l.c, OP_RST, 0, NULL, 0);
				m = c_match(&l.c, 0);
				if (!g_quiet(g, &m, QUIET_MS))
					fail_msg("the device answered the "
					    "guest's RST");
			} else {
				c_send(&l.c, OP_SHUTDOWN, 3, NULL, 0);
				if ((p = c_take(&l.c, OPB(OP_RST), WAIT_MS)) ==
				    NULL)
					fail_msg("SHUTDOWN(3) after the host "
					    "closed: no RST");
				free(p);
			}
		} else
			free(p);
		/* The connection is gone: RW is refused. */
		c_send(&l.c, OP_RW, 0, "late", 4);
		if ((p = c_take(&l.c, OPB(OP_RST), WAIT_MS)) == NULL)
			fail_msg("RW on a closed connection: no RST");
		free(p);
		c_forget(&l.c);
	}
	g_queues_ok(g, "at the end");
	vs_stop();
}

/* Guest SHUTDOWN with both flags: RST, and the host socket closed after
 * the data. */
static void
test_shutdown_guest_both(void **state)
{
	uint8_t data[9000];
	struct guest *g;
	struct link l;
	int lfd, i;

	(void)state;
	SKIP_IF_NONE();
	g = vs_guest(0, "");
	lfd = h_listen_port(g->dev, 7000, SOCK_STREAM);
	for (i = 0; i < 2; i++) {
		if (i == 0)
			host_connect(g, T_STREAM, 1234, 65536, &l);
		else
			guest_connect(g, T_STREAM, 7000, lfd, 65536, &l);
		pat_fill(data, sizeof(data), 90 + i, 0);
		c_send(&l.c, OP_RW, 0, data, 4500);
		c_send(&l.c, OP_RW, 0, data + 4500, 4500);
		c_send(&l.c, OP_SHUTDOWN, 3, NULL, 0);
		h_expect(&l, data, sizeof(data), i ? "guest-initiated, before "
		    "SHUTDOWN(3)" : "host-initiated, before SHUTDOWN(3)");
		link_close_guest(&l, i ? "guest-initiated SHUTDOWN(3)" :
		    "host-initiated SHUTDOWN(3)");
	}
	g_queues_ok(g, "at the end");
	vs_stop();
}

/* (extra) The host half-closes (shutdown(SHUT_WR)): the guest gets
 * SHUTDOWN(SEND) and can still send to the host. */
static void
test_shutdown_host_half(void **state)
{
	uint8_t data[3000], got[3000];
	struct guest *g;
	struct link l;
	struct pkt *p;
	char desc[256];
	size_t n;
	bool eof;

	(void)state;
	SKIP_IF_NONE();
	g = vs_guest(0, "");
	host_connect(g, T_STREAM, 1234, 65536, &l);
	pat_fill(data, sizeof(data), 95, 0);
	h_write(l.hfd, data, sizeof(data), WAIT_MS);
	if (shutdown(l.hfd, SHUT_WR) == -1)
		fail_msg("shutdown: %s", strerror(errno));
	n = c_recv(&l.c, got, sizeof(got), WAIT_MS, true);
	if (n != sizeof(got))
		fail_msg("guest got %zu of %zu bytes", n, sizeof(got));
	if ((p = c_take(&l.c, OPB(OP_SHUTDOWN) | OPB(OP_RST), WAIT_MS)) ==
	    NULL)
		fail_msg("(extra) host SHUT_WR: no SHUTDOWN for the guest");
	pkt_desc(&p->h, desc, sizeof(desc));
	if (p->h.op != OP_SHUTDOWN || !(p->h.flags & SHUT_F_SEND))
		fail_msg("(extra) host half-close (SHUT_WR) told the guest %s; "
		    "want SHUTDOWN with SEND, the host may still read", desc);
	free(p);
	c_send(&l.c, OP_RW, 0, data, sizeof(data));
	n = h_read_full(l.hfd, got, sizeof(got), WAIT_MS, &eof);
	if (n != sizeof(got))
		fail_msg("(extra) after the host's SHUT_WR, the guest's reply: "
		    "host read %zu of %zu", n, sizeof(got));
	link_close_guest(&l, "half-closed");
	vs_stop();
}


/* ====================================================================
 * The host side goes away at awkward moments: the worker survives
 * (no SIGPIPE), the guest is told, the others go on.
 * ==================================================================== */

static void
test_host_gone(void **state)
{
	uint8_t chunk[4096];
	struct guest *g;
	struct link h, l;
	pid_t worker;
	int lfd2, fd, i;

	(void)state;
	SKIP_IF_NONE();
	g = vs_guest(0, "");
	guest_link(g, T_STREAM, 65536, &h);
	lfd2 = h_listen_port(g->dev, 7001, SOCK_STREAM);
	worker = worker_wait("vm1-vsock");
	memset(chunk, 'z', sizeof(chunk));

	/* 1: the host hangs up before the guest answers its REQUEST; the
	 * guest accepts: "OK" goes to a closed socket. */
	host_request_conn(g, "CONNECT 1234\n", &fd, &l.c);
	h_close(fd);
	sleep_ms(50);
	c_send(&l.c, OP_RESPONSE, 0, NULL, 0);
	c_send(&l.c, OP_RW, 0, chunk, sizeof(chunk));
	expect_end(&l.c, "host gone before RESPONSE");
	link_ping(&h, "other connection (1)");

	/* 2: the host closes an open connection; the guest keeps sending
	 * before it hears of it. */
	for (i = 0; i < 2; i++) {
		if (i == 0)
			host_connect(g, T_STREAM, 1234, 65536, &l);
		else
			guest_connect(g, T_STREAM, 7001, lfd2, 65536, &l);
		h_close(l.hfd);
		c_send(&l.c, OP_RW, 0, chunk, sizeof(chunk));
		c_send(&l.c, OP_RW, 0, chunk, sizeof(chunk));
		c_send(&l.c, OP_RW, 0, chunk, sizeof(chunk));
		expect_end(&l.c, i ? "guest-initiated, host closed" :
		    "host-initiated, host closed");
	}
	if (worker_of("vm1-vsock") != worker)
		fail_msg("the worker died (pid %d -> %d): SIGPIPE?", (int)worker,
		    (int)worker_of("vm1-vsock"));
	main_alive("after the host went away");
	link_ping(&h, "other connection (2)");
	g_queues_ok(g, "at the end");
	vs_stop();
}

/* ====================================================================
 * Many connections at once: no cross-talk, distinct host ports.
 * ==================================================================== */

#define NMANY	24

static void
test_many_conns(void **state)
{
	static struct link l[NMANY];
	uint8_t *want[NMANY], *got[NMANY], chunk[8192];
	size_t sent[NMANY], rcvd[NMANY], hrcvd[NMANY], hsent[NMANY], n;
	const size_t len = 64 * 1024;
	int64_t deadline, next_ask;
	struct guest *g;
	bool done;
	ssize_t r;
	int lfd, i, j;

	(void)state;
	SKIP_IF_NONE();
	g = vs_guest(16384, ", \"max_connections\": 24");
	lfd = h_listen_port(g->dev, 7000, SOCK_STREAM);
	for (i = 0; i < NMANY; i++) {
		if (i % 2 == 0)
			host_connect(g, T_STREAM, 1000 + (uint32_t)i % 4, 8192,
			    &l[i]);
		else
			guest_connect(g, T_STREAM, 7000, lfd, 8192, &l[i]);
		for (j = 0; j < i; j++)
			if (i % 2 == 0 && j % 2 == 0 &&
			    l[i].c.pport == l[j].c.pport)
				fail_msg("host connections %d and %d share host "
				    "port %u", j, i, l[i].c.pport);
		if ((want[i] = malloc(len)) == NULL ||
		    (got[i] = malloc(len)) == NULL)
			fail_msg("malloc");
		sent[i] = rcvd[i] = hrcvd[i] = hsent[i] = 0;
	}
	/* A 25th is refused: max_connections 24. */
	g_refused(g, HOST_CID, 7000, T_STREAM, 0,
	    "a 25th connection with max_connections 24");
	if (fd_readable(lfd, 100))
		fail_msg("the 25th connection reached the host");
	/* Every connection both ways at once, 64 KiB each, interleaved. */
	deadline = now_ms() + 30000;
	next_ask = now_ms() + 500;
	do {
		done = true;
		for (i = 0; i < NMANY; i++) {
			/* guest -> host, pattern 200+i */
			sent[i] += c_send_pat(&l[i].c, 200 + (uint32_t)i,
			    sent[i], len - sent[i]);
			r = h_read(l[i].hfd, chunk, sizeof(chunk), 0, NULL);
			if (r > 0) {
				if (pat_diff(chunk, (size_t)r, 200 + (uint32_t)i,
				    hrcvd[i]) < (size_t)r)
					fail_msg("connection %d: host got other "
					    "bytes at %zu", i, hrcvd[i]);
				hrcvd[i] += (size_t)r;
			} else if (r != H_TIMEOUT)
				fail_msg("connection %d: host socket closed", i);
			/* host -> guest, pattern 300+i */
			if (hsent[i] < len) {
				n = len - hsent[i] < 4000 ? len - hsent[i] :
				    4000;
				pat_fill(chunk, n, 300 + (uint32_t)i, hsent[i]);
				hsent[i] += h_write(l[i].hfd, chunk, n, 0);
			}
			rcvd[i] += c_recv(&l[i].c, got[i] + rcvd[i],
			    len - rcvd[i], 0, true);
			if (c_ended(&l[i].c))
				fail_msg("connection %d ended", i);
			if (hrcvd[i] < len || rcvd[i] < len)
				done = false;
		}
		g_pull(g, 1);
		if (now_ms() >= deadline) {
			for (i = 0; i < NMANY; i++)
				fprintf(stderr, "conn %d: g->h %zu/%zu h->g %zu/%zu "
				    "credit %lld\n", i, hrcvd[i], sent[i],
				    rcvd[i], hsent[i],
				    (long long)c_credit(&l[i].c));
			fail_msg("24 connections: not done in 30 s");
		}
		/* Stalled on credit: ask now and then. */
		if (now_ms() >= next_ask) {
			next_ask = now_ms() + 500;
			for (i = 0; i < NMANY; i++)
				if (sent[i] < len && c_credit(&l[i].c) <= 0)
					c_send(&l[i].c, OP_CREDIT_REQUEST, 0,
					    NULL, 0);
		}
	} while (!done);
	for (i = 0; i < NMANY; i++) {
		pat_fill(want[i], len, 300 + (uint32_t)i, 0);
		if (memcmp(want[i], got[i], len) != 0)
			fail_msg("connection %d: host->guest bytes differ at %zu",
			    i, pat_diff(got[i], len, 300 + (uint32_t)i, 0));
		link_close_guest(&l[i], "many");
		free(want[i]);
		free(got[i]);
	}
	g_queues_ok(g, "at the end");
	vs_stop();
}

/* ====================================================================
 * Sibling groups: vm A (CID 3) and B (CID 4) in group g1, C (CID 5) in
 * g2, D (CID 6) in none.
 * ==================================================================== */

/* The first n of those devices; vhostd started. */
static void
sib_config(int n)
{
	static const struct {
		const char	*id;
		uint64_t	 cid;
		const char	*extra;
	} sibs[] = {
		{ "vmA-vsock", 3, ", \"group\": \"g1\"" },
		{ "vmB-vsock", 4, ", \"group\": \"g1\"" },
		{ "vmC-vsock", 5, ", \"group\": \"g2\"" },
		{ "vmD-vsock", 6, "" },
	};
	int i;

	for (i = 0; i < n; i++)
		add_vsock(sibs[i].id, sibs[i].cid, 0, sibs[i].extra);
	vs_start();
}

/* A guest REQUEST to (cid, port) must be refused with RST, and the other
 * guests (with a VMM) must see nothing. */
static void
sib_refused(struct guest *a, uint64_t cid, uint32_t port, const char *what)
{
	struct match any = { ANY64, ANY32, ANY32, 0 };
	int i;

	g_refused(a, cid, port, T_STREAM, 0, what);
	for (i = 0; i < DAEMON_MAX_DEVS; i++)
		if (E.g[i] != NULL && E.g[i] != a &&
		    !g_quiet(E.g[i], &any, 100))
			fail_msg("%s: %s got a packet", what, E.g[i]->name);
}

/* A (guest) connects to B (guest) port `port`; B takes the REQUEST and
 * answers RESPONSE (or RST if refuse). */
static bool
sib_connect(struct guest *a, struct guest *b, uint32_t port,
    struct conn *ca, struct conn *cb, bool refuse)
{
	struct match m = { a->cid, ANY32, port, OPB(OP_REQUEST) };
	struct pkt *p;
	char desc[256];

	c_init(ca, a, b->cid, a->next_port++, port, T_STREAM, 65536);
	c_send(ca, OP_REQUEST, 0, NULL, 0);
	if ((p = g_take(b, &m, WAIT_MS)) == NULL)
		fail_msg("%s's REQUEST to %llu:%u did not reach %s", a->name,
		    (unsigned long long)b->cid, port, b->name);
	pkt_desc(&p->h, desc, sizeof(desc));
	if (p->h.src_cid != a->cid || p->h.src_port != ca->lport ||
	    p->h.dst_cid != b->cid || p->h.type != T_STREAM)
		fail_msg("REQUEST as %s sees it: want %llu:%u -> %llu:%u STREAM, "
		    "got %s", b->name, (unsigned long long)a->cid, ca->lport,
		    (unsigned long long)b->cid, port, desc);
	if (p->h.buf_alloc == 0)
		fail_msg("REQUEST as %s sees it has buf_alloc 0: %s", b->name,
		    desc);
	c_init(cb, b, a->cid, port, ca->lport, T_STREAM, 65536);
	c_note(cb, &p->h);
	free(p);
	c_send(cb, refuse ? OP_RST : OP_RESPONSE, 0, NULL, 0);
	if ((p = c_take(ca, 0, WAIT_MS)) == NULL)
		fail_msg("%s: no answer from %s", a->name, b->name);
	pkt_desc(&p->h, desc, sizeof(desc));
	if (p->h.op != (refuse ? OP_RST : OP_RESPONSE))
		fail_msg("%s %s: %s got %s", b->name, refuse ? "refused" :
		    "accepted", a->name, desc);
	free(p);
	if (refuse) {
		c_forget(ca);
		c_forget(cb);
	}
	return !refuse;
}

/* Siblings A and B only, their guests, and A connected to B's port 5000. */
static void
sib_pair(struct guest **a, struct guest **b, struct conn *ca,
    struct conn *cb)
{
	sib_config(2);
	*a = g_open(0);
	*b = g_open(1);
	sib_connect(*a, *b, 5000, ca, cb, false);
}

/* guest -> guest through vhostd: len bytes from src to dst, credit both
 * ways as drivers do. */
static void
xfer_g2g(struct conn *src, struct conn *dst, uint32_t seed, size_t len)
{
	int64_t deadline = now_ms() + 15000, next_ask = 0;
	size_t sent = 0, got = 0, bad;
	unsigned asked = 0;
	uint8_t *buf;

	if ((buf = calloc(1, len)) == NULL)
		fail_msg("malloc");
	while (got < len) {
		sent += c_send_pat(src, seed, sent, len - sent);
		got += c_recv(dst, buf + got, len - got, 5, true);
		g_pull(src->g, 0);
		if (sent < len && c_credit(src) <= 0) {
			if (next_ask == 0)
				next_ask = now_ms() + 500;
			else if (now_ms() >= next_ask) {
				c_send(src, OP_CREDIT_REQUEST, 0, NULL, 0);
				asked++;
				next_ask = now_ms() + 500;
			}
		} else
			next_ask = 0;
		if (c_ended(src) || c_ended(dst))
			fail_msg("guest->guest: connection ended after %zu "
			    "bytes", got);
		if (now_ms() >= deadline)
			fail_msg("guest->guest %s -> %s: %zu of %zu sent, %zu "
			    "received; credit: buf_alloc %u fwd_cnt %u",
			    src->g->name, dst->g->name, sent, len, got,
			    src->peer_buf_alloc, src->peer_fwd_cnt);
	}
	if ((bad = pat_diff(buf, len, seed, 0)) < len)
		fail_msg("guest->guest: byte %zu differs", bad);
	if (asked > 0)
		fprintf(stderr, "  note: guest->guest transfer stalled %u times "
		    "500 ms without credit update\n", asked);
	free(buf);
}

static void
test_sib_connect(void **state)
{
	struct guest *a, *b, *c;
	struct conn ca, cb;
	struct pkt *p;

	(void)state;
	SKIP_IF_NONE();
	sib_config(4);
	a = g_open(0);
	b = g_open(1);
	c = g_open(2);
	sib_connect(a, b, 5000, &ca, &cb, false);
	xfer_g2g(&ca, &cb, 100, 300 * 1024);
	xfer_g2g(&cb, &ca, 101, 300 * 1024);
	/* And the other way round: B connects to A. */
	{
		struct conn cb2, ca2;

		sib_connect(b, a, 5001, &cb2, &ca2, false);
		xfer_g2g(&cb2, &ca2, 102, 50 * 1024);
		xfer_g2g(&ca, &cb, 103, 10 * 1024);
		c_send(&cb2, OP_SHUTDOWN, 3, NULL, 0);
		if ((p = c_take(&ca2, OPB(OP_SHUTDOWN) | OPB(OP_RST), WAIT_MS))
		    == NULL)
			fail_msg("B closed (SHUTDOWN 3): A heard nothing");
		free(p);
		c_send(&ca2, OP_RST, 0, NULL, 0);
		if ((p = c_take(&cb2, OPB(OP_RST), WAIT_MS)) == NULL)
			fail_msg("B's SHUTDOWN 3 / A's RST: B got no RST");
		free(p);
		c_forget(&ca2);
		c_forget(&cb2);
	}
	/* CREDIT_REQUEST across: answered (by B or for B). */
	c_send(&ca, OP_CREDIT_REQUEST, 0, NULL, 0);
	if ((p = c_take(&ca, OPB(OP_CREDIT_UPDATE), WAIT_MS)) == NULL)
		fail_msg("A's CREDIT_REQUEST to B: no CREDIT_UPDATE");
	free(p);
	c_send(&ca, OP_SHUTDOWN, 3, NULL, 0);
	if ((p = c_take(&cb, OPB(OP_SHUTDOWN) | OPB(OP_RST), WAIT_MS)) == NULL)
		fail_msg("A closed (SHUTDOWN 3): B heard nothing");
	free(p);
	c_forget(&ca);
	c_forget(&cb);
	g_queues_ok(a, "A at the end");
	g_queues_ok(b, "B at the end");
	{
		struct match any = { ANY64, ANY32, ANY32, 0 };

		if (!g_quiet(c, &any, 100))
			fail_msg("C (group g2) saw packets of group g1");
	}
	vs_stop();
}

static void
test_sib_refused(void **state)
{
	struct guest *a, *b, *c, *dd;
	struct conn ca, cb;

	(void)state;
	SKIP_IF_NONE();
	sib_config(4);
	a = g_open(0);
	c = g_open(2);
	dd = g_open(3);
	/* B has no VMM yet. */
	sib_refused(a, 4, 5000, "sibling without a front-end");
	b = g_open(1);
	sib_refused(a, 5, 5000, "device of another group");
	sib_refused(a, 77, 5000, "unknown CID");
	sib_refused(a, 6, 5000, "device in no group");
	sib_refused(dd, 3, 5000, "from a device in no group");
	sib_refused(c, 3, 5000, "from another group");
	/* B refuses A with RST: A gets RST. */
	sib_connect(a, b, 5000, &ca, &cb, true);
	/* And then accepts. */
	sib_connect(a, b, 5000, &ca, &cb, false);
	xfer_g2g(&ca, &cb, 110, 20000);
	xfer_g2g(&cb, &ca, 111, 20000);
	/* B's VMM goes away: A hears of it. */
	g_close(b);
	{
		struct pkt *p;

		if ((p = c_take(&ca, OPB(OP_RST) | OPB(OP_SHUTDOWN), WAIT_MS)) ==
		    NULL)
			fail_msg("B's VMM disconnected: A's connection got no "
			    "RST or SHUTDOWN");
		free(p);
	}
	c_forget(&ca);
	sib_refused(a, 4, 5001, "sibling whose front-end left");
	vs_stop();
}


/* ====================================================================
 * Odd but valid guests and hosts.
 * ==================================================================== */

/* The host sends data in the same write as its CONNECT line: it waits in
 * the socket and reaches the guest after the RESPONSE. */
static void
test_host_pipelined(void **state)
{
	char line[64], want[64];
	struct guest *g;
	struct link l;
	ssize_t r;

	(void)state;
	SKIP_IF_NONE();
	g = vs_guest(0, "");
	host_request_conn(g, "CONNECT 1234\nHELLO, GUEST", &l.hfd, &l.c);
	/* No data before the guest accepted. */
	{
		struct match rw = c_match(&l.c, OPB(OP_RW));

		if (!g_quiet(g, &rw, QUIET_MS))
			fail_msg("data reached the guest before its RESPONSE");
	}
	c_send(&l.c, OP_RESPONSE, 0, NULL, 0);
	r = h_read_line(l.hfd, SOCK_STREAM, line, sizeof(line), WAIT_MS);
	snprintf(want, sizeof(want), "OK %u\n", l.c.pport);
	if (r <= 0 || strcmp(line, want) != 0)
		fail_msg("pipelined CONNECT: no OK line (%zd)", r);
	g_expect(&l, "HELLO, GUEST", 12, "the bytes after the CONNECT line");
	link_done(&l, "pipelined");
	vs_stop();
}

/* Small rx buffers: the device cuts host data to fit them. */
static void
test_small_rx(void **state)
{
	struct guest *g;
	struct link l;
	int dev;

	(void)state;
	SKIP_IF_NONE();
	dev = vs_dev(0, "");
	E.rx_data = 300;
	g = g_open_with(dev, ~0ULL, true);
	g_probe(g);
	host_connect(g, T_STREAM, 1234, 65536, &l);
	xfer_h2g(l.hfd, &l.c, 120, 20000);
	xfer_g2h(&l.c, l.hfd, 121, 20000);
	link_close_guest(&l, "small rx, stream");
	guest_link(g, T_SEQPACKET, 65536, &l);
	{
		uint8_t msg[1000], got[1000];
		ssize_t n;

		pat_fill(msg, sizeof(msg), 122, 0);
		h_write(l.hfd, msg, sizeof(msg), WAIT_MS);
		n = c_recv_msg(&l.c, got, sizeof(got), WAIT_MS);
		if (n != (ssize_t)sizeof(msg) || memcmp(msg, got, sizeof(msg)))
			fail_msg("a 1000-byte host message over 300-byte rx "
			    "buffers: %zd bytes", n);
	}
	link_close_guest(&l, "small rx, seqpacket");
	g_queues_ok(g, "at the end");
	vs_stop();
}

/* One RW of 64 KiB, the largest a packet may carry, in one descriptor and
 * in two. */
static void
test_big_packet(void **state)
{
	static uint8_t data[65536];
	struct guest *g;
	struct link l;
	struct pkt *p;
	int i;

	(void)state;
	SKIP_IF_NONE();
	g = vs_guest(0, "");
	host_connect(g, T_STREAM, 1234, 65536, &l);
	for (i = 0; i < 2; i++) {
		g->tx_layout = i ? TX_ONE : TX_SPLIT;
		pat_fill(data, sizeof(data), 130 + (uint32_t)i, 0);
		c_send(&l.c, OP_RW, 0, data, sizeof(data));
		h_expect(&l, data, sizeof(data), i ?
		    "RW of 65536 bytes in one descriptor" :
		    "RW of 65536 bytes in two descriptors");
		if ((p = c_take(&l.c, OPB(OP_RST), 0)) != NULL)
			fail_msg("RW of 65536 bytes: RST");
	}
	g->tx_layout = TX_SPLIT;
	link_close_guest(&l, "big packets");
	g_queues_ok(g, "at the end");
	vs_stop();
}

/* (extra) A guest that never answers a host connection's REQUEST: the
 * host socket is closed in time, the guest told with RST. */
static void
test_guest_silent(void **state)
{
	struct guest *g;
	struct conn c;
	struct pkt *p;
	struct link ok;
	size_t extra;
	int64_t t0;
	int fd;

	(void)state;
	SKIP_IF_NONE();
	g = vs_guest(0, "");
	host_request_conn(g, "CONNECT 1234\n", &fd, &c);
	t0 = now_ms();
	if (h_wait_eof(fd, 15000, &extra) != 1)
		fail_msg("(extra) the guest never answered: host socket still "
		    "open after 15 s");
	fprintf(stderr, "silent guest: host socket closed after %lld ms\n",
	    (long long)(now_ms() - t0));
	if (extra != 0)
		fail_msg("(extra) host read %zu bytes", extra);
	h_close(fd);
	if ((p = c_take(&c, OPB(OP_RST), WAIT_MS)) == NULL)
		fail_msg("(extra) the REQUEST timed out, but the guest got no "
		    "RST to cancel it");
	free(p);
	c_forget(&c);
	host_connect(g, T_STREAM, 1234, 65536, &ok);
	link_ping(&ok, "after a silent guest");
	vs_stop();
}

/* Sibling credit: B advertises 4096 and does not read; A's bytes never
 * exceed it; once B reads and updates, everything arrives in order. */
static void
test_sib_credit(void **state)
{
	const size_t total = 64 * 1024;
	uint8_t *got;
	struct guest *a, *b;
	struct conn ca, cb;
	size_t sent = 0, have = 0, n;
	int64_t deadline, last_ask = 0;
	unsigned rounds = 0;

	(void)state;
	SKIP_IF_NONE();
	sib_pair(&a, &b, &ca, &cb);
	cb.buf_alloc = 4096;
	c_send(&cb, OP_CREDIT_UPDATE, 0, NULL, 0);
	if ((got = malloc(total)) == NULL)
		fail_msg("malloc");
	deadline = now_ms() + 20000;
	while (have < total) {
		/* A sends what its credit allows. */
		while ((n = c_send_pat(&ca, 140, sent, total - sent)) > 0)
			sent += n;
		if (sent < total && now_ms() - last_ask > 300) {
			c_send(&ca, OP_CREDIT_REQUEST, 0, NULL, 0);
			last_ask = now_ms();
		}
		g_pull(a, 5);
		/* B takes what arrives without giving credit (c_note fails
		 * the test if it gets more than 4096 unconsumed). */
		n = c_recv(&cb, got + have, total - have, 200, false);
		have += n;
		if ((uint32_t)(cb.rx_cnt - cb.adv_fwd_cnt) >= cb.adv_buf_alloc ||
		    have == total) {
			/* Full: wait a little for excess, then consume. */
			struct match rw = c_match(&cb, OPB(OP_RW));

			if (!g_quiet(b, &rw, 200) && cb.rx_cnt -
			    cb.adv_fwd_cnt >= cb.adv_buf_alloc)
				fail_msg("B got data beyond its credit");
			cb.fwd_cnt = cb.rx_cnt;
			c_send(&cb, OP_CREDIT_UPDATE, 0, NULL, 0);
			rounds++;
		}
		if (now_ms() >= deadline)
			fail_msg("sibling credit: %zu sent, %zu received by B",
			    sent, have);
	}
	if (pat_diff(got, total, 140, 0) < total)
		fail_msg("sibling credit: bytes differ at %zu",
		    pat_diff(got, total, 140, 0));
	fprintf(stderr, "sibling credit: 64 KiB in %u credit rounds\n",
	    rounds);
	if (rounds < 16)
		fail_msg("B gave credit %u times for 64 KiB with buf_alloc "
		    "4096: it got more than its credit", rounds);
	free(got);
	vs_stop();
}

/* ====================================================================
 * Bad packets: each row in a fresh vhostd.
 * ==================================================================== */

enum bexpect {
	B_RST,		/* RST for the attack's tuple */
	B_RST_OR_LOG,	/* RST, or dropped with a log line */
	B_LOG,		/* dropped with a log line (no tuple to answer) */
	B_QUIET,	/* no answer at all */
	B_OK,		/* a valid packet: the attack checked it all */
};

/* Where the packet of a row goes. */
enum bto {
	TO_VICTIM,	/* the victim connection's tuple */
	TO_LISTENER,	/* a new guest port to host port 7100 (a REQUEST) */
	TO_NOCONN,	/* a connection that does not exist: 40001 -> 2:9999 */
	TO_CHAIN,	/* a victim RW header in a raw chain of dlen bytes */
};

struct bctx;
struct badrow {
	const char	*name;
	void		(*attack)(struct bctx *);	/* NULL: a_packet */
	enum bexpect	 expect;
	uint32_t	 bufsize;	/* 0: default */
	uint32_t	 maxconn;	/* 0: default */
	/* The packet of a_packet; a header field of 0 is the usual one. */
	enum bto	 to;
	uint16_t	 op;
	uint16_t	 type;		/* 0: T_STREAM */
	uint32_t	 len;
	uint32_t	 flags;
	uint64_t	 src_cid;	/* not 0: foreign (RST may go there) */
	const char	*data;		/* the payload given, NULL: 'E's */
	uint32_t	 dlen;		/* its bytes */
	enum txl	 layout;
};

struct bctx {
	const struct badrow *r;
	struct guest	*g;
	int		 dev;
	int		 lfd;		/* listener of port 7000 (healthy) */
	int		 vfd;		/* listener of port 7100 (targets) */
	struct link	 healthy;	/* guest-initiated, port 7000 */
	struct link	 victim;	/* host-initiated, port 8000 */
	struct match	 answer;	/* where an RST would come */
	bool		 on_victim;	/* the attack was on victim */
	bool		 on_listener;	/* a bad REQUEST to port 7100 */
	size_t		 host_max;	/* bytes the host victim may get */
};

/* The packet the row describes, put on tx; where an RST for it would come
 * in b->answer. */
static void
a_packet(struct bctx *b)
{
	static uint8_t evil[65537];
	const struct badrow *r = b->r;
	struct vuf_vsock_hdr h = {
		.src_cid = r->src_cid != 0 ? r->src_cid : b->g->cid,
		.dst_cid = HOST_CID, .len = r->len,
		.type = r->type != 0 ? r->type : T_STREAM, .op = r->op,
		.flags = r->flags, .buf_alloc = 65536,
	};
	const void *data = r->data;
	struct vuf_seg s;
	uint64_t gpa;

	switch (r->to) {
	case TO_VICTIM:
	case TO_CHAIN:
		h.src_port = b->victim.c.lport;
		h.dst_port = b->victim.c.pport;
		h.buf_alloc = b->victim.c.buf_alloc;
		h.fwd_cnt = b->victim.c.fwd_cnt;
		b->on_victim = r->to == TO_VICTIM;
		b->answer = c_match(&b->victim.c, OPB(OP_RST));
		break;
	case TO_LISTENER:
		h.src_port = b->g->next_port++;
		h.dst_port = 7100;
		b->on_listener = true;
		b->answer = (struct match){ ANY64, 7100, h.src_port,
		    OPB(OP_RST) };
		break;
	case TO_NOCONN:
		h.src_port = 40001;
		h.dst_port = 9999;
		b->answer = (struct match){ HOST_CID, 9999, 40001,
		    OPB(OP_RST) };
		break;
	}
	if (r->src_cid != 0)
		b->g->foreign_ok = true;	/* an RST may go back there */
	if (r->to == TO_CHAIN) {
		gpa = g_scratch(b->g, 64);
		vuf_vsock_hdr_put(vuf_gpa_to_host(b->g->v, gpa, HDR_LEN), &h);
		s = (struct vuf_seg){ gpa, r->dlen, false };
		g_xmit_segs(b->g, &s, 1, r->name);
		return;
	}
	if (data == NULL && r->dlen > 0) {
		memset(evil, 'E', r->dlen);
		data = evil;
	}
	g_xmit(b->g, &h, data, r->dlen, r->layout);
}

static void
a_len_credit(struct bctx *b)
{
	b->victim.c.tx_cnt += b->r->dlen;
	b->host_max = 4096;	/* at most buffer_size may go through */
	a_packet(b);
}

/* (extra) A REQUEST carries no payload: refused, or dropped with a log
 * line, or accepted with the payload never forwarded. */
static void
a_len_on_request(struct bctx *b)
{
	uint8_t buf[64];
	struct link l;
	struct pkt *p;
	char desc[256];
	ssize_t n;

	a_packet(b);
	b->on_listener = false;
	b->answer.ops = OPB(OP_RST) | OPB(OP_RESPONSE);
	if ((p = g_take(b->g, &b->answer, 1000)) == NULL) {
		if (!log_since_wait("vm1-vsock", 1000))
			fail_msg("(extra) REQUEST with a payload: no answer, no "
			    "log line");
		fprintf(stderr, "  outcome: dropped, logged\n");
		return;
	}
	fprintf(stderr, "  outcome: %s\n", pkt_desc(&p->h, desc,
	    sizeof(desc)));
	if (p->h.op == OP_RST) {
		free(p);
		return;
	}
	free(p);
	if ((l.hfd = h_accept(b->vfd, WAIT_MS)) == -1)
		fail_msg("(extra) REQUEST with a payload answered RESPONSE, but "
		    "no host connection");
	c_init(&l.c, b->g, HOST_CID, b->answer.dst_port, 7100, T_STREAM,
	    65536);
	n = h_read(l.hfd, buf, sizeof(buf), QUIET_MS, NULL);
	if (n > 0)
		fail_msg("(extra) the payload of a REQUEST reached the host: "
		    "%zd bytes \"%.*s\"", n, (int)n, buf);
	link_done(&l, "connection of a REQUEST with a payload");
}

static void
a_rst_noconn(struct bctx *b)
{
	a_packet(b);
	b->answer.ops = 0;		/* nothing at all may come */
}

static void
a_maxconn(struct bctx *b)
{
	struct match any = { ANY64, ANY32, ANY32, OPB(OP_REQUEST) };
	size_t extra;
	int fd;

	a_packet(b);
	/* (extra) the host side is turned away too. */
	fd = h_connect(E.uds[b->dev], SOCK_STREAM);
	h_write(fd, "CONNECT 8001\n", 13, WAIT_MS);
	if (!g_quiet(b->g, &any, QUIET_MS))
		fail_msg("(extra) max_connections reached, yet a host CONNECT "
		    "made a REQUEST");
	if (h_wait_eof(fd, WAIT_MS, &extra) != 1)
		fail_msg("(extra) max_connections reached: host connection left "
		    "open");
	h_close(fd);
}

/* Valid layouts the device must not trip on: the header split across
 * two descriptors, the payload across three. */
static void
a_split_layouts(struct bctx *b)
{
	uint64_t gpa = g_scratch(b->g, 256);
	uint8_t *hp = vuf_gpa_to_host(b->g->v, gpa, 256);
	uint32_t lport = b->g->next_port++;
	struct vuf_vsock_hdr h = {
		.src_cid = b->g->cid, .dst_cid = HOST_CID, .src_port = lport,
		.dst_port = 7100, .type = T_STREAM, .op = OP_REQUEST,
		.buf_alloc = 65536,
	};
	struct vuf_seg s[4];
	struct link l;
	struct pkt *p;

	vuf_vsock_hdr_put(hp, &h);
	s[0] = (struct vuf_seg){ gpa, 20, false };
	s[1] = (struct vuf_seg){ gpa + 20, 24, false };
	g_xmit_segs(b->g, s, 2, "REQUEST header in 20 + 24 bytes");
	if ((l.hfd = h_accept(b->vfd, WAIT_MS)) == -1)
		fail_msg("REQUEST with its header split in two descriptors did "
		    "not reach the host");
	c_init(&l.c, b->g, HOST_CID, lport, 7100, T_STREAM, 65536);
	if ((p = c_take(&l.c, 0, WAIT_MS)) == NULL || p->h.op != OP_RESPONSE)
		fail_msg("REQUEST with a split header: no RESPONSE");
	free(p);
	/* RW: header 44, payload 10 + 20 in two more descriptors. */
	h.op = OP_RW;
	h.len = 30;
	vuf_vsock_hdr_put(hp + 64, &h);
	memcpy(hp + 128, "0123456789", 10);
	memcpy(hp + 192, "abcdefghijklmnopqrst", 20);
	s[0] = (struct vuf_seg){ gpa + 64, 30, false };
	s[1] = (struct vuf_seg){ gpa + 94, 14, false };
	s[2] = (struct vuf_seg){ gpa + 128, 10, false };
	s[3] = (struct vuf_seg){ gpa + 192, 20, false };
	/* header bytes 0..29 at gpa+64, 30..43 at gpa+94: contiguous. */
	g_xmit_segs(b->g, s, 4, "RW: header in 30 + 14, payload in 10 + 20");
	l.c.tx_cnt += 30;
	h_expect(&l, "0123456789abcdefghijklmnopqrst", 30,
	    "RW over four descriptors");
	link_done(&l, "split-layout connection");
}

static const struct badrow badrows[] = {
	{ "bad: REQUEST from a foreign src_cid", .expect = B_RST_OR_LOG,
	    .to = TO_LISTENER, .op = OP_REQUEST, .src_cid = 99 },
	{ "bad: RW from a foreign src_cid", .expect = B_RST_OR_LOG,
	    .to = TO_VICTIM, .op = OP_RW, .len = 8, .src_cid = 99,
	    .data = "EVILEVIL", .dlen = 8 },
	{ "bad: RW with src_cid 2 (the host's)", .expect = B_RST_OR_LOG,
	    .to = TO_VICTIM, .op = OP_RW, .len = 8, .src_cid = HOST_CID,
	    .data = "EVILEVIL", .dlen = 8 },
	{ "bad: unknown op 99", .expect = B_RST_OR_LOG, .to = TO_VICTIM,
	    .op = 99 },
	{ "bad: op 0 (INVALID)", .expect = B_RST_OR_LOG, .to = TO_VICTIM,
	    .op = OP_INVALID },
	{ "bad: unknown op 0x1234 with payload", .expect = B_RST_OR_LOG,
	    .to = TO_VICTIM, .op = 0x1234, .len = 8, .data = "EVILEVIL",
	    .dlen = 8 },
	{ "bad: REQUEST of unknown type 7", .expect = B_RST_OR_LOG,
	    .to = TO_LISTENER, .op = OP_REQUEST, .type = 7 },
	{ "bad: RW of unknown type 7", .expect = B_RST_OR_LOG, .to = TO_VICTIM,
	    .op = OP_RW, .type = 7, .len = 8, .data = "EVILEVIL", .dlen = 8 },
	/* The connection is STREAM. */
	{ "bad: SEQPACKET RW on a STREAM connection", .expect = B_RST_OR_LOG,
	    .to = TO_VICTIM, .op = OP_RW, .type = T_SEQPACKET, .len = 8,
	    .flags = SEQ_EOM, .data = "EVILEVIL", .dlen = 8 },
	{ "bad: len 4000, 100 bytes given (split)", .expect = B_RST_OR_LOG,
	    .to = TO_VICTIM, .op = OP_RW, .len = 4000, .dlen = 100 },
	{ "bad: len 101, 100 bytes given (one descriptor)",
	    .expect = B_RST_OR_LOG, .to = TO_VICTIM, .op = OP_RW, .len = 101,
	    .dlen = 100, .layout = TX_ONE },
	{ "bad: len 100, no payload descriptor", .expect = B_RST_OR_LOG,
	    .to = TO_VICTIM, .op = OP_RW, .len = 100 },
	{ "bad: RW of 8192 with credit 4096", .attack = a_len_credit,
	    .expect = B_RST, .bufsize = 4096, .to = TO_VICTIM, .op = OP_RW,
	    .len = 8192, .dlen = 8192 },
	{ "bad: len 65537 (> 64 KiB), all given", .expect = B_RST_OR_LOG,
	    .to = TO_VICTIM, .op = OP_RW, .len = 65537, .dlen = 65537 },
	{ "bad: len 0xffffffff", .expect = B_RST_OR_LOG, .to = TO_VICTIM,
	    .op = OP_RW, .len = UINT32_MAX, .dlen = 100 },
	{ "bad: (extra) REQUEST with a payload", .attack = a_len_on_request,
	    .expect = B_OK, .to = TO_LISTENER, .op = OP_REQUEST, .len = 8,
	    .data = "EVILEVIL", .dlen = 8 },
	{ "bad: RW on no connection", .expect = B_RST, .to = TO_NOCONN,
	    .op = OP_RW, .len = 8, .data = "EVILEVIL", .dlen = 8 },
	{ "bad: RESPONSE on no connection", .expect = B_RST, .to = TO_NOCONN,
	    .op = OP_RESPONSE },
	{ "bad: CREDIT_UPDATE on no connection", .expect = B_RST,
	    .to = TO_NOCONN, .op = OP_CREDIT_UPDATE },
	{ "bad: CREDIT_REQUEST on no connection", .expect = B_RST_OR_LOG,
	    .to = TO_NOCONN, .op = OP_CREDIT_REQUEST },
	{ "bad: SHUTDOWN on no connection", .expect = B_RST_OR_LOG,
	    .to = TO_NOCONN, .op = OP_SHUTDOWN, .flags = 3 },
	{ "bad: RST on no connection (no answer)", .attack = a_rst_noconn,
	    .expect = B_QUIET, .to = TO_NOCONN, .op = OP_RST },
	/* Not in connecting. */
	{ "bad: RESPONSE on an established connection",
	    .expect = B_RST_OR_LOG, .to = TO_VICTIM, .op = OP_RESPONSE },
	/* Shorter than a header, one byte short, one descriptor of 0. */
	{ "bad: tx chain of 20 bytes", .expect = B_LOG, .to = TO_CHAIN,
	    .op = OP_RW, .dlen = 20 },
	{ "bad: tx chain of 43 bytes", .expect = B_LOG, .to = TO_CHAIN,
	    .op = OP_RW, .dlen = 43 },
	{ "bad: tx chain of 0 bytes", .expect = B_LOG, .to = TO_CHAIN,
	    .op = OP_RW, .dlen = 0 },
	{ "bad: REQUEST beyond max_connections 2", .attack = a_maxconn,
	    .expect = B_RST, .maxconn = 2, .to = TO_LISTENER,
	    .op = OP_REQUEST },
	{ "valid: header and payload split across descriptors",
	    .attack = a_split_layouts, .expect = B_OK },
};

static void
test_bad(void **state)
{
	const struct badrow *r = E.row;
	char extra_keys[64] = "", desc[256];
	struct bctx b;
	struct pkt *p;
	pid_t worker;
	uint8_t buf[65536];
	size_t extra;
	ssize_t n;
	bool rst = false;
	int main_fds;

	(void)state;
	SKIP_IF_NONE();
	memset(&b, 0, sizeof(b));
	b.r = r;
	if (r->maxconn != 0)
		snprintf(extra_keys, sizeof(extra_keys),
		    ", \"max_connections\": %u", r->maxconn);
	b.dev = vs_dev(r->bufsize, extra_keys);
	b.g = g_open(b.dev);
	b.lfd = h_listen_port(b.dev, 7000, SOCK_STREAM);
	b.vfd = h_listen_port(b.dev, 7100, SOCK_STREAM);
	guest_connect(b.g, T_STREAM, 7000, b.lfd, 65536, &b.healthy);
	host_connect(b.g, T_STREAM, 8000, 65536, &b.victim);
	link_ping(&b.healthy, "healthy before");
	link_ping(&b.victim, "victim before");
	worker = worker_wait("vm1-vsock");
	main_fds = proc_count_fds(E.d->pid, false);
	b.host_max = 0;
	log_mark();
	trace("---- attack: %s", r->name);

	(r->attack != NULL ? r->attack : a_packet)(&b);

	switch (r->expect) {
	case B_RST:
	case B_RST_OR_LOG:
		p = g_take(b.g, &b.answer, r->expect == B_RST ? WAIT_MS : 1000);
		if (p != NULL) {
			rst = true;
			fprintf(stderr, "  outcome: %s\n", pkt_desc(&p->h, desc,
			    sizeof(desc)));
			free(p);
		} else if (r->expect == B_RST)
			fail_msg("%s: no RST in %d ms", r->name, WAIT_MS);
		else if (!log_since_wait("vm1-vsock", 1000))
			fail_msg("%s: neither RST nor a log line naming "
			    "vm1-vsock: dropped silently", r->name);
		else
			fprintf(stderr, "  outcome: dropped, logged\n");
		break;
	case B_LOG:
		if (!log_since_wait("vm1-vsock", WAIT_MS))
			fail_msg("%s: no log line naming vm1-vsock", r->name);
		fprintf(stderr, "  outcome: dropped, logged\n");
		break;
	case B_QUIET:
		if (!g_quiet(b.g, &b.answer, 500))
			fail_msg("%s: the device answered", r->name);
		fprintf(stderr, "  outcome: no answer\n");
		break;
	case B_OK:
		break;
	}
	log_since(NULL, "new");

	/* A bad REQUEST is never accepted. */
	if (b.on_listener) {
		struct match resp = b.answer;

		resp.ops = OPB(OP_RESPONSE);
		if (g_has(b.g, &resp) || fd_readable(b.vfd, QUIET_MS))
			fail_msg("%s: the bad REQUEST was accepted (RESPONSE "
			    "or a host connection)", r->name);
	}
	/* The bogus bytes never reach the host. */
	if (b.on_victim) {
		if (rst) {
			if (h_wait_eof(b.victim.hfd, WAIT_MS, &extra) != 1) {
				/* Does vhostd still forward for it? */
				c_send(&b.victim.c, OP_RW, 0, "GHOST", 5);
				n = h_read(b.victim.hfd, buf, sizeof(buf),
				    WAIT_MS, NULL);
				fail_msg("%s: the guest got RST for the "
				    "connection, but vhostd kept it: the host "
				    "socket stays open for %d ms, and RW sent "
				    "on it after the RST %s", r->name, WAIT_MS,
				    n > 0 ? "still reaches the host" :
				    "does not reach the host");
			}
			if (extra > b.host_max)
				fail_msg("%s: the host got %zu bytes of the bad "
				    "packet", r->name, extra);
			c_forget(&b.victim.c);
		} else {
			n = h_read(b.victim.hfd, buf, sizeof(buf), QUIET_MS,
			    NULL);
			if (n > 0 && (size_t)n > b.host_max)
				fail_msg("%s: dropped, yet the host got %zd bytes "
				    "(\"%.8s\")", r->name, n, buf);
			if (n == 0)
				fail_msg("%s: no RST, yet the victim's host "
				    "socket was closed", r->name);
			if (b.host_max == 0)
				link_ping(&b.victim, "victim after a dropped "
				    "packet");
		}
	}
	if (r->maxconn != 0) {
		/* A connection less: a new one is allowed again. */
		struct link l;

		link_close_guest(&b.victim, "victim");
		guest_connect(b.g, T_STREAM, 7100, b.vfd, 65536, &l);
		link_done(&l, "connection after one closed");
	}
	b.g->foreign_ok = false;

	/* Everything else keeps working. */
	main_alive(r->name);
	g_queues_ok(b.g, "after the attack");
	link_ping(&b.healthy, "healthy after");
	{
		struct link l;

		guest_connect(b.g, T_STREAM, 7000, b.lfd, 65536, &l);
		link_done(&l, "new connection after");
		host_connect(b.g, T_STREAM, 8002, 65536, &l);
		link_done(&l, "new host connection after");
	}
	if (worker_of("vm1-vsock") != worker)
		fail_msg("%s: the worker changed (pid %d -> %d): it died",
		    r->name, (int)worker, (int)worker_of("vm1-vsock"));
	if (log_since("seccomp", NULL) > 0 || log_since("killed", NULL) > 0)
		fail_msg("%s: vhostd logged a seccomp kill", r->name);
	if (proc_count_fds(E.d->pid, false) > main_fds + 2)
		fail_msg("%s: main has %d fds, had %d", r->name,
		    proc_count_fds(E.d->pid, false), main_fds);
	vs_stop();
}

/* A flood of bad packets: few log lines, the device unharmed. */
static void
test_bad_flood(void **state)
{
	struct guest *g;
	struct link h;
	struct vuf_vsock_hdr hd;
	uint64_t gpa;
	struct vuf_seg s;
	unsigned i, lines;

	(void)state;
	SKIP_IF_NONE();
	g = vs_guest(0, "");
	guest_link(g, T_STREAM, 65536, &h);
	log_mark();
	gpa = g_scratch(g, 64);
	hd = (struct vuf_vsock_hdr){ .src_cid = 99, .dst_cid = HOST_CID,
	    .src_port = 1, .dst_port = 7000, .type = T_STREAM, .op = OP_RW };
	for (i = 0; i < 600; i++) {
		if (i % 2 == 0) {
			s = (struct vuf_seg){ gpa, 10, false };
			tx_room(g, 1);
			if (vuf_vq_add(g->v, TXQ, &s, 1) == -1)
				fail_msg("add: %s", vuf_error(g->v));
			if (vuf_kick(g->v, TXQ) == -1)
				fail_msg("kick");
		} else {
			g->foreign_ok = true;
			g_xmit(g, &hd, NULL, 0, TX_SPLIT);
		}
		if (i % 64 == 0)
			g_pull(g, 0);
	}
	if (!tx_drain(g, WAIT_MS))
		fail_msg("flood: tx chains not used");
	sleep_ms(300);
	lines = log_since("vm1-vsock", NULL);
	fprintf(stderr, "flood: 600 bad packets, %u log lines\n", lines);
	if (lines == 0)
		fail_msg("flood: 600 bad packets, no log line");
	if (lines > 60)
		fail_msg("flood: 600 bad packets made %u log lines: not rate "
		    "limited", lines);
	{
		struct match any = { ANY64, ANY32, ANY32, 0 };

		g_purge(g, &any);
	}
	g->foreign_ok = false;
	main_alive("after the flood");
	link_ping(&h, "healthy after the flood");
	g_queues_ok(g, "after the flood");
	vs_stop();
}

/* ====================================================================
 * No leaks: many connections, fds of main and worker unchanged.
 * ==================================================================== */

static void
cycle_host(struct guest *g, unsigned i)
{
	struct link l;
	uint8_t buf[16];
	ssize_t n;
	char line[64];

	if (i % 5 == 4) {
		/* The guest refuses. */
		g_refuse(g, host_request(g, "CONNECT 1234\n", &l.hfd));
		n = h_read_line(l.hfd, SOCK_STREAM, line, sizeof(line),
		    WAIT_MS);
		if (n != 0)
			fail_msg("cycle %u: refused connection: host read %zd",
			    i, n);
		h_close(l.hfd);
		return;
	}
	host_connect(g, T_STREAM, 1234, 65536, &l);
	c_send(&l.c, OP_RW, 0, "0123456789", 10);
	if (h_read_full(l.hfd, buf, 10, WAIT_MS, &(bool){ false }) != 10)
		fail_msg("cycle %u: guest->host", i);
	h_write(l.hfd, "abcdefghij", 10, WAIT_MS);
	if (c_recv(&l.c, buf, 10, WAIT_MS, true) != 10)
		fail_msg("cycle %u: host->guest", i);
	link_end(&l, i % 4 == 1, "host cycle");
}

static void
cycle_guest(struct guest *g, int lfd, unsigned i)
{
	struct link l;
	uint8_t byte;

	if (i % 5 == 4) {
		g_refused(g, HOST_CID, 7001, T_STREAM, OPB(OP_RST),
		    "guest cycle: nobody listens on 7001");
		return;
	}
	guest_connect(g, T_STREAM, 7000, lfd, 65536, &l);
	c_send(&l.c, OP_RW, 0, "x", 1);
	if (h_read_full(l.hfd, &byte, 1, WAIT_MS, &(bool){ false }) != 1)
		fail_msg("guest cycle %u: guest->host", i);
	link_end(&l, i % 2 == 0, "guest cycle");
}

static void
test_leaks(void **state)
{
	struct fdcount f[] = { { "main", 0, 0, 0 }, { "worker", 0, 0, 0 } };
	struct guest *g;
	unsigned i;
	int lfd;

	(void)state;
	SKIP_IF_NONE();
	g = vs_guest(0, "");
	lfd = h_listen_port(g->dev, 7000, SOCK_STREAM);
	/* Warm up, then count. */
	cycle_host(g, 0);
	cycle_guest(g, lfd, 0);
	sleep_ms(200);
	f[0].pid = E.d->pid;
	f[1].pid = worker_wait("vm1-vsock");
	fds_mark(f, 2);
	for (i = 1; i <= 200; i++)
		cycle_host(g, i);
	fds_settle(f, 2, "200 host connections");
	for (i = 1; i <= 100; i++)
		cycle_guest(g, lfd, i);
	fds_settle(f, 2, "100 guest connections");
	if (worker_of("vm1-vsock") != f[1].pid)
		fail_msg("the worker changed during the cycles");
	main_alive("after the cycles");
	g_queues_ok(g, "after the cycles");
	vs_stop();
}


/* Sibling connections made and closed 100 times: the socketpairs main
 * makes leave no fd behind in main or either worker. */
static void
sib_close(struct conn *closer, struct conn *peer, unsigned i)
{
	struct pkt *p;

	c_send(closer, OP_SHUTDOWN, 3, NULL, 0);
	if ((p = c_take(peer, OPB(OP_SHUTDOWN) | OPB(OP_RST), WAIT_MS)) == NULL)
		fail_msg("sibling cycle %u: %s closed, %s heard nothing", i,
		    closer->g->name, peer->g->name);
	if (p->h.op == OP_SHUTDOWN)
		c_send(peer, OP_RST, 0, NULL, 0);
	free(p);
	if ((p = c_take(closer, OPB(OP_RST), WAIT_MS)) == NULL)
		fail_msg("sibling cycle %u: %s's SHUTDOWN(3) got no RST", i,
		    closer->g->name);
	free(p);
	c_forget(closer);
	c_forget(peer);
}

static void
test_sib_leaks(void **state)
{
	struct fdcount f[] = { { "main", 0, 0, 0 }, { "worker A", 0, 0, 0 },
	    { "worker B", 0, 0, 0 } };
	struct guest *a, *b;
	struct conn ca, cb;
	uint8_t buf[16];
	unsigned i;

	(void)state;
	SKIP_IF_NONE();
	/* Warm up. */
	sib_pair(&a, &b, &ca, &cb);
	sib_close(&ca, &cb, 0);
	sleep_ms(200);
	f[0].pid = E.d->pid;
	f[1].pid = worker_wait("vmA-vsock");
	f[2].pid = worker_wait("vmB-vsock");
	fds_mark(f, 3);
	for (i = 1; i <= 100; i++) {
		if (i % 5 == 0) {
			sib_connect(a, b, 5000, &ca, &cb, true);
			continue;
		}
		if (i % 2 == 0)
			sib_connect(a, b, 5000, &ca, &cb, false);
		else
			sib_connect(b, a, 5001, &ca, &cb, false);
		c_send(&ca, OP_RW, 0, "0123456789", 10);
		if (c_recv(&cb, buf, 10, WAIT_MS, true) != 10)
			fail_msg("sibling cycle %u: data one way", i);
		c_send(&cb, OP_RW, 0, "abcdefghij", 10);
		if (c_recv(&ca, buf, 10, WAIT_MS, true) != 10)
			fail_msg("sibling cycle %u: data the other way", i);
		if (i % 3 == 0)
			sib_close(&cb, &ca, i);
		else
			sib_close(&ca, &cb, i);
	}
	fds_settle(f, 3, "100 sibling connections");
	if (worker_of("vmA-vsock") != f[1].pid ||
	    worker_of("vmB-vsock") != f[2].pid)
		fail_msg("a worker changed during the sibling cycles");
	g_queues_ok(a, "A at the end");
	g_queues_ok(b, "B at the end");
	vs_stop();
}

/* (extra) The VMM goes away with connections open: the host sockets are
 * closed, main's fds come back, and a new VMM is served. */
static void
test_vmm_disconnect(void **state)
{
	struct fdcount f[] = { { "main", 0, 0, 0 } };
	struct guest *g;
	struct link a, b;
	size_t extra;
	int dev;

	(void)state;
	SKIP_IF_NONE();
	dev = vs_dev(0, "");
	f[0].pid = E.d->pid;
	fds_mark(f, 1);
	g = g_open(dev);
	host_connect(g, T_STREAM, 1234, 65536, &a);
	guest_link(g, T_STREAM, 65536, &b);
	link_ping(&a, "a");
	link_ping(&b, "b");
	g_close(g);
	if (h_wait_eof(a.hfd, WAIT_MS, &extra) != 1)
		fail_msg("(extra) VMM gone: host-initiated socket left open");
	if (h_wait_eof(b.hfd, WAIT_MS, &extra) != 1)
		fail_msg("(extra) VMM gone: guest-initiated socket left open");
	h_close(a.hfd);
	h_close(b.hfd);
	fds_settle(f, 1, "(extra) the VMM left with connections open");
	g = g_open(dev);
	host_connect(g, T_STREAM, 1234, 65536, &a);
	link_done(&a, "after a new VMM");
	vs_stop();
}

/* ==================================================================== */

#define T(f)	{ #f, f, vs_setup, vs_teardown, NULL }

int
main(void)
{
	static const struct CMUnitTest fixed[] = {
		T(test_config_check),
		T(test_config_check_extra),
		T(test_features),
		T(test_host_connect_refused),
		T(test_host_connect_early),
		T(test_host_bad_lines),
		T(test_guest_connect),
		T(test_seqpacket_host),
		T(test_seqpacket_guest),
		T(test_seqpacket_off),
		T(test_credit_to_guest),
		T(test_credit_to_host),
		T(test_credit_request),
		T(test_shutdown_guest_send),
		T(test_shutdown_host_close),
		T(test_shutdown_guest_both),
		T(test_shutdown_host_half),
		T(test_host_gone),
		T(test_many_conns),
		T(test_sib_connect),
		T(test_sib_refused),
		T(test_sib_credit),
		T(test_host_pipelined),
		T(test_small_rx),
		T(test_big_packet),
		T(test_guest_silent),
		T(test_bad_flood),
		T(test_leaks),
		T(test_sib_leaks),
		T(test_vmm_disconnect),
	};
	enum {
		NFIXED = sizeof(fixed) / sizeof(fixed[0]),
		NHC = sizeof(hcrows) / sizeof(hcrows[0]),
		NBAD = sizeof(badrows) / sizeof(badrows[0]),
	};
	struct CMUnitTest tests[NFIXED + NHC + NBAD];
	const char *only = getenv("VSOCK_ONLY");
	size_t i, n = 0;

	for (i = 0; i < NHC; i++)
		tests[n++] = (struct CMUnitTest){ hcrows[i].name,
		    test_host_connect, vs_setup, vs_teardown,
		    (void *)(uintptr_t)&hcrows[i] };
	for (i = 0; i < NFIXED; i++)
		tests[n++] = fixed[i];
	for (i = 0; i < NBAD; i++)
		tests[n++] = (struct CMUnitTest){ badrows[i].name, test_bad,
		    vs_setup, vs_teardown, (void *)(uintptr_t)&badrows[i] };
	if (only != NULL && *only != '\0') {
		size_t k = 0;

		for (i = 0; i < n; i++)
			if (fnmatch(only, tests[i].name, 0) == 0)
				tests[k++] = tests[i];
		n = k;
	}
	trace_live = getenv("VSOCK_TRACE") != NULL &&
	    *getenv("VSOCK_TRACE") != '0';
	signal(SIGPIPE, SIG_IGN);
	return _cmocka_run_group_tests("test_vsock", tests, n, NULL, NULL);
}
