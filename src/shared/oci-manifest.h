/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* OCI image manifests and indexes, Docker schema 2 manifests and manifest lists: parsing with strict
 * validation (they come from a registry: hostile input), platform selection, the image config. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"
#include "oci-reference.h"

#define OCI_MEDIA_TYPE_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define OCI_MEDIA_TYPE_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define OCI_MEDIA_TYPE_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define OCI_MEDIA_TYPE_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
/* The Accept header of a manifest request: every type oci_manifest_parse() takes. */
#define OCI_MANIFEST_ACCEPT                                                                               \
        OCI_MEDIA_TYPE_OCI_MANIFEST ", " OCI_MEDIA_TYPE_OCI_INDEX ", " OCI_MEDIA_TYPE_DOCKER_MANIFEST ", " \
        OCI_MEDIA_TYPE_DOCKER_LIST

/* Bounds on what a registry may send (containerd also caps manifests at 4 MiB). */
#define OCI_MANIFEST_SIZE_MAX (4U * 1024 * 1024)
#define OCI_CONFIG_SIZE_MAX (8U * 1024 * 1024)
#define OCI_LAYERS_MAX 128U
#define OCI_INDEX_ENTRIES_MAX 1024U
#define OCI_LAYER_SIZE_MAX (64ULL * 1024 * 1024 * 1024)

typedef enum OciManifestKind {
        OCI_MANIFEST_IMAGE, /* an image: config + layers */
        OCI_MANIFEST_INDEX, /* a list of images by platform */
} OciManifestKind;

typedef enum OciCompression {
        OCI_COMPRESSION_NONE,
        OCI_COMPRESSION_GZIP,
        OCI_COMPRESSION_ZSTD,
} OciCompression;

typedef struct OciDescriptor {
        char *media_type;
        char digest[OCI_DIGEST_LEN + 1];
        uint64_t size;
        /* index entries only (NULL elsewhere) */
        char *os;
        char *architecture;
        char *variant;
} OciDescriptor;

typedef struct OciManifest {
        OciManifestKind kind;
        char *media_type; /* the document's type (from the body, else the Content-Type) */
        OciDescriptor config; /* images */
        OciDescriptor *layers; /* images: base layer first */
        size_t n_layers;
        OciCompression *compression; /* images: per layer */
        OciDescriptor *manifests; /* indexes */
        size_t n_manifests;
} OciManifest;

OciManifest *oci_manifest_free(OciManifest *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(OciManifest *, oci_manifest_free);

/* Parses a manifest body. content_type (NULL or "": unknown; parameters after ';' ignored) is the HTTP
 * Content-Type; the body's own mediaType wins, and the two must agree when both name a known type.
 * Errors: -E2BIG over OCI_MANIFEST_SIZE_MAX or too many layers/entries, -EMEDIUMTYPE for a type we do not
 * take (schema 1, foreign or unknown layer types, nested indexes are fine to parse but see select),
 * -EBADMSG for anything malformed (bad JSON, schemaVersion ≠ 2, bad digest, size 0 or over the bounds,
 * no layers). */
int oci_manifest_parse(const char *content_type, const void *data, size_t size, OciManifest **ret);

/* The host's platform in OCI terms: architecture "amd64", "arm64", "arm", "386", … and variant ("" when
 * none: arm has "v5".."v8"). */
typedef struct OciPlatform {
        const char *architecture;
        const char *variant;
} OciPlatform;
void oci_platform_host(OciPlatform *ret);

/* The index entry for os "linux" and platform: the architecture must be equal; variants compare the way
 * containerd does (arm64: "" = "v8"; amd64: "" = "v1"; arm: an entry whose variant is not newer than the
 * host's, the closest one first, "" meaning "v7"). Only image manifests are chosen (not nested indexes).
 * -ENOENT when nothing matches, -EINVAL when m is not an index. */
int oci_index_select(const OciManifest *m, const OciPlatform *platform, const OciDescriptor **ret);

/* The image config: checks it is a JSON object whose os is linux and, when it lists rootfs.diff_ids, has
 * one per layer (-EBADMSG otherwise). Its architecture goes to ret_architecture (optional, strdup'ed). */
int oci_config_check(const void *data, size_t size, size_t n_layers, char **ret_architecture);
