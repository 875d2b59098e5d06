/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for cocoonctl's tables: padding, the header line, and fitting a width by narrowing one column. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../src/cocoonctl/ctl-table.h"

static const char *const headers[] = { "ID", "NAME", "STATE" };

static Table *sample(void) {
        static const char *const rows[][3] = {
                { "a1", "web", "running" },
                { "b2", "a-rather-long-name-for-a-vm", "created" },
                { "c3", NULL, "error" },
        };
        Table *t = NULL;
        assert_int_equal(table_new(&t, headers, 3), 0);
        for (size_t i = 0; i < 3; i++)
                assert_int_equal(table_add_row(t, rows[i]), 0);
        assert_int_equal(table_rows(t), 3);
        return t;
}

/* What table_print_to() writes (the caller frees it). */
static char *print(const Table *t) {
        char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);
        assert_non_null(f);
        assert_int_equal(table_print_to(t, f), 0);
        assert_int_equal(fclose(f), 0);
        return text;
}

static void test_plain(void **state) {
        _cleanup_(table_freep) Table *t = sample();
        _cleanup_free_ char *text = print(t);
        assert_string_equal(text,
                            "ID  NAME                         STATE\n"
                            "a1  web                          running\n"
                            "b2  a-rather-long-name-for-a-vm  created\n"
                            "c3  -                            error\n");
}

static void test_no_header(void **state) {
        _cleanup_(table_freep) Table *t = NULL;
        static const char *const wide_header[] = { "IDENTIFIER", "N" };
        static const char *const row[] = { "a1", "web" };
        assert_int_equal(table_new(&t, wide_header, 2), 0);
        assert_int_equal(table_add_row(t, row), 0);
        table_set_header(t, false);
        /* Without the header its width no longer counts. */
        _cleanup_free_ char *text = print(t);
        assert_string_equal(text, "a1  web\n");
}

static void test_fit_width(void **state) {
        _cleanup_(table_freep) Table *t = sample();

        /* 2 + 2 + 27 + 2 + 7 = 40 columns; at 30 the name gives up 10 and ends in an ellipsis. */
        table_set_shrinkable(t, 1);
        table_set_width(t, 30);
        _cleanup_free_ char *text = print(t);
        assert_string_equal(text,
                            "ID  NAME               STATE\n"
                            "a1  web                running\n"
                            "b2  a-rather-long-na…  created\n"
                            "c3  -                  error\n");

        /* Wide enough, or no limit: nothing is cut. */
        table_set_width(t, 40);
        _cleanup_free_ char *whole = print(t);
        assert_non_null(strstr(whole, "a-rather-long-name-for-a-vm  created\n"));
        table_set_width(t, 0);
        _cleanup_free_ char *unlimited = print(t);
        assert_string_equal(whole, unlimited);

        /* Never narrower than TABLE_SHRINK_MIN: a very narrow terminal gets longer lines instead. */
        table_set_width(t, 5);
        table_set_ellipsis(t, "...");
        _cleanup_free_ char *narrow = print(t);
        assert_non_null(strstr(narrow, "\nb2  a-rat...  created\n"));
        assert_non_null(strstr(narrow, "\na1  web       running\n"));
}

static void test_no_shrinkable_column(void **state) {
        _cleanup_(table_freep) Table *t = sample();
        _cleanup_free_ char *whole = print(t);

        /* Only the column named shrinkable gives way. */
        table_set_width(t, 20);
        _cleanup_free_ char *text = print(t);
        assert_string_equal(whole, text);
}

static void test_control_characters(void **state) {
        _cleanup_(table_freep) Table *t = NULL;
        static const char *const row[] = { "a1", "start failed:\nqemu: \033[31mbad\033[0m\tx\x7f" };
        assert_int_equal(table_new(&t, headers, 2), 0);
        assert_int_equal(table_add_row(t, row), 0);
        _cleanup_free_ char *text = print(t);
        assert_string_equal(text, "ID  NAME\na1  start failed: qemu:  [31mbad [0m x \n");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_plain),
                cmocka_unit_test(test_no_header),
                cmocka_unit_test(test_fit_width),
                cmocka_unit_test(test_no_shrinkable_column),
                cmocka_unit_test(test_control_characters),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
