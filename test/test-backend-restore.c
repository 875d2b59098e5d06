/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for backend-restore.c's parts that need no hypervisor: the run directory of each of a VM's two
 * units, and the recovery of what a restore left when its manager was killed. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend.h"
#include "fs-util.h"
#include "macro.h"

#define ID "abcdefghijklmnopqrstuvwxyz"
#define UNIT "cocoon-vm@" ID ".service"
#define UNIT_R "cocoon-vm@" ID "-r.service"

static void test_run_dir_for_unit(void **state) {
        VMRecord r = { .run_dir = (char *) "/run/cocoon/vms/" ID, .unit = (char *) UNIT };
        char *s;

        assert_int_equal(backend_run_dir_for_unit(&r, UNIT, &s), 0);
        assert_string_equal(s, "/run/cocoon/vms/" ID);
        free(s);
        assert_int_equal(backend_run_dir_for_unit(&r, UNIT_R, &s), 0);
        assert_string_equal(s, "/run/cocoon/vms/" ID "/r");
        free(s);

        r = (VMRecord) { .run_dir = (char *) "/run/cocoon/vms/" ID "/r", .unit = (char *) UNIT_R };
        assert_int_equal(backend_run_dir_for_unit(&r, UNIT, &s), 0);
        assert_string_equal(s, "/run/cocoon/vms/" ID);
        free(s);
        assert_int_equal(backend_run_dir_for_unit(&r, UNIT_R, &s), 0);
        assert_string_equal(s, "/run/cocoon/vms/" ID "/r");
        free(s);

        /* The alternate unit with a run directory that is not its own: refused, never guessed. */
        r = (VMRecord) { .run_dir = (char *) "/run/cocoon/vms/" ID, .unit = (char *) UNIT_R };
        assert_int_equal(backend_run_dir_for_unit(&r, UNIT, &s), -EINVAL);
        r = (VMRecord) { .unit = (char *) UNIT };
        assert_int_equal(backend_run_dir_for_unit(&r, UNIT, &s), -EINVAL);
}

typedef struct Dir {
        char path[64];
} Dir;

static int dir_setup(void **state) {
        Dir *d = calloc(1, sizeof(Dir));
        assert_non_null(d);
        strcpy(d->path, "/tmp/test-backend-restore-XXXXXX");
        assert_non_null(mkdtemp(d->path));
        *state = d;
        return 0;
}

static int dir_teardown(void **state) {
        Dir *d = *state;
        assert_int_equal(rm_rf(d->path), 0);
        free(d);
        return 0;
}

static void write_file(const char *dir, const char *name, const char *content) {
        char path[256];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        FILE *f = fopen(path, "we");
        assert_non_null(f);
        fputs(content, f);
        assert_int_equal(fclose(f), 0);
}

/* The file's content, "" when it does not exist. */
static const char *read_file(const char *dir, const char *name) {
        static char buf[64];
        char path[256];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        FILE *f = fopen(path, "re");
        buf[0] = 0;
        if (!f)
                return buf;
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        buf[n] = 0;
        fclose(f);
        return buf;
}

static void record_init(VMRecord *r, StorageConfig *disks, char *cow, const char *unit) {
        disks[0] = (StorageConfig) { .path = (char *) "/nonexistent/layer.ext4", .read_only = true };
        disks[1] = (StorageConfig) { .path = cow, .read_only = false, .role = STORAGE_ROLE_COW };
        *r = (VMRecord) { .vm = { .storage_configs = disks, .n_storage_configs = 2 }, .unit = (char *) unit };
}

/* Killed after the swap, before the record named the new unit: the record's (old) unit runs on its backup,
 * which goes back under the disk's name; the copy the new unit had is dropped. */
static void test_recover_swapped_not_recorded(void **state) {
        Dir *d = *state;
        StorageConfig disks[2];
        VMRecord r;
        char cow[128];

        snprintf(cow, sizeof(cow), "%s/cow.raw", d->path);
        record_init(&r, disks, cow, UNIT);
        write_file(d->path, "cow.raw", "restored");
        write_file(d->path, "cow.raw.restore-old", "running");
        assert_int_equal(backend_restore_recover(&r), 0);
        assert_string_equal(read_file(d->path, "cow.raw"), "running");
        assert_string_equal(read_file(d->path, "cow.raw.restore-old"), "");
}

/* Killed after the record named the new unit (the alternate), before the old one was stopped: the disk is
 * the new unit's, the old unit's backup goes. */
static void test_recover_recorded(void **state) {
        Dir *d = *state;
        StorageConfig disks[2];
        VMRecord r;
        char cow[128];

        snprintf(cow, sizeof(cow), "%s/cow.raw", d->path);
        record_init(&r, disks, cow, UNIT_R);
        write_file(d->path, "cow.raw", "restored");
        write_file(d->path, "cow.raw.restore-old", "running");
        assert_int_equal(backend_restore_recover(&r), 0);
        assert_string_equal(read_file(d->path, "cow.raw"), "restored");
        assert_string_equal(read_file(d->path, "cow.raw.restore-old"), "");
}

/* Killed before the swap: the copy goes, the disk stays; nothing to do is no error. */
static void test_recover_not_swapped(void **state) {
        Dir *d = *state;
        StorageConfig disks[2];
        VMRecord r;
        char cow[128];

        snprintf(cow, sizeof(cow), "%s/cow.raw", d->path);
        record_init(&r, disks, cow, UNIT_R);
        write_file(d->path, "cow.raw", "running");
        write_file(d->path, "cow.raw.restore-new", "copy");
        assert_int_equal(backend_restore_recover(&r), 0);
        assert_string_equal(read_file(d->path, "cow.raw"), "running");
        assert_string_equal(read_file(d->path, "cow.raw.restore-new"), "");
        assert_int_equal(backend_restore_recover(&r), 0);
        assert_string_equal(read_file(d->path, "cow.raw"), "running");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_run_dir_for_unit),
                cmocka_unit_test_setup_teardown(test_recover_swapped_not_recorded, dir_setup, dir_teardown),
                cmocka_unit_test_setup_teardown(test_recover_recorded, dir_setup, dir_teardown),
                cmocka_unit_test_setup_teardown(test_recover_not_swapped, dir_setup, dir_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
