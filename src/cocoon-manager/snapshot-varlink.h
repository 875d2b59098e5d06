/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* io.cocoon.Snapshot methods, and the recovery of saves a killed manager left behind. */
#pragma once

#include "manager.h"
#include "varlink.h"

/* Drops the record now and the payload in a worker (GC finds what that leaves). With link (Delete), the
 * reply goes out once the files are gone: returns 1 when the caller must reply itself (shutting down). */
int snapshot_drop(Manager *m, const char *id, Varlink *link);
/* A reference (to a what: "VM", "snapshot") that resolved to nothing (r -ENOENT) or to several (-ENOTUNIQ):
 * error_id with reference, message and the candidates (optional). */
int snapshot_reply_reference_error(Varlink *link, const char *error_id, const char *what, const char *ref, int r,
                                   char **candidates);

int vl_method_snapshot_save(Varlink *link, json_object *parameters, VarlinkMethodFlags flags,
                            void *userdata);
int vl_method_snapshot_list(Varlink *link, json_object *parameters, VarlinkMethodFlags flags,
                            void *userdata);
int vl_method_snapshot_inspect(Varlink *link, json_object *parameters, VarlinkMethodFlags flags,
                               void *userdata);
int vl_method_snapshot_delete(Varlink *link, json_object *parameters, VarlinkMethodFlags flags,
                              void *userdata);

/* At start-up, before serving: a pending snapshot in the store is a save a killed manager left, and its
 * guest may still be paused. Resumes each such source VM that should be running (in a worker); the records
 * and files stay for gc to remove. */
int snapshot_recover_leftovers(Manager *m);
