/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cocoonctl snapshot …: save, list, inspect and remove snapshots; vm clone and vm restore. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl-table.h"
#include "ctl-util.h"
#include "ctl-verbs.h"
#include "json-util.h"
#include "log.h"
#include "parse-util.h"

const char *arg_description = NULL, *arg_snapshot_vm = NULL;
bool arg_no_start = false;

static int call_one(const char *method, json_object *parameters, const char *key, json_object **ret) {
        _cleanup_(varlink_unrefp) Varlink *link = NULL;
        json_object *reply = NULL;
        int r = ctl_connect(&link);
        if (r < 0)
                return r;
        r = ctl_call(link, method, parameters, &reply);
        if (r < 0)
                return r;
        if (!json_object_object_get_ex(reply, key, ret)) {
                ctl_log_errno(EBADMSG, "%s reply has no %s", method, key);
                return -EBADMSG;
        }
        /* The reply belongs to the link: keep the object beyond it. */
        json_object_get(*ret);
        return 0;
}

int verb_snapshot_save(int argc, char **argv) {
        _cleanup_(json_object_putp) json_object *p = json_object_new_object(), *snapshot = NULL;
        if (!p || json_add_string(p, "vm", argv[0]) < 0 || json_add_string(p, "name", arg_name) < 0 ||
            json_add_string(p, "description", arg_description) < 0)
                return log_oom();
        _cleanup_(varlink_unrefp) Varlink *link = NULL;
        json_object *reply = NULL;
        int r = ctl_connect(&link);
        if (r < 0)
                return r;
        r = ctl_call_with_progress(link, "io.cocoon.Snapshot.Save", p, "Saving", argv[0], &reply);
        if (r < 0)
                return r;
        if (!json_object_object_get_ex(reply, "snapshot", &snapshot))
                return ctl_log_errno(EBADMSG, "io.cocoon.Snapshot.Save reply has no snapshot");
        json_object_get(snapshot);
        if (arg_json) {
                ctl_print_json(snapshot);
                return 0;
        }
        printf("%s\n", ctl_field_string(snapshot, "id") ?: "");
        fprintf(stderr, "Snapshot %s (%s) of VM %s saved.\n", ctl_field_string(snapshot, "name") ?: "?",
                ctl_field_string(snapshot, "id") ?: "?", argv[0]);
        return 0;
}

static int snapshot_table_add(Table *t, json_object *s) {
        char cpu[32] = "-", memory[FORMAT_SIZE_MAX] = "-", created[64];
        json_object *config;
        if (json_object_object_get_ex(s, "config", &config)) {
                int64_t c = ctl_field_int(config, "cpu"), m = ctl_field_int(config, "memory");
                if (c > 0)
                        snprintf(cpu, sizeof(cpu), "%lld", (long long) c);
                if (m > 0)
                        format_size((uint64_t) m, memory);
        }
        ctl_format_local_time(ctl_field_string(s, "createdAt"), created, sizeof(created));
        const char *cells[] = {ctl_field_string(s, "id"),
                               ctl_field_string(s, "name"),
                               cpu,
                               memory,
                               ctl_field_string(s, "vm"),
                               created,
                               ctl_field_string(s, "description") ?: ""};
        return table_add_row(t, cells);
}

int verb_snapshot_list(int argc, char **argv) {
        static const char *const headers[] = {"ID", "NAME", "CPU", "MEMORY", "VM", "CREATED", "DESCRIPTION"};
        _cleanup_(json_object_putp) json_object *p = json_object_new_object(), *list = NULL;
        _cleanup_(table_freep) Table *t = NULL;
        if (!p || json_add_string(p, "vm", arg_snapshot_vm) < 0)
                return log_oom();
        int r = call_one("io.cocoon.Snapshot.List", p, "snapshots", &list);
        if (r < 0)
                return r;
        if (!json_object_is_type(list, json_type_array)) {
                ctl_log_errno(EBADMSG, "io.cocoon.Snapshot.List reply has no snapshots array");
                return -EBADMSG;
        }
        if (arg_json) {
                ctl_print_json(list);
                return 0;
        }
        if (table_new(&t, headers, ELEMENTSOF(headers)) < 0)
                return log_oom();
        for (size_t i = 0; i < json_object_array_length(list); i++)
                if (snapshot_table_add(t, json_object_array_get_idx(list, i)) < 0)
                        return log_oom();
        if (table_rows(t) == 0) {
                printf(arg_snapshot_vm ? "No snapshots found for VM %s.\n" : "No snapshots found.\n",
                       arg_snapshot_vm);
                return 0;
        }
        return table_print(t);
}

