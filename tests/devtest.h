/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit-test harness for device types: a device's worker hooks driven the
 * way the worker runtime drives them, over fake guest memory (two regions
 * with a hole between them in guest-physical space) and real split rings,
 * with no process, socket or VMM.  The test posts descriptor chains as a
 * guest driver would, runs the queue, and reads back the used ring.  For
 * a device with a main side (vsock), the harness plays main: it keeps
 * what the device sends to main (ctx->send_main) for the test to take,
 * and delivers the test's messages (and fds) to its worker_msg hook.
 */
#ifndef VHOSTD_DEVTEST_H
#define VHOSTD_DEVTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "cfg.h"
#include "device.h"
#include "memtab.h"
#include "virtq.h"

#define DEVTEST_QSIZE		64
#define DEVTEST_REGION_SIZE	(1u << 20)
#define DEVTEST_GPA1		UINT64_C(0x100000000)	/* region 1 */
#define DEVTEST_SENT_MAX	32	/* messages to main kept */

struct devtest_buf {
	uint64_t	gpa;
	uint32_t	len;
	bool		writable;	/* device-writable */
};

struct devtest {
	struct vhostd_cfg	*cfg;		/* from devtest_load */
	struct memtab		 mt;
	uint8_t			*mem[2];
	uint64_t		 next[2];	/* allocator, per region */
	struct virtq		 vq[DEV_MAX_QUEUES];
	uint16_t		 avail_idx[DEV_MAX_QUEUES];
	uint16_t		 used_seen[DEV_MAX_QUEUES];
	int			 call_fd[DEV_MAX_QUEUES];
	struct event_base	*base;
	struct dev_ctx		 ctx;
	/* What the device sent to main and the test has not taken, oldest
	 * first; when full the oldest is dropped and counted. */
	struct dev_msg		 sent[DEVTEST_SENT_MAX];
	unsigned		 nsent;
	unsigned		 sent_dropped;
	/* The next send_fail sends to main fail (-1, EAGAIN), as when
	 * main cannot take a message now; they are not kept. */
	unsigned		 send_fail;
};

/*
 * Loads a config whose "devices" array holds `device_json` (one object,
 * without id/socket: "\"type\": \"gpio\", ..." is enough; id "dut" and a
 * socket are added) and sets the device up: its open hook (main) and, in
 * place of a worker, its init hook, over rings of DEVTEST_QSIZE for each
 * queue.  On a config error, fails the test with the errors.
 */
void	devtest_init(struct devtest *t, const char *device_json,
	    uint64_t features);
void	devtest_fini(struct devtest *t);

/* Guest memory: allocates len bytes in region r (0 or 1), returns the
 * guest-physical address; devtest_ptr gives its host address. */
uint64_t devtest_alloc(struct devtest *t, unsigned r, uint32_t len);
void	*devtest_ptr(struct devtest *t, uint64_t gpa);

/* Posts one chain of at most 4 buffers on queue q; returns its head.
 * Does not run it.  Chains take descriptor slots in turn, so at most 16
 * may be held by the device at once. */
uint16_t devtest_post(struct devtest *t, unsigned q,
	    const struct devtest_buf *bufs, unsigned n);

/* Runs queue q as the worker does on a kick. */
void	devtest_run(struct devtest *t, unsigned q);

/* Runs the event loop once without blocking (device fds, timers). */
void	devtest_dispatch(struct devtest *t);

/* Takes the next used entry of queue q: 1 and *head, *len, or 0. */
int	devtest_used(struct devtest *t, unsigned q, uint16_t *head,
	    uint32_t *len);

/*
 * The usual request: a device-readable buffer holding out[0..outlen) and
 * a device-writable one of inlen bytes (either may be 0 and is then left
 * out), posted, run, and harvested.  Returns 1 and copies what the device
 * wrote to in (if not NULL) with its length in *written; 0 if the device
 * has not completed it (it holds it); the queue must not be broken.
 */
int	devtest_request(struct devtest *t, unsigned q, const void *out,
	    uint32_t outlen, void *in, uint32_t inlen, uint32_t *written);

/*
 * Takes the oldest message the device sent to main whose op is `op` (any
 * op if 0): 1 and a copy in *m (if not NULL), or 0 if there is none.
 */
int	devtest_sent(struct devtest *t, uint32_t op, struct dev_msg *m);

/*
 * Delivers a message from main to the device's worker_msg hook, as the
 * worker runtime does: op, len bytes of data (len <= DEV_MSG_MAX; data
 * may be NULL if len is 0) and fd (-1 for none; the device owns it then,
 * the test keeps no copy).
 */
void	devtest_worker_msg(struct devtest *t, uint32_t op, const void *data,
	    uint32_t len, int fd);

#endif
