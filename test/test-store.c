/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for store: persistence across reopen, quarantine of bad records, the state lock, atomic writes. */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "fs-util.h"
#include "id.h"
#include "json-util.h"
#include "macro.h"
#include "store.h"
#include "strv-util.h"

typedef struct Fixture {
        char tmp[64];
        char *state_dir;
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));
        assert_non_null(f);
        strcpy(f->tmp, "/tmp/test-store-XXXXXX");
        assert_non_null(mkdtemp(f->tmp));
        /* Not created yet: store_open() makes it. */
        assert_true(asprintf(&f->state_dir, "%s/state/lib", f->tmp) > 0);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        assert_int_equal(rm_rf(f->tmp), 0);
        free(f->state_dir);
        free(f);
        return 0;
}

static VMRecord *new_record(const char *id, const char *name, VMState state) {
        VMRecord *r;

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

static VMRecord *new_random_record(const char *name, VMState state) {
        char id[ID_LENGTH + 1];

        assert_int_equal(id_generate(id), 0);
        return new_record(id, name, state);
}

static char *vm_file(const Fixture *f, const char *id, const char *name) {
        char *p;
        assert_true(asprintf(&p, "%s/vms/%s/%s", f->state_dir, id, name) > 0);
        return p;
}

/* Entry names in a directory other than "." and "..", sorted, joined with ' '. */
static char *list_dir(const char *path) {
        struct dirent **entries;
        char *out = NULL;
        size_t size = 0;
        bool first = true;
        int n = scandir(path, &entries, NULL, alphasort);

        assert_true(n >= 0);
        FILE *m = open_memstream(&out, &size);
        assert_non_null(m);
        for (int i = 0; i < n; i++) {
                if (!streq(entries[i]->d_name, ".") && !streq(entries[i]->d_name, "..")) {
                        fprintf(m, "%s%s", first ? "" : " ", entries[i]->d_name);
                        first = false;
                }
                free(entries[i]);
        }
        free(entries);
        fclose(m);
        return out;
}

static void test_put_get_remove_reopen(void **state) {
        Fixture *f = *state;
        _cleanup_(store_freep) Store *s = NULL;
        _cleanup_(vm_record_freep) VMRecord *a = new_random_record("alpha", VM_STATE_CREATED),
                                            *b = new_random_record("beta", VM_STATE_RUNNING);
        struct stat st;

        assert_int_equal(store_open(f->state_dir, &s), 0);
        assert_int_equal(store_count(s), 0);
        assert_int_equal(stat(f->state_dir, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0700);

        assert_int_equal(store_put(s, a), 0);
        assert_int_equal(store_put(s, b), 0);
        assert_int_equal(store_count(s), 2);
        assert_int_equal(store_count_state(s, VM_STATE_CREATED), 1);
        assert_int_equal(store_count_state(s, VM_STATE_RUNNING), 1);
        assert_int_equal(store_count_state(s, VM_STATE_STOPPED), 0);

        /* The store holds its own copy. */
        const VMRecord *got = store_get(s, a->vm.id);
        assert_non_null(got);
        assert_ptr_not_equal(got, a);
        assert_true(vm_record_equal(got, a));
        assert_ptr_equal(store_get_by_name(s, "beta"), store_get(s, b->vm.id));
        assert_null(store_get(s, "zzzzzzzzzzzzzzzzzzzzzzzzzz"));
        assert_null(store_get_by_name(s, "gamma"));

        /* Update: state counts follow, the file follows. */
        b->vm.state = VM_STATE_STOPPED;
        b->vm.stopped_at = b->vm.updated_at + 5;
        assert_int_equal(store_put(s, b), 0);
        assert_int_equal(store_count_state(s, VM_STATE_RUNNING), 0);
        assert_int_equal(store_count_state(s, VM_STATE_STOPPED), 1);
        assert_int_equal(store_count(s), 2);
        /* The name index follows the new copy (the old one is freed: ASan watches this lookup). */
        assert_ptr_equal(store_get_by_name(s, "beta"), store_get(s, b->vm.id));
        assert_int_equal(store_get_by_name(s, "beta")->vm.state, VM_STATE_STOPPED);

        /* Reopen: everything is back, equal. */
        s = store_free(s);
        assert_int_equal(store_open(f->state_dir, &s), 0);
        assert_int_equal(store_count(s), 2);
        assert_int_equal(store_corrupt_count(s), 0);
        assert_true(vm_record_equal(store_get(s, a->vm.id), a));
        assert_true(vm_record_equal(store_get(s, b->vm.id), b));
        assert_int_equal(store_count_state(s, VM_STATE_STOPPED), 1);

        /* Remove: gone from the index, the file and the (empty) directory; gone after reopen. */
        _cleanup_free_ char *dir = NULL, *listing = NULL;
        assert_int_equal(store_vm_dir(s, a->vm.id, &dir), 0);
        assert_int_equal(store_remove(s, a->vm.id), 0);
        assert_null(store_get(s, a->vm.id));
        assert_null(store_get_by_name(s, "alpha"));
        assert_int_equal(store_remove(s, a->vm.id), -ENOENT);
        assert_int_equal(stat(dir, &st), -1);
        assert_int_equal(errno, ENOENT);
        assert_int_equal(store_count_state(s, VM_STATE_CREATED), 0);

        /* A VM directory with disks stays; only the record goes. */
        _cleanup_free_ char *disk = vm_file(f, b->vm.id, "cow.raw"), *bdir = NULL;
        assert_int_equal(write_file_atomic_at(AT_FDCWD, disk, "", 0, 0600), 0);
        assert_int_equal(store_remove(s, b->vm.id), 0);
        assert_int_equal(store_vm_dir(s, b->vm.id, &bdir), 0);
        listing = list_dir(bdir);
        assert_string_equal(listing, "cow.raw");

        s = store_free(s);
        assert_int_equal(store_open(f->state_dir, &s), 0);
        assert_int_equal(store_count(s), 0);
        assert_false(store_is_quarantined(s, b->vm.id)); /* no record, nothing quarantined: GC may collect */
}

/* A new record that cannot be written (the file size limit stands in for a full disk) fails and leaves
 * no empty VM directory behind. */
static void test_put_write_fails(void **state) {
        Fixture *f = *state;
        _cleanup_(store_freep) Store *s = NULL;
        _cleanup_(vm_record_freep) VMRecord *a = new_random_record("full", VM_STATE_CREATING);
        _cleanup_free_ char *dir = NULL;
        struct rlimit old, tiny = { .rlim_cur = 1, .rlim_max = RLIM_INFINITY };
        struct stat st;

        assert_int_equal(store_open(f->state_dir, &s), 0);
        assert_int_equal(asprintf(&dir, "%s/vms/%s", f->state_dir, a->vm.id) > 0, 1);
        assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
        tiny.rlim_max = old.rlim_max;
        signal(SIGXFSZ, SIG_IGN);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &tiny), 0);
        int k = store_put(s, a);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
        assert_int_equal(k, -EFBIG);
        assert_null(store_get(s, a->vm.id));
        assert_int_equal(stat(dir, &st), -1);
        assert_int_equal(errno, ENOENT);
        assert_int_equal(store_put(s, a), 0);
}

