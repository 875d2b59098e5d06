/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for cocoonctl's shared helpers: the client timeout, which calls wait without one, exit codes of
 * batches, references from stdin and errors as JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../src/cocoonctl/ctl-util.h"
#include "json-util.h"
#include "macro.h"
#include "strv-util.h"
#include "time-util.h"

static void test_client_timeout(void **state) {
        uint64_t usec = 0;

        assert_int_equal(ctl_parse_client_timeout(NULL, &usec), 0);
        assert_int_equal(usec, VARLINK_DEFAULT_TIMEOUT_USEC);
        assert_int_equal(ctl_parse_client_timeout("5", &usec), 0);
        assert_int_equal(usec, 5 * USEC_PER_SEC);
        assert_int_equal(ctl_parse_client_timeout("infinity", &usec), 0);
        assert_int_equal(usec, UINT64_MAX);

        /* 0 would be "the default" to the link, not "no wait": refused like anything else unclear. */
        usec = 7;
        assert_int_equal(ctl_parse_client_timeout("0", &usec), -EINVAL);
        assert_int_equal(ctl_parse_client_timeout("", &usec), -EINVAL);
        assert_int_equal(ctl_parse_client_timeout("-1", &usec), -EINVAL);
        assert_int_equal(ctl_parse_client_timeout("5s", &usec), -EINVAL);
        assert_int_equal(ctl_parse_client_timeout("soon", &usec), -EINVAL);
        assert_int_equal(ctl_parse_client_timeout("18446744073709551615", &usec), -EINVAL);
        assert_int_equal(usec, 7);
}

static void test_long_running_methods(void **state) {
        /* Calls that wait for guests or copies never get the client timeout. */
        assert_true(ctl_method_is_long_running("io.cocoon.VM.Stop"));
        assert_true(ctl_method_is_long_running("io.cocoon.VM.Start"));
        assert_true(ctl_method_is_long_running("io.cocoon.VM.Delete"));
        assert_true(ctl_method_is_long_running("io.cocoon.VM.Create"));
        assert_true(ctl_method_is_long_running("io.cocoon.Image.Import"));
        assert_true(ctl_method_is_long_running("io.cocoon.Manager.GarbageCollect"));
        /* Answers that come at once keep it. */
        assert_false(ctl_method_is_long_running("io.cocoon.VM.List"));
        assert_false(ctl_method_is_long_running("io.cocoon.VM.Inspect"));
        assert_false(ctl_method_is_long_running("io.cocoon.Manager.Describe"));
        assert_false(ctl_method_is_long_running("io.cocoon.VM.Stop2"));
        assert_false(ctl_method_is_long_running(""));
}

static void test_batch_exit_codes(void **state) {
        assert_int_equal(ctl_exit_code(ctl_batch_result(3, 0)), 0);
        assert_int_equal(ctl_exit_code(ctl_batch_result(0, 0)), 0);
        assert_int_equal(ctl_exit_code(ctl_batch_result(2, 1)), CTL_EXIT_PARTIAL);
        assert_int_equal(ctl_exit_code(ctl_batch_result(0, 4)), CTL_EXIT_FAILURE);
        assert_int_equal(ctl_exit_code(-ENOENT), CTL_EXIT_FAILURE);
        assert_int_equal(ctl_exit_code(-EBADE), CTL_EXIT_FAILURE);
        assert_int_equal(ctl_exit_code(1), 0);
        assert_int_equal(CTL_EXIT_PARTIAL, 3);
        /* A verb's own exit code (vm status), including 0 and the codes that collide with the fixed ones. */
        assert_int_equal(ctl_exit_code(CTL_ERROR_EXIT(0)), 0);
        assert_int_equal(ctl_exit_code(CTL_ERROR_EXIT(3)), 3);
        assert_int_equal(ctl_exit_code(CTL_ERROR_EXIT(6)), 6);
        assert_int_equal(ctl_exit_code(CTL_ERROR_EXIT(255)), 255);
}

