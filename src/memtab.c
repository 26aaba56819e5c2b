/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Guest memory table of a worker: maps the regions the front-end shared
 * and translates guest-physical and front-end-virtual addresses into host
 * pointers.  Security model: every field of a region description comes
 * from the front-end and every address translated here comes from the
 * guest; no sum of two of them is computed before it is known not to
 * overflow, and a translation never yields a byte outside one region.
 * The table is small (MEMTAB_MAX_REGIONS), so lookups are linear.
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "memtab.h"

void
memtab_init(struct memtab *mt)
{
	memset(mt, 0, sizeof(*mt));
}

/* True if [a, a + alen) and [b, b + blen) share a byte; neither sum
 * overflows (checked by memtab_check before). */
static int
range_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/*
 * Checks a region description against itself and the table: size > 0, no
 * end past 2^64 - 1 in any of the three spaces, no overlap with a region
 * already there in guest-physical or front-end-virtual space.  Returns 0,
 * or -1 with errno ENOSPC, EINVAL or EEXIST.
 */
static int
memtab_check(const struct memtab *mt, const struct mem_region_desc *d)
{
	const struct mem_region_desc *o;
	unsigned i;

	if (mt->n >= MEMTAB_MAX_REGIONS) {
		errno = ENOSPC;
		return -1;
	}
	if (d->size == 0 ||
	    d->gpa > UINT64_MAX - d->size ||
	    d->uva > UINT64_MAX - d->size ||
	    d->mmap_offset > UINT64_MAX - d->size ||
	    d->size > SIZE_MAX) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < mt->n; i++) {
		o = &mt->r[i].d;
		if (range_overlap(d->gpa, d->size, o->gpa, o->size) ||
		    range_overlap(d->uva, d->size, o->uva, o->size)) {
			errno = EEXIST;
			return -1;
		}
	}
	return 0;
}

static void
memtab_insert(struct memtab *mt, const struct mem_region_desc *d,
    uint8_t *host, void *map_base, size_t map_len)
{
	struct mem_region *r = &mt->r[mt->n++];

	r->d = *d;
	r->host = host;
	r->map_base = map_base;
	r->map_len = map_len;
}

int
memtab_add(struct memtab *mt, const struct mem_region_desc *d, int fd)
{
	struct stat st;
	uint64_t end;
	void *base;

	if (memtab_check(mt, d) == -1)
		return -1;
	if (fstat(fd, &st) == -1)
		return -1;
	/* mmap_offset + size does not overflow (memtab_check). */
	end = d->mmap_offset + d->size;
	if (st.st_size < 0 || end > (uint64_t)st.st_size || end > SIZE_MAX) {
		errno = EINVAL;
		return -1;
	}
	/*
	 * Map from the start of the file, as the vhost-user specification
	 * has it: mmap_offset need not be page aligned.
	 */
	base = mmap(NULL, (size_t)end, PROT_READ | PROT_WRITE, MAP_SHARED,
	    fd, 0);
	if (base == MAP_FAILED)
		return -1;
	memtab_insert(mt, d, (uint8_t *)base + d->mmap_offset, base,
	    (size_t)end);
	return 0;
}

int
memtab_add_mapped(struct memtab *mt, const struct mem_region_desc *d,
    void *host)
{
	if (host == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (memtab_check(mt, d) == -1)
		return -1;
	memtab_insert(mt, d, host, NULL, 0);
	return 0;
}

static void
memtab_unmap(struct mem_region *r)
{
	if (r->map_base != NULL)
		(void)munmap(r->map_base, r->map_len);
	memset(r, 0, sizeof(*r));
}

int
memtab_remove(struct memtab *mt, const struct mem_region_desc *d)
{
	unsigned i;

	for (i = 0; i < mt->n; i++) {
		if (mt->r[i].d.gpa != d->gpa || mt->r[i].d.size != d->size ||
		    mt->r[i].d.uva != d->uva)
			continue;
		memtab_unmap(&mt->r[i]);
		memmove(&mt->r[i], &mt->r[i + 1],
		    (mt->n - i - 1) * sizeof(mt->r[0]));
		mt->n--;
		memset(&mt->r[mt->n], 0, sizeof(mt->r[0]));
		return 0;
	}
	errno = ENOENT;
	return -1;
}

void
memtab_clear(struct memtab *mt)
{
	unsigned i;

	for (i = 0; i < mt->n; i++)
		memtab_unmap(&mt->r[i]);
	mt->n = 0;
}

void *
memtab_gpa(const struct memtab *mt, uint64_t gpa, uint64_t len,
    uint64_t *contig)
{
	const struct mem_region *r;
	uint64_t off, left;
	unsigned i;

	for (i = 0; i < mt->n; i++) {
		r = &mt->r[i];
		if (gpa < r->d.gpa)
			continue;
		off = gpa - r->d.gpa;
		if (off >= r->d.size)
			continue;
		left = r->d.size - off;
		if (contig != NULL)
			*contig = len < left ? len : left;
		return r->host + off;
	}
	if (contig != NULL)
		*contig = 0;
	return NULL;
}

void *
memtab_uva(const struct memtab *mt, uint64_t uva, uint64_t len)
{
	const struct mem_region *r;
	uint64_t off;
	unsigned i;

	for (i = 0; i < mt->n; i++) {
		r = &mt->r[i];
		if (uva < r->d.uva)
			continue;
		off = uva - r->d.uva;
		if (off >= r->d.size)
			continue;
		if (len > r->d.size - off)
			return NULL;
		return r->host + off;
	}
	return NULL;
}
