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

	/* Owned by the worker runtime; the engine only writes to them. */
	int			 call_fd;	/* -1: none */
	int			 err_fd;	/* -1: none */

	char			 name[96];	/* "<device id> queue <n>" for logs */
	struct log_ratelimit	 rl;

	/* Counters. */
	uint64_t		 n_requests;
	uint64_t		 n_signals;
};

/* One request popped from the avail ring: its device-readable ("out")
 * segments, then its device-writable ("in") segments, as host pointers
 * inside guest memory, each within one memory region. */
struct vq_req {
	uint16_t	 head;
	struct iovec	*out;
	unsigned	 n_out;
	uint64_t	 out_len;
	struct iovec	*in;
	unsigned	 n_in;
	uint64_t	 in_len;
};

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

/* Marks the queue broken: one log line, the error eventfd signalled; every
 * later call on the queue is a no-op (pop returns -1). */
void	vq_break(struct virtq *vq, const char *fmt, ...) LOG_PRINTF(2, 3);

#endif
