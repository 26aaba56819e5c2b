/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Datapath modes against the real vhostd ($VHOSTD), driven by the vufront
 * front-end library playing a guest driver that kicks only when the
 * device asks (VIRTIO 1.x 2.7.10: EVENT_IDX's avail_event, else
 * VRING_USED_F_NO_NOTIFY), as Linux's virtio drivers do:
 *
 * serves     a polled rng (a source file of known bytes) and a polled gpio
 *	      (sim) answer correctly, interrupts included; the polled
 *	      workers run on the poll core only, main and an interrupt-mode
 *	      worker off it.
 * suppress   while a worker polls, the used ring says "no kick" (NO_NOTIFY
 *	      set, or avail_event not following the avail index) and
 *	      requests complete with no kick at all.
 * batching   a ring full of requests costs the driver one call, polled or
 *	      not (one per sweep, one per kick).
 * adaptive   many cycles of idle (shorter and longer than
 *	      adaptive_idle_us, some until the device visibly asks for
 *	      kicks again) then a burst: every request completes, so no
 *	      kick is lost when the worker goes to sleep.
 * shared     two devices polled on one core both make progress, within a
 *	      factor of 2 of each other.
 * restart    a polled worker SIGKILLed with requests in flight is
 *	      replaced, on its core, and every request comes back once.
 *
 * The machine must let this program run on CPUs 0 and 1 (poll_cores [1]);
 * elsewhere, and without $VHOSTD, the tests skip.  No test asserts a time:
 * waits are bounded by DAEMON_WAIT_MS only to fail instead of hanging.
 */
#include "config.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/virtio_gpio.h>

#include "vuf_daemon.h"
#include "vufront.h"

#define QSIZE		64
#define WAIT_MS		DAEMON_WAIT_MS
#define POLL_CPU	"1"
#define EVENT_IDX_BIT	29	/* VIRTIO_RING_F_EVENT_IDX */

/* CPUs 0 and 1 are this program's to use (and so the vhostd's it
 * starts, which inherits its affinity). */
static bool
cpus_ok(void)
{
	cpu_set_t s;

	return sched_getaffinity(0, sizeof(s), &s) == 0 && CPU_ISSET(0, &s) &&
	    CPU_ISSET(1, &s);
}

#define SKIP_UNLESS_READY(d) do {					\
	DAEMON_SKIP_IF_NONE(d);						\
	if (!cpus_ok()) {						\
		print_message("needs CPUs 0 and 1: skipped\n");		\
		skip();							\
	}								\
} while (0)

/*
 * Where main and interrupt-mode workers run, as /proc shows it ("0",
 * "0,2-7"): the CPUs this program (and so vhostd) may use but the poll
 * core 1.
 */
static const char *
main_cpus(void)
{
	static char buf[256];
	size_t o = 0;
	cpu_set_t s;
	int c, first;

	assert_int_equal(sched_getaffinity(0, sizeof(s), &s), 0);
	CPU_CLR(1, &s);
	buf[0] = '\0';
	for (c = 0; c < CPU_SETSIZE && o < sizeof(buf); c++) {
		if (!CPU_ISSET(c, &s))
			continue;
		first = c;
		while (c + 1 < CPU_SETSIZE && CPU_ISSET(c + 1, &s))
			c++;
		if (first == c)
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%d",
			    o > 0 ? "," : "", c);
		else
			o += (size_t)snprintf(buf + o, sizeof(buf) - o,
			    "%s%d-%d", o > 0 ? "," : "", first, c);
	}
	return buf;
}

/* This program's CPUs when it started. */
static cpu_set_t start_cpus;

/* Keeps this program off the poll core from now on (after vhostd was
 * started with all of its CPUs): that core is the pollers'. */
static void
stay_off_poll_core(void)
{
	cpu_set_t s = start_cpus;

	CPU_CLR(1, &s);
	assert_int_equal(sched_setaffinity(0, sizeof(s), &s), 0);
}

static void
restore_affinity(void)
{
	(void)sched_setaffinity(0, sizeof(start_cpus), &start_cpus);
}

/* Each test starts and ends with this program's CPUs as they were, even
 * after a failure. */
static int
dp_setup(void **state)
{
	restore_affinity();
	return daemon_setup(state);
}

static int
dp_teardown(void **state)
{
	restore_affinity();
	return daemon_teardown(state);
}

