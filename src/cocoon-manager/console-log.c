/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The console log of a VM: size-capped appends with one rotated generation, and reading it back. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <time.h>

#include "console-log-index.h"
#include "console-log.h"
#include "fd-util.h"
#include "time-util.h"

#define CONSOLE_LOG_READ_SIZE (64U * 1024U)
/* The index of a file may take a quarter of the file's cap (a record per second with output: at the
 * default 1M, three hours of a guest printing every second), at least 64 records, at most 64 MiB. */
#define INDEX_MAX_MIN (64U * sizeof(ConsoleLogIndexRecord))
#define INDEX_MAX_MAX (64ULL * 1024ULL * 1024ULL)

static int verify_regular(const struct stat *st) {
        if (S_ISREG(st->st_mode))
                return 0;
        return S_ISDIR(st->st_mode) ? -EISDIR : -EBADFD;
}

int console_log_init(ConsoleLog *log, const char *path, uint64_t max_size) {
        _cleanup_free_ char *p = NULL, *old = NULL, *index = NULL, *index_old = NULL;

        if (!log)
                return -EINVAL;
        if (path) {
                p = strdup(path);
                if (!p || asprintf(&old, "%s" CONSOLE_LOG_OLD_SUFFIX, path) < 0 ||
                    asprintf(&index, "%s" CONSOLE_LOG_INDEX_SUFFIX, path) < 0 ||
                    asprintf(&index_old, "%s" CONSOLE_LOG_OLD_SUFFIX CONSOLE_LOG_INDEX_SUFFIX, path) < 0)
                        return -ENOMEM;
        }
        max_size = max_size > 0 ? max_size : UINT64_MAX;
        uint64_t index_max = MIN(MAX(max_size / 4, (uint64_t) INDEX_MAX_MIN), INDEX_MAX_MAX);
        *log = (ConsoleLog) {
                .path = TAKE_PTR(p),
                .path_old = TAKE_PTR(old),
                .fd = -EBADF,
                .max_size = max_size,
                .index_path = TAKE_PTR(index),
                .index_path_old = TAKE_PTR(index_old),
                .index_fd = -EBADF,
                .index_max = index_max - index_max % sizeof(ConsoleLogIndexRecord),
        };
        return 0;
}

void console_log_done(ConsoleLog *log) {
        if (!log)
                return;
        log->fd = safe_close(log->fd);
        log->index_fd = safe_close(log->index_fd);
        log->path = mfree(log->path);
        log->path_old = mfree(log->path_old);
        log->index_path = mfree(log->index_path);
        log->index_path_old = mfree(log->index_path_old);
}

static int open_current(ConsoleLog *log, int extra_flags) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        fd = open(log->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | extra_flags,
                  0600);
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        int r = verify_regular(&st);
        if (r < 0)
                return r;
        log->fd = TAKE_FD(fd);
        log->size = (uint64_t) st.st_size;
        log->ino = (uint64_t) st.st_ino;

        /* The index is a help for --since, not the log: without it the log goes on. */
        log->index_fd = safe_close(log->index_fd);
        log->index_last_usec = 0;
        r = console_log_index_open(log->index_path, extra_flags & O_TRUNC, &log->index_fd, &log->index_size);
        if (r < 0)
                log->index_fd = -EBADF;
        return 0;
}

int console_log_open(ConsoleLog *log) {
        if (!log)
                return -EINVAL;
        if (!log->path || log->fd >= 0)
                return 0;
        return open_current(log, 0);
}

static int rotate(ConsoleLog *log) {
        log->fd = safe_close(log->fd);
        log->index_fd = safe_close(log->index_fd);
        /* rename() replaces the older generation atomically: a reader sees either one or the other. The
         * index goes first; records name their file, so a crash between the two renames misleads nobody. */
        if (rename(log->index_path, log->index_path_old) < 0 && errno != ENOENT)
                return negative_errno();
        if (rename(log->path, log->path_old) < 0 && errno != ENOENT)
                return negative_errno();
        return open_current(log, O_TRUNC);
}

static bool index_wants_record(const ConsoleLog *log, uint64_t usec) {
        /* The first append after opening, a second later, or a clock that went back. */
        return log->index_fd >= 0 &&
               (log->index_last_usec == 0 || usec < log->index_last_usec ||
                usec >= log->index_last_usec + CONSOLE_LOG_INDEX_INTERVAL_USEC);
}

static void index_note(ConsoleLog *log, uint64_t usec) {
        ConsoleLogIndexRecord record = { .ino = log->ino, .offset = log->size, .usec = usec };

        if (!index_wants_record(log, usec))
                return;
        if (console_log_index_append(log->index_fd, &record) < 0) {
                /* A piece of a record would misalign the rest: cut it, and index no more of this file. */
                (void) ftruncate(log->index_fd, (off_t) log->index_size);
                log->index_fd = safe_close(log->index_fd);
                return;
        }
        log->index_size += sizeof(record);
        log->index_last_usec = usec;
}

