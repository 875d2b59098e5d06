/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* io.cocoon.Manager.GarbageCollect: orphan VM directories, stale creating records, unreferenced blobs. */
#pragma once

#include "varlink.h"

int vl_method_manager_garbage_collect(Varlink *link, json_object *parameters, VarlinkMethodFlags flags,
                                      void *userdata);
