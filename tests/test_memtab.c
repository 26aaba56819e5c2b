/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the guest memory table (src/memtab.c): region checks
 * (overflow, overlap, file size), translation of guest-physical and
 * front-end-virtual addresses at and across region edges, and real
 * mapping of a memfd as a front-end would share guest RAM.
 */
#include "config.h"

#include <sys/mman.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "memtab.h"

#define PAGE	4096

static uint8_t	 mem[4 * PAGE];

static struct mem_region_desc
rd(uint64_t gpa, uint64_t size, uint64_t uva, uint64_t off)
{
	struct mem_region_desc d = { gpa, size, uva, off };

	return d;
}

/* Two regions adjacent in guest-physical space, apart in host and
 * front-end-virtual space, and a third after a hole. */
static void
add_three(struct memtab *mt)
{
	struct mem_region_desc a = rd(0x10000, PAGE, 0x7f0000000000, 0);
	struct mem_region_desc b = rd(0x11000, PAGE, 0x7f0000100000, 0);
	struct mem_region_desc c = rd(0x20000, PAGE, 0x7f0000200000, 0);

	memtab_init(mt);
	assert_int_equal(memtab_add_mapped(mt, &a, mem), 0);
	assert_int_equal(memtab_add_mapped(mt, &b, mem + 2 * PAGE), 0);
	assert_int_equal(memtab_add_mapped(mt, &c, mem + 3 * PAGE), 0);
	assert_int_equal(mt->n, 3);
}

static void
test_gpa_translate(void **state)
{
	struct memtab mt;
	uint64_t contig;
	uint8_t *p;

	add_three(&mt);
	p = memtab_gpa(&mt, 0x10010, 16, &contig);
	assert_ptr_equal(p, mem + 0x10);
	assert_int_equal(contig, 16);

	/* Runs into the adjacent region: stops at the edge. */
	p = memtab_gpa(&mt, 0x10f00, 0x200, &contig);
	assert_ptr_equal(p, mem + 0xf00);
	assert_int_equal(contig, 0x100);
	p = memtab_gpa(&mt, 0x11000, 0x100, &contig);
	assert_ptr_equal(p, mem + 2 * PAGE);
	assert_int_equal(contig, 0x100);

	/* Last byte of a region, then the hole after it. */
	p = memtab_gpa(&mt, 0x11fff, 100, &contig);
	assert_ptr_equal(p, mem + 3 * PAGE - 1);
	assert_int_equal(contig, 1);
	contig = 99;
	assert_null(memtab_gpa(&mt, 0x12000, 1, &contig));
	assert_int_equal(contig, 0);
	assert_null(memtab_gpa(&mt, 0xffff, 1, &contig));
	assert_null(memtab_gpa(&mt, UINT64_MAX, 1, &contig));
	assert_null(memtab_gpa(&mt, 0, 0, &contig));

	/* len 0 inside a region: a pointer and no bytes. */
	p = memtab_gpa(&mt, 0x20000, 0, &contig);
	assert_ptr_equal(p, mem + 3 * PAGE);
	assert_int_equal(contig, 0);

	/* A huge len is only clipped, never added to the address. */
	p = memtab_gpa(&mt, 0x20800, UINT64_MAX, &contig);
	assert_ptr_equal(p, mem + 3 * PAGE + 0x800);
	assert_int_equal(contig, 0x800);
}

static void
test_uva_translate(void **state)
{
	struct memtab mt;

	add_three(&mt);
	assert_ptr_equal(memtab_uva(&mt, 0x7f0000100010, 0x20),
	    mem + 2 * PAGE + 0x10);
	assert_ptr_equal(memtab_uva(&mt, 0x7f0000000000, PAGE), mem);
	/* One byte too many. */
	assert_null(memtab_uva(&mt, 0x7f0000000000, PAGE + 1));
	assert_null(memtab_uva(&mt, 0x7f0000000fff, 2));
	/* In the hole of uva space. */
	assert_null(memtab_uva(&mt, 0x7f0000001000, 1));
	/* Overflowing length never wraps into a region. */
	assert_null(memtab_uva(&mt, 0x7f0000000010, UINT64_MAX));
	assert_null(memtab_uva(&mt, UINT64_MAX, 2));
}

