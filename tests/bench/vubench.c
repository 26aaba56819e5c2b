/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vubench: a benchmark for any vhost-user back-end (tests/bench/README).
 * It plays the VMM and the guest driver of virtio-rng, virtio-gpio,
 * virtio-i2c or virtio-vsock devices over one or more vhost-user sockets
 * (one thread per socket), keeps --depth requests in flight per queue for
 * a fixed time or number of requests, and reports requests/s, bytes/s,
 * latency percentiles, the back-end's CPU time per request (--pid,
 * --pid-tree) and, measured in the same run, this machine's floors with
 * the figures' ratios to them.  Every request must complete exactly once
 * with a correct result: vubench exits 1 otherwise.  --scale N starts a
 * vhostd with N devices and measures its start, memory, aggregate
 * throughput and idle wake-ups (scale.c).
 *
 *	vubench --socket S --type gpio --depth 32 --completion poll
 *	vubench --socket S --type rng --size 65536 --pid-tree $(pidof vhostd)
 *	vubench --scale 256 --vhostd build/src/vhostd
 *
 * Exit status: 0 every request completed once and correctly; 1 wrong
 * results, protocol errors or requests lost; 2 usage; 3 a device could
 * not be set up; 4 (--scale) vhostd refused the configuration.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

struct opts		O;
_Atomic int		phase;
pthread_barrier_t	start_barrier;
uint64_t		clk_mult = 1ULL << 32;

/* ---- clock, histogram ---- */

uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

void
clk_init(void)
{
#if defined(__x86_64__)
	uint64_t t0, t1, c0, c1;
	struct timespec ts = { 0, 50000000 };

	t0 = now_ns();
	c0 = clk_ticks();
	nanosleep(&ts, NULL);
	t1 = now_ns();
	c1 = clk_ticks();
	if (c1 > c0 && t1 > t0)
		clk_mult = (uint64_t)(((unsigned __int128)(t1 - t0) << 32) /
		    (c1 - c0));
#endif
}

void
hist_merge(struct hist *into, const struct hist *h)
{
	unsigned i;

	for (i = 0; i < HIST_N; i++)
		into->b[i] += h->b[i];
	into->count += h->count;
	into->sum += h->sum;
	if (h->max > into->max)
		into->max = h->max;
}

uint64_t
hist_quantile(const struct hist *h, double q)
{
	uint64_t rank, seen = 0, lo, width;
	unsigned i, k;

	if (h->count == 0)
		return 0;
	rank = (uint64_t)ceil(q * (double)h->count);
	if (rank == 0)
		rank = 1;
	for (i = 0; i < HIST_N; i++) {
		seen += h->b[i];
		if (seen >= rank)
			break;
	}
	if (i < HIST_SUB)
		return i;
	k = (i >> HIST_SUB_BITS) + HIST_SUB_BITS - 1;
	lo = (uint64_t)(HIST_SUB + (i & (HIST_SUB - 1))) << (k - HIST_SUB_BITS);
	width = 1ULL << (k - HIST_SUB_BITS);
	lo += width / 2;
	return lo > h->max ? h->max : lo;
}

/* ---- devices ---- */

/* size bytes on a cache line of their own (posix_memalign: C11's
 * aligned_alloc wants a multiple of the alignment). */
void *
alloc64(size_t size)
{
	void *p;

	return posix_memalign(&p, 64, size) == 0 ? p : NULL;
}

const char *
type_name(enum bench_type t)
{
	static const char *const n[] = { "rng", "gpio", "i2c", "vsock" };

	return n[t];
}

void
dev_fail(struct bdev *d, bool proto, const char *fmt, ...)
{
	va_list ap;

	if (proto)
		d->proto_error = true;
	if (d->err[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(d->err, sizeof(d->err), fmt, ap);
	va_end(ap);
}

void
result_error(struct bdev *d, const char *fmt, ...)
{
	va_list ap;

	if (d->errors++ == 0) {
		va_start(ap, fmt);
		vsnprintf(d->rerr, sizeof(d->rerr), fmt, ap);
		va_end(ap);
	}
}

uint64_t
dev_kicks(const struct bdev *d)
{
	uint64_t n = 0;
	unsigned i;

	for (i = 0; i < d->nq; i++)
		n += d->q[i].kicks;
	return n;
}

/* Poll mode: calls are not waited for, but the call eventfd counts the
 * ones the device made anyway. */
static void
count_calls(struct bdev *d)
{
	uint64_t v;
	unsigned i;

	if (O.completion != BC_POLL)
		return;
	for (i = 0; i < d->nq; i++)
		if (read(d->q[i].call_fd, &v, sizeof(v)) == sizeof(v))
			d->q[i].calls += v;
}

uint64_t
dev_calls(const struct bdev *d)
{
	uint64_t n = 0;
	unsigned i;

	for (i = 0; i < d->nq; i++)
		n += d->q[i].calls;
	return n;
}

void
dev_window_start(struct bdev *d)
{
	count_calls(d);
	d->base_requests = d->requests;
	d->base_bytes = d->bytes;
	d->base_errors = d->errors;
	d->base_short = d->short_fills;
	d->base_kicks = dev_kicks(d);
	d->base_calls = dev_calls(d);
	d->base_waits = d->waits;
	memset(d->lat, 0, sizeof(*d->lat));
	d->res.t_start = now_ns();
}

void
dev_window_end(struct bdev *d)
{
	d->res.t_end = now_ns();
	count_calls(d);
	d->res.requests = d->requests - d->base_requests;
	d->res.bytes = d->bytes - d->base_bytes;
	d->res.errors = d->errors - d->base_errors;
	d->res.short_fills = d->short_fills - d->base_short;
	d->res.kicks = dev_kicks(d) - d->base_kicks;
	d->res.calls = dev_calls(d) - d->base_calls;
	d->res.waits = d->waits - d->base_waits;
	d->res.lat = *d->lat;
	atomic_store(&d->window_done, true);
}

/*
 * A driver thread's look at the run's phase: opens its measuring window
 * when measuring starts and closes it when it ends or --requests were
 * measured.  True when the thread is to stop.
 */
bool
dev_phase_done(struct bdev *d, int *seen)
{
	int ph = atomic_load_explicit(&phase, memory_order_relaxed);

	if (ph != *seen) {
		if (ph != PH_MEASURE) {
			if (*seen == PH_MEASURE)
				dev_window_end(d);
			return true;
		}
		dev_window_start(d);
		*seen = ph;
	}
	if (O.requests != 0 && *seen == PH_MEASURE &&
	    d->requests - d->base_requests >= O.requests) {
		dev_window_end(d);
		return true;
	}
	return false;
}

static void *
thread_main(void *arg)
{
	struct bdev *d = arg;

	if (O.type == BT_VSOCK)
		vsock_thread(d);
	else
		ring_thread(d);
	atomic_store(&d->window_done, true);
	atomic_store(&d->exited, true);
	return NULL;
}

static void
sleep_ns(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000ULL),
	    (long)(ns % 1000000000ULL) };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static uint64_t
rusage_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) *
	    1000000000ULL + ((uint64_t)ru.ru_utime.tv_usec +
	    (uint64_t)ru.ru_stime.tv_usec) * 1000ULL;
}

