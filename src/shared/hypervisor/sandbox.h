/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Where a VM's hypervisor is confined: its unprivileged user, the files it may see, and their ownership. */
#pragma once

#include "bus-unit.h"
#include "conf-file.h"
#include "vm-types.h"

/* The system user every hypervisor runs as (sysusers.d/cocoon.conf; a member of group kvm). */
#define HYPERVISOR_USER "cocoon-vm"

/* The sandbox of rec's hypervisor: user HYPERVISOR_USER; the roots holding every VM's directories (the
 * parents of <root>/vms/<id>) hidden; this VM's run directory and writable disks bound read-write, its
 * kernel, initrd and read-only disks read-only; /dev/kvm only with KVM, and W+X memory only without it
 * (TCG). With NICs: /dev/net/tun (and /dev/vhost-net with KVM when present), and no private network for
 * bridge-mode NICs, whose TAPs are in the manager's namespace. -EINVAL if a directory of rec is not
 * <root>/vms/<id>. Free with hypervisor_sandbox_done(). */
int hypervisor_sandbox_build(const VMRecord *rec, const char *vm_dir, Accel accel, UnitSandbox *ret);
void hypervisor_sandbox_done(UnitSandbox *sb);

/* Hands the files the hypervisor writes to HYPERVISOR_USER: the run directory (0700) and the writable disks
 * (0600). Blocking (user database); for worker threads. -ESRCH if the user does not exist; on failure
 * *ret_bad_path (if not NULL) names the file. */
int hypervisor_sandbox_own_files(const VMRecord *rec, char **ret_bad_path);

/* The uid and primary gid of HYPERVISOR_USER (e.g. the owner of its TAPs). Blocking (user database).
 * -ESRCH if the user does not exist. */
int hypervisor_user_lookup(uid_t *ret_uid, gid_t *ret_gid);
