/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The vhost-user protocol, back-end side, in main (QEMU's
 * docs/interop/vhost-user.rst).
 *
 * Security model: the front-end is one step from the guest and may send
 * anything: any header, any size, any fds, in any order, in pieces.  Every
 * message is read whole (header, payload, fds) without blocking, checked by
 * vu_validate() against the table below (exact size, fd count, queue index,
 * negotiated protocol feature), then by its handler for its values, before
 * it changes any state.  A bad message is refused (REPLY_ACK) or closes
 * this one connection, with one log line naming the device, the message and
 * the reason.  Nothing here asserts or exits, every fd received is either
 * kept by a handler or closed, and main never maps guest memory: memory
 * and vring setup are only checked for consistency and forwarded.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inst.h"
#include "ipc.h"
#include "log.h"
#include "virtq.h"
#include "vu_proto.h"

#define VU_VAR		(-1)
#define VU_DEFER	1
#define VU_MSGS_PER_WAKE 32

/* Virtio feature bits every device gets from the core. */
#define VU_CORE_FEATURES \
	((UINT64_C(1) << VIRTIO_F_VERSION_1) | \
	 (UINT64_C(1) << VIRTIO_RING_F_INDIRECT_DESC) | \
	 (UINT64_C(1) << VIRTIO_RING_F_EVENT_IDX) | \
	 (UINT64_C(1) << VU_F_PROTOCOL_FEATURES))

#define VU_PFEATURES \
	((UINT64_C(1) << VU_PF_MQ) | \
	 (UINT64_C(1) << VU_PF_REPLY_ACK) | \
	 (UINT64_C(1) << VU_PF_BACKEND_REQ) | \
	 (UINT64_C(1) << VU_PF_CONFIG) | \
	 (UINT64_C(1) << VU_PF_RESET_DEVICE) | \
	 (UINT64_C(1) << VU_PF_CONFIGURE_MEM_SLOTS) | \
	 (UINT64_C(1) << VU_PF_INFLIGHT_SHMFD) | \
	 (UINT64_C(1) << VU_PF_STATUS))

struct vu_reply {
	uint8_t		buf[VU_CONFIG_HDR + VU_MAX_CONFIG_SIZE];
	size_t		len;
	int		fd;		/* sent with the reply if not -1 */
};

typedef int (*vu_handler)(struct inst *, struct vu_msg *, struct vu_reply *,
    const char **);

struct vu_rule {
	const char	*name;
	int		 size;		/* exact payload size or VU_VAR */
	uint8_t		 min_fds;
	uint8_t		 max_fds;
	int8_t		 pfeature;	/* protocol feature it needs, -1 none */
	bool		 reply;		/* answered with a payload */
	bool		 vring;		/* payload starts with a queue index */
	vu_handler	 fn;
};

static int vu_get_features(struct inst *, struct vu_msg *, struct vu_reply *, const char **);
static int vu_set_features(struct inst *, struct vu_msg *, struct vu_reply *, const char **);
static int vu_set_owner(struct inst *, struct vu_msg *, struct vu_reply *, const char **);
static int vu_reset(struct inst *, struct vu_msg *, struct vu_reply *, const char **);
static int vu_set_mem_table(struct inst *, struct vu_msg *, struct vu_reply *, const char **);
static int vu_set_vring_num(struct inst *, struct vu_msg *, struct vu_reply *, const char **);
static int vu_set_vring_addr(struct inst *, struct vu_msg *, struct vu_reply *, const char **);
static int vu_set_vring_base(struct inst *, struct vu_msg *, struct vu_reply *, const char **);
static int vu_get_vring_base(struct inst *, struct vu_msg *, struct vu_reply *, const char **);
static int vu_set_vring_fd(struct inst *, struct vu_msg *, struct vu_reply *, const char **);
static int vu_get_pfeatures(struct inst *, struct vu_msg *, struct vu_reply *, const char **);
static int vu_set_pfeatures(struct inst *, struct vu_msg *, struct vu_reply *, const char **);
static int vu_get_queue_num(struct inst *, struct vu_msg *, struct vu_reply *, const char **);
static int vu_set_vring_enable(struct inst *, struct vu_msg *, struct vu_reply *, const char **);
static int vu_set_backend_req_fd(struct inst *, struct vu_msg *, struct vu_reply *, const char **);
static int vu_get_config(struct inst *, struct vu_msg *, struct vu_reply *, const char **);
static int vu_set_config(struct inst *, struct vu_msg *, struct vu_reply *, const char **);
static int vu_get_max_mem_slots(struct inst *, struct vu_msg *, struct vu_reply *, const char **);
static int vu_add_mem_reg(struct inst *, struct vu_msg *, struct vu_reply *, const char **);
static int vu_rem_mem_reg(struct inst *, struct vu_msg *, struct vu_reply *, const char **);
static int vu_set_status(struct inst *, struct vu_msg *, struct vu_reply *, const char **);
static int vu_get_status(struct inst *, struct vu_msg *, struct vu_reply *, const char **);
static int vu_get_inflight_fd(struct inst *, struct vu_msg *, struct vu_reply *, const char **);
static int vu_set_inflight_fd(struct inst *, struct vu_msg *, struct vu_reply *, const char **);

/* Every message vhostd accepts, with its rules.  Anything else closes the
 * connection. */
