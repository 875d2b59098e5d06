/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* COW disks: an empty ext4 per size built once, then reflinked or sparse-copied and given a fresh UUID. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cow-disk.h"
#include "dlopen-ext2fs.h"
#include "fd-util.h"
#include "fs-util.h"
#include "log.h"
#include "macro.h"

extern char **environ;

/* The fd mkfs.ext4 gets the file on: it formats /proc/self/fd/3, so the file needs no name (the template is
 * an O_TMPFILE until it is complete). */
#define MKFS_TARGET_FD 3

/* metadata_csum_seed keeps the checksums independent of the UUID: a copy's new UUID rewrites the superblocks
 * and nothing else. lazy_journal_init: the file is sparse, so the journal reads as zeros without writing
 * them (the guest's kernel still initializes inode tables lazily, as before). */
static int mkfs_fd(int fd) {
        char *const argv[] = {(char *) "mkfs.ext4",
                              (char *) "-q",
                              (char *) "-F",
                              (char *) "-O",
                              (char *) "metadata_csum,metadata_csum_seed",
                              (char *) "-E",
                              (char *) "nodiscard,lazy_itable_init=1,lazy_journal_init=1",
                              (char *) "/proc/self/fd/3",
                              NULL};
        posix_spawn_file_actions_t actions;
        pid_t pid;
        int status, r;

        /* dup2() onto its own number would keep O_CLOEXEC: hand over a copy that is never fd 3. */
        _cleanup_close_ int copy = fcntl(fd, F_DUPFD_CLOEXEC, MKFS_TARGET_FD + 1);
        if (copy < 0)
                return -errno;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_adddup2(&actions, copy, MKFS_TARGET_FD);
        r = posix_spawnp(&pid, argv[0], &actions, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&actions);
        if (r != 0)
                return -r;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

/* Gives a file an empty file system of its own, the slow way. */
static int mkfs_in_place(int fd, uint64_t size) {
        if (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t) size) < 0)
                return -errno;
        return mkfs_fd(fd);
}

static int link_tmpfile(int fd, int dir_fd, const char *name) {
        char proc[64];
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        if (linkat(AT_FDCWD, proc, dir_fd, name, AT_SYMLINK_FOLLOW) >= 0)
                return 0;
        if (errno != ENOENT) /* no /proc: AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH, which root has */
                return -errno;
        return linkat(fd, "", dir_fd, name, AT_EMPTY_PATH) < 0 ? -errno : 0;
}

/* Builds the template as a nameless file and links it in when complete; a crash leaves nothing. */
static int template_build(int dir_fd, const char *name, uint64_t size, int *ret_fd) {
        _cleanup_close_ int fd = openat(dir_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        int r = mkfs_in_place(fd, size);
        if (r < 0)
                return r;
        if (fsync(fd) < 0)
                return -errno;
        r = link_tmpfile(fd, dir_fd, name);
        /* -EEXIST: a concurrent create published its own first; ours is as good. */
        if (r < 0 && r != -EEXIST)
                return r;
        if (r >= 0)
                (void) fsync_directory_at(dir_fd, NULL);
        *ret_fd = TAKE_FD(fd);
        return 0;
}

static int template_open(const char *cache_dir, uint64_t size, int *ret_fd) {
        char name[sizeof(COW_TEMPLATE_PREFIX) + 20 + sizeof(COW_TEMPLATE_SUFFIX)];
        struct stat st;
        int r;

        snprintf(name, sizeof(name), COW_TEMPLATE_PREFIX "%" PRIu64 COW_TEMPLATE_SUFFIX, size);
        if ((r = mkdir_p(cache_dir, 0700)) < 0)
                return r;
        _cleanup_close_ int dir_fd = open(cache_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0)
                return -errno;
        _cleanup_close_ int fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0) {
                if (fstat(fd, &st) < 0)
                        return -errno;
                if (S_ISREG(st.st_mode) && (uint64_t) st.st_size == size) {
                        *ret_fd = TAKE_FD(fd);
                        return 0;
                }
                /* Not ours (only a complete template is ever linked in): replace it. */
                log_debug("COW template %s/%s is not a %" PRIu64 "-byte file, rebuilding", cache_dir, name,
                          size);
                if (unlinkat(dir_fd, name, 0) < 0 && errno != ENOENT)
                        return -errno;
        } else if (errno != ENOENT)
                return -errno;
        return template_build(dir_fd, name, size, ret_fd);
}

