/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for layer unpacking with tars built here by libarchive: whiteouts and opaque directories in
 * overlayfs form, ownership, xattrs, hard links, boot files; traversal (absolute, "..", through a
 * symlink, bad hard link targets) refused with nothing written outside; gzip through isa-l (one member or
 * several) the same tree as the plain tar, a bad CRC after the tar's end or a cut stream refused; the
 * EROFS image and its UUID. */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "oci-layer.h"
#include "tree-test-util.h"

typedef struct Entry {
        const char *path;
        mode_t type; /* AE_IFREG, AE_IFDIR, AE_IFLNK, or 0 for a hard link */
        const char *data; /* file content, symlink or hard link target */
        const char *xattr; /* "name=value" or NULL */
} Entry;

static char base[] = "/tmp/test-oci-layer-XXXXXX";

/* A gzip-compressed pax tar of entries into an unlinked temporary file; returns its fd at offset 0. */
static int make_tar(const Entry *entries, size_t n, bool gzip) {
        char path[256];
        struct archive *a = archive_write_new();
        int fd;

        snprintf(path, sizeof(path), "%s/tar-XXXXXX", base);
        fd = mkstemp(path);
        assert_true(fd >= 0);
        unlink(path);
        archive_write_set_format_pax_restricted(a);
        if (gzip)
                archive_write_add_filter_gzip(a);
        assert_int_equal(archive_write_open_fd(a, fd), ARCHIVE_OK);
        for (size_t i = 0; i < n; i++) {
                struct archive_entry *e = archive_entry_new();
                const Entry *x = &entries[i];

                archive_entry_set_pathname(e, x->path);
                archive_entry_set_uid(e, 1234);
                archive_entry_set_gid(e, 5678);
                archive_entry_set_mtime(e, 1000000000, 0);
                if (x->type == 0) {
                        archive_entry_set_filetype(e, AE_IFREG);
                        archive_entry_set_perm(e, 0644);
                        archive_entry_set_hardlink(e, x->data);
                } else {
                        archive_entry_set_filetype(e, x->type);
                        archive_entry_set_perm(e, x->type == AE_IFDIR ? 0750 : 0640);
                        if (x->type == AE_IFLNK)
                                archive_entry_set_symlink(e, x->data);
                        if (x->type == AE_IFREG && x->data)
                                archive_entry_set_size(e, strlen(x->data));
                }
                if (x->xattr) {
                        const char *eq = strchr(x->xattr, '=');
                        char name[128];
                        snprintf(name, sizeof(name), "%.*s", (int) (eq - x->xattr), x->xattr);
                        archive_entry_xattr_add_entry(e, name, eq + 1, strlen(eq + 1));
                }
                assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
                if (x->type == AE_IFREG && x->data)
                        assert_int_equal(archive_write_data(a, x->data, strlen(x->data)),
                                         (ssize_t) strlen(x->data));
                archive_entry_free(e);
        }
        assert_int_equal(archive_write_close(a), ARCHIVE_OK);
        archive_write_free(a);
        assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
        return fd;
}

static char *new_dir(const char *name) {
        char *d;
        assert_true(asprintf(&d, "%s/%s", base, name) > 0);
        assert_int_equal(mkdir(d, 0700), 0);
        return d;
}

static char *at(const char *dir, const char *rel) {
        static char buf[1024];
        snprintf(buf, sizeof(buf), "%s/%s", dir, rel);
        return buf;
}

