/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The console relay of a running VM: console -> log + every attached client; client input -> console. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "console-relay.h"
#include "fd-util.h"
#include "log.h"

#define CONSOLE_READ_SIZE (64U * 1024U)

/* One read buffer for every relay: relays run on the event loop thread only and consume what they read
 * before returning, so a buffer per VM would only cost memory (64 KiB each). */
static uint8_t console_read_buf[CONSOLE_READ_SIZE];
/* Reads per wakeup of the console: a chatty guest must not starve the clients' events. */
#define CONSOLE_READS_PER_EVENT 16U
#define CLIENT_READ_SIZE 4096U
/* A drained buffer bigger than this is given back, so that idle clients hold little memory. */
#define BUFFER_KEEP_MAX (64U * 1024U)

typedef struct ByteBuffer {
        uint8_t *data;
        size_t start, len, allocated;
} ByteBuffer;

typedef struct ConsoleClient ConsoleClient;
struct ConsoleClient {
        ConsoleRelay *relay;
        ConsoleClient *prev, *next;
        uint64_t id; /* for log messages */
        int fd;
        sd_event_source *source;
        bool read_only;
        bool replaying;           /* still sending the log snapshot; live output waits in `output` */
        bool input_ended;         /* half-closed while replaying: detached once the replay is out */
        ConsoleLogReader replay;
        ByteBuffer replay_chunk;  /* read from the log, not yet written */
        ByteBuffer output;        /* live output not yet written */
};

struct ConsoleRelay {
        sd_event *event;
        char *vm_id;
        int console_fd;
        sd_event_source *console_source;
        ByteBuffer input; /* from clients, for the console */
        ConsoleLog log;
        bool log_failed;  /* warned about; cleared when a write works again */
        /* The hypervisor's own record of the output (console_relay_set_spool()): read from spool_offset on
         * as it grows, then punched out. -EBADF: output comes from console_fd. */
        int spool_fd;
        uint64_t spool_offset;
        uint64_t spool_punched;
        bool spool_failed;
        sd_event_source *spool_source;   /* inotify: the spool was written to */
        sd_event_source *spool_continue; /* defer: more is waiting than one wakeup reads */
        bool ended;
        ConsoleClient *clients;
        size_t n_clients;
        uint64_t next_client_id;
        ConsoleRelayEndCallback end_callback;
        void *end_userdata;
};

static int byte_buffer_append(ByteBuffer *b, const void *p, size_t n) {
        if (n == 0)
                return 0;
        if (b->start + b->len + n > b->allocated) {
                if (b->start > 0) {
                        memmove(b->data, b->data + b->start, b->len);
                        b->start = 0;
                }
                if (b->len + n > b->allocated) {
                        size_t want = MAX(b->len + n, MAX(b->allocated * 2, (size_t) 4096));
                        uint8_t *q = realloc(b->data, want);
                        if (!q)
                                return -ENOMEM;
                        b->data = q;
                        b->allocated = want;
                }
        }
        memcpy(b->data + b->start + b->len, p, n);
        b->len += n;
        return 0;
}

static void byte_buffer_done(ByteBuffer *b) {
        b->data = mfree(b->data);
        b->start = b->len = b->allocated = 0;
}

static void byte_buffer_consume(ByteBuffer *b, size_t n) {
        b->start += n;
        b->len -= n;
        if (b->len > 0)
                return;
        b->start = 0;
        if (b->allocated > BUFFER_KEEP_MAX)
                byte_buffer_done(b);
}

/* Writes what fd takes now. 0 when done or fd is full, -errno on failure. */
static int byte_buffer_flush(ByteBuffer *b, int fd) {
        while (b->len > 0) {
                ssize_t n = fd_write_nosignal(fd, b->data + b->start, b->len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return errno == EAGAIN ? 0 : negative_errno();
                }
                byte_buffer_consume(b, (size_t) n);
        }
        return 0;
}

static void client_free(ConsoleClient *c) {
        ConsoleRelay *relay = c->relay;

        if (c->prev)
                c->prev->next = c->next;
        else
                relay->clients = c->next;
        if (c->next)
                c->next->prev = c->prev;
        relay->n_clients--;

        sd_event_source_disable_unref(c->source);
        safe_close(c->fd);
        console_log_reader_done(&c->replay);
        byte_buffer_done(&c->replay_chunk);
        byte_buffer_done(&c->output);
        free(c);
}

