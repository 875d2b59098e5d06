/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* File descriptor helpers: status flags and complete writes. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Sets (nonblock true) or clears O_NONBLOCK on fd; leaves the other status flags alone. */
int fd_nonblock(int fd, bool nonblock);

/* Writes all of data, retrying after EINTR and short writes. */
int loop_write(int fd, const void *data, size_t size);
