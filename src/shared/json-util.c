/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* json-c helpers: cleanup, strict parsing, typed getters and builders, table-driven object dispatch. */
#include <limits.h>

#include "json-util.h"

/* The member count of every object in the tree, in pre-order: the order in which their '{' appear in the
 * text, as long as no key repeats (json-c keeps a repeated key at its first position, so order and counts
 * up to the first repeating object still agree). */
typedef struct CountList {
        uint32_t *counts;
        size_t n, allocated;
} CountList;

static int count_list_push(CountList *l, size_t count) {
        if (count > UINT32_MAX)
                return -EBADMSG;
        if (l->n >= l->allocated) {
                size_t a = MAX(l->allocated * 2, (size_t) 16);
                uint32_t *c = reallocarray(l->counts, a, sizeof(uint32_t));
                if (!c)
                        return -ENOMEM;
                l->counts = c;
                l->allocated = a;
        }
        l->counts[l->n++] = (uint32_t) count;
        return 0;
}

static int tree_object_counts(json_object *o, CountList *l) {
        int r;

        if (json_object_is_type(o, json_type_object)) {
                r = count_list_push(l, (size_t) json_object_object_length(o));
                if (r < 0)
                        return r;
                json_object_object_foreach(o, key, v) {
                        (void) key;
                        r = tree_object_counts(v, l);
                        if (r < 0)
                                return r;
                }
        } else if (json_object_is_type(o, json_type_array)) {
                size_t n = json_object_array_length(o);
                for (size_t i = 0; i < n; i++) {
                        r = tree_object_counts(json_object_array_get_idx(o, i), l);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

/* Whether the 4 hex digits after a "\u" in a string are 0000. */
static bool escape_is_nul(const char *p, size_t left) {
        return left >= 4 && memcmp(p, "0000", 4) == 0;
}

/* *i is at the opening quote of a string: moves it to the closing one. -EBADMSG for a \u0000 escape or an
 * unterminated string. */
static int skip_string(const char *text, size_t size, size_t *i) {
        const char *end = text + size, *p = text + *i + 1;

        for (;;) {
                const char *quote = memchr(p, '"', (size_t) (end - p)), *backslash;

                if (!quote)
                        return -EBADMSG;
                backslash = memchr(p, '\\', (size_t) (quote - p));
                if (!backslash) {
                        *i = (size_t) (quote - text);
                        return 0;
                }
                if (end - backslash < 2)
                        return -EBADMSG;
                if (backslash[1] == 'u' && escape_is_nul(backslash + 2, (size_t) (end - backslash - 2)))
                        return -EBADMSG;
                p = backslash + 2; /* the escaped character cannot end the string */
        }
}

/* Walks the (already json-c-validated) text once: refuses a NUL in any string, and compares the members
 * written in each object with what the tree kept. The walk needs no key comparison of its own, so escaped
 * spellings of one key ("a" and "\u0061") are caught too: json-c decoded them to the same key. */
int json_verify_text(json_object *o, const char *text, size_t size) {
        _cleanup_free_ size_t *stack = NULL; /* per open container: its index in `counts`, or SIZE_MAX */
        CountList tree = {}, counts = {};
        size_t depth = 0, stack_allocated = 0, n_objects = 0;
        int r;

        if (!text)
                return -EINVAL;

        r = tree_object_counts(o, &tree);
        if (r < 0)
                goto finish;

        /* A raw NUL can only be inside a string (json-c accepted the text): refused either way. */
        if (memchr(text, 0, size)) {
                r = -EBADMSG;
                goto finish;
        }
        for (size_t i = 0; i < size; i++) {
                char c = text[i];

                if (c == '"') {
                        /* Skip the string with memchr(): most of a large document is strings. */
                        r = skip_string(text, size, &i);
                        if (r < 0)
                                goto finish;
                        continue;
                }
                switch (c) {
                case '{':
                case '[':
                        if (depth >= stack_allocated) {
                                size_t a = MAX(stack_allocated * 2, (size_t) 16);
                                size_t *s = reallocarray(stack, a, sizeof(size_t));
                                if (!s) {
                                        r = -ENOMEM;
                                        goto finish;
                                }
                                stack = s;
                                stack_allocated = a;
                        }
                        if (c == '{') {
                                r = count_list_push(&counts, 0);
                                if (r < 0)
                                        goto finish;
                                stack[depth++] = n_objects++;
                        } else
                                stack[depth++] = SIZE_MAX;
                        break;
                case '}':
                case ']':
                        if (depth == 0) {
                                r = -EBADMSG;
                                goto finish;
                        }
                        depth--;
                        break;
                case ':':
                        /* One colon per member, at the level of the object it belongs to. */
                        if (depth == 0 || stack[depth - 1] == SIZE_MAX) {
                                r = -EBADMSG;
                                goto finish;
                        }
                        counts.counts[stack[depth - 1]]++;
                        break;
                default:
                        break;
                }
        }

        r = 0;
        if (depth != 0 || counts.n != tree.n)
                r = -EBADMSG;
        for (size_t i = 0; r == 0 && i < counts.n; i++)
                if (counts.counts[i] != tree.counts[i])
                        r = -EBADMSG;
finish:
        free(tree.counts);
        free(counts.counts);
        return r;
}

int json_parse(const char *data, size_t size, json_object **ret) {
        json_tokener *tok;
        json_object *o;
        size_t consumed;
        int r;

        if (!data || size > INT_MAX)
                return -EINVAL;

        tok = json_tokener_new();
        if (!tok)
                return -ENOMEM;
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS);
        o = json_tokener_parse_ex(tok, data, (int) size);
        enum json_tokener_error err = json_tokener_get_error(tok);
        consumed = json_tokener_get_parse_end(tok);
        json_tokener_free(tok);

        if (!o && err == json_tokener_success)
                err = json_tokener_error_parse_null; /* a literal null is no record either */
        if (err != json_tokener_success) {
                json_object_put(o);
                return -EBADMSG;
        }

        /* The tokener stops after the first value; only whitespace may follow. */
        for (size_t i = consumed; i < size; i++)
                if (!strchr(" \t\r\n", data[i])) {
                        json_object_put(o);
                        return -EBADMSG;
                }
        r = json_verify_text(o, data, consumed);
        if (r < 0) {
                json_object_put(o);
                return r;
        }

        *ret = o;
        return 0;
}

const char *json_to_string(json_object *o) {
        return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
}

static int json_get_typed(json_object *o, const char *key, json_type type, json_object **ret) {
        json_object *v;

        if (!json_object_is_type(o, json_type_object))
                return -EINVAL;
        if (!json_object_object_get_ex(o, key, &v) || !v)
                return -ENXIO;
        if (!json_object_is_type(v, type))
                return -EINVAL;
        *ret = v;
        return 0;
}

int json_get_string(json_object *o, const char *key, const char **ret) {
        json_object *v;
        int r = json_get_typed(o, key, json_type_string, &v);
        if (r < 0)
                return r;
        *ret = json_object_get_string(v);
        return 0;
}

int json_get_bool(json_object *o, const char *key, bool *ret) {
        json_object *v;
        int r = json_get_typed(o, key, json_type_boolean, &v);
        if (r < 0)
                return r;
        *ret = json_object_get_boolean(v);
        return 0;
}

/* json-c clamps on conversion; detect what does not fit instead. */
static int json_int_to_int64(json_object *v, int64_t *ret) {
        int64_t i = json_object_get_int64(v);
        if (i == INT64_MAX && json_object_get_uint64(v) > (uint64_t) INT64_MAX)
                return -ERANGE;
        *ret = i;
        return 0;
}

static int json_int_to_uint64(json_object *v, uint64_t *ret) {
        if (json_object_get_int64(v) < 0)
                return -ERANGE;
        *ret = json_object_get_uint64(v);
        return 0;
}

int json_get_int64(json_object *o, const char *key, int64_t *ret) {
        json_object *v;
        int r = json_get_typed(o, key, json_type_int, &v);
        if (r < 0)
                return r;
        return json_int_to_int64(v, ret);
}

int json_get_uint64(json_object *o, const char *key, uint64_t *ret) {
        json_object *v;
        int r = json_get_typed(o, key, json_type_int, &v);
        if (r < 0)
                return r;
        return json_int_to_uint64(v, ret);
}

int json_add_object(json_object *o, const char *key, json_object *v) {
        if (!v)
                return -ENOMEM;
        if (json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

int json_add_string(json_object *o, const char *key, const char *s) {
        if (!s)
                return 0;
        return json_add_object(o, key, json_object_new_string(s));
}

int json_add_bool(json_object *o, const char *key, bool b) {
        return json_add_object(o, key, json_object_new_boolean(b));
}

int json_add_int64(json_object *o, const char *key, int64_t i) {
        return json_add_object(o, key, json_object_new_int64(i));
}

int json_add_uint64(json_object *o, const char *key, uint64_t u) {
        return json_add_object(o, key, json_object_new_uint64(u));
}

int json_add_strv(json_object *o, const char *key, char *const *l) {
        _cleanup_(json_object_putp) json_object *a = NULL;

        a = json_object_new_array();
        if (!a)
                return -ENOMEM;
        for (char *const *i = l; i && *i; i++) {
                json_object *s = json_object_new_string(*i);
                if (!s)
                        return -ENOMEM;
                if (json_object_array_add(a, s) < 0) {
                        json_object_put(s);
                        return -ENOMEM;
                }
        }
        return json_add_object(o, key, TAKE_PTR(a));
}

static const JsonDispatch *json_dispatch_find(const JsonDispatch table[], const char *key) {
        for (const JsonDispatch *d = table; d->name; d++)
                if (streq(d->name, key))
                        return d;
        return NULL;
}

static bool json_type_matches(json_object *v, json_type want) {
        if (want == json_type_null)
                return true;
        /* An integer is a fine value for a floating point field, not the other way round. */
        if (want == json_type_double && json_object_is_type(v, json_type_int))
                return true;
        return json_object_is_type(v, want);
}

static int json_dispatch_one(const JsonDispatch *d, json_object *v, void *userdata) {
        if (!v) {
                if (!(d->flags & JSON_NULLABLE))
                        return -EINVAL;
        } else if (!json_type_matches(v, d->type))
                return -EINVAL;

        if (!d->callback)
                return 0;
        return d->callback(d->name, v, (uint8_t *) userdata + d->offset);
}

int json_dispatch(json_object *o, const JsonDispatch table[], unsigned flags, void *userdata,
                  const char **ret_bad_field) {
        int r;

        if (!json_object_is_type(o, json_type_object)) {
                if (ret_bad_field)
                        *ret_bad_field = NULL;
                return -EINVAL;
        }

        /* json-c's foreach macro declares key and value in the function's scope. */
        json_object_object_foreach(o, key, value) {
                const JsonDispatch *d = json_dispatch_find(table, key);
                if (!d) {
                        if (flags & JSON_ALLOW_UNKNOWN)
                                continue;
                        if (ret_bad_field)
                                *ret_bad_field = key;
                        return -EADDRNOTAVAIL;
                }
                r = json_dispatch_one(d, value, userdata);
                if (r < 0) {
                        if (ret_bad_field)
                                *ret_bad_field = d->name;
                        return r;
                }
        }

        for (const JsonDispatch *d = table; d->name; d++) {
                json_object *v;
                if (!(d->flags & JSON_MANDATORY))
                        continue;
                if (json_object_object_get_ex(o, d->name, &v) && (v || (d->flags & JSON_NULLABLE)))
                        continue;
                if (ret_bad_field)
                        *ret_bad_field = d->name;
                return -ENXIO;
        }

        return 0;
}

int json_dispatch_string(const char *name, json_object *v, void *p) {
        char **s = p, *n = NULL;

        if (v) {
                if (!json_object_is_type(v, json_type_string))
                        return -EINVAL;
                /* json-c strings may hold NUL bytes; a C string cannot. */
                if (strlen(json_object_get_string(v)) != (size_t) json_object_get_string_len(v))
                        return -EINVAL;
                n = strdup(json_object_get_string(v));
                if (!n)
                        return -ENOMEM;
        }
        free(*s);
        *s = n;
        return 0;
}

int json_dispatch_const_string(const char *name, json_object *v, void *p) {
        const char **s = p;

        if (!v) {
                *s = NULL;
                return 0;
        }
        if (!json_object_is_type(v, json_type_string))
                return -EINVAL;
        if (strlen(json_object_get_string(v)) != (size_t) json_object_get_string_len(v))
                return -EINVAL;
        *s = json_object_get_string(v);
        return 0;
}

int json_dispatch_int64(const char *name, json_object *v, void *p) {
        int64_t *i = p;

        if (!v) {
                *i = 0;
                return 0;
        }
        if (!json_object_is_type(v, json_type_int))
                return -EINVAL;
        return json_int_to_int64(v, i);
}

int json_dispatch_fd_index(const char *name, json_object *v, void *p) {
        int64_t *index = p;

        if (!v) {
                *index = -1;
                return 0;
        }
        int r = json_dispatch_int64(name, v, index);
        if (r < 0)
                return r;
        return *index < 0 ? -ERANGE : 0;
}

int json_dispatch_uint64(const char *name, json_object *v, void *p) {
        uint64_t *u = p;

        if (!v) {
                *u = 0;
                return 0;
        }
        if (!json_object_is_type(v, json_type_int))
                return -EINVAL;
        return json_int_to_uint64(v, u);
}

int json_dispatch_uint32(const char *name, json_object *v, void *p) {
        uint32_t *u = p;
        uint64_t w = 0;

        if (v) {
                if (!json_object_is_type(v, json_type_int))
                        return -EINVAL;
                int r = json_int_to_uint64(v, &w);
                if (r < 0)
                        return r;
                if (w > UINT32_MAX)
                        return -ERANGE;
        }
        *u = (uint32_t) w;
        return 0;
}

int json_dispatch_int(const char *name, json_object *v, void *p) {
        int *i = p;
        int64_t w = 0;

        if (v) {
                if (!json_object_is_type(v, json_type_int))
                        return -EINVAL;
                int r = json_int_to_int64(v, &w);
                if (r < 0)
                        return r;
                if (w < INT_MIN || w > INT_MAX)
                        return -ERANGE;
        }
        *i = (int) w;
        return 0;
}

int json_dispatch_bool(const char *name, json_object *v, void *p) {
        bool *b = p;

        if (!v) {
                *b = false;
                return 0;
        }
        if (!json_object_is_type(v, json_type_boolean))
                return -EINVAL;
        *b = json_object_get_boolean(v);
        return 0;
}

int json_dispatch_tristate(const char *name, json_object *v, void *p) {
        int *t = p;

        if (!v) {
                *t = -1;
                return 0;
        }
        if (!json_object_is_type(v, json_type_boolean))
                return -EINVAL;
        *t = json_object_get_boolean(v) ? 1 : 0;
        return 0;
}

int json_dispatch_strv(const char *name, json_object *v, void *p) {
        char ***l = p;
        _cleanup_strv_free_ char **n = NULL;
        size_t len;

        if (!v) {
                *l = strv_free(*l);
                return 0;
        }
        if (!json_object_is_type(v, json_type_array))
                return -EINVAL;

        len = json_object_array_length(v);
        n = calloc(len + 1, sizeof(char *));
        if (!n)
                return -ENOMEM;
        for (size_t i = 0; i < len; i++) {
                json_object *e = json_object_array_get_idx(v, i);
                if (!json_object_is_type(e, json_type_string))
                        return -EINVAL;
                if (strlen(json_object_get_string(e)) != (size_t) json_object_get_string_len(e))
                        return -EINVAL;
                n[i] = strdup(json_object_get_string(e));
                if (!n[i])
                        return -ENOMEM;
        }

        strv_free(*l);
        *l = TAKE_PTR(n);
        return 0;
}
