/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for the layer unpacker helper: its answer parsed strictly (boot paths below the tree only), jobs
 * sent and received (with their descriptors, or refused), its sandbox (only the capabilities unpacking
 * needs, the store's two directories writable), and the real cocoon-unpack binary serving jobs over its
 * socket: two layers at once (a file and a pipe), the trees, the EROFS images and the answers; a bad tar
 * refused; a message that is not a job ignored; the end of the jobs its exit; without isa-l (its dlopen()
 * failed by the fault shim) the same tree through libarchive's zlib, nothing logged. */
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
#include <sched.h>
#include <dirent.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "fd-util.h"
#include "fs-util.h"
#include "oci-unpack.h"
#include "tree-test-util.h"

#define DIGEST "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static int parse(const char *text, OciLayerBoot *boot, char **error) {
        return oci_unpack_answer_parse(text, strlen(text), boot, error);
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
        /* A tree in memory that did not fit: to be sent again, on disk. */
        assert_int_equal(parse("{\"error\":\"entry \\\"big\\\": No space left on device\",\"invalid\":false,"
                               "\"retryOnDisk\":true}",
                               &boot, &error),
                         -EAGAIN);
        assert_string_equal(error, "entry \"big\": No space left on device");
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
                           "/var/lib/cocoon/images/tmp", 0, bind, bind_ro, &sb);
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
        /* No memory for trees: no tmpfs. With some, a tmpfs of that size over the manager's runtime
         * directory (which it hides). */
        assert_null(sb.scratch_path);
        oci_unpack_sandbox("/usr/libexec/cocoon-unpack", "/var/lib/cocoon/images/blobs",
                           "/var/lib/cocoon/images/tmp", 1 << 30, bind, bind_ro, &sb);
        assert_string_equal(sb.scratch_path, "/run/cocoon");
        assert_int_equal(sb.scratch_size, 1 << 30);
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

/* Starts the helper as the manager's unit would: stdin one end of a SOCK_SEQPACKET pair, whose other end
 * is returned. With fault set, under the fault shim (COCOON_FAULT=fault), its stderr to err_fd. */
static pid_t start_helper_full(const char *fault, const char *fault_log, int err_fd, const char *option,
                               const char *memory_dir, const char *tmpfs_size, int *ret_sock) {
        const char *helper = getenv("COCOON_UNPACK");
        int pair[2];
        pid_t pid;

        assert_non_null(helper);
        assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair), 0);
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
                /* A tmpfs of that size at memory_dir, as the unit's, in a mount namespace of the
                 * helper's own. */
                if (tmpfs_size) {
                        _cleanup_free_ char *options = NULL;
                        if (asprintf(&options, "size=%s", tmpfs_size) < 0 || unshare(CLONE_NEWNS) < 0 ||
                            mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
                            mount("tmpfs", memory_dir, "tmpfs", 0, options) < 0)
                                _exit(125);
                }
                if (err_fd >= 0)
                        dup2(err_fd, STDERR_FILENO);
                dup2(pair[1], STDIN_FILENO);
                if (option)
                        execl(helper, helper, option, memory_dir, (char *) NULL);
                else
                        execl(helper, helper, memory_dir, (char *) NULL);
                _exit(127);
        }
        close(pair[1]);
        *ret_sock = pair[0];
        return pid;
}

static pid_t start_helper(int *ret_sock) {
        return start_helper_full(NULL, NULL, -1, NULL, NULL, NULL, ret_sock);
}

static int wait_exit(pid_t pid) {
        int status;

        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        return WEXITSTATUS(status);
}

/* A job's directory: base/NAME with an empty work/ and an existing output file. */
static void job_dirs(const char *name, char work[static 300], char output[static 300]) {
        char dir[200];

        snprintf(dir, sizeof(dir), "%s/%s", base, name);
        snprintf(work, 300, "%s/work", dir);
        snprintf(output, 300, "%s/layer.erofs", dir);
        assert_int_equal(mkdir(dir, 0700), 0);
        assert_int_equal(mkdir(work, 0700), 0);
        assert_int_equal(close(open(output, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)), 0);
}

