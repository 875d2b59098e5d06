/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* An OCI pull: registry -> verified blobs -> EROFS layers and boot files in the image store. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fs-util.h"
#include "image-store-internal.h"
#include "oci-layer.h"
#include "oci-layout.h"
#include "oci-manifest.h"
#include "oci-pull.h"
#include "oci-registry.h"
#include "oci-unpack.h"
#include "time-util.h"

typedef struct PullBlob {
        ImageFile file;
        bool pending; /* we hold a pending use of file.blob */
        bool created; /* this pull wrote the blob file */
} PullBlob;

typedef struct PullLayer {
        char digest[OCI_DIGEST_LEN + 1];
        uint64_t size;
        _Atomic uint64_t done;
        PullBlob erofs;
        PullBlob boot[2]; /* kernel, initrd found in this layer */
} PullLayer;

enum { BOOT_KERNEL, BOOT_INITRD };

struct OciPull {
        ImageStore *store;
        OciReference *ref;
        char *name;
        OciPullOptions options;
        atomic_bool own_cancel;
        atomic_bool *cancel; /* options->cancel or own_cancel: the caller's */
        atomic_bool stop; /* the pull's own: a layer failed, the others stop */

        OciRegistry *registry;
        /* A local import (oci_pull_new_local()): the caller's file, the layout read (that file, or the
         * directory a tarball was extracted to). -EBADF: a pull. */
        int source_fd;
        int layout_fd;
        uid_t layout_uid; /* whose files layout_fd's are, for oci-layout.h's checks; -1: ours */
        char *archive_dir;
        int *layer_fds; /* oci_pull_add_local_layer()'s, after source_fd */
        size_t n_layer_fds;
        char digest[OCI_DIGEST_LEN + 1];
        char known_digest[OCI_DIGEST_LEN + 1];
        PullLayer *layers;
        _Atomic size_t n_layers; /* published once layers[] is filled in */
        _Atomic size_t next; /* the next layer a worker takes */

        pthread_mutex_t lock; /* guards error */
        char *error;
        pthread_mutex_t unpacker_lock; /* guards the two below */
        OciUnpacker *unpacker;
        int unpacker_result; /* 1: started, < 0: could not be */
        bool succeeded;
        bool unchanged; /* the manifest was options.known_digest: no config or layer fetched */
};

static void pull_set_error(OciPull *p, const char *fmt, ...) _printf_(2, 3);
static void pull_set_error(OciPull *p, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        oci_error_keep_first(&p->lock, &p->error, fmt, ap);
        va_end(ap);
}

int oci_pull_new(ImageStore *s, const char *reference, const OciPullOptions *options, OciPull **ret) {
        _cleanup_(oci_pull_freep) OciPull *p = NULL;
        int r;

        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->store = s;
        p->source_fd = p->layout_fd = -EBADF;
        pthread_mutex_init(&p->lock, NULL);
        pthread_mutex_init(&p->unpacker_lock, NULL);
        if (options)
                p->options = *options;
        p->cancel = p->options.cancel ?: &p->own_cancel;
        if (p->options.parallel == 0)
                p->options.parallel = OCI_PULL_PARALLEL_DEFAULT;
        r = oci_reference_parse(reference, &p->ref);
        if (r < 0)
                return r;
        r = oci_reference_to_string(p->ref, &p->name);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(p);
        return 0;
}

int oci_pull_new_local(ImageStore *s, const char *name, int fd, const OciPullOptions *options,
                       OciPull **ret) {
        _cleanup_(oci_pull_freep) OciPull *p = NULL;

        if (!image_name_is_valid(name) || fd < 0)
                return -EINVAL;
        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->store = s;
        p->layout_fd = -EBADF;
        pthread_mutex_init(&p->lock, NULL);
        pthread_mutex_init(&p->unpacker_lock, NULL);
        if (options)
                p->options = *options;
        p->cancel = p->options.cancel ?: &p->own_cancel;
        if (p->options.parallel == 0)
                p->options.parallel = OCI_PULL_PARALLEL_DEFAULT;
        p->name = strdup(name);
        if (!p->name)
                return -ENOMEM;
        p->source_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (p->source_fd < 0)
                return -errno;
        *ret = TAKE_PTR(p);
        return 0;
}

int oci_pull_add_local_layer(OciPull *p, int fd) {
        int *a;

        if (p->source_fd < 0 || fd < 0 || p->n_layer_fds + 1 >= OCI_LAYERS_MAX)
                return -EINVAL;
        a = reallocarray(p->layer_fds, p->n_layer_fds + 1, sizeof(int));
        if (!a)
                return -ENOMEM;
        p->layer_fds = a;
        a[p->n_layer_fds] = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (a[p->n_layer_fds] < 0)
                return -errno;
        p->n_layer_fds++;
        return 0;
}

