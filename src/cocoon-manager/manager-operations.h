/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Operations in flight: the long calls (VM create/start/stop/delete, image import, garbage collection) the
 * manager is still working on, for io.cocoon.Manager.ListOperations, with progress where the work reports
 * it. When their caller goes away, an import is cancelled, while the work of held ones goes on and they stay
 * listed, detached, until it ends. */
#pragma once

#include <json-c/json.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "macro.h"
#include "varlink.h"

/* What a worker thread reports about its operation and learns from the loop; atomics, shared by both. */
typedef struct OperationProgress {
        _Atomic uint64_t done;  /* bytes done */
        _Atomic uint64_t total; /* bytes in all; 0: not known (yet) */
        _Atomic bool cancelled; /* the caller went away: the worker stops at its next step */
} OperationProgress;

typedef struct Operations Operations;

int operations_new(Operations **ret);
Operations *operations_free(Operations *ops);
DEFINE_TRIVIAL_CLEANUP_FUNC(Operations *, operations_free);

/* Whether calls of `method` are operations (long calls a caller waits for). */
bool operation_method_is_tracked(const char *method);

/* Records the call being served on `link` (its method and what it is about, from its parameters) as in
 * flight. A call that got its final reply is dropped the next time the list is looked at. */
int operations_begin(Operations *ops, Varlink *link, const char *method, json_object *parameters,
                     uint64_t now_realtime_usec);
/* Attaches the progress of the call being served on `link` (owned by the caller, who must detach it with
 * operations_detach_progress() before freeing it). -ENOENT when no operation is recorded for link. */
int operations_attach_progress(Operations *ops, Varlink *link, OperationProgress *progress);
void operations_detach_progress(Operations *ops, OperationProgress *progress);
/* Hands the end of the operation of the call being served on `link` to its handler, for work that goes on
 * without the caller (VM operations, garbage collection): it stays listed until operations_end() with the
 * returned id, also after the caller went away. Returns the id (> 0), or 0 when no operation is recorded
 * for link (operations_end() ignores 0). */
uint64_t operations_hold(Operations *ops, Varlink *link);
/* The held operation `id` goes on over the connection its call upgraded to (Snapshot Export, Import): its
 * caller is there, though the Varlink connection closed. */
void operations_upgraded(Operations *ops, uint64_t id);
/* The held operation `id` is over: dropped. Unknown ids, 0 and ops == NULL (the manager is freed) do
 * nothing. */
void operations_end(Operations *ops, uint64_t id);
/* The connection went away: its operations' progress says cancelled; held ones stay listed, marked
 * detached, the others are dropped. Returns how many there were. */
unsigned operations_link_gone(Operations *ops, Varlink *link);

/* {"operations": [...]}, oldest first, as io.cocoon.Manager.ListOperations answers; drops finished ones. */
int operations_to_json(Operations *ops, json_object **ret);
/* How many are in flight (finished ones dropped first). */
unsigned operations_count(Operations *ops);

/* The VMs and image an operation's parameters name: refs (or ref) for the VM methods, the name for Create
 * and Import, the image for Create. For ListOperations and its tests. */
int operation_targets_from_parameters(const char *method, json_object *parameters, char ***ret_vms,
                                      char **ret_image);

/* io.cocoon.Manager.ListOperations (manager-varlink.c). */
int vl_method_manager_list_operations(Varlink *link, json_object *parameters, VarlinkMethodFlags flags,
                                      void *userdata);
