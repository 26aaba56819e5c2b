/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vubench's parts (tests/bench/README): the clock and the latency
 * histogram (inline: they are on the data path), the options, the devices
 * driven, and the interfaces between the files:
 *
 *	vubench.c	options, the run, the report (human, JSON, markdown)
 *	ring.c		set-up of a device over vufront, and the data path of
 *			the request devices (rng, gpio, i2c) on the split
 *			rings directly
 *	vsock.c		the vsock guest driver and its host peer
 *	floors.c	this machine's floors (shared-memory and eventfd
 *			ping-pong, getrandom)
 *	procstat.c	/proc: CPU time of back-end processes, PSS, wake-ups
 *	scale.c		the scale mode: N devices of one vhostd
 *	loop.c		--loopback: a device played in-process, for
 *			vubench's own ceiling
 *
 * Nothing vhostd-specific is on the data path: only vhost-user and virtio.
 */
#ifndef VUBENCH_BENCH_H
#define VUBENCH_BENCH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "vufront.h"

#define BENCH_MAX_DEVS		1024
#define BENCH_MAX_PIDS		64
#define BENCH_MAX_QUEUES	8
#define BENCH_ERR_LEN		256

/* ---- clock ---- */

/*
 * Ticks: the TSC on x86-64 (calibrated against CLOCK_MONOTONIC at start),
 * else CLOCK_MONOTONIC nanoseconds.  clk_ns converts a difference.
 */
extern uint64_t	clk_mult;	/* ns per tick, 32.32 fixed point */
void		clk_init(void);
uint64_t	now_ns(void);	/* CLOCK_MONOTONIC */

static inline uint64_t
clk_ticks(void)
{
#if defined(__x86_64__)
	uint32_t lo, hi;

	__asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
#else
	return now_ns();
#endif
}

static inline uint64_t
clk_ns(uint64_t ticks)
{
	return (uint64_t)(((unsigned __int128)ticks * clk_mult) >> 32);
}

static inline void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* ---- latency histogram: log-linear, fixed size, no allocation ---- */

/*
 * 32 linear buckets per power of two (relative error under 3.2%), values
 * in nanoseconds from 0 to 2^64: 1920 counters, 15 KiB.
 */
#define HIST_SUB_BITS	5
#define HIST_SUB	(1u << HIST_SUB_BITS)
#define HIST_N		((64 - HIST_SUB_BITS + 1) * HIST_SUB)

struct hist {
	uint64_t	count;
	uint64_t	sum;
	uint64_t	max;
	uint64_t	b[HIST_N];
};

static inline unsigned
hist_index(uint64_t v)
{
	unsigned k;

	if (v < HIST_SUB)
		return (unsigned)v;
	k = 63u - (unsigned)__builtin_clzll(v);
	return ((k - HIST_SUB_BITS + 1) << HIST_SUB_BITS) +
	    (unsigned)((v >> (k - HIST_SUB_BITS)) & (HIST_SUB - 1));
}

static inline void
hist_add(struct hist *h, uint64_t ns)
{
	h->b[hist_index(ns)]++;
	h->count++;
	h->sum += ns;
	if (ns > h->max)
		h->max = ns;
}

void		hist_merge(struct hist *into, const struct hist *h);
/* The value at quantile q (0..1): the middle of its bucket, at most max. */
uint64_t	hist_quantile(const struct hist *h, double q);

/* ---- options ---- */

enum bench_type { BT_RNG, BT_GPIO, BT_I2C, BT_VSOCK };
enum bench_completion { BC_CALL, BC_POLL };
enum gpio_kind { GPIO_GET, GPIO_SET };
enum i2c_kind { I2C_READ, I2C_WRITE };
enum vsock_kind { VS_ECHO, VS_SINK };
enum verify_kind { VERIFY_NONE, VERIFY_ENDS, VERIFY_FULL };
/* --loopback-fault: what the loopback device does wrong, once, to check
 * that vubench sees it (tests/bench/selftest.sh). */
enum loop_fault { LF_NONE, LF_DUP, LF_BAD_HEAD, LF_LOSE, LF_STATUS,
	LF_LEN, LF_NO_WRITE, LF_IDX };