/* Jobs go with exactly their two descriptors; anything else is refused, its descriptors closed. */
static void test_jobs(void **state) {
        OciUnpackJob job = {.layer_fd = -EBADF, .answer_fd = -EBADF};
        OciLayerBoot boot = {};
        char *error = NULL;
        int pair[2], layer[2], answer_fd;

        assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair), 0);
        assert_int_equal(pipe2(layer, O_CLOEXEC), 0);
        assert_int_equal(oci_unpack_job_send(pair[0], layer[0], DIGEST, "/w", "/o.erofs", 12345, true, &answer_fd),
                         0);
        assert_int_equal(oci_unpack_job_receive(pair[1], &job), 1);
        assert_string_equal(job.digest, DIGEST);
        assert_int_equal(job.layer_size, 12345);
        assert_true(job.on_disk);
        assert_string_equal(job.work_dir, "/w");
        assert_string_equal(job.output, "/o.erofs");
        /* The layer descriptor is the caller's pipe, the answer one a pipe to answer_fd. */
        assert_int_equal(write(layer[1], "x", 1), 1);
        char c = 0;
        assert_int_equal(read(job.layer_fd, &c, 1), 1);
        assert_int_equal(c, 'x');
        assert_int_equal(loop_write(job.answer_fd, "{}", 2), 0);
        oci_unpack_job_done(&job);
        assert_int_equal(oci_unpack_answer_read(answer_fd, &boot, &error), 0);
        assert_null(boot.kernel);
        close(answer_fd);

        /* The helper gone before answering: no answer at all. */
        assert_int_equal(oci_unpack_job_send(pair[0], layer[0], DIGEST, "/w", "/o.erofs", 0, false, &answer_fd), 0);
        assert_int_equal(oci_unpack_job_receive(pair[1], &job), 1);
        oci_unpack_job_done(&job);
        assert_int_equal(oci_unpack_answer_read(answer_fd, &boot, &error), -ENODATA);
        close(answer_fd);

        /* Not jobs: no descriptors, text that is not one, a relative path, a bad digest. */
        assert_int_equal(send(pair[0], "{}", 2, 0), 2);
        assert_int_equal(oci_unpack_job_receive(pair[1], &job), -EBADMSG);
        assert_int_equal(oci_unpack_job_send(pair[0], layer[0], DIGEST, "w", "/o.erofs", 0, false, &answer_fd), 0);
        assert_int_equal(oci_unpack_job_receive(pair[1], &job), -EBADMSG);
        /* Its answer pipe was closed with the refused job. */
        assert_int_equal(oci_unpack_answer_read(answer_fd, &boot, &error), -ENODATA);
        close(answer_fd);
        assert_int_equal(oci_unpack_job_send(pair[0], layer[0], "sha256:12", "/w", "/o", 0, false, &answer_fd), 0);
        assert_int_equal(oci_unpack_job_receive(pair[1], &job), -EBADMSG);
        close(answer_fd);

        /* The sender's end closed: the end of the jobs; and sending to a closed peer fails. */
        close(pair[0]);
        assert_int_equal(oci_unpack_job_receive(pair[1], &job), 0);
        assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair), 0);
        close(pair[1]);
        assert_int_equal(oci_unpack_job_send(pair[0], layer[0], DIGEST, "/w", "/o", 0, false, &answer_fd), -EPIPE);
        close(pair[0]);
        close(layer[0]);
        close(layer[1]);
}

static void check_good(const char *work, const char *output, int answer_fd) {
        OciLayerBoot boot = {};
        char *error = NULL, etc[400];
        struct stat st;

        assert_int_equal(oci_unpack_answer_read(answer_fd, &boot, &error), 0);
        /* On disk: the tree's own, below the work directory. */
        assert_string_equal(boot.kernel, OCI_UNPACK_TREE "/boot/vmlinuz-test");
        assert_null(boot.initrd);
        oci_layer_boot_done(&boot);
        assert_int_equal(stat(output, &st), 0);
        assert_true(st.st_size >= 1024);
        assert_int_equal(st.st_mode & 07777, 0444);
        snprintf(etc, sizeof(etc), "%s/" OCI_UNPACK_TREE "/etc/hostname", work);
        assert_int_equal(stat(etc, &st), 0);
}

