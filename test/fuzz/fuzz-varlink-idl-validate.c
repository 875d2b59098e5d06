/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Parameter validation against the real interface tables. The input is "<interface>.<Symbol>\n<JSON>": the
 * JSON object is checked against the symbol's fields (a method's parameters and its reply, an error's or a
 * struct type's fields). Validation must never crash, and on failure must name the bad field
 * (InvalidParameter's "parameter"). */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "json-util.h"
#include "varlink-idl.h"
#include "varlink-interfaces.h"
#include "varlink-org-varlink-service.h"

static const VarlinkInterface *const interfaces[] = {
        &vl_interface_org_varlink_service,
        &vl_interface_io_cocoon,
        &vl_interface_io_cocoon_Manager,
        &vl_interface_io_cocoon_VM,
        &vl_interface_io_cocoon_Image,
};

static void check(const VarlinkInterface *iface, const VarlinkField *fields, json_object *o) {
        const char *bad = NULL;
        int r;

        r = varlink_idl_validate_fields(iface, fields, o, &bad);
        fuzz_check(r == 0 || r == -EINVAL);
        /* Named, if only as "" (an unknown key may be the empty string). */
        if (r < 0)
                fuzz_check(bad);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_free_ char *name = NULL;
        const char *nl, *dot;

        nl = memchr(data, '\n', size);
        if (!nl)
                return 0;
        name = strndup((const char *) data, (size_t) (nl - (const char *) data));
        if (!name)
                return 0;
        dot = strrchr(name, '.');
        if (!dot)
                return 0;

        /* The strict parser of the framing: what a handler's validation can ever be given. */
        if (json_parse(nl + 1, size - (size_t) (nl + 1 - (const char *) data), &o) < 0)
                return 0;
        if (!json_object_is_type(o, json_type_object))
                return 0;

        for (size_t i = 0; i < ELEMENTSOF(interfaces); i++) {
                const VarlinkInterface *iface = interfaces[i];
                const VarlinkSymbol *s = NULL;

                size_t l = (size_t) (dot - name);

                if (strlen(iface->name) != l || strncmp(iface->name, name, l) != 0)
                        continue;
                for (const VarlinkSymbol *const *p = iface->symbols; *p && !s; p++)
                        if (streq((*p)->name, dot + 1))
                                s = *p;
                if (!s)
                        return 0;
                check(iface, s->input, o);
                if (s->kind == VARLINK_SYMBOL_METHOD)
                        check(iface, s->output, o);
                /* No parameters at all is what a call without "parameters" is validated as. */
                check(iface, s->input, NULL);
        }
        return 0;
}
