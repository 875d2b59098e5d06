/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for vm-events.c over a real Varlink server: a Watch subscriber gets the current state and the
 * changes; one that never reads has its call ended with SubscriberTooSlow instead of hanging forever. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../src/cocoon-manager/manager.h"
#include "../src/cocoon-manager/vm-events.h"
#include "../src/cocoon-manager/vm.h"
#include "bus-unit.h"
#include "fs-util.h"
#include "id.h"
#include "macro.h"
#include "varlink-interfaces.h"
#include "varlink-test-util.h"

static Manager manager;
static char vm_id[ID_LENGTH + 1];
static unsigned n_changes;

/* Watch, then (still on the loop) as many changes as the test asks for: the first ones written state
 * changes, the rest the same event sent again (what vm.c sends after each write). */
static int vl_method_watch(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata) {
        Manager *m = userdata;
        int r = vm_events_subscribe(m, link, NULL);
        if (r < 0)
                return r;
        for (unsigned i = 0; i < n_changes; i++)
                if (i < 3)
                        assert_int_equal(vm_set_state(m, vm_id, i % 2 ? VM_STATE_RUNNING : VM_STATE_ERROR,
                                                      "a reason that makes the events a little bigger"), 0);
                else
                        vm_events_emit(m, VM_EVENT_CHANGED, vm_id, store_get(m->store, vm_id));
        return 0;
}

static void setup_manager(const char *dir) {
        VMRecord *r;

        manager = (Manager){ .vm_event = vm_events_emit, .host_accel = ACCEL_TCG };
        assert_int_equal(store_open(dir, &manager.store), 0);
        assert_int_equal(id_generate(vm_id), 0);
        assert_int_equal(vm_record_new(&r), 0);
        r->vm.id = strdup(vm_id);
        r->vm.name = strdup("watched");
        r->vm.backend = strdup("qemu");
        r->vm.state = VM_STATE_CREATING;
        r->vm.config.cpu = 1;
        r->vm.config.memory = 128 << 20;
        r->vm.created_at = r->vm.updated_at = 1795876141123456;
        assert_int_equal(unit_name_for_vm(vm_id, &r->unit), 0);
        assert_int_equal(vm_add(&manager, r), 0);
        assert_int_equal(vm_set_state(&manager, vm_id, VM_STATE_CREATED, NULL), 0);
        vm_record_free(r);
}

/* Reads big chunks (not message by message) until the stream holds the last reply: returns it all. */
static char *read_stream_until_final(int fd, size_t *ret_size) {
        size_t size = 0, allocated = 0;
        char *buf = NULL;

        for (;;) {
                if (allocated - size < 65536) {
                        allocated = allocated * 2 + 65536;
                        buf = realloc(buf, allocated);
                        assert_non_null(buf);
                }
                ssize_t k = read(fd, buf + size, allocated - size - 1);
                assert_true(k > 0);
                size += (size_t) k;
                buf[size] = '\0';
                /* The final reply is the first message without "continues". */
                if (size > 0 && buf[size - 1] == '\0') {
                        const char *last = buf + size - 1;
                        while (last > buf && last[-1] != '\0')
                                last--;
                        if (!strstr(last, "\"continues\":true"))
                                break;
                }
        }
        *ret_size = size;
        return buf;
}

static int run_watch(unsigned changes, bool read_all, char ***ret_messages) {
        TestServer t;
        char state_dir[128];
        char **messages = NULL;
        size_t n = 0;

        test_server_init(&t);
        snprintf(state_dir, sizeof(state_dir), "%s/state", t.dir);
        setup_manager(state_dir);
        n_changes = changes;
        assert_int_equal(varlink_server_add_interface(t.server, &vl_interface_io_cocoon_VM), 0);
        assert_int_equal(varlink_server_bind_method(t.server, "io.cocoon.VM.Watch", vl_method_watch), 0);
        varlink_server_set_userdata(t.server, &manager);
        test_server_run(&t);

        int fd = test_connect_raw(&t);
        static const char call[] = "{\"method\":\"io.cocoon.VM.Watch\",\"parameters\":{},\"more\":true}";
        test_write_all(fd, call, sizeof(call)); /* with its NUL */
        /* The subscriber reads nothing until the loop is done with every change. */
        if (read_all) {
                size_t size;
                _cleanup_free_ char *all = read_stream_until_final(fd, &size);
                for (size_t i = 0; i < size; i += strlen(all + i) + 1) {
                        messages = realloc(messages, (n + 2) * sizeof(char *));
                        assert_non_null(messages);
                        messages[n++] = strdup(all + i);
                        messages[n] = NULL;
                }
        }
        while (!read_all) {
                char *msg = test_read_message(fd);
                if (!msg)
                        break;
                messages = realloc(messages, (n + 2) * sizeof(char *));
                assert_non_null(messages);
                messages[n++] = msg;
                messages[n] = NULL;
                if (!strstr(msg, "\"continues\":true") || n == 1 + changes)
                        break;
        }
        safe_close(fd);
        test_server_stop(&t);
        vm_events_free_all(&manager);
        vm_free_all(&manager);
        store_free(manager.store);
        test_server_done(&t);
        *ret_messages = messages;
        return (int) n;
}

static void free_messages(char **messages) {
        for (char **p = messages; p && *p; p++)
                free(*p);
        free(messages);
}

static void test_watch_events(void **state) {
        char **messages;
        int n = run_watch(3, false, &messages);

        assert_int_equal(n, 4);
        assert_non_null(strstr(messages[0], "\"event\":\"current\""));
        assert_non_null(strstr(messages[0], "\"state\":\"created\""));
        assert_non_null(strstr(messages[1], "\"event\":\"changed\""));
        assert_non_null(strstr(messages[1], "\"state\":\"error\""));
        assert_non_null(strstr(messages[2], "\"state\":\"running\""));
        for (int i = 0; i < n; i++)
                assert_non_null(strstr(messages[i], "\"continues\":true"));
        free_messages(messages);
}

/* About 1 KiB per event: 16,000 of them are far beyond what the manager holds for a subscriber. */
static void test_watch_slow_subscriber(void **state) {
        char **messages;
        int n = run_watch(16000, true, &messages);

        assert_true(n > 1);
        assert_true(n < 16000);
        /* The call ends, with the declared error, after the events the manager did keep. */
        assert_non_null(strstr(messages[n - 1], "\"error\":\"" VM_ERROR_SUBSCRIBER_TOO_SLOW "\""));
        assert_null(strstr(messages[n - 1], "\"continues\":true"));
        assert_non_null(strstr(messages[n - 2], "\"continues\":true"));
        free_messages(messages);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_watch_events),
                cmocka_unit_test(test_watch_slow_subscriber),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
