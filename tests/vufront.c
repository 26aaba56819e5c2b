/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vufront: a vhost-user front-end (the VMM's side) for tests.  It speaks
 * the protocol of QEMU's docs/interop/vhost-user.rst over a unix socket,
 * shares guest RAM as memfd regions, and drives split virtqueues (VIRTIO
 * 1.x, 2.7) laid out in that RAM as a guest driver would.  It trusts
 * nothing the back-end sends: every reply is checked, every wait bounded.
 * See vufront.h for the contract of each function.
 */
#include "config.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "vufront.h"

#define PAGE_SIZE	4096ULL
#define MIB		(1024ULL * 1024)
#define GIB		(1024ULL * MIB)

static void	vuf_err(struct vuf *, int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

/* Records why the call failed, keeps errno as `err`. */
static void
vuf_err(struct vuf *v, int err, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(v->err, sizeof(v->err), fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof(v->err) && err != 0)
		snprintf(v->err + n, sizeof(v->err) - (size_t)n, ": %s",
		    strerror(err));
	errno = err;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
left_ms(int64_t deadline)
{
	int64_t left = deadline - now_ms();

	if (left < 0)
		return 0;
	if (left > 1000000)
		return 1000000;
	return (int)left;
}

static void
close_fds(int *fds, int nfds)
{
	int i;

	for (i = 0; i < nfds; i++)
		if (fds[i] != -1)
			close(fds[i]);
}

/* ---- connection and raw messages ---- */

struct vuf *
vuf_connect(const char *path, int timeout_ms)
{
	struct sockaddr_un sun;
	int64_t deadline = now_ms() + timeout_ms;
	int fd, saved;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	strcpy(sun.sun_path, path);

	for (;;) {
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
			return NULL;
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			break;
		saved = errno;
		close(fd);
		if ((saved != ENOENT && saved != ECONNREFUSED &&
		    saved != EAGAIN) || now_ms() >= deadline) {
			errno = saved;
			return NULL;
		}
		usleep(10000);
	}

	return vuf_from_fd(fd);
}

struct vuf *
vuf_from_fd(int fd)
{
	struct vuf *v;
	unsigned i;

	if ((v = calloc(1, sizeof(*v))) == NULL) {
		close(fd);
		return NULL;
	}
	v->sock = fd;
	v->timeout_ms = VUF_TIMEOUT_MS;
	v->backend_fd = -1;
	for (i = 0; i < VUF_MAX_REGIONS; i++)
		v->region[i].fd = -1;
	for (i = 0; i < VUF_MAX_QUEUES; i++) {
		v->vq[i].kick_fd = -1;
		v->vq[i].call_fd = -1;
		v->vq[i].err_fd = -1;
	}
	return v;
}

void
vuf_close(struct vuf *v)
{
	struct vuf_vq *vq;
	unsigned i;

	if (v == NULL)
		return;
	if (v->sock != -1)
		close(v->sock);
	if (v->backend_fd != -1)
		close(v->backend_fd);
	for (i = 0; i < VUF_MAX_QUEUES; i++) {
		vq = &v->vq[i];
		close_fds(&vq->kick_fd, 1);
		close_fds(&vq->call_fd, 1);
		close_fds(&vq->err_fd, 1);
		free(vq->chain_len);
	}
	for (i = 0; i < v->nregions; i++) {
		if (v->region[i].map_base != NULL)
			munmap(v->region[i].map_base, v->region[i].map_len);
		close_fds(&v->region[i].fd, 1);
	}
	free(v);
}

const char *
vuf_error(const struct vuf *v)
{
	return v->err[0] != '\0' ? v->err : "no error recorded";
}

int
vuf_send_raw(struct vuf *v, const void *buf, size_t len, const int *fds,
    int nfds)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * VUF_MAX_FDS)];
	} cmsgbuf;
	struct msghdr msg;
	struct cmsghdr *cmsg;
	struct iovec iov;
	size_t off = 0;
	ssize_t n;

	if (nfds < 0 || nfds > VUF_MAX_FDS) {
		vuf_err(v, EINVAL, "send: %d fds", nfds);
		return -1;
	}
	while (off < len || (len == 0 && off == 0)) {
		memset(&msg, 0, sizeof(msg));
		iov.iov_base = (char *)buf + off;
		iov.iov_len = len - off;
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		if (off == 0 && nfds > 0) {
			memset(&cmsgbuf, 0, sizeof(cmsgbuf));
			msg.msg_control = cmsgbuf.buf;
			msg.msg_controllen = CMSG_SPACE(sizeof(int) *
			    (size_t)nfds);
			cmsg = CMSG_FIRSTHDR(&msg);
			cmsg->cmsg_level = SOL_SOCKET;
			cmsg->cmsg_type = SCM_RIGHTS;
			cmsg->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
			memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * (size_t)nfds);
		}
		n = sendmsg(v->sock, &msg, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			vuf_err(v, errno == EPIPE ? ECONNRESET : errno,
			    "send of %zu bytes", len);
			return -1;
		}
		off += (size_t)n;
		if (len == 0)
			break;
	}
	return 0;
}

int
vuf_send(struct vuf *v, uint32_t request, uint32_t flags,
    const void *payload, uint32_t size, const int *fds, int nfds)
{
	uint8_t *buf;
	struct vuf_hdr hdr = { request, flags, size };
	int r;

	if ((buf = malloc(sizeof(hdr) + size)) == NULL) {
		vuf_err(v, errno, "send");
		return -1;
	}
	memcpy(buf, &hdr, sizeof(hdr));
	if (size > 0)
		memcpy(buf + sizeof(hdr), payload, size);
	r = vuf_send_raw(v, buf, sizeof(hdr) + size, fds, nfds);
	free(buf);
	return r;
}

