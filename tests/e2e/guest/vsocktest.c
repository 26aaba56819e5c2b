// SPDX-License-Identifier: BSD-3-Clause
/*
 * vsocktest: a small AF_VSOCK client and server for the e2e guests, built
 * static by the test (e2e_static_cc) since the guest has no libc. Its
 * host-side twin is tests/vsockhost.c (the same wire protocol over the
 * UNIX sockets vhostd's vsock device gives the host); every wait has a
 * deadline, so a device that loses a packet gives an error, not a hang.
 *
 * Usage: vsocktest [OPTIONS] COMMAND [ARGS]
 *
 *   cid                        this guest's CID (IOCTL_VM_SOCKETS_GET_LOCAL_CID)
 *   connect CID PORT TYPE ACTION
 *                              connect to CID:PORT (2 is the host), then ACTION
 *   listen PORT TYPE ACTION    listen on PORT, accept one connection, ACTION,
 *                              then wait for the peer to close
 *
 *   TYPE is stream or seqpacket. ACTION:
 *   xfer N       (stream) send "DATA N SEED\n" and N pattern bytes, take the
 *                peer's DATA the same way (checking every byte against the
 *                pattern of the peer's seed), send "GOT BYTES HASH BAD\n"
 *                for what came in and read the peer's GOT for what went
 *                out. Both directions run at once (poll), so neither side's
 *                buffers can deadlock the exchange.
 *   msgs SIZES   (seqpacket) send one message per size (comma separated,
 *                1 to 262144), all of them first, then read each one back
 *                (the peer echoes) and compare length and bytes
 *   echo         (seqpacket) send every message back until the peer closes
 *
 * Options:
 *   -t MS      deadline for the whole command (default 30000)
 *   -p MS      after the connection is up, do not read for MS (a slow
 *              reader: the sender must be held back, and nothing lost)
 *   -r MS      connect: retry a refused/reset connect for up to MS (a
 *              listener that is not up yet); default 0, one try
 *   -s SEED    the seed of the pattern this side sends (default 1)
 *
 * Output (stdout, one record per line, key=value):
 *   cid=3
 *   listening port=6001 type=stream
 *   accepted cid=2 port=49152
 *   connected cid=2 port=5001 local-port=1024 tries=1
 *   connect-failed cid=2 port=5009 errno=104 (Connection reset by peer) tries=1
 *   sent bytes=N seed=S hash=H          (H: FNV-1a 64 of the bytes, hex)
 *   received bytes=N seed=S hash=H bad=0 [first-bad=OFFSET]
 *   peer-got bytes=N hash=H bad=0       (the peer's account of what we sent)
 *   xfer ok sent=N received=M ms=T      (or "xfer mismatch ...")
 *   msg i=0 len=1 echo-len=1 ok         (or "bad")
 *   msgs ok n=4 ms=T                    (or "msgs mismatch ...")
 *   echo i=0 len=1
 *   echo done msgs=4 sizes=1,100,4000,60000
 *   eof ms=T                            (listen: the peer's close arrived)
 * Failures are one line on stderr, "vsocktest: error: ...".
 *
 * Exit status: 0 success, 1 usage or setup error, 2 the exchange failed
 * (timeout, peer closed early, protocol error, data mismatch), 3 the
 * connection could not be made (connect failed; the exit says why).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <linux/vm_sockets.h>

#define MAXMSG (256 * 1024)
#define MAXMSGS 64
#define CHUNK 65536

static unsigned opt_timeout_ms = 30000;
static unsigned opt_pause_ms;
static unsigned opt_retry_ms;
static uint64_t opt_seed = 1;

static long long t_start, t_deadline;

static void die(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

static void die(int rc, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("vsocktest: error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(rc);
}

static void usage(void)
{
	fputs("usage: vsocktest [-t MS] [-p MS] [-r MS] [-s SEED] COMMAND\n"
	      "commands: cid | connect CID PORT TYPE ACTION | listen PORT TYPE ACTION\n"
	      "TYPE: stream | seqpacket; ACTION: xfer N | msgs SIZE,... | echo\n", stderr);
	exit(1);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long long ms)
{
	struct timespec ts;

	if (ms <= 0)
		return;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Milliseconds left before the deadline, for poll (never negative). */
