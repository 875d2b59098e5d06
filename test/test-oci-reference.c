/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for image reference normalization: the valid and invalid names of Docker's reference package
 * tests (normalize_test.go, reference_test.go), tags, digests, and the normalized strings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "oci-reference.h"

#define D64 "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"

static void assert_normalizes(const char *in, const char *out) {
        _cleanup_(oci_reference_freep) OciReference *r = NULL;
        _cleanup_free_ char *s = NULL;

        if (oci_reference_parse(in, &r) != 0)
                fail_msg("%s should parse", in);
        assert_int_equal(oci_reference_to_string(r, &s), 0);
        if (strcmp(s, out) != 0)
                fail_msg("%s normalized to %s, expected %s", in, s, out);
}

static void assert_invalid(const char *in) {
        _cleanup_(oci_reference_freep) OciReference *r = NULL;

        if (oci_reference_parse(in, &r) != -EINVAL)
                fail_msg("%s should be refused", in);
        assert_null(r);
}

static void test_valid_names(void **state) {
        static const char *const valid[] = {
                "docker/docker",
                "library/debian",
                "debian",
                "localhost/library/debian",
                "localhost/debian",
                "LOCALDOMAIN/library/debian",
                "LOCALDOMAIN/debian",
                "docker.io/docker/docker",
                "docker.io/library/debian",
                "docker.io/debian",
                "index.docker.io/docker/docker",
                "index.docker.io/library/debian",
                "index.docker.io/debian",
                "127.0.0.1:5000/docker/docker",
                "127.0.0.1:5000/library/debian",
                "127.0.0.1:5000/debian",
                "192.168.0.1",
                "192.168.0.1:80",
                "192.168.0.1:8/debian",
                "192.168.0.2:25000/debian",
                "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
                "[fc00::1]:5000/docker",
                "[fc00::1]:5000/docker/docker",
                "[2001:db8::1]:5000/debian",
                "docker.io/a_b__c/d-e---f.g",
                "a.b.c/x/y/z",
                /* 63 hex digits, or 64 with uppercase: not an image ID */
                "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3",
        };
        for (size_t i = 0; i < ELEMENTSOF(valid); i++) {
                _cleanup_(oci_reference_freep) OciReference *r = NULL;
                if (oci_reference_parse(valid[i], &r) != 0)
                        fail_msg("%s should parse", valid[i]);
        }
}

static void test_invalid_names(void **state) {
        static const char *const invalid[] = {
                "",
                "https://github.com/docker/docker",
                "docker/Docker",
                "-docker",
                "-docker/docker",
                "-docker.io/docker/docker",
                "docker///docker",
                "docker.io/docker/Docker",
                "docker.io/docker///docker",
                "[fc00::1]",
                "[fc00::1]:5000",
                "fc00::1:5000/debian",
                "[fe80::1%eth0]:5000/debian",
                "[2001:db8:3:4::192.0.2.33]:5000/debian",
                "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
                "Uppercase",
                "foo_bar.com:8080/a",  /* '_' is not allowed in a host */
                "a/b_",
                "a/_b",
                "a/b___c",
                "a/b..c",
                "a/b.-c",
                "a//b",
                "a/",
                "/a",
                "test image:1",
                ":",
                "private.registry:port/namespace/test:1",
                "private.registry:5000/namespace/test:image:1",
                "private@registry:5000/test",
                "$$$",
                "::",
                "docker://quay.io/library/foo:bar",
                " ",
                "localhost:/foo",
                "host-.com/foo",
        };
        for (size_t i = 0; i < ELEMENTSOF(invalid); i++)
                assert_invalid(invalid[i]);
}

static void test_normalization(void **state) {
        assert_normalizes("busybox", "docker.io/library/busybox:latest");
        assert_normalizes("library/busybox:1.36", "docker.io/library/busybox:1.36");
        assert_normalizes("index.docker.io/busybox", "docker.io/library/busybox:latest");
        assert_normalizes("docker.io/foo/bar", "docker.io/foo/bar:latest");
        assert_normalizes("localhost/foo", "localhost/foo:latest");
        assert_normalizes("localhost:5000", "docker.io/library/localhost:5000");
        assert_normalizes("127.0.0.1:5000/foo/bar:v1", "127.0.0.1:5000/foo/bar:v1");
        assert_normalizes("quay.io/a/b@" D64, "quay.io/a/b@" D64);
        assert_normalizes("busybox:1@" D64, "docker.io/library/busybox:1@" D64);
        assert_normalizes("[fc00::1]:5000/x:y", "[fc00::1]:5000/x:y");
}

static void test_parts(void **state) {
        _cleanup_(oci_reference_freep) OciReference *r = NULL, *d = NULL, *h = NULL;

        assert_int_equal(oci_reference_parse("busybox", &r), 0);
        assert_string_equal(r->domain, "docker.io");
        assert_string_equal(r->repository, "library/busybox");
        assert_string_equal(r->tag, "latest");
        assert_null(r->digest);
        assert_string_equal(oci_reference_api_host(r), "registry-1.docker.io");
        assert_string_equal(oci_reference_manifest_ref(r), "latest");

        assert_int_equal(oci_reference_parse("127.0.0.1:5000/app:v2@" D64, &d), 0);
        assert_string_equal(d->domain, "127.0.0.1:5000");
        assert_string_equal(d->tag, "v2");
        assert_string_equal(d->digest, D64);
        assert_string_equal(oci_reference_api_host(d), "127.0.0.1:5000");
        assert_string_equal(oci_reference_manifest_ref(d), D64);

        assert_int_equal(oci_reference_parse("Host.Example/app", &h), 0);
        assert_string_equal(h->domain, "Host.Example");
}

static void test_tags_and_digests(void **state) {
        char tag[OCI_TAG_MAX + 2], ref[OCI_TAG_MAX + 16];

        /* 128 characters of tag is the limit */
        memset(tag, 'a', OCI_TAG_MAX);
        tag[OCI_TAG_MAX] = '\0';
        snprintf(ref, sizeof(ref), "x:%s", tag);
        {
                _cleanup_(oci_reference_freep) OciReference *r = NULL;
                assert_int_equal(oci_reference_parse(ref, &r), 0);
        }
        snprintf(ref, sizeof(ref), "x:%sa", tag);
        assert_invalid(ref);
        assert_invalid("x:.a");
        assert_invalid("x:-a");
        assert_invalid("x:");
        assert_invalid("x@");
        assert_invalid("x@sha256:abc");
        assert_invalid("x@sha256:FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF");
        assert_invalid("x@sha512:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff");
        assert_invalid("x@" D64 "f");
        assert_invalid("x@" D64 "@" D64);

        assert_true(oci_digest_is_valid(D64));
        assert_false(oci_digest_is_valid("sha256:"));
        assert_false(oci_digest_is_valid(NULL));
}

static void test_length_limit(void **state) {
        char name[OCI_NAME_MAX + 8];

        /* "docker.io/" (10) + "library/" (8) + n ≤ 255 */
        memset(name, 'a', sizeof(name));
        name[OCI_NAME_MAX - 18] = '\0';
        {
                _cleanup_(oci_reference_freep) OciReference *r = NULL;
                assert_int_equal(oci_reference_parse(name, &r), 0);
        }
        name[OCI_NAME_MAX - 18] = 'a';
        name[OCI_NAME_MAX - 17] = '\0';
        assert_invalid(name);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_valid_names),
                cmocka_unit_test(test_invalid_names),
                cmocka_unit_test(test_normalization),
                cmocka_unit_test(test_parts),
                cmocka_unit_test(test_tags_and_digests),
                cmocka_unit_test(test_length_limit),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