static void client_detach(ConsoleClient *c, int error) {
        if (error == -ENOBUFS)
                log_vm_warning(c->relay->vm_id,
                               "Console client %" PRIu64 " is too slow (%zu bytes pending), dropping it.",
                               c->id, c->output.len);
        else if (error < 0)
                log_debug_errno(error, "Console client %" PRIu64 " of VM %s failed, detaching it: %m", c->id,
                                c->relay->vm_id);
        else
                log_debug("Console client %" PRIu64 " of VM %s went away.", c->id, c->relay->vm_id);
        client_free(c);
}

static int client_update_events(ConsoleClient *c) {
        uint32_t events = 0;

        if (!c->input_ended && (c->read_only || c->relay->input.len < CONSOLE_INPUT_BUFFER_MAX))
                events |= EPOLLIN;
        if (c->replaying || c->output.len > 0)
                events |= EPOLLOUT;
        return sd_event_source_set_io_events(c->source, events);
}

/* Sends the log snapshot first, then live output, as far as the socket takes it now. */
static int client_flush(ConsoleClient *c) {
        int r;

        while (c->replaying) {
                if (c->replay_chunk.len == 0) {
                        uint8_t buf[CLIENT_READ_SIZE * 4];
                        ssize_t n = console_log_reader_read(&c->replay, buf, sizeof(buf));
                        if (n == -EAGAIN)
                                return 0; /* still looking for the start: one bounded read per wakeup */
                        if (n < 0)
                                return (int) n;
                        if (n == 0) {
                                c->replaying = false;
                                console_log_reader_done(&c->replay);
                                byte_buffer_done(&c->replay_chunk);
                                break;
                        }
                        r = byte_buffer_append(&c->replay_chunk, buf, (size_t) n);
                        if (r < 0)
                                return r;
                }
                r = byte_buffer_flush(&c->replay_chunk, c->fd);
                if (r < 0)
                        return r;
                if (c->replay_chunk.len > 0)
                        return 0; /* socket full */
        }
        return byte_buffer_flush(&c->output, c->fd);
}

/* Hands live output to one client: straight to its socket when nothing is queued, else into its bounded
 * buffer. -ENOBUFS when the buffer would overflow. */
static int client_queue(ConsoleClient *c, const uint8_t *data, size_t size) {
        if (!c->replaying && c->output.len == 0) {
                ssize_t n = fd_write_nosignal(c->fd, data, size);
                if (n < 0) {
                        if (errno != EAGAIN && errno != EINTR)
                                return negative_errno();
                        n = 0;
                }
                data += n;
                size -= (size_t) n;
        }
        if (size == 0)
                return 0;
        if (c->output.len + size > CONSOLE_CLIENT_BUFFER_MAX)
                return -ENOBUFS;
        int r = byte_buffer_append(&c->output, data, size);
        if (r < 0)
                return r;
        return client_update_events(c);
}

static void relay_update_console_events(ConsoleRelay *relay) {
        uint32_t events = EPOLLIN | (relay->input.len > 0 ? EPOLLOUT : 0);
        int r = sd_event_source_set_io_events(relay->console_source, events);
        if (r < 0)
                log_debug_errno(r, "Failed to update console events of VM %s: %m", relay->vm_id);
}

static void relay_update_client_events(ConsoleRelay *relay) {
        ConsoleClient *next;
        for (ConsoleClient *c = relay->clients; c; c = next) {
                next = c->next;
                int r = client_update_events(c);
                if (r < 0)
                        client_detach(c, r);
        }
}

static void relay_flush_input(ConsoleRelay *relay) {
        bool was_full = relay->input.len >= CONSOLE_INPUT_BUFFER_MAX;

        int r = byte_buffer_flush(&relay->input, relay->console_fd);
        if (r < 0) {
                /* The console is going away; its EOF on the reading side ends the relay. */
                log_debug_errno(r, "Failed to write to the console of VM %s, dropping input: %m",
                                relay->vm_id);
                byte_buffer_done(&relay->input);
        }
        relay_update_console_events(relay);
        if (was_full && relay->input.len < CONSOLE_INPUT_BUFFER_MAX)
                relay_update_client_events(relay);
}

