/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The systemd side of VMs: unit state changes, reconciliation at start, adoption. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "console.h"
#include "fd-util.h"
#include "helpers.h"
#include "hypervisor.h"
#include "id.h"
#include "log.h"
#include "strv-util.h"
#include "time-util.h"
#include "vm-task.h"
#include "vm-unit.h"
#include "vm.h"

/* The last unit change seen while an operation ran on the VM. */
typedef struct UnitHold {
        char id[ID_LENGTH + 1];
        bool gone;         /* the unit became inactive or failed, or was removed */
        bool clean;        /* ... and the hypervisor exited cleanly (the guest powered off) */
        char *reason;
        char invocation_id[33];
} UnitHold;

static UnitHold *unit_hold_free(UnitHold *h) {
        if (!h)
                return NULL;
        free(h->reason);
        return mfree(h);
}

/* The hypervisor of a VM that should be running is gone: record why, as stopped (the guest powered off)
 * or error (anything else). */
static void vm_mark_exited(Manager *m, const char *id, const char *reason, bool clean) {
        const VMRecord *current = store_get(m->store, id);
        if (!current || current->vm.state != VM_STATE_RUNNING)
                return;

        /* A stop was asked for and went on in systemd while no manager waited for it (backend_stop()):
         * however it ended, it is the stop the operator wanted. */
        _cleanup_free_ char *stop_file = NULL;
        if (asprintf(&stop_file, "%s/%s", current->run_dir, STOP_TIMEOUT_FILE_NAME) >= 0 &&
            unlink(stop_file) >= 0) {
                clean = true;
                reason = "stopped on request";
        }

        vm_console_detach(m, id);
        vm_set_main_pid(m, id, 0);
        if (vm_set_state(m, id, clean ? VM_STATE_STOPPED : VM_STATE_ERROR,
                         clean ? NULL : reason ?: "the hypervisor exited") < 0)
                return;
        if (clean)
                log_vm_info(id, "VM %s: %s.", id, reason ?: "powered off");
        else
                log_vm_warning(id, "VM %s: hypervisor %s; state error.", id, reason ?: "exited");
        /* Its TAPs outlive the hypervisor: they go in the VM's queue, behind anything queued already and
         * before any start that comes later. */
        vm_task_release_nics(m, id);
        manager_check_idle(m);
}

static bool change_is_gone(const UnitStateChange *change) {
        return change->removed || streq(change->active_state, "inactive") ||
               streq(change->active_state, "failed");
}

static void hold_note(UnitHold *h, const UnitStateChange *change) {
        if (!change_is_gone(change)) {
                /* A later invocation runs (a start after a stop): what ended before is no longer news. */
                if (streq(change->active_state, "active") || streq(change->active_state, "activating"))
                        h->gone = false;
                return;
        }
        _cleanup_free_ char *reason = NULL;
        bool clean = false;
        if (unit_exit_reason(change->result, change->exec_main_code, change->exec_main_status, &reason,
                             &clean) < 0)
                return (void) log_oom();
        free(h->reason);
        h->reason = TAKE_PTR(reason);
        h->clean = clean;
        h->gone = true;
        snprintf(h->invocation_id, sizeof(h->invocation_id), "%s", change->invocation_id ?: "");
}