static FILE *text_file(const char *text, size_t size) {
        FILE *f = tmpfile();
        assert_non_null(f);
        assert_int_equal(fwrite(text, 1, size, f), size);
        rewind(f);
        return f;
}

static void test_read_refs(void **state) {
        static const char text[] = "web\n\n  db  \r\n\t\n01JZ3ABCDEFGHJKMNPQRSTVWXY\nlast-without-newline";
        char **refs = NULL;
        FILE *f = text_file(text, sizeof(text) - 1);

        assert_int_equal(ctl_read_refs(f, &refs), 0);
        fclose(f);
        assert_non_null(refs);
        assert_string_equal(refs[0], "web");
        assert_string_equal(refs[1], "db");
        assert_string_equal(refs[2], "01JZ3ABCDEFGHJKMNPQRSTVWXY");
        assert_string_equal(refs[3], "last-without-newline");
        assert_null(refs[4]);
        refs = strv_free(refs);

        /* Nothing but blank lines: an empty list, not NULL (the caller tells "-" from no argument). */
        f = text_file("\n \n\n", 4);
        assert_int_equal(ctl_read_refs(f, &refs), 0);
        fclose(f);
        assert_non_null(refs);
        assert_null(refs[0]);
        refs = strv_free(refs);

        /* A NUL byte would cut a reference short: refused, nothing returned. */
        f = text_file("web\0x\n", 6);
        assert_int_equal(ctl_read_refs(f, &refs), -EINVAL);
        fclose(f);
        assert_null(refs);
}

/* Runs f with stderr going to a temporary file and returns what it wrote (static buffer). */
static const char *capture_stderr(void (*f)(void)) {
        static char buf[2048];
        FILE *tmp = tmpfile();
        int saved = dup(STDERR_FILENO);

        assert_non_null(tmp);
        assert_true(saved >= 0);
        fflush(stderr);
        assert_true(dup2(fileno(tmp), STDERR_FILENO) >= 0);
        f();
        fflush(stderr);
        assert_true(dup2(saved, STDERR_FILENO) >= 0);
        close(saved);
        rewind(tmp);
        size_t n = fread(buf, 1, sizeof(buf) - 1, tmp);
        buf[n] = '\0';
        fclose(tmp);
        return buf;
}

static void log_local_error(void) {
        assert_int_equal(ctl_log_errno(ECONNREFUSED, "cannot connect to %s: %m", "/run/x"), -ECONNREFUSED);
}

static void report_varlink_error(void) {
        _cleanup_(json_object_putp) json_object *p = json_tokener_parse("{\"reference\":\"web\"}");
        assert_int_equal(ctl_report_error("io.cocoon.VM.NoSuchVM", p), -EBADE);
}

static void report_ref_error(void) {
        ctl_report_ref_error("rm", "web", "io.cocoon.VM.NoSuchVM", "no VM web");
}

static void test_errors_text_and_json(void **state) {
        arg_json = false;
        assert_string_equal(capture_stderr(log_local_error),
                            "cocoonctl: cannot connect to /run/x: Connection refused\n");
        assert_string_equal(capture_stderr(report_varlink_error),
                            "cocoonctl: io.cocoon.VM.NoSuchVM: {\"reference\":\"web\"}\n");
        assert_string_equal(capture_stderr(report_ref_error),
                            "cocoonctl: rm web: io.cocoon.VM.NoSuchVM: no VM web\n");

        /* Under --json every error is one JSON object on a line of its own. */
        arg_json = true;
        assert_string_equal(capture_stderr(log_local_error),
                            "{\"error\":\"cocoonctl.Failed\",\"parameters\":{\"errno\":\"ECONNREFUSED\"},"
                            "\"message\":\"cannot connect to /run/x: Connection refused\"}\n");
        assert_string_equal(capture_stderr(report_varlink_error),
                            "{\"error\":\"io.cocoon.VM.NoSuchVM\","
                            "\"parameters\":{\"reference\":\"web\"},"
                            "\"message\":\"{\\\"reference\\\":\\\"web\\\"}\"}\n");
        assert_string_equal(capture_stderr(report_ref_error),
                            "{\"error\":\"io.cocoon.VM.NoSuchVM\",\"parameters\":{\"reference\":\"web\","
                            "\"message\":\"no VM web\"},\"message\":\"no VM web\"}\n");
        arg_json = false;
}

