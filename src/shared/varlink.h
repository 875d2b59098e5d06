/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cocoon's own Varlink layer (libsystemd 252 has no public sd-varlink): connections, server, client.
 * The API follows sd-varlink's shape so that a later switch to sd-varlink is mechanical. */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "macro.h"
#include "varlink-idl.h"

/* Limits, as sd-varlink's. */
#define VARLINK_BUFFER_MAX (16U * 1024U * 1024U)
#define VARLINK_READ_SIZE (64U * 1024U)
#define VARLINK_DEFAULT_TIMEOUT_USEC (45ULL * 1000000ULL)
#define VARLINK_CONNECTIONS_MAX 4096U
#define VARLINK_CONNECTIONS_PER_UID_MAX 1024U
/* A server stops dispatching a connection's next call while that many bytes of its replies are still
 * unsent, or while all connections of its peer's UID have VARLINK_OUTPUT_PER_UID_MAX unsent; it resumes as
 * they drain. So a peer that pipelines calls without reading the replies costs a bounded amount of memory
 * (the bound plus at most one reply), not one full buffer per connection. */
#define VARLINK_OUTPUT_PER_CONNECTION_MAX (256U * 1024U)
#define VARLINK_OUTPUT_PER_UID_MAX (16U * 1024U * 1024U)
/* File descriptors one message may bring (SCM_RIGHTS), as sd-varlink. */
#define VARLINK_FDS_PER_MESSAGE_MAX 16U

/* Generic errors of org.varlink.service. */
#define VARLINK_ERROR_INTERFACE_NOT_FOUND "org.varlink.service.InterfaceNotFound"
#define VARLINK_ERROR_METHOD_NOT_FOUND "org.varlink.service.MethodNotFound"
#define VARLINK_ERROR_METHOD_NOT_IMPLEMENTED "org.varlink.service.MethodNotImplemented"
#define VARLINK_ERROR_INVALID_PARAMETER "org.varlink.service.InvalidParameter"
#define VARLINK_ERROR_PERMISSION_DENIED "org.varlink.service.PermissionDenied"
#define VARLINK_ERROR_EXPECTED_MORE "org.varlink.service.ExpectedMore"
/* errno propagation (varlink_error_errno()): {"origin":"linux","errno":N,"errnoName":"E…","message":…}. */
#define VARLINK_ERROR_SYSTEM "io.cocoon.System"
/* Local-only errors a client sees (never sent on the wire). */
#define VARLINK_ERROR_DISCONNECTED "io.cocoon.Varlink.Disconnected"
#define VARLINK_ERROR_TIMEOUT "io.cocoon.Varlink.TimedOut"
#define VARLINK_ERROR_PROTOCOL "io.cocoon.Varlink.Protocol"

typedef struct Varlink Varlink;             /* one connection, server or client side */
typedef struct VarlinkServer VarlinkServer; /* listening sockets + connections + method table */

typedef enum VarlinkMethodFlags {
        VARLINK_METHOD_ONEWAY = 1 << 0,  /* the caller wants no reply */
        VARLINK_METHOD_MORE = 1 << 1,    /* the caller accepts several replies */
        VARLINK_METHOD_UPGRADE = 1 << 2, /* the connection leaves Varlink after the reply */
} VarlinkMethodFlags;

/* A method handler. `parameters` were already validated against the method's IDL declaration (never NULL:
 * an empty object when the caller sent none). Return < 0 to make the layer reply with a generic error
 * (errno mapped to io.cocoon.System); otherwise the handler must reply (varlink_reply/varlink_error), or take
 * a reference (varlink_ref) and reply later from the event loop. */
typedef int (*VarlinkMethod)(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata);

/* Called for every method call outside org.varlink.service before dispatch. Return 0 to allow; > 0 when
 * the callback already replied (e.g. with PermissionDenied) and the call must not be dispatched; < 0 error. */
typedef int (*VarlinkAccessCheck)(Varlink *link, const char *method, void *userdata);

typedef int (*VarlinkConnect)(VarlinkServer *server, Varlink *link, void *userdata);
typedef void (*VarlinkDisconnect)(VarlinkServer *server, Varlink *link, void *userdata);

/* ---- connections (both sides) ---- */
Varlink *varlink_ref(Varlink *link);
Varlink *varlink_unref(Varlink *link);
DEFINE_TRIVIAL_CLEANUP_FUNC(Varlink *, varlink_unref);
/* Closes the socket now; pending callers see VARLINK_ERROR_DISCONNECTED. Idempotent. */
int varlink_close(Varlink *link);
/* Writes all queued messages now, blocking up to the link's timeout (e.g. a final reply before exiting;
 * normally the event loop writes them). */
int varlink_flush(Varlink *link);
/* Peer credentials (SO_PEERCRED, taken when the connection was accepted/made). */
int varlink_get_peer_uid(Varlink *link, uid_t *ret);
int varlink_get_peer_gid(Varlink *link, gid_t *ret);
int varlink_get_peer_pid(Varlink *link, pid_t *ret);
/* The peer's supplementary groups (SO_PEERGROUPS, taken with the credentials; the primary one is
 * varlink_get_peer_gid()). Valid as long as the link. */
