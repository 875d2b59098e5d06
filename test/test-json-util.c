/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for json-util: strict parsing, typed getters, builders, table-driven dispatch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "json-util.h"
#include "macro.h"

typedef struct Thing {
        char *name;
        int64_t offset;
        uint64_t size;
        uint32_t count;
        int level;
        bool enabled;
        int tristate;
        char **tags;
        char *comment;
} Thing;

static void thing_done(Thing *t) {
        free(t->name);
        free(t->comment);
        strv_free(t->tags);
}

static const JsonDispatch thing_table[] = {
        {"name", json_type_string, json_dispatch_string, offsetof(Thing, name), JSON_MANDATORY},
        {"offset", json_type_int, json_dispatch_int64, offsetof(Thing, offset), 0},
        {"size", json_type_int, json_dispatch_uint64, offsetof(Thing, size), JSON_MANDATORY},
        {"count", json_type_int, json_dispatch_uint32, offsetof(Thing, count), 0},
        {"level", json_type_int, json_dispatch_int, offsetof(Thing, level), 0},
        {"enabled", json_type_boolean, json_dispatch_bool, offsetof(Thing, enabled), 0},
        {"tristate", json_type_boolean, json_dispatch_tristate, offsetof(Thing, tristate), JSON_NULLABLE},
        {"tags", json_type_array, json_dispatch_strv, offsetof(Thing, tags), 0},
        {"comment", json_type_string, json_dispatch_string, offsetof(Thing, comment), JSON_NULLABLE},
        {},
};

/* Parses text and dispatches it into a fresh Thing; returns the dispatch result and a copy of the bad field
 * (an unknown key points into the parsed object, which is gone afterwards). */
static int dispatch_text(const char *text, unsigned flags, Thing *t, char **ret_bad) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        const char *bad = NULL;
        int r;

        *t = (Thing){.tristate = -1};
        assert_int_equal(json_parse(text, strlen(text), &o), 0);
        r = json_dispatch(o, thing_table, flags, t, &bad);
        *ret_bad = bad ? strdup(bad) : NULL;
        return r;
}

static void test_parse(void **state) {
        json_object *o = NULL;
        const char *ok = "  {\"a\": [1, 2, \"x\"]}\n\t ";

        assert_int_equal(json_parse(ok, strlen(ok), &o), 0);
        assert_true(json_object_is_type(o, json_type_object));
        json_object_put(o);

        const char *bad[] = {"", "{", "{}x", "{} {}", "null", "[1,]", "{\"a\":1,}", "nan"};
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                o = NULL;
                assert_int_equal(json_parse(bad[i], strlen(bad[i]), &o), -EBADMSG);
                assert_null(o);
        }

        /* Only size bytes count: the rest of the buffer is not looked at. */
        assert_int_equal(json_parse("{}garbage", 2, &o), 0);
        json_object_put(o);
}

static void assert_parse_refused(const char *text) {
        json_object *o = NULL;

        assert_int_equal(json_parse(text, strlen(text), &o), -EBADMSG);
        assert_null(o);
}

static void assert_parse_ok(const char *text) {
        json_object *o = NULL;

        assert_int_equal(json_parse(text, strlen(text), &o), 0);
        assert_non_null(o);
        json_object_put(o);
}

/* json-c keeps the last of two equal keys and cuts strings at NUL where C strings are used; a message must
 * not mean one thing to a validator and another to the code using it (issue 6 item 13). */
static void test_parse_duplicates_and_nul(void **state) {
        assert_parse_refused("{\"method\":\"io.cocoon.VM.List\",\"method\":\"io.cocoon.VM.Delete\"}");
        assert_parse_refused("{\"a\":1,\"b\":2,\"a\":3}");
        /* nested, in objects inside arrays, after a nested object, the same key spelled with an escape */
        assert_parse_refused("{\"p\":{\"refs\":[\"a\"],\"refs\":[\"b\"]}}");
        assert_parse_refused("{\"p\":[{\"x\":1},{\"y\":1,\"y\":2}]}");
        assert_parse_refused("{\"a\":{\"x\":{}},\"b\":{\"c\":1,\"c\":1}}");
        assert_parse_refused("{\"a\":{\"x\":1},\"a\":{}}");
        assert_parse_refused("{\"a\":1,\"\\u0061\":2}");
        assert_parse_refused("[{\"k\":1,\"k\":1}]");
        /* NUL in a value, in a key, at either end of a string */
        assert_parse_refused("{\"method\":\"io.cocoon.VM.List\\u0000junk\"}");
        assert_parse_refused("{\"a\\u0000b\":1}");
        assert_parse_refused("{\"a\":[\"\\u0000\"]}");
        assert_parse_refused("\"x\\u0000\"");

        /* What only looks similar is fine: an escaped backslash before u0000, equal keys in sibling
         * objects, colons and braces inside strings, a key equal to a value. */
        assert_parse_ok("{\"a\":\"\\\\u0000\"}");
        assert_parse_ok("{\"a\":{\"k\":1},\"b\":{\"k\":1},\"k\":[{\"k\":2},{\"k\":3}]}");
        assert_parse_ok("{\"a:b\":\"{:}\",\"c\":\"[\\\"{\\\"]\",\"d\":\"a\"}");
        assert_parse_ok("{\"a\":\"\\u0001\\u00e9\"}");
}

