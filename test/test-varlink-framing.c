/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for Varlink framing: the incremental parser and output queue, and how a server connection handles
 * split, batched, oversized, malformed and truncated input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "json-util.h"
#include "varlink-framing.h"
#include "varlink-test-util.h"
#include "varlink.h"

/* ---- the parser and queue on their own ---- */

static const char call_text[] =
        "{\"method\":\"io.example.Framing.Echo\",\"parameters\":{\"text\":\"h\\u00e9llo\"}}";

static void test_input_byte_by_byte(void **state) {
        VarlinkInput in = {};
        json_object *o = NULL, *p, *t;

        for (size_t i = 0; i < sizeof(call_text) - 1; i++) {
                assert_int_equal(varlink_input_feed(&in, call_text + i, 1), 0);
                assert_int_equal(varlink_input_next(&in, &o), 0);
                /* each byte is looked at once: what was scanned is remembered */
                assert_int_equal(in.scanned, i + 1);
        }
        assert_int_equal(varlink_input_feed(&in, "", 1), 0); /* the NUL */
        assert_int_equal(varlink_input_next(&in, &o), 1);
        assert_true(json_object_object_get_ex(o, "parameters", &p));
        assert_true(json_object_object_get_ex(p, "text", &t));
        assert_string_equal(json_object_get_string(t), "h\xc3\xa9llo");
        json_object_put(o);
        assert_false(varlink_input_has_partial(&in));
        assert_int_equal(varlink_input_next(&in, &o), 0);
        varlink_input_done(&in);
}

static void test_input_several_in_one(void **state) {
        static const char data[] = "{\"n\":1}\0{\"n\":2} \n\0{\"n\":3}\0{\"n\":";
        VarlinkInput in = {};
        json_object *o, *n;

        assert_int_equal(varlink_input_feed(&in, data, sizeof(data) - 1), 0);
        for (int i = 1; i <= 3; i++) {
                assert_int_equal(varlink_input_next(&in, &o), 1);
                assert_true(json_object_object_get_ex(o, "n", &n));
                assert_int_equal(json_object_get_int(n), i);
                json_object_put(o);
        }
        assert_int_equal(varlink_input_next(&in, &o), 0);
        assert_true(varlink_input_has_partial(&in));
        assert_int_equal(varlink_input_feed(&in, "4}", 3), 0); /* with the NUL */
        assert_int_equal(varlink_input_next(&in, &o), 1);
        assert_true(json_object_object_get_ex(o, "n", &n));
        assert_int_equal(json_object_get_int(n), 4);
        json_object_put(o);
        varlink_input_done(&in);
}

/* Unparsed: the bytes between the NULs, even ones that would not parse; a bad message stays for the parser. */
static void test_input_raw(void **state) {
        static const char data[] = "{\"n\":1}\0not json\0{\"n\":";
        VarlinkInput in = {};
        json_object *o = NULL;
        const char *text;
        size_t size;

        assert_int_equal(varlink_input_feed(&in, data, sizeof(data) - 1), 0);
        assert_int_equal(varlink_input_next_raw(&in, &text, &size), 1);
        assert_int_equal(size, 7);
        assert_memory_equal(text, "{\"n\":1}", 7);
        assert_int_equal(text[size], '\0');
        assert_int_equal(varlink_input_next(&in, &o), -EBADMSG);
        assert_int_equal(varlink_input_next_raw(&in, &text, &size), 1);
        assert_int_equal(size, 8);
        assert_memory_equal(text, "not json", 8);
        assert_int_equal(varlink_input_next_raw(&in, &text, &size), 0);
        assert_true(varlink_input_has_partial(&in));
        varlink_input_done(&in);
}

static void assert_rejected(const char *data, size_t size) {
        VarlinkInput in = {};
        json_object *o = NULL;

        assert_int_equal(varlink_input_feed(&in, data, size), 0);
        assert_int_equal(varlink_input_next(&in, &o), -EBADMSG);
        assert_null(o);
        varlink_input_done(&in);
}

