/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Watching the VMs' units: crashes and guest power-offs seen at once, reconciliation at start, console relays. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "bus-unit.h"
#include "console.h"
#include "console-relay.h"
#include "fd-util.h"
#include "helpers.h"
#include "hypervisor.h"
#include "log.h"
#include "strv-util.h"
#include "time-util.h"
#include "vm-events.h"
#include "vm-monitor.h"
#include "vm-runtime.h"
#include "vm-task.h"
#include "vm-varlink.h"

static void on_console_end(ConsoleRelay *relay, void *userdata) {
        /* QEMU closed the console: the VM is going away (the unit watch records why). Drop the relay now, so
         * that a later Console call gets a clear InvalidState/NotSupported instead of an attach that fails;
         * the relay may be freed from inside its own end callback. */
        Manager *m = userdata;
        if (hashmap_get(m->consoles, console_relay_get_vm_id(relay)) == relay)
                (void) hashmap_remove(m->consoles, console_relay_get_vm_id(relay));
        console_relay_free(relay);
}

void manager_console_attach(Manager *m, const char *id, int console_fd) {
        const VMRecord *record = store_get(m->store, id);
        _cleanup_close_ int fd = console_fd;
        _cleanup_free_ char *log_path = NULL;
        ConsoleRelay *relay = NULL;

        if (!record || fd < 0)
                return;
        manager_console_detach(m, id);
        if (asprintf(&log_path, "%s/console.log", record->log_dir) < 0) {
                log_oom();
                return;
        }
        int r = console_relay_new(m->event, id, TAKE_FD(fd), log_path, m->config.console_log_max_bytes, &relay);
        if (r < 0) {
                log_vm_error_errno(id, r, "Failed to relay the console of VM %s: %m", id);
                return;
        }
        /* The hypervisor records the output itself; without its spool the relay logs what the pty shows. */
        _cleanup_free_ char *spool = NULL;
        if (asprintf(&spool, "%s/%s", record->log_dir, CONSOLE_SPOOL_NAME) < 0 ||
            (r = console_relay_set_spool(relay, spool)) < 0)
                log_vm_warning(id, "Cannot take the console spool of VM %s, relaying the pty instead: %s",
                               id, strerror(r < 0 ? -r : ENOMEM));
        console_relay_set_end_callback(relay, on_console_end, m);
        /* The relay's id is the key: it lives as long as the entry. */
        r = hashmap_put(m->consoles, console_relay_get_vm_id(relay), relay);
        if (r < 0)
                console_relay_free(relay);
}

void manager_console_detach(Manager *m, const char *id) {
        ConsoleRelay *relay = hashmap_remove(m->consoles, id);
        console_relay_free(relay);
}

/* A running VM's console after a manager restart: the pty its start remembered. */
static void console_reconnect(Manager *m, const VMRecord *record) {
        int fd = console_pty_reopen(record->log_dir);
        if (fd < 0) {
                log_vm_warning(record->vm.id, "Cannot reattach the console of VM %s: %s", record->vm.id,
                               strerror(-fd));
                return;
        }
        manager_console_attach(m, record->vm.id, fd);
}

/* The hypervisor of a VM that should be running is gone: record why, as stopped (the guest powered off)
 * or error (anything else). */
static void vm_mark_exited(Manager *m, const char *id, const char *reason, bool clean) {
        const VMRecord *current = store_get(m->store, id);
        if (!current || current->vm.state != VM_STATE_RUNNING)
                return;

        manager_console_detach(m, id);
        vm_runtime_set_pid(m, id, 0);
        if (manager_vm_set_state(m, id, clean ? VM_STATE_STOPPED : VM_STATE_ERROR,
                                 clean ? NULL : reason ?: "the hypervisor exited") < 0)
                return;
        if (clean)
                log_vm_info(id, "VM %s: %s.", id, reason ?: "powered off");
        else
                log_vm_warning(id, "VM %s: hypervisor %s; state error.", id, reason ?: "exited");
        manager_check_idle(m);
}

static void on_unit_change(const UnitStateChange *change, void *userdata) {
        Manager *m = userdata;
        _cleanup_free_ char *id = NULL;

        if (unit_name_to_vm_id(change->unit, &id) < 0)
                return;
        /* During our own start/stop/delete the operation decides what the record says. */
        if (vm_task_busy(m, id))
                return;
        if (streq(change->active_state, "active") && change->main_pid > 0)
                vm_runtime_set_pid(m, id, change->main_pid);
        bool gone = change->removed || streq(change->active_state, "inactive") ||
                    streq(change->active_state, "failed");
        if (!gone)
                return;

        _cleanup_free_ char *reason = NULL;
        bool clean = false;
        (void) unit_exit_reason(change->result, change->exec_main_code, change->exec_main_status, &reason, &clean);
        vm_mark_exited(m, id, reason, clean);
}

/* A VM whose unit runs: learn its pid, take its console again. */
static void vm_attach_running(Manager *m, const VMRecord *record) {
        UnitRuntime rt = {};
        /* Once, at start, before serving: the pid List shows until the watch updates it. */
        if (unit_get_runtime(m->bus, record->unit, &rt) >= 0)
                vm_runtime_set_pid(m, record->vm.id, rt.main_pid);
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

        if (manager_vm_set_state(m, id, VM_STATE_RUNNING, NULL) < 0)
                return;
        log_vm_info(id, "VM %s was running without being recorded as such; adopted.", id);
        vm_attach_running(m, store_get(m->store, id));
}

static bool unit_entry_running(const UnitListEntry *e) {
        return streq(e->active_state, "active") || streq(e->active_state, "activating") ||
               streq(e->active_state, "reloading");
}

/* Records say "running" but the manager was away: believe systemd. */
static int vm_monitor_reconcile(Manager *m) {
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
                }
        }

        size_t state = 0;
        const VMRecord *record;
        _cleanup_strv_free_ char **exited = NULL, **adopted = NULL;
        while (store_iterate(m->store, &state, &record)) {
                bool running = false;
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

int vm_monitor_start(Manager *m) {
        int r = unit_watch_new(m->bus, UNIT_VM_PREFIX, on_unit_change, m, &m->unit_watch);
        if (r < 0)
                return log_error_errno(r, "Failed to watch VM units: %m");
        return vm_monitor_reconcile(m);
}