struct opts {
	const char	*sockets[BENCH_MAX_DEVS];
	unsigned	 nsockets;
	enum bench_type	 type;
	uint32_t	 size;
	bool		 size_given;
	unsigned	 depth;
	unsigned	 queues;
	unsigned	 qsize;		/* 0: chosen */
	double		 seconds;
	double		 warmup;
	uint64_t	 requests;	/* per device; 0: by time */
	enum bench_completion completion;
	bool		 event_idx;	/* accept EVENT_IDX when offered */
	pid_t		 pids[BENCH_MAX_PIDS];
	unsigned	 npids;
	pid_t		 trees[BENCH_MAX_PIDS];
	unsigned	 ntrees;
	bool		 json, md, md_header;
	bool		 floors;
	enum gpio_kind	 gpio;
	unsigned	 gpio_line;
	enum i2c_kind	 i2c;
	unsigned	 i2c_addr;
	enum vsock_kind	 vsock;
	const char	*vsock_uds[BENCH_MAX_DEVS];
	unsigned	 nvsock_uds;
	uint32_t	 vsock_port;
	uint64_t	 vsock_cid;	/* 0: from the config space */
	uint32_t	 vsock_rxbuf;	/* 0: chosen */
	enum verify_kind verify;
	int		 timeout_ms;
	int		 cpus[64];	/* pin driver threads, round robin */
	unsigned	 ncpus;
	const char	*label;
	unsigned	 loopback;	/* devices played in-process, 0: none */
	int		 loop_fault;	/* enum loop_fault: the device errs once */
	/* scale mode */
	unsigned	 scale;		/* devices; 0: not the scale mode */
	unsigned	 vms;
	const char	*vhostd;
	double		 idle_seconds;
	const char	*datapath;	/* "datapath" of every device, or NULL */
	const char	*poll_cores;	/* "poll_cores" JSON array, or NULL */
	bool		 keep;
};

extern struct opts	O;

/* ---- the devices driven ---- */

/* One virtqueue driven directly: pointers into the guest RAM vufront
 * set up, and pre-built chains (slot s always uses the same descriptors
 * and buffers). */
struct bq {
	unsigned		 index;		/* queue number */
	struct vring_desc	*desc;
	struct vring_avail	*avail;
	struct vring_used	*used;
	volatile uint16_t	*used_event;	/* avail->ring[num] */
	volatile uint16_t	*avail_event;	/* used->ring[num] */
	uint16_t		 num, mask;
	uint16_t		 avail_idx;	/* next to publish */
	uint16_t		 last_used;	/* next used entry to read */
	uint16_t		 ue_base;	/* poll: last_used at the last
						   used_event refresh */
	int			 kick_fd, call_fd;
	bool			 event_idx;
	unsigned		 nd;		/* descriptors per request */
	unsigned		 nslots;
	uint16_t		*slot_of;	/* [num]: head -> slot, or NOSLOT */
	uint16_t		*head_of;	/* [nslots] */
	uint64_t		*t_sub;		/* [nslots]: ticks at publish */
	uint8_t			*inflight;	/* [nslots] */
	uint16_t		*resub;		/* [nslots]: scratch */
	uint8_t		       **buf;		/* [nslots]: the data buffer */
	uint8_t		       **aux;		/* [nslots]: status/response */
	uint64_t		 submitted, completed;
	uint64_t		 kicks, calls;
	uint16_t		 loop_avail0;	/* --loopback: where the device
						   starts (set before priming) */
};

#define NOSLOT	0xffff

/* Counters of one device over the measured window. */
struct dres {
	uint64_t	requests;	/* completed in the window */
	uint64_t	bytes;
	uint64_t	errors;		/* results that were wrong */
	uint64_t	short_fills;	/* rng: fewer bytes than asked */
	uint64_t	kicks, calls, waits;
	uint64_t	t_start, t_end;	/* now_ns() */
	struct hist	lat;
};

struct vsock_dev;

struct bdev {
	_Alignas(64) unsigned index;
	const char	*path;
	struct vuf	*v;
	struct bq	 q[BENCH_MAX_QUEUES];
	unsigned	 nq;		/* request queues driven */
	unsigned	 nqueues;	/* queues started */
	uint64_t	 ram;
	struct vsock_dev *vs;
	/* live counters (the thread's), and the window's */
	uint64_t	 requests, bytes, errors, short_fills, waits;
	struct hist	*lat;		/* live histogram */
	struct dres	 res;
	uint64_t	 base_requests, base_bytes, base_errors, base_short;
	uint64_t	 base_kicks, base_calls, base_waits;
	_Atomic bool	 window_done;	/* its measured window is over */
	_Atomic bool	 exited;	/* its thread returned */
	int		 cpu;		/* pinned to, -1 */
	/* results */
	bool		 proto_error;	/* the back-end broke a rule */
	uint64_t	 lost;		/* submitted, never completed */
	char		 err[BENCH_ERR_LEN];	/* set-up or protocol */
	char		 rerr[BENCH_ERR_LEN];	/* the first wrong result */
	pthread_t	 th;
	bool		 started;
	/* --loopback: the device played by a thread of ours */
	pthread_t	 loop_th;
	_Atomic bool	 loop_stop;
	bool		 loop_started;
	int		 loop_cpu;
};

/* The run's phase, which the driver threads follow. */
enum { PH_WARMUP, PH_MEASURE, PH_STOP, PH_ABORT };
extern _Atomic int	phase;
extern pthread_barrier_t start_barrier;

