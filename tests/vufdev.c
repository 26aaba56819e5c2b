/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vufdev: the project's vhost-user front-end test program.  It plays the
 * VMM and the guest driver against one device socket of any vhost-user
 * back-end (vhostd's or another implementation's) and runs a short script
 * of device-level commands, printing one line per result:
 *
 *	vufdev SOCKET rng 'read 64'
 *	vufdev SOCKET gpio 'info; dir 0 out; set 0 1; get 0; irq 1 rising 5000'
 *	vufdev SOCKET i2c 'probe; write 0x50 0 1 2; wr 0x50 0 -- 3; read 0x48 2'
 *
 * Commands are separated by ';'.  Output lines (for test scripts):
 *	ngpio N / line I NAME			gpio info
 *	dir I in|out|none			gpio dir (set) and gdir I (get)
 *	value I V				gpio get, set
 *	irq I fired|invalid|timeout		gpio irq LINE TYPE TIMEOUT_MS
 *	found 0xAA				i2c probe (per address present)
 *	data XX XX ...				i2c read, wr; rng read
 *	ok / error ...				writes and failures
 * Any device: 'hold MS' keeps the connection (and so the device state the
 * script set up) for MS milliseconds, for tests that look at the host side
 * while the front-end is still there.
 * Exit status: 0 if every command succeeded, 1 otherwise.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_gpio.h>
#include <linux/virtio_i2c.h>

#include "vufront.h"

#define QSIZE		64
#define TIMEOUT_MS	5000
#define MAXWORDS	300

static struct vuf	*v;
static const char	*devtype;
static unsigned		 ngpio;

/* Submits one chain on queue q and waits for it.  Returns the used length,
 * or -1 (timeout_ms 0: returns -2 if not completed at once). */
static int64_t
roundtrip(unsigned q, const struct vuf_seg *segs, unsigned n, int timeout_ms)
{
	uint32_t head, len;
	int h, r;

	if ((h = vuf_vq_add(v, q, segs, n)) == -1 || vuf_kick(v, q) == -1) {
		printf("error submitting: %s\n", vuf_error(v));
		return -1;
	}
	r = vuf_vq_wait_used(v, q, &head, &len, timeout_ms);
	if (r != 1)
		return r == 0 ? -2 : -1;
	if (head != (uint32_t)h) {
		printf("error: used head %u, expected %d\n", head, h);
		return -1;
	}
	return len;
}

static uint64_t
galloc(uint32_t len)
{
	uint64_t gpa = vuf_alloc(v, 0, len, 8);

	if (gpa == VUF_BAD_GPA) {
		fprintf(stderr, "vufdev: out of guest memory\n");
		exit(1);
	}
	memset(vuf_gpa_to_host(v, gpa, len), 0xee, len);
	return gpa;
}

/* ---- gpio ---- */

static int
gpio_request(uint16_t type, uint16_t line, uint32_t value, uint8_t *status,
    uint8_t *val)
{
	struct virtio_gpio_request *rq;
	struct virtio_gpio_response *rs;
	struct vuf_seg s[2];

	s[0].gpa = galloc(sizeof(*rq));
	s[0].len = sizeof(*rq);
	s[0].writable = false;
	s[1].gpa = galloc(sizeof(*rs));
	s[1].len = sizeof(*rs);
	s[1].writable = true;
	rq = vuf_gpa_to_host(v, s[0].gpa, sizeof(*rq));
	rq->type = type;
	rq->gpio = line;
	rq->value = value;
	if (roundtrip(0, s, 2, TIMEOUT_MS) != (int64_t)sizeof(*rs)) {
		printf("error: gpio request %u line %u: no answer of %zu "
		    "bytes\n", type, line, sizeof(*rs));
		return -1;
	}
	rs = vuf_gpa_to_host(v, s[1].gpa, sizeof(*rs));
	*status = rs->status;
	*val = rs->value;
	if (rs->status != VIRTIO_GPIO_STATUS_OK) {
		printf("error: gpio request %u line %u: status %u\n", type,
		    line, rs->status);
		return -1;
	}
	return 0;
}

