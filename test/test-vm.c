/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for the VM object (vm.c) on a real record store: allowed state changes, write-then-announce, a failed
 * write that changes nothing, the cached JSON view, and the unit news an operation holds (vm-unit.c). */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "../src/cocoon-manager/manager.h"
#include "../src/cocoon-manager/vm-task.h"
#include "../src/cocoon-manager/vm-unit.h"
#include "../src/cocoon-manager/vm.h"
#include "bus-unit.h"
#include "fs-util.h"
#include "id.h"
#include "macro.h"

/* vm-unit.c re-arms the idle timer after a VM exits; there is no timer here. */
void manager_check_idle(Manager *m) {
}

/* vm-unit.c queues the removal of an exited VM's TAPs in its task queue (vm-task.c): here, noted. */
static char released[64];
static unsigned n_released;
void vm_task_release_nics(Manager *m, const char *id) {
        snprintf(released, sizeof(released), "%s", id);
        n_released++;
}

typedef struct Fixture {
        char tmp[64];
        Manager m;
        unsigned n_events;
        VmEvent last_event;
        char last_state[16];
} Fixture;

static Fixture *fixture_of(Manager *m) {
        return (Fixture *) ((char *) m - offsetof(Fixture, m));
}

static void on_event(Manager *m, VmEvent event, const char *id, const VMRecord *record) {
        Fixture *f = fixture_of(m);
        f->n_events++;
        f->last_event = event;
        snprintf(f->last_state, sizeof(f->last_state), "%s", record ? vm_state_to_string(record->vm.state) : "");
}

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));
        assert_non_null(f);
        strcpy(f->tmp, "/tmp/test-vm-XXXXXX");
        assert_non_null(mkdtemp(f->tmp));
        assert_int_equal(store_open(f->tmp, &f->m.store), 0);
        f->m.vm_event = on_event;
        f->m.host_accel = ACCEL_TCG;
        f->m.config.qemu_accel = ACCEL_AUTO;
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        vm_unit_free_all(&f->m);
        vm_free_all(&f->m);
        store_free(f->m.store);
        assert_int_equal(rm_rf(f->tmp), 0);
        free(f);
        return 0;
}

static char *add_vm(Fixture *f, const char *name) {
        VMRecord *r;
        char id[ID_LENGTH + 1];

        assert_int_equal(id_generate(id), 0);
        assert_int_equal(vm_record_new(&r), 0);
        r->vm.id = strdup(id);
        r->vm.name = strdup(name);
        r->vm.backend = strdup("qemu");
        r->vm.state = VM_STATE_CREATING;
        r->vm.config.cpu = 1;
        r->vm.config.memory = 128 << 20;
        r->vm.created_at = r->vm.updated_at = 1795876141123456;
        assert_int_equal(unit_name_for_vm(id, &r->unit), 0);
        assert_int_equal(vm_add(&f->m, r), 0);
        vm_record_free(r);
        return strdup(id);
}

static VMState state_of(Fixture *f, const char *id) {
        const VMRecord *r = store_get(f->m.store, id);
        assert_non_null(r);
        return r->vm.state;
}

/* The allowed changes restated independently: [from][to]; states creating, created, running, stopped, error,
 * stopping (never recorded: no change leads to or from it). */
static const bool expected_changes[_VM_STATE_MAX][_VM_STATE_MAX] = {
        { 0, 1, 0, 0, 0, 0 },
        { 0, 0, 1, 0, 1, 0 },
        { 0, 0, 0, 1, 1, 0 },
        { 0, 0, 1, 0, 1, 0 },
        { 0, 0, 1, 1, 1, 0 },
        { 0, 0, 0, 0, 0, 0 },
};

static void test_state_changes(void **state) {
        for (int from = 0; from < _VM_STATE_MAX; from++)
                for (int to = 0; to < _VM_STATE_MAX; to++)
                        if (vm_state_change_allowed(from, to) != expected_changes[from][to])
                                fail_msg("%s -> %s", vm_state_to_string(from), vm_state_to_string(to));
        assert_false(vm_state_change_allowed(_VM_STATE_INVALID, VM_STATE_ERROR));
        assert_false(vm_state_change_allowed(VM_STATE_RUNNING, _VM_STATE_MAX));
}

