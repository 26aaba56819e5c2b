/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Split virtqueue engine (VIRTIO 1.x, section 2.7): pops descriptor chains
 * from the avail ring as scatter/gather lists of host pointers, returns
 * them through the used ring, and decides when to interrupt the driver.
 *
 * Security model: the guest owns the rings and the descriptors and may
 * rewrite them at any moment, from another CPU, while we read them.  So
 * each index and descriptor is loaded once into a local copy, checked
 * there and used from there only; every address goes through the memory
 * table; chains are bounded in length, segments and bytes.  Whatever the
 * guest does, the worst outcome is this queue marked broken: no access
 * outside guest memory, no unbounded loop, no abort.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "virtq.h"

#ifdef VHOSTD_TEST_HOOKS
unsigned vq_test_exit_after_pops;
#endif

#define VQ_DESC_ALIGN	16
#define VQ_AVAIL_ALIGN	2
#define VQ_USED_ALIGN	4

void
vq_init(struct virtq *vq, const char *name)
{
	const struct log_ratelimit rl = LOG_RATELIMIT_INIT;

	memset(vq, 0, sizeof(*vq));
	vq->call_fd = -1;
	vq->err_fd = -1;
	vq->rl = rl;
	snprintf(vq->name, sizeof(vq->name), "%s", name != NULL ? name : "?");
}

static bool
vq_ready(const struct virtq *vq)
{
	return vq->num != 0 && vq->desc != NULL && vq->avail != NULL &&
	    vq->used != NULL && vq->inflight != NULL && vq->mt != NULL;
}

unsigned
vq_lat_bucket(uint64_t ns)
{
	uint64_t us = ns / 1000;
	unsigned b;

	if (us == 0)
		return 0;
	b = 64 - (unsigned)__builtin_clzll(us);
	return b < VQ_LAT_BUCKETS - 1 ? b : VQ_LAT_BUCKETS - 1;
}

/* Pointers into the avail and used rings past their num entries. */
static uint16_t *
vq_used_event(const struct virtq *vq)
{
	return &vq->avail->ring[vq->num];
}

static uint16_t *
vq_avail_event(const struct virtq *vq)
{
	return (uint16_t *)(void *)&vq->used->ring[vq->num];
}

/*
 * Translates one ring: front-end-virtual [uva, uva + len) whole in one
 * region, uva and its host address aligned to `align` (the host address
 * too, since the region's mmap_offset is the front-end's choice and the
 * rings are accessed with atomics).  Returns the host pointer, or NULL
 * with the reason, naming `what`, in why.
 */
static void *
vq_ring(const struct memtab *mt, const char *what, uint64_t uva,
    uint64_t len, uintptr_t align, char *why, size_t whylen)
{
	void *p;

	if (uva % align != 0) {
		snprintf(why, whylen, "%s ring address 0x%llx not aligned "
		    "to %u", what, (unsigned long long)uva, (unsigned)align);
		return NULL;
	}
	if ((p = memtab_uva(mt, uva, len)) == NULL) {
		snprintf(why, whylen, "%s ring 0x%llx+0x%llx not inside one "
		    "memory region", what, (unsigned long long)uva,
		    (unsigned long long)len);
		return NULL;
	}
	if ((uintptr_t)p % align != 0) {
		snprintf(why, whylen, "%s ring 0x%llx maps to a host address "
		    "not aligned to %u", what, (unsigned long long)uva,
		    (unsigned)align);
		return NULL;
	}
	return p;
}

/* Translates the three rings of a queue of num entries.  Returns 0, or -1
 * with errno EINVAL and the reason of the first failure in why. */
