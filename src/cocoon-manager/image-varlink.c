/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* io.cocoon.Image methods: Import (copy in a worker thread, caller's read access checked), List, Inspect,
 * Delete (refused while a VM pins the image's blobs). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "image-store.h"
#include "image-varlink.h"
#include "job-queue.h"
#include "json-util.h"
#include "log.h"
#include "manager.h"
#include "strv-util.h"
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

typedef struct ImportRequest {
        const char *name, *paths[_IMAGE_BLOB_KIND_MAX], *cmdline;
} ImportRequest;

typedef struct ImportCall {
        Manager *manager;
        Varlink *link;
        ImageImport *import;
        uid_t uid;
        char *paths[_IMAGE_BLOB_KIND_MAX];
        const char *failed_field; /* set by the worker: which file the error is about */
} ImportCall;

static void import_call_free(ImportCall *c) {
        image_import_free(c->import);
        varlink_unref(c->link);
        for (ImageBlobKind k = 0; k < _IMAGE_BLOB_KIND_MAX; k++)
                free(c->paths[k]);
        free(c);
}

/* Whether uid may use st by the owner or "other" permission bits (mask_user/mask_other). Group bits are
 * not considered, so a file readable only through a group is refused: conservative and simple. */
static bool mode_grants(const struct stat *st, uid_t uid, mode_t mask_user, mode_t mask_other) {
        if (st->st_uid == uid)
                return (st->st_mode & mask_user) != 0;
        return (st->st_mode & mask_other) != 0;
}

/* The manager copies files as root, so for another caller we check that it could have read the file
 * itself: the file and every directory above its canonical path. The check happens just before the copy;
 * a caller who owns a directory on the path could swap the file in between, but only for another file it
 * can read already, or one whose directories it controls. */
static int check_caller_may_read(const char *path, uid_t uid) {
        _cleanup_free_ char *canonical = realpath(path, NULL);
        struct stat st;

        if (!canonical)
                return -errno;
        for (char *slash = canonical; slash; slash = strchr(slash + 1, '/')) {
                char saved = slash[1];
                slash[1] = '\0';
                int r = stat(canonical, &st);
                slash[1] = saved;
                if (r < 0)
                        return -errno;
                if (!mode_grants(&st, uid, S_IXUSR, S_IXOTH))
                        return -EACCES;
        }
        if (stat(canonical, &st) < 0)
                return -errno;
        if (!mode_grants(&st, uid, S_IRUSR, S_IROTH))
                return -EACCES;
        return 0;
}

static int import_work(void *userdata) {
        ImportCall *c = userdata;
        struct stat st;

        /* Check each file first so errors name the parameter at fault. */
        for (ImageBlobKind k = 0; k < _IMAGE_BLOB_KIND_MAX; k++) {
                if (!c->paths[k])
                        continue;
                c->failed_field = kind_field[k];
                if (c->uid != 0) {
                        int r = check_caller_may_read(c->paths[k], c->uid);
                        if (r < 0)
                                return r;
                }
                if (stat(c->paths[k], &st) < 0)
                        return -errno;
                if (S_ISDIR(st.st_mode))
                        return -EISDIR;
                if (!S_ISREG(st.st_mode))
                        return -EBADFD;
                if (st.st_size == 0)
                        return -EINVAL;
        }
        /* Only the rootfs has a content check in the copy; other errors there are I/O, not about a field. */
        c->failed_field = kind_field[IMAGE_BLOB_ROOTFS];
        int r = image_import_copy(c->import);
        if (r != -EMEDIUMTYPE)
                c->failed_field = NULL;
        return r;
}

static const char *import_error_message(int error) {
        switch (error) {
        case -ENOENT:
                return "no such file";
        case -EISDIR:
                return "is a directory";
        case -EBADFD:
                return "not a regular file";
        case -EINVAL:
                return "file is empty";
        case -EMEDIUMTYPE:
                return "not an ext2/3/4 file system image";
        case -ENOTDIR:
                return "a component of the path is not a directory";
        case -ELOOP:
                return "too many symbolic links";
        default:
                return NULL;
        }
}

static void import_done(int result, void *userdata) {
        ImportCall *c = userdata;
        const Image *img;

        if (result == -ECANCELED)
                return import_call_free(c);
        if (result == -EACCES && c->uid != 0) {
                _cleanup_free_ char *message = NULL;
                if (asprintf(&message, "the caller may not read %s", c->failed_field ?: "a file") < 0)
                        (void) varlink_error_errno(c->link, ENOMEM);
                else
                        (void) reply_field_error(c->link, COCOON_ERROR_PERMISSION_DENIED, "method",
                                                 "io.cocoon.Image.Import", message);
                return import_call_free(c);
        }
        const char *message = import_error_message(result);
        if (result < 0 && message) {
                (void) reply_field_error(c->link, IMAGE_ERROR_INVALID_IMAGE, "field",
                                         c->failed_field ?: "kernel", message);
                return import_call_free(c);
        }
        if (result >= 0)
                result = image_import_commit(c->import, &img);
        if (result < 0)
                (void) varlink_error_errno(c->link, -result);
        else
                (void) reply_image(c->link, img);
        import_call_free(c);
}

static int import_request_check(Varlink *link, const ImportRequest *req) {
        if (!image_name_is_valid(req->name))
                return reply_field_error(link, IMAGE_ERROR_INVALID_IMAGE, "field", "name",
                                         "must match [A-Za-z0-9][A-Za-z0-9._-]{0,62}")
                               ?: 1;
        for (ImageBlobKind k = 0; k < _IMAGE_BLOB_KIND_MAX; k++)
                if (req->paths[k] && req->paths[k][0] != '/')
                        return reply_field_error(link, IMAGE_ERROR_INVALID_IMAGE, "field", kind_field[k],
                                                 "must be an absolute path")
                                       ?: 1;
        if (!image_cmdline_is_valid(req->cmdline))
                return reply_field_error(link, IMAGE_ERROR_INVALID_IMAGE, "field", "cmdline",
                                         "at most 1024 printable ASCII characters")
                               ?: 1;
        return 0;
}

int vl_method_image_import(Varlink *link, json_object *parameters, VarlinkMethodFlags flags,
                           void *userdata) {
        static const JsonDispatch table[] = {
                {"name", json_type_string, json_dispatch_const_string, offsetof(ImportRequest, name),
                 JSON_MANDATORY},
                {"kernel", json_type_string, json_dispatch_const_string,
                 offsetof(ImportRequest, paths[IMAGE_BLOB_KERNEL]), JSON_MANDATORY},
                {"initrd", json_type_string, json_dispatch_const_string,
                 offsetof(ImportRequest, paths[IMAGE_BLOB_INITRD]), JSON_NULLABLE},
                {"rootfs", json_type_string, json_dispatch_const_string,
                 offsetof(ImportRequest, paths[IMAGE_BLOB_ROOTFS]), JSON_NULLABLE},
                {"cmdline", json_type_string, json_dispatch_const_string, offsetof(ImportRequest, cmdline),
                 JSON_NULLABLE},
                {},
        };
        Manager *m = userdata;
        ImportRequest req = {};
        const char *bad = NULL;
        uid_t uid;

        int r = json_dispatch(parameters, table, 0, &req, &bad);
        if (r < 0)
                return varlink_error_invalid_parameter(link, bad ?: "parameters");
        for (ImageBlobKind k = 0; k < _IMAGE_BLOB_KIND_MAX; k++)
                if (req.paths[k] && req.paths[k][0] == '\0')
                        req.paths[k] = NULL;
        r = import_request_check(link, &req);
        if (r != 0)
                return r < 0 ? r : 0;
        r = varlink_get_peer_uid(link, &uid);
        if (r < 0)
                return r;

        ImportCall *c = calloc(1, sizeof(ImportCall));
        if (!c)
                return -ENOMEM;
        c->manager = m;
        c->uid = uid;
        for (ImageBlobKind k = 0; k < _IMAGE_BLOB_KIND_MAX; k++)
                if (req.paths[k] && !(c->paths[k] = strdup(req.paths[k]))) {
                        import_call_free(c);
                        return -ENOMEM;
                }

        ImageImportSpec spec = {
                .name = req.name,
                .kernel_path = req.paths[IMAGE_BLOB_KERNEL],
                .initrd_path = req.paths[IMAGE_BLOB_INITRD],
                .rootfs_path = req.paths[IMAGE_BLOB_ROOTFS],
                .cmdline = req.cmdline,
        };
        r = image_import_begin(m->images, &spec, &c->import);
        if (r < 0) {
                import_call_free(c);
                if (r == -EEXIST)
                        return reply_field_error(link, IMAGE_ERROR_NAME_IN_USE, "name", req.name,
                                                 "an image with this name exists already");
                return r;
        }
        c->link = varlink_ref(link);
        r = job_submit(m->jobs, import_work, import_done, c);
        if (r < 0) {
                import_call_free(c);
                return r;
        }
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

static bool record_uses_image(const VMRecord *record, const Image *img) {
        for (ImageBlobKind k = 0; k < _IMAGE_BLOB_KIND_MAX; k++)
                if (image_file_present(&img->files[k]) &&
                    strv_contains(record->image_blob_ids, img->files[k].blob))
                        return true;
        return false;
}

int manager_pinned_blob_ids(Manager *m, char ***ret) {
        _cleanup_strv_free_ char **pinned = NULL;
        const VMRecord *record;
        size_t state = 0;

        while (store_iterate(m->store, &state, &record))
                for (char **id = record->image_blob_ids; id && *id; id++)
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