static void test_dispatch_all(void **state) {
        Thing t;
        char *bad;

        assert_int_equal(dispatch_text("{\"name\":\"vm\",\"offset\":-5,\"size\":18446744073709551615,"
                                       "\"count\":7,\"level\":-3,\"enabled\":true,\"tristate\":false,"
                                       "\"tags\":[\"a\",\"b\"],\"comment\":null}",
                                       0, &t, &bad),
                         0);
        assert_string_equal(t.name, "vm");
        assert_true(t.offset == -5);
        assert_true(t.size == UINT64_MAX);
        assert_int_equal(t.count, 7);
        assert_int_equal(t.level, -3);
        assert_true(t.enabled);
        assert_int_equal(t.tristate, 0);
        assert_non_null(t.tags);
        assert_string_equal(t.tags[0], "a");
        assert_string_equal(t.tags[1], "b");
        assert_null(t.tags[2]);
        assert_null(t.comment);
        assert_null(bad);
        thing_done(&t);

        /* Optional fields keep their defaults when absent. */
        assert_int_equal(dispatch_text("{\"name\":\"x\",\"size\":0}", 0, &t, &bad), 0);
        assert_int_equal(t.tristate, -1);
        assert_null(t.tags);
        thing_done(&t);
}

static void check_bad(const char *text, unsigned flags, int want_r, const char *want_field) {
        Thing t;
        _cleanup_free_ char *bad = NULL;

        assert_int_equal(dispatch_text(text, flags, &t, &bad), want_r);
        if (want_field)
                assert_string_equal(bad, want_field);
        else
                assert_null(bad);
        thing_done(&t);
}

static void test_dispatch_errors(void **state) {
        /* Mandatory missing, or null where null is not allowed. */
        check_bad("{\"size\":1}", 0, -ENXIO, "name");
        check_bad("{\"name\":\"x\"}", 0, -ENXIO, "size");
        check_bad("{\"name\":null,\"size\":1}", 0, -EINVAL, "name");
        /* Wrong types name the field. */
        check_bad("{\"name\":1,\"size\":1}", 0, -EINVAL, "name");
        check_bad("{\"name\":\"x\",\"size\":\"1\"}", 0, -EINVAL, "size");
        check_bad("{\"name\":\"x\",\"size\":1.0}", 0, -EINVAL, "size");
        check_bad("{\"name\":\"x\",\"size\":1,\"enabled\":1}", 0, -EINVAL, "enabled");
        check_bad("{\"name\":\"x\",\"size\":1,\"tags\":\"a\"}", 0, -EINVAL, "tags");
        check_bad("{\"name\":\"x\",\"size\":1,\"tags\":[\"a\",1]}", 0, -EINVAL, "tags");
        check_bad("{\"name\":\"x\",\"size\":1,\"tags\":[null]}", 0, -EINVAL, "tags");
        /* Ranges. */
        check_bad("{\"name\":\"x\",\"size\":-1}", 0, -ERANGE, "size");
        check_bad("{\"name\":\"x\",\"size\":1,\"offset\":18446744073709551615}", 0, -ERANGE, "offset");
        check_bad("{\"name\":\"x\",\"size\":1,\"count\":4294967296}", 0, -ERANGE, "count");
        check_bad("{\"name\":\"x\",\"size\":1,\"count\":-1}", 0, -ERANGE, "count");
        check_bad("{\"name\":\"x\",\"size\":1,\"level\":2147483648}", 0, -ERANGE, "level");
        /* Unknown keys. */
        check_bad("{\"name\":\"x\",\"size\":1,\"colour\":\"red\"}", 0, -EADDRNOTAVAIL, "colour");
        check_bad("{\"name\":\"x\",\"size\":1,\"colour\":\"red\"}", JSON_ALLOW_UNKNOWN, 0, NULL);
}

