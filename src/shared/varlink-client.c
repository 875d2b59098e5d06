/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Varlink client: connect, and synchronous calls (single reply, more, oneway, upgrade) with a timeout. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>

#include "fd-util.h"
#include "log.h"
#include "varlink-internal.h"

int varlink_connect_address(Varlink **ret, const char *address) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        const char *p;
        int r;

        if (!ret || !address)
                return -EINVAL;
        p = strncmp(address, "unix:", 5) == 0 ? address + 5 : address;
        /* varlink addresses may carry ";mode=…" and similar for the listener */
        path = strndup(p, strcspn(p, ";"));
        if (!path)
                return -ENOMEM;
        if (path[0] != '/')
                return -EINVAL;

        fd = unix_connect(path);
        if (fd < 0)
                return fd;
        r = varlink_new(ret, fd, VARLINK_IDLE_CLIENT);
        if (r < 0)
                return r;
        TAKE_FD(fd);
        return 0;
}

int varlink_connect_fd(Varlink **ret, int fd) {
        if (!ret || fd < 0)
                return -EINVAL;
        return varlink_new(ret, fd, VARLINK_IDLE_CLIENT);
}

static int client_check_idle(Varlink *link) {
        if (!link)
                return -EINVAL;
        if (link->state == VARLINK_DISCONNECTED)
                return -ENOTCONN;
        if (link->state != VARLINK_IDLE_CLIENT)
                return -EBUSY;
        return 0;
}

/* A connection that failed mid-call is out of step with its peer; it cannot be used any more. */
static int client_fail(Varlink *link, int error) {
        log_debug_errno(error, "Varlink call failed, closing connection: %m");
        varlink_close(link);
        return error;
}

/* The pushed fds go with the first bytes of the message just queued (the queue held nothing before). */
static int client_send_fds(Varlink *link) {
        uint64_t deadline = varlink_deadline(link);

        while (link->n_output_fds > 0) {
                int r = varlink_output_write_with_fds(&link->output, link->fd, link->output_fds,
                                                      link->n_output_fds);
                if (r == -EAGAIN)
                        r = varlink_wait(link, POLLOUT, deadline);
                else if (r > 0)
                        varlink_close_fds(link->output_fds, &link->n_output_fds); /* ours are dups now */
                if (r < 0)
                        return r;
        }
        return 0;
}

static int client_send(Varlink *link, const char *method, json_object *parameters,
                       VarlinkMethodFlags flags) {
        _cleanup_(json_object_putp) json_object *m = NULL;
        int r;

        r = client_check_idle(link);
        if (r < 0)
                return r;
        if (isempty(method) || (parameters && !json_object_is_type(parameters, json_type_object)))
                return -EINVAL;

        json_object_put(link->current_reply);
        link->current_reply = NULL;
        m = json_object_new_object();
        if (!m || json_object_object_add(m, "method", json_object_new_string(method)) < 0 ||
            (parameters && json_object_object_add(m, "parameters", json_object_get(parameters)) < 0) ||
            ((flags & VARLINK_METHOD_ONEWAY) &&
             json_object_object_add(m, "oneway", json_object_new_boolean(true)) < 0) ||
            ((flags & VARLINK_METHOD_MORE) &&
             json_object_object_add(m, "more", json_object_new_boolean(true)) < 0) ||
            ((flags & VARLINK_METHOD_UPGRADE) &&
             json_object_object_add(m, "upgrade", json_object_new_boolean(true)) < 0))
                return -ENOMEM;

        r = varlink_output_append(&link->output, m);
        if (r < 0)
                return r;
        r = client_send_fds(link);
        if (r < 0)
                return client_fail(link, r);
        r = varlink_flush_blocking(link);
        if (r < 0)
                return client_fail(link, r);
        return 0;
}

/* Blocks until one complete message is buffered, the peer hangs up, or the deadline passes. With ret NULL
 * the message's bytes are handed back unparsed in ret_text/ret_size. */
