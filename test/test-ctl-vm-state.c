/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for the exit codes of cocoonctl vm status: one per state, unknown states fail, the worst wins. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../src/cocoonctl/ctl-util.h"
#include "../src/cocoonctl/ctl-vm-state.h"
#include "vm-types.h"

static void test_every_state_has_its_code(void **state) {
        assert_int_equal(ctl_vm_state_exit_code("running"), 0);
        assert_int_equal(ctl_vm_state_exit_code("created"), 3);
        assert_int_equal(ctl_vm_state_exit_code("stopped"), 3);
        assert_int_equal(ctl_vm_state_exit_code("creating"), 5);
        assert_int_equal(ctl_vm_state_exit_code("stopping"), 5);
        assert_int_equal(ctl_vm_state_exit_code("error"), 6);
        assert_int_equal(CTL_EXIT_VM_NOT_FOUND, 4);

        /* Every state this build's manager sends has a code of its own, not the failure code. */
        for (VMState s = 0; s < _VM_STATE_MAX; s++)
                assert_int_not_equal(ctl_vm_state_exit_code(vm_state_to_string(s)), CTL_EXIT_FAILURE);
}

static void test_unknown_state_is_failure(void **state) {
        assert_int_equal(ctl_vm_state_exit_code("paused"), CTL_EXIT_FAILURE);
        assert_int_equal(ctl_vm_state_exit_code("Running"), CTL_EXIT_FAILURE);
        assert_int_equal(ctl_vm_state_exit_code(""), CTL_EXIT_FAILURE);
        assert_int_equal(ctl_vm_state_exit_code(NULL), CTL_EXIT_FAILURE);
}

static void test_worst_wins(void **state) {
        assert_int_equal(ctl_vm_state_exit_code_worst(0, 3), 3);
        assert_int_equal(ctl_vm_state_exit_code_worst(6, 3), 6);
        assert_int_equal(ctl_vm_state_exit_code_worst(4, 5), 5);
        assert_int_equal(ctl_vm_state_exit_code_worst(0, 0), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_every_state_has_its_code),
                cmocka_unit_test(test_unknown_state_is_failure),
                cmocka_unit_test(test_worst_wins),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