static void usage_error_of_verb(void) {
        assert_int_equal(ctl_usage_error("vm stop", "--forse", "unknown option '%s'", "--forse"), -EINVAL);
}

static void usage_error_without_verb(void) {
        assert_int_equal(ctl_usage_error(NULL, NULL, "no command given"), -EINVAL);
}

static void test_usage_errors(void **state) {
        arg_json = arg_json_errors = false;
        assert_string_equal(capture_stderr(usage_error_of_verb),
                            "cocoonctl vm stop: unknown option '--forse'\n");
        assert_string_equal(capture_stderr(usage_error_without_verb), "cocoonctl: no command given\n");

        /* --json seen on the command line before the parser got to it: JSON, as under --json. */
        arg_json_errors = true;
        assert_string_equal(capture_stderr(usage_error_of_verb),
                            "{\"error\":\"cocoonctl.UsageError\",\"parameters\":{\"verb\":\"vm stop\","
                            "\"option\":\"--forse\"},\"message\":\"unknown option '--forse'\"}\n");
        assert_string_equal(capture_stderr(usage_error_without_verb),
                            "{\"error\":\"cocoonctl.UsageError\",\"parameters\":{},"
                            "\"message\":\"no command given\"}\n");
        /* And every other kind of error with it. */
        assert_string_equal(capture_stderr(log_local_error),
                            "{\"error\":\"cocoonctl.Failed\",\"parameters\":{\"errno\":\"ECONNREFUSED\"},"
                            "\"message\":\"cannot connect to /run/x: Connection refused\"}\n");
        arg_json_errors = false;
}

#define WORDS(...) ((char *[]) { __VA_ARGS__, NULL })

static bool wants_json(char **words) {
        int argc = 0;
        while (words[argc])
                argc++;
        return ctl_argv_wants_json(argc, words);
}

static void test_argv_wants_json(void **state) {
        assert_true(wants_json(WORDS("cocoonctl", "vm", "list", "--json")));
        assert_true(wants_json(WORDS("cocoonctl", "--json", "vm", "list", "--bogus")));
        assert_true(wants_json(WORDS("cocoonctl", "vm", "list", "--bogus", "--js")));
        assert_true(wants_json(WORDS("cocoonctl", "vm", "list", "-o", "json")));
        assert_true(wants_json(WORDS("cocoonctl", "vm", "list", "-ojson")));
        assert_true(wants_json(WORDS("cocoonctl", "vm", "list", "--output", "json")));
        assert_true(wants_json(WORDS("cocoonctl", "vm", "list", "--output=json")));
        assert_false(wants_json(WORDS("cocoonctl", "vm", "list")));
        assert_false(wants_json(WORDS("cocoonctl", "vm", "list", "-o", "wide")));
        assert_false(wants_json(WORDS("cocoonctl", "vm", "list", "-o")));
        assert_false(wants_json(WORDS("cocoonctl", "vm", "list", "--jsonx", "--")));
        assert_false(wants_json(WORDS("cocoonctl", "vm", "rm", "--", "--json")));
        assert_false(wants_json(WORDS("cocoonctl", "vm", "list", "--", "-o", "json")));
        assert_false(wants_json(WORDS("cocoonctl", "json")));
}

static void check_relative(uint64_t age_sec, const char *want) {
        char buf[64];
        uint64_t now = UINT64_C(1800000000) * USEC_PER_SEC;
        ctl_format_relative_time(now - age_sec * USEC_PER_SEC, now, buf, sizeof(buf));
        assert_string_equal(buf, want);
}