/* Waits until deadline (0: none), or until every thread's window is
 * over (all_done), or every thread has exited. */
static void
wait_threads(struct bdev *devs, unsigned n, uint64_t deadline)
{
	unsigned i, done, exited;

	for (;;) {
		for (done = exited = 0, i = 0; i < n; i++) {
			done += atomic_load(&devs[i].window_done);
			exited += atomic_load(&devs[i].exited);
		}
		if (exited == n || (deadline == 0 && done == n))
			return;
		if (deadline != 0 && now_ns() >= deadline)
			return;
		sleep_ns(5000000);
	}
}

int
run_devices(struct bdev *devs, unsigned n, struct run_result *r)
{
	struct cpuset_snap *a, *b;
	uint64_t t0, bench0, s0;
	unsigned i;
	struct bdev *d;
	int rc = 0;

	memset(r, 0, sizeof(*r));
	a = calloc(1, sizeof(*a));
	b = calloc(1, sizeof(*b));
	if (a == NULL || b == NULL) {
		free(a);
		free(b);
		return -1;
	}
	s0 = now_ns();
	for (i = 0; i < n; i++) {
		d = &devs[i];
		if ((d->lat = alloc64(sizeof(*d->lat))) == NULL) {
			dev_fail(d, false, "out of memory");
			rc = -1;
			break;
		}
		memset(d->lat, 0, sizeof(*d->lat));
		if ((O.type == BT_VSOCK ? vsock_setup(d) : ring_setup(d)) ==
		    -1) {
			rc = -1;
			break;
		}
	}
	r->setup_ms = (double)(now_ns() - s0) / 1e6;
	if (rc == -1) {
		fprintf(stderr, "vubench: %s: %s\n", d->path, d->err);
		goto out;
	}
	atomic_store(&phase, PH_WARMUP);
	for (i = 0; O.loopback > 0 && i < n; i++) {
		devs[i].loop_cpu = O.ncpus > 1 ? O.cpus[(i + 1) % O.ncpus] : -1;
		loop_init(&devs[i]);
		if (pthread_create(&devs[i].loop_th, NULL, loop_thread,
		    &devs[i]) != 0) {
			fprintf(stderr, "vubench: pthread_create: %s\n",
			    strerror(errno));
			exit(3);
		}
		devs[i].loop_started = true;
	}
	pthread_barrier_init(&start_barrier, NULL, n + 1);
	for (i = 0; i < n; i++) {
		devs[i].cpu = O.ncpus > 0 ? O.cpus[i % O.ncpus] : -1;
		if (pthread_create(&devs[i].th, NULL, thread_main,
		    &devs[i]) != 0) {
			fprintf(stderr, "vubench: pthread_create: %s\n",
			    strerror(errno));
			exit(3);
		}
		devs[i].started = true;
	}
	pthread_barrier_wait(&start_barrier);
	if (O.warmup > 0)
		wait_threads(devs, n, now_ns() + (uint64_t)(O.warmup * 1e9));
	cpu_snap(a);
	bench0 = rusage_ns();
	t0 = now_ns();
	atomic_store(&phase, PH_MEASURE);
	wait_threads(devs, n, O.requests != 0 ? 0 :
	    t0 + (uint64_t)(O.seconds * 1e9));
	/* vubench's own time first: the /proc walk of cpu_snap is not its
	 * driving of the devices. */
	r->bench_ns = rusage_ns() - bench0;
	cpu_snap(b);
	r->seconds = (double)(now_ns() - t0) / 1e9;
	atomic_store(&phase, PH_STOP);
	for (i = 0; i < n; i++)
		pthread_join(devs[i].th, NULL);
	for (i = 0; i < n; i++)
		if (devs[i].loop_started) {
			atomic_store(&devs[i].loop_stop, true);
			pthread_join(devs[i].loop_th, NULL);
		}
	r->npids = b->n;
	r->backend_ns = cpu_delta(a, b, &r->gone);
	for (i = 0; i < n; i++) {
		d = &devs[i];
		r->requests += d->res.requests;
		r->bytes += d->res.bytes;
		r->errors += d->res.errors;
		r->short_fills += d->res.short_fills;
		r->kicks += d->res.kicks;
		r->calls += d->res.calls;
		hist_merge(&r->lat, &d->res.lat);
		if (d->proto_error || d->lost > 0)
			r->failed = true;
	}
out:
	free(a);
	free(b);
	return rc;
}