/*
 * Reads exactly len bytes before deadline; fds that come with them are
 * appended to m (extra ones closed).
 */
static int
recv_full(struct vuf *v, void *buf, size_t len, int64_t deadline,
    struct vuf_msg *m)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * VUF_MAX_FDS)];
	} cmsgbuf;
	struct pollfd pfd;
	struct msghdr msg;
	struct cmsghdr *cmsg;
	struct iovec iov;
	size_t off = 0, i, nfd;
	ssize_t n;
	int fd, r;

	while (off < len) {
		pfd.fd = v->sock;
		pfd.events = POLLIN;
		r = poll(&pfd, 1, left_ms(deadline));
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			vuf_err(v, errno, "poll");
			return -1;
		}
		if (r == 0) {
			vuf_err(v, ETIMEDOUT, "no reply from the back-end");
			return -1;
		}
		memset(&msg, 0, sizeof(msg));
		iov.iov_base = (char *)buf + off;
		iov.iov_len = len - off;
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = cmsgbuf.buf;
		msg.msg_controllen = sizeof(cmsgbuf.buf);
		n = recvmsg(v->sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n == -1) {
			vuf_err(v, errno == ECONNRESET ? ECONNRESET : errno,
			    "recv");
			return -1;
		}
		for (cmsg = CMSG_FIRSTHDR(&msg); cmsg != NULL;
		    cmsg = CMSG_NXTHDR(&msg, cmsg)) {
			if (cmsg->cmsg_level != SOL_SOCKET ||
			    cmsg->cmsg_type != SCM_RIGHTS)
				continue;
			nfd = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (i = 0; i < nfd; i++) {
				memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int),
				    sizeof(int));
				if (m != NULL && m->nfds < VUF_MAX_FDS)
					m->fds[m->nfds++] = fd;
				else
					close(fd);
			}
		}
		if (n == 0) {
			vuf_err(v, ECONNRESET, "the back-end closed the "
			    "connection");
			return -1;
		}
		off += (size_t)n;
	}
	return 0;
}

int
vuf_recv(struct vuf *v, struct vuf_msg *m, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	uint8_t discard[256];
	uint32_t left;

	m->nfds = 0;
	if (recv_full(v, &m->hdr, sizeof(m->hdr), deadline, m) == -1)
		goto fail;
	if (m->hdr.size > VUF_MAX_PAYLOAD) {
		/* Drain it to stay in step, then refuse it. */
		for (left = m->hdr.size; left > 0; ) {
			size_t n = left < sizeof(discard) ? left :
			    sizeof(discard);

			if (recv_full(v, discard, n, deadline, m) == -1)
				goto fail;
			left -= (uint32_t)n;
		}
		vuf_err(v, EPROTO, "reply to %u: payload of %u bytes",
		    m->hdr.request, m->hdr.size);
		goto fail;
	}
	if (m->hdr.size > 0 &&
	    recv_full(v, m->payload.bytes, m->hdr.size, deadline, m) == -1)
		goto fail;
	return 0;
fail:
	close_fds(m->fds, m->nfds);
	m->nfds = 0;
	return -1;
}

int
vuf_wait_closed(struct vuf *v, int timeout_ms)
{
	struct pollfd pfd;
	char c;
	ssize_t n;
	int r;

	pfd.fd = v->sock;
	pfd.events = POLLIN;
	do
		r = poll(&pfd, 1, timeout_ms);
	while (r == -1 && errno == EINTR);
	if (r == -1) {
		vuf_err(v, errno, "poll");
		return -1;
	}
	if (r == 0)
		return 0;
	n = recv(v->sock, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n == 0 || (n == -1 && errno == ECONNRESET))
		return 1;
	if (n == -1 && (pfd.revents & (POLLHUP | POLLERR)))
		return 1;
	return 0;
}

/* True for the requests that have a reply of their own. */
static bool
has_reply(uint32_t request)
{
	switch (request) {
	case VUF_GET_FEATURES:
	case VUF_GET_PROTOCOL_FEATURES:
	case VUF_GET_VRING_BASE:
	case VUF_GET_QUEUE_NUM:
	case VUF_GET_CONFIG:
	case VUF_GET_MAX_MEM_SLOTS:
	case VUF_GET_STATUS:
		return true;
	default:
		return false;
	}
}

/* Reads the reply to request into m and checks its header. */
static int
recv_reply(struct vuf *v, uint32_t request, struct vuf_msg *m)
{
	if (vuf_recv(v, m, v->timeout_ms) == -1)
		return -1;
	if (m->hdr.request != request ||
	    (m->hdr.flags & VUF_VERSION_MASK) != VUF_VERSION ||
	    !(m->hdr.flags & VUF_FLAG_REPLY)) {
		vuf_err(v, EPROTO, "reply to %u: request %u flags %#x",
		    request, m->hdr.request, m->hdr.flags);
		close_fds(m->fds, m->nfds);
		m->nfds = 0;
		return -1;
	}
	return 0;
}

int
vuf_request_ack(struct vuf *v, uint32_t request, const void *payload,
    uint32_t size, const int *fds, int nfds, uint64_t *ack)
{
	struct vuf_msg m;

	if (vuf_send(v, request, VUF_VERSION | VUF_FLAG_NEED_REPLY, payload,
	    size, fds, nfds) == -1)
		return -1;
	if (recv_reply(v, request, &m) == -1)
		return -1;
	close_fds(m.fds, m.nfds);
	if (m.hdr.size != sizeof(uint64_t)) {
		vuf_err(v, EPROTO, "ack to %u: %u bytes", request, m.hdr.size);
		return -1;
	}
	v->last_ack = m.payload.u64;
	*ack = m.payload.u64;
	return 0;
}

