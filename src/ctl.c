/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control socket's transport, in main (ctl.h).  Each connection is
 * checked once, when accepted: the peer's credentials (SO_PEERCRED, and
 * its groups by SO_PEERGROUPS, as the kernel has them: no group database
 * lookup that could block) must be root's, those of the user vhostd was
 * started as if that was not root, or include the configured admin_group.
 * Then it sends requests, one JSON object per line, and gets one answer
 * per line, in order.
 *
 * Security model: a peer that got in is an administrator, but its bytes
 * are still checked as if anyone could send them: a line is parsed by
 * jansson and every field is checked before use; a line longer than
 * CTL_REQ_MAX is answered with an error and the connection closed; a
 * connection that completes no request within CTL_IDLE_MS (one that sends
 * half a request and stalls, one that never reads its answers) is closed;
 * at most CTL_CONN_MAX connections at once.  Sockets are non-blocking,
 * each connection has its own buffers (its answers held to what it has
 * not read) and runs at most CTL_BATCH requests per turn of the event
 * loop, so that no peer can stall the loop and with it the vhost-user
 * front-ends.  Strings a peer sent are echoed in errors and logs escaped
 * (util_vis), and no answer is lost to text that is not UTF-8 (ctl_text).
 */
#include "config.h"

#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "devset.h"
#include "log.h"
#include "util.h"

#define CTL_OUT_MAX	(64 * 1024 * 1024)	/* answers not yet read */
#define CTL_OUT_PAUSE	(256 * 1024)	/* no more requests are run while
					   this much is not read */
#define CTL_READ_MAX	(256 * 1024)	/* bytes read per wake-up */
#define CTL_BATCH	16		/* requests run per wake-up */

struct ctl_conn {
	TAILQ_ENTRY(ctl_conn)	 link;
	int			 fd;
	pid_t			 pid;
	uid_t			 uid;
	struct event		*rev, *wev, *timer;
	struct event		*resume;	/* more lines wait (CTL_BATCH) */
	char			 in[CTL_REQ_MAX];
	size_t			 in_len;
	char			*out;
	size_t			 out_len, out_off;
	bool			 eof;		/* the peer sends no more */
	bool			 closing;	/* close once out is written */
	/* A request waiting for workers' counters. */
	bool			 waiting;
	uint32_t		 wait_seq;
	struct event		*wait_timer;
	json_t			*wait_req, *wait_reply;
	struct inst		**wait_in;	/* compared, never followed */
	char			**wait_ids;
	size_t			 wait_n;
	size_t			 wait_next;	/* those before have answered */
	ctl_finish_fn		 wait_finish;
};

static TAILQ_HEAD(, ctl_conn) conns = TAILQ_HEAD_INITIALIZER(conns);
static unsigned			 nconns;
static int			 listen_fd = -1;
static struct event		*listen_ev, *listen_timer;
static struct event_base	*ctl_base;
static char			 sock_path[CFG_SOCK_MAX];
static uid_t			 start_uid;	/* who started vhostd */
static uid_t			 run_uid = (uid_t)-1;	/* ctl_open's */
static gid_t			 run_gid = (gid_t)-1;
static uint32_t			 stats_seq;
static uint64_t			 idle_ms = CTL_IDLE_MS;
static struct log_ratelimit	 ctl_rl = LOG_RATELIMIT_INIT;

static void ctl_conn_free(struct ctl_conn *);
static void ctl_process(struct ctl_conn *);
static void ctl_stats_came(struct inst *);

void
ctl_conn_peer(const struct ctl_conn *c, pid_t *pid, uid_t *uid)
{
	*pid = c->pid;
	*uid = c->uid;
}

void
ctl_file_perms(const struct cfg_control *c, uid_t *uid, gid_t *gid,
    mode_t *mode)
{
	*uid = c->uid != (uid_t)-1 ? c->uid : run_uid;
	*gid = c->gid != (gid_t)-1 ? c->gid : c->admin_set ? c->admin_gid :
	    run_gid;
	*mode = c->mode;
}

int
ctl_open(struct cfg_control *c, uid_t ruid, gid_t rgid)
{
	uid_t uid;
	gid_t gid;
	mode_t mode;

	run_uid = ruid;
	run_gid = rgid;
	ctl_file_perms(c, &uid, &gid, &mode);
	c->file_uid = uid;
	c->file_gid = gid;
	c->file_mode = mode;
	start_uid = getuid();
	if (c->too_long)
		log_warnx("no control socket: the default, %s in the runtime "
		    "directory, would be a path too long; give "
		    "\"control_socket\"", CFG_CONTROL_NAME);
	if (!c->enabled)
		return 0;
	listen_fd = util_listen_unix("control socket", c->path, SOCK_STREAM,
	    uid, gid, mode);
	if (listen_fd == -1)
		return -1;
	snprintf(sock_path, sizeof(sock_path), "%s", c->path);
	return 0;
}

