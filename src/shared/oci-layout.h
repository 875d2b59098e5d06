/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Local OCI images: an OCI image layout directory (oci-layout, index.json, blobs/sha256/<hex>) read through
 * a directory fd the caller opened, every blob verified against its digest as it is read; and tarballs
 * (`docker save`, `skopeo copy … docker-archive:` or `oci-archive:`) turned into such a directory.
 * Blocking: worker threads only. Nothing here follows a symlink: the caller's files are hostile. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "macro.h"
#include "oci-reference.h"
#include "oci-registry.h"

/* What a FILE of `image import NAME FILE` is, from its type and first bytes (§7.2's magic detection). */
typedef enum OciLocalKind {
        OCI_LOCAL_LAYOUT, /* a directory */
        OCI_LOCAL_TARBALL, /* a tar ("ustar" at 257) */
        OCI_LOCAL_GZIP, /* 1f 8b: a gzipped tarball, decompressed as it is read */
        OCI_LOCAL_QCOW2, /* QFI\xfb: a cloud image (not taken) */
        OCI_LOCAL_UNKNOWN,
} OciLocalKind;

/* fd: the caller's file; reads its start with pread() (the offset is left alone). */
int oci_local_detect(int fd, OciLocalKind *ret);

/* uid: the caller who passed dir_fd; each directory and file opened below it must be its own or open to
 * others (x, r), else -EACCES: the manager reads with root's rights and must not read for the caller what
 * it could not. (uid_t) -1 or 0: no check (a directory we extracted ourselves, root). */

/* Opens dir_fd/rel component by component, following no symlink and no "..", with flags for the last
 * one, which must be a regular file or, with O_DIRECTORY, a directory (-EBADMSG otherwise, also for a
 * symlink on the way); O_NONBLOCK: a FIFO must not hang us. uid as above. Also for trees a helper wrote. */
int oci_open_no_symlinks(int dir_fd, const char *rel, int flags, uid_t uid);

/* index.json of the layout (at most OCI_MANIFEST_SIZE_MAX bytes). -ENOENT: not a layout. */
int oci_layout_read_index(int dir_fd, uid_t uid, char **ret, size_t *ret_size);

/* blobs/sha256/<hex> of digest into memory (at most max bytes), checked against digest and, unless
 * UINT64_MAX, size. -ENOENT missing, -EBADMSG another content or size, -E2BIG over max. */
int oci_layout_read_blob(int dir_fd, uid_t uid, const char *digest, uint64_t size, size_t max, char **ret,
                         size_t *ret_size);

/* The same, written to out_fd from its offset, progress told per chunk; stops with -ECANCELED once
 * *cancel (optional) is true. */
int oci_layout_copy_blob(int dir_fd, uid_t uid, const char *digest, uint64_t size, int out_fd,
                         OciProgress progress, void *userdata, const atomic_bool *cancel);

/* Extracts the tarball (plain or gzipped: decompressed as it streams) read from fd into dir_fd (an empty
 * directory) as an OCI layout: an OCI archive's files as they are; a docker archive (manifest.json) as a
 * layout of its first image: its config and layers as blobs, each checked against the name the archive gives it (the config's sha256 in
 * "<hex>.json", each layer's sha256 against the config's rootfs.diff_ids), an image manifest written for
 * them and index.json naming it. Only regular files and directories with plain names, at most 3 deep, are
 * taken; anything else is refused with -EBADMSG and *ret_error saying what. */
int oci_archive_extract(int fd, int dir_fd, const atomic_bool *cancel, char **ret_error);

/* Whether the tarball (plain or gzipped) read from fd is an image archive, a top-level manifest.json,
 * index.json or oci-layout in it, rather than one layer of a root file system. Headers only. */
int oci_archive_is_image(int fd, bool *ret);

/* `image import NAME a.tar b.tar.gz …`: each file (a tar or a gzipped tar) one layer, the first the
 * bottom one, copied into dir_fd (an empty directory) as the blobs of an OCI layout with a manifest, an
 * image config for linux and this host (rootfs.diff_ids the sha256 of each uncompressed tar, hashed in
 * the same pass as the copy) and index.json. The tars' entries are left to the unpacker to check.
 * -EBADMSG with *ret_error for a file that is not a (whole) tar or gzipped tar. */
int oci_layers_to_layout(const int *fds, size_t n, int dir_fd, const atomic_bool *cancel, char **ret_error);