void
close_devices(struct bdev *devs, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		if (O.type == BT_VSOCK)
			vsock_teardown(&devs[i]);
		else
			ring_teardown(&devs[i]);
		free(devs[i].lat);
		devs[i].lat = NULL;
	}
}

/* ---- the report ---- */

static double
rate(uint64_t n, const struct dres *r)
{
	double s = (double)(r->t_end - r->t_start) / 1e9;

	return s > 0 ? (double)n / s : 0;
}

/* A latency in ns for humans. */
static const char *
fmt_ns(char *buf, size_t len, double ns)
{
	if (ns < 1000)
		snprintf(buf, len, "%.0f ns", ns);
	else if (ns < 1e6)
		snprintf(buf, len, "%.2f us", ns / 1e3);
	else
		snprintf(buf, len, "%.2f ms", ns / 1e6);
	return buf;
}

/* 1234567 as "1,234,567". */
static const char *
fmt_int(char *buf, size_t len, double v)
{
	char tmp[32];
	size_t n, i, o = 0;

	snprintf(tmp, sizeof(tmp), "%.0f", v);
	n = strlen(tmp);
	for (i = 0; i < n && o + 2 < len; i++) {
		buf[o++] = tmp[i];
		if (tmp[i] != '-' && (n - i - 1) % 3 == 0 && i + 1 < n)
			buf[o++] = ',';
	}
	buf[o] = '\0';
	return buf;
}

void
json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

/* What one request is, in words. */
static void
describe(char *buf, size_t len)
{
	switch (O.type) {
	case BT_RNG:
		snprintf(buf, len, "rng %u B", O.size);
		break;
	case BT_GPIO:
		snprintf(buf, len, "gpio %s line %u", O.gpio == GPIO_GET ?
		    "get_value" : "set_value", O.gpio_line);
		break;
	case BT_I2C:
		snprintf(buf, len, "i2c %s %u B at 0x%02x", O.i2c == I2C_READ ?
		    "read" : "write", O.size, O.i2c_addr);
		break;
	case BT_VSOCK:
		snprintf(buf, len, "vsock %s %u B", O.vsock == VS_ECHO ?
		    "echo" : "sink", O.size);
		break;
	}
}

struct report {
	const struct run_result	*r;
	const struct floors	*fl;
	struct bdev		*devs;
	unsigned		 n;
	char			 load0[64], load1[64];
	double			 rps, bps, p50, p99, p999, mean;
	double			 be_us, be_util, fe_us;
	int			 status;
};

static void
report_compute(struct report *p)
{
	const struct run_result *r = p->r;
	unsigned i;

	p->rps = p->bps = 0;
	for (i = 0; i < p->n; i++) {
		p->rps += rate(p->devs[i].res.requests, &p->devs[i].res);
		p->bps += rate(p->devs[i].res.bytes, &p->devs[i].res);
	}
	p->p50 = (double)hist_quantile(&r->lat, 0.5);
	p->p99 = (double)hist_quantile(&r->lat, 0.99);
	p->p999 = (double)hist_quantile(&r->lat, 0.999);
	p->mean = r->lat.count ? (double)r->lat.sum / (double)r->lat.count : 0;
	p->be_us = r->npids > 0 && r->requests > 0 ?
	    (double)r->backend_ns / 1e3 / (double)r->requests : -1;
	p->be_util = r->npids > 0 && r->seconds > 0 ?
	    (double)r->backend_ns / 1e9 / r->seconds : -1;
	p->fe_us = r->requests > 0 ? (double)r->bench_ns / 1e3 /
	    (double)r->requests : -1;
}

