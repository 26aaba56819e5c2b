// SPDX-License-Identifier: BSD-3-Clause
/*
 * vsocktest: a small AF_VSOCK client and server for the e2e guests, built
 * static by the test (e2e_static_cc) since the guest has no libc. Its
 * host-side twin is tests/vsockhost.c (the same wire protocol, from
 * tests/vsockproto.h, over the UNIX sockets vhostd's vsock device gives the
 * host); every wait has a deadline, so a device that loses a packet gives
 * an error, not a hang.
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
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <linux/vm_sockets.h>

/* The wire protocol, shared with tests/vsockhost.c. */
#define PROTO_PROG "vsocktest"
#include "../../vsockproto.h"

static unsigned opt_retry_ms;

static void usage(void)
{
	fputs("usage: vsocktest [-t MS] [-p MS] [-r MS] [-s SEED] COMMAND\n"
	      "commands: cid | connect CID PORT TYPE ACTION | listen PORT TYPE ACTION\n"
	      "TYPE: stream | seqpacket; ACTION: xfer N | msgs SIZE,... | echo\n", stderr);
	exit(1);
}

/* ---- commands -------------------------------------------------------- */

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
	return run_action(fd, type, argv + 3, 0);
}

static int cmd_listen(int argc, char **argv)
{
	struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY }, pa;
	socklen_t pl = sizeof(pa);
	int lfd, fd, type;

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
	printf("listening port=%u type=%s\n", a.svm_port, argv[1]);
	fflush(stdout);
	fd = accept_one(lfd, (struct sockaddr *)&pa, &pl);
	printf("accepted cid=%u port=%u\n", pa.svm_cid, pa.svm_port);
	return run_action(fd, type, argv + 2, 1);
}

int main(int argc, char **argv)
{
	const char *cmd;
	int c;

	while ((c = getopt(argc, argv, "+t:p:r:s:")) != -1) {
		if (c == 'r')
			opt_retry_ms = (unsigned)num_arg(optarg, INT_MAX, "-r");
		else if (proto_opt(c, optarg) == -1)
			usage();
	}
	cmd = proto_start(&argc, &argv);
	if (!strcmp(cmd, "cid"))
		return argc ? (usage(), 1) : cmd_cid();
	if (!strcmp(cmd, "connect"))
		return cmd_connect(argc, argv);
	if (!strcmp(cmd, "listen"))
		return cmd_listen(argc, argv);
	usage();
}
