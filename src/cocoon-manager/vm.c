/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The VM object: record, runtime, the one state-transition function, the one JSON view. */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"
#include "console-relay.h"
#include "id.h"
#include "json-util.h"
#include "log.h"
#include "manager.h"
#include "time-util.h"
#include "hypervisor.h"
#include "vm.h"

/* What the manager knows about a VM beyond its record; an entry exists while there is something to keep. */
typedef struct VmRuntime {
        char id[ID_LENGTH + 1];
        uint32_t main_pid;           /* 0: not known to run */
        bool stopping;               /* a stop is in flight: shown as state stopping */
        char *text[_VM_VIEW_MAX];    /* vm_to_json() serialized; NULL until asked for */
        size_t size[_VM_VIEW_MAX];
} VmRuntime;

static const char *const event_table[_VM_EVENT_MAX] = {
        [VM_EVENT_CURRENT] = "current",
        [VM_EVENT_ADDED] = "added",
        [VM_EVENT_CHANGED] = "changed",
        [VM_EVENT_REMOVED] = "removed",
};

const char *vm_event_to_string(VmEvent e) {
        return e >= 0 && e < _VM_EVENT_MAX ? event_table[e] : NULL;
}

/* [from][to]; stopping is never recorded, so no change leads to or from it. */
static const bool state_change_table[_VM_STATE_MAX][_VM_STATE_MAX] = {
        [VM_STATE_CREATING] = { [VM_STATE_CREATED] = true },
        [VM_STATE_CREATED] = { [VM_STATE_RUNNING] = true, [VM_STATE_ERROR] = true },
        [VM_STATE_RUNNING] = { [VM_STATE_STOPPED] = true, [VM_STATE_ERROR] = true },
        [VM_STATE_STOPPED] = { [VM_STATE_RUNNING] = true, [VM_STATE_ERROR] = true },
        [VM_STATE_ERROR] = { [VM_STATE_RUNNING] = true, [VM_STATE_STOPPED] = true, [VM_STATE_ERROR] = true },
};

bool vm_state_change_allowed(VMState from, VMState to) {
        if (from < 0 || from >= _VM_STATE_MAX || to < 0 || to >= _VM_STATE_MAX)
                return false;
        return state_change_table[from][to];
}

static VmRuntime *runtime_free(VmRuntime *rt) {
        if (!rt)
                return NULL;
        for (size_t i = 0; i < _VM_VIEW_MAX; i++)
                free(rt->text[i]);
        return mfree(rt);
}

static VmRuntime *runtime_get(Manager *m, const char *id) {
        return m->vm_runtime ? hashmap_get(m->vm_runtime, id) : NULL;
}

static int runtime_get_or_new(Manager *m, const char *id, VmRuntime **ret) {
        VmRuntime *rt = runtime_get(m, id);
        int r;

        if (!rt) {
                if (!m->vm_runtime && (r = hashmap_new(&m->vm_runtime)) < 0)
                        return r;
                rt = calloc(1, sizeof(VmRuntime));
                if (!rt)
                        return -ENOMEM;
                snprintf(rt->id, sizeof(rt->id), "%s", id);
                if ((r = hashmap_put(m->vm_runtime, rt->id, rt)) < 0) {
                        free(rt);
                        return r;
                }
        }
        *ret = rt;
        return 0;
}

/* The VM's view changed: the serialized text goes, the pid stays. */
static void runtime_invalidate(Manager *m, const char *id) {
        VmRuntime *rt = runtime_get(m, id);
        if (!rt)
                return;
        for (size_t i = 0; i < _VM_VIEW_MAX; i++)
                rt->text[i] = mfree(rt->text[i]);
}

static void runtime_drop(Manager *m, const char *id) {
        runtime_free(m->vm_runtime ? hashmap_remove(m->vm_runtime, id) : NULL);
}

static void vm_emit(Manager *m, VmEvent event, const char *id) {
        const VMRecord *record = event == VM_EVENT_REMOVED ? NULL : store_get(m->store, id);

        if (m->vm_event)
                m->vm_event(m, event, id, record);
        if (m->vm_event_machined)
                m->vm_event_machined(m, event, id, record);
}

