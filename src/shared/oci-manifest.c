/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* OCI/Docker manifest and index parsing, platform selection, config checks. */
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "json-util.h"
#include "oci-manifest.h"

/* Field values we store are short; anything longer is garbage. */
#define OCI_FIELD_MAX 256

static const struct {
        const char *media_type;
        OciCompression compression;
} layer_types[] = {
        {"application/vnd.oci.image.layer.v1.tar", OCI_COMPRESSION_NONE},
        {"application/vnd.oci.image.layer.v1.tar+gzip", OCI_COMPRESSION_GZIP},
        {"application/vnd.oci.image.layer.v1.tar+zstd", OCI_COMPRESSION_ZSTD},
        {"application/vnd.docker.image.rootfs.diff.tar.gzip", OCI_COMPRESSION_GZIP},
};

static const char *const config_types[] = {
        "application/vnd.oci.image.config.v1+json",
        "application/vnd.docker.container.image.v1+json",
};

static void descriptor_done(OciDescriptor *d) {
        free(d->media_type);
        free(d->os);
        free(d->architecture);
        free(d->variant);
}

OciManifest *oci_manifest_free(OciManifest *m) {
        if (!m)
                return NULL;
        free(m->media_type);
        descriptor_done(&m->config);
        for (size_t i = 0; i < m->n_layers; i++)
                descriptor_done(&m->layers[i]);
        free(m->layers);
        free(m->compression);
        for (size_t i = 0; i < m->n_manifests; i++)
                descriptor_done(&m->manifests[i]);
        free(m->manifests);
        free(m);
        return NULL;
}

static bool field_is_valid(const char *s) {
        size_t n = strnlen(s, OCI_FIELD_MAX + 1);

        if (n == 0 || n > OCI_FIELD_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) s[i] < 0x20 || (unsigned char) s[i] >= 0x7f)
                        return false;
        return true;
}

/* An optional string field: absent/null leaves *ret NULL; otherwise it must be a short printable string. */
static int get_optional_string(json_object *o, const char *key, char **ret) {
        const char *s;
        int r;

        r = json_get_string(o, key, &s);
        if (r == -ENXIO)
                return 0;
        if (r < 0 || !field_is_valid(s))
                return -EBADMSG;
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

static int parse_descriptor(json_object *o, uint64_t size_max, bool platform, OciDescriptor *d) {
        const char *digest;
        uint64_t size;
        int r;

        if (!json_object_is_type(o, json_type_object))
                return -EBADMSG;
        r = get_optional_string(o, "mediaType", &d->media_type);
        if (r < 0)
                return r;
        if (!d->media_type)
                return -EBADMSG;
        if (json_get_string(o, "digest", &digest) < 0 || !oci_digest_is_valid(digest))
                return -EBADMSG;
        memcpy(d->digest, digest, OCI_DIGEST_LEN + 1);
        if (json_get_uint64(o, "size", &size) < 0 || size == 0 || size > size_max)
                return -EBADMSG;
        d->size = size;

        if (platform) {
                json_object *p;

                /* Entries without a platform (OCI allows them) are kept but never selected. */
                if (!json_object_object_get_ex(o, "platform", &p) || json_object_is_type(p, json_type_null))
                        return 0;
                if (!json_object_is_type(p, json_type_object))
                        return -EBADMSG;
                r = get_optional_string(p, "os", &d->os);
                if (r < 0)
                        return r;
                r = get_optional_string(p, "architecture", &d->architecture);
                if (r < 0)
                        return r;
                r = get_optional_string(p, "variant", &d->variant);
                if (r < 0)
                        return r;
                if (!d->os || !d->architecture)
                        return -EBADMSG;
        }
        return 0;
}

static int parse_array(json_object *o, const char *key, size_t max, json_object **ret, size_t *ret_n) {
        json_object *a;
        size_t n;

        if (!json_object_object_get_ex(o, key, &a) || !json_object_is_type(a, json_type_array))
                return -EBADMSG;
        n = json_object_array_length(a);
        if (n > max)
                return -E2BIG;
        *ret = a;
        *ret_n = n;
        return 0;
}

static int parse_image(json_object *o, OciManifest *m) {
        json_object *a, *c;
        size_t n;
        int r;

        if (!json_object_object_get_ex(o, "config", &c))
                return -EBADMSG;
        r = parse_descriptor(c, OCI_CONFIG_SIZE_MAX, false, &m->config);
        if (r < 0)
                return r;
        r = -EMEDIUMTYPE;
        for (size_t i = 0; i < ELEMENTSOF(config_types); i++)
                if (strcmp(m->config.media_type, config_types[i]) == 0)
                        r = 0;
        if (r < 0)
                return r;

        r = parse_array(o, "layers", OCI_LAYERS_MAX, &a, &n);
        if (r < 0)
                return r;
        if (n == 0)
                return -EBADMSG;
        m->layers = calloc(n, sizeof(OciDescriptor));
        m->compression = calloc(n, sizeof(OciCompression));
        if (!m->layers || !m->compression)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                bool known = false;

                m->n_layers = i + 1;
                r = parse_descriptor(json_object_array_get_idx(a, i), OCI_LAYER_SIZE_MAX, false,
                                     &m->layers[i]);
                if (r < 0)
                        return r;
                for (size_t t = 0; t < ELEMENTSOF(layer_types); t++)
                        if (strcmp(m->layers[i].media_type, layer_types[t].media_type) == 0) {
                                m->compression[i] = layer_types[t].compression;
                                known = true;
                        }
                /* Foreign (non-distributable) layers and anything else: not ours to fetch or unpack. */
                if (!known)
                        return -EMEDIUMTYPE;
        }
        return 0;
}

