/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The hypervisor layer's contract: one const ops table per backend. Everything else — records, units,
 * sockets, state, cleanup — is shared (backend.c, src/cocoon-manager/vm-task.c); backends differ only in
 * how they build the command line and how they talk to their API socket. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "conf-file.h"
#include "vm-types.h"

/* How to launch one VM, resolved by the caller from configuration and host. */
typedef struct HypervisorLaunch {
        const char *binary; /* absolute path of the hypervisor executable */
        Accel accel;        /* resolved: kvm or tcg (QEMU only) */
        uint64_t tsc_khz;   /* host TSC frequency, 0 = unknown */
        bool start_paused;  /* the guest waits for resume(): the manager attaches the console first */
        bool incoming;      /* the guest's state comes from a snapshot (clone()), not from a boot */
        bool vhost_net;     /* NICs use vhost-net (KVM with /dev/vhost-net only: TCG has no ioeventfd) */
} HypervisorLaunch;

/* A snapshot's payload directory in the snapshot store: where snapshot() writes the device and RAM state and
 * clone()/restore() read it. Backends that talk to their hypervisor over descriptors (QEMU: getfd) open
 * their files through fd; backends that take paths (Cloud Hypervisor, Firecracker) use path, which their
 * sandbox must then show them. */
typedef struct HypervisorSnapshotDir {
        const char *path; /* absolute */
        int fd;           /* the same directory, open */
} HypervisorSnapshotDir;

typedef struct Hypervisor {
        const char *type;           /* "qemu", … — the record's backend */
        const char *default_binary; /* searched in $PATH unless configured */
        const char *machine;        /* the machine type of every VM (snapshots record it) */
        /* The guest's serial console is the hypervisor's stdin and stdout (Firecracker): the unit's stdout
         * is appended to the console spool, its stdin is a FIFO in the run directory (console.h), instead
         * of a pty the hypervisor opens (query_console). */
        bool serial_on_stdio;
        /* Boots only an uncompressed ELF kernel: a bzImage is extracted first (kernel-extract.h). */
        bool elf_kernel;
        /* Its saved state names the source's disk paths and a clone reopens those (Firecracker): the
         * clone's unit sees its own disks bound at the source's paths (backend.c), in its mount namespace
         * only; the source's files are never touched. */
        bool state_has_disk_paths;
        /* The guest CPU model under accel: state saved on one does not load on another. */
        const char *(*cpu_model)(Accel accel);
        /* The unit's argv (argv[0] = l->binary), sockets under r->run_dir. */
        int (*build_argv)(const VMRecord *r, const HypervisorLaunch *l, char ***ret_argv);
        /* The API socket answers, nothing runs yet: hand over the VM's configuration, for backends
         * configured by API calls rather than by argv (blocking; worker threads). Not called before clone().
         * NULL: none. */
        int (*configure)(const VMRecord *r, const HypervisorLaunch *l, uint64_t timeout_usec,
                         char **ret_error);
        /* The API socket answers: make the guest run (blocking; worker threads). */
        int (*resume)(const char *run_dir, uint64_t timeout_usec, char **ret_error);
        /* Stop the guest's vCPUs, for a consistent snapshot (blocking; worker threads). */
        int (*pause)(const char *run_dir, uint64_t timeout_usec, char **ret_error);
        /* Of a paused guest: write its device and RAM state into dir (blocking, as long as the state takes;
         * worker threads). The guest stays paused; disks are the caller's to copy. */
        int (*snapshot)(const char *run_dir, const HypervisorSnapshotDir *dir, uint64_t timeout_usec,
                        char **ret_error);
        /* Of a hypervisor launched with HypervisorLaunch.incoming: load the state snapshot() wrote into dir
         * (blocking; worker threads). The guest stays paused until resume(). */
        int (*clone)(const char *run_dir, const HypervisorSnapshotDir *dir, uint64_t timeout_usec,
                     char **ret_error);
        /* Disk index (its place in the record's storage list) is now size bytes large: the hypervisor takes
         * the new size and tells the guest (blocking; worker threads). NULL: not supported. */
        int (*disk_grown)(const char *run_dir, size_t index, uint64_t size, uint64_t timeout_usec,
                          char **ret_error);
        /* A running guest back to one of its own snapshots; NULL: not supported (yet). */
        int (*restore)(const char *run_dir, const HypervisorSnapshotDir *dir, uint64_t timeout_usec,
                       char **ret_error);
        /* Ask the guest to power off, like a power button (blocking; worker threads). */
        int (*request_shutdown)(const char *run_dir, uint64_t timeout_usec, char **ret_error);
        /* The path of the serial console's pty, as the hypervisor reports it (blocking; worker threads). */
        int (*query_console)(const char *run_dir, uint64_t timeout_usec, char **ret_path, char **ret_error);
} Hypervisor;

/* The backends this build has, the only list of them. */
extern const Hypervisor *const hypervisor_table[];
extern const size_t hypervisor_table_size;

/* The backend for a record's type, or NULL when this build has none by that name. */
const Hypervisor *hypervisor_find(const char *type);

extern const Hypervisor hypervisor_qemu;
extern const Hypervisor hypervisor_firecracker;
