/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A clone created without starting it keeps the snapshot's saved state in its own directory, so that its
 * first start resumes the saved guest (like a clone that starts at once) instead of booting, also when the
 * snapshot is deleted meanwhile or the manager restarts. */
#include <dirent.h>
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
#include "log.h"

static bool is_disk_copy(const VMRecord *rec, const char *name) {
        for (size_t i = 0; i < rec->vm.n_storage_configs; i++) {
                const StorageConfig *s = rec->vm.storage_configs + i;
                const char *base = strrchr(s->path, '/');
                if (!s->read_only && base && streq(base + 1, name))
                        return true;
        }
        return false;
}

/* One file of the snapshot into dir: a hard link (the snapshot's files are never written again), else a
 * copy (reflink or sparse). */
static int keep_file(int src_dir, int dst_dir, const char *name) {
        if (linkat(src_dir, name, dst_dir, name, 0) >= 0)
                return 0;
        if (errno != EXDEV && errno != EPERM && errno != EMLINK)
                return -errno;
        _cleanup_close_ int src = openat(src_dir, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        struct stat st;
        if (src < 0 || fstat(src, &st) < 0)
                return -errno;
        _cleanup_close_ int dst =
                openat(dst_dir, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (dst < 0)
                return -errno;
        int r = cow_disk_copy(src, dst, (uint64_t) st.st_size);
        if (r >= 0 && fsync(dst) < 0)
                r = -errno;
        return r;
}

/* Every regular file of the snapshot's payload but its records and the disk copies (the clone has its
 * disks already): what the hypervisor's clone() reads, whatever the backend keeps there. */
static int keep_state(BackendWork *w, const char *path) {
        _cleanup_close_ int src = open(w->snapshot_dir, O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (src < 0)
                return backend_fail(w, -errno, "cannot open the snapshot %s: %m", w->snapshot_dir);
        if (mkdir(path, 0700) < 0)
                return backend_fail(w, -errno, "cannot create %s: %m", path);
        _cleanup_close_ int dst = open(path, O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        int dup_fd = dst >= 0 ? fcntl(src, F_DUPFD_CLOEXEC, 3) : -1;
        DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
        if (!d) {
                int r = -errno;
                if (dup_fd >= 0)
                        close(dup_fd);
                return backend_fail(w, r, "cannot read the snapshot %s: %m", w->snapshot_dir);
        }
        int r = 0;
        struct dirent *de;
        while (r >= 0 && (errno = 0, de = readdir(d))) {
                struct stat st;
                if (de->d_name[0] == '.' || streq(de->d_name, "snapshot.json") ||
                    streq(de->d_name, "pending.json") || is_disk_copy(w->record, de->d_name))
                        continue;
                if (fstatat(src, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
                        continue;
                r = keep_file(src, dst, de->d_name);
                if (r < 0)
                        backend_fail(w, r, "cannot keep the snapshot's %s: %m", de->d_name);
        }
        if (r >= 0 && errno != 0)
                r = backend_fail(w, -errno, "cannot read the snapshot %s: %m", w->snapshot_dir);
        closedir(d);
        if (r >= 0 && (r = fsync_directory_at(dst, NULL)) < 0)
                backend_fail(w, r, "cannot write %s: %m", path);
        return r;
}

int backend_resume_state_path(const BackendWork *w, char **ret) {
        char *s;
        if (!w->vm_dir || asprintf(&s, "%s/" RESUME_STATE_DIR_NAME, w->vm_dir) < 0)
                return -ENOMEM;
        *ret = s;
        return 0;
}

int backend_clone_create(BackendWork *w) {
        _cleanup_free_ char *path = NULL;
        int r = backend_clone_disks(w);
        if (r < 0)
                return r;
        /* CNI NICs: the clone's own namespace, CNI ADD (a new address), TAPs, the veths' MACs. */
        r = backend_network_add(w);
        if (r >= 0 && w->keep_state) {
                if ((r = backend_resume_state_path(w, &path)) < 0)
                        r = backend_fail(w, r, "out of memory");
                else
                        r = keep_state(w, path);
                if (r < 0) {
                        _cleanup_free_ char *message = TAKE_PTR(w->message);
                        BackendFailure failure = w->failure;
                        (void) backend_network_del(w);
                        free(w->message);
                        w->message = TAKE_PTR(message);
                        w->failure = failure;
                }
        }
        if (r < 0) {
                /* As a failed clone_disks: nothing of the clone stays but its record. */
                if (path)
                        (void) rm_rf(path);
                for (size_t i = 0; i < w->record->vm.n_storage_configs; i++)
                        if (!w->record->vm.storage_configs[i].read_only)
                                (void) unlink(w->record->vm.storage_configs[i].path);
                (void) rm_rf(w->record->log_dir);
        }
        return r;
}