/* The Cpus_allowed_list of process pid ("0-1", "1"), in buf. */
static const char *
cpus_allowed(pid_t pid, char *buf, size_t len)
{
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	buf[0] = '\0';
	if ((f = fopen(path, "r")) == NULL)
		return buf;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "Cpus_allowed_list:", 18) == 0) {
			snprintf(buf, len, "%s", line + 18 +
			    strspn(line + 18, " \t"));
			buf[strcspn(buf, "\n")] = '\0';
			break;
		}
	fclose(f);
	return buf;
}

/* Waits for device id's worker (another one than `old`, if not 0). */
static pid_t
worker_wait(struct daemon *d, const char *id, pid_t old)
{
	int64_t until = now_ms() + WAIT_MS;
	pid_t p;

	while ((p = daemon_worker_of(d, id)) == 0 || p == old) {
		if (now_ms() > until)
			fail_msg("%s: no worker", id);
		sleep_ms(5);
	}
	return p;
}

/* The worker of id runs on exactly `cpus`; it may still be pinning
 * itself right after it started. */
static void
expect_worker_cpus(struct daemon *d, const char *id, const char *cpus)
{
	int64_t until = now_ms() + WAIT_MS;
	char got[256];
	pid_t p;

	for (;;) {
		p = worker_wait(d, id, 0);
		if (strcmp(cpus_allowed(p, got, sizeof(got)), cpus) == 0)
			return;
		if (now_ms() > until)
			fail_msg("%s: worker %d runs on CPUs %s, not %s", id,
			    (int)p, got, cpus);
		sleep_ms(5);
	}
}

/* ---- the guest driver's side ---- */

static uint16_t
avail_event(const struct vuf *v, unsigned q)
{
	const struct vuf_vq *vq = &v->vq[q];

	return __atomic_load_n((const uint16_t *)(const void *)
	    &vq->used->ring[vq->num], __ATOMIC_RELAXED);
}

static uint16_t
used_flags(const struct vuf *v, unsigned q)
{
	return __atomic_load_n(&v->vq[q].used->flags, __ATOMIC_RELAXED);
}

/*
 * After the driver made entries available from avail index `old` on:
 * kicks if, and only if, the device asks for it.  Returns 1 if it
 * kicked.
 */
static int
driver_notify(struct vuf *v, unsigned q, uint16_t old)
{
	uint16_t nw = v->vq[q].avail_idx, ev;
	bool kick;

	/* The new index is visible before the device's wish is read; the
	 * device does the converse (vq_enable_notify). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (v->event_idx) {
		ev = avail_event(v, q);
		kick = (uint16_t)(nw - ev - 1) < (uint16_t)(nw - old);
	} else
		kick = (used_flags(v, q) & VRING_USED_F_NO_NOTIFY) == 0;
	if (kick && vuf_kick(v, q) == -1)
		fail_msg("kick: %s", vuf_error(v));
	return kick;
}

/* True while the device asks for kicks: its worker is not polling. */
static bool
device_wants_kicks(const struct vuf *v, unsigned q)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (v->event_idx)
		return avail_event(v, q) == v->vq[q].avail_idx;
	return (used_flags(v, q) & VRING_USED_F_NO_NOTIFY) == 0;
}

/* One rng front-end with n buffers of len bytes each in flight at most. */
struct rngfe {
	const char	*id;
	struct vuf	*v;
	uint32_t	 len;
	uint64_t	 gpa[QSIZE];
	bool		 busy[QSIZE];
	uint64_t	 submitted, done, kicks;
};

static void
rngfe_open(struct rngfe *f, const char *id, const char *sock, uint32_t len,
    bool event_idx)
{
	uint64_t want = ~UINT64_C(0);
	unsigned i;

	memset(f, 0, sizeof(*f));
	f->id = id;
	f->len = len;
	if (!event_idx)
		want &= ~(UINT64_C(1) << EVENT_IDX_BIT);
	if ((f->v = vuf_connect(sock, WAIT_MS)) == NULL)
		fail_msg("%s: connect: %s", id, strerror(errno));
	if (vuf_setup_with(f->v, want, ~UINT64_C(0), 1, QSIZE) == -1)
		fail_msg("%s: setup: %s", id, vuf_error(f->v));
	assert_int_equal(f->v->event_idx, event_idx);
	for (i = 0; i < QSIZE; i++)
		if ((f->gpa[i] = vuf_alloc(f->v, 0, len, 64)) == VUF_BAD_GPA)
			fail_msg("%s: alloc: %s", id, vuf_error(f->v));
}

