/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Pulling an OCI image into the image store: manifest (through an index for this host's platform),
 * config, layers fetched in parallel and made into EROFS blobs, kernel and initrd found in the layers. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "image-store.h"
#include "macro.h"

#define OCI_PULL_PARALLEL_DEFAULT 3U

typedef struct OciPullOptions {
        bool insecure; /* plain HTTP */
        const char *auth_file; /* NULL: /etc/cocoon/auth.json */
        unsigned parallel; /* layers fetched at once; 0: OCI_PULL_PARALLEL_DEFAULT */
        atomic_bool *cancel; /* NULL: the pull's own; when it becomes true the pull stops (-ECANCELED) */
        const char *unpack_helper; /* cocoon-unpack (oci-unpack.h); NULL: not installed, layers fail */
        uint64_t unpack_memory; /* the helper's memory for trees (oci_unpacker_get()); 0: trees on disk */
        uid_t caller_uid; /* local imports of a directory: whose files may be read (oci-layout.h) */
} OciPullOptions;

typedef struct OciPull OciPull;

/* Owner thread. -EINVAL for a reference oci_reference_parse() refuses. */
int oci_pull_new(ImageStore *s, const char *reference, const OciPullOptions *options, OciPull **ret);
/* Owner thread: an import of a local image named name from fd (the caller's file: an OCI layout directory,
 * or a docker/OCI archive tarball; see oci-layout.h), run and committed like a pull. -EINVAL for a name
 * image_name_is_valid() refuses. oci_pull_run() errors as below, -EMEDIUMTYPE for a file that is neither. */
int oci_pull_new_local(ImageStore *s, const char *name, int fd, const OciPullOptions *options,
                       OciPull **ret);
/* Owner thread, before running: more files of the import; then every file, the first one included, is
 * one layer (a tar or a gzipped tar, the first the bottom one: oci_layers_to_layout()). A single file is
 * one layer too when it is a tarball with no manifest.json, index.json or oci-layout at its top. */
int oci_pull_add_local_layer(OciPull *p, int fd);
/* Owner thread, before running: the manifest digest of the image of this name in the store. A pull that
 * finds the same digest stops there, with nothing more to fetch (a cached pull costs one request). */
int oci_pull_set_known_digest(OciPull *p, const char *digest);
/* The normalized reference (the image's name), or a local import's name. */
const char *oci_pull_name(const OciPull *p);

/* Any thread, blocking: everything that talks to the registry and writes blobs (registered as pending in
 * the store, so neither removal nor GC takes them meanwhile). Errors, with oci_pull_error() saying what:
 *   -ENOENT    no such repository, tag or digest, or no image for this host's platform in the index
 *   -EACCES    the registry refused our credentials (or wanted some)
 *   -EBADMSG   a bad manifest or config, content not matching its digest, an unsafe layer
 *   -ECANCELED oci_pull_cancel() was called
 *   other      transport, mkfs.erofs and I/O failures */
int oci_pull_run(OciPull *p);
const char *oci_pull_error(const OciPull *p);
/* Any thread: stops a running pull soon after. */
void oci_pull_cancel(OciPull *p);

/* Any thread, while running: layers known so far (0 before the manifest is in) and each one's bytes. */
size_t oci_pull_n_layers(const OciPull *p);
void oci_pull_layer_progress(const OciPull *p, size_t i, uint64_t *ret_done, uint64_t *ret_total);

/* The manifest digest oci_pull_run() found (after it succeeded). */
const char *oci_pull_digest(const OciPull *p);

/* Owner thread, after oci_pull_run() succeeded: writes the record (replacing an image of the same name).
 * An image of that name with the same digest is kept as it is (nothing changed). */
int oci_pull_commit(OciPull *p, const char *const *pinned_blob_ids, const Image **ret);

/* Owner thread: ends the pull; without a commit, the blobs it created go unless something uses them. */
OciPull *oci_pull_free(OciPull *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(OciPull *, oci_pull_free);
