/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The wire protocol of the vsock end-to-end test (tests/e2e/vsock.sh),
 * shared by its two programs: vsocktest in the guests
 * (tests/e2e/guest/vsocktest.c, AF_VSOCK, built static) and vsockhost on
 * the host (tests/vsockhost.c, the UNIX sockets of vhostd's vsock device).
 * Their usage comments say what goes over the wire and what they print.
 * Every wait has a deadline, so a device that loses a packet gives an
 * error, not a hang.
 *
 * Static functions for one program: define PROTO_PROG (its name, for the
 * messages) and the feature macros (_GNU_SOURCE or config.h) first,
 * include this once, and define usage().  die() runs on_die, if set,
 * before it exits.
 */
#ifndef VSOCKPROTO_H
#define VSOCKPROTO_H

#ifndef PROTO_PROG
#error "define PROTO_PROG before including vsockproto.h"
#endif

#include <sys/socket.h>
#include <sys/uio.h>

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
#include <time.h>
#include <unistd.h>

#define MAXMSG		(256 * 1024)
#define MAXMSGS		64
#define CHUNK		65536
#define FNV_INIT	0xcbf29ce484222325ULL

enum { RX_HDR, RX_DATA, RX_GOT, RX_DONE };

/* The pattern: byte OFF of the stream of SEED depends on both, so a lost,
 * repeated or reordered chunk shows as a mismatch at its offset. */
struct pattern {
	uint64_t	 seed;
	uint64_t	 word_index;
	uint64_t	 word;
};

struct xfer {
	/* out: "DATA n seed\n", n pattern bytes, "GOT ...\n" */
	uint64_t	 tx_n, tx_off, tx_hash;
	struct pattern	 tx_pat;
	int		 tx_hdr, tx_got;
	unsigned char	 obuf[CHUNK];
	size_t		 olen, ooff;
	/* in: the same from the peer */
	int		 rx_state;
	char		 line[128];
	size_t		 linelen;
	uint64_t	 rx_n, rx_seed, rx_off, rx_hash, rx_bad, rx_first_bad;
	struct pattern	 rx_pat;
	uint64_t	 got_n, got_hash, got_bad;
};

static const char *rx_state_name[] = { "header", "data", "got-line", "done" };

static unsigned		 opt_timeout_ms = 30000;
static unsigned		 opt_pause_ms;
static uint64_t		 opt_seed = 1;
static long long	 t_start, t_deadline;
static void		(*on_die)(void);

static void usage(void) __attribute__((__noreturn__));
static void die(int, const char *, ...)
    __attribute__((__format__(printf, 2, 3), __noreturn__));
static void xfer_fail(const struct xfer *, const char *, ...)
    __attribute__((__format__(printf, 2, 3), __noreturn__));

static void
die(int rc, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs(PROTO_PROG ": error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (on_die != NULL)
		on_die();
	exit(rc);
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(long long ms)
{
	struct timespec ts;

	if (ms <= 0)
		return;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Milliseconds left before the deadline, for poll (never negative). */
static int
left_ms(void)
{
	long long l = t_deadline - now_ms();

	return l < 0 ? 0 : l > INT_MAX ? INT_MAX : (int)l;
}

static unsigned long long
num_arg(const char *s, unsigned long long max, const char *what)
{
	unsigned long long v = 0;
	char *end = NULL;
	int bad = 1;

	if (isdigit((unsigned char)*s)) {
		errno = 0;
		v = strtoull(s, &end, 0);
		bad = errno != 0 || *end != '\0' || v > max;
	}
	if (bad)
		die(1, "bad %s '%s' (a number up to %llu)", what, s, max);
	return v;
}

/* Options -t MS, -p MS and -s SEED, as getopt gives them; -1 if c is
 * none of them. */
static int
proto_opt(int c, const char *arg)
{
	switch (c) {
	case 't':
		opt_timeout_ms = (unsigned)num_arg(arg, INT_MAX, "-t");
		return 0;
	case 'p':
		opt_pause_ms = (unsigned)num_arg(arg, INT_MAX, "-p");
		return 0;
	case 's':
		opt_seed = num_arg(arg, UINT64_MAX, "-s");
		return 0;
	}
	return -1;
}

/*
 * Once the options are read: takes the command off the arguments (usage()
 * if there is none), makes stdout line-buffered (for a host watching a
 * console), ignores SIGPIPE and starts the clock of -t.
 */
static const char *
proto_start(int *argc, char ***argv)
{
	const char *cmd;

	if (optind >= *argc)
		usage();
	cmd = (*argv)[optind++];
	*argc -= optind;
	*argv += optind;
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	t_start = now_ms();
	t_deadline = t_start + opt_timeout_ms;
	return cmd;
}

/* Waits until the deadline for events on fd. */
static void
wait_fd(int fd, short events, const char *what)
{
	struct pollfd p;
	int r;

	p.fd = fd;
	p.events = events;
	for (;;) {
		r = poll(&p, 1, left_ms());
		if (r > 0)
			return;
		if (r == 0)
			die(2, "timed out after %lld ms waiting for %s",
			    now_ms() - t_start, what);
		if (errno != EINTR)
			die(2, "poll: %s", strerror(errno));
	}
}

static void
set_nonblock(int fd)
{
	int fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		die(1, "fcntl O_NONBLOCK: %s", strerror(errno));
}

/* Accepts one connection on the listening socket lfd (peer address in
 * sa, if not NULL), waiting until the deadline; closes lfd. */
static int
accept_one(int lfd, struct sockaddr *sa, socklen_t *salen)
{
	int fd;

	set_nonblock(lfd);
	for (;;) {
		wait_fd(lfd, POLLIN, "a connection");
		if ((fd = accept4(lfd, sa, salen, SOCK_CLOEXEC)) != -1)
			break;
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			die(1, "accept: %s", strerror(errno));
	}
	close(lfd);
	return fd;
}

/* ---- the data: a pattern anyone can check, and FNV-1a 64 ---- */

static uint64_t
mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static void
pattern_init(struct pattern *p, uint64_t seed)
{
	p->seed = seed;
	p->word_index = UINT64_MAX;	/* no word yet */
}

static unsigned char
pattern_byte(struct pattern *p, uint64_t off)
{
	uint64_t wi = off >> 3;

	if (wi != p->word_index) {
		p->word_index = wi;
		p->word = mix64(p->seed * 0xd6e8feb86659fd93ULL ^ wi);
	}
	return (unsigned char)(p->word >> ((off & 7) * 8));
}

static uint64_t
fnv(uint64_t h, const unsigned char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* ---- stream: xfer ---- */

static void
xfer_fail(const struct xfer *x, const char *fmt, ...)
{
	va_list ap;
	char why[256];

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	die(2, "xfer: %s (after %lld ms: sent %" PRIu64 "/%" PRIu64
	    " bytes, receiving %s, received %" PRIu64 "/%" PRIu64 ")", why,
	    now_ms() - t_start, x->tx_off, x->tx_n,
	    rx_state_name[x->rx_state], x->rx_off, x->rx_n);
}

static void
xfer_fill(struct xfer *x)
{
	size_t start;

	if (x->ooff < x->olen)
		return;
	x->olen = x->ooff = 0;
	if (!x->tx_hdr) {
		x->olen = (size_t)snprintf((char *)x->obuf, sizeof(x->obuf),
		    "DATA %" PRIu64 " %" PRIu64 "\n", x->tx_n, x->tx_pat.seed);
		x->tx_hdr = 1;
	}
	start = x->olen;
	while (x->tx_off < x->tx_n && x->olen < sizeof(x->obuf))
		x->obuf[x->olen++] = pattern_byte(&x->tx_pat, x->tx_off++);
	x->tx_hash = fnv(x->tx_hash, x->obuf + start, x->olen - start);
	/* Our account of what came in, once all of it did and ours is out. */
	if (x->tx_off == x->tx_n && x->rx_state >= RX_GOT && !x->tx_got &&
	    x->olen + 80 <= sizeof(x->obuf)) {
		x->olen += (size_t)snprintf((char *)x->obuf + x->olen,
		    sizeof(x->obuf) - x->olen, "GOT %" PRIu64 " %016" PRIx64
		    " %" PRIu64 "\n", x->rx_off, x->rx_hash, x->rx_bad);
		x->tx_got = 1;
	}
}

static void
xfer_line(struct xfer *x)
{
	int end = -1;

	x->line[x->linelen] = '\0';
	if (x->rx_state == RX_HDR) {
		if (sscanf(x->line, "DATA %" SCNu64 " %" SCNu64 "%n",
		    &x->rx_n, &x->rx_seed, &end) != 2 ||
		    end != (int)x->linelen)
			xfer_fail(x, "bad header line '%s'", x->line);
		pattern_init(&x->rx_pat, x->rx_seed);
		x->rx_state = x->rx_n ? RX_DATA : RX_GOT;
	} else {
		if (sscanf(x->line, "GOT %" SCNu64 " %" SCNx64 " %" SCNu64 "%n",
		    &x->got_n, &x->got_hash, &x->got_bad, &end) != 3 ||
		    end != (int)x->linelen)
			xfer_fail(x, "bad GOT line '%s'", x->line);
		x->rx_state = RX_DONE;
	}
	x->linelen = 0;
}

static void
xfer_input(struct xfer *x, const unsigned char *p, size_t n)
{
	uint64_t i, k;

	while (n > 0) {
		if (x->rx_state == RX_DONE)
			xfer_fail(x, "%zu bytes after the peer's GOT line", n);
		if (x->rx_state == RX_DATA) {
			k = x->rx_n - x->rx_off;
			if (k > n)
				k = n;
			for (i = 0; i < k; i++)
				if (p[i] != pattern_byte(&x->rx_pat,
				    x->rx_off + i) && x->rx_bad++ == 0)
					x->rx_first_bad = x->rx_off + i;
			x->rx_hash = fnv(x->rx_hash, p, (size_t)k);
			x->rx_off += k;
			p += k;
			n -= (size_t)k;
			if (x->rx_off == x->rx_n)
				x->rx_state = RX_GOT;
			continue;
		}
		if (*p == '\n')
			xfer_line(x);
		else if (x->linelen >= sizeof(x->line) - 1)
			xfer_fail(x, "line too long from the peer");
		else
			x->line[x->linelen++] = (char)*p;
		p++;
		n--;
	}
}

static int
do_xfer(int fd, uint64_t n)
{
	static struct xfer x;
	static unsigned char ibuf[CHUNK];
	struct pollfd p;
	long long t0 = now_ms(), pause_end = t0 + opt_pause_ms;
	ssize_t r;
	int ok, paused, timeout;

	x.tx_n = n;
	pattern_init(&x.tx_pat, opt_seed);
	x.tx_hash = x.rx_hash = FNV_INIT;
	set_nonblock(fd);
	for (;;) {
		xfer_fill(&x);
		if (x.ooff == x.olen && x.tx_got && x.rx_state == RX_DONE)
			break;
		paused = now_ms() < pause_end;
		p.fd = fd;
		p.events = 0;
		if (x.ooff < x.olen)
			p.events |= POLLOUT;
		if (!paused)
			p.events |= POLLIN;
		timeout = left_ms();
		if (paused && pause_end - now_ms() < timeout)
			timeout = (int)(pause_end - now_ms());
		r = poll(&p, 1, timeout);
		if (r == -1 && errno != EINTR)
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
			if (r == -1 && errno != EAGAIN && errno != EINTR)
				xfer_fail(&x, "read: %s", strerror(errno));
			if (r > 0)
				xfer_input(&x, ibuf, (size_t)r);
		}
		if ((p.revents & POLLOUT) && x.ooff < x.olen) {
			r = write(fd, x.obuf + x.ooff, x.olen - x.ooff);
			if (r == -1 && errno != EAGAIN && errno != EINTR)
				xfer_fail(&x, "write: %s", strerror(errno));
			if (r > 0)
				x.ooff += (size_t)r;
		}
	}
	printf("sent bytes=%" PRIu64 " seed=%" PRIu64 " hash=%016" PRIx64 "\n",
	    x.tx_n, x.tx_pat.seed, x.tx_hash);
	printf("received bytes=%" PRIu64 " seed=%" PRIu64 " hash=%016" PRIx64
	    " bad=%" PRIu64, x.rx_off, x.rx_seed, x.rx_hash, x.rx_bad);
	if (x.rx_bad)
		printf(" first-bad=%" PRIu64, x.rx_first_bad);
	printf("\npeer-got bytes=%" PRIu64 " hash=%016" PRIx64 " bad=%" PRIu64
	    "\n", x.got_n, x.got_hash, x.got_bad);
	ok = x.got_n == x.tx_n && x.got_hash == x.tx_hash && x.got_bad == 0 &&
	    x.rx_bad == 0;
	printf("xfer %s sent=%" PRIu64 " received=%" PRIu64 " ms=%lld\n",
	    ok ? "ok" : "mismatch", x.tx_n, x.rx_off, now_ms() - t0);
	return ok ? 0 : 2;
}

/* ---- seqpacket: msgs and echo ---- */

static void
send_msg(int fd, const unsigned char *b, size_t n, const char *what)
{
	ssize_t r;

	for (;;) {
		r = send(fd, b, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (r >= 0)
			break;
		if (errno != EAGAIN && errno != EINTR && errno != ENOBUFS)
			die(2, "send %s (%zu bytes): %s", what, n,
			    strerror(errno));
		wait_fd(fd, POLLOUT, what);
	}
	if ((size_t)r != n)
		die(2, "send %s: %zd of %zu bytes went", what, r, n);
}

/* One message into b (MAXMSG + 1 bytes); its length, 0 at end of file. */
static size_t
recv_msg(int fd, unsigned char *b, const char *what)
{
	struct iovec iov;
	struct msghdr mh;
	ssize_t r;

	iov.iov_base = b;
	iov.iov_len = MAXMSG + 1;
	for (;;) {
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		r = recvmsg(fd, &mh, MSG_DONTWAIT);
		if (r >= 0)
			break;
		if (errno != EAGAIN && errno != EINTR)
			die(2, "recv %s: %s", what, strerror(errno));
		wait_fd(fd, POLLIN, what);
	}
	if (mh.msg_flags & MSG_TRUNC)
		die(2, "recv %s: message truncated (more than %d bytes)", what,
		    MAXMSG);
	return (size_t)r;
}

static void
fill_msg(unsigned char *b, size_t n, unsigned i)
{
	struct pattern p;
	size_t k;

	pattern_init(&p, opt_seed + i);
	for (k = 0; k < n; k++)
		b[k] = pattern_byte(&p, k);
}

static int
do_msgs(int fd, const char *list)
{
	static unsigned char sb[MAXMSG], rb[MAXMSG + 1];
	unsigned long long sizes[MAXMSGS];
	unsigned i, n = 0, good = 0;
	long long t0 = now_ms();
	char what[64], *l, *s, *save = NULL;
	size_t len;
	int ok;

	if ((l = strdup(list)) == NULL)
		die(1, "out of memory");
	for (s = strtok_r(l, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
		if (n == MAXMSGS)
			die(1, "at most %d messages", MAXMSGS);
		sizes[n] = num_arg(s, MAXMSG, "message size");
		if (sizes[n++] == 0)
			die(1, "message sizes start at 1");
	}
	free(l);
	if (n == 0)
		usage();
	for (i = 0; i < n; i++) {
		fill_msg(sb, sizes[i], i);
		snprintf(what, sizeof(what), "message %u", i);
		send_msg(fd, sb, sizes[i], what);
	}
	sleep_ms(opt_pause_ms);
	for (i = 0; i < n; i++) {
		snprintf(what, sizeof(what), "the echo of message %u", i);
		if ((len = recv_msg(fd, rb, what)) == 0)
			die(2, "the peer closed after %u of %u echoes", i, n);
		fill_msg(sb, sizes[i], i);
		ok = len == sizes[i] && memcmp(rb, sb, len) == 0;
		good += ok;
		printf("msg i=%u len=%llu echo-len=%zu %s\n", i, sizes[i], len,
		    ok ? "ok" : "bad");
	}
	printf("msgs %s n=%u ms=%lld\n", good == n ? "ok" : "mismatch", n,
	    now_ms() - t0);
	return good == n ? 0 : 2;
}

static int
do_echo(int fd)
{
	static unsigned char b[MAXMSG + 1];
	char sizes[MAXMSGS * 8] = "", what[64];
	size_t len, sl = 0;
	unsigned i;

	sleep_ms(opt_pause_ms);
	for (i = 0;; i++) {
		snprintf(what, sizeof(what), "message %u", i);
		if ((len = recv_msg(fd, b, what)) == 0)
			break;
		printf("echo i=%u len=%zu\n", i, len);
		if (sl + 16 < sizeof(sizes))
			sl += (size_t)snprintf(sizes + sl, sizeof(sizes) - sl,
			    "%s%zu", i ? "," : "", len);
		send_msg(fd, b, len, what);
	}
	printf("echo done msgs=%u sizes=%s\n", i, i ? sizes : "-");
	return 0;
}

/* After an xfer, the listening side waits for the peer's close. */
static int
wait_eof(int fd)
{
	unsigned char b[256];
	long long t0 = now_ms();
	ssize_t r;

	for (;;) {
		wait_fd(fd, POLLIN, "the peer to close");
		if ((r = read(fd, b, sizeof(b))) == 0)
			break;
		if (r > 0)
			die(2, "%zd bytes after the exchange, expected the "
			    "peer's close", r);
		if (errno == ECONNRESET)
			break;
		if (errno != EAGAIN && errno != EINTR)
			die(2, "read, waiting for the peer to close: %s",
			    strerror(errno));
	}
	printf("eof ms=%lld%s\n", now_ms() - t0, r != 0 ? " reset" : "");
	return 0;
}

/* ---- commands ---- */

static int
sock_type(const char *s)
{
	if (strcmp(s, "stream") == 0)
		return SOCK_STREAM;
	if (strcmp(s, "seqpacket") == 0)
		return SOCK_SEQPACKET;
	usage();
}

/* ACTION [ARG] for a socket of TYPE: checked before the connection is
 * made, run once it is. */
static void
check_action(int type, int argc, char **argv)
{
	if (!((argc == 2 && type == SOCK_STREAM &&
	    strcmp(argv[0], "xfer") == 0) ||
	    (argc == 2 && type == SOCK_SEQPACKET &&
	    strcmp(argv[0], "msgs") == 0) ||
	    (argc == 1 && type == SOCK_SEQPACKET &&
	    strcmp(argv[0], "echo") == 0)))
		usage();
}

/*
 * Runs the ACTION of argv on the connected fd of TYPE, then closes it;
 * the listening side (listener) waits for the peer's close after a
 * stream exchange that went well.  Returns the exit status.
 */
static int
run_action(int fd, int type, char **argv, int listener)
{
	int rc;

	if (strcmp(argv[0], "xfer") == 0)
		rc = do_xfer(fd, num_arg(argv[1], UINT64_MAX / 2,
		    "byte count"));
	else if (strcmp(argv[0], "msgs") == 0)
		rc = do_msgs(fd, argv[1]);
	else
		rc = do_echo(fd);
	if (rc == 0 && listener && type == SOCK_STREAM)
		rc = wait_eof(fd);
	close(fd);
	return rc;
}

#endif /* VSOCKPROTO_H */
