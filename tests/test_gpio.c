/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the gpio device (devices/gpio.c) through the device
 * harness, over the sim backend: a state file in a temporary directory
 * that the test drives as an outside program would, with pwrite(2), then
 * tells the worker as main does when its inotify watch fires (the device
 * message GPIO_DEV_SIM_CHANGED, answered with GPIO_DEV_SIM_SEEN).  Every
 * request type with its exact response, every error status, the config
 * space and names block, the interrupt semantics of the eventq (edges
 * latched while masked, levels re-firing on unmask, disable returning the
 * held buffer), two instances sharing one sim chip, the worker's side of
 * those messages, main's one inotify instance for the sim chips of many
 * instances, and the config's error messages and claims.
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "devtest.h"
#include "inst.h"
#include "log.h"

#define F_IRQ		(UINT64_C(1) << 0)
#define F_V1		(UINT64_C(1) << 32)

#define GET_NAMES	1
#define GET_DIRECTION	2
#define SET_DIRECTION	3
#define GET_VALUE	4
#define SET_VALUE	5
#define SET_IRQ_TYPE	6

#define OK		0
#define ERR		1

#define DIR_NONE	0
#define DIR_OUT		1
#define DIR_IN		2

#define IRQ_NONE	0
#define IRQ_RISING	1
#define IRQ_FALLING	2
#define IRQ_BOTH	3
#define IRQ_HIGH	4
#define IRQ_LOW		8

#define NGPIO		8

/* The device messages of a sim device (devices/gpio.c). */
#define SIM_CHANGED	1	/* main -> worker: the chip file was written */
#define SIM_SEEN	2	/* worker -> main: compared, send the next */

struct fx {
	char	dir[64];
	char	state[128];
};

static int
fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/test_gpio-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->state, sizeof(f->state), "%s/chip0.gpiosim", f->dir);
	*state = f;
	return 0;
}

static int
fx_teardown(void **state)
{
	struct fx *f = *state;

	unlink(f->state);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* A sim device on f's chip; `extra` adds keys ("\"lines\": [1, 2]"). */
static void
dev_init(struct devtest *t, struct fx *f, const char *extra,
    uint64_t features)
{
	char json[1024];

	snprintf(json, sizeof(json), "\"type\": \"gpio\", \"backend\": "
	    "\"sim\", \"chip\": \"%s\", \"ngpio\": %d%s%s", f->state, NGPIO,
	    extra != NULL ? ", " : "", extra != NULL ? extra : "");
	devtest_init(t, json, features);
}

/* One requestq message; returns the status and the value in *value. */
static int
req(struct devtest *t, uint16_t type, uint16_t line, uint32_t value,
    uint8_t *out)
{
	uint8_t rq[8], resp[2] = { 0xee, 0xee };
	uint32_t n = 0;

	rq[0] = (uint8_t)type;
	rq[1] = (uint8_t)(type >> 8);
	rq[2] = (uint8_t)line;
	rq[3] = (uint8_t)(line >> 8);
	rq[4] = (uint8_t)value;
	rq[5] = (uint8_t)(value >> 8);
	rq[6] = (uint8_t)(value >> 16);
	rq[7] = (uint8_t)(value >> 24);
	assert_int_equal(devtest_request(t, 0, rq, sizeof(rq), resp,
	    sizeof(resp), &n), 1);
	assert_int_equal(n, 2);		/* the driver insists on it */
	assert_true(resp[0] == OK || resp[0] == ERR);
	if (resp[0] == ERR)
		assert_int_equal(resp[1], 0);
	if (out != NULL)
		*out = resp[1];
	return resp[0];
}

static uint8_t
get(struct devtest *t, uint16_t type, uint16_t line)
{
	uint8_t v;

	assert_int_equal(req(t, type, line, 0, &v), OK);
	return v;
}

/* The outside world: the input level of chip line `off`. */
static void
drive(struct fx *f, unsigned off, char level)
{
	int fd = open(f->state, O_WRONLY);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, &level, 1, off), 1);
	close(fd);
}

/* What the guests made of chip line `off`, as the state file says. */
static char
seen(struct fx *f, unsigned off)
{
	char c = 0;
	int fd = open(f->state, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, NGPIO + 1 + off), 1);
	close(fd);
	return c;
}

/* An eventq buffer pair for `line`; *status points at its status byte. */
static uint16_t
irq_post(struct devtest *t, uint16_t line, uint8_t **status)
{
	struct devtest_buf b[2];
	uint8_t *p;
	uint16_t head;

	b[0].gpa = devtest_alloc(t, 0, 2);
	b[0].len = 2;
	b[0].writable = false;
	p = devtest_ptr(t, b[0].gpa);
	p[0] = (uint8_t)line;
	p[1] = (uint8_t)(line >> 8);
	b[1].gpa = devtest_alloc(t, 1, 1);
	b[1].len = 1;
	b[1].writable = true;
	*status = devtest_ptr(t, b[1].gpa);
	**status = 0xa5;
	head = devtest_post(t, 1, b, 2);
	devtest_run(t, 1);
	assert_false(t->vq[1].broken);
	return head;
}

/* The next eventq completion must be `head` with `status`. */
static void
irq_expect(struct devtest *t, uint16_t head, uint8_t *sp, uint8_t status)
{
	uint16_t h;
	uint32_t len;

	assert_int_equal(devtest_used(t, 1, &h, &len), 1);
	assert_int_equal(h, head);
	assert_int_equal(len, 1);
	assert_int_equal(*sp, status);
}

static void
irq_none(struct devtest *t)
{
	uint16_t h;
	uint32_t len;

	assert_int_equal(devtest_used(t, 1, &h, &len), 0);
}

/* What main does when its watch on the chip file fires: tells the
 * worker, which compares its inputs and answers at once. */
static void
changed(struct devtest *t)
{
	struct dev_msg m;

	devtest_worker_msg(t, SIM_CHANGED, NULL, 0, -1);
	assert_int_equal(devtest_sent(t, SIM_SEEN, &m), 1);
	assert_int_equal(m.len, 0);
	assert_int_equal(devtest_sent(t, 0, NULL), 0);
}

/* After an outside write: main's message, then the worker's loop. */
static void
loop(struct devtest *t)
{
	int i;

	changed(t);
	for (i = 0; i < 3; i++)
		devtest_dispatch(t);
}

/* The inotify instances this process holds; *watches gets the number of
 * watches they hold (from /proc/self/fdinfo). */
