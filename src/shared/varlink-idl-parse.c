/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Varlink IDL text parser: builds a heap VarlinkInterface (all memory in one arena) from an interface file.
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "macro.h"
#include "varlink-idl.h"

/* The interface comes first so varlink_interface_free() can find the arena from the public pointer. */
typedef struct ParsedInterface {
        VarlinkInterface interface;
        void **allocations;
        size_t n_allocations;
        size_t allocated;
} ParsedInterface;

typedef struct Parser {
        const char *p;
        unsigned line;
        ParsedInterface *result;
        char *doc; /* comment lines seen since the last token */
        unsigned flags; /* method flag comments seen since the last token */
        char *token_doc; /* the comment block that preceded the last consumed token */
        unsigned token_flags;
        unsigned blank_lines; /* consecutive line ends without a comment: a gap ends a comment block */
} Parser;

void varlink_interface_free(VarlinkInterface *interface) {
        ParsedInterface *parsed = (ParsedInterface *) interface;

        if (!parsed)
                return;
        for (size_t i = 0; i < parsed->n_allocations; i++)
                free(parsed->allocations[i]);
        free(parsed->allocations);
        free(parsed);
}

static void *arena_track(Parser *p, void *ptr) {
        ParsedInterface *r = p->result;

        if (!ptr)
                return NULL;
        if (r->n_allocations == r->allocated) {
                size_t n = MAX(r->allocated * 2, (size_t) 64);
                void **a = realloc(r->allocations, n * sizeof(void *));
                if (!a) {
                        free(ptr);
                        return NULL;
                }
                r->allocations = a;
                r->allocated = n;
        }
        r->allocations[r->n_allocations++] = ptr;
        return ptr;
}

/* Grows an arena-owned array (or makes a new one), zeroing the new part. */
static void *arena_grow(Parser *p, void *old, size_t old_size, size_t new_size) {
        ParsedInterface *r = p->result;
        void *n;

        if (!old)
                return arena_track(p, calloc(1, new_size));
        n = realloc(old, new_size);
        if (!n)
                return NULL;
        memset((char *) n + old_size, 0, new_size - old_size);
        for (size_t i = r->n_allocations; i > 0; i--)
                if (r->allocations[i - 1] == old) {
                        r->allocations[i - 1] = n;
                        break;
                }
        return n;
}

static char *arena_strndup(Parser *p, const char *s, size_t n) {
        return arena_track(p, strndup(s, n));
}

static int append_doc(Parser *p, const char *text, size_t n) {
        size_t old = p->doc ? strlen(p->doc) : 0;
        char *d = realloc(p->doc, old + n + 2);

        if (!d)
                return -ENOMEM;
        if (old > 0)
                d[old++] = '\n';
        memcpy(d + old, text, n);
        d[old + n] = '\0';
        p->doc = d;
        return 0;
}

static int handle_comment(Parser *p, const char *text, size_t n) {
        if (n > 0 && text[0] == ' ') {
                text++;
                n--;
        }
        for (unsigned i = 0; varlink_idl_flag_comments[i]; i++)
                if (strlen(varlink_idl_flag_comments[i]) == n &&
                    strncmp(text, varlink_idl_flag_comments[i], n) == 0) {
                        p->flags |= 1U << i;
                        return 0;
                }
        return append_doc(p, text, n);
}

/* Skips blanks and comments; comments accumulate as the doc of whatever token comes next. */
static int skip_space(Parser *p) {
        for (;;) {
                char c = *p->p;

                if (c == '\n') {
                        p->line++;
                        p->p++;
                        if (++p->blank_lines >= 2) {
                                p->doc = mfree(p->doc);
                                p->flags = 0;
                        }
                } else if (c == ' ' || c == '\t' || c == '\r')
                        p->p++;
                else if (c == '#') {
                        size_t n = strcspn(p->p + 1, "\n");
                        int r = handle_comment(p, p->p + 1, n);
                        if (r < 0)
                                return r;
                        p->p += 1 + n;
                        p->blank_lines = 0;
                        if (*p->p == '\n') {
                                p->line++;
                                p->p++;
                                p->blank_lines = 1; /* one more line end means an empty line */
                        }
                } else
                        return 0;
        }
}