static int client_read_message(Varlink *link, uint64_t deadline, json_object **ret, const char **ret_text,
                               size_t *ret_size) {
        for (;;) {
                int r = ret ? varlink_input_next(&link->input, ret) :
                              varlink_input_next_raw(&link->input, ret_text, ret_size);
                if (r > 0)
                        return 0;
                if (r < 0)
                        return -EPROTO;
                if (link->read_eof)
                        return -ECONNRESET;

                r = varlink_input_read(&link->input, link->fd);
                if (r == -EAGAIN) {
                        r = varlink_wait(link, POLLIN, deadline);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (r == -ENOBUFS)
                        return -EPROTO;
                if (r < 0)
                        return r;
                if (r == 0) {
                        link->read_eof = true;
                        if (varlink_input_has_partial(&link->input))
                                return -EPROTO;
                }
        }
}

/* Checks a reply and keeps it as the link's current reply; the pointers returned point into it. */
static int client_take_reply(Varlink *link, json_object *m, json_object **ret_parameters,
                             const char **ret_error_id, bool *ret_continues) {
        json_object *parameters = NULL, *error = NULL, *continues = NULL;

        (void) json_object_object_get_ex(m, "parameters", &parameters);
        (void) json_object_object_get_ex(m, "error", &error);
        (void) json_object_object_get_ex(m, "continues", &continues);
        if ((parameters && !json_object_is_type(parameters, json_type_object)) ||
            (error && !json_object_is_type(error, json_type_string)) ||
            (continues && !json_object_is_type(continues, json_type_boolean))) {
                json_object_put(m);
                return -EPROTO;
        }
        /* Omitted, null and {} all mean "no parameters"; callers always get an object. */
        if (!parameters) {
                parameters = json_object_new_object();
                if (!parameters || json_object_object_add(m, "parameters", parameters) < 0) {
                        json_object_put(m);
                        return -ENOMEM;
                }
        }

        json_object_put(link->current_reply);
        link->current_reply = m;
        if (ret_parameters)
                *ret_parameters = parameters;
        if (ret_error_id)
                *ret_error_id = error ? json_object_get_string(error) : NULL;
        if (ret_continues)
                *ret_continues = continues && json_object_get_boolean(continues) && !error;
        return 0;
}

static int client_receive(Varlink *link, json_object **ret_parameters, const char **ret_error_id,
                          bool *ret_continues) {
        json_object *m = NULL;
        int r;

        r = client_read_message(link, varlink_deadline(link), &m, NULL, NULL);
        if (r < 0)
                return client_fail(link, r);
        r = client_take_reply(link, m, ret_parameters, ret_error_id, ret_continues);
        if (r < 0)
                return client_fail(link, r);
        return 0;
}

int varlink_call(Varlink *link, const char *method, json_object *parameters, json_object **ret_parameters,
                 const char **ret_error_id) {
        bool continues;
        int r;

        r = client_send(link, method, parameters, 0);
        if (r < 0)
                return r;
        link->state = VARLINK_AWAITING_REPLY;
        r = client_receive(link, ret_parameters, ret_error_id, &continues);
        if (r < 0)
                return r;
        if (continues)
                return client_fail(link, -EPROTO); /* "continues" was not asked for */
        link->state = VARLINK_IDLE_CLIENT;
        return 0;
}

int varlink_call_raw(Varlink *link, const char *method, json_object *parameters, const char **ret_text,
                     size_t *ret_size) {
        int r;

        if (!ret_text || !ret_size)
                return -EINVAL;
        r = client_send(link, method, parameters, 0);
        if (r < 0)
                return r;
        link->state = VARLINK_AWAITING_REPLY;
        json_object_put(link->current_reply); /* nothing may point into the buffer's old content any more */
        link->current_reply = NULL;
        r = client_read_message(link, varlink_deadline(link), NULL, ret_text, ret_size);
        if (r < 0)
                return client_fail(link, r);
        link->state = VARLINK_IDLE_CLIENT;
        return 0;
}

int varlink_send_oneway(Varlink *link, const char *method, json_object *parameters) {
        return client_send(link, method, parameters, VARLINK_METHOD_ONEWAY);
}

int varlink_observe(Varlink *link, const char *method, json_object *parameters) {
        int r = client_send(link, method, parameters, VARLINK_METHOD_MORE);
        if (r < 0)
                return r;
        link->state = VARLINK_AWAITING_MORE;
        return 0;
}

int varlink_observe_next(Varlink *link, json_object **ret_parameters, const char **ret_error_id,
                         bool *ret_continues) {
        bool continues;
        int r;

        if (!link)
                return -EINVAL;
        if (link->state == VARLINK_DISCONNECTED)
                return -ENOTCONN;
        if (link->state != VARLINK_AWAITING_MORE)
                return -EBUSY;
        r = client_receive(link, ret_parameters, ret_error_id, &continues);
        if (r < 0)
                return r;
        if (!continues)
                link->state = VARLINK_IDLE_CLIENT;
        if (ret_continues)
                *ret_continues = continues;
        return 0;
}

int varlink_call_and_upgrade(Varlink *link, const char *method, json_object *parameters,
                             json_object **ret_parameters, const char **ret_error_id, int *ret_fd,
                             char **ret_leftover, size_t *ret_leftover_size) {
        _cleanup_free_ char *leftover = NULL;
        _cleanup_close_ int fd = -EBADF;
        const char *error_id = NULL;
        size_t leftover_size = 0;
        bool continues;
        int r;

        if (!ret_fd)
                return -EINVAL;
        r = client_send(link, method, parameters, VARLINK_METHOD_UPGRADE);
        if (r < 0)
                return r;
        link->state = VARLINK_AWAITING_REPLY;
        r = client_receive(link, ret_parameters, &error_id, &continues);
        if (r < 0)
                return r;
        if (continues)
                return client_fail(link, -EPROTO);
        link->state = VARLINK_IDLE_CLIENT;
        if (ret_error_id)
                *ret_error_id = error_id;
        if (error_id) {
                /* Refused: no upgrade happened, the connection still speaks Varlink. */
                *ret_fd = -EBADF;
                if (ret_leftover)
                        *ret_leftover = NULL;
                if (ret_leftover_size)
                        *ret_leftover_size = 0;
                return 0;
        }

        /* Whatever the server sent right after its reply already belongs to the raw stream. */
        r = varlink_input_take_rest(&link->input, &leftover, &leftover_size);
        if (r < 0)
                return client_fail(link, r);
        fd = fcntl(link->fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return client_fail(link, negative_errno());
        varlink_close(link);
        r = fd_nonblock(fd, false);
        if (r < 0)
                return r;

        *ret_fd = TAKE_FD(fd);
        if (ret_leftover)
                *ret_leftover = TAKE_PTR(leftover);
        if (ret_leftover_size)
                *ret_leftover_size = leftover_size;
        return 0;
}