int vm_add(Manager *m, const VMRecord *r) {
        if (store_get(m->store, r->vm.id))
                return -EEXIST;
        /* Its TAPs ("cocoon" + 8 characters of the id + the NIC) would be the ones gc is deleting. */
        for (char **l = m->gc_links; l && *l; l++)
                if (strlen(*l) > 6 && strncmp(*l + 6, r->vm.id, 8) == 0)
                        return -EBUSY;
        int k = store_put(m->store, r);
        if (k < 0)
                return k;
        runtime_invalidate(m, r->vm.id);
        vm_emit(m, VM_EVENT_ADDED, r->vm.id);
        return 0;
}

int vm_set_state(Manager *m, const char *id, VMState state, const char *error_reason) {
        const VMRecord *current = store_get(m->store, id);
        _cleanup_(vm_record_freep) VMRecord *r = NULL;
        if (!current)
                return -ENOENT;
        if (!vm_state_change_allowed(current->vm.state, state))
                return log_vm_error_errno(id, EINVAL, "VM %s: refusing the state change %s -> %s.", id,
                                          vm_state_to_string(current->vm.state), vm_state_to_string(state));
        int k = vm_record_copy(current, &r);
        if (k < 0)
                return k;

        uint64_t now = now_usec(CLOCK_REALTIME);
        r->vm.state = state;
        r->vm.updated_at = now;
        if (state == VM_STATE_RUNNING) {
                r->vm.started_at = now;
                r->vm.first_booted = true;
        } else if (state == VM_STATE_STOPPED || state == VM_STATE_ERROR)
                r->vm.stopped_at = now;
        free(r->error_reason);
        r->error_reason = NULL;
        if (error_reason && !(r->error_reason = strdup(error_reason)))
                return -ENOMEM;

        k = store_put(m->store, r);
        if (k < 0)
                return log_vm_error_errno(id, k, "Failed to write the record of VM %s (%s -> %s): %m", id,
                                          vm_state_to_string(current->vm.state), vm_state_to_string(state));
        /* Any recorded change ends a stop in flight: it either ended the VM or failed. */
        VmRuntime *rt = runtime_get(m, id);
        if (rt)
                rt->stopping = false;
        runtime_invalidate(m, id);
        vm_emit(m, VM_EVENT_CHANGED, id);
        return 0;
}

void vm_set_stopping(Manager *m, const char *id, bool stopping) {
        const VMRecord *record = store_get(m->store, id);
        VmRuntime *rt = runtime_get(m, id);

        /* Only a VM that may have a hypervisor can be stopping. */
        if (!record ||
            (stopping && record->vm.state != VM_STATE_RUNNING && record->vm.state != VM_STATE_ERROR))
                return;
        if ((rt ? rt->stopping : false) == stopping)
                return;
        if (!rt && runtime_get_or_new(m, id, &rt) < 0)
                return (void) log_oom();
        rt->stopping = stopping;
        runtime_invalidate(m, id);
        vm_emit(m, VM_EVENT_CHANGED, id);
}

VMState vm_state(Manager *m, const VMRecord *r) {
        VmRuntime *rt = runtime_get(m, r->vm.id);
        return rt && rt->stopping ? VM_STATE_STOPPING : r->vm.state;
}

size_t vm_count_state(Manager *m, VMState s) {
        size_t n = s == VM_STATE_STOPPING ? 0 : store_count_state(m->store, s), state = 0;
        void *p;

        /* Stopping VMs are counted by their record's state in the store: move them over. */
        while (m->vm_runtime && hashmap_iterate(m->vm_runtime, &state, NULL, &p)) {
                const VmRuntime *rt = p;
                const VMRecord *r = rt->stopping ? store_get(m->store, rt->id) : NULL;
                if (!r)
                        continue;
                if (s == VM_STATE_STOPPING)
                        n++;
                else if (r->vm.state == s && n > 0)
                        n--;
        }
        return n;
}

int vm_set_snapshot_id(Manager *m, const char *id, const char *snapshot_id, bool present) {
        const VMRecord *current = store_get(m->store, id);
        _cleanup_(vm_record_freep) VMRecord *r = NULL;
        if (!current)
                return -ENOENT;
        int k = vm_record_copy(current, &r);
        if (k < 0)
                return k;
        k = present ? vm_add_snapshot_id(&r->vm, snapshot_id) : vm_remove_snapshot_id(&r->vm, snapshot_id);
        if (k <= 0)
                return k;
        r->vm.updated_at = now_usec(CLOCK_REALTIME);
        k = store_put(m->store, r);
        if (k < 0)
                return log_vm_error_errno(id, k, "Failed to write the record of VM %s (snapshot %s): %m", id,
                                          snapshot_id);
        runtime_invalidate(m, id);
        vm_emit(m, VM_EVENT_CHANGED, id);
        return 0;
}