static void
report_human(const struct report *p)
{
	const struct run_result *r = p->r;
	const struct floors *fl = p->fl;
	char what[96], b1[32], b2[32], b3[32], b4[32], b5[32];
	const struct bdev *d;
	double mn = -1, mx = 0, x;
	unsigned i;

	describe(what, sizeof(what));
	printf("vubench: %s, depth %u, completion %s%s, %u device%s, %.2f s "
	    "measured\n", what, O.depth, O.completion == BC_POLL ? "poll" :
	    "call", O.event_idx ? "" : " (no EVENT_IDX)", p->n,
	    p->n == 1 ? "" : "s", r->seconds);
	printf("  load average %s at the start, %s at the end\n", p->load0,
	    p->load1);
	printf("\n  %-32s %12s %9s %9s %9s %9s %9s %6s %6s %7s\n", "device",
	    "req/s", "MB/s", "p50", "p99", "p99.9", "max", "kick/r", "call/r",
	    "errors");
	for (i = 0; i < p->n; i++) {
		d = &p->devs[i];
		x = rate(d->res.requests, &d->res);
		mn = mn < 0 || x < mn ? x : mn;
		mx = x > mx ? x : mx;
		if (p->n > 8)
			continue;
		printf("  %-32.32s %12s %9.2f %9s %9s %9s %9s %6.3f %6.3f "
		    "%7" PRIu64 "\n", d->path, fmt_int(b1, sizeof(b1), x),
		    rate(d->res.bytes, &d->res) / 1e6,
		    fmt_ns(b2, sizeof(b2), (double)hist_quantile(&d->res.lat,
		    0.5)), fmt_ns(b3, sizeof(b3),
		    (double)hist_quantile(&d->res.lat, 0.99)),
		    fmt_ns(b4, sizeof(b4), (double)hist_quantile(&d->res.lat,
		    0.999)), fmt_ns(b5, sizeof(b5), (double)d->res.lat.max),
		    d->res.requests ? (double)d->res.kicks /
		    (double)d->res.requests : 0, d->res.requests ?
		    (double)d->res.calls / (double)d->res.requests : 0,
		    d->res.errors);
	}
	if (p->n > 1)
		printf("  %-32s %12s %9.2f %9s %9s %9s %9s %6.3f %6.3f %7" PRIu64
		    "\n", "all", fmt_int(b1, sizeof(b1), p->rps), p->bps / 1e6,
		    fmt_ns(b2, sizeof(b2), p->p50), fmt_ns(b3, sizeof(b3),
		    p->p99), fmt_ns(b4, sizeof(b4), p->p999),
		    fmt_ns(b5, sizeof(b5), (double)r->lat.max), r->requests ?
		    (double)r->kicks / (double)r->requests : 0, r->requests ?
		    (double)r->calls / (double)r->requests : 0, r->errors);
	if (p->n > 1)
		printf("  per device: %s to %s req/s\n",
		    fmt_int(b1, sizeof(b1), mn), fmt_int(b2, sizeof(b2), mx));
	printf("\n");
	if (p->be_us >= 0)
		printf("  back-end CPU: %.3f us per request, %.0f%% of a CPU "
		    "(%u process%s%s)\n", p->be_us, p->be_util * 100, r->npids,
		    r->npids == 1 ? "" : "es", r->gone ? ", some gone" : "");
	if (p->fe_us >= 0)
		printf("  vubench CPU:  %.3f us per request (driver threads%s)"
		    "\n", p->fe_us, O.type == BT_VSOCK ? " and host peers" :
		    "");
	if (fl != NULL) {
		printf("  floors: shared-memory round trip %s (median %s), "
		    "eventfd round trip %.2f us (median %.2f)",
		    fl->shm_rtt_ns > 0 ? fmt_ns(b1, sizeof(b1),
		    fl->shm_rtt_ns) : "n/a", fl->shm_rtt_ns > 0 ?
		    fmt_ns(b2, sizeof(b2), fl->shm_rtt_ns_median) : "n/a",
		    fl->efd_rtt_us, fl->efd_rtt_us_median);
		if (O.type == BT_RNG)
			printf(",\n          getrandom %.0f MB/s at %u B, %.0f "
			    "MB/s at 64 KiB", fl->grnd_mbps_size, O.size,
			    fl->grnd_mbps_64k);
		printf("\n  ratios: p50 = %.2f x the shared-memory round trip "
		    "= %.3f x the eventfd round trip",
		    fl->shm_rtt_ns > 0 ? p->p50 / fl->shm_rtt_ns : 0,
		    fl->efd_rtt_us > 0 ? p->p50 / (fl->efd_rtt_us * 1e3) : 0);
		if (fl->shm_rtt_ns > 0)
			printf(";\n          %.2f requests per shared-memory "
			    "round trip", p->rps * fl->shm_rtt_ns / 1e9);
		if (O.type == BT_RNG && fl->grnd_mbps_size > 0)
			printf(";\n          bytes/s = %.2f x getrandom at %u B "
			    "= %.2f x getrandom at 64 KiB", p->bps / 1e6 /
			    fl->grnd_mbps_size, O.size, fl->grnd_mbps_64k > 0 ?
			    p->bps / 1e6 / fl->grnd_mbps_64k : 0);
		printf("\n");
	}
	if (r->short_fills > 0)
		printf("  rng: %" PRIu64 " requests filled with fewer bytes "
		    "than asked\n", r->short_fills);
	for (i = 0; i < p->n; i++) {
		d = &p->devs[i];
		if (d->err[0] != '\0')
			printf("  %s: error: %s\n", d->path, d->err);
		if (d->rerr[0] != '\0')
			printf("  %s: wrong result (%" PRIu64 " in all): %s\n",
			    d->path, d->errors, d->rerr);
	}
	if (p->status == 0)
		printf("  result: ok, %s requests measured, every request "
		    "completed exactly once with a correct result\n",
		    fmt_int(b1, sizeof(b1), (double)r->requests));
	else
		printf("  result: FAILED\n");
}

