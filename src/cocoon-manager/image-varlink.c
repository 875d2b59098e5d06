/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* io.cocoon.Image methods: Import (files passed open by the caller, copied in a worker thread), List,
 * Inspect, Delete (refused while a VM created from the image exists). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image-store.h"
#include "image-varlink.h"
#include "job-queue.h"
#include "json-util.h"
#include "log.h"
#include "manager.h"
#include "manager-operations.h"
#include "snapshot-store.h"
#include "strv-util.h"
#include "time-util.h"
#include "varlink-interfaces.h"

static const char *const kind_field[_IMAGE_BLOB_KIND_MAX] = {
        [IMAGE_BLOB_KERNEL] = "kernel",
        [IMAGE_BLOB_INITRD] = "initrd",
        [IMAGE_BLOB_ROOTFS] = "rootfs",
};

static int reply_field_error(Varlink *link, const char *error_id, const char *key, const char *value,
                             const char *message) {
        _cleanup_(json_object_putp) json_object *p = json_object_new_object();
        if (!p || json_add_string(p, key, value) < 0 ||
            (message && json_add_string(p, "message", message) < 0))
                return -ENOMEM;
        return varlink_error(link, error_id, p);
}

static int reply_no_such_image(Varlink *link, const char *ref, int error) {
        _cleanup_free_ char *message = NULL;
        if (asprintf(&message,
                     error == -ENOTUNIQ ? "'%s' matches several images"
                                        : "no image with id, name or id prefix '%s'",
                     ref) < 0)
                return -ENOMEM;
        return reply_field_error(link, IMAGE_ERROR_NO_SUCH_IMAGE, "reference", ref, message);
}

static int reply_image(Varlink *link, const Image *img) {
        _cleanup_(json_object_putp) json_object *reply = json_object_new_object();
        json_object *o;
        if (!reply)
                return -ENOMEM;
        int r = image_to_json(img, &o);
        if (r < 0)
                return r;
        if (json_add_object(reply, "image", o) < 0)
                return -ENOMEM;
        return varlink_reply(link, reply);
}

/* ---- Import ---- */

static const char *const fd_field[_IMAGE_BLOB_KIND_MAX] = {
        [IMAGE_BLOB_KERNEL] = "kernelFileDescriptor",
        [IMAGE_BLOB_INITRD] = "initrdFileDescriptor",
        [IMAGE_BLOB_ROOTFS] = "rootfsFileDescriptor",
};

typedef struct ImportRequest {
        const char *name, *paths[_IMAGE_BLOB_KIND_MAX], *cmdline;
        int64_t fd_index[_IMAGE_BLOB_KIND_MAX]; /* -1: none */
} ImportRequest;

typedef struct ImportCall {
        Manager *manager;
        Varlink *link;
        ImageImport *import;
        pid_t pid; /* root path imports: the caller's root directory is /proc/<pid>/root */
        char *paths[_IMAGE_BLOB_KIND_MAX]; /* root only */
        int fds[_IMAGE_BLOB_KIND_MAX]; /* passed by the caller, or opened for root's paths */
        const char *failed_field; /* set by the worker: which file the error is about */
        OperationProgress progress; /* bytes copied, for ListOperations and the caller; cancelled when the
                                     * caller went away */
        sd_event_source *progress_timer; /* callers that asked for more get the progress as it goes */
        uint64_t progress_sent;
} ImportCall;

