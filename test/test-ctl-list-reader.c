/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for ctl-list-reader: a List reply's VMs as rows, its vms array re-emitted for --json with the same
 * content, and every malformed message refused (bad JSON or UTF-8, NUL, a key twice, deep nesting, envelope
 * fields of the wrong type). */
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

#include "../src/cocoonctl/ctl-list-reader.h"
#include "json-util.h"
#include "macro.h"

typedef struct Rows {
        size_t n;
        char text[8][256];
} Rows;

static int collect(const ListRow *row, void *userdata) {
        Rows *rows = userdata;
        assert_true(rows->n < ELEMENTSOF(rows->text));
        snprintf(rows->text[rows->n++], sizeof(rows->text[0]), "%s|%s|%s|%s|%s|%lld|%lld|%s|%s",
                 row->id ?: "-", row->name ?: "-", row->state ?: "-", row->backend ?: "-", row->created_at ?: "-",
                 (long long) row->cpu, (long long) row->memory, row->error_reason ?: "-", row->ip ?: "-");
        return 0;
}

static int read_text(const char *text, Rows *rows, ListReply *reply) {
        *rows = (Rows){};
        return list_reply_read(text, strlen(text), collect, rows, NULL, reply);
}

static void test_rows(void **state) {
        static const char text[] =
                " {\"parameters\": {\"vms\": ["
                "{\"id\": \"a1\", \"name\": \"web\", \"state\": \"running\", \"backend\": \"qemu\","
                " \"config\": {\"cpu\": 2, \"memory\": 268435456, \"extra\": [1, {\"cpu\": 9}]},"
                " \"createdAt\": \"2026-11-28T10:00:00Z\", \"runtime\": {\"name\": \"not this\"},"
                " \"ip\": \"10.0.0.2,10.1.0.3\"},"
                "{\"id\": \"b\\u00e9\", \"name\": 7, \"config\": {\"cpu\": -1, \"memory\": 1.5},"
                " \"errorReason\": \"hypervisor exited\"},"
                "{\"config\": {\"cpu\": 99999999999999999999999, \"memory\": 1e3}, \"state\": null},"
                "42,"
                "{},"
                /* a field's value inside an array is not the field */
                "{\"id\": [\"x\"], \"config\": [{\"cpu\": 1}], \"name\": {\"name\": \"y\"}},"
                "{\"config\": {\"cpu\": [5], \"memory\": {\"memory\": 1}}}"
                "], \"other\": {\"vms\": 1}}, \"continues\": false}\n";
        Rows rows;
        ListReply reply;

        assert_int_equal(read_text(text, &rows, &reply), 0);
        assert_false(reply.error);
        assert_true(reply.have_vms);
        assert_int_equal(rows.n, 7);
        assert_string_equal(rows.text[0], "a1|web|running|qemu|2026-11-28T10:00:00Z|2|268435456|-|10.0.0.2,10.1.0.3");
        assert_string_equal(rows.text[1], "b\xc3\xa9|-|-|-|-|-1|-1|hypervisor exited|-");
        assert_string_equal(rows.text[2], "-|-|-|-|-|-1|-1|-|-");
        assert_string_equal(rows.text[3], "-|-|-|-|-|-1|-1|-|-");
        assert_string_equal(rows.text[4], "-|-|-|-|-|-1|-1|-|-");
        assert_string_equal(rows.text[5], "-|-|-|-|-|-1|-1|-|-");
        assert_string_equal(rows.text[6], "-|-|-|-|-|-1|-1|-|-");

        /* No vms, null or empty parameters: read, but no vms array. */
        static const char *const no_vms[] = {
                "{}",
                "{\"parameters\": null}",
                "{\"parameters\": {}}",
                "{\"parameters\": {\"vms\": {}}}",
                "{\"parameters\": {\"vms\": null}}",
                "{\"vms\": []}",
        };
        for (size_t i = 0; i < ELEMENTSOF(no_vms); i++) {
                assert_int_equal(read_text(no_vms[i], &rows, &reply), 0);
                assert_false(reply.have_vms);
                assert_false(reply.error);
                assert_int_equal(rows.n, 0);
        }

        assert_int_equal(read_text("{\"parameters\": {\"vms\": []}}", &rows, &reply), 0);
        assert_true(reply.have_vms);
        assert_int_equal(rows.n, 0);

        assert_int_equal(
                read_text("{\"error\": \"io.cocoon.PermissionDenied\", \"parameters\": {}}", &rows, &reply),
                0);
        assert_true(reply.error);
}

