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

struct cfg_ctx;
struct dev_ctx;

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
	/* fds the preopen hook opened, kept through the lockdown. */
	int			 kept_fds[DEV_MAX_HOST_FDS];
	unsigned		 n_kept_fds;
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

/* devices/registry.c */
extern const struct dev_ops *const dev_registry[];
const struct dev_ops *dev_lookup(const char *name);

#endif
