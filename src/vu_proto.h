/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vhost-user wire format (QEMU docs/interop/vhost-user.rst), back-end side:
 * request codes, flags, feature bits and payload layouts.  All integers are
 * little-endian on the wire; vhostd runs on little-endian hosts only.
 */
#ifndef VHOSTD_VU_PROTO_H
#define VHOSTD_VU_PROTO_H

#include <stdint.h>

enum vu_request {
	VU_GET_FEATURES = 1,
	VU_SET_FEATURES = 2,
	VU_SET_OWNER = 3,
	VU_RESET_OWNER = 4,
	VU_SET_MEM_TABLE = 5,
	VU_SET_LOG_BASE = 6,
	VU_SET_LOG_FD = 7,
	VU_SET_VRING_NUM = 8,
	VU_SET_VRING_ADDR = 9,
	VU_SET_VRING_BASE = 10,
	VU_GET_VRING_BASE = 11,
	VU_SET_VRING_KICK = 12,
	VU_SET_VRING_CALL = 13,
	VU_SET_VRING_ERR = 14,
	VU_GET_PROTOCOL_FEATURES = 15,
	VU_SET_PROTOCOL_FEATURES = 16,
	VU_GET_QUEUE_NUM = 17,
	VU_SET_VRING_ENABLE = 18,
	VU_SEND_RARP = 19,
	VU_NET_SET_MTU = 20,
	VU_SET_BACKEND_REQ_FD = 21,
	VU_IOTLB_MSG = 22,
	VU_SET_VRING_ENDIAN = 23,
	VU_GET_CONFIG = 24,
	VU_SET_CONFIG = 25,
	VU_GET_INFLIGHT_FD = 31,
	VU_SET_INFLIGHT_FD = 32,
	VU_RESET_DEVICE = 34,
	VU_GET_MAX_MEM_SLOTS = 36,
	VU_ADD_MEM_REG = 37,
	VU_REM_MEM_REG = 38,
	VU_SET_STATUS = 39,
	VU_GET_STATUS = 40,
	VU_REQUEST_MAX = 48
};

#define VU_VERSION		0x1
#define VU_FLAG_VERSION_MASK	0x3
#define VU_FLAG_REPLY		(1u << 2)
#define VU_FLAG_NEED_REPLY	(1u << 3)

#define VU_F_PROTOCOL_FEATURES	30

#define VU_PF_MQ		0
#define VU_PF_LOG_SHMFD		1
#define VU_PF_REPLY_ACK		3
#define VU_PF_BACKEND_REQ	5
#define VU_PF_CONFIG		9
#define VU_PF_INFLIGHT_SHMFD	12
#define VU_PF_RESET_DEVICE	13
#define VU_PF_CONFIGURE_MEM_SLOTS 15
#define VU_PF_STATUS		16

#define VU_VRING_IDX_MASK	0xffu
#define VU_VRING_NOFD		(1u << 8)

#define VU_MEM_BASELINE_REGIONS	8	/* SET_MEM_TABLE's limit */
#define VU_MAX_CONFIG_SIZE	256
#define VU_MAX_FDS		8
#define VU_PAYLOAD_MAX		4096

struct vu_hdr {
	uint32_t	request;
	uint32_t	flags;
	uint32_t	size;
} __attribute__((packed));

struct vu_vring_state {
	uint32_t	index;
	uint32_t	num;
} __attribute__((packed));

struct vu_vring_addr {
	uint32_t	index;
	uint32_t	flags;
	uint64_t	desc;
	uint64_t	used;
	uint64_t	avail;
	uint64_t	log;
} __attribute__((packed));

struct vu_region {
	uint64_t	gpa;
	uint64_t	size;
	uint64_t	uva;
	uint64_t	mmap_offset;
} __attribute__((packed));

struct vu_mem_table {
	uint32_t	nregions;
	uint32_t	padding;
	struct vu_region regions[VU_MEM_BASELINE_REGIONS];
} __attribute__((packed));
#define VU_MEM_TABLE_HDR	8	/* bytes before regions[] */

struct vu_mem_single {
	uint64_t	padding;
	struct vu_region region;
} __attribute__((packed));

/* GET_INFLIGHT_FD, SET_INFLIGHT_FD (QEMU's struct, padded to 24). */
struct vu_inflight {
	uint64_t	mmap_size;
	uint64_t	mmap_offset;
	uint16_t	num_queues;
	uint16_t	queue_size;
	uint32_t	padding;
} __attribute__((packed));

struct vu_config {
	uint32_t	offset;
	uint32_t	size;
	uint32_t	flags;
	uint8_t		data[VU_MAX_CONFIG_SIZE];
} __attribute__((packed));
#define VU_CONFIG_HDR	12	/* bytes before data[] */

struct vu_msg {
	struct vu_hdr	hdr;
	union {
		uint64_t		u64;
		struct vu_vring_state	state;
		struct vu_vring_addr	addr;
		struct vu_mem_table	mem;
		struct vu_mem_single	mreg;
		struct vu_config	cfg;
		struct vu_inflight	inflight;
		uint8_t			raw[VU_PAYLOAD_MAX];
	} p;
	int		fds[VU_MAX_FDS];	/* -1 once consumed */
	unsigned	nfds;
};

const char *vu_request_name(uint32_t req);

#endif
