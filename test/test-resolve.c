/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for resolve: id before name before unique prefix, ambiguity with candidates, batch resolution. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "fs-util.h"
#include "macro.h"
#include "resolve.h"
#include "strv-util.h"

#define ID_1 "abcaaaaaaaaaaaaaaaaaaaaaaa"
#define ID_2 "abdaaaaaaaaaaaaaaaaaaaaaaa"
#define ID_3 "abdbbbbbbbbbbbbbbbbbbbbbbb"
#define ID_4 "zzzzzzzzzzzzzzzzzzzzzzzzzz"
#define ID_GONE "qqqqqqqqqqqqqqqqqqqqqqqqqq"

typedef struct Maps {
        Hashmap *ids, *names;
} Maps;

static int setup(void **state) {
        Maps *m = calloc(1, sizeof(Maps));
        static int dummy;

        assert_non_null(m);
        assert_int_equal(hashmap_new(&m->ids), 0);
        assert_int_equal(hashmap_new(&m->names), 0);
        const char *ids[] = {ID_1, ID_2, ID_3, ID_4};
        for (size_t i = 0; i < ELEMENTSOF(ids); i++)
                assert_int_equal(hashmap_put(m->ids, ids[i], &dummy), 0);
        assert_int_equal(hashmap_put(m->names, "web", (void *) ID_2), 0);
        /* A VM named like another VM's id. */
        assert_int_equal(hashmap_put(m->names, ID_1, (void *) ID_4), 0);
        /* A name that looks like an id prefix. */
        assert_int_equal(hashmap_put(m->names, "abd", (void *) ID_4), 0);
        /* A name whose VM is gone. */
        assert_int_equal(hashmap_put(m->names, "ghost", (void *) ID_GONE), 0);
        *state = m;
        return 0;
}

static int teardown(void **state) {
        Maps *m = *state;
        hashmap_free(m->ids);
        hashmap_free(m->names);
        free(m);
        return 0;
}

static void expect(const Maps *m, const char *ref, int want_r, const char *want_id) {
        const char *id = "untouched";
        char **candidates = NULL;

        assert_int_equal(resolve_ref(m->ids, m->names, ref, &id, &candidates), want_r);
        if (want_r == 0)
                assert_string_equal(id, want_id);
        else
                assert_string_equal(id, "untouched");
        if (want_r != -ENOTUNIQ)
                assert_null(candidates);
        strv_free(candidates);
}

static void test_order(void **state) {
        Maps *m = *state;

        /* Exact id wins over a name that equals it. */
        expect(m, ID_1, 0, ID_1);
        /* Exact name. */
        expect(m, "web", 0, ID_2);
        /* An exact name wins over an ambiguous prefix. */
        expect(m, "abd", 0, ID_4);
        /* Unique prefix. */
        expect(m, "abc", 0, ID_1);
        expect(m, "abdb", 0, ID_3);
        expect(m, "zzz", 0, ID_4);
        expect(m, ID_3, 0, ID_3);
        /* The resolved id is the map's own key, valid as long as the entry. */
        const char *id;
        assert_int_equal(resolve_ref(m->ids, m->names, "abdb", &id, NULL), 0);
        const char *key;
        assert_non_null(hashmap_get2(m->ids, ID_3, &key));
        assert_ptr_equal(id, key);
}

static void test_not_found(void **state) {
        Maps *m = *state;

        /* Two characters never match by prefix, even when unique. */
        expect(m, "zz", -ENOENT, NULL);
        expect(m, "z", -ENOENT, NULL);
        /* A dangling name mapping is ignored. */
        expect(m, "ghost", -ENOENT, NULL);
        /* Prefixes are matched on ids only, never names; and are case-sensitive. */
        expect(m, "we", -ENOENT, NULL);
        expect(m, "webx", -ENOENT, NULL);
        expect(m, "ABC", -ENOENT, NULL);
        expect(m, "abe", -ENOENT, NULL);
        /* Longer than an id. */
        expect(m, ID_1 "a", -ENOENT, NULL);
        expect(m, "", -EINVAL, NULL);
        expect(m, NULL, -EINVAL, NULL);
}

