/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Split virtqueue engine (VIRTIO 1.x, section 2.7) run by workers over
 * mapped guest memory.  Security model: the guest driver owns the rings and
 * every descriptor in them and may change them at any moment; each index,
 * address, length and flag is read once, checked, and never trusted again.
 * A malformed chain breaks this queue only (vq->broken, one log line, the
 * error eventfd signalled); it never touches memory outside the regions of
 * the memory table and never aborts the process.
 */
#ifndef VHOSTD_VIRTQ_H
#define VHOSTD_VIRTQ_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "log.h"
#include "memtab.h"

#define VQ_MAX_SIZE		32768
/*
 * Latency histogram buckets (pop to push): bucket 0 counts requests done
 * in less than 1 microsecond, bucket k (1..VQ_LAT_BUCKETS-2) those of
 * [2^(k-1), 2^k) microseconds, the last one those of 2^(VQ_LAT_BUCKETS-2)
 * microseconds (4.2 s) or more.
 */
#define VQ_LAT_BUCKETS		24

#define VRING_DESC_F_NEXT	1
#define VRING_DESC_F_WRITE	2
#define VRING_DESC_F_INDIRECT	4
#define VRING_USED_F_NO_NOTIFY	1
#define VRING_AVAIL_F_NO_INTERRUPT 1

#define VIRTIO_RING_F_INDIRECT_DESC	28
#define VIRTIO_RING_F_EVENT_IDX		29
#define VIRTIO_F_VERSION_1		32

struct vring_desc {
	uint64_t	addr;
	uint32_t	len;
	uint16_t	flags;
	uint16_t	next;
};

struct vring_avail {
	uint16_t	flags;
	uint16_t	idx;
	uint16_t	ring[];		/* [num], then used_event */
};

struct vring_used_elem {
	uint32_t	id;
	uint32_t	len;
};

struct vring_used {
	uint16_t	flags;
	uint16_t	idx;
	struct vring_used_elem ring[];	/* [num], then avail_event */
};

/*
 * The in-flight log of one queue: a region of the in-flight area (a
 * memfd main owns, or the one the front-end keeps with
 * VHOST_USER_GET/SET_INFLIGHT_FD) that the worker keeps current so that
 * the next worker (or the next vhostd) knows which requests were taken
 * from the avail ring and not yet returned.  It is the vhost-user
 * specification's split-queue region ("Inflight I/O tracking") with one
 * field more: avail_gap.  The guest never sees it.
 */
struct vq_log_desc {
	uint8_t		inflight;	/* 1: popped, not returned */
	uint8_t		padding[5];
	uint16_t	next;		/* last batch of returned heads */
	uint64_t	counter;	/* pop order */
};

struct vq_log {
	uint64_t	features;	/* 0 */
	uint16_t	version;	/* VQ_LOG_VERSION; 0: never set up */
	uint16_t	desc_num;	/* the queue's size */
	uint16_t	last_batch_head;
	uint16_t	used_idx;	/* used->idx the inflight flags match */
	uint16_t	avail_gap;	/* vhostd: avail - used index when the
					   ring was started: heads the driver
					   gave an earlier run and never got
					   back */
	uint16_t	padding[3];
	struct vq_log_desc desc[];	/* [desc_num] */
};

#define VQ_LOG_VERSION	1
#define VQ_LOG_ALIGN	64

/* Bytes of one queue's region in an area made for queues of qsize. */
static inline size_t
vq_log_size(uint32_t qsize)
{
	size_t n = sizeof(struct vq_log) +
	    (size_t)qsize * sizeof(struct vq_log_desc);

	return (n + VQ_LOG_ALIGN - 1) & ~(size_t)(VQ_LOG_ALIGN - 1);
}

struct virtq {
	/* Set by vq_setup from what main forwarded. */
	const struct memtab	*mt;
	struct vring_desc	*desc;
	struct vring_avail	*avail;
	struct vring_used	*used;
	uint16_t		 num;		/* power of two, <= VQ_MAX_SIZE */
	bool			 event_idx;	/* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool			 indirect;	/* VIRTIO_RING_F_INDIRECT_DESC negotiated */

	/* Engine state. */
	uint16_t		 last_avail;	/* next avail slot to consume */
	uint16_t		 used_idx;	/* shadow of used->idx, published by vq_flush */
	uint16_t		 signalled_used;/* used idx at the last call signal */
	bool			 signalled_valid;
	bool			 broken;
	bool			 notify_off;	/* kicks currently suppressed */
	uint8_t			*inflight;	/* bitmap of heads popped, not pushed */

	/* The in-flight log (NULL: none) and the requests a previous
	 * worker left in flight, handed out again by vq_pop first. */
	struct vq_log		*log;
	uint64_t		 log_counter;
	uint16_t		 log_batch;	/* pushed since the last flush */
	uint16_t		*resubmit;	/* heads in pop order */
	uint16_t		 n_resubmit, resubmit_pos;

	/* Owned by the worker runtime; the engine only writes to them. */
	int			 call_fd;	/* -1: none */
	int			 err_fd;	/* -1: none */

	char			 name[96];	/* "<device id> queue <n>" for logs */
	struct log_ratelimit	 rl;

