/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* File descriptor helpers: status flags and complete writes. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "fd-util.h"
#include "macro.h"

int fd_nonblock(int fd, bool nonblock) {
        int flags, nflags;

        flags = fcntl(fd, F_GETFL);
        if (flags < 0)
                return negative_errno();
        nflags = nonblock ? flags | O_NONBLOCK : flags & ~O_NONBLOCK;
        /* A no-op F_SETFL is skipped: fds we share with others (stdio) see no needless change. */
        if (nflags != flags && fcntl(fd, F_SETFL, nflags) < 0)
                return negative_errno();
        return 0;
}

int loop_write(int fd, const void *data, size_t size) {
        const uint8_t *p = data;

        while (size > 0) {
                ssize_t k = write(fd, p, size);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                p += k;
                size -= (size_t) k;
        }
        return 0;
}

int copy_to_end(int in_fd, int out_fd) {
        bool plain = false;

        for (;;) {
                char buf[64 * 1024];
                ssize_t n;

                if (!plain) {
                        n = copy_file_range(in_fd, NULL, out_fd, NULL, 1024 * 1024 * 1024, 0);
                        /* Not between these two file systems, or not these kinds of files: by hand. */
                        if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS ||
                                      errno == EOPNOTSUPP)) {
                                plain = true;
                                continue;
                        }
                } else {
                        n = read(in_fd, buf, sizeof(buf));
                        if (n > 0) {
                                int r = loop_write(out_fd, buf, (size_t) n);
                                if (r < 0)
                                        return r;
                        }
                }
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return 0;
        }
}

ssize_t fd_write_nosignal(int fd, const void *data, size_t size) {
        ssize_t n = send(fd, data, size, MSG_NOSIGNAL);
        if (n < 0 && errno == ENOTSOCK)
                n = write(fd, data, size);
        return n;
}

ssize_t send_with_fds(int sock, const void *data, size_t size, const int *fds, size_t n_fds, int flags) {
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * SEND_FDS_MAX)];
        } control = {};
        struct iovec iov = {.iov_base = (void *) data, .iov_len = size};
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = &control,
                .msg_controllen = CMSG_SPACE(sizeof(int) * n_fds),
        };
        struct cmsghdr *c;

        if (n_fds == 0 || n_fds > SEND_FDS_MAX) {
                errno = EINVAL;
                return -1;
        }
        c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
        return sendmsg(sock, &mh, flags | MSG_NOSIGNAL);
}

int loop_write_wait(int fd, const void *data, size_t size, uint64_t stall_usec) {
        const uint8_t *p = data;
        int timeout_ms = stall_usec == UINT64_MAX ? -1 : (int) MIN(stall_usec / 1000U, (uint64_t) INT32_MAX);

        while (size > 0) {
                ssize_t n = fd_write_nosignal(fd, p, size);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN)
                                return negative_errno();
                        struct pollfd pfd = { .fd = fd, .events = POLLOUT };
                        int k = poll(&pfd, 1, timeout_ms);
                        if (k < 0 && errno != EINTR)
                                return negative_errno();
                        if (k == 0)
                                return -ETIMEDOUT;
                        continue;
                }
                p += n;
                size -= (size_t) n;
        }
        return 0;
}

int sockaddr_un_from_path(struct sockaddr_un *ret, const char *path, socklen_t *ret_len) {
        size_t l = path ? strlen(path) : 0;

        if (l == 0)
                return -EINVAL;
        if (l >= sizeof(ret->sun_path))
                return -ENAMETOOLONG;
        *ret = (struct sockaddr_un){ .sun_family = AF_UNIX };
        memcpy(ret->sun_path, path, l);
        *ret_len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + l + 1);
        return 0;
}

int unix_connect(const char *path) {
        struct sockaddr_un sa;
        socklen_t len;
        int r = sockaddr_un_from_path(&sa, path, &len);
        if (r < 0)
                return r;
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return negative_errno();
        if (connect(fd, (struct sockaddr *) &sa, len) < 0) {
                r = negative_errno();
                safe_close(fd);
                return r;
        }
        return fd;
}
