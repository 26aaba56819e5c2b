/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vhostctl: the administrator's command-line client of vhostd's control
 * socket (vhostctl(8)).  Each command is one request, one JSON line, and
 * one answer line (top: one pair per sample); the answer is printed as a
 * table for people, or as it came with --json for scripts.  Exit status:
 * 0 done, 1 vhostd refused or failed the request or it could not be made
 * (permission denied, too long, an unreadable add file), 2 usage, 3 vhostd
 * could not be reached or did not answer.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cfg.h"
#include "ctl.h"

#define EXIT_REFUSED	1
#define EXIT_USAGE	2
#define EXIT_UNREACHABLE 3

#define ANSWER_MAX	(64 * 1024 * 1024)
#define ANSWER_WAIT_MS	60000	/* a reload may take a while */
#define TOP_MAX_DEVS	1024

static const char	*sock_path = CFG_DEFAULT_CONTROL;
static bool		 json_out;

/* One command: its name, its arguments' synopsis, and what runs it. */
struct command {
	const char	*name;
	const char	*args;
	int		(*run)(int argc, char *argv[]);
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: vhostctl [-hjV] [-s socket] command [args]\n"
	    "  -j, --json    print the answers as JSON\n"
	    "  -s socket     vhostd's control socket (default %s)\n"
	    "  -V            print the version and exit\n"
	    "  -h            print this help and exit\n"
	    "commands:\n"
	    "  status                    vhostd's version, uptime, pid, "
	    "workers\n"
	    "  list                      every device and its state\n"
	    "  show id                   one device, with its queues\n"
	    "  stats [id]                counters and latencies per queue\n"
	    "  top [-n count] [-d secs]  rates per device, refreshed\n"
	    "  add [file]                add a device (JSON object; "
	    "default stdin)\n"
	    "  remove [-f|--force] id    remove a device (-f: even if "
	    "connected)\n"
	    "  reload                    read the configuration file again\n"
	    "  restart id                restart a device's worker\n"
	    "  log-level level           error, warning, notice, info or "
	    "debug\n", CFG_DEFAULT_CONTROL);
}

static void
warnx_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
warnx_(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "vhostctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- talking to vhostd ---- */

/*
 * A connection to the control socket, or -1 after saying why with the exit
 * status in *rc: permission denied by the socket file's permissions is
 * EXIT_REFUSED, as when vhostd refuses the peer; anything else
 * EXIT_UNREACHABLE.
 */
static int
ctl_connect(int *rc)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, e;

	*rc = EXIT_UNREACHABLE;
	if (strlen(sock_path) >= sizeof(sun.sun_path)) {
		warnx_("socket path %s is too long", sock_path);
		*rc = EXIT_USAGE;
		return -1;
	}
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock_path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		warnx_("socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		e = errno;
		if (e == EACCES || e == EPERM) {
			warnx_("permission denied by the permissions of %s or "
			    "of its directory (run as root or as a member of "
			    "vhostd's admin_group)", sock_path);
			*rc = EXIT_REFUSED;
		} else
			warnx_("cannot reach vhostd at %s: %s%s", sock_path,
			    strerror(e), e == ENOENT || e == ECONNREFUSED ?
			    " (is vhostd running? -s gives another socket)" :
			    "");
		close(fd);
		return -1;
	}
	return fd;
}

static int
write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Reads one answer line; NULL after saying why.  cmd is the request's
 * command: for one that changes something, an answer that does not come
 * leaves vhostd's state unknown, which the message says.
 */
