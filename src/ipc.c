/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Framing of main <-> worker messages (see ipc.h).  Security model: each
 * side treats the other as able to send anything.  A worker may be
 * compromised by its guest, so main checks every message's type, exact
 * size and fd count before looking at a field, and closes every fd it did
 * not expect.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ipc.h"

static const struct {
	const char	*name;
	size_t		 size;
} ipc_types[IPC_TYPE_MAX] = {
	[IPC_HELLO] =		{ "HELLO", sizeof(struct ipc_hello) },
	[IPC_INIT] =		{ "INIT", sizeof(struct ipc_init) },
	[IPC_FEATURES] =	{ "FEATURES", sizeof(struct ipc_features) },
	[IPC_MEM_TABLE] =	{ "MEM_TABLE", sizeof(struct ipc_mem_table) },
	[IPC_VRING_START] =	{ "VRING_START", sizeof(struct ipc_vring_start) },
	[IPC_VRING_FD] =	{ "VRING_FD", sizeof(struct ipc_vring_fd) },
	[IPC_VRING_ENABLE] =	{ "VRING_ENABLE", sizeof(struct ipc_vring_ctl) },
	[IPC_VRING_STOP] =	{ "VRING_STOP", sizeof(struct ipc_vring_ctl) },
	[IPC_VRING_BASE] =	{ "VRING_BASE", sizeof(struct ipc_vring_ctl) },
	[IPC_RESET] =		{ "RESET", sizeof(struct ipc_reset) },
	[IPC_LOG] =		{ "LOG", sizeof(struct ipc_log) },
	[IPC_SECCOMP] =		{ "SECCOMP", sizeof(struct ipc_seccomp) },
	[IPC_DEV] =		{ "DEV", sizeof(struct ipc_dev) },
	[IPC_STATS_REQ] =	{ "STATS_REQ", sizeof(struct ipc_stats_req) },
	[IPC_STATS] =		{ "STATS", sizeof(struct ipc_stats) },
	[IPC_LOG_LEVEL] =	{ "LOG_LEVEL", sizeof(struct ipc_log_level) },
};

const char *
ipc_type_name(uint32_t type)
{
	if (type >= IPC_TYPE_MAX || ipc_types[type].name == NULL)
		return "unknown";
	return ipc_types[type].name;
}

unsigned
ipc_msg_nfds(const union ipc_msg *m)
{
	switch (m->type) {
	case IPC_INIT:
		if (m->init.n_host_fds > DEV_MAX_HOST_FDS)
			return IPC_MAX_FDS + 1;		/* never matches */
		return m->init.n_host_fds + (m->init.inflight_size != 0);
	case IPC_MEM_TABLE:
		return m->mem.nregions;
	case IPC_VRING_START:
		return (unsigned)__builtin_popcount(m->start.flags &
		    (IPC_VRING_HAS_KICK | IPC_VRING_HAS_CALL |
		    IPC_VRING_HAS_ERR));
	case IPC_VRING_FD:
		return m->vfd.has_fd;
	case IPC_DEV:
		return m->dev.has_fd;
	default:
		return 0;
	}
}

int
ipc_send(int sock, const void *msg, size_t len, const int *fds,
    unsigned nfds, int flags)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * IPC_MAX_FDS)];
	} cbuf;
	struct iovec iov = { .iov_base = (void *)msg, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;
	ssize_t n;

	if (nfds > IPC_MAX_FDS) {
		errno = EINVAL;
		return -1;
	}
	if (nfds > 0) {
		memset(&cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL | flags);
	while (n == -1 && errno == EINTR);
	if (n == -1)
		return -1;
	if ((size_t)n != len) {
		errno = EMSGSIZE;
		return -1;
	}
	return 0;
}

static void
close_all(int *fds, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		close(fds[i]);
}

int
ipc_recv(int sock, union ipc_msg *m, int fds[IPC_MAX_FDS], unsigned *nfds,
    const char **why)
{
	union {
		struct cmsghdr	hdr;
		/* Room for more than we accept, to see a sender's excess. */
		char		buf[CMSG_SPACE(sizeof(int) * (IPC_MAX_FDS + 8))];
	} cbuf;
	struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf.buf, .msg_controllen = sizeof(cbuf.buf),
	};
	struct cmsghdr *c;
	int got[IPC_MAX_FDS + 8];
	unsigned ngot = 0, k, cnt;
	ssize_t n;

	*nfds = 0;
	*why = NULL;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	while (n == -1 && errno == EINTR);
	if (n == -1)
		return -1;
	for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		cnt = (unsigned)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (k = 0; k < cnt; k++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + k * sizeof(int), sizeof(fd));
			if (ngot < sizeof(got) / sizeof(got[0]))
				got[ngot++] = fd;
			else
				close(fd);
		}
	}
	if (n == 0 && ngot == 0)
		return 0;
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		*why = "message or its fds truncated";
		goto bad;
	}
	if ((size_t)n < sizeof(uint32_t)) {
		*why = "message shorter than its type";
		goto bad;
	}
	if (m->type == 0 || m->type >= IPC_TYPE_MAX) {
		*why = "unknown message type";
		goto bad;
	}
	if ((size_t)n != ipc_types[m->type].size) {
		*why = "wrong size for its type";
		goto bad;
	}
	if (ngot != ipc_msg_nfds(m) || ngot > IPC_MAX_FDS) {
		*why = "wrong number of fds for its type";
		goto bad;
	}
	if (m->type == IPC_DEV && m->dev.msg.len > DEV_MSG_MAX) {
		*why = "device message longer than its buffer";
		goto bad;
	}
	memcpy(fds, got, sizeof(int) * ngot);
	*nfds = ngot;
	return 1;
bad:
	close_all(got, ngot);
	errno = EPROTO;
	return -1;
}
