/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The manager's Varlink server: interfaces, method table, access check by peer credentials, idle exit. */
#include <inttypes.h>

#include "config.h"
#include "image-varlink.h"
#include "job-queue.h"
#include "json-util.h"
#include "log.h"
#include "manager.h"
#include "manager-gc.h"
#include "manager-operations.h"
#include "snapshot-transfer.h"
#include "snapshot-varlink.h"
#include "time-util.h"
#include "varlink-interfaces.h"
#include "vm-clone.h"
#include "vm-restore.h"
#include "vm-console.h"
#include "vm-events.h"
#include "vm-lifecycle.h"
#include "vm-varlink.h"

static const struct {
        const char *method;
        VarlinkMethod callback;
} method_table[] = {
        { "io.cocoon.Manager.Describe", vl_method_manager_describe },
        { "io.cocoon.VM.List", vl_method_vm_list },
        { "io.cocoon.VM.Inspect", vl_method_vm_inspect },
        { "io.cocoon.VM.Create", vl_method_vm_create },
        { "io.cocoon.VM.Start", vl_method_vm_start },
        { "io.cocoon.VM.Stop", vl_method_vm_stop },
        { "io.cocoon.VM.Delete", vl_method_vm_delete },
        { "io.cocoon.VM.Restart", vl_method_vm_restart },
        { "io.cocoon.VM.Kill", vl_method_vm_kill },
        { "io.cocoon.VM.Watch", vl_method_vm_watch },
        { "io.cocoon.VM.Debug", vl_method_vm_debug },
        { "io.cocoon.VM.Console", vl_method_vm_console },
        { "io.cocoon.VM.Clone", vl_method_vm_clone },
        { "io.cocoon.VM.Restore", vl_method_vm_restore },
        { "io.cocoon.Manager.GarbageCollect", vl_method_manager_garbage_collect },
        { "io.cocoon.Image.Import", vl_method_image_import },
        { "io.cocoon.Image.Pull", vl_method_image_pull },
        { "io.cocoon.Image.ImportOCI", vl_method_image_import_oci },
        { "io.cocoon.Image.List", vl_method_image_list },
        { "io.cocoon.Image.Inspect", vl_method_image_inspect },
        { "io.cocoon.Image.Delete", vl_method_image_delete },
        { "io.cocoon.Manager.ListOperations", vl_method_manager_list_operations },
        { "io.cocoon.Snapshot.Save", vl_method_snapshot_save },
        { "io.cocoon.Snapshot.List", vl_method_snapshot_list },
        { "io.cocoon.Snapshot.Inspect", vl_method_snapshot_inspect },
        { "io.cocoon.Snapshot.Delete", vl_method_snapshot_delete },
        { "io.cocoon.Snapshot.Export", vl_method_snapshot_export },
        { "io.cocoon.Snapshot.Import", vl_method_snapshot_import },
};

static VarlinkMethod method_callback(const char *method) {
        for (size_t i = 0; method && i < ELEMENTSOF(method_table); i++)
                if (streq(method_table[i].method, method))
                        return method_table[i].callback;
        return NULL;
}

/* The long methods go through here: the call is in the operations list while the manager works on it (the
 * list drops it once answered), and a handler with progress to report finds its entry by the link. */
static int vl_method_tracked(Varlink *link, json_object *parameters, VarlinkMethodFlags flags,
                             void *userdata) {
        Manager *m = userdata;
        const char *method = varlink_get_current_method(link);
        VarlinkMethod callback = method_callback(method);

        if (!callback)
                return -EOPNOTSUPP;
        int r = operations_begin(m->operations, link, method, parameters, now_usec(CLOCK_REALTIME));
        if (r < 0)
                return r;
        return callback(link, parameters, flags, userdata);
}

int vl_method_manager_list_operations(Varlink *link, json_object *parameters, VarlinkMethodFlags flags,
                                      void *userdata) {
        Manager *m = userdata;
        _cleanup_(json_object_putp) json_object *reply = NULL;

        int r = operations_to_json(m->operations, &reply);
        if (r < 0)
                return r;
        return varlink_reply(link, reply);
}

static const VarlinkInterface *const interfaces[] = {
        &vl_interface_io_cocoon,
        &vl_interface_io_cocoon_Manager,
        &vl_interface_io_cocoon_VM,
        &vl_interface_io_cocoon_Image,
        &vl_interface_io_cocoon_Snapshot,
};

/* Whether the peer held group `cocoon` when it connected, as its primary or a supplementary group: the
 * kernel's record of the process (SO_PEERCRED, SO_PEERGROUPS), not the user database, so a process that
 * dropped the group is not a member, and deciding costs no lookup on the loop. */
static bool peer_in_group(Varlink *link, gid_t group) {
        const gid_t *groups;
        size_t n;
        gid_t gid;

        if (group == (gid_t) -1)
                return false;
        if (varlink_get_peer_gid(link, &gid) >= 0 && gid == group)
                return true;
        if (varlink_get_peer_groups(link, &groups, &n) < 0)
                return false;
        for (size_t i = 0; i < n; i++)
                if (groups[i] == group)
                        return true;
        return false;
}

/* org.varlink.service is open to everyone (the layer never calls us for it); everything else needs root or
 * group cocoon. The socket is 0666 so refused callers get this clear error instead of EACCES. */