static json_t *
read_answer(int fd, const char *cmd)
{
	static const char *const changing[] = { "add", "remove", "reload",
	    "restart", "log-level", NULL };
	const char *const *c;
	char maybe[128] = "";
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	json_error_t jerr;
	char *buf = NULL, *p, *nl = NULL;
	size_t len = 0, cap = 0;
	json_t *a = NULL;
	ssize_t n;

	for (c = changing; *c != NULL; c++)
		if (strcmp(*c, cmd) == 0)
			snprintf(maybe, sizeof(maybe), "; the %s may or may not "
			    "have been done (vhostctl list, status and the log "
			    "say)", cmd);
	while (nl == NULL) {
		if (len == cap) {
			cap = cap ? cap * 2 : 65536;
			if (cap > ANSWER_MAX || (p = realloc(buf, cap)) ==
			    NULL) {
				warnx_("answer too long");
				goto out;
			}
			buf = p;
		}
		if (poll(&pfd, 1, ANSWER_WAIT_MS) == 0) {
			warnx_("vhostd did not answer within %d s%s",
			    ANSWER_WAIT_MS / 1000, maybe);
			goto out;
		}
		n = read(fd, buf + len, cap - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0 && len > 0)
			warnx_("vhostd closed the connection in the middle of "
			    "its answer, after %zu bytes%s%s%s", len,
			    n == -1 ? ": " : "", n == -1 ? strerror(errno) : "",
			    maybe);
		else if (n <= 0)
			warnx_("vhostd closed the connection without an "
			    "answer%s%s%s", n == -1 ? ": " : "",
			    n == -1 ? strerror(errno) : "", maybe);
		if (n <= 0)
			goto out;
		nl = memchr(buf + len, '\n', (size_t)n);
		len += (size_t)n;
	}
	if ((a = json_loadb(buf, (size_t)(nl - buf), 0, &jerr)) == NULL ||
	    !json_is_object(a) ||
	    !json_is_boolean(json_object_get(a, "ok"))) {
		warnx_("vhostd's answer is not one this vhostctl reads: %s",
		    a == NULL ? jerr.text : "no \"ok\"");
		json_decref(a);
		a = NULL;
	}
out:
	free(buf);
	return a;
}

/*
 * Sends req (version added) on a new connection and returns the answer;
 * NULL after saying why, with the exit status in *rc: EXIT_UNREACHABLE if
 * vhostd could not be reached or gave no answer, EXIT_REFUSED if the
 * request could not be made (too long) or the socket's permissions keep
 * us out; 0 with an answer.  The request is taken.
 */
static json_t *
request(json_t *req, int *rc)
{
	json_t *a = NULL;
	char *text, *line, cmd[32];
	size_t len;
	int fd;

	snprintf(cmd, sizeof(cmd), "%s", json_string_value(json_object_get(req,
	    "cmd")) != NULL ? json_string_value(json_object_get(req, "cmd")) :
	    "request");
	json_object_set_new(req, "version", json_integer(CTL_PROTO_VERSION));
	text = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	*rc = EXIT_REFUSED;
	if (text == NULL) {
		warnx_("out of memory");
		return NULL;
	}
	if (strlen(text) + 1 > CTL_REQ_MAX) {
		warnx_("the %s request would be %zu bytes long, more than the "
		    "%d vhostd takes%s: nothing was sent", cmd,
		    strlen(text) + 1, CTL_REQ_MAX, strcmp(cmd, "add") == 0 ?
		    " (the device's text is sent escaped, as a JSON string)" :
		    "");
		free(text);
		return NULL;
	}
	if ((fd = ctl_connect(rc)) == -1) {
		free(text);
		return NULL;
	}
	*rc = EXIT_UNREACHABLE;
	/* One line: json_dumps made the text with no room to spare. */
	len = strlen(text);
	if ((line = realloc(text, len + 2)) == NULL) {
		warnx_("out of memory");
		free(text);
		close(fd);
		return NULL;
	}
	text = line;
	memcpy(text + len, "\n", 2);
	/* Even if vhostd closed the connection before reading the request
	 * (it refused us), its answer may say why. */
	if (write_all(fd, text, strlen(text)) == -1 && errno != EPIPE &&
	    errno != ECONNRESET)
		warnx_("sending the request: %s", strerror(errno));
	else
		a = read_answer(fd, cmd);
	free(text);
	close(fd);
	if (a != NULL)
		*rc = 0;
	return a;
}

/* The answer's "ok"; if false, says the error (and each of "errors"). */
static bool
answer_ok(json_t *a)
{
	json_t *errs, *e;
	size_t i;

	if (json_is_true(json_object_get(a, "ok")))
		return true;
	if (json_out)
		return false;
	warnx_("%s", json_string_value(json_object_get(a, "error")) != NULL ?
	    json_string_value(json_object_get(a, "error")) : "failed");
	errs = json_object_get(a, "errors");
	json_array_foreach(errs, i, e)
		if (json_is_string(e))
			fprintf(stderr, "%s\n", json_string_value(e));
	return false;
}

static void
print_json(json_t *a)
{
	char *text = json_dumps(a, JSON_COMPACT);

	if (text != NULL)
		printf("%s\n", text);
	free(text);
}

/*
 * Runs one request and prints its answer with print (table form) or as
 * JSON.  Returns the exit status.
 */
