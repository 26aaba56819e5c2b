/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * virtio-gpio (virtio ID 41, VIRTIO 1.2 section 5.18): a set of GPIO lines
 * a guest drives and senses through the requestq, with interrupts on the
 * eventq (VIRTIO_GPIO_F_IRQ).  One instance serves some lines of one host
 * chip, renumbered 0..n-1 for its guest, so that a chip can be split
 * between VMs (the claims keep the line sets disjoint).
 *
 * Hardware seam: struct gpio_backend.  "gpiod" drives a real chip through
 * libgpiod v2 (main reads the chip's line count and names; the worker
 * requests the lines before its lockdown and afterwards only issues the
 * line request's SET_CONFIG/GET_VALUES/SET_VALUES ioctls and reads its edge
 * events).  "sim" is a chip kept in a small file that programs outside
 * vhostd drive with plain writes, shared by every instance that names it;
 * its workers map it.  main watches every sim chip file with one inotify
 * instance (one watch per distinct file, set in main_start) and, when one
 * is written, tells the ready worker of each instance on that chip with a
 * device message (GPIO_DEV_SIM_CHANGED), upon which the worker compares its
 * inputs with the levels it saw last.  Workers hold no inotify instance,
 * so the kernel's limit on those per user (fs.inotify.max_user_instances,
 * 128 by default) does not bound how many sim devices may be connected.
 * The worker answers each such message (GPIO_DEV_SIM_SEEN), and main sends
 * the next only then: writes in between are folded into one, as inotify
 * folds them, and a fast writer cannot fill a worker's channel.
 * Interrupt semantics (edge latching, masking by eventq buffers, level
 * re-firing) live above the seam and are the same for both.
 */
#include "config.h"

#include <ctype.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gpiod.h>

#include "cfg.h"
#include "device.h"
#include "log.h"

#define GPIO_MAX_LINES		64	/* per instance; also GPIO_V2_LINES_MAX */
#define GPIO_NAME_MAX		32	/* bytes of a line name, with its NUL */
#define GPIO_PATH_MAX		108	/* bytes of "chip", with its NUL */
#define GPIO_SIM_MAX		1024	/* lines of a sim chip */
#define GPIO_OFFSET_MAX		65535	/* host line offsets of a gpiod chip */
#define GPIO_DEBOUNCE_MAX	1000000	/* microseconds */
#define GPIO_IOV_MAX		16
#define GPIO_NAMES_MAX		(GPIO_MAX_LINES * GPIO_NAME_MAX)
#define GPIO_EVENTS		16	/* edge events read at once */
#define GPIO_SIM_RETRY_MS	10	/* a SEEN main could not take: again */

/* Device messages (struct dev_msg, no data) between main and the worker of
 * a sim device. */
#define GPIO_DEV_SIM_CHANGED	1	/* main -> worker: the chip file was
					   written (or the worker is new):
					   compare the inputs */
#define GPIO_DEV_SIM_SEEN	2	/* worker -> main: compared; the next
					   CHANGED may come */

#define VIRTIO_GPIO_F_IRQ	0

#define GPIO_MSG_GET_NAMES	1
#define GPIO_MSG_GET_DIRECTION	2
#define GPIO_MSG_SET_DIRECTION	3
#define GPIO_MSG_GET_VALUE	4
#define GPIO_MSG_SET_VALUE	5
#define GPIO_MSG_SET_IRQ_TYPE	6

#define GPIO_STATUS_OK		0
#define GPIO_STATUS_ERR		1

#define GPIO_DIR_NONE		0
#define GPIO_DIR_OUT		1
#define GPIO_DIR_IN		2

#define GPIO_IRQ_NONE		0
#define GPIO_IRQ_EDGE_RISING	1
#define GPIO_IRQ_EDGE_FALLING	2
#define GPIO_IRQ_EDGE_BOTH	3
#define GPIO_IRQ_LEVEL_HIGH	4
#define GPIO_IRQ_LEVEL_LOW	8

#define GPIO_IRQ_STATUS_INVALID	0
#define GPIO_IRQ_STATUS_VALID	1

#define GPIO_REQ_SIZE		8	/* le16 type, le16 gpio, le32 value */
#define GPIO_RESP_SIZE		2	/* u8 status, u8 value */
#define GPIO_IRQ_REQ_SIZE	2	/* le16 gpio */
#define GPIO_IRQ_RESP_SIZE	1	/* u8 status */

enum gpio_backend_id {
	GPIO_BACKEND_GPIOD = 1,
	GPIO_BACKEND_SIM,
};

enum gpio_bias {
	GPIO_BIAS_AS_IS = 0,
	GPIO_BIAS_DISABLED,
	GPIO_BIAS_PULL_UP,
	GPIO_BIAS_PULL_DOWN,
};

enum gpio_drive {
	GPIO_DRIVE_PUSH_PULL = 0,
	GPIO_DRIVE_OPEN_DRAIN,
	GPIO_DRIVE_OPEN_SOURCE,
};

/* "line_options" of one host line (gpiod only). */
struct gpio_line_opt {
	uint32_t	offset;		/* host offset */
	uint32_t	debounce_us;
	uint8_t		bias;		/* enum gpio_bias */
	uint8_t		drive;		/* enum gpio_drive */
	bool		active_low;
};

/* The parsed config: flat, no pointers (it is copied to the worker). */
struct gpio_cfg {
	uint32_t		backend;	/* enum gpio_backend_id */
	bool			valid;		/* parse found no error */
	bool			all_lines;	/* "lines" absent */
	char			chip[GPIO_PATH_MAX];
	uint32_t		ngpio;		/* sim: lines of the chip */
	uint32_t		nlines;		/* lines of this instance */
	uint32_t		lines[GPIO_MAX_LINES];	/* guest i -> host */
	bool			names_given;
	uint32_t		nnames;		/* names given */
	char			names[GPIO_MAX_LINES][GPIO_NAME_MAX];
	uint32_t		names_size;	/* 0: no line has a name */
	uint32_t		nopts;
	struct gpio_line_opt	opts[GPIO_MAX_LINES];
};

/* One guest line, in the worker. */
struct gpio_line {
	uint8_t		 dir;		/* GPIO_DIR_* */
	uint8_t		 value;		/* output value, kept while input */
	uint8_t		 irq_type;	/* GPIO_IRQ_* */
	uint8_t		 level;		/* sim: input level last seen */
	bool		 latched;	/* an edge waits for an eventq buffer */
	bool		 held;		/* an eventq buffer is held: unmasked */
	uint16_t	 head;		/* of the held buffer */
	uint8_t		*status;	/* its status byte, in guest memory */
};

struct gpio_state;

/*
 * The hardware seam.  open runs in main (as root); preopen (optional) in
 * the worker before its lockdown; the others in the locked-down worker.
 * apply makes the hardware follow line i's dir/value/irq_type (value_only:
 * only its output value changed); get reads a line's level; wake
 * (optional) handles the fd init left in s->ev_fd having become readable
 * and reports edges with gpio_irq_edge().  The sim backend has no fd: its
 * wake-ups come from main (gpio_worker_msg).
 */
struct gpio_backend {
	const char	*id;		/* "backend" */
	int	(*open)(struct gpio_cfg *, int *, unsigned *, char *, size_t);
	int	(*preopen)(struct gpio_state *, struct dev_ctx *);
	int	(*init)(struct gpio_state *);
	void	(*fini)(struct gpio_state *);
	int	(*apply)(struct gpio_state *, unsigned, bool);
	int	(*get)(struct gpio_state *, unsigned, int *);
	void	(*wake)(struct gpio_state *);
};

struct gpio_state {
	struct dev_ctx			*ctx;
	const struct gpio_cfg		*cfg;
	const struct gpio_backend	*be;
	struct gpio_line		 line[GPIO_MAX_LINES];
	struct event			*ev;		/* backend fd readable */
	int				 ev_fd;
	bool				 evq_pushed;	/* eventq needs a flush */
	struct log_ratelimit		 rl;
	struct iovec			 iov[GPIO_IOV_MAX];
	uint8_t				 names[GPIO_NAMES_MAX];
	uint8_t				 resp[1 + GPIO_NAMES_MAX];

	/* sim */
	uint8_t				*map;
	size_t				 map_len;
	struct event			*seen_retry;	/* SEEN to send again */

	/* gpiod */
	struct gpiod_line_request	*req;
	struct gpiod_edge_event_buffer	*evbuf;
};

static const struct gpio_backend gpio_sim_backend;
static const struct gpio_backend gpio_gpiod_backend;

static const char *const gpio_keys[] = {
	"backend", "chip", "ngpio", "lines", "names", "line_options", NULL
};

static const char *const gpio_opt_keys[] = {
	"line", "bias", "drive", "active_low", "debounce_us", NULL
};

static const struct gpio_backend *
gpio_backend_of(const struct gpio_cfg *c)
{
	return c->backend == GPIO_BACKEND_SIM ? &gpio_sim_backend :
	    &gpio_gpiod_backend;
}

/* ---- config (main) ---- */

/* An absolute path without empty, "." or ".." components, so that one
 * chip has one spelling in claims. */
static bool
gpio_plain_path(const char *p)
{
	const char *c = p;

	if (p[0] != '/' || p[1] == '\0')
		return false;
	while (*c == '/') {
		const char *e = strchr(c + 1, '/');
		size_t n = e != NULL ? (size_t)(e - c - 1) : strlen(c + 1);

		if (n == 0 || (n == 1 && c[1] == '.') ||
		    (n == 2 && c[1] == '.' && c[2] == '.'))
			return false;
		if (e == NULL)
			break;
		c = e;
	}
	return true;
}