int
vuf_request(struct vuf *v, uint32_t request, const void *payload,
    uint32_t size, const int *fds, int nfds, struct vuf_msg *reply)
{
	uint64_t ack;

	if (has_reply(request)) {
		if (reply == NULL) {
			vuf_err(v, EINVAL, "request %u needs a reply buffer",
			    request);
			return -1;
		}
		if (vuf_send(v, request, VUF_VERSION, payload, size, fds,
		    nfds) == -1)
			return -1;
		if (recv_reply(v, request, reply) == -1)
			return -1;
		if (reply->hdr.size < sizeof(uint64_t)) {
			vuf_err(v, EPROTO, "reply to %u: %u bytes", request,
			    reply->hdr.size);
			close_fds(reply->fds, reply->nfds);
			return -1;
		}
		return 0;
	}
	if (!v->reply_ack)
		return vuf_send(v, request, VUF_VERSION, payload, size, fds,
		    nfds);
	if (vuf_request_ack(v, request, payload, size, fds, nfds, &ack) == -1)
		return -1;
	if (ack != 0) {
		vuf_err(v, EREMOTEIO, "request %u refused (ack %llu)",
		    request, (unsigned long long)ack);
		return -1;
	}
	return 0;
}

int
vuf_request_u64(struct vuf *v, uint32_t request, uint64_t value)
{
	return vuf_request(v, request, &value, sizeof(value), NULL, 0, NULL);
}

int
vuf_get_u64(struct vuf *v, uint32_t request, uint64_t *value)
{
	struct vuf_msg m;

	if (vuf_request(v, request, NULL, 0, NULL, 0, &m) == -1)
		return -1;
	close_fds(m.fds, m.nfds);
	if (m.hdr.size != sizeof(uint64_t)) {
		vuf_err(v, EPROTO, "reply to %u: %u bytes, not 8", request,
		    m.hdr.size);
		return -1;
	}
	*value = m.payload.u64;
	return 0;
}

/* ---- negotiation and device-level messages ---- */

int
vuf_get_features(struct vuf *v, uint64_t *features)
{
	if (vuf_get_u64(v, VUF_GET_FEATURES, features) == -1)
		return -1;
	v->dev_features = *features;
	return 0;
}

int
vuf_set_features(struct vuf *v, uint64_t features)
{
	if (vuf_request_u64(v, VUF_SET_FEATURES, features) == -1)
		return -1;
	v->features = features;
	v->event_idx = (features >> VIRTIO_RING_F_EVENT_IDX) & 1;
	return 0;
}

int
vuf_get_protocol_features(struct vuf *v, uint64_t *features)
{
	if (vuf_get_u64(v, VUF_GET_PROTOCOL_FEATURES, features) == -1)
		return -1;
	v->dev_protocol_features = *features;
	return 0;
}

int
vuf_set_protocol_features(struct vuf *v, uint64_t features)
{
	/* Acks apply from the next message on, as QEMU does. */
	if (vuf_request_u64(v, VUF_SET_PROTOCOL_FEATURES, features) == -1)
		return -1;
	v->protocol_features = features;
	v->reply_ack = (features >> VUF_PF_REPLY_ACK) & 1;
	return 0;
}

int
vuf_negotiate(struct vuf *v, uint64_t want, uint64_t want_protocol)
{
	uint64_t f, pf;

	if (vuf_get_features(v, &f) == -1)
		return -1;
	if (f & (1ULL << VUF_F_PROTOCOL_FEATURES)) {
		want |= 1ULL << VUF_F_PROTOCOL_FEATURES;
		if (vuf_get_protocol_features(v, &pf) == -1 ||
		    vuf_set_protocol_features(v, pf & want_protocol) == -1)
			return -1;
	}
	if (vuf_set_owner(v) == -1)
		return -1;
	return vuf_set_features(v, f & want);
}

int
vuf_set_owner(struct vuf *v)
{
	return vuf_request(v, VUF_SET_OWNER, NULL, 0, NULL, 0, NULL);
}

int
vuf_get_queue_num(struct vuf *v, uint64_t *n)
{
	return vuf_get_u64(v, VUF_GET_QUEUE_NUM, n);
}

int
vuf_get_max_mem_slots(struct vuf *v, uint64_t *n)
{
	return vuf_get_u64(v, VUF_GET_MAX_MEM_SLOTS, n);
}

int
vuf_get_config(struct vuf *v, uint32_t offset, uint32_t size, void *buf)
{
	uint8_t req[sizeof(struct vuf_config_hdr) + 256];
	struct vuf_config_hdr ch = { offset, size, 0 };
	struct vuf_msg m;

	if (size > 256) {
		vuf_err(v, EINVAL, "GET_CONFIG of %u bytes", size);
		return -1;
	}
	memset(req, 0, sizeof(req));
	memcpy(req, &ch, sizeof(ch));
	if (vuf_request(v, VUF_GET_CONFIG, req, sizeof(ch) + size, NULL, 0,
	    &m) == -1)
		return -1;
	close_fds(m.fds, m.nfds);
	if (m.hdr.size != sizeof(ch) + size) {
		vuf_err(v, EPROTO, "GET_CONFIG reply of %u bytes, not %zu",
		    m.hdr.size, sizeof(ch) + size);
		return -1;
	}
	memcpy(&ch, m.payload.bytes, sizeof(ch));
	if (ch.offset != offset || ch.size != size) {
		vuf_err(v, EPROTO, "GET_CONFIG reply for %u+%u, not %u+%u",
		    ch.offset, ch.size, offset, size);
		return -1;
	}
	memcpy(buf, m.payload.bytes + sizeof(ch), size);
	return 0;
}

