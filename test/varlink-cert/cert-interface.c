/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The org.varlink.certification interface as static tables: exercises nested, inline and named types. */
#include "cert-interface.h"

static const char *const foo_bar_baz[] = { "foo", "bar", "baz", NULL };
static const char *const one_two_three[] = { "one", "two", "three", NULL };

/* ?[]?[string](foo, bar, baz): the array's elements are nullable maps, which needs a nested element. */
static const VarlinkField foo_element = {
        .type = VARLINK_ENUM_INLINE,
        .flags = VARLINK_NULLABLE | VARLINK_MAP,
        .enum_values = foo_bar_baz,
};

static const VarlinkField anon_fields[] = {
        { .name = "foo", .type = VARLINK_BOOL },
        { .name = "bar", .type = VARLINK_BOOL },
        {},
};

static const VarlinkField interface_fields[] = {
        { .name = "foo",
          .type = VARLINK_NESTED,
          .flags = VARLINK_NULLABLE | VARLINK_ARRAY,
          .element = &foo_element },
        { .name = "anon", .type = VARLINK_STRUCT_INLINE, .fields = anon_fields },
        {},
};

static const VarlinkSymbol type_interface = {
        .kind = VARLINK_SYMBOL_STRUCT_TYPE,
        .name = "Interface",
        .input = interface_fields,
};

static const VarlinkField first_second[] = {
        { .name = "first", .type = VARLINK_INT },
        { .name = "second", .type = VARLINK_STRING },
        {},
};

static const VarlinkField no_fields[] = {
        {},
};

static const VarlinkField mytype_fields[] = {
        { .name = "object", .type = VARLINK_OBJECT },
        { .name = "enum", .type = VARLINK_ENUM_INLINE, .enum_values = one_two_three },
        { .name = "struct", .type = VARLINK_STRUCT_INLINE, .fields = first_second },
        { .name = "array", .type = VARLINK_STRING, .flags = VARLINK_ARRAY },
        { .name = "dictionary", .type = VARLINK_STRING, .flags = VARLINK_MAP },
        { .name = "stringset", .type = VARLINK_STRUCT_INLINE, .flags = VARLINK_MAP, .fields = no_fields },
        { .name = "nullable", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE },
        { .name = "nullable_array_struct",
          .type = VARLINK_STRUCT_INLINE,
          .flags = VARLINK_NULLABLE | VARLINK_ARRAY,
          .fields = first_second },
        { .name = "interface", .type = VARLINK_NAMED, .named_type = "Interface" },
        {},
};

static const VarlinkSymbol type_mytype = {
        .kind = VARLINK_SYMBOL_STRUCT_TYPE,
        .name = "MyType",
        .input = mytype_fields,
};

static const VarlinkField client_id_out[] = {
        { .name = "client_id", .type = VARLINK_STRING },
        {},
};

static const VarlinkSymbol method_start = {
        .kind = VARLINK_SYMBOL_METHOD,
        .name = "Start",
        .output = client_id_out,
};

static const VarlinkField test01_out[] = {
        { .name = "bool", .type = VARLINK_BOOL },
        {},
};

static const VarlinkSymbol method_test01 = {
        .kind = VARLINK_SYMBOL_METHOD,
        .name = "Test01",
        .input = client_id_out,
        .output = test01_out,
};

static const VarlinkField test02_in[] = {
        { .name = "client_id", .type = VARLINK_STRING },
        { .name = "bool", .type = VARLINK_BOOL },
        {},
};

static const VarlinkField test02_out[] = {
        { .name = "int", .type = VARLINK_INT },
        {},
};

static const VarlinkSymbol method_test02 = {
        .kind = VARLINK_SYMBOL_METHOD,
        .name = "Test02",
        .input = test02_in,
        .output = test02_out,
};

static const VarlinkField test03_in[] = {
        { .name = "client_id", .type = VARLINK_STRING },
        { .name = "int", .type = VARLINK_INT },
        {},
};

static const VarlinkField test03_out[] = {
        { .name = "float", .type = VARLINK_FLOAT },
        {},
};

static const VarlinkSymbol method_test03 = {
        .kind = VARLINK_SYMBOL_METHOD,
        .name = "Test03",
        .input = test03_in,
        .output = test03_out,
};

static const VarlinkField test04_in[] = {
        { .name = "client_id", .type = VARLINK_STRING },
        { .name = "float", .type = VARLINK_FLOAT },
        {},
};

static const VarlinkField test04_out[] = {
        { .name = "string", .type = VARLINK_STRING },
        {},
};

static const VarlinkSymbol method_test04 = {
        .kind = VARLINK_SYMBOL_METHOD,
        .name = "Test04",
        .input = test04_in,
        .output = test04_out,
};

static const VarlinkField test05_in[] = {
        { .name = "client_id", .type = VARLINK_STRING },
        { .name = "string", .type = VARLINK_STRING },
        {},
};

static const VarlinkField four_types[] = {
        { .name = "bool", .type = VARLINK_BOOL },
        { .name = "int", .type = VARLINK_INT },
        { .name = "float", .type = VARLINK_FLOAT },
        { .name = "string", .type = VARLINK_STRING },
        {},
};

