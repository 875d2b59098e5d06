/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One call to the network helper (see network-helper-client.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "json-util.h"
#include "macro.h"
#include "network-helper-client.h"
#include "varlink.h"

int network_helper_call(const char *address, const char *method, json_object *parameters,
                        uint64_t timeout_usec, json_object **ret, bool *ret_answered, char **ret_error) {
        _cleanup_(varlink_unrefp) Varlink *link = NULL;
        json_object *reply = NULL;
        const char *error_id = NULL, *message = NULL;
        char *error = NULL;
        int r;

        *ret_answered = false;
        *ret_error = NULL;
        r = varlink_connect_address(&link, address);
        if (r < 0) {
                if (asprintf(&error,
                             "cannot reach the network helper on %s: %s (is cocoon-network.socket "
                             "installed and started?)",
                             address, strerror(-r)) >= 0)
                        *ret_error = error;
                return r;
        }
        (void) varlink_set_relative_timeout(link, timeout_usec);
        r = varlink_call(link, method, parameters, &reply, &error_id);
        if (r < 0) {
                if (asprintf(&error,
                             "the network helper gave no answer: %s (journalctl -u "
                             "cocoon-network.service)",
                             strerror(-r)) >= 0)
                        *ret_error = error;
                return r;
        }
        *ret_answered = true;
        if (error_id) {
                (void) json_get_string(reply, "message", &message);
                *ret_error = strdup(message ?: error_id);
                return -EPROTO;
        }
        if (ret)
                *ret = json_object_get(reply);
        return 0;
}