static void test_helper(void **state) {
        char work[3][300], output[3][300], escape[400], buf[64 * 1024];
        int sock, file_fd, feed_fd, evil_fd, pipefd[2], answer[3];
        OciLayerBoot boot = {};
        char *error = NULL;
        ssize_t n;
        pid_t pid;

        assert_non_null(mkdtemp(base));
        job_dirs("file", work[0], output[0]);
        job_dirs("pipe", work[1], output[1]);
        job_dirs("evil", work[2], output[2]);
        pid = start_helper(&sock);

        /* Something that is not a job first: ignored, the helper goes on. */
        assert_int_equal(send(sock, "hello", 5, 0), 5);

        /* Three jobs in flight at once: a file, a pipe fed only after all were sent, a layer leaving the
         * tree. */
        file_fd = make_tar(false);
        evil_fd = make_tar(true);
        assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
        assert_int_equal(oci_unpack_job_send(sock, file_fd, DIGEST, work[0], output[0], 0, false, &answer[0]), 0);
        assert_int_equal(oci_unpack_job_send(sock, pipefd[0], DIGEST, work[1], output[1], 0, false, &answer[1]), 0);
        assert_int_equal(oci_unpack_job_send(sock, evil_fd, DIGEST, work[2], output[2], 0, false, &answer[2]), 0);
        close(pipefd[0]);
        /* Its own copy: the helper's child reads file_fd at the offset it shares with us. */
        feed_fd = make_tar(false);
        while ((n = read(feed_fd, buf, sizeof(buf))) > 0)
                assert_int_equal(loop_write(pipefd[1], buf, (size_t) n), 0);
        close(pipefd[1]);
        close(feed_fd);

        check_good(work[0], output[0], answer[0]);
        check_good(work[1], output[1], answer[1]);
        /* A layer leaving the tree: refused, said so, nothing written outside. */
        assert_int_equal(oci_unpack_answer_read(answer[2], &boot, &error), -EBADMSG);
        assert_non_null(error);
        free(error);
        snprintf(escape, sizeof(escape), "%s/escape", work[2]);
        assert_int_equal(access(escape, F_OK), -1);
        for (size_t i = 0; i < 3; i++)
                close(answer[i]);
        close(file_fd);
        close(evil_fd);

        /* The end of the jobs: the helper exits, successfully (every child answered). */
        close(sock);
        assert_int_equal(wait_exit(pid), 0);

        /* Called wrong: a usage error. */
        const char *helper = getenv("COCOON_UNPACK");
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                execl(helper, helper, "extra", (char *) NULL);
                _exit(127);
        }
        assert_int_equal(wait_exit(pid), 1);
        assert_int_equal(rm_rf(base), 0);
}

/* One job on a helper started as given: its answer, the helper's exit. */
static void run_one(pid_t pid, int sock, const char *work, const char *output, OciLayerBoot *boot) {
        char *error = NULL;
        int fd = make_tar(false), answer_fd;

        assert_int_equal(oci_unpack_job_send(sock, fd, DIGEST, work, output, 0, false, &answer_fd), 0);
        close(fd);
        assert_int_equal(oci_unpack_answer_read(answer_fd, boot, &error), 0);
        close(answer_fd);
        close(sock);
        assert_int_equal(wait_exit(pid), 0);
}

