/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The hypervisor layer's shared Backend part: the slow, blocking half of every VM operation, the same for all
 * backends (directories, disks, the transient unit, the API handshake, stop escalation, cleanup on every
 * failure path). Runs in a worker thread on a private copy of the record and settings and reports back in
 * BackendWork; the event-loop half (placeholders, rollback, state updates) is in src/cocoon-manager/vm-task.c. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "conf-file.h"
#include "hypervisor.h"
#include "vm-types.h"

/* What kind of failure a BackendWork reports, for the caller to map to its own errors. */
typedef enum BackendFailure {
        BACKEND_FAILURE_HYPERVISOR, /* the unit, the hypervisor or its API failed (the default) */
        BACKEND_FAILURE_IMAGE,      /* an image file the VM boots from is missing or unusable */
        BACKEND_FAILURE_INCOMPATIBLE, /* a snapshot's state needs another hypervisor version */
        BACKEND_FAILURE_NETWORK,      /* a CNI plugin or the network helper failed */
        BACKEND_FAILURE_NETWORK_CONFIG, /* no such CNI network, or its conflist is unusable */
        BACKEND_FAILURE_SYSTEM,         /* a file system call on the VM's own files failed (read-only, EIO) */
        _BACKEND_FAILURE_MAX,
} BackendFailure;

/* In the VM's run directory while a graceful stop waits for the guest: the wait in microseconds, read by
 * the unit's ExecStop= helper (cocoon-vm-stop). It also tells a manager started later that the VM was
 * stopped on request. */
#define STOP_TIMEOUT_FILE_NAME "stop-timeout"

typedef struct BackendWork {
        /* inputs */
        VMRecord *record;          /* private copy */
        char *vm_dir;              /* <state>/vms/<id> */
        const Hypervisor *hypervisor; /* the record's backend */
        char *binary;              /* its executable, absolute */
        Accel accel;               /* resolved: kvm or tcg */
        uint64_t tsc_khz;          /* host TSC frequency, 0 = unknown */
        uint64_t kill_grace_usec;
        uint64_t timeout_usec;     /* stop: guest power-off wait */
        bool force;
        int signal;                /* kill: the signal for the hypervisor */
        char *stop_helper;         /* start: ExecStop= of the unit (absolute), NULL: none */
        int cancel_fd;             /* polls readable when the manager shuts down; -EBADF: never */
        char *snapshot_dir;        /* snapshot, clone: the snapshot's payload directory (snapshot store);
                                    * start: the guest's state comes from there (launched incoming) */
        char **links;              /* release-nics: TAP names to remove beyond the record's */
        char **dns;                /* start: name servers for static NICs (cocoon.conf); NULL: none */
        char *network_address;     /* the network helper's socket (io.cocoon.Network) */
        bool helper_answered;      /* the last call to the network helper got an answer (its own undo ran) */
        char *cni_config_dir;      /* cocoon.conf [Network] */
        char *cni_plugin_dir;

        /* outputs */
        char *message;             /* why it failed, for operators */
        BackendFailure failure;    /* what kind of failure message describes */
        int console_fd;            /* start: the connected serial console, for the relay */
        uint32_t main_pid;         /* start: the hypervisor's pid */
        char invocation_id[33];    /* start: the unit's InvocationID, "" if unknown */
        bool powered_off;          /* stop: the guest honoured the power button */
        char *hypervisor_version;  /* snapshot (output): the version of the binary the state came from;
                                    * clone (input): the version the snapshot's state needs */
        char **removed_links;      /* release-nics: the TAPs that existed and were removed */
        bool memory_file;          /* snapshot (output): the RAM is in the payload's SNAPSHOT_MEMORY_FILE,
                                    * not in the state (memoryFormat "file"); clone, start of a clone
                                    * (input): so is the snapshot's, and the file must be there */
        bool network_changed;      /* create, start: the NICs in record changed (MACs, addresses granted) */
        struct BackendWork *incoming; /* restore: the start of the restored hypervisor (its record: the
                                       * VM's other unit and run directory, the new disks' temp paths) */
        char *console_pty_before;  /* restore: the running hypervisor's console pty, remembered again
                                    * when the restore is undone */
        bool keep_state;           /* clone: keep the snapshot's saved state for the first start */
        bool taps_shared;          /* restore: the other unit's hypervisor has queues on the TAPs too:
                                    * start and stop neither create nor remove them */
} BackendWork;

