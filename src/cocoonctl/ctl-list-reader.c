/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* io.cocoon.VM.List's reply through yajl's callbacks. yajl checks the grammar; on top of it this refuses
 * NUL in strings, text that is not UTF-8 (yajl only checks the shape of multi-byte sequences: overlong
 * forms, surrogates and code points past U+10FFFF pass), a key twice in an object (as the Varlink layer's
 * parser has it) and deep nesting, and tracks where in the message each value sits: the envelope,
 * parameters, the vms array, one VM, its config. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistr.h>
#include <yajl/yajl_parse.h>

#include "ctl-list-reader.h"
#include "macro.h"

/* What an open container is. */
typedef enum Context {
        CTX_OTHER,
        CTX_MESSAGE,
        CTX_PARAMETERS,
        CTX_VMS,
        CTX_VM,
        CTX_CONFIG,
} Context;

/* What the value after the last key is to its object. */
typedef enum Key {
        KEY_OTHER,
        KEY_PARAMETERS,
        KEY_ERROR,
        KEY_CONTINUES,
        KEY_VMS,
        KEY_ID,
        KEY_NAME,
        KEY_STATE,
        KEY_BACKEND,
        KEY_CREATED_AT,
        KEY_ERROR_REASON,
        KEY_IP,
        KEY_CONFIG,
        KEY_CPU,
        KEY_MEMORY,
} Key;

/* A name and its length, for comparing with yajl's (unterminated) keys. */
#define NAME_LENGTH(s) s, sizeof(s) - 1

static const struct {
        Context context;
        const char *name;
        size_t length;
        Key key;
} key_table[] = {
        {CTX_MESSAGE, NAME_LENGTH("parameters"), KEY_PARAMETERS},
        {CTX_MESSAGE, NAME_LENGTH("error"), KEY_ERROR},
        {CTX_MESSAGE, NAME_LENGTH("continues"), KEY_CONTINUES},
        {CTX_PARAMETERS, NAME_LENGTH("vms"), KEY_VMS},
        {CTX_VM, NAME_LENGTH("id"), KEY_ID},
        {CTX_VM, NAME_LENGTH("name"), KEY_NAME},
        {CTX_VM, NAME_LENGTH("state"), KEY_STATE},
        {CTX_VM, NAME_LENGTH("backend"), KEY_BACKEND},
        {CTX_VM, NAME_LENGTH("createdAt"), KEY_CREATED_AT},
        {CTX_VM, NAME_LENGTH("errorReason"), KEY_ERROR_REASON},
        {CTX_VM, NAME_LENGTH("ip"), KEY_IP},
        {CTX_VM, NAME_LENGTH("config"), KEY_CONFIG},
        {CTX_CONFIG, NAME_LENGTH("cpu"), KEY_CPU},
        {CTX_CONFIG, NAME_LENGTH("memory"), KEY_MEMORY},
};

/* The row's strings, indexed by Key - KEY_ID. */
#define ROW_STRINGS (KEY_IP - KEY_ID + 1)

typedef struct Reader {
        list_row_fn row_fn;
        void *userdata;
        yajl_gen gen;
        ListReply reply;
        int error; /* why a callback stopped the parse */

        unsigned depth; /* open containers */
        Context context[LIST_READER_DEPTH_MAX + 1];
        size_t keys_start[LIST_READER_DEPTH_MAX + 1]; /* where an object's keys begin in keys */
        Key key; /* of the value to come, when the innermost container is an object */
        unsigned vms_depth; /* depth of the vms array while inside it, else 0 */
        char gen_pending; /* '{' or '[' opened but not yet passed to gen: it may turn out empty */

        /* The keys of every open object, back to back (a size_t length, then the bytes): one buffer for the
         * whole message, not a set per object. */
        char *keys;
        size_t keys_size, keys_allocated;

        /* The current VM's strings: offsets into strings (SIZE_MAX: none). */
        size_t row_string[ROW_STRINGS];
        int64_t row_cpu, row_memory;
        char *strings;
        size_t strings_size, strings_allocated;
} Reader;

