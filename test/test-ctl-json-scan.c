/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for ctl-json-scan: strict validation, iteration, field reads, and pretty output byte-identical to
 * json-c's (cocoonctl's printed format must not change with the faster path). */
#include <errno.h>
#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../src/cocoonctl/ctl-json-scan.h"
#include "macro.h"

static JsonSpan span(const char *s) {
        return (JsonSpan){s, strlen(s)};
}

static void test_validate(void **state) {
        static const char *const good[] = {
                "{}",
                " [ ] ",
                "0",
                "-0",
                "1.5e-3",
                "-12E+2",
                "true",
                "null",
                "\"\"",
                "{\"a\": [1, {\"b\": null}], \"c\": \"x\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\"}",
                "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"", /* é € 😀 as UTF-8 */
                /* The same key in different objects; keys that only look alike. */
                "[{\"a\":1},{\"a\":2,\"b\":{\"a\":3}}]",
                "{\"a\":1,\"A\":2,\"\\u0061b\":3,\"\xc3\xa9\":4,\"\\u00e8\":5}",
                "{\"k0\":0,\"k1\":0,\"k2\":0,\"k3\":0,\"k4\":0,\"k5\":0,\"k6\":0,\"k7\":0,\"k8\":0,\"k9\":0,"
                "\"k10\":0,\"k11\":0,\"k12\":0,\"k13\":0,\"k14\":0,\"k15\":0,\"k16\":0,\"k17\":0,\"k18\":0,"
                "\"k19\":0,\"k20\":0,\"k21\":0,\"k22\":0,\"k23\":0,\"k24\":0,\"k25\":0,\"k26\":0,\"k27\":0,"
                "\"k28\":0,\"k29\":0,\"k30\":0,\"k31\":0,\"k32\":0,\"k33\":0,\"k34\":1}",
        };
        static const char *const bad[] = {
                "",
                " ",
                "{",
                "[1,]",
                "{\"a\" 1}",
                "{\"a\":1,}",
                "{a:1}",
                "01",
                "1.",
                ".5",
                "-",
                "1e",
                "+1",
                "tru",
                "nul",
                "[1] x",
                "{} {}",
                "'a'",
                "\"a",
                "\"\\x\"",
                "\"\\u12\"",
                "\"\\u0000\"",
                "\"tab\tinside\"",
                "\"\xc3\"",
                "\"\xc0\xaf\"",
                "\"\xed\xa0\x80\"",
                "\"\xf4\x90\x80\x80\"",
                "\"\xff\"",
                "[1 2]",
                "{\"a\":1 \"b\":2}",
                /* A key twice, however it is spelled, as the Varlink layer's parser refuses it. */
                "{\"a\":1,\"a\":2}",
                "{\"a\":1,\"\\u0061\":2}",
                "{\"\xc3\xa9\":1,\"\\u00e9\":2}",
                "[{\"m\":{\"x\":1,\"y\":2,\"x\":3}}]",
                /* past the 32 keys kept on the stack */
                "{\"k0\":0,\"k1\":0,\"k2\":0,\"k3\":0,\"k4\":0,\"k5\":0,\"k6\":0,\"k7\":0,\"k8\":0,\"k9\":0,"
                "\"k10\":0,\"k11\":0,\"k12\":0,\"k13\":0,\"k14\":0,\"k15\":0,\"k16\":0,\"k17\":0,\"k18\":0,"
                "\"k19\":0,\"k20\":0,\"k21\":0,\"k22\":0,\"k23\":0,\"k24\":0,\"k25\":0,\"k26\":0,\"k27\":0,"
                "\"k28\":0,\"k29\":0,\"k30\":0,\"k31\":0,\"k32\":0,\"k33\":0,\"k1\":1}",
        };
        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                if (json_scan_validate(good[i], strlen(good[i])) != 0)
                        fail_msg("rejected: %s", good[i]);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                if (json_scan_validate(bad[i], strlen(bad[i])) != -EBADMSG)
                        fail_msg("accepted: %s", bad[i]);
        }

        /* Nesting: 64 levels pass, 65 do not. */
        char deep[200];
        memset(deep, '[', 64);
        memset(deep + 64, ']', 64);
        assert_int_equal(json_scan_validate(deep, 128), 0);
        memset(deep, '[', 65);
        memset(deep + 65, ']', 65);
        assert_int_equal(json_scan_validate(deep, 130), -EBADMSG);
}

/* What cocoonctl printed before: json-c's tree, pretty. */
static char *json_c_pretty(const char *text) {
        json_object *o = json_tokener_parse(text);
        assert_non_null(o);
        char *s;
        assert_true(asprintf(&s, "%s\n",
                             json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
                                                                       JSON_C_TO_STRING_SPACED |
                                                                       JSON_C_TO_STRING_NOSLASHESCAPE)) > 0);
        json_object_put(o);
        return s;
}