int
vuf_set_config(struct vuf *v, uint32_t offset, uint32_t size,
    uint32_t flags, const void *buf)
{
	uint8_t req[sizeof(struct vuf_config_hdr) + 256];
	struct vuf_config_hdr ch = { offset, size, flags };

	if (size > 256) {
		vuf_err(v, EINVAL, "SET_CONFIG of %u bytes", size);
		return -1;
	}
	memcpy(req, &ch, sizeof(ch));
	memcpy(req + sizeof(ch), buf, size);
	return vuf_request(v, VUF_SET_CONFIG, req, sizeof(ch) + size, NULL, 0,
	    NULL);
}

int
vuf_set_status(struct vuf *v, uint8_t status)
{
	return vuf_request_u64(v, VUF_SET_STATUS, status);
}

int
vuf_get_status(struct vuf *v, uint8_t *status)
{
	uint64_t s;

	if (vuf_get_u64(v, VUF_GET_STATUS, &s) == -1)
		return -1;
	if (s > 0xff) {
		vuf_err(v, EPROTO, "GET_STATUS: %#llx", (unsigned long long)s);
		return -1;
	}
	*status = (uint8_t)s;
	return 0;
}

int
vuf_reset_device(struct vuf *v)
{
	unsigned q;

	if (vuf_request(v, VUF_RESET_DEVICE, NULL, 0, NULL, 0, NULL) == -1)
		return -1;
	/* The device forgot the rings: start them afresh if reused. */
	for (q = 0; q < VUF_MAX_QUEUES; q++) {
		struct vuf_vq *vq = &v->vq[q];
		uint16_t i;

		if (!vq->ready)
			continue;
		memset(vq->avail, 0, 4 + 2 * (size_t)vq->num + 2);
		memset(vq->used, 0, 4 + 8 * (size_t)vq->num + 2);
		vq->avail_idx = vq->last_used = 0;
		vq->free_head = 0;
		vq->num_free = vq->num;
		for (i = 0; i < vq->num; i++) {
			vq->desc[i].next = (uint16_t)(i + 1);
			vq->chain_len[i] = 0;
		}
	}
	return 0;
}

int
vuf_set_backend_req(struct vuf *v)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		vuf_err(v, errno, "socketpair");
		return -1;
	}
	if (vuf_request(v, VUF_SET_BACKEND_REQ_FD, NULL, 0, &sv[1], 1,
	    NULL) == -1) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	close(sv[1]);
	if (v->backend_fd != -1)
		close(v->backend_fd);
	v->backend_fd = sv[0];
	return 0;
}

/* ---- guest RAM ---- */

int
vuf_mem_add(struct vuf *v, uint64_t gpa, uint64_t size, uint64_t mmap_offset)
{
	struct vuf_region *r;
	char name[32];
	void *p;
	int fd;

	if (v->nregions == VUF_MAX_REGIONS || size == 0 ||
	    size % PAGE_SIZE != 0 || mmap_offset % PAGE_SIZE != 0) {
		vuf_err(v, EINVAL, "region %#llx+%#llx", (unsigned long long)gpa,
		    (unsigned long long)size);
		return -1;
	}
	snprintf(name, sizeof(name), "vuf-ram%u", v->nregions);
	if ((fd = memfd_create(name, MFD_CLOEXEC)) == -1) {
		vuf_err(v, errno, "memfd_create");
		return -1;
	}
	if (ftruncate(fd, (off_t)(mmap_offset + size)) == -1) {
		vuf_err(v, errno, "ftruncate");
		close(fd);
		return -1;
	}
	p = mmap(NULL, mmap_offset + size, PROT_READ | PROT_WRITE, MAP_SHARED,
	    fd, 0);
	if (p == MAP_FAILED) {
		vuf_err(v, errno, "mmap");
		close(fd);
		return -1;
	}
	r = &v->region[v->nregions];
	memset(r, 0, sizeof(*r));
	r->gpa = gpa;
	r->size = size;
	r->mmap_offset = mmap_offset;
	r->fd = fd;
	r->map_base = p;
	r->map_len = mmap_offset + size;
	r->host = (uint8_t *)p + mmap_offset;
	/* Leave the first page alone: gpa 0 is never a buffer. */
	r->lo = PAGE_SIZE;
	r->hi = size;
	return (int)v->nregions++;
}

int
vuf_mem_default(struct vuf *v)
{
	if (vuf_mem_add(v, 0, 2 * MIB, 0) == -1 ||
	    vuf_mem_add(v, 4 * GIB, 1 * MIB, 0) == -1 ||
	    vuf_mem_add(v, 4 * GIB + 1 * MIB, 1 * MIB, 64 * 1024) == -1)
		return -1;
	/* Region 2 starts at its border: allocate nothing below it. */
	v->region[2].lo = 0;
	return 0;
}

static void
region_desc(const struct vuf_region *r, struct vuf_mem_region *d)
{
	d->gpa = r->gpa;
	d->size = r->size;
	d->uva = (uint64_t)(uintptr_t)r->host;
	d->mmap_offset = r->mmap_offset;
}

