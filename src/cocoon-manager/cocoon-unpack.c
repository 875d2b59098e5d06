/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cocoon-unpack: turns one OCI layer into an EROFS image, run by cocoon-manager as a short-lived transient
 * unit (oci-unpack.c) so that the rights unpacking needs (device nodes, file capabilities, the
 * trusted.overlay.opaque xattr, setuid files, any owner) stay out of the manager, which also talks to
 * the network: a layer that exploits the unpacker finds no network and the host read-only.
 *
 *   cocoon-unpack DIGEST WORKDIR OUTPUT <LAYER
 *
 * LAYER (stdin) is the layer (tar, plain, gzip or zstd): a file already verified, or a pipe the manager
 * writes it into as it downloads it, verifying its digest at the end and dropping OUTPUT if it differs;
 * all of stdin is read. The tree goes to WORKDIR/tree (oci_layer_unpack(): whiteouts in overlayfs form,
 * unsafe entries refused), the image to
 * OUTPUT (mkfs.erofs, the UUID derived from DIGEST). WORKDIR/response.json gets {"kernel", "initrd"}
 * (paths below the tree, each when found) or {"error": "...", "invalid": bool (the layer was refused)};
 * the exit status is 0 whenever it was written.
 * The tree is left for the manager, which copies the boot files out and removes it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs-util.h"
#include "json-util.h"
#include "oci-layer.h"
#include "oci-reference.h"
#include "oci-unpack.h"

static int write_response(int dir_fd, json_object *o) {
        const char *text = json_to_string(o);
        return text ? write_file_atomic_at(dir_fd, OCI_UNPACK_RESPONSE, text, strlen(text), 0600) : -ENOMEM;
}

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

static int unpack(const char *digest, int work_fd, const char *work_dir, const char *output,
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
        r = oci_layer_unpack(STDIN_FILENO, real, boot, error);
        if (r < 0)
                return r;
        /* A pipe the manager writes as it downloads: read what follows the archive's end (padding) too,
         * so that the writer is never left waiting. */
        r = drain_input(STDIN_FILENO);
        if (r < 0)
                return r;
        r = oci_layer_mkfs_erofs(real, digest, output, OCI_LAYER_MKFS_TIMEOUT_USEC, error);
        if (r < 0)
                return r;
        if (chmod(output, 0444) < 0)
                return -errno;
        return 0;
}

int main(int argc, char *argv[]) {
        _cleanup_(json_object_putp) json_object *reply = json_object_new_object();
        _cleanup_free_ char *error = NULL;
        _cleanup_close_ int work_fd = -EBADF;
        OciLayerBoot boot = {};
        int r;

        if (argc != 4 || !oci_digest_is_valid(argv[1]) || argv[2][0] != '/' || argv[3][0] != '/') {
                fprintf(stderr, "usage: %s sha256:<hex> WORKDIR OUTPUT <LAYER\n", argv[0]);
                return EXIT_FAILURE;
        }
        if (!reply)
                return EXIT_FAILURE;
        work_fd = open(argv[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (work_fd < 0) {
                fprintf(stderr, "Cannot open %s: %m\n", argv[2]);
                return EXIT_FAILURE;
        }
        r = unpack(argv[1], work_fd, argv[2], argv[3], &boot, &error);
        if (r < 0) {
                bool invalid = r == -EBADMSG;

                if (!error && asprintf(&error, "%s", strerror(-r)) < 0)
                        error = NULL;
                fprintf(stderr, "Layer %s: %s\n", argv[1], error ?: "out of memory");
                r = json_add_string(reply, "error", error ?: "out of memory");
                /* A layer refused as unsafe or malformed, not a failure of ours. */
                if (r >= 0 && error)
                        r = json_add_bool(reply, "invalid", invalid);
        } else
                r = json_add_string(reply, "kernel", boot.kernel) < 0
                            ? -ENOMEM
                            : json_add_string(reply, "initrd", boot.initrd);
        oci_layer_boot_done(&boot);
        if (r >= 0)
                r = write_response(work_fd, reply);
        if (r < 0) {
                fprintf(stderr, "Cannot write the answer: %s\n", strerror(-r));
                return EXIT_FAILURE;
        }
        return EXIT_SUCCESS;
}
