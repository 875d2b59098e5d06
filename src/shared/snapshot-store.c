/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The snapshot store: records on disk and in memory, pending saves, reference resolution, GC planning. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs-util.h"
#include "hashmap.h"
#include "json-util.h"
#include "log.h"
#include "record-dispatch.h"
#include "resolve.h"
#include "snapshot-store.h"
#include "strv-util.h"
#include "time-util.h"

struct SnapshotStore {
        char *root; /* <state>/snapshots */
        Hashmap *all; /* id -> Snapshot*, pending ones too */
        Hashmap *ids; /* id -> Snapshot*, complete ones: what references resolve against */
        Hashmap *names; /* name -> id (char *, the Snapshot's), every record: names are reserved at once */
        char **quarantined; /* ids whose record did not load: their payload is not GC's */
        unsigned n_corrupt;
};

Snapshot *snapshot_free(Snapshot *s) {
        if (!s)
                return NULL;
        free(s->name);
        free(s->description);
        free(s->backend);
        free(s->hypervisor_version);
        free(s->machine);
        free(s->cpu_model);
        free(s->accel);
        vm_record_free(s->vm);
        return mfree(s);
}

/* ---- JSON ---- */

static int add_timestamp(json_object *o, const char *key, uint64_t usec) {
        _cleanup_free_ char *t = NULL;
        int r = timestamp_format_rfc3339(usec, &t);
        if (r < 0)
                return r;
        return json_add_string(o, key, t);
}

static int add_common(const Snapshot *s, json_object *o) {
        int r;
        if ((r = json_add_string(o, "id", s->id)) < 0 || (r = json_add_string(o, "name", s->name)) < 0 ||
            (r = json_add_string(o, "description", s->description)) < 0 ||
            (r = add_timestamp(o, "createdAt", s->created_at)) < 0 ||
            (r = json_add_string(o, "backend", s->backend)) < 0 ||
            (r = json_add_string(o, "hypervisorVersion", s->hypervisor_version)) < 0 ||
            (r = json_add_string(o, "machine", s->machine)) < 0 ||
            (r = json_add_string(o, "cpuModel", s->cpu_model)) < 0 ||
            (r = json_add_string(o, "accel", s->accel)) < 0 ||
            (r = json_add_string(o, "memoryFormat", s->memory_file ? "file" : "stream")) < 0)
                return r;
        return 0;
}

int snapshot_to_json(const Snapshot *s, json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        json_object *vm = NULL;
        int r;
        if (!o)
                return -ENOMEM;
        if ((r = json_add_uint64(o, "formatVersion", SNAPSHOT_FORMAT_VERSION)) < 0 ||
            (r = add_common(s, o)) < 0)
                return r;
        if (s->vm && ((r = vm_record_to_json(s->vm, &vm)) < 0 || (r = json_add_object(o, "vm", vm)) < 0))
                return r;
        *ret = TAKE_PTR(o);
        return 0;
}

int snapshot_to_public_json(const Snapshot *s, json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        json_object *config = json_object_new_object(), *disks = json_object_new_array();
        const VMRecord *vm = s->vm;
        int r;
        if (!o || !config || !disks) {
                json_object_put(config);
                json_object_put(disks);
                return -ENOMEM;
        }
        if ((r = json_add_object(o, "config", config)) < 0 ||
            (r = json_add_object(o, "storageConfigs", disks)) < 0 || (r = add_common(s, o)) < 0)
                return r;
        if (!vm)
                goto done;
        if ((r = json_add_string(o, "vm", vm->vm.id)) < 0 ||
            (r = json_add_int64(config, "cpu", vm->vm.config.cpu)) < 0 ||
            (r = json_add_uint64(config, "memory", vm->vm.config.memory)) < 0 ||
            (r = json_add_uint64(config, "storage", vm->vm.config.storage)) < 0 ||
            (r = json_add_string(config, "image", vm->vm.config.image)) < 0 ||
            (r = json_add_string(config, "imageDigest", vm->vm.config.image_digest)) < 0 ||
            (r = json_add_strv(o, "imageBlobIds", vm->image_blob_ids)) < 0)
                return r;
        for (size_t i = 0; i < vm->vm.n_storage_configs; i++) {
                json_object *d;
                if ((r = storage_config_to_json(vm->vm.storage_configs + i, &d)) < 0)
                        return r;
                if (json_object_array_add(disks, d) < 0) {
                        json_object_put(d);
                        return -ENOMEM;
                }
        }
done:
        *ret = TAKE_PTR(o);
        return 0;
}