int oci_pull_set_known_digest(OciPull *p, const char *digest) {
        if (!oci_digest_is_valid(digest))
                return -EINVAL;
        memcpy(p->known_digest, digest, sizeof(p->known_digest));
        return 0;
}

const char *oci_pull_name(const OciPull *p) {
        return p->name;
}

const char *oci_pull_digest(const OciPull *p) {
        return p->digest;
}

const char *oci_pull_error(const OciPull *p) {
        const char *e;

        pthread_mutex_lock((pthread_mutex_t *) &p->lock);
        e = p->error;
        pthread_mutex_unlock((pthread_mutex_t *) &p->lock);
        return e;
}

void oci_pull_cancel(OciPull *p) {
        atomic_store(p->cancel, true);
}

size_t oci_pull_n_layers(const OciPull *p) {
        return atomic_load(&p->n_layers);
}

void oci_pull_layer_progress(const OciPull *p, size_t i, uint64_t *ret_done, uint64_t *ret_total) {
        *ret_done = atomic_load(&p->layers[i].done);
        *ret_total = p->layers[i].size;
}

static int pending_ref(OciPull *p, PullBlob *b) {
        int r;

        pthread_mutex_lock(&p->store->pending_lock);
        r = image_store_pending_ref(p->store, b->file.blob);
        pthread_mutex_unlock(&p->store->pending_lock);
        if (r >= 0)
                b->pending = true;
        return r;
}

/* Owner thread: drops the pending use; without a commit, a blob this pull created goes unless used. */
static void blob_release(OciPull *p, PullBlob *b, ImageBlobKind kind, bool keep) {
        if (!b->pending)
                return;
        pthread_mutex_lock(&p->store->pending_lock);
        image_store_pending_unref(p->store, b->file.blob);
        pthread_mutex_unlock(&p->store->pending_lock);
        b->pending = false;
        if (!keep && b->created)
                (void) image_store_remove_blob_if_unused(p->store, b->file.blob, kind, NULL);
}

OciPull *oci_pull_free(OciPull *p) {
        if (!p)
                return NULL;
        for (size_t i = 0; p->layers && i < atomic_load(&p->n_layers); i++) {
                blob_release(p, &p->layers[i].erofs, IMAGE_BLOB_LAYER, false);
                blob_release(p, &p->layers[i].boot[BOOT_KERNEL], IMAGE_BLOB_KERNEL, false);
                blob_release(p, &p->layers[i].boot[BOOT_INITRD], IMAGE_BLOB_INITRD, false);
        }
        free(p->layers);
        safe_close(p->source_fd);
        for (size_t i = 0; i < p->n_layer_fds; i++)
                safe_close(p->layer_fds[i]);
        free(p->layer_fds);
        safe_close(p->layout_fd);
        if (p->archive_dir)
                (void) rm_rf(p->archive_dir);
        free(p->archive_dir);
        oci_registry_free(p->registry);
        oci_reference_free(p->ref);
        free(p->name);
        free(p->error);
        oci_unpacker_free(p->unpacker);
        /* A pull that needed a helper: the next one most likely does too, and finds one running, started
         * now that this one is answered rather than while it needs the CPUs. */
        if (p->unpacker_result > 0 && !atomic_load(p->cancel))
                oci_unpacker_prepare(p->options.unpack_helper, p->store->blobs_dir, p->store->tmp_dir,
                                     p->options.unpack_memory);
        pthread_mutex_destroy(&p->unpacker_lock);
        pthread_mutex_destroy(&p->lock);
        return mfree(p);
}

/* ---- the worker side ---- */

static int registry_failed(OciPull *p, int r, const char *what) {
        const char *e = oci_registry_error(p->registry);

        if (r == -ECANCELED)
                return r;
        pull_set_error(p, "%s: %s", what, e ?: strerror(-r));
        return r;
}

/* The image manifest for this host: the one named, or the index's entry for our platform. */
/* A local layout's errors: what the caller's files did wrong, or our own failure. */
static int local_failed(OciPull *p, int r, const char *what) {
        if (r == -ECANCELED || r == -ENOMEM)
                return r;
        pull_set_error(p, "%s: %s", what,
                       r == -EBADMSG  ? "content does not match its digest, or not a regular file"
                       : r == -EACCES ? "not readable by the caller"
                       : r == -ENOENT ? "missing from the layout"
                       : r == -E2BIG  ? "too large"
                                      : strerror(-r));
        return r == -ENOENT || r == -E2BIG || r == -EACCES ? -EBADMSG : r;
}

