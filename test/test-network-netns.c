/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for named network namespaces: names and paths, and running code in a namespace (our own: creating
 * and binding namespaces touches /run/netns of the host; test/integration/test-network-cni.sh does that in
 * the sandbox). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "macro.h"
#include "network-netns.h"

static void test_names(void **state) {
        _cleanup_free_ char *name = NULL, *path = NULL;

        assert_int_equal(netns_name_for_vm("abcdefghijklmnopqrstuvwxyz", &name), 0);
        assert_string_equal(name, "cocoon-abcdefghijklmnopqrstuvwxyz");
        assert_int_equal(netns_path_for_vm("abcdefghijklmnopqrstuvwxyz", &path), 0);
        assert_string_equal(path, "/run/netns/cocoon-abcdefghijklmnopqrstuvwxyz");
        assert_true(netns_name_is_valid("cocoon-a"));
        assert_false(netns_name_is_valid("cocoon-"));
        assert_false(netns_name_is_valid("other-abc"));
        assert_false(netns_name_is_valid("cocoon-../x"));
        assert_false(netns_name_is_valid("cocoon-a/b"));
        assert_false(netns_name_is_valid(NULL));
        char *bad = NULL;
        assert_int_equal(netns_name_for_vm("../etc", &bad), -EINVAL);
        assert_int_equal(netns_name_for_vm("", &bad), -EINVAL);
        assert_null(bad);
        /* What is not ours is never created or removed. */
        assert_int_equal(netns_create("lo"), -EINVAL);
        assert_int_equal(netns_remove("../../etc/passwd"), -EINVAL);
        assert_int_equal(netns_exists("cocoon-nosuchnamespaceintests"), 0);
}

static int report_tid(void *userdata) {
        *(pid_t *) userdata = gettid();
        return 42;
}

static void test_run(void **state) {
        pid_t tid = 0;

        /* Our own namespace: the function runs in another thread, and its result comes back. */
        assert_int_equal(netns_run("/proc/self/ns/net", report_tid, &tid), 42);
        assert_true(tid > 0);
        assert_int_not_equal(tid, gettid());
        assert_int_equal(netns_run("/nonexistent/netns", report_tid, &tid), -ENOENT);
        /* Not a namespace: setns() refuses it. */
        assert_int_equal(netns_run("/dev/null", report_tid, &tid), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_names),
                cmocka_unit_test(test_run),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
