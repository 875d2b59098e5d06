/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Varlink server: listening sockets, accepting with per-UID and total caps, and the sd-event I/O path. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include "config.h"
#include "fd-util.h"
#include "log.h"
#include "varlink-internal.h"
#include "varlink-org-varlink-service.h"

int varlink_server_new(VarlinkServer **ret) {
        _cleanup_(varlink_server_unrefp) VarlinkServer *s = NULL;
        int r;

        if (!ret)
                return -EINVAL;
        s = calloc(1, sizeof(VarlinkServer));
        if (!s)
                return -ENOMEM;
        s->n_ref = 1;
        s->connections_max = VARLINK_CONNECTIONS_MAX;
        s->connections_per_uid_max = VARLINK_CONNECTIONS_PER_UID_MAX;
        s->output_per_connection_max = VARLINK_OUTPUT_PER_CONNECTION_MAX;
        s->output_per_uid_max = VARLINK_OUTPUT_PER_UID_MAX;

        r = varlink_server_set_info(s, "cocoon", program_invocation_short_name, COCOON_VERSION, "");
        if (r < 0)
                return r;
        r = varlink_server_add_interface(s, &vl_interface_org_varlink_service);
        if (r < 0)
                return r;
        r = varlink_server_bind_method(s, "org.varlink.service.GetInfo", vl_method_get_info);
        if (r < 0)
                return r;
        r = varlink_server_bind_method(s, "org.varlink.service.GetInterfaceDescription",
                                       vl_method_get_interface_description);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(s);
        return 0;
}

VarlinkServer *varlink_server_ref(VarlinkServer *server) {
        if (server)
                server->n_ref++;
        return server;
}

static void varlink_server_free(VarlinkServer *s) {
        /* Replies already queued go out if the socket takes them now (no waiting); closing runs the
         * disconnect callbacks, so owners see every connection go. */
        for (Varlink *l = s->connections; l; l = l->server_next)
                (void) varlink_output_write(&l->output, l->fd);
        while (s->connections)
                varlink_close(s->connections);
        (void) varlink_server_detach_event(s);
        for (size_t i = 0; i < s->n_listeners; i++)
                safe_close(s->listeners[i].fd);
        free(s->listeners);
        free(s->uids);
        free(s->interfaces);
        for (size_t i = 0; i < s->n_bindings; i++)
                free(s->bindings[i].method);
        free(s->bindings);
        free(s->vendor);
        free(s->product);
        free(s->version);
        free(s->url);
        free(s);
}

VarlinkServer *varlink_server_unref(VarlinkServer *server) {
        if (!server)
                return NULL;
        if (--server->n_ref > 0)
                return NULL;
        varlink_server_free(server);
        return NULL;
}

static int replace_string(char **p, const char *s) {
        char *n = strdup(s ?: "");

        if (!n)
                return -ENOMEM;
        free(*p);
        *p = n;
        return 0;
}

int varlink_server_set_info(VarlinkServer *server, const char *vendor, const char *product,
                            const char *version, const char *url) {
        if (!server)
                return -EINVAL;
        if (replace_string(&server->vendor, vendor) < 0 || replace_string(&server->product, product) < 0 ||
            replace_string(&server->version, version) < 0 || replace_string(&server->url, url) < 0)
                return -ENOMEM;
        return 0;
}

void *varlink_server_set_userdata(VarlinkServer *server, void *userdata) {
        void *old;

        if (!server)
                return NULL;
        old = server->userdata;
        server->userdata = userdata;
        return old;
}

void *varlink_server_get_userdata(VarlinkServer *server) {
        return server ? server->userdata : NULL;
}

const VarlinkInterface *varlink_server_find_interface(VarlinkServer *server, const char *name) {
        for (size_t i = 0; i < server->n_interfaces; i++)
                if (streq(server->interfaces[i]->name, name))
                        return server->interfaces[i];
        return NULL;
}

