/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* QMP client: newline-separated JSON objects on a unix socket, parsed incrementally by json_tokener. */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "json-util.h"
#include "log.h"
#include "fd-util.h"
#include "qmp.h"
#include "time-util.h"

/* Events nobody waits for (RTC_CHANGE, NIC_RX_FILTER_CHANGED, ...) must not pile up without bound in a
 * long conversation; the oldest are dropped first. */
#define QMP_EVENT_QUEUE_MAX 1024U

/* How long to back off when QEMU's listen backlog is full (it accepts again when its client leaves). */
#define QMP_CONNECT_RETRY_USEC (10 * USEC_PER_MSEC)

struct Qmp {
        int fd;
        json_tokener *tokener;
        char buf[4096]; /* bytes read but not yet fed to the tokener: [buf_start, buf_end) */
        size_t buf_start, buf_end;
        json_object *events; /* array of queued event messages, oldest first */
        uint64_t next_id;
        int error; /* sticky: once the stream is gone or garbled, every later call fails alike */
        unsigned version[3];
};

Qmp *qmp_free(Qmp *q) {
        if (!q)
                return NULL;
        safe_close(q->fd);
        if (q->tokener)
                json_tokener_free(q->tokener);
        json_object_put(q->events);
        return mfree(q);
}

static int qmp_new(Qmp **ret) {
        _cleanup_(qmp_freep) Qmp *q = NULL;

        q = calloc(1, sizeof(Qmp));
        if (!q)
                return -ENOMEM;
        q->fd = -EBADF;
        q->next_id = 1;
        q->tokener = json_tokener_new();
        q->events = json_object_new_array();
        if (!q->tokener || !q->events)
                return -ENOMEM;

        *ret = TAKE_PTR(q);
        return 0;
}

static int qmp_fail(Qmp *q, int error) {
        if (q->error == 0)
                q->error = error;
        return error;
}

static uint64_t deadline_after(uint64_t timeout_usec) {
        uint64_t now;

        if (timeout_usec == QMP_TIMEOUT_INFINITY)
                return UINT64_MAX;
        now = now_usec(CLOCK_MONOTONIC);
        return timeout_usec >= UINT64_MAX - now ? UINT64_MAX : now + timeout_usec;
}

/* Waits until fd is ready for events. A hangup or socket error counts as ready: the following recv() or
 * send() reports it. Polls at least once, so a zero timeout still sees data that is already there. */
static int fd_wait(int fd, short events, uint64_t deadline) {
        for (bool first = true;; first = false) {
                struct pollfd p = {.fd = fd, .events = events};
                struct timespec ts, *tsp = NULL;
                int r;

                if (deadline != UINT64_MAX) {
                        uint64_t now = now_usec(CLOCK_MONOTONIC), left;

                        if (now >= deadline && !first)
                                return -ETIMEDOUT;
                        left = now < deadline ? deadline - now : 0;
                        ts = (struct timespec){
                                .tv_sec = (time_t) (left / USEC_PER_SEC),
                                .tv_nsec = (long) ((left % USEC_PER_SEC) * NSEC_PER_USEC),
                        };
                        tsp = &ts;
                }

                r = ppoll(&p, 1, tsp, NULL);
                if (r > 0)
                        return 0;
                if (r < 0 && errno != EINTR)
                        return negative_errno();
        }
}

static int connect_unix(int fd, const char *path, uint64_t deadline) {
        struct sockaddr_un sa;
        socklen_t salen;
        int r = sockaddr_un_from_path(&sa, path, &salen);
        if (r < 0)
                return r;

        for (;;) {
                uint64_t now, pause;

                if (connect(fd, (struct sockaddr *) &sa, salen) >= 0)
                        return 0;
                if (errno == EINTR)
                        continue;
                if (errno != EAGAIN)
                        return negative_errno();

                now = now_usec(CLOCK_MONOTONIC);
                if (now >= deadline)
                        return -ETIMEDOUT;
                pause = MIN(QMP_CONNECT_RETRY_USEC, deadline - now);
                nanosleep(&(struct timespec){.tv_nsec = (long) (pause * NSEC_PER_USEC)}, NULL);
        }
}

/* Refills the (fully consumed) buffer from the socket. */
static int qmp_fill(Qmp *q, uint64_t deadline) {
        q->buf_start = q->buf_end = 0;

        for (;;) {
                ssize_t n;
                int r;

                r = fd_wait(q->fd, POLLIN, deadline);
                if (r < 0)
                        return r;

                n = recv(q->fd, q->buf, sizeof(q->buf), MSG_DONTWAIT);
                if (n > 0) {
                        q->buf_end = (size_t) n;
                        return 0;
                }
                if (n == 0)
                        return qmp_fail(q, -ECONNRESET);
                if (errno == EAGAIN || errno == EINTR)
                        continue;
                return qmp_fail(q, negative_errno());
        }
}