static int left_ms(void)
{
	long long l = t_deadline - now_ms();

	return l < 0 ? 0 : l > INT_MAX ? INT_MAX : (int)l;
}

static int parse_num(const char *s, unsigned long long max, unsigned long long *v)
{
	char *end;

	if (!*s || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	*v = strtoull(s, &end, 0);
	return errno || *end || *v > max ? -1 : 0;
}

static unsigned long long num_arg(const char *s, unsigned long long max, const char *what)
{
	unsigned long long v;

	if (parse_num(s, max, &v))
		die(1, "bad %s '%s' (a number up to %llu)", what, s, max);
	return v;
}

/* Waits for events on fd until the deadline; the revents. */
static short wait_fd(int fd, short events, const char *what)
{
	struct pollfd p = { fd, events, 0 };
	int r;

	for (;;) {
		r = poll(&p, 1, left_ms());
		if (r > 0)
			return p.revents;
		if (r == 0)
			die(2, "timed out after %lld ms waiting for %s", now_ms() - t_start, what);
		if (errno != EINTR)
			die(2, "poll: %s", strerror(errno));
	}
}

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		die(1, "fcntl O_NONBLOCK: %s", strerror(errno));
}

/* ---- the data: a pattern anyone can check, and FNV-1a 64 ------------ */

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* Byte OFF of the stream of SEED: depends on both, so a lost, repeated
 * or reordered chunk shows as a mismatch at its offset. */
struct pattern {
	uint64_t seed, word_index, word;
};

static void pattern_init(struct pattern *p, uint64_t seed)
{
	p->seed = seed;
	p->word_index = UINT64_MAX; /* no word yet */
}

static unsigned char pattern_byte(struct pattern *p, uint64_t off)
{
	uint64_t wi = off >> 3;

	if (wi != p->word_index) {
		p->word_index = wi;
		p->word = mix64(p->seed * 0xd6e8feb86659fd93ULL ^ wi);
	}
	return (unsigned char)(p->word >> ((off & 7) * 8));
}

#define FNV_INIT 0xcbf29ce484222325ULL

static uint64_t fnv(uint64_t h, const unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* ---- stream: xfer ---------------------------------------------------- */

enum { RX_HDR, RX_DATA, RX_GOT, RX_DONE };
static const char *rx_state_name[] = { "header", "data", "got-line", "done" };

struct xfer {
	/* out: "DATA n seed\n", n pattern bytes, "GOT ...\n" */
	uint64_t tx_n, tx_off, tx_hash;
	struct pattern tx_pat;
	int tx_hdr, tx_got;
	unsigned char obuf[CHUNK];
	size_t olen, ooff;
	/* in: the same from the peer */
	int rx_state;
	char line[128];
	size_t linelen;
	uint64_t rx_n, rx_seed, rx_off, rx_hash, rx_bad, rx_first_bad;
	struct pattern rx_pat;
	uint64_t got_n, got_hash, got_bad;
};

static void xfer_fail(const struct xfer *x, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));

static void xfer_fail(const struct xfer *x, const char *fmt, ...)
{
	va_list ap;
	char why[256];

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	die(2, "xfer: %s (after %lld ms: sent %" PRIu64 "/%" PRIu64 " bytes, receiving %s, "
	    "received %" PRIu64 "/%" PRIu64 ")", why, now_ms() - t_start, x->tx_off, x->tx_n,
	    rx_state_name[x->rx_state], x->rx_off, x->rx_n);
}

static void xfer_fill(struct xfer *x)
{
	size_t start;

	if (x->ooff < x->olen)
		return;
	x->olen = x->ooff = 0;
	if (!x->tx_hdr) {
		x->olen = (size_t)snprintf((char *)x->obuf, sizeof(x->obuf), "DATA %" PRIu64
					   " %" PRIu64 "\n", x->tx_n, x->tx_pat.seed);
		x->tx_hdr = 1;
	}
	start = x->olen;
	while (x->tx_off < x->tx_n && x->olen < sizeof(x->obuf))
		x->obuf[x->olen++] = pattern_byte(&x->tx_pat, x->tx_off++);
	x->tx_hash = fnv(x->tx_hash, x->obuf + start, x->olen - start);
	/* Our account of what came in, once all of it did and ours is out. */
	if (x->tx_off == x->tx_n && x->rx_state >= RX_GOT && !x->tx_got &&
	    x->olen + 80 <= sizeof(x->obuf)) {
		x->olen += (size_t)snprintf((char *)x->obuf + x->olen, sizeof(x->obuf) - x->olen,
					    "GOT %" PRIu64 " %016" PRIx64 " %" PRIu64 "\n",
					    x->rx_off, x->rx_hash, x->rx_bad);
		x->tx_got = 1;
	}
}

