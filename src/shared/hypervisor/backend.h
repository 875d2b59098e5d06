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

        /* outputs */
        char *message;             /* why it failed, for operators */
        BackendFailure failure;    /* what kind of failure message describes */
        int console_fd;            /* start: the connected serial console, for the relay */
        uint32_t main_pid;         /* start: the hypervisor's pid */
        char invocation_id[33];    /* start: the unit's InvocationID, "" if unknown */
        bool powered_off;          /* stop: the guest honoured the power button */
        char *hypervisor_version;  /* snapshot (output): the version of the binary the state came from;
                                    * clone (input): the version the snapshot's state needs */
        bool memory_file;          /* snapshot (output): the RAM is in the payload's SNAPSHOT_MEMORY_FILE,
                                    * not in the state (memoryFormat "file"); clone, start of a clone
                                    * (input): so is the snapshot's, and the file must be there */
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

/* backend-snapshot.c: pauses the guest, has the hypervisor write its state into snapshot_dir, copies the
 * guest's memory file there when the state left the RAM out (w->memory_file) and every writable disk (under
 * its base name; reflink, else sparse), and resumes the guest — on every path, also when a step failed. On
 * failure snapshot_dir is removed. */
int backend_snapshot(BackendWork *w);
/* A clone's create: its directories, and its writable disks copied from snapshot_dir (the COW grown to the
 * record's storage when that is larger). On failure nothing of it stays but the record. */
int backend_clone_disks(BackendWork *w);
