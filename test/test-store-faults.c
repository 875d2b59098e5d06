/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The store under injected I/O faults (test/fault/fault-inject.c, linked in: its write(), fsync() and
 * rename() take the place of libc's): whatever fails, vm.json is the old record or the new one, never a
 * mix, no temporary file stays, and the in-memory record is the one on disk, also after a reopen. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "fault/fault-inject.h"
#include "fs-util.h"
#include "id.h"
#include "json-util.h"
#include "macro.h"
#include "store.h"

typedef struct Fixture {
        char tmp[64];
        char *state_dir;
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));
        assert_non_null(f);
        strcpy(f->tmp, "/tmp/test-store-faults-XXXXXX");
        assert_non_null(mkdtemp(f->tmp));
        assert_true(asprintf(&f->state_dir, "%s/state", f->tmp) > 0);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        assert_int_equal(unsetenv("COCOON_FAULT"), 0);
        assert_int_equal(rm_rf(f->tmp), 0);
        free(f->state_dir);
        free(f);
        return 0;
}

static VMRecord *new_record(const char *name, VMState state) {
        char id[ID_LENGTH + 1];
        VMRecord *r;

        assert_int_equal(id_generate(id), 0);
        assert_int_equal(vm_record_new(&r), 0);
        r->vm.id = strdup(id);
        r->vm.name = strdup(name);
        r->vm.backend = strdup("qemu");
        r->vm.state = state;
        r->vm.config.cpu = 1;
        r->vm.config.memory = 128 << 20;
        r->vm.created_at = r->vm.updated_at = 1795876141123456;
        assert_non_null(r->vm.id);
        assert_non_null(r->vm.name);
        assert_non_null(r->vm.backend);
        return r;
}

/* The record in vms/<id>/vm.json, or NULL when there is none; fails the test on a file that does not
 * parse (a mix of two writes). */
static VMRecord *disk_record(const Fixture *f, const char *id) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_free_ char *path = NULL, *text = NULL;
        VMRecord *r = NULL;
        size_t size;

        assert_true(asprintf(&path, "%s/vms/%s/vm.json", f->state_dir, id) > 0);
        int k = read_full_file(path, &text, &size);
        if (k == -ENOENT)
                return NULL;
        assert_int_equal(k, 0);
        assert_int_equal(json_parse(text, size, &o), 0);
        assert_int_equal(vm_record_from_json(o, &r, NULL), 0);
        return r;
}

/* Entries of vms/<id>/ other than vm.json (temporary files left behind), or -1 if there is no directory. */
static int stray_entries(const Fixture *f, const char *id) {
        _cleanup_free_ char *path = NULL;
        struct dirent *de;
        int n = 0;

        assert_true(asprintf(&path, "%s/vms/%s", f->state_dir, id) > 0);
        DIR *d = opendir(path);
        if (!d)
                return -1;
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, "..") && !streq(de->d_name, "vm.json"))
                        n++;
        closedir(d);
        return n;
}

static bool records_equal(const VMRecord *a, const VMRecord *b) {
        if (!a || !b)
                return !a && !b;
        return vm_record_equal(a, b);
}

/* Runs store_put(next) over the record old (NULL: a new record) with COCOON_FAULT=rule, then checks the
 * promise; returns store_put()'s result. */
static int put_with_fault(Fixture *f, Store **s, const VMRecord *old, const VMRecord *next, const char *rule) {
        _cleanup_(vm_record_freep) VMRecord *on_disk = NULL, *after_reopen = NULL;
        unsigned before = fault_inject_count();

        assert_int_equal(setenv("COCOON_FAULT", rule, 1), 0);
        int k = store_put(*s, next);
        assert_int_equal(unsetenv("COCOON_FAULT"), 0);
        /* Each rule hits a call store_put() makes: a rule that misses proves nothing. */
        if (fault_inject_count() == before)
                fail_msg("rule %s injected nothing", rule);

        const VMRecord *in_memory = store_get(*s, next->vm.id);
        on_disk = disk_record(f, next->vm.id);
        if (!records_equal(in_memory, on_disk))
                fail_msg("rule %s (store_put: %d): the in-memory record is not the one on disk", rule, k);
        if (!records_equal(on_disk, old) && !records_equal(on_disk, next))
                fail_msg("rule %s: the record on disk is neither the old nor the new one", rule);
        if (k == 0 && !records_equal(in_memory, next))
                fail_msg("rule %s: store_put succeeded but the new record is not in the store", rule);
        if (k < 0 && !records_equal(in_memory, old))
                fail_msg("rule %s: store_put failed (%d) but the store changed", rule, k);
        assert_true(stray_entries(f, next->vm.id) <= 0);
        if (!old && !on_disk) /* a new record that failed leaves no directory */
                assert_int_equal(stray_entries(f, next->vm.id), -1);

        /* A manager started now sees what this one served. */
        *s = store_free(*s);
        assert_int_equal(store_open(f->state_dir, s), 0);
        assert_true(records_equal(store_get(*s, next->vm.id), on_disk));
        assert_int_equal(store_corrupt_count(*s), 0);
        return k;
}

