/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* io.cocoon.VM.Restore: a running VM back to one of its own snapshots. */
#pragma once

#include "varlink.h"

int vl_method_vm_restore(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata);