/* A line name: printable 7-bit ASCII (the spec's encoding), may be empty. */
static int
gpio_check_name(struct cfg_ctx *ctx, const char *sub, json_t *v, char *out)
{
	const char *s;
	size_t i, n;

	if (!json_is_string(v)) {
		cfg_error(ctx, sub, "must be a string");
		return -1;
	}
	s = json_string_value(v);
	n = json_string_length(v);
	if (n >= GPIO_NAME_MAX) {
		cfg_error(ctx, sub, "is too long (%zu bytes, at most %d)", n,
		    GPIO_NAME_MAX - 1);
		return -1;
	}
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e) {
			cfg_error(ctx, sub, "must be printable ASCII");
			return -1;
		}
	memcpy(out, s, n + 1);
	return 0;
}

/* The names block's size: every name and its NUL, or 0 if none has a
 * name (then GET_NAMES is not offered). */
static void
gpio_names_size(struct gpio_cfg *c)
{
	uint32_t i, size = 0;
	bool any = false;

	for (i = 0; i < c->nlines; i++) {
		size += (uint32_t)strlen(c->names[i]) + 1;
		if (c->names[i][0] != '\0')
			any = true;
	}
	c->names_size = any ? size : 0;
}

static int
gpio_parse_lines(struct cfg_ctx *ctx, json_t *obj, const char *path,
    struct gpio_cfg *c)
{
	json_t *arr = json_object_get(obj, "lines"), *v;
	uint64_t max = c->backend == GPIO_BACKEND_SIM ? c->ngpio - 1 :
	    GPIO_OFFSET_MAX;
	char sub[256];
	size_t i, j, n;
	int rc = 0;

	snprintf(sub, sizeof(sub), "%s.lines", path);
	if (arr == NULL) {
		c->all_lines = true;
		if (c->backend != GPIO_BACKEND_SIM)
			return 0;	/* the chip's lines, learnt at open */
		if (c->ngpio > GPIO_MAX_LINES) {
			snprintf(sub, sizeof(sub), "%s.ngpio", path);
			cfg_error(ctx, sub, "a device serves at most %d lines: "
			    "give those of this chip's %u in \"lines\"",
			    GPIO_MAX_LINES, c->ngpio);
			return -1;
		}
		c->nlines = c->ngpio;
		for (i = 0; i < c->nlines; i++)
			c->lines[i] = (uint32_t)i;
		return 0;
	}
	if (!json_is_array(arr) || (n = json_array_size(arr)) == 0 ||
	    n > GPIO_MAX_LINES) {
		cfg_error(ctx, sub, "must be an array of 1 to %d line numbers",
		    GPIO_MAX_LINES);
		return -1;
	}
	for (i = 0; i < n; i++) {
		json_int_t x;

		v = json_array_get(arr, i);
		snprintf(sub, sizeof(sub), "%s.lines[%zu]", path, i);
		if (!json_is_integer(v) || (x = json_integer_value(v)) < 0 ||
		    (uint64_t)x > max) {
			if (c->backend == GPIO_BACKEND_SIM)
				cfg_error(ctx, sub, "must be a line of the sim "
				    "chip, from 0 to %" PRIu64, max);
			else
				cfg_error(ctx, sub, "must be a line offset "
				    "from 0 to %" PRIu64, max);
			rc = -1;
			continue;
		}
		c->lines[c->nlines] = (uint32_t)x;
		for (j = 0; j < c->nlines; j++)
			if (c->lines[j] == (uint32_t)x)
				break;
		if (j < c->nlines) {
			cfg_error(ctx, sub, "line %u is given twice (also "
			    "lines[%zu])", (unsigned)x, j);
			rc = -1;
			continue;
		}
		c->nlines++;
	}
	if (rc == 0 && c->nlines != n)
		rc = -1;
	return rc;
}

static int
gpio_parse_names(struct cfg_ctx *ctx, json_t *obj, const char *path,
    struct gpio_cfg *c, bool lines_ok)
{
	json_t *arr = json_object_get(obj, "names");
	char sub[256];
	size_t i, j, n;
	int rc = 0;

	if (arr == NULL)
		return 0;
	snprintf(sub, sizeof(sub), "%s.names", path);
	if (!json_is_array(arr) || (n = json_array_size(arr)) > GPIO_MAX_LINES) {
		cfg_error(ctx, sub, "must be an array of at most %d strings",
		    GPIO_MAX_LINES);
		return -1;
	}
	if (lines_ok && !c->all_lines && n != c->nlines) {
		cfg_error(ctx, sub, "gives %zu names for %u lines", n,
		    c->nlines);
		rc = -1;
	} else if (lines_ok && c->all_lines &&
	    c->backend == GPIO_BACKEND_SIM && n != c->ngpio) {
		cfg_error(ctx, sub, "gives %zu names for %u lines", n,
		    c->ngpio);
		rc = -1;
	}
	c->names_given = true;
	for (i = 0; i < n; i++) {
		snprintf(sub, sizeof(sub), "%s.names[%zu]", path, i);
		if (gpio_check_name(ctx, sub, json_array_get(arr, i),
		    c->names[i]) == -1) {
			rc = -1;
			continue;
		}
		if (c->names[i][0] == '\0')
			continue;
		for (j = 0; j < i; j++)
			if (strcmp(c->names[j], c->names[i]) == 0)
				break;
		if (j < i) {
			cfg_error(ctx, sub, "name \"%s\" is given twice (also "
			    "names[%zu]); names must be unique", c->names[i],
			    j);
			rc = -1;
		}
	}
	c->nnames = (uint32_t)n;	/* checked at open for a whole chip */
	return rc;
}

static int
gpio_parse_enum(struct cfg_ctx *ctx, json_t *o_obj, const char *path,
    const char *key, const char *const names[], uint8_t *out)
{
	const char *s;
	char sub[256], known[128];
	size_t i, o = 0;

	if (cfg_string(ctx, o_obj, path, key, false, NULL, &s) == -1)
		return -1;
	if (s == NULL)
		return 0;
	for (i = 0; names[i] != NULL; i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (uint8_t)i;
			return 0;
		}
		o += (size_t)snprintf(known + o, sizeof(known) - o, "%s\"%s\"",
		    i == 0 ? "" : names[i + 1] == NULL ? " or " : ", ",
		    names[i]);
		if (o >= sizeof(known))
			o = sizeof(known) - 1;
	}
	snprintf(sub, sizeof(sub), "%s.%s", path, key);
	cfg_error(ctx, sub, "must be %s", known);
	return -1;
}

static int
gpio_parse_opts(struct cfg_ctx *ctx, json_t *obj, const char *path,
    struct gpio_cfg *c, bool lines_ok)
{
	static const char *const bias[] = {
		"as-is", "disabled", "pull-up", "pull-down", NULL
	};
	static const char *const drive[] = {
		"push-pull", "open-drain", "open-source", NULL
	};
	json_t *arr = json_object_get(obj, "line_options"), *o;
	char sub[256];
	size_t i, j, n;
	uint64_t v;
	bool b;
	int rc = 0;

	if (arr == NULL)
		return 0;
	snprintf(sub, sizeof(sub), "%s.line_options", path);
	if (c->backend != GPIO_BACKEND_GPIOD) {
		cfg_error(ctx, sub, "is only for the gpiod backend");
		return -1;
	}
	if (!json_is_array(arr) || (n = json_array_size(arr)) >
	    GPIO_MAX_LINES) {
		cfg_error(ctx, sub, "must be an array of at most %d objects",
		    GPIO_MAX_LINES);
		return -1;
	}
	for (i = 0; i < n; i++) {
		struct gpio_line_opt *op = &c->opts[c->nopts];
		int orc = 0;

		o = json_array_get(arr, i);
		snprintf(sub, sizeof(sub), "%s.line_options[%zu]", path, i);
		if (!json_is_object(o)) {
			cfg_error(ctx, sub, "must be an object");
			rc = -1;
			continue;
		}
		memset(op, 0, sizeof(*op));
		if (cfg_check_keys(ctx, o, sub, gpio_opt_keys) == -1)
			orc = -1;
		if (cfg_uint(ctx, o, sub, "line", true, 0, 0, GPIO_OFFSET_MAX,
		    &v) == -1)
			orc = -1;
		else {
			char lsub[280];

			op->offset = (uint32_t)v;
			snprintf(lsub, sizeof(lsub), "%s.line", sub);
			for (j = 0; j < c->nopts; j++)
				if (c->opts[j].offset == op->offset)
					break;
			if (j < c->nopts) {
				cfg_error(ctx, lsub, "line %u has options "
				    "already", op->offset);
				orc = -1;
			} else if (lines_ok && !c->all_lines) {
				for (j = 0; j < c->nlines; j++)
					if (c->lines[j] == op->offset)
						break;
				if (j == c->nlines) {
					cfg_error(ctx, lsub, "line %u is not "
					    "one of \"lines\"", op->offset);
					orc = -1;
				}
			}
		}
		if (gpio_parse_enum(ctx, o, sub, "bias", bias, &op->bias) == -1)
			orc = -1;
		if (gpio_parse_enum(ctx, o, sub, "drive", drive,
		    &op->drive) == -1)
			orc = -1;
		if (cfg_bool(ctx, o, sub, "active_low", false, &b) == -1)
			orc = -1;
		else
			op->active_low = b;
		if (cfg_uint(ctx, o, sub, "debounce_us", false, 0, 0,
		    GPIO_DEBOUNCE_MAX, &v) == -1)
			orc = -1;
		else
			op->debounce_us = (uint32_t)v;
		if (orc == 0)
			c->nopts++;
		else
			rc = -1;
	}
	return rc;
}

/*
 * Security model: the config is operator input, possibly wrong in any
 * way; every value is checked for type and range before it is stored in
 * the flat struct the worker receives.
 */
