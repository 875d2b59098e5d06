/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* io.cocoon.Manager.Describe: version, directories, backends and record counts. */
#include "config.h"
#include "hypervisor.h"
#include "json-util.h"
#include "log.h"
#include "manager.h"
#include "vm-types.h"

/* Versions need a process each (~20 ms for qemu): done once, on first use, not at every start-up. */
static void manager_probe_backend_versions(Manager *m) {
        if (m->backend_versions_probed)
                return;
        for (size_t i = 0; i < hypervisor_table_size && i < ELEMENTSOF(m->backend_path); i++)
                if (m->backend_path[i])
                        (void) binary_version(m->backend_path[i], &m->backend_version[i]);
        m->backend_versions_probed = true;
}

static json_object *backends_to_json(Manager *m) {
        json_object *a = json_object_new_array();
        for (size_t i = 0; a && i < hypervisor_table_size && i < ELEMENTSOF(m->backend_path); i++) {
                json_object *b = json_object_new_object();
                if (!b || json_object_array_add(a, b) < 0) {
                        json_object_put(b);
                        return json_object_put(a), NULL;
                }
                if (json_add_string(b, "name", hypervisor_table[i]->type) < 0 ||
                    json_add_bool(b, "available", m->backend_path[i] != NULL) < 0 ||
                    json_add_string(b, "path", m->backend_path[i]) < 0 ||
                    json_add_string(b, "version", m->backend_version[i]) < 0)
                        return json_object_put(a), NULL;
        }
        return a;
}

static json_object *counts_by_state_to_json(Manager *m) {
        json_object *o = json_object_new_object();
        for (int s = 0; o && s < _VM_STATE_MAX; s++) {
                size_t n = store_count_state(m->store, (VMState) s);
                if (n > 0 && json_add_int64(o, vm_state_to_string((VMState) s), (int64_t) n) < 0)
                        return json_object_put(o), NULL;
        }
        return o;
}

int vl_method_manager_describe(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata) {
        Manager *m = userdata;

        manager_probe_backend_versions(m);

        _cleanup_(json_object_putp) json_object *reply = json_object_new_object();
        if (!reply)
                return -ENOMEM;
        if (json_add_string(reply, "version", COCOON_VERSION) < 0 ||
            json_add_string(reply, "stateDirectory", m->state_dir) < 0 ||
            json_add_string(reply, "runtimeDirectory", m->run_dir) < 0 ||
            json_add_string(reply, "logDirectory", m->log_dir) < 0 ||
            json_add_object(reply, "backends", backends_to_json(m)) < 0 ||
            json_add_string(reply, "defaultBackend", "qemu") < 0 ||
            json_add_string(reply, "accelerator", accel_to_string(m->host_accel)) < 0 ||
            json_add_int64(reply, "vms", (int64_t) store_count(m->store)) < 0 ||
            json_add_object(reply, "vmsByState", counts_by_state_to_json(m)) < 0 ||
            json_add_int64(reply, "corruptRecords", (int64_t) store_corrupt_count(m->store)) < 0 ||
            json_add_int64(reply, "connections",
                           (int64_t) varlink_server_current_connections(m->varlink_server)) < 0)
                return -ENOMEM;
        return varlink_reply(link, reply);
}
