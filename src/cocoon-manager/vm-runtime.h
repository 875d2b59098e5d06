/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What systemd says about running VMs: a small cache for List (fed by our own starts and the unit watch) and
 * a fresh read for Inspect (in a worker thread, never on the loop). */
#pragma once

#include <stdint.h>

#include "manager.h"

/* Remembers (or, with main_pid 0, forgets) the hypervisor pid of a running VM. */
void vm_runtime_set_pid(Manager *m, const char *id, uint32_t main_pid);
uint32_t vm_runtime_get_pid(Manager *m, const char *id);
void vm_runtime_free_all(Manager *m);

/* Appends `,"runtime":{…}` facts for List to a record's JSON text: *text without its closing brace + runtime +
 * "}". Returns 0 and leaves *ret NULL when there is nothing to add. */
int vm_runtime_splice(Manager *m, const VMRecord *r, const char *text, size_t size, char **ret, size_t *ret_size);

/* io.cocoon.VM.Inspect: the record plus a fresh runtime read from systemd. */
int vl_method_vm_inspect(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata);
