/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* File system helpers: atomic file replacement, recursive mkdir/remove, bounded whole-file reads. */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#include "fd-util.h"
#include "fs-util.h"
#include "id.h"
#include "log.h"
#include "macro.h"

int fsync_directory_at(int dirfd, const char *name) {
        _cleanup_close_ int fd = -EBADF;

        fd = openat(dirfd, name ?: ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        if (fsync(fd) < 0 && errno != EINVAL && errno != ENOTSUP)
                return negative_errno();
        return 0;
}

int fsync_file_at(int dirfd, const char *name) {
        _cleanup_close_ int fd = -EBADF;

        if (!name)
                return -EINVAL;
        fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        if (fsync(fd) < 0)
                return negative_errno();
        return 0;
}

/* Writes the temporary file tmp in dirfd. Leaves it behind on failure; the caller unlinks it. */
static int write_temp_file(int dirfd, const char *tmp, const void *data, size_t size, mode_t mode) {
        _cleanup_close_ int fd = -EBADF;
        int r;

        fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, mode);
        if (fd < 0)
                return negative_errno();
        if (fchmod(fd, mode) < 0)
                return negative_errno();
        r = loop_write(fd, data, size);
        if (r < 0)
                return r;
        if (fsync(fd) < 0)
                return negative_errno();
        /* close() can report a delayed write error (e.g. NFS); do not ignore it. */
        if (close(TAKE_FD(fd)) < 0)
                return negative_errno();
        return 0;
}

int write_file_atomic_at(int dirfd, const char *name, const void *data, size_t size, mode_t mode) {
        char random[ID_LENGTH + 1];
        _cleanup_free_ char *tmp = NULL;
        const char *slash;
        int r;

        if (isempty(name) || (!data && size > 0))
                return -EINVAL;

        slash = strrchr(name, '/');
        if (slash) {
                _cleanup_free_ char *parent = NULL;
                _cleanup_close_ int parent_fd = -EBADF;

                if (slash[1] == '\0')
                        return -EISDIR;
                parent = slash == name ? strdup("/") : strndup(name, (size_t) (slash - name));
                if (!parent)
                        return -ENOMEM;
                parent_fd = openat(dirfd, parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (parent_fd < 0)
                        return negative_errno();
                return write_file_atomic_at(parent_fd, slash + 1, data, size, mode);
        }

        r = id_generate(random);
        if (r < 0)
                return r;
        /* Keep the temporary name within NAME_MAX even for long targets. */
        if (asprintf(&tmp, TEMP_FILE_PREFIX "%.200s.%.12s", name, random) < 0)
                return -ENOMEM;

        r = write_temp_file(dirfd, tmp, data, size, mode);
        if (r >= 0 && renameat(dirfd, tmp, dirfd, name) < 0)
                r = negative_errno();
        if (r < 0) {
                (void) unlinkat(dirfd, tmp, 0);
                return r;
        }

        /* Make the rename itself durable. Past the rename name holds the new, synced content: a failure
         * here cannot take that back, so it is no failure of the replacement (callers that keep the
         * content in memory must keep the new one, as every reader of name now sees it); a crash before
         * the directory reaches the disk would at worst bring back the old content, whole. */
        r = fsync_directory_at(dirfd, NULL);
        if (r < 0)
                log_warning_errno(r, "Replaced %s, but could not sync its directory: %m", name);
        return 0;
}

int mkdir_p(const char *path, mode_t mode) {
        _cleanup_free_ char *p = NULL;
        struct stat st;

        if (isempty(path))
                return -EINVAL;
        p = strdup(path);
        if (!p)
                return -ENOMEM;

        /* Visit every prefix that ends before a '/', then the whole path. */
        for (char *s = p + 1;; s++) {
                bool last = *s == '\0';
                if (*s != '/' && !last)
                        continue;
                if (s[-1] == '/' && !last)
                        continue; /* "//" */

                char saved = *s;
                *s = '\0';
                if (mkdir(p, mode) < 0) {
                        if (errno != EEXIST)
                                return negative_errno();
                        if (stat(p, &st) < 0)
                                return negative_errno();
                        if (!S_ISDIR(st.st_mode))
                                return -ENOTDIR;
                }
                *s = saved;
                if (last)
                        return 0;
        }
}

static int rm_rf_internal(int dirfd, const char *name, const dev_t *dev);

/* Removes everything inside the open directory fd (consumed). */
static int rm_rf_children(int fd, dev_t dev) {
        DIR *d;
        int ret = 0;

        d = fdopendir(fd);
        if (!d) {
                int r = negative_errno();
                safe_close(fd);
                return r;
        }

        for (;;) {
                errno = 0;
                struct dirent *de = readdir(d);
                if (!de) {
                        if (errno != 0 && ret == 0)
                                ret = negative_errno();
                        break;
                }
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                int r = rm_rf_internal(dirfd(d), de->d_name, &dev);
                if (r < 0 && ret == 0)
                        ret = r;
        }

        closedir(d);
        return ret;
}

/* dev: the file system we started on; NULL for the top level, which defines it. */
static int rm_rf_internal(int dirfd, const char *name, const dev_t *dev) {
        struct stat st, st2;
        _cleanup_close_ int fd = -EBADF;
        int r;

        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : negative_errno();

        if (!S_ISDIR(st.st_mode)) {
                if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
                        return negative_errno();
                return 0;
        }

        if (dev && st.st_dev != *dev)
                return -EXDEV; /* a mount point: never empty someone else's file system */

        fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return errno == ENOENT ? 0 : negative_errno();
        /* Guard against the entry being swapped between fstatat() and openat(). */
        if (fstat(fd, &st2) < 0)
                return negative_errno();
        if (st2.st_dev != st.st_dev || st2.st_ino != st.st_ino)
                return -EBUSY;

        r = rm_rf_children(TAKE_FD(fd), st.st_dev);

        if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT && r == 0)
                r = negative_errno();
        return r;
}