static void test_set_state(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *id = add_vm(f, "one");
        _cleanup_(store_freep) Store *reloaded = NULL;

        assert_int_equal(f->n_events, 1);
        assert_int_equal(f->last_event, VM_EVENT_ADDED);
        assert_string_equal(f->last_state, "creating");

        /* Refused changes write nothing and announce nothing. */
        assert_int_equal(vm_set_state(&f->m, id, VM_STATE_RUNNING, NULL), -EINVAL);
        assert_int_equal(state_of(f, id), VM_STATE_CREATING);
        assert_int_equal(f->n_events, 1);

        assert_int_equal(vm_set_state(&f->m, id, VM_STATE_CREATED, NULL), 0);
        assert_int_equal(vm_set_state(&f->m, id, VM_STATE_RUNNING, NULL), 0);
        assert_int_equal(vm_set_state(&f->m, id, VM_STATE_ERROR, "killed by signal KILL"), 0);
        assert_int_equal(f->n_events, 4);
        assert_int_equal(f->last_event, VM_EVENT_CHANGED);
        assert_string_equal(f->last_state, "error");
        assert_string_equal(store_get(f->m.store, id)->error_reason, "killed by signal KILL");
        assert_true(store_get(f->m.store, id)->vm.first_booted);

        /* Written before announced: a second store on the same files sees it (the lock is per open file). */
        store_free(TAKE_PTR(f->m.store));
        assert_int_equal(store_open(f->tmp, &reloaded), 0);
        assert_int_equal(store_get(reloaded, id)->vm.state, VM_STATE_ERROR);
        f->m.store = TAKE_PTR(reloaded);

        assert_int_equal(vm_remove(&f->m, id), 0);
        assert_int_equal(f->last_event, VM_EVENT_REMOVED);
        assert_null(store_get(f->m.store, id));
        assert_int_equal(vm_remove(&f->m, id), -ENOENT);
}

/* A record that cannot be written (disk full, I/O error) fails the change: nothing in memory moves, nobody
 * is told, and the caller gets the error to report. */
static void test_set_state_write_fails(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *id = add_vm(f, "full");
        _cleanup_free_ char *path = NULL, *sub = NULL;
        const char *text;
        size_t size;

        assert_int_equal(vm_set_state(&f->m, id, VM_STATE_CREATED, NULL), 0);
        assert_int_equal(vm_to_json_text(&f->m, store_get(f->m.store, id), VM_VIEW_SUMMARY, &text, &size), 0);
        assert_non_null(strstr(text, "\"state\":\"created\""));
        unsigned events = f->n_events;

        /* vm.json becomes a non-empty directory: the atomic rename over it fails. */
        assert_true(asprintf(&path, "%s/vms/%s/vm.json", f->tmp, id) > 0);
        assert_true(asprintf(&sub, "%s/x", path) > 0);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(mkdir(path, 0700), 0);
        assert_int_equal(mkdir(sub, 0700), 0);

        assert_true(vm_set_state(&f->m, id, VM_STATE_RUNNING, NULL) < 0);
        assert_int_equal(state_of(f, id), VM_STATE_CREATED);
        assert_int_equal(f->n_events, events);
        assert_int_equal(vm_to_json_text(&f->m, store_get(f->m.store, id), VM_VIEW_SUMMARY, &text, &size), 0);
        assert_non_null(strstr(text, "\"state\":\"created\""));
}

