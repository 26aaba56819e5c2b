/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Worker restarts, against the real vhostd ($VHOSTD) driven by the vufront
 * front-end library: a worker that dies while serving a front-end is
 * replaced, resumes from the in-flight log, and every request the
 * front-end submitted comes back exactly once (vufront refuses a used
 * head that is not in flight, so a request completed twice fails the
 * test, and one never completed leaves the drain short).  Requests a dead
 * worker had taken are re-executed where that is harmless (entropy, GPIO
 * reads) and fail with the device's error status otherwise (GPIO writes,
 * I2C transfers); a vsock guest is told its connections are gone.
 *
 * pop-exit   (test builds) the first worker of a connection exits right
 *	      after taking its Nth request (VHOSTD_TEST_FAULT=<id>:pop-exit:N):
 *	      which requests are resubmitted, and how each ends, is exact.
 * storm      rng, gpio and i2c front-ends keep DEPTH requests in flight
 *	      while each worker is SIGKILLed KILLS times at random moments.
 * base       GET_VRING_BASE while the worker is dead waits for the next
 *	      one and answers where the ring really stands.
 * irq	      a gpio interrupt armed before the worker died fires after;
 *	      so do 64 (the in-flight log's entries sorted under the
 *	      worker's filter).
 * connect    "connect": vhostd connects to the front-end's socket, and
 *	      again after the front-end or vhostd itself went away.
 *
 * Without $VHOSTD the tests skip; the pop-exit cases skip in builds
 * without --enable-test-hooks.
 */
#include "config.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/virtio_gpio.h>
#include <linux/virtio_i2c.h>

#include "vuf_daemon.h"
#include "vufront.h"

#define QSIZE		64
#define DEPTH		16
#define KILLS		4	/* per device: within vhostd's budget of 5 */
#define KILL_GAP_MS	250
#define EEPROM		0x50

enum kind { K_RNG, K_GPIO, K_I2C };

/* One request slot: its buffers in guest RAM. */
struct slot {
	bool		busy;
	uint64_t	seq;
	uint64_t	a, b, c;	/* header, data, status */
};

/* One front-end driving queue 0 of a device. */
struct fe {
	const char	*id;
	enum kind	 kind;
	struct vuf	*v;
	struct slot	 slot[QSIZE];
	int		 slot_of_head[QSIZE];
	uint64_t	 seq, submitted, done, errs;
};

/* Waits for device id's worker (a new one if not `old`) and kills it. */
static void
kill_worker(struct daemon *d, const char *id, pid_t *old)
{
	int64_t until = now_ms() + DAEMON_WAIT_MS;
	pid_t p;

	while ((p = daemon_worker_of(d, id)) == 0 || p == *old) {
		if (now_ms() > until)
			fail_msg("%s: no new worker", id);
		usleep(5000);
	}
	assert_int_equal(kill(p, SIGKILL), 0);
	*old = p;
}

static uint8_t *
host(struct fe *f, uint64_t gpa, uint64_t len)
{
	uint8_t *p = vuf_gpa_to_host(f->v, gpa, len);

	assert_non_null(p);
	return p;
}

static void
fe_open(struct fe *f, struct daemon *d, int i, const char *id, enum kind k)
{
	unsigned s;

	memset(f, 0, sizeof(*f));
	f->id = id;
	f->kind = k;
	f->v = daemon_open_dev(d->sock[i], QSIZE);
	for (s = 0; s < QSIZE; s++) {
		f->slot_of_head[s] = -1;
		f->slot[s].a = vuf_alloc(f->v, 0, 8, 8);
		f->slot[s].b = vuf_alloc(f->v, 0, 64, 8);
		f->slot[s].c = vuf_alloc(f->v, 0, 8, 8);
		assert_true(f->slot[s].c != VUF_BAD_GPA);
	}
}

/*
 * gpio request number seq on line 0: 0 makes it an output, then odd ones
 * set it, even ones read it.
 */
static void
gpio_req(uint64_t seq, uint16_t *type, uint32_t *value)
{
	if (seq == 0) {
		*type = VIRTIO_GPIO_MSG_SET_DIRECTION;
		*value = VIRTIO_GPIO_DIRECTION_OUT;
	} else if (seq % 2 == 1) {
		*type = VIRTIO_GPIO_MSG_SET_VALUE;
		*value = (uint32_t)(seq / 2 & 1);
	} else {
		*type = VIRTIO_GPIO_MSG_GET_VALUE;
		*value = 0;
	}
}

/* Queues the next request (not kicked). */
static void
fe_submit(struct fe *f)
{
	struct vuf_seg seg[3];
	struct slot *s = NULL;
	unsigned n = 0, i;
	uint16_t t;
	uint32_t val;
	uint8_t *p;
	int head;

	for (i = 0; i < QSIZE && s == NULL; i++)
		if (!f->slot[i].busy)
			s = &f->slot[i];
	assert_non_null(s);
	switch (f->kind) {
	case K_RNG:
		memset(host(f, s->b, 64), 0xa5, 64);
		seg[n++] = (struct vuf_seg){ s->b, 64, true };
		break;
	case K_GPIO:
		gpio_req(f->seq, &t, &val);
		p = host(f, s->a, 8);
		t = htole16(t);
		memcpy(p, &t, 2);
		memset(p + 2, 0, 2);
		val = htole32(val);
		memcpy(p + 4, &val, 4);
		memset(host(f, s->c, 2), 0xee, 2);
		seg[n++] = (struct vuf_seg){ s->a, 8, false };
		seg[n++] = (struct vuf_seg){ s->c, 2, true };
		break;
	case K_I2C:
		p = host(f, s->a, 8);
		t = htole16(EEPROM << 1);
		memcpy(p, &t, 2);
		memset(p + 2, 0, 2);
		val = htole32(VIRTIO_I2C_FLAGS_M_RD);
		memcpy(p + 4, &val, 4);
		memset(host(f, s->b, 8), 0, 8);
		memset(host(f, s->c, 1), 0xee, 1);
		seg[n++] = (struct vuf_seg){ s->a, 8, false };
		seg[n++] = (struct vuf_seg){ s->b, 8, true };
		seg[n++] = (struct vuf_seg){ s->c, 1, true };
		break;
	}
	if ((head = vuf_vq_add(f->v, 0, seg, n)) == -1)
		fail_msg("%s: add: %s", f->id, vuf_error(f->v));
	assert_int_equal(f->slot_of_head[head], -1);
	f->slot_of_head[head] = (int)(s - f->slot);
	s->busy = true;
	s->seq = f->seq++;
	f->submitted++;
}

/*
 * Checks one completion.  Returns its status: 0 OK, 1 the device's error
 * (only where vhostd may answer so after a restart).
 */
static int
fe_check(struct fe *f, struct slot *s, uint32_t len)
{
	const uint8_t *p;
	uint16_t t;
	uint32_t val;
	unsigned i;
	uint8_t st;

	switch (f->kind) {
	case K_RNG:
		/* Entropy is taken again: never an error. */
		p = host(f, s->b, 64);
		for (i = 0; i < 64 && p[i] == 0xa5; i++)
			;
		if (len != 64 || i == 64)
			fail_msg("%s: request %" PRIu64 ": length %u, %s",
			    f->id, s->seq, len, i == 64 ? "not written" :
			    "written");
		return 0;
	case K_GPIO:
		p = host(f, s->c, 2);
		gpio_req(s->seq, &t, &val);
		if (len != 2 || p[0] > 1)
			fail_msg("%s: request %" PRIu64 ": length %u status "
			    "%u", f->id, s->seq, len, p[0]);
		/* Reads are taken again: never an error. */
		if (t == VIRTIO_GPIO_MSG_GET_VALUE && p[0] != 0)
			fail_msg("%s: read %" PRIu64 " failed", f->id, s->seq);
		return p[0];
	case K_I2C:
		p = host(f, s->c, 1);
		st = p[0];
		if (st > 1)
			fail_msg("%s: request %" PRIu64 ": status %u", f->id,
			    s->seq, st);
		if (st == 0) {
			if (len != 9)
				fail_msg("%s: request %" PRIu64 ": length %u",
				    f->id, s->seq, len);
			p = host(f, s->b, 8);
			for (i = 0; i < 8; i++)
				if (p[i] != 0xff)
					fail_msg("%s: EEPROM byte %u reads "
					    "%#x", f->id, i, p[i]);
		}
		return st;
	}
	return -1;
}

/* Takes every used entry; a head not in flight fails the test. */
static void
fe_harvest(struct fe *f)
{
	uint32_t head, len;
	struct slot *s;
	int r, k = -1;

	while ((r = vuf_vq_harvest(f->v, 0, &head, &len)) == 1) {
		if (head >= QSIZE || (k = f->slot_of_head[head]) == -1)
			fail_msg("%s: used head %u was not submitted", f->id,
			    head);
		s = &f->slot[k];
		f->slot_of_head[head] = -1;
		s->busy = false;
		f->done++;
		if (fe_check(f, s, len) != 0)
			f->errs++;
	}
	if (r == -1)
		fail_msg("%s: %s (a request completed twice?)", f->id,
		    vuf_error(f->v));
}

/* Waits until every submitted request came back. */
static void
fe_drain(struct fe *f)
{
	int64_t until = now_ms() + DAEMON_WAIT_MS;

	for (;;) {
		fe_harvest(f);
		if (f->done == f->submitted)
			return;
		if (now_ms() > until)
			fail_msg("%s: %" PRIu64 " of %" PRIu64 " requests never "
			    "came back", f->id, f->submitted - f->done,
			    f->submitted);
		(void)vuf_wait_call(f->v, 0, 20);
	}
}

static void
add_devices(struct daemon *d)
{
	char extra[512];

	daemon_add(d, "rng", "vm1-rng", "");
	snprintf(extra, sizeof(extra), ", \"backend\": \"sim\", \"chip\": "
	    "\"%s/chip\", \"ngpio\": 8, \"lines\": [0, 1, 2, 3]", d->dir);
	daemon_add(d, "gpio", "vm1-gpio", extra);
	daemon_add(d, "i2c", "vm1-i2c", ", \"backend\": \"sim\", \"bus\": "
	    "\"restart\", \"addresses\": [80], \"parts\": [{\"type\": "
	    "\"24c02\", \"address\": 80}]");
}

/*
 * Every worker SIGKILLed KILLS times while its front-end keeps DEPTH
 * requests in flight: all come back exactly once, reads and entropy
 * always correct.
 */
static void
test_storm(void **state)
{
	static const char *const ids[] = { "vm1-rng", "vm1-gpio", "vm1-i2c" };
	struct daemon *d = *state;
	struct fe fe[3];
	pid_t old[3] = { -1, -1, -1 };
	int64_t next;
	unsigned kills = 0, i;

	DAEMON_SKIP_IF_NONE(d);
	add_devices(d);
	daemon_start(d);
	for (i = 0; i < 3; i++)
		fe_open(&fe[i], d, (int)i, ids[i], (enum kind)i);
	srand((unsigned)getpid());
	next = now_ms() + 100 + rand() % KILL_GAP_MS;
	while (kills < 3 * KILLS) {
		for (i = 0; i < 3; i++) {
			fe_harvest(&fe[i]);
			while (fe[i].submitted - fe[i].done < DEPTH)
				fe_submit(&fe[i]);
			assert_int_equal(vuf_kick(fe[i].v, 0), 0);
		}
		if (now_ms() >= next) {
			i = kills % 3;
			kill_worker(d, ids[i], &old[i]);
			kills++;
			next = now_ms() + 50 + rand() % KILL_GAP_MS;
		}
		(void)vuf_wait_call(fe[kills % 3].v, 0, 2);
	}
	for (i = 0; i < 3; i++) {
		fe_drain(&fe[i]);
		print_message("%s: %" PRIu64 " requests, %" PRIu64 " failed "
		    "by a restart\n", ids[i], fe[i].done, fe[i].errs);
		assert_true(fe[i].done > 0);
		/* One more round on the last worker: it still serves. */
		fe_submit(&fe[i]);
		assert_int_equal(vuf_kick(fe[i].v, 0), 0);
		fe_drain(&fe[i]);
	}
	assert_int_equal(fe[0].errs, 0);
	assert_true(daemon_log_has(d, 0, "vm1-gpio", "restart 4 within",
	    (char *)NULL));
	assert_int_equal(kill(d->pid, 0), 0);
	for (i = 0; i < 3; i++)
		vuf_close(fe[i].v);
	daemon_stop(d);
}

/*
 * GET_VRING_BASE while the worker is dead waits for its replacement,
 * which answers where the ring stands: every request was used.
 */
static void
test_base_while_dead(void **state)
{
	struct daemon *d = *state;
	struct fe f;
	pid_t old = -1;
	uint32_t base;
	unsigned i;

	DAEMON_SKIP_IF_NONE(d);
	add_devices(d);
	daemon_start(d);
	fe_open(&f, d, 0, "vm1-rng", K_RNG);
	for (i = 0; i < 10; i++)
		fe_submit(&f);
	assert_int_equal(vuf_kick(f.v, 0), 0);
	fe_drain(&f);
	kill_worker(d, "vm1-rng", &old);
	if (vuf_get_vring_base(f.v, 0, &base) == -1)
		fail_msg("GET_VRING_BASE: %s", vuf_error(f.v));
	assert_int_equal(base, 10);
	assert_true(daemon_log_has(d, DAEMON_WAIT_MS, "vm1-rng", "restarting "
	    "its worker", (char *)NULL));
	vuf_close(f.v);
	daemon_stop(d);
}

/* One gpio request on the requestq of v: its status, or -1. */
static int
gpio_request(struct vuf *v, uint16_t type, uint16_t line, uint32_t value)
{
	uint64_t a = vuf_alloc(v, 0, 8, 8), b = vuf_alloc(v, 0, 8, 8);
	struct vuf_seg seg[2] = { { a, 8, false }, { b, 2, true } };
	uint8_t *p = vuf_gpa_to_host(v, a, 8);
	uint32_t head, len;
	uint16_t t = htole16(type), l = htole16(line);

	value = htole32(value);
	memcpy(p, &t, 2);
	memcpy(p + 2, &l, 2);
	memcpy(p + 4, &value, 4);
	if (vuf_vq_add(v, 0, seg, 2) < 0 || vuf_kick(v, 0) != 0 ||
	    vuf_vq_wait_used(v, 0, &head, &len, DAEMON_WAIT_MS) != 1)
		return -1;
	return *(uint8_t *)vuf_gpa_to_host(v, b, 1);
}

/*
 * An interrupt the guest armed before its worker died still fires: the
 * new worker restores the line's interrupt type and holds the eventq
 * buffer the old one held; a rising edge written to the sim chip then
 * completes it.
 */
static void
test_gpio_irq_across_restart(void **state)
{
	struct daemon *d = *state;
	char chip[PATH_MAX];
	struct vuf_seg seg[2];
	struct vuf *v;
	pid_t old = -1;
	uint64_t a, b;
	uint32_t head, len;
	uint16_t line = htole16(1);
	int fd;

	DAEMON_SKIP_IF_NONE(d);
	add_devices(d);
	daemon_start(d);
	if ((v = vuf_connect(d->sock[1], DAEMON_WAIT_MS)) == NULL)
		fail_msg("connect: %s", strerror(errno));
	if (vuf_setup(v, 2, QSIZE) == -1)
		fail_msg("gpio setup: %s", vuf_error(v));
	assert_true(v->features & (UINT64_C(1) << VIRTIO_GPIO_F_IRQ));
	assert_int_equal(gpio_request(v, VIRTIO_GPIO_MSG_SET_DIRECTION, 1,
	    VIRTIO_GPIO_DIRECTION_IN), 0);
	assert_int_equal(gpio_request(v, VIRTIO_GPIO_MSG_IRQ_TYPE, 1,
	    VIRTIO_GPIO_IRQ_TYPE_EDGE_RISING), 0);
	a = vuf_alloc(v, 0, 8, 8);
	b = vuf_alloc(v, 0, 8, 8);
	memcpy(vuf_gpa_to_host(v, a, 2), &line, 2);
	*(uint8_t *)vuf_gpa_to_host(v, b, 1) = 0xee;
	seg[0] = (struct vuf_seg){ a, 2, false };
	seg[1] = (struct vuf_seg){ b, 1, true };
	assert_true(vuf_vq_add(v, 1, seg, 2) >= 0);
	assert_int_equal(vuf_kick(v, 1), 0);
	/* Held (no edge yet), then its worker dies. */
	assert_int_equal(vuf_vq_wait_used(v, 1, &head, &len, 300), 0);
	kill_worker(d, "vm1-gpio", &old);
	if (!daemon_log_has(d, DAEMON_WAIT_MS, "vm1-gpio", "lines restored",
	    (char *)NULL) || !daemon_log_has(d, DAEMON_WAIT_MS, "vm1-gpio",
	    "1 requests a previous worker left in flight", (char *)NULL))
		fail_msg("the new worker did not take the line up again");
	snprintf(chip, sizeof(chip), "%s/chip", d->dir);
	assert_true((fd = open(chip, O_WRONLY)) >= 0);
	assert_int_equal(pwrite(fd, "1", 1, 1), 1);
	close(fd);
	if (vuf_vq_wait_used(v, 1, &head, &len, DAEMON_WAIT_MS) != 1)
		fail_msg("no interrupt after the restart: %s", vuf_error(v));
	assert_int_equal(*(uint8_t *)vuf_gpa_to_host(v, b, 1),
	    VIRTIO_GPIO_IRQ_STATUS_VALID);
	assert_int_equal(gpio_request(v, VIRTIO_GPIO_MSG_GET_DIRECTION, 1, 0),
	    0);
	vuf_close(v);
	daemon_stop(d);
}

/*
 * A gpio device of 64 lines, each with its interrupt armed and an eventq
 * buffer held: the new worker takes up all 64 again and a rising edge on
 * the last line fires.  Resuming sorts the 64 in-flight entries (16
 * bytes each), and glibc's qsort asks sysconf(_SC_PHYS_PAGES), sysinfo(2),
 * the first time it sorts 1024 bytes or more: every new worker was killed
 * by its filter until common.policy allowed it, and the device failed.
 */
static void
test_gpio_64_irqs_across_restart(void **state)
{
	struct daemon *d = *state;
	char extra[512], chip[PATH_MAX];
	struct vuf_seg seg[2];
	uint64_t a, b[64];
	struct vuf *v;
	pid_t old = -1;
	uint32_t head, len;
	uint16_t i, line;
	int fd;

	DAEMON_SKIP_IF_NONE(d);
	snprintf(extra, sizeof(extra), ", \"backend\": \"sim\", \"chip\": "
	    "\"%s/chip\", \"ngpio\": 64", d->dir);
	daemon_add(d, "gpio", "vm1-gpio", extra);
	daemon_start(d);
	if ((v = vuf_connect(d->sock[0], DAEMON_WAIT_MS)) == NULL)
		fail_msg("connect: %s", strerror(errno));
	if (vuf_setup(v, 2, 256) == -1)
		fail_msg("gpio setup: %s", vuf_error(v));
	for (i = 0; i < 64; i++) {
		assert_int_equal(gpio_request(v, VIRTIO_GPIO_MSG_SET_DIRECTION,
		    i, VIRTIO_GPIO_DIRECTION_IN), 0);
		assert_int_equal(gpio_request(v, VIRTIO_GPIO_MSG_IRQ_TYPE, i,
		    VIRTIO_GPIO_IRQ_TYPE_EDGE_RISING), 0);
		a = vuf_alloc(v, 0, 2, 8);
		b[i] = vuf_alloc(v, 0, 1, 8);
		line = htole16(i);
		memcpy(vuf_gpa_to_host(v, a, 2), &line, 2);
		*(uint8_t *)vuf_gpa_to_host(v, b[i], 1) = 0xee;
		seg[0] = (struct vuf_seg){ a, 2, false };
		seg[1] = (struct vuf_seg){ b[i], 1, true };
		assert_true(vuf_vq_add(v, 1, seg, 2) >= 0);
	}
	assert_int_equal(vuf_kick(v, 1), 0);
	/* All held (no edge yet), then their worker dies. */
	assert_int_equal(vuf_vq_wait_used(v, 1, &head, &len, 300), 0);
	kill_worker(d, "vm1-gpio", &old);
	if (!daemon_log_has(d, DAEMON_WAIT_MS, "vm1-gpio", "64 requests a "
	    "previous worker left in flight", (char *)NULL))
		fail_msg("the new worker did not take the 64 buffers up again");
	snprintf(chip, sizeof(chip), "%s/chip", d->dir);
	assert_true((fd = open(chip, O_WRONLY)) >= 0);
	assert_int_equal(pwrite(fd, "1", 1, 63), 1);
	close(fd);
	if (vuf_vq_wait_used(v, 1, &head, &len, DAEMON_WAIT_MS) != 1)
		fail_msg("no interrupt after the restart: %s", vuf_error(v));
	assert_int_equal(*(uint8_t *)vuf_gpa_to_host(v, b[63], 1),
	    VIRTIO_GPIO_IRQ_STATUS_VALID);
	assert_int_equal(gpio_request(v, VIRTIO_GPIO_MSG_GET_DIRECTION, 0, 0),
	    0);
	vuf_close(v);
	daemon_stop(d);
}

/* A listening socket at path, as a VMM with server=on makes it. */
static int
fe_listen(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	assert_true(strlen(path) < sizeof(sun.sun_path));
	memcpy(sun.sun_path, path, strlen(path) + 1);
	assert_true((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(fd, 4), 0);
	return fd;
}

/* Waits for vhostd to connect; sets the device up as a VMM does. */
static struct vuf *
fe_accept(int lfd)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	struct vuf *v;
	int fd;

	if (poll(&p, 1, DAEMON_WAIT_MS) != 1)
		fail_msg("vhostd did not connect within %d ms",
		    DAEMON_WAIT_MS);
	assert_true((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0);
	assert_non_null(v = vuf_from_fd(fd));
	if (vuf_setup(v, 1, QSIZE) == -1)
		fail_msg("setup: %s", vuf_error(v));
	return v;
}

static void
read_entropy(struct vuf *v)
{
	uint8_t buf[64];

	if (vuf_read_writable(v, 0, sizeof(buf), VUF_ONE, buf,
	    DAEMON_WAIT_MS) != (ssize_t)sizeof(buf))
		fail_msg("read: %s", vuf_error(v));
}

/*
 * "connect": vhostd connects to the front-end's socket, retrying until it
 * is there; after the front-end drops the connection, and after vhostd
 * itself was killed and started again, it connects again and serves.
 */
static void
test_connect_mode(void **state)
{
	struct daemon *d = *state;
	struct vuf *v;
	int lfd, status;

	DAEMON_SKIP_IF_NONE(d);
	daemon_add(d, "rng", "vm1-rng", ", \"connect\": true, "
	    "\"reconnect_ms\": 100");
	daemon_add(d, "rng", "vm2-rng", "");
	/* vhostd connects as its unprivileged user. */
	assert_int_equal(chmod(d->dir, 0755), 0);
	lfd = fe_listen(d->sock[0]);
	assert_int_equal(chmod(d->sock[0], 0666), 0);
	daemon_start(d);
	v = fe_accept(lfd);
	read_entropy(v);
	/* The front-end goes; vhostd comes back. */
	vuf_close(v);
	v = fe_accept(lfd);
	read_entropy(v);
	/* vhostd is killed and started again: it connects again. */
	assert_int_equal(kill(d->pid, SIGKILL), 0);
	assert_int_equal(waitpid(d->pid, &status, 0), d->pid);
	d->pid = 0;
	vuf_close(v);
	daemon_start(d);
	v = fe_accept(lfd);
	read_entropy(v);
	/* The socket is the front-end's: vhostd leaves it alone. */
	vuf_close(v);
	close(lfd);
	assert_int_equal(unlink(d->sock[0]), 0);
	daemon_stop(d);
}

#ifdef VHOSTD_TEST_HOOKS
/*
 * The first worker of kind k exits right after taking request n of the
 * `count` submitted with one kick.  Returns the front-end's count of
 * errors once all came back.
 */
static uint64_t
pop_exit_case(struct daemon *d, enum kind k, unsigned n, unsigned count)
{
	static const char *const ids[] = { "vm1-rng", "vm1-gpio", "vm1-i2c" };
	char env[64];
	struct fe f;
	unsigned i;

	snprintf(env, sizeof(env), "%s:pop-exit:%u", ids[k], n);
	setenv("VHOSTD_TEST_FAULT", env, 1);
	add_devices(d);
	daemon_start(d);
	unsetenv("VHOSTD_TEST_FAULT");
	fe_open(&f, d, (int)k, ids[k], k);
	for (i = 0; i < count; i++)
		fe_submit(&f);
	assert_int_equal(vuf_kick(f.v, 0), 0);
	fe_drain(&f);
	if (!daemon_log_has(d, DAEMON_WAIT_MS, ids[k], "exited with status "
	    "70", (char *)NULL) || !daemon_log_has(d, DAEMON_WAIT_MS, ids[k],
	    "requests a previous worker left in flight are taken up again",
	    (char *)NULL))
		fail_msg("%s: no restart with resubmitted requests", ids[k]);
	/* The replacement serves on. */
	fe_submit(&f);
	assert_int_equal(vuf_kick(f.v, 0), 0);
	fe_drain(&f);
	vuf_close(f.v);
	daemon_stop(d);
	return f.errs;
}

/* Entropy requests are taken again: all 8 come back full. */
static void
test_pop_exit_rng(void **state)
{
	DAEMON_SKIP_IF_NONE(*state);
	assert_int_equal(pop_exit_case(*state, K_RNG, 5, 8), 0);
}

/*
 * gpio: direction, set, read, set, read...; the worker exits on taking
 * the 3rd: the two writes it had taken (done, but not yet returned) fail
 * with VIRTIO_GPIO_STATUS_ERR, the read is done again, the rest as usual.
 */
static void
test_pop_exit_gpio(void **state)
{
	DAEMON_SKIP_IF_NONE(*state);
	assert_int_equal(pop_exit_case(*state, K_GPIO, 3, 6), 2);
}

/* i2c: both transfers the worker had taken fail. */
static void
test_pop_exit_i2c(void **state)
{
	DAEMON_SKIP_IF_NONE(*state);
	assert_int_equal(pop_exit_case(*state, K_I2C, 2, 5), 2);
}

/*
 * vsock: the worker exits on taking the 2nd of 3 tx packets.  The new one
 * returns all three exactly once, unexecuted, and tells the guest with a
 * transport reset on the event queue.
 */
static void
test_pop_exit_vsock(void **state)
{
	struct daemon *d = *state;
	char extra[PATH_MAX + 64];
	struct vuf_vsock_hdr h;
	struct vuf_seg seg;
	struct vuf *v;
	uint32_t head, len, ev;
	uint64_t evgpa;
	unsigned i, got = 0;
	int r;

	DAEMON_SKIP_IF_NONE(d);
	setenv("VHOSTD_TEST_FAULT", "vm1-vsock:pop-exit:2", 1);
	snprintf(extra, sizeof(extra), ", \"guest_cid\": 3, \"uds_path\": "
	    "\"%s/vm1.vsock\"", d->dir);
	daemon_add(d, "vsock", "vm1-vsock", extra);
	daemon_start(d);
	unsetenv("VHOSTD_TEST_FAULT");
	if ((v = vuf_connect(d->sock[0], DAEMON_WAIT_MS)) == NULL)
		fail_msg("connect: %s", strerror(errno));
	if (vuf_setup(v, 3, QSIZE) == -1)
		fail_msg("vsock setup: %s", vuf_error(v));
	/* One event buffer. */
	evgpa = vuf_alloc(v, 0, 8, 8);
	memset(vuf_gpa_to_host(v, evgpa, 8), 0xee, 8);
	seg = (struct vuf_seg){ evgpa, 8, true };
	assert_true(vuf_vq_add(v, 2, &seg, 1) >= 0);
	assert_int_equal(vuf_kick(v, 2), 0);
	/* Three credit requests for connections that do not exist. */
	for (i = 0; i < 3; i++) {
		memset(&h, 0, sizeof(h));
		h.src_cid = 3;
		h.dst_cid = 2;
		h.src_port = 1000 + i;
		h.dst_port = 9;
		h.type = 1;
		h.op = 6;		/* CREDIT_REQUEST */
		seg.gpa = vuf_alloc(v, 0, VUF_VSOCK_HDR, 8);
		seg.len = VUF_VSOCK_HDR;
		seg.writable = false;
		vuf_vsock_hdr_put(vuf_gpa_to_host(v, seg.gpa, VUF_VSOCK_HDR),
		    &h);
		assert_true(vuf_vq_add(v, 1, &seg, 1) >= 0);
	}
	assert_int_equal(vuf_kick(v, 1), 0);
	while (got < 3) {
		r = vuf_vq_wait_used(v, 1, &head, &len, DAEMON_WAIT_MS);
		if (r != 1)
			fail_msg("tx: %d of 3 packets back: %s", got,
			    vuf_error(v));
		assert_int_equal(len, 0);
		got++;
	}
	if (vuf_vq_wait_used(v, 2, &head, &len, DAEMON_WAIT_MS) != 1)
		fail_msg("no event after the restart: %s", vuf_error(v));
	assert_int_equal(len, 4);
	memcpy(&ev, vuf_gpa_to_host(v, evgpa, 4), 4);
	assert_int_equal(le32toh(ev), 0);	/* TRANSPORT_RESET */
	assert_true(daemon_log_has(d, DAEMON_WAIT_MS, "vm1-vsock",
	    "transport reset", (char *)NULL));
	assert_int_equal(vuf_vq_inflight(v, 1), 0);
	vuf_close(v);
	daemon_stop(d);
}
#endif

/*
 * One i2c transfer to the EEPROM: a write of `out` (ptr and data), or,
 * with `in`, a read of len bytes.  Returns the virtio status.
 */
static uint8_t
i2c_one(struct fe *f, const uint8_t *out, unsigned len, uint8_t *in)
{
	uint64_t hdr = vuf_alloc(f->v, 0, 8, 8), buf = vuf_alloc(f->v, 0, 16,
	    8), st = vuf_alloc(f->v, 0, 8, 8);
	struct vuf_seg seg[3];
	uint32_t head, used;
	uint16_t a = htole16(EEPROM << 1);
	uint32_t fl = htole32(in != NULL ? VIRTIO_I2C_FLAGS_M_RD : 0);
	uint8_t *p = host(f, hdr, 8);

	assert_true(len <= 16 && st != VUF_BAD_GPA);
	memcpy(p, &a, 2);
	memset(p + 2, 0, 2);
	memcpy(p + 4, &fl, 4);
	if (in == NULL)
		memcpy(host(f, buf, len), out, len);
	*host(f, st, 1) = 0xee;
	seg[0] = (struct vuf_seg){ hdr, 8, false };
	seg[1] = (struct vuf_seg){ buf, len, in != NULL };
	seg[2] = (struct vuf_seg){ st, 1, true };
	assert_true(vuf_vq_add(f->v, 0, seg, 3) >= 0);
	assert_int_equal(vuf_kick(f->v, 0), 0);
	if (vuf_vq_wait_used(f->v, 0, &head, &used, DAEMON_WAIT_MS) != 1)
		fail_msg("i2c transfer: no answer: %s", vuf_error(f->v));
	if (in != NULL)
		memcpy(in, host(f, buf, len), len);
	return *host(f, st, 1);
}

/*
 * The sim EEPROM keeps what the guest wrote across a worker restart, as a
 * real one would (found by tests/e2e/restart.sh: it came back erased).
 */
static void
test_i2c_sim_kept(void **state)
{
	static const uint8_t page[9] = { 0x10, 1, 2, 3, 4, 5, 6, 7, 8 };
	struct daemon *d = *state;
	uint8_t got[8];
	pid_t old = 0, now;
	int64_t until;
	struct fe f;

	DAEMON_SKIP_IF_NONE(d);
	add_devices(d);
	daemon_start(d);
	fe_open(&f, d, K_I2C, "vm1-i2c", K_I2C);
	assert_int_equal(i2c_one(&f, page, 9, NULL), VIRTIO_I2C_MSG_OK);
	kill_worker(d, "vm1-i2c", &old);
	until = now_ms() + DAEMON_WAIT_MS;
	while ((now = daemon_worker_of(d, "vm1-i2c")) == 0 || now == old) {
		if (now_ms() > until)
			fail_msg("vm1-i2c: no new worker");
		usleep(5000);
	}
	assert_int_equal(i2c_one(&f, page, 1, NULL), VIRTIO_I2C_MSG_OK);
	assert_int_equal(i2c_one(&f, NULL, 8, got), VIRTIO_I2C_MSG_OK);
	assert_memory_equal(got, page + 1, 8);
	vuf_close(f.v);
	daemon_stop(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#ifdef VHOSTD_TEST_HOOKS
		cmocka_unit_test_setup_teardown(test_pop_exit_rng,
		    daemon_setup, daemon_teardown),
		cmocka_unit_test_setup_teardown(test_pop_exit_gpio,
		    daemon_setup, daemon_teardown),
		cmocka_unit_test_setup_teardown(test_pop_exit_i2c,
		    daemon_setup, daemon_teardown),
		cmocka_unit_test_setup_teardown(test_pop_exit_vsock,
		    daemon_setup, daemon_teardown),
#endif
		cmocka_unit_test_setup_teardown(test_base_while_dead,
		    daemon_setup, daemon_teardown),
		cmocka_unit_test_setup_teardown(test_storm,
		    daemon_setup, daemon_teardown),
		cmocka_unit_test_setup_teardown(test_connect_mode,
		    daemon_setup, daemon_teardown),
		cmocka_unit_test_setup_teardown(test_gpio_irq_across_restart,
		    daemon_setup, daemon_teardown),
		cmocka_unit_test_setup_teardown(
		    test_gpio_64_irqs_across_restart, daemon_setup,
		    daemon_teardown),
		cmocka_unit_test_setup_teardown(test_i2c_sim_kept,
		    daemon_setup, daemon_teardown),
	};

#ifndef VHOSTD_TEST_HOOKS
	fprintf(stderr, "test_restart: built without --enable-test-hooks: "
	    "the pop-exit cases are skipped\n");
#endif
	return cmocka_run_group_tests(tests, NULL, NULL);
}
