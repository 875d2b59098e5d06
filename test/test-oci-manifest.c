/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for manifest/index parsing (OCI and Docker schema 2), its strict validation, platform selection
 * and the config check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "oci-manifest.h"

#define DA "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define DB "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define DC "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"

#define OCI_CONFIG                                                                                          \
        "{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"" DA "\",\"size\":7}"
#define OCI_LAYER(d, t)                                                                                     \
        "{\"mediaType\":\"application/vnd.oci.image.layer.v1." t "\",\"digest\":\"" d "\",\"size\":100}"

static int parse(const char *ct, const char *text, OciManifest **ret) {
        return oci_manifest_parse(ct, text, strlen(text), ret);
}

static void test_oci_manifest(void **state) {
        static const char text[] =
                "{\"schemaVersion\":2,\"mediaType\":\"" OCI_MEDIA_TYPE_OCI_MANIFEST
                "\",\"config\":" OCI_CONFIG ",\"layers\":[" OCI_LAYER(DB, "tar+gzip") "," OCI_LAYER(
                        DC, "tar+zstd") "," OCI_LAYER(DA, "tar") "],\"annotations\":{\"a\":\"b\"}}";
        _cleanup_(oci_manifest_freep) OciManifest *m = NULL;

        assert_int_equal(parse(OCI_MEDIA_TYPE_OCI_MANIFEST, text, &m), 0);
        assert_int_equal(m->kind, OCI_MANIFEST_IMAGE);
        assert_string_equal(m->config.digest, DA);
        assert_int_equal(m->config.size, 7);
        assert_int_equal(m->n_layers, 3);
        assert_string_equal(m->layers[0].digest, DB);
        assert_int_equal(m->compression[0], OCI_COMPRESSION_GZIP);
        assert_int_equal(m->compression[1], OCI_COMPRESSION_ZSTD);
        assert_int_equal(m->compression[2], OCI_COMPRESSION_NONE);
        assert_int_equal(m->layers[1].size, 100);
}

static void test_docker_manifest(void **state) {
        static const char text[] =
                "{\"schemaVersion\":2,\"mediaType\":\"" OCI_MEDIA_TYPE_DOCKER_MANIFEST "\",\"config\":"
                "{\"mediaType\":\"application/vnd.docker.container.image.v1+json\",\"digest\":\"" DA
                "\",\"size\":9},"
                "\"layers\":[{\"mediaType\":\"application/"
                "vnd.docker.image.rootfs.diff.tar.gzip\",\"digest\":\"" DB "\",\"size\":5}]}";
        _cleanup_(oci_manifest_freep) OciManifest *m = NULL, *n = NULL;

        assert_int_equal(
                parse("application/vnd.docker.distribution.manifest.v2+json; charset=utf-8", text, &m), 0);
        assert_int_equal(m->kind, OCI_MANIFEST_IMAGE);
        assert_string_equal(m->media_type, OCI_MEDIA_TYPE_DOCKER_MANIFEST);
        assert_int_equal(m->compression[0], OCI_COMPRESSION_GZIP);
        /* the body and the header disagreeing on the kind */
        assert_int_equal(parse(OCI_MEDIA_TYPE_OCI_INDEX, text, &n), -EBADMSG);
}

static void test_media_type_from_header_or_structure(void **state) {
        static const char text[] =
                "{\"schemaVersion\":2,\"config\":" OCI_CONFIG ",\"layers\":[" OCI_LAYER(DB, "tar+gzip") "]}";
        static const char idx[] = "{\"schemaVersion\":2,\"manifests\":[]}";
        _cleanup_(oci_manifest_freep) OciManifest *m = NULL, *n = NULL, *i = NULL;

        assert_int_equal(parse(OCI_MEDIA_TYPE_OCI_MANIFEST, text, &m), 0);
        assert_string_equal(m->media_type, OCI_MEDIA_TYPE_OCI_MANIFEST);
        assert_int_equal(parse("application/octet-stream", text, &n), 0);
        assert_int_equal(n->kind, OCI_MANIFEST_IMAGE);
        assert_int_equal(parse(NULL, idx, &i), 0);
        assert_int_equal(i->kind, OCI_MANIFEST_INDEX);
        assert_int_equal(i->n_manifests, 0);
}

#define ENTRY(d, arch, variant)                                                                             \
        "{\"mediaType\":\"" OCI_MEDIA_TYPE_OCI_MANIFEST "\",\"digest\":\"" d "\",\"size\":500,"             \
        "\"platform\":{\"os\":\"linux\",\"architecture\":\"" arch "\"" variant "}}"

