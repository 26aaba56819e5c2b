// SPDX-License-Identifier: BSD-3-Clause
/*
 * gpiotest: a small GPIO client for the e2e guests, built static by the
 * test (e2e_static_cc) since the guest has no libc and no libgpiod. It
 * talks to the GPIO character device with the v2 uAPI of <linux/gpio.h>
 * only, so what it exercises is the guest kernel's gpiolib and the chip's
 * driver (gpio-virtio, gpio-sim, gpio-mockup).
 *
 * Usage: gpiotest [OPTIONS] COMMAND [ARGS]
 *
 *   chips                      list the GPIO chips
 *   info                       the chip and every line
 *   find NAME                  the offset of the line called NAME
 *   get LINE...                request the lines as inputs, print values
 *   set LINE VAL [VAL...]      request LINE as output with the first VAL,
 *                              then set each further VAL in turn; after
 *                              each, read the value back and wait -h ms
 *   wait-edge LINE rising|falling|both TIMEOUT_MS [COUNT]
 *                              request LINE as input with edge detection
 *                              and wait for COUNT (default 1) events
 *   loop OUT IN WANT MS        for MS milliseconds, over and over: set
 *                              OUT (an output, toggled each time), read
 *                              it back, read IN (an input) and expect
 *                              WANT; OUT is released and requested again
 *                              every 16 rounds; waits -h ms after each
 *                              round (see "The loop" below)
 *
 * Options:
 *   -c CHIP    /dev/gpiochipN path, gpiochipN, N, or a label (fnmatch
 *              pattern: -c 'virtio*', -c gpio-sim.0-node0). Default: the
 *              only chip there is.
 *   -b BIAS    as-is (default), pull-up, pull-down, disabled
 *   -d DRIVE   push-pull (default), open-drain, open-source (set)
 *   -l         active low
 *   -D US      debounce period in microseconds (get, wait-edge)
 *   -h MS      hold: how long set keeps the line after each value (0)
 *   -C NAME    consumer label (default "gpiotest")
 *   -w MS      wait up to MS for the chip to appear (default 3000)
 *
 * LINE is an offset or a line name. VAL is 0 or 1 (logical value: with
 * -l, 1 drives the line low).
 *
 * Output (stdout, one record per line, key=value, '-' for empty strings;
 * fflush'ed after each line so that a host watching the console sees it
 * at once):
 *   chip path=/dev/gpiochip0 name=gpiochip0 label=virtio1 lines=8
 *   line 0 name=LED0 consumer=- dir=input used=0 active_low=0 bias=as-is
 *        drive=push-pull edge=none debounce_us=0     (one line, info)
 *   find name=LED0 line=0
 *   get line=3 value=1
 *   set line=3 value=1 readback=1
 *   waiting line=3 edge=both value=0                 (wait-edge is armed)
 *   event line=3 edge=rising seqno=1 line_seqno=1 timestamp_ns=...
 *   timeout line=3 edge=both events=0
 *   loop-progress ops=N failed=F werr=W wrong=X rerr=R other=O up_ms=T
 *        maxgap_ms=G
 *   loop-werr round=N what=set|request-output|request-input|readback
 *        line=L errno=E kmsg=K                       (a round that failed)
 *   loop-wrong round=N line=L want=V got=G           (a wrong read)
 *   loop-rerr round=N line=L errno=E                 (a read that failed)
 *   loop-other round=N what=... line=L errno=E       (unexplained error)
 *   loop-end ops=N failed=F werr=W wrong=X rerr=R other=O up_ms=T maxgap_ms=G
 * Errors go to stderr as "gpiotest: error: ...".
 *
 * The loop (tests/e2e/restart.sh kills the device's worker under it):
 * gpiolib's set has no return value, so a set the device completes with
 * VIRTIO_GPIO_STATUS_ERR is seen only in the kernel log, where
 * gpio-virtio writes "GPIO request failed: LINE"; the loop reads
 * /dev/kmsg from where it ends at the start. werr counts those records
 * for OUT and IN (every request the device failed); a round with a
 * failed write (or a read-back that shows the old value, with such a
 * record) is "failed" and allowed; ops counts the rounds that went
 * through. A read that is wrong (IN not WANT, OUT not what was set with
 * no failed request to explain it) or that fails, and an error with no
 * failed request in the kernel log, are not allowed: loop exits 3.
 * loop-progress comes every second; maxgap_ms is the longest time from
 * the end of one round to the end of the next so far (with the loop's
 * start as the end of round -1): how long the device kept the loop
 * waiting at worst (tests/e2e/reload.sh prints it).
 *
 * Exit status: 0 success, 1 error (usage, no chip, ioctl failed), 2
 * wait-edge timed out before COUNT events, 3 loop saw a wrong or failed
 * read or an unexplained error.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <linux/gpio.h>

static const char *opt_chip;
static const char *opt_consumer = "gpiotest";
static uint64_t opt_flags; /* bias, drive, active low */
static unsigned opt_debounce_us;
static unsigned opt_hold_ms;
static unsigned opt_wait_ms = 3000;

