/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A local image: its in-memory form, its JSON record, and the checks on names and kernel command lines. */
#include <stddef.h>
#include <stdio.h>

#include "image-record.h"
#include "json-util.h"
#include "oci-reference.h"
#include "record-dispatch.h"
#include "time-util.h"
#include "vm-types.h"

Image *image_free(Image *img) {
        if (!img)
                return NULL;
        free(img->name);
        free(img->cmdline);
        free(img->layers);
        return mfree(img);
}

static const char *const image_type_table[_IMAGE_TYPE_MAX] = {
        [IMAGE_TYPE_LOCAL] = "local",
        [IMAGE_TYPE_OCI] = "oci",
};

const char *image_type_to_string(ImageType t) {
        return t >= 0 && t < _IMAGE_TYPE_MAX ? image_type_table[t] : NULL;
}

ImageType image_type_from_string(const char *s) {
        for (size_t i = 0; s && i < ELEMENTSOF(image_type_table); i++)
                if (streq(s, image_type_table[i]))
                        return (ImageType) i;
        return _IMAGE_TYPE_INVALID;
}

bool image_oci_name_is_valid(const char *s) {
        _cleanup_(oci_reference_freep) OciReference *ref = NULL;
        _cleanup_free_ char *normalized = NULL;

        return s && oci_reference_parse(s, &ref) >= 0 && oci_reference_to_string(ref, &normalized) >= 0 &&
               streq(normalized, s);
}

bool image_name_is_valid(const char *s) {
        /* One rule for every name a user picks; it already excludes '/', a leading dot and "..". */
        return vm_name_is_valid(s);
}

bool image_cmdline_is_valid(const char *s) {
        size_t i;

        if (!s)
                return true;
        for (i = 0; s[i]; i++)
                if (i >= IMAGE_CMDLINE_MAX || s[i] < 0x20 || s[i] > 0x7e)
                        return false;
        return true;
}

int image_compute_digest(const Image *img, char ret[static IMAGE_DIGEST_LEN + 1]) {
        _cleanup_free_ char *text = NULL;
        int n;

        n = asprintf(&text, "kernel=%s\ninitrd=%s\nrootfs=%s\ncmdline=%s\n",
                     img->files[IMAGE_BLOB_KERNEL].blob, img->files[IMAGE_BLOB_INITRD].blob,
                     img->files[IMAGE_BLOB_ROOTFS].blob, img->cmdline ?: "");
        if (n < 0)
                return -ENOMEM;
        memcpy(ret, IMAGE_DIGEST_PREFIX, strlen(IMAGE_DIGEST_PREFIX));
        return image_sha256_hex(text, (size_t) n, ret + strlen(IMAGE_DIGEST_PREFIX));
}

