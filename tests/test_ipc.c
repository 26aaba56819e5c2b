/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the main<->worker message framing (src/ipc.c): every
 * message must have a known type, exactly its type's size and exactly the
 * fds it declares; anything else is refused and its fds closed.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "ipc.h"
#include "log.h"

static int sv[2];

static int
setup(void **state)
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC,
	    0, sv), 0);
	return 0;
}

static int
teardown(void **state)
{
	close(sv[0]);
	close(sv[1]);
	return 0;
}

static int
lowest_free_fd(void)
{
	int fd = fcntl(0, F_DUPFD, 0);

	close(fd);
	return fd;
}

static void
test_roundtrip(void **state)
{
	struct ipc_vring_ctl c = { .type = IPC_VRING_BASE, .index = 0,
	    .value = 1234 };
	union ipc_msg m;
	int fds[IPC_MAX_FDS];
	unsigned nfds;
	const char *why;

	assert_int_equal(ipc_send(sv[0], &c, sizeof(c), NULL, 0, 0), 0);
	assert_int_equal(ipc_recv(sv[1], &m, fds, &nfds, &why), 1);
	assert_int_equal(m.type, IPC_VRING_BASE);
	assert_int_equal(m.ctl.value, 1234);
	assert_int_equal(nfds, 0);
	/* Nothing more: EAGAIN. */
	assert_int_equal(ipc_recv(sv[1], &m, fds, &nfds, &why), -1);
	assert_int_equal(errno, EAGAIN);
}

static void
test_fds_travel(void **state)
{
	struct ipc_vring_start s = { .type = IPC_VRING_START,
	    .flags = IPC_VRING_HAS_KICK | IPC_VRING_HAS_ERR };
	int e[2] = { eventfd(0, EFD_CLOEXEC), eventfd(0, EFD_CLOEXEC) };
	union ipc_msg m;
	int fds[IPC_MAX_FDS];
	unsigned nfds;
	const char *why;
	uint64_t v = 7;

	assert_int_equal(ipc_send(sv[0], &s, sizeof(s), e, 2, 0), 0);
	assert_int_equal(ipc_recv(sv[1], &m, fds, &nfds, &why), 1);
	assert_int_equal(nfds, 2);
	/* The received fds are the same eventfds. */
	assert_int_equal(write(fds[1], &v, 8), 8);
	assert_int_equal(read(e[1], &v, 8), 8);
	assert_int_equal(v, 7);
	close(fds[0]);
	close(fds[1]);
	close(e[0]);
	close(e[1]);
}

static void
test_wrong_size(void **state)
{
	struct ipc_vring_ctl c = { .type = IPC_VRING_BASE };
	union ipc_msg m;
	int fds[IPC_MAX_FDS];
	unsigned nfds;
	const char *why;

	assert_int_equal(send(sv[0], &c, sizeof(c) - 1, 0),
	    (ssize_t)sizeof(c) - 1);
	assert_int_equal(ipc_recv(sv[1], &m, fds, &nfds, &why), -1);
	assert_int_equal(errno, EPROTO);
	assert_string_equal(why, "wrong size for its type");
	assert_int_equal(send(sv[0], &m, sizeof(m), 0), (ssize_t)sizeof(m));
	assert_int_equal(ipc_recv(sv[1], &m, fds, &nfds, &why), -1);
	assert_int_equal(errno, EPROTO);
	/* Larger than any message: truncated. */
	{
		char big[sizeof(union ipc_msg) + 16];

		memset(big, 0, sizeof(big));
		big[0] = IPC_LOG;
		assert_int_equal(send(sv[0], big, sizeof(big), 0),
		    (ssize_t)sizeof(big));
		assert_int_equal(ipc_recv(sv[1], &m, fds, &nfds, &why), -1);
		assert_string_equal(why, "message or its fds truncated");
	}
	/* Shorter than the type field. */
	assert_int_equal(send(sv[0], "ab", 2, 0), 2);
	assert_int_equal(ipc_recv(sv[1], &m, fds, &nfds, &why), -1);
	assert_string_equal(why, "message shorter than its type");
}

static void
test_unknown_type(void **state)
{
	struct ipc_reset r = { .type = IPC_TYPE_MAX };
	union ipc_msg m;
	int fds[IPC_MAX_FDS];
	unsigned nfds;
	const char *why;

	assert_int_equal(send(sv[0], &r, sizeof(r), 0), (ssize_t)sizeof(r));
	assert_int_equal(ipc_recv(sv[1], &m, fds, &nfds, &why), -1);
	assert_string_equal(why, "unknown message type");
	r.type = 0;
	assert_int_equal(send(sv[0], &r, sizeof(r), 0), (ssize_t)sizeof(r));
	assert_int_equal(ipc_recv(sv[1], &m, fds, &nfds, &why), -1);
	assert_string_equal(why, "unknown message type");
}

static void
test_wrong_fd_count_closes_fds(void **state)
{
	struct ipc_vring_fd v = { .type = IPC_VRING_FD, .has_fd = 0 };
	union ipc_msg m;
	int fds[IPC_MAX_FDS];
	unsigned nfds;
	const char *why;
	int e = eventfd(0, EFD_CLOEXEC), before;

	before = lowest_free_fd();
	/* Declares no fd, carries one. */
	assert_int_equal(ipc_send(sv[0], &v, sizeof(v), &e, 1, 0), 0);
	assert_int_equal(ipc_recv(sv[1], &m, fds, &nfds, &why), -1);
	assert_string_equal(why, "wrong number of fds for its type");
	assert_int_equal(lowest_free_fd(), before);
	/* Declares one, carries none. */
	v.has_fd = 1;
	assert_int_equal(ipc_send(sv[0], &v, sizeof(v), NULL, 0, 0), 0);
	assert_int_equal(ipc_recv(sv[1], &m, fds, &nfds, &why), -1);
	assert_string_equal(why, "wrong number of fds for its type");
	/* A memory table declaring more regions than fds. */
	{
		struct ipc_mem_table mt;

		memset(&mt, 0, sizeof(mt));
		mt.type = IPC_MEM_TABLE;
		mt.nregions = 3;
		assert_int_equal(ipc_send(sv[0], &mt, sizeof(mt), &e, 1, 0),
		    0);
		assert_int_equal(ipc_recv(sv[1], &m, fds, &nfds, &why), -1);
		assert_int_equal(lowest_free_fd(), before);
		mt.nregions = UINT32_MAX;
		assert_int_equal(ipc_send(sv[0], &mt, sizeof(mt), NULL, 0, 0),
		    0);
		assert_int_equal(ipc_recv(sv[1], &m, fds, &nfds, &why), -1);
	}
	close(e);
}

static void
test_eof(void **state)
{
	union ipc_msg m;
	int fds[IPC_MAX_FDS];
	unsigned nfds;
	const char *why;

	close(sv[0]);
	sv[0] = eventfd(0, EFD_CLOEXEC);	/* for teardown */
	assert_int_equal(ipc_recv(sv[1], &m, fds, &nfds, &why), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_fds_travel, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_wrong_size, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_unknown_type, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_wrong_fd_count_closes_fds,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_eof, setup, teardown),
	};

	log_init(true, LOG_ERR, "test_ipc");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
