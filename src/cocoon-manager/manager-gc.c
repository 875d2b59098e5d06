/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* io.cocoon.Manager.GarbageCollect: what is collected is decided on the event loop (records, quarantine,
 * busy VMs, image pins), the directories are removed and the TAPs, CNI namespaces and leases listed in a
 * worker thread; the namespaces and leases of no VM are removed by a worker through the network helper.
 * A TAP of a VM goes through that VM's task queue (which checks its state again when its turn comes); a
 * TAP of no VM is removed by a worker while vm_add() refuses any new VM it could belong to. */
#include <assert.h>
#include <dirent.h>
#include <stdlib.h>

#include "config.h"
#include "fs-util.h"
#include "gc-network.h"
#include "gc-plan.h"
#include "image-store.h"
#include "image-varlink.h"
#include "job-queue.h"
#include "json-util.h"
#include "log.h"
#include "manager-gc.h"
#include "manager-operations.h"
#include "manager.h"
#include "network-netns.h"
#include "network-tap.h"
#include "snapshot-store.h"
#include "strv-util.h"
#include "time-util.h"
#include "vm-task.h"
#include "vm.h"

typedef struct GcCall {
        Manager *manager;
        Varlink *link;
        uint64_t operation; /* operations_hold()'s id: the removal goes on without its caller */
        GcPlan plan;   /* directories to remove, records dropped */
        bool *removed; /* per entry of plan.dirs, set by the worker */
        char **blobs;  /* blob file names deleted */
        char **links;  /* the worker: TAPs found; then those of no VM, while a worker removes them */
        bool *links_removed; /* per entry of links, set by the worker */
        char **removed_links; /* TAPs removed, for the reply */
        unsigned pending; /* link removals in flight (a worker job, VM tasks), the networks' removal */
        char *cni_config_dir, *cni_plugin_dir, *network_address, *cache_base; /* copies, for the worker */
        GcNetworkFound network; /* the worker: CNI namespaces and leases found */
        char **network_orphans; /* ids of no VM whose namespace or leases go (decided on the loop) */
        char **removed_netns;   /* namespaces and lease files removed, for the reply */
        char **removed_leases;
} GcCall;

static void gc_call_free(GcCall *c) {
        if (c->manager)
                operations_end(c->manager->operations, c->operation);
        varlink_unref(c->link);
        gc_plan_done(&c->plan);
        free(c->removed);
        strv_free(c->blobs);
        strv_free(c->links);
        free(c->links_removed);
        strv_free(c->removed_links);
        free(c->cni_config_dir);
        free(c->cni_plugin_dir);
        free(c->network_address);
        free(c->cache_base);
        gc_network_found_done(&c->network);
        strv_free(c->network_orphans);
        strv_free(c->removed_netns);
        strv_free(c->removed_leases);
        free(c);
}

/* The entries of <base>/vms; a missing directory has none. */
static int list_vms_dir(const char *base, char **ret_dir, char ***ret_names) {
        _cleanup_strv_free_ char **names = NULL;
        _cleanup_free_ char *path = NULL;
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;

        if (asprintf(&path, "%s/vms", base) < 0)
                return -ENOMEM;
        d = opendir(path);
        if (!d && errno != ENOENT)
                return -errno;
        while (d && (de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, "..") &&
                    strv_extend(&names, de->d_name) < 0)
                        return -ENOMEM;
        *ret_dir = TAKE_PTR(path);
        *ret_names = TAKE_PTR(names);
        return 0;
}

static bool gc_vm_busy(const char *id, void *userdata) {
        return vm_task_busy(userdata, id);
}

/* Lists the run, state and log directories' vms/ and plans what to remove. */
static int gc_plan_vm_dirs(Manager *m, GcPlan *ret) {
        const char *bases[] = {m->run_dir, m->state_dir, m->log_dir};
        char *dirs[ELEMENTSOF(bases)] = {};
        char **names[ELEMENTSOF(bases)] = {};
        GcListing listings[ELEMENTSOF(bases)];
        int r = 0;

        for (size_t i = 0; i < ELEMENTSOF(bases) && r >= 0; i++) {
                r = list_vms_dir(bases[i], &dirs[i], &names[i]);
                if (r < 0)
                        log_warning_errno(r, "Failed to list %s/vms: %m", bases[i]);
                listings[i] = (GcListing) { .dir = dirs[i], .names = names[i] };
        }
        if (r >= 0)
                r = gc_plan(m->store, listings, ELEMENTSOF(listings), now_usec(CLOCK_REALTIME), gc_vm_busy,
                            m, ret);
        for (size_t i = 0; i < ELEMENTSOF(bases); i++) {
                free(dirs[i]);
                strv_free(names[i]);
        }
        return r;
}

