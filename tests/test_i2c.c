/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the i2c device (devices/i2c.c) through the device harness
 * over its sim backend: the emulated 24C02 and LM75, zero-length probes,
 * FAIL_NEXT groups (a failing middle message, a tail in a later kick, a
 * tail that never comes), address remapping, every guest error, two
 * instances splitting one bus; its config errors and claims; and the
 * SMBus translation of the i2cdev backend as a pure function.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <linux/i2c.h>
#include <linux/i2c-dev.h>

#include "devtest.h"
#include "log.h"

/* devices/i2c.c, exported for this test only. */
int	i2c_smbus_plan(const struct i2c_msg *, unsigned, unsigned long,
	    struct i2c_smbus_ioctl_data *, union i2c_smbus_data *);
void	i2c_smbus_result(const struct i2c_smbus_ioctl_data *,
	    const union i2c_smbus_data *, struct i2c_msg *, unsigned);

#define FEATURES	(UINT64_C(1) << 32 | UINT64_C(1) << 0)
#define FN		1u	/* VIRTIO_I2C_FLAGS_FAIL_NEXT */
#define RD		2u	/* VIRTIO_I2C_FLAGS_M_RD */
#define OK		0
#define ERR		1
#define A(x)		((uint16_t)((x) << 1))	/* addr field of 7-bit x */

#define SIM_BUS \
	"\"type\": \"i2c\", \"backend\": \"sim\", \"bus\": \"board0\", "
#define EEPROM_AT_50 \
	SIM_BUS "\"addresses\": [\"0x50\", 81], " \
	"\"parts\": [{\"type\": \"24c02\", \"address\": \"0x50\"}]"

/* One request as the guest posted it. */
struct msg {
	uint16_t	head;
	uint64_t	status;		/* gpa of the status byte, 0: none */
	uint64_t	rbuf;		/* gpa of the read buffer */
	uint32_t	rlen;
	bool		done;
	uint32_t	used;
};

static uint64_t
put(struct devtest *t, unsigned r, const void *p, uint32_t len)
{
	uint64_t gpa = devtest_alloc(t, r, len);

	if (p != NULL)
		memcpy(devtest_ptr(t, gpa), p, len);
	else
		memset(devtest_ptr(t, gpa), 0x5a, len);
	return gpa;
}

static void
hdr(uint8_t *h, uint16_t addr, uint32_t flags)
{
	h[0] = (uint8_t)addr;
	h[1] = (uint8_t)(addr >> 8);
	h[2] = h[3] = 0;
	h[4] = (uint8_t)flags;
	h[5] = (uint8_t)(flags >> 8);
	h[6] = (uint8_t)(flags >> 16);
	h[7] = (uint8_t)(flags >> 24);
}

/* Posts a request laid out as Linux's driver does: header, buffer
 * (device-readable for a write, writable for a read), status. */
static void
post(struct devtest *t, struct msg *m, uint16_t addr, uint32_t flags,
    const void *w, uint32_t wlen, uint32_t rlen)
{
	struct devtest_buf b[4];
	uint8_t h[8];
	unsigned n = 0;

	memset(m, 0, sizeof(*m));
	hdr(h, addr, flags);
	b[n++] = (struct devtest_buf){ put(t, 0, h, 8), 8, false };
	if (wlen > 0)
		b[n++] = (struct devtest_buf){ put(t, 1, w, wlen), wlen,
		    false };
	if (rlen > 0) {
		m->rbuf = put(t, 1, NULL, rlen);
		m->rlen = rlen;
		b[n++] = (struct devtest_buf){ m->rbuf, rlen, true };
	}
	m->status = put(t, 0, NULL, 1);
	b[n++] = (struct devtest_buf){ m->status, 1, true };
	m->head = devtest_post(t, 0, b, n);
}

/* Takes every used entry, matching them to ms[0..n) by head. */
static unsigned
harvest(struct devtest *t, struct msg *ms, unsigned n)
{
	uint16_t head;
	uint32_t len;
	unsigned i, got = 0;

	while (devtest_used(t, 0, &head, &len)) {
		for (i = 0; i < n; i++)
			if (!ms[i].done && ms[i].head == head)
				break;
		assert_true(i < n);
		ms[i].done = true;
		ms[i].used = len;
		got++;
	}
	return got;
}

static uint8_t
status(struct devtest *t, const struct msg *m)
{
	assert_true(m->done);
	return *(uint8_t *)devtest_ptr(t, m->status);
}

static const uint8_t *
rdata(struct devtest *t, const struct msg *m)
{
	return devtest_ptr(t, m->rbuf);
}

/* A whole single-request transfer: posted, run, harvested. */
static uint8_t
xfer1(struct devtest *t, uint16_t addr, uint32_t flags, const void *w,
    uint32_t wlen, void *r, uint32_t rlen)
{
	struct msg m;

	post(t, &m, addr, flags, w, wlen, rlen);
	devtest_run(t, 0);
	assert_false(t->vq[0].broken);
	assert_int_equal(harvest(t, &m, 1), 1);
	if (r != NULL && status(t, &m) == OK)
		memcpy(r, rdata(t, &m), rlen);
	return status(t, &m);
}

/* Write-then-read with a repeated start: a group of two. */
static uint8_t
wr(struct devtest *t, uint8_t addr, const void *w, uint32_t wlen, void *r,
    uint32_t rlen)
{
	struct msg m[2];

	post(t, &m[0], A(addr), FN, w, wlen, 0);
	post(t, &m[1], A(addr), RD, NULL, 0, rlen);
	devtest_run(t, 0);
	assert_int_equal(harvest(t, m, 2), 2);
	if (status(t, &m[0]) != OK) {
		assert_int_equal(status(t, &m[1]), ERR);
		return ERR;
	}
	if (status(t, &m[1]) == OK) {
		assert_int_equal(m[1].used, rlen + 1);
		memcpy(r, rdata(t, &m[1]), rlen);
	}
	return status(t, &m[1]);
}