static int manager_access_check(Varlink *link, const char *method, void *userdata) {
        Manager *m = userdata;
        uid_t uid;

        if (varlink_get_peer_uid(link, &uid) >= 0 && (uid == 0 || peer_in_group(link, m->cocoon_gid)))
                return 0;

        _cleanup_(json_object_putp) json_object *p = json_object_new_object();
        json_object_object_add(p, "method", json_object_new_string(method));
        json_object_object_add(p, "message",
                               json_object_new_string("only root and members of group cocoon may call this"));
        int r = varlink_error(link, COCOON_ERROR_PERMISSION_DENIED, p);
        return r < 0 ? r : 1;
}

static int on_idle_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        log_info("Idle for %" PRIu64 " s, exiting.", m->exit_idle_usec / USEC_PER_SEC);
        return sd_event_exit(m->event, 0);
}

/* Exit-on-idle is race free: systemd holds the listening socket and starts us again on the next connect.
 * We stay while any VM runs, because we are the one noticing crashes, and while worker jobs are in flight:
 * some serve connections the server no longer counts (a console log sent after the upgrade). */
void manager_check_idle(Manager *m) {
        if (m->exit_idle_usec == 0)
                return;
        bool idle = varlink_server_current_connections(m->varlink_server) == 0 &&
                    store_count_state(m->store, VM_STATE_RUNNING) == 0 && hashmap_size(m->vm_tasks) == 0 &&
                    job_queue_in_flight(m->jobs) == 0 && m->n_log_streams == 0;
        if (!idle) {
                if (m->idle_timer)
                        (void) sd_event_source_set_enabled(m->idle_timer, SD_EVENT_OFF);
                return;
        }
        uint64_t when = now_usec(CLOCK_MONOTONIC) + m->exit_idle_usec;
        if (m->idle_timer) {
                (void) sd_event_source_set_time(m->idle_timer, when);
                (void) sd_event_source_set_enabled(m->idle_timer, SD_EVENT_ONESHOT);
                return;
        }
        int r = sd_event_add_time(m->event, &m->idle_timer, CLOCK_MONOTONIC, when, 0, on_idle_timer, m);
        if (r < 0)
                log_warning_errno(r, "Failed to arm idle timer, staying: %m");
}

static int on_connect(VarlinkServer *server, Varlink *link, void *userdata) {
        manager_check_idle(userdata);
        return 0;
}

static void on_disconnect(VarlinkServer *server, Varlink *link, void *userdata) {
        Manager *m = userdata;

        vm_events_unsubscribe(userdata, link);
        /* A caller that went away (Ctrl-C) cancels what reports progress: nobody waits for it. */
        if (m->operations && operations_link_gone(m->operations, link) > 0)
                log_debug("A caller went away with an operation in flight.");
        manager_check_idle(userdata);
}

static int manager_varlink_listen(Manager *m) {
        int r = varlink_server_listen_auto(m->varlink_server);
        if (r < 0)
                return log_error_errno(r, "Failed to take activation sockets: %m");
        if (r > 0)
                return 0;

        const char *address = m->listen_address ?: COCOON_MANAGER_ADDRESS;
        r = varlink_server_listen_address(m->varlink_server, address, 0666);
        if (r < 0)
                return log_error_errno(r, "Failed to listen on %s: %m", address);
        return 0;
}

int manager_varlink_init(Manager *m) {
        int r = varlink_server_new(&m->varlink_server);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate Varlink server: %m");
        varlink_server_set_userdata(m->varlink_server, m);
        r = varlink_server_set_info(m->varlink_server, "cocoon", "cocoon-manager", COCOON_VERSION,
                                    "https://github.com/cocoonstack/cocoon");
        if (r < 0)
                return log_error_errno(r, "Failed to set Varlink info: %m");

        for (size_t i = 0; i < ELEMENTSOF(interfaces); i++) {
                r = varlink_server_add_interface(m->varlink_server, interfaces[i]);
                if (r < 0)
                        return log_error_errno(r, "Failed to add interface %s: %m", interfaces[i]->name);
        }
        r = operations_new(&m->operations);
        if (r < 0)
                return log_oom();
        for (size_t i = 0; i < ELEMENTSOF(method_table); i++) {
                r = varlink_server_bind_method(m->varlink_server, method_table[i].method,
                                               operation_method_is_tracked(method_table[i].method)
                                                       ? vl_method_tracked
                                                       : method_table[i].callback);
                if (r < 0)
                        return log_error_errno(r, "Failed to bind %s: %m", method_table[i].method);
        }
        (void) varlink_server_set_access_check(m->varlink_server, manager_access_check);
        /* Image.Import takes the caller's files as descriptors, opened with the caller's own rights. */
        (void) varlink_server_set_allow_fd_passing_input(m->varlink_server, true);
        (void) varlink_server_bind_connect(m->varlink_server, on_connect);
        (void) varlink_server_bind_disconnect(m->varlink_server, on_disconnect);

        r = manager_varlink_listen(m);
        if (r < 0)
                return r;
        r = varlink_server_attach_event(m->varlink_server, m->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_error_errno(r, "Failed to attach Varlink server: %m");
        manager_check_idle(m);
        return 0;
}
