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
        char *const *dns;   /* name servers for static NICs (cocoon.conf [Network] DNS=); NULL: none */
        /* Guest RAM in this file instead of anonymous memory, NULL: anonymous. A booted VM's is
         * <run_dir>/MEMORY_FILE_NAME on tmpfs, mapped shared: a snapshot then copies the file and leaves RAM
         * out of the state. A clone of such a snapshot maps the snapshot's file privately (memory_private):
         * copy-on-write, it reads only the pages its guest touches and never writes the file. */
        const char *memory_file;
        bool memory_private;
} HypervisorLaunch;

/* A snapshot's payload directory in the snapshot store: where snapshot() writes the device and RAM state and
 * clone() reads it. Backends that talk to their hypervisor over descriptors (QEMU: getfd) open
 * their files through fd; backends that take paths (Cloud Hypervisor, Firecracker) use path, which their
 * sandbox must then show them. */
typedef struct HypervisorSnapshotDir {
        const char *path; /* absolute */
        int fd;           /* the same directory, open */
        /* snapshot() (output): the guest's RAM is its memory file (HypervisorLaunch.memory_file, shared)
         * and was left out of the state: the caller copies the file into the payload (SNAPSHOT_MEMORY_FILE)
         * before the guest runs again. clone() (input): the state was saved so, the RAM is the payload's
         * file that the hypervisor was launched with (memory_private). */
        bool memory_file;
        /* Backends with state_by_path only (else NULL): the VM's VMM_STATE_DIR_NAME directory, the one its
         * sandboxed hypervisor can reach, and the record of the VM the state is saved from or loaded into
         * (a clone's own disks and NICs replace the snapshot's). */
        const char *exchange;
        const VMRecord *record;
} HypervisorSnapshotDir;

typedef struct Hypervisor {
        const char *type;           /* "qemu", … — the record's backend */
        const char *default_binary; /* searched in $PATH unless configured */
        const char *machine;        /* the machine type of every VM (snapshots record it) */
        bool kvm_only;              /* no emulation: runs with /dev/kvm whatever Accel= says */
        /* The hypervisor appends the serial console's output to <log_dir>/console.spool itself; without it
         * the manager's relay logs what the pty shows. */
        bool console_spool;
        /* The hypervisor saves and loads its state through paths, not descriptors: its sandbox shows it
         * <vm_dir>/VMM_STATE_DIR_NAME, which backend_start() creates, and snapshot()/clone() get it. */
        bool state_by_path;
        /* The API conversation of a start once the hypervisor runs, one call a string, for Debug. */
        const char *const *start_calls;
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
        /* OCI images (build_overlay_cmdline()): the kernel parameters before boot=cocoon-overlay, the
         * console first; and whether the guest finds its disks by path (/dev/vd<x> in storage order:
         * the hypervisor gives disks no serial) instead of by virtio serial. */
        const char *overlay_cmdline_head;
        bool disks_by_path;
        /* Opens its TAPs multiqueue (IFF_MULTI_QUEUE), so a bridge NIC's TAP is made multiqueue and a
         * restore's second hypervisor attaches queues beside the running one's. Cloud Hypervisor and
         * Firecracker open a single-pair TAP without the flag, which the kernel refuses on a multiqueue TAP
         * (EINVAL): their TAPs stay single-queue and their VMs with NICs cannot be restored. */
        bool taps_multiqueue;
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
        int (*snapshot)(const char *run_dir, HypervisorSnapshotDir *dir, uint64_t timeout_usec,
                        char **ret_error);
        /* Of a hypervisor launched with HypervisorLaunch.incoming: load the state snapshot() wrote into dir
         * (blocking; worker threads). The guest stays paused until resume(). A clone and a restore both
         * come through here: a restore is a new hypervisor started from the snapshot as the VM's other
         * unit and swapped in once it runs (backend-restore.c), so it needs no hook of its own. */
        int (*clone)(const char *run_dir, const HypervisorSnapshotDir *dir, uint64_t timeout_usec,
                     char **ret_error);
        /* Carrier of every NIC of the guest down (up false) or up (blocking; worker threads): a guest resumed
         * from a snapshot sees its links go down and up, the guest contract's cue to read its network
         * identity again (docs/architecture.md). NULL: the backend has no such cue. */
        int (*set_links)(const char *run_dir, size_t n_nics, bool up, uint64_t timeout_usec,
                         char **ret_error);
        /* *ret: the guest uses the MAC of every NIC of nics that has one, i.e. a guest resumed from another
         * VM's state has taken its own (blocking; worker threads). NULL: cannot tell. */
        int (*nics_current)(const char *run_dir, const NetworkConfig *nics, size_t n_nics,
                            uint64_t timeout_usec, bool *ret, char **ret_error);
        /* Disk index (its place in the record's storage list) is now size bytes large: the hypervisor takes
         * the new size and tells the guest (blocking; worker threads). NULL: not supported. */
        int (*disk_grown)(const char *run_dir, size_t index, uint64_t size, uint64_t timeout_usec,
                          char **ret_error);
        /* A graceful stop whose guest did not power off in time, just before systemd's SIGTERM: end the
         * VM inside the hypervisor, so that it flushes its disk backends (run by the unit's ExecStop=
         * helper, cocoon-vm-stop, in the unit's sandbox). NULL: SIGTERM is enough. */
        int (*final_shutdown)(const char *run_dir, uint64_t timeout_usec, char **ret_error);
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
extern const Hypervisor hypervisor_cloud_hypervisor;
extern const Hypervisor hypervisor_firecracker;
