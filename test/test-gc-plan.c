/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for gc-plan: which VM directories and creating records garbage collection removes or keeps. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "../src/cocoon-manager/gc-plan.h"
#include "fs-util.h"
#include "helpers.h"
#include "macro.h"
#include "store.h"
#include "strv-util.h"

#define NOW UINT64_C(1795876141123456)
#define HOUR_USEC (UINT64_C(3600) * USEC_PER_SEC)

/* Ids that name nothing else in the test: each letter is one role. */
#define ID_ORPHAN "oooooooooooooooooooooooooo"
#define ID_KNOWN "kkkkkkkkkkkkkkkkkkkkkkkkkk"
#define ID_QUARANTINED "qqqqqqqqqqqqqqqqqqqqqqqqqq"
#define ID_BUSY_ORPHAN "bbbbbbbbbbbbbbbbbbbbbbbbbb"
#define ID_OLD "aaaaaaaaaaaaaaaaaaaaaaaaaa"
#define ID_YOUNG "yyyyyyyyyyyyyyyyyyyyyyyyyy"
#define ID_OLD_BUSY "cccccccccccccccccccccccccc"
#define ID_AT_GRACE "gggggggggggggggggggggggggg"
#define ID_OLD_STOPPED "ssssssssssssssssssssssssss"

typedef struct Fixture {
        char tmp[64];
        char *state_dir;
        Store *store;
        char **busy;
} Fixture;

static void put_record(Fixture *f, const char *id, VMState state, uint64_t updated_at) {
        VMRecord *r;

        assert_int_equal(vm_record_new(&r), 0);
        r->vm.id = strdup(id);
        r->vm.name = strdup(id); /* a valid, unique name */
        r->vm.backend = strdup("qemu");
        r->vm.state = state;
        r->vm.config.cpu = 1;
        r->vm.config.memory = 128 << 20;
        r->vm.created_at = r->vm.updated_at = updated_at;
        assert_true(asprintf(&r->run_dir, "/run/then/vms/%s", id) > 0);
        assert_true(asprintf(&r->log_dir, "/log/then/vms/%s", id) > 0);
        assert_non_null(r->vm.id);
        assert_non_null(r->vm.name);
        assert_non_null(r->vm.backend);
        assert_int_equal(store_put(f->store, r), 0);
        vm_record_free(r);
}

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));
        _cleanup_free_ char *dir = NULL, *bad = NULL;

        assert_non_null(f);
        strcpy(f->tmp, "/tmp/test-gc-plan-XXXXXX");
        assert_non_null(mkdtemp(f->tmp));
        assert_true(asprintf(&f->state_dir, "%s/state", f->tmp) > 0);

        /* A record that does not parse: the store quarantines it when it opens. */
        assert_true(asprintf(&dir, "%s/vms/" ID_QUARANTINED, f->state_dir) > 0);
        assert_int_equal(mkdir_p(dir, 0700), 0);
        assert_true(asprintf(&bad, "%s/" STORE_RECORD_FILE, dir) > 0);
        assert_int_equal(write_file_atomic_at(AT_FDCWD, bad, "{\"id\": \"q", 9, 0600), 0);

        assert_int_equal(store_open(f->state_dir, &f->store), 0);
        assert_true(store_is_quarantined(f->store, ID_QUARANTINED));

        put_record(f, ID_KNOWN, VM_STATE_STOPPED, NOW - 48 * HOUR_USEC);
        put_record(f, ID_OLD, VM_STATE_CREATING, NOW - 25 * HOUR_USEC);
        put_record(f, ID_YOUNG, VM_STATE_CREATING, NOW - 1 * HOUR_USEC);
        put_record(f, ID_OLD_BUSY, VM_STATE_CREATING, NOW - 25 * HOUR_USEC);
        put_record(f, ID_AT_GRACE, VM_STATE_CREATING, NOW - CREATING_STATE_GC_GRACE_USEC);
        put_record(f, ID_OLD_STOPPED, VM_STATE_STOPPED, NOW - 25 * HOUR_USEC);

        assert_int_equal(strv_extend(&f->busy, ID_BUSY_ORPHAN), 0);
        assert_int_equal(strv_extend(&f->busy, ID_OLD_BUSY), 0);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        store_free(f->store);
        assert_int_equal(rm_rf(f->tmp), 0);
        strv_free(f->busy);
        free(f->state_dir);
        free(f);
        return 0;
}

static bool busy_in_list(const char *id, void *userdata) {
        Fixture *f = userdata;
        return strv_contains(f->busy, id);
}

static char *join(const char *a, const char *b) {
        char *p;
        assert_true(asprintf(&p, "%s/%s", a, b) > 0);
        return p;
}