static unsigned
inotify_count(unsigned *watches)
{
	DIR *d;
	struct dirent *e;
	char path[300], link[64], line[256];
	unsigned n = 0;
	ssize_t len;
	FILE *f;

	*watches = 0;
	assert_non_null(d = opendir("/proc/self/fd"));
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		if ((len = readlink(path, link, sizeof(link) - 1)) <= 0)
			continue;
		link[len] = '\0';
		if (strcmp(link, "anon_inode:inotify") != 0)
			continue;
		n++;
		snprintf(path, sizeof(path), "/proc/self/fdinfo/%s",
		    e->d_name);
		assert_non_null(f = fopen(path, "r"));
		while (fgets(line, sizeof(line), f) != NULL)
			if (strncmp(line, "inotify wd:", 11) == 0)
				(*watches)++;
		fclose(f);
	}
	closedir(d);
	return n;
}

/* ---- config space, names ---- */

static void
test_config_space_and_names(void **state)
{
	struct fx *f = *state;
	struct devtest t;
	uint8_t cs[8], resp[16];
	const uint8_t block[] = { 'a', 0, 0, 'l', 'e', 'd', 0 };
	uint32_t n;
	uint8_t rq[8] = { GET_NAMES, 0, 0, 0, 0, 0, 0, 0 };

	dev_init(&t, f, "\"lines\": [0, 3, 5], \"names\": [\"a\", \"\", "
	    "\"led\"]", F_V1 | F_IRQ);
	assert_int_equal(t.ctx.ops->virtio_id, 41);
	assert_int_equal(t.ctx.ops->num_queues, 2);
	assert_int_equal(t.ctx.ops->config_space_size, 8);
	assert_true(t.ctx.ops->features & F_IRQ);
	memset(cs, 0xee, sizeof(cs));
	t.ctx.ops->config_space(t.ctx.cfg, cs);
	assert_int_equal(cs[0] | cs[1] << 8, 3);		/* ngpio */
	assert_int_equal(cs[2], 0);
	assert_int_equal(cs[3], 0);
	assert_int_equal(cs[4] | cs[5] << 8 | cs[6] << 16 | cs[7] << 24,
	    sizeof(block));				/* gpio_names_size */

	/* The response is the status then exactly the block. */
	assert_int_equal(devtest_request(&t, 0, rq, 8, resp, 1 +
	    sizeof(block), &n), 1);
	assert_int_equal(n, 1 + sizeof(block));
	assert_int_equal(resp[0], OK);
	assert_memory_equal(resp + 1, block, sizeof(block));
	/* A larger buffer gets the same bytes. */
	assert_int_equal(devtest_request(&t, 0, rq, 8, resp, sizeof(resp),
	    &n), 1);
	assert_int_equal(n, 1 + sizeof(block));
	assert_int_equal(resp[0], OK);
	/* One byte short: ERR. */
	assert_int_equal(devtest_request(&t, 0, rq, 8, resp, sizeof(block),
	    &n), 1);
	assert_int_equal(n, 2);
	assert_int_equal(resp[0], ERR);
	devtest_fini(&t);

	/* No names at all: gpio_names_size 0 and GET_NAMES refused. */
	dev_init(&t, f, "\"lines\": [1]", F_V1);
	t.ctx.ops->config_space(t.ctx.cfg, cs);
	assert_int_equal(cs[0] | cs[1] << 8, 1);
	assert_int_equal(cs[4] | cs[5] << 8 | cs[6] << 16 | cs[7] << 24, 0);
	assert_int_equal(req(&t, GET_NAMES, 0, 0, NULL), ERR);
	devtest_fini(&t);

	/* All lines of the chip by default. */
	dev_init(&t, f, NULL, F_V1);
	t.ctx.ops->config_space(t.ctx.cfg, cs);
	assert_int_equal(cs[0] | cs[1] << 8, NGPIO);
	devtest_fini(&t);
}

/* ---- requests ---- */

static void
test_directions_and_values(void **state)
{
	struct fx *f = *state;
	struct devtest t;

	dev_init(&t, f, "\"lines\": [2, 6]", F_V1);
	/* Lines start as inputs; the state file shows what the guest did. */
	assert_int_equal(get(&t, GET_DIRECTION, 0), DIR_IN);
	assert_int_equal(get(&t, GET_DIRECTION, 1), DIR_IN);
	assert_int_equal(seen(f, 2), 'i');
	assert_int_equal(seen(f, 6), 'i');
	assert_int_equal(seen(f, 0), '-');

	/* Inputs read the outside's levels. */
	assert_int_equal(get(&t, GET_VALUE, 0), 0);
	drive(f, 2, '1');
	assert_int_equal(get(&t, GET_VALUE, 0), 1);
	assert_int_equal(get(&t, GET_VALUE, 1), 0);

	/* A value set on an input is kept for when it becomes an output
	 * (Linux's direction_output sets the value first). */
	assert_int_equal(req(&t, SET_VALUE, 1, 1, NULL), OK);
	assert_int_equal(seen(f, 6), 'i');
	assert_int_equal(req(&t, SET_DIRECTION, 1, DIR_OUT, NULL), OK);
	assert_int_equal(get(&t, GET_DIRECTION, 1), DIR_OUT);
	assert_int_equal(seen(f, 6), '1');
	assert_int_equal(get(&t, GET_VALUE, 1), 1);
	assert_int_equal(req(&t, SET_VALUE, 1, 0, NULL), OK);
	assert_int_equal(seen(f, 6), '0');
	assert_int_equal(get(&t, GET_VALUE, 1), 0);
	/* An output ignores the input byte. */
	drive(f, 6, '1');
	assert_int_equal(get(&t, GET_VALUE, 1), 0);

	assert_int_equal(req(&t, SET_DIRECTION, 1, DIR_IN, NULL), OK);
	assert_int_equal(seen(f, 6), 'i');
	assert_int_equal(get(&t, GET_VALUE, 1), 1);
	assert_int_equal(req(&t, SET_DIRECTION, 0, DIR_NONE, NULL), OK);
	assert_int_equal(get(&t, GET_DIRECTION, 0), DIR_NONE);
	assert_int_equal(seen(f, 2), '-');
	/* None forgets the value: an output comes back low. */
	assert_int_equal(req(&t, SET_VALUE, 0, 1, NULL), OK);
	assert_int_equal(req(&t, SET_DIRECTION, 0, DIR_NONE, NULL), OK);
	assert_int_equal(req(&t, SET_DIRECTION, 0, DIR_OUT, NULL), OK);
	assert_int_equal(seen(f, 2), '0');
	devtest_fini(&t);
	/* Reset and gone: its lines are inputs again (the file is not
	 * cleared when a worker ends, stopped or killed). */
	assert_int_equal(seen(f, 2), 'i');
}

