/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control socket and vhostctl against the real vhostd ($VHOSTD) and
 * the real vhostctl ($VHOSTCTL), each test with a vhostd of its own
 * (tests/vuf_daemon.c) and vufront front-ends making real requests:
 * every command in both output forms (tables checked for their lines,
 * --json parsed with jansson and checked field by field); reloads that
 * add, remove and change devices while an unchanged device's front-end
 * goes on without reconnecting; a peer that is not root refused with a
 * log line, one in the admin group let in (among hundreds of groups too);
 * and malformed, random, oversized and stalled requests answered or
 * dropped while main goes on serving other control clients and
 * front-ends.  Without $VHOSTD or $VHOSTCTL the tests skip.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

/* main is built like this program: with AddressSanitizer or without. */
#if defined(__SANITIZE_ADDRESS__)
#define CTL_ASAN	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CTL_ASAN	1
#endif
#endif
#ifndef CTL_ASAN
#define CTL_ASAN	0
#endif
#include <jansson.h>

#include "vuf_daemon.h"
#include "vufront.h"

#define QSIZE		256
#define WAIT_MS		DAEMON_WAIT_MS
#define READ_SIZE	4096
#define ADMIN_GID	4242	/* a group no user has: the test's own */
#define MAX_ARGS	16

/* Who a vhostctl runs as: by default the test's own user, root. */
struct as {
	bool	 change;
	uid_t	 uid;
	gid_t	 gid;
	gid_t	 group;		/* a supplementary group, or (gid_t)-1 */
	bool	 many;		/* group comes after 300 others */
};

#define MANY_GROUPS	300

static const struct as as_root = { false, 0, 0, (gid_t)-1, false };

static int
setup(void **state)
{
	if (getenv("VHOSTCTL") == NULL || access(getenv("VHOSTCTL"), X_OK) !=
	    0) {
		fprintf(stderr, "VHOSTCTL unset or not executable: skipped\n");
		*state = NULL;
		return 0;
	}
	/* Test builds of vhostd: a stalled control client is dropped after
	 * 1 s rather than 10 (others ignore this). */
	setenv("VHOSTD_TEST_CTL_IDLE_MS", "1000", 1);
	return daemon_setup(state);
}

static void
ctl_path(const struct daemon *d, char *buf, size_t len)
{
	snprintf(buf, len, "%s/control.sock", d->dir);
}

/*
 * Starts vhostctl -s <d's control socket> argv... as `as`, with the given
 * stdin, stdout and stderr fds (-1: /dev/null).  Returns its pid.
 */
static pid_t
ctl_spawn(struct daemon *d, const struct as *as, int in, int out, int err,
    const char *const *args)
{
	const char *argv[MAX_ARGS + 4];
	char sock[PATH_MAX];
	int i, n = 0, null;
	pid_t pid;

	ctl_path(d, sock, sizeof(sock));
	argv[n++] = "vhostctl";
	argv[n++] = "-s";
	argv[n++] = sock;
	for (i = 0; args[i] != NULL && i < MAX_ARGS; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	assert_int_not_equal(pid = fork(), -1);
	if (pid != 0)
		return pid;
	null = open("/dev/null", O_RDWR);
	dup2(in != -1 ? in : null, 0);
	dup2(out != -1 ? out : null, 1);
	dup2(err != -1 ? err : null, 2);
	if (as->change) {
		gid_t g[MANY_GROUPS + 1];
		size_t ng = 0;

		while (as->many && ng < MANY_GROUPS) {
			g[ng] = 20000 + (gid_t)ng;
			ng++;
		}
		if (as->group != (gid_t)-1)
			g[ng++] = as->group;
		if (setgroups(ng, g) == -1 || setgid(as->gid) == -1 ||
		    setuid(as->uid) == -1)
			_exit(126);
	}
	execv(getenv("VHOSTCTL"), (char *const *)argv);
	_exit(127);
}

/* Reads fd to its end into a new string. */
static char *
slurp_fd(int fd)
{
	char *buf = NULL, *p;
	size_t len = 0, cap = 0;
	ssize_t n;

	for (;;) {
		if (len + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 65536;
			assert_non_null(p = realloc(buf, cap));
			buf = p;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return buf;
}

/* A file in d's directory for a background vhostctl's output. */
static int
out_file(struct daemon *d, const char *name, char *path, size_t len)
{
	int fd;

	snprintf(path, len, "%s/%s", d->dir, name);
	assert_true((fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600)) >=
	    0);
	return fd;
}

static char *
read_file(const char *path)
{
	char *s;
	int fd;

	assert_true((fd = open(path, O_RDONLY)) >= 0);
	s = slurp_fd(fd);
	close(fd);
	return s;
}

/*
 * Runs vhostctl with args (NULL-terminated) and `input` on its stdin (NULL:
 * none); returns its exit status, its stdout in *out and its stderr in
 * *err (malloc'ed; either may be NULL to drop it).
 */
static int
ctl_run_as(struct daemon *d, const struct as *as, const char *input,
    char **out, char **err, const char *const *args)
{
	char opath[PATH_MAX], epath[PATH_MAX], ipath[PATH_MAX];
	int ofd, efd, ifd = -1, status;
	pid_t pid;

	/* Files, not pipes: vhostctl never blocks on us. */
	ofd = out_file(d, "ctl.out", opath, sizeof(opath));
	efd = out_file(d, "ctl.err", epath, sizeof(epath));
	if (input != NULL) {
		ifd = out_file(d, "ctl.in", ipath, sizeof(ipath));
		assert_int_equal(write(ifd, input, strlen(input)),
		    (ssize_t)strlen(input));
		assert_int_equal(lseek(ifd, 0, SEEK_SET), 0);
	}
	if (as->change) {
		/* The unprivileged user must be able to write them. */
		assert_int_equal(fchown(ofd, as->uid, as->gid), 0);
		assert_int_equal(fchown(efd, as->uid, as->gid), 0);
	}
	pid = ctl_spawn(d, as, ifd, ofd, efd, args);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	close(ofd);
	close(efd);
	if (ifd != -1) {
		close(ifd);
		unlink(ipath);
	}
	if (out != NULL)
		*out = read_file(opath);
	if (err != NULL)
		*err = read_file(epath);
	unlink(opath);
	unlink(epath);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

#define ARGS(...)	((const char *const []){ __VA_ARGS__, NULL })

static int
ctl_run(struct daemon *d, const char *input, char **out, char **err,
    const char *const *args)
{
	return ctl_run_as(d, &as_root, input, out, err, args);
}

/* Runs vhostctl --json args, checks its exit status and returns its one
 * answer, parsed. */
static json_t *
ctl_json(struct daemon *d, int want, const char *input,
    const char *const *args)
{
	const char *argv[MAX_ARGS + 1];
	json_error_t jerr;
	char *out, *err;
	json_t *j;
	int i, rc;

	argv[0] = "--json";
	for (i = 0; args[i] != NULL && i < MAX_ARGS - 1; i++)
		argv[i + 1] = args[i];
	argv[i + 1] = NULL;
	rc = ctl_run(d, input, &out, &err, argv);
	if (rc != want)
		fail_msg("vhostctl --json %s: exit %d, not %d\nstdout: %s\n"
		    "stderr: %s", args[0], rc, want, out, err);
	if ((j = json_loads(out, JSON_DISABLE_EOF_CHECK, &jerr)) == NULL)
		fail_msg("vhostctl --json %s: not JSON (%s): %s", args[0],
		    jerr.text, out);
	free(out);
	free(err);
	assert_int_equal(json_integer_value(json_object_get(j, "version")),
	    1);
	assert_true(json_is_boolean(json_object_get(j, "ok")));
	return j;
}

static json_int_t
jint(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v))
		fail_msg("\"%s\" is not an integer", key);
	return json_integer_value(v);
}

static const char *
jstr(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_string(v))
		fail_msg("\"%s\" is not a string", key);
	return json_string_value(v);
}

/* The entry of "devices" whose id is id, or NULL. */
static json_t *
dev_of(json_t *answer, const char *id)
{
	json_t *d;
	size_t i;

	json_array_foreach(json_object_get(answer, "devices"), i, d)
		if (strcmp(jstr(d, "id"), id) == 0)
			return d;
	return NULL;
}

/* True if the JSON array of strings a is exactly the ids given. */
static bool
ids_are(json_t *a, const char *const *ids)
{
	size_t i, n = 0;

	while (ids[n] != NULL)
		n++;
	if (json_array_size(a) != n)
		return false;
	for (i = 0; i < n; i++)
		if (!json_is_string(json_array_get(a, i)) ||
		    strcmp(json_string_value(json_array_get(a, i)), ids[i]) !=
		    0)
			return false;
	return true;
}

