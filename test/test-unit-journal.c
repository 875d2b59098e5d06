/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for unit-journal: the message text of quoted lines, and a unit without output. (Reading a real
 * unit's output needs a journald: test/integration/test-hypervisor-output.sh.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

#include "macro.h"
#include "time-util.h"
#include "unit-journal.h"

static void test_format(void **state) {
        char *none[] = { NULL };
        char *one[] = { (char *) "qemu: invalid kernel header", NULL };
        char *two[] = { (char *) "a", (char *) "b c", NULL };
        _cleanup_free_ char *t0 = unit_journal_format(none), *t1 = unit_journal_format(one),
                            *t2 = unit_journal_format(two), *tn = unit_journal_format(NULL);

        assert_string_equal(t0, "");
        assert_string_equal(tn, "");
        assert_string_equal(t1, "  qemu: invalid kernel header");
        assert_string_equal(t2, "  a\n  b c");
}

static void test_no_such_unit(void **state) {
        char **lines = (char **) 1;
        uint64_t start = now_usec(CLOCK_MONOTONIC);

        /* Whether or not this machine has a journal: nothing for a unit that never ran, after the wait. */
        int r = unit_journal_tail("cocoon-vm@no-such-unit-for-tests.service", "", 0, 10, 200 * USEC_PER_MSEC,
                                  &lines);
        if (r < 0) /* no journal directory at all: the error is returned, nothing is written */
                assert_ptr_equal(lines, (char **) 1);
        else
                assert_null(lines);
        assert_true(now_usec(CLOCK_MONOTONIC) - start < 5 * USEC_PER_SEC);
}

static void test_invalid(void **state) {
        char **lines = NULL;
        assert_int_equal(unit_journal_tail(NULL, NULL, 0, 10, 0, &lines), -EINVAL);
        assert_int_equal(unit_journal_tail("x.service", NULL, 0, 0, 0, &lines), -EINVAL);
        assert_int_equal(unit_journal_tail("x.service", NULL, 0, 10, 0, NULL), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_format),
                cmocka_unit_test(test_no_such_unit),
                cmocka_unit_test(test_invalid),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
