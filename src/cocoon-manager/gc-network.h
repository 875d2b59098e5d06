/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Garbage collection of CNI networks: the namespaces cocoon-<id> under /run/netns and the IPAM (host-local)
 * leases whose VM is gone. Finding and removing them is blocking work for a worker thread; which ids are
 * orphans is decided on the event loop (gc_plan_network()). */
#pragma once

#include <stddef.h>

/* The leases host-local keeps in <dataDir>/<network>/<ip> (default dataDir /var/lib/cni/networks). */
#define GC_CNI_LEASE_DIR_DEFAULT "/var/lib/cni/networks"

typedef struct GcLease {
        char *id; /* the container id the file names: a VM id */
        char *path;
        char *network; /* the conflist whose IPAM keeps this directory; NULL when none does (any more) */
        char *ifname; /* the interface the lease says, NULL when it says none */
} GcLease;

typedef struct GcNetworkFound {
        char **netns_ids; /* ids of the namespaces cocoon-<id> */
        GcLease *leases;
        size_t n_leases;
} GcNetworkFound;

void gc_network_found_done(GcNetworkFound *f);

/* Lists the namespaces under netns_dir and the lease files naming a VM id: in the lease directories of the
 * conflists of config_dir, and in every directory of lease_dir (host-local's default). Unreadable places
 * are skipped. */
int gc_network_list(const char *netns_dir, const char *config_dir, const char *lease_dir,
                    GcNetworkFound *ret);

/* Every id found, each once (for gc_plan_network()). */
int gc_network_found_ids(const GcNetworkFound *f, char ***ret);

/* For each orphan id: asks the network helper at address to delete its network, once per network its
 * leases are in (CNI DEL through the conflist when it still loads, then the lease files the DELs left) or
 * once for its namespace alone. *ret_removed_netns gets the namespaces and *ret_removed_leases the lease
 * files gone afterwards. cache_base is the state directory's vms/ (the VM's cached ADD results, if any are
 * left). */
int gc_network_remove(const char *address, const char *config_dir, const char *plugin_dir,
                      const char *netns_dir, const char *cache_base, char *const *orphans,
                      const GcNetworkFound *f, char ***ret_removed_netns, char ***ret_removed_leases);
