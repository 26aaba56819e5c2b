/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vufront: the project's own vhost-user front-end (the VMM's side), for
 * integration tests, hostile-input tests and benchmarks.  It connects to a
 * back-end's socket, negotiates features, shares guest RAM made of several
 * memfd regions with holes between them in guest-physical space, lays out
 * split virtqueues (VIRTIO 1.x, 2.7) in that RAM, kicks them and harvests
 * what the device used.  Everything is exposed, down to a raw send of
 * arbitrary bytes with arbitrary fds, so that tests may break any rule on
 * purpose.  Single-threaded; every wait is bounded by a timeout.  Functions
 * return 0 / -1 with errno (ETIMEDOUT: no answer in time, ECONNRESET: the
 * back-end closed the connection, EPROTO: a malformed reply, EREMOTEIO: a
 * nonzero REPLY_ACK) and leave a one-line explanation in vuf_error().
 */
#ifndef VHOSTD_TESTS_VUFRONT_H
#define VHOSTD_TESTS_VUFRONT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "virtq.h"

/* Header flags. */
#define VUF_VERSION		0x1
#define VUF_VERSION_MASK	0x3
#define VUF_FLAG_REPLY		0x4
#define VUF_FLAG_NEED_REPLY	0x8

/* Front-end requests. */
#define VUF_GET_FEATURES		1
#define VUF_SET_FEATURES		2
#define VUF_SET_OWNER			3
#define VUF_RESET_OWNER			4
#define VUF_SET_MEM_TABLE		5
#define VUF_SET_VRING_NUM		8
#define VUF_SET_VRING_ADDR		9
#define VUF_SET_VRING_BASE		10
#define VUF_GET_VRING_BASE		11
#define VUF_SET_VRING_KICK		12
#define VUF_SET_VRING_CALL		13
#define VUF_SET_VRING_ERR		14
#define VUF_GET_PROTOCOL_FEATURES	15
#define VUF_SET_PROTOCOL_FEATURES	16
#define VUF_GET_QUEUE_NUM		17
#define VUF_SET_VRING_ENABLE		18
#define VUF_SET_BACKEND_REQ_FD		21
#define VUF_GET_CONFIG			24
#define VUF_SET_CONFIG			25
#define VUF_RESET_DEVICE		34
#define VUF_GET_MAX_MEM_SLOTS		36
#define VUF_ADD_MEM_REG			37
#define VUF_REM_MEM_REG			38
#define VUF_SET_STATUS			39
#define VUF_GET_STATUS			40

/* Virtio feature bits (bit numbers). */
#define VUF_F_PROTOCOL_FEATURES	30	/* VHOST_USER_F_PROTOCOL_FEATURES */

/* Protocol feature bits (bit numbers). */
#define VUF_PF_MQ			0
#define VUF_PF_REPLY_ACK		3
#define VUF_PF_BACKEND_REQ		5
#define VUF_PF_CONFIG			9
#define VUF_PF_RESET_DEVICE		13
#define VUF_PF_CONFIGURE_MEM_SLOTS	15
#define VUF_PF_STATUS			16

/* SET_VRING_KICK/CALL/ERR payload. */
#define VUF_VRING_IDX_MASK	0xff
#define VUF_VRING_NOFD		(1u << 8)

/* Virtio device status bits (SET_STATUS). */
#define VUF_S_ACKNOWLEDGE	1
#define VUF_S_DRIVER		2
#define VUF_S_DRIVER_OK		4
#define VUF_S_FEATURES_OK	8
#define VUF_S_FAILED		128

#define VUF_MAX_FDS		8
#define VUF_MAX_PAYLOAD		4096
#define VUF_MAX_REGIONS		8
#define VUF_MAX_QUEUES		8
#define VUF_TIMEOUT_MS		5000	/* default for every wait */
#define VUF_BAD_GPA		UINT64_MAX

struct vuf_hdr {
	uint32_t	request;
	uint32_t	flags;
	uint32_t	size;
};

/* A received message; fds (nfds of them) belong to the caller. */
struct vuf_msg {
	struct vuf_hdr	hdr;
	union {
		uint64_t	u64;
		uint8_t		bytes[VUF_MAX_PAYLOAD];
	} payload;
	int		fds[VUF_MAX_FDS];
	int		nfds;
};

/* Payload layouts. */
struct vuf_vring_state {
	uint32_t	index;
	uint32_t	num;
};

struct vuf_vring_addr {
	uint32_t	index;
	uint32_t	flags;
	uint64_t	desc_uva;
	uint64_t	used_uva;
	uint64_t	avail_uva;
	uint64_t	log_gpa;
};

struct vuf_mem_region {
	uint64_t	gpa;
	uint64_t	size;
	uint64_t	uva;
	uint64_t	mmap_offset;
};