static void test_put_checks(void **state) {
        Fixture *f = *state;
        _cleanup_(store_freep) Store *s = NULL;
        _cleanup_(vm_record_freep) VMRecord *a = new_random_record("alpha", VM_STATE_CREATED),
                                            *twin = new_random_record("alpha", VM_STATE_CREATED),
                                            *bad = new_random_record("bad name", VM_STATE_CREATED);

        assert_int_equal(store_open(f->state_dir, &s), 0);
        assert_int_equal(store_put(s, a), 0);
        /* Names are one namespace. */
        assert_int_equal(store_put(s, twin), -EEXIST);
        assert_null(store_get(s, twin->vm.id));
        /* Invalid records are never written. */
        assert_int_equal(store_put(s, bad), -EINVAL);
        assert_null(store_get(s, bad->vm.id));
        assert_int_equal(store_count(s), 1);

        /* Rename: the old name is free again, the new one taken. */
        free(a->vm.name);
        a->vm.name = strdup("alpha2");
        assert_int_equal(store_put(s, a), 0);
        assert_null(store_get_by_name(s, "alpha"));
        assert_ptr_equal(store_get_by_name(s, "alpha2"), store_get(s, a->vm.id));
        assert_int_equal(store_put(s, twin), 0);
        assert_int_equal(store_count(s), 2);

        /* An unchanged record is accepted again. */
        assert_int_equal(store_put(s, twin), 0);
        assert_int_equal(store_count(s), 2);
}

