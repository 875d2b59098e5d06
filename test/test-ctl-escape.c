/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for the console escape sequence: option parsing, display form, and the input filter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../src/cocoonctl/ctl-escape.h"
#include "macro.h"

/* Feeds `in` and checks what is forwarded and whether the sequence ended. */
static void feed(EscapeFilter *f, const char *in, const char *expected_out, int expected_r) {
        uint8_t out[64];
        size_t n = SIZE_MAX;
        int r = escape_filter_feed(f, (const uint8_t *) in, strlen(in), out, &n);
        assert_int_equal(r, expected_r);
        assert_int_equal(n, strlen(expected_out));
        assert_memory_equal(out, expected_out, n);
}

static void test_plain_input_passes(void **state) {
        EscapeFilter f;
        escape_filter_init(&f, ESCAPE_CHAR_DEFAULT);
        feed(&f, "ls -l\r", "ls -l\r", 0);
        feed(&f, ".", ".", 0);
        feed(&f, "\x03\x04", "\x03\x04", 0); /* ^C and ^D belong to the guest */
}

static void test_escape_dot_ends(void **state) {
        EscapeFilter f;
        escape_filter_init(&f, ESCAPE_CHAR_DEFAULT);
        feed(&f, "abc\x1d.ignored", "abc", 1);

        escape_filter_init(&f, ESCAPE_CHAR_DEFAULT);
        feed(&f, "\x1d.", "", 1);
}

static void test_escape_other_forwards_both(void **state) {
        EscapeFilter f;
        escape_filter_init(&f, ESCAPE_CHAR_DEFAULT);
        feed(&f, "\x1dx", "\x1dx", 0);
        feed(&f, "a\x1d\x1d", "a\x1d\x1d", 0);
        feed(&f, "\x1d", "", 0);
        feed(&f, "\x1d", "\x1d\x1d", 0);
}

static void test_split_across_reads(void **state) {
        EscapeFilter f;
        escape_filter_init(&f, ESCAPE_CHAR_DEFAULT);
        feed(&f, "ab\x1d", "ab", 0);    /* held back until we know */
        feed(&f, ".", "", 1);

        escape_filter_init(&f, ESCAPE_CHAR_DEFAULT);
        feed(&f, "\x1d", "", 0);
        feed(&f, "q", "\x1dq", 0);      /* released with the byte that broke the sequence */
        feed(&f, "\x1d", "", 0);

        uint8_t out[1];
        assert_int_equal(escape_filter_flush(&f, out), 1U); /* end of input releases it */
        assert_int_equal(out[0], 0x1d);
        assert_int_equal(escape_filter_flush(&f, out), 0U);
}

static void test_custom_escape(void **state) {
        EscapeFilter f;
        uint8_t c;
        assert_int_equal(escape_char_parse("^a", &c), 0);
        escape_filter_init(&f, c);
        feed(&f, "\x1d.", "\x1d.", 0);
        feed(&f, "\x01.", "", 1);
}

static void test_escape_char_parse(void **state) {
        static const struct {
                const char *text;
                int r;
                uint8_t c;
        } cases[] = {
                { "^]", 0, 0x1d }, { "^a", 0, 0x01 }, { "^A", 0, 0x01 }, { "^z", 0, 0x1a },
                { "^_", 0, 0x1f }, { "~", 0, '~' },   { "x", 0, 'x' },   { "^", 0, '^' },
                { "^@", -EINVAL, 0 }, /* NUL */
                { "^J", -EINVAL, 0 }, /* LF */
                { "^M", -EINVAL, 0 }, /* CR */
                { "\x7f", -EINVAL, 0 }, { "\xc3\xa9", -EINVAL, 0 }, { "", -EINVAL, 0 },
                { "ab", -EINVAL, 0 },   { "^1", -EINVAL, 0 },       { "^]x", -EINVAL, 0 },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                uint8_t c = 0xff;
                assert_int_equal(escape_char_parse(cases[i].text, &c), cases[i].r);
                assert_int_equal(c, cases[i].r == 0 ? cases[i].c : 0xff);
        }
}

static void test_escape_char_format(void **state) {
        char buf[ESCAPE_CHAR_FORMAT_MAX];
        assert_string_equal(escape_char_format(0x1d, buf), "^]");
        assert_string_equal(escape_char_format(0x01, buf), "^A");
        assert_string_equal(escape_char_format('~', buf), "~");
        /* Round trip through the display form. */
        for (unsigned c = 1; c < 0x20; c++) {
                uint8_t back;
                if (c == '\r' || c == '\n')
                        continue;
                assert_int_equal(escape_char_parse(escape_char_format((uint8_t) c, buf), &back), 0);
                assert_int_equal(back, c);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_plain_input_passes),
                cmocka_unit_test(test_escape_dot_ends),
                cmocka_unit_test(test_escape_other_forwards_both),
                cmocka_unit_test(test_split_across_reads),
                cmocka_unit_test(test_custom_escape),
                cmocka_unit_test(test_escape_char_parse),
                cmocka_unit_test(test_escape_char_format),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
