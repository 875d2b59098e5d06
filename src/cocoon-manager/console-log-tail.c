/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Where a filtered console log reader starts: the last N lines and the lines logged since a time, found
 * reading backwards (the log, its time index) a chunk at a time. */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "console-log-index.h"
#include "console-log.h"
#include "fd-util.h"

/* One read per step: a log of a GiB without newlines takes many steps, but none holds the loop for long. */
#define TAIL_CHUNK_SIZE (32U * 1024U)
#define RECORDS_PER_STEP (TAIL_CHUNK_SIZE / sizeof(ConsoleLogIndexRecord))

static uint64_t reader_total(const ConsoleLogReader *reader) {
        return reader->size[0] + reader->size[1];
}

/* Moves a reader that has not read yet forward to position `start` of its snapshot. */
static int reader_skip(ConsoleLogReader *reader, uint64_t start) {
        for (size_t i = 0; i < ELEMENTSOF(reader->fds); i++) {
                uint64_t n = MIN(start, reader->left[i]);
                if (n == 0)
                        continue;
                if (lseek(reader->fds[i], (off_t) n, SEEK_CUR) < 0)
                        return negative_errno();
                reader->left[i] -= n;
                start -= n;
        }
        return 0;
}

static int tail_finish(ConsoleLogReader *reader, uint64_t start) {
        ConsoleLogTail *t = &reader->tail;

        t->active = false;
        for (size_t i = 0; i < ELEMENTSOF(t->index_fds); i++)
                t->index_fds[i] = safe_close(t->index_fds[i]);
        int r = reader_skip(reader, start);
        return r < 0 ? r : 1;
}

/* The index of the log file path + suffix. */
static int open_index(const char *path, const char *suffix, int *ret_fd, uint64_t *ret_size) {
        _cleanup_free_ char *p = NULL;

        if (asprintf(&p, "%s%s" CONSOLE_LOG_INDEX_SUFFIX, path, suffix) < 0)
                return -ENOMEM;
        return console_log_index_open_read(p, ret_fd, ret_size);
}

/* Done with the lines, or with the time: what comes next. */
static int tail_next(ConsoleLogReader *reader) {
        ConsoleLogTail *t = &reader->tail;

        if (t->phase == TAIL_LINES && t->since_usec > 0) {
                t->phase = TAIL_TIME;
                t->since_pos = reader_total(reader); /* no record read yet: nothing is that new */
                return 0;
        }
        if (t->phase == TAIL_TIME && t->since_pos >= reader_total(reader))
                return tail_finish(reader, t->since_pos); /* nothing was logged since */
        if (t->phase == TAIL_TIME && t->since_pos > t->lines_start) {
                /* From the first byte logged since, back to the start of its line, but not before the
                 * last lines. */
                t->phase = TAIL_LINE_START;
                t->pos = t->since_pos;
                t->floor = t->lines_start;
                t->newlines = 1;
                t->skip_newline = false;
                return 0;
        }
        uint64_t start = t->phase == TAIL_TIME ? MAX(t->lines_start, t->since_pos) : t->lines_start;
        return tail_finish(reader, start);
}

int console_log_reader_set_filter(ConsoleLogReader *reader, const char *path,
                                  const ConsoleLogFilter *filter) {
        ConsoleLogTail *t;
        int r;

        if (!reader || !path || !filter || reader->left[0] != reader->size[0] ||
            reader->left[1] != reader->size[1] || reader->tail.active)
                return -EINVAL;
        if (filter->lines == UINT64_MAX && filter->since_usec == 0)
                return 0;

        t = &reader->tail;
        *t = (ConsoleLogTail) {
                .active = true,
                .phase = TAIL_LINES,
                .skip_newline = true,
                .pos = reader_total(reader),
                .newlines = filter->lines,
                .since_usec = filter->since_usec,
                .index_fds = { -EBADF, -EBADF },
        };
        if (filter->since_usec > 0) {
                /* Opened now, after the log files: records of bytes in the snapshot are all there. */
                r = open_index(path, "", &t->index_fds[0], &t->index_left[0]);
                if (r >= 0)
                        r = open_index(path, CONSOLE_LOG_OLD_SUFFIX, &t->index_fds[1], &t->index_left[1]);
                if (r < 0) {
                        tail_finish(reader, 0);
                        return r;
                }
        }
        if (filter->lines == UINT64_MAX) {
                t->lines_start = 0;
                return tail_next(reader);
        }
        if (filter->lines == 0) {
                t->lines_start = reader_total(reader);
                return tail_next(reader);
        }
        return 0;
}