static const struct vu_rule vu_rules[VU_REQUEST_MAX] = {
	[VU_GET_FEATURES] = { "GET_FEATURES", 0, 0, 0, -1, true, false, vu_get_features },
	[VU_SET_FEATURES] = { "SET_FEATURES", 8, 0, 0, -1, false, false, vu_set_features },
	[VU_SET_OWNER] = { "SET_OWNER", 0, 0, 0, -1, false, false, vu_set_owner },
	[VU_RESET_OWNER] = { "RESET_OWNER", 0, 0, 0, -1, false, false, vu_reset },
	[VU_SET_MEM_TABLE] = { "SET_MEM_TABLE", VU_VAR, 1, VU_MEM_BASELINE_REGIONS, -1, false, false, vu_set_mem_table },
	[VU_SET_VRING_NUM] = { "SET_VRING_NUM", 8, 0, 0, -1, false, true, vu_set_vring_num },
	[VU_SET_VRING_ADDR] = { "SET_VRING_ADDR", 40, 0, 0, -1, false, true, vu_set_vring_addr },
	[VU_SET_VRING_BASE] = { "SET_VRING_BASE", 8, 0, 0, -1, false, true, vu_set_vring_base },
	[VU_GET_VRING_BASE] = { "GET_VRING_BASE", 8, 0, 0, -1, true, true, vu_get_vring_base },
	[VU_SET_VRING_KICK] = { "SET_VRING_KICK", 8, 0, 1, -1, false, false, vu_set_vring_fd },
	[VU_SET_VRING_CALL] = { "SET_VRING_CALL", 8, 0, 1, -1, false, false, vu_set_vring_fd },
	[VU_SET_VRING_ERR] = { "SET_VRING_ERR", 8, 0, 1, -1, false, false, vu_set_vring_fd },
	[VU_GET_PROTOCOL_FEATURES] = { "GET_PROTOCOL_FEATURES", 0, 0, 0, -1, true, false, vu_get_pfeatures },
	[VU_SET_PROTOCOL_FEATURES] = { "SET_PROTOCOL_FEATURES", 8, 0, 0, -1, false, false, vu_set_pfeatures },
	[VU_GET_QUEUE_NUM] = { "GET_QUEUE_NUM", 0, 0, 0, VU_PF_MQ, true, false, vu_get_queue_num },
	[VU_SET_VRING_ENABLE] = { "SET_VRING_ENABLE", 8, 0, 0, -1, false, true, vu_set_vring_enable },
	[VU_SET_BACKEND_REQ_FD] = { "SET_BACKEND_REQ_FD", 0, 1, 1, VU_PF_BACKEND_REQ, false, false, vu_set_backend_req_fd },
	[VU_GET_CONFIG] = { "GET_CONFIG", VU_VAR, 0, 0, VU_PF_CONFIG, true, false, vu_get_config },
	[VU_SET_CONFIG] = { "SET_CONFIG", VU_VAR, 0, 0, VU_PF_CONFIG, false, false, vu_set_config },
	[VU_RESET_DEVICE] = { "RESET_DEVICE", 0, 0, 0, VU_PF_RESET_DEVICE, false, false, vu_reset },
	[VU_GET_MAX_MEM_SLOTS] = { "GET_MAX_MEM_SLOTS", 0, 0, 0, VU_PF_CONFIGURE_MEM_SLOTS, true, false, vu_get_max_mem_slots },
	[VU_ADD_MEM_REG] = { "ADD_MEM_REG", 40, 1, 1, VU_PF_CONFIGURE_MEM_SLOTS, false, false, vu_add_mem_reg },
	[VU_REM_MEM_REG] = { "REM_MEM_REG", 40, 0, 1, VU_PF_CONFIGURE_MEM_SLOTS, false, false, vu_rem_mem_reg },
	[VU_SET_STATUS] = { "SET_STATUS", 8, 0, 0, VU_PF_STATUS, false, false, vu_set_status },
	[VU_GET_STATUS] = { "GET_STATUS", 0, 0, 0, VU_PF_STATUS, true, false, vu_get_status },
	[VU_GET_INFLIGHT_FD] = { "GET_INFLIGHT_FD", 24, 0, 0, VU_PF_INFLIGHT_SHMFD, true, false, vu_get_inflight_fd },
	[VU_SET_INFLIGHT_FD] = { "SET_INFLIGHT_FD", 24, 1, 1, VU_PF_INFLIGHT_SHMFD, false, false, vu_set_inflight_fd },
};

const char *
vu_request_name(uint32_t req)
{
	static const char *const other[VU_REQUEST_MAX] = {
		[VU_SET_LOG_BASE] = "SET_LOG_BASE",
		[VU_SET_LOG_FD] = "SET_LOG_FD",
		[VU_SEND_RARP] = "SEND_RARP",
		[VU_NET_SET_MTU] = "NET_SET_MTU",
		[VU_IOTLB_MSG] = "IOTLB_MSG",
		[VU_SET_VRING_ENDIAN] = "SET_VRING_ENDIAN",
	};

	if (req < VU_REQUEST_MAX && vu_rules[req].name != NULL)
		return vu_rules[req].name;
	if (req < VU_REQUEST_MAX && other[req] != NULL)
		return other[req];
	return "unknown request";
}

uint64_t
vu_offered_features(const struct inst *in)
{
	return VU_CORE_FEATURES | in->ops->features;
}

/*
 * Without CONFIGURE_MEM_SLOTS ("mem_slots": false) QEMU sends the whole
 * memory table at every start of the device.  With it, QEMU sends only
 * the regions that changed since the table it remembers: after a
 * reconnection to a restarted vhostd, QEMU 7.2's rng and i2c send none
 * and the device cannot reach guest memory.
 */
uint64_t
vu_offered_pfeatures(const struct inst *in)
{
	uint64_t f = VU_PFEATURES;

	if (in->cfg != NULL && !in->cfg->mem_slots)
		f &= ~(UINT64_C(1) << VU_PF_CONFIGURE_MEM_SLOTS);
	return f;
}

