/* SPDX-License-Identifier: BSD-3-Clause */
/* vhostd --print-capabilities (caps.c). */
#ifndef VHOSTD_CAPS_H
#define VHOSTD_CAPS_H

#include <stdio.h>

/*
 * Writes the capabilities of this binary as one JSON object to f:
 * "types", the device types it serves (the registry's names, in its
 * order), "features", its optional features (none), and "version".
 * Returns 0, or -1 after printing why on stderr.
 */
int	caps_print(FILE *f);

#endif