static void xfer_line(struct xfer *x)
{
	int end = -1;

	x->line[x->linelen] = 0;
	if (x->rx_state == RX_HDR) {
		if (sscanf(x->line, "DATA %" SCNu64 " %" SCNu64 "%n", &x->rx_n, &x->rx_seed,
			   &end) != 2 || end != (int)x->linelen)
			xfer_fail(x, "bad header line '%s'", x->line);
		pattern_init(&x->rx_pat, x->rx_seed);
		x->rx_state = x->rx_n ? RX_DATA : RX_GOT;
	} else {
		if (sscanf(x->line, "GOT %" SCNu64 " %" SCNx64 " %" SCNu64 "%n", &x->got_n,
			   &x->got_hash, &x->got_bad, &end) != 3 || end != (int)x->linelen)
			xfer_fail(x, "bad GOT line '%s'", x->line);
		x->rx_state = RX_DONE;
	}
	x->linelen = 0;
}

static void xfer_input(struct xfer *x, const unsigned char *p, size_t n)
{
	while (n) {
		if (x->rx_state == RX_DONE)
			xfer_fail(x, "%zu bytes after the peer's GOT line", n);
		if (x->rx_state == RX_DATA) {
			uint64_t k = x->rx_n - x->rx_off;

			if (k > n)
				k = n;
			for (uint64_t i = 0; i < k; i++)
				if (p[i] != pattern_byte(&x->rx_pat, x->rx_off + i) && !x->rx_bad++)
					x->rx_first_bad = x->rx_off + i;
			x->rx_hash = fnv(x->rx_hash, p, (size_t)k);
			x->rx_off += k;
			p += k;
			n -= (size_t)k;
			if (x->rx_off == x->rx_n)
				x->rx_state = RX_GOT;
			continue;
		}
		if (*p == '\n') {
			xfer_line(x);
		} else {
			if (x->linelen >= sizeof(x->line) - 1)
				xfer_fail(x, "line too long from the peer");
			x->line[x->linelen++] = (char)*p;
		}
		p++;
		n--;
	}
}

static int do_xfer(int fd, uint64_t n)
{
	static struct xfer x;
	static unsigned char ibuf[CHUNK];
	long long t0 = now_ms(), pause_end = t0 + opt_pause_ms;
	ssize_t r;
	int ok;

	x.tx_n = n;
	pattern_init(&x.tx_pat, opt_seed);
	x.tx_hash = x.rx_hash = FNV_INIT;
	set_nonblock(fd);
	for (;;) {
		struct pollfd p = { fd, 0, 0 };
		int paused, timeout;

		xfer_fill(&x);
		if (x.ooff == x.olen && x.tx_got && x.rx_state == RX_DONE)
			break;
		paused = now_ms() < pause_end;
		if (x.ooff < x.olen)
			p.events |= POLLOUT;
		if (!paused)
			p.events |= POLLIN;
		timeout = left_ms();
		if (paused && pause_end - now_ms() < timeout)
			timeout = (int)(pause_end - now_ms());
		r = poll(&p, 1, timeout);
		if (r < 0 && errno != EINTR)
			die(2, "poll: %s", strerror(errno));
		if (r <= 0) {
			if (now_ms() >= t_deadline)
				xfer_fail(&x, "timed out");
			continue;
		}
		if ((p.revents & (POLLERR | POLLHUP)) && paused) {
			/* Not reading yet: the error waits for the reads. */
			sleep_ms(pause_end - now_ms());
			continue;
		}
		if (p.revents & (POLLIN | POLLERR | POLLHUP)) {
			r = read(fd, ibuf, sizeof(ibuf));
			if (r == 0)
				xfer_fail(&x, "the peer closed the connection");
			if (r < 0 && errno != EAGAIN && errno != EINTR)
				xfer_fail(&x, "read: %s", strerror(errno));
			if (r > 0)
				xfer_input(&x, ibuf, (size_t)r);
		}
		if ((p.revents & POLLOUT) && x.ooff < x.olen) {
			r = write(fd, x.obuf + x.ooff, x.olen - x.ooff);
			if (r < 0 && errno != EAGAIN && errno != EINTR)
				xfer_fail(&x, "write: %s", strerror(errno));
			if (r > 0)
				x.ooff += (size_t)r;
		}
	}
	printf("sent bytes=%" PRIu64 " seed=%" PRIu64 " hash=%016" PRIx64 "\n",
	       x.tx_n, x.tx_pat.seed, x.tx_hash);
	printf("received bytes=%" PRIu64 " seed=%" PRIu64 " hash=%016" PRIx64 " bad=%" PRIu64,
	       x.rx_off, x.rx_seed, x.rx_hash, x.rx_bad);
	if (x.rx_bad)
		printf(" first-bad=%" PRIu64, x.rx_first_bad);
	printf("\npeer-got bytes=%" PRIu64 " hash=%016" PRIx64 " bad=%" PRIu64 "\n",
	       x.got_n, x.got_hash, x.got_bad);
	ok = x.got_n == x.tx_n && x.got_hash == x.tx_hash && !x.got_bad && !x.rx_bad;
	printf("xfer %s sent=%" PRIu64 " received=%" PRIu64 " ms=%lld\n", ok ? "ok" : "mismatch",
	       x.tx_n, x.rx_off, now_ms() - t0);
	return ok ? 0 : 2;
}

