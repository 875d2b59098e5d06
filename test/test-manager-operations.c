/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for the operations list: which methods are operations, what an operation is about, that calls no
 * longer served drop out and a caller going away cancels, and that held operations stay until ended. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "../src/cocoon-manager/manager-operations.h"
#include "json-util.h"
#include "strv-util.h"

static void test_tracked_methods(void **state) {
        assert_true(operation_method_is_tracked("io.cocoon.VM.Stop"));
        assert_true(operation_method_is_tracked("io.cocoon.Image.Import"));
        assert_true(operation_method_is_tracked("io.cocoon.Manager.GarbageCollect"));
        /* Quick calls and streams are not operations. */
        assert_false(operation_method_is_tracked("io.cocoon.VM.List"));
        assert_false(operation_method_is_tracked("io.cocoon.VM.Watch"));
        assert_false(operation_method_is_tracked("io.cocoon.Manager.ListOperations"));
        assert_false(operation_method_is_tracked(NULL));
        assert_true(operation_method_is_tracked("io.cocoon.Snapshot.Export"));
        assert_true(operation_method_is_tracked("io.cocoon.Snapshot.Import"));
}

static void check_targets(const char *method, const char *parameters, const char *vms, const char *image) {
        _cleanup_(json_object_putp) json_object *p = parameters ? json_tokener_parse(parameters) : NULL;
        _cleanup_strv_free_ char **got_vms = NULL;
        _cleanup_free_ char *got_image = NULL, *joined = NULL;

        assert_int_equal(operation_targets_from_parameters(method, p, &got_vms, &got_image), 0);
        joined = got_vms ? strv_join(got_vms, ",") : NULL;
        if (vms)
                assert_string_equal(joined, vms);
        else
                assert_null(got_vms);
        if (image)
                assert_string_equal(got_image, image);
        else
                assert_null(got_image);
}

static void test_targets(void **state) {
        check_targets("io.cocoon.VM.Stop", "{\"refs\":[\"web\",\"db\"],\"force\":true}", "web,db", NULL);
        check_targets("io.cocoon.VM.Create", "{\"name\":\"web\",\"image\":\"debian\"}", "web", "debian");
        check_targets("io.cocoon.VM.Create", "{\"image\":\"debian\"}", NULL, "debian");
        check_targets("io.cocoon.Image.Import", "{\"name\":\"debian\",\"kernelFileDescriptor\":0}", NULL,
                      "debian");
        check_targets("io.cocoon.Manager.GarbageCollect", NULL, NULL, NULL);
        /* Hostile shapes are skipped, not trusted. */
        check_targets("io.cocoon.VM.Stop", "{\"refs\":[1,\"a\",null]}", "a", NULL);
        check_targets("io.cocoon.VM.Stop", "{\"refs\":\"web\"}", NULL, NULL);
        check_targets("io.cocoon.Image.Import", "{\"name\":7}", NULL, NULL);
}

/* A link that serves no call (a client's end): its operation counts as answered. */
static void test_finished_and_gone(void **state) {
        _cleanup_(operations_freep) Operations *ops = NULL;
        _cleanup_(varlink_unrefp) Varlink *a = NULL, *b = NULL;
        _cleanup_(json_object_putp) json_object *list = NULL;
        OperationProgress progress = {};
        int fds[2];

        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
        assert_int_equal(varlink_connect_fd(&a, fds[0]), 0);
        assert_int_equal(varlink_connect_fd(&b, fds[1]), 0);
        assert_int_equal(operations_new(&ops), 0);

        assert_int_equal(operations_begin(ops, a, "io.cocoon.Image.Import", NULL, 0), 0);
        assert_int_equal(operations_attach_progress(ops, a, &progress), 0);
        assert_int_equal(operations_attach_progress(ops, b, &progress), -ENOENT);
        assert_int_equal(operations_link_gone(ops, b), 0);
        assert_false(progress.cancelled);
        assert_int_equal(operations_link_gone(ops, a), 1);
        assert_true(progress.cancelled);

        assert_int_equal(operations_begin(ops, b, "io.cocoon.VM.Stop", NULL, 0), 0);
        operations_detach_progress(ops, &progress);
        assert_int_equal(operations_count(ops), 0);
        assert_int_equal(operations_to_json(ops, &list), 0);
        assert_string_equal(json_object_to_json_string_ext(list, JSON_C_TO_STRING_PLAIN),
                            "{\"operations\":[]}");
}

/* A held operation (a VM operation's handler holds it) outlives its caller: listed as detached until its
 * handler ends it, and only then gone; an unheld one on the same link goes with the link. */