/* A layer with one of each: what test_unpack() checks, and the gzip tests unpack. */
static const Entry layer_entries[] = {
        {"./", AE_IFDIR, NULL, NULL},
        {"./a/", AE_IFDIR, NULL, NULL},
        {"./a/f", AE_IFREG, "content", "user.cocoon=yes"},
        {"./a/h", 0, "./a/f", NULL},
        {"./a/.wh.gone", AE_IFREG, NULL, NULL},
        {"d/", AE_IFDIR, NULL, NULL},
        {"d/.wh..wh..opq", AE_IFREG, NULL, NULL},
        {"deep/er/.wh..wh..opq", AE_IFREG, NULL, NULL},
        {"l", AE_IFLNK, "/etc", NULL},
        {"boot/vmlinuz-1", AE_IFREG, "k1", NULL},
        {"boot/vmlinuz-2", AE_IFREG, "k2", NULL},
        {"boot/vmlinuz-3.old", AE_IFREG, "k3", NULL},
        {"vmlinuz-9", AE_IFREG, "k9", NULL},
        {"initrd.img-2", AE_IFREG, "i2", NULL},
        {"boot/initrd.img", AE_IFLNK, "initrd.img-2", NULL},
};

static void test_unpack(void **state) {
        _cleanup_free_ char *dir = new_dir("unpack"), *error = NULL;
        OciLayerBoot boot = {};
        struct stat st, st2;
        char value[16] = "";
        int fd;

        fd = make_tar(layer_entries, ELEMENTSOF(layer_entries), true);
        /* Everything kept (on this file system), so no warning even where one would fail it. */
        assert_int_equal(oci_layer_unpack(fd, dir, OCI_LAYER_UNPACK_KEEP_ALL, &boot, &error), 0);
        close(fd);
        assert_null(error);

        assert_int_equal(lstat(at(dir, "a/f"), &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0640);
        assert_int_equal(st.st_uid, 1234);
        assert_int_equal(st.st_gid, 5678);
        assert_int_equal(st.st_mtime, 1000000000);
        assert_int_equal(st.st_size, 7);
        assert_int_equal(lgetxattr(at(dir, "a/f"), "user.cocoon", value, sizeof(value)), 3);
        assert_string_equal(value, "yes");
        /* hard link kept */
        assert_int_equal(lstat(at(dir, "a/h"), &st2), 0);
        assert_int_equal(st.st_ino, st2.st_ino);
        assert_int_equal(st.st_nlink, 2);
        /* whiteout: 0:0 character device under the plain name, no ".wh." file */
        assert_int_equal(lstat(at(dir, "a/gone"), &st), 0);
        assert_true(S_ISCHR(st.st_mode));
        assert_int_equal(st.st_rdev, makedev(0, 0));
        /* The entry's time, not the unpacking's: the image is the same whenever the layer is unpacked. */
        assert_int_equal(st.st_mtime, 1000000000);
        assert_int_equal(lstat(at(dir, "a/.wh.gone"), &st), -1);
        /* opaque directories, also one whose directory entry the layer did not have */
        memset(value, 0, sizeof(value));
        assert_int_equal(lgetxattr(at(dir, "d"), "trusted.overlay.opaque", value, sizeof(value)), 1);
        assert_string_equal(value, "y");
        assert_int_equal(lgetxattr(at(dir, "deep/er"), "trusted.overlay.opaque", value, sizeof(value)), 1);
        assert_int_equal(lstat(at(dir, "d/.wh..wh..opq"), &st), -1);
        assert_int_equal(lstat(at(dir, "d"), &st), 0);
        assert_int_equal(st.st_mode & 07777, 0750);
        /* symlinks are kept as they are */
        assert_int_equal(lstat(at(dir, "l"), &st), 0);
        assert_true(S_ISLNK(st.st_mode));
        /* boot files: boot/ first, the last version, no .old, no symlinks */
        assert_string_equal(boot.kernel, "boot/vmlinuz-2");
        assert_string_equal(boot.initrd, "initrd.img-2");
        oci_layer_boot_done(&boot);
}

static void assert_refused(const char *name, const Entry *entries, size_t n, const char *message) {
        _cleanup_free_ char *dir = new_dir(name), *error = NULL;
        int fd = make_tar(entries, n, false);

        assert_int_equal(oci_layer_unpack(fd, dir, 0, NULL, &error), -EBADMSG);
        close(fd);
        assert_non_null(error);
        if (!strstr(error, message))
                fail_msg("%s: error \"%s\" does not say \"%s\"", name, error, message);
}

static void test_refused(void **state) {
        _cleanup_free_ char *outside = new_dir("outside"), *target = NULL;
        struct stat st;

        assert_refused("dotdot", (Entry[]){{"a/../../escape", AE_IFREG, "x", NULL}}, 1, "\"..\"");
        assert_refused("absolute", (Entry[]){{"/abs", AE_IFREG, "x", NULL}}, 1, "absolute");
        assert_refused("hardlink", (Entry[]){{"h", 0, "../../etc/passwd", NULL}}, 1, "hard link");
        assert_refused("overlay-xattr", (Entry[]){{"f", AE_IFREG, "x", "trusted.overlay.redirect=/x"}}, 1,
                       "trusted.overlay");
        assert_refused("whiteout-dotdot", (Entry[]){{"a/.wh..", AE_IFREG, NULL, NULL}}, 1, "whiteout");

        /* a symlink to a directory outside, then an entry through it */
        target = strdup(outside);
        assert_refused("through-symlink",
                       (Entry[]){{"link", AE_IFLNK, target, NULL}, {"link/planted", AE_IFREG, "x", NULL}}, 2,
                       "link/planted");
        assert_refused("whiteout-through-symlink",
                       (Entry[]){{"link", AE_IFLNK, target, NULL}, {"link/.wh.x", AE_IFREG, NULL, NULL}}, 2,
                       "whiteout");
        assert_refused(
                "opaque-through-symlink",
                (Entry[]){{"link", AE_IFLNK, target, NULL}, {"link/.wh..wh..opq", AE_IFREG, NULL, NULL}}, 2,
                "opaque");
        assert_int_equal(lstat(at(outside, "planted"), &st), -1);
        assert_int_equal(lstat(at(outside, "x"), &st), -1);
        assert_int_equal(lgetxattr(outside, "trusted.overlay.opaque", NULL, 0), -1);
}

static void test_not_a_tar(void **state) {
        _cleanup_free_ char *dir = new_dir("garbage"), *error = NULL;
        char path[256];
        int fd;

        snprintf(path, sizeof(path), "%s/garbage-XXXXXX", base);
        fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "this is no tar archive at all, and surely not a gzip one\n", 57), 57);
        lseek(fd, 0, SEEK_SET);
        assert_int_equal(oci_layer_unpack(fd, dir, 0, NULL, &error), -EBADMSG);
        assert_non_null(error);
        close(fd);
}