static void die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("gpiotest: error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void out(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static void usage(void)
{
	fputs("usage: gpiotest [-c CHIP] [-b BIAS] [-d DRIVE] [-l] [-D US] [-h MS]\n"
	      "                [-C CONSUMER] [-w MS] COMMAND [ARGS]\n"
	      "commands: chips | info | find NAME | get LINE... |\n"
	      "          set LINE VAL [VAL...] |\n"
	      "          wait-edge LINE rising|falling|both TIMEOUT_MS [COUNT] |\n"
	      "          loop OUT IN WANT MS\n",
	      stderr);
	exit(1);
}

static const char *str_or_dash(const char *s)
{
	return s && *s ? s : "-";
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *v)
{
	char *end;

	if (!*s || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	*v = strtoul(s, &end, 0);
	return errno || *end || *v > max ? -1 : 0;
}

/* ---- chips ---------------------------------------------------------- */

static int chip_paths(char ***paths)
{
	DIR *d = opendir("/dev");
	struct dirent *e;
	char **v = NULL;
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, "gpiochip", 8) != 0 ||
		    !isdigit((unsigned char)e->d_name[8]))
			continue;
		v = realloc(v, (n + 1) * sizeof(*v));
		if (!v || asprintf(&v[n], "/dev/%s", e->d_name) < 0)
			die("out of memory");
		n++;
	}
	closedir(d);
	/* gpiochip2 before gpiochip10 */
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && (strlen(v[j - 1]) > strlen(v[j]) ||
		     (strlen(v[j - 1]) == strlen(v[j]) && strcmp(v[j - 1], v[j]) > 0)); j--) {
			char *t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	*paths = v;
	return n;
}