static void test_malformed(void **state) {
        static const char *const bad[] = {
                "",
                " ",
                "{",
                "[]",
                "\"x\"",
                "1",
                "null",
                "{} {}",
                "{\"a\":1,}",
                "{a:1}",
                "{\"a\":01}",
                "{\"a\":1.}",
                "{\"a\":+1}",
                "{\"a\":tru}",
                "{\"a\":'a'}",
                "{\"a\":\"\\x\"}",
                "{\"a\":\"\\u12\"}",
                "{\"a\":\"tab\tinside\"}",
                "{\"a\":\"\xc3\"}",
                "{\"a\":\"\xff\"}",
                /* UTF-8's shape, not UTF-8: overlong, a surrogate, past U+10FFFF (yajl lets them pass) */
                "{\"a\":\"\xc0\xaf\"}",
                "{\"a\":\"\xed\xa0\x80\"}",
                "{\"a\":\"\xf4\x90\x80\x80\"}",
                "{\"\xc0\xaf\":1}",
                /* a lone low surrogate escape, which yajl decodes into a surrogate's bytes */
                "{\"a\":\"\\udc00\"}",
                "{\"a\":1 \"b\":2}",
                "{\"a\":1} // comment",
                "/* comment */ {}",
                /* NUL in a string or a key, escaped or raw */
                "{\"a\":\"x\\u0000y\"}",
                "{\"a\\u0000\":1}",
                "{\"parameters\":{\"vms\":[{\"id\":\"a\\u0000b\"}]}}",
                /* a key twice, however spelled, at any depth */
                "{\"a\":1,\"a\":2}",
                "{\"a\":1,\"\\u0061\":2}",
                "{\"parameters\":{\"vms\":[{\"m\":{\"x\":1,\"y\":{},\"x\":3}}]}}",
                "{\"parameters\":{},\"parameters\":{}}",
                /* envelope fields of the wrong type */
                "{\"parameters\":[]}",
                "{\"parameters\":1}",
                "{\"parameters\":\"x\"}",
                "{\"error\":null}",
                "{\"error\":{}}",
                "{\"error\":1}",
                "{\"continues\":true}",
                "{\"continues\":null}",
                "{\"continues\":0}",
                "{\"continues\":[]}",
        };
        Rows rows;
        ListReply reply;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (read_text(bad[i], &rows, &reply) != -EPROTO)
                        fail_msg("accepted: %s", bad[i]);
        /* NUL raw in the text */
        static const char raw_nul[] = "{\"a\":\"x\0y\"}";
        assert_int_equal(list_reply_read(raw_nul, sizeof(raw_nul) - 1, NULL, NULL, NULL, &reply), -EPROTO);

        /* Keys seen in one object do not count in its siblings or after it closed. */
        assert_int_equal(read_text("{\"a\":{\"a\":{\"a\":1},\"b\":{\"a\":2}},"
                                   "\"b\":[{\"a\":1},{\"a\":2}]}",
                                   &rows, &reply),
                         0);
}

static void test_depth(void **state) {
        char deep[2 * LIST_READER_DEPTH_MAX + 16];
        ListReply reply;
        /* The message object, then arrays: LIST_READER_DEPTH_MAX containers in all is the most. */
        for (size_t n = LIST_READER_DEPTH_MAX; n <= LIST_READER_DEPTH_MAX + 1; n++) {
                size_t k = 0;
                k += (size_t) snprintf(deep, sizeof(deep), "{\"a\":");
                for (size_t i = 1; i < n; i++)
                        deep[k++] = '[';
                for (size_t i = 1; i < n; i++)
                        deep[k++] = ']';
                deep[k++] = '}';
                assert_int_equal(list_reply_read(deep, k, NULL, NULL, NULL, &reply),
                                 n <= LIST_READER_DEPTH_MAX ? 0 : -EPROTO);
        }
}