/* gzip members (zlib, as gzip(1) writes them) of tar cut at cuts[], in an unlinked file; zeros more bytes
 * in the last member after the tar, its CRC flipped if asked, the stream cut short by cut_end bytes. */
static int make_gzip(int tar_fd, const size_t *cuts, size_t n_cuts, size_t zeros, bool flip_crc,
                     size_t cut_end) {
        _cleanup_free_ uint8_t *tar = NULL, *gz = NULL;
        size_t size = (size_t) lseek(tar_fd, 0, SEEK_END), gz_size = 0, gz_max;
        char path[256];
        int fd;

        tar = calloc(1, size + zeros);
        assert_non_null(tar);
        assert_int_equal(pread(tar_fd, tar, size, 0), (ssize_t) size);
        gz_max = size + zeros + 1024 * (n_cuts + 1);
        gz = malloc(gz_max);
        assert_non_null(gz);
        for (size_t i = 0, from = 0; i <= n_cuts; i++) {
                size_t to = i < n_cuts ? cuts[i] : size + zeros;
                z_stream z = {.next_in = tar + from, .avail_in = (uInt) (to - from),
                              .next_out = gz + gz_size, .avail_out = (uInt) (gz_max - gz_size)};
                /* 16 + MAX_WBITS: a gzip header and trailer, not zlib's */
                assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
                                 Z_OK);
                assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
                gz_size += z.total_out;
                deflateEnd(&z);
                from = to;
        }
        if (flip_crc)
                gz[gz_size - 8] ^= 0x01;
        gz_size -= cut_end;

        snprintf(path, sizeof(path), "%s/gz-XXXXXX", base);
        fd = mkstemp(path);
        assert_true(fd >= 0);
        unlink(path);
        assert_int_equal(write(fd, gz, gz_size), (ssize_t) gz_size);
        assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
        return fd;
}