static int chip_info(const char *path, struct gpiochip_info *ci)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -1;
	memset(ci, 0, sizeof(*ci));
	if (ioctl(fd, GPIO_GET_CHIPINFO_IOCTL, ci) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Try once to find the chip; the path in *path, -1 if not (yet) there. */
static int try_open_chip(char **path, struct gpiochip_info *ci, char *why, size_t whylen)
{
	char **paths;
	int n = chip_paths(&paths), fd = -1, matches = 0;
	unsigned long num;

	if (opt_chip && strchr(opt_chip, '/')) {
		*path = strdup(opt_chip);
	} else if (opt_chip && !parse_uint(opt_chip, INT_MAX, &num)) {
		if (asprintf(path, "/dev/gpiochip%lu", num) < 0)
			die("out of memory");
	} else if (opt_chip && !strncmp(opt_chip, "gpiochip", 8) &&
		   !parse_uint(opt_chip + 8, INT_MAX, &num)) {
		if (asprintf(path, "/dev/%s", opt_chip) < 0)
			die("out of memory");
	} else {
		*path = NULL;
	}
	if (*path) {
		fd = chip_info(*path, ci);
		if (fd < 0)
			snprintf(why, whylen, "%s: %s", *path, strerror(errno));
		goto done;
	}
	/* The only chip, or the chip whose label matches. */
	for (int i = 0; i < n; i++) {
		struct gpiochip_info c;
		int f = chip_info(paths[i], &c);

		if (f < 0)
			continue;
		if (opt_chip && fnmatch(opt_chip, c.label, 0) != 0) {
			close(f);
			continue;
		}
		matches++;
		if (fd < 0) {
			fd = f;
			*ci = c;
			*path = strdup(paths[i]);
		} else {
			close(f);
		}
	}
	if (matches > 1) {
		close(fd);
		fd = -1;
		snprintf(why, whylen, "%d chips match%s%s (use -c; see gpiotest chips)",
			 matches, opt_chip ? " " : "", opt_chip ? opt_chip : "");
		errno = 0;
		matches = -1; /* do not wait: it will not get better */
	} else if (!matches) {
		snprintf(why, whylen, "no GPIO chip%s%s in /dev",
			 opt_chip ? " labelled " : "", opt_chip ? opt_chip : "");
	}
done:
	for (int i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
	return matches < 0 ? -2 : fd;
}

static int open_chip(char **path, struct gpiochip_info *ci)
{
	char why[256] = "";
	long long end = now_ms() + opt_wait_ms;
	int fd;

	for (;;) {
		fd = try_open_chip(path, ci, why, sizeof(why));
		if (fd >= 0)
			return fd;
		if (fd == -2 || now_ms() >= end)
			break;
		sleep_ms(50);
	}
	die("%s", why);
	return -1;
}

static void line_info(int cfd, unsigned off, struct gpio_v2_line_info *li)
{
	memset(li, 0, sizeof(*li));
	li->offset = off;
	if (ioctl(cfd, GPIO_V2_GET_LINEINFO_IOCTL, li) < 0)
		die("GPIO_V2_GET_LINEINFO_IOCTL line %u: %s", off, strerror(errno));
}

/* LINE: an offset, or a line name. */
static unsigned parse_line(int cfd, const struct gpiochip_info *ci, const char *s)
{
	unsigned long v;

	if (!parse_uint(s, UINT_MAX, &v)) {
		if (v >= ci->lines)
			die("line %lu out of range: %s has %u lines", v, ci->name, ci->lines);
		return (unsigned)v;
	}
	for (unsigned i = 0; i < ci->lines; i++) {
		struct gpio_v2_line_info li;

		line_info(cfd, i, &li);
		if (!strcmp(li.name, s))
			return i;
	}
	die("no line named '%s' on %s", s, ci->name);
	return 0;
}

/* ---- printing ------------------------------------------------------- */

static void print_line(const struct gpio_v2_line_info *li)
{
	uint64_t f = li->flags;
	const char *bias = "as-is", *drive = "push-pull", *edge = "none";
	unsigned debounce = 0;

	if (f & GPIO_V2_LINE_FLAG_BIAS_PULL_UP)
		bias = "pull-up";
	else if (f & GPIO_V2_LINE_FLAG_BIAS_PULL_DOWN)
		bias = "pull-down";
	else if (f & GPIO_V2_LINE_FLAG_BIAS_DISABLED)
		bias = "disabled";
	if (f & GPIO_V2_LINE_FLAG_OPEN_DRAIN)
		drive = "open-drain";
	else if (f & GPIO_V2_LINE_FLAG_OPEN_SOURCE)
		drive = "open-source";
	if ((f & GPIO_V2_LINE_FLAG_EDGE_RISING) && (f & GPIO_V2_LINE_FLAG_EDGE_FALLING))
		edge = "both";
	else if (f & GPIO_V2_LINE_FLAG_EDGE_RISING)
		edge = "rising";
	else if (f & GPIO_V2_LINE_FLAG_EDGE_FALLING)
		edge = "falling";
	for (unsigned i = 0; i < li->num_attrs && i < GPIO_V2_LINE_NUM_ATTRS_MAX; i++)
		if (li->attrs[i].id == GPIO_V2_LINE_ATTR_ID_DEBOUNCE)
			debounce = li->attrs[i].debounce_period_us;
	out("line %u name=%s consumer=%s dir=%s used=%d active_low=%d bias=%s "
	    "drive=%s edge=%s debounce_us=%u",
	    li->offset, str_or_dash(li->name), str_or_dash(li->consumer),
	    (f & GPIO_V2_LINE_FLAG_OUTPUT) ? "output" : "input",
	    !!(f & GPIO_V2_LINE_FLAG_USED), !!(f & GPIO_V2_LINE_FLAG_ACTIVE_LOW),
	    bias, drive, edge, debounce);
}

static void print_chip(const char *path, const struct gpiochip_info *ci)
{
	out("chip path=%s name=%s label=%s lines=%u", path, str_or_dash(ci->name),
	    str_or_dash(ci->label), ci->lines);
}

/* ---- line requests -------------------------------------------------- */

/* The request's fd, or -1 with errno set. */
static int try_request_lines(int cfd, const unsigned *offs, unsigned n, uint64_t flags,
			     int initial)
{
	struct gpio_v2_line_request req;
	unsigned a = 0;

	memset(&req, 0, sizeof(req));
	for (unsigned i = 0; i < n; i++)
		req.offsets[i] = offs[i];
	req.num_lines = n;
	snprintf(req.consumer, sizeof(req.consumer), "%s", opt_consumer);
	req.config.flags = flags | opt_flags;
	if (initial >= 0) {
		req.config.attrs[a].attr.id = GPIO_V2_LINE_ATTR_ID_OUTPUT_VALUES;
		req.config.attrs[a].attr.values = initial ? 1 : 0;
		req.config.attrs[a].mask = 1;
		a++;
	}
	if (opt_debounce_us && !(flags & GPIO_V2_LINE_FLAG_OUTPUT)) {
		req.config.attrs[a].attr.id = GPIO_V2_LINE_ATTR_ID_DEBOUNCE;
		req.config.attrs[a].attr.debounce_period_us = opt_debounce_us;
		req.config.attrs[a].mask = (n >= 64 ? ~0ULL : (1ULL << n) - 1);
		a++;
	}
	req.config.num_attrs = a;
	if (ioctl(cfd, GPIO_V2_GET_LINE_IOCTL, &req) < 0)
		return -1;
	return req.fd;
}

static int request_lines(int cfd, const unsigned *offs, unsigned n, uint64_t flags,
			 int initial, const char *what)
{
	int fd = try_request_lines(cfd, offs, n, flags, initial);

	if (fd < 0)
		die("GPIO_V2_GET_LINE_IOCTL (%s) line %u%s: %s", what, offs[0],
		    n > 1 ? " ..." : "", strerror(errno));
	return fd;
}

/* The lines' values in *bits; -1 with errno set if the ioctl failed. */
static int try_get_values(int lfd, unsigned n, uint64_t *bits)
{
	struct gpio_v2_line_values v = { 0, n >= 64 ? ~0ULL : (1ULL << n) - 1 };

	if (ioctl(lfd, GPIO_V2_LINE_GET_VALUES_IOCTL, &v) < 0)
		return -1;
	*bits = v.bits;
	return 0;
}

static uint64_t get_values(int lfd, unsigned n)
{
	uint64_t bits;

	if (try_get_values(lfd, n, &bits) < 0)
		die("GPIO_V2_LINE_GET_VALUES_IOCTL: %s", strerror(errno));
	return bits;
}

static int parse_val(const char *s)
{
	if (!strcmp(s, "0") || !strcmp(s, "1"))
		return *s - '0';
	die("value '%s' is not 0 or 1", s);
	return 0;
}

/* ---- commands ------------------------------------------------------- */

static int cmd_chips(void)
{
	char **paths;
	int n = chip_paths(&paths);

	for (int i = 0; i < n; i++) {
		struct gpiochip_info ci;
		int fd = chip_info(paths[i], &ci);

		if (fd < 0) {
			fprintf(stderr, "gpiotest: %s: %s\n", paths[i], strerror(errno));
			continue;
		}
		print_chip(paths[i], &ci);
		close(fd);
	}
	out("chips n=%d", n);
	return 0;
}

static int cmd_info(int cfd, const char *path, const struct gpiochip_info *ci)
{
	print_chip(path, ci);
	for (unsigned i = 0; i < ci->lines; i++) {
		struct gpio_v2_line_info li;

		line_info(cfd, i, &li);
		print_line(&li);
	}
	return 0;
}

static int cmd_get(int cfd, const struct gpiochip_info *ci, int argc, char **argv)
{
	unsigned offs[GPIO_V2_LINES_MAX];
	uint64_t bits;
	int lfd;

	if (argc < 1 || argc > GPIO_V2_LINES_MAX)
		usage();
	for (int i = 0; i < argc; i++)
		offs[i] = parse_line(cfd, ci, argv[i]);
	lfd = request_lines(cfd, offs, argc, GPIO_V2_LINE_FLAG_INPUT, -1, "input");
	bits = get_values(lfd, argc);
	for (int i = 0; i < argc; i++)
		out("get line=%u value=%d", offs[i], (int)((bits >> i) & 1));
	close(lfd);
	return 0;
}

static int cmd_set(int cfd, const struct gpiochip_info *ci, int argc, char **argv)
{
	unsigned off;
	int lfd;

	if (argc < 2)
		usage();
	off = parse_line(cfd, ci, argv[0]);
	for (int i = 1; i < argc; i++)
		parse_val(argv[i]);
	lfd = request_lines(cfd, &off, 1, GPIO_V2_LINE_FLAG_OUTPUT, parse_val(argv[1]),
			    "output");
	for (int i = 1; i < argc; i++) {
		int v = parse_val(argv[i]);

		if (i > 1) {
			struct gpio_v2_line_values lv = { (uint64_t)v, 1 };

			if (ioctl(lfd, GPIO_V2_LINE_SET_VALUES_IOCTL, &lv) < 0)
				die("GPIO_V2_LINE_SET_VALUES_IOCTL line %u value %d: %s",
				    off, v, strerror(errno));
		}
		out("set line=%u value=%d readback=%d", off, v, (int)(get_values(lfd, 1) & 1));
		if (opt_hold_ms)
			sleep_ms(opt_hold_ms);
	}
	close(lfd);
	return 0;
}

static int cmd_wait_edge(int cfd, const struct gpiochip_info *ci, int argc, char **argv)
{
	unsigned long timeout_ms, count = 1, got = 0;
	uint64_t flags = GPIO_V2_LINE_FLAG_INPUT;
	struct pollfd p;
	long long end;
	unsigned off;
	const char *edge;

	if (argc < 3 || argc > 4)
		usage();
	off = parse_line(cfd, ci, argv[0]);
	edge = argv[1];
	if (!strcmp(edge, "rising"))
		flags |= GPIO_V2_LINE_FLAG_EDGE_RISING;
	else if (!strcmp(edge, "falling"))
		flags |= GPIO_V2_LINE_FLAG_EDGE_FALLING;
	else if (!strcmp(edge, "both"))
		flags |= GPIO_V2_LINE_FLAG_EDGE_RISING | GPIO_V2_LINE_FLAG_EDGE_FALLING;
	else
		die("edge '%s' is not rising, falling or both", edge);
	if (parse_uint(argv[2], INT_MAX, &timeout_ms))
		die("bad TIMEOUT_MS '%s'", argv[2]);
	if (argc > 3 && (parse_uint(argv[3], INT_MAX, &count) || !count))
		die("bad COUNT '%s'", argv[3]);

	p.fd = request_lines(cfd, &off, 1, flags, -1, edge);
	p.events = POLLIN;
	out("waiting line=%u edge=%s value=%d", off, edge, (int)(get_values(p.fd, 1) & 1));
	end = now_ms() + (long long)timeout_ms;
	while (got < count) {
		struct gpio_v2_line_event ev[16];
		long long left = end - now_ms();
		ssize_t r;
		int pr;

		if (left <= 0)
			break;
		pr = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0)
			die("poll: %s", strerror(errno));
		if (pr == 0)
			break;
		r = read(p.fd, ev, sizeof(ev));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die("read line event: %s", strerror(errno));
		if (r % sizeof(ev[0]))
			die("read %zd bytes, not a whole number of events", r);
		for (size_t i = 0; i < (size_t)r / sizeof(ev[0]) && got < count; i++) {
			out("event line=%u edge=%s seqno=%u line_seqno=%u timestamp_ns=%" PRIu64,
			    ev[i].offset,
			    ev[i].id == GPIO_V2_LINE_EVENT_RISING_EDGE ? "rising" :
			    ev[i].id == GPIO_V2_LINE_EVENT_FALLING_EDGE ? "falling" : "?",
			    ev[i].seqno, ev[i].line_seqno, (uint64_t)ev[i].timestamp_ns);
			got++;
		}
	}
	close(p.fd);
	if (got < count) {
		out("timeout line=%u edge=%s events=%lu", off, edge, got);
		return 2;
	}
	return 0;
}

/* ---- loop ---------------------------------------------------------- */

/* /dev/kmsg, positioned at the end of the log: only what comes next. */
static int kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		die("/dev/kmsg: %s", strerror(errno));
	if (lseek(fd, 0, SEEK_END) < 0)
		die("/dev/kmsg: seek to the end: %s", strerror(errno));
	return fd;
}

