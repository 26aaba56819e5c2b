/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * virtio-i2c (virtio ID 34, VIRTIO 1.2 section 5.20 "I2C Adapter Device"):
 * one requestq whose requests are the messages of I2C transfers, grouped
 * with VIRTIO_I2C_FLAGS_FAIL_NEXT.  Each instance sees only the client
 * addresses its config grants, optionally under other addresses than the
 * host's (guest address -> host address), so that one host bus can be
 * split between VMs.  There is no config space.
 *
 * Hardware seam: a small table of backend functions that runs a group of
 * messages as one bus transaction.  "i2cdev" drives a host adapter through
 * /dev/i2c-N: I2C_RDWR when the adapter does plain I2C, else the SMBus
 * command a group's shape corresponds to (i2c_smbus_plan).  "sim" is a
 * simulated bus with emulated parts (a 24C02 EEPROM, an LM75 temperature
 * sensor), so the device is tested with no hardware.
 */
#include "config.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/i2c.h>
#include <linux/i2c-dev.h>

#include "cfg.h"
#include "device.h"
#include "log.h"

#define VIRTIO_I2C_F_ZERO_LENGTH_REQUEST	0
#define VIRTIO_I2C_FLAGS_FAIL_NEXT	(1u << 0)
#define VIRTIO_I2C_FLAGS_M_RD		(1u << 1)
#define VIRTIO_I2C_MSG_OK		0
#define VIRTIO_I2C_MSG_ERR		1
#define I2C_OUT_HDR_SIZE		8	/* le16 addr, le16 padding, le32 flags */

/*
 * 7-bit addresses 0x00-0x07 and 0x78-0x7f are reserved by the I2C-bus
 * specification (general call, CBUS, HS-mode master codes, 10-bit
 * addressing, device ID); Linux's i2c_check_7bit_addr_validity_strict()
 * accepts the same 0x08-0x77 as we do.
 */
#define I2C_ADDR_MIN		0x08
#define I2C_ADDR_MAX		0x77
#define I2C_NADDR		(I2C_ADDR_MAX - I2C_ADDR_MIN + 1)
#define I2C_MSG_MAX		4096	/* bytes per message (i2c-dev allows 8192) */
#define I2C_GROUP_MAX		I2C_RDWR_IOCTL_MAX_MSGS	/* 42: one I2C_RDWR */
#define I2C_PARTS_MAX		32
#define I2C_BUS_MAX		120	/* "i2c bus %s" fits dev_claim.resource */
#define I2C_SIM_NAME_MAX	64
#define I2C_REQ_IOV		16	/* segments of one request */
#define I2C_TAIL_WAIT_MS	100	/* how long a group's tail is awaited */
#define LM75_TEMP_MIN_MC	(-55000)
#define LM75_TEMP_MAX_MC	125000

enum i2c_backend { I2C_BE_I2CDEV, I2C_BE_SIM };
enum i2c_part_type { I2C_PART_NONE, I2C_PART_24C02, I2C_PART_LM75 };

struct i2c_part_cfg {
	uint8_t		type;		/* enum i2c_part_type */
	uint8_t		addr;		/* on the (simulated) bus */
	int32_t		temp_mc;	/* lm75 */
};

/* The flat parsed config (no pointers; main hands it to the worker). */
struct i2c_cfg {
	uint32_t	backend;	/* enum i2c_backend */
	char		bus[I2C_BUS_MAX];	/* device path or sim bus name */
	/* Granted addresses in config order (for claims and their paths). */
	uint8_t		guest[I2C_NADDR];
	uint8_t		host[I2C_NADDR];
	unsigned	naddr;
	uint8_t		g2h[128];	/* guest -> host address, 0: none */
	struct i2c_part_cfg parts[I2C_PARTS_MAX];
	unsigned	nparts;
	unsigned long	funcs;		/* i2cdev: I2C_FUNCS, set by the open hook */
};

_Static_assert(sizeof(struct i2c_cfg) <= DEV_CFG_MAX, "i2c cfg too large");

/* One request of the group being gathered. */
struct i2c_slot {
	struct vq_req	req;
	struct iovec	iov[I2C_REQ_IOV];
	bool		valid;		/* may go on the bus */
	bool		has_status;	/* a status byte to write */
	bool		fail_next;
	bool		rd;
	uint8_t		host_addr;
	uint16_t	len;
};

struct i2c_state;

/* The hardware seam. */
struct i2c_backend_ops {
	int		(*init)(struct i2c_state *);
	/*
	 * Runs msgs[0..n) (host addresses, n >= 1) as one bus transaction:
	 * repeated starts between the messages, one stop at the end.
	 * Fills the read buffers.  Returns how many leading messages
	 * completed: n on success, fewer when one failed (a NAK).
	 */
	unsigned	(*xfer)(struct i2c_state *, struct i2c_msg *, unsigned);
};

struct sim_part {
	uint8_t		type;
	uint8_t		ptr;		/* address or pointer register */
	uint8_t		mem[256];	/* 24c02 */
	uint8_t		conf;		/* lm75 registers */
	uint16_t	temp, thyst, tos;
};

struct i2c_state {
	struct dev_ctx		*ctx;
	const struct i2c_cfg	*cfg;
	const struct i2c_backend_ops *be;
	struct log_ratelimit	 rl;
	struct event		*tail_timer;
	bool			 tail_expired;
	bool			 failing;	/* failing the rest of a group */

	struct i2c_slot		 grp[I2C_GROUP_MAX];
	unsigned		 ngrp;
	struct i2c_msg		 msgs[I2C_GROUP_MAX];
	uint8_t			*data;		/* I2C_GROUP_MAX * I2C_MSG_MAX */

	/* i2cdev */
	int			 fd;
	int			 slave;		/* I2C_SLAVE address set, -1 */

	/* sim */
	struct sim_part		 parts[I2C_PARTS_MAX];
	int8_t			 part_at[128];	/* host address -> part, -1 */
};

/* ---- SMBus translation (pure; exported for tests/test_i2c.c) ---- */

int	i2c_smbus_plan(const struct i2c_msg *, unsigned, unsigned long,
	    struct i2c_smbus_ioctl_data *, union i2c_smbus_data *);
