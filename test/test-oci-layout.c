/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for local OCI images: magic detection; layout blobs read only when they match their digest and
 * size, never through a symlink, never a file the caller could not read; docker archives turned into
 * layouts with their layers checked against diff_ids, plain or gzipped (a truncated gzip refused); unsafe
 * archive entries refused; layer tars (plain and gzipped) made into a layout with their digests and
 * diff_ids. */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fs-util.h"
#include "json-util.h"
#include "oci-layout.h"
#include "sha256-util.h"

static char base[] = "/tmp/test-oci-layout-XXXXXX";

static int setup(void **state) {
        assert_non_null(mkdtemp(base));
        return 0;
}

static int teardown(void **state) {
        return rm_rf(base);
}

static int new_dir(const char *name) {
        char p[256];
        snprintf(p, sizeof(p), "%s/%s", base, name);
        assert_int_equal(mkdir(p, 0700), 0);
        int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(fd >= 0);
        return fd;
}

static void write_at(int dfd, const char *name, const char *data, size_t size) {
        int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, size), (ssize_t) size);
        close(fd);
}

static void digest_of(const char *data, size_t size, char ret[static OCI_DIGEST_LEN + 1]) {
        char hex[SHA256_HEX_LEN + 1];
        assert_int_equal(sha256_hex(data, size, hex), 0);
        snprintf(ret, OCI_DIGEST_LEN + 1, "sha256:%s", hex);
}

static void test_detect(void **state) {
        static const struct {
                const char *data;
                size_t size;
                OciLocalKind kind;
        } cases[] = {
                {"\x1f\x8b\x08", 3, OCI_LOCAL_GZIP},
                {"QFI\xfb\0\0\0\3", 8, OCI_LOCAL_QCOW2},
                {"hello", 5, OCI_LOCAL_UNKNOWN},
        };
        int dfd = new_dir("detect");
        OciLocalKind kind;
        char tar[512] = "file";

        assert_int_equal(oci_local_detect(dfd, &kind), 0);
        assert_int_equal(kind, OCI_LOCAL_LAYOUT);
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                write_at(dfd, "f", cases[i].data, cases[i].size);
                int fd = openat(dfd, "f", O_RDONLY | O_CLOEXEC);
                assert_int_equal(oci_local_detect(fd, &kind), 0);
                assert_int_equal(kind, cases[i].kind);
                close(fd);
        }
        memcpy(tar + 257, "ustar", 5);
        write_at(dfd, "f", tar, sizeof(tar));
        int fd = openat(dfd, "f", O_RDONLY | O_CLOEXEC);
        assert_int_equal(oci_local_detect(fd, &kind), 0);
        assert_int_equal(kind, OCI_LOCAL_TARBALL);
        close(fd);
        close(dfd);
}