static int
gpio_info(void)
{
	struct virtio_gpio_config c;
	struct virtio_gpio_request *rq;
	struct vuf_seg s[2];
	const char *p;
	unsigned i;
	int64_t n;

	if (vuf_get_config(v, 0, sizeof(c), &c) == -1) {
		printf("error: GET_CONFIG: %s\n", vuf_error(v));
		return -1;
	}
	ngpio = c.ngpio;
	printf("ngpio %u\n", c.ngpio);
	if (c.gpio_names_size == 0)
		return 0;
	if (c.gpio_names_size > 65536) {
		printf("error: gpio_names_size %u\n", c.gpio_names_size);
		return -1;
	}
	s[0].gpa = galloc(sizeof(*rq));
	s[0].len = sizeof(*rq);
	s[0].writable = false;
	s[1].gpa = galloc(1 + c.gpio_names_size);
	s[1].len = 1 + c.gpio_names_size;
	s[1].writable = true;
	rq = vuf_gpa_to_host(v, s[0].gpa, sizeof(*rq));
	memset(rq, 0, sizeof(*rq));
	rq->type = VIRTIO_GPIO_MSG_GET_NAMES;
	n = roundtrip(0, s, 2, TIMEOUT_MS);
	p = vuf_gpa_to_host(v, s[1].gpa, s[1].len);
	if (n != (int64_t)s[1].len || p[0] != VIRTIO_GPIO_STATUS_OK) {
		printf("error: GET_NAMES: len %lld\n", (long long)n);
		return -1;
	}
	p++;
	for (i = 0; i < c.ngpio && p < (const char *)vuf_gpa_to_host(v,
	    s[1].gpa, s[1].len) + s[1].len; i++) {
		printf("line %u %s\n", i, *p ? p : "-");
		p += strlen(p) + 1;
	}
	return 0;
}

static int
gpio_irq(uint16_t line, const char *type, int timeout_ms)
{
	static const struct { const char *name; uint32_t v; } types[] = {
		{ "none", VIRTIO_GPIO_IRQ_TYPE_NONE },
		{ "rising", VIRTIO_GPIO_IRQ_TYPE_EDGE_RISING },
		{ "falling", VIRTIO_GPIO_IRQ_TYPE_EDGE_FALLING },
		{ "both", VIRTIO_GPIO_IRQ_TYPE_EDGE_BOTH },
		{ "high", VIRTIO_GPIO_IRQ_TYPE_LEVEL_HIGH },
		{ "low", VIRTIO_GPIO_IRQ_TYPE_LEVEL_LOW },
	};
	struct virtio_gpio_irq_request *rq;
	struct virtio_gpio_irq_response *rs;
	struct vuf_seg s[2];
	uint8_t st, val;
	unsigned i;
	int64_t n;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(types[i].name, type) == 0)
			break;
	if (i == sizeof(types) / sizeof(types[0])) {
		printf("error: irq type %s\n", type);
		return -1;
	}
	if (gpio_request(VIRTIO_GPIO_MSG_IRQ_TYPE, line, types[i].v, &st,
	    &val) == -1)
		return -1;
	s[0].gpa = galloc(sizeof(*rq));
	s[0].len = sizeof(*rq);
	s[0].writable = false;
	s[1].gpa = galloc(sizeof(*rs));
	s[1].len = sizeof(*rs);
	s[1].writable = true;
	rq = vuf_gpa_to_host(v, s[0].gpa, sizeof(*rq));
	rq->gpio = line;
	n = roundtrip(1, s, 2, timeout_ms);
	if (n == -2) {
		printf("irq %u timeout\n", line);
		return 0;
	}
	if (n != (int64_t)sizeof(*rs)) {
		printf("error: irq %u: used length %lld\n", line,
		    (long long)n);
		return -1;
	}
	rs = vuf_gpa_to_host(v, s[1].gpa, sizeof(*rs));
	printf("irq %u %s\n", line, rs->status == VIRTIO_GPIO_IRQ_STATUS_VALID
	    ? "fired" : "invalid");
	return 0;
}

