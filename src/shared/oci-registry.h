/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A client of one repository of an OCI distribution registry (libcurl): manifests, blobs streamed into
 * files with their sha256 verified, bearer-token and basic authentication. Every call blocks: run them on
 * worker threads, never on the manager's event loop. One OciRegistry may serve several threads at once. */
#pragma once

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"
#include "oci-reference.h"

#define OCI_AUTH_FILE_DEFAULT "/etc/cocoon/auth.json"

typedef struct OciRegistry OciRegistry;

typedef struct OciRegistryOptions {
        bool insecure; /* plain HTTP instead of HTTPS (redirects may then go to http too) */
        const char *auth_file; /* NULL: OCI_AUTH_FILE_DEFAULT; a missing file means no credentials */
        const atomic_bool *cancel; /* NULL: none; when it becomes true, transfers stop with -ECANCELED */
        const atomic_bool *stop; /* a second such flag (NULL: none): a caller's and a pull's own */
} OciRegistryOptions;

/* Reads the credentials for ref's registry. -EBADMSG for an auth file that does not parse. */
/* Keeps the first error of several threads: formats it and stores it in *error under lock unless one is
 * there already (a failed format stores NULL, which reads as "no message"). Shared by the registry client
 * and the pull, whose workers fail concurrently. */
void oci_error_keep_first(pthread_mutex_t *lock, char **error, const char *fmt, va_list ap) _printf_(3, 0);

int oci_registry_new(const OciReference *ref, const OciRegistryOptions *options, OciRegistry **ret);
OciRegistry *oci_registry_free(OciRegistry *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(OciRegistry *, oci_registry_free);

/* What the registry (or the transfer) said about the first failure, for the caller's error message; NULL
 * when nothing failed. Valid until the registry is freed. */
const char *oci_registry_error(OciRegistry *r);

/* Errors of every request:
 *   -ENOENT       404 (unknown repository, tag, manifest or blob; the registry's message is kept)
 *   -EACCES       401/403 after authenticating (or no credentials where the registry wants some)
 *   -EBADMSG      content that does not match its digest or announced size, an oversized manifest
 *   -ECANCELED    options->cancel became true or progress returned it
 *   -ECONNREFUSED, -EHOSTUNREACH, -ETIMEDOUT, -EPROTO (TLS, HTTP errors), -EIO: transport failures */

/* GETs the manifest ref (a tag or a digest) with Accept for every type oci_manifest_parse() takes. The
 * body is at most OCI_MANIFEST_SIZE_MAX bytes; ret_digest gets its sha256, which must equal ref when ref
 * is a digest (-EBADMSG). */
int oci_registry_get_manifest(OciRegistry *r, const char *ref, char **ret_body, size_t *ret_size,
                              char **ret_content_type, char ret_digest[static OCI_DIGEST_LEN + 1]);

/* Told of each chunk of a blob written (bytes of it); a negative return stops the transfer with it. While a
 * non-blocking fd is full, it is also asked every 100 ms with 0 bytes (is its reader still there?). */
typedef int (*OciProgress)(uint64_t bytes, void *userdata);

/* GETs blob digest (size bytes, from the manifest) and writes it to fd from its current offset, verifying
 * size and sha256 as it streams: more bytes than size, fewer, or another hash is -EBADMSG. fd's content is
 * not removed on failure (the caller owns the file). fd may be a pipe, non-blocking: what was written
 * before the end is unverified until this returns 0. */
int oci_registry_fetch_blob(OciRegistry *r, const char *digest, uint64_t size, int fd, OciProgress progress,
                            void *userdata);

/* The same into memory (for configs): at most max bytes. */
int oci_registry_get_blob(OciRegistry *r, const char *digest, uint64_t size, size_t max, char **ret,
                          size_t *ret_size);

/* ---- exposed for tests ---- */

/* The credentials containers-auth.json (path) has for domain/repository: the most specific "auths" key
 * wins (a key may be "<host>" or "<host>/<path>", with or without "https://", docker.io also as
 * index.docker.io or https://index.docker.io/v1/). -ENOENT: none (also for a missing file), -EBADMSG: a
 * malformed file or "auth" value (it must be base64 of "user:password"). */
int oci_auth_lookup(const char *path, const char *domain, const char *repository, char **ret_user,
                    char **ret_password);

/* Parses a WWW-Authenticate value into its scheme ("Bearer", "Basic") and the realm, service and scope
 * parameters (NULL when absent). -EBADMSG for a malformed header. */
int oci_parse_www_authenticate(const char *header, char **ret_scheme, char **ret_realm, char **ret_service,
                               char **ret_scope);
