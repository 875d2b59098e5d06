/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Bridge-mode NICs on the host: checking a bridge, and the persistent TAP devices QEMU attaches to. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "vm-types.h"

/* At most this many NICs per VM (one decimal digit in the TAP name below). */
#define VM_NICS_MAX 8U
/* "cocoon" + 8 characters of the id + the NIC's index: 15, the longest interface name Linux takes. */
#define TAP_NAME_MAX 15

/* The TAP name of NIC index of VM id: "cocoon<id[0..8)><index>". -EINVAL for an index >= VM_NICS_MAX or an
 * id shorter than 8 characters. ret has room for TAP_NAME_MAX + 1 bytes. */
int tap_name_for_nic(const char *id, unsigned index, char ret[static TAP_NAME_MAX + 1]);

/* A random locally administered unicast MAC, "02:xx:xx:xx:xx:xx" style (first octet x2, x6, xa or xe).
 * ret has room for 18 bytes. */
int mac_random(char ret[static 18]);

/* 0 when name is a bridge in the caller's network namespace; -ENODEV when there is no such link,
 * -ENOTTY when it is another kind of link, another -errno when netlink fails. */
int bridge_check(const char *name);

/* Creates (or takes over) the persistent TAP name (IFF_TAP, IFF_NO_PI, IFF_VNET_HDR, and IFF_MULTI_QUEUE
 * with multi_queue) owned by uid:gid so that an unprivileged hypervisor may attach to it, gives it the
 * bridge's MTU, enslaves it to bridge and sets it up. Needs CAP_NET_ADMIN. On failure nothing this call
 * created is left. */
int tap_create(const char *name, const char *bridge, bool multi_queue, uid_t uid, gid_t gid);

/* Removes the TAP: 1 when it was removed, 0 when there was none; -ENOTTY when the name is another kind of
 * link (not ours to delete). */
int tap_remove(const char *name);

/* A clone's NICs (same count, mode and bridge or network as its source's): bridge-mode ones get TAP names of
 * its own id and new MACs, so that the clone never takes over its source's TAP and the two guests are told
 * apart on the bridge; CNI ones get the namespace cocoon-<id> and lose MAC and address, which the clone's
 * own CNI ADD gives (backend_network_add()). -EINVAL for an id shorter than 8 characters. */
int nics_renew(NetworkConfig *nics, size_t n, const char *id);

/* The names of every link of kind tun (TAP and TUN devices) in the caller's network namespace. */
int tun_links_list(char ***ret);

/* Sets up the TAPs of every bridge-mode NIC; multiqueue ones when the hypervisor opens them so
 * (Hypervisor.taps_multiqueue), whatever numQueues: a restore's second hypervisor then attaches queues of its
 * own while the first still runs (the TAP steers each flow to one queue), which a single-queue TAP refuses
 * (EBUSY). A NIC with more than one queue pair gets a multiqueue TAP always. On failure removes those it set
 * up, *ret_bad (optional) names the NIC's TAP that failed. */
int taps_create(const NetworkConfig *nics, size_t n, bool multiqueue, uid_t uid, gid_t gid,
                const char **ret_bad);
/* Removes the TAPs of every bridge-mode NIC, all of them even after a failure; returns the first error. */
int taps_remove(const NetworkConfig *nics, size_t n);

/* vhost-net accelerates virtio-net only with KVM (it needs ioeventfd/irqfd): true when the device exists. */
bool vhost_net_available(void);
