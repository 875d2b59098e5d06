/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* io.cocoon.VM.Console: a VM's console (live, and its log) over an upgraded Varlink connection. */
#pragma once

#include "manager.h"
#include "varlink.h"

/* The console log of a VM lives in its log directory under this name. */
#define VM_CONSOLE_LOG_NAME "console.log"

int vl_method_vm_console(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata);

/* At exit: closes the connections of `vm logs` still being sent. */
void vm_console_free_log_streams(Manager *m);