void	i2c_smbus_result(const struct i2c_smbus_ioctl_data *,
	    const union i2c_smbus_data *, struct i2c_msg *, unsigned);

static void
smbus_set(struct i2c_smbus_ioctl_data *op, uint8_t rw, uint8_t cmd,
    uint32_t size)
{
	op->read_write = rw;
	op->command = cmd;
	op->size = size;
}

/*
 * Maps a group of messages to the one SMBus command that puts the same
 * bytes on the bus, for adapters without I2C_FUNC_I2C (i2c-stub, many
 * SMBus host controllers), given their I2C_FUNCS bits:
 *
 *	[W0]		quick write		I2C_FUNC_SMBUS_QUICK
 *	[R0]		quick read		I2C_FUNC_SMBUS_QUICK
 *	[R1]		receive byte		I2C_FUNC_SMBUS_READ_BYTE
 *	[W1]		send byte		I2C_FUNC_SMBUS_WRITE_BYTE
 *	[W2]		write byte data		I2C_FUNC_SMBUS_WRITE_BYTE_DATA
 *	[W3]		write word data		I2C_FUNC_SMBUS_WRITE_WORD_DATA
 *	[W2..33]	write I2C block		I2C_FUNC_SMBUS_WRITE_I2C_BLOCK
 *	[W1 R1]		read byte data		I2C_FUNC_SMBUS_READ_BYTE_DATA
 *	[W1 R2]		read word data		I2C_FUNC_SMBUS_READ_WORD_DATA
 *	[W1 R1..32]	read I2C block		I2C_FUNC_SMBUS_READ_I2C_BLOCK
 *
 * The byte and word forms are preferred, the I2C block forms serve the
 * same shapes when the adapter lacks them.  SMBus words are sent low byte
 * first, as the message bytes are.  Every message must have the same
 * address (msgs[0].addr, which the caller sets with I2C_SLAVE).  Fills op
 * (op->data points to data) and returns 0, or -1 if no command fits.
 */
int
i2c_smbus_plan(const struct i2c_msg *m, unsigned n, unsigned long funcs,
    struct i2c_smbus_ioctl_data *op, union i2c_smbus_data *data)
{
	memset(op, 0, sizeof(*op));
	memset(data, 0, sizeof(*data));
	op->data = data;
	if (n == 1 && (m[0].flags & I2C_M_RD) == 0) {
		const uint8_t *b = m[0].buf;

		switch (m[0].len) {
		case 0:
			if (funcs & I2C_FUNC_SMBUS_QUICK) {
				smbus_set(op, I2C_SMBUS_WRITE, 0,
				    I2C_SMBUS_QUICK);
				return 0;
			}
			return -1;
		case 1:
			if (funcs & I2C_FUNC_SMBUS_WRITE_BYTE) {
				smbus_set(op, I2C_SMBUS_WRITE, b[0],
				    I2C_SMBUS_BYTE);
				return 0;
			}
			return -1;
		case 2:
			if (funcs & I2C_FUNC_SMBUS_WRITE_BYTE_DATA) {
				smbus_set(op, I2C_SMBUS_WRITE, b[0],
				    I2C_SMBUS_BYTE_DATA);
				data->byte = b[1];
				return 0;
			}
			break;
		case 3:
			if (funcs & I2C_FUNC_SMBUS_WRITE_WORD_DATA) {
				smbus_set(op, I2C_SMBUS_WRITE, b[0],
				    I2C_SMBUS_WORD_DATA);
				data->word = (uint16_t)(b[1] | b[2] << 8);
				return 0;
			}
			break;
		}
		if (m[0].len >= 2 && m[0].len <= I2C_SMBUS_BLOCK_MAX + 1 &&
		    (funcs & I2C_FUNC_SMBUS_WRITE_I2C_BLOCK)) {
			smbus_set(op, I2C_SMBUS_WRITE, b[0],
			    I2C_SMBUS_I2C_BLOCK_DATA);
			data->block[0] = (uint8_t)(m[0].len - 1);
			memcpy(&data->block[1], b + 1, m[0].len - 1u);
			return 0;
		}
		return -1;
	}
	if (n == 1) {		/* a read */
		if (m[0].len == 0 && (funcs & I2C_FUNC_SMBUS_QUICK)) {
			smbus_set(op, I2C_SMBUS_READ, 0, I2C_SMBUS_QUICK);
			return 0;
		}
		if (m[0].len == 1 && (funcs & I2C_FUNC_SMBUS_READ_BYTE)) {
			smbus_set(op, I2C_SMBUS_READ, 0, I2C_SMBUS_BYTE);
			return 0;
		}
		return -1;
	}
	if (n != 2 || (m[0].flags & I2C_M_RD) || m[0].len != 1 ||
	    (m[1].flags & I2C_M_RD) == 0 || m[1].addr != m[0].addr ||
	    m[1].len == 0)
		return -1;
	if (m[1].len == 1 && (funcs & I2C_FUNC_SMBUS_READ_BYTE_DATA)) {
		smbus_set(op, I2C_SMBUS_READ, m[0].buf[0], I2C_SMBUS_BYTE_DATA);
		return 0;
	}
	if (m[1].len == 2 && (funcs & I2C_FUNC_SMBUS_READ_WORD_DATA)) {
		smbus_set(op, I2C_SMBUS_READ, m[0].buf[0], I2C_SMBUS_WORD_DATA);
		return 0;
	}
	if (m[1].len <= I2C_SMBUS_BLOCK_MAX &&
	    (funcs & I2C_FUNC_SMBUS_READ_I2C_BLOCK)) {
		smbus_set(op, I2C_SMBUS_READ, m[0].buf[0],
		    I2C_SMBUS_I2C_BLOCK_DATA);
		data->block[0] = (uint8_t)m[1].len;	/* bytes wanted */
		return 0;
	}
	return -1;
}

/* After a successful I2C_SMBUS of a plan: the bytes read into the group's
 * read message. */
