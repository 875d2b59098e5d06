/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for snapshot archives: a snapshot round-trips (sparse files stay sparse, each compression), and
 * hostile archives built with libarchive are each refused with the message saying what is wrong. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cmocka.h>

#include "firecracker.h"
#include "fs-util.h"
#include "id.h"
#include "json-util.h"
#include "qemu.h"
#include "snapshot-archive.h"
#include "strv-util.h"
#include "time-util.h"

#define COW_SIZE (256ULL << 20)
#define COW_DATA_AT (100ULL << 20) /* "104857600": a number the sparse map holds, for the patch test */

typedef struct Fixture {
        char tmp[64];
        char *src, *dst, *archive;
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));
        assert_non_null(f);
        strcpy(f->tmp, "/var/tmp/test-snapshot-archive-XXXXXX");
        assert_non_null(mkdtemp(f->tmp));
        assert_true(asprintf(&f->src, "%s/src", f->tmp) > 0);
        assert_true(asprintf(&f->dst, "%s/dst", f->tmp) > 0);
        assert_true(asprintf(&f->archive, "%s/archive.tar", f->tmp) > 0);
        assert_int_equal(mkdir(f->src, 0700), 0);
        assert_int_equal(mkdir(f->dst, 0700), 0);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        assert_int_equal(rm_rf(f->tmp), 0);
        free(f->src);
        free(f->dst);
        free(f->archive);
        free(f);
        return 0;
}

static Snapshot *new_snapshot(uint64_t storage) {
        Snapshot *s = calloc(1, sizeof(Snapshot));
        assert_non_null(s);
        assert_int_equal(id_generate(s->id), 0);
        s->name = strdup("warm");
        s->created_at = 1795876141123456;
        s->backend = strdup("qemu");
        s->hypervisor_version = strdup("7.2.22");
        s->machine = strdup("microvm");
        s->cpu_model = strdup("qemu64");
        s->accel = strdup("tcg");
        assert_int_equal(vm_record_new(&s->vm), 0);
        VMRecord *r = s->vm;
        r->vm.id = strdup("aaaaaaaaaaaaaaaaaaaaaaaaaa");
        r->vm.name = strdup("web");
        r->vm.backend = strdup("qemu");
        r->vm.state = VM_STATE_RUNNING;
        r->vm.config.cpu = 1;
        r->vm.config.memory = 128 << 20;
        r->vm.config.storage = storage;
        r->vm.created_at = r->vm.updated_at = 1795876141123456;
        StorageConfig cow = {.path = strdup("/var/lib/cocoon/vms/aaaaaaaaaaaaaaaaaaaaaaaaaa/cow.raw"),
                             .serial = strdup("cocoon-cow"),
                             .role = STORAGE_ROLE_COW,
                             .direct_io = -1};
        assert_int_equal(vm_add_storage_config(&r->vm, &cow), 0);
        return s;
}

static char *record_text(uint64_t storage, int64_t version) {
        _cleanup_(snapshot_freep) Snapshot *s = new_snapshot(storage);
        _cleanup_(json_object_putp) json_object *o = NULL;
        assert_int_equal(snapshot_to_json(s, &o), 0);
        if (version >= 0)
                json_object_object_add(o, "formatVersion", json_object_new_int64(version));
        return strdup(json_to_string(o));
}

static void write_file(const char *dir, const char *name, const void *data, size_t size) {
        _cleanup_close_ int d = open(dir, O_DIRECTORY | O_CLOEXEC);
        assert_true(d >= 0);
        _cleanup_close_ int fd = openat(d, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, size), (ssize_t) size);
}

/* A snapshot as a save leaves it: record, state, and a sparse COW copy with two data regions. */
static void make_snapshot(const Fixture *f) {
        _cleanup_free_ char *text = record_text(COW_SIZE, -1), *path = NULL;
        static char state[300000];
        for (size_t i = 0; i < sizeof(state); i++)
                state[i] = (char) (i * 7);
        write_file(f->src, SNAPSHOT_RECORD_FILE, text, strlen(text));
        write_file(f->src, SNAPSHOT_STATE_FILE, state, sizeof(state));
        assert_true(asprintf(&path, "%s/cow.raw", f->src) > 0);
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, (off_t) COW_SIZE), 0);
        assert_int_equal(pwrite(fd, "boot sector", 11, 0), 11);
        char block[65536];
        memset(block, 'x', sizeof(block));
        assert_int_equal(pwrite(fd, block, sizeof(block), (off_t) COW_DATA_AT), (ssize_t) sizeof(block));
}

