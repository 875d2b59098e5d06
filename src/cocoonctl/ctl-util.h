/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What every cocoonctl verb shares: parsed global options, the connection, error reporting, output. */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>

#include "varlink.h"

/* Exit codes: 0 success, 1 the operation failed (Varlink error or local failure), 2 usage error. */
#define CTL_EXIT_FAILURE 1
#define CTL_EXIT_USAGE 2

extern bool arg_json;
extern const char *arg_address;

/* Connects to the manager (arg_address or the default). Prints one line on failure. */
int ctl_connect(Varlink **ret);

/* Calls `method`; on a Varlink error prints one line "cocoonctl: <error>: <message>" and returns -EBADE.
 * *ret_reply is owned by the link (valid until the next call on it). */
int ctl_call(Varlink *link, const char *method, json_object *parameters, json_object **ret_reply);

/* One line on stderr for a Varlink error reply; returns -EBADE. */
int ctl_report_error(const char *error_id, json_object *parameters);

/* Prints `o` as pretty JSON (and a newline) on stdout; NULL prints {}. */
void ctl_print_json(json_object *o);

/* Turns a verb's negative return into an exit code. */
int ctl_exit_code(int r);