static void
test_request_errors(void **state)
{
	struct fx *f = *state;
	struct devtest t;
	uint8_t rq[9] = { GET_DIRECTION, 0, 0, 0, 0, 0, 0, 0, 0 }, resp[2];
	uint32_t n;

	dev_init(&t, f, "\"lines\": [0, 1, 2]", F_V1 | F_IRQ);
	assert_int_equal(req(&t, 0, 0, 0, NULL), ERR);
	assert_int_equal(req(&t, 7, 0, 0, NULL), ERR);
	assert_int_equal(req(&t, 0xffff, 0, 0, NULL), ERR);
	assert_int_equal(req(&t, GET_DIRECTION, 3, 0, NULL), ERR);
	assert_int_equal(req(&t, GET_VALUE, 0xffff, 0, NULL), ERR);
	assert_int_equal(req(&t, SET_DIRECTION, 0, 3, NULL), ERR);
	assert_int_equal(req(&t, SET_VALUE, 0, 2, NULL), ERR);
	assert_int_equal(req(&t, SET_VALUE, 0, 0x100, NULL), ERR);
	assert_int_equal(req(&t, SET_IRQ_TYPE, 0, 5, NULL), ERR);
	assert_int_equal(req(&t, SET_IRQ_TYPE, 0, 16, NULL), ERR);
	assert_int_equal(req(&t, SET_IRQ_TYPE, 3, IRQ_RISING, NULL), ERR);
	/* No interrupt on an output, no output with an interrupt. */
	assert_int_equal(req(&t, SET_DIRECTION, 1, DIR_OUT, NULL), OK);
	assert_int_equal(req(&t, SET_IRQ_TYPE, 1, IRQ_RISING, NULL), ERR);
	assert_int_equal(req(&t, SET_IRQ_TYPE, 0, IRQ_RISING, NULL), OK);
	assert_int_equal(req(&t, SET_DIRECTION, 0, DIR_OUT, NULL), ERR);
	assert_int_equal(get(&t, GET_DIRECTION, 0), DIR_IN);

	/* Short and long requests. */
	assert_int_equal(devtest_request(&t, 0, rq, 4, resp, 2, &n), 1);
	assert_int_equal(n, 2);
	assert_int_equal(resp[0], ERR);
	assert_int_equal(devtest_request(&t, 0, rq, 9, resp, 2, &n), 1);
	assert_int_equal(n, 2);
	assert_int_equal(resp[0], ERR);
	/* No request at all. */
	assert_int_equal(devtest_request(&t, 0, NULL, 0, resp, 2, &n), 1);
	assert_int_equal(n, 2);
	assert_int_equal(resp[0], ERR);
	/* Room for the status only: the status. */
	assert_int_equal(devtest_request(&t, 0, rq, 8, resp, 1, &n), 1);
	assert_int_equal(n, 1);
	assert_int_equal(resp[0], ERR);
	/* No room for a response: completed with nothing written, and a
	 * SET_VALUE that cannot be answered is not done. */
	rq[0] = SET_VALUE;
	rq[2] = 1;
	rq[4] = 1;
	assert_int_equal(devtest_request(&t, 0, rq, 8, NULL, 0, &n), 1);
	assert_int_equal(n, 0);
	assert_int_equal(seen(f, 1), '0');

	/* The device goes on. */
	assert_int_equal(get(&t, GET_DIRECTION, 2), DIR_IN);
	devtest_fini(&t);

	/* Without VIRTIO_GPIO_F_IRQ there is no SET_IRQ_TYPE. */
	dev_init(&t, f, "\"lines\": [0]", F_V1);
	assert_int_equal(req(&t, SET_IRQ_TYPE, 0, IRQ_RISING, NULL), ERR);
	assert_int_equal(req(&t, SET_IRQ_TYPE, 0, IRQ_NONE, NULL), ERR);
	devtest_fini(&t);
}

/* The request and response split over several descriptors. */
static void
test_scattered_buffers(void **state)
{
	struct fx *f = *state;
	struct devtest t;
	struct devtest_buf b[4];
	uint8_t rq[8] = { GET_VALUE, 0, 1, 0, 0, 0, 0, 0 }, *r0, *r1;
	uint16_t head, h;
	uint32_t len;
	unsigned i;

	dev_init(&t, f, "\"lines\": [0, 4]", F_V1);
	drive(f, 4, '1');
	for (i = 0; i < 4; i++) {
		b[i].gpa = devtest_alloc(&t, i & 1, i < 2 ? 4 : 1);
		b[i].len = i < 2 ? 4 : 1;
		b[i].writable = i >= 2;
	}
	memcpy(devtest_ptr(&t, b[0].gpa), rq, 4);
	memcpy(devtest_ptr(&t, b[1].gpa), rq + 4, 4);
	r0 = devtest_ptr(&t, b[2].gpa);
	r1 = devtest_ptr(&t, b[3].gpa);
	*r0 = *r1 = 0xee;
	head = devtest_post(&t, 0, b, 4);
	devtest_run(&t, 0);
	assert_int_equal(devtest_used(&t, 0, &h, &len), 1);
	assert_int_equal(h, head);
	assert_int_equal(len, 2);
	assert_int_equal(*r0, OK);
	assert_int_equal(*r1, 1);
	devtest_fini(&t);
}

/* ---- interrupts ---- */

static void
test_irq_edge_rising(void **state)
{
	struct fx *f = *state;
	struct devtest t;
	uint8_t *sp;
	uint16_t head;

	dev_init(&t, f, "\"lines\": [3]", F_V1 | F_IRQ);
	assert_int_equal(req(&t, SET_IRQ_TYPE, 0, IRQ_RISING, NULL), OK);
	head = irq_post(&t, 0, &sp);
	irq_none(&t);
	loop(&t);
	irq_none(&t);

	drive(f, 3, '1');
	loop(&t);
	irq_expect(&t, head, sp, 1);

	/* Masked now: an edge is latched, not delivered... */
	drive(f, 3, '0');
	loop(&t);
	drive(f, 3, '1');
	loop(&t);
	irq_none(&t);
	/* ...until the driver queues a buffer again. */
	head = irq_post(&t, 0, &sp);
	irq_expect(&t, head, sp, 1);

	/* A falling edge is not a rising one. */
	head = irq_post(&t, 0, &sp);
	drive(f, 3, '0');
	loop(&t);
	irq_none(&t);
	/* Writing the same level again is no edge. */
	drive(f, 3, '0');
	loop(&t);
	irq_none(&t);
	drive(f, 3, '1');
	loop(&t);
	irq_expect(&t, head, sp, 1);
	devtest_fini(&t);
}