int varlink_get_peer_groups(Varlink *link, const gid_t **ret, size_t *ret_n);
void *varlink_set_userdata(Varlink *link, void *userdata);
void *varlink_get_userdata(Varlink *link);
VarlinkServer *varlink_get_server(Varlink *link);
/* The connection's socket, still owned by the link (e.g. for a signal handler to shutdown() it, which
 * ends a blocking call at once); -EBADF once closed. */
int varlink_get_fd(Varlink *link);
/* The fully-qualified method of the call being served (NULL when idle). */
const char *varlink_get_current_method(Varlink *link);
/* Bytes queued for the peer and not yet written (a peer that does not read lets them grow). */
size_t varlink_get_output_queued(Varlink *link);

/* ---- file descriptors passed with a call (an extension of systemd's sd-varlink, not in the spec) ----
 * The sender attaches them (SCM_RIGHTS) to the first byte of its message; the method's parameters refer to
 * them by index ("…FileDescriptor": 0 is the first). The server accepts them only when enabled
 * (varlink_server_set_allow_fd_passing_input()); fds arriving in the middle of a message, or more than
 * VARLINK_FDS_PER_MESSAGE_MAX, are a protocol violation and end the connection. Fds of a call that its
 * handler did not take are closed when the call is done. */
/* Server side, while serving a call: how many came with it. */
size_t varlink_get_n_fds(Varlink *link);
/* The fd at index (still owned by the call): -ENXIO when the call brought no such fd, -EBADF when it was
 * taken already. */
int varlink_peek_fd(Varlink *link, size_t index);
/* As varlink_peek_fd(), but the caller owns the fd from now on. */
int varlink_take_fd(Varlink *link, size_t index);
/* Client side: attaches fd to the next call sent on this link and returns its index. Takes fd (also on
 * failure); it is closed once sent, or with the link. -ENOBUFS over VARLINK_FDS_PER_MESSAGE_MAX. */
int varlink_push_fd(Varlink *link, int fd);

/* ---- server side replies ---- */
/* Final reply. `parameters` may be NULL (sent as omitted). Does not take ownership (json_object_get inside).
 * Replying to a oneway call is a no-op success. */
int varlink_reply(Varlink *link, json_object *parameters);
/* Intermediate reply with continues=true; only valid when the call had VARLINK_METHOD_MORE (else -EINVAL).
 * All replies are queued and written by the event loop, so a failing peer never runs the disconnect callback
 * from inside varlink_reply()/varlink_notify(); they return -ENOTCONN once the connection is gone, and
 * -ENOBUFS when a peer that does not read has VARLINK_BUFFER_MAX bytes queued (close it then). */
int varlink_notify(Varlink *link, json_object *parameters);
/* Error reply: `error_id` fully qualified; `parameters` may be NULL. Does not take ownership. */
int varlink_error(Varlink *link, const char *error_id, json_object *parameters);
/* org.varlink.service.InvalidParameter naming `parameter`. */
int varlink_error_invalid_parameter(Varlink *link, const char *parameter);
/* Error naming the input at fault: parameters {"field": field, "message": message} (cocoon's
 * InvalidConfiguration and the like). */
int varlink_error_field(Varlink *link, const char *error_id, const char *field, const char *message);
/* Error with a human message: parameters {"message": <formatted>} plus nothing else. */
int varlink_errorf(Varlink *link, const char *error_id, const char *format, ...) _printf_(3, 4);
/* io.cocoon.System error from an errno: {"origin":"linux","errno":N,"errnoName":"E…","message":strerror}. */
int varlink_error_errno(Varlink *link, int error);
/* Gets the connection's socket after an upgrade: fd >= 0 (O_NONBLOCK, owned by the callee) and error 0, or
 * fd -EBADF and error < 0 when the reply could not be delivered (the peer went away, the server was freed);
 * either way it runs once, on the event loop, and may free userdata. */
typedef void (*VarlinkUpgradeCallback)(int fd, int error, void *userdata);

/* Sends the final reply, then leaves Varlink. Only for calls made with VARLINK_METHOD_UPGRADE (else
 * -EINVAL). The reply is written by the event loop like any other, so a peer that does not read stalls
 * nobody; once it is all out, the Varlink object is closed (the disconnect callback runs) and `callback`
 * gets the socket, never before this returned. Bytes the peer sent after the call (before our reply) are
 * lost: clients must wait for the reply, as the spec says. If a handler answers an upgrade call with plain
 * varlink_reply(), the connection is closed after that reply. */
int varlink_reply_and_upgrade(Varlink *link, json_object *parameters, VarlinkUpgradeCallback callback,
                              void *userdata);

/* ---- server ---- */
int varlink_server_new(VarlinkServer **ret);
VarlinkServer *varlink_server_ref(VarlinkServer *server);
VarlinkServer *varlink_server_unref(VarlinkServer *server);
DEFINE_TRIVIAL_CLEANUP_FUNC(VarlinkServer *, varlink_server_unref);
int varlink_server_set_info(VarlinkServer *server, const char *vendor, const char *product, const char *version,
                            const char *url);
