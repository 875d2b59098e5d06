/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cocoon-unpack: turns OCI layers into EROFS images, run by cocoon-manager as a short-lived transient unit
 * for each pull (oci-unpack.c) so that the rights unpacking needs (device nodes, file capabilities, the
 * trusted.overlay.opaque xattr, setuid files, any owner) stay out of the manager, which also talks to
 * the network: a layer that exploits the unpacker finds no network and the host read-only.
 *
 *   cocoon-unpack [--idle-exit=SEC] [MEMORY_DIR] <SOCKET
 *
 * stdin is a SOCK_SEQPACKET socket on which the manager sends jobs (oci_unpack_job_send()), one per layer:
 * the layer (tar, plain, gzip or zstd: a file already verified, or a pipe the manager writes it into as it
 * downloads it, verifying its digest at the end and dropping the output if it differs; all of it is read),
 * the work directory, the output, and a pipe for the answer. Each job runs in a child process of its own,
 * so that a pull's layers are unpacked at the same time: the tree goes to memory (MEMORY_DIR, the unit's
 * own tmpfs) when the layer's share of it is free (OCI_UNPACK_EXPANSION times its compressed size), else
 * to WORKDIR/tree (oci_layer_unpack(): whiteouts in overlayfs form, unsafe entries refused); the image to
 * OUTPUT (mkfs.erofs, the UUID derived from the layer's digest); the answer to its pipe: {"kernel",
 * "initrd"} (paths below WORKDIR, each when found: the tree's own on disk, copies out of a tree in memory)
 * or {"error": "...", "invalid": bool (the layer was refused), "retryOnDisk": bool (its tree did not fit
 * in memory after all)}. A tree in memory is removed at once: writing it there and reading it back for
 * mkfs.erofs costs far less than on disk. A tree on disk is left for the manager, which copies the boot
 * files out and removes it. When the manager closes its end, the helper waits for its children and
 * exits: 0, or 1 when a child died without an answer. With no job for SEC seconds (default
 * OCI_UNPACK_IDLE_EXIT_SEC) and none at work, it takes no more (shutdown(SHUT_RD): the manager's next
 * job fails to send, and goes to a new unit) and exits the same way: a helper the manager started ahead
 * for a pull that did not come is not kept. */
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dlopen-archive.h"
#include "dlopen-gcrypt.h"
#include "dlopen-isal.h"
#include "fd-util.h"
#include "fs-util.h"
#include "json-util.h"
#include "oci-layer.h"
#include "oci-layout.h"
#include "oci-reference.h"
#include "oci-unpack.h"
#include "parse-util.h"
#include "time-util.h"

static int drain_input(int fd) {
        char buf[64 * 1024];

        for (;;) {
                ssize_t n = read(fd, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return 0;
        }
}

/* A boot file of a tree in memory, copied to work_fd/name: the tree goes before the manager reads it. */
static int copy_boot_file(const char *tree, int work_fd, const char *name, char **path) {
        _cleanup_close_ int tree_fd = -EBADF, in = -EBADF, out = -EBADF;
        int r;

        if (!*path)
                return 0;
        tree_fd = open(tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (tree_fd < 0)
                return -errno;
        /* The layer made the tree: its boot file is not to be reached through a symlink. */
        in = oci_open_no_symlinks(tree_fd, *path, O_RDONLY, (uid_t) -1);
        if (in < 0)
                return in;
        out = openat(work_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (out < 0)
                return -errno;
        r = copy_to_end(in, out);
        if (r < 0)
                return r;
        free(*path);
        *path = strdup(name);
        return *path ? 0 : -ENOMEM;
}

/* Says where the boot files are for the answer: below the work directory. */
static int boot_below_work(const char *prefix, char **path) {
        char *p;

        if (!*path)
                return 0;
        if (asprintf(&p, "%s/%s", prefix, *path) < 0)
                return -ENOMEM;
        free(*path);
        *path = p;
        return 0;
}

/* The tree of a job: in memory_dir (a new directory there), or work_dir/tree. */
static int make_tree(const OciUnpackJob *job, int work_fd, const char *memory_dir, char **ret) {
        _cleanup_free_ char *tree = NULL;

        if (memory_dir) {
                if (asprintf(&tree, "%s/tree-XXXXXX", memory_dir) < 0)
                        return -ENOMEM;
                if (!mkdtemp(tree))
                        return -errno;
        } else {
                if (mkdirat(work_fd, OCI_UNPACK_TREE, 0700) < 0)
                        return -errno;
                if (asprintf(&tree, "%s/" OCI_UNPACK_TREE, job->work_dir) < 0)
                        return -ENOMEM;
        }
        /* oci_layer_unpack() wants a path without symlinks in it. */
        *ret = realpath(tree, NULL);
        if (!*ret) {
                int r = -errno;
                if (memory_dir)
                        (void) rmdir(tree);
                return r;
        }
        return 0;
}

/* memory_dir: the tree goes there, and a layer that does not fit there (or has what a tmpfs cannot hold)
 * sets *ret_retry. */
static int unpack(const OciUnpackJob *job, int work_fd, const char *memory_dir, OciLayerBoot *boot,
                  bool *ret_retry, char **error) {
        _cleanup_free_ char *tree = NULL;
        int r;

        r = make_tree(job, work_fd, memory_dir, &tree);
        if (r < 0 && memory_dir) {
                /* Nothing read yet: the disk will do. */
                fprintf(stderr, "Layer %s: cannot unpack in %s, on disk instead: %s\n", job->digest, memory_dir,
                        strerror(-r));
                memory_dir = NULL;
                r = make_tree(job, work_fd, NULL, &tree);
        }
        if (r < 0)
                return r;
        r = oci_layer_unpack(job->layer_fd, tree, memory_dir ? OCI_LAYER_UNPACK_KEEP_ALL : 0, boot, error);
        if (r == -ENOSPC || r == -EOPNOTSUPP)
                *ret_retry = memory_dir != NULL;
        /* A pipe the manager writes as it downloads: read what follows the archive's end (padding) too,
         * so that the writer is never left waiting. */
        if (r >= 0)
                r = drain_input(job->layer_fd);
        if (r >= 0)
                r = oci_layer_mkfs_erofs(tree, job->digest, job->output, OCI_LAYER_MKFS_TIMEOUT_USEC, error);
        if (r >= 0 && memory_dir) {
                r = copy_boot_file(tree, work_fd, "kernel", &boot->kernel);
                if (r >= 0)
                        r = copy_boot_file(tree, work_fd, "initrd", &boot->initrd);
        } else if (r >= 0) {
                r = boot_below_work(OCI_UNPACK_TREE, &boot->kernel);
                if (r >= 0)
                        r = boot_below_work(OCI_UNPACK_TREE, &boot->initrd);
        }
        /* Memory is for the other layers once this one's image is made. */
        if (memory_dir)
                (void) rm_rf(tree);
        if (r < 0)
                return r;
        if (chmod(job->output, 0444) < 0)
                return -errno;
        return 0;
}

/* One job, in the child: the answer goes to its pipe whatever happens. */
static int run_job(const OciUnpackJob *job, const char *memory_dir) {
        _cleanup_(json_object_putp) json_object *reply = json_object_new_object();
        _cleanup_free_ char *error = NULL;
        _cleanup_close_ int work_fd = -EBADF;
        OciLayerBoot boot = {};
        bool retry = false;
        const char *text;
        int r;

        if (!reply)
                return -ENOMEM;
        work_fd = open(job->work_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        r = work_fd < 0 ? -errno : 0;
        if (r >= 0)
                r = unpack(job, work_fd, memory_dir, &boot, &retry, &error);
        if (r < 0) {
                bool invalid = r == -EBADMSG;

                if (!error && asprintf(&error, "%s", strerror(-r)) < 0)
                        error = NULL;
                fprintf(stderr, "Layer %s: %s%s\n", job->digest, error ?: "out of memory",
                        retry ? " (in memory: trying again on disk)" : "");
                r = json_add_string(reply, "error", error ?: "out of memory");
                /* A layer refused as unsafe or malformed, not a failure of ours. */
                if (r >= 0 && error)
                        r = json_add_bool(reply, "invalid", invalid);
                if (r >= 0 && retry)
                        r = json_add_bool(reply, "retryOnDisk", true);
        } else
                r = json_add_string(reply, "kernel", boot.kernel) < 0
                            ? -ENOMEM
                            : json_add_string(reply, "initrd", boot.initrd);
        oci_layer_boot_done(&boot);
        if (r < 0)
                return r;
        text = json_to_string(reply);
        return text ? loop_write(job->answer_fd, text, strlen(text)) : -ENOMEM;
}

/* The memory for trees: MEMORY_DIR's size, and what the children at work may use of it. */
typedef struct Memory {
        const char *dir; /* NULL: none, trees on disk */
        uint64_t size;
        uint64_t reserved;
} Memory;

/* What a job may use of the memory: its share when free, else 0 (its tree goes to disk). */
static uint64_t memory_reserve(Memory *m, const OciUnpackJob *job) {
        uint64_t need;

        if (!m->dir || job->on_disk || job->layer_size == 0 ||
            __builtin_mul_overflow(job->layer_size, (uint64_t) OCI_UNPACK_EXPANSION, &need) ||
            need > m->size - m->reserved)
                return 0;
        m->reserved += need;
        return need;
}

/* The children at work, by pid, for the log: which layer a dead one had. */
typedef struct Child {
        pid_t pid;
        char digest[OCI_DIGEST_LEN + 1];
        uint64_t memory; /* reserved for its tree */
} Child;

static int reap(Child *children, size_t *n, Memory *memory, int flags) {
        int failed = 0;

        for (;;) {
                int status;
                pid_t pid = waitpid(-1, &status, flags);

                if (pid < 0 && errno == EINTR)
                        continue;
                if (pid <= 0)
                        return failed;
                for (size_t i = 0; i < *n; i++) {
                        if (children[i].pid != pid)
                                continue;
                        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                                fprintf(stderr, "Layer %s: the unpacker's child %s %d\n", children[i].digest,
                                        WIFSIGNALED(status) ? "was killed by signal" : "exited with",
                                        WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
                                failed = 1;
                        }
                        memory->reserved -= children[i].memory;
                        children[i] = children[--*n];
                        break;
                }
        }
}

/* Waits until the next job (or the end of the jobs) can be read: 1; or 0 when none came for idle_usec
 * while no child was at work. Reaps the children that are done meanwhile. */
static int wait_for_job(int fd, uint64_t idle_usec, Child *children, size_t *n, Memory *memory, int *failed) {
        uint64_t idle_since = now_usec(CLOCK_MONOTONIC);

        for (;;) {
                struct pollfd p = {.fd = fd, .events = POLLIN};
                uint64_t t, waited;
                int k;

                *failed |= reap(children, n, memory, WNOHANG);
                t = now_usec(CLOCK_MONOTONIC);
                if (*n > 0)
                        idle_since = t;
                waited = t - idle_since;
                if (waited >= idle_usec)
                        return 0;
                /* Wakes up now and then while children work, to reap them (their memory is free then). */
                k = poll(&p, 1, (int) MIN((idle_usec - waited) / 1000 + 1, 500U));
                if (k < 0 && errno != EINTR)
                        return -errno;
                if (k > 0) {
                        /* A child done just now gives its memory back before the job takes some. */
                        *failed |= reap(children, n, memory, WNOHANG);
                        return 1;
                }
        }
}

int main(int argc, char *argv[]) {
        _cleanup_free_ Child *children = NULL;
        size_t n_children = 0, allocated = 0;
        uint64_t idle_usec = OCI_UNPACK_IDLE_EXIT_SEC * USEC_PER_SEC;
        Memory memory = {};
        bool closed = false;
        int failed = 0, arg = 1;

        /* An answer pipe whose reader went away (the pull gave up) is EPIPE for that child, not a signal. */
        signal(SIGPIPE, SIG_IGN);
        if (arg < argc && strncmp(argv[arg], "--idle-exit=", 12) == 0) {
                uint32_t sec;

                if (parse_uint32(argv[arg] + 12, &sec) < 0 || sec == 0)
                        goto usage;
                idle_usec = sec * USEC_PER_SEC;
                arg++;
        }
        if (arg < argc) {
                struct statvfs st;

                if (argv[arg][0] != '/' || arg + 1 < argc)
                        goto usage;
                if (statvfs(argv[arg], &st) < 0) {
                        fprintf(stderr, "Cannot use %s for trees, they go to disk: %m\n", argv[arg]);
                } else {
                        memory.dir = argv[arg];
                        memory.size = (uint64_t) st.f_blocks * st.f_frsize;
                }
        }
        /* Loaded once here rather than in every child (what a job needs; a failure is the job's to tell). */
        (void) dlopen_archive();
        (void) dlopen_isal();
        (void) dlopen_gcrypt();
        for (;;) {
                _cleanup_(oci_unpack_job_done) OciUnpackJob job = {.layer_fd = -EBADF, .answer_fd = -EBADF};
                pid_t pid;
                int r;

                if (!closed) {
                        r = wait_for_job(STDIN_FILENO, idle_usec, children, &n_children, &memory, &failed);
                        if (r < 0) {
                                fprintf(stderr, "Cannot wait for jobs: %s\n", strerror(-r));
                                failed = 1;
                                break;
                        }
                        /* Idle too long: no more jobs (the manager's next send fails, and it starts a new
                         * unit); those already sent are still read and done. */
                        if (r == 0) {
                                (void) shutdown(STDIN_FILENO, SHUT_RD);
                                closed = true;
                        }
                }
                r = oci_unpack_job_receive(STDIN_FILENO, &job);

                if (r == -EBADMSG) {
                        fprintf(stderr, "Ignoring a message that is not a job.\n");
                        continue;
                }
                if (r < 0) {
                        fprintf(stderr, "Cannot receive jobs: %s\n", strerror(-r));
                        failed = 1;
                        break;
                }
                if (r == 0)
                        break;
                if (n_children == allocated) {
                        Child *c = reallocarray(children, allocated * 2 + 4, sizeof(Child));
                        if (!c) {
                                fprintf(stderr, "Out of memory\n");
                                failed = 1;
                                break;
                        }
                        children = c;
                        allocated = allocated * 2 + 4;
                }
                uint64_t reserved = memory_reserve(&memory, &job);
                fflush(stderr);
                pid = fork();
                if (pid < 0) {
                        /* The job's answer pipe closes unanswered: the manager reports it. */
                        fprintf(stderr, "Layer %s: cannot fork: %m\n", job.digest);
                        memory.reserved -= reserved;
                        failed = 1;
                        continue;
                }
                if (pid == 0) {
                        /* Only the manager's end tells the end of the jobs; ours is no business of a job. */
                        (void) close(STDIN_FILENO);
                        r = run_job(&job, reserved > 0 ? memory.dir : NULL);
                        if (r < 0)
                                fprintf(stderr, "Layer %s: cannot answer: %s\n", job.digest, strerror(-r));
                        fflush(stderr);
                        _exit(r < 0 ? EXIT_FAILURE : EXIT_SUCCESS);
                }
                children[n_children].pid = pid;
                snprintf(children[n_children].digest, sizeof(children[n_children].digest), "%s", job.digest);
                children[n_children].memory = reserved;
                n_children++;
                failed |= reap(children, &n_children, &memory, WNOHANG);
        }
        failed |= reap(children, &n_children, &memory, 0);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
usage:
        fprintf(stderr, "usage: %s [--idle-exit=SEC] [MEMORY_DIR] <SOCKET (run by cocoon-manager)\n", argv[0]);
        return EXIT_FAILURE;
}
