/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* io.cocoon.VM.Console: after the reply the connection carries raw bytes: the console log (replay), then the
 * live console through the VM's relay (follow), with input unless readOnly. */
#include <stdio.h>
#include <stdlib.h>

#include "console-log.h"
#include "console-relay.h"
#include "hashmap.h"
#include "json-util.h"
#include "log.h"
#include "time-util.h"
#include "manager.h"
#include "varlink-interfaces.h"
#include "vm-console.h"
#include "vm-varlink.h"

/* A `vm logs` being sent: the manager keeps the list, to count them for the idle exit and free them at
 * exit. */
struct VmLogStream {
        Manager *manager;
        char *vm_id;
        ConsoleLogStream *stream;
        VmLogStream *prev, *next;
};

static VmLogStream *log_stream_free(VmLogStream *ls) {
        if (!ls)
                return NULL;
        Manager *m = ls->manager;
        if (ls->prev)
                ls->prev->next = ls->next;
        else if (m->log_streams == ls)
                m->log_streams = ls->next;
        if (ls->next)
                ls->next->prev = ls->prev;
        m->n_log_streams--;
        console_log_stream_free(ls->stream);
        free(ls->vm_id);
        return mfree(ls);
}

static void log_stream_done(ConsoleLogStream *s, int error, void *userdata) {
        VmLogStream *ls = userdata;
        Manager *m = ls->manager;

        if (error == -ETIMEDOUT)
                log_vm_info(ls->vm_id,
                            "A reader of the console log of VM %s took nothing for %llu s; closing it.", ls->vm_id,
                            (unsigned long long) (CONSOLE_LOG_STREAM_STALL_USEC / USEC_PER_SEC));
        else if (error < 0)
                log_debug_errno(error, "Failed to send the console log of VM %s: %m", ls->vm_id);
        /* Freeing closes the connection, which tells the peer the log is complete. */
        log_stream_free(ls);
        manager_check_idle(m);
}

/* Sends the log from the event loop, a chunk whenever the peer's socket takes one: a peer that stops
 * reading holds an fd and one chunk, never a worker thread. Until it is sent it keeps the manager from
 * exiting when idle. Takes fd. */
static int log_stream_start(Manager *m, const char *vm_id, const char *log_path,
                            const ConsoleLogFilter *filter, int fd) {
        _cleanup_close_ int owned = fd;
        VmLogStream *ls;
        int r;

        if (!log_path)
                return 0; /* no log directory: an empty log, closing the connection says so */

        ls = calloc(1, sizeof(VmLogStream));
        if (!ls)
                return -ENOMEM;
        ls->manager = m;
        ls->vm_id = strdup(vm_id);
        ls->next = m->log_streams;
        if (m->log_streams)
                m->log_streams->prev = ls;
        m->log_streams = ls;
        m->n_log_streams++;
        r = ls->vm_id ? 0 : -ENOMEM;
        if (r >= 0)
                r = console_log_stream_new(m->event, log_path, filter, TAKE_FD(owned),
                                           CONSOLE_LOG_STREAM_STALL_USEC, log_stream_done, ls, &ls->stream);
        if (r < 0) {
                log_stream_free(ls);
                return r;
        }
        /* The upgrade took the connection off the server's count and may have armed the idle timer. */
        manager_check_idle(m);
        return 0;
}

/* What the console call still has to do once the reply is out and the socket is ours. */
typedef struct ConsoleUpgrade {
        Manager *manager;
        char *vm_id;
        char *log_path;
        bool read_only, replay, follow;
        ConsoleLogFilter filter; /* of the replay */
} ConsoleUpgrade;