void
i2c_smbus_result(const struct i2c_smbus_ioctl_data *op,
    const union i2c_smbus_data *data, struct i2c_msg *m, unsigned n)
{
	struct i2c_msg *r = &m[n - 1];

	if (op->read_write != I2C_SMBUS_READ || (r->flags & I2C_M_RD) == 0 ||
	    r->len == 0)
		return;
	switch (op->size) {
	case I2C_SMBUS_BYTE:
	case I2C_SMBUS_BYTE_DATA:
		r->buf[0] = data->byte;
		break;
	case I2C_SMBUS_WORD_DATA:
		r->buf[0] = (uint8_t)(data->word & 0xff);
		if (r->len > 1)
			r->buf[1] = (uint8_t)(data->word >> 8);
		break;
	case I2C_SMBUS_I2C_BLOCK_DATA:
		/* The kernel returns the count in block[0]; trust no more
		 * than was asked for. */
		memcpy(r->buf, &data->block[1], data->block[0] < r->len ?
		    data->block[0] : r->len);
		break;
	}
}

/* ---- the i2cdev backend: a host adapter, /dev/i2c-N ---- */

static int
i2cdev_init(struct i2c_state *s)
{
	if (s->ctx->n_host_fds != 1) {
		log_warnx("%s: no fd for %s", s->ctx->id, s->cfg->bus);
		return -1;
	}
	s->fd = s->ctx->host_fds[0];
	s->slave = -1;
	return 0;
}

/*
 * With I2C_FUNC_I2C the group is one I2C_RDWR: each message carries its
 * own address, and the kernel holds the adapter's bus lock for the whole
 * ioctl, so the transfers of other VMs (other workers on the same
 * adapter) and of host drivers never come between our messages.
 *
 * Without it, the group must be one SMBus command (see i2c_smbus_plan);
 * I2C_SMBUS addresses the device set with I2C_SLAVE on the fd.  That
 * address is state of the open file, which is why the open hook opens
 * the adapter once per instance rather than sharing one fd (a shared one
 * would let another VM's I2C_SLAVE redirect our command).  I2C_SLAVE (not
 * _FORCE) also refuses an address a host driver has bound.
 */
static unsigned
i2cdev_xfer(struct i2c_state *s, struct i2c_msg *msgs, unsigned n)
{
	struct i2c_rdwr_ioctl_data rdwr;
	struct i2c_smbus_ioctl_data op;
	union i2c_smbus_data data;
	unsigned i;
	int r;

	if (s->cfg->funcs & I2C_FUNC_I2C) {
		rdwr.msgs = msgs;
		rdwr.nmsgs = n;
		r = ioctl(s->fd, I2C_RDWR, &rdwr);
		if (r == -1) {
			/* A NAK (ENXIO, EREMOTEIO) is how probing works. */
			log_debug("%s: I2C_RDWR of %u messages to 0x%02x: %s",
			    s->ctx->id, n, msgs[0].addr, strerror(errno));
			return 0;
		}
		return (unsigned)r < n ? (unsigned)r : n;
	}
	for (i = 1; i < n; i++)
		if (msgs[i].addr != msgs[0].addr)
			break;
	if (i < n || i2c_smbus_plan(msgs, n, s->cfg->funcs, &op, &data) ==
	    -1) {
		log_rl(&s->rl, LOG_WARNING, "%s: %s does only SMBus: a "
		    "transfer of %u messages (%s%u bytes%s) to 0x%02x has no "
		    "SMBus equivalent", s->ctx->id, s->cfg->bus, n,
		    msgs[0].flags & I2C_M_RD ? "read " : "write ", msgs[0].len,
		    n > 1 ? ", ..." : "", msgs[0].addr);
		return 0;
	}
	if (s->slave != msgs[0].addr) {
		if (ioctl(s->fd, I2C_SLAVE, (unsigned long)msgs[0].addr) ==
		    -1) {
			log_rl(&s->rl, LOG_WARNING, "%s: I2C_SLAVE 0x%02x on "
			    "%s: %s", s->ctx->id, msgs[0].addr, s->cfg->bus,
			    strerror(errno));
			s->slave = -1;
			return 0;
		}
		s->slave = msgs[0].addr;
	}
	if (ioctl(s->fd, I2C_SMBUS, &op) == -1) {
		log_debug("%s: I2C_SMBUS size %u to 0x%02x: %s", s->ctx->id,
		    op.size, msgs[0].addr, strerror(errno));
		return 0;
	}
	i2c_smbus_result(&op, &data, msgs, n);
	return n;
}

static const struct i2c_backend_ops i2cdev_backend = {
	.init = i2cdev_init,
	.xfer = i2cdev_xfer,
};

/* ---- the sim backend: a simulated bus with emulated parts ---- */

/* LM75 temperature register: 9-bit two's complement in 0.5 degree C
 * steps, left-aligned in 16 bits.  Rounds to the nearest step. */
static uint16_t
lm75_reg(int32_t mc)
{
	int32_t half = mc >= 0 ? (mc + 250) / 500 : -((-mc + 250) / 500);

	return (uint16_t)(((uint32_t)half & 0x1ff) << 7);
}

/*
 * The sim parts outlive a worker restart (a real EEPROM keeps its
 * content): each transfer copies the parts it touched to the device's
 * saved state, and a restarted worker starts from there.
 */
#define I2C_SAVED_MAGIC	0x69326373u	/* "i2cs" */
struct i2c_saved {
	uint32_t	magic;
	uint32_t	nparts;
	struct sim_part	part[I2C_PARTS_MAX];
};
_Static_assert(sizeof(struct i2c_saved) <= DEV_STATE_MAX,
    "i2c sim state fits its area");

static void
sim_save(struct i2c_state *s, unsigned i)
{
	struct i2c_saved *sv = s->ctx->state;

	if (sv == NULL)
		return;
	sv->part[i] = s->parts[i];
	sv->nparts = s->cfg->nparts;
	sv->magic = I2C_SAVED_MAGIC;
}

/* In init of a restarted worker: the parts as the last one left them.
 * Written by a worker of this device, checked all the same. */
static void
sim_restore(struct i2c_state *s)
{
	const struct i2c_saved *sv = s->ctx->state;
	unsigned i;

	if (sv == NULL || !s->ctx->restarted || sv->magic != I2C_SAVED_MAGIC ||
	    sv->nparts != s->cfg->nparts)
		return;
	for (i = 0; i < s->cfg->nparts; i++)
		if (sv->part[i].type == s->parts[i].type)
			s->parts[i] = sv->part[i];
}

