/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Varlink server connections at work: read, cut, check and dispatch calls one at a time, write replies. */
#include <errno.h>
#include <string.h>

#include "log.h"
#include "varlink-internal.h"
#include "varlink-org-varlink-service.h"

/* Reads the call header. Anything malformed here is a protocol violation: the peer is not speaking Varlink.
 */
static int parse_call(json_object *call, const char **ret_method, json_object **ret_parameters,
                      VarlinkMethodFlags *ret_flags) {
        static const struct {
                const char *key;
                VarlinkMethodFlags flag;
        } flag_keys[] = {
                { "oneway", VARLINK_METHOD_ONEWAY },
                { "more", VARLINK_METHOD_MORE },
                { "upgrade", VARLINK_METHOD_UPGRADE },
        };
        VarlinkMethodFlags flags = 0;
        json_object *v;

        if (!json_object_object_get_ex(call, "method", &v) || !json_object_is_type(v, json_type_string))
                return -EBADMSG;
        *ret_method = json_object_get_string(v);

        if (json_object_object_get_ex(call, "parameters", &v) && v &&
            !json_object_is_type(v, json_type_object))
                return -EBADMSG;
        *ret_parameters = v;

        for (size_t i = 0; i < ELEMENTSOF(flag_keys); i++) {
                if (!json_object_object_get_ex(call, flag_keys[i].key, &v) || !v)
                        continue;
                if (!json_object_is_type(v, json_type_boolean))
                        return -EBADMSG;
                if (json_object_get_boolean(v))
                        flags |= flag_keys[i].flag;
        }
        /* A call that wants no reply cannot want several replies or an upgrade after the reply. */
        if ((flags & VARLINK_METHOD_ONEWAY) && (flags & (VARLINK_METHOD_MORE | VARLINK_METHOD_UPGRADE)))
                return -EBADMSG;
        *ret_flags = flags;
        return 0;
}

static int error_naming(Varlink *link, const char *error_id, const char *key, const char *value) {
        _cleanup_(json_object_putp) json_object *p = json_object_new_object();

        if (!p || json_object_object_add(p, key, json_object_new_string(value)) < 0)
                return -ENOMEM;
        return varlink_error(link, error_id, p);
}

/* Looks the method up, checks access, flags and parameters, and runs its handler. */
static int dispatch_method(VarlinkServer *server, Varlink *link, json_object *parameters) {
        const char *method = link->current_method, *dot = strrchr(method, '.'), *bad = NULL;
        _cleanup_(json_object_putp) json_object *empty = NULL;
        _cleanup_free_ char *iface_name = NULL;
        const VarlinkInterface *iface;
        const VarlinkSymbol *symbol;
        VarlinkMethod callback = NULL;
        int r;

        if (!dot || dot == method)
                return error_naming(link, VARLINK_ERROR_METHOD_NOT_FOUND, "method", method);
        iface_name = strndup(method, (size_t) (dot - method));
        if (!iface_name)
                return -ENOMEM;
        iface = varlink_server_find_interface(server, iface_name);
        if (!iface)
                return error_naming(link, VARLINK_ERROR_INTERFACE_NOT_FOUND, "interface", iface_name);
        symbol = varlink_idl_find_symbol(iface, VARLINK_SYMBOL_METHOD, dot + 1);
        if (!symbol)
                return error_naming(link, VARLINK_ERROR_METHOD_NOT_FOUND, "method", method);
        for (size_t i = 0; i < server->n_bindings && !callback; i++)
                if (streq(server->bindings[i].method, method))
                        callback = server->bindings[i].callback;
        if (!callback)
                return error_naming(link, VARLINK_ERROR_METHOD_NOT_IMPLEMENTED, "method", method);

        link->current_interface = iface;
        link->current_symbol = symbol;

        /* Introspection stays open to everyone, so a refused caller can still find out what exists. */
        if (server->access_check && iface != &vl_interface_org_varlink_service) {
                r = server->access_check(link, method, server->userdata);
                if (r != 0)
                        return r;
        }
        if ((symbol->flags & VARLINK_REQUIRES_MORE) && !(link->current_flags & VARLINK_METHOD_MORE))
                return varlink_error(link, VARLINK_ERROR_EXPECTED_MORE, NULL);
        if (varlink_idl_validate_fields(iface, symbol->input, parameters, &bad) < 0)
                return varlink_error_invalid_parameter(link, bad);

        if (!parameters) {
                parameters = empty = json_object_new_object();
                if (!parameters)
                        return -ENOMEM;
        }
        return callback(link, parameters, link->current_flags, server->userdata);
}

