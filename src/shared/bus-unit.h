/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Transient systemd units for VMs over the public sd-bus API: start/stop/kill, state, listing, watching. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "macro.h"

#define UNIT_VM_PREFIX "cocoon-vm@"
#define UNIT_VM_SUFFIX ".service"

/* The confinement of a hypervisor (see bus-unit-properties.c for the fixed part): an unprivileged user with
 * no capabilities, a system call allow-list, no network, only AF_UNIX sockets, no new privileges, the host's
 * file system read-only and the directories that hold every VM's files (hidden_paths) replaced by empty
 * ones, into which only this VM's files are mounted at their own paths. */
typedef struct UnitSandbox {
        const char *user;            /* User=; its groups come from the user database (sysusers.d) */
        char **hidden_paths;         /* TemporaryFileSystem=<path>:ro */
        char **bind_paths;           /* BindPaths=, read-write, each at its own path */
        char **bind_read_only_paths; /* BindReadOnlyPaths= */
        char **bind_redirects;       /* BindPaths=, read-write, pairs: the file, then the path it shows at */
        char **device_allow;         /* DeviceAllow=<dev> rw; none: PrivateDevices=yes */
        bool allow_write_execute;    /* no MemoryDenyWriteExecute=: a JIT (QEMU's TCG) needs W+X pages */
        bool host_network;           /* no PrivateNetwork=: bridge-mode TAPs are in the manager's netns */
        /* CapabilityBoundingSet= of a root helper (1 << CAP_*); 0: none. CAP_MKNOD in it means no
         * PrivateDevices= (which would drop it); DevicePolicy=closed stays. */
        uint64_t capabilities;
        bool allow_suid_sgid;        /* no RestrictSUIDSGID=: the layer unpacker keeps setuid files */
        /* TemporaryFileSystem=<scratch_path>:mode=0700,size=<scratch_size>: memory (a tmpfs) to write in;
         * NULL: none */
        const char *scratch_path;
        uint64_t scratch_size;
} UnitSandbox;

/* How the hypervisor of one VM runs. KillMode=mixed, SendSIGKILL=yes, Type=exec and
 * CollectMode=inactive-or-failed are always used: systemd, not a pidfile, tracks the process. */
typedef struct UnitSpec {
        const char *description;
        const char *slice;                  /* NULL: systemd's default for the name */
        char **argv;                        /* argv[0] is the absolute path of the binary */
        /* ExecStop=, run when the unit is asked to stop, before systemd's SIGTERM: argv[0] absolute. NULL:
         * none. Its failure is ignored; it may extend the stop timeout with EXTEND_TIMEOUT_USEC=. */
        char **exec_stop;
        /* ExecStopPost=, run whenever the unit's process ended, also when it died (systemd skips ExecStop=
         * then): argv[0] absolute, NULL: none. Privileged and its failure ignored, like exec_stop. */
        char **exec_stop_post;
        const char *working_directory;      /* NULL: "/" */
        const char *stdout_path;            /* absolute; appended to, also takes stderr; NULL: journal */
        /* A serial console on stdio (Firecracker): stdout appended to this file (absolute), stderr to the
         * journal; stdin from stdin_fd when > 0 (StandardInputFileDescriptor=). NULL: not used. */
        const char *console_output_path;
        int stdin_fd;
        uint64_t timeout_stop_usec;         /* SIGTERM -> SIGKILL grace; 0: systemd's default */
        char **environment;                 /* "KEY=value", may be NULL */
        const char *network_namespace_path; /* e.g. /run/netns/<name>, may be NULL */
        const UnitSandbox *sandbox;         /* NULL: not confined */
        bool oneshot;                       /* Type=oneshot: the start job ends when the program exits */
} UnitSpec;

/* The state of one unit as systemd reports it. Strings are owned; free with unit_runtime_done(). */
typedef struct UnitRuntime {
        char *load_state;
        char *active_state;
        char *sub_state;
        char *result;                    /* Service.Result: "success", "exit-code", "signal", ... */
        uint32_t main_pid;               /* 0 when no main process */
        int exec_main_code;              /* CLD_EXITED, CLD_KILLED, CLD_DUMPED, 0 if it never ran */
        int exec_main_status;            /* exit status or signal number */
        uint64_t memory_current;         /* bytes; UINT64_MAX if unknown */
        uint64_t cpu_usage_nsec;         /* UINT64_MAX if unknown */
        uint64_t tasks_current;          /* UINT64_MAX if unknown */
        uint64_t active_enter_timestamp; /* µs since the epoch, 0 if never active */
        char invocation_id[33];          /* 32 hex characters, "" if none */
} UnitRuntime;