static int
gpio_cmd(char **w, int n)
{
	static const char *const dirs[] = { "none", "out", "in" };
	uint8_t st, val;
	unsigned line, d;

	if (n == 1 && strcmp(w[0], "info") == 0)
		return gpio_info();
	if (n < 2)
		goto usage;
	line = (unsigned)strtoul(w[1], NULL, 0);
	if (n == 3 && strcmp(w[0], "dir") == 0) {
		for (d = 0; d < 3 && strcmp(dirs[d], w[2]) != 0; d++)
			;
		if (d == 3)
			goto usage;
		if (gpio_request(VIRTIO_GPIO_MSG_SET_DIRECTION, (uint16_t)line,
		    d, &st, &val) == -1)
			return -1;
		printf("dir %u %s\n", line, dirs[d]);
		return 0;
	}
	if (n == 2 && strcmp(w[0], "gdir") == 0) {
		if (gpio_request(VIRTIO_GPIO_MSG_GET_DIRECTION, (uint16_t)line,
		    0, &st, &val) == -1)
			return -1;
		printf("dir %u %s\n", line, val < 3 ? dirs[val] : "?");
		return 0;
	}
	if (n == 2 && strcmp(w[0], "get") == 0) {
		if (gpio_request(VIRTIO_GPIO_MSG_GET_VALUE, (uint16_t)line, 0,
		    &st, &val) == -1)
			return -1;
		printf("value %u %u\n", line, val);
		return 0;
	}
	if (n == 3 && strcmp(w[0], "set") == 0) {
		if (gpio_request(VIRTIO_GPIO_MSG_SET_VALUE, (uint16_t)line,
		    (uint32_t)strtoul(w[2], NULL, 0), &st, &val) == -1)
			return -1;
		printf("value %u %lu\n", line, strtoul(w[2], NULL, 0));
		return 0;
	}
	if (n == 4 && strcmp(w[0], "irq") == 0)
		return gpio_irq((uint16_t)line, w[2], atoi(w[3]));
usage:
	printf("error: gpio commands: info, dir L in|out|none, gdir L, get L, "
	    "set L V, irq L none|rising|falling|both|high|low TIMEOUT_MS\n");
	return -1;
}

/* ---- i2c ---- */

/*
 * One virtio-i2c request: address, write bytes or a read of rlen bytes
 * (rd), FAIL_NEXT if more of the group follows.  Returns the status byte
 * or -1.  With nowait the request is only queued (its status is read by
 * i2c_group).
 */
struct i2c_msg_buf {
	uint64_t	hdr, buf, st;
	uint32_t	len;
	bool		rd;
};

static int
i2c_group(uint16_t addr, const uint8_t *wbuf, uint32_t wlen, uint32_t rlen,
    uint8_t *rbuf, int *status)
{
	struct i2c_msg_buf m[2];
	struct virtio_i2c_out_hdr *h;
	struct vuf_seg s[3];
	unsigned nm = 0, i, ns;
	uint32_t head, len;
	int heads[2];

	if (wlen > 0 || rlen == 0) {
		m[nm].len = wlen;
		m[nm].rd = false;
		nm++;
	}
	if (rlen > 0) {
		m[nm].len = rlen;
		m[nm].rd = true;
		nm++;
	}
	for (i = 0; i < nm; i++) {
		m[i].hdr = galloc(sizeof(*h));
		h = vuf_gpa_to_host(v, m[i].hdr, sizeof(*h));
		h->addr = (uint16_t)(addr << 1);
		h->padding = 0;
		h->flags = (i + 1 < nm ? VIRTIO_I2C_FLAGS_FAIL_NEXT : 0) |
		    (m[i].rd ? VIRTIO_I2C_FLAGS_M_RD : 0);
		m[i].buf = m[i].len ? galloc(m[i].len) : 0;
		if (!m[i].rd && m[i].len)
			memcpy(vuf_gpa_to_host(v, m[i].buf, m[i].len), wbuf,
			    m[i].len);
		m[i].st = galloc(1);
		ns = 0;
		s[ns++] = (struct vuf_seg){ m[i].hdr, sizeof(*h), false };
		if (m[i].len)
			s[ns++] = (struct vuf_seg){ m[i].buf, m[i].len,
			    m[i].rd };
		s[ns++] = (struct vuf_seg){ m[i].st, 1, true };
		if ((heads[i] = vuf_vq_add(v, 0, s, ns)) == -1)
			return -1;
	}
	if (vuf_kick(v, 0) == -1)
		return -1;
	*status = VIRTIO_I2C_MSG_OK;
	for (i = 0; i < nm; i++) {
		if (vuf_vq_wait_used(v, 0, &head, &len, TIMEOUT_MS) != 1) {
			printf("error: i2c request not completed\n");
			return -1;
		}
		if (head != (uint32_t)heads[i]) {
			printf("error: i2c requests completed out of order\n");
			return -1;
		}
	}
	for (i = 0; i < nm; i++) {
		uint8_t st = *(uint8_t *)vuf_gpa_to_host(v, m[i].st, 1);

		if (st != VIRTIO_I2C_MSG_OK)
			*status = st;
		if (m[i].rd && st == VIRTIO_I2C_MSG_OK)
			memcpy(rbuf, vuf_gpa_to_host(v, m[i].buf, m[i].len),
			    m[i].len);
	}
	return 0;
}

static void
print_data(const uint8_t *p, uint32_t n)
{
	uint32_t i;

	printf("data");
	for (i = 0; i < n; i++)
		printf(" %02x", p[i]);
	printf("\n");
}

