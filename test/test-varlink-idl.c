/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for the Varlink IDL: format every declared interface and re-parse it, stability, errors, validation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "json-util.h"
#include "varlink-cert/cert-interface.h"
#include "varlink-idl.h"
#include "varlink-interfaces.h"
#include "varlink-org-varlink-service.h"

static const VarlinkInterface *const declared[] = {
        &vl_interface_org_varlink_service, &vl_interface_org_varlink_certification,
        &vl_interface_io_cocoon,           &vl_interface_io_cocoon_Manager,
        &vl_interface_io_cocoon_VM,
        &vl_interface_io_cocoon_Snapshot,
        &vl_interface_io_cocoon_Network,
};

static bool fields_equal(const VarlinkField *a, const VarlinkField *b);

static bool strv_equal(const char *const *a, const char *const *b) {
        for (; a && *a; a++, b++)
                if (!b || !*b || !streq(*a, *b))
                        return false;
        return !b || !*b;
}

static bool type_equal(const VarlinkField *a, const VarlinkField *b) {
        if (a->type != b->type || a->flags != b->flags)
                return false;
        switch (a->type) {
        case VARLINK_NAMED:
                return streq_ptr(a->named_type, b->named_type);
        case VARLINK_ENUM_INLINE:
                return strv_equal(a->enum_values, b->enum_values);
        case VARLINK_STRUCT_INLINE:
                return fields_equal(a->fields, b->fields);
        case VARLINK_NESTED:
                return type_equal(a->element, b->element);
        default:
                return true;
        }
}

/* NULL and an empty list are the same thing: "()". */
static bool fields_equal(const VarlinkField *a, const VarlinkField *b) {
        for (; a && a->name; a++, b++) {
                if (!b || !b->name || !streq(a->name, b->name) || !streq_ptr(a->doc, b->doc) ||
                    !type_equal(a, b))
                        return false;
        }
        return !b || !b->name;
}

static void assert_interfaces_equal(const VarlinkInterface *a, const VarlinkInterface *b) {
        const VarlinkSymbol *const *x = a->symbols, *const *y = b->symbols;

        assert_string_equal(a->name, b->name);
        assert_true(streq_ptr(a->doc, b->doc));
        for (; *x; x++, y++) {
                assert_non_null(*y);
                assert_string_equal((*x)->name, (*y)->name);
                assert_int_equal((*x)->kind, (*y)->kind);
                assert_int_equal((*x)->flags, (*y)->flags);
                assert_true(streq_ptr((*x)->doc, (*y)->doc));
                assert_true(fields_equal((*x)->input, (*y)->input));
                assert_true(fields_equal((*x)->output, (*y)->output));
                assert_true(strv_equal((*x)->enum_values, (*y)->enum_values));
        }
        assert_null(*y);
}

static void test_declared_roundtrip(void **state) {
        for (size_t i = 0; i < sizeof(declared) / sizeof(declared[0]); i++) {
                _cleanup_free_ char *text = NULL, *again = NULL;
                VarlinkInterface *parsed = NULL;
                unsigned line = 0;
                int r;

                assert_int_equal(varlink_idl_verify(declared[i]), 0);
                text = varlink_idl_format(declared[i]);
                assert_non_null(text);
                r = varlink_idl_parse(text, &parsed, &line);
                if (r < 0)
                        fail_msg("%s does not re-parse (line %u):\n%s", declared[i]->name, line, text);
                assert_interfaces_equal(declared[i], parsed);

                /* format -> parse -> format is a fixed point */
                again = varlink_idl_format(parsed);
                assert_non_null(again);
                assert_string_equal(text, again);
                varlink_interface_free(parsed);
        }
}

static const char certification_text[] = "# Interface to test varlink implementations against.\n"
                                         "interface org.varlink.certification\n"
                                         "\n"
                                         "type Interface (\n"
                                         "  foo: ?[]?[string](foo, bar, baz),\n"
                                         "  anon: (foo: bool, bar: bool)\n"
                                         ")\n"
                                         "\n"
                                         "type MyType (\n"
                                         "  object: object,\n"
                                         "  enum: (one, two, three),\n"
                                         "  struct: (first: int, second: string),\n"
                                         "  array: []string,\n"
                                         "  dictionary: [string]string,\n"
                                         "  stringset: [string](),\n"
                                         "  nullable: ?string,\n"
                                         "  nullable_array_struct: ?[](first: int, second: string),\n"
                                         "  interface: Interface\n"
                                         ")\n"
                                         "\n"
                                         "method Start() -> (client_id: string)\n"
                                         "# @mode oneway\n"
                                         "method Test11(\n"
                                         "  client_id: string,\n"
                                         "  last_more_replies: []string\n"
                                         ") -> ()\n"
                                         "error ClientIdError ()\n";

