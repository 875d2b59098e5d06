/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* io.cocoon.Snapshot: Save (a VM task), List, Inspect, Delete; recovery of saves a dead manager left. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-util.h"
#include "fs-util.h"
#include "hypervisor.h"
#include "id.h"
#include "job-queue.h"
#include "json-util.h"
#include "log.h"
#include "resolve.h"
#include "snapshot-store.h"
#include "snapshot-varlink.h"
#include "strv-util.h"
#include "time-util.h"
#include "varlink-interfaces.h"
#include "vm-task.h"
#include "vm.h"

/* Until the save reports it, the pending record's version is this; it is never committed so. */
#define VERSION_PENDING "pending"

int snapshot_reply_reference_error(Varlink *link, const char *error_id, const char *what, const char *ref, int r,
                                   char **candidates) {
        _cleanup_(json_object_putp) json_object *p = json_object_new_object();
        char message[256];
        if (r == -ENOTUNIQ)
                snprintf(message, sizeof(message), "'%s' matches several %ss", ref, what);
        else
                snprintf(message, sizeof(message), "no %s with id, name or id prefix '%s'", what, ref);
        if (!p || json_add_string(p, "reference", ref) < 0 || json_add_string(p, "message", message) < 0 ||
            (candidates && json_add_strv(p, "candidates", candidates) < 0))
                return -ENOMEM;
        return varlink_error(link, error_id, p);
}

static int reply_invalid_state(Varlink *link, const char *id, const char *state, const char *message) {
        _cleanup_(json_object_putp) json_object *p = json_object_new_object();
        if (!p || json_add_string(p, "id", id) < 0 || json_add_string(p, "state", state) < 0 ||
            json_add_string(p, "message", message) < 0)
                return -ENOMEM;
        return varlink_error(link, SNAPSHOT_ERROR_INVALID_STATE, p);
}

static int reply_snapshot(Varlink *link, const Snapshot *s) {
        _cleanup_(json_object_putp) json_object *reply = json_object_new_object();
        json_object *o;
        int r;
        if (!reply || (r = snapshot_to_public_json(s, &o)) < 0)
                return -ENOMEM;
        if ((r = json_add_object(reply, "snapshot", o)) < 0)
                return r;
        return varlink_reply(link, reply);
}

/* Resolves a VM reference for this interface: replies NoSuchVM itself (returns 0), 1 when found. */
static int resolve_vm(Manager *m, Varlink *link, const char *ref, const VMRecord **ret) {
        _cleanup_strv_free_ char **candidates = NULL;
        const char *id;
        int r = store_resolve_ref(m->store, ref, &id, &candidates);
        if (r < 0) {
                int k = snapshot_reply_reference_error(link, SNAPSHOT_ERROR_NO_SUCH_VM, "VM", ref, r, candidates);
                return k < 0 ? k : 0;
        }
        *ret = store_get(m->store, id);
        return 1;
}

static int resolve_snapshot(Manager *m, Varlink *link, json_object *parameters, const Snapshot **ret) {
        _cleanup_strv_free_ char **candidates = NULL;
        const char *ref;
        if (json_get_string(parameters, "ref", &ref) < 0) {
                int k = varlink_error_invalid_parameter(link, "ref");
                return k < 0 ? k : 0;
        }
        int r = snapshot_store_resolve(m->snapshots, ref, ret, &candidates);
        if (r < 0) {
                int k = snapshot_reply_reference_error(link, SNAPSHOT_ERROR_NO_SUCH_SNAPSHOT, "snapshot", ref, r,
                                              candidates);
                return k < 0 ? k : 0;
        }
        return 1;
}

/* ---- payload removal, in a worker: a snapshot may hold gigabytes ---- */

typedef struct RemoveCall {
        char *dir;
        Varlink *link; /* Delete: replied when the files are gone */
        char id[ID_LENGTH + 1];
} RemoveCall;

static int remove_work(void *userdata) {
        RemoveCall *c = userdata;
        return rm_rf(c->dir);
}