static int dispatch_vm(const char *name, json_object *v, void *p) {
        VMRecord **vm = p;
        vm_record_free(*vm);
        *vm = NULL;
        return vm_record_from_json(v, vm, NULL);
}

static int dispatch_version(const char *name, json_object *v, void *p) {
        uint64_t version;
        int r = json_dispatch_uint64(name, v, &version);
        if (r < 0)
                return r;
        /* A newer format may mean a payload this code would misread: refuse, never guess. */
        return version == SNAPSHOT_FORMAT_VERSION ? 0 : -EPROTONOSUPPORT;
}

static int dispatch_memory_format(const char *name, json_object *v, void *p) {
        const char *format = json_object_get_string(v);
        if (!streq_ptr(format, "file") && !streq_ptr(format, "stream"))
                return -EINVAL;
        *(bool *) p = streq(format, "file");
        return 0;
}

#define S(field) offsetof(Snapshot, field)
static const JsonDispatch snapshot_dispatch_table[] = {
        {"formatVersion", json_type_int, dispatch_version, 0, JSON_MANDATORY},
        {"id", json_type_string, record_dispatch_id, S(id), JSON_MANDATORY},
        {"name", json_type_string, json_dispatch_string, S(name), JSON_MANDATORY},
        {"description", json_type_string, json_dispatch_string, S(description), JSON_NULLABLE},
        {"createdAt", json_type_string, record_dispatch_timestamp, S(created_at), JSON_MANDATORY},
        {"backend", json_type_string, json_dispatch_string, S(backend), JSON_MANDATORY},
        {"hypervisorVersion", json_type_string, json_dispatch_string, S(hypervisor_version), JSON_MANDATORY},
        {"machine", json_type_string, json_dispatch_string, S(machine), JSON_MANDATORY},
        {"cpuModel", json_type_string, json_dispatch_string, S(cpu_model), JSON_MANDATORY},
        {"accel", json_type_string, json_dispatch_string, S(accel), JSON_MANDATORY},
        {"memoryFormat", json_type_string, dispatch_memory_format, S(memory_file), 0},
        {"vm", json_type_object, dispatch_vm, S(vm), JSON_MANDATORY},
        {},
};
#undef S

int snapshot_from_json(json_object *o, Snapshot **ret, const char **ret_bad_field) {
        _cleanup_(snapshot_freep) Snapshot *s = calloc(1, sizeof(Snapshot));
        if (!s)
                return -ENOMEM;
        if (!json_object_is_type(o, json_type_object))
                return -EINVAL;
        int r = json_dispatch(o, snapshot_dispatch_table, 0, s, ret_bad_field);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(s);
        return 0;
}

static int invalid(const char **ret_field, char **ret_message, const char *field, const char *format, ...)
        _printf_(4, 5);
static int invalid(const char **ret_field, char **ret_message, const char *field, const char *format, ...) {
        if (ret_field)
                *ret_field = field;
        if (ret_message) {
                va_list ap;
                va_start(ap, format);
                int k = vasprintf(ret_message, format, ap);
                va_end(ap);
                if (k < 0) {
                        *ret_message = NULL;
                        return -ENOMEM;
                }
        }
        return -EINVAL;
}

static bool text_is_printable(const char *s) {
        for (; s && *s; s++)
                if ((unsigned char) *s < 0x20 || *s == 0x7f)
                        return false;
        return true;
}

