/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* io.cocoon.Snapshot.Export and Import: snapshot archives in and out of the manager. */
#pragma once

#include "manager.h"
#include "varlink.h"

int vl_method_snapshot_export(Varlink *link, json_object *parameters, VarlinkMethodFlags flags,
                              void *userdata);
int vl_method_snapshot_import(Varlink *link, json_object *parameters, VarlinkMethodFlags flags,
                              void *userdata);