static void test_helper_without_isal(void **state) {
        char work[300], output[300], plain[300], plain_output[300], log[300], errors[300], tree[400],
                plain_tree[400];
        _cleanup_free_ char *faults = NULL, *said = NULL;
        OciLayerBoot boot = {};
        int sock, err_fd;
        size_t size;
        pid_t pid;

        /* test_helper made base (make_tar() writes there), and removed it. */
        assert_int_equal(mkdir(base, 0700), 0);
        job_dirs("isal", work, output);
        job_dirs("zlib", plain, plain_output);
        snprintf(log, sizeof(log), "%s/faults", base);
        snprintf(errors, sizeof(errors), "%s/stderr", base);
        snprintf(tree, sizeof(tree), "%s/" OCI_UNPACK_TREE, work);
        snprintf(plain_tree, sizeof(plain_tree), "%s/" OCI_UNPACK_TREE, plain);

        /* With isa-l (installed here: test-dlopen loads it), then as if it were not. */
        pid = start_helper(&sock);
        run_one(pid, sock, work, output, &boot);
        oci_layer_boot_done(&boot);
        err_fd = open(errors, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(err_fd >= 0);
        pid = start_helper_full("dlopen:libisal.so*:1+", log, err_fd, NULL, NULL, NULL, &sock);
        close(err_fd);
        run_one(pid, sock, plain, plain_output, &boot);

        /* The shim did refuse isa-l, so libarchive's own gzip filter inflated the layer. */
        assert_int_equal(read_full_file(log, &faults, &size), 0);
        assert_non_null(strstr(faults, "dlopen:libisal.so*:1+ libisal.so.2"));
        assert_string_equal(boot.kernel, OCI_UNPACK_TREE "/boot/vmlinuz-test");
        oci_layer_boot_done(&boot);
        /* Silently: a debug message at most, not shown at the default level. */
        assert_int_equal(read_full_file(errors, &said, &size), 0);
        assert_int_equal(size, 0);

        assert_int_equal(tree_assert_equal(tree, plain_tree), 8);
        assert_int_equal(rm_rf(base), 0);
}

/* Nothing left in a directory (the helper's memory after its jobs). */
static void assert_empty(const char *dir) {
        _cleanup_(closedirp) DIR *d = opendir(dir);
        struct dirent *de;

        assert_non_null(d);
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                        fail_msg("%s/%s left behind", dir, de->d_name);
}

/* With memory: a layer whose share is free is unpacked there, its boot files copied out to the work
 * directory (the tree in memory gone), the image as big as from a tree on disk; a job told to, or
 * without a size, or too big for the memory left, on disk. A tree that does not fit in memory after all
 * (the manifest's size lied, or the layer compresses very well) is answered "try again on disk". */
static void test_helper_memory(void **state) {
        char work[4][300], output[4][300], memory[300], small[300], path[400], proc[400];
        _cleanup_free_ char *kernel = NULL, *error = NULL, *image0 = NULL, *image1 = NULL;
        OciLayerBoot boot = {};
        int sock, fd, answer;
        struct stat st;
        size_t size0, size1;
        pid_t pid;

        assert_int_equal(mkdir(base, 0700), 0);
        job_dirs("memory", work[0], output[0]);
        job_dirs("told", work[1], output[1]);
        job_dirs("unsized", work[2], output[2]);
        job_dirs("full", work[3], output[3]);
        snprintf(memory, sizeof(memory), "%s/memory-dir", base);
        assert_int_equal(mkdir(memory, 0700), 0);
        snprintf(small, sizeof(small), "%s/small", base);
        assert_int_equal(mkdir(small, 0700), 0);

        fd = make_tar(false);
        assert_int_equal(fstat(fd, &st), 0);
        pid = start_helper_full(NULL, NULL, -1, NULL, memory, NULL, &sock);
        assert_int_equal(oci_unpack_job_send(sock, fd, DIGEST, work[0], output[0], (uint64_t) st.st_size, false,
                                             &answer),
                         0);
        assert_int_equal(oci_unpack_answer_read(answer, &boot, &error), 0);
        close(answer);
        assert_string_equal(boot.kernel, "kernel");
        oci_layer_boot_done(&boot);
        snprintf(path, sizeof(path), "%s/kernel", work[0]);
        assert_int_equal(read_full_file(path, &kernel, &size0), 0);
        assert_string_equal(kernel, "kernel\n");
        snprintf(path, sizeof(path), "%s/" OCI_UNPACK_TREE, work[0]);
        assert_int_equal(access(path, F_OK), -1);
        assert_empty(memory);

        /* Told to use the disk, or the size unknown: the tree on disk, as without memory. */
        assert_int_equal(oci_unpack_job_send(sock, fd, DIGEST, work[1], output[1], (uint64_t) st.st_size, true,
                                             &answer),
                         0);
        check_good(work[1], output[1], answer);
        close(answer);
        assert_int_equal(oci_unpack_job_send(sock, fd, DIGEST, work[2], output[2], 0, false, &answer), 0);
        check_good(work[2], output[2], answer);
        close(answer);
        close(sock);
        assert_int_equal(wait_exit(pid), 0);
        assert_empty(memory);

        /* An image of the same size from memory as from disk (the build time and the root's mtime
         * differ). */
        assert_int_equal(read_full_file(output[0], &image0, &size0), 0);
        assert_int_equal(read_full_file(output[1], &image1, &size1), 0);
        assert_int_equal(size0, size1);

        /* 64 KiB of memory (a tmpfs, as the unit's). The layer's share (4 x its size) is not free: on
         * disk. Said to be 1 kB, its share is, but its 600 kB do not fit: try again on disk, the memory
         * emptied. */
        if (geteuid() != 0)
                skip();
        pid = start_helper_full(NULL, NULL, -1, NULL, small, "64k", &sock);
        assert_int_equal(oci_unpack_job_send(sock, fd, DIGEST, work[3], output[3], (uint64_t) st.st_size, false,
                                             &answer),
                         0);
        check_good(work[3], output[3], answer);
        close(answer);
        assert_int_equal(rm_rf(work[3]), 0);
        assert_int_equal(mkdir(work[3], 0700), 0);
        assert_int_equal(oci_unpack_job_send(sock, fd, DIGEST, work[3], output[3], 1000, false, &answer), 0);
        assert_int_equal(oci_unpack_answer_read(answer, &boot, &error), -EAGAIN);
        close(answer);
        assert_non_null(strstr(error, "usr/share/big\": Write failed: No space left on device"));
        /* The helper's mount namespace, seen through its root. */
        snprintf(proc, sizeof(proc), "/proc/%d/root%s", (int) pid, small);
        assert_empty(proc);
        close(sock);
        assert_int_equal(wait_exit(pid), 0);
        close(fd);
        assert_int_equal(rm_rf(base), 0);
}

/* With no job for --idle-exit=SEC and none at work, the helper takes no more (a send fails: the manager
 * then starts a new unit) and exits, successfully; a job at work keeps it. */
static void test_helper_idle_exit(void **state) {
        char work[300], output[300];
        OciLayerBoot boot = {};
        char *error = NULL;
        int sock, fd, answer;
        pid_t pid;

        assert_int_equal(mkdir(base, 0700), 0);
        job_dirs("idle", work, output);
        fd = make_tar(false);
        pid = start_helper_full(NULL, NULL, -1, "--idle-exit=1", NULL, NULL, &sock);
        /* A job within the second: done. */
        assert_int_equal(oci_unpack_job_send(sock, fd, DIGEST, work, output, 0, false, &answer), 0);
        assert_int_equal(oci_unpack_answer_read(answer, &boot, &error), 0);
        oci_layer_boot_done(&boot);
        close(answer);
        /* Then more than a second without one: it is gone, having said no more. */
        assert_int_equal(wait_exit(pid), 0);
        assert_int_equal(oci_unpack_job_send(sock, fd, DIGEST, work, output, 0, false, &answer), -EPIPE);
        close(sock);
        close(fd);

        /* Called wrong: a usage error. */
        static const char *const bad[] = {"--idle-exit=0", "--idle-exit=x", "--idle-exit="};
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                pid = start_helper_full(NULL, NULL, -1, bad[i], NULL, NULL, &sock);
                assert_int_equal(wait_exit(pid), 1);
                close(sock);
        }
        assert_int_equal(rm_rf(base), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_response),
                cmocka_unit_test(test_jobs),
                cmocka_unit_test(test_sandbox),
                cmocka_unit_test(test_helper),
                cmocka_unit_test(test_helper_without_isal),
                cmocka_unit_test(test_helper_memory),
                cmocka_unit_test(test_helper_idle_exit),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
