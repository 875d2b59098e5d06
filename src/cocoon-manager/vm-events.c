/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* io.cocoon.VM.Watch: subscribers, and the events every record change sends them. */
#include <stdlib.h>

#include "json-util.h"
#include "log.h"
#include "resolve.h"
#include "strv-util.h"
#include "vm-events.h"
#include "vm-varlink.h"

struct VmSubscriber {
        Varlink *link;
        char **ids; /* NULL: every VM */
        VmSubscriber *next;
};

static const char *const event_table[_VM_EVENT_MAX] = {
        [VM_EVENT_CURRENT] = "current",
        [VM_EVENT_ADDED] = "added",
        [VM_EVENT_CHANGED] = "changed",
        [VM_EVENT_REMOVED] = "removed",
};

static VmSubscriber *subscriber_free(VmSubscriber *s) {
        if (!s)
                return NULL;
        varlink_unref(s->link);
        strv_free(s->ids);
        return mfree(s);
}

static json_object *event_new(VmEvent event, const char *id, const VMRecord *record) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        if (!o || json_add_string(o, "event", event_table[event]) < 0 || json_add_string(o, "id", id) < 0)
                return NULL;
        if (record) {
                json_object *vm;
                if (vm_record_to_public_json(record, &vm) < 0 || json_add_object(o, "vm", vm) < 0)
                        return NULL;
        }
        return TAKE_PTR(o);
}

static void notify_all(Manager *m, const char *id, json_object *event) {
        VmSubscriber **p = &m->subscribers;
        while (*p) {
                VmSubscriber *s = *p;
                if (s->ids && !strv_contains(s->ids, id)) {
                        p = &s->next;
                        continue;
                }
                if (varlink_notify(s->link, event) < 0) {
                        /* A subscriber that cannot take events any more is dropped, never waited for. */
                        *p = s->next;
                        subscriber_free(s);
                        continue;
                }
                p = &s->next;
        }
}

void vm_events_emit(Manager *m, VmEvent event, const char *id) {
        if (!m->subscribers)
                return;
        const VMRecord *record = store_get(m->store, id);
        if (!record)
                return;
        _cleanup_(json_object_putp) json_object *e = event_new(event, id, record);
        if (!e) {
                log_oom();
                return;
        }
        notify_all(m, id, e);
}

void vm_events_emit_removed(Manager *m, const char *id) {
        if (!m->subscribers)
                return;
        _cleanup_(json_object_putp) json_object *e = event_new(VM_EVENT_REMOVED, id, NULL);
        if (e)
                notify_all(m, id, e);
}

void vm_events_unsubscribe(Manager *m, Varlink *link) {
        VmSubscriber **p = &m->subscribers;
        while (*p) {
                VmSubscriber *s = *p;
                if (s->link == link) {
                        *p = s->next;
                        subscriber_free(s);
                } else
                        p = &s->next;
        }
}

void vm_events_free_all(Manager *m) {
        while (m->subscribers) {
                VmSubscriber *s = m->subscribers;
                m->subscribers = s->next;
                subscriber_free(s);
        }
}

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

        VmSubscriber *s = calloc(1, sizeof(VmSubscriber));
        if (!s) {
                strv_free(ids);
                return -ENOMEM;
        }
        s->link = varlink_ref(link);
        s->ids = ids;

        /* First the current state, then changes: the subscription is live before we return. */
        size_t state = 0;
        const VMRecord *record;
        while (store_iterate(m->store, &state, &record)) {
                if (ids && !strv_contains(ids, record->vm.id))
                        continue;
                _cleanup_(json_object_putp) json_object *e = event_new(VM_EVENT_CURRENT, record->vm.id, record);
                if (!e || varlink_notify(link, e) < 0) {
                        subscriber_free(s);
                        return -ENOMEM;
                }
        }
        s->next = m->subscribers;
        m->subscribers = s;
        return 0;
}
