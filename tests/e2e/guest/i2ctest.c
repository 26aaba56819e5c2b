// SPDX-License-Identifier: BSD-3-Clause
/*
 * i2ctest: a small I2C client for the e2e guests, built static by the test
 * (e2e_static_cc) since the guest has no libc and no i2c-tools. It uses
 * i2c-dev (/dev/i2c-N) only: I2C_FUNCS, I2C_RDWR for plain I2C transfers
 * and the SMBus ioctl (I2C_SLAVE + I2C_SMBUS) for adapters without
 * I2C_FUNC_I2C (i2c-stub) and for probing.
 *
 * Usage: i2ctest [OPTIONS] COMMAND [ARGS]
 *
 *   buses                  list the I2C adapters
 *   funcs                  the adapter's functionality (I2C_FUNCS)
 *   probe [FIRST LAST]     addresses that answer (default 0x08 to 0x77),
 *                          like i2cdetect: SMBus quick write, or read byte
 *                          for 0x30-0x37 and 0x50-0x5f (see -p)
 *   write ADDR [BYTE...]   one write message (no bytes: zero-length write)
 *   read ADDR N            one read message of N bytes
 *   wr ADDR BYTE... -- N   a write then a read of N bytes, one transfer
 *                          with a repeated start (I2C_RDWR), or in SMBus
 *                          mode a read byte data / I2C block read
 *   loop ADDR SIZE MS      for MS milliseconds, over and over, on a
 *                          24C02-like EEPROM at ADDR (8-byte pages, a
 *                          one-byte address): write a page of [0, SIZE)
 *                          with bytes that change each round, read it
 *                          back (wr), compare (I2C_RDWR only; see "The
 *                          loop" below)
 *
 * Options:
 *   -b BUS     N, i2c-N, /dev/i2c-N, or an adapter name (fnmatch pattern,
 *              e.g. -b 'i2c_virtio*', -b 'SMBus stub*'). Default: the
 *              only adapter there is.
 *   -m MODE    transfers: auto (default: i2c if the adapter has
 *              I2C_FUNC_I2C, else smbus), i2c (I2C_RDWR) or smbus
 *   -p PROBE   probe with auto (default), quick or read
 *   -w MS      wait up to MS for the adapter to appear (default 3000)
 *
 * Numbers (ADDR, BYTE, N) in C notation: 0x50, 80, 0120. ADDR is 7 bits.
 *
 * SMBus mode maps: write with 0 bytes = quick write, 1 = send byte, 2 =
 * write byte data, more = I2C block write (command + up to 32 bytes);
 * read 1 = receive byte, read 0 = quick read; wr ADDR CMD -- 1 = read
 * byte data, wr ADDR CMD -- N = I2C block read (N <= 32). Anything else
 * needs I2C_FUNC_I2C.
 *
 * Output (stdout, one record per line, key=value; data last, as two-digit
 * hex bytes separated by spaces; "-" for none):
 *   bus=0 name=SMBus stub driver                   (buses; name to the end)
 *   buses n=1
 *   funcs bits=0x... i2c=0 smbus-quick=1 ... 10bit=0 ...
 *   probe mode=auto first=0x08 last=0x77 found=0x50,0x51 busy=-
 *   write addr=0x50 mode=i2c len=3 data=00 01 02
 *   read addr=0x50 mode=i2c len=4 data=01 02 03 04
 *   wr addr=0x50 mode=i2c wlen=1 rlen=4 wdata=00 rdata=01 02 03 04
 *   xfer-error op=read addr=0x51 mode=i2c errno=6 (No such device or address)
 *   loop-progress ops=N xerr=E erased=Z wrong=X other=O up_ms=T
 *   loop-xerr round=N op=write|read page=0x10 errno=121  (a failed transfer)
 *   loop-erased round=N page=0x10                (read back all ff)
 *   loop-wrong round=N page=0x10 want=.. got=..  (read back other data)
 *   loop-other round=N op=.. page=.. errno=E (...)  (another errno)
 *   loop-end ops=N xerr=E erased=Z wrong=X other=O up_ms=T
 * Errors other than a failed transfer go to stderr, "i2ctest: error: ...".
 *
 * The loop (tests/e2e/restart.sh kills the device's worker under it): a
 * transfer the device completes with VIRTIO_I2C_MSG_ERR comes back from
 * I2C_RDWR short, which is EREMOTEIO here; those are counted (xerr) and
 * the round goes on with the next page. ops counts the rounds whose page
 * read back as written. A read that returns other data is wrong, except
 * that data all 0xff (an erased EEPROM) is counted apart (erased): the
 * content of a simulated EEPROM can go with the process that simulates
 * it. Any other errno is not allowed. loop-progress comes every second.
 *
 * Exit status: 0 success, 1 usage or setup error, 2 the transfer failed
 * (the device did not answer, or the adapter reported an error), 3 loop
 * read wrong data or saw an error other than EREMOTEIO.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <linux/i2c.h>
#include <linux/i2c-dev.h>

#define MAXBUF 8192

static const char *opt_bus;
static const char *opt_mode = "auto";
static const char *opt_probe = "auto";
static unsigned opt_wait_ms = 3000;

static int bus_fd = -1, bus_num = -1;
static unsigned long bus_funcs;
static int smbus_mode;

static void die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("i2ctest: error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void usage(void)
{
	fputs("usage: i2ctest [-b BUS] [-m auto|i2c|smbus] [-p auto|quick|read] [-w MS]\n"
	      "               COMMAND [ARGS]\n"
	      "commands: buses | funcs | probe [FIRST LAST] | write ADDR [BYTE...] |\n"
	      "          read ADDR N | wr ADDR BYTE... -- N | loop ADDR SIZE MS\n", stderr);
	exit(1);
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

static int parse_num(const char *s, unsigned long max, unsigned long *v)
{
	char *end;

	if (!*s || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	*v = strtoul(s, &end, 0);
	return errno || *end || *v > max ? -1 : 0;
}

static unsigned long num_arg(const char *s, unsigned long max, const char *what)
{
	unsigned long v;

	if (parse_num(s, max, &v))
		die("bad %s '%s' (a number up to %#lx)", what, s, max);
	return v;
}

static void print_data(const char *key, const unsigned char *b, size_t n)
{
	printf(" %s=", key);
	if (!n)
		putchar('-');
	for (size_t i = 0; i < n; i++)
		printf(i ? " %02x" : "%02x", b[i]);
}

/* ---- adapters ------------------------------------------------------- */