static int
gpio_parse(struct cfg_ctx *ctx, json_t *obj, const char *path, void *out)
{
	struct gpio_cfg *c = out;
	const char *s;
	char sub[256];
	uint64_t v;
	bool lines_ok = false;
	int rc = 0;

	if (cfg_check_device_keys(ctx, obj, path, gpio_keys) == -1)
		rc = -1;
	snprintf(sub, sizeof(sub), "%s.backend", path);
	if (cfg_string(ctx, obj, path, "backend", false, "gpiod", &s) == -1)
		return -1;
	if (strcmp(s, "gpiod") == 0)
		c->backend = GPIO_BACKEND_GPIOD;
	else if (strcmp(s, "sim") == 0)
		c->backend = GPIO_BACKEND_SIM;
	else {
		char q[40];
		size_t i;

		/* Echoed, but only as printable ASCII. */
		for (i = 0; s[i] != '\0' && i < sizeof(q) - 1; i++)
			q[i] = (unsigned char)s[i] >= 0x20 &&
			    (unsigned char)s[i] <= 0x7e ? s[i] : '?';
		q[i] = '\0';
		cfg_error(ctx, sub, "unknown backend \"%s\" (known: gpiod, "
		    "sim)", q);
		return -1;
	}

	snprintf(sub, sizeof(sub), "%s.chip", path);
	if (cfg_string(ctx, obj, path, "chip", true, NULL, &s) == -1)
		rc = -1;
	else if (!gpio_plain_path(s)) {
		cfg_error(ctx, sub, "must be an absolute path without empty, "
		    "\".\" or \"..\" components");
		rc = -1;
	} else if (strlen(s) >= sizeof(c->chip)) {
		cfg_error(ctx, sub, "is too long (at most %zu bytes)",
		    sizeof(c->chip) - 1);
		rc = -1;
	} else
		strcpy(c->chip, s);

	snprintf(sub, sizeof(sub), "%s.ngpio", path);
	if (c->backend == GPIO_BACKEND_SIM) {
		if (cfg_uint(ctx, obj, path, "ngpio", true, 0, 1, GPIO_SIM_MAX,
		    &v) == -1)
			rc = -1;
		else {
			c->ngpio = (uint32_t)v;
			lines_ok = gpio_parse_lines(ctx, obj, path, c) == 0;
		}
	} else {
		if (json_object_get(obj, "ngpio") != NULL) {
			cfg_error(ctx, sub, "is only for the sim backend (a "
			    "gpiod chip says how many lines it has)");
			rc = -1;
		}
		lines_ok = gpio_parse_lines(ctx, obj, path, c) == 0;
	}
	if (!lines_ok)
		rc = -1;
	if (gpio_parse_names(ctx, obj, path, c, lines_ok) == -1)
		rc = -1;
	if (gpio_parse_opts(ctx, obj, path, c, lines_ok) == -1)
		rc = -1;
	if (rc == 0) {
		if (!c->all_lines || c->backend == GPIO_BACKEND_SIM)
			gpio_names_size(c);
		else
			c->names_size = 0;	/* set by open */
		c->valid = true;
	}
	return rc;
}

static unsigned
gpio_claims(const void *cfgp, struct dev_claim *out)
{
	const struct gpio_cfg *c = cfgp;
	const char *kind = c->backend == GPIO_BACKEND_SIM ? "gpio sim chip" :
	    "gpio chip";
	unsigned i, n;

	if (!c->valid)
		return 0;
	/* A gpiod device without "lines" takes the whole chip: it claims
	 * every line a device may have. */
	n = c->all_lines && c->backend == GPIO_BACKEND_GPIOD ?
	    GPIO_MAX_LINES : c->nlines;
	for (i = 0; i < n; i++) {
		memset(&out[i], 0, sizeof(out[i]));
		snprintf(out[i].resource, sizeof(out[i].resource), "%s %s",
		    kind, c->chip);
		out[i].unit = c->all_lines ? i : c->lines[i];
		snprintf(out[i].what, sizeof(out[i].what), "line");
		if (c->all_lines)
			snprintf(out[i].path, sizeof(out[i].path), "chip");
		else
			snprintf(out[i].path, sizeof(out[i].path),
			    "lines[%u]", i);
	}
	return n;
}

/* The config space (VIRTIO 1.2 5.18.4): le16 ngpio, u8 padding[2],
 * le32 gpio_names_size. */
static void
gpio_config_space(const void *cfgp, uint8_t *buf)
{
	const struct gpio_cfg *c = cfgp;
	uint16_t n = htole16((uint16_t)c->nlines);
	uint32_t size = htole32(c->names_size);

	memset(buf, 0, 8);
	memcpy(buf, &n, sizeof(n));
	memcpy(buf + 4, &size, sizeof(size));
}

static int
gpio_open(void *cfgp, int *fds, unsigned *nfds, char *err, size_t errlen)
{
	struct gpio_cfg *c = cfgp;

	*nfds = 0;
	return gpio_backend_of(c)->open(c, fds, nfds, err, errlen);
}

/* ---- the sim backend ---- */

/*
 * The state file of a sim chip of N lines, 2N + 2 bytes:
 *	[0, N)		input levels, '0' or '1', written by outside programs
 *			(any byte but '1' reads as low)
 *	N		'\n'
 *	[N+1, 2N+1)	what the guests made of each line, written by the
 *			workers: '-' unused or direction none, 'i' input,
 *			'0'/'1' output driving that value
 *	2N+1		'\n'
 */
static size_t
gpio_sim_size(uint32_t ngpio)
{
	return 2 * (size_t)ngpio + 2;
}

/* The error of a sim chip file that a device set up after lockdown (a
 * reload, vhostctl add) may not create or fill itself. */
static void
sim_not_made(const struct gpio_cfg *c, size_t size, const char *what,
    char *err, size_t errlen)
{
	snprintf(err, errlen, "sim chip %s %s: a sim device set up after "
	    "vhostd started (reload, vhostctl add) needs its chip file made "
	    "first, %zu bytes (vhostd.json(5), The sim backend)", c->chip,
	    what, size);
}

static int
gpio_sim_open(struct gpio_cfg *c, int *fds, unsigned *nfds, char *err,
    size_t errlen)
{
	size_t size = gpio_sim_size(c->ngpio), i;
	bool locked = dev_host_locked();
	struct stat st;
	char *buf = NULL, dash = '-';
	int fd = -1;

	/* At start: created if missing (dev_host_open takes no mode).  A
	 * device set up later, by main locked down, may not create or
	 * write a file: the chip must be there, with its state. */
	if (!locked && (fd = open(c->chip, O_RDWR | O_CREAT | O_NOFOLLOW |
	    O_CLOEXEC | O_NOCTTY, 0644)) == -1)
		goto fail_errno;
	if (fd != -1)
		close(fd);
	/* Opened once and shared by every instance naming this chip. */
	if ((fd = dev_host_open(c->chip, O_RDWR | O_NOFOLLOW | O_NOCTTY)) ==
	    -1) {
		if (locked && errno == ENOENT) {
			sim_not_made(c, size, "does not exist", err, errlen);
			goto fail;
		}
		goto fail_errno;
	}
	if (fstat(fd, &st) == -1)
		goto fail_errno;
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "sim chip %s is not a regular file",
		    c->chip);
		goto fail;
	}
	if (st.st_size == 0 && locked) {
		sim_not_made(c, size, "is empty", err, errlen);
		goto fail;
	} else if (st.st_size == 0) {
		if ((buf = malloc(size)) == NULL)
			goto fail_errno;
		memset(buf, '0', c->ngpio);
		buf[c->ngpio] = '\n';
		memset(buf + c->ngpio + 1, '-', c->ngpio);
		buf[size - 1] = '\n';
		if (pwrite(fd, buf, size, 0) != (ssize_t)size)
			goto fail_errno;
		free(buf);
		buf = NULL;
	} else {
		char nl[2] = { 0, 0 };

		if ((size_t)st.st_size != size ||
		    pread(fd, &nl[0], 1, c->ngpio) != 1 ||
		    pread(fd, &nl[1], 1, (off_t)size - 1) != 1 ||
		    nl[0] != '\n' || nl[1] != '\n') {
			snprintf(err, errlen, "sim chip %s is not the state "
			    "file of a chip of %u lines (%zu bytes); remove "
			    "it or fix \"ngpio\"", c->chip, c->ngpio, size);
			goto fail;
		}
	}
	/* This instance's lines are unused until its worker says otherwise
	 * (the worker marks them so itself, when it starts). */
	for (i = 0; !locked && i < c->nlines; i++)
		if (pwrite(fd, &dash, 1, c->ngpio + 1 + c->lines[i]) != 1)
			goto fail_errno;
	fds[0] = fd;
	*nfds = 1;
	return 0;
fail_errno:
	snprintf(err, errlen, "sim chip %s: %s", c->chip, strerror(errno));
fail:
	free(buf);
	if (fd != -1)
		close(fd);
	return -1;
}

static uint8_t
gpio_sim_input(struct gpio_state *s, unsigned i)
{
	return __atomic_load_n(&s->map[s->cfg->lines[i]], __ATOMIC_RELAXED) ==
	    '1';
}

static int
gpio_sim_apply(struct gpio_state *s, unsigned i, bool value_only)
{
	const struct gpio_line *l = &s->line[i];
	uint8_t b;

	switch (l->dir) {
	case GPIO_DIR_OUT:
		b = l->value ? '1' : '0';
		break;
	case GPIO_DIR_IN:
		b = 'i';
		break;
	default:
		b = '-';
		break;
	}
	__atomic_store_n(&s->map[s->cfg->ngpio + 1 + s->cfg->lines[i]], b,
	    __ATOMIC_RELAXED);
	return 0;
}

static int
gpio_sim_get(struct gpio_state *s, unsigned i, int *level)
{
	*level = s->line[i].dir == GPIO_DIR_OUT ? s->line[i].value :
	    gpio_sim_input(s, i);
	return 0;
}

