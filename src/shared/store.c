/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The VM record store: one JSON file per VM (<state>/vms/<id>/vm.json), all records indexed in memory. */
#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#include "fs-util.h"
#include "id.h"
#include "json-util.h"
#include "log.h"
#include "store.h"

struct Store {
        char *state_dir;
        int lock_fd;
        int vms_fd; /* <state_dir>/vms */
        Hashmap *by_id; /* id -> VMRecord* (owned); key is the record's id */
        Hashmap *by_name; /* name -> id; both point into the owning record */
        Hashmap *quarantined; /* id -> the same id string (owned) */
        size_t n_state[_VM_STATE_MAX];
        /* Records whose name another record owns; only possible with records written by something else. */
        size_t n_name_conflicts;
        unsigned n_corrupt;
};

const char *store_get_state_dir(const Store *s) {
        return s->state_dir;
}

const Hashmap *store_get_ids(const Store *s) {
        return s->by_id;
}

const Hashmap *store_get_names(const Store *s) {
        return s->by_name;
}

int store_vm_dir(const Store *s, const char *id, char **ret) {
        char *p;

        if (!id_is_valid(id))
                return -EINVAL;
        if (asprintf(&p, "%s/vms/%s", s->state_dir, id) < 0)
                return -ENOMEM;
        *ret = p;
        return 0;
}

Store *store_free(Store *s) {
        size_t state = 0;
        void *v;

        if (!s)
                return NULL;
        while (hashmap_iterate(s->by_id, &state, NULL, &v))
                vm_record_free(v);
        hashmap_free(s->by_id);
        hashmap_free(s->by_name);
        state = 0;
        while (hashmap_iterate(s->quarantined, &state, NULL, &v))
                free(v);
        hashmap_free(s->quarantined);
        safe_close(s->vms_fd);
        safe_close(s->lock_fd); /* releases the flock */
        free(s->state_dir);
        return mfree(s);
}

static int store_lock(Store *s) {
        _cleanup_free_ char *path = NULL;

        if (asprintf(&path, "%s/lock", s->state_dir) < 0)
                return -ENOMEM;
        /* Read-only: flock() needs no write access, and a descriptor open for writing would keep the
         * state file system from being remounted read-only (EBUSY) while the manager runs. */
        s->lock_fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
        if (s->lock_fd < 0)
                return negative_errno();
        /* The lock belongs to the open file description: a second open() of the same file conflicts even
         * within one process, which is what keeps two stores in one manager apart too. */
        if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0)
                return errno == EWOULDBLOCK ? -EBUSY : negative_errno();
        return 0;
}

/* Whether the record owns its name in the index. */
static bool store_owns_name(const Store *s, const VMRecord *r) {
        const char *owner = hashmap_get(s->by_name, r->vm.name);
        return owner && streq(owner, r->vm.id);
}

/* Returns the name mapping when r stops using its name: hands it to another record with that name (the
 * oldest), if the store ever loaded such duplicates. */
static void store_release_name(Store *s, const VMRecord *r) {
        size_t state = 0;
        const VMRecord *best = NULL;
        void *v;

        if (!store_owns_name(s, r)) {
                if (s->n_name_conflicts > 0)
                        s->n_name_conflicts--;
                return;
        }
        (void) hashmap_remove(s->by_name, r->vm.name);
        if (s->n_name_conflicts == 0)
                return;

        while (hashmap_iterate(s->by_id, &state, NULL, &v)) {
                const VMRecord *o = v;
                if (o == r || !streq(o->vm.name, r->vm.name))
                        continue;
                if (!best || o->vm.created_at < best->vm.created_at ||
                    (o->vm.created_at == best->vm.created_at && strcmp(o->vm.id, best->vm.id) < 0))
                        best = o;
        }
        if (best && hashmap_put(s->by_name, best->vm.name, best->vm.id) >= 0)
                s->n_name_conflicts--;
}