static int bus_list(int **nums)
{
	DIR *d = opendir("/dev");
	struct dirent *e;
	unsigned long v;
	int *a = NULL, n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, "i2c-", 4) || parse_num(e->d_name + 4, INT_MAX, &v))
			continue;
		a = realloc(a, (n + 1) * sizeof(*a));
		if (!a)
			die("out of memory");
		a[n++] = (int)v;
	}
	closedir(d);
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && a[j - 1] > a[j]; j--) {
			int t = a[j];

			a[j] = a[j - 1];
			a[j - 1] = t;
		}
	*nums = a;
	return n;
}

static void bus_name(int n, char *buf, size_t len)
{
	char p[64];
	FILE *f;

	snprintf(p, sizeof(p), "/sys/class/i2c-dev/i2c-%d/name", n);
	f = fopen(p, "r");
	if (!f) {
		snprintf(p, sizeof(p), "/sys/bus/i2c/devices/i2c-%d/name", n);
		f = fopen(p, "r");
	}
	buf[0] = 0;
	if (f) {
		if (!fgets(buf, (int)len, f))
			buf[0] = 0;
		fclose(f);
	}
	buf[strcspn(buf, "\n")] = 0;
}

/* -1: not (yet) found, -2: ambiguous. */
static int try_find_bus(char *why, size_t whylen)
{
	unsigned long v;
	int *nums, n, found = -1, matches = 0;
	const char *b = opt_bus;

	if (b && !strncmp(b, "/dev/", 5))
		b += 5;
	if (b && !strncmp(b, "i2c-", 4) && !parse_num(b + 4, INT_MAX, &v))
		b += 4;
	if (b && !parse_num(b, INT_MAX, &v)) {
		char p[64];

		snprintf(p, sizeof(p), "/dev/i2c-%lu", v);
		if (access(p, F_OK)) {
			snprintf(why, whylen, "%s: %s", p, strerror(errno));
			return -1;
		}
		return (int)v;
	}
	n = bus_list(&nums);
	for (int i = 0; i < n; i++) {
		char name[128];

		bus_name(nums[i], name, sizeof(name));
		if (b && fnmatch(b, name, 0))
			continue;
		if (!matches++)
			found = nums[i];
	}
	free(nums);
	if (matches > 1) {
		snprintf(why, whylen, "%d I2C adapters match%s%s (use -b; see i2ctest buses)",
			 matches, b ? " " : "", b ? b : "");
		return -2;
	}
	if (!matches)
		snprintf(why, whylen, "no I2C adapter%s%s in /dev (is i2c-dev loaded?)",
			 b ? " named " : "", b ? b : "");
	return found;
}

