/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for the console relay and its log: fan-out, input, read-only clients, rotation, slow clients, EOF,
 * replay, the log sent to `vm logs` readers. Real sockets and a real sd-event loop; the test plays the hypervisor and the clients. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <systemd/sd-event.h>

#include <cmocka.h>

#include "../src/cocoon-manager/console-relay.h"
#include "fs-util.h"
#include "macro.h"

typedef struct Fixture {
        char dir[64];
        char log_path[128];
        char old_path[128];
        sd_event *event;
        int console; /* the test's end of the console socket: it plays the hypervisor */
        ConsoleRelay *relay;
        unsigned ends;
        bool free_in_callback;
} Fixture;

static void make_pair(int *ret_relay_side, int *ret_test_side) {
        int fds[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
        assert_int_equal(fcntl(fds[1], F_SETFL, O_NONBLOCK), 0);
        *ret_relay_side = fds[0];
        *ret_test_side = fds[1];
}

static void on_end(ConsoleRelay *relay, void *userdata) {
        Fixture *f = userdata;
        assert_ptr_equal(relay, f->relay);
        f->ends++;
        if (f->free_in_callback)
                f->relay = console_relay_free(f->relay);
}

static void start_relay(Fixture *f, uint64_t max) {
        int relay_side;
        make_pair(&relay_side, &f->console);
        assert_int_equal(console_relay_new(f->event, "testvm", relay_side, f->log_path, max, &f->relay), 0);
        console_relay_set_end_callback(f->relay, on_end, f);
}

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));
        assert_non_null(f);
        strcpy(f->dir, "/tmp/test-console-relay-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->log_path, sizeof(f->log_path), "%s/console.log", f->dir);
        snprintf(f->old_path, sizeof(f->old_path), "%s/console.log.1", f->dir);
        assert_int_equal(sd_event_new(&f->event), 0);
        f->console = -EBADF;
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        console_relay_free(f->relay);
        safe_close(f->console);
        sd_event_unref(f->event);
        assert_int_equal(rm_rf(f->dir), 0);
        free(f);
        return 0;
}

/* Dispatches until nothing is ready. Socket pairs deliver at once, so this settles deterministically. */
static void run_idle(Fixture *f) {
        for (unsigned i = 0; i < 100000; i++) {
                int r = sd_event_run(f->event, 0);
                assert_true(r >= 0);
                if (r == 0)
                        return;
        }
        fail_msg("event loop never became idle");
}

static void write_all(Fixture *f, int fd, const void *data, size_t size) {
        const uint8_t *p = data;
        while (size > 0) {
                ssize_t n = write(fd, p, size);
                if (n < 0) {
                        assert_int_equal(errno, EAGAIN);
                        run_idle(f);
                        continue;
                }
                p += n;
                size -= (size_t) n;
        }
}

/* Reads what is there now (after letting the loop run). Returns the count; *ret_eof when the peer closed. */
static size_t read_now(Fixture *f, int fd, void *buf, size_t size, bool *ret_eof) {
        size_t got = 0;
        bool eof = false;

        run_idle(f);
        while (got < size) {
                ssize_t n = read(fd, (uint8_t *) buf + got, size - got);
                if (n < 0) {
                        assert_int_equal(errno, EAGAIN);
                        break;
                }
                if (n == 0) {
                        eof = true;
                        break;
                }
                got += (size_t) n;
        }
        if (ret_eof)
                *ret_eof = eof;
        return got;
}

static void expect_read(Fixture *f, int fd, const char *expected) {
        char buf[4096] = {};
        size_t got = read_now(f, fd, buf, sizeof(buf) - 1, NULL);
        assert_int_equal(got, strlen(expected));
        assert_memory_equal(buf, expected, got);
}

static void expect_file(const char *path, const void *expected, size_t size) {
        _cleanup_free_ char *data = NULL;
        size_t got;
        assert_int_equal(read_full_file(path, &data, &got), 0);
        assert_int_equal(got, size);
        assert_memory_equal(data, expected, size);
}