static const VarlinkSymbol method_test05 = {
        .kind = VARLINK_SYMBOL_METHOD,
        .name = "Test05",
        .input = test05_in,
        .output = four_types,
};

static const VarlinkField test06_in[] = {
        { .name = "client_id", .type = VARLINK_STRING }, { .name = "bool", .type = VARLINK_BOOL },
        { .name = "int", .type = VARLINK_INT },          { .name = "float", .type = VARLINK_FLOAT },
        { .name = "string", .type = VARLINK_STRING },    {},
};

static const VarlinkField test06_out[] = {
        { .name = "struct", .type = VARLINK_STRUCT_INLINE, .fields = four_types },
        {},
};

static const VarlinkSymbol method_test06 = {
        .kind = VARLINK_SYMBOL_METHOD,
        .name = "Test06",
        .input = test06_in,
        .output = test06_out,
};

static const VarlinkField test07_in[] = {
        { .name = "client_id", .type = VARLINK_STRING },
        { .name = "struct", .type = VARLINK_STRUCT_INLINE, .fields = four_types },
        {},
};

static const VarlinkField test07_out[] = {
        { .name = "map", .type = VARLINK_STRING, .flags = VARLINK_MAP },
        {},
};

static const VarlinkSymbol method_test07 = {
        .kind = VARLINK_SYMBOL_METHOD,
        .name = "Test07",
        .input = test07_in,
        .output = test07_out,
};

static const VarlinkField test08_in[] = {
        { .name = "client_id", .type = VARLINK_STRING },
        { .name = "map", .type = VARLINK_STRING, .flags = VARLINK_MAP },
        {},
};

static const VarlinkField test08_out[] = {
        { .name = "set", .type = VARLINK_STRUCT_INLINE, .flags = VARLINK_MAP, .fields = no_fields },
        {},
};

static const VarlinkSymbol method_test08 = {
        .kind = VARLINK_SYMBOL_METHOD,
        .name = "Test08",
        .input = test08_in,
        .output = test08_out,
};

static const VarlinkField test09_in[] = {
        { .name = "client_id", .type = VARLINK_STRING },
        { .name = "set", .type = VARLINK_STRUCT_INLINE, .flags = VARLINK_MAP, .fields = no_fields },
        {},
};

static const VarlinkField test09_out[] = {
        { .name = "mytype", .type = VARLINK_NAMED, .named_type = "MyType" },
        {},
};

static const VarlinkSymbol method_test09 = {
        .kind = VARLINK_SYMBOL_METHOD,
        .name = "Test09",
        .input = test09_in,
        .output = test09_out,
};

static const VarlinkField test10_in[] = {
        { .name = "client_id", .type = VARLINK_STRING },
        { .name = "mytype", .type = VARLINK_NAMED, .named_type = "MyType" },
        {},
};

static const VarlinkField test10_out[] = {
        { .name = "string", .type = VARLINK_STRING },
        {},
};

static const VarlinkSymbol method_test10 = {
        .kind = VARLINK_SYMBOL_METHOD,
        .name = "Test10",
        .flags = VARLINK_REQUIRES_MORE,
        .input = test10_in,
        .output = test10_out,
        .doc = "Returns more than one reply with \"continues\".",
};

static const VarlinkField test11_in[] = {
        { .name = "client_id", .type = VARLINK_STRING },
        { .name = "last_more_replies", .type = VARLINK_STRING, .flags = VARLINK_ARRAY },
        {},
};

static const VarlinkSymbol method_test11 = {
        .kind = VARLINK_SYMBOL_METHOD,
        .name = "Test11",
        .input = test11_in,
        .doc = "Called with \"oneway\": no reply.",
};

static const VarlinkField end_out[] = {
        { .name = "all_ok", .type = VARLINK_BOOL },
        {},
};

static const VarlinkSymbol method_end = {
        .kind = VARLINK_SYMBOL_METHOD,
        .name = "End",
        .input = client_id_out,
        .output = end_out,
};

static const VarlinkSymbol error_client_id = {
        .kind = VARLINK_SYMBOL_ERROR,
        .name = "ClientIdError",
};

static const VarlinkField certification_error_fields[] = {
        { .name = "wants", .type = VARLINK_OBJECT },
        { .name = "got", .type = VARLINK_OBJECT },
        {},
};

static const VarlinkSymbol error_certification = {
        .kind = VARLINK_SYMBOL_ERROR,
        .name = "CertificationError",
        .input = certification_error_fields,
};

static const VarlinkSymbol *const symbols[] = {
        &type_interface,  &type_mytype,         &method_start,  &method_test01, &method_test02,
        &method_test03,   &method_test04,       &method_test05, &method_test06, &method_test07,
        &method_test08,   &method_test09,       &method_test10, &method_test11, &method_end,
        &error_client_id, &error_certification, NULL,
};

const VarlinkInterface vl_interface_org_varlink_certification = {
        .name = "org.varlink.certification",
        .symbols = symbols,
        .doc = "Interface to test varlink implementations against: a client calls Start, Test01 ... Test11, "
               "End,\n"
               "passing the result of each call into the next.",
};
