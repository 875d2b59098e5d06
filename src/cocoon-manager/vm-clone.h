/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* io.cocoon.VM.Clone: a new VM from a snapshot. */
#pragma once

#include "manager.h"
#include "snapshot-store.h"
#include "varlink.h"

int vl_method_vm_clone(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata);

/* What the saved state needs of the hypervisor that loads it (backend, machine, accel, CPU model), for
 * Clone and Restore: 1 when it fits, else replied IncompatibleSnapshot naming what differs (0). */
int vm_clone_check_compatible(Manager *m, Varlink *link, const Snapshot *s, Accel accel);
