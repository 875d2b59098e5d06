/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Where a filtered console log reader starts: the last N lines, found reading backwards a chunk at a time. */
#include <errno.h>
#include <unistd.h>

#include "console-log.h"

/* One read per step: a log of a GiB without newlines takes many steps, but none holds the loop for long. */
#define TAIL_CHUNK_SIZE (32U * 1024U)

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
        reader->tail.active = false;
        int r = reader_skip(reader, start);
        return r < 0 ? r : 1;
}

int console_log_reader_set_filter(ConsoleLogReader *reader, const ConsoleLogFilter *filter) {
        if (!reader || !filter || reader->left[0] != reader->size[0] || reader->left[1] != reader->size[1])
                return -EINVAL;
        if (filter->lines == UINT64_MAX)
                return 0;
        reader->tail = (ConsoleLogTail) {
                .active = true,
                .skip_newline = true,
                .pos = reader_total(reader),
                .newlines = filter->lines,
        };
        if (filter->lines == 0)
                return tail_finish(reader, reader_total(reader));
        return 0;
}

int console_log_tail_step(ConsoleLogReader *reader) {
        ConsoleLogTail *t = &reader->tail;
        uint8_t buf[TAIL_CHUNK_SIZE];

        if (!reader)
                return -EINVAL;
        if (!t->active)
                return 1;
        if (t->pos == 0)
                return tail_finish(reader, 0); /* fewer lines than asked for: all of them */

        /* The chunk before pos, within the one file that holds byte pos - 1. */
        size_t i = t->pos > reader->size[0] ? 1 : 0;
        uint64_t base = i == 0 ? 0 : reader->size[0];
        size_t len = (size_t) MIN((uint64_t) TAIL_CHUNK_SIZE, t->pos - base);
        uint64_t from = t->pos - len;
        ssize_t n = pread(reader->fds[i], buf, len, (off_t) (from - base));
        if (n < 0)
                return errno == EINTR ? 0 : negative_errno();
        if ((size_t) n < len)
                /* Shorter than when it was opened: somebody truncated it. Start where we are. */
                return tail_finish(reader, t->pos);

        size_t j = len;
        if (t->skip_newline) {
                t->skip_newline = false;
                if (buf[len - 1] == '\n')
                        j--;
        }
        while (j > 0) {
                j--;
                if (buf[j] == '\n' && --t->newlines == 0)
                        return tail_finish(reader, from + j + 1);
        }
        t->pos = from;
        return 0;
}
