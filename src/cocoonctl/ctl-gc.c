/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cocoonctl gc: asks the manager to collect garbage and prints what went. */
#include <stdio.h>

#include "ctl-util.h"
#include "ctl-verbs.h"
#include "json-util.h"

static size_t print_list(json_object *reply, const char *key, const char *what) {
        json_object *a;
        if (!json_object_object_get_ex(reply, key, &a) || !json_object_is_type(a, json_type_array))
                return 0;
        size_t n = json_object_array_length(a);
        for (size_t i = 0; i < n; i++)
                printf("Removed %s %s\n", what, json_object_get_string(json_object_array_get_idx(a, i)));
        return n;
}

int verb_gc(int argc, char **argv) {
        _cleanup_(varlink_unrefp) Varlink *link = NULL;
        json_object *reply = NULL;

        int r = ctl_connect(&link);
        if (r < 0)
                return r;
        r = ctl_call(link, "io.cocoon.Manager.GarbageCollect", NULL, &reply);
        if (r < 0)
                return r;
        if (arg_json) {
                ctl_print_json(reply);
                return 0;
        }
        size_t n = print_list(reply, "removedRecords", "VM") +
                   print_list(reply, "removedDirectories", "directory") +
                   print_list(reply, "removedBlobs", "blob") +
                   print_list(reply, "removedLinks", "TAP") +
                   print_list(reply, "removedNetworkNamespaces", "network namespace") +
                   print_list(reply, "removedLeases", "lease");
        if (n == 0)
                printf("Nothing to remove.\n");
        return 0;
}