/* ---- seqpacket: msgs and echo ---------------------------------------- */

static void send_msg(int fd, const unsigned char *b, size_t n, const char *what)
{
	ssize_t r;

	for (;;) {
		r = send(fd, b, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (r >= 0)
			break;
		if (errno != EAGAIN && errno != EINTR && errno != ENOBUFS)
			die(2, "send %s (%zu bytes): %s", what, n, strerror(errno));
		wait_fd(fd, POLLOUT, what);
	}
	if ((size_t)r != n)
		die(2, "send %s: %zd of %zu bytes went", what, r, n);
}

/* One message into b (MAXMSG + 1 bytes); its length, 0 at end of file. */
static size_t recv_msg(int fd, unsigned char *b, const char *what)
{
	struct iovec iov = { b, MAXMSG + 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t r;

	for (;;) {
		r = recvmsg(fd, &mh, MSG_DONTWAIT);
		if (r >= 0)
			break;
		if (errno != EAGAIN && errno != EINTR)
			die(2, "recv %s: %s", what, strerror(errno));
		wait_fd(fd, POLLIN, what);
	}
	if (mh.msg_flags & MSG_TRUNC)
		die(2, "recv %s: message truncated (more than %d bytes)", what, MAXMSG);
	return (size_t)r;
}

static void fill_msg(unsigned char *b, size_t n, unsigned i)
{
	struct pattern p;

	pattern_init(&p, opt_seed + i);
	for (size_t k = 0; k < n; k++)
		b[k] = pattern_byte(&p, k);
}

static int do_msgs(int fd, const char *list)
{
	static unsigned char sb[MAXMSG], rb[MAXMSG + 1];
	unsigned long long sizes[MAXMSGS];
	unsigned n = 0, good = 0;
	long long t0 = now_ms();
	char what[64], *l = strdup(list), *s, *save = NULL;

	if (!l)
		die(1, "out of memory");
	for (s = strtok_r(l, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
		if (n == MAXMSGS)
			die(1, "at most %d messages", MAXMSGS);
		sizes[n++] = num_arg(s, MAXMSG, "message size");
		if (!sizes[n - 1])
			die(1, "message sizes start at 1");
	}
	free(l);
	if (!n)
		usage();
	for (unsigned i = 0; i < n; i++) {
		fill_msg(sb, sizes[i], i);
		snprintf(what, sizeof(what), "message %u", i);
		send_msg(fd, sb, sizes[i], what);
	}
	sleep_ms(opt_pause_ms);
	for (unsigned i = 0; i < n; i++) {
		size_t len;
		int ok;

		snprintf(what, sizeof(what), "the echo of message %u", i);
		len = recv_msg(fd, rb, what);
		if (!len)
			die(2, "the peer closed after %u of %u echoes", i, n);
		fill_msg(sb, sizes[i], i);
		ok = len == sizes[i] && !memcmp(rb, sb, len);
		good += ok;
		printf("msg i=%u len=%llu echo-len=%zu %s\n", i, sizes[i], len, ok ? "ok" : "bad");
	}
	printf("msgs %s n=%u ms=%lld\n", good == n ? "ok" : "mismatch", n, now_ms() - t0);
	return good == n ? 0 : 2;
}

static int do_echo(int fd)
{
	static unsigned char b[MAXMSG + 1];
	char sizes[MAXMSGS * 8] = "", what[64];
	size_t len, sl = 0;
	unsigned i;

	sleep_ms(opt_pause_ms);
	for (i = 0;; i++) {
		snprintf(what, sizeof(what), "message %u", i);
		len = recv_msg(fd, b, what);
		if (!len)
			break;
		printf("echo i=%u len=%zu\n", i, len);
		if (sl + 16 < sizeof(sizes))
			sl += (size_t)snprintf(sizes + sl, sizeof(sizes) - sl, "%s%zu",
					       i ? "," : "", len);
		send_msg(fd, b, len, what);
	}
	printf("echo done msgs=%u sizes=%s\n", i, i ? sizes : "-");
	return 0;
}

/* After an xfer, the listening side waits for the peer's close. */
static int wait_eof(int fd)
{
	unsigned char b[256];
	long long t0 = now_ms();
	ssize_t r;

	for (;;) {
		wait_fd(fd, POLLIN, "the peer to close");
		r = read(fd, b, sizeof(b));
		if (r == 0)
			break;
		if (r > 0)
			die(2, "%zd bytes after the exchange, expected the peer's close", r);
		if (errno == ECONNRESET)
			break;
		if (errno != EAGAIN && errno != EINTR)
			die(2, "read, waiting for the peer to close: %s", strerror(errno));
	}
	printf("eof ms=%lld%s\n", now_ms() - t0, r ? " reset" : "");
	return 0;
}

/* ---- commands -------------------------------------------------------- */

static int sock_type(const char *s)
{
	if (!strcmp(s, "stream"))
		return SOCK_STREAM;
	if (!strcmp(s, "seqpacket"))
		return SOCK_SEQPACKET;
	usage();
	return -1;
}

/* ACTION [ARG] for a socket of TYPE: checked before the connection is
 * made, run once it is. */
static void check_action(int type, int argc, char **argv)
{
	if (!((argc == 2 && type == SOCK_STREAM && !strcmp(argv[0], "xfer")) ||
	      (argc == 2 && type == SOCK_SEQPACKET && !strcmp(argv[0], "msgs")) ||
	      (argc == 1 && type == SOCK_SEQPACKET && !strcmp(argv[0], "echo"))))
		usage();
}

static int run_action(int fd, char **argv)
{
	if (!strcmp(argv[0], "xfer"))
		return do_xfer(fd, num_arg(argv[1], UINT64_MAX / 2, "byte count"));
	if (!strcmp(argv[0], "msgs"))
		return do_msgs(fd, argv[1]);
	return do_echo(fd);
}

static int cmd_cid(void)
{
	unsigned cid;
	int fd = open("/dev/vsock", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		die(1, "/dev/vsock: %s (is vsock.ko loaded?)", strerror(errno));
	if (ioctl(fd, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &cid) < 0)
		die(1, "IOCTL_VM_SOCKETS_GET_LOCAL_CID: %s", strerror(errno));
	close(fd);
	printf("cid=%u\n", cid);
	return 0;
}

static int cmd_connect(int argc, char **argv)
{
	struct sockaddr_vm a = { .svm_family = AF_VSOCK }, la;
	socklen_t ll = sizeof(la);
	long long retry_end = now_ms() + opt_retry_ms;
	int fd, type, tries, e;

	if (argc < 4)
		usage();
	a.svm_cid = (unsigned)num_arg(argv[0], UINT_MAX, "CID");
	a.svm_port = (unsigned)num_arg(argv[1], UINT_MAX, "port");
	type = sock_type(argv[2]);
	check_action(type, argc - 3, argv + 3);
	for (tries = 1;; tries++) {
		struct timeval tv;
		long long l = left_ms();

		fd = socket(AF_VSOCK, type | SOCK_CLOEXEC, 0);
		if (fd < 0)
			die(1, "socket(AF_VSOCK, %s): %s", argv[2], strerror(errno));
		/* The kernel's default is 2 s; a slow TCG peer may need more,
		 * but never past our deadline. */
		if (l > 10000)
			l = 10000;
		tv.tv_sec = l / 1000;
		tv.tv_usec = (l % 1000) * 1000;
		if (setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, &tv, sizeof(tv)) < 0)
			die(1, "SO_VM_SOCKETS_CONNECT_TIMEOUT: %s", strerror(errno));
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
			break;
		e = errno;
		close(fd);
		if ((e == ECONNRESET || e == ECONNREFUSED) && now_ms() + 200 < retry_end &&
		    now_ms() + 200 < t_deadline) {
			sleep_ms(200);
			continue;
		}
		printf("connect-failed cid=%u port=%u errno=%d (%s) tries=%d\n", a.svm_cid,
		       a.svm_port, e, strerror(e), tries);
		return 3;
	}
	if (getsockname(fd, (struct sockaddr *)&la, &ll) < 0)
		die(1, "getsockname: %s", strerror(errno));
	printf("connected cid=%u port=%u local-port=%u tries=%d\n", a.svm_cid, a.svm_port,
	       la.svm_port, tries);
	e = run_action(fd, argv + 3);
	close(fd);
	return e;
}

static int cmd_listen(int argc, char **argv)
{
	struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY }, pa;
	socklen_t pl = sizeof(pa);
	int lfd, fd, type, rc;

	if (argc < 3)
		usage();
	a.svm_port = (unsigned)num_arg(argv[0], UINT_MAX, "port");
	type = sock_type(argv[1]);
	check_action(type, argc - 2, argv + 2);
	lfd = socket(AF_VSOCK, type | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		die(1, "socket(AF_VSOCK, %s): %s", argv[1], strerror(errno));
	if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0)
		die(1, "bind port %u: %s", a.svm_port, strerror(errno));
	if (listen(lfd, 4) < 0)
		die(1, "listen: %s", strerror(errno));
	set_nonblock(lfd);
	printf("listening port=%u type=%s\n", a.svm_port, argv[1]);
	fflush(stdout);
	for (;;) {
		wait_fd(lfd, POLLIN, "a connection");
		fd = accept4(lfd, (struct sockaddr *)&pa, &pl, SOCK_CLOEXEC);
		if (fd >= 0)
			break;
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			die(1, "accept: %s", strerror(errno));
	}
	close(lfd);
	printf("accepted cid=%u port=%u\n", pa.svm_cid, pa.svm_port);
	rc = run_action(fd, argv + 2);
	if (!rc && type == SOCK_STREAM)
		rc = wait_eof(fd);
	close(fd);
	return rc;
}

int main(int argc, char **argv)
{
	const char *cmd;
	int c;

	while ((c = getopt(argc, argv, "+t:p:r:s:")) != -1) {
		switch (c) {
		case 't':
			opt_timeout_ms = (unsigned)num_arg(optarg, INT_MAX, "-t");
			break;
		case 'p':
			opt_pause_ms = (unsigned)num_arg(optarg, INT_MAX, "-p");
			break;
		case 'r':
			opt_retry_ms = (unsigned)num_arg(optarg, INT_MAX, "-r");
			break;
		case 's':
			opt_seed = num_arg(optarg, UINT64_MAX, "-s");
			break;
		default:
			usage();
		}
	}
	if (optind >= argc)
		usage();
	cmd = argv[optind++];
	argc -= optind;
	argv += optind;
	/* Line by line, for a host watching the console. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	t_start = now_ms();
	t_deadline = t_start + opt_timeout_ms;

	if (!strcmp(cmd, "cid"))
		return argc ? (usage(), 1) : cmd_cid();
	if (!strcmp(cmd, "connect"))
		return cmd_connect(argc, argv);
	if (!strcmp(cmd, "listen"))
		return cmd_listen(argc, argv);
	usage();
	return 1;
}