int vm_set_network(Manager *m, const char *id, const VMRecord *from) {
        const VMRecord *current = store_get(m->store, id);
        _cleanup_(vm_record_freep) VMRecord *r = NULL;
        if (!current)
                return -ENOENT;
        int k = vm_record_copy(current, &r);
        if (k < 0)
                return k;
        for (size_t i = 0; i < r->vm.n_network_configs; i++)
                network_config_done(r->vm.network_configs + i);
        r->vm.n_network_configs = 0;
        for (size_t i = 0; i < from->vm.n_network_configs; i++) {
                NetworkConfig n;
                if ((k = network_config_copy(&n, from->vm.network_configs + i)) < 0)
                        return k;
                if ((k = vm_add_network_config(&r->vm, &n)) < 0) {
                        network_config_done(&n);
                        return k;
                }
        }
        free(r->vm.config.network);
        r->vm.config.network = NULL;
        if (from->vm.config.network && !(r->vm.config.network = strdup(from->vm.config.network)))
                return -ENOMEM;
        r->vm.updated_at = now_usec(CLOCK_REALTIME);
        k = store_put(m->store, r);
        if (k < 0)
                return log_vm_error_errno(id, k, "Failed to write the record of VM %s (its NICs): %m", id);
        runtime_invalidate(m, id);
        vm_emit(m, VM_EVENT_CHANGED, id);
        return 0;
}

int vm_set_unit(Manager *m, const char *id, const char *unit, const char *run_dir) {
        const VMRecord *current = store_get(m->store, id);
        _cleanup_(vm_record_freep) VMRecord *r = NULL;
        if (!current)
                return -ENOENT;
        int k = vm_record_copy(current, &r);
        if (k < 0)
                return k;
        free(r->unit);
        free(r->run_dir);
        if (!(r->unit = strdup(unit)) || !(r->run_dir = strdup(run_dir)))
                return -ENOMEM;
        /* A new hypervisor runs the VM from now on. */
        r->vm.updated_at = r->vm.started_at = now_usec(CLOCK_REALTIME);
        k = store_put(m->store, r);
        if (k < 0)
                return log_vm_error_errno(id, k, "Failed to write the record of VM %s (unit %s): %m", id,
                                          unit);
        runtime_invalidate(m, id);
        vm_emit(m, VM_EVENT_CHANGED, id);
        return 0;
}

int vm_remove(Manager *m, const char *id) {
        int k = store_remove(m->store, id);
        if (k < 0)
                return k;
        vm_console_detach(m, id);
        runtime_drop(m, id);
        vm_emit(m, VM_EVENT_REMOVED, id);
        return 0;
}

void vm_set_main_pid(Manager *m, const char *id, uint32_t main_pid) {
        VmRuntime *rt = runtime_get(m, id);

        if (main_pid == 0) {
                if (rt && rt->main_pid != 0) {
                        rt->main_pid = 0;
                        runtime_invalidate(m, id);
                }
                return;
        }
        if (!rt && runtime_get_or_new(m, id, &rt) < 0) {
                log_oom();
                return;
        }
        if (rt->main_pid != main_pid) {
                rt->main_pid = main_pid;
                runtime_invalidate(m, id);
        }
}

uint32_t vm_get_main_pid(Manager *m, const char *id) {
        VmRuntime *rt = runtime_get(m, id);
        return rt ? rt->main_pid : 0;
}

static void on_console_end(ConsoleRelay *relay, void *userdata) {
        /* QEMU closed the console: the VM is going away (the unit watch records why). Drop the relay now, so
         * that a later Console call gets a clear InvalidState/NotSupported instead of an attach that fails;
         * the relay may be freed from inside its own end callback. */
        Manager *m = userdata;
        if (hashmap_get(m->consoles, console_relay_get_vm_id(relay)) == relay)
                (void) hashmap_remove(m->consoles, console_relay_get_vm_id(relay));
        console_relay_free(relay);
}

