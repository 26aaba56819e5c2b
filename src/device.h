/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The interface between the core (src/) and a device type (devices/).  A
 * device type exports one const struct dev_ops; devices/registry.c lists
 * them all.  The core knows no device by name; a device knows nothing of
 * sockets, processes or IPC.  Hooks marked "main" run in the
 * main process and never see guest memory; hooks marked "worker" run in the
 * device's worker process and see guest buffers only through struct
 * virtq.  Optional hooks may be NULL.
 */
#ifndef VHOSTD_DEVICE_H
#define VHOSTD_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <jansson.h>

#include "virtq.h"

#define DEV_MAX_QUEUES		8
#define DEV_MAX_HOST_FDS	8	/* fds a device's open hook may hand down */
#define DEV_CFG_MAX		8192	/* bytes of a device's parsed config */
#define DEV_CONFIG_SPACE_MAX	256	/* bytes of virtio config space */
#define DEV_STATE_MAX		16384	/* bytes of a device's saved state */

struct cfg_ctx;
struct dev_ctx;
struct inst;		/* main's view of an instance; opaque to devices */

/*
 * A device's own message between main and its worker (carried by
 * IPC_DEV), for devices whose main side does host work the worker may not
 * do itself (vsock: connect, accept).  op and data are the device's; the
 * core checks only the sizes.  main -> worker may carry one fd; worker ->
 * main carries none.
 */
#define DEV_MSG_MAX	112
struct dev_msg {
	uint32_t	op;
	uint32_t	len;		/* bytes of data in use */
	uint8_t		data[DEV_MSG_MAX];
};

/*
 * A host resource unit a device instance claims for itself: line 4 of
 * /dev/gpiochip0, address 0x50 of /dev/i2c-1.  No two instances may claim
 * the same unit of the same resource; the core checks this across the
 * whole configuration and names both owners.
 */
struct dev_claim {
	char		resource[128];	/* e.g. "gpio chip /dev/gpiochip0" */
	uint32_t	unit;		/* line number, address, ... */
	char		what[32];	/* "line", "address": for messages */
	bool		hex;		/* print unit as 0x.. (addresses) */
	char		path[96];	/* JSON path below the device, for the
					   error position, e.g. "lines[1]" */
};
#define DEV_MAX_CLAIMS	1024

/* What a worker hook returns after working a queue. */
enum dev_run {
	DEV_RUN_DRAINED,	/* popped until empty: core re-arms kicks */
	DEV_RUN_PAUSED,		/* stopped early on purpose; the device calls
				   dev_queue_run() itself when it can go on */
};

struct dev_ops {
	const char	*name;		/* config "type" */
	uint32_t	 virtio_id;
	uint16_t	 num_queues;
	uint64_t	 features;	/* device feature bits (the core adds
					   VERSION_1, ring and vhost-user bits) */
	uint64_t	 required_features;	/* of those, the ones the
					   spec says a driver must accept:
					   SET_FEATURES without them is
					   refused */
	size_t		 cfg_size;	/* sizeof the flat parsed config;
					   <= DEV_CFG_MAX, no pointers in it */
	size_t		 config_space_size;	/* <= DEV_CONFIG_SPACE_MAX */

	/* main: checks and parses the device's own keys of its config object
	 * at JSON path `path` into cfg (zeroed, cfg_size bytes).  The common
	 * keys (id, type, socket, ...) are handled by the core; the hook
	 * checks for unknown keys with cfg_check_device_keys and its own.  Returns 0 or -1 after
	 * reporting every error with cfg_error(). */
	int	(*parse)(struct cfg_ctx *ctx, json_t *obj, const char *path,
		    void *cfg);

	/* main: the units of shared host resources this instance claims
	 * (at most DEV_MAX_CLAIMS); returns how many it stored. */
	unsigned (*claims)(const void *cfg, struct dev_claim *out);

	/* main: fills the virtio config space (config_space_size bytes). */
	void	(*config_space)(const void *cfg, uint8_t *buf);

