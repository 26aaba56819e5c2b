/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The configuration loader: reads vhostd.json(5), checks every key and value
 * of it and builds a struct vhostd_cfg, or collects every error found, each
 * one "FILE:LINE:COL: PATH: message" like a compiler's.  jansson parses the
 * text; since it records no positions of values, a small scanner walks the
 * same (already validated) text once more and indexes the line and column of
 * every value and key by its JSON path.  The common device keys (id, type,
 * socket) are read here; each device type's parse hook reads its own keys
 * with the cfg_* helpers at the end of this file.  Poll cores (datapath
 * modes) are checked against the machine: the CPUs online and in the
 * affinity vhostd was started with, read once per load when needed.
 *
 * Security model: the file is operator input, not guest input, but it may be
 * wrong in any way (truncated, binary, huge, deeply nested, hand-edited with
 * a typo in every line).  Nothing in it may crash the loader or make it use
 * unbounded resources: the file is capped at CFG_FILE_MAX bytes, nesting at
 * CFG_DEPTH_MAX levels, the device list at CFG_DEVICES_MAX entries; every
 * value is checked for type and range before it is used; strings with NUL
 * bytes are refused; text from the file is escaped before it is printed, so
 * that every error stays on one line.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "device.h"
#include "log.h"

#define CFG_FILE_MAX	(1024 * 1024)	/* bytes of the file */
#define CFG_DEPTH_MAX	64		/* nested arrays and objects */
#define CFG_DEVICES_MAX	1024		/* entries of "devices" */
#define CFG_QUOTE_MAX	64		/* bytes of file text quoted in errors */
#define CFG_CPULIST_MAX	256		/* bytes of a CPU list in errors */

#define FNV_BASIS	UINT64_C(0xcbf29ce484222325)
#define FNV_PRIME	UINT64_C(0x100000001b3)

/* Where one value (and, for an object member, its key) starts. */
struct cfg_pos {
	uint64_t	hash;		/* of the JSON path */
	uint32_t	seq;		/* order in the file */
	uint32_t	line, col;	/* of the value */
	uint32_t	kline, kcol;	/* of the key; 0: an array element */
};

struct cfg_err {
	uint32_t	 line, col;	/* 0: not tied to a position */
	size_t		 seq;
	char		*text;
};

struct cfg_ctx {
	const char	*name;		/* file name for messages */
	const char	*text;
	size_t		 len;
	struct cfg_pos	*pos;		/* sorted by hash, then seq */
	size_t		 npos, pos_cap;
	struct cfg_err	*errs;
	size_t		 nerrs, errs_cap;
	bool		 oom;
	/* The CPUs vhostd may run on, read when a poll core is first
	 * checked: the online ones (if cfg_cpu_online could be read) and
	 * those of its affinity. */
	bool		 cpus_read;
	bool		 online_known;
	cpu_set_t	 online;
	cpu_set_t	 affinity;
};

/* The scanner's state while it walks the text. */
struct scan {
	struct cfg_ctx	*ctx;
	const char	*p, *end;
	uint32_t	 line, col;
	char		*path;		/* path of the current value */
	size_t		 pathlen, pathcap;
	int		 depth;
	bool		 too_deep;
};

struct dup_set {
	uint32_t	*slot;		/* device index + 1; 0: empty */
	size_t		 mask;
};

static const char *const cfg_top_keys[] = {
	"runtime_dir", "log_level", "user", "group", "seccomp", "poll_cores",
	"control_socket", "devices", NULL
};

static const char *const cfg_control_keys[] = {
	"path", "owner", "group", "mode", "admin_group", NULL
};

static const char *const cfg_common_keys[] = {
	"id", "type", "socket", "socket_owner", "socket_group", "socket_mode",
	"allow_uids", "allow_gids", "connect", "reconnect_ms", "mem_slots",
	"datapath", "poll_core", "adaptive_idle_us", NULL
};

const char *cfg_cpu_online = "/sys/devices/system/cpu/online";

/* The CPU affinity vhostd was started with (cfg_keep_affinity), which
 * later loads check poll cores against: main has left them since. */
static cpu_set_t	start_affinity;
static bool		start_affinity_kept;

static const char *const cfg_datapath_names[] = {
	[CFG_DP_INTERRUPT] = "interrupt",
	[CFG_DP_POLL] = "poll",
	[CFG_DP_ADAPTIVE] = "adaptive",
};

static char	*str_vprintf(const char *, va_list)
		    __attribute__((format(printf, 1, 0)));
static void	err_vadd(struct cfg_ctx *, uint32_t, uint32_t, const char *,
		    const char *, va_list) __attribute__((format(printf, 5, 0)));
static void	err_add(struct cfg_ctx *, uint32_t, uint32_t, const char *,
		    const char *, ...) __attribute__((format(printf, 5, 6)));
static void	cfg_verror(struct cfg_ctx *, const char *, bool, const char *,
		    const char *, va_list) __attribute__((format(printf, 5, 0)));
static void	cfg_error_at_key(struct cfg_ctx *, const char *, const char *,
		    const char *, ...) __attribute__((format(printf, 4, 5)));

/* ---- small helpers ---- */

static uint64_t
fnv_update(uint64_t h, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= FNV_PRIME;
	}
	return h;
}

/* printf into a new malloc'ed string; NULL if out of memory. */
static char *
str_vprintf(const char *fmt, va_list ap)
{
	va_list ap2;
	char *s;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0 || (s = malloc((size_t)n + 1)) == NULL)
		return NULL;
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	return s;
}

/* "path.key", or "key" at the top level; NULL if out of memory. */
static char *
path_join(struct cfg_ctx *ctx, const char *path, const char *key)
{
	size_t plen = strlen(path), klen = strlen(key);
	char *s;

	if ((s = malloc(plen + 1 + klen + 1)) == NULL) {
		ctx->oom = true;
		return NULL;
	}
	if (plen == 0)
		memcpy(s, key, klen + 1);
	else {
		memcpy(s, path, plen);
		s[plen] = '.';
		memcpy(s + plen + 1, key, klen + 1);
	}
	return s;
}

/*
 * Writes s as a double-quoted string into buf for an error message: quotes,
 * backslashes and control bytes are escaped, and text beyond CFG_QUOTE_MAX
 * bytes is cut and marked with "...".  Returns buf.
 */
static const char *
quote(char *buf, size_t size, const char *s)
{
	size_t o = 0, i;
	unsigned char c;

	buf[o++] = '"';
	for (i = 0; s[i] != '\0' && o + 8 < size; i++) {
		if (i == CFG_QUOTE_MAX) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)c;
		} else if (c < 0x20 || c == 0x7f)
			o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}
#define QUOTE_BUF	(CFG_QUOTE_MAX * 4 + 16)

/*
 * Makes an absolute path canonical without looking at the file system:
 * repeated slashes become one, "." components go, a trailing slash goes
 * (except for "/" itself).  ".." is left alone: only the file system knows
 * where it leads.  Works in place; the result is never longer.
 */
static void
path_normalize(char *p)
{
	char *r = p, *w = p;

	while (*r != '\0') {
		if (r[0] == '/') {
			while (r[1] == '/')
				r++;
			if (r[1] == '.' && (r[2] == '/' || r[2] == '\0')) {
				r += 2;
				continue;
			}
		}
		*w++ = *r++;
	}
	if (w > p + 1 && w[-1] == '/')
		w--;
	if (w == p)
		*w++ = '/';
	*w = '\0';
}

/* ---- errors ---- */

/*
 * Appends one error "NAME:LINE:COL: PATH: message" (no position part if
 * line is 0, no path part if path is NULL or "").  Control bytes in the
 * result are escaped so that each error is exactly one line.
 */