static void test_blobs(void **state) {
        static const char content[] = "some blob";
        char digest[OCI_DIGEST_LEN + 1], target[300];
        int dfd = new_dir("layout"), blobs, out;
        char *data = NULL;
        size_t size;

        assert_int_equal(mkdirat(dfd, "blobs", 0755), 0);
        assert_int_equal(mkdirat(dfd, "blobs/sha256", 0755), 0);
        blobs = openat(dfd, "blobs/sha256", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        digest_of(content, strlen(content), digest);
        write_at(blobs, digest + 7, content, strlen(content));

        assert_int_equal(oci_layout_read_blob(dfd, (uid_t) -1, digest, strlen(content), 1024, &data, &size),
                         0);
        assert_int_equal(size, strlen(content));
        assert_memory_equal(data, content, size);
        free(data);
        /* Another size, too small a bound, a missing blob. */
        assert_int_equal(oci_layout_read_blob(dfd, (uid_t) -1, digest, 3, 1024, &data, &size), -EBADMSG);
        assert_int_equal(oci_layout_read_blob(dfd, (uid_t) -1, digest, UINT64_MAX, 4, &data, &size), -E2BIG);
        assert_int_equal(oci_layout_read_blob(dfd, (uid_t) -1,
                                              "sha256:00000000000000000000000000000000000000000000000000000"
                                              "00000000000",
                                              UINT64_MAX, 1024, &data, &size),
                         -ENOENT);

        /* Copied out with progress. */
        out = openat(dfd, ".", O_RDWR | O_TMPFILE | O_CLOEXEC, 0600);
        assert_true(out >= 0);
        assert_int_equal(
                oci_layout_copy_blob(dfd, (uid_t) -1, digest, strlen(content), out, NULL, NULL, NULL), 0);
        assert_int_equal(lseek(out, 0, SEEK_CUR), (off_t) strlen(content));
        close(out);

        /* A file the caller neither owns nor may read, even as root. */
        assert_int_equal(fchmodat(blobs, digest + 7, 0600, 0), 0);
        assert_int_equal(fchownat(blobs, digest + 7, 1234, 1234, 0), 0);
        assert_int_equal(oci_layout_read_blob(dfd, 4321, digest, UINT64_MAX, 1024, &data, &size), -EACCES);
        assert_int_equal(oci_layout_read_blob(dfd, 1234, digest, UINT64_MAX, 1024, &data, &size), 0);
        free(data);

        /* Tampered content, then a symlink to the right content elsewhere. */
        write_at(blobs, digest + 7, "other blob", 10);
        assert_int_equal(oci_layout_read_blob(dfd, (uid_t) -1, digest, UINT64_MAX, 1024, &data, &size),
                         -EBADMSG);
        snprintf(target, sizeof(target), "%s/elsewhere", base);
        write_at(AT_FDCWD, target, content, strlen(content));
        assert_int_equal(unlinkat(blobs, digest + 7, 0), 0);
        assert_int_equal(symlinkat(target, blobs, digest + 7), 0);
        assert_int_equal(oci_layout_read_blob(dfd, (uid_t) -1, digest, UINT64_MAX, 1024, &data, &size),
                         -EBADMSG);
        close(blobs);
        close(dfd);
}

typedef struct Entry {
        const char *path;
        const char *data; /* NULL: a directory */
        size_t size;
} Entry;

static bool tar_gzip; /* make_tar() writes a gzipped tar */

static int make_tar(const Entry *entries, size_t n) {
        char path[256];
        struct archive *a = archive_write_new();
        int fd;

        snprintf(path, sizeof(path), "%s/tar-XXXXXX", base);
        fd = mkstemp(path);
        assert_true(fd >= 0);
        unlink(path);
        archive_write_set_format_pax_restricted(a);
        if (tar_gzip)
                assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
        assert_int_equal(archive_write_open_fd(a, fd), ARCHIVE_OK);
        for (size_t i = 0; i < n; i++) {
                struct archive_entry *e = archive_entry_new();
                archive_entry_set_pathname(e, entries[i].path);
                archive_entry_set_filetype(e, entries[i].data ? AE_IFREG : AE_IFDIR);
                archive_entry_set_perm(e, 0644);
                archive_entry_set_size(e, entries[i].data ? (int64_t) entries[i].size : 0);
                assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
                if (entries[i].data)
                        assert_int_equal(archive_write_data(a, entries[i].data, entries[i].size),
                                         (ssize_t) entries[i].size);
                archive_entry_free(e);
        }
        assert_int_equal(archive_write_close(a), ARCHIVE_OK);
        archive_write_free(a);
        return fd;
}

/* A docker archive of one layer; tamper flips the layer's content after the config named it. */
static int docker_archive(bool tamper) {
        static const char layer[] = "pretend this is a layer tar";
        char layer_digest[OCI_DIGEST_LEN + 1], config_digest[OCI_DIGEST_LEN + 1], config[512],
                config_name[100], manifest[512];

        digest_of(layer, strlen(layer), layer_digest);
        snprintf(config, sizeof(config),
                 "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\","
                 "\"diff_ids\":[\"%s\"]}}",
                 layer_digest);
        digest_of(config, strlen(config), config_digest);
        snprintf(config_name, sizeof(config_name), "%s.json", config_digest + 7);
        snprintf(manifest, sizeof(manifest), "[{\"Config\":\"%s\",\"Layers\":[\"abc/layer.tar\"]}]",
                 config_name);
        Entry entries[] = {
                {"abc/", NULL, 0},
                {"abc/layer.tar", tamper ? "pretend this is a layer taR" : layer, strlen(layer)},
                {config_name, config, strlen(config)},
                {"manifest.json", manifest, strlen(manifest)},
        };
        return make_tar(entries, ELEMENTSOF(entries));
}

static void test_docker_archive(void **state) {
        int fd = docker_archive(false), dfd = new_dir("docker");
        char *error = NULL, *index = NULL, *manifest = NULL;
        json_object *o = NULL, *m = NULL;
        size_t size;

        assert_int_equal(oci_archive_extract(fd, dfd, NULL, &error), 0);
        assert_null(error);
        close(fd);
        /* index.json names a manifest blob, which names the config and the layer blobs. */
        assert_int_equal(oci_layout_read_index(dfd, (uid_t) -1, &index, &size), 0);
        assert_int_equal(json_parse(index, size, &o), 0);
        json_object *d = json_object_array_get_idx(json_object_object_get(o, "manifests"), 0);
        const char *digest = json_object_get_string(json_object_object_get(d, "digest"));
        assert_int_equal(oci_layout_read_blob(dfd, (uid_t) -1, digest, UINT64_MAX, 65536, &manifest, &size),
                         0);
        assert_int_equal(json_parse(manifest, size, &m), 0);
        json_object *l = json_object_array_get_idx(json_object_object_get(m, "layers"), 0);
        char *layer = NULL;
        assert_int_equal(oci_layout_read_blob(dfd, (uid_t) -1,
                                              json_object_get_string(json_object_object_get(l, "digest")),
                                              UINT64_MAX, 65536, &layer, &size),
                         0);
        assert_string_equal(layer, "pretend this is a layer tar");
        free(layer);
        free(index);
        free(manifest);
        json_object_put(o);
        json_object_put(m);
        close(dfd);

        /* A layer that is not what the config says. */
        fd = docker_archive(true);
        dfd = new_dir("docker-tampered");
        assert_int_equal(oci_archive_extract(fd, dfd, NULL, &error), -EBADMSG);
        assert_non_null(strstr(error, "diff_id"));
        free(error);
        close(fd);
        close(dfd);
}

static void test_unsafe_archives(void **state) {
        static const Entry dotdot[] = {{"../escape", "x", 1}}, absolute[] = {{"/etc/x", "x", 1}},
                           deep[] = {{"a/b/c/d", "x", 1}}, twice[] = {{"f", "x", 1}, {"f", "y", 1}},
                           neither[] = {{"README", "hello", 5}};
        static const struct {
                const Entry *entries;
                size_t n;
        } cases[] = {
                {dotdot, 1}, {absolute, 1}, {deep, 1}, {twice, 2}, {neither, 1},
        };
        char name[32];

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char *error = NULL;
                int fd = make_tar(cases[i].entries, cases[i].n);
                snprintf(name, sizeof(name), "unsafe-%zu", i);
                int dfd = new_dir(name);
                assert_int_equal(oci_archive_extract(fd, dfd, NULL, &error), -EBADMSG);
                assert_non_null(error);
                free(error);
                close(fd);
                close(dfd);
        }
        char escape[300];
        snprintf(escape, sizeof(escape), "%s/escape", base);
        assert_int_equal(access(escape, F_OK), -1);
}