/* Moves vm.json aside so that the next start does not trip over it again, and keeps it for inspection. */
static void store_quarantine(Store *s, int dir_fd, const char *id, const char *reason) {
        char name[sizeof(STORE_RECORD_FILE STORE_CORRUPT_SUFFIX) + 32];
        long long now = (long long) time(NULL);

        s->n_corrupt++;
        for (unsigned attempt = 0; attempt < 100; attempt++) {
                if (attempt == 0)
                        snprintf(name, sizeof(name), STORE_RECORD_FILE STORE_CORRUPT_SUFFIX "%lld", now);
                else
                        snprintf(name, sizeof(name), STORE_RECORD_FILE STORE_CORRUPT_SUFFIX "%lld-%u", now,
                                 attempt);
                if (renameat2(dir_fd, STORE_RECORD_FILE, dir_fd, name, RENAME_NOREPLACE) >= 0) {
                        log_debug("Quarantined record of %s as %s: %s", id, name, reason);
                        return;
                }
                if (errno != EEXIST)
                        break;
        }
        log_debug_errno(errno, "Failed to quarantine record of %s (%s): %m", id, reason);
}

static void store_mark_unloadable(Store *s, const char *id) {
        char *copy = strdup(id);

        if (copy && hashmap_put(s->quarantined, copy, copy) < 0)
                free(copy);
}

/* Parses and checks one record file's content. *ret_reason is static text for the debug log. */
static int store_parse_record(const char *id, const char *data, size_t size, VMRecord **ret,
                              const char **ret_reason) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_(vm_record_freep) VMRecord *r = NULL;
        const char *field = NULL;
        int k;

        k = json_parse(data, size, &o);
        if (k < 0) {
                *ret_reason = "not valid JSON";
                return k;
        }
        k = vm_record_from_json(o, &r, &field);
        if (k < 0) {
                *ret_reason = field ? field : "not a JSON object";
                return k;
        }
        k = vm_record_validate(r, &field, NULL);
        if (k < 0) {
                *ret_reason = field;
                return k;
        }
        if (!streq(r->vm.id, id)) {
                *ret_reason = "id does not match the directory";
                return -EINVAL;
        }
        *ret = TAKE_PTR(r);
        return 0;
}

/* Adds a loaded record to the index. Duplicate names (never written by us) go to the oldest record. */
static int store_index_loaded(Store *s, VMRecord *r) {
        const char *owner_id;

        if (hashmap_reserve(s->by_id, 1) < 0 || hashmap_reserve(s->by_name, 1) < 0)
                return -ENOMEM;
        (void) hashmap_put(s->by_id, r->vm.id, r);
        s->n_state[r->vm.state]++;

        owner_id = hashmap_get(s->by_name, r->vm.name);
        if (!owner_id) {
                (void) hashmap_put(s->by_name, r->vm.name, r->vm.id);
                return 0;
        }

        const VMRecord *owner = hashmap_get(s->by_id, owner_id);
        log_debug("Records %s and %s share the name %s.", owner_id, r->vm.id, r->vm.name);
        s->n_name_conflicts++;
        if (r->vm.created_at < owner->vm.created_at ||
            (r->vm.created_at == owner->vm.created_at && strcmp(r->vm.id, owner_id) < 0))
                (void) hashmap_replace(s->by_name, r->vm.name, r->vm.id);
        return 0;
}

/* A DIR reading dir_fd's directory through a descriptor of its own (dir_fd stays open and unmoved). The new
 * descriptor passes to the DIR only once fdopendir() succeeded: on failure it is closed here. */
static int store_opendir(int dir_fd, DIR **ret) {
        _cleanup_close_ int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        DIR *d = fdopendir(fd);
        if (!d)
                return negative_errno();
        TAKE_FD(fd);
        *ret = d;
        return 0;
}

/* Removes leftovers of interrupted atomic writes in a VM directory; returns whether an earlier start moved
 * a corrupt record aside there. */
static bool store_scan_vm_dir(int dir_fd) {
        _cleanup_(closedirp) DIR *d = NULL;
        bool corrupt = false;
        struct dirent *de;

        if (store_opendir(dir_fd, &d) < 0)
                return false;
        while ((de = readdir(d))) {
                if (strncmp(de->d_name, TEMP_FILE_PREFIX STORE_RECORD_FILE ".",
                            strlen(TEMP_FILE_PREFIX STORE_RECORD_FILE ".")) == 0)
                        (void) unlinkat(dirfd(d), de->d_name, 0);
                else if (strncmp(de->d_name, STORE_RECORD_FILE STORE_CORRUPT_SUFFIX,
                                 strlen(STORE_RECORD_FILE STORE_CORRUPT_SUFFIX)) == 0)
                        corrupt = true;
        }
        return corrupt;
}

