/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Varlink interface declarations: IDL text output, consistency checks and symbol lookup. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "macro.h"
#include "varlink-idl.h"

/* Method flags have no IDL syntax; they travel as these exact comment lines, which the parser recognizes. */
const char *const varlink_idl_flag_comments[] = {
        [0] = "[Supports 'more' flag]", /* VARLINK_SUPPORTS_MORE */
        [1] = "[Requires 'more' flag]", /* VARLINK_REQUIRES_MORE */
        [2] = "[Supports 'upgrade' flag]", /* VARLINK_SUPPORTS_UPGRADE */
        NULL,
};

static void format_indent(FILE *f, unsigned depth) {
        for (unsigned i = 0; i < depth; i++)
                fputc('\t', f);
}

/* Prints a (possibly multi-line) doc string as "# " comment lines. */
static void format_doc(FILE *f, const char *doc, unsigned depth) {
        const char *p = doc;

        if (!doc)
                return;
        for (;;) {
                size_t n = strcspn(p, "\n");

                format_indent(f, depth);
                if (n > 0)
                        fprintf(f, "# %.*s\n", (int) n, p);
                else
                        fputs("#\n", f);
                if (p[n] == '\0')
                        break;
                p += n + 1;
        }
}

static void format_fields(FILE *f, const VarlinkField *fields, unsigned depth);

static void format_enum_values(FILE *f, const char *const *values) {
        fputc('(', f);
        for (const char *const *v = values; v && *v; v++)
                fprintf(f, "%s%s", v == values ? "" : ", ", *v);
        fputc(')', f);
}

static void format_type(FILE *f, const VarlinkField *field, unsigned depth) {
        if (field->flags & VARLINK_NULLABLE)
                fputc('?', f);
        if (field->flags & VARLINK_ARRAY)
                fputs("[]", f);
        else if (field->flags & VARLINK_MAP)
                fputs("[string]", f);

        switch (field->type) {
        case VARLINK_BOOL:
                fputs("bool", f);
                break;
        case VARLINK_INT:
                fputs("int", f);
                break;
        case VARLINK_FLOAT:
                fputs("float", f);
                break;
        case VARLINK_STRING:
                fputs("string", f);
                break;
        case VARLINK_OBJECT:
                fputs("object", f);
                break;
        case VARLINK_NAMED:
                fputs(field->named_type ?: "?", f);
                break;
        case VARLINK_ENUM_INLINE:
                format_enum_values(f, field->enum_values);
                break;
        case VARLINK_STRUCT_INLINE:
                format_fields(f, field->fields, depth);
                break;
        case VARLINK_NESTED:
                if (field->element)
                        format_type(f, field->element, depth);
                break;
        }
}

/* "(" fields ")", one field per line, nested one level deeper than `depth`. */
static void format_fields(FILE *f, const VarlinkField *fields, unsigned depth) {
        if (!fields || !fields->name) {
                fputs("()", f);
                return;
        }
        fputs("(\n", f);
        for (const VarlinkField *i = fields; i->name; i++) {
                format_doc(f, i->doc, depth + 1);
                format_indent(f, depth + 1);
                fprintf(f, "%s: ", i->name);
                format_type(f, i, depth + 1);
                fputs(i[1].name ? ",\n" : "\n", f);
        }
        format_indent(f, depth);
        fputc(')', f);
}

static void format_symbol(FILE *f, const VarlinkSymbol *symbol) {
        fputc('\n', f);
        format_doc(f, symbol->doc, 0);

        switch (symbol->kind) {
        case VARLINK_SYMBOL_METHOD:
                for (unsigned i = 0; varlink_idl_flag_comments[i]; i++)
                        if (symbol->flags & (1U << i))
                                fprintf(f, "# %s\n", varlink_idl_flag_comments[i]);
                fprintf(f, "method %s", symbol->name);
                format_fields(f, symbol->input, 0);
                fputs(" -> ", f);
                format_fields(f, symbol->output, 0);
                break;
        case VARLINK_SYMBOL_ERROR:
                fprintf(f, "error %s ", symbol->name);
                format_fields(f, symbol->input, 0);
                break;
        case VARLINK_SYMBOL_STRUCT_TYPE:
                fprintf(f, "type %s ", symbol->name);
                format_fields(f, symbol->input, 0);
                break;
        case VARLINK_SYMBOL_ENUM_TYPE:
                fprintf(f, "type %s (\n", symbol->name);
                for (const char *const *v = symbol->enum_values; v && *v; v++)
                        fprintf(f, "\t%s%s\n", *v, v[1] ? "," : "");
                fputc(')', f);
                break;
        }
        fputc('\n', f);
}

