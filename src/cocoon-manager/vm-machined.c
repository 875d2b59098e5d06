/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Running VMs as systemd-machined machines, so machinectl list/status show them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"
#include "log.h"
#include "store.h"
#include "vm-machined.h"

#define MACHINE_NAME_MAX 64

bool vm_machine_name_is_valid(const char *name) {
        size_t n = name ? strlen(name) : 0;

        if (n == 0 || n > MACHINE_NAME_MAX || name[0] == '.' || name[n - 1] == '.')
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = name[i];
                bool ldh = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                           c == '-';
                if (c == '.' ? name[i + 1] == '.' : !ldh)
                        return false;
        }
        return true;
}

/* machined may be absent (no systemd-container) or refuse: the VM runs all the same. */
static int on_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        const char *what = userdata;
        (void) ret_error;

        const sd_bus_error *e = sd_bus_message_get_error(reply);
        if (e)
                log_debug("machined: %s: %s", what, e->message ?: e->name);
        return 0;
}

static int machined_call(Manager *m, const char *method, const char *name, uint32_t leader) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL;
        static const uint8_t no_id[16] = {};
        int r;

        r = sd_bus_message_new_method_call(m->bus, &msg, "org.freedesktop.machine1",
                                           "/org/freedesktop/machine1", "org.freedesktop.machine1.Manager",
                                           method);
        if (r < 0)
                return r;
        r = sd_bus_message_append(msg, "s", name);
        if (r >= 0 && leader != 0) {
                /* RegisterMachine attaches the unit the leader already runs in (CreateMachine would make a
                 * scope of its own). */
                r = sd_bus_message_append_array(msg, 'y', no_id, sizeof(no_id));
                if (r >= 0)
                        r = sd_bus_message_append(msg, "ssus", "cocoon", "vm", leader, "");
        }
        if (r < 0)
                return r;
        return sd_bus_call_async(m->bus, NULL, msg, on_reply, (void *) method, 0);
}

/* A registration: "<id>\0<name>" in one allocation, the id being the map's key. */
static const char *machine_name(const char *entry) {
        return entry + strlen(entry) + 1;
}

static void machine_register(Manager *m, const char *id, const char *name, uint32_t leader) {
        if (!vm_machine_name_is_valid(name)) {
                log_debug("VM %s: its name is no valid machine name; not registered with machined.", id);
                return;
        }
        size_t n_id = strlen(id) + 1, n_name = strlen(name) + 1;
        _cleanup_free_ char *entry = malloc(n_id + n_name);
        if (!entry) {
                log_oom();
                return;
        }
        memcpy(entry, id, n_id);
        memcpy(entry + n_id, name, n_name);
        if (hashmap_put(m->machines, entry, entry) < 0) {
                log_oom();
                return;
        }
        const char *e = TAKE_PTR(entry);
        int r = machined_call(m, "RegisterMachine", machine_name(e), leader);
        if (r < 0)
                log_debug_errno(r, "VM %s: cannot ask machined to register it: %m", id);
}

static void machine_unregister(Manager *m, const char *id) {
        _cleanup_free_ char *entry = hashmap_remove(m->machines, id);
        if (!entry)
                return;
        int r = machined_call(m, "UnregisterMachine", machine_name(entry), 0);
        if (r < 0)
                log_debug_errno(r, "VM %s: cannot ask machined to unregister it: %m", id);
}

static void machine_sync(Manager *m, const char *id, const VMRecord *record) {
        uint32_t leader = record && record->vm.state == VM_STATE_RUNNING ? vm_get_main_pid(m, id) : 0;
        bool registered = hashmap_contains(m->machines, id);

        if (leader != 0 && !registered)
                machine_register(m, id, record->vm.name, leader);
        else if (leader == 0 && registered)
                machine_unregister(m, id);
}

void vm_machined_event(Manager *m, VmEvent event, const char *id, const VMRecord *record) {
        if (!m->bus)
                return;
        if (!m->machines && hashmap_new(&m->machines) < 0) {
                log_oom();
                return;
        }
        machine_sync(m, id, event == VM_EVENT_REMOVED ? NULL : record);
}

void vm_machined_sync_all(Manager *m) {
        const VMRecord *record;
        size_t state = 0;

        while (store_iterate(m->store, &state, &record))
                vm_machined_event(m, VM_EVENT_CHANGED, record->vm.id, record);
}

void vm_machined_free(Manager *m) {
        size_t state = 0;
        void *name;

        while (m->machines && hashmap_iterate(m->machines, &state, NULL, &name))
                free(name);
        m->machines = hashmap_free(m->machines);
}
