/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for the image store: content-addressed blobs, records on disk, import rollback, removal, GC. */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "fs-util.h"
#include "image-store-internal.h"
#include "json-util.h"
#include "strv-util.h"

/* SHA-256("abc") from FIPS 180-2, appendix B.1: an answer that does not come from the code under test. */
#define ABC_SHA256 "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

typedef struct Fixture {
        char dir[64]; /* the test's temporary directory */
        char *state_dir; /* <dir>/state */
        char *images_dir; /* <dir>/state/images */
        char *blobs_dir; /* <dir>/state/images/blobs */
        ImageStore *store;
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));

        assert_non_null(f);
        strcpy(f->dir, "/tmp/test-image-store-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        assert_true(asprintf(&f->state_dir, "%s/state", f->dir) > 0);
        assert_true(asprintf(&f->images_dir, "%s/images", f->state_dir) > 0);
        assert_true(asprintf(&f->blobs_dir, "%s/blobs", f->images_dir) > 0);
        assert_int_equal(image_store_open(f->state_dir, &f->store), 0);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;

        image_store_free(f->store);
        assert_int_equal(rm_rf(f->dir), 0);
        free(f->state_dir);
        free(f->images_dir);
        free(f->blobs_dir);
        free(f);
        return 0;
}

static void reopen(Fixture *f) {
        f->store = image_store_free(f->store);
        assert_int_equal(image_store_open(f->state_dir, &f->store), 0);
}

/* Writes an input file <dir>/<name> and returns its path. */
static char *write_input(Fixture *f, const char *name, const void *data, size_t size) {
        char *path;

        assert_true(asprintf(&path, "%s/%s", f->dir, name) > 0);
        assert_int_equal(write_file_atomic_at(AT_FDCWD, path, data, size, 0644), 0);
        return path;
}

/* Deterministic bytes that are never a whole zero block. */
static uint8_t *pattern(size_t size, uint32_t seed) {
        uint8_t *p = malloc(size);

        assert_non_null(p);
        for (size_t i = 0; i < size; i++) {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                p[i] = (uint8_t) (seed | 1);
        }
        return p;
}

/* A raw ext2/3/4 look-alike: superblock magic, some data, and long zero runs (holes in the blob). */
static char *write_rootfs(Fixture *f, const char *name, size_t size, uint32_t seed) {
        _cleanup_free_ uint8_t *data = calloc(1, size), *noise = pattern(4096, seed);

        assert_non_null(data);
        memcpy(data, noise, 1024);
        data[1024 + 56] = 0x53;
        data[1024 + 57] = 0xEF;
        memcpy(data + size - 4096, noise, 4096);
        return write_input(f, name, data, size);
}

static void sha256_hex(const void *data, size_t size, char ret[static IMAGE_BLOB_HEX_LEN + 1]) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned n = 0;

        assert_int_equal(EVP_Digest(data, size, md, &n, EVP_sha256(), NULL), 1);
        assert_int_equal(n, 32);
        for (unsigned i = 0; i < n; i++)
                sprintf(ret + 2 * i, "%02x", md[i]);
}

static void sha256_file_hex(const char *path, char ret[static IMAGE_BLOB_HEX_LEN + 1]) {
        _cleanup_free_ char *data = NULL;
        size_t size;

        assert_int_equal(read_full_file(path, &data, &size), 0);
        sha256_hex(data, size, ret);
}

/* Sorted names in dir, without "." and "..". */
static char **list_dir(const char *dir) {
        char **l = calloc(1, sizeof(char *));
        struct dirent *de;
        DIR *d = opendir(dir);

        assert_non_null(d);
        assert_non_null(l);
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        assert_int_equal(strv_extend(&l, de->d_name), 0);
        closedir(d);
        strv_sort(l);
        return l;
}

static bool blob_exists(Fixture *f, const char *hex, ImageBlobKind kind) {
        _cleanup_free_ char *path = NULL;

        assert_int_equal(image_blob_path(f->store, hex, kind, &path), 0);
        return access(path, F_OK) == 0;
}

static const Image *import(Fixture *f, const char *name, const char *kernel, const char *initrd,
                           const char *rootfs, const char *cmdline) {
        const Image *img = NULL;
        ImageImportSpec spec = {
                .name = name,
                .kernel_path = kernel,
                .initrd_path = initrd,
                .rootfs_path = rootfs,
                .cmdline = cmdline,
        };

        assert_int_equal(image_store_import(f->store, &spec, &img), 0);
        assert_non_null(img);
        return img;
}

