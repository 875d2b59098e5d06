/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Checks JSON values against Varlink field declarations (types, nullability, arrays, maps, named types). */
#include <errno.h>

#include "macro.h"
#include "varlink-idl.h"

/* Declarations nest a few levels; JSON from the wire is already limited by the parser's depth. */
#define VALIDATE_DEPTH_MAX 64

static int validate_fields(const VarlinkInterface *interface, const VarlinkField *fields,
                           json_object *object, unsigned depth, const char **bad);
static int validate_value(const VarlinkInterface *interface, const VarlinkField *field, const char *name,
                          json_object *value, unsigned depth, const char **bad);

static int fail(const char *name, const char **bad) {
        *bad = name;
        return -EINVAL;
}

static bool enum_has_value(const char *const *values, const char *s) {
        for (const char *const *v = values; v && *v; v++)
                if (streq(*v, s))
                        return true;
        return false;
}

/* A non-null value of the field's base type (no container, no nullability). */
static int validate_base(const VarlinkInterface *interface, const VarlinkField *field, const char *name,
                         json_object *value, unsigned depth, const char **bad) {
        const VarlinkSymbol *t;

        switch (field->type) {
        case VARLINK_BOOL:
                return json_object_is_type(value, json_type_boolean) ? 0 : fail(name, bad);
        case VARLINK_INT:
                return json_object_is_type(value, json_type_int) ? 0 : fail(name, bad);
        case VARLINK_FLOAT:
                return json_object_is_type(value, json_type_double) ||
                                       json_object_is_type(value, json_type_int)
                               ? 0
                               : fail(name, bad);
        case VARLINK_STRING:
                return json_object_is_type(value, json_type_string) ? 0 : fail(name, bad);
        case VARLINK_OBJECT:
                return json_object_is_type(value, json_type_object) ? 0 : fail(name, bad);
        case VARLINK_ENUM_INLINE:
                return json_object_is_type(value, json_type_string) &&
                                       enum_has_value(field->enum_values, json_object_get_string(value))
                               ? 0
                               : fail(name, bad);
        case VARLINK_STRUCT_INLINE:
                if (!json_object_is_type(value, json_type_object))
                        return fail(name, bad);
                return validate_fields(interface, field->fields, value, depth + 1, bad);
        case VARLINK_NAMED:
                t = varlink_idl_find_type(interface, field->named_type);
                if (!t)
                        return fail(name, bad);
                if (t->kind == VARLINK_SYMBOL_ENUM_TYPE)
                        return json_object_is_type(value, json_type_string) &&
                                               enum_has_value(t->enum_values, json_object_get_string(value))
                                       ? 0
                                       : fail(name, bad);
                if (!json_object_is_type(value, json_type_object))
                        return fail(name, bad);
                return validate_fields(interface, t->input, value, depth + 1, bad);
        case VARLINK_NESTED:
                break;
        }
        return fail(name, bad);
}

/* One array element or map value: either a nested type with its own flags, or the base type (not null). */
static int validate_element(const VarlinkInterface *interface, const VarlinkField *field, const char *name,
                            json_object *value, unsigned depth, const char **bad) {
        if (field->type == VARLINK_NESTED)
                return field->element
                               ? validate_value(interface, field->element, name, value, depth + 1, bad)
                               : fail(name, bad);
        if (!value)
                return fail(name, bad);
        return validate_base(interface, field, name, value, depth, bad);
}

/* `name` is what a failure reports: the field's own name, or the enclosing field's for unnamed elements. */
static int validate_value(const VarlinkInterface *interface, const VarlinkField *field, const char *name,
                          json_object *value, unsigned depth, const char **bad) {
        int r;

        if (depth > VALIDATE_DEPTH_MAX)
                return fail(name, bad);
        if (!value)
                return (field->flags & VARLINK_NULLABLE) ? 0 : fail(name, bad);

        if (field->flags & VARLINK_ARRAY) {
                size_t n;

                if (!json_object_is_type(value, json_type_array))
                        return fail(name, bad);
                n = json_object_array_length(value);
                for (size_t i = 0; i < n; i++) {
                        r = validate_element(interface, field, name, json_object_array_get_idx(value, i),
                                             depth, bad);
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        if (field->flags & VARLINK_MAP) {
                if (!json_object_is_type(value, json_type_object))
                        return fail(name, bad);
                json_object_object_foreach(value, key, v) {
                        (void) key;
                        r = validate_element(interface, field, name, v, depth, bad);
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        if (field->type == VARLINK_NESTED)
                return fail(name, bad);
        return validate_base(interface, field, name, value, depth, bad);
}

static int validate_fields(const VarlinkInterface *interface, const VarlinkField *fields,
                           json_object *object, unsigned depth, const char **bad) {
        int r;

        for (const VarlinkField *f = fields; f && f->name; f++) {
                json_object *v = NULL;

                (void) json_object_object_get_ex(object, f->name, &v);
                r = validate_value(interface, f, f->name, v, depth, bad);
                if (r < 0)
                        return r;
        }

        if (!object)
                return 0;
        /* Unknown fields are refused: a typo must not silently fall back to a default. */
        json_object_object_foreach(object, key, v) {
                bool known = false;

                (void) v;
                for (const VarlinkField *f = fields; f && f->name && !known; f++)
                        known = streq(f->name, key);
                if (!known)
                        return fail(key, bad);
        }
        return 0;
}

int varlink_idl_validate_fields(const VarlinkInterface *interface, const VarlinkField *fields,
                                json_object *object, const char **ret_bad_field) {
        const char *bad = NULL;
        int r;

        if (object && !json_object_is_type(object, json_type_object))
                r = fail("parameters", &bad);
        else
                r = validate_fields(interface, fields, object, 0, &bad);
        if (r < 0 && ret_bad_field)
                *ret_bad_field = bad;
        return r;
}