static int
sim_init(struct i2c_state *s)
{
	const struct i2c_part_cfg *pc;
	struct sim_part *p;
	unsigned i;

	memset(s->part_at, -1, sizeof(s->part_at));
	for (i = 0; i < s->cfg->nparts; i++) {
		pc = &s->cfg->parts[i];
		p = &s->parts[i];
		memset(p, 0, sizeof(*p));
		p->type = pc->type;
		memset(p->mem, 0xff, sizeof(p->mem));	/* erased */
		p->temp = lm75_reg(pc->temp_mc);
		p->thyst = lm75_reg(75000);		/* power-on values */
		p->tos = lm75_reg(80000);
		s->part_at[pc->addr & 0x7f] = (int8_t)i;
	}
	sim_restore(s);
	return 0;
}

/* 24C02: a 1-byte write sets the address; more written bytes are stored,
 * the address wrapping inside its 8-byte page; reads go on from the
 * address, wrapping at 256. */
static int
sim_24c02(struct sim_part *p, struct i2c_msg *m)
{
	unsigned i;

	if (m->flags & I2C_M_RD) {
		for (i = 0; i < m->len; i++)
			m->buf[i] = p->mem[p->ptr++];
		return 0;
	}
	if (m->len == 0)
		return 0;
	p->ptr = m->buf[0];
	for (i = 1; i < m->len; i++) {
		p->mem[p->ptr] = m->buf[i];
		p->ptr = (uint8_t)((p->ptr & ~7u) | ((p->ptr + 1u) & 7u));
	}
	return 0;
}

/* LM75: pointer register 0 temperature (read-only), 1 config, 2 THYST,
 * 3 TOS; reads repeat the pointed register.  A pointer above 3 is
 * NAKed. */
static int
sim_lm75(struct sim_part *p, struct i2c_msg *m)
{
	uint16_t v;
	unsigned i;

	if (m->flags & I2C_M_RD) {
		if (p->ptr == 1) {
			memset(m->buf, p->conf, m->len);
			return 0;
		}
		v = p->ptr == 0 ? p->temp : p->ptr == 2 ? p->thyst : p->tos;
		for (i = 0; i < m->len; i++)
			m->buf[i] = (uint8_t)(i % 2 == 0 ? v >> 8 : v & 0xff);
		return 0;
	}
	if (m->len == 0)
		return 0;
	if (m->buf[0] > 3)
		return -1;
	p->ptr = m->buf[0];
	if (p->ptr == 1 && m->len >= 2)
		p->conf = m->buf[1];
	else if (p->ptr >= 2 && m->len >= 3) {
		v = (uint16_t)((m->buf[1] << 8 | m->buf[2]) & 0xff80);
		if (p->ptr == 2)
			p->thyst = v;
		else
			p->tos = v;
	}
	return 0;
}

static unsigned
sim_xfer(struct i2c_state *s, struct i2c_msg *msgs, unsigned n)
{
	struct sim_part *p;
	unsigned i;
	int r;

	for (i = 0; i < n; i++) {
		if (msgs[i].addr > 0x7f || s->part_at[msgs[i].addr] < 0)
			return i;		/* nobody answers: NAK */
		p = &s->parts[s->part_at[msgs[i].addr]];
		r = p->type == I2C_PART_24C02 ? sim_24c02(p, &msgs[i]) :
		    sim_lm75(p, &msgs[i]);
		sim_save(s, (unsigned)s->part_at[msgs[i].addr]);
		if (r == -1)
			return i;
	}
	return n;
}

static const struct i2c_backend_ops sim_backend = {
	.init = sim_init,
	.xfer = sim_xfer,
};

/* ---- config (main) ---- */

static const char *const i2c_keys[] = {
	"backend", "bus", "addresses", "parts", NULL
};
static const char *const i2c_map_keys[] = { "guest", "host", NULL };
static const char *const i2c_part_keys[] = {
	"type", "address", "temp_mc", NULL
};

#define ADDR_RANGE_MSG	"must be a 7-bit address from 0x08 to 0x77 (an " \
	"integer, or a string such as \"0x50\")"

/* An address: an integer, or a string in decimal or 0x-hexadecimal. */
static int
i2c_parse_addr(struct cfg_ctx *ctx, json_t *v, const char *path,
    uint8_t *out)
{
	const char *s;
	unsigned long a;
	size_t n;

	if (json_is_integer(v)) {
		if (json_integer_value(v) < I2C_ADDR_MIN ||
		    json_integer_value(v) > I2C_ADDR_MAX)
			goto bad;
		*out = (uint8_t)json_integer_value(v);
		return 0;
	}
	if (!json_is_string(v) || json_string_length(v) !=
	    strlen(s = json_string_value(v)))
		goto bad;
	/* "0x" and 1 or 2 hex digits, or 1 to 3 decimal digits. */
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		n = strspn(s + 2, "0123456789abcdefABCDEF");
		if (n == 0 || n > 2 || s[2 + n] != '\0')
			goto bad;
		a = strtoul(s + 2, NULL, 16);
	} else {
		n = strspn(s, "0123456789");
		if (n == 0 || n > 3 || s[n] != '\0')
			goto bad;
		a = strtoul(s, NULL, 10);
	}
	if (a < I2C_ADDR_MIN || a > I2C_ADDR_MAX)
		goto bad;
	*out = (uint8_t)a;
	return 0;
bad:
	cfg_error(ctx, path, ADDR_RANGE_MSG);
	return -1;
}

/* Required address member `key` of obj. */
static int
i2c_member_addr(struct cfg_ctx *ctx, json_t *obj, const char *path,
    const char *key, uint8_t *out)
{
	char sub[256];
	json_t *v;

	snprintf(sub, sizeof(sub), "%s.%s", path, key);
	if ((v = json_object_get(obj, key)) == NULL) {
		cfg_error(ctx, path, "missing required key \"%s\"", key);
		return -1;
	}
	return i2c_parse_addr(ctx, v, sub, out);
}

