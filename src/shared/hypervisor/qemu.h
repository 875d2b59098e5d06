/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The QEMU backend: the command line a VM record launches with, and its QMP conversations. */
#pragma once

#include <stdint.h>

#include "conf-file.h"
#include "hypervisor.h"
#include "vm-types.h"

/* auto -> kvm where the CPU really has hardware virtualization, else tcg. */
Accel accel_resolve(Accel a);


/* The full argv (argv[0] = binary) for direct kernel boot on microvm: QMP on <run_dir>/api.sock, serial on a
 * pty whose output QEMU appends to <log_dir>/console.spool, every storage entry as a virtio-blk-device with
 * its serial, the kernel command line from the boot config (plus tsc_early_khz= under TCG when missing: microvm has no PIT to calibrate
 * against, and the guest hangs without it). -EOPNOTSUPP for UEFI records (no kernel). */
int qemu_build_argv(const VMRecord *r, const HypervisorLaunch *l, char ***ret_argv);


/* Blocking QMP conversations (worker threads): */
/* Connects, negotiates, checks the VM status and resumes it if paused by -S. */
int qemu_resume(const char *run_dir, uint64_t timeout_usec, char **ret_error);
/* Sends system_powerdown (the ACPI power button). */
int qemu_request_powerdown(const char *run_dir, uint64_t timeout_usec, char **ret_error);
/* The pty of the serial console: query-chardev's "pty:/dev/pts/N" of label "console" -> "/dev/pts/N". */
int qemu_query_console(const char *run_dir, uint64_t timeout_usec, char **ret_path, char **ret_error);