int
vuf_set_mem_table(struct vuf *v)
{
	uint8_t buf[8 + sizeof(struct vuf_mem_region) * VUF_MAX_REGIONS];
	struct vuf_mem_region d;
	int fds[VUF_MAX_REGIONS];
	uint32_t n = v->nregions, pad = 0;
	unsigned i;

	memcpy(buf, &n, 4);
	memcpy(buf + 4, &pad, 4);
	for (i = 0; i < n; i++) {
		region_desc(&v->region[i], &d);
		memcpy(buf + 8 + i * sizeof(d), &d, sizeof(d));
		fds[i] = v->region[i].fd;
	}
	return vuf_request(v, VUF_SET_MEM_TABLE, buf,
	    (uint32_t)(8 + n * sizeof(d)), fds, (int)n, NULL);
}

int
vuf_add_mem_reg(struct vuf *v, unsigned r)
{
	struct vuf_mem_reg_msg m;

	if (r >= v->nregions) {
		vuf_err(v, EINVAL, "no region %u", r);
		return -1;
	}
	memset(&m, 0, sizeof(m));
	region_desc(&v->region[r], &m.region);
	if (vuf_request(v, VUF_ADD_MEM_REG, &m, sizeof(m), &v->region[r].fd,
	    1, NULL) == -1)
		return -1;
	v->region[r].shared = true;
	return 0;
}

int
vuf_rem_mem_reg(struct vuf *v, unsigned r)
{
	struct vuf_mem_reg_msg m;

	if (r >= v->nregions) {
		vuf_err(v, EINVAL, "no region %u", r);
		return -1;
	}
	memset(&m, 0, sizeof(m));
	region_desc(&v->region[r], &m.region);
	if (vuf_request(v, VUF_REM_MEM_REG, &m, sizeof(m), NULL, 0,
	    NULL) == -1)
		return -1;
	v->region[r].shared = false;
	return 0;
}

void *
vuf_gpa_to_host(struct vuf *v, uint64_t gpa, uint64_t len)
{
	const struct vuf_region *r;
	unsigned i;

	for (i = 0; i < v->nregions; i++) {
		r = &v->region[i];
		if (gpa >= r->gpa && gpa - r->gpa < r->size &&
		    len <= r->size - (gpa - r->gpa))
			return r->host + (gpa - r->gpa);
	}
	return NULL;
}

uint64_t
vuf_alloc(struct vuf *v, unsigned r, uint64_t len, uint64_t align)
{
	struct vuf_region *rg;
	uint64_t off;

	if (r >= v->nregions || align == 0 || (align & (align - 1)) != 0) {
		vuf_err(v, EINVAL, "alloc in region %u", r);
		return VUF_BAD_GPA;
	}
	rg = &v->region[r];
	off = (rg->lo + align - 1) & ~(align - 1);
	if (off > rg->hi || len > rg->hi - off) {
		vuf_err(v, ENOMEM, "region %u full", r);
		return VUF_BAD_GPA;
	}
	rg->lo = off + len;
	return rg->gpa + off;
}

uint64_t
vuf_alloc_top(struct vuf *v, unsigned r, uint64_t len)
{
	struct vuf_region *rg;

	if (r >= v->nregions) {
		vuf_err(v, EINVAL, "alloc in region %u", r);
		return VUF_BAD_GPA;
	}
	rg = &v->region[r];
	if (len > rg->hi - rg->lo) {
		vuf_err(v, ENOMEM, "region %u full", r);
		return VUF_BAD_GPA;
	}
	rg->hi -= len;
	return rg->gpa + rg->hi;
}

/* ---- virtqueues ---- */

static struct vuf_vq *
get_vq(struct vuf *v, unsigned q)
{
	if (q >= VUF_MAX_QUEUES || !v->vq[q].ready) {
		vuf_err(v, EINVAL, "queue %u not allocated", q);
		return NULL;
	}
	return &v->vq[q];
}

int
vuf_vq_alloc(struct vuf *v, unsigned q, uint16_t num, unsigned r)
{
	return vuf_vq_alloc_aligned(v, q, num, r, 0);
}

int
vuf_vq_alloc_aligned(struct vuf *v, unsigned q, uint16_t num, unsigned r,
    uint64_t align)
{
	struct vuf_vq *vq;
	uint16_t i;

	if (q >= VUF_MAX_QUEUES || num == 0 || (num & (num - 1)) != 0 ||
	    v->vq[q].ready || (align & (align - 1)) != 0) {
		vuf_err(v, EINVAL, "queue %u of %u entries", q, num);
		return -1;
	}
	vq = &v->vq[q];
	vq->num = num;
	/* Each part at least at its natural alignment (VIRTIO 1.x 2.7). */
	vq->desc_gpa = vuf_alloc(v, r, 16 * (uint64_t)num,
	    align > 16 ? align : 16);
	vq->avail_gpa = vuf_alloc(v, r, 6 + 2 * (uint64_t)num,
	    align > 2 ? align : 2);
	vq->used_gpa = vuf_alloc(v, r, 6 + 8 * (uint64_t)num,
	    align > 4 ? align : 4);
	if (vq->desc_gpa == VUF_BAD_GPA || vq->avail_gpa == VUF_BAD_GPA ||
	    vq->used_gpa == VUF_BAD_GPA)
		return -1;
	vq->desc = vuf_gpa_to_host(v, vq->desc_gpa, 16 * (uint64_t)num);
	vq->avail = vuf_gpa_to_host(v, vq->avail_gpa, 6 + 2 * (uint64_t)num);
	vq->used = vuf_gpa_to_host(v, vq->used_gpa, 6 + 8 * (uint64_t)num);
	if ((vq->chain_len = calloc(num, sizeof(uint16_t))) == NULL) {
		vuf_err(v, errno, "calloc");
		return -1;
	}
	for (i = 0; i < num; i++)
		vq->desc[i].next = (uint16_t)(i + 1);
	vq->free_head = 0;
	vq->num_free = num;
	vq->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	vq->call_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	vq->err_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (vq->kick_fd == -1 || vq->call_fd == -1 || vq->err_fd == -1) {
		vuf_err(v, errno, "eventfd");
		return -1;
	}
	vq->ready = true;
	return 0;
}

