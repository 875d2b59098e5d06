/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for record-dispatch: the id and timestamp fields the record loaders share. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "id.h"
#include "json-util.h"
#include "record-dispatch.h"

static void test_id(void **state) {
        char id[ID_LENGTH + 1] = "";
        char generated[ID_LENGTH + 1];

        assert_int_equal(id_generate(generated), 0);
        _cleanup_(json_object_putp) json_object *good = json_object_new_string(generated);
        assert_int_equal(record_dispatch_id("id", good, id), 0);
        assert_string_equal(id, generated);

        /* Too short, too long, outside the alphabet, with a path in it: refused, the target untouched. */
        static const char *const bad[] = { "abc", "aaaaaaaaaaaaaaaaaaaaaaaaaaa", "AAAAAAAAAAAAAAAAAAAAAAAAAA",
                                           "../aaaaaaaaaaaaaaaaaaaaaaaa", "" };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                _cleanup_(json_object_putp) json_object *v = json_object_new_string(bad[i]);
                assert_int_equal(record_dispatch_id("id", v, id), -EINVAL);
                assert_string_equal(id, generated);
        }
}

static void test_timestamp(void **state) {
        uint64_t t = 0;

        _cleanup_(json_object_putp) json_object *good = json_object_new_string("2026-12-06T20:01:02.5Z");
        assert_int_equal(record_dispatch_timestamp("createdAt", good, &t), 0);
        assert_int_equal(t, UINT64_C(1796587262500000));

        _cleanup_(json_object_putp) json_object *bad = json_object_new_string("yesterday");
        assert_true(record_dispatch_timestamp("createdAt", bad, &t) < 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_id),
                cmocka_unit_test(test_timestamp),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