static void
report_json(const struct report *p)
{
	const struct run_result *r = p->r;
	const struct floors *fl = p->fl;
	const struct bdev *d;
	char what[96];
	unsigned i;

	describe(what, sizeof(what));
	printf("{\"tool\":\"vubench\",");
	if (O.label != NULL) {
		printf("\"label\":");
		json_str(stdout, O.label);
		printf(",");
	}
	printf("\"type\":\"%s\",\"request\":", type_name(O.type));
	json_str(stdout, what);
	printf(",\"size\":%u,\"depth\":%u,\"queues\":%u,\"completion\":\"%s\","
	    "\"event_idx\":%s,\"devices\":%u,\"seconds\":%.3f,"
	    "\"requests\":%" PRIu64 ",\"req_per_s\":%.1f,\"bytes_per_s\":%.1f,"
	    "\"lat_ns\":{\"p50\":%.0f,\"p99\":%.0f,\"p999\":%.0f,\"max\":%"
	    PRIu64 ",\"mean\":%.1f},\"kicks_per_req\":%.4f,"
	    "\"calls_per_req\":%.4f,\"errors\":%" PRIu64 ",\"short_fills\":%"
	    PRIu64 ",", O.size, O.depth, O.queues, O.completion == BC_POLL ?
	    "poll" : "call", O.event_idx ? "true" : "false", p->n, r->seconds,
	    r->requests, p->rps, p->bps, p->p50, p->p99, p->p999, r->lat.max,
	    p->mean, r->requests ? (double)r->kicks / (double)r->requests : 0,
	    r->requests ? (double)r->calls / (double)r->requests : 0,
	    r->errors, r->short_fills);
	if (p->be_us >= 0)
		printf("\"backend_cpu_us_per_req\":%.4f,\"backend_cpu_util\":"
		    "%.3f,\"backend_pids\":%u,", p->be_us, p->be_util,
		    r->npids);
	printf("\"bench_cpu_us_per_req\":%.4f,", p->fe_us);
	if (fl != NULL) {
		printf("\"floors\":{\"shm_rtt_ns\":%.1f,\"shm_rtt_ns_median\":"
		    "%.1f,\"eventfd_rtt_us\":%.3f,\"eventfd_rtt_us_median\":"
		    "%.3f,\"getrandom_mbps_64k\":%.1f", fl->shm_rtt_ns,
		    fl->shm_rtt_ns_median, fl->efd_rtt_us,
		    fl->efd_rtt_us_median, fl->grnd_mbps_64k);
		if (O.type == BT_RNG)
			printf(",\"getrandom_mbps_size\":%.1f",
			    fl->grnd_mbps_size);
		printf("},\"ratios\":{\"p50_over_shm\":%.3f,"
		    "\"p50_over_eventfd\":%.4f,\"req_per_shm_rtt\":%.4f",
		    fl->shm_rtt_ns > 0 ? p->p50 / fl->shm_rtt_ns : 0,
		    fl->efd_rtt_us > 0 ? p->p50 / (fl->efd_rtt_us * 1e3) : 0,
		    p->rps * fl->shm_rtt_ns / 1e9);
		if (O.type == BT_RNG)
			printf(",\"bytes_over_getrandom_size\":%.4f,"
			    "\"bytes_over_getrandom_64k\":%.4f",
			    fl->grnd_mbps_size > 0 ? p->bps / 1e6 /
			    fl->grnd_mbps_size : 0, fl->grnd_mbps_64k > 0 ?
			    p->bps / 1e6 / fl->grnd_mbps_64k : 0);
		printf("},");
	}
	printf("\"loadavg_start\":\"%s\",\"loadavg_end\":\"%s\","
	    "\"ok\":%s,\"per_device\":[", p->load0, p->load1,
	    p->status == 0 ? "true" : "false");
	for (i = 0; i < p->n; i++) {
		d = &p->devs[i];
		printf("%s{\"socket\":", i ? "," : "");
		json_str(stdout, d->path);
		printf(",\"req_per_s\":%.1f,\"p50_ns\":%" PRIu64 ",\"p99_ns\":%"
		    PRIu64 ",\"errors\":%" PRIu64, rate(d->res.requests,
		    &d->res), hist_quantile(&d->res.lat, 0.5),
		    hist_quantile(&d->res.lat, 0.99), d->res.errors);
		if (d->err[0] != '\0') {
			printf(",\"error\":");
			json_str(stdout, d->err);
		}
		if (d->rerr[0] != '\0') {
			printf(",\"wrong_result\":");
			json_str(stdout, d->rerr);
		}
		printf("}");
	}
	printf("]}\n");
}

static const char md_header[] =
    "| run | request | depth | completion | devices | req/s | MB/s | "
    "p50 us | p99 us | p99.9 us | back-end us/req | vubench us/req | "
    "kicks/req | calls/req | p50/shm | p50/eventfd | bytes/getrandom | "
    "ok | load |\n"
    "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    "---:|---:|---:|---|---|\n";

static void
report_md(const struct report *p)
{
	const struct run_result *r = p->r;
	const struct floors *fl = p->fl;
	char what[96], b1[32], be[32], fe[32], ratio[32], rs[32], re[32];

	describe(what, sizeof(what));
	snprintf(rs, sizeof(rs), "-");
	snprintf(re, sizeof(re), "-");
	if (fl != NULL && fl->shm_rtt_ns > 0)
		snprintf(rs, sizeof(rs), "%.1f", p->p50 / fl->shm_rtt_ns);
	if (fl != NULL && fl->efd_rtt_us > 0)
		snprintf(re, sizeof(re), "%.3f", p->p50 /
		    (fl->efd_rtt_us * 1e3));
	if (p->be_us >= 0)
		snprintf(be, sizeof(be), "%.3f", p->be_us);
	else
		snprintf(be, sizeof(be), "-");
	if (p->fe_us >= 0)
		snprintf(fe, sizeof(fe), "%.3f", p->fe_us);
	else
		snprintf(fe, sizeof(fe), "-");
	if (fl != NULL && O.type == BT_RNG && fl->grnd_mbps_size > 0)
		snprintf(ratio, sizeof(ratio), "%.2f", p->bps / 1e6 /
		    fl->grnd_mbps_size);
	else
		snprintf(ratio, sizeof(ratio), "-");
	printf("| %s | %s | %u | %s | %u | %s | %.2f | %.2f | %.2f | %.2f | "
	    "%s | %s | %.3f | %.3f | %s | %s | %s | %s | %s |\n",
	    O.label != NULL ? O.label : "-", what, O.depth,
	    O.completion == BC_POLL ? "poll" : "call", p->n,
	    fmt_int(b1, sizeof(b1), p->rps), p->bps / 1e6, p->p50 / 1e3,
	    p->p99 / 1e3, p->p999 / 1e3, be, fe, r->requests ?
	    (double)r->kicks / (double)r->requests : 0, r->requests ?
	    (double)r->calls / (double)r->requests : 0, rs, re, ratio,
	    p->status == 0 ? "ok" : "FAILED", p->load1);
}

