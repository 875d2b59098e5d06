/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Calling the network helper cocoon-network (io.cocoon.Network) from a worker thread: connect, one call,
 * its answer. Blocking: never on the event loop. */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

/* Calls method with parameters on the helper's socket at address, waiting up to timeout_usec. On success
 * *ret (optional) gets the reply's parameters (a new reference). Failures: -EPROTO when the helper answered
 * with an error (*ret_answered true), other -errno when it could not be reached or gave no answer (died,
 * timed out; *ret_answered false); *ret_error says what, for operators. */
int network_helper_call(const char *address, const char *method, json_object *parameters,
                        uint64_t timeout_usec, json_object **ret, bool *ret_answered, char **ret_error);
