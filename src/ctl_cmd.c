/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control socket's commands (vhostctl(8), PROTOCOL): one function per
 * command, gathered in ctl_cmds[].  Each reads the fields of its request,
 * checking every one (the transport has checked only "version" and
 * "cmd"), and fills its answer with jansson.  The commands that change
 * something are logged with who asked.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "devset.h"
#include "log.h"
#include "util.h"

#define CMD_VIS_MAX	96	/* bytes of a client's string in a message */

static uint64_t	start_ms;

void
ctl_cmd_init(void)
{
	start_ms = inst_now_ms();
}

/* ---- helpers ---- */

/* A string member of req: its value, or NULL (and err set) if it is
 * missing or not a non-empty string. */
static const char *
cmd_string(json_t *req, const char *key, char *err, size_t errlen)
{
	json_t *v = json_object_get(req, key);

	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		snprintf(err, errlen, "bad request: \"%s\" must be a non-empty "
		    "string", key);
		return NULL;
	}
	return json_string_value(v);
}

/* The device named by the request's "id"; NULL with err set if none. */
static struct inst *
cmd_device_arg(json_t *req, char *err, size_t errlen)
{
	const char *id;
	struct inst *in;
	char vis[CMD_VIS_MAX];

	if ((id = cmd_string(req, "id", err, errlen)) == NULL)
		return NULL;
	if ((in = devset_find(id)) == NULL)
		snprintf(err, errlen, "no device '%s'", util_vis(vis,
		    sizeof(vis), id, strlen(id)));
	return in;
}

static json_t *
cmd_hex(uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "0x%016" PRIx64, v);
	return json_string(buf);
}

static json_t *
cmd_strlist(const struct strlist *l)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a != NULL && i < l->n; i++)
		json_array_append_new(a, ctl_text(l->v[i], strlen(l->v[i])));
	return a;
}

/* Logs a command that changes something, and who asked; arg, if any, is
 * the client's: made one line of printable ASCII, and cut. */
static void
cmd_log(struct ctl_conn *c, const char *what, const char *arg)
{
	char vis[CMD_VIS_MAX];
	pid_t pid;
	uid_t uid;

	ctl_conn_peer(c, &pid, &uid);
	log_msg(LOG_NOTICE, "control: pid %d uid %u: %s%s%s", (int)pid,
	    (unsigned)uid, what, arg != NULL ? " " : "",
	    arg != NULL ? util_vis(vis, sizeof(vis), arg, strlen(arg)) : "");
}

/* What one device is now: list, show. */
static json_t *
cmd_device(const struct inst *in)
{
	uint64_t now = inst_now_ms();
	json_t *d, *en;
	unsigned i;

	d = json_object();
	en = json_array();
	if (d == NULL || en == NULL) {
		json_decref(d);
		json_decref(en);
		return NULL;
	}
	json_object_set_new(d, "id", json_string(in->id));
	json_object_set_new(d, "type", json_string(in->ops->name));
	json_object_set_new(d, "socket", json_string(in->cfg->socket));
	json_object_set_new(d, "mode", json_string(in->cfg->connect ?
	    "connect" : "listen"));
	json_object_set_new(d, "state", json_string(inst_state(in)));
	json_object_set_new(d, "datapath",
	    json_string(cfg_datapath_name(in->cfg->datapath)));
	json_object_set_new(d, "poll_core", in->cfg->datapath !=
	    CFG_DP_INTERRUPT ? json_integer(in->cfg->poll_core) :
	    json_null());
	if (in->conn_fd != -1)
		json_object_set_new(d, "frontend", json_pack("{s:i, s:I, s:I}",
		    "pid", (int)in->peer_pid, "uid", (json_int_t)in->peer_uid,
		    "connected_s", (json_int_t)((now - in->conn_ms) / 1000)));
	else
		json_object_set_new(d, "frontend", json_null());
	if (in->wstate != W_NONE)
		json_object_set_new(d, "worker", json_pack("{s:i, s:I}",
		    "pid", (int)in->wpid, "up_s",
		    (json_int_t)((now - in->wstart_ms) / 1000)));
	else
		json_object_set_new(d, "worker", json_null());
	json_object_set_new(d, "features", cmd_hex(in->conn_fd != -1 ?
	    in->features : 0));
	json_object_set_new(d, "protocol_features", cmd_hex(in->conn_fd !=
	    -1 ? in->pfeatures : 0));
	json_object_set_new(d, "queues", json_integer(in->ops->num_queues));
	for (i = 0; i < in->ops->num_queues; i++)
		if (in->conn_fd != -1 && in->vr[i].enabled &&
		    in->vr[i].started)
			json_array_append_new(en, json_integer(i));
	json_object_set_new(d, "queues_enabled", en);
	json_object_set_new(d, "connections", json_integer(in->n_conns));
	json_object_set_new(d, "worker_restarts",
	    json_integer(in->n_restarts));
	return d;
}