static void
err_vadd(struct cfg_ctx *ctx, uint32_t line, uint32_t col, const char *path,
    const char *fmt, va_list ap)
{
	char *msg = NULL, *raw = NULL, *out = NULL;
	struct cfg_err *e;
	size_t i, o, n;
	int r;

	if ((msg = str_vprintf(fmt, ap)) == NULL)
		goto fail;
	if (line != 0 && path != NULL && path[0] != '\0')
		r = asprintf(&raw, "%s:%" PRIu32 ":%" PRIu32 ": %s: %s",
		    ctx->name, line, col, path, msg);
	else if (line != 0)
		r = asprintf(&raw, "%s:%" PRIu32 ":%" PRIu32 ": %s",
		    ctx->name, line, col, msg);
	else if (path != NULL && path[0] != '\0')
		r = asprintf(&raw, "%s: %s: %s", ctx->name, path, msg);
	else
		r = asprintf(&raw, "%s: %s", ctx->name, msg);
	if (r == -1) {
		raw = NULL;
		goto fail;
	}
	n = (size_t)r;
	if ((out = malloc(n * 4 + 1)) == NULL)
		goto fail;
	for (i = o = 0; i < n; i++) {
		unsigned char c = (unsigned char)raw[i];

		if (c < 0x20 || c == 0x7f)
			o += (size_t)snprintf(out + o, 5, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
	if (ctx->nerrs == ctx->errs_cap) {
		size_t cap = ctx->errs_cap ? ctx->errs_cap * 2 : 16;

		if ((e = reallocarray(ctx->errs, cap, sizeof(*e))) == NULL)
			goto fail;
		ctx->errs = e;
		ctx->errs_cap = cap;
	}
	e = &ctx->errs[ctx->nerrs];
	e->line = line;
	e->col = col;
	e->seq = ctx->nerrs;
	e->text = out;
	ctx->nerrs++;
	free(msg);
	free(raw);
	return;
fail:
	ctx->oom = true;
	free(msg);
	free(raw);
	free(out);
}

static void
err_add(struct cfg_ctx *ctx, uint32_t line, uint32_t col, const char *path,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vadd(ctx, line, col, path, fmt, ap);
	va_end(ap);
}

static int
err_cmp(const void *a, const void *b)
{
	const struct cfg_err *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return 0;
}

/*
 * The errors in file order, joined by newlines, as one malloc'ed string;
 * NULL if out of memory.
 */
static char *
err_join(struct cfg_ctx *ctx)
{
	size_t i, len = 0, o = 0;
	char *s;

	qsort(ctx->errs, ctx->nerrs, sizeof(*ctx->errs), err_cmp);
	for (i = 0; i < ctx->nerrs; i++)
		len += strlen(ctx->errs[i].text) + 1;
	if ((s = malloc(len + 1)) == NULL)
		return NULL;
	for (i = 0; i < ctx->nerrs; i++) {
		size_t n = strlen(ctx->errs[i].text);

		if (i > 0)
			s[o++] = '\n';
		memcpy(s + o, ctx->errs[i].text, n);
		o += n;
	}
	s[o] = '\0';
	return s;
}

/* ---- the position index ---- */

static int
pos_cmp(const void *a, const void *b)
{
	const struct cfg_pos *x = a, *y = b;

	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return 0;
}

/* The first (in the file) entry whose path hashes to h, or NULL. */
static const struct cfg_pos *
pos_find(const struct cfg_ctx *ctx, uint64_t h)
{
	size_t lo = 0, hi = ctx->npos, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (ctx->pos[mid].hash < h)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < ctx->npos && ctx->pos[lo].hash == h)
		return &ctx->pos[lo];
	return NULL;
}

/*
 * The position of the value at `path`, or of its key if at_key and it has
 * one.  A path not in the index (a member the file lacks, a path some hook
 * made up) falls back to the nearest enclosing path, and in the end to the
 * start of the file.  A hash collision can only give a wrong position.
 */
static void
pos_lookup(const struct cfg_ctx *ctx, const char *path, bool at_key,
    uint32_t *line, uint32_t *col)
{
	const struct cfg_pos *p;
	size_t len = strlen(path), i;

	for (;;) {
		p = pos_find(ctx, fnv_update(FNV_BASIS, path, len));
		if (p != NULL)
			break;
		if (len == 0) {
			*line = 1;
			*col = 1;
			return;
		}
		for (i = len; i > 0 && path[i - 1] != '.' && path[i - 1] != '[';
		    i--)
			;
		len = i > 0 ? i - 1 : 0;
		at_key = false;
	}
	if (at_key && p->kline != 0) {
		*line = p->kline;
		*col = p->kcol;
	} else {
		*line = p->line;
		*col = p->col;
	}
}

static void
cfg_verror(struct cfg_ctx *ctx, const char *pospath, bool at_key,
    const char *path, const char *fmt, va_list ap)
{
	uint32_t line, col;

	pos_lookup(ctx, pospath, at_key, &line, &col);
	err_vadd(ctx, line, col, path, fmt, ap);
}

/* An error about the object at `path`, placed at the key at `keypath`. */
static void
cfg_error_at_key(struct cfg_ctx *ctx, const char *keypath, const char *path,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cfg_verror(ctx, keypath, true, path, fmt, ap);
	va_end(ap);
}

/* ---- the scanner ---- */

static void
scan_adv(struct scan *s)
{
	if (*s->p == '\n') {
		s->line++;
		s->col = 1;
	} else
		s->col++;
	s->p++;
}

static void
scan_ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' ||
	    *s->p == '\n' || *s->p == '\r'))
		scan_adv(s);
}

static int
scan_push(struct scan *s, const void *buf, size_t len)
{
	char *np;
	size_t cap;

	if (s->pathlen + len + 1 > s->pathcap) {
		cap = s->pathcap ? s->pathcap : 256;
		while (cap < s->pathlen + len + 1)
			cap *= 2;
		if ((np = realloc(s->path, cap)) == NULL) {
			s->ctx->oom = true;
			return -1;
		}
		s->path = np;
		s->pathcap = cap;
	}
	memcpy(s->path + s->pathlen, buf, len);
	s->pathlen += len;
	s->path[s->pathlen] = '\0';
	return 0;
}