/* Adds n requests (not notified).  Returns the avail index before. */
static uint16_t
rngfe_add(struct rngfe *f, unsigned n)
{
	uint16_t old = f->v->vq[0].avail_idx;
	struct vuf_seg seg;
	unsigned i;
	int h;

	while (n-- > 0) {
		for (i = 0; i < QSIZE && f->busy[i]; i++)
			;
		assert_true(i < QSIZE);
		memset(vuf_gpa_to_host(f->v, f->gpa[i], f->len), 0xa5,
		    f->len);
		seg = (struct vuf_seg){ f->gpa[i], f->len, true };
		if ((h = vuf_vq_add(f->v, 0, &seg, 1)) == -1)
			fail_msg("%s: add: %s", f->id, vuf_error(f->v));
		f->busy[i] = true;
		f->submitted++;
	}
	return old;
}

/* Adds n requests and notifies as a driver does. */
static void
rngfe_submit(struct rngfe *f, unsigned n)
{
	uint16_t old = rngfe_add(f, n);

	f->kicks += (uint64_t)driver_notify(f->v, 0, old);
}

/*
 * Takes every used entry: each must be a whole buffer of entropy (not
 * the 0xa5 fill).  Returns how many.  A head not in flight (a request
 * completed twice) fails in vufront.
 */
static unsigned
rngfe_harvest(struct rngfe *f)
{
	uint32_t head, len;
	unsigned n = 0, i, fill;
	const uint8_t *p;
	uint64_t gpa;
	int r;

	while ((r = vuf_vq_harvest(f->v, 0, &head, &len)) == 1) {
		gpa = f->v->vq[0].desc[head].addr;
		for (i = 0; i < QSIZE && f->gpa[i] != gpa; i++)
			;
		assert_true(i < QSIZE && f->busy[i]);
		f->busy[i] = false;
		if (len != f->len)
			fail_msg("%s: request of %u bytes got %u", f->id,
			    f->len, len);
		p = vuf_gpa_to_host(f->v, gpa, f->len);
		for (i = fill = 0; i < f->len; i++)
			fill += p[i] == 0xa5;
		/* Random bytes hold about len/256 of 0xa5. */
		if (fill > f->len / 16 + 4)
			fail_msg("%s: %u of %u bytes not written", f->id, fill,
			    f->len);
		f->done++;
		n++;
	}
	if (r == -1)
		fail_msg("%s: %s (a request completed twice?)", f->id,
		    vuf_error(f->v));
	return n;
}

/* Waits until every request submitted came back. */
static void
rngfe_drain(struct rngfe *f)
{
	int64_t until = now_ms() + WAIT_MS;

	for (;;) {
		rngfe_harvest(f);
		if (f->done == f->submitted)
			return;
		if (now_ms() > until)
			fail_msg("%s: %" PRIu64 " of %" PRIu64 " requests "
			    "never came back", f->id, f->submitted - f->done,
			    f->submitted);
		(void)vuf_wait_call(f->v, 0, 10);
	}
}

static void
rngfe_close(struct rngfe *f)
{
	vuf_close(f->v);
	f->v = NULL;
}

/* ---- serves ---- */

/* The known bytes of the rng source file. */
static uint8_t
src_byte(size_t i)
{
	uint32_t x = (uint32_t)i * 2654435761u;

	return (uint8_t)(x >> 13 ^ x >> 24);
}

/* One gpio request on the requestq of v: status and value, or -1. */
static int
gpio_request(struct vuf *v, uint16_t type, uint16_t line, uint32_t value,
    uint8_t *out)
{
	uint64_t a = vuf_alloc(v, 0, 8, 8), b = vuf_alloc(v, 0, 8, 8);
	struct vuf_seg seg[2] = { { a, 8, false }, { b, 2, true } };
	uint8_t *p = vuf_gpa_to_host(v, a, 8), *r;
	uint32_t head, len;
	uint16_t t = htole16(type), l = htole16(line), old;

	value = htole32(value);
	memcpy(p, &t, 2);
	memcpy(p + 2, &l, 2);
	memcpy(p + 4, &value, 4);
	r = vuf_gpa_to_host(v, b, 2);
	memset(r, 0xee, 2);
	old = v->vq[0].avail_idx;
	if (vuf_vq_add(v, 0, seg, 2) < 0)
		return -1;
	(void)driver_notify(v, 0, old);
	if (vuf_vq_wait_used(v, 0, &head, &len, WAIT_MS) != 1 || len != 2)
		return -1;
	if (out != NULL)
		*out = r[1];
	return r[0];
}

