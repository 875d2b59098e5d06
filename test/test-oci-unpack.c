/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for the layer unpacker helper: its answer parsed strictly (boot paths below the tree only), its
 * sandbox (only the capabilities unpacking needs, the store's two directories writable), and the real
 * cocoon-unpack binary run over a tar: the tree, the EROFS image and the answer; a bad tar refused; without
 * isa-l (its dlopen() failed by the fault shim) the same tree through libarchive's zlib, nothing logged. */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <linux/capability.h>
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

#include "fs-util.h"
#include "oci-unpack.h"
#include "tree-test-util.h"

#define DIGEST "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static int parse(const char *text, OciLayerBoot *boot, char **error) {
        return oci_unpack_response_parse(text, strlen(text), boot, error);
}

static void test_response(void **state) {
        OciLayerBoot boot = {};
        char *error = NULL;

        assert_int_equal(parse("{\"kernel\":\"boot/vmlinuz-6.1\",\"initrd\":\"initrd.img\"}", &boot, &error),
                         0);
        assert_string_equal(boot.kernel, "boot/vmlinuz-6.1");
        assert_string_equal(boot.initrd, "initrd.img");
        oci_layer_boot_done(&boot);
        assert_int_equal(parse("{}", &boot, &error), 0);
        assert_null(boot.kernel);
        assert_null(boot.initrd);

        /* A refused layer and a failure of the helper are told apart. */
        assert_int_equal(
                parse("{\"error\":\"entry ../x: path leaves the tree\",\"invalid\":true}", &boot, &error),
                -EBADMSG);
        assert_string_equal(error, "entry ../x: path leaves the tree");
        free(error);
        assert_int_equal(parse("{\"error\":\"mkfs.erofs: no space\",\"invalid\":false}", &boot, &error),
                         -EIO);
        assert_string_equal(error, "mkfs.erofs: no space");
        free(error);
        error = NULL;

        /* Boot files outside the tree, or answers that are not ours, are a broken helper. */
        static const char *const bad[] = {
                "",
                "[]",
                "{\"kernel\":1}",
                "{\"kernel\":\"/etc/shadow\"}",
                "{\"kernel\":\"../x\"}",
                "{\"initrd\":\"boot/../../x\"}",
                "{\"kernel\":\"boot//x\"}",
                "{\"kernel\":\"./x\"}",
                "{\"kernel\":\"boot/\"}",
                "{\"kernel\":\"\"}",
                "{\"kernel\":\"a\",\"kernel\":\"b\"}",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                assert_int_equal(parse(bad[i], &boot, &error), -EPROTO);
                assert_null(boot.kernel);
                assert_null(error);
        }
}

static void test_sandbox(void **state) {
        char *bind[3], *bind_ro[2];
        UnitSandbox sb;

        oci_unpack_sandbox("/usr/libexec/cocoon-unpack", "/var/lib/cocoon/images/blobs",
                           "/var/lib/cocoon/images/tmp", bind, bind_ro, &sb);
        /* Root, with only what writing a layer's files as they are takes. */
        assert_null(sb.user);
        assert_true(sb.capabilities & (UINT64_C(1) << CAP_MKNOD));
        assert_true(sb.capabilities & (UINT64_C(1) << CAP_SETFCAP));
        assert_true(sb.capabilities & (UINT64_C(1) << CAP_SYS_ADMIN));
        assert_true(sb.capabilities & (UINT64_C(1) << CAP_CHOWN));
        uint64_t rest = sb.capabilities & ~((UINT64_C(1) << CAP_CHOWN) | (UINT64_C(1) << CAP_DAC_OVERRIDE) |
                                            (UINT64_C(1) << CAP_DAC_READ_SEARCH) |
                                            (UINT64_C(1) << CAP_FOWNER) | (UINT64_C(1) << CAP_MKNOD) |
                                            (UINT64_C(1) << CAP_SETFCAP) | (UINT64_C(1) << CAP_SYS_ADMIN));
        assert_int_equal(rest, 0);
        assert_true(sb.allow_suid_sgid);
        assert_false(sb.host_network);
        assert_false(sb.allow_write_execute);
        assert_string_equal(sb.bind_paths[0], "/var/lib/cocoon/images/blobs");
        assert_string_equal(sb.bind_paths[1], "/var/lib/cocoon/images/tmp");
        assert_null(sb.bind_paths[2]);
        assert_string_equal(sb.bind_read_only_paths[0], "/usr/libexec/cocoon-unpack");
        assert_null(sb.bind_read_only_paths[1]);
        assert_null(sb.hidden_paths);
        assert_null(sb.device_allow);
}

static char base[] = "/tmp/test-oci-unpack-XXXXXX";

