/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Running VMs as systemd-machined machines (class vm, the hypervisor as leader), over asynchronous D-Bus. */
#pragma once

#include <stdbool.h>

#include "manager.h"
#include "vm.h"

/* A VMRecord change, as vm.c announces it: registers a VM that runs with a known hypervisor pid, unregisters
 * one this manager registered that no longer does. */
void vm_machined_event(Manager *m, VmEvent event, const char *id, const VMRecord *record);

/* After start: registers every running VM (a previous manager's registrations may have gone with it). */
void vm_machined_sync_all(Manager *m);

void vm_machined_free(Manager *m);

/* machined's names are host names: letters, digits, '-' and '.', no empty label, at most 64 characters. */
bool vm_machine_name_is_valid(const char *name);