/* The one JSON view: follows the record and the runtime, and is the same text however often it is asked. */
static void test_json_view(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *id = add_vm(f, "view");
        const char *text, *again;
        size_t size, size2;

        assert_int_equal(vm_to_json_text(&f->m, store_get(f->m.store, id), VM_VIEW_PUBLIC, &text, &size), 0);
        assert_int_equal(strlen(text), size);
        assert_non_null(strstr(text, "\"state\":\"creating\""));
        assert_null(strstr(text, "runtime"));
        assert_int_equal(vm_to_json_text(&f->m, store_get(f->m.store, id), VM_VIEW_PUBLIC, &again, &size2), 0);
        assert_ptr_equal(text, again);

        assert_int_equal(vm_set_state(&f->m, id, VM_STATE_CREATED, NULL), 0);
        assert_int_equal(vm_set_state(&f->m, id, VM_STATE_RUNNING, NULL), 0);
        vm_set_main_pid(&f->m, id, 4242);
        assert_int_equal(vm_get_main_pid(&f->m, id), 4242);
        assert_int_equal(vm_to_json_text(&f->m, store_get(f->m.store, id), VM_VIEW_SUMMARY, &text, &size), 0);
        assert_non_null(strstr(text, "\"state\":\"running\""));
        assert_non_null(strstr(text, "\"runtime\":{\"unit\":\"cocoon-vm@"));
        assert_non_null(strstr(text, "\"mainPID\":4242"));
        assert_non_null(strstr(text, "\"accelerator\":\"tcg\""));
        assert_null(strstr(text, "storageConfigs"));

        vm_set_main_pid(&f->m, id, 0);
        assert_int_equal(vm_to_json_text(&f->m, store_get(f->m.store, id), VM_VIEW_PUBLIC, &text, &size), 0);
        assert_null(strstr(text, "runtime"));
        assert_non_null(strstr(text, "storageConfigs"));
}

static UnitStateChange change_gone(const char *unit, const char *invocation_id) {
        return (UnitStateChange){
                .unit = unit,
                .active_state = "failed",
                .sub_state = "failed",
                .result = "signal",
                .invocation_id = invocation_id,
                .exec_main_code = CLD_KILLED,
                .exec_main_status = SIGKILL,
        };
}

static char *running_vm(Fixture *f, const char *name) {
        char *id = add_vm(f, name);
        assert_int_equal(vm_set_state(&f->m, id, VM_STATE_CREATED, NULL), 0);
        assert_int_equal(vm_set_state(&f->m, id, VM_STATE_RUNNING, NULL), 0);
        return id;
}

/* Outside operations a unit that fails turns the record to error at once. */
static void test_unit_crash(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *id = running_vm(f, "crash");
        _cleanup_free_ char *unit = strdup(store_get(f->m.store, id)->unit); /* records are replaced */
        UnitStateChange c = change_gone(unit, "aaaa");

        unsigned before = n_released;
        vm_unit_handle_change(&f->m, &c);
        assert_int_equal(state_of(f, id), VM_STATE_ERROR);
        assert_non_null(strstr(store_get(f->m.store, id)->error_reason, "KILL"));
        /* Its TAPs go through its queue, once. */
        assert_int_equal(n_released, before + 1);
        assert_string_equal(released, id);
        vm_unit_handle_change(&f->m, &c);
        assert_int_equal(n_released, before + 1);
}

/* A hypervisor that dies while an operation runs (QEMU killed between its start handshake and the task's
 * end): the news is held, then acted on when the operation ends, so the record does not stay running. */
static void test_unit_crash_during_operation(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *id = add_vm(f, "held");
        assert_int_equal(vm_set_state(&f->m, id, VM_STATE_CREATED, NULL), 0);
        _cleanup_free_ char *unit = strdup(store_get(f->m.store, id)->unit); /* records are replaced */
        UnitStateChange c = change_gone(unit, "bbbb");

        vm_unit_hold(&f->m, id);                     /* the start task begins */
        vm_unit_handle_change(&f->m, &c);            /* QEMU dies before the task is over */
        assert_int_equal(state_of(f, id), VM_STATE_CREATED);
        assert_int_equal(vm_set_state(&f->m, id, VM_STATE_RUNNING, NULL), 0); /* the task's own result */
        vm_unit_release(&f->m, id, "bbbb");          /* the task ends */
        assert_int_equal(state_of(f, id), VM_STATE_ERROR);
        assert_non_null(strstr(store_get(f->m.store, id)->error_reason, "KILL"));
}

/* The end of an earlier invocation (the one a stop just ended) is no crash of the one a start left running;
 * neither is an exit that a later activation superseded. */