static void gpio_sim_seen_retry(evutil_socket_t, short, void *);

static int
gpio_sim_init(struct gpio_state *s)
{
	struct dev_ctx *ctx = s->ctx;
	struct stat st;
	unsigned i;

	s->map_len = gpio_sim_size(s->cfg->ngpio);
	if (ctx->n_host_fds < 1 || fstat(ctx->host_fds[0], &st) == -1 ||
	    (size_t)st.st_size != s->map_len) {
		log_warnx("%s: sim chip %s is not the file main opened",
		    ctx->id, s->cfg->chip);
		return -1;
	}
	s->map = mmap(NULL, s->map_len, PROT_READ | PROT_WRITE, MAP_SHARED,
	    ctx->host_fds[0], 0);
	if (s->map == MAP_FAILED) {
		s->map = NULL;
		log_warn("%s: mapping sim chip %s", ctx->id, s->cfg->chip);
		return -1;
	}
	for (i = 0; i < s->cfg->nlines; i++) {
		s->line[i].level = gpio_sim_input(s, i);
		gpio_sim_apply(s, i, false);
	}
	if ((s->seen_retry = evtimer_new(ctx->base, gpio_sim_seen_retry, s)) ==
	    NULL) {
		log_warnx("%s: cannot make a timer", ctx->id);
		return -1;
	}
	/* No fd to watch: main says when the file changed. */
	return 0;
}

static void
gpio_sim_fini(struct gpio_state *s)
{
	if (s->seen_retry != NULL)
		event_free(s->seen_retry);
	s->seen_retry = NULL;
	/* The lines keep the state the guest gave them: a worker is most
	 * often killed, not stopped, so clearing them here would make what
	 * the file shows after a disconnect a matter of timing. */
	if (s->map == NULL)
		return;
	munmap(s->map, s->map_len);
	s->map = NULL;
}

static void gpio_irq_edge(struct gpio_state *, unsigned, bool);
static void gpio_irq_flush(struct gpio_state *);

/* The file was written: compare every input with the level last seen.
 * A pulse shorter than this wake-up is not seen. */
static void
gpio_sim_compare(struct gpio_state *s)
{
	unsigned i;
	uint8_t v;

	for (i = 0; i < s->cfg->nlines; i++) {
		v = gpio_sim_input(s, i);
		if (v == s->line[i].level)
			continue;
		s->line[i].level = v;
		if (s->line[i].dir != GPIO_DIR_OUT)
			gpio_irq_edge(s, i, v);
	}
}

/*
 * main's GPIO_DEV_SIM_CHANGED: compares the inputs, then tells main it
 * may send the next one.  If main cannot take that now, it is sent again
 * shortly (comparing again, which costs nothing): until main has it, main
 * holds back what the file does meanwhile.
 */
static void
gpio_sim_changed(struct gpio_state *s)
{
	struct dev_msg m = { .op = GPIO_DEV_SIM_SEEN, .len = 0 };
	struct timeval tv = { 0, GPIO_SIM_RETRY_MS * 1000 };

	gpio_sim_compare(s);
	gpio_irq_flush(s);
	if (s->ctx->send_main != NULL && s->ctx->send_main(s->ctx, &m) == 0) {
		evtimer_del(s->seen_retry);
		return;
	}
	log_rl(&s->rl, LOG_DEBUG, "%s: main cannot take SEEN now; again in "
	    "%d ms", s->ctx->id, GPIO_SIM_RETRY_MS);
	evtimer_add(s->seen_retry, &tv);
}

static void
gpio_sim_seen_retry(evutil_socket_t fd, short ev, void *arg)
{
	gpio_sim_changed(arg);
}

static const struct gpio_backend gpio_sim_backend = {
	.id = "sim",
	.open = gpio_sim_open,
	.init = gpio_sim_init,
	.fini = gpio_sim_fini,
	.apply = gpio_sim_apply,
	.get = gpio_sim_get,
};

/* ---- the gpiod backend ---- */

/* Copies a host line name: at most GPIO_NAME_MAX - 1 bytes, anything
 * not printable ASCII made '?'. */
static void
gpio_copy_name(char *dst, const char *src)
{
	size_t i;

	for (i = 0; src != NULL && src[i] != '\0' && i < GPIO_NAME_MAX - 1;
	    i++)
		dst[i] = (unsigned char)src[i] >= 0x20 &&
		    (unsigned char)src[i] <= 0x7e ? src[i] : '?';
	dst[i] = '\0';
}

/*
 * main, as root: the chip's line count and names for the config space.
 * libgpiod is closed again before it returns; the worker opens the chip
 * itself (gpio_gpiod_preopen).
 */
static int
gpio_gpiod_open(struct gpio_cfg *c, int *fds, unsigned *nfds, char *err,
    size_t errlen)
{
	struct gpiod_chip *chip;
	struct gpiod_chip_info *ci;
	struct gpiod_line_info *li;
	size_t nchip;
	uint32_t i, j, nnames = c->nnames;

	if ((chip = gpiod_chip_open(c->chip)) == NULL) {
		snprintf(err, errlen, "cannot open GPIO chip %s: %s", c->chip,
		    strerror(errno));
		return -1;
	}
	if ((ci = gpiod_chip_get_info(chip)) == NULL) {
		snprintf(err, errlen, "GPIO chip %s: %s", c->chip,
		    strerror(errno));
		goto fail;
	}
	nchip = gpiod_chip_info_get_num_lines(ci);
	gpiod_chip_info_free(ci);
	if (c->all_lines) {
		if (nchip > GPIO_MAX_LINES || nchip == 0) {
			snprintf(err, errlen, "GPIO chip %s has %zu lines; a "
			    "device serves 1 to %d: give them in \"lines\"",
			    c->chip, nchip, GPIO_MAX_LINES);
			goto fail;
		}
		c->nlines = (uint32_t)nchip;
		for (i = 0; i < c->nlines; i++)
			c->lines[i] = i;
		if (c->names_given && nnames != c->nlines) {
			snprintf(err, errlen, "\"names\" gives %u names for "
			    "the %u lines of %s", nnames, c->nlines, c->chip);
			goto fail;
		}
	}
	for (i = 0; i < c->nopts; i++)
		if (c->opts[i].offset >= nchip) {
			snprintf(err, errlen, "line_options: %s has no line "
			    "%u", c->chip, c->opts[i].offset);
			goto fail;
		}
	for (i = 0; i < c->nlines; i++) {
		if (c->lines[i] >= nchip) {
			snprintf(err, errlen, "GPIO chip %s has no line %u "
			    "(it has %zu)", c->chip, c->lines[i], nchip);
			goto fail;
		}
		if ((li = gpiod_chip_get_line_info(chip, c->lines[i])) ==
		    NULL) {
			snprintf(err, errlen, "line %u of %s: %s", c->lines[i],
			    c->chip, strerror(errno));
			goto fail;
		}
		if (gpiod_line_info_is_used(li)) {
			snprintf(err, errlen, "line %u of %s is in use by "
			    "\"%s\"", c->lines[i], c->chip,
			    gpiod_line_info_get_consumer(li) != NULL ?
			    gpiod_line_info_get_consumer(li) : "the kernel");
			gpiod_line_info_free(li);
			goto fail;
		}
		if (!c->names_given)
			gpio_copy_name(c->names[i],
			    gpiod_line_info_get_name(li));
		gpiod_line_info_free(li);
		/* The spec wants unique names: a host name seen before is
		 * left out. */
		for (j = 0; j < i && c->names[i][0] != '\0'; j++)
			if (strcmp(c->names[j], c->names[i]) == 0) {
				log_info("%s: line %u: name \"%s\" is taken "
				    "by an earlier line; left unnamed",
				    c->chip, c->lines[i], c->names[i]);
				c->names[i][0] = '\0';
			}
	}
	gpiod_chip_close(chip);
	gpio_names_size(c);
	*nfds = 0;
	return 0;
fail:
	gpiod_chip_close(chip);
	return -1;
}

static const struct gpio_line_opt *
gpio_opt(const struct gpio_cfg *c, uint32_t offset)
{
	uint32_t i;

	for (i = 0; i < c->nopts; i++)
		if (c->opts[i].offset == offset)
			return &c->opts[i];
	return NULL;
}