char *varlink_idl_format(const VarlinkInterface *interface) {
        char *text = NULL;
        size_t size = 0;
        FILE *f;

        if (!interface || !interface->name)
                return NULL;
        f = open_memstream(&text, &size);
        if (!f)
                return NULL;

        format_doc(f, interface->doc, 0);
        fprintf(f, "interface %s\n", interface->name);
        for (const VarlinkSymbol *const *s = interface->symbols; s && *s; s++)
                format_symbol(f, *s);

        if (fclose(f) != 0 || !text)
                return mfree(text);
        return text;
}

const VarlinkSymbol *varlink_idl_find_symbol(const VarlinkInterface *interface, VarlinkSymbolKind kind,
                                             const char *name) {
        if (!interface || !name)
                return NULL;
        for (const VarlinkSymbol *const *s = interface->symbols; s && *s; s++)
                if ((*s)->kind == kind && streq_ptr((*s)->name, name))
                        return *s;
        return NULL;
}

/* Named types: a struct or an enum type of the same interface. */
static const VarlinkSymbol *find_type(const VarlinkInterface *interface, const char *name) {
        return varlink_idl_find_symbol(interface, VARLINK_SYMBOL_STRUCT_TYPE, name)
                       ?: varlink_idl_find_symbol(interface, VARLINK_SYMBOL_ENUM_TYPE, name);
}

const VarlinkSymbol *varlink_idl_find_type(const VarlinkInterface *interface, const char *name) {
        return find_type(interface, name);
}

/* Interface names: dot-separated components of [A-Za-z0-9-], at least two, starting with a letter, no
 * component starting or ending with '-'. The spec allows only lowercase; sd-varlink (and we) allow
 * uppercase too (io.systemd.Machine, io.cocoon.VM). */
bool varlink_idl_interface_name_is_valid(const char *name) {
        unsigned components = 1;
        char prev = '.';

        if (isempty(name) || !isalpha((unsigned char) name[0]) || strlen(name) > 255)
                return false;
        for (const char *p = name; *p; p++) {
                if (*p == '.') {
                        if (prev == '.' || prev == '-')
                                return false;
                        components++;
                } else if (*p == '-') {
                        if (prev == '.')
                                return false;
                } else if (!isalnum((unsigned char) *p) || !isascii(*p))
                        return false;
                prev = *p;
        }
        return prev != '.' && prev != '-' && components >= 2;
}

/* Methods, errors, types: [A-Z][A-Za-z0-9]*. */
bool varlink_idl_symbol_name_is_valid(const char *name) {
        if (isempty(name) || !(name[0] >= 'A' && name[0] <= 'Z'))
                return false;
        for (const char *p = name; *p; p++)
                if (!isascii(*p) || !isalnum((unsigned char) *p))
                        return false;
        return true;
}

/* Fields and enum values: [A-Za-z](_?[A-Za-z0-9])*. */
bool varlink_idl_field_name_is_valid(const char *name) {
        if (isempty(name) || !isascii(name[0]) || !isalpha((unsigned char) name[0]))
                return false;
        for (const char *p = name + 1; *p; p++) {
                if (*p == '_') {
                        if (p[-1] == '_' || p[1] == '\0')
                                return false;
                } else if (!isascii(*p) || !isalnum((unsigned char) *p))
                        return false;
        }
        return true;
}

