/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The local image store: loading records, lookups, removal, blob references and blob garbage collection. */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>

#include "fs-util.h"
#include "image-store-internal.h"
#include "json-util.h"
#include "kernel-extract.h"
#include "log.h"
#include "oci-reference.h"
#include "strv-util.h"
#include "time-util.h"

#define RECORD_SUFFIX ".json"
/* Long enough to tell apart, short enough to type: the same floor VM references use. */
#define ID_PREFIX_MIN 3

int image_record_file_name(const char *name, char **ret) {
        char hex[IMAGE_BLOB_HEX_LEN + 1];
        char *s;
        int r;

        /* OCI names have '/' and ':': their file is named after their hash. "oci-" + 64 hex is longer than
         * any local image name may be, so the two kinds never share a file name. */
        if (!image_name_is_valid(name)) {
                if (!image_oci_name_is_valid(name))
                        return -EINVAL;
                r = image_sha256_hex(name, strlen(name), hex);
                if (r < 0)
                        return r;
                if (asprintf(&s, "oci-%s" RECORD_SUFFIX, hex) < 0)
                        return -ENOMEM;
                *ret = s;
                return 0;
        }
        if (asprintf(&s, "%s" RECORD_SUFFIX, name) < 0)
                return -ENOMEM;
        *ret = s;
        return 0;
}

/* A DIR for dir_fd that leaves dir_fd itself open. */
static int opendir_fd(int dir_fd, DIR **ret) {
        int fd;
        DIR *d;

        fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        d = fdopendir(fd);
        if (!d) {
                int r = negative_errno();
                safe_close(fd);
                return r;
        }
        *ret = d;
        return 0;
}

static bool has_suffix(const char *s, const char *suffix) {
        size_t n = strlen(s), m = strlen(suffix);
        return n >= m && streq(s + n - m, suffix);
}

ImageStore *image_store_free(ImageStore *s) {
        const char *key;
        void *value;
        size_t state = 0;

        if (!s)
                return NULL;
        while (s->by_name && hashmap_iterate(s->by_name, &state, &key, &value))
                image_free(value);
        hashmap_free(s->by_name);
        hashmap_free(s->by_id);
        strv_free(s->reserved_names);
        free(s->pending);
        pthread_mutex_destroy(&s->pending_lock);
        safe_close(s->images_fd);
        safe_close(s->blobs_fd);
        free(s->images_dir);
        free(s->blobs_dir);
        free(s->tmp_dir);
        return mfree(s);
}

int image_store_index_add(ImageStore *s, Image *img) {
        int r;

        r = hashmap_put(s->by_name, img->name, img);
        if (r < 0)
                return r;
        r = hashmap_put(s->by_id, img->id, img);
        if (r < 0) {
                hashmap_remove(s->by_name, img->name);
                return r;
        }
        return 0;
}

/* Temporary files can only be left over from a crash when the store opens: the owner (the manager, which
 * holds the state directory's lock) has no import running yet. */
static int remove_temp_files(int dir_fd) {
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;
        int r;

        r = opendir_fd(dir_fd, &d);
        if (r < 0)
                return r;
        while ((errno = 0, de = readdir(d)))
                if (strncmp(de->d_name, TEMP_FILE_PREFIX, strlen(TEMP_FILE_PREFIX)) == 0 &&
                    unlinkat(dir_fd, de->d_name, 0) < 0)
                        log_debug_errno(errno, "Failed to remove stale temporary file %s: %m", de->d_name);
        return errno > 0 ? -errno : 0;
}

static int load_record(ImageStore *s, const char *file_name) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_(image_freep) Image *img = NULL;
        _cleanup_free_ char *data = NULL, *expected = NULL;
        size_t size;
        int r;

        r = read_full_file_at(s->images_fd, file_name, READ_FULL_FILE_MAX, &data, &size);
        if (r < 0)
                return r;
        r = json_parse(data, size, &o);
        if (r < 0)
                return r;
        r = image_from_json(o, &img);
        if (r < 0)
                return r;

        /* The file name is how a name is kept unique on disk; a record saying otherwise is not ours. */
        r = image_record_file_name(img->name, &expected);
        if (r < 0)
                return r;
        if (!streq(expected, file_name) || hashmap_contains(s->by_id, img->id))
                return -EBADMSG;

        r = image_store_index_add(s, img);
        if (r < 0)
                return r;
        TAKE_PTR(img);
        return 0;
}