static int
scan_record(struct scan *s, uint64_t h, uint32_t kline, uint32_t kcol)
{
	struct cfg_ctx *ctx = s->ctx;
	struct cfg_pos *p;
	size_t cap;

	if (ctx->npos == ctx->pos_cap) {
		cap = ctx->pos_cap ? ctx->pos_cap * 2 : 256;
		if ((p = reallocarray(ctx->pos, cap, sizeof(*p))) == NULL) {
			ctx->oom = true;
			return -1;
		}
		ctx->pos = p;
		ctx->pos_cap = cap;
	}
	p = &ctx->pos[ctx->npos];
	p->hash = h;
	p->seq = (uint32_t)ctx->npos;
	p->line = s->line;
	p->col = s->col;
	p->kline = kline;
	p->kcol = kcol;
	ctx->npos++;
	return 0;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Four hex digits after "\u" at s->p; consumes them. */
static int
scan_hex4(struct scan *s, uint32_t *out)
{
	int i, v;

	*out = 0;
	for (i = 0; i < 4; i++) {
		if (s->p >= s->end || (v = hexval(*s->p)) == -1)
			return -1;
		*out = *out << 4 | (uint32_t)v;
		scan_adv(s);
	}
	return 0;
}

/*
 * Consumes the string at s->p (which is '"').  With decode, appends its
 * decoded bytes (UTF-8, as jansson gives them) to the path.
 */
static int
scan_string(struct scan *s, bool decode)
{
	unsigned char u[4];
	uint32_t cp, lo;
	size_t n;
	char c;

	scan_adv(s);
	for (;;) {
		if (s->p >= s->end)
			return -1;
		c = *s->p;
		if (c == '"') {
			scan_adv(s);
			return 0;
		}
		scan_adv(s);
		if (c != '\\') {
			if (decode && scan_push(s, &c, 1) == -1)
				return -1;
			continue;
		}
		if (s->p >= s->end)
			return -1;
		c = *s->p;
		scan_adv(s);
		switch (c) {
		case 'b': c = '\b'; break;
		case 'f': c = '\f'; break;
		case 'n': c = '\n'; break;
		case 'r': c = '\r'; break;
		case 't': c = '\t'; break;
		case '"': case '\\': case '/': break;
		case 'u':
			if (scan_hex4(s, &cp) == -1)
				return -1;
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (s->end - s->p < 2 || s->p[0] != '\\' ||
				    s->p[1] != 'u')
					return -1;
				scan_adv(s);
				scan_adv(s);
				if (scan_hex4(s, &lo) == -1 ||
				    lo < 0xdc00 || lo > 0xdfff)
					return -1;
				cp = 0x10000 + ((cp - 0xd800) << 10) +
				    (lo - 0xdc00);
			} else if (cp >= 0xdc00 && cp <= 0xdfff)
				return -1;
			if (cp < 0x80) {
				u[0] = (unsigned char)cp;
				n = 1;
			} else if (cp < 0x800) {
				u[0] = (unsigned char)(0xc0 | cp >> 6);
				u[1] = (unsigned char)(0x80 | (cp & 0x3f));
				n = 2;
			} else if (cp < 0x10000) {
				u[0] = (unsigned char)(0xe0 | cp >> 12);
				u[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
				u[2] = (unsigned char)(0x80 | (cp & 0x3f));
				n = 3;
			} else {
				u[0] = (unsigned char)(0xf0 | cp >> 18);
				u[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
				u[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
				u[3] = (unsigned char)(0x80 | (cp & 0x3f));
				n = 4;
			}
			if (decode && scan_push(s, u, n) == -1)
				return -1;
			continue;
		default:
			return -1;
		}
		if (decode && scan_push(s, &c, 1) == -1)
			return -1;
	}
}

static int	scan_value(struct scan *, uint64_t, uint32_t, uint32_t);

static int
scan_object(struct scan *s, uint64_t h)
{
	uint32_t kline, kcol;
	size_t saved = s->pathlen;
	uint64_t kh;

	scan_adv(s);
	scan_ws(s);
	if (s->p < s->end && *s->p == '}') {
		scan_adv(s);
		return 0;
	}
	for (;;) {
		scan_ws(s);
		if (s->p >= s->end || *s->p != '"')
			return -1;
		kline = s->line;
		kcol = s->col;
		if (saved > 0 && scan_push(s, ".", 1) == -1)
			return -1;
		if (scan_string(s, true) == -1)
			return -1;
		kh = fnv_update(h, s->path + saved, s->pathlen - saved);
		scan_ws(s);
		if (s->p >= s->end || *s->p != ':')
			return -1;
		scan_adv(s);
		if (scan_value(s, kh, kline, kcol) == -1)
			return -1;
		s->pathlen = saved;
		s->path[saved] = '\0';
		scan_ws(s);
		if (s->p < s->end && *s->p == ',') {
			scan_adv(s);
			continue;
		}
		if (s->p < s->end && *s->p == '}') {
			scan_adv(s);
			return 0;
		}
		return -1;
	}
}

static int
scan_array(struct scan *s, uint64_t h)
{
	size_t saved = s->pathlen, i;
	char idx[32];
	int n;

	scan_adv(s);
	scan_ws(s);
	if (s->p < s->end && *s->p == ']') {
		scan_adv(s);
		return 0;
	}
	for (i = 0;; i++) {
		n = snprintf(idx, sizeof(idx), "[%zu]", i);
		if (scan_push(s, idx, (size_t)n) == -1)
			return -1;
		if (scan_value(s, fnv_update(h, idx, (size_t)n), 0, 0) == -1)
			return -1;
		s->pathlen = saved;
		s->path[saved] = '\0';
		scan_ws(s);
		if (s->p < s->end && *s->p == ',') {
			scan_adv(s);
			continue;
		}
		if (s->p < s->end && *s->p == ']') {
			scan_adv(s);
			return 0;
		}
		return -1;
	}
}

/*
 * Indexes the value at s->p, whose path is s->path (hash h), and everything
 * in it.  kline/kcol: its key's position, 0 for an array element or the
 * root.  Returns -1 on text it does not expect (jansson has accepted it, so
 * that would be our bug), on nesting deeper than CFG_DEPTH_MAX (reported),
 * or when out of memory.
 */
static int
scan_value(struct scan *s, uint64_t h, uint32_t kline, uint32_t kcol)
{
	const char *start;
	int rc;

	scan_ws(s);
	if (s->p >= s->end)
		return -1;
	if (scan_record(s, h, kline, kcol) == -1)
		return -1;
	switch (*s->p) {
	case '{':
	case '[':
		if (++s->depth > CFG_DEPTH_MAX) {
			err_add(s->ctx, s->line, s->col, s->path,
			    "nesting too deep (more than %d levels)",
			    CFG_DEPTH_MAX);
			s->too_deep = true;
			return -1;
		}
		rc = *s->p == '{' ? scan_object(s, h) : scan_array(s, h);
		s->depth--;
		return rc;
	case '"':
		return scan_string(s, false);
	default:
		start = s->p;
		while (s->p < s->end && strchr(" \t\r\n,]}", *s->p) == NULL)
			scan_adv(s);
		return s->p > start ? 0 : -1;
	}
}

/*
 * Builds ctx's position index over ctx->text.  Returns -1 only if the text
 * nests too deep (reported); if the scanner fails otherwise the index is
 * partial and errors fall back to enclosing positions.
 */
static int
scan_text(struct cfg_ctx *ctx, const char *prefix)
{
	struct scan s;

	memset(&s, 0, sizeof(s));
	s.ctx = ctx;
	s.p = ctx->text;
	s.end = ctx->text + ctx->len;
	s.line = 1;
	s.col = 1;
	/* The text is the value at path `prefix` ("" for a whole file). */
	if (scan_push(&s, prefix, strlen(prefix)) == 0)
		scan_value(&s, fnv_update(FNV_BASIS, prefix, strlen(prefix)),
		    0, 0);
	free(s.path);
	qsort(ctx->pos, ctx->npos, sizeof(*ctx->pos), pos_cmp);
	return s.too_deep ? -1 : 0;
}

/* ---- duplicate detection ---- */

static int
dup_init(struct dup_set *d, size_t n)
{
	size_t size = 16;

	while (size < n * 2)
		size *= 2;
	if ((d->slot = calloc(size, sizeof(*d->slot))) == NULL)
		return -1;
	d->mask = size - 1;
	return 0;
}

/*
 * Adds device `idx` whose key (id or socket) is `key`.  Returns -1 if new,
 * else the index of the device that has the key already.
 */
static long
dup_add(struct dup_set *d, const struct dev_cfg *devs, size_t keyoff,
    unsigned idx)
{
	const char *key = (const char *)&devs[idx] + keyoff;
	size_t i = fnv_update(FNV_BASIS, key, strlen(key)) & d->mask;

	while (d->slot[i] != 0) {
		unsigned j = d->slot[i] - 1;

		if (strcmp((const char *)&devs[j] + keyoff, key) == 0)
			return (long)j;
		i = (i + 1) & d->mask;
	}
	d->slot[i] = idx + 1;
	return -1;
}

/* ---- the configuration itself ---- */

int
cfg_check_name(struct cfg_ctx *ctx, const char *path, const char *name,
    size_t size)
{
	size_t i;

	if (strlen(name) >= size) {
		cfg_error(ctx, path, "is too long (at most %zu characters)",
		    size - 1);
		return -1;
	}
	for (i = 0; name[i] != '\0'; i++)
		if (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		    "0123456789._-", name[i]) == NULL) {
			cfg_error(ctx, path, "may contain only letters, digits, "
			    "'.', '_' and '-'");
			return -1;
		}
	return 0;
}

static int
cfg_check_id(struct cfg_ctx *ctx, const char *path, const char *id)
{
	return cfg_check_name(ctx, path, id, CFG_ID_MAX);
}

static void
cfg_unknown_type(struct cfg_ctx *ctx, const char *path, const char *type)
{
	char known[256], q[QUOTE_BUF];
	size_t i, o = 0;

	known[0] = '\0';
	for (i = 0; dev_registry[i] != NULL && o < sizeof(known); i++)
		o += (size_t)snprintf(known + o, sizeof(known) - o, "%s%s",
		    i > 0 ? ", " : "", dev_registry[i]->name);
	cfg_error(ctx, path, "unknown device type %s (known: %s)",
	    quote(q, sizeof(q), type), known);
}

/*
 * Resolves the "socket" of a device against rundir (NULL if runtime_dir was
 * wrong: relative sockets are then not checked further) into out
 * (CFG_SOCK_MAX bytes).  Returns 0, or -1 after reporting or if skipped.
 */
static int
cfg_socket(struct cfg_ctx *ctx, const char *path, const char *rundir,
    const char *given, char *out)
{
	const char *last;
	char *full;
	size_t len;
	int rc = -1;

	last = strrchr(given, '/');
	last = last != NULL ? last + 1 : given;
	if (*last == '\0' || strcmp(last, ".") == 0 ||
	    strcmp(last, "..") == 0) {
		cfg_error(ctx, path, "must name a socket file, not a directory");
		return -1;
	}
	if (given[0] != '/' && rundir == NULL)
		return -1;
	if (given[0] == '/')
		full = strdup(given);
	else if (asprintf(&full, "%s/%s", rundir, given) == -1)
		full = NULL;
	if (full == NULL) {
		ctx->oom = true;
		return -1;
	}
	path_normalize(full);
	len = strlen(full);
	if (len >= CFG_SOCK_MAX)
		cfg_error(ctx, path, "socket path %s is too long (%zu bytes, "
		    "at most %zu)", full, len, CFG_SOCK_MAX - 1);
	else {
		memcpy(out, full, len + 1);
		rc = 0;
	}
	free(full);
	return rc;
}

/*
 * User and group names.  At start, before main locks itself down, they are
 * resolved with getpwnam_r and getgrnam_r, through whatever the system's
 * NSS configuration says, and remembered.  Once main is locked down (a
 * reload, vhostctl add) NSS is not called: its modules may load libraries
 * and talk to services with system calls main's seccomp filter forbids
 * (nss-systemd, on Debian's default "passwd: files systemd", lists
 * /run/systemd/userdb with getdents64 and connects to varlink sockets for
 * any name the files lack), which would kill main.  A name is then taken
 * from what start-up resolved, else read from /etc/passwd or /etc/group
 * themselves (fgetpwent_r, fgetgrent_r: no NSS).
 */
struct cfg_name {
	char	*name;		/* NULL: a user looked up by uid */
	bool	 user;
	uint32_t id;		/* uid or gid */
	gid_t	 gid;		/* a user's primary group */
};
static struct cfg_name	*cfg_names;
static size_t		 cfg_nnames;
static bool		 cfg_names_locked;

#define CFG_PASSWD	"/etc/passwd"
#define CFG_GROUP	"/etc/group"
#define CFG_ENT_BUF_MAX	(1024 * 1024)	/* for one line of those */

void
cfg_names_lock(void)
{
	cfg_names_locked = true;
}

/* Remembers what NSS said at start (dropped if out of memory: a reload
 * then reads the files). */
static void
cfg_name_keep(const char *name, bool user, uint32_t id, gid_t gid)
{
	struct cfg_name *v;
	char *dup = NULL;

	if (name != NULL && (dup = strdup(name)) == NULL)
		return;
	if ((v = reallocarray(cfg_names, cfg_nnames + 1, sizeof(*v))) ==
	    NULL) {
		free(dup);
		return;
	}
	cfg_names = v;
	cfg_names[cfg_nnames++] = (struct cfg_name){ dup, user, id, gid };
}

static const struct cfg_name *
cfg_name_kept(const char *name, bool user, uint32_t id)
{
	size_t i;

	for (i = 0; i < cfg_nnames; i++)
		if (cfg_names[i].user == user && (name != NULL ?
		    cfg_names[i].name != NULL &&
		    strcmp(cfg_names[i].name, name) == 0 :
		    cfg_names[i].name == NULL && cfg_names[i].id == id))
			return &cfg_names[i];
	return NULL;
}

/*
 * After the lockdown: the entry of user `name` (or, if name is NULL, of
 * uid) in /etc/passwd, or of group `name` in /etc/group.  Returns 0 and
 * sets *id (and *gid for a user), -1 if there is none (*e: an errno, or 0
 * for no such entry).
 */
static int
cfg_name_files(const char *name, bool user, uint32_t uid, uint32_t *id,
    gid_t *gid, int *e)
{
	struct passwd pw, *pr;
	struct group gr, *gres;
	size_t len = 4096;
	char *buf, *p;
	FILE *f;
	int r;

	*e = 0;
	if ((f = fopen(user ? CFG_PASSWD : CFG_GROUP, "re")) == NULL) {
		*e = errno;
		return -1;
	}
	if ((buf = malloc(len)) == NULL) {
		*e = ENOMEM;
		fclose(f);
		return -1;
	}
	for (;;) {
		pr = NULL;
		gres = NULL;
		r = user ? fgetpwent_r(f, &pw, buf, len, &pr) :
		    fgetgrent_r(f, &gr, buf, len, &gres);
		if (r == ERANGE && len < CFG_ENT_BUF_MAX) {
			/* The line is read again with more room. */
			if ((p = realloc(buf, len * 2)) == NULL) {
				r = ENOMEM;
				break;
			}
			buf = p;
			len *= 2;
			continue;
		}
		if (r != 0)
			break;
		if (user && (name != NULL ? strcmp(pw.pw_name, name) == 0 :
		    pw.pw_uid == uid)) {
			*id = pw.pw_uid;
			*gid = pw.pw_gid;
			break;
		}
		if (!user && strcmp(gr.gr_name, name) == 0) {
			*id = gr.gr_gid;
			break;
		}
	}
	free(buf);
	fclose(f);
	if (r == 0)
		return 0;
	*e = r == ENOENT ? 0 : r;
	return -1;
}

/*
 * User name (or, if NULL, uid) or group name: its id and, for a user, its
 * primary group.  Returns 0, or -1 with *e an errno or 0 for "unknown".
 */
static int
cfg_name_lookup(const char *name, bool user, uint32_t uid, uint32_t *id,
    gid_t *gid, int *e)
{
	struct passwd pw, *pr = NULL;
	struct group gr, *gres = NULL;
	const struct cfg_name *k;
	char buf[4096];

	if (cfg_names_locked) {
		if ((k = cfg_name_kept(name, user, uid)) != NULL) {
			*id = k->id;
			*gid = k->gid;
			return 0;
		}
		return cfg_name_files(name, user, uid, id, gid, e);
	}
	if (user) {
		*e = name != NULL ? getpwnam_r(name, &pw, buf, sizeof(buf),
		    &pr) : getpwuid_r(uid, &pw, buf, sizeof(buf), &pr);
		if (pr == NULL)
			return -1;
		*id = pw.pw_uid;
		*gid = pw.pw_gid;
	} else {
		*e = getgrnam_r(name, &gr, buf, sizeof(buf), &gres);
		if (gres == NULL)
			return -1;
		*id = gr.gr_gid;
		*gid = gr.gr_gid;
	}
	cfg_name_keep(name, user, *id, *gid);
	return 0;
}

/* The end of an unknown name's error once main is locked down: where it
 * was looked for, and what to do. */
static const char *
cfg_name_hint(bool user)
{
	if (!cfg_names_locked)
		return "";
	return user ? " (since vhostd started, a user name it did not know "
	    "then is looked up in " CFG_PASSWD " only: give a uid, or "
	    "restart vhostd)" : " (since vhostd started, a group name it did "
	    "not know then is looked up in " CFG_GROUP " only: give a gid, "
	    "or restart vhostd)";
}

/*
 * A user given as a name or a number: its uid, and its primary group in
 * *gid if gid is not NULL.  The user must exist.
 */
static int
cfg_user_value(struct cfg_ctx *ctx, json_t *v, const char *path, uid_t *uid,
    gid_t *gid)
{
	char q[QUOTE_BUF];
	const char *name;
	uint32_t id;
	gid_t g;
	int e;

	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0 ||
		    json_integer_value(v) >= (json_int_t)UINT32_MAX) {
			cfg_error(ctx, path, "must be a user name or a uid "
			    "from 0 to 4294967294");
			return -1;
		}
		*uid = (uid_t)json_integer_value(v);
		if (gid != NULL) {
			if (cfg_name_lookup(NULL, true, *uid, &id, &g, &e) ==
			    -1) {
				cfg_error(ctx, path, "no user has uid %u%s",
				    (unsigned)*uid, cfg_name_hint(true));
				return -1;
			}
			*gid = g;
		}
		return 0;
	}
	if (!json_is_string(v) || *(name = json_string_value(v)) == '\0') {
		cfg_error(ctx, path, "must be a user name or a uid");
		return -1;
	}
	if (cfg_name_lookup(name, true, 0, &id, &g, &e) == -1) {
		cfg_error(ctx, path, "unknown user %s%s%s%s",
		    quote(q, sizeof(q), name), e != 0 ? ": " : "",
		    e != 0 ? strerror(e) : "", cfg_name_hint(true));
		return -1;
	}
	*uid = (uid_t)id;
	if (gid != NULL)
		*gid = g;
	return 0;
}