static int
simple(json_t *req, void (*print)(json_t *))
{
	json_t *a;
	int rc;

	if ((a = request(req, &rc)) == NULL)
		return rc;
	if (json_out)
		print_json(a);
	rc = answer_ok(a) ? 0 : EXIT_REFUSED;
	if (!json_out && print != NULL && (rc == 0 ||
	    json_object_get(a, "added") != NULL))
		print(a);
	json_decref(a);
	return rc;
}

/* ---- formatting ---- */

static json_int_t
jint(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

static const char *
jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "-";
}

/* A count of bytes or requests with a k/M/G suffix. */
static const char *
human(double v, char *buf, size_t len)
{
	static const char *const unit[] = { "", "k", "M", "G", "T", "P" };
	unsigned u = 0;

	while (v >= 10000 && u + 1 < sizeof(unit) / sizeof(unit[0])) {
		v /= 1000;
		u++;
	}
	if (u == 0 || v >= 100)
		snprintf(buf, len, "%.0f%s", v, unit[u]);
	else
		snprintf(buf, len, "%.1f%s", v, unit[u]);
	return buf;
}

/* A duration in microseconds, made short. */
static const char *
duration_us(uint64_t us, char *buf, size_t len)
{
	if (us < 1000)
		snprintf(buf, len, "%" PRIu64 "us", us);
	else if (us < 1000000)
		snprintf(buf, len, "%" PRIu64 "ms", us / 1000);
	else
		snprintf(buf, len, "%" PRIu64 "s", us / 1000000);
	return buf;
}

/* The label of latency bucket b: "<1us", "<2us", ..., ">=4s". */
static const char *
bucket_label(unsigned b, char *buf, size_t len)
{
	char d[16];

	if (b + 1 >= VQ_LAT_BUCKETS)
		snprintf(buf, len, ">=%s", duration_us((uint64_t)1 << (b - 1),
		    d, sizeof(d)));
	else
		snprintf(buf, len, "<%s", duration_us((uint64_t)1 << b, d,
		    sizeof(d)));
	return buf;
}

/* The bucket holding the q-th quantile of hist (counts h[]); -1 if
 * empty. */
static int
quantile(const uint64_t *h, double q)
{
	uint64_t total = 0, sum = 0, want;
	unsigned b;

	for (b = 0; b < VQ_LAT_BUCKETS; b++)
		total += h[b];
	if (total == 0)
		return -1;
	want = (uint64_t)(q * (double)total);
	if ((double)want < q * (double)total || want == 0)
		want = 1;
	for (b = 0; b < VQ_LAT_BUCKETS; b++) {
		sum += h[b];
		if (sum >= want)
			return (int)b;
	}
	return VQ_LAT_BUCKETS - 1;
}

static const char *
quantile_label(const uint64_t *h, double q, char *buf, size_t len)
{
	int b = quantile(h, q);

	if (b < 0)
		return "-";
	return bucket_label((unsigned)b, buf, len);
}

static void
hist_of(json_t *q, uint64_t *h)
{
	json_t *arr = json_object_get(q, "latency_hist"), *v;
	size_t i;

	memset(h, 0, VQ_LAT_BUCKETS * sizeof(*h));
	json_array_foreach(arr, i, v)
		if (i < VQ_LAT_BUCKETS)
			h[i] = (uint64_t)json_integer_value(v);
}

/* "latency: <1us 10, <2us 80" of the non-empty buckets. */
static void
print_hist(const char *prefix, json_t *q)
{
	uint64_t h[VQ_LAT_BUCKETS];
	char l[24];
	unsigned b;
	bool any = false;

	hist_of(q, h);
	for (b = 0; b < VQ_LAT_BUCKETS; b++) {
		if (h[b] == 0)
			continue;
		printf("%s %s %" PRIu64, any ? "," : prefix,
		    bucket_label(b, l, sizeof(l)), h[b]);
		any = true;
	}
	if (any)
		printf("\n");
}

/* ---- the commands ---- */

static json_t *
cmd_req(const char *cmd)
{
	return json_pack("{s:s}", "cmd", cmd);
}