/* One queue's counters from the worker's last answer. */
static json_t *
cmd_queue_stats(const struct ipc_queue_stats *q, unsigned index)
{
	json_t *o, *h;
	unsigned b;

	if ((h = json_array()) == NULL)
		return NULL;
	for (b = 0; b < VQ_LAT_BUCKETS; b++)
		json_array_append_new(h, json_integer((json_int_t)q->lat[b]));
	o = json_pack("{s:i, s:I, s:I, s:I, s:I, s:I, s:o}", "index",
	    (int)index, "requests", (json_int_t)q->requests,
	    "bytes_from_guest", (json_int_t)q->bytes_out, "bytes_to_guest",
	    (json_int_t)q->bytes_in, "errors", (json_int_t)q->errors,
	    "notifications", (json_int_t)q->signals, "latency_hist", h);
	return o;
}

/* Upper bounds of the latency buckets, in microseconds (the last one
 * has none). */
static json_t *
cmd_lat_bounds(void)
{
	json_t *a = json_array();
	unsigned b;

	for (b = 0; a != NULL && b + 1 < VQ_LAT_BUCKETS; b++)
		json_array_append_new(a, json_integer((json_int_t)1 << b));
	return a;
}

/* The counters of one device: {"id", "worker_pid", "queues": [...]}. */
static json_t *
cmd_device_stats(const struct inst *in)
{
	json_t *d, *qs;
	unsigned i;

	qs = json_array();
	d = json_pack("{s:s}", "id", in->id);
	if (d == NULL || qs == NULL) {
		json_decref(d);
		json_decref(qs);
		return NULL;
	}
	if (in->wstate == W_READY && in->stats_valid &&
	    in->stats_pid == in->wpid) {
		json_object_set_new(d, "worker_pid", json_integer(in->wpid));
		for (i = 0; i < in->stats.nq && i < DEV_MAX_QUEUES; i++)
			json_array_append_new(qs,
			    cmd_queue_stats(&in->stats.q[i], i));
	} else
		json_object_set_new(d, "worker_pid", json_null());
	json_object_set_new(d, "queues", qs);
	return d;
}

static void
cmd_report(json_t *reply, const struct devset_report *r)
{
	json_object_set_new(reply, "added", cmd_strlist(&r->added));
	json_object_set_new(reply, "removed", cmd_strlist(&r->removed));
	json_object_set_new(reply, "changed", cmd_strlist(&r->changed));
	json_object_set_new(reply, "unchanged", cmd_strlist(&r->unchanged));
	json_object_set_new(reply, "failed", cmd_strlist(&r->failed));
	json_object_set_new(reply, "applied", cmd_strlist(&r->applied));
	json_object_set_new(reply, "restart_needed",
	    cmd_strlist(&r->restart));
}

/* A configuration that was refused: its errors, one per array entry. */
static void
cmd_errors(json_t *reply, const char *errors)
{
	json_t *a = json_array();
	const char *p = errors, *nl;

	while (a != NULL && p != NULL && *p != '\0') {
		nl = strchr(p, '\n');
		json_array_append_new(a, ctl_text(p, nl != NULL ?
		    (size_t)(nl - p) : strlen(p)));
		p = nl != NULL ? nl + 1 : NULL;
	}
	json_object_set_new(reply, "errors", a);
}

/* The answer of reload and add: CTL_FAIL if a device was not started. */
static enum ctl_ret
cmd_applied(json_t *reply, struct devset_report *r, char *err, size_t len)
{
	enum ctl_ret ret = CTL_DONE;

	cmd_report(reply, r);
	if (r->failed.n == 1) {
		snprintf(err, len, "device %s", r->failed.v[0]);
		ret = CTL_FAIL;
	} else if (r->failed.n > 1) {
		snprintf(err, len, "%zu devices could not be started (see "
		    "\"failed\")", r->failed.n);
		ret = CTL_FAIL;
	}
	devset_report_free(r);
	return ret;
}

/* ---- the commands ---- */