int console_log_append(ConsoleLog *log, const void *data, size_t size) {
        return console_log_append_at(log, data, size, now_usec(CLOCK_REALTIME));
}

int console_log_append_at(ConsoleLog *log, const void *data, size_t size, uint64_t usec) {
        const uint8_t *p = data;
        int r;

        if (!log || (!data && size > 0))
                return -EINVAL;
        if (!log->path)
                return 0;

        while (size > 0) {
                r = console_log_open(log);
                if (r < 0)
                        return r;
                if (log->size >= log->max_size ||
                    (log->size > 0 && index_wants_record(log, usec) &&
                     log->index_size + sizeof(ConsoleLogIndexRecord) > log->index_max)) {
                        r = rotate(log);
                        if (r < 0)
                                return r;
                }
                index_note(log, usec);

                size_t n = (size_t) MIN((uint64_t) size, log->max_size - log->size);
                r = loop_write(log->fd, p, n);
                if (r < 0) {
                        /* The size we track is unknown now; reopening takes it from the file again. */
                        log->fd = safe_close(log->fd);
                        return r;
                }
                log->size += n;
                p += n;
                size -= n;
        }
        return 0;
}

/* Opens path for reading; a missing file gives fd -EBADF and size 0. */
static int open_optional(const char *path, int *ret_fd, struct stat *ret_st) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
        if (fd < 0) {
                if (errno != ENOENT)
                        return negative_errno();
                *ret_fd = -EBADF;
                *ret_st = (struct stat) {};
                return 0;
        }
        if (fstat(fd, ret_st) < 0)
                return negative_errno();
        int r = verify_regular(ret_st);
        if (r < 0)
                return r;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int console_log_reader_open(const char *path, ConsoleLogReader *ret) {
        _cleanup_free_ char *old = NULL;
        int r;

        if (!path || !ret)
                return -EINVAL;
        if (asprintf(&old, "%s" CONSOLE_LOG_OLD_SUFFIX, path) < 0)
                return -ENOMEM;

        /* The current file is opened first: if the writer rotates before the old one is opened, both names
         * lead to the same file, which we notice and retry. The other order could miss a whole file. */
        for (unsigned attempt = 0; attempt < 3; attempt++) {
                _cleanup_close_ int cur = -EBADF, prev = -EBADF;
                struct stat st_cur, st_prev;

                r = open_optional(path, &cur, &st_cur);
                if (r < 0)
                        return r;
                r = open_optional(old, &prev, &st_prev);
                if (r < 0)
                        return r;
                if (cur >= 0 && prev >= 0 && st_cur.st_dev == st_prev.st_dev &&
                    st_cur.st_ino == st_prev.st_ino)
                        continue;

                /* Before the fds are taken: the inodes of the files that exist. */
                uint64_t ino_prev = prev >= 0 ? (uint64_t) st_prev.st_ino : 0,
                         ino_cur = cur >= 0 ? (uint64_t) st_cur.st_ino : 0;
                *ret = (ConsoleLogReader) {
                        .fds = { TAKE_FD(prev), TAKE_FD(cur) },
                        .size = { (uint64_t) st_prev.st_size, (uint64_t) st_cur.st_size },
                        .ino = { ino_prev, ino_cur },
                        .tail = CONSOLE_LOG_TAIL_INIT,
                        .left = { (uint64_t) st_prev.st_size, (uint64_t) st_cur.st_size },
                };
                return 0;
        }
        return -EBUSY;
}

ssize_t console_log_reader_read(ConsoleLogReader *reader, void *buf, size_t size) {
        if (!reader || !buf || size == 0)
                return -EINVAL;
        if (reader->tail.active) {
                int r = console_log_tail_step(reader);
                if (r < 0)
                        return r;
                if (r == 0)
                        return -EAGAIN;
        }

        while (reader->index < ELEMENTSOF(reader->fds)) {
                size_t i = reader->index;

                if (reader->fds[i] < 0 || reader->left[i] == 0) {
                        reader->fds[i] = safe_close(reader->fds[i]);
                        reader->index++;
                        continue;
                }
                ssize_t n = read(reader->fds[i], buf, (size_t) MIN((uint64_t) size, reader->left[i]));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (n == 0) {
                        /* Shorter than when it was opened: somebody truncated it. Take what there was. */
                        reader->left[i] = 0;
                        continue;
                }
                reader->left[i] -= (uint64_t) n;
                return n;
        }
        return 0;
}

void console_log_reader_done(ConsoleLogReader *reader) {
        if (!reader)
                return;
        for (size_t i = 0; i < ELEMENTSOF(reader->fds); i++) {
                reader->fds[i] = safe_close(reader->fds[i]);
                reader->tail.index_fds[i] = safe_close(reader->tail.index_fds[i]);
        }
        reader->index = ELEMENTSOF(reader->fds);
}