static void test_atomic_write(void **state) {
        Fixture *f = *state;
        _cleanup_(store_freep) Store *s = NULL;
        _cleanup_(vm_record_freep) VMRecord *a = new_random_record("alpha", VM_STATE_CREATED),
                                            *parsed = NULL;
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_free_ char *dir = NULL, *listing = NULL, *path = NULL, *text = NULL, *stale = NULL;
        struct stat st;
        size_t size;

        assert_int_equal(store_open(f->state_dir, &s), 0);
        assert_int_equal(store_put(s, a), 0);
        a->vm.state = VM_STATE_RUNNING;
        assert_int_equal(store_put(s, a), 0);

        /* One file per record, nothing else left behind by the writes. */
        assert_int_equal(store_vm_dir(s, a->vm.id, &dir), 0);
        listing = list_dir(dir);
        assert_string_equal(listing, "vm.json");

        /* The file is the record as JSON plus a newline, readable only by root. */
        path = vm_file(f, a->vm.id, "vm.json");
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        assert_int_equal(read_full_file(path, &text, &size), 0);
        assert_true(size > 2 && text[size - 1] == '\n');
        assert_int_equal(json_parse(text, size, &o), 0);
        assert_int_equal(vm_record_from_json(o, &parsed, NULL), 0);
        assert_true(vm_record_equal(parsed, a));
        assert_int_equal(parsed->vm.state, VM_STATE_RUNNING);

        /* A temporary file from an interrupted write is cleaned up at the next open. */
        s = store_free(s);
        stale = vm_file(f, a->vm.id, ".#vm.json.abcdefghijkl");
        assert_int_equal(write_file_atomic_at(AT_FDCWD, stale, "{", 1, 0600), 0);
        assert_int_equal(store_open(f->state_dir, &s), 0);
        listing = mfree(listing);
        listing = list_dir(dir);
        assert_string_equal(listing, "vm.json");
        assert_int_equal(store_count(s), 1);
}

static void write_raw(const Fixture *f, const char *id, const char *content) {
        _cleanup_free_ char *dir = NULL, *path = NULL;

        assert_true(asprintf(&dir, "%s/vms/%s", f->state_dir, id) > 0);
        assert_int_equal(mkdir_p(dir, 0700), 0);
        path = vm_file(f, id, "vm.json");
        assert_int_equal(write_file_atomic_at(AT_FDCWD, path, content, strlen(content), 0600), 0);
}