static void test_import_names_blobs_by_sha256(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *kernel = write_input(f, "vmlinux", "abc", 3);
        _cleanup_free_ uint8_t *initrd_data = pattern(3 * 1024 * 1024 + 123, 7); /* spans buffer ends */
        _cleanup_free_ char *initrd = write_input(f, "initrd", initrd_data, 3 * 1024 * 1024 + 123);
        _cleanup_free_ char *rootfs = write_rootfs(f, "root.ext4", 8 * 1024 * 1024, 9);
        _cleanup_free_ char *path = NULL, *record = NULL, *blob_data = NULL, *src_data = NULL;
        _cleanup_strv_free_ char **blobs = NULL;
        char initrd_hex[IMAGE_BLOB_HEX_LEN + 1], rootfs_hex[IMAGE_BLOB_HEX_LEN + 1];
        size_t blob_size, src_size;
        const Image *img;
        struct stat st;

        img = import(f, "base", kernel, initrd, rootfs, "console=ttyS0 quiet");

        sha256_hex(initrd_data, 3 * 1024 * 1024 + 123, initrd_hex);
        sha256_file_hex(rootfs, rootfs_hex);
        assert_string_equal(img->files[IMAGE_BLOB_KERNEL].blob, ABC_SHA256);
        assert_string_equal(img->files[IMAGE_BLOB_INITRD].blob, initrd_hex);
        assert_string_equal(img->files[IMAGE_BLOB_ROOTFS].blob, rootfs_hex);
        assert_int_equal(img->files[IMAGE_BLOB_KERNEL].size, 3);
        assert_int_equal(img->size, 3 + 3 * 1024 * 1024 + 123 + 8 * 1024 * 1024);
        assert_string_equal(img->name, "base");
        assert_string_equal(img->cmdline, "console=ttyS0 quiet");
        assert_true(id_is_valid(img->id));
        assert_memory_equal(img->digest, IMAGE_DIGEST_PREFIX, strlen(IMAGE_DIGEST_PREFIX));

        /* Exactly the three blobs, named <sha256>.<kind>, and nothing else (no temporary files). */
        blobs = list_dir(f->blobs_dir);
        assert_int_equal(strv_length(blobs), 3);
        assert_true(strv_contains(blobs, ABC_SHA256 ".kernel"));
        assert_true(blob_exists(f, initrd_hex, IMAGE_BLOB_INITRD));
        assert_true(blob_exists(f, rootfs_hex, IMAGE_BLOB_ROOTFS));

        /* The rootfs blob has the same bytes and stays sparse. */
        assert_int_equal(image_blob_path(f->store, rootfs_hex, IMAGE_BLOB_ROOTFS, &path), 0);
        assert_int_equal(read_full_file(path, &blob_data, &blob_size), 0);
        assert_int_equal(read_full_file(rootfs, &src_data, &src_size), 0);
        assert_int_equal(blob_size, src_size);
        assert_memory_equal(blob_data, src_data, src_size);
        assert_int_equal(stat(path, &st), 0);
        assert_true((uint64_t) st.st_blocks * 512 < 1024 * 1024);
        assert_int_equal(st.st_mode & 07777, 0444);

        /* The record is on disk under the image's name. */
        assert_true(asprintf(&record, "%s/base.json", f->images_dir) > 0);
        assert_int_equal(access(record, F_OK), 0);
}

static void test_same_kernel_stored_once(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *kernel = write_input(f, "vmlinux", "kernel bytes", 12);
        _cleanup_free_ char *kernel_copy = write_input(f, "vmlinux-copy", "kernel bytes", 12);
        _cleanup_strv_free_ char **blobs = NULL;
        const Image *a, *b;

        a = import(f, "one", kernel, NULL, NULL, NULL);
        b = import(f, "two", kernel_copy, NULL, NULL, "");
        assert_string_equal(a->files[IMAGE_BLOB_KERNEL].blob, b->files[IMAGE_BLOB_KERNEL].blob);
        assert_string_not_equal(a->id, b->id);
        assert_string_equal(a->digest, b->digest); /* same content, same digest */
        assert_null(b->cmdline); /* "" means none */
        assert_false(image_file_present(&b->files[IMAGE_BLOB_INITRD]));

        blobs = list_dir(f->blobs_dir);
        assert_int_equal(strv_length(blobs), 1);
        assert_int_equal(image_store_count(f->store), 2);
}

static void test_records_survive_reopen(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *kernel = write_input(f, "k", "K1", 2), *initrd = write_input(f, "i", "I1", 2);
        const Image *img, *again;
        Image saved;

        img = import(f, "keep-me", kernel, initrd, NULL, "root=/dev/vda rw");
        saved = *img;
        reopen(f);

        assert_int_equal(image_store_count(f->store), 1);
        assert_int_equal(image_store_corrupt_count(f->store), 0);
        assert_int_equal(image_store_get(f->store, "keep-me", &again), 0);
        assert_string_equal(again->id, saved.id);
        assert_string_equal(again->digest, saved.digest);
        assert_memory_equal(again->files, saved.files, sizeof(saved.files));
        assert_string_equal(again->cmdline, "root=/dev/vda rw");
        assert_int_equal(again->created_at, saved.created_at);
        assert_int_equal(again->size, 4);

        /* By id and by a unique id prefix as well. */
        assert_int_equal(image_store_get(f->store, saved.id, &img), 0);
        assert_ptr_equal(img, again);
        char prefix[4] = {saved.id[0], saved.id[1], saved.id[2], 0};
        assert_int_equal(image_store_get(f->store, prefix, &img), 0);
        assert_ptr_equal(img, again);
        assert_int_equal(image_store_get(f->store, "nope", &img), -ENOENT);
}

/* Writes a valid record by hand, with an id chosen by the test. */
static void write_record(Fixture *f, const char *name, const char *id) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_free_ char *file = NULL;
        Image img = {.name = (char *) name, .size = 3, .created_at = 1700000000000000};
        const char *text;

        strcpy(img.id, id);
        strcpy(img.files[IMAGE_BLOB_KERNEL].blob, ABC_SHA256);
        img.files[IMAGE_BLOB_KERNEL].size = 3;
        assert_int_equal(image_compute_digest(&img, img.digest), 0);
        assert_int_equal(image_to_json(&img, &o), 0);
        assert_true(asprintf(&file, "%s/%s.json", f->images_dir, name) > 0);
        text = json_to_string(o);
        assert_int_equal(write_file_atomic_at(AT_FDCWD, file, text, strlen(text), 0600), 0);
}

