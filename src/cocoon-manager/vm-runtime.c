/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What systemd says about running VMs: a cache for List, a fresh read for Inspect. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>

#include "bus-unit.h"
#include "id.h"
#include "job-queue.h"
#include "json-util.h"
#include "log.h"
#include "qemu.h"
#include "time-util.h"
#include "vm-runtime.h"
#include "vm-varlink.h"

typedef struct PidEntry {
        char id[ID_LENGTH + 1];
        uint32_t main_pid;
} PidEntry;

void vm_runtime_set_pid(Manager *m, const char *id, uint32_t main_pid) {
        PidEntry *e = hashmap_get(m->main_pids, id);
        if (main_pid == 0) {
                free(hashmap_remove(m->main_pids, id));
                return;
        }
        if (!e) {
                e = calloc(1, sizeof(PidEntry));
                if (!e)
                        return;
                snprintf(e->id, sizeof(e->id), "%s", id);
                if (hashmap_put(m->main_pids, e->id, e) < 0) {
                        free(e);
                        return;
                }
        }
        e->main_pid = main_pid;
}

uint32_t vm_runtime_get_pid(Manager *m, const char *id) {
        PidEntry *e = hashmap_get(m->main_pids, id);
        return e ? e->main_pid : 0;
}

void vm_runtime_free_all(Manager *m) {
        size_t state = 0;
        void *e;
        while (m->main_pids && hashmap_iterate(m->main_pids, &state, NULL, &e))
                free(e);
        hashmap_free(m->main_pids);
        m->main_pids = NULL;
}

static const char *vm_accelerator(Manager *m, const VMRecord *r) {
        return accel_to_string(manager_vm_accel(m, r));
}

int vm_runtime_splice(Manager *m, const VMRecord *r, const char *text, size_t size, char **ret, size_t *ret_size) {
        uint32_t pid = vm_runtime_get_pid(m, r->vm.id);
        *ret = NULL;
        if (pid == 0 || size < 2 || text[size - 1] != '}')
                return 0;
        char *s;
        int n = asprintf(&s, "%.*s,\"runtime\":{\"unit\":\"%s\",\"mainPID\":%" PRIu32 ",\"accelerator\":\"%s\"}}",
                         (int) size - 1, text, r->unit, pid, vm_accelerator(m, r));
        if (n < 0)
                return -ENOMEM;
        *ret = s;
        *ret_size = (size_t) n;
        return 0;
}

/* ---- Inspect ---- */

typedef struct InspectCall {
        Manager *manager;
        Varlink *link;
        char id[ID_LENGTH + 1];
        char *unit;
        UnitRuntime rt;
        int rt_result;
} InspectCall;

static int inspect_work(void *userdata) {
        InspectCall *c = userdata;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        c->rt_result = sd_bus_open_system(&bus);
        if (c->rt_result >= 0)
                c->rt_result = unit_get_runtime(bus, c->unit, &c->rt);
        return 0;
}

static json_object *runtime_to_json(Manager *m, const VMRecord *r, const UnitRuntime *rt) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        if (!o || json_add_string(o, "unit", r->unit) < 0 || json_add_string(o, "activeState", rt->active_state) < 0 ||
            json_add_string(o, "subState", rt->sub_state) < 0 || json_add_string(o, "accelerator", vm_accelerator(m, r)) < 0)
                return NULL;
        if (rt->main_pid > 0 && json_add_int64(o, "mainPID", rt->main_pid) < 0)
                return NULL;
        if (rt->memory_current != UINT64_MAX && json_add_uint64(o, "memoryCurrent", rt->memory_current) < 0)
                return NULL;
        if (rt->cpu_usage_nsec != UINT64_MAX && json_add_uint64(o, "cpuUsageNSec", rt->cpu_usage_nsec) < 0)
                return NULL;
        if (rt->tasks_current != UINT64_MAX && json_add_uint64(o, "tasksCurrent", rt->tasks_current) < 0)
                return NULL;
        if (rt->active_enter_timestamp > 0) {
                _cleanup_free_ char *since = NULL;
                if (timestamp_format_rfc3339(rt->active_enter_timestamp, &since) < 0 ||
                    json_add_string(o, "activeSince", since) < 0)
                        return NULL;
        }
        return TAKE_PTR(o);
}

static void inspect_done(int result, void *userdata) {
        InspectCall *c = userdata;
        Manager *m = c->manager;
        const VMRecord *r = store_get(m->store, c->id);
        _cleanup_(json_object_putp) json_object *reply = json_object_new_object();
        json_object *vm = NULL;

        if (!r) /* removed meanwhile */
                (void) vm_reply_resolve_error(c->link, c->id, -ENOENT, NULL);
        else if (!reply || vm_record_to_public_json(r, &vm) < 0 || json_add_object(reply, "vm", vm) < 0)
                (void) varlink_error_errno(c->link, ENOMEM);
        else {
                /* A unit that is not loaded simply has no runtime facts: the VM is not running. */
                if (result >= 0 && c->rt_result >= 0)
                        (void) json_add_object(vm, "runtime", runtime_to_json(m, r, &c->rt));
                (void) varlink_reply(c->link, reply);
        }
        unit_runtime_done(&c->rt);
        varlink_unref(c->link);
        free(c->unit);
        free(c);
}

int vl_method_vm_inspect(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata) {
        Manager *m = userdata;
        const VMRecord *record;

        int r = manager_resolve_vm_parameter(m, link, parameters, &record);
        if (r <= 0)
                return r;

        InspectCall *c = calloc(1, sizeof(InspectCall));
        if (!c || !(c->unit = strdup(record->unit))) {
                free(c);
                return -ENOMEM;
        }
        c->manager = m;
        c->link = varlink_ref(link);
        c->rt_result = -ENOENT;
        snprintf(c->id, sizeof(c->id), "%s", record->vm.id);
        /* systemd is asked from a worker: a busy PID 1 must not stall every other client. */
        r = job_submit(m->jobs, inspect_work, inspect_done, c);
        if (r < 0) {
                varlink_unref(c->link);
                free(c->unit);
                free(c);
                return r;
        }
        return 0;
}