static int export(const Fixture *f, SnapshotCompression c) {
        _cleanup_close_ int d = open(f->src, O_DIRECTORY | O_CLOEXEC);
        _cleanup_close_ int out = open(f->archive, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        _cleanup_free_ char *error = NULL;
        assert_true(d >= 0 && out >= 0);
        int r = snapshot_archive_write(d, out, c, NULL, &error);
        if (r < 0)
                fprintf(stderr, "export: %s\n", error ?: strerror(-r));
        return r;
}

/* Imports f->archive into f->dst; the refusal message in *ret_error. */
static int import(const Fixture *f, Snapshot **ret, char **ret_error) {
        _cleanup_close_ int d = open(f->dst, O_DIRECTORY | O_CLOEXEC);
        _cleanup_close_ int in = open(f->archive, O_RDONLY | O_CLOEXEC);
        assert_true(d >= 0 && in >= 0);
        SnapshotArchiveIO io = {.cancel_fd = -EBADF, .stall_usec = 10 * USEC_PER_SEC};
        return snapshot_archive_read(in, d, &io, ret, ret_error);
}

static void assert_same_file(const Fixture *f, const char *name) {
        _cleanup_free_ char *pa = NULL, *pb = NULL;
        static char a[1 << 20], b[1 << 20];
        assert_true(asprintf(&pa, "%s/%s", f->src, name) > 0 && asprintf(&pb, "%s/%s", f->dst, name) > 0);
        _cleanup_close_ int fa = open(pa, O_RDONLY | O_CLOEXEC), fb = open(pb, O_RDONLY | O_CLOEXEC);
        assert_true(fa >= 0 && fb >= 0);
        for (;;) {
                ssize_t na = read(fa, a, sizeof(a)), nb = read(fb, b, sizeof(b));
                assert_true(na >= 0);
                assert_int_equal(na, nb);
                if (na == 0)
                        break;
                assert_memory_equal(a, b, (size_t) na);
        }
}

static int count_progress(uint64_t done, uint64_t total, void *userdata) {
        uint64_t *last = userdata;
        assert_true(done >= *last);
        assert_true(done <= total);
        *last = done;
        return 0;
}

static void test_round_trip(void **state) {
        Fixture *f = *state;
        assert_string_equal(SNAPSHOT_STATE_FILE, QEMU_STATE_FILE_NAME); /* one name for one file */
        make_snapshot(f);
        for (SnapshotCompression c = 0; c < _SNAPSHOT_COMPRESSION_MAX; c++) {
                _cleanup_(snapshot_freep) Snapshot *s = NULL;
                _cleanup_free_ char *error = NULL, *cow = NULL;
                assert_int_equal(snapshot_compression_from_string(snapshot_compression_to_string(c)), c);
                assert_int_equal(export(f, c), 0);
                int r = import(f, &s, &error);
                if (r < 0)
                        fprintf(stderr, "%s: %s\n", snapshot_compression_to_string(c), error);
                assert_int_equal(r, 0);
                assert_string_equal(s->name, "warm");
                assert_false(s->pending);
                assert_same_file(f, SNAPSHOT_STATE_FILE);
                assert_same_file(f, "cow.raw");
                /* Sparse stays sparse: 256 MiB apparent, some 68 KiB of data. */
                struct stat st;
                assert_true(asprintf(&cow, "%s/cow.raw", f->dst) > 0);
                assert_int_equal(stat(cow, &st), 0);
                assert_int_equal((uint64_t) st.st_size, COW_SIZE);
                assert_true((uint64_t) st.st_blocks * 512 < (1ULL << 20));
                /* The import never writes a record: the store does. */
                assert_int_equal(rm_rf(f->dst), 0);
                assert_int_equal(mkdir(f->dst, 0700), 0);
        }
        assert_int_equal(snapshot_compression_from_string("xz"), _SNAPSHOT_COMPRESSION_INVALID);

        /* Progress: the payload's data bytes, in order, up to the total. */
        _cleanup_close_ int d = open(f->src, O_DIRECTORY | O_CLOEXEC);
        _cleanup_close_ int out = open(f->archive, O_WRONLY | O_TRUNC | O_CLOEXEC);
        uint64_t last = 0;
        SnapshotArchiveIO io = {.cancel_fd = -EBADF, .progress = count_progress, .userdata = &last};
        assert_int_equal(snapshot_archive_write(d, out, SNAPSHOT_COMPRESSION_NONE, &io, NULL), 0);
        assert_int_equal(last, 300000 + 4096 + 65536); /* data is found in blocks */
}

/* ---- hostile archives ---- */

typedef struct Entry {
        const char *name;
        mode_t type; /* AE_IFREG when 0 */
        const char *data; /* NULL: record_text() */
        int64_t size; /* -1: strlen(data) */
        const char *link; /* hard link (type 0) or symlink target */
        bool header_only; /* stop after this header: a declared size with no data behind it */
} Entry;

static void build(const Fixture *f, const Entry *entries, size_t n, uint64_t storage, int64_t version) {
        struct archive *a = archive_write_new();
        _cleanup_free_ char *record = record_text(storage, version);
        assert_non_null(a);
        assert_int_equal(archive_write_set_format_pax(a), ARCHIVE_OK);
        assert_int_equal(archive_write_set_bytes_per_block(a, 0), ARCHIVE_OK); /* unbuffered */
        assert_int_equal(archive_write_open_filename(a, f->archive), ARCHIVE_OK);
        for (size_t i = 0; i < n; i++) {
                const Entry *x = entries + i;
                const char *data = x->data ?: record;
                int64_t size = x->size >= 0 ? x->size : (int64_t) strlen(data);
                struct archive_entry *e = archive_entry_new();
                archive_entry_set_pathname(e, x->name);
                archive_entry_set_filetype(e, x->type ?: AE_IFREG);
                archive_entry_set_perm(e, 0644);
                if (x->type == AE_IFLNK)
                        archive_entry_set_symlink(e, x->link);
                else if (x->link)
                        archive_entry_set_hardlink(e, x->link);
                if (x->type == AE_IFCHR)
                        archive_entry_set_rdev(e, makedev(1, 3));
                if (!x->type || x->type == AE_IFREG)
                        archive_entry_set_size(e, size);
                assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
                archive_entry_free(e);
                if (x->header_only) {
                        archive_write_fail(a);
                        break;
                }
                if ((!x->type || x->type == AE_IFREG) && !x->link)
                        assert_int_equal(archive_write_data(a, data, (size_t) size), size);
        }
        archive_write_close(a);
        archive_write_free(a);
}

/* build() with the record of a snapshot taken with backend. */
static void build_as(const Fixture *f, Entry *entries, size_t n, const char *backend) {
        _cleanup_(snapshot_freep) Snapshot *s = new_snapshot(1 << 20);
        _cleanup_(json_object_putp) json_object *o = NULL;
        free(s->backend);
        free(s->vm->vm.backend);
        assert_non_null(s->backend = strdup(backend));
        assert_non_null(s->vm->vm.backend = strdup(backend));
        assert_int_equal(snapshot_to_json(s, &o), 0);
        for (size_t i = 0; i < n; i++)
                if (streq(entries[i].name, SNAPSHOT_RECORD_FILE))
                        entries[i].data = json_to_string(o);
        build(f, entries, n, 1 << 20, -1);
}

static void assert_refused(const Fixture *f, const char *message) {
        _cleanup_free_ char *error = NULL;
        _cleanup_(snapshot_freep) Snapshot *s = NULL;
        int r = import(f, &s, &error);
        if (r != -EBADMSG || !error || !strstr(error, message))
                fprintf(stderr, "expected -EBADMSG '%s', got %d '%s'\n", message, r, error ?: "");
        assert_int_equal(r, -EBADMSG);
        assert_non_null(strstr(error, message));
        assert_null(s);
        assert_int_equal(rm_rf(f->dst), 0);
        assert_int_equal(mkdir(f->dst, 0700), 0);
}

#define RECORD                                                                                              \
        { .name = SNAPSHOT_RECORD_FILE, .size = -1 }
#define STATE                                                                                               \
        { .name = SNAPSHOT_STATE_FILE, .data = "state", .size = -1 }
#define COW                                                                                                 \
        { .name = "cow.raw", .data = "disk", .size = -1 }
#define BUILD(...)                                                                                          \
        do {                                                                                                \
                const Entry e_[] = {__VA_ARGS__};                                                           \
                build(f, e_, ELEMENTSOF(e_), COW_SIZE, -1);                                                 \
        } while (0)

/* A Firecracker or Cloud Hypervisor snapshot: its record (taken with backend), its backend's state files
 * (files, NULL-terminated) and a small COW copy. */
static void make_backend_snapshot(const Fixture *f, const char *backend, const char *const *files) {
        _cleanup_(snapshot_freep) Snapshot *s = new_snapshot(1 << 20);
        _cleanup_(json_object_putp) json_object *o = NULL;
        free(s->backend);
        free(s->vm->vm.backend);
        assert_non_null(s->backend = strdup(backend));
        assert_non_null(s->vm->vm.backend = strdup(backend));
        assert_int_equal(snapshot_to_json(s, &o), 0);
        const char *text = json_to_string(o);
        write_file(f->src, SNAPSHOT_RECORD_FILE, text, strlen(text));
        for (size_t i = 0; files[i]; i++)
                write_file(f->src, files[i], files[i], strlen(files[i]));
        write_file(f->src, "cow.raw", "disk", 4);
}

static void reset_dir(const char *dir) {
        assert_int_equal(rm_rf(dir), 0);
        assert_int_equal(mkdir(dir, 0700), 0);
}

/* Each backend's state files are its snapshot's payload: exported, required on import, and the other
 * backends' names refused. */
static void test_backend_payload(void **state) {
        static const char *const fc[] = {FIRECRACKER_STATE_FILE_NAME, FIRECRACKER_MEMORY_FILE_NAME, NULL};
        static const char *const ch[] = {"config.json", "state.json", "memory-ranges", NULL};
        static const struct {
                const char *backend;
                const char *const *files;
        } cases[] = { { "firecracker", fc }, { "cloud-hypervisor", ch } };
        Fixture *f = *state;

        for (size_t c = 0; c < ELEMENTSOF(cases); c++) {
                const char *const *files = cases[c].files;
                _cleanup_free_ const char **required = NULL;
                reset_dir(f->src);
                make_backend_snapshot(f, cases[c].backend, files);

                /* The exported archive brings every state file; the import keeps them. */
                assert_int_equal(export(f, SNAPSHOT_COMPRESSION_NONE), 0);
                _cleanup_(snapshot_freep) Snapshot *s = NULL;
                _cleanup_free_ char *error = NULL;
                int r = import(f, &s, &error);
                if (r < 0)
                        fprintf(stderr, "%s: %s\n", cases[c].backend, error);
                assert_int_equal(r, 0);
                assert_string_equal(s->backend, cases[c].backend);
                for (size_t i = 0; files[i]; i++) {
                        assert_same_file(f, files[i]);
                        assert_true(snapshot_state_file_is(s, files[i]));
                }
                assert_int_equal(snapshot_payload_required(s, &required), 0);
                for (size_t i = 0; files[i]; i++)
                        assert_true(strv_contains((char **) required, files[i]));
                /* QEMU's RAM file is no payload of theirs. */
                assert_false(snapshot_payload_name_is_valid(s, SNAPSHOT_MEMORY_FILE, NULL));
                reset_dir(f->dst);

                /* Without its last state file (mem, memory-ranges): the export refuses, and an archive
                 * that lacks it is refused on import. */
                const char *last = files[strv_length((char **) files) - 1];
                _cleanup_free_ char *path = NULL;
                assert_true(asprintf(&path, "%s/%s", f->src, last) > 0);
                assert_int_equal(unlink(path), 0);
                assert_true(export(f, SNAPSHOT_COMPRESSION_NONE) < 0);
                Entry entries[8] = {{.name = SNAPSHOT_RECORD_FILE, .size = -1}};
                size_t n = 1;
                for (size_t i = 0; files[i] && files[i] != last; i++)
                        entries[n++] = (Entry){.name = files[i], .data = "x", .size = -1};
                entries[n++] = (Entry){.name = "cow.raw", .data = "disk", .size = -1};
                build_as(f, entries, n, cases[c].backend);
                _cleanup_free_ char *lacks = NULL;
                assert_true(asprintf(&lacks, "the archive lacks the snapshot's %s", last) > 0);
                assert_refused(f, lacks);
        }
}

static void test_hostile(void **state) {
        Fixture *f = *state;

        /* Not a tar at all; nothing in it; the good shape is accepted (the cases below differ by one). */
        write_file(f->tmp, "archive.tar", "hello, this is no tar archive\n", 30);
        assert_refused(f, "not a snapshot archive");
        write_file(f->tmp, "archive.tar", "", 0);
        assert_refused(f, "not a snapshot archive");
        BUILD(RECORD, STATE, COW);
        _cleanup_free_ char *error = NULL;
        _cleanup_(snapshot_freep) Snapshot *s = NULL;
        assert_int_equal(import(f, &s, &error), 0);
        assert_int_equal(rm_rf(f->dst), 0);
        assert_int_equal(mkdir(f->dst, 0700), 0);

        BUILD(STATE, RECORD, COW);
        assert_refused(f, "first entry is 'vmstate': snapshot.json must be the first entry");
        BUILD(STATE, COW);
        assert_refused(f, "snapshot.json must be the first entry");
        BUILD(RECORD, {.name = "../../etc/cron.d/evil", .data = "x", .size = -1}, STATE, COW);
        assert_refused(f, "entry '../../etc/cron.d/evil' has a path");
        BUILD(RECORD, {.name = "sub/vmstate", .data = "x", .size = -1}, COW);
        assert_refused(f, "has a path");
        BUILD(RECORD, {.name = SNAPSHOT_STATE_FILE, .type = AE_IFLNK, .link = "/etc/shadow"}, COW);
        assert_refused(f, "entry 'vmstate' is a symbolic link");
        BUILD(RECORD, {.name = SNAPSHOT_STATE_FILE, .link = SNAPSHOT_RECORD_FILE, .size = 0}, COW);
        assert_refused(f, "entry 'vmstate' is a hard link");
        BUILD(RECORD, {.name = SNAPSHOT_STATE_FILE, .type = AE_IFDIR}, COW);
        assert_refused(f, "is a directory: only regular files");
        BUILD(RECORD, {.name = SNAPSHOT_STATE_FILE, .type = AE_IFCHR}, COW);
        assert_refused(f, "entry 'vmstate' is a device");
        BUILD(RECORD, STATE, STATE, COW);
        assert_refused(f, "entry 'vmstate' appears twice");
        BUILD(RECORD, RECORD, STATE, COW);
        assert_refused(f, "entry 'snapshot.json' appears twice");
        BUILD(RECORD, STATE, COW, {.name = "pending.json", .data = "{}", .size = -1});
        assert_refused(f, "entry 'pending.json' is not part of a snapshot's payload");
        BUILD(RECORD, STATE, {.name = "evil\n\x1b[2J", .data = "x", .size = -1});
        assert_refused(f, "entry 'evil\\x0a\\x1b[2J' is not part of");
        BUILD(RECORD, STATE);
        assert_refused(f, "the archive lacks the snapshot's cow.raw");
        BUILD(RECORD, COW);
        assert_refused(f, "the archive lacks the snapshot's vmstate");
        BUILD({.name = SNAPSHOT_RECORD_FILE, .data = "{\"formatVersion\": 1", .size = -1}, STATE, COW);
        assert_refused(f, "snapshot.json is not valid JSON");
        BUILD({.name = SNAPSHOT_RECORD_FILE, .data = "{\"formatVersion\": 1, \"id\": \"x\"}", .size = -1});
        assert_refused(f, "snapshot.json: field ");

        const Entry newer[] = {RECORD, STATE, COW};
        build(f, newer, ELEMENTSOF(newer), COW_SIZE, 99);
        assert_refused(f, "snapshot.json has format version 99, this cocoon reads version 1");

        /* 1 TB declared: beyond what the record allows a state file, and (where the record allows it)
         * beyond the free space; refused from the header, before any data. */
        BUILD(RECORD, {.name = SNAPSHOT_STATE_FILE, .size = 1LL << 40, .header_only = true});
        assert_refused(f, "entry 'vmstate' declares 1Ti, more than the 1.1Gi the snapshot allows");
        const Entry big[] = {RECORD, STATE, {.name = "cow.raw", .size = 1LL << 40, .header_only = true}};
        build(f, big, ELEMENTSOF(big), 4ULL << 40, -1);
        assert_refused(f, "entry 'cow.raw' needs 1.0Ti, more than the ");
        /* Truncated: the declared data is not there. */
        BUILD(RECORD, STATE, {.name = "cow.raw", .size = 1 << 20, .header_only = true});
        assert_refused(f, "the archive is truncated or damaged");
}

/* A good archive cut short, and one whose sparse map points past the file's end. */
static void test_truncated_and_sparse_map(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *bytes = NULL;
        size_t size;

        make_snapshot(f);
        assert_int_equal(export(f, SNAPSHOT_COMPRESSION_NONE), 0);
        assert_int_equal(read_full_file(f->archive, &bytes, &size), 0);
        write_file(f->tmp, "archive.tar", bytes, size * 2 / 3);
        assert_refused(f, "the archive is truncated or damaged");
        write_file(f->tmp, "archive.tar", bytes, 700); /* in snapshot.json */
        assert_refused(f, "truncated");

        /* The map "…\n104857600\n65536\n" becomes 904857600: past the 256 MiB the entry has. */
        char *at = memmem(bytes, size, "\n104857600\n", 11);
        assert_non_null(at);
        at[1] = '9';
        write_file(f->tmp, "archive.tar", bytes, size);
        assert_refused(f, "the sparse map of entry 'cow.raw' reaches beyond its size");
}

static int cancel_at_once(uint64_t done, uint64_t total, void *userdata) {
        return -ECANCELED;
}

static void test_cancel(void **state) {
        Fixture *f = *state;
        make_snapshot(f);
        _cleanup_close_ int d = open(f->src, O_DIRECTORY | O_CLOEXEC);
        _cleanup_close_ int out = open(f->archive, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        SnapshotArchiveIO io = {.cancel_fd = -EBADF, .progress = cancel_at_once};
        assert_int_equal(snapshot_archive_write(d, out, SNAPSHOT_COMPRESSION_NONE, &io, NULL), -ECANCELED);

        /* A reader that is cancelled: the cancel fd polls readable. */
        assert_int_equal(export(f, SNAPSHOT_COMPRESSION_NONE), 0);
        int p[2];
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        assert_int_equal(write(p[1], "x", 1), 1);
        _cleanup_close_ int dst = open(f->dst, O_DIRECTORY | O_CLOEXEC);
        _cleanup_close_ int in = open(f->archive, O_RDONLY | O_CLOEXEC);
        _cleanup_free_ char *error = NULL;
        io = (SnapshotArchiveIO){.cancel_fd = p[0]};
        assert_int_equal(snapshot_archive_read(in, dst, &io, NULL, &error), -ECANCELED);
        close(p[0]);
        close(p[1]);

        /* A sender that stalls: a pipe nobody writes to. */
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        io = (SnapshotArchiveIO){.cancel_fd = -EBADF, .stall_usec = 100 * USEC_PER_MSEC};
        error = mfree(error);
        assert_int_equal(snapshot_archive_read(p[0], dst, &io, NULL, &error), -ETIMEDOUT);
        assert_non_null(strstr(error, "sent nothing"));
        close(p[0]);
        close(p[1]);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
                cmocka_unit_test_setup_teardown(test_hostile, setup, teardown),
                cmocka_unit_test_setup_teardown(test_backend_payload, setup, teardown),
                cmocka_unit_test_setup_teardown(test_truncated_and_sparse_map, setup, teardown),
                cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