static void
test_ops(void **state)
{
	const struct dev_ops *ops = dev_lookup("i2c");

	assert_non_null(ops);
	assert_int_equal(ops->virtio_id, 34);
	assert_int_equal(ops->num_queues, 1);
	assert_int_equal(ops->features, 1);	/* ZERO_LENGTH_REQUEST */
	assert_int_equal(ops->config_space_size, 0);
	assert_true(ops->cfg_size <= DEV_CFG_MAX);
}

static void
test_eeprom_page_write_wraps(void **state)
{
	struct devtest t;
	const uint8_t w[] = { 0x06, 1, 2, 3, 4 }, zero = 0;
	const uint8_t want[8] = { 3, 4, 0xff, 0xff, 0xff, 0xff, 1, 2 };
	uint8_t got[10];

	devtest_init(&t, EEPROM_AT_50, FEATURES);
	/* 6, 7, then wrapped inside the 8-byte page: 0, 1. */
	assert_int_equal(xfer1(&t, A(0x50), 0, w, sizeof(w), NULL, 0), OK);
	assert_int_equal(wr(&t, 0x50, &zero, 1, got, 8), OK);
	assert_memory_equal(got, want, 8);
	/* Nothing spilled into the next page. */
	assert_int_equal(wr(&t, 0x50, (uint8_t[]){ 8 }, 1, got, 2), OK);
	assert_int_equal(got[0], 0xff);
	assert_int_equal(got[1], 0xff);
	devtest_fini(&t);
}

static void
test_eeprom_pointer_and_sequential_read(void **state)
{
	struct devtest t;
	const uint8_t hi[] = { 0xfe, 0xaa, 0xbb }, lo[] = { 0x00, 0xcc };
	const uint8_t ptr = 0xfe;
	uint8_t got[4];

	devtest_init(&t, EEPROM_AT_50, FEATURES);
	assert_int_equal(xfer1(&t, A(0x50), 0, hi, 3, NULL, 0), OK);
	assert_int_equal(xfer1(&t, A(0x50), 0, lo, 2, NULL, 0), OK);
	/* Set the pointer alone, then read on: 0xfe, 0xff, wrap to 0. */
	assert_int_equal(xfer1(&t, A(0x50), 0, &ptr, 1, NULL, 0), OK);
	assert_int_equal(xfer1(&t, A(0x50), RD, NULL, 0, got, 3), OK);
	assert_int_equal(got[0], 0xaa);
	assert_int_equal(got[1], 0xbb);
	assert_int_equal(got[2], 0xcc);
	/* The pointer went on: 1 is still erased. */
	assert_int_equal(xfer1(&t, A(0x50), RD, NULL, 0, got, 1), OK);
	assert_int_equal(got[0], 0xff);
	devtest_fini(&t);
}

static void
test_lm75(void **state)
{
	struct devtest t;
	uint8_t got[4], reg;

	devtest_init(&t, SIM_BUS "\"addresses\": [72, 73, 74], \"parts\": ["
	    "{\"type\": \"lm75\", \"address\": 72}, "
	    "{\"type\": \"lm75\", \"address\": 73, \"temp_mc\": -5500}, "
	    "{\"type\": \"lm75\", \"address\": \"0x4a\", "
	    "\"temp_mc\": 125000}]", FEATURES);
	reg = 0;
	assert_int_equal(wr(&t, 0x48, &reg, 1, got, 2), OK);
	assert_int_equal(got[0], 0x19);		/* 25.0 C, the default */
	assert_int_equal(got[1], 0x00);
	assert_int_equal(wr(&t, 0x49, &reg, 1, got, 2), OK);
	assert_int_equal(got[0], 0xfa);		/* -5.5 C: 1 1111 0101 */
	assert_int_equal(got[1], 0x80);
	assert_int_equal(wr(&t, 0x4a, &reg, 1, got, 2), OK);
	assert_int_equal(got[0], 0x7d);		/* 125.0 C */
	assert_int_equal(got[1], 0x00);
	/* TOS and THYST power on at 80 and 75 C; config at 0. */
	reg = 3;
	assert_int_equal(wr(&t, 0x48, &reg, 1, got, 2), OK);
	assert_int_equal(got[0], 0x50);
	reg = 2;
	assert_int_equal(wr(&t, 0x48, &reg, 1, got, 2), OK);
	assert_int_equal(got[0], 0x4b);
	reg = 1;
	assert_int_equal(wr(&t, 0x48, &reg, 1, got, 1), OK);
	assert_int_equal(got[0], 0);
	/* TOS written (low 7 bits ignored), read back. */
	assert_int_equal(xfer1(&t, A(0x48), 0, (uint8_t[]){ 3, 0x40, 0xff },
	    3, NULL, 0), OK);
	reg = 3;
	assert_int_equal(wr(&t, 0x48, &reg, 1, got, 2), OK);
	assert_int_equal(got[0], 0x40);
	assert_int_equal(got[1], 0x80);
	/* A pointer above 3 is NAKed. */
	reg = 4;
	assert_int_equal(xfer1(&t, A(0x48), 0, &reg, 1, NULL, 0), ERR);
	devtest_fini(&t);
}