/* Cuts fd's file to half its size. */
static void truncate_half(int fd) {
        struct stat st;
        assert_int_equal(fstat(fd, &st), 0);
        assert_int_equal(ftruncate(fd, st.st_size / 2), 0);
}

static void test_gzipped_archive(void **state) {
        char *error = NULL;
        bool image = false;
        int fd, dfd;

        tar_gzip = true;
        fd = docker_archive(false);
        tar_gzip = false;
        dfd = new_dir("docker-gz");
        assert_int_equal(oci_archive_is_image(fd, &image), 0);
        assert_true(image);
        /* Decompressed as it is read: the same layout as the plain archive's. */
        assert_int_equal(oci_archive_extract(fd, dfd, NULL, &error), 0);
        assert_null(error);
        char *index = NULL;
        size_t size;
        assert_int_equal(oci_layout_read_index(dfd, (uid_t) -1, &index, &size), 0);
        free(index);
        close(dfd);

        /* Cut in the middle: refused, the gzip stream said to be what broke. */
        truncate_half(fd);
        dfd = new_dir("docker-gz-truncated");
        assert_int_equal(oci_archive_extract(fd, dfd, NULL, &error), -EBADMSG);
        assert_non_null(error);
        assert_non_null(strstr(error, "gzip"));
        free(error);
        close(fd);
        close(dfd);
}

/* The sha256 of fd's file from its start, as "sha256:<hex>"; of its gunzipped content if gunzip. */
static void file_digest(int fd, bool gunzip, char ret[static OCI_DIGEST_LEN + 1]) {
        struct archive *a = archive_read_new();
        struct archive_entry *e;
        char *buf = malloc(1 << 20);
        ssize_t n;
        size_t total = 0;

        archive_read_support_format_raw(a);
        if (gunzip)
                archive_read_support_filter_gzip(a);
        assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
        assert_int_equal(archive_read_open_fd(a, fd, 4096), ARCHIVE_OK);
        assert_int_equal(archive_read_next_header(a, &e), ARCHIVE_OK);
        while ((n = archive_read_data(a, buf + total, (1 << 20) - total)) > 0)
                total += (size_t) n;
        assert_int_equal(n, 0);
        digest_of(buf, total, ret);
        archive_read_free(a);
        free(buf);
}

