/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* File descriptor helpers: status flags and complete writes. */
#include <fcntl.h>
#include <stdint.h>
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