void vm_unit_handle_change(Manager *m, const UnitStateChange *change) {
        _cleanup_free_ char *id = NULL;

        if (unit_name_to_vm_id(change->unit, &id) < 0)
                return;
        /* The VM's other instance (a restore's incoming hypervisor, or the one it retires) is not the VM:
         * the record's unit is. */
        const VMRecord *record = store_get(m->store, id);
        if (record && record->unit && !streq(record->unit, change->unit))
                return;
        /* During our own start/stop/delete the operation decides what the record says; we keep the news. */
        UnitHold *h = m->unit_holds ? hashmap_get(m->unit_holds, id) : NULL;
        if (h)
                return hold_note(h, change);

        if (streq(change->active_state, "active") && change->main_pid > 0)
                vm_set_main_pid(m, id, change->main_pid);
        /* A stop nobody of ours waits for: systemctl stop, or one a previous manager began. Its end is
         * recorded below (which ends stopping too, in the same change). */
        if (!change_is_gone(change)) {
                vm_set_stopping(m, id, streq(change->active_state, "deactivating"));
                return;
        }

        _cleanup_free_ char *reason = NULL;
        bool clean = false;
        (void) unit_exit_reason(change->result, change->exec_main_code, change->exec_main_status, &reason,
                                &clean);
        vm_mark_exited(m, id, reason, clean);
        vm_set_stopping(m, id, false); /* a record it did not change (error) */
}

void vm_unit_hold(Manager *m, const char *id) {
        if (m->unit_holds && hashmap_contains(m->unit_holds, id))
                return;
        UnitHold *h = calloc(1, sizeof(UnitHold));
        if (!h || (!m->unit_holds && hashmap_new(&m->unit_holds) < 0)) {
                free(h);
                return (void) log_oom();
        }
        snprintf(h->id, sizeof(h->id), "%s", id);
        if (hashmap_put(m->unit_holds, h->id, h) < 0) {
                free(h);
                log_oom();
        }
}

void vm_unit_release(Manager *m, const char *id, const char *invocation_id) {
        UnitHold *h = m->unit_holds ? hashmap_remove(m->unit_holds, id) : NULL;
        if (!h)
                return;
        /* The hypervisor the operation left running died before the operation was over (QEMU killed between
         * its handshake and the reply): record it now, it will not be reported again. */
        if (h->gone && (isempty(invocation_id) || isempty(h->invocation_id) ||
                        streq(invocation_id, h->invocation_id)))
                vm_mark_exited(m, id, h->reason, h->clean);
        unit_hold_free(h);
}

static void on_unit_change(const UnitStateChange *change, void *userdata) {
        vm_unit_handle_change(userdata, change);
}

/* A running VM's console after a manager restart: the pty its start remembered, or its input FIFO. */
static void console_reconnect(Manager *m, const VMRecord *record) {
        int fd = console_reopen(record->log_dir, record->run_dir);
        if (fd < 0) {
                log_vm_warning(record->vm.id, "Cannot reattach the console of VM %s: %s", record->vm.id,
                               strerror(-fd));
                return;
        }
        vm_console_attach(m, record->vm.id, fd);
}

/* A VM whose unit runs: learn its pid, take its console again. */
static void vm_attach_running(Manager *m, const VMRecord *record) {
        UnitRuntime rt = {};
        /* Once, at start, before serving: the pid List shows until the watch updates it. */
        if (unit_get_runtime(m->bus, record->unit, &rt) >= 0) {
                vm_set_main_pid(m, record->vm.id, rt.main_pid);
                /* A stop a previous manager began goes on in systemd: the VM shows stopping till it ends. */
                vm_set_stopping(m, record->vm.id, streq(rt.active_state, "deactivating"));
        }
        unit_runtime_done(&rt);
        console_reconnect(m, record);
}

static void vm_adopt(Manager *m, const char *id) {
        const VMRecord *r = store_get(m->store, id);
        if (!r)
                return;

        /* A start interrupted before its last step may have left the guest paused (-S): resume it. This
         * blocks, but only during start-up, before anyone is served. */
        const Hypervisor *h = hypervisor_find(r->vm.backend);
        _cleanup_free_ char *error = NULL;
        if (h && h->resume(r->run_dir, 2 * USEC_PER_SEC, &error) < 0)
                log_vm_warning(id, "VM %s: could not resume the adopted guest: %s", id, error ?: "?");

        if (vm_set_state(m, id, VM_STATE_RUNNING, NULL) < 0)
                return;
        log_vm_info(id, "VM %s was running without being recorded as such; adopted.", id);
        vm_attach_running(m, store_get(m->store, id));
}