void	dev_fail(struct bdev *, bool proto, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
void	result_error(struct bdev *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	dev_window_start(struct bdev *);
void	dev_window_end(struct bdev *);
bool	dev_phase_done(struct bdev *, int *seen);
uint64_t dev_kicks(const struct bdev *);
uint64_t dev_calls(const struct bdev *);

/* ring.c: connects, negotiates and lays out the queues, buffers and
 * chains for O.type; 0, or -1 with d->err set. */
int	ring_setup(struct bdev *d);
/* Connects to d->path, negotiates (the device's feature bits dev_bits on
 * top of VERSION_1, EVENT_IDX and PROTOCOL_FEATURES), shares one region of
 * guest RAM with room for buf_bytes of buffers, and starts nqueues queues
 * of qsize[q] entries; 0, or -1 with d->err set. */
int	dev_open(struct bdev *d, uint64_t dev_bits, unsigned nqueues,
	    const uint16_t *qsize, uint64_t buf_bytes);
/* The ring size for nslots chains of nd descriptors: --qsize or the
 * smallest power of two that holds them, at least 256; 0 if too many. */
uint16_t qsize_for(unsigned nslots, unsigned nd);
/* The driver thread of rng, gpio and i2c (arg: struct bdev). */
void	*ring_thread(void *arg);
/* Stops the rings (GET_VRING_BASE) and closes. */
void	ring_teardown(struct bdev *d);
/* Shared with vsock.c. */
int	bq_init(struct bdev *d, unsigned q, unsigned nslots, unsigned nd);
void	bq_publish(struct bdev *d, struct bq *q, unsigned added);
int	bq_wait(struct bdev *d, struct bq **qs, unsigned n, int timeout_ms);
void	bq_arm(struct bq *q);
void	bq_quiet(struct bq *q);
void	pin_self(struct bdev *d);
uint64_t ring_alloc(struct bdev *d, uint64_t len, uint64_t align);

/* loop.c: the trivial polling device of --loopback (arg: struct bdev). */
void	 loop_init(struct bdev *d);
void	*loop_thread(void *arg);

/* vsock.c */
int	vsock_setup(struct bdev *d);
void	*vsock_thread(void *arg);
void	vsock_teardown(struct bdev *d);
uint64_t vsock_host_bytes(const struct bdev *d);

/* ---- floors.c ---- */

struct floors {
	double	shm_rtt_ns;		/* best batch mean */
	double	shm_rtt_ns_median;
	double	efd_rtt_us;
	double	efd_rtt_us_median;
	double	grnd_mbps_size;		/* getrandom at the request size */
	double	grnd_mbps_64k;
	int	cpu_a, cpu_b;		/* the two CPUs pinned, -1: not */
};

void	floors_measure(struct floors *f, uint32_t size, bool rng);

/* ---- procstat.c ---- */

struct cpuset_snap {
	pid_t		pid[BENCH_MAX_DEVS + BENCH_MAX_PIDS];
	uint64_t	ns[BENCH_MAX_DEVS + BENCH_MAX_PIDS];
	unsigned	n;
};

/* CPU time (ns) of pid: its threads' schedstat, else utime + stime of
 * /proc/PID/stat; -1 if it is gone. */
int64_t	proc_cpu_ns(pid_t pid);
/* pid and all its descendants into out (at most max); their number. */
unsigned proc_tree(pid_t pid, pid_t *out, unsigned max);
/* The pids of O.pids and O.trees, each with its CPU time now. */
void	cpu_snap(struct cpuset_snap *s);
/* CPU ns used between a and b (pids new in b count from 0); *gone gets
 * the number of pids of a no longer there. */
uint64_t cpu_delta(const struct cpuset_snap *a, const struct cpuset_snap *b,
	    unsigned *gone);
/* PSS of pid in kB (smaps_rollup), -1 if unknown; *uss_kb gets its
 * private pages (Private_Clean + Private_Dirty), which unlike PSS do not
 * depend on what other processes of the system map. */
long	proc_pss_kb(pid_t pid, long *uss_kb);
/* Context switches (voluntary + involuntary) of all of pid's threads. */
uint64_t proc_ctxsw(pid_t pid);
/* /proc/loadavg's first three fields. */
void	loadavg(char *buf, size_t len);
/* True if every path is a listening unix socket (/proc/net/unix). */
bool	unix_listening(const char *const *paths, unsigned n);

/* ---- scale.c ---- */

int	scale_main(void);

/* ---- vubench.c, for scale.c ---- */

struct run_result {
	double		 seconds;
	uint64_t	 requests, bytes, errors, short_fills;
	uint64_t	 kicks, calls;
	struct hist	 lat;
	uint64_t	 backend_ns;	/* 0 if no pids */
	unsigned	 npids, gone;
	uint64_t	 bench_ns;
	double		 setup_ms;	/* connect and set up every device */
	bool		 failed;	/* a protocol error, a lost request */
};

/* Sets up every device of devs, runs the warm-up and the measured window
 * and drains; fills r.  Returns 0, or -1 if a set-up failed. */
int	run_devices(struct bdev *devs, unsigned n, struct run_result *r);
void	close_devices(struct bdev *devs, unsigned n);
const char *type_name(enum bench_type t);
void	json_str(FILE *f, const char *s);
void	*alloc64(size_t size);

#endif
