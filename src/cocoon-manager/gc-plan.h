/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What garbage collection of VM directories, records and TAPs removes, decided from the store and the
 * listings alone: no I/O, so it is testable without a manager. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* Whether VM id has an operation in flight: a delete drops the record before it removes the directories. */
typedef bool (*GcBusyFunc)(const char *id, void *userdata);

/* The entries of one "<base>/vms" directory (run, state or log directory). */
typedef struct GcListing {
        const char *dir;
        char **names;
} GcListing;

typedef struct GcPlan {
        char **dirs; /* absolute directories to remove: orphans first, then those of the records below */
        char **records; /* ids of the records to drop: stuck in creating for longer than the grace period */
} GcPlan;

void gc_plan_done(GcPlan *plan);

/* An entry is an orphan when its name is a VM id that is neither a record, a quarantined record nor busy.
 * A creating record not updated for CREATING_STATE_GC_GRACE_USEC before now (CLOCK_REALTIME, µs) and not
 * busy is a crash remnant: it goes, with its state, run and log directories. busy may be NULL. */
int gc_plan(const Store *store, const GcListing *listings, size_t n_listings, uint64_t now, GcBusyFunc busy,
            void *userdata, GcPlan *ret);

/* Whether a VM in this state has no use for its TAPs: no hypervisor runs, none is being started or stopped.
 * The same rule decides which TAPs gc collects and whether a queued removal still runs (vm-task.c). */
bool vm_state_taps_unused(VMState state);

/* A name of the form tap_name_for_nic() gives: "cocoon", 8 characters of the id alphabet, a digit. */
bool gc_link_name_is_ours(const char *name);

typedef struct GcLinkPlan {
        char **orphans;  /* TAPs whose prefix no VM record (loaded or quarantined) has: gc removes them */
        char **vm_ids;   /* TAPs of a VM whose state has no use for them and with no operation in flight: */
        char **vm_links; /* vm_links[i] belongs to vm_ids[i], removed through that VM's task queue */
} GcLinkPlan;

void gc_link_plan_done(GcLinkPlan *plan);

/* Sorts links (names of TAP devices; those not gc_link_name_is_ours() are ignored) by whose they are. A
 * TAP whose prefix is that of a VM in use, of a VM with an operation in flight, of a quarantined record or
 * of more than one VM is kept. busy may be NULL. */
int gc_plan_links(const Store *store, char *const *links, GcBusyFunc busy, void *userdata, GcLinkPlan *ret);

/* The VM ids among ids (those of network namespaces cocoon-<id> and of IPAM leases) that are orphans as
 * gc_plan() says: a valid id, no record, no quarantined record, not busy; each once. busy may be NULL. */
int gc_plan_network(const Store *store, char *const *ids, GcBusyFunc busy, void *userdata, char ***ret);