static void remove_done(int result, void *userdata) {
        RemoveCall *c = userdata;
        if (result < 0)
                log_warning_errno(result, "Failed to remove %s (gc removes it later): %m", c->dir);
        if (c->link) {
                _cleanup_(json_object_putp) json_object *reply = json_object_new_object();
                if (reply && json_add_string(reply, "id", c->id) >= 0)
                        (void) varlink_reply(c->link, reply);
                else
                        (void) varlink_error_errno(c->link, ENOMEM);
                varlink_unref(c->link);
        }
        free(c->dir);
        free(c);
}

int snapshot_drop(Manager *m, const char *id, Varlink *link) {
        RemoveCall *c = calloc(1, sizeof(RemoveCall));
        int r;
        if (!c)
                return -ENOMEM;
        snprintf(c->id, sizeof(c->id), "%s", id);
        if ((r = snapshot_store_dir(m->snapshots, id, &c->dir)) < 0 ||
            (r = snapshot_store_forget(m->snapshots, id)) < 0) {
                free(c->dir);
                free(c);
                return r;
        }
        c->link = link ? varlink_ref(link) : NULL;
        r = job_submit(m->jobs, remove_work, remove_done, c);
        if (r < 0) {
                /* Shutting down: GC removes the directory later. */
                c->link = varlink_unref(c->link);
                remove_done(0, c);
                return link ? 1 : 0; /* link: the caller replies */
        }
        return 0;
}

/* ---- Save ---- */

typedef struct SaveRequest {
        const char *vm, *name, *description;
} SaveRequest;

typedef struct SaveCall {
        Varlink *link;
        char id[ID_LENGTH + 1];
        Manager *manager;
        sd_event_source *progress_timer; /* callers that asked for more hear how far the save got */
        uint64_t progress_total, progress_sent;
} SaveCall;

static void save_call_free(SaveCall *c) {
        sd_event_source_disable_unref(c->progress_timer);
        varlink_unref(c->link);
        free(c);
}

/* How often a caller that asked for more hears of a save's progress. */
#define SAVE_PROGRESS_INTERVAL_USEC (200 * USEC_PER_MSEC)

/* The bytes of the payload written so far: the state file's size and the disk copies' allocated blocks.
 * Metadata of a few files the save is writing (cached inodes), no data is read: fit for the loop. */
