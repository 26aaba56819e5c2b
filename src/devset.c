/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The running set of device instances (devset.h).  A new configuration
 * (a reload, an add) is applied in two passes.  First every running
 * instance is matched by id with the new configuration's devices: one
 * whose parsed configuration is the same is kept as it is (socket,
 * front-end connection, worker, counters); one that is gone or changed is
 * torn down.  Then the devices not kept are set up, in the new order, as
 * at start-up.  A device that cannot be set up (after main dropped its
 * privileges it may not open what root could) is reported with the
 * warnings its set-up logged and left out; the next reload tries again.
 *
 * Global keys: log_level and control_socket.admin_group (who may
 * connect from now on) apply at once; the others are fixed once main has
 * locked itself down, and a change to them, or an admin_group that would
 * give the control socket's file another group or mode, is reported as
 * needing a restart of vhostd (and their running values are kept in the
 * configuration, so that it says what is in effect).
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "devset.h"
#include "log.h"
#include "sdnotify.h"
#include "util.h"

#define DEVSET_WHY_MAX	1024	/* bytes of warnings kept per failed set-up */

static struct vhostd_cfg	*cur;
static struct inst		**insts;
static size_t			 ninsts;
static struct event_base	*ev_base;
static int			 verbose_add;	/* -v */
static unsigned			 n_reloads;

void
strlist_add(struct strlist *l, const char *fmt, ...)
{
	va_list ap;
	char **v, *s;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r == -1)
		return;
	if ((v = reallocarray(l->v, l->n + 1, sizeof(*v))) == NULL) {
		free(s);
		return;
	}
	l->v = v;
	l->v[l->n++] = s;
}

