/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The exit codes of `cocoonctl vm status`: one per VM state, as `systemctl is-active` has. */
#pragma once

/* Exit codes of vm status besides 0 (running), 1 (failure) and 2 (usage). */
#define CTL_EXIT_VM_INACTIVE 3   /* created or stopped */
#define CTL_EXIT_VM_NOT_FOUND 4  /* no VM matches the reference */
#define CTL_EXIT_VM_TRANSIENT 5  /* creating or stopping: in transition */
#define CTL_EXIT_VM_ERROR 6      /* error */

/* The exit code for a VM in `state` (the state's string, as the manager sends it); 1 for a state this
 * client does not know. */
int ctl_vm_state_exit_code(const char *state);

/* Of two exit codes, the one vm status reports for several VMs: the higher. */
int ctl_vm_state_exit_code_worst(int a, int b);