struct vuf_mem_reg_msg {		/* ADD_MEM_REG / REM_MEM_REG */
	uint64_t		padding;
	struct vuf_mem_region	region;
};

struct vuf_config_hdr {			/* GET_CONFIG / SET_CONFIG */
	uint32_t	offset;
	uint32_t	size;
	uint32_t	flags;
};

/* One region of guest RAM: a memfd mapped shared into this process. */
struct vuf_region {
	uint64_t	 gpa;
	uint64_t	 size;
	uint8_t		*host;		/* = the front-end virtual address */
	uint64_t	 mmap_offset;	/* where gpa starts in the memfd */
	int		 fd;
	void		*map_base;	/* whole memfd mapping */
	size_t		 map_len;
	uint64_t	 lo;		/* allocator: next free offset upwards */
	uint64_t	 hi;		/* allocator: end of free space */
	bool		 shared;	/* sent with ADD_MEM_REG */
};

/* One split virtqueue laid out in guest RAM. */
struct vuf_vq {
	bool			 ready;		/* vuf_vq_alloc done */
	uint16_t		 num;
	uint64_t		 desc_gpa, avail_gpa, used_gpa;
	struct vring_desc	*desc;
	struct vring_avail	*avail;
	struct vring_used	*used;
	int			 kick_fd, call_fd, err_fd;
	uint16_t		 avail_idx;	/* next avail->idx to publish */
	uint16_t		 last_used;	/* next used slot to harvest */
	uint16_t		 free_head;
	uint16_t		 num_free;
	uint16_t		*chain_len;	/* [num]: descs of an in-flight head, 0: free */
};

/* One segment of a buffer submitted to a queue. */
struct vuf_seg {
	uint64_t	gpa;
	uint32_t	len;
	bool		writable;	/* device-writable (VRING_DESC_F_WRITE) */
};

/* Where vuf_read_writable puts its buffer. */
enum vuf_layout {
	VUF_ONE,	/* one descriptor inside region 0 */
	VUF_CHAIN,	/* two descriptors: one in region 0, one in region 1 */
	VUF_SPAN,	/* one descriptor across the region 1 / region 2 border
			 * (contiguous guest-physical, different memfds) */
};

struct vuf {
	int		 sock;
	int		 timeout_ms;
	uint64_t	 dev_features;		/* offered by GET_FEATURES */
	uint64_t	 features;		/* acked with SET_FEATURES */
	uint64_t	 dev_protocol_features;
	uint64_t	 protocol_features;	/* acked */
	bool		 reply_ack;		/* REPLY_ACK negotiated */
	bool		 event_idx;		/* EVENT_IDX acked */
	int		 backend_fd;		/* our end of BACKEND_REQ, -1 */
	struct vuf_region region[VUF_MAX_REGIONS];
	unsigned	 nregions;
	struct vuf_vq	 vq[VUF_MAX_QUEUES];
	uint64_t	 last_ack;		/* payload of the last ack read */
	uint64_t	 scratch[3][2];		/* vuf_read_writable buffers */
	size_t		 scratch_size[3];
	char		 err[256];
};

/* ---- connection and raw messages ---- */

/* Connects to the unix socket at path, retrying while it is missing or
 * refuses for up to timeout_ms (0: one attempt).  NULL with errno. */
struct vuf	*vuf_connect(const char *path, int timeout_ms);
/* A front-end on an already connected socket (a back-end that connected
 * to the front-end's listening socket); fd is v's from now.  NULL (fd
 * closed) if out of memory. */
struct vuf	*vuf_from_fd(int fd);
/* Closes the socket and every fd, unmaps guest RAM, frees v. */
void		 vuf_close(struct vuf *v);
/* The last error explained, for test failure messages. */
const char	*vuf_error(const struct vuf *v);

/* Sends len raw bytes (anything, even a broken header) with nfds fds. */
int	vuf_send_raw(struct vuf *v, const void *buf, size_t len,
	    const int *fds, int nfds);
/* Sends one message: header {request, flags, size} then size bytes of
 * payload; flags is sent as given (add VUF_VERSION yourself). */
int	vuf_send(struct vuf *v, uint32_t request, uint32_t flags,
	    const void *payload, uint32_t size, const int *fds, int nfds);
/* Receives one message (header, payload up to VUF_MAX_PAYLOAD, fds). */
int	vuf_recv(struct vuf *v, struct vuf_msg *m, int timeout_ms);
/* 1 if the back-end closes the connection within timeout_ms, 0 if not
 * (or if it sent something instead), -1 on error. */
int	vuf_wait_closed(struct vuf *v, int timeout_ms);