static void
test_add_refused(void **state)
{
	struct memtab mt;
	struct mem_region_desc d;

	add_three(&mt);

	d = rd(0x40000, 0, 0x1000000, 0);
	errno = 0;
	assert_int_equal(memtab_add_mapped(&mt, &d, mem), -1);
	assert_int_equal(errno, EINVAL);

	d = rd(0xfffffffffffff000, 0x2000, 0x1000000, 0);
	errno = 0;
	assert_int_equal(memtab_add_mapped(&mt, &d, mem), -1);
	assert_int_equal(errno, EINVAL);

	/* End exactly at 2^64 wraps to 0: refused too. */
	d = rd(0xfffffffffffff000, 0x1000, 0x1000000, 0);
	assert_int_equal(memtab_add_mapped(&mt, &d, mem), -1);
	assert_int_equal(errno, EINVAL);

	d = rd(0x40000, 0x1000, 0xffffffffffffff00, 0);
	errno = 0;
	assert_int_equal(memtab_add_mapped(&mt, &d, mem), -1);
	assert_int_equal(errno, EINVAL);

	d = rd(0x40000, 0x1000, 0x1000000, 0xfffffffffffff800);
	errno = 0;
	assert_int_equal(memtab_add_mapped(&mt, &d, mem), -1);
	assert_int_equal(errno, EINVAL);

	/* Overlap in guest-physical space, by one byte at either end. */
	d = rd(0x20fff, 0x1000, 0x1000000, 0);
	errno = 0;
	assert_int_equal(memtab_add_mapped(&mt, &d, mem), -1);
	assert_int_equal(errno, EEXIST);
	d = rd(0x1f001, 0x1000, 0x1000000, 0);
	errno = 0;
	assert_int_equal(memtab_add_mapped(&mt, &d, mem), -1);
	assert_int_equal(errno, EEXIST);
	/* Containing an existing region. */
	d = rd(0x0, 0x100000, 0x1000000, 0);
	assert_int_equal(memtab_add_mapped(&mt, &d, mem), -1);
	assert_int_equal(errno, EEXIST);

	/* Overlap in front-end-virtual space only. */
	d = rd(0x40000, 0x1000, 0x7f00001007ff, 0);
	errno = 0;
	assert_int_equal(memtab_add_mapped(&mt, &d, mem), -1);
	assert_int_equal(errno, EEXIST);

	assert_int_equal(memtab_add_mapped(&mt, &d, NULL), -1);
	assert_int_equal(mt.n, 3);

	/* Adjacent on both sides is fine. */
	d = rd(0x1f000, 0x1000, 0x7f0000101000, 0);
	assert_int_equal(memtab_add_mapped(&mt, &d, mem + PAGE), 0);
	assert_int_equal(mt.n, 4);
}

static void
test_table_full(void **state)
{
	struct memtab mt;
	struct mem_region_desc d;
	unsigned i;

	memtab_init(&mt);
	for (i = 0; i < MEMTAB_MAX_REGIONS; i++) {
		d = rd(0x100000ULL * i, 0x1000, 0x100000000ULL + 0x100000ULL * i,
		    0);
		assert_int_equal(memtab_add_mapped(&mt, &d, mem), 0);
	}
	d = rd(0x100000ULL * i, 0x1000, 0x100000000ULL + 0x100000ULL * i, 0);
	errno = 0;
	assert_int_equal(memtab_add_mapped(&mt, &d, mem), -1);
	assert_int_equal(errno, ENOSPC);
	/* Translation reaches the last one. */
	assert_ptr_equal(memtab_gpa(&mt, 0x100000ULL * (i - 1) + 5, 1, NULL),
	    mem + 5);
}

static void
test_remove(void **state)
{
	struct memtab mt;
	struct mem_region_desc d;
	uint64_t contig;

	add_three(&mt);
	/* Must match exactly. */
	d = rd(0x11000, PAGE - 1, 0x7f0000100000, 0);
	errno = 0;
	assert_int_equal(memtab_remove(&mt, &d), -1);
	assert_int_equal(errno, ENOENT);
	d = rd(0x11000, PAGE, 0x7f0000100000, 0);
	assert_int_equal(memtab_remove(&mt, &d), 0);
	assert_int_equal(mt.n, 2);
	assert_null(memtab_gpa(&mt, 0x11000, 1, &contig));
	assert_null(memtab_uva(&mt, 0x7f0000100000, 1));
	/* The others are still there. */
	assert_ptr_equal(memtab_gpa(&mt, 0x10000, 1, &contig), mem);
	assert_ptr_equal(memtab_gpa(&mt, 0x20000, 1, &contig), mem + 3 * PAGE);
	errno = 0;
	assert_int_equal(memtab_remove(&mt, &d), -1);
	assert_int_equal(errno, ENOENT);
	/* The space is free again. */
	assert_int_equal(memtab_add_mapped(&mt, &d, mem + PAGE), 0);
	assert_ptr_equal(memtab_gpa(&mt, 0x11000, 1, &contig), mem + PAGE);
	memtab_clear(&mt);
	assert_int_equal(mt.n, 0);
	assert_null(memtab_gpa(&mt, 0x10000, 1, &contig));
}