static void open_bus(void)
{
	char why[256] = "", p[64];
	long long end = now_ms() + opt_wait_ms;
	int n;

	for (;;) {
		n = try_find_bus(why, sizeof(why));
		if (n >= 0 || n == -2 || now_ms() >= end)
			break;
		sleep_ms(50);
	}
	if (n < 0)
		die("%s", why);
	snprintf(p, sizeof(p), "/dev/i2c-%d", n);
	bus_fd = open(p, O_RDWR | O_CLOEXEC);
	if (bus_fd < 0)
		die("%s: %s", p, strerror(errno));
	bus_num = n;
	if (ioctl(bus_fd, I2C_FUNCS, &bus_funcs) < 0)
		die("I2C_FUNCS on %s: %s", p, strerror(errno));
	if (!strcmp(opt_mode, "smbus"))
		smbus_mode = 1;
	else if (!strcmp(opt_mode, "i2c"))
		smbus_mode = 0;
	else
		smbus_mode = !(bus_funcs & I2C_FUNC_I2C);
	if (!smbus_mode && !(bus_funcs & I2C_FUNC_I2C))
		die("-m i2c: adapter i2c-%d has no I2C_FUNC_I2C (funcs %#lx)", n, bus_funcs);
}

static const char *mode_name(void)
{
	return smbus_mode ? "smbus" : "i2c";
}

/* ---- transfers ------------------------------------------------------ */

static int xfer_error(const char *op, unsigned addr, int err)
{
	printf("xfer-error op=%s addr=0x%02x mode=%s errno=%d (%s)\n", op, addr,
	       mode_name(), err, strerror(err));
	fflush(stdout);
	return 2;
}

static int set_addr(unsigned addr)
{
	if (ioctl(bus_fd, I2C_SLAVE, (unsigned long)addr) < 0)
		return -1;
	return 0;
}

static int smbus(char rw, unsigned char cmd, int size, union i2c_smbus_data *data)
{
	struct i2c_smbus_ioctl_data a = { rw, cmd, (unsigned)size, data };

	return ioctl(bus_fd, I2C_SMBUS, &a);
}

static void need_func(unsigned long f, const char *what)
{
	if (!(bus_funcs & f))
		die("adapter i2c-%d lacks %s (funcs %#lx)", bus_num, what, bus_funcs);
}

/* I2C_RDWR: msgs must all go through; a short count is a failure too. */
static int rdwr(struct i2c_msg *m, unsigned n)
{
	struct i2c_rdwr_ioctl_data d = { m, n };
	int r = ioctl(bus_fd, I2C_RDWR, &d);

	if (r < 0)
		return -1;
	if ((unsigned)r != n) {
		errno = EREMOTEIO;
		return -1;
	}
	return 0;
}