int snapshot_validate(const Snapshot *s, const char **ret_field, char **ret_message) {
        if (!id_is_valid(s->id))
                return invalid(ret_field, ret_message, "id", "id '%s' is not an ID", s->id);
        if (!vm_name_is_valid(s->name))
                return invalid(
                        ret_field, ret_message, "name",
                        "name must be 1-63 characters of A-Z a-z 0-9 . _ -, starting with a letter or "
                        "digit");
        if (s->description &&
            (strlen(s->description) > SNAPSHOT_DESCRIPTION_MAX || !text_is_printable(s->description)))
                return invalid(ret_field, ret_message, "description",
                               "description must be at most %u printable characters",
                               SNAPSHOT_DESCRIPTION_MAX);
        if (!vm_backend_name_is_valid(s->backend))
                return invalid(ret_field, ret_message, "backend", "backend is not a backend name");
        const char *const fields[] = {"hypervisorVersion", "machine", "cpuModel", "accel"};
        const char *const values[] = {s->hypervisor_version, s->machine, s->cpu_model, s->accel};
        for (size_t i = 0; i < ELEMENTSOF(fields); i++)
                if (!values[i] || strlen(values[i]) == 0 || strlen(values[i]) > 64 ||
                    !text_is_printable(values[i]))
                        return invalid(ret_field, ret_message, fields[i], "%s is missing or invalid",
                                       fields[i]);
        if (!s->vm)
                return invalid(ret_field, ret_message, "vm", "vm is missing");
        const char *vm_field = NULL;
        _cleanup_free_ char *vm_message = NULL;
        if (vm_record_validate(s->vm, &vm_field, &vm_message) < 0)
                return invalid(ret_field, ret_message, "vm", "vm.%s: %s", vm_field ?: "?",
                               vm_message ?: "invalid");
        /* A writable disk is in the payload under its base name: two of one name would collide, and so would
         * one named like another payload file. */
        static const char *const payload[] = {SNAPSHOT_STATE_FILE, SNAPSHOT_MEMORY_FILE,
                                              SNAPSHOT_RECORD_FILE, SNAPSHOT_PENDING_FILE};
        for (size_t i = 0; i < s->vm->vm.n_storage_configs; i++) {
                const StorageConfig *d = s->vm->vm.storage_configs + i;
                const char *n = strrchr(d->path, '/');
                if (!d->read_only && n && snapshot_state_file_is(s, n + 1))
                        return invalid(ret_field, ret_message, "vm",
                                       "a writable disk is named %s, like a payload file", n + 1);
                for (size_t k = 0; !d->read_only && n && k < ELEMENTSOF(payload); k++)
                        if (streq(n + 1, payload[k]))
                                return invalid(ret_field, ret_message, "vm",
                                               "a writable disk is named %s, like a payload file", n + 1);
        }
        for (size_t i = 0; i < s->vm->vm.n_storage_configs; i++)
                for (size_t j = 0; j < i; j++) {
                        const StorageConfig *a = s->vm->vm.storage_configs + i,
                                            *b = s->vm->vm.storage_configs + j;
                        const char *na = strrchr(a->path, '/'), *nb = strrchr(b->path, '/');
                        if (!a->read_only && !b->read_only && na && nb && streq(na, nb))
                                return invalid(ret_field, ret_message, "vm",
                                               "two writable disks share the name %s", na + 1);
                }
        return 0;
}

/* ---- the payload ---- */

const char *const snapshot_state_files[] = {SNAPSHOT_STATE_FILE, SNAPSHOT_MEMORY_FILE, NULL};

/* The state files each backend's snapshot() leaves in the payload, all required: Firecracker's
 * /snapshot/create writes its device state and its guest RAM (firecracker.h), Cloud Hypervisor's
 * vm.snapshot its configuration, device state and RAM (cloud-hypervisor.c). QEMU's are
 * snapshot_state_files (the RAM file only with memoryFormat "file"). */
static const char *const firecracker_state_files[] = {"vmstate", "mem", NULL};
static const char *const cloud_hypervisor_state_files[] = {"config.json", "state.json", "memory-ranges",
                                                             NULL};

const char *const *snapshot_backend_state_files(const char *backend) {
        if (streq_ptr(backend, "firecracker"))
                return firecracker_state_files;
        if (streq_ptr(backend, "cloud-hypervisor"))
                return cloud_hypervisor_state_files;
        return NULL;
}

bool snapshot_state_file_is(const Snapshot *s, const char *name) {
        const char *const *own = snapshot_backend_state_files(s ? s->backend : NULL);
        return name && strv_contains((char **) (own ?: snapshot_state_files), name);
}

/* The base name of a writable disk's path: its copy's name in the payload; NULL for none. */
static const char *disk_copy_name(const StorageConfig *d) {
        const char *base = d->read_only || !d->path ? NULL : strrchr(d->path, '/');
        return base && !isempty(base + 1) ? base + 1 : NULL;
}