void
strlist_free(struct strlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

void
devset_report_free(struct devset_report *r)
{
	strlist_free(&r->added);
	strlist_free(&r->removed);
	strlist_free(&r->changed);
	strlist_free(&r->unchanged);
	strlist_free(&r->failed);
	strlist_free(&r->applied);
	strlist_free(&r->restart);
}

const struct vhostd_cfg *
devset_cfg(void)
{
	return cur;
}

struct inst *const *
devset_insts(size_t *n)
{
	*n = ninsts;
	return insts;
}

unsigned
devset_reloads(void)
{
	return n_reloads;
}

/* The instance of list[0..n) (entries may be NULL) with this id. */
static struct inst *
devset_take(struct inst **list, size_t n, const char *id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (list[i] != NULL && strcmp(list[i]->id, id) == 0)
			return list[i];
	return NULL;
}

struct inst *
devset_find(const char *id)
{
	return devset_take(insts, ninsts, id);
}

static int
devset_level(int file_level)
{
	int level = file_level + verbose_add;

	return level > LOG_DEBUG ? LOG_DEBUG : level;
}

void
devset_log_level(int level)
{
	size_t i;

	log_set_level(level);
	for (i = 0; i < ninsts; i++)
		inst_worker_log_level(insts[i], log_get_level());
}

/*
 * Sets up the instance of dc; NULL if it cannot be, with the warnings its
 * set-up logged in why.
 */
static struct inst *
devset_setup(const struct dev_cfg *dc, char *why, size_t len)
{
	struct inst *in;
	int rc;

	if ((in = calloc(1, sizeof(*in))) == NULL) {
		snprintf(why, len, "out of memory");
		return NULL;
	}
	log_capture(why, len);
	rc = inst_setup(in, dc, ev_base);
	log_capture(NULL, 0);
	if (rc == 0)
		return in;
	inst_teardown(in);
	free(in);
	if (why[0] == '\0')
		snprintf(why, len, "cannot be set up (see the log)");
	return NULL;
}

int
devset_start(struct vhostd_cfg *cfg, struct event_base *base, int verbose)
{
	char why[DEVSET_WHY_MAX];
	size_t i;

	cur = cfg;
	ev_base = base;
	verbose_add = verbose;
	if (cfg->ndevs > 0 &&
	    (insts = calloc(cfg->ndevs, sizeof(*insts))) == NULL)
		fatal("calloc");
	for (i = 0; i < cfg->ndevs; i++) {
		if ((insts[i] = devset_setup(&cfg->devs[i], why,
		    sizeof(why))) == NULL) {
			log_warnx("%s: cannot serve this device; exiting",
			    cfg->devs[i].id);
			(void)sdnotify_send("STATUS=%s: cannot serve this "
			    "device", cfg->devs[i].id);
			return -1;
		}
		ninsts = i + 1;
		inst_set_table(insts, ninsts);
	}
	return 0;
}

void
devset_stop(void)
{
	size_t i;

	for (i = 0; i < ninsts; i++)
		inst_teardown(insts[i]);
	inst_set_table(NULL, 0);
	for (i = 0; i < ninsts; i++)
		free(insts[i]);
	free(insts);
	insts = NULL;
	ninsts = 0;
	cfg_free(cur);
	cur = NULL;
}

static bool
devset_same_poll(const struct vhostd_cfg *o, const struct vhostd_cfg *n)
{
	return o->n_poll_cores == n->n_poll_cores &&
	    memcmp(o->poll_cores, n->poll_cores, o->n_poll_cores *
	    sizeof(o->poll_cores[0])) == 0 && o->has_poll_set ==
	    n->has_poll_set && CPU_EQUAL(&o->poll_set, &n->poll_set);
}

/*
 * Is the control socket of n the one running (o)?  Its file's owner, group
 * and mode are compared as they come out, not as written: admin_group
 * gives the file its group (and mode 0660 unless "mode" says otherwise),
 * and an owner or group given as the default they stand for is no change.
 */
static bool
devset_same_control(const struct cfg_control *o, const struct cfg_control *n)
{
	uid_t uid;
	gid_t gid;
	mode_t mode;

	if (o->enabled != n->enabled)
		return false;
	if (!o->enabled)
		return true;
	ctl_file_perms(n, &uid, &gid, &mode);
	return strcmp(o->path, n->path) == 0 && o->file_uid == uid &&
	    o->file_gid == gid && o->file_mode == mode;
}

/*
 * The global keys of the new configuration n against the running o: those
 * that can change now do; the others keep their running values in n and
 * are reported.
 */
static void
devset_globals(const struct vhostd_cfg *o, struct vhostd_cfg *n,
    struct devset_report *r)
{
	if (strcmp(o->runtime_dir, n->runtime_dir) != 0) {
		strlist_add(&r->restart, "runtime_dir: made once, at start");
		memcpy(n->runtime_dir, o->runtime_dir, sizeof(n->runtime_dir));
	}
	if (o->user_set != n->user_set || o->uid != n->uid ||
	    o->gid != n->gid) {
		strlist_add(&r->restart, "user, group: main switched to its "
		    "user at start");
		n->user_set = o->user_set;
		memcpy(n->user, o->user, sizeof(n->user));
		n->uid = o->uid;
		n->gid = o->gid;
	}
	if (o->seccomp_log != n->seccomp_log) {
		strlist_add(&r->restart, "seccomp: the filters are loaded "
		    "once, at start");
		n->seccomp_log = o->seccomp_log;
	}
	if (!devset_same_poll(o, n)) {
		strlist_add(&r->restart, "poll_cores: main's CPU affinity is "
		    "set once, at start (polled devices were restarted on "
		    "their new cores)");
		n->n_poll_cores = o->n_poll_cores;
		memcpy(n->poll_cores, o->poll_cores, sizeof(n->poll_cores));
		n->has_poll_set = o->has_poll_set;
		n->poll_set = o->poll_set;
		n->main_set = o->main_set;
	}
	/* Who may connect is checked per connection against the running
	 * admin_group: a new one applies to the next connections (those
	 * accepted keep what they were let in with).  The socket file is
	 * another matter: main, no longer root, cannot give it another
	 * group or mode, and the file's permissions may keep the new
	 * group's members out. */
	if (!devset_same_control(&o->control, &n->control)) {
		strlist_add(&r->restart, "control_socket: its path, and its "
		    "file's owner, group and mode (which admin_group sets), "
		    "are made once, at start");
		n->control.enabled = o->control.enabled;
		memcpy(n->control.path, o->control.path,
		    sizeof(n->control.path));
		n->control.uid = o->control.uid;
		n->control.gid = o->control.gid;
		n->control.mode = o->control.mode;
	}
	n->control.file_uid = o->control.file_uid;
	n->control.file_gid = o->control.file_gid;
	n->control.file_mode = o->control.file_mode;
	if (o->control.admin_set != n->control.admin_set ||
	    o->control.admin_gid != n->control.admin_gid)
		strlist_add(&r->applied, "control_socket.admin_group");
	if (o->log_level != n->log_level) {
		devset_log_level(devset_level(n->log_level));
		strlist_add(&r->applied, "log_level");
	}
}

static bool
devset_has(const struct vhostd_cfg *n, const char *id)
{
	size_t i;

	for (i = 0; i < n->ndevs; i++)
		if (strcmp(n->devs[i].id, id) == 0)
			return true;
	return false;
}

static bool
strlist_has(const struct strlist *l, const char *s)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i], s) == 0)
			return true;
	return false;
}