static void test_input_invalid(void **state) {
        assert_rejected("{\"a\":}", 7);
        assert_rejected("[1,2]", 6); /* not an object */
        assert_rejected("\"s\"", 4);
        assert_rejected("{}{}", 5); /* two values in one message */
        assert_rejected("{} x", 5);
        assert_rejected("", 1); /* empty message */
        assert_rejected("{\"a\":\"\xff\"}", 10); /* not UTF-8 */
}

/* As systemd's JSON parser: a repeated key or a NUL inside a string makes the message invalid (issue 6
 * item 13), however deep it sits. */
static void test_input_duplicate_key_or_nul(void **state) {
        static const char *const bad[] = {
                "{\"method\":\"io.cocoon.VM.List\",\"method\":\"io.cocoon.VM.Delete\"}",
                "{\"method\":\"io.cocoon.VM.Delete\",\"parameters\":{\"refs\":[\"a\"],\"refs\":[\"b\"]}}",
                "{\"method\":\"x.y.Z\",\"parameters\":{\"a\":[{\"b\":{\"c\":1,\"c\":2}}]}}",
                "{\"method\":\"io.cocoon.VM.List\\u0000junk\"}",
                "{\"method\":\"x.y.Z\",\"parameters\":{\"k\\u0000\":1}}",
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_rejected(bad[i], strlen(bad[i]) + 1);
}

static void test_input_oversize(void **state) {
        VarlinkInput in = {};
        json_object *o = NULL;
        char *big = malloc(VARLINK_BUFFER_MAX);

        assert_non_null(big);
        memset(big, ' ', VARLINK_BUFFER_MAX);
        big[0] = '{';
        /* one byte short of the limit: still waiting for more */
        assert_int_equal(varlink_input_feed(&in, big, VARLINK_BUFFER_MAX - 1), 0);
        assert_int_equal(varlink_input_next(&in, &o), 0);
        assert_int_equal(varlink_input_feed(&in, " ", 1), 0);
        assert_int_equal(varlink_input_next(&in, &o), -ENOBUFS);
        varlink_input_done(&in);

        /* the largest message that fits: VARLINK_BUFFER_MAX bytes with its NUL */
        big[VARLINK_BUFFER_MAX - 2] = '}';
        big[VARLINK_BUFFER_MAX - 1] = '\0';
        assert_int_equal(varlink_input_feed(&in, big, VARLINK_BUFFER_MAX), 0);
        assert_int_equal(varlink_input_next(&in, &o), 1);
        json_object_put(o);
        varlink_input_done(&in);

        /* one byte more, even with the NUL present, is refused */
        assert_int_equal(varlink_input_feed(&in, " ", 1), 0);
        assert_int_equal(varlink_input_feed(&in, big, VARLINK_BUFFER_MAX), 0);
        assert_int_equal(varlink_input_next(&in, &o), -ENOBUFS);
        varlink_input_done(&in);
        free(big);
}

static void test_input_read_from_fd(void **state) {
        VarlinkInput in = {};
        json_object *o = NULL;
        int p[2];

        assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
        assert_int_equal(varlink_input_read(&in, p[0]), -EAGAIN);
        assert_int_equal(write(p[1], "{\"a\":1}\0{\"b\"", 12), 12);
        assert_int_equal(varlink_input_read(&in, p[0]), 12);
        assert_int_equal(varlink_input_next(&in, &o), 1);
        json_object_put(o);
        assert_int_equal(varlink_input_next(&in, &o), 0);
        assert_int_equal(write(p[1], ":2}\0", 4), 4);
        close(p[1]);
        assert_int_equal(varlink_input_read(&in, p[0]), 4);
        assert_int_equal(varlink_input_next(&in, &o), 1);
        json_object_put(o);
        assert_int_equal(varlink_input_read(&in, p[0]), 0); /* EOF */
        assert_false(varlink_input_has_partial(&in));
        close(p[0]);
        varlink_input_done(&in);
}

/* A message arriving in small pieces is read into the room the buffer has: it grows once it is nearly
 * full, by doubling, not by a read size per piece (each growth copies the buffer). */
static void test_input_read_pieces_no_growth(void **state) {
        VarlinkInput in = {};
        json_object *o = NULL;
        size_t allocated, n_growths = 0;
        int p[2];

        assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
        assert_int_equal(write(p[1], "{\"a\":\"", 6), 6);
        assert_int_equal(varlink_input_read(&in, p[0]), 6);
        allocated = in.allocated;
        assert_int_equal(allocated, VARLINK_READ_SIZE);
        for (size_t i = 0; i < 130; i++) { /* 66,566 bytes in all: more than one read size */
                char piece[512];

                memset(piece, 'x', sizeof(piece));
                assert_int_equal(write(p[1], piece, sizeof(piece)), sizeof(piece));
                assert_int_equal(varlink_input_read(&in, p[0]), sizeof(piece));
                assert_int_equal(varlink_input_next(&in, &o), 0);
                if (in.allocated != allocated)
                        n_growths++;
                allocated = in.allocated;
        }
        assert_int_equal(n_growths, 1);
        assert_int_equal(allocated, 2 * VARLINK_READ_SIZE);
        assert_int_equal(write(p[1], "\"}\0", 3), 3);
        assert_int_equal(varlink_input_read(&in, p[0]), 3);
        assert_int_equal(varlink_input_next(&in, &o), 1);
        assert_int_equal(strlen(json_object_get_string(json_object_object_get(o, "a"))), 130 * 512);
        json_object_put(o);
        close(p[0]);
        close(p[1]);
        varlink_input_done(&in);
}

static void test_output_queue(void **state) {
        VarlinkOutput out = {};
        _cleanup_(json_object_putp) json_object *a = json_tokener_parse("{\"path\":\"/x\"}");
        _cleanup_(json_object_putp) json_object *b = json_tokener_parse("{\"n\":[1,2]}");
        char buf[64];
        int p[2];

        assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
        assert_false(varlink_output_pending(&out));
        assert_int_equal(varlink_output_append(&out, a), 0);
        assert_int_equal(varlink_output_append(&out, b), 0);
        assert_true(varlink_output_pending(&out));
        assert_int_equal(varlink_output_write(&out, p[1]), 26);
        assert_false(varlink_output_pending(&out));
        assert_int_equal(varlink_output_write(&out, p[1]), 0);
        assert_int_equal(read(p[0], buf, sizeof(buf)), 26);
        assert_memory_equal(buf, "{\"path\":\"/x\"}\0{\"n\":[1,2]}\0", 26); /* no "\/" escaping */

        close(p[0]);
        close(p[1]);

        /* a vanished socket peer is an error, not a SIGPIPE */
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p), 0);
        close(p[0]);
        assert_int_equal(varlink_output_append(&out, a), 0);
        assert_int_equal(varlink_output_write(&out, p[1]), -EPIPE);
        assert_true(varlink_output_pending(&out));
        close(p[1]);
        varlink_output_done(&out);
}

