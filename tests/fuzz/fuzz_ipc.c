/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: the main<->worker message reader (src/ipc.c), ipc_recv on
 * arbitrary datagrams with arbitrary fds, as a compromised worker could
 * send them to main.
 *
 * Input: one byte saying which fds ride along (bits 0-2: how many, 0-3,
 * or 4-7: 40 of them, more than any message may carry; bit 3 an eventfd
 * instead of /dev/null), then the datagram itself (at most twice the
 * largest message; empty is a valid datagram).  ipc_recv must either
 * accept it (type, exact size and declared fd count all right, the fds
 * handed over) or refuse it with EPROTO and every fd closed: the count of
 * /proc/self/fd must be what it was before, plus the fds accepted.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ipc.h"
#include "fuzz.h"

#define FZ_MANY_FDS	40

static int sv[2];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int sz = 1 << 20;

	fz_quiet_logs("fuzz_ipc");
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1)
		abort();
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t dgram[2 * sizeof(union ipc_msg)];
	union {
		struct cmsghdr	c;
		char		buf[CMSG_SPACE(sizeof(int) * FZ_MANY_FDS)];
	} cb;
	struct iovec iov;
	struct msghdr mh;
	struct cmsghdr *c;
	union ipc_msg m;
	const char *why;
	int fds[FZ_MANY_FDS], got[IPC_MAX_FDS], before, rc;
	unsigned nfds, ngot, i;
	struct fz f;
	uint8_t sel;
	size_t len;

	fz_init(&f, data, size);
	sel = fz_u8(&f);
	nfds = (sel & 4) ? FZ_MANY_FDS : (sel & 3);
	len = f.left < sizeof(dgram) ? f.left : sizeof(dgram);
	fz_bytes(&f, dgram, len);

	for (i = 0; i < nfds; i++) {
		fds[i] = (sel & 8) ? eventfd(0, EFD_CLOEXEC) :
		    open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fds[i] == -1)
			abort();
	}
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = dgram;
	iov.iov_len = len;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (nfds) {
		memset(&cb, 0, sizeof(cb));
		mh.msg_control = cb.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	if (sendmsg(sv[0], &mh, MSG_DONTWAIT) != (ssize_t)len)
		abort();
	for (i = 0; i < nfds; i++)
		close(fds[i]);

	before = fz_count_fds();
	memset(&m, 0xee, sizeof(m));
	rc = ipc_recv(sv[1], &m, got, &ngot, &why);
	if (rc == 1) {
		if (ngot > IPC_MAX_FDS || ngot != ipc_msg_nfds(&m) ||
		    ngot != nfds || m.type == 0 || m.type >= IPC_TYPE_MAX ||
		    strcmp(ipc_type_name(m.type), "unknown") == 0 ||
		    fz_count_fds() != before + (int)ngot)
			abort();
		for (i = 0; i < ngot; i++)
			if (fcntl(got[i], F_GETFD) != FD_CLOEXEC)
				abort();
			else
				close(got[i]);
	} else if (rc == 0) {
		/* End of file: only for an empty datagram without fds. */
		if (len != 0 || nfds != 0 || ngot != 0)
			abort();
	} else {
		if (errno != EPROTO || why == NULL || ngot != 0)
			abort();
	}
	if (fz_count_fds() != before) {
		fprintf(stderr, "fuzz_ipc: %d fds open before, %d after "
		    "(rc %d)\n", before, fz_count_fds(), rc);
		abort();
	}
	/* Nothing may be left queued for the next input. */
	if (recv(sv[1], dgram, 1, MSG_DONTWAIT | MSG_PEEK) != -1 ||
	    errno != EAGAIN)
		abort();
	return 0;
}
