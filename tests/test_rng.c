/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the rng device (devices/rng.c) through the device
 * harness: getrandom fills buffers whole, small ones from a pool whose
 * bytes are never handed out twice, a source file's bytes come in
 * order, the rate limit holds requests until its period ends.
 */
#include "config.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "devtest.h"
#include "log.h"

static void
test_getrandom_fills(void **state)
{
	struct devtest t;
	uint8_t a[256], b[256];
	uint32_t n;
	size_t i, same = 0;

	devtest_init(&t, "\"type\": \"rng\"", UINT64_C(1) << 32);
	assert_int_equal(devtest_request(&t, 0, NULL, 0, a, sizeof(a), &n), 1);
	assert_int_equal(n, sizeof(a));
	assert_int_equal(devtest_request(&t, 0, NULL, 0, b, sizeof(b), &n), 1);
	assert_int_equal(n, sizeof(b));
	for (i = 0; i < sizeof(a); i++)
		same += a[i] == b[i];
	assert_true(same < 32);
	assert_memory_not_equal(a, b, sizeof(a));
	devtest_fini(&t);
}

/*
 * Small buffers come from a pool drawn a page at a time: across several
 * draws every buffer is full, and no pool byte is handed out twice (the
 * first 8 bytes of each of 200 buffers are all different).
 */
static void
test_small_requests_never_repeat(void **state)
{
	enum { N = 200, SZ = 64 };
	struct devtest t;
	static uint8_t buf[N][SZ];
	uint8_t big[300];
	uint32_t n;
	size_t i, j, zero;

	devtest_init(&t, "\"type\": \"rng\"", UINT64_C(1) << 32);
	for (i = 0; i < N; i++) {
		assert_int_equal(devtest_request(&t, 0, NULL, 0, buf[i], SZ,
		    &n), 1);
		assert_int_equal(n, SZ);
		/* A large buffer between small ones takes the direct path. */
		if (i == N / 2) {
			assert_int_equal(devtest_request(&t, 0, NULL, 0, big,
			    sizeof(big), &n), 1);
			assert_int_equal(n, sizeof(big));
		}
	}
	for (i = 0; i < N; i++) {
		for (zero = 0, j = 0; j < SZ; j++)
			zero += buf[i][j] == 0;
		assert_true(zero < SZ / 4);
		for (j = i + 1; j < N; j++)
			assert_memory_not_equal(buf[i], buf[j], 8);
	}
	devtest_fini(&t);
}

static void
test_source_in_order(void **state)
{
	char path[] = "/tmp/rngsrc-XXXXXX", json[256];
	uint8_t want[300], got[100];
	struct devtest t;
	uint32_t n;
	int fd, i;

	for (i = 0; i < 300; i++)
		want[i] = (uint8_t)(i * 7 + 3);
	assert_true((fd = mkstemp(path)) >= 0);
	assert_int_equal(write(fd, want, sizeof(want)), sizeof(want));
	close(fd);
	snprintf(json, sizeof(json), "\"type\": \"rng\", \"source\": \"%s\"",
	    path);
	devtest_init(&t, json, UINT64_C(1) << 32);
	for (i = 0; i < 3; i++) {
		assert_int_equal(devtest_request(&t, 0, NULL, 0, got,
		    sizeof(got), &n), 1);
		assert_int_equal(n, sizeof(got));
		assert_memory_equal(got, want + i * 100, sizeof(got));
	}
	/* At end of file: completed with no bytes. */
	assert_int_equal(devtest_request(&t, 0, NULL, 0, got, sizeof(got),
	    &n), 1);
	assert_int_equal(n, 0);
	devtest_fini(&t);
	unlink(path);
}

static void
test_rate_limit_holds(void **state)
{
	struct devtest t;
	uint8_t buf[64];
	uint32_t n, total = 0;
	uint16_t head;
	int i;

	devtest_init(&t, "\"type\": \"rng\", \"max_bytes\": 100, "
	    "\"period_ms\": 3600000", UINT64_C(1) << 32);
	assert_int_equal(devtest_request(&t, 0, NULL, 0, buf, 64, &n), 1);
	total += n;
	assert_int_equal(devtest_request(&t, 0, NULL, 0, buf, 64, &n), 1);
	total += n;
	assert_int_equal(total, 100);	/* the second got the 36 left */
	/* The budget is spent: the next request waits for the period. */
	assert_int_equal(devtest_request(&t, 0, NULL, 0, buf, 64, &n), 0);
	for (i = 0; i < 5; i++)
		devtest_dispatch(&t);
	assert_int_equal(devtest_used(&t, 0, &head, &n), 0);
	devtest_fini(&t);
}

static void
test_readable_only_request(void **state)
{
	struct devtest t;
	uint8_t junk[16] = { 0 };
	uint32_t n = 99;

	devtest_init(&t, "\"type\": \"rng\"", UINT64_C(1) << 32);
	/* No writable buffer: completed with 0 bytes, nothing broken. */
	assert_int_equal(devtest_request(&t, 0, junk, sizeof(junk), NULL, 0,
	    &n), 1);
	assert_int_equal(n, 0);
	devtest_fini(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_getrandom_fills),
		cmocka_unit_test(test_small_requests_never_repeat),
		cmocka_unit_test(test_source_in_order),
		cmocka_unit_test(test_rate_limit_holds),
		cmocka_unit_test(test_readable_only_request),
	};

	log_init(true, LOG_ERR, "test_rng");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