/* json_parse() refuses NUL in strings already; the dispatcher still refuses one in an object built in
 * memory, where a C string would silently end early. */
static void test_dispatch_nul_in_string(void **state) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        const char *bad = NULL;
        Thing t = {};

        assert_non_null(o);
        assert_int_equal(json_add_object(o, "name", json_object_new_string_len("a\0b", 3)), 0);
        assert_int_equal(json_add_uint64(o, "size", 1), 0);
        assert_int_equal(json_dispatch(o, thing_table, 0, &t, &bad), -EINVAL);
        assert_string_equal(bad, "name");
        thing_done(&t);
}

static void test_dispatch_not_object(void **state) {
        _cleanup_(json_object_putp) json_object *a = json_object_new_array();
        Thing t = {};
        const char *bad = "unset";

        assert_int_equal(json_dispatch(a, thing_table, 0, &t, &bad), -EINVAL);
        assert_null(bad);
        assert_int_equal(json_dispatch(NULL, thing_table, 0, &t, NULL), -EINVAL);
}

static void test_dispatch_fd_index(void **state) {
        _cleanup_(json_object_putp) json_object *three = json_object_new_int64(3),
                                                *negative = json_object_new_int64(-1),
                                                *text = json_object_new_string("3");
        int64_t index = 42;
        assert_int_equal(json_dispatch_fd_index("fd", NULL, &index), 0);
        assert_int_equal(index, -1);
        assert_int_equal(json_dispatch_fd_index("fd", three, &index), 0);
        assert_int_equal(index, 3);
        assert_int_equal(json_dispatch_fd_index("fd", negative, &index), -ERANGE);
        assert_int_equal(json_dispatch_fd_index("fd", text, &index), -EINVAL);
}

static void test_getters(void **state) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        const char *text = "{\"s\":\"v\",\"b\":true,\"i\":-2,\"u\":18446744073709551615,\"n\":null}";
        const char *s;
        bool b;
        int64_t i;
        uint64_t u;

        assert_int_equal(json_parse(text, strlen(text), &o), 0);
        assert_int_equal(json_get_string(o, "s", &s), 0);
        assert_string_equal(s, "v");
        assert_int_equal(json_get_bool(o, "b", &b), 0);
        assert_true(b);
        assert_int_equal(json_get_int64(o, "i", &i), 0);
        assert_true(i == -2);
        assert_int_equal(json_get_uint64(o, "u", &u), 0);
        assert_true(u == UINT64_MAX);

        assert_int_equal(json_get_string(o, "missing", &s), -ENXIO);
        assert_int_equal(json_get_string(o, "n", &s), -ENXIO);
        assert_int_equal(json_get_string(o, "b", &s), -EINVAL);
        assert_int_equal(json_get_uint64(o, "i", &u), -ERANGE);
        assert_int_equal(json_get_int64(o, "u", &i), -ERANGE);
        assert_int_equal(json_get_bool(o, "s", &b), -EINVAL);
}

static void test_builders(void **state) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        char *l[] = {"x", "y", NULL};

        assert_int_equal(json_add_string(o, "path", "/a/b"), 0);
        assert_int_equal(json_add_string(o, "skipped", NULL), 0);
        assert_int_equal(json_add_bool(o, "b", false), 0);
        assert_int_equal(json_add_int64(o, "i", INT64_MIN), 0);
        assert_int_equal(json_add_uint64(o, "u", UINT64_MAX), 0);
        assert_int_equal(json_add_strv(o, "l", l), 0);
        assert_int_equal(json_add_strv(o, "e", NULL), 0);
        assert_int_equal(json_add_object(o, "o", json_object_new_object()), 0);
        assert_int_equal(json_add_object(o, "failed", NULL), -ENOMEM);

        /* Slashes are not escaped; NULL strings are omitted. */
        assert_string_equal(json_to_string(o),
                            "{\"path\":\"/a/b\",\"b\":false,\"i\":-9223372036854775808,"
                            "\"u\":18446744073709551615,\"l\":[\"x\",\"y\"],\"e\":[],\"o\":{}}");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse),
                cmocka_unit_test(test_parse_duplicates_and_nul),
                cmocka_unit_test(test_dispatch_all),
                cmocka_unit_test(test_dispatch_errors),
                cmocka_unit_test(test_dispatch_nul_in_string),
                cmocka_unit_test(test_dispatch_not_object),
                cmocka_unit_test(test_dispatch_fd_index),
                cmocka_unit_test(test_getters),
                cmocka_unit_test(test_builders),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
