/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* io.cocoon.VM.Watch subscribers and the event fan-out. */
#include <stdlib.h>

#include "json-util.h"
#include "log.h"
#include "strv-util.h"
#include "varlink-interfaces.h"
#include "vm-events.h"

struct VmSubscriber {
        Varlink *link;
        char **ids; /* NULL: every VM */
        size_t initial; /* bytes the current state took: the client may take its time with those */
        VmSubscriber *next;
};

static VmSubscriber *subscriber_free(VmSubscriber *s) {
        if (!s)
                return NULL;
        varlink_unref(s->link);
        strv_free(s->ids);
        return mfree(s);
}

static json_object *event_new(Manager *m, VmEvent event, const char *id, const VMRecord *record) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        if (!o || json_add_string(o, "event", vm_event_to_string(event)) < 0 ||
            json_add_string(o, "id", id) < 0)
                return NULL;
        if (record) {
                json_object *vm;
                if (vm_to_json(m, record, VM_VIEW_PUBLIC, &vm) < 0 || json_add_object(o, "vm", vm) < 0)
                        return NULL;
        }
        return TAKE_PTR(o);
}

/* Queues one event for a subscriber. One that lets events pile up is not waited for and not dropped
 * silently either: its call ends with a declared error, so the client knows to watch again. */
static int subscriber_send(VmSubscriber *s, json_object *event) {
        int r = -ENOBUFS;
        if (varlink_get_output_queued(s->link) <= s->initial + VM_EVENTS_BACKLOG_MAX)
                r = varlink_notify(s->link, event);
        if (r != -ENOBUFS)
                return r;
        log_warning("A Watch subscriber does not read its events; ending its call.");
        if (varlink_errorf(s->link, VM_ERROR_SUBSCRIBER_TOO_SLOW,
                           "more than %u MiB of events were not read; watch again",
                           VM_EVENTS_BACKLOG_MAX >> 20) < 0)
                (void) varlink_close(s->link);
        return r;
}

static void notify_all(Manager *m, const char *id, json_object *event) {
        VmSubscriber **p = &m->subscribers;
        while (*p) {
                VmSubscriber *s = *p;
                if (s->ids && !strv_contains(s->ids, id)) {
                        p = &s->next;
                        continue;
                }
                if (subscriber_send(s, event) < 0) {
                        *p = s->next;
                        subscriber_free(s);
                        continue;
                }
                p = &s->next;
        }
}

void vm_events_emit(Manager *m, VmEvent event, const char *id, const VMRecord *record) {
        if (!m->subscribers)
                return;
        _cleanup_(json_object_putp) json_object *e = event_new(m, event, id, record);
        if (!e) {
                log_oom();
                return;
        }
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

void vm_events_end_all(Manager *m, const char *error_id, const char *message) {
        while (m->subscribers) {
                VmSubscriber *s = m->subscribers;
                m->subscribers = s->next;
                if (varlink_errorf(s->link, error_id, "%s", message) < 0)
                        (void) varlink_close(s->link);
                subscriber_free(s);
        }
}

void vm_events_free_all(Manager *m) {
        while (m->subscribers) {
                VmSubscriber *s = m->subscribers;
                m->subscribers = s->next;
                subscriber_free(s);
        }
}

int vm_events_subscribe(Manager *m, Varlink *link, char **ids) {
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
                _cleanup_(json_object_putp) json_object *e =
                        event_new(m, VM_EVENT_CURRENT, record->vm.id, record);
                if (!e || varlink_notify(link, e) < 0) {
                        subscriber_free(s);
                        return -ENOMEM;
                }
        }
        s->initial = varlink_get_output_queued(link);
        s->next = m->subscribers;
        m->subscribers = s;
        return 0;
}