/*
 * A polled rng returns exactly its source file's bytes, in order; a
 * polled gpio sets and reads lines and delivers an edge interrupt; the
 * polled workers run on the poll core, main and an interrupt-mode worker
 * on the other.
 */
static void
test_serves(void **state)
{
	struct daemon *d = *state;
	char extra[PATH_MAX + 128], src[PATH_MAX], chip[PATH_MAX], got[256];
	char main_list[256];
	size_t total = 64 * 1024, off = 0, i;
	uint8_t *want, val;
	struct rngfe f, g;
	struct vuf_seg seg[2];
	struct vuf *v;
	uint64_t a, b;
	uint32_t head, len, base;
	uint16_t line = htole16(1), old;
	int fd, k;

	SKIP_UNLESS_READY(d);
	assert_non_null(want = malloc(total));
	for (i = 0; i < total; i++)
		want[i] = src_byte(i);
	snprintf(src, sizeof(src), "%s/entropy.bin", d->dir);
	assert_int_not_equal(fd = open(src, O_WRONLY | O_CREAT | O_EXCL,
	    0644), -1);
	assert_int_equal(write(fd, want, total), (ssize_t)total);
	assert_int_equal(close(fd), 0);
	snprintf(d->global, sizeof(d->global), ", \"poll_cores\": [1]");
	snprintf(extra, sizeof(extra), ", \"source\": \"%s\", \"datapath\": "
	    "\"poll\"", src);
	daemon_add(d, "rng", "p-rng", extra);
	snprintf(chip, sizeof(chip), "%s/chip", d->dir);
	snprintf(extra, sizeof(extra), ", \"backend\": \"sim\", \"chip\": "
	    "\"%s\", \"ngpio\": 8, \"lines\": [0, 1, 2, 3], \"datapath\": "
	    "\"poll\", \"poll_core\": 1", chip);
	daemon_add(d, "gpio", "p-gpio", extra);
	daemon_add(d, "rng", "i-rng", "");
	assert_non_null(strcpy(main_list, main_cpus()));
	daemon_start(d);
	stay_off_poll_core();
	assert_string_equal(cpus_allowed(d->pid, got, sizeof(got)), main_list);

	/* rng: the file's bytes in order, 64 at a time, 8 in flight. */
	rngfe_open(&f, "p-rng", d->sock[0], 64, true);
	expect_worker_cpus(d, "p-rng", POLL_CPU);
	for (k = 0; k < 100; k++) {
		old = rngfe_add(&f, 8);
		f.kicks += (uint64_t)driver_notify(f.v, 0, old);
		/* In order: each used entry takes the next 64 bytes. */
		while (f.done < f.submitted) {
			if (vuf_vq_wait_used(f.v, 0, &head, &len, WAIT_MS) != 1)
				fail_msg("p-rng: %s", vuf_error(f.v));
			assert_int_equal(len, 64);
			a = f.v->vq[0].desc[head].addr;
			if (memcmp(vuf_gpa_to_host(f.v, a, 64), want + off,
			    64) != 0)
				fail_msg("p-rng: bytes differ from the file at "
				    "offset %zu", off);
			for (i = 0; i < QSIZE && f.gpa[i] != a; i++)
				;
			assert_true(i < QSIZE);
			f.busy[i] = false;
			off += 64;
			f.done++;
		}
	}
	/* main's GET_VRING_BASE is answered by the polling worker. */
	if (vuf_get_vring_base(f.v, 0, &base) == -1)
		fail_msg("GET_VRING_BASE: %s", vuf_error(f.v));
	assert_int_equal(base, 800);
	rngfe_close(&f);

	/* An interrupt-mode worker stays off the poll core. */
	rngfe_open(&g, "i-rng", d->sock[2], 64, true);
	expect_worker_cpus(d, "i-rng", main_list);
	rngfe_submit(&g, 4);
	rngfe_drain(&g);
	assert_true(g.kicks > 0);
	rngfe_close(&g);

	/* gpio: requests and an interrupt. */
	if ((v = vuf_connect(d->sock[1], WAIT_MS)) == NULL)
		fail_msg("connect: %s", strerror(errno));
	if (vuf_setup(v, 2, QSIZE) == -1)
		fail_msg("gpio setup: %s", vuf_error(v));
	expect_worker_cpus(d, "p-gpio", POLL_CPU);
	assert_int_equal(gpio_request(v, VIRTIO_GPIO_MSG_SET_DIRECTION, 2,
	    VIRTIO_GPIO_DIRECTION_OUT, NULL), 0);
	for (k = 0; k < 20; k++) {
		assert_int_equal(gpio_request(v, VIRTIO_GPIO_MSG_SET_VALUE, 2,
		    (uint32_t)k & 1, NULL), 0);
		assert_int_equal(gpio_request(v, VIRTIO_GPIO_MSG_GET_VALUE, 2,
		    0, &val), 0);
		assert_int_equal(val, k & 1);
	}
	assert_int_equal(gpio_request(v, VIRTIO_GPIO_MSG_GET_DIRECTION, 2, 0,
	    &val), 0);
	assert_int_equal(val, VIRTIO_GPIO_DIRECTION_OUT);
	/* Line 5 is not this device's. */
	assert_int_equal(gpio_request(v, VIRTIO_GPIO_MSG_GET_VALUE, 5, 0,
	    NULL), 1);
	assert_int_equal(gpio_request(v, VIRTIO_GPIO_MSG_SET_DIRECTION, 1,
	    VIRTIO_GPIO_DIRECTION_IN, NULL), 0);
	assert_int_equal(gpio_request(v, VIRTIO_GPIO_MSG_IRQ_TYPE, 1,
	    VIRTIO_GPIO_IRQ_TYPE_EDGE_RISING, NULL), 0);
	a = vuf_alloc(v, 0, 8, 8);
	b = vuf_alloc(v, 0, 8, 8);
	memcpy(vuf_gpa_to_host(v, a, 2), &line, 2);
	*(uint8_t *)vuf_gpa_to_host(v, b, 1) = 0xee;
	seg[0] = (struct vuf_seg){ a, 2, false };
	seg[1] = (struct vuf_seg){ b, 1, true };
	old = v->vq[1].avail_idx;
	assert_true(vuf_vq_add(v, 1, seg, 2) >= 0);
	(void)driver_notify(v, 1, old);
	/* Held: no edge yet. */
	assert_int_equal(vuf_vq_wait_used(v, 1, &head, &len, 100), 0);
	assert_true((fd = open(chip, O_WRONLY)) >= 0);
	assert_int_equal(pwrite(fd, "1", 1, 1), 1);
	close(fd);
	if (vuf_vq_wait_used(v, 1, &head, &len, WAIT_MS) != 1)
		fail_msg("no interrupt: %s", vuf_error(v));
	assert_int_equal(*(uint8_t *)vuf_gpa_to_host(v, b, 1),
	    VIRTIO_GPIO_IRQ_STATUS_VALID);
	vuf_close(v);
	daemon_stop(d);
	free(want);
}

