/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The console log of a VM: size-capped appends with one rotated generation (<path>.1); reading it back. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "macro.h"

#define CONSOLE_LOG_OLD_SUFFIX ".1"

/* The writing side. The current file is filled up to max_size bytes exactly; the next byte first renames it
 * to <path>.1 (replacing an older one) and starts a new file: the newest bytes are kept, and between
 * max_size and 2 * max_size bytes are on disk once the first rotation happened. Each file has a time index
 * next to it (console-log-index.h), renamed with it; an index that would grow past index_max rotates the
 * log early instead, so that the time of every byte stays known. */
typedef struct ConsoleLog {
        char *path;     /* NULL: no log, appends are no-ops */
        char *path_old; /* <path>.1 */
        int fd;         /* -EBADF until opened, and after a failed write (the next append reopens) */
        uint64_t size;  /* bytes in the current file */
        uint64_t max_size;
        uint64_t ino;   /* of the current file, named in its index records */
        char *index_path, *index_path_old;
        int index_fd;   /* -EBADF: no index for the current file (it could not be written) */
        uint64_t index_size, index_max;
        uint64_t index_last_usec; /* of the current file's last record; 0: none since it was opened */
} ConsoleLog;

/* path may be NULL (no log). max_size 0 means no cap. Does not open the file yet. */
int console_log_init(ConsoleLog *log, const char *path, uint64_t max_size);
void console_log_done(ConsoleLog *log);
/* Opens (creates 0600) the current file if it is not open; an existing file is appended to. */
int console_log_open(ConsoleLog *log);
/* Appends all of data, rotating as needed. On failure the file is closed (the next call reopens it) and
 * some of data may be lost. */
int console_log_append(ConsoleLog *log, const void *data, size_t size);
/* The same, logged at usec (CLOCK_REALTIME) instead of now. */
int console_log_append_at(ConsoleLog *log, const void *data, size_t size, uint64_t usec);

/* Which part of the log a reader returns: the lines logged since `since_usec` (CLOCK_REALTIME; 0: all), the
 * last `lines` of those (UINT64_MAX: all of them). A last line without its newline (a prompt) counts as a
 * line; a line begun before since_usec and ended after it counts as logged since. Times come from the
 * index, to the second: up to a second more may show. Bytes no index record covers (logged before the
 * index existed, or while it could not be written) count as logged before the record that follows them. */
typedef struct ConsoleLogFilter {
        uint64_t lines;
        uint64_t since_usec;
} ConsoleLogFilter;

#define CONSOLE_LOG_FILTER_ALL ((ConsoleLogFilter) { .lines = UINT64_MAX })

/* Finding where a filtered reader starts, a bounded read at a time (console-log-tail.c). Positions are
 * offsets into the snapshot: <path>.1, then <path>. */
typedef enum ConsoleLogTailPhase {
        TAIL_LINES,      /* counting newlines back from the end */
        TAIL_TIME,       /* reading the index back from the newest record */
        TAIL_LINE_START, /* back from the first byte logged since, to the start of its line */
} ConsoleLogTailPhase;

typedef struct ConsoleLogTail {
        bool active;       /* still searching; reads return -EAGAIN meanwhile */
        ConsoleLogTailPhase phase;
        bool skip_newline; /* a newline as the snapshot's last byte ends the last line, it starts none */
        uint64_t pos;      /* the backward scan looks at the bytes before this position */
        uint64_t floor;    /* ... down to this one */
        uint64_t newlines; /* newlines still to pass */
        uint64_t lines_start; /* where the last `lines` lines start */
        uint64_t since_usec;
        int index_fds[2];     /* the current file's index, the old one's: the order they are read in */
        uint64_t index_left[2]; /* bytes of each not read yet, read from the end */
        uint64_t since_pos;   /* the oldest record read so far that is not older than since_usec */
} ConsoleLogTail;

#define CONSOLE_LOG_TAIL_INIT ((ConsoleLogTail) { .index_fds = { -EBADF, -EBADF } })

/* The reading side: the log as it was when the reader was opened, <path>.1 first, then <path>. Bytes
 * appended later are not returned, so a reader can be combined with a live stream without overlap. */
typedef struct ConsoleLogReader {
        int fds[2];       /* old, current; -EBADF when that file does not exist */
        uint64_t size[2]; /* of each when the reader was opened */
        uint64_t ino[2];  /* of each: their index records name them */
        uint64_t left[2]; /* bytes still to read from each */
        size_t index;     /* the file being read */
        ConsoleLogTail tail;
} ConsoleLogReader;

#define CONSOLE_LOG_READER_INIT \
        ((ConsoleLogReader) { .fds = { -EBADF, -EBADF }, .tail.index_fds = { -EBADF, -EBADF } })

/* Missing files count as empty. Safe against a concurrent rotation by the writer. */
int console_log_reader_open(const char *path, ConsoleLogReader *ret);
/* Restricts a reader that has not read yet to the part of its snapshot the filter selects (path: the log's,
 * for its time index, opened now: after the log files, so it has the records of every byte they hold).
 * Finding where that starts takes bounded reads, one per call of console_log_reader_read(): no call blocks
 * for long on a big log. */
int console_log_reader_set_filter(ConsoleLogReader *reader, const char *path,
                                  const ConsoleLogFilter *filter);
/* Returns the number of bytes read (> 0), 0 at the end, -EAGAIN while a filter is still looking for its
 * start (call again), or another -errno. */
ssize_t console_log_reader_read(ConsoleLogReader *reader, void *buf, size_t size);
/* One bounded step of the filter's search (console-log-tail.c). 1: the reader is positioned, 0: call
 * again, < 0: failed. */
int console_log_tail_step(ConsoleLogReader *reader);
void console_log_reader_done(ConsoleLogReader *reader);

/* Sends the log as it is now (<path>.1, then <path>) to a client socket, from the event loop: the file is
 * read a chunk at a time when the socket takes bytes, so a slow client never blocks the loop or holds a
 * thread. */
typedef struct ConsoleLogStream ConsoleLogStream;

/* Called once: error 0 when everything was sent, -ETIMEDOUT when the client took no byte for the stall
 * time, another -errno on failure. The stream may be freed from inside (freeing closes the client's fd,
 * which tells it the log is complete). */
typedef void (*ConsoleLogStreamDone)(ConsoleLogStream *s, int error, void *userdata);

/* A client that takes no byte for this long is given up. */
#define CONSOLE_LOG_STREAM_STALL_USEC (30ULL * 1000000ULL)

/* Takes fd over in all cases (made non-blocking). stall_usec UINT64_MAX: wait for the client forever.
 * filter NULL: the whole log. */
int console_log_stream_new(sd_event *event, const char *path, const ConsoleLogFilter *filter, int fd,
                           uint64_t stall_usec, ConsoleLogStreamDone done, void *userdata,
                           ConsoleLogStream **ret);
ConsoleLogStream *console_log_stream_free(ConsoleLogStream *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(ConsoleLogStream *, console_log_stream_free);
/* Bytes the client's socket took so far. */
uint64_t console_log_stream_sent(const ConsoleLogStream *s);
