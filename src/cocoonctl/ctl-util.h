/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What every cocoonctl verb shares: parsed global options, the connection, error reporting, output. */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "varlink.h"

/* Exit codes: 0 success, 1 the operation failed (Varlink error or local failure), 2 usage error. */
#define CTL_EXIT_FAILURE 1
#define CTL_EXIT_USAGE 2

extern bool arg_json;
extern const char *arg_address;

/* Connects to the manager (arg_address or the default), with the client timeout of
 * $COCOON_CLIENT_TIMEOUT_SEC (default 45 s). Prints one line on failure. */
int ctl_connect(Varlink **ret);

/* $COCOON_CLIENT_TIMEOUT_SEC: seconds > 0 or "infinity" (UINT64_MAX); NULL is the default. */
int ctl_parse_client_timeout(const char *s, uint64_t *ret_usec);

/* Whether `method` waits for work whose length the client cannot know (guest stops, copies): ctl_call() then
 * waits without a timeout while the connection lives. */
bool ctl_method_is_long_running(const char *method);

/* Calls `method`; on a Varlink error prints one line "cocoonctl: <error>: <message>" and returns -EBADE.
 * Quick calls get the client timeout, long-running ones (above) none. *ret_reply is owned by the link
 * (valid until the next call on it). */
int ctl_call(Varlink *link, const char *method, json_object *parameters, json_object **ret_reply);

/* One line on stderr for a Varlink error reply; returns -EBADE. */
int ctl_report_error(const char *error_id, json_object *parameters);

/* Prints `o` as pretty JSON (and a newline) on stdout; NULL prints {}. */
void ctl_print_json(json_object *o);

/* Turns a verb's return into an exit code: a negative errno is a failure, >= 0 is the exit code (vm status
 * returns one per VM state). */
int ctl_exit_code(int r);

/* Typed reads of a reply object that tolerate absence: NULL / -1 when the key is missing or mistyped. */
const char *ctl_field_string(json_object *o, const char *key);
int64_t ctl_field_int(json_object *o, const char *key);
/* "2026-11-28T14:29:01.123456Z" -> "2026-11-28 15:29:01" in local time, as people read it; "-" if unparsable. */
void ctl_format_local_time(const char *rfc3339, char *buf, size_t size);