/* Counting newlines back from pos, down to floor: one chunk. */
static int tail_step_newlines(ConsoleLogReader *reader, uint64_t *ret_start) {
        ConsoleLogTail *t = &reader->tail;
        uint8_t buf[TAIL_CHUNK_SIZE];

        if (t->pos <= t->floor) {
                *ret_start = t->floor; /* fewer lines than asked for: all of them */
                return 1;
        }
        /* The chunk before pos, within the one file that holds byte pos - 1. */
        size_t i = t->pos > reader->size[0] ? 1 : 0;
        uint64_t base = i == 0 ? 0 : reader->size[0];
        uint64_t low = MAX(base, t->floor);
        size_t len = (size_t) MIN((uint64_t) TAIL_CHUNK_SIZE, t->pos - low);
        uint64_t from = t->pos - len;
        ssize_t n = pread(reader->fds[i], buf, len, (off_t) (from - base));
        if (n < 0)
                return errno == EINTR ? 0 : negative_errno();
        if ((size_t) n < len) {
                /* Shorter than when it was opened: somebody truncated it. Start where we are. */
                *ret_start = t->pos;
                return 1;
        }

        size_t j = len;
        if (t->skip_newline) {
                t->skip_newline = false;
                if (buf[len - 1] == '\n')
                        j--;
        }
        while (j > 0) {
                j--;
                if (buf[j] == '\n' && --t->newlines == 0) {
                        *ret_start = from + j + 1;
                        return 1;
                }
        }
        t->pos = from;
        return 0;
}

/* Where the record's byte is in the snapshot; false for a record of no file of it. */
static bool record_position(const ConsoleLogReader *reader, const ConsoleLogIndexRecord *record,
                            uint64_t *ret) {
        for (size_t i = 0; i < ELEMENTSOF(reader->fds); i++)
                if (reader->fds[i] >= 0 && record->ino == reader->ino[i] &&
                    record->offset <= reader->size[i]) {
                        *ret = (i == 0 ? 0 : reader->size[0]) + record->offset;
                        return true;
                }
        return false;
}

/* Reading the index back, newest record first: one chunk. The first record whose second ended by
 * since_usec marks the end of what is older; the record after it (since_pos) begins what is newer. */
static int tail_step_time(ConsoleLogReader *reader) {
        ConsoleLogTail *t = &reader->tail;
        ConsoleLogIndexRecord records[RECORDS_PER_STEP];

        for (size_t k = 0; k < ELEMENTSOF(t->index_fds); k++) {
                if (t->index_left[k] == 0)
                        continue;
                size_t n = (size_t) MIN((uint64_t) RECORDS_PER_STEP, t->index_left[k] / sizeof(records[0]));
                uint64_t from = t->index_left[k] - n * sizeof(records[0]);
                ssize_t got = pread(t->index_fds[k], records, n * sizeof(records[0]), (off_t) from);
                if (got < 0)
                        return errno == EINTR ? 0 : negative_errno();
                if ((size_t) got < n * sizeof(records[0])) {
                        t->index_left[k] = 0; /* truncated meanwhile: what is left is gone */
                        return 0;
                }
                for (size_t j = n; j > 0; j--) {
                        uint64_t pos;
                        if (!record_position(reader, &records[j - 1], &pos))
                                continue;
                        if (records[j - 1].usec + CONSOLE_LOG_INDEX_INTERVAL_USEC <= t->since_usec)
                                return 1;
                        t->since_pos = MIN(t->since_pos, pos);
                }
                t->index_left[k] = from;
                return 0;
        }
        /* Every record is newer: what comes before the oldest one counts as older. */
        return 1;
}

int console_log_tail_step(ConsoleLogReader *reader) {
        ConsoleLogTail *t;
        uint64_t start;
        int r;

        if (!reader)
                return -EINVAL;
        t = &reader->tail;
        if (!t->active)
                return 1;

        switch (t->phase) {
        case TAIL_LINES:
                r = tail_step_newlines(reader, &start);
                if (r <= 0)
                        return r;
                t->lines_start = start;
                return tail_next(reader);
        case TAIL_TIME:
                r = tail_step_time(reader);
                if (r <= 0)
                        return r;
                return tail_next(reader);
        case TAIL_LINE_START:
                r = tail_step_newlines(reader, &start);
                if (r <= 0)
                        return r;
                return tail_finish(reader, MAX(start, t->lines_start));
        }
        return -EINVAL;
}