/* Sending a log snapshot to a client from the event loop: a bounded chunk is read from the (local, regular)
 * file only when the client's socket takes bytes, so a client that stops reading costs one chunk of memory
 * and an fd, never a thread, and the loop never waits for it. */
#define STREAM_CHUNK_SIZE (32U * 1024U)
/* Chunks per wakeup: one fast reader must not starve the loop's other events. */
#define STREAM_CHUNKS_PER_EVENT 4U

struct ConsoleLogStream {
        int fd;
        sd_event_source *io_source;
        sd_event_source *stall_source;
        uint64_t stall_usec;
        ConsoleLogReader reader;
        uint8_t *chunk;
        size_t start, len;
        uint64_t sent;
        ConsoleLogStreamDone done;
        void *userdata;
};

ConsoleLogStream *console_log_stream_free(ConsoleLogStream *s) {
        if (!s)
                return NULL;
        sd_event_source_disable_unref(s->io_source);
        sd_event_source_disable_unref(s->stall_source);
        safe_close(s->fd);
        console_log_reader_done(&s->reader);
        free(s->chunk);
        return mfree(s);
}

static void stream_end(ConsoleLogStream *s, int error) {
        (void) sd_event_source_set_enabled(s->io_source, SD_EVENT_OFF);
        (void) sd_event_source_set_enabled(s->stall_source, SD_EVENT_OFF);
        if (s->done)
                s->done(s, error, s->userdata); /* may free s */
}

/* Writes what the socket takes now. 1: everything sent, 0: go on later, < 0: failed. */
static int stream_send(ConsoleLogStream *s) {
        bool progress = false;

        for (unsigned i = 0; i < STREAM_CHUNKS_PER_EVENT; i++) {
                if (s->len == 0) {
                        ssize_t n = console_log_reader_read(&s->reader, s->chunk, STREAM_CHUNK_SIZE);
                        if (n == -EAGAIN) {
                                /* Still looking for the start: go on at the next wakeup. That is work
                                 * for the client, not a client that stalls. */
                                progress = true;
                                break;
                        }
                        if (n < 0)
                                return (int) n;
                        if (n == 0)
                                return 1;
                        s->start = 0;
                        s->len = (size_t) n;
                }
                ssize_t n = fd_write_nosignal(s->fd, s->chunk + s->start, s->len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                break;
                        return negative_errno();
                }
                s->start += (size_t) n;
                s->len -= (size_t) n;
                s->sent += (uint64_t) n;
                progress = true;
                if (s->len > 0)
                        break; /* the socket is full */
        }
        if (progress && s->stall_source)
                (void) sd_event_source_set_time_relative(s->stall_source, s->stall_usec);
        return 0;
}

static int stream_io(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        ConsoleLogStream *s = userdata;

        /* A hangup shows as a failed write, after what the peer may still have taken. */
        int r = stream_send(s);
        if (r != 0)
                stream_end(s, r > 0 ? 0 : r);
        return 0;
}

static int stream_stalled(sd_event_source *source, uint64_t usec, void *userdata) {
        stream_end(userdata, -ETIMEDOUT);
        return 0;
}

int console_log_stream_new(sd_event *event, const char *path, const ConsoleLogFilter *filter, int fd,
                           uint64_t stall_usec, ConsoleLogStreamDone done, void *userdata,
                           ConsoleLogStream **ret) {
        _cleanup_close_ int owned = fd;
        _cleanup_(console_log_stream_freep) ConsoleLogStream *s = NULL;
        int r;

        if (!event || !path || owned < 0 || !ret)
                return -EINVAL;
        r = fd_nonblock(owned, true);
        if (r < 0)
                return r;
        s = calloc(1, sizeof(ConsoleLogStream));
        if (!s)
                return -ENOMEM;
        s->fd = TAKE_FD(owned);
        s->reader = CONSOLE_LOG_READER_INIT;
        s->stall_usec = stall_usec;
        s->done = done;
        s->userdata = userdata;
        s->chunk = malloc(STREAM_CHUNK_SIZE);
        if (!s->chunk)
                return -ENOMEM;
        /* The snapshot is taken now: what the guest prints later is not part of it. */
        r = console_log_reader_open(path, &s->reader);
        if (r < 0)
                return r;
        if (filter) {
                r = console_log_reader_set_filter(&s->reader, path, filter);
                if (r < 0)
                        return r;
        }
        r = sd_event_add_io(event, &s->io_source, s->fd, EPOLLOUT, stream_io, s);
        if (r < 0)
                return r;
        if (stall_usec != UINT64_MAX) {
                r = sd_event_add_time_relative(event, &s->stall_source, CLOCK_MONOTONIC, stall_usec, 0,
                                               stream_stalled, s);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(s);
        return 0;
}

uint64_t console_log_stream_sent(const ConsoleLogStream *s) {
        return s ? s->sent : 0;
}
