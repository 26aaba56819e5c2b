/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: the virtio-rng device (devices/rng.c), its request handling
 * driven by a hostile guest through the device harness (fuzz_dev.h: fake
 * guest memory, real rings, any chain the input describes).
 *
 * Input: the first byte picks the config (getrandom; a rate limit; a file
 * source; a rate-limited file source; a FIFO source that is often empty,
 * so requests are held and resumed when it fills); the rest is
 * fuzz_dev.h's.  Operation 6 writes 1-64 bytes (next byte) into the FIFO.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "fuzz_dev.h"

static char fifo_path[64];
static int fifo_fd = -1;	/* read/write: keeps a writer, drains it */
static char fifo_cfg[160];
static const char *configs[] = {
	"\"type\": \"rng\"",
	"\"type\": \"rng\", \"max_bytes\": 64, \"period_ms\": 1",
	"\"type\": \"rng\", \"source\": \"/dev/zero\"",
	"\"type\": \"rng\", \"source\": \"/dev/zero\", \"max_bytes\": 100, "
	    "\"period_ms\": 2",
	fifo_cfg,
};

static void
fifo_remove(void)
{
	unlink(fifo_path);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fz_quiet_logs("fuzz_rng");
	snprintf(fifo_path, sizeof(fifo_path), "/tmp/fuzz_rng.%d.fifo",
	    (int)getpid());
	unlink(fifo_path);
	if (mkfifo(fifo_path, 0600) == -1)
		abort();
	atexit(fifo_remove);
	if ((fifo_fd = open(fifo_path, O_RDWR | O_NONBLOCK | O_CLOEXEC)) == -1)
		abort();
	snprintf(fifo_cfg, sizeof(fifo_cfg), "\"type\": \"rng\", "
	    "\"source\": \"%s\"", fifo_path);
	return 0;
}

static void
fifo_feed(struct fdev *t, struct fz *f)
{
	uint8_t buf[64];
	size_t n = 1 + fz_u8(f) % sizeof(buf);

	fz_bytes(f, buf, n);
	if (write(fifo_fd, buf, n) == -1 && errno != EAGAIN)
		abort();
	event_base_loop(t->base, EVLOOP_NONBLOCK);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char buf[4096];

	/* Nothing left in the FIFO from the input before. */
	while (read(fifo_fd, buf, sizeof(buf)) > 0)
		;
	return fdev_main(data, size, configs,
	    sizeof(configs) / sizeof(configs[0]), 0, fifo_feed);
}
