/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cocoon-unpack: turns OCI layers into EROFS images, run by cocoon-manager as a short-lived transient unit
 * for each pull (oci-unpack.c) so that the rights unpacking needs (device nodes, file capabilities, the
 * trusted.overlay.opaque xattr, setuid files, any owner) stay out of the manager, which also talks to
 * the network: a layer that exploits the unpacker finds no network and the host read-only.
 *
 *   cocoon-unpack <SOCKET
 *
 * stdin is a SOCK_SEQPACKET socket on which the manager sends jobs (oci_unpack_job_send()), one per layer:
 * the layer (tar, plain, gzip or zstd: a file already verified, or a pipe the manager writes it into as it
 * downloads it, verifying its digest at the end and dropping the output if it differs; all of it is read),
 * the work directory, the output, and a pipe for the answer. Each job runs in a child process of its own,
 * so that a pull's layers are unpacked at the same time: the tree goes to WORKDIR/tree
 * (oci_layer_unpack(): whiteouts in overlayfs form, unsafe entries refused), the image to OUTPUT
 * (mkfs.erofs, the UUID derived from the layer's digest), the answer to its pipe: {"kernel", "initrd"}
 * (paths below the tree, each when found) or {"error": "...", "invalid": bool (the layer was refused)}.
 * The tree is left for the manager, which copies the boot files out and removes it. When the manager
 * closes its end, the helper waits for its children and exits: 0, or 1 when a child died without an
 * answer. */
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fd-util.h"
#include "fs-util.h"
#include "json-util.h"
#include "oci-layer.h"
#include "oci-reference.h"
#include "oci-unpack.h"

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

static int unpack(const char *digest, int layer_fd, int work_fd, const char *work_dir, const char *output,
                  OciLayerBoot *boot, char **error) {
        _cleanup_free_ char *tree = NULL, *real = NULL;
        int r;

        if (mkdirat(work_fd, OCI_UNPACK_TREE, 0700) < 0)
                return -errno;
        if (asprintf(&tree, "%s/" OCI_UNPACK_TREE, work_dir) < 0)
                return -ENOMEM;
        /* oci_layer_unpack() wants a path without symlinks in it. */
        real = realpath(tree, NULL);
        if (!real)
                return -errno;
        r = oci_layer_unpack(layer_fd, real, boot, error);
        if (r < 0)
                return r;
        /* A pipe the manager writes as it downloads: read what follows the archive's end (padding) too,
         * so that the writer is never left waiting. */
        r = drain_input(layer_fd);
        if (r < 0)
                return r;
        r = oci_layer_mkfs_erofs(real, digest, output, OCI_LAYER_MKFS_TIMEOUT_USEC, error);
        if (r < 0)
                return r;
        if (chmod(output, 0444) < 0)
                return -errno;
        return 0;
}

/* One job, in the child: the answer goes to its pipe whatever happens. */
static int run_job(const OciUnpackJob *job) {
        _cleanup_(json_object_putp) json_object *reply = json_object_new_object();
        _cleanup_free_ char *error = NULL;
        _cleanup_close_ int work_fd = -EBADF;
        OciLayerBoot boot = {};
        const char *text;
        int r;

        if (!reply)
                return -ENOMEM;
        work_fd = open(job->work_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        r = work_fd < 0 ? -errno : 0;
        if (r >= 0)
                r = unpack(job->digest, job->layer_fd, work_fd, job->work_dir, job->output, &boot, &error);
        if (r < 0) {
                bool invalid = r == -EBADMSG;

                if (!error && asprintf(&error, "%s", strerror(-r)) < 0)
                        error = NULL;
                fprintf(stderr, "Layer %s: %s\n", job->digest, error ?: "out of memory");
                r = json_add_string(reply, "error", error ?: "out of memory");
                /* A layer refused as unsafe or malformed, not a failure of ours. */
                if (r >= 0 && error)
                        r = json_add_bool(reply, "invalid", invalid);
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

/* The children at work, by pid, for the log: which layer a dead one had. */
typedef struct Child {
        pid_t pid;
        char digest[OCI_DIGEST_LEN + 1];
} Child;

static int reap(Child *children, size_t *n, int flags) {
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
                        children[i] = children[--*n];
                        break;
                }
        }
}

int main(int argc, char *argv[]) {
        _cleanup_free_ Child *children = NULL;
        size_t n_children = 0, allocated = 0;
        int failed = 0;

        /* An answer pipe whose reader went away (the pull gave up) is EPIPE for that child, not a signal. */
        signal(SIGPIPE, SIG_IGN);
        if (argc != 1) {
                fprintf(stderr, "usage: %s <SOCKET (run by cocoon-manager)\n", argv[0]);
                return EXIT_FAILURE;
        }
        for (;;) {
                _cleanup_(oci_unpack_job_done) OciUnpackJob job = {.layer_fd = -EBADF, .answer_fd = -EBADF};
                int r = oci_unpack_job_receive(STDIN_FILENO, &job);
                pid_t pid;

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
                fflush(stderr);
                pid = fork();
                if (pid < 0) {
                        /* The job's answer pipe closes unanswered: the manager reports it. */
                        fprintf(stderr, "Layer %s: cannot fork: %m\n", job.digest);
                        failed = 1;
                        continue;
                }
                if (pid == 0) {
                        /* Only the manager's end tells the end of the jobs; ours is no business of a job. */
                        (void) close(STDIN_FILENO);
                        r = run_job(&job);
                        if (r < 0)
                                fprintf(stderr, "Layer %s: cannot answer: %s\n", job.digest, strerror(-r));
                        fflush(stderr);
                        _exit(r < 0 ? EXIT_FAILURE : EXIT_SUCCESS);
                }
                children[n_children].pid = pid;
                snprintf(children[n_children].digest, sizeof(children[n_children].digest), "%s", job.digest);
                n_children++;
                failed |= reap(children, &n_children, WNOHANG);
        }
        failed |= reap(children, &n_children, 0);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
