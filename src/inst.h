/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * main's view of one device instance (one "devices" entry, one socket):
 * its listening socket, the front-end connection, the vhost-user state the
 * front-end negotiated, and the worker that runs its data plane.  All of it
 * lives in main so that a worker can be replaced.  Only main's event loop
 * thread touches these.
 */
#ifndef VHOSTD_INST_H
#define VHOSTD_INST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <event2/event.h>

#include "cfg.h"
#include "device.h"
#include "ipc.h"
#include "memtab.h"
#include "vu_proto.h"

struct vring_cfg {
	uint32_t	num;		/* 0: not set */
	uint32_t	base;		/* next avail index */
	uint64_t	desc, avail, used;	/* front-end virtual addresses */
	bool		addr_set;
	bool		started;	/* SET_VRING_KICK seen, not stopped */
	bool		enabled;
	bool		running;	/* handed to a worker (or to the one
					   being restarted: see resume) */
	bool		resume;		/* its worker died: the next one
					   continues it from the in-flight
					   log */
	int		kick_fd, call_fd, err_fd;	/* -1: none */
};

/* A front-end message being read, possibly across several reads. */
struct vu_rx {
	struct vu_msg	msg;
	size_t		got;		/* header + payload bytes so far */
};

enum worker_state {
	W_NONE,		/* no worker */
	W_STARTING,	/* forked, no HELLO yet */
	W_READY,	/* INIT sent; state is forwarded as it changes */
};

struct inst {
	/* Its own copy of its "devices" entry (dc.priv too: the open hook
	 * may change it), and the entry as parsed, before that, which a
	 * reload compares with the file's (inst_same_cfg). */
	struct dev_cfg		 dc;
	void			*parsed;
	const struct dev_cfg	*cfg;		/* &dc */
	const struct dev_ops	*ops;
	const char		*id;
	struct event_base	*base;
	size_t			 tbl_idx;	/* its place in inst_set_table's */

	/* Listening socket. */
	int			 listen_fd;
	struct event		*listen_ev;
	struct event		*listen_timer;	/* resume after EMFILE; with
						   "connect": the next try */
	struct log_ratelimit	 rl;		/* refusals, accept errors */
	struct log_ratelimit	 wlog_rl;	/* the worker's log lines */
	bool			 sock_created;	/* we made it: unlink at exit */
	int			 connect_errno;	/* why the last connect failed,
						   logged once per reason */

	/* Host resources from ops->open, handed to each worker. */
	int			 host_fds[DEV_MAX_HOST_FDS];
	unsigned		 n_host_fds;
	uint8_t			 config_space[DEV_CONFIG_SPACE_MAX];

	/* The front-end connection. */
	int			 conn_fd;	/* -1: none */
	struct event		*conn_ev;
	pid_t			 peer_pid;
	uid_t			 peer_uid;
	struct vu_rx		 rx;
	unsigned		 n_conns;	/* served since start */
	uint64_t		 conn_ms;	/* when it connected */

	/* What the front-end negotiated. */
	uint64_t		 features;
	uint64_t		 pfeatures;
	bool			 pf_seen;	/* GET/SET_PROTOCOL_FEATURES came */
	bool			 owner;
	uint8_t			 status;
	struct vu_region	 mem[MEMTAB_MAX_REGIONS];
	int			 mem_fd[MEMTAB_MAX_REGIONS];
	unsigned		 nmem;
	struct vring_cfg	 vr[DEV_MAX_QUEUES];
	int			 backend_fd;

	/* The worker. */
	enum worker_state	 wstate;
	pid_t			 wpid;
	int			 wfd;
	struct event		*wev;
	uint64_t		 wstart_ms;	/* when it was started */

	/* Its counters (vhostctl stats), as it last sent them: seq is the
	 * STATS_REQ they answer, pid the worker that sent them. */
	struct ipc_stats	 stats;
	bool			 stats_valid;
	pid_t			 stats_pid;

	/* A front-end message that waits for the worker (GET_VRING_BASE). */
	bool			 waiting;
	bool			 stop_pending;	/* to send to the next worker */
	uint32_t		 wait_index;
	struct event		*wait_timer;