static void
print_status(json_t *a)
{
	json_t *cores = json_object_get(a, "poll_cores"), *v;
	json_int_t up = jint(a, "uptime_s");
	size_t i;

	printf("vhostd %s, pid %lld, up %lldd%02lldh%02lldm%02llds\n",
	    jstr(a, "vhostd"), (long long)jint(a, "pid"), up / 86400,
	    up / 3600 % 24, up / 60 % 60, up % 60);
	printf("%-12s %s (reloaded %lld times)\n", "config",
	    jstr(a, "config"), (long long)jint(a, "reloads"));
	printf("%-12s %lld (%lld connected, %lld workers)\n", "devices",
	    (long long)jint(a, "devices"), (long long)jint(a, "connected"),
	    (long long)jint(a, "workers"));
	printf("%-12s ", "poll cores");
	if (json_array_size(cores) == 0)
		printf("none");
	json_array_foreach(cores, i, v)
		printf("%s%lld", i > 0 ? "," : "",
		    (long long)json_integer_value(v));
	if (json_is_string(json_object_get(a, "main_cpus")))
		printf(" (main on %s)", jstr(a, "main_cpus"));
	printf("\n%-12s %s\n", "log level", jstr(a, "log_level"));
}

static int
run_status(int argc, char *argv[])
{
	if (argc != 1)
		return -1;
	return simple(cmd_req("status"), print_status);
}

/* "0,1 of 2": a device's enabled queues, of its "queues". */
static void
queues_str(json_t *d, char *buf, size_t len)
{
	json_t *en = json_object_get(d, "queues_enabled"), *v;
	size_t i, o = 0;

	buf[0] = '\0';
	json_array_foreach(en, i, v)
		o += (size_t)snprintf(buf + o, o < len ? len - o : 0, "%s%lld",
		    i > 0 ? "," : "", (long long)json_integer_value(v));
	if (o == 0)
		snprintf(buf, len, "none");
	o = strlen(buf);
	if (o < len)
		snprintf(buf + o, len - o, " of %lld",
		    (long long)jint(d, "queues"));
}

static void
print_list(json_t *a)
{
	json_t *devs = json_object_get(a, "devices"), *d, *fe, *w;
	char fp[24], fu[24], ws[24], qs[64];
	size_t i;

	printf("%-16s %-5s %-10s %-7s %-6s %-7s %-18s %-9s %s\n", "ID",
	    "TYPE", "STATE", "VM-PID", "VM-UID", "WORKER", "FEATURES",
	    "ENABLED", "SOCKET");
	json_array_foreach(devs, i, d) {
		fe = json_object_get(d, "frontend");
		w = json_object_get(d, "worker");
		if (json_is_object(fe)) {
			snprintf(fp, sizeof(fp), "%lld",
			    (long long)jint(fe, "pid"));
			snprintf(fu, sizeof(fu), "%lld",
			    (long long)jint(fe, "uid"));
		} else {
			snprintf(fp, sizeof(fp), "-");
			snprintf(fu, sizeof(fu), "-");
		}
		if (json_is_object(w))
			snprintf(ws, sizeof(ws), "%lld",
			    (long long)jint(w, "pid"));
		else
			snprintf(ws, sizeof(ws), "-");
		queues_str(d, qs, sizeof(qs));
		printf("%-16s %-5s %-10s %-7s %-6s %-7s %-18s %-9s %s\n",
		    jstr(d, "id"), jstr(d, "type"), jstr(d, "state"), fp, fu,
		    ws, jstr(d, "features"), qs, jstr(d, "socket"));
	}
}

static int
run_list(int argc, char *argv[])
{
	if (argc != 1)
		return -1;
	return simple(cmd_req("list"), print_list);
}

/* One line of a queue's counters, after its key columns. */
static void
print_counters(json_t *q)
{
	uint64_t h[VQ_LAT_BUCKETS];
	char r[16], in[16], out[16], l1[24], l2[24];

	hist_of(q, h);
	printf(" %9s %10s %10s %7lld %7lld %7s %7s\n",
	    human((double)jint(q, "requests"), r, sizeof(r)),
	    human((double)jint(q, "bytes_from_guest"), in, sizeof(in)),
	    human((double)jint(q, "bytes_to_guest"), out, sizeof(out)),
	    (long long)jint(q, "errors"), (long long)jint(q, "notifications"),
	    quantile_label(h, 0.5, l1, sizeof(l1)),
	    quantile_label(h, 0.99, l2, sizeof(l2)));
}

#define COUNTERS_HEAD	" %9s %10s %10s %7s %7s %7s %7s\n"

