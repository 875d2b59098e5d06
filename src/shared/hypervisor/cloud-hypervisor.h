/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Cloud Hypervisor backend: its command line and its REST API (vmm-http) on <run_dir>/api.sock. */
#pragma once

#include <json-c/json.h>
#include <stdint.h>

#include "hypervisor.h"
#include "vm-types.h"

/* What a disk's or NIC's virtio queues get when the record does not say (Cloud Hypervisor's own defaults
 * are smaller for disks). */
#define CH_DISK_QUEUE_SIZE_DEFAULT 512U
#define CH_NET_QUEUE_SIZE_DEFAULT 256U
/* Below this much memory a guest gets no balloon: it has nothing to spare. */
#define CH_BALLOON_MEMORY_MIN (UINT64_C(256) << 20)

/* One --disk item: path=<p>, then readonly=on (read-only) or direct=on (writable, unless the record says no
 * direct I/O) and sparse=on (writable raw), image_type=raw|qcow2 (by the .qcow2 suffix) with
 * backing_files=on for a writable qcow2, num_queues=<cpu>, queue_size=<diskQueueSize or 512>, serial=<s>
 * when it has one. No queue_affinity: pinning every VM's queues to host CPUs 0..n-1 piles them up.
 * -EINVAL for a path or serial with a comma (it would split the item). */
int ch_disk_item(const StorageConfig *s, const Config *c, char **ret);
/* One --net item: tap=<tap>[,mac=<mac>],num_queues=<numQueues or 2>,queue_size=<queueSize or 256>,
 * offload_tso=on,offload_ufo=on,offload_csum=on. */
int ch_net_item(const NetworkConfig *n, const Config *c, char **ret);
/* The kernel command line: the boot config's, plus "net.ifnames=0" and the ip= parameters with NICs. */
int ch_kernel_cmdline(const VMRecord *r, char **ret);
/* The full argv (argv[0] = l->binary). A VM booted from its kernel: --api-socket, --cpus boot=N,
 * --memory size=<bytes>, --kernel/--initramfs/--cmdline, --disk items, --net items, --rng, --balloon
 * (memory/4, from CH_BALLOON_MEMORY_MIN up, not for Windows), --serial tty --console off (the guest's
 * ttyS0 on the process's stdin and stdout: systemd appends the output to the spool). Cloud Hypervisor
 * boots it at once. l->incoming: only --api-socket; the state comes with vm.restore. -EOPNOTSUPP for
 * UEFI records. */
int ch_build_argv(const VMRecord *r, const HypervisorLaunch *l, char ***ret_argv);

/* Rewrites a snapshot's config.json (parsed) for the VM r that a clone restores it into (cocoon-behavior.md
 * 4.9): disk i gets r's storage path i, NIC i r's TAP and MAC, the serial on stdio (Tty) and the virtio
 * console off;
 * other fields (known or not) stay. The snapshot's and r's disk and NIC counts must match (-EINVAL, with
 * *ret_error saying which). *ret_old and *ret_new get the disk paths before and after. */
int ch_config_for_clone(json_object *config, const VMRecord *r, char ***ret_old, char ***ret_new,
                        char **ret_error);

/* In state.json: a string under a key "path" or "disk_path", anywhere in the tree, that equals old[i]
 * exactly (no prefixes) becomes new[i]. */
int ch_rewrite_paths(json_object *o, char **old, char **new, size_t n);

extern const Hypervisor hypervisor_cloud_hypervisor;
