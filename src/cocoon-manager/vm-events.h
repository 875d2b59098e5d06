/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* io.cocoon.VM.Watch: subscribers, and the events every record change sends them. */
#pragma once

#include "manager.h"

typedef enum VmEvent {
        VM_EVENT_CURRENT, /* sent once per VM when a Watch starts */
        VM_EVENT_ADDED,
        VM_EVENT_CHANGED,
        VM_EVENT_REMOVED,
        _VM_EVENT_MAX,
} VmEvent;

/* Sends the record's current public view to every subscriber interested in id. */
void vm_events_emit(Manager *m, VmEvent event, const char *id);
void vm_events_emit_removed(Manager *m, const char *id);
/* Drops the subscriptions of a closed connection. */
void vm_events_unsubscribe(Manager *m, Varlink *link);
void vm_events_free_all(Manager *m);

int vl_method_vm_watch(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata);