void *varlink_server_set_userdata(VarlinkServer *server, void *userdata);
void *varlink_server_get_userdata(VarlinkServer *server);
/* Registers an interface declaration (static lifetime); GetInfo lists it, GetInterfaceDescription prints it,
 * and calls to its methods are validated against it. org.varlink.service is built in. */
int varlink_server_add_interface(VarlinkServer *server, const VarlinkInterface *interface);
/* Binds "interface.Method" to a handler; the method must be declared in an added interface. */
int varlink_server_bind_method(VarlinkServer *server, const char *method, VarlinkMethod callback);
int varlink_server_bind_connect(VarlinkServer *server, VarlinkConnect callback);
int varlink_server_bind_disconnect(VarlinkServer *server, VarlinkDisconnect callback);
int varlink_server_set_access_check(VarlinkServer *server, VarlinkAccessCheck callback);
int varlink_server_set_connections_max(VarlinkServer *server, unsigned max);
int varlink_server_set_connections_per_uid_max(VarlinkServer *server, unsigned max);
/* Whether calls may bring file descriptors (off by default: then none are received). */
int varlink_server_set_allow_fd_passing_input(VarlinkServer *server, bool allow);
/* The unsent-output bounds above (tests use small ones); 0 keeps the current value. */
int varlink_server_set_output_max(VarlinkServer *server, size_t per_connection, size_t per_uid);
unsigned varlink_server_current_connections(VarlinkServer *server);
/* Bytes of replies queued and not yet written for all connections of uid. */
size_t varlink_server_buffered_output(VarlinkServer *server, uid_t uid);
/* Binds and listens on a unix socket path (an existing socket file is replaced), with `mode` applied. */
int varlink_server_listen_address(VarlinkServer *server, const char *path, mode_t mode);
/* Takes over an already listening socket. */
int varlink_server_listen_fd(VarlinkServer *server, int fd);
/* Takes the sockets passed by socket activation named "varlink" (or unnamed). Returns how many (0: none). */
int varlink_server_listen_auto(VarlinkServer *server);
int varlink_server_attach_event(VarlinkServer *server, sd_event *event, int64_t priority);
int varlink_server_detach_event(VarlinkServer *server);
/* Serves one already-connected socket (e.g. one end of a socketpair, for tests). Takes the fd in all cases
 * (closed on failure). *ret (optional) is borrowed: the server owns the connection. -EBUSY over the total
 * cap, -EDQUOT over the per-UID cap. The disconnect callback fires once for every connection whose connect
 * callback succeeded. */
int varlink_server_add_connection(VarlinkServer *server, int fd, Varlink **ret);

/* ---- client ---- */
/* Connects to "unix:/path" or a plain absolute path. Blocking connect; the connection is not attached to an
 * event loop (synchronous use). */
int varlink_connect_address(Varlink **ret, const char *address);
int varlink_connect_fd(Varlink **ret, int fd);
/* UINT64_MAX: wait forever; 0: the default. A call that fails locally (timeout, protocol error, hangup)
 * closes the connection: later calls return -ENOTCONN. */
int varlink_set_relative_timeout(Varlink *link, uint64_t usec);
/* Synchronous call. On a Varlink error reply, returns 0 with *ret_error_id set (and *ret_parameters the
 * error parameters); on success *ret_error_id is NULL. *ret_parameters is never NULL (an empty object when
 * the reply carried none). Results are owned by the link and stay valid until the next call on it. Returns
 * < 0 on local failures (-ETIMEDOUT, -ECONNRESET, -EPROTO, -EBUSY while an observe is running, …). */
int varlink_call(Varlink *link, const char *method, json_object *parameters, json_object **ret_parameters,
                 const char **ret_error_id);
/* The same, but the reply message comes back unparsed (its JSON text, NUL excluded, owned by the link and
 * valid until the next call on it): for clients that scan big replies themselves. The caller checks
 * everything varlink_call() would (an object, "error", "parameters", no "continues"). */
int varlink_call_raw(Varlink *link, const char *method, json_object *parameters, const char **ret_text,
                     size_t *ret_size);
/* Fire and forget. */
int varlink_send_oneway(Varlink *link, const char *method, json_object *parameters);
/* Starts a call with more=true; read replies with varlink_observe_next() until *ret_continues is false. */
int varlink_observe(Varlink *link, const char *method, json_object *parameters);
int varlink_observe_next(Varlink *link, json_object **ret_parameters, const char **ret_error_id,
                         bool *ret_continues);
/* Call with upgrade=true: waits for the reply, then hands over the raw socket (dup, blocking mode) in
 * *ret_fd and closes the Varlink object. Bytes already read past the reply are written to *ret_leftover
 * (malloc'd, may be NULL with *ret_leftover_size 0). On an error reply nothing is handed over
 * (*ret_fd = -EBADF) and the connection stays usable for Varlink. */
int varlink_call_and_upgrade(Varlink *link, const char *method, json_object *parameters,
                             json_object **ret_parameters, const char **ret_error_id, int *ret_fd,
                             char **ret_leftover, size_t *ret_leftover_size);