	/*
	 * Counters (vhostctl stats), plain adds in the datapath: no system
	 * call, no lock (the worker's one thread).  The latency of a
	 * request is from its pop to its push, read off the vDSO's
	 * CLOCK_MONOTONIC; pop_ns holds each head's pop time.
	 */
	uint64_t		 n_requests;
	uint64_t		 n_signals;
	uint64_t		 n_bytes_out;	/* device-readable bytes popped
						   (from the guest) */
	uint64_t		 n_bytes_in;	/* bytes pushed as written
						   (to the guest) */
	uint64_t		 n_errors;	/* requests failed: the device's
						   error status, or a chain
						   that broke the queue */
	uint64_t		 lat[VQ_LAT_BUCKETS];
	uint64_t		*pop_ns;	/* [num] */
};

/* One request popped from the avail ring: its device-readable ("out")
 * segments, then its device-writable ("in") segments, as host pointers
 * inside guest memory, each within one memory region. */
struct vq_req {
	uint16_t	 head;
	bool		 resubmitted;	/* taken by a worker that died: the
					   device re-executes it if that is
					   harmless, else fails it */
	struct iovec	*out;
	unsigned	 n_out;
	uint64_t	 out_len;
	struct iovec	*in;
	unsigned	 n_in;
	uint64_t	 in_len;
};

#ifdef VHOSTD_TEST_HOOKS
/* Test builds: if not 0, the process exits (70) on that many-th pop,
 * right after taking the request (worker fault "pop-exit:N"). */
extern unsigned vq_test_exit_after_pops;
#endif

/* Zeroes vq, sets fds to -1 and the log name. */
void	vq_init(struct virtq *vq, const char *name);

/*
 * Points vq at its rings: desc/avail/used are front-end virtual addresses
 * translated through mt (each ring whole inside one region, aligned 16, 2
 * and 4 bytes).  num must be a power of two in 1..VQ_MAX_SIZE.  Allocates
 * the in-flight bitmap.  Returns 0, or -1 with errno EINVAL and one log
 * line naming what is wrong.
 */
int	vq_setup(struct virtq *vq, const struct memtab *mt, uint16_t num,
	    uint64_t desc_uva, uint64_t avail_uva, uint64_t used_uva,
	    uint16_t last_avail, bool event_idx, bool indirect);

/*
 * Attaches the queue's in-flight log (after vq_setup).  cap is the number
 * of desc entries the region has room for.  resume: the log holds what a
 * previous worker left: finish its last batch of returned heads, queue
 * every head still in flight for vq_pop (in pop order), and continue the
 * avail ring after them; if the log does not match the queue (never set
 * up, another size) the queue starts afresh.  Otherwise the log is
 * initialised for this run.  Returns the number of requests to resubmit.
 */
unsigned vq_log_start(struct virtq *vq, struct vq_log *log, uint32_t cap,
	    bool resume);

/* Re-translates the ring addresses after the memory table changed.
 * Returns 0, or -1 (queue broken) if they no longer translate. */
int	vq_remap(struct virtq *vq, uint64_t desc_uva, uint64_t avail_uva,
	    uint64_t used_uva);

/* Frees what vq_setup allocated; leaves fds alone. */
void	vq_teardown(struct virtq *vq);

/*
 * Takes the next available chain.  iov[0..iov_max) is the caller's storage
 * for its segments (req->out and req->in point into it; it must stay valid
 * until the request is pushed).  Returns 1 and fills req, 0 if the ring is
 * empty, -1 if the queue is (now) broken.
 */
int	vq_pop(struct virtq *vq, struct vq_req *req, struct iovec *iov,
	    unsigned iov_max);

/* Returns a request to the driver with `len` bytes written into its
 * device-writable segments.  Not visible to the driver before vq_flush. */
void	vq_push(struct virtq *vq, uint16_t head, uint32_t len);

/* Publishes pushed entries (used->idx) and signals the call eventfd if the
 * driver wants it (EVENT_IDX used_event, else VRING_AVAIL_F_NO_INTERRUPT). */
void	vq_flush(struct virtq *vq);

/* Suppresses kicks while the device is busy with the ring. */
void	vq_disable_notify(struct virtq *vq);

/* Re-enables kicks (NO_NOTIFY cleared or avail_event = last_avail), then
 * re-checks the ring.  Returns true if new entries arrived meanwhile, in
 * which case the caller must process them (no lost wake-up). */
bool	vq_enable_notify(struct virtq *vq);

/* True if the avail ring holds entries not yet popped. */
bool	vq_has_avail(struct virtq *vq);

/* Copies between a flat buffer and the bytes [off, off + len) of a
 * segment list (as popped: the caller checked the bounds). */
void	vq_iov_from(const struct iovec *iov, unsigned n, uint64_t off,
	    void *dst, size_t len);
void	vq_iov_to(const struct iovec *iov, unsigned n, uint64_t off,
	    const void *src, size_t len);

/* Describes the bytes [off, off + len) of a segment list (clipped to its
 * end) as at most max segments in out, for readv/writev.  Returns the
 * number of segments; *got is the bytes they cover. */
unsigned vq_iov_slice(const struct iovec *iov, unsigned n, uint64_t off,
	    uint64_t len, struct iovec *out, unsigned max, size_t *got);

/* A device completed a request with its error status: counted in
 * n_errors (vhostctl stats). */
static inline void
vq_count_error(struct virtq *vq)
{
	vq->n_errors++;
}

/* The latency bucket of a request that took ns nanoseconds. */
unsigned vq_lat_bucket(uint64_t ns);

/* Marks the queue broken: one log line, the error eventfd signalled; every
 * later call on the queue is a no-op (pop returns -1). */
void	vq_break(struct virtq *vq, const char *fmt, ...) LOG_PRINTF(2, 3);

#endif