static void test_relative_time(void **state) {
        char buf[64];

        check_relative(0, "just now");
        check_relative(1, "1 second ago");
        check_relative(59, "59 seconds ago");
        check_relative(60, "1 minute ago");
        check_relative(5 * 60 + 30, "5 minutes ago");
        check_relative(3600, "1 hour ago");
        check_relative(2 * 3600, "2 hours ago");
        check_relative(47 * 3600, "47 hours ago");
        check_relative(48 * 3600, "2 days ago");
        check_relative(13 * 86400, "13 days ago");
        check_relative(14 * 86400, "2 weeks ago");
        check_relative(59 * 86400, "8 weeks ago");
        check_relative(60 * 86400, "2 months ago");
        check_relative(729 * 86400, "24 months ago");
        check_relative(730 * 86400, "2 years ago");
        /* A record from a clock ahead of ours is not "in the future" to people. */
        ctl_format_relative_time(10 * USEC_PER_SEC, 5 * USEC_PER_SEC, buf, sizeof(buf));
        assert_string_equal(buf, "just now");
}

static void test_output_resolve(void **state) {
        char id[CTL_SHORT_ID_LENGTH + 1];

        arg_json = arg_quiet = arg_no_trunc = false;
        arg_output = NULL;
        assert_int_equal(ctl_output_resolve("vm list"), 0);
        assert_int_equal(arg_output_mode, OUTPUT_TABLE);
        assert_string_equal(ctl_id_cell("abcdefghijklmnopqrstuvwxyz", id), "abcdefghijkl");
        assert_string_equal(ctl_id_cell("short", id), "short");
        assert_null(ctl_id_cell(NULL, id));
        arg_no_trunc = true;
        assert_string_equal(ctl_id_cell("abcdefghijklmnopqrstuvwxyz", id), "abcdefghijklmnopqrstuvwxyz");
        arg_no_trunc = false;

        arg_output = "wide";
        assert_int_equal(ctl_output_resolve("vm list"), 0);
        assert_int_equal(arg_output_mode, OUTPUT_WIDE);
        assert_false(arg_json);
        assert_string_equal(ctl_id_cell("abcdefghijklmnopqrstuvwxyz", id), "abcdefghijklmnopqrstuvwxyz");

        /* -o json is --json, and --json alone is -o json. */
        arg_output = "json";
        assert_int_equal(ctl_output_resolve("vm list"), 0);
        assert_int_equal(arg_output_mode, OUTPUT_JSON);
        assert_true(arg_json);
        arg_output = NULL;
        assert_int_equal(ctl_output_resolve("vm list"), 0);
        assert_int_equal(arg_output_mode, OUTPUT_JSON);

        /* Contradictions and unknown formats are usage errors. */
        arg_output = "table";
        assert_int_equal(ctl_output_resolve("vm list"), -EINVAL);
        arg_json = false;
        arg_output = "yaml";
        assert_int_equal(ctl_output_resolve("vm list"), -EINVAL);
        arg_output = "wide";
        arg_quiet = true;
        assert_int_equal(ctl_output_resolve("vm list"), -EINVAL);
        arg_output = NULL;
        assert_int_equal(ctl_output_resolve("vm list"), 0);
        assert_int_equal(arg_output_mode, OUTPUT_TABLE);
        arg_quiet = false;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_client_timeout),
                cmocka_unit_test(test_long_running_methods),
                cmocka_unit_test(test_batch_exit_codes),
                cmocka_unit_test(test_read_refs),
                cmocka_unit_test(test_errors_text_and_json),
                cmocka_unit_test(test_usage_errors),
                cmocka_unit_test(test_argv_wants_json),
                cmocka_unit_test(test_relative_time),
                cmocka_unit_test(test_output_resolve),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
