/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The image record loader: images/<name>.json's bytes go the way image_store_open() takes them
 * (json_parse(), image_from_json()). A record that loads (local or OCI) must write back into an equal one,
 * and its digest must compute. */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "json-util.h"
#include "image-record.h"

static bool image_equal(const Image *a, const Image *b) {
        if (!streq(a->name, b->name) || !streq(a->id, b->id) || !streq(a->digest, b->digest) ||
            !streq_ptr(a->cmdline, b->cmdline) || a->created_at != b->created_at || a->size != b->size ||
            a->type != b->type || a->n_layers != b->n_layers)
                return false;
        for (size_t i = 0; i < a->n_layers; i++)
                if (!streq(a->layers[i].blob, b->layers[i].blob) || a->layers[i].size != b->layers[i].size)
                        return false;
        for (size_t i = 0; i < ELEMENTSOF(a->files); i++)
                if (!streq(a->files[i].blob, b->files[i].blob) || a->files[i].size != b->files[i].size)
                        return false;
        return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(json_object_putp) json_object *o = NULL, *written = NULL, *reread = NULL;
        _cleanup_(image_freep) Image *img = NULL, *again = NULL;
        char digest[IMAGE_DIGEST_LEN + 1];
        const char *text;
        int k;

        if (json_parse((const char *) data, size, &o) < 0)
                return 0;
        k = image_from_json(o, &img);
        if (k < 0) {
                fuzz_check(k == -EBADMSG || k == -ENOMEM);
                return 0;
        }
        fuzz_check(img->type == IMAGE_TYPE_OCI ? image_oci_name_is_valid(img->name)
                                               : image_name_is_valid(img->name));
        fuzz_check(image_cmdline_is_valid(img->cmdline));
        fuzz_check(image_compute_digest(img, digest) == 0);

        fuzz_check(image_to_json(img, &written) == 0);
        text = json_to_string(written);
        fuzz_check(text);
        k = json_parse(text, strlen(text), &reread);
        if (k < 0)
                fprintf(stderr, "written record does not parse: %s\n", text);
        fuzz_check(k == 0);
        k = image_from_json(reread, &again);
        if (k < 0)
                fprintf(stderr, "written record does not load: %s\n", text);
        fuzz_check(k == 0);
        if (!image_equal(img, again))
                fprintf(stderr, "written record loads as another one: %s\n", text);
        fuzz_check(image_equal(img, again));
        return 0;
}
