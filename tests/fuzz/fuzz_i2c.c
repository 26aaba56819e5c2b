/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: the virtio-i2c device (devices/i2c.c) with its sim
 * backend (an in-memory bus with a 24c02 EEPROM and lm75 sensors),
 * driven by a hostile guest through the device harness (fuzz_dev.h):
 * any chain on the requestq, with any header, buffer and status layout.
 *
 * Input: the first byte picks the config (an EEPROM at 0x50 and an empty
 * address 0x51; three lm75 at 0x48-0x4a; guest addresses mapped to other
 * host addresses); the second's bits 2-7 may add
 * VIRTIO_I2C_F_ZERO_LENGTH_REQUEST; the rest is fuzz_dev.h's.
 */
#include "config.h"

#include "fuzz_dev.h"

#define SIM_BUS "\"type\": \"i2c\", \"backend\": \"sim\", \"bus\": \"board0\", "

static const char *const configs[] = {
	SIM_BUS "\"addresses\": [\"0x50\", 81], "
	    "\"parts\": [{\"type\": \"24c02\", \"address\": \"0x50\"}]",
	SIM_BUS "\"addresses\": [72, 73, 74], \"parts\": ["
	    "{\"type\": \"lm75\", \"address\": 72}, "
	    "{\"type\": \"lm75\", \"address\": 73, \"temp_mc\": -5500}, "
	    "{\"type\": \"lm75\", \"address\": 74, \"temp_mc\": 125000}]",
	SIM_BUS "\"addresses\": [{\"guest\": \"0x20\", \"host\": \"0x50\"}, "
	    "{\"guest\": 80, \"host\": 81}], "
	    "\"parts\": [{\"type\": \"24c02\", \"address\": \"0x50\"}]",
};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fz_quiet_logs("fuzz_i2c");
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fdev_main(data, size, configs,
	    sizeof(configs) / sizeof(configs[0]),
	    UINT64_C(1) << 0 /* VIRTIO_I2C_F_ZERO_LENGTH_REQUEST */, NULL);
}
