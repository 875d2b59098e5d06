/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Operations on one VM, serialized per VM: queue, state checks, worker hand-off, record update. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus-unit.h"
#include "gc-plan.h"
#include "job-queue.h"
#include "log.h"
#include "qemu.h"
#include "state.h"
#include "strv-util.h"
#include "time-util.h"
#include "varlink-interfaces.h"
#include "backend.h"
#include "vm-task.h"
#include "vm-unit.h"
#include "vm.h"

struct VmTask {
        Manager *manager;
        VmTaskKind kind;
        char id[ID_LENGTH + 1];
        VmTaskOptions options;
        VmTaskDone done;
        void *userdata;
        BackendWork *work;
        bool undoing;         /* the record could not be written: the work is being undone */
        bool finishing;       /* restore: the record names the new unit; the old one is being retired */
        char *undo_message;   /* why, for the reply */
        char *snapshot_dir;   /* options.snapshot_dir points here: the caller's string may be gone */
        char *hypervisor_version; /* options.hypervisor_version likewise */
        char **links;             /* options.links likewise */
        VmTask *next; /* the next operation queued on the same VM */
};

static const char *const task_kind_table[_VM_TASK_KIND_MAX] = {
        [VM_TASK_CREATE] = "create",
        [VM_TASK_START] = "start",
        [VM_TASK_STOP] = "stop",
        [VM_TASK_DELETE] = "delete",
        [VM_TASK_KILL] = "kill",
        [VM_TASK_SNAPSHOT] = "snapshot",
        [VM_TASK_CLONE] = "clone",
        [VM_TASK_RELEASE_NICS] = "release-nics",
        [VM_TASK_RESTORE] = "restore",
};

/* The state machine's operation for each task (create has its own path: its record is new). */
static const VMOperation task_operation_table[_VM_TASK_KIND_MAX] = {
        [VM_TASK_CREATE] = _VM_OPERATION_INVALID,
        [VM_TASK_START] = VM_OPERATION_START,
        [VM_TASK_STOP] = VM_OPERATION_STOP,
        [VM_TASK_DELETE] = VM_OPERATION_DELETE,
        [VM_TASK_KILL] = VM_OPERATION_KILL,
        [VM_TASK_SNAPSHOT] = VM_OPERATION_SNAPSHOT,
        [VM_TASK_CLONE] = _VM_OPERATION_INVALID,
        [VM_TASK_RELEASE_NICS] = _VM_OPERATION_INVALID,
        [VM_TASK_RESTORE] = VM_OPERATION_RESTORE,
};

/* The Varlink error for each kind of backend failure: the shared layer knows nothing of the protocol. */
static const char *const failure_error_table[_BACKEND_FAILURE_MAX] = {
        [BACKEND_FAILURE_HYPERVISOR] = VM_ERROR_HYPERVISOR_FAILED,
        [BACKEND_FAILURE_IMAGE] = VM_ERROR_INVALID_CONFIGURATION,
        [BACKEND_FAILURE_INCOMPATIBLE] = VM_ERROR_INCOMPATIBLE_SNAPSHOT,
        [BACKEND_FAILURE_NETWORK] = VM_ERROR_NETWORK_FAILED,
        [BACKEND_FAILURE_NETWORK_CONFIG] = VM_ERROR_INVALID_CONFIGURATION,
        [BACKEND_FAILURE_SYSTEM] = COCOON_ERROR_SYSTEM,
};

/* The input an InvalidConfiguration after validation is about. */
static const char *const failure_field_table[_BACKEND_FAILURE_MAX] = {
        [BACKEND_FAILURE_IMAGE] = "image",
        [BACKEND_FAILURE_NETWORK_CONFIG] = "network",
};

typedef int (*BackendWorkFunc)(BackendWork *w);

