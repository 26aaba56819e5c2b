/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: the virtio-gpio device (devices/gpio.c) with its sim
 * backend, driven by a hostile guest through the device harness
 * (fuzz_dev.h): any chain on the requestq (queue 0) and on the IRQ
 * eventq (queue 1).
 *
 * Input: the first byte picks the config (all 8 lines of a sim chip;
 * some of them, with names; 64 lines); the second's bits 2-7 may add
 * VIRTIO_GPIO_F_IRQ; the rest is fuzz_dev.h's.  Operation 6 is the
 * outside world: one byte, line (bits 0-5) and level (bit 6), written
 * into the sim chip's state file as another program would, then the
 * device is told as main's watch tells it (GPIO_DEV_SIM_CHANGED) and the
 * event loop runs: IRQs fire.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "fuzz_dev.h"

static char dir[64], chip[96];
static char cfg[3][256];
static const char *configs[3] = { cfg[0], cfg[1], cfg[2] };
static unsigned cfg_ngpio[3] = { 8, 8, 64 };
static unsigned ngpio;

static void
cleanup(void)
{
	unlink(chip);
	rmdir(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fz_quiet_logs("fuzz_gpio");
	snprintf(dir, sizeof(dir), "/tmp/fuzz_gpio-XXXXXX");
	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(chip, sizeof(chip), "%s/chip0.gpiosim", dir);
	atexit(cleanup);
	snprintf(cfg[0], sizeof(cfg[0]), "\"type\": \"gpio\", \"backend\": "
	    "\"sim\", \"chip\": \"%s\", \"ngpio\": 8", chip);
	snprintf(cfg[1], sizeof(cfg[1]), "\"type\": \"gpio\", \"backend\": "
	    "\"sim\", \"chip\": \"%s\", \"ngpio\": 8, \"lines\": [0, 3, 5], "
	    "\"names\": [\"a\", \"\", \"led\"]", chip);
	snprintf(cfg[2], sizeof(cfg[2]), "\"type\": \"gpio\", \"backend\": "
	    "\"sim\", \"chip\": \"%s\", \"ngpio\": 64", chip);
	return 0;
}

static void
outside_write(struct fdev *t, struct fz *f)
{
	uint8_t b = fz_u8(f);
	char level = (b & 64) ? '1' : '0';
	int fd;

	if ((fd = open(chip, O_WRONLY | O_CLOEXEC)) == -1)
		abort();
	if (pwrite(fd, &level, 1, (b & 63) % ngpio) != 1)
		abort();
	close(fd);
	{
		struct dev_msg m = { .op = 1 };	/* GPIO_DEV_SIM_CHANGED */

		t->ops->worker_msg(&t->ctx, &m, -1);
	}
	event_base_loop(t->base, EVLOOP_NONBLOCK);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A fresh chip each time: the open hook makes it. */
	unlink(chip);
	ngpio = size > 0 ? cfg_ngpio[data[0] % 3] : 8;
	return fdev_main(data, size, configs, 3,
	    UINT64_C(1) << 0 /* VIRTIO_GPIO_F_IRQ */, outside_write);
}
