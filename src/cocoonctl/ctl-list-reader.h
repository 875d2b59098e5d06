/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reading io.cocoon.VM.List's reply (10,000 VMs and more) with yajl's callback parser: no tree, no hash
 * table per object. One pass checks the whole message and hands out each VM's table fields, or re-emits
 * the vms array for --json. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yajl/yajl_gen.h>

/* Nesting limit, as the Varlink layer's parser has. */
#define LIST_READER_DEPTH_MAX 64

/* The fields of one VM the table shows. A string is NULL when the record has none or it is not a string;
 * cpu and memory are -1 unless a non-negative integer. Valid during the row callback only. */
typedef struct ListRow {
        const char *id, *name, *state, *backend, *created_at, *error_reason;
        const char *ip; /* the summary's "ip": the NICs' static addresses, comma-separated */
        int64_t cpu, memory;
} ListRow;

typedef int (*list_row_fn)(const ListRow *row, void *userdata);

typedef struct ListReply {
        bool error; /* the message carries "error": parse it the usual way (it is small) */
        bool have_vms; /* parameters.vms is an array */
} ListReply;

/* A generator for list_reply_read() that prints what json_object_to_json_string_ext(…,
 * JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE) prints for the same
 * value, with a newline after it: --json looks the same as for the other verbs. */
int list_gen_new(yajl_gen *ret);

/* Reads one Varlink reply message, text[0, size), strictly: one JSON object (UTF-8, no NUL in strings or
 * keys, no key twice in an object, nesting up to LIST_READER_DEPTH_MAX), "parameters" an object or null,
 * "error" a string, "continues" false if present. Calls row (unless NULL) for each element of
 * parameters.vms, and re-emits that array into gen (unless NULL). Rows and gen output are only meaningful
 * when this returns 0 with !ret->error && ret->have_vms. -EPROTO when the message is not such a message,
 * -ENOMEM, or row's negative return. */
int list_reply_read(const char *text, size_t size, list_row_fn row, void *userdata, yajl_gen gen,
                    ListReply *ret);
