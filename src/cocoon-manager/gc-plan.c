/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What garbage collection of VM directories, records and TAPs removes: orphans, stale creating records. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gc-plan.h"
#include "helpers.h"
#include "id.h"
#include "strv-util.h"

void gc_plan_done(GcPlan *plan) {
        plan->dirs = strv_free(plan->dirs);
        plan->records = strv_free(plan->records);
}

static bool is_busy(GcBusyFunc busy, void *userdata, const char *id) {
        return busy && busy(id, userdata);
}

/* Not a record, not a record that failed to load (its disks may be all that is left of a VM), not busy. */
static bool is_orphan(const Store *store, GcBusyFunc busy, void *userdata, const char *name) {
        return id_is_valid(name) && !store_get(store, name) && !store_is_quarantined(store, name) &&
               !is_busy(busy, userdata, name);
}

static int plan_orphans(const Store *store, const GcListing *l, GcBusyFunc busy, void *userdata,
                        char ***dirs) {
        for (char **name = l->names; name && *name; name++) {
                if (!is_orphan(store, busy, userdata, *name))
                        continue;
                char *p;
                if (asprintf(&p, "%s/%s", l->dir, *name) < 0)
                        return -ENOMEM;
                if (strv_push(dirs, p) < 0) {
                        free(p);
                        return -ENOMEM;
                }
        }
        return 0;
}

static int plan_stale_creating(const Store *store, uint64_t now, GcBusyFunc busy, void *userdata,
                               GcPlan *plan) {
        const VMRecord *record;
        size_t state = 0;

        while (store_iterate(store, &state, &record)) {
                if (record->vm.state != VM_STATE_CREATING || is_busy(busy, userdata, record->vm.id) ||
                    record->vm.updated_at + CREATING_STATE_GC_GRACE_USEC >= now)
                        continue;

                char *state_dir = NULL;
                if (strv_extend(&plan->records, record->vm.id) < 0 ||
                    store_vm_dir(store, record->vm.id, &state_dir) < 0)
                        return -ENOMEM;
                if (strv_push(&plan->dirs, state_dir) < 0) {
                        free(state_dir);
                        return -ENOMEM;
                }
                /* The record's own paths, not today's configuration: they may have moved since. */
                if ((record->run_dir && strv_extend(&plan->dirs, record->run_dir) < 0) ||
                    (record->log_dir && strv_extend(&plan->dirs, record->log_dir) < 0))
                        return -ENOMEM;
        }
        return 0;
}

int gc_plan(const Store *store, const GcListing *listings, size_t n_listings, uint64_t now, GcBusyFunc busy,
            void *userdata, GcPlan *ret) {
        GcPlan plan = {};
        int r = 0;

        for (size_t i = 0; i < n_listings && r >= 0; i++)
                r = plan_orphans(store, &listings[i], busy, userdata, &plan.dirs);
        if (r >= 0)
                r = plan_stale_creating(store, now, busy, userdata, &plan);
        if (r < 0) {
                gc_plan_done(&plan);
                return r;
        }
        *ret = plan;
        return 0;
}

bool vm_state_taps_unused(VMState state) {
        return state == VM_STATE_STOPPED || state == VM_STATE_ERROR || state == VM_STATE_CREATED;
}

/* tap_name_for_nic()'s names (network-tap.c). */
#define TAP_PREFIX "cocoon"
#define TAP_ID_CHARS 8U

bool gc_link_name_is_ours(const char *name) {
        if (!name || strlen(name) != strlen(TAP_PREFIX) + TAP_ID_CHARS + 1 ||
            strncmp(name, TAP_PREFIX, strlen(TAP_PREFIX)) != 0)
                return false;
        const char *id = name + strlen(TAP_PREFIX);
        for (size_t i = 0; i < TAP_ID_CHARS; i++)
                if (!id_char_is_valid(id[i]))
                        return false;
        return id[TAP_ID_CHARS] >= '0' && id[TAP_ID_CHARS] <= '9';
}

void gc_link_plan_done(GcLinkPlan *plan) {
        plan->orphans = strv_free(plan->orphans);
        plan->vm_ids = strv_free(plan->vm_ids);
        plan->vm_links = strv_free(plan->vm_links);
}

static bool id_has_prefix(const char *id, const char *prefix) {
        return strncmp(id, prefix, TAP_ID_CHARS) == 0;
}

/* Where one TAP goes: plan->orphans, the VM's queue, or nowhere (kept). */
static int plan_link(const Store *store, const char *link, GcBusyFunc busy, void *userdata,
                     GcLinkPlan *plan) {
        const char *prefix = link + strlen(TAP_PREFIX), *qid;
        const VMRecord *record, *owner = NULL;
        size_t state = 0, n = 0;

        while (store_iterate_quarantined(store, &state, &qid))
                if (id_has_prefix(qid, prefix))
                        return 0;
        state = 0;
        while (store_iterate(store, &state, &record))
                if (id_has_prefix(record->vm.id, prefix)) {
                        owner = record;
                        n++;
                }
        if (n == 0)
                return strv_extend(&plan->orphans, link);
        /* Two VMs whose ids begin alike would share TAP names: whose it is cannot be told, so it stays. */
        if (n > 1 || !vm_state_taps_unused(owner->vm.state) || is_busy(busy, userdata, owner->vm.id))
                return 0;
        if (strv_extend(&plan->vm_ids, owner->vm.id) < 0 || strv_extend(&plan->vm_links, link) < 0)
                return -ENOMEM;
        return 0;
}

int gc_plan_links(const Store *store, char *const *links, GcBusyFunc busy, void *userdata, GcLinkPlan *ret) {
        GcLinkPlan plan = {};

        for (char *const *l = links; l && *l; l++) {
                if (!gc_link_name_is_ours(*l) || strv_contains(plan.orphans, *l) ||
                    strv_contains(plan.vm_links, *l))
                        continue;
                int r = plan_link(store, *l, busy, userdata, &plan);
                if (r < 0) {
                        gc_link_plan_done(&plan);
                        return r;
                }
        }
        *ret = plan;
        return 0;
}

int gc_plan_network(const Store *store, char *const *ids, GcBusyFunc busy, void *userdata, char ***ret) {
        _cleanup_strv_free_ char **orphans = NULL;

        for (char *const *id = ids; id && *id; id++)
                if (is_orphan(store, busy, userdata, *id) && !strv_contains(orphans, *id) &&
                    strv_extend(&orphans, *id) < 0)
                        return -ENOMEM;
        *ret = TAKE_PTR(orphans);
        return 0;
}