/* The libgpiod line config of every line as s->line[] says. */
static struct gpiod_line_config *
gpio_gpiod_config(struct gpio_state *s)
{
	struct gpiod_line_config *lc;
	struct gpiod_line_settings *ls = NULL;
	const struct gpio_line_opt *op;
	enum gpiod_line_edge edge;
	unsigned i;

	if ((lc = gpiod_line_config_new()) == NULL)
		return NULL;
	for (i = 0; i < s->cfg->nlines; i++) {
		const struct gpio_line *l = &s->line[i];
		unsigned int off = s->cfg->lines[i];

		if ((ls = gpiod_line_settings_new()) == NULL)
			goto fail;
		op = gpio_opt(s->cfg, off);
		if (l->dir == GPIO_DIR_OUT) {
			gpiod_line_settings_set_direction(ls,
			    GPIOD_LINE_DIRECTION_OUTPUT);
			gpiod_line_settings_set_output_value(ls, l->value ?
			    GPIOD_LINE_VALUE_ACTIVE : GPIOD_LINE_VALUE_INACTIVE);
			if (op != NULL && op->drive == GPIO_DRIVE_OPEN_DRAIN)
				gpiod_line_settings_set_drive(ls,
				    GPIOD_LINE_DRIVE_OPEN_DRAIN);
			else if (op != NULL &&
			    op->drive == GPIO_DRIVE_OPEN_SOURCE)
				gpiod_line_settings_set_drive(ls,
				    GPIOD_LINE_DRIVE_OPEN_SOURCE);
		} else {
			/* Direction none is an input: high impedance. */
			gpiod_line_settings_set_direction(ls,
			    GPIOD_LINE_DIRECTION_INPUT);
			switch (l->irq_type) {
			case GPIO_IRQ_EDGE_RISING:
				edge = GPIOD_LINE_EDGE_RISING;
				break;
			case GPIO_IRQ_EDGE_FALLING:
				edge = GPIOD_LINE_EDGE_FALLING;
				break;
			case GPIO_IRQ_NONE:
				edge = GPIOD_LINE_EDGE_NONE;
				break;
			default:	/* both edges; levels are read back */
				edge = GPIOD_LINE_EDGE_BOTH;
				break;
			}
			gpiod_line_settings_set_edge_detection(ls, edge);
			if (op != NULL && op->debounce_us > 0)
				gpiod_line_settings_set_debounce_period_us(ls,
				    op->debounce_us);
		}
		if (op != NULL) {
			switch (op->bias) {
			case GPIO_BIAS_DISABLED:
				gpiod_line_settings_set_bias(ls,
				    GPIOD_LINE_BIAS_DISABLED);
				break;
			case GPIO_BIAS_PULL_UP:
				gpiod_line_settings_set_bias(ls,
				    GPIOD_LINE_BIAS_PULL_UP);
				break;
			case GPIO_BIAS_PULL_DOWN:
				gpiod_line_settings_set_bias(ls,
				    GPIOD_LINE_BIAS_PULL_DOWN);
				break;
			}
			gpiod_line_settings_set_active_low(ls, op->active_low);
		}
		if (gpiod_line_config_add_line_settings(lc, &off, 1, ls) == -1)
			goto fail;
		gpiod_line_settings_free(ls);
		ls = NULL;
	}
	return lc;
fail:
	gpiod_line_settings_free(ls);
	gpiod_line_config_free(lc);
	return NULL;
}

/*
 * Worker, before lockdown, as vhostd's user (who must be able to open the
 * chip node read-write): requests every line of this instance as an input
 * and keeps the request's fd; the chip's own fd is closed again.
 */
static int
gpio_gpiod_preopen(struct gpio_state *s, struct dev_ctx *ctx)
{
	struct gpiod_chip *chip;
	struct gpiod_line_config *lc = NULL;
	struct gpiod_request_config *rc = NULL;
	char consumer[32];

	if ((chip = gpiod_chip_open(s->cfg->chip)) == NULL) {
		log_warn("%s: opening GPIO chip %s", ctx->id, s->cfg->chip);
		return -1;
	}
	if ((lc = gpio_gpiod_config(s)) == NULL ||
	    (rc = gpiod_request_config_new()) == NULL) {
		log_warn("%s: GPIO line config", ctx->id);
		goto fail;
	}
	snprintf(consumer, sizeof(consumer), "vhostd:%s", ctx->id);
	gpiod_request_config_set_consumer(rc, consumer);
	if ((s->req = gpiod_chip_request_lines(chip, rc, lc)) == NULL) {
		log_warn("%s: requesting lines of %s", ctx->id, s->cfg->chip);
		goto fail;
	}
	if (dev_keep_fd(ctx, gpiod_line_request_get_fd(s->req)) == -1) {
		log_warnx("%s: too many kept fds", ctx->id);
		goto fail;
	}
	gpiod_request_config_free(rc);
	gpiod_line_config_free(lc);
	gpiod_chip_close(chip);
	return 0;
fail:
	if (s->req != NULL)
		gpiod_line_request_release(s->req);
	s->req = NULL;
	gpiod_request_config_free(rc);
	gpiod_line_config_free(lc);
	gpiod_chip_close(chip);
	return -1;
}

static int
gpio_gpiod_init(struct gpio_state *s)
{
	int fd;

	if (s->req == NULL)
		return -1;
	fd = gpiod_line_request_get_fd(s->req);
	/* Edge events are read when the loop says the fd is readable;
	 * never block on one that is not. */
	if (fcntl(fd, F_SETFL, O_NONBLOCK) == -1 ||
	    (s->evbuf = gpiod_edge_event_buffer_new(GPIO_EVENTS)) == NULL) {
		log_warn("%s: GPIO line request", s->ctx->id);
		return -1;
	}
	s->ev_fd = fd;
	return 0;
}

static void
gpio_gpiod_fini(struct gpio_state *s)
{
	if (s->evbuf != NULL)
		gpiod_edge_event_buffer_free(s->evbuf);
	s->evbuf = NULL;
	/* Releases the lines (closes the request fd, a kept fd). */
	if (s->req != NULL)
		gpiod_line_request_release(s->req);
	s->req = NULL;
}

static int
gpio_gpiod_apply(struct gpio_state *s, unsigned i, bool value_only)
{
	struct gpiod_line_config *lc;
	int r;

	if (value_only)
		return gpiod_line_request_set_value(s->req, s->cfg->lines[i],
		    s->line[i].value ? GPIOD_LINE_VALUE_ACTIVE :
		    GPIOD_LINE_VALUE_INACTIVE);
	/* libgpiod replaces the config of every line of the request. */
	if ((lc = gpio_gpiod_config(s)) == NULL)
		return -1;
	r = gpiod_line_request_reconfigure_lines(s->req, lc);
	gpiod_line_config_free(lc);
	return r;
}

static int
gpio_gpiod_get(struct gpio_state *s, unsigned i, int *level)
{
	enum gpiod_line_value v;

	v = gpiod_line_request_get_value(s->req, s->cfg->lines[i]);
	if (v == GPIOD_LINE_VALUE_ERROR)
		return -1;
	*level = v == GPIOD_LINE_VALUE_ACTIVE;
	return 0;
}

static void
gpio_gpiod_wake(struct gpio_state *s)
{
	struct gpiod_edge_event *e;
	unsigned off, i;
	int n, k;

	for (;;) {
		n = gpiod_line_request_read_edge_events(s->req, s->evbuf,
		    GPIO_EVENTS);
		if (n <= 0) {
			if (n == -1 && errno != EAGAIN && errno != EINTR)
				log_rl(&s->rl, LOG_WARNING, "%s: reading GPIO "
				    "events: %s", s->ctx->id, strerror(errno));
			return;
		}
		for (k = 0; k < n; k++) {
			e = gpiod_edge_event_buffer_get_event(s->evbuf,
			    (unsigned long)k);
			off = gpiod_edge_event_get_line_offset(e);
			for (i = 0; i < s->cfg->nlines; i++)
				if (s->cfg->lines[i] == off)
					break;
			if (i == s->cfg->nlines)
				continue;
			gpio_irq_edge(s, i, gpiod_edge_event_get_event_type(e) ==
			    GPIOD_EDGE_EVENT_RISING_EDGE);
		}
		if (n < GPIO_EVENTS)
			return;
	}
}

static const struct gpio_backend gpio_gpiod_backend = {
	.id = "gpiod",
	.open = gpio_gpiod_open,
	.preopen = gpio_gpiod_preopen,
	.init = gpio_gpiod_init,
	.fini = gpio_gpiod_fini,
	.apply = gpio_gpiod_apply,
	.get = gpio_gpiod_get,
	.wake = gpio_gpiod_wake,
};

/* ---- interrupts: the eventq (VIRTIO 1.2 5.18.6.2, 5.18.7) ---- */

/*
 * Returns line i's held eventq buffer with `status`.  If the eventq has
 * been stopped meanwhile, the buffer is dropped (its ring is gone).
 */
static void
gpio_irq_complete(struct gpio_state *s, unsigned i, uint8_t status)
{
	struct gpio_line *l = &s->line[i];
	struct virtq *vq = s->ctx->vq[1];

	if (!l->held)
		return;
	l->held = false;
	if (vq == NULL)
		return;
	*l->status = status;
	vq_push(vq, l->head, GPIO_IRQ_RESP_SIZE);
	s->evq_pushed = true;
}

/* Publishes what gpio_irq_complete pushed, outside the core's own runs of
 * the eventq. */
static void
gpio_irq_flush(struct gpio_state *s)
{
	if (s->evq_pushed && s->ctx->vq[1] != NULL)
		vq_flush(s->ctx->vq[1]);
	s->evq_pushed = false;
}

/*
 * Delivers line i's interrupt if it is enabled, unmasked (a buffer is
 * held) and pending: a latched edge, or the level the type asks for right
 * now.  Levels are not latched (the spec's device requirements), so a
 * level that went away while masked is not delivered.
 */
static void
gpio_irq_try(struct gpio_state *s, unsigned i)
{
	struct gpio_line *l = &s->line[i];
	int level;

	if (!l->held || l->irq_type == GPIO_IRQ_NONE)
		return;
	switch (l->irq_type) {
	case GPIO_IRQ_LEVEL_HIGH:
	case GPIO_IRQ_LEVEL_LOW:
		if (s->be->get(s, i, &level) == -1) {
			log_rl(&s->rl, LOG_WARNING, "%s: reading line %u: %s",
			    s->ctx->id, i, strerror(errno));
			return;
		}
		if (level != (l->irq_type == GPIO_IRQ_LEVEL_HIGH))
			return;
		break;
	default:
		if (!l->latched)
			return;
		l->latched = false;
		break;
	}
	gpio_irq_complete(s, i, GPIO_IRQ_STATUS_VALID);
}

/* A backend saw line i change (rising: to high).  Edges matching the
 * type are latched, masked or not; then delivery is tried. */
static void
gpio_irq_edge(struct gpio_state *s, unsigned i, bool rising)
{
	struct gpio_line *l = &s->line[i];

	switch (l->irq_type) {
	case GPIO_IRQ_EDGE_RISING:
		l->latched |= rising;
		break;
	case GPIO_IRQ_EDGE_FALLING:
		l->latched |= !rising;
		break;
	case GPIO_IRQ_EDGE_BOTH:
		l->latched = true;
		break;
	default:
		break;
	}
	gpio_irq_try(s, i);
}

