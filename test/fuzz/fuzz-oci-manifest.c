/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Manifests and indexes as a registry sends them (oci_manifest_parse(), then oci_index_select() for the
 * host as a pull does). What parses must hold only well-formed digests and bounded sizes. */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "oci-manifest.h"

static void check_descriptor(const OciDescriptor *d, uint64_t max) {
        fuzz_check(oci_digest_is_valid(d->digest));
        fuzz_check(d->size > 0 && d->size <= max);
        fuzz_check(d->media_type);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(oci_manifest_freep) OciManifest *m = NULL;
        const OciDescriptor *d;
        OciPlatform host;
        int k;

        k = oci_manifest_parse(NULL, data, size, &m);
        if (k < 0) {
                fuzz_check(k == -EBADMSG || k == -EMEDIUMTYPE || k == -E2BIG || k == -ENOMEM);
                return 0;
        }
        fuzz_check(m->media_type);
        if (m->kind == OCI_MANIFEST_IMAGE) {
                fuzz_check(m->n_layers > 0 && m->n_layers <= OCI_LAYERS_MAX);
                check_descriptor(&m->config, OCI_CONFIG_SIZE_MAX);
                for (size_t i = 0; i < m->n_layers; i++)
                        check_descriptor(&m->layers[i], OCI_LAYER_SIZE_MAX);
                fuzz_check(oci_index_select(m, &(OciPlatform){"amd64", ""}, &d) == -EINVAL);
                return 0;
        }
        fuzz_check(m->n_manifests <= OCI_INDEX_ENTRIES_MAX);
        for (size_t i = 0; i < m->n_manifests; i++)
                check_descriptor(&m->manifests[i], OCI_MANIFEST_SIZE_MAX);
        oci_platform_host(&host);
        k = oci_index_select(m, &host, &d);
        fuzz_check(k == 0 || k == -ENOENT);
        if (k == 0)
                fuzz_check(strcmp(d->os, "linux") == 0 && strcmp(d->architecture, host.architecture) == 0);
        return 0;
}