static enum ctl_ret
cmd_status(struct ctl_conn *c, json_t *req, json_t *reply, char *err,
    size_t len)
{
	const struct vhostd_cfg *cfg = devset_cfg();
	struct inst *const *in;
	json_t *cores = json_array();
	size_t n, i, connected = 0, workers = 0;
	char cpus[256];
	int cpu;

	in = devset_insts(&n);
	for (i = 0; i < n; i++) {
		connected += in[i]->conn_fd != -1;
		workers += in[i]->wstate != W_NONE;
	}
	for (cpu = 0; cfg->has_poll_set && cores != NULL && cpu < CFG_CPU_MAX;
	    cpu++)
		if (CPU_ISSET(cpu, &cfg->poll_set))
			json_array_append_new(cores, json_integer(cpu));
	json_object_set_new(reply, "vhostd", json_string(PACKAGE_VERSION));
	json_object_set_new(reply, "pid", json_integer(getpid()));
	json_object_set_new(reply, "uptime_s",
	    json_integer((json_int_t)((inst_now_ms() - start_ms) / 1000)));
	json_object_set_new(reply, "config", ctl_text(cfg->path,
	    strlen(cfg->path)));
	json_object_set_new(reply, "devices", json_integer((json_int_t)n));
	json_object_set_new(reply, "connected",
	    json_integer((json_int_t)connected));
	json_object_set_new(reply, "workers",
	    json_integer((json_int_t)workers));
	json_object_set_new(reply, "poll_cores", cores);
	json_object_set_new(reply, "main_cpus", cfg->has_poll_set ?
	    json_string(cfg_cpulist(&cfg->main_set, cpus, sizeof(cpus))) :
	    json_null());
	json_object_set_new(reply, "log_level",
	    json_string(log_level_name(log_get_level())));
	json_object_set_new(reply, "reloads",
	    json_integer(devset_reloads()));
	return CTL_DONE;
}

static enum ctl_ret
cmd_list(struct ctl_conn *c, json_t *req, json_t *reply, char *err,
    size_t len)
{
	struct inst *const *in;
	json_t *a = json_array();
	size_t n, i;

	in = devset_insts(&n);
	for (i = 0; a != NULL && i < n; i++)
		json_array_append_new(a, cmd_device(in[i]));
	json_object_set_new(reply, "devices", a);
	return CTL_DONE;
}

/* show, once the counters came: the device, each queue's state and
 * counters. */
static void
cmd_show_finish(struct ctl_conn *c, json_t *req, json_t *reply)
{
	const char *id = json_string_value(json_object_get(req, "id"));
	struct inst *in = id != NULL ? devset_find(id) : NULL;
	json_t *d, *qs, *st, *q, *counters;
	const struct vring_cfg *v;
	unsigned i;

	if (in == NULL) {
		/* Removed meanwhile. */
		json_object_set_new(reply, "ok", json_false());
		json_object_set_new(reply, "error", json_string("the device "
		    "was removed meanwhile"));
		return;
	}
	if ((d = cmd_device(in)) == NULL || (qs = json_array()) == NULL) {
		json_decref(d);
		return;
	}
	st = cmd_device_stats(in);
	counters = st != NULL ? json_object_get(st, "queues") : NULL;
	for (i = 0; i < in->ops->num_queues; i++) {
		v = &in->vr[i];
		q = json_pack("{s:i, s:i, s:b, s:b, s:b}", "index", (int)i,
		    "size", in->conn_fd != -1 ? (int)v->num : 0, "started",
		    in->conn_fd != -1 && v->started, "enabled",
		    in->conn_fd != -1 && v->enabled, "running",
		    in->conn_fd != -1 && v->running);
		if (q != NULL && json_array_size(counters) > i)
			json_object_update(q, json_array_get(counters, i));
		json_array_append_new(qs, q);
	}
	json_object_set_new(d, "queue_detail", qs);
	json_object_set(d, "counters_from_worker", st != NULL ?
	    json_object_get(st, "worker_pid") : json_null());
	json_decref(st);
	json_object_set_new(reply, "device", d);
	json_object_set_new(reply, "latency_bounds_us", cmd_lat_bounds());
}

static enum ctl_ret
cmd_show(struct ctl_conn *c, json_t *req, json_t *reply, char *err,
    size_t len)
{
	struct inst *in;

	if ((in = cmd_device_arg(req, err, len)) == NULL)
		return CTL_FAIL;
	return ctl_wait_stats(c, &in, 1, req, reply, cmd_show_finish);
}

static void
cmd_stats_finish(struct ctl_conn *c, json_t *req, json_t *reply)
{
	json_t *id = json_object_get(req, "id"), *a = json_array();
	struct inst *const *in, *one;
	size_t n, i;

	if (json_is_string(id)) {
		one = devset_find(json_string_value(id));
		in = &one;
		n = one != NULL ? 1 : 0;
	} else
		in = devset_insts(&n);
	for (i = 0; a != NULL && i < n; i++)
		json_array_append_new(a, cmd_device_stats(in[i]));
	json_object_set_new(reply, "devices", a);
	json_object_set_new(reply, "latency_bounds_us", cmd_lat_bounds());
}