static void
gpio_ev_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct gpio_state *s = arg;

	s->be->wake(s);
	gpio_irq_flush(s);
}

/*
 * The eventq.  Security model: the guest writes the line number and
 * chooses the buffers' sizes; each is checked before a buffer is held,
 * and at most one buffer per line is held, so the guest cannot make the
 * device hold more than its lines.
 */
static enum dev_run
gpio_run_eventq(struct gpio_state *s, struct virtq *vq)
{
	struct vq_req req;
	uint8_t rq[GPIO_IRQ_REQ_SIZE], *status;
	uint16_t line;
	size_t got, k, o;
	unsigned i;

	while (vq_pop(vq, &req, s->iov, GPIO_IOV_MAX) == 1) {
		status = NULL;
		for (k = 0; k < req.n_in && status == NULL; k++)
			if (req.in[k].iov_len > 0)
				status = req.in[k].iov_base;
		if (status == NULL) {
			log_rl(&s->rl, LOG_WARNING, "%s: eventq: a buffer "
			    "with no room for a status", s->ctx->id);
			vq_push(vq, req.head, 0);
			continue;
		}
		for (got = 0, k = 0; k < req.n_out && got < sizeof(rq); k++)
			for (o = 0; o < req.out[k].iov_len && got < sizeof(rq);
			    o++)
				rq[got++] = ((uint8_t *)req.out[k].iov_base)[o];
		*status = GPIO_IRQ_STATUS_INVALID;
		if (req.out_len != sizeof(rq)) {
			log_rl(&s->rl, LOG_WARNING, "%s: eventq: request of "
			    "%" PRIu64 " bytes, not %d", s->ctx->id,
			    req.out_len, GPIO_IRQ_REQ_SIZE);
			vq_push(vq, req.head, GPIO_IRQ_RESP_SIZE);
			continue;
		}
		line = (uint16_t)(rq[0] | rq[1] << 8);
		if (line >= s->cfg->nlines || !(s->ctx->features &
		    (UINT64_C(1) << VIRTIO_GPIO_F_IRQ))) {
			log_rl(&s->rl, LOG_WARNING, "%s: eventq: %s %u",
			    s->ctx->id, line >= s->cfg->nlines ?
			    "no such line" : "IRQ not negotiated, line", line);
			vq_push(vq, req.head, GPIO_IRQ_RESP_SIZE);
			continue;
		}
		i = line;
		if (s->line[i].held) {
			/* The driver may not queue two (5.18.7.3). */
			log_rl(&s->rl, LOG_WARNING, "%s: eventq: line %u has "
			    "a buffer already", s->ctx->id, i);
			vq_push(vq, req.head, GPIO_IRQ_RESP_SIZE);
			continue;
		}
		if (s->line[i].irq_type == GPIO_IRQ_NONE) {
			/* Unmasked without being enabled: returned at once
			 * as invalid (5.18.6.2.6). */
			vq_push(vq, req.head, GPIO_IRQ_RESP_SIZE);
			continue;
		}
		s->line[i].held = true;
		s->line[i].head = req.head;
		s->line[i].status = status;
		gpio_irq_try(s, i);
	}
	/* Completions went to this queue; the core flushes it. */
	s->evq_pushed = false;
	return DEV_RUN_DRAINED;
}

/* ---- the requestq (VIRTIO 1.2 5.18.6) ---- */

static const char *
gpio_msg_name(uint16_t type)
{
	static const char *const names[] = {
		"?", "GET_NAMES", "GET_DIRECTION", "SET_DIRECTION",
		"GET_VALUE", "SET_VALUE", "SET_IRQ_TYPE",
	};

	return type < sizeof(names) / sizeof(names[0]) ? names[type] : "?";
}

static bool
gpio_irq_type_valid(uint32_t t)
{
	return t == GPIO_IRQ_NONE || t == GPIO_IRQ_EDGE_RISING ||
	    t == GPIO_IRQ_EDGE_FALLING || t == GPIO_IRQ_EDGE_BOTH ||
	    t == GPIO_IRQ_LEVEL_HIGH || t == GPIO_IRQ_LEVEL_LOW;
}

/*
 * What a worker that replaces one that died needs to carry on, kept in
 * ctx->state (device.h) after every change: each line's direction,
 * output value and interrupt type.  Latched edges and held eventq
 * buffers are not kept: the held buffers come back as resubmitted
 * requests and are held again.
 */
#define GPIO_SAVED_MAGIC	0x6770696fu	/* "gpio" */
struct gpio_saved {
	uint32_t	magic;
	uint32_t	nlines;
	struct {
		uint8_t	dir, value, irq_type, pad;
	} line[GPIO_MAX_LINES];
};
_Static_assert(sizeof(struct gpio_saved) <= DEV_STATE_MAX,
    "gpio state fits its area");

static void
gpio_save(struct gpio_state *s)
{
	struct gpio_saved *sv = s->ctx->state;
	unsigned i;

	if (sv == NULL)
		return;
	for (i = 0; i < s->cfg->nlines; i++) {
		sv->line[i].dir = s->line[i].dir;
		sv->line[i].value = s->line[i].value;
		sv->line[i].irq_type = s->line[i].irq_type;
	}
	sv->nlines = s->cfg->nlines;
	sv->magic = GPIO_SAVED_MAGIC;
}

/* In init of a restarted worker: the lines as the guest had set them. */
static void
gpio_restore(struct gpio_state *s)
{
	const struct gpio_saved *sv = s->ctx->state;
	unsigned i;

	if (sv == NULL || !s->ctx->restarted || sv->magic != GPIO_SAVED_MAGIC ||
	    sv->nlines != s->cfg->nlines)
		return;
	for (i = 0; i < s->cfg->nlines; i++) {
		struct gpio_line *l = &s->line[i];

		/* Written by a worker of this device: checked all the
		 * same. */
		if (sv->line[i].dir > GPIO_DIR_IN || sv->line[i].value > 1 ||
		    !gpio_irq_type_valid(sv->line[i].irq_type) ||
		    (sv->line[i].dir == GPIO_DIR_OUT &&
		    sv->line[i].irq_type != GPIO_IRQ_NONE))
			continue;
		l->dir = sv->line[i].dir;
		l->value = sv->line[i].value;
		l->irq_type = sv->line[i].irq_type;
		if (s->be == &gpio_sim_backend) {
			if (s->be->apply(s, i, false) == -1)
				log_warn("%s: restoring line %u", s->ctx->id,
				    i);
			l->level = gpio_sim_input(s, i);
		}
	}
	if (s->be != &gpio_sim_backend && s->be->apply(s, 0, false) == -1)
		log_warn("%s: restoring the GPIO lines", s->ctx->id);
	log_warnx("%s: lines restored as the guest had set them",
	    s->ctx->id);
}

static bool
gpio_is_write(uint16_t type)
{
	return type == GPIO_MSG_SET_DIRECTION || type == GPIO_MSG_SET_VALUE ||
	    type == GPIO_MSG_SET_IRQ_TYPE;
}

/* Puts line i back to how the guest found it: input, value 0, no
 * interrupt (returning its held buffer, if any, as invalid). */
static void
gpio_line_clear(struct gpio_state *s, unsigned i, uint8_t dir)
{
	struct gpio_line *l = &s->line[i];

	gpio_irq_complete(s, i, GPIO_IRQ_STATUS_INVALID);
	l->irq_type = GPIO_IRQ_NONE;
	l->latched = false;
	l->value = 0;
	l->dir = dir;
}

/*
 * One request; fills resp and returns the response's size.  Sets *why to
 * what was wrong if the status is ERR because of the guest.
 */
static size_t
gpio_handle(struct gpio_state *s, uint16_t type, uint16_t line,
    uint32_t value, uint8_t *resp, const char **why)
{
	struct gpio_line *l;
	struct gpio_line old;
	int level;

	resp[0] = GPIO_STATUS_ERR;
	resp[1] = 0;
	*why = NULL;
	if (type == GPIO_MSG_GET_NAMES) {
		/* gpio and value are 0 in the spec; they carry nothing. */
		if (s->cfg->names_size == 0) {
			*why = "no line has a name";
			return GPIO_RESP_SIZE;
		}
		resp[0] = GPIO_STATUS_OK;
		memcpy(resp + 1, s->names, s->cfg->names_size);
		return 1 + (size_t)s->cfg->names_size;
	}
	if (type < GPIO_MSG_GET_DIRECTION || type > GPIO_MSG_SET_IRQ_TYPE) {
		*why = "unknown request type";
		return GPIO_RESP_SIZE;
	}
	if (line >= s->cfg->nlines) {
		*why = "no such line";
		return GPIO_RESP_SIZE;
	}
	l = &s->line[line];
	old = *l;
	switch (type) {
	case GPIO_MSG_GET_DIRECTION:
		resp[1] = l->dir;
		break;
	case GPIO_MSG_SET_DIRECTION:
		if (value > GPIO_DIR_IN) {
			*why = "no such direction";
			return GPIO_RESP_SIZE;
		}
		if (value == GPIO_DIR_OUT && l->irq_type != GPIO_IRQ_NONE) {
			*why = "output on a line with its interrupt enabled";
			return GPIO_RESP_SIZE;
		}
		if (value == GPIO_DIR_NONE)
			/* All state of the line is discarded (5.18.6.4). */
			gpio_line_clear(s, line, GPIO_DIR_NONE);
		else
			l->dir = (uint8_t)value;
		if ((l->dir != old.dir || l->irq_type != old.irq_type) &&
		    s->be->apply(s, line, false) == -1)
			goto fail_hw;
		break;
	case GPIO_MSG_GET_VALUE:
		if (s->be->get(s, line, &level) == -1)
			goto fail_hw;
		resp[1] = (uint8_t)level;
		break;
	case GPIO_MSG_SET_VALUE:
		if (value > 1) {
			*why = "value is not 0 or 1";
			return GPIO_RESP_SIZE;
		}
		/* On an input, the value is kept for when the line becomes
		 * an output (5.18.6.5): Linux sets it before the direction. */
		l->value = (uint8_t)value;
		if (l->dir == GPIO_DIR_OUT &&
		    s->be->apply(s, line, true) == -1)
			goto fail_hw;
		break;
	case GPIO_MSG_SET_IRQ_TYPE:
		if (!(s->ctx->features & (UINT64_C(1) << VIRTIO_GPIO_F_IRQ))) {
			*why = "VIRTIO_GPIO_F_IRQ was not negotiated";
			return GPIO_RESP_SIZE;
		}
		if (!gpio_irq_type_valid(value)) {
			*why = "no such interrupt type";
			return GPIO_RESP_SIZE;
		}
		if (value != GPIO_IRQ_NONE && l->dir == GPIO_DIR_OUT) {
			*why = "interrupt on an output line";
			return GPIO_RESP_SIZE;
		}
		if (value == l->irq_type)
			break;
		/* Disabling returns the held buffer as invalid and drops a
		 * latched edge; a new type latches from now on. */
		if (value == GPIO_IRQ_NONE)
			gpio_irq_complete(s, line, GPIO_IRQ_STATUS_INVALID);
		l->latched = false;
		l->irq_type = (uint8_t)value;
		if (s->be->apply(s, line, false) == -1)
			goto fail_hw;
		if (s->be == &gpio_sim_backend)
			l->level = gpio_sim_input(s, line);
		gpio_irq_try(s, line);
		break;
	}
	resp[0] = GPIO_STATUS_OK;
	return GPIO_RESP_SIZE;
fail_hw:
	log_rl(&s->rl, LOG_WARNING, "%s: %s of line %u: %s", s->ctx->id,
	    gpio_msg_name(type), line, strerror(errno));
	/* The hardware did not follow: the line keeps its settings (a
	 * buffer returned meanwhile stays returned). */
	old.held = l->held;
	old.head = l->head;
	old.status = l->status;
	*l = old;
	return GPIO_RESP_SIZE;
}