/* ---- suppress ---- */

/*
 * While the worker polls, the device asks for no kick and takes requests
 * without one: with EVENT_IDX avail_event stays where it was (it does not
 * follow the avail index as an interrupt-mode device's does); without,
 * VRING_USED_F_NO_NOTIFY is set.
 */
static void
test_suppress(void **state)
{
	static const char *const ids[] = { "evi", "noevi", "intr" };
	struct daemon *d = *state;
	struct rngfe f;
	int64_t until;
	unsigned k, i;

	SKIP_UNLESS_READY(d);
	snprintf(d->global, sizeof(d->global), ", \"poll_cores\": [1]");
	daemon_add(d, "rng", ids[0], ", \"datapath\": \"poll\"");
	daemon_add(d, "rng", ids[1], ", \"datapath\": \"poll\"");
	/* The control: interrupt mode does ask for kicks. */
	daemon_add(d, "rng", ids[2], "");
	daemon_start(d);
	stay_off_poll_core();
	for (i = 0; i < 3; i++) {
		rngfe_open(&f, ids[i], d->sock[i], 256, i != 1);
		worker_wait(d, ids[i], 0);
		if (i == 1) {
			/* Set on the worker's first sweep. */
			until = now_ms() + WAIT_MS;
			while (!(used_flags(f.v, 0) & VRING_USED_F_NO_NOTIFY)) {
				if (now_ms() > until)
					fail_msg("noevi: NO_NOTIFY never set");
				sleep_ms(1);
			}
		}
		for (k = 0; k < 20; k++) {
			if (i < 2) {
				/* Never kicked, and done. */
				rngfe_add(&f, 16);
				rngfe_drain(&f);
				assert_false(device_wants_kicks(f.v, 0));
				continue;
			}
			/* Idle in interrupt mode, the device asks for a kick
			 * at the next request (once its worker is back from
			 * the last batch). */
			rngfe_submit(&f, 16);
			rngfe_drain(&f);
			until = now_ms() + WAIT_MS;
			while (!device_wants_kicks(f.v, 0)) {
				if (now_ms() > until)
					fail_msg("intr: kicks never asked");
				sleep_ms(1);
			}
		}
		if (i < 2)
			assert_int_equal(f.kicks, 0);
		else
			assert_int_equal(f.kicks, 20);
		print_message("%s: %" PRIu64 " requests, %" PRIu64 " kicks\n",
		    ids[i], f.done, f.kicks);
		rngfe_close(&f);
	}
	daemon_stop(d);
}