static int do_write(unsigned addr, unsigned char *w, size_t wn)
{
	if (!smbus_mode) {
		struct i2c_msg m = { (__u16)addr, 0, (__u16)wn, w };

		if (rdwr(&m, 1) < 0)
			return -1;
		return 0;
	}
	if (set_addr(addr) < 0)
		return -1;
	if (wn == 0) {
		need_func(I2C_FUNC_SMBUS_QUICK, "SMBus quick");
		return smbus(I2C_SMBUS_WRITE, 0, I2C_SMBUS_QUICK, NULL);
	}
	if (wn == 1) {
		need_func(I2C_FUNC_SMBUS_WRITE_BYTE, "SMBus send byte");
		return smbus(I2C_SMBUS_WRITE, w[0], I2C_SMBUS_BYTE, NULL);
	}
	if (wn == 2) {
		union i2c_smbus_data d = { .byte = w[1] };

		need_func(I2C_FUNC_SMBUS_WRITE_BYTE_DATA, "SMBus write byte data");
		return smbus(I2C_SMBUS_WRITE, w[0], I2C_SMBUS_BYTE_DATA, &d);
	} else {
		union i2c_smbus_data d;

		if (wn - 1 > I2C_SMBUS_BLOCK_MAX)
			die("SMBus mode: at most %d bytes after the command byte",
			    I2C_SMBUS_BLOCK_MAX);
		need_func(I2C_FUNC_SMBUS_WRITE_I2C_BLOCK, "SMBus I2C block write");
		d.block[0] = (unsigned char)(wn - 1);
		memcpy(d.block + 1, w + 1, wn - 1);
		return smbus(I2C_SMBUS_WRITE, w[0], I2C_SMBUS_I2C_BLOCK_DATA, &d);
	}
}

static int do_read(unsigned addr, unsigned char *r, size_t rn)
{
	union i2c_smbus_data d;

	if (!smbus_mode) {
		struct i2c_msg m = { (__u16)addr, I2C_M_RD, (__u16)rn, r };

		return rdwr(&m, 1);
	}
	if (set_addr(addr) < 0)
		return -1;
	if (rn == 0) {
		need_func(I2C_FUNC_SMBUS_QUICK, "SMBus quick");
		return smbus(I2C_SMBUS_READ, 0, I2C_SMBUS_QUICK, NULL);
	}
	if (rn > 1)
		die("SMBus mode: a plain read of more than 1 byte needs I2C_FUNC_I2C");
	need_func(I2C_FUNC_SMBUS_READ_BYTE, "SMBus receive byte");
	if (smbus(I2C_SMBUS_READ, 0, I2C_SMBUS_BYTE, &d) < 0)
		return -1;
	r[0] = d.byte;
	return 0;
}

static int do_wr(unsigned addr, unsigned char *w, size_t wn, unsigned char *r, size_t rn)
{
	union i2c_smbus_data d;

	if (!smbus_mode) {
		struct i2c_msg m[2] = {
			{ (__u16)addr, 0, (__u16)wn, w },
			{ (__u16)addr, I2C_M_RD, (__u16)rn, r },
		};

		return rdwr(m, 2);
	}
	if (wn != 1 || rn == 0)
		die("SMBus mode: wr takes one command byte and reads 1 to %d bytes",
		    I2C_SMBUS_BLOCK_MAX);
	if (set_addr(addr) < 0)
		return -1;
	if (rn == 1) {
		need_func(I2C_FUNC_SMBUS_READ_BYTE_DATA, "SMBus read byte data");
		if (smbus(I2C_SMBUS_READ, w[0], I2C_SMBUS_BYTE_DATA, &d) < 0)
			return -1;
		r[0] = d.byte;
		return 0;
	}
	if (rn > I2C_SMBUS_BLOCK_MAX)
		die("SMBus mode: at most %d bytes in an I2C block read", I2C_SMBUS_BLOCK_MAX);
	need_func(I2C_FUNC_SMBUS_READ_I2C_BLOCK, "SMBus I2C block read");
	d.block[0] = (unsigned char)rn;
	if (smbus(I2C_SMBUS_READ, w[0], I2C_SMBUS_I2C_BLOCK_DATA, &d) < 0)
		return -1;
	if (d.block[0] != rn) {
		errno = EPROTO;
		return -1;
	}
	memcpy(r, d.block + 1, rn);
	return 0;
}