static void test_reference_resolution(void **state) {
        Fixture *f = *state;
        const Image *img;

        write_record(f, "first", "aaaaaaaaaaaaaaaaaaaaaaaaaa");
        write_record(f, "second", "aaabbbbbbbbbbbbbbbbbbbbbbb");
        /* A name that looks like the other's id prefix: exact name wins over prefix. */
        write_record(f, "aaab", "cccccccccccccccccccccccccc");
        reopen(f);

        assert_int_equal(image_store_count(f->store), 3);
        assert_int_equal(image_store_get(f->store, "aaa", &img), -ENOTUNIQ);
        assert_int_equal(image_store_get(f->store, "aaaa", &img), 0);
        assert_string_equal(img->name, "first");
        assert_int_equal(image_store_get(f->store, "aaab", &img), 0);
        assert_string_equal(img->name, "aaab");
        assert_int_equal(image_store_get(f->store, "aaabb", &img), 0);
        assert_string_equal(img->name, "second");
        assert_int_equal(image_store_get(f->store, "aa", &img), -ENOENT); /* too short for a prefix */
}

static void test_duplicate_name(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *kernel = write_input(f, "k", "K", 1);
        _cleanup_(image_import_freep) ImageImport *imp = NULL;
        ImageImportSpec spec = {.name = "dup", .kernel_path = kernel};
        ImageImport *second = NULL;
        const Image *img;

        import(f, "dup", kernel, NULL, NULL, NULL);
        assert_int_equal(image_store_import(f->store, &spec, &img), -EEXIST);

        /* A name being imported is taken too. */
        spec.name = "pending";
        assert_int_equal(image_import_begin(f->store, &spec, &imp), 0);
        assert_int_equal(image_import_begin(f->store, &spec, &second), -EEXIST);
        assert_null(second);
        imp = image_import_free(imp);
        assert_int_equal(image_import_begin(f->store, &spec, &imp), 0);
}

static void test_invalid_specs(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *kernel = write_input(f, "k", "K", 1), *empty = write_input(f, "empty", "", 0);
        _cleanup_free_ char *notfs = write_input(f, "not-ext4", "definitely not a file system", 29);
        const Image *img;
        struct {
                ImageImportSpec spec;
                int error;
        } cases[] = {
                {{.name = "ok", .kernel_path = "relative/vmlinux"}, -EINVAL},
                {{.name = "ok"}, -EINVAL},
                {{.name = ".hidden", .kernel_path = kernel}, -EINVAL},
                {{.name = "a/b", .kernel_path = kernel}, -EINVAL},
                {{.name = "ok", .kernel_path = kernel, .initrd_path = "initrd"}, -EINVAL},
                {{.name = "ok", .kernel_path = kernel, .cmdline = "a\nb"}, -EINVAL},
                {{.name = "ok", .kernel_path = f->dir}, -EISDIR},
                {{.name = "ok", .kernel_path = "/dev/null"}, -EBADFD},
                {{.name = "ok", .kernel_path = empty}, -EINVAL},
                {{.name = "ok", .kernel_path = kernel, .rootfs_path = notfs}, -EMEDIUMTYPE},
        };
        _cleanup_strv_free_ char **blobs = NULL, **images = NULL;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                assert_int_equal(image_store_import(f->store, &cases[i].spec, &img), cases[i].error);

        assert_int_equal(image_store_count(f->store), 0);
        blobs = list_dir(f->blobs_dir);
        assert_int_equal(strv_length(blobs), 0);
        images = list_dir(f->images_dir);
        assert_int_equal(strv_length(images), 2); /* blobs/ and the pulls' tmp/ */
        assert_true(strv_contains(images, "blobs") && strv_contains(images, "tmp"));
}

static int import_fds(Fixture *f, const char *name, int kernel_fd, int rootfs_fd, const Image **ret) {
        int fds[_IMAGE_BLOB_KIND_MAX] = { kernel_fd, -EBADF, rootfs_fd };
        ImageImportSpec spec = { .name = name, .fds = fds };

        return image_store_import(f->store, &spec, ret);
}

/* Files can come as open fds (what callers pass the manager): read from offset 0 whatever the fd's own
 * offset, refused unless a readable regular file, and nothing is left behind by a refusal. */
static void test_import_from_fds(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *kernel = write_input(f, "k", "abc", 3);
        _cleanup_free_ char *rootfs = write_rootfs(f, "root.ext4", 1024 * 1024, 3);
        _cleanup_strv_free_ char **blobs = NULL;
        const Image *img = NULL;
        int kfd, rfd, bad;
        char c;

        kfd = open(kernel, O_RDONLY | O_CLOEXEC);
        rfd = open(rootfs, O_RDONLY | O_CLOEXEC);
        assert_true(kfd >= 0 && rfd >= 0);
        assert_int_equal(read(kfd, &c, 1), 1); /* the sender's offset does not matter */
        assert_int_equal(import_fds(f, "fromfds", kfd, rfd, &img), 0);
        assert_string_equal(img->files[IMAGE_BLOB_KERNEL].blob, ABC_SHA256);
        assert_int_equal(img->files[IMAGE_BLOB_ROOTFS].size, 1024 * 1024);
        assert_int_equal(lseek(kfd, 0, SEEK_CUR), 1); /* the import kept its own copy and offsets */

        bad = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_int_equal(import_fds(f, "dir", bad, -EBADF, &img), -EISDIR);
        close(bad);
        bad = open("/dev/null", O_RDONLY | O_CLOEXEC);
        assert_int_equal(import_fds(f, "dev", bad, -EBADF, &img), -EBADFD);
        close(bad);
        bad = open(kernel, O_PATH | O_CLOEXEC);
        assert_int_equal(import_fds(f, "opath", bad, -EBADF, &img), -EBADF);
        close(bad);
        bad = open(kernel, O_WRONLY | O_CLOEXEC);
        assert_int_equal(import_fds(f, "wronly", bad, -EBADF, &img), -EBADF);
        close(bad);
        assert_int_equal(import_fds(f, "notfs", kfd, kfd, &img), -EMEDIUMTYPE);
        close(kfd);
        close(rfd);

        assert_int_equal(image_store_count(f->store), 1);
        blobs = list_dir(f->blobs_dir);
        assert_int_equal(strv_length(blobs), 2);
}