static void test_corrupt_quarantined(void **state) {
        Fixture *f = *state;
        _cleanup_(store_freep) Store *s = NULL;
        _cleanup_(vm_record_freep) VMRecord *good = new_random_record("good", VM_STATE_STOPPED),
                                            *good2 = new_random_record("good2", VM_STATE_RUNNING),
                                            *invalid = new_random_record("invalid", VM_STATE_STOPPED),
                                            *moved = new_random_record("moved", VM_STATE_STOPPED);
        _cleanup_(json_object_putp) json_object *o = NULL, *o2 = NULL;
        const char *garbage_id = "gggggggggggggggggggggggggg", *mismatch_id = "mmmmmmmmmmmmmmmmmmmmmmmmmm";

        assert_int_equal(store_open(f->state_dir, &s), 0);
        assert_int_equal(store_put(s, good), 0);
        assert_int_equal(store_put(s, good2), 0);
        s = store_free(s);

        /* Not JSON; valid JSON but an invalid record (bad memory); a record filed under another id. */
        write_raw(f, garbage_id, "{\"id\": \"gggg");
        invalid->vm.config.cpu = 0;
        assert_int_equal(vm_record_to_json(invalid, &o), 0);
        write_raw(f, invalid->vm.id, json_to_string(o));
        assert_int_equal(vm_record_to_json(moved, &o2), 0);
        write_raw(f, mismatch_id, json_to_string(o2));
        /* Not VM directories at all: ignored, untouched. */
        _cleanup_free_ char *other = NULL;
        assert_true(asprintf(&other, "%s/vms/not-an-id", f->state_dir) > 0);
        assert_int_equal(mkdir_p(other, 0700), 0);

        assert_int_equal(store_open(f->state_dir, &s), 0);
        assert_int_equal(store_count(s), 2);
        assert_int_equal(store_corrupt_count(s), 3);
        assert_true(vm_record_equal(store_get(s, good->vm.id), good));
        assert_true(vm_record_equal(store_get(s, good2->vm.id), good2));
        assert_null(store_get(s, invalid->vm.id));
        assert_null(store_get(s, moved->vm.id));
        assert_null(store_get(s, mismatch_id));
        assert_true(store_is_quarantined(s, garbage_id));
        assert_true(store_is_quarantined(s, invalid->vm.id));
        assert_true(store_is_quarantined(s, mismatch_id));
        assert_false(store_is_quarantined(s, good->vm.id));

        /* The bad files were moved aside, not deleted. */
        const char *bad_ids[] = {garbage_id, invalid->vm.id, mismatch_id};
        for (size_t i = 0; i < ELEMENTSOF(bad_ids); i++) {
                _cleanup_free_ char *dir = NULL, *listing = NULL;
                assert_true(asprintf(&dir, "%s/vms/%s", f->state_dir, bad_ids[i]) > 0);
                listing = list_dir(dir);
                assert_true(strncmp(listing, "vm.json.corrupt-", 16) == 0);
                assert_null(strchr(listing, ' '));
        }

        /* Next start: nothing new to quarantine, the VMs are still known as quarantined, and the good
         * records keep working. */
        s = store_free(s);
        assert_int_equal(store_open(f->state_dir, &s), 0);
        assert_int_equal(store_corrupt_count(s), 0);
        assert_int_equal(store_count(s), 2);
        assert_true(store_is_quarantined(s, garbage_id));
        assert_true(store_is_quarantined(s, invalid->vm.id));
        good->vm.state = VM_STATE_RUNNING;
        assert_int_equal(store_put(s, good), 0);
        assert_int_equal(store_count_state(s, VM_STATE_RUNNING), 2);
}

static void test_duplicate_names_on_disk(void **state) {
        Fixture *f = *state;
        _cleanup_(store_freep) Store *s = NULL;
        _cleanup_(vm_record_freep) VMRecord *older = new_random_record("twin", VM_STATE_STOPPED),
                                            *newer = new_random_record("twin", VM_STATE_STOPPED),
                                            *third = new_random_record("twin", VM_STATE_CREATED);
        _cleanup_(json_object_putp) json_object *o1 = NULL, *o2 = NULL;

        /* We never write two records with one name, but a hand-edited state directory might have them. */
        newer->vm.created_at = older->vm.created_at + 1;
        assert_int_equal(vm_record_to_json(older, &o1), 0);
        write_raw(f, older->vm.id, json_to_string(o1));
        assert_int_equal(vm_record_to_json(newer, &o2), 0);
        write_raw(f, newer->vm.id, json_to_string(o2));

        assert_int_equal(store_open(f->state_dir, &s), 0);
        assert_int_equal(store_count(s), 2);
        assert_int_equal(store_corrupt_count(s), 0);
        /* The name goes to the older one; the newer is still reachable by id and can be updated. */
        assert_string_equal(store_get_by_name(s, "twin")->vm.id, older->vm.id);
        newer->vm.state = VM_STATE_RUNNING;
        assert_int_equal(store_put(s, newer), 0);
        assert_string_equal(store_get_by_name(s, "twin")->vm.id, older->vm.id);
        /* Nobody else may take the name. */
        assert_int_equal(store_put(s, third), -EEXIST);

        /* When the owner goes, the other record with that name takes it over. */
        assert_int_equal(store_remove(s, older->vm.id), 0);
        assert_string_equal(store_get_by_name(s, "twin")->vm.id, newer->vm.id);
        assert_int_equal(store_put(s, third), -EEXIST);
        assert_int_equal(store_remove(s, newer->vm.id), 0);
        assert_null(store_get_by_name(s, "twin"));
        assert_int_equal(store_put(s, third), 0);
}

static void test_lock(void **state) {
        Fixture *f = *state;
        _cleanup_(store_freep) Store *s = NULL, *s2 = NULL;

        assert_int_equal(store_open(f->state_dir, &s), 0);
        /* A second open file description of the lock conflicts, even within this process. */
        assert_int_equal(store_open(f->state_dir, &s2), -EBUSY);
        assert_null(s2);
        s = store_free(s);
        assert_int_equal(store_open(f->state_dir, &s2), 0);

        assert_int_equal(store_open("relative/dir", &s), -EINVAL);
        assert_int_equal(store_open("", &s), -EINVAL);
}