/* Marks the start of a token: the pending comment block now belongs to it. */
static void token_begin(Parser *p) {
        free(p->token_doc);
        p->token_doc = TAKE_PTR(p->doc);
        p->token_flags = p->flags;
        p->flags = 0;
        p->blank_lines = 0;
}

static int peek(Parser *p, char *ret) {
        int r = skip_space(p);
        if (r < 0)
                return r;
        *ret = *p->p;
        return 0;
}

static int expect_char(Parser *p, char c) {
        int r = skip_space(p);
        if (r < 0)
                return r;
        if (*p->p != c)
                return -EBADMSG;
        token_begin(p);
        p->p++;
        return 0;
}

static int expect_string(Parser *p, const char *s) {
        int r = skip_space(p);
        if (r < 0)
                return r;
        if (strncmp(p->p, s, strlen(s)) != 0)
                return -EBADMSG;
        token_begin(p);
        p->p += strlen(s);
        return 0;
}

static bool is_word_char(char c) {
        return isascii(c) && (isalnum((unsigned char) c) || c == '_' || c == '.' || c == '-');
}

/* A word (keyword, name, interface name); the result is arena-owned. */
static int read_word(Parser *p, char **ret) {
        size_t n = 0;
        int r;

        r = skip_space(p);
        if (r < 0)
                return r;
        while (is_word_char(p->p[n]))
                n++;
        if (n == 0)
                return -EBADMSG;
        token_begin(p);
        *ret = arena_strndup(p, p->p, n);
        if (!*ret)
                return -ENOMEM;
        p->p += n;
        return 0;
}

static char *take_token_doc(Parser *p) {
        char *d = TAKE_PTR(p->token_doc);
        return d ? arena_track(p, d) : NULL;
}

static int parse_type(Parser *p, VarlinkField *field, unsigned depth);

/* Between the items of a parenthesized list: returns 1 with the next item's first word after a ',', or 0
 * once the closing ')' is consumed. */
static int list_next_word(Parser *p, char **ret) {
        char c;
        int r = peek(p, &c);
        if (r < 0)
                return r;
        if (c == ')') {
                r = expect_char(p, ')');
                return r < 0 ? r : 0;
        }
        r = expect_char(p, ',');
        if (r < 0)
                return r;
        r = read_word(p, ret);
        return r < 0 ? r : 1;
}

/* Values of an inline or named enum; `first` was already read. Consumes the closing ')'. */
static int parse_enum_values(Parser *p, char *first, const char *const **ret) {
        const char **values = NULL;
        size_t n = 0;
        int r;

        for (char *v = first;;) {
                if (!varlink_idl_field_name_is_valid(v))
                        return -EBADMSG;
                values = arena_grow(p, values, (n + 1) * sizeof(char *), (n + 2) * sizeof(char *));
                if (!values)
                        return -ENOMEM;
                values[n++] = v;

                r = list_next_word(p, &v);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
        }
        *ret = values;
        return 0;
}

/* Fields of a struct; `first` is the first field name (already read) or NULL for "()". Consumes ')'. */
static int parse_fields(Parser *p, char *first, const VarlinkField **ret, unsigned depth) {
        VarlinkField *fields = NULL;
        size_t n = 0;
        int r;

        fields = arena_grow(p, NULL, 0, sizeof(VarlinkField));
        if (!fields)
                return -ENOMEM;
        if (!first) { /* "()" */
                r = expect_char(p, ')');
                if (r < 0)
                        return r;
        }

        for (char *name = first; name;) {
                if (!varlink_idl_field_name_is_valid(name))
                        return -EBADMSG;
                fields = arena_grow(p, fields, (n + 1) * sizeof(VarlinkField),
                                    (n + 2) * sizeof(VarlinkField));
                if (!fields)
                        return -ENOMEM;
                fields[n].name = name;
                fields[n].doc = take_token_doc(p);
                r = expect_char(p, ':');
                if (r < 0)
                        return r;
                r = parse_type(p, &fields[n], depth + 1);
                if (r < 0)
                        return r;
                n++;

                r = list_next_word(p, &name);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
        }
        *ret = fields;
        return 0;
}