static enum ctl_ret
cmd_stats(struct ctl_conn *c, json_t *req, json_t *reply, char *err,
    size_t len)
{
	struct inst *const *in, *one;
	size_t n;

	if (json_object_get(req, "id") != NULL) {
		if ((one = cmd_device_arg(req, err, len)) == NULL)
			return CTL_FAIL;
		in = &one;
		n = 1;
	} else
		in = devset_insts(&n);
	return ctl_wait_stats(c, in, n, req, reply, cmd_stats_finish);
}

static enum ctl_ret
cmd_add(struct ctl_conn *c, json_t *req, json_t *reply, char *err,
    size_t len)
{
	struct devset_report r;
	json_t *v = json_object_get(req, "device");
	const char *name = "<request>";
	char *errors = NULL, vis[CMD_VIS_MAX];

	if (!json_is_string(v)) {
		snprintf(err, len, "bad request: \"device\" must be the text "
		    "of a device object");
		return CTL_FAIL;
	}
	/* The client's file name starts every error line: one line of
	 * printable ASCII, not too long. */
	if (json_is_string(json_object_get(req, "name"))) {
		name = json_string_value(json_object_get(req, "name"));
		cmd_log(c, "add from", name);
		name = util_vis(vis, sizeof(vis), name, json_string_length(
		    json_object_get(req, "name")));
	} else
		cmd_log(c, "add from", name);
	if (devset_add(json_string_value(v), json_string_length(v), name, &r,
	    &errors) == -1) {
		cmd_errors(reply, errors);
		snprintf(err, len, "the device is not valid; nothing changed");
		free(errors);
		return CTL_FAIL;
	}
	return cmd_applied(reply, &r, err, len);
}

static enum ctl_ret
cmd_remove(struct ctl_conn *c, json_t *req, json_t *reply, char *err,
    size_t len)
{
	const char *id;
	json_t *force = json_object_get(req, "force");

	if ((id = cmd_string(req, "id", err, len)) == NULL)
		return CTL_FAIL;
	if (force != NULL && !json_is_boolean(force)) {
		snprintf(err, len, "bad request: \"force\" must be true or "
		    "false");
		return CTL_FAIL;
	}
	cmd_log(c, "remove", id);
	if (devset_remove(id, json_is_true(force), err, len) == -1)
		return CTL_FAIL;
	json_object_set_new(reply, "removed", json_string(id));
	return CTL_DONE;
}

static enum ctl_ret
cmd_reload(struct ctl_conn *c, json_t *req, json_t *reply, char *err,
    size_t len)
{
	struct devset_report r;
	char *errors = NULL;

	cmd_log(c, "reload", NULL);
	if (devset_reload(&r, &errors) == -1) {
		cmd_errors(reply, errors);
		snprintf(err, len, "%s is not valid; nothing changed",
		    devset_cfg()->path);
		free(errors);
		return CTL_FAIL;
	}
	return cmd_applied(reply, &r, err, len);
}

static enum ctl_ret
cmd_restart(struct ctl_conn *c, json_t *req, json_t *reply, char *err,
    size_t len)
{
	struct inst *in;

	if ((in = cmd_device_arg(req, err, len)) == NULL)
		return CTL_FAIL;
	cmd_log(c, "restart", in->id);
	if (inst_worker_restart(in, err, len) == -1)
		return CTL_FAIL;
	json_object_set_new(reply, "worker", in->wstate != W_NONE ?
	    json_integer(in->wpid) : json_null());
	return CTL_DONE;
}

static enum ctl_ret
cmd_log_level(struct ctl_conn *c, json_t *req, json_t *reply, char *err,
    size_t len)
{
	const char *name;
	int level, was = log_get_level();
	char vis[CMD_VIS_MAX];

	if ((name = cmd_string(req, "level", err, len)) == NULL)
		return CTL_FAIL;
	if ((level = log_level_parse(name)) == -1) {
		snprintf(err, len, "unknown log level '%s' (expected error, "
		    "warning, notice, info or debug)", util_vis(vis,
		    sizeof(vis), name, strlen(name)));
		return CTL_FAIL;
	}
	cmd_log(c, "log-level", log_level_name(level));
	devset_log_level(level);
	json_object_set_new(reply, "level", json_string(log_level_name(
	    level)));
	json_object_set_new(reply, "was", json_string(log_level_name(was)));
	return CTL_DONE;
}

const struct ctl_cmd ctl_cmds[] = {
	{ .name = "status",	.run = cmd_status },
	{ .name = "list",	.run = cmd_list },
	{ .name = "show",	.run = cmd_show },
	{ .name = "stats",	.run = cmd_stats },
	{ .name = "add",	.run = cmd_add },
	{ .name = "remove",	.run = cmd_remove },
	{ .name = "reload",	.run = cmd_reload },
	{ .name = "restart",	.run = cmd_restart },
	{ .name = "log-level",	.run = cmd_log_level },
	{ .name = NULL }
};