/* ---- a server connection fed over a socketpair, event loop driven by hand in this thread ---- */

static const VarlinkField echo_fields[] = {
        { .name = "text", .type = VARLINK_STRING },
        {},
};

static const VarlinkSymbol method_echo = {
        .kind = VARLINK_SYMBOL_METHOD,
        .name = "Echo",
        .input = echo_fields,
        .output = echo_fields,
};

static const VarlinkSymbol *const framing_symbols[] = { &method_echo, NULL };

static const VarlinkInterface framing_interface = {
        .name = "io.example.Framing",
        .symbols = framing_symbols,
};

typedef struct Fixture {
        sd_event *event;
        VarlinkServer *server;
        int peer; /* our end of the socketpair */
        unsigned calls;
        unsigned disconnects;
} Fixture;

static int vl_method_echo(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata) {
        Fixture *f = userdata;

        f->calls++;
        return varlink_reply(link, parameters);
}

static void on_disconnect(VarlinkServer *server, Varlink *link, void *userdata) {
        Fixture *f = userdata;

        f->disconnects++;
}

static int fixture_setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));
        int sv[2];

        assert_non_null(f);
        assert_int_equal(sd_event_new(&f->event), 0);
        assert_int_equal(varlink_server_new(&f->server), 0);
        varlink_server_set_userdata(f->server, f);
        assert_int_equal(varlink_server_add_interface(f->server, &framing_interface), 0);
        assert_int_equal(varlink_server_bind_method(f->server, "io.example.Framing.Echo", vl_method_echo),
                         0);
        assert_int_equal(varlink_server_bind_disconnect(f->server, on_disconnect), 0);
        assert_int_equal(varlink_server_attach_event(f->server, f->event, 0), 0);
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        assert_int_equal(varlink_server_add_connection(f->server, sv[0], NULL), 0);
        assert_int_equal(varlink_server_current_connections(f->server), 1);
        f->peer = sv[1];
        *state = f;
        return 0;
}