static int grow(char **p, size_t *allocated, size_t need) {
        if (need <= *allocated)
                return 0;
        size_t n = MAX(*allocated * 2, need + 256);
        char *q = realloc(*p, n);
        if (!q)
                return -ENOMEM;
        *p = q;
        *allocated = n;
        return 0;
}

static int fail(Reader *r, int error) {
        r->error = error;
        return 0; /* yajl: stop */
}

static int gen_check(Reader *r, yajl_gen_status s) {
        if (s == yajl_gen_status_ok)
                return 1;
        return fail(r, s == yajl_gen_in_error_state ? -EPROTO : -ENOMEM);
}

/* Inside the vms array, every event goes to the generator too; a container opened just before is passed on
 * first. */
static bool forwarding(Reader *r) {
        if (!r->gen || r->vms_depth == 0)
                return false;
        if (r->gen_pending) {
                bool map = r->gen_pending == '{';
                r->gen_pending = 0;
                if (!gen_check(r, map ? yajl_gen_map_open(r->gen) : yajl_gen_array_open(r->gen)))
                        return false;
        }
        return true;
}

/* An empty container, printed as json-c's pretty print has it ("[" and "]" on two lines, the closing one
 * indented like the line that opened it) rather than yajl's (a blank line between). yajl_gen_number() writes
 * its text as given, with the separator and indentation in front that any value gets. */
static int gen_empty(Reader *r, bool map) {
        char text[2 + 2 * LIST_READER_DEPTH_MAX + 1];
        size_t level = r->depth - r->vms_depth, n = 0;

        text[n++] = map ? '{' : '[';
        text[n++] = '\n';
        for (size_t i = 0; i < level; i++) {
                text[n++] = ' ';
                text[n++] = ' ';
        }
        text[n++] = map ? '}' : ']';
        return gen_check(r, yajl_gen_number(r->gen, text, n));
}

static void row_reset(Reader *r) {
        for (size_t i = 0; i < ROW_STRINGS; i++)
                r->row_string[i] = SIZE_MAX;
        r->row_cpu = r->row_memory = -1;
        r->strings_size = 0;
}

static int row_emit(Reader *r) {
        if (!r->row_fn)
                return 1;
        const char *s[ROW_STRINGS];
        for (size_t i = 0; i < ROW_STRINGS; i++)
                s[i] = r->row_string[i] == SIZE_MAX ? NULL : r->strings + r->row_string[i];
        ListRow row = {
                .id = s[KEY_ID - KEY_ID],
                .name = s[KEY_NAME - KEY_ID],
                .state = s[KEY_STATE - KEY_ID],
                .backend = s[KEY_BACKEND - KEY_ID],
                .created_at = s[KEY_CREATED_AT - KEY_ID],
                .error_reason = s[KEY_ERROR_REASON - KEY_ID],
                .ip = s[KEY_IP - KEY_ID],
                .cpu = r->row_cpu,
                .memory = r->row_memory,
        };
        int k = r->row_fn(&row, r->userdata);
        return k < 0 ? fail(r, k) : 1;
}

/* The key a value is under (KEY_OTHER in arrays), or where a VM starts. */
static Key value_key(const Reader *r) {
        return r->depth > 0 && r->context[r->depth] != CTX_VMS ? r->key : KEY_OTHER;
}

static bool in_vms_array(const Reader *r) {
        return r->depth > 0 && r->context[r->depth] == CTX_VMS;
}

/* A scalar: checks the envelope's fields, keeps a VM's, and counts a non-object element of vms as a VM
 * without fields. */
static int scalar(Reader *r, Key key, bool is_string, bool is_null, bool is_false) {
        if (r->depth == 0)
                return fail(r, -EPROTO); /* the message is an object */
        switch (key) {
        case KEY_PARAMETERS:
                return is_null ? 1 : fail(r, -EPROTO);
        case KEY_ERROR:
                if (!is_string)
                        return fail(r, -EPROTO);
                r->reply.error = true;
                return 1;
        case KEY_CONTINUES:
                return is_false ? 1 : fail(r, -EPROTO); /* true: "more" was not asked for */
        default:
                break;
        }
        if (in_vms_array(r)) {
                row_reset(r);
                return row_emit(r);
        }
        return 1;
}

