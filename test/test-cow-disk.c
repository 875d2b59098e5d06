/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for cow-disk: copies of the per-size template are valid, sparse ext4 file systems with UUIDs of
 * their own (in every superblock), the template is built once and atomically, concurrent creates all
 * succeed. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cow-disk.h"
#include "fs-util.h"
#include "macro.h"

#define SIZE_64M (UINT64_C(64) << 20)

typedef struct Fixture {
        char dir[64];
        char cache[96];
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));
        assert_non_null(f);
        /* Not /tmp: a tmpfs has neither reflinks nor the on-disk layout the disks normally live on. */
        strcpy(f->dir, "/var/tmp/test-cow-disk-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->cache, sizeof(f->cache), "%s/cache", f->dir);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        assert_int_equal(rm_rf(f->dir), 0);
        free(f);
        return 0;
}

static char *path_in(const Fixture *f, const char *name) {
        char *p;
        assert_true(asprintf(&p, "%s/%s", f->dir, name) > 0);
        return p;
}

static uint32_t le32(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

/* The superblock at byte offset `at`: checks the magic, returns the UUID and where group 1's backup is. */
static void read_superblock(const char *path, off_t at, uint8_t uuid[16], off_t *ret_backup) {
        uint8_t sb[1024];
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(pread(fd, sb, sizeof(sb), at), (ssize_t) sizeof(sb));
        close(fd);
        assert_int_equal(sb[56] | sb[57] << 8, 0xEF53);
        memcpy(uuid, sb + 104, 16);
        uint32_t first_data_block = le32(sb + 20), block_size = 1024U << le32(sb + 24);
        uint32_t blocks_per_group = le32(sb + 32);
        if (ret_backup)
                *ret_backup = (off_t) (first_data_block + blocks_per_group) * block_size;
}

static int run(const char *const *argv) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int null = open("/dev/null", O_WRONLY);
                dup2(null, STDOUT_FILENO);
                dup2(null, STDERR_FILENO);
                execvp(argv[0], (char **) argv);
                _exit(127);
        }
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* A complete check: e2fsck verifies every checksum, so a UUID that broke one fails here. */
static void assert_clean_ext4(const char *path) {
        const char *argv[] = {"e2fsck", "-fn", path, NULL};
        assert_int_equal(run(argv), 0);
}

static void assert_sparse(const char *path, uint64_t size) {
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal((uint64_t) st.st_size, size);
        /* An empty ext4 needs about 400 KiB of a 64 MiB disk; a fully written one all of it. */
        assert_true((uint64_t) st.st_blocks * 512 < size / 8);
        assert_int_equal(st.st_mode & 07777, 0600);
}

static void test_two_disks_differ(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *a = path_in(f, "a.raw"), *b = path_in(f, "b.raw"), *template = NULL;
        uint8_t ua[16], ub[16], backup[16];
        off_t backup_at;
        struct stat st;

        assert_int_equal(cow_disk_create(f->cache, a, SIZE_64M), 0);
        /* The first create built and published the template. */
        assert_true(asprintf(&template, "%s/" COW_TEMPLATE_PREFIX "%" PRIu64 COW_TEMPLATE_SUFFIX, f->cache,
                             SIZE_64M) > 0);
        assert_int_equal(stat(template, &st), 0);
        assert_int_equal((uint64_t) st.st_size, SIZE_64M);
        ino_t template_ino = st.st_ino;

        assert_int_equal(cow_disk_create(f->cache, b, SIZE_64M), 0);
        assert_int_equal(stat(template, &st), 0);
        assert_int_equal(st.st_ino, template_ino); /* reused, not rebuilt */

        read_superblock(a, 1024, ua, &backup_at);
        read_superblock(b, 1024, ub, NULL);
        assert_memory_not_equal(ua, ub, 16);
        /* Backups carry the new UUID too (e2fsck -b and resize read them). */
        read_superblock(a, backup_at, backup, NULL);
        assert_memory_equal(ua, backup, 16);
        read_superblock(template, 1024, backup, NULL);
        assert_memory_not_equal(ua, backup, 16);
        assert_memory_not_equal(ub, backup, 16);

        assert_clean_ext4(a);
        assert_clean_ext4(b);
        assert_sparse(a, SIZE_64M);
        assert_sparse(b, SIZE_64M);

        /* Another size gets a template of its own. */
        _cleanup_free_ char *c = path_in(f, "c.raw");
        assert_int_equal(cow_disk_create(f->cache, c, 2 * SIZE_64M), 0);
        assert_clean_ext4(c);
        assert_sparse(c, 2 * SIZE_64M);
}

static void test_existing_path_untouched(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *a = path_in(f, "a.raw"), *data = NULL;
        size_t size;

        assert_int_equal(write_file_atomic_at(AT_FDCWD, a, "keep", 4, 0600), 0);
        assert_int_equal(cow_disk_create(f->cache, a, SIZE_64M), -EEXIST);
        assert_int_equal(read_full_file(a, &data, &size), 0);
        assert_string_equal(data, "keep");
        assert_int_equal(cow_disk_create(f->cache, a, 0), -EINVAL);
}