static int attach(Fixture *f, bool read_only, bool replay) {
        int relay_side, test_side;
        make_pair(&relay_side, &test_side);
        if (replay)
                assert_int_equal(console_relay_attach_replay(f->relay, relay_side, read_only, NULL), 0);
        else
                assert_int_equal(console_relay_attach(f->relay, relay_side, read_only), 0);
        return test_side;
}

static void test_output_reaches_log_and_clients(void **state) {
        Fixture *f = *state;
        start_relay(f, 0);
        _cleanup_close_ int a = attach(f, false, false), b = attach(f, true, false);
        assert_int_equal(console_relay_n_clients(f->relay), 2U);

        write_all(f, f->console, "guest# \x1b[6n", 11);
        expect_read(f, a, "guest# \x1b[6n");
        expect_read(f, b, "guest# \x1b[6n");
        write_all(f, f->console, "hello\r\n", 7);
        expect_read(f, a, "hello\r\n");
        expect_read(f, b, "hello\r\n");
        expect_file(f->log_path, "guest# \x1b[6nhello\r\n", 18);

        struct stat st;
        assert_int_equal(stat(f->log_path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
}

static void test_input_and_read_only(void **state) {
        Fixture *f = *state;
        start_relay(f, 0);
        _cleanup_close_ int rw = attach(f, false, false), ro = attach(f, true, false);

        write_all(f, ro, "dropped", 7);
        run_idle(f);
        write_all(f, rw, "echo hi\n", 8);
        expect_read(f, f->console, "echo hi\n");
        write_all(f, ro, "also dropped", 12);
        run_idle(f);
        expect_read(f, f->console, "");
        /* Input is not echoed to other clients: only the guest's own echo would be. */
        expect_read(f, ro, "");
        assert_int_equal(console_relay_n_clients(f->relay), 2U);
}

static void fill_pattern(uint8_t *buf, size_t size, size_t offset) {
        for (size_t i = 0; i < size; i++)
                buf[i] = (uint8_t) ('a' + (offset + i) % 26);
}

static void test_log_rotation(void **state) {
        Fixture *f = *state;
        uint8_t data[250];
        struct stat st;

        fill_pattern(data, sizeof(data), 0);
        start_relay(f, 100);
        for (size_t i = 0; i < sizeof(data); i += 25) {
                write_all(f, f->console, data + i, 25);
                run_idle(f);
        }
        /* The newest bytes survive: 100..199 in the rotated file, 200..249 in the current one. */
        expect_file(f->old_path, data + 100, 100);
        expect_file(f->log_path, data + 200, 50);

        /* A new relay on the same log (a VM started again) appends, and rotates at the same cap. */
        f->relay = console_relay_free(f->relay);
        f->console = safe_close(f->console);
        start_relay(f, 100);
        uint8_t more[80];
        fill_pattern(more, sizeof(more), 250);
        write_all(f, f->console, more, sizeof(more));
        run_idle(f);
        /* 50 bytes filled the current file (200..299), which rotated; 300..329 start the next one. */
        fill_pattern(data, 100, 200);
        expect_file(f->old_path, data, 100);
        expect_file(f->log_path, more + 50, 30);
        assert_int_equal(stat(f->log_path, &st), 0);
        assert_int_equal(st.st_size, 30);
}

static void test_log_rotation_one_big_chunk(void **state) {
        Fixture *f = *state;
        uint8_t data[250];

        fill_pattern(data, sizeof(data), 0);
        start_relay(f, 100);
        write_all(f, f->console, data, sizeof(data));
        run_idle(f);
        expect_file(f->old_path, data + 100, 100);
        expect_file(f->log_path, data + 200, 50);
}

static void test_slow_client_dropped(void **state) {
        Fixture *f = *state;
        _cleanup_free_ uint8_t *chunk = malloc(64 * 1024), *sink = malloc(256 * 1024);
        size_t sent = 0, received = 0;
        bool eof = false;

        assert_non_null(chunk);
        assert_non_null(sink);
        start_relay(f, 0);
        _cleanup_close_ int stuck = attach(f, false, false), reader = attach(f, true, false);

        /* The stuck client never reads; the relay must keep serving the log and the other client. */
        for (unsigned i = 0; i < 1024 && console_relay_n_clients(f->relay) == 2; i++) {
                fill_pattern(chunk, 64 * 1024, sent);
                write_all(f, f->console, chunk, 64 * 1024);
                sent += 64 * 1024;
                received += read_now(f, reader, sink, 256 * 1024, NULL);
        }
        assert_int_equal(console_relay_n_clients(f->relay), 1U);
        assert_true(sent > CONSOLE_CLIENT_BUFFER_MAX);
        while (received < sent) {
                size_t n = read_now(f, reader, sink, 256 * 1024, &eof);
                assert_false(eof);
                assert_true(n > 0);
                received += n;
        }
        assert_int_equal(received, sent);

        /* The stuck client was closed: after what its socket held, it sees EOF. */
        size_t stuck_got = 0;
        for (unsigned i = 0; i < 1024 && !eof; i++)
                stuck_got += read_now(f, stuck, sink, 256 * 1024, &eof);
        assert_true(eof);
        assert_true(stuck_got < sent);

        struct stat st;
        assert_int_equal(stat(f->log_path, &st), 0);
        assert_int_equal((size_t) st.st_size, sent);
}

static void test_client_eof_detaches_only_it(void **state) {
        Fixture *f = *state;
        start_relay(f, 0);
        int a = attach(f, false, false);
        _cleanup_close_ int b = attach(f, false, false);

        safe_close(a);
        run_idle(f);
        assert_int_equal(console_relay_n_clients(f->relay), 1U);
        write_all(f, f->console, "still here", 10);
        expect_read(f, b, "still here");
        assert_int_equal(f->ends, 0U);
}

static void test_console_eof(void **state) {
        Fixture *f = *state;
        char buf[64];
        bool eof = false;

        start_relay(f, 0);
        f->free_in_callback = true;
        _cleanup_close_ int a = attach(f, false, false), b = attach(f, true, true);

        write_all(f, f->console, "Power down\r\n", 12);
        f->console = safe_close(f->console);
        run_idle(f);
        assert_int_equal(f->ends, 1U);
        assert_null(f->relay); /* freed from inside the callback */

        /* The last output still arrives, then EOF. */
        assert_int_equal(read_now(f, a, buf, sizeof(buf), &eof), 12U);
        assert_true(eof);
        assert_int_equal(read_now(f, b, buf, sizeof(buf), &eof), 12U);
        assert_true(eof);
}

static void test_attach_replay(void **state) {
        Fixture *f = *state;
        start_relay(f, 8);
        _cleanup_close_ int live = attach(f, true, false);

        write_all(f, f->console, "0123456789", 10);
        run_idle(f);
        expect_read(f, live, "0123456789");

        /* Attached between two outputs: the log (both files) first, then live output, nothing twice. */
        _cleanup_close_ int late = attach(f, false, true);
        write_all(f, f->console, "abc", 3);
        expect_read(f, late, "0123456789abc");
        expect_read(f, live, "abc");

        /* Rotations while the late client catches up do not lose or repeat anything either. */
        _cleanup_close_ int later = attach(f, true, true);
        write_all(f, f->console, "DEFGHIJKLMNOPQRS", 16);
        expect_read(f, later, "0123456789abcDEFGHIJKLMNOPQRS");
        expect_read(f, late, "DEFGHIJKLMNOPQRS");
}

static void test_input_backpressure(void **state) {
        Fixture *f = *state;
        _cleanup_free_ uint8_t *chunk = malloc(16 * 1024), *sink = malloc(1024 * 1024);
        size_t sent = 0, received = 0, total = 2 * 1024 * 1024;

        assert_non_null(chunk);
        assert_non_null(sink);
        start_relay(f, 0);
        _cleanup_close_ int c = attach(f, false, false);

        /* The guest does not read for a while: input waits, nothing is dropped, the client just blocks. */
        while (sent < total) {
                fill_pattern(chunk, 16 * 1024, sent);
                ssize_t n = write(c, chunk, 16 * 1024);
                if (n < 0) {
                        assert_int_equal(errno, EAGAIN);
                        break;
                }
                sent += (size_t) n;
                run_idle(f);
        }
        assert_true(sent < total);
        assert_int_equal(console_relay_n_clients(f->relay), 1U);

        while (received < sent) {
                size_t n = read_now(f, f->console, sink + received, 1024 * 1024 - received, NULL);
                assert_true(n > 0);
                received += n;
        }
        assert_int_equal(received, sent);
        uint8_t *expected = malloc(sent);
        assert_non_null(expected);
        fill_pattern(expected, sent, 0);
        assert_memory_equal(sink, expected, sent);
        free(expected);
}

typedef struct StreamResult {
        unsigned calls;
        int error;
        ConsoleLogStream **stream; /* freed in the callback, as the manager does */
} StreamResult;

static void on_stream_done(ConsoleLogStream *s, int error, void *userdata) {
        StreamResult *res = userdata;
        res->calls++;
        res->error = error;
        *res->stream = console_log_stream_free(s);
}

/* A replay of the last lines: the relay's client and a `vm logs -n` stream get the same tail. */
static void test_replay_lines(void **state) {
        Fixture *f = *state;
        ConsoleLogFilter last2 = { .lines = 2 };
        ConsoleLogStream *s = NULL;
        StreamResult res = { .stream = &s };
        int relay_side, test_side;
        char buf[64] = {};
        bool eof;

        start_relay(f, 0);
        write_all(f, f->console, "boot\nline2\nlogin: ", 18);
        run_idle(f);

        make_pair(&relay_side, &test_side);
        assert_int_equal(console_relay_attach_replay(f->relay, relay_side, true, &last2), 0);
        write_all(f, f->console, "root", 4);
        expect_read(f, test_side, "line2\nlogin: root");
        safe_close(test_side);

        make_pair(&relay_side, &test_side);
        assert_int_equal(console_log_stream_new(f->event, f->log_path, &last2, relay_side, UINT64_MAX,
                                                on_stream_done, &res, &s),
                         0);
        assert_int_equal(read_now(f, test_side, buf, sizeof(buf), &eof), 17U);
        assert_true(eof);
        assert_string_equal(buf, "line2\nlogin: root");
        assert_int_equal(res.error, 0);
        safe_close(test_side);
}

/* `echo cmd | vm console --replay`: the client half-closes at once, and still gets the whole replay, then
 * the end; a client gone both ways is dropped. */
static void test_replay_half_close(void **state) {
        Fixture *f = *state;
        ConsoleLogFilter last1 = { .lines = 1 };
        _cleanup_free_ char *big = malloc(600 * 1024);
        char *buf = malloc(700 * 1024);
        size_t got = 0;
        int relay_side, test_side;
        bool eof = false;

        assert_non_null(big);
        assert_non_null(buf);
        start_relay(f, 0);
        /* One line far bigger than the socket buffers: it takes many writes. */
        memset(big, 'x', 600 * 1024);
        big[600 * 1024 - 1] = '\n';
        write_all(f, f->console, "old\n", 4);
        write_all(f, f->console, big, 600 * 1024);
        run_idle(f);

        make_pair(&relay_side, &test_side);
        assert_int_equal(console_relay_attach_replay(f->relay, relay_side, false, &last1), 0);
        assert_int_equal(shutdown(test_side, SHUT_WR), 0);
        while (!eof) {
                size_t n = read_now(f, test_side, buf + got, 700 * 1024 - got, &eof);
                got += n;
                assert_true(n > 0 || eof);
        }
        assert_int_equal(got, 600 * 1024);
        assert_memory_equal(buf, big, got);
        assert_int_equal(console_relay_n_clients(f->relay), 0U);
        safe_close(test_side);

        make_pair(&relay_side, &test_side);
        assert_int_equal(console_relay_attach_replay(f->relay, relay_side, false, &last1), 0);
        assert_int_equal(shutdown(test_side, SHUT_WR), 0);
        safe_close(test_side);
        run_idle(f);
        assert_int_equal(console_relay_n_clients(f->relay), 0U);
        free(buf);
}

/* `vm logs` from the loop: a missing log is empty, a present one arrives whole, then the connection closes. */
static void test_log_stream(void **state) {
        Fixture *f = *state;
        ConsoleLogStream *s = NULL;
        StreamResult res = { .stream = &s };
        int stream_side, test_side;
        char buf[64] = {};
        bool eof;

        make_pair(&stream_side, &test_side);
        assert_int_equal(console_log_stream_new(f->event, f->log_path, NULL, stream_side, UINT64_MAX,
                                                on_stream_done, &res, &s),
                         0);
        assert_int_equal(read_now(f, test_side, buf, sizeof(buf), &eof), 0);
        assert_true(eof);
        assert_int_equal(res.calls, 1U);
        assert_int_equal(res.error, 0);
        assert_null(s);
        safe_close(test_side);

        start_relay(f, 8);
        write_all(f, f->console, "0123456789ab", 12);
        run_idle(f);
        make_pair(&stream_side, &test_side);
        res = (StreamResult) { .stream = &s };
        assert_int_equal(console_log_stream_new(f->event, f->log_path, NULL, stream_side, UINT64_MAX,
                                                on_stream_done, &res, &s),
                         0);
        /* Printed after the snapshot was taken: not part of it. */
        write_all(f, f->console, "cd", 2);
        assert_int_equal(read_now(f, test_side, buf, sizeof(buf), &eof), 12);
        assert_true(eof);
        assert_string_equal(buf, "0123456789ab");
        assert_int_equal(res.error, 0);
        safe_close(test_side);
}

/* A reader that takes nothing never blocks the loop (run_idle() returns: the stream waits for its socket),
 * gets everything once it reads, and one that never reads is given up after the stall time. */
static void test_log_stream_slow_reader(void **state) {
        Fixture *f = *state;
        const size_t size = 4 * 1024 * 1024;
        ConsoleLogStream *s = NULL;
        StreamResult res = { .stream = &s };
        int stream_side, test_side;
        bool eof = false;

        uint8_t *data = malloc(size), *got = malloc(size + 1); /* + 1: room to see the EOF */
        assert_non_null(data);
        assert_non_null(got);
        fill_pattern(data, size, 7);
        int fd = open(f->log_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, size), (ssize_t) size);
        safe_close(fd);

        make_pair(&stream_side, &test_side);
        assert_int_equal(console_log_stream_new(f->event, f->log_path, NULL, stream_side, UINT64_MAX,
                                                on_stream_done, &res, &s),
                         0);
        run_idle(f);
        assert_int_equal(res.calls, 0U);
        assert_true(console_log_stream_sent(s) < size);

        size_t n = 0;
        while (!eof) {
                n += read_now(f, test_side, got + n, size + 1 - n, &eof);
                assert_true(n <= size);
        }
        assert_int_equal(n, size);
        assert_memory_equal(got, data, size);
        assert_int_equal(res.calls, 1U);
        assert_int_equal(res.error, 0);
        safe_close(test_side);

        make_pair(&stream_side, &test_side);
        res = (StreamResult) { .stream = &s };
        assert_int_equal(console_log_stream_new(f->event, f->log_path, NULL, stream_side, 50 * 1000,
                                                on_stream_done, &res, &s),
                         0);
        while (res.calls == 0)
                assert_true(sd_event_run(f->event, 5 * 1000 * 1000) > 0);
        assert_int_equal(res.error, -ETIMEDOUT);
        char c;
        while (read(test_side, &c, 1) > 0)
                ;
        assert_int_equal(read(test_side, &c, 1), 0); /* closed */
        safe_close(test_side);
        free(data);
        free(got);
}

static void test_attach_after_end(void **state) {
        Fixture *f = *state;
        int relay_side, test_side;

        start_relay(f, 0);
        f->console = safe_close(f->console);
        run_idle(f);
        assert_int_equal(f->ends, 1U);
        make_pair(&relay_side, &test_side);
        assert_int_equal(console_relay_attach(f->relay, relay_side, false), -ESHUTDOWN);
        /* The fd was taken over (closed): the test's end sees EOF. */
        char c;
        assert_int_equal(read(test_side, &c, 1), 0);
        safe_close(test_side);
}

/* The hypervisor's spool: what it printed while no relay ran is logged first, then output is taken from the
 * spool only (the console socket's copy is not logged twice), consumed bytes are punched out, a new relay
 * (the manager restarted) goes on where the last one stopped, and the last words before the end count. */
static void append_spool(const char *path, const char *text) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
}