int verb_snapshot_inspect(int argc, char **argv) {
        _cleanup_(json_object_putp) json_object *p = json_object_new_object(), *snapshot = NULL;
        if (!p || json_add_string(p, "ref", argv[0]) < 0)
                return log_oom();
        int r = call_one("io.cocoon.Snapshot.Inspect", p, "snapshot", &snapshot);
        if (r < 0)
                return r;
        ctl_print_json(snapshot);
        return 0;
}

/* Removes each reference in turn; reports every failure and fails if any did. */
int verb_snapshot_rm(int argc, char **argv) {
        _cleanup_(varlink_unrefp) Varlink *link = NULL;
        _cleanup_(json_object_putp) json_object *removed = json_object_new_array();
        size_t n_ok = 0, n_failed = 0;

        if (!removed)
                return ctl_log_oom();
        int r = ctl_connect(&link);
        if (r < 0)
                return r;
        for (int i = 0; i < argc; i++) {
                _cleanup_(json_object_putp) json_object *p = json_object_new_object();
                json_object *reply = NULL;
                if (!p || json_add_string(p, "ref", argv[i]) < 0)
                        return ctl_log_oom();
                r = ctl_call(link, "io.cocoon.Snapshot.Delete", p, &reply);
                if (r < 0) {
                        n_failed++;
                        continue;
                }
                n_ok++;
                const char *id = ctl_field_string(reply, "id") ?: argv[i];
                if (json_object_array_add(removed, json_object_new_string(id)) < 0)
                        return ctl_log_oom();
                if (!arg_json)
                        printf("%s\n", id);
        }
        if (arg_json)
                ctl_print_json(removed);
        return ctl_batch_result(n_ok, n_failed);
}

int verb_vm_clone(int argc, char **argv) {
        _cleanup_(json_object_putp) json_object *p = json_object_new_object(), *vm = NULL;
        uint64_t cpu;
        int r;
        if (!p || json_add_string(p, "snapshot", argv[0]) < 0 || json_add_string(p, "name", arg_name) < 0 ||
            json_add_bool(p, "start", !arg_no_start) < 0)
                return log_oom();
        if (arg_cpu) {
                if (parse_uint64(arg_cpu, &cpu) < 0 || cpu > INT32_MAX) {
                        ctl_log_errno(EINVAL, "invalid --cpu '%s'", arg_cpu);
                        return -EINVAL;
                }
                if (json_add_int64(p, "cpu", (int64_t) cpu) < 0)
                        return log_oom();
        }
        if ((r = ctl_add_size(p, "memory", arg_memory)) < 0 || (r = ctl_add_size(p, "storage", arg_storage)) < 0)
                return r;
        r = call_one("io.cocoon.VM.Clone", p, "vm", &vm);
        if (r < 0)
                return r;
        if (arg_json) {
                ctl_print_json(vm);
                return 0;
        }
        printf("%s\n", ctl_field_string(vm, "id") ?: "");
        fprintf(stderr, "VM %s (%s) %s.\n", ctl_field_string(vm, "name") ?: "?",
                ctl_field_string(vm, "id") ?: "?", ctl_field_string(vm, "state") ?: "?");
        return 0;
}

int verb_vm_restore(int argc, char **argv) {
        _cleanup_(json_object_putp) json_object *p = json_object_new_object(), *vm = NULL;
        if (!p || json_add_string(p, "vm", argv[0]) < 0 || json_add_string(p, "snapshot", argv[1]) < 0)
                return log_oom();
        int r = call_one("io.cocoon.VM.Restore", p, "vm", &vm);
        if (r < 0)
                return r;
        if (arg_json) {
                ctl_print_json(vm);
                return 0;
        }
        printf("%s\n", ctl_field_string(vm, "id") ?: "");
        fprintf(stderr, "VM %s (%s) restored from snapshot %s, %s.\n", ctl_field_string(vm, "name") ?: "?",
                ctl_field_string(vm, "id") ?: "?", argv[1], ctl_field_string(vm, "state") ?: "?");
        return 0;
}
