/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Helpers shared by the libFuzzer targets of tests/fuzz: a reader that
 * takes bytes from the front of the input (zeros once it runs out, so
 * every input means something), the process's fd count, and quiet logs.
 * Header-only: each target is one file plus this.
 */
#ifndef VHOSTD_FUZZ_H
#define VHOSTD_FUZZ_H

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "log.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int	LLVMFuzzerInitialize(int *argc, char ***argv);

struct fz {
	const uint8_t	*p;
	size_t		 left;
};

static inline void
fz_init(struct fz *f, const uint8_t *data, size_t size)
{
	f->p = data;
	f->left = size;
}

/* Copies up to n bytes into out, zero-filling what the input lacks;
 * returns how many came from the input. */
static inline size_t
fz_bytes(struct fz *f, void *out, size_t n)
{
	size_t k = n < f->left ? n : f->left;

	memcpy(out, f->p, k);
	memset((uint8_t *)out + k, 0, n - k);
	f->p += k;
	f->left -= k;
	return k;
}

static inline uint8_t
fz_u8(struct fz *f)
{
	uint8_t v;

	fz_bytes(f, &v, sizeof(v));
	return v;
}

static inline uint16_t
fz_u16(struct fz *f)
{
	uint16_t v;

	fz_bytes(f, &v, sizeof(v));
	return v;
}

static inline uint32_t
fz_u32(struct fz *f)
{
	uint32_t v;

	fz_bytes(f, &v, sizeof(v));
	return v;
}

static inline uint64_t
fz_u64(struct fz *f)
{
	uint64_t v;

	fz_bytes(f, &v, sizeof(v));
	return v;
}

/* The number of open fds of this process (/proc/self/fd, less the
 * directory's own). */
static inline int
fz_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		abort();
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

static void
fz_log_discard(int prio, const char *msg)
{
	(void)prio;
	(void)msg;
}

/* Every log line is formatted (debug included, to run those paths) and
 * dropped, unless FUZZ_VERBOSE is set in the environment. */
static inline void
fz_quiet_logs(const char *ident)
{
	log_init(true, LOG_DEBUG, ident);
	if (getenv("FUZZ_VERBOSE") == NULL)
		log_set_sink(fz_log_discard);
}

#endif
