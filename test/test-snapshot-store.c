/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for the snapshot store: pending then visible, reopen, references, names, quarantine, GC. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fs-util.h"
#include "id.h"
#include "json-util.h"
#include "snapshot-store.h"
#include "strv-util.h"

typedef struct Fixture {
        char tmp[64];
        char *root;
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));
        assert_non_null(f);
        strcpy(f->tmp, "/tmp/test-snapshot-store-XXXXXX");
        assert_non_null(mkdtemp(f->tmp));
        assert_true(asprintf(&f->root, "%s/snapshots", f->tmp) > 0);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        assert_int_equal(rm_rf(f->tmp), 0);
        free(f->root);
        free(f);
        return 0;
}

static Snapshot *new_snapshot(const char *id, const char *name) {
        Snapshot *s = calloc(1, sizeof(Snapshot));
        assert_non_null(s);
        if (id)
                snprintf(s->id, sizeof(s->id), "%s", id);
        else
                assert_int_equal(id_generate(s->id), 0);
        s->name = strdup(name);
        s->description = strdup("before the upgrade");
        s->created_at = 1795876141123456;
        s->backend = strdup("qemu");
        s->hypervisor_version = strdup("7.2.22");
        s->machine = strdup("microvm");
        s->cpu_model = strdup("qemu64");
        s->accel = strdup("tcg");
        s->memory_file = true;
        assert_int_equal(vm_record_new(&s->vm), 0);
        VMRecord *r = s->vm;
        r->vm.id = strdup("aaaaaaaaaaaaaaaaaaaaaaaaaa");
        r->vm.name = strdup("web");
        r->vm.backend = strdup("qemu");
        r->vm.state = VM_STATE_RUNNING;
        r->vm.config.cpu = 1;
        r->vm.config.memory = 128 << 20;
        r->vm.config.storage = 256 << 20;
        r->vm.created_at = r->vm.updated_at = 1795876141123456;
        StorageConfig cow = {.path = strdup("/var/lib/cocoon/vms/aaaaaaaaaaaaaaaaaaaaaaaaaa/cow.raw"),
                             .serial = strdup("cocoon-cow"),
                             .role = STORAGE_ROLE_COW,
                             .direct_io = -1};
        assert_int_equal(vm_add_storage_config(&r->vm, &cow), 0);
        assert_int_equal(strv_extend(&r->image_blob_ids,
                                     "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
                         0);
        return s;
}

static bool exists(const Fixture *f, const char *id, const char *file) {
        char p[512];
        snprintf(p, sizeof(p), "%s/%s/%s", f->root, id, file);
        return access(p, F_OK) >= 0;
}

static void test_pending_then_visible(void **state) {
        Fixture *f = *state;
        _cleanup_(snapshot_store_freep) SnapshotStore *s = NULL;
        const Snapshot *found;
        char id[ID_LENGTH + 1];

        assert_int_equal(snapshot_store_open(f->tmp, &s), 0);
        Snapshot *snap = new_snapshot(NULL, "s1");
        memcpy(id, snap->id, sizeof(id));
        assert_int_equal(snapshot_validate(snap, NULL, NULL), 0);
        assert_int_equal(snapshot_store_begin(s, snap), 0);

        /* Registered before any payload: the intent is on disk, the name taken, nothing listed. */
        assert_true(exists(f, id, SNAPSHOT_PENDING_FILE));
        assert_false(exists(f, id, SNAPSHOT_RECORD_FILE));
        assert_int_equal(snapshot_store_count(s), 0);
        assert_int_equal(snapshot_store_resolve(s, id, &found, NULL), -ENOENT);
        assert_int_equal(snapshot_store_resolve(s, "s1", &found, NULL), -ENOENT);
        assert_int_equal(snapshot_store_begin(s, new_snapshot(NULL, "s1")), -EEXIST);
        assert_non_null(snapshot_store_get(s, id));
        assert_true(snapshot_store_get(s, id)->pending);

        /* Complete: the record replaces the intent. */
        assert_int_equal(snapshot_store_commit(s, id), 0);
        assert_false(exists(f, id, SNAPSHOT_PENDING_FILE));
        assert_true(exists(f, id, SNAPSHOT_RECORD_FILE));
        assert_int_equal(snapshot_store_count(s), 1);
        assert_int_equal(snapshot_store_resolve(s, "s1", &found, NULL), 0);
        assert_string_equal(found->id, id);
        assert_int_equal(snapshot_store_resolve(s, id, &found, NULL), 0);
        char prefix[4] = {id[0], id[1], id[2], 0};
        assert_int_equal(snapshot_store_resolve(s, prefix, &found, NULL), 0);
        prefix[2] = 0;
        assert_int_equal(snapshot_store_resolve(s, prefix, &found, NULL), -ENOENT);

        /* The record survives a reopen, field by field. */
        s = snapshot_store_free(s);
        assert_int_equal(snapshot_store_open(f->tmp, &s), 0);
        assert_int_equal(snapshot_store_resolve(s, "s1", &found, NULL), 0);
        assert_false(found->pending);
        assert_string_equal(found->description, "before the upgrade");
        assert_string_equal(found->hypervisor_version, "7.2.22");
        assert_string_equal(found->machine, "microvm");
        assert_string_equal(found->cpu_model, "qemu64");
        assert_string_equal(found->accel, "tcg");
        assert_true(found->memory_file);
        assert_int_equal(found->created_at, 1795876141123456);
        assert_string_equal(found->vm->vm.id, "aaaaaaaaaaaaaaaaaaaaaaaaaa");
        assert_int_equal(found->vm->vm.config.memory, 128 << 20);
        assert_int_equal(found->vm->vm.n_storage_configs, 1);
        assert_int_equal(strv_length(found->vm->image_blob_ids), 1);

        /* The public view names the source and its resources. */
        _cleanup_(json_object_putp) json_object *o = NULL;
        const char *vm = NULL;
        int64_t memory = 0;
        json_object *config;
        assert_int_equal(snapshot_to_public_json(found, &o), 0);
        assert_int_equal(json_get_string(o, "vm", &vm), 0);
        assert_string_equal(vm, "aaaaaaaaaaaaaaaaaaaaaaaaaa");
        assert_true(json_object_object_get_ex(o, "config", &config));
        assert_int_equal(json_get_int64(config, "memory", &memory), 0);
        assert_int_equal(memory, 128 << 20);

        /* Forget: record gone at once, name free again; the payload directory is the caller's. */
        assert_int_equal(snapshot_store_forget(s, id), 0);
        assert_int_equal(snapshot_store_forget(s, id), -ENOENT);
        assert_false(exists(f, id, SNAPSHOT_RECORD_FILE));
        assert_int_equal(snapshot_store_resolve(s, "s1", &found, NULL), -ENOENT);
        assert_int_equal(snapshot_store_begin(s, new_snapshot(NULL, "s1")), 0);
}

static void test_leftover_pending_and_gc(void **state) {
        Fixture *f = *state;
        _cleanup_(snapshot_store_freep) SnapshotStore *s = NULL;
        _cleanup_strv_free_ char **dirs = NULL;
        char done[ID_LENGTH + 1], cut[ID_LENGTH + 1], live[ID_LENGTH + 1];
        Snapshot *snap;

        assert_int_equal(snapshot_store_open(f->tmp, &s), 0);
        snap = new_snapshot(NULL, "done");
        memcpy(done, snap->id, sizeof(done));
        assert_int_equal(snapshot_store_begin(s, snap), 0);
        assert_int_equal(snapshot_store_commit(s, done), 0);
        snap = new_snapshot(NULL, "cut");
        memcpy(cut, snap->id, sizeof(cut));
        assert_int_equal(snapshot_store_begin(s, snap), 0);
        /* A payload file of the save that never finished. */
        char p[512];
        snprintf(p, sizeof(p), "%s/%s/vmstate", f->root, cut);
        assert_int_equal(write_file_atomic_at(AT_FDCWD, p, "x", 1, 0600), 0);
        /* An orphan: no record at all. */
        char orphan[ID_LENGTH + 1];
        assert_int_equal(id_generate(orphan), 0);
        snprintf(p, sizeof(p), "%s/%s", f->root, orphan);
        assert_int_equal(mkdir(p, 0700), 0);

        /* A save in flight is not GC's. */
        assert_int_equal(snapshot_store_gc(s, &dirs), 0);
        assert_int_equal(strv_length(dirs), 1);
        assert_non_null(strstr(dirs[0], orphan));
        dirs = strv_free(dirs);
        assert_int_equal(rm_rf(p), 0);

        /* The manager died: the next one finds the intent, a leftover, named but never listed. */
        s = snapshot_store_free(s);
        assert_int_equal(snapshot_store_open(f->tmp, &s), 0);
        assert_int_equal(snapshot_store_count(s), 1);
        snap = snapshot_store_get(s, cut);
        assert_non_null(snap);
        assert_true(snap->pending);
        assert_true(snap->leftover);
        assert_string_equal(snap->vm->vm.id, "aaaaaaaaaaaaaaaaaaaaaaaaaa");

        /* A save started by this manager is not a leftover. */
        snap = new_snapshot(NULL, "live");
        memcpy(live, snap->id, sizeof(live));
        assert_int_equal(snapshot_store_begin(s, snap), 0);

        assert_int_equal(snapshot_store_gc(s, &dirs), 0);
        assert_int_equal(strv_length(dirs), 1);
        assert_non_null(strstr(dirs[0], cut));
        assert_null(snapshot_store_get(s, cut));
        assert_non_null(snapshot_store_get(s, live));
        assert_non_null(snapshot_store_get(s, done));
}

static void test_validate_and_quarantine(void **state) {
        Fixture *f = *state;
        _cleanup_(snapshot_store_freep) SnapshotStore *s = NULL;
        _cleanup_(snapshot_freep) Snapshot *bad = new_snapshot(NULL, "ok");
        _cleanup_free_ char *message = NULL;
        const char *field = NULL;

        free(bad->name);
        bad->name = strdup("../x");
        assert_int_equal(snapshot_validate(bad, &field, &message), -EINVAL);
        assert_string_equal(field, "name");
        free(bad->name);
        bad->name = strdup("ok");
        free(bad->description);
        bad->description = strdup("line\nbreak");
        message = mfree(message);
        assert_int_equal(snapshot_validate(bad, &field, &message), -EINVAL);
        assert_string_equal(field, "description");

        /* A record that does not parse is moved aside; GC leaves its payload alone. */
        char id[ID_LENGTH + 1], p[512];
        assert_int_equal(id_generate(id), 0);
        snprintf(p, sizeof(p), "%s/%s", f->root, id);
        assert_int_equal(mkdir_p(p, 0700), 0);
        snprintf(p, sizeof(p), "%s/%s/%s", f->root, id, SNAPSHOT_RECORD_FILE);
        assert_int_equal(write_file_atomic_at(AT_FDCWD, p, "{\"formatVersion\": 99}", 21, 0600), 0);
        assert_int_equal(snapshot_store_open(f->tmp, &s), 0);
        assert_int_equal(snapshot_store_corrupt_count(s), 1);
        assert_int_equal(snapshot_store_count(s), 0);
        assert_false(exists(f, id, SNAPSHOT_RECORD_FILE));
        _cleanup_strv_free_ char **dirs = NULL;
        assert_int_equal(snapshot_store_gc(s, &dirs), 0);
        assert_int_equal(strv_length(dirs), 0);
        /* Also after another reopen. */
        s = snapshot_store_free(s);
        assert_int_equal(snapshot_store_open(f->tmp, &s), 0);
        assert_int_equal(snapshot_store_gc(s, &dirs), 0);
        assert_int_equal(strv_length(dirs), 0);

        /* A newer format version is refused, never guessed at. */
        _cleanup_(json_object_putp) json_object *o = NULL;
        Snapshot *parsed = NULL;
        assert_int_equal(snapshot_to_json(bad, &o), 0);
        json_object_object_add(o, "formatVersion", json_object_new_int(2));
        assert_int_equal(snapshot_from_json(o, &parsed, &field), -EPROTONOSUPPORT);
        assert_string_equal(field, "formatVersion");
        json_object_object_add(o, "formatVersion", json_object_new_int(1));
        assert_int_equal(snapshot_from_json(o, &parsed, NULL), 0);
        snapshot_free(parsed);
        /* memoryFormat: file or stream; records of saves before it existed are stream. */
        json_object_object_add(o, "memoryFormat", json_object_new_string("stream"));
        assert_int_equal(snapshot_from_json(o, &parsed, NULL), 0);
        assert_false(parsed->memory_file);
        parsed = snapshot_free(parsed);
        json_object_object_del(o, "memoryFormat");
        assert_int_equal(snapshot_from_json(o, &parsed, NULL), 0);
        assert_false(parsed->memory_file);
        parsed = snapshot_free(parsed);
        json_object_object_add(o, "memoryFormat", json_object_new_string("disk"));
        assert_true(snapshot_from_json(o, &parsed, &field) < 0);
        assert_string_equal(field, "memoryFormat");
        json_object_object_add(o, "memoryFormat", json_object_new_string("file"));
        json_object_object_add(o, "surprise", json_object_new_int(1));
        assert_int_equal(snapshot_from_json(o, &parsed, &field), -EADDRNOTAVAIL);

        /* A writable disk named like a payload file would overwrite it in the snapshot. */
        free(bad->description);
        bad->description = NULL;
        assert_int_equal(snapshot_validate(bad, &field, NULL), 0);
        free(bad->vm->vm.storage_configs[0].path);
        bad->vm->vm.storage_configs[0].path = strdup("/var/lib/cocoon/vms/aaaaaaaaaaaaaaaaaaaaaaaaaa/ram");
        message = mfree(message);
        assert_int_equal(snapshot_validate(bad, &field, &message), -EINVAL);
        assert_string_equal(field, "vm");
        assert_non_null(strstr(message, "like a payload file"));
}

/* The RAM file is payload of a "file" snapshot only, and then a required one (an archive must bring it). */
static void test_payload_names(void **state) {
        Snapshot *s = new_snapshot(NULL, "warm");
        _cleanup_free_ const char **required = NULL;
        bool needed = false;

        assert_true(snapshot_payload_name_is_valid(s, SNAPSHOT_MEMORY_FILE, &needed));
        assert_true(needed);
        assert_true(snapshot_payload_name_is_valid(s, SNAPSHOT_STATE_FILE, &needed));
        assert_true(needed);
        assert_true(snapshot_payload_name_is_valid(s, "cow.raw", &needed));
        assert_false(snapshot_payload_name_is_valid(s, "snapshot.json", NULL));
        assert_false(snapshot_payload_name_is_valid(s, "other", NULL));
        assert_int_equal(snapshot_payload_required(s, &required), 0);
        assert_true(strv_contains((char **) required, SNAPSHOT_MEMORY_FILE));
        required = mfree(required);

        s->memory_file = false;
        assert_false(snapshot_payload_name_is_valid(s, SNAPSHOT_MEMORY_FILE, NULL));
        assert_int_equal(snapshot_payload_required(s, &required), 0);
        assert_false(strv_contains((char **) required, SNAPSHOT_MEMORY_FILE));
        assert_true(strv_contains((char **) required, SNAPSHOT_STATE_FILE));
        snapshot_free(s);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_pending_then_visible, setup, teardown),
                cmocka_unit_test_setup_teardown(test_leftover_pending_and_gc, setup, teardown),
                cmocka_unit_test_setup_teardown(test_validate_and_quarantine, setup, teardown),
                cmocka_unit_test(test_payload_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
