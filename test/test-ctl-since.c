/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for the TIME of `vm logs --since`: RFC 3339, local times in two zones, durations, and refusals. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>

#include "../src/cocoonctl/ctl-since.h"
#include "time-util.h"

/* 2026-12-06T20:00:00Z */
#define T0 ((uint64_t) 1796587200 * USEC_PER_SEC)

static uint64_t since(const char *s) {
        uint64_t usec = 0;
        assert_int_equal(ctl_parse_since(s, T0, &usec), 0);
        return usec;
}

static void test_rfc3339(void **state) {
        assert_true(since("2026-12-06T20:00:00Z") == T0);
        assert_true(since("2026-12-06 21:00:00+01:00") == T0);
        assert_true(since("2026-12-06T19:59:59.5Z") == T0 - USEC_PER_SEC / 2);
}

static void test_local(void **state) {
        setenv("TZ", "UTC0", 1);
        tzset();
        assert_true(since("2026-12-06 20:00") == T0);
        assert_true(since("2026-12-06T20:00") == T0);
        assert_true(since("2026-12-06 20:00:30") == T0 + 30 * USEC_PER_SEC);
        assert_true(since("2026-12-06") == T0 - 20 * 3600 * USEC_PER_SEC);
        /* The operator's zone: an hour east of UTC, 20:00 there is 19:00 UTC. */
        setenv("TZ", "CET-1", 1);
        tzset();
        assert_true(since("2026-12-06 20:00") == T0 - 3600 * USEC_PER_SEC);
        unsetenv("TZ");
        tzset();
}

static void test_duration(void **state) {
        assert_true(since("10m") == T0 - 600 * USEC_PER_SEC);
        assert_true(since("2h") == T0 - 7200 * USEC_PER_SEC);
        assert_true(since("90s") == T0 - 90 * USEC_PER_SEC);
        assert_true(since("1d") == T0 - 86400 * USEC_PER_SEC);
        assert_true(since("0s") == T0);
}

static void test_refused(void **state) {
        const char *bad[] = { "", "m", "10", "10x", "-5m", "1.5h", "10 m", "yesterday", "2026-13-01 00:00",
                              "2026-12-06 20:00 junk", "20:00" };
        uint64_t usec;

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                assert_int_equal(ctl_parse_since(bad[i], T0, &usec), -EINVAL);
        assert_int_equal(ctl_parse_since("1969-12-31T23:00:00Z", T0, &usec), -ERANGE);
        assert_int_equal(ctl_parse_since("1970-01-01T00:00:00Z", T0, &usec), -ERANGE);
        assert_int_equal(ctl_parse_since("99999999999999999999d", T0, &usec), -ERANGE);
        assert_int_equal(ctl_parse_since("100000d", T0, &usec), -ERANGE); /* before 1970 */
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_rfc3339),
                cmocka_unit_test(test_local),
                cmocka_unit_test(test_duration),
                cmocka_unit_test(test_refused),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
