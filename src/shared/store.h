/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The VM record store: one JSON file per VM (<state>/vms/<id>/vm.json), all records indexed in memory. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "hashmap.h"
#include "macro.h"
#include "vm-types.h"

/* Records are small; anything larger is not one of ours. */
#define STORE_RECORD_MAX ((size_t) 1024U * 1024U)
#define STORE_RECORD_FILE "vm.json"
#define STORE_CORRUPT_SUFFIX ".corrupt-"

/* Owns every record and the state directory's lock. Single-threaded: call it from one thread only. */
typedef struct Store Store;

/* Creates <state_dir> and <state_dir>/vms (0700) as needed, takes an exclusive flock on <state_dir>/lock
 * (held until store_free(); -EBUSY when another open file description holds it, e.g. another manager) and
 * loads every <state_dir>/vms/<id>/vm.json. A record that does not parse or validate, or whose id is not
 * its directory's name, is renamed to vm.json.corrupt-<unix time> and counted; the others still load.
 * Stale temporary files from an interrupted write are removed. */
int store_open(const char *state_dir, Store **ret);
Store *store_free(Store *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(Store *, store_free);

const char *store_get_state_dir(const Store *s);
/* "<state_dir>/vms/<id>": where a VM's record and writable disks live. */
int store_vm_dir(const Store *s, const char *id, char **ret);

/* The record, or NULL. The pointer stays valid until that record is put again or removed. */
const VMRecord *store_get(const Store *s, const char *id);
const VMRecord *store_get_by_name(const Store *s, const char *name);

/* Validates r (vm_record_validate(): -EINVAL), checks that no other record owns its name (-EEXIST), then
 * writes a copy atomically to its own file and updates the index. An unchanged record is not rewritten.
 * Cost is independent of the number of records. On failure the store and the file are unchanged. */
int store_put(Store *s, const VMRecord *r);

/* Unlinks the record file (and the VM directory if that is then empty) and drops the record. -ENOENT if
 * there is no such record. Disks in the VM directory are the caller's to remove. */
int store_remove(Store *s, const char *id);

size_t store_count(const Store *s);
size_t store_count_state(const Store *s, VMState state);
/* Records quarantined (renamed .corrupt-*) or unreadable (I/O error) during store_open(). */
unsigned store_corrupt_count(const Store *s);
/* True if vms/<id> holds a record that could not be loaded, now or at an earlier start (a vm.json.corrupt-*
 * file without vm.json): GC must not treat such a directory as an orphan, its disks may be all that is left
 * of a VM. */
bool store_is_quarantined(const Store *s, const char *id);
/* Iterates the ids whose record could not be loaded (start with *state = 0), so the caller can report them. */
bool store_iterate_quarantined(const Store *s, size_t *state, const char **ret_id);

/* Iteration in no particular order: start with *state = 0. The store must not change meanwhile. */
bool store_iterate(const Store *s, size_t *state, const VMRecord **ret);

/* The index, for reference resolution: id -> VMRecord*, name -> the owning record's id (char *). */
const Hashmap *store_get_ids(const Store *s);
const Hashmap *store_get_names(const Store *s);
