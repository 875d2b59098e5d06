/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for cocoonctl's shared helpers: the client timeout and which calls wait without one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../src/cocoonctl/ctl-util.h"
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

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_client_timeout),
                cmocka_unit_test(test_long_running_methods),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