/* ---- batching ---- */

/* Waits until process pid is stopped (state T in /proc/PID/stat). */
static void
wait_stopped(pid_t pid)
{
	int64_t until = now_ms() + WAIT_MS;
	char path[64], buf[256], *p;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	for (;;) {
		buf[0] = '\0';
		if ((f = fopen(path, "r")) != NULL) {
			if (fgets(buf, sizeof(buf), f) == NULL)
				buf[0] = '\0';
			fclose(f);
		}
		if ((p = strrchr(buf, ')')) != NULL && p[1] == ' ' &&
		    p[2] == 'T')
			return;
		if (now_ms() > until)
			fail_msg("worker %d never stopped", (int)pid);
		sleep_ms(1);
	}
}

/*
 * Used entries are published and the driver called once per batch, not
 * once per request: with the worker stopped, the driver (no EVENT_IDX,
 * so it asks for a call at every flush) makes a whole ring of requests
 * available (and kicks once, in interrupt mode); once the worker goes on,
 * one sweep (poll) or one kick (interrupt) takes them all and writes the
 * call eventfd once.
 */
static void
test_batching(void **state)
{
	static const char *const ids[] = { "b-poll", "b-intr" };
	struct daemon *d = *state;
	struct rngfe f;
	struct pollfd pfd;
	uint64_t calls, c;
	int64_t until;
	unsigned i;
	pid_t w;

	SKIP_UNLESS_READY(d);
	snprintf(d->global, sizeof(d->global), ", \"poll_cores\": [1]");
	daemon_add(d, "rng", ids[0], ", \"datapath\": \"poll\"");
	daemon_add(d, "rng", ids[1], "");
	daemon_start(d);
	stay_off_poll_core();
	for (i = 0; i < 2; i++) {
		rngfe_open(&f, ids[i], d->sock[i], 32, false);
		w = worker_wait(d, ids[i], 0);
		/* The ring runs; nothing is left to call about. */
		rngfe_submit(&f, 1);
		rngfe_drain(&f);
		pfd = (struct pollfd){ f.v->vq[0].call_fd, POLLIN, 0 };
		while (poll(&pfd, 1, 50) > 0)
			(void)!read(pfd.fd, &c, sizeof(c));
		assert_int_equal(kill(w, SIGSTOP), 0);
		wait_stopped(w);
		f.kicks = 0;
		rngfe_submit(&f, QSIZE);
		assert_int_equal(f.kicks, i == 0 ? 0 : 1);
		assert_int_equal(kill(w, SIGCONT), 0);
		calls = 0;
		until = now_ms() + WAIT_MS;
		while (f.done < f.submitted) {
			if (poll(&pfd, 1, 10) > 0 &&
			    read(pfd.fd, &c, sizeof(c)) == sizeof(c))
				calls += c;
			rngfe_harvest(&f);
			if (now_ms() > until)
				fail_msg("%s: %" PRIu64 " of %" PRIu64 " back",
				    ids[i], f.done, f.submitted);
		}
		/* A late call would come within a few ms. */
		if (poll(&pfd, 1, 20) > 0 &&
		    read(pfd.fd, &c, sizeof(c)) == sizeof(c))
			calls += c;
		print_message("%s: %d requests, %" PRIu64 " call\n", ids[i],
		    QSIZE, calls);
		assert_int_equal(calls, 1);
		rngfe_close(&f);
	}
	daemon_stop(d);
}

/* ---- adaptive ---- */

/*
 * Cycles of idle then a burst, on an adaptive device with and without
 * EVENT_IDX.  Idle times straddle adaptive_idle_us (the worker goes to
 * sleep around when the burst comes: the race a lost wake-up would lose),
 * and every 8th cycle waits until the device asks for kicks, so that the
 * sleep is certain there.  A request lost would never come back.
 */
