/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Hostile front-end and hostile guest tests against the real vhostd
 * ($VHOSTD): a malicious VMM (broken framing, fds where none belong, bad
 * memory tables, bad vring setup, bad config requests) and a malicious
 * guest driver (descriptor chains, indirect tables, avail and used rings
 * written straight into guest RAM, bad device requests).
 *
 * One vhostd serves the whole suite: a victim rng (vm1-rng), a bystander
 * rng (vm2-rng, one connection kept open for the whole run), a sim gpio
 * (vm1-gpio) and a sim i2c (vm1-i2c).  Each case is one row of `cases`:
 * the device it attacks, how far the connection is set up first, the
 * attack, and the outcome it must have.  After every case: main is alive,
 * the bystander still serves a request, the victim's connection is closed
 * (or the request refused with REPLY_ACK), or its queue broken (err
 * eventfd signalled, nothing used), or the device answered with an error
 * status; vhostd's log (the part written during the case) has the line
 * that says why; and guest RAM, filled with a canary before the case, is
 * unchanged outside the used rings and the buffers the driver handed out.
 * Last, representative cases run HOSTILE_REPS times (default 1000) each,
 * reconnecting every time, and main's fd count and RSS must not grow.
 *
 * Cases that expose a vhostd bug not fixed yet carry `bug`: they run only
 * with HOSTILE_KNOWN_BUGS=1 and otherwise print "SKIP known bug: ...".
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "vuf_daemon.h"
#include "vufront.h"

#define QSIZE		64
#define WAIT_MS		(3000 * daemon_slow())	/* VUF_SLOW: under valgrind */
#define BIG_REGION	(64ULL << 20)	/* larger: no canary, no snapshot */

enum dev { D_RNG, D_GPIO, D_I2C };
static const char *const dev_id[] = { "vm1-rng", "vm1-gpio", "vm1-i2c" };
static const unsigned dev_nq[] = { 1, 2, 1 };
#define SOCK_BYSTANDER	3

/* How far the victim's connection is set up before the attack. */
enum stage {
	S_CONN,		/* connected, nothing sent */
	S_NEG,		/* features and protocol features (REPLY_ACK) */
	S_MEM,		/* ... and the default memory table */
	S_RUN,		/* ... and its queues started, DRIVER_OK */
};

/* What the attack must lead to. */
enum expect {
	X_CLOSED,	/* the connection is closed */
	X_REFUSED,	/* nonzero REPLY_ACK, or closed */
	X_BROKEN,	/* queue 0's err eventfd fires, nothing used */
	X_DEVERR,	/* used, with an error status byte */
	X_CUSTOM,	/* the case's own function checked it all */
};

struct ctx;
struct hcase {
	const char	*name;
	enum dev	 dev;
	enum stage	 stage;
	int		(*fn)(struct ctx *);	/* the attack; 0, or -1: fail */
	enum expect	 expect;
	const char	*log1, *log2;	/* the log line must hold both */
	uint32_t	 a, b;		/* case parameters */
	uint64_t	 c;
	const char	*bug;		/* known vhostd bug, gated */
};

struct ctx {
	struct vuf		*v;
	const struct hcase	*hc;
	unsigned		 q;		/* queue attacked */
	bool			 kick;		/* kick q after the snapshot */
	uint64_t		 allow_gpa[8], allow_len[8];
	unsigned		 nallow;
	uint64_t		 status_gpa;	/* X_DEVERR: the status byte */
	uint32_t		 req;		/* X_REFUSED: request sent */
	uint16_t		 used_before;
	char			 err[256];
};

static struct {
	struct daemon	*d;
	struct vuf	*by;		/* bystander connection */
	struct vuf	*cur;		/* the victim's, closed after each case */
	long		 logoff;	/* log size when the case began */
	uint8_t		*snap[VUF_MAX_REGIONS];
	bool		 known_bugs;
} H;

/* ---- small helpers ---- */

