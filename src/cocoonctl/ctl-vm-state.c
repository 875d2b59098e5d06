/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The exit codes of `cocoonctl vm status`, by VM state. */
#include <stddef.h>

#include "ctl-util.h"
#include "ctl-vm-state.h"
#include "macro.h"

/* By string, not by the enum: the manager may be newer than this client, and its states travel as names. */
static const struct {
        const char *state;
        int exit_code;
} state_exit_codes[] = {
        { "running", 0 },
        { "created", CTL_EXIT_VM_INACTIVE },
        { "stopped", CTL_EXIT_VM_INACTIVE },
        { "creating", CTL_EXIT_VM_TRANSIENT },
        { "stopping", CTL_EXIT_VM_TRANSIENT },
        { "error", CTL_EXIT_VM_ERROR },
};

int ctl_vm_state_exit_code(const char *state) {
        for (size_t i = 0; state && i < ELEMENTSOF(state_exit_codes); i++)
                if (streq(state_exit_codes[i].state, state))
                        return state_exit_codes[i].exit_code;
        return CTL_EXIT_FAILURE;
}

int ctl_vm_state_exit_code_worst(int a, int b) {
        return a > b ? a : b;
}
