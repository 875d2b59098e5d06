/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The VM object: its record, its runtime (hypervisor pid, console relay), the one function that moves it
 * between states, and its one JSON view. Everything else in the manager reaches VMs through here; this file
 * calls nothing above it (Watch subscribers hear of changes through the event function the manager sets). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "conf-file.h"
#include "vm-types.h"

typedef struct Manager Manager;

typedef enum VmEvent {
        VM_EVENT_CURRENT, /* sent once per VM when a Watch starts */
        VM_EVENT_ADDED,
        VM_EVENT_CHANGED,
        VM_EVENT_REMOVED,
        _VM_EVENT_MAX,
        _VM_EVENT_INVALID = -EINVAL,
} VmEvent;

const char *vm_event_to_string(VmEvent e);

/* Told of every record change, after it is written (record NULL for VM_EVENT_REMOVED). */
typedef void (*VmEventFunc)(Manager *m, VmEvent event, const char *id, const VMRecord *record);

typedef enum VmView {
        VM_VIEW_PUBLIC,  /* vm_record_to_public_json() + runtime */
        VM_VIEW_SUMMARY, /* vm_record_to_summary_json() + runtime */
        _VM_VIEW_MAX,
} VmView;

/* Which state changes a record may go through: creating -> created; created, stopped, error -> running;
 * running, error -> stopped; any but creating -> error (error -> error updates the reason). Anything else
 * is a bug in the caller (or a stale result) and is refused. stopping is never recorded: see
 * vm_set_stopping(). */
bool vm_state_change_allowed(VMState from, VMState to);

/* A new record (state creating): written, indexed, announced. -EEXIST when its name is taken. */
int vm_add(Manager *m, const VMRecord *r);
/* Moves a VM to state: checks the change (-EINVAL when not allowed), sets the timestamps, firstBooted and
 * errorReason (error_reason, or none), writes the record and only then updates the index and tells Watch
 * subscribers. A failed write (-ENOSPC, -EIO, ...) changes nothing and is the caller's to report. */
int vm_set_state(Manager *m, const char *id, VMState state, const char *error_reason);
/* A stop is in flight (a Stop call, or systemd deactivating the unit) or no longer: the VM shows state
 * stopping while its record still says running (or error). Not written: a manager started later sees the
 * unit deactivating instead. Tells Watch subscribers; vm_set_state() ends it. */
void vm_set_stopping(Manager *m, const char *id, bool stopping);
/* The state the API shows: the record's, or stopping. */
VMState vm_state(Manager *m, const VMRecord *r);
/* How many VMs show state s. */
size_t vm_count_state(Manager *m, VMState s);
/* Adds (present) or drops snapshot_id in the VM's snapshotIds: written, then announced; no change, no write.
 * -ENOENT when there is no such VM. */
int vm_set_snapshot_id(Manager *m, const char *id, const char *snapshot_id, bool present);
/* Takes the NICs (MACs, addresses) and the network name from `from` (a worker's copy of the record): written,
 * then announced. -ENOENT when there is no such VM. */
int vm_set_network(Manager *m, const char *id, const VMRecord *from);
/* The VM's hypervisor is now unit, with its sockets in run_dir (a restore swapped it in): written, then
 * announced. */
int vm_set_unit(Manager *m, const char *id, const char *unit, const char *run_dir);
/* Drops the record (its file, and the VM directory if that is empty) and announces the removal. */
int vm_remove(Manager *m, const char *id);

/* The hypervisor pid of a running VM, as far as the manager knows (0: none). */
void vm_set_main_pid(Manager *m, const char *id, uint32_t main_pid);
uint32_t vm_get_main_pid(Manager *m, const char *id);

/* The serial console of a running VM: the relay keeps console.log and serves Console clients. Takes
 * console_fd in all cases. */
void vm_console_attach(Manager *m, const char *id, int console_fd);
void vm_console_detach(Manager *m, const char *id);

/* The accelerator a VM runs with: its own Accel, else the configured one; auto is what this host
 * supports. */
Accel vm_accel(Manager *m, const VMRecord *r);

/* The VM as the API shows it (List, Watch, Create): the record's view plus, while the manager knows its
 * hypervisor, "runtime" {unit, mainPID, accelerator}. */
int vm_to_json(Manager *m, const VMRecord *r, VmView view, json_object **ret);
/* The same as compact text, serialized once and kept until the record or its runtime changes: List answers
 * from these. Valid until the next change of that VM. */
int vm_to_json_text(Manager *m, const VMRecord *r, VmView view, const char **ret_text, size_t *ret_size);

/* At exit: runtime entries and cached views. */
void vm_free_all(Manager *m);
