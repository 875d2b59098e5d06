/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* io.cocoon.VM methods that change VMs. */
#pragma once

#include "varlink.h"

int vl_method_vm_create(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata);
int vl_method_vm_start(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata);
int vl_method_vm_stop(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata);
int vl_method_vm_restart(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata);
int vl_method_vm_kill(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata);
int vl_method_vm_delete(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata);
int vl_method_vm_debug(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata);