/* ---- options ---- */

static void
usage(int status)
{
	FILE *f = status == 0 ? stdout : stderr;

	fputs(
"usage: vubench --socket PATH [--socket PATH ...] --type rng|gpio|i2c|vsock\n"
"               [--size BYTES] [--depth N] [--queues N] [--qsize N]\n"
"               [--seconds S | --requests N] [--warmup S]\n"
"               [--completion call|poll] [--no-event-idx]\n"
"               [--pid PID ...] [--pid-tree PID ...] [--cpu LIST]\n"
"               [--gpio get|set] [--gpio-line N]\n"
"               [--i2c read|write] [--i2c-addr ADDR]\n"
"               [--vsock echo|sink] [--vsock-uds PATH ...] [--vsock-port P]\n"
"               [--vsock-cid CID] [--vsock-rxbuf BYTES]\n"
"               [--verify none|ends|full] [--timeout MS] [--no-floors]\n"
"               [--json] [--md] [--label TEXT]\n"
"       vubench --loopback[=N] --type rng|gpio|i2c [--loopback-fault KIND]\n"
"               [options above]\n"
"       vubench --scale N --vhostd PATH [--vms M] [--idle-seconds S]\n"
"               [--datapath MODE] [--poll-cores LIST] [--keep] [options above]\n"
"       vubench --md-header [--scale 1]\n"
"See tests/bench/README.\n", f);
	exit(status);
}

static void
bad(const char *opt, const char *arg)
{
	fprintf(stderr, "vubench: %s: bad value \"%s\"\n", opt, arg);
	exit(2);
}

static unsigned long long
num(const char *opt, const char *arg, unsigned long long min,
    unsigned long long max)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(arg, &end, 0);
	if (errno != 0 || end == arg || *end != '\0' || v < min || v > max ||
	    arg[0] == '-')
		bad(opt, arg);
	return v;
}

static double
secs(const char *opt, const char *arg)
{
	char *end;
	double v = strtod(arg, &end);

	if (end == arg || *end != '\0' || !(v >= 0) || v > 86400)
		bad(opt, arg);
	return v;
}

static int
choice(const char *opt, const char *arg, const char *const *names)
{
	int i;

	for (i = 0; names[i] != NULL; i++)
		if (strcmp(arg, names[i]) == 0)
			return i;
	bad(opt, arg);
	return -1;
}

enum {
	OPT_QUEUES = 256, OPT_QSIZE, OPT_SECONDS, OPT_WARMUP, OPT_REQUESTS,
	OPT_COMPLETION, OPT_NO_EVIDX, OPT_PID, OPT_PID_TREE, OPT_JSON, OPT_MD,
	OPT_MD_HEADER, OPT_NO_FLOORS, OPT_GPIO, OPT_GPIO_LINE, OPT_I2C,
	OPT_I2C_ADDR, OPT_VSOCK, OPT_VSOCK_UDS, OPT_VSOCK_PORT, OPT_VSOCK_CID,
	OPT_VSOCK_RXBUF, OPT_VERIFY, OPT_TIMEOUT, OPT_CPU, OPT_LABEL,
	OPT_SCALE, OPT_VHOSTD, OPT_VMS, OPT_IDLE, OPT_DATAPATH,
	OPT_POLL_CORES, OPT_KEEP, OPT_LOOPBACK, OPT_LOOP_FAULT,
};

static const struct option longopts[] = {
	{ "socket", required_argument, NULL, 's' },
	{ "type", required_argument, NULL, 't' },
	{ "size", required_argument, NULL, 'b' },
	{ "depth", required_argument, NULL, 'd' },
	{ "queues", required_argument, NULL, OPT_QUEUES },
	{ "qsize", required_argument, NULL, OPT_QSIZE },
	{ "seconds", required_argument, NULL, OPT_SECONDS },
	{ "warmup", required_argument, NULL, OPT_WARMUP },
	{ "requests", required_argument, NULL, OPT_REQUESTS },
	{ "completion", required_argument, NULL, OPT_COMPLETION },
	{ "no-event-idx", no_argument, NULL, OPT_NO_EVIDX },
	{ "pid", required_argument, NULL, OPT_PID },
	{ "pid-tree", required_argument, NULL, OPT_PID_TREE },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "md", no_argument, NULL, OPT_MD },
	{ "md-header", no_argument, NULL, OPT_MD_HEADER },
	{ "no-floors", no_argument, NULL, OPT_NO_FLOORS },
	{ "gpio", required_argument, NULL, OPT_GPIO },
	{ "gpio-line", required_argument, NULL, OPT_GPIO_LINE },
	{ "i2c", required_argument, NULL, OPT_I2C },
	{ "i2c-addr", required_argument, NULL, OPT_I2C_ADDR },
	{ "vsock", required_argument, NULL, OPT_VSOCK },
	{ "vsock-uds", required_argument, NULL, OPT_VSOCK_UDS },
	{ "vsock-port", required_argument, NULL, OPT_VSOCK_PORT },
	{ "vsock-cid", required_argument, NULL, OPT_VSOCK_CID },
	{ "vsock-rxbuf", required_argument, NULL, OPT_VSOCK_RXBUF },
	{ "verify", required_argument, NULL, OPT_VERIFY },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "cpu", required_argument, NULL, OPT_CPU },
	{ "label", required_argument, NULL, OPT_LABEL },
	{ "scale", required_argument, NULL, OPT_SCALE },
	{ "vhostd", required_argument, NULL, OPT_VHOSTD },
	{ "vms", required_argument, NULL, OPT_VMS },
	{ "idle-seconds", required_argument, NULL, OPT_IDLE },
	{ "datapath", required_argument, NULL, OPT_DATAPATH },
	{ "poll-cores", required_argument, NULL, OPT_POLL_CORES },
	{ "keep", no_argument, NULL, OPT_KEEP },
	{ "loopback", optional_argument, NULL, OPT_LOOPBACK },
	{ "loopback-fault", required_argument, NULL, OPT_LOOP_FAULT },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void