/* A group given as a name or a number. */
static int
cfg_group_value(struct cfg_ctx *ctx, json_t *v, const char *path, gid_t *gid)
{
	char q[QUOTE_BUF];
	const char *name;
	uint32_t id;
	gid_t g;
	int e;

	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0 ||
		    json_integer_value(v) >= (json_int_t)UINT32_MAX) {
			cfg_error(ctx, path, "must be a group name or a gid "
			    "from 0 to 4294967294");
			return -1;
		}
		*gid = (gid_t)json_integer_value(v);
		return 0;
	}
	if (!json_is_string(v) || *(name = json_string_value(v)) == '\0') {
		cfg_error(ctx, path, "must be a group name or a gid");
		return -1;
	}
	if (cfg_name_lookup(name, false, 0, &id, &g, &e) == -1) {
		cfg_error(ctx, path, "unknown group %s%s%s%s",
		    quote(q, sizeof(q), name), e != 0 ? ": " : "",
		    e != 0 ? strerror(e) : "", cfg_name_hint(false));
		return -1;
	}
	*gid = (gid_t)id;
	return 0;
}

/* Permissions of a socket file: a string of octal digits up to "0777". */
static int
cfg_mode_value(struct cfg_ctx *ctx, json_t *v, const char *path,
    mode_t *out)
{
	const char *s = json_is_string(v) ? json_string_value(v) : "";
	unsigned long mode;
	char *end;

	errno = 0;
	mode = strtoul(s, &end, 8);
	if (*s == '\0' || *end != '\0' || errno != 0 || mode > 0777 ||
	    strspn(s, "01234567") != strlen(s)) {
		cfg_error(ctx, path, "must be a string of octal permissions "
		    "from \"0\" to \"0777\", such as \"0660\"");
		return -1;
	}
	*out = (mode_t)mode;
	return 0;
}

/* An array of users (uids) or groups (gids), at most CFG_ACL_MAX. */
static void
cfg_id_list(struct cfg_ctx *ctx, json_t *obj, const char *path,
    const char *key, bool groups, uint32_t *out, unsigned *n)
{
	json_t *arr, *v;
	char *sub, *el;
	size_t i;
	uid_t uid;
	gid_t gid;

	*n = 0;
	if ((arr = json_object_get(obj, key)) == NULL)
		return;
	if ((sub = path_join(ctx, path, key)) == NULL)
		return;
	if (!json_is_array(arr) || json_array_size(arr) == 0 ||
	    json_array_size(arr) > CFG_ACL_MAX) {
		cfg_error(ctx, sub, "must be an array of 1 to %d %s",
		    CFG_ACL_MAX, groups ? "group names or gids" :
		    "user names or uids");
		free(sub);
		return;
	}
	json_array_foreach(arr, i, v) {
		if (asprintf(&el, "%s[%zu]", sub, i) == -1) {
			ctx->oom = true;
			break;
		}
		if (groups && cfg_group_value(ctx, v, el, &gid) == 0)
			out[(*n)++] = gid;
		else if (!groups && cfg_user_value(ctx, v, el, &uid, NULL) == 0)
			out[(*n)++] = uid;
		free(el);
	}
	free(sub);
}

/* The device's socket_owner, socket_group, socket_mode, allow_uids and
 * allow_gids. */
static void
cfg_device_access(struct cfg_ctx *ctx, json_t *obj, const char *path,
    struct dev_cfg *dc)
{
	static const char *const listen_only[] = {
		"socket_owner", "socket_group", "socket_mode", NULL
	};
	json_t *v;
	char *sub;
	uint64_t ms;
	unsigned k;

	dc->sock_uid = (uid_t)-1;
	dc->sock_gid = (gid_t)-1;
	dc->sock_mode = 0600;
	dc->reconnect_ms = 1000;
	dc->mem_slots = true;
	if (!json_is_object(obj))
		return;
	cfg_bool(ctx, obj, path, "connect", false, &dc->connect);
	cfg_bool(ctx, obj, path, "mem_slots", true, &dc->mem_slots);
	if (cfg_uint(ctx, obj, path, "reconnect_ms", false, 1000, 100, 60000,
	    &ms) == 0)
		dc->reconnect_ms = (uint32_t)ms;
	if (!dc->connect && json_object_get(obj, "reconnect_ms") != NULL &&
	    (sub = path_join(ctx, path, "reconnect_ms")) != NULL) {
		cfg_error(ctx, sub, "applies only with \"connect\": true");
		free(sub);
	}
	for (k = 0; dc->connect && listen_only[k] != NULL; k++)
		if (json_object_get(obj, listen_only[k]) != NULL &&
		    (sub = path_join(ctx, path, listen_only[k])) != NULL) {
			cfg_error(ctx, sub, "does not apply with \"connect\": "
			    "true (the front-end makes the socket)");
			free(sub);
		}
	if ((v = json_object_get(obj, "socket_owner")) != NULL &&
	    (sub = path_join(ctx, path, "socket_owner")) != NULL) {
		cfg_user_value(ctx, v, sub, &dc->sock_uid, NULL);
		free(sub);
	}
	if ((v = json_object_get(obj, "socket_group")) != NULL &&
	    (sub = path_join(ctx, path, "socket_group")) != NULL) {
		cfg_group_value(ctx, v, sub, &dc->sock_gid);
		free(sub);
	}
	if ((v = json_object_get(obj, "socket_mode")) != NULL &&
	    (sub = path_join(ctx, path, "socket_mode")) != NULL) {
		cfg_mode_value(ctx, v, sub, &dc->sock_mode);
		free(sub);
	}
	cfg_id_list(ctx, obj, path, "allow_uids", false, dc->allow_uids,
	    &dc->n_allow_uids);
	cfg_id_list(ctx, obj, path, "allow_gids", true, dc->allow_gids,
	    &dc->n_allow_gids);
	dc->acl = json_object_get(obj, "allow_uids") != NULL ||
	    json_object_get(obj, "allow_gids") != NULL;
}

