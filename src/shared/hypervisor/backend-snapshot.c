/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The blocking half of a snapshot save (worker threads): pause, state, disks, resume. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend.h"
#include "cow-disk.h"
#include "fd-util.h"
#include "fs-util.h"
#include "helpers.h"
#include "log.h"
#include "probe.h"
#include "snapshot-store.h"
#include "time-util.h"

/* A multi-GiB guest under TCG on a loaded host: the state of its RAM may take minutes to write. */
#define SNAPSHOT_STATE_TIMEOUT_USEC (30 * 60 * USEC_PER_SEC)
#define SNAPSHOT_QMP_TIMEOUT_USEC (30 * USEC_PER_SEC)

/* Every writable disk into the payload under its base name (the snapshot record says where it came from). */
static int copy_disks(BackendWork *w, int dir_fd) {
        const VMRecord *rec = w->record;
        for (size_t i = 0; i < rec->vm.n_storage_configs; i++) {
                const StorageConfig *s = rec->vm.storage_configs + i;
                const char *name = strrchr(s->path, '/');
                struct stat st;
                if (s->read_only)
                        continue;
                if (!name || isempty(name + 1))
                        return backend_fail(w, -EINVAL, "disk path %s has no file name", s->path);
                _cleanup_close_ int src = open(s->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                if (src < 0 || fstat(src, &st) < 0)
                        return backend_fail(w, -errno, "cannot open disk %s: %m", s->path);
                _cleanup_close_ int dst =
                        openat(dir_fd, name + 1, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
                if (dst < 0)
                        return backend_fail(w, -errno, "cannot create the copy of %s: %m", s->path);
                int r = cow_disk_copy(src, dst, (uint64_t) st.st_size);
                if (r >= 0 && fsync(dst) < 0)
                        r = -errno;
                if (r < 0)
                        return backend_fail(w, r, "cannot copy disk %s: %m", s->path);
        }
        return fsync_directory_at(dir_fd, NULL);
}

/* The guest's RAM as it is in its memory file (tmpfs), while the guest is paused: only the pages it ever
 * touched (the file is sparse, and so is the copy). */
static int copy_memory(BackendWork *w, int dir_fd) {
        const char *run_dir = w->record->run_dir;
        _cleanup_close_ int run_fd = open(run_dir, O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        _cleanup_close_ int src =
                run_fd < 0 ? -EBADF : openat(run_fd, MEMORY_FILE_NAME, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        struct stat st;
        if (src < 0 || fstat(src, &st) < 0 || !S_ISREG(st.st_mode))
                return backend_fail(w, src < 0 ? -errno : -EBADF,
                                    "cannot open the guest's memory file in %s: %m", run_dir);
        _cleanup_close_ int dst = openat(dir_fd, SNAPSHOT_MEMORY_FILE,
                                         O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (dst < 0)
                return backend_fail(w, -errno, "cannot create the snapshot's memory file: %m");
        int r = cow_disk_copy(src, dst, (uint64_t) st.st_size);
        if (r >= 0 && fsync(dst) < 0)
                r = -errno;
        if (r < 0)
                return backend_fail(w, r, "cannot copy the guest's memory: %m");
        w->memory_file = true;
        return 0;
}

static int save(BackendWork *w, int dir_fd) {
        const Hypervisor *h = w->hypervisor;
        const char *run_dir = w->record->run_dir;
        _cleanup_free_ char *error = NULL, *exchange = NULL;
        if (h->state_by_path && asprintf(&exchange, "%s/%s", w->vm_dir, VMM_STATE_DIR_NAME) < 0)
                return backend_fail(w, -ENOMEM, "out of memory");
        HypervisorSnapshotDir dir = {
                .path = w->snapshot_dir, .fd = dir_fd, .exchange = exchange, .record = w->record,
        };

        int r = h->snapshot(run_dir, &dir, SNAPSHOT_STATE_TIMEOUT_USEC, &error);
        if (r < 0)
                return backend_fail(w, r, "%s could not save the guest's state: %s", h->type,
                                    error ?: strerror(-r));
        if (dir.memory_file && (r = copy_memory(w, dir_fd)) < 0)
                return r;
        return copy_disks(w, dir_fd);
}

int backend_snapshot(BackendWork *w) {
        const Hypervisor *h = w->hypervisor;
        const char *run_dir = w->record->run_dir;
        _cleanup_free_ char *error = NULL;
        int r;

        if (!h->pause || !h->snapshot)
                return backend_fail(w, -EOPNOTSUPP, "the %s backend cannot take snapshots", h->type);
        _cleanup_close_ int dir_fd = open(w->snapshot_dir, O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (dir_fd < 0)
                return backend_fail(w, -errno, "cannot open %s: %m", w->snapshot_dir);
        /* The version of the binary clones will run: the state format follows it. */
        r = binary_version(w->binary, &w->hypervisor_version);
        if (r < 0)
                return backend_fail(w, r, "cannot tell the version of %s: %m", w->binary);

        r = h->pause(run_dir, SNAPSHOT_QMP_TIMEOUT_USEC, &error);
        if (r < 0)
                r = backend_fail(w, r, "%s could not pause the guest: %s", h->type, error ?: strerror(-r));
        else
                r = save(w, dir_fd);

        /* Whatever happened above, and whoever still waits for it: the guest runs on. */
        error = mfree(error);
        int k = h->resume(run_dir, SNAPSHOT_QMP_TIMEOUT_USEC, &error);
        if (r >= 0 && k < 0)
                r = backend_fail(w, k, "the snapshot was taken but the guest could not be resumed: %s",
                                 error ?: strerror(-k));
        else if (k < 0)
                log_debug("Resume after a failed snapshot of %s failed too: %s", w->record->vm.id,
                          error ?: strerror(-k));
        if (r < 0)
                (void) rm_rf(w->snapshot_dir);
        return r;
}

/* The clone's writable disks from the snapshot's copies; the COW grows to the clone's storage if larger. */
static int clone_copy_disks(BackendWork *w, int dir_fd) {
        const VMRecord *rec = w->record;
        for (size_t i = 0; i < rec->vm.n_storage_configs; i++) {
                const StorageConfig *s = rec->vm.storage_configs + i;
                const char *name = strrchr(s->path, '/');
                struct stat st;
                if (s->read_only)
                        continue;
                if (!name || isempty(name + 1))
                        return backend_fail(w, -EINVAL, "disk path %s has no file name", s->path);
                _cleanup_close_ int src = openat(dir_fd, name + 1, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                if (src < 0 || fstat(src, &st) < 0 || !S_ISREG(st.st_mode)) {
                        w->failure = BACKEND_FAILURE_IMAGE;
                        return backend_fail(w, src < 0 ? -errno : -EBADF,
                                            "the snapshot's copy of %s is missing or unusable", name + 1);
                }
                _cleanup_close_ int dst =
                        open(s->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
                if (dst < 0)
                        return backend_fail(w, -errno, "cannot create %s: %m", s->path);
                int r = cow_disk_copy(src, dst, (uint64_t) st.st_size);
                /* A larger disk only: the guest's file system keeps its size until it is grown inside. */
                if (r >= 0 && s->role == STORAGE_ROLE_COW &&
                    rec->vm.config.storage > (uint64_t) st.st_size &&
                    ftruncate(dst, (off_t) rec->vm.config.storage) < 0)
                        r = -errno;
                if (r >= 0 && fsync(dst) < 0)
                        r = -errno;
                if (r < 0)
                        return backend_fail(w, r, "cannot copy %s from the snapshot: %m", name + 1);
        }
        return 0;
}

int backend_clone_disks(BackendWork *w) {
        const VMRecord *rec = w->record;
        int r;

        /* Device state does not cross hypervisor versions reliably: refuse before anything is written. */
        if (w->hypervisor_version) {
                _cleanup_free_ char *version = NULL;
                r = binary_version(w->binary, &version);
                if (r < 0)
                        return backend_fail(w, r, "cannot tell the version of %s: %m", w->binary);
                if (!streq(version, w->hypervisor_version)) {
                        w->failure = BACKEND_FAILURE_INCOMPATIBLE;
                        return backend_fail(w, -EPROTONOSUPPORT,
                                            "the snapshot was taken with %s %s, %s is %s",
                                            w->hypervisor->type, w->hypervisor_version, w->binary, version);
                }
        }
        _cleanup_close_ int dir_fd = open(w->snapshot_dir, O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (dir_fd < 0) {
                w->failure = BACKEND_FAILURE_IMAGE;
                return backend_fail(w, -errno, "cannot open the snapshot %s: %m", w->snapshot_dir);
        }
        /* The RAM of a snapshot of memoryFormat "file" is not in its state: without the file, no clone. */
        struct stat st;
        if (w->memory_file && (fstatat(dir_fd, SNAPSHOT_MEMORY_FILE, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                               !S_ISREG(st.st_mode) || (uint64_t) st.st_size != rec->vm.config.memory)) {
                w->failure = BACKEND_FAILURE_IMAGE;
                return backend_fail(w, -ENOENT,
                                    "the snapshot's memory file %s is missing or not the guest's size",
                                    SNAPSHOT_MEMORY_FILE);
        }
        if ((r = mkdir_p(w->vm_dir, 0700)) < 0 || (r = mkdir_p(rec->log_dir, 0700)) < 0)
                return backend_fail(w, r, "cannot create the VM's directories: %m");
        r = clone_copy_disks(w, dir_fd);
        if (r < 0) {
                /* Nothing stays: the copies and the log directory here, the record on the event loop. */
                for (size_t i = 0; i < rec->vm.n_storage_configs; i++)
                        if (!rec->vm.storage_configs[i].read_only)
                                (void) unlink(rec->vm.storage_configs[i].path);
                (void) rm_rf(rec->log_dir);
        }
        return r;
}