/* i2cdetect: zero-length (SMBus quick) writes and reads. */
static void
test_quick_probe(void **state)
{
	struct devtest t;

	devtest_init(&t, EEPROM_AT_50, FEATURES);
	assert_int_equal(xfer1(&t, A(0x50), 0, NULL, 0, NULL, 0), OK);
	assert_int_equal(xfer1(&t, A(0x50), RD, NULL, 0, NULL, 0), OK);
	/* Granted, nothing there: NAK. */
	assert_int_equal(xfer1(&t, A(0x51), 0, NULL, 0, NULL, 0), ERR);
	/* Not granted. */
	assert_int_equal(xfer1(&t, A(0x52), 0, NULL, 0, NULL, 0), ERR);
	assert_int_equal(xfer1(&t, A(0x08), RD, NULL, 0, NULL, 0), ERR);
	devtest_fini(&t);
}

static void
test_fail_next_middle_fails(void **state)
{
	struct devtest t;
	struct msg m[4];
	const uint8_t zero = 0, w[] = { 0x10, 0x77 };
	uint8_t got[2];
	unsigned i;

	devtest_init(&t, EEPROM_AT_50, FEATURES);
	/* The middle message is NAKed (0x51 is granted but empty): it and
	 * the rest fail; the first went through. */
	post(&t, &m[0], A(0x50), FN, w, 2, 0);
	post(&t, &m[1], A(0x51), FN, &zero, 1, 0);
	post(&t, &m[2], A(0x50), RD, NULL, 0, 2);
	/* The next group is unaffected. */
	post(&t, &m[3], A(0x50), 0, &zero, 1, 0);
	devtest_run(&t, 0);
	assert_int_equal(harvest(&t, m, 4), 4);
	assert_int_equal(status(&t, &m[0]), OK);
	assert_int_equal(status(&t, &m[1]), ERR);
	assert_int_equal(status(&t, &m[2]), ERR);
	assert_int_equal(m[2].used, 1);
	assert_int_equal(rdata(&t, &m[2])[0], 0x5a);	/* untouched */
	assert_int_equal(status(&t, &m[3]), OK);
	assert_int_equal(wr(&t, 0x50, (uint8_t[]){ 0x10 }, 1, got, 1), OK);
	assert_int_equal(got[0], 0x77);

	/* An invalid middle message (address not granted) is not put on
	 * the bus; the messages before it are. */
	post(&t, &m[0], A(0x50), FN, (uint8_t[]){ 0x20, 0x11 }, 2, 0);
	post(&t, &m[1], A(0x60), FN, &zero, 1, 0);
	post(&t, &m[2], A(0x50), FN, &zero, 1, 0);
	post(&t, &m[3], A(0x50), RD, NULL, 0, 1);
	devtest_run(&t, 0);
	assert_int_equal(harvest(&t, m, 4), 4);
	assert_int_equal(status(&t, &m[0]), OK);
	for (i = 1; i < 4; i++)
		assert_int_equal(status(&t, &m[i]), ERR);
	assert_int_equal(wr(&t, 0x50, (uint8_t[]){ 0x20 }, 1, got, 1), OK);
	assert_int_equal(got[0], 0x11);

	/* The first message fails: the whole group does. */
	post(&t, &m[0], A(0x51), FN, &zero, 1, 0);
	post(&t, &m[1], A(0x50), RD, NULL, 0, 1);
	devtest_run(&t, 0);
	assert_int_equal(harvest(&t, m, 2), 2);
	assert_int_equal(status(&t, &m[0]), ERR);
	assert_int_equal(status(&t, &m[1]), ERR);
	devtest_fini(&t);
}

static void
test_group_tail_in_later_kick(void **state)
{
	struct devtest t;
	struct msg m[3];
	const uint8_t w[] = { 0x30, 9, 8, 7 }, ptr = 0x30;

	devtest_init(&t, EEPROM_AT_50, FEATURES);
	assert_int_equal(xfer1(&t, A(0x50), 0, w, 4, NULL, 0), OK);
	post(&t, &m[0], A(0x50), FN, &ptr, 1, 0);
	devtest_run(&t, 0);
	/* Held: nothing completed until the group's end arrives. */
	assert_int_equal(harvest(&t, m, 1), 0);
	post(&t, &m[1], A(0x50), FN | RD, NULL, 0, 1);
	devtest_run(&t, 0);
	assert_int_equal(harvest(&t, m, 2), 0);
	post(&t, &m[2], A(0x50), RD, NULL, 0, 2);
	devtest_run(&t, 0);
	assert_int_equal(harvest(&t, m, 3), 3);
	assert_int_equal(status(&t, &m[0]), OK);
	assert_int_equal(status(&t, &m[1]), OK);
	assert_int_equal(status(&t, &m[2]), OK);
	assert_int_equal(rdata(&t, &m[1])[0], 9);
	assert_int_equal(rdata(&t, &m[2])[0], 8);
	assert_int_equal(rdata(&t, &m[2])[1], 7);
	devtest_fini(&t);
}

/* A group whose end never comes fails after a while, on the bus never;
 * what comes next is a new group. */
static void
test_group_tail_never_comes(void **state)
{
	struct devtest t;
	struct msg m;
	const uint8_t w[] = { 0x40, 0x42 };
	uint8_t got;
	int i;

	devtest_init(&t, EEPROM_AT_50, FEATURES);
	post(&t, &m, A(0x50), FN, w, 2, 0);
	devtest_run(&t, 0);
	assert_int_equal(harvest(&t, &m, 1), 0);
	for (i = 0; i < 30 && harvest(&t, &m, 1) == 0; i++) {
		usleep(10000);
		devtest_dispatch(&t);
	}
	assert_true(m.done);
	assert_int_equal(status(&t, &m), ERR);
	assert_int_equal(wr(&t, 0x50, (uint8_t[]){ 0x40 }, 1, &got, 1), OK);
	assert_int_equal(got, 0xff);		/* never written */
	devtest_fini(&t);
}