/* ---- CPUs and datapath modes ---- */

const char *
cfg_datapath_name(enum cfg_datapath dp)
{
	if ((unsigned)dp >= sizeof(cfg_datapath_names) /
	    sizeof(cfg_datapath_names[0]))
		return "?";
	return cfg_datapath_names[dp];
}

char *
cfg_cpulist(const cpu_set_t *set, char *buf, size_t len)
{
	size_t o = 0;
	int c, first;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	for (c = 0; c < CFG_CPU_MAX && o < len; c++) {
		if (!CPU_ISSET(c, set))
			continue;
		first = c;
		while (c + 1 < CFG_CPU_MAX && CPU_ISSET(c + 1, set))
			c++;
		if (first == c)
			o += (size_t)snprintf(buf + o, len - o, "%s%d",
			    o > 0 ? "," : "", c);
		else
			o += (size_t)snprintf(buf + o, len - o, "%s%d-%d",
			    o > 0 ? "," : "", first, c);
	}
	if (buf[0] == '\0')
		snprintf(buf, len, "none");
	return buf;
}

/* Parses a kernel CPU list ("0-3,5\n") into set.  Returns 0, or -1 if
 * the text is not one. */
static int
cpulist_parse(const char *s, cpu_set_t *set)
{
	unsigned long a, b;
	char *end;

	CPU_ZERO(set);
	while (*s != '\0' && *s != '\n') {
		if (*s < '0' || *s > '9')
			return -1;
		errno = 0;
		a = b = strtoul(s, &end, 10);
		if (errno != 0)
			return -1;
		if (*end == '-') {
			s = end + 1;
			if (*s < '0' || *s > '9')
				return -1;
			b = strtoul(s, &end, 10);
			if (errno != 0 || b < a)
				return -1;
		}
		for (; a <= b && a < CFG_CPU_MAX; a++)
			CPU_SET(a, set);
		s = end;
		if (*s == ',')
			s++;
		else if (*s != '\0' && *s != '\n')
			return -1;
	}
	return 0;
}

/* vhostd's CPU affinity now; with more CPUs than a cpu_set_t holds, every
 * one we can name. */
static void
cfg_affinity_now(cpu_set_t *set)
{
	int c;

	if (sched_getaffinity(0, sizeof(*set), set) == -1) {
		CPU_ZERO(set);
		for (c = 0; c < CFG_CPU_MAX; c++)
			CPU_SET(c, set);
	}
}

/* Reads which CPUs vhostd may run on, once per load: those online (if
 * the kernel says) and in the affinity it was started with. */
static void
cfg_cpus_read(struct cfg_ctx *ctx)
{
	char buf[4096];
	ssize_t n;
	int fd;

	if (ctx->cpus_read)
		return;
	ctx->cpus_read = true;
	if (start_affinity_kept)
		ctx->affinity = start_affinity;
	else
		cfg_affinity_now(&ctx->affinity);
	if ((fd = open(cfg_cpu_online, O_RDONLY | O_CLOEXEC)) == -1)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	ctx->online_known = cpulist_parse(buf, &ctx->online) == 0;
}

void
cfg_keep_affinity(void)
{
	cfg_affinity_now(&start_affinity);
	start_affinity_kept = true;
}

/* True if vhostd may run on cpu. */
static bool
cfg_cpu_usable(struct cfg_ctx *ctx, int cpu)
{
	cfg_cpus_read(ctx);
	return CPU_ISSET(cpu, &ctx->affinity) &&
	    (!ctx->online_known || CPU_ISSET(cpu, &ctx->online));
}

/* Checks that CPU cpu (< CFG_CPU_MAX), named at path, is one vhostd may
 * run on.  Returns 0, or -1 after reporting. */
static int
cfg_check_cpu(struct cfg_ctx *ctx, const char *path, int cpu)
{
	char list[CFG_CPULIST_MAX];

	cfg_cpus_read(ctx);
	if (ctx->online_known && !CPU_ISSET(cpu, &ctx->online)) {
		cfg_error(ctx, path, "CPU %d is not online (online: %s)", cpu,
		    cfg_cpulist(&ctx->online, list, sizeof(list)));
		return -1;
	}
	if (!CPU_ISSET(cpu, &ctx->affinity)) {
		cfg_error(ctx, path, "CPU %d is not in the CPU affinity vhostd "
		    "was started with (%s)", cpu,
		    cfg_cpulist(&ctx->affinity, list, sizeof(list)));
		return -1;
	}
	return 0;
}

/* The top-level "poll_cores": CPU numbers, each usable, none twice. */
static void
cfg_poll_cores(struct cfg_ctx *ctx, json_t *root, struct vhostd_cfg *cfg)
{
	cpu_set_t seen;
	json_t *arr, *v;
	char el[48];
	json_int_t c;
	size_t i;

	if ((arr = json_object_get(root, "poll_cores")) == NULL)
		return;
	if (!json_is_array(arr) || json_array_size(arr) == 0 ||
	    json_array_size(arr) > CFG_CPU_MAX) {
		cfg_error(ctx, "poll_cores", "must be an array of 1 to %d CPU "
		    "numbers", CFG_CPU_MAX);
		return;
	}
	CPU_ZERO(&seen);
	json_array_foreach(arr, i, v) {
		snprintf(el, sizeof(el), "poll_cores[%zu]", i);
		if (!json_is_integer(v) || (c = json_integer_value(v)) < 0 ||
		    c >= CFG_CPU_MAX) {
			cfg_error(ctx, el, "must be a CPU number from 0 to %d",
			    CFG_CPU_MAX - 1);
			continue;
		}
		if (CPU_ISSET((int)c, &seen)) {
			cfg_error(ctx, el, "CPU %d is given twice", (int)c);
			continue;
		}
		CPU_SET((int)c, &seen);
		if (cfg_check_cpu(ctx, el, (int)c) == 0)
			cfg->poll_cores[cfg->n_poll_cores++] = (int)c;
	}
}

/* A device's "datapath", "poll_core" and "adaptive_idle_us". */
static void
cfg_device_datapath(struct cfg_ctx *ctx, json_t *obj, const char *path,
    struct dev_cfg *dc)
{
	const char *s;
	char q[QUOTE_BUF], *sub;
	uint64_t u;
	unsigned k;
	bool known = false;

	dc->datapath = CFG_DP_INTERRUPT;
	dc->poll_core = -1;
	dc->adaptive_idle_us = CFG_IDLE_US_DEFAULT;
	if (!json_is_object(obj))
		return;
	if (cfg_string(ctx, obj, path, "datapath", false, "interrupt",
	    &s) == 0) {
		for (k = 0; k < sizeof(cfg_datapath_names) /
		    sizeof(cfg_datapath_names[0]); k++)
			if (strcmp(s, cfg_datapath_names[k]) == 0)
				break;
		if (k < sizeof(cfg_datapath_names) /
		    sizeof(cfg_datapath_names[0])) {
			dc->datapath = (enum cfg_datapath)k;
			known = true;
		} else if ((sub = path_join(ctx, path, "datapath")) != NULL) {
			cfg_error(ctx, sub, "unknown mode %s (expected "
			    "interrupt, poll or adaptive)",
			    quote(q, sizeof(q), s));
			free(sub);
		}
	}
	if (json_object_get(obj, "poll_core") != NULL &&
	    (sub = path_join(ctx, path, "poll_core")) != NULL) {
		/* Given, even if wrong: no core is chosen for it. */
		dc->poll_core_given = true;
		if (known && dc->datapath == CFG_DP_INTERRUPT)
			cfg_error(ctx, sub, "applies only with \"datapath\": "
			    "\"poll\" or \"adaptive\"");
		else if (cfg_uint(ctx, obj, path, "poll_core", false, 0, 0,
		    CFG_CPU_MAX - 1, &u) == 0 &&
		    cfg_check_cpu(ctx, sub, (int)u) == 0)
			dc->poll_core = (int)u;
		free(sub);
	}
	if (json_object_get(obj, "adaptive_idle_us") != NULL &&
	    (sub = path_join(ctx, path, "adaptive_idle_us")) != NULL) {
		if (known && dc->datapath != CFG_DP_ADAPTIVE)
			cfg_error(ctx, sub, "applies only with \"datapath\": "
			    "\"adaptive\"");
		else if (cfg_uint(ctx, obj, path, "adaptive_idle_us", false,
		    CFG_IDLE_US_DEFAULT, 1, CFG_IDLE_US_MAX, &u) == 0)
			dc->adaptive_idle_us = (uint32_t)u;
		free(sub);
	}
	if (dc->datapath == CFG_DP_INTERRUPT)
		dc->poll_core_given = false;
}

/* True if every CPU vhostd may run on is in set. */
static bool
cfg_cpus_covered(struct cfg_ctx *ctx, const cpu_set_t *set)
{
	int c;

	for (c = 0; c < CFG_CPU_MAX; c++)
		if (cfg_cpu_usable(ctx, c) && !CPU_ISSET(c, set))
			return false;
	return true;
}

/*
 * After every device was read: a core for each polled device that named
 * none, from poll_cores, least loaded first (ties: the first in the list),
 * so that devices spread over the set; then the poll set, and the CPUs
 * left to main and interrupt-mode workers, of which there must be one.
 * poll_cores_key: the file has "poll_cores" (if it was wrong, devices
 * that needed it are not reported again).
 */
