/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for cocoonctl's Ctrl-C during a long call: what the message calls the operation, and that SIGINT
 * ends the connection, is remembered and gets its old action back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "../src/cocoonctl/ctl-interrupt.h"
#include "json-util.h"

static void check_describe(const char *method, const char *parameters, const char *expected) {
        _cleanup_(json_object_putp) json_object *p = parameters ? json_tokener_parse(parameters) : NULL;
        char buf[CTL_INTERRUPT_DESCRIBE_MAX];

        assert_true(!parameters || p);
        assert_string_equal(ctl_interrupt_describe(method, p, buf), expected);
}

static void test_describe(void **state) {
        check_describe("io.cocoon.VM.Stop", "{\"refs\":[\"web\"],\"timeoutSec\":60}", "vm stop of web");
        check_describe("io.cocoon.VM.Delete", "{\"refs\":[\"web\",\"db\"],\"force\":true}", "vm rm of web, db");
        check_describe("io.cocoon.VM.Restart", "{\"refs\":[\"web\"]}", "vm restart of web");
        check_describe("io.cocoon.VM.Start", "{\"refs\":[\"a\"]}", "vm start of a");
        check_describe("io.cocoon.VM.Create", "{\"name\":\"web\",\"image\":\"guest\",\"start\":true}",
                       "vm run of web");
        check_describe("io.cocoon.VM.Create", "{\"name\":\"web\",\"image\":\"guest\",\"start\":false}",
                       "vm create of web");
        check_describe("io.cocoon.VM.Create", "{\"image\":\"guest\"}", "vm create from image guest");
        check_describe("io.cocoon.VM.Create", NULL, "vm create");
        check_describe("io.cocoon.Manager.GarbageCollect", NULL, "gc");
        check_describe("io.example.Other", "{}", "io.example.Other");
        /* What is not a reference is skipped, not printed. */
        check_describe("io.cocoon.VM.Stop", "{\"refs\":[1,\"web\",null]}", "vm stop of web");
        check_describe("io.cocoon.VM.Stop", "{\"refs\":\"web\"}", "vm stop");
}

/* Many references are cut at the buffer's end, NUL-terminated. */
static void test_describe_long(void **state) {
        _cleanup_(json_object_putp) json_object *p = json_object_new_object(), *refs = json_object_new_array();
        char buf[CTL_INTERRUPT_DESCRIBE_MAX], name[65];

        memset(name, 'x', sizeof(name) - 1);
        name[sizeof(name) - 1] = '\0';
        for (int i = 0; i < 64; i++)
                assert_int_equal(json_object_array_add(refs, json_object_new_string(name)), 0);
        assert_int_equal(json_add_object(p, "refs", json_object_get(refs)), 0);
        ctl_interrupt_describe("io.cocoon.VM.Stop", p, buf);
        assert_int_equal(strlen(buf), CTL_INTERRUPT_DESCRIBE_MAX - 1);
        assert_memory_equal(buf, "vm stop of xxx", 14);
}

/* SIGINT while caught: the connection ends (the peer reads EOF), nothing dies, the old action comes back. */
static void test_catch(void **state) {
        _cleanup_(varlink_unrefp) Varlink *a = NULL;
        struct sigaction ignore = { .sa_handler = SIG_IGN }, old, now;
        CtlInterrupt c, none = {};
        int fds[2];
        char byte;

        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
        assert_int_equal(varlink_connect_fd(&a, fds[0]), 0);
        assert_int_equal(sigaction(SIGINT, &ignore, &old), 0);

        assert_false(ctl_interrupt_release(&none));
        assert_int_equal(ctl_interrupt_catch(a, &c), 0);
        assert_true(c.old.sa_handler == SIG_IGN);
        assert_int_equal(raise(SIGINT), 0);
        assert_int_equal(recv(fds[1], &byte, 1, MSG_DONTWAIT), 0); /* EOF: shut down */
        assert_true(ctl_interrupt_release(&c));
        assert_false(ctl_interrupt_release(&c)); /* once */
        assert_int_equal(sigaction(SIGINT, NULL, &now), 0);
        assert_true(now.sa_handler == SIG_IGN);

        /* A call without Ctrl-C: not interrupted. */
        assert_int_equal(ctl_interrupt_catch(a, &c), 0);
        assert_false(ctl_interrupt_release(&c));

        assert_int_equal(sigaction(SIGINT, &old, NULL), 0);
        close(fds[1]);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_describe),
                cmocka_unit_test(test_describe_long),
                cmocka_unit_test(test_catch),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