static bool
i2c_sim_name_ok(const char *s)
{
	size_t i;

	if (strlen(s) >= I2C_SIM_NAME_MAX)
		return false;
	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		    s[i] == '_' || s[i] == '.'))
			return false;
	return true;
}

static int
i2c_parse_bus(struct cfg_ctx *ctx, json_t *obj, const char *path,
    struct i2c_cfg *c, bool backend_ok)
{
	const char *bus;
	char sub[256], real[PATH_MAX];

	snprintf(sub, sizeof(sub), "%s.bus", path);
	if (cfg_string(ctx, obj, path, "bus", true, NULL, &bus) == -1)
		return -1;
	if (!backend_ok)
		return 0;
	if (c->backend == I2C_BE_SIM) {
		if (!i2c_sim_name_ok(bus)) {
			cfg_error(ctx, sub, "a sim bus name is 1 to %d "
			    "letters, digits, '-', '_' or '.'",
			    I2C_SIM_NAME_MAX - 1);
			return -1;
		}
		strcpy(c->bus, bus);
		return 0;
	}
	if (bus[0] != '/') {
		cfg_error(ctx, sub, "must be an absolute path such as "
		    "/dev/i2c-1");
		return -1;
	}
	/* The claims compare paths: name a host adapter the same way
	 * whatever symbolic link the config uses. */
	if (realpath(bus, real) != NULL)
		bus = real;
	if (strlen(bus) >= sizeof(c->bus)) {
		cfg_error(ctx, sub, "path is too long (at most %d bytes)",
		    I2C_BUS_MAX - 1);
		return -1;
	}
	strcpy(c->bus, bus);
	return 0;
}

static int
i2c_parse_addresses(struct cfg_ctx *ctx, json_t *obj, const char *path,
    struct i2c_cfg *c)
{
	json_t *arr, *v;
	char sub[256];
	size_t i, n;
	uint8_t g, h;
	int rc = 0;

	snprintf(sub, sizeof(sub), "%s.addresses", path);
	if ((arr = json_object_get(obj, "addresses")) == NULL) {
		cfg_error(ctx, path, "missing required key \"addresses\"");
		return -1;
	}
	if (!json_is_array(arr) || (n = json_array_size(arr)) == 0) {
		cfg_error(ctx, sub, "must be a non-empty array of addresses");
		return -1;
	}
	if (n > I2C_NADDR) {
		cfg_error(ctx, sub, "too many addresses (%zu, at most %d)", n,
		    I2C_NADDR);
		return -1;
	}
	json_array_foreach(arr, i, v) {
		snprintf(sub, sizeof(sub), "%s.addresses[%zu]", path, i);
		if (json_is_object(v)) {
			if (cfg_check_keys(ctx, v, sub, i2c_map_keys) == -1) {
				rc = -1;
				continue;
			}
			if (i2c_member_addr(ctx, v, sub, "guest", &g) == -1 ||
			    i2c_member_addr(ctx, v, sub, "host", &h) == -1) {
				rc = -1;
				continue;
			}
		} else if (i2c_parse_addr(ctx, v, sub, &g) == -1) {
			rc = -1;
			continue;
		} else
			h = g;
		if (c->g2h[g] != 0) {
			cfg_error(ctx, sub, "guest address 0x%02x is given "
			    "twice", g);
			rc = -1;
			continue;
		}
		/* A host address given twice is the claims' error. */
		c->g2h[g] = h;
		c->guest[c->naddr] = g;
		c->host[c->naddr] = h;
		c->naddr++;
	}
	return rc;
}

static int
i2c_parse_part(struct cfg_ctx *ctx, json_t *v, const char *sub,
    struct i2c_cfg *c)
{
	struct i2c_part_cfg *p = &c->parts[c->nparts];
	const char *type;
	char sub2[300];
	json_t *t;
	unsigned i;
	int rc = 0;

	if (cfg_check_keys(ctx, v, sub, i2c_part_keys) == -1)
		rc = -1;
	if (!json_is_object(v))
		return -1;
	snprintf(sub2, sizeof(sub2), "%s.type", sub);
	if (cfg_string(ctx, v, sub, "type", true, NULL, &type) == -1)
		rc = -1;
	else if (strcmp(type, "24c02") == 0)
		p->type = I2C_PART_24C02;
	else if (strcmp(type, "lm75") == 0)
		p->type = I2C_PART_LM75;
	else {
		cfg_error(ctx, sub2, "unknown part type (\"24c02\" or "
		    "\"lm75\")");
		rc = -1;
	}
	if (i2c_member_addr(ctx, v, sub, "address", &p->addr) == -1)
		rc = -1;
	else {
		snprintf(sub2, sizeof(sub2), "%s.address", sub);
		for (i = 0; i < c->nparts; i++)
			if (c->parts[i].addr == p->addr)
				break;
		if (i < c->nparts) {
			cfg_error(ctx, sub2, "parts[%u] is already at 0x%02x",
			    i, p->addr);
			rc = -1;
		}
		for (i = 0; i < c->naddr; i++)
			if (c->host[i] == p->addr)
				break;
		if (i == c->naddr && rc == 0) {
			cfg_error(ctx, sub2, "0x%02x is not among the "
			    "addresses (the part would be unreachable)",
			    p->addr);
			rc = -1;
		}
	}
	p->temp_mc = 25000;
	if ((t = json_object_get(v, "temp_mc")) != NULL) {
		snprintf(sub2, sizeof(sub2), "%s.temp_mc", sub);
		if (p->type != I2C_PART_LM75) {
			cfg_error(ctx, sub2, "only an lm75 has a temperature");
			rc = -1;
		} else if (!json_is_integer(t) ||
		    json_integer_value(t) < LM75_TEMP_MIN_MC ||
		    json_integer_value(t) > LM75_TEMP_MAX_MC) {
			cfg_error(ctx, sub2, "must be an integer from %d to %d "
			    "(millidegrees Celsius)", LM75_TEMP_MIN_MC,
			    LM75_TEMP_MAX_MC);
			rc = -1;
		} else
			p->temp_mc = (int32_t)json_integer_value(t);
	}
	if (rc == 0)
		c->nparts++;
	return rc;
}

