/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Guest memory table of a worker: the regions the front-end shared with
 * SET_MEM_TABLE / ADD_MEM_REG, mapped into this process, and translation of
 * guest-physical (descriptor) and front-end-virtual (ring) addresses to
 * host pointers with overflow-safe bounds checks.  Only workers use this:
 * main never maps guest memory.
 */
#ifndef VHOSTD_MEMTAB_H
#define VHOSTD_MEMTAB_H

#include <stddef.h>
#include <stdint.h>

#define MEMTAB_MAX_REGIONS	32

/* A region as the front-end describes it (all fields untrusted). */
struct mem_region_desc {
	uint64_t	gpa;		/* guest physical address of the start */
	uint64_t	size;		/* bytes */
	uint64_t	uva;		/* front-end virtual address of the start */
	uint64_t	mmap_offset;	/* offset of the start in the fd */
};

struct mem_region {
	struct mem_region_desc d;
	uint8_t		*host;		/* host address of d.gpa */
	void		*map_base;	/* what to munmap, NULL if not ours */
	size_t		 map_len;
};

struct memtab {
	struct mem_region r[MEMTAB_MAX_REGIONS];
	unsigned	n;
};

void	memtab_init(struct memtab *mt);

/*
 * Checks d (no overflow of gpa+size, uva+size, mmap_offset+size; size > 0;
 * no overlap in guest-physical or front-end-virtual space with an existing
 * region; offset+size within the file as fstat(2) reports it) and maps it
 * read/write, shared.  fd stays owned by the caller (it may close it after).
 * Returns 0, or -1 with errno: EINVAL bad region, EEXIST overlap,
 * ENOSPC table full, or mmap's errno.
 */
int	memtab_add(struct memtab *mt, const struct mem_region_desc *d, int fd);

/* Same checks without mapping: host is already valid for d->size bytes.
 * For tests and fuzzers that build fake guest memory. */
int	memtab_add_mapped(struct memtab *mt, const struct mem_region_desc *d,
	    void *host);

/* Removes (and unmaps) the region with exactly this gpa, size and uva.
 * Returns 0, or -1 with errno ENOENT. */
int	memtab_remove(struct memtab *mt, const struct mem_region_desc *d);

/* Removes and unmaps every region. */
void	memtab_clear(struct memtab *mt);

/*
 * Translates guest-physical [gpa, gpa+len).  Returns the host pointer of gpa
 * and sets *contig to the number of bytes, at most len, that lie in the
 * same region from there (the caller continues at gpa + *contig).  Returns
 * NULL if gpa lies in no region (or len is 0 and gpa lies in none).
 */
void	*memtab_gpa(const struct memtab *mt, uint64_t gpa, uint64_t len,
	    uint64_t *contig);

/* Translates front-end-virtual [uva, uva+len), which must lie whole in one
 * region.  Returns NULL otherwise. */
void	*memtab_uva(const struct memtab *mt, uint64_t uva, uint64_t len);

#endif