/* Reads the next complete message. A message cut by a timeout stays in the tokener for the next call. */
static int qmp_read_message(Qmp *q, uint64_t deadline, json_object **ret) {
        for (;;) {
                enum json_tokener_error e;
                json_object *o;
                int r;

                if (q->error < 0)
                        return q->error;

                if (q->buf_start >= q->buf_end) {
                        r = qmp_fill(q, deadline);
                        if (r < 0)
                                return r;
                }

                o = json_tokener_parse_ex(q->tokener, q->buf + q->buf_start,
                                          (int) (q->buf_end - q->buf_start));
                e = json_tokener_get_error(q->tokener);
                if (e == json_tokener_continue) {
                        q->buf_start = q->buf_end; /* all of it is inside the tokener now */
                        continue;
                }
                q->buf_start += json_tokener_get_parse_end(q->tokener);

                if (e != json_tokener_success || !json_object_is_type(o, json_type_object)) {
                        json_object_put(o);
                        log_debug("QMP: malformed message from QEMU: %s", json_tokener_error_desc(e));
                        return qmp_fail(q, -EBADMSG);
                }

                *ret = o;
                return 0;
        }
}

/* Sends the first bytes of a command together with fd (SCM_RIGHTS): QEMU takes descriptors that come with
 * any byte of the command that names them (getfd). */
static ssize_t send_with_fd(int sock, const char *p, size_t len, int fd) {
        return send_with_fds(sock, p, len, &fd, 1, MSG_DONTWAIT);
}

static int qmp_send(Qmp *q, json_object *m, int fd, uint64_t deadline) {
        _cleanup_free_ char *line = NULL;
        const char *s;
        size_t len, done = 0;

        s = json_to_string(m);
        if (!s || asprintf(&line, "%s\n", s) < 0)
                return -ENOMEM;
        len = strlen(line);

        while (done < len) {
                ssize_t n;
                int r;

                if (done == 0 && fd >= 0)
                        n = send_with_fd(q->fd, line, len, fd);
                else
                        n = send(q->fd, line + done, len - done, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n >= 0) {
                        done += (size_t) n;
                        continue;
                }
                if (errno == EINTR)
                        continue;
                if (errno != EAGAIN)
                        return qmp_fail(q, errno == EPIPE ? -ECONNRESET : negative_errno());

                r = fd_wait(q->fd, POLLOUT, deadline);
                if (r < 0)
                        /* Half a command on the wire garbles everything after it. */
                        return done > 0 ? qmp_fail(q, r) : r;
        }

        return 0;
}