/* Text written by someone else (the certification file's style) parses, and parse->format->parse is stable.
 */
static void test_foreign_text_stable(void **state) {
        _cleanup_free_ char *text1 = NULL, *text2 = NULL;
        VarlinkInterface *a = NULL, *b = NULL;
        const VarlinkSymbol *s;
        const VarlinkField *foo;

        assert_int_equal(varlink_idl_parse(certification_text, &a, NULL), 0);
        assert_string_equal(a->name, "org.varlink.certification");
        assert_string_equal(a->doc, "Interface to test varlink implementations against.");

        s = varlink_idl_find_symbol(a, VARLINK_SYMBOL_STRUCT_TYPE, "Interface");
        assert_non_null(s);
        foo = &s->input[0];
        assert_string_equal(foo->name, "foo");
        assert_int_equal(foo->type, VARLINK_NESTED);
        assert_int_equal(foo->flags, VARLINK_NULLABLE | VARLINK_ARRAY);
        assert_int_equal(foo->element->flags, VARLINK_NULLABLE | VARLINK_MAP);
        assert_int_equal(foo->element->type, VARLINK_ENUM_INLINE);
        assert_string_equal(foo->element->enum_values[2], "baz");
        s = varlink_idl_find_symbol(a, VARLINK_SYMBOL_METHOD, "Test11");
        assert_non_null(s);
        assert_string_equal(s->doc, "@mode oneway");
        assert_null(s->output[0].name);

        text1 = varlink_idl_format(a);
        assert_int_equal(varlink_idl_parse(text1, &b, NULL), 0);
        assert_interfaces_equal(a, b);
        text2 = varlink_idl_format(b);
        assert_string_equal(text1, text2);
        varlink_interface_free(a);
        varlink_interface_free(b);
}

static void test_flags_roundtrip(void **state) {
        static const VarlinkSymbol m1 = { .kind = VARLINK_SYMBOL_METHOD,
                                          .name = "Watch",
                                          .flags = VARLINK_REQUIRES_MORE,
                                          .doc = "Streams." };
        static const VarlinkSymbol m2 = { .kind = VARLINK_SYMBOL_METHOD,
                                          .name = "Console",
                                          .flags = VARLINK_SUPPORTS_UPGRADE | VARLINK_SUPPORTS_MORE };
        static const VarlinkSymbol *const symbols[] = { &m1, &m2, NULL };
        static const VarlinkInterface iface = { .name = "io.example.Flags", .symbols = symbols };
        _cleanup_free_ char *text = varlink_idl_format(&iface);
        VarlinkInterface *parsed = NULL;

        assert_non_null(strstr(text, "# [Requires 'more' flag]\nmethod Watch() -> ()"));
        assert_int_equal(varlink_idl_parse(text, &parsed, NULL), 0);
        assert_interfaces_equal(&iface, parsed);
        varlink_interface_free(parsed);
}

static void assert_parse_fails_at(const char *text, unsigned expected_line) {
        VarlinkInterface *parsed = NULL;
        unsigned line = 0;

        assert_int_equal(varlink_idl_parse(text, &parsed, &line), -EBADMSG);
        assert_null(parsed);
        if (line != expected_line)
                fail_msg("expected error on line %u, got %u, for:\n%s", expected_line, line, text);
}

static void test_malformed(void **state) {
        assert_parse_fails_at("method Foo() -> ()\n", 1); /* no interface line */
        assert_parse_fails_at("# doc\n\ninterface Foo\n", 3); /* one component */
        assert_parse_fails_at("interface a.b\n\nmethod Foo(x: ??string) -> ()\n", 3); /* double nullable */
        assert_parse_fails_at("interface a.b\nmethod Foo(\n  x: int,\n  y: strin g\n) -> ()\n", 4);
        assert_parse_fails_at("interface a.b\nmethod Foo(x: int,) -> ()\n", 2); /* trailing comma */
        assert_parse_fails_at("interface a.b\nmethod foo() -> ()\n", 2); /* lowercase name */
        assert_parse_fails_at("interface a.b\nmethod Foo() -> (\n  x: int\n", 4); /* unterminated */
        assert_parse_fails_at("interface a.b\nmethod Foo() (x: int)\n", 2); /* missing -> */
        assert_parse_fails_at("interface a.b\nmethod Foo(x: [int]string) -> ()\n",
                              2); /* map key not string */
        assert_parse_fails_at("interface a.b\nmethod Foo(x: int) -> ()\nwhat Bar ()\n", 3);
        assert_parse_fails_at("interface a.b\n\n\nmethod Foo(x: Missing) -> ()\n",
                              4); /* unknown named type */
        assert_parse_fails_at("interface a.b\ntype T (a, b)\n\nerror T ()\n", 4); /* duplicate name */
        assert_parse_fails_at("interface a.b\ntype T (a: int, a: string)\n", 2); /* duplicate field */
        assert_parse_fails_at("interface a.b\ntype E (one, one)\n", 2); /* duplicate value */
        assert_parse_fails_at("interface a.b\nmethod Foo(bad__name: int) -> ()\n", 2);
        assert_parse_fails_at("interface a.b\nerror E (a, b)\n", 2); /* errors carry fields */
}