/*
 * The usual exchange.  Getters (GET_*) wait for their reply into *reply
 * (which must then be non-NULL) and check request, flags and size >= 8.
 * Other messages get NEED_REPLY when REPLY_ACK is negotiated and their ack
 * is checked: -1 with EREMOTEIO if it is nonzero.
 */
int	vuf_request(struct vuf *v, uint32_t request, const void *payload,
	    uint32_t size, const int *fds, int nfds, struct vuf_msg *reply);
/* Sends with NEED_REPLY whatever was negotiated, and returns 0 with the
 * ack's value in *ack, or -1 (closed, timeout, malformed reply). */
int	vuf_request_ack(struct vuf *v, uint32_t request, const void *payload,
	    uint32_t size, const int *fds, int nfds, uint64_t *ack);
/* Sends a message whose only payload is one u64 (SET_FEATURES...). */
int	vuf_request_u64(struct vuf *v, uint32_t request, uint64_t value);
/* Sends a getter without payload and returns its u64 reply. */
int	vuf_get_u64(struct vuf *v, uint32_t request, uint64_t *value);

/* ---- negotiation and device-level messages ---- */

int	vuf_get_features(struct vuf *v, uint64_t *features);
int	vuf_set_features(struct vuf *v, uint64_t features);
int	vuf_get_protocol_features(struct vuf *v, uint64_t *features);
int	vuf_set_protocol_features(struct vuf *v, uint64_t features);
/* GET_FEATURES, then (if bit 30 is offered) GET/SET_PROTOCOL_FEATURES
 * with what is offered & want_protocol, SET_OWNER, SET_FEATURES with what
 * is offered & want (bit 30 always kept when offered). */
int	vuf_negotiate(struct vuf *v, uint64_t want, uint64_t want_protocol);
int	vuf_set_owner(struct vuf *v);
int	vuf_get_queue_num(struct vuf *v, uint64_t *n);
int	vuf_get_max_mem_slots(struct vuf *v, uint64_t *n);
/* GET_CONFIG of size bytes at offset into buf. */
int	vuf_get_config(struct vuf *v, uint32_t offset, uint32_t size,
	    void *buf);
int	vuf_set_config(struct vuf *v, uint32_t offset, uint32_t size,
	    uint32_t flags, const void *buf);
int	vuf_set_status(struct vuf *v, uint8_t status);
int	vuf_get_status(struct vuf *v, uint8_t *status);
int	vuf_reset_device(struct vuf *v);
/* Makes a socketpair, sends one end with SET_BACKEND_REQ_FD, keeps the
 * other in v->backend_fd. */
int	vuf_set_backend_req(struct vuf *v);

/* ---- guest RAM ---- */

/* Creates a memfd region of size bytes at gpa, mapped with the region
 * starting mmap_offset bytes into the memfd (both page-aligned).  Not sent
 * yet.  Returns the region's index, or -1. */
int	vuf_mem_add(struct vuf *v, uint64_t gpa, uint64_t size,
	    uint64_t mmap_offset);
/* The default layout: region 0 = 2 MiB at 0, region 1 = 1 MiB at 4 GiB,
 * region 2 = 1 MiB right after region 1 (contiguous guest-physical, other
 * memfd, mmap_offset 64 KiB), each at its own front-end address. */
int	vuf_mem_default(struct vuf *v);
/* SET_MEM_TABLE with every region; size 8 + 32 * n, one fd each. */
int	vuf_set_mem_table(struct vuf *v);
/* ADD_MEM_REG / REM_MEM_REG of region r. */
int	vuf_add_mem_reg(struct vuf *v, unsigned r);
int	vuf_rem_mem_reg(struct vuf *v, unsigned r);
/* The host (= front-end) address of [gpa, gpa + len), NULL if that does
 * not lie inside one region. */
void	*vuf_gpa_to_host(struct vuf *v, uint64_t gpa, uint64_t len);
/* Allocates len bytes aligned to align (a power of two) from the low end
 * (vuf_alloc) or the high end (vuf_alloc_top) of region r.  Never freed.
 * Returns the guest-physical address, or VUF_BAD_GPA. */
uint64_t vuf_alloc(struct vuf *v, unsigned r, uint64_t len, uint64_t align);
uint64_t vuf_alloc_top(struct vuf *v, unsigned r, uint64_t len);

/* ---- virtqueues ---- */

/* Lays out queue q of num entries in region r and creates its kick, call
 * and err eventfds.  Nothing sent. */
int	vuf_vq_alloc(struct vuf *v, unsigned q, uint16_t num, unsigned r);
/* The same with each of the descriptor table, the avail ring and the used
 * ring starting on a multiple of align (a power of two; 0: their natural
 * alignment, as vuf_vq_alloc), e.g. a cache line or a page, so that what
 * the driver writes and what the device writes never share a cache line
 * (benchmarks). */
