/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The manager object: event loop, Varlink server, records store, configuration. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include <systemd/sd-bus.h>

#include "conf-file.h"
#include "hashmap.h"
#include "macro.h"
#include "probe.h"
#include "store.h"
#include "varlink.h"
#include "vm.h"

typedef struct VmSubscriber VmSubscriber;
typedef struct VmLogStream VmLogStream;
typedef struct JobQueue JobQueue;
typedef struct UnitWatch UnitWatch;
typedef struct ImageStore ImageStore;
typedef struct SnapshotStore SnapshotStore;
typedef struct DescribeState DescribeState;
typedef struct Operations Operations;

typedef struct Manager {
        sd_event *event;
        VarlinkServer *varlink_server;
        Store *store;
        ImageStore *images;
        SnapshotStore *snapshots;
        CocoonConfig config;
        Accel host_accel;       /* what Accel=auto means on this host: kvm or tcg */
        uint64_t host_tsc_khz;  /* for guests under TCG (see qemu.c); 0 = unknown */

        sd_bus *bus;            /* attached to the loop: unit signals */
        UnitWatch *unit_watch;
        JobQueue *jobs;         /* worker threads for slow work */
        Hashmap *vm_tasks;      /* vm id -> VmTask* (the running one; others queue behind it) */
        Hashmap *consoles;      /* vm id -> ConsoleRelay* */
        Hashmap *unit_holds;    /* vm id -> unit news kept while an operation runs (vm-unit.c) */
        Hashmap *vm_runtime;    /* vm id -> what vm.c knows beyond the record (pid, cached views) */
        VmEventFunc vm_event;   /* vm.c announces record changes through this (vm-events.c) */
        VmEventFunc vm_event_machined; /* and through this (vm-machined.c) */
        Hashmap *machines;      /* vm id -> "<id>\0<name>" registered with machined (vm-machined.c) */
        VmSubscriber *subscribers; /* io.cocoon.VM.Watch callers */
        VmLogStream *log_streams;  /* `vm logs` being sent (vm-console.c) */
        Operations *operations;    /* long calls in flight (manager-operations.c) */
        char **gc_links;           /* TAPs of no VM that gc removes right now: vm_add() refuses a VM whose
                                    * TAPs would have these names (manager-gc.c) */
        unsigned n_log_streams;

        char *state_dir;
        char *run_dir;
        char *log_dir;
        char *listen_address;   /* set when not socket activated */
        char *stop_helper;      /* cocoon-vm-stop next to our binary, the VM units' ExecStop=; NULL: none */
        char *unpack_helper;    /* cocoon-unpack next to our binary (OCI layers); NULL: none */
        char *network_address;  /* the network helper's socket (CNI NICs) */

        uint64_t exit_idle_usec; /* 0: never exit when idle */
        sd_event_source *idle_timer;
        bool shutting_down;      /* SIGTERM/SIGINT seen: answering what is in flight, then exiting */
        bool bus_lost;           /* the system bus went away: exiting as well, with a failure */
        sd_event_source *exit_source;

        DescribeState *describe; /* manager-describe.c: backend versions, probed off the loop and cached */

        gid_t cocoon_gid;       /* gid of group cocoon, or (gid_t) -1 when it does not exist */
        sd_event_source *group_watch; /* /etc changes: look the gid up again (manager-group.c) */
        bool group_lookup_running, group_lookup_again;
} Manager;

Manager *manager_free(Manager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Manager *, manager_free);

/* manager-group.c: looks the gid of group cocoon up now, and again in a worker whenever /etc/group changes.
 * Needs the event loop and the job queue. */
int manager_group_init(Manager *m);

/* manager-varlink.c */
int manager_varlink_init(Manager *m);
/* Re-arms the idle-exit timer; called whenever connections, VM tasks or worker jobs come or go. */
void manager_check_idle(Manager *m);

/* manager-describe.c */
DescribeState *describe_state_free(DescribeState *d);
int vl_method_manager_describe(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata);
/* Whether VMs of backend type can start here: this build has it, its binary was found, and it did not fail
 * `--version` when last probed. When not, *ret_reason (optional) says why, for a NotSupported error. */
bool manager_backend_available(Manager *m, const char *type, char **ret_reason);
/* The backend of a VM created without one: DefaultBackend=, with auto resolved to cloud-hypervisor when it
 * is available, else qemu. */
const char *manager_default_backend(Manager *m);