static void
test_remap(void **state)
{
	struct devtest t;
	const uint8_t w[] = { 0x00, 0x5e };
	uint8_t got;

	devtest_init(&t, SIM_BUS "\"addresses\": [{\"guest\": \"0x20\", "
	    "\"host\": \"0x50\"}, {\"guest\": 80, \"host\": 81}], "
	    "\"parts\": [{\"type\": \"24c02\", \"address\": \"0x50\"}, "
	    "{\"type\": \"lm75\", \"address\": \"0x51\"}]", FEATURES);
	/* Guest 0x20 is the EEPROM at host 0x50. */
	assert_int_equal(xfer1(&t, A(0x20), 0, w, 2, NULL, 0), OK);
	assert_int_equal(wr(&t, 0x20, w, 1, &got, 1), OK);
	assert_int_equal(got, 0x5e);
	/* Guest 0x50 is the LM75 at host 0x51. */
	assert_int_equal(wr(&t, 0x50, (uint8_t[]){ 0 }, 1, &got, 1), OK);
	assert_int_equal(got, 0x19);
	/* Host 0x51 is not a guest address. */
	assert_int_equal(xfer1(&t, A(0x51), 0, NULL, 0, NULL, 0), ERR);
	devtest_fini(&t);
}

static void
test_guest_errors(void **state)
{
	struct devtest t;
	struct devtest_buf b[4];
	uint8_t h[8], big[4097], got[2];
	uint16_t head, uhead;
	uint32_t len;
	uint64_t st;

	memset(big, 0, sizeof(big));
	devtest_init(&t, EEPROM_AT_50, FEATURES);
	/* Reserved flag bits. */
	assert_int_equal(xfer1(&t, A(0x50), 4, NULL, 0, NULL, 0), ERR);
	assert_int_equal(xfer1(&t, A(0x50), 0x80000000u, NULL, 0, NULL, 0),
	    ERR);
	/* A 10-bit address, an odd address field. */
	assert_int_equal(xfer1(&t, 0xf050 | 0x00f0, 0, NULL, 0, NULL, 0),
	    ERR);
	assert_int_equal(xfer1(&t, A(0x50) | 1, 0, NULL, 0, NULL, 0), ERR);
	/* Oversize write and read. */
	assert_int_equal(xfer1(&t, A(0x50), 0, big, 4097, NULL, 0), ERR);
	assert_int_equal(xfer1(&t, A(0x50), RD, NULL, 0, NULL, 4097), ERR);
	/* The largest message is fine. */
	assert_int_equal(xfer1(&t, A(0x50), RD, NULL, 0, NULL, 4096), OK);

	/* A read whose buffer is device-readable (no writable buffer). */
	assert_int_equal(xfer1(&t, A(0x50), RD, got, 2, NULL, 0), ERR);
	/* A write whose buffer is device-writable. */
	assert_int_equal(xfer1(&t, A(0x50), 0, NULL, 0, NULL, 2), ERR);

	/* No status byte: completed with length 0. */
	hdr(h, A(0x50), 0);
	b[0] = (struct devtest_buf){ put(&t, 0, h, 8), 8, false };
	head = devtest_post(&t, 0, b, 1);
	devtest_run(&t, 0);
	assert_false(t.vq[0].broken);
	assert_int_equal(devtest_used(&t, 0, &uhead, &len), 1);
	assert_int_equal(uhead, head);
	assert_int_equal(len, 0);

	/* A short header: ERR. */
	b[0] = (struct devtest_buf){ put(&t, 0, h, 4), 4, false };
	st = put(&t, 0, NULL, 1);
	b[1] = (struct devtest_buf){ st, 1, true };
	head = devtest_post(&t, 0, b, 2);
	devtest_run(&t, 0);
	assert_int_equal(devtest_used(&t, 0, &uhead, &len), 1);
	assert_int_equal(uhead, head);
	assert_int_equal(len, 1);
	assert_int_equal(*(uint8_t *)devtest_ptr(&t, st), ERR);

	/* The header split over two descriptors and the status behind a
	 * writable read buffer in two pieces: bytes count, not
	 * descriptors. */
	hdr(h, A(0x50), RD);
	b[0] = (struct devtest_buf){ put(&t, 0, h, 3), 3, false };
	b[1] = (struct devtest_buf){ put(&t, 1, h + 3, 5), 5, false };
	b[2] = (struct devtest_buf){ put(&t, 0, NULL, 1), 1, true };
	st = put(&t, 1, NULL, 2);
	b[3] = (struct devtest_buf){ st, 2, true };
	head = devtest_post(&t, 0, b, 4);
	devtest_run(&t, 0);
	assert_int_equal(devtest_used(&t, 0, &uhead, &len), 1);
	assert_int_equal(uhead, head);
	assert_int_equal(len, 3);
	assert_int_equal(*(uint8_t *)devtest_ptr(&t, st + 1), OK);

	/* Still working. */
	assert_int_equal(wr(&t, 0x50, (uint8_t[]){ 0 }, 1, got, 1), OK);
	assert_false(t.vq[0].broken);
	devtest_fini(&t);
}

/* ZERO_LENGTH_REQUEST is mandatory: without it every request fails. */
static void
test_feature_not_accepted(void **state)
{
	struct devtest t;
	uint8_t got;

	devtest_init(&t, EEPROM_AT_50, UINT64_C(1) << 32);
	assert_int_equal(xfer1(&t, A(0x50), RD, NULL, 0, &got, 1), ERR);
	devtest_fini(&t);
}