static int on_null(void *ctx) {
        Reader *r = ctx;
        if (forwarding(r) && !gen_check(r, yajl_gen_null(r->gen)))
                return 0;
        return scalar(r, value_key(r), false, true, false);
}

static int on_boolean(void *ctx, int b) {
        Reader *r = ctx;
        if (forwarding(r) && !gen_check(r, yajl_gen_bool(r->gen, b)))
                return 0;
        return scalar(r, value_key(r), false, false, !b);
}

/* A non-negative integer in plain digits that fits int64_t, else -1. */
static int64_t parse_count(const char *s, size_t n) {
        if (n == 0 || n > 18) /* 18 digits always fit; cpu and memory never need more */
                return -1;
        int64_t v = 0;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -1;
                v = v * 10 + (s[i] - '0');
        }
        return v;
}

static int on_number(void *ctx, const char *s, size_t n) {
        Reader *r = ctx;
        if (forwarding(r) && !gen_check(r, yajl_gen_number(r->gen, s, n)))
                return 0;
        Key key = value_key(r);
        if (key == KEY_CPU)
                r->row_cpu = parse_count(s, n);
        else if (key == KEY_MEMORY)
                r->row_memory = parse_count(s, n);
        return scalar(r, key, false, false, false);
}

/* A string or key as yajl decoded it: no NUL ("\u0000": C strings would end there), well-formed UTF-8
 * (this also catches a lone low surrogate escape, which yajl decodes into a surrogate's bytes). */
static bool text_valid(const unsigned char *s, size_t n) {
        return !memchr(s, 0, n) && !u8_check(s, n);
}

static int on_string(void *ctx, const unsigned char *s, size_t n) {
        Reader *r = ctx;
        if (!text_valid(s, n))
                return fail(r, -EPROTO);
        if (forwarding(r) && !gen_check(r, yajl_gen_string(r->gen, s, n)))
                return 0;
        Key key = value_key(r);
        if (key >= KEY_ID && key <= KEY_IP) {
                if (grow(&r->strings, &r->strings_allocated, r->strings_size + n + 1) < 0)
                        return fail(r, -ENOMEM);
                memcpy(r->strings + r->strings_size, s, n);
                r->strings[r->strings_size + n] = 0;
                r->row_string[key - KEY_ID] = r->strings_size;
                r->strings_size += n + 1;
        }
        return scalar(r, key, true, false, false);
}

static int on_map_key(void *ctx, const unsigned char *s, size_t n) {
        Reader *r = ctx;
        if (!text_valid(s, n))
                return fail(r, -EPROTO);

        /* Refuse a key this object already has: the keys so far are compared in turn (records have a dozen).
         * yajl hands keys out unescaped, so two spellings of one key compare equal. */
        for (size_t p = r->keys_start[r->depth]; p < r->keys_size;) {
                size_t len;
                memcpy(&len, r->keys + p, sizeof(len));
                p += sizeof(len);
                if (len == n && memcmp(r->keys + p, s, n) == 0)
                        return fail(r, -EPROTO);
                p += len;
        }
        if (grow(&r->keys, &r->keys_allocated, r->keys_size + sizeof(n) + n) < 0)
                return fail(r, -ENOMEM);
        memcpy(r->keys + r->keys_size, &n, sizeof(n));
        memcpy(r->keys + r->keys_size + sizeof(n), s, n);
        r->keys_size += sizeof(n) + n;

        if (forwarding(r) && !gen_check(r, yajl_gen_string(r->gen, s, n)))
                return 0;
        r->key = KEY_OTHER;
        Context c = r->context[r->depth];
        if (c == CTX_OTHER) /* most objects: nothing to look for */
                return 1;
        for (size_t i = 0; i < ELEMENTSOF(key_table); i++)
                if (key_table[i].context == c && key_table[i].length == n &&
                    memcmp(key_table[i].name, s, n) == 0) {
                        r->key = key_table[i].key;
                        break;
                }
        return 1;
}