void backend_work_free(BackendWork *w);
/* Sets w->message from format (%m is r) and returns r, for one-line failure paths. */
int backend_fail(BackendWork *w, int r, const char *format, ...) _printf_(3, 4);
static inline void backend_work_freep(BackendWork **w) {
        backend_work_free(*w);
}

int backend_create(BackendWork *w);
int backend_start(BackendWork *w);
/* Asks the guest (unless force) and hands the stop to systemd; waits for the hypervisor to exit. Returns
 * -EINPROGRESS when cancel_fd fired first: the stop goes on in systemd without us. */
int backend_stop(BackendWork *w);
/* Cuts a stop in flight short: SIGKILL to every process of the unit (QEMU and the ExecStop= helper), so
 * that the stop's wait ends at once. A unit that is not loaded is success. */
int backend_kill_now(BackendWork *w);
/* Sends signal to the hypervisor (the unit's main process) through systemd's KillUnit; returns at once.
 * A unit that is not loaded, or has no main process left, is success: there is nothing to signal. */
int backend_kill(BackendWork *w);
int backend_delete(BackendWork *w);
/* Removes the TAPs of the record's bridge-mode NICs and those in links, all of them even after a failure
 * (the first failure is the result); removed_links lists those that existed. */
int backend_release_nics(BackendWork *w);

/* backend-network.c: CNI NICs through the network helper (a transient oneshot unit). add (create): picks the
 * conflist (config.network, else the first; recorded), namespace, ADD per NIC, TAPs; fills each NIC's MAC
 * and granted address; on failure nothing is left. ensure (start): sets it up again, asking for the recorded
 * addresses, when the namespace, a TAP or a CHECK is gone or fails. del (delete): DEL in reverse and the
 * namespace, best effort. No CNI NICs: nothing to do. */
int backend_network_add(BackendWork *w);
int backend_network_ensure(BackendWork *w);
int backend_network_del(BackendWork *w);
/* The namespace the hypervisor joins (its first CNI NIC's), NULL without CNI NICs. */
const char *backend_network_netns_path(const VMRecord *rec);

/* backend-snapshot.c: pauses the guest, has the hypervisor write its state into snapshot_dir, copies the
 * guest's memory file there when the state left the RAM out (w->memory_file) and every writable disk (under
 * its base name; reflink, else sparse), and resumes the guest — on every path, also when a step failed. On
 * failure snapshot_dir is removed. */
int backend_snapshot(BackendWork *w);
/* A clone's create: its directories, and its writable disks copied from snapshot_dir (the COW grown to the
 * record's storage when that is larger). On failure nothing of it stays but the record. */
int backend_clone_disks(BackendWork *w);

/* backend-resume.c: in the VM directory of a clone created without a start, the snapshot's saved state (its
 * payload but the records and disk copies), which the first start loads instead of booting; removed once
 * the guest runs. */
#define RESUME_STATE_DIR_NAME "resume-state"
int backend_resume_state_path(const BackendWork *w, char **ret);
/* A clone's create: backend_clone_disks(), and with keep_state the saved state kept as above. */
int backend_clone_create(BackendWork *w);

/* backend-restore.c: a running VM back to its own snapshot in snapshot_dir, in two steps so that the record
 * is written in between (vm-task.c). backend_restore(): the snapshot's disks copied next to the VM's (temp
 * names), the restored hypervisor started from the snapshot as the VM's other unit (incoming, running when
 * this returns), then the copies renamed over the VM's disks (the old ones kept as backups, the running
 * hypervisor keeps its open files). Any failure leaves the VM as it was: the new unit stopped, the copies
 * removed. Outputs main_pid, console_fd, invocation_id of the new unit and w->incoming (its record).
 * backend_restore_finish(): once the record names the new unit, the old unit stopped and the backups
 * removed. backend_restore_undo(): the record could not be written: the new unit stopped, the backups
 * renamed back. */
int backend_restore(BackendWork *w);
int backend_restore_finish(BackendWork *w);
int backend_restore_undo(BackendWork *w);
/* At manager start, before serving, for each record: what a restore left when its manager was killed. A
 * disk the record's unit has open (its backup) goes back under the disk's name; copies never swapped in and
 * the backups of the other unit are removed. Blocking (a few file operations). */
int backend_restore_recover(const VMRecord *rec);
/* The run directory of a VM's unit: <run>/vms/<id> for cocoon-vm@<id>.service and <run>/vms/<id>/r for
 * the alternate instance cocoon-vm@<id>-r.service, from the record's unit and run directory. */
int backend_run_dir_for_unit(const VMRecord *r, const char *unit, char **ret);