static bool
vu_has_pf(const struct inst *in, int bit)
{
	return (in->pfeatures & (UINT64_C(1) << bit)) != 0;
}

const char *
vu_validate(const struct inst *in, const struct vu_msg *m)
{
	const struct vu_rule *r;
	uint32_t req = m->hdr.request;
	uint64_t v;
	unsigned want_fds;

	if ((m->hdr.flags & VU_FLAG_VERSION_MASK) != VU_VERSION)
		return "unsupported protocol version";
	if (m->hdr.flags & ~(VU_FLAG_VERSION_MASK | VU_FLAG_NEED_REPLY))
		return "unknown or reply flags set";
	if (req >= VU_REQUEST_MAX || vu_rules[req].name == NULL)
		return "unknown or unsupported request";
	r = &vu_rules[req];
	if (m->hdr.size > VU_PAYLOAD_MAX)
		return "payload too large";
	if (r->size != VU_VAR && m->hdr.size != (uint32_t)r->size)
		return "wrong payload size";
	if (m->nfds < r->min_fds || m->nfds > r->max_fds)
		return "wrong number of file descriptors";
	if (r->pfeature >= 0 && !vu_has_pf(in, r->pfeature))
		return "protocol feature not negotiated";
	if (r->vring && m->p.state.index >= in->ops->num_queues)
		return "queue index out of range";

	switch (req) {
	case VU_SET_MEM_TABLE:
		if (m->hdr.size < VU_MEM_TABLE_HDR)
			return "payload too short";
		if (m->p.mem.nregions == 0 ||
		    m->p.mem.nregions > VU_MEM_BASELINE_REGIONS)
			return "region count out of range";
		if (m->hdr.size != VU_MEM_TABLE_HDR +
		    m->p.mem.nregions * sizeof(struct vu_region))
			return "payload size does not match region count";
		if (m->nfds != m->p.mem.nregions)
			return "fd count does not match region count";
		break;
	case VU_GET_CONFIG:
	case VU_SET_CONFIG:
		if (m->hdr.size < VU_CONFIG_HDR)
			return "payload too short";
		if (m->p.cfg.size > VU_MAX_CONFIG_SIZE)
			return "config size too large";
		if (m->hdr.size != VU_CONFIG_HDR + m->p.cfg.size)
			return "payload size does not match config size";
		break;
	case VU_SET_VRING_KICK:
	case VU_SET_VRING_CALL:
	case VU_SET_VRING_ERR:
		v = m->p.u64;
		if (v & ~(uint64_t)(VU_VRING_IDX_MASK | VU_VRING_NOFD))
			return "reserved bits set";
		if ((v & VU_VRING_IDX_MASK) >= in->ops->num_queues)
			return "queue index out of range";
		want_fds = (v & VU_VRING_NOFD) ? 0 : 1;
		if (m->nfds != want_fds)
			return "fd presence does not match the no-fd flag";
		break;
	case VU_ADD_MEM_REG:
		if (m->nfds != 1)
			return "needs exactly one fd";
		break;
	}
	return NULL;
}

/* ---- sending ---- */