static int
vq_rings(const struct memtab *mt, uint16_t num, uint64_t desc_uva,
    uint64_t avail_uva, uint64_t used_uva, struct vring_desc **desc,
    struct vring_avail **avail, struct vring_used **used, char *why,
    size_t whylen)
{
	/* Sizes include used_event and avail_event whether or not EVENT_IDX
	 * is negotiated; num <= VQ_MAX_SIZE so none of them overflows. */
	if ((*desc = vq_ring(mt, "descriptor", desc_uva,
	    (uint64_t)num * sizeof(struct vring_desc), VQ_DESC_ALIGN,
	    why, whylen)) == NULL ||
	    (*avail = vq_ring(mt, "avail", avail_uva,
	    6 + (uint64_t)num * sizeof(uint16_t), VQ_AVAIL_ALIGN,
	    why, whylen)) == NULL ||
	    (*used = vq_ring(mt, "used", used_uva,
	    6 + (uint64_t)num * sizeof(struct vring_used_elem), VQ_USED_ALIGN,
	    why, whylen)) == NULL) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/* Forgets the in-flight log and the requests left to resubmit. */
static void
vq_log_detach(struct virtq *vq)
{
	free(vq->resubmit);
	vq->resubmit = NULL;
	vq->n_resubmit = vq->resubmit_pos = 0;
	vq->log = NULL;
	vq->log_batch = 0;
}

int
vq_setup(struct virtq *vq, const struct memtab *mt, uint16_t num,
    uint64_t desc_uva, uint64_t avail_uva, uint64_t used_uva,
    uint16_t last_avail, bool event_idx, bool indirect)
{
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint8_t *inflight;
	char why[160];

	if (mt == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (num == 0 || num > VQ_MAX_SIZE || (num & (num - 1)) != 0) {
		log_rl(&vq->rl, LOG_WARNING, "%s: queue size %u is not a "
		    "power of two in 1..%u", vq->name, num, VQ_MAX_SIZE);
		errno = EINVAL;
		return -1;
	}
	if (vq_rings(mt, num, desc_uva, avail_uva, used_uva, &desc, &avail,
	    &used, why, sizeof(why)) == -1) {
		log_rl(&vq->rl, LOG_WARNING, "%s: %s", vq->name, why);
		return -1;
	}
	if ((inflight = calloc((num + 7) / 8, 1)) == NULL)
		return -1;
	free(vq->pop_ns);
	if ((vq->pop_ns = calloc(num, sizeof(*vq->pop_ns))) == NULL) {
		free(inflight);
		return -1;
	}

	free(vq->inflight);
	vq->inflight = inflight;
	vq_log_detach(vq);
	vq->mt = mt;
	vq->desc = desc;
	vq->avail = avail;
	vq->used = used;
	vq->num = num;
	vq->event_idx = event_idx;
	vq->indirect = indirect;
	vq->last_avail = last_avail;
	/* Resume where the used ring stands: we are its only writer (a
	 * guest that scribbles on it only confuses itself). */
	vq->used_idx = __atomic_load_n(&used->idx, __ATOMIC_ACQUIRE);
	vq->signalled_used = vq->used_idx;
	vq->signalled_valid = false;
	vq->broken = false;
	/* Start with kicks enabled, whatever a previous worker left. */
	vq->notify_off = false;
	__atomic_store_n(&used->flags, 0, __ATOMIC_RELAXED);
	if (event_idx)
		__atomic_store_n(vq_avail_event(vq), last_avail,
		    __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return 0;
}

int
vq_remap(struct virtq *vq, uint64_t desc_uva, uint64_t avail_uva,
    uint64_t used_uva)
{
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	char why[160];

	if (vq->broken)
		return -1;
	if (!vq_ready(vq)) {
		errno = EINVAL;
		return -1;
	}
	if (vq_rings(vq->mt, vq->num, desc_uva, avail_uva, used_uva, &desc,
	    &avail, &used, why, sizeof(why)) == -1) {
		vq_break(vq, "after a memory table change: %s", why);
		return -1;
	}
	vq->desc = desc;
	vq->avail = avail;
	vq->used = used;
	return 0;
}

void
vq_teardown(struct virtq *vq)
{
	free(vq->inflight);
	vq->inflight = NULL;
	free(vq->pop_ns);
	vq->pop_ns = NULL;
	vq_log_detach(vq);
	vq->mt = NULL;
	vq->desc = NULL;
	vq->avail = NULL;
	vq->used = NULL;
	vq->num = 0;
}

void
vq_break(struct virtq *vq, const char *fmt, ...)
{
	static const uint64_t one = 1;
	char reason[256];
	va_list ap;

	if (vq->broken)
		return;
	vq->broken = true;
	vq->n_errors++;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	/* A guest can break queues again and again through device resets:
	 * vq->rl lives as long as the queue, across vq_setup. */
	log_rl(&vq->rl, LOG_WARNING, "%s: queue broken: %s", vq->name,
	    reason);
	if (vq->err_fd >= 0 &&
	    write(vq->err_fd, &one, sizeof(one)) != (ssize_t)sizeof(one) &&
	    errno != EAGAIN)
		log_rl(&vq->rl, LOG_WARNING, "%s: error eventfd: %s",
		    vq->name, strerror(errno));
}

bool
vq_has_avail(struct virtq *vq)
{
	if (vq->broken || !vq_ready(vq))
		return false;
	if (vq->resubmit_pos < vq->n_resubmit)
		return true;
	return __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE) !=
	    vq->last_avail;
}

static bool
vq_inflight(const struct virtq *vq, uint16_t head)
{
	return (vq->inflight[head / 8] & (1u << (head % 8))) != 0;
}

static void
vq_inflight_set(struct virtq *vq, uint16_t head, bool on)
{
	if (on)
		vq->inflight[head / 8] |= (uint8_t)(1u << (head % 8));
	else
		vq->inflight[head / 8] &= (uint8_t)~(1u << (head % 8));
}

/* The chain being walked by vq_pop. */
struct vq_walk {
	struct iovec	*iov;
	unsigned	 iov_max;
	unsigned	 n;		/* iovecs filled */
	unsigned	 n_out;
	unsigned	 n_in;
	uint64_t	 out_len;
	uint64_t	 in_len;
	bool		 seen_write;	/* a device-writable descriptor seen */
};

/*
 * Adds the buffer of one (non-indirect) descriptor to the walk, split at
 * region boundaries.  d is our private copy.  Returns 0, or -1 with the
 * queue broken.
 */
static int
vq_add_buffer(struct virtq *vq, struct vq_walk *w, const struct vring_desc *d)
{
	uint64_t addr = d->addr, left = d->len, contig;
	uint64_t *total;
	void *host;

	if (d->flags & VRING_DESC_F_WRITE) {
		w->seen_write = true;
		total = &w->in_len;
	} else {
		if (w->seen_write) {
			vq_break(vq, "device-readable descriptor after a "
			    "device-writable one");
			return -1;
		}
		total = &w->out_len;
	}
	/* Both are at most UINT32_MAX here, so the sum cannot overflow. */
	*total += d->len;
	if (*total > UINT32_MAX) {
		vq_break(vq, "chain longer than %u bytes", UINT32_MAX);
		return -1;
	}
	if (addr > UINT64_MAX - left) {
		vq_break(vq, "buffer 0x%llx+0x%llx overflows",
		    (unsigned long long)addr, (unsigned long long)left);
		return -1;
	}
	while (left > 0) {
		host = memtab_gpa(vq->mt, addr, left, &contig);
		if (host == NULL || contig == 0) {
			vq_break(vq, "buffer address 0x%llx not in guest "
			    "memory", (unsigned long long)addr);
			return -1;
		}
		if (w->n >= w->iov_max) {
			vq_break(vq, "too many segments (more than %u)",
			    w->iov_max);
			return -1;
		}
		w->iov[w->n].iov_base = host;
		w->iov[w->n].iov_len = (size_t)contig;
		w->n++;
		if (d->flags & VRING_DESC_F_WRITE)
			w->n_in++;
		else
			w->n_out++;
		left -= contig;
		/* addr + contig stays inside the region: no overflow. */
		addr += contig;
	}
	return 0;
}

/*
 * Loads descriptor i of a table once into *d.  The compiler barrier keeps
 * the compiler from reading the guest's copy again later instead of ours.
 * memcpy because an indirect table need not be aligned.
 */
static void
vq_load_desc(const struct vring_desc *table, uint32_t i, struct vring_desc *d)
{
	memcpy(d, &table[i], sizeof(*d));
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

/*
 * Walks the chain that starts at head, filling w.  A chain is direct
 * descriptors linked by NEXT, possibly ending in one indirect descriptor
 * whose table holds the rest.  Every descriptor visit counts towards the
 * bound of its table's size, so a loop (even of zero-length descriptors)
 * ends in a broken queue.  Returns 0, or -1 with the queue broken.
 */
static int
vq_walk_chain(struct virtq *vq, uint16_t head, struct vq_walk *w)
{
	const struct vring_desc *table = vq->desc;
	struct vring_desc d;
	uint64_t contig;
	uint32_t table_n = vq->num, i = head, visited = 0;
	bool in_indirect = false;

	for (;;) {
		if (i >= table_n) {
			vq_break(vq, "descriptor index %u out of range (%u)",
			    i, table_n);
			return -1;
		}
		if (++visited > table_n) {
			vq_break(vq, "descriptor chain from head %u loops",
			    head);
			return -1;
		}
		vq_load_desc(table, i, &d);

		if (d.flags & VRING_DESC_F_INDIRECT) {
			if (!vq->indirect) {
				vq_break(vq, "indirect descriptor, but "
				    "INDIRECT_DESC not negotiated");
				return -1;
			}
			if (in_indirect) {
				vq_break(vq, "nested indirect descriptor");
				return -1;
			}
			if (d.flags & VRING_DESC_F_NEXT) {
				vq_break(vq, "indirect descriptor with NEXT");
				return -1;
			}
			if (d.len == 0 || d.len % sizeof(struct vring_desc) ||
			    d.len / sizeof(struct vring_desc) > VQ_MAX_SIZE) {
				vq_break(vq, "bad indirect table length %u",
				    d.len);
				return -1;
			}
			table = memtab_gpa(vq->mt, d.addr, d.len, &contig);
			if (table == NULL || contig != d.len) {
				vq_break(vq, "indirect table 0x%llx+0x%x not "
				    "inside one memory region",
				    (unsigned long long)d.addr, d.len);
				return -1;
			}
			table_n = d.len / sizeof(struct vring_desc);
			in_indirect = true;
			visited = 0;
			i = 0;
			continue;
		}

		if (vq_add_buffer(vq, w, &d) == -1)
			return -1;
		if ((d.flags & VRING_DESC_F_NEXT) == 0)
			return 0;
		i = d.next;
	}
}

/* A request was taken: counted, and its pop time kept for its latency. */
static void
vq_count_pop(struct virtq *vq, uint16_t head, const struct vq_walk *w)
{
	vq->n_requests++;
	vq->n_bytes_out += w->out_len;
	vq->pop_ns[head] = util_now_ns();
}

static void
vq_fill_req(struct vq_req *req, uint16_t head, const struct vq_walk *w,
    bool resubmitted)
{
	req->head = head;
	req->resubmitted = resubmitted;
	req->out = w->iov;
	req->n_out = w->n_out;
	req->out_len = w->out_len;
	req->in = w->iov != NULL ? w->iov + w->n_out : NULL;
	req->n_in = w->n_in;
	req->in_len = w->in_len;
}

/* vq_pop of the next request a previous worker left in flight: its head
 * is not in the avail ring any more (last_avail is past it), but the
 * driver has not had it back, so its chain is still the driver's. */
static int
vq_pop_resubmit(struct virtq *vq, struct vq_req *req, struct iovec *iov,
    unsigned iov_max)
{
	struct vq_walk w;
	uint16_t head = vq->resubmit[vq->resubmit_pos++];

	memset(&w, 0, sizeof(w));
	w.iov = iov;
	w.iov_max = iov != NULL ? iov_max : 0;
	if (vq_walk_chain(vq, head, &w) == -1)
		return -1;
	vq_count_pop(vq, head, &w);
	vq_fill_req(req, head, &w, true);
	return 1;
}

int
vq_pop(struct virtq *vq, struct vq_req *req, struct iovec *iov,
    unsigned iov_max)
{
	struct vq_walk w;
	uint16_t avail_idx, pending, head;

	if (vq->broken)
		return -1;
	if (!vq_ready(vq)) {
		errno = EINVAL;
		return -1;
	}
	if (vq->resubmit_pos < vq->n_resubmit)
		return vq_pop_resubmit(vq, req, iov, iov_max);

	avail_idx = __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE);
	pending = (uint16_t)(avail_idx - vq->last_avail);
	if (pending == 0)
		return 0;
	if (pending > vq->num) {
		vq_break(vq, "avail index %u is %u ahead of %u (size %u)",
		    avail_idx, pending, vq->last_avail, vq->num);
		return -1;
	}
	/* Ordered after the avail->idx load by its acquire. */
	head = __atomic_load_n(&vq->avail->ring[vq->last_avail & (vq->num - 1)],
	    __ATOMIC_RELAXED);
	if (head >= vq->num) {
		vq_break(vq, "head %u out of range (%u)", head, vq->num);
		return -1;
	}
	if (vq_inflight(vq, head)) {
		vq_break(vq, "head %u made available while in flight", head);
		return -1;
	}

	memset(&w, 0, sizeof(w));
	w.iov = iov;
	w.iov_max = iov != NULL ? iov_max : 0;
	if (vq_walk_chain(vq, head, &w) == -1)
		return -1;

	vq_inflight_set(vq, head, true);
	if (vq->log != NULL) {
		/* Before the device acts on it: a worker that dies from here
		 * on leaves it in flight for the next one. */
		vq->log->desc[head].counter = vq->log_counter++;
		vq->log->desc[head].inflight = 1;
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
	}
#ifdef VHOSTD_TEST_HOOKS
	/* Test builds: a worker that dies with this request taken. */
	if (vq_test_exit_after_pops != 0 && --vq_test_exit_after_pops == 0)
		_exit(70);
#endif
	vq->last_avail++;
	vq_count_pop(vq, head, &w);
	/*
	 * With EVENT_IDX, ask for a kick at the next entry as we go, so that
	 * a handler that pops until empty on each kick never stalls.  The
	 * no-lost-wake-up guarantee is vq_enable_notify's, not this store's.
	 */
	if (vq->event_idx && !vq->notify_off)
		__atomic_store_n(vq_avail_event(vq), vq->last_avail,
		    __ATOMIC_RELAXED);

	vq_fill_req(req, head, &w, false);
	return 1;
}

void
vq_push(struct virtq *vq, uint16_t head, uint32_t len)
{
	struct vring_used_elem *e;

	if (vq->broken || !vq_ready(vq))
		return;
	if (head >= vq->num || !vq_inflight(vq, head)) {
		/* Our own bug, not the guest's; the queue cannot go on. */
		vq_break(vq, "internal error: push of head %u not in flight",
		    head);
		return;
	}
	e = &vq->used->ring[vq->used_idx & (vq->num - 1)];
	__atomic_store_n(&e->id, head, __ATOMIC_RELAXED);
	__atomic_store_n(&e->len, len, __ATOMIC_RELAXED);
	vq->used_idx++;
	vq_inflight_set(vq, head, false);
	vq->n_bytes_in += len;
	vq->lat[vq_lat_bucket(util_now_ns() - vq->pop_ns[head])]++;
	if (vq->log != NULL) {
		/* The batch vq_flush publishes, for a worker that dies
		 * between publishing and clearing the inflight flags. */
		vq->log->desc[head].next = vq->log->last_batch_head;
		vq->log->last_batch_head = head;
		vq->log_batch++;
	}
}

/* The batch of heads just published in used->idx is returned: clear
 * their inflight flags, then record the index they match. */
static void
vq_log_commit(struct virtq *vq, uint16_t new_idx)
{
	struct vq_log *log = vq->log;
	uint16_t h = log->last_batch_head, k;

	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	for (k = 0; k < vq->log_batch && h < vq->num; k++) {
		log->desc[h].inflight = 0;
		h = log->desc[h].next;
	}
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	log->used_idx = new_idx;
	vq->log_batch = 0;
}

struct vq_log_entry {
	uint64_t	counter;
	uint16_t	head;
};

static int
vq_log_entry_cmp(const void *a, const void *b)
{
	const struct vq_log_entry *x = a, *y = b;

	if (x->counter != y->counter)
		return x->counter < y->counter ? -1 : 1;
	return x->head < y->head ? -1 : x->head > y->head;
}

/* A fresh run: the log says nothing is in flight and where the avail
 * ring stands against the used ring. */
static void
vq_log_init(struct virtq *vq, struct vq_log *log)
{
	log->version = 0;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	memset(log->desc, 0, (size_t)vq->num * sizeof(log->desc[0]));
	log->features = 0;
	log->desc_num = vq->num;
	log->last_batch_head = 0;
	log->used_idx = vq->used_idx;
	log->avail_gap = (uint16_t)(vq->last_avail - vq->used_idx);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	log->version = VQ_LOG_VERSION;
	vq->log_counter = 1;
}

/*
 * Resumes from what a previous worker left (the specification's
 * "reconnecting" steps).  The log was written by a worker of this device,
 * which may have been compromised by its guest, and the used index is the
 * guest's: every value read is bounded, so the worst outcome is requests
 * the guest gets back twice or never, as with any ring it corrupts.
 * Returns the number of requests to resubmit, or -1 if out of memory.
 */
static int
vq_log_resume(struct virtq *vq, struct vq_log *log)
{
	struct vq_log_entry *e;
	uint16_t used, batch, h, n = 0;
	uint32_t i;
	uint64_t maxc = 0;

	used = __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE);
	batch = (uint16_t)(used - log->used_idx);
	if (batch != 0) {
		/* It died after publishing its last batch and before
		 * clearing the batch's inflight flags. */
		h = log->last_batch_head;
		for (i = 0; i < batch && i < vq->num && h < vq->num; i++) {
			log->desc[h].inflight = 0;
			h = log->desc[h].next;
		}
		log->used_idx = used;
	}
	if ((e = calloc(vq->num, sizeof(*e))) == NULL ||
	    (vq->resubmit = calloc(vq->num, sizeof(uint16_t))) == NULL) {
		free(e);
		return -1;
	}
	for (i = 0; i < vq->num; i++) {
		if (log->desc[i].counter > maxc)
			maxc = log->desc[i].counter;
		if (log->desc[i].inflight != 1) {
			log->desc[i].inflight = 0;
			continue;
		}
		e[n].counter = log->desc[i].counter;
		e[n].head = (uint16_t)i;
		n++;
	}
	qsort(e, n, sizeof(*e), vq_log_entry_cmp);
	for (i = 0; i < n; i++) {
		vq->resubmit[i] = e[i].head;
		vq_inflight_set(vq, e[i].head, true);
	}
	free(e);
	vq->n_resubmit = n;
	vq->resubmit_pos = 0;
	vq->log_counter = maxc + 1;
	/* Every head popped is either back in the used ring or in flight. */
	vq->used_idx = vq->signalled_used = used;
	vq->last_avail = (uint16_t)(used + log->avail_gap + n);
	if (vq->event_idx)
		__atomic_store_n(vq_avail_event(vq), vq->last_avail,
		    __ATOMIC_RELAXED);
	return n;
}

unsigned
vq_log_start(struct virtq *vq, struct vq_log *log, uint32_t cap, bool resume)
{
	int n;

	vq_log_detach(vq);
	if (log == NULL || vq->broken || !vq_ready(vq) || cap < vq->num)
		return 0;
	if (resume && log->version == VQ_LOG_VERSION &&
	    log->desc_num == vq->num) {
		if ((n = vq_log_resume(vq, log)) == -1) {
			vq_break(vq, "out of memory resuming the ring");
			return 0;
		}
		vq->log = log;
		return (unsigned)n;
	}
	vq_log_init(vq, log);
	vq->log = log;
	return 0;
}

/* Standard event index test (VIRTIO 1.x 2.7.7.2): did [old, new) just
 * pass event? */
static bool
vring_need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

void
vq_flush(struct virtq *vq)
{
	static const uint64_t one = 1;
	uint16_t old, new_idx, event, flags;
	bool valid, signal;

	if (vq->broken || !vq_ready(vq))
		return;
	new_idx = vq->used_idx;
	old = vq->signalled_used;
	valid = vq->signalled_valid;
	if (new_idx == old)
		return;		/* nothing pushed since the last flush */

	/* The used entries become visible before the index. */
	__atomic_store_n(&vq->used->idx, new_idx, __ATOMIC_RELEASE);
	if (vq->log != NULL)
		vq_log_commit(vq, new_idx);
	/* The index is visible before we read the driver's wishes. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);

	vq->signalled_used = new_idx;
	vq->signalled_valid = true;
	if (vq->event_idx) {
		event = __atomic_load_n(vq_used_event(vq), __ATOMIC_RELAXED);
		signal = !valid || vring_need_event(event, new_idx, old);
	} else {
		flags = __atomic_load_n(&vq->avail->flags, __ATOMIC_RELAXED);
		signal = (flags & VRING_AVAIL_F_NO_INTERRUPT) == 0;
	}
	if (!signal || vq->call_fd < 0)
		return;
	vq->n_signals++;
	if (write(vq->call_fd, &one, sizeof(one)) != (ssize_t)sizeof(one) &&
	    errno != EAGAIN)
		log_rl(&vq->rl, LOG_WARNING, "%s: call eventfd: %s",
		    vq->name, strerror(errno));
}

void
vq_disable_notify(struct virtq *vq)
{
	if (vq->broken || !vq_ready(vq))
		return;
	vq->notify_off = true;
	/* With EVENT_IDX, avail_event simply stops following last_avail. */
	if (!vq->event_idx)
		__atomic_store_n(&vq->used->flags, VRING_USED_F_NO_NOTIFY,
		    __ATOMIC_RELAXED);
}

bool
vq_enable_notify(struct virtq *vq)
{
	if (vq->broken || !vq_ready(vq))
		return false;
	vq->notify_off = false;
	if (vq->event_idx)
		__atomic_store_n(vq_avail_event(vq), vq->last_avail,
		    __ATOMIC_RELAXED);
	else
		__atomic_store_n(&vq->used->flags, 0, __ATOMIC_RELAXED);
	/* The store is visible before we look at avail->idx again; the
	 * driver does the converse, so one of us sees the other. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return vq_has_avail(vq);
}

void
vq_iov_from(const struct iovec *iov, unsigned n, uint64_t off, void *dst,
    size_t len)
{
	uint8_t *d = dst;
	size_t k;

	for (; n > 0 && len > 0; iov++, n--) {
		if (off >= iov->iov_len) {
			off -= iov->iov_len;
			continue;
		}
		k = iov->iov_len - (size_t)off;
		if (k > len)
			k = len;
		memcpy(d, (uint8_t *)iov->iov_base + off, k);
		d += k;
		len -= k;
		off = 0;
	}
}

void
vq_iov_to(const struct iovec *iov, unsigned n, uint64_t off, const void *src,
    size_t len)
{
	const uint8_t *p = src;
	size_t k;

	for (; n > 0 && len > 0; iov++, n--) {
		if (off >= iov->iov_len) {
			off -= iov->iov_len;
			continue;
		}
		k = iov->iov_len - (size_t)off;
		if (k > len)
			k = len;
		memcpy((uint8_t *)iov->iov_base + off, p, k);
		p += k;
		len -= k;
		off = 0;
	}
}

unsigned
vq_iov_slice(const struct iovec *iov, unsigned n, uint64_t off, uint64_t len,
    struct iovec *out, unsigned max, size_t *got)
{
	unsigned k = 0;
	size_t take;

	*got = 0;
	for (; n > 0 && len > 0 && k < max; iov++, n--) {
		if (off >= iov->iov_len) {
			off -= iov->iov_len;
			continue;
		}
		take = iov->iov_len - (size_t)off;
		if (take > len)
			take = (size_t)len;
		out[k].iov_base = (uint8_t *)iov->iov_base + off;
		out[k].iov_len = take;
		k++;
		*got += take;
		len -= take;
		off = 0;
	}
	return k;
}