/* 600 kB, half text, half pseudo-random: more than one block for every buffer on the way. */
static const char *big_data(size_t *ret_size) {
        static char data[600 * 1000];
        uint32_t x = 1;

        for (size_t i = 0; i < sizeof(data); i++) {
                x = x * 1103515245u + 12345u;
                data[i] = i % 8192 < 4096 ? "cocoon\n"[i % 7] : (char) (x >> 16);
        }
        *ret_size = sizeof(data);
        return data;
}

/* A gzip tar with directories, a kernel in boot/ and files; or, bad, one entry leaving the tree. */
static int make_tar(bool bad) {
        static const struct {
                const char *path;
                mode_t type;
                const char *data;
        } good[] =
                {
                        {"boot/", AE_IFDIR, NULL},
                        {"boot/vmlinuz-test", AE_IFREG, "kernel\n"},
                        {"etc/", AE_IFDIR, NULL},
                        {"etc/hostname", AE_IFREG, "guest\n"},
                        {"usr/share/big", AE_IFREG, NULL}, /* big_data(): several blocks of inflating */
                },
          evil[] = {
                  {"../escape", AE_IFREG, "x\n"},
          };
        char path[256];
        struct archive *a = archive_write_new();
        size_t n = bad ? ELEMENTSOF(evil) : ELEMENTSOF(good);
        int fd;

        snprintf(path, sizeof(path), "%s/tar-XXXXXX", base);
        fd = mkstemp(path);
        assert_true(fd >= 0);
        unlink(path);
        archive_write_set_format_pax_restricted(a);
        archive_write_add_filter_gzip(a);
        assert_int_equal(archive_write_open_fd(a, fd), ARCHIVE_OK);
        for (size_t i = 0; i < n; i++) {
                struct archive_entry *e = archive_entry_new();
                const char *p = bad ? evil[i].path : good[i].path, *data = bad ? evil[i].data : good[i].data;
                mode_t type = bad ? evil[i].type : good[i].type;
                size_t size = data ? strlen(data) : 0;

                if (type == AE_IFREG && !data)
                        data = big_data(&size);
                archive_entry_set_pathname(e, p);
                archive_entry_set_filetype(e, type);
                archive_entry_set_perm(e, type == AE_IFDIR ? 0755 : 0644);
                archive_entry_set_mtime(e, 1000000000, 0);
                if (data)
                        archive_entry_set_size(e, (la_int64_t) size);
                assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
                if (data)
                        assert_int_equal(archive_write_data(a, data, size), (ssize_t) size);
                archive_entry_free(e);
        }
        assert_int_equal(archive_write_close(a), ARCHIVE_OK);
        archive_write_free(a);
        assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
        return fd;
}

/* Runs the helper as the manager's unit would (stdin the layer); returns its exit status. With fault set,
 * under the fault shim (COCOON_FAULT=fault), its stderr to err_fd. */
static int run_helper_full(int layer_fd, const char *work, const char *output, const char *fault,
                           const char *fault_log, int err_fd) {
        const char *helper = getenv("COCOON_UNPACK");
        pid_t pid;
        int status;

        assert_non_null(helper);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                if (fault) {
                        const char *shim = getenv("COCOON_FAULT_INJECT");
                        /* In the ASan build the shim needs libasan, which the helper loads first
                         * anyway: the runtime's check of the order would refuse to start. */
                        _cleanup_free_ char *asan = NULL;
                        if (asprintf(&asan, "%s:verify_asan_link_order=0", getenv("ASAN_OPTIONS") ?: "") < 0)
                                _exit(126);
                        if (!shim || setenv("LD_PRELOAD", shim, 1) < 0 ||
                            setenv("ASAN_OPTIONS", asan, 1) < 0 || setenv("COCOON_FAULT", fault, 1) < 0 ||
                            setenv("COCOON_FAULT_LOG", fault_log, 1) < 0)
                                _exit(126);
                }
                if (err_fd >= 0)
                        dup2(err_fd, STDERR_FILENO);
                dup2(layer_fd, STDIN_FILENO);
                execl(helper, helper, DIGEST, work, output, (char *) NULL);
                _exit(127);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        return WEXITSTATUS(status);
}

static int run_helper(int layer_fd, const char *work, const char *output) {
        return run_helper_full(layer_fd, work, output, NULL, NULL, -1);
}

static char *read_response(const char *work, OciLayerBoot *boot, char **error, int *ret) {
        char *path, *text = NULL;
        size_t size;

        assert_true(asprintf(&path, "%s/" OCI_UNPACK_RESPONSE, work) > 0);
        assert_int_equal(read_full_file(path, &text, &size), 0);
        *ret = oci_unpack_response_parse(text, size, boot, error);
        free(path);
        return text;
}