/* Two instances splitting one sim bus each see only their own. */
static void
test_two_instances(void **state)
{
	struct devtest a, b;
	uint8_t got;

	devtest_init(&a, SIM_BUS "\"addresses\": [80], \"parts\": [{\"type\": "
	    "\"24c02\", \"address\": 80}]", FEATURES);
	devtest_init(&b, SIM_BUS "\"addresses\": [81], \"parts\": [{\"type\": "
	    "\"24c02\", \"address\": 81}]", FEATURES);
	assert_int_equal(xfer1(&a, A(0x50), 0, (uint8_t[]){ 0, 0xa1 }, 2,
	    NULL, 0), OK);
	assert_int_equal(xfer1(&b, A(0x51), 0, (uint8_t[]){ 0, 0xb1 }, 2,
	    NULL, 0), OK);
	assert_int_equal(xfer1(&a, A(0x51), 0, NULL, 0, NULL, 0), ERR);
	assert_int_equal(xfer1(&b, A(0x50), 0, NULL, 0, NULL, 0), ERR);
	assert_int_equal(wr(&a, 0x50, (uint8_t[]){ 0 }, 1, &got, 1), OK);
	assert_int_equal(got, 0xa1);
	assert_int_equal(wr(&b, 0x51, (uint8_t[]){ 0 }, 1, &got, 1), OK);
	assert_int_equal(got, 0xb1);
	devtest_fini(&a);
	devtest_fini(&b);
}

/* ---- config ---- */

static struct vhostd_cfg *
load(const char *devices, char **errors)
{
	char *text;
	struct vhostd_cfg *cfg;

	assert_true(asprintf(&text, "{\"devices\": [%s]}", devices) > 0);
	cfg = cfg_load_string(text, "t.json", errors);
	free(text);
	return cfg;
}

#define DEV(id, rest) "{\"id\": \"" id "\", \"socket\": \"/t/" id \
	".sock\", \"type\": \"i2c\", " rest "}"

static void
expect_error(const char *devices, const char *want)
{
	struct vhostd_cfg *cfg;
	char *errors = NULL;

	cfg = load(devices, &errors);
	if (cfg != NULL)
		fail_msg("loaded, expected \"%s\"", want);
	if (strstr(errors, want) == NULL)
		fail_msg("expected \"%s\" in:\n%s", want, errors);
	free(errors);
}

static void
test_config_errors(void **state)
{
	const struct { const char *dev, *want; } c[] = {
		{ DEV("a", "\"bus\": \"/dev/i2c-1\", \"addresses\": [80]"),
		  "devices[0]: missing required key \"backend\"" },
		{ DEV("a", "\"backend\": \"x\", \"bus\": \"b\", "
		  "\"addresses\": [80]"),
		  "devices[0].backend: unknown backend" },
		{ DEV("a", "\"backend\": \"sim\", \"addresses\": [80]"),
		  "devices[0]: missing required key \"bus\"" },
		{ DEV("a", "\"backend\": \"sim\", \"bus\": \"b\""),
		  "devices[0]: missing required key \"addresses\"" },
		{ DEV("a", "\"backend\": \"sim\", \"bus\": \"b\", "
		  "\"addresses\": []"),
		  "devices[0].addresses: must be a non-empty array" },
		{ DEV("a", "\"backend\": \"sim\", \"bus\": \"b\", "
		  "\"addresses\": [80, 7]"),
		  "devices[0].addresses[1]: must be a 7-bit address from "
		  "0x08 to 0x77" },
		{ DEV("a", "\"backend\": \"sim\", \"bus\": \"b\", "
		  "\"addresses\": [\"0x78\"]"),
		  "devices[0].addresses[0]: must be a 7-bit address" },
		{ DEV("a", "\"backend\": \"sim\", \"bus\": \"b\", "
		  "\"addresses\": [\"0x5g\"]"),
		  "devices[0].addresses[0]: must be a 7-bit address" },
		{ DEV("a", "\"backend\": \"sim\", \"bus\": \"b\", "
		  "\"addresses\": [\"0x\"]"),
		  "devices[0].addresses[0]: must be a 7-bit address" },
		{ DEV("a", "\"backend\": \"sim\", \"bus\": \"b\", "
		  "\"addresses\": [true]"),
		  "devices[0].addresses[0]: must be a 7-bit address" },
		{ DEV("a", "\"backend\": \"sim\", \"bus\": \"b\", "
		  "\"addresses\": [{\"guest\": 32}]"),
		  "devices[0].addresses[0]: missing required key \"host\"" },
		{ DEV("a", "\"backend\": \"sim\", \"bus\": \"b\", "
		  "\"addresses\": [{\"guest\": 32, \"host\": 3}]"),
		  "devices[0].addresses[0].host: must be a 7-bit address" },
		{ DEV("a", "\"backend\": \"sim\", \"bus\": \"b\", "
		  "\"addresses\": [{\"guest\": 32, \"host\": 80, \"x\": 1}]"),
		  "devices[0].addresses[0]: unknown key \"x\"" },
		{ DEV("a", "\"backend\": \"sim\", \"bus\": \"b\", "
		  "\"addresses\": [80, {\"guest\": 80, \"host\": 81}]"),
		  "devices[0].addresses[1]: guest address 0x50 is given "
		  "twice" },
		{ DEV("a", "\"backend\": \"sim\", \"bus\": \"a b\", "
		  "\"addresses\": [80]"),
		  "devices[0].bus: a sim bus name is" },
		{ DEV("a", "\"backend\": \"i2cdev\", \"bus\": \"i2c-1\", "
		  "\"addresses\": [80]"),
		  "devices[0].bus: must be an absolute path" },
		{ DEV("a", "\"backend\": \"i2cdev\", \"bus\": \"/dev/i2c-1\", "
		  "\"addresses\": [80], \"parts\": []"),
		  "devices[0].parts: only the sim backend has parts" },
		{ DEV("a", "\"backend\": \"sim\", \"bus\": \"b\", "
		  "\"addresses\": [80], \"parts\": [{\"type\": \"24c64\", "
		  "\"address\": 80}]"),
		  "devices[0].parts[0].type: unknown part type" },
		{ DEV("a", "\"backend\": \"sim\", \"bus\": \"b\", "
		  "\"addresses\": [80], \"parts\": [{\"type\": \"lm75\"}]"),
		  "devices[0].parts[0]: missing required key \"address\"" },
		{ DEV("a", "\"backend\": \"sim\", \"bus\": \"b\", "
		  "\"addresses\": [80], \"parts\": [{\"type\": \"lm75\", "
		  "\"address\": 81}]"),
		  "devices[0].parts[0].address: 0x51 is not among the "
		  "addresses" },
		{ DEV("a", "\"backend\": \"sim\", \"bus\": \"b\", "
		  "\"addresses\": [80], \"parts\": [{\"type\": \"lm75\", "
		  "\"address\": 80}, {\"type\": \"24c02\", \"address\": 80}]"),
		  "devices[0].parts[1].address: parts[0] is already at 0x50" },
		{ DEV("a", "\"backend\": \"sim\", \"bus\": \"b\", "
		  "\"addresses\": [80], \"parts\": [{\"type\": \"24c02\", "
		  "\"address\": 80, \"temp_mc\": 1}]"),
		  "devices[0].parts[0].temp_mc: only an lm75 has a "
		  "temperature" },
		{ DEV("a", "\"backend\": \"sim\", \"bus\": \"b\", "
		  "\"addresses\": [80], \"parts\": [{\"type\": \"lm75\", "
		  "\"address\": 80, \"temp_mc\": -55001}]"),
		  "devices[0].parts[0].temp_mc: must be an integer from -55000 "
		  "to 125000" },
		{ DEV("a", "\"backend\": \"sim\", \"bus\": \"b\", "
		  "\"addresses\": [80], \"parts\": [{\"type\": \"lm75\", "
		  "\"address\": 80, \"pins\": 1}]"),
		  "devices[0].parts[0]: unknown key \"pins\"" },
		{ DEV("a", "\"backend\": \"sim\", \"bus\": \"b\", "
		  "\"addresses\": [80], \"lines\": [1]"),
		  "devices[0]: unknown key \"lines\"" },
	};
	size_t i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		expect_error(c[i].dev, c[i].want);
}

