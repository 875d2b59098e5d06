/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The time index of a console log file: which byte the guest printed when, for `vm logs --since`. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* <log file>.idx: fixed-size records appended next to each log file (console.log.idx, and
 * console.log.1.idx, renamed with the file it describes). A record says: the byte at `offset` of the log
 * file with inode `ino` was logged at `usec` (CLOCK_REALTIME), and every byte up to the next record's
 * offset within the second after it. The writer adds one at the first append of every second in which the
 * guest printed something (and at the first append after opening the file). Records are written with one
 * write() each and the writer cuts a torn last record on opening, so a crash costs at most that record;
 * the inode keeps records apart from a file they do not describe (a crash between the two renames of a
 * rotation, or a reader racing one). */
#define CONSOLE_LOG_INDEX_SUFFIX ".idx"

typedef struct ConsoleLogIndexRecord {
        uint64_t ino;
        uint64_t offset;
        uint64_t usec;
} ConsoleLogIndexRecord;

/* A new record at most this often: the index stays far smaller than a log written to every second. */
#define CONSOLE_LOG_INDEX_INTERVAL_USEC (1000000ULL)

/* Opens (creates 0600; truncate: emptied) the index at path for appending; cuts a torn last record. */
int console_log_index_open(const char *path, bool truncate, int *ret_fd, uint64_t *ret_size);
/* Opens the index at path for reading; a missing one is empty (fd -EBADF). *ret_size leaves out a torn last
 * record. */
int console_log_index_open_read(const char *path, int *ret_fd, uint64_t *ret_size);
/* Appends one record in one write(). */
int console_log_index_append(int fd, const ConsoleLogIndexRecord *record);