static void test_ambiguous(void **state) {
        Maps *m = *state;
        _cleanup_strv_free_ char **candidates = NULL;
        const char *id = "untouched";

        /* "ab" is too short to be a prefix: not found, not ambiguous. */
        expect(m, "ab", -ENOENT, NULL);

        assert_int_equal(hashmap_remove(m->names, "abd") != NULL, 1);
        assert_int_equal(resolve_ref(m->ids, m->names, "abd", &id, &candidates), -ENOTUNIQ);
        assert_string_equal(id, "untouched");
        assert_int_equal(strv_length(candidates), 2);
        assert_string_equal(candidates[0], ID_2); /* sorted */
        assert_string_equal(candidates[1], ID_3);
        candidates = strv_free(candidates);

        assert_int_equal(resolve_ref(m->ids, m->names, "abda", &id, &candidates), 0);
        assert_string_equal(id, ID_2);
        assert_null(candidates);

        /* Without a candidates pointer the error is the same. */
        assert_int_equal(resolve_ref(m->ids, m->names, "abd", &id, NULL), -ENOTUNIQ);
}

static VMRecord *new_record(const char *id, const char *name) {
        VMRecord *r;

        assert_int_equal(vm_record_new(&r), 0);
        r->vm.id = strdup(id);
        r->vm.name = strdup(name);
        r->vm.backend = strdup("cloud-hypervisor");
        r->vm.config.cpu = 1;
        r->vm.config.memory = 128 << 20;
        r->vm.created_at = r->vm.updated_at = 1;
        return r;
}

static void test_store_batch(void **state) {
        char tmp[] = "/tmp/test-resolve-XXXXXX";
        _cleanup_(store_freep) Store *s = NULL;
        RefResolution *res = NULL;
        size_t n_failed = 99;
        const char *id;

        assert_non_null(mkdtemp(tmp));
        assert_int_equal(store_open(tmp, &s), 0);
        const char *ids[] = {ID_1, ID_2, ID_3}, *names[] = {"one", "two", "three"};
        for (size_t i = 0; i < ELEMENTSOF(ids); i++) {
                _cleanup_(vm_record_freep) VMRecord *r = new_record(ids[i], names[i]);
                assert_int_equal(store_put(s, r), 0);
        }

        assert_int_equal(store_resolve_ref(s, "two", &id, NULL), 0);
        assert_string_equal(id, ID_2);
        assert_ptr_equal(id, store_get(s, ID_2)->vm.id);

        char *refs[] = {"one", "abd", "nope", ID_1, "abc", "abdb", "ab", NULL};
        assert_int_equal(store_resolve_refs(s, refs, &res, &n_failed), 0);
        assert_int_equal(n_failed, 3);
        /* In input order, each on its own. */
        assert_string_equal(res[0].ref, "one");
        assert_int_equal(res[0].error, 0);
        assert_string_equal(res[0].id, ID_1);
        assert_false(res[0].duplicate);
        assert_int_equal(res[1].error, -ENOTUNIQ);
        assert_null(res[1].id);
        assert_int_equal(strv_length(res[1].candidates), 2);
        assert_int_equal(res[2].error, -ENOENT);
        assert_null(res[2].candidates);
        /* The same VM by id and by prefix: marked so that nobody acts on it twice. */
        assert_int_equal(res[3].error, 0);
        assert_string_equal(res[3].id, ID_1);
        assert_true(res[3].duplicate);
        assert_int_equal(res[4].error, 0);
        assert_true(res[4].duplicate);
        assert_int_equal(res[5].error, 0);
        assert_string_equal(res[5].id, ID_3);
        assert_false(res[5].duplicate);
        assert_int_equal(res[6].error, -ENOENT);
        ref_resolutions_free(res, ELEMENTSOF(refs) - 1);

        /* An empty batch is fine. */
        char *none[] = {NULL};
        assert_int_equal(store_resolve_refs(s, none, &res, NULL), 0);
        ref_resolutions_free(res, 0);

        s = store_free(s);
        assert_int_equal(rm_rf(tmp), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_order, setup, teardown),
                cmocka_unit_test_setup_teardown(test_not_found, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ambiguous, setup, teardown),
                cmocka_unit_test(test_store_batch),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
