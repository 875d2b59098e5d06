/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* io.cocoon.VM.Watch subscribers, and the fan-out of every record change vm.c announces to them. */
#pragma once

#include "manager.h"

/* A subscriber whose connection holds more unsent events than this (beyond the current state it got first)
 * is not keeping up: its call ends with io.cocoon.VM.SubscriberTooSlow instead of the manager buffering for
 * it without bound. */
#define VM_EVENTS_BACKLOG_MAX (4U * 1024U * 1024U)

/* The VmEventFunc the manager gives vm.c: sends the change to every subscriber interested in id. */
void vm_events_emit(Manager *m, VmEvent event, const char *id, const VMRecord *record);
/* Sends link the current state of the VMs in ids (NULL: all), then keeps it subscribed to their changes.
 * Takes ids in all cases. */
int vm_events_subscribe(Manager *m, Varlink *link, char **ids);
/* Drops the subscriptions of a closed connection. */
void vm_events_unsubscribe(Manager *m, Varlink *link);
/* Ends every Watch call with error_id (the manager is exiting): the clients learn the stream is over. */
void vm_events_end_all(Manager *m, const char *error_id, const char *message);
void vm_events_free_all(Manager *m);