int varlink_server_add_interface(VarlinkServer *server, const VarlinkInterface *interface) {
        const VarlinkInterface **a;
        int r;

        if (!server || !interface)
                return -EINVAL;
        r = varlink_idl_verify(interface);
        if (r < 0)
                return log_debug_errno(r, "Varlink interface %s is inconsistent: %m",
                                       interface->name ?: "(null)");
        if (varlink_server_find_interface(server, interface->name))
                return -EEXIST;
        a = realloc(server->interfaces, (server->n_interfaces + 1) * sizeof(*a));
        if (!a)
                return -ENOMEM;
        a[server->n_interfaces++] = interface;
        server->interfaces = a;
        return 0;
}

static VarlinkBinding *find_binding(VarlinkServer *server, const char *method) {
        for (size_t i = 0; i < server->n_bindings; i++)
                if (streq(server->bindings[i].method, method))
                        return &server->bindings[i];
        return NULL;
}

/* Splits "a.b.Method" into its interface and the method's symbol; NULL when either is unknown. */
static const VarlinkSymbol *find_method(VarlinkServer *server, const char *method,
                                        const VarlinkInterface **ret_interface) {
        const char *dot = strrchr(method, '.');
        _cleanup_free_ char *name = NULL;
        const VarlinkInterface *iface;

        *ret_interface = NULL;
        if (!dot)
                return NULL;
        name = strndup(method, (size_t) (dot - method));
        if (!name)
                return NULL;
        iface = varlink_server_find_interface(server, name);
        *ret_interface = iface;
        return iface ? varlink_idl_find_symbol(iface, VARLINK_SYMBOL_METHOD, dot + 1) : NULL;
}

int varlink_server_bind_method(VarlinkServer *server, const char *method, VarlinkMethod callback) {
        const VarlinkInterface *iface;
        VarlinkBinding *b;
        char *m;

        if (!server || !method || !callback)
                return -EINVAL;
        if (!find_method(server, method, &iface))
                return -ENOENT;
        if (find_binding(server, method))
                return -EEXIST;
        m = strdup(method);
        if (!m)
                return -ENOMEM;
        b = realloc(server->bindings, (server->n_bindings + 1) * sizeof(*b));
        if (!b) {
                free(m);
                return -ENOMEM;
        }
        b[server->n_bindings++] = (VarlinkBinding){ .method = m, .callback = callback };
        server->bindings = b;
        return 0;
}

int varlink_server_bind_connect(VarlinkServer *server, VarlinkConnect callback) {
        if (!server)
                return -EINVAL;
        server->on_connect = callback;
        return 0;
}

int varlink_server_bind_disconnect(VarlinkServer *server, VarlinkDisconnect callback) {
        if (!server)
                return -EINVAL;
        server->on_disconnect = callback;
        return 0;
}

int varlink_server_set_access_check(VarlinkServer *server, VarlinkAccessCheck callback) {
        if (!server)
                return -EINVAL;
        server->access_check = callback;
        return 0;
}

int varlink_server_set_connections_max(VarlinkServer *server, unsigned max) {
        if (!server || max == 0)
                return -EINVAL;
        server->connections_max = max;
        return 0;
}

int varlink_server_set_connections_per_uid_max(VarlinkServer *server, unsigned max) {
        if (!server || max == 0)
                return -EINVAL;
        server->connections_per_uid_max = max;
        return 0;
}

int varlink_server_set_allow_fd_passing_input(VarlinkServer *server, bool allow) {
        if (!server)
                return -EINVAL;
        server->allow_fd_input = allow;
        return 0;
}

int varlink_server_set_output_max(VarlinkServer *server, size_t per_connection, size_t per_uid) {
        if (!server)
                return -EINVAL;
        if (per_connection > 0)
                server->output_per_connection_max = per_connection;
        if (per_uid > 0)
                server->output_per_uid_max = per_uid;
        return 0;
}

unsigned varlink_server_current_connections(VarlinkServer *server) {
        return server ? server->n_connections : 0;
}

/* ---- per-UID accounting ---- */

static UidCount *uid_find(VarlinkServer *s, uid_t uid) {
        for (size_t i = 0; i < s->n_uids; i++)
                if (s->uids[i].uid == uid)
                        return &s->uids[i];
        return NULL;
}