/* The instances of slot[0..n) that are set, in order, as the running
 * set. */
static void
devset_publish(struct inst **slot, size_t n)
{
	size_t i;

	ninsts = 0;
	for (i = 0; i < n; i++)
		if (slot[i] != NULL)
			insts[ninsts++] = slot[i];
	inst_set_table(insts, ninsts);
}

/*
 * Applies the new configuration n (taken: it becomes the running one),
 * filling r.  Kept instances first, torn-down ones next, new ones last.
 */
static void
devset_apply(struct vhostd_cfg *n, struct devset_report *r)
{
	struct inst **slot, **gone, **next, *in;
	char why[DEVSET_WHY_MAX];
	size_t i, ngone = 0, cap = n->ndevs > ninsts ? n->ndevs : ninsts;

	if ((slot = calloc(n->ndevs + 1, sizeof(*slot))) == NULL ||
	    (gone = calloc(ninsts + 1, sizeof(*gone))) == NULL ||
	    (next = calloc(cap + 1, sizeof(*next))) == NULL)
		fatal("calloc");
	devset_globals(cur, n, r);
	for (i = 0; i < n->ndevs; i++) {
		in = devset_take(insts, ninsts, n->devs[i].id);
		if (in != NULL && inst_same_cfg(in, &n->devs[i])) {
			slot[i] = in;
			strlist_add(&r->unchanged, "%s", in->id);
		}
	}
	for (i = 0; i < ninsts; i++) {
		in = insts[i];
		if (devset_take(slot, n->ndevs, in->id) == in)
			continue;
		if (devset_has(n, in->id)) {
			strlist_add(&r->changed, "%s", in->id);
			log_msg(LOG_NOTICE, "%s: its configuration changed: "
			    "restarting the device", in->id);
		} else {
			strlist_add(&r->removed, "%s", in->id);
			log_msg(LOG_NOTICE, "%s: no longer configured: "
			    "stopping the device", in->id);
		}
		inst_teardown(in);
		gone[ngone++] = in;
	}
	free(insts);
	insts = next;
	devset_publish(slot, n->ndevs);
	for (i = 0; i < ngone; i++)
		free(gone[i]);
	free(gone);
	for (i = 0; i < n->ndevs; i++) {
		if (slot[i] != NULL)
			continue;
		if ((slot[i] = devset_setup(&n->devs[i], why,
		    sizeof(why))) == NULL) {
			strlist_add(&r->failed, "%s: %s", n->devs[i].id, why);
			log_warnx("%s: the device could not be started",
			    n->devs[i].id);
			continue;
		}
		if (!strlist_has(&r->changed, n->devs[i].id))
			strlist_add(&r->added, "%s", n->devs[i].id);
		devset_publish(slot, n->ndevs);
	}
	free(slot);
	cfg_free(cur);
	cur = n;
}

/* Logs the errors of a configuration that was refused, one per line. */
static void
devset_log_errors(const char *what, const char *errors)
{
	const char *p = errors, *nl;

	log_warnx("%s: the configuration is not valid; nothing changed", what);
	while (p != NULL && *p != '\0') {
		nl = strchr(p, '\n');
		log_warnx("%.*s", nl != NULL ? (int)(nl - p) : (int)strlen(p),
		    p);
		p = nl != NULL ? nl + 1 : NULL;
	}
}