static int ferr(struct ctx *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static int
ferr(struct ctx *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	return -1;
}

static long
file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

/* A line of the log written since the case began with every string. */
static bool
log_since_has(int timeout_ms, const char *a, const char *b, const char *e)
{
	int64_t deadline = now_ms() + timeout_ms;
	char line[2048];
	FILE *f;

	for (;;) {
		if ((f = fopen(H.d->log, "r")) != NULL) {
			fseek(f, H.logoff, SEEK_SET);
			while (fgets(line, sizeof(line), f) != NULL)
				if ((a == NULL || strstr(line, a)) &&
				    (b == NULL || strstr(line, b)) &&
				    (e == NULL || strstr(line, e))) {
					fclose(f);
					return true;
				}
			fclose(f);
		}
		if (now_ms() > deadline)
			return false;
		sleep_ms(10);
	}
}

static void
log_since_dump(void)
{
	char line[2048];
	FILE *f;

	if ((f = fopen(H.d->log, "r")) == NULL)
		return;
	fseek(f, H.logoff, SEEK_SET);
	fprintf(stderr, "---- vhostd log of this case\n");
	while (fgets(line, sizeof(line), f) != NULL)
		fputs(line, stderr);
	fprintf(stderr, "----\n");
	fclose(f);
}

/* One message, header and payload in one sendmsg, with any fds (up to
 * 16, more than vufront allows). */
static int
msg_fds(struct vuf *v, uint32_t req, uint32_t flags, const void *p,
    uint32_t size, const int *fds, int nfds)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * 16)];
	} cb;
	uint8_t buf[12 + 8192];
	struct vuf_hdr h = { req, flags, size };
	struct iovec iov;
	struct msghdr mh;
	struct cmsghdr *cm;
	size_t len = 12 + (p != NULL ? size : 0);

	if (len > sizeof(buf) || nfds > 16)
		return -1;
	memcpy(buf, &h, 12);
	if (p != NULL)
		memcpy(buf + 12, p, size);
	memset(&mh, 0, sizeof(mh));
	memset(&cb, 0, sizeof(cb));
	iov.iov_base = buf;
	iov.iov_len = len;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (nfds > 0) {
		mh.msg_control = cb.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
	}
	return sendmsg(v->sock, &mh, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

static int
msg(struct vuf *v, uint32_t req, uint32_t flags, const void *p,
    uint32_t size)
{
	return msg_fds(v, req, flags, p, size, NULL, 0);
}

/* A request that should be refused: sent with NEED_REPLY. */
static int
ask(struct ctx *c, uint32_t req, const void *p, uint32_t size,
    const int *fds, int nfds)
{
	c->req = req;
	return msg_fds(c->v, req, VUF_VERSION | VUF_FLAG_NEED_REPLY, p, size,
	    fds, nfds);
}

static int
memfd(size_t size)
{
	int fd = memfd_create("hostile", MFD_CLOEXEC);

	if (fd != -1 && ftruncate(fd, (off_t)size) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

static void
allow(struct ctx *c, uint64_t gpa, uint64_t len)
{
	if (c->nallow < 8) {
		c->allow_gpa[c->nallow] = gpa;
		c->allow_len[c->nallow++] = len;
	}
}

static uint64_t
galloc(struct ctx *c, uint64_t len)
{
	return vuf_alloc(c->v, 0, len, 64);
}

static void *
host(struct ctx *c, uint64_t gpa, uint64_t len)
{
	return vuf_gpa_to_host(c->v, gpa, len);
}

/* Writes descriptor i of queue q directly. */
static void
wdesc(struct ctx *c, unsigned q, unsigned i, uint64_t addr, uint32_t len,
    uint16_t flags, uint16_t next)
{
	struct vring_desc *d = &c->v->vq[q].desc[i];

	d->addr = addr;
	d->len = len;
	d->flags = flags;
	d->next = next;
}

/* Publishes head on queue q's avail ring (not kicked). */
static void
publish(struct ctx *c, unsigned q, uint16_t head)
{
	struct vuf_vq *vq = &c->v->vq[q];

	vq->avail->ring[vq->avail_idx % vq->num] = head;
	vq->avail_idx++;
	__atomic_store_n(&vq->avail->idx, vq->avail_idx, __ATOMIC_RELEASE);
}

/* ---- canary ---- */

static uint8_t
canary(unsigned r, uint64_t i)
{
	return (uint8_t)(0xc5 ^ (i * 0x9d) ^ (i >> 9) ^ r);
}

static bool
in_range(uint64_t gpa, uint64_t lo, uint64_t len)
{
	return gpa >= lo && gpa - lo < len;
}

static bool
is_ring(struct vuf *v, uint64_t gpa, bool used_only)
{
	unsigned q;

	for (q = 0; q < VUF_MAX_QUEUES; q++) {
		struct vuf_vq *vq = &v->vq[q];

		if (!vq->ready)
			continue;
		if (in_range(gpa, vq->used_gpa, 6 + 8ULL * vq->num + 2))
			return true;
		if (used_only)
			continue;
		if (in_range(gpa, vq->desc_gpa, 16ULL * vq->num) ||
		    in_range(gpa, vq->avail_gpa, 6 + 2ULL * vq->num + 2))
			return true;
	}
	return false;
}

/* Fills guest RAM with the canary, rings excepted. */
static void
canary_fill(struct vuf *v)
{
	unsigned r;
	uint64_t i;

	for (r = 0; r < v->nregions; r++)
		for (i = 0; i < v->region[r].size &&
		    v->region[r].size <= BIG_REGION; i++)
			if (!is_ring(v, v->region[r].gpa + i, false))
				v->region[r].host[i] = canary(r, i);
}

static void
snapshot(struct vuf *v)
{
	unsigned r;

	for (r = 0; r < v->nregions; r++) {
		free(H.snap[r]);
		H.snap[r] = NULL;
		if (v->region[r].size > BIG_REGION)
			continue;	/* sparse, never handed out */
		assert_non_null(H.snap[r] = malloc(v->region[r].size));
		memcpy(H.snap[r], v->region[r].host, v->region[r].size);
	}
}

/* Every byte the device wrote outside the used rings and the buffers the
 * case handed out: fails the test naming the first. */
static void
snapshot_check(struct ctx *c)
{
	struct vuf *v = c->v;
	unsigned r, k, bad = 0;
	uint64_t i, gpa, first = 0;
	bool ok;

	for (r = 0; r < v->nregions; r++) {
		if (H.snap[r] == NULL)
			continue;
		for (i = 0; i < v->region[r].size; i++) {
			if (v->region[r].host[i] == H.snap[r][i])
				continue;
			gpa = v->region[r].gpa + i;
			ok = is_ring(v, gpa, true);
			for (k = 0; k < c->nallow && !ok; k++)
				ok = in_range(gpa, c->allow_gpa[k],
				    c->allow_len[k]);
			if (!ok && bad++ == 0)
				first = gpa;
		}
		free(H.snap[r]);
		H.snap[r] = NULL;
	}
	if (bad > 0)
		fail_msg("%s: %u bytes of guest RAM written outside the "
		    "driver's buffers, first at gpa 0x%llx", c->hc->name, bad,
		    (unsigned long long)first);
}

/* ---- connections ---- */

static int
stage_setup(struct vuf *v, enum dev dev, enum stage st)
{
	if (st == S_CONN)
		return 0;
	if (st == S_RUN)
		return vuf_setup(v, dev_nq[dev], QSIZE);
	if (vuf_negotiate(v, ~0ULL, ~0ULL) == -1)
		return -1;
	if (st == S_MEM && (vuf_mem_default(v) == -1 ||
	    vuf_set_mem_table(v) == -1))
		return -1;
	return 0;
}

/*
 * Connects to the device and sets it up to `st`.  The previous front-end
 * may not be gone yet from main's point of view (the socket is refused
 * then): retried for up to WAIT_MS.
 */
static struct vuf *
victim_open(enum dev dev, enum stage st)
{
	int64_t deadline = now_ms() + WAIT_MS;
	struct vuf *v;
	uint64_t f;

	for (;;) {
		if ((v = vuf_connect(H.d->sock[dev], WAIT_MS)) == NULL)
			fail_msg("connect %s: %s", dev_id[dev],
			    strerror(errno));
		/* A round trip tells a refused connection from a served
		 * one even at S_CONN. */
		if (vuf_get_features(v, &f) == 0 &&
		    stage_setup(v, dev, st) == 0)
			return v;
		if (errno != ECONNRESET || now_ms() > deadline)
			fail_msg("setup of %s: %s", dev_id[dev],
			    vuf_error(v));
		vuf_close(v);
		sleep_ms(2);
	}
}

static void
bystander_serves(void)
{
	uint8_t buf[64];
	ssize_t n;

	n = vuf_read_writable(H.by, 0, sizeof(buf), VUF_ONE, buf, WAIT_MS);
	if (n != (ssize_t)sizeof(buf))
		fail_msg("bystander vm2-rng not served: %zd: %s", n,
		    vuf_error(H.by));
}

static void
main_alive(void)
{
	if (kill(H.d->pid, 0) != 0)
		fail_msg("vhostd main is gone");
}

static bool
fd_fired(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint64_t x;

	if (poll(&p, 1, ms) != 1)
		return false;
	return read(fd, &x, sizeof(x)) == sizeof(x);
}

/* ================= the attacks ================= */

/* -- framing -- */

/* a bytes of a GET_FEATURES header (or b > 0: a SET_FEATURES of b bytes
 * of which only a of payload come), then the write side shut. */
static int
a_truncated(struct ctx *c)
{
	uint8_t buf[64] = { 0 };
	struct vuf_hdr h = { c->hc->b ? VUF_SET_FEATURES : VUF_GET_FEATURES,
	    VUF_VERSION, c->hc->b };

	memcpy(buf, &h, sizeof(h));
	if (vuf_send_raw(c->v, buf, c->hc->b ? 12 + c->hc->a : c->hc->a,
	    NULL, 0) == -1)
		return ferr(c, "send: %s", vuf_error(c->v));
	shutdown(c->v->sock, SHUT_WR);
	return 0;
}

/* Request a with flags b and c bytes of zero payload. */
static int
a_header(struct ctx *c)
{
	uint8_t p[8192] = { 0 };

	if (c->hc->c > sizeof(p)) {
		/* A header announcing more than it sends. */
		struct vuf_hdr h = { c->hc->a, c->hc->b, (uint32_t)c->hc->c };

		return vuf_send_raw(c->v, &h, sizeof(h), NULL, 0);
	}
	return msg(c->v, c->hc->a, c->hc->b, p, (uint32_t)c->hc->c);
}

/* Request a (payload of c bytes, u64 b in it if c == 8) with one
 * eventfd, or with 9 of them if the case says 9 (b == 9 with c == 0). */
static int
a_with_fds(struct ctx *c)
{
	uint64_t p[2] = { c->hc->c == 8 ? c->hc->b : 0, 0 };
	int fds[16], n = c->hc->b == 9 && c->hc->c == 0 ? 9 : 1, i, r;

	for (i = 0; i < n; i++)
		if ((fds[i] = eventfd(0, EFD_CLOEXEC)) == -1)
			return ferr(c, "eventfd");
	r = msg_fds(c->v, c->hc->a, VUF_VERSION, p, (uint32_t)c->hc->c, fds,
	    n);
	for (i = 0; i < n; i++)
		close(fds[i]);
	return r;
}

/* Request a with u64 payload c and no fd. */
static int
a_u64(struct ctx *c)
{
	uint64_t p = c->hc->c;

	return ask(c, c->hc->a, &p, 8, NULL, 0);
}

/*
 * GET/SET_INFLIGHT_FD with case a's shape (queues, queue size, mmap size,
 * offset in c: see the rows); b = 1: SET with a 4 KiB memfd, 2: SET
 * without an fd; else GET.
 */
static int
a_inflight(struct ctx *c)
{
	struct {
		uint64_t	size, offset;
		uint16_t	nq, qsize;
		uint32_t	pad;
	} p = { c->hc->c, 0, (uint16_t)(c->hc->a >> 16),
	    (uint16_t)(c->hc->a & 0xffff), 0 };
	int fd, r;

	if (c->hc->b == 0)
		return msg(c->v, 31, VUF_VERSION, &p, sizeof(p));
	if (c->hc->b == 2)
		return msg(c->v, 32, VUF_VERSION, &p, sizeof(p));
	if ((fd = memfd(4096)) == -1)
		return ferr(c, "memfd");
	r = ask(c, 32, &p, sizeof(p), &fd, 1);
	close(fd);
	return r;
}

/* -- memory tables -- */

struct memtab_msg {
	uint32_t		n, pad;
	struct vuf_mem_region	r[10];
};

/*
 * A raw SET_MEM_TABLE: case a says which table.  Memfds of 2 MiB.
 */
static int
a_memtab(struct ctx *c)
{
	struct memtab_msg m;
	int fds[10], nfds = 1, i, r;
	uint32_t nreg = 1, size;
	const uint64_t M2 = 2 << 20, U = 0x7f0000000000ULL;

	memset(&m, 0, sizeof(m));
	m.r[0] = (struct vuf_mem_region){ 0, M2, U, 0 };
	switch (c->hc->a) {
	case 0:		/* no regions */
		nreg = 0;
		break;
	case 1:		/* 9 regions, 8 fds */
		nreg = 9;
		nfds = 8;
		for (i = 0; i < 9; i++)
			m.r[i] = (struct vuf_mem_region){ (uint64_t)i * M2, M2,
			    U + (uint64_t)i * M2, 0 };
		break;
	case 2:		/* offset + size overflows */
		m.r[0].mmap_offset = UINT64_MAX - 4095;
		break;
	case 3:		/* gpa + size overflows */
		m.r[0].gpa = UINT64_MAX - 4095;
		break;
	case 4:		/* uva + size overflows */
		m.r[0].uva = UINT64_MAX - 4095;
		break;
	case 5:		/* beyond the 2 MiB file */
		m.r[0].size = 4 << 20;
		break;
	case 6:		/* offset past the file's end */
		m.r[0].mmap_offset = M2;
		m.r[0].size = 4096;
		break;
	case 7:		/* size 0 */
		m.r[0].size = 0;
		break;
	case 8:		/* overlap in gpa */
		nreg = nfds = 2;
		m.r[1] = (struct vuf_mem_region){ M2 - 4096, M2, U + 2 * M2,
		    0 };
		break;
	case 9:		/* overlap in uva */
		nreg = nfds = 2;
		m.r[1] = (struct vuf_mem_region){ 8 * M2, M2, U + M2 - 4096,
		    0 };
		break;
	case 10:	/* not a memory file: an eventfd */
	case 11:	/* a pipe */
		break;
	case 12:	/* region count says 2, one region's payload */
		nreg = 2;
		nfds = 2;
		break;
	case 13:	/* two regions, one fd */
		nreg = 2;
		m.r[1] = (struct vuf_mem_region){ 8 * M2, M2, U + 8 * M2, 0 };
		break;
	case 14:	/* one region, two fds */
		nfds = 2;
		break;
	}
	for (i = 0; i < nfds; i++)
		fds[i] = memfd(M2);
	if (c->hc->a == 10) {
		close(fds[0]);
		fds[0] = eventfd(0, EFD_CLOEXEC);
	} else if (c->hc->a == 11) {
		int p[2];

		close(fds[0]);
		if (pipe(p) == -1)
			return ferr(c, "pipe");
		close(p[1]);
		fds[0] = p[0];
	}
	m.n = nreg;
	size = 8 + 32 * (c->hc->a == 12 ? 1 : nreg);
	r = ask(c, VUF_SET_MEM_TABLE, &m, size, fds, nfds);
	for (i = 0; i < nfds; i++)
		close(fds[i]);
	return r;
}

/* ADD_MEM_REG / REM_MEM_REG (a) of a region that b says. */
static int
a_memreg(struct ctx *c)
{
	struct vuf_mem_reg_msg m;
	struct vuf_region *r0 = &c->v->region[0];
	int fd = -1, r;

	memset(&m, 0, sizeof(m));
	m.region = (struct vuf_mem_region){ r0->gpa, r0->size,
	    (uint64_t)(uintptr_t)r0->host, r0->mmap_offset };
	switch (c->hc->b) {
	case 0:		/* unknown: another size */
		m.region.size /= 2;
		break;
	case 1:		/* overlaps region 0 in gpa, own uva */
		m.region.gpa += 4096;
		m.region.uva = 0x6f0000000000ULL;
		break;
	case 2:		/* beyond its file */
		m.region.gpa = 64ULL << 30;
		m.region.uva = 0x6f0000000000ULL;
		m.region.size = 8 << 20;
		break;
	case 3:		/* region 1, where the running rings are */
		m.region = (struct vuf_mem_region){ c->v->region[1].gpa,
		    c->v->region[1].size,
		    (uint64_t)(uintptr_t)c->v->region[1].host,
		    c->v->region[1].mmap_offset };
		break;
	}
	if (c->hc->a == VUF_ADD_MEM_REG)
		fd = memfd(2 << 20);
	r = ask(c, c->hc->a, &m, sizeof(m), &fd, fd != -1 ? 1 : 0);
	if (fd != -1)
		close(fd);
	return r;
}

/* SET_MEM_TABLE of region 0 only while queues run in region 1. */
static int
a_memtab_drop_rings(struct ctx *c)
{
	struct memtab_msg m;
	struct vuf_region *r0 = &c->v->region[0];

	memset(&m, 0, sizeof(m));
	m.n = 1;
	m.r[0] = (struct vuf_mem_region){ r0->gpa, r0->size,
	    (uint64_t)(uintptr_t)r0->host, r0->mmap_offset };
	return ask(c, VUF_SET_MEM_TABLE, &m, 8 + 32, &r0->fd, 1);
}

/* -- vring setup -- */

/* SET_VRING_NUM / BASE / ENABLE (a) of queue b to c. */
static int
a_vring_state(struct ctx *c)
{
	struct vuf_vring_state s = { c->hc->b, (uint32_t)c->hc->c };

	return ask(c, c->hc->a, &s, sizeof(s), NULL, 0);
}

/* SET_VRING_ADDR of queue 0 laid out in region 1, then spoilt (a). */
static int
a_vring_addr(struct ctx *c)
{
	struct vuf *v = c->v;
	struct vuf_vring_addr a;
	struct vuf_vring_state s = { 0, QSIZE };

	if (!v->vq[0].ready && vuf_vq_alloc(v, 0, QSIZE, 1) == -1)
		return ferr(c, "alloc: %s", vuf_error(v));
	if (c->hc->stage != S_RUN && vuf_request(v, VUF_SET_VRING_NUM, &s,
	    sizeof(s), NULL, 0, NULL) == -1)
		return ferr(c, "num: %s", vuf_error(v));
	memset(&a, 0, sizeof(a));
	a.desc_uva = (uint64_t)(uintptr_t)v->vq[0].desc;
	a.avail_uva = (uint64_t)(uintptr_t)v->vq[0].avail;
	a.used_uva = (uint64_t)(uintptr_t)v->vq[0].used;
	switch (c->hc->a) {
	case 0: a.desc_uva += 8; break;			/* misaligned */
	case 1: a.used_uva += 2; break;
	case 2: a.avail_uva += 1; break;
	case 3: a.desc_uva = 0x1000; break;		/* unmapped */
	case 4:						/* crosses the end */
		a.used_uva = (uint64_t)(uintptr_t)v->region[0].host +
		    v->region[0].size - 64;
		break;
	case 5: a.flags = 1; break;			/* dirty log */
	case 6: a.flags = 2; break;			/* unknown flag */
	case 7: break;					/* while running */
	case 8: a.index = 1; break;			/* no such queue */
	}
	return ask(c, VUF_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
}

/* -- config space -- */

/* GET_CONFIG (or SET_CONFIG if b & 1) at offset a, size c, with hdr.size
 * off by one if b & 2. */
static int
a_config(struct ctx *c)
{
	uint8_t p[12 + 512] = { 0 };
	struct vuf_config_hdr h = { c->hc->a, (uint32_t)c->hc->c, 0 };
	uint32_t size = 12 + (c->hc->c <= 256 ? (uint32_t)c->hc->c : 0);

	memcpy(p, &h, sizeof(h));
	if (c->hc->b & 2)
		size--;
	return ask(c, c->hc->b & 1 ? VUF_SET_CONFIG : VUF_GET_CONFIG, p, size,
	    NULL, 0);
}

/* -- descriptor chains -- */

/*
 * The chain of case a, written straight into queue 0's descriptor table
 * and avail ring.  Buffers come from region 0; an indirect table that
 * straddles two regions sits across the region 1 / region 2 border.
 */
static int
a_chain(struct ctx *c)
{
	struct vuf *v = c->v;
	struct vuf_vq *vq = &v->vq[0];
	uint64_t buf = galloc(c, 4096), tbl = galloc(c, 64 * 16), t2;
	struct vring_desc *t = host(c, tbl, 64 * 16);
	const uint16_t N = VRING_DESC_F_NEXT, W = VRING_DESC_F_WRITE,
	    I = VRING_DESC_F_INDIRECT;
	unsigned i;
	uint16_t head = 0;

	if (buf == VUF_BAD_GPA || tbl == VUF_BAD_GPA || t == NULL)
		return ferr(c, "alloc");
	/* Whatever the device might legitimately write: none here, since
	 * every chain is bad; but the buffer is the driver's. */
	switch (c->hc->a) {
	case 0:		/* next out of range */
		wdesc(c, 0, 0, buf, 64, W | N, QSIZE + 5);
		break;
	case 1:		/* head out of range */
		head = QSIZE + 1;
		break;
	case 2:		/* two-descriptor loop */
		wdesc(c, 0, 0, buf, 64, W | N, 1);
		wdesc(c, 0, 1, buf + 64, 64, W | N, 0);
		break;
	case 3:		/* zero-length self loop */
		wdesc(c, 0, 0, buf, 0, W | N, 0);
		break;
	case 4:		/* nested indirect */
		wdesc(c, 0, 0, tbl, 32, I, 0);
		t[0] = (struct vring_desc){ tbl + 512, 16, I, 0 };
		t[1] = (struct vring_desc){ buf, 64, W, 0 };
		break;
	case 5:		/* indirect table across two regions */
		t2 = v->region[2].gpa - 32;
		{
			struct vring_desc *a = host(c, t2, 32),
			    *b = host(c, v->region[2].gpa, 32);

			if (a == NULL || b == NULL)
				return ferr(c, "border");
			a[0] = (struct vring_desc){ buf, 64, W | N, 1 };
			a[1] = (struct vring_desc){ buf + 64, 64, W | N, 2 };
			b[0] = (struct vring_desc){ buf + 128, 64, W, 0 };
		}
		wdesc(c, 0, 0, t2, 64, I, 0);
		break;
	case 6:		/* total length overflows 32 bits: two 2 GiB
			 * buffers in a sparse 2 GiB region added for it */
		if ((i = (unsigned)vuf_mem_add(v, 64ULL << 30, 2ULL << 30,
		    0)) == (unsigned)-1 || vuf_add_mem_reg(v, i) == -1)
			return ferr(c, "2 GiB region: %s", vuf_error(v));
		wdesc(c, 0, 0, 64ULL << 30, 0x80000000u, W | N, 1);
		wdesc(c, 0, 1, 64ULL << 30, 0x80000000u, W, 0);
		break;
	case 7:		/* readable after writable */
		wdesc(c, 0, 0, buf, 64, W | N, 1);
		wdesc(c, 0, 1, buf + 64, 64, N ^ N, 0);
		break;
	case 8:		/* avail index jumps past the queue size */
		wdesc(c, 0, 0, buf, 64, W, 0);
		vq->avail->ring[vq->avail_idx % vq->num] = 0;
		vq->avail_idx += QSIZE + 1;
		__atomic_store_n(&vq->avail->idx, vq->avail_idx,
		    __ATOMIC_RELEASE);
		return 0;
	case 9:		/* buffer in the hole between regions */
		wdesc(c, 0, 0, 3ULL << 30, 64, W, 0);
		break;
	case 10:	/* buffer address wraps */
		wdesc(c, 0, 0, UINT64_MAX - 10, 100, W, 0);
		break;
	case 11:	/* buffer runs off the end of region 0 */
		wdesc(c, 0, 0, v->region[0].size - 32, 64, W, 0);
		break;
	case 12:	/* indirect with NEXT */
		t[0] = (struct vring_desc){ buf, 64, W, 0 };
		wdesc(c, 0, 0, tbl, 16, I | N, 1);
		wdesc(c, 0, 1, buf, 64, W, 0);
		break;
	case 13:	/* indirect table length not a multiple of 16 */
		t[0] = (struct vring_desc){ buf, 64, W, 0 };
		wdesc(c, 0, 0, tbl, 24, I, 0);
		break;
	case 14:	/* indirect table loops */
		t[0] = (struct vring_desc){ buf, 0, W | N, 1 };
		t[1] = (struct vring_desc){ buf, 0, W | N, 0 };
		wdesc(c, 0, 0, tbl, 32, I, 0);
		break;
	case 15:	/* indirect next out of its table */
		t[0] = (struct vring_desc){ buf, 64, W | N, 7 };
		wdesc(c, 0, 0, tbl, 32, I, 0);
		break;
	case 16:	/* more segments than the device takes: 64 + 1 */
		for (i = 0; i < 64; i++)
			t[i] = (struct vring_desc){ buf + i, 1, W | N,
			    (uint16_t)(i + 1) };
		t[63].flags = W;
		wdesc(c, 0, 0, buf + 2048, 1, W | N, 1);
		wdesc(c, 0, 1, tbl, 64 * 16, I, 0);
		break;
	case 17:	/* indirect table outside guest memory */
		wdesc(c, 0, 0, 3ULL << 30, 64, I, 0);
		break;
	}
	publish(c, 0, head);
	return 0;
}

/* rng given a device-readable buffer only: used with length 0, nothing
 * written. */
static int
a_rng_readonly(struct ctx *c)
{
	uint64_t buf = galloc(c, 256);
	struct vuf_seg s = { buf, 256, false };
	uint32_t head, len;

	if (vuf_vq_add(c->v, 0, &s, 1) == -1 || vuf_kick(c->v, 0) == -1)
		return ferr(c, "add: %s", vuf_error(c->v));
	if (vuf_vq_wait_used(c->v, 0, &head, &len, WAIT_MS) != 1)
		return ferr(c, "readable-only buffer not returned: %s",
		    vuf_error(c->v));
	if (len != 0)
		return ferr(c, "used length %u for a buffer with no writable "
		    "byte", len);
	return 0;
}

/* The same head made available twice while the device holds it: gpio's
 * eventq holds a buffer per line with its interrupt enabled. */
static int
a_same_head_twice(struct ctx *c)
{
	uint8_t req[8] = { 6, 0, 0, 0, 3, 0, 0, 0 };	/* IRQ_TYPE 0 BOTH */
	uint8_t line[2] = { 0, 0 };
	uint64_t rq = galloc(c, 64), rs = galloc(c, 64), ev = galloc(c, 64),
	    st = galloc(c, 64);
	struct vuf_seg s[2];
	uint32_t h, len;
	int head;

	memcpy(host(c, rq, 8), req, 8);
	memcpy(host(c, ev, 2), line, 2);
	s[0] = (struct vuf_seg){ rq, 8, false };
	s[1] = (struct vuf_seg){ rs, 2, true };
	if (vuf_vq_add(c->v, 0, s, 2) == -1 || vuf_kick(c->v, 0) == -1 ||
	    vuf_vq_wait_used(c->v, 0, &h, &len, WAIT_MS) != 1)
		return ferr(c, "SET_IRQ_TYPE: %s", vuf_error(c->v));
	if (*(uint8_t *)host(c, rs, 1) != 0)
		return ferr(c, "SET_IRQ_TYPE failed");
	s[0] = (struct vuf_seg){ ev, 2, false };
	s[1] = (struct vuf_seg){ st, 1, true };
	if ((head = vuf_vq_add(c->v, 1, s, 2)) == -1)
		return ferr(c, "eventq add");
	allow(c, rs, 2);
	allow(c, st, 1);
	if (vuf_kick(c->v, 1) == -1)
		return ferr(c, "kick");
	sleep_ms(50);
	/* Again, while it is held. */
	publish(c, 1, (uint16_t)head);
	c->q = 1;
	return 0;
}

/* -- used ring scribbling -- */

/* The guest scribbles on the used ring (a: 0 idx and entries, 1 flags
 * and avail_event, 2 used_event far away): the device goes on, writing
 * its next entry where it would have, and nothing else. */
static int
a_used_scribble(struct ctx *c)
{
	struct vuf_vq *vq = &c->v->vq[0];
	uint64_t buf = galloc(c, 128);
	struct vuf_seg s = { buf, 128, true };
	uint16_t want = vq->last_used + 1, slot = vq->last_used % vq->num;
	uint32_t *e;
	unsigned i;
	int head;
	int64_t deadline;

	allow(c, buf, 128);
	switch (c->hc->a) {
	case 0:
		vq->used->idx = 0x7777;
		for (i = 0; i < vq->num; i++) {
			vq->used->ring[i].id = 0xdeadbeef;
			vq->used->ring[i].len = 0xffffffff;
		}
		break;
	case 1:
		vq->used->flags = 0xffff;
		memcpy(&vq->used->ring[vq->num], &(uint16_t){ 0xabcd }, 2);
		break;
	case 2:
		vq->avail->ring[vq->num] = (uint16_t)(vq->avail_idx + 1000);
		break;
	}
	if ((head = vuf_vq_add(c->v, 0, &s, 1)) == -1 ||
	    vuf_kick(c->v, 0) == -1)
		return ferr(c, "add: %s", vuf_error(c->v));
	deadline = now_ms() + WAIT_MS;
	while (__atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE) != want) {
		if (now_ms() > deadline)
			return ferr(c, "used idx 0x%x, not 0x%x", vq->used->idx,
			    want);
		sleep_ms(2);
	}
	e = &vq->used->ring[slot].id;
	if (e[0] != (uint32_t)head || e[1] != 128)
		return ferr(c, "used entry {%u, %u}, not {%d, 128}", e[0],
		    e[1], head);
	return 0;
}

/* -- device requests -- */

/* One request to queue 0 of gpio or i2c: `out` bytes device-readable,
 * `in` bytes device-writable whose last one is the status (gpio: the
 * first).  Expects X_DEVERR. */
static int
dev_req(struct ctx *c, const void *out, uint32_t olen, uint32_t ilen,
    bool status_last, bool out_writable)
{
	uint64_t ob = galloc(c, olen ? olen : 1), ib = galloc(c, ilen + 1);
	struct vuf_seg s[2];
	unsigned n = 0;

	if (ob == VUF_BAD_GPA || ib == VUF_BAD_GPA)
		return ferr(c, "alloc");
	if (olen) {
		memcpy(host(c, ob, olen), out, olen);
		s[n++] = (struct vuf_seg){ ob, olen, out_writable };
		if (out_writable)
			allow(c, ob, olen);
	}
	if (ilen) {
		s[n++] = (struct vuf_seg){ ib, ilen, true };
		allow(c, ib, ilen);
		c->status_gpa = status_last ? ib + ilen - 1 : ib;
	}
	/* A device-writable request is where the response begins. */
	if (olen && out_writable && !status_last)
		c->status_gpa = ob;
	if (vuf_vq_add(c->v, 0, s, n) == -1)
		return ferr(c, "add: %s", vuf_error(c->v));
	return 0;
}

/* gpio: type a, line b, value c, response of 2 bytes. */
static int
a_gpio(struct ctx *c)
{
	uint8_t r[8] = { (uint8_t)c->hc->a, (uint8_t)(c->hc->a >> 8),
	    (uint8_t)c->hc->b, (uint8_t)(c->hc->b >> 8),
	    (uint8_t)c->hc->c, (uint8_t)(c->hc->c >> 8), 0, 0 };

	return dev_req(c, r, 8, 2, false, false);
}

/* gpio with odd buffers: a = 0: 4-byte request; 1: 1-byte response to
 * GET_NAMES; 2: request in a device-writable buffer; 3: no response. */
static int
a_gpio_bufs(struct ctx *c)
{
	uint8_t r[8] = { 4, 0, 0, 0, 0, 0, 0, 0 };	/* GET_VALUE line 0 */

	switch (c->hc->a) {
	case 0: return dev_req(c, r, 4, 2, false, false);
	case 1: r[0] = 1; return dev_req(c, r, 8, 1, false, false);
	case 2: return dev_req(c, r, 8, 2, false, true);
	default: return dev_req(c, r, 8, 0, false, false);
	}
}

/* i2c: address field a, flags b, write of c bytes (or read with c
 * device-writable bytes if b has M_RD). */
static int
a_i2c(struct ctx *c)
{
	static uint8_t out[8 + 8192];
	uint32_t rd = c->hc->b & 2, len = (uint32_t)c->hc->c;

	memset(out, 0x11, sizeof(out));
	out[0] = (uint8_t)c->hc->a;
	out[1] = (uint8_t)(c->hc->a >> 8);
	out[2] = out[3] = 0;
	memcpy(out + 4, &c->hc->b, 4);
	return dev_req(c, out, rd ? 8 : 8 + len, rd ? len + 1 : 1, true,
	    false);
}

/* i2c request with no header (4 readable bytes). */
static int
a_i2c_nohdr(struct ctx *c)
{
	uint8_t out[4] = { 0xa0, 0, 0, 0 };

	return dev_req(c, out, 4, 1, true, false);
}

/* ================= the cases ================= */

#define V	VUF_VERSION
#define NR	VUF_FLAG_NEED_REPLY
#define CL	"closing connection"
#define RF	"refused"

/* Rows leave `bug` out unless the case exposes one. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
static const struct hcase cases[] = {
	/* ---- framing and fds ---- */
	{ "short header", D_RNG, S_CONN, a_truncated, X_CLOSED,
	    "in the middle of a message", NULL, 6, 0, 0 },
	{ "size beyond payload then close", D_RNG, S_CONN, a_truncated,
	    X_CLOSED, "in the middle of a message", NULL, 4, 8, 0 },
	{ "header only of a sized message then close", D_RNG, S_CONN,
	    a_truncated, X_CLOSED, "in the middle of a message", NULL, 0, 8,
	    0 },
	{ "short payload SET_VRING_NUM", D_RNG, S_NEG, a_header, X_CLOSED,
	    "SET_VRING_NUM", "wrong payload size", VUF_SET_VRING_NUM, V, 4 },
	{ "payload beyond the limit", D_RNG, S_CONN, a_header, X_CLOSED,
	    "beyond the limit", NULL, VUF_SET_FEATURES, V, 100000 },
	{ "GET_FEATURES with a payload", D_RNG, S_CONN, a_header, X_CLOSED,
	    "GET_FEATURES", "wrong payload size", VUF_GET_FEATURES, V, 8 },
	{ "SET_FEATURES of 4 bytes", D_RNG, S_CONN, a_header, X_CLOSED,
	    "SET_FEATURES", "wrong payload size", VUF_SET_FEATURES, V, 4 },
	{ "SET_VRING_ADDR of 32 bytes", D_RNG, S_MEM, a_header, X_CLOSED,
	    "SET_VRING_ADDR", "wrong payload size", VUF_SET_VRING_ADDR, V,
	    32 },
	{ "SET_STATUS of 4 bytes", D_RNG, S_NEG, a_header, X_CLOSED,
	    "SET_STATUS", "wrong payload size", VUF_SET_STATUS, V, 4 },
	{ "ADD_MEM_REG of 32 bytes", D_RNG, S_NEG, a_header, X_CLOSED,
	    "ADD_MEM_REG", "wrong payload size", VUF_ADD_MEM_REG, V, 32 },
	{ "unknown code 0", D_RNG, S_CONN, a_header, X_CLOSED,
	    "unknown or unsupported request", NULL, 0, V, 0 },
	{ "unknown code 99", D_RNG, S_CONN, a_header, X_CLOSED,
	    "unknown or unsupported request", NULL, 99, V, 0 },
	{ "unknown code 0xffffffff", D_RNG, S_CONN, a_header, X_CLOSED,
	    "unknown or unsupported request", NULL, 0xffffffffu, V, 0 },
	{ "unsupported SET_LOG_BASE", D_RNG, S_NEG, a_header, X_CLOSED,
	    "SET_LOG_BASE", "unknown or unsupported", 6, V, 8 },
	{ "GET_INFLIGHT_FD of 0 queues", D_RNG, S_NEG, a_inflight, X_CLOSED,
	    "GET_INFLIGHT_FD", "queue count out of range", 0 << 16 | 64, 0,
	    0 },
	{ "GET_INFLIGHT_FD of more queues than the device", D_GPIO, S_NEG,
	    a_inflight, X_CLOSED, "GET_INFLIGHT_FD",
	    "queue count out of range", 3 << 16 | 64, 0, 0 },
	{ "GET_INFLIGHT_FD queue size not a power of two", D_RNG, S_NEG,
	    a_inflight, X_CLOSED, "GET_INFLIGHT_FD", "not a power of two",
	    1 << 16 | 100, 0, 0 },
	{ "GET_INFLIGHT_FD of a wrong size", D_RNG, S_NEG, a_header,
	    X_CLOSED, "GET_INFLIGHT_FD", "wrong payload size", 31, V, 16 },
	{ "SET_INFLIGHT_FD without its fd", D_RNG, S_NEG, a_inflight,
	    X_CLOSED, "SET_INFLIGHT_FD", "wrong number of file descriptors",
	    1 << 16 | 64, 2, 1 << 20 },
	{ "SET_INFLIGHT_FD beyond its file", D_RNG, S_NEG, a_inflight,
	    X_REFUSED, "SET_INFLIGHT_FD", "beyond its file", 1 << 16 | 64, 1,
	    1 << 20 },
	{ "SET_INFLIGHT_FD smaller than its queues", D_RNG, S_NEG,
	    a_inflight, X_REFUSED, "SET_INFLIGHT_FD", "of the wrong size",
	    1 << 16 | 32768, 1, 4096 },
	{ "version 0", D_RNG, S_CONN, a_header, X_CLOSED,
	    "unsupported protocol version", NULL, VUF_GET_FEATURES, 0, 0 },
	{ "version 2", D_RNG, S_CONN, a_header, X_CLOSED,
	    "unsupported protocol version", NULL, VUF_GET_FEATURES, 2, 0 },
	{ "REPLY flag from the front-end", D_RNG, S_CONN, a_header, X_CLOSED,
	    "unknown or reply flags", NULL, VUF_GET_FEATURES,
	    V | VUF_FLAG_REPLY, 0 },
	{ "unknown flag bit", D_RNG, S_CONN, a_header, X_CLOSED,
	    "unknown or reply flags", NULL, VUF_GET_FEATURES, V | 0x100, 0 },
	{ "fd on GET_FEATURES", D_RNG, S_CONN, a_with_fds, X_CLOSED,
	    "GET_FEATURES", "wrong number of file descriptors",
	    VUF_GET_FEATURES, 0, 0 },
	{ "fd on SET_OWNER", D_RNG, S_CONN, a_with_fds, X_CLOSED,
	    "SET_OWNER", "wrong number of file descriptors", VUF_SET_OWNER, 0,
	    0 },
	{ "fd on SET_FEATURES", D_RNG, S_CONN, a_with_fds, X_CLOSED,
	    "SET_FEATURES", "wrong number of file descriptors",
	    VUF_SET_FEATURES, 0, 8 },
	{ "9 fds on one message", D_RNG, S_CONN, a_with_fds, X_CLOSED,
	    "too many file descriptors", NULL, VUF_GET_FEATURES, 9, 0 },
	{ "SET_VRING_KICK NOFD with an fd", D_RNG, S_MEM, a_with_fds,
	    X_CLOSED, "SET_VRING_KICK", "fd presence", VUF_SET_VRING_KICK,
	    VUF_VRING_NOFD, 8 },
	{ "SET_VRING_CALL reserved bits", D_RNG, S_MEM, a_with_fds, X_CLOSED,
	    "SET_VRING_CALL", "reserved bits", VUF_SET_VRING_CALL, 0x10000,
	    8 },
	{ "SET_VRING_ERR queue out of range", D_RNG, S_MEM, a_with_fds,
	    X_CLOSED, "SET_VRING_ERR", "queue index out of range",
	    VUF_SET_VRING_ERR, 7, 8 },
	{ "SET_VRING_KICK missing fd", D_RNG, S_MEM, a_u64, X_CLOSED,
	    "SET_VRING_KICK", "fd presence", VUF_SET_VRING_KICK, 0, 0 },
	{ "SET_BACKEND_REQ_FD missing fd", D_RNG, S_NEG, a_u64, X_CLOSED,
	    "SET_BACKEND_REQ_FD", NULL, VUF_SET_BACKEND_REQ_FD, 0, 0 },
	{ "GET_CONFIG before CONFIG negotiated", D_GPIO, S_CONN, a_config,
	    X_CLOSED, "GET_CONFIG", "protocol feature not negotiated", 0, 0,
	    4 },
	{ "SET_FEATURES not offered", D_RNG, S_NEG, a_u64, X_REFUSED,
	    "SET_FEATURES", "not offered", VUF_SET_FEATURES, 0,
	    1ULL << 63 },
	{ "SET_PROTOCOL_FEATURES not offered", D_RNG, S_NEG, a_u64,
	    X_REFUSED, "SET_PROTOCOL_FEATURES", "not offered",
	    VUF_SET_PROTOCOL_FEATURES, 0, 1ULL << 40 },
	{ "SET_STATUS beyond 8 bits", D_RNG, S_NEG, a_u64, X_REFUSED,
	    "SET_STATUS", "beyond 8 bits", VUF_SET_STATUS, 0, 0x1ff },

	/* ---- memory tables ---- */
	{ "mem table of no regions", D_RNG, S_NEG, a_memtab, X_CLOSED,
	    "SET_MEM_TABLE", "region count", 0, 0, 0 },
	{ "mem table of 9 regions", D_RNG, S_NEG, a_memtab, X_CLOSED,
	    "SET_MEM_TABLE", NULL, 1, 0, 0 },
	{ "mem offset+size overflows", D_RNG, S_NEG, a_memtab, X_REFUSED,
	    "SET_MEM_TABLE", "overflows", 2, 0, 0 },
	{ "mem gpa+size overflows", D_RNG, S_NEG, a_memtab, X_REFUSED,
	    "SET_MEM_TABLE", "overflows", 3, 0, 0 },
	{ "mem uva+size overflows", D_RNG, S_NEG, a_memtab, X_REFUSED,
	    "SET_MEM_TABLE", "overflows", 4, 0, 0 },
	{ "mem region beyond its file", D_RNG, S_NEG, a_memtab, X_REFUSED,
	    "SET_MEM_TABLE", "beyond its file", 5, 0, 0 },
	{ "mem offset past the file end", D_RNG, S_NEG, a_memtab, X_REFUSED,
	    "SET_MEM_TABLE", "beyond its file", 6, 0, 0 },
	{ "mem region of size 0", D_RNG, S_NEG, a_memtab, X_REFUSED,
	    "SET_MEM_TABLE", "size 0", 7, 0, 0 },
	{ "mem overlap in gpa", D_RNG, S_NEG, a_memtab, X_REFUSED,
	    "SET_MEM_TABLE", "guest physical", 8, 0, 0 },
	{ "mem overlap in uva", D_RNG, S_NEG, a_memtab, X_REFUSED,
	    "SET_MEM_TABLE", "front-end address space", 9, 0, 0 },
	{ "mem region an eventfd", D_RNG, S_NEG, a_memtab, X_REFUSED,
	    "SET_MEM_TABLE", "not a memory file", 10, 0, 0 },
	{ "mem region a pipe", D_RNG, S_NEG, a_memtab, X_REFUSED,
	    "SET_MEM_TABLE", "not a memory file", 11, 0, 0 },
	{ "mem count beyond payload", D_RNG, S_NEG, a_memtab, X_CLOSED,
	    "SET_MEM_TABLE", "does not match region count", 12, 0, 0 },
	{ "mem two regions one fd", D_RNG, S_NEG, a_memtab, X_CLOSED,
	    "SET_MEM_TABLE", "fd count does not match", 13, 0, 0 },
	{ "mem one region two fds", D_RNG, S_NEG, a_memtab, X_CLOSED,
	    "SET_MEM_TABLE", "fd count does not match", 14, 0, 0 },
	{ "REM_MEM_REG unknown region", D_RNG, S_MEM, a_memreg, X_REFUSED,
	    "REM_MEM_REG", "no such region", VUF_REM_MEM_REG, 0, 0 },
	{ "ADD_MEM_REG overlapping", D_RNG, S_MEM, a_memreg, X_REFUSED,
	    "ADD_MEM_REG", "overlap", VUF_ADD_MEM_REG, 1, 0 },
	{ "ADD_MEM_REG beyond its file", D_RNG, S_MEM, a_memreg, X_REFUSED,
	    "ADD_MEM_REG", "beyond its file", VUF_ADD_MEM_REG, 2, 0 },
	{ "REM_MEM_REG under running rings", D_RNG, S_RUN, a_memreg,
	    X_REFUSED, "REM_MEM_REG", "ring", VUF_REM_MEM_REG, 3, 0 },
	{ "mem table without the running rings", D_RNG, S_RUN,
	    a_memtab_drop_rings, X_REFUSED, "SET_MEM_TABLE", "ring", 0, 0,
	    0 },

	/* ---- vring setup ---- */
	{ "SET_VRING_NUM queue out of range", D_RNG, S_MEM, a_vring_state,
	    X_CLOSED, "SET_VRING_NUM", "queue index out of range",
	    VUF_SET_VRING_NUM, 1, 64 },
	{ "SET_VRING_NUM 0", D_RNG, S_MEM, a_vring_state, X_REFUSED,
	    "SET_VRING_NUM", "power of two", VUF_SET_VRING_NUM, 0, 0 },
	{ "SET_VRING_NUM 3", D_RNG, S_MEM, a_vring_state, X_REFUSED,
	    "SET_VRING_NUM", "power of two", VUF_SET_VRING_NUM, 0, 3 },
	{ "SET_VRING_NUM 65536", D_RNG, S_MEM, a_vring_state, X_REFUSED,
	    "SET_VRING_NUM", "power of two", VUF_SET_VRING_NUM, 0, 65536 },
	{ "SET_VRING_NUM while running", D_RNG, S_RUN, a_vring_state,
	    X_REFUSED, "SET_VRING_NUM", "running", VUF_SET_VRING_NUM, 0, 32 },
	{ "SET_VRING_BASE while running", D_RNG, S_RUN, a_vring_state,
	    X_REFUSED, "SET_VRING_BASE", "running", VUF_SET_VRING_BASE, 0,
	    5 },
	{ "SET_VRING_BASE beyond 16 bits", D_RNG, S_MEM, a_vring_state,
	    X_REFUSED, "SET_VRING_BASE", "16 bits", VUF_SET_VRING_BASE, 0,
	    0x10000 },
	{ "SET_VRING_ENABLE 2", D_RNG, S_MEM, a_vring_state, X_REFUSED,
	    "SET_VRING_ENABLE", "neither 0 nor 1", VUF_SET_VRING_ENABLE, 0,
	    2 },
	{ "GET_VRING_BASE queue out of range", D_RNG, S_RUN, a_vring_state,
	    X_CLOSED, "GET_VRING_BASE", "queue index out of range",
	    VUF_GET_VRING_BASE, 3, 0 },
	{ "vring desc misaligned", D_RNG, S_MEM, a_vring_addr, X_REFUSED,
	    "SET_VRING_ADDR", "misaligned", 0, 0, 0 },
	{ "vring used misaligned", D_RNG, S_MEM, a_vring_addr, X_REFUSED,
	    "SET_VRING_ADDR", "misaligned", 1, 0, 0 },
	{ "vring avail misaligned", D_RNG, S_MEM, a_vring_addr, X_REFUSED,
	    "SET_VRING_ADDR", "misaligned", 2, 0, 0 },
	{ "vring desc unmapped", D_RNG, S_MEM, a_vring_addr, X_REFUSED,
	    "SET_VRING_ADDR", "outside the memory table", 3, 0, 0 },
	{ "vring used crosses region end", D_RNG, S_MEM, a_vring_addr,
	    X_REFUSED, "SET_VRING_ADDR", "outside the memory table", 4, 0,
	    0 },
	{ "vring dirty log flag", D_RNG, S_MEM, a_vring_addr, X_REFUSED,
	    "SET_VRING_ADDR", "dirty logging", 5, 0, 0 },
	{ "vring unknown addr flag", D_RNG, S_MEM, a_vring_addr, X_REFUSED,
	    "SET_VRING_ADDR", "unknown flags", 6, 0, 0 },
	{ "SET_VRING_ADDR while running", D_RNG, S_RUN, a_vring_addr,
	    X_REFUSED, "SET_VRING_ADDR", "running", 7, 0, 0 },
	{ "SET_VRING_ADDR queue out of range", D_RNG, S_MEM, a_vring_addr,
	    X_CLOSED, "SET_VRING_ADDR", "queue index out of range", 8, 0, 0 },

	/* ---- config space ---- */
	{ "GET_CONFIG offset beyond", D_GPIO, S_NEG, a_config, X_CLOSED,
	    "GET_CONFIG", "beyond the device's config space", 9, 0, 1 },
	{ "GET_CONFIG size beyond", D_GPIO, S_NEG, a_config, X_CLOSED,
	    "GET_CONFIG", "beyond the device's config space", 4, 0, 8 },
	{ "GET_CONFIG offset wraps", D_GPIO, S_NEG, a_config, X_CLOSED,
	    "GET_CONFIG", "beyond the device's config space", 0xfffffffeu,
	    0, 4 },
	{ "GET_CONFIG on a device without config", D_RNG, S_NEG, a_config,
	    X_CLOSED, "GET_CONFIG", "beyond the device's config space", 0, 0,
	    4 },
	{ "GET_CONFIG size 300", D_GPIO, S_NEG, a_config, X_CLOSED,
	    "GET_CONFIG", "config size too large", 0, 0, 300 },
	{ "GET_CONFIG partial payload", D_GPIO, S_NEG, a_config, X_CLOSED,
	    "GET_CONFIG", "does not match config size", 0, 2, 8 },
	{ "SET_CONFIG partial payload", D_GPIO, S_NEG, a_config, X_CLOSED,
	    "SET_CONFIG", "does not match config size", 0, 3, 4 },
	{ "SET_CONFIG", D_GPIO, S_NEG, a_config, X_REFUSED, "SET_CONFIG",
	    "read-only", 0, 1, 4 },

	/* ---- descriptor chains in guest RAM ---- */
	{ "desc next out of range", D_RNG, S_RUN, a_chain, X_BROKEN,
	    "queue broken", "out of range", 0, 0, 0 },
	{ "avail head out of range", D_RNG, S_RUN, a_chain, X_BROKEN,
	    "queue broken", "head", 1, 0, 0 },
	{ "desc loop", D_RNG, S_RUN, a_chain, X_BROKEN, "queue broken",
	    "loops", 2, 0, 0 },
	{ "desc zero-length self loop", D_RNG, S_RUN, a_chain, X_BROKEN,
	    "queue broken", "loops", 3, 0, 0 },
	{ "nested indirect", D_RNG, S_RUN, a_chain, X_BROKEN, "queue broken",
	    "nested indirect", 4, 0, 0 },
	{ "indirect table straddles regions", D_RNG, S_RUN, a_chain,
	    X_BROKEN, "queue broken", "not inside one memory region", 5, 0,
	    0 },
	{ "chain length overflows 32 bits", D_RNG, S_RUN, a_chain, X_BROKEN,
	    "queue broken", "longer than", 6, 0, 0 },
	{ "readable after writable", D_RNG, S_RUN, a_chain, X_BROKEN,
	    "queue broken", "device-readable descriptor after", 7, 0, 0 },
	{ "avail index jumps past queue size", D_RNG, S_RUN, a_chain,
	    X_BROKEN, "queue broken", "ahead", 8, 0, 0 },
	{ "buffer in a memory hole", D_RNG, S_RUN, a_chain, X_BROKEN,
	    "queue broken", "not in guest memory", 9, 0, 0 },
	{ "buffer address wraps", D_RNG, S_RUN, a_chain, X_BROKEN,
	    "queue broken", "overflows", 10, 0, 0 },
	{ "buffer runs off its region", D_RNG, S_RUN, a_chain, X_BROKEN,
	    "queue broken", "not in guest memory", 11, 0, 0 },
	{ "indirect with NEXT", D_RNG, S_RUN, a_chain, X_BROKEN,
	    "queue broken", "indirect descriptor with NEXT", 12, 0, 0 },
	{ "indirect table length 24", D_RNG, S_RUN, a_chain, X_BROKEN,
	    "queue broken", "bad indirect table length", 13, 0, 0 },
	{ "indirect table loops", D_RNG, S_RUN, a_chain, X_BROKEN,
	    "queue broken", "loops", 14, 0, 0 },
	{ "indirect next out of its table", D_RNG, S_RUN, a_chain, X_BROKEN,
	    "queue broken", "out of range", 15, 0, 0 },
	{ "too many segments", D_RNG, S_RUN, a_chain, X_BROKEN,
	    "queue broken", "too many segments", 16, 0, 0 },
	{ "indirect table in a memory hole", D_RNG, S_RUN, a_chain, X_BROKEN,
	    "queue broken", "indirect table", 17, 0, 0 },
	{ "same head twice while held", D_GPIO, S_RUN, a_same_head_twice,
	    X_BROKEN, "queue broken", "in flight", 0, 0, 0 },
	{ "read-only buffer where write-only is needed", D_RNG, S_RUN,
	    a_rng_readonly, X_CUSTOM, NULL, NULL, 0, 0, 0 },

	/* ---- used ring scribbling ---- */
	{ "used idx and entries scribbled", D_RNG, S_RUN, a_used_scribble,
	    X_CUSTOM, NULL, NULL, 0, 0, 0 },
	{ "used flags and avail_event scribbled", D_RNG, S_RUN,
	    a_used_scribble, X_CUSTOM, NULL, NULL, 1, 0, 0 },
	{ "used_event far ahead", D_RNG, S_RUN, a_used_scribble, X_CUSTOM,
	    NULL, NULL, 2, 0, 0 },

	/* ---- device requests ---- */
	{ "gpio unknown type", D_GPIO, S_RUN, a_gpio, X_DEVERR,
	    "unknown request type", NULL, 99, 0, 0 },
	{ "gpio type 0", D_GPIO, S_RUN, a_gpio, X_DEVERR,
	    "unknown request type", NULL, 0, 0, 0 },
	{ "gpio line out of range", D_GPIO, S_RUN, a_gpio, X_DEVERR,
	    "no such line", NULL, 4, 4, 0 },
	{ "gpio line 0xffff", D_GPIO, S_RUN, a_gpio, X_DEVERR,
	    "no such line", NULL, 2, 0xffff, 0 },
	{ "gpio bad direction", D_GPIO, S_RUN, a_gpio, X_DEVERR,
	    "no such direction", NULL, 3, 0, 9 },
	{ "gpio bad value", D_GPIO, S_RUN, a_gpio, X_DEVERR,
	    "not 0 or 1", NULL, 5, 0, 2 },
	{ "gpio bad irq type", D_GPIO, S_RUN, a_gpio, X_DEVERR,
	    "no such interrupt type", NULL, 6, 0, 5 },
	{ "gpio short request", D_GPIO, S_RUN, a_gpio_bufs, X_DEVERR,
	    "request is not 8 bytes", NULL, 0, 0, 0 },
	{ "gpio short response buffer", D_GPIO, S_RUN, a_gpio_bufs,
	    X_DEVERR, "response buffer too short", NULL, 1, 0, 0 },
	{ "gpio request device-writable", D_GPIO, S_RUN, a_gpio_bufs,
	    X_DEVERR, "request is not 8 bytes", NULL, 2, 0, 0 },
	{ "gpio no response buffer", D_GPIO, S_RUN, a_gpio_bufs, X_DEVERR,
	    "no response buffer", NULL, 3, 0, 0 },
	{ "i2c address not granted", D_I2C, S_RUN, a_i2c, X_DEVERR,
	    "not granted", NULL, 0x20 << 1, 0, 1 },
	{ "i2c reserved address", D_I2C, S_RUN, a_i2c, X_DEVERR,
	    "not granted", NULL, 0x02 << 1, 0, 1 },
	{ "i2c 10-bit address", D_I2C, S_RUN, a_i2c, X_DEVERR,
	    "not a 7-bit address", NULL, 0x8000 | (80 << 1), 0, 1 },
	{ "i2c reserved flags", D_I2C, S_RUN, a_i2c, X_DEVERR,
	    "reserved flag bits", NULL, 80 << 1, 0x100, 1 },
	{ "i2c oversize write", D_I2C, S_RUN, a_i2c, X_DEVERR,
	    "message of 5000 bytes", NULL, 80 << 1, 0, 5000 },
	{ "i2c oversize read", D_I2C, S_RUN, a_i2c, X_DEVERR,
	    "message of 4097 bytes", NULL, 80 << 1, 2, 4097 },
	{ "i2c no header", D_I2C, S_RUN, a_i2c_nohdr, X_DEVERR,
	    "no header", NULL, 0, 0, 0 },
};
#pragma GCC diagnostic pop
#define NCASES	(sizeof(cases) / sizeof(cases[0]))

/* ================= the runner ================= */

/* The outcome checks of one case; 0, or -1 with c->err. */
static int
outcome(struct ctx *c)
{
	const struct hcase *hc = c->hc;
	struct vuf *v = c->v;
	struct vuf_msg m;
	uint32_t head, len;
	uint8_t st;
	int r;

	switch (hc->expect) {
	case X_CLOSED:
		if (vuf_wait_closed(v, WAIT_MS) != 1)
			return ferr(c, "connection not closed");
		break;
	case X_REFUSED:
		r = vuf_recv(v, &m, WAIT_MS);
		if (r == -1 && errno == ECONNRESET)
			break;
		if (r == -1)
			return ferr(c, "no answer: %s", vuf_error(v));
		if (m.hdr.request != c->req || m.hdr.size != 8)
			return ferr(c, "answer to %u of size %u", m.hdr.request,
			    m.hdr.size);
		if (m.payload.u64 == 0)
			return ferr(c, "accepted (ack 0)");
		break;
	case X_BROKEN:
		if (!fd_fired(v->vq[c->q].err_fd, WAIT_MS))
			return ferr(c, "queue %u: err eventfd not signalled",
			    c->q);
		sleep_ms(20);
		if (__atomic_load_n(&v->vq[c->q].used->idx,
		    __ATOMIC_ACQUIRE) != c->used_before)
			return ferr(c, "queue %u: the bad chain was used",
			    c->q);
		break;
	case X_DEVERR:
		if (vuf_vq_wait_used(v, 0, &head, &len, WAIT_MS) != 1)
			return ferr(c, "request not completed: %s",
			    vuf_error(v));
		if (c->status_gpa == 0) {
			if (len != 0)
				return ferr(c, "used length %u without a "
				    "response buffer", len);
			break;
		}
		st = *(uint8_t *)host(c, c->status_gpa, 1);
		if (st != 1)
			return ferr(c, "status %u, not ERR", st);
		if (fd_fired(v->vq[0].err_fd, 0))
			return ferr(c, "queue broken by a request that "
			    "deserves an error status");
		break;
	case X_CUSTOM:
		break;
	}
	return 0;
}

static void
run_case(void **state)
{
	const struct hcase *hc = *state;
	struct ctx c;
	struct vuf *v;

	if (H.d == NULL)
		skip();
	if (hc->bug != NULL && !H.known_bugs) {
		fprintf(stderr, "SKIP known bug: %s: %s\n", hc->name, hc->bug);
		skip();
	}
	memset(&c, 0, sizeof(c));
	c.hc = hc;
	H.logoff = file_size(H.d->log);
	c.v = v = H.cur = victim_open(hc->dev, hc->stage);
	/* Under a slow wrapper (valgrind, VUF_SLOW) the worker starts its
	 * rings well after the set-up's last reply: one request served
	 * first, so that they run in main (which refuses to change running
	 * rings) and in the worker (which reads the used index when it
	 * starts a ring) before the attack, as they do at full speed. */
	if (hc->stage == S_RUN && hc->dev == D_RNG && daemon_slow() > 1 &&
	    vuf_read_writable(v, 0, 16, VUF_ONE, (uint8_t[16]){ 0 },
	    WAIT_MS) != 16)
		fail_msg("%s: rng not served before the attack: %s",
		    hc->name, vuf_error(v));
	if (hc->stage >= S_MEM)
		canary_fill(v);
	if (hc->expect == X_BROKEN)
		c.kick = true;
	if (hc->expect == X_DEVERR)
		c.kick = true;
	if (hc->stage == S_RUN)
		c.used_before = v->vq[0].used->idx;
	if (hc->fn(&c) == -1) {
		log_since_dump();
		fail_msg("%s: %s", hc->name, c.err);
	}
	if (c.q != 0)
		c.used_before = v->vq[c.q].used->idx;
	if (hc->stage >= S_MEM)
		snapshot(v);
	if (c.kick)
		vuf_kick(v, c.q);
	if (outcome(&c) == -1) {
		log_since_dump();
		fail_msg("%s: %s", hc->name, c.err);
	}
	if (hc->log1 != NULL && !log_since_has(WAIT_MS, dev_id[hc->dev],
	    hc->log1, hc->log2)) {
		log_since_dump();
		fail_msg("%s: no log line with \"%s\"%s%s%s", hc->name,
		    hc->log1, hc->log2 ? " and \"" : "", hc->log2 ? hc->log2 :
		    "", hc->log2 ? "\"" : "");
	}
	if (hc->stage >= S_MEM)
		snapshot_check(&c);
	main_alive();
	bystander_serves();
	vuf_close(v);
	H.cur = NULL;
}

/* A failed case leaves its connection open: closed here, so that the
 * next case gets the device. */
static int
case_teardown(void **state)
{
	(void)state;
	if (H.cur != NULL)
		vuf_close(H.cur);
	H.cur = NULL;
	return 0;
}

/* ---- 1000 repetitions: no growth in main ---- */

/* True if pid has AddressSanitizer's runtime or valgrind's memcheck
 * mapped (valgrind's own memory grows with the code it has run). */
static bool
sanitized(pid_t pid)
{
	return proc_maps_has(pid, "libasan") ||
	    proc_maps_has(pid, "vgpreload_memcheck");
}

static const struct hcase *
case_named(const char *name)
{
	size_t i;

	for (i = 0; i < NCASES; i++)
		if (strcmp(cases[i].name, name) == 0)
			return &cases[i];
	fail_msg("no case %s", name);
	return NULL;
}

/* One quick round of a case: attack and the outcome, no log/canary. */
static void
quick_round(const struct hcase *hc)
{
	struct ctx c;

	memset(&c, 0, sizeof(c));
	c.hc = hc;
	c.v = H.cur = victim_open(hc->dev, hc->stage);
	if (hc->expect == X_BROKEN || hc->expect == X_DEVERR)
		c.kick = true;
	if (hc->stage == S_RUN)
		c.used_before = c.v->vq[0].used->idx;
	if (hc->fn(&c) == -1)
		fail_msg("%s: %s", hc->name, c.err);
	if (c.kick)
		vuf_kick(c.v, c.q);
	if (outcome(&c) == -1)
		fail_msg("%s: %s", hc->name, c.err);
	vuf_close(c.v);
	H.cur = NULL;
}

static void
test_repeat(void **state)
{
	static const char *const names[] = {
		"short header", "unknown code 99", "version 0",
		"fd on GET_FEATURES", "short payload SET_VRING_NUM",
		"desc loop", "nested indirect",
		("avail index jumps past queue size"),
	};
	const char *env = getenv("HOSTILE_REPS");
	int reps = env != NULL ? atoi(env) : 1000;
	int fd0, fd1, i, k;
	long rss0, rss1;
	int64_t t0;

	if (H.d == NULL)
		skip();
	/* Warm up: allocator arenas, libevent's tables, the zombie list. */
	for (k = 0; k < (int)(sizeof(names) / sizeof(names[0])); k++)
		for (i = 0; i < 20; i++)
			quick_round(case_named(names[k]));
	sleep_ms(200);
	fd0 = proc_count_fds(H.d->pid, false);
	rss0 = proc_rss_kb(H.d->pid);
	t0 = now_ms();
	for (k = 0; k < (int)(sizeof(names) / sizeof(names[0])); k++)
		for (i = 0; i < reps; i++)
			quick_round(case_named(names[k]));
	/* Let main see the last close and reap the last worker. */
	fd1 = proc_fds_settle(H.d->pid, fd0, 3000);
	rss1 = proc_rss_kb(H.d->pid);
	fprintf(stderr, "repeat: %d x %zu cases in %lld ms; main: %d fds "
	    "before, %d after; RSS %ld kB before, %ld kB after\n", reps,
	    sizeof(names) / sizeof(names[0]), (long long)(now_ms() - t0), fd0,
	    fd1, rss0, rss1);
	main_alive();
	bystander_serves();
	if (fd1 > fd0) {
		proc_count_fds(H.d->pid, true);
		fail_msg("main's fds grew from %d to %d", fd0, fd1);
	}
	/* A leak of even 100 bytes per round would be 800 kB.  Under
	 * AddressSanitizer RSS says nothing (freed memory sits in its
	 * quarantine, its stack depot grows), and LeakSanitizer is off in
	 * main once its seccomp filter is on: the normal build's run of
	 * this test is the one that checks main's memory. */
	if (sanitized(H.d->pid)) {
		fprintf(stderr, "repeat: main runs under AddressSanitizer "
		    "or valgrind: RSS not checked\n");
		return;
	}
	if (rss1 > rss0 + 512)
		fail_msg("main's RSS grew from %ld to %ld kB", rss0, rss1);
}

/* ---- the group ---- */

static int
group_setup(void **state)
{
	char gpio[512];

	(void)state;
	if (daemon_setup((void **)&H.d) != 0)
		return -1;
	if (H.d == NULL)
		return 0;
	H.known_bugs = getenv("HOSTILE_KNOWN_BUGS") != NULL &&
	    strcmp(getenv("HOSTILE_KNOWN_BUGS"), "1") == 0;
	/* i2c logs an address it does not grant at info (i2cdetect probes
	 * them all): the level every case's line is looked for at. */
	snprintf(H.d->global, sizeof(H.d->global), ",\n  \"log_level\": "
	    "\"info\"");
	snprintf(gpio, sizeof(gpio), ", \"backend\": \"sim\", \"chip\": "
	    "\"%s/chip0\", \"ngpio\": 8, \"lines\": [0, 1, 2, 3]", H.d->dir);
	daemon_add(H.d, "rng", "vm1-rng", "");
	daemon_add(H.d, "gpio", "vm1-gpio", gpio);
	daemon_add(H.d, "i2c", "vm1-i2c", ", \"backend\": \"sim\", \"bus\": "
	    "\"hostile0\", \"addresses\": [80], \"parts\": [{ \"type\": "
	    "\"24c02\", \"address\": 80 }]");
	daemon_add(H.d, "rng", "vm2-rng", "");
	daemon_start(H.d);
	H.by = daemon_open_dev(H.d->sock[SOCK_BYSTANDER], QSIZE);
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	if (H.d == NULL)
		return 0;
	if (H.by != NULL)
		vuf_close(H.by);
	if (H.d->pid > 0)
		daemon_stop(H.d);
	return daemon_teardown((void **)&H.d);
}

int
main(void)
{
	struct CMUnitTest *tests;
	size_t i;
	int rc;

	signal(SIGPIPE, SIG_IGN);
	if ((tests = calloc(NCASES + 1, sizeof(*tests))) == NULL)
		return 99;
	for (i = 0; i < NCASES; i++) {
		tests[i].name = cases[i].name;
		tests[i].test_func = run_case;
		tests[i].teardown_func = case_teardown;
		tests[i].initial_state = (void *)&cases[i];
	}
	tests[NCASES].name = "repeat: no growth in main";
	tests[NCASES].test_func = test_repeat;
	tests[NCASES].teardown_func = case_teardown;
	fprintf(stderr, "test_hostile: %zu cases\n", NCASES);
	rc = _cmocka_run_group_tests("test_hostile", tests, NCASES + 1,
	    group_setup, group_teardown);
	free(tests);
	return rc;
}