static int
i2c_parse_parts(struct cfg_ctx *ctx, json_t *obj, const char *path,
    struct i2c_cfg *c)
{
	json_t *arr, *v;
	char sub[256];
	size_t i;
	int rc = 0;

	snprintf(sub, sizeof(sub), "%s.parts", path);
	if ((arr = json_object_get(obj, "parts")) == NULL)
		return 0;
	if (c->backend != I2C_BE_SIM) {
		cfg_error(ctx, sub, "only the sim backend has parts");
		return -1;
	}
	if (!json_is_array(arr)) {
		cfg_error(ctx, sub, "must be an array of parts");
		return -1;
	}
	if (json_array_size(arr) > I2C_PARTS_MAX) {
		cfg_error(ctx, sub, "too many parts (%zu, at most %d)",
		    json_array_size(arr), I2C_PARTS_MAX);
		return -1;
	}
	json_array_foreach(arr, i, v) {
		snprintf(sub, sizeof(sub), "%s.parts[%zu]", path, i);
		if (i2c_parse_part(ctx, v, sub, c) == -1)
			rc = -1;
	}
	return rc;
}

static int
i2c_parse(struct cfg_ctx *ctx, json_t *obj, const char *path, void *out)
{
	struct i2c_cfg *c = out;
	const char *backend;
	char sub[256];
	bool backend_ok = true;
	int rc = 0;

	if (cfg_check_device_keys(ctx, obj, path, i2c_keys) == -1)
		rc = -1;
	snprintf(sub, sizeof(sub), "%s.backend", path);
	if (cfg_string(ctx, obj, path, "backend", true, NULL, &backend) ==
	    -1)
		backend_ok = false;
	else if (strcmp(backend, "i2cdev") == 0)
		c->backend = I2C_BE_I2CDEV;
	else if (strcmp(backend, "sim") == 0)
		c->backend = I2C_BE_SIM;
	else {
		cfg_error(ctx, sub, "unknown backend (\"i2cdev\" or \"sim\")");
		backend_ok = false;
	}
	if (!backend_ok)
		rc = -1;
	if (i2c_parse_bus(ctx, obj, path, c, backend_ok) == -1)
		rc = -1;
	if (i2c_parse_addresses(ctx, obj, path, c) == -1)
		rc = -1;
	if (backend_ok && i2c_parse_parts(ctx, obj, path, c) == -1)
		rc = -1;
	return rc;
}

/* Host address i of the bus, per config entry, so that the core names
 * "addresses[i]" in its error. */
static unsigned
i2c_claims(const void *cfgp, struct dev_claim *out)
{
	const struct i2c_cfg *c = cfgp;
	unsigned i;

	if (c->bus[0] == '\0')
		return 0;
	for (i = 0; i < c->naddr && i < DEV_MAX_CLAIMS; i++) {
		snprintf(out[i].resource, sizeof(out[i].resource),
		    "i2c bus %s", c->bus);
		out[i].unit = c->host[i];
		snprintf(out[i].what, sizeof(out[i].what), "address");
		out[i].hex = true;
		snprintf(out[i].path, sizeof(out[i].path), "addresses[%u]", i);
	}
	return i;
}

/*
 * main, as root: opens the adapter for this instance alone (see
 * i2cdev_xfer for why not dev_host_open), learns its functionality into
 * the cfg, and refuses addresses a host driver has bound: a guest must
 * never talk past a kernel driver to its chip.
 */
static int
i2c_open(void *cfgp, int *fds, unsigned *nfds, char *err, size_t len)
{
	struct i2c_cfg *c = cfgp;
	unsigned long funcs = 0;
	unsigned i;
	int fd;

	*nfds = 0;
	if (c->backend != I2C_BE_I2CDEV)
		return 0;
	fd = open(c->bus, O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (fd == -1) {
		snprintf(err, len, "cannot open i2c adapter %s: %s", c->bus,
		    strerror(errno));
		return -1;
	}
	if (ioctl(fd, I2C_FUNCS, &funcs) == -1) {
		snprintf(err, len, "%s: I2C_FUNCS: %s (not an i2c adapter?)",
		    c->bus, strerror(errno));
		goto fail;
	}
	for (i = 0; i < c->naddr; i++)
		if (ioctl(fd, I2C_SLAVE, (unsigned long)c->host[i]) == -1) {
			snprintf(err, len, "address 0x%02x of %s: %s%s",
			    c->host[i], c->bus, strerror(errno),
			    errno == EBUSY ? " (a host driver has bound it)" :
			    "");
			goto fail;
		}
	if ((funcs & I2C_FUNC_I2C) == 0)
		log_info("%s: SMBus-only adapter (functionality 0x%lx): "
		    "transfers are translated to SMBus commands", c->bus,
		    funcs);
	c->funcs = funcs;
	fds[0] = fd;
	*nfds = 1;
	return 0;
fail:
	close(fd);
	return -1;
}

/* ---- the worker ---- */

static void i2c_tail_cb(evutil_socket_t, short, void *);

static int
i2c_init(struct dev_ctx *ctx)
{
	struct i2c_state *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -1;
	s->ctx = ctx;
	s->cfg = ctx->cfg;
	s->fd = -1;
	s->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT;
	s->be = s->cfg->backend == I2C_BE_SIM ? &sim_backend :
	    &i2cdev_backend;
	if ((s->data = calloc(I2C_GROUP_MAX, I2C_MSG_MAX)) == NULL)
		goto fail;
	if ((s->tail_timer = evtimer_new(ctx->base, i2c_tail_cb, s)) == NULL)
		goto fail;
	if (s->be->init(s) == -1)
		goto fail;
	ctx->priv = s;
	return 0;
fail:
	if (s->tail_timer != NULL)
		event_free(s->tail_timer);
	free(s->data);
	free(s);
	return -1;
}

static void
i2c_fini(struct dev_ctx *ctx)
{
	struct i2c_state *s = ctx->priv;

	if (s == NULL)
		return;
	event_free(s->tail_timer);
	free(s->data);
	free(s);
	ctx->priv = NULL;
}

static void
i2c_reset(struct dev_ctx *ctx)
{
	struct i2c_state *s = ctx->priv;

	/* The ring the held requests came from is gone. */
	evtimer_del(s->tail_timer);
	s->ngrp = 0;
	s->failing = false;
	s->tail_expired = false;
}

static void
i2c_tail_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct i2c_state *s = arg;

	s->tail_expired = true;
	dev_queue_run(s->ctx, 0);
}