/* Keeps the bytes for a human to look at, out of the way of the next open. */
static int quarantine_record(ImageStore *s, const char *file_name) {
        _cleanup_free_ char *target = NULL;

        if (asprintf(&target, "%s.corrupt-%" PRIu64, file_name, now_usec(CLOCK_REALTIME)) < 0)
                return -ENOMEM;
        if (renameat(s->images_fd, file_name, s->images_fd, target) < 0)
                return negative_errno();
        s->n_corrupt++;
        log_debug("Moved corrupt image record %s/%s aside as %s.", s->images_dir, file_name, target);
        return 0;
}

static int load_records(ImageStore *s) {
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;
        int r;

        r = opendir_fd(s->images_fd, &d);
        if (r < 0)
                return r;
        while ((errno = 0, de = readdir(d))) {
                if (de->d_name[0] == '.' || !has_suffix(de->d_name, RECORD_SUFFIX))
                        continue;
                if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
                        continue;

                r = load_record(s, de->d_name);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        log_debug_errno(r, "Failed to load image record %s: %m", de->d_name);
                        r = quarantine_record(s, de->d_name);
                        if (r < 0)
                                return r;
                }
        }
        return errno > 0 ? -errno : 0;
}

static int open_directories(ImageStore *s, const char *state_dir) {
        int r;

        if (asprintf(&s->images_dir, "%s/images", state_dir) < 0 ||
            asprintf(&s->blobs_dir, "%s/images/blobs", state_dir) < 0 ||
            asprintf(&s->tmp_dir, "%s/images/tmp", state_dir) < 0)
                return -ENOMEM;
        r = mkdir_p(s->blobs_dir, 0700);
        if (r < 0)
                return r;
        /* What a pull left when the manager died: nothing pulls before the store is open. */
        r = rm_rf(s->tmp_dir);
        if (r < 0)
                log_debug_errno(r, "Failed to empty %s: %m", s->tmp_dir);
        r = mkdir_p(s->tmp_dir, 0700);
        if (r < 0)
                return r;
        s->images_fd = open(s->images_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (s->images_fd < 0)
                return negative_errno();
        s->blobs_fd = open(s->blobs_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (s->blobs_fd < 0)
                return negative_errno();
        return 0;
}

int image_store_open(const char *state_dir, ImageStore **ret) {
        _cleanup_(image_store_freep) ImageStore *s = NULL;
        int r;

        /* Absolute, because blob paths derived from it end up in VM records and hypervisor command lines. */
        if (isempty(state_dir) || state_dir[0] != '/')
                return -EINVAL;

        s = calloc(1, sizeof(ImageStore));
        if (!s)
                return -ENOMEM;
        s->images_fd = s->blobs_fd = -EBADF;
        s->pending_lock = (pthread_mutex_t) PTHREAD_MUTEX_INITIALIZER;

        r = open_directories(s, state_dir);
        if (r < 0)
                return r;
        r = hashmap_new(&s->by_name);
        if (r < 0)
                return r;
        r = hashmap_new(&s->by_id);
        if (r < 0)
                return r;

        r = remove_temp_files(s->images_fd);
        if (r < 0)
                return r;
        r = remove_temp_files(s->blobs_fd);
        if (r < 0)
                return r;
        r = load_records(s);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(s);
        return 0;
}

size_t image_store_count(const ImageStore *s) {
        return hashmap_size(s->by_name);
}

unsigned image_store_corrupt_count(const ImageStore *s) {
        return s->n_corrupt;
}

static bool is_id_prefix(const char *s) {
        size_t n = strlen(s);

        if (n < ID_PREFIX_MIN || n > ID_LENGTH)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!id_char_is_valid(s[i]))
                        return false;
        return true;
}

int image_store_get(const ImageStore *s, const char *ref, const Image **ret) {
        const Image *found = NULL;
        const char *key;
        void *value;
        size_t state = 0;

        if (isempty(ref))
                return -EINVAL;

        found = hashmap_get(s->by_id, ref);
        if (!found)
                found = hashmap_get(s->by_name, ref);
        if (!found) {
                /* "busybox" finds docker.io/library/busybox:latest, as docker and podman take it. */
                _cleanup_(oci_reference_freep) OciReference *oref = NULL;
                _cleanup_free_ char *normalized = NULL;
                if (oci_reference_parse(ref, &oref) >= 0 && oci_reference_to_string(oref, &normalized) >= 0)
                        found = hashmap_get(s->by_name, normalized);
        }
        if (!found && is_id_prefix(ref))
                while (hashmap_iterate(s->by_id, &state, &key, &value)) {
                        if (strncmp(key, ref, strlen(ref)) != 0)
                                continue;
                        if (found)
                                return -ENOTUNIQ;
                        found = value;
                }
        if (!found)
                return -ENOENT;

        *ret = found;
        return 0;
}

static int image_compare(const void *a, const void *b) {
        const Image *x = *(const Image *const *) a, *y = *(const Image *const *) b;

        if (x->created_at != y->created_at)
                return x->created_at < y->created_at ? -1 : 1;
        return strcmp(x->name, y->name);
}

int image_store_list(const ImageStore *s, const Image ***ret, size_t *ret_n) {
        const Image **list;
        const char *key;
        void *value;
        size_t n = 0, state = 0;

        list = calloc(hashmap_size(s->by_name) + 1, sizeof(Image *));
        if (!list)
                return -ENOMEM;
        while (hashmap_iterate(s->by_name, &state, &key, &value))
                list[n++] = value;
        qsort(list, n, sizeof(Image *), image_compare);

        *ret = list;
        *ret_n = n;
        return 0;
}

int image_blob_path(const ImageStore *s, const char *hex, ImageBlobKind kind, char **ret) {
        _cleanup_free_ char *name = NULL;
        char *path;
        int r;

        r = image_blob_file_name(hex, kind, &name);
        if (r < 0)
                return r;
        if (asprintf(&path, "%s/%s", s->blobs_dir, name) < 0)
                return -ENOMEM;
        *ret = path;
        return 0;
}

static PendingBlob *pending_find(ImageStore *s, const char *hex) {
        for (size_t i = 0; i < s->n_pending; i++)
                if (streq(s->pending[i].hex, hex))
                        return &s->pending[i];
        return NULL;
}

int image_store_pending_ref(ImageStore *s, const char *hex) {
        PendingBlob *p = pending_find(s, hex);

        if (p) {
                p->n++;
                return 0;
        }
        p = reallocarray(s->pending, s->n_pending + 1, sizeof(PendingBlob));
        if (!p)
                return -ENOMEM;
        s->pending = p;
        p = &s->pending[s->n_pending++];
        memcpy(p->hex, hex, sizeof(p->hex));
        p->n = 1;
        return 0;
}

void image_store_pending_unref(ImageStore *s, const char *hex) {
        PendingBlob *p = pending_find(s, hex);

        if (!p || --p->n > 0)
                return;
        *p = s->pending[--s->n_pending];
}

static bool blob_referenced(const ImageStore *s, const char *hex, ImageBlobKind kind) {
        const char *key;
        void *value;
        size_t state = 0;

        while (hashmap_iterate(s->by_name, &state, &key, &value)) {
                const Image *img = value;
                if (kind == IMAGE_BLOB_LAYER) {
                        for (size_t i = 0; i < img->n_layers; i++)
                                if (streq(img->layers[i].blob, hex))
                                        return true;
                } else if (streq(img->files[kind].blob, hex))
                        return true;
        }
        return false;
}

int image_store_remove_blob_if_unused(ImageStore *s, const char *hex, ImageBlobKind kind,
                                      const char *const *pinned) {
        _cleanup_free_ char *name = NULL;
        int r;

        if (strv_contains((char *const *) pinned, hex) || blob_referenced(s, hex, kind))
                return 0;
        r = image_blob_file_name(hex, kind, &name);
        if (r < 0)
                return r;

        /* Checked and deleted under the lock: an import registers a blob before it links or reuses it. */
        pthread_mutex_lock(&s->pending_lock);
        if (pending_find(s, hex))
                r = 0;
        else if (unlinkat(s->blobs_fd, name, 0) < 0)
                r = errno == ENOENT ? 0 : negative_errno();
        else
                r = 1;
        pthread_mutex_unlock(&s->pending_lock);
        /* A kernel's extracted vmlinux (kernel-extract.h) goes with it. */
        _cleanup_free_ char *vmlinux = NULL;
        if (r > 0 && asprintf(&vmlinux, "%s" KERNEL_VMLINUX_SUFFIX, name) >= 0)
                (void) unlinkat(s->blobs_fd, vmlinux, 0);
        return r;
}

int image_store_remove(ImageStore *s, const char *name, const char *const *pinned_blob_ids) {
        _cleanup_free_ char *file_name = NULL;
        Image *img;
        int r;

        img = hashmap_get(s->by_name, name ?: "");
        if (!img)
                return -ENOENT;
        r = image_record_file_name(img->name, &file_name);
        if (r < 0)
                return r;
        /* The record goes first: a crash then leaves unreferenced blobs for GC, never a record pointing at
         * missing blobs. */
        if (unlinkat(s->images_fd, file_name, 0) < 0 && errno != ENOENT)
                return negative_errno();
        r = fsync_directory_at(s->images_fd, NULL);
        if (r < 0)
                log_debug_errno(r, "Failed to sync %s after removing %s: %m", s->images_dir, file_name);

        hashmap_remove(s->by_name, img->name);
        hashmap_remove(s->by_id, img->id);

        for (ImageBlobKind k = 0; k < _IMAGE_BLOB_KIND_MAX; k++) {
                if (!image_file_present(&img->files[k]))
                        continue;
                r = image_store_remove_blob_if_unused(s, img->files[k].blob, k, pinned_blob_ids);
                if (r < 0)
                        log_debug_errno(r, "Failed to remove blob %s.%s, leaving it to GC: %m",
                                        img->files[k].blob, image_blob_kind_to_string(k));
        }
        for (size_t i = 0; i < img->n_layers; i++) {
                r = image_store_remove_blob_if_unused(s, img->layers[i].blob, IMAGE_BLOB_LAYER,
                                                      pinned_blob_ids);
                if (r < 0)
                        log_debug_errno(r, "Failed to remove layer blob %s, leaving it to GC: %m",
                                        img->layers[i].blob);
        }
        image_free(img);
        return 0;
}

static void strv_sort_unique(char **l) {
        size_t n = 0;

        strv_sort(l);
        for (size_t i = 0; l && l[i]; i++) {
                if (n > 0 && streq(l[n - 1], l[i])) {
                        free(l[i]);
                        continue;
                }
                l[n++] = l[i];
        }
        if (l)
                l[n] = NULL;
}

int image_store_referenced_blobs(ImageStore *s, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        const char *key;
        void *value;
        size_t state = 0;
        int r = 0;

        while (hashmap_iterate(s->by_name, &state, &key, &value))
                for (ImageBlobKind k = 0; k < _IMAGE_BLOB_KIND_MAX; k++) {
                        const ImageFile *f = &((const Image *) value)->files[k];
                        if (image_file_present(f) && strv_extend(&l, f->blob) < 0)
                                return -ENOMEM;
                }
        state = 0;
        while (hashmap_iterate(s->by_name, &state, &key, &value))
                for (size_t i = 0; i < ((const Image *) value)->n_layers; i++)
                        if (strv_extend(&l, ((const Image *) value)->layers[i].blob) < 0)
                                return -ENOMEM;

        pthread_mutex_lock(&s->pending_lock);
        for (size_t i = 0; i < s->n_pending && r >= 0; i++)
                r = strv_extend(&l, s->pending[i].hex);
        pthread_mutex_unlock(&s->pending_lock);
        if (r < 0)
                return r;

        if (!l) {
                l = calloc(1, sizeof(char *));
                if (!l)
                        return -ENOMEM;
        }
        strv_sort_unique(l);
        *ret = TAKE_PTR(l);
        return 0;
}

/* A vmlinux whose kernel blob is gone (removed before it, by a crash in between). */
static void gc_orphan_vmlinux(ImageStore *s, const char *name) {
        size_t n = strlen(name), k = strlen(KERNEL_VMLINUX_SUFFIX);
        char hex[IMAGE_BLOB_HEX_LEN + 1];
        ImageBlobKind kind;
        if (n <= k || !streq(name + n - k, KERNEL_VMLINUX_SUFFIX))
                return;
        _cleanup_free_ char *base = strndup(name, n - k);
        if (!base || image_blob_parse_file_name(base, hex, &kind) < 0)
                return;
        if (faccessat(s->blobs_fd, base, F_OK, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
                (void) unlinkat(s->blobs_fd, name, 0);
}

int image_store_gc_blobs(ImageStore *s, const char *const *pinned_blob_ids, char ***ret_removed) {
        _cleanup_strv_free_ char **removed = NULL;
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;
        int r;

        r = opendir_fd(s->blobs_fd, &d);
        if (r < 0)
                return r;
        while ((errno = 0, de = readdir(d))) {
                char hex[IMAGE_BLOB_HEX_LEN + 1];
                ImageBlobKind kind;

                /* Temporary files may belong to a running import; image_store_open() reaps stale ones. */
                if (image_blob_parse_file_name(de->d_name, hex, &kind) < 0) {
                        gc_orphan_vmlinux(s, de->d_name);
                        continue;
                }
                r = image_store_remove_blob_if_unused(s, hex, kind, pinned_blob_ids);
                if (r < 0)
                        return r;
                if (r > 0 && strv_extend(&removed, de->d_name) < 0)
                        return -ENOMEM;
        }
        if (errno > 0)
                return -errno;

        if (ret_removed)
                *ret_removed = TAKE_PTR(removed);
        return 0;
}

const char *image_store_tmp_dir(const ImageStore *s) {
        return s->tmp_dir;
}

int image_store_blobs_fd(const ImageStore *s) {
        return s->blobs_fd;
}

static void remove_unused_blobs_of(ImageStore *s, const Image *img, const char *const *pinned) {
        for (ImageBlobKind k = 0; k < _IMAGE_BLOB_KIND_MAX; k++)
                if (image_file_present(&img->files[k]))
                        (void) image_store_remove_blob_if_unused(s, img->files[k].blob, k, pinned);
        for (size_t i = 0; i < img->n_layers; i++)
                (void) image_store_remove_blob_if_unused(s, img->layers[i].blob, IMAGE_BLOB_LAYER, pinned);
}

int image_store_record_write(ImageStore *s, const Image *img) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_free_ char *file_name = NULL, *text = NULL;
        int r, n;

        r = image_record_file_name(img->name, &file_name);
        if (r < 0)
                return r;
        r = image_to_json(img, &o);
        if (r < 0)
                return r;
        n = asprintf(&text, "%s\n", json_to_string(o));
        if (n < 0)
                return -ENOMEM;
        return write_file_atomic_at(s->images_fd, file_name, text, (size_t) n, 0600);
}

int image_store_put(ImageStore *s, Image *img, const char *const *pinned_blob_ids, const Image **ret) {
        Image *old;
        int r;

        old = hashmap_get(s->by_name, img->name);
        if (old)
                memcpy(img->id, old->id, sizeof(img->id));
        r = image_store_record_write(s, img);
        if (r < 0)
                return r;

        if (old) {
                hashmap_remove(s->by_name, old->name);
                hashmap_remove(s->by_id, old->id);
        }
        r = image_store_index_add(s, img);
        if (r < 0) {
                /* The record on disk is the new one; it loads at the next open. */
                if (old)
                        image_free(old);
                return r;
        }
        if (old) {
                remove_unused_blobs_of(s, old, pinned_blob_ids);
                image_free(old);
        }
        if (ret)
                *ret = img;
        return 0;
}