static void test_failed_import_leaves_nothing(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *kernel = write_input(f, "k", "shared kernel", 13);
        _cleanup_free_ char *initrd = write_input(f, "i", "initrd only the failed import has", 33);
        _cleanup_free_ char *kernel2 = write_input(f, "k2", "kernel only the failed import has", 33);
        _cleanup_free_ char *missing = NULL;
        _cleanup_strv_free_ char **blobs_before = NULL, **images_before = NULL, **blobs = NULL,
                                 **images = NULL;
        ImageImportSpec spec = {.name = "broken"};
        const Image *img;

        import(f, "base", kernel, NULL, NULL, NULL);
        blobs_before = list_dir(f->blobs_dir);
        images_before = list_dir(f->images_dir);
        assert_true(asprintf(&missing, "%s/does-not-exist", f->dir) > 0);

        /* The kernel is missing. */
        spec.kernel_path = missing;
        assert_int_equal(image_store_import(f->store, &spec, &img), -ENOENT);

        /* The kernel (shared with "base") and the initrd are copied, then the rootfs is missing: the new
         * initrd blob goes away, the kernel blob stays for "base". */
        spec.kernel_path = kernel;
        spec.initrd_path = initrd;
        spec.rootfs_path = missing;
        assert_int_equal(image_store_import(f->store, &spec, &img), -ENOENT);

        /* Same with a kernel nobody else has. */
        spec.kernel_path = kernel2;
        assert_int_equal(image_store_import(f->store, &spec, &img), -ENOENT);

        blobs = list_dir(f->blobs_dir);
        images = list_dir(f->images_dir);
        assert_true(strv_equal(blobs, blobs_before));
        assert_true(strv_equal(images, images_before));
        assert_int_equal(image_store_get(f->store, "broken", &img), -ENOENT);

        /* The name is free again. */
        spec.rootfs_path = NULL;
        assert_int_equal(image_store_import(f->store, &spec, &img), 0);
}

typedef struct ProgressCount {
        uint64_t bytes;
        unsigned calls;
        unsigned stop_after; /* 0: never stop */
} ProgressCount;

static int count_progress(uint64_t bytes, void *userdata) {
        ProgressCount *p = userdata;

        p->bytes += bytes;
        p->calls++;
        return p->stop_after > 0 && p->calls >= p->stop_after ? -ECANCELED : 0;
}

/* The progress callback hears every byte copied, over several chunks; stopping it mid-copy fails the import
 * with its error and leaves nothing: no blob of its own, no temporary file, no record, the name free. */
static void test_import_progress_and_cancel(void **state) {
        Fixture *f = *state;
        const size_t size = 3 * 1024 * 1024 + 17; /* over several 1 MiB copy chunks */
        _cleanup_free_ uint8_t *data = pattern(size, 7);
        _cleanup_free_ char *kernel = write_input(f, "big", data, size);
        _cleanup_free_ char *initrd = write_input(f, "small", "a small initrd", 14);
        _cleanup_strv_free_ char **blobs_before = NULL, **images_before = NULL, **blobs = NULL,
                                 **images = NULL;
        ImageImportSpec spec = {.name = "progress", .kernel_path = kernel, .initrd_path = initrd};
        ProgressCount count = {};
        ImageImport *imp = NULL;
        const Image *img;

        assert_int_equal(image_import_begin(f->store, &spec, &imp), 0);
        assert_int_equal(image_import_set_progress(imp, count_progress, &count), 0);
        assert_int_equal(image_import_copy(imp), 0);
        assert_int_equal(image_import_set_progress(imp, NULL, NULL), -EALREADY);
        assert_int_equal(count.bytes, size + 14);
        assert_true(count.calls >= 4);
        assert_int_equal(image_import_commit(imp, &img), 0);
        imp = image_import_free(imp);

        blobs_before = list_dir(f->blobs_dir);
        images_before = list_dir(f->images_dir);
        _cleanup_free_ uint8_t *other = pattern(size, 8);
        _cleanup_free_ char *kernel2 = write_input(f, "big2", other, size);
        spec = (ImageImportSpec) {.name = "cancelled", .kernel_path = kernel2};
        count = (ProgressCount) {.stop_after = 2};
        assert_int_equal(image_import_begin(f->store, &spec, &imp), 0);
        assert_int_equal(image_import_set_progress(imp, count_progress, &count), 0);
        assert_int_equal(image_import_copy(imp), -ECANCELED);
        assert_int_equal(count.calls, 2);
        imp = image_import_free(imp);

        blobs = list_dir(f->blobs_dir);
        images = list_dir(f->images_dir);
        assert_true(strv_equal(blobs, blobs_before));
        assert_true(strv_equal(images, images_before));
        assert_int_equal(image_store_get(f->store, "cancelled", &img), -ENOENT);
        import(f, "cancelled", kernel2, NULL, NULL, NULL);
}