/*
 * The requestq.  Security model: the guest is hostile.  It chooses the
 * request's bytes and both buffers' sizes and layout; the request is
 * copied out of guest memory once (at most GPIO_REQ_SIZE bytes) and
 * every field checked before anything changes; the response is written
 * only into the device-writable segments, never more than they hold.  A
 * bad request gets status ERR if there is room for a status, else a used
 * length of 0; the device goes on either way.
 */
static enum dev_run
gpio_run_requestq(struct gpio_state *s, struct virtq *vq)
{
	struct vq_req req;
	uint8_t rq[GPIO_REQ_SIZE];
	uint16_t type = 0, line = 0;
	uint32_t value = 0;
	size_t got, want, n, k, o;
	const char *why;

	while (vq_pop(vq, &req, s->iov, GPIO_IOV_MAX) == 1) {
		type = line = 0;
		value = 0;
		for (got = 0, k = 0; k < req.n_out && got < sizeof(rq); k++) {
			n = req.out[k].iov_len;
			if (n > sizeof(rq) - got)
				n = sizeof(rq) - got;
			memcpy(rq + got, req.out[k].iov_base, n);
			got += n;
		}
		if (got >= 2)
			type = (uint16_t)(rq[0] | rq[1] << 8);
		if (got == sizeof(rq)) {
			line = (uint16_t)(rq[2] | rq[3] << 8);
			value = (uint32_t)rq[4] | (uint32_t)rq[5] << 8 |
			    (uint32_t)rq[6] << 16 | (uint32_t)rq[7] << 24;
		}
		want = got >= 2 && type == GPIO_MSG_GET_NAMES &&
		    s->cfg->names_size > 0 ? 1 + (size_t)s->cfg->names_size :
		    GPIO_RESP_SIZE;
		if (req.in_len == 0) {
			log_rl(&s->rl, LOG_WARNING, "%s: requestq: no "
			    "response buffer", s->ctx->id);
			vq_push(vq, req.head, 0);
			continue;
		}
		if (got < sizeof(rq) || req.out_len != sizeof(rq)) {
			why = "request is not 8 bytes";
			s->resp[0] = GPIO_STATUS_ERR;
			s->resp[1] = 0;
			n = GPIO_RESP_SIZE;
		} else if (req.in_len < want) {
			why = "response buffer too short";
			s->resp[0] = GPIO_STATUS_ERR;
			s->resp[1] = 0;
			n = GPIO_RESP_SIZE;
		} else if (req.resubmitted && gpio_is_write(type)) {
			/* Taken by a worker that died: it may have been done
			 * already, so it fails rather than being repeated. */
			why = NULL;
			s->resp[0] = GPIO_STATUS_ERR;
			s->resp[1] = 0;
			n = GPIO_RESP_SIZE;
		} else {
			n = gpio_handle(s, type, line, value, s->resp, &why);
			if (gpio_is_write(type))
				gpio_save(s);
		}
		if (why != NULL)
			log_rl(&s->rl, LOG_WARNING, "%s: requestq: %s (type "
			    "%u, line %u, value %u, %" PRIu64 "+%" PRIu64
			    " bytes)", s->ctx->id, why, type, line, value,
			    req.out_len, req.in_len);
		/* Never more than the buffer holds: a short one gets the
		 * status and what fits of an ERR response. */
		if (n > req.in_len)
			n = (size_t)req.in_len;
		for (o = 0, k = 0; k < req.n_in && o < n; k++) {
			size_t m = req.in[k].iov_len;

			if (m > n - o)
				m = n - o;
			memcpy(req.in[k].iov_base, s->resp + o, m);
			o += m;
		}
		if (s->resp[0] != GPIO_STATUS_OK)
			vq_count_error(vq);
		vq_push(vq, req.head, (uint32_t)o);
	}
	/* SET_IRQ_TYPE / SET_DIRECTION may have returned eventq buffers. */
	gpio_irq_flush(s);
	return DEV_RUN_DRAINED;
}

static enum dev_run
gpio_run(struct dev_ctx *ctx, unsigned qidx)
{
	struct gpio_state *s = ctx->priv;
	struct virtq *vq = ctx->vq[qidx];

	if (vq == NULL)
		return DEV_RUN_DRAINED;
	return qidx == 0 ? gpio_run_requestq(s, vq) :
	    gpio_run_eventq(s, vq);
}

/* ---- worker life cycle ---- */

static struct gpio_state *
gpio_state_new(struct dev_ctx *ctx)
{
	struct gpio_state *s;

	if (ctx->priv != NULL)
		return ctx->priv;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->ctx = ctx;
	s->cfg = ctx->cfg;
	s->be = gpio_backend_of(s->cfg);
	s->ev_fd = -1;
	s->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT;
	ctx->priv = s;
	return s;
}

static void
gpio_fini(struct dev_ctx *ctx)
{
	struct gpio_state *s = ctx->priv;

	if (s == NULL)
		return;
	if (s->ev != NULL)
		event_free(s->ev);
	s->be->fini(s);
	free(s);
	ctx->priv = NULL;
}

static int
gpio_preopen(struct dev_ctx *ctx)
{
	struct gpio_state *s;

	if ((s = gpio_state_new(ctx)) == NULL)
		return -1;
	if (s->be->preopen != NULL && s->be->preopen(s, ctx) == -1) {
		gpio_fini(ctx);
		return -1;
	}
	return 0;
}

static int
gpio_init(struct dev_ctx *ctx)
{
	struct gpio_state *s = ctx->priv;
	const struct gpio_cfg *c = ctx->cfg;
	uint32_t i, o;

	/* preopen allocated the state; without it there is no host
	 * resource to serve. */
	if (s == NULL || c->nlines == 0 || c->nlines > GPIO_MAX_LINES ||
	    c->names_size > GPIO_NAMES_MAX) {
		log_warnx("%s: gpio device not set up", ctx->id);
		return -1;
	}
	for (i = 0, o = 0; i < c->nlines; i++) {
		size_t n = strnlen(c->names[i], GPIO_NAME_MAX - 1);

		memcpy(s->names + o, c->names[i], n);
		s->names[o + n] = '\0';
		o += (uint32_t)n + 1;
	}
	/* Every line starts as an input without interrupt: the gpiod
	 * request was made so, the sim backend's init shows it.  A worker
	 * that replaces one that died then sets them as the guest had. */
	for (i = 0; i < c->nlines; i++)
		s->line[i].dir = GPIO_DIR_IN;
	if (s->be->init(s) == -1)
		goto fail;
	gpio_restore(s);
	if (s->ev_fd == -1)
		return 0;
	s->ev = event_new(ctx->base, s->ev_fd, EV_READ | EV_PERSIST,
	    gpio_ev_cb, s);
	if (s->ev == NULL || event_add(s->ev, NULL) == -1) {
		log_warnx("%s: cannot watch the GPIO chip", ctx->id);
		goto fail;
	}
	return 0;
fail:
	gpio_fini(ctx);
	return -1;
}

/* The eventq stopped: its held buffers are dropped (their ring is gone;
 * the driver queues new ones when it starts the ring again).  Interrupt
 * types and latched edges stay. */
static void
gpio_queue_stop(struct dev_ctx *ctx, unsigned qidx)
{
	struct gpio_state *s = ctx->priv;
	unsigned i;

	if (s == NULL || qidx != 1)
		return;
	for (i = 0; i < s->cfg->nlines; i++)
		s->line[i].held = false;
	s->evq_pushed = false;
}

/* Every queue stopped: held buffers are dropped (their ring is gone) and
 * the lines go back to inputs without interrupts. */