/* index.json's image for this host: its only entry, else the one for our platform. */
static int fetch_local_manifest(OciPull *p, OciManifest **ret) {
        _cleanup_(oci_manifest_freep) OciManifest *index = NULL, *m = NULL;
        _cleanup_free_ char *body = NULL;
        const OciDescriptor *d;
        size_t size;
        int r;

        r = oci_layout_read_index(p->layout_fd, p->layout_uid, &body, &size);
        if (r < 0)
                return local_failed(p, r == -ENOENT ? -EBADMSG : r, "index.json");
        r = oci_manifest_parse(OCI_MEDIA_TYPE_OCI_INDEX, body, size, &index);
        if (r < 0 || index->kind != OCI_MANIFEST_INDEX || index->n_manifests == 0) {
                pull_set_error(p, "index.json: not an image index naming an image");
                return r == -ENOMEM ? r : -EBADMSG;
        }
        if (index->n_manifests == 1)
                d = &index->manifests[0];
        else {
                OciPlatform host;

                oci_platform_host(&host);
                if (oci_index_select(index, &host, &d) < 0) {
                        pull_set_error(p, "index.json has no image for linux/%s", host.architecture);
                        return -ENOENT;
                }
        }
        free(TAKE_PTR(body));
        r = oci_layout_read_blob(p->layout_fd, p->layout_uid, d->digest, d->size, OCI_MANIFEST_SIZE_MAX,
                                 &body, &size);
        if (r < 0)
                return local_failed(p, r, d->digest);
        r = oci_manifest_parse(d->media_type, body, size, &m);
        if (r < 0 || m->kind != OCI_MANIFEST_IMAGE) {
                pull_set_error(p, "manifest %s: not a valid image manifest", d->digest);
                return r == -ENOMEM ? r : -EBADMSG;
        }
        memcpy(p->digest, d->digest, sizeof(p->digest));
        *ret = TAKE_PTR(m);
        return 0;
}

static int fetch_manifest(OciPull *p, OciManifest **ret) {
        _cleanup_(oci_manifest_freep) OciManifest *m = NULL;
        _cleanup_free_ char *body = NULL, *type = NULL;
        char digest[OCI_DIGEST_LEN + 1];
        size_t size;
        int r;

        if (p->source_fd >= 0)
                return fetch_local_manifest(p, ret);

        r = oci_registry_get_manifest(p->registry, oci_reference_manifest_ref(p->ref), &body, &size, &type,
                                      p->digest);
        if (r < 0)
                return registry_failed(p, r, "manifest");
        r = oci_manifest_parse(type, body, size, &m);
        if (r < 0) {
                pull_set_error(p, "manifest of %s: %s", p->name,
                               r == -EMEDIUMTYPE ? "unsupported media type"
                                                 : "malformed or over the limits");
                return r == -ENOMEM ? r : -EBADMSG;
        }
        if (m->kind == OCI_MANIFEST_INDEX) {
                const OciDescriptor *d;
                OciPlatform host;

                oci_platform_host(&host);
                r = oci_index_select(m, &host, &d);
                if (r < 0) {
                        pull_set_error(p, "%s has no image for linux/%s%s%s", p->name, host.architecture,
                                       host.variant[0] ? "/" : "", host.variant);
                        return -ENOENT;
                }
                memcpy(digest, d->digest, sizeof(digest));
                free(body);
                free(type);
                body = type = NULL;
                m = oci_manifest_free(m);
                r = oci_registry_get_manifest(p->registry, digest, &body, &size, &type, digest);
                if (r < 0)
                        return registry_failed(p, r, "platform manifest");
                r = oci_manifest_parse(type, body, size, &m);
                if (r < 0 || m->kind != OCI_MANIFEST_IMAGE) {
                        pull_set_error(p, "platform manifest %s: not a valid image manifest", digest);
                        return r == -ENOMEM ? r : -EBADMSG;
                }
        }
        *ret = TAKE_PTR(m);
        return 0;
}

static int layer_progress(uint64_t bytes, void *userdata) {
        PullLayer *l = userdata;
        atomic_fetch_add(&l->done, bytes);
        return 0;
}

/* Opens tmp_dir/tree/rel (tree: a job's work directory), a regular file, without following symlinks or
 * leaving tmp_dir: the helper that wrote it could write anywhere in tmp_dir, and its work is not trusted. */