static void test_remove_keeps_shared_and_pinned(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *k1 = write_input(f, "k1", "K1", 2), *k3 = write_input(f, "k3", "K3", 2);
        _cleanup_free_ char *i1 = write_input(f, "i1", "I1", 2), *i2 = write_input(f, "i2", "I2", 2);
        _cleanup_strv_free_ char **referenced = NULL, **removed = NULL, **blobs = NULL;
        char k1_hex[IMAGE_BLOB_HEX_LEN + 1], k3_hex[IMAGE_BLOB_HEX_LEN + 1], i1_hex[IMAGE_BLOB_HEX_LEN + 1],
                i2_hex[IMAGE_BLOB_HEX_LEN + 1];
        const Image *img;

        sha256_hex("K1", 2, k1_hex);
        sha256_hex("K3", 2, k3_hex);
        sha256_hex("I1", 2, i1_hex);
        sha256_hex("I2", 2, i2_hex);
        import(f, "a", k1, i1, NULL, NULL);
        import(f, "b", k1, i2, NULL, NULL);
        import(f, "c", k3, NULL, NULL, NULL);

        assert_int_equal(image_store_referenced_blobs(f->store, &referenced), 0);
        assert_int_equal(strv_length(referenced), 4);
        assert_true(strv_contains(referenced, k1_hex) && strv_contains(referenced, k3_hex));

        /* "b" still uses the kernel; nobody uses "a"'s initrd. */
        assert_int_equal(image_store_remove(f->store, "a", NULL), 0);
        assert_true(blob_exists(f, k1_hex, IMAGE_BLOB_KERNEL));
        assert_false(blob_exists(f, i1_hex, IMAGE_BLOB_INITRD));
        assert_int_equal(image_store_get(f->store, "a", &img), -ENOENT);

        /* A VM pins "c"'s kernel. */
        const char *const pins[] = {k3_hex, NULL};
        assert_int_equal(image_store_remove(f->store, "c", pins), 0);
        assert_true(blob_exists(f, k3_hex, IMAGE_BLOB_KERNEL));

        /* A failed import that found the pinned blob on disk did not create it, so does not delete it. */
        ImageImportSpec spec = {.name = "d", .kernel_path = k3, .initrd_path = "/nonexistent/initrd"};
        assert_int_equal(image_store_import(f->store, &spec, &img), -ENOENT);
        assert_true(blob_exists(f, k3_hex, IMAGE_BLOB_KERNEL));

        assert_int_equal(image_store_remove(f->store, "b", NULL), 0);
        assert_false(blob_exists(f, k1_hex, IMAGE_BLOB_KERNEL));
        assert_false(blob_exists(f, i2_hex, IMAGE_BLOB_INITRD));
        assert_int_equal(image_store_remove(f->store, "b", NULL), -ENOENT);

        /* The pin is gone (the VM was deleted): GC takes the last blob. */
        assert_int_equal(image_store_gc_blobs(f->store, pins, &removed), 0);
        assert_int_equal(strv_length(removed), 0);
        assert_int_equal(image_store_gc_blobs(f->store, NULL, &removed), 0);
        assert_int_equal(strv_length(removed), 1);
        blobs = list_dir(f->blobs_dir);
        assert_int_equal(strv_length(blobs), 0);

        reopen(f);
        assert_int_equal(image_store_count(f->store), 0);
}

/* Issue 7 item 3: "g-copy", imported from the same files as "g", goes while a VM created from "g" pins the
 * shared blobs; they stay until neither an image nor a VM references them. */
static void test_remove_copy_of_pinned_image(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *k = write_input(f, "k", "KG", 2), *i = write_input(f, "i", "IG", 2);
        _cleanup_strv_free_ char **removed = NULL;
        char k_hex[IMAGE_BLOB_HEX_LEN + 1], i_hex[IMAGE_BLOB_HEX_LEN + 1];
        const Image *img;

        sha256_hex("KG", 2, k_hex);
        sha256_hex("IG", 2, i_hex);
        import(f, "g", k, i, NULL, NULL);
        import(f, "g-copy", k, i, NULL, NULL);
        const char *const vm_pins[] = {k_hex, i_hex, NULL};

        assert_int_equal(image_store_remove(f->store, "g-copy", vm_pins), 0);
        assert_int_equal(image_store_get(f->store, "g-copy", &img), -ENOENT);
        assert_int_equal(image_store_get(f->store, "g", &img), 0);
        assert_true(blob_exists(f, k_hex, IMAGE_BLOB_KERNEL));
        assert_true(blob_exists(f, i_hex, IMAGE_BLOB_INITRD));
        assert_int_equal(image_store_gc_blobs(f->store, vm_pins, &removed), 0);
        assert_int_equal(strv_length(removed), 0);
        strv_free(removed);
        removed = NULL;

        /* "g" still references them without the VM's pins too. */
        assert_int_equal(image_store_gc_blobs(f->store, NULL, &removed), 0);
        assert_int_equal(strv_length(removed), 0);
        assert_true(blob_exists(f, k_hex, IMAGE_BLOB_KERNEL));

        /* The VM is gone, then "g": the last references go, and so do the blobs, with the kernel's
         * extracted vmlinux (Firecracker's). */
        _cleanup_free_ char *kernel = NULL, *vmlinux = NULL;
        assert_int_equal(image_blob_path(f->store, k_hex, IMAGE_BLOB_KERNEL, &kernel), 0);
        assert_true(asprintf(&vmlinux, "%s.vmlinux", kernel) > 0);
        assert_int_equal(write_file_atomic_at(AT_FDCWD, vmlinux, "\177ELF", 4, 0644), 0);
        assert_int_equal(image_store_remove(f->store, "g", NULL), 0);
        assert_false(blob_exists(f, k_hex, IMAGE_BLOB_KERNEL));
        assert_int_equal(access(vmlinux, F_OK), -1);
        assert_false(blob_exists(f, i_hex, IMAGE_BLOB_INITRD));
}

