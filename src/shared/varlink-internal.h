/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Private parts of the Varlink layer shared by varlink.c, varlink-client.c and varlink-server.c. */
#pragma once

#include <sys/socket.h>

#include "json-util.h"
#include "varlink-framing.h"
#include "varlink.h"

typedef enum VarlinkState {
        VARLINK_IDLE_SERVER, /* server side: waiting for the next call */
        VARLINK_PROCESSING, /* server side: a call is being served (handler running or reply deferred) */
        VARLINK_CLOSING, /* server side: flush the output, then disconnect (upgrade without handover) */
        VARLINK_UPGRADING, /* server side: flush the output, then hand the socket to the upgrade callback */
        VARLINK_IDLE_CLIENT, /* client side: no call outstanding */
        VARLINK_AWAITING_REPLY, /* client side: a call was sent, its (single) reply is expected */
        VARLINK_AWAITING_MORE, /* client side: an observe call was sent, replies until continues=false */
        VARLINK_DISCONNECTED,
} VarlinkState;

typedef struct UidCount {
        uid_t uid;
        unsigned count;
        size_t output; /* unsent bytes of all its connections */
} UidCount;

struct Varlink {
        unsigned n_ref;
        VarlinkState state;
        int fd;
        VarlinkInput input;
        VarlinkOutput output;
        struct ucred ucred;
        bool ucred_valid;
        gid_t *peer_groups; /* the peer's supplementary groups at connect time (SO_PEERGROUPS) */
        size_t n_peer_groups;
        bool peer_groups_valid;
        void *userdata;
        uint64_t timeout_usec;

        bool read_eof; /* read() returned 0: the peer will send nothing more */
        bool got_pollhup; /* the peer is gone for good */
        bool announced; /* the server counted it and will call the disconnect callback */
        bool throttled; /* calls are waiting until its own or its UID's unsent output drains */
        size_t output_accounted; /* unsent bytes last added to its UID's total */

        /* Server side. The server owns a reference while the connection is in its list; the link only has
         * a plain pointer back, so freeing the server closes its connections. */
        VarlinkServer *server;
        Varlink *server_prev, *server_next;
        sd_event_source *io_event_source;

        /* The call being served (server) or the last reply received (client). */
        json_object *current_call;
        const char *current_method; /* points into current_call */
        VarlinkMethodFlags current_flags;
        const VarlinkInterface *current_interface;
        const VarlinkSymbol *current_symbol;
        json_object *current_reply;

        /* File descriptors (see varlink.h). Server side: input_fds arrived with the first bytes of the
         * message being received, call_fds are the current call's (taken ones are -EBADF). Client side:
         * output_fds go with the next message sent. */
        bool allow_fd_input;
        int input_fds[VARLINK_FDS_PER_MESSAGE_MAX];
        size_t n_input_fds;
        int call_fds[VARLINK_FDS_PER_MESSAGE_MAX];
        size_t n_call_fds;
        int output_fds[VARLINK_FDS_PER_MESSAGE_MAX];
        size_t n_output_fds;

        /* Server side, VARLINK_UPGRADING: who gets the socket once the reply is out. */
        VarlinkUpgradeCallback upgrade_callback;
        void *upgrade_userdata;
};

/* Forgets the call being served: closes its fds that nobody took. */
void varlink_release_call(Varlink *link);
/* Closes n fds and sets them to -EBADF. */
void varlink_close_fds(int *fds, size_t *n);
/* Allocates a connection around a connected socket (the fd is taken on success). */
int varlink_new(Varlink **ret, int fd, VarlinkState state);
/* Parses one incoming call and dispatches it; returns < 0 on a protocol violation. */
int varlink_server_dispatch_call(VarlinkServer *server, Varlink *link, json_object *call);
/* Called by varlink_close() for server connections: removes it from the server, fires the disconnect
 * callback (once), drops the server's reference. */
void varlink_server_detach_connection(VarlinkServer *server, Varlink *link);
/* Brings the UID's unsent-output total up to date with the connection's queue. */
void varlink_server_account_output(Varlink *link);
/* Whether the connection may take its next call now: false (and the connection is marked throttled, to be
 * resumed when output drains) while its own or its UID's unsent output is over the bound. */
bool varlink_server_may_dispatch(Varlink *link);
/* Serves the connection's buffered calls from a one-shot event: after something that brings no I/O event
 * made it take calls again (a late answer to a oneway call, which sends nothing). */
void varlink_server_schedule_dispatch(Varlink *link);
/* Re-arms the connection's epoll events after its state or queue changed. */
int varlink_update_events(Varlink *link);
/* The server-side processing step run from the connection's I/O event. */
int varlink_process_server(Varlink *link);
/* VARLINK_UPGRADING with the reply written: hands the socket to the upgrade callback, closes the link. */
int varlink_finish_upgrade(Varlink *link);
/* Writes until the output queue is empty, waiting with poll() up to the link's timeout. */
int varlink_flush_blocking(Varlink *link);
/* Queues one message and re-arms events. */
int varlink_enqueue(Varlink *link, json_object *message);
/* Absolute CLOCK_MONOTONIC deadline for the link's timeout (UINT64_MAX: none). */
uint64_t varlink_deadline(Varlink *link);
/* poll() for `events` until the deadline: 0 when ready (or interrupted), -ETIMEDOUT, -errno. */
int varlink_wait(Varlink *link, short events, uint64_t deadline);

typedef struct VarlinkListener {
        int fd;
        sd_event_source *event_source;
} VarlinkListener;

typedef struct VarlinkBinding {
        char *method; /* fully qualified */
        VarlinkMethod callback;
} VarlinkBinding;

struct VarlinkServer {
        unsigned n_ref;
        sd_event *event;
        int64_t priority;

        VarlinkListener *listeners;
        size_t n_listeners;

        Varlink *connections; /* list head; each holds one reference owned by the server */
        unsigned n_connections;
        UidCount *uids;
        size_t n_uids;
        unsigned connections_max;
        unsigned connections_per_uid_max;
        size_t output_per_connection_max;
        size_t output_per_uid_max;
        sd_event_source *resume_event_source; /* serves throttled connections once output drained */

        const VarlinkInterface **interfaces;
        size_t n_interfaces;
        VarlinkBinding *bindings;
        size_t n_bindings;

        VarlinkConnect on_connect;
        VarlinkDisconnect on_disconnect;
        VarlinkAccessCheck access_check;
        bool allow_fd_input;

        char *vendor, *product, *version, *url;
        void *userdata;
};

/* Handlers of org.varlink.service, bound by varlink_server_new(). */
int vl_method_get_info(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata);
int vl_method_get_interface_description(Varlink *link, json_object *parameters, VarlinkMethodFlags flags,
                                        void *userdata);
const VarlinkInterface *varlink_server_find_interface(VarlinkServer *server, const char *name);
