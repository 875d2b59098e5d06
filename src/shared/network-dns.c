/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* DNS servers for guests with static NICs. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "macro.h"
#include "network-dns.h"
#include "strv-util.h"

int dns_servers_parse(const char *value, char ***ret) {
        _cleanup_strv_free_ char **servers = NULL;
        _cleanup_free_ char *copy = NULL;
        char *state = NULL;

        if (!value || !ret)
                return -EINVAL;
        copy = strdup(value);
        if (!copy)
                return -ENOMEM;
        for (char *w = strtok_r(copy, " \t", &state); w; w = strtok_r(NULL, " \t", &state)) {
                struct in_addr a;
                char canonical[INET_ADDRSTRLEN];

                /* inet_pton() takes only dotted quads (no "1.2.3", no hex); the guest gets the canonical
                 * form, which has no leading zeros. */
                if (inet_pton(AF_INET, w, &a) != 1 || !inet_ntop(AF_INET, &a, canonical, sizeof(canonical)))
                        return -EINVAL;
                if (!strv_contains(servers, canonical) && strv_extend(&servers, canonical) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(servers);
        return 0;
}