static void test_many_records(void **state) {
        Fixture *f = *state;
        _cleanup_(store_freep) Store *s = NULL;
        char name[32];
        size_t n = 500, it = 0, seen = 0;
        const VMRecord *r;

        assert_int_equal(store_open(f->state_dir, &s), 0);
        for (size_t i = 0; i < n; i++) {
                _cleanup_(vm_record_freep) VMRecord *x = NULL;
                snprintf(name, sizeof(name), "vm-%zu", i);
                x = new_random_record(name, i % 2 ? VM_STATE_RUNNING : VM_STATE_STOPPED);
                assert_int_equal(store_put(s, x), 0);
        }
        s = store_free(s);
        assert_int_equal(store_open(f->state_dir, &s), 0);
        assert_int_equal(store_count(s), n);
        assert_int_equal(store_count_state(s, VM_STATE_RUNNING), n / 2);
        while (store_iterate(s, &it, &r)) {
                assert_ptr_equal(store_get_by_name(s, r->vm.name), r);
                seen++;
        }
        assert_int_equal(seen, n);
}

/* fdopendir() failing (it allocates) on its Nth call from now on; 0 = never. Defined here, it takes the
 * place of libc's for the store code linked into this test. */
static unsigned fdopendir_calls = 0, fdopendir_fail_call = 0;

DIR *fdopendir(int fd) {
        static DIR *(*real)(int) = NULL;

        if (fdopendir_fail_call != 0 && ++fdopendir_calls == fdopendir_fail_call) {
                errno = ENOMEM;
                return NULL;
        }
        if (!real)
                real = (DIR * (*) (int)) dlsym(RTLD_NEXT, "fdopendir");
        assert_non_null(real);
        return real(fd);
}

static unsigned count_open_fds(void) {
        _cleanup_(closedirp) DIR *d = opendir("/proc/self/fd");
        unsigned n = 0;

        assert_non_null(d);
        while (readdir(d))
                n++;
        return n;
}

/* When fdopendir() fails while the store loads, the descriptor it was given is closed, not leaked. */
static void test_fdopendir_failure_closes_fd(void **state) {
        Fixture *f = *state;
        _cleanup_(store_freep) Store *s = NULL;
        _cleanup_(vm_record_freep) VMRecord *a = new_random_record("alpha", VM_STATE_STOPPED);

        assert_int_equal(store_open(f->state_dir, &s), 0);
        assert_int_equal(store_put(s, a), 0);
        s = store_free(s);
        unsigned before = count_open_fds();

        /* The first fdopendir() reads vms/: the open fails as a whole. */
        fdopendir_calls = 0;
        fdopendir_fail_call = 1;
        assert_int_equal(store_open(f->state_dir, &s), -ENOMEM);
        fdopendir_fail_call = 0;
        assert_null(s);
        assert_int_equal(count_open_fds(), before);

        /* The second scans vms/<id>/ for leftovers: the record still loads. */
        fdopendir_calls = 0;
        fdopendir_fail_call = 2;
        assert_int_equal(store_open(f->state_dir, &s), 0);
        fdopendir_fail_call = 0;
        assert_int_equal(fdopendir_calls, 2);
        assert_int_equal(store_count(s), 1);
        s = store_free(s);
        assert_int_equal(count_open_fds(), before);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_put_get_remove_reopen, setup, teardown),
                cmocka_unit_test_setup_teardown(test_put_checks, setup, teardown),
                cmocka_unit_test_setup_teardown(test_put_write_fails, setup, teardown),
                cmocka_unit_test_setup_teardown(test_atomic_write, setup, teardown),
                cmocka_unit_test_setup_teardown(test_corrupt_quarantined, setup, teardown),
                cmocka_unit_test_setup_teardown(test_duplicate_names_on_disk, setup, teardown),
                cmocka_unit_test_setup_teardown(test_lock, setup, teardown),
                cmocka_unit_test_setup_teardown(test_many_records, setup, teardown),
                cmocka_unit_test_setup_teardown(test_fdopendir_failure_closes_fd, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
