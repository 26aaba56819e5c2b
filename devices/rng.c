/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * virtio-rng (virtio ID 4): one requestq whose device-writable buffers the
 * device fills with entropy.  The entropy comes from getrandom(2) or from a
 * file the config names (e.g. /dev/hwrng), which main opens and hands to
 * the worker.  An optional rate limit caps the bytes served per period, as
 * vhost-device-rng's --max-bytes/--period do.
 *
 * Hardware seam: the source is either the kernel's CSPRNG (getrandom) or a
 * readable fd; tests use a file of known bytes as the second.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "device.h"
#include "log.h"

#define RNG_IOV_MAX	64
/*
 * Small buffers are filled from a pool drawn from getrandom(2) a page at a
 * time: one system call per 64 requests of 64 bytes instead of one each.
 * Every pool byte goes to the guest once and is wiped as it is handed
 * out; larger buffers get getrandom's output directly, with no copy.
 */
#define RNG_POOL	4096
#define RNG_SMALL	256

struct rng_cfg {
	char		source[PATH_MAX];	/* "" : getrandom(2) */
	uint64_t	max_bytes;		/* per period; 0: no limit */
	uint32_t	period_ms;
};

struct rng_state {
	struct dev_ctx		*ctx;
	const struct rng_cfg	*cfg;
	int			 fd;		/* source, -1: getrandom */
	struct event		*timer;		/* rate-limit period end */
	struct event		*fd_ev;		/* source readable again */
	uint64_t		 budget;	/* bytes left in this period */
	struct timespec		 period_start;
	bool			 eof_logged;
	struct log_ratelimit	 rl;
	struct iovec		 iov[RNG_IOV_MAX];
	/* A request taken from the ring while the source had nothing. */
	bool			 held;
	struct vq_req		 held_req;
	size_t			 pool_off;	/* next unused pool byte */
	size_t			 pool_len;
	uint8_t			 pool[RNG_POOL];
};

static const char *const rng_keys[] = {
	"source", "max_bytes", "period_ms", NULL
};

static int
rng_parse(struct cfg_ctx *ctx, json_t *obj, const char *path, void *out)
{
	struct rng_cfg *c = out;
	const char *source = NULL;
	uint64_t v;
	int rc = 0;
	char sub[256];

	if (cfg_check_device_keys(ctx, obj, path, rng_keys) == -1)
		rc = -1;
	if (cfg_string(ctx, obj, path, "source", false, NULL, &source) == -1)
		rc = -1;
	else if (source != NULL) {
		snprintf(sub, sizeof(sub), "%s.source", path);
		if (source[0] != '/') {
			cfg_error(ctx, sub, "must be an absolute path");
			rc = -1;
		} else if (strlen(source) >= sizeof(c->source)) {
			cfg_error(ctx, sub, "path is too long");
			rc = -1;
		} else
			strcpy(c->source, source);
	}
	if (cfg_uint(ctx, obj, path, "max_bytes", false, 0, 1,
	    UINT64_C(1) << 40, &v) == -1)
		rc = -1;
	else
		c->max_bytes = v;
	if (cfg_uint(ctx, obj, path, "period_ms", false, 1000, 1, 3600000,
	    &v) == -1)
		rc = -1;
	else
		c->period_ms = (uint32_t)v;
	return rc;
}

static int
rng_open(void *cfgp, int *fds, unsigned *nfds, char *err, size_t len)
{
	const struct rng_cfg *c = cfgp;
	int fd;

	*nfds = 0;
	if (c->source[0] == '\0')
		return 0;
	fd = open(c->source, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd == -1) {
		snprintf(err, len, "cannot open entropy source %s: %s",
		    c->source, strerror(errno));
		return -1;
	}
	fds[0] = fd;
	*nfds = 1;
	return 0;
}

static void rng_timer_cb(evutil_socket_t, short, void *);
static void rng_fd_cb(evutil_socket_t, short, void *);

static int
rng_init(struct dev_ctx *ctx)
{
	struct rng_state *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -1;
	s->ctx = ctx;
	s->cfg = ctx->cfg;
	s->fd = ctx->n_host_fds > 0 ? ctx->host_fds[0] : -1;
	s->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT;
	s->budget = s->cfg->max_bytes;
	clock_gettime(CLOCK_MONOTONIC, &s->period_start);
	s->timer = evtimer_new(ctx->base, rng_timer_cb, s);
	if (s->timer == NULL)
		goto fail;
	if (s->fd != -1) {
		s->fd_ev = event_new(ctx->base, s->fd, EV_READ, rng_fd_cb, s);
		if (s->fd_ev == NULL)
			goto fail;
	}
	ctx->priv = s;
	return 0;
fail:
	if (s->timer != NULL)
		event_free(s->timer);
	free(s);
	return -1;
}

static void
rng_fini(struct dev_ctx *ctx)
{
	struct rng_state *s = ctx->priv;

	if (s == NULL)
		return;
	event_free(s->timer);
	if (s->fd_ev != NULL)
		event_free(s->fd_ev);
	explicit_bzero(s->pool, sizeof(s->pool));
	free(s);
	ctx->priv = NULL;
}

static void
rng_reset(struct dev_ctx *ctx)
{
	struct rng_state *s = ctx->priv;

	evtimer_del(s->timer);
	if (s->fd_ev != NULL)
		event_del(s->fd_ev);
	s->held = false;	/* the ring it came from is gone */
}