static const BackendWorkFunc work_table[_VM_TASK_KIND_MAX] = {
        [VM_TASK_CREATE] = backend_create,
        [VM_TASK_START] = backend_start,
        [VM_TASK_STOP] = backend_stop,
        [VM_TASK_DELETE] = backend_delete,
        [VM_TASK_KILL] = backend_kill,
        [VM_TASK_SNAPSHOT] = backend_snapshot,
        [VM_TASK_RELEASE_NICS] = backend_release_nics,
        [VM_TASK_CLONE] = backend_clone_create,
        [VM_TASK_RESTORE] = backend_restore,
};

const char *vm_task_kind_to_string(VmTaskKind k) {
        return k >= 0 && k < _VM_TASK_KIND_MAX ? task_kind_table[k] : NULL;
}

const char *vm_task_id(const VmTask *t) {
        return t->id;
}

char *const *vm_task_removed_links(const VmTask *t) {
        return t->work ? t->work->removed_links : NULL;
}

const char *vm_task_failure_field(const VmTask *t) {
        return t->work ? failure_field_table[t->work->failure] : NULL;
}

const char *vm_task_hypervisor_version(const VmTask *t) {
        return t->work ? t->work->hypervisor_version : NULL;
}

bool vm_task_memory_file(const VmTask *t) {
        return t->work && t->work->memory_file;
}

bool vm_task_busy(Manager *m, const char *id) {
        return hashmap_contains(m->vm_tasks, id);
}

static void task_free(VmTask *t) {
        if (!t)
                return;
        backend_work_free(t->work);
        free(t->undo_message);
        free(t->snapshot_dir);
        free(t->hypervisor_version);
        strv_free(t->links);
        free(t);
}

static void task_run(VmTask *t);

/* Every operation's outcome goes to the journal once, with the VM's name: the work's copy of the record
 * still has it after a delete removed the record. */
static void task_log_outcome(VmTask *t, const char *error_id, const char *message) {
        const VMRecord *record = t->work && t->work->record ? t->work->record
                                                            : store_get(t->manager->store, t->id);
        const char *name = record ? record->vm.name : NULL;
        const char *operation = vm_task_kind_to_string(t->kind);

        if (error_id)
                (void) log_vm_operation(LOG_WARNING, t->id, name, operation, error_id,
                                        "VM %s (%s): %s failed: %s", t->id, name ?: "?", operation,
                                        message ?: error_id);
        else
                (void) log_vm_operation(LOG_INFO, t->id, name, operation, "success", "VM %s (%s): %s done.",
                                        t->id, name ?: "?", operation);
}

/* Reports the outcome, then starts the next operation queued on this VM. */
static void task_finish(VmTask *t, const char *error_id, const char *message) {
        Manager *m = t->manager;

        task_log_outcome(t, error_id, message);
        if (t->done)
                t->done(m, t, error_id, message, t->userdata);
        /* What systemd said about the unit while this ran is acted on now (a hypervisor that died after
         * its start handshake is recorded, not forgotten). */
        vm_unit_release(m, t->id, t->work ? t->work->invocation_id : NULL);

        VmTask *next = t->next;
        if (next)
                (void) hashmap_replace(m->vm_tasks, next->id, next);
        else
                (void) hashmap_remove(m->vm_tasks, t->id);
        task_free(t);
        if (next)
                task_run(next);
        manager_check_idle(m);
}

/* A task that never joined the VM's queue (a kill, or an operation the current state refuses at once):
 * reported and freed, the queue and its unit hold untouched. */
static void task_finish_unqueued(VmTask *t, const char *error_id, const char *message) {
        Manager *m = t->manager;

        task_log_outcome(t, error_id, message);
        if (t->done)
                t->done(m, t, error_id, message, t->userdata);
        task_free(t);
        manager_check_idle(m);
}

/* The manager is shutting down before the work began: nothing changed, and a create leaves no
 * placeholder. */
static void task_not_started(VmTask *t) {
        if (t->kind == VM_TASK_CREATE || t->kind == VM_TASK_CLONE)
                (void) vm_remove(t->manager, t->id);
        task_finish(t, COCOON_ERROR_SHUTTING_DOWN,
                    "cocoon-manager is shutting down; the operation was not started");
}