void unit_runtime_done(UnitRuntime *rt);

/* One row of unit_list(); free the array with unit_list_free(). */
typedef struct UnitListEntry {
        char *name;
        char *load_state;
        char *active_state;
        char *sub_state;
} UnitListEntry;

void unit_list_free(UnitListEntry *entries, size_t n);

/* Blocking calls, for worker threads: each thread uses its own bus (sd_bus_open_system()), never one attached
 * to an event loop (these calls dispatch its messages while they wait). */

/* Creates and starts the transient service `unit_name` and waits for its start job. A stale unit of that
 * name (failed, or inactive but still loaded) is reset and the start retried once. Returns -EEXIST if the
 * unit is running already (or a unit file of that name blocks it). On failure *ret_error_message (if not
 * NULL) gets an explanation, with the exit status when the binary could not be started. */
int unit_start_transient(sd_bus *bus, const char *unit_name, const UnitSpec *spec, char **ret_error_message);

/* StopUnit(mode "replace"); with wait, returns once the stop job is done. -ENOENT if not loaded. */
int unit_stop(sd_bus *bus, const char *unit_name, bool wait);

/* KillUnit: whom is "main", "control" or "all". -ENOENT if not loaded. */
int unit_kill(sd_bus *bus, const char *unit_name, const char *whom, int signo);

/* ResetFailedUnit. -ENOENT if not loaded. */
int unit_reset_failed(sd_bus *bus, const char *unit_name);

/* Reads the Unit and Service properties (one GetAll each). -ENOENT if the unit is not loaded. */
int unit_get_runtime(sd_bus *bus, const char *unit_name, UnitRuntime *ret);

/* Units currently loaded whose name matches the glob `pattern` (ListUnitsByPatterns). */
int unit_list(sd_bus *bus, const char *pattern, UnitListEntry **ret, size_t *ret_n);

/* "cocoon-vm@<id>.service" <-> "<id>"; -EINVAL unless id is a valid record id. The alternate instance
 * "cocoon-vm@<id>" UNIT_VM_ALTERNATE_SUFFIX ".service" maps to "<id>" too: a restore starts the restored
 * hypervisor beside the running one under the instance the VM does not use, then retires the other. */
int unit_name_for_vm(const char *vm_id, char **ret);
int unit_name_to_vm_id(const char *unit_name, char **ret);
#define UNIT_VM_ALTERNATE_SUFFIX "-r"
/* The VM's other instance: "cocoon-vm@<id>-r.service" for "cocoon-vm@<id>.service" and back. */
int unit_name_vm_other(const char *unit_name, char **ret);
/* Whether unit_name is the alternate instance "cocoon-vm@<id>-r.service". */
bool unit_name_is_vm_alternate(const char *unit_name);

/* Turns how the main process ended into text for operators ("powered off", "exited with status 1",
 * "killed by signal KILL", ...). *ret_clean is true only for Result "success" with exit status 0: the guest
 * powered off; anything else is an error. */
int unit_exit_reason(const char *result, int exec_main_code, int exec_main_status, char **ret_reason,
                     bool *ret_clean);

/* Asynchronous watch, for the manager's event loop. */

typedef struct UnitWatch UnitWatch;

/* What the watch knows about one unit. Strings are "" until known; valid during the callback only. */
typedef struct UnitStateChange {
        const char *unit;
        const char *active_state;
        const char *sub_state;
        const char *result;
        const char *invocation_id;
        uint32_t main_pid;
        int exec_main_code;
        int exec_main_status;
        bool removed; /* systemd unloaded the unit; the fields hold the last values seen */
} UnitStateChange;

/* Must not free the watch. */
typedef void (*UnitWatchCallback)(const UnitStateChange *change, void *userdata);

/* bus must be attached to an sd-event loop. Subscribes to PID 1's signals and calls cb for every state
 * change of units whose name starts with unit_prefix, and when such a unit is removed. Never blocks:
 * invalidated properties are refetched asynchronously. A name can also be reported for a unit that only
 * ever existed as a stub (someone asked PID 1 about a unit that does not exist): state "inactive". */
int unit_watch_new(sd_bus *bus, const char *unit_prefix, UnitWatchCallback cb, void *userdata,
                   UnitWatch **ret);

/* 1 once the signal matches are installed and Subscribe() succeeded (no change is missed from then on),
 * 0 before, -errno if setting the watch up failed. */
int unit_watch_is_ready(UnitWatch *w);

UnitWatch *unit_watch_free(UnitWatch *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(UnitWatch *, unit_watch_free);