static void test_helper(void **state) {
        char work[300], output[300];
        OciLayerBoot boot = {};
        char *error = NULL, *text;
        struct stat st;
        int fd, r;

        assert_non_null(mkdtemp(base));
        snprintf(work, sizeof(work), "%s/work", base);
        snprintf(output, sizeof(output), "%s/layer.erofs", base);
        assert_int_equal(mkdir(work, 0700), 0);
        assert_int_equal(close(open(output, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)), 0);

        fd = make_tar(false);
        assert_int_equal(run_helper(fd, work, output), 0);
        close(fd);
        text = read_response(work, &boot, &error, &r);
        assert_int_equal(r, 0);
        assert_string_equal(boot.kernel, "boot/vmlinuz-test");
        assert_null(boot.initrd);
        oci_layer_boot_done(&boot);
        free(text);
        assert_int_equal(stat(output, &st), 0);
        assert_true(st.st_size >= 1024);
        assert_int_equal(st.st_mode & 07777, 0444);
        char etc[400];
        snprintf(etc, sizeof(etc), "%s/" OCI_UNPACK_TREE "/etc/hostname", work);
        assert_int_equal(stat(etc, &st), 0);

        /* A layer leaving the tree: refused, said so, nothing written outside. */
        assert_int_equal(rm_rf(work), 0);
        assert_int_equal(mkdir(work, 0700), 0);
        fd = make_tar(true);
        assert_int_equal(run_helper(fd, work, output), 0);
        close(fd);
        text = read_response(work, &boot, &error, &r);
        assert_int_equal(r, -EBADMSG);
        assert_non_null(error);
        free(error);
        free(text);
        snprintf(etc, sizeof(etc), "%s/escape", work);
        assert_int_equal(access(etc, F_OK), -1);

        /* Called wrong: no answer, a failure. */
        assert_int_equal(run_helper(STDIN_FILENO, "relative", output), 1);
        assert_int_equal(rm_rf(base), 0);
}

static void test_helper_without_isal(void **state) {
        const char *dir = base;
        _cleanup_free_ char *work = NULL, *plain = NULL, *output = NULL, *log = NULL, *tree = NULL,
                            *plain_tree = NULL, *errors = NULL, *faults = NULL;
        OciLayerBoot boot = {};
        char *error = NULL, *text;
        size_t size;
        int fd, err_fd, r;

        /* test_helper made base (make_tar() writes there), and removed it. */
        assert_int_equal(mkdir(dir, 0700), 0);
        assert_true(asprintf(&work, "%s/work", dir) > 0);
        assert_true(asprintf(&plain, "%s/work-zlib", dir) > 0);
        assert_true(asprintf(&output, "%s/layer.erofs", dir) > 0);
        assert_true(asprintf(&log, "%s/faults", dir) > 0);
        assert_true(asprintf(&errors, "%s/stderr", dir) > 0);
        assert_true(asprintf(&tree, "%s/" OCI_UNPACK_TREE, work) > 0);
        assert_true(asprintf(&plain_tree, "%s/" OCI_UNPACK_TREE, plain) > 0);
        assert_int_equal(mkdir(work, 0700), 0);
        assert_int_equal(mkdir(plain, 0700), 0);

        /* With isa-l (installed here: test-dlopen loads it), then as if it were not. */
        fd = make_tar(false);
        assert_int_equal(run_helper(fd, work, output), 0);
        close(fd);
        fd = make_tar(false);
        err_fd = open(errors, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(err_fd >= 0);
        assert_int_equal(run_helper_full(fd, plain, output, "dlopen:libisal.so*:1+", log, err_fd), 0);
        close(err_fd);
        close(fd);

        /* The shim did refuse isa-l, so libarchive's own gzip filter inflated the layer. */
        assert_int_equal(read_full_file(log, &faults, &size), 0);
        assert_non_null(strstr(faults, "dlopen:libisal.so*:1+ libisal.so.2"));
        text = read_response(plain, &boot, &error, &r);
        assert_int_equal(r, 0);
        assert_string_equal(boot.kernel, "boot/vmlinuz-test");
        oci_layer_boot_done(&boot);
        free(text);
        /* Silently: a debug message at most, not shown at the default level. */
        char *said = NULL;
        assert_int_equal(read_full_file(errors, &said, &size), 0);
        assert_int_equal(size, 0);
        free(said);

        assert_int_equal(tree_assert_equal(tree, plain_tree), 8);
        assert_int_equal(rm_rf(dir), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_response),
                cmocka_unit_test(test_sandbox),
                cmocka_unit_test(test_helper),
                cmocka_unit_test(test_helper_without_isal),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
