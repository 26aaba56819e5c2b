/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The messages between the vsock device's main side and its worker
 * (struct dev_msg, devices/vsock.c), shared with the tests and the fuzz
 * target that play main.  Layouts are fixed: the worker and main check
 * each message's op and exact length.
 */
#ifndef VHOSTD_VSOCK_H
#define VHOSTD_VSOCK_H

#include <assert.h>
#include <stdint.h>

#include "device.h"

#define VS_GREET_MAX		24

enum {
	VS_MSG_CONNECT = 1,	/* w->m: the guest connects out */
	VS_MSG_RESULT,		/* m->w: ... and the answer; fd if err == 0 */
	VS_MSG_INCOMING,	/* m->w: a connection to the guest; fd */
	VS_MSG_ANSWER,		/* w->m: the guest accepted it or not */
};

struct vs_key {
	uint32_t	lport;		/* the guest's port */
	uint32_t	pport;		/* the peer's port */
	uint64_t	pcid;		/* the peer's CID */
};

struct vs_msg_connect {
	uint64_t	id;		/* the worker's connection id */
	struct vs_key	key;
	uint32_t	type;		/* VIRTIO_VSOCK_TYPE_* */
	uint32_t	pad;
};

struct vs_msg_result {
	uint64_t	id;
	struct vs_key	key;
	int32_t		err;		/* 0: fd attached; else an errno */
	uint32_t	pad;
};

struct vs_msg_incoming {
	uint64_t	token;		/* 0: nobody waits for the answer */
	struct vs_key	key;
	uint32_t	type;
	uint32_t	greet_len;
	char		greet[VS_GREET_MAX];	/* written once accepted */
};

struct vs_msg_answer {
	uint64_t	token;
	uint32_t	accepted;
	uint32_t	pad;
};

static_assert(sizeof(struct vs_msg_connect) == 32, "connect");
static_assert(sizeof(struct vs_msg_result) == 32, "result");
static_assert(sizeof(struct vs_msg_incoming) == 56, "incoming");
static_assert(sizeof(struct vs_msg_answer) == 16, "answer");
static_assert(sizeof(struct vs_msg_incoming) <= DEV_MSG_MAX, "dev_msg");

#endif