static void test_verify_rejects(void **state) {
        static const VarlinkField bad_nested[] = {
                { .name = "x", .type = VARLINK_NESTED }, /* no container, no element */
                {},
        };
        static const VarlinkField both[] = {
                { .name = "x", .type = VARLINK_INT, .flags = VARLINK_ARRAY | VARLINK_MAP },
                {},
        };
        static const VarlinkSymbol m1 = { .kind = VARLINK_SYMBOL_METHOD, .name = "A", .input = bad_nested };
        static const VarlinkSymbol m2 = { .kind = VARLINK_SYMBOL_METHOD, .name = "B", .input = both };
        static const VarlinkSymbol e1 = { .kind = VARLINK_SYMBOL_ERROR,
                                          .name = "C",
                                          .flags = VARLINK_REQUIRES_MORE };
        static const VarlinkSymbol *const s1[] = { &m1, NULL }, *const s2[] = { &m2, NULL },
                                          *const s3[] = { &e1, NULL };
        VarlinkInterface i = { .name = "io.example.Bad", .symbols = s1 };

        assert_int_equal(varlink_idl_verify(&i), -EINVAL);
        i.symbols = s2;
        assert_int_equal(varlink_idl_verify(&i), -EINVAL);
        i.symbols = s3;
        assert_int_equal(varlink_idl_verify(&i), -EINVAL);
        i.symbols = NULL;
        i.name = "io..bad";
        assert_int_equal(varlink_idl_verify(&i), -EINVAL);
        i.name = "io.cocoon.VM";
        assert_int_equal(varlink_idl_verify(&i), 0);
}

static json_object *parse(const char *s) {
        json_object *o = json_tokener_parse(s);
        assert_non_null(o);
        return o;
}

/* Expects validation of `json` against `fields` to fail naming `bad` (or to pass when bad is NULL). */
static void check(const VarlinkInterface *iface, const VarlinkField *fields, const char *json,
                  const char *bad) {
        _cleanup_(json_object_putp) json_object *o = parse(json);
        const char *got = NULL;
        int r;

        r = varlink_idl_validate_fields(iface, fields, o, &got);
        if (!bad) {
                if (r < 0)
                        fail_msg("%s: rejected (field %s)", json, got);
                return;
        }
        if (r != -EINVAL)
                fail_msg("%s: accepted, expected failure at %s", json, bad);
        if (!got || !streq(got, bad))
                fail_msg("%s: failure names %s, expected %s", json, got, bad);
}