/* A buffer held when the eventq stops is never completed: after the ring
 * restarts, an edge is delivered to a buffer the driver queues anew, not
 * pushed onto the new ring under the old head. */
static void
test_irq_queue_stop(void **state)
{
	struct fx *f = *state;
	struct devtest t;
	uint8_t *sp, *old;
	uint16_t head;

	dev_init(&t, f, "\"lines\": [3]", F_V1 | F_IRQ);
	assert_int_equal(req(&t, SET_IRQ_TYPE, 0, IRQ_RISING, NULL), OK);
	irq_post(&t, 0, &old);
	t.ctx.ops->queue_stop(&t.ctx, 1);
	drive(f, 3, '1');
	loop(&t);
	irq_none(&t);		/* the dropped buffer is never used */
	(void)old;
	/* The edge was latched: the next buffer gets it at once. */
	head = irq_post(&t, 0, &sp);
	irq_expect(&t, head, sp, 1);
	drive(f, 3, '0');
	loop(&t);
	devtest_fini(&t);
}

static void
test_irq_edge_falling_and_both(void **state)
{
	struct fx *f = *state;
	struct devtest t;
	uint8_t *sp;
	uint16_t head;

	dev_init(&t, f, "\"lines\": [0, 1]", F_V1 | F_IRQ);
	drive(f, 0, '1');
	drive(f, 1, '1');
	loop(&t);
	assert_int_equal(req(&t, SET_IRQ_TYPE, 0, IRQ_FALLING, NULL), OK);
	assert_int_equal(req(&t, SET_IRQ_TYPE, 1, IRQ_BOTH, NULL), OK);
	head = irq_post(&t, 0, &sp);
	irq_none(&t);
	drive(f, 0, '0');
	loop(&t);
	irq_expect(&t, head, sp, 1);
	head = irq_post(&t, 0, &sp);
	drive(f, 0, '1');
	loop(&t);
	irq_none(&t);
	drive(f, 0, '0');
	loop(&t);
	irq_expect(&t, head, sp, 1);

	head = irq_post(&t, 1, &sp);
	drive(f, 1, '0');
	loop(&t);
	irq_expect(&t, head, sp, 1);
	head = irq_post(&t, 1, &sp);
	drive(f, 1, '1');
	loop(&t);
	irq_expect(&t, head, sp, 1);
	devtest_fini(&t);
}

static void
test_irq_level(void **state)
{
	struct fx *f = *state;
	struct devtest t;
	uint8_t *sp;
	uint16_t head;

	dev_init(&t, f, "\"lines\": [5, 6]", F_V1 | F_IRQ);
	assert_int_equal(req(&t, SET_IRQ_TYPE, 0, IRQ_HIGH, NULL), OK);
	head = irq_post(&t, 0, &sp);
	irq_none(&t);
	drive(f, 5, '1');
	loop(&t);
	irq_expect(&t, head, sp, 1);
	/* Still high when unmasked: fires again at once. */
	head = irq_post(&t, 0, &sp);
	irq_expect(&t, head, sp, 1);
	/* A level that came and went while masked is not latched. */
	drive(f, 5, '0');
	loop(&t);
	drive(f, 5, '1');
	loop(&t);
	drive(f, 5, '0');
	loop(&t);
	head = irq_post(&t, 0, &sp);
	irq_none(&t);
	drive(f, 5, '1');
	loop(&t);
	irq_expect(&t, head, sp, 1);

	/* Level low: the line is low from the start. */
	assert_int_equal(req(&t, SET_IRQ_TYPE, 1, IRQ_LOW, NULL), OK);
	head = irq_post(&t, 1, &sp);
	irq_expect(&t, head, sp, 1);
	drive(f, 6, '1');
	loop(&t);
	head = irq_post(&t, 1, &sp);
	irq_none(&t);
	drive(f, 6, '0');
	loop(&t);
	irq_expect(&t, head, sp, 1);
	devtest_fini(&t);
}

static void
test_irq_disable_and_mistakes(void **state)
{
	struct fx *f = *state;
	struct devtest t;
	struct devtest_buf b[2];
	uint8_t *sp, *sp2;
	uint16_t head, head2, h;
	uint32_t len;

	dev_init(&t, f, "\"lines\": [0, 1]", F_V1 | F_IRQ);
	/* A buffer for a line whose interrupt is not enabled comes back
	 * invalid at once. */
	head = irq_post(&t, 0, &sp);
	irq_expect(&t, head, sp, 0);

	/* Disabling returns the held buffer as invalid. */
	assert_int_equal(req(&t, SET_IRQ_TYPE, 0, IRQ_BOTH, NULL), OK);
	head = irq_post(&t, 0, &sp);
	irq_none(&t);
	assert_int_equal(req(&t, SET_IRQ_TYPE, 0, IRQ_NONE, NULL), OK);
	irq_expect(&t, head, sp, 0);
	/* Disabled: edges are ignored. */
	drive(f, 0, '1');
	loop(&t);
	irq_none(&t);

	/* An edge latched while masked is dropped by a disable. */
	assert_int_equal(req(&t, SET_IRQ_TYPE, 0, IRQ_BOTH, NULL), OK);
	drive(f, 0, '0');
	loop(&t);
	assert_int_equal(req(&t, SET_IRQ_TYPE, 0, IRQ_NONE, NULL), OK);
	assert_int_equal(req(&t, SET_IRQ_TYPE, 0, IRQ_BOTH, NULL), OK);
	head = irq_post(&t, 0, &sp);
	irq_none(&t);

	/* A second buffer for a line with one held comes back invalid;
	 * the first stays held. */
	head2 = irq_post(&t, 0, &sp2);
	irq_expect(&t, head2, sp2, 0);
	drive(f, 0, '1');
	loop(&t);
	irq_expect(&t, head, sp, 1);

	/* SET_DIRECTION none discards the line's interrupt too. */
	head = irq_post(&t, 0, &sp);
	assert_int_equal(req(&t, SET_DIRECTION, 0, DIR_NONE, NULL), OK);
	irq_expect(&t, head, sp, 0);
	drive(f, 0, '0');
	loop(&t);
	irq_none(&t);

	/* No such line; a short request; no status byte. */
	head = irq_post(&t, 2, &sp);
	irq_expect(&t, head, sp, 0);
	b[0].gpa = devtest_alloc(&t, 0, 1);
	b[0].len = 1;
	b[0].writable = false;
	b[1].gpa = devtest_alloc(&t, 1, 1);
	b[1].len = 1;
	b[1].writable = true;
	sp = devtest_ptr(&t, b[1].gpa);
	*sp = 0xa5;
	head = devtest_post(&t, 1, b, 2);
	devtest_run(&t, 1);
	irq_expect(&t, head, sp, 0);
	b[1].writable = false;
	head = devtest_post(&t, 1, b, 1);
	devtest_run(&t, 1);
	assert_int_equal(devtest_used(&t, 1, &h, &len), 1);
	assert_int_equal(h, head);
	assert_int_equal(len, 0);
	assert_false(t.vq[1].broken);

	/* Reset drops what is held (its ring is gone) and clears the
	 * lines. */
	assert_int_equal(req(&t, SET_IRQ_TYPE, 1, IRQ_RISING, NULL), OK);
	irq_post(&t, 1, &sp);
	assert_int_equal(req(&t, SET_DIRECTION, 0, DIR_OUT, NULL), OK);
	t.ctx.ops->reset(&t.ctx);
	irq_none(&t);
	drive(f, 1, '1');
	loop(&t);
	irq_none(&t);
	assert_int_equal(get(&t, GET_DIRECTION, 0), DIR_IN);
	assert_int_equal(seen(f, 0), 'i');
	devtest_fini(&t);
}

