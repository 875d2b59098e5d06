/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for fd-util: O_NONBLOCK on and off, complete writes through a pipe smaller than the data. */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "fd-util.h"
#include "macro.h"

static void test_nonblock_toggle(void **state) {
        _cleanup_close_ int fd = -EBADF;

        /* O_APPEND is another status flag: it must survive both calls. */
        fd = open("/dev/null", O_WRONLY | O_APPEND | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_false(fcntl(fd, F_GETFL) & O_NONBLOCK);

        assert_int_equal(fd_nonblock(fd, true), 0);
        assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
        assert_true(fcntl(fd, F_GETFL) & O_APPEND);
        /* Setting it again is fine. */
        assert_int_equal(fd_nonblock(fd, true), 0);
        assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);

        assert_int_equal(fd_nonblock(fd, false), 0);
        assert_false(fcntl(fd, F_GETFL) & O_NONBLOCK);
        assert_true(fcntl(fd, F_GETFL) & O_APPEND);
}

static void test_nonblock_bad_fd(void **state) {
        assert_int_equal(fd_nonblock(-1, true), -EBADF);
}

#define BIG_SIZE ((size_t) 1024U * 1024U)

typedef struct Reader {
        int fd;
        uint8_t *buf;
        size_t got;
} Reader;

static void *reader_thread(void *userdata) {
        Reader *rd = userdata;

        for (;;) {
                ssize_t n = read(rd->fd, rd->buf + rd->got, BIG_SIZE + 1 - rd->got);
                if (n <= 0)
                        break;
                rd->got += (size_t) n;
        }
        return NULL;
}

/* A pipe holds 64 KiB by default, so 1 MiB takes many partial writes: all of it must arrive, in order. */
static void test_loop_write_pipe(void **state) {
        _cleanup_free_ uint8_t *data = NULL;
        Reader rd = {};
        pthread_t t;
        int p[2];

        data = malloc(BIG_SIZE);
        assert_non_null(data);
        for (size_t i = 0; i < BIG_SIZE; i++)
                data[i] = (uint8_t) (i * 7 + i / 251);
        rd.buf = calloc(1, BIG_SIZE + 1);
        assert_non_null(rd.buf);

        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        rd.fd = p[0];
        assert_int_equal(pthread_create(&t, NULL, reader_thread, &rd), 0);
        assert_int_equal(loop_write(p[1], data, BIG_SIZE), 0);
        safe_close(p[1]);
        assert_int_equal(pthread_join(t, NULL), 0);
        safe_close(p[0]);

        assert_int_equal(rd.got, BIG_SIZE);
        assert_memory_equal(rd.buf, data, BIG_SIZE);
        free(rd.buf);
}

static void test_loop_write_errors(void **state) {
        int p[2];

        assert_int_equal(loop_write(-1, "x", 1), -EBADF);
        /* Nothing to write touches nothing, not even a bad fd. */
        assert_int_equal(loop_write(-1, NULL, 0), 0);

        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        safe_close(p[0]);
        /* A write to a pipe without reader raises SIGPIPE first; ignored, the error comes back as -EPIPE. */
        signal(SIGPIPE, SIG_IGN);
        assert_int_equal(loop_write(p[1], "x", 1), -EPIPE);
        safe_close(p[1]);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_nonblock_toggle),
                cmocka_unit_test(test_nonblock_bad_fd),
                cmocka_unit_test(test_loop_write_pipe),
                cmocka_unit_test(test_loop_write_errors),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
