/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* io.cocoon.VM.Clone: a new VM from a snapshot. Checks first (compatibility, resources, name), then a
 * placeholder record, a clone task (disks from the snapshot), and a start that loads the saved state. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus-unit.h"
#include "hypervisor.h"
#include "id.h"
#include "json-util.h"
#include "log.h"
#include "network-tap.h"
#include "qemu.h"
#include "snapshot-store.h"
#include "snapshot-varlink.h"
#include "strv-util.h"
#include "time-util.h"
#include "varlink-interfaces.h"
#include "vm-clone.h"
#include "vm-task.h"
#include "vm.h"

typedef struct CloneRequest {
        const char *snapshot, *name;
        int64_t cpu, memory, storage; /* -1: the snapshot's */
        bool start;
} CloneRequest;

typedef struct CloneCall {
        Varlink *link;
        char snapshot_id[ID_LENGTH + 1];
        char *snapshot_dir;
        bool memory_file; /* the snapshot's memoryFormat is file */
        bool start;
        const char *error_id; /* a failed start: the error to reply once the clone is removed */
        char *message;
} CloneCall;

static void clone_call_free(Manager *m, CloneCall *c) {
        Snapshot *s = snapshot_store_get(m->snapshots, c->snapshot_id);
        if (s && s->users > 0)
                s->users--;
        varlink_unref(c->link);
        free(c->snapshot_dir);
        free(c->message);
        free(c);
}