bool snapshot_payload_name_is_valid(const Snapshot *s, const char *name, bool *ret_required) {
        bool required = false, found = false;
        const char *const *own = snapshot_backend_state_files(s ? s->backend : NULL);
        if (!name)
                return false;
        if (own)
                found = required = strv_contains((char **) own, name);
        for (size_t i = 0; !own && snapshot_state_files[i]; i++)
                if (streq(name, snapshot_state_files[i])) {
                        /* The RAM file belongs to a snapshot whose memoryFormat is "file", and to no other. */
                        found = !streq(name, SNAPSHOT_MEMORY_FILE) || (s && s->memory_file);
                        required = found;
                }
        for (size_t i = 0; !found && s && s->vm && i < s->vm->vm.n_storage_configs; i++)
                if (streq_ptr(disk_copy_name(s->vm->vm.storage_configs + i), name))
                        found = required = true;
        /* A record file is never payload: an archive must not bring its own pending.json. */
        if (!found || streq(name, SNAPSHOT_RECORD_FILE) || streq(name, SNAPSHOT_PENDING_FILE))
                return false;
        if (ret_required)
                *ret_required = required;
        return true;
}

int snapshot_payload_required(const Snapshot *s, const char ***ret) {
        const char *const *own = snapshot_backend_state_files(s->backend);
        size_t n = s->vm ? s->vm->vm.n_storage_configs : 0, k = 0;
        const char **list = calloc(n + 3 + strv_length((char **) own), sizeof(char *));
        if (!list)
                return -ENOMEM;
        for (size_t i = 0; own && own[i]; i++)
                list[k++] = own[i];
        if (!own)
                list[k++] = SNAPSHOT_STATE_FILE;
        if (!own && s->memory_file)
                list[k++] = SNAPSHOT_MEMORY_FILE;
        for (size_t i = 0; i < n; i++) {
                const char *name = disk_copy_name(s->vm->vm.storage_configs + i);
                if (name)
                        list[k++] = name;
        }
        *ret = list;
        return 0;
}

/* ---- the store ---- */

SnapshotStore *snapshot_store_free(SnapshotStore *s) {
        if (!s)
                return NULL;
        const char *key;
        void *value;
        for (size_t state = 0; hashmap_iterate(s->all, &state, &key, &value);)
                snapshot_free(value);
        hashmap_free(s->all);
        hashmap_free(s->ids);
        hashmap_free(s->names);
        strv_free(s->quarantined);
        free(s->root);
        return mfree(s);
}

const char *snapshot_store_root(const SnapshotStore *s) {
        return s->root;
}

int snapshot_store_dir(const SnapshotStore *s, const char *id, char **ret) {
        if (!id_is_valid(id))
                return -EINVAL;
        return asprintf(ret, "%s/%s", s->root, id) < 0 ? -ENOMEM : 0;
}

/* Adds snap to the maps (takes it on success). */
static int index_add(SnapshotStore *s, Snapshot *snap) {
        if (hashmap_contains(s->all, snap->id))
                return -EEXIST;
        if (hashmap_contains(s->names, snap->name))
                return -EEXIST;
        int r = hashmap_reserve(s->names, 1);
        if (r >= 0)
                r = hashmap_reserve(s->ids, 1);
        if (r >= 0)
                r = hashmap_put(s->all, snap->id, snap);
        if (r < 0)
                return r;
        (void) hashmap_put(s->names, snap->name, snap->id);
        if (!snap->pending)
                (void) hashmap_put(s->ids, snap->id, snap);
        return 0;
}

static Snapshot *index_remove(SnapshotStore *s, const char *id) {
        Snapshot *snap = hashmap_remove(s->all, id);
        if (!snap)
                return NULL;
        (void) hashmap_remove(s->ids, id);
        if (hashmap_get(s->names, snap->name) == snap->id)
                (void) hashmap_remove(s->names, snap->name);
        return snap;
}

static int write_record(const SnapshotStore *s, const Snapshot *snap, const char *file) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_free_ char *path = NULL;
        int r = snapshot_to_json(snap, &o);
        if (r < 0)
                return r;
        if (asprintf(&path, "%s/%s", snap->id, file) < 0)
                return -ENOMEM;
        _cleanup_close_ int root_fd = open(s->root, O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0)
                return -errno;
        const char *text = json_to_string(o);
        return write_file_atomic_at(root_fd, path, text, strlen(text), 0600);
}