/* True if an entry of the answer's "errors" holds needle. */
static bool
errors_have(json_t *answer, const char *needle)
{
	json_t *e;
	size_t i;

	json_array_foreach(json_object_get(answer, "errors"), i, e)
		if (json_is_string(e) && strstr(json_string_value(e), needle) !=
		    NULL)
			return true;
	fprintf(stderr, "no error holds \"%s\"\n", needle);
	json_array_foreach(json_object_get(answer, "errors"), i, e)
		fprintf(stderr, "  %s\n", json_string_value(e));
	return false;
}

/* Reads one request's worth of entropy on v, failing if it does not come. */
static void
rng_req(struct vuf *v)
{
	uint8_t buf[READ_SIZE];
	ssize_t n;

	n = vuf_read_writable(v, 0, sizeof(buf), VUF_ONE, buf, WAIT_MS);
	if (n != (ssize_t)sizeof(buf))
		fail_msg("rng request: %zd (%s)", n, vuf_error(v));
}

/* Waits until device id's state is `state` (list --json). */
static void
wait_state(struct daemon *d, const char *id, const char *state)
{
	int64_t deadline = now_ms() + WAIT_MS;
	json_t *j, *dev;
	bool ok;

	for (;;) {
		j = ctl_json(d, 0, NULL, ARGS("list"));
		dev = dev_of(j, id);
		ok = dev != NULL && strcmp(jstr(dev, "state"), state) == 0;
		json_decref(j);
		if (ok)
			return;
		if (now_ms() > deadline)
			fail_msg("%s never became %s", id, state);
		sleep_ms(20);
	}
}

static bool
has(const char *text, const char *needle)
{
	if (strstr(text, needle) != NULL)
		return true;
	fprintf(stderr, "no \"%s\" in:\n%s\n", needle, text);
	return false;
}

/* Writes the configuration file again with this "devices" text. */
static void
write_cfg(struct daemon *d, const char *global, const char *devices)
{
	FILE *f;

	assert_non_null(f = fopen(d->cfg, "w"));
	fprintf(f, "{\n  \"runtime_dir\": \"%s\"%s,\n  \"devices\": [\n%s\n  ]"
	    "\n}\n", d->dir, global, devices);
	assert_int_equal(fclose(f), 0);
}

static void
stop(struct daemon *d)
{
	char sock[PATH_MAX];

	ctl_path(d, sock, sizeof(sock));
	daemon_stop(d);
	/* The control socket goes too. */
	assert_int_not_equal(access(sock, F_OK), 0);
}

/* ---- every command, both forms ---- */

/*
 * status, list, show and stats, as tables and as JSON, with one device
 * served (10 requests of 4096 bytes made) and one waiting.
 */
static void
test_status_list_show_stats(void **state)
{
	struct daemon *d = *state;
	json_t *j, *dev, *q, *v;
	struct vuf *vf;
	char *out, *err, chip[PATH_MAX], extra[PATH_MAX + 96];
	uint64_t features, sum;
	pid_t worker;
	size_t i;

	DAEMON_SKIP_IF_NONE(d);
	snprintf(chip, sizeof(chip), "%s/chip0", d->dir);
	snprintf(extra, sizeof(extra), ", \"backend\": \"sim\", \"chip\": "
	    "\"%s\", \"ngpio\": 4, \"lines\": [0, 1]", chip);
	daemon_add(d, "rng", "vm1-rng", "");
	daemon_add(d, "gpio", "vm2-gpio", extra);
	daemon_start(d);
	vf = daemon_open_dev(d->sock[0], QSIZE);
	for (i = 0; i < 10; i++)
		rng_req(vf);
	worker = daemon_worker_of(d, "vm1-rng");
	assert_true(worker > 0);

	/* status */
	j = ctl_json(d, 0, NULL, ARGS("status"));
	assert_true(json_is_true(json_object_get(j, "ok")));
	assert_int_equal(jint(j, "pid"), d->pid);
	assert_int_equal(jint(j, "devices"), 2);
	assert_int_equal(jint(j, "connected"), 1);
	assert_int_equal(jint(j, "workers"), 1);
	assert_true(jint(j, "uptime_s") >= 0);
	assert_string_equal(jstr(j, "vhostd"), PACKAGE_VERSION);
	assert_string_equal(jstr(j, "config"), d->cfg);
	assert_true(json_is_array(json_object_get(j, "poll_cores")));
	assert_non_null(jstr(j, "log_level"));
	json_decref(j);
	assert_int_equal(ctl_run(d, NULL, &out, NULL, ARGS("status")), 0);
	assert_true(has(out, "vhostd " PACKAGE_VERSION));
	assert_true(has(out, "2 (1 connected, 1 workers)"));
	free(out);

	/* list */
	j = ctl_json(d, 0, NULL, ARGS("list"));
	assert_int_equal(json_array_size(json_object_get(j, "devices")), 2);
	assert_non_null(dev = dev_of(j, "vm1-rng"));
	assert_string_equal(jstr(dev, "type"), "rng");
	assert_string_equal(jstr(dev, "socket"), d->sock[0]);
	assert_string_equal(jstr(dev, "state"), "running");
	v = json_object_get(dev, "frontend");
	assert_int_equal(jint(v, "pid"), getpid());
	assert_int_equal(jint(v, "uid"), getuid());
	assert_int_equal(jint(json_object_get(dev, "worker"), "pid"), worker);
	features = strtoull(jstr(dev, "features"), NULL, 16);
	assert_true(features & (UINT64_C(1) << 32));	/* VERSION_1 */
	assert_int_equal(jint(dev, "queues"), 1);
	assert_int_equal(json_array_size(json_object_get(dev,
	    "queues_enabled")), 1);
	assert_int_equal(json_integer_value(json_array_get(
	    json_object_get(dev, "queues_enabled"), 0)), 0);
	assert_non_null(dev = dev_of(j, "vm2-gpio"));
	assert_string_equal(jstr(dev, "state"), "waiting");
	assert_true(json_is_null(json_object_get(dev, "frontend")));
	assert_true(json_is_null(json_object_get(dev, "worker")));
	json_decref(j);
	assert_int_equal(ctl_run(d, NULL, &out, NULL, ARGS("list")), 0);
	assert_true(has(out, "ID "));
	assert_true(has(out, "vm1-rng"));
	assert_true(has(out, "running"));
	assert_true(has(out, "vm2-gpio"));
	assert_true(has(out, "waiting"));
	assert_true(has(out, " 0 of 1 "));
	assert_true(has(out, " none of 2 "));
	free(out);

	/* show: the device and its queue's counters */
	j = ctl_json(d, 0, NULL, ARGS("show", "vm1-rng"));
	dev = json_object_get(j, "device");
	assert_string_equal(jstr(dev, "id"), "vm1-rng");
	assert_int_equal(jint(dev, "counters_from_worker"), worker);
	q = json_array_get(json_object_get(dev, "queue_detail"), 0);
	assert_non_null(q);
	assert_int_equal(jint(q, "size"), QSIZE);
	assert_true(json_is_true(json_object_get(q, "enabled")));
	assert_int_equal(jint(q, "requests"), 10);
	assert_int_equal(jint(q, "bytes_to_guest"), 10 * READ_SIZE);
	assert_int_equal(jint(q, "bytes_from_guest"), 0);
	assert_int_equal(jint(q, "errors"), 0);
	sum = 0;
	json_array_foreach(json_object_get(q, "latency_hist"), i, v)
		sum += (uint64_t)json_integer_value(v);
	assert_int_equal(sum, 10);
	assert_int_equal(json_array_size(json_object_get(j,
	    "latency_bounds_us")), 23);
	json_decref(j);
	assert_int_equal(ctl_run(d, NULL, &out, NULL, ARGS("show",
	    "vm1-rng")), 0);
	assert_true(has(out, "pid "));
	assert_true(has(out, "queue 0 latency:"));
	assert_true(has(out, "41.0k"));		/* bytes to the guest */
	free(out);

	/* stats: every device, and one */
	j = ctl_json(d, 0, NULL, ARGS("stats"));
	assert_int_equal(json_array_size(json_object_get(j, "devices")), 2);
	dev = dev_of(j, "vm1-rng");
	assert_int_equal(jint(dev, "worker_pid"), worker);
	q = json_array_get(json_object_get(dev, "queues"), 0);
	assert_int_equal(jint(q, "requests"), 10);
	assert_int_equal(json_array_size(json_object_get(q, "latency_hist")),
	    24);
	dev = dev_of(j, "vm2-gpio");
	assert_true(json_is_null(json_object_get(dev, "worker_pid")));
	json_decref(j);
	rng_req(vf);
	j = ctl_json(d, 0, NULL, ARGS("stats", "vm1-rng"));
	assert_int_equal(json_array_size(json_object_get(j, "devices")), 1);
	q = json_array_get(json_object_get(dev_of(j, "vm1-rng"), "queues"), 0);
	assert_int_equal(jint(q, "requests"), 11);
	json_decref(j);
	assert_int_equal(ctl_run(d, NULL, &out, NULL, ARGS("stats")), 0);
	assert_true(has(out, "DEVICE"));
	assert_true(has(out, "vm1-rng          0"));
	assert_true(has(out, "vm1-rng queue 0 latency:"));
	free(out);

	/* Errors name what is wrong; exit statuses as documented. */
	assert_int_equal(ctl_run(d, NULL, NULL, &err, ARGS("show", "vm3")),
	    1);
	assert_true(has(err, "no device 'vm3'"));
	free(err);
	j = ctl_json(d, 1, NULL, ARGS("stats", "vm3"));
	assert_true(json_is_false(json_object_get(j, "ok")));
	assert_string_equal(jstr(j, "error"), "no device 'vm3'");
	json_decref(j);
	assert_int_equal(ctl_run(d, NULL, NULL, &err, ARGS("frobnicate")), 2);
	assert_true(has(err, "unknown command 'frobnicate'"));
	free(err);
	assert_int_equal(ctl_run(d, NULL, NULL, NULL, ARGS("show")), 2);
	assert_int_equal(ctl_run(d, NULL, NULL, NULL, ARGS("log-level")), 2);

	vuf_close(vf);
	stop(d);
	/* vhostd gone: exit status 3. */
	assert_int_equal(ctl_run(d, NULL, NULL, &err, ARGS("status")), 3);
	assert_true(has(err, "cannot reach vhostd"));
	free(err);
	unlink(chip);
}

