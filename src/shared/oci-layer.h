/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* An OCI layer (a tar, plain, gzip or zstd) unpacked safely into a directory with its whiteouts in
 * overlayfs form, then made into a read-only EROFS image by mkfs.erofs. Blocking: worker threads only. */
#pragma once

#include <stdint.h>

#include "macro.h"

#define OCI_LAYER_UUID_LEN 36
/* How long mkfs.erofs may take for one layer before it is killed. */
#define OCI_LAYER_MKFS_TIMEOUT_USEC (30ULL * 60 * 1000 * 1000)

/* What a layer brings for booting: paths relative to the unpacked tree ("boot/vmlinuz-6.1.0-amd64"),
 * NULL when absent. */
typedef struct OciLayerBoot {
        char *kernel;
        char *initrd;
} OciLayerBoot;

void oci_layer_boot_done(OciLayerBoot *b);

typedef enum OciLayerUnpackFlags {
        /* Metadata libarchive could not restore (xattrs, ACLs, ownership, times: tmpfs before Linux 6.6
         * holds no user.* xattrs) fails the unpack with -EOPNOTSUPP; without it such metadata is dropped
         * with a warning, as tar does. */
        OCI_LAYER_UNPACK_KEEP_ALL = 1 << 0,
} OciLayerUnpackFlags;

/* Unpacks the tar read from fd (a file or a pipe: read once, never seeked; gzip inflated by isa-l when
 * libisal.so.2 is installed, by libarchive's zlib filter otherwise) into dir (an existing, empty directory;
 * no component of its path may be a symlink: pass a realpath()). Whiteouts ".wh.NAME" become character
 * devices 0:0 named NAME and ".wh..wh..opq" becomes trusted.overlay.opaque=y on its directory, as overlayfs
 * wants them; ownership, modes, times, xattrs and hard links are kept. Refused with -EBADMSG, *ret_error
 * saying which entry and why: absolute paths, ".." components, entries (or hard link targets) reached
 * through a symlink, trusted.overlay.* xattrs in the archive, a tar that does not parse, a corrupt gzip
 * stream (a bad CRC even after the tar's end). The kernel and initrd of the tree ("boot/vmlinuz*",
 * "boot/initrd.img*", else the same at the root; not "*.old", regular files only, the last name in sort
 * order) go to ret_boot (optional). The directory's file system full (or a quota reached) is -ENOSPC,
 * whatever was being written. */
int oci_layer_unpack(int fd, const char *dir, OciLayerUnpackFlags flags, OciLayerBoot *ret_boot,
                     char **ret_error);

/* The EROFS UUID of a layer: a name-based (SHA-1, version 5) UUID of the layer's hex digest in the URL
 * namespace, so rebuilding a layer's image gives the same UUID. */
int oci_layer_uuid(const char *digest, char ret[static OCI_LAYER_UUID_LEN + 1]);

/* Runs mkfs.erofs (lz4) over dir into output (created or truncated), with the layer's UUID; killed
 * after timeout_usec (-ETIMEDOUT). mkfs.erofs' last error line goes to *ret_error on failure (-EIO). */
int oci_layer_mkfs_erofs(const char *dir, const char *digest, const char *output, uint64_t timeout_usec,
                         char **ret_error);