/* An edge while no buffer is queued waits for one (the spec's latch);
 * edges from before the interrupt was enabled do not count. */
static void
test_irq_latched_before_unmask(void **state)
{
	struct fx *f = *state;
	struct devtest t;
	uint8_t *sp;
	uint16_t head;

	dev_init(&t, f, "\"lines\": [7]", F_V1 | F_IRQ);
	drive(f, 7, '1');
	loop(&t);
	assert_int_equal(req(&t, SET_IRQ_TYPE, 0, IRQ_RISING, NULL), OK);
	head = irq_post(&t, 0, &sp);
	irq_none(&t);
	assert_int_equal(req(&t, SET_IRQ_TYPE, 0, IRQ_NONE, NULL), OK);
	irq_expect(&t, head, sp, 0);

	/* Enabled, masked: the edge is kept... */
	assert_int_equal(req(&t, SET_IRQ_TYPE, 0, IRQ_RISING, NULL), OK);
	drive(f, 7, '0');
	loop(&t);
	drive(f, 7, '1');
	loop(&t);
	irq_none(&t);
	/* ...and delivered as soon as a buffer comes, once. */
	head = irq_post(&t, 0, &sp);
	irq_expect(&t, head, sp, 1);
	head = irq_post(&t, 0, &sp);
	irq_none(&t);
	devtest_fini(&t);
}

/* ---- a sim chip shared by two instances ---- */

static void
test_shared_chip(void **state)
{
	struct fx *f = *state;
	struct devtest a, b;
	uint8_t *sa, *sb;
	uint16_t ha, hb;

	dev_init(&a, f, "\"lines\": [0, 1]", F_V1 | F_IRQ);
	dev_init(&b, f, "\"lines\": [2, 3]", F_V1 | F_IRQ);
	assert_int_equal(seen(f, 0), 'i');
	assert_int_equal(seen(f, 2), 'i');
	assert_int_equal(seen(f, 4), '-');

	assert_int_equal(req(&a, SET_IRQ_TYPE, 0, IRQ_RISING, NULL), OK);
	assert_int_equal(req(&b, SET_IRQ_TYPE, 0, IRQ_RISING, NULL), OK);
	ha = irq_post(&a, 0, &sa);
	hb = irq_post(&b, 0, &sb);
	/* Chip line 2 is b's line 0, not a's. */
	drive(f, 2, '1');
	loop(&a);
	loop(&b);
	irq_none(&a);
	irq_expect(&b, hb, sb, 1);
	assert_int_equal(get(&a, GET_VALUE, 0), 0);
	assert_int_equal(get(&b, GET_VALUE, 0), 1);
	drive(f, 0, '1');
	loop(&b);
	loop(&a);
	irq_expect(&a, ha, sa, 1);
	irq_none(&b);

	/* Outputs land on each instance's own bytes. */
	assert_int_equal(req(&b, SET_VALUE, 1, 1, NULL), OK);
	assert_int_equal(req(&b, SET_DIRECTION, 1, DIR_OUT, NULL), OK);
	assert_int_equal(seen(f, 3), '1');
	assert_int_equal(seen(f, 1), 'i');
	assert_int_equal(req(&a, SET_DIRECTION, 1, DIR_OUT, NULL), OK);
	assert_int_equal(seen(f, 1), '0');
	assert_int_equal(seen(f, 3), '1');
	devtest_fini(&a);
	assert_int_equal(seen(f, 1), 'i');
	assert_int_equal(seen(f, 3), '1');
	devtest_fini(&b);
}

/* ---- main's messages, the worker's side ---- */

#define SIM_RETRY_MS	10	/* GPIO_SIM_RETRY_MS */

/*
 * The worker watches nothing itself: an outside write changes nothing
 * until main's CHANGED comes, which the worker answers with SEEN (sent
 * again shortly, comparing again, if main cannot take it at first).  What
 * main never sends is ignored.
 */
