/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for the VM state machine: every (state, operation, force) verdict, reasons, operation names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "macro.h"
#include "state.h"

#define R VM_TRANSITION_REFUSED
#define A VM_TRANSITION_ALLOWED
#define N VM_TRANSITION_NOOP

/* The whole table restated independently: [op][state], without and with force.
 * States in order: creating, created, running, stopped, error, stopping. */
static const VMTransition expected[_VM_OPERATION_MAX][_VM_STATE_MAX][2] = {
        [VM_OPERATION_START] = { { R, R }, { A, A }, { N, N }, { A, A }, { A, A }, { R, R } },
        [VM_OPERATION_STOP] = { { R, R }, { N, N }, { A, A }, { N, N }, { A, A }, { A, A } },
        [VM_OPERATION_DELETE] = { { R, A }, { A, A }, { R, A }, { A, A }, { A, A }, { R, A } },
        [VM_OPERATION_SNAPSHOT] = { { R, R }, { R, R }, { A, A }, { R, R }, { R, R }, { R, R } },
        [VM_OPERATION_CONSOLE] = { { R, R }, { R, R }, { A, A }, { R, R }, { R, R }, { A, A } },
        [VM_OPERATION_RESTORE] = { { R, R }, { R, R }, { A, A }, { R, R }, { R, R }, { R, R } },
        [VM_OPERATION_KILL] = { { R, R }, { R, R }, { A, A }, { R, R }, { A, A }, { A, A } },
        [VM_OPERATION_RESTART] = { { R, R }, { A, A }, { A, A }, { A, A }, { A, A }, { A, A } },
};

static void test_every_entry(void **state) {
        for (int op = 0; op < _VM_OPERATION_MAX; op++)
                for (int s = 0; s < _VM_STATE_MAX; s++)
                        for (int force = 0; force <= 1; force++) {
                                VMTransition t = vm_transition_allowed(s, op, force);
                                const char *why = vm_transition_refusal_reason(s, op, force);

                                if (t != expected[op][s][force])
                                        fail_msg("%s on %s%s: got %d, expected %d",
                                                 vm_operation_to_string(op), vm_state_to_string(s),
                                                 force ? " (force)" : "", t, expected[op][s][force]);
                                /* A reason exactly when refused, and it is a sentence, not a code. */
                                if (t == VM_TRANSITION_REFUSED) {
                                        assert_non_null(why);
                                        assert_true(strlen(why) > 10);
                                } else
                                        assert_null(why);
                        }
}

static void test_reasons(void **state) {
        assert_string_equal(vm_transition_refusal_reason(VM_STATE_CREATING, VM_OPERATION_START, false),
                            "VM is still being created");
        assert_non_null(strstr(vm_transition_refusal_reason(VM_STATE_RUNNING, VM_OPERATION_DELETE, false),
                               "force"));
        assert_non_null(strstr(vm_transition_refusal_reason(VM_STATE_STOPPED, VM_OPERATION_CONSOLE, false),
                               "not running"));
        assert_non_null(strstr(vm_transition_refusal_reason(VM_STATE_STOPPING, VM_OPERATION_START, false),
                               "stopping"));
        assert_non_null(strstr(vm_transition_refusal_reason(VM_STATE_STOPPED, VM_OPERATION_KILL, false),
                               "not running"));
}

static void test_out_of_range(void **state) {
        assert_int_equal(vm_transition_allowed(_VM_STATE_INVALID, VM_OPERATION_START, false), R);
        assert_int_equal(vm_transition_allowed(_VM_STATE_MAX, VM_OPERATION_DELETE, true), R);
        assert_int_equal(vm_transition_allowed(VM_STATE_STOPPED, _VM_OPERATION_MAX, true), R);
        assert_int_equal(vm_transition_allowed(VM_STATE_STOPPED, _VM_OPERATION_INVALID, false), R);
        assert_non_null(vm_transition_refusal_reason(_VM_STATE_MAX, VM_OPERATION_START, false));
}

static void test_operation_strings(void **state) {
        static const char *const names[] = { "start",   "stop",    "delete", "snapshot",
                                             "console", "restore", "kill",   "restart" };

        assert_int_equal(ELEMENTSOF(names), _VM_OPERATION_MAX);
        for (int op = 0; op < _VM_OPERATION_MAX; op++) {
                assert_string_equal(vm_operation_to_string(op), names[op]);
                assert_int_equal(vm_operation_from_string(names[op]), op);
        }
        assert_null(vm_operation_to_string(_VM_OPERATION_MAX));
        assert_null(vm_operation_to_string(_VM_OPERATION_INVALID));
        assert_int_equal(vm_operation_from_string("Start"), _VM_OPERATION_INVALID);
        assert_int_equal(vm_operation_from_string(""), _VM_OPERATION_INVALID);
        assert_int_equal(vm_operation_from_string(NULL), _VM_OPERATION_INVALID);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_every_entry),
                cmocka_unit_test(test_reasons),
                cmocka_unit_test(test_out_of_range),
                cmocka_unit_test(test_operation_strings),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