/* Moves a record that cannot be used aside, so the next start does not trip over it again. */
static void quarantine(SnapshotStore *s, int dir_fd, const char *id, const char *file) {
        char target[256];
        snprintf(target, sizeof(target), "%s%s%llu", file, ".corrupt-",
                 (unsigned long long) now_usec(CLOCK_REALTIME));
        if (renameat(dir_fd, file, dir_fd, target) < 0)
                log_debug("Cannot move snapshot record %s/%s aside: %m", id, file);
        s->n_corrupt++;
        (void) strv_extend(&s->quarantined, id);
}

static int load_one(SnapshotStore *s, int root_fd, const char *id) {
        _cleanup_close_ int dir_fd = openat(root_fd, id, O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (dir_fd < 0)
                return errno == ENOTDIR ? 0 : -errno;
        const char *file = SNAPSHOT_RECORD_FILE;
        bool pending = false;
        if (faccessat(dir_fd, file, F_OK, AT_SYMLINK_NOFOLLOW) < 0) {
                file = SNAPSHOT_PENDING_FILE;
                pending = true;
                if (faccessat(dir_fd, file, F_OK, AT_SYMLINK_NOFOLLOW) < 0) {
                        /* Quarantined before, or an orphan for GC. */
                        _cleanup_(closedirp) DIR *d = fdopendir(TAKE_FD(dir_fd));
                        struct dirent *de;
                        while (d && (de = readdir(d)))
                                if (strstr(de->d_name, ".corrupt-"))
                                        return strv_extend(&s->quarantined, id);
                        return 0;
                }
        }

        _cleanup_free_ char *text = NULL;
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_(snapshot_freep) Snapshot *snap = NULL;
        size_t size;
        int r = read_full_file_at(dir_fd, file, 4U * 1024U * 1024U, &text, &size);
        if (r >= 0)
                r = json_parse(text, size, &o);
        if (r >= 0)
                r = snapshot_from_json(o, &snap, NULL);
        if (r == -ENOMEM)
                return r;
        if (r < 0 || snapshot_validate(snap, NULL, NULL) < 0 || !streq(snap->id, id)) {
                log_warning("Snapshot record %s/%s/%s is invalid, moved aside.", s->root, id, file);
                quarantine(s, dir_fd, id, file);
                return 0;
        }
        snap->pending = snap->leftover = pending;
        if (!pending)
                (void) unlinkat(dir_fd, SNAPSHOT_PENDING_FILE, 0); /* a commit cut short after the rename */
        r = index_add(s, snap);
        if (r == -EEXIST) {
                log_warning("Snapshot %s repeats the name '%s' of another, moved aside.", id, snap->name);
                quarantine(s, dir_fd, id, file);
                return 0;
        }
        if (r < 0)
                return r;
        TAKE_PTR(snap);
        return 0;
}

int snapshot_store_open(const char *state_dir, SnapshotStore **ret) {
        _cleanup_(snapshot_store_freep) SnapshotStore *s = calloc(1, sizeof(SnapshotStore));
        int r;
        if (!s || asprintf(&s->root, "%s/snapshots", state_dir) < 0)
                return -ENOMEM;
        if ((r = hashmap_new(&s->all)) < 0 || (r = hashmap_new(&s->ids)) < 0 ||
            (r = hashmap_new(&s->names)) < 0)
                return r;
        if ((r = mkdir_p(s->root, 0700)) < 0)
                return r;
        _cleanup_close_ int root_fd = open(s->root, O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0)
                return -errno;
        _cleanup_(closedirp) DIR *d = fdopendir(fcntl(root_fd, F_DUPFD_CLOEXEC, 3));
        if (!d)
                return -errno;
        struct dirent *de;
        while ((de = readdir(d)))
                if (id_is_valid(de->d_name) && (r = load_one(s, root_fd, de->d_name)) < 0)
                        return r;
        *ret = TAKE_PTR(s);
        return 0;
}

Snapshot *snapshot_store_get(const SnapshotStore *s, const char *id) {
        return id ? hashmap_get(s->all, id) : NULL;
}

const Snapshot *snapshot_store_get_by_name(const SnapshotStore *s, const char *name) {
        const char *id = name ? hashmap_get(s->names, name) : NULL;
        return id ? hashmap_get(s->all, id) : NULL;
}

int snapshot_store_resolve(const SnapshotStore *s, const char *ref, const Snapshot **ret,
                           char ***ret_candidates) {
        const char *id;
        int r = resolve_ref(s->ids, s->names, ref, &id, ret_candidates);
        if (r < 0)
                return r;
        *ret = hashmap_get(s->ids, id);
        return 0;
}

int snapshot_store_begin(SnapshotStore *s, Snapshot *snap_in) {
        _cleanup_(snapshot_freep) Snapshot *snap = snap_in;
        _cleanup_free_ char *dir = NULL;
        int r;

        if (snapshot_store_get_by_name(s, snap->name) || hashmap_contains(s->all, snap->id))
                return -EEXIST;
        if ((r = snapshot_store_dir(s, snap->id, &dir)) < 0)
                return r;
        if (mkdir(dir, 0700) < 0)
                return -errno;
        snap->pending = true;
        snap->leftover = false;
        r = write_record(s, snap, SNAPSHOT_PENDING_FILE);
        if (r >= 0)
                r = index_add(s, snap);
        if (r < 0) {
                (void) rm_rf(dir);
                return r;
        }
        TAKE_PTR(snap);
        return 0;
}

int snapshot_store_commit(SnapshotStore *s, const char *id) {
        Snapshot *snap = hashmap_get(s->all, id);
        _cleanup_free_ char *pending = NULL;
        if (!snap)
                return -ENOENT;
        if (!snap->pending)
                return 0;
        int r = hashmap_reserve(s->ids, 1);
        if (r < 0)
                return r;
        snap->pending = false;
        r = write_record(s, snap, SNAPSHOT_RECORD_FILE);
        if (r < 0) {
                snap->pending = true;
                return r;
        }
        (void) hashmap_put(s->ids, snap->id, snap);
        if (asprintf(&pending, "%s/%s/%s", s->root, id, SNAPSHOT_PENDING_FILE) >= 0)
                (void) unlink(pending);
        return 0;
}

int snapshot_store_forget(SnapshotStore *s, const char *id) {
        Snapshot *snap = hashmap_get(s->all, id);
        if (!snap)
                return -ENOENT;
        static const char *const files[] = {SNAPSHOT_RECORD_FILE, SNAPSHOT_PENDING_FILE};
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                _cleanup_free_ char *path = NULL;
                if (asprintf(&path, "%s/%s/%s", s->root, id, files[i]) < 0)
                        return -ENOMEM;
                if (unlink(path) < 0 && errno != ENOENT)
                        return -errno;
        }
        snapshot_free(index_remove(s, id));
        return 0;
}

