/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What vubench reads in /proc about the back-end's processes: CPU time
 * (per thread, from schedstat's nanoseconds, else utime + stime of stat in
 * clock ticks), the process tree under a pid, PSS (smaps_rollup), context
 * switches (status), and which unix sockets listen (net/unix).
 */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

/* CPU ns of one task from its schedstat (first field), -1 if none. */
static int64_t
task_schedstat(const char *dir)
{
	char path[512];
	unsigned long long ns;
	FILE *f;
	int n;

	snprintf(path, sizeof(path), "%s/schedstat", dir);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fscanf(f, "%llu", &ns);
	fclose(f);
	return n == 1 ? (int64_t)ns : -1;
}

/* utime + stime of /proc/PID/stat (all threads, dead ones too), in ns. */
static int64_t
proc_stat_ns(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	long tck = sysconf(_SC_CLK_TCK);
	ssize_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = (ssize_t)fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* "pid (comm) S ppid ..." : comm may hold anything, ')' too. */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu "
	    "%llu", &ut, &st) != 2 || tck <= 0)
		return -1;
	return (int64_t)((ut + st) * (1000000000ULL / (unsigned long long)tck));
}

int64_t
proc_cpu_ns(pid_t pid)
{
	char dir[64], tdir[320];
	struct dirent *de;
	int64_t sum = 0, v;
	bool any = false;
	DIR *dp;

	snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
	if ((dp = opendir(dir)) != NULL) {
		while ((de = readdir(dp)) != NULL) {
			if (!isdigit((unsigned char)de->d_name[0]))
				continue;
			snprintf(tdir, sizeof(tdir), "%s/%s", dir, de->d_name);
			if ((v = task_schedstat(tdir)) < 0) {
				any = false;
				break;
			}
			sum += v;
			any = true;
		}
		closedir(dp);
		if (any)
			return sum;
	}
	return proc_stat_ns(pid);
}

static unsigned
tree_add(pid_t pid, pid_t *out, unsigned n, unsigned max)
{
	char dir[64], path[384], buf[8192], *p, *end;
	struct dirent *de;
	pid_t kids[1024];
	unsigned nk = 0, i;
	size_t len;
	long v;
	DIR *dp;
	FILE *f;

	if (n >= max)
		return n;
	for (i = 0; i < n; i++)
		if (out[i] == pid)
			return n;
	out[n++] = pid;
	snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
	if ((dp = opendir(dir)) == NULL)
		return n;
	while ((de = readdir(dp)) != NULL && nk < 1024) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "%s/%s/children", dir,
		    de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		len = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[len] = '\0';
		for (p = buf; nk < 1024; p = end) {
			v = strtol(p, &end, 10);
			if (end == p)
				break;
			kids[nk++] = (pid_t)v;
		}
	}
	closedir(dp);
	for (i = 0; i < nk; i++)
		n = tree_add(kids[i], out, n, max);
	return n;
}

unsigned
proc_tree(pid_t pid, pid_t *out, unsigned max)
{
	return tree_add(pid, out, 0, max);
}

void
cpu_snap(struct cpuset_snap *s)
{
	const unsigned max = sizeof(s->pid) / sizeof(s->pid[0]);
	unsigned i, k;
	pid_t tree[BENCH_MAX_DEVS + BENCH_MAX_PIDS];
	unsigned nt;
	int64_t ns;

	s->n = 0;
	for (i = 0; i < O.npids && s->n < max; i++)
		s->pid[s->n++] = O.pids[i];
	for (i = 0; i < O.ntrees; i++) {
		nt = proc_tree(O.trees[i], tree, max);
		for (k = 0; k < nt && s->n < max; k++)
			s->pid[s->n++] = tree[k];
	}
	for (i = 0; i < s->n; i++) {
		ns = proc_cpu_ns(s->pid[i]);
		s->ns[i] = ns < 0 ? UINT64_MAX : (uint64_t)ns;
	}
}