/*
 * The new "GPIO request failed: LINE" records (gpio-virtio, a request
 * the device completed with VIRTIO_GPIO_STATUS_ERR) for line a or b.
 * Each read of /dev/kmsg returns one record; EAGAIN: no more; EPIPE:
 * records were overwritten before they were read (the reader moves on).
 */
static unsigned kmsg_gpio_failed(int kfd, unsigned a, unsigned b)
{
	static const char pat[] = "GPIO request failed: ";
	static char rec[8192]; /* a record longer than the buffer: EINVAL */
	unsigned n = 0;

	for (;;) {
		ssize_t r = read(kfd, rec, sizeof(rec) - 1);
		const char *p;

		if (r < 0 && (errno == EINTR || errno == EPIPE))
			continue;
		if (r <= 0)
			break;
		rec[r] = 0;
		p = strstr(rec, pat);
		if (p) {
			unsigned long l = strtoul(p + sizeof(pat) - 1, NULL, 10);

			if (l == a || l == b)
				n++;
		}
	}
	return n;
}

struct loop_counts {
	unsigned long ops, failed, werr, wrong, rerr, other;
	long long maxgap_ms;
};

static void loop_report(const char *key, const struct loop_counts *c, long long t0)
{
	out("%s ops=%lu failed=%lu werr=%lu wrong=%lu rerr=%lu other=%lu up_ms=%lld "
	    "maxgap_ms=%lld", key, c->ops, c->failed, c->werr, c->wrong, c->rerr, c->other,
	    now_ms() - t0, c->maxgap_ms);
}