static int job_work(void *userdata);
static void on_work_done(int result, void *userdata);

/* What undoes a finished operation whose new state could not be written, so that the record (still the old
 * state) and the unit agree: a created VM's disks and directories go, a started hypervisor is stopped. */
static const BackendWorkFunc undo_table[_VM_TASK_KIND_MAX] = {
        [VM_TASK_CREATE] = backend_delete,
        [VM_TASK_CLONE] = backend_delete,
        [VM_TASK_START] = backend_stop,
        [VM_TASK_RESTORE] = backend_restore_undo,
};

/* The record write after the work failed (disk full, I/O error): never reply success for a state nobody
 * wrote. Undo what can be undone in a worker, then fail the call with RecordNotWritten. */
static void task_record_failed(VmTask *t, int error) {
        Manager *m = t->manager;
        char message[256];

        snprintf(message, sizeof(message), "cannot write the VM's record: %s", strerror(-error));
        if (!undo_table[t->kind])
                return task_finish(t, VM_ERROR_RECORD_NOT_WRITTEN, message);
        /* A restore's undo stops only the new hypervisor: the VM's own runs on, with its console. */
        if (t->kind != VM_TASK_RESTORE) {
                vm_console_detach(m, t->id);
                vm_set_main_pid(m, t->id, 0);
        }
        t->undoing = true;
        t->work->force = true;
        t->undo_message = strdup(message);
        if (!t->undo_message || job_submit(m->jobs, job_work, on_work_done, t) < 0)
                return task_finish(t, VM_ERROR_RECORD_NOT_WRITTEN, message);
}

static void on_undo_done(VmTask *t, int result) {
        Manager *m = t->manager;

        if (result < 0)
                log_vm_error_errno(t->id, result,
                                   "VM %s: could not undo the %s after a failed record write: %s", t->id,
                                   vm_task_kind_to_string(t->kind), t->work->message ?: "?");
        /* A placeholder needs no space to go; the name is free again. */
        if (t->kind == VM_TASK_CREATE || t->kind == VM_TASK_CLONE)
                (void) vm_remove(m, t->id);
        return task_finish(t, VM_ERROR_RECORD_NOT_WRITTEN, t->undo_message);
}

/* The restored hypervisor runs and has the disks: the record names its unit, then the old unit goes. */
static void restore_swapped(VmTask *t) {
        Manager *m = t->manager;
        BackendWork *w = t->work;

        int r = vm_set_unit(m, t->id, w->incoming->record->unit, w->incoming->record->run_dir);
        if (r < 0)
                return task_record_failed(t, r);
        vm_console_attach(m, t->id, TAKE_FD(w->console_fd));
        vm_set_main_pid(m, t->id, w->main_pid);
        t->finishing = true;
        r = job_submit(m->jobs, job_work, on_work_done, t);
        if (r < 0) {
                /* Shutting down: the next manager stops the unit the record no longer names (vm-unit.c). */
                log_vm_warning(t->id, "VM %s: cannot stop %s after its restore now: %s", t->id,
                               w->record->unit, strerror(-r));
                return task_finish(t, NULL, NULL);
        }
}