static void
test_sim_changed_from_main(void **state)
{
	struct fx *f = *state;
	struct devtest t;
	uint8_t *sp, junk[4] = { 1, 2, 3, 4 };
	uint16_t head;
	unsigned watches;
	int i, fd;

	dev_init(&t, f, "\"lines\": [3, 4]", F_V1 | F_IRQ);
	assert_int_equal(inotify_count(&watches), 0);
	assert_int_equal(req(&t, SET_IRQ_TYPE, 0, IRQ_RISING, NULL), OK);
	assert_int_equal(req(&t, SET_IRQ_TYPE, 1, IRQ_BOTH, NULL), OK);
	head = irq_post(&t, 0, &sp);

	/* Written, and main has said nothing: no interrupt, however long
	 * the loop runs (a read sees the level: the file is mapped). */
	drive(f, 3, '1');
	for (i = 0; i < 5; i++)
		devtest_dispatch(&t);
	irq_none(&t);
	assert_int_equal(get(&t, GET_VALUE, 0), 1);
	irq_none(&t);
	assert_int_equal(devtest_sent(&t, 0, NULL), 0);
	changed(&t);
	irq_expect(&t, head, sp, 1);

	/* main cannot take the answer now: the worker sends it again on
	 * its own, and compares again then (the rising edge written in the
	 * meantime is seen without another CHANGED). */
	head = irq_post(&t, 0, &sp);
	drive(f, 3, '0');
	t.send_fail = 1;
	devtest_worker_msg(&t, SIM_CHANGED, NULL, 0, -1);
	assert_int_equal(devtest_sent(&t, 0, NULL), 0);
	irq_none(&t);
	drive(f, 3, '1');
	for (i = 0; i < 200 && t.nsent == 0; i++) {
		usleep(SIM_RETRY_MS * 1000 / 2);
		devtest_dispatch(&t);
	}
	assert_int_equal(devtest_sent(&t, SIM_SEEN, NULL), 1);
	assert_int_equal(devtest_sent(&t, 0, NULL), 0);
	irq_expect(&t, head, sp, 1);
	/* Answered: no more retries. */
	usleep(3 * SIM_RETRY_MS * 1000);
	devtest_dispatch(&t);
	assert_int_equal(devtest_sent(&t, 0, NULL), 0);

	/* What main never sends: no compare, no answer; an fd is closed. */
	head = irq_post(&t, 1, &sp);
	drive(f, 4, '1');
	devtest_worker_msg(&t, 99, NULL, 0, -1);
	devtest_worker_msg(&t, SIM_CHANGED, junk, sizeof(junk), -1);
	devtest_worker_msg(&t, SIM_SEEN, NULL, 0, -1);
	assert_true((fd = dup(STDERR_FILENO)) >= 0);
	devtest_worker_msg(&t, 99, NULL, 0, fd);
	assert_int_equal(fcntl(fd, F_GETFD), -1);
	devtest_dispatch(&t);
	irq_none(&t);
	assert_int_equal(devtest_sent(&t, 0, NULL), 0);
	changed(&t);
	irq_expect(&t, head, sp, 1);
	devtest_fini(&t);
}

/* ---- main's side: one inotify instance for every sim chip ---- */

#define NMANY	130	/* instances: more than the default limit of 128
			   inotify instances per user */
#define NCHIPS	3

/*
 * main's hooks, in this process: NMANY sim devices on NCHIPS chip files
 * hold one inotify instance with one watch per file (a worker holds none:
 * see above), so fs.inotify.max_user_instances no longer bounds how many
 * sim devices may be connected at once.  Writes wake main; with no worker
 * ready nobody is told.  All is gone after teardown.
 */
static void
test_main_one_watch(void **state)
{
	struct fx *f = *state;
	struct vhostd_cfg *cfg;
	struct event_base *base;
	struct inst *insts, **table;
	char *text = NULL, *errors = NULL, path[128];
	size_t len = 0, i;
	unsigned watches;
	FILE *m;
	int fd;

	assert_non_null(m = open_memstream(&text, &len));
	fprintf(m, "{\"devices\": [");
	for (i = 0; i < NMANY; i++)
		fprintf(m, "%s{\"id\": \"g%zu\", \"socket\": \"%s/g%zu.sock\", "
		    "\"type\": \"gpio\", \"backend\": \"sim\", \"chip\": "
		    "\"%s/chip%zu\", \"ngpio\": 64, \"lines\": [%zu]}",
		    i == 0 ? "" : ", ", i, f->dir, i, f->dir, i % NCHIPS,
		    i / NCHIPS);
	fprintf(m, "]}");
	fclose(m);
	cfg = cfg_load_string(text, "t.json", &errors);
	free(text);
	if (cfg == NULL)
		fail_msg("%s", errors);
	assert_int_equal(cfg->ndevs, NMANY);
	assert_non_null(base = event_base_new());
	assert_non_null(insts = calloc(cfg->ndevs, sizeof(*insts)));
	assert_non_null(table = calloc(cfg->ndevs, sizeof(*table)));
	for (i = 0; i < cfg->ndevs; i++)
		table[i] = &insts[i];
	inst_set_table(table, cfg->ndevs);
	for (i = 0; i < cfg->ndevs; i++)
		assert_int_equal(inst_setup(&insts[i], &cfg->devs[i], base),
		    0);
	assert_int_equal(inotify_count(&watches), 1);
	assert_int_equal(watches, NCHIPS);

	for (i = 0; i < NCHIPS; i++) {
		snprintf(path, sizeof(path), "%s/chip%zu", f->dir, i);
		assert_true((fd = open(path, O_WRONLY)) >= 0);
		assert_int_equal(pwrite(fd, "1", 1, 0), 1);
		close(fd);
	}
	assert_int_equal(event_base_loop(base, EVLOOP_NONBLOCK), 0);

	for (i = 0; i < cfg->ndevs; i++)
		inst_teardown(&insts[i]);
	assert_int_equal(inotify_count(&watches), 0);
	inst_set_table(NULL, 0);
	free(table);
	free(insts);
	dev_host_close_all();
	event_base_free(base);
	cfg_free(cfg);
	for (i = 0; i < NCHIPS; i++) {
		snprintf(path, sizeof(path), "%s/chip%zu", f->dir, i);
		unlink(path);
	}
}

/* ---- config ---- */

/* Loads a config of the given devices; returns its errors (or NULL). */
static char *
load(const char *devices)
{
	struct vhostd_cfg *cfg;
	char *text, *errors = NULL;

	assert_true(asprintf(&text, "{\"devices\": [%s]}", devices) > 0);
	cfg = cfg_load_string(text, "t.json", &errors);
	free(text);
	if (cfg != NULL) {
		cfg_free(cfg);
		return NULL;
	}
	assert_non_null(errors);
	return errors;
}

/* One device object with `keys`; its errors must contain `want`. */
static void
expect_error(const char *keys, const char *want)
{
	char *dev, *errors;

	assert_true(asprintf(&dev, "{\"id\": \"g\", \"socket\": \"/x/g.sock\", "
	    "\"type\": \"gpio\", %s}", keys) > 0);
	errors = load(dev);
	free(dev);
	if (errors == NULL)
		fail_msg("no error for {%s}, wanted \"%s\"", keys, want);
	if (strstr(errors, want) == NULL)
		fail_msg("for {%s}\nwanted: %s\ngot: %s", keys, want, errors);
	free(errors);
}

