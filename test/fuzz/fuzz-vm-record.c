/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The VM record loader: vm.json's bytes go the way store_open() takes them (json_parse(),
 * vm_record_from_json(), vm_record_validate()). A record that loads must also write back: its JSON parses
 * into an equal record that validates again, and the public and listing views build. */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "json-util.h"
#include "store.h"
#include "vm-types.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(json_object_putp) json_object *o = NULL, *written = NULL, *reread = NULL, *view = NULL;
        _cleanup_(vm_record_freep) VMRecord *r = NULL, *again = NULL;
        _cleanup_free_ char *message = NULL;
        const char *field = NULL, *text;
        int k;

        if (size > STORE_RECORD_MAX)
                return 0;
        if (json_parse((const char *) data, size, &o) < 0)
                return 0;
        k = vm_record_from_json(o, &r, &field);
        if (k < 0) {
                fuzz_check(k != -ENOMEM ? field || !json_object_is_type(o, json_type_object) : true);
                return 0;
        }
        k = vm_record_validate(r, &field, &message);
        if (k < 0) {
                fuzz_check(k == -EINVAL || k == -ENOMEM);
                if (k == -EINVAL)
                        fuzz_check(field);
                return 0;
        }

        /* store_put() writes this; the next store_open() reads it back. */
        fuzz_check(vm_record_to_json(r, &written) == 0);
        text = json_to_string(written);
        fuzz_check(text);
        k = json_parse(text, strlen(text), &reread);
        if (k < 0)
                fprintf(stderr, "written record does not parse: %s\n", text);
        fuzz_check(k == 0);
        field = NULL;
        k = vm_record_from_json(reread, &again, &field);
        if (k < 0)
                fprintf(stderr, "written record does not load (%s): %s\n", field ? field : "?", text);
        fuzz_check(k == 0);
        fuzz_check(vm_record_validate(again, NULL, NULL) == 0);
        if (!vm_record_equal(r, again))
                fprintf(stderr, "written record loads as another one: %s\n", text);
        fuzz_check(vm_record_equal(r, again));

        fuzz_check(vm_record_to_public_json(r, &view) == 0);
        json_object_put(TAKE_PTR(view));
        fuzz_check(vm_record_to_summary_json(r, &view) == 0);
        return 0;
}