static int copy_range(int src, int dst, off_t offset, off_t end) {
        static const size_t chunk = 1U << 20;
        char buf[64 * 1024];
        bool splice = true;

        while (offset < end) {
                size_t n = (size_t) MIN((uint64_t) (end - offset), (uint64_t) chunk);
                if (splice) {
                        loff_t in = offset, out = offset;
                        ssize_t k = copy_file_range(src, &in, dst, &out, n, 0);
                        if (k > 0) {
                                offset += k;
                                continue;
                        }
                        if (k == 0)
                                return -EIO; /* the template shrank under us */
                        if (errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP)
                                return -errno;
                        splice = false;
                }
                ssize_t k = pread(src, buf, MIN(n, sizeof(buf)), offset);
                if (k < 0)
                        return -errno;
                if (k == 0)
                        return -EIO;
                for (ssize_t done = 0; done < k;) {
                        ssize_t w = pwrite(dst, buf + done, (size_t) (k - done), offset + done);
                        if (w < 0)
                                return -errno;
                        done += w;
                }
                offset += k;
        }
        return 0;
}

int cow_disk_copy(int src, int dst, uint64_t size) {
        if (ioctl(dst, FICLONE, src) >= 0)
                return 0;
        if (ftruncate(dst, (off_t) size) < 0)
                return -errno;
        for (off_t offset = 0;;) {
                off_t data = lseek(src, offset, SEEK_DATA);
                if (data < 0)
                        return errno == ENXIO ? 0 : -errno; /* ENXIO: no data past offset */
                off_t hole = lseek(src, data, SEEK_HOLE);
                if (hole < 0)
                        return -errno;
                int r = copy_range(src, dst, data, hole);
                if (r < 0)
                        return r;
                offset = hole;
        }
}

static int errcode_to_errno(errcode_t e) {
        /* libext2fs passes system errors through as errno values; its own codes are large. */
        return e > 0 && e < 4096 ? -(int) e : -EIO;
}

static void random_uuid(uint8_t uuid[static 16]) {
        /* getrandom() without flags only blocks before the kernel's pool is seeded, long before we run. */
        size_t done = 0;
        while (done < 16) {
                ssize_t k = getrandom(uuid + done, 16 - done, 0);
                if (k > 0)
                        done += (size_t) k;
        }
        uuid[6] = (uuid[6] & 0x0f) | 0x40; /* version 4 */
        uuid[8] = (uuid[8] & 0x3f) | 0x80; /* RFC 4122 variant */
}

/* A new UUID in the primary and every backup superblock. Only valid when the checksums do not derive from
 * the UUID (metadata_csum_seed, or no checksums at all), which the template's recipe guarantees. */
static int set_fresh_uuid(int fd) {
        char name[16];
        ext2_filsys fs = NULL;
        errcode_t e;
        int r;

        r = dlopen_ext2fs();
        if (r < 0)
                return r;
        /* unixfd_io_manager closes the fd it was given: give it its own. */
        int copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (copy < 0)
                return -errno;
        snprintf(name, sizeof(name), "%d", copy);
        e = sym_ext2fs_open2(name, NULL, EXT2_FLAG_RW | EXT2_FLAG_64BITS, 0, 0, *sym_unixfd_io_manager, &fs);
        if (e) {
                safe_close(copy);
                return errcode_to_errno(e);
        }
        if ((ext2fs_has_feature_metadata_csum(fs->super) && !ext2fs_has_feature_csum_seed(fs->super)) ||
            ext2fs_has_feature_gdt_csum(fs->super)) {
                sym_ext2fs_free(fs);
                return -EOPNOTSUPP;
        }
        random_uuid(fs->super->s_uuid);
        sym_ext2fs_mark_super_dirty(fs);
        /* ext2fs_open2() limits writes to the primary superblock; the backups must agree (e2fsck -b). The
         * group descriptors do not change. */
        fs->flags &= ~EXT2_FLAG_MASTER_SB_ONLY;
        fs->flags |= EXT2_FLAG_SUPER_ONLY;
        /* No fsync: the disk is reproducible, and a flush per create would cost as much as mkfs did. */
        e = sym_ext2fs_close2(fs, EXT2_FLAG_FLUSH_NO_SYNC);
        if (e) {
                sym_ext2fs_free(fs);
                return errcode_to_errno(e);
        }
        return 0;
}

static int copy_template(const char *cache_dir, int fd, uint64_t size) {
        _cleanup_close_ int template_fd = -EBADF;
        int r;

        if (!cache_dir)
                return -ENOENT;
        if ((r = template_open(cache_dir, size, &template_fd)) < 0 ||
            (r = cow_disk_copy(template_fd, fd, size)) < 0)
                return r;
        return set_fresh_uuid(fd);
}

int cow_disk_create(const char *cache_dir, const char *path, uint64_t size) {
        int r;

        if (!path || size == 0 || size > (uint64_t) INT64_MAX)
                return -EINVAL;
        _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        r = copy_template(cache_dir, fd, size);
        if (r < 0) {
                log_debug_errno(r,
                                "No COW template for %" PRIu64 " bytes in %s (%m), running mkfs.ext4 on %s",
                                size, cache_dir ?: "(none)", path);
                r = mkfs_in_place(fd, size);
        }
        if (r < 0)
                (void) unlink(path);
        return r;
}
