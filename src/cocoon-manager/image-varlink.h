/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* io.cocoon.Image methods: Import, List, Inspect, Delete. */
#pragma once

#include "manager.h"
#include "varlink.h"

int vl_method_image_import(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata);
/* image-pull-varlink.c */
int vl_method_image_pull(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata);
int vl_method_image_import_oci(Varlink *link, json_object *parameters, VarlinkMethodFlags flags,
                               void *userdata);
int vl_method_image_list(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata);
int vl_method_image_inspect(Varlink *link, json_object *parameters, VarlinkMethodFlags flags,
                            void *userdata);
int vl_method_image_delete(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata);

/* The union of every VM record's imageBlobIds, without duplicates (NULL when there are none). */
int manager_pinned_blob_ids(Manager *m, char ***ret);