static int verify_enum_values(const char *const *values) {
        if (!values || !values[0])
                return -EINVAL;
        for (const char *const *v = values; *v; v++) {
                if (!varlink_idl_field_name_is_valid(*v))
                        return -EINVAL;
                for (const char *const *w = values; w < v; w++)
                        if (streq(*v, *w))
                                return -EINVAL;
        }
        return 0;
}

static int verify_fields(const VarlinkInterface *interface, const VarlinkField *fields, unsigned depth);

/* One type: the flags, then the base type. `depth` guards against cyclic element pointers. */
static int verify_type(const VarlinkInterface *interface, const VarlinkField *field, unsigned depth) {
        const VarlinkSymbol *t;

        if (depth > 32)
                return -ELOOP;
        if (field->flags & ~(unsigned) (VARLINK_NULLABLE | VARLINK_ARRAY | VARLINK_MAP))
                return -EINVAL;
        if ((field->flags & VARLINK_ARRAY) && (field->flags & VARLINK_MAP))
                return -EINVAL;

        switch (field->type) {
        case VARLINK_BOOL:
        case VARLINK_INT:
        case VARLINK_FLOAT:
        case VARLINK_STRING:
        case VARLINK_OBJECT:
                return 0;
        case VARLINK_NAMED:
                t = find_type(interface, field->named_type);
                return t ? 0 : -ENOENT;
        case VARLINK_ENUM_INLINE:
                return verify_enum_values(field->enum_values);
        case VARLINK_STRUCT_INLINE:
                return verify_fields(interface, field->fields, depth + 1);
        case VARLINK_NESTED:
                /* Only a container has an element. */
                if (!(field->flags & (VARLINK_ARRAY | VARLINK_MAP)) || !field->element)
                        return -EINVAL;
                return verify_type(interface, field->element, depth + 1);
        }
        return -EINVAL;
}

static int verify_fields(const VarlinkInterface *interface, const VarlinkField *fields, unsigned depth) {
        if (!fields)
                return 0;
        for (const VarlinkField *i = fields; i->name; i++) {
                int r;

                if (!varlink_idl_field_name_is_valid(i->name))
                        return -EINVAL;
                for (const VarlinkField *j = fields; j < i; j++)
                        if (streq(i->name, j->name))
                                return -EEXIST;
                r = verify_type(interface, i, depth);
                if (r < 0)
                        return r;
        }
        return 0;
}

int varlink_idl_verify_symbol(const VarlinkInterface *interface, const VarlinkSymbol *symbol) {
        int r;

        if (!varlink_idl_symbol_name_is_valid(symbol->name))
                return -EINVAL;
        /* One namespace for methods, errors and types. */
        for (const VarlinkSymbol *const *s = interface->symbols; s && *s && *s != symbol; s++)
                if (streq((*s)->name, symbol->name))
                        return -EEXIST;
        if (symbol->kind != VARLINK_SYMBOL_METHOD && symbol->flags != 0)
                return -EINVAL;
        if (symbol->flags &
            ~(unsigned) (VARLINK_SUPPORTS_MORE | VARLINK_REQUIRES_MORE | VARLINK_SUPPORTS_UPGRADE))
                return -EINVAL;

        switch (symbol->kind) {
        case VARLINK_SYMBOL_METHOD:
                r = verify_fields(interface, symbol->input, 0);
                if (r < 0)
                        return r;
                return verify_fields(interface, symbol->output, 0);
        case VARLINK_SYMBOL_ERROR:
        case VARLINK_SYMBOL_STRUCT_TYPE:
                return verify_fields(interface, symbol->input, 0);
        case VARLINK_SYMBOL_ENUM_TYPE:
                return verify_enum_values(symbol->enum_values);
        }
        return -EINVAL;
}

int varlink_idl_verify(const VarlinkInterface *interface) {
        if (!interface || !varlink_idl_interface_name_is_valid(interface->name))
                return -EINVAL;
        for (const VarlinkSymbol *const *s = interface->symbols; s && *s; s++) {
                int r = varlink_idl_verify_symbol(interface, *s);
                if (r < 0)
                        return r;
        }
        return 0;
}