static int gc_work(void *userdata) {
        GcCall *c = userdata;
        size_t i = 0;

        for (char **p = c->plan.dirs; p && *p; p++, i++) {
                int r = rm_rf(*p);
                if (r < 0)
                        log_warning_errno(r, "Failed to remove %s: %m", *p);
                c->removed[i] = r >= 0;
        }
        /* What gc may collect is decided on the loop: here only what exists. */
        int r = tun_links_list(&c->links);
        if (r < 0)
                log_warning_errno(r, "Failed to list the TAP devices: %m");
        r = gc_network_list(NETNS_RUN_DIR, c->cni_config_dir, GC_CNI_LEASE_DIR_DEFAULT, &c->network);
        if (r < 0)
                log_warning_errno(r, "Failed to list the CNI namespaces and leases: %m");
        return 0;
}

static int gc_reply(GcCall *c) {
        _cleanup_strv_free_ char **removed = NULL;
        size_t i = 0;

        for (char **p = c->plan.dirs; p && *p; p++, i++)
                if (c->removed[i] && strv_extend(&removed, *p) < 0)
                        return -ENOMEM;

        _cleanup_(json_object_putp) json_object *reply = json_object_new_object();
        if (!reply || json_add_strv(reply, "removedDirectories", removed) < 0 ||
            json_add_strv(reply, "removedRecords", c->plan.records) < 0 ||
            json_add_strv(reply, "removedBlobs", c->blobs) < 0 ||
            json_add_strv(reply, "removedLinks", c->removed_links) < 0 ||
            json_add_strv(reply, "removedNetworkNamespaces", c->removed_netns) < 0 ||
            json_add_strv(reply, "removedLeases", c->removed_leases) < 0)
                return -ENOMEM;
        return varlink_reply(c->link, reply);
}

static void gc_finish(GcCall *c, int result) {
        if (result >= 0)
                result = gc_reply(c);
        if (result < 0)
                (void) varlink_error_errno(c->link, -result);
        gc_call_free(c);
}

static void gc_link_done(GcCall *c) {
        assert(c->pending > 0);
        if (--c->pending == 0)
                gc_finish(c, 0);
}

static void on_vm_links_released(Manager *m, const VmTask *t, const char *error_id, const char *message,
                                 void *userdata) {
        GcCall *c = userdata;
        char *const *removed = vm_task_removed_links(t);

        if (error_id)
                log_warning("Failed to remove a TAP of VM %s: %s", vm_task_id(t), message ?: error_id);
        for (char *const *l = removed; l && *l; l++)
                if (strv_extend(&c->removed_links, *l) < 0)
                        log_oom();
        gc_link_done(c);
}

/* Lifts one bar of m->gc_links: a concurrent gc may bar the same name and still need it. */
static void gc_links_unbar(Manager *m, const char *link) {
        for (char **l = m->gc_links; l && *l; l++)
                if (streq(*l, link)) {
                        free(*l);
                        do
                                l[0] = l[1];
                        while (*l++);
                        return;
                }
}

static int gc_links_work(void *userdata) {
        GcCall *c = userdata;
        size_t i = 0;

        for (char **l = c->links; l && *l; l++, i++) {
                int r = tap_remove(*l);
                if (r < 0)
                        log_warning_errno(r, "Failed to remove TAP %s: %m", *l);
                c->links_removed[i] = r > 0;
        }
        return 0;
}

static void on_links_removed(int result, void *userdata) {
        GcCall *c = userdata;
        size_t i = 0;

        /* New VMs may have these names again. */
        for (char **l = c->links; l && *l; l++, i++) {
                gc_links_unbar(c->manager, *l);
                if (c->links_removed[i] && strv_extend(&c->removed_links, *l) < 0)
                        log_oom();
        }
        gc_link_done(c);
}

/* TAPs of no VM: removed by a worker, their names barred from new VMs meanwhile. */
static int gc_remove_orphan_links(GcCall *c, char **orphans) {
        Manager *m = c->manager;

        if (!orphans)
                return 0;
        c->links_removed = calloc(strv_length(orphans) + 1, sizeof(bool));
        if (!c->links_removed)
                return -ENOMEM;
        for (char **l = orphans; *l; l++)
                if (strv_extend(&m->gc_links, *l) < 0) {
                        for (char **k = orphans; k != l; k++)
                                gc_links_unbar(m, *k);
                        return -ENOMEM;
                }
        c->links = orphans;
        c->pending++;
        int r = job_submit(m->jobs, gc_links_work, on_links_removed, c);
        if (r < 0) {
                c->pending--;
                for (char **l = orphans; *l; l++)
                        gc_links_unbar(m, *l);
                c->links = NULL;
                return r;
        }
        return 0;
}