/* ---- output ---- */

static void
ctl_arm_write(struct ctl_conn *c)
{
	if (c->out_off < c->out_len)
		event_add(c->wev, NULL);
	else
		event_del(c->wev);
}

/* Writes what it can of the pending output; -1 if the peer is gone. */
static int
ctl_flush(struct ctl_conn *c)
{
	ssize_t n;

	while (c->out_off < c->out_len) {
		n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			break;
		if (n <= 0)
			return -1;
		c->out_off += (size_t)n;
	}
	if (c->out_off == c->out_len) {
		c->out_off = c->out_len = 0;
		free(c->out);
		c->out = NULL;
	}
	ctl_arm_write(c);
	return 0;
}

/* Queues one answer line; -1 (and the connection is to be closed) if the
 * peer has more unread than CTL_OUT_MAX. */
static int
ctl_queue(struct ctl_conn *c, json_t *reply)
{
	char *text, *p;
	size_t len;

	if ((text = json_dumps(reply, JSON_COMPACT)) == NULL) {
		log_warnx("control: pid %d: out of memory for an answer",
		    (int)c->pid);
		return -1;
	}
	len = strlen(text);
	if (c->out_len - c->out_off + len + 1 > CTL_OUT_MAX) {
		log_rl(&ctl_rl, LOG_WARNING, "control: pid %d uid %u does not "
		    "read its answers (%zu bytes pending): closing",
		    (int)c->pid, (unsigned)c->uid, c->out_len - c->out_off);
		free(text);
		return -1;
	}
	/* What the peer read goes once it is as much as what it has not:
	 * a peer that reads as fast as it asks, but never all, would
	 * otherwise grow the buffer by every answer it was ever sent. */
	if (c->out_off > 0 && c->out_off >= c->out_len - c->out_off) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	if ((p = realloc(c->out, c->out_len + len + 1)) == NULL) {
		free(text);
		return -1;
	}
	c->out = p;
	memcpy(c->out + c->out_len, text, len);
	c->out[c->out_len + len] = '\n';
	c->out_len += len + 1;
	free(text);
	return 0;
}

json_t *
ctl_text(const char *text, size_t len)
{
	json_t *j;
	char *v;

	if ((j = json_stringn(text, len)) != NULL ||
	    (j = json_stringn(text, util_utf8_trim(text, len))) != NULL)
		return j;
	if (len > CTL_REQ_MAX)
		len = CTL_REQ_MAX;
	if ((v = malloc(4 * len + 4)) == NULL)
		return NULL;
	j = json_string(util_vis(v, 4 * len + 4, text, len));
	free(v);
	return j;
}

static json_t *
ctl_reply_new(void)
{
	return json_pack("{s:i, s:b}", "version", CTL_PROTO_VERSION, "ok", 1);
}

/* The error answer {"version":1,"ok":false,"error":msg}. */
static json_t *
ctl_error_new(const char *msg)
{
	return json_pack("{s:i, s:b, s:o*}", "version", CTL_PROTO_VERSION,
	    "ok", 0, "error", ctl_text(msg, strlen(msg)));
}

/* Queues the error answer of msg. */
static int
ctl_queue_error(struct ctl_conn *c, const char *msg)
{
	json_t *r = ctl_error_new(msg);
	int rc;

	if (r == NULL)
		return -1;
	rc = ctl_queue(c, r);
	json_decref(r);
	return rc;
}

/* The answer is complete: queued and written; reading resumes. */
static void
ctl_answer(struct ctl_conn *c, json_t *reply)
{
	if (ctl_queue(c, reply) == -1 || ctl_flush(c) == -1) {
		ctl_conn_free(c);
		return;
	}
	ctl_process(c);
}

/* ---- connections ---- */

static void
ctl_wait_clear(struct ctl_conn *c)
{
	size_t i;

	if (c->wait_timer != NULL)
		evtimer_del(c->wait_timer);
	json_decref(c->wait_req);
	json_decref(c->wait_reply);
	c->wait_req = c->wait_reply = NULL;
	for (i = 0; i < c->wait_n; i++)
		free(c->wait_ids[i]);
	free(c->wait_ids);
	free(c->wait_in);
	c->wait_ids = NULL;
	c->wait_in = NULL;
	c->wait_n = 0;
	c->wait_next = 0;
	c->waiting = false;
}