	/* main, as root before it drops privileges: opens the host
	 * resources the worker will need (entropy file, device node), with
	 * dev_host_open() for those other instances may share.  Stores up to
	 * DEV_MAX_HOST_FDS fds in fds and their count in *nfds; main owns
	 * them and hands copies to each worker.  May update cfg with what
	 * it learnt from the host (line count, names), before config_space
	 * and the workers see it.  Returns 0, or -1 with a message in err. */
	int	(*open)(void *cfg, int *fds, unsigned *nfds, char *err,
		    size_t errlen);

	/* worker, before lockdown: for a library that insists on opening a
	 * host resource by path itself (libgpiod v2's chip open).  Every fd
	 * it opens and needs later must be passed to dev_keep_fd(): the
	 * lockdown closes all others.  Nothing can be opened once it
	 * returns. */
	int	(*preopen)(struct dev_ctx *ctx);

	/* worker: sets up per-instance state (ctx->priv) from ctx->cfg and the
	 * host fds.  Runs before the worker maps guest memory. */
	int	(*init)(struct dev_ctx *ctx);

	/* worker: a queue has work (kick, ring start, or resume).  Pops,
	 * handles and pushes requests; the core flushes used entries. */
	enum dev_run (*run)(struct dev_ctx *ctx, unsigned qidx);

	/* worker: queue qidx is being stopped (the front-end took its ring
	 * back with GET_VRING_BASE): forget the requests held from it, whose
	 * ring is gone; the others go on. */
	void	(*queue_stop)(struct dev_ctx *ctx, unsigned qidx);

	/* worker: every queue is being stopped or reset: drop held requests
	 * and timers.  Returns the device to its state after init. */
	void	(*reset)(struct dev_ctx *ctx);

	/* worker: frees ctx->priv. */
	void	(*fini)(struct dev_ctx *ctx);

	/* worker: fds the device holds beyond the core's allowance (host
	 * connections), for the worker's RLIMIT_NOFILE. */
	unsigned (*extra_fds)(const void *cfg);

	/* worker: a message from the device's main side; fd is -1 or an fd
	 * the hook now owns. */
	void	(*worker_msg)(struct dev_ctx *ctx, const struct dev_msg *m,
		    int fd);

	/*
	 * main-side hooks, for devices with host work of their own.  Run
	 * in main's event loop; never see guest memory.
	 *
	 * main_start: in inst_setup, as root before main drops privileges,
	 * after the device's socket is bound: creates what the device serves
	 * on the host side (its own listening sockets).  Returns 0, or -1
	 * with a message in err.
	 * main_msg: a message from the instance's worker.
	 * main_worker_ready: the instance's worker has been initialised and
	 * given the state the front-end set so far.
	 * main_worker_gone: the instance's worker was stopped or died; work
	 * pending on it must be failed or dropped.
	 * main_stop: at exit (or after a failed main_start): frees it all.
	 */
	int	(*main_start)(struct inst *in, char *err, size_t errlen);
	void	(*main_msg)(struct inst *in, const struct dev_msg *m);
	void	(*main_worker_ready)(struct inst *in);
	void	(*main_worker_gone)(struct inst *in);
	void	(*main_stop)(struct inst *in);
};