	/*
	 * The in-flight area of the connection (queue logs and the device's
	 * saved state, ipc.h IPC_INIT): a memfd main makes when the first
	 * worker starts, or the front-end's (GET/SET_INFLIGHT_FD).
	 */
	int			 area_fd;	/* -1: none yet */
	uint64_t		 area_size, area_offset;
	uint32_t		 area_nq, area_qsize;
	bool			 area_used;	/* a worker has had it */

	/* Worker restarts. */
	struct event		*restart_timer;
	unsigned		 restarts;	/* in the current window */
	uint64_t		 restart_window;	/* its start, ms */
	uint64_t		 failed_until;	/* ms; 0: not failed */
	unsigned		 n_restarts;	/* since start */

	/* The device's main-side state (ops->main_*). */
	void			*dev_priv;
	bool			 dev_started;	/* main_start succeeded */
};

/* Offered feature bits. */
uint64_t vu_offered_features(const struct inst *in);
uint64_t vu_offered_pfeatures(const struct inst *in);

/* vu.c: the vhost-user protocol on in->conn_fd. */
void	vu_conn_readable(evutil_socket_t fd, short ev, void *arg);
void	vu_state_init(struct inst *in);
void	vu_state_reset(struct inst *in);
void	vu_worker_answered(struct inst *in, uint32_t index, uint32_t base);
/* A restarted worker has been given the state: send it the ring stop a
 * GET_VRING_BASE asked for while there was none. */
void	vu_worker_back(struct inst *in);

/*
 * Checks a message's framing and fixed sizes before any handler sees it:
 * version and flags, known request, payload size and fd count for the
 * request, and protocol features it needs.  Returns NULL if acceptable,
 * else the reason.  Pure: changes nothing.
 */
const char *vu_validate(const struct inst *in, const struct vu_msg *m);

/* inst.c: lifecycle and the worker, in main. */
/* Sets up the instance of dc (copied: dc may go), its socket and host
 * resources; 0, or -1 after logging why (inst_teardown undoes what was
 * done). */
int	inst_setup(struct inst *in, const struct dev_cfg *dc,
	    struct event_base *base);
void	inst_teardown(struct inst *in);
/* True if dc is the configuration in was set up from (a reload keeps
 * it running). */
bool	inst_same_cfg(const struct inst *in, const struct dev_cfg *dc);
void	inst_conn_close(struct inst *in, const char *why);
int	inst_worker_send(struct inst *in, const void *msg, size_t len,
	    const int *fds, unsigned nfds);
void	inst_vring_start(struct inst *in, unsigned index);
int	inst_worker_send_mem(struct inst *in);
void	inst_wait_arm(struct inst *in);
/* Makes the in-flight area for nq queues of qsize entries (replacing the
 * current one); 0, or -1 after logging why. */
int	inst_area_new(struct inst *in, uint32_t nq, uint32_t qsize);
/* Takes a front-end's area (fd is the instance's from now). */
void	inst_area_adopt(struct inst *in, int fd, uint64_t size,
	    uint64_t offset, uint32_t nq, uint32_t qsize);
/* Replaces the worker by a fresh one that maps the current area (no ring
 * may be running). */
void	inst_worker_renew(struct inst *in);
/*
 * vhostctl restart: replaces the worker now, as after its death but with
 * no back-off and not counted against the device; the new one resumes
 * the rings.  A failed device is let off its hold.  Returns 0, or -1 with
 * a reason in why (no front-end is connected).
 */
int	inst_worker_restart(struct inst *in, char *why, size_t len);
/* Asks the worker for its counters (answered by IPC_STATS, which calls
 * the hook set with inst_set_stats_hook).  0, or -1 if no worker runs. */
int	inst_stats_request(struct inst *in, uint32_t seq);
void	inst_set_stats_hook(void (*hook)(struct inst *));
/* Tells the worker (if any) the new log level. */
void	inst_worker_log_level(struct inst *in, int level);
/* "waiting", "connected", "running", "restarting" or "failed". */
const char *inst_state(const struct inst *in);
uint64_t inst_now_ms(void);
void	inst_set_self_exe(int fd);
/* Every instance, in configuration order, for dev_inst_next and
 * inst_child_reaped (the caller keeps the array current). */
void	inst_set_table(struct inst *const *insts, size_t n);
void	inst_set_seccomp_log(bool on);
void	inst_set_run_as(uid_t uid, gid_t gid);
void	inst_child_reaped(pid_t pid, int status);
size_t	inst_zombie_count(void);

#endif