static int
vu_send_fd(struct inst *in, uint32_t request, const void *payload,
    size_t len, int fd)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cbuf;
	struct cmsghdr *c;
	struct vu_hdr h = {
		.request = request,
		.flags = VU_VERSION | VU_FLAG_REPLY,
		.size = (uint32_t)len,
	};
	struct iovec iov[2] = {
		{ .iov_base = &h, .iov_len = sizeof(h) },
		{ .iov_base = (void *)payload, .iov_len = len },
	};
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };
	ssize_t n;

	if (fd != -1) {
		memset(&cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = sizeof(cbuf.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	do
		n = sendmsg(in->conn_fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n == -1 && errno == EINTR);
	if (n != (ssize_t)(sizeof(h) + len)) {
		inst_conn_close(in, n == -1 ? "cannot send reply" :
		    "front-end does not read its replies");
		return -1;
	}
	return 0;
}

static int
vu_send(struct inst *in, uint32_t request, const void *payload, size_t len)
{
	return vu_send_fd(in, request, payload, len, -1);
}

/* ---- handlers: each checks its values, then changes state ---- */

static int
vu_get_features(struct inst *in, struct vu_msg *m, struct vu_reply *r,
    const char **why)
{
	uint64_t f = vu_offered_features(in);

	memcpy(r->buf, &f, sizeof(f));
	r->len = sizeof(f);
	return 0;
}

static int
vu_set_features(struct inst *in, struct vu_msg *m, struct vu_reply *r,
    const char **why)
{
	struct ipc_features f = { .type = IPC_FEATURES };

	if (m->p.u64 & ~vu_offered_features(in)) {
		*why = "feature bits that were not offered";
		return -1;
	}
	if ((m->p.u64 & in->ops->required_features) !=
	    in->ops->required_features) {
		*why = "the driver did not accept a feature the device "
		    "requires";
		return -1;
	}
	/*
	 * A front-end that reconnects and resumes its device may skip the
	 * negotiation, as QEMU 7.2's vhost-user-rng and -i2c do: it sends
	 * SET_FEATURES with VHOST_USER_F_PROTOCOL_FEATURES and goes on using
	 * the protocol features it negotiated with vhostd on the earlier
	 * connection (REPLY_ACK, STATUS, ...).  It is given the set vhostd
	 * offers, which is what it could have negotiated anyway.
	 */
	if ((m->p.u64 & (UINT64_C(1) << VU_F_PROTOCOL_FEATURES)) &&
	    !in->pf_seen) {
		in->pf_seen = true;
		in->pfeatures = vu_offered_pfeatures(in);
		log_info("%s: the front-end resumes without negotiating "
		    "protocol features: it gets all vhostd offers (0x%llx)",
		    in->id, (unsigned long long)in->pfeatures);
	}
	in->features = m->p.u64;
	if (in->wstate == W_READY) {
		f.features = in->features;
		inst_worker_send(in, &f, sizeof(f), NULL, 0);
	}
	return 0;
}

static int
vu_set_owner(struct inst *in, struct vu_msg *m, struct vu_reply *r,
    const char **why)
{
	in->owner = true;
	return 0;
}

static void
vu_close_fd(int *fd)
{
	if (*fd != -1) {
		close(*fd);
		*fd = -1;
	}
}

/* Sets up the vhost-user state of a zeroed instance: no fds held. */
void
vu_state_init(struct inst *in)
{
	unsigned i;

	for (i = 0; i < DEV_MAX_QUEUES; i++)
		in->vr[i].kick_fd = in->vr[i].call_fd = in->vr[i].err_fd = -1;
	for (i = 0; i < MEMTAB_MAX_REGIONS; i++)
		in->mem_fd[i] = -1;
	in->backend_fd = -1;
}

/*
 * Back to the state of a fresh connection's device: rings stopped, their
 * fds closed, features and status cleared.  The memory table is kept: the
 * front-end does not send it again after a reset.
 */
void
vu_state_reset(struct inst *in)
{
	unsigned i;

	for (i = 0; i < DEV_MAX_QUEUES; i++) {
		struct vring_cfg *v = &in->vr[i];

		vu_close_fd(&v->kick_fd);
		vu_close_fd(&v->call_fd);
		vu_close_fd(&v->err_fd);
		memset(v, 0, sizeof(*v));
		v->kick_fd = v->call_fd = v->err_fd = -1;
	}
	in->features = 0;
	in->status = 0;
}

static int
vu_reset(struct inst *in, struct vu_msg *m, struct vu_reply *r,
    const char **why)
{
	struct ipc_reset msg = { .type = IPC_RESET };

	if (in->wstate == W_READY)
		inst_worker_send(in, &msg, sizeof(msg), NULL, 0);
	else
		in->area_used = false;	/* nothing for a new worker to keep */
	vu_state_reset(in);
	return 0;
}

static bool
vu_add_overflows(uint64_t a, uint64_t b)
{
	uint64_t s;

	return __builtin_add_overflow(a, b, &s);
}

/* Checks one region on its own: sizes, arithmetic, the fd's file. */
static const char *
vu_region_check(const struct vu_region *rg, int fd)
{
	struct stat st;

	if (rg->size == 0)
		return "region of size 0";
	/* As strict as the worker's memtab: the end address must be
	 * representable, so a region may not reach 2^64. */
	if (vu_add_overflows(rg->gpa, rg->size) ||
	    vu_add_overflows(rg->uva, rg->size) ||
	    vu_add_overflows(rg->mmap_offset, rg->size))
		return "region arithmetic overflows";
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode))
		return "region fd is not a memory file";
	if (rg->mmap_offset + rg->size > (uint64_t)st.st_size)
		return "region extends beyond its file";
	return NULL;
}

static bool
vu_ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a <= b + (blen - 1) && b <= a + (alen - 1);
}

/* Checks rg against regions tab[0..n). */
static const char *
vu_region_conflict(const struct vu_region *rg, const struct vu_region *tab,
    unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		if (vu_ranges_overlap(rg->gpa, rg->size, tab[i].gpa,
		    tab[i].size))
			return "regions overlap in guest physical memory";
		if (vu_ranges_overlap(rg->uva, rg->size, tab[i].uva,
		    tab[i].size))
			return "regions overlap in front-end address space";
	}
	return NULL;
}

/* True if [uva, uva+len) lies whole inside one region of the table. */
static bool
vu_uva_mapped(const struct inst *in, uint64_t uva, uint64_t len)
{
	unsigned i;

	for (i = 0; i < in->nmem; i++) {
		const struct vu_region *rg = &in->mem[i];

		if (uva >= rg->uva && uva - rg->uva < rg->size &&
		    len <= rg->size - (uva - rg->uva))
			return true;
	}
	return false;
}

/* Why ring i's addresses are unusable with the current table, or NULL. */
static const char *
vu_vring_check(const struct inst *in, unsigned i)
{
	const struct vring_cfg *v = &in->vr[i];

	if ((v->desc & 15) || (v->avail & 1) || (v->used & 3))
		return "ring address misaligned";
	if (in->nmem == 0 || v->num == 0)
		return NULL;	/* checked again when they are known */
	if (!vu_uva_mapped(in, v->desc, 16ULL * v->num) ||
	    !vu_uva_mapped(in, v->avail, 6ULL + 2ULL * v->num) ||
	    !vu_uva_mapped(in, v->used, 6ULL + 8ULL * v->num))
		return "ring address outside the memory table";
	return NULL;
}

/*
 * Running rings are re-translated by the worker when the table changes:
 * they must lie inside the table that replaces the current one.
 */
static const char *
vu_rings_fit(struct inst *in, const struct vu_region *tab, unsigned n)
{
	struct vu_region saved[MEMTAB_MAX_REGIONS];
	unsigned i, saved_n = in->nmem;
	const char *why = NULL;

	memcpy(saved, in->mem, sizeof(saved));
	memcpy(in->mem, tab, n * sizeof(*tab));
	in->nmem = n;
	for (i = 0; i < in->ops->num_queues && why == NULL; i++)
		if (in->vr[i].running && n == 0)
			why = "running ring would lose its memory";
		else if (in->vr[i].running)
			why = vu_vring_check(in, i);
	memcpy(in->mem, saved, sizeof(saved));
	in->nmem = saved_n;
	return why;
}