static int parse_index(json_object *o, OciManifest *m) {
        json_object *a;
        size_t n;
        int r;

        r = parse_array(o, "manifests", OCI_INDEX_ENTRIES_MAX, &a, &n);
        if (r < 0)
                return r;
        m->manifests = calloc(MAX(n, 1U), sizeof(OciDescriptor));
        if (!m->manifests)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                m->n_manifests = i + 1;
                r = parse_descriptor(json_object_array_get_idx(a, i), OCI_MANIFEST_SIZE_MAX, true,
                                     &m->manifests[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int kind_from_media_type(const char *t, OciManifestKind *ret) {
        if (strcmp(t, OCI_MEDIA_TYPE_OCI_MANIFEST) == 0 || strcmp(t, OCI_MEDIA_TYPE_DOCKER_MANIFEST) == 0)
                *ret = OCI_MANIFEST_IMAGE;
        else if (strcmp(t, OCI_MEDIA_TYPE_OCI_INDEX) == 0 || strcmp(t, OCI_MEDIA_TYPE_DOCKER_LIST) == 0)
                *ret = OCI_MANIFEST_INDEX;
        else
                return -EMEDIUMTYPE;
        return 0;
}

int oci_manifest_parse(const char *content_type, const void *data, size_t size, OciManifest **ret) {
        _cleanup_(oci_manifest_freep) OciManifest *m = NULL;
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_free_ char *ct = NULL;
        OciManifestKind ct_kind;
        bool ct_known = false;
        int64_t version;
        int r;

        if (size > OCI_MANIFEST_SIZE_MAX)
                return -E2BIG;
        if (json_parse(data, size, &o) < 0 || !json_object_is_type(o, json_type_object))
                return -EBADMSG;
        if (json_get_int64(o, "schemaVersion", &version) < 0 || version != 2)
                return -EBADMSG;

        if (content_type && content_type[0] != '\0') {
                ct = strndup(content_type, strcspn(content_type, "; \t"));
                if (!ct)
                        return -ENOMEM;
                ct_known = kind_from_media_type(ct, &ct_kind) >= 0;
        }

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        r = get_optional_string(o, "mediaType", &m->media_type);
        if (r < 0)
                return r;
        if (m->media_type) {
                r = kind_from_media_type(m->media_type, &m->kind);
                if (r < 0)
                        return r;
                if (ct_known && ct_kind != m->kind)
                        return -EBADMSG;
        } else if (ct_known) {
                m->kind = ct_kind;
                m->media_type = TAKE_PTR(ct);
        } else {
                /* OCI documents may omit mediaType and some servers send a generic Content-Type: the
                 * structure decides, as containerd does (an index has "manifests", an image "config"). */
                bool index = json_object_object_get_ex(o, "manifests", NULL),
                     image = json_object_object_get_ex(o, "config", NULL);
                if (index == image)
                        return -EMEDIUMTYPE;
                m->kind = index ? OCI_MANIFEST_INDEX : OCI_MANIFEST_IMAGE;
                m->media_type = strdup(index ? OCI_MEDIA_TYPE_OCI_INDEX : OCI_MEDIA_TYPE_OCI_MANIFEST);
                if (!m->media_type)
                        return -ENOMEM;
        }

        r = m->kind == OCI_MANIFEST_IMAGE ? parse_image(o, m) : parse_index(o, m);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(m);
        return 0;
}

void oci_platform_host(OciPlatform *ret) {
        static const struct {
                const char *machine;
                const char *architecture;
                const char *variant;
        } table[] = {
                {"x86_64", "amd64", ""}, {"aarch64", "arm64", ""},   {"armv8l", "arm", "v8"},
                {"armv7l", "arm", "v7"}, {"armv6l", "arm", "v6"},    {"armv5tel", "arm", "v5"},
                {"i686", "386", ""},     {"i386", "386", ""},        {"ppc64le", "ppc64le", ""},
                {"s390x", "s390x", ""},  {"riscv64", "riscv64", ""},
        };
        struct utsname u;

        *ret = (OciPlatform){"amd64", ""};
        if (uname(&u) < 0)
                return;
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (strcmp(u.machine, table[i].machine) == 0) {
                        *ret = (OciPlatform){table[i].architecture, table[i].variant};
                        return;
                }
}

/* A variant's rank: "vN" → N; "" → the architecture's default; 0 for forms we cannot compare. */
static int variant_rank(const char *architecture, const char *variant) {
        if (!variant || variant[0] == '\0') {
                if (strcmp(architecture, "arm") == 0)
                        return 7;
                if (strcmp(architecture, "arm64") == 0)
                        return 8;
                return 1;
        }
        if (variant[0] == 'v' && variant[1] >= '1' && variant[1] <= '9' && variant[2] == '\0')
                return variant[1] - '0';
        return 0;
}

int oci_index_select(const OciManifest *m, const OciPlatform *platform, const OciDescriptor **ret) {
        const OciDescriptor *best = NULL;
        int host_rank, best_rank = 0;
        bool arm;

        if (m->kind != OCI_MANIFEST_INDEX)
                return -EINVAL;
        host_rank = variant_rank(platform->architecture, platform->variant);
        arm = strcmp(platform->architecture, "arm") == 0;

        for (size_t i = 0; i < m->n_manifests; i++) {
                const OciDescriptor *d = &m->manifests[i];
                OciManifestKind k;
                int rank;

                if (!d->os || strcmp(d->os, "linux") != 0 ||
                    strcmp(d->architecture, platform->architecture) != 0)
                        continue;
                if (kind_from_media_type(d->media_type, &k) < 0 || k != OCI_MANIFEST_IMAGE)
                        continue;
                rank = variant_rank(d->architecture, d->variant);
                /* arm runs older variants' code; elsewhere the variant must be the host's. */
                if (rank == 0 || (arm ? rank > host_rank : rank != host_rank))
                        continue;
                if (!best || rank > best_rank) {
                        best = d;
                        best_rank = rank;
                }
        }
        if (!best)
                return -ENOENT;
        *ret = best;
        return 0;
}

int oci_config_check(const void *data, size_t size, size_t n_layers, char **ret_architecture) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        json_object *rootfs, *ids;
        const char *os, *arch;

        if (size > OCI_CONFIG_SIZE_MAX)
                return -E2BIG;
        if (json_parse(data, size, &o) < 0 || !json_object_is_type(o, json_type_object))
                return -EBADMSG;
        if (json_get_string(o, "os", &os) < 0 || strcmp(os, "linux") != 0)
                return -EBADMSG;
        if (json_get_string(o, "architecture", &arch) < 0 || !field_is_valid(arch))
                return -EBADMSG;
        if (json_object_object_get_ex(o, "rootfs", &rootfs)) {
                if (!json_object_is_type(rootfs, json_type_object))
                        return -EBADMSG;
                if (json_object_object_get_ex(rootfs, "diff_ids", &ids) &&
                    (!json_object_is_type(ids, json_type_array) ||
                     json_object_array_length(ids) != n_layers))
                        return -EBADMSG;
        }
        if (ret_architecture) {
                *ret_architecture = strdup(arch);
                if (!*ret_architecture)
                        return -ENOMEM;
        }
        return 0;
}