static void test_gc_blobs_keeps_referenced(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *k = write_input(f, "k", "K", 1), *stray = NULL;
        _cleanup_strv_free_ char **removed = NULL, **blobs = NULL;
        const Image *img;

        img = import(f, "x", k, NULL, NULL, NULL);
        /* An orphan: the same bytes as x's kernel, but as an initrd nobody references. */
        assert_true(asprintf(&stray, "%s/%s.initrd", f->blobs_dir, img->files[IMAGE_BLOB_KERNEL].blob) > 0);
        assert_int_equal(write_file_atomic_at(AT_FDCWD, stray, "K", 1, 0444), 0);

        /* A vmlinux whose kernel blob is gone goes too; the one of a kernel that stays, stays. */
        _cleanup_free_ char *orphan = NULL, *kept = NULL;
        assert_true(asprintf(&orphan, "%s/%s.kernel.vmlinux", f->blobs_dir,
                             "0000000000000000000000000000000000000000000000000000000000000000") > 0);
        assert_int_equal(write_file_atomic_at(AT_FDCWD, orphan, "\177ELF", 4, 0644), 0);
        assert_true(asprintf(&kept, "%s/%s.kernel.vmlinux", f->blobs_dir, img->files[IMAGE_BLOB_KERNEL].blob) > 0);
        assert_int_equal(write_file_atomic_at(AT_FDCWD, kept, "\177ELF", 4, 0644), 0);

        assert_int_equal(image_store_gc_blobs(f->store, NULL, &removed), 0);
        assert_int_equal(strv_length(removed), 1);
        assert_int_equal(access(orphan, F_OK), -1);
        assert_int_equal(access(kept, F_OK), 0);
        assert_int_equal(unlink(kept), 0);
        assert_true(blob_exists(f, img->files[IMAGE_BLOB_KERNEL].blob, IMAGE_BLOB_KERNEL));
        assert_int_equal(access(stray, F_OK), -1);
        blobs = list_dir(f->blobs_dir);
        assert_int_equal(strv_length(blobs), 1);
}

static void test_corrupt_record_quarantined(void **state) {
        static const char wrong_size[] =
                "{\"name\":\"wrong-size\",\"id\":\"eeeeeeeeeeeeeeeeeeeeeeeeee\","
                "\"digest\":\"sha256:" ABC_SHA256 "\",\"kernel\":{\"blob\":\"" ABC_SHA256 "\",\"size\":3},"
                "\"createdAt\":\"2024-01-01T00:00:00Z\",\"size\":4}";
        Fixture *f = *state;
        _cleanup_free_ char *k = write_input(f, "k", "K", 1), *other = NULL, *misnamed = NULL;
        _cleanup_strv_free_ char **images = NULL, **blobs = NULL;
        const Image *img;
        size_t n_corrupt = 0;

        import(f, "good", k, NULL, NULL, NULL);
        free(write_input(f, "state/images/truncated.json", "{\"name\": \"truncated\", ", 22));
        free(write_input(f, "state/images/wrong-size.json", wrong_size, strlen(wrong_size)));
        /* A valid record stored under another image's file name. */
        write_record(f, "other", "dddddddddddddddddddddddddd");
        assert_true(asprintf(&other, "%s/other.json", f->images_dir) > 0);
        assert_true(asprintf(&misnamed, "%s/misnamed.json", f->images_dir) > 0);
        assert_int_equal(rename(other, misnamed), 0);
        /* Two records with one id: whichever loads second is moved aside. */
        write_record(f, "twin1", "ffffffffffffffffffffffffff");
        write_record(f, "twin2", "ffffffffffffffffffffffffff");
        /* Leftovers of a crash in the middle of writing a record or a blob. */
        free(write_input(f, "state/images/.#good.json.xyz", "{}", 2));
        free(write_input(f, "state/images/blobs/.#blob-xyz", "partial", 7));

        reopen(f);
        assert_int_equal(image_store_count(f->store), 2);
        assert_int_equal(image_store_get(f->store, "good", &img), 0);
        assert_int_equal(image_store_get(f->store, "ffffffffffffffffffffffffff", &img), 0);
        assert_int_equal(image_store_corrupt_count(f->store), 4);

        images = list_dir(f->images_dir);
        for (char **i = images; *i; i++) {
                assert_false(streq(*i, "misnamed.json") || streq(*i, "truncated.json") ||
                             streq(*i, "wrong-size.json"));
                assert_false(strncmp(*i, ".#", 2) == 0);
                if (strstr(*i, ".json.corrupt-"))
                        n_corrupt++;
        }
        assert_int_equal(n_corrupt, 4);
        blobs = list_dir(f->blobs_dir);
        assert_int_equal(strv_length(blobs), 1); /* the temporary blob is gone */

        /* Moved aside means out of the way: the next open finds nothing new to complain about. */
        reopen(f);
        assert_int_equal(image_store_corrupt_count(f->store), 0);
        assert_int_equal(image_store_count(f->store), 2);
}

static void *copy_thread(void *imp) {
        return (void *) (intptr_t) image_import_copy(imp);
}