static void
ctl_conn_free(struct ctl_conn *c)
{
	ctl_wait_clear(c);
	if (c->wait_timer != NULL)
		event_free(c->wait_timer);
	if (c->rev != NULL)
		event_free(c->rev);
	if (c->wev != NULL)
		event_free(c->wev);
	if (c->timer != NULL)
		event_free(c->timer);
	if (c->resume != NULL)
		event_free(c->resume);
	close(c->fd);
	free(c->out);
	TAILQ_REMOVE(&conns, c, link);
	nconns--;
	log_debug("control: pid %d uid %u disconnected", (int)c->pid,
	    (unsigned)c->uid);
	free(c);
}

/* The peer has this much of our answers unread: run no more requests
 * until it reads them. */
static bool
ctl_backlogged(const struct ctl_conn *c)
{
	return c->out_len - c->out_off >= CTL_OUT_PAUSE;
}

static void
ctl_arm_idle(struct ctl_conn *c)
{
	struct timeval tv = { (time_t)(idle_ms / 1000),
	    (suseconds_t)(idle_ms % 1000) * 1000 };

	evtimer_add(c->timer, &tv);
}

/* No complete request for idle_ms: the peer stalled, or never reads. */
static void
ctl_idle(evutil_socket_t fd, short ev, void *arg)
{
	struct ctl_conn *c = arg;

	if (c->waiting) {
		ctl_arm_idle(c);
		return;
	}
	if (ctl_backlogged(c)) {
		log_rl(&ctl_rl, LOG_WARNING, "control: pid %d uid %u does not "
		    "read its answers (%zu bytes unread for %llu ms): closing",
		    (int)c->pid, (unsigned)c->uid, c->out_len - c->out_off,
		    (unsigned long long)idle_ms);
	} else if (c->in_len > 0) {
		log_rl(&ctl_rl, LOG_WARNING, "control: pid %d uid %u sent "
		    "half a request (%zu bytes) and nothing for %llu ms: "
		    "closing", (int)c->pid, (unsigned)c->uid, c->in_len,
		    (unsigned long long)idle_ms);
		(void)ctl_queue_error(c, "request not completed in time");
		(void)ctl_flush(c);
	} else
		log_debug("control: pid %d uid %u idle: closing",
		    (int)c->pid, (unsigned)c->uid);
	ctl_conn_free(c);
}

