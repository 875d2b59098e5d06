/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Layer tar -> directory (libarchive, with whiteout conversion and path checks) -> EROFS (mkfs.erofs). */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "dlopen-archive.h"
#include "dlopen-gcrypt.h"
#include "gzip-reader.h"
#include "oci-layer.h"
#include "oci-reference.h"

#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_OPAQUE ".wh..wh..opq"
#define OVERLAY_XATTR_PREFIX "trusted.overlay."
#define MKFS_ERROR_MAX 4096

extern char **environ;

void oci_layer_boot_done(OciLayerBoot *b) {
        free(b->kernel);
        free(b->initrd);
        b->kernel = b->initrd = NULL;
}

static int set_error(char **ret_error, int r, const char *fmt, ...) _printf_(3, 4);
static int set_error(char **ret_error, int r, const char *fmt, ...) {
        va_list ap;

        if (ret_error) {
                free(*ret_error);
                va_start(ap, fmt);
                if (vasprintf(ret_error, fmt, ap) < 0)
                        *ret_error = NULL;
                va_end(ap);
        }
        return r;
}

/* The entry path without "./" prefixes and trailing slashes; -EBADMSG for absolute paths, ".."
 * components and empty names. "" stays "" for the root ("./"), which the caller skips. */
static int normalize_path(const char *p, char **ret) {
        _cleanup_free_ char *s = NULL;
        char *c, *save = NULL, *out;
        size_t n = 0;

        if (!p || p[0] == '/')
                return -EBADMSG;
        s = strdup(p);
        out = calloc(1, strlen(p) + 1);
        if (!s || !out) {
                free(out);
                return -ENOMEM;
        }
        for (c = strtok_r(s, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                if (strcmp(c, ".") == 0)
                        continue;
                if (strcmp(c, "..") == 0) {
                        free(out);
                        return -EBADMSG;
                }
                if (n > 0)
                        out[n++] = '/';
                memcpy(out + n, c, strlen(c));
                n += strlen(c);
        }
        out[n] = '\0';
        *ret = out;
        return 0;
}

/* Opens dir/rel as a directory without following any symlink and without leaving dir, creating missing
 * components (0755) when create is set. */
static int open_dir_beneath(int root_fd, const char *rel, bool create) {
        struct open_how how = {
                .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
                .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
        };
        _cleanup_free_ char *s = NULL;
        char *c, *save = NULL;
        int fd;

        if (rel[0] == '\0') {
                fd = fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
                return fd < 0 ? -errno : fd;
        }
        fd = (int) syscall(SYS_openat2, root_fd, rel, &how, sizeof(how));
        if (fd >= 0 || errno != ENOENT || !create)
                return fd >= 0 ? fd : -errno;

        s = strdup(rel);
        if (!s)
                return -ENOMEM;
        fd = fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return -errno;
        for (c = strtok_r(s, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                int next;

                if (mkdirat(fd, c, 0755) < 0 && errno != EEXIST) {
                        int r = -errno;
                        close(fd);
                        return r;
                }
                next = (int) syscall(SYS_openat2, fd, c, &how, sizeof(how));
                close(fd);
                if (next < 0)
                        return -errno;
                fd = next;
        }
        return fd;
}

static int split_parent(const char *path, char **ret_parent, const char **ret_base) {
        const char *slash = strrchr(path, '/');

        *ret_parent = slash ? strndup(path, slash - path) : strdup("");
        if (!*ret_parent)
                return -ENOMEM;
        *ret_base = slash ? slash + 1 : path;
        return 0;
}

/* ".wh.NAME" in parent: a 0:0 character device NAME, overlayfs' whiteout, with the entry's mtime (the
 * image is then the same whenever the layer is unpacked). */
static int make_whiteout(int root_fd, const char *parent, const char *name, time_t mtime) {
        _cleanup_close_ int dfd = -EBADF;

        if (name[0] == '\0' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
                return -EBADMSG;
        dfd = open_dir_beneath(root_fd, parent, true);
        if (dfd < 0)
                return dfd;
        if (mknodat(dfd, name, S_IFCHR | 0000, makedev(0, 0)) < 0)
                return -errno;
        if (utimensat(dfd, name, (const struct timespec[2]){{.tv_sec = mtime}, {.tv_sec = mtime}},
                      AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        return 0;
}

static int make_opaque(int root_fd, const char *dir) {
        _cleanup_close_ int dfd = -EBADF;

        dfd = open_dir_beneath(root_fd, dir, true);
        if (dfd < 0)
                return dfd;
        if (fsetxattr(dfd, OVERLAY_XATTR_PREFIX "opaque", "y", 1, 0) < 0)
                return -errno;
        return 0;
}

/* The tree's file system full (also a quota reached). */
static bool is_full(int error) {
        return error == ENOSPC || error == EDQUOT;
}

/* What a failure to write the tree was: -ENOSPC when the file system is full, else fallback. */
static int write_failure(int error, int fallback) {
        return is_full(error) ? -ENOSPC : fallback;
}

/* libarchive's message for a failure to write, with what the file system said when it was full
 * (libarchive says only "Write failed"). */
static const char *write_error_string(struct archive *out, char buf[static 256]) {
        int error = sym_archive_errno(out);

        if (!is_full(error))
                return sym_archive_error_string(out) ?: "?";
        snprintf(buf, 256, "%s: %s", sym_archive_error_string(out) ?: "?", strerror(error));
        return buf;
}

/* A warning of libarchive's while writing an entry: metadata not restored (xattrs, ACLs, ownership,
 * times; libarchive's errno does not say which, nor why) is -EOPNOTSUPP under OCI_LAYER_UNPACK_KEEP_ALL;
 * else the warning is let go, as tar does. */
static int write_warning(struct archive *out, OciLayerUnpackFlags flags) {
        int error = sym_archive_errno(out);

        if (is_full(error))
                return -ENOSPC;
        return flags & OCI_LAYER_UNPACK_KEEP_ALL ? -EOPNOTSUPP : 0;
}

static bool has_overlay_xattr(struct archive_entry *e) {
        const char *name;
        const void *value;
        size_t size;

        sym_archive_entry_xattr_reset(e);
        while (sym_archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK)
                if (strncmp(name, OVERLAY_XATTR_PREFIX, strlen(OVERLAY_XATTR_PREFIX)) == 0)
                        return true;
        return false;
}

static bool ends_with(const char *s, const char *suffix) {
        size_t a = strlen(s), b = strlen(suffix);
        return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Keeps the boot file candidates: boot/ wins over the root, then the last name in sort order. */
static int note_boot_file(OciLayerBoot *boot, const char *path) {
        char **slot;
        const char *base;
        bool in_boot;

        in_boot = strncmp(path, "boot/", 5) == 0 && !strchr(path + 5, '/');
        if (!in_boot && strchr(path, '/'))
                return 0;
        base = in_boot ? path + 5 : path;
        if (ends_with(base, ".old"))
                return 0;
        if (strncmp(base, "vmlinuz", 7) == 0)
                slot = &boot->kernel;
        else if (strncmp(base, "initrd.img", 10) == 0)
                slot = &boot->initrd;
        else
                return 0;
        if (*slot) {
                bool old_in_boot = strncmp(*slot, "boot/", 5) == 0;
                if (old_in_boot && !in_boot)
                        return 0;
                if (old_in_boot == in_boot && strcmp(*slot, path) > 0)
                        return 0;
        }
        free(*slot);
        *slot = strdup(path);
        return *slot ? 0 : -ENOMEM;
}

static int unpack_entry(struct archive *in, struct archive *out, struct archive_entry *e, int root_fd,
                        const char *dir, OciLayerUnpackFlags flags, OciLayerBoot *boot, char **ret_error) {
        _cleanup_free_ char *path = NULL, *parent = NULL, *full = NULL, *link_full = NULL, *name = NULL;
        char text[256];
        const char *base, *hardlink;
        bool is_link;
        int r;

        /* A copy: archive_entry_set_pathname() below frees the entry's own string. */
        name = strdup(sym_archive_entry_pathname(e) ?: "");
        if (!name)
                return -ENOMEM;
        r = normalize_path(name, &path);
        if (r == -EBADMSG)
                return set_error(ret_error, r, "entry \"%s\": absolute path or \"..\" component",
                                 name ?: "");
        if (r < 0)
                return r;
        if (path[0] == '\0')
                return 0; /* the layer's root directory itself: ours already */
        r = split_parent(path, &parent, &base);
        if (r < 0)
                return r;

        if (strcmp(base, WHITEOUT_OPAQUE) == 0) {
                r = make_opaque(root_fd, parent);
                return r < 0 ? set_error(ret_error,
                                         r == -ENOMEM || r == -EOPNOTSUPP ? r : write_failure(-r, -EBADMSG),
                                         "opaque whiteout \"%s\": %s", name, strerror(-r))
                             : 0;
        }
        if (strncmp(base, WHITEOUT_PREFIX, strlen(WHITEOUT_PREFIX)) == 0) {
                r = make_whiteout(root_fd, parent, base + strlen(WHITEOUT_PREFIX), sym_archive_entry_mtime(e));
                return r < 0 ? set_error(ret_error, r == -ENOMEM ? r : write_failure(-r, -EBADMSG),
                                         "whiteout \"%s\": %s", name, strerror(-r))
                             : 0;
        }
        if (has_overlay_xattr(e))
                return set_error(ret_error, -EBADMSG, "entry \"%s\": carries trusted.overlay.* xattrs",
                                 name);

        /* libarchive writes to absolute paths under dir; its SECURE_SYMLINKS check refuses any entry (and
         * hard link target) that would be reached through a symlink, so nothing lands outside dir. */
        if (asprintf(&full, "%s/%s", dir, path) < 0)
                return -ENOMEM;
        sym_archive_entry_set_pathname(e, full);
        hardlink = sym_archive_entry_hardlink(e);
        is_link = hardlink;
        if (hardlink) {
                _cleanup_free_ char *target = NULL;
                r = normalize_path(hardlink, &target);
                if (r < 0 || target[0] == '\0')
                        return set_error(ret_error, r == -ENOMEM ? r : -EBADMSG,
                                         "hard link \"%s\": bad target \"%s\"", name, hardlink);
                if (asprintf(&link_full, "%s/%s", dir, target) < 0)
                        return -ENOMEM;
                sym_archive_entry_set_hardlink(e, link_full);
        }

        r = sym_archive_write_header(out, e);
        if (r < ARCHIVE_WARN)
                return set_error(ret_error, write_failure(sym_archive_errno(out), -EBADMSG), "entry \"%s\": %s",
                                 name, write_error_string(out, text));
        if (r == ARCHIVE_WARN && (r = write_warning(out, flags)) < 0)
                return set_error(ret_error, r, "entry \"%s\": %s", name, write_error_string(out, text));
        if (sym_archive_entry_size(e) > 0 && !is_link) {
                const void *buf;
                size_t size;
                la_int64_t offset;

                while ((r = sym_archive_read_data_block(in, &buf, &size, &offset)) == ARCHIVE_OK)
                        if (sym_archive_write_data_block(out, buf, size, offset) < ARCHIVE_OK)
                                return set_error(ret_error, write_failure(sym_archive_errno(out), -EIO),
                                                 "entry \"%s\": %s", name, write_error_string(out, text));
                if (r != ARCHIVE_EOF)
                        return set_error(ret_error, -EBADMSG, "entry \"%s\": %s", name,
                                         sym_archive_error_string(in));
        }
        r = sym_archive_write_finish_entry(out);
        if (r < ARCHIVE_WARN)
                return set_error(ret_error, write_failure(sym_archive_errno(out), -EIO), "entry \"%s\": %s",
                                 name, write_error_string(out, text));
        if (r == ARCHIVE_WARN && (r = write_warning(out, flags)) < 0)
                return set_error(ret_error, r, "entry \"%s\": %s", name, write_error_string(out, text));

        if (boot && sym_archive_entry_filetype(e) == AE_IFREG && !is_link) {
                r = note_boot_file(boot, path);
                if (r < 0)
                        return r;
        }
        return 0;
}

int oci_layer_unpack(int fd, const char *dir, OciLayerUnpackFlags flags, OciLayerBoot *ret_boot,
                     char **ret_error) {
        OciLayerBoot boot = {};
        /* Freed after in (below finish:), which reads through it. */
        _cleanup_(gzip_reader_freep) GzipReader *reader = NULL;
        struct archive *in = NULL, *out = NULL;
        struct archive_entry *e;
        _cleanup_close_ int root_fd = -EBADF;
        char text[256];
        int r;

        r = dlopen_archive();
        if (r < 0)
                return set_error(ret_error, r, "libarchive is not available");
        root_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (root_fd < 0)
                return -errno;

        in = sym_archive_read_new();
        out = sym_archive_write_disk_new();
        if (!in || !out) {
                r = -ENOMEM;
                goto finish;
        }
        sym_archive_read_support_filter_gzip(in);
        sym_archive_read_support_filter_zstd(in);
        sym_archive_read_support_format_tar(in);
        sym_archive_write_disk_set_options(out, ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_PERM |
                                                    ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_XATTR |
                                                    ARCHIVE_EXTRACT_ACL | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                                                    ARCHIVE_EXTRACT_SECURE_NODOTDOT);
        /* Numeric ids as in the archive: the host's user database has nothing to say about the guest's. */
        sym_archive_write_disk_set_standard_lookup(out);
        sym_archive_write_disk_set_user_lookup(out, NULL, NULL, NULL);
        sym_archive_write_disk_set_group_lookup(out, NULL, NULL, NULL);

        /* gzip inflated by isa-l when it is installed; else, and for the rest, libarchive's filters. */
        r = gzip_reader_new(fd, &reader);
        if (r < 0) {
                r = set_error(ret_error, r, "cannot read the layer: %s", strerror(-r));
                goto finish;
        }
        if (sym_archive_read_open(in, reader, NULL, gzip_reader_read, NULL) != ARCHIVE_OK) {
                r = set_error(ret_error, -EBADMSG, "not a tar archive: %s", sym_archive_error_string(in));
                goto finish;
        }
        for (;;) {
                r = sym_archive_read_next_header(in, &e);
                if (r == ARCHIVE_EOF)
                        break;
                if (r < ARCHIVE_WARN) {
                        r = set_error(ret_error, -EBADMSG, "not a valid tar archive: %s",
                                      sym_archive_error_string(in));
                        goto finish;
                }
                r = unpack_entry(in, out, e, root_fd, dir, flags, ret_boot ? &boot : NULL, ret_error);
                if (r < 0)
                        goto finish;
        }
        /* The tar ended; the gzip stream's CRC may lie beyond, where libarchive never reads. */
        r = gzip_reader_finish(reader, in);
        if (r < 0) {
                r = set_error(ret_error, -EBADMSG, "not a valid tar archive: %s",
                              sym_archive_error_string(in));
                goto finish;
        }
        /* Directory times and modes are fixed up at close. */
        if (sym_archive_write_close(out) != ARCHIVE_OK) {
                r = set_error(ret_error, write_failure(sym_archive_errno(out), -EIO), "finishing the tree: %s",
                              write_error_string(out, text));
                goto finish;
        }
        r = 0;
        if (ret_boot) {
                *ret_boot = boot;
                boot = (OciLayerBoot){};
        }
finish:
        oci_layer_boot_done(&boot);
        if (in)
                sym_archive_read_free(in);
        if (out)
                sym_archive_write_free(out);
        return r;
}

int oci_layer_uuid(const char *digest, char ret[static OCI_LAYER_UUID_LEN + 1]) {
        /* RFC 4122's URL namespace, 6ba7b811-9dad-11d1-80b4-00c04fd430c8 */
        static const unsigned char ns[16] = {0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1,
                                             0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8};
        unsigned char buf[16 + 64], md[20];

        if (!oci_digest_is_valid(digest))
                return -EINVAL;
        memcpy(buf, ns, 16);
        memcpy(buf + 16, digest + strlen(OCI_DIGEST_PREFIX), 64);
        int r = dlopen_gcrypt();
        if (r < 0)
                return r;
        sym_gcry_md_hash_buffer(GCRY_MD_SHA1, md, buf, sizeof(buf));
        md[6] = (md[6] & 0x0f) | 0x50;
        md[8] = (md[8] & 0x3f) | 0x80;
        snprintf(ret, OCI_LAYER_UUID_LEN + 1,
                 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", md[0], md[1], md[2],
                 md[3], md[4], md[5], md[6], md[7], md[8], md[9], md[10], md[11], md[12], md[13], md[14],
                 md[15]);
        return 0;
}

/* Waits for pid up to timeout_usec through a pidfd; kills it when time is up. */
static int wait_bounded(pid_t pid, uint64_t timeout_usec, int *ret_status) {
        _cleanup_close_ int pidfd = -EBADF;
        int status;

        pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
        if (pidfd >= 0) {
                struct pollfd p = {.fd = pidfd, .events = POLLIN};
                int timeout_ms = (int) MIN(timeout_usec / 1000, (uint64_t) INT32_MAX), k;

                while ((k = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR)
                        ;
                if (k == 0) {
                        kill(pid, SIGKILL);
                        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                                ;
                        return -ETIMEDOUT;
                }
        }
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        *ret_status = status;
        return 0;
}

int oci_layer_mkfs_erofs(const char *dir, const char *digest, const char *output, uint64_t timeout_usec,
                         char **ret_error) {
        char uuid[OCI_LAYER_UUID_LEN + 1], uuid_arg[OCI_LAYER_UUID_LEN + 3];
        _cleanup_close_ int errfd = -EBADF;
        _cleanup_free_ char *outdir = NULL;
        posix_spawn_file_actions_t actions;
        pid_t pid;
        int r, status = 0;

        r = oci_layer_uuid(digest, uuid);
        if (r < 0)
                return r;
        snprintf(uuid_arg, sizeof(uuid_arg), "-U%s", uuid);
        char *argv[] = {(char *) "mkfs.erofs",
                        (char *) "--quiet",
                        /* lz4, not the predecessor's lz4hc: lz4hc took 9 s for an 18 MB layer
                         * here (test/bench/images, a loaded host), lz4 0.4 s, for images ~5% larger. */
                        (char *) "-zlz4",
                        (char *) "-C4096",
                        (char *) "--preserve-mtime",
                        uuid_arg,
                        (char *) output,
                        (char *) dir,
                        NULL};

        /* mkfs.erofs' complaints, for the error message: an anonymous file next to the output (the manager
         * may write nowhere else: ProtectSystem=strict). */
        outdir = strdup(output);
        if (!outdir)
                return -ENOMEM;
        *(strrchr(outdir, '/') ?: outdir) = '\0';
        errfd = open(outdir[0] ? outdir : "/", O_RDWR | O_TMPFILE | O_CLOEXEC, 0600);

        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
        if (errfd >= 0)
                posix_spawn_file_actions_adddup2(&actions, errfd, STDERR_FILENO);
        else
                posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
        r = posix_spawnp(&pid, argv[0], &actions, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&actions);
        if (r != 0)
                return set_error(ret_error, -r, "cannot run mkfs.erofs: %s", strerror(r));

        r = wait_bounded(pid, timeout_usec, &status);
        if (r == -ETIMEDOUT)
                return set_error(ret_error, r, "mkfs.erofs took too long");
        if (r < 0)
                return r;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                char text[MKFS_ERROR_MAX + 1] = "";
                ssize_t n = errfd >= 0 ? pread(errfd, text, MKFS_ERROR_MAX, 0) : 0;
                char *line;

                text[n > 0 ? n : 0] = '\0';
                while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' '))
                        text[--n] = '\0';
                line = strrchr(text, '\n');
                return set_error(ret_error, -EIO, "mkfs.erofs failed: %s",
                                 line      ? line + 1
                                 : text[0] ? text
                                           : "?");
        }
        return 0;
}