static void test_held_outlives_caller(void **state) {
        _cleanup_(operations_freep) Operations *ops = NULL;
        _cleanup_(varlink_unrefp) Varlink *a = NULL, *b = NULL;
        _cleanup_(json_object_putp) json_object *list = NULL;
        json_object *array, *op, *v;
        uint64_t id;
        int fds[2];

        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
        assert_int_equal(varlink_connect_fd(&a, fds[0]), 0);
        assert_int_equal(varlink_connect_fd(&b, fds[1]), 0);
        assert_int_equal(operations_new(&ops), 0);

        assert_int_equal(operations_hold(ops, a), 0); /* nothing recorded on a yet */
        assert_int_equal(operations_begin(ops, a, "io.cocoon.VM.Stop", NULL, 0), 0);
        id = operations_hold(ops, a);
        assert_true(id > 0);
        /* a serves no call (a client's end): an unheld operation would count as answered, a held one not. */
        assert_int_equal(operations_count(ops), 1);
        assert_int_equal(operations_begin(ops, b, "io.cocoon.Manager.GarbageCollect", NULL, 0), 0);
        assert_int_equal(operations_count(ops), 1);

        assert_int_equal(operations_link_gone(ops, a), 1);
        assert_int_equal(operations_count(ops), 1);
        assert_int_equal(operations_hold(ops, a), 0); /* no longer on a */
        assert_int_equal(operations_to_json(ops, &list), 0);
        assert_true(json_object_object_get_ex(list, "operations", &array));
        assert_int_equal(json_object_array_length(array), 1);
        op = json_object_array_get_idx(array, 0);
        assert_true(json_object_object_get_ex(op, "id", &v));
        assert_int_equal(json_object_get_int64(v), id);
        assert_true(json_object_object_get_ex(op, "detached", &v));
        assert_true(json_object_get_boolean(v));

        operations_end(ops, id + 100); /* unknown: nothing */
        operations_end(ops, 0);
        operations_end(NULL, id);      /* the manager is freed */
        assert_int_equal(operations_count(ops), 1);
        operations_end(ops, id);
        assert_int_equal(operations_count(ops), 0);
        operations_end(ops, id); /* twice: nothing */
}

/* A held operation whose caller stays is listed as not detached; left held at exit, the list frees it. */
static void test_held_not_detached(void **state) {
        _cleanup_(operations_freep) Operations *ops = NULL;
        _cleanup_(varlink_unrefp) Varlink *a = NULL, *b = NULL;
        _cleanup_(json_object_putp) json_object *list = NULL;
        json_object *array, *v;
        int fds[2];

        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
        assert_int_equal(varlink_connect_fd(&a, fds[0]), 0);
        assert_int_equal(varlink_connect_fd(&b, fds[1]), 0);
        assert_int_equal(operations_new(&ops), 0);
        assert_int_equal(operations_begin(ops, a, "io.cocoon.VM.Restart", NULL, 0), 0);
        assert_true(operations_hold(ops, a) > 0);
        assert_int_equal(operations_link_gone(ops, b), 0);
        assert_int_equal(operations_to_json(ops, &list), 0);
        assert_true(json_object_object_get_ex(list, "operations", &array));
        assert_int_equal(json_object_array_length(array), 1);
        assert_true(json_object_object_get_ex(json_object_array_get_idx(array, 0), "detached", &v));
        assert_false(json_object_get_boolean(v));
}

/* Export and Import: held past the upgrade, whose close of the Varlink connection looks like the caller
 * going away; operations_upgraded() says it did not. The snapshot is listed as named. */
static void test_upgraded(void **state) {
        _cleanup_(operations_freep) Operations *ops = NULL;
        _cleanup_(varlink_unrefp) Varlink *a = NULL, *b = NULL;
        _cleanup_(json_object_putp) json_object *list = NULL,
                                                *p = json_tokener_parse("{\"snapshot\":\"s1\"}");
        json_object *array, *op, *v;
        OperationProgress progress = {};
        int fds[2];

        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
        assert_int_equal(varlink_connect_fd(&a, fds[0]), 0);
        assert_int_equal(varlink_connect_fd(&b, fds[1]), 0);
        assert_int_equal(operations_new(&ops), 0);
        assert_int_equal(operations_begin(ops, a, "io.cocoon.Snapshot.Export", p, 0), 0);
        uint64_t id = operations_hold(ops, a);
        assert_true(id > 0);
        assert_int_equal(operations_attach_progress(ops, a, &progress), 0);
        progress.done = 4096;
        progress.total = 8192;
        assert_int_equal(operations_link_gone(ops, a), 1);
        operations_upgraded(ops, id);
        operations_upgraded(ops, id + 100); /* unknown: nothing */
        operations_upgraded(NULL, id);
        assert_int_equal(operations_to_json(ops, &list), 0);
        assert_true(json_object_object_get_ex(list, "operations", &array));
        assert_int_equal(json_object_array_length(array), 1);
        op = json_object_array_get_idx(array, 0);
        assert_true(json_object_object_get_ex(op, "detached", &v));
        assert_false(json_object_get_boolean(v));
        assert_true(json_object_object_get_ex(op, "snapshot", &v));
        assert_string_equal(json_object_get_string(v), "s1");
        assert_true(json_object_object_get_ex(op, "bytesDone", &v));
        assert_int_equal(json_object_get_int64(v), 4096);
        assert_true(json_object_object_get_ex(op, "bytesTotal", &v));
        assert_int_equal(json_object_get_int64(v), 8192);
        operations_detach_progress(ops, &progress);
        operations_end(ops, id);
        assert_int_equal(operations_count(ops), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_tracked_methods),
                cmocka_unit_test(test_targets),
                cmocka_unit_test(test_finished_and_gone),
                cmocka_unit_test(test_held_outlives_caller),
                cmocka_unit_test(test_held_not_detached),
                cmocka_unit_test(test_upgraded),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