/* Reads once. 0: go on; > 0: EOF; < 0: error. */
static int client_read(ConsoleClient *c, uint32_t revents) {
        ConsoleRelay *relay = c->relay;
        uint8_t buf[CLIENT_READ_SIZE];
        size_t room = sizeof(buf);

        if (!c->read_only)
                room = MIN(room, CONSOLE_INPUT_BUFFER_MAX - MIN(relay->input.len, CONSOLE_INPUT_BUFFER_MAX));
        if (room == 0)
                /* Not reading now; a hangup still means the peer is gone for good. */
                return revents & (EPOLLHUP | EPOLLERR) ? -ECONNRESET : 0;

        ssize_t n = read(c->fd, buf, room);
        if (n < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : negative_errno();
        if (n == 0)
                return 1;
        if (c->read_only)
                return 0;

        int r = byte_buffer_append(&relay->input, buf, (size_t) n);
        if (r < 0)
                return r;
        relay_flush_input(relay);
        return 0;
}

static int client_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        ConsoleClient *c = userdata;
        int r;

        if (c->input_ended && (revents & (EPOLLHUP | EPOLLERR))) {
                client_detach(c, -ECONNRESET); /* gone both ways: nobody to replay to */
                return 0;
        }
        if ((revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !c->input_ended) {
                r = client_read(c, revents);
                if (r > 0 && c->replaying && !(revents & (EPOLLHUP | EPOLLERR))) {
                        /* A half-close (`echo cmd | vm console --replay`): it asked for the replay, it
                         * gets all of it first. */
                        c->input_ended = true;
                        r = 0;
                } else if (r > 0)
                        /* A half-close: what is already queued for it may still get through. */
                        (void) client_flush(c);
                if (r != 0) {
                        client_detach(c, r > 0 ? 0 : r);
                        return 0;
                }
        }
        if (revents & EPOLLOUT) {
                r = client_flush(c);
                if (r < 0) {
                        client_detach(c, r);
                        return 0;
                }
        }
        if (c->input_ended && !c->replaying) {
                /* The replay is out; then as for any half-close. */
                (void) client_flush(c);
                client_detach(c, 0);
                return 0;
        }
        r = client_update_events(c);
        if (r < 0)
                client_detach(c, r);
        return 0;
}

static void relay_log(ConsoleRelay *relay, const uint8_t *data, size_t size) {
        int r = console_log_append(&relay->log, data, size);
        if (r < 0 && !relay->log_failed) {
                log_vm_internal(LOG_WARNING, r, relay->vm_id, "Failed to write console log %s: %m",
                                relay->log.path);
                relay->log_failed = true;
        } else if (r >= 0 && relay->log_failed) {
                log_vm_info(relay->vm_id, "Console log %s is written again.", relay->log.path);
                relay->log_failed = false;
        }
}

static void relay_broadcast(ConsoleRelay *relay, const uint8_t *data, size_t size) {
        ConsoleClient *next;
        for (ConsoleClient *c = relay->clients; c; c = next) {
                next = c->next;
                int r = client_queue(c, data, size);
                if (r < 0)
                        client_detach(c, r);
        }
}

static void spool_warn(ConsoleRelay *relay, int error, const char *what) {
        if (relay->spool_failed)
                return;
        relay->spool_failed = true;
        log_vm_internal(LOG_WARNING, error, relay->vm_id, "Failed to %s the console spool of VM %s: %m",
                        what, relay->vm_id);
}

/* Moves what the hypervisor appended to the spool into the log and to the clients (at most max_reads
 * reads now; a deferred event goes on), then gives the consumed bytes back to the file system. The
 * hypervisor only ever appends, so punching a hole before spool_offset never races with it. */
static int spool_catch_up(ConsoleRelay *relay, unsigned max_reads) {
        bool more = false;
        int r = 0;

        for (unsigned i = 0; i < max_reads; i++) {
                ssize_t n = pread(relay->spool_fd, console_read_buf, CONSOLE_READ_SIZE,
                                  (off_t) relay->spool_offset);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        r = negative_errno();
                        spool_warn(relay, r, "read");
                        break;
                }
                if (n == 0)
                        break;
                relay->spool_offset += (uint64_t) n;
                relay_log(relay, console_read_buf, (size_t) n);
                relay_broadcast(relay, console_read_buf, (size_t) n);
                more = i + 1 == max_reads;
        }
        if (relay->spool_continue)
                (void) sd_event_source_set_enabled(relay->spool_continue,
                                                   more ? SD_EVENT_ONESHOT : SD_EVENT_OFF);

        if (relay->spool_offset > relay->spool_punched) {
                if (fallocate(relay->spool_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
                              (off_t) relay->spool_offset) < 0)
                        spool_warn(relay, negative_errno(), "shrink");
                else
                        relay->spool_punched = relay->spool_offset;
        }
        return r;
}

static int spool_io(sd_event_source *s, const struct inotify_event *event, void *userdata) {
        (void) spool_catch_up(userdata, CONSOLE_READS_PER_EVENT);
        return 0;
}

static int spool_continue_io(sd_event_source *s, void *userdata) {
        (void) spool_catch_up(userdata, CONSOLE_READS_PER_EVENT);
        return 0;
}

