/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vsockhost: the host side of the vsock end-to-end test (tests/e2e/vsock.sh).
 * It speaks to guests through the UNIX sockets of vhostd's vsock device and
 * runs the same wire protocol as the guests' vsocktest
 * (tests/e2e/guest/vsocktest.c), from tests/vsockproto.h.  Plain C and
 * libc only; every wait has a deadline, so a device that loses a packet
 * gives an error, not a hang.
 *
 *	vsockhost [-t MS] [-p MS] [-s SEED] listen PATH TYPE ACTION
 *		bind and listen on the UNIX socket PATH (a guest's connect to
 *		the host's port P arrives on "<uds_path>_<P>"), made mode 0666
 *		so that vhostd's unprivileged user may connect; accept one
 *		connection (PATH is removed then), ACTION, then wait for the
 *		peer to close
 *	vsockhost [-t MS] [-p MS] [-s SEED] connect UDS PORT TYPE ACTION
 *		connect to the device's UDS (stream) or UDS.seqpacket, send
 *		"CONNECT PORT\n" (one message for seqpacket), expect
 *		"OK <hostport>\n", then ACTION
 *
 * TYPE is stream or seqpacket.  ACTION:
 *	xfer N		(stream) send "DATA N SEED\n" and N pattern bytes, take
 *			the peer's DATA the same way (every byte checked
 *			against the pattern of the peer's seed), send
 *			"GOT BYTES HASH BAD\n" for what came in and read the
 *			peer's GOT for what went out; both directions at once
 *	msgs SIZES	(seqpacket) send one message per size (comma
 *			separated, 1 to 262144), all first, then read each
 *			echo back and compare length and bytes
 *	echo		(seqpacket) send every message back until the close
 *
 * Options: -t MS deadline for everything (default 30000); -p MS do not
 * read for MS once connected (a slow reader); -s SEED the seed of the
 * pattern this side sends (default 1).
 *
 * Output (stdout, one record per line, key=value):
 *	listening path=P type=stream	accepted
 *	ok hostport=N			(the OK line of a connect)
 *	refused port=P			(closed with no OK: nobody listens)
 *	sent bytes=N seed=S hash=H	(H: FNV-1a 64 of the bytes, hex)
 *	received bytes=N seed=S hash=H bad=0 [first-bad=OFFSET]
 *	peer-got bytes=N hash=H bad=0	(the peer's account of what we sent)
 *	xfer ok sent=N received=M ms=T	(or "xfer mismatch ...")
 *	msg i=0 len=1 echo-len=1 ok	msgs ok n=4 ms=T
 *	echo i=0 len=1			echo done msgs=4 sizes=1,100,4000,60000
 *	eof ms=T			(listen: the peer's close arrived)
 * Failures are one line on stderr, "vsockhost: error: ...".
 *
 * Exit status: 0 success, 1 usage or setup error, 2 the exchange failed
 * (timeout, early close, protocol error, data mismatch), 3 refused.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROTO_PROG	"vsockhost"
#include "vsockproto.h"

static char		 listen_path[108];	/* sun_path */

static void
unlink_listen_path(void)
{
	if (listen_path[0] != '\0')
		unlink(listen_path);
}

static void
usage(void)
{
	fputs("usage: vsockhost [-t MS] [-p MS] [-s SEED] listen PATH TYPE "
	    "ACTION\n"
	    "       vsockhost [-t MS] [-p MS] [-s SEED] connect UDS PORT TYPE "
	    "ACTION\n"
	    "TYPE: stream | seqpacket; ACTION: xfer N | msgs SIZE,... | "
	    "echo\n", stderr);
	exit(1);
}

static void
set_path(struct sockaddr_un *sun, const char *path, const char *suffix)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if ((size_t)snprintf(sun->sun_path, sizeof(sun->sun_path), "%s%s",
	    path, suffix) >= sizeof(sun->sun_path))
		die(1, "socket path %s%s is too long", path, suffix);
}

/*
 * Reads vhostd's answer to CONNECT: "OK <hostport>\n", a byte at a time on
 * a stream (data may follow at once), one message on a seqpacket socket.
 * Returns the length read (0: closed without a word).
 */
static size_t
read_reply(int fd, int type, char *line, size_t size)
{
	size_t n = 0;
	ssize_t r;

	for (;;) {
		wait_fd(fd, POLLIN, "the answer to CONNECT");
		r = recv(fd, line + n, type == SOCK_STREAM ? 1 : size - 1 - n,
		    MSG_DONTWAIT);
		if (r == 0 || (r == -1 && errno == ECONNRESET))
			break;
		if (r == -1 && errno != EAGAIN && errno != EINTR)
			die(2, "reading the answer to CONNECT: %s",
			    strerror(errno));
		if (r > 0)
			n += (size_t)r;
		if (n > 0 && (type == SOCK_SEQPACKET || line[n - 1] == '\n' ||
		    n == size - 1))
			break;
	}
	line[n] = '\0';
	return n;
}

static int
cmd_connect(int argc, char **argv)
{
	struct sockaddr_un sun;
	char line[128];
	unsigned long long port, hport;
	size_t n;
	int fd, type, end = -1;

	if (argc < 4)
		usage();
	port = num_arg(argv[1], UINT_MAX, "port");
	type = sock_type(argv[2]);
	check_action(type, argc - 3, argv + 3);
	set_path(&sun, argv[0], type == SOCK_STREAM ? "" : ".seqpacket");
	if ((fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0)) == -1)
		die(1, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		die(1, "connect %s: %s", sun.sun_path, strerror(errno));
	n = (size_t)snprintf(line, sizeof(line), "CONNECT %llu\n", port);
	if (send(fd, line, n, MSG_NOSIGNAL) != (ssize_t)n)
		die(2, "sending CONNECT to %s: %s", sun.sun_path,
		    strerror(errno));
	if ((n = read_reply(fd, type, line, sizeof(line))) == 0) {
		printf("refused port=%llu\n", port);
		close(fd);
		return 3;
	}
	if (sscanf(line, "OK %llu%n", &hport, &end) != 1 ||
	    end != (int)n - 1 || line[n - 1] != '\n' || hport > UINT_MAX) {
		line[strcspn(line, "\n")] = '\0';
		die(2, "answer to CONNECT %llu: '%s' (%zu bytes), not "
		    "\"OK <port>\\n\"", port, line, n);
	}
	printf("ok hostport=%llu\n", hport);
	return run_action(fd, type, argv + 3, 0);
}

static int
cmd_listen(int argc, char **argv)
{
	struct sockaddr_un sun;
	int lfd, fd, type;

	if (argc < 3)
		usage();
	type = sock_type(argv[1]);
	check_action(type, argc - 2, argv + 2);
	set_path(&sun, argv[0], "");
	if ((lfd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0)) == -1)
		die(1, "socket: %s", strerror(errno));
	if (bind(lfd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		die(1, "bind %s: %s", sun.sun_path, strerror(errno));
	snprintf(listen_path, sizeof(listen_path), "%s", sun.sun_path);
	if (chmod(sun.sun_path, 0666) == -1)
		die(1, "chmod %s: %s", sun.sun_path, strerror(errno));
	if (listen(lfd, 4) == -1)
		die(1, "listen: %s", strerror(errno));
	printf("listening path=%s type=%s\n", sun.sun_path, argv[1]);
	fflush(stdout);
	fd = accept_one(lfd, NULL, NULL);
	unlink(listen_path);
	listen_path[0] = '\0';
	printf("accepted\n");
	return run_action(fd, type, argv + 2, 1);
}

int
main(int argc, char *argv[])
{
	const char *cmd;
	int c;

	on_die = unlink_listen_path;
	while ((c = getopt(argc, argv, "+t:p:s:")) != -1)
		if (proto_opt(c, optarg) == -1)
			usage();
	cmd = proto_start(&argc, &argv);
	if (strcmp(cmd, "connect") == 0)
		return cmd_connect(argc, argv);
	if (strcmp(cmd, "listen") == 0)
		return cmd_listen(argc, argv);
	usage();
}
