/* SPDX-License-Identifier: BSD-3-Clause */
/* Worker mode entry point (worker.c). */
#ifndef VHOSTD_WORKER_H
#define VHOSTD_WORKER_H

/* Runs the worker until main closes its channel; returns the exit code.
 * argv: "vhostd --worker ID" and the datapath mode (inst.c). */
int	worker_main(int argc, char *argv[]);

#endif
