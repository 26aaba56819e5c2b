/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * This machine's floors, measured in the same run as the figures they are
 * read against:
 *
 *   shm	two processes on two CPUs bounce one cache line: the parent
 *		writes an odd number, the child answers with the next even
 *		one.  The round trip is what any shared-memory request and
 *		completion costs at least (a busy-polling back-end and a
 *		busy-polling driver).
 *   eventfd	two processes on two CPUs, each blocked in read(2) on its
 *		eventfd, wake each other: what a kick and a call cost at
 *		least when both sides sleep.
 *   getrandom	getrandom(2) throughput at the request size and at 64 KiB
 *		(the best of several windows): what an entropy device
 *		serving from the kernel's CSPRNG can reach at most.
 *
 * Each ping-pong is run as many short batches within a time budget; the
 * figure is the best batch's mean (other load on the machine only ever
 * makes a batch slower), and the median of the batch means is given too.
 */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

/* Many short batches, within a time budget: on a loaded machine (or a VM
 * whose vCPUs are not always running) some batch still runs clean. */
#define SHM_BATCHES	200
#define SHM_ROUNDS	1000
#define SHM_BUDGET_NS	200000000ULL
#define EFD_BATCHES	64
#define EFD_ROUNDS	100
#define EFD_BUDGET_NS	400000000ULL
#define GRND_NS		150000000ULL	/* per size */
#define GRND_WINDOWS	8
#define SPIN_LIMIT_NS	2000000000ULL	/* a stuck peer */

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Two CPUs this process may run on, or -1. */
static void
two_cpus(int *a, int *b)
{
	cpu_set_t set;
	int i;

	*a = *b = -1;
	if (sched_getaffinity(0, sizeof(set), &set) == -1)
		return;
	for (i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &set)) {
			if (*a == -1)
				*a = i;
			else {
				*b = i;
				return;
			}
		}
}

static void
pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

/* Mean of each batch (ns per round trip) into out; 0 if the child could
 * not be started. */
static double
shm_pingpong(int ca, int cb, double *median)
{
	volatile uint64_t *line;
	double mean[SHM_BATCHES], best;
	uint64_t i, t0, x, spin_start, start;
	cpu_set_t saved;
	pid_t pid;
	int b, nb, status;

	line = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED |
	    MAP_ANONYMOUS, -1, 0);
	if (line == MAP_FAILED)
		return 0;
	*line = 0;
	if ((pid = fork()) == -1) {
		munmap((void *)line, 4096);
		return 0;
	}
	if (pid == 0) {
		pin(cb);
		/* Answer each odd value with the next even one; stop at 0
		 * after a start, or when the parent goes. */
		for (;;) {
			while (((x = __atomic_load_n(line, __ATOMIC_ACQUIRE)) &
			    1) == 0) {
				if (x == UINT64_MAX - 1)
					_exit(0);
				cpu_relax();
			}
			__atomic_store_n(line, x + 1, __ATOMIC_RELEASE);
		}
	}
	sched_getaffinity(0, sizeof(saved), &saved);
	pin(ca);
	x = 0;
	start = now_ns();
	for (b = 0; b < SHM_BATCHES && (b < 5 ||
	    now_ns() - start < SHM_BUDGET_NS); b++) {
		t0 = now_ns();
		for (i = 0; i < SHM_ROUNDS; i++) {
			__atomic_store_n(line, x + 1, __ATOMIC_RELEASE);
			spin_start = 0;
			while (__atomic_load_n(line, __ATOMIC_ACQUIRE) !=
			    x + 2) {
				cpu_relax();
				/* The child may not run at all for a while
				 * on a loaded machine; never forever. */
				if ((++spin_start & 0xffff) == 0 &&
				    now_ns() - t0 > SPIN_LIMIT_NS)
					goto stuck;
			}
			x += 2;
		}
		mean[b] = (double)(now_ns() - t0) / SHM_ROUNDS;
	}
	nb = b;
	__atomic_store_n(line, UINT64_MAX - 1, __ATOMIC_RELEASE);
	waitpid(pid, &status, 0);
	sched_setaffinity(0, sizeof(saved), &saved);
	munmap((void *)line, 4096);
	qsort(mean, (size_t)nb, sizeof(mean[0]), cmp_double);
	best = mean[0];
	*median = mean[nb / 2];
	return best;