static void
test_adaptive(void **state)
{
	static const char *const ids[] = { "ad-evi", "ad-noevi" };
	struct daemon *d = *state;
	struct rngfe f;
	uint64_t slept = 0;
	int64_t until;
	unsigned k, i;

	SKIP_UNLESS_READY(d);
	snprintf(d->global, sizeof(d->global), ", \"poll_cores\": [1]");
	daemon_add(d, "rng", ids[0], ", \"datapath\": \"adaptive\", "
	    "\"adaptive_idle_us\": 100");
	daemon_add(d, "rng", ids[1], ", \"datapath\": \"adaptive\", "
	    "\"adaptive_idle_us\": 100");
	daemon_start(d);
	stay_off_poll_core();
	srand((unsigned)getpid());
	for (i = 0; i < 2; i++) {
		rngfe_open(&f, ids[i], d->sock[i], 64, i == 0);
		expect_worker_cpus(d, ids[i], POLL_CPU);
		for (k = 0; k < 400; k++) {
			if (k % 8 == 0) {
				until = now_ms() + WAIT_MS;
				while (!device_wants_kicks(f.v, 0)) {
					if (now_ms() > until)
						fail_msg("%s: never went to "
						    "sleep", ids[i]);
					usleep(200);
				}
				slept++;
			} else
				usleep((useconds_t)(rand() % 300));
			rngfe_submit(&f, 1 + (unsigned)rand() % 16);
			rngfe_drain(&f);
		}
		/* Each certain sleep needed a kick to end. */
		assert_true(f.kicks >= slept);
		print_message("%s: %" PRIu64 " requests, %" PRIu64 " kicks\n",
		    ids[i], f.done, f.kicks);
		rngfe_close(&f);
		slept = 0;
	}
	daemon_stop(d);
}

static void
spin_ns(long ns)
{
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	do
		clock_gettime(CLOCK_MONOTONIC, &b);
	while ((b.tv_sec - a.tv_sec) * 1000000000L + b.tv_nsec - a.tv_nsec <
	    ns);
}

/*
 * The same race, hit often: adaptive_idle_us 1, so the worker tries to
 * sleep a microsecond or two after each completion, and a driver that
 * watches the used ring without sleeping and adds the next request at a
 * random moment 0 to 3 us after the last one came back, again and again.
 * A request made available between the worker's last sweep and its
 * re-enabling of kicks must be found by its last look; if it were not,
 * the driver (told "no kick") would wait for it forever.
 */
static void
test_adaptive_race(void **state)
{
	static const char *const ids[] = { "race-evi", "race-noevi" };
	struct daemon *d = *state;
	struct rngfe f;
	int64_t until;
	unsigned k, i, spins;

	SKIP_UNLESS_READY(d);
	snprintf(d->global, sizeof(d->global), ", \"poll_cores\": [1]");
	daemon_add(d, "rng", ids[0], ", \"datapath\": \"adaptive\", "
	    "\"adaptive_idle_us\": 1");
	daemon_add(d, "rng", ids[1], ", \"datapath\": \"adaptive\", "
	    "\"adaptive_idle_us\": 1");
	daemon_start(d);
	stay_off_poll_core();
	srand((unsigned)getpid());
	for (i = 0; i < 2; i++) {
		rngfe_open(&f, ids[i], d->sock[i], 16, i == 0);
		expect_worker_cpus(d, ids[i], POLL_CPU);
		for (k = 0; k < 20000; k++) {
			rngfe_submit(&f, 1);
			until = now_ms() + WAIT_MS;
			for (spins = 0; rngfe_harvest(&f) == 0; spins++)
				if (spins % 4096 == 4095 && now_ms() > until)
					fail_msg("%s: request %u never came "
					    "back (%" PRIu64 " kicks)", ids[i],
					    k, f.kicks);
			spin_ns(rand() % 3000);
		}
		print_message("%s: %" PRIu64 " requests, %" PRIu64 " kicks\n",
		    ids[i], f.done, f.kicks);
		assert_true(f.kicks > 0);
		rngfe_close(&f);
	}
	daemon_stop(d);
}

/* ---- shared ---- */

/*
 * Two devices polled on one core, each kept busy (4 KiB requests, the
 * device's getrandom the bottleneck): neither gets less than half of
 * what the other gets.
 */