static void test_two_phase_import_pins_pending_blobs(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *k = write_input(f, "k", "shared", 6), *fresh = write_input(f, "f", "fresh", 5);
        _cleanup_(image_import_freep) ImageImport *imp = NULL, *abandoned = NULL;
        _cleanup_strv_free_ char **removed = NULL, **referenced = NULL;
        ImageImportSpec spec = {.name = "late", .kernel_path = k};
        char fresh_hex[IMAGE_BLOB_HEX_LEN + 1];
        const Image *a, *img, **list = NULL;
        size_t n;
        pthread_t t;
        void *result;

        a = import(f, "early", k, NULL, NULL, NULL);
        char kernel_hex[IMAGE_BLOB_HEX_LEN + 1];
        strcpy(kernel_hex, a->files[IMAGE_BLOB_KERNEL].blob);

        assert_int_equal(image_import_begin(f->store, &spec, &imp), 0);
        assert_int_equal(image_import_commit(imp, &img), -ESTALE);

        /* The copy runs in another thread while this one reads the store. */
        assert_int_equal(pthread_create(&t, NULL, copy_thread, imp), 0);
        assert_int_equal(image_store_list(f->store, &list, &n), 0);
        assert_int_equal(n, 1);
        free(list);
        assert_int_equal(pthread_join(t, &result), 0);
        assert_int_equal((intptr_t) result, 0);
        assert_int_equal(image_import_copy(imp), -EALREADY);

        /* The import reused "early"'s kernel blob: removing "early" and GC must leave it alone. */
        assert_int_equal(image_store_remove(f->store, "early", NULL), 0);
        assert_true(blob_exists(f, kernel_hex, IMAGE_BLOB_KERNEL));
        assert_int_equal(image_store_gc_blobs(f->store, NULL, &removed), 0);
        assert_int_equal(strv_length(removed), 0);
        assert_int_equal(image_store_referenced_blobs(f->store, &referenced), 0);
        assert_true(strv_contains(referenced, kernel_hex));

        assert_int_equal(image_import_commit(imp, &img), 0);
        assert_int_equal(image_import_commit(imp, &img), -EALREADY);
        assert_string_equal(img->files[IMAGE_BLOB_KERNEL].blob, kernel_hex);
        imp = image_import_free(imp);
        assert_true(blob_exists(f, kernel_hex, IMAGE_BLOB_KERNEL));

        /* An import abandoned after its copy takes back the blob it created. */
        spec.name = "abandoned";
        spec.kernel_path = fresh;
        sha256_hex("fresh", 5, fresh_hex);
        assert_int_equal(image_import_begin(f->store, &spec, &abandoned), 0);
        assert_int_equal(image_import_copy(abandoned), 0);
        assert_true(blob_exists(f, fresh_hex, IMAGE_BLOB_KERNEL));
        abandoned = image_import_free(abandoned);
        assert_false(blob_exists(f, fresh_hex, IMAGE_BLOB_KERNEL));
        assert_int_equal(image_store_count(f->store), 1);
}

static void test_list_order(void **state) {
        Fixture *f = *state;
        const Image **list = NULL;
        size_t n;

        write_record(f, "zeta", "zzzzzzzzzzzzzzzzzzzzzzzzzz");
        write_record(f, "alpha", "yyyyyyyyyyyyyyyyyyyyyyyyyy");
        reopen(f);
        assert_int_equal(image_store_list(f->store, &list, &n), 0);
        assert_int_equal(n, 2);
        /* Same creation time: by name. */
        assert_string_equal(list[0]->name, "alpha");
        assert_string_equal(list[1]->name, "zeta");
        free(list);
}

static void test_record_validation(void **state) {
        static const char *const bad[] = {
                /* no kernel */
                "{\"name\":\"x\",\"id\":\"aaaaaaaaaaaaaaaaaaaaaaaaaa\",\"digest\":\"sha256:" ABC_SHA256 "\","
                "\"createdAt\":\"2024-01-01T00:00:00Z\",\"size\":0}",
                /* blob hex in uppercase */
                "{\"name\":\"x\",\"id\":\"aaaaaaaaaaaaaaaaaaaaaaaaaa\",\"digest\":\"sha256:" ABC_SHA256 "\","
                "\"kernel\":{\"blob\":\"BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD\","
                "\"size\":3},\"createdAt\":\"2024-01-01T00:00:00Z\",\"size\":3}",
                /* id not in the alphabet */
                "{\"name\":\"x\",\"id\":\"AAAAAAAAAAAAAAAAAAAAAAAAAA\",\"digest\":\"sha256:" ABC_SHA256 "\","
                "\"kernel\":{\"blob\":\"" ABC_SHA256 "\",\"size\":3},\"createdAt\":\"2024-01-01T00:00:00Z\","
                "\"size\":3}",
                /* a control character in the cmdline */
                "{\"name\":\"x\",\"id\":\"aaaaaaaaaaaaaaaaaaaaaaaaaa\",\"digest\":\"sha256:" ABC_SHA256 "\","
                "\"kernel\":{\"blob\":\"" ABC_SHA256 "\",\"size\":3},\"cmdline\":\"a\\tb\","
                "\"createdAt\":\"2024-01-01T00:00:00Z\",\"size\":3}",
        };
        static const char good[] =
                "{\"name\":\"x\",\"id\":\"aaaaaaaaaaaaaaaaaaaaaaaaaa\",\"digest\":\"sha256:" ABC_SHA256 "\","
                "\"kernel\":{\"blob\":\"" ABC_SHA256 "\",\"size\":3},\"createdAt\":\"2024-01-01T00:00:00Z\","
                "\"size\":3,\"addedLater\":true}";

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_(json_object_putp) json_object *o = NULL;
                Image *img = NULL;

                assert_int_equal(json_parse(bad[i], strlen(bad[i]), &o), 0);
                assert_int_equal(image_from_json(o, &img), -EBADMSG);
                assert_null(img);
        }

        _cleanup_(json_object_putp) json_object *o = NULL, *back = NULL;
        _cleanup_(image_freep) Image *img = NULL;
        assert_int_equal(json_parse(good, strlen(good), &o), 0);
        assert_int_equal(image_from_json(o, &img), 0); /* unknown keys from newer versions are fine */
        assert_int_equal(img->created_at, UINT64_C(1704067200000000));
        assert_int_equal(image_to_json(img, &back), 0);
        assert_string_equal(json_to_string(back),
                            "{\"type\":\"local\",\"name\":\"x\",\"id\":\"aaaaaaaaaaaaaaaaaaaaaaaaaa\","
                            "\"digest\":\"sha256:" ABC_SHA256 "\","
                            "\"kernel\":{\"blob\":\"" ABC_SHA256 "\",\"size\":3},"
                            "\"createdAt\":\"2024-01-01T00:00:00.000000Z\",\"size\":3}");
}

/* OCI images: a record named after a reference, found by the short form, layers as .erofs blobs that
 * survive a reopen and go with the image unless pinned. */
