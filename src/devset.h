/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The running set of device instances in main, and the configuration it
 * was made from: started at start-up, changed by a reload (SIGHUP or
 * vhostctl reload) and by vhostctl add and remove.  A change is applied by
 * comparing each device's parsed configuration with the running one: an
 * unchanged device keeps its socket, its front-end connection and its
 * worker.  Only main's event loop thread calls these.
 */
#ifndef VHOSTD_DEVSET_H
#define VHOSTD_DEVSET_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/event.h>

#include "cfg.h"
#include "inst.h"

/* A list of malloc'ed strings. */
struct strlist {
	char	**v;
	size_t	  n;
};

/* What a reload or an add did. */
struct devset_report {
	struct strlist	added, removed, changed, unchanged;
	struct strlist	failed;		/* "id: why" of those not started */
	struct strlist	applied;	/* global keys applied at once */
	struct strlist	restart;	/* global keys that need a restart
					   of vhostd, as "key: why" */
};

/*
 * Start-up: takes cfg (freed by devset_stop) and sets up every device, in
 * order.  `verbose` is what -v adds to the configured log level.  Returns
 * 0, or -1 after logging which device could not be set up (devset_stop
 * undoes the rest).
 */
int	devset_start(struct vhostd_cfg *cfg, struct event_base *base,
	    int verbose);
/* Stops every device and frees it all. */
void	devset_stop(void);

const struct vhostd_cfg *devset_cfg(void);
struct inst *const *devset_insts(size_t *n);
struct inst *devset_find(const char *id);
unsigned devset_reloads(void);

/*
 * Reload: reads the configuration file again and applies it.  If the file
 * is not valid nothing changes, -1 is returned and *errors holds every
 * error (malloc'ed, one per line; logged too).  Otherwise returns 0 and
 * fills r (devices that could not be started are in r->failed).
 */
int	devset_reload(struct devset_report *r, char **errors);

/*
 * vhostctl add: the device object in text (from file `name`) is checked
 * against the running configuration (cfg_add_device) and started.
 * Returns as devset_reload.
 */
int	devset_add(const char *text, size_t len, const char *name,
	    struct devset_report *r, char **errors);

/*
 * vhostctl remove: stops device id.  Refused (-1, why set) if there is no
 * such device, or while a front-end is connected unless force.
 */
int	devset_remove(const char *id, bool force, char *why, size_t len);

/* Sets main's log level and every worker's (vhostctl log-level). */
void	devset_log_level(int level);

void	devset_report_free(struct devset_report *r);
/* Appends a copy of the printf text to l (dropped if out of memory). */
void	strlist_add(struct strlist *l, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	strlist_free(struct strlist *l);

#endif
