/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* io.cocoon.Manager.GarbageCollect: what is collected is decided on the event loop (records, quarantine,
 * busy VMs, image pins), the directories are removed in a worker thread. */
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>

#include "fs-util.h"
#include "helpers.h"
#include "id.h"
#include "image-store.h"
#include "image-varlink.h"
#include "job-queue.h"
#include "json-util.h"
#include "log.h"
#include "manager-gc.h"
#include "manager.h"
#include "strv-util.h"
#include "time-util.h"
#include "vm-events.h"
#include "vm-task.h"

typedef struct GcCall {
        Varlink *link;
        char **dirs; /* to remove, absolute */
        bool *removed; /* per entry of dirs, set by the worker */
        char **records; /* ids of the creating records dropped */
        char **blobs; /* blob file names deleted */
} GcCall;

static void gc_call_free(GcCall *c) {
        varlink_unref(c->link);
        strv_free(c->dirs);
        free(c->removed);
        strv_free(c->records);
        strv_free(c->blobs);
        free(c);
}

/* Whether vms/<name> under some directory belongs to nothing we know: not a record, not a record that
 * failed to load, not a VM with an operation in flight (a delete drops the record before its directories).
 */
static bool is_orphan(Manager *m, const char *name) {
        return id_is_valid(name) && !store_get(m->store, name) && !store_is_quarantined(m->store, name) &&
               !vm_task_busy(m, name);
}

static int collect_orphans(Manager *m, const char *base, char ***dirs) {
        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "%s/vms", base) < 0)
                return -ENOMEM;
        DIR *d = opendir(path);
        if (!d)
                return errno == ENOENT ? 0 : -errno;

        int r = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (!is_orphan(m, de->d_name))
                        continue;
                char *p;
                if (asprintf(&p, "%s/%s", path, de->d_name) < 0 || strv_push(dirs, p) < 0) {
                        r = -ENOMEM;
                        break;
                }
        }
        closedir(d);
        return r;
}

/* Creating records older than the grace period: their create was interrupted (crash, restart). */
static int collect_stale_creating(Manager *m, char ***dirs, char ***records) {
        uint64_t now = now_usec(CLOCK_REALTIME);
        const VMRecord *record;
        size_t state = 0;

        while (store_iterate(m->store, &state, &record))
                if (record->vm.state == VM_STATE_CREATING && !vm_task_busy(m, record->vm.id) &&
                    record->vm.updated_at + CREATING_STATE_GC_GRACE_USEC < now &&
                    strv_extend(records, record->vm.id) < 0)
                        return -ENOMEM;

        for (char **id = *records; id && *id; id++) {
                record = store_get(m->store, *id);
                char *state_dir = NULL;
                if (store_vm_dir(m->store, *id, &state_dir) < 0 || strv_push(dirs, state_dir) < 0) {
                        free(state_dir);
                        return -ENOMEM;
                }
                if ((record->run_dir && strv_extend(dirs, record->run_dir) < 0) ||
                    (record->log_dir && strv_extend(dirs, record->log_dir) < 0))
                        return -ENOMEM;
        }
        return 0;
}

static int gc_work(void *userdata) {
        GcCall *c = userdata;
        size_t i = 0;

        for (char **p = c->dirs; p && *p; p++, i++) {
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

        for (char **p = c->dirs; p && *p; p++, i++)
                if (c->removed[i] && strv_extend(&removed, *p) < 0)
                        return -ENOMEM;

        _cleanup_(json_object_putp) json_object *reply = json_object_new_object();
        if (!reply || json_add_strv(reply, "removedDirectories", removed) < 0 ||
            json_add_strv(reply, "removedRecords", c->records) < 0 ||
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
        const char *bases[] = {m->run_dir, m->state_dir, m->log_dir};
        _cleanup_strv_free_ char **pinned = NULL;
        int r;

        for (size_t i = 0; i < ELEMENTSOF(bases); i++) {
                r = collect_orphans(m, bases[i], &c->dirs);
                if (r < 0)
                        return log_warning_errno(r, "Failed to list %s/vms: %m", bases[i]);
        }
        r = collect_stale_creating(m, &c->dirs, &c->records);
        if (r < 0)
                return r;
        for (char **id = c->records; id && *id; id++) {
                r = store_remove(m->store, *id);
                if (r < 0 && r != -ENOENT)
                        return log_warning_errno(r, "Failed to remove record %s: %m", *id);
                log_info("Garbage collected VM %s, stuck in state creating.", *id);
                vm_events_emit_removed(m, *id);
        }
        /* After dropping records: the blobs only those records pinned go too. */
        r = manager_pinned_blob_ids(m, &pinned);
        if (r < 0)
                return r;
        r = image_store_gc_blobs(m->images, (const char *const *) pinned, &c->blobs);
        if (r < 0)
                return log_warning_errno(r, "Failed to collect image blobs: %m");
        c->removed = calloc(strv_length(c->dirs) + 1, sizeof(bool));
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
        c->link = varlink_ref(link);
        r = job_submit(m->jobs, gc_work, gc_done, c);
        if (r < 0) {
                gc_call_free(c);
                return r;
        }
        return 0;
}
