/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Varlink connections: object lifetime, peer credentials, blocking flush, and the server-side replies. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "fd-util.h"
#include "log.h"
#include "varlink-internal.h"

/* The peer's supplementary groups as the kernel recorded them at connect(): what the process really had,
 * not what the user database says it could have. */
static int peer_groups(int fd, gid_t **ret, size_t *ret_n) {
        _cleanup_free_ gid_t *groups = NULL;
        socklen_t size = 64 * sizeof(gid_t);

        for (unsigned attempt = 0; attempt < 2; attempt++) {
                free(groups);
                groups = malloc(MAX(size, (socklen_t) sizeof(gid_t)));
                if (!groups)
                        return -ENOMEM;
                if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &size) >= 0) {
                        *ret_n = size / sizeof(gid_t);
                        *ret = TAKE_PTR(groups);
                        return 0;
                }
                if (errno != ERANGE)
                        return negative_errno();
                /* too small: the kernel said how much it needs */
        }
        return -ERANGE;
}

int varlink_new(Varlink **ret, int fd, VarlinkState state) {
        Varlink *link;
        socklen_t l;
        int r;

        if (fd < 0)
                return -EBADF;
        r = fd_nonblock(fd, true);
        if (r < 0)
                return r;

        link = calloc(1, sizeof(Varlink));
        if (!link)
                return -ENOMEM;
        link->n_ref = 1;
        link->fd = fd;
        link->state = state;
        link->timeout_usec = VARLINK_DEFAULT_TIMEOUT_USEC;

        /* Taken once, at connect/accept time: that is who opened the connection. */
        l = sizeof(link->ucred);
        link->ucred_valid =
                getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &link->ucred, &l) >= 0 && l == sizeof(link->ucred);
        r = peer_groups(fd, &link->peer_groups, &link->n_peer_groups);
        if (r == -ENOMEM) {
                free(link);
                return r;
        }
        link->peer_groups_valid = r >= 0;
        *ret = link;
        return 0;
}

Varlink *varlink_ref(Varlink *link) {
        if (link)
                link->n_ref++;
        return link;
}

void varlink_close_fds(int *fds, size_t *n) {
        for (size_t i = 0; i < *n; i++)
                fds[i] = safe_close(fds[i]);
        *n = 0;
}

void varlink_release_call(Varlink *link) {
        varlink_close_fds(link->call_fds, &link->n_call_fds);
        json_object_put(link->current_call);
        link->current_call = NULL;
        link->current_method = NULL;
        link->current_flags = 0;
        link->current_interface = NULL;
        link->current_symbol = NULL;
}

static void varlink_free(Varlink *link) {
        varlink_close_fds(link->input_fds, &link->n_input_fds);
        varlink_close_fds(link->output_fds, &link->n_output_fds);
        link->io_event_source = sd_event_source_disable_unref(link->io_event_source);
        link->fd = safe_close(link->fd);
        varlink_input_done(&link->input);
        varlink_output_done(&link->output);
        varlink_release_call(link);
        json_object_put(link->current_reply);
        free(link->peer_groups);
        free(link);
}

Varlink *varlink_unref(Varlink *link) {
        if (!link)
                return NULL;
        if (--link->n_ref > 0)
                return NULL;
        varlink_free(link);
        return NULL;
}

int varlink_close(Varlink *link) {
        if (!link)
                return -EINVAL;
        if (link->state == VARLINK_DISCONNECTED)
                return 0;

        /* The server's reference may be the last one; keep the object alive until we are done with it. */
        varlink_ref(link);
        link->state = VARLINK_DISCONNECTED;
        link->io_event_source = sd_event_source_disable_unref(link->io_event_source);
        link->fd = safe_close(link->fd);
        varlink_input_done(&link->input);
        varlink_output_done(&link->output);
        varlink_release_call(link);
        varlink_close_fds(link->input_fds, &link->n_input_fds);
        varlink_close_fds(link->output_fds, &link->n_output_fds);
        if (link->server)
                varlink_server_detach_connection(link->server, link);
        if (link->upgrade_callback) {
                /* Closed before the upgrade reply was out: the socket is nobody's now. */
                VarlinkUpgradeCallback callback = TAKE_PTR(link->upgrade_callback);
                callback(-EBADF, -ECONNRESET, TAKE_PTR(link->upgrade_userdata));
        }
        varlink_unref(link);
        return 0;
}