/* One log line saying what a reload or an add changed. */
static void
devset_log_report(const char *what, const struct devset_report *r)
{
	size_t i;

	log_msg(LOG_NOTICE, "%s: %zu device%s added, %zu removed, %zu "
	    "changed, %zu unchanged, %zu failed", what, r->added.n,
	    r->added.n == 1 ? "" : "s", r->removed.n, r->changed.n,
	    r->unchanged.n, r->failed.n);
	for (i = 0; i < r->restart.n; i++)
		log_msg(LOG_NOTICE, "%s: a restart of vhostd is needed to "
		    "apply %s", what, r->restart.v[i]);
}

int
devset_reload(struct devset_report *r, char **errors)
{
	struct vhostd_cfg *n;

	memset(r, 0, sizeof(*r));
	log_msg(LOG_NOTICE, "reloading %s", cur->path);
	/* The service manager shows the unit reloading until READY=1, with
	 * the time the reload began (sd_notify(3): RELOADING=1 goes with
	 * MONOTONIC_USEC).  It does not make systemctl reload wait: that
	 * waits for the unit's ExecReload=, vhostctl reload, which returns
	 * once the reload is done and fails if the file was refused. */
	(void)sdnotify_send("RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)(util_now_ns() / 1000));
	if ((n = cfg_load(cur->path, errors)) == NULL) {
		if (*errors == NULL)
			*errors = strdup("out of memory");
		devset_log_errors("reload", *errors);
		(void)sdnotify_send("READY=1\nSTATUS=reload refused: the "
		    "file has errors; serving %zu device%s as before", ninsts,
		    ninsts == 1 ? "" : "s");
		return -1;
	}
	n_reloads++;
	devset_apply(n, r);
	devset_log_report("reload", r);
	(void)sdnotify_send("READY=1\nSTATUS=serving %zu device%s", ninsts,
	    ninsts == 1 ? "" : "s");
	return 0;
}

int
devset_add(const char *text, size_t len, const char *name,
    struct devset_report *r, char **errors)
{
	struct vhostd_cfg *n;
	char id[CFG_ID_MAX];

	memset(r, 0, sizeof(*r));
	if ((n = cfg_add_device(cur, text, len, name, errors)) == NULL) {
		if (*errors == NULL)
			*errors = strdup("out of memory");
		devset_log_errors("vhostctl add", *errors);
		return -1;
	}
	/* The device added is the last.  If it cannot be started it is not
	 * kept in the running configuration, where it would be neither
	 * served nor removable nor addable again: it may be added again once
	 * what it lacked is there. */
	memcpy(id, n->devs[n->ndevs - 1].id, sizeof(id));
	devset_apply(n, r);
	if (devset_find(id) == NULL)
		(void)cfg_forget_device(cur, id);
	devset_log_report("vhostctl add", r);
	return 0;
}

int
devset_remove(const char *id, bool force, char *why, size_t len)
{
	struct inst *in;
	char vis[96];
	size_t i;

	if ((in = devset_find(id)) == NULL) {
		snprintf(why, len, "no device '%s'", util_vis(vis, sizeof(vis),
		    id, strlen(id)));
		return -1;
	}
	if (in->conn_fd != -1 && !force) {
		snprintf(why, len, "device '%s' is in use by front-end pid %d "
		    "(uid %u); --force disconnects it", id, (int)in->peer_pid,
		    (unsigned)in->peer_uid);
		return -1;
	}
	log_msg(LOG_NOTICE, "%s: removed by vhostctl%s", id,
	    in->conn_fd != -1 ? ", disconnecting its front-end" : "");
	(void)cfg_forget_device(cur, id);
	inst_teardown(in);
	for (i = 0; i < ninsts && insts[i] != in; i++)
		;
	memmove(&insts[i], &insts[i + 1], (ninsts - i - 1) *
	    sizeof(*insts));
	ninsts--;
	inst_set_table(insts, ninsts);
	free(in);
	return 0;
}