static int
i2c_cmd(char **w, int n)
{
	uint8_t wbuf[MAXWORDS], rbuf[4096];
	uint32_t wlen = 0, rlen = 0;
	uint16_t addr;
	int i, st;

	if (n == 1 && strcmp(w[0], "probe") == 0) {
		for (addr = 0x08; addr < 0x78; addr++) {
			if (i2c_group(addr, NULL, 0, 0, NULL, &st) == -1)
				return -1;
			if (st == VIRTIO_I2C_MSG_OK)
				printf("found 0x%02x\n", addr);
		}
		return 0;
	}
	if (n < 2)
		goto usage;
	addr = (uint16_t)strtoul(w[1], NULL, 0);
	if (strcmp(w[0], "read") == 0 && n == 3)
		rlen = (uint32_t)strtoul(w[2], NULL, 0);
	else if (strcmp(w[0], "write") == 0 || strcmp(w[0], "wr") == 0) {
		for (i = 2; i < n && strcmp(w[i], "--") != 0; i++)
			wbuf[wlen++] = (uint8_t)strtoul(w[i], NULL, 0);
		if (strcmp(w[0], "wr") == 0) {
			if (i + 2 != n)
				goto usage;
			rlen = (uint32_t)strtoul(w[i + 1], NULL, 0);
		}
	} else
		goto usage;
	if (rlen > sizeof(rbuf))
		goto usage;
	if (i2c_group(addr, wbuf, wlen, rlen, rbuf, &st) == -1)
		return -1;
	if (st != VIRTIO_I2C_MSG_OK) {
		printf("error: i2c 0x%02x: status %d\n", addr, st);
		return -1;
	}
	if (rlen)
		print_data(rbuf, rlen);
	else
		printf("ok\n");
	return 0;
usage:
	printf("error: i2c commands: probe, read A N, write A B..., "
	    "wr A B... -- N\n");
	return -1;
}

/* ---- rng ---- */

static int
rng_cmd(char **w, int n)
{
	uint8_t buf[4096];
	uint32_t len;
	ssize_t got;

	if (n != 2 || strcmp(w[0], "read") != 0 ||
	    (len = (uint32_t)strtoul(w[1], NULL, 0)) == 0 || len > sizeof(buf)) {
		printf("error: rng commands: read N (1..4096)\n");
		return -1;
	}
	got = vuf_read_writable(v, 0, len, VUF_ONE, buf, TIMEOUT_MS);
	if (got < 0) {
		printf("error: rng read: %s\n", vuf_error(v));
		return -1;
	}
	print_data(buf, (uint32_t)got);
	return 0;
}

int
main(int argc, char *argv[])
{
	char *script, *cmd, *save = NULL, *w[MAXWORDS], *tok, *save2;
	unsigned nq;
	int n, rc = 0;

	if (argc != 4) {
		fprintf(stderr, "usage: vufdev SOCKET rng|gpio|i2c "
		    "'COMMAND; COMMAND...'\n");
		return 2;
	}
	devtype = argv[2];
	if (strcmp(devtype, "gpio") == 0)
		nq = 2;
	else if (strcmp(devtype, "i2c") == 0 || strcmp(devtype, "rng") == 0)
		nq = 1;
	else {
		fprintf(stderr, "vufdev: unknown device type %s\n", devtype);
		return 2;
	}
	if ((v = vuf_connect(argv[1], TIMEOUT_MS)) == NULL) {
		fprintf(stderr, "vufdev: connect %s: %s\n", argv[1],
		    strerror(errno));
		return 1;
	}
	if (vuf_setup(v, nq, QSIZE) == -1) {
		fprintf(stderr, "vufdev: setup: %s\n", vuf_error(v));
		return 1;
	}
	if ((script = strdup(argv[3])) == NULL)
		return 1;
	for (cmd = strtok_r(script, ";", &save); cmd != NULL;
	    cmd = strtok_r(NULL, ";", &save)) {
		n = 0;
		for (tok = strtok_r(cmd, " \t\n", &save2); tok != NULL &&
		    n < MAXWORDS; tok = strtok_r(NULL, " \t\n", &save2))
			w[n++] = tok;
		if (n == 0)
			continue;
		if (n == 2 && strcmp(w[0], "hold") == 0) {
			poll(NULL, 0, atoi(w[1]));
			continue;
		}
		if ((strcmp(devtype, "gpio") == 0 ? gpio_cmd(w, n) :
		    strcmp(devtype, "i2c") == 0 ? i2c_cmd(w, n) :
		    rng_cmd(w, n)) == -1)
			rc = 1;
		fflush(stdout);
	}
	free(script);
	vuf_close(v);
	return rc;
}