static int
vring_state(struct vuf *v, uint32_t request, unsigned q, uint32_t num)
{
	struct vuf_vring_state s = { q, num };

	return vuf_request(v, request, &s, sizeof(s), NULL, 0, NULL);
}

int
vuf_set_vring_num(struct vuf *v, unsigned q, uint32_t num)
{
	return vring_state(v, VUF_SET_VRING_NUM, q, num);
}

int
vuf_set_vring_base(struct vuf *v, unsigned q, uint32_t base)
{
	return vring_state(v, VUF_SET_VRING_BASE, q, base);
}

int
vuf_set_vring_enable(struct vuf *v, unsigned q, bool enable)
{
	return vring_state(v, VUF_SET_VRING_ENABLE, q, enable ? 1 : 0);
}

int
vuf_get_vring_base(struct vuf *v, unsigned q, uint32_t *base)
{
	struct vuf_vring_state s = { q, 0 };
	struct vuf_msg m;

	if (vuf_request(v, VUF_GET_VRING_BASE, &s, sizeof(s), NULL, 0,
	    &m) == -1)
		return -1;
	close_fds(m.fds, m.nfds);
	if (m.hdr.size != sizeof(s)) {
		vuf_err(v, EPROTO, "GET_VRING_BASE reply of %u bytes",
		    m.hdr.size);
		return -1;
	}
	memcpy(&s, m.payload.bytes, sizeof(s));
	if (s.index != q) {
		vuf_err(v, EPROTO, "GET_VRING_BASE reply for queue %u, not %u",
		    s.index, q);
		return -1;
	}
	*base = s.num;
	return 0;
}

int
vuf_set_vring_addr(struct vuf *v, unsigned q)
{
	struct vuf_vring_addr a;
	struct vuf_vq *vq;

	if ((vq = get_vq(v, q)) == NULL)
		return -1;
	memset(&a, 0, sizeof(a));
	a.index = q;
	a.desc_uva = (uint64_t)(uintptr_t)vq->desc;
	a.used_uva = (uint64_t)(uintptr_t)vq->used;
	a.avail_uva = (uint64_t)(uintptr_t)vq->avail;
	return vuf_request(v, VUF_SET_VRING_ADDR, &a, sizeof(a), NULL, 0,
	    NULL);
}

int
vuf_set_vring_fd(struct vuf *v, uint32_t request, unsigned q, int fd)
{
	uint64_t u = q & VUF_VRING_IDX_MASK;

	if (fd == -1) {
		u |= VUF_VRING_NOFD;
		return vuf_request(v, request, &u, sizeof(u), NULL, 0, NULL);
	}
	return vuf_request(v, request, &u, sizeof(u), &fd, 1, NULL);
}

int
vuf_vq_start(struct vuf *v, unsigned q)
{
	struct vuf_vq *vq;

	if ((vq = get_vq(v, q)) == NULL)
		return -1;
	if (vuf_set_vring_num(v, q, vq->num) == -1 ||
	    vuf_set_vring_base(v, q, vq->avail_idx) == -1 ||
	    vuf_set_vring_addr(v, q) == -1 ||
	    vuf_set_vring_fd(v, VUF_SET_VRING_KICK, q, vq->kick_fd) == -1 ||
	    vuf_set_vring_fd(v, VUF_SET_VRING_CALL, q, vq->call_fd) == -1 ||
	    vuf_set_vring_fd(v, VUF_SET_VRING_ERR, q, vq->err_fd) == -1)
		return -1;
	if ((v->features >> VUF_F_PROTOCOL_FEATURES) & 1)
		return vuf_set_vring_enable(v, q, true);
	return 0;
}

int
vuf_setup(struct vuf *v, unsigned nqueues, uint16_t qsize)
{
	return vuf_setup_with(v, ~0ULL, ~0ULL, nqueues, qsize);
}

int
vuf_setup_with(struct vuf *v, uint64_t want, uint64_t want_protocol,
    unsigned nqueues, uint16_t qsize)
{
	unsigned q;

	if (vuf_negotiate(v, want, want_protocol) == -1 ||
	    vuf_mem_default(v) == -1 ||
	    vuf_set_mem_table(v) == -1)
		return -1;
	for (q = 0; q < nqueues; q++)
		if (vuf_vq_alloc(v, q, qsize, 1) == -1 ||
		    vuf_vq_start(v, q) == -1)
			return -1;
	if ((v->protocol_features >> VUF_PF_STATUS) & 1)
		return vuf_set_status(v, VUF_S_ACKNOWLEDGE | VUF_S_DRIVER |
		    VUF_S_FEATURES_OK | VUF_S_DRIVER_OK);
	return 0;
}

/* The used_event slot, after the avail ring (EVENT_IDX). */
static volatile uint16_t *
used_event(struct vuf_vq *vq)
{
	return &vq->avail->ring[vq->num];
}