/* Runs one request line (NUL-terminated, no newline). */
static void
ctl_request(struct ctl_conn *c, const char *line, size_t len)
{
	const struct ctl_cmd *cmd;
	json_error_t jerr;
	json_t *req, *reply = NULL, *v;
	const char *name;
	char err[1024], vis[80];
	enum ctl_ret r;

	err[0] = '\0';
	if ((req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL) {
		snprintf(err, sizeof(err), "bad request: %s (column %d)",
		    jerr.text, jerr.column);
		goto fail;
	}
	if (!json_is_object(req)) {
		snprintf(err, sizeof(err), "bad request: not a JSON object");
		goto fail;
	}
	v = json_object_get(req, "version");
	if (!json_is_integer(v)) {
		snprintf(err, sizeof(err), "bad request: no \"version\" "
		    "(this vhostd speaks version %d)", CTL_PROTO_VERSION);
		goto fail;
	}
	if (json_integer_value(v) != CTL_PROTO_VERSION) {
		snprintf(err, sizeof(err), "unsupported protocol version %lld "
		    "(this vhostd speaks version %d)",
		    (long long)json_integer_value(v), CTL_PROTO_VERSION);
		goto fail;
	}
	v = json_object_get(req, "cmd");
	if (!json_is_string(v)) {
		snprintf(err, sizeof(err), "bad request: no \"cmd\"");
		goto fail;
	}
	name = json_string_value(v);
	for (cmd = ctl_cmds; cmd->name != NULL; cmd++)
		if (strcmp(cmd->name, name) == 0)
			break;
	if (cmd->name == NULL) {
		snprintf(err, sizeof(err), "unknown command '%s'",
		    util_vis(vis, sizeof(vis), name, strlen(name)));
		goto fail;
	}
	if ((reply = ctl_reply_new()) == NULL) {
		snprintf(err, sizeof(err), "out of memory");
		goto fail;
	}
	r = cmd->run(c, req, reply, err, sizeof(err));
	if (r == CTL_WAIT) {
		json_decref(req);
		json_decref(reply);
		return;
	}
	if (r == CTL_FAIL) {
		json_object_set_new(reply, "ok", json_false());
		json_object_set_new(reply, "error", ctl_text(err,
		    strlen(err)));
	}
	json_decref(req);
	if (ctl_queue(c, reply) == -1)
		c->closing = true;
	json_decref(reply);
	return;
fail:
	json_decref(req);
	json_decref(reply);
	log_debug("control: pid %d uid %u: %s", (int)c->pid,
	    (unsigned)c->uid, err);
	if (ctl_queue_error(c, err) == -1)
		c->closing = true;
}

static bool
ctl_has_line(const struct ctl_conn *c)
{
	return memchr(c->in, '\n', c->in_len) != NULL;
}

/*
 * Runs the complete request lines in the input buffer, one after the
 * other, until one waits for counters, the peer has too much unread, or
 * CTL_BATCH requests ran: a peer that sent a buffer full of requests
 * (thousands of reloads) gets the next CTL_BATCH at the next turn of the
 * event loop (c->resume), after the front-ends and other clients that are
 * ready.  Then writes the answers.  Frees c (and returns) if it is done
 * with.
 */
static void
ctl_process(struct ctl_conn *c)
{
	struct timeval now = { 0, 0 };
	size_t off = 0, len;
	unsigned ran = 0;
	char *nl;

	while (!c->waiting && !c->closing && !ctl_backlogged(c) &&
	    ran < CTL_BATCH &&
	    (nl = memchr(c->in + off, '\n', c->in_len - off)) != NULL) {
		len = (size_t)(nl - (c->in + off));
		*nl = '\0';
		if (len > 0) {
			ctl_arm_idle(c);
			ctl_request(c, c->in + off, len);
			ran++;
		}
		off += len + 1;
	}
	/* Once per batch, not once per line. */
	if (off > 0) {
		memmove(c->in, c->in + off, c->in_len - off);
		c->in_len -= off;
	}
	if (ctl_flush(c) == -1) {
		ctl_conn_free(c);
		return;
	}
	if (c->waiting)
		return;
	if (!c->closing && c->in_len == sizeof(c->in) && !ctl_has_line(c)) {
		log_rl(&ctl_rl, LOG_WARNING, "control: pid %d uid %u sent a "
		    "request longer than %d bytes: closing", (int)c->pid,
		    (unsigned)c->uid, CTL_REQ_MAX);
		(void)ctl_queue_error(c, "request too long (more than 65536 "
		    "bytes)");
		c->closing = true;
		(void)ctl_flush(c);
	}
	if (c->out_len == 0 && (c->closing || (c->eof && !ctl_has_line(c)))) {
		ctl_conn_free(c);
		return;
	}
	if (!c->closing && !ctl_backlogged(c) && ctl_has_line(c))
		evtimer_add(c->resume, &now);
	/* Read on only while requests can be run. */
	if (c->closing || c->eof || ctl_backlogged(c))
		event_del(c->rev);
	else
		event_add(c->rev, NULL);
}

/* The next batch of a peer's requests (ctl_process). */
static void
ctl_resume(evutil_socket_t fd, short ev, void *arg)
{
	struct ctl_conn *c = arg;

	if (!c->waiting)
		ctl_process(c);
}

static void
ctl_readable(evutil_socket_t fd, short ev, void *arg)
{
	struct ctl_conn *c = arg;
	size_t total = 0;
	ssize_t n;

	while (c->in_len < sizeof(c->in) && total < CTL_READ_MAX) {
		n = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			break;
		if (n <= 0) {
			c->eof = true;
			break;
		}
		c->in_len += (size_t)n;
		total += (size_t)n;
		/* A newline: run it before reading on. */
		if (memchr(c->in + c->in_len - n, '\n', (size_t)n) != NULL)
			break;
	}
	if (c->waiting) {
		/* Requests queue up behind the one being answered. */
		event_del(c->rev);
		return;
	}
	ctl_process(c);
}

/* The peer reads: the requests held back run now, or c is done. */
static void
ctl_writable(evutil_socket_t fd, short ev, void *arg)
{
	struct ctl_conn *c = arg;

	if (ctl_flush(c) == -1) {
		ctl_conn_free(c);
		return;
	}
	if (!c->waiting)
		ctl_process(c);
}

/*
 * May this peer use the control socket?  Root, the user vhostd was
 * started as (if that was not root), and members of admin_group, by the
 * peer's primary group or its supplementary groups (SO_PEERGROUPS).
 */
static bool
ctl_allowed(int fd, const struct ucred *cred)
{
	const struct cfg_control *cc = &devset_cfg()->control;

	if (cred->uid == 0 || (start_uid != 0 && cred->uid == start_uid))
		return true;
	return cc->admin_set && util_peer_in_gids(fd, cred, &cc->admin_gid,
	    1);
}

/* Refuses a peer with one error line (if its socket takes it now). */
static void
ctl_refuse(int fd, const char *msg)
{
	json_t *r = ctl_error_new(msg);
	char *text = r != NULL ? json_dumps(r, JSON_COMPACT) : NULL;

	if (text != NULL) {
		size_t len = strlen(text);

		text[len] = '\n';
		(void)!write(fd, text, len + 1);
		text[len] = '\0';
	}
	free(text);
	json_decref(r);
	close(fd);
}

static void
ctl_listen_resume(evutil_socket_t fd, short ev, void *arg)
{
	event_add(listen_ev, NULL);
}

static void
ctl_accept(evutil_socket_t lfd, short ev, void *arg)
{
	const struct cfg_control *cc = &devset_cfg()->control;
	struct timeval tv = { 1, 0 };
	struct ctl_conn *c;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	char msg[160], grp[32];
	int fd;

	fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd == -1) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			log_rl(&ctl_rl, LOG_WARNING, "control: accept: %s",
			    strerror(errno));
			event_del(listen_ev);
			evtimer_add(listen_timer, &tv);
		}
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
		log_warn("control: SO_PEERCRED");
		close(fd);
		return;
	}
	if (!ctl_allowed(fd, &cred)) {
		if (cc->admin_name[0] != '\0')
			util_vis(grp, sizeof(grp), cc->admin_name,
			    strlen(cc->admin_name));
		else
			snprintf(grp, sizeof(grp), "%u",
			    (unsigned)cc->admin_gid);
		log_rl(&ctl_rl, LOG_WARNING, "control: refusing pid %d uid %u "
		    "gid %u: not root%s%s", (int)cred.pid, (unsigned)cred.uid,
		    (unsigned)cred.gid, cc->admin_set ? " and not in the admin "
		    "group " : "", cc->admin_set ? grp : "");
		snprintf(msg, sizeof(msg), "permission denied: uid %u is not "
		    "root%s%s", (unsigned)cred.uid, cc->admin_set ?
		    " and not in the admin group " : "", cc->admin_set ? grp :
		    "");
		ctl_refuse(fd, msg);
		return;
	}
	if (nconns >= CTL_CONN_MAX) {
		log_rl(&ctl_rl, LOG_WARNING, "control: refusing pid %d uid %u: "
		    "%d control connections already", (int)cred.pid,
		    (unsigned)cred.uid, CTL_CONN_MAX);
		ctl_refuse(fd, "too many control connections");
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_warn("control: connection");
		close(fd);
		return;
	}
	c->fd = fd;
	c->pid = cred.pid;
	c->uid = cred.uid;
	TAILQ_INSERT_TAIL(&conns, c, link);
	nconns++;
	c->rev = event_new(ctl_base, fd, EV_READ | EV_PERSIST, ctl_readable,
	    c);
	c->wev = event_new(ctl_base, fd, EV_WRITE | EV_PERSIST, ctl_writable,
	    c);
	c->timer = evtimer_new(ctl_base, ctl_idle, c);
	c->resume = evtimer_new(ctl_base, ctl_resume, c);
	if (c->rev == NULL || c->wev == NULL || c->timer == NULL ||
	    c->resume == NULL ||
	    event_add(c->rev, NULL) == -1) {
		log_warnx("control: cannot watch a connection");
		ctl_conn_free(c);
		return;
	}
	ctl_arm_idle(c);
	log_debug("control: pid %d uid %u connected", (int)c->pid,
	    (unsigned)c->uid);
}