/* ---- commands ------------------------------------------------------- */

static int cmd_buses(void)
{
	int *nums, n = bus_list(&nums);

	for (int i = 0; i < n; i++) {
		char name[128];

		bus_name(nums[i], name, sizeof(name));
		printf("bus=%d name=%s\n", nums[i], name[0] ? name : "-");
	}
	printf("buses n=%d\n", n);
	free(nums);
	return 0;
}

static int cmd_funcs(void)
{
	static const struct { unsigned long bit; const char *name; } f[] = {
		{ I2C_FUNC_I2C, "i2c" },
		{ I2C_FUNC_10BIT_ADDR, "10bit" },
		{ I2C_FUNC_PROTOCOL_MANGLING, "mangling" },
		{ I2C_FUNC_SMBUS_PEC, "pec" },
		{ I2C_FUNC_NOSTART, "nostart" },
		{ I2C_FUNC_SLAVE, "slave" },
		{ I2C_FUNC_SMBUS_QUICK, "smbus-quick" },
		{ I2C_FUNC_SMBUS_READ_BYTE, "smbus-read-byte" },
		{ I2C_FUNC_SMBUS_WRITE_BYTE, "smbus-write-byte" },
		{ I2C_FUNC_SMBUS_READ_BYTE_DATA, "smbus-read-byte-data" },
		{ I2C_FUNC_SMBUS_WRITE_BYTE_DATA, "smbus-write-byte-data" },
		{ I2C_FUNC_SMBUS_READ_WORD_DATA, "smbus-read-word-data" },
		{ I2C_FUNC_SMBUS_WRITE_WORD_DATA, "smbus-write-word-data" },
		{ I2C_FUNC_SMBUS_PROC_CALL, "smbus-proc-call" },
		{ I2C_FUNC_SMBUS_READ_BLOCK_DATA, "smbus-read-block-data" },
		{ I2C_FUNC_SMBUS_WRITE_BLOCK_DATA, "smbus-write-block-data" },
		{ I2C_FUNC_SMBUS_READ_I2C_BLOCK, "smbus-read-i2c-block" },
		{ I2C_FUNC_SMBUS_WRITE_I2C_BLOCK, "smbus-write-i2c-block" },
	};

	printf("funcs bus=%d bits=%#lx", bus_num, bus_funcs);
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		printf(" %s=%d", f[i].name, !!(bus_funcs & f[i].bit));
	printf("\n");
	return 0;
}

static int cmd_probe(int argc, char **argv)
{
	unsigned long first = 0x08, last = 0x77;
	char found[128 * 5 + 2] = "", busy[128 * 5 + 2] = "";
	size_t fl = 0, bl = 0;

	if (argc != 0 && argc != 2)
		usage();
	if (argc == 2) {
		first = num_arg(argv[0], 0x7f, "FIRST");
		last = num_arg(argv[1], 0x7f, "LAST");
	}
	if (strcmp(opt_probe, "auto") && strcmp(opt_probe, "quick") && strcmp(opt_probe, "read"))
		die("-p '%s' is not auto, quick or read", opt_probe);
	for (unsigned long a = first; a <= last; a++) {
		int use_read, r;

		if (!strcmp(opt_probe, "auto"))
			use_read = (a >= 0x30 && a <= 0x37) || (a >= 0x50 && a <= 0x5f);
		else
			use_read = !strcmp(opt_probe, "read");
		/* i2cdetect's fallbacks when the adapter lacks one of the two */
		if (use_read && !(bus_funcs & I2C_FUNC_SMBUS_READ_BYTE))
			use_read = 0;
		if (!use_read && !(bus_funcs & I2C_FUNC_SMBUS_QUICK))
			use_read = 1;
		if (use_read)
			need_func(I2C_FUNC_SMBUS_READ_BYTE, "SMBus quick and receive byte");
		if (ioctl(bus_fd, I2C_SLAVE, a) < 0) {
			if (errno == EBUSY) {
				bl += (size_t)snprintf(busy + bl, sizeof(busy) - bl,
						       "%s0x%02lx", bl ? "," : "", a);
				continue;
			}
			die("I2C_SLAVE 0x%02lx: %s", a, strerror(errno));
		}
		if (use_read) {
			union i2c_smbus_data d;

			r = smbus(I2C_SMBUS_READ, 0, I2C_SMBUS_BYTE, &d);
		} else {
			r = smbus(I2C_SMBUS_WRITE, 0, I2C_SMBUS_QUICK, NULL);
		}
		if (r >= 0)
			fl += (size_t)snprintf(found + fl, sizeof(found) - fl, "%s0x%02lx",
					       fl ? "," : "", a);
	}
	printf("probe bus=%d mode=%s first=0x%02lx last=0x%02lx found=%s busy=%s\n", bus_num,
	       opt_probe, first, last, fl ? found : "-", bl ? busy : "-");
	return 0;
}