/* top: frames of rates while requests are made, as JSON and as a table;
 * every device with a worker is counted, not only the first. */
static void
test_top(void **state)
{
	const char *const targs[] = { "--json", "top", "-n", "3", "-d", "0.5",
	    NULL };
	struct daemon *d = *state;
	char path[PATH_MAX], *out, *line, *save;
	json_t *f, *dev;
	struct vuf *vf, *v2;
	int fd, status, frames = 0;
	double best = 0;
	pid_t pid;

	DAEMON_SKIP_IF_NONE(d);
	daemon_add(d, "rng", "vm1-rng", "");
	daemon_add(d, "rng", "vm2-rng", "");
	daemon_add(d, "rng", "vm3-rng", "");
	daemon_start(d);
	vf = daemon_open_dev(d->sock[0], QSIZE);
	/* vm2-rng has a worker too, but makes no requests; vm3-rng has
	 * none. */
	v2 = daemon_open_dev(d->sock[1], QSIZE);
	rng_req(v2);
	fd = out_file(d, "top.out", path, sizeof(path));
	pid = ctl_spawn(d, &as_root, -1, fd, -1, targs);
	/* Requests all along the frames. */
	while (waitpid(pid, &status, WNOHANG) == 0)
		rng_req(vf);
	close(fd);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	out = read_file(path);
	for (line = strtok_r(out, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		assert_non_null(f = json_loads(line, 0, NULL));
		frames++;
		assert_non_null(dev = dev_of(f, "vm1-rng"));
		assert_string_equal(jstr(dev, "state"), "running");
		if (json_real_value(json_object_get(dev, "requests_per_s")) >
		    best)
			best = json_real_value(json_object_get(dev,
			    "requests_per_s"));
		assert_non_null(dev = dev_of(f, "vm2-rng"));
		assert_true(json_is_true(json_object_get(dev, "counted")));
		assert_true(json_real_value(json_object_get(dev,
		    "requests_per_s")) == 0);
		assert_non_null(dev = dev_of(f, "vm3-rng"));
		assert_true(json_is_false(json_object_get(dev, "counted")));
		json_decref(f);
	}
	free(out);
	assert_int_equal(frames, 3);
	assert_true(best > 1);

	assert_int_equal(ctl_run(d, NULL, &out, NULL, ARGS("top", "-n", "1",
	    "-d", "0.2")), 0);
	assert_true(has(out, "REQ/S"));
	assert_true(has(out, "vm1-rng"));
	free(out);
	assert_int_equal(ctl_run(d, NULL, NULL, NULL, ARGS("top", "-d",
	    "x")), 2);
	vuf_close(v2);
	vuf_close(vf);
	stop(d);
}

/* ---- reload ---- */

#define DEV_A	"    {\"id\": \"a\", \"type\": \"rng\", \"socket\": \"a.sock\"}"
#define DEV_B	"    {\"id\": \"b\", \"type\": \"rng\", \"socket\": \"b.sock\"}"
#define DEV_C	"    {\"id\": \"c\", \"type\": \"rng\", \"socket\": \"c.sock\"%s}"
#define DEV_D	"    {\"id\": \"d\", \"type\": \"rng\", \"socket\": \"d.sock\"}"

/* The pid of a front-end's worker, and that it serves. */
static pid_t
worker_serving(struct daemon *d, struct vuf *v, const char *id)
{
	pid_t w;

	/* Served: its worker has started. */
	rng_req(v);
	w = daemon_worker_of(d, id);
	assert_true(w > 0);
	return w;
}

/*
 * A reload that adds d, removes b, changes c and leaves a alone, run by
 * vhostctl while a's front-end makes requests all along: a keeps its
 * worker, its connection and its counters; b's front-end is cut off and
 * its socket removed; c gets a new worker on a new connection; d serves.
 */
static void
test_reload(void **state)
{
	const char *const rargs[] = { "--json", "reload", NULL };
	struct daemon *d = *state;
	struct vuf *va, *vb, *vc;
	char devs[2048], c2[256], path[PATH_MAX], sock[PATH_MAX], *out;
	pid_t wa, wc, pid;
	json_t *j, *dev, *q;
	int fd, status, during = 0;

	DAEMON_SKIP_IF_NONE(d);
	daemon_add(d, "rng", "a", "");
	daemon_add(d, "rng", "b", "");
	daemon_add(d, "rng", "c", "");
	daemon_start(d);
	va = daemon_open_dev(d->sock[0], QSIZE);
	vb = daemon_open_dev(d->sock[1], QSIZE);
	vc = daemon_open_dev(d->sock[2], QSIZE);
	wa = worker_serving(d, va, "a");
	(void)worker_serving(d, vb, "b");
	wc = worker_serving(d, vc, "c");

	snprintf(c2, sizeof(c2), DEV_C, ", \"max_bytes\": 100000000");
	snprintf(devs, sizeof(devs), "%s,\n%s,\n%s", DEV_A, c2, DEV_D);
	write_cfg(d, "", devs);
	fd = out_file(d, "reload.out", path, sizeof(path));
	pid = ctl_spawn(d, &as_root, -1, fd, -1, rargs);
	while (waitpid(pid, &status, WNOHANG) == 0) {
		rng_req(va);
		during++;
	}
	close(fd);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	out = read_file(path);
	assert_non_null(j = json_loads(out, JSON_DISABLE_EOF_CHECK, NULL));
	free(out);
	assert_true(json_is_true(json_object_get(j, "ok")));
	assert_true(ids_are(json_object_get(j, "added"), ARGS("d")));
	assert_true(ids_are(json_object_get(j, "removed"), ARGS("b")));
	assert_true(ids_are(json_object_get(j, "changed"), ARGS("c")));
	assert_true(ids_are(json_object_get(j, "unchanged"), ARGS("a")));
	assert_int_equal(json_array_size(json_object_get(j, "failed")), 0);
	assert_int_equal(json_array_size(json_object_get(j,
	    "restart_needed")), 0);
	json_decref(j);

	/* a: the same worker, the same connection, still serving; its
	 * counters went on. */
	assert_int_equal(daemon_worker_of(d, "a"), wa);
	rng_req(va);
	j = ctl_json(d, 0, NULL, ARGS("stats", "a"));
	q = json_array_get(json_object_get(dev_of(j, "a"), "queues"), 0);
	assert_int_equal(jint(q, "requests"), 2 + during);
	json_decref(j);
	/* b: gone, its front-end cut off, its socket removed. */
	assert_int_equal(vuf_wait_closed(vb, WAIT_MS), 1);
	assert_int_not_equal(access(d->sock[1], F_OK), 0);
	/* c: its old connection closed; a new one gets a new worker. */
	assert_int_equal(vuf_wait_closed(vc, WAIT_MS), 1);
	vuf_close(vc);
	vc = daemon_open_dev(d->sock[2], QSIZE);
	assert_int_not_equal(worker_serving(d, vc, "c"), wc);
	/* d serves. */
	snprintf(sock, sizeof(sock), "%s/d.sock", d->dir);
	vuf_close(vb);
	vb = daemon_open_dev(sock, QSIZE);
	rng_req(vb);
	j = ctl_json(d, 0, NULL, ARGS("list"));
	assert_int_equal(json_array_size(json_object_get(j, "devices")), 3);
	assert_null(dev_of(j, "b"));
	assert_non_null(dev = dev_of(j, "d"));
	assert_string_equal(jstr(dev, "state"), "running");
	json_decref(j);

	/* A file that is not valid changes nothing; its errors come back
	 * with file, line, column and path, and are logged. */
	snprintf(devs, sizeof(devs), "%s,\n%s,\n    {\"id\": \"e\", \"type\": "
	    "\"rng\", \"socket\": \"a.sock\"}", DEV_A, DEV_D);
	write_cfg(d, "", devs);
	j = ctl_json(d, 1, NULL, ARGS("reload"));
	assert_true(json_is_false(json_object_get(j, "ok")));
	q = json_array_get(json_object_get(j, "errors"), 0);
	assert_non_null(q);
	assert_true(has(json_string_value(q), "vhostd.json:6:"));
	assert_true(has(json_string_value(q), "devices[2].socket: duplicate "
	    "socket path"));
	json_decref(j);
	assert_true(daemon_log_has(d, WAIT_MS, "reload: the configuration is "
	    "not valid; nothing changed", NULL));
	assert_int_equal(ctl_run(d, NULL, NULL, &out, ARGS("reload")), 1);
	assert_true(has(out, "duplicate socket path"));
	free(out);
	j = ctl_json(d, 0, NULL, ARGS("list"));
	assert_int_equal(json_array_size(json_object_get(j, "devices")), 3);
	json_decref(j);
	rng_req(vb);

	/* SIGHUP: d goes; the log level applies at once; a new user needs
	 * a restart, said in the log.  a is still the same. */
	snprintf(devs, sizeof(devs), "%s,\n%s", DEV_A, c2);
	write_cfg(d, ", \"log_level\": \"info\", \"user\": \"nobody\"", devs);
	assert_int_equal(kill(d->pid, SIGHUP), 0);
	assert_true(daemon_log_has(d, WAIT_MS, "reload: 0 devices added, 1 "
	    "removed, 0 changed, 2 unchanged, 0 failed", NULL));
	assert_true(daemon_log_has(d, WAIT_MS, "reload: a restart of vhostd "
	    "is needed to apply user, group", NULL));
	assert_int_equal(vuf_wait_closed(vb, WAIT_MS), 1);
	j = ctl_json(d, 0, NULL, ARGS("status"));
	assert_string_equal(jstr(j, "log_level"), "info");
	assert_int_equal(jint(j, "reloads"), 2);
	json_decref(j);
	/* The table form says the same. */
	j = NULL;
	assert_int_equal(ctl_run(d, NULL, &out, NULL, ARGS("reload")), 0);
	assert_true(has(out, "unchanged  2"));
	assert_true(has(out, "needs a restart of vhostd: user, group"));
	free(out);
	assert_int_equal(daemon_worker_of(d, "a"), wa);
	rng_req(va);

	vuf_close(va);
	vuf_close(vb);
	vuf_close(vc);
	stop(d);
}

/*
 * A reload of a file much larger than the one vhostd started with, under
 * main's seccomp filter: glibc's qsort asks sysconf(_SC_PHYS_PAGES),
 * sysinfo(2), the first time it sorts 1024 bytes or more, which the
 * position index of a file of 43 values or more is (src/cfg.c).  Main
 * was killed by its filter until main.policy allowed it (found by
 * tests/e2e/reload.sh).  The 16 devices are added and main goes on.
 */
static void
test_reload_large_file(void **state)
{
	struct daemon *d = *state;
	char devs[8192];
	size_t len = 0, i;
	json_t *j;

	DAEMON_SKIP_IF_NONE(d);
	daemon_add(d, "rng", "a", "");
	daemon_start(d);
	len += snprintf(devs + len, sizeof(devs) - len, "%s", DEV_A);
	for (i = 0; i < 16; i++)
		len += snprintf(devs + len, sizeof(devs) - len, ",\n    {\"id\": "
		    "\"big%zu\", \"type\": \"rng\", \"socket\": \"big%zu.sock\", "
		    "\"max_bytes\": 4096, \"period_ms\": 1000}", i, i);
	assert_true(len < sizeof(devs));
	write_cfg(d, "", devs);
	j = ctl_json(d, 0, NULL, ARGS("reload"));
	assert_true(json_is_true(json_object_get(j, "ok")));
	assert_int_equal(json_array_size(json_object_get(j, "added")), 16);
	assert_true(ids_are(json_object_get(j, "unchanged"), ARGS("a")));
	json_decref(j);
	j = ctl_json(d, 0, NULL, ARGS("list"));
	assert_int_equal(json_array_size(json_object_get(j, "devices")), 17);
	json_decref(j);
	stop(d);
}

/* ---- add, remove, restart, log-level ---- */

/*
 * add from stdin and from files, each device type that needs no hardware
 * (so that main's filter is tried on what each type's set-up does after
 * the lockdown); remove refused while in use, then forced; restart.
 */
static void
test_add_remove_restart(void **state)
{
	struct daemon *d = *state;
	char dev[1024], file[PATH_MAX], sock[PATH_MAX], chip[PATH_MAX + 96];
	char *out, *err;
	struct vuf *v;
	pid_t w1, w2;
	json_t *j;
	FILE *f;

	DAEMON_SKIP_IF_NONE(d);
	daemon_add(d, "rng", "vm1-rng", "");
	daemon_start(d);

	/* From stdin, as a table. */
	assert_int_equal(ctl_run(d, "{\"id\": \"vm2-rng\", \"type\": \"rng\", "
	    "\"socket\": \"vm2.sock\"}", &out, NULL, ARGS("add")), 0);
	assert_true(has(out, "added      1 (vm2-rng)"));
	free(out);
	snprintf(sock, sizeof(sock), "%s/vm2.sock", d->dir);
	v = daemon_open_dev(sock, QSIZE);
	rng_req(v);
	wait_state(d, "vm2-rng", "running");

	/* Every other type, from files, as JSON.  A gpio sim chip must
	 * exist: main, locked down, creates no file. */
	snprintf(file, sizeof(file), "%s/dev.json", d->dir);
	snprintf(dev, sizeof(dev), "{\"id\": \"g\", \"type\": \"gpio\", "
	    "\"socket\": \"g.sock\", \"backend\": \"sim\", \"chip\": "
	    "\"%s/chip\", \"ngpio\": 8, \"lines\": [1, 2]}", d->dir);
	assert_non_null(f = fopen(file, "w"));
	fputs(dev, f);
	fclose(f);
	assert_int_equal(ctl_run(d, NULL, NULL, &err, ARGS("add", file)), 1);
	snprintf(chip, sizeof(chip), "g: sim chip %s/chip does not exist: a "
	    "sim device set up after vhostd started", d->dir);
	assert_true(has(err, chip));
	free(err);
	snprintf(chip, sizeof(chip), "%s/chip", d->dir);
	assert_int_not_equal(access(chip, F_OK), 0);
	assert_non_null(f = fopen(chip, "w"));
	fputs("00000000\n--------\n", f);
	fclose(f);
	/* vhostd's user (nobody, for vhostd started by root with no "user")
	 * opens it read-write.  The device that failed was not kept: it is
	 * added again. */
	if (getuid() == 0)
		assert_int_equal(chown(chip, getpwnam("nobody")->pw_uid,
		    getpwnam("nobody")->pw_gid), 0);
	j = ctl_json(d, 0, NULL, ARGS("add", file));
	assert_true(ids_are(json_object_get(j, "added"), ARGS("g")));
	assert_true(ids_are(json_object_get(j, "unchanged"),
	    ARGS("vm1-rng", "vm2-rng")));
	json_decref(j);
	j = ctl_json(d, 0, "{\"id\": \"i\", \"type\": \"i2c\", \"socket\": "
	    "\"i.sock\", \"backend\": \"sim\", \"bus\": \"b1\", \"addresses\": "
	    "[80], \"parts\": [{\"type\": \"24c02\", \"address\": 80}]}",
	    ARGS("add", "-"));
	assert_true(ids_are(json_object_get(j, "added"), ARGS("i")));
	json_decref(j);
	snprintf(dev, sizeof(dev), "{\"id\": \"s\", \"type\": \"vsock\", "
	    "\"socket\": \"s.sock\", \"guest_cid\": 3, \"uds_path\": "
	    "\"%s/s.vsock\"}", d->dir);
	j = ctl_json(d, 0, dev, ARGS("add"));
	assert_true(ids_are(json_object_get(j, "added"), ARGS("s")));
	json_decref(j);
	j = ctl_json(d, 0, NULL, ARGS("status"));
	assert_int_equal(jint(j, "devices"), 5);
	json_decref(j);

	/* Checked as the file is: the same parser, the same cross-device
	 * checks, errors placed in the text given. */
	snprintf(dev, sizeof(dev), "{\"id\": \"g2\", \"type\": \"gpio\",\n"
	    " \"socket\": \"g2.sock\", \"backend\": \"sim\", \"chip\": "
	    "\"%s/chip\", \"ngpio\": 8,\n \"lines\": [3, 2]}", d->dir);
	assert_int_equal(ctl_run(d, dev, NULL, &err, ARGS("add")), 1);
	assert_true(has(err, "the device is not valid; nothing changed"));
	assert_true(has(err, "<stdin>:3:15: devices[5].lines[1]: line 2 of "
	    "gpio sim chip"));
	assert_true(has(err, "is already given to g (devices[2])"));
	free(err);
	j = ctl_json(d, 1, "{\"id\": \"vm1-rng\", \"type\": \"rng\", "
	    "\"socket\": \"x.sock\", \"colour\": 1}", ARGS("add"));
	assert_true(errors_have(j, "<stdin>:1:8: devices[5].id: duplicate id "
	    "\"vm1-rng\" (also used by devices[0])"));
	assert_true(errors_have(j, "<stdin>:1:54: devices[5]: unknown key "
	    "\"colour\""));
	json_decref(j);
	j = ctl_json(d, 1, "[1]", ARGS("add"));
	assert_true(has(jstr(j, "error"), "not valid"));
	json_decref(j);

	/* restart: a new worker, and the front-end goes on. */
	w1 = daemon_worker_of(d, "vm2-rng");
	j = ctl_json(d, 0, NULL, ARGS("restart", "vm2-rng"));
	w2 = (pid_t)jint(j, "worker");
	json_decref(j);
	assert_int_not_equal(w1, w2);
	rng_req(v);
	assert_int_equal(daemon_worker_of(d, "vm2-rng"), w2);
	assert_true(daemon_log_has(d, WAIT_MS, "vm2-rng: restarting its "
	    "worker (vhostctl restart)", NULL));
	assert_int_equal(ctl_run(d, NULL, NULL, &err, ARGS("restart",
	    "vm1-rng")), 1);
	assert_true(has(err, "device 'vm1-rng' has no worker"));
	free(err);

	/* remove: refused while a front-end is connected... */
	assert_int_equal(ctl_run(d, NULL, NULL, &err, ARGS("remove",
	    "vm2-rng")), 1);
	assert_true(has(err, "device 'vm2-rng' is in use by front-end pid"));
	free(err);
	rng_req(v);
	/* ...unless forced. */
	assert_int_equal(ctl_run(d, NULL, &out, NULL, ARGS("remove",
	    "--force", "vm2-rng")), 0);
	assert_true(has(out, "removed vm2-rng"));
	free(out);
	assert_int_equal(vuf_wait_closed(v, WAIT_MS), 1);
	vuf_close(v);
	assert_int_not_equal(access(sock, F_OK), 0);
	j = ctl_json(d, 0, NULL, ARGS("remove", "g"));
	assert_string_equal(jstr(j, "removed"), "g");
	json_decref(j);
	assert_int_equal(ctl_run(d, NULL, NULL, &err, ARGS("remove", "g")),
	    1);
	assert_true(has(err, "no device 'g'"));
	free(err);
	/* A removed device may be added again. */
	snprintf(dev, sizeof(dev), "{\"id\": \"g\", \"type\": \"gpio\", "
	    "\"socket\": \"g.sock\", \"backend\": \"sim\", \"chip\": "
	    "\"%s/chip\", \"ngpio\": 8, \"lines\": [1, 2]}", d->dir);
	j = ctl_json(d, 0, dev, ARGS("add"));
	assert_true(ids_are(json_object_get(j, "added"), ARGS("g")));
	json_decref(j);

	/* log-level */
	j = ctl_json(d, 0, NULL, ARGS("status"));
	snprintf(dev, sizeof(dev), "%s", jstr(j, "log_level"));
	json_decref(j);
	j = ctl_json(d, 0, NULL, ARGS("log-level", "debug"));
	assert_string_equal(jstr(j, "level"), "debug");
	assert_string_equal(jstr(j, "was"), dev);
	json_decref(j);
	assert_int_equal(ctl_run(d, NULL, &out, NULL, ARGS("log-level",
	    "warning")), 0);
	assert_true(has(out, "log level warning (was debug)"));
	free(out);
	assert_int_equal(ctl_run(d, NULL, NULL, &err, ARGS("log-level",
	    "loud")), 1);
	assert_true(has(err, "unknown log level 'loud'"));
	free(err);
	stop(d);
	snprintf(file, sizeof(file), "%s/chip", d->dir);
	unlink(file);
	snprintf(file, sizeof(file), "%s/dev.json", d->dir);
	unlink(file);
}

/* ---- vhostctl's own errors ---- */

/*
 * A request too long to send, a socket whose permissions keep the caller
 * out, an add file with a NUL byte, and an answer cut short: each said
 * plainly, with the exit status vhostctl(8) gives.
 */
static void
test_vhostctl_errors(void **state)
{
	struct daemon *d = *state;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char *out, *err, *id, path[PATH_MAX], opath[PATH_MAX], epath[PATH_MAX];
	const struct as other = { true, 4444, 4444, (gid_t)-1, false };
	static const char nul[] = "{\"id\": \"n1\", \"type\": \"rng\", "
	    "\"socket\": \"n1.sock\"}\0{\"junk\"";
	int lfd, cfd, ofd, efd, status;
	char buf[4096];
	pid_t pid;
	FILE *f;

	DAEMON_SKIP_IF_NONE(d);
	daemon_add(d, "rng", "vm1-rng", "");
	daemon_start(d);

	/* Too long: nothing is sent; not "unreachable". */
	assert_non_null(id = malloc(70001));
	memset(id, 'x', 70000);
	id[70000] = '\0';
	assert_int_equal(ctl_run(d, NULL, NULL, &err, ARGS("show", id)), 1);
	assert_true(has(err, "more than the 65536 vhostd takes"));
	free(err);
	free(id);

	/* The socket file's permissions: vhostd's user's 0600 socket, for
	 * someone else. */
	if (getuid() == 0) {
		assert_int_equal(ctl_run_as(d, &other, NULL, NULL, &err,
		    ARGS("status")), 1);
		assert_true(has(err, "permission denied"));
		free(err);
	}

	/* A NUL byte in an add file: refused, not cut there. */
	snprintf(path, sizeof(path), "%s/nul.json", d->dir);
	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(fwrite(nul, 1, sizeof(nul) - 1, f), sizeof(nul) - 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(ctl_run(d, NULL, NULL, &err, ARGS("add", path)), 1);
	assert_true(has(err, "has a NUL byte at offset 48"));
	free(err);
	unlink(path);
	out = NULL;
	assert_int_equal(ctl_run(d, NULL, &out, NULL, ARGS("list")), 0);
	assert_null(strstr(out, "n1"));
	free(out);
	stop(d);

	/* An answer cut short, from a "vhostd" of ours: for a reload, the
	 * change may have been made. */
	snprintf(path, sizeof(path), "%s/fake.sock", d->dir);
	memcpy(sun.sun_path, path, strlen(path) + 1);
	assert_true((lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) >=
	    0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	ofd = out_file(d, "cut.out", opath, sizeof(opath));
	efd = out_file(d, "cut.err", epath, sizeof(epath));
	pid = ctl_spawn(d, &as_root, -1, ofd, efd, ARGS("-s", path,
	    "reload"));
	assert_true((cfd = accept(lfd, NULL, NULL)) >= 0);
	assert_true(read(cfd, buf, sizeof(buf)) > 0);
	assert_int_equal(write(cfd, "{\"version\":1,\"ok\":", 18), 18);
	close(cfd);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	close(ofd);
	close(efd);
	close(lfd);
	unlink(path);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 3);
	err = read_file(epath);
	assert_true(has(err, "in the middle of its answer, after 18 bytes"));
	assert_true(has(err, "the reload may or may not have been done"));
	free(err);
	unlink(opath);
	unlink(epath);
}

/* ---- who may ---- */

/*
 * A peer that is not root is refused, with a log line naming it; with an
 * admin_group, a member of it (a supplementary group) is let in and a
 * non-member is not.
 */
static void
test_unauthorized(void **state)
{
	struct daemon *d = *state;
	struct passwd *pw = NULL;
	struct as nobody;
	char *out, *err, uid[32];

	DAEMON_SKIP_IF_NONE(d);
	if (getuid() != 0 || (pw = getpwnam("nobody")) == NULL) {
		print_message("needs root and a user \"nobody\": skipped\n");
		skip();
		return;
	}
	nobody = (struct as){ true, pw->pw_uid, pw->pw_gid, (gid_t)-1, false };
	daemon_add(d, "rng", "vm1-rng", "");
	daemon_start(d);
	/* The socket is nobody's (vhostd runs as nobody): only the
	 * credentials check keeps nobody out. */
	assert_int_equal(ctl_run_as(d, &nobody, NULL, &out, &err,
	    ARGS("list")), 1);
	assert_true(has(err, "permission denied: uid "));
	assert_true(out[0] == '\0');
	free(out);
	free(err);
	snprintf(uid, sizeof(uid), "uid %u", (unsigned)pw->pw_uid);
	assert_true(daemon_log_has(d, WAIT_MS, "control: refusing pid", uid,
	    "not root", NULL));
	stop(d);

	/* With an admin group. */
	snprintf(d->global, sizeof(d->global), ", \"control_socket\": "
	    "{\"admin_group\": %d}", ADMIN_GID);
	daemon_start(d);
	nobody.group = ADMIN_GID;
	assert_int_equal(ctl_run_as(d, &nobody, NULL, &out, NULL,
	    ARGS("list")), 0);
	assert_true(has(out, "vm1-rng"));
	free(out);
	/* A member of more groups than a first guess at their number. */
	nobody.many = true;
	assert_int_equal(ctl_run_as(d, &nobody, NULL, &out, NULL,
	    ARGS("list")), 0);
	assert_true(has(out, "vm1-rng"));
	free(out);
	nobody.group = (gid_t)-1;
	assert_int_equal(ctl_run_as(d, &nobody, NULL, NULL, &err,
	    ARGS("list")), 1);
	assert_true(has(err, "not root and not in the admin group 4242"));
	free(err);
	nobody.many = false;
	assert_int_equal(ctl_run_as(d, &nobody, NULL, NULL, &err,
	    ARGS("list")), 1);
	assert_true(has(err, "not root and not in the admin group 4242"));
	free(err);
	assert_true(daemon_log_has(d, WAIT_MS, "not in the admin group 4242",
	    NULL));
	stop(d);
}

/*
 * A reload compares the control socket's file as it comes out: the
 * admin group given as "group" too is no change, another admin group lets
 * its members in at once but needs a restart for the file's group.
 */
static void
test_admin_group_reload(void **state)
{
	struct daemon *d = *state;
	char sock[PATH_MAX];
	struct passwd *pw = NULL;
	struct stat st;
	struct as nobody;
	json_t *j;

	DAEMON_SKIP_IF_NONE(d);
	if (getuid() != 0 || (pw = getpwnam("nobody")) == NULL) {
		print_message("needs root and a user \"nobody\": skipped\n");
		skip();
		return;
	}
	nobody = (struct as){ true, pw->pw_uid, pw->pw_gid, ADMIN_GID, false };
	snprintf(d->global, sizeof(d->global), ", \"control_socket\": "
	    "{\"admin_group\": %d}", ADMIN_GID);
	daemon_add(d, "rng", "a", "");
	daemon_start(d);
	assert_int_equal(ctl_run_as(d, &nobody, NULL, NULL, NULL,
	    ARGS("list")), 0);

	/* The file would be the same. */
	write_cfg(d, ", \"control_socket\": {\"admin_group\": 4242, "
	    "\"group\": 4242, \"mode\": \"0660\"}", DEV_A);
	j = ctl_json(d, 0, NULL, ARGS("reload"));
	assert_int_equal(json_array_size(json_object_get(j,
	    "restart_needed")), 0);
	assert_int_equal(json_array_size(json_object_get(j, "applied")), 0);
	json_decref(j);

	/* Another admin group. */
	write_cfg(d, ", \"control_socket\": {\"admin_group\": 4343}", DEV_A);
	j = ctl_json(d, 0, NULL, ARGS("reload"));
	assert_true(ids_are(json_object_get(j, "applied"),
	    ARGS("control_socket.admin_group")));
	assert_int_equal(json_array_size(json_object_get(j,
	    "restart_needed")), 1);
	assert_true(has(json_string_value(json_array_get(json_object_get(j,
	    "restart_needed"), 0)), "control_socket: "));
	json_decref(j);
	ctl_path(d, sock, sizeof(sock));
	assert_int_equal(stat(sock, &st), 0);
	assert_int_equal(st.st_gid, ADMIN_GID);
	/* Said again at the next reload: the file still has the old group. */
	j = ctl_json(d, 0, NULL, ARGS("reload"));
	assert_int_equal(json_array_size(json_object_get(j,
	    "restart_needed")), 1);
	assert_int_equal(json_array_size(json_object_get(j, "applied")), 0);
	json_decref(j);
	/* The check is the new group's (the file is nobody's: vhostd runs
	 * as nobody, so the permissions let nobody in either way). */
	nobody.group = 4343;
	assert_int_equal(ctl_run_as(d, &nobody, NULL, NULL, NULL,
	    ARGS("list")), 0);
	nobody.group = ADMIN_GID;
	assert_int_equal(ctl_run_as(d, &nobody, NULL, NULL, NULL,
	    ARGS("list")), 1);
	stop(d);
}

/* ---- hostile control clients ---- */

static int
raw_connect(struct daemon *d)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	ctl_path(d, sun.sun_path, sizeof(sun.sun_path));
	assert_true((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) >=
	    0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)),
	    0);
	return fd;
}

