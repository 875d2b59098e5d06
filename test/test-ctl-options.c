/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for cocoonctl's per-verb options: edit distance, "did you mean", parsing against a verb's table. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../src/cocoonctl/ctl-options.h"
#include "macro.h"

static bool force, follow, json;
static const char *timeout, *name;

static const CtlOption stop_options[] = {
        CTL_FLAG("force", 'f', &force, "force"),
        CTL_VALUE("timeout", 0, "SEC", &timeout, "timeout"),
        CTL_FLAG("json", 0, &json, "json"),
};

static const CtlOption logs_options[] = {
        CTL_FLAG("follow", 'f', &follow, "follow"),
        CTL_VALUE("name", 'n', "NAME", &name, "name"),
};

static void reset(void) {
        force = follow = json = false;
        timeout = name = NULL;
}

/* Parses a NULL-terminated list of words after a dummy argv[0]; positional words land in *ret_first.. */
static int parse(const CtlOption *options, size_t n, char **argv, int *ret_first) {
        int argc = 0;
        while (argv[argc])
                argc++;
        reset();
        return ctl_options_parse("vm test", options, n, false, argc, argv, ret_first);
}

static void test_edit_distance(void **state) {
        assert_int_equal(ctl_edit_distance("", ""), 0);
        assert_int_equal(ctl_edit_distance("force", "force"), 0);
        assert_int_equal(ctl_edit_distance("forse", "force"), 1);
        assert_int_equal(ctl_edit_distance("frce", "force"), 1);
        assert_int_equal(ctl_edit_distance("forcee", "force"), 1);
        assert_int_equal(ctl_edit_distance("memroy", "memory"), 2);
        assert_int_equal(ctl_edit_distance("kernel", "force"), 4); /* k/f e/o n/c, drop l */
        assert_int_equal(ctl_edit_distance("", "json"), 4);
        char longer[100];
        memset(longer, 'a', sizeof longer - 1);
        longer[sizeof longer - 1] = '\0';
        assert_true(ctl_edit_distance(longer, "json") == SIZE_MAX);
}

static void test_suggest(void **state) {
        assert_string_equal(ctl_option_suggest("forse", stop_options, ELEMENTSOF(stop_options)), "force");
        assert_string_equal(ctl_option_suggest("jsn", stop_options, ELEMENTSOF(stop_options)), "json");
        assert_string_equal(ctl_option_suggest("timout=3", stop_options, ELEMENTSOF(stop_options)),
                            "timeout");
        /* Far from everything, or short enough that two edits could make it anything: no suggestion. */
        assert_null(ctl_option_suggest("memory", stop_options, ELEMENTSOF(stop_options)));
        assert_null(ctl_option_suggest("x", stop_options, ELEMENTSOF(stop_options)));
        assert_null(ctl_option_suggest("", stop_options, ELEMENTSOF(stop_options)));
}

static void test_parse_mixed(void **state) {
        char *argv[] = { (char *) "stop", (char *) "a", (char *) "-f", (char *) "b", (char *) "--timeout=5",
                         (char *) "--json", NULL };
        int first = -1;
        assert_int_equal(parse(stop_options, ELEMENTSOF(stop_options), argv, &first), 0);
        assert_true(force);
        assert_true(json);
        assert_string_equal(timeout, "5");
        assert_int_equal(first, 4);
        assert_string_equal(argv[first], "a");
        assert_string_equal(argv[first + 1], "b");
}

static void test_parse_short_means_per_verb(void **state) {
        char *stop_argv[] = { (char *) "stop", (char *) "-f", (char *) "a", NULL };
        char *logs_argv[] = { (char *) "logs", (char *) "-f", (char *) "a", NULL };
        int first;
        assert_int_equal(parse(stop_options, ELEMENTSOF(stop_options), stop_argv, &first), 0);
        assert_true(force);
        assert_false(follow);
        assert_int_equal(parse(logs_options, ELEMENTSOF(logs_options), logs_argv, &first), 0);
        assert_true(follow);
        assert_false(force);
}

static void test_parse_errors(void **state) {
        char *unknown[] = { (char *) "stop", (char *) "a", (char *) "--memory", (char *) "4G", NULL };
        char *near[] = { (char *) "stop", (char *) "--forse", NULL };
        char *short_unknown[] = { (char *) "stop", (char *) "-x", NULL };
        char *missing[] = { (char *) "stop", (char *) "--timeout", NULL };
        char *missing_short[] = { (char *) "logs", (char *) "-n", NULL };
        char *extra_value[] = { (char *) "stop", (char *) "--force=yes", NULL };
        int first;
        assert_int_equal(parse(stop_options, ELEMENTSOF(stop_options), unknown, &first), -EINVAL);
        assert_int_equal(parse(stop_options, ELEMENTSOF(stop_options), near, &first), -EINVAL);
        assert_int_equal(parse(stop_options, ELEMENTSOF(stop_options), short_unknown, &first), -EINVAL);
        assert_int_equal(parse(stop_options, ELEMENTSOF(stop_options), missing, &first), -EINVAL);
        assert_int_equal(parse(logs_options, ELEMENTSOF(logs_options), missing_short, &first), -EINVAL);
        assert_int_equal(parse(stop_options, ELEMENTSOF(stop_options), extra_value, &first), -EINVAL);
        assert_false(force);
}

static void test_parse_double_dash_ends_options(void **state) {
        char *argv[] = { (char *) "stop", (char *) "--", (char *) "--force", NULL };
        int first;
        assert_int_equal(parse(stop_options, ELEMENTSOF(stop_options), argv, &first), 0);
        assert_false(force);
        assert_string_equal(argv[first], "--force");
}

static void test_parse_stop_at_word(void **state) {
        char *argv[] = { (char *) "cocoonctl", (char *) "--json", (char *) "vm", (char *) "--force", NULL };
        int first;
        reset();
        int r = ctl_options_parse(NULL, stop_options, ELEMENTSOF(stop_options), true, 4, argv, &first);
        assert_int_equal(r, 0);
        assert_true(json);
        assert_false(force);
        assert_int_equal(first, 2);
        assert_string_equal(argv[first], "vm");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_edit_distance),
                cmocka_unit_test(test_suggest),
                cmocka_unit_test(test_parse_mixed),
                cmocka_unit_test(test_parse_short_means_per_verb),
                cmocka_unit_test(test_parse_errors),
                cmocka_unit_test(test_parse_double_dash_ends_options),
                cmocka_unit_test(test_parse_stop_at_word),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
