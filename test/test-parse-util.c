/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for parse-util: strict integers, sizes with binary units, size formatting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "macro.h"
#include "parse-util.h"

#define KIB UINT64_C(1024)
#define MIB (KIB * 1024)
#define GIB (MIB * 1024)
#define TIB (GIB * 1024)
#define EIB (TIB * 1024 * 1024)

static void check_u64(const char *s, int want_r, uint64_t want) {
        uint64_t v = 4711;

        assert_int_equal(parse_uint64(s, &v), want_r);
        assert_true(v == (want_r == 0 ? want : 4711));
}

static void test_parse_uint64(void **state) {
        uint32_t u32 = 0;

        check_u64("0", 0, 0);
        check_u64("42", 0, 42);
        check_u64("007", 0, 7);
        check_u64("18446744073709551615", 0, UINT64_MAX);
        check_u64("18446744073709551616", -ERANGE, 0);
        check_u64("99999999999999999999999", -ERANGE, 0);
        check_u64(NULL, -EINVAL, 0);
        check_u64("", -EINVAL, 0);
        check_u64("-1", -EINVAL, 0);
        check_u64("+1", -EINVAL, 0);
        check_u64(" 1", -EINVAL, 0);
        check_u64("1 ", -EINVAL, 0);
        check_u64("0x10", -EINVAL, 0);
        check_u64("1a", -EINVAL, 0);
        check_u64("1.0", -EINVAL, 0);

        assert_int_equal(parse_uint32("4294967295", &u32), 0);
        assert_true(u32 == UINT32_MAX);
        assert_int_equal(parse_uint32("4294967296", &u32), -ERANGE);
        assert_int_equal(parse_uint32("x", &u32), -EINVAL);
}

static void test_parse_int64(void **state) {
        int64_t v = 0;

        assert_int_equal(parse_int64("-9223372036854775808", &v), 0);
        assert_true(v == INT64_MIN);
        assert_int_equal(parse_int64("9223372036854775807", &v), 0);
        assert_true(v == INT64_MAX);
        assert_int_equal(parse_int64("-17", &v), 0);
        assert_true(v == -17);
        assert_int_equal(parse_int64("0", &v), 0);
        assert_true(v == 0);
        assert_int_equal(parse_int64("-9223372036854775809", &v), -ERANGE);
        assert_int_equal(parse_int64("9223372036854775808", &v), -ERANGE);
        assert_int_equal(parse_int64("-", &v), -EINVAL);
        assert_int_equal(parse_int64("--1", &v), -EINVAL);
        assert_int_equal(parse_int64("+1", &v), -EINVAL);
        assert_int_equal(parse_int64("", &v), -EINVAL);
        assert_true(v == 0);
}

static void check_size(const char *s, int want_r, uint64_t want) {
        uint64_t v = 4711;

        assert_int_equal(parse_size(s, &v), want_r);
        assert_true(v == (want_r == 0 ? want : 4711));
}

static void test_parse_size(void **state) {
        check_size("1073741824", 0, GIB);
        check_size("0", 0, 0);
        check_size("512M", 0, 512 * MIB);
        check_size("512m", 0, 512 * MIB);
        check_size("1G", 0, GIB);
        check_size("1g", 0, GIB);
        check_size("1GB", 0, GIB);
        check_size("1gb", 0, GIB);
        check_size("1GiB", 0, GIB);
        check_size("1gib", 0, GIB);
        check_size("1Gi", 0, GIB);
        check_size("256Mi", 0, 256 * MIB);
        check_size("256MiB", 0, 256 * MIB);
        check_size("256M", 0, 256 * MIB);
        check_size("4Ki", 0, 4 * KIB);
        check_size("2Ti", 0, 2 * TIB);
        check_size("1.5Gi", 0, GIB + GIB / 2);
        check_size("4K", 0, 4 * KIB);
        check_size("2T", 0, 2 * TIB);
        check_size("100B", 0, 100);
        check_size("100b", 0, 100);
        check_size("1.5G", 0, GIB + GIB / 2);
        check_size("0.5K", 0, 512);
        check_size("1.25M", 0, MIB + MIB / 4);
        check_size("0.1K", 0, 102); /* truncated */
        check_size("1.999999999K", 0, 2047);
        check_size("15E", 0, 15 * EIB);
        check_size("18446744073709551615", 0, UINT64_MAX);

        check_size("16E", -ERANGE, 0);
        check_size("15.5E", 0, 15 * EIB + EIB / 2);
        check_size("0.75E", 0, EIB / 4 * 3);
        check_size("18446744073709551616", -ERANGE, 0);
        check_size("17179869184G", -ERANGE, 0);

        check_size(NULL, -EINVAL, 0);
        check_size("", -EINVAL, 0);
        check_size("G", -EINVAL, 0);
        check_size(".5G", -EINVAL, 0);
        check_size("1.5", -EINVAL, 0); /* a fraction of a byte */
        check_size("1.5B", -EINVAL, 0);
        check_size("1.G", -EINVAL, 0);
        check_size("1X", -EINVAL, 0);
        check_size("1 G", -EINVAL, 0);
        check_size(" 1G", -EINVAL, 0);
        check_size("-1G", -EINVAL, 0);
        check_size("1GiBx", -EINVAL, 0);
        check_size("1iB", -EINVAL, 0);
        check_size("1GG", -EINVAL, 0);
        check_size("1Gib", 0, GIB);
        check_size("1Gii", -EINVAL, 0);
        check_size("1Bi", -EINVAL, 0);
        check_size("1i", -EINVAL, 0);
        check_size("1.1234567890G", -EINVAL, 0); /* more than 9 fraction digits */
}

static void check_format(uint64_t bytes, const char *want) {
        char buf[FORMAT_SIZE_MAX];

        assert_ptr_equal(format_size(bytes, buf), buf);
        assert_string_equal(buf, want);
}

static void test_format_size(void **state) {
        check_format(0, "0B");
        check_format(100, "100B");
        check_format(1023, "1023B");
        check_format(KIB, "1Ki");
        check_format(512 * MIB, "512Mi");
        check_format(GIB, "1Gi");
        check_format(GIB + GIB / 2, "1.5Gi");
        check_format(GIB + 1, "1.0Gi");
        check_format(2 * TIB, "2Ti");
        check_format(UINT64_MAX, "15.9Ei");
}

static void test_format_parse_round_trip(void **state) {
        uint64_t values[] = {0, 1, 1023, KIB, 3 * KIB, 512 * MIB, GIB, GIB + GIB / 2, 7 * TIB, 15 * EIB};

        for (size_t i = 0; i < ELEMENTSOF(values); i++) {
                char buf[FORMAT_SIZE_MAX];
                uint64_t v;

                assert_int_equal(parse_size(format_size(values[i], buf), &v), 0);
                assert_true(v == values[i]);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_uint64),
                cmocka_unit_test(test_parse_int64),
                cmocka_unit_test(test_parse_size),
                cmocka_unit_test(test_format_size),
                cmocka_unit_test(test_format_parse_round_trip),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