static void test_index_select(void **state) {
        static const char text[] =
                "{\"schemaVersion\":2,\"mediaType\":\"" OCI_MEDIA_TYPE_OCI_INDEX
                "\",\"manifests\":[" ENTRY(DA, "arm64", ",\"variant\":\"v8\"") "," ENTRY(
                        DB, "amd64",
                        "") "," ENTRY(DC, "arm",
                                      ",\"variant\":\"v6\"") ","
                                                             "{\"mediaType\":\"" OCI_MEDIA_TYPE_OCI_MANIFEST
                                                             "\",\"digest\":\"" DA "\",\"size\":5,"
                                                             "\"platform\":{\"os\":\"unknown\","
                                                             "\"architecture\":\"unknown\"}},"
                                                             "{\"mediaType\":\"" OCI_MEDIA_TYPE_OCI_MANIFEST
                                                             "\",\"digest\":\"" DA "\",\"size\":5}"
                                                             "]}";
        _cleanup_(oci_manifest_freep) OciManifest *m = NULL;
        const OciDescriptor *d;
        OciPlatform host;

        assert_int_equal(parse(NULL, text, &m), 0);
        assert_int_equal(m->kind, OCI_MANIFEST_INDEX);
        assert_int_equal(m->n_manifests, 5);

        assert_int_equal(oci_index_select(m, &(OciPlatform){"amd64", ""}, &d), 0);
        assert_string_equal(d->digest, DB);
        /* arm64's variant v8 is its default */
        assert_int_equal(oci_index_select(m, &(OciPlatform){"arm64", ""}, &d), 0);
        assert_string_equal(d->digest, DA);
        /* arm v7 runs v6 code; arm v5 does not */
        assert_int_equal(oci_index_select(m, &(OciPlatform){"arm", "v7"}, &d), 0);
        assert_string_equal(d->digest, DC);
        assert_int_equal(oci_index_select(m, &(OciPlatform){"arm", "v5"}, &d), -ENOENT);
        assert_int_equal(oci_index_select(m, &(OciPlatform){"s390x", ""}, &d), -ENOENT);
        /* amd64 v3 is not the v1 default */
        assert_int_equal(oci_index_select(m, &(OciPlatform){"amd64", "v3"}, &d), -ENOENT);

        oci_platform_host(&host);
        assert_non_null(host.architecture);
        assert_non_null(host.variant);
}

static void test_docker_list_and_nested_index(void **state) {
        static const char text[] =
                "{\"schemaVersion\":2,\"mediaType\":\"" OCI_MEDIA_TYPE_DOCKER_LIST "\",\"manifests\":["
                "{\"mediaType\":\"" OCI_MEDIA_TYPE_OCI_INDEX "\",\"digest\":\"" DA "\",\"size\":5,"
                "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
                "{\"mediaType\":\"" OCI_MEDIA_TYPE_DOCKER_MANIFEST "\",\"digest\":\"" DB "\",\"size\":5,"
                "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\",\"variant\":\"v1\"}}]}";
        _cleanup_(oci_manifest_freep) OciManifest *m = NULL;
        const OciDescriptor *d;

        assert_int_equal(parse(OCI_MEDIA_TYPE_DOCKER_LIST, text, &m), 0);
        /* the nested index is skipped, "v1" is amd64's default */
        assert_int_equal(oci_index_select(m, &(OciPlatform){"amd64", ""}, &d), 0);
        assert_string_equal(d->digest, DB);
}

