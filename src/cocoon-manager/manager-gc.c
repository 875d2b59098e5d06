/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* io.cocoon.Manager.GarbageCollect: what is collected is decided on the event loop (records, quarantine,
 * busy VMs, image pins), the directories are removed in a worker thread. */
#include <dirent.h>
#include <stdlib.h>

#include "fs-util.h"
#include "gc-plan.h"
#include "image-store.h"
#include "image-varlink.h"
#include "job-queue.h"
#include "json-util.h"
#include "log.h"
#include "manager-gc.h"
#include "manager-operations.h"
#include "manager.h"
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
} GcCall;

static void gc_call_free(GcCall *c) {
        if (c->manager)
                operations_end(c->manager->operations, c->operation);
        varlink_unref(c->link);
        gc_plan_done(&c->plan);
        free(c->removed);
        strv_free(c->blobs);
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
            json_add_strv(reply, "removedBlobs", c->blobs) < 0)
                return -ENOMEM;
        return varlink_reply(c->link, reply);
}

static void gc_done(int result, void *userdata) {
        GcCall *c = userdata;

        if (result >= 0)
                result = gc_reply(c);
        if (result < 0)
                (void) varlink_error_errno(c->link, -result);
        gc_call_free(c);
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