static int image_file_to_json(const ImageFile *f, json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();

        if (!o || json_add_string(o, "blob", f->blob) < 0 || json_add_uint64(o, "size", f->size) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

int image_to_json(const Image *img, json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_free_ char *created = NULL;
        int r;

        r = timestamp_format_rfc3339(img->created_at, &created);
        if (r < 0)
                return r;

        o = json_object_new_object();
        if (!o || json_add_string(o, "type", image_type_to_string(img->type)) < 0 ||
            json_add_string(o, "name", img->name) < 0 || json_add_string(o, "id", img->id) < 0 ||
            json_add_string(o, "digest", img->digest) < 0)
                return -ENOMEM;
        if (img->type == IMAGE_TYPE_OCI) {
                json_object *a = json_object_new_array_ext((int) img->n_layers);
                if (!a || json_add_object(o, "layers", a) < 0)
                        return -ENOMEM;
                for (size_t i = 0; i < img->n_layers; i++) {
                        json_object *f = NULL;
                        r = image_file_to_json(&img->layers[i], &f);
                        if (r < 0)
                                return r;
                        if (json_object_array_add(a, f) < 0) {
                                json_object_put(f);
                                return -ENOMEM;
                        }
                }
        }
        for (ImageBlobKind k = 0; k < _IMAGE_BLOB_KIND_MAX; k++) {
                json_object *f = NULL;

                if (!image_file_present(&img->files[k]))
                        continue;
                r = image_file_to_json(&img->files[k], &f);
                if (r < 0)
                        return r;
                r = json_add_object(o, image_blob_kind_to_string(k), f);
                if (r < 0)
                        return r;
        }
        if (json_add_string(o, "cmdline", img->cmdline) < 0 ||
            json_add_string(o, "createdAt", created) < 0 || json_add_uint64(o, "size", img->size) < 0)
                return -ENOMEM;

        *ret = TAKE_PTR(o);
        return 0;
}

static int dispatch_blob_hex(const char *name, json_object *v, void *p) {
        const char *s = json_object_get_string(v);

        if (!image_blob_hex_is_valid(s))
                return -EINVAL;
        memcpy(p, s, IMAGE_BLOB_HEX_LEN + 1);
        return 0;
}

static int dispatch_digest(const char *name, json_object *v, void *p) {
        const char *s = json_object_get_string(v);

        if (!s || strncmp(s, IMAGE_DIGEST_PREFIX, strlen(IMAGE_DIGEST_PREFIX)) != 0 ||
            !image_blob_hex_is_valid(s + strlen(IMAGE_DIGEST_PREFIX)))
                return -EINVAL;
        memcpy(p, s, IMAGE_DIGEST_LEN + 1);
        return 0;
}

/* Unknown keys are ignored in records (not in Varlink input): a record written by a newer version must not
 * be quarantined as corrupt after a downgrade. */
static int dispatch_file(const char *name, json_object *v, void *p) {
        static const JsonDispatch table[] = {
                {"blob", json_type_string, dispatch_blob_hex, offsetof(ImageFile, blob), JSON_MANDATORY},
                {"size", json_type_int, json_dispatch_uint64, offsetof(ImageFile, size), JSON_MANDATORY},
                {},
        };
        ImageFile *f = p;
        int r;

        r = json_dispatch(v, table, JSON_ALLOW_UNKNOWN, f, NULL);
        if (r < 0)
                return r;
        return f->size > 0 ? 0 : -EINVAL;
}

static int dispatch_type(const char *name, json_object *v, void *p) {
        ImageType t = image_type_from_string(json_object_get_string(v));

        if (t < 0)
                return -EINVAL;
        *(ImageType *) p = t;
        return 0;
}

static int dispatch_layers(const char *name, json_object *v, void *p) {
        Image *img = (Image *) ((char *) p - offsetof(Image, layers));
        size_t n = json_object_array_length(v);
        int r;

        if (n == 0 || n > 1024)
                return -EINVAL;
        free(img->layers);
        img->layers = calloc(n, sizeof(ImageFile));
        img->n_layers = 0;
        if (!img->layers)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_object *f = json_object_array_get_idx(v, i);
                if (!json_object_is_type(f, json_type_object))
                        return -EINVAL;
                r = dispatch_file(name, f, &img->layers[i]);
                if (r < 0)
                        return r;
                img->n_layers = i + 1;
        }
        return 0;
}

/* Cross-field checks json_dispatch() cannot do. */
static bool image_is_consistent(const Image *img) {
        uint64_t sum = 0;

        if (!image_cmdline_is_valid(img->cmdline))
                return false;
        if (img->type == IMAGE_TYPE_OCI) {
                if (!image_oci_name_is_valid(img->name) || img->n_layers == 0 || img->cmdline ||
                    image_file_present(&img->files[IMAGE_BLOB_ROOTFS]))
                        return false;
        } else if (!image_name_is_valid(img->name) || img->n_layers > 0 ||
                   !image_file_present(&img->files[IMAGE_BLOB_KERNEL]))
                return false;
        for (ImageBlobKind k = 0; k < _IMAGE_BLOB_KIND_MAX; k++) {
                if (img->files[k].size > UINT64_MAX - sum)
                        return false;
                sum += img->files[k].size;
        }
        for (size_t i = 0; i < img->n_layers; i++) {
                if (img->layers[i].size > UINT64_MAX - sum)
                        return false;
                sum += img->layers[i].size;
        }
        return sum == img->size;
}

int image_from_json(json_object *o, Image **ret) {
        static const JsonDispatch table[] = {
                {"type", json_type_string, dispatch_type, offsetof(Image, type), 0},
                {"name", json_type_string, json_dispatch_string, offsetof(Image, name), JSON_MANDATORY},
                {"layers", json_type_array, dispatch_layers, offsetof(Image, layers), 0},
                {"id", json_type_string, record_dispatch_id, offsetof(Image, id), JSON_MANDATORY},
                {"digest", json_type_string, dispatch_digest, offsetof(Image, digest), JSON_MANDATORY},
                /* The keys are image_blob_kind_to_string() of each kind. */
                {"kernel", json_type_object, dispatch_file, offsetof(Image, files[IMAGE_BLOB_KERNEL]), 0},
                {"initrd", json_type_object, dispatch_file, offsetof(Image, files[IMAGE_BLOB_INITRD]), 0},
                {"rootfs", json_type_object, dispatch_file, offsetof(Image, files[IMAGE_BLOB_ROOTFS]), 0},
                {"cmdline", json_type_string, json_dispatch_string, offsetof(Image, cmdline), 0},
                {"createdAt", json_type_string, record_dispatch_timestamp, offsetof(Image, created_at),
                 JSON_MANDATORY},
                {"size", json_type_int, json_dispatch_uint64, offsetof(Image, size), JSON_MANDATORY},
                {},
        };
        _cleanup_(image_freep) Image *img = NULL;
        int r;

        img = calloc(1, sizeof(Image));
        if (!img)
                return -ENOMEM;

        r = json_dispatch(o, table, JSON_ALLOW_UNKNOWN, img, NULL);
        if (r == -ENOMEM)
                return r;
        if (r < 0 || !image_is_consistent(img))
                return -EBADMSG;

        *ret = TAKE_PTR(img);
        return 0;
}