int varlink_get_peer_uid(Varlink *link, uid_t *ret) {
        if (!link || !ret)
                return -EINVAL;
        if (!link->ucred_valid)
                return -ENODATA;
        *ret = link->ucred.uid;
        return 0;
}

int varlink_get_peer_gid(Varlink *link, gid_t *ret) {
        if (!link || !ret)
                return -EINVAL;
        if (!link->ucred_valid)
                return -ENODATA;
        *ret = link->ucred.gid;
        return 0;
}

int varlink_get_peer_groups(Varlink *link, const gid_t **ret, size_t *ret_n) {
        if (!link || !ret || !ret_n)
                return -EINVAL;
        if (!link->peer_groups_valid)
                return -ENODATA;
        *ret = link->peer_groups;
        *ret_n = link->n_peer_groups;
        return 0;
}

int varlink_get_peer_pid(Varlink *link, pid_t *ret) {
        if (!link || !ret)
                return -EINVAL;
        if (!link->ucred_valid || link->ucred.pid <= 0)
                return -ENODATA;
        *ret = link->ucred.pid;
        return 0;
}

void *varlink_set_userdata(Varlink *link, void *userdata) {
        void *old;

        if (!link)
                return NULL;
        old = link->userdata;
        link->userdata = userdata;
        return old;
}

void *varlink_get_userdata(Varlink *link) {
        return link ? link->userdata : NULL;
}

VarlinkServer *varlink_get_server(Varlink *link) {
        return link ? link->server : NULL;
}

int varlink_get_fd(Varlink *link) {
        return link ? link->fd : -EINVAL;
}

const char *varlink_get_current_method(Varlink *link) {
        return link && link->state == VARLINK_PROCESSING ? link->current_method : NULL;
}

int varlink_set_relative_timeout(Varlink *link, uint64_t usec) {
        if (!link)
                return -EINVAL;
        link->timeout_usec = usec == 0 ? VARLINK_DEFAULT_TIMEOUT_USEC : usec;
        return 0;
}

int varlink_update_events(Varlink *link) {
        uint32_t events = 0;

        varlink_server_account_output(link);
        if (!link->io_event_source)
                return 0;
        /* Input is read only between calls, and only while the replies already queued for this peer (and
         * its UID) are below the bound: calls are served strictly one after the other, so a peer that
         * pipelines many calls without reading the replies is held back by its socket buffer rather than
         * by our memory. Hangups are reported by epoll regardless. */
        if (link->state == VARLINK_IDLE_SERVER && !link->read_eof && varlink_server_may_dispatch(link))
                events |= EPOLLIN;
        if (varlink_output_pending(&link->output))
                events |= EPOLLOUT;
        return sd_event_source_set_io_events(link->io_event_source, events);
}

int varlink_enqueue(Varlink *link, json_object *message) {
        int r;

        r = varlink_output_append(&link->output, message);
        if (r < 0)
                return r;
        return varlink_update_events(link);
}

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}

/* poll() timeout in ms until `deadline` (UINT64_MAX: forever). */
static int poll_timeout(uint64_t deadline) {
        uint64_t n;

        if (deadline == UINT64_MAX)
                return -1;
        n = now_usec();
        if (n >= deadline)
                return 0;
        return (int) MIN((deadline - n + 999) / 1000, (uint64_t) INT32_MAX);
}

uint64_t varlink_deadline(Varlink *link) {
        if (link->timeout_usec == UINT64_MAX)
                return UINT64_MAX;
        return now_usec() + link->timeout_usec;
}

int varlink_wait(Varlink *link, short events, uint64_t deadline) {
        struct pollfd p = { .fd = link->fd, .events = events };
        int r;

        r = poll(&p, 1, poll_timeout(deadline));
        if (r < 0)
                return errno == EINTR ? 0 : negative_errno();
        if (r == 0)
                return -ETIMEDOUT;
        return 0;
}