static void test_orphans(void **state) {
        Fixture *f = *state;
        char *run_names[] = {ID_ORPHAN,   ID_KNOWN, ID_QUARANTINED, ID_BUSY_ORPHAN,
                             "not-an-id", "lock",   ID_ORPHAN "x",  NULL};
        char *log_names[] = {ID_ORPHAN, NULL};
        const GcListing listings[] = {
                {.dir = "/run/cocoon/vms", .names = run_names},
                {.dir = "/var/log/cocoon/vms", .names = NULL}, /* a missing directory */
                {.dir = "/var/log/elsewhere/vms", .names = log_names},
        };
        _cleanup_free_ char *old_state = join(f->state_dir, "vms/" ID_OLD);
        GcPlan plan;

        assert_int_equal(gc_plan(f->store, listings, ELEMENTSOF(listings), NOW, busy_in_list, f, &plan), 0);

        /* Orphans of every listing in order, then the stale creating record's own three directories. */
        const char *expected[] = {
                "/run/cocoon/vms/" ID_ORPHAN,
                "/var/log/elsewhere/vms/" ID_ORPHAN,
                old_state,
                "/run/then/vms/" ID_OLD,
                "/log/then/vms/" ID_OLD,
        };
        assert_int_equal(strv_length(plan.dirs), ELEMENTSOF(expected));
        for (size_t i = 0; i < ELEMENTSOF(expected); i++)
                assert_string_equal(plan.dirs[i], expected[i]);

        /* Only the creating record past the grace period, not busy, goes: not the young one, not the one
         * exactly at the grace period, not the busy one, not an old record in another state. */
        assert_int_equal(strv_length(plan.records), 1);
        assert_string_equal(plan.records[0], ID_OLD);
        gc_plan_done(&plan);
        assert_null(plan.dirs);
        assert_null(plan.records);
}

/* Busy ids are only known through the predicate: without one the busy orphan and busy creating record go. */
static void test_without_busy_predicate(void **state) {
        Fixture *f = *state;
        char *names[] = {ID_BUSY_ORPHAN, ID_KNOWN, NULL};
        const GcListing listing = {.dir = "/r/vms", .names = names};
        GcPlan plan;

        assert_int_equal(gc_plan(f->store, &listing, 1, NOW, NULL, NULL, &plan), 0);
        assert_true(strv_contains(plan.dirs, "/r/vms/" ID_BUSY_ORPHAN));
        assert_false(strv_contains(plan.dirs, "/r/vms/" ID_KNOWN));
        assert_int_equal(strv_length(plan.records), 2);
        assert_true(strv_contains(plan.records, ID_OLD));
        assert_true(strv_contains(plan.records, ID_OLD_BUSY));
        gc_plan_done(&plan);
}

/* Time moves the decision: a day later the young record and the one at the grace period are stale too. */
static void test_grace_period(void **state) {
        Fixture *f = *state;
        GcPlan plan;

        assert_int_equal(gc_plan(f->store, NULL, 0, NOW + 24 * HOUR_USEC, busy_in_list, f, &plan), 0);
        assert_int_equal(strv_length(plan.records), 3);
        assert_true(strv_contains(plan.records, ID_OLD));
        assert_true(strv_contains(plan.records, ID_YOUNG));
        assert_true(strv_contains(plan.records, ID_AT_GRACE));
        assert_int_equal(strv_length(plan.dirs), 9);
        gc_plan_done(&plan);

        /* Nothing is stale before its time. */
        assert_int_equal(gc_plan(f->store, NULL, 0, NOW - 24 * HOUR_USEC, busy_in_list, f, &plan), 0);
        assert_null(plan.records);
        assert_null(plan.dirs);
}

/* TAPs (issue 9): "cocoon" + 8 characters of an id + a digit; kept unless no record has the prefix or its
 * one VM has no use for them and no operation in flight. */