static void test_unit_stale_news(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *id = add_vm(f, "stale");
        assert_int_equal(vm_set_state(&f->m, id, VM_STATE_CREATED, NULL), 0);
        _cleanup_free_ char *unit = strdup(store_get(f->m.store, id)->unit); /* records are replaced */
        UnitStateChange c = change_gone(unit, "old0");

        vm_unit_hold(&f->m, id);
        vm_unit_handle_change(&f->m, &c);
        assert_int_equal(vm_set_state(&f->m, id, VM_STATE_RUNNING, NULL), 0);
        vm_unit_release(&f->m, id, "new1");
        assert_int_equal(state_of(f, id), VM_STATE_RUNNING);

        UnitStateChange active = { .unit = c.unit, .active_state = "active", .sub_state = "running",
                                   .result = "success", .invocation_id = "new1", .main_pid = 77 };
        vm_unit_hold(&f->m, id);
        vm_unit_handle_change(&f->m, &c);
        vm_unit_handle_change(&f->m, &active);
        vm_unit_release(&f->m, id, NULL);
        assert_int_equal(state_of(f, id), VM_STATE_RUNNING);
}

/* stopping: shown, counted and announced, never written; a recorded change or the unit's end ends it. */
static void test_stopping(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *id = running_vm(f, "halting"), *idle = add_vm(f, "idle");
        _cleanup_free_ char *unit = strdup(store_get(f->m.store, id)->unit); /* records are replaced */
        const char *text;
        size_t size;

        vm_set_main_pid(&f->m, id, 4242);
        unsigned events = f->n_events;
        vm_set_stopping(&f->m, id, true);
        assert_int_equal(f->n_events, events + 1);
        assert_int_equal(f->last_event, VM_EVENT_CHANGED);
        vm_set_stopping(&f->m, id, true); /* no change, no news */
        assert_int_equal(f->n_events, events + 1);
        assert_int_equal(vm_state(&f->m, store_get(f->m.store, id)), VM_STATE_STOPPING);
        assert_int_equal(state_of(f, id), VM_STATE_RUNNING); /* the record still says running */
        assert_int_equal(vm_count_state(&f->m, VM_STATE_STOPPING), 1);
        assert_int_equal(vm_count_state(&f->m, VM_STATE_RUNNING), 0);
        assert_int_equal(vm_count_state(&f->m, VM_STATE_CREATING), 1);
        assert_int_equal(vm_to_json_text(&f->m, store_get(f->m.store, id), VM_VIEW_SUMMARY, &text, &size), 0);
        assert_non_null(strstr(text, "\"state\":\"stopping\""));
        assert_non_null(strstr(text, "\"mainPID\":4242"));

        /* A VM without a hypervisor is never stopping. */
        vm_set_stopping(&f->m, idle, true);
        assert_int_equal(vm_state(&f->m, store_get(f->m.store, idle)), VM_STATE_CREATING);

        /* The recorded end of the stop ends stopping in the same announcement. */
        events = f->n_events;
        assert_int_equal(vm_set_state(&f->m, id, VM_STATE_STOPPED, NULL), 0);
        assert_int_equal(f->n_events, events + 1);
        assert_int_equal(vm_state(&f->m, store_get(f->m.store, id)), VM_STATE_STOPPED);
        assert_int_equal(vm_count_state(&f->m, VM_STATE_STOPPING), 0);
        assert_int_equal(vm_count_state(&f->m, VM_STATE_STOPPED), 1);

        /* systemd deactivating the unit of a running VM (systemctl stop): stopping, then its end. */
        assert_int_equal(vm_set_state(&f->m, id, VM_STATE_RUNNING, NULL), 0);
        UnitStateChange deactivating = { .unit = unit, .active_state = "deactivating", .sub_state = "stop",
                                         .result = "success", .invocation_id = "cccc" };
        vm_unit_handle_change(&f->m, &deactivating);
        assert_int_equal(vm_state(&f->m, store_get(f->m.store, id)), VM_STATE_STOPPING);
        UnitStateChange gone = change_gone(unit, "cccc");
        vm_unit_handle_change(&f->m, &gone);
        assert_int_equal(vm_state(&f->m, store_get(f->m.store, id)), VM_STATE_ERROR);
        assert_int_equal(vm_count_state(&f->m, VM_STATE_STOPPING), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_state_changes),
                cmocka_unit_test_setup_teardown(test_set_state, setup, teardown),
                cmocka_unit_test_setup_teardown(test_set_state_write_fails, setup, teardown),
                cmocka_unit_test_setup_teardown(test_json_view, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unit_crash, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unit_crash_during_operation, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unit_stale_news, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stopping, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
