/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: the split virtqueue engine (src/virtq.c) and the guest
 * memory table's translation (src/memtab.c) over hostile guest memory
 * layouts and hostile rings.
 *
 * Input, read from the front (zeros where it runs out):
 *   nreg      1 byte: 1 + n % 3 regions
 *   per region:
 *     size    4 bytes: 1 + n % 1 MiB
 *     place   1 byte: 0-3 right after the previous region (adjacent in
 *             guest-physical space: buffers get split), 4-5 a hole of
 *             (byte) pages after it, 6 at the gpa given by the next 8
 *             bytes, 7 ending at the last address below 2^64
 *     (front-end virtual addresses: the regions are 4 GiB apart)
 *   qsize     1 byte: 1 << (n % 16)
 *   ring placement, for the descriptor, avail and used rings in turn:
 *     1 byte region, 1 byte mode (0 at the given offset aligned down,
 *     1 flush with the region's end, 2 unaligned offset as given),
 *     4 bytes offset
 *   flags     1 byte: bit 0 EVENT_IDX, bit 1 INDIRECT_DESC, bits 2-7 how
 *             many segments the caller's iovec array has (1 + n)
 *   last      2 bytes: the avail index the queue resumes at
 *   desc_len  2 bytes, avail_len 2 bytes: how many of the bytes that
 *             follow go over the descriptor table and the avail ring
 *             (the rest, from offset 0 of region 0 on, region after
 *             region, is where indirect tables and buffers live)
 * The descriptor and avail bytes are written last, over the blob.  Then
 * the queue is set up and popped until empty or broken, every request
 * pushed back, flushed after each.  Each returned segment must lie whole
 * in the host buffer of one region (each buffer is allocated to its exact
 * size, so AddressSanitizer sees a byte beyond), and the segment lengths
 * must add up to the request's totals.
 */
#include "config.h"

#include "memtab.h"
#include "virtq.h"
#include "fuzz.h"

#define FZ_MAX_REGIONS	3
#define FZ_REGION_MAX	(1u << 20)
#define FZ_IOV_MAX	64

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fz_quiet_logs("fuzz_virtq");
	return 0;
}

struct fz_region {
	uint8_t		*host;
	uint64_t	 gpa, uva, size;
};

static bool
in_one_region(const struct fz_region *r, unsigned n, const struct iovec *v)
{
	unsigned i;
	uintptr_t b = (uintptr_t)v->iov_base;

	for (i = 0; i < n; i++) {
		uintptr_t h = (uintptr_t)r[i].host;

		if (r[i].host != NULL && b >= h && b - h < r[i].size &&
		    v->iov_len <= r[i].size - (b - h))
			return true;
	}
	return false;
}

static void
check_req(const struct fz_region *r, unsigned n, const struct vq_req *req,
    const struct iovec *iov, unsigned iov_max, uint16_t num)
{
	uint64_t sum = 0;
	unsigned i;

	if (req->head >= num || req->n_out + req->n_in > iov_max ||
	    req->out != iov || (req->n_in > 0 && req->in != iov + req->n_out))
		abort();
	for (i = 0; i < req->n_out; i++) {
		if (req->out[i].iov_len == 0 ||
		    !in_one_region(r, n, &req->out[i]))
			abort();
		sum += req->out[i].iov_len;
	}
	if (sum != req->out_len)
		abort();
	for (sum = 0, i = 0; i < req->n_in; i++) {
		if (req->in[i].iov_len == 0 ||
		    !in_one_region(r, n, &req->in[i]))
			abort();
		sum += req->in[i].iov_len;
	}
	if (sum != req->in_len)
		abort();
	if (req->out_len > UINT32_MAX || req->in_len > UINT32_MAX)
		abort();
}

/* Where a ring of len bytes goes; returns its uva. */
static uint64_t
place_ring(struct fz *f, const struct fz_region *r, unsigned n, uint64_t len,
    uint64_t align)
{
	const struct fz_region *g = &r[fz_u8(f) % n];
	uint8_t mode = fz_u8(f) % 3;
	uint64_t off = fz_u32(f);

	if (g->host == NULL)
		return off;
	switch (mode) {
	case 0:
		off = (off % g->size) & ~(align - 1);
		break;
	case 1:
		off = len <= g->size ? (g->size - len) & ~(align - 1) :
		    g->size;
		break;
	default:
		off %= g->size + 8;
		break;
	}
	return g->uva + off;
}