static int uid_inc(VarlinkServer *s, uid_t uid) {
        UidCount *c = uid_find(s, uid), *a;

        if (c) {
                if (c->count >= s->connections_per_uid_max)
                        return -EDQUOT;
                c->count++;
                return 0;
        }
        a = realloc(s->uids, (s->n_uids + 1) * sizeof(UidCount));
        if (!a)
                return -ENOMEM;
        s->uids = a;
        s->uids[s->n_uids++] = (UidCount){ .uid = uid, .count = 1 };
        return 0;
}

static void uid_dec(VarlinkServer *s, uid_t uid) {
        UidCount *c = uid_find(s, uid);

        if (!c)
                return;
        if (--c->count == 0)
                *c = s->uids[--s->n_uids];
}

size_t varlink_server_buffered_output(VarlinkServer *server, uid_t uid) {
        UidCount *c;

        if (!server)
                return 0;
        c = uid_find(server, uid);
        return c ? c->output : 0;
}

/* ---- unsent output: throttling connections whose peers do not read ---- */

static int resume_handler(sd_event_source *source, void *userdata) {
        VarlinkServer *s = userdata;

        /* Serving one connection may close others (disconnect callbacks): look the list up afresh each
         * time. A connection served is no longer throttled unless it filled its queue again, so each is
         * visited about once; the count is only a backstop. */
        for (unsigned n = s->n_connections; n > 0; n--) {
                Varlink *l;

                for (l = s->connections; l; l = l->server_next)
                        if (l->throttled && varlink_server_may_dispatch(l))
                                break;
                if (!l)
                        return 0;
                l->throttled = false;
                varlink_ref(l);
                (void) varlink_process_server(l);
                varlink_unref(l);
        }
        return 0;
}

/* A connection throttled only by its UID's total gets no I/O event when another connection drains it:
 * serve such connections from a one-shot event. */
static void schedule_resume(VarlinkServer *s) {
        if (!s->event)
                return;
        if (!s->resume_event_source) {
                if (sd_event_add_defer(s->event, &s->resume_event_source, resume_handler, s) < 0)
                        return; /* they are served again on their next I/O event */
                (void) sd_event_source_set_priority(s->resume_event_source, s->priority);
                (void) sd_event_source_set_description(s->resume_event_source, "varlink-resume");
        }
        (void) sd_event_source_set_enabled(s->resume_event_source, SD_EVENT_ONESHOT);
}

void varlink_server_schedule_dispatch(Varlink *link) {
        if (!link->server)
                return;
        link->throttled = true; /* what the resume event serves */
        schedule_resume(link->server);
}

static void uid_output_update(VarlinkServer *s, Varlink *link, size_t now) {
        UidCount *c = link->ucred_valid ? uid_find(s, link->ucred.uid) : NULL;
        size_t before;

        if (!c) {
                link->output_accounted = now;
                return;
        }
        before = c->output;
        c->output = c->output - link->output_accounted + now;
        link->output_accounted = now;
        if (before >= s->output_per_uid_max && c->output < s->output_per_uid_max)
                schedule_resume(s);
}

void varlink_server_account_output(Varlink *link) {
        if (!link->server)
                return;
        uid_output_update(link->server, link,
                          link->state == VARLINK_DISCONNECTED ? 0 : link->output.end - link->output.start);
}

bool varlink_server_may_dispatch(Varlink *link) {
        VarlinkServer *s = link->server;
        UidCount *c;

        if (!s)
                return true;
        varlink_server_account_output(link);
        c = link->ucred_valid ? uid_find(s, link->ucred.uid) : NULL;
        link->throttled = link->output_accounted >= s->output_per_connection_max ||
                          (c && c->output >= s->output_per_uid_max);
        return !link->throttled;
}

/* ---- connections ---- */

static int connection_io_handler(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        Varlink *link = varlink_ref(userdata);

        if (revents & (EPOLLHUP | EPOLLERR))
                link->got_pollhup = true;
        (void) varlink_process_server(link);
        varlink_unref(link);
        return 0;
}