static void
rng_timer_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct rng_state *s = arg;

	s->budget = s->cfg->max_bytes;
	clock_gettime(CLOCK_MONOTONIC, &s->period_start);
	dev_queue_run(s->ctx, 0);
}

static void
rng_fd_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct rng_state *s = arg;

	dev_queue_run(s->ctx, 0);
}

/*
 * True if the rate limit leaves nothing for this period; then the timer is
 * armed for the period's end.
 */
static bool
rng_exhausted(struct rng_state *s)
{
	struct timespec now;
	uint64_t elapsed_ms, left_ms;
	struct timeval tv;

	if (s->cfg->max_bytes == 0)
		return false;
	clock_gettime(CLOCK_MONOTONIC, &now);
	elapsed_ms = (uint64_t)(now.tv_sec - s->period_start.tv_sec) * 1000 +
	    (uint64_t)(now.tv_nsec / 1000000) -
	    (uint64_t)(s->period_start.tv_nsec / 1000000);
	if (elapsed_ms >= s->cfg->period_ms) {
		s->budget = s->cfg->max_bytes;
		s->period_start = now;
		return false;
	}
	if (s->budget > 0)
		return false;
	left_ms = s->cfg->period_ms - elapsed_ms;
	tv.tv_sec = (time_t)(left_ms / 1000);
	tv.tv_usec = (suseconds_t)((left_ms % 1000) * 1000);
	evtimer_add(s->timer, &tv);
	return true;
}

/* Copies up to n bytes from the pool to p, drawing a new pool when it is
 * used up; returns the bytes copied, or getrandom's -1. */
static ssize_t
rng_pool_take(struct rng_state *s, uint8_t *p, size_t n)
{
	ssize_t r;

	if (s->pool_off == s->pool_len) {
		if ((r = getrandom(s->pool, sizeof(s->pool), 0)) <= 0)
			return r;
		s->pool_len = (size_t)r;
		s->pool_off = 0;
	}
	if (n > s->pool_len - s->pool_off)
		n = s->pool_len - s->pool_off;
	memcpy(p, s->pool + s->pool_off, n);
	explicit_bzero(s->pool + s->pool_off, n);
	s->pool_off += n;
	return (ssize_t)n;
}

/*
 * Fills up to `want` bytes of the request's writable segments.  Returns the
 * bytes written, or -1 with errno EAGAIN if the source fd has nothing now.
 */
static ssize_t
rng_fill(struct rng_state *s, const struct vq_req *req, uint64_t want)
{
	uint64_t done = 0;
	unsigned i;

	for (i = 0; i < req->n_in && done < want; i++) {
		uint8_t *p = req->in[i].iov_base;
		size_t len = req->in[i].iov_len, off = 0;

		if (len > want - done)
			len = want - done;
		while (off < len) {
			ssize_t n;

			if (s->fd == -1 && len <= RNG_SMALL)
				n = rng_pool_take(s, p + off, len - off);
			else if (s->fd == -1)
				n = getrandom(p + off, len - off, 0);
			else
				n = read(s->fd, p + off, len - off);
			if (n == -1 && errno == EINTR)
				continue;
			if (n == -1 && errno == EAGAIN && done + off == 0)
				return -1;
			if (n <= 0) {
				if (n == 0 && !s->eof_logged) {
					log_warnx("%s: entropy source %s is at "
					    "end of file", s->ctx->id,
					    s->cfg->source);
					s->eof_logged = true;
				} else if (n == -1 && errno != EAGAIN)
					log_rl(&s->rl, LOG_WARNING,
					    "%s: reading entropy: %s",
					    s->ctx->id, strerror(errno));
				return (ssize_t)(done + off);
			}
			off += (size_t)n;
		}
		done += len;
	}
	return (ssize_t)done;
}

static enum dev_run
rng_run(struct dev_ctx *ctx, unsigned qidx)
{
	struct rng_state *s = ctx->priv;
	struct virtq *vq = ctx->vq[qidx];
	struct vq_req req;
	uint64_t want;
	ssize_t n;
	int r;

	for (;;) {
		if (rng_exhausted(s))
			return DEV_RUN_PAUSED;
		if (s->held) {
			req = s->held_req;
			s->held = false;
		} else {
			r = vq_pop(vq, &req, s->iov, RNG_IOV_MAX);
			if (r != 1)
				return DEV_RUN_DRAINED;
		}
		want = req.in_len;
		if (s->cfg->max_bytes != 0 && want > s->budget)
			want = s->budget;
		n = rng_fill(s, &req, want);
		if (n == -1) {
			/* The source has nothing now: keep the request and
			 * wait for it to become readable. */
			s->held = true;
			s->held_req = req;
			event_add(s->fd_ev, NULL);
			return DEV_RUN_PAUSED;
		}
		if (s->cfg->max_bytes != 0)
			s->budget -= (uint64_t)n;
		vq_push(vq, req.head, (uint32_t)n);
	}
}

const struct dev_ops rng_ops = {
	.name = "rng",
	.virtio_id = 4,
	.num_queues = 1,
	.features = 0,
	.cfg_size = sizeof(struct rng_cfg),
	.config_space_size = 0,
	.parse = rng_parse,
	.open = rng_open,
	.init = rng_init,
	.run = rng_run,
	.reset = rng_reset,
	.fini = rng_fini,
};