/* Loads vms/<id>/vm.json. Only allocation failures are fatal; bad records are quarantined. */
static int store_load_one(Store *s, const char *id) {
        _cleanup_close_ int dir_fd = -EBADF;
        _cleanup_free_ char *data = NULL;
        _cleanup_(vm_record_freep) VMRecord *r = NULL;
        const char *reason = NULL;
        size_t size;
        int k;

        dir_fd = openat(s->vms_fd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dir_fd < 0)
                return 0; /* not a directory, or gone */
        bool had_corrupt = store_scan_vm_dir(dir_fd);

        k = read_full_file_at(dir_fd, STORE_RECORD_FILE, STORE_RECORD_MAX, &data, &size);
        if (k == -ENOENT) {
                /* Without any record the directory is GC's business; with a quarantined one it is a
                 * person's. */
                if (had_corrupt)
                        store_mark_unloadable(s, id);
                return 0;
        }
        if (k == -EFBIG) {
                store_mark_unloadable(s, id);
                store_quarantine(s, dir_fd, id, "too large");
                return 0;
        }
        if (k == -ENOMEM)
                return k;
        if (k < 0) {
                /* An I/O error says nothing about the content: keep the file, but remember the VM. */
                log_debug_errno(k, "Failed to read record of %s, skipping: %m", id);
                s->n_corrupt++;
                store_mark_unloadable(s, id);
                return 0;
        }

        k = store_parse_record(id, data, size, &r, &reason);
        if (k == -ENOMEM)
                return k;
        if (k < 0) {
                store_mark_unloadable(s, id);
                store_quarantine(s, dir_fd, id, reason ?: "invalid");
                return 0;
        }

        k = store_index_loaded(s, r);
        if (k < 0)
                return k;
        TAKE_PTR(r);
        return 0;
}

static int store_load(Store *s) {
        _cleanup_(closedirp) DIR *d = NULL;
        int r;

        r = store_opendir(s->vms_fd, &d);
        if (r < 0)
                return r;

        for (;;) {
                errno = 0;
                struct dirent *de = readdir(d);
                if (!de) {
                        if (errno != 0)
                                r = negative_errno();
                        break;
                }
                if (!id_is_valid(de->d_name))
                        continue; /* ".", "..", and anything that is not a VM directory */
                r = store_load_one(s, de->d_name);
                if (r < 0)
                        break;
        }
        return r;
}

int store_open(const char *state_dir, Store **ret) {
        _cleanup_(store_freep) Store *s = NULL;
        _cleanup_close_ int state_fd = -EBADF;
        int r;

        if (isempty(state_dir) || state_dir[0] != '/')
                return -EINVAL;

        s = calloc(1, sizeof(Store));
        if (!s)
                return -ENOMEM;
        s->lock_fd = s->vms_fd = -EBADF;
        s->state_dir = strdup(state_dir);
        if (!s->state_dir)
                return -ENOMEM;
        if (hashmap_new(&s->by_id) < 0 || hashmap_new(&s->by_name) < 0 || hashmap_new(&s->quarantined) < 0)
                return -ENOMEM;

        r = mkdir_p(state_dir, 0700);
        if (r < 0)
                return r;
        r = store_lock(s);
        if (r < 0)
                return r;

        state_fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (state_fd < 0)
                return negative_errno();
        if (mkdirat(state_fd, "vms", 0700) < 0 && errno != EEXIST)
                return negative_errno();
        s->vms_fd = openat(state_fd, "vms", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (s->vms_fd < 0)
                return negative_errno();

        r = store_load(s);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(s);
        return 0;
}

const VMRecord *store_get(const Store *s, const char *id) {
        return hashmap_get(s->by_id, id);
}

const VMRecord *store_get_by_name(const Store *s, const char *name) {
        const char *id = hashmap_get(s->by_name, name);
        return id ? hashmap_get(s->by_id, id) : NULL;
}

size_t store_count(const Store *s) {
        return hashmap_size(s->by_id);
}

size_t store_count_state(const Store *s, VMState state) {
        if (state < 0 || state >= _VM_STATE_MAX)
                return 0;
        return s->n_state[state];
}

unsigned store_corrupt_count(const Store *s) {
        return s->n_corrupt;
}

bool store_is_quarantined(const Store *s, const char *id) {
        return hashmap_contains(s->quarantined, id);
}

bool store_iterate(const Store *s, size_t *state, const VMRecord **ret) {
        void *v;

        if (!hashmap_iterate(s->by_id, state, NULL, &v))
                return false;
        *ret = v;
        return true;
}

/* Writes the record file. A new VM directory is created first, and made durable itself. */
static int store_write_record(Store *s, const VMRecord *r) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_free_ char *text = NULL, *path = NULL;
        int k;

        k = vm_record_to_json(r, &o);
        if (k < 0)
                return k;
        if (asprintf(&text, "%s\n", json_to_string(o)) < 0)
                return -ENOMEM;

        bool created = false;
        if (mkdirat(s->vms_fd, r->vm.id, 0700) >= 0) {
                created = true;
                k = fsync_directory_at(s->vms_fd, NULL);
        } else if (errno != EEXIST)
                return negative_errno();

        if (k >= 0 && asprintf(&path, "%s/" STORE_RECORD_FILE, r->vm.id) < 0)
                k = -ENOMEM;
        if (k >= 0)
                k = write_file_atomic_at(s->vms_fd, path, text, strlen(text), 0600);
        /* A new record that could not be written leaves no empty directory behind (disk full). */
        if (k < 0 && created)
                (void) unlinkat(s->vms_fd, r->vm.id, AT_REMOVEDIR);
        return k;
}

