/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The VM state machine: which operation may run in which state, and why not. */
#pragma once

#include <stdbool.h>

#include "vm-types.h"

typedef enum VMOperation {
        VM_OPERATION_START,
        VM_OPERATION_STOP,
        VM_OPERATION_DELETE,
        VM_OPERATION_SNAPSHOT,
        VM_OPERATION_CONSOLE,
        VM_OPERATION_RESTORE,
        VM_OPERATION_KILL,
        VM_OPERATION_RESTART,
        _VM_OPERATION_MAX,
        _VM_OPERATION_INVALID = -EINVAL,
} VMOperation;

typedef enum VMTransition {
        VM_TRANSITION_REFUSED, /* fail with InvalidState and vm_transition_refusal_reason() */
        VM_TRANSITION_ALLOWED, /* do the operation */
        VM_TRANSITION_NOOP,    /* already done: succeed without touching the VM or rewriting its record */
} VMTransition;

/* "start", "stop", "delete", "snapshot", "console", "restore", "kill", "restart". */
const char *vm_operation_to_string(VMOperation op);
VMOperation vm_operation_from_string(const char *s);

/* The verdict for op on a VM whose record says from. force is the operation's force flag: it lets Delete
 * remove a running VM (stopping it first) or a creating one (a remnant of a crashed create); it changes
 * nothing else. Out-of-range states or operations are refused. The decisions:
 *   start:    created, stopped, error -> allowed; running -> no-op (as the predecessor: starting a running
 *             VM succeeds); creating, stopping -> refused.
 *   stop:     running, error -> allowed (error may still have a hypervisor to clean up; the VM ends up
 *             stopped); stopping -> allowed (it joins the stop in flight); created, stopped -> no-op, the
 *             record is not rewritten (a never-started VM stays "created"); creating -> refused.
 *   delete:   created, stopped, error -> allowed; running, stopping, creating -> allowed only with force.
 *   snapshot, restore: running only. console: running and stopping (the guest's shutdown is visible).
 *   kill:     running, stopping, error (a hypervisor may be left) -> allowed; others refused.
 *   restart:  anything but creating (a VM that is not running is started, as systemctl restart). */
VMTransition vm_transition_allowed(VMState from, VMOperation op, bool force);

/* Why vm_transition_allowed() refuses, as a sentence for operators ("VM is running; stop it first or use
 * force"); NULL when it does not refuse. */
const char *vm_transition_refusal_reason(VMState from, VMOperation op, bool force);