static void on_work_done(int result, void *userdata) {
        VmTask *t = userdata;
        Manager *m = t->manager;
        BackendWork *w = t->work;
        const char *message = w->message ?: (result < 0 ? strerror(-result) : NULL);
        const char *failure = failure_error_table[w->failure];
        int r;

        if (t->finishing) {
                /* The VM is restored whatever became of the old unit: a manager started later stops it. */
                if (result < 0 && result != -ECANCELED && result != -EINPROGRESS)
                        log_vm_warning(t->id, "VM %s: cannot stop %s after its restore: %s", t->id,
                                       w->record->unit, message);
                return task_finish(t, NULL, NULL);
        }

        if (result == -ECANCELED && t->kind == VM_TASK_KILL)
                return task_finish_unqueued(t, COCOON_ERROR_SHUTTING_DOWN,
                                        "cocoon-manager is shutting down; the signal was not sent");
        if (result == -ECANCELED) /* never started: the manager is shutting down */
                return task_not_started(t);
        if (t->undoing)
                return on_undo_done(t, result);
        if (result == -EINPROGRESS)
                /* A stop whose wait our shutdown ended: it goes on in systemd, the record stays as it is
                 * and the next manager records the outcome (vm-unit.c). */
                return task_finish(t, COCOON_ERROR_SHUTTING_DOWN, message);

        switch (t->kind) {
        case VM_TASK_CREATE:
        case VM_TASK_CLONE:
                if (result < 0) {
                        /* Roll back: the placeholder goes, and with it the name. */
                        (void) vm_remove(m, t->id);
                        return task_finish(t, failure, message);
                }
                r = w->network_changed ? vm_set_network(m, t->id, w->record) : 0;
                if (r >= 0)
                        r = vm_set_state(m, t->id, VM_STATE_CREATED, NULL);
                if (r < 0)
                        return task_record_failed(t, r);
                return task_finish(t, NULL, NULL);

        case VM_TASK_START:
                if (result < 0) {
                        vm_set_main_pid(m, t->id, 0);
                        /* The unit is gone already; a record that cannot say error keeps its old state. */
                        (void) vm_set_state(m, t->id, VM_STATE_ERROR, message);
                        return task_finish(t, failure, message);
                }
                /* Runtime first, so that the change announced already carries it. */
                vm_console_attach(m, t->id, TAKE_FD(w->console_fd));
                vm_set_main_pid(m, t->id, w->main_pid);
                /* A network set up again: the addresses granted now are the ones the guest was given. */
                r = w->network_changed ? vm_set_network(m, t->id, w->record) : 0;
                if (r >= 0)
                        r = vm_set_state(m, t->id, VM_STATE_RUNNING, NULL);
                if (r < 0)
                        return task_record_failed(t, r);
                return task_finish(t, NULL, NULL);

        case VM_TASK_STOP:
                vm_console_detach(m, t->id);
                vm_set_main_pid(m, t->id, 0);
                if (result < 0) {
                        (void) vm_set_state(m, t->id, VM_STATE_ERROR, message);
                        vm_set_stopping(m, t->id, false); /* the stop is over, whatever the record says */
                        return task_finish(t, failure, message);
                }
                /* The hypervisor is gone and cannot be brought back: if the record cannot say so, the call
                 * fails (and the next manager start records the VM from what systemd says). */
                r = vm_set_state(m, t->id, VM_STATE_STOPPED, NULL);
                vm_set_stopping(m, t->id, false);
                if (r < 0)
                        return task_record_failed(t, r);
                return task_finish(t, NULL, NULL);

        case VM_TASK_DELETE:
                vm_console_detach(m, t->id);
                vm_set_main_pid(m, t->id, 0);
                if (result < 0)
                        return task_finish(t, failure, message);
                r = vm_remove(m, t->id);
                if (r < 0 && r != -ENOENT) {
                        /* The hypervisor is gone: what failed is the state directory (read-only, EIO). */
                        char why[256];
                        snprintf(why, sizeof(why), "cannot remove the record: %s", strerror(-r));
                        return task_finish(t, COCOON_ERROR_SYSTEM, why);
                }
                return task_finish(t, NULL, NULL);

        case VM_TASK_KILL:
                /* What becomes of the VM is the unit watch's (or the stop in flight's) to record. */
                return task_finish_unqueued(t, result < 0 ? failure : NULL, result < 0 ? message : NULL);
        case VM_TASK_SNAPSHOT:
                /* The guest was resumed whatever happened; the snapshot record is the caller's. */
        case VM_TASK_RELEASE_NICS:
                return task_finish(t, result < 0 ? failure : NULL, result < 0 ? message : NULL);

        case VM_TASK_RESTORE:
                /* A failure left the VM as it was: its hypervisor runs on. */
                if (result < 0)
                        return task_finish(t, failure, message);
                return restore_swapped(t);

        default:
                abort(); /* every kind is handled above */
        }
}

