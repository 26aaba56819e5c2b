/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The configuration file (vhostd.json(5)): loading, validation with
 * compiler-style errors (file:line:column: json.path: message), and helpers
 * that device parse hooks use for their own keys.  Security model: the file
 * is operator input but may be wrong in any way; every value is checked for
 * type and range and nothing in it can crash the loader.
 */
#ifndef VHOSTD_CFG_H
#define VHOSTD_CFG_H

#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/un.h>

#include <jansson.h>

#include "device.h"

#define CFG_ID_MAX	64	/* including NUL */
#define CFG_SOCK_MAX	sizeof(((struct sockaddr_un *)0)->sun_path)
#define CFG_DEFAULT_PATH	"/etc/vhostd/vhostd.json"
#define CFG_DEFAULT_RUNDIR	"/run/vhostd"
#define CFG_CONTROL_NAME	"control.sock"	/* in runtime_dir */
#define CFG_DEFAULT_CONTROL	CFG_DEFAULT_RUNDIR "/" CFG_CONTROL_NAME

#define CFG_ACL_MAX	64	/* entries of allow_uids, allow_gids */
#define CFG_CPU_MAX	CPU_SETSIZE	/* CPU numbers are below this */
#define CFG_IDLE_US_DEFAULT	50	/* adaptive_idle_us */
#define CFG_IDLE_US_MAX		1000000
#define CFG_NAME_MAX	64	/* user and group names, including NUL */

/* How a device's worker runs its data plane (vhostd(8), DATAPATH MODES). */
enum cfg_datapath {
	CFG_DP_INTERRUPT,	/* sleeps on the kick eventfds */
	CFG_DP_POLL,		/* busy-polls its rings on its poll core */
	CFG_DP_ADAPTIVE,	/* polls while busy, sleeps when idle */
};

struct dev_cfg {
	char			 id[CFG_ID_MAX];
	const struct dev_ops	*ops;
	char			 socket[CFG_SOCK_MAX];	/* absolute path */
	unsigned		 index;		/* position in "devices" */
	void			*priv;		/* ops->cfg_size bytes, parsed */

	/* The socket file: owner and group (-1: leave), permissions. */
	uid_t			 sock_uid;
	gid_t			 sock_gid;
	mode_t			 sock_mode;
	/* "connect": vhostd connects to the socket, where the front-end
	 * listens, and again reconnect_ms after each disconnection. */
	bool			 connect;
	uint32_t		 reconnect_ms;
	/* "mem_slots": offer VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS. */
	bool			 mem_slots;
	/* Front-ends allowed to connect, by SO_PEERCRED: none listed means
	 * anyone the socket's permissions let in. */
	bool			 acl;
	uid_t			 allow_uids[CFG_ACL_MAX];
	unsigned		 n_allow_uids;
	gid_t			 allow_gids[CFG_ACL_MAX];
	unsigned		 n_allow_gids;
	/* "datapath"; for poll and adaptive, the CPU the worker is pinned
	 * to ("poll_core", or the one chosen from "poll_cores"; -1 with
	 * interrupt) and, for adaptive, how long it polls an idle device
	 * before it sleeps. */
	enum cfg_datapath	 datapath;
	int			 poll_core;
	bool			 poll_core_given;
	uint32_t		 adaptive_idle_us;
};

/*
 * The control socket for vhostctl(8): where, its file's owner, group and
 * mode, and the group whose members may use it besides root.
 */
struct cfg_control {
	bool			 enabled;	/* "control_socket": false */
	bool			 too_long;	/* not given, and the default
						   path would be too long */
	char			 path[CFG_SOCK_MAX];
	uid_t			 uid;		/* -1: the user vhostd runs as */
	gid_t			 gid;		/* -1: admin_group, else vhostd's */
	mode_t			 mode;
	bool			 admin_set;
	gid_t			 admin_gid;
	char			 admin_name[CFG_NAME_MAX];	/* "" if a gid */
	/* What the socket file was given at start (ctl_open): owner and
	 * group (-1: left as made), mode.  Not read from the file. */
	uid_t			 file_uid;
	gid_t			 file_gid;
	mode_t			 file_mode;
};