static int open_in_tree(const char *tmp_dir, const char *tree, const char *rel) {
        _cleanup_close_ int tmp_fd = -EBADF, tree_fd = -EBADF;

        tmp_fd = open(tmp_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (tmp_fd < 0)
                return -errno;
        tree_fd = oci_open_no_symlinks(tmp_fd, tree, O_RDONLY | O_DIRECTORY, (uid_t) -1);
        if (tree_fd < 0)
                return tree_fd;
        return oci_open_no_symlinks(tree_fd, rel, O_RDONLY, (uid_t) -1);
}

static int add_boot_blob(OciPull *p, const char *work, const char *rel, ImageBlobKind kind, PullBlob *b) {
        _cleanup_free_ char *temp = NULL;
        _cleanup_close_ int fd = -EBADF;
        int r;

        fd = open_in_tree(p->store->tmp_dir, work, rel);
        if (fd < 0)
                return fd;
        r = image_blob_write_temp(p->store->blobs_fd, fd, kind, NULL, NULL, &temp, b->file.blob,
                                  &b->file.size);
        if (r < 0)
                return r;
        r = pending_ref(p, b);
        if (r < 0) {
                (void) unlinkat(p->store->blobs_fd, temp, 0);
                b->file.blob[0] = '\0';
                return r;
        }
        return image_blob_commit_temp(p->store->blobs_fd, temp, b->file.blob, kind, &b->created);
}

/* A layer's boot files, remembered on its EROFS blob: a later image sharing the layer (named after its
 * digest, so the same content) needs them without unpacking it again. "<kernel hex|-> <initrd hex|->". */
#define BOOT_XATTR "user.cocoon.boot"

static void remember_boot(OciPull *p, PullLayer *l) {
        char name[IMAGE_BLOB_HEX_LEN + 8], value[2 * IMAGE_BLOB_HEX_LEN + 2];
        _cleanup_close_ int fd = -EBADF;

        snprintf(name, sizeof(name), "%s.erofs", l->erofs.file.blob);
        snprintf(value, sizeof(value), "%.*s %.*s", IMAGE_BLOB_HEX_LEN,
                 l->boot[BOOT_KERNEL].file.blob[0] ? l->boot[BOOT_KERNEL].file.blob : "-", IMAGE_BLOB_HEX_LEN,
                 l->boot[BOOT_INITRD].file.blob[0] ? l->boot[BOOT_INITRD].file.blob : "-");
        fd = openat(p->store->blobs_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        /* Where xattrs cannot be set, a later image unpacks the layer again: slower, still right. */
        if (fd >= 0)
                (void) fsetxattr(fd, BOOT_XATTR, value, strlen(value), 0);
}

/* A cached layer's boot files from remember_boot(): 1 when known (each there and held pending), 0 when
 * not (no note, or a boot blob gone meanwhile): then the layer is unpacked again to find them. */
static int recall_boot(OciPull *p, PullLayer *l, int erofs_fd) {
        char value[2 * IMAGE_BLOB_HEX_LEN + 2] = {}, hex[2][IMAGE_BLOB_HEX_LEN + 1];
        ssize_t n = fgetxattr(erofs_fd, BOOT_XATTR, value, sizeof(value) - 1);
        int r;

        if (n < 0 || sscanf(value, "%64s %64s", hex[0], hex[1]) != 2)
                return 0;
        for (int b = BOOT_KERNEL; b <= BOOT_INITRD; b++) {
                ImageBlobKind kind = b == BOOT_KERNEL ? IMAGE_BLOB_KERNEL : IMAGE_BLOB_INITRD;
                _cleanup_free_ char *name = NULL;
                PullBlob *blob = &l->boot[b];
                struct stat st;

                if (streq(hex[b], "-"))
                        continue;
                if (strlen(hex[b]) != IMAGE_BLOB_HEX_LEN ||
                    strspn(hex[b], "0123456789abcdef") != IMAGE_BLOB_HEX_LEN ||
                    image_blob_file_name(hex[b], kind, &name) < 0)
                        return 0;
                memcpy(blob->file.blob, hex[b], sizeof(blob->file.blob));
                /* Pending before looking, as for the layer: GC cannot take it between. */
                r = pending_ref(p, blob);
                if (r < 0)
                        return r;
                if (fstatat(p->store->blobs_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
                        return 0;
                blob->file.size = (uint64_t) st.st_size;
        }
        return 1;
}

/* The pull's helper unit (oci-unpack.h): started once, by the first caller. */
static int start_unpacker(OciPull *p, OciUnpacker **ret) {
        int r;

        pthread_mutex_lock(&p->unpacker_lock);
        if (!p->unpacker && p->unpacker_result == 0) {
                p->unpacker_result = oci_unpacker_get(p->options.unpack_helper, p->store->blobs_dir,
                                                      p->store->tmp_dir, p->options.unpack_memory,
                                                      &p->unpacker);
                if (p->unpacker_result == 0)
                        p->unpacker_result = 1;
        }
        r = p->unpacker_result;
        if (ret)
                *ret = p->unpacker;
        pthread_mutex_unlock(&p->unpacker_lock);
        return r < 0 ? r : 0;
}

/* The unit for a layer to unpack: already started (see oci_pull_run()), or now. */
static int get_unpacker(OciPull *p, OciUnpacker **ret) {
        int r = start_unpacker(p, ret);

        if (r == -ENOENT)
                pull_set_error(p, "the layer unpacker cocoon-unpack is not installed next to cocoon-manager");
        else if (r < 0)
                pull_set_error(p, "cannot start the layer unpacker: %s", strerror(-r));
        return r;
}

/* Hands the layer in fd (a file, or the read end of a pipe the caller then feeds) to the helper. */
static int submit_layer(OciPull *p, PullLayer *l, int fd, const char *work, const char *erofs, bool on_disk,
                        OciUnpacker **ret_unpacker, int *ret_answer_fd) {
        _cleanup_free_ char *error = NULL;
        int r;

        r = get_unpacker(p, ret_unpacker);
        if (r < 0)
                return r;
        r = oci_unpacker_submit(*ret_unpacker, fd, l->digest, work, erofs, l->size, on_disk, ret_answer_fd,
                                &error);
        if (r < 0)
                pull_set_error(p, "layer %s: %s", l->digest, error ?: strerror(-r));
        return r;
}

/* The helper's answer for the layer; its failure becomes the pull's error unless quiet (another failure,
 * the transfer's, is the one to tell) or -EAGAIN (no failure: the layer goes again, on disk). */
static int wait_layer(OciPull *p, PullLayer *l, OciUnpacker *unpacker, int answer_fd, bool quiet,
                      OciLayerBoot *ret_boot) {
        _cleanup_free_ char *error = NULL;
        int r = oci_unpacker_wait(unpacker, answer_fd, ret_boot, &error);

        if (r < 0 && r != -EAGAIN && !quiet)
                pull_set_error(p, "layer %s: %s", l->digest, error ?: strerror(-r));
        return r;
}

/* A registry layer: the download goes through a pipe into the helper as it arrives, so that unpacking
 * overlaps the transfer (and the other layers' work uses the other CPUs). The digest is known only at the
 * end: on a mismatch the helper's output is dropped like any failure's. */
static int stream_layer(OciPull *p, PullLayer *l, const char *work, const char *erofs, bool on_disk,
                        OciLayerBoot *ret_boot) {
        _cleanup_close_ int rfd = -EBADF, wfd = -EBADF, answer_fd = -EBADF;
        OciUnpacker *unpacker;
        int pipefd[2], r, k;

        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return -errno;
        rfd = pipefd[0];
        wfd = pipefd[1];
        /* Room for bursts while the helper waits for a CPU; the default 64 KiB is fine too. */
        (void) fcntl(wfd, F_SETPIPE_SZ, 1024 * 1024);
        if (fcntl(wfd, F_SETFL, O_NONBLOCK) < 0)
                return -errno;
        r = submit_layer(p, l, rfd, work, erofs, on_disk, &unpacker, &answer_fd);
        if (r < 0)
                return r;
        /* The helper's child holds the read end now: when it is gone, writing fails (EPIPE). */
        rfd = safe_close(rfd);
        r = oci_registry_fetch_blob(p->registry, l->digest, l->size, wfd, layer_progress, l);
        /* End of stream: the helper finishes (or fails on a truncated layer). */
        wfd = safe_close(wfd);
        /* Always the answer first: until then the helper may still be writing below work. A helper that
         * stopped reading (-EPIPE) says why in it; a transfer that failed is the error to tell. */
        k = wait_layer(p, l, unpacker, answer_fd, r < 0 && r != -EPIPE, ret_boot);
        if (r < 0 && !(r == -EPIPE && k < 0)) {
                oci_layer_boot_done(ret_boot);
                return registry_failed(p, r, l->digest);
        }
        return k;
}

/* A local layer: copied (and verified) first, then given to the helper. */
static int copy_layer(OciPull *p, PullLayer *l, const char *work, const char *erofs, bool on_disk,
                      OciLayerBoot *ret_boot) {
        _cleanup_close_ int fd = -EBADF, answer_fd = -EBADF;
        OciUnpacker *unpacker;
        int r;

        fd = open(p->store->tmp_dir, O_RDWR | O_TMPFILE | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        r = oci_layout_copy_blob(p->layout_fd, p->layout_uid, l->digest, l->size, fd, layer_progress, l,
                                 p->cancel);
        if (r < 0)
                return local_failed(p, r, l->digest);
        if (atomic_load(p->cancel))
                return -ECANCELED;
        r = submit_layer(p, l, fd, work, erofs, on_disk, &unpacker, &answer_fd);
        if (r < 0)
                return r;
        return wait_layer(p, l, unpacker, answer_fd, false, ret_boot);
}

/* Download (streamed into the helper) or copy, unpack and mkfs.erofs in the confined helper
 * (oci-unpack.h), keep the boot files; everything temporary goes in every case. */
static int build_layer(OciPull *p, PullLayer *l) {
        _cleanup_free_ char *work = NULL, *erofs = NULL, *erofs_name = NULL;
        OciLayerBoot boot = {};
        struct stat st;
        int r;

        if (asprintf(&work, "%s/layer-XXXXXX", p->store->tmp_dir) < 0)
                return -ENOMEM;
        if (!mkdtemp(work)) {
                free(TAKE_PTR(work));
                return -errno;
        }
        if (asprintf(&erofs_name, TEMP_FILE_PREFIX "layer-%.12s-XXXXXX", l->digest + 7) < 0 ||
            asprintf(&erofs, "%s/%s", p->store->blobs_dir, erofs_name) < 0) {
                r = -ENOMEM;
                goto finish;
        }
        {
                int tfd = mkostemp(erofs, O_CLOEXEC);
                if (tfd < 0) {
                        r = -errno;
                        goto finish;
                }
                close(tfd);
                free(erofs_name);
                erofs_name = strdup(strrchr(erofs, '/') + 1);
                if (!erofs_name) {
                        r = -ENOMEM;
                        (void) unlink(erofs);
                        goto finish;
                }
        }
        /* The helper unpacks in memory when it has room; a tree that turns out too big for it is done
         * again on disk (downloaded again: the pipe is spent). */
        for (bool on_disk = false;; on_disk = true) {
                r = p->source_fd >= 0 ? copy_layer(p, l, work, erofs, on_disk, &boot)
                                      : stream_layer(p, l, work, erofs, on_disk, &boot);
                if (r != -EAGAIN || on_disk)
                        break;
                atomic_store(&l->done, 0);
        }
        if (r >= 0 && atomic_load(p->cancel))
                r = -ECANCELED;
        if (r >= 0 && stat(erofs, &st) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlink(erofs);
                goto finish;
        }
        l->erofs.file.size = (uint64_t) st.st_size;
        /* The helper wrote the file: a boot note on it would be its word, not ours (remember_boot()). */
        if (lremovexattr(erofs, BOOT_XATTR) < 0 && errno != ENODATA && errno != ENOTSUP) {
                r = -errno;
                (void) unlink(erofs);
                goto finish;
        }
        /* The unpacker wrote the image; it is on disk only once we fsync it, before its name makes it a
         * blob (a crash must not leave an empty or short blob under a name that says it is whole). */
        r = fsync_file_at(p->store->blobs_fd, erofs_name);
        if (r < 0) {
                (void) unlink(erofs);
                goto finish;
        }
        r = image_blob_commit_temp(p->store->blobs_fd, erofs_name, l->erofs.file.blob, IMAGE_BLOB_LAYER,
                                   &l->erofs.created);
        if (r < 0)
                goto finish;

        if (boot.kernel) {
                r = add_boot_blob(p, strrchr(work, '/') + 1, boot.kernel, IMAGE_BLOB_KERNEL,
                                  &l->boot[BOOT_KERNEL]);
                if (r < 0)
                        goto finish;
        }
        if (boot.initrd)
                r = add_boot_blob(p, strrchr(work, '/') + 1, boot.initrd, IMAGE_BLOB_INITRD,
                                  &l->boot[BOOT_INITRD]);
        if (r >= 0)
                remember_boot(p, l);
finish:
        oci_layer_boot_done(&boot);
        if (work)
                (void) rm_rf(work);
        return r;
}

static int pull_layer(OciPull *p, PullLayer *l) {
        struct stat st;
        char name[IMAGE_BLOB_HEX_LEN + 8];
        int r;

        memcpy(l->erofs.file.blob, l->digest + strlen(OCI_DIGEST_PREFIX), IMAGE_BLOB_HEX_LEN + 1);
        /* Pending before looking: GC cannot take a blob between our check and our record. */
        r = pending_ref(p, &l->erofs);
        if (r < 0)
                return r;
        snprintf(name, sizeof(name), "%s.erofs", l->erofs.file.blob);
        _cleanup_close_ int fd = openat(p->store->blobs_fd, name,
                                        O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd >= 0 && fstat(fd, &st) >= 0 && S_ISREG(st.st_mode)) {
                /* Layers are named after their digest: present means done, by an earlier pull; its boot
                 * files too when the blob says which they are. */
                r = recall_boot(p, l, fd);
                if (r < 0)
                        return r;
                if (r > 0) {
                        l->erofs.file.size = (uint64_t) st.st_size;
                        atomic_store(&l->done, l->size);
                        return 0;
                }
                for (int b = BOOT_KERNEL; b <= BOOT_INITRD; b++) {
                        blob_release(p, &l->boot[b],
                                     b == BOOT_KERNEL ? IMAGE_BLOB_KERNEL : IMAGE_BLOB_INITRD, false);
                        l->boot[b].file = (ImageFile){};
                }
        }
        return build_layer(p, l);
}

static void *layer_worker(void *userdata) {
        OciPull *p = userdata;
        size_t n = atomic_load(&p->n_layers);

        for (;;) {
                size_t i = atomic_fetch_add(&p->next, 1);
                int r;

                if (i >= n || atomic_load(p->cancel) || atomic_load(&p->stop))
                        return NULL;
                r = pull_layer(p, &p->layers[i]);
                if (r < 0) {
                        if (r != -ECANCELED)
                                pull_set_error(p, "layer %s: %s", p->layers[i].digest, strerror(-r));
                        /* The first failure stops the others: the pull fails anyway. */
                        atomic_store(&p->stop, true);
                        return (void *) (intptr_t) r;
                }
        }
}

static int pull_layers(OciPull *p, const OciManifest *m) {
        pthread_t threads[64];
        size_t n_threads = MIN(MIN((size_t) p->options.parallel, m->n_layers), ELEMENTSOF(threads)),
               started = 0;
        int result = 0;

        p->layers = calloc(m->n_layers, sizeof(PullLayer));
        if (!p->layers)
                return -ENOMEM;
        for (size_t i = 0; i < m->n_layers; i++) {
                memcpy(p->layers[i].digest, m->layers[i].digest, sizeof(p->layers[i].digest));
                p->layers[i].size = m->layers[i].size;
        }
        atomic_store(&p->n_layers, m->n_layers);

        for (; started < n_threads; started++)
                if (pthread_create(&threads[started], NULL, layer_worker, p) != 0)
                        break;
        if (started == 0)
                return -EAGAIN;
        for (size_t i = 0; i < started; i++) {
                void *ret;
                pthread_join(threads[i], &ret);
                /* The failure that stopped the others, not their -ECANCELED. */
                if (ret && (result == 0 || result == -ECANCELED))
                        result = (int) (intptr_t) ret;
        }
        /* Every answer is in: the helper may go. */
        p->unpacker = oci_unpacker_free(p->unpacker);
        if (result == 0 && atomic_load(p->cancel))
                result = -ECANCELED;
        return result;
}

/* The caller's file as a layout to read: a directory as it is, a tarball extracted into tmp_dir. */
static int open_local(OciPull *p) {
        _cleanup_free_ char *error = NULL;
        bool image = true;
        OciLocalKind kind;
        int r;

        r = oci_local_detect(p->source_fd, &kind);
        if (r < 0) {
                pull_set_error(p, "not a directory or a regular file");
                return -EBADMSG;
        }
        switch (kind) {
        case OCI_LOCAL_LAYOUT:
                if (p->n_layer_fds > 0) {
                        pull_set_error(p, "a directory: several files must each be a layer tar");
                        return -EMEDIUMTYPE;
                }
                p->layout_fd = fcntl(p->source_fd, F_DUPFD_CLOEXEC, 3);
                p->layout_uid = p->options.caller_uid;
                return p->layout_fd < 0 ? -errno : 0;
        case OCI_LOCAL_TARBALL:
        case OCI_LOCAL_GZIP:
                if (p->n_layer_fds > 0)
                        image = false;
                else if ((r = oci_archive_is_image(p->source_fd, &image)) < 0)
                        return r;
                break;
        case OCI_LOCAL_QCOW2:
                pull_set_error(p, "a qcow2 cloud image: not supported");
                return -EMEDIUMTYPE;
        default:
                pull_set_error(p, "neither a directory nor a tar archive");
                return -EMEDIUMTYPE;
        }
        if (asprintf(&p->archive_dir, "%s/archive-XXXXXX", p->store->tmp_dir) < 0)
                return -ENOMEM;
        if (!mkdtemp(p->archive_dir)) {
                p->archive_dir = mfree(p->archive_dir);
                return -errno;
        }
        p->layout_uid = (uid_t) -1;
        p->layout_fd = open(p->archive_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (p->layout_fd < 0)
                return -errno;
        if (image)
                r = oci_archive_extract(p->source_fd, p->layout_fd, p->cancel, &error);
        else {
                _cleanup_free_ int *fds = calloc(p->n_layer_fds + 1, sizeof(int));
                if (!fds)
                        return -ENOMEM;
                fds[0] = p->source_fd;
                memcpy(fds + 1, p->layer_fds, p->n_layer_fds * sizeof(int));
                r = oci_layers_to_layout(fds, p->n_layer_fds + 1, p->layout_fd, p->cancel, &error);
        }
        if (r < 0 && r != -ECANCELED && r != -ENOMEM)
                pull_set_error(p, "%s: %s", image ? "archive" : "layers", error ?: strerror(-r));
        return r;
}

static int run_local(OciPull *p, OciManifest **ret_manifest, char **ret_config, size_t *ret_config_size) {
        _cleanup_(oci_manifest_freep) OciManifest *m = NULL;
        int r;

        r = open_local(p);
        if (r < 0)
                return r;
        r = fetch_manifest(p, &m);
        if (r < 0)
                return r;
        r = oci_layout_read_blob(p->layout_fd, p->layout_uid, m->config.digest, m->config.size,
                                 OCI_CONFIG_SIZE_MAX, ret_config, ret_config_size);
        if (r < 0)
                return local_failed(p, r, "config");
        *ret_manifest = TAKE_PTR(m);
        return 0;
}

int oci_pull_run(OciPull *p) {
        _cleanup_(oci_manifest_freep) OciManifest *m = NULL;
        _cleanup_free_ char *config = NULL;
        size_t config_size;
        int r;

        /* An image new to the store (an import always is) needs its layers unpacked, most likely: systemd
         * starts the helper's unit while we read the manifest. A pull of an image we have, most often
         * unchanged, starts it only for a layer it lacks. A failure to start is told by the first layer. */
        if (!p->known_digest[0])
                (void) start_unpacker(p, NULL);
        if (p->source_fd >= 0) {
                r = run_local(p, &m, &config, &config_size);
                if (r < 0)
                        return r;
                goto check_config;
        }
        r = oci_registry_new(p->ref,
                             &(OciRegistryOptions){.insecure = p->options.insecure,
                                                   .auth_file = p->options.auth_file,
                                                   .cancel = p->cancel,
                                                   .stop = &p->stop},
                             &p->registry);
        if (r < 0) {
                pull_set_error(p, "credentials: %s",
                               r == -EBADMSG ? "auth file does not parse" : strerror(-r));
                return r;
        }
        r = fetch_manifest(p, &m);
        if (r < 0)
                return r;
        if (p->known_digest[0] && streq(p->digest, p->known_digest)) {
                /* Nothing changed: oci_pull_commit() keeps the record, which holds every blob. */
                p->unchanged = p->succeeded = true;
                return 0;
        }
        r = oci_registry_get_blob(p->registry, m->config.digest, m->config.size, OCI_CONFIG_SIZE_MAX,
                                  &config, &config_size);
        if (r < 0)
                return registry_failed(p, r, "config");
check_config:
        r = oci_config_check(config, config_size, m->n_layers, NULL);
        if (r < 0) {
                pull_set_error(p, "config %s: not a linux image config matching the manifest",
                               m->config.digest);
                return r == -ENOMEM ? r : -EBADMSG;
        }
        r = pull_layers(p, m);
        if (r < 0)
                return r;
        p->succeeded = true;
        return 0;
}

int oci_pull_commit(OciPull *p, const char *const *pinned_blob_ids, const Image **ret) {
        _cleanup_(image_freep) Image *img = NULL;
        const Image *existing;
        size_t n = atomic_load(&p->n_layers);
        int r;

        if (!p->succeeded)
                return -ESTALE;
        if (image_store_get(p->store, p->name, &existing) >= 0 && existing->type == IMAGE_TYPE_OCI &&
            streq(existing->name, p->name) && streq(existing->digest, p->digest)) {
                *ret = existing;
                return 0;
        }
        /* The image it found unchanged was removed or replaced meanwhile: no layers to record. */
        if (p->unchanged) {
                pull_set_error(p, "the image %s changed in the store during the pull; pull again", p->name);
                return -ESTALE;
        }

        img = calloc(1, sizeof(Image));
        if (!img)
                return -ENOMEM;
        img->type = IMAGE_TYPE_OCI;
        img->name = strdup(p->name);
        img->layers = calloc(n, sizeof(ImageFile));
        if (!img->name || !img->layers)
                return -ENOMEM;
        r = id_generate(img->id);
        if (r < 0)
                return r;
        memcpy(img->digest, p->digest, sizeof(img->digest));
        img->n_layers = n;
        for (size_t i = 0; i < n; i++) {
                img->layers[i] = p->layers[i].erofs.file;
                img->size += img->layers[i].size;
                /* The topmost layer that has a kernel (initrd) wins, as it would in the merged tree. */
                if (image_file_present(&p->layers[i].boot[BOOT_KERNEL].file))
                        img->files[IMAGE_BLOB_KERNEL] = p->layers[i].boot[BOOT_KERNEL].file;
                if (image_file_present(&p->layers[i].boot[BOOT_INITRD].file))
                        img->files[IMAGE_BLOB_INITRD] = p->layers[i].boot[BOOT_INITRD].file;
        }
        img->size += img->files[IMAGE_BLOB_KERNEL].size + img->files[IMAGE_BLOB_INITRD].size;
        img->created_at = now_usec(CLOCK_REALTIME);

        r = image_store_put(p->store, img, pinned_blob_ids, ret);
        if (r < 0)
                return r;
        TAKE_PTR(img);
        /* The record holds the blobs now: drop our pending uses, keeping what the record names. */
        for (size_t i = 0; i < n; i++) {
                blob_release(p, &p->layers[i].erofs, IMAGE_BLOB_LAYER, true);
                for (int b = BOOT_KERNEL; b <= BOOT_INITRD; b++)
                        blob_release(p, &p->layers[i].boot[b],
                                     b == BOOT_KERNEL ? IMAGE_BLOB_KERNEL : IMAGE_BLOB_INITRD, false);
        }
        return 0;
}
