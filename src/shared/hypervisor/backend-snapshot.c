/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The blocking half of a snapshot save (worker threads): pause, state, disks, resume. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend.h"
#include "cow-disk.h"
#include "fd-util.h"
#include "fs-util.h"
#include "log.h"
#include "probe.h"
#include "time-util.h"

/* A multi-GiB guest under TCG on a loaded host: the state of its RAM may take minutes to write. */
#define SNAPSHOT_STATE_TIMEOUT_USEC (30 * 60 * USEC_PER_SEC)
#define SNAPSHOT_QMP_TIMEOUT_USEC (30 * USEC_PER_SEC)

static int snapshot_fail(BackendWork *w, int r, const char *format, ...) _printf_(3, 4);
static int snapshot_fail(BackendWork *w, int r, const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        free(w->message);
        errno = -r;
        if (vasprintf(&w->message, format, ap) < 0)
                w->message = NULL;
        va_end(ap);
        return r;
}

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
                        return snapshot_fail(w, -EINVAL, "disk path %s has no file name", s->path);
                _cleanup_close_ int src = open(s->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                if (src < 0 || fstat(src, &st) < 0)
                        return snapshot_fail(w, -errno, "cannot open disk %s: %m", s->path);
                _cleanup_close_ int dst =
                        openat(dir_fd, name + 1, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
                if (dst < 0)
                        return snapshot_fail(w, -errno, "cannot create the copy of %s: %m", s->path);
                int r = cow_disk_copy(src, dst, (uint64_t) st.st_size);
                if (r >= 0 && fsync(dst) < 0)
                        r = -errno;
                if (r < 0)
                        return snapshot_fail(w, r, "cannot copy disk %s: %m", s->path);
        }
        return fsync_directory_at(dir_fd, NULL);
}

static int save(BackendWork *w, int dir_fd) {
        const Hypervisor *h = w->hypervisor;
        const char *run_dir = w->record->run_dir;
        HypervisorSnapshotDir dir = {.path = w->snapshot_dir, .fd = dir_fd};
        _cleanup_free_ char *error = NULL;

        int r = h->snapshot(run_dir, &dir, SNAPSHOT_STATE_TIMEOUT_USEC, &error);
        if (r < 0)
                return snapshot_fail(w, r, "%s could not save the guest's state: %s", h->type,
                                     error ?: strerror(-r));
        return copy_disks(w, dir_fd);
}

int backend_snapshot(BackendWork *w) {
        const Hypervisor *h = w->hypervisor;
        const char *run_dir = w->record->run_dir;
        _cleanup_free_ char *error = NULL;
        int r;

        if (!h->pause || !h->snapshot)
                return snapshot_fail(w, -EOPNOTSUPP, "the %s backend cannot take snapshots", h->type);
        _cleanup_close_ int dir_fd = open(w->snapshot_dir, O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (dir_fd < 0)
                return snapshot_fail(w, -errno, "cannot open %s: %m", w->snapshot_dir);
        /* The version of the binary clones will run: the state format follows it. */
        r = binary_version(w->binary, &w->hypervisor_version);
        if (r < 0)
                return snapshot_fail(w, r, "cannot tell the version of %s: %m", w->binary);

        r = h->pause(run_dir, SNAPSHOT_QMP_TIMEOUT_USEC, &error);
        if (r < 0)
                r = snapshot_fail(w, r, "%s could not pause the guest: %s", h->type, error ?: strerror(-r));
        else
                r = save(w, dir_fd);

        /* Whatever happened above, and whoever still waits for it: the guest runs on. */
        error = mfree(error);
        int k = h->resume(run_dir, SNAPSHOT_QMP_TIMEOUT_USEC, &error);
        if (r >= 0 && k < 0)
                r = snapshot_fail(w, k, "the snapshot was taken but the guest could not be resumed: %s",
                                  error ?: strerror(-k));
        else if (k < 0)
                log_debug("Resume after a failed snapshot of %s failed too: %s", w->record->vm.id,
                          error ?: strerror(-k));
        if (r < 0)
                (void) rm_rf(w->snapshot_dir);
        return r;
}