static int fixture_teardown(void **state) {
        Fixture *f = *state;

        varlink_server_unref(f->server);
        sd_event_unref(f->event);
        close(f->peer);
        free(f);
        return 0;
}

static void run_until_idle(Fixture *f) {
        while (sd_event_run(f->event, 0) > 0)
                ;
}

static bool peer_readable(Fixture *f) {
        struct pollfd p = { .fd = f->peer, .events = POLLIN };
        return poll(&p, 1, 0) == 1;
}

static void assert_echo_reply(int fd, const char *text) {
        _cleanup_free_ char *m = test_read_message(fd);
        _cleanup_(json_object_putp) json_object *o = NULL;
        json_object *p, *t;

        assert_non_null(m);
        o = json_tokener_parse(m);
        assert_non_null(o);
        assert_true(json_object_object_get_ex(o, "parameters", &p));
        assert_true(json_object_object_get_ex(p, "text", &t));
        assert_string_equal(json_object_get_string(t), text);
}

static void test_server_split_reads(void **state) {
        Fixture *f = *state;

        /* Every byte is a separate read on the server side: we run the loop dry after each one. */
        for (size_t i = 0; i < sizeof(call_text) - 1; i++) {
                test_write_all(f->peer, call_text + i, 1);
                run_until_idle(f);
                assert_false(peer_readable(f));
        }
        assert_int_equal(f->calls, 0);
        test_write_all(f->peer, "", 1);
        run_until_idle(f);
        assert_int_equal(f->calls, 1);
        assert_echo_reply(f->peer, "h\xc3\xa9llo");
        assert_int_equal(f->disconnects, 0);
}

static void test_server_batched(void **state) {
        static const char batch[] =
                "{\"method\":\"io.example.Framing.Echo\",\"parameters\":{\"text\":\"one\"}}\0"
                "{\"method\":\"io.example.Framing.Echo\",\"parameters\":{\"text\":\"two\"}}\0"
                "{\"method\":\"io.example.Framing.Echo\",\"parameters\":{\"text\":\"three\"}}";
        Fixture *f = *state;

        test_write_all(f->peer, batch, sizeof(batch)); /* includes the final NUL */
        run_until_idle(f);
        assert_int_equal(f->calls, 3);
        assert_echo_reply(f->peer, "one");
        assert_echo_reply(f->peer, "two");
        assert_echo_reply(f->peer, "three");
}

static void assert_disconnected(Fixture *f) {
        run_until_idle(f);
        assert_int_equal(f->disconnects, 1);
        assert_int_equal(varlink_server_current_connections(f->server), 0);
        assert_int_equal(test_read_until_eof(f->peer), 0); /* closed without a reply */
}

static void test_server_oversize(void **state) {
        Fixture *f = *state;
        size_t total = 0, chunk = 256 * 1024;
        char *junk = malloc(chunk);

        assert_non_null(junk);
        memset(junk, ' ', chunk);
        junk[0] = '{';
        assert_int_equal(fcntl(f->peer, F_SETFL, O_NONBLOCK), 0);
        /* Keep sending a message that never ends until the server gives up on it. */
        while (total < 2 * (size_t) VARLINK_BUFFER_MAX) {
                ssize_t n = send(f->peer, junk, chunk, MSG_NOSIGNAL);
                if (n < 0 && errno != EAGAIN)
                        break; /* EPIPE / ECONNRESET: the server hung up */
                if (n > 0)
                        total += (size_t) n;
                run_until_idle(f);
                if (f->disconnects > 0)
                        break;
        }
        free(junk);
        assert_true(total >= VARLINK_BUFFER_MAX);
        assert_int_equal(fcntl(f->peer, F_SETFL, 0), 0);
        assert_int_equal(f->calls, 0);
        assert_disconnected(f);
}

