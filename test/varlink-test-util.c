/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Test helpers for the Varlink layer: threaded server, raw socket helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "varlink-test-util.h"

static int on_stop(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

void test_server_init(TestServer *t) {
        *t = (TestServer){};
        snprintf(t->dir, sizeof(t->dir), "/tmp/test-varlink-XXXXXX");
        assert_non_null(mkdtemp(t->dir));
        snprintf(t->path, sizeof(t->path), "%s/sock", t->dir);

        assert_int_equal(sd_event_new(&t->event), 0);
        assert_int_equal(pipe2(t->stop_pipe, O_CLOEXEC), 0);
        assert_int_equal(sd_event_add_io(t->event, &t->stop_source, t->stop_pipe[0], EPOLLIN, on_stop, NULL),
                         0);
        assert_int_equal(varlink_server_new(&t->server), 0);
        assert_int_equal(varlink_server_listen_address(t->server, t->path, 0600), 0);
        assert_int_equal(varlink_server_attach_event(t->server, t->event, 0), 0);
}

static void *loop_thread(void *p) {
        TestServer *t = p;

        (void) sd_event_loop(t->event);
        return NULL;
}

void test_server_run(TestServer *t) {
        assert_int_equal(pthread_create(&t->thread, NULL, loop_thread, t), 0);
}

void test_server_stop(TestServer *t) {
        assert_int_equal(write(t->stop_pipe[1], "x", 1), 1);
        assert_int_equal(pthread_join(t->thread, NULL), 0);
}

void test_server_done(TestServer *t) {
        t->server = varlink_server_unref(t->server);
        t->stop_source = sd_event_source_unref(t->stop_source);
        t->event = sd_event_unref(t->event);
        close(t->stop_pipe[0]);
        close(t->stop_pipe[1]);
        (void) unlink(t->path);
        (void) rmdir(t->dir);
}

int test_connect_raw(const TestServer *t) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        assert_true(strlen(t->path) < sizeof(sa.sun_path));
        memcpy(sa.sun_path, t->path, strlen(t->path));
        assert_int_equal(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        return fd;
}

void test_write_all(int fd, const void *data, size_t size) {
        const char *p = data;

        while (size > 0) {
                ssize_t n = send(fd, p, size, MSG_NOSIGNAL);
                assert_true(n > 0);
                p += n;
                size -= (size_t) n;
        }
}

static bool wait_readable(int fd) {
        struct pollfd p = { .fd = fd, .events = POLLIN };

        /* A safety net against hanging forever, not a timing assertion. */
        return poll(&p, 1, 10000) == 1;
}

char *test_read_message(int fd) {
        size_t size = 0, allocated = 256;
        char *buf = malloc(allocated);

        assert_non_null(buf);
        for (;;) {
                char c;
                ssize_t n;

                if (!wait_readable(fd))
                        fail_msg("no message within 10 s");
                n = read(fd, &c, 1);
                if (n <= 0) {
                        free(buf);
                        return NULL;
                }
                if (size + 1 >= allocated) {
                        allocated *= 2;
                        buf = realloc(buf, allocated);
                        assert_non_null(buf);
                }
                buf[size++] = c;
                if (c == '\0')
                        return buf;
        }
}

size_t test_read_until_eof(int fd) {
        size_t total = 0;

        for (;;) {
                char buf[4096];
                ssize_t n;

                if (!wait_readable(fd))
                        fail_msg("peer did not close within 10 s");
                n = read(fd, buf, sizeof(buf));
                if (n <= 0)
                        return total;
                total += (size_t) n;
        }
}
