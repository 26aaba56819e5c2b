/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The list of device types vhostd knows.  Adding a device type adds one
 * line here.
 */
#include "config.h"

#include <string.h>

#include "device.h"

extern const struct dev_ops gpio_ops;
extern const struct dev_ops i2c_ops;
extern const struct dev_ops rng_ops;
extern const struct dev_ops vsock_ops;

const struct dev_ops *const dev_registry[] = {
	&gpio_ops,
	&i2c_ops,
	&rng_ops,
	&vsock_ops,
	NULL
};

const struct dev_ops *
dev_lookup(const char *name)
{
	size_t i;

	for (i = 0; dev_registry[i] != NULL; i++)
		if (strcmp(dev_registry[i]->name, name) == 0)
			return dev_registry[i];
	return NULL;
}