static size_t parse_bytes(int argc, char **argv, unsigned char *b)
{
	if (argc > MAXBUF)
		die("too many bytes (at most %d)", MAXBUF);
	for (int i = 0; i < argc; i++)
		b[i] = (unsigned char)num_arg(argv[i], 0xff, "BYTE");
	return (size_t)argc;
}

static int cmd_write(int argc, char **argv)
{
	static unsigned char w[MAXBUF];
	unsigned addr;
	size_t wn;

	if (argc < 1)
		usage();
	addr = (unsigned)num_arg(argv[0], 0x7f, "ADDR");
	wn = parse_bytes(argc - 1, argv + 1, w);
	if (do_write(addr, w, wn) < 0)
		return xfer_error("write", addr, errno);
	printf("write addr=0x%02x mode=%s len=%zu", addr, mode_name(), wn);
	print_data("data", w, wn);
	printf("\n");
	return 0;
}

static int cmd_read(int argc, char **argv)
{
	static unsigned char r[MAXBUF];
	unsigned addr;
	size_t rn;

	if (argc != 2)
		usage();
	addr = (unsigned)num_arg(argv[0], 0x7f, "ADDR");
	rn = num_arg(argv[1], MAXBUF, "N");
	if (do_read(addr, r, rn) < 0)
		return xfer_error("read", addr, errno);
	printf("read addr=0x%02x mode=%s len=%zu", addr, mode_name(), rn);
	print_data("data", r, rn);
	printf("\n");
	return 0;
}

static int cmd_wr(int argc, char **argv)
{
	static unsigned char w[MAXBUF], r[MAXBUF];
	unsigned addr;
	size_t wn, rn;
	int sep = -1;

	for (int i = 0; i < argc; i++)
		if (!strcmp(argv[i], "--"))
			sep = i;
	if (argc < 4 || sep < 2 || sep != argc - 2)
		usage();
	addr = (unsigned)num_arg(argv[0], 0x7f, "ADDR");
	wn = parse_bytes(sep - 1, argv + 1, w);
	rn = num_arg(argv[argc - 1], MAXBUF, "N");
	if (do_wr(addr, w, wn, r, rn) < 0)
		return xfer_error("wr", addr, errno);
	printf("wr addr=0x%02x mode=%s wlen=%zu rlen=%zu", addr, mode_name(), wn, rn);
	print_data("wdata", w, wn);
	print_data("rdata", r, rn);
	printf("\n");
	return 0;
}

struct loop_counts {
	unsigned long ops, xerr, erased, wrong, other;
};

static void loop_report(const char *key, const struct loop_counts *c, long long t0)
{
	printf("%s ops=%lu xerr=%lu erased=%lu wrong=%lu other=%lu up_ms=%lld\n", key, c->ops,
	       c->xerr, c->erased, c->wrong, c->other, now_ms() - t0);
}

/* A failed transfer of the loop: counted by its errno. */
static void loop_xfer_failed(struct loop_counts *c, unsigned long round, const char *op,
			     unsigned page, int err)
{
	if (err == EREMOTEIO) {
		printf("loop-xerr round=%lu op=%s page=0x%02x errno=%d\n", round, op, page, err);
		c->xerr++;
	} else {
		printf("loop-other round=%lu op=%s page=0x%02x errno=%d (%s)\n", round, op, page,
		       err, strerror(err));
		c->other++;
	}
}