/* An address given twice, in one instance or two, on one bus. */
static void
test_claims(void **state)
{
	struct vhostd_cfg *cfg;
	struct dev_claim *cl;
	char *errors = NULL;
	unsigned n;

	expect_error(DEV("a", "\"backend\": \"sim\", \"bus\": \"b\", "
	    "\"addresses\": [80, {\"guest\": 32, \"host\": \"0x50\"}]"),
	    "t.json:1:");
	expect_error(DEV("a", "\"backend\": \"sim\", \"bus\": \"b\", "
	    "\"addresses\": [80, {\"guest\": 32, \"host\": \"0x50\"}]"),
	    "devices[0].addresses[1]: address 0x50 of i2c bus b is given twice");
	expect_error(DEV("vm1", "\"backend\": \"i2cdev\", \"bus\": "
	    "\"/dev/i2c-7\", \"addresses\": [80, 81]") ", "
	    DEV("vm2", "\"backend\": \"i2cdev\", \"bus\": \"/dev/i2c-7\", "
	    "\"addresses\": [82, \"0x51\"]"),
	    "devices[1].addresses[1]: address 0x51 of i2c bus /dev/i2c-7 is "
	    "already given to vm1 (devices[0])");
	expect_error(DEV("vm1", "\"backend\": \"sim\", \"bus\": \"b\", "
	    "\"addresses\": [80]") ", "
	    DEV("vm2", "\"backend\": \"sim\", \"bus\": \"b\", "
	    "\"addresses\": [{\"guest\": 80, \"host\": 80}]"),
	    "devices[1].addresses[0]: address 0x50 of i2c bus b is already "
	    "given to vm1 (devices[0])");

	/* Disjoint addresses of one bus, or one address of two buses. */
	cfg = load(DEV("vm1", "\"backend\": \"i2cdev\", \"bus\": "
	    "\"/dev/i2c-7\", \"addresses\": [80, 81]") ", "
	    DEV("vm2", "\"backend\": \"i2cdev\", \"bus\": \"/dev/i2c-7\", "
	    "\"addresses\": [{\"guest\": 80, \"host\": 82}]") ", "
	    DEV("vm3", "\"backend\": \"i2cdev\", \"bus\": \"/dev/i2c-8\", "
	    "\"addresses\": [80]") ", "
	    DEV("vm4", "\"backend\": \"sim\", \"bus\": \"b\", "
	    "\"addresses\": [80]"), &errors);
	if (cfg == NULL)
		fail_msg("%s", errors);
	assert_non_null(cl = calloc(DEV_MAX_CLAIMS, sizeof(*cl)));
	n = cfg->devs[1].ops->claims(cfg->devs[1].priv, cl);
	assert_int_equal(n, 1);
	assert_string_equal(cl[0].resource, "i2c bus /dev/i2c-7");
	assert_int_equal(cl[0].unit, 0x52);
	assert_string_equal(cl[0].what, "address");
	assert_string_equal(cl[0].path, "addresses[0]");
	n = cfg->devs[0].ops->claims(cfg->devs[0].priv, cl);
	assert_int_equal(n, 2);
	assert_int_equal(cl[1].unit, 0x51);
	assert_string_equal(cl[1].path, "addresses[1]");
	n = cfg->devs[3].ops->claims(cfg->devs[3].priv, cl);
	assert_string_equal(cl[0].resource, "i2c bus b");
	free(cl);
	cfg_free(cfg);
}