int
vuf_vq_add(struct vuf *v, unsigned q, const struct vuf_seg *segs,
    unsigned n)
{
	struct vuf_vq *vq;
	uint16_t head, i, last = 0;
	unsigned k;

	if ((vq = get_vq(v, q)) == NULL)
		return -1;
	if (n == 0 || n > vq->num_free) {
		vuf_err(v, ENOSPC, "queue %u: %u descriptors wanted, %u free",
		    q, n, vq->num_free);
		return -1;
	}
	head = i = vq->free_head;
	for (k = 0; k < n; k++) {
		last = i;
		vq->desc[i].addr = segs[k].gpa;
		vq->desc[i].len = segs[k].len;
		vq->desc[i].flags = (uint16_t)((segs[k].writable ?
		    VRING_DESC_F_WRITE : 0) | (k + 1 < n ? VRING_DESC_F_NEXT :
		    0));
		i = vq->desc[i].next;
	}
	/* desc[last].next stays the rest of the free list. */
	vq->free_head = vq->desc[last].next;
	vq->num_free = (uint16_t)(vq->num_free - n);
	vq->chain_len[head] = (uint16_t)n;

	vq->avail->ring[vq->avail_idx & (vq->num - 1)] = head;
	if (v->event_idx)
		*used_event(vq) = vq->last_used;
	vq->avail_idx++;
	/* Descriptors and ring entry before the index the device reads. */
	__atomic_store_n(&vq->avail->idx, vq->avail_idx, __ATOMIC_RELEASE);
	return head;
}

int
vuf_kick(struct vuf *v, unsigned q)
{
	struct vuf_vq *vq;
	uint64_t one = 1;

	if ((vq = get_vq(v, q)) == NULL)
		return -1;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (write(vq->kick_fd, &one, sizeof(one)) != sizeof(one)) {
		vuf_err(v, errno, "kick");
		return -1;
	}
	return 0;
}

int
vuf_wait_call(struct vuf *v, unsigned q, int timeout_ms)
{
	struct vuf_vq *vq;
	struct pollfd pfd;
	uint64_t cnt;
	int r;

	if ((vq = get_vq(v, q)) == NULL)
		return -1;
	pfd.fd = vq->call_fd;
	pfd.events = POLLIN;
	do
		r = poll(&pfd, 1, timeout_ms);
	while (r == -1 && errno == EINTR);
	if (r == -1) {
		vuf_err(v, errno, "poll");
		return -1;
	}
	if (r == 0)
		return 0;
	if (read(vq->call_fd, &cnt, sizeof(cnt)) == -1 && errno != EAGAIN) {
		vuf_err(v, errno, "read call eventfd");
		return -1;
	}
	return 1;
}

int
vuf_vq_harvest(struct vuf *v, unsigned q, uint32_t *head, uint32_t *len)
{
	struct vring_used_elem e;
	struct vuf_vq *vq;
	uint16_t idx, i, k, n;

	if ((vq = get_vq(v, q)) == NULL)
		return -1;
	idx = __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE);
	if (idx == vq->last_used)
		return 0;
	if ((uint16_t)(idx - vq->last_used) > vq->num) {
		vuf_err(v, EPROTO, "queue %u: used idx %u, last seen %u", q,
		    idx, vq->last_used);
		return -1;
	}
	e = vq->used->ring[vq->last_used & (vq->num - 1)];
	if (e.id >= vq->num || vq->chain_len[e.id] == 0) {
		vuf_err(v, EPROTO, "queue %u: used id %u is not in flight", q,
		    e.id);
		return -1;
	}
	vq->last_used++;
	/* Give the chain back to the free list. */
	n = vq->chain_len[e.id];
	for (i = (uint16_t)e.id, k = 1; k < n; k++)
		i = vq->desc[i].next;
	vq->desc[i].next = vq->free_head;
	vq->free_head = (uint16_t)e.id;
	vq->num_free = (uint16_t)(vq->num_free + n);
	vq->chain_len[e.id] = 0;
	*head = e.id;
	*len = e.len;
	return 1;
}

int
vuf_vq_wait_used(struct vuf *v, unsigned q, uint32_t *head, uint32_t *len,
    int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	struct vuf_vq *vq;
	int r;

	if ((vq = get_vq(v, q)) == NULL)
		return -1;
	for (;;) {
		if (v->event_idx) {
			/* Ask for a call at the very next used entry. */
			*used_event(vq) = vq->last_used;
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
		}
		if ((r = vuf_vq_harvest(v, q, head, len)) != 0)
			return r;
		if ((r = vuf_wait_call(v, q, left_ms(deadline))) != 1) {
			if (r == 0) {
				/* One last look: a call may be missing. */
				if ((r = vuf_vq_harvest(v, q, head, len)) != 0)
					return r;
				vuf_err(v, ETIMEDOUT, "queue %u: nothing used "
				    "in %d ms", q, timeout_ms);
			}
			return r;
		}
	}
}

unsigned
vuf_vq_inflight(const struct vuf *v, unsigned q)
{
	if (q >= VUF_MAX_QUEUES || !v->vq[q].ready)
		return 0;
	return (uint16_t)(v->vq[q].avail_idx - v->vq[q].last_used);
}

void
vuf_gather(struct vuf *v, const struct vuf_seg *segs, unsigned n, void *out,
    size_t len)
{
	uint8_t *o = out, *p;
	size_t c;
	unsigned k;

	for (k = 0; k < n && len > 0; k++) {
		c = segs[k].len < len ? segs[k].len : len;
		p = vuf_gpa_to_host(v, segs[k].gpa, c);
		if (p == NULL) {
			/* One descriptor across two regions: byte by byte. */
			size_t i;

			for (i = 0; i < c; i++) {
				uint8_t *b = vuf_gpa_to_host(v,
				    segs[k].gpa + i, 1);

				o[i] = b != NULL ? *b : 0;
			}
		} else
			memcpy(o, p, c);
		o += c;
		len -= c;
	}
}