static void
cfg_poll_assign(struct cfg_ctx *ctx, struct vhostd_cfg *cfg,
    bool poll_cores_key)
{
	unsigned load[CFG_CPU_MAX];
	struct dev_cfg *dc;
	cpu_set_t set;
	char path[64], list[CFG_CPULIST_MAX];
	unsigned k;
	size_t i;
	int c, best;

	memset(load, 0, sizeof(load));
	CPU_ZERO(&set);
	for (k = 0; k < cfg->n_poll_cores; k++)
		CPU_SET(cfg->poll_cores[k], &set);
	for (i = 0; i < cfg->ndevs; i++) {
		dc = &cfg->devs[i];
		if (dc->datapath != CFG_DP_INTERRUPT && dc->poll_core >= 0) {
			load[dc->poll_core]++;
			CPU_SET(dc->poll_core, &set);
		}
	}
	for (i = 0; i < cfg->ndevs; i++) {
		dc = &cfg->devs[i];
		if (dc->datapath == CFG_DP_INTERRUPT || dc->poll_core_given)
			continue;
		if (cfg->n_poll_cores == 0) {
			/* A wrong poll_cores was reported already. */
			if (poll_cores_key)
				continue;
			snprintf(path, sizeof(path), "devices[%zu].datapath",
			    i);
			cfg_error(ctx, path, "\"%s\" needs a CPU to poll on: "
			    "give \"poll_core\" or a top-level \"poll_cores\"",
			    cfg_datapath_name(dc->datapath));
			continue;
		}
		best = cfg->poll_cores[0];
		for (k = 1; k < cfg->n_poll_cores; k++)
			if (load[cfg->poll_cores[k]] < load[best])
				best = cfg->poll_cores[k];
		dc->poll_core = best;
		load[best]++;
	}
	if (CPU_COUNT(&set) == 0)
		return;
	cfg->has_poll_set = true;
	cfg->poll_set = set;
	CPU_ZERO(&cfg->main_set);
	for (c = 0; c < CFG_CPU_MAX; c++)
		if (cfg_cpu_usable(ctx, c) && !CPU_ISSET(c, &set))
			CPU_SET(c, &cfg->main_set);
	if (CPU_COUNT(&cfg->main_set) > 0)
		return;
	/* Blame the entry that took the last CPU. */
	CPU_ZERO(&set);
	for (k = 0; k < cfg->n_poll_cores; k++)
		CPU_SET(cfg->poll_cores[k], &set);
	snprintf(path, sizeof(path), "poll_cores");
	for (i = 0; !cfg_cpus_covered(ctx, &set) && i < cfg->ndevs; i++) {
		dc = &cfg->devs[i];
		if (dc->datapath != CFG_DP_INTERRUPT && dc->poll_core >= 0) {
			CPU_SET(dc->poll_core, &set);
			snprintf(path, sizeof(path), "devices[%zu].poll_core",
			    i);
		}
	}
	for (c = 0; c < CFG_CPU_MAX; c++)
		if (!cfg_cpu_usable(ctx, c))
			CPU_CLR(c, &set);
	cfg_error(ctx, path, "poll cores would take every CPU vhostd may "
	    "run on (%s): main and interrupt-mode workers need one",
	    cfg_cpulist(&set, list, sizeof(list)));
}

/*
 * Reads one entry of "devices" into dc: the common keys here, the rest by
 * the device type's parse hook.  Errors are reported, dc keeps what was
 * valid; ids and sockets that are valid go into the duplicate sets.
 */
static void
cfg_device(struct cfg_ctx *ctx, json_t *obj, struct vhostd_cfg *cfg,
    unsigned i, const char *rundir, struct dup_set *ids,
    struct dup_set *socks)
{
	struct dev_cfg *dc = &cfg->devs[i];
	const struct dev_ops *ops = NULL;
	const char *s;
	char path[32], sub[48], q[QUOTE_BUF];
	size_t before;
	long j;

	snprintf(path, sizeof(path), "devices[%u]", i);
	dc->index = i;
	if (!json_is_object(obj)) {
		cfg_error(ctx, path, "must be an object");
		return;
	}

	snprintf(sub, sizeof(sub), "%s.id", path);
	if (cfg_string(ctx, obj, path, "id", true, NULL, &s) == 0 &&
	    cfg_check_id(ctx, sub, s) == 0) {
		strcpy(dc->id, s);
		if ((j = dup_add(ids, cfg->devs, offsetof(struct dev_cfg, id),
		    i)) != -1) {
			cfg_error(ctx, sub, "duplicate id %s (also used by "
			    "devices[%ld])", quote(q, sizeof(q), s), j);
			dc->id[0] = '\0';
		}
	}

	snprintf(sub, sizeof(sub), "%s.type", path);
	if (cfg_string(ctx, obj, path, "type", true, NULL, &s) == 0 &&
	    (ops = dev_lookup(s)) == NULL)
		cfg_unknown_type(ctx, sub, s);

	snprintf(sub, sizeof(sub), "%s.socket", path);
	if (cfg_string(ctx, obj, path, "socket", true, NULL, &s) == 0 &&
	    cfg_socket(ctx, sub, rundir, s, dc->socket) == 0 &&
	    (j = dup_add(socks, cfg->devs, offsetof(struct dev_cfg, socket),
	    i)) != -1) {
		if (cfg->devs[j].id[0] != '\0')
			cfg_error(ctx, sub, "duplicate socket path %s (also "
			    "used by devices[%ld] \"%s\")", dc->socket, j,
			    cfg->devs[j].id);
		else
			cfg_error(ctx, sub, "duplicate socket path %s (also "
			    "used by devices[%ld])", dc->socket, j);
	}

	cfg_device_access(ctx, obj, path, dc);
	cfg_device_datapath(ctx, obj, path, dc);

	/* Without a known type, nobody knows which other keys are right. */
	if (ops == NULL)
		return;
	dc->ops = ops;
	if ((dc->priv = calloc(1, ops->cfg_size > 0 ? ops->cfg_size : 1)) ==
	    NULL) {
		ctx->oom = true;
		return;
	}
	before = ctx->nerrs;
	if (ops->parse == NULL)
		cfg_check_device_keys(ctx, obj, path, NULL);
	else if (ops->parse(ctx, obj, path, dc->priv) == -1 &&
	    ctx->nerrs == before)
		cfg_error(ctx, path, "invalid %s device", ops->name);
}

struct owned_claim {
	struct dev_claim	c;
	unsigned		dev;
	bool			core;	/* a device's own socket */
};

static int
claim_cmp(const void *a, const void *b)
{
	const struct owned_claim *x = a, *y = b;
	int r;

	if ((r = strcmp(x->c.resource, y->c.resource)) != 0)
		return r;
	if (x->c.unit != y->c.unit)
		return x->c.unit < y->c.unit ? -1 : 1;
	return x->dev < y->dev ? -1 : x->dev > y->dev;
}

/*
 * Shared host resources: no unit (a GPIO line, an I2C address) of one
 * resource may be claimed by two instances.  The later claim is the
 * error, and names the earlier owner.
 */
static void
cfg_check_claims(struct cfg_ctx *ctx, struct vhostd_cfg *cfg)
{
	struct owned_claim *all = NULL, *p;
	struct dev_claim *one;
	size_t n = 0, i, k;
	unsigned got;
	char path[160], unit[16];

	if ((one = calloc(DEV_MAX_CLAIMS, sizeof(*one))) == NULL) {
		ctx->oom = true;
		return;
	}
	for (i = 0; i < cfg->ndevs; i++) {
		const struct dev_cfg *dc = &cfg->devs[i];

		if (dc->ops == NULL || dc->priv == NULL || dc->id[0] == '\0' ||
		    dc->socket[0] == '\0')
			continue;
		got = dc->ops->claims != NULL ? dc->ops->claims(dc->priv,
		    one) : 0;
		if (got > DEV_MAX_CLAIMS - 1)
			got = DEV_MAX_CLAIMS - 1;
		/* The device's own socket, so that no socket a device
		 * makes (a vsock host socket) lands on it. */
		memset(&one[got], 0, sizeof(one[got]));
		snprintf(one[got].resource, sizeof(one[got].resource),
		    "socket %s", dc->socket);
		snprintf(one[got].path, sizeof(one[got].path), "socket");
		got++;
		p = reallocarray(all, n + got, sizeof(*all));
		if (p == NULL) {
			ctx->oom = true;
			goto done;
		}
		all = p;
		for (k = 0; k < got; k++) {
			all[n + k].c = one[k];
			all[n + k].dev = (unsigned)i;
			all[n + k].core = k == got - 1;
		}
		n += got;
	}
	if (n > 1)
		qsort(all, n, sizeof(*all), claim_cmp);
	for (i = 1; i < n; i++) {
		k = i - 1;
		if (strcmp(all[i].c.resource, all[k].c.resource) != 0 ||
		    all[i].c.unit != all[k].c.unit)
			continue;
		/* Find the first owner of this unit. */
		while (k > 0 && strcmp(all[k - 1].c.resource,
		    all[i].c.resource) == 0 && all[k - 1].c.unit == all[i].c.unit)
			k--;
		/* Two devices' own sockets: the duplicate socket check has
		 * said so already. */
		if (all[i].core && all[k].core)
			continue;
		snprintf(path, sizeof(path), "devices[%u]%s%s", all[i].dev,
		    all[i].c.path[0] == '[' ? "" : ".", all[i].c.path);
		snprintf(unit, sizeof(unit), all[i].c.hex ? "0x%02x" : "%u",
		    all[i].c.unit);
		if (all[i].c.what[0] == '\0') {
			/* A resource taken whole (a socket path). */
			if (all[i].dev == all[k].dev)
				cfg_error(ctx, path, "%s is given twice",
				    all[i].c.resource);
			else
				cfg_error(ctx, path, "%s is already used by "
				    "%s (devices[%u])", all[i].c.resource,
				    cfg->devs[all[k].dev].id, all[k].dev);
		} else if (all[i].dev == all[k].dev)
			cfg_error(ctx, path, "%s %s of %s is given twice",
			    all[i].c.what, unit, all[i].c.resource);
		else
			cfg_error(ctx, path, "%s %s of %s is already given to "
			    "%s (devices[%u])", all[i].c.what, unit,
			    all[i].c.resource, cfg->devs[all[k].dev].id,
			    all[k].dev);
	}
done:
	free(one);
	free(all);
}