static void test_links(void **state) {
        Fixture *f = *state;
        put_record(f, "rrrrrrrrrrrrrrrrrrrrrrrrrr", VM_STATE_RUNNING, NOW);
        put_record(f, "eeeeeeeeeeeeeeeeeeeeeeeeee", VM_STATE_ERROR, NOW);
        put_record(f, "dddddddddddddddddddddddddd", VM_STATE_CREATED, NOW);
        put_record(f, "tttttttttttttttttttttttttt", VM_STATE_STOPPED, NOW);
        put_record(f, "mmmmmmmmaaaaaaaaaaaaaaaaaa", VM_STATE_STOPPED, NOW);
        put_record(f, "mmmmmmmmbbbbbbbbbbbbbbbbbb", VM_STATE_STOPPED, NOW);
        assert_int_equal(strv_extend(&f->busy, "tttttttttttttttttttttttttt"), 0);
        char *links[] = {
                "cocoonzzzzzzzz0", /* no record: an orphan */
                "cocoonzzzzzzzz0", /* listed once */
                "cocoonzzzzzzzz9",
                "cocoonkkkkkkkk0", /* stopped, idle: through its queue */
                "cocoonkkkkkkkk7", /* an index the record no longer has: the same */
                "cocoonssssssss1", /* stopped */
                "cocooneeeeeeee0", /* error */
                "cocoondddddddd0", /* created */
                "cocoonrrrrrrrr0", /* running: kept */
                "cocoontttttttt0", /* stopped but busy (a start queued): kept */
                "cocoonaaaaaaaa0", /* creating: kept */
                "cocoonqqqqqqqq0", /* a record that failed to load: kept */
                "cocoonmmmmmmmm0", /* two VMs begin so: whose it is cannot be told, kept */
                "cocoonzzzzzzzz",  /* not our names: ignored */
                "cocoonzzzzzzzzz0",
                "cocoonZZZZZZZZ0",
                "cocoon1zzzzzzz0",
                "cocoonzzzzzzzzx",
                "tap0",
                "xcocoonzzzzzzz0",
                NULL,
        };
        GcLinkPlan plan;

        assert_int_equal(gc_plan_links(f->store, links, busy_in_list, f, &plan), 0);
        assert_int_equal(strv_length(plan.orphans), 2);
        assert_string_equal(plan.orphans[0], "cocoonzzzzzzzz0");
        assert_string_equal(plan.orphans[1], "cocoonzzzzzzzz9");
        const char *expected[][2] = {
                { ID_KNOWN, "cocoonkkkkkkkk0" },
                { ID_KNOWN, "cocoonkkkkkkkk7" },
                { ID_OLD_STOPPED, "cocoonssssssss1" },
                { "eeeeeeeeeeeeeeeeeeeeeeeeee", "cocooneeeeeeee0" },
                { "dddddddddddddddddddddddddd", "cocoondddddddd0" },
        };
        assert_int_equal(strv_length(plan.vm_ids), ELEMENTSOF(expected));
        assert_int_equal(strv_length(plan.vm_links), ELEMENTSOF(expected));
        for (size_t i = 0; i < ELEMENTSOF(expected); i++) {
                assert_string_equal(plan.vm_ids[i], expected[i][0]);
                assert_string_equal(plan.vm_links[i], expected[i][1]);
        }
        gc_link_plan_done(&plan);
        assert_null(plan.orphans);
        assert_null(plan.vm_ids);

        /* Without the busy predicate the stopped VM's TAP goes too; nothing at all is fine. */
        assert_int_equal(gc_plan_links(f->store, links, NULL, NULL, &plan), 0);
        assert_true(strv_contains(plan.vm_links, "cocoontttttttt0"));
        gc_link_plan_done(&plan);
        assert_int_equal(gc_plan_links(f->store, NULL, NULL, NULL, &plan), 0);
        assert_null(plan.orphans);
        assert_null(plan.vm_links);
}

/* The rule a queued TAP removal checks again when its turn comes (vm-task.c). */
static void test_taps_unused(void **state) {
        static const bool unused[_VM_STATE_MAX] = {
                [VM_STATE_CREATED] = true,
                [VM_STATE_STOPPED] = true,
                [VM_STATE_ERROR] = true,
        };
        for (VMState s = 0; s < _VM_STATE_MAX; s++)
                assert_int_equal(vm_state_taps_unused(s), unused[s]);
        assert_true(gc_link_name_is_ours("cocoonabcdefgh0"));
        assert_true(gc_link_name_is_ours("cocoon234567ab9"));
        assert_false(gc_link_name_is_ours("cocoonabcdefgh"));
        assert_false(gc_link_name_is_ours("cocoonabcdefg80"));
        assert_false(gc_link_name_is_ours(NULL));
}

/* Namespaces and leases: the ids of no VM, each once; never a record's, a quarantined or a busy one's. */
static void test_network(void **state) {
        Fixture *f = *state;
        char *ids[] = {ID_ORPHAN, ID_KNOWN, ID_QUARANTINED, ID_BUSY_ORPHAN, ID_ORPHAN, "not-an-id", ID_YOUNG,
                       NULL};
        _cleanup_strv_free_ char **orphans = NULL;

        assert_int_equal(gc_plan_network(f->store, ids, busy_in_list, f, &orphans), 0);
        assert_int_equal(strv_length(orphans), 1);
        assert_string_equal(orphans[0], ID_ORPHAN);
        orphans = strv_free(orphans);
        assert_int_equal(gc_plan_network(f->store, NULL, busy_in_list, f, &orphans), 0);
        assert_null(orphans);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_network, setup, teardown),
                cmocka_unit_test_setup_teardown(test_orphans, setup, teardown),
                cmocka_unit_test_setup_teardown(test_without_busy_predicate, setup, teardown),
                cmocka_unit_test_setup_teardown(test_grace_period, setup, teardown),
                cmocka_unit_test_setup_teardown(test_links, setup, teardown),
                cmocka_unit_test(test_taps_unused),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
