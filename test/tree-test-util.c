/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Test helper: two unpacked trees compared entry by entry. */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

#include "fs-util.h"
#include "tree-test-util.h"

/* nftw() takes no user data. */
static const char *other_root;
static size_t root_length;
static unsigned entries;

static void assert_same_xattrs(const char *a, const char *b) {
        char names_a[4096], names_b[4096], value_a[4096], value_b[4096];
        ssize_t na = llistxattr(a, names_a, sizeof(names_a)), nb = llistxattr(b, names_b, sizeof(names_b));

        assert_true(na >= 0);
        assert_int_equal(na, nb);
        for (char *n = names_a; n < names_a + na; n += strlen(n) + 1) {
                ssize_t va = lgetxattr(a, n, value_a, sizeof(value_a)),
                        vb = lgetxattr(b, n, value_b, sizeof(value_b));
                assert_true(va >= 0);
                assert_int_equal(va, vb);
                assert_memory_equal(value_a, value_b, (size_t) va);
        }
}

static int compare_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        _cleanup_free_ char *twin = NULL, *a = NULL, *b = NULL;
        char link_a[4096], link_b[4096];
        size_t na, nb;
        struct stat st2;

        assert_true(asprintf(&twin, "%s%s", other_root, path + root_length) > 0);
        if (lstat(twin, &st2) < 0)
                fail_msg("%s has no twin %s", path, twin);
        assert_int_equal(st->st_mode, st2.st_mode);
        assert_int_equal(st->st_uid, st2.st_uid);
        assert_int_equal(st->st_gid, st2.st_gid);
        assert_int_equal(st->st_rdev, st2.st_rdev);
        if (!S_ISDIR(st->st_mode)) {
                assert_int_equal(st->st_size, st2.st_size);
                if (st->st_mtime != st2.st_mtime)
                        fail_msg("%s: mtime %lld, its twin's %lld", path, (long long) st->st_mtime,
                                 (long long) st2.st_mtime);
                assert_int_equal(st->st_nlink, st2.st_nlink);
        }
        if (S_ISREG(st->st_mode)) {
                assert_int_equal(read_full_file(path, &a, &na), 0);
                assert_int_equal(read_full_file(twin, &b, &nb), 0);
                assert_int_equal(na, nb);
                assert_memory_equal(a, b, na);
        }
        if (S_ISLNK(st->st_mode)) {
                ssize_t la = readlink(path, link_a, sizeof(link_a)),
                        lb = readlink(twin, link_b, sizeof(link_b));
                assert_true(la >= 0);
                assert_int_equal(la, lb);
                assert_memory_equal(link_a, link_b, (size_t) la);
        }
        assert_same_xattrs(path, twin);
        entries++;
        return 0;
}

unsigned tree_assert_equal(const char *a, const char *b) {
        const char *pairs[2][2] = {{a, b}, {b, a}};
        unsigned n[2];

        for (size_t i = 0; i < 2; i++) {
                other_root = pairs[i][1];
                root_length = strlen(pairs[i][0]);
                entries = 0;
                assert_int_equal(nftw(pairs[i][0], compare_entry, 16, FTW_PHYS), 0);
                n[i] = entries;
        }
        assert_int_equal(n[0], n[1]);
        return n[0];
}