/* The i2cdev backend's open hook (main) refuses what is no adapter. */
static void
test_i2cdev_open_errors(void **state)
{
	struct vhostd_cfg *cfg;
	char *errors = NULL, err[256];
	int fds[DEV_MAX_HOST_FDS];
	unsigned nfds = 9;

	cfg = load(DEV("a", "\"backend\": \"i2cdev\", \"bus\": "
	    "\"/dev/null\", \"addresses\": [80]") ", "
	    DEV("b", "\"backend\": \"i2cdev\", \"bus\": "
	    "\"/nonexistent/i2c-9\", \"addresses\": [80]") ", "
	    DEV("c", "\"backend\": \"sim\", \"bus\": \"b\", "
	    "\"addresses\": [80]"), &errors);
	if (cfg == NULL)
		fail_msg("%s", errors);
	assert_int_equal(cfg->devs[0].ops->open(cfg->devs[0].priv, fds,
	    &nfds, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/dev/null: I2C_FUNCS: "));
	assert_int_equal(cfg->devs[1].ops->open(cfg->devs[1].priv, fds,
	    &nfds, err, sizeof(err)), -1);
	assert_string_equal(err, "cannot open i2c adapter /nonexistent/i2c-9: "
	    "No such file or directory");
	/* The sim backend opens nothing. */
	assert_int_equal(cfg->devs[2].ops->open(cfg->devs[2].priv, fds,
	    &nfds, err, sizeof(err)), 0);
	assert_int_equal(nfds, 0);
	cfg_free(cfg);
}

/* ---- SMBus translation for SMBus-only adapters ---- */

#define STUB_FUNCS	(I2C_FUNC_SMBUS_QUICK | I2C_FUNC_SMBUS_BYTE | \
	I2C_FUNC_SMBUS_BYTE_DATA | I2C_FUNC_SMBUS_WORD_DATA | \
	I2C_FUNC_SMBUS_I2C_BLOCK)

static void
msg(struct i2c_msg *m, uint16_t addr, bool rd, uint16_t len, uint8_t *buf)
{
	m->addr = addr;
	m->flags = rd ? I2C_M_RD : 0;
	m->len = len;
	m->buf = buf;
}

static void
test_smbus_plan(void **state)
{
	struct i2c_smbus_ioctl_data op;
	union i2c_smbus_data d;
	struct i2c_msg m[3];
	uint8_t w[40] = { 0x12, 0x34, 0x56, 0x78 }, r[40];
	unsigned i;

	/* Quick write and read. */
	msg(&m[0], 0x50, false, 0, w);
	assert_int_equal(i2c_smbus_plan(m, 1, STUB_FUNCS, &op, &d), 0);
	assert_int_equal(op.size, I2C_SMBUS_QUICK);
	assert_int_equal(op.read_write, I2C_SMBUS_WRITE);
	assert_ptr_equal(op.data, &d);
	msg(&m[0], 0x50, true, 0, r);
	assert_int_equal(i2c_smbus_plan(m, 1, STUB_FUNCS, &op, &d), 0);
	assert_int_equal(op.size, I2C_SMBUS_QUICK);
	assert_int_equal(op.read_write, I2C_SMBUS_READ);
	assert_int_equal(i2c_smbus_plan(m, 1, I2C_FUNC_SMBUS_BYTE, &op, &d),
	    -1);

	/* Receive byte. */
	msg(&m[0], 0x50, true, 1, r);
	assert_int_equal(i2c_smbus_plan(m, 1, STUB_FUNCS, &op, &d), 0);
	assert_int_equal(op.size, I2C_SMBUS_BYTE);
	assert_int_equal(op.read_write, I2C_SMBUS_READ);
	d.byte = 0xab;
	i2c_smbus_result(&op, &d, m, 1);
	assert_int_equal(r[0], 0xab);
	/* Send byte. */
	msg(&m[0], 0x50, false, 1, w);
	assert_int_equal(i2c_smbus_plan(m, 1, STUB_FUNCS, &op, &d), 0);
	assert_int_equal(op.size, I2C_SMBUS_BYTE);
	assert_int_equal(op.read_write, I2C_SMBUS_WRITE);
	assert_int_equal(op.command, 0x12);
	/* Write byte data. */
	msg(&m[0], 0x50, false, 2, w);
	assert_int_equal(i2c_smbus_plan(m, 1, STUB_FUNCS, &op, &d), 0);
	assert_int_equal(op.size, I2C_SMBUS_BYTE_DATA);
	assert_int_equal(op.command, 0x12);
	assert_int_equal(d.byte, 0x34);
	/* Write word data: low byte first on the wire. */
	msg(&m[0], 0x50, false, 3, w);
	assert_int_equal(i2c_smbus_plan(m, 1, STUB_FUNCS, &op, &d), 0);
	assert_int_equal(op.size, I2C_SMBUS_WORD_DATA);
	assert_int_equal(op.command, 0x12);
	assert_int_equal(d.word, 0x5634);
	/* ... or an I2C block write without word data. */
	assert_int_equal(i2c_smbus_plan(m, 1, I2C_FUNC_SMBUS_WRITE_I2C_BLOCK,
	    &op, &d), 0);
	assert_int_equal(op.size, I2C_SMBUS_I2C_BLOCK_DATA);
	assert_int_equal(d.block[0], 2);
	assert_int_equal(d.block[1], 0x34);
	assert_int_equal(d.block[2], 0x56);
	/* I2C block write of 32 data bytes; 33 is too many. */
	for (i = 1; i < sizeof(w); i++)
		w[i] = (uint8_t)i;
	msg(&m[0], 0x50, false, 33, w);
	assert_int_equal(i2c_smbus_plan(m, 1, STUB_FUNCS, &op, &d), 0);
	assert_int_equal(op.size, I2C_SMBUS_I2C_BLOCK_DATA);
	assert_int_equal(op.read_write, I2C_SMBUS_WRITE);
	assert_int_equal(d.block[0], 32);
	assert_memory_equal(&d.block[1], w + 1, 32);
	msg(&m[0], 0x50, false, 34, w);
	assert_int_equal(i2c_smbus_plan(m, 1, STUB_FUNCS, &op, &d), -1);

	/* Read byte data, read word data, read I2C block. */
	msg(&m[0], 0x48, false, 1, w);
	msg(&m[1], 0x48, true, 1, r);
	assert_int_equal(i2c_smbus_plan(m, 2, STUB_FUNCS, &op, &d), 0);
	assert_int_equal(op.size, I2C_SMBUS_BYTE_DATA);
	assert_int_equal(op.read_write, I2C_SMBUS_READ);
	assert_int_equal(op.command, 0x12);
	msg(&m[1], 0x48, true, 2, r);
	assert_int_equal(i2c_smbus_plan(m, 2, STUB_FUNCS, &op, &d), 0);
	assert_int_equal(op.size, I2C_SMBUS_WORD_DATA);
	d.word = 0x8019;
	i2c_smbus_result(&op, &d, m, 2);
	assert_int_equal(r[0], 0x19);
	assert_int_equal(r[1], 0x80);
	assert_int_equal(i2c_smbus_plan(m, 2, I2C_FUNC_SMBUS_READ_I2C_BLOCK,
	    &op, &d), 0);
	assert_int_equal(op.size, I2C_SMBUS_I2C_BLOCK_DATA);
	assert_int_equal(d.block[0], 2);
	msg(&m[1], 0x48, true, 32, r);
	assert_int_equal(i2c_smbus_plan(m, 2, STUB_FUNCS, &op, &d), 0);
	assert_int_equal(op.size, I2C_SMBUS_I2C_BLOCK_DATA);
	assert_int_equal(d.block[0], 32);
	for (i = 0; i < 32; i++)
		d.block[1 + i] = (uint8_t)(0xc0 + i);
	memset(r, 0, sizeof(r));
	i2c_smbus_result(&op, &d, m, 2);
	assert_int_equal(r[0], 0xc0);
	assert_int_equal(r[31], 0xdf);
	assert_int_equal(r[32], 0);

	/* Shapes with no SMBus equivalent. */
	msg(&m[1], 0x48, true, 33, r);
	assert_int_equal(i2c_smbus_plan(m, 2, STUB_FUNCS, &op, &d), -1);
	msg(&m[1], 0x49, true, 1, r);		/* another address */
	assert_int_equal(i2c_smbus_plan(m, 2, STUB_FUNCS, &op, &d), -1);
	msg(&m[0], 0x48, false, 2, w);		/* 2-byte write then read */
	msg(&m[1], 0x48, true, 1, r);
	assert_int_equal(i2c_smbus_plan(m, 2, STUB_FUNCS, &op, &d), -1);
	msg(&m[0], 0x48, true, 1, r);		/* read then read */
	assert_int_equal(i2c_smbus_plan(m, 2, STUB_FUNCS, &op, &d), -1);
	msg(&m[0], 0x48, false, 1, w);		/* three messages */
	msg(&m[1], 0x48, false, 1, w);
	msg(&m[2], 0x48, true, 1, r);
	assert_int_equal(i2c_smbus_plan(m, 3, STUB_FUNCS, &op, &d), -1);
	msg(&m[0], 0x48, true, 4, r);		/* sequential read */
	assert_int_equal(i2c_smbus_plan(m, 1, STUB_FUNCS, &op, &d), -1);
	msg(&m[0], 0x48, false, 0, w);		/* no quick */
	assert_int_equal(i2c_smbus_plan(m, 1, I2C_FUNC_SMBUS_BYTE, &op, &d),
	    -1);
	msg(&m[0], 0x48, false, 2, w);		/* no byte data, no block */
	assert_int_equal(i2c_smbus_plan(m, 1, I2C_FUNC_SMBUS_BYTE, &op, &d),
	    -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ops),
		cmocka_unit_test(test_eeprom_page_write_wraps),
		cmocka_unit_test(test_eeprom_pointer_and_sequential_read),
		cmocka_unit_test(test_lm75),
		cmocka_unit_test(test_quick_probe),
		cmocka_unit_test(test_fail_next_middle_fails),
		cmocka_unit_test(test_group_tail_in_later_kick),
		cmocka_unit_test(test_group_tail_never_comes),
		cmocka_unit_test(test_remap),
		cmocka_unit_test(test_guest_errors),
		cmocka_unit_test(test_feature_not_accepted),
		cmocka_unit_test(test_two_instances),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_claims),
		cmocka_unit_test(test_i2cdev_open_errors),
		cmocka_unit_test(test_smbus_plan),
	};

	log_init(true, LOG_CRIT, "test_i2c");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