int
ctl_start(struct event_base *base)
{
#ifdef VHOSTD_TEST_HOOKS
	const char *env = getenv("VHOSTD_TEST_CTL_IDLE_MS");

	/* Test builds: a shorter idle timeout, so that tests of a stalled
	 * peer do not wait 10 s. */
	if (env != NULL && atoi(env) > 0)
		idle_ms = (uint64_t)atoi(env);
#endif
	ctl_base = base;
	ctl_cmd_init();
	inst_set_stats_hook(ctl_stats_came);
	if (listen_fd == -1)
		return 0;
	listen_ev = event_new(base, listen_fd, EV_READ | EV_PERSIST,
	    ctl_accept, NULL);
	listen_timer = evtimer_new(base, ctl_listen_resume, NULL);
	if (listen_ev == NULL || listen_timer == NULL ||
	    event_add(listen_ev, NULL) == -1) {
		log_warnx("control socket: cannot watch it");
		return -1;
	}
	log_info("control socket %s", sock_path);
	return 0;
}

void
ctl_close(void)
{
	while (!TAILQ_EMPTY(&conns))
		ctl_conn_free(TAILQ_FIRST(&conns));
	if (listen_ev != NULL)
		event_free(listen_ev);
	if (listen_timer != NULL)
		event_free(listen_timer);
	listen_ev = listen_timer = NULL;
	if (listen_fd != -1) {
		close(listen_fd);
		listen_fd = -1;
		if (unlink(sock_path) == -1 && errno != ENOENT)
			log_warn("removing %s", sock_path);
	}
	inst_set_stats_hook(NULL);
}