static void
print_show(json_t *a)
{
	json_t *d = json_object_get(a, "device"), *fe, *w, *qs, *q;
	char label[48], qs_str[64];
	size_t i;

	fe = json_object_get(d, "frontend");
	w = json_object_get(d, "worker");
	printf("%-12s %s\n%-12s %s\n%-12s %s (%s)\n%-12s %s\n", "id",
	    jstr(d, "id"), "type", jstr(d, "type"), "socket",
	    jstr(d, "socket"), jstr(d, "mode"), "state", jstr(d, "state"));
	printf("%-12s %s", "datapath", jstr(d, "datapath"));
	if (json_is_integer(json_object_get(d, "poll_core")))
		printf(" on CPU %lld", (long long)jint(d, "poll_core"));
	printf("\n%-12s ", "front-end");
	if (json_is_object(fe))
		printf("pid %lld uid %lld, connected %llds\n",
		    (long long)jint(fe, "pid"), (long long)jint(fe, "uid"),
		    (long long)jint(fe, "connected_s"));
	else
		printf("none\n");
	printf("%-12s ", "worker");
	if (json_is_object(w))
		printf("pid %lld, up %llds", (long long)jint(w, "pid"),
		    (long long)jint(w, "up_s"));
	else
		printf("none");
	printf(", %lld restarts\n", (long long)jint(d, "worker_restarts"));
	queues_str(d, qs_str, sizeof(qs_str));
	printf("%-12s %s (protocol %s)\n%-12s %s enabled\n%-12s %lld\n",
	    "features", jstr(d, "features"), jstr(d, "protocol_features"),
	    "queues", qs_str, "connections", (long long)jint(d, "connections"));
	printf("\n%-5s %-5s %-7s", "QUEUE", "SIZE", "ENABLED");
	printf(COUNTERS_HEAD, "REQUESTS", "FROM-GUEST", "TO-GUEST", "ERRORS",
	    "NOTIFS", "P50", "P99");
	qs = json_object_get(d, "queue_detail");
	json_array_foreach(qs, i, q) {
		printf("%-5zu %-5lld %-7s", i, (long long)jint(q, "size"),
		    json_is_true(json_object_get(q, "enabled")) ? "yes" :
		    "no");
		if (json_object_get(q, "requests") != NULL)
			print_counters(q);
		else
			printf(COUNTERS_HEAD, "-", "-", "-", "-", "-", "-",
			    "-");
	}
	json_array_foreach(qs, i, q) {
		snprintf(label, sizeof(label), "queue %zu latency:", i);
		print_hist(label, q);
	}
}

static int
run_show(int argc, char *argv[])
{
	if (argc != 2)
		return -1;
	return simple(json_pack("{s:s, s:s}", "cmd", "show", "id", argv[1]),
	    print_show);
}

static void
print_stats(json_t *a)
{
	json_t *devs = json_object_get(a, "devices"), *d, *qs, *q;
	char label[96];
	size_t i, k;

	printf("%-16s %-5s", "DEVICE", "QUEUE");
	printf(COUNTERS_HEAD, "REQUESTS", "FROM-GUEST", "TO-GUEST", "ERRORS",
	    "NOTIFS", "P50", "P99");
	json_array_foreach(devs, i, d) {
		qs = json_object_get(d, "queues");
		if (json_array_size(qs) == 0) {
			printf("%-16s %-5s", jstr(d, "id"), "-");
			printf(COUNTERS_HEAD, "-", "-", "-", "-", "-", "-",
			    "-");
		}
		json_array_foreach(qs, k, q) {
			printf("%-16s %-5zu", jstr(d, "id"), k);
			print_counters(q);
		}
	}
	json_array_foreach(devs, i, d) {
		qs = json_object_get(d, "queues");
		json_array_foreach(qs, k, q) {
			snprintf(label, sizeof(label), "%s queue %zu latency:",
			    jstr(d, "id"), k);
			print_hist(label, q);
		}
	}
}

static int
run_stats(int argc, char *argv[])
{
	if (argc > 2)
		return -1;
	if (argc == 2)
		return simple(json_pack("{s:s, s:s}", "cmd", "stats", "id",
		    argv[1]), print_stats);
	return simple(cmd_req("stats"), print_stats);
}

/* "name (a, b)" of a list of ids, or nothing if empty. */
static void
print_ids(const char *what, json_t *a, bool always)
{
	json_t *v;
	size_t i;

	if (json_array_size(a) == 0 && !always)
		return;
	printf("%-10s %zu", what, json_array_size(a));
	json_array_foreach(a, i, v)
		printf("%s%s", i == 0 ? " (" : ", ", json_string_value(v));
	printf("%s\n", json_array_size(a) > 0 ? ")" : "");
}