static bool unit_entry_running(const UnitListEntry *e) {
        /* deactivating: a stop goes on in systemd (begun by an earlier manager); the unit watch records
         * its end. */
        return streq(e->active_state, "active") || streq(e->active_state, "activating") ||
               streq(e->active_state, "reloading") || streq(e->active_state, "deactivating");
}

/* Records say "running" but the manager was away: believe systemd. */
static int vm_unit_reconcile(Manager *m) {
        UnitListEntry *units = NULL;
        size_t n = 0;
        int r = unit_list(m->bus, UNIT_VM_PREFIX "*" UNIT_VM_SUFFIX, &units, &n);
        if (r < 0)
                return log_error_errno(r, "Failed to list VM units: %m");

        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *id = NULL;
                const VMRecord *record = NULL;
                if (unit_name_to_vm_id(units[i].name, &id) >= 0)
                        record = store_get(m->store, id);
                if (!record && unit_entry_running(units + i)) {
                        log_warning("Unit %s has no VM record; stopping it.", units[i].name);
                        (void) unit_stop(m->bus, units[i].name, false);
                } else if (record && record->unit && !streq(record->unit, units[i].name) &&
                           unit_entry_running(units + i)) {
                        /* A restore a dead manager left: the record says which hypervisor is the VM's. */
                        log_warning("Unit %s is not the unit of VM %s (%s), left by an interrupted restore; "
                                    "stopping it.", units[i].name, record->vm.id, record->unit);
                        (void) unit_stop(m->bus, units[i].name, false);
                }
        }

        size_t state = 0;
        const VMRecord *record;
        _cleanup_strv_free_ char **exited = NULL, **adopted = NULL;
        while (store_iterate(m->store, &state, &record)) {
                bool running = false;
                int k = backend_restore_recover(record);
                if (k < 0)
                        log_vm_warning(record->vm.id, "VM %s: cannot put right what an interrupted restore "
                                       "left: %s", record->vm.id, strerror(-k));
                for (size_t i = 0; i < n; i++)
                        if (streq(units[i].name, record->unit) && unit_entry_running(units + i))
                                running = true;
                if (running && record->vm.state == VM_STATE_RUNNING)
                        vm_attach_running(m, record);
                else if (running && (record->vm.state == VM_STATE_CREATED || record->vm.state == VM_STATE_STOPPED)) {
                        /* The manager went away in the middle of a start: the unit runs, the record was never
                         * updated. The VM is adopted, not stopped: nothing the operator asked for is lost. An
                         * `error` record keeps its error (stop and rm still reach the unit). */
                        if (strv_extend(&adopted, record->vm.id) < 0)
                                r = -ENOMEM;
                } else if (!running && record->vm.state == VM_STATE_RUNNING &&
                           strv_extend(&exited, record->vm.id) < 0)
                        r = -ENOMEM;
        }
        /* Outside the iteration: these change the store. */
        for (char **id = exited; id && *id; id++)
                vm_mark_exited(m, *id, "exited while cocoon-manager was not running", false);
        for (char **id = adopted; id && *id; id++)
                vm_adopt(m, *id);
        unit_list_free(units, n);
        return r < 0 ? r : 0;
}

int vm_unit_start(Manager *m) {
        int r = unit_watch_new(m->bus, UNIT_VM_PREFIX, on_unit_change, m, &m->unit_watch);
        if (r < 0)
                return log_error_errno(r, "Failed to watch VM units: %m");
        return vm_unit_reconcile(m);
}

void vm_unit_free_all(Manager *m) {
        size_t state = 0;
        void *h;
        while (m->unit_holds && hashmap_iterate(m->unit_holds, &state, NULL, &h))
                unit_hold_free(h);
        hashmap_free(m->unit_holds);
        m->unit_holds = NULL;
}
