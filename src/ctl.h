/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control socket that vhostctl(8) talks to, in main: ctl.c is the
 * transport (the socket, who may connect, one JSON request per line and
 * one answer per line, limits and timeouts), ctl_cmd.c the commands.  The
 * protocol is described in vhostctl(8), section PROTOCOL.  Only main's
 * event loop thread runs these.
 */
#ifndef VHOSTD_CTL_H
#define VHOSTD_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <event2/event.h>
#include <jansson.h>

#include "cfg.h"
#include "inst.h"

/*
 * The protocol version, in every request and every answer.  Bump it on
 * any change that an older vhostctl or vhostd would misread (a field
 * removed or given another meaning); new fields need no bump.
 */
#define CTL_PROTO_VERSION	1
#define CTL_REQ_MAX		65536	/* bytes of one request line */
#define CTL_CONN_MAX		16	/* control connections at once */
#define CTL_IDLE_MS		10000	/* a connection with no complete
					   request for this long is closed */
#define CTL_STATS_WAIT_MS	1000	/* for workers' counters */

/*
 * Before main locks itself down: binds the control socket of c (owner
 * uid/gid by default: the user main runs as) and records what its file
 * was given in c's file_uid, file_gid and file_mode.  Who may use it:
 * root, the user vhostd was started as if not root, and members of the
 * running configuration's admin_group.  Returns 0 (also when it is
 * disabled), or -1 after logging why.
 */
int	ctl_open(struct cfg_control *c, uid_t run_uid, gid_t run_gid);

/*
 * The owner, group and mode the control socket file of c would be given
 * (admin_group gives it its group and, by default, mode 0660), with the
 * user main runs as that ctl_open was given.  A reload compares them with
 * what the file has.
 */
void	ctl_file_perms(const struct cfg_control *c, uid_t *uid, gid_t *gid,
	    mode_t *mode);
/* Starts accepting on base. */
int	ctl_start(struct event_base *base);
/* At exit: closes every connection and removes the socket. */
void	ctl_close(void);

/* ---- between ctl.c and ctl_cmd.c ---- */

struct ctl_conn;

enum ctl_ret {
	CTL_DONE,	/* the answer is complete */
	CTL_FAIL,	/* refused: the error is in err */
	CTL_WAIT,	/* waiting for workers' counters (ctl_wait_stats) */
};

/* A command: fills `reply` (an object holding version and ok already)
 * from `req`, or says why not in err. */
struct ctl_cmd {
	const char	*name;
	enum ctl_ret	(*run)(struct ctl_conn *c, json_t *req, json_t *reply,
			    char *err, size_t errlen);
};
extern const struct ctl_cmd ctl_cmds[];

/* Completes an answer once the counters came (or the wait timed out). */
typedef void (*ctl_finish_fn)(struct ctl_conn *c, json_t *req,
	    json_t *reply);

/*
 * Asks the workers of the n instances for their counters; finish builds
 * the answer once every one answered, its worker went, or
 * CTL_STATS_WAIT_MS passed.  Returns CTL_WAIT, or CTL_DONE after running
 * finish at once if no worker was asked.
 */
enum ctl_ret ctl_wait_stats(struct ctl_conn *c, struct inst *const *in,
	    size_t n, json_t *req, json_t *reply, ctl_finish_fn finish);

/*
 * A JSON string of the len bytes of text for an answer: as it is if it is
 * UTF-8, without the incomplete character a cut left at its end, or else
 * made printable ASCII (util_vis); never NULL but out of memory.  An
 * answer must not be lost to a message that echoes a client's bytes or
 * was cut short.
 */
json_t	*ctl_text(const char *text, size_t len);

/* Who sent the request, for log lines. */
void	ctl_conn_peer(const struct ctl_conn *c, pid_t *pid, uid_t *uid);

/* ctl_cmd.c: when main started (status). */
void	ctl_cmd_init(void);

#endif