bool snapshot_store_iterate(const SnapshotStore *s, size_t *state, Snapshot **ret) {
        const char *key;
        void *value;
        if (!hashmap_iterate(s->all, state, &key, &value))
                return false;
        *ret = value;
        return true;
}

size_t snapshot_store_count(const SnapshotStore *s) {
        return hashmap_size(s->ids);
}

unsigned snapshot_store_corrupt_count(const SnapshotStore *s) {
        return s->n_corrupt;
}

int snapshot_store_gc(SnapshotStore *s, char ***ret_dirs) {
        _cleanup_strv_free_ char **dirs = NULL, **leftovers = NULL;
        Snapshot *snap;
        int r;

        for (size_t state = 0; snapshot_store_iterate(s, &state, &snap);)
                if (snap->leftover && strv_extend(&leftovers, snap->id) < 0)
                        return -ENOMEM;
        for (char **id = leftovers; id && *id; id++)
                if ((r = snapshot_store_forget(s, *id)) < 0)
                        return r;

        _cleanup_(closedirp) DIR *d = opendir(s->root);
        if (!d)
                return -errno;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (!id_is_valid(de->d_name) || hashmap_contains(s->all, de->d_name) ||
                    strv_contains(s->quarantined, de->d_name))
                        continue;
                char *p;
                if (asprintf(&p, "%s/%s", s->root, de->d_name) < 0)
                        return -ENOMEM;
                if ((r = strv_push(&dirs, p)) < 0) {
                        free(p);
                        return r;
                }
        }
        *ret_dirs = TAKE_PTR(dirs);
        return 0;
}