static int fail_row(const ListRow *row, void *userdata) {
        return -E2BIG;
}

static void test_row_error(void **state) {
        ListReply reply;
        const char *text = "{\"parameters\":{\"vms\":[{}]}}";
        assert_int_equal(list_reply_read(text, strlen(text), fail_row, NULL, NULL, &reply), -E2BIG);
}

/* --json: the vms array comes out with the same content json-c reads in the reply, and the same bytes as
 * json-c's pretty print (plus a newline), which the other verbs' --json use. */
static void check_reemit(const char *text) {
        _cleanup_(json_object_putp) json_object *message = json_tokener_parse(text);
        json_object *parameters, *vms;
        yajl_gen gen;
        ListReply reply;
        const unsigned char *buf;
        size_t n;

        assert_non_null(message);
        assert_true(json_object_object_get_ex(message, "parameters", &parameters));
        assert_true(json_object_object_get_ex(parameters, "vms", &vms));

        assert_int_equal(list_gen_new(&gen), 0);
        assert_int_equal(list_reply_read(text, strlen(text), NULL, NULL, gen, &reply), 0);
        assert_true(reply.have_vms);
        assert_int_equal(yajl_gen_get_buf(gen, &buf, &n), yajl_gen_status_ok);
        char *out = strndup((const char *) buf, n);
        assert_non_null(out);

        _cleanup_(json_object_putp) json_object *emitted = json_tokener_parse(out);
        assert_non_null(emitted);
        assert_true(json_object_equal(emitted, vms));

        const char *pretty = json_object_to_json_string_ext(
                vms, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
        assert_int_equal(n, strlen(pretty) + 1);
        assert_memory_equal(out, pretty, n - 1);
        assert_int_equal(out[n - 1], '\n');
        free(out);
        yajl_gen_free(gen);
}

static void test_reemit(void **state) {
        check_reemit("{\"parameters\":{\"vms\":[]}}");
        check_reemit("{\"parameters\":{\"vms\":[{}]}}");
        check_reemit("{\"parameters\":{\"vms\":[[], {}, [[]], {\"a\": {\"b\": []}}]}}");
        /* A record as the manager sends it. */
        check_reemit("{\"parameters\":{\"vms\":[{\"id\":\"a/b\",\"name\":\"web\",\"config\":{\"cpu\":1,"
                     "\"memory\":268435456},\"storageConfigs\":[],\"firstBooted\":false,\"ok\":true,"
                     "\"snapshotIds\":[\"x\",\"y\"],\"runtime\":null,\"s\":\"q\\\"\\\\\\n\\t\\u00e9/\","
                     "\"nested\":{\"x\":[1,[2,{\"y\":\"z\"}]]},\"neg\":-5}]},\"continues\":false}");
}

/* Numbers are passed on as written: content json-c would round or refuse stays as it was. yajl writes
 * control characters with upper-case hex digits (json-c: lower-case); the manager never sends any. */
static void test_reemit_numbers(void **state) {
        static const char text[] = "{\"parameters\":{\"vms\":[123456789012345678901234567890,-0.5e+3,"
                                   "\"\\ud83d\\ude00\\u001f\"]}}";
        yajl_gen gen;
        ListReply reply;
        const unsigned char *buf;
        size_t n;

        assert_int_equal(list_gen_new(&gen), 0);
        assert_int_equal(list_reply_read(text, strlen(text), NULL, NULL, gen, &reply), 0);
        assert_int_equal(yajl_gen_get_buf(gen, &buf, &n), yajl_gen_status_ok);
        static const char expected[] =
                "[\n  123456789012345678901234567890,\n  -0.5e+3,\n  \"\xf0\x9f\x98\x80\\u001F\"\n]\n";
        assert_int_equal(n, strlen(expected));
        assert_memory_equal(buf, expected, n);
        yajl_gen_free(gen);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_rows),   cmocka_unit_test(test_malformed),
                cmocka_unit_test(test_depth),  cmocka_unit_test(test_row_error),
                cmocka_unit_test(test_reemit), cmocka_unit_test(test_reemit_numbers),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