static void
print_applied(json_t *a)
{
	json_t *v;
	size_t i;

	print_ids("added", json_object_get(a, "added"), true);
	print_ids("removed", json_object_get(a, "removed"), true);
	print_ids("changed", json_object_get(a, "changed"), true);
	printf("%-10s %zu\n", "unchanged",
	    json_array_size(json_object_get(a, "unchanged")));
	json_array_foreach(json_object_get(a, "failed"), i, v)
		printf("failed     %s\n", json_string_value(v));
	json_array_foreach(json_object_get(a, "applied"), i, v)
		printf("applied    %s\n", json_string_value(v));
	json_array_foreach(json_object_get(a, "restart_needed"), i, v)
		printf("needs a restart of vhostd: %s\n", json_string_value(v));
}

static int
run_reload(int argc, char *argv[])
{
	if (argc != 1)
		return -1;
	return simple(cmd_req("reload"), print_applied);
}

/* The whole of f, NUL-terminated, at most max bytes; NULL if longer,
 * unreadable or not text (a NUL byte) (said why). */
static char *
slurp(FILE *f, const char *name, size_t max)
{
	const char *nul;
	char *buf;
	size_t len;

	if ((buf = malloc(max + 1)) == NULL) {
		warnx_("out of memory");
		return NULL;
	}
	len = fread(buf, 1, max + 1, f);
	if (ferror(f)) {
		warnx_("reading %s: %s", name, strerror(errno));
		free(buf);
		return NULL;
	}
	if (len > max) {
		warnx_("%s is too long (more than %zu bytes)", name, max);
		free(buf);
		return NULL;
	}
	/* It would be cut there, silently, and the rest never checked. */
	if ((nul = memchr(buf, '\0', len)) != NULL) {
		warnx_("%s has a NUL byte at offset %zu: not a JSON text", name,
		    (size_t)(nul - buf));
		free(buf);
		return NULL;
	}
	buf[len] = '\0';
	return buf;
}

static int
run_add(int argc, char *argv[])
{
	const char *name = "<stdin>";
	FILE *f = stdin;
	char *text;
	json_t *req;

	if (argc > 2)
		return -1;
	if (argc == 2 && strcmp(argv[1], "-") != 0) {
		name = argv[1];
		if ((f = fopen(name, "r")) == NULL) {
			warnx_("cannot read %s: %s", name, strerror(errno));
			return EXIT_REFUSED;
		}
	}
	text = slurp(f, name, CTL_REQ_MAX / 2);
	if (f != stdin)
		fclose(f);
	if (text == NULL)
		return EXIT_REFUSED;
	req = json_pack("{s:s, s:s, s:s}", "cmd", "add", "device", text,
	    "name", name);
	free(text);
	if (req == NULL) {
		warnx_("%s is not UTF-8 text", name);
		return EXIT_REFUSED;
	}
	return simple(req, print_applied);
}

static void
print_removed(json_t *a)
{
	printf("removed %s\n", jstr(a, "removed"));
}

static int
run_remove(int argc, char *argv[])
{
	const char *id = NULL;
	bool force = false;
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-f") == 0 ||
		    strcmp(argv[i], "--force") == 0)
			force = true;
		else if (argv[i][0] == '-' || id != NULL)
			return -1;
		else
			id = argv[i];
	}
	if (id == NULL)
		return -1;
	return simple(json_pack("{s:s, s:s, s:b}", "cmd", "remove", "id", id,
	    "force", force), print_removed);
}

static void
print_restarted(json_t *a)
{
	json_t *w = json_object_get(a, "worker");

	if (json_is_integer(w))
		printf("worker restarted: pid %lld\n",
		    (long long)json_integer_value(w));
	else
		printf("restarted\n");
}

static int
run_restart(int argc, char *argv[])
{
	if (argc != 2)
		return -1;
	return simple(json_pack("{s:s, s:s}", "cmd", "restart", "id",
	    argv[1]), print_restarted);
}

static void
print_level(json_t *a)
{
	printf("log level %s (was %s)\n", jstr(a, "level"), jstr(a, "was"));
}

static int
run_log_level(int argc, char *argv[])
{
	if (argc != 2)
		return -1;
	return simple(json_pack("{s:s, s:s}", "cmd", "log-level", "level",
	    argv[1]), print_level);
}

/* ---- top ---- */