static int connection_attach_event(VarlinkServer *s, Varlink *link) {
        int r;

        if (!s->event || link->io_event_source)
                return 0;
        r = sd_event_add_io(s->event, &link->io_event_source, link->fd, 0, connection_io_handler, link);
        if (r < 0)
                return r;
        r = sd_event_source_set_priority(link->io_event_source, s->priority);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(link->io_event_source, "varlink-connection");
        return varlink_update_events(link);
}

int varlink_server_add_connection(VarlinkServer *server, int fd, Varlink **ret) {
        Varlink *link = NULL;
        int r;

        if (!server || fd < 0) {
                safe_close(fd);
                return -EINVAL;
        }
        if (server->n_connections >= server->connections_max) {
                safe_close(fd);
                return log_debug_errno(-EBUSY, "Refusing Varlink connection: %u connections already.",
                                       server->n_connections);
        }
        r = varlink_new(&link, fd, VARLINK_IDLE_SERVER);
        if (r < 0) {
                safe_close(fd);
                return r;
        }
        if (link->ucred_valid) {
                r = uid_inc(server, link->ucred.uid);
                if (r < 0) {
                        log_debug_errno(r, "Refusing Varlink connection of UID %u: too many connections.",
                                        (unsigned) link->ucred.uid);
                        varlink_unref(link);
                        return r;
                }
        }

        /* From here on the server owns the (only) reference; varlink_close() undoes all of this. */
        link->server = server;
        link->allow_fd_input = server->allow_fd_input;
        link->server_next = server->connections;
        if (server->connections)
                server->connections->server_prev = link;
        server->connections = link;
        server->n_connections++;

        varlink_ref(link);
        r = connection_attach_event(server, link);
        if (r >= 0 && server->on_connect)
                r = server->on_connect(server, link, server->userdata);
        if (r >= 0 && link->state == VARLINK_DISCONNECTED)
                r = -ECONNRESET; /* the connect callback closed it */
        if (r < 0) {
                varlink_close(link);
                varlink_unref(link);
                return r;
        }
        link->announced = true;
        varlink_unref(link);
        if (ret)
                *ret = link;
        return 0;
}

void varlink_server_detach_connection(VarlinkServer *server, Varlink *link) {
        if (link->server_prev)
                link->server_prev->server_next = link->server_next;
        else
                server->connections = link->server_next;
        if (link->server_next)
                link->server_next->server_prev = link->server_prev;
        link->server_prev = link->server_next = NULL;
        server->n_connections--;
        uid_output_update(server, link, 0);
        if (link->ucred_valid)
                uid_dec(server, link->ucred.uid);

        if (link->announced) {
                link->announced = false;
                if (server->on_disconnect)
                        server->on_disconnect(server, link, server->userdata);
        }
        link->server = NULL;
        varlink_unref(link); /* the server's reference */
}

/* ---- listening ---- */

/* The peer went away between connect and accept, or another wakeup took the connection: not worth a word. */
static bool errno_is_transient(int e) {
        return e == EAGAIN || e == EINTR || e == ECONNABORTED || e == EPROTO;
}

static int listener_io_handler(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        VarlinkServer *server = userdata;
        int cfd, r;

        cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
                if (!errno_is_transient(errno))
                        log_debug_errno(errno, "Failed to accept Varlink connection: %m");
                return 0;
        }
        r = varlink_server_add_connection(server, cfd, NULL);
        if (r < 0)
                log_debug_errno(r, "Dropped new Varlink connection: %m");
        return 0;
}

static int listener_attach_event(VarlinkServer *s, VarlinkListener *l) {
        int r;

        if (!s->event || l->event_source)
                return 0;
        r = sd_event_add_io(s->event, &l->event_source, l->fd, EPOLLIN, listener_io_handler, s);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(l->event_source, "varlink-listener");
        return sd_event_source_set_priority(l->event_source, s->priority);
}