static void
cfg_devices(struct cfg_ctx *ctx, json_t *arr, struct vhostd_cfg *cfg,
    const char *rundir)
{
	struct dup_set ids = { NULL, 0 }, socks = { NULL, 0 };
	size_t n = json_array_size(arr), i;

	if (n > CFG_DEVICES_MAX) {
		cfg_error(ctx, "devices", "too many devices (%zu, at most %d)",
		    n, CFG_DEVICES_MAX);
		return;
	}
	if ((cfg->devs = calloc(n > 0 ? n : 1, sizeof(*cfg->devs))) == NULL ||
	    dup_init(&ids, n) == -1 || dup_init(&socks, n) == -1) {
		ctx->oom = true;
		goto done;
	}
	cfg->ndevs = n;
	for (i = 0; i < n && !ctx->oom; i++)
		cfg_device(ctx, json_array_get(arr, i), cfg, (unsigned)i,
		    rundir, &ids, &socks);
	if (!ctx->oom)
		cfg_check_claims(ctx, cfg);
done:
	free(ids.slot);
	free(socks.slot);
}

/*
 * "control_socket": false, a path (relative to runtime_dir), or an object
 * of path, owner, group, mode and admin_group.  Its path may not be a
 * device's socket.
 */
static void
cfg_control(struct cfg_ctx *ctx, json_t *root, struct vhostd_cfg *cfg,
    const char *rundir)
{
	struct cfg_control *c = &cfg->control;
	const char *path = "control_socket", *s = CFG_CONTROL_NAME;
	json_t *v, *obj = NULL;
	size_t i;

	c->enabled = true;
	c->uid = (uid_t)-1;
	c->gid = (gid_t)-1;
	c->mode = 0600;
	v = json_object_get(root, "control_socket");
	if (json_is_false(v)) {
		c->enabled = false;
		return;
	}
	if (json_is_object(v)) {
		obj = v;
		/* Unknown keys are reported; the others are still read. */
		(void)cfg_check_keys(ctx, obj, path, cfg_control_keys);
		if (cfg_string(ctx, obj, path, "path", false, CFG_CONTROL_NAME,
		    &s) == -1)
			s = NULL;
		path = "control_socket.path";
	} else if (v != NULL && !json_is_string(v)) {
		cfg_error(ctx, path, "must be a socket path, an object or "
		    "false");
		return;
	} else if (v != NULL && cfg_string(ctx, root, "", "control_socket",
	    false, CFG_CONTROL_NAME, &s) == -1)
		s = NULL;
	if (v == NULL && rundir != NULL &&
	    strlen(rundir) + 1 + strlen(CFG_CONTROL_NAME) >= CFG_SOCK_MAX) {
		/* The default does not fit: no control socket (vhostd says
		 * so when it starts) rather than an error the file never
		 * asked for. */
		c->enabled = false;
		c->too_long = true;
		return;
	}
	if (s != NULL && cfg_socket(ctx, path, rundir, s, c->path) == 0)
		for (i = 0; i < cfg->ndevs; i++)
			if (strcmp(cfg->devs[i].socket, c->path) == 0)
				cfg_error(ctx, path, "%s is also the socket of "
				    "%s (devices[%zu])", c->path,
				    cfg->devs[i].id, i);
	if (obj == NULL)
		return;
	if ((v = json_object_get(obj, "owner")) != NULL)
		cfg_user_value(ctx, v, "control_socket.owner", &c->uid, NULL);
	if ((v = json_object_get(obj, "group")) != NULL)
		cfg_group_value(ctx, v, "control_socket.group", &c->gid);
	if ((v = json_object_get(obj, "admin_group")) != NULL &&
	    cfg_group_value(ctx, v, "control_socket.admin_group",
	    &c->admin_gid) == 0) {
		c->admin_set = true;
		c->mode = 0660;
		if (json_is_string(v))
			snprintf(c->admin_name, sizeof(c->admin_name), "%s",
			    json_string_value(v));
	}
	if ((v = json_object_get(obj, "mode")) != NULL)
		cfg_mode_value(ctx, v, "control_socket.mode", &c->mode);
}

/* Checks the root object and fills cfg from it. */
static void
cfg_root(struct cfg_ctx *ctx, json_t *root, struct vhostd_cfg *cfg)
{
	const char *s, *rundir = NULL;
	char q[QUOTE_BUF];
	json_t *devs, *v;
	int level;

	if (!json_is_object(root)) {
		cfg_error(ctx, "", "the top level must be an object, not an "
		    "array");
		return;
	}
	cfg_check_keys(ctx, root, "", cfg_top_keys);

	if (cfg_string(ctx, root, "", "runtime_dir", false,
	    CFG_DEFAULT_RUNDIR, &s) == 0) {
		if (s[0] != '/')
			cfg_error(ctx, "runtime_dir", "must be an absolute "
			    "path");
		else if (strlen(s) >= sizeof(cfg->runtime_dir))
			cfg_error(ctx, "runtime_dir", "is too long (at most "
			    "%zu bytes)", sizeof(cfg->runtime_dir) - 1);
		else {
			strcpy(cfg->runtime_dir, s);
			path_normalize(cfg->runtime_dir);
			rundir = cfg->runtime_dir;
		}
	}

	cfg->log_level = LOG_NOTICE;
	if (cfg_string(ctx, root, "", "log_level", false, NULL, &s) == 0 &&
	    s != NULL) {
		if ((level = log_level_parse(s)) == -1)
			cfg_error(ctx, "log_level", "unknown level %s "
			    "(expected error, warning, notice, info or debug)",
			    quote(q, sizeof(q), s));
		else {
			cfg->log_level = level;
			cfg->log_level_set = true;
		}
	}

	if ((v = json_object_get(root, "user")) != NULL &&
	    cfg_user_value(ctx, v, "user", &cfg->uid, &cfg->gid) == 0) {
		cfg->user_set = true;
		if (json_is_string(v))
			snprintf(cfg->user, sizeof(cfg->user), "%s",
			    json_string_value(v));
		if (cfg->uid == 0)
			cfg_error(ctx, "user", "must not be root: vhostd "
			    "runs as an unprivileged user once set up");
	}
	if ((v = json_object_get(root, "group")) != NULL) {
		if (!cfg->user_set)
			cfg_error(ctx, "group", "needs \"user\"");
		else
			cfg_group_value(ctx, v, "group", &cfg->gid);
	}
	if (cfg_string(ctx, root, "", "seccomp", false, "kill", &s) == 0) {
		if (strcmp(s, "log") == 0)
			cfg->seccomp_log = true;
		else if (strcmp(s, "kill") != 0)
			cfg_error(ctx, "seccomp", "unknown mode %s (expected "
			    "kill or log)", quote(q, sizeof(q), s));
	}

	cfg_poll_cores(ctx, root, cfg);
	if ((devs = json_object_get(root, "devices")) == NULL)
		cfg_error(ctx, "", "missing required key \"devices\"");
	else if (!json_is_array(devs))
		cfg_error(ctx, "devices", "must be an array");
	else
		cfg_devices(ctx, devs, cfg, rundir);
	if (!ctx->oom)
		cfg_poll_assign(ctx, cfg, json_object_get(root, "poll_cores") !=
		    NULL);
	if (!ctx->oom)
		cfg_control(ctx, root, cfg, rundir);
}

/* The errors of ctx in *errors; frees ctx's.  Returns NULL. */
static struct vhostd_cfg *
cfg_fail_ctx(struct cfg_ctx *ctx, char **errors)
{
	size_t i;

	if (errors != NULL) {
		if (ctx->oom)
			err_add(ctx, 0, 0, NULL, "out of memory");
		*errors = err_join(ctx);
	}
	for (i = 0; i < ctx->nerrs; i++)
		free(ctx->errs[i].text);
	free(ctx->errs);
	free(ctx->pos);
	errno = ctx->oom ? ENOMEM : EINVAL;
	return NULL;
}

/*
 * Checks root (whose positions ctx has indexed) and builds the
 * configuration, which keeps root (the caller's reference) and has path
 * `path`.  On error, root is released.
 */
static struct vhostd_cfg *
cfg_finish(struct cfg_ctx *ctx, json_t *root, const char *path,
    char **errors)
{
	struct vhostd_cfg *cfg;

	if ((cfg = calloc(1, sizeof(*cfg))) == NULL ||
	    (cfg->path = strdup(path)) == NULL) {
		ctx->oom = true;
		goto fail;
	}
	cfg_root(ctx, root, cfg);
	if (ctx->nerrs > 0 || ctx->oom)
		goto fail;
	cfg->root = root;
	free(ctx->pos);
	free(ctx->errs);
	if (errors != NULL)
		*errors = NULL;
	return cfg;
fail:
	cfg_free(cfg);
	json_decref(root);
	return cfg_fail_ctx(ctx, errors);
}

/* The text's own troubles: too long, a NUL byte.  0, or -1 reported. */
static int
cfg_text_check(struct cfg_ctx *ctx, const char *text, size_t len)
{
	const char *nul;
	uint32_t line, col;
	size_t i;

	if (len > CFG_FILE_MAX) {
		err_add(ctx, 0, 0, NULL, "too large (more than %d bytes)",
		    CFG_FILE_MAX);
		return -1;
	}
	/* jansson would take a NUL byte for the end of the text. */
	if ((nul = memchr(text, '\0', len)) != NULL) {
		line = col = 1;
		for (i = 0; text + i < nul; i++, col++)
			if (text[i] == '\n') {
				line++;
				col = 0;
			}
		err_add(ctx, line, col, NULL, "NUL byte in the file");
		return -1;
	}
	return 0;
}

