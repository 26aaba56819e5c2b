/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * main <-> worker messages.  One SOCK_SEQPACKET socketpair per worker;
 * every message is one fixed-size struct beginning with its type, read by
 * ipc_recv() which demands the exact size the type has and the exact
 * number of fds it carries (by SCM_RIGHTS).  Anything else is a protocol
 * violation: main kills that worker, a worker exits.
 *
 * IPC_VERSION must be bumped on any change to a message below.
 */
#ifndef VHOSTD_IPC_H
#define VHOSTD_IPC_H

#include <stdint.h>
#include <sys/types.h>

#include "device.h"
#include "memtab.h"
#include "virtq.h"

#define IPC_VERSION	5
#define IPC_FD		3	/* the worker's end, at exec */
#define IPC_MAX_FDS	(MEMTAB_MAX_REGIONS)
#define IPC_LOG_MAX	512

enum ipc_type {
	IPC_HELLO = 1,		/* w->m: worker started */
	IPC_INIT,		/* m->w: who you are; fds: host resources,
				   then the in-flight area */
	IPC_FEATURES,		/* m->w: negotiated virtio features */
	IPC_MEM_TABLE,		/* m->w: the whole memory table; fds: one per region */
	IPC_VRING_START,	/* m->w: run a ring; fds: kick?, call?, err? */
	IPC_VRING_FD,		/* m->w: replace a running ring's kick/call/err fd */
	IPC_VRING_ENABLE,	/* m->w: enable or disable a ring */
	IPC_VRING_STOP,		/* m->w: stop a ring; answered by IPC_VRING_BASE */
	IPC_VRING_BASE,		/* w->m: a stopped ring's next avail index */
	IPC_RESET,		/* m->w: stop every ring, reset the device */
	IPC_LOG,		/* w->m: one log line */
	IPC_SECCOMP,		/* w->m: the filter trapped a system call */
	IPC_DEV,		/* both: the device's own message; m->w: fd? */
	IPC_STATS_REQ,		/* m->w: send your counters */
	IPC_STATS,		/* w->m: the counters (answers STATS_REQ) */
	IPC_LOG_LEVEL,		/* m->w: log at this level from now on */
	IPC_TYPE_MAX
};

struct ipc_hello {
	uint32_t	type;
	uint32_t	version;
	int32_t		pid;
	uint32_t	pad;
};

struct ipc_init {
	uint32_t	type;
	uint32_t	version;
	int32_t		log_level;
	uint32_t	n_host_fds;
	char		id[64];
	char		dev_type[32];
	uint32_t	cfg_size;
	uint32_t	seccomp_log;	/* 1: report and go on; 0: kill */
	uint32_t	uid;		/* the user and group to run as */
	uint32_t	gid;
	uint32_t	restarted;	/* 1: the in-flight area holds what a
					   previous worker left */
	/* The in-flight area (an fd after the host fds if size != 0):
	 * nq queue regions of vq_log_size(qsize) bytes, then the device's
	 * state (DEV_STATE_MAX bytes), from offset. */
	uint64_t	inflight_size;
	uint64_t	inflight_offset;
	uint32_t	inflight_nq;
	uint32_t	inflight_qsize;
	char		fault[16];	/* test builds: syscall to try */
	uint8_t		cfg[DEV_CFG_MAX];
};

struct ipc_features {
	uint32_t	type;
	uint32_t	pad;
	uint64_t	features;
};

struct ipc_mem_table {
	uint32_t	type;
	uint32_t	nregions;
	struct mem_region_desc r[MEMTAB_MAX_REGIONS];
};

#define IPC_VRING_HAS_KICK	0x1
#define IPC_VRING_HAS_CALL	0x2
#define IPC_VRING_HAS_ERR	0x4
#define IPC_VRING_ENABLED	0x8
#define IPC_VRING_RESUME	0x10	/* continue from the in-flight log */