int varlink_server_listen_fd(VarlinkServer *server, int fd) {
        VarlinkListener *a;
        int accepting = 0, r;
        socklen_t l = sizeof(accepting);

        if (!server || fd < 0)
                return -EINVAL;
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &l) < 0)
                return negative_errno();
        if (!accepting)
                return -EINVAL;
        r = fd_nonblock(fd, true);
        if (r < 0)
                return r;
        if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
                return negative_errno();

        a = realloc(server->listeners, (server->n_listeners + 1) * sizeof(*a));
        if (!a)
                return -ENOMEM;
        server->listeners = a;
        a[server->n_listeners] = (VarlinkListener){ .fd = fd };
        r = listener_attach_event(server, &a[server->n_listeners]);
        if (r < 0) {
                a[server->n_listeners].event_source =
                        sd_event_source_unref(a[server->n_listeners].event_source);
                return r;
        }
        server->n_listeners++;
        return 0;
}

int varlink_server_listen_address(VarlinkServer *server, const char *path, mode_t mode) {
        _cleanup_close_ int fd = -EBADF;
        struct sockaddr_un sa;
        socklen_t sa_len;
        struct stat st;
        int r;

        if (!server || !path || path[0] != '/')
                return -EINVAL;
        r = sockaddr_un_from_path(&sa, path, &sa_len);
        if (r < 0)
                return r;

        /* A stale socket from an earlier run is replaced; anything else at that path is not ours to remove.
         */
        if (lstat(path, &st) >= 0) {
                if (!S_ISSOCK(st.st_mode))
                        return -EEXIST;
                if (unlink(path) < 0)
                        return negative_errno();
        }

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return negative_errno();
        if (bind(fd, (struct sockaddr *) &sa, sa_len) < 0)
                return negative_errno();
        /* Nobody can connect before listen(), so setting the mode here leaves no window. */
        if (chmod(path, mode) < 0 || listen(fd, SOMAXCONN) < 0) {
                r = negative_errno();
                (void) unlink(path);
                return r;
        }
        r = varlink_server_listen_fd(server, fd);
        if (r < 0) {
                (void) unlink(path);
                return r;
        }
        TAKE_FD(fd);
        return 0;
}

int varlink_server_listen_auto(VarlinkServer *server) {
        _cleanup_strv_free_ char **names = NULL;
        int n, taken = 0;

        if (!server)
                return -EINVAL;
        /* The environment stays: other parts of the program may want their own fds from it. */
        n = sd_listen_fds_with_names(false, &names);
        if (n < 0)
                return n;
        for (int i = 0; i < n; i++) {
                const char *name = names && names[i] ? names[i] : "unknown";
                int r;

                /* Without LISTEN_FDNAMES every fd is "unknown": then all are ours. */
                if (!streq(name, "varlink") && !streq(name, "unknown"))
                        continue;
                r = varlink_server_listen_fd(server, SD_LISTEN_FDS_START + i);
                if (r < 0)
                        return r;
                taken++;
        }
        return taken;
}

int varlink_server_attach_event(VarlinkServer *server, sd_event *event, int64_t priority) {
        int r;

        if (!server)
                return -EINVAL;
        if (server->event)
                return -EBUSY;
        if (event)
                server->event = sd_event_ref(event);
        else {
                r = sd_event_default(&server->event);
                if (r < 0)
                        return r;
        }
        server->priority = priority;

        for (size_t i = 0; i < server->n_listeners; i++) {
                r = listener_attach_event(server, &server->listeners[i]);
                if (r < 0)
                        goto fail;
        }
        for (Varlink *l = server->connections; l; l = l->server_next) {
                r = connection_attach_event(server, l);
                if (r < 0)
                        goto fail;
        }
        return 0;

fail:
        (void) varlink_server_detach_event(server);
        return r;
}

int varlink_server_detach_event(VarlinkServer *server) {
        if (!server)
                return -EINVAL;
        for (size_t i = 0; i < server->n_listeners; i++)
                server->listeners[i].event_source =
                        sd_event_source_disable_unref(server->listeners[i].event_source);
        for (Varlink *l = server->connections; l; l = l->server_next)
                l->io_event_source = sd_event_source_disable_unref(l->io_event_source);
        server->resume_event_source = sd_event_source_disable_unref(server->resume_event_source);
        server->event = sd_event_unref(server->event);
        return 0;
}
