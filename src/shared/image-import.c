/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Importing local files as an image: validate, reserve, copy into blobs, write the record, or roll back. */
#include <fcntl.h>
#include <stdio.h>

#include "fs-util.h"
#include "image-store-internal.h"
#include "json-util.h"
#include "log.h"
#include "strv-util.h"
#include "time-util.h"

struct ImageImport {
        ImageStore *store;
        char *name;
        char *cmdline; /* NULL: none */
        char *paths[_IMAGE_BLOB_KIND_MAX]; /* NULL: the image has no such file, or it comes from fds[] */
        int fds[_IMAGE_BLOB_KIND_MAX]; /* -EBADF: none */
        ImageBlobProgress progress; /* NULL: none */
        void *progress_userdata;
        ImageFile files[_IMAGE_BLOB_KIND_MAX]; /* present = added and still pending in the store */
        bool created[_IMAGE_BLOB_KIND_MAX]; /* this import wrote the blob (so a rollback may delete it) */
        bool reserved; /* name is in store->reserved_names */
        bool copy_started;
        bool copied;
        bool committed;
};

static bool spec_has_fd(const ImageImportSpec *spec, ImageBlobKind k) {
        /* Layers are pulled, never imported: callers' fds arrays need not cover that kind. */
        return spec->fds && k < IMAGE_BLOB_LAYER && spec->fds[k] >= 0;
}

static int validate_spec(const ImageImportSpec *spec, const char *const paths[static _IMAGE_BLOB_KIND_MAX]) {
        if (!spec || !image_name_is_valid(spec->name) ||
            (isempty(paths[IMAGE_BLOB_KERNEL]) && !spec_has_fd(spec, IMAGE_BLOB_KERNEL)))
                return -EINVAL;
        for (ImageBlobKind k = 0; k < _IMAGE_BLOB_KIND_MAX; k++)
                if (!isempty(paths[k]) && paths[k][0] != '/')
                        return -EINVAL;
        if (!image_cmdline_is_valid(spec->cmdline))
                return -EINVAL;
        return 0;
}

int image_import_begin(ImageStore *s, const ImageImportSpec *spec, ImageImport **ret) {
        _cleanup_(image_import_freep) ImageImport *imp = NULL;
        const char *paths[_IMAGE_BLOB_KIND_MAX] = {}; /* no layers in local imports */
        int r;

        if (!s || !spec)
                return -EINVAL;
        paths[IMAGE_BLOB_KERNEL] = spec->kernel_path;
        paths[IMAGE_BLOB_INITRD] = spec->initrd_path;
        paths[IMAGE_BLOB_ROOTFS] = spec->rootfs_path;
        r = validate_spec(spec, paths);
        if (r < 0)
                return r;
        if (hashmap_contains(s->by_name, spec->name) || strv_contains(s->reserved_names, spec->name))
                return -EEXIST;

        imp = calloc(1, sizeof(ImageImport));
        if (!imp)
                return -ENOMEM;
        imp->store = s;
        for (ImageBlobKind k = 0; k < _IMAGE_BLOB_KIND_MAX; k++)
                imp->fds[k] = -EBADF;
        imp->name = strdup(spec->name);
        if (!imp->name)
                return -ENOMEM;
        if (!isempty(spec->cmdline)) {
                imp->cmdline = strdup(spec->cmdline);
                if (!imp->cmdline)
                        return -ENOMEM;
        }
        for (ImageBlobKind k = 0; k < _IMAGE_BLOB_KIND_MAX; k++) {
                if (spec_has_fd(spec, k)) {
                        imp->fds[k] = fcntl(spec->fds[k], F_DUPFD_CLOEXEC, 3);
                        if (imp->fds[k] < 0)
                                return negative_errno();
                        continue;
                }
                if (isempty(paths[k]))
                        continue;
                imp->paths[k] = strdup(paths[k]);
                if (!imp->paths[k])
                        return -ENOMEM;
        }

        r = strv_extend(&s->reserved_names, imp->name);
        if (r < 0)
                return r;
        imp->reserved = true;

        *ret = TAKE_PTR(imp);
        return 0;
}

int image_import_set_fd(ImageImport *imp, ImageBlobKind kind, int fd) {
        int copy;

        if (!imp || fd < 0 || !image_blob_kind_to_string(kind))
                return -EINVAL;
        if (imp->copy_started)
                return -EALREADY;
        copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (copy < 0)
                return negative_errno();
        safe_close(imp->fds[kind]);
        imp->fds[kind] = copy;
        imp->paths[kind] = mfree(imp->paths[kind]);
        return 0;
}

int image_import_set_progress(ImageImport *imp, ImageBlobProgress progress, void *userdata) {
        if (!imp)
                return -EINVAL;
        if (imp->copy_started)
                return -EALREADY;
        imp->progress = progress;
        imp->progress_userdata = userdata;
        return 0;
}

/* Adds one file as a blob. Any thread: it touches only the blobs directory and, under the lock, the pending
 * list. The blob is registered as pending before it is linked or found to exist, so the owner thread cannot
 * delete it in between (see image_store_remove_blob_if_unused()). */
