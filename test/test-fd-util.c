/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for fd-util: O_NONBLOCK on and off, complete writes through a pipe smaller than the data. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
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

/* Descriptors arrive with the bytes they were sent with; none, or too many, is EINVAL. */
static void test_send_with_fds(void **state) {
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * 4)];
        } control = {};
        int pair[2], pipefd[2], fds[SEND_FDS_MAX + 1];
        char text[8] = "";
        struct iovec iov = {.iov_base = text, .iov_len = sizeof(text)};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control,
                            .msg_controllen = sizeof(control.buf)};
        struct cmsghdr *c;
        int got[2];

        assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair), 0);
        assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
        assert_int_equal(send_with_fds(pair[0], "job", 3, pipefd, 2, 0), 3);
        assert_int_equal(recvmsg(pair[1], &mh, MSG_CMSG_CLOEXEC), 3);
        assert_memory_equal(text, "job", 3);
        c = CMSG_FIRSTHDR(&mh);
        assert_non_null(c);
        assert_int_equal(c->cmsg_type, SCM_RIGHTS);
        assert_int_equal(c->cmsg_len, CMSG_LEN(sizeof(int) * 2));
        memcpy(got, CMSG_DATA(c), sizeof(got));
        /* The received read end reads what the kept write end writes. */
        assert_int_equal(write(pipefd[1], "x", 1), 1);
        assert_int_equal(read(got[0], text, 1), 1);
        assert_int_equal(text[0], 'x');
        close(got[0]);
        close(got[1]);

        for (size_t i = 0; i < ELEMENTSOF(fds); i++)
                fds[i] = pipefd[0];
        assert_int_equal(send_with_fds(pair[0], "x", 1, fds, 0, 0), -1);
        assert_int_equal(errno, EINVAL);
        assert_int_equal(send_with_fds(pair[0], "x", 1, fds, SEND_FDS_MAX + 1, 0), -1);
        assert_int_equal(errno, EINVAL);
        /* A peer gone: EPIPE, no SIGPIPE (the test would die of it). */
        close(pair[1]);
        assert_int_equal(send_with_fds(pair[0], "x", 1, fds, 1, 0), -1);
        assert_int_equal(errno, EPIPE);
        close(pair[0]);
        close(pipefd[0]);
        close(pipefd[1]);
}

/* From the offset to the end, file to file (copy_file_range()) and pipe to file (by hand). */
static void test_copy_to_end(void **state) {
        char data[200 * 1024], back[sizeof(data) + 1];
        int in = open("/tmp", O_RDWR | O_TMPFILE | O_CLOEXEC, 0600),
            out = open("/tmp", O_RDWR | O_TMPFILE | O_CLOEXEC, 0600), pipefd[2];

        assert_true(in >= 0 && out >= 0);
        for (size_t i = 0; i < sizeof(data); i++)
                data[i] = (char) (i * 7);
        assert_int_equal(loop_write(in, data, sizeof(data)), 0);
        assert_int_equal(lseek(in, 100, SEEK_SET), 100);
        assert_int_equal(copy_to_end(in, out), 0);
        assert_int_equal(pread(out, back, sizeof(back), 0), sizeof(data) - 100);
        assert_memory_equal(back, data + 100, sizeof(data) - 100);

        assert_int_equal(ftruncate(out, 0), 0);
        assert_int_equal(lseek(out, 0, SEEK_SET), 0);
        assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
        assert_int_equal(loop_write(pipefd[1], data, 1000), 0);
        close(pipefd[1]);
        assert_int_equal(copy_to_end(pipefd[0], out), 0);
        assert_int_equal(pread(out, back, sizeof(back), 0), 1000);
        assert_memory_equal(back, data, 1000);
        close(pipefd[0]);

        /* A descriptor that cannot be read: an error, not a loop. */
        assert_int_equal(copy_to_end(out, -1), -EBADF);
        close(in);
        close(out);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_nonblock_toggle),
                cmocka_unit_test(test_nonblock_bad_fd),
                cmocka_unit_test(test_loop_write_pipe),
                cmocka_unit_test(test_loop_write_errors),
                cmocka_unit_test(test_send_with_fds),
                cmocka_unit_test(test_copy_to_end),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