parse_cpus(const char *arg)
{
	char *s, *tok, *save = NULL;

	if ((s = strdup(arg)) == NULL)
		exit(2);
	for (tok = strtok_r(s, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		if (O.ncpus == sizeof(O.cpus) / sizeof(O.cpus[0]))
			bad("--cpu", arg);
		O.cpus[O.ncpus++] = (int)num("--cpu", tok, 0, CPU_SETSIZE - 1);
	}
	free(s);
	if (O.ncpus == 0)
		bad("--cpu", arg);
}

static void
parse(int argc, char **argv)
{
	static const char *const types[] = { "rng", "gpio", "i2c", "vsock",
	    NULL };
	static const char *const completions[] = { "call", "poll", NULL };
	static const char *const gpios[] = { "get", "set", NULL };
	static const char *const i2cs[] = { "read", "write", NULL };
	static const char *const vsocks[] = { "echo", "sink", NULL };
	static const char *const verifies[] = { "none", "ends", "full", NULL };
	static const char *const faults[] = { "none", "dup", "bad-head",
	    "lose", "status", "len", "no-write", "idx", NULL };
	int c;

	O.type = BT_RNG;
	O.depth = 32;
	O.queues = 1;
	O.seconds = 5;
	O.warmup = 0.5;
	O.completion = BC_CALL;
	O.event_idx = true;
	O.floors = true;
	O.i2c_addr = 0x50;
	O.vsock_port = 5000;
	O.verify = VERIFY_ENDS;
	O.timeout_ms = 5000;
	O.idle_seconds = 3;
	while ((c = getopt_long(argc, argv, "s:t:b:d:h", longopts, NULL)) !=
	    -1) {
		switch (c) {
		case 's':
			if (O.nsockets == BENCH_MAX_DEVS)
				bad("--socket", optarg);
			O.sockets[O.nsockets++] = optarg;
			break;
		case 't':
			O.type = (enum bench_type)choice("--type", optarg,
			    types);
			break;
		case 'b':
			O.size = (uint32_t)num("--size", optarg, 0, 1U << 26);
			O.size_given = true;
			break;
		case 'd':
			O.depth = (unsigned)num("--depth", optarg, 1, 16384);
			break;
		case OPT_QUEUES:
			O.queues = (unsigned)num("--queues", optarg, 1,
			    BENCH_MAX_QUEUES);
			break;
		case OPT_QSIZE:
			O.qsize = (unsigned)num("--qsize", optarg, 1, 32768);
			if (O.qsize & (O.qsize - 1))
				bad("--qsize (a power of two)", optarg);
			break;
		case OPT_SECONDS:
			O.seconds = secs("--seconds", optarg);
			break;
		case OPT_WARMUP:
			O.warmup = secs("--warmup", optarg);
			break;
		case OPT_REQUESTS:
			O.requests = num("--requests", optarg, 1, UINT64_MAX);
			break;
		case OPT_COMPLETION:
			O.completion = (enum bench_completion)choice(
			    "--completion", optarg, completions);
			break;
		case OPT_NO_EVIDX:
			O.event_idx = false;
			break;
		case OPT_PID:
			if (O.npids == BENCH_MAX_PIDS)
				bad("--pid", optarg);
			O.pids[O.npids++] = (pid_t)num("--pid", optarg, 1,
			    INT_MAX);
			break;
		case OPT_PID_TREE:
			if (O.ntrees == BENCH_MAX_PIDS)
				bad("--pid-tree", optarg);
			O.trees[O.ntrees++] = (pid_t)num("--pid-tree", optarg,
			    1, INT_MAX);
			break;
		case OPT_JSON:
			O.json = true;
			break;
		case OPT_MD:
			O.md = true;
			break;
		case OPT_MD_HEADER:
			O.md_header = true;
			break;
		case OPT_NO_FLOORS:
			O.floors = false;
			break;
		case OPT_GPIO:
			O.gpio = (enum gpio_kind)choice("--gpio", optarg,
			    gpios);
			break;
		case OPT_GPIO_LINE:
			O.gpio_line = (unsigned)num("--gpio-line", optarg, 0,
			    65535);
			break;
		case OPT_I2C:
			O.i2c = (enum i2c_kind)choice("--i2c", optarg, i2cs);
			break;
		case OPT_I2C_ADDR:
			O.i2c_addr = (unsigned)num("--i2c-addr", optarg, 0,
			    0x7f);
			break;
		case OPT_VSOCK:
			O.vsock = (enum vsock_kind)choice("--vsock", optarg,
			    vsocks);
			break;
		case OPT_VSOCK_UDS:
			if (O.nvsock_uds == BENCH_MAX_DEVS)
				bad("--vsock-uds", optarg);
			O.vsock_uds[O.nvsock_uds++] = optarg;
			break;
		case OPT_VSOCK_PORT:
			O.vsock_port = (uint32_t)num("--vsock-port", optarg, 0,
			    UINT32_MAX - 1);
			break;
		case OPT_VSOCK_CID:
			O.vsock_cid = num("--vsock-cid", optarg, 3,
			    UINT32_MAX - 1);
			break;
		case OPT_VSOCK_RXBUF:
			O.vsock_rxbuf = (uint32_t)num("--vsock-rxbuf", optarg,
			    256, 65536);
			break;
		case OPT_VERIFY:
			O.verify = (enum verify_kind)choice("--verify", optarg,
			    verifies);
			break;
		case OPT_TIMEOUT:
			O.timeout_ms = (int)num("--timeout", optarg, 100,
			    3600000);
			break;
		case OPT_CPU:
			parse_cpus(optarg);
			break;
		case OPT_LABEL:
			O.label = optarg;
			break;
		case OPT_SCALE:
			O.scale = (unsigned)num("--scale", optarg, 1,
			    BENCH_MAX_DEVS);
			break;
		case OPT_VHOSTD:
			O.vhostd = optarg;
			break;
		case OPT_VMS:
			O.vms = (unsigned)num("--vms", optarg, 1,
			    BENCH_MAX_DEVS);
			break;
		case OPT_IDLE:
			O.idle_seconds = secs("--idle-seconds", optarg);
			break;
		case OPT_DATAPATH:
			O.datapath = optarg;
			break;
		case OPT_POLL_CORES:
			O.poll_cores = optarg;
			break;
		case OPT_KEEP:
			O.keep = true;
			break;
		case OPT_LOOP_FAULT:
			O.loop_fault = choice("--loopback-fault", optarg,
			    faults);
			break;
		case OPT_LOOPBACK:
			O.loopback = optarg == NULL ? 1 : (unsigned)num(
			    "--loopback", optarg, 1, BENCH_MAX_DEVS);
			break;
		case 'h':
			usage(0);
			break;
		default:
			usage(2);
		}
	}
	if (optind != argc)
		usage(2);
	if (O.md_header)
		return;
	if (!O.size_given)
		O.size = O.type == BT_RNG ? 64 : O.type == BT_I2C ? 2 :
		    O.type == BT_VSOCK ? 4096 : 0;
	if (O.type == BT_RNG && O.size == 0)
		bad("--size (rng needs at least 1 byte)", "0");
	if (O.type == BT_I2C && O.size > 4096)
		bad("--size (i2c: at most 4096, the largest message)", "");
	if (O.type == BT_VSOCK && (O.size == 0 || O.size > 65536))
		bad("--size (vsock: 1 to 65536, one packet)", "");
	if (O.queues > 1 && O.type != BT_RNG && O.type != BT_I2C)
		bad("--queues (only rng and i2c may have several request "
		    "queues)", "");
	if (O.scale > 0) {
		if (O.vhostd == NULL) {
			fprintf(stderr, "vubench: --scale needs --vhostd\n");
			exit(2);
		}
		if (O.nsockets > 0) {
			fprintf(stderr, "vubench: --scale makes its own "
			    "sockets\n");
			exit(2);
		}
		return;
	}
	if (O.loopback > 0) {
		if (O.nsockets > 0 || O.type == BT_VSOCK) {
			fprintf(stderr, "vubench: --loopback plays rng, gpio "
			    "or i2c devices itself: no --socket\n");
			exit(2);
		}
		for (; O.nsockets < O.loopback; O.nsockets++)
			O.sockets[O.nsockets] = "loopback";
		return;
	}
	if (O.nsockets == 0) {
		fprintf(stderr, "vubench: no --socket\n");
		usage(2);
	}
	if (O.type == BT_VSOCK && O.nvsock_uds != 1 &&
	    O.nvsock_uds != O.nsockets) {
		fprintf(stderr, "vubench: vsock needs --vsock-uds (the "
		    "device's host socket, uds_path), once or once per "
		    "--socket\n");
		exit(2);
	}
}

/* Every device takes a dozen fds (socket, eventfds, memfd). */
static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int
main(int argc, char *argv[])
{
	struct report rep;
	struct run_result r;
	struct floors fl;
	struct bdev *devs;
	unsigned i, n;

	parse(argc, argv);
	raise_nofile();
	if (O.md_header) {
		if (O.scale > 0)
			return scale_main();
		fputs(md_header, stdout);
		return 0;
	}
	clk_init();
	if (O.scale > 0)
		return scale_main();
	memset(&rep, 0, sizeof(rep));
	loadavg(rep.load0, sizeof(rep.load0));
	if (O.floors)
		floors_measure(&fl, O.size, O.type == BT_RNG);
	n = O.nsockets;
	if ((devs = alloc64(n * sizeof(*devs))) == NULL)
		return 3;
	memset(devs, 0, n * sizeof(*devs));
	for (i = 0; i < n; i++) {
		devs[i].index = i;
		devs[i].path = O.sockets[i];
	}
	if (run_devices(devs, n, &r) == -1) {
		close_devices(devs, n);
		return 3;
	}
	loadavg(rep.load1, sizeof(rep.load1));
	rep.r = &r;
	rep.fl = O.floors ? &fl : NULL;
	rep.devs = devs;
	rep.n = n;
	/* Any wrong result fails the run, in the window or not. */
	rep.status = r.failed ? 1 : 0;
	for (i = 0; i < n; i++)
		if (devs[i].err[0] != '\0' || devs[i].errors > 0)
			rep.status = 1;
	report_compute(&rep);
	if (O.json)
		report_json(&rep);
	if (O.md)
		report_md(&rep);
	if (!O.json && !O.md)
		report_human(&rep);
	else if (rep.status != 0)
		for (i = 0; i < n; i++) {
			if (devs[i].err[0] != '\0')
				fprintf(stderr, "vubench: %s: %s\n",
				    devs[i].path, devs[i].err);
			if (devs[i].rerr[0] != '\0')
				fprintf(stderr, "vubench: %s: wrong result: "
				    "%s\n", devs[i].path, devs[i].rerr);
		}
	fflush(stdout);
	close_devices(devs, n);
	free(devs);
	return rep.status;
}
