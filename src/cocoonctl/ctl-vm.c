/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cocoonctl vm …: VM verbs. */
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "ctl-table.h"
#include "ctl-util.h"
#include "ctl-verbs.h"
#include "json-util.h"
#include "log.h"
#include "parse-util.h"
#include "time-util.h"

static int vm_table_add(Table *t, json_object *vm) {
        json_object *config = NULL;
        char cpu[32] = "-", memory[FORMAT_SIZE_MAX] = "-", created[64];

        json_object_object_get_ex(vm, "config", &config);
        int64_t n = ctl_field_int(config, "cpu");
        if (n >= 0)
                snprintf(cpu, sizeof(cpu), "%" PRId64, n);
        n = ctl_field_int(config, "memory");
        if (n >= 0)
                format_size((uint64_t) n, memory);
        ctl_format_local_time(ctl_field_string(vm, "createdAt"), created, sizeof(created));

        const char *cells[] = {
                ctl_field_string(vm, "id"),    ctl_field_string(vm, "name"), ctl_field_string(vm, "state"),
                ctl_field_string(vm, "backend"), cpu, memory, created,
        };
        return table_add_row(t, cells);
}

int verb_vm_list(int argc, char **argv) {
        _cleanup_(varlink_unrefp) Varlink *link = NULL;
        _cleanup_(table_freep) Table *t = NULL;
        json_object *reply = NULL, *vms;
        static const char *const headers[] = { "ID", "NAME", "STATE", "BACKEND", "CPU", "MEMORY", "CREATED" };

        int r = ctl_connect(&link);
        if (r < 0)
                return r;
        /* The table needs a few fields only: ask for the summary view, much less to parse. */
        _cleanup_(json_object_putp) json_object *p = json_object_new_object();
        if (!p || (!arg_json && json_add_bool(p, "summary", true) < 0))
                return log_oom();
        r = ctl_call(link, "io.cocoon.VM.List", p, &reply);
        if (r < 0)
                return r;
        if (!json_object_object_get_ex(reply, "vms", &vms) || !json_object_is_type(vms, json_type_array)) {
                fprintf(stderr, "cocoonctl: io.cocoon.VM.List reply has no vms array\n");
                return -EBADMSG;
        }
        if (arg_json) {
                ctl_print_json(vms);
                return 0;
        }

        r = table_new(&t, headers, ELEMENTSOF(headers));
        if (r < 0)
                return log_oom();
        for (size_t i = 0; i < json_object_array_length(vms); i++) {
                r = vm_table_add(t, json_object_array_get_idx(vms, i));
                if (r < 0)
                        return log_oom();
        }
        if (table_rows(t) == 0) {
                printf("No VMs found.\n");
                return 0;
        }
        return table_print(t);
}

int verb_vm_inspect(int argc, char **argv) {
        _cleanup_(varlink_unrefp) Varlink *link = NULL;
        _cleanup_(json_object_putp) json_object *parameters = json_object_new_object();
        json_object *reply = NULL, *vm;

        json_object_object_add(parameters, "ref", json_object_new_string(argv[0]));
        int r = ctl_connect(&link);
        if (r < 0)
                return r;
        r = ctl_call(link, "io.cocoon.VM.Inspect", parameters, &reply);
        if (r < 0)
                return r;
        if (!json_object_object_get_ex(reply, "vm", &vm)) {
                fprintf(stderr, "cocoonctl: io.cocoon.VM.Inspect reply has no vm\n");
                return -EBADMSG;
        }
        ctl_print_json(vm);
        return 0;
}
