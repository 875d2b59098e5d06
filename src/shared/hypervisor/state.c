/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The VM state machine: which operation may run in which state, and why not. */
#include "macro.h"
#include "state.h"

static const char *const vm_operation_table[_VM_OPERATION_MAX] = {
        [VM_OPERATION_START] = "start",
        [VM_OPERATION_STOP] = "stop",
        [VM_OPERATION_DELETE] = "delete",
        [VM_OPERATION_SNAPSHOT] = "snapshot",
        [VM_OPERATION_CONSOLE] = "console",
        [VM_OPERATION_RESTORE] = "restore",
        [VM_OPERATION_KILL] = "kill",
        [VM_OPERATION_RESTART] = "restart",
};

const char *vm_operation_to_string(VMOperation op) {
        if (op < 0 || op >= _VM_OPERATION_MAX)
                return NULL;
        return vm_operation_table[op];
}

VMOperation vm_operation_from_string(const char *s) {
        if (!s)
                return _VM_OPERATION_INVALID;
        for (size_t i = 0; i < ELEMENTSOF(vm_operation_table); i++)
                if (streq(vm_operation_table[i], s))
                        return (VMOperation) i;
        return _VM_OPERATION_INVALID;
}

typedef struct TransitionRule {
        VMTransition verdict;
        VMTransition forced; /* the verdict with force */
        const char *reason;  /* when refused */
} TransitionRule;

#define ALLOW { VM_TRANSITION_ALLOWED, VM_TRANSITION_ALLOWED, NULL }
#define NOOP { VM_TRANSITION_NOOP, VM_TRANSITION_NOOP, NULL }
#define REFUSE(why) { VM_TRANSITION_REFUSED, VM_TRANSITION_REFUSED, why }
#define REFUSE_UNLESS_FORCED(why) { VM_TRANSITION_REFUSED, VM_TRANSITION_ALLOWED, why }

#define BEING_CREATED "VM is still being created"
#define NOT_RUNNING "VM is not running"
#define STOPPING "VM is stopping"

/* Rows: operations; columns: states in VMState order (creating, created, running, stopped, error,
 * stopping). */
static const TransitionRule transition_table[_VM_OPERATION_MAX][_VM_STATE_MAX] = {
        [VM_OPERATION_START] = {
                [VM_STATE_CREATING] = REFUSE(BEING_CREATED),
                [VM_STATE_CREATED] = ALLOW,
                [VM_STATE_RUNNING] = NOOP,
                [VM_STATE_STOPPED] = ALLOW,
                [VM_STATE_ERROR] = ALLOW,
                [VM_STATE_STOPPING] = REFUSE(STOPPING "; start it once it is stopped"),
        },
        [VM_OPERATION_STOP] = {
                [VM_STATE_CREATING] = REFUSE(BEING_CREATED),
                [VM_STATE_CREATED] = NOOP,
                [VM_STATE_RUNNING] = ALLOW,
                [VM_STATE_STOPPED] = NOOP,
                [VM_STATE_ERROR] = ALLOW,
                [VM_STATE_STOPPING] = ALLOW,
        },
        [VM_OPERATION_DELETE] = {
                [VM_STATE_CREATING] = REFUSE_UNLESS_FORCED(BEING_CREATED "; use force to remove it anyway"),
                [VM_STATE_CREATED] = ALLOW,
                [VM_STATE_RUNNING] = REFUSE_UNLESS_FORCED("VM is running; stop it first or use force"),
                [VM_STATE_STOPPED] = ALLOW,
                [VM_STATE_ERROR] = ALLOW,
                [VM_STATE_STOPPING] = REFUSE_UNLESS_FORCED(STOPPING "; wait for it or use force"),
        },
        [VM_OPERATION_SNAPSHOT] = {
                [VM_STATE_CREATING] = REFUSE(BEING_CREATED),
                [VM_STATE_CREATED] = REFUSE(NOT_RUNNING "; start it to take a snapshot"),
                [VM_STATE_RUNNING] = ALLOW,
                [VM_STATE_STOPPED] = REFUSE(NOT_RUNNING "; start it to take a snapshot"),
                [VM_STATE_ERROR] = REFUSE("VM is in error state; start it to take a snapshot"),
                [VM_STATE_STOPPING] = REFUSE(STOPPING "; start it again to take a snapshot"),
        },
        [VM_OPERATION_CONSOLE] = {
                [VM_STATE_CREATING] = REFUSE(BEING_CREATED),
                [VM_STATE_CREATED] = REFUSE(NOT_RUNNING),
                [VM_STATE_RUNNING] = ALLOW,
                [VM_STATE_STOPPED] = REFUSE(NOT_RUNNING),
                [VM_STATE_ERROR] = REFUSE("VM is in error state, not running"),
                [VM_STATE_STOPPING] = ALLOW,
        },
        [VM_OPERATION_RESTORE] = {
                [VM_STATE_CREATING] = REFUSE(BEING_CREATED),
                [VM_STATE_CREATED] = REFUSE(NOT_RUNNING "; it must be running to restore"),
                [VM_STATE_RUNNING] = ALLOW,
                [VM_STATE_STOPPED] = REFUSE(NOT_RUNNING "; it must be running to restore"),
                [VM_STATE_ERROR] = REFUSE("VM is in error state; it must be running to restore"),
                [VM_STATE_STOPPING] = REFUSE(STOPPING "; it must be running to restore"),
        },
        [VM_OPERATION_KILL] = {
                [VM_STATE_CREATING] = REFUSE(BEING_CREATED),
                [VM_STATE_CREATED] = REFUSE(NOT_RUNNING),
                [VM_STATE_RUNNING] = ALLOW,
                [VM_STATE_STOPPED] = REFUSE(NOT_RUNNING),
                [VM_STATE_ERROR] = ALLOW,
                [VM_STATE_STOPPING] = ALLOW,
        },
        [VM_OPERATION_RESTART] = {
                [VM_STATE_CREATING] = REFUSE(BEING_CREATED),
                [VM_STATE_CREATED] = ALLOW,
                [VM_STATE_RUNNING] = ALLOW,
                [VM_STATE_STOPPED] = ALLOW,
                [VM_STATE_ERROR] = ALLOW,
                [VM_STATE_STOPPING] = ALLOW,
        },
};

static const TransitionRule *transition_rule(VMState from, VMOperation op) {
        if (from < 0 || from >= _VM_STATE_MAX || op < 0 || op >= _VM_OPERATION_MAX)
                return NULL;
        return &transition_table[op][from];
}

VMTransition vm_transition_allowed(VMState from, VMOperation op, bool force) {
        const TransitionRule *rule = transition_rule(from, op);

        if (!rule)
                return VM_TRANSITION_REFUSED;
        return force ? rule->forced : rule->verdict;
}

const char *vm_transition_refusal_reason(VMState from, VMOperation op, bool force) {
        const TransitionRule *rule = transition_rule(from, op);

        if (!rule)
                return "invalid VM state or operation";
        if (vm_transition_allowed(from, op, force) != VM_TRANSITION_REFUSED)
                return NULL;
        return rule->reason;
}
