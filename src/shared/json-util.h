/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* json-c helpers: cleanup, strict parsing, typed getters and builders, table-driven object dispatch. */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

static inline void json_object_putp(json_object **o) {
        if (*o)
                json_object_put(*o);
}

/* Parses exactly one JSON value from data (trailing whitespace allowed, nothing else). -EBADMSG on
 * malformed input, a repeated key or a NUL in a string (json_verify_text()). */
int json_parse(const char *data, size_t size, json_object **ret);

/* Checks the text o was parsed from for what json-c accepts silently but we refuse, as systemd's JSON parser
 * does: a key repeated in one object (json-c keeps the last value) at any nesting level, and a NUL in any
 * string, key or value ("\u0000", or a raw NUL byte). -EBADMSG when the text has either. json_parse() and
 * the Varlink framing run it on every document they parse. */
int json_verify_text(json_object *o, const char *text, size_t size);

/* Compact serialization without "\/" escaping; the string belongs to o. */
const char *json_to_string(json_object *o);

/* Typed lookups in an object. -ENXIO when the key is missing (or null), -EINVAL when the value has another
 * type, -ERANGE when a number does not fit. Strings point into o. */
int json_get_string(json_object *o, const char *key, const char **ret);
int json_get_bool(json_object *o, const char *key, bool *ret);
int json_get_int64(json_object *o, const char *key, int64_t *ret);
int json_get_uint64(json_object *o, const char *key, uint64_t *ret);

/* Builders: add key to the object o. A NULL string is skipped (the field is omitted). -ENOMEM on failure. */
int json_add_string(json_object *o, const char *key, const char *s);
int json_add_bool(json_object *o, const char *key, bool b);
int json_add_int64(json_object *o, const char *key, int64_t i);
int json_add_uint64(json_object *o, const char *key, uint64_t u);
/* Takes ownership of v in all cases (also on failure). */
int json_add_object(json_object *o, const char *key, json_object *v);
/* An array of strings; a NULL strv adds an empty array. */
int json_add_strv(json_object *o, const char *key, char *const *l);

/* ---- dispatch of JSON objects into C structs ---- */

typedef enum JsonDispatchFlags {
        JSON_MANDATORY = 1 << 0, /* per field: must be present (and, unless JSON_NULLABLE, not null) */
        JSON_NULLABLE = 1 << 1, /* per field: null is accepted and passed to the callback as NULL */
        JSON_ALLOW_UNKNOWN = 1 << 2, /* per call: keys missing from the table are ignored, not an error */
} JsonDispatchFlags;

/* v is never NULL unless the field is JSON_NULLABLE and the value was null; the callback then resets its
 * target. p points at the struct member (userdata + offset). Return -EINVAL/-ERANGE for a bad value. */
typedef int (*JsonDispatchCallback)(const char *name, json_object *v, void *p);

typedef struct JsonDispatch {
        const char *name;
        json_type type; /* the required JSON type; json_type_null accepts any type */
        JsonDispatchCallback callback;
        size_t offset;
        unsigned flags; /* JsonDispatchFlags */
} JsonDispatch;

/* Dispatches every key of o through table (terminated by an entry with name NULL). o must be an object.
 * Errors, with *ret_bad_field (optional) set to the table's name for the field or to the unknown key (which
 * points into o):
 *   -ENXIO         a JSON_MANDATORY field is missing or null
 *   -EADDRNOTAVAIL a key not in the table (without JSON_ALLOW_UNKNOWN)
 *   -EINVAL        wrong JSON type or a null for a field that is not JSON_NULLABLE; or from a callback
 *   any other      from a callback (e.g. -ERANGE, -ENOMEM)
 * Fields already dispatched before an error keep their new values; the caller frees the struct. */
int json_dispatch(json_object *o, const JsonDispatch table[], unsigned flags, void *userdata,
                  const char **ret_bad_field);

/* Ready callbacks. Numbers must be JSON integers (1.0 is rejected); json-c keeps values above INT64_MAX
 * as unsigned, which json_dispatch_uint64 accepts and the signed ones reject. */
int json_dispatch_string(const char *name, json_object *v, void *p); /* char **, owned (strdup) */
int json_dispatch_const_string(const char *name, json_object *v, void *p); /* const char **, points into v */
int json_dispatch_int64(const char *name, json_object *v, void *p); /* int64_t * */
/* int64_t *: the index of a file descriptor passed with a call; -1 when absent or null, -ERANGE below 0 */
int json_dispatch_fd_index(const char *name, json_object *v, void *p);
int json_dispatch_uint64(const char *name, json_object *v, void *p); /* uint64_t * */
int json_dispatch_uint32(const char *name, json_object *v, void *p); /* uint32_t * */
int json_dispatch_int(const char *name, json_object *v, void *p); /* int * */
int json_dispatch_bool(const char *name, json_object *v, void *p); /* bool * */
int json_dispatch_tristate(const char *name, json_object *v, void *p); /* int *: -1 (null), 0, 1 */
int json_dispatch_strv(const char *name, json_object *v, void *p); /* char ***, owned */