static uint64_t save_progress_done(Manager *m, const Snapshot *s) {
        _cleanup_free_ const char **names = NULL;
        _cleanup_free_ char *dir = NULL;
        uint64_t done = 0;
        struct stat st;
        if (snapshot_store_dir(m->snapshots, s->id, &dir) < 0 || snapshot_payload_required(s, &names) < 0)
                return 0;
        _cleanup_close_ int dir_fd = open(dir, O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        for (size_t i = 0; dir_fd >= 0 && names[i]; i++)
                if (fstatat(dir_fd, names[i], &st, AT_SYMLINK_NOFOLLOW) >= 0)
                        done += streq(names[i], SNAPSHOT_STATE_FILE) ? (uint64_t) st.st_size
                                                                    : (uint64_t) st.st_blocks * 512U;
        /* The guest's RAM file, when the save copies one (memoryFormat is known only when it is over). */
        if (dir_fd >= 0 && !strv_contains((char **) names, SNAPSHOT_MEMORY_FILE) &&
            fstatat(dir_fd, SNAPSHOT_MEMORY_FILE, &st, AT_SYMLINK_NOFOLLOW) >= 0)
                done += (uint64_t) st.st_blocks * 512U;
        return done;
}

/* What a save writes in all, about: the guest's RAM (the most the state takes) and the data of its
 * writable disks. */
static uint64_t save_progress_total(const VMRecord *vm) {
        uint64_t total = vm->vm.config.memory;
        struct stat st;
        for (size_t i = 0; i < vm->vm.n_storage_configs; i++) {
                const StorageConfig *d = vm->vm.storage_configs + i;
                if (!d->read_only && d->path && stat(d->path, &st) >= 0)
                        total += (uint64_t) st.st_blocks * 512U;
        }
        return total;
}

static int on_save_progress(sd_event_source *source, uint64_t usec, void *userdata) {
        SaveCall *c = userdata;
        const Snapshot *s = snapshot_store_get(c->manager->snapshots, c->id);
        uint64_t done = s ? save_progress_done(c->manager, s) : 0;
        if (done != c->progress_sent) {
                _cleanup_(json_object_putp) json_object *p = json_object_new_object();
                if (p && json_add_uint64(p, "bytesDone", done) >= 0 &&
                    json_add_uint64(p, "bytesTotal", MAX(c->progress_total, done)) >= 0) {
                        if (varlink_notify(c->link, p) < 0)
                                return sd_event_source_set_enabled(source, SD_EVENT_OFF);
                        c->progress_sent = done;
                }
        }
        (void) sd_event_source_set_time_relative(source, SAVE_PROGRESS_INTERVAL_USEC);
        return sd_event_source_set_enabled(source, SD_EVENT_ONESHOT);
}

static int save_error_reply(Manager *m, SaveCall *c, const VmTask *t, const char *error_id,
                            const char *message) {
        const VMRecord *vm = store_get(m->store, vm_task_id(t));
        if (streq(error_id, VM_ERROR_INVALID_STATE))
                return reply_invalid_state(c->link, vm_task_id(t),
                                           vm ? vm_state_to_string(vm->vm.state) : NULL,
                                           message ?: "not running");
        if (streq(error_id, VM_ERROR_NO_SUCH_VM))
                return snapshot_reply_reference_error(c->link, SNAPSHOT_ERROR_NO_SUCH_VM, "VM", vm_task_id(t),
                                             -ENOENT, NULL);
        if (streq(error_id, COCOON_ERROR_SHUTTING_DOWN))
                return varlink_errorf(c->link, COCOON_ERROR_SHUTTING_DOWN, "%s", message ?: "shutting down");
        _cleanup_(json_object_putp) json_object *p = json_object_new_object();
        if (!p || json_add_string(p, "id", vm_task_id(t)) < 0 ||
            json_add_string(p, "message", message ?: error_id) < 0)
                return -ENOMEM;
        return varlink_error(c->link, SNAPSHOT_ERROR_SNAPSHOT_FAILED, p);
}

static void on_save_done(Manager *m, const VmTask *t, const char *error_id, const char *message,
                         void *userdata) {
        SaveCall *c = userdata;
        Snapshot *snap = snapshot_store_get(m->snapshots, c->id);
        int r;

        if (!error_id && snap) {
                const char *version = vm_task_hypervisor_version(t);
                free(snap->hypervisor_version);
                snap->hypervisor_version = strdup(version ?: "unknown");
                snap->memory_file = vm_task_memory_file(t);
                r = snap->hypervisor_version ? snapshot_store_commit(m->snapshots, c->id) : -ENOMEM;
                if (r < 0) {
                        log_vm_warning(vm_task_id(t), "Snapshot %s of VM %s could not be recorded: %s",
                                       c->id, vm_task_id(t), strerror(-r));
                        error_id = SNAPSHOT_ERROR_SNAPSHOT_FAILED;
                        message = "cannot write the snapshot's record";
                }
        }
        if (error_id) {
                if (snap)
                        (void) snapshot_drop(m, c->id, NULL);
                (void) save_error_reply(m, c, t, error_id, message);
                return save_call_free(c);
        }
        r = vm_set_snapshot_id(m, vm_task_id(t), c->id, true);
        if (r < 0)
                log_vm_warning(vm_task_id(t), "VM %s: cannot add snapshot %s to its record: %s",
                               vm_task_id(t), c->id, strerror(-r));
        log_vm_info(vm_task_id(t), "VM %s: snapshot %s (%s) saved.", vm_task_id(t), c->id, snap->name);
        if (reply_snapshot(c->link, snap) < 0)
                (void) varlink_error_errno(c->link, ENOMEM);
        save_call_free(c);
}

/* The record of a save: everything but the hypervisor's version, which the worker reports. */
static int save_build(Manager *m, const SaveRequest *req, const VMRecord *vm, Snapshot **ret) {
        _cleanup_(snapshot_freep) Snapshot *s = calloc(1, sizeof(Snapshot));
        const Hypervisor *h = hypervisor_find(vm->vm.backend);
        if (!s)
                return -ENOMEM;
        int r = id_generate(s->id);
        if (r < 0)
                return r;
        Accel accel = vm_accel(m, vm);
        if (req->name)
                s->name = strdup(req->name);
        else
                (void) asprintf(&s->name, "%.*s-snap-%.8s", VM_NAME_MAX - 14, vm->vm.name, s->id);
        s->created_at = now_usec(CLOCK_REALTIME);
        if (!s->name || (req->description && !(s->description = strdup(req->description))) ||
            !(s->backend = strdup(vm->vm.backend)) || !(s->hypervisor_version = strdup(VERSION_PENDING)) ||
            !(s->machine = strdup(h->machine)) || !(s->cpu_model = strdup(h->cpu_model(accel))) ||
            !(s->accel = strdup(accel_to_string(accel))))
                return -ENOMEM;
        r = vm_record_copy(vm, &s->vm);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(s);
        return 0;
}

int vl_method_snapshot_save(Varlink *link, json_object *parameters, VarlinkMethodFlags flags,
                            void *userdata) {
        static const JsonDispatch table[] = {
                {"vm", json_type_string, json_dispatch_const_string, offsetof(SaveRequest, vm),
                 JSON_MANDATORY},
                {"name", json_type_string, json_dispatch_const_string, offsetof(SaveRequest, name),
                 JSON_NULLABLE},
                {"description", json_type_string, json_dispatch_const_string,
                 offsetof(SaveRequest, description), JSON_NULLABLE},
                {},
        };
        Manager *m = userdata;
        SaveRequest req = {};
        const char *bad = NULL;
        const VMRecord *vm;
        int r = json_dispatch(parameters, table, 0, &req, &bad);
        if (r < 0)
                return varlink_error_invalid_parameter(link, bad ?: "parameters");
        r = resolve_vm(m, link, req.vm, &vm);
        if (r <= 0)
                return r;
        /* Refused at once when it cannot work; the task checks again when its turn comes. */
        if (vm->vm.state != VM_STATE_RUNNING)
                return reply_invalid_state(link, vm->vm.id, vm_state_to_string(vm->vm.state),
                                           "the VM is not running; start it to take a snapshot");
        const Hypervisor *h = hypervisor_find(vm->vm.backend);
        if (!h || !h->snapshot || !h->machine || !h->cpu_model)
                return varlink_error_field(link, SNAPSHOT_ERROR_INVALID_CONFIGURATION, "vm",
                                           "the VM's backend cannot take snapshots");

        _cleanup_(snapshot_freep) Snapshot *snap = NULL;
        r = save_build(m, &req, vm, &snap);
        if (r < 0)
                return r;
        const char *field = NULL;
        _cleanup_free_ char *message = NULL;
        if (snapshot_validate(snap, &field, &message) < 0)
                return varlink_error_field(link, SNAPSHOT_ERROR_INVALID_CONFIGURATION, field ?: "name",
                                           message ?: "invalid");
        const Snapshot *other = snapshot_store_get_by_name(m->snapshots, snap->name);
        if (other) {
                _cleanup_(json_object_putp) json_object *p = json_object_new_object();
                char text[256];
                snprintf(text, sizeof(text), "snapshot name '%s' is already used by %s", snap->name,
                         other->id);
                if (!p || json_add_string(p, "name", snap->name) < 0 ||
                    json_add_string(p, "id", other->id) < 0 || json_add_string(p, "message", text) < 0)
                        return -ENOMEM;
                return varlink_error(link, SNAPSHOT_ERROR_NAME_IN_USE, p);
        }

        SaveCall *c = calloc(1, sizeof(SaveCall));
        _cleanup_free_ char *dir = NULL;
        if (!c)
                return -ENOMEM;
        memcpy(c->id, snap->id, sizeof(c->id));
        if ((r = snapshot_store_dir(m->snapshots, c->id, &dir)) < 0 ||
            (r = snapshot_store_begin(m->snapshots, TAKE_PTR(snap))) < 0) {
                free(c);
                return r;
        }
        c->link = varlink_ref(link);
        c->manager = m;
        if (flags & VARLINK_METHOD_MORE) {
                c->progress_total = save_progress_total(vm);
                r = sd_event_add_time_relative(m->event, &c->progress_timer, CLOCK_MONOTONIC,
                                               SAVE_PROGRESS_INTERVAL_USEC, 0, on_save_progress, c);
                /* The first reply at once, with the total: a save of a guest whose RAM is a file may be over
                 * before the first tick. */
                _cleanup_(json_object_putp) json_object *p = r >= 0 ? json_object_new_object() : NULL;
                if (r >= 0 && (!p || json_add_uint64(p, "bytesDone", 0) < 0 ||
                               json_add_uint64(p, "bytesTotal", c->progress_total) < 0))
                        r = -ENOMEM;
                if (r >= 0)
                        r = varlink_notify(link, p);
                if (r < 0) {
                        (void) snapshot_drop(m, c->id, NULL);
                        save_call_free(c);
                        return r;
                }
        }
        r = vm_task_submit(m, VM_TASK_SNAPSHOT, vm->vm.id, &(VmTaskOptions){.snapshot_dir = dir},
                           on_save_done, c);
        if (r < 0) {
                (void) snapshot_drop(m, c->id, NULL);
                save_call_free(c);
                return r;
        }
        return 0;
}

/* ---- List, Inspect, Delete ---- */

static int compare_created(const void *a, const void *b) {
        const Snapshot *x = *(const Snapshot *const *) a, *y = *(const Snapshot *const *) b;
        if (x->created_at != y->created_at)
                return x->created_at < y->created_at ? -1 : 1;
        return strcmp(x->id, y->id);
}

int vl_method_snapshot_list(Varlink *link, json_object *parameters, VarlinkMethodFlags flags,
                            void *userdata) {
        Manager *m = userdata;
        const char *vm_ref = NULL, *vm_id = NULL;
        const VMRecord *vm;
        Snapshot *s;
        int r;

        if (json_get_string(parameters, "vm", &vm_ref) == -EINVAL)
                return varlink_error_invalid_parameter(link, "vm");
        if (vm_ref) {
                r = resolve_vm(m, link, vm_ref, &vm);
                if (r <= 0)
                        return r;
                vm_id = vm->vm.id;
        }
        _cleanup_free_ const Snapshot **list =
                calloc(snapshot_store_count(m->snapshots) + 1, sizeof(Snapshot *));
        size_t n = 0;
        if (!list)
                return -ENOMEM;
        for (size_t state = 0; snapshot_store_iterate(m->snapshots, &state, &s);)
                if (!s->pending && (!vm_id || streq_ptr(s->vm->vm.id, vm_id)))
                        list[n++] = s;
        qsort(list, n, sizeof(Snapshot *), compare_created);

        _cleanup_(json_object_putp) json_object *reply = json_object_new_object();
        json_object *array = json_object_new_array();
        if (!reply || !array || json_add_object(reply, "snapshots", array) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_object *o;
                if ((r = snapshot_to_public_json(list[i], &o)) < 0)
                        return r;
                if (json_object_array_add(array, o) < 0) {
                        json_object_put(o);
                        return -ENOMEM;
                }
        }
        return varlink_reply(link, reply);
}

int vl_method_snapshot_inspect(Varlink *link, json_object *parameters, VarlinkMethodFlags flags,
                               void *userdata) {
        const Snapshot *s;
        int r = resolve_snapshot(userdata, link, parameters, &s);
        if (r <= 0)
                return r;
        return reply_snapshot(link, s);
}

int vl_method_snapshot_delete(Varlink *link, json_object *parameters, VarlinkMethodFlags flags,
                              void *userdata) {
        Manager *m = userdata;
        const Snapshot *s;
        int r = resolve_snapshot(m, link, parameters, &s);
        if (r <= 0)
                return r;
        char id[ID_LENGTH + 1], vm_id[ID_LENGTH + 1] = "";
        memcpy(id, s->id, sizeof(id));
        if (s->users > 0) {
                _cleanup_(json_object_putp) json_object *p = json_object_new_object();
                if (!p || json_add_string(p, "id", id) < 0 ||
                    json_add_string(p, "message",
                                    "a clone is reading the snapshot; try again when it runs") < 0)
                        return -ENOMEM;
                return varlink_error(link, SNAPSHOT_ERROR_INVALID_STATE, p);
        }
        if (s->vm && s->vm->vm.id)
                snprintf(vm_id, sizeof(vm_id), "%s", s->vm->vm.id);
        /* The VM first: a crash in between leaves a snapshot nobody lists as its VM's, never a dangling id.
         */
        if (!isempty(vm_id) && store_get(m->store, vm_id)) {
                r = vm_set_snapshot_id(m, vm_id, id, false);
                if (r < 0)
                        return r;
        }
        r = snapshot_drop(m, id, link);
        if (r < 0)
                return r;
        if (r > 0) {
                _cleanup_(json_object_putp) json_object *reply = json_object_new_object();
                if (!reply || json_add_string(reply, "id", id) < 0)
                        return -ENOMEM;
                return varlink_reply(link, reply);
        }
        return 0;
}

/* ---- after a crash ---- */

typedef struct ResumeCall {
        const Hypervisor *hypervisor;
        char *run_dir;
        char vm_id[ID_LENGTH + 1];
        char *error;
} ResumeCall;

static int resume_work(void *userdata) {
        ResumeCall *c = userdata;
        return c->hypervisor->resume(c->run_dir, 30 * USEC_PER_SEC, &c->error);
}

static void resume_done(int result, void *userdata) {
        ResumeCall *c = userdata;
        if (result < 0)
                log_vm_warning(c->vm_id, "VM %s: cannot resume it after an interrupted snapshot: %s",
                               c->vm_id, c->error ?: strerror(-result));
        else
                log_vm_info(c->vm_id, "VM %s: resumed after a snapshot interrupted by a manager exit.",
                            c->vm_id);
        free(c->run_dir);
        free(c->error);
        free(c);
}

int snapshot_recover_leftovers(Manager *m) {
        Snapshot *s;
        for (size_t state = 0; snapshot_store_iterate(m->snapshots, &state, &s);) {
                if (!s->leftover || !s->vm)
                        continue;
                const VMRecord *vm = store_get(m->store, s->vm->vm.id);
                const Hypervisor *h = vm ? hypervisor_find(vm->vm.backend) : NULL;
                log_info("Snapshot %s of VM %s was interrupted; gc removes it.", s->id, s->vm->vm.id);
                /* The save paused the guest and never got to resume it. */
                if (!h || vm->vm.state != VM_STATE_RUNNING || !vm->run_dir)
                        continue;
                ResumeCall *c = calloc(1, sizeof(ResumeCall));
                if (!c || !(c->run_dir = strdup(vm->run_dir))) {
                        free(c);
                        return -ENOMEM;
                }
                c->hypervisor = h;
                snprintf(c->vm_id, sizeof(c->vm_id), "%s", vm->vm.id);
                int r = job_submit(m->jobs, resume_work, resume_done, c);
                if (r < 0) {
                        free(c->run_dir);
                        free(c);
                        return r;
                }
        }
        return 0;
}