static int blob_add(ImageImport *imp, int src, ImageBlobKind kind, ImageFile *ret_file, bool *ret_created) {
        ImageStore *s = imp->store;
        _cleanup_free_ char *temp = NULL;
        char hex[IMAGE_BLOB_HEX_LEN + 1];
        uint64_t size;
        bool created;
        int r;

        r = image_blob_write_temp(s->blobs_fd, src, kind, imp->progress, imp->progress_userdata, &temp, hex,
                                  &size);
        if (r < 0)
                return r;

        pthread_mutex_lock(&s->pending_lock);
        r = image_store_pending_ref(s, hex);
        pthread_mutex_unlock(&s->pending_lock);
        if (r < 0) {
                (void) unlinkat(s->blobs_fd, temp, 0);
                return r;
        }

        r = image_blob_commit_temp(s->blobs_fd, temp, hex, kind, &created);
        if (r < 0) {
                pthread_mutex_lock(&s->pending_lock);
                image_store_pending_unref(s, hex);
                pthread_mutex_unlock(&s->pending_lock);
                return r;
        }

        memcpy(ret_file->blob, hex, sizeof(hex));
        ret_file->size = size;
        *ret_created = created;
        return 0;
}

int image_import_copy(ImageImport *imp) {
        int r;

        if (!imp)
                return -EINVAL;
        if (imp->copy_started)
                return -EALREADY;
        imp->copy_started = true;

        for (ImageBlobKind k = 0; k < _IMAGE_BLOB_KIND_MAX; k++) {
                _cleanup_close_ int opened = -EBADF;
                int src = imp->fds[k];

                if (src < 0 && imp->paths[k]) {
                        r = image_blob_open_source(imp->paths[k], k, &opened);
                        if (r < 0)
                                return r;
                        src = opened;
                }
                if (src < 0)
                        continue;
                r = blob_add(imp, src, k, &imp->files[k], &imp->created[k]);
                if (r < 0)
                        return r; /* blobs added so far stay pending until image_import_free() */
        }
        imp->copied = true;
        return 0;
}

static int image_new_from_import(const ImageImport *imp, Image **ret) {
        _cleanup_(image_freep) Image *img = NULL;
        int r;

        img = calloc(1, sizeof(Image));
        if (!img)
                return -ENOMEM;
        img->name = strdup(imp->name);
        if (!img->name || (imp->cmdline && !(img->cmdline = strdup(imp->cmdline))))
                return -ENOMEM;
        for (ImageBlobKind k = 0; k < _IMAGE_BLOB_KIND_MAX; k++) {
                img->files[k] = imp->files[k];
                img->size += imp->files[k].size;
        }
        img->created_at = now_usec(CLOCK_REALTIME);

        /* 130 random bits do not collide in practice; the loop makes "in practice" irrelevant. */
        do {
                r = id_generate(img->id);
                if (r < 0)
                        return r;
        } while (hashmap_contains(imp->store->by_id, img->id));

        r = image_compute_digest(img, img->digest);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(img);
        return 0;
}

/* Drops this import's pending uses; the blobs are referenced by its record now, or are to be rolled back. */
static void release_pending(ImageImport *imp) {
        ImageStore *s = imp->store;

        pthread_mutex_lock(&s->pending_lock);
        for (ImageBlobKind k = 0; k < _IMAGE_BLOB_KIND_MAX; k++)
                if (image_file_present(&imp->files[k]))
                        image_store_pending_unref(s, imp->files[k].blob);
        pthread_mutex_unlock(&s->pending_lock);
}

static void release_name(ImageImport *imp) {
        if (!imp->reserved)
                return;
        strv_remove(imp->store->reserved_names, imp->name);
        imp->reserved = false;
}

int image_import_commit(ImageImport *imp, const Image **ret) {
        _cleanup_(image_freep) Image *img = NULL;
        _cleanup_free_ char *file_name = NULL;
        ImageStore *s;
        int r;

        if (!imp)
                return -EINVAL;
        if (imp->committed)
                return -EALREADY;
        if (!imp->copied)
                return -ESTALE;
        s = imp->store;
        if (hashmap_contains(s->by_name, imp->name))
                return -EEXIST; /* the reservation prevents this; a caller bypassing it does not */

        r = image_new_from_import(imp, &img);
        if (r < 0)
                return r;
        r = image_store_record_write(s, img);
        if (r < 0)
                return r;
        r = image_store_index_add(s, img);
        if (r < 0) {
                if (image_record_file_name(img->name, &file_name) >= 0)
                        (void) unlinkat(s->images_fd, file_name, 0);
                return r;
        }

        release_pending(imp);
        memset(imp->files, 0, sizeof(imp->files));
        release_name(imp);
        imp->committed = true;
        if (ret)
                *ret = img;
        TAKE_PTR(img);
        return 0;
}

const char *image_import_name(const ImageImport *imp) {
        return imp ? imp->name : NULL;
}

ImageImport *image_import_free(ImageImport *imp) {
        if (!imp)
                return NULL;

        if (!imp->committed) {
                release_pending(imp);
                for (ImageBlobKind k = 0; k < _IMAGE_BLOB_KIND_MAX; k++) {
                        int r;

                        if (!image_file_present(&imp->files[k]) || !imp->created[k])
                                continue;
                        r = image_store_remove_blob_if_unused(imp->store, imp->files[k].blob, k, NULL);
                        if (r < 0)
                                log_debug_errno(r, "Failed to roll back blob %s.%s: %m", imp->files[k].blob,
                                                image_blob_kind_to_string(k));
                }
        }
        release_name(imp);

        free(imp->name);
        free(imp->cmdline);
        for (ImageBlobKind k = 0; k < _IMAGE_BLOB_KIND_MAX; k++) {
                free(imp->paths[k]);
                safe_close(imp->fds[k]);
        }
        return mfree(imp);
}

int image_store_import(ImageStore *s, const ImageImportSpec *spec, const Image **ret) {
        _cleanup_(image_import_freep) ImageImport *imp = NULL;
        int r;

        r = image_import_begin(s, spec, &imp);
        if (r < 0)
                return r;
        r = image_import_copy(imp);
        if (r < 0)
                return r;
        return image_import_commit(imp, ret);
}
