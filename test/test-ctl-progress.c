/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for the progress line of cocoonctl ops and image import. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../src/cocoonctl/ctl-progress.h"

static void test_format_progress(void **state) {
        char buf[CTL_PROGRESS_MAX];

        assert_null(ctl_format_progress(-1, 100, buf));
        assert_string_equal(ctl_format_progress(0, 0, buf), "0B");
        assert_string_equal(ctl_format_progress(3 << 20, -1, buf), "3Mi");
        assert_string_equal(ctl_format_progress(512 << 20, 2LL << 30, buf), "512Mi / 2Gi (25%)");
        assert_string_equal(ctl_format_progress(2LL << 30, 2LL << 30, buf), "2Gi / 2Gi (100%)");
        /* A file that grew during the copy does not make it pass 100 %. */
        assert_string_equal(ctl_format_progress(3LL << 30, 2LL << 30, buf), "3Gi / 2Gi (100%)");
        /* The largest sizes do not overflow the share. */
        assert_non_null(strstr(ctl_format_progress(INT64_MAX, INT64_MAX, buf), " (100%)"));
        assert_non_null(strstr(ctl_format_progress(INT64_MAX / 2, INT64_MAX, buf), " (50%)"));
        assert_non_null(
                strstr(ctl_format_progress(INT64_MAX / 100 + 1, INT64_MAX / 100 + 1, buf), " (100%)"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_format_progress),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
