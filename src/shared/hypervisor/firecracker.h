/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Firecracker backend: its command line, the API calls that configure and drive a VM. */
#pragma once

#include <json-c/json.h>
#include <stdint.h>

#include "hypervisor.h"
#include "vm-types.h"

/* The state files of a snapshot (PUT /snapshot/create): in the snapshot's payload, and where Firecracker
 * writes and reads them (its run directory: the snapshot store is out of its sight). */
#define FIRECRACKER_STATE_FILE_NAME "vmstate"
#define FIRECRACKER_MEMORY_FILE_NAME "mem"

/* The argv: <binary> --api-sock <run_dir>/api.sock --id <id>. Everything else is configured through the
 * API (firecracker_configure()); the serial console is the process's stdin and stdout. */
int firecracker_build_argv(const VMRecord *r, const HypervisorLaunch *l, char ***ret_argv);

/* The guest's kernel command line: the record's, then the NICs' ip= parameters (helpers.h), then what a
 * Firecracker guest needs and the record lacks: reboot=k (a guest reboot or power-off ends the process),
 * pci=off (Firecracker has no PCI bus). A VM of an OCI image names its disks by device already
 * (Hypervisor.disks_by_path, build_overlay_cmdline()): Firecracker's drives have no serial. */
int firecracker_boot_args(const VMRecord *r, char **ret);

/* One configuration call: its method is PUT, its path and body are returned. Calls are numbered from 0:
 * /boot-source, /drives/drive_<i> for each disk, /machine-config, /network-interfaces/eth<i> for each NIC;
 * -ENOENT past the last. The record's kernel must be the ELF one already (backend.c extracts it). */
int firecracker_config_call(const VMRecord *r, size_t index, char **ret_path, json_object **ret_body);

/* The body of PUT /snapshot/load: the state and memory files (a File backend), and with r's NICs
 * network_overrides, eth<i> on r's TAP i (the TAPs the saved state names are the source's). r may be
 * NULL. */
int firecracker_load_body(const VMRecord *r, const char *state, const char *mem, json_object **ret);

extern const Hypervisor hypervisor_firecracker;