/* One device's totals at one sample. */
struct sample {
	char		id[CFG_ID_MAX];
	char		type[16];
	char		state[16];
	bool		counted;	/* a worker answered */
	json_int_t	worker;
	uint64_t	requests, in, out, errors;
	uint64_t	hist[VQ_LAT_BUCKETS];
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Fills s[] from a list and a stats answer; the number of devices, or -1
 * (exit status in *rc). */
static int
top_sample(struct sample *s, size_t max, int *rc)
{
	json_t *l, *st, *d, *qs, *q;
	size_t i, j, k, n = 0;
	uint64_t h[VQ_LAT_BUCKETS];
	unsigned b;

	if ((l = request(cmd_req("list"), rc)) == NULL)
		return -1;
	if ((st = request(cmd_req("stats"), rc)) == NULL) {
		json_decref(l);
		return -1;
	}
	if (!answer_ok(l) || !answer_ok(st)) {
		json_decref(l);
		json_decref(st);
		*rc = EXIT_REFUSED;
		return -1;
	}
	json_array_foreach(json_object_get(l, "devices"), i, d) {
		if (n == max)
			break;
		memset(&s[n], 0, sizeof(s[n]));
		snprintf(s[n].id, sizeof(s[n].id), "%s", jstr(d, "id"));
		snprintf(s[n].type, sizeof(s[n].type), "%s", jstr(d, "type"));
		snprintf(s[n].state, sizeof(s[n].state), "%s",
		    jstr(d, "state"));
		n++;
	}
	json_array_foreach(json_object_get(st, "devices"), i, d) {
		for (k = 0; k < n && strcmp(s[k].id, jstr(d, "id")) != 0; k++)
			;
		if (k == n || !json_is_integer(json_object_get(d,
		    "worker_pid")))
			continue;
		s[k].counted = true;
		s[k].worker = jint(d, "worker_pid");
		qs = json_object_get(d, "queues");
		json_array_foreach(qs, j, q) {
			s[k].requests += (uint64_t)jint(q, "requests");
			s[k].in += (uint64_t)jint(q, "bytes_from_guest");
			s[k].out += (uint64_t)jint(q, "bytes_to_guest");
			s[k].errors += (uint64_t)jint(q, "errors");
			hist_of(q, h);
			for (b = 0; b < VQ_LAT_BUCKETS; b++)
				s[k].hist[b] += h[b];
		}
	}
	json_decref(l);
	json_decref(st);
	return (int)n;
}

/* now - then, or now if the counters went back (a new worker). */
static uint64_t
delta(uint64_t now, uint64_t then, bool same)
{
	return same && now >= then ? now - then : now;
}

static const struct sample *
top_find(const struct sample *s, int n, const char *id)
{
	int i;

	for (i = 0; i < n; i++)
		if (strcmp(s[i].id, id) == 0)
			return &s[i];
	return NULL;
}

/* One frame of rates over dt seconds. */
static void
top_frame(const struct sample *prev, int np, const struct sample *cur,
    int nc, double dt, bool clear)
{
	const struct sample *p;
	uint64_t h[VQ_LAT_BUCKETS];
	char r[16], in[16], out[16], l1[24], l2[24];
	json_t *frame = NULL, *devs = NULL;
	double req, bin, bout, err;
	unsigned b;
	bool same;
	int i;

	if (json_out) {
		frame = json_pack("{s:f}", "interval_s", dt);
		devs = json_array();
	} else {
		if (clear)
			printf("\033[H\033[2J");
		printf("vhostctl top: %d devices, every %.1f s\n\n", nc, dt);
		printf("%-16s %-5s %-10s %9s %10s %10s %7s %7s %7s\n",
		    "DEVICE", "TYPE", "STATE", "REQ/S", "FROM-G/S", "TO-G/S",
		    "ERR/S", "P50", "P99");
	}
	for (i = 0; i < nc; i++) {
		p = top_find(prev, np, cur[i].id);
		same = p != NULL && p->counted && p->worker == cur[i].worker;
		req = (double)delta(cur[i].requests, same ? p->requests : 0,
		    same) / dt;
		bin = (double)delta(cur[i].in, same ? p->in : 0, same) / dt;
		bout = (double)delta(cur[i].out, same ? p->out : 0, same) / dt;
		err = (double)delta(cur[i].errors, same ? p->errors : 0, same)
		    / dt;
		for (b = 0; b < VQ_LAT_BUCKETS; b++)
			h[b] = delta(cur[i].hist[b], same ? p->hist[b] : 0,
			    same);
		if (json_out) {
			json_array_append_new(devs, json_pack("{s:s, s:s, s:s, "
			    "s:b, s:f, s:f, s:f, s:f, s:i, s:i}", "id",
			    cur[i].id, "type", cur[i].type, "state",
			    cur[i].state, "counted", cur[i].counted,
			    "requests_per_s", req, "bytes_from_guest_per_s", bin,
			    "bytes_to_guest_per_s", bout, "errors_per_s", err,
			    "p50_bucket", quantile(h, 0.5), "p99_bucket",
			    quantile(h, 0.99)));
			continue;
		}
		if (!cur[i].counted) {
			printf("%-16s %-5s %-10s %9s %10s %10s %7s %7s %7s\n",
			    cur[i].id, cur[i].type, cur[i].state, "-", "-", "-",
			    "-", "-", "-");
			continue;
		}
		printf("%-16s %-5s %-10s %9s %10s %10s %7.1f %7s %7s\n",
		    cur[i].id, cur[i].type, cur[i].state,
		    human(req, r, sizeof(r)), human(bin, in, sizeof(in)),
		    human(bout, out, sizeof(out)), err,
		    quantile_label(h, 0.5, l1, sizeof(l1)),
		    quantile_label(h, 0.99, l2, sizeof(l2)));
	}
	if (json_out) {
		json_object_set_new(frame, "devices", devs);
		print_json(frame);
		json_decref(frame);
	}
	fflush(stdout);
}

static int
run_top(int argc, char *argv[])
{
	struct sample *a, *b, *t;
	double delay = 1, t0, t1;
	long count = -1;
	char *end;
	int ch, na, nb, rc = 0;
	bool clear = !json_out && isatty(STDOUT_FILENO);

	optind = 1;
	while ((ch = getopt(argc, argv, "+d:n:")) != -1) {
		switch (ch) {
		case 'd':
			delay = strtod(optarg, &end);
			if (*end != '\0' || !(delay >= 0.1 && delay <= 3600))
				return -1;
			break;
		case 'n':
			count = strtol(optarg, &end, 10);
			if (*end != '\0' || count < 1)
				return -1;
			break;
		default:
			return -1;
		}
	}
	if (optind != argc)
		return -1;
	a = calloc(TOP_MAX_DEVS, sizeof(*a));
	b = calloc(TOP_MAX_DEVS, sizeof(*b));
	if (a == NULL || b == NULL) {
		free(a);
		free(b);
		warnx_("out of memory");
		return EXIT_REFUSED;
	}
	t0 = now_s();
	if ((na = top_sample(a, TOP_MAX_DEVS, &rc)) == -1)
		goto out;
	while (count == -1 || count-- > 0) {
		usleep((useconds_t)(delay * 1e6));
		if ((nb = top_sample(b, TOP_MAX_DEVS, &rc)) == -1)
			break;
		t1 = now_s();
		top_frame(a, na, b, nb, t1 - t0 > 0 ? t1 - t0 : delay, clear);
		t = a;
		a = b;
		b = t;
		na = nb;
		t0 = t1;
	}
out:
	free(a);
	free(b);
	return rc;
}

static const struct command commands[] = {
	{ "status", "", run_status },
	{ "list", "", run_list },
	{ "show", "id", run_show },
	{ "stats", "[id]", run_stats },
	{ "top", "[-n count] [-d seconds]", run_top },
	{ "add", "[file]", run_add },
	{ "remove", "[-f | --force] id", run_remove },
	{ "reload", "", run_reload },
	{ "restart", "id", run_restart },
	{ "log-level", "level", run_log_level },
	{ NULL, NULL, NULL }
};

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const struct command *c;
	int ch, rc;

	signal(SIGPIPE, SIG_IGN);
	while ((ch = getopt_long(argc, argv, "+hjs:V", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			usage(stdout);
			return 0;
		case 'j':
			json_out = true;
			break;
		case 's':
			sock_path = optarg;
			break;
		case 'V':
			printf("vhostctl %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (c = commands; c->name != NULL; c++)
		if (strcmp(c->name, argv[0]) == 0)
			break;
	if (c->name == NULL) {
		warnx_("unknown command '%s'", argv[0]);
		usage(stderr);
		return EXIT_USAGE;
	}
	if ((rc = c->run(argc, argv)) == -1) {
		fprintf(stderr, "usage: vhostctl [-hjV] [-s socket] %s%s%s\n",
		    c->name, c->args[0] != '\0' ? " " : "", c->args);
		return EXIT_USAGE;
	}
	return rc;
}