static void test_invalid(void **state) {
        static const struct {
                const char *text;
                int error;
        } cases[] = {
                {"", -EBADMSG},
                {"[]", -EBADMSG},
                {"{\"schemaVersion\":1,\"config\":" OCI_CONFIG ",\"layers\":[" OCI_LAYER(DB, "tar") "]}",
                 -EBADMSG},
                {"{\"schemaVersion\":\"2\",\"config\":" OCI_CONFIG ",\"layers\":[" OCI_LAYER(DB, "tar") "]}",
                 -EBADMSG},
                /* no layers */
                {"{\"schemaVersion\":2,\"config\":" OCI_CONFIG ",\"layers\":[]}", -EBADMSG},
                {"{\"schemaVersion\":2,\"config\":" OCI_CONFIG "}", -EBADMSG},
                /* bad digest, size 0, negative size, size too big */
                {"{\"schemaVersion\":2,\"config\":" OCI_CONFIG ",\"layers\":[{\"mediaType\":"
                 "\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"sha256:abc\",\"size\":1}]}",
                 -EBADMSG},
                {"{\"schemaVersion\":2,\"config\":" OCI_CONFIG ",\"layers\":[{\"mediaType\":"
                 "\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"" DB "\",\"size\":0}]}",
                 -EBADMSG},
                {"{\"schemaVersion\":2,\"config\":" OCI_CONFIG ",\"layers\":[{\"mediaType\":"
                 "\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"" DB "\",\"size\":-1}]}",
                 -EBADMSG},
                {"{\"schemaVersion\":2,\"config\":" OCI_CONFIG ",\"layers\":[{\"mediaType\":"
                 "\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"" DB "\",\"size\":1e3}]}",
                 -EBADMSG},
                {"{\"schemaVersion\":2,\"config\":" OCI_CONFIG ",\"layers\":[{\"mediaType\":"
                 "\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"" DB
                 "\",\"size\":99999999999999}]}",
                 -EBADMSG},
                /* foreign layer, unknown config type, schema 1 */
                {"{\"schemaVersion\":2,\"config\":" OCI_CONFIG ",\"layers\":[{\"mediaType\":"
                 "\"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip\",\"digest\":\"" DB
                 "\",\"size\":1}]}",
                 -EMEDIUMTYPE},
                {"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"text/plain\",\"digest\":\"" DA
                 "\",\"size\":1},"
                 "\"layers\":[" OCI_LAYER(DB, "tar") "]}",
                 -EMEDIUMTYPE},
                {"{\"schemaVersion\":2,\"mediaType\":\"application/"
                 "vnd.docker.distribution.manifest.v1+json\"}",
                 -EMEDIUMTYPE},
                /* neither kind can be told */
                {"{\"schemaVersion\":2}", -EMEDIUMTYPE},
                /* repeated key */
                {"{\"schemaVersion\":2,\"schemaVersion\":2,\"config\":" OCI_CONFIG
                 ",\"layers\":[" OCI_LAYER(DB, "tar") "]}",
                 -EBADMSG},
                /* index entry with a platform lacking architecture, control characters */
                {"{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"x\",\"digest\":\"" DA "\",\"size\":1,"
                 "\"platform\":{\"os\":\"linux\"}}]}",
                 -EBADMSG},
                {"{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"x\\n\",\"digest\":\"" DA
                 "\",\"size\":1}]}",
                 -EBADMSG},
                {"{\"schemaVersion\":2,\"manifests\":{}}", -EBADMSG},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(oci_manifest_freep) OciManifest *m = NULL;
                int r = parse(NULL, cases[i].text, &m);
                if (r != cases[i].error)
                        fail_msg("case %zu: %d, expected %d", i, r, cases[i].error);
                assert_null(m);
        }
}

static void test_bounds(void **state) {
        _cleanup_free_ char *big = NULL, *many = NULL;
        _cleanup_(oci_manifest_freep) OciManifest *m = NULL;
        size_t n = 0, cap = (OCI_LAYERS_MAX + 1) * 200 + 512;

        big = calloc(1, OCI_MANIFEST_SIZE_MAX + 2);
        assert_non_null(big);
        memset(big, ' ', OCI_MANIFEST_SIZE_MAX + 1);
        assert_int_equal(oci_manifest_parse(NULL, big, OCI_MANIFEST_SIZE_MAX + 1, &m), -E2BIG);

        many = malloc(cap);
        assert_non_null(many);
        n += snprintf(many + n, cap - n, "{\"schemaVersion\":2,\"config\":" OCI_CONFIG ",\"layers\":[");
        for (size_t i = 0; i <= OCI_LAYERS_MAX; i++)
                n += snprintf(many + n, cap - n, "%s" OCI_LAYER(DB, "tar"), i ? "," : "");
        snprintf(many + n, cap - n, "]}");
        assert_int_equal(parse(NULL, many, &m), -E2BIG);
}

static void test_config(void **state) {
        static const char good[] =
                "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\","
                "\"diff_ids\":[\"" DA "\",\"" DB "\"]}}";
        _cleanup_free_ char *arch = NULL;

        assert_int_equal(oci_config_check(good, strlen(good), 2, &arch), 0);
        assert_string_equal(arch, "amd64");
        assert_int_equal(oci_config_check(good, strlen(good), 3, NULL), -EBADMSG);
        assert_int_equal(oci_config_check("{\"architecture\":\"amd64\",\"os\":\"windows\"}", 39, 1, NULL),
                         -EBADMSG);
        assert_int_equal(oci_config_check("{\"os\":\"linux\"}", 14, 1, NULL), -EBADMSG);
        assert_int_equal(oci_config_check("nope", 4, 1, NULL), -EBADMSG);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_oci_manifest),
                cmocka_unit_test(test_docker_manifest),
                cmocka_unit_test(test_media_type_from_header_or_structure),
                cmocka_unit_test(test_index_select),
                cmocka_unit_test(test_docker_list_and_nested_index),
                cmocka_unit_test(test_invalid),
                cmocka_unit_test(test_bounds),
                cmocka_unit_test(test_config),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