/* ---- waiting for counters ---- */

/* Has the instance that was c's i-th target answered (or gone)? */
static bool
ctl_wait_done(const struct ctl_conn *c, size_t i)
{
	const struct inst *in = devset_find(c->wait_ids[i]);

	if (in == NULL || in != c->wait_in[i] || in->wstate != W_READY)
		return true;
	return in->stats_valid && (int32_t)(in->stats.seq - c->wait_seq) >= 0;
}

static void
ctl_wait_end(struct ctl_conn *c)
{
	json_t *req = json_incref(c->wait_req);
	json_t *reply = json_incref(c->wait_reply);
	ctl_finish_fn finish = c->wait_finish;

	ctl_wait_clear(c);
	finish(c, req, reply);
	json_decref(req);
	ctl_answer(c, reply);
	json_decref(reply);
}

static void
ctl_wait_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct ctl_conn *c = arg;

	if (c->waiting)
		ctl_wait_end(c);
}

/*
 * A worker sent its counters (called from inst.c while it reads the
 * worker's channel): the requests that have them all go on, from the
 * event loop, not from here, since their next request may remove that
 * very instance.  Workers mostly answer in the order they were asked, so
 * each request's scan resumes where its last one stopped.
 */
static void
ctl_stats_came(struct inst *in)
{
	struct ctl_conn *c;

	TAILQ_FOREACH(c, &conns, link) {
		if (!c->waiting)
			continue;
		while (c->wait_next < c->wait_n &&
		    ctl_wait_done(c, c->wait_next))
			c->wait_next++;
		if (c->wait_next == c->wait_n)
			event_active(c->wait_timer, EV_TIMEOUT, 1);
	}
}

enum ctl_ret
ctl_wait_stats(struct ctl_conn *c, struct inst *const *in, size_t n,
    json_t *req, json_t *reply, ctl_finish_fn finish)
{
	struct timeval tv = { CTL_STATS_WAIT_MS / 1000,
	    (CTL_STATS_WAIT_MS % 1000) * 1000 };
	size_t i, asked = 0;

	stats_seq++;
	if ((c->wait_ids = calloc(n + 1, sizeof(*c->wait_ids))) == NULL ||
	    (c->wait_in = calloc(n + 1, sizeof(*c->wait_in))) == NULL)
		goto now;
	for (i = 0; i < n; i++) {
		if (inst_stats_request(in[i], stats_seq) == -1)
			continue;
		if ((c->wait_ids[c->wait_n] = strdup(in[i]->id)) == NULL)
			goto now;
		c->wait_in[c->wait_n++] = in[i];
		asked++;
	}
	if (asked == 0)
		goto now;
	if (c->wait_timer == NULL &&
	    (c->wait_timer = evtimer_new(ctl_base, ctl_wait_timeout, c)) ==
	    NULL)
		goto now;
	c->waiting = true;
	c->wait_seq = stats_seq;
	c->wait_req = json_incref(req);
	c->wait_reply = json_incref(reply);
	c->wait_finish = finish;
	evtimer_add(c->wait_timer, &tv);
	event_del(c->rev);
	return CTL_WAIT;
now:
	ctl_wait_clear(c);
	finish(c, req, reply);
	return CTL_DONE;
}