/* Worker-side view of one device instance, owned by the worker runtime. */
struct dev_ctx {
	const char		*id;		/* config id, for logs */
	const struct dev_ops	*ops;
	const void		*cfg;		/* ops->cfg_size bytes */
	const int		*host_fds;	/* from ops->open, in order */
	unsigned		 n_host_fds;
	struct event_base	*base;		/* the worker's event loop */
	uint64_t		 features;	/* negotiated virtio features */
	struct virtq		*vq[DEV_MAX_QUEUES];	/* NULL: not running */
	void			*priv;		/* the device's own state */
	/* Set by the runtime: runs a queue as the core does on a kick. */
	void			(*queue_run)(struct dev_ctx *ctx, unsigned q);
	/* Set by the runtime: sends m to the device's main side (0, or -1
	 * if main cannot take it now). */
	int			(*send_main)(struct dev_ctx *ctx,
				    const struct dev_msg *m);
	/* fds the preopen hook opened, kept through the lockdown. */
	int			 kept_fds[DEV_MAX_HOST_FDS];
	unsigned		 n_kept_fds;
	/*
	 * Worker restarts.  state: DEV_STATE_MAX bytes that outlive the
	 * worker (shared memory main keeps for the connection, NULL if
	 * there is none): a device keeps there, current at every change,
	 * what a new worker needs to carry on as if nothing happened (line
	 * directions and interrupt types), and restores it in init when
	 * `restarted`.  It starts zeroed for each new front-end; a device
	 * reset must clear what the device keeps there.  restarted: this
	 * worker replaces one that died while serving the same front-end:
	 * the queues hand out again, first, the requests it had taken and
	 * not returned (vq_req.resubmitted).  A device re-executes those
	 * whose effect does not depend on being done once (reads, entropy,
	 * waiting for an interrupt) and completes the others with its error
	 * status, so that the driver gets every request back exactly once.
	 */
	void			*state;
	size_t			 state_len;
	bool			 restarted;
};

/* worker, in preopen: keep fd open through the lockdown.  Returns 0, or
 * -1 if too many are kept already. */
int	dev_keep_fd(struct dev_ctx *ctx, int fd);

/* worker: asks the core to run queue qidx again (after DEV_RUN_PAUSED, or
 * when a device fd says it can go on). */
void	dev_queue_run(struct dev_ctx *ctx, unsigned qidx);

/*
 * main, in an open hook: opens path with flags (O_CLOEXEC is added; not
 * O_CREAT or O_TRUNC), once for every instance that names it: later calls
 * get a dup of the first fd.  Returns the fd (the caller owns it) or -1
 * with errno.
 */
int	dev_host_open(const char *path, int flags);

/* main, at exit: closes what dev_host_open opened. */
void	dev_host_close_all(void);

/*
 * main: an open hook that runs once main has locked itself down (a device
 * added or changed by a reload or vhostctl add) finds this true.  It may
 * then open host files that exist, never create or write them: main's
 * seccomp filter forbids both.  dev_host_lock is main's, at its lockdown.
 */
bool	dev_host_locked(void);
void	dev_host_lock(void);

/* ---- main side, for the main_* hooks (src/inst.c) ---- */

const char	*dev_inst_id(const struct inst *in);
const struct dev_ops *dev_inst_ops(const struct inst *in);
const void	*dev_inst_cfg(const struct inst *in);
struct event_base *dev_inst_base(const struct inst *in);
/* The device's main-side state, NULL until set. */
void		*dev_inst_priv(const struct inst *in);
void		 dev_inst_set_priv(struct inst *in, void *priv);
/* True while a worker runs for the instance (a front-end is connected and
 * the worker has been initialised). */
bool		 dev_inst_worker_ready(const struct inst *in);
/* True while a front-end is connected (its worker may still be starting). */
bool		 dev_inst_frontend(const struct inst *in);
/* Sends m (and a copy of fd if not -1; the caller keeps its fd) to the
 * instance's worker.  Returns 0, or -1 if there is no ready worker or it
 * was lost doing so. */
int		 dev_inst_send(struct inst *in, const struct dev_msg *m,
		    int fd);
/* Every instance in config order: dev_inst_next(NULL) is the first; NULL
 * after the last. */
struct inst	*dev_inst_next(const struct inst *prev);
/*
 * As root in main_start: binds and listens on a UNIX socket of `type`
 * (SOCK_STREAM, SOCK_SEQPACKET) at path, made like the instance's own
 * socket (socket_owner, socket_group, socket_mode), replacing a stale
 * socket file but not one in use.  Returns the non-blocking fd, or -1
 * after logging why.  The caller unlinks path in main_stop.
 */
int		 dev_inst_listen(struct inst *in, const char *path, int type);

/* devices/registry.c */
extern const struct dev_ops *const dev_registry[];
const struct dev_ops *dev_lookup(const char *name);

#endif