static void
raw_send(int fd, const char *text, size_t len)
{
	assert_int_equal(send(fd, text, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* One answer line on fd, parsed; NULL if the connection ended first.
 * Read a byte at a time, so that the next answer stays in the socket. */
static json_t *
raw_answer(int fd, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	static char buf[1 << 20];
	size_t len = 0;

	for (;;) {
		if (poll(&pfd, 1, timeout_ms) != 1)
			fail_msg("no answer within %d ms", timeout_ms);
		if (read(fd, buf + len, 1) != 1)
			return NULL;
		if (buf[len] == '\n') {
			buf[len] = '\0';
			return json_loads(buf, 0, NULL);
		}
		if (++len == sizeof(buf))
			fail_msg("answer too long");
	}
}

#define A31	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define A63	A31 A31 "a"

/* Sends line and expects an error answer whose text holds `want`. */
static void
expect_error(int fd, const char *line, const char *want)
{
	json_t *j;

	raw_send(fd, line, strlen(line));
	assert_non_null(j = raw_answer(fd, WAIT_MS));
	assert_true(json_is_false(json_object_get(j, "ok")));
	assert_int_equal(jint(j, "version"), 1);
	assert_true(has(jstr(j, "error"), want));
	json_decref(j);
}

/* Sends line and expects an answer with "ok": true. */
static void
expect_ok(int fd, const char *line)
{
	json_t *j;

	raw_send(fd, line, strlen(line));
	assert_non_null(j = raw_answer(fd, WAIT_MS));
	if (!json_is_true(json_object_get(j, "ok")))
		fail_msg("%s: not ok: %s", line, json_string_value(
		    json_object_get(j, "error")));
	json_decref(j);
}

/* 1 if fd reaches its end (the peer closed it) within timeout_ms. */
static int
raw_closed(int fd, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char buf[4096];
	int64_t deadline = now_ms() + timeout_ms;
	ssize_t n;

	while (now_ms() < deadline) {
		if (poll(&pfd, 1, 50) != 1)
			continue;
		n = read(fd, buf, sizeof(buf));
		if (n == 0 || (n == -1 && errno == ECONNRESET))
			return 1;
	}
	return 0;
}

/*
 * Sends status requests on fd and reads nothing, until main stops taking
 * them (nothing more goes for 500 ms: it holds back a peer that does not
 * read its answers) or 10 s passed.  Returns the requests sent.
 */
static int
flood(int fd)
{
	static const char req[] = "{\"version\": 1, \"cmd\": \"status\"}\n";
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	int64_t end = now_ms() + 10000;
	size_t off = 0;
	ssize_t n;
	int sent = 0;

	assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	while (now_ms() < end) {
		n = send(fd, req + off, sizeof(req) - 1 - off, MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
			if (off == sizeof(req) - 1) {
				off = 0;
				sent++;
			}
			continue;
		}
		assert_true(n == -1 && errno == EAGAIN);
		if (poll(&pfd, 1, 500) == 0) {
			assert_int_equal(fcntl(fd, F_SETFL, 0), 0);
			return sent;
		}
	}
	fail_msg("main took %d requests in 10 s whose answers were not read",
	    sent);
	return -1;
}

/* main answers status and serves its front-end. */
static void
still_serving(struct daemon *d, struct vuf *v)
{
	json_t *j = ctl_json(d, 0, NULL, ARGS("status"));

	assert_int_equal(jint(j, "connected"), 1);
	json_decref(j);
	rng_req(v);
}

/*
 * Bad JSON, a non-object, no or a wrong version, an unknown command, bad
 * arguments: each answered with an error naming it, on a connection that
 * goes on.  Several requests in one write are answered in order.
 */
static void
test_malformed(void **state)
{
	struct daemon *d = *state;
	const char *big;
	struct vuf *v;
	json_t *j;
	int fd;

	DAEMON_SKIP_IF_NONE(d);
	daemon_add(d, "rng", "vm1-rng", "");
	daemon_start(d);
	v = daemon_open_dev(d->sock[0], QSIZE);
	fd = raw_connect(d);
	expect_error(fd, "{nope\n", "bad request:");
	expect_error(fd, "[1, 2]\n", "bad request: not a JSON object");
	expect_error(fd, "{\"cmd\": \"list\"}\n", "bad request: no "
	    "\"version\"");
	expect_error(fd, "{\"version\": 2, \"cmd\": \"list\"}\n",
	    "unsupported protocol version 2 (this vhostd speaks version 1)");
	expect_error(fd, "{\"version\": 1}\n", "bad request: no \"cmd\"");
	expect_error(fd, "{\"version\": 1, \"cmd\": \"frobnicate\"}\n",
	    "unknown command 'frobnicate'");
	expect_error(fd, "{\"version\": 1, \"cmd\": \"show\", \"id\": 7}\n",
	    "bad request: \"id\" must be a non-empty string");
	expect_error(fd, "{\"version\": 1, \"cmd\": \"remove\", \"id\": "
	    "\"vm1-rng\", \"force\": \"yes\"}\n", "\"force\" must be true or "
	    "false");
	expect_error(fd, "{\"version\": 1, \"cmd\": \"add\", \"device\": {}}\n",
	    "\"device\" must be the text of a device object");
	expect_error(fd, "{\"version\": 1, \"version\": 1, \"cmd\": "
	    "\"list\"}\n", "duplicate object key");
	/* Strings of the client's echoed in an error: a multibyte character
	 * where a cut by bytes once split it (the answer was lost), control
	 * characters.  They come back escaped, the answer whole. */
	expect_error(fd, "{\"version\": 1, \"cmd\": \"" A63 "\xc3\xa9\"}\n",
	    "unknown command '" A63 "\\xc3\\xa9'");
	expect_error(fd, "{\"version\": 1, \"cmd\": \"show\", \"id\": \"" A63
	    "\xc3\xa9\"}\n", "no device '" A63);
	expect_error(fd, "{\"version\": 1, \"cmd\": \"remove\", \"id\": \""
	    A63 "\xc3\xa9\"}\n", "no device '" A63);
	expect_error(fd, "{\"version\": 1, \"cmd\": \"log-level\", "
	    "\"level\": \"" A31 "\xc3\xa9\"}\n", "unknown log level '" A31
	    "\\xc3\\xa9'");
	expect_error(fd, "{\"version\": 1, \"cmd\": \"a\\u0001\\nb\"}\n",
	    "unknown command 'a\\x01\\x0ab'");
	/* And in the log: one line, escaped and cut. */
	expect_error(fd, "{\"version\": 1, \"cmd\": \"remove\", \"id\": "
	    "\"x\\nNOTICE: forged\"}\n", "no device 'x\\x0aNOTICE: forged'");
	assert_true(daemon_log_has(d, WAIT_MS, ": remove x\\x0aNOTICE: "
	    "forged", NULL));
	big = "{\"version\": 1, \"cmd\": \"add\", \"device\": \"[]\", "
	    "\"name\": \"" A63 A63 A63 "\"}\n";
	expect_error(fd, big, "not valid");
	assert_true(daemon_log_has(d, WAIT_MS, ": add from " A63, "...",
	    NULL));
	assert_false(daemon_log_has(d, 0, A63 A63, NULL));
	/* Two in one write, then a valid one: answered in order. */
	big = "{\"version\": 1, \"cmd\": \"status\"}\n{\"version\": 1, "
	    "\"cmd\": \"stats\"}\n";
	raw_send(fd, big, strlen(big));
	assert_non_null(j = raw_answer(fd, WAIT_MS));
	assert_true(json_is_integer(json_object_get(j, "pid")));
	json_decref(j);
	assert_non_null(j = raw_answer(fd, WAIT_MS));
	assert_true(json_is_array(json_object_get(j, "devices")));
	assert_non_null(json_object_get(j, "latency_bounds_us"));
	json_decref(j);
	close(fd);
	still_serving(d, v);
	vuf_close(v);
	stop(d);
}

/* The control protocol's words and JSON's, for test_garbage's requests:
 * no device id and no log level, so that no request it makes can change
 * what main serves (a valid reload reads the same file again). */
static const char *const garbage_words[] = {
	"{", "}", "[", "]", "\"", ":", ",", "\\", "\\u0000", "\\ud800",
	"\\u00e9", "\xff", "\xc3", "\x01", "\n", " ", "\"version\"",
	"1", "2", "-1", "0.5", "1e999", "18446744073709551616", "\"cmd\"",
	"\"status\"", "\"list\"", "\"show\"", "\"stats\"", "\"top\"",
	"\"add\"", "\"remove\"", "\"reload\"", "\"restart\"",
	"\"log-level\"", "\"id\"", "\"device\"", "\"name\"",
	"\"force\"", "\"level\"", "true", "false", "null", "\"\"",
	"\"x\"", "{\"version\": 1, \"cmd\": ",
};

/* xorshift64: the same requests on every run. */
static uint64_t
garbage_next(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/*
 * 400 connections, each sending one burst of garbage and closing its
 * sending side: soups of protocol and JSON words, random bytes (some
 * lines longer than 64 KiB), arrays nested up to 60000 deep.  Every answer
 * must be a JSON object with "version": 1 and a boolean "ok", and main
 * must close each connection once it has answered; meanwhile and after,
 * main serves a front-end and a vhostctl, and holds no more fds than
 * before.
 */
static void
test_garbage(void **state)
{
	struct daemon *d = *state;
	static char req[70000], ans[1 << 20];
	char *line, *nl;
	struct pollfd pfd;
	size_t got;
	ssize_t r;
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	size_t len, n, k, w;
	struct vuf *v;
	json_t *j;
	int fd, i, before, after, answers = 0;

	DAEMON_SKIP_IF_NONE(d);
	daemon_add(d, "rng", "vm1-rng", "");
	daemon_start(d);
	v = daemon_open_dev(d->sock[0], QSIZE);
	assert_int_not_equal(before = proc_count_fds(d->pid, false), -1);
	for (i = 0; i < 400; i++) {
		switch (garbage_next(&x) % 10) {
		case 0:		/* deep */
			len = 1000 + garbage_next(&x) % 59000;
			memset(req, '[', len);
			break;
		case 1:		/* bytes */
			len = 1 + garbage_next(&x) % (sizeof(req) - 1);
			for (k = 0; k < len; k++)
				req[k] = (char)garbage_next(&x);
			break;
		default:	/* words */
			len = 0;
			n = 1 + garbage_next(&x) % 200;
			for (k = 0; k < n; k++) {
				w = garbage_next(&x) % (sizeof(garbage_words) /
				    sizeof(garbage_words[0]));
				memcpy(req + len, garbage_words[w],
				    strlen(garbage_words[w]));
				len += strlen(garbage_words[w]);
			}
			break;
		}
		req[len++] = '\n';
		fd = raw_connect(d);
		/* main may close on a line too long before it all went */
		(void)send(fd, req, len, MSG_NOSIGNAL);
		shutdown(fd, SHUT_WR);
		/* Everything main sends until it closes, then line by line. */
		pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
		got = 0;
		for (;;) {
			if (poll(&pfd, 1, WAIT_MS) != 1)
				fail_msg("request %d: main neither answered nor "
				    "closed within %d ms", i, WAIT_MS);
			r = read(fd, ans + got, sizeof(ans) - 1 - got);
			if (r == 0 || (r == -1 && errno == ECONNRESET))
				break;
			assert_true(r > 0);
			got += (size_t)r;
			assert_true(got < sizeof(ans) - 1);
		}
		ans[got] = '\0';
		for (line = ans; (nl = strchr(line, '\n')) != NULL;
		    line = nl + 1) {
			*nl = '\0';
			j = json_loads(line, 0, NULL);
			if (j == NULL || !json_is_boolean(json_object_get(j,
			    "ok")) || jint(j, "version") != 1)
				fail_msg("request %d: answer not JSON with ok "
				    "and version 1: %s", i, line);
			answers++;
			json_decref(j);
		}
		if (*line != '\0')
			fail_msg("request %d: answer without its newline: %s",
			    i, line);
		close(fd);
		if (i % 100 == 99)
			still_serving(d, v);
	}
	after = proc_fds_settle(d->pid, before, 3000);
	fprintf(stderr, "garbage: 400 connections, %d answers; main had %d "
	    "fds before, %d after\n", answers, before, after);
	if (after > before) {
		proc_count_fds(d->pid, true);
		fail_msg("main holds %d more fds", after - before);
	}
	still_serving(d, v);
	vuf_close(v);
	stop(d);
}

/*
 * A request longer than 64 KiB is answered with an error and its
 * connection closed; a client that sends half a request and stalls, and
 * one that sends thousands of requests and reads no answer, are dropped
 * after the idle timeout (with a log line), and meanwhile main serves
 * other control clients and the front-end; more than 16 control
 * connections are refused.
 */
static void
test_oversized_slow_many(void **state)
{
	struct daemon *d = *state;
	struct vuf *v;
	char *big;
	int fd, slow, many[16], extra, i;
	json_t *j;

	DAEMON_SKIP_IF_NONE(d);
	daemon_add(d, "rng", "vm1-rng", "");
	daemon_start(d);
	v = daemon_open_dev(d->sock[0], QSIZE);

	/* Oversized. */
	assert_non_null(big = malloc(70000));
	memset(big, ' ', 70000);
	big[0] = '{';
	fd = raw_connect(d);
	raw_send(fd, big, 70000);
	free(big);
	assert_non_null(j = raw_answer(fd, WAIT_MS));
	assert_true(has(jstr(j, "error"), "request too long (more than 65536 "
	    "bytes)"));
	json_decref(j);
	assert_int_equal(raw_closed(fd, WAIT_MS), 1);
	close(fd);
	assert_true(daemon_log_has(d, WAIT_MS, "sent a request longer than "
	    "65536 bytes: closing", NULL));
	still_serving(d, v);

	/* Slow: half a request, then nothing. */
	slow = raw_connect(d);
	raw_send(slow, "{\"version\": 1, \"cmd\": \"li", 25);
	still_serving(d, v);
	still_serving(d, v);
	/* Dropped after the idle timeout: 1 s in test builds, 10 s in
	 * others. */
	assert_non_null(j = raw_answer(slow, 15000 * daemon_slow()));
	assert_true(has(jstr(j, "error"), "request not completed in time"));
	json_decref(j);
	assert_int_equal(raw_closed(slow, WAIT_MS), 1);
	close(slow);
	assert_true(daemon_log_has(d, WAIT_MS, "sent half a request (25 "
	    "bytes)", NULL));
	still_serving(d, v);

	/* Greedy: thousands of requests, no answer read.  It holds its own
	 * connection only, which is dropped after the idle timeout. */
	slow = raw_connect(d);
	i = flood(slow);
	/* Held back at 256 KiB of answers (a few thousand requests), not
	 * at the 64 MiB cap (hundreds of thousands). */
	if (i < 1000 || i > 20000)
		fail_msg("main took %d requests before holding back", i);
	still_serving(d, v);
	assert_true(daemon_log_has(d, 15000 * daemon_slow(), "does not read "
	    "its answers", NULL));
	assert_int_equal(raw_closed(slow, WAIT_MS), 1);
	close(slow);
	still_serving(d, v);

	/* Many: 16 at once are served, the 17th refused (once main has
	 * seen the earlier vhostctl connections go). */
	sleep_ms(200);
	for (i = 0; i < 16; i++)
		many[i] = raw_connect(d);
	extra = raw_connect(d);
	assert_non_null(j = raw_answer(extra, WAIT_MS));
	assert_true(has(jstr(j, "error"), "too many control connections"));
	json_decref(j);
	close(extra);
	raw_send(many[15], "{\"version\": 1, \"cmd\": \"status\"}\n", 33);
	assert_non_null(j = raw_answer(many[15], WAIT_MS));
	assert_true(json_is_true(json_object_get(j, "ok")));
	json_decref(j);
	rng_req(v);
	for (i = 0; i < 16; i++)
		close(many[i]);
	/* Room again once they are gone. */
	sleep_ms(100);
	still_serving(d, v);
	vuf_close(v);
	stop(d);
}

static void
sleep_us(long us)
{
	struct timespec ts = { 0, us * 1000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/*
 * A peer that pipelines requests and reads its answers steadily, but
 * slower than main makes them, so that never all are written: main's buffer of its answers stays the size of what
 * is unread, not of everything it was ever sent (32 MiB of answers here
 * may not grow main by 16 MiB).
 */
static void
test_slow_reader(void **state)
{
#define LIST	"{\"version\": 1, \"cmd\": \"list\"}\n"
	/* More asked for than read each turn: main always has some unread. */
	static const char req[] = LIST LIST LIST LIST LIST LIST LIST LIST;
#undef LIST
	struct daemon *d = *state;
	struct pollfd pfd;
	char buf[8192], id[16];
	size_t got = 0, off = 0;
	long rss0, rss1;
	ssize_t n;
	int fd, i;

	DAEMON_SKIP_IF_NONE(d);
	for (i = 0; i < 6; i++) {
		snprintf(id, sizeof(id), "vm%d-rng", i);
		daemon_add(d, "rng", id, "");
	}
	daemon_start(d);
	fd = raw_connect(d);
	assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	/* A first answer, so that main has set up what a connection
	 * needs before it is measured. */
	raw_send(fd, req, 30);
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	assert_int_equal(poll(&pfd, 1, WAIT_MS), 1);
	sleep_ms(100);
	assert_true((rss0 = proc_rss_kb(d->pid)) > 0);
	while (got < 32 << 20) {
		pfd = (struct pollfd){ .fd = fd, .events = POLLIN | POLLOUT };
		if (poll(&pfd, 1, WAIT_MS) != 1)
			fail_msg("main stopped answering after %zu bytes", got);
		if (pfd.revents & POLLOUT) {
			n = send(fd, req + off, sizeof(req) - 1 - off,
			    MSG_NOSIGNAL);
			if (n > 0)
				off = (off + (size_t)n) % (sizeof(req) - 1);
		}
		if (pfd.revents & POLLIN) {
			if ((n = read(fd, buf, sizeof(buf))) <= 0)
				fail_msg("main closed the connection after %zu "
				    "bytes", got);
			got += (size_t)n;
			/* Slower than main answers: its answers pile up. */
			sleep_us(500);
		}
	}
	rss1 = proc_rss_kb(d->pid);
	close(fd);
	fprintf(stderr, "slow reader: main's RSS %ld kB -> %ld kB after %zu "
	    "bytes of answers\n", rss0, rss1, got);
	/* AddressSanitizer keeps freed memory in quarantine (256 MB), so
	 * main's RSS says nothing there; the other builds judge it. */
	if (!CTL_ASAN && rss1 > rss0 + 16 * 1024)
		fail_msg("main grew from %ld kB to %ld kB for a peer with at "
		    "most a few hundred kB unread", rss0, rss1);
	stop(d);
}

/*
 * A peer that sends a buffer full of requests at once (1300 restarts)
 * does not hold the event loop for all of them: a request another client
 * sends right after is run before the last of them.
 */
static void
test_batches(void **state)
{
	static const char req[] = "{\"version\":1,\"cmd\":\"restart\","
	    "\"id\":\"vm1-rng\"}\n";
	struct daemon *d = *state;
	char *buf, *log, *line, *save;
	int a, b, i, n = 1300, before = 0, total = 0;
	bool seen = false;
	json_t *j;

	DAEMON_SKIP_IF_NONE(d);
	daemon_add(d, "rng", "vm1-rng", "");
	daemon_start(d);
	a = raw_connect(d);
	b = raw_connect(d);
	assert_true(n * (sizeof(req) - 1) < 65536);
	assert_non_null(buf = malloc((size_t)n * (sizeof(req) - 1)));
	for (i = 0; i < n; i++)
		memcpy(buf + (size_t)i * (sizeof(req) - 1), req,
		    sizeof(req) - 1);
	raw_send(a, buf, (size_t)n * (sizeof(req) - 1));
	free(buf);
	expect_ok(b, "{\"version\":1,\"cmd\":\"log-level\",\"level\":"
	    "\"notice\"}\n");
	for (i = 0; i < n; i++) {
		assert_non_null(j = raw_answer(a, WAIT_MS));
		assert_true(has(jstr(j, "error"), "has no worker"));
		json_decref(j);
	}
	close(a);
	close(b);
	log = read_file(d->log);
	for (line = strtok_r(log, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (strstr(line, ": log-level notice") != NULL)
			seen = true;
		if (strstr(line, ": restart vm1-rng") != NULL) {
			total++;
			before += !seen;
		}
	}
	free(log);
	assert_true(seen);
	assert_int_equal(total, n);
	if (before == n)
		fail_msg("all %d requests of one peer ran before the request "
		    "another peer sent meanwhile", n);
	stop(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_status_list_show_stats,
		    setup, daemon_teardown),
		cmocka_unit_test_setup_teardown(test_top, setup,
		    daemon_teardown),
		cmocka_unit_test_setup_teardown(test_reload, setup,
		    daemon_teardown),
		cmocka_unit_test_setup_teardown(test_reload_large_file, setup,
		    daemon_teardown),
		cmocka_unit_test_setup_teardown(test_add_remove_restart, setup,
		    daemon_teardown),
		cmocka_unit_test_setup_teardown(test_vhostctl_errors, setup,
		    daemon_teardown),
		cmocka_unit_test_setup_teardown(test_unauthorized, setup,
		    daemon_teardown),
		cmocka_unit_test_setup_teardown(test_admin_group_reload, setup,
		    daemon_teardown),
		cmocka_unit_test_setup_teardown(test_malformed, setup,
		    daemon_teardown),
		cmocka_unit_test_setup_teardown(test_garbage, setup,
		    daemon_teardown),
		cmocka_unit_test_setup_teardown(test_oversized_slow_many,
		    setup, daemon_teardown),
		cmocka_unit_test_setup_teardown(test_slow_reader, setup,
		    daemon_teardown),
		cmocka_unit_test_setup_teardown(test_batches, setup,
		    daemon_teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