int varlink_flush(Varlink *link) {
        if (!link)
                return -EINVAL;
        if (link->state == VARLINK_DISCONNECTED)
                return -ENOTCONN;
        return varlink_flush_blocking(link);
}

int varlink_flush_blocking(Varlink *link) {
        uint64_t deadline = varlink_deadline(link);

        while (varlink_output_pending(&link->output)) {
                int r = varlink_output_write(&link->output, link->fd);
                if (r == -EAGAIN)
                        r = varlink_wait(link, POLLOUT, deadline);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- file descriptors ---- */

size_t varlink_get_n_fds(Varlink *link) {
        return link && link->state == VARLINK_PROCESSING ? link->n_call_fds : 0;
}

int varlink_peek_fd(Varlink *link, size_t index) {
        if (!link)
                return -EINVAL;
        if (link->state != VARLINK_PROCESSING || index >= link->n_call_fds)
                return -ENXIO;
        return link->call_fds[index] >= 0 ? link->call_fds[index] : -EBADF;
}

int varlink_take_fd(Varlink *link, size_t index) {
        int fd = varlink_peek_fd(link, index);

        if (fd >= 0)
                link->call_fds[index] = -EBADF;
        return fd;
}

int varlink_push_fd(Varlink *link, int fd) {
        if (!link || fd < 0) {
                safe_close(fd);
                return -EINVAL;
        }
        if (link->n_output_fds >= VARLINK_FDS_PER_MESSAGE_MAX) {
                safe_close(fd);
                return -ENOBUFS;
        }
        link->output_fds[link->n_output_fds] = fd;
        return (int) link->n_output_fds++;
}

/* ---- server side replies ---- */

static int reply_check(Varlink *link) {
        if (!link)
                return -EINVAL;
        if (link->state == VARLINK_DISCONNECTED)
                return -ENOTCONN;
        if (link->state != VARLINK_PROCESSING)
                return -EBUSY; /* no call is waiting for a reply */
        return 0;
}

/* Replies are only queued here; the event loop writes them. So a failing peer never runs the disconnect
 * callback from inside a handler's varlink_reply()/varlink_notify() (e.g. while it walks a subscriber list).
 */
static int send_reply(Varlink *link, json_object *parameters, bool continues, const char *error_id) {
        _cleanup_(json_object_putp) json_object *m = NULL;
        int r;

        r = reply_check(link);
        if (r < 0)
                return r;
        if (link->current_flags & VARLINK_METHOD_ONEWAY) {
                /* Nothing is sent, but the call is answered: the connection takes the next one, also one
                 * already buffered (no I/O event would bring it). */
                varlink_release_call(link);
                link->state = VARLINK_IDLE_SERVER;
                r = varlink_update_events(link);
                varlink_server_schedule_dispatch(link); /* after: that recomputes the throttling */
                return r;
        }

        m = json_object_new_object();
        if (!m)
                return -ENOMEM;
        if (error_id && json_object_object_add(m, "error", json_object_new_string(error_id)) < 0)
                return -ENOMEM;
        if (parameters && json_object_object_add(m, "parameters", json_object_get(parameters)) < 0)
                return -ENOMEM;
        if (continues && json_object_object_add(m, "continues", json_object_new_boolean(true)) < 0)
                return -ENOMEM;

        /* Only when debugging: on a large reply (List of 10,000 VMs) the walk costs more than building it. */
        if (log_get_max_level() >= LOG_DEBUG && !error_id && parameters && link->current_symbol &&
            link->current_interface) {
                const char *bad = NULL;

                /* Our own replies should match our declarations; say so for the developer, send anyway. */
                if (varlink_idl_validate_fields(link->current_interface, link->current_symbol->output,
                                                parameters, &bad) < 0)
                        log_debug("Reply to %s does not match its declaration (field '%s').",
                                  link->current_method, bad ?: "?");
        }

        r = varlink_output_append(&link->output, m);
        if (r < 0)
                return r;
        if (!continues) {
                /* After a successful reply to an upgrade call the connection is no longer Varlink. */
                bool upgrade = !error_id && (link->current_flags & VARLINK_METHOD_UPGRADE);

                varlink_release_call(link);
                link->state = upgrade ? VARLINK_CLOSING : VARLINK_IDLE_SERVER;
        }
        return varlink_update_events(link);
}

int varlink_reply(Varlink *link, json_object *parameters) {
        return send_reply(link, parameters, false, NULL);
}

size_t varlink_get_output_queued(Varlink *link) {
        return link->output.end - link->output.start;
}

int varlink_notify(Varlink *link, json_object *parameters) {
        int r = reply_check(link);
        if (r < 0)
                return r;
        if (link->current_flags & VARLINK_METHOD_ONEWAY)
                return 0;
        if (!(link->current_flags & VARLINK_METHOD_MORE))
                return -EINVAL; /* the caller did not ask for more than one reply */
        return send_reply(link, parameters, true, NULL);
}

int varlink_error(Varlink *link, const char *error_id, json_object *parameters) {
        if (isempty(error_id))
                return -EINVAL;
        return send_reply(link, parameters, false, error_id);
}

static int error_with_string(Varlink *link, const char *error_id, const char *key, const char *value) {
        _cleanup_(json_object_putp) json_object *p = json_object_new_object();

        if (!p || json_object_object_add(p, key, json_object_new_string(value ?: "")) < 0)
                return -ENOMEM;
        return varlink_error(link, error_id, p);
}

int varlink_error_invalid_parameter(Varlink *link, const char *parameter) {
        return error_with_string(link, VARLINK_ERROR_INVALID_PARAMETER, "parameter", parameter);
}

int varlink_error_field(Varlink *link, const char *error_id, const char *field, const char *message) {
        _cleanup_(json_object_putp) json_object *p = json_object_new_object();

        /* A NULL field or message is left out. */
        if (!p || json_add_string(p, "field", field) < 0 || json_add_string(p, "message", message) < 0)
                return -ENOMEM;
        return varlink_error(link, error_id, p);
}

int varlink_errorf(Varlink *link, const char *error_id, const char *format, ...) {
        _cleanup_free_ char *message = NULL;
        va_list ap;
        int r;

        va_start(ap, format);
        r = vasprintf(&message, format, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        return error_with_string(link, error_id, "message", message);
}

int varlink_error_errno(Varlink *link, int error) {
        _cleanup_(json_object_putp) json_object *p = NULL;
        const char *name, *message;

        error = error < 0 ? -error : error;
        if (error == 0)
                error = EIO;
        name = strerrorname_np(error);
        message = strerrordesc_np(error);

        p = json_object_new_object();
        if (!p || json_object_object_add(p, "origin", json_object_new_string("linux")) < 0 ||
            json_object_object_add(p, "errno", json_object_new_int(error)) < 0 ||
            (name && json_object_object_add(p, "errnoName", json_object_new_string(name)) < 0) ||
            (message && json_object_object_add(p, "message", json_object_new_string(message)) < 0))
                return -ENOMEM;
        return varlink_error(link, VARLINK_ERROR_SYSTEM, p);
}

int varlink_reply_and_upgrade(Varlink *link, json_object *parameters, VarlinkUpgradeCallback callback,
                              void *userdata) {
        int r;

        r = reply_check(link);
        if (r < 0)
                return r;
        if (!callback || !(link->current_flags & VARLINK_METHOD_UPGRADE))
                return -EINVAL;

        r = send_reply(link, parameters, false, NULL);
        if (r < 0)
                return r;
        /* Nobody may write raw bytes to the socket before the reply is on the wire: the loop writes it
         * (EPOLLOUT is armed), then varlink_finish_upgrade() hands the socket over. */
        link->state = VARLINK_UPGRADING;
        link->upgrade_callback = callback;
        link->upgrade_userdata = userdata;
        return varlink_update_events(link);
}

int varlink_finish_upgrade(Varlink *link) {
        VarlinkUpgradeCallback callback = link->upgrade_callback;
        void *userdata = link->upgrade_userdata;
        int fd, r = 0;

        assert(link->state == VARLINK_UPGRADING && !varlink_output_pending(&link->output));
        link->upgrade_callback = NULL;
        link->upgrade_userdata = NULL;
        fd = fcntl(link->fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                r = negative_errno();
        varlink_close(link);
        callback(fd < 0 ? -EBADF : fd, r, userdata);
        return r;
}