static int open_container(Reader *r, bool map) {
        if (r->depth >= LIST_READER_DEPTH_MAX)
                return fail(r, -EPROTO);
        Key key = value_key(r);
        Context c = CTX_OTHER;

        if (r->depth == 0)
                c = map ? CTX_MESSAGE : CTX_OTHER;
        if (r->depth == 0 && !map)
                return fail(r, -EPROTO);
        if (key == KEY_ERROR || key == KEY_CONTINUES || (key == KEY_PARAMETERS && !map))
                return fail(r, -EPROTO);
        if (key == KEY_PARAMETERS)
                c = CTX_PARAMETERS;
        else if (key == KEY_VMS && !map) {
                c = CTX_VMS;
                r->reply.have_vms = true;
                r->vms_depth = r->depth + 1;
        } else if (key == KEY_CONFIG && map)
                c = CTX_CONFIG;
        else if (in_vms_array(r)) {
                row_reset(r);
                if (map)
                        c = CTX_VM;
                else if (!row_emit(r)) /* not an object: a VM without fields */
                        return 0;
        }

        if (forwarding(r))
                r->gen_pending = map ? '{' : '[';
        else if (r->error < 0)
                return 0;
        r->depth++;
        r->context[r->depth] = c;
        r->keys_start[r->depth] = r->keys_size;
        /* No key yet in an object; none at all in an array, where the key of the array itself must not
         * count for its elements. */
        r->key = KEY_OTHER;
        return 1;
}

static int close_container(Reader *r, bool map) {
        Context c = r->context[r->depth];
        if (r->gen_pending) {
                r->gen_pending = 0;
                if (!gen_empty(r, map))
                        return 0;
        } else if (forwarding(r)) {
                if (!gen_check(r, map ? yajl_gen_map_close(r->gen) : yajl_gen_array_close(r->gen)))
                        return 0;
        } else if (r->error < 0)
                return 0;
        if (c == CTX_VMS)
                r->vms_depth = 0;
        r->keys_size = r->keys_start[r->depth];
        r->depth--;
        /* Back in an object: the key of the value that just ended no longer matters. */
        r->key = KEY_OTHER;
        if (c == CTX_VM)
                return row_emit(r);
        return 1;
}

static int on_start_map(void *ctx) {
        return open_container(ctx, true);
}

static int on_end_map(void *ctx) {
        return close_container(ctx, true);
}

static int on_start_array(void *ctx) {
        return open_container(ctx, false);
}

static int on_end_array(void *ctx) {
        return close_container(ctx, false);
}

static const yajl_callbacks callbacks = {
        .yajl_null = on_null,
        .yajl_boolean = on_boolean,
        .yajl_number = on_number, /* as text: yajl's integer callback fails on numbers past long long */
        .yajl_string = on_string,
        .yajl_start_map = on_start_map,
        .yajl_map_key = on_map_key,
        .yajl_end_map = on_end_map,
        .yajl_start_array = on_start_array,
        .yajl_end_array = on_end_array,
};

int list_gen_new(yajl_gen *ret) {
        yajl_gen g = yajl_gen_alloc(NULL);
        /* Two spaces, as json-c indents (and gen_empty() above); strings were checked while parsing. */
        if (!g || !yajl_gen_config(g, yajl_gen_beautify, 1) ||
            !yajl_gen_config(g, yajl_gen_indent_string, "  ")) {
                if (g)
                        yajl_gen_free(g);
                return -ENOMEM;
        }
        *ret = g;
        return 0;
}

static void yajl_freep(yajl_handle *h) {
        if (*h)
                yajl_free(*h);
}

int list_reply_read(const char *text, size_t size, list_row_fn row, void *userdata, yajl_gen gen,
                    ListReply *ret) {
        Reader r = {.row_fn = row, .userdata = userdata, .gen = gen};
        _cleanup_(yajl_freep) yajl_handle h = yajl_alloc(&callbacks, NULL, &r);
        int k = -ENOMEM;

        if (!h)
                return -ENOMEM;
        /* Strict: UTF-8 checked (yajl_dont_validate_strings stays off), no comments, one value. */
        yajl_status s = yajl_parse(h, (const unsigned char *) text, size);
        if (s == yajl_status_ok)
                s = yajl_complete_parse(h);
        if (r.error < 0) /* a callback failed, or passing a value on to gen did */
                k = r.error;
        else
                k = s == yajl_status_ok ? 0 : -EPROTO;
        free(r.keys);
        free(r.strings);
        if (k < 0)
                return k;
        *ret = r.reply;
        return 0;
}