stuck:
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	sched_setaffinity(0, sizeof(saved), &saved);
	munmap((void *)line, 4096);
	return 0;
}

static double
efd_pingpong(int ca, int cb, double *median)
{
	double mean[EFD_BATCHES], best;
	int ping, pong, b, nb, i, status;
	uint64_t v = 1, t0, start;
	cpu_set_t saved;
	pid_t pid;

	ping = eventfd(0, EFD_CLOEXEC);
	pong = eventfd(0, EFD_CLOEXEC);
	if (ping == -1 || pong == -1)
		return 0;
	if ((pid = fork()) == -1)
		return 0;
	if (pid == 0) {
		pin(cb);
		for (;;) {
			if (read(ping, &v, sizeof(v)) != sizeof(v))
				_exit(1);
			if (v > 1)	/* the end */
				_exit(0);
			if (write(pong, &v, sizeof(v)) != sizeof(v))
				_exit(1);
		}
	}
	sched_getaffinity(0, sizeof(saved), &saved);
	pin(ca);
	start = now_ns();
	for (b = 0; b < EFD_BATCHES && (b < 5 ||
	    now_ns() - start < EFD_BUDGET_NS); b++) {
		t0 = now_ns();
		for (i = 0; i < EFD_ROUNDS; i++) {
			v = 1;
			if (write(ping, &v, sizeof(v)) != sizeof(v) ||
			    read(pong, &v, sizeof(v)) != sizeof(v))
				goto fail;
		}
		mean[b] = (double)(now_ns() - t0) / EFD_ROUNDS / 1000.0;
	}
	nb = b;
	v = 2;
	if (write(ping, &v, sizeof(v)) != sizeof(v))
		goto fail;
	waitpid(pid, &status, 0);
	sched_setaffinity(0, sizeof(saved), &saved);
	close(ping);
	close(pong);
	qsort(mean, (size_t)nb, sizeof(mean[0]), cmp_double);
	best = mean[0];
	*median = mean[nb / 2];
	return best;
fail:
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	sched_setaffinity(0, sizeof(saved), &saved);
	close(ping);
	close(pong);
	return 0;
}

/* MB/s (10^6 bytes) of getrandom(2) in calls of size bytes: the best of
 * GRND_WINDOWS windows of GRND_NS / GRND_WINDOWS each. */
static double
grnd_mbps(uint32_t size)
{
	uint64_t t0, t, bytes;
	double best = 0, mbps;
	uint8_t *buf;
	ssize_t n;
	size_t off;
	unsigned k;
	int w;

	if (size == 0 || (buf = malloc(size)) == NULL)
		return 0;
	for (w = 0; w < GRND_WINDOWS; w++) {
		bytes = 0;
		k = 0;
		t0 = now_ns();
		do {
			for (off = 0; off < size; off += (size_t)n) {
				n = getrandom(buf + off, size - off, 0);
				if (n == -1 && errno == EINTR) {
					n = 0;
					continue;
				}
				if (n <= 0) {
					free(buf);
					return 0;
				}
			}
			bytes += size;
			/* The clock every 16 fills: at 64 B a read per call
			 * would be a good part of what is measured. */
		} while ((++k & 15) != 0 ||
		    (t = now_ns()) - t0 < GRND_NS / GRND_WINDOWS);
		mbps = (double)bytes * 1000.0 / (double)(t - t0);
		if (mbps > best)
			best = mbps;
	}
	free(buf);
	return best;
}

void
floors_measure(struct floors *f, uint32_t size, bool rng)
{
	memset(f, 0, sizeof(*f));
	two_cpus(&f->cpu_a, &f->cpu_b);
	/* On one CPU a spinning peer only runs when the other is
	 * preempted: no floor to speak of. */
	if (f->cpu_b != -1)
		f->shm_rtt_ns = shm_pingpong(f->cpu_a, f->cpu_b,
		    &f->shm_rtt_ns_median);
	f->efd_rtt_us = efd_pingpong(f->cpu_a, f->cpu_b, &f->efd_rtt_us_median);
	if (rng)
		f->grnd_mbps_size = grnd_mbps(size);
	f->grnd_mbps_64k = grnd_mbps(65536);
}