static int
make_memfd(size_t size)
{
	int fd;

	fd = memfd_create("test_memtab", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	return fd;
}

static void
test_memfd(void **state)
{
	struct memtab mt;
	struct mem_region_desc d, e;
	uint64_t contig;
	uint8_t *p, buf[4];
	int fd;

	memtab_init(&mt);
	fd = make_memfd(4 * PAGE);

	/* Region = file bytes [PAGE + 8, 3 * PAGE + 8): offset not page
	 * aligned, and the mapping starts at file offset 0. */
	d = rd(0x100000, 2 * PAGE, 0x7f0000000000, PAGE + 8);
	assert_int_equal(memtab_add(&mt, &d, fd), 0);
	assert_int_equal(mt.n, 1);
	assert_non_null(mt.r[0].map_base);
	assert_int_equal(mt.r[0].map_len, 3 * PAGE + 8);
	p = memtab_gpa(&mt, 0x100000, 2 * PAGE, &contig);
	assert_ptr_equal(p, (uint8_t *)mt.r[0].map_base + PAGE + 8);
	assert_int_equal(contig, 2 * PAGE);
	assert_ptr_equal(memtab_uva(&mt, 0x7f0000000000 + 2 * PAGE - 4, 4),
	    p + 2 * PAGE - 4);

	/* Writes through the mapping land in the file at mmap_offset. */
	memcpy(p, "abcd", 4);
	memcpy(p + 2 * PAGE - 4, "wxyz", 4);
	assert_int_equal(pread(fd, buf, 4, PAGE + 8), 4);
	assert_memory_equal(buf, "abcd", 4);
	assert_int_equal(pread(fd, buf, 4, 3 * PAGE + 4), 4);
	assert_memory_equal(buf, "wxyz", 4);

	/* Past the end of the file by one byte: refused, nothing mapped. */
	e = rd(0x200000, 2 * PAGE, 0x7f0000100000, 2 * PAGE + 1);
	errno = 0;
	assert_int_equal(memtab_add(&mt, &e, fd), -1);
	assert_int_equal(errno, EINVAL);
	/* Exactly to the end: fine. */
	e.mmap_offset = 2 * PAGE;
	assert_int_equal(memtab_add(&mt, &e, fd), 0);
	assert_int_equal(mt.n, 2);

	/* Overlaps and overflows are refused before mapping. */
	e = rd(0x100000 + PAGE, PAGE, 0x7f0000200000, 0);
	errno = 0;
	assert_int_equal(memtab_add(&mt, &e, fd), -1);
	assert_int_equal(errno, EEXIST);
	e = rd(0x300000, PAGE, 0x7f0000000000 + PAGE, 0);
	errno = 0;
	assert_int_equal(memtab_add(&mt, &e, fd), -1);
	assert_int_equal(errno, EEXIST);
	e = rd(0x300000, PAGE, 0x7f0000200000, UINT64_MAX - 10);
	errno = 0;
	assert_int_equal(memtab_add(&mt, &e, fd), -1);
	assert_int_equal(errno, EINVAL);
	e = rd(UINT64_MAX - 10, PAGE, 0x7f0000200000, 0);
	errno = 0;
	assert_int_equal(memtab_add(&mt, &e, fd), -1);
	assert_int_equal(errno, EINVAL);
	e = rd(0x300000, 0, 0x7f0000200000, 0);
	errno = 0;
	assert_int_equal(memtab_add(&mt, &e, fd), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(mt.n, 2);

	/* Not a file. */
	e = rd(0x300000, PAGE, 0x7f0000200000, 0);
	errno = 0;
	assert_int_equal(memtab_add(&mt, &e, -1), -1);
	assert_int_equal(errno, EBADF);

	/* The caller keeps its fd: closing it leaves the mapping valid. */
	assert_int_equal(close(fd), 0);
	p = memtab_gpa(&mt, 0x100000, 4, &contig);
	assert_memory_equal(p, "abcd", 4);

	assert_int_equal(memtab_remove(&mt, &d), 0);
	assert_int_equal(mt.n, 1);
	assert_null(memtab_gpa(&mt, 0x100000, 1, &contig));
	assert_non_null(memtab_gpa(&mt, 0x200000, 1, &contig));
	memtab_clear(&mt);
	assert_int_equal(mt.n, 0);
	assert_null(memtab_gpa(&mt, 0x200000, 1, &contig));
}

/* A removed mapping is really gone (mincore fails with ENOMEM on an
 * unmapped page). */
static void
test_memfd_unmapped(void **state)
{
	struct memtab mt;
	struct mem_region_desc d;
	unsigned char vec[1];
	void *base;
	int fd;

	memtab_init(&mt);
	fd = make_memfd(PAGE);
	d = rd(0, PAGE, 0x1000, 0);
	assert_int_equal(memtab_add(&mt, &d, fd), 0);
	base = mt.r[0].map_base;
	assert_int_equal(mincore(base, PAGE, vec), 0);
	memtab_clear(&mt);
	errno = 0;
	assert_int_equal(mincore(base, PAGE, vec), -1);
	assert_int_equal(errno, ENOMEM);
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gpa_translate),
		cmocka_unit_test(test_uva_translate),
		cmocka_unit_test(test_add_refused),
		cmocka_unit_test(test_table_full),
		cmocka_unit_test(test_remove),
		cmocka_unit_test(test_memfd),
		cmocka_unit_test(test_memfd_unmapped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
