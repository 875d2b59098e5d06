/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A console log file's time index: opened to append (a torn record cut) or to read; records appended. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include "console-log-index.h"
#include "fd-util.h"
#include "macro.h"

/* Whole records only: a crash in the middle of one leaves a piece of it at the end. */
static uint64_t whole_records(const struct stat *st) {
        return (uint64_t) st->st_size - (uint64_t) st->st_size % sizeof(ConsoleLogIndexRecord);
}

int console_log_index_open(const char *path, bool truncate, int *ret_fd, uint64_t *ret_size) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        if (!path || !ret_fd || !ret_size)
                return -EINVAL;
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW |
                        (truncate ? O_TRUNC : 0),
                  0600);
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        /* The next record must start aligned. */
        uint64_t size = whole_records(&st);
        if (size != (uint64_t) st.st_size && ftruncate(fd, (off_t) size) < 0)
                return negative_errno();
        *ret_fd = TAKE_FD(fd);
        *ret_size = size;
        return 0;
}

int console_log_index_open_read(const char *path, int *ret_fd, uint64_t *ret_size) {
        struct stat st;

        if (!path || !ret_fd || !ret_size)
                return -EINVAL;
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0) {
                if (errno != ENOENT)
                        return negative_errno();
                *ret_fd = -EBADF;
                *ret_size = 0;
                return 0;
        }
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        *ret_fd = TAKE_FD(fd);
        *ret_size = whole_records(&st);
        return 0;
}

int console_log_index_append(int fd, const ConsoleLogIndexRecord *record) {
        if (fd < 0 || !record)
                return -EINVAL;
        ssize_t n = write(fd, record, sizeof(*record));
        if (n < 0)
                return negative_errno();
        /* A short write is a torn record: the next open cuts it. */
        return (size_t) n == sizeof(*record) ? 0 : -ENOSPC;
}