static int reply_failed(Varlink *link, const char *error_id, const char *id, const char *message) {
        _cleanup_(json_object_putp) json_object *p = json_object_new_object();
        if (streq(error_id, COCOON_ERROR_SHUTTING_DOWN))
                return varlink_errorf(link, error_id, "%s", message ?: "shutting down");
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

static void reply_vm(Manager *m, Varlink *link, const char *id) {
        const VMRecord *record = store_get(m->store, id);
        _cleanup_(json_object_putp) json_object *reply = json_object_new_object();
        json_object *vm;
        if (!record || !reply || vm_to_json(m, record, VM_VIEW_PUBLIC, &vm) < 0 ||
            json_add_object(reply, "vm", vm) < 0) {
                (void) varlink_error_errno(link, ENOMEM);
                return;
        }
        (void) varlink_reply(link, reply);
}

/* The clone that could not start is removed (disks, unit, record): then the call fails. */
static void on_clone_removed(Manager *m, const VmTask *t, const char *error_id, const char *message,
                             void *userdata) {
        CloneCall *c = userdata;
        if (error_id)
                log_vm_warning(vm_task_id(t), "VM %s: cannot remove the clone that failed: %s",
                               vm_task_id(t), message ?: error_id);
        (void) reply_failed(c->link, c->error_id, vm_task_id(t), c->message);
        clone_call_free(m, c);
}

static void on_clone_started(Manager *m, const VmTask *t, const char *error_id, const char *message,
                             void *userdata) {
        CloneCall *c = userdata;
        if (!error_id) {
                reply_vm(m, c->link, vm_task_id(t));
                return clone_call_free(m, c);
        }
        c->error_id = error_id;
        c->message = message ? strdup(message) : NULL;
        /* A shutdown leaves the record for the next manager's roll-back; anything else goes at once. */
        if (streq(error_id, COCOON_ERROR_SHUTTING_DOWN) ||
            vm_task_submit(m, VM_TASK_DELETE, vm_task_id(t), &(VmTaskOptions){.force = true},
                           on_clone_removed, c) < 0) {
                (void) reply_failed(c->link, error_id, vm_task_id(t), message);
                clone_call_free(m, c);
        }
}

static void on_clone_created(Manager *m, const VmTask *t, const char *error_id, const char *message,
                             void *userdata) {
        CloneCall *c = userdata;
        if (error_id) {
                (void) reply_failed(c->link, error_id, vm_task_id(t), message);
                return clone_call_free(m, c);
        }
        if (!c->start) {
                reply_vm(m, c->link, vm_task_id(t));
                return clone_call_free(m, c);
        }
        VmTaskOptions o = {.snapshot_dir = c->snapshot_dir, .memory_file = c->memory_file};
        int r = vm_task_submit(m, VM_TASK_START, vm_task_id(t), &o, on_clone_started, c);
        if (r < 0) {
                (void) varlink_error_errno(c->link, -r);
                clone_call_free(m, c);
        }
}

static int request_parse(json_object *p, CloneRequest *req, const char **ret_bad) {
        static const JsonDispatch table[] = {
                {"snapshot", json_type_string, json_dispatch_const_string, offsetof(CloneRequest, snapshot),
                 JSON_MANDATORY},
                {"name", json_type_string, json_dispatch_const_string, offsetof(CloneRequest, name),
                 JSON_NULLABLE},
                {"cpu", json_type_int, json_dispatch_int64, offsetof(CloneRequest, cpu), JSON_NULLABLE},
                {"memory", json_type_int, json_dispatch_int64, offsetof(CloneRequest, memory),
                 JSON_NULLABLE},
                {"storage", json_type_int, json_dispatch_int64, offsetof(CloneRequest, storage),
                 JSON_NULLABLE},
                {"start", json_type_boolean, json_dispatch_bool, offsetof(CloneRequest, start),
                 JSON_NULLABLE},
                {},
        };
        *req = (CloneRequest){.cpu = -1, .memory = -1, .storage = -1, .start = true};
        return json_dispatch(p, table, 0, req, ret_bad);
}

int vm_clone_check_compatible(Manager *m, Varlink *link, const Snapshot *s, Accel accel) {
        const Hypervisor *h = hypervisor_find(s->backend);
        char message[256];

        if (!h || !h->clone || !cocoon_config_backend_binary(&m->config, s->backend)) {
                snprintf(message, sizeof(message), "the snapshot's backend %s cannot start snapshots here",
                         s->backend);
                return varlink_error_field(link, VM_ERROR_INCOMPATIBLE_SNAPSHOT, "backend", message);
        }
        if (!streq_ptr(h->machine, s->machine)) {
                snprintf(message, sizeof(message), "the snapshot's machine is %s, this host's %s",
                         s->machine, h->machine ?: "?");
                return varlink_error_field(link, VM_ERROR_INCOMPATIBLE_SNAPSHOT, "machine", message);
        }
        if (!streq(accel_to_string(accel), s->accel)) {
                snprintf(message, sizeof(message),
                         "the snapshot was taken under %s, a clone here runs under %s", s->accel,
                         accel_to_string(accel));
                return varlink_error_field(link, VM_ERROR_INCOMPATIBLE_SNAPSHOT, "accel", message);
        }
        if (!h->cpu_model || !streq(h->cpu_model(accel), s->cpu_model)) {
                snprintf(message, sizeof(message), "the snapshot's CPU model is %s, a clone here gets %s",
                         s->cpu_model, h->cpu_model ? h->cpu_model(accel) : "?");
                return varlink_error_field(link, VM_ERROR_INCOMPATIBLE_SNAPSHOT, "cpuModel", message);
        }
        return 1;
}

/* Resources the saved state fixes; 1 when the request fits, else replied (0). */
static int check_resources(Varlink *link, const CloneRequest *req, const Snapshot *s) {
        const Config *c = &s->vm->vm.config;
        char message[256];

        if (req->cpu >= 0 && (uint64_t) req->cpu != c->cpu) {
                snprintf(message, sizeof(message),
                         "cpu must be the snapshot's %u: the vCPUs are in its saved state", c->cpu);
                return varlink_error_field(link, VM_ERROR_INVALID_CONFIGURATION, "cpu", message);
        }
        if (req->memory >= 0 && (uint64_t) req->memory != c->memory) {
                snprintf(message, sizeof(message),
                         "memory must be the snapshot's %llu MiB: the RAM is in its saved state",
                         (unsigned long long) (c->memory >> 20));
                return varlink_error_field(link, VM_ERROR_INVALID_CONFIGURATION, "memory", message);
        }
        if (req->storage >= 0 && (c->storage == 0 || (uint64_t) req->storage < c->storage)) {
                snprintf(message, sizeof(message),
                         c->storage == 0 ? "the snapshot has no COW disk to size"
                                         : "storage must be at least the snapshot's %llu MiB",
                         (unsigned long long) (c->storage >> 20));
                return varlink_error_field(link, VM_ERROR_INVALID_CONFIGURATION, "storage", message);
        }
        return 1;
}

/* The clone's record: the snapshot's VM with a new identity; its writable disks in its own directory. */
static int record_build(Manager *m, const Snapshot *s, const CloneRequest *req, const char *id,
                        const char *name, VMRecord **ret) {
        _cleanup_(vm_record_freep) VMRecord *r = NULL;
        _cleanup_free_ char *vm_dir = NULL;
        int k = vm_record_copy(s->vm, &r);
        if (k < 0)
                return k;
        free(r->vm.id);
        free(r->vm.name);
        free(r->run_dir);
        free(r->log_dir);
        free(r->unit);
        free(r->error_reason);
        r->error_reason = NULL;
        r->vm.snapshot_ids = strv_free(r->vm.snapshot_ids);
        r->vm.state = VM_STATE_CREATING;
        r->vm.first_booted = false;
        r->vm.created_at = r->vm.updated_at = now_usec(CLOCK_REALTIME);
        r->vm.started_at = r->vm.stopped_at = 0;
        if (req->storage > 0)
                r->vm.config.storage = (uint64_t) req->storage;
        if (!(r->vm.id = strdup(id)) || !(r->vm.name = strdup(name)) ||
            asprintf(&r->run_dir, "%s/vms/%s", m->run_dir, id) < 0 ||
            asprintf(&r->log_dir, "%s/vms/%s", m->log_dir, id) < 0 || unit_name_for_vm(id, &r->unit) < 0 ||
            store_vm_dir(m->store, id, &vm_dir) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < r->vm.n_storage_configs; i++) {
                StorageConfig *d = r->vm.storage_configs + i;
                const char *base = strrchr(d->path, '/');
                char *p;
                if (d->read_only)
                        continue;
                if (!base || asprintf(&p, "%s%s", vm_dir, base) < 0)
                        return -ENOMEM;
                free(d->path);
                d->path = p;
        }
        /* The guest's NICs get TAPs of the clone's own and new MACs (the source may run beside it). */
        k = nics_renew(r->vm.network_configs, r->vm.n_network_configs, id);
        if (k < 0)
                return k;
        *ret = TAKE_PTR(r);
        return 0;
}

int vl_method_vm_clone(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata) {
        Manager *m = userdata;
        _cleanup_(vm_record_freep) VMRecord *record = NULL;
        CloneRequest req;
        const char *bad = NULL;
        const Snapshot *cs;
        char id[ID_LENGTH + 1], name[VM_NAME_MAX + 1], message[256];

        int r = request_parse(parameters, &req, &bad);
        if (r < 0)
                return varlink_error_invalid_parameter(link, bad ?: "parameters");
        r = snapshot_store_resolve(m->snapshots, req.snapshot, &cs, NULL);
        if (r < 0)
                return snapshot_reply_reference_error(link, VM_ERROR_NO_SUCH_SNAPSHOT, "snapshot", req.snapshot, r, NULL);
        Snapshot *s = snapshot_store_get(m->snapshots, cs->id);
        /* The accelerator the clone gets here: its record's (the source's), else the configured one. */
        Accel accel = vm_accel(m, s->vm);
        if ((r = vm_clone_check_compatible(m, link, s, accel)) <= 0 ||
            (r = check_resources(link, &req, s)) <= 0)
                return r;

        if ((r = id_generate(id)) < 0)
                return r;
        if (req.name)
                snprintf(name, sizeof(name), "%s", req.name);
        else
                snprintf(name, sizeof(name), "%.*s-clone-%.8s", VM_NAME_MAX - 15, s->name, id);
        if (!vm_name_is_valid(req.name ?: name))
                return varlink_error_field(
                        link, VM_ERROR_INVALID_CONFIGURATION, "name",
                        "name must be 1-63 characters of A-Z a-z 0-9 . _ -, starting with a letter or "
                        "digit");
        const VMRecord *other = store_get_by_name(m->store, name);
        if (other) {
                _cleanup_(json_object_putp) json_object *p = json_object_new_object();
                snprintf(message, sizeof(message), "VM name '%s' is already used by %s", name, other->vm.id);
                if (!p || json_add_string(p, "name", name) < 0 ||
                    json_add_string(p, "id", other->vm.id) < 0 || json_add_string(p, "message", message) < 0)
                        return -ENOMEM;
                return varlink_error(link, VM_ERROR_NAME_IN_USE, p);
        }

        r = record_build(m, s, &req, id, name, &record);
        if (r < 0)
                return r;
        const char *field = NULL;
        _cleanup_free_ char *invalid = NULL;
        if (vm_record_validate(record, &field, &invalid) < 0)
                return varlink_error_field(link, VM_ERROR_INVALID_CONFIGURATION, field ?: "snapshot",
                                           invalid ?: "invalid");

        CloneCall *c = calloc(1, sizeof(CloneCall));
        if (!c)
                return -ENOMEM;
        memcpy(c->snapshot_id, s->id, sizeof(c->snapshot_id));
        c->start = req.start;
        c->memory_file = s->memory_file;
        if ((r = snapshot_store_dir(m->snapshots, s->id, &c->snapshot_dir)) < 0) {
                free(c);
                return r;
        }
        /* The snapshot stays until the clone no longer reads it (Delete refuses meanwhile). */
        s->users++;
        r = vm_add(m, record);
        if (r < 0) {
                clone_call_free(m, c);
                return r;
        }
        c->link = varlink_ref(link);
        r = vm_task_submit(m, VM_TASK_CLONE, id,
                           &(VmTaskOptions){.snapshot_dir = c->snapshot_dir,
                                            .hypervisor_version = s->hypervisor_version,
                                            .keep_state = !req.start,
                                            .memory_file = s->memory_file},
                           on_clone_created, c);
        if (r < 0) {
                (void) vm_remove(m, id);
                clone_call_free(m, c);
                return r;
        }
        return 0;
}