/* On the loop, once the worker listed the TAPs: whose they are decides how they go. */
static void gc_collect_links(GcCall *c) {
        Manager *m = c->manager;
        _cleanup_strv_free_ char **found = TAKE_PTR(c->links);
        GcLinkPlan plan = {};

        int r = gc_plan_links(m->store, found, gc_vm_busy, m, &plan);
        if (r < 0) {
                log_warning_errno(r, "Failed to plan the collection of TAPs: %m");
                return;
        }
        /* Counted as pending while submitting, so that a callback run at once cannot finish the call. */
        c->pending++;
        for (size_t i = 0; plan.vm_ids && plan.vm_ids[i]; i++) {
                char *links[] = { plan.vm_links[i], NULL };
                c->pending++;
                r = vm_task_submit(m, VM_TASK_RELEASE_NICS, plan.vm_ids[i],
                                   &(VmTaskOptions){ .links = links }, on_vm_links_released, c);
                if (r < 0) {
                        c->pending--;
                        log_warning_errno(r, "Failed to queue the removal of TAP %s: %m", plan.vm_links[i]);
                }
        }
        r = gc_remove_orphan_links(c, plan.orphans);
        if (r < 0)
                log_warning_errno(r, "Failed to remove the TAPs of no VM: %m");
        else
                plan.orphans = NULL; /* c->links has them, if any */
        c->pending--;
        gc_link_plan_done(&plan);
}

static int gc_network_work(void *userdata) {
        GcCall *c = userdata;
        return gc_network_remove(c->network_address, c->cni_config_dir, c->cni_plugin_dir, NETNS_RUN_DIR,
                                 c->cache_base, c->network_orphans, &c->network, &c->removed_netns,
                                 &c->removed_leases);
}

static void on_network_removed(int result, void *userdata) {
        GcCall *c = userdata;
        if (result < 0)
                log_warning_errno(result, "Failed to remove the CNI networks of no VM: %m");
        gc_link_done(c);
}

/* On the loop, once the worker listed the namespaces and leases: those of no VM go, through the network
 * helper (a VM's own ones are its delete's business). VM ids are never reused, so none of them can become
 * a VM's again while the worker removes them. */
static void gc_collect_network(GcCall *c) {
        Manager *m = c->manager;
        _cleanup_strv_free_ char **ids = NULL;

        int r = gc_network_found_ids(&c->network, &ids);
        if (r >= 0)
                r = gc_plan_network(m->store, ids, gc_vm_busy, m, &c->network_orphans);
        if (r < 0) {
                log_warning_errno(r, "Failed to plan the collection of CNI namespaces and leases: %m");
                return;
        }
        if (!c->network_orphans)
                return;
        c->pending++;
        r = job_submit(m->jobs, gc_network_work, on_network_removed, c);
        if (r < 0) {
                c->pending--;
                log_warning_errno(r, "Failed to remove the CNI networks of no VM: %m");
        }
}

static void gc_done(int result, void *userdata) {
        GcCall *c = userdata;

        if (result < 0)
                return gc_finish(c, result);
        gc_collect_links(c);
        gc_collect_network(c);
        if (c->pending == 0)
                gc_finish(c, 0);
}

static int gc_collect(Manager *m, GcCall *c) {
        _cleanup_strv_free_ char **pinned = NULL;
        int r;

        r = gc_plan_vm_dirs(m, &c->plan);
        if (r < 0)
                return r;
        for (char **id = c->plan.records; id && *id; id++) {
                r = vm_remove(m, *id);
                if (r < 0 && r != -ENOENT)
                        return log_warning_errno(r, "Failed to remove record %s: %m", *id);
                log_info("Garbage collected VM %s, stuck in state creating.", *id);
        }
        /* Snapshots a killed manager left half written, and directories no snapshot owns. */
        _cleanup_strv_free_ char **snapshot_dirs = NULL;
        r = snapshot_store_gc(m->snapshots, &snapshot_dirs);
        if (r < 0)
                return log_warning_errno(r, "Failed to plan the snapshot store's collection: %m");
        for (char **d = snapshot_dirs; d && *d; d++)
                if (strv_extend(&c->plan.dirs, *d) < 0)
                        return -ENOMEM;
        /* After dropping records: the blobs only those records pinned go too. */
        r = manager_pinned_blob_ids(m, &pinned);
        if (r < 0)
                return r;
        r = image_store_gc_blobs(m->images, (const char *const *) pinned, &c->blobs);
        if (r < 0)
                return log_warning_errno(r, "Failed to collect image blobs: %m");
        c->removed = calloc(strv_length(c->plan.dirs) + 1, sizeof(bool));
        return c->removed ? 0 : -ENOMEM;
}

int vl_method_manager_garbage_collect(Varlink *link, json_object *parameters, VarlinkMethodFlags flags,
                                      void *userdata) {
        Manager *m = userdata;

        GcCall *c = calloc(1, sizeof(GcCall));
        if (!c)
                return -ENOMEM;
        int r = gc_collect(m, c);
        if (r < 0) {
                gc_call_free(c);
                return r;
        }
        if (!(c->cni_config_dir = strdup(m->config.cni_config_dir)) ||
            !(c->cni_plugin_dir = strdup(m->config.cni_plugin_dir)) ||
            !(c->network_address = strdup(COCOON_NETWORK_ADDRESS)) ||
            asprintf(&c->cache_base, "%s/vms", m->state_dir) < 0) {
                gc_call_free(c);
                return -ENOMEM;
        }
        c->manager = m;
        c->link = varlink_ref(link);
        c->operation = operations_hold(m->operations, link);
        r = job_submit(m->jobs, gc_work, gc_done, c);
        if (r < 0) {
                gc_call_free(c);
                return r;
        }
        return 0;
}