static void
fill(struct vuf *v, const struct vuf_seg *segs, unsigned n, int c)
{
	unsigned k;
	uint64_t i;

	for (k = 0; k < n; k++)
		for (i = 0; i < segs[k].len; i++) {
			uint8_t *b = vuf_gpa_to_host(v, segs[k].gpa + i, 1);

			if (b != NULL)
				*b = (uint8_t)c;
		}
}

/* Finds or makes the scratch buffer of `layout` for size bytes. */
static int
scratch(struct vuf *v, enum vuf_layout layout, size_t size,
    struct vuf_seg *segs, unsigned *n)
{
	uint64_t a, b, half = size / 2;
	size_t want = size;

	if (v->nregions < (layout == VUF_ONE ? 1u :
	    layout == VUF_CHAIN ? 2u : 3u)) {
		vuf_err(v, EINVAL, "layout %d needs more regions", layout);
		return -1;
	}
	if (v->scratch_size[layout] < size) {
		switch (layout) {
		case VUF_ONE:
			a = vuf_alloc(v, 0, size, 64);
			b = VUF_BAD_GPA;
			break;
		case VUF_CHAIN:
			/* Room for each half in region 0 and region 1 (a
			 * fresh one each time it grows). */
			a = vuf_alloc(v, 0, size, 64);
			b = vuf_alloc(v, 1, size, 64);
			if (a == VUF_BAD_GPA || b == VUF_BAD_GPA)
				return -1;
			break;
		case VUF_SPAN:
			/* The border is fixed: reserve room on both sides
			 * once, at least 64 KiB each. */
			if (v->scratch_size[layout] != 0 ||
			    v->region[1].gpa + v->region[1].size !=
			    v->region[2].gpa) {
				vuf_err(v, EINVAL, "no contiguous border for "
				    "%zu bytes", size);
				return -1;
			}
			if (size < 64 * 1024)
				size = 64 * 1024;
			a = vuf_alloc_top(v, 1, size);
			b = vuf_alloc(v, 2, size, 1);
			if (a == VUF_BAD_GPA || b == VUF_BAD_GPA)
				return -1;
			if (b != v->region[2].gpa) {
				vuf_err(v, ENOMEM, "region 2 already used");
				return -1;
			}
			size *= 2;
			break;
		default:
			vuf_err(v, EINVAL, "layout %d", layout);
			return -1;
		}
		if (a == VUF_BAD_GPA)
			return -1;
		v->scratch[layout][0] = a;
		v->scratch[layout][1] = b;
		v->scratch_size[layout] = size;
	}
	size = want;
	a = v->scratch[layout][0];
	b = v->scratch[layout][1];
	*n = 0;
	switch (layout) {
	case VUF_ONE:
		segs[0] = (struct vuf_seg){ a, (uint32_t)size, true };
		*n = 1;
		break;
	case VUF_CHAIN:
		/* First half ends exactly at the end of its allocation. */
		segs[0] = (struct vuf_seg){ a + v->scratch_size[layout] - half,
		    (uint32_t)half, true };
		segs[1] = (struct vuf_seg){ b,
		    (uint32_t)(size - half), true };
		*n = 2;
		break;
	case VUF_SPAN:
		/* Centered on the border. */
		segs[0] = (struct vuf_seg){ v->region[2].gpa - half,
		    (uint32_t)size, true };
		*n = 1;
		break;
	}
	return 0;
}

ssize_t
vuf_read_writable(struct vuf *v, unsigned q, size_t size,
    enum vuf_layout layout, void *out, int timeout_ms)
{
	struct vuf_seg segs[2];
	uint32_t head, len;
	unsigned n;
	int h, r;

	if (size == 0 || size > UINT32_MAX) {
		vuf_err(v, EINVAL, "buffer of %zu bytes", size);
		return -1;
	}
	if (scratch(v, layout, size, segs, &n) == -1)
		return -1;
	fill(v, segs, n, 0xa5);
	if ((h = vuf_vq_add(v, q, segs, n)) == -1 || vuf_kick(v, q) == -1)
		return -1;
	r = vuf_vq_wait_used(v, q, &head, &len, timeout_ms);
	if (r != 1)
		return -1;
	if (head != (uint32_t)h) {
		vuf_err(v, EPROTO, "queue %u: used head %u, expected %d", q,
		    head, h);
		return -1;
	}
	vuf_gather(v, segs, n, out, len < size ? len : size);
	return (ssize_t)len;
}

void
vuf_vsock_hdr_put(uint8_t *p, const struct vuf_vsock_hdr *h)
{
	struct vuf_vsock_hdr le = *h;

	le.src_cid = htole64(h->src_cid);
	le.dst_cid = htole64(h->dst_cid);
	le.src_port = htole32(h->src_port);
	le.dst_port = htole32(h->dst_port);
	le.len = htole32(h->len);
	le.type = htole16(h->type);
	le.op = htole16(h->op);
	le.flags = htole32(h->flags);
	le.buf_alloc = htole32(h->buf_alloc);
	le.fwd_cnt = htole32(h->fwd_cnt);
	memcpy(p, &le, VUF_VSOCK_HDR);
}

void
vuf_vsock_hdr_get(struct vuf_vsock_hdr *h, const uint8_t *p)
{
	memcpy(h, p, VUF_VSOCK_HDR);
	h->src_cid = le64toh(h->src_cid);
	h->dst_cid = le64toh(h->dst_cid);
	h->src_port = le32toh(h->src_port);
	h->dst_port = le32toh(h->dst_port);
	h->len = le32toh(h->len);
	h->type = le16toh(h->type);
	h->op = le16toh(h->op);
	h->flags = le32toh(h->flags);
	h->buf_alloc = le32toh(h->buf_alloc);
	h->fwd_cnt = le32toh(h->fwd_cnt);
}