int varlink_server_dispatch_call(VarlinkServer *server, Varlink *link, json_object *call) {
        json_object *parameters;
        VarlinkMethodFlags flags;
        const char *method;
        int r;

        r = parse_call(call, &method, &parameters, &flags);
        if (r < 0) {
                json_object_put(call);
                return r;
        }
        link->current_call = call;
        link->current_method = method;
        link->current_flags = flags;
        link->state = VARLINK_PROCESSING;
        /* The fds that came with this message's first bytes are the call's now. */
        memcpy(link->call_fds, link->input_fds, link->n_input_fds * sizeof(int));
        link->n_call_fds = link->n_input_fds;
        link->n_input_fds = 0;

        /* No further input is looked at until this call is finished, so a connection still PROCESSING after
         * the handler returned is still on this very call. */
        unsigned n_ref = link->n_ref;
        r = dispatch_method(server, link, parameters);
        if (r < 0 && link->state == VARLINK_PROCESSING) {
                log_debug_errno(r, "Varlink method %s failed: %m", method);
                r = varlink_error_errno(link, r);
                if (r < 0)
                        return r;
        }
        /* A oneway call is done when its handler returns, unless the handler kept the link to answer later
         * (as the manager's jobs do): then, like any call, it holds the connection until that answer, which
         * is dropped (varlink_reply() finishes it). Done now, its late answer would be taken as the reply to
         * whichever call came next. */
        if ((flags & VARLINK_METHOD_ONEWAY) && link->state == VARLINK_PROCESSING && link->n_ref <= n_ref) {
                varlink_release_call(link);
                link->state = VARLINK_IDLE_SERVER;
        }
        return 0;
}

/* Writes what the socket takes now. -EAGAIN is not an error: EPOLLOUT brings us back. */
static int write_some(Varlink *link) {
        while (varlink_output_pending(&link->output)) {
                int r = varlink_output_write(&link->output, link->fd);
                if (r == -EAGAIN)
                        return 0;
                if (r < 0)
                        return r;
        }
        return 0;
}

/* One read; with fd passing on, the fds that came along are kept for the message they start. */
static int read_input(Varlink *link) {
        int fds[VARLINK_FDS_PER_MESSAGE_MAX];
        size_t n_fds = 0;
        bool message_start;
        int r;

        if (!link->allow_fd_input)
                return varlink_input_read(&link->input, link->fd);

        message_start = !varlink_input_has_partial(&link->input) && link->n_input_fds == 0;
        r = varlink_input_read_with_fds(&link->input, link->fd, fds, ELEMENTSOF(fds), &n_fds);
        if (r <= 0 || n_fds == 0)
                return r;
        /* As sd-varlink: fds belong to the first byte of a message, and a message brings one batch. */
        if (!message_start) {
                varlink_close_fds(fds, &n_fds);
                return log_debug_errno(-EPROTO, "Varlink peer sent file descriptors inside a message.");
        }
        memcpy(link->input_fds, fds, n_fds * sizeof(int));
        link->n_input_fds = n_fds;
        return r;
}

/* Serves buffered calls while idle; reads at most once per wakeup so one busy peer cannot starve others. */
static int read_and_dispatch(Varlink *link) {
        bool did_read = false;
        int r;

        while (link->state == VARLINK_IDLE_SERVER) {
                json_object *call = NULL;

                /* Unread replies pile up: take no further call until they drained. */
                if (!varlink_server_may_dispatch(link))
                        break;

                r = varlink_input_next(&link->input, &call);
                if (r < 0)
                        return log_debug_errno(r, "Invalid Varlink message from peer, disconnecting: %m");
                if (r > 0) {
                        r = varlink_server_dispatch_call(link->server, link, call);
                        if (r < 0)
                                return log_debug_errno(r,
                                                       "Invalid Varlink call from peer, disconnecting: %m");
                        continue;
                }
                if (link->read_eof) {
                        /* Every complete call is served: what is left can never become one. */
                        if (varlink_input_has_partial(&link->input))
                                return log_debug_errno(-EBADMSG, "Varlink peer sent a truncated message.");
                        break;
                }
                if (did_read)
                        break;

                r = read_input(link);
                did_read = true;
                if (r == -EAGAIN)
                        break;
                if (r < 0)
                        return log_debug_errno(r, "Failed to read from Varlink peer: %m");
                if (r == 0)
                        link->read_eof = true;
        }
        return 0;
}

int varlink_process_server(Varlink *link) {
        int r;

        if (link->state == VARLINK_DISCONNECTED || !link->server)
                return 0;

        r = write_some(link);
        if (r >= 0) {
                r = read_and_dispatch(link);
                /* Also when a bad message ends the connection: the calls before it were accepted, their
                 * replies go out first (as far as the socket takes them now). */
                if (link->state != VARLINK_DISCONNECTED) {
                        int k = write_some(link);
                        if (r >= 0)
                                r = k;
                }
        }
        if (r < 0) {
                varlink_close(link);
                return r;
        }
        if (link->state == VARLINK_DISCONNECTED)
                return 0;

        /* Done after the final reply to an upgrade call: the socket leaves Varlink, to the handler that
         * took it over, or closed. */
        if (link->state == VARLINK_UPGRADING && !varlink_output_pending(&link->output))
                return varlink_finish_upgrade(link);
        if (link->state == VARLINK_CLOSING && !varlink_output_pending(&link->output))
                return varlink_close(link);
        /* The peer finished sending and has all our replies (calls held back while its replies drained
         * are still to be served). */
        if (link->state == VARLINK_IDLE_SERVER && link->read_eof && !varlink_output_pending(&link->output) &&
            !varlink_input_has_partial(&link->input))
                return varlink_close(link);
        /* The peer is gone entirely: nothing we could still send would arrive. A peer that only shut down
         * its sending side still gets the replies to its calls. */
        if (link->got_pollhup && (link->state != VARLINK_IDLE_SERVER || link->read_eof))
                return varlink_close(link);

        return varlink_update_events(link);
}