static void test_layer_tars(void **state) {
        static const Entry bottom[] = {{"etc/", NULL, 0}, {"etc/hello", "bottom", 6}},
                           top[] = {{"etc/.wh.hello", "", 0}, {"top", "x", 1}};
        char want_digest[2][OCI_DIGEST_LEN + 1], want_diff[2][OCI_DIGEST_LEN + 1];
        char *error = NULL, *text = NULL, *manifest = NULL, *config = NULL;
        json_object *o = NULL, *m = NULL, *c = NULL;
        bool image = true;
        size_t size;
        int fds[2], dfd;

        fds[0] = make_tar(bottom, ELEMENTSOF(bottom));
        tar_gzip = true;
        fds[1] = make_tar(top, ELEMENTSOF(top));
        tar_gzip = false;
        assert_int_equal(oci_archive_is_image(fds[0], &image), 0);
        assert_false(image);
        assert_int_equal(oci_archive_is_image(fds[1], &image), 0);
        assert_false(image);
        for (int i = 0; i < 2; i++) {
                file_digest(fds[i], false, want_digest[i]);
                file_digest(fds[i], i == 1, want_diff[i]);
        }
        assert_string_not_equal(want_digest[1], want_diff[1]);

        dfd = new_dir("layers");
        assert_int_equal(oci_layers_to_layout(fds, 2, dfd, NULL, &error), 0);
        assert_null(error);
        assert_int_equal(oci_layout_read_index(dfd, (uid_t) -1, &text, &size), 0);
        assert_int_equal(json_parse(text, size, &o), 0);
        json_object *d = json_object_array_get_idx(json_object_object_get(o, "manifests"), 0);
        assert_int_equal(oci_layout_read_blob(dfd, (uid_t) -1,
                                              json_object_get_string(json_object_object_get(d, "digest")),
                                              UINT64_MAX, 65536, &manifest, &size),
                         0);
        assert_int_equal(json_parse(manifest, size, &m), 0);
        json_object *layers = json_object_object_get(m, "layers");
        assert_int_equal(json_object_array_length(layers), 2);
        /* In the order given, each named after the file as given, its media type saying gzip or not. */
        for (int i = 0; i < 2; i++) {
                json_object *l = json_object_array_get_idx(layers, i);
                assert_string_equal(json_object_get_string(json_object_object_get(l, "digest")),
                                    want_digest[i]);
                assert_string_equal(json_object_get_string(json_object_object_get(l, "mediaType")),
                                    i == 1 ? "application/vnd.oci.image.layer.v1.tar+gzip"
                                           : "application/vnd.oci.image.layer.v1.tar");
        }
        /* The config: linux, diff_ids the uncompressed tars' sha256. */
        json_object *cd = json_object_object_get(m, "config");
        assert_int_equal(oci_layout_read_blob(dfd, (uid_t) -1,
                                              json_object_get_string(json_object_object_get(cd, "digest")),
                                              UINT64_MAX, 65536, &config, &size),
                         0);
        assert_int_equal(json_parse(config, size, &c), 0);
        assert_string_equal(json_object_get_string(json_object_object_get(c, "os")), "linux");
        json_object *ids = json_object_object_get(json_object_object_get(c, "rootfs"), "diff_ids");
        for (int i = 0; i < 2; i++)
                assert_string_equal(json_object_get_string(json_object_array_get_idx(ids, i)), want_diff[i]);
        free(text);
        free(manifest);
        free(config);
        json_object_put(o);
        json_object_put(m);
        json_object_put(c);
        close(dfd);

        /* A truncated gzip layer: refused, naming which file. */
        truncate_half(fds[1]);
        dfd = new_dir("layers-truncated");
        assert_int_equal(oci_layers_to_layout(fds, 2, dfd, NULL, &error), -EBADMSG);
        assert_non_null(error);
        assert_non_null(strstr(error, "layer file 2"));
        free(error);
        close(dfd);
        close(fds[0]);
        close(fds[1]);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_detect),
                cmocka_unit_test(test_blobs),
                cmocka_unit_test(test_docker_archive),
                cmocka_unit_test(test_unsafe_archives),
                cmocka_unit_test(test_gzipped_archive),
                cmocka_unit_test(test_layer_tars),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
