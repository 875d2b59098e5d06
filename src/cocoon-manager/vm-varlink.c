/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* io.cocoon.VM methods that read VMs (List, Inspect, Watch), and the reference errors all VM methods share. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>

#include "bus-unit.h"
#include "id.h"
#include "job-queue.h"
#include "json-util.h"
#include "log.h"
#include "resolve.h"
#include "strv-util.h"
#include "time-util.h"
#include "varlink-interfaces.h"
#include "vm-events.h"
#include "vm-varlink.h"

int vm_reply_resolve_error(Varlink *link, const char *ref, int error, char **candidates) {
        _cleanup_(json_object_putp) json_object *p = json_object_new_object();
        if (!p)
                return -ENOMEM;
        if (json_add_string(p, "reference", ref) < 0)
                return -ENOMEM;
        if (error == -ENOTUNIQ) {
                _cleanup_free_ char *message = NULL;
                _cleanup_free_ char *joined = strv_join(candidates, ", ");
                if (!joined || asprintf(&message, "'%s' matches several VMs: %s", ref, joined) < 0)
                        return -ENOMEM;
                if (json_add_strv(p, "candidates", candidates) < 0 || json_add_string(p, "message", message) < 0)
                        return -ENOMEM;
                return varlink_error(link, VM_ERROR_AMBIGUOUS_REFERENCE, p);
        }
        if (error == -ENOENT) {
                _cleanup_free_ char *message = NULL;
                if (asprintf(&message, "no VM with id, name or id prefix '%s'", ref) < 0 ||
                    json_add_string(p, "message", message) < 0)
                        return -ENOMEM;
                return varlink_error(link, VM_ERROR_NO_SUCH_VM, p);
        }
        return error;
}

int manager_resolve_vm(Manager *m, Varlink *link, const char *ref, const VMRecord **ret) {
        _cleanup_strv_free_ char **candidates = NULL;
        const char *id;

        int r = store_resolve_ref(m->store, ref, &id, &candidates);
        if (r < 0) {
                int k = vm_reply_resolve_error(link, ref, r, candidates);
                return k < 0 ? k : 0;
        }
        *ret = store_get(m->store, id);
        return 1;
}

int manager_resolve_vm_parameter(Manager *m, Varlink *link, json_object *parameters, const VMRecord **ret) {
        const char *ref;
        if (json_get_string(parameters, "ref", &ref) < 0) {
                int r = varlink_error_invalid_parameter(link, "ref");
                return r < 0 ? r : 0;
        }
        return manager_resolve_vm(m, link, ref, ret);
}

static int compare_created(const void *a, const void *b) {
        const VMRecord *x = *(const VMRecord *const *) a, *y = *(const VMRecord *const *) b;
        if (x->vm.created_at != y->vm.created_at)
                return x->vm.created_at < y->vm.created_at ? -1 : 1;
        return strcmp(x->vm.id, y->vm.id);
}

/* A JSON value whose text is already known: json-c writes it through this serializer, unparsed. */
static int raw_json_serializer(json_object *o, struct printbuf *pb, int level, int flags) {
        const char *text = json_object_get_userdata(o);
        return printbuf_memappend(pb, text, (int) strlen(text));
}

static void raw_json_free(json_object *o, void *userdata) {
        free(userdata);
}

/* Each VM's JSON is serialized once per change (vm_to_json_text()), so a List is one concatenation per call
 * instead of thousands of json-c objects. */
static int list_build_array(Manager *m, const VMRecord **records, size_t n, VmView view, json_object **ret) {
        _cleanup_free_ const char **texts = calloc(MAX(n, 1U), sizeof(char *));
        _cleanup_free_ size_t *sizes = calloc(MAX(n, 1U), sizeof(size_t));
        _cleanup_free_ char *buf = NULL;
        size_t size = 2, used = 0;
        int r;

        if (!texts || !sizes)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                r = vm_to_json_text(m, records[i], view, texts + i, sizes + i);
                if (r < 0)
                        return r;
                size += sizes[i] + 1;
        }
        buf = malloc(size + 1);
        if (!buf)
                return -ENOMEM;
        buf[used++] = '[';
        for (size_t i = 0; i < n; i++) {
                if (i > 0)
                        buf[used++] = ',';
                memcpy(buf + used, texts[i], sizes[i]);
                used += sizes[i];
        }
        buf[used++] = ']';
        buf[used] = '\0';

        json_object *o = json_object_new_array();
        if (!o)
                return -ENOMEM;
        json_object_set_serializer(o, raw_json_serializer, TAKE_PTR(buf), raw_json_free);
        *ret = o;
        return 0;
}

int vl_method_vm_list(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata) {
        Manager *m = userdata;
        size_t n = store_count(m->store), i = 0, state = 0;
        const VMRecord *r;
        json_object *vms;

        _cleanup_free_ const VMRecord **records = calloc(MAX(n, 1U), sizeof(VMRecord *));
        _cleanup_(json_object_putp) json_object *reply = json_object_new_object();
        if (!records || !reply)
                return -ENOMEM;

        while (i < n && store_iterate(m->store, &state, &r))
                records[i++] = r;
        qsort(records, i, sizeof(VMRecord *), compare_created);

        json_object *summary;
        bool brief = json_object_object_get_ex(parameters, "summary", &summary) &&
                     json_object_get_boolean(summary);
        int k = list_build_array(m, records, i, brief ? VM_VIEW_SUMMARY : VM_VIEW_PUBLIC, &vms);
        if (k < 0)
                return k;
        if (json_add_object(reply, "vms", vms) < 0)
                return -ENOMEM;
        return varlink_reply(link, reply);
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
        if (!o || json_add_string(o, "unit", r->unit) < 0 ||
            json_add_string(o, "activeState", rt->active_state) < 0 ||
            json_add_string(o, "subState", rt->sub_state) < 0 ||
            json_add_string(o, "accelerator", accel_to_string(vm_accel(m, r))) < 0)
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
        else if (!reply || vm_to_json(m, r, VM_VIEW_PUBLIC, &vm) < 0 || json_add_object(reply, "vm", vm) < 0)
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

/* ---- Watch ---- */

/* Resolves the optional refs filter to ids; replies with the error and returns 0 on a bad reference. */
static int watch_resolve_filter(Manager *m, Varlink *link, json_object *refs, char ***ret_ids) {
        _cleanup_strv_free_ char **ids = NULL;
        for (size_t i = 0; refs && i < json_object_array_length(refs); i++) {
                const char *ref = json_object_get_string(json_object_array_get_idx(refs, i));
                const VMRecord *record;
                int r = manager_resolve_vm(m, link, ref, &record);
                if (r <= 0)
                        return r;
                if (strv_extend(&ids, record->vm.id) < 0)
                        return -ENOMEM;
        }
        *ret_ids = TAKE_PTR(ids);
        return 1;
}

int vl_method_vm_watch(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata) {
        Manager *m = userdata;
        json_object *refs = NULL;
        char **ids = NULL;

        (void) json_object_object_get_ex(parameters, "refs", &refs);
        if (refs && json_object_is_type(refs, json_type_null))
                refs = NULL;
        int r = watch_resolve_filter(m, link, refs, &ids);
        if (r <= 0)
                return r;

        return vm_events_subscribe(m, link, ids);
}
