/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What garbage collection of VM directories and records removes, decided from the store and directory
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