struct ipc_vring_start {
	uint32_t	type;
	uint32_t	index;
	uint32_t	num;
	uint32_t	base;
	uint64_t	desc;
	uint64_t	avail;
	uint64_t	used;
	uint32_t	flags;		/* IPC_VRING_*: fds follow in kick, call, err order */
	uint32_t	pad;
};

enum ipc_vring_fd_kind { IPC_FD_KICK, IPC_FD_CALL, IPC_FD_ERR };

struct ipc_vring_fd {
	uint32_t	type;
	uint32_t	index;
	uint32_t	kind;		/* enum ipc_vring_fd_kind */
	uint32_t	has_fd;		/* 0: no fd any more, 1: one fd attached */
};

struct ipc_vring_ctl {			/* ENABLE, STOP, BASE */
	uint32_t	type;
	uint32_t	index;
	uint32_t	value;		/* ENABLE: 0/1; BASE: next avail index */
	uint32_t	pad;
};

struct ipc_reset {
	uint32_t	type;
	uint32_t	pad;
};

struct ipc_log {
	uint32_t	type;
	int32_t		prio;
	char		text[IPC_LOG_MAX];
};

struct ipc_seccomp {
	uint32_t	type;
	uint32_t	pad;
	int64_t		nr;
	char		name[32];
};

struct ipc_dev {
	uint32_t	type;
	uint32_t	has_fd;		/* 0 or 1 */
	struct dev_msg	msg;
};

struct ipc_stats_req {
	uint32_t	type;
	uint32_t	seq;		/* echoed in the answer */
};

/* One queue's counters since the worker started (virtq.h). */
struct ipc_queue_stats {
	uint64_t	requests;
	uint64_t	bytes_out;	/* from the guest */
	uint64_t	bytes_in;	/* to the guest */
	uint64_t	errors;
	uint64_t	signals;	/* call eventfd writes */
	uint64_t	lat[VQ_LAT_BUCKETS];
};

struct ipc_stats {
	uint32_t	type;
	uint32_t	seq;
	uint32_t	nq;		/* entries of q in use */
	uint32_t	pad;
	struct ipc_queue_stats q[DEV_MAX_QUEUES];
};

struct ipc_log_level {
	uint32_t	type;
	int32_t		level;		/* LOG_ERR .. LOG_DEBUG */
};

union ipc_msg {
	uint32_t		type;
	struct ipc_hello	hello;
	struct ipc_init		init;
	struct ipc_features	features;
	struct ipc_mem_table	mem;
	struct ipc_vring_start	start;
	struct ipc_vring_fd	vfd;
	struct ipc_vring_ctl	ctl;
	struct ipc_reset	reset;
	struct ipc_log		log;
	struct ipc_seccomp	seccomp;
	struct ipc_dev		dev;
	struct ipc_stats_req	stats_req;
	struct ipc_stats	stats;
	struct ipc_log_level	log_level;
};

/* Sends one message with nfds fds (copies: the caller keeps its fds).
 * flags: MSG_DONTWAIT or 0.  Returns 0 or -1 with errno. */
int	ipc_send(int sock, const void *msg, size_t len, const int *fds,
	    unsigned nfds, int flags);

/*
 * Receives one message into m and checks it: known type, exact size for
 * the type, and the fd count the message itself declares.  On success
 * returns 1 and stores the fds in fds[] (*nfds of them, owned by the
 * caller); returns 0 on end of file; -1 with errno EAGAIN if nothing is
 * there, or EPROTO (bad message, fds closed) or another errno.  `why` gets
 * a reason for EPROTO.
 */
int	ipc_recv(int sock, union ipc_msg *m, int fds[IPC_MAX_FDS],
	    unsigned *nfds, const char **why);

/* The number of fds a well-formed message m carries. */
unsigned ipc_msg_nfds(const union ipc_msg *m);

const char *ipc_type_name(uint32_t type);

#endif