/* The name of an event message, NULL for anything else (replies). */
static const char *message_event_name(json_object *m) {
        json_object *v;

        if (!json_object_object_get_ex(m, "event", &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

static json_object *event_data_ref(json_object *m) {
        json_object *data = NULL;

        (void) json_object_object_get_ex(m, "data", &data);
        return json_object_get(data);
}

/* Takes ownership of m. */
static int qmp_queue_event(Qmp *q, json_object *m) {
        if (json_object_array_length(q->events) >= QMP_EVENT_QUEUE_MAX) {
                log_debug("QMP: event queue full, dropping the oldest event");
                json_object_array_del_idx(q->events, 0, 1);
        }
        if (json_object_array_add(q->events, m) < 0) {
                json_object_put(m);
                return -ENOMEM;
        }
        return 0;
}

static bool qmp_take_queued_event(Qmp *q, const char *name, json_object **ret_data) {
        size_t n = json_object_array_length(q->events);

        for (size_t i = 0; i < n; i++) {
                json_object *m = json_object_array_get_idx(q->events, i);

                if (!streq_ptr(message_event_name(m), name))
                        continue;
                if (ret_data)
                        *ret_data = event_data_ref(m);
                json_object_array_del_idx(q->events, i, 1);
                return true;
        }
        return false;
}

static int reply_result(json_object *reply, json_object **ret_return, char **ret_error_desc) {
        json_object *v;

        if (json_object_object_get_ex(reply, "return", &v)) {
                if (ret_return)
                        *ret_return = json_object_get(v);
                return 0;
        }

        if (json_object_object_get_ex(reply, "error", &v) && json_object_is_type(v, json_type_object)) {
                const char *desc = NULL;

                (void) json_get_string(v, "desc", &desc);
                if (ret_error_desc) {
                        char *d = strdup(desc ?: "QMP error without description");
                        if (!d)
                                return -ENOMEM;
                        *ret_error_desc = d;
                }
                return -EIO;
        }

        return -EBADMSG;
}

static int qmp_execute_until(Qmp *q, const char *command, json_object *arguments, int fd, uint64_t deadline,
                             json_object **ret_return, char **ret_error_desc) {
        _cleanup_(json_object_putp) json_object *request = NULL;
        char id[32];
        int r;

        if (q->error < 0)
                return q->error;

        /* Each command gets its own id, so a reply that comes after its command timed out is not taken for
         * the reply to the next one. */
        snprintf(id, sizeof(id), "cocoon-%" PRIu64, q->next_id++);
        request = json_object_new_object();
        if (!request)
                return -ENOMEM;
        r = json_add_string(request, "execute", command);
        if (r >= 0 && arguments)
                r = json_add_object(request, "arguments", json_object_get(arguments));
        if (r >= 0)
                r = json_add_string(request, "id", id);
        if (r < 0)
                return r;

        r = qmp_send(q, request, fd, deadline);
        if (r < 0)
                return r;

        for (;;) {
                _cleanup_(json_object_putp) json_object *m = NULL;
                const char *reply_id = NULL;

                r = qmp_read_message(q, deadline, &m);
                if (r < 0)
                        return r;
                if (message_event_name(m)) {
                        r = qmp_queue_event(q, TAKE_PTR(m));
                        if (r < 0)
                                return r;
                        continue;
                }
                (void) json_get_string(m, "id", &reply_id);
                if (!streq_ptr(reply_id, id)) {
                        log_debug("QMP: dropping reply for %s while waiting for %s", reply_id ?: "(no id)",
                                  id);
                        continue;
                }
                return reply_result(m, ret_return, ret_error_desc);
        }
}

int qmp_execute(Qmp *q, const char *command, json_object *arguments, uint64_t timeout_usec,
                json_object **ret_return, char **ret_error_desc) {
        assert(q);
        assert(command);

        return qmp_execute_until(q, command, arguments, -EBADF, deadline_after(timeout_usec), ret_return,
                                 ret_error_desc);
}

int qmp_execute_with_fd(Qmp *q, const char *command, json_object *arguments, int fd, uint64_t timeout_usec,
                        json_object **ret_return, char **ret_error_desc) {
        assert(q);
        assert(command);
        assert(fd >= 0);

        return qmp_execute_until(q, command, arguments, fd, deadline_after(timeout_usec), ret_return,
                                 ret_error_desc);
}

int qmp_wait_event(Qmp *q, const char *event_name, uint64_t timeout_usec, json_object **ret_data) {
        uint64_t deadline = deadline_after(timeout_usec);
        int r;

        assert(q);
        assert(event_name);

        if (qmp_take_queued_event(q, event_name, ret_data))
                return 0;

        for (;;) {
                _cleanup_(json_object_putp) json_object *m = NULL;
                const char *name;

                r = qmp_read_message(q, deadline, &m);
                if (r < 0)
                        return r;

                name = message_event_name(m);
                if (!name) {
                        log_debug("QMP: dropping a reply nobody waits for");
                        continue;
                }
                if (streq(name, event_name)) {
                        if (ret_data)
                                *ret_data = event_data_ref(m);
                        return 0;
                }
                r = qmp_queue_event(q, TAKE_PTR(m));
                if (r < 0)
                        return r;
        }
}

static int qmp_read_greeting(Qmp *q, uint64_t deadline) {
        static const char *const keys[] = {"major", "minor", "micro"};
        _cleanup_(json_object_putp) json_object *m = NULL;
        json_object *greeting, *version, *qemu;
        int r;

        r = qmp_read_message(q, deadline, &m);
        if (r < 0)
                return r;
        if (!json_object_object_get_ex(m, "QMP", &greeting) ||
            !json_object_is_type(greeting, json_type_object))
                return -EPROTO;

        /* The version is informational; fields that are missing stay 0. */
        if (json_object_object_get_ex(greeting, "version", &version) &&
            json_object_object_get_ex(version, "qemu", &qemu))
                for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                        uint64_t v;

                        if (json_get_uint64(qemu, keys[i], &v) >= 0 && v <= UINT_MAX)
                                q->version[i] = (unsigned) v;
                }

        return 0;
}

int qmp_connect(const char *socket_path, uint64_t timeout_usec, Qmp **ret) {
        uint64_t deadline = deadline_after(timeout_usec);
        _cleanup_(qmp_freep) Qmp *q = NULL;
        int r;

        assert(socket_path);
        assert(ret);

        r = qmp_new(&q);
        if (r < 0)
                return r;

        q->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (q->fd < 0)
                return negative_errno();

        r = connect_unix(q->fd, socket_path, deadline);
        if (r < 0)
                return r;

        r = qmp_read_greeting(q, deadline);
        if (r < 0)
                return r;

        /* Until capabilities are negotiated QEMU accepts no other command. */
        r = qmp_execute_until(q, "qmp_capabilities", NULL, -EBADF, deadline, NULL, NULL);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(q);
        return 0;
}

void qmp_get_version(const Qmp *q, unsigned *ret_major, unsigned *ret_minor, unsigned *ret_micro) {
        assert(q);

        if (ret_major)
                *ret_major = q->version[0];
        if (ret_minor)
                *ret_minor = q->version[1];
        if (ret_micro)
                *ret_micro = q->version[2];
}
