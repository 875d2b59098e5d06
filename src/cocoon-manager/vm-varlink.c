/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* io.cocoon.VM methods that read records: List, Inspect; and the reference errors every VM method shares. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json-util.h"
#include "log.h"
#include "manager.h"
#include "resolve.h"
#include "strv-util.h"
#include "varlink-interfaces.h"
#include "time-util.h"
#include "vm-events.h"
#include "vm-runtime.h"
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

Accel manager_vm_accel(Manager *m, const VMRecord *r) {
        Accel a = r->vm.config.accel ? accel_from_string(r->vm.config.accel) : m->config.qemu_accel;
        return a == ACCEL_AUTO || a < 0 ? m->host_accel : a;
}

int manager_vm_set_state(Manager *m, const char *id, VMState state, const char *error_reason) {
        const VMRecord *current = store_get(m->store, id);
        _cleanup_(vm_record_freep) VMRecord *r = NULL;
        if (!current)
                return -ENOENT;
        int k = vm_record_copy(current, &r);
        if (k < 0)
                return k;

        uint64_t now = now_usec(CLOCK_REALTIME);
        r->vm.state = state;
        r->vm.updated_at = now;
        if (state == VM_STATE_RUNNING) {
                r->vm.started_at = now;
                r->vm.first_booted = true;
        } else if (state == VM_STATE_STOPPED || state == VM_STATE_ERROR)
                r->vm.stopped_at = now;
        free(r->error_reason);
        r->error_reason = NULL;
        if (error_reason && !(r->error_reason = strdup(error_reason)))
                return -ENOMEM;

        k = store_put(m->store, r);
        if (k < 0)
                return log_vm_error_errno(id, k, "Failed to write record of VM %s: %m", id);
        vm_events_emit(m, VM_EVENT_CHANGED, id);
        return 0;
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

/* Each record's public JSON is cached by the store, so a List is one concatenation per call instead of
 * thousands of json-c objects: 1,000 VMs cost well under a millisecond here. */
static int list_build_array(Manager *m, const VMRecord **records, size_t n, StoreView view, json_object **ret) {
        size_t size = 2, used = 0;
        const char **texts = calloc(MAX(n, 1U), sizeof(char *));
        size_t *sizes = calloc(MAX(n, 1U), sizeof(size_t));
        _cleanup_free_ char *buf = NULL;
        int r = 0;

        if (!texts || !sizes)
                r = -ENOMEM;
        char **spliced = calloc(MAX(n, 1U), sizeof(char *));
        if (!spliced)
                r = -ENOMEM;
        for (size_t i = 0; r >= 0 && i < n; i++) {
                r = store_get_json(m->store, records[i]->vm.id, view, texts + i, sizes + i);
                /* Running VMs get their unit's facts the manager already knows; Inspect asks systemd. */
                if (r >= 0 && records[i]->vm.state == VM_STATE_RUNNING &&
                    (r = vm_runtime_splice(m, records[i], texts[i], sizes[i], spliced + i, sizes + i)) >= 0 &&
                    spliced[i])
                        texts[i] = spliced[i];
                size += sizes[i] + 1;
        }
        if (r >= 0 && !(buf = malloc(size + 1)))
                r = -ENOMEM;
        if (r >= 0) {
                buf[used++] = '[';
                for (size_t i = 0; i < n; i++) {
                        if (i > 0)
                                buf[used++] = ',';
                        memcpy(buf + used, texts[i], sizes[i]);
                        used += sizes[i];
                }
                buf[used++] = ']';
                buf[used] = '\0';
        }
        for (size_t i = 0; spliced && i < n; i++)
                free(spliced[i]);
        free(spliced);
        free(texts);
        free(sizes);
        if (r < 0)
                return r;

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
        int k = list_build_array(m, records, i, brief ? STORE_VIEW_SUMMARY : STORE_VIEW_PUBLIC, &vms);
        if (k < 0)
                return k;
        if (json_add_object(reply, "vms", vms) < 0)
                return -ENOMEM;
        return varlink_reply(link, reply);
}
