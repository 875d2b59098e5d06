/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* io.cocoon.VM.Clone: a new VM from a snapshot. */
#pragma once

#include "varlink.h"

int vl_method_vm_clone(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata);
