/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A local image: its in-memory form, its JSON record, and the checks on names and kernel command lines. */
#pragma once

#include <errno.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "id.h"
#include "image-blob.h"
#include "macro.h"

/* The kernel command line we store; the hypervisor layer appends its own parameters, and x86 kernels accept
 * 2048 bytes in total. */
#define IMAGE_CMDLINE_MAX 1024

/* "sha256:" + hex */
#define IMAGE_DIGEST_PREFIX "sha256:"
#define IMAGE_DIGEST_LEN (sizeof(IMAGE_DIGEST_PREFIX) - 1 + IMAGE_BLOB_HEX_LEN)

/* One file of an image. JSON {"blob": "<hex>", "size": <bytes>}; blob "" = the image has no such file. */
typedef struct ImageFile {
        char blob[IMAGE_BLOB_HEX_LEN + 1];
        uint64_t size;
} ImageFile;

static inline bool image_file_present(const ImageFile *f) {
        return f->blob[0] != '\0';
}

typedef enum ImageType {
        IMAGE_TYPE_LOCAL, /* "local": files imported from the host */
        IMAGE_TYPE_OCI, /* "oci": pulled from a registry; layers as EROFS blobs */
        _IMAGE_TYPE_MAX,
        _IMAGE_TYPE_INVALID = -EINVAL,
} ImageType;

const char *image_type_to_string(ImageType t);
ImageType image_type_from_string(const char *s);

/* The record <state dir>/images/<name>.json (OCI images: images/oci-<sha256 of the name>.json, as their
 * names have '/' and ':'):
 *   {"name", "id", "digest", "kernel": {"blob", "size"}, "initrd": {…}, "rootfs": {…}, "cmdline",
 *    "createdAt", "size"}
 * initrd, rootfs and cmdline are omitted when absent.
 * - id: a random record ID (id.h) like VM and snapshot IDs, so that two images with equal files are still
 *   two distinct objects to refer to, and references resolve the same way for every object (id, name,
 *   prefix).
 * - digest: "sha256:<hex>" of the content (blob hashes and cmdline, see image_compute_digest()): equal for
 *   images that boot the same way; what a VM stamps as its imageDigest.
 * - size: the sum of the files' sizes.
 * OCI images ("type": "oci"; records without type are local) also have:
 * - name: the normalized reference (docker.io/library/busybox:latest), oci_reference_to_string();
 * - digest: the manifest's digest (sha256:<hex>) instead of the computed one;
 * - layers: [{"blob": "<layer digest hex>", "size": <EROFS bytes>}], base first, blobs/<hex>.erofs;
 * - kernel, initrd: optional (found in the layers), cmdline: none. */
typedef struct Image {
        ImageType type;
        char *name;
        char id[ID_LENGTH + 1];
        char digest[IMAGE_DIGEST_LEN + 1];
        ImageFile files[_IMAGE_BLOB_KIND_MAX]; /* indexed by ImageBlobKind */
        char *cmdline; /* NULL: none */
        uint64_t created_at; /* usec since the epoch, CLOCK_REALTIME */
        uint64_t size;
        ImageFile *layers; /* OCI only */
        size_t n_layers;
} Image;

Image *image_free(Image *img);
DEFINE_TRIVIAL_CLEANUP_FUNC(Image *, image_free);

/* [A-Za-z0-9][A-Za-z0-9._-]{0,62}, like VM names. It is also the record's file name, so it can never be
 * "." or "..", contain '/', or start with a dot (temporary files do). */
bool image_name_is_valid(const char *s);
/* A normalized OCI reference (parses, and normalizes to itself). */
bool image_oci_name_is_valid(const char *s);

/* NULL or up to IMAGE_CMDLINE_MAX printable ASCII characters (no control characters: the command line is
 * passed on to hypervisor command lines and APIs). */
bool image_cmdline_is_valid(const char *s);

/* "sha256:" + SHA-256 of "kernel=<hex>\ninitrd=<hex>\nrootfs=<hex>\ncmdline=<cmdline>\n" (empty values for
 * absent parts). The cmdline has no newline (image_cmdline_is_valid()), so the text is unambiguous. */
int image_compute_digest(const Image *img, char ret[static IMAGE_DIGEST_LEN + 1]);

/* The record as JSON (also what Inspect/List return). */
int image_to_json(const Image *img, json_object **ret);

/* Parses and validates a record: -EBADMSG for anything malformed or inconsistent (bad name/id/blob hex,
 * missing kernel, size not the sum of the files). */
int image_from_json(json_object *o, Image **ret);