struct vhostd_cfg {
	char			*path;		/* as given */
	json_t			*root;		/* the file's JSON, for
						   cfg_add_device */
	char			 runtime_dir[PATH_MAX];
	int			 log_level;	/* LOG_*; LOG_NOTICE if unset */
	bool			 log_level_set;
	/* The unprivileged user main and workers run as once set up. */
	bool			 user_set;
	char			 user[CFG_NAME_MAX];
	uid_t			 uid;
	gid_t			 gid;		/* "group", or the user's own */
	bool			 seccomp_log;	/* "seccomp": "log" */
	/*
	 * Poll cores.  poll_cores: the top-level list, in its order.
	 * poll_set: every CPU a polled worker runs on (poll_cores and each
	 * device's poll_core); has_poll_set: it is not empty.  main_set:
	 * the CPUs vhostd may run on (online and in its affinity when the
	 * file was loaded) minus poll_set, where main and interrupt-mode
	 * workers run; never empty when has_poll_set.
	 */
	int			 poll_cores[CFG_CPU_MAX];
	unsigned		 n_poll_cores;
	bool			 has_poll_set;
	cpu_set_t		 poll_set;
	cpu_set_t		 main_set;
	struct cfg_control	 control;
	struct dev_cfg		*devs;
	size_t			 ndevs;
};

/*
 * Reads and validates the file.  On success returns the configuration and
 * sets *errors to NULL.  On any error returns NULL and sets *errors to a
 * malloc'ed text of every error found, one per line, each
 * "FILE:LINE:COL: PATH: message" (the caller frees it).
 */
struct vhostd_cfg *cfg_load(const char *path, char **errors);

/* The same from a string; `name` stands for the file name in messages. */
struct vhostd_cfg *cfg_load_string(const char *text, const char *name,
	    char **errors);

/*
 * vhostctl add: the configuration cur with one more device, the JSON
 * object in text (from the file `name`), checked as if it stood last in
 * cur's "devices": the same parser, the same checks against the other
 * devices.  Errors are as for cfg_load, placed in text and naming the
 * device's path "devices[N]".  The result's path is cur's.
 */
struct vhostd_cfg *cfg_add_device(const struct vhostd_cfg *cur,
	    const char *text, size_t len, const char *name, char **errors);

/* Takes the device `id` out of cfg->root's "devices" (vhostctl remove),
 * so that a later cfg_add_device no longer sees it.  0, or -1 if none. */
int	cfg_forget_device(struct vhostd_cfg *cfg, const char *id);

void	cfg_free(struct vhostd_cfg *cfg);

/* The kernel's list of online CPUs, which poll cores must be in (a
 * variable so that tests can give a file of their own). */
extern const char *cfg_cpu_online;

/* Remembers the CPU affinity vhostd has now, before main leaves the poll
 * cores: the poll cores of later loads (reload) are checked against it. */
void	cfg_keep_affinity(void);

/* "interrupt", "poll" or "adaptive". */
const char *cfg_datapath_name(enum cfg_datapath dp);

/* Writes the CPUs of set as a list ("0-2,5") into buf; "none" if empty.
 * Returns buf. */
char	*cfg_cpulist(const cpu_set_t *set, char *buf, size_t len);

/*
 * main, just before it locks itself down: from now on user and group
 * names are not looked up through NSS, whose modules may make system calls
 * main's filter forbids, but taken from those resolved so far (at start)
 * or read from /etc/passwd and /etc/group.
 */
void	cfg_names_lock(void);

/* ---- for device parse hooks ---- */

/* Reports an error at the JSON value at `path` (e.g. "devices[2].lines[1]");
 * the position is that value's (or the nearest enclosing one's). */
void	cfg_error(struct cfg_ctx *ctx, const char *path, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

/* Reports every key of obj not in the NULL-terminated list `allowed`.
 * Returns 0 if none, else -1. */
int	cfg_check_keys(struct cfg_ctx *ctx, json_t *obj, const char *path,
	    const char *const allowed[]);

/* The same for a device object: the keys every device has (id, type,
 * socket, socket_owner, ...) are allowed besides the device's own. */
int	cfg_check_device_keys(struct cfg_ctx *ctx, json_t *obj,
	    const char *path, const char *const allowed[]);

/* Optional (or, with required, mandatory) string member `key` of obj.
 * *out is set to the member's text (owned by obj) or to def if absent.
 * Returns 0 or -1 after reporting (wrong type, missing, empty). */
int	cfg_string(struct cfg_ctx *ctx, json_t *obj, const char *path,
	    const char *key, bool required, const char *def, const char **out);

/* Integer member in [min, max]; def if absent and not required. */
int	cfg_uint(struct cfg_ctx *ctx, json_t *obj, const char *path,
	    const char *key, bool required, uint64_t def, uint64_t min,
	    uint64_t max, uint64_t *out);

/* Checks a name (an id, a group) at path: shorter than size bytes, of
 * letters, digits, '.', '_' and '-'.  Returns 0 or -1 after reporting. */
int	cfg_check_name(struct cfg_ctx *ctx, const char *path,
	    const char *name, size_t size);

/* Boolean member; def if absent. */
int	cfg_bool(struct cfg_ctx *ctx, json_t *obj, const char *path,
	    const char *key, bool def, bool *out);

#endif
