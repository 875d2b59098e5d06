/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What every cocoonctl verb shares: parsed global options, the connection, error reporting, output. */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "macro.h"
#include "varlink.h"

/* Exit codes: 0 success, 1 the operation failed (Varlink error or local failure), 2 usage error, 3 a verb
 * on several references where some succeeded and some failed. */
#define CTL_EXIT_FAILURE 1
#define CTL_EXIT_USAGE 2
#define CTL_EXIT_PARTIAL 3

/* What a verb returns when a batch partly failed: not an errno (those all lie below 4096), so that
 * ctl_exit_code() tells it from a failure. */
#define CTL_ERROR_PARTIAL (-4096)

/* The error id of local failures (no Varlink error: connection, I/O, bad input) under --json. */
#define CTL_ERROR_LOCAL "cocoonctl.Failed"

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

/* One line on stderr for a Varlink error reply; returns -EBADE. Under --json the line is the JSON object
 * {"error": ID, "parameters": {...}}. */
int ctl_report_error(const char *error_id, json_object *parameters);

/* The failure of one reference of a batch: "cocoonctl: VERB REF: ERROR: MESSAGE", or under --json
 * {"error": ERROR, "parameters": {"reference": REF, "message": MESSAGE}}. */
void ctl_report_ref_error(const char *verb, const char *ref, const char *error_id, const char *message);

/* A local failure: "cocoonctl: MESSAGE" on stderr (%m is r's text), or under --json
 * {"error": "cocoonctl.Failed", "parameters": {"errno": "ENOENT"}, "message": MESSAGE}. Returns -abs(r), or
 * -EIO for 0. */
int ctl_log_errno(int r, const char *format, ...) _printf_(2, 3);

/* The return of a batch verb: 0 if nothing failed, CTL_ERROR_PARTIAL if some references succeeded, else
 * -EBADE. */
int ctl_batch_result(size_t n_ok, size_t n_failed);

/* The references of "-": one per line of f, surrounding blanks trimmed, blank lines skipped. -EINVAL for a
 * NUL byte in the input; an empty list is returned as an empty strv. */
int ctl_read_refs(FILE *f, char ***ret);

/* Prints `o` as pretty JSON (and a newline) on stdout; NULL prints {}. */
void ctl_print_json(json_object *o);

/* Turns a verb's negative return into an exit code. */
int ctl_exit_code(int r);

/* Typed reads of a reply object that tolerate absence: NULL / -1 when the key is missing or mistyped. */
const char *ctl_field_string(json_object *o, const char *key);
int64_t ctl_field_int(json_object *o, const char *key);
/* "2026-11-28T14:29:01.123456Z" -> "2026-11-28 15:29:01" in local time, as people read it; "-" if unparsable. */
void ctl_format_local_time(const char *rfc3339, char *buf, size_t size);