static void
gpio_reset(struct dev_ctx *ctx)
{
	struct gpio_state *s = ctx->priv;
	unsigned i;
	bool changed = false;

	if (s == NULL)
		return;
	for (i = 0; i < s->cfg->nlines; i++) {
		struct gpio_line *l = &s->line[i];

		changed |= l->dir != GPIO_DIR_IN ||
		    l->irq_type != GPIO_IRQ_NONE;
		l->held = false;
		l->latched = false;
		l->irq_type = GPIO_IRQ_NONE;
		l->value = 0;
		l->dir = GPIO_DIR_IN;
		if (s->be == &gpio_sim_backend)
			s->be->apply(s, i, false);
	}
	s->evq_pushed = false;
	if (changed && s->be != &gpio_sim_backend &&
	    s->be->apply(s, 0, false) == -1)
		log_warn("%s: resetting the GPIO lines", ctx->id);
	gpio_save(s);
}

/* ---- main's side: the watch on the sim chips ---- */

/*
 * main holds one inotify instance for the sim chip files of every
 * instance, with one watch per distinct file (inotify gives all the
 * watches of one file one descriptor, whatever the path it was named by).
 * Both are made in main_start, as root before main drops its privileges
 * (so the file need not be readable by the user vhostd runs as); after
 * that main only reads the instance.  Nothing is removed before exit.
 */
static struct {
	int			 fd;		/* -1: none */
	struct event		*ev;
	unsigned		 users;		/* sim instances started */
	struct log_ratelimit	 rl;
} gpio_watch = { .fd = -1, .rl = LOG_RATELIMIT_INIT };

/* main's state of one sim instance (dev_inst_priv). */
struct gpio_main {
	int			 wd;		/* its chip file's watch */
	bool			 sent;		/* a CHANGED waits for SEEN */
	bool			 changed;	/* written since */
	bool			 ignored;	/* the watch is gone */
	struct log_ratelimit	 rl;
};

extern const struct dev_ops gpio_ops;

/* main's state of in if it is a started sim instance, else NULL. */
static struct gpio_main *
gpio_main_of(const struct inst *in)
{
	return dev_inst_ops(in) == &gpio_ops ? dev_inst_priv(in) : NULL;
}

/*
 * Tells in's worker that its chip file changed.  While a CHANGED is
 * unanswered, the change is only noted and told when the SEEN comes: at
 * most one CHANGED is ever in the worker's channel, however fast the file
 * is written, so main never finds that channel full (which would cost the
 * worker).  Without a ready worker there is nobody to tell:
 * main_worker_ready starts every worker with a CHANGED.
 */
static void
gpio_main_notify(struct inst *in, struct gpio_main *gm)
{
	struct dev_msg m = { .op = GPIO_DEV_SIM_CHANGED, .len = 0 };

	if (!dev_inst_worker_ready(in)) {
		gm->sent = gm->changed = false;
		return;
	}
	if (gm->sent) {
		gm->changed = true;
		return;
	}
	gm->changed = false;
	/* On failure the worker is gone (main_worker_gone has run). */
	if (dev_inst_send(in, &m, -1) == 0)
		gm->sent = true;
}

/* The inotify instance is readable: every instance on a chip file that
 * was written is told so, once however many events there were. */
static void
gpio_watch_readable(evutil_socket_t fd, short ev, void *arg)
{
	char buf[4096]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *e;
	struct gpio_main *gm;
	struct inst *in;
	ssize_t n;
	size_t o;
	bool any = false;

	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == -1 && errno != EAGAIN)
				log_rl(&gpio_watch.rl, LOG_WARNING, "gpio: "
				    "reading the sim chips' inotify: %s",
				    strerror(errno));
			break;
		}
		for (o = 0; o + sizeof(*e) <= (size_t)n;
		    o += sizeof(*e) + e->len) {
			e = (const struct inotify_event *)(buf + o);
			for (in = dev_inst_next(NULL); in != NULL;
			    in = dev_inst_next(in)) {
				if ((gm = gpio_main_of(in)) == NULL ||
				    (gm->wd != e->wd &&
				    !(e->mask & IN_Q_OVERFLOW)))
					continue;
				if ((e->mask & IN_IGNORED) && !gm->ignored) {
					gm->ignored = true;
					log_warnx("%s: sim chip %s is no longer "
					    "watched (removed, or its file "
					    "system unmounted): its inputs are "
					    "not followed any more",
					    dev_inst_id(in), ((const struct
					    gpio_cfg *)dev_inst_cfg(in))->chip);
				}
				gm->changed = true;
				any = true;
			}
		}
	}
	if (!any)
		return;
	for (in = dev_inst_next(NULL); in != NULL; in = dev_inst_next(in))
		if ((gm = gpio_main_of(in)) != NULL && gm->changed &&
		    !gm->sent)
			gpio_main_notify(in, gm);
}

/* main, as root: the watch on this instance's sim chip file. */
static int
gpio_main_start(struct inst *in, char *err, size_t errlen)
{
	const struct gpio_cfg *c = dev_inst_cfg(in);
	struct gpio_main *gm;

	if (c->backend != GPIO_BACKEND_SIM)
		return 0;
	if ((gm = calloc(1, sizeof(*gm))) == NULL) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -1;
	}
	gm->wd = -1;
	gm->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT;
	dev_inst_set_priv(in, gm);
	gpio_watch.users++;	/* main_stop undoes it all, even after -1 */
	if (gpio_watch.fd == -1) {
		gpio_watch.fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (gpio_watch.fd == -1) {
			snprintf(err, errlen, "inotify_init1 for the sim "
			    "chips: %s", strerror(errno));
			return -1;
		}
		gpio_watch.ev = event_new(dev_inst_base(in), gpio_watch.fd,
		    EV_READ | EV_PERSIST, gpio_watch_readable, NULL);
		if (gpio_watch.ev == NULL ||
		    event_add(gpio_watch.ev, NULL) == -1) {
			snprintf(err, errlen, "cannot watch the sim chips' "
			    "inotify instance");
			return -1;
		}
	}
	/* Not through a symlink, as the open hook opened it. */
	if ((gm->wd = inotify_add_watch(gpio_watch.fd, c->chip,
	    IN_MODIFY | IN_DONT_FOLLOW)) == -1) {
		snprintf(err, errlen, "watching sim chip %s: %s", c->chip,
		    strerror(errno));
		return -1;
	}
	log_debug("%s: sim chip %s watched (watch %d)", dev_inst_id(in),
	    c->chip, gm->wd);
	return 0;
}

/* The worker answered a CHANGED: the next may go. */
static void
gpio_main_msg(struct inst *in, const struct dev_msg *m)
{
	struct gpio_main *gm = dev_inst_priv(in);

	if (gm == NULL || m->op != GPIO_DEV_SIM_SEEN || m->len != 0) {
		log_rl(gm != NULL ? &gm->rl : &gpio_watch.rl, LOG_WARNING,
		    "%s: its worker sent a bad message (op %u, %u bytes)",
		    dev_inst_id(in), m->op, m->len);
		return;
	}
	if (!gm->sent)
		return;		/* not asked for: nothing to go on with */
	gm->sent = false;
	if (gm->changed)
		gpio_main_notify(in, gm);
}

/* A new worker compares once: the file may have changed since main
 * opened it or since the last worker's last compare. */
static void
gpio_main_worker_ready(struct inst *in)
{
	struct gpio_main *gm = dev_inst_priv(in);

	if (gm == NULL)
		return;
	gm->sent = gm->changed = false;
	gpio_main_notify(in, gm);
}

static void
gpio_main_worker_gone(struct inst *in)
{
	struct gpio_main *gm = dev_inst_priv(in);

	if (gm != NULL)
		gm->sent = gm->changed = false;
}

static void
gpio_main_stop(struct inst *in)
{
	struct gpio_main *gm = dev_inst_priv(in);

	if (gm == NULL)
		return;
	dev_inst_set_priv(in, NULL);
	free(gm);
	if (--gpio_watch.users > 0)
		return;
	if (gpio_watch.ev != NULL)
		event_free(gpio_watch.ev);
	gpio_watch.ev = NULL;
	if (gpio_watch.fd != -1)
		close(gpio_watch.fd);
	gpio_watch.fd = -1;
}

/* ---- the worker's side of the device messages ---- */

/* main says the sim chip file changed (or the worker is new). */
static void
gpio_worker_msg(struct dev_ctx *ctx, const struct dev_msg *m, int fd)
{
	struct gpio_state *s = ctx->priv;

	if (fd != -1)
		close(fd);	/* main sends none */
	if (s == NULL)
		return;
	if (m->op != GPIO_DEV_SIM_CHANGED || m->len != 0 ||
	    s->be != &gpio_sim_backend || s->map == NULL) {
		log_rl(&s->rl, LOG_WARNING, "%s: main sent a message this "
		    "device does not take (op %u, %u bytes)", ctx->id, m->op,
		    m->len);
		return;
	}
	gpio_sim_changed(s);
}

const struct dev_ops gpio_ops = {
	.name = "gpio",
	.virtio_id = 41,
	.num_queues = 2,
	.features = UINT64_C(1) << VIRTIO_GPIO_F_IRQ,
	.queue_stop = gpio_queue_stop,
	.cfg_size = sizeof(struct gpio_cfg),
	.config_space_size = 8,
	.parse = gpio_parse,
	.claims = gpio_claims,
	.config_space = gpio_config_space,
	.open = gpio_open,
	.preopen = gpio_preopen,
	.init = gpio_init,
	.run = gpio_run,
	.reset = gpio_reset,
	.fini = gpio_fini,
	.worker_msg = gpio_worker_msg,
	.main_start = gpio_main_start,
	.main_msg = gpio_main_msg,
	.main_worker_ready = gpio_main_worker_ready,
	.main_worker_gone = gpio_main_worker_gone,
	.main_stop = gpio_main_stop,
};