static void unpack_into(int fd, const char *dir) {
        _cleanup_free_ char *error = NULL;

        if (oci_layer_unpack(fd, dir, 0, NULL, &error) < 0)
                fail_msg("unpacking into %s: %s", dir, error);
        close(fd);
}

static void test_gzip_same_tree(void **state) {
        _cleanup_free_ char *plain = new_dir("plain"), *gzip = new_dir("gzip"),
                            *members = new_dir("members");
        int tar_fd = make_tar(layer_entries, ELEMENTSOF(layer_entries), false);
        const size_t cuts[] = {700, 1500, 5000};

        /* libarchive alone, the tar as it is; libarchive's gzip writer read back through isa-l; gzip
         * members split inside headers and file data. */
        unpack_into(make_tar(layer_entries, ELEMENTSOF(layer_entries), false), plain);
        unpack_into(make_tar(layer_entries, ELEMENTSOF(layer_entries), true), gzip);
        unpack_into(make_gzip(tar_fd, cuts, ELEMENTSOF(cuts), 0, false, 0), members);
        close(tar_fd);
        /* The root, a/ and its three, d/, deep/, deep/er/, l, boot/ and its four, two more at the root. */
        assert_int_equal(tree_assert_equal(plain, gzip), 16);
        assert_int_equal(tree_assert_equal(plain, members), 16);
}

static void test_gzip_corrupt(void **state) {
        static const struct {
                const char *name;
                size_t zeros;
                bool flip_crc;
                size_t cut_end;
                const char *message;
        } cases[] = {
                /* The CRC behind 600 kB of zeros after the tar's end, which libarchive never reads. */
                {"bad-crc", 600 * 1000, true, 0, "corrupt gzip stream: CRC or length mismatch"},
                {"cut", 0, false, 100, "corrupt gzip stream: truncated"},
        };
        int tar_fd = make_tar(layer_entries, ELEMENTSOF(layer_entries), false);

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *dir = new_dir(cases[i].name), *error = NULL;
                int fd = make_gzip(tar_fd, NULL, 0, cases[i].zeros, cases[i].flip_crc, cases[i].cut_end);

                assert_int_equal(oci_layer_unpack(fd, dir, 0, NULL, &error), -EBADMSG);
                close(fd);
                assert_non_null(error);
                if (!strstr(error, cases[i].message))
                        fail_msg("%s: error \"%s\" does not say \"%s\"", cases[i].name, error,
                                 cases[i].message);
        }
        close(tar_fd);
}