static void test_bad_template_replaced(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *a = path_in(f, "a.raw"), *template = NULL;
        uint8_t uuid[16];

        /* Something that is not a template of the right size sits under the template's name. */
        assert_int_equal(mkdir_p(f->cache, 0700), 0);
        assert_true(asprintf(&template, "%s/" COW_TEMPLATE_PREFIX "%" PRIu64 COW_TEMPLATE_SUFFIX, f->cache,
                             SIZE_64M) > 0);
        assert_int_equal(write_file_atomic_at(AT_FDCWD, template, "junk", 4, 0600), 0);
        assert_int_equal(cow_disk_create(f->cache, a, SIZE_64M), 0);
        assert_clean_ext4(a);
        read_superblock(template, 1024, uuid, NULL);
}

static void test_no_cache_falls_back(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *a = path_in(f, "a.raw"), *b = path_in(f, "b.raw"),
                            *blocker = path_in(f, "file");
        uint8_t ua[16], ub[16];

        /* No cache directory, or one that cannot be created: mkfs.ext4 on the disk itself. */
        assert_int_equal(cow_disk_create(NULL, a, SIZE_64M), 0);
        assert_int_equal(write_file_atomic_at(AT_FDCWD, blocker, "", 0, 0600), 0);
        _cleanup_free_ char *cache = path_in(f, "file/cache");
        assert_int_equal(cow_disk_create(cache, b, SIZE_64M), 0);
        assert_clean_ext4(a);
        assert_clean_ext4(b);
        read_superblock(a, 1024, ua, NULL);
        read_superblock(b, 1024, ub, NULL);
        assert_memory_not_equal(ua, ub, 16);
        assert_sparse(a, SIZE_64M);
}

static void test_failure_leaves_nothing(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *a = path_in(f, "a.raw");

        /* Too small for any ext4: the template and the fallback both fail, no file stays. */
        assert_true(cow_disk_create(f->cache, a, 4096) < 0);
        assert_int_equal(access(a, F_OK), -1);
        assert_int_equal(errno, ENOENT);
}

typedef struct Racer {
        const Fixture *f;
        int index;
        int r;
} Racer;

static void *racer(void *userdata) {
        Racer *x = userdata;
        char path[128];
        snprintf(path, sizeof(path), "%s/race-%d.raw", x->f->dir, x->index);
        x->r = cow_disk_create(x->f->cache, path, SIZE_64M);
        return NULL;
}

static void test_concurrent_creates(void **state) {
        Fixture *f = *state;
        Racer racers[6];
        pthread_t threads[ELEMENTSOF(racers)];
        uint8_t uuids[ELEMENTSOF(racers)][16];

        /* An empty cache: every thread may build a template at once; exactly one is published. */
        for (size_t i = 0; i < ELEMENTSOF(racers); i++) {
                racers[i] = (Racer){.f = f, .index = (int) i, .r = 1};
                assert_int_equal(pthread_create(&threads[i], NULL, racer, &racers[i]), 0);
        }
        for (size_t i = 0; i < ELEMENTSOF(racers); i++) {
                char path[128];
                assert_int_equal(pthread_join(threads[i], NULL), 0);
                assert_int_equal(racers[i].r, 0);
                snprintf(path, sizeof(path), "%s/race-%zu.raw", f->dir, i);
                assert_clean_ext4(path);
                read_superblock(path, 1024, uuids[i], NULL);
                for (size_t j = 0; j < i; j++)
                        assert_memory_not_equal(uuids[i], uuids[j], 16);
        }
        /* Only the template is in the cache: the unpublished builds had no name to leave behind. */
        _cleanup_(closedirp) DIR *d = opendir(f->cache);
        assert_non_null(d);
        size_t n = 0;
        for (struct dirent *de; (de = readdir(d));)
                if (de->d_name[0] != '.') {
                        assert_int_equal(
                                strncmp(de->d_name, COW_TEMPLATE_PREFIX, strlen(COW_TEMPLATE_PREFIX)), 0);
                        n++;
                }
        assert_int_equal(n, 1);
}

int main(void) {
        /* mkfs.ext4 and e2fsck live in sbin, which a test runner's PATH may lack. */
        const char *path = getenv("PATH");
        _cleanup_free_ char *p = NULL;
        assert_true(asprintf(&p, "%s:/usr/sbin:/sbin", path ?: "/usr/bin:/bin") > 0);
        setenv("PATH", p, 1);

        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_two_disks_differ, setup, teardown),
                cmocka_unit_test_setup_teardown(test_existing_path_untouched, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_template_replaced, setup, teardown),
                cmocka_unit_test_setup_teardown(test_no_cache_falls_back, setup, teardown),
                cmocka_unit_test_setup_teardown(test_failure_leaves_nothing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_concurrent_creates, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