/*
 * Sets up ctx for text of len bytes that stands for file `name` and parses
 * it: the JSON value, or NULL with the error in ctx.
 */
static json_t *
cfg_text_load(struct cfg_ctx *ctx, const char *text, size_t len,
    const char *name)
{
	json_error_t jerr;
	json_t *v;

	memset(ctx, 0, sizeof(*ctx));
	ctx->name = name;
	ctx->text = text;
	ctx->len = len;
	if (cfg_text_check(ctx, text, len) == -1)
		return NULL;
	if ((v = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL)
		err_add(ctx, jerr.line > 0 ? (uint32_t)jerr.line : 1,
		    jerr.column > 0 ? (uint32_t)jerr.column : 1, NULL, "%s",
		    jerr.text);
	return v;
}

/*
 * The loader proper, over text of len bytes that stands for file `name`.
 * Contract as for cfg_load.  Sets errno: EINVAL for a wrong file, ENOMEM.
 */
static struct vhostd_cfg *
cfg_parse(const char *text, size_t len, const char *name, char **errors)
{
	struct cfg_ctx ctx;
	json_t *root;

	if ((root = cfg_text_load(&ctx, text, len, name)) == NULL)
		return cfg_fail_ctx(&ctx, errors);
	if (scan_text(&ctx, "") == -1 || ctx.oom) {
		json_decref(root);
		return cfg_fail_ctx(&ctx, errors);
	}
	return cfg_finish(&ctx, root, name, errors);
}

struct vhostd_cfg *
cfg_add_device(const struct vhostd_cfg *cur, const char *text, size_t len,
    const char *name, char **errors)
{
	struct vhostd_cfg *cfg;
	struct cfg_ctx ctx;
	json_t *dev = NULL, *root = NULL, *devs;
	char prefix[32];

	if ((dev = cfg_text_load(&ctx, text, len, name)) == NULL)
		return cfg_fail_ctx(&ctx, errors);
	if ((root = json_deep_copy(cur->root)) == NULL ||
	    (devs = json_object_get(root, "devices")) == NULL ||
	    !json_is_array(devs)) {
		ctx.oom = true;
		goto fail;
	}
	snprintf(prefix, sizeof(prefix), "devices[%zu]",
	    json_array_size(devs));
	if (!json_is_object(dev)) {
		err_add(&ctx, 1, 1, prefix, "must be an object");
		goto fail;
	}
	if (scan_text(&ctx, prefix) == -1 || ctx.oom ||
	    json_array_append(devs, dev) == -1)
		goto fail;
	json_decref(dev);
	cfg = cfg_finish(&ctx, root, cur->path, errors);
	return cfg;
fail:
	json_decref(dev);
	json_decref(root);
	return cfg_fail_ctx(&ctx, errors);
}

int
cfg_forget_device(struct vhostd_cfg *cfg, const char *id)
{
	json_t *devs, *d, *v;
	size_t i;

	for (i = 0; i < cfg->ndevs; i++)
		if (strcmp(cfg->devs[i].id, id) == 0) {
			free(cfg->devs[i].priv);
			memmove(&cfg->devs[i], &cfg->devs[i + 1],
			    (cfg->ndevs - i - 1) * sizeof(cfg->devs[0]));
			cfg->ndevs--;
			break;
		}
	devs = cfg->root != NULL ? json_object_get(cfg->root, "devices") :
	    NULL;
	json_array_foreach(devs, i, d) {
		v = json_object_get(d, "id");
		if (json_is_string(v) && strcmp(json_string_value(v), id) == 0)
			return json_array_remove(devs, i);
	}
	return -1;
}

/* *errors: the one error "NAME: message", or NULL if out of memory. */
static void
cfg_fail(char **errors, const char *name, const char *msg)
{
	if (errors != NULL && asprintf(errors, "%s: %s", name, msg) == -1)
		*errors = NULL;
}

struct vhostd_cfg *
cfg_load(const char *path, char **errors)
{
	struct vhostd_cfg *cfg;
	struct stat st;
	char *buf = NULL, msg[128];
	size_t len = 0;
	ssize_t n;
	int fd, saved;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1)
		goto fail;
	if (fstat(fd, &st) == -1)
		goto fail;
	if (S_ISDIR(st.st_mode)) {
		errno = EISDIR;
		goto fail;
	}
	/* One byte more than allowed, to tell "too large" from "just fits". */
	if ((buf = malloc(CFG_FILE_MAX + 1)) == NULL)
		goto fail;
	while (len < CFG_FILE_MAX + 1) {
		n = read(fd, buf + len, CFG_FILE_MAX + 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			goto fail;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	cfg = cfg_parse(buf, len, path, errors);
	saved = errno;
	free(buf);
	errno = saved;
	return cfg;
fail:
	saved = errno;
	snprintf(msg, sizeof(msg), "cannot read: %s", strerror(saved));
	cfg_fail(errors, path, msg);
	if (fd != -1)
		close(fd);
	free(buf);
	errno = saved;
	return NULL;
}

struct vhostd_cfg *
cfg_load_string(const char *text, const char *name, char **errors)
{
	return cfg_parse(text, strlen(text), name, errors);
}

void
cfg_free(struct vhostd_cfg *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	for (i = 0; i < cfg->ndevs; i++)
		free(cfg->devs[i].priv);
	free(cfg->devs);
	free(cfg->path);
	json_decref(cfg->root);
	free(cfg);
}

/* ---- for device parse hooks ---- */

void
cfg_error(struct cfg_ctx *ctx, const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cfg_verror(ctx, path, false, path, fmt, ap);
	va_end(ap);
}

int
cfg_check_keys(struct cfg_ctx *ctx, json_t *obj, const char *path,
    const char *const allowed[])
{
	const char *key;
	char q[QUOTE_BUF], *sub;
	json_t *v;
	size_t i;
	int rc = 0;

	if (!json_is_object(obj)) {
		cfg_error(ctx, path, "must be an object");
		return -1;
	}
	json_object_foreach(obj, key, v) {
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(allowed[i], key) == 0)
				break;
		if (allowed[i] != NULL)
			continue;
		sub = path_join(ctx, path, key);
		cfg_error_at_key(ctx, sub != NULL ? sub : path, path,
		    "unknown key %s", quote(q, sizeof(q), key));
		free(sub);
		rc = -1;
	}
	return rc;
}

int
cfg_check_device_keys(struct cfg_ctx *ctx, json_t *obj, const char *path,
    const char *const allowed[])
{
	const char *list[64];
	size_t n = 0, i;

	for (i = 0; cfg_common_keys[i] != NULL; i++)
		list[n++] = cfg_common_keys[i];
	for (i = 0; allowed != NULL && allowed[i] != NULL && n < 63; i++)
		list[n++] = allowed[i];
	list[n] = NULL;
	return cfg_check_keys(ctx, obj, path, list);
}

/*
 * The member `key` of obj for the helpers below: 1 and *v if present; 0 if
 * absent and optional; -1 if absent and required (reported, at obj).
 * *sub is the member's path (malloc'ed, the caller frees it) when 1.
 */
static int
cfg_member(struct cfg_ctx *ctx, json_t *obj, const char *path,
    const char *key, bool required, json_t **v, char **sub)
{
	char q[QUOTE_BUF];

	*sub = NULL;
	if (!json_is_object(obj) || (*v = json_object_get(obj, key)) == NULL) {
		if (!required)
			return 0;
		cfg_error(ctx, path, "missing required key %s",
		    quote(q, sizeof(q), key));
		return -1;
	}
	if ((*sub = path_join(ctx, path, key)) == NULL)
		return -1;
	return 1;
}

int
cfg_string(struct cfg_ctx *ctx, json_t *obj, const char *path,
    const char *key, bool required, const char *def, const char **out)
{
	const char *s;
	char *sub;
	json_t *v;
	int r;

	*out = def;
	if ((r = cfg_member(ctx, obj, path, key, required, &v, &sub)) != 1)
		return r;
	r = -1;
	if (!json_is_string(v))
		cfg_error(ctx, sub, "must be a string");
	else if (json_string_length(v) != strlen(s = json_string_value(v)))
		cfg_error(ctx, sub, "must not contain a NUL character");
	else if (s[0] == '\0')
		cfg_error(ctx, sub, "must not be empty");
	else {
		*out = s;
		r = 0;
	}
	free(sub);
	return r;
}

int
cfg_uint(struct cfg_ctx *ctx, json_t *obj, const char *path,
    const char *key, bool required, uint64_t def, uint64_t min,
    uint64_t max, uint64_t *out)
{
	json_int_t i;
	char *sub;
	json_t *v;
	int r;

	*out = def;
	if ((r = cfg_member(ctx, obj, path, key, required, &v, &sub)) != 1)
		return r;
	r = -1;
	if (!json_is_integer(v) || (i = json_integer_value(v)) < 0 ||
	    (uint64_t)i < min || (uint64_t)i > max)
		cfg_error(ctx, sub, "must be an integer from %" PRIu64 " to %"
		    PRIu64, min, max);
	else {
		*out = (uint64_t)i;
		r = 0;
	}
	free(sub);
	return r;
}

int
cfg_bool(struct cfg_ctx *ctx, json_t *obj, const char *path,
    const char *key, bool def, bool *out)
{
	char *sub;
	json_t *v;
	int r;

	*out = def;
	if ((r = cfg_member(ctx, obj, path, key, false, &v, &sub)) != 1)
		return r;
	r = -1;
	if (!json_is_boolean(v))
		cfg_error(ctx, sub, "must be true or false");
	else {
		*out = json_is_true(v);
		r = 0;
	}
	free(sub);
	return r;
}