static void test_oci_image(void **state) {
        Fixture *f = *state;
        _cleanup_strv_free_ char **blobs = NULL, **removed = NULL;
        _cleanup_free_ char *layer_path = NULL, *file_name = NULL;
        const char *pinned[] = { ABC_SHA256, NULL };
        const Image *got;
        Image *img;

        assert_int_equal(image_blob_path(f->store, ABC_SHA256, IMAGE_BLOB_LAYER, &layer_path), 0);
        assert_int_equal(write_file_atomic_at(AT_FDCWD, layer_path, "erofs", 5, 0444), 0);

        img = calloc(1, sizeof(Image));
        assert_non_null(img);
        img->type = IMAGE_TYPE_OCI;
        img->name = strdup("docker.io/library/busybox:latest");
        assert_int_equal(id_generate(img->id), 0);
        memcpy(img->digest, "sha256:" ABC_SHA256, IMAGE_DIGEST_LEN + 1);
        img->layers = calloc(1, sizeof(ImageFile));
        img->n_layers = 1;
        memcpy(img->layers[0].blob, ABC_SHA256, IMAGE_BLOB_HEX_LEN + 1);
        img->layers[0].size = img->size = 5;
        img->created_at = 1;
        assert_int_equal(image_store_put(f->store, img, NULL, &got), 0);

        assert_int_equal(image_record_file_name("docker.io/library/busybox:latest", &file_name), 0);
        assert_int_equal(strncmp(file_name, "oci-", 4), 0);
        free(file_name);
        assert_int_equal(image_record_file_name("busybox", &file_name), 0); /* a local name stays itself */
        assert_string_equal(file_name, "busybox.json");

        reopen(f);
        assert_int_equal(image_store_count(f->store), 1);
        assert_int_equal(image_store_get(f->store, "busybox", &got), 0);
        assert_int_equal(got->type, IMAGE_TYPE_OCI);
        assert_int_equal(got->n_layers, 1);
        assert_int_equal(image_store_get(f->store, "docker.io/library/busybox", &got), 0);
        assert_int_equal(image_store_get(f->store, "busybox:1", &got), -ENOENT);

        /* pinned: the record goes, the layer stays until nothing pins it */
        assert_int_equal(image_store_remove(f->store, "docker.io/library/busybox:latest", pinned), 0);
        blobs = list_dir(f->blobs_dir);
        assert_int_equal(strv_length(blobs), 1);
        assert_string_equal(blobs[0], ABC_SHA256 ".erofs");
        assert_int_equal(image_store_gc_blobs(f->store, NULL, &removed), 0);
        assert_int_equal(strv_length(removed), 1);
}

static void test_blob_kind_strings(void **state) {
        char hex[IMAGE_BLOB_HEX_LEN + 1];
        ImageBlobKind kind;

        for (ImageBlobKind k = 0; k < _IMAGE_BLOB_KIND_MAX; k++)
                assert_int_equal(image_blob_kind_from_string(image_blob_kind_to_string(k)), k);
        assert_string_equal(image_blob_kind_to_string(IMAGE_BLOB_ROOTFS), "rootfs");
        assert_string_equal(image_blob_kind_to_string(IMAGE_BLOB_LAYER), "erofs");
        assert_int_equal(image_blob_kind_from_string("qcow2"), _IMAGE_BLOB_KIND_INVALID);
        assert_null(image_blob_kind_to_string(_IMAGE_BLOB_KIND_MAX));

        assert_int_equal(image_blob_parse_file_name(ABC_SHA256 ".initrd", hex, &kind), 0);
        assert_string_equal(hex, ABC_SHA256);
        assert_int_equal(kind, IMAGE_BLOB_INITRD);
        assert_int_equal(image_blob_parse_file_name(ABC_SHA256 ".tmp", hex, &kind), -EINVAL);
        assert_int_equal(image_blob_parse_file_name(".#blob-abc", hex, &kind), -EINVAL);
        assert_true(image_blob_hex_is_valid(ABC_SHA256));
        assert_true(image_blob_hex_is_valid("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"));
        assert_false(image_blob_hex_is_valid(ABC_SHA256 "0"));
        assert_false(image_blob_hex_is_valid("abc123"));
        assert_false(image_blob_hex_is_valid("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
        assert_false(image_blob_hex_is_valid("gaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
        assert_false(image_blob_hex_is_valid(""));
        assert_false(image_blob_hex_is_valid(NULL));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_import_names_blobs_by_sha256, setup, teardown),
                cmocka_unit_test_setup_teardown(test_same_kernel_stored_once, setup, teardown),
                cmocka_unit_test_setup_teardown(test_records_survive_reopen, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reference_resolution, setup, teardown),
                cmocka_unit_test_setup_teardown(test_duplicate_name, setup, teardown),
                cmocka_unit_test_setup_teardown(test_invalid_specs, setup, teardown),
                cmocka_unit_test_setup_teardown(test_import_from_fds, setup, teardown),
                cmocka_unit_test_setup_teardown(test_failed_import_leaves_nothing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_import_progress_and_cancel, setup, teardown),
                cmocka_unit_test_setup_teardown(test_remove_keeps_shared_and_pinned, setup, teardown),
                cmocka_unit_test_setup_teardown(test_remove_copy_of_pinned_image, setup, teardown),
                cmocka_unit_test_setup_teardown(test_gc_blobs_keeps_referenced, setup, teardown),
                cmocka_unit_test_setup_teardown(test_corrupt_record_quarantined, setup, teardown),
                cmocka_unit_test_setup_teardown(test_two_phase_import_pins_pending_blobs, setup, teardown),
                cmocka_unit_test_setup_teardown(test_list_order, setup, teardown),
                cmocka_unit_test(test_record_validation),
                cmocka_unit_test(test_blob_kind_strings),
                cmocka_unit_test_setup_teardown(test_oci_image, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