static void
write_uva(const struct fz_region *r, unsigned n, uint64_t uva,
    const uint8_t *src, size_t len)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		if (r[i].host == NULL || uva < r[i].uva ||
		    uva - r[i].uva >= r[i].size)
			continue;
		if (len > r[i].size - (uva - r[i].uva))
			len = r[i].size - (uva - r[i].uva);
		memcpy(r[i].host + (uva - r[i].uva), src, len);
		return;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_region r[FZ_MAX_REGIONS];
	struct mem_region_desc d;
	struct memtab mt;
	struct virtq vq;
	struct vq_req req;
	struct iovec iov[FZ_IOV_MAX];
	struct fz f;
	uint64_t desc_uva, avail_uva, used_uva, prev_end = 0;
	uint16_t num, last, desc_len, avail_len;
	uint8_t flags, tmp[4096];
	unsigned n, i, iov_max, rounds;
	size_t blob_off;
	int rc;

	fz_init(&f, data, size);
	memset(r, 0, sizeof(r));
	memtab_init(&mt);
	n = 1 + fz_u8(&f) % FZ_MAX_REGIONS;
	for (i = 0; i < n; i++) {
		uint8_t place;

		r[i].size = 1 + fz_u32(&f) % FZ_REGION_MAX;
		place = fz_u8(&f) % 8;
		if (place < 4)
			r[i].gpa = prev_end;
		else if (place < 6)
			r[i].gpa = prev_end + 4096 * (uint64_t)fz_u8(&f);
		else if (place == 6)
			r[i].gpa = fz_u64(&f);
		else
			r[i].gpa = UINT64_MAX - r[i].size;
		r[i].uva = UINT64_C(0x7f0000000000) + ((uint64_t)i << 32);
		d.gpa = r[i].gpa;
		d.size = r[i].size;
		d.uva = r[i].uva;
		d.mmap_offset = 0;
		if ((r[i].host = calloc(1, r[i].size)) == NULL)
			abort();
		if (memtab_add_mapped(&mt, &d, r[i].host) == -1) {
			/* Overlap or overflow: refused, as it must be. */
			free(r[i].host);
			r[i].host = NULL;
			continue;
		}
		prev_end = r[i].gpa + r[i].size;
	}

	num = (uint16_t)(1u << (fz_u8(&f) % 16));
	desc_uva = place_ring(&f, r, n, 16ULL * num, 16);
	avail_uva = place_ring(&f, r, n, 6ULL + 2ULL * num, 2);
	used_uva = place_ring(&f, r, n, 6ULL + 8ULL * num, 4);
	flags = fz_u8(&f);
	iov_max = 1 + (flags >> 2) % FZ_IOV_MAX;
	last = fz_u16(&f);
	desc_len = fz_u16(&f);
	avail_len = fz_u16(&f);
	if (desc_len > f.left)
		desc_len = (uint16_t)f.left;
	{
		const uint8_t *dp = f.p, *ap;

		f.p += desc_len;
		f.left -= desc_len;
		if (avail_len > f.left)
			avail_len = (uint16_t)f.left;
		ap = f.p;
		f.p += avail_len;
		f.left -= avail_len;
		/* The blob, over the regions in turn. */
		blob_off = 0;
		for (i = 0; i < n && f.left > 0; i++) {
			size_t k;

			if (r[i].host == NULL)
				continue;
			k = f.left < r[i].size ? f.left : r[i].size;
			memcpy(r[i].host, f.p, k);
			f.p += k;
			f.left -= k;
			blob_off += k;
		}
		write_uva(r, n, desc_uva, dp, desc_len);
		write_uva(r, n, avail_uva, ap, avail_len);
	}

	vq_init(&vq, "fuzz queue");
	if (vq_setup(&vq, &mt, num, desc_uva, avail_uva, used_uva, last,
	    flags & 1, (flags >> 1) & 1) == -1)
		goto out;
	/* Rings whole inside a region, by vq_setup's contract. */
	{
		struct iovec rv[3] = {
			{ vq.desc, 16u * num },
			{ vq.avail, 6u + 2u * num },
			{ vq.used, 6u + 8u * num },
		};

		for (i = 0; i < 3; i++)
			if (!in_one_region(r, n, &rv[i]))
				abort();
	}
	for (rounds = 0; rounds <= (unsigned)num + 1; rounds++) {
		if (rounds & 1)
			vq_disable_notify(&vq);
		rc = vq_pop(&vq, &req, iov, iov_max);
		if (rc == 1) {
			check_req(r, n, &req, iov, iov_max, num);
			/* Touch every byte as a device would. */
			for (i = 0; i < req.n_out; i++)
				memcpy(tmp, req.out[i].iov_base,
				    req.out[i].iov_len < sizeof(tmp) ?
				    req.out[i].iov_len : sizeof(tmp));
			for (i = 0; i < req.n_in; i++)
				memset(req.in[i].iov_base, 0x5a,
				    req.in[i].iov_len < sizeof(tmp) ?
				    req.in[i].iov_len : sizeof(tmp));
			vq_push(&vq, req.head, (uint32_t)req.in_len);
			vq_flush(&vq);
			if (vq.broken)
				abort();	/* our own push broke it */
		} else if (rc == 0) {
			if (!vq_enable_notify(&vq))
				break;
		} else {
			if (!vq.broken)
				abort();
			break;
		}
	}
	(void)vq_has_avail(&vq);
	/* The rings move with a new table: same addresses, same result. */
	if (!vq.broken && vq_remap(&vq, desc_uva, avail_uva, used_uva) != 0)
		abort();
	vq_teardown(&vq);
out:
	(void)blob_off;
	memtab_clear(&mt);
	for (i = 0; i < n; i++)
		free(r[i].host);
	return 0;
}