static int job_work(void *userdata) {
        VmTask *t = userdata;
        if (t->finishing)
                return backend_restore_finish(t->work);
        return (t->undoing ? undo_table : work_table)[t->kind](t->work);
}

static int task_prepare_work(VmTask *t, const VMRecord *record) {
        Manager *m = t->manager;
        _cleanup_(backend_work_freep) BackendWork *w = calloc(1, sizeof(BackendWork));
        if (!w)
                return -ENOMEM;
        w->console_fd = -EBADF;
        int r = vm_record_copy(record, &w->record);
        if (r < 0)
                return r;
        r = store_vm_dir(m->store, t->id, &w->vm_dir);
        if (r < 0)
                return r;
        w->hypervisor = hypervisor_find(record->vm.backend);
        if (!w->hypervisor)
                return -EOPNOTSUPP;
        const char *binary = cocoon_config_backend_binary(&m->config, record->vm.backend);
        if (!binary)
                return -EOPNOTSUPP;
        if (!(w->binary = strdup(binary)))
                return -ENOMEM;
        w->accel = vm_accel(m, record);
        w->tsc_khz = m->host_tsc_khz;
        w->kill_grace_usec = m->config.kill_grace_usec;
        w->timeout_usec = t->options.timeout_usec ?: m->config.stop_timeout_usec;
        w->force = t->options.force;
        w->keep_state = t->options.keep_state;
        w->signal = t->options.signal ?: SIGKILL;
        if (m->stop_helper && !(w->stop_helper = strdup(m->stop_helper)))
                return -ENOMEM;
        w->cancel_fd = job_queue_cancel_fd(m->jobs);
        if ((m->network_address && !(w->network_address = strdup(m->network_address))) ||
            !(w->cni_config_dir = strdup(m->config.cni_config_dir)) ||
            !(w->cni_plugin_dir = strdup(m->config.cni_plugin_dir)))
                return -ENOMEM;
        w->memory_file = t->options.memory_file;
        if ((t->options.snapshot_dir && !(w->snapshot_dir = strdup(t->options.snapshot_dir))) ||
            (t->options.hypervisor_version &&
             !(w->hypervisor_version = strdup(t->options.hypervisor_version))) ||
            strv_copy(t->options.links, &w->links) < 0 || strv_copy(m->config.network_dns, &w->dns) < 0)
                return -ENOMEM;
        t->work = TAKE_PTR(w);
        return 0;
}

static void task_run(VmTask *t) {
        Manager *m = t->manager;
        const VMRecord *record = store_get(m->store, t->id);
        char message[256];

        vm_unit_hold(m, t->id);

        if (!record && t->kind == VM_TASK_RELEASE_NICS)
                return task_finish(t, NULL, NULL); /* a delete queued before it removed them */
        if (!record)
                return task_finish(t, VM_ERROR_NO_SUCH_VM, "the VM no longer exists");

        if (t->kind == VM_TASK_CREATE || t->kind == VM_TASK_CLONE) {
                if (record->vm.state != VM_STATE_CREATING)
                        return task_finish(t, VM_ERROR_INVALID_STATE, "the VM is not being created");
        } else if (t->kind == VM_TASK_RELEASE_NICS) {
                /* A start queued before this one ran meanwhile: its TAPs are in use again. */
                if (!vm_state_taps_unused(record->vm.state))
                        return task_finish(t, NULL, NULL);
        } else {
                VMOperation op = task_operation_table[t->kind];
                switch (vm_transition_allowed(record->vm.state, op, t->options.force)) {
                case VM_TRANSITION_REFUSED:
                        snprintf(message, sizeof(message), "%s",
                                 vm_transition_refusal_reason(record->vm.state, op, t->options.force) ?:
                                         "not allowed now");
                        return task_finish(t, VM_ERROR_INVALID_STATE, message);
                case VM_TRANSITION_NOOP:
                        return task_finish(t, NULL, NULL);
                case VM_TRANSITION_ALLOWED:
                        break;
                }
        }
        /* Until it is over, the VM shows stopping (a hypervisor that is already gone shows no stopping). */
        if (t->kind == VM_TASK_STOP && record->vm.state == VM_STATE_RUNNING)
                vm_set_stopping(m, t->id, true);

        int r = task_prepare_work(t, record);
        if (r >= 0)
                r = job_submit(m->jobs, job_work, on_work_done, t);
        if (r == -ESHUTDOWN)
                return task_not_started(t);
        if (r < 0) {
                snprintf(message, sizeof(message), "cannot run the operation: %s", strerror(-r));
                return task_finish(t, VM_ERROR_HYPERVISOR_FAILED, message);
        }
}