int	vuf_vq_alloc_aligned(struct vuf *v, unsigned q, uint16_t num,
	    unsigned r, uint64_t align);
int	vuf_set_vring_num(struct vuf *v, unsigned q, uint32_t num);
int	vuf_set_vring_base(struct vuf *v, unsigned q, uint32_t base);
/* GET_VRING_BASE: stops the ring and returns its next avail index. */
int	vuf_get_vring_base(struct vuf *v, unsigned q, uint32_t *base);
/* SET_VRING_ADDR with the front-end addresses of queue q's rings. */
int	vuf_set_vring_addr(struct vuf *v, unsigned q);
/* SET_VRING_KICK/CALL/ERR (request) of queue q with fd, or without an fd
 * (VUF_VRING_NOFD) if fd is -1. */
int	vuf_set_vring_fd(struct vuf *v, uint32_t request, unsigned q, int fd);
int	vuf_set_vring_enable(struct vuf *v, unsigned q, bool enable);
/* NUM, BASE 0, ADDR, KICK, CALL, ERR and (with protocol features)
 * ENABLE 1 for queue q, as QEMU does when it starts a device. */
int	vuf_vq_start(struct vuf *v, unsigned q);

/*
 * Everything a VMM does to start a device: vuf_negotiate accepting all
 * that is offered, vuf_mem_default, SET_MEM_TABLE, queues 0..nqueues-1 of
 * qsize entries (rings in region 1), SET_STATUS DRIVER_OK when negotiated.
 */
int	vuf_setup(struct vuf *v, unsigned nqueues, uint16_t qsize);
/* The same, accepting only what is offered & want (& want_protocol). */
int	vuf_setup_with(struct vuf *v, uint64_t want, uint64_t want_protocol,
	    unsigned nqueues, uint16_t qsize);

/* Adds a chain of n segments to queue q's avail ring (not kicked).
 * Returns the head index, or -1 (ENOSPC: no free descriptors). */
int	vuf_vq_add(struct vuf *v, unsigned q, const struct vuf_seg *segs,
	    unsigned n);
/* Writes the kick eventfd of queue q. */
int	vuf_kick(struct vuf *v, unsigned q);
/* 1 once queue q's call eventfd fired (it is drained), 0 on timeout. */
int	vuf_wait_call(struct vuf *v, unsigned q, int timeout_ms);
/* Takes one used entry of queue q if there is one: returns 1 and its head
 * and length (freeing its descriptors), 0 if none, -1 (EPROTO) if the
 * device returned a head that is not in flight. */
int	vuf_vq_harvest(struct vuf *v, unsigned q, uint32_t *head,
	    uint32_t *len);
/* Harvests, waiting for calls until timeout_ms: 1, 0 on timeout, -1. */
int	vuf_vq_wait_used(struct vuf *v, unsigned q, uint32_t *head,
	    uint32_t *len, int timeout_ms);
/* Number of chains submitted and not yet harvested. */
unsigned vuf_vq_inflight(const struct vuf *v, unsigned q);

/*
 * Submits one device-writable buffer of size bytes laid out as `layout`
 * says, kicks, waits for it to be used, and copies what the device wrote
 * (at most size bytes) to out.  The buffer is filled with 0xa5 first.
 * Returns the length the device reported, or -1.  Buffers are reused by
 * later calls (per layout).
 */
ssize_t	vuf_read_writable(struct vuf *v, unsigned q, size_t size,
	    enum vuf_layout layout, void *out, int timeout_ms);

/* Copies out the bytes of segments segs[0..n) (gather from guest RAM). */
void	vuf_gather(struct vuf *v, const struct vuf_seg *segs, unsigned n,
	    void *out, size_t len);

/*
 * A virtio-vsock packet header (VIRTIO 1.2 5.10.6), 44 bytes, little
 * endian in guest memory: the fields here are in host order, and
 * vuf_vsock_hdr_put/get convert, for tests that play the guest's vsock
 * driver.
 */
#define VUF_VSOCK_HDR	44
struct vuf_vsock_hdr {
	uint64_t	src_cid;
	uint64_t	dst_cid;
	uint32_t	src_port;
	uint32_t	dst_port;
	uint32_t	len;
	uint16_t	type;
	uint16_t	op;
	uint32_t	flags;
	uint32_t	buf_alloc;
	uint32_t	fwd_cnt;
} __attribute__((packed));
_Static_assert(sizeof(struct vuf_vsock_hdr) == VUF_VSOCK_HDR,
    "vsock header size");

void	vuf_vsock_hdr_put(uint8_t *p, const struct vuf_vsock_hdr *h);
void	vuf_vsock_hdr_get(struct vuf_vsock_hdr *h, const uint8_t *p);

#endif
