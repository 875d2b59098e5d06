/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Operations on one VM (create, start, stop, delete), serialized per VM: a queue per VM id, the slow part in
 * a worker thread, the record update and the reply back on the event loop. A kill is not queued: it acts at
 * once, also during a stop in flight. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "id.h"
#include "manager.h"

typedef enum VmTaskKind {
        VM_TASK_CREATE,
        VM_TASK_START,
        VM_TASK_STOP,
        VM_TASK_DELETE,
        VM_TASK_KILL, /* a signal to the hypervisor through systemd (KillUnit), never queued */
        VM_TASK_SNAPSHOT,
        VM_TASK_CLONE, /* a create whose disks come from a snapshot (options.snapshot_dir) */
        /* Removes the TAPs of a VM whose hypervisor is gone (and options.links): queued like the rest, so
         * that a start queued after it finds them made anew, and skipped if the VM runs again by then. */
        VM_TASK_RELEASE_NICS,
        VM_TASK_RESTORE, /* a running VM back to its snapshot (options.snapshot_dir): a new unit swaps in */
        _VM_TASK_KIND_MAX,
} VmTaskKind;

typedef struct VmTask VmTask;

/* Called on the event loop when the task is over. error_id is NULL on success, else a Varlink error name
 * and message says why. The task is freed after the callback returns. */
typedef void (*VmTaskDone)(Manager *m, const VmTask *t, const char *error_id, const char *message,
                           void *userdata);

typedef struct VmTaskOptions {
        bool force;            /* stop: no power button; delete: stop a running VM first */
        uint64_t timeout_usec; /* stop: how long the guest may take to power off */
        int signal;            /* kill: the signal, 0 = SIGKILL */
        const char *snapshot_dir; /* snapshot, clone, start of a clone: the payload directory (copied) */
        char *const *links; /* release-nics: further TAP names of this VM to remove (copied) */
        const char *hypervisor_version; /* clone, restore: what the snapshot's state needs (copied) */
        bool keep_state;       /* clone: keep the saved state for the first start (a clone not started) */
        bool memory_file; /* clone, start of a clone: the snapshot's RAM is its memory file (must exist) */
} VmTaskOptions;

/* Queues kind for VM id; it runs when the operations queued before it on the same VM are done. What the
 * VM's current state refuses at once (start or rm without force on a stopping VM, a kill of a VM that does
 * not run) is answered at once instead of waiting for the operations before it. A kill runs at once. */
int vm_task_submit(Manager *m, VmTaskKind kind, const char *id, const VmTaskOptions *options, VmTaskDone done,
                   void *userdata);

/* At start-up, before serving: no create of this manager is in flight, so a record still `creating` is
 * what a killed manager left. Each is removed at once with its disks and directories (a forced delete
 * task), and logged. */
int vm_task_roll_back_creates(Manager *m);

/* Whether an operation is queued or running on this VM (then unit state changes are its business). */
bool vm_task_busy(Manager *m, const char *id);

const char *vm_task_id(const VmTask *t);
/* release-nics: the links it removed (those that existed); NULL when none. */
char *const *vm_task_removed_links(const VmTask *t);
/* Queues a release-nics task for a VM whose hypervisor is gone, if it has bridge-mode NICs. */
void vm_task_release_nics(Manager *m, const char *id);
/* The input a failed task's InvalidConfiguration is about ("image", "network"), NULL if none. */
const char *vm_task_failure_field(const VmTask *t);
/* snapshot: the version of the hypervisor binary that wrote the state; NULL if unknown. */
const char *vm_task_hypervisor_version(const VmTask *t);
/* A snapshot task's payload holds the RAM as a file (memoryFormat "file"), not in the state. */
bool vm_task_memory_file(const VmTask *t);
const char *vm_task_kind_to_string(VmTaskKind k);
