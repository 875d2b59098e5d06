/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The slow, blocking part of each VM operation. Runs in a worker thread: it gets a private copy of the
 * record and of the settings it needs, never touches the manager, and reports back in VmWork. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "conf-file.h"
#include "hypervisor.h"
#include "vm-types.h"

typedef struct VmWork {
        /* inputs */
        VMRecord *record;          /* private copy */
        char *vm_dir;              /* <state>/vms/<id> */
        const Hypervisor *hypervisor; /* the record's backend */
        char *binary;              /* its executable, absolute */
        Accel accel;               /* resolved: kvm or tcg */
        uint64_t kill_grace_usec;
        uint64_t timeout_usec;     /* stop: guest power-off wait */
        bool force;

        /* outputs */
        char *message;             /* why it failed, for operators */
        const char *error_id;      /* the Varlink error for it; NULL: HypervisorFailed */
        int console_fd;            /* start: the connected serial console, for the relay */
        uint32_t main_pid;         /* start: the hypervisor's pid */
        bool powered_off;          /* stop: the guest honoured the power button */
} VmWork;

void vm_work_free(VmWork *w);
static inline void vm_work_freep(VmWork **w) {
        vm_work_free(*w);
}

int vm_work_create(VmWork *w);
int vm_work_start(VmWork *w);
int vm_work_stop(VmWork *w);
int vm_work_delete(VmWork *w);
