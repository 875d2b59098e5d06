/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Content-addressed image blobs <blobs dir>/<sha256 hex>.<kind>, copied and hashed in one pass. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A blob's name is the lowercase hex SHA-256 of its content. */
#define IMAGE_BLOB_HEX_LEN 64

/* The role of a file in an image. Its string is both the JSON key in the image record and the blob file's
 * extension, so the same bytes imported as kernel and as initrd are two blob files: a blob's name says
 * what it is when someone looks at the directory, and GC never has to guess. */
typedef enum ImageBlobKind {
        IMAGE_BLOB_KERNEL, /* "kernel": required, booted directly */
        IMAGE_BLOB_INITRD, /* "initrd": optional initramfs */
        IMAGE_BLOB_ROOTFS, /* "rootfs": optional raw ext2/3/4 file system image */
        IMAGE_BLOB_LAYER,  /* "erofs": an OCI layer as a read-only EROFS image, named after the layer's
                            * digest (not its own content); in Image.layers, never in Image.files */
        _IMAGE_BLOB_KIND_MAX,
        _IMAGE_BLOB_KIND_INVALID = -EINVAL,
} ImageBlobKind;

const char *image_blob_kind_to_string(ImageBlobKind k);
ImageBlobKind image_blob_kind_from_string(const char *s);

/* SHA-256 of data as lowercase hex, the way blobs are named. */
int image_sha256_hex(const void *data, size_t size, char ret[static IMAGE_BLOB_HEX_LEN + 1]);

/* Exactly IMAGE_BLOB_HEX_LEN lowercase hex digits. */
bool image_blob_hex_is_valid(const char *s);

/* "<hex>.<kind>" into ret. -EINVAL for a bad hex or kind. */
int image_blob_file_name(const char *hex, ImageBlobKind kind, char **ret);

/* Splits a blob directory entry "<hex>.<kind>"; -EINVAL when name is not one (temporary files, strays). */
int image_blob_parse_file_name(const char *name, char ret_hex[static IMAGE_BLOB_HEX_LEN + 1],
                               ImageBlobKind *ret_kind);

/* Whether the open file src can be imported as kind: a non-empty regular file open for reading (-EISDIR,
 * -EBADFD for another type, -EBADF for an O_PATH or write-only fd, -EINVAL when empty) with the format the
 * kind needs (rootfs: an ext2/3/4 superblock, else -EMEDIUMTYPE). */
int image_blob_check_source(int src, ImageBlobKind kind);
/* Opens path (absolute, symlinks followed, as the calling process: for tools and tests, never for a
 * caller's path) and checks it with image_blob_check_source(); -ENOENT etc. from open(). */
int image_blob_open_source(const char *path, ImageBlobKind kind, int *ret_fd);

/* Phase one of adding a blob; pure file work, safe in any thread. Checks src (image_blob_check_source())
 * and copies it, from offset 0 whatever the fd's own offset, into a new temporary file
 * in blobs_fd while hashing it. Runs of zero blocks become holes, so sparse root file systems stay sparse.
 * The temporary file is fsync'ed; its name (starting with TEMP_FILE_PREFIX) goes to ret_temp_name. On
 * failure nothing is left in blobs_fd. progress (NULL: none) is called after each chunk, see below. */
/* Told of each chunk image_blob_write_temp() copied (its size in bytes); a negative return stops the copy
 * with that error (how an import is cancelled). */
typedef int (*ImageBlobProgress)(uint64_t bytes, void *userdata);
int image_blob_write_temp(int blobs_fd, int src, ImageBlobKind kind, ImageBlobProgress progress,
                          void *userdata, char **ret_temp_name, char ret_hex[static IMAGE_BLOB_HEX_LEN + 1],
                          uint64_t *ret_size);

/* Phase two: gives temp_name its final name "<hex>.<kind>" unless that blob exists already, in which case
 * the equal content is stored once and the temporary file is dropped. Never replaces an existing file (a
 * hard link, not a rename, so two threads adding the same bytes cannot clobber each other). The temporary
 * file is gone afterwards in every case. *ret_created says whether this call made the blob. */
int image_blob_commit_temp(int blobs_fd, const char *temp_name, const char *hex, ImageBlobKind kind,
                           bool *ret_created);