static void
vu_mem_replaced(struct inst *in)
{
	unsigned i;

	if (inst_worker_send_mem(in) == -1)
		return;
	for (i = 0; i < in->ops->num_queues; i++)
		inst_vring_start(in, i);
}

static int
vu_set_mem_table(struct inst *in, struct vu_msg *m, struct vu_reply *r,
    const char **why)
{
	unsigned i, n = m->p.mem.nregions;

	for (i = 0; i < n; i++) {
		if ((*why = vu_region_check(&m->p.mem.regions[i],
		    m->fds[i])) != NULL)
			return -1;
		if ((*why = vu_region_conflict(&m->p.mem.regions[i],
		    m->p.mem.regions, i)) != NULL)
			return -1;
	}
	if ((*why = vu_rings_fit(in, m->p.mem.regions, n)) != NULL)
		return -1;
	for (i = 0; i < in->nmem; i++)
		vu_close_fd(&in->mem_fd[i]);
	for (i = 0; i < n; i++) {
		in->mem[i] = m->p.mem.regions[i];
		in->mem_fd[i] = m->fds[i];
		m->fds[i] = -1;
	}
	in->nmem = n;
	vu_mem_replaced(in);
	return 0;
}

static int
vu_get_max_mem_slots(struct inst *in, struct vu_msg *m, struct vu_reply *r,
    const char **why)
{
	uint64_t n = MEMTAB_MAX_REGIONS;

	memcpy(r->buf, &n, sizeof(n));
	r->len = sizeof(n);
	return 0;
}

static int
vu_add_mem_reg(struct inst *in, struct vu_msg *m, struct vu_reply *r,
    const char **why)
{
	const struct vu_region *rg = &m->p.mreg.region;

	if ((*why = vu_region_check(rg, m->fds[0])) != NULL)
		return -1;
	if ((*why = vu_region_conflict(rg, in->mem, in->nmem)) != NULL)
		return -1;
	if (in->nmem >= MEMTAB_MAX_REGIONS) {
		*why = "no free memory slot";
		return -1;
	}
	in->mem[in->nmem] = *rg;
	in->mem_fd[in->nmem] = m->fds[0];
	m->fds[0] = -1;
	in->nmem++;
	vu_mem_replaced(in);
	return 0;
}

static int
vu_rem_mem_reg(struct inst *in, struct vu_msg *m, struct vu_reply *r,
    const char **why)
{
	const struct vu_region *rg = &m->p.mreg.region;
	unsigned i;

	for (i = 0; i < in->nmem; i++)
		if (in->mem[i].gpa == rg->gpa && in->mem[i].size == rg->size &&
		    in->mem[i].uva == rg->uva)
			break;
	if (i == in->nmem) {
		*why = "no such region";
		return -1;
	}
	{
		struct vu_region tab[MEMTAB_MAX_REGIONS];

		memcpy(tab, in->mem, sizeof(tab));
		tab[i] = tab[in->nmem - 1];
		if ((*why = vu_rings_fit(in, tab, in->nmem - 1)) != NULL)
			return -1;
	}
	vu_close_fd(&in->mem_fd[i]);
	in->nmem--;
	in->mem[i] = in->mem[in->nmem];
	in->mem_fd[i] = in->mem_fd[in->nmem];
	in->mem_fd[in->nmem] = -1;
	vu_mem_replaced(in);
	return 0;
}

static int
vu_set_vring_num(struct inst *in, struct vu_msg *m, struct vu_reply *r,
    const char **why)
{
	struct vring_cfg *v = &in->vr[m->p.state.index];
	uint32_t num = m->p.state.num;

	if (num == 0 || num > VQ_MAX_SIZE || (num & (num - 1)) != 0) {
		*why = "queue size is not a power of two from 1 to 32768";
		return -1;
	}
	if (v->running) {
		*why = "ring is running";
		return -1;
	}
	v->num = num;
	return 0;
}

static int
vu_set_vring_addr(struct inst *in, struct vu_msg *m, struct vu_reply *r,
    const char **why)
{
	unsigned i = m->p.addr.index;
	struct vring_cfg *v = &in->vr[i], saved = *v;

	if (m->p.addr.flags & ~1u) {
		*why = "unknown flags";
		return -1;
	}
	if (m->p.addr.flags & 1u) {
		*why = "dirty logging was not offered";
		return -1;
	}
	if (v->running) {
		*why = "ring is running";
		return -1;
	}
	v->desc = m->p.addr.desc;
	v->avail = m->p.addr.avail;
	v->used = m->p.addr.used;
	if ((*why = vu_vring_check(in, i)) != NULL) {
		*v = saved;
		return -1;
	}
	v->addr_set = true;
	return 0;
}

static int
vu_set_vring_base(struct inst *in, struct vu_msg *m, struct vu_reply *r,
    const char **why)
{
	struct vring_cfg *v = &in->vr[m->p.state.index];

	if (m->p.state.num > 0xffff) {
		*why = "ring index beyond 16 bits";
		return -1;
	}
	if (v->running) {
		*why = "ring is running";
		return -1;
	}
	v->base = m->p.state.num;
	return 0;
}