/* After '(': either a struct "(name: type, …)", an empty struct "()" or an enum "(a, b)". */
static int parse_paren(Parser *p, const VarlinkField **ret_fields, const char *const **ret_values,
                       unsigned depth) {
        char *first;
        char c;
        int r;

        if (depth > 32)
                return -EBADMSG;
        r = peek(p, &c);
        if (r < 0)
                return r;
        if (c == ')') {
                *ret_values = NULL;
                return parse_fields(p, NULL, ret_fields, depth);
        }
        r = read_word(p, &first);
        if (r < 0)
                return r;
        r = peek(p, &c);
        if (r < 0)
                return r;
        if (c == ':') {
                *ret_values = NULL;
                return parse_fields(p, first, ret_fields, depth);
        }
        *ret_fields = NULL;
        return parse_enum_values(p, first, ret_values);
}

static const struct {
        const char *name;
        VarlinkType type;
} base_types[] = {
        { "bool", VARLINK_BOOL },     { "int", VARLINK_INT },       { "float", VARLINK_FLOAT },
        { "string", VARLINK_STRING }, { "object", VARLINK_OBJECT },
};

static int parse_base_type(Parser *p, VarlinkField *field, unsigned depth) {
        char *word;
        char c;
        int r;

        r = peek(p, &c);
        if (r < 0)
                return r;
        if (c == '(') {
                r = expect_char(p, '(');
                if (r < 0)
                        return r;
                r = parse_paren(p, &field->fields, &field->enum_values, depth);
                if (r < 0)
                        return r;
                field->type = field->fields ? VARLINK_STRUCT_INLINE : VARLINK_ENUM_INLINE;
                return 0;
        }

        r = read_word(p, &word);
        if (r < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(base_types); i++)
                if (streq(word, base_types[i].name)) {
                        field->type = base_types[i].type;
                        return 0;
                }
        if (!varlink_idl_symbol_name_is_valid(word))
                return -EBADMSG;
        field->type = VARLINK_NAMED;
        field->named_type = word;
        return 0;
}

/* [?]([]|[string])?T; an element that is itself nullable or a container becomes a VARLINK_NESTED field. */
static int parse_type(Parser *p, VarlinkField *field, unsigned depth) {
        char c;
        int r;

        if (depth > 32)
                return -EBADMSG;
        r = peek(p, &c);
        if (r < 0)
                return r;
        if (c == '?') {
                r = expect_char(p, '?');
                if (r < 0)
                        return r;
                field->flags |= VARLINK_NULLABLE;
                r = peek(p, &c);
                if (r < 0)
                        return r;
                if (c == '?')
                        return -EBADMSG;
        }
        if (c != '[')
                return parse_base_type(p, field, depth);

        r = expect_char(p, '[');
        if (r < 0)
                return r;
        r = peek(p, &c);
        if (r < 0)
                return r;
        if (c == ']')
                field->flags |= VARLINK_ARRAY;
        else {
                r = expect_string(p, "string");
                if (r < 0)
                        return r;
                field->flags |= VARLINK_MAP;
        }
        r = expect_char(p, ']');
        if (r < 0)
                return r;

        r = peek(p, &c);
        if (r < 0)
                return r;
        if (c == '?' || c == '[') {
                VarlinkField *element = arena_grow(p, NULL, 0, sizeof(VarlinkField));
                if (!element)
                        return -ENOMEM;
                field->type = VARLINK_NESTED;
                field->element = element;
                return parse_type(p, element, depth + 1);
        }
        return parse_base_type(p, field, depth);
}

