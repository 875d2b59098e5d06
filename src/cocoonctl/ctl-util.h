/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What every cocoonctl verb shares: parsed global options, the connection, error reporting, output. */
#pragma once

#include <errno.h>
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
/* What a verb returns to exit with its own code (0..255: vm status reports a VM state so), below the errnos
 * and CTL_ERROR_PARTIAL for the same reason. */
#define CTL_ERROR_EXIT_BASE (-8192)
#define CTL_ERROR_EXIT(code) (CTL_ERROR_EXIT_BASE - (code))

/* The error id of local failures (no Varlink error: connection, I/O, bad input) under --json. */
#define CTL_ERROR_LOCAL "cocoonctl.Failed"
/* The error id of usage errors (exit 2) under --json. */
#define CTL_ERROR_USAGE "cocoonctl.UsageError"

extern bool arg_json;
/* Errors are JSON under --json (arg_json), and also when --json or -o json is anywhere on the command line
 * (ctl_argv_wants_json()), so that a usage error the option parser meets before it is JSON too. */
extern bool arg_json_errors;
/* Whether argv[1..argc) holds --json (or an abbreviation getopt takes), -o json, -ojson, --output json or
 * --output=json before any "--". */
bool ctl_argv_wants_json(int argc, char **argv);
extern const char *arg_address;

/* How list verbs print: -o/--output table|wide|json (--json is -o json), -q/--quiet (ids only),
 * --no-headers, --no-trunc. */
typedef enum OutputMode {
        OUTPUT_TABLE,
        OUTPUT_WIDE,
        OUTPUT_JSON,
} OutputMode;
extern const char *arg_output;
extern bool arg_quiet, arg_no_headers, arg_no_trunc;
extern OutputMode arg_output_mode;

/* Turns arg_output, arg_json and arg_quiet into arg_output_mode (arg_json set for json). A usage error
 * (one line on stderr, -EINVAL) for an unknown format, and for -q with json or wide, or --json with another
 * -o. `verb` names the verb in messages. */
int ctl_output_resolve(const char *verb);

/* Tables show the first 12 characters of ids, as podman does: unique in practice, and a valid reference
 * (a unique prefix) to paste back. */
#define CTL_SHORT_ID_LENGTH 12
/* The id as the table shows it: shortened unless --no-trunc or -o wide. Returns buf or id. */
const char *ctl_id_cell(const char *id, char buf[static CTL_SHORT_ID_LENGTH + 1]);

/* The table of a list verb for the output mode: headers[0, n_table) for a table, [0, n_wide) for -o wide,
 * one column of ids without a header for -q; no header line with --no-headers; a plain table fitted to
 * the terminal (table_output_width()) by narrowing name_column. */
typedef struct Table Table;
int ctl_list_table_new(Table **ret, const char *const *headers, size_t n_table, size_t n_wide,
                       size_t name_column);

/* "…" when the locale's character set is UTF-8, else "...". */
const char *ctl_ellipsis(void);

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
 * {"error": ID, "parameters": {...}, "message": MESSAGE}: the parameters' message, or what the error
 * means. */
int ctl_report_error(const char *error_id, json_object *parameters);

/* The failure of one reference of a batch: "cocoonctl: VERB REF: ERROR: MESSAGE", or under --json
 * {"error": ERROR, "parameters": {"reference": REF, "message": MESSAGE}, "message": MESSAGE}. */
void ctl_report_ref_error(const char *verb, const char *ref, const char *error_id, const char *message);

/* A local failure: "cocoonctl: MESSAGE" on stderr (%m is r's text), or under --json
 * {"error": "cocoonctl.Failed", "parameters": {"errno": "ENOENT"}, "message": MESSAGE}. Returns -abs(r), or
 * -EIO for 0. */
int ctl_log_errno(int r, const char *format, ...) _printf_(2, 3);
/* Out of memory, as ctl_log_errno() reports it (JSON under --json, unlike log_oom()). Returns -ENOMEM. */
#define ctl_log_oom() ctl_log_errno(ENOMEM, "out of memory")

/* A usage error (the caller exits with CTL_EXIT_USAGE): "cocoonctl VERB: MESSAGE" ("cocoonctl: MESSAGE"
 * without a verb), or under --json {"error": "cocoonctl.UsageError", "parameters": {"verb": VERB,
 * "option": OPTION}, "message": MESSAGE}, NULL ones left out. Returns -EINVAL. */
int ctl_usage_error(const char *verb, const char *option, const char *format, ...) _printf_(3, 4);

/* The return of a batch verb: 0 if nothing failed, CTL_ERROR_PARTIAL if some references succeeded, else
 * -EBADE. */
int ctl_batch_result(size_t n_ok, size_t n_failed);

/* The references of "-": one per line of f, surrounding blanks trimmed, blank lines skipped. -EINVAL for a
 * NUL byte in the input; an empty list is returned as an empty strv. */
int ctl_read_refs(FILE *f, char ***ret);

/* Prints `o` as pretty JSON (and a newline) on stdout; NULL prints {}. */
void ctl_print_json(json_object *o);

/* Turns a verb's return into an exit code: >= 0 is success (0), CTL_ERROR_PARTIAL a partial batch failure,
 * CTL_ERROR_EXIT(code) the verb's own code, any other negative value (an errno) a failure. */
int ctl_exit_code(int r);

/* Typed reads of a reply object that tolerate absence: NULL / -1 when the key is missing or mistyped. */
const char *ctl_field_string(json_object *o, const char *key);
int64_t ctl_field_int(json_object *o, const char *key);
/* "2026-11-28T14:29:01.123456Z" -> "2026-11-28 15:29:01 +0100" in local time with its zone, as people read
 * it; "-" if unparsable. */
void ctl_format_local_time(const char *rfc3339, char *buf, size_t size);
/* How long before now_usec `usec` was: "5 seconds ago", "1 minute ago", "2 hours ago", "3 days ago",
 * "5 weeks ago", "4 months ago", "2 years ago"; "just now" for under a second or a time ahead of now
 * (clocks differ). */
void ctl_format_relative_time(uint64_t usec, uint64_t now_usec, char *buf, size_t size);
/* A createdAt cell: relative in OUTPUT_TABLE, absolute with the zone in OUTPUT_WIDE; "-" if unparsable. */
void ctl_format_created(const char *rfc3339, uint64_t now_usec, char *buf, size_t size);

/* Adds the size option --key (e.g. "512M", "1Gi") to the call's parameters p as bytes; NULL adds nothing. A
 * bad size is reported (JSON under --json) and -EINVAL returned. */
int ctl_add_size(json_object *p, const char *key, const char *value);