void vm_console_attach(Manager *m, const char *id, int console_fd) {
        const VMRecord *record = store_get(m->store, id);
        _cleanup_close_ int fd = console_fd;
        _cleanup_free_ char *log_path = NULL;
        ConsoleRelay *relay = NULL;

        if (!record || fd < 0)
                return;
        vm_console_detach(m, id);
        if (asprintf(&log_path, "%s/console.log", record->log_dir) < 0) {
                log_oom();
                return;
        }
        int r = console_relay_new(m->event, id, TAKE_FD(fd), log_path, m->config.console_log_max_bytes,
                                  &relay);
        if (r < 0) {
                log_vm_error_errno(id, r, "Failed to relay the console of VM %s: %m", id);
                return;
        }
        /* The hypervisor records the output itself; without its spool the relay logs what the pty shows. */
        _cleanup_free_ char *spool = NULL;
        const Hypervisor *h = hypervisor_find(record->vm.backend);
        if (!h || !h->console_spool)
                r = 0;
        else if (asprintf(&spool, "%s/%s", record->log_dir, CONSOLE_SPOOL_NAME) < 0 ||
                 (r = console_relay_set_spool(relay, spool)) < 0)
                log_vm_warning(id, "Cannot take the console spool of VM %s, relaying the pty instead: %s",
                               id, strerror(r < 0 ? -r : ENOMEM));
        console_relay_set_end_callback(relay, on_console_end, m);
        /* The relay's id is the key: it lives as long as the entry. */
        r = hashmap_put(m->consoles, console_relay_get_vm_id(relay), relay);
        if (r < 0)
                console_relay_free(relay);
}

void vm_console_detach(Manager *m, const char *id) {
        console_relay_free(m->consoles ? hashmap_remove(m->consoles, id) : NULL);
}

Accel vm_accel(Manager *m, const VMRecord *r) {
        /* Backends without an emulator of their own run on KVM or not at all. */
        const Hypervisor *h = hypervisor_find(r->vm.backend);
        if (h && h->kvm_only)
                return ACCEL_KVM;
        Accel a = r->vm.config.accel ? accel_from_string(r->vm.config.accel) : m->config.qemu_accel;
        return a == ACCEL_AUTO || a < 0 ? m->host_accel : a;
}

static int (*const view_builder[_VM_VIEW_MAX])(const VMRecord *r, json_object **ret) = {
        [VM_VIEW_PUBLIC] = vm_record_to_public_json,
        [VM_VIEW_SUMMARY] = vm_record_to_summary_json,
};

int vm_to_json(Manager *m, const VMRecord *r, VmView view, json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        int k;

        assert(view >= 0 && view < _VM_VIEW_MAX);
        k = view_builder[view](r, &o);
        if (k < 0)
                return k;
        if (vm_state(m, r) == VM_STATE_STOPPING && json_add_string(o, "state", "stopping") < 0)
                return -ENOMEM;
        /* Running VMs get the unit facts the manager already knows; Inspect asks systemd for fresh ones. */
        uint32_t pid = vm_get_main_pid(m, r->vm.id);
        if (pid > 0 && r->vm.state == VM_STATE_RUNNING) {
                _cleanup_(json_object_putp) json_object *rt = json_object_new_object();
                if (!rt || json_add_string(rt, "unit", r->unit) < 0 ||
                    json_add_int64(rt, "mainPID", pid) < 0 ||
                    json_add_string(rt, "accelerator", accel_to_string(vm_accel(m, r))) < 0 ||
                    json_add_object(o, "runtime", TAKE_PTR(rt)) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(o);
        return 0;
}

int vm_to_json_text(Manager *m, const VMRecord *r, VmView view, const char **ret_text, size_t *ret_size) {
        VmRuntime *rt;
        int k;

        assert(view >= 0 && view < _VM_VIEW_MAX);
        k = runtime_get_or_new(m, r->vm.id, &rt);
        if (k < 0)
                return k;
        if (!rt->text[view]) {
                _cleanup_(json_object_putp) json_object *o = NULL;
                size_t size;
                if ((k = vm_to_json(m, r, view, &o)) < 0)
                        return k;
                const char *text = json_object_to_json_string_length(
                        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &size);
                if (!text || !(rt->text[view] = strndup(text, size)))
                        return -ENOMEM;
                rt->size[view] = size;
        }
        *ret_text = rt->text[view];
        *ret_size = rt->size[view];
        return 0;
}

void vm_free_all(Manager *m) {
        size_t state = 0;
        void *rt;
        while (m->vm_runtime && hashmap_iterate(m->vm_runtime, &state, NULL, &rt))
                runtime_free(rt);
        hashmap_free(m->vm_runtime);
        m->vm_runtime = NULL;
}