static int cmd_loop(int argc, char **argv)
{
	struct loop_counts c = { 0, 0, 0, 0, 0 };
	unsigned long size, ms, round;
	long long t0, end, report;
	unsigned addr;

	if (argc != 3)
		usage();
	addr = (unsigned)num_arg(argv[0], 0x7f, "ADDR");
	size = num_arg(argv[1], 256, "SIZE");
	ms = num_arg(argv[2], INT_MAX, "MS");
	if (size < 8 || size % 8)
		die("SIZE must be a multiple of the 8-byte page");
	if (smbus_mode)
		die("loop needs I2C_FUNC_I2C (-m i2c)");
	t0 = now_ms();
	end = t0 + (long long)ms;
	report = t0 + 1000;
	for (round = 0; now_ms() < end; round++) {
		unsigned char w[9], r[8], ff[8];
		unsigned page = (unsigned)(round % (size / 8)) * 8;

		/* the page's address, then 8 bytes that differ from the
		 * last round's on this page and are never all 0xff */
		w[0] = (unsigned char)page;
		for (unsigned i = 0; i < 8; i++)
			w[1 + i] = (unsigned char)(round * 29 + i * 37 + 1);
		memset(ff, 0xff, sizeof(ff));
		if (do_write(addr, w, sizeof(w)) < 0) {
			loop_xfer_failed(&c, round, "write", page, errno);
		} else if (do_wr(addr, w, 1, r, sizeof(r)) < 0) {
			loop_xfer_failed(&c, round, "read", page, errno);
		} else if (!memcmp(r, w + 1, sizeof(r))) {
			c.ops++;
		} else if (!memcmp(r, ff, sizeof(r))) {
			printf("loop-erased round=%lu page=0x%02x\n", round, page);
			c.erased++;
		} else {
			printf("loop-wrong round=%lu page=0x%02x", round, page);
			print_data("want", w + 1, sizeof(r));
			print_data("got", r, sizeof(r));
			printf("\n");
			c.wrong++;
		}
		if (now_ms() >= report) {
			loop_report("loop-progress", &c, t0);
			report += 1000;
		}
	}
	loop_report("loop-end", &c, t0);
	return c.wrong || c.other ? 3 : 0;
}

int main(int argc, char **argv)
{
	unsigned long v;
	const char *cmd;
	int c, rc;

	while ((c = getopt(argc, argv, "+b:m:p:w:")) != -1) {
		switch (c) {
		case 'b':
			opt_bus = optarg;
			break;
		case 'm':
			if (strcmp(optarg, "auto") && strcmp(optarg, "i2c") && strcmp(optarg, "smbus"))
				die("-m '%s' is not auto, i2c or smbus", optarg);
			opt_mode = optarg;
			break;
		case 'p':
			opt_probe = optarg;
			break;
		case 'w':
			if (parse_num(optarg, UINT_MAX, &v))
				die("bad -w '%s'", optarg);
			opt_wait_ms = (unsigned)v;
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
	/* Unbuffered enough for a host watching the console. */
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (!strcmp(cmd, "buses"))
		return argc ? (usage(), 1) : cmd_buses();
	if (strcmp(cmd, "funcs") && strcmp(cmd, "probe") && strcmp(cmd, "write") &&
	    strcmp(cmd, "read") && strcmp(cmd, "wr") && strcmp(cmd, "loop"))
		usage();
	open_bus();
	if (!strcmp(cmd, "funcs"))
		rc = argc ? (usage(), 1) : cmd_funcs();
	else if (!strcmp(cmd, "probe"))
		rc = cmd_probe(argc, argv);
	else if (!strcmp(cmd, "write"))
		rc = cmd_write(argc, argv);
	else if (!strcmp(cmd, "read"))
		rc = cmd_read(argc, argv);
	else if (!strcmp(cmd, "loop"))
		rc = cmd_loop(argc, argv);
	else
		rc = cmd_wr(argc, argv);
	close(bus_fd);
	return rc;
}