/* Where a new relay goes on: the first byte not punched out yet. Punching zeroes the consumed part of the
 * first block it leaves allocated, so leading NULs within that block were consumed too. */
static int spool_find_offset(int fd, uint64_t *ret) {
        struct stat st;
        uint8_t buf[4096];

        if (fstat(fd, &st) < 0)
                return negative_errno();
        off_t data = lseek(fd, 0, SEEK_DATA);
        if (data < 0) {
                if (errno != ENXIO)
                        return negative_errno();
                *ret = (uint64_t) st.st_size; /* holes only: everything was consumed */
                return 0;
        }
        ssize_t n = pread(fd, buf, sizeof(buf), data);
        if (n < 0)
                return negative_errno();
        ssize_t i = 0;
        while (i < n && buf[i] == 0)
                i++;
        *ret = (uint64_t) data + (uint64_t) i;
        return 0;
}

int console_relay_set_spool(ConsoleRelay *relay, const char *spool_path) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        uint64_t offset;
        int r;

        if (!relay || !spool_path || relay->spool_fd >= 0)
                return -EINVAL;
        /* Read-write only to punch out what was consumed; the relay never writes to it. */
        fd = open(spool_path, O_RDWR | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        r = spool_find_offset(fd, &offset);
        if (r < 0)
                return r;
        r = sd_event_add_inotify(relay->event, &relay->spool_source, spool_path, IN_MODIFY, spool_io, relay);
        if (r < 0)
                return r;
        r = sd_event_add_defer(relay->event, &relay->spool_continue, spool_continue_io, relay);
        if (r < 0) {
                relay->spool_source = sd_event_source_disable_unref(relay->spool_source);
                return r;
        }
        (void) sd_event_source_set_enabled(relay->spool_continue, SD_EVENT_OFF);
        relay->spool_fd = TAKE_FD(fd);
        relay->spool_offset = relay->spool_punched = offset;
        /* What was printed while nobody relayed (the manager was down, or the VM ran before): now. */
        (void) spool_catch_up(relay, CONSOLE_READS_PER_EVENT);
        return 0;
}

static void relay_end(ConsoleRelay *relay, int error) {
        if (relay->ended)
                return;
        relay->ended = true;

        /* The hypervisor is gone: whatever it printed last is in the spool by now. */
        if (relay->spool_fd >= 0)
                (void) spool_catch_up(relay, UINT_MAX);

        if (error < 0)
                log_vm_internal(LOG_DEBUG, error, relay->vm_id, "Console of VM %s failed: %m", relay->vm_id);
        else
                log_debug("Console of VM %s closed by the hypervisor.", relay->vm_id);

        relay->console_source = sd_event_source_disable_unref(relay->console_source);
        relay->console_fd = safe_close(relay->console_fd);
        byte_buffer_done(&relay->input);
        while (relay->clients) {
                /* Best effort: what the socket takes right now, without waiting for anyone. */
                (void) client_flush(relay->clients);
                client_free(relay->clients);
        }
        if (relay->end_callback)
                relay->end_callback(relay, relay->end_userdata); /* may free relay */
}

static int console_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        ConsoleRelay *relay = userdata;

        if (revents & EPOLLOUT)
                relay_flush_input(relay);

        if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR))
                for (unsigned i = 0; i < CONSOLE_READS_PER_EVENT; i++) {
                        ssize_t n = read(relay->console_fd, console_read_buf, CONSOLE_READ_SIZE);
                        if (n < 0) {
                                if (errno == EINTR)
                                        continue;
                                if (errno == EAGAIN)
                                        break;
                                relay_end(relay, negative_errno());
                                return 0;
                        }
                        if (n == 0) {
                                relay_end(relay, 0);
                                return 0;
                        }
                        if (relay->spool_fd >= 0)
                                continue; /* the same bytes reach the spool; they are taken from there */
                        relay_log(relay, console_read_buf, (size_t) n);
                        relay_broadcast(relay, console_read_buf, (size_t) n);
                }

        if (relay->spool_fd >= 0)
                (void) spool_catch_up(relay, CONSOLE_READS_PER_EVENT);
        relay_update_console_events(relay);
        return 0;
}

