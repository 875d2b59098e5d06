/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for fs-util: atomic replacement, mkdir_p, rm_rf without following symlinks, bounded reads. */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "fs-util.h"
#include "macro.h"

typedef struct Fixture {
        char dir[64];
        int dir_fd;
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));
        assert_non_null(f);
        strcpy(f->dir, "/tmp/test-fs-util-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        f->dir_fd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(f->dir_fd >= 0);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        safe_close(f->dir_fd);
        assert_int_equal(rm_rf(f->dir), 0);
        free(f);
        return 0;
}

/* Names in dir_fd/sub, sorted, joined with ' '. */
static char *list_dir(int dir_fd, const char *sub) {
        struct dirent **entries;
        char *out = NULL, path[64];
        size_t size = 0;
        bool first = true;
        int fd, n;

        fd = openat(dir_fd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(fd >= 0);
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        n = scandir(path, &entries, NULL, alphasort);
        assert_true(n >= 0);

        FILE *m = open_memstream(&out, &size);
        assert_non_null(m);
        for (int i = 0; i < n; i++) {
                if (!streq(entries[i]->d_name, ".") && !streq(entries[i]->d_name, "..")) {
                        fprintf(m, "%s%s", first ? "" : " ", entries[i]->d_name);
                        first = false;
                }
                free(entries[i]);
        }
        free(entries);
        fclose(m);
        close(fd);
        return out;
}

static char *read_at(int dir_fd, const char *name) {
        char *data = NULL;
        assert_int_equal(read_full_file_at(dir_fd, name, 1024, &data, NULL), 0);
        return data;
}

static void test_write_atomic(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *a = NULL, *b = NULL, *names = NULL;
        struct stat st;
        mode_t old_umask = umask(0077);

        assert_int_equal(write_file_atomic_at(f->dir_fd, "rec", "hello", 5, 0644), 0);
        a = read_at(f->dir_fd, "rec");
        assert_string_equal(a, "hello");
        /* The mode is what was asked for, whatever the umask. */
        assert_int_equal(fstatat(f->dir_fd, "rec", &st, 0), 0);
        assert_int_equal(st.st_mode & 07777, 0644);

        /* Replaces: new inode with the new content, nothing else left in the directory. */
        ino_t first = st.st_ino;
        assert_int_equal(write_file_atomic_at(f->dir_fd, "rec", "replaced content", 16, 0600), 0);
        b = read_at(f->dir_fd, "rec");
        assert_string_equal(b, "replaced content");
        assert_int_equal(fstatat(f->dir_fd, "rec", &st, 0), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        assert_true(st.st_ino != first);
        names = list_dir(f->dir_fd, ".");
        assert_string_equal(names, "rec");

        /* Empty content is fine. */
        assert_int_equal(write_file_atomic_at(f->dir_fd, "empty", "", 0, 0600), 0);
        assert_int_equal(fstatat(f->dir_fd, "empty", &st, 0), 0);
        assert_int_equal(st.st_size, 0);
        umask(old_umask);
}

static void test_write_atomic_paths(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *abs = NULL, *data = NULL, *names = NULL;

        assert_int_equal(mkdirat(f->dir_fd, "sub", 0700), 0);
        assert_int_equal(write_file_atomic_at(f->dir_fd, "sub/x", "1", 1, 0600), 0);
        data = read_at(f->dir_fd, "sub/x");
        assert_string_equal(data, "1");
        free(data);

        assert_true(asprintf(&abs, "%s/sub/y", f->dir) > 0);
        assert_int_equal(write_file_atomic_at(AT_FDCWD, abs, "2", 1, 0600), 0);
        data = read_at(f->dir_fd, "sub/y");
        assert_string_equal(data, "2");

        names = list_dir(f->dir_fd, "sub");
        assert_string_equal(names, "x y");

        assert_int_equal(write_file_atomic_at(f->dir_fd, "missing/x", "1", 1, 0600), -ENOENT);
        assert_int_equal(write_file_atomic_at(f->dir_fd, "sub/", "1", 1, 0600), -EISDIR);
        assert_int_equal(write_file_atomic_at(f->dir_fd, "", "1", 1, 0600), -EINVAL);
}

static void test_write_atomic_failure_leaves_nothing(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *names = NULL;

        /* The rename fails (the target is a non-empty directory): the error comes back, the target is
         * untouched and the temporary file is gone. */
        assert_int_equal(mkdirat(f->dir_fd, "target", 0700), 0);
        assert_int_equal(write_file_atomic_at(f->dir_fd, "target/keep", "k", 1, 0600), 0);
        int r = write_file_atomic_at(f->dir_fd, "target", "x", 1, 0600);
        assert_true(r == -EISDIR || r == -ENOTEMPTY || r == -EEXIST);
        names = list_dir(f->dir_fd, ".");
        assert_string_equal(names, "target");
}

static void test_fsync_file_at(void **state) {
        Fixture *f = *state;

        assert_int_equal(write_file_atomic_at(f->dir_fd, "file", "x", 1, 0444), 0);
        assert_int_equal(fsync_file_at(f->dir_fd, "file"), 0); /* read-only is enough to sync */
        assert_int_equal(symlinkat("file", f->dir_fd, "link"), 0);
        assert_int_equal(fsync_file_at(f->dir_fd, "link"), -ELOOP);
        assert_int_equal(fsync_file_at(f->dir_fd, "missing"), -ENOENT);
        assert_int_equal(fsync_file_at(f->dir_fd, NULL), -EINVAL);
}

static void test_mkdir_p(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *deep = NULL, *file = NULL, *through = NULL;
        struct stat st;
        mode_t old_umask = umask(0);

        assert_true(asprintf(&deep, "%s/a/b//c/", f->dir) > 0);
        assert_int_equal(mkdir_p(deep, 0750), 0);
        assert_int_equal(fstatat(f->dir_fd, "a/b/c", &st, 0), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0750);
        assert_int_equal(mkdir_p(deep, 0750), 0); /* exists: fine */

        assert_int_equal(write_file_atomic_at(f->dir_fd, "a/file", "x", 1, 0600), 0);
        assert_true(asprintf(&file, "%s/a/file", f->dir) > 0);
        assert_int_equal(mkdir_p(file, 0750), -ENOTDIR);
        assert_true(asprintf(&through, "%s/a/file/sub", f->dir) > 0);
        assert_int_equal(mkdir_p(through, 0750), -ENOTDIR);
        assert_int_equal(mkdir_p("", 0750), -EINVAL);
        umask(old_umask);
}

static void test_rm_rf(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *tree = NULL, *outside = NULL, *names = NULL, *link = NULL, *data = NULL;
        struct stat st;

        /* tree/{f1, d1/{f2, d2/f3}, link-dir -> ../outside, link-file -> ../outside/precious} */
        assert_int_equal(mkdirat(f->dir_fd, "outside", 0700), 0);
        assert_int_equal(write_file_atomic_at(f->dir_fd, "outside/precious", "p", 1, 0600), 0);
        assert_int_equal(mkdirat(f->dir_fd, "tree", 0700), 0);
        assert_int_equal(mkdirat(f->dir_fd, "tree/d1", 0700), 0);
        assert_int_equal(mkdirat(f->dir_fd, "tree/d1/d2", 0500),
                         0); /* read-only dir: still emptied (root) */
        assert_int_equal(write_file_atomic_at(f->dir_fd, "tree/f1", "1", 1, 0600), 0);
        assert_int_equal(write_file_atomic_at(f->dir_fd, "tree/d1/f2", "2", 1, 0600), 0);
        assert_int_equal(symlinkat("../outside", f->dir_fd, "tree/link-dir"), 0);
        assert_int_equal(symlinkat("../outside/precious", f->dir_fd, "tree/link-file"), 0);

        assert_true(asprintf(&tree, "%s/tree/", f->dir) > 0);
        assert_int_equal(rm_rf(tree), 0);
        assert_int_equal(fstatat(f->dir_fd, "tree", &st, AT_SYMLINK_NOFOLLOW), -1);
        assert_int_equal(errno, ENOENT);

        /* The symlink targets survived. */
        data = read_at(f->dir_fd, "outside/precious");
        assert_string_equal(data, "p");

        /* A symlink given as the top: the link goes, its target stays. */
        assert_int_equal(symlinkat("outside", f->dir_fd, "toplink"), 0);
        assert_true(asprintf(&link, "%s/toplink", f->dir) > 0);
        assert_int_equal(rm_rf(link), 0);
        names = list_dir(f->dir_fd, ".");
        assert_string_equal(names, "outside");
        names = mfree(names);
        names = list_dir(f->dir_fd, "outside");
        assert_string_equal(names, "precious");

        /* Missing is success; "/" and "" are refused; a plain file is removed. */
        assert_int_equal(rm_rf(tree), 0);
        assert_int_equal(rm_rf("/"), -EPERM);
        assert_int_equal(rm_rf("//"), -EPERM);
        assert_int_equal(rm_rf(""), -EINVAL);
        assert_true(asprintf(&outside, "%s/outside/precious", f->dir) > 0);
        assert_int_equal(rm_rf(outside), 0);
        assert_int_equal(rm_rf_at(f->dir_fd, "outside"), 0);
        names = mfree(names);
        names = list_dir(f->dir_fd, ".");
        assert_string_equal(names, "");
}

static void test_rm_rf_mount_point(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *mnt = NULL, *tree = NULL, *data = NULL;
        struct stat st;

        /* A private mount namespace for this process, so the test mount is invisible to everyone else. */
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                skip(); /* needs CAP_SYS_ADMIN */

        assert_int_equal(mkdirat(f->dir_fd, "tree", 0700), 0);
        assert_int_equal(mkdirat(f->dir_fd, "tree/mnt", 0700), 0);
        assert_int_equal(write_file_atomic_at(f->dir_fd, "tree/file", "f", 1, 0600), 0);
        assert_true(asprintf(&mnt, "%s/tree/mnt", f->dir) > 0);
        assert_int_equal(mount("tmpfs", mnt, "tmpfs", 0, "size=1m"), 0);
        assert_int_equal(write_file_atomic_at(f->dir_fd, "tree/mnt/other-fs", "o", 1, 0600), 0);

        /* Never empties another file system: -EXDEV, its content survives, the rest is removed. */
        assert_true(asprintf(&tree, "%s/tree", f->dir) > 0);
        assert_int_equal(rm_rf(tree), -EXDEV);
        data = read_at(f->dir_fd, "tree/mnt/other-fs");
        assert_string_equal(data, "o");
        assert_int_equal(fstatat(f->dir_fd, "tree/file", &st, 0), -1);

        assert_int_equal(umount(mnt), 0);
        assert_int_equal(rm_rf(tree), 0);
}

static void test_read_full_file(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *data = NULL, *path = NULL, *proc = NULL;
        size_t size = 0;

        assert_int_equal(write_file_atomic_at(f->dir_fd, "five", "12345", 5, 0600), 0);
        assert_int_equal(read_full_file_at(f->dir_fd, "five", 5, &data, &size), 0);
        assert_int_equal(size, 5);
        assert_memory_equal(data, "12345", 6); /* NUL terminated */
        data = mfree(data);
        assert_int_equal(read_full_file_at(f->dir_fd, "five", 4, &data, &size), -EFBIG);
        assert_null(data);

        /* A file with binary content keeps its size. */
        assert_int_equal(write_file_atomic_at(f->dir_fd, "bin", "a\0b", 3, 0600), 0);
        assert_true(asprintf(&path, "%s/bin", f->dir) > 0);
        assert_int_equal(read_full_file(path, &data, &size), 0);
        assert_int_equal(size, 3);
        assert_memory_equal(data, "a\0b", 3);
        data = mfree(data);

        /* st_size is 0 for /proc files; the content is read anyway. */
        assert_int_equal(read_full_file("/proc/self/status", &proc, &size), 0);
        assert_true(size > 0);
        assert_non_null(strstr(proc, "Pid:"));

        assert_int_equal(read_full_file(f->dir, &data, NULL), -EISDIR);
        assert_int_equal(read_full_file_at(f->dir_fd, "missing", 10, &data, NULL), -ENOENT);
        assert_null(data);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_write_atomic, setup, teardown),
                cmocka_unit_test_setup_teardown(test_write_atomic_paths, setup, teardown),
                cmocka_unit_test_setup_teardown(test_write_atomic_failure_leaves_nothing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_fsync_file_at, setup, teardown),
                cmocka_unit_test_setup_teardown(test_mkdir_p, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rm_rf, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rm_rf_mount_point, setup, teardown),
                cmocka_unit_test_setup_teardown(test_read_full_file, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
