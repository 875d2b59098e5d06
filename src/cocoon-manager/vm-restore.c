/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* io.cocoon.VM.Restore: a running VM back to one of its own snapshots, atomically. Everything that can be
 * checked is checked here, before anything is touched; the rest (disk copies, the restored hypervisor as the
 * VM's other unit, the swap) is a VM task (vm-task.c, backend-restore.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypervisor.h"
#include "json-util.h"
#include "log.h"
#include "snapshot-store.h"
#include "snapshot-varlink.h"
#include "state.h"
#include "varlink-interfaces.h"
#include "vm-clone.h"
#include "vm-restore.h"
#include "vm-task.h"
#include "vm-varlink.h"
#include "vm.h"

typedef struct RestoreRequest {
        const char *vm, *snapshot;
} RestoreRequest;

typedef struct RestoreCall {
        Varlink *link;
        char snapshot_id[ID_LENGTH + 1];
} RestoreCall;

static void restore_call_free(Manager *m, RestoreCall *c) {
        Snapshot *s = snapshot_store_get(m->snapshots, c->snapshot_id);
        if (s && s->users > 0)
                s->users--;
        varlink_unref(c->link);
        free(c);
}

static int reply_invalid_state(Manager *m, Varlink *link, const char *id, const char *message) {
        _cleanup_(json_object_putp) json_object *p = json_object_new_object();
        const VMRecord *r = store_get(m->store, id);
        if (!p || json_add_string(p, "id", id) < 0 || json_add_string(p, "message", message) < 0 ||
            (r && json_add_string(p, "state", vm_state_to_string(vm_state(m, r))) < 0))
                return -ENOMEM;
        return varlink_error(link, VM_ERROR_INVALID_STATE, p);
}

static int reply_failed(Manager *m, Varlink *link, const char *error_id, const char *id,
                        const char *message) {
        _cleanup_(json_object_putp) json_object *p = json_object_new_object();
        if (streq(error_id, COCOON_ERROR_SHUTTING_DOWN))
                return varlink_errorf(link, error_id, "%s", message ?: "shutting down");
        if (streq(error_id, VM_ERROR_INVALID_STATE))
                return reply_invalid_state(m, link, id, message ?: "not allowed now");
        if (streq(error_id, VM_ERROR_INVALID_CONFIGURATION))
                return varlink_error_field(link, error_id, "snapshot",
                                           message ?: "the snapshot's files are unusable");
        if (streq(error_id, VM_ERROR_INCOMPATIBLE_SNAPSHOT))
                return varlink_error_field(link, error_id, "hypervisorVersion",
                                           message ?: "another hypervisor version");
        if (!p || json_add_string(p, "id", id) < 0 || json_add_string(p, "message", message ?: error_id) < 0)
                return -ENOMEM;
        return varlink_error(
                link, streq(error_id, VM_ERROR_RECORD_NOT_WRITTEN) ? error_id : VM_ERROR_HYPERVISOR_FAILED,
                p);
}

static void on_restore_done(Manager *m, const VmTask *t, const char *error_id, const char *message,
                            void *userdata) {
        RestoreCall *c = userdata;
        const VMRecord *record = store_get(m->store, vm_task_id(t));
        _cleanup_(json_object_putp) json_object *reply = NULL;
        json_object *vm;

        if (error_id)
                (void) reply_failed(m, c->link, error_id, vm_task_id(t), message);
        else if (!record || !(reply = json_object_new_object()) ||
                 vm_to_json(m, record, VM_VIEW_PUBLIC, &vm) < 0 || json_add_object(reply, "vm", vm) < 0)
                (void) varlink_error_errno(c->link, ENOMEM);
        else
                (void) varlink_reply(c->link, reply);
        restore_call_free(m, c);
}

/* The base name of a path ("" if it has none). */
static const char *base_name(const char *path) {
        const char *slash = path ? strrchr(path, '/') : NULL;
        return slash ? slash + 1 : path ?: "";
}

/* What the saved state fixes of the VM, and the disks the snapshot must bring back: 1 when the VM is the
 * snapshot's, else replied (0). */
static int check_fits(Varlink *link, const VMRecord *vm, const Snapshot *s) {
        const VMRecord *was = s->vm;
        char message[512];
        size_t n_vm = 0, n_was = 0;

        if (!streq_ptr(vm->vm.backend, s->backend)) {
                snprintf(message, sizeof(message),
                         "the snapshot was taken with the %s backend, the VM runs %s", s->backend,
                         vm->vm.backend);
                return varlink_error_field(link, VM_ERROR_INCOMPATIBLE_SNAPSHOT, "backend", message);
        }
        if (vm->vm.config.cpu != was->vm.config.cpu) {
                snprintf(message, sizeof(message), "the snapshot's guest has %u vCPUs, the VM %u",
                         was->vm.config.cpu, vm->vm.config.cpu);
                return varlink_error_field(link, VM_ERROR_INCOMPATIBLE_SNAPSHOT, "cpu", message);
        }
        if (vm->vm.config.memory != was->vm.config.memory) {
                snprintf(message, sizeof(message),
                         "the snapshot's guest has %llu MiB of RAM, the VM %llu MiB",
                         (unsigned long long) (was->vm.config.memory >> 20),
                         (unsigned long long) (vm->vm.config.memory >> 20));
                return varlink_error_field(link, VM_ERROR_INCOMPATIBLE_SNAPSHOT, "memory", message);
        }
        /* Each writable disk of the VM comes back from the snapshot's copy under the same name. */
        for (size_t i = 0; i < vm->vm.n_storage_configs; i++)
                n_vm += !vm->vm.storage_configs[i].read_only;
        for (size_t i = 0; i < was->vm.n_storage_configs; i++)
                n_was += !was->vm.storage_configs[i].read_only;
        bool same = n_vm == n_was && vm->vm.n_storage_configs == was->vm.n_storage_configs;
        for (size_t i = 0; same && i < vm->vm.n_storage_configs; i++) {
                const StorageConfig *a = vm->vm.storage_configs + i, *b = was->vm.storage_configs + i;
                same = a->read_only == b->read_only && a->role == b->role &&
                       (a->read_only ? streq_ptr(a->path, b->path)
                                     : streq(base_name(a->path), base_name(b->path)));
        }
        if (!same) {
                snprintf(message, sizeof(message),
                         "the snapshot's disks (%zu, %zu writable) are not the VM's (%zu, %zu writable)",
                         was->vm.n_storage_configs, n_was, vm->vm.n_storage_configs, n_vm);
                return varlink_error_field(link, VM_ERROR_INCOMPATIBLE_SNAPSHOT, "storageConfigs", message);
        }
        return 1;
}

int vl_method_vm_restore(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata) {
        static const JsonDispatch table[] = {
                {"vm", json_type_string, json_dispatch_const_string, offsetof(RestoreRequest, vm),
                 JSON_MANDATORY},
                {"snapshot", json_type_string, json_dispatch_const_string,
                 offsetof(RestoreRequest, snapshot), JSON_MANDATORY},
                {},
        };
        Manager *m = userdata;
        RestoreRequest req = {};
        const char *bad = NULL;
        const VMRecord *vm;
        const Snapshot *cs;
        char message[256];

        int r = json_dispatch(parameters, table, 0, &req, &bad);
        if (r < 0)
                return varlink_error_invalid_parameter(link, bad ?: "parameters");
        r = manager_resolve_vm(m, link, req.vm, &vm);
        if (r <= 0)
                return r;
        r = snapshot_store_resolve(m->snapshots, req.snapshot, &cs, NULL);
        if (r < 0)
                return snapshot_reply_reference_error(link, VM_ERROR_NO_SUCH_SNAPSHOT, "snapshot", req.snapshot, r, NULL);
        Snapshot *s = snapshot_store_get(m->snapshots, cs->id);

        /* A restore starts a hypervisor from the snapshot (the clone hook), as the VM's other unit. */
        const Hypervisor *h = hypervisor_find(vm->vm.backend);
        if (!h || !h->clone)
                return varlink_errorf(link, VM_ERROR_NOT_SUPPORTED,
                                      "VM %s runs on %s, which cannot start from a snapshot", vm->vm.name,
                                      vm->vm.backend ?: "?");
        /* Two hypervisors run the VM for a moment: a TAP (bridge or CNI) is multiqueue when the hypervisor
         * opens it so (taps_create(), the network helper's multiQueue) and takes both. */
        if (vm->vm.n_network_configs > 0 && !h->taps_multiqueue)
                return varlink_errorf(link, VM_ERROR_NOT_SUPPORTED,
                                      "VM %s has NICs: %s opens its TAPs single-queue, so a second %s cannot "
                                      "take them while the VM runs", vm->vm.name, h->type, h->type);
        /* Its own snapshots only (an imported one is its own when it records the VM's id as its source). */
        if (!s->vm || !streq_ptr(s->vm->vm.id, vm->vm.id)) {
                snprintf(message, sizeof(message), "snapshot %s was taken of VM %s, not of %s (%s)", s->name,
                         s->vm && s->vm->vm.id ? s->vm->vm.id : "?", vm->vm.name, vm->vm.id);
                return varlink_error_field(link, VM_ERROR_INVALID_CONFIGURATION, "snapshot", message);
        }
        /* Refused at once when it cannot work; the task checks the state again when its turn comes. */
        VMState state = vm_state(m, vm);
        if (vm_transition_allowed(state, VM_OPERATION_RESTORE, false) != VM_TRANSITION_ALLOWED)
                return reply_invalid_state(m, link, vm->vm.id,
                                           vm_transition_refusal_reason(state, VM_OPERATION_RESTORE, false)
                                                   ?: "not allowed now");
        if ((r = vm_clone_check_compatible(m, link, s, vm_accel(m, vm))) <= 0 ||
            (r = check_fits(link, vm, s)) <= 0)
                return r;

        _cleanup_free_ char *dir = NULL;
        if ((r = snapshot_store_dir(m->snapshots, s->id, &dir)) < 0)
                return r;
        RestoreCall *c = calloc(1, sizeof(RestoreCall));
        if (!c)
                return -ENOMEM;
        memcpy(c->snapshot_id, s->id, sizeof(c->snapshot_id));
        c->link = varlink_ref(link);
        /* The snapshot stays until the restore no longer reads it (Delete refuses meanwhile). */
        s->users++;
        r = vm_task_submit(
                m, VM_TASK_RESTORE, vm->vm.id,
                &(VmTaskOptions){.snapshot_dir = dir, .hypervisor_version = s->hypervisor_version},
                on_restore_done, c);
        if (r < 0) {
                restore_call_free(m, c);
                return r;
        }
        return 0;
}
