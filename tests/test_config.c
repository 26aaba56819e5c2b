/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the config loader (src/cfg.c): a valid file read back field
 * by field, every error the loader and the cfg_* helpers report with its
 * exact text and position, several errors in one file, and hostile files
 * (binary, empty, truncated, deeply nested, too large, missing).  The link
 * wraps dev_lookup() (see tests/unit-config.mk) so that two device types of
 * the test's own stand in front of the real registry: "testdev", whose parse
 * hook uses every helper, and "bare", which has no parse hook.  The CPUs
 * that poll cores are checked against are the test's too: this program
 * defines its own sched_getaffinity() (the loader's call resolves to it)
 * and points cfg_cpu_online at a file it writes.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "cfg.h"
#include "device.h"
#include "log.h"

#ifndef TOP_SRCDIR
#define TOP_SRCDIR "."
#endif

#define NAME	"vhostd.json"

/* ---- the test's own device types ---- */

struct test_cfg {
	bool		flag;
	char		name[32];
	uint64_t	count;
	uint64_t	big;
};

static const char *const test_keys[] = {
	"id", "type", "socket", "flag", "name", "count", "big", "nested",
	"silent", NULL
};
static const char *const test_nested_keys[] = { "deep", NULL };

static int
test_parse(struct cfg_ctx *ctx, json_t *obj, const char *path, void *out)
{
	struct test_cfg *c = out;
	const char *s;
	char sub[128];
	json_t *nested;
	int rc = 0;

	if (cfg_check_keys(ctx, obj, path, test_keys) == -1)
		rc = -1;
	if (cfg_bool(ctx, obj, path, "flag", false, &c->flag) == -1)
		rc = -1;
	if (cfg_string(ctx, obj, path, "name", true, NULL, &s) == -1)
		rc = -1;
	else
		snprintf(c->name, sizeof(c->name), "%s", s);
	if (cfg_uint(ctx, obj, path, "count", true, 0, 0, 10, &c->count) == -1)
		rc = -1;
	if (cfg_uint(ctx, obj, path, "big", false, 7, 5, UINT64_MAX,
	    &c->big) == -1)
		rc = -1;
	if ((nested = json_object_get(obj, "nested")) != NULL) {
		snprintf(sub, sizeof(sub), "%s.nested", path);
		if (cfg_check_keys(ctx, nested, sub, test_nested_keys) == -1)
			rc = -1;
		else {
			/* A path the file lacks: falls back to "nested.deep". */
			snprintf(sub, sizeof(sub), "%s.nested.deep[7].x", path);
			cfg_error(ctx, sub, "made-up path");
			rc = -1;
		}
	}
	if (json_object_get(obj, "silent") != NULL)
		return -1;	/* fails without saying why */
	return rc;
}

/* testdev claims unit `count` of the resource named by `name`. */
static unsigned
test_claims(const void *cfgp, struct dev_claim *out)
{
	const struct test_cfg *c = cfgp;

	snprintf(out[0].resource, sizeof(out[0].resource), "test bus %s",
	    c->name);
	out[0].unit = (uint32_t)c->count;
	snprintf(out[0].what, sizeof(out[0].what), "unit");
	snprintf(out[0].path, sizeof(out[0].path), "count");
	return 1;
}

static const struct dev_ops test_ops = {
	.name = "testdev",
	.num_queues = 1,
	.cfg_size = sizeof(struct test_cfg),
	.parse = test_parse,
	.claims = test_claims,
};

static const struct dev_ops bare_ops = {
	.name = "bare",
	.num_queues = 1,
	.cfg_size = 0,
};

const struct dev_ops *__real_dev_lookup(const char *);
const struct dev_ops *__wrap_dev_lookup(const char *);

const struct dev_ops *
__wrap_dev_lookup(const char *name)
{
	if (strcmp(name, test_ops.name) == 0)
		return &test_ops;
	if (strcmp(name, bare_ops.name) == 0)
		return &bare_ops;
	return __real_dev_lookup(name);
}

/* ---- helpers ---- */

static void
expect_errors(const char *text, const char *expected)
{
	struct vhostd_cfg *cfg;
	char *err = (char *)"untouched";

	errno = 0;
	cfg = cfg_load_string(text, NAME, &err);
	assert_null(cfg);
	assert_int_equal(errno, EINVAL);
	assert_non_null(err);
	assert_string_equal(err, expected);
	free(err);
}

static struct vhostd_cfg *
expect_ok(const char *text)
{
	struct vhostd_cfg *cfg;
	char *err = (char *)"untouched";

	cfg = cfg_load_string(text, NAME, &err);
	if (cfg == NULL)
		fail_msg("unexpected errors:\n%s", err != NULL ? err : "(null)");
	assert_null(err);
	return cfg;
}

/* Writes len bytes to a new temporary file; returns its malloc'ed name. */
static char *
tmpfile_with(const void *buf, size_t len)
{
	char *path = strdup("/tmp/test_config.XXXXXX");
	int fd;

	assert_non_null(path);
	fd = mkstemp(path);
	assert_true(fd != -1);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
	return path;
}

/* A device object on one line, for configs that need a valid one. */
#define RNG(id, sock) \
	"{ \"id\": \"" id "\", \"type\": \"rng\", \"socket\": \"" sock "\" }"

/* ---- valid files ---- */

static void
test_valid_roundtrip(void **state)
{
	const char *text =
	    "{\n"
	    "  \"runtime_dir\": \"/run//vhostd-test/\",\n"
	    "  \"log_level\": \"debug\",\n"
	    "  \"devices\": [\n"
	    "    { \"id\": \"vm1-rng\", \"type\": \"rng\", "
	    "\"socket\": \"vm1.sock\" },\n"
	    "    { \"id\": \"vm2.rng_2\", \"type\": \"rng\",\n"
	    "      \"socket\": \"/tmp//x/./vm2.sock\", \"source\": "
	    "\"/dev/hwrng\",\n"
	    "      \"max_bytes\": 1099511627776, \"period_ms\": 3600000 },\n"
	    "    { \"id\": \"t\", \"type\": \"testdev\", \"socket\": "
	    "\"sub/t.sock\",\n"
	    "      \"flag\": true, \"name\": \"hello\", \"count\": 10,\n"
	    "      \"big\": 9223372036854775807 },\n"
	    "    { \"id\": \"u\", \"type\": \"testdev\", \"socket\": \"u\",\n"
	    "      \"name\": \"x\", \"count\": 0 },\n"
	    "    { \"id\": \"b\", \"type\": \"bare\", \"socket\": \"b\" }\n"
	    "  ]\n"
	    "}\n";
	struct vhostd_cfg *cfg = expect_ok(text);
	const struct test_cfg *t;

	assert_string_equal(cfg->path, NAME);
	assert_string_equal(cfg->runtime_dir, "/run/vhostd-test");
	assert_int_equal(cfg->log_level, LOG_DEBUG);
	assert_true(cfg->log_level_set);
	assert_int_equal(cfg->ndevs, 5);

	assert_string_equal(cfg->devs[0].id, "vm1-rng");
	assert_ptr_equal(cfg->devs[0].ops, dev_lookup("rng"));
	assert_non_null(cfg->devs[0].ops);
	assert_string_equal(cfg->devs[0].socket, "/run/vhostd-test/vm1.sock");
	assert_int_equal(cfg->devs[0].index, 0);
	assert_non_null(cfg->devs[0].priv);

	assert_string_equal(cfg->devs[1].id, "vm2.rng_2");
	assert_string_equal(cfg->devs[1].socket, "/tmp/x/vm2.sock");
	assert_int_equal(cfg->devs[1].index, 1);
	assert_non_null(cfg->devs[1].priv);

	assert_string_equal(cfg->devs[2].socket, "/run/vhostd-test/sub/t.sock");
	assert_ptr_equal(cfg->devs[2].ops, &test_ops);
	t = cfg->devs[2].priv;
	assert_true(t->flag);
	assert_string_equal(t->name, "hello");
	assert_int_equal(t->count, 10);
	assert_true(t->big == UINT64_C(9223372036854775807));

	t = cfg->devs[3].priv;
	assert_false(t->flag);		/* defaults */
	assert_string_equal(t->name, "x");
	assert_int_equal(t->count, 0);
	assert_int_equal(t->big, 7);

	assert_ptr_equal(cfg->devs[4].ops, &bare_ops);
	assert_non_null(cfg->devs[4].priv);
	assert_int_equal(cfg->devs[4].index, 4);
	cfg_free(cfg);
}

static void
test_defaults(void **state)
{
	struct vhostd_cfg *cfg = expect_ok("{\"devices\": []}");

	assert_string_equal(cfg->runtime_dir, CFG_DEFAULT_RUNDIR);
	assert_int_equal(cfg->log_level, LOG_NOTICE);
	assert_false(cfg->log_level_set);
	assert_int_equal(cfg->ndevs, 0);
	cfg_free(cfg);

	cfg = expect_ok("{\"devices\": [" RNG("a", "a.sock") "]}");
	assert_string_equal(cfg->devs[0].socket, CFG_DEFAULT_RUNDIR "/a.sock");
	cfg_free(cfg);

	/* "/" as runtime_dir does not give "//a.sock". */
	cfg = expect_ok("{\"runtime_dir\": \"/\", \"devices\": ["
	    RNG("a", "a.sock") "]}");
	assert_string_equal(cfg->runtime_dir, "/");
	assert_string_equal(cfg->devs[0].socket, "/a.sock");
	cfg_free(cfg);

	/* log_level names are case-insensitive (log_level_parse). */
	cfg = expect_ok("{\"log_level\": \"Warning\", \"devices\": []}");
	assert_int_equal(cfg->log_level, LOG_WARNING);
	assert_true(cfg->log_level_set);
	cfg_free(cfg);

	cfg_free(NULL);
}

static void
test_limits_that_fit(void **state)
{
	char text[1024], sock[CFG_SOCK_MAX];
	struct vhostd_cfg *cfg;

	/* An id of 63 characters and a socket path of CFG_SOCK_MAX - 1. */
	memset(sock, 'a', sizeof(sock) - 1);
	sock[0] = '/';
	sock[sizeof(sock) - 1] = '\0';
	snprintf(text, sizeof(text), "{\"devices\": [{\"id\": \"%s\", "
	    "\"type\": \"rng\", \"socket\": \"%s\"}]}",
	    "123456789012345678901234567890123456789012345678901234567890123",
	    sock);
	cfg = expect_ok(text);
	assert_string_equal(cfg->devs[0].socket, sock);
	assert_int_equal(strlen(cfg->devs[0].id), CFG_ID_MAX - 1);
	cfg_free(cfg);
}

static void
test_load_file(void **state)
{
	const char *text = "{\"runtime_dir\": \"/r\", \"devices\": ["
	    RNG("a", "a.sock") "]}\n";
	struct vhostd_cfg *cfg;
	char *path, *err = (char *)"untouched";

	path = tmpfile_with(text, strlen(text));
	cfg = cfg_load(path, &err);
	assert_non_null(cfg);
	assert_null(err);
	assert_string_equal(cfg->path, path);
	assert_string_equal(cfg->devs[0].socket, "/r/a.sock");
	cfg_free(cfg);
	unlink(path);
	free(path);
}

static void
test_example_configs(void **state)
{
	struct vhostd_cfg *cfg;
	char *err = NULL;

	cfg = cfg_load(TOP_SRCDIR "/config/demo.json", &err);
	if (cfg == NULL)
		fail_msg("%s", err);
	assert_string_equal(cfg->runtime_dir, "/tmp/vhostd-demo");
	assert_int_equal(cfg->ndevs, 2);
	assert_string_equal(cfg->devs[0].id, "vm1-rng");
	assert_string_equal(cfg->devs[0].socket, "/tmp/vhostd-demo/vm1-rng.sock");
	assert_string_equal(cfg->devs[1].id, "vm2-rng");
	assert_string_equal(cfg->devs[1].socket, "/tmp/vhostd-demo/vm2-rng.sock");
	cfg_free(cfg);

	cfg = cfg_load(TOP_SRCDIR "/config/vhostd.example.json", &err);
	if (cfg == NULL)
		fail_msg("%s", err);
	assert_true(cfg->log_level_set);
	assert_true(cfg->ndevs >= 2);
	cfg_free(cfg);

	/* A chip and a bus shared between two VMs, real and simulated. */
	cfg = cfg_load(TOP_SRCDIR "/config/shared-hw.json", &err);
	if (cfg == NULL)
		fail_msg("%s", err);
	assert_int_equal(cfg->ndevs, 4);
	cfg_free(cfg);
	cfg = cfg_load(TOP_SRCDIR "/config/shared-sim.json", &err);
	if (cfg == NULL)
		fail_msg("%s", err);
	assert_int_equal(cfg->ndevs, 4);
	cfg_free(cfg);
}

/* ---- the top level ---- */

static void
test_unknown_top_key(void **state)
{
	expect_errors(
	    "{\n"
	    "  \"devices\": [],\n"
	    "  \"sockett\": 1,\n"
	    "\t\"x\\n\\\"y\": {}\n"
	    "}\n",
	    NAME ":3:3: unknown key \"sockett\"\n"
	    NAME ":4:2: unknown key \"x\\x0a\\\"y\"");
}

static void
test_runtime_dir(void **state)
{
	char *text;
	size_t n = PATH_MAX + 64;

	expect_errors("{\"runtime_dir\": \"run/vhostd\", \"devices\": []}",
	    NAME ":1:17: runtime_dir: must be an absolute path");
	expect_errors("{\"runtime_dir\": 5, \"devices\": []}",
	    NAME ":1:17: runtime_dir: must be a string");
	expect_errors("{\"runtime_dir\": \"\", \"devices\": []}",
	    NAME ":1:17: runtime_dir: must not be empty");
	expect_errors("{\"runtime_dir\": null, \"devices\": []}",
	    NAME ":1:17: runtime_dir: must be a string");

	text = malloc(n);
	assert_non_null(text);
	snprintf(text, n, "{\"devices\": [], \"runtime_dir\": \"/%0*d\"}",
	    PATH_MAX - 1, 0);
	expect_errors(text, NAME ":1:32: runtime_dir: is too long (at most "
	    "4095 bytes)");
	/* PATH_MAX - 1 bytes fit. */
	snprintf(text, n, "{\"devices\": [], \"runtime_dir\": \"/%0*d\"}",
	    PATH_MAX - 2, 0);
	cfg_free(expect_ok(text));
	free(text);
}

static void
test_runtime_dir_wrong_skips_relative_sockets(void **state)
{
	/* Only the runtime_dir error: the relative socket cannot be checked,
	 * the absolute one still is. */
	expect_errors(
	    "{\"runtime_dir\": \"rel\", \"devices\": [\n"
	    RNG("a", "a.sock") ",\n"
	    RNG("b", "/x/") "\n"
	    "]}",
	    NAME ":1:17: runtime_dir: must be an absolute path\n"
	    NAME ":3:39: devices[1].socket: must name a socket file, not a "
	    "directory");
}

static void
test_log_level(void **state)
{
	expect_errors(
	    "{\n"
	    "  \"log_level\": \"loud\",\n"
	    "  \"devices\": []\n"
	    "}",
	    NAME ":2:16: log_level: unknown level \"loud\" (expected error, "
	    "warning, notice, info or debug)");
	expect_errors("{\"log_level\": 3, \"devices\": []}",
	    NAME ":1:15: log_level: must be a string");
	expect_errors("{\"log_level\": \"\", \"devices\": []}",
	    NAME ":1:15: log_level: must not be empty");
}

static void
test_devices_shape(void **state)
{
	expect_errors("{\"log_level\": \"info\"}",
	    NAME ":1:1: missing required key \"devices\"");
	expect_errors("\n\n  {}",
	    NAME ":3:3: missing required key \"devices\"");
	expect_errors("{\"devices\": {}}",
	    NAME ":1:13: devices: must be an array");
	expect_errors("{\"devices\": [1, \"x\", [], null]}",
	    NAME ":1:14: devices[0]: must be an object\n"
	    NAME ":1:17: devices[1]: must be an object\n"
	    NAME ":1:22: devices[2]: must be an object\n"
	    NAME ":1:26: devices[3]: must be an object");
}

static void
test_too_many_devices(void **state)
{
	size_t n = 1025, i, len = 64 + n * 3;
	char *text = malloc(len), *p = text;

	assert_non_null(text);
	p += sprintf(p, "{\"devices\": [");
	for (i = 0; i < n; i++)
		p += sprintf(p, "%s{}", i > 0 ? "," : "");
	sprintf(p, "]}");
	expect_errors(text, NAME ":1:13: devices: too many devices (1025, at "
	    "most 1024)");
	free(text);
}

/* ---- the common device keys ---- */

static void
test_missing_common_keys(void **state)
{
	expect_errors(
	    "{\n"
	    "  \"devices\": [\n"
	    "    { \"id\": \"a\", \"type\": \"rng\" },\n"
	    "    {}\n"
	    "  ]\n"
	    "}",
	    NAME ":3:5: devices[0]: missing required key \"socket\"\n"
	    NAME ":4:5: devices[1]: missing required key \"id\"\n"
	    NAME ":4:5: devices[1]: missing required key \"type\"\n"
	    NAME ":4:5: devices[1]: missing required key \"socket\"");
}

static void
test_id(void **state)
{
	expect_errors("{\"devices\": [" RNG("", "a") "]}",
	    NAME ":1:22: devices[0].id: must not be empty");
	expect_errors("{\"devices\": [" RNG("a b", "a") "]}",
	    NAME ":1:22: devices[0].id: may contain only letters, digits, "
	    "'.', '_' and '-'");
	expect_errors("{\"devices\": [" RNG("a/b", "a") "]}",
	    NAME ":1:22: devices[0].id: may contain only letters, digits, "
	    "'.', '_' and '-'");
	expect_errors("{\"devices\": [" RNG("\\u00e9", "a") "]}",
	    NAME ":1:22: devices[0].id: may contain only letters, digits, "
	    "'.', '_' and '-'");
	expect_errors("{\"devices\": ["
	    RNG("1234567890123456789012345678901234567890123456789012345678901234",
	    "a") "]}",
	    NAME ":1:22: devices[0].id: is too long (at most 63 characters)");
	expect_errors("{\"devices\": [{\"id\": 7, \"type\": \"rng\", "
	    "\"socket\": \"a\"}]}",
	    NAME ":1:21: devices[0].id: must be a string");
}

static void
test_duplicate_id(void **state)
{
	expect_errors(
	    "{\"devices\": [\n"
	    RNG("vm1-rng", "a") ",\n"
	    RNG("other", "b") ",\n"
	    RNG("vm1-rng", "c") ",\n"
	    RNG("vm1-rng", "d") "\n"
	    "]}",
	    NAME ":4:9: devices[2].id: duplicate id \"vm1-rng\" (also used by "
	    "devices[0])\n"
	    NAME ":5:9: devices[3].id: duplicate id \"vm1-rng\" (also used by "
	    "devices[0])");
}

static void
test_type(void **state)
{
	/* An unknown type skips the device's own keys ("bogus"). */
	expect_errors(
	    "{\n"
	    "  \"devices\": [\n"
	    "    { \"id\": \"a\", \"socket\": \"a\",\n"
	    "      \"type\": \"gpu\", \"bogus\": 1 }\n"
	    "  ]\n"
	    "}",
	    NAME ":4:15: devices[0].type: unknown device type \"gpu\" "
	    "(known: gpio, i2c, rng, vsock)");
	expect_errors("{\"devices\": [{\"id\": \"a\", \"socket\": \"a\", "
	    "\"type\": [\"rng\"], \"bogus\": 1}]}",
	    NAME ":1:49: devices[0].type: must be a string");
	expect_errors("{\"devices\": [{\"id\": \"a\", \"socket\": \"a\", "
	    "\"bogus\": 1}]}",
	    NAME ":1:14: devices[0]: missing required key \"type\"");
}

static void
test_socket(void **state)
{
	char text[512];

	expect_errors("{\"devices\": [" RNG("a", "dir/") "]}",
	    NAME ":1:52: devices[0].socket: must name a socket file, not a "
	    "directory");
	expect_errors("{\"devices\": [" RNG("a", "..") "]}",
	    NAME ":1:52: devices[0].socket: must name a socket file, not a "
	    "directory");
	expect_errors("{\"devices\": [" RNG("a", "x/.") "]}",
	    NAME ":1:52: devices[0].socket: must name a socket file, not a "
	    "directory");
	expect_errors("{\"devices\": [{\"id\": \"a\", \"type\": \"rng\", "
	    "\"socket\": false}]}",
	    NAME ":1:51: devices[0].socket: must be a string");

	/* One byte more than a sun_path holds (CFG_SOCK_MAX - 1 fit, see
	 * test_limits_that_fit). */
	snprintf(text, sizeof(text), "{\"devices\": [" RNG("a", "/%0*d")
	    "]}", (int)CFG_SOCK_MAX - 1, 0);
	expect_errors(text, NAME ":1:52: devices[0].socket: socket path /"
	    "0000000000000000000000000000000000000000000000000000000000000000"
	    "0000000000000000000000000000000000000000000 is too long "
	    "(108 bytes, at most 107)");

	/* Relative: too long only once resolved against runtime_dir. */
	snprintf(text, sizeof(text), "{\"runtime_dir\": \"/%0*d\",\n"
	    "\"devices\": [" RNG("a", "abcdefghij") "]}", 97, 0);
	expect_errors(text, NAME ":2:51: devices[0].socket: socket path /"
	    "0000000000000000000000000000000000000000000000000000000000000000"
	    "000000000000000000000000000000000/abcdefghij is too long "
	    "(109 bytes, at most 107)");
}

static void
test_duplicate_socket(void **state)
{
	expect_errors(
	    "{\n"
	    "  \"runtime_dir\": \"/run/vhostd\",\n"
	    "  \"devices\": [\n"
	    "    " RNG("vm1-rng", "a.sock") ",\n"
	    "    " RNG("vm2-rng", "b.sock") ",\n"
	    "    " RNG("vm3-rng", "/run/vhostd//./a.sock") ",\n"
	    "    " RNG("bad id", "b.sock") ",\n"
	    "    " RNG("vm5-rng", "c.sock") ",\n"
	    "    " RNG("vm6-rng", "/run/vhostd/b.sock") "\n"
	    "  ]\n"
	    "}",
	    NAME ":6:49: devices[2].socket: duplicate socket path "
	    "/run/vhostd/a.sock (also used by devices[0] \"vm1-rng\")\n"
	    NAME ":7:13: devices[3].id: may contain only letters, digits, "
	    "'.', '_' and '-'\n"
	    NAME ":7:48: devices[3].socket: duplicate socket path "
	    "/run/vhostd/b.sock (also used by devices[1] \"vm2-rng\")\n"
	    NAME ":9:49: devices[5].socket: duplicate socket path "
	    "/run/vhostd/b.sock (also used by devices[1] \"vm2-rng\")");
	/* The first user has no valid id: the message names its index. */
	expect_errors("{\"devices\": [\n"
	    RNG("a b", "s") ",\n"
	    RNG("c", "s") "]}",
	    NAME ":2:9: devices[0].id: may contain only letters, digits, "
	    "'.', '_' and '-'\n"
	    NAME ":3:39: devices[1].socket: duplicate socket path "
	    "/run/vhostd/s (also used by devices[0])");
}

/* ---- the device's own keys (rng, and the helpers through testdev) ---- */

static void
test_device_unknown_key(void **state)
{
	expect_errors(
	    "{\n"
	    "  \"devices\": [\n"
	    "    { \"id\": \"a\", \"type\": \"rng\", \"socket\": \"a\",\n"
	    "      \"sockett\": \"b\", \"max_bytes\": 1 }\n"
	    "  ]\n"
	    "}",
	    NAME ":4:7: devices[0]: unknown key \"sockett\"");
	/* A device type without a parse hook: the core checks the keys. */
	expect_errors("{\"devices\": [{\"id\": \"a\", \"type\": \"bare\", "
	    "\"socket\": \"a\", \"x\": 1}]}",
	    NAME ":1:57: devices[0]: unknown key \"x\"");
}

static void
test_rng_keys(void **state)
{
#define RNGK(k) "{\"devices\": [{\"id\": \"a\", \"type\": \"rng\", " \
	"\"socket\": \"a\", " k "}]}"
	/* The value of the key at the end starts at column 69. */
	const char *range = NAME ":1:69: devices[0].max_bytes: must be an "
	    "integer from 1 to 1099511627776";

	expect_errors(RNGK("\"max_bytes\": 0"), range);
	expect_errors(RNGK("\"max_bytes\": -1"), range);
	expect_errors(RNGK("\"max_bytes\": 1099511627777"), range);
	expect_errors(RNGK("\"max_bytes\": 4096.0"), range);
	expect_errors(RNGK("\"max_bytes\": 1e3"), range);
	expect_errors(RNGK("\"max_bytes\": \"4096\""), range);
	expect_errors(RNGK("\"max_bytes\": true"), range);
	expect_errors(RNGK("\"max_bytes\": null"), range);
	expect_errors(RNGK("\"period_ms\": 0"), NAME ":1:69: "
	    "devices[0].period_ms: must be an integer from 1 to 3600000");
	expect_errors(RNGK("\"period_ms\": 3600001"), NAME ":1:69: "
	    "devices[0].period_ms: must be an integer from 1 to 3600000");
	expect_errors(RNGK("\"source\": \"dev/hwrng\""), NAME ":1:66: "
	    "devices[0].source: must be an absolute path");
	expect_errors(RNGK("\"source\": \"\""), NAME ":1:66: "
	    "devices[0].source: must not be empty");
#undef RNGK
}

static void
test_helpers(void **state)
{
#define TD(k) "{\"devices\": [{\"id\": \"a\", \"type\": \"testdev\", " \
	"\"socket\": \"a\", " k "}]}"
	/* Keys after the common ones start at column 60. */
	expect_errors(TD("\"count\": 1"),
	    NAME ":1:14: devices[0]: missing required key \"name\"");
	expect_errors(TD("\"name\": \"n\""),
	    NAME ":1:14: devices[0]: missing required key \"count\"");
	expect_errors(TD("\"name\": \"n\", \"count\": 1, \"flag\": 1"),
	    NAME ":1:93: devices[0].flag: must be true or false");
	expect_errors(TD("\"name\": \"n\", \"count\": 1, \"flag\": \"true\""),
	    NAME ":1:93: devices[0].flag: must be true or false");
	expect_errors(TD("\"name\": 1, \"count\": 1"),
	    NAME ":1:68: devices[0].name: must be a string");
	expect_errors(TD("\"name\": \"n\", \"count\": 11"),
	    NAME ":1:82: devices[0].count: must be an integer from 0 to 10");
	expect_errors(TD("\"name\": \"n\", \"count\": 1, \"big\": 4"),
	    NAME ":1:92: devices[0].big: must be an integer from 5 to "
	    "18446744073709551615");
	/* Negative numbers do not wrap round to huge ones. */
	expect_errors(TD("\"name\": \"n\", \"count\": 1, \"big\": -1"),
	    NAME ":1:92: devices[0].big: must be an integer from 5 to "
	    "18446744073709551615");
	expect_errors(TD("\"name\": \"n\", \"count\": -1"),
	    NAME ":1:82: devices[0].count: must be an integer from 0 to 10");
	/* A hook that fails without reporting still fails the load. */
	expect_errors(TD("\"name\": \"n\", \"count\": 1, \"silent\": 1"),
	    NAME ":1:14: devices[0]: invalid testdev device");
	/* cfg_check_keys on a non-object; cfg_error on a path the file lacks
	 * falls back to the nearest enclosing value. */
	expect_errors(TD("\"name\": \"n\", \"count\": 1, \"nested\": 5"),
	    NAME ":1:95: devices[0].nested: must be an object");
	expect_errors(TD("\"name\": \"n\", \"count\": 1, "
	    "\"nested\": {\"deep\": [1], \"d\": 2}"),
	    NAME ":1:109: devices[0].nested: unknown key \"d\"");
	expect_errors(TD("\"name\": \"n\", \"count\": 1, "
	    "\"nested\": {\"deep\": [1]}"),
	    NAME ":1:104: devices[0].nested.deep[7].x: made-up path");
#undef TD
}

/* Positions stay right after escapes, multi-byte UTF-8, tabs and CRLF. */
static void
test_positions(void **state)
{
	/* "é" is two bytes: columns count bytes. */
	expect_errors("{\"devices\": [], \"x\": \"\\\"\\\\\\u00e9\xc3\xa9\", "
	    "\"log_level\": 1}",
	    NAME ":1:17: unknown key \"x\"\n"
	    NAME ":1:51: log_level: must be a string");
	expect_errors("{\r\n\t\"devices\": [],\r\n\t\t\"log_level\": 1\r\n}",
	    NAME ":3:16: log_level: must be a string");
	/* A key written with escapes is found under its decoded name. */
	expect_errors("{\"devices\": [{\"id\": \"a\", \"type\": \"testdev\", "
	    "\"socket\": \"a\", \"n\\u0061me\": 1, \"count\": 1}]}",
	    NAME ":1:73: devices[0].name: must be a string");
	/* ... also outside the basic plane (a surrogate pair). */
	expect_errors("{\"devices\": [], \"\\ud83d\\ude00\": {\"a\\/b\": 1}}",
	    NAME ":1:17: unknown key \"\xf0\x9f\x98\x80\"");
}

/* ---- several errors ---- */

static void
test_many_errors(void **state)
{
	expect_errors(
	    "{\n"
	    "  \"runtime_dir\": \"relative\",\n"
	    "  \"log_level\": \"loud\",\n"
	    "  \"colour\": \"blue\",\n"
	    "  \"devices\": [\n"
	    "    { \"id\": \"vm1-rng\", \"type\": \"rng\", \"socket\": \"/a\" },\n"
	    "    { \"id\": \"vm1-rng\", \"type\": \"gpu\", \"socket\": \"/a\" },\n"
	    "    { \"id\": \"x\", \"type\": \"rng\", \"socket\": \"/b\",\n"
	    "      \"max_bytes\": -5, \"speed\": 1 },\n"
	    "    []\n"
	    "  ]\n"
	    "}\n",
	    NAME ":2:18: runtime_dir: must be an absolute path\n"
	    NAME ":3:16: log_level: unknown level \"loud\" (expected error, "
	    "warning, notice, info or debug)\n"
	    NAME ":4:3: unknown key \"colour\"\n"
	    NAME ":7:13: devices[1].id: duplicate id \"vm1-rng\" (also used by "
	    "devices[0])\n"
	    NAME ":7:32: devices[1].type: unknown device type \"gpu\" "
	    "(known: gpio, i2c, rng, vsock)\n"
	    NAME ":7:49: devices[1].socket: duplicate socket path /a (also "
	    "used by devices[0] \"vm1-rng\")\n"
	    NAME ":9:20: devices[2].max_bytes: must be an integer from 1 to "
	    "1099511627776\n"
	    NAME ":9:24: devices[2]: unknown key \"speed\"\n"
	    NAME ":10:5: devices[3]: must be an object");
}

/* ---- broken files ---- */

static void
test_syntax_errors(void **state)
{
	expect_errors("", NAME ":1:1: '[' or '{' expected near end of file");
	expect_errors("[", NAME ":1:1: ']' expected near end of file");
	expect_errors("{\"devices\": [],\n  \"a\": }",
	    NAME ":2:8: unexpected token near '}'");
	expect_errors("1", NAME ":1:1: '[' or '{' expected near '1'");
	expect_errors("{\"devices\": []} x",
	    NAME ":1:17: end of file expected near 'x'");
	expect_errors("{\"devices\": [], \"log_level\": \"a\\u0000b\"}",
	    NAME ":1:39: \\u0000 is not allowed without JSON_ALLOW_NUL "
	    "near '\"a\\u0000b\"'");
	expect_errors("\xff\xfe{}", NAME ":1:1: unable to decode byte 0xff");
	expect_errors("{\"devices\": [], \"x\": \"\x01\"}",
	    NAME ":1:22: control character 0x1 near '\"'");
	expect_errors("[1, 2]", NAME ":1:1: the top level must be an object, "
	    "not an array");
	expect_errors("\n  []", NAME ":2:3: the top level must be an object, "
	    "not an array");
}

static void
test_duplicate_keys(void **state)
{
	expect_errors("{\"devices\": [],\n\"devices\": []}",
	    NAME ":2:9: duplicate object key near '\"devices\"'");
	expect_errors("{\"devices\": [{\"id\": \"a\", \"id\": \"b\"}]}",
	    NAME ":1:29: duplicate object key near '\"id\"'");
}

static void
test_deep_nesting(void **state)
{
	char text[8192];
	int depth;

	/* The root is level 1, so 63 more levels are allowed ... */
	depth = 63;
	snprintf(text, sizeof(text), "{\"devices\": [], \"x\": %.*s%.*s}",
	    depth, "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
	    "[[[[[[[[[[[[", depth, "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
	    "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]");
	expect_errors(text, NAME ":1:17: unknown key \"x\"");
	/* ... and the 65th is refused where it opens. */
	depth = 64;
	snprintf(text, sizeof(text), "{\"devices\": [], \"x\": %.*s%.*s}",
	    depth, "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
	    "[[[[[[[[[[[[", depth, "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
	    "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]");
	expect_errors(text, NAME ":1:85: x[0][0][0][0][0][0][0][0][0][0][0][0]"
	    "[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]"
	    "[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]"
	    "[0][0][0][0][0][0][0][0][0]: nesting too deep (more than 64 "
	    "levels)");
	/* Far deeper: jansson's own limit answers first. */
	memset(text, '[', 3000);
	memset(text + 3000, ']', 3000);
	text[6000] = '\0';
	expect_errors(text, NAME ":1:2049: maximum parsing depth reached "
	    "near '['");
}

static void
test_too_large(void **state)
{
	size_t n = 1024 * 1024;
	char *text = malloc(n + 2), *path, *err = NULL;
	struct vhostd_cfg *cfg;

	assert_non_null(text);
	/* Exactly 1 MiB: fine. */
	memset(text, ' ', n);
	memcpy(text, "{\"devices\": []}", 15);
	text[n] = '\0';
	path = tmpfile_with(text, n);
	cfg = cfg_load(path, &err);
	assert_non_null(cfg);
	assert_null(err);
	cfg_free(cfg);
	unlink(path);
	free(path);
	cfg_free(expect_ok(text));

	/* One byte more: refused. */
	text[n] = ' ';
	text[n + 1] = '\0';
	path = tmpfile_with(text, n + 1);
	cfg = cfg_load(path, &err);
	assert_null(cfg);
	assert_int_equal(errno, EINVAL);
	assert_non_null(err);
	assert_true(strncmp(err, path, strlen(path)) == 0);
	assert_string_equal(err + strlen(path),
	    ": too large (more than 1048576 bytes)");
	free(err);
	unlink(path);
	free(path);
	expect_errors(text, NAME ": too large (more than 1048576 bytes)");
	free(text);
}

static void
test_binary_file(void **state)
{
	const char bin[] = "{\"devices\": []}\n\x00\x01\x02\xff";
	char *path, *err = NULL, expect[256];
	struct vhostd_cfg *cfg;

	/* A NUL byte would end the text for jansson: refused where it is. */
	path = tmpfile_with(bin, sizeof(bin) - 1);
	cfg = cfg_load(path, &err);
	assert_null(cfg);
	snprintf(expect, sizeof(expect), "%s:2:1: NUL byte in the file", path);
	assert_string_equal(err, expect);
	free(err);
	unlink(path);
	free(path);

	path = tmpfile_with("\x7f" "ELF\x02\x01\x01", 7);
	cfg = cfg_load(path, &err);
	assert_null(cfg);
	/* jansson's text carries the raw byte; ours escapes it. */
	snprintf(expect, sizeof(expect), "%s:1:1: '[' or '{' expected near "
	    "'\\x7f'", path);
	assert_string_equal(err, expect);
	free(err);
	unlink(path);
	free(path);

	/* An empty file. */
	path = tmpfile_with("", 0);
	cfg = cfg_load(path, &err);
	assert_null(cfg);
	snprintf(expect, sizeof(expect), "%s:1:1: '[' or '{' expected near "
	    "end of file", path);
	assert_string_equal(err, expect);
	free(err);
	unlink(path);
	free(path);
}

static void
test_unreadable(void **state)
{
	char *err = NULL;

	errno = 0;
	assert_null(cfg_load("/nonexistent/vhostd.json", &err));
	assert_int_equal(errno, ENOENT);
	assert_string_equal(err, "/nonexistent/vhostd.json: cannot read: "
	    "No such file or directory");
	free(err);

	assert_null(cfg_load("/", &err));
	assert_int_equal(errno, EISDIR);
	assert_string_equal(err, "/: cannot read: Is a directory");
	free(err);

	/* errors may be NULL when the caller only wants yes or no. */
	assert_null(cfg_load("/nonexistent/vhostd.json", NULL));
	assert_null(cfg_load_string("[", NAME, NULL));
}

/* user, group, seccomp: names and numbers resolved, root refused. */
static void
test_user_group_seccomp(void **state)
{
	struct vhostd_cfg *cfg;
	char *errors;

	cfg = cfg_load_string("{\"user\": \"nobody\", \"group\": 0, "
	    "\"seccomp\": \"log\", \"devices\": []}", NAME, &errors);
	assert_non_null(cfg);
	assert_true(cfg->user_set);
	assert_int_equal(cfg->uid, 65534);
	assert_int_equal(cfg->gid, 0);
	assert_true(cfg->seccomp_log);
	cfg_free(cfg);
	cfg = cfg_load_string("{\"user\": 65534, \"devices\": []}", NAME,
	    &errors);
	assert_non_null(cfg);
	assert_int_equal(cfg->gid, 65534);	/* nobody's own group */
	assert_false(cfg->seccomp_log);
	cfg_free(cfg);
	expect_errors("{\"user\": \"no-such-user-xyz\", \"devices\": []}",
	    NAME ":1:10: user: unknown user \"no-such-user-xyz\"");
	expect_errors("{\"user\": \"root\", \"devices\": []}",
	    NAME ":1:10: user: must not be root: vhostd runs as an "
	    "unprivileged user once set up");
	expect_errors("{\"user\": -1, \"devices\": []}",
	    NAME ":1:10: user: must be a user name or a uid from 0 to "
	    "4294967294");
	expect_errors("{\"user\": true, \"devices\": []}",
	    NAME ":1:10: user: must be a user name or a uid");
	expect_errors("{\"group\": \"nogroup\", \"devices\": []}",
	    NAME ":1:11: group: needs \"user\"");
	expect_errors("{\"user\": \"nobody\", \"group\": \"no-such-grp\", "
	    "\"devices\": []}",
	    NAME ":1:29: group: unknown group \"no-such-grp\"");
	expect_errors("{\"seccomp\": \"off\", \"devices\": []}",
	    NAME ":1:13: seccomp: unknown mode \"off\" (expected kill or "
	    "log)");
}

/* "connect" and "reconnect_ms": vhostd connects to the front-end. */
static void
test_connect_mode(void **state)
{
	struct vhostd_cfg *cfg;
	char *errors;

	cfg = cfg_load_string("{\"devices\": [{\"id\": \"a\", \"type\": "
	    "\"rng\", \"socket\": \"/x/a.sock\", \"connect\": true, "
	    "\"reconnect_ms\": 250}, {\"id\": \"b\", \"type\": \"rng\", "
	    "\"socket\": \"/x/b.sock\", \"connect\": true}, {\"id\": \"c\", "
	    "\"type\": \"rng\", \"socket\": \"/x/c.sock\"}]}", NAME, &errors);
	assert_non_null(cfg);
	assert_true(cfg->devs[0].connect);
	assert_int_equal(cfg->devs[0].reconnect_ms, 250);
	assert_true(cfg->devs[1].connect);
	assert_int_equal(cfg->devs[1].reconnect_ms, 1000);
	assert_false(cfg->devs[2].connect);
	assert_true(cfg->devs[2].mem_slots);
	cfg_free(cfg);

	cfg = cfg_load_string("{\"devices\": [{\"id\": \"a\", \"type\": "
	    "\"rng\", \"socket\": \"/x/a.sock\", \"mem_slots\": false}]}",
	    NAME, &errors);
	assert_non_null(cfg);
	assert_false(cfg->devs[0].mem_slots);
	cfg_free(cfg);
	expect_errors("{\"devices\": [{\"id\": \"a\", \"type\": \"rng\", "
	    "\"socket\": \"/x/a.sock\", \"mem_slots\": \"no\"}]}",
	    NAME ":1:77: devices[0].mem_slots: must be true or false");

	expect_errors("{\"devices\": [{\"id\": \"a\", \"type\": \"rng\", "
	    "\"socket\": \"/x/a.sock\", \"connect\": 1}]}",
	    NAME ":1:75: devices[0].connect: must be true or false");
	expect_errors("{\"devices\": [{\"id\": \"a\", \"type\": \"rng\", "
	    "\"socket\": \"/x/a.sock\", \"connect\": true, \"reconnect_ms\": "
	    "50}]}",
	    NAME ":1:97: devices[0].reconnect_ms: must be an integer from "
	    "100 to 60000");
	expect_errors("{\"devices\": [{\"id\": \"a\", \"type\": \"rng\", "
	    "\"socket\": \"/x/a.sock\", \"reconnect_ms\": 500}]}",
	    NAME ":1:80: devices[0].reconnect_ms: applies only with "
	    "\"connect\": true");
	expect_errors("{\"devices\": [{\"id\": \"a\", \"type\": \"rng\", "
	    "\"socket\": \"/x/a.sock\", \"connect\": true, \"socket_mode\": "
	    "\"0660\"}]}",
	    NAME ":1:96: devices[0].socket_mode: does not apply with "
	    "\"connect\": true (the front-end makes the socket)");
}

/* socket_owner, socket_group, socket_mode, allow_uids, allow_gids. */
static void
test_socket_access(void **state)
{
	struct vhostd_cfg *cfg;
	char *errors;

	cfg = cfg_load_string("{\"devices\": [{\"id\": \"a\", \"type\": "
	    "\"rng\", \"socket\": \"/x/a.sock\", \"socket_owner\": "
	    "\"nobody\", \"socket_group\": 0, \"socket_mode\": \"0660\", "
	    "\"allow_uids\": [\"root\", 65534], \"allow_gids\": "
	    "[\"nogroup\"]}, {\"id\": \"b\", \"type\": \"rng\", "
	    "\"socket\": \"/x/b.sock\"}]}", NAME, &errors);
	assert_non_null(cfg);
	assert_int_equal(cfg->devs[0].sock_uid, 65534);
	assert_int_equal(cfg->devs[0].sock_gid, 0);
	assert_int_equal(cfg->devs[0].sock_mode, 0660);
	assert_true(cfg->devs[0].acl);
	assert_int_equal(cfg->devs[0].n_allow_uids, 2);
	assert_int_equal(cfg->devs[0].allow_uids[0], 0);
	assert_int_equal(cfg->devs[0].allow_uids[1], 65534);
	assert_int_equal(cfg->devs[0].n_allow_gids, 1);
	assert_int_equal(cfg->devs[0].allow_gids[0], 65534);
	/* Defaults: vhostd's own user, 0600, no allow-list. */
	assert_int_equal(cfg->devs[1].sock_uid, (uid_t)-1);
	assert_int_equal(cfg->devs[1].sock_gid, (gid_t)-1);
	assert_int_equal(cfg->devs[1].sock_mode, 0600);
	assert_false(cfg->devs[1].acl);
	cfg_free(cfg);

	expect_errors("{\"devices\": [{\"id\": \"a\", \"type\": \"rng\", "
	    "\"socket\": \"/x/a.sock\", \"socket_mode\": \"0888\"}]}",
	    NAME ":1:79: devices[0].socket_mode: must be a string of octal "
	    "permissions from \"0\" to \"0777\", such as \"0660\"");
	expect_errors("{\"devices\": [{\"id\": \"a\", \"type\": \"rng\", "
	    "\"socket\": \"/x/a.sock\", \"socket_mode\": 438}]}",
	    NAME ":1:79: devices[0].socket_mode: must be a string of octal "
	    "permissions from \"0\" to \"0777\", such as \"0660\"");
	expect_errors("{\"devices\": [{\"id\": \"a\", \"type\": \"rng\", "
	    "\"socket\": \"/x/a.sock\", \"socket_mode\": \"01777\"}]}",
	    NAME ":1:79: devices[0].socket_mode: must be a string of octal "
	    "permissions from \"0\" to \"0777\", such as \"0660\"");
	expect_errors("{\"devices\": [{\"id\": \"a\", \"type\": \"rng\", "
	    "\"socket\": \"/x/a.sock\", \"allow_uids\": []}]}",
	    NAME ":1:78: devices[0].allow_uids: must be an array of 1 to 64 "
	    "user names or uids");
	expect_errors("{\"devices\": [{\"id\": \"a\", \"type\": \"rng\", "
	    "\"socket\": \"/x/a.sock\", \"allow_uids\": [0, "
	    "\"nouser-xyz\"]}]}",
	    NAME ":1:82: devices[0].allow_uids[1]: unknown user "
	    "\"nouser-xyz\"");
	expect_errors("{\"devices\": [{\"id\": \"a\", \"type\": \"rng\", "
	    "\"socket\": \"/x/a.sock\", \"allow_gids\": \"root\"}]}",
	    NAME ":1:78: devices[0].allow_gids: must be an array of 1 to 64 "
	    "group names or gids");
	expect_errors("{\"devices\": [{\"id\": \"a\", \"type\": \"rng\", "
	    "\"socket\": \"/x/a.sock\", \"socket_owner\": \"nouser-xyz\", "
	    "\"socket_group\": {}}]}",
	    NAME ":1:80: devices[0].socket_owner: unknown user "
	    "\"nouser-xyz\"\n"
	    NAME ":1:110: devices[0].socket_group: must be a group name or a "
	    "gid");
}

/* Two instances claiming one unit of one shared resource: the later one
 * is the error, naming the first owner; other units and resources pass. */
static void
test_shared_claims(void **state)
{
	struct vhostd_cfg *cfg;
	char *errors;

	expect_errors("{\"devices\": [\n"
	    "{\"id\": \"a\", \"type\": \"testdev\", \"socket\": \"/x/a\", "
	    "\"name\": \"bus0\", \"count\": 4},\n"
	    "{\"id\": \"b\", \"type\": \"testdev\", \"socket\": \"/x/b\", "
	    "\"name\": \"bus1\", \"count\": 4},\n"
	    "{\"id\": \"c\", \"type\": \"testdev\", \"socket\": \"/x/c\", "
	    "\"name\": \"bus0\", \"count\": 4}]}",
	    NAME ":4:75: devices[2].count: unit 4 of test bus bus0 is already "
	    "given to a (devices[0])");
	cfg = cfg_load_string("{\"devices\": ["
	    "{\"id\": \"a\", \"type\": \"testdev\", \"socket\": \"/x/a\", "
	    "\"name\": \"bus0\", \"count\": 4},"
	    "{\"id\": \"b\", \"type\": \"testdev\", \"socket\": \"/x/b\", "
	    "\"name\": \"bus0\", \"count\": 5}]}", NAME, &errors);
	assert_non_null(cfg);
	cfg_free(cfg);
}

/* ---- datapath modes and poll cores ---- */

/*
 * The CPUs the loader is shown: sched_getaffinity is interposed here (the
 * loader's call resolves to this program's definition) and cfg_cpu_online
 * points at a file of the test's; cpus_real() goes back to the machine's.
 */
static bool fake_affinity_on;
static cpu_set_t fake_affinity;
static char online_file[64];

int
sched_getaffinity(pid_t pid, size_t size, cpu_set_t *set)
{
	long r;

	memset(set, 0, size);
	if (fake_affinity_on) {
		if (size < sizeof(*set)) {
			errno = EINVAL;
			return -1;
		}
		memcpy(set, &fake_affinity, sizeof(*set));
		return 0;
	}
	r = syscall(SYS_sched_getaffinity, pid, size, set);
	return r < 0 ? -1 : 0;
}

/* online: the text of the online file (NULL: no such file); affinity: a
 * mask of CPUs 0 to 63. */
static void
cpus_fake(const char *online, uint64_t affinity)
{
	static const char *real;
	unsigned c;
	int fd;

	if (real == NULL)
		real = cfg_cpu_online;
	if (online_file[0] == '\0') {
		strcpy(online_file, "/tmp/test_config.cpus.XXXXXX");
		assert_true((fd = mkstemp(online_file)) != -1);
		close(fd);
	}
	if (online != NULL) {
		assert_true((fd = open(online_file, O_WRONLY | O_TRUNC)) != -1);
		assert_int_equal(write(fd, online, strlen(online)),
		    (ssize_t)strlen(online));
		close(fd);
		cfg_cpu_online = online_file;
	} else
		cfg_cpu_online = "/nonexistent/cpu/online";
	CPU_ZERO(&fake_affinity);
	for (c = 0; c < 64; c++)
		if (affinity >> c & 1)
			CPU_SET(c, &fake_affinity);
	fake_affinity_on = true;
}

static void
cpus_real(void)
{
	fake_affinity_on = false;
	cfg_cpu_online = "/sys/devices/system/cpu/online";
	if (online_file[0] != '\0') {
		unlink(online_file);
		online_file[0] = '\0';
	}
}

static bool
set_is(const cpu_set_t *set, uint64_t mask)
{
	cpu_set_t want;
	unsigned c;

	CPU_ZERO(&want);
	for (c = 0; c < 64; c++)
		if (mask >> c & 1)
			CPU_SET(c, &want);
	return CPU_EQUAL(set, &want);
}

/* A device object without its closing brace: add keys, then "}". */
#define DEV(id) \
	"{\"id\": \"" id "\", \"type\": \"rng\", \"socket\": \"/x/" id "\""

/*
 * Every key read back, and the cores chosen: devices that name none get
 * the least loaded of poll_cores, the first in the list on a tie,
 * counting the devices that named one of them.
 */
static void
test_datapath_valid(void **state)
{
	struct vhostd_cfg *cfg;

	cpus_fake("0-7\n", 0xff);
	cfg = expect_ok("{\"poll_cores\": [2, 3, 5], \"devices\": [\n"
	    DEV("a") ", \"datapath\": \"poll\"},\n"
	    DEV("b") ", \"datapath\": \"adaptive\", \"poll_core\": 3},\n"
	    DEV("c") ", \"datapath\": \"poll\"},\n"
	    DEV("d") ", \"datapath\": \"adaptive\", \"adaptive_idle_us\": "
	    "1000000},\n"
	    DEV("e") "},\n"
	    DEV("f") ", \"datapath\": \"interrupt\"},\n"
	    DEV("g") ", \"datapath\": \"poll\"},\n"
	    DEV("h") ", \"datapath\": \"poll\", \"poll_core\": 6},\n"
	    DEV("i") ", \"datapath\": \"adaptive\", \"adaptive_idle_us\": 1,"
	    " \"poll_core\": 2}\n"
	    "]}");
	assert_int_equal(cfg->n_poll_cores, 3);
	assert_int_equal(cfg->poll_cores[0], 2);
	assert_int_equal(cfg->poll_cores[1], 3);
	assert_int_equal(cfg->poll_cores[2], 5);
	/* Named: b on 3, h on 6, i on 2.  Then a on 5 (2 and 3 have one,
	 * 5 none), c on 2 (all one, 2 first), d on 3, g on 5. */
	assert_int_equal(cfg->devs[0].datapath, CFG_DP_POLL);
	assert_int_equal(cfg->devs[0].poll_core, 5);
	assert_false(cfg->devs[0].poll_core_given);
	assert_int_equal(cfg->devs[1].datapath, CFG_DP_ADAPTIVE);
	assert_int_equal(cfg->devs[1].poll_core, 3);
	assert_true(cfg->devs[1].poll_core_given);
	assert_int_equal(cfg->devs[1].adaptive_idle_us, CFG_IDLE_US_DEFAULT);
	assert_int_equal(cfg->devs[2].poll_core, 2);
	assert_int_equal(cfg->devs[3].datapath, CFG_DP_ADAPTIVE);
	assert_int_equal(cfg->devs[3].poll_core, 3);
	assert_int_equal(cfg->devs[3].adaptive_idle_us, 1000000);
	assert_int_equal(cfg->devs[4].datapath, CFG_DP_INTERRUPT);
	assert_int_equal(cfg->devs[4].poll_core, -1);
	assert_int_equal(cfg->devs[5].datapath, CFG_DP_INTERRUPT);
	assert_int_equal(cfg->devs[5].poll_core, -1);
	assert_int_equal(cfg->devs[6].poll_core, 5);
	assert_int_equal(cfg->devs[7].poll_core, 6);
	assert_int_equal(cfg->devs[8].poll_core, 2);
	assert_int_equal(cfg->devs[8].adaptive_idle_us, 1);
	assert_true(cfg->has_poll_set);
	assert_true(set_is(&cfg->poll_set, 0x6c));	/* 2, 3, 5, 6 */
	assert_true(set_is(&cfg->main_set, 0x93));	/* 0, 1, 4, 7 */
	assert_string_equal(cfg_datapath_name(cfg->devs[1].datapath),
	    "adaptive");
	cfg_free(cfg);

	/* No poll cores at all: main's CPUs are left alone. */
	cfg = expect_ok("{\"devices\": [" DEV("a") "}]}");
	assert_false(cfg->has_poll_set);
	assert_int_equal(cfg->n_poll_cores, 0);
	assert_int_equal(cfg->devs[0].datapath, CFG_DP_INTERRUPT);
	assert_int_equal(cfg->devs[0].poll_core, -1);
	cfg_free(cfg);

	/* poll_core without poll_cores; poll_cores nobody uses is still
	 * kept from main. */
	cfg = expect_ok("{\"devices\": [" DEV("a") ", \"datapath\": "
	    "\"poll\", \"poll_core\": 0}]}");
	assert_int_equal(cfg->devs[0].poll_core, 0);
	assert_true(set_is(&cfg->poll_set, 0x01));
	assert_true(set_is(&cfg->main_set, 0xfe));
	cfg_free(cfg);
	cfg = expect_ok("{\"poll_cores\": [7], \"devices\": []}");
	assert_true(set_is(&cfg->main_set, 0x7f));
	cfg_free(cfg);

	/* Only online CPUs in the affinity count: 4 is offline, 1 outside
	 * the affinity, so main gets 0 and 5. */
	cpus_fake("0-3,5", 0x3d);
	cfg = expect_ok("{\"poll_cores\": [2, 3], \"devices\": []}");
	assert_true(set_is(&cfg->main_set, 0x21));
	cfg_free(cfg);

	/* Without the kernel's online list, the affinity alone. */
	cpus_fake(NULL, 0x0f);
	cfg = expect_ok("{\"poll_cores\": [3], \"devices\": []}");
	assert_true(set_is(&cfg->main_set, 0x07));
	cfg_free(cfg);
	cpus_fake("garbage\n", 0x0f);
	cfg = expect_ok("{\"poll_cores\": [3], \"devices\": []}");
	assert_true(set_is(&cfg->main_set, 0x07));
	cfg_free(cfg);
	cpus_real();
}

/* On this machine, if it has CPUs 0 and 1: poll_cores [1] keeps main
 * on 0. */
static void
test_datapath_real_cpus(void **state)
{
	struct vhostd_cfg *cfg;
	cpu_set_t s;

	cpus_real();
	if (sched_getaffinity(0, sizeof(s), &s) != 0 || !CPU_ISSET(0, &s) ||
	    !CPU_ISSET(1, &s) || CPU_COUNT(&s) != 2)
		skip();
	cfg = expect_ok("{\"poll_cores\": [1], \"devices\": [" DEV("a")
	    ", \"datapath\": \"poll\"}]}");
	assert_int_equal(cfg->devs[0].poll_core, 1);
	assert_true(set_is(&cfg->main_set, 0x01));
	cfg_free(cfg);
	expect_errors("{\"poll_cores\": [0, 1], \"devices\": []}",
	    NAME ":1:16: poll_cores: poll cores would take every CPU vhostd "
	    "may run on (0-1): main and interrupt-mode workers need one");
}

static void
test_poll_cores_errors(void **state)
{
	cpus_fake("0-7\n", 0xff);
	expect_errors("{\"poll_cores\": 1, \"devices\": []}",
	    NAME ":1:16: poll_cores: must be an array of 1 to 1024 CPU "
	    "numbers");
	expect_errors("{\"poll_cores\": [], \"devices\": []}",
	    NAME ":1:16: poll_cores: must be an array of 1 to 1024 CPU "
	    "numbers");
	expect_errors("{\"poll_cores\": [1, \"2\", -1, 1024, 1.5, 1, true], "
	    "\"devices\": []}",
	    NAME ":1:20: poll_cores[1]: must be a CPU number from 0 to "
	    "1023\n"
	    NAME ":1:25: poll_cores[2]: must be a CPU number from 0 to "
	    "1023\n"
	    NAME ":1:29: poll_cores[3]: must be a CPU number from 0 to "
	    "1023\n"
	    NAME ":1:35: poll_cores[4]: must be a CPU number from 0 to "
	    "1023\n"
	    NAME ":1:40: poll_cores[5]: CPU 1 is given twice\n"
	    NAME ":1:43: poll_cores[6]: must be a CPU number from 0 to "
	    "1023");
	/* Offline, outside the affinity. */
	cpus_fake("0-1,3\n", 0xff);
	expect_errors("{\"poll_cores\": [2, 3], \"devices\": []}",
	    NAME ":1:17: poll_cores[0]: CPU 2 is not online (online: "
	    "0-1,3)");
	cpus_fake("0-7\n", 0x07);
	expect_errors("{\"poll_cores\": [1, 3], \"devices\": []}",
	    NAME ":1:20: poll_cores[1]: CPU 3 is not in the CPU affinity "
	    "vhostd was started with (0-2)");
	cpus_fake(NULL, 0x07);
	expect_errors("{\"poll_cores\": [9], \"devices\": []}",
	    NAME ":1:17: poll_cores[0]: CPU 9 is not in the CPU affinity "
	    "vhostd was started with (0-2)");
	/* Nothing left for main: blamed on the entry that took the last
	 * CPU. */
	cpus_fake("0-3\n", 0xff);
	expect_errors("{\"poll_cores\": [0, 1, 2, 3], \"devices\": []}",
	    NAME ":1:16: poll_cores: poll cores would take every CPU "
	    "vhostd may run on (0-3): main and interrupt-mode workers need "
	    "one");
	expect_errors("{\"poll_cores\": [0, 1], \"devices\": [\n"
	    DEV("a") ", \"datapath\": \"poll\", \"poll_core\": 2},\n"
	    DEV("b") ", \"datapath\": \"poll\", \"poll_core\": 3},\n"
	    DEV("c") ", \"datapath\": \"poll\", \"poll_core\": 2}\n"
	    "]}",
	    NAME ":3:79: devices[1].poll_core: poll cores would take "
	    "every CPU vhostd may run on (0-3): main and interrupt-mode "
	    "workers need one");
	cpus_fake("0-2\n", 0x0f);
	expect_errors("{\"devices\": [\n"
	    DEV("a") ", \"datapath\": \"poll\", \"poll_core\": 2},\n"
	    DEV("b") ", \"datapath\": \"adaptive\", \"poll_core\": 0},\n"
	    DEV("c") ", \"datapath\": \"poll\", \"poll_core\": 1}\n"
	    "]}",
	    NAME ":4:79: devices[2].poll_core: poll cores would take "
	    "every CPU vhostd may run on (0-2): main and interrupt-mode "
	    "workers need one");
	cpus_real();
}

static void
test_datapath_errors(void **state)
{
	cpus_fake("0-7\n", 0xff);
	/* The mode. */
	expect_errors("{\"devices\": [" DEV("a") ", \"datapath\": \"fast\", "
	    "\"poll_core\": 99}]}",
	    NAME ":1:71: devices[0].datapath: unknown mode \"fast\" "
	    "(expected interrupt, poll or adaptive)\n"
	    NAME ":1:92: devices[0].poll_core: CPU 99 is not online "
	    "(online: 0-7)");
	expect_errors("{\"devices\": [" DEV("a") ", \"datapath\": 1}]}",
	    NAME ":1:71: devices[0].datapath: must be a string");
	expect_errors("{\"devices\": [" DEV("a") ", \"datapath\": \"\"}]}",
	   
	    NAME ":1:71: devices[0].datapath: must not be empty");
	/* A polled device needs a core. */
	expect_errors("{\"devices\": [" DEV("a") ", \"datapath\": \"poll\"},"
	    DEV("b") ", \"datapath\": \"adaptive\"}]}",
	    NAME ":1:71: devices[0].datapath: \"poll\" needs a CPU to "
	    "poll on: give \"poll_core\" or a top-level \"poll_cores\"\n"
	    NAME ":1:136: devices[1].datapath: \"adaptive\" needs a CPU "
	    "to poll on: give \"poll_core\" or a top-level \"poll_cores\"");
	/* ... but not twice when poll_cores is wrong. */
	expect_errors("{\"poll_cores\": [8, 9], \"devices\": [" DEV("a")
	    ", \"datapath\": \"poll\"}]}",
	    NAME ":1:17: poll_cores[0]: CPU 8 is not online (online: "
	    "0-7)\n"
	    NAME ":1:20: poll_cores[1]: CPU 9 is not online (online: 0-7)");
	expect_errors("{\"devices\": [" DEV("a") ", \"datapath\": \"poll\", "
	    "\"poll_core\": \"1\"}]}",
	    NAME ":1:92: devices[0].poll_core: must be an integer from 0 "
	    "to 1023");
	/* poll_core. */
	expect_errors("{\"poll_cores\": [1], \"devices\": [" DEV("a")
	    ", \"poll_core\": 1}," DEV("b") ", \"datapath\": \"interrupt\", "
	    "\"poll_core\": 1}]}",
	    NAME ":1:91: devices[0].poll_core: applies only with "
	    "\"datapath\": \"poll\" or \"adaptive\"\n"
	    NAME ":1:177: devices[1].poll_core: applies only with "
	    "\"datapath\": \"poll\" or \"adaptive\"");
	expect_errors("{\"devices\": [" DEV("a") ", \"datapath\": \"poll\", "
	    "\"poll_core\": -1}," DEV("b") ", \"datapath\": \"poll\", "
	    "\"poll_core\": 1024}," DEV("c") ", \"datapath\": \"poll\", "
	    "\"poll_core\": 8}]}",
	    NAME ":1:92: devices[0].poll_core: must be an integer from 0 "
	    "to 1023\n"
	    NAME ":1:174: devices[1].poll_core: must be an integer from 0 "
	    "to 1023\n"
	    NAME ":1:258: devices[2].poll_core: CPU 8 is not online "
	    "(online: 0-7)");
	cpus_fake("0-7\n", 0x0f);
	expect_errors("{\"devices\": [" DEV("a") ", \"datapath\": "
	    "\"adaptive\", \"poll_core\": 4}]}",
	    NAME ":1:96: devices[0].poll_core: CPU 4 is not in the CPU "
	    "affinity vhostd was started with (0-3)");
	cpus_fake("0-7\n", 0xff);
	/* adaptive_idle_us. */
	expect_errors("{\"poll_cores\": [1], \"devices\": [" DEV("a")
	    ", \"adaptive_idle_us\": 10}," DEV("b") ", \"datapath\": \"poll\", "
	    "\"adaptive_idle_us\": 10}]}",
	    NAME ":1:98: devices[0].adaptive_idle_us: applies only with "
	    "\"datapath\": \"adaptive\"\n"
	    NAME ":1:187: devices[1].adaptive_idle_us: applies only with "
	    "\"datapath\": \"adaptive\"");
	expect_errors("{\"poll_cores\": [1], \"devices\": [" DEV("a")
	    ", \"datapath\": \"adaptive\", \"adaptive_idle_us\": 0},"
	    DEV("b") ", \"datapath\": \"adaptive\", \"adaptive_idle_us\": "
	    "1000001}," DEV("c") ", \"datapath\": \"adaptive\", "
	    "\"adaptive_idle_us\": \"50\"}]}",
	    NAME ":1:122: devices[0].adaptive_idle_us: must be an integer "
	    "from 1 to 1000000\n"
	    NAME ":1:214: devices[1].adaptive_idle_us: must be an integer "
	    "from 1 to 1000000\n"
	    NAME ":1:312: devices[2].adaptive_idle_us: must be an integer "
	    "from 1 to 1000000");
	cpus_real();
}

/* control_socket: defaults, the forms, and errors placed as the others. */
static void
test_control_socket(void **state)
{
	struct vhostd_cfg *cfg;

	cfg = expect_ok("{\"runtime_dir\": \"/run/x\", \"devices\": []}");
	assert_true(cfg->control.enabled);
	assert_string_equal(cfg->control.path, "/run/x/control.sock");
	assert_int_equal(cfg->control.mode, 0600);
	assert_false(cfg->control.admin_set);
	assert_int_equal(cfg->control.uid, (uid_t)-1);
	cfg_free(cfg);
	cfg = expect_ok("{\"control_socket\": \"/run/c.sock\", \"devices\": "
	    "[]}");
	assert_string_equal(cfg->control.path, "/run/c.sock");
	cfg_free(cfg);
	cfg = expect_ok("{\"control_socket\": false, \"devices\": []}");
	assert_false(cfg->control.enabled);
	cfg_free(cfg);
	cfg = expect_ok("{\"control_socket\": {\"admin_group\": 4242, "
	    "\"owner\": 0, \"group\": 0}, \"devices\": []}");
	assert_true(cfg->control.admin_set);
	assert_int_equal(cfg->control.admin_gid, 4242);
	assert_int_equal(cfg->control.mode, 0660);
	assert_int_equal(cfg->control.uid, 0);
	assert_int_equal(cfg->control.gid, 0);
	assert_string_equal(cfg->control.path, "/run/vhostd/control.sock");
	cfg_free(cfg);
	cfg = expect_ok("{\"control_socket\": {\"path\": \"ctl/s\", \"mode\": "
	    "\"0640\"}, \"devices\": []}");
	assert_string_equal(cfg->control.path, "/run/vhostd/ctl/s");
	assert_int_equal(cfg->control.mode, 0640);
	cfg_free(cfg);

	expect_errors(
	    "{\"devices\": [" RNG("a", "a.sock") "],\n"
	    " \"control_socket\": {\"path\": \"a.sock\", \"mode\": \"999\", "
	    "\"colour\": 1}}",
	    NAME ":2:29: control_socket.path: /run/vhostd/a.sock is also the "
	    "socket of a (devices[0])\n"
	    NAME ":2:47: control_socket.mode: must be a string of octal "
	    "permissions from \"0\" to \"0777\", such as \"0660\"\n"
	    NAME ":2:54: control_socket: unknown key \"colour\"");
	expect_errors("{\"control_socket\": 5, \"devices\": []}",
	    NAME ":1:20: control_socket: must be a socket path, an object or "
	    "false");
	expect_errors("{\"control_socket\": true, \"devices\": []}",
	    NAME ":1:20: control_socket: must be a socket path, an object or "
	    "false");
	expect_errors("{\"control_socket\": {\"path\": \"/\"}, \"devices\": []}",
	    NAME ":1:29: control_socket.path: must name a socket file, not a "
	    "directory");
}

/* The default control socket would not fit in a long runtime_dir: no
 * control socket, not an error; one given that does not fit is. */
static void
test_control_socket_too_long(void **state)
{
	struct vhostd_cfg *cfg;
	char text[512];

	snprintf(text, sizeof(text), "{\"runtime_dir\": \"/%0*d\", "
	    "\"devices\": []}", 95, 0);
	cfg = expect_ok(text);
	assert_false(cfg->control.enabled);
	assert_true(cfg->control.too_long);
	cfg_free(cfg);
	snprintf(text, sizeof(text), "{\"runtime_dir\": \"/%0*d\", "
	    "\"control_socket\": \"control.sock\", \"devices\": []}", 95, 0);
	cfg = cfg_load_string(text, NAME, NULL);
	assert_null(cfg);
}

/* cfg_add_device over a string. */
static struct vhostd_cfg *
add_dev(const struct vhostd_cfg *cur, const char *text, char **err)
{
	return cfg_add_device(cur, text, strlen(text), "x.json", err);
}

/* vhostctl add: the device checked against the others, errors placed in
 * its own text under the path it would have. */
static void
test_add_device(void **state)
{
	struct vhostd_cfg *cur, *cfg;
	char *err = NULL;

	cur = expect_ok("{\"devices\": [" RNG("a", "a.sock") ", "
	    RNG("b", "b.sock") "]}");
	cfg = add_dev(cur, "{\"id\": \"c\", \"type\": \"rng\", "
	    "\"socket\": \"c.sock\"}", &err);
	if (cfg == NULL)
		fail_msg("%s", err);
	assert_null(err);
	assert_int_equal(cfg->ndevs, 3);
	assert_string_equal(cfg->devs[2].id, "c");
	assert_string_equal(cfg->devs[2].socket, "/run/vhostd/c.sock");
	assert_string_equal(cfg->path, NAME);

	/* Against the others, positions in the new text. */
	assert_null(add_dev(cfg, "{\"id\": \"a\",\n \"type\": \"rng\", "
	    "\"socket\": \"b.sock\"}", &err));
	assert_string_equal(err, "x.json:1:8: devices[3].id: duplicate id "
	    "\"a\" (also used by devices[0])\n"
	    "x.json:2:27: devices[3].socket: duplicate socket path "
	    "/run/vhostd/b.sock (also used by devices[1] \"b\")");
	free(err);
	assert_null(add_dev(cfg, "{\"id\": ", &err));
	assert_non_null(strstr(err, "x.json:1:"));
	free(err);
	assert_null(add_dev(cfg, "[1]", &err));
	assert_string_equal(err, "x.json:1:1: devices[3]: must be an object");
	free(err);
	assert_null(cfg_add_device(cfg, "{\"id\": \"d\"\0}", 12, "x.json",
	    &err));
	assert_string_equal(err, "x.json:1:11: NUL byte in the file");
	free(err);

	/* Forgotten, a device may come again. */
	assert_int_equal(cfg_forget_device(cfg, "a"), 0);
	assert_int_equal(cfg_forget_device(cfg, "a"), -1);
	assert_int_equal(cfg->ndevs, 2);
	cfg_free(cur);
	cur = add_dev(cfg, "{\"id\": \"a\", \"type\": \"rng\", "
	    "\"socket\": \"a.sock\"}", &err);
	if (cur == NULL)
		fail_msg("%s", err);
	assert_int_equal(cur->ndevs, 3);
	assert_string_equal(cur->devs[2].id, "a");
	cfg_free(cur);
	cfg_free(cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_datapath_valid),
		cmocka_unit_test(test_datapath_real_cpus),
		cmocka_unit_test(test_poll_cores_errors),
		cmocka_unit_test(test_datapath_errors),
		cmocka_unit_test(test_user_group_seccomp),
		cmocka_unit_test(test_socket_access),
		cmocka_unit_test(test_connect_mode),
		cmocka_unit_test(test_shared_claims),
		cmocka_unit_test(test_valid_roundtrip),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_limits_that_fit),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_example_configs),
		cmocka_unit_test(test_unknown_top_key),
		cmocka_unit_test(test_runtime_dir),
		cmocka_unit_test(test_control_socket),
		cmocka_unit_test(test_control_socket_too_long),
		cmocka_unit_test(test_add_device),
		cmocka_unit_test(test_runtime_dir_wrong_skips_relative_sockets),
		cmocka_unit_test(test_log_level),
		cmocka_unit_test(test_devices_shape),
		cmocka_unit_test(test_too_many_devices),
		cmocka_unit_test(test_missing_common_keys),
		cmocka_unit_test(test_id),
		cmocka_unit_test(test_duplicate_id),
		cmocka_unit_test(test_type),
		cmocka_unit_test(test_socket),
		cmocka_unit_test(test_duplicate_socket),
		cmocka_unit_test(test_device_unknown_key),
		cmocka_unit_test(test_rng_keys),
		cmocka_unit_test(test_helpers),
		cmocka_unit_test(test_positions),
		cmocka_unit_test(test_many_errors),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_duplicate_keys),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_too_large),
		cmocka_unit_test(test_binary_file),
		cmocka_unit_test(test_unreadable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