static int cmd_loop(int cfd, const struct gpiochip_info *ci, int argc, char **argv)
{
	struct loop_counts c = { 0, 0, 0, 0, 0, 0, 0 };
	unsigned long ms, round;
	unsigned oline, iline;
	long long t0, end, report, last, t;
	int want, kfd, ofd = -1, ifd = -1, v = 1;

	if (argc != 4)
		usage();
	oline = parse_line(cfd, ci, argv[0]);
	iline = parse_line(cfd, ci, argv[1]);
	want = parse_val(argv[2]);
	if (parse_uint(argv[3], INT_MAX, &ms))
		die("bad MS '%s'", argv[3]);
	if (oline == iline)
		die("OUT and IN are the same line");
	kfd = kmsg_open();
	t0 = now_ms();
	end = t0 + (long long)ms;
	report = t0 + 1000;
	last = t0;
	for (round = 0; now_ms() < end; round++, v = !v) {
		const char *what = NULL;	/* the write that failed */
		unsigned wline = oline, kmsg;
		uint64_t bits;
		int err = 0, bad = 0, mismatch = -1;

		if (ifd < 0) {
			ifd = try_request_lines(cfd, &iline, 1, GPIO_V2_LINE_FLAG_INPUT, -1);
			if (ifd < 0)
				what = "request-input", wline = iline, err = errno;
		}
		if (!what && ofd >= 0 && round % 16 == 0) {
			close(ofd); /* the release is a write too */
			ofd = -1;
		}
		if (!what && ofd < 0) {
			ofd = try_request_lines(cfd, &oline, 1, GPIO_V2_LINE_FLAG_OUTPUT, v);
			if (ofd < 0)
				what = "request-output", err = errno;
		} else if (!what) {
			struct gpio_v2_line_values lv = { (uint64_t)v, 1 };

			if (ioctl(ofd, GPIO_V2_LINE_SET_VALUES_IOCTL, &lv) < 0)
				what = "set", err = errno;
		}
		if (!what) {
			if (try_get_values(ofd, 1, &bits) < 0) {
				out("loop-rerr round=%lu line=%u errno=%d", round, oline, errno);
				c.rerr++;
				bad = 1;
			} else if ((int)(bits & 1) != v) {
				mismatch = (int)(bits & 1);
			}
			if (try_get_values(ifd, 1, &bits) < 0) {
				out("loop-rerr round=%lu line=%u errno=%d", round, iline, errno);
				c.rerr++;
				bad = 1;
			} else if ((int)(bits & 1) != want) {
				out("loop-wrong round=%lu line=%u want=%d got=%d", round, iline,
				    want, (int)(bits & 1));
				c.wrong++;
				bad = 1;
			}
		}
		/* Synchronous: gpio-virtio logs before the ioctl returns. */
		kmsg = kmsg_gpio_failed(kfd, oline, iline);
		c.werr += kmsg;
		if (what && err == EINVAL && kmsg) {
			out("loop-werr round=%lu what=%s line=%u errno=%d kmsg=%u", round, what,
			    wline, err, kmsg);
			c.failed++;
			bad = 1;
		} else if (what) {
			out("loop-other round=%lu what=%s line=%u errno=%d (%s) kmsg=%u", round,
			    what, wline, err, strerror(err), kmsg);
			c.other++;
			bad = 1;
		} else if (mismatch >= 0 && kmsg) {
			/* the set failed: the line kept its old value */
			out("loop-werr round=%lu what=readback line=%u errno=0 kmsg=%u", round,
			    oline, kmsg);
			c.failed++;
			bad = 1;
		} else if (mismatch >= 0) {
			out("loop-wrong round=%lu line=%u want=%d got=%d", round, oline, v, mismatch);
			c.wrong++;
			bad = 1;
		}
		if (!bad)
			c.ops++;
		t = now_ms();
		if (t - last > c.maxgap_ms)
			c.maxgap_ms = t - last;
		last = t;
		if (t >= report) {
			loop_report("loop-progress", &c, t0);
			report += 1000;
		}
		if (opt_hold_ms)
			sleep_ms(opt_hold_ms);
	}
	if (ofd >= 0)
		close(ofd);
	if (ifd >= 0)
		close(ifd);
	c.werr += kmsg_gpio_failed(kfd, oline, iline);
	close(kfd);
	loop_report("loop-end", &c, t0);
	return c.wrong || c.rerr || c.other ? 3 : 0;
}