static int parse_symbol(Parser *p, const char *keyword, VarlinkSymbol *s) {
        char *name;
        int r;

        s->doc = take_token_doc(p);
        s->flags = p->token_flags;
        r = read_word(p, &name);
        if (r < 0)
                return r;
        s->name = name;
        r = expect_char(p, '(');
        if (r < 0)
                return r;

        if (streq(keyword, "method")) {
                s->kind = VARLINK_SYMBOL_METHOD;
                r = parse_paren(p, &s->input, &s->enum_values, 0);
                if (r < 0)
                        return r;
                if (!s->input)
                        return -EBADMSG;
                r = expect_string(p, "->");
                if (r < 0)
                        return r;
                r = expect_char(p, '(');
                if (r < 0)
                        return r;
                r = parse_paren(p, &s->output, &s->enum_values, 0);
                return r < 0 ? r : s->output ? 0 : -EBADMSG;
        }
        if (s->flags != 0)
                return -EBADMSG;
        r = parse_paren(p, &s->input, &s->enum_values, 0);
        if (r < 0)
                return r;
        if (streq(keyword, "error")) {
                s->kind = VARLINK_SYMBOL_ERROR;
                return s->input ? 0 : -EBADMSG;
        }
        s->kind = s->input ? VARLINK_SYMBOL_STRUCT_TYPE : VARLINK_SYMBOL_ENUM_TYPE;
        return 0;
}

static int parse_interface(Parser *p, unsigned **ret_lines) {
        VarlinkInterface *iface = &p->result->interface;
        const VarlinkSymbol **symbols = NULL;
        unsigned *lines = NULL;
        size_t n = 0;
        char *word;
        int r;

        r = read_word(p, &word);
        if (r < 0)
                return r;
        if (!streq(word, "interface"))
                return -EBADMSG;
        iface->doc = take_token_doc(p);
        r = read_word(p, &word);
        if (r < 0)
                return r;
        if (!varlink_idl_interface_name_is_valid(word))
                return -EBADMSG;
        iface->name = word;

        symbols = arena_grow(p, NULL, 0, sizeof(VarlinkSymbol *));
        if (!symbols)
                return -ENOMEM;
        for (;;) {
                VarlinkSymbol *s;

                r = skip_space(p);
                if (r < 0)
                        return r;
                if (*p->p == '\0')
                        break;
                r = read_word(p, &word);
                if (r < 0)
                        return r;
                if (!streq(word, "method") && !streq(word, "error") && !streq(word, "type"))
                        return -EBADMSG;
                s = arena_grow(p, NULL, 0, sizeof(VarlinkSymbol));
                symbols = arena_grow(p, symbols, (n + 1) * sizeof(VarlinkSymbol *),
                                     (n + 2) * sizeof(VarlinkSymbol *));
                lines = arena_grow(p, lines, n * sizeof(unsigned), (n + 1) * sizeof(unsigned));
                if (!s || !symbols || !lines)
                        return -ENOMEM;
                lines[n] = p->line;
                r = parse_symbol(p, word, s);
                if (r < 0)
                        return r;
                symbols[n++] = s;
        }
        iface->symbols = symbols;
        *ret_lines = lines;
        return 0;
}

int varlink_idl_parse(const char *text, VarlinkInterface **ret, unsigned *ret_error_line) {
        Parser p = { .p = text, .line = 1 };
        unsigned *lines = NULL;
        size_t i = 0;
        int r;

        if (!text || !ret)
                return -EINVAL;
        p.result = calloc(1, sizeof(ParsedInterface));
        if (!p.result)
                return -ENOMEM;

        r = parse_interface(&p, &lines);
        free(p.doc);
        free(p.token_doc);
        if (r == -EBADMSG && ret_error_line)
                *ret_error_line = p.line;
        if (r < 0)
                goto fail;

        /* Semantic problems (unknown named type, duplicate names) point at the symbol's line. */
        for (const VarlinkSymbol *const *s = p.result->interface.symbols; *s; s++, i++)
                if (varlink_idl_verify_symbol(&p.result->interface, *s) < 0) {
                        if (ret_error_line)
                                *ret_error_line = lines[i];
                        r = -EBADMSG;
                        goto fail;
                }

        *ret = &TAKE_PTR(p.result)->interface;
        return 0;

fail:
        varlink_interface_free(&p.result->interface);
        return r;
}