int rm_rf_at(int dirfd, const char *name) {
        if (isempty(name))
                return -EINVAL;
        return rm_rf_internal(dirfd, name, NULL);
}

int rm_rf(const char *path) {
        _cleanup_free_ char *p = NULL;
        size_t n;

        if (isempty(path))
                return -EINVAL;

        /* A trailing slash would make fstatat() follow a symlink; drop it. */
        p = strdup(path);
        if (!p)
                return -ENOMEM;
        n = strlen(p);
        while (n > 1 && p[n - 1] == '/')
                p[--n] = '\0';
        if (streq(p, "/"))
                return -EPERM;

        return rm_rf_internal(AT_FDCWD, p, NULL);
}

int read_full_file_at(int dirfd, const char *name, size_t max_size, char **ret, size_t *ret_size) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, allocated = 0;
        struct stat st;

        fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (S_ISREG(st.st_mode) && (uint64_t) st.st_size > max_size)
                return -EFBIG;

        /* st_size is only a hint (0 for /proc files, and the file may grow); read until EOF. */
        for (;;) {
                if (allocated - size < 2) {
                        size_t want =
                                allocated == 0 ? MAX((size_t) st.st_size + 2, (size_t) 4096) : allocated * 2;
                        if (want > max_size + 2)
                                want = max_size + 2;
                        if (want <= allocated)
                                return -EFBIG;
                        char *n = realloc(buf, want);
                        if (!n)
                                return -ENOMEM;
                        buf = n;
                        allocated = want;
                }
                ssize_t k = read(fd, buf + size, allocated - size - 1);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (k == 0)
                        break;
                size += (size_t) k;
                if (size > max_size)
                        return -EFBIG;
        }

        buf[size] = '\0';
        if (ret_size)
                *ret_size = size;
        *ret = TAKE_PTR(buf);
        return 0;
}

int read_full_file(const char *path, char **ret, size_t *ret_size) {
        return read_full_file_at(AT_FDCWD, path, READ_FULL_FILE_MAX, ret, ret_size);
}