static int
vu_get_vring_base(struct inst *in, struct vu_msg *m, struct vu_reply *r,
    const char **why)
{
	unsigned i = m->p.state.index;
	struct vring_cfg *v = &in->vr[i];
	struct ipc_vring_ctl stop = { .type = IPC_VRING_STOP, .index = i };
	struct vu_vring_state st;

	if (v->running && v->resume) {
		/* Its worker died and the next one has not resumed it yet:
		 * the answer must come from that one (vu_worker_back). */
		in->waiting = true;
		in->stop_pending = true;
		in->wait_index = i;
		inst_wait_arm(in);
		return VU_DEFER;
	}
	if (v->running && in->wstate == W_READY) {
		if (inst_worker_send(in, &stop, sizeof(stop), NULL, 0) == -1) {
			*why = "worker unreachable";
			return -1;
		}
		if (in->wstate != W_READY) {
			/* Lost on the way: the next worker gets the stop. */
			in->waiting = true;
			in->stop_pending = true;
			in->wait_index = i;
			return VU_DEFER;
		}
		in->waiting = true;
		in->wait_index = i;
		inst_wait_arm(in);
		return VU_DEFER;
	}
	v->started = false;
	v->running = false;
	vu_close_fd(&v->kick_fd);
	st.index = i;
	st.num = v->base;
	memcpy(r->buf, &st, sizeof(st));
	r->len = sizeof(st);
	return 0;
}

void
vu_worker_back(struct inst *in)
{
	unsigned i = in->wait_index;
	struct vring_cfg *v = &in->vr[i];
	struct ipc_vring_ctl stop = { .type = IPC_VRING_STOP, .index = i };

	if (!in->waiting || !in->stop_pending)
		return;
	in->stop_pending = false;
	if (v->running && !v->resume) {
		if (inst_worker_send(in, &stop, sizeof(stop), NULL, 0) == 0 &&
		    in->wstate == W_READY)
			inst_wait_arm(in);
		return;
	}
	/* It could not be resumed (the front-end changed it meanwhile):
	 * nothing ran it since; main's base is the answer. */
	v->resume = false;
	vu_worker_answered(in, i, v->base);
}

/* The worker stopped ring `index` (after GET_VRING_BASE): answer. */
void
vu_worker_answered(struct inst *in, uint32_t index, uint32_t base)
{
	struct vring_cfg *v;
	struct vu_vring_state st;

	if (!in->waiting || index != in->wait_index) {
		log_warnx("%s: worker sent an unrequested ring base",
		    in->id);
		return;
	}
	v = &in->vr[index];
	v->base = base & 0xffff;
	v->running = false;
	v->started = false;
	vu_close_fd(&v->kick_fd);
	in->waiting = false;
	st.index = index;
	st.num = v->base;
	if (vu_send(in, VU_GET_VRING_BASE, &st, sizeof(st)) == -1)
		return;
	event_add(in->conn_ev, NULL);
}

static int
vu_set_vring_fd(struct inst *in, struct vu_msg *m, struct vu_reply *r,
    const char **why)
{
	unsigned i = (unsigned)(m->p.u64 & VU_VRING_IDX_MASK);
	struct vring_cfg *v = &in->vr[i];
	struct ipc_vring_fd msg = { .type = IPC_VRING_FD, .index = i };
	int *slot, fd = m->nfds ? m->fds[0] : -1;

	switch (m->hdr.request) {
	case VU_SET_VRING_KICK:
		slot = &v->kick_fd;
		msg.kind = IPC_FD_KICK;
		if (!v->running && (*why = vu_vring_check(in, i)) != NULL)
			return -1;
		break;
	case VU_SET_VRING_CALL:
		slot = &v->call_fd;
		msg.kind = IPC_FD_CALL;
		break;
	default:
		slot = &v->err_fd;
		msg.kind = IPC_FD_ERR;
		break;
	}
	vu_close_fd(slot);
	*slot = fd;
	if (m->nfds)
		m->fds[0] = -1;
	if (v->running) {
		msg.has_fd = fd != -1;
		inst_worker_send(in, &msg, sizeof(msg), fd != -1 ? &fd : NULL,
		    fd != -1 ? 1 : 0);
	} else if (m->hdr.request == VU_SET_VRING_KICK) {
		v->started = true;
		if (!(in->features & (UINT64_C(1) << VU_F_PROTOCOL_FEATURES)))
			v->enabled = true;
		inst_vring_start(in, i);
	}
	return 0;
}

static int
vu_get_pfeatures(struct inst *in, struct vu_msg *m, struct vu_reply *r,
    const char **why)
{
	uint64_t f = vu_offered_pfeatures(in);

	in->pf_seen = true;
	memcpy(r->buf, &f, sizeof(f));
	r->len = sizeof(f);
	return 0;
}

static int
vu_set_pfeatures(struct inst *in, struct vu_msg *m, struct vu_reply *r,
    const char **why)
{
	if (m->p.u64 & ~vu_offered_pfeatures(in)) {
		*why = "protocol feature bits that were not offered";
		return -1;
	}
	in->pfeatures = m->p.u64;
	in->pf_seen = true;
	return 0;
}

static int
vu_get_queue_num(struct inst *in, struct vu_msg *m, struct vu_reply *r,
    const char **why)
{
	uint64_t n = in->ops->num_queues;

	memcpy(r->buf, &n, sizeof(n));
	r->len = sizeof(n);
	return 0;
}