static ConsoleUpgrade *console_upgrade_free(ConsoleUpgrade *u) {
        if (!u)
                return NULL;
        free(u->vm_id);
        free(u->log_path);
        return mfree(u);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(ConsoleUpgrade *, console_upgrade_free);

static void console_upgraded(int fd, int error, void *userdata) {
        _cleanup_(console_upgrade_freep) ConsoleUpgrade *u = userdata;
        ConsoleRelay *relay;
        int r;

        if (error < 0) {
                log_debug_errno(error, "Console client of VM %s left before the reply: %m", u->vm_id);
                return;
        }
        if (!u->follow)
                r = log_stream_start(u->manager, u->vm_id, u->log_path, &u->filter, fd);
        else if (!(relay = hashmap_get(u->manager->consoles, u->vm_id))) {
                /* The VM stopped while the reply was on its way: closing says the console ended. */
                safe_close(fd);
                r = 0;
        } else if (u->replay)
                r = console_relay_attach_replay(relay, fd, u->read_only, &u->filter);
        else
                r = console_relay_attach(relay, fd, u->read_only);
        if (r < 0)
                log_vm_internal(LOG_WARNING, r, u->vm_id, "Failed to serve console of VM %s: %m", u->vm_id);
}

void vm_console_free_log_streams(Manager *m) {
        while (m->log_streams)
                log_stream_free(m->log_streams);
}

static int get_optional_bool(json_object *parameters, const char *key, bool *value) {
        int r = json_get_bool(parameters, key, value);
        return r == -ENXIO ? 0 : r; /* absent or null: keep the default */
}

/* The part of the log a replay sends: "lines" and "since", only with "replay". */
static int get_filter(Varlink *link, json_object *parameters, bool replay, ConsoleLogFilter *ret) {
        ConsoleLogFilter filter = CONSOLE_LOG_FILTER_ALL;
        const char *since;
        int64_t lines;

        int r = json_get_int64(parameters, "lines", &lines);
        if (r != -ENXIO) {
                if (r < 0 || lines < 0 || !replay)
                        return varlink_error_invalid_parameter(link, "lines");
                filter.lines = (uint64_t) lines;
        }
        r = json_get_string(parameters, "since", &since);
        if (r != -ENXIO) {
                if (r < 0 || !replay || timestamp_parse_rfc3339(since, &filter.since_usec) < 0 ||
                    filter.since_usec == 0)
                        return varlink_error_invalid_parameter(link, "since");
        }
        *ret = filter;
        return 1;
}

static int reply_invalid_state(Varlink *link, const VMRecord *record) {
        _cleanup_(json_object_putp) json_object *p = json_object_new_object();
        _cleanup_free_ char *message = NULL;

        if (!p || asprintf(&message, "VM %s is %s: its live console is only there while it runs",
                           record->vm.name, vm_state_to_string(record->vm.state)) < 0)
                return -ENOMEM;
        if (json_add_string(p, "id", record->vm.id) < 0 ||
            json_add_string(p, "state", vm_state_to_string(record->vm.state)) < 0 ||
            json_add_string(p, "message", message) < 0)
                return -ENOMEM;
        return varlink_error(link, VM_ERROR_INVALID_STATE, p);
}

int vl_method_vm_console(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata) {
        Manager *m = userdata;
        _cleanup_(json_object_putp) json_object *reply = NULL;
        _cleanup_(console_upgrade_freep) ConsoleUpgrade *u = NULL;
        bool read_only = false, replay = false, follow = true;
        ConsoleLogFilter filter = CONSOLE_LOG_FILTER_ALL;
        const VMRecord *record;
        const char *ref;
        int r;

        if (json_get_string(parameters, "ref", &ref) < 0)
                return varlink_error_invalid_parameter(link, "ref");
        if (get_optional_bool(parameters, "readOnly", &read_only) < 0)
                return varlink_error_invalid_parameter(link, "readOnly");
        if (get_optional_bool(parameters, "replay", &replay) < 0)
                return varlink_error_invalid_parameter(link, "replay");
        if (get_optional_bool(parameters, "follow", &follow) < 0)
                return varlink_error_invalid_parameter(link, "follow");
        r = get_filter(link, parameters, replay, &filter);
        if (r <= 0)
                return r;
        if (!(flags & VARLINK_METHOD_UPGRADE))
                return varlink_errorf(link, VM_ERROR_NOT_SUPPORTED,
                                      "Console requires upgrade: after the reply the connection carries raw "
                                      "console bytes");
        if (!replay && !follow)
                return varlink_error_invalid_parameter(link, "follow"); /* nothing to send at all */

        r = manager_resolve_vm(m, link, ref, &record);
        if (r <= 0)
                return r;
        if (follow) {
                if (record->vm.state != VM_STATE_RUNNING)
                        return reply_invalid_state(link, record);
                if (!hashmap_get(m->consoles, record->vm.id))
                        return varlink_errorf(link, VM_ERROR_NOT_SUPPORTED,
                                              "VM %s runs without a console relay", record->vm.name);
        }
        u = calloc(1, sizeof(ConsoleUpgrade));
        if (!u)
                return -ENOMEM;
        *u = (ConsoleUpgrade){
                .manager = m, .read_only = read_only, .replay = replay, .follow = follow, .filter = filter,
        };
        if (record->log_dir && asprintf(&u->log_path, "%s/" VM_CONSOLE_LOG_NAME, record->log_dir) < 0)
                return -ENOMEM;
        u->vm_id = strdup(record->vm.id);
        reply = json_object_new_object();
        if (!u->vm_id || !reply || json_add_string(reply, "id", record->vm.id) < 0 ||
            json_add_string(reply, "name", record->vm.name) < 0)
                return -ENOMEM;

        /* The loop writes the reply; console_upgraded() gets the socket once it is out. */
        r = varlink_reply_and_upgrade(link, reply, console_upgraded, u);
        if (r < 0)
                return log_vm_internal(LOG_WARNING, r, u->vm_id, "Failed to upgrade console connection: %m");
        TAKE_PTR(u);
        return 0;
}
