/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What image-store.c and image-import.c share: the store's layout in memory and its pending-blob list. */
#pragma once

#include <pthread.h>

#include "hashmap.h"
#include "image-store.h"

/* A blob some unfinished import has written or reused; n counts the imports (and kinds) using it. */
typedef struct PendingBlob {
        char hex[IMAGE_BLOB_HEX_LEN + 1];
        unsigned n;
} PendingBlob;

struct ImageStore {
        char *images_dir; /* <state dir>/images */
        char *blobs_dir; /* <state dir>/images/blobs */
        char *tmp_dir; /* <state dir>/images/tmp: pulls unpack layers there (0700, emptied at open) */
        int images_fd;
        int blobs_fd;

        Hashmap *by_name; /* name -> Image, owns the images; keys point into them */
        Hashmap *by_id; /* id -> the same Image */
        char **reserved_names; /* names of imports between begin and commit/free */
        unsigned n_corrupt;

        /* The only state worker threads touch; everything above is the owner thread's. */
        pthread_mutex_t pending_lock;
        PendingBlob *pending;
        size_t n_pending;
};

/* Adds or drops one use of hex in the pending list; take pending_lock around them. */
int image_store_pending_ref(ImageStore *s, const char *hex);
void image_store_pending_unref(ImageStore *s, const char *hex);

/* Deletes blob file <hex>.<kind> unless an image references it as kind, a pending import uses hex, or hex
 * is in pinned. Returns 1 when it deleted the file, 0 when it kept it (or it was gone already). Takes
 * pending_lock itself; owner thread only. */
int image_store_remove_blob_if_unused(ImageStore *s, const char *hex, ImageBlobKind kind,
                                      const char *const *pinned);

/* Adds img to both maps (the store owns it then). */
int image_store_index_add(ImageStore *s, Image *img);

/* Writes img's record file atomically (fs-util's write_file_atomic_at()). */
int image_store_record_write(ImageStore *s, const Image *img);

/* "<name>.json" */
int image_record_file_name(const char *name, char **ret);