static void
test_shared(void **state)
{
	struct daemon *d = *state;
	struct rngfe f[2];
	struct pollfd pfd[2];
	uint64_t c, total = 0, lo, hi;
	int64_t until;
	unsigned i, got;

	SKIP_UNLESS_READY(d);
	daemon_add(d, "rng", "s1", ", \"datapath\": \"poll\", \"poll_core\": "
	    "1");
	daemon_add(d, "rng", "s2", ", \"datapath\": \"poll\", \"poll_core\": "
	    "1");
	daemon_start(d);
	stay_off_poll_core();
	rngfe_open(&f[0], "s1", d->sock[0], 4096, true);
	rngfe_open(&f[1], "s2", d->sock[1], 4096, true);
	expect_worker_cpus(d, "s1", POLL_CPU);
	expect_worker_cpus(d, "s2", POLL_CPU);
	until = now_ms() + WAIT_MS;
	while (total < 40000) {
		got = 0;
		for (i = 0; i < 2; i++) {
			got += rngfe_harvest(&f[i]);
			if (f[i].submitted - f[i].done < QSIZE / 2)
				rngfe_submit(&f[i], QSIZE -
				    (unsigned)(f[i].submitted - f[i].done));
			pfd[i].fd = f[i].v->vq[0].call_fd;
			pfd[i].events = POLLIN;
		}
		total += got;
		if (got > 0) {
			until = now_ms() + WAIT_MS;
			continue;
		}
		if (now_ms() > until)
			fail_msg("no progress: %" PRIu64 " and %" PRIu64
			    " requests", f[0].done, f[1].done);
		if (poll(pfd, 2, 10) > 0)
			for (i = 0; i < 2; i++)
				if (pfd[i].revents & POLLIN)
					(void)!read(pfd[i].fd, &c, sizeof(c));
	}
	lo = f[0].done < f[1].done ? f[0].done : f[1].done;
	hi = f[0].done < f[1].done ? f[1].done : f[0].done;
	print_message("s1: %" PRIu64 " requests, s2: %" PRIu64 "\n",
	    f[0].done, f[1].done);
	if (lo * 2 < hi)
		fail_msg("one device starves the other: %" PRIu64 " and %"
		    PRIu64 " requests", f[0].done, f[1].done);
	for (i = 0; i < 2; i++) {
		rngfe_drain(&f[i]);
		rngfe_close(&f[i]);
	}
	daemon_stop(d);
}

/* ---- restart ---- */

/*
 * A polled worker SIGKILLed three times with requests in flight: each
 * replacement runs on the poll core, resumes the ring, and every request
 * comes back exactly once; the ring's base is where the requests end.
 */
static void
test_restart(void **state)
{
	struct daemon *d = *state;
	struct rngfe f;
	uint32_t base;
	pid_t w = 0;
	unsigned k;

	SKIP_UNLESS_READY(d);
	snprintf(d->global, sizeof(d->global), ", \"poll_cores\": [1]");
	daemon_add(d, "rng", "r-rng", ", \"datapath\": \"poll\"");
	daemon_start(d);
	stay_off_poll_core();
	rngfe_open(&f, "r-rng", d->sock[0], 64, true);
	for (k = 0; k < 3; k++) {
		w = worker_wait(d, "r-rng", w);
		expect_worker_cpus(d, "r-rng", POLL_CPU);
		rngfe_submit(&f, 16);
		rngfe_drain(&f);
		rngfe_submit(&f, 32);
		assert_int_equal(kill(w, SIGKILL), 0);
		rngfe_submit(&f, 16);
		rngfe_drain(&f);
	}
	w = worker_wait(d, "r-rng", w);
	expect_worker_cpus(d, "r-rng", POLL_CPU);
	assert_true(daemon_log_has(d, WAIT_MS, "r-rng", "restarting its "
	    "worker", (char *)NULL));
	if (vuf_get_vring_base(f.v, 0, &base) == -1)
		fail_msg("GET_VRING_BASE: %s", vuf_error(f.v));
	assert_int_equal(base, (uint32_t)f.submitted);
	rngfe_close(&f);
	daemon_stop(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_serves,
		    dp_setup, dp_teardown),
		cmocka_unit_test_setup_teardown(test_suppress,
		    dp_setup, dp_teardown),
		cmocka_unit_test_setup_teardown(test_batching,
		    dp_setup, dp_teardown),
		cmocka_unit_test_setup_teardown(test_adaptive,
		    dp_setup, dp_teardown),
		cmocka_unit_test_setup_teardown(test_adaptive_race,
		    dp_setup, dp_teardown),
		cmocka_unit_test_setup_teardown(test_shared,
		    dp_setup, dp_teardown),
		cmocka_unit_test_setup_teardown(test_restart,
		    dp_setup, dp_teardown),
	};

	if (sched_getaffinity(0, sizeof(start_cpus), &start_cpus) != 0)
		CPU_ZERO(&start_cpus);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
