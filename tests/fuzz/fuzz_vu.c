/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: main's vhost-user protocol code (src/vu.c), fed a hostile
 * front-end's message stream through a socketpair, on an instance set up
 * as tests/test_vu.c's fe_setup does (an rng device, no worker).
 *
 * Input: a sequence of records, each
 *   ctl   1 byte: bits 0-1 how many fds ride on the record (0-3);
 *                 bits 2-7 two bits per fd, its kind: 0 memfd, 1 memfd,
 *                 2 eventfd, 3 /dev/null (not a memory file)
 *   opt   1 byte: bits 0-1 memfd size (4 KiB, 64 KiB, 1 MiB, 0 bytes);
 *                 bit 2 send the header and the payload in two writes
 *                 (the fds ride on the first); bit 3 the payload is
 *                 shorter than the header says (0-255 bytes fewer, from
 *                 the next byte);
 *   hdr   12 bytes: request, flags, size, as on the wire
 *   payload  min(size, 4200, what is left) bytes
 * Each record is written to the front-end's end, then vu_conn_readable
 * runs and the replies are read and dropped.  The stream ends when the
 * input does or main closes the connection.  Every input must leave the
 * process with the fds it had: the count of /proc/self/fd is compared at
 * the start and the end of each input, and growth aborts.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cfg.h"
#include "inst.h"
#include "vu_proto.h"
#include "fuzz.h"

#define FZ_PAYLOAD_CAP	(VU_PAYLOAD_MAX + 104)

extern const struct dev_ops rng_ops;

static struct event_base *base;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fz_quiet_logs("fuzz_vu");
	base = event_base_new();
	if (base == NULL)
		abort();
	return 0;
}

static int
make_fd(unsigned kind, unsigned sizesel)
{
	static const off_t sizes[] = { 4096, 65536, 1 << 20, 0 };
	int fd;

	switch (kind) {
	case 2:
		return eventfd(0, EFD_CLOEXEC);
	case 3:
		return open("/dev/null", O_RDWR | O_CLOEXEC);
	default:
		fd = memfd_create("fuzz-guest", MFD_CLOEXEC);
		if (fd != -1 && ftruncate(fd, sizes[sizesel & 3]) == -1)
			abort();
		return fd;
	}
}

static void
send_all(int sock, const void *buf, size_t len, const int *fds,
    unsigned nfds)
{
	union {
		struct cmsghdr	c;
		char		buf[CMSG_SPACE(sizeof(int) * 3)];
	} cb;
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;
	ssize_t n;

	if (len == 0)
		return;
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
	n = sendmsg(sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	/* The socket buffer is far larger than one record; main may have
	 * closed its end, which is fine. */
	if (n != (ssize_t)len && !(n == -1 && (errno == EPIPE ||
	    errno == ECONNRESET)))
		abort();
}

static void
drain(int sock)
{
	char buf[8192];

	while (recv(sock, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t rec[sizeof(struct vu_hdr) + FZ_PAYLOAD_CAP];
	struct fz f;
	struct dev_cfg dc;
	struct inst in;
	int sv[2], fds[3], before;
	unsigned nfds, i, records = 0;

	before = fz_count_fds();
	fz_init(&f, data, size);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		abort();
	memset(&dc, 0, sizeof(dc));
	memset(&in, 0, sizeof(in));
	dc.ops = &rng_ops;
	dc.mem_slots = true;
	strcpy(dc.id, "fuzz");
	in.cfg = &dc;
	in.ops = &rng_ops;
	in.id = "fuzz";
	in.base = base;
	in.rl = (struct log_ratelimit)LOG_RATELIMIT_INIT;
	in.wlog_rl = (struct log_ratelimit)LOG_RATELIMIT_INIT;
	in.listen_fd = in.wfd = -1;
	in.wpid = -1;
	vu_state_init(&in);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	in.conn_fd = sv[0];
	in.conn_ev = event_new(base, sv[0], EV_READ | EV_PERSIST,
	    vu_conn_readable, &in);
	if (in.conn_ev == NULL)
		abort();

	while (f.left > 0 && in.conn_fd != -1 && records++ < 256) {
		uint8_t ctl = fz_u8(&f), opt = fz_u8(&f), cut = 0;
		struct vu_hdr h;
		size_t plen;

		if (opt & 8)
			cut = fz_u8(&f);
		fz_bytes(&f, &h, sizeof(h));
		plen = h.size;
		if (plen > FZ_PAYLOAD_CAP)
			plen = FZ_PAYLOAD_CAP;
		if (plen > f.left)
			plen = f.left;
		memcpy(rec, &h, sizeof(h));
		fz_bytes(&f, rec + sizeof(h), plen);
		plen = cut < plen ? plen - cut : 0;

		nfds = ctl & 3;
		for (i = 0; i < nfds; i++)
			if ((fds[i] = make_fd((ctl >> (2 + 2 * i)) & 3,
			    opt & 3)) == -1)
				abort();
		if (opt & 4) {
			send_all(sv[1], rec, sizeof(h), fds, nfds);
			vu_conn_readable(sv[0], EV_READ, &in);
			drain(sv[1]);
			if (in.conn_fd != -1)
				send_all(sv[1], rec + sizeof(h), plen, NULL,
				    0);
		} else
			send_all(sv[1], rec, sizeof(h) + plen, fds, nfds);
		for (i = 0; i < nfds; i++)
			close(fds[i]);
		if (in.conn_fd != -1)
			vu_conn_readable(sv[0], EV_READ, &in);
		drain(sv[1]);
	}

	/* What main holds must be consistent with its bookkeeping. */
	if (in.nmem > MEMTAB_MAX_REGIONS)
		abort();
	for (i = 0; i < in.nmem; i++)
		if (in.mem_fd[i] < 0 || fcntl(in.mem_fd[i], F_GETFD) == -1)
			abort();

	inst_conn_close(&in, NULL);
	close(sv[1]);
	/* The front-end's end is gone: fds still in flight on it are freed
	 * with it, synchronously for a socketpair. */
	if (fz_count_fds() > before) {
		fprintf(stderr, "fuzz_vu: fd leak: %d open before, %d after\n",
		    before, fz_count_fds());
		abort();
	}
	return 0;
}
