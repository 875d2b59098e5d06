/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for time-util: RFC 3339 formatting and parsing, clocks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "macro.h"
#include "time-util.h"

/* 2026-11-28T14:29:01.123456Z */
#define T1 UINT64_C(1795876141123456)

static void check_format(uint64_t usec, const char *want) {
        _cleanup_free_ char *s = NULL;

        assert_int_equal(timestamp_format_rfc3339(usec, &s), 0);
        assert_string_equal(s, want);
}

static void check_parse(const char *s, int want_r, uint64_t want) {
        uint64_t t = 4711;

        assert_int_equal(timestamp_parse_rfc3339(s, &t), want_r);
        assert_true(t == (want_r == 0 ? want : 4711)); /* untouched on failure */
}

static void test_format(void **state) {
        _cleanup_free_ char *s = NULL;

        check_format(0, "1970-01-01T00:00:00.000000Z");
        check_format(T1, "2026-11-28T14:29:01.123456Z");
        check_format(951782400 * USEC_PER_SEC + 7, "2000-02-29T00:00:00.000007Z");
        check_format(UINT64_C(253402300799999999), "9999-12-31T23:59:59.999999Z");
        assert_int_equal(timestamp_format_rfc3339(UINT64_C(253402300800000000), &s), -ERANGE);
        assert_int_equal(timestamp_format_rfc3339(UINT64_MAX, &s), -ERANGE);
        assert_null(s);
}

static void test_parse(void **state) {
        check_parse("2026-11-28T14:29:01.123456Z", 0, T1);
        check_parse("2026-11-28t14:29:01.123456z", 0, T1);
        check_parse("2026-11-28 14:29:01.123456Z", 0, T1);
        /* Go's RFC3339Nano (the predecessor): nanoseconds, trailing zeros trimmed. */
        check_parse("2026-11-28T14:29:01.123456789Z", 0, T1);
        check_parse("2026-11-28T14:29:01.5Z", 0, T1 - 123456 + 500000);
        check_parse("2026-11-28T14:29:01Z", 0, T1 - 123456);
        check_parse("2026-11-28T15:29:01.123456+01:00", 0, T1);
        check_parse("2026-11-28T09:59:01.123456-04:30", 0, T1);
        check_parse("1970-01-01T00:00:00Z", 0, 0);
        check_parse("1970-01-01T01:00:00+01:00", 0, 0);
        check_parse("2024-02-29T00:00:00Z", 0, UINT64_C(1709164800) * USEC_PER_SEC);

        check_parse("1969-12-31T23:59:59Z", -ERANGE, 0);
        check_parse("1970-01-01T00:00:00+00:01", -ERANGE, 0);
        check_parse("", -EINVAL, 0);
        check_parse(NULL, -EINVAL, 0);
        check_parse("2026-11-28", -EINVAL, 0);
        check_parse("2026-11-28T14:29:01", -EINVAL, 0); /* no zone */
        check_parse("2026-11-28T14:29:01.Z", -EINVAL, 0); /* empty fraction */
        check_parse("2026-11-28T14:29:01Zx", -EINVAL, 0); /* trailing garbage */
        check_parse("2026-13-01T00:00:00Z", -EINVAL, 0);
        check_parse("2026-00-01T00:00:00Z", -EINVAL, 0);
        check_parse("2026-02-29T00:00:00Z", -EINVAL, 0); /* not a leap year */
        check_parse("2100-02-29T00:00:00Z", -EINVAL, 0); /* neither */
        check_parse("2026-04-31T00:00:00Z", -EINVAL, 0);
        check_parse("2026-11-28T24:00:00Z", -EINVAL, 0);
        check_parse("2026-11-28T23:60:00Z", -EINVAL, 0);
        check_parse("2026-11-28T23:59:60Z", -EINVAL, 0);
        check_parse("2026-11-28T23:59:59+24:00", -EINVAL, 0);
        check_parse("2026-11-28T23:59:59+0100", -EINVAL, 0);
        check_parse("26-11-28T23:59:59Z", -EINVAL, 0);
        check_parse("+2026-11-28T23:59:59Z", -EINVAL, 0);
}

static void test_round_trip(void **state) {
        uint64_t values[] = {
                0, 1, 999999, 1000000, T1, UINT64_C(4102444800000000), UINT64_C(253402300799999999)};

        for (size_t i = 0; i < ELEMENTSOF(values); i++) {
                _cleanup_free_ char *s = NULL;
                uint64_t t;

                assert_int_equal(timestamp_format_rfc3339(values[i], &s), 0);
                assert_int_equal(timestamp_parse_rfc3339(s, &t), 0);
                assert_true(t == values[i]);
        }
}

static void test_sorting(void **state) {
        _cleanup_free_ char *a = NULL, *b = NULL;

        /* Fixed width: string order is time order, also across a fraction roll-over. */
        assert_int_equal(timestamp_format_rfc3339(T1 - 1, &a), 0);
        assert_int_equal(timestamp_format_rfc3339(T1 + 1000000, &b), 0);
        assert_true(strcmp(a, b) < 0);
}

static void test_now(void **state) {
        uint64_t a, b;

        /* No wall-clock assertion beyond "after this code was written". */
        assert_true(now_usec(CLOCK_REALTIME) > UINT64_C(1700000000) * USEC_PER_SEC);
        a = now_usec(CLOCK_MONOTONIC);
        b = now_usec(CLOCK_MONOTONIC);
        assert_true(b >= a);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_format),     cmocka_unit_test(test_parse),
                cmocka_unit_test(test_round_trip), cmocka_unit_test(test_sorting),
                cmocka_unit_test(test_now),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