static void test_uuid(void **state) {
        char uuid[OCI_LAYER_UUID_LEN + 1];

        /* python3: uuid.uuid5(uuid.NAMESPACE_URL, 'a' * 64) */
        assert_int_equal(
                oci_layer_uuid("sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                               uuid),
                0);
        assert_string_equal(uuid, "37a282a8-9bf9-58e8-af1a-344d9b593c37");
        assert_int_equal(oci_layer_uuid("sha256:xyz", uuid), -EINVAL);
}

static void test_mkfs_erofs(void **state) {
        static const Entry entries[] = {
                {"etc/", AE_IFDIR, NULL, NULL},
                {"etc/hostname", AE_IFREG, "cocoon\n", NULL},
                {"etc/.wh.motd", AE_IFREG, NULL, NULL},
        };
        _cleanup_free_ char *dir = new_dir("tree"), *error = NULL, *image = NULL;
        unsigned char sb[4];
        int fd;

        fd = make_tar(entries, ELEMENTSOF(entries), true);
        assert_int_equal(oci_layer_unpack(fd, dir, 0, NULL, &error), 0);
        close(fd);
        assert_true(asprintf(&image, "%s/layer.erofs", base) > 0);
        assert_int_equal(oci_layer_mkfs_erofs(
                                 dir,
                                 "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                                 image, OCI_LAYER_MKFS_TIMEOUT_USEC, &error),
                         0);
        /* EROFS superblock magic 0xe0f5e1e2 (little endian) at 1024 */
        fd = open(image, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(pread(fd, sb, 4, 1024), 4);
        close(fd);
        assert_int_equal(sb[0], 0xe2);
        assert_int_equal(sb[1], 0xe1);
        assert_int_equal(sb[2], 0xf5);
        assert_int_equal(sb[3], 0xe0);

        /* a tree that is not there: mkfs.erofs' complaint comes back */
        assert_int_equal(oci_layer_mkfs_erofs(
                                 at(base, "missing"),
                                 "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                                 image, OCI_LAYER_MKFS_TIMEOUT_USEC, &error),
                         -EIO);
        assert_non_null(strstr(error, "mkfs.erofs failed"));
}

/* A private mount namespace for this process (the test mounts are invisible to everyone else); false
 * without CAP_SYS_ADMIN. */
static bool private_mounts(void) {
        return unshare(CLONE_NEWNS) >= 0 && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) >= 0;
}

/* The tree's file system full is -ENOSPC, not a layer refused (-EBADMSG): the unpacker tries again on
 * disk; metadata it cannot hold fails only when asked to (OCI_LAYER_UNPACK_KEEP_ALL). */
static void test_file_system_limits(void **state) {
        _cleanup_free_ char *small = new_dir("small"), *plain = new_dir("ramfs"), *plain2 = NULL, *error = NULL,
                            *big = malloc(256 * 1024 + 1);
        const Entry xattr_entries[] = {{"f", AE_IFREG, "content", "user.cocoon=yes"}};
        char value[8] = "";
        int fd;

        if (!private_mounts())
                skip();
        assert_non_null(big);
        memset(big, 'x', 256 * 1024);
        big[256 * 1024] = '\0';
        const Entry big_entries[] = {{"dir/", AE_IFDIR, NULL, NULL}, {"dir/big", AE_IFREG, big, NULL}};

        assert_int_equal(mount("tmpfs", small, "tmpfs", 0, "size=64k"), 0);
        fd = make_tar(big_entries, ELEMENTSOF(big_entries), true);
        assert_int_equal(oci_layer_unpack(fd, small, 0, NULL, &error), -ENOSPC);
        assert_non_null(strstr(error, "dir/big\": Write failed: No space left on device"));
        error = mfree(error);
        close(fd);
        assert_int_equal(umount(small), 0);

        /* ramfs keeps no xattrs at all. */
        assert_int_equal(mount("ramfs", plain, "ramfs", 0, NULL), 0);
        plain2 = strdup(at(plain, "second"));
        assert_int_equal(mkdir(plain2, 0700), 0);
        fd = make_tar(xattr_entries, ELEMENTSOF(xattr_entries), false);
        assert_int_equal(oci_layer_unpack(fd, plain, OCI_LAYER_UNPACK_KEEP_ALL, NULL, &error), -EOPNOTSUPP);
        assert_non_null(strstr(error, "\"f\""));
        error = mfree(error);
        assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
        assert_int_equal(oci_layer_unpack(fd, plain2, 0, NULL, &error), 0);
        assert_int_equal(access(at(plain2, "f"), F_OK), 0);
        assert_true(getxattr(at(plain2, "f"), "user.cocoon", value, sizeof(value)) < 0);
        close(fd);
        assert_int_equal(umount(plain), 0);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path) < 0 ? 0 : 0;
}

static int setup(void **state) {
        return mkdtemp(base) ? 0 : -1;
}

static int teardown(void **state) {
        return nftw(base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_unpack),     cmocka_unit_test(test_refused),
                cmocka_unit_test(test_not_a_tar),  cmocka_unit_test(test_gzip_same_tree),
                cmocka_unit_test(test_gzip_corrupt), cmocka_unit_test(test_uuid),
                cmocka_unit_test(test_mkfs_erofs), cmocka_unit_test(test_file_system_limits),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