static void task_append(Manager *m, VmTask *t) {
        VmTask *head = hashmap_get(m->vm_tasks, t->id);
        if (!head) {
                /* The stop in flight finished while the kill ran: run now (a stopped VM is a no-op). */
                if (hashmap_put(m->vm_tasks, t->id, t) < 0)
                        return task_finish(t, VM_ERROR_HYPERVISOR_FAILED, "cannot queue the operation");
                return task_run(t);
        }
        while (head->next)
                head = head->next;
        head->next = t;
}

static int preempt_work(void *userdata) {
        VmTask *t = userdata;
        return backend_kill_now(t->work);
}

/* The kill is sent; the forced stop now queues behind the graceful stop, whose wait ends as the unit goes
 * inactive, and then finds the VM stopped. */
static void on_preempt_done(int result, void *userdata) {
        VmTask *t = userdata;
        if (result < 0)
                log_vm_warning(t->id, "VM %s: cannot cut the stop in flight short: %s", t->id,
                               t->work && t->work->message ? t->work->message : strerror(-result));
        backend_work_free(TAKE_PTR(t->work));
        task_append(t->manager, t);
}

/* Answers t at once with InvalidState when the VM's state refuses it; true when it did. */
static bool task_refused_now(VmTask *t, const VMRecord *record) {
        VMState state = vm_state(t->manager, record);
        VMOperation op = task_operation_table[t->kind];

        if (op < 0 || vm_transition_allowed(state, op, t->options.force) != VM_TRANSITION_REFUSED)
                return false;
        task_finish_unqueued(t, VM_ERROR_INVALID_STATE,
                             vm_transition_refusal_reason(state, op, t->options.force) ?: "not allowed now");
        return true;
}

/* A kill goes to a worker at once, beside whatever operation the VM's queue runs. */
static int task_kill_submit(VmTask *t, const VMRecord *record) {
        Manager *m = t->manager;
        int r;

        if (!record) {
                task_finish_unqueued(t, VM_ERROR_NO_SUCH_VM, "the VM no longer exists");
                return 0;
        }
        r = task_prepare_work(t, record);
        if (r >= 0)
                r = job_submit(m->jobs, job_work, on_work_done, t);
        if (r == -ESHUTDOWN) {
                task_finish_unqueued(t, COCOON_ERROR_SHUTTING_DOWN,
                                     "cocoon-manager is shutting down; the signal was not sent");
                return 0;
        }
        if (r < 0) {
                task_free(t);
                return r;
        }
        return 0;
}

