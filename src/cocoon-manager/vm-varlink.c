/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* io.cocoon.VM methods that read records: List, Inspect; and the reference errors every VM method shares. */
#include <stdio.h>
#include <stdlib.h>

#include "json-util.h"
#include "log.h"
#include "manager.h"
#include "resolve.h"
#include "strv-util.h"
#include "varlink-interfaces.h"
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

static int compare_created(const void *a, const void *b) {
        const VMRecord *x = *(const VMRecord *const *) a, *y = *(const VMRecord *const *) b;
        if (x->vm.created_at != y->vm.created_at)
                return x->vm.created_at < y->vm.created_at ? -1 : 1;
        return strcmp(x->vm.id, y->vm.id);
}

int vl_method_vm_list(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata) {
        Manager *m = userdata;
        size_t n = store_count(m->store), i = 0, state = 0;
        const VMRecord *r;

        _cleanup_free_ const VMRecord **records = calloc(MAX(n, 1U), sizeof(VMRecord *));
        _cleanup_(json_object_putp) json_object *reply = json_object_new_object();
        json_object *vms = json_object_new_array_ext((int) n);
        if (!records || !reply || !vms || json_add_object(reply, "vms", vms) < 0)
                return -ENOMEM;

        while (i < n && store_iterate(m->store, &state, &r))
                records[i++] = r;
        qsort(records, i, sizeof(VMRecord *), compare_created);

        for (size_t k = 0; k < i; k++) {
                json_object *o;
                int q = vm_record_to_public_json(records[k], &o);
                if (q < 0)
                        return q;
                if (json_object_array_add(vms, o) < 0) {
                        json_object_put(o);
                        return -ENOMEM;
                }
        }
        return varlink_reply(link, reply);
}

int vl_method_vm_inspect(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata) {
        Manager *m = userdata;
        const VMRecord *record;
        const char *ref;

        int r = json_get_string(parameters, "ref", &ref);
        if (r < 0)
                return varlink_error_invalid_parameter(link, "ref");
        r = manager_resolve_vm(m, link, ref, &record);
        if (r <= 0)
                return r;

        _cleanup_(json_object_putp) json_object *reply = json_object_new_object();
        json_object *o;
        r = vm_record_to_public_json(record, &o);
        if (r < 0)
                return r;
        if (!reply || json_add_object(reply, "vm", o) < 0)
                return -ENOMEM;
        return varlink_reply(link, reply);
}
