/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* CNI plugin output: the bytes are what a plugin printed. The result parser takes it (first IPv4 with a
 * prefix of 0-32, a MAC in canonical form, IPv4 DNS servers) or refuses it with a message; the error-object
 * reader gives a bounded sentence or nothing. A conflist parser gets the same bytes. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "macro.h"
#include "network-cni.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(cni_result_freep) CniResult *r = NULL;
        _cleanup_(cni_conflist_freep) CniConflist *c = NULL;
        _cleanup_free_ char *error = NULL, *conflist_error = NULL, *message = NULL;
        const char *text = (const char *) data;
        struct in_addr a;

        int k = cni_result_parse(text, size, "eth0", &r, &error);
        if (k < 0) {
                fuzz_check(k == -EBADMSG || k == -EINVAL || k == -ENOMEM);
                fuzz_check(!r);
                fuzz_check(k == -ENOMEM || error);
        } else {
                fuzz_check(r && r->json);
                if (r->ip) {
                        fuzz_check(inet_pton(AF_INET, r->ip, &a) == 1);
                        fuzz_check(r->prefix <= 32);
                }
                fuzz_check(!r->gateway || inet_pton(AF_INET, r->gateway, &a) == 1);
                fuzz_check(!r->mac || strlen(r->mac) == 17);
                for (char **d = r->dns; d && *d; d++)
                        fuzz_check(inet_pton(AF_INET, *d, &a) == 1);
        }

        message = cni_error_message(text, size);
        fuzz_check(!message || strlen(message) < 1100);

        k = cni_conflist_parse(text, size, &c, &conflist_error);
        if (k >= 0) {
                fuzz_check(cni_name_is_valid(c->name) && cni_version_is_supported(c->cni_version));
                fuzz_check(json_object_array_length(c->plugins) >= 1);
        } else
                fuzz_check(!c && (k == -ENOMEM || conflist_error));
        return 0;
}
