/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Helpers every io.cocoon.VM method shares. */
#pragma once

#include "manager.h"

/* Replies NoSuchVM (-ENOENT) or AmbiguousReference (-ENOTUNIQ, with candidates); other errors are returned. */
int vm_reply_resolve_error(Varlink *link, const char *ref, int error, char **candidates);
/* Resolves ref to a record. Returns 1 with *ret set, 0 when it already replied with an error, < 0 on failure. */
int manager_resolve_vm(Manager *m, Varlink *link, const char *ref, const VMRecord **ret);
/* The same for the call's "ref" parameter (replies InvalidParameter when it is missing). */
int manager_resolve_vm_parameter(Manager *m, Varlink *link, json_object *parameters, const VMRecord **ret);
/* Moves a VM to state (timestamps, firstBooted, errorReason = error_reason or none), writes the record, and
 * tells Watch subscribers. */
int manager_vm_set_state(Manager *m, const char *id, VMState state, const char *error_reason);
/* The accelerator a VM runs with: its own Accel, else the configured one; auto is what this host supports. */
Accel manager_vm_accel(Manager *m, const VMRecord *r);