int store_put(Store *s, const VMRecord *r) {
        _cleanup_(vm_record_freep) VMRecord *copy = NULL;
        VMRecord *old;
        const char *owner;
        int k;

        k = vm_record_validate(r, NULL, NULL);
        if (k < 0)
                return k;

        old = hashmap_get(s->by_id, r->vm.id);
        if (old && vm_record_equal(old, r))
                return 0;

        /* A record keeps a name it already had even if a duplicate on disk owns it; it may not take one. */
        owner = hashmap_get(s->by_name, r->vm.name);
        if (owner && !streq(owner, r->vm.id) && !(old && streq(old->vm.name, r->vm.name)))
                return -EEXIST;

        k = vm_record_copy(r, &copy);
        if (k < 0)
                return k;
        /* After this nothing below can fail except the write, which changes nothing in memory. */
        if (hashmap_reserve(s->by_id, 1) < 0 || hashmap_reserve(s->by_name, 1) < 0)
                return -ENOMEM;

        k = store_write_record(s, copy);
        if (k < 0)
                return k;

        if (old) {
                if (!streq(old->vm.name, copy->vm.name))
                        store_release_name(s, old);
                s->n_state[old->vm.state]--;
        }
        (void) hashmap_replace(s->by_id, copy->vm.id, copy);
        if (!old || store_owns_name(s, old) || !hashmap_contains(s->by_name, copy->vm.name))
                (void) hashmap_replace(s->by_name, copy->vm.name, copy->vm.id);
        s->n_state[copy->vm.state]++;
        TAKE_PTR(copy);
        vm_record_free(old);
        return 0;
}

int store_remove(Store *s, const char *id) {
        _cleanup_free_ char *path = NULL;
        VMRecord *r;

        r = hashmap_get(s->by_id, id);
        if (!r)
                return -ENOENT;

        if (asprintf(&path, "%s/" STORE_RECORD_FILE, r->vm.id) < 0)
                return -ENOMEM;
        if (unlinkat(s->vms_fd, path, 0) < 0 && errno != ENOENT)
                return negative_errno();
        (void) fsync_directory_at(s->vms_fd, r->vm.id);
        /* The directory goes too if nothing else (disks) is left in it. */
        if (unlinkat(s->vms_fd, r->vm.id, AT_REMOVEDIR) >= 0)
                (void) fsync_directory_at(s->vms_fd, NULL);

        store_release_name(s, r);
        (void) hashmap_remove(s->by_id, r->vm.id);
        s->n_state[r->vm.state]--;
        vm_record_free(r);
        return 0;
}

bool store_iterate_quarantined(const Store *s, size_t *state, const char **ret_id) {
        void *id;
        if (!hashmap_iterate(s->quarantined, state, NULL, &id))
                return false;
        *ret_id = id;
        return true;
}