/*
 * Checks one request.  Security model: the guest is hostile.  Every byte
 * of the chain is guest memory the guest may change under us, so the
 * header is copied once and only the copy is used; lengths come from the
 * validated chain (vq_pop), never from the guest's header.  The layout is
 * judged by bytes, not by descriptors (VIRTIO 1.2 2.6.4: no framing
 * assumptions): the device-readable bytes are the 8-byte out header and
 * then, for a write, the message; the device-writable bytes are, for a
 * read, the message and then the status byte, the last writable byte.
 * So a read has no readable bytes after the header and a write no
 * writable bytes before the status; a zero-length request (SMBus quick,
 * how i2cdetect probes) has neither.  Anything else (no header, no status
 * byte, reserved flag bits set, a 10-bit address, wrong directions, a
 * read whose buffer is device-readable, more than I2C_MSG_MAX bytes, an
 * address the config does not grant) is not put on the bus, and fails
 * with VIRTIO_I2C_MSG_ERR (or, without a status byte, used length 0),
 * with one rate-limited log line.
 */
static void
i2c_parse_req(struct i2c_state *s, struct i2c_slot *sl)
{
	const struct vq_req *r = &sl->req;
	const char *id = s->ctx->id;
	uint8_t hdr[I2C_OUT_HDR_SIZE];
	uint16_t addr;
	uint32_t flags;
	uint64_t wlen, rlen, len;

	sl->valid = false;
	sl->fail_next = false;
	sl->has_status = r->in_len >= 1;
	if (r->out_len < I2C_OUT_HDR_SIZE) {
		/* Without a header the group cannot be known: it ends. */
		log_rl(&s->rl, LOG_WARNING, "%s: request %u has no header "
		    "(%llu device-readable bytes)", id, r->head,
		    (unsigned long long)r->out_len);
		return;
	}
	vq_iov_from(r->out, r->n_out, 0, hdr, sizeof(hdr));
	addr = (uint16_t)(hdr[0] | hdr[1] << 8);
	flags = (uint32_t)hdr[4] | (uint32_t)hdr[5] << 8 |
	    (uint32_t)hdr[6] << 16 | (uint32_t)hdr[7] << 24;
	sl->fail_next = (flags & VIRTIO_I2C_FLAGS_FAIL_NEXT) != 0;
	sl->rd = (flags & VIRTIO_I2C_FLAGS_M_RD) != 0;
	wlen = r->out_len - I2C_OUT_HDR_SIZE;
	rlen = sl->has_status ? r->in_len - 1 : 0;
	len = sl->rd ? rlen : wlen;
	if (!sl->has_status)
		log_rl(&s->rl, LOG_WARNING, "%s: request %u has no status "
		    "byte", id, r->head);
	else if ((s->ctx->features & (UINT64_C(1) <<
	    VIRTIO_I2C_F_ZERO_LENGTH_REQUEST)) == 0)
		log_rl(&s->rl, LOG_WARNING, "%s: the driver did not accept "
		    "ZERO_LENGTH_REQUEST, which is mandatory: requests fail",
		    id);
	else if (flags & ~(VIRTIO_I2C_FLAGS_FAIL_NEXT |
	    VIRTIO_I2C_FLAGS_M_RD))
		log_rl(&s->rl, LOG_WARNING, "%s: request %u: reserved flag "
		    "bits set (flags 0x%08x)", id, r->head, flags);
	else if (addr & ~0xfeu)
		log_rl(&s->rl, LOG_WARNING, "%s: request %u: address field "
		    "0x%04x is not a 7-bit address (10-bit addresses are not "
		    "supported)", id, r->head, addr);
	else if (sl->rd && wlen > 0)
		log_rl(&s->rl, LOG_WARNING, "%s: request %u: read with %llu "
		    "device-readable bytes (its buffer must be "
		    "device-writable)", id, r->head, (unsigned long long)wlen);
	else if (!sl->rd && rlen > 0)
		log_rl(&s->rl, LOG_WARNING, "%s: request %u: write with %llu "
		    "device-writable bytes before its status (its buffer must "
		    "be device-readable)", id, r->head,
		    (unsigned long long)rlen);
	else if (len > I2C_MSG_MAX)
		log_rl(&s->rl, LOG_WARNING, "%s: request %u: message of %llu "
		    "bytes (at most %d)", id, r->head, (unsigned long long)len,
		    I2C_MSG_MAX);
	else if (s->cfg->g2h[addr >> 1] == 0)
		/* i2cdetect probes every address: informational only. */
		log_rl(&s->rl, LOG_INFO, "%s: address 0x%02x is not granted",
		    id, addr >> 1);
	else {
		sl->valid = true;
		sl->host_addr = s->cfg->g2h[addr >> 1];
		sl->len = (uint16_t)len;
	}
}

/* Returns a request to the driver with its status. */
static void
i2c_complete(struct i2c_state *s, const struct i2c_slot *sl, uint8_t status,
    const uint8_t *data)
{
	struct virtq *vq = s->ctx->vq[0];
	uint32_t used = 0;

	if (status != VIRTIO_I2C_MSG_OK)
		vq_count_error(vq);
	if (sl->has_status) {
		if (status == VIRTIO_I2C_MSG_OK && sl->rd && sl->len > 0) {
			vq_iov_to(sl->req.in, sl->req.n_in, 0, data, sl->len);
			used = sl->len;
		}
		vq_iov_to(sl->req.in, sl->req.n_in, sl->req.in_len - 1, &status,
		    1);
		/* The status byte; data before it only when it was read (as
		 * vhost-device-i2c does; drivers read no length). */
		used++;
	}
	vq_push(vq, sl->req.head, used);
}

/*
 * Runs the gathered group grp[0..ngrp): its leading valid requests as one
 * bus transaction, stopping before the first invalid one.  Per VIRTIO 1.2
 * 5.20.6 the first request that fails gets VIRTIO_I2C_MSG_ERR and so do
 * all the rest of its group, without being attempted (FAIL_NEXT); the
 * ones before it completed and get OK.
 */