int console_relay_new(sd_event *event, const char *vm_id, int console_fd, const char *log_path,
                      uint64_t log_max_bytes, ConsoleRelay **ret) {
        _cleanup_close_ int fd = console_fd;
        _cleanup_(console_relay_freep) ConsoleRelay *relay = NULL;
        int r;

        if (!event || !vm_id || fd < 0 || !ret)
                return -EINVAL;
        r = fd_nonblock(fd, true);
        if (r < 0)
                return r;

        relay = calloc(1, sizeof(ConsoleRelay));
        if (!relay)
                return -ENOMEM;
        relay->console_fd = -EBADF;
        relay->log.fd = -EBADF;
        relay->log.index_fd = -EBADF;
        relay->spool_fd = -EBADF;
        relay->event = sd_event_ref(event);
        relay->vm_id = strdup(vm_id);
        if (!relay->vm_id)
                return -ENOMEM;
        r = console_log_init(&relay->log, log_path, log_max_bytes);
        if (r < 0)
                return r;

        r = sd_event_add_io(event, &relay->console_source, fd, EPOLLIN, console_io, relay);
        if (r < 0)
                return r;
        relay->console_fd = TAKE_FD(fd);

        /* Say so now rather than at the first byte; the console itself works without its log. */
        r = console_log_open(&relay->log);
        if (r < 0) {
                log_vm_internal(LOG_WARNING, r, vm_id, "Failed to open console log %s: %m", log_path);
                relay->log_failed = true;
        }

        *ret = TAKE_PTR(relay);
        return 0;
}

ConsoleRelay *console_relay_free(ConsoleRelay *relay) {
        if (!relay)
                return NULL;
        while (relay->clients)
                client_free(relay->clients);
        sd_event_source_disable_unref(relay->console_source);
        safe_close(relay->console_fd);
        sd_event_source_disable_unref(relay->spool_source);
        sd_event_source_disable_unref(relay->spool_continue);
        safe_close(relay->spool_fd);
        console_log_done(&relay->log);
        byte_buffer_done(&relay->input);
        free(relay->vm_id);
        sd_event_unref(relay->event);
        return mfree(relay);
}

void console_relay_set_end_callback(ConsoleRelay *relay, ConsoleRelayEndCallback callback, void *userdata) {
        if (!relay)
                return;
        relay->end_callback = callback;
        relay->end_userdata = userdata;
}

static int relay_attach(ConsoleRelay *relay, int client_fd, bool read_only, const ConsoleLogFilter *replay) {
        _cleanup_close_ int fd = client_fd;
        ConsoleClient *c;
        int r;

        if (!relay || fd < 0)
                return -EINVAL;
        if (relay->ended)
                return -ESHUTDOWN;
        r = fd_nonblock(fd, true);
        if (r < 0)
                return r;

        c = calloc(1, sizeof(ConsoleClient));
        if (!c)
                return -ENOMEM;
        c->replay = CONSOLE_LOG_READER_INIT;
        if (replay && relay->log.path) {
                /* Everything logged so far is in this snapshot, everything later reaches c->output. */
                r = console_log_reader_open(relay->log.path, &c->replay);
                if (r >= 0)
                        r = console_log_reader_set_filter(&c->replay, relay->log.path, replay);
                if (r < 0) {
                        console_log_reader_done(&c->replay);
                        free(c);
                        return r;
                }
                c->replaying = true;
        }
        r = sd_event_add_io(relay->event, &c->source, fd, EPOLLIN, client_io, c);
        if (r < 0) {
                console_log_reader_done(&c->replay);
                free(c);
                return r;
        }
        c->relay = relay;
        c->fd = TAKE_FD(fd);
        c->read_only = read_only;
        c->id = ++relay->next_client_id;
        c->next = relay->clients;
        if (relay->clients)
                relay->clients->prev = c;
        relay->clients = c;
        relay->n_clients++;

        r = client_update_events(c);
        if (r < 0) {
                client_free(c);
                return r;
        }
        log_debug("Console client %" PRIu64 " attached to VM %s%s%s.", c->id, relay->vm_id,
                  read_only ? " (read-only)" : "", replay ? " (with replay)" : "");
        return 0;
}

int console_relay_attach(ConsoleRelay *relay, int client_fd, bool read_only) {
        return relay_attach(relay, client_fd, read_only, NULL);
}

int console_relay_attach_replay(ConsoleRelay *relay, int client_fd, bool read_only,
                                const ConsoleLogFilter *filter) {
        return relay_attach(relay, client_fd, read_only, filter ?: &CONSOLE_LOG_FILTER_ALL);
}

size_t console_relay_n_clients(const ConsoleRelay *relay) {
        return relay ? relay->n_clients : 0;
}

const char *console_relay_get_vm_id(const ConsoleRelay *relay) {
        return relay ? relay->vm_id : NULL;
}

const char *console_relay_get_log_path(const ConsoleRelay *relay) {
        return relay ? relay->log.path : NULL;
}
