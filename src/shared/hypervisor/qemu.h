/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The QEMU backend: the command line a VM record launches with, and its QMP conversations. */
#pragma once

#include <stdint.h>

#include "conf-file.h"
#include "hypervisor.h"
#include "snapshot-store.h"
#include "vm-types.h"

/* The device and RAM state in a snapshot's payload. */
#define QEMU_STATE_FILE_NAME SNAPSHOT_STATE_FILE

/* auto -> kvm where the CPU really has hardware virtualization, else tcg. */
Accel accel_resolve(Accel a);


/* The full argv (argv[0] = binary) for direct kernel boot on microvm: the guest's RAM in l->memory_file
 * when set (memory-backend-file, share=on, or share=off when l->memory_private), QMP on <run_dir>/api.sock,
 * serial on a pty whose output QEMU appends to <log_dir>/console.spool, every storage entry as a
 * virtio-blk-device with its serial, the kernel command line from the boot config (plus tsc_early_khz= under
 * TCG when missing: microvm has no PIT to calibrate against, and the guest hangs without it). -EOPNOTSUPP
 * for UEFI records (no kernel). */
int qemu_build_argv(const VMRecord *r, const HypervisorLaunch *l, char ***ret_argv);


/* Blocking QMP conversations (worker threads): */
/* Connects, negotiates, checks the VM status and resumes it if paused by -S. */
int qemu_resume(const char *run_dir, uint64_t timeout_usec, char **ret_error);
/* Sends stop: the vCPUs halt, devices keep their state. */
int qemu_pause(const char *run_dir, uint64_t timeout_usec, char **ret_error);
/* Migrates the paused guest's device and RAM state into <dir>/QEMU_STATE_FILE_NAME: the file is created
 * here (0600; it must not exist), passed to QEMU with getfd (its seccomp filter denies exec:, and it cannot
 * see the snapshot store) and written by `migrate fd:`; completion is awaited on MIGRATION events. A guest
 * whose RAM is a shared memory file (query-memdev) is saved with x-ignore-shared: its RAM stays out of the
 * state and dir->memory_file is set, for the caller to copy the file. On failure the file is removed and
 * QEMU is left paused. */
int qemu_snapshot(const char *run_dir, HypervisorSnapshotDir *dir, uint64_t timeout_usec, char **ret_error);
/* Loads <dir>/QEMU_STATE_FILE_NAME into a QEMU started with -incoming defer (`migrate-incoming fd:`);
 * with x-ignore-shared when dir->memory_file (the RAM is the snapshot's file QEMU was started over). */
int qemu_clone(const char *run_dir, const HypervisorSnapshotDir *dir, uint64_t timeout_usec,
               char **ret_error);
/* block_resize of drive disk<index> (as qemu_build_argv() names them) to size bytes: virtio-blk then tells
 * the guest its new capacity. */
/* set_link on every NIC's netdev (net0 ... net<n_nics - 1>): the guest sees its carrier go down or up. */
int qemu_set_links(const char *run_dir, size_t n_nics, bool up, uint64_t timeout_usec, char **ret_error);
/* *ret: every NIC with a MAC in nics is one QEMU's guest uses (query-rx-filter's main-mac). A guest resumed
 * from another VM's snapshot uses that VM's MACs until it resets its NICs (a virtio reset loads the MAC of
 * the command line). */
int qemu_nics_current(const char *run_dir, const NetworkConfig *nics, size_t n_nics, uint64_t timeout_usec,
                      bool *ret, char **ret_error);
int qemu_disk_grown(const char *run_dir, size_t index, uint64_t size, uint64_t timeout_usec,
                    char **ret_error);
/* Sends system_powerdown (the ACPI power button). */
int qemu_request_powerdown(const char *run_dir, uint64_t timeout_usec, char **ret_error);
/* The pty of the serial console: query-chardev's "pty:/dev/pts/N" of label "console" -> "/dev/pts/N". */
int qemu_query_console(const char *run_dir, uint64_t timeout_usec, char **ret_path, char **ret_error);