static void test_spool(void **state) {
        Fixture *f = *state;
        char spool[160], buf[64];

        snprintf(spool, sizeof(spool), "%s/console.spool", f->dir);
        append_spool(spool, "before\n");
        start_relay(f, 0);
        assert_int_equal(console_relay_set_spool(f->relay, spool), 0);
        run_idle(f);
        expect_file(f->log_path, "before\n", 7);

        int client = attach(f, false, false);
        /* As QEMU does: the pty gets the bytes, then the spool. */
        write_all(f, f->console, "one\n", 4);
        append_spool(spool, "one\n");
        expect_read(f, client, "one\n");
        expect_file(f->log_path, "before\none\n", 11);
        /* What was taken is given back: the spool reads as NULs up to there. */
        _cleanup_close_ int sfd = open(spool, O_RDONLY | O_CLOEXEC);
        assert_true(sfd >= 0);
        assert_int_equal(pread(sfd, buf, sizeof(buf), 0), 11);
        for (size_t i = 0; i < 11; i++)
                assert_int_equal(buf[i], 0);

        /* The manager goes away; the guest goes on printing; a new manager picks up exactly there. */
        f->relay = console_relay_free(f->relay);
        safe_close(client);
        safe_close(f->console);
        append_spool(spool, "while away\n");
        start_relay(f, 0);
        assert_int_equal(console_relay_set_spool(f->relay, spool), 0);
        run_idle(f);
        expect_file(f->log_path, "before\none\nwhile away\n", 22);

        /* The last output lands in the spool right before the hypervisor exits. */
        append_spool(spool, "last\n");
        f->console = safe_close(f->console);
        run_idle(f);
        assert_int_equal(f->ends, 1);
        expect_file(f->log_path, "before\none\nwhile away\nlast\n", 27);

        assert_int_equal(console_relay_set_spool(f->relay, spool), -EINVAL); /* one spool per relay */
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_output_reaches_log_and_clients, setup, teardown),
                cmocka_unit_test_setup_teardown(test_input_and_read_only, setup, teardown),
                cmocka_unit_test_setup_teardown(test_log_rotation, setup, teardown),
                cmocka_unit_test_setup_teardown(test_log_rotation_one_big_chunk, setup, teardown),
                cmocka_unit_test_setup_teardown(test_slow_client_dropped, setup, teardown),
                cmocka_unit_test_setup_teardown(test_client_eof_detaches_only_it, setup, teardown),
                cmocka_unit_test_setup_teardown(test_console_eof, setup, teardown),
                cmocka_unit_test_setup_teardown(test_attach_replay, setup, teardown),
                cmocka_unit_test_setup_teardown(test_input_backpressure, setup, teardown),
                cmocka_unit_test_setup_teardown(test_replay_lines, setup, teardown),
                cmocka_unit_test_setup_teardown(test_replay_half_close, setup, teardown),
                cmocka_unit_test_setup_teardown(test_log_stream, setup, teardown),
                cmocka_unit_test_setup_teardown(test_log_stream_slow_reader, setup, teardown),
                cmocka_unit_test_setup_teardown(test_spool, setup, teardown),
                cmocka_unit_test_setup_teardown(test_attach_after_end, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
