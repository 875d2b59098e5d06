/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Image references ("busybox", "127.0.0.1:5000/app:v1@sha256:…") parsed and normalized the way Docker's
 * reference package does, so a name means the same image here as in docker, podman and skopeo. */
#pragma once

#include <stdbool.h>

#include "macro.h"

/* Docker's limit on "<domain>/<repository>". */
#define OCI_NAME_MAX 255
#define OCI_TAG_MAX 128
#define OCI_DEFAULT_DOMAIN "docker.io"
/* Where docker.io's registry API really lives. */
#define OCI_DEFAULT_API_HOST "registry-1.docker.io"
#define OCI_DIGEST_PREFIX "sha256:"
#define OCI_DIGEST_LEN (sizeof(OCI_DIGEST_PREFIX) - 1 + 64)

typedef struct OciReference {
        char *domain; /* "docker.io", "127.0.0.1:5000", "[fc00::1]:5000" */
        char *repository; /* "library/busybox" */
        char *tag; /* NULL only when a digest is given ("latest" is filled in otherwise) */
        char *digest; /* "sha256:<hex>" or NULL */
} OciReference;

OciReference *oci_reference_free(OciReference *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(OciReference *, oci_reference_free);

/* Parses and normalizes s: a name without a registry gets docker.io (and library/ when it has one
 * component), "index.docker.io" becomes docker.io, a reference without tag or digest gets ":latest".
 * -EINVAL for anything Docker refuses (uppercase repository, bad separators, 64-hex names, bad
 * tag/port/digest, names over OCI_NAME_MAX); digests other than sha256 are refused too (-EINVAL). */
int oci_reference_parse(const char *s, OciReference **ret);

/* "<domain>/<repository>[:<tag>][@<digest>]". */
int oci_reference_to_string(const OciReference *r, char **ret);

/* The host[:port] to send registry API requests to (docker.io's API is registry-1.docker.io). */
const char *oci_reference_api_host(const OciReference *r);

/* What the manifest request names: the digest when given, else the tag. */
const char *oci_reference_manifest_ref(const OciReference *r);

/* "sha256:" + 64 lowercase hex digits: the only digest form we accept from references and manifests. */
bool oci_digest_is_valid(const char *s);