typedef struct FaultCase {
        const char *rule; /* "%s" is the VM's directory */
        int expect;       /* store_put()'s result */
} FaultCase;

/* The faults on every call an update makes: the temporary file's writes and fsync, the rename over
 * vm.json, the fsync of the directory that makes the rename durable. */
static const FaultCase update_cases[] = {
        { "write:%s/.#vm.json.*:1:ENOSPC", -ENOSPC },
        { "write:%s/.#vm.json.*:1:EDQUOT", -EDQUOT },
        { "short:%s/.#vm.json.*:1+", 0 }, /* every write short: the writer loops */
        { "short:%s/.#vm.json.*:1;write:%s/.#vm.json.*:2:ENOSPC", -ENOSPC }, /* half written, then full */
        { "fsync:%s/.#vm.json.*:1:EIO", -EIO },
        { "rename:%s/vm.json:1:EIO", -EIO },
        { "rename:%s/vm.json:1:EROFS", -EROFS },
        /* The new record is in place and the file itself synced: the store serves what is on disk. */
        { "fsync:%s:1:EIO", 0 },
};

/* The rule with every "%s" replaced by dir. */
static char *format_rule(const char *fmt, const char *dir) {
        char *p = strdup(fmt), *at;

        assert_non_null(p);
        while ((at = strstr(p, "%s"))) {
                char *q;
                assert_true(asprintf(&q, "%.*s%s%s", (int) (at - p), p, dir, at + 2) > 0);
                free(p);
                p = q;
        }
        return p;
}

static void test_update_faults(void **state) {
        Fixture *f = *state;
        _cleanup_(store_freep) Store *s = NULL;
        _cleanup_(vm_record_freep) VMRecord *a = new_record("alpha", VM_STATE_CREATED), *next = NULL;
        _cleanup_free_ char *dir = NULL;

        assert_int_equal(store_open(f->state_dir, &s), 0);
        assert_int_equal(store_put(s, a), 0);
        assert_int_equal(store_vm_dir(s, a->vm.id, &dir), 0);

        for (size_t i = 0; i < ELEMENTSOF(update_cases); i++) {
                _cleanup_free_ char *rule = format_rule(update_cases[i].rule, dir);
                _cleanup_(vm_record_freep) VMRecord *old = NULL;

                assert_int_equal(vm_record_copy(store_get(s, a->vm.id), &old), 0);
                assert_int_equal(vm_record_copy(old, &next), 0);
                next->vm.state = old->vm.state == VM_STATE_RUNNING ? VM_STATE_STOPPED : VM_STATE_RUNNING;
                next->vm.updated_at = old->vm.updated_at + 1;

                int k = put_with_fault(f, &s, old, next, rule);
                if (k != update_cases[i].expect)
                        fail_msg("rule %s: store_put returned %d, expected %d", rule, k,
                                 update_cases[i].expect);
                next = vm_record_free(next);
        }
}

/* A new record: the faults above and the fsync of vms/ after its directory is made. Failed, it leaves
 * nothing; the name stays free. */
static void test_create_faults(void **state) {
        static const FaultCase cases[] = {
                { "fsync:%s/vms:1:EIO", -EIO },
                { "write:%s/vms/*/.#vm.json.*:1:ENOSPC", -ENOSPC },
                { "short:%s/vms/*/.#vm.json.*:1;write:%s/vms/*/.#vm.json.*:2:ENOSPC", -ENOSPC },
                { "fsync:%s/vms/*/.#vm.json.*:1:EIO", -EIO },
                { "rename:%s/vms/*/vm.json:1:ENOSPC", -ENOSPC },
        };
        Fixture *f = *state;
        _cleanup_(store_freep) Store *s = NULL;

        assert_int_equal(store_open(f->state_dir, &s), 0);
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *rule = format_rule(cases[i].rule, f->state_dir);
                _cleanup_(vm_record_freep) VMRecord *r = new_record("beta", VM_STATE_CREATING);

                int k = put_with_fault(f, &s, NULL, r, rule);
                if (k != cases[i].expect)
                        fail_msg("rule %s: store_put returned %d, expected %d", rule, k, cases[i].expect);
                assert_null(store_get_by_name(s, "beta"));
        }
        assert_int_equal(store_count(s), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_update_faults, setup, teardown),
                cmocka_unit_test_setup_teardown(test_create_faults, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
