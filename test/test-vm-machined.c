/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Which VM names machined accepts as machine names (the rest are not registered). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../src/cocoon-manager/vm-machined.h"

static void test_machine_name(void **state) {
        (void) state;
        static const char *const valid[] = { "web", "web-1", "a.b", "A9", "x" };
        static const char *const invalid[] = {
                "", ".web", "web.", "a..b", "web_1", "we b", "wéb",
                "12345678901234567890123456789012345678901234567890123456789012345",
        };
        for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
                assert_true(vm_machine_name_is_valid(valid[i]));
        for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
                assert_false(vm_machine_name_is_valid(invalid[i]));
        assert_false(vm_machine_name_is_valid(NULL));
        /* 64 characters is the limit, not over it. */
        assert_true(vm_machine_name_is_valid("12345678901234567890123456789012"
                                             "34567890123456789012345678901234"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_machine_name),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
