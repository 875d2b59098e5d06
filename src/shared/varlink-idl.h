/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Varlink interface declarations as static tables: the one description that validates method parameters,
 * answers org.varlink.service.GetInterfaceDescription (as IDL text) and is re-parsed by the tests. */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>

typedef enum VarlinkType {
        VARLINK_BOOL,
        VARLINK_INT,
        VARLINK_FLOAT,
        VARLINK_STRING,
        VARLINK_OBJECT,      /* untyped foreign JSON object */
        VARLINK_NAMED,       /* a type declared in the same interface (struct or enum); see named_type */
        VARLINK_ENUM_INLINE, /* inline enum; see enum_values */
        VARLINK_STRUCT_INLINE, /* inline struct; see fields */
        VARLINK_NESTED,      /* with VARLINK_ARRAY or VARLINK_MAP: the element is itself nullable, an array
                              * or a map (e.g. []?string, [string][]int); see element */
} VarlinkType;

typedef enum VarlinkFieldFlags {
        VARLINK_NULLABLE = 1 << 0, /* ?T: may be absent or null */
        VARLINK_ARRAY = 1 << 1,    /* []T */
        VARLINK_MAP = 1 << 2,      /* [string]T */
} VarlinkFieldFlags;

typedef struct VarlinkField VarlinkField;
struct VarlinkField {
        const char *name;
        VarlinkType type;
        unsigned flags;                /* VarlinkFieldFlags */
        const char *named_type;        /* VARLINK_NAMED */
        const char *const *enum_values; /* VARLINK_ENUM_INLINE, NULL-terminated */
        const VarlinkField *fields;    /* VARLINK_STRUCT_INLINE, terminated by an entry with name NULL */
        const char *doc;               /* one line, printed as a "# " comment above the field; may be NULL */
        const VarlinkField *element;   /* VARLINK_NESTED: the element type (its name is unused) */
};

typedef enum VarlinkSymbolKind {
        VARLINK_SYMBOL_METHOD,
        VARLINK_SYMBOL_ERROR,
        VARLINK_SYMBOL_STRUCT_TYPE,
        VARLINK_SYMBOL_ENUM_TYPE,
} VarlinkSymbolKind;

typedef enum VarlinkSymbolFlags {
        VARLINK_SUPPORTS_MORE = 1 << 0, /* method may be called with more */
        VARLINK_REQUIRES_MORE = 1 << 1, /* method must be called with more, else ExpectedMore */
        VARLINK_SUPPORTS_UPGRADE = 1 << 2,
} VarlinkSymbolFlags;

typedef struct VarlinkSymbol {
        VarlinkSymbolKind kind;
        const char *name;
        unsigned flags;                 /* VarlinkSymbolFlags, methods only */
        const VarlinkField *input;      /* methods: parameters; errors and struct types: fields */
        const VarlinkField *output;     /* methods: reply parameters */
        const char *const *enum_values; /* enum types, NULL-terminated */
        const char *doc;
} VarlinkSymbol;

typedef struct VarlinkInterface {
        const char *name;
        const VarlinkSymbol *const *symbols; /* NULL-terminated */
        const char *doc;
} VarlinkInterface;

/* Writes the interface as IDL text (the GetInterfaceDescription answer). Returns malloc'd text or NULL. */
char *varlink_idl_format(const VarlinkInterface *interface);
/* Parses IDL text into a heap-allocated interface (for tests, and for cocoonctl introspect validation).
 * On a syntax error returns -EBADMSG and, if ret_error_line is set, the 1-based line. */
int varlink_idl_parse(const char *text, VarlinkInterface **ret, unsigned *ret_error_line);
void varlink_interface_free(VarlinkInterface *interface); /* only for interfaces from varlink_idl_parse() */
/* Checks that the interface is consistent: names well formed, named types exist, no duplicates. */
int varlink_idl_verify(const VarlinkInterface *interface);
/* The same checks for one symbol of the interface (duplicates: among the symbols before it). */
int varlink_idl_verify_symbol(const VarlinkInterface *interface, const VarlinkSymbol *symbol);
bool varlink_idl_interface_name_is_valid(const char *name); /* reverse-domain, e.g. io.cocoon.VM */
bool varlink_idl_symbol_name_is_valid(const char *name);    /* [A-Z][A-Za-z0-9]* */
bool varlink_idl_field_name_is_valid(const char *name);     /* [A-Za-z](_?[A-Za-z0-9])*, also enum values */
/* Method flags have no IDL syntax: they are written as these comment lines (index = bit of
 * VarlinkSymbolFlags), and the parser turns them back into flags. NULL-terminated. */
extern const char *const varlink_idl_flag_comments[];

const VarlinkSymbol *varlink_idl_find_symbol(const VarlinkInterface *interface, VarlinkSymbolKind kind,
                                             const char *name);
/* A struct or enum type of the interface. */
const VarlinkSymbol *varlink_idl_find_type(const VarlinkInterface *interface, const char *name);
/* Validates `object` (a JSON object or NULL) against `fields` of `interface`. On mismatch returns -EINVAL and
 * *ret_bad_field names the first bad field (a static string from the declaration or the unknown key). Unknown
 * fields are rejected. */
int varlink_idl_validate_fields(const VarlinkInterface *interface, const VarlinkField *fields,
                                json_object *object, const char **ret_bad_field);