static void
test_config_errors(void **state)
{
	static const struct {
		const char *keys, *want;
	} cases[] = {
		{ "\"backend\": \"gpio-sim\", \"chip\": \"/c\"",
		  "devices[0].backend: unknown backend \"gpio-sim\" "
		  "(known: gpiod, sim)" },
		{ "\"backend\": \"sim\", \"ngpio\": 4",
		  "devices[0]: missing required key \"chip\"" },
		{ "\"backend\": \"sim\", \"chip\": \"c\", \"ngpio\": 4",
		  "devices[0].chip: must be an absolute path" },
		{ "\"backend\": \"sim\", \"chip\": \"/a/../c\", \"ngpio\": 4",
		  "devices[0].chip: must be an absolute path without" },
		{ "\"backend\": \"sim\", \"chip\": \"/a//c\", \"ngpio\": 4",
		  "devices[0].chip: must be an absolute path without" },
		{ "\"backend\": \"sim\", \"chip\": \"/c\"",
		  "devices[0]: missing required key \"ngpio\"" },
		{ "\"backend\": \"sim\", \"chip\": \"/c\", \"ngpio\": 0",
		  "devices[0].ngpio: must be an integer from 1 to 1024" },
		{ "\"backend\": \"sim\", \"chip\": \"/c\", \"ngpio\": 1025",
		  "devices[0].ngpio: must be an integer from 1 to 1024" },
		{ "\"backend\": \"sim\", \"chip\": \"/c\", \"ngpio\": 100",
		  "devices[0].ngpio: a device serves at most 64 lines" },
		{ "\"backend\": \"sim\", \"chip\": \"/c\", \"ngpio\": 8, "
		  "\"lines\": [3, 1, 3]",
		  "devices[0].lines[2]: line 3 is given twice (also lines[0])" },
		{ "\"backend\": \"sim\", \"chip\": \"/c\", \"ngpio\": 8, "
		  "\"lines\": [8]",
		  "devices[0].lines[0]: must be a line of the sim chip, from 0 "
		  "to 7" },
		{ "\"backend\": \"sim\", \"chip\": \"/c\", \"ngpio\": 8, "
		  "\"lines\": [-1]",
		  "devices[0].lines[0]: must be a line of the sim chip" },
		{ "\"backend\": \"sim\", \"chip\": \"/c\", \"ngpio\": 8, "
		  "\"lines\": [\"1\"]",
		  "devices[0].lines[0]: must be a line of the sim chip" },
		{ "\"backend\": \"sim\", \"chip\": \"/c\", \"ngpio\": 8, "
		  "\"lines\": []",
		  "devices[0].lines: must be an array of 1 to 64 line numbers" },
		{ "\"backend\": \"sim\", \"chip\": \"/c\", \"ngpio\": 8, "
		  "\"lines\": [1, 2], \"names\": [\"x\"]",
		  "devices[0].names: gives 1 names for 2 lines" },
		{ "\"backend\": \"sim\", \"chip\": \"/c\", \"ngpio\": 2, "
		  "\"names\": [\"x\"]",
		  "devices[0].names: gives 1 names for 2 lines" },
		{ "\"backend\": \"sim\", \"chip\": \"/c\", \"ngpio\": 1, "
		  "\"names\": [\"abcdefghijklmnopqrstuvwxyz0123456\"]",
		  "devices[0].names[0]: is too long (33 bytes, at most 31)" },
		{ "\"backend\": \"sim\", \"chip\": \"/c\", \"ngpio\": 1, "
		  "\"names\": [\"a\\tb\"]",
		  "devices[0].names[0]: must be printable ASCII" },
		{ "\"backend\": \"sim\", \"chip\": \"/c\", \"ngpio\": 1, "
		  "\"names\": [3]",
		  "devices[0].names[0]: must be a string" },
		{ "\"backend\": \"sim\", \"chip\": \"/c\", \"ngpio\": 3, "
		  "\"names\": [\"led\", \"\", \"led\"]",
		  "devices[0].names[2]: name \"led\" is given twice (also "
		  "names[0])" },
		{ "\"backend\": \"sim\", \"chip\": \"/c\", \"ngpio\": 1, "
		  "\"line_options\": []",
		  "devices[0].line_options: is only for the gpiod backend" },
		{ "\"backend\": \"sim\", \"chip\": \"/c\", \"ngpio\": 1, "
		  "\"colour\": 1",
		  "devices[0]: unknown key \"colour\"" },
		{ "\"chip\": \"/dev/gpiochip0\", \"ngpio\": 4",
		  "devices[0].ngpio: is only for the sim backend" },
		{ "\"chip\": \"/dev/gpiochip0\", \"lines\": [65536]",
		  "devices[0].lines[0]: must be a line offset from 0 to 65535" },
		{ "\"chip\": \"/dev/gpiochip0\", \"lines\": [1], "
		  "\"line_options\": [{\"line\": 2}]",
		  "devices[0].line_options[0].line: line 2 is not one of "
		  "\"lines\"" },
		{ "\"chip\": \"/dev/gpiochip0\", \"lines\": [1], "
		  "\"line_options\": [{\"line\": 1}, {\"line\": 1}]",
		  "devices[0].line_options[1].line: line 1 has options "
		  "already" },
		{ "\"chip\": \"/dev/gpiochip0\", \"line_options\": "
		  "[{\"line\": 1, \"bias\": \"up\"}]",
		  "devices[0].line_options[0].bias: must be \"as-is\", "
		  "\"disabled\", \"pull-up\" or \"pull-down\"" },
		{ "\"chip\": \"/dev/gpiochip0\", \"line_options\": "
		  "[{\"line\": 1, \"drive\": \"open\"}]",
		  "devices[0].line_options[0].drive: must be \"push-pull\", "
		  "\"open-drain\" or \"open-source\"" },
		{ "\"chip\": \"/dev/gpiochip0\", \"line_options\": "
		  "[{\"line\": 1, \"active_low\": 1}]",
		  "devices[0].line_options[0].active_low: must be true or "
		  "false" },
		{ "\"chip\": \"/dev/gpiochip0\", \"line_options\": "
		  "[{\"line\": 1, \"debounce_us\": 1000001}]",
		  "devices[0].line_options[0].debounce_us: must be an integer "
		  "from 0 to 1000000" },
		{ "\"chip\": \"/dev/gpiochip0\", \"line_options\": "
		  "[{\"bias\": \"pull-up\"}]",
		  "devices[0].line_options[0]: missing required key \"line\"" },
		{ "\"chip\": \"/dev/gpiochip0\", \"line_options\": "
		  "[{\"line\": 1, \"pull\": 1}]",
		  "devices[0].line_options[0]: unknown key \"pull\"" },
		{ "\"chip\": \"/dev/gpiochip0\", \"line_options\": [1]",
		  "devices[0].line_options[0]: must be an object" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_error(cases[i].keys, cases[i].want);
}

static void
test_config_claims(void **state)
{
	char *errors;

	/* Disjoint lines of one chip, and the same lines of two chips. */
	errors = load(
	    "{\"id\": \"a\", \"socket\": \"/x/a\", \"type\": \"gpio\", "
	    "\"backend\": \"sim\", \"chip\": \"/c\", \"ngpio\": 8, "
	    "\"lines\": [0, 1]},"
	    "{\"id\": \"b\", \"socket\": \"/x/b\", \"type\": \"gpio\", "
	    "\"backend\": \"sim\", \"chip\": \"/c\", \"ngpio\": 8, "
	    "\"lines\": [2, 3]},"
	    "{\"id\": \"c\", \"socket\": \"/x/c\", \"type\": \"gpio\", "
	    "\"backend\": \"sim\", \"chip\": \"/d\", \"ngpio\": 8, "
	    "\"lines\": [0, 1]},"
	    "{\"id\": \"d\", \"socket\": \"/x/d\", \"type\": \"gpio\", "
	    "\"chip\": \"/dev/gpiochip0\", \"lines\": [0, 1]},"
	    "{\"id\": \"e\", \"socket\": \"/x/e\", \"type\": \"gpio\", "
	    "\"chip\": \"/dev/gpiochip0\", \"lines\": [2],"
	    "\"line_options\": [{\"line\": 2, \"bias\": \"pull-up\", "
	    "\"drive\": \"open-drain\", \"active_low\": true, "
	    "\"debounce_us\": 500}]}");
	if (errors != NULL)
		fail_msg("%s", errors);

	/* Overlap on a sim chip. */
	errors = load(
	    "{\"id\": \"a\", \"socket\": \"/x/a\", \"type\": \"gpio\", "
	    "\"backend\": \"sim\", \"chip\": \"/c\", \"ngpio\": 8, "
	    "\"lines\": [0, 1]},"
	    "{\"id\": \"b\", \"socket\": \"/x/b\", \"type\": \"gpio\", "
	    "\"backend\": \"sim\", \"chip\": \"/c\", \"ngpio\": 8, "
	    "\"lines\": [2, 1]}");
	assert_non_null(errors);
	if (strstr(errors, "devices[1].lines[1]: line 1 of gpio sim chip /c "
	    "is already given to a (devices[0])") == NULL)
		fail_msg("%s", errors);
	free(errors);

	/* A sim device without "lines" takes the whole chip. */
	errors = load(
	    "{\"id\": \"a\", \"socket\": \"/x/a\", \"type\": \"gpio\", "
	    "\"backend\": \"sim\", \"chip\": \"/c\", \"ngpio\": 8},"
	    "{\"id\": \"b\", \"socket\": \"/x/b\", \"type\": \"gpio\", "
	    "\"backend\": \"sim\", \"chip\": \"/c\", \"ngpio\": 8, "
	    "\"lines\": [7]}");
	assert_non_null(errors);
	if (strstr(errors, "devices[1].lines[0]: line 7 of gpio sim chip /c "
	    "is already given to a (devices[0])") == NULL)
		fail_msg("%s", errors);
	free(errors);

	/* Overlap on a gpiod chip; a device without "lines" has it all. */
	errors = load(
	    "{\"id\": \"a\", \"socket\": \"/x/a\", \"type\": \"gpio\", "
	    "\"chip\": \"/dev/gpiochip1\"},"
	    "{\"id\": \"b\", \"socket\": \"/x/b\", \"type\": \"gpio\", "
	    "\"chip\": \"/dev/gpiochip1\", \"lines\": [5]}");
	assert_non_null(errors);
	if (strstr(errors, "devices[1].lines[0]: line 5 of gpio chip "
	    "/dev/gpiochip1 is already given to a (devices[0])") == NULL)
		fail_msg("%s", errors);
	free(errors);
}

/* The open hook refuses a state file that is not one of this chip. */
static void
test_state_file(void **state)
{
	struct fx *f = *state;
	struct vhostd_cfg *cfg;
	const struct dev_ops *ops;
	char *text, *errors = NULL, err[256], buf[64];
	int fds[DEV_MAX_HOST_FDS], fd;
	unsigned nfds = 0;
	ssize_t n;

	assert_true(asprintf(&text, "{\"devices\": [{\"id\": \"g\", "
	    "\"socket\": \"/x/g\", \"type\": \"gpio\", \"backend\": \"sim\", "
	    "\"chip\": \"%s\", \"ngpio\": 4, \"lines\": [1, 2]}]}",
	    f->state) > 0);
	cfg = cfg_load_string(text, "t.json", &errors);
	free(text);
	if (cfg == NULL)
		fail_msg("%s", errors);
	ops = cfg->devs[0].ops;

	/* Made by the open hook: inputs low, lines unused. */
	assert_int_equal(ops->open(cfg->devs[0].priv, fds, &nfds, err,
	    sizeof(err)), 0);
	assert_int_equal(nfds, 1);
	close(fds[0]);
	dev_host_close_all();
	fd = open(f->state, O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	assert_int_equal(n, 10);
	assert_memory_equal(buf, "0000\n----\n", 10);

	/* A file of another size is somebody else's. */
	fd = open(f->state, O_WRONLY | O_APPEND);
	assert_int_equal(write(fd, "xx", 2), 2);
	close(fd);
	assert_int_equal(ops->open(cfg->devs[0].priv, fds, &nfds, err,
	    sizeof(err)), -1);
	if (strstr(err, "is not the state file of a chip of 4 lines") == NULL)
		fail_msg("%s", err);
	dev_host_close_all();
	/* So is one of the right size without the newlines. */
	fd = open(f->state, O_WRONLY | O_TRUNC);
	assert_int_equal(write(fd, "0000000000", 10), 10);
	close(fd);
	assert_int_equal(ops->open(cfg->devs[0].priv, fds, &nfds, err,
	    sizeof(err)), -1);
	dev_host_close_all();
	/* An empty file is made a state file. */
	fd = open(f->state, O_WRONLY | O_TRUNC);
	close(fd);
	assert_int_equal(ops->open(cfg->devs[0].priv, fds, &nfds, err,
	    sizeof(err)), 0);
	close(fds[0]);
	dev_host_close_all();
	cfg_free(cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_config_space_and_names,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_directions_and_values,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_request_errors,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_scattered_buffers,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_irq_edge_rising,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_irq_queue_stop,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_irq_edge_falling_and_both,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_irq_level,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_irq_disable_and_mistakes,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_irq_latched_before_unmask,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_shared_chip,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_state_file,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_sim_changed_from_main,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_main_one_watch,
		    fx_setup, fx_teardown),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_config_claims),
	};

	log_init(true, LOG_ERR, "test_gpio");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
