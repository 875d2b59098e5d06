/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The systemd side of VMs: unit state changes (crashes and guest power-offs seen at once), reconciliation
 * with the units that run when the manager starts, adoption of VMs whose start was interrupted. */
#pragma once

#include "bus-unit.h"
#include "manager.h"

/* Subscribes to systemd's unit signals on the manager's bus and reconciles records with the units that run:
 * VMs keep running across a manager restart; units without a record are reported and stopped; creates that
 * a previous manager left unfinished are rolled back. */
int vm_unit_start(Manager *m);

/* While an operation runs on a VM, unit changes are its business: they are kept, not acted on. When it ends,
 * vm_unit_release() acts on the last one kept, so a hypervisor that died meanwhile is still recorded.
 * invocation_id: the unit invocation the operation left running ("" or NULL: any), so that a change of an
 * earlier invocation (the one a stop just ended) is not taken for a crash of the new one. */
void vm_unit_hold(Manager *m, const char *id);
void vm_unit_release(Manager *m, const char *id, const char *invocation_id);

/* At exit. */
void vm_unit_free_all(Manager *m);

/* What the unit watch calls; exposed for tests. */
void vm_unit_handle_change(Manager *m, const UnitStateChange *change);
