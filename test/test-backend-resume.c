/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for backend-resume.c: a clone created without a start keeps the snapshot's saved state (hard links,
 * never the records or the disk copies), and one created to start at once keeps nothing. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend.h"
#include "fs-util.h"
#include "macro.h"

typedef struct Env {
        char root[64];
        char snapshot[128], vm_dir[128], log_dir[128], cow[160];
        StorageConfig disks[2];
        VMRecord record;
        BackendWork work;
} Env;

static void write_file(const char *dir, const char *name, const char *content) {
        char path[256];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        FILE *f = fopen(path, "we");
        assert_non_null(f);
        fputs(content, f);
        assert_int_equal(fclose(f), 0);
}

static int env_setup(void **state) {
        Env *e = calloc(1, sizeof(Env));
        assert_non_null(e);
        strcpy(e->root, "/tmp/test-backend-resume-XXXXXX");
        assert_non_null(mkdtemp(e->root));
        snprintf(e->snapshot, sizeof(e->snapshot), "%s/snapshot", e->root);
        snprintf(e->vm_dir, sizeof(e->vm_dir), "%s/vms/vm", e->root);
        snprintf(e->log_dir, sizeof(e->log_dir), "%s/log", e->root);
        snprintf(e->cow, sizeof(e->cow), "%s/cow.raw", e->vm_dir);
        assert_int_equal(mkdir(e->snapshot, 0700), 0);
        write_file(e->snapshot, "snapshot.json", "{}");
        write_file(e->snapshot, "vmstate", "saved state");
        write_file(e->snapshot, "cow.raw", "disk");
        e->disks[0] = (StorageConfig) { .path = (char *) "/nonexistent/layer.ext4", .read_only = true };
        e->disks[1] = (StorageConfig) { .path = e->cow, .role = STORAGE_ROLE_COW };
        e->record = (VMRecord) { .vm = { .storage_configs = e->disks, .n_storage_configs = 2 },
                                 .log_dir = e->log_dir };
        e->work = (BackendWork) { .record = &e->record, .vm_dir = e->vm_dir, .snapshot_dir = e->snapshot,
                                  .console_fd = -EBADF };
        *state = e;
        return 0;
}

static int env_teardown(void **state) {
        Env *e = *state;
        free(e->work.message);
        assert_int_equal(rm_rf(e->root), 0);
        free(e);
        return 0;
}

static bool exists(const char *dir, const char *name) {
        char path[256];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        return access(path, F_OK) >= 0;
}

static void test_keep_state(void **state) {
        Env *e = *state;
        char kept[192], *path;
        struct stat st;

        e->work.keep_state = true;
        assert_int_equal(backend_clone_create(&e->work), 0);
        assert_true(exists(e->vm_dir, "cow.raw"));
        assert_int_equal(backend_resume_state_path(&e->work, &path), 0);
        snprintf(kept, sizeof(kept), "%s/" RESUME_STATE_DIR_NAME, e->vm_dir);
        assert_string_equal(path, kept);
        free(path);
        /* The state, shared with the snapshot; not its record, not the disk the clone has already. */
        assert_true(exists(kept, "vmstate"));
        assert_false(exists(kept, "snapshot.json"));
        assert_false(exists(kept, "cow.raw"));
        snprintf(kept, sizeof(kept), "%s/" RESUME_STATE_DIR_NAME "/vmstate", e->vm_dir);
        assert_int_equal(stat(kept, &st), 0);
        assert_int_equal(st.st_nlink, 2);
}

static void test_no_keep(void **state) {
        Env *e = *state;

        assert_int_equal(backend_clone_create(&e->work), 0);
        assert_true(exists(e->vm_dir, "cow.raw"));
        assert_false(exists(e->vm_dir, RESUME_STATE_DIR_NAME));
}

/* A snapshot whose disk copy is missing: the create fails and keeps nothing. */
static void test_keep_state_failure(void **state) {
        Env *e = *state;
        char path[160];

        snprintf(path, sizeof(path), "%s/cow.raw", e->snapshot);
        assert_int_equal(unlink(path), 0);
        e->work.keep_state = true;
        assert_true(backend_clone_create(&e->work) < 0);
        assert_false(exists(e->vm_dir, "cow.raw"));
        assert_false(exists(e->vm_dir, RESUME_STATE_DIR_NAME));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_keep_state, env_setup, env_teardown),
                cmocka_unit_test_setup_teardown(test_no_keep, env_setup, env_teardown),
                cmocka_unit_test_setup_teardown(test_keep_state_failure, env_setup, env_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