static ImportCall *import_call_free(ImportCall *c) {
        if (!c)
                return NULL;
        operations_detach_progress(c->manager->operations, &c->progress);
        sd_event_source_disable_unref(c->progress_timer);
        image_import_free(c->import);
        varlink_unref(c->link);
        for (ImageBlobKind k = 0; k < _IMAGE_BLOB_KIND_MAX; k++) {
                free(c->paths[k]);
                safe_close(c->fds[k]);
        }
        return mfree(c);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(ImportCall *, import_call_free);

/* Opens a path root named as root's own process sees it (its root directory, which may be a chroot or
 * another mount namespace's, when we may open it), one component at a time and following no symbolic link and no "..": a link
 * swapped in by someone else cannot redirect the open. (openat2() with RESOLVE_IN_ROOT would do the same,
 * but RestrictSUIDSGID= makes it ENOSYS.) O_NONBLOCK: a FIFO fails the type check instead of hanging. */
static int open_in_caller_root(pid_t pid, const char *path, int *ret_fd) {
        _cleanup_free_ char *copy = strdup(path);
        _cleanup_close_ int dir = -EBADF;
        char proc[64], *p, *next;
        int fd;

        if (!copy)
                return -ENOMEM;
        snprintf(proc, sizeof(proc), "/proc/%d/root", (int) pid);
        dir = open(proc, O_PATH | O_DIRECTORY | O_CLOEXEC);
        /* Another process's root directory needs CAP_SYS_PTRACE, which the manager's unit does not grant:
         * then the path is resolved from our own root, the same way. */
        if (dir < 0 && (errno == EACCES || errno == EPERM))
                dir = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dir < 0)
                return negative_errno();

        for (p = copy; *p == '/'; p++)
                ;
        for (;;) {
                next = strchr(p, '/');
                if (next)
                        *next++ = '\0';
                if (streq(p, ".."))
                        return -EXDEV;
                if (!next || next[strspn(next, "/")] == '\0')
                        break; /* p is the last component */
                if (!isempty(p) && !streq(p, ".")) {
                        /* O_NOFOLLOW|O_DIRECTORY: a symlink here is ENOTDIR, never followed. */
                        int sub = openat(dir, p, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (sub < 0)
                                return errno == ENOTDIR ? -ELOOP : negative_errno();
                        safe_close(dir);
                        dir = sub;
                }
                for (p = next; *p == '/'; p++)
                        ;
        }
        if (isempty(p) || streq(p, "."))
                return -EISDIR;
        fd = openat(dir, p, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW);
        if (fd < 0)
                return negative_errno();
        *ret_fd = fd;
        return 0;
}

/* In the worker, after each chunk: counts it, and stops the copy once the caller went away. */
static int import_progress(uint64_t bytes, void *userdata) {
        ImportCall *c = userdata;

        if (atomic_load(&c->progress.cancelled))
                return -ECANCELED;
        atomic_fetch_add(&c->progress.done, bytes);
        return 0;
}

/* The bytes to copy: the files' sizes as they are now (a file that grows meanwhile makes progress pass
 * 100 %, no harm). */
static void import_set_total(ImportCall *c) {
        uint64_t total = 0;
        struct stat st;

        for (ImageBlobKind k = 0; k < _IMAGE_BLOB_KIND_MAX; k++)
                if (c->fds[k] >= 0 && fstat(c->fds[k], &st) >= 0 && st.st_size > 0)
                        total += (uint64_t) st.st_size;
        atomic_store(&c->progress.total, total);
}

static int import_work(void *userdata) {
        ImportCall *c = userdata;
        int r;

        /* Check each file first so errors name the parameter at fault. */
        for (ImageBlobKind k = 0; k < _IMAGE_BLOB_KIND_MAX; k++) {
                if (c->paths[k]) {
                        c->failed_field = kind_field[k];
                        r = open_in_caller_root(c->pid, c->paths[k], &c->fds[k]);
                        if (r < 0)
                                return r;
                        r = image_import_set_fd(c->import, k, c->fds[k]);
                        if (r < 0)
                                return r;
                } else if (c->fds[k] >= 0)
                        c->failed_field = fd_field[k];
                else
                        continue;
                r = image_blob_check_source(c->fds[k], k);
                if (r < 0)
                        return r;
        }
        c->failed_field = NULL; /* what fails in the copy is I/O, not a field */
        import_set_total(c);
        return image_import_copy(c->import);
}

static const char *import_error_message(int error) {
        switch (error) {
        case -ENOENT:
                return "no such file";
        case -EISDIR:
                return "is a directory";
        case -EBADFD:
                return "not a regular file";
        case -EBADF:
                return "not open for reading";
        case -EINVAL:
                return "file is empty";
        case -EMEDIUMTYPE:
                return "not an ext2/3/4 file system image";
        case -ENOTDIR:
                return "a component of the path is not a directory";
        case -ELOOP:
                return "the path has a symbolic link (none is followed; pass the file as a descriptor)";
        case -EXDEV:
                return "the path leaves the caller's root directory";
        case -EACCES:
        case -EPERM:
                return "permission denied";
        default:
                return NULL;
        }
}

static void import_done(int result, void *userdata) {
        _cleanup_(import_call_freep) ImportCall *c = userdata;
        const char *message = import_error_message(result);
        const Image *img;

        if (atomic_load(&c->progress.cancelled)) {
                /* Freeing the import rolls it back: its name, its temporary files and the blobs it made. */
                log_info("Import of image %s cancelled: its caller went away.",
                         image_import_name(c->import));
                return;
        }
        if (result == -ECANCELED)
                return;
        if (result < 0 && message && c->failed_field) {
                (void) reply_field_error(c->link, IMAGE_ERROR_INVALID_IMAGE, "field", c->failed_field,
                                         message);
                return;
        }
        if (result >= 0)
                result = image_import_commit(c->import, &img);
        if (result < 0)
                (void) varlink_error_errno(c->link, -result);
        else
                (void) reply_image(c->link, img);
}

/* How often a caller that asked for more hears of an import's progress. */
#define IMPORT_PROGRESS_INTERVAL_USEC (200 * USEC_PER_MSEC)

/* On the loop: a "continues" reply with the bytes copied so far, when they changed. */
static int on_progress_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        ImportCall *c = userdata;
        uint64_t done = atomic_load(&c->progress.done), total = atomic_load(&c->progress.total);

        if (done != c->progress_sent) {
                _cleanup_(json_object_putp) json_object *p = json_object_new_object();
                if (p && json_add_uint64(p, "bytesDone", done) >= 0 &&
                    (total == 0 || json_add_uint64(p, "bytesTotal", total) >= 0)) {
                        int r = varlink_notify(c->link, p);
                        if (r < 0) /* the caller is gone or does not read: no more progress for it */
                                return sd_event_source_set_enabled(s, SD_EVENT_OFF);
                        c->progress_sent = done;
                }
        }
        (void) sd_event_source_set_time_relative(s, IMPORT_PROGRESS_INTERVAL_USEC);
        return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

static int reply_invalid_field(Varlink *link, const char *field, const char *message) {
        return reply_field_error(link, IMAGE_ERROR_INVALID_IMAGE, "field", field, message) ?: 1;
}

/* Checks the request; > 0 when it replied with an error. */
static int import_request_check(Varlink *link, const ImportRequest *req, uid_t uid) {
        if (!image_name_is_valid(req->name))
                return reply_invalid_field(link, "name", "must match [A-Za-z0-9][A-Za-z0-9._-]{0,62}");
        for (ImageBlobKind k = 0; k < _IMAGE_BLOB_KIND_MAX; k++) {
                if (req->paths[k] && req->fd_index[k] >= 0)
                        return reply_invalid_field(link, fd_field[k],
                                                   "give the file as a path or as a descriptor, not both");
                if (req->fd_index[k] >= (int64_t) varlink_get_n_fds(link))
                        return reply_invalid_field(link, fd_field[k],
                                                   "no file descriptor with that index came with the call");
                if (!req->paths[k])
                        continue;
                /* The manager reads as root: it opens nothing a caller merely names. */
                if (uid != 0) {
                        _cleanup_free_ char *message = NULL;
                        if (asprintf(&message,
                                     "%s: only root may import a file by path; pass it open as %s",
                                     kind_field[k], fd_field[k]) < 0)
                                return -ENOMEM;
                        return reply_field_error(link, COCOON_ERROR_PERMISSION_DENIED, "method",
                                                 "io.cocoon.Image.Import", message) ?: 1;
                }
                if (req->paths[k][0] != '/')
                        return reply_invalid_field(link, kind_field[k], "must be an absolute path");
        }
        if (!req->paths[IMAGE_BLOB_KERNEL] && req->fd_index[IMAGE_BLOB_KERNEL] < 0)
                return reply_invalid_field(link, fd_field[IMAGE_BLOB_KERNEL], "the kernel is required");
        if (!image_cmdline_is_valid(req->cmdline))
                return reply_invalid_field(link, "cmdline", "at most 1024 printable ASCII characters");
        return 0;
}

int vl_method_image_import(Varlink *link, json_object *parameters, VarlinkMethodFlags flags,
                           void *userdata) {
        static const JsonDispatch table[] = {
                {"name", json_type_string, json_dispatch_const_string, offsetof(ImportRequest, name),
                 JSON_MANDATORY},
                {"kernel", json_type_string, json_dispatch_const_string,
                 offsetof(ImportRequest, paths[IMAGE_BLOB_KERNEL]), JSON_NULLABLE},
                {"initrd", json_type_string, json_dispatch_const_string,
                 offsetof(ImportRequest, paths[IMAGE_BLOB_INITRD]), JSON_NULLABLE},
                {"rootfs", json_type_string, json_dispatch_const_string,
                 offsetof(ImportRequest, paths[IMAGE_BLOB_ROOTFS]), JSON_NULLABLE},
                {"kernelFileDescriptor", json_type_int, json_dispatch_fd_index,
                 offsetof(ImportRequest, fd_index[IMAGE_BLOB_KERNEL]), JSON_NULLABLE},
                {"initrdFileDescriptor", json_type_int, json_dispatch_fd_index,
                 offsetof(ImportRequest, fd_index[IMAGE_BLOB_INITRD]), JSON_NULLABLE},
                {"rootfsFileDescriptor", json_type_int, json_dispatch_fd_index,
                 offsetof(ImportRequest, fd_index[IMAGE_BLOB_ROOTFS]), JSON_NULLABLE},
                {"cmdline", json_type_string, json_dispatch_const_string, offsetof(ImportRequest, cmdline),
                 JSON_NULLABLE},
                {},
        };
        Manager *m = userdata;
        ImportRequest req = { .fd_index = { -1, -1, -1, -1 } };
        const char *bad = NULL;
        uid_t uid;
        pid_t pid = 0;

        int r = json_dispatch(parameters, table, 0, &req, &bad);
        if (r < 0)
                return varlink_error_invalid_parameter(link, bad ?: "parameters");
        for (ImageBlobKind k = 0; k < _IMAGE_BLOB_KIND_MAX; k++)
                if (req.paths[k] && req.paths[k][0] == '\0')
                        req.paths[k] = NULL;
        r = varlink_get_peer_uid(link, &uid);
        if (r < 0)
                return r;
        r = import_request_check(link, &req, uid);
        if (r != 0)
                return r < 0 ? r : 0;
        /* Only root gets here with paths; they are opened in its root directory, found by its pid. */
        if (req.paths[IMAGE_BLOB_KERNEL] || req.paths[IMAGE_BLOB_INITRD] || req.paths[IMAGE_BLOB_ROOTFS]) {
                r = varlink_get_peer_pid(link, &pid);
                if (r < 0)
                        return r;
        }

        _cleanup_(import_call_freep) ImportCall *c = calloc(1, sizeof(ImportCall));
        if (!c)
                return -ENOMEM;
        c->manager = m;
        c->pid = pid;
        for (ImageBlobKind k = 0; k < _IMAGE_BLOB_KIND_MAX; k++)
                c->fds[k] = -EBADF;
        for (ImageBlobKind k = 0; k < _IMAGE_BLOB_KIND_MAX; k++) {
                if (req.paths[k] && !(c->paths[k] = strdup(req.paths[k])))
                        return -ENOMEM;
                if (req.fd_index[k] < 0)
                        continue;
                c->fds[k] = varlink_take_fd(link, (size_t) req.fd_index[k]);
                if (c->fds[k] < 0) {
                        r = reply_invalid_field(link, fd_field[k], "that descriptor is another file's");
                        return r < 0 ? r : 0;
                }
        }

        ImageImportSpec spec = {
                .name = req.name,
                .kernel_path = req.paths[IMAGE_BLOB_KERNEL],
                .initrd_path = req.paths[IMAGE_BLOB_INITRD],
                .rootfs_path = req.paths[IMAGE_BLOB_ROOTFS],
                .cmdline = req.cmdline,
                .fds = c->fds,
        };
        r = image_import_begin(m->images, &spec, &c->import);
        if (r == -EEXIST)
                return reply_field_error(link, IMAGE_ERROR_NAME_IN_USE, "name", req.name,
                                         "an image with this name exists already");
        if (r < 0)
                return r;
        c->link = varlink_ref(link);
        r = image_import_set_progress(c->import, import_progress, c);
        if (r < 0)
                return r;
        (void) operations_attach_progress(m->operations, link, &c->progress);
        if (flags & VARLINK_METHOD_MORE) {
                r = sd_event_add_time_relative(m->event, &c->progress_timer, CLOCK_MONOTONIC,
                                               IMPORT_PROGRESS_INTERVAL_USEC, 0, on_progress_timer, c);
                if (r < 0)
                        return r;
        }
        r = job_submit(m->jobs, import_work, import_done, c);
        if (r < 0)
                return r;
        TAKE_PTR(c);
        return 0;
}

/* ---- List, Inspect ---- */

int vl_method_image_list(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata) {
        Manager *m = userdata;
        _cleanup_free_ const Image **images = NULL;
        size_t n;

        int r = image_store_list(m->images, &images, &n);
        if (r < 0)
                return r;
        _cleanup_(json_object_putp) json_object *reply = json_object_new_object();
        json_object *array = json_object_new_array_ext((int) n);
        if (!reply || !array || json_add_object(reply, "images", array) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_object *o;
                r = image_to_json(images[i], &o);
                if (r < 0)
                        return r;
                if (json_object_array_add(array, o) < 0) {
                        json_object_put(o);
                        return -ENOMEM;
                }
        }
        return varlink_reply(link, reply);
}

static int resolve_image(Manager *m, Varlink *link, json_object *parameters, const Image **ret) {
        const char *ref;

        int r = json_get_string(parameters, "ref", &ref);
        if (r < 0) {
                r = varlink_error_invalid_parameter(link, "ref");
                return r < 0 ? r : 0;
        }
        r = image_store_get(m->images, ref, ret);
        if (r == -ENOENT || r == -ENOTUNIQ) {
                r = reply_no_such_image(link, ref, r);
                return r < 0 ? r : 0;
        }
        if (r < 0)
                return r;
        return 1;
}

int vl_method_image_inspect(Varlink *link, json_object *parameters, VarlinkMethodFlags flags,
                            void *userdata) {
        const Image *img;

        int r = resolve_image(userdata, link, parameters, &img);
        if (r <= 0)
                return r;
        return reply_image(link, img);
}

/* ---- Delete ---- */

/* "In use" means a VM was created from this image (its config names it), not that a VM shares a blob with
 * it: images imported from the same files share blobs, and a VM's blobs stay pinned by its record
 * (manager_pinned_blob_ids()) whichever image goes. */
static bool record_uses_image(const VMRecord *record, const Image *img) {
        return streq_ptr(record->vm.config.image, img->name);
}

int manager_pinned_blob_ids(Manager *m, char ***ret) {
        _cleanup_strv_free_ char **pinned = NULL;
        const VMRecord *record;
        size_t state = 0;

        while (store_iterate(m->store, &state, &record))
                for (char **id = record->image_blob_ids; id && *id; id++)
                        if (!strv_contains(pinned, *id) && strv_extend(&pinned, *id) < 0)
                                return -ENOMEM;
        /* A snapshot boots from the blobs its VM had, also after that VM is gone. */
        Snapshot *snap;
        for (size_t i = 0; m->snapshots && snapshot_store_iterate(m->snapshots, &i, &snap);)
                for (char **id = snap->vm ? snap->vm->image_blob_ids : NULL; id && *id; id++)
                        if (!strv_contains(pinned, *id) && strv_extend(&pinned, *id) < 0)
                                return -ENOMEM;
        *ret = TAKE_PTR(pinned);
        return 0;
}

int vl_method_image_delete(Varlink *link, json_object *parameters, VarlinkMethodFlags flags,
                           void *userdata) {
        Manager *m = userdata;
        _cleanup_strv_free_ char **users = NULL, **pinned = NULL;
        const VMRecord *record;
        const Image *img;
        size_t state = 0;

        int r = resolve_image(m, link, parameters, &img);
        if (r <= 0)
                return r;
        while (store_iterate(m->store, &state, &record))
                if (record_uses_image(record, img) && strv_extend(&users, record->vm.id) < 0)
                        return -ENOMEM;
        if (users) {
                strv_sort(users);
                _cleanup_(json_object_putp) json_object *p = json_object_new_object();
                _cleanup_free_ char *joined = strv_join(users, ", "), *message = NULL;
                if (!p || !joined ||
                    asprintf(&message, "image '%s' is used by VM %s", img->name, joined) < 0 ||
                    json_add_string(p, "name", img->name) < 0 || json_add_strv(p, "vms", users) < 0 ||
                    json_add_string(p, "message", message) < 0)
                        return -ENOMEM;
                return varlink_error(link, IMAGE_ERROR_IMAGE_IN_USE, p);
        }

        r = manager_pinned_blob_ids(m, &pinned);
        if (r < 0)
                return r;
        _cleanup_free_ char *name = strdup(img->name);
        if (!name)
                return -ENOMEM;
        r = image_store_remove(m->images, name, (const char *const *) pinned);
        if (r == -ENOENT)
                return reply_no_such_image(link, name, r);
        if (r < 0)
                return r;
        log_info("Removed image %s.", name);
        return varlink_reply(link, NULL);
}