int vm_task_submit(Manager *m, VmTaskKind kind, const char *id, const VmTaskOptions *options,
                   VmTaskDone done, void *userdata) {
        VmTask *t = calloc(1, sizeof(VmTask));
        if (!t)
                return -ENOMEM;
        t->manager = m;
        t->kind = kind;
        snprintf(t->id, sizeof(t->id), "%s", id);
        if (options)
                t->options = *options;
        if ((t->options.snapshot_dir && !(t->snapshot_dir = strdup(t->options.snapshot_dir))) ||
            (t->options.hypervisor_version &&
             !(t->hypervisor_version = strdup(t->options.hypervisor_version)))) {
                task_free(t);
                return -ENOMEM;
        }
        t->options.snapshot_dir = t->snapshot_dir;
        t->options.hypervisor_version = t->hypervisor_version;
        if (strv_copy(t->options.links, &t->links) < 0) {
                task_free(t);
                return -ENOMEM;
        }
        t->options.links = t->links;
        t->done = done;
        t->userdata = userdata;

        /* What the state the VM shows refuses is answered now, not after the operations queued before. */
        const VMRecord *current = store_get(m->store, id);
        if (current && (kind == VM_TASK_KILL || vm_state(m, current) == VM_STATE_STOPPING))
                if (task_refused_now(t, current))
                        return 0;
        if (kind == VM_TASK_KILL)
                return task_kill_submit(t, current);

        VmTask *head = hashmap_get(m->vm_tasks, id);
        /* A forced stop or delete does not wait behind a graceful stop in flight (a guest that ignores the
         * power button holds it for its whole timeout): it kills the unit at once, then queues as usual. */
        if (head && head->kind == VM_TASK_STOP && head->work && !head->undoing &&
            (kind == VM_TASK_STOP || kind == VM_TASK_DELETE) && t->options.force) {
                const VMRecord *record = store_get(m->store, id);
                int r = record ? task_prepare_work(t, record) : -ENOENT;
                if (r >= 0)
                        r = job_submit(m->jobs, preempt_work, on_preempt_done, t);
                if (r >= 0)
                        return 0;
                backend_work_free(TAKE_PTR(t->work));
        }
        if (head) {
                while (head->next)
                        head = head->next;
                head->next = t;
                return 0;
        }
        int r = hashmap_put(m->vm_tasks, t->id, t);
        if (r < 0) {
                task_free(t);
                return r;
        }
        task_run(t);
        return 0;
}

static void on_rollback_done(Manager *m, const VmTask *t, const char *error_id, const char *message,
                             void *userdata) {
        if (error_id)
                log_vm_warning(t->id, "VM %s: could not roll back its interrupted create: %s", t->id,
                             message ?: error_id);
        else
                log_vm_info(t->id, "VM %s: its create was interrupted by a manager exit; rolled back.",
                            t->id);
}

int vm_task_roll_back_creates(Manager *m) {
        _cleanup_strv_free_ char **ids = NULL;
        const VMRecord *record;
        size_t state = 0;
        int r;

        while (store_iterate(m->store, &state, &record))
                if (record->vm.state == VM_STATE_CREATING && strv_extend(&ids, record->vm.id) < 0)
                        return -ENOMEM;
        for (char **id = ids; id && *id; id++) {
                r = vm_task_submit(m, VM_TASK_DELETE, *id, &(VmTaskOptions){ .force = true },
                                   on_rollback_done, NULL);
                if (r < 0)
                        return log_vm_error_errno(*id, r, "Failed to roll back the create of VM %s: %m",
                                                  *id);
        }
        return 0;
}

static bool record_has_taps(const VMRecord *record) {
        for (size_t i = 0; i < record->vm.n_network_configs; i++)
                if (record->vm.network_configs[i].backend == NETWORK_BACKEND_BRIDGE)
                        return true;
        return false;
}

void vm_task_release_nics(Manager *m, const char *id) {
        const VMRecord *record = store_get(m->store, id);
        if (!record || !record_has_taps(record))
                return;
        int r = vm_task_submit(m, VM_TASK_RELEASE_NICS, id, NULL, NULL, NULL);
        if (r < 0)
                log_vm_warning(id, "VM %s: cannot queue the removal of its TAPs: %s", id, strerror(-r));
}
