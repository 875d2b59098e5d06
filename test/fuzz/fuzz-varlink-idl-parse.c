/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Varlink IDL parser (cocoonctl introspect parses what a server sends): any text either fails with
 * -EBADMSG or parses into an interface that verifies, prints, and parses again into the same text. */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "macro.h"
#include "varlink-idl.h"

static void interface_freep(VarlinkInterface **i) {
        varlink_interface_free(*i);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(interface_freep) VarlinkInterface *iface = NULL, *again = NULL;
        _cleanup_free_ char *text = NULL, *printed = NULL, *reprinted = NULL;
        unsigned line = 0;
        int r;

        /* The parser takes a C string, as its callers do. */
        text = strndup((const char *) data, size);
        if (!text)
                return 0;

        r = varlink_idl_parse(text, &iface, &line);
        if (r < 0) {
                fuzz_check(r == -EBADMSG || r == -ENOMEM);
                if (r == -EBADMSG)
                        fuzz_check(line >= 1);
                return 0;
        }

        fuzz_check(varlink_idl_verify(iface) == 0);
        printed = varlink_idl_format(iface);
        fuzz_check(printed);

        /* What we print is what GetInterfaceDescription sends: it must read back, and print the same. */
        r = varlink_idl_parse(printed, &again, &line);
        if (r < 0)
                fprintf(stderr, "printed interface does not parse (line %u):\n%s\n", line, printed);
        fuzz_check(r == 0);
        reprinted = varlink_idl_format(again);
        fuzz_check(reprinted);
        if (!streq(printed, reprinted))
                fprintf(stderr, "printed:\n%s\nreprinted:\n%s\n", printed, reprinted);
        fuzz_check(streq(printed, reprinted));
        return 0;
}