static int
vu_set_vring_enable(struct inst *in, struct vu_msg *m, struct vu_reply *r,
    const char **why)
{
	unsigned i = m->p.state.index;
	struct vring_cfg *v = &in->vr[i];
	struct ipc_vring_ctl msg = { .type = IPC_VRING_ENABLE, .index = i };

	if (m->p.state.num > 1) {
		*why = "enable value is neither 0 nor 1";
		return -1;
	}
	v->enabled = m->p.state.num == 1;
	if (v->running) {
		msg.value = v->enabled;
		inst_worker_send(in, &msg, sizeof(msg), NULL, 0);
	}
	return 0;
}

static int
vu_set_backend_req_fd(struct inst *in, struct vu_msg *m, struct vu_reply *r,
    const char **why)
{
	vu_close_fd(&in->backend_fd);
	in->backend_fd = m->fds[0];
	m->fds[0] = -1;
	return 0;
}

static int
vu_get_config(struct inst *in, struct vu_msg *m, struct vu_reply *r,
    const char **why)
{
	struct vu_config *c = (struct vu_config *)r->buf;
	uint32_t off = m->p.cfg.offset, size = m->p.cfg.size;

	if (off > in->ops->config_space_size ||
	    size > in->ops->config_space_size - off) {
		*why = "range beyond the device's config space";
		return -1;
	}
	c->offset = off;
	c->size = size;
	c->flags = m->p.cfg.flags;
	memcpy(c->data, in->config_space + off, size);
	r->len = VU_CONFIG_HDR + size;
	return 0;
}

static int
vu_set_config(struct inst *in, struct vu_msg *m, struct vu_reply *r,
    const char **why)
{
	*why = "the device's config space is read-only";
	return -1;
}

static int
vu_set_status(struct inst *in, struct vu_msg *m, struct vu_reply *r,
    const char **why)
{
	if (m->p.u64 > 0xff) {
		*why = "status beyond 8 bits";
		return -1;
	}
	in->status = (uint8_t)m->p.u64;
	return 0;
}

static int
vu_get_status(struct inst *in, struct vu_msg *m, struct vu_reply *r,
    const char **why)
{
	uint64_t s = in->status;

	memcpy(r->buf, &s, sizeof(s));
	r->len = sizeof(s);
	return 0;
}

/* Checks the shape a front-end gives for an in-flight area. */
static const char *
vu_inflight_check(const struct inst *in, const struct vu_inflight *f)
{
	unsigned i;

	if (f->num_queues == 0 || f->num_queues > in->ops->num_queues)
		return "in-flight area: queue count out of range";
	if (f->queue_size == 0 || f->queue_size > VQ_MAX_SIZE ||
	    (f->queue_size & (f->queue_size - 1)) != 0)
		return "in-flight area: queue size not a power of two in "
		    "1..32768";
	for (i = 0; i < DEV_MAX_QUEUES; i++)
		if (in->vr[i].running)
			return "in-flight area changed while a ring runs";
	return NULL;
}

/* The front-end asks for an in-flight area to keep across reconnects:
 * a new, zeroed one; the worker is renewed to use it. */
static int
vu_get_inflight_fd(struct inst *in, struct vu_msg *m, struct vu_reply *r,
    const char **why)
{
	struct vu_inflight f = m->p.inflight;

	if ((*why = vu_inflight_check(in, &f)) != NULL)
		return -1;
	if (inst_area_new(in, f.num_queues, f.queue_size) == -1 ||
	    (r->fd = fcntl(in->area_fd, F_DUPFD_CLOEXEC, 3)) == -1) {
		*why = "cannot make an in-flight area";
		return -1;
	}
	f.mmap_size = in->area_size;
	f.mmap_offset = 0;
	f.padding = 0;
	memcpy(r->buf, &f, sizeof(f));
	r->len = sizeof(f);
	inst_worker_renew(in);
	return 0;
}

#define VU_INFLIGHT_MAX	(UINT64_C(64) << 20)

/* The front-end gives back an area (after vhostd restarted): the rings
 * resume from its logs and the device from its saved state. */
static int
vu_set_inflight_fd(struct inst *in, struct vu_msg *m, struct vu_reply *r,
    const char **why)
{
	const struct vu_inflight *f = &m->p.inflight;
	long pg = sysconf(_SC_PAGESIZE);
	struct stat st;
	unsigned i;

	if ((*why = vu_inflight_check(in, f)) != NULL)
		return -1;
	if (f->mmap_size < f->num_queues * vq_log_size(f->queue_size) +
	    DEV_STATE_MAX || f->mmap_size > VU_INFLIGHT_MAX) {
		*why = "in-flight area of the wrong size";
		return -1;
	}
	if (pg <= 0 || f->mmap_offset % (uint64_t)pg != 0 ||
	    f->mmap_offset > VU_INFLIGHT_MAX) {
		*why = "in-flight area offset not page aligned";
		return -1;
	}
	if (fstat(m->fds[0], &st) == -1 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size < f->mmap_offset + f->mmap_size) {
		*why = "in-flight area beyond its file";
		return -1;
	}
	inst_area_adopt(in, m->fds[0], f->mmap_size, f->mmap_offset,
	    f->num_queues, f->queue_size);
	m->fds[0] = -1;
	for (i = 0; i < DEV_MAX_QUEUES; i++)
		in->vr[i].resume = true;
	inst_worker_renew(in);
	return 0;
}

/* ---- reading and dispatch ---- */

static void
vu_msg_close_fds(struct vu_msg *m)
{
	unsigned i;

	for (i = 0; i < m->nfds; i++)
		vu_close_fd(&m->fds[i]);
	m->nfds = 0;
}

/*
 * Reads what is there of the current message into in->rx.  Returns 1 when
 * the message is whole, 0 if more must come, -1 if the connection was
 * closed (here, with its log line).
 */