static void
i2c_run_group(struct i2c_state *s)
{
	struct i2c_slot *sl;
	unsigned i, k, done;

	for (k = 0; k < s->ngrp && s->grp[k].valid; k++) {
		sl = &s->grp[k];
		s->msgs[k].addr = sl->host_addr;
		s->msgs[k].flags = sl->rd ? I2C_M_RD : 0;
		s->msgs[k].len = sl->len;
		s->msgs[k].buf = s->data + (size_t)k * I2C_MSG_MAX;
		if (!sl->rd && sl->len > 0)
			vq_iov_from(sl->req.out, sl->req.n_out, I2C_OUT_HDR_SIZE,
			    s->msgs[k].buf, sl->len);
	}
	done = k > 0 ? s->be->xfer(s, s->msgs, k) : 0;
	for (i = 0; i < s->ngrp; i++)
		i2c_complete(s, &s->grp[i], i < done ? VIRTIO_I2C_MSG_OK :
		    VIRTIO_I2C_MSG_ERR, s->data + (size_t)i * I2C_MSG_MAX);
	s->ngrp = 0;
	s->tail_expired = false;
	evtimer_del(s->tail_timer);
}

/* Fails every held request without touching the bus. */
static void
i2c_fail_group(struct i2c_state *s)
{
	unsigned i;

	for (i = 0; i < s->ngrp; i++)
		i2c_complete(s, &s->grp[i], VIRTIO_I2C_MSG_ERR, NULL);
	s->ngrp = 0;
	s->tail_expired = false;
	evtimer_del(s->tail_timer);
}

/*
 * True if the driver cannot add the rest of the held group because we
 * hold the whole ring: each request takes at least one descriptor (an
 * indirect one) or, without INDIRECT_DESC, two (header and status).
 * Linux's driver then kicks with the group cut short and waits for what
 * it queued ("we kick the remote here to clear the virtqueue"): QEMU
 * 7.2's vhost-user-i2c has a ring of 4, so a transfer of 5 messages does
 * this.
 */
static bool
i2c_ring_full(const struct i2c_state *s, const struct virtq *vq)
{
	if (vq->indirect)
		return s->ngrp >= vq->num;
	return (uint32_t)vq->num < 2u * s->ngrp + 2u;
}

/*
 * Grouping (VIRTIO 1.2 5.20.6.1): requests are taken in order; a request
 * with FAIL_NEXT set belongs with the next one, and the first without it
 * ends the group, which then runs as one transaction (i2c_run_group).  A
 * group longer than I2C_GROUP_MAX fails whole, and so does the rest of it
 * as it arrives.  When the ring runs dry in the middle of a group, its
 * requests are held and the rest awaited: the driver may still be adding
 * it.  But if we hold the whole ring (i2c_ring_full), or nothing comes
 * within I2C_TAIL_WAIT_MS, the driver has given up on the group: it fails
 * (ERR, nothing on the bus), and what comes next starts a new group.
 */
static enum dev_run
i2c_run(struct dev_ctx *ctx, unsigned qidx)
{
	struct i2c_state *s = ctx->priv;
	struct virtq *vq = ctx->vq[qidx];
	struct i2c_slot *sl;
	struct timeval tv;
	int r;

	for (;;) {
		sl = &s->grp[s->ngrp];
		r = vq_pop(vq, &sl->req, sl->iov, I2C_REQ_IOV);
		if (r != 1)
			break;
		i2c_parse_req(s, sl);
		if (s->failing || sl->req.resubmitted) {
			/* The tail of a group that failed already; or a
			 * request a worker that died had taken: whether it
			 * reached the bus is unknown, and a transfer is not
			 * safe to repeat, so it fails, and so does the rest
			 * of its group. */
			i2c_complete(s, sl, VIRTIO_I2C_MSG_ERR, NULL);
			s->failing = sl->fail_next;
			continue;
		}
		s->ngrp++;
		if (!sl->fail_next)
			i2c_run_group(s);
		else if (s->ngrp == I2C_GROUP_MAX) {
			log_rl(&s->rl, LOG_WARNING, "%s: transfer of more "
			    "than %d messages: failed", ctx->id,
			    I2C_GROUP_MAX);
			i2c_fail_group(s);
			s->failing = true;
		}
	}
	if (r == -1) {
		/* Broken queue: the core resets us; drop what we hold. */
		s->ngrp = 0;
		return DEV_RUN_DRAINED;
	}
	if (s->ngrp == 0)
		return DEV_RUN_DRAINED;
	if (i2c_ring_full(s, vq) || s->tail_expired) {
		log_rl(&s->rl, LOG_WARNING, "%s: transfer left incomplete "
		    "by the driver after %u message%s%s: failed", ctx->id,
		    s->ngrp, s->ngrp == 1 ? "" : "s",
		    s->tail_expired ? "" : " (the ring is full)");
		i2c_fail_group(s);
	} else if (!evtimer_pending(s->tail_timer, NULL)) {
		tv.tv_sec = 0;
		tv.tv_usec = I2C_TAIL_WAIT_MS * 1000;
		evtimer_add(s->tail_timer, &tv);
	}
	return DEV_RUN_DRAINED;
}

const struct dev_ops i2c_ops = {
	.name = "i2c",
	.virtio_id = 34,
	.num_queues = 1,
	.features = UINT64_C(1) << VIRTIO_I2C_F_ZERO_LENGTH_REQUEST,
	/* VIRTIO 1.2, 5.19.3.2: the device MUST reject a driver that does
	 * not accept it. */
	.required_features = UINT64_C(1) << VIRTIO_I2C_F_ZERO_LENGTH_REQUEST,
	.cfg_size = sizeof(struct i2c_cfg),
	.config_space_size = 0,		/* none defined (VIRTIO 1.2 5.20.4) */
	.parse = i2c_parse,
	.claims = i2c_claims,
	.open = i2c_open,
	.init = i2c_init,
	.run = i2c_run,
	.reset = i2c_reset,
	.fini = i2c_fini,
};