static void test_server_invalid_json(void **state) {
        Fixture *f = *state;

        test_write_all(f->peer, "{\"method\": nope}", 17);
        assert_disconnected(f);
        assert_int_equal(f->calls, 0);
}

static void test_server_duplicate_method(void **state) {
        static const char call[] = "{\"method\":\"io.example.Framing.Nope\",\"parameters\":{\"text\":\"a\"},"
                                   "\"method\":\"io.example.Framing.Echo\"}";
        Fixture *f = *state;

        /* Neither method runs: the connection is dropped as for any malformed message. */
        test_write_all(f->peer, call, sizeof(call));
        assert_disconnected(f);
        assert_int_equal(f->calls, 0);
}

static void test_server_nul_in_method(void **state) {
        static const char call[] = "{\"method\":\"io.example.Framing.Echo\\u0000junk\","
                                   "\"parameters\":{\"text\":\"a\"}}";
        Fixture *f = *state;

        test_write_all(f->peer, call, sizeof(call));
        assert_disconnected(f);
        assert_int_equal(f->calls, 0);
}

static void test_server_bad_call_object(void **state) {
        Fixture *f = *state;

        /* valid JSON, but not a call: method is not a string */
        test_write_all(f->peer, "{\"method\":42}", 14);
        assert_disconnected(f);
        assert_int_equal(f->calls, 0);
}

static void test_server_truncated_at_eof(void **state) {
        Fixture *f = *state;
        static const char partial[] =
                "{\"method\":\"io.example.Framing.Echo\",\"parameters\":{\"text\":\"x\"}}";

        /* a complete JSON object, but the NUL never comes */
        test_write_all(f->peer, partial, sizeof(partial) - 1);
        assert_int_equal(shutdown(f->peer, SHUT_WR), 0);
        assert_disconnected(f);
        assert_int_equal(f->calls, 0);
}

static void test_server_half_close_gets_reply(void **state) {
        Fixture *f = *state;

        /* socat-style: send the call, shut down our sending side, still read the answer */
        test_write_all(f->peer, call_text, sizeof(call_text));
        assert_int_equal(shutdown(f->peer, SHUT_WR), 0);
        run_until_idle(f);
        assert_int_equal(f->calls, 1);
        assert_echo_reply(f->peer, "h\xc3\xa9llo");
        assert_int_equal(test_read_until_eof(f->peer), 0);
        assert_int_equal(f->disconnects, 1);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_input_byte_by_byte),
                cmocka_unit_test(test_input_several_in_one),
                cmocka_unit_test(test_input_raw),
                cmocka_unit_test(test_input_invalid),
                cmocka_unit_test(test_input_duplicate_key_or_nul),
                cmocka_unit_test(test_input_oversize),
                cmocka_unit_test(test_input_read_from_fd),
                cmocka_unit_test(test_input_read_pieces_no_growth),
                cmocka_unit_test(test_output_queue),
                cmocka_unit_test_setup_teardown(test_server_split_reads, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_server_batched, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_server_oversize, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_server_invalid_json, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_server_duplicate_method, fixture_setup,
                                                fixture_teardown),
                cmocka_unit_test_setup_teardown(test_server_nul_in_method, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_server_bad_call_object, fixture_setup,
                                                fixture_teardown),
                cmocka_unit_test_setup_teardown(test_server_truncated_at_eof, fixture_setup,
                                                fixture_teardown),
                cmocka_unit_test_setup_teardown(test_server_half_close_gets_reply, fixture_setup,
                                                fixture_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
