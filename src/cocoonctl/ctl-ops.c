/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cocoonctl ops: the operations the manager has in flight (io.cocoon.Manager.ListOperations). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ctl-progress.h"
#include "ctl-table.h"
#include "ctl-util.h"
#include "ctl-verbs.h"
#include "json-util.h"
#include "log.h"

/* What the operation is about: its VMs, else its image, else its snapshot (Export, Import). */
static const char *target_cell(json_object *op, char *buf, size_t size) {
        json_object *vms;
        size_t used = 0;

        if (json_object_object_get_ex(op, "vms", &vms) && json_object_is_type(vms, json_type_array) &&
            json_object_array_length(vms) > 0) {
                buf[0] = '\0';
                for (size_t i = 0; i < json_object_array_length(vms) && used + 1 < size; i++) {
                        const char *ref = json_object_get_string(json_object_array_get_idx(vms, i));
                        int n = snprintf(buf + used, size - used, "%s%s", i > 0 ? "," : "", ref ?: "?");
                        if (n < 0)
                                break;
                        used += (size_t) n;
                }
                return buf;
        }
        const char *image = ctl_field_string(op, "image");
        return image ?: ctl_field_string(op, "snapshot");
}

static int ops_table_add(Table *t, json_object *op) {
        char id[32] = "-", uid[32] = "-", started[64], target[256], progress[CTL_PROGRESS_MAX];
        int64_t v, done = ctl_field_int(op, "bytesDone"), total = ctl_field_int(op, "bytesTotal");

        if ((v = ctl_field_int(op, "id")) >= 0)
                snprintf(id, sizeof(id), "%" PRId64, v);
        if ((v = ctl_field_int(op, "uid")) >= 0)
                snprintf(uid, sizeof(uid), "%" PRId64, v);
        ctl_format_local_time(ctl_field_string(op, "startedAt"), started, sizeof(started));
        json_object *detached;
        bool gone = json_object_object_get_ex(op, "detached", &detached) && json_object_get_boolean(detached);
        const char *cells[] = {
                id, ctl_field_string(op, "method"), target_cell(op, target, sizeof(target)), started, uid,
                gone ? "gone" : "waiting", ctl_format_progress(done, total, progress),
        };
        return table_add_row(t, cells);
}

int verb_ops(int argc, char **argv) {
        static const char *const headers[] = {"ID", "METHOD", "TARGET", "STARTED", "UID", "CALLER",
                                               "PROGRESS"};
        _cleanup_(varlink_unrefp) Varlink *link = NULL;
        _cleanup_(table_freep) Table *t = NULL;
        json_object *reply = NULL, *ops;

        int r = ctl_connect(&link);
        if (r < 0)
                return r;
        r = ctl_call(link, "io.cocoon.Manager.ListOperations", NULL, &reply);
        if (r < 0)
                return r;
        if (!json_object_object_get_ex(reply, "operations", &ops) ||
            !json_object_is_type(ops, json_type_array))
                return ctl_log_errno(EBADMSG, "ListOperations reply has no operations array");
        if (arg_json) {
                ctl_print_json(ops);
                return 0;
        }
        if (table_new(&t, headers, ELEMENTSOF(headers)) < 0)
                return ctl_log_oom();
        for (size_t i = 0; i < json_object_array_length(ops); i++)
                if (ops_table_add(t, json_object_array_get_idx(ops, i)) < 0)
                        return ctl_log_oom();
        if (table_rows(t) == 0) {
                fprintf(stderr, "No operations in flight.\n");
                return 0;
        }
        return table_print(t);
}
