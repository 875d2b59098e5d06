/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* File descriptor helpers: status flags and complete writes. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

/* Sets (nonblock true) or clears O_NONBLOCK on fd; leaves the other status flags alone. */
int fd_nonblock(int fd, bool nonblock);

/* Writes all of data, retrying after EINTR and short writes. */
int loop_write(int fd, const void *data, size_t size);

/* Copies what in_fd has from its offset to its end to out_fd at its offset (copy_file_range(), which
 * may share the file's blocks; read() and write() where the kernel cannot). */
int copy_to_end(int in_fd, int out_fd);

/* write() that never raises SIGPIPE on a socket (send with MSG_NOSIGNAL; plain write for other fds). */
ssize_t fd_write_nosignal(int fd, const void *data, size_t size);

/* The most descriptors send_with_fds() passes in one message. */
#define SEND_FDS_MAX 16U

/* sendmsg() of data with fds attached (SCM_RIGHTS; n_fds 1 to SEND_FDS_MAX), never raising SIGPIPE; flags
 * as send()'s (MSG_DONTWAIT). Returns what sendmsg() does, errno set; -1 with EINVAL for a bad n_fds. */
ssize_t send_with_fds(int sock, const void *data, size_t size, const int *fds, size_t n_fds, int flags);

/* Writes all of data to a peer that may be non-blocking: on EAGAIN it waits for the fd to take more, up to
 * stall_usec without progress (UINT64_MAX: for ever), then -ETIMEDOUT. Never raises SIGPIPE on a socket. */
int loop_write_wait(int fd, const void *data, size_t size, uint64_t stall_usec);

/* A filesystem AF_UNIX address for path: -EINVAL when empty, -ENAMETOOLONG when it does not fit. */
int sockaddr_un_from_path(struct sockaddr_un *ret, const char *path, socklen_t *ret_len);
/* A blocking stream connection to the unix socket at path: the fd (close-on-exec), or -errno. */
int unix_connect(const char *path);