static int
vu_rx_step(struct inst *in)
{
	struct vu_rx *rx = &in->rx;
	struct vu_msg *m = &rx->msg;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
	} cbuf;
	struct iovec iov;
	struct msghdr mh;
	struct cmsghdr *c;
	size_t hs = sizeof(m->hdr), want;
	ssize_t n;
	bool fd_overflow = false;

	for (;;) {
		if (rx->got < hs) {
			iov.iov_base = (uint8_t *)&m->hdr + rx->got;
			iov.iov_len = hs - rx->got;
		} else {
			want = hs + m->hdr.size;
			if (rx->got == want)
				return 1;
			iov.iov_base = m->p.raw + (rx->got - hs);
			iov.iov_len = want - rx->got;
		}
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = sizeof(cbuf.buf);
		n = recvmsg(in->conn_fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return 0;
		for (c = CMSG_FIRSTHDR(&mh); c != NULL;
		    c = CMSG_NXTHDR(&mh, c)) {
			unsigned k, cnt;

			if (c->cmsg_level != SOL_SOCKET ||
			    c->cmsg_type != SCM_RIGHTS)
				continue;
			cnt = (unsigned)((c->cmsg_len - CMSG_LEN(0)) /
			    sizeof(int));
			for (k = 0; k < cnt; k++) {
				int fd;

				memcpy(&fd, CMSG_DATA(c) + k * sizeof(int),
				    sizeof(fd));
				if (m->nfds < VU_MAX_FDS)
					m->fds[m->nfds++] = fd;
				else {
					close(fd);
					fd_overflow = true;
				}
			}
		}
		if (n == -1) {
			log_warn("%s: reading from front-end", in->id);
			inst_conn_close(in, "read error");
			return -1;
		}
		if (n == 0) {
			if (rx->got == 0 && m->nfds == 0)
				inst_conn_close(in, NULL);
			else
				inst_conn_close(in, "front-end closed the "
				    "connection in the middle of a message");
			return -1;
		}
		if (fd_overflow || (mh.msg_flags & MSG_CTRUNC)) {
			inst_conn_close(in, fd_overflow ? "too many file "
			    "descriptors on one message" : "too many file "
			    "descriptors on one message, or vhostd is out of "
			    "them (RLIMIT_NOFILE): they were lost");
			return -1;
		}
		rx->got += (size_t)n;
		if (rx->got == hs && m->hdr.size > VU_PAYLOAD_MAX) {
			char why[96];

			snprintf(why, sizeof(why), "%s: payload size %u beyond "
			    "the limit of %u", vu_request_name(m->hdr.request),
			    m->hdr.size, VU_PAYLOAD_MAX);
			inst_conn_close(in, why);
			return -1;
		}
	}
}

/* Handles the whole message in in->rx.  Returns -1 if the connection was
 * closed, else 0. */
static int
vu_dispatch(struct inst *in)
{
	struct vu_msg *m = &in->rx.msg;
	const struct vu_rule *rule;
	struct vu_reply reply;
	const char *why = NULL;
	char buf[160];
	bool ack;
	uint64_t status;
	int rc;

	if ((why = vu_validate(in, m)) != NULL) {
		snprintf(buf, sizeof(buf), "%s (%u): %s",
		    vu_request_name(m->hdr.request), m->hdr.request, why);
		vu_msg_close_fds(m);
		inst_conn_close(in, buf);
		return -1;
	}
	rule = &vu_rules[m->hdr.request];
	log_debug("%s: %s size %u fds %u", in->id, rule->name, m->hdr.size,
	    m->nfds);
	ack = (m->hdr.flags & VU_FLAG_NEED_REPLY) && !rule->reply &&
	    vu_has_pf(in, VU_PF_REPLY_ACK);
	reply.len = 0;
	reply.fd = -1;
	rc = rule->fn(in, m, &reply, &why);
	/* A resumed session (vu_set_features) gets REPLY_ACK with it. */
	if (m->hdr.request == VU_SET_FEATURES)
		ack = (m->hdr.flags & VU_FLAG_NEED_REPLY) &&
		    vu_has_pf(in, VU_PF_REPLY_ACK);
	vu_msg_close_fds(m);
	if (in->conn_fd == -1) {
		/* a worker send failed and closed it */
		if (reply.fd != -1)
			close(reply.fd);
		return -1;
	}
	if (rc == VU_DEFER)
		return 0;
	if (rc == -1) {
		if (!ack) {
			snprintf(buf, sizeof(buf), "%s: %s", rule->name, why);
			inst_conn_close(in, buf);
			return -1;
		}
		log_warnx("%s: %s refused: %s", in->id, rule->name, why);
		status = 1;
		return vu_send(in, m->hdr.request, &status, sizeof(status));
	}
	if (rule->reply) {
		rc = vu_send_fd(in, m->hdr.request, reply.buf, reply.len,
		    reply.fd);
		if (reply.fd != -1)
			close(reply.fd);
		return rc;
	}
	if (ack) {
		status = 0;
		return vu_send(in, m->hdr.request, &status, sizeof(status));
	}
	return 0;
}

/* libevent callback: the front-end's socket is readable. */
void
vu_conn_readable(evutil_socket_t fd, short ev, void *arg)
{
	struct inst *in = arg;
	int i, r;

	for (i = 0; i < VU_MSGS_PER_WAKE; i++) {
		r = vu_rx_step(in);
		if (r <= 0)
			return;
		if (vu_dispatch(in) == -1)
			return;
		in->rx.got = 0;
		in->rx.msg.nfds = 0;
		if (in->waiting) {
			event_del(in->conn_ev);
			return;
		}
	}
}