uint64_t
cpu_delta(const struct cpuset_snap *a, const struct cpuset_snap *b,
    unsigned *gone)
{
	uint64_t sum = 0, base;
	unsigned i, k;

	*gone = 0;
	for (i = 0; i < a->n; i++) {
		for (k = 0; k < b->n && b->pid[k] != a->pid[i]; k++)
			;
		if (k == b->n || b->ns[k] == UINT64_MAX)
			(*gone)++;
	}
	for (k = 0; k < b->n; k++) {
		if (b->ns[k] == UINT64_MAX)
			continue;
		/* A pid counted twice (given and in a tree) counts once. */
		for (i = 0; i < k && b->pid[i] != b->pid[k]; i++)
			;
		if (i < k)
			continue;
		base = 0;
		for (i = 0; i < a->n; i++)
			if (a->pid[i] == b->pid[k] && a->ns[i] != UINT64_MAX) {
				base = a->ns[i];
				break;
			}
		if (b->ns[k] > base)
			sum += b->ns[k] - base;
	}
	return sum;
}

long
proc_pss_kb(pid_t pid, long *uss_kb)
{
	char path[64], line[256];
	long kb = -1, uss = 0;
	FILE *f;

	*uss_kb = -1;
	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "Pss:", 4) == 0)
			kb = strtol(line + 4, NULL, 10);
		else if (strncmp(line, "Private_Clean:", 14) == 0)
			uss += strtol(line + 14, NULL, 10);
		else if (strncmp(line, "Private_Dirty:", 14) == 0)
			uss += strtol(line + 14, NULL, 10);
	fclose(f);
	if (kb >= 0)
		*uss_kb = uss;
	return kb;
}

uint64_t
proc_ctxsw(pid_t pid)
{
	char dir[64], path[384], line[256];
	struct dirent *de;
	uint64_t sum = 0;
	DIR *dp;
	FILE *f;

	snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
	if ((dp = opendir(dir)) == NULL)
		return 0;
	while ((de = readdir(dp)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "%s/%s/status", dir, de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		while (fgets(line, sizeof(line), f) != NULL)
			if (strncmp(line, "voluntary_ctxt_switches:", 24) == 0)
				sum += strtoull(line + 24, NULL, 10);
			else if (strncmp(line, "nonvoluntary_ctxt_switches:",
			    27) == 0)
				sum += strtoull(line + 27, NULL, 10);
		fclose(f);
	}
	closedir(dp);
	return sum;
}

void
loadavg(char *buf, size_t len)
{
	char tmp[128];
	double a, b, c;
	FILE *f;

	snprintf(buf, len, "?");
	if ((f = fopen("/proc/loadavg", "r")) == NULL)
		return;
	if (fgets(tmp, sizeof(tmp), f) != NULL &&
	    sscanf(tmp, "%lf %lf %lf", &a, &b, &c) == 3)
		snprintf(buf, len, "%.2f %.2f %.2f", a, b, c);
	fclose(f);
}

/*
 * /proc/net/unix: "Num RefCount Protocol Flags Type St Inode Path"; a
 * listening socket has __SO_ACCEPTCON (0x10000) in Flags.
 */
bool
unix_listening(const char *const *paths, unsigned n)
{
	char line[512], path[256];
	unsigned long flags;
	unsigned found = 0, i;
	bool *seen;
	FILE *f;

	if ((seen = calloc(n, sizeof(*seen))) == NULL)
		return false;
	if ((f = fopen("/proc/net/unix", "r")) == NULL) {
		free(seen);
		return false;
	}
	while (found < n && fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%*s %*s %*s %lx %*s %*s %*s %255s", &flags,
		    path) != 2 || !(flags & 0x10000))
			continue;
		for (i = 0; i < n; i++)
			if (!seen[i] && strcmp(paths[i], path) == 0) {
				seen[i] = true;
				found++;
				break;
			}
	}
	fclose(f);
	free(seen);
	return found == n;
}
