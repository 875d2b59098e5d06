/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* io.cocoon.VM methods that read VMs (List, Inspect, Watch), and the reference resolution every VM method
 * shares. The methods that change VMs are in vm-lifecycle.c, Console in vm-console.c. */
#pragma once

#include "manager.h"

/* Replies NoSuchVM (-ENOENT) or AmbiguousReference (-ENOTUNIQ, with candidates); other errors are returned. */
int vm_reply_resolve_error(Varlink *link, const char *ref, int error, char **candidates);
/* Resolves ref to a record. Returns 1 with *ret set, 0 when it already replied with an error, < 0 on failure. */
int manager_resolve_vm(Manager *m, Varlink *link, const char *ref, const VMRecord **ret);
/* The same for the call's "ref" parameter (replies InvalidParameter when it is missing). */
int manager_resolve_vm_parameter(Manager *m, Varlink *link, json_object *parameters, const VMRecord **ret);

int vl_method_vm_list(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata);
/* The record plus a fresh runtime read from systemd (in a worker thread, never on the loop). */
int vl_method_vm_inspect(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata);
int vl_method_vm_watch(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata);