static char *scan_pretty(const char *text) {
        char *out = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&out, &size);
        assert_non_null(f);
        assert_int_equal(json_scan_validate(text, strlen(text)), 0);
        const char *p = text;
        while (*p == ' ')
                p++;
        size_t n = strlen(p);
        while (n > 0 && p[n - 1] == ' ')
                n--;
        assert_int_equal(json_span_print_pretty(f, (JsonSpan){p, n}), 0);
        assert_int_equal(fclose(f), 0);
        return out;
}

static void test_pretty_matches_json_c(void **state) {
        static const char *const docs[] = {
                "{}",
                "[]",
                "{\"a\":{}}",
                "[[],{},[[]]]",
                " {\"vms\" : [ "
                "{\"id\":\"x\",\"config\":{\"cpu\":1,\"memory\":268435456},\"list\":[],\"o\":{}} ,"
                " {\"id\":\"y\",\"b\":true,\"n\":null,\"f\":false} ] } ",
                "[\"slash \\/ and /\", \"\\u00e9 \xc3\xa9\", \"\\ud83d\\ude00\", "
                "\"\\n\\t\\r\\b\\f\\\"\\\\\","
                " \"\\u001f\\u0001\\u007f\", \"\\ud800 lone\", \"\\udc00 low\"]",
                "[0, -0, 12, -5, 1.50, 1e5, -2.5E-3, 9223372036854775807, -9223372036854775808]",
                "{\"k\\u0065y\": \"v\", \"\\/\": 1}",
                "\"just a string\"",
                "42",
                "[{\"deep\":[{\"deeper\":[1,[2,[3]]]}]}]",
        };
        for (size_t i = 0; i < ELEMENTSOF(docs); i++) {
                _cleanup_free_ char *want = json_c_pretty(docs[i]), *got = scan_pretty(docs[i]);
                if (!streq(want, got))
                        fail_msg("doc %zu differs:\n--- json-c\n%s--- scan\n%s", i, want, got);
        }
}

static void test_iterate_and_read(void **state) {
        const char *text =
                "{\"name\": \"a\\u0062c\", \"n\": 7, \"big\": 1e3, \"neg\": -3,"
                " \"list\": [1, \"two\", {\"x\": [3]}], \"k\\u0065y\": true, \"s\": 5}";
        JsonSpan o = span(text), v, k;
        JsonIter it;
        char buf[16];
        int64_t n;

        assert_int_equal(json_scan_validate(text, strlen(text)), 0);
        assert_int_equal(json_object_find(o, "name", &v), 0);
        assert_int_equal(json_span_string(v, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "abc");
        /* Escaped keys match what they spell. */
        assert_int_equal(json_object_find(o, "key", &v), 0);
        assert_int_equal(v.n, 4);
        assert_int_equal(json_object_find(o, "missing", &v), -ENOENT);

        assert_int_equal(json_object_find(o, "n", &v), 0);
        assert_int_equal(json_span_int64(v, &n), 0);
        assert_int_equal(n, 7);
        assert_int_equal(json_object_find(o, "neg", &v), 0);
        assert_int_equal(json_span_int64(v, &n), 0);
        assert_int_equal(n, -3);
        assert_int_equal(json_object_find(o, "big", &v), 0);
        assert_int_equal(json_span_int64(v, &n), -EINVAL);
        assert_int_equal(json_span_string(v, buf, sizeof(buf)), -EINVAL);
        assert_int_equal(json_span_int64(span("99999999999999999999"), &n), -ERANGE);

        /* Escapes are decoded; a buffer too small says so. */
        JsonIter members;
        assert_int_equal(json_iter_init(&members, o, true), 0);
        assert_int_equal(json_iter_next(&members, &k, &v), 1);
        assert_true(json_key_equal(k, "name"));
        assert_int_equal(json_span_string(v, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "abc");
        assert_int_equal(json_span_string(v, buf, 3), -ENOBUFS);

        /* Arrays: every element, nested ones skipped whole. */
        assert_int_equal(json_object_find(o, "list", &v), 0);
        assert_int_equal(json_iter_init(&it, v, false), 0);
        assert_int_equal(json_iter_init(&it, v, true), -EINVAL);
        assert_int_equal(json_iter_init(&it, v, false), 0);
        size_t count = 0;
        JsonSpan e;
        while (json_iter_next(&it, NULL, &e) > 0)
                count++;
        assert_int_equal(count, 3);
        assert_int_equal(e.p[0], '{');
        assert_int_equal(json_object_find(e, "x", &v), 0);
        assert_int_equal(v.n, 3);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_validate),
                cmocka_unit_test(test_pretty_matches_json_c),
                cmocka_unit_test(test_iterate_and_read),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
