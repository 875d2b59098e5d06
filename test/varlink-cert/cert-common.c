/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Values of the Varlink certification sequence and a tolerant JSON comparison. */
#include <stdarg.h>
#include <string.h>

#include "cert-common.h"

json_object *cert_object(unsigned n, ...) {
        json_object *o = json_object_new_object();
        va_list ap;

        va_start(ap, n);
        for (unsigned i = 0; i < n; i++) {
                const char *key = va_arg(ap, const char *);
                json_object *v = va_arg(ap, json_object *);

                if (o)
                        json_object_object_add(o, key, v);
                else
                        json_object_put(v);
        }
        va_end(ap);
        return o;
}

json_object *cert_mytype_new(void) {
        static const char text[] = "{"
                                   "\"object\":{\"method\":\"org.varlink.certification.Test09\","
                                   "\"parameters\":{\"map\":{\"foo\":\"Foo\",\"bar\":\"Bar\"}}},"
                                   "\"enum\":\"two\","
                                   "\"struct\":{\"first\":1,\"second\":\"2\"},"
                                   "\"array\":[\"one\",\"two\",\"three\"],"
                                   "\"dictionary\":{\"foo\":\"Foo\",\"bar\":\"Bar\"},"
                                   "\"stringset\":{\"one\":{},\"two\":{},\"three\":{}},"
                                   "\"nullable\":null,"
                                   "\"nullable_array_struct\":null,"
                                   "\"interface\":{\"foo\":[null,{\"Foo\":\"foo\",\"Bar\":\"bar\"},null,{"
                                   "\"one\":\"foo\",\"two\":\"bar\"}],"
                                   "\"anon\":{\"foo\":true,\"bar\":false}}"
                                   "}";

        return json_tokener_parse(text);
}

static bool object_covers(json_object *a, json_object *b) {
        json_object_object_foreach(a, key, va) {
                json_object *vb = NULL;

                (void) json_object_object_get_ex(b, key, &vb);
                if (!cert_json_equal(va, vb))
                        return false;
        }
        return true;
}

bool cert_json_equal(json_object *a, json_object *b) {
        json_type ta = json_object_get_type(a), tb = json_object_get_type(b);

        if ((ta == json_type_int || ta == json_type_double) &&
            (tb == json_type_int || tb == json_type_double))
                return json_object_get_double(a) == json_object_get_double(b);
        if (ta != tb)
                return false;
        switch (ta) {
        case json_type_null:
                return true;
        case json_type_boolean:
                return json_object_get_boolean(a) == json_object_get_boolean(b);
        case json_type_string:
                return strcmp(json_object_get_string(a), json_object_get_string(b)) == 0;
        case json_type_array:
                if (json_object_array_length(a) != json_object_array_length(b))
                        return false;
                for (size_t i = 0; i < json_object_array_length(a); i++)
                        if (!cert_json_equal(json_object_array_get_idx(a, i),
                                             json_object_array_get_idx(b, i)))
                                return false;
                return true;
        case json_type_object:
                return object_covers(a, b) && object_covers(b, a);
        default:
                return false;
        }
}