static void test_validate(void **state) {
        const VarlinkInterface *c = &vl_interface_org_varlink_certification;
        const VarlinkSymbol *t10 = varlink_idl_find_symbol(c, VARLINK_SYMBOL_METHOD, "Test10");
        const VarlinkSymbol *t06 = varlink_idl_find_symbol(c, VARLINK_SYMBOL_METHOD, "Test06");
        const VarlinkSymbol *t08 = varlink_idl_find_symbol(c, VARLINK_SYMBOL_METHOD, "Test08");
        const VarlinkSymbol *t11 = varlink_idl_find_symbol(c, VARLINK_SYMBOL_METHOD, "Test11");
        const char *ok_mytype =
                "{\"client_id\":\"x\",\"mytype\":{\"object\":{\"a\":[1]},\"enum\":\"two\","
                "\"struct\":{\"first\":1,\"second\":\"2\"},\"array\":[\"one\"],\"dictionary\":{\"a\":\"b\"},"
                "\"stringset\":{\"one\":{}},\"nullable\":null,"
                "\"interface\":{\"foo\":[null,{\"k\":\"foo\"},{}],\"anon\":{\"foo\":true,\"bar\":false}}}}";

        check(c, t10->input, ok_mytype, NULL);
        /* nullable top-level field may be absent; others not */
        check(c, t06->input, "{\"client_id\":\"x\",\"bool\":true,\"int\":1,\"float\":1,\"string\":\"s\"}",
              NULL);
        check(c, t06->input, "{\"client_id\":\"x\",\"bool\":true,\"int\":1,\"float\":1.5}", "string");
        check(c, t06->input, "{\"client_id\":\"x\",\"bool\":1,\"int\":1,\"float\":1,\"string\":\"s\"}",
              "bool");
        check(c, t06->input, "{\"client_id\":\"x\",\"bool\":true,\"int\":1.5,\"float\":1,\"string\":\"s\"}",
              "int");
        check(c, t06->input, "{\"client_id\":null,\"bool\":true,\"int\":1,\"float\":1,\"string\":\"s\"}",
              "client_id");
        check(c, t06->input,
              "{\"client_id\":\"x\",\"bool\":true,\"int\":1,\"float\":1,\"string\":\"s\",\"extra\":0}",
              "extra");
        check(c, t08->input, "{\"client_id\":\"x\",\"map\":{\"a\":\"b\",\"c\":3}}", "map");
        check(c, t08->input, "{\"client_id\":\"x\",\"map\":[\"a\"]}", "map");
        check(c, t11->input, "{\"client_id\":\"x\",\"last_more_replies\":[\"a\",null]}",
              "last_more_replies");
        check(c, t11->input, "{\"client_id\":\"x\",\"last_more_replies\":[]}", NULL);

        /* nested: named struct -> inline enum / inline struct / nested element / named struct */
        check(c, t10->input, "{\"client_id\":\"x\",\"mytype\":{\"object\":{},\"enum\":\"four\"}}", "enum");
        check(c, t10->input, "{\"client_id\":\"x\",\"mytype\":{\"object\":[],\"enum\":\"two\"}}", "object");
        {
                /* one bad leaf deep inside, everything else valid */
                static const char *const cases[][2] = {
                        { "\"interface\":{\"foo\":[{\"k\":\"nope\"}],\"anon\":{\"foo\":true,\"bar\":false}}",
                          "foo" },
                        { "\"interface\":{\"foo\":[[]],\"anon\":{\"foo\":true,\"bar\":false}}", "foo" },
                        { "\"interface\":{\"anon\":{\"foo\":true}}", "bar" },
                        { "\"interface\":{\"anon\":{\"foo\":true,\"bar\":false,\"baz\":1}}", "baz" },
                        { "\"interface\":{\"anon\":{\"foo\":true,\"bar\":false}},\"nullable_array_struct\":"
                          "[{\"first\":\"1\",\"second\":\"2\"}]",
                          "first" },
                        { "\"interface\":{\"anon\":{\"foo\":true,\"bar\":false}},\"stringset\":{\"a\":1}",
                          "stringset" },
                };
                for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                        char buf[1024];

                        snprintf(buf, sizeof(buf),
                                 "{\"client_id\":\"x\",\"mytype\":{\"object\":{},\"enum\":\"one\","
                                 "\"struct\":{\"first\":1,\"second\":\"2\"},\"array\":[],\"dictionary\":{},"
                                 "\"stringset\":{},%s}}",
                                 cases[i][0]);
                        /* the stringset case repeats the key: json-c keeps the last value */
                        check(c, t10->input, buf, cases[i][1]);
                }
        }

        /* named enum types (io.cocoon.VM's State) */
        {
                static const char *const values[] = { "on", "off", NULL };
                static const VarlinkSymbol e = { .kind = VARLINK_SYMBOL_ENUM_TYPE,
                                                 .name = "Power",
                                                 .enum_values = values };
                static const VarlinkField row = { .type = VARLINK_INT, .flags = VARLINK_ARRAY };
                static const VarlinkField in[] = {
                        { .name = "power",
                          .type = VARLINK_NAMED,
                          .named_type = "Power",
                          .flags = VARLINK_NULLABLE },
                        { .name = "matrix",
                          .type = VARLINK_NESTED,
                          .flags = VARLINK_ARRAY,
                          .element = &row },
                        {},
                };
                static const VarlinkSymbol *const symbols[] = { &e, NULL };
                static const VarlinkInterface i = { .name = "io.example.P", .symbols = symbols };

                assert_int_equal(varlink_idl_verify(&i), 0);
                check(&i, in, "{\"power\":\"on\",\"matrix\":[[1,2],[]]}", NULL);
                check(&i, in, "{\"power\":null,\"matrix\":[]}", NULL);
                check(&i, in, "{\"power\":\"dim\",\"matrix\":[]}", "power");
                check(&i, in, "{\"matrix\":[[1,\"2\"]]}", "matrix");
                check(&i, in, "{\"matrix\":[1]}", "matrix");
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_declared_roundtrip), cmocka_unit_test(test_foreign_text_stable),
                cmocka_unit_test(test_flags_roundtrip),    cmocka_unit_test(test_malformed),
                cmocka_unit_test(test_verify_rejects),     cmocka_unit_test(test_validate),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
