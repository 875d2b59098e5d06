/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The local image store: image records in memory and on disk, imports, removal, blob garbage collection. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "image-blob.h"
#include "image-record.h"
#include "macro.h"

/* Layout under <state dir>/images/ (directories 0700):
 *   <name>.json                      one record per image (image-record.h), written atomically
 *   <name>.json.corrupt-<usec>       a record that failed to load, moved aside at open (CLOCK_REALTIME)
 *   blobs/<sha256 hex>.<kind>        file content, stored once per (content, kind); mode 0444
 *   blobs/.#blob-<random>            a blob being written (removed at open: left over from a crash)
 *   blobs/<layer hex>.erofs          an OCI layer as EROFS (IMAGE_BLOB_LAYER), named after its digest
 *   oci-<sha256 of name>.json        the record of an OCI image (its name is a reference with '/', ':')
 *   tmp/                             what pulls download and unpack (0700; emptied at open)
 *
 * Threads: everything here runs on the thread that owns the store (the manager's event loop) except
 * image_import_copy(), which does the slow file work and may run in a worker thread while the owner keeps
 * reading and changing the store. The blobs an import is adding are "pending": a mutex-guarded list that
 * image_store_remove() and image_store_gc_blobs() consult, so they never delete a blob an unfinished import
 * has just written or decided to reuse.
 *
 * Pins: VMs keep the blob hex IDs their disks and boot files use (a VM record's imageBlobIds); a pinned hex
 * keeps its blob files of every kind, even after the image that brought them is removed. */
typedef struct ImageStore ImageStore;

/* Creates the directories if needed, removes leftover temporary files, and loads every record. A record
 * that does not parse, fails validation, is not named after its image, or repeats another record's id is
 * renamed to "<file>.corrupt-<usec>" and counted; it does not stop the store from opening. */
int image_store_open(const char *state_dir, ImageStore **ret);
/* Must not run while an ImageImport of this store is alive. */
ImageStore *image_store_free(ImageStore *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(ImageStore *, image_store_free);

size_t image_store_count(const ImageStore *s);
/* Records moved aside by image_store_open(). */
unsigned image_store_corrupt_count(const ImageStore *s);

/* Resolves a reference: exact id, then exact name, then a unique id prefix of at least 3 characters.
 * -ENOENT when nothing matches, -ENOTUNIQ when several ids share the prefix. The image stays owned by the
 * store and valid until it is removed. */
int image_store_get(const ImageStore *s, const char *ref, const Image **ret);

/* All images, oldest first (ties by name). The array is the caller's (free()), the images are not. */
int image_store_list(const ImageStore *s, const Image ***ret, size_t *ret_n);

/* Removes the image named name (exactly; resolve references with image_store_get() first): its record
 * first, then each of its blob files that no other image references, no pending import uses and whose hex
 * is not in pinned_blob_ids (NULL-terminated, may be NULL). A blob file that cannot be deleted is left for
 * GC; the image is gone all the same. -ENOENT if there is no such image. */
int image_store_remove(ImageStore *s, const char *name, const char *const *pinned_blob_ids);

/* Absolute path of blob file <hex>.<kind>; whether it exists is not checked. -EINVAL for a bad hex/kind. */
int image_blob_path(const ImageStore *s, const char *hex, ImageBlobKind kind, char **ret);

/* The blob hexes referenced by image records or by pending imports, sorted, without duplicates. */
int image_store_referenced_blobs(ImageStore *s, char ***ret);

/* Deletes every blob file that image_store_remove() would delete for an image that no longer exists:
 * not referenced by any record (for its kind), not pending, hex not pinned. Temporary and unrecognized
 * files are left alone. ret_removed (optional) gets the deleted file names. Stops at the first error. */
int image_store_gc_blobs(ImageStore *s, const char *const *pinned_blob_ids, char ***ret_removed);

/* ---- import: copies local files into the store ---- */

typedef struct ImageImportSpec {
        const char *name; /* image_name_is_valid() */
        const char *kernel_path; /* required; absolute, names a non-empty regular file */
        const char *initrd_path; /* optional (NULL or ""); absolute */
        const char *rootfs_path; /* optional (NULL or ""); absolute; a raw ext2/3/4 image */
        const char *cmdline; /* optional (NULL or ""); image_cmdline_is_valid() */
        /* Optional (NULL: none): files already open, indexed by ImageBlobKind, -EBADF where there is none.
         * A file given here replaces the path of its kind; image_import_begin() keeps a duplicate. The
         * manager passes what callers sent it, so it never opens a path a caller named. */
        const int *fds;
} ImageImportSpec;

/* An import runs in three steps so the slow part can leave the owner's thread:
 *   1. image_import_begin()   owner thread: validates the spec, reserves the name (a second import of the
 *                             same name fails here with -EEXIST).
 *   2. image_import_copy()    any thread, blocking: copies and hashes each file into a blob (image-blob.h).
 *                             Does not touch the in-memory index; the owner may keep using the store.
 *   3. image_import_commit()  owner thread: writes the record and adds the image to the index.
 * image_import_free() (owner thread) ends an import at any point; without a successful commit it rolls
 * back: the name is released and blobs this import created are deleted unless something else (another
 * image, another pending import) uses them by then. Nothing of a failed import stays on disk. */
typedef struct ImageImport ImageImport;

/* -EINVAL for a bad spec (name, relative path, no kernel, cmdline), -EEXIST for a name in use. */
int image_import_begin(ImageStore *s, const ImageImportSpec *spec, ImageImport **ret);
/* Before image_import_copy() (any thread): the file of kind comes from fd (duplicated; the caller keeps
 * fd) instead of the path or fd given to image_import_begin(). -EALREADY once the copy started. */
int image_import_set_fd(ImageImport *imp, ImageBlobKind kind, int fd);
/* Before image_import_copy(): progress (NULL: none) hears of every chunk the copy writes, and may stop it
 * by returning an error (image_blob_write_temp()); the import then fails with that error. */
int image_import_set_progress(ImageImport *imp, ImageBlobProgress progress, void *userdata);
/* Errors of image_blob_write_temp() for the first file that fails (-ENOENT: a file is missing, -EISDIR,
 * -EBADFD: not a regular file, -EINVAL: empty, -EMEDIUMTYPE: rootfs is not ext2/3/4), or I/O errors. */
int image_import_copy(ImageImport *imp);
/* -ESTALE if image_import_copy() has not succeeded, or -EALREADY if already committed. */
int image_import_commit(ImageImport *imp, const Image **ret);
/* The name the import gives the image. */
const char *image_import_name(const ImageImport *imp);
ImageImport *image_import_free(ImageImport *imp);
DEFINE_TRIVIAL_CLEANUP_FUNC(ImageImport *, image_import_free);

/* ---- OCI pulls (oci-pull.h) ---- */

const char *image_store_tmp_dir(const ImageStore *s);
int image_store_blobs_fd(const ImageStore *s);

/* Adds img (the store owns it on success) under its name; an image of that name already there is replaced
 * (img keeps its id), and its blobs nothing uses any more are removed as image_store_remove() does. The
 * blobs img names must exist. Owner thread. */
int image_store_put(ImageStore *s, Image *img, const char *const *pinned_blob_ids, const Image **ret);

/* All three steps in the calling thread (blocks for the copy): for tools and tests. */
int image_store_import(ImageStore *s, const ImageImportSpec *spec, const Image **ret);