int main(int argc, char **argv)
{
	struct gpiochip_info ci;
	unsigned long v;
	char *path;
	const char *cmd;
	int c, cfd, rc;

	while ((c = getopt(argc, argv, "+c:b:d:lD:h:C:w:")) != -1) {
		switch (c) {
		case 'c':
			opt_chip = optarg;
			break;
		case 'b':
			opt_flags &= ~(uint64_t)(GPIO_V2_LINE_FLAG_BIAS_PULL_UP |
				GPIO_V2_LINE_FLAG_BIAS_PULL_DOWN | GPIO_V2_LINE_FLAG_BIAS_DISABLED);
			if (!strcmp(optarg, "pull-up"))
				opt_flags |= GPIO_V2_LINE_FLAG_BIAS_PULL_UP;
			else if (!strcmp(optarg, "pull-down"))
				opt_flags |= GPIO_V2_LINE_FLAG_BIAS_PULL_DOWN;
			else if (!strcmp(optarg, "disabled"))
				opt_flags |= GPIO_V2_LINE_FLAG_BIAS_DISABLED;
			else if (strcmp(optarg, "as-is"))
				die("bias '%s' is not as-is, pull-up, pull-down or disabled", optarg);
			break;
		case 'd':
			opt_flags &= ~(uint64_t)(GPIO_V2_LINE_FLAG_OPEN_DRAIN |
						 GPIO_V2_LINE_FLAG_OPEN_SOURCE);
			if (!strcmp(optarg, "open-drain"))
				opt_flags |= GPIO_V2_LINE_FLAG_OPEN_DRAIN;
			else if (!strcmp(optarg, "open-source"))
				opt_flags |= GPIO_V2_LINE_FLAG_OPEN_SOURCE;
			else if (strcmp(optarg, "push-pull"))
				die("drive '%s' is not push-pull, open-drain or open-source", optarg);
			break;
		case 'l':
			opt_flags |= GPIO_V2_LINE_FLAG_ACTIVE_LOW;
			break;
		case 'D':
			if (parse_uint(optarg, UINT_MAX, &v))
				die("bad -D '%s'", optarg);
			opt_debounce_us = v;
			break;
		case 'h':
			if (parse_uint(optarg, UINT_MAX, &v))
				die("bad -h '%s'", optarg);
			opt_hold_ms = v;
			break;
		case 'C':
			opt_consumer = optarg;
			break;
		case 'w':
			if (parse_uint(optarg, UINT_MAX, &v))
				die("bad -w '%s'", optarg);
			opt_wait_ms = v;
			break;
		default:
			usage();
		}
	}
	if (optind >= argc)
		usage();
	cmd = argv[optind++];
	argc -= optind;
	argv += optind;
	/* Drive flags only make sense for outputs. */
	if (strcmp(cmd, "set"))
		opt_flags &= ~(uint64_t)(GPIO_V2_LINE_FLAG_OPEN_DRAIN |
					 GPIO_V2_LINE_FLAG_OPEN_SOURCE);

	if (!strcmp(cmd, "chips"))
		return argc ? (usage(), 1) : cmd_chips();
	if (strcmp(cmd, "info") && strcmp(cmd, "find") && strcmp(cmd, "get") &&
	    strcmp(cmd, "set") && strcmp(cmd, "wait-edge") && strcmp(cmd, "loop"))
		usage();

	cfd = open_chip(&path, &ci);
	if (!strcmp(cmd, "info")) {
		rc = argc ? (usage(), 1) : cmd_info(cfd, path, &ci);
	} else if (!strcmp(cmd, "find")) {
		if (argc != 1)
			usage();
		rc = 0;
		out("find name=%s line=%u", argv[0], parse_line(cfd, &ci, argv[0]));
	} else if (!strcmp(cmd, "get")) {
		rc = cmd_get(cfd, &ci, argc, argv);
	} else if (!strcmp(cmd, "set")) {
		rc = cmd_set(cfd, &ci, argc, argv);
	} else if (!strcmp(cmd, "loop")) {
		rc = cmd_loop(cfd, &ci, argc, argv);
	} else {
		rc = cmd_wait_edge(cfd, &ci, argc, argv);
	}
	close(cfd);
	free(path);
	return rc;
}
