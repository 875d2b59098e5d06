/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The snapshot store: one directory per snapshot (<state>/snapshots/<id>/) with its record and payload, all
 * records indexed in memory; pending records for saves in flight. */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "id.h"
#include "macro.h"
#include "vm-types.h"

/* Bumped whenever snapshot.json or the payload layout changes in a way older code cannot read. */
#define SNAPSHOT_FORMAT_VERSION 1U
/* The complete record: written last, atomically, so that its presence means the payload is complete. */
#define SNAPSHOT_RECORD_FILE "snapshot.json"
/* The intent, written before any payload: a directory with only this is a save that never finished. */
#define SNAPSHOT_PENDING_FILE "pending.json"
#define SNAPSHOT_DESCRIPTION_MAX 1024U
/* The payload, besides a copy of every writable disk under its base name: the hypervisor's device state
 * (with the RAM in it when memoryFormat is "stream"), and the guest's RAM as a plain file when memoryFormat
 * is "file" (clones map it copy-on-write). */
#define SNAPSHOT_STATE_FILE "vmstate"
#define SNAPSHOT_MEMORY_FILE "ram"

/* A snapshot: what it was taken of and with, so that a clone needs nothing else and can refuse what does not
 * fit before it starts anything. JSON (snapshot.json): formatVersion, id, name, description, createdAt,
 * backend, hypervisorVersion, machine, cpuModel, accel, memoryFormat (absent in records of earlier saves:
 * "stream"), vm (the source VM's record at the time: config,
 * storageConfigs, bootConfig, imageBlobIds — the blobs it pins against image GC). A writable disk of the
 * source is in the payload under the base name of its path. */
typedef struct Snapshot {
        char id[ID_LENGTH + 1];
        char *name;
        char *description; /* NULL: none */
        uint64_t created_at; /* µs since the epoch */
        char *backend; /* the hypervisor type it was taken with */
        char *hypervisor_version; /* "7.2.22": device state does not cross versions reliably */
        char *machine; /* "microvm" */
        char *cpu_model; /* "host" (KVM) or the TCG default */
        char *accel; /* "kvm" | "tcg" */
        bool memory_file; /* memoryFormat: "file" (RAM in SNAPSHOT_MEMORY_FILE) or "stream" (in the state) */
        VMRecord *vm; /* the source, as it was */
        bool pending; /* registered, payload being written (never listed) */
        bool leftover; /* pending when the store was opened: no save of ours is writing it */
        unsigned users; /* clones reading the payload now: not to be deleted meanwhile */
} Snapshot;

Snapshot *snapshot_free(Snapshot *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(Snapshot *, snapshot_free);

/* The persisted form and its strict parser (unknown keys are errors; *ret_bad_field names the key). */
int snapshot_to_json(const Snapshot *s, json_object **ret);
int snapshot_from_json(json_object *o, Snapshot **ret, const char **ret_bad_field);
/* The API's view: id, name, description, createdAt, backend, hypervisorVersion, machine, cpuModel, accel,
 * memoryFormat, vm (the source id), config {cpu, memory, storage, image, imageDigest}, storageConfigs,
 * imageBlobIds. */
int snapshot_to_public_json(const Snapshot *s, json_object **ret);
/* Structure of a record as read from disk or built for a save: id, name (like VM names), description
 * (printable, bounded), format fields, and the embedded VM record. -EINVAL with field and message. */
int snapshot_validate(const Snapshot *s, const char **ret_field, char **ret_message);

/* The payload a snapshot directory may hold besides its records, the one list of it (the archive import
 * accepts these names and no other): the hypervisor's state files (NULL-terminated; SNAPSHOT_STATE_FILE
 * required; SNAPSHOT_MEMORY_FILE, the guest RAM as a plain file, required when memoryFormat is "file" and
 * refused otherwise) and a copy of each writable disk under the base name of its path (required). */
extern const char *const snapshot_state_files[];
/* The state files of a snapshot taken with backend when they are not QEMU's, NULL-terminated, all required
 * (Firecracker: vmstate, mem; Cloud Hypervisor: config.json, state.json, memory-ranges); NULL for QEMU's
 * (snapshot_state_files). */
const char *const *snapshot_backend_state_files(const char *backend);
/* Whether name is one of s's state files (its backend's, or snapshot_state_files). */
bool snapshot_state_file_is(const Snapshot *s, const char *name);
/* Whether name is a payload file of s (a state file or a writable disk's copy); *ret_required (optional)
 * says whether every snapshot of s's shape has it. */
bool snapshot_payload_name_is_valid(const Snapshot *s, const char *name, bool *ret_required);
/* The required payload names of s, NULL-terminated (strings borrowed from s and static ones). */
int snapshot_payload_required(const Snapshot *s, const char ***ret);

typedef struct SnapshotStore SnapshotStore;

/* Creates <state_dir>/snapshots (0700) as needed and loads every <id>/snapshot.json (complete) or
 * <id>/pending.json (leftover of an interrupted save: loaded pending + leftover, for the caller to recover
 * and GC to remove). A record that does not parse or validate is renamed *.corrupt-<usec> and counted. */
int snapshot_store_open(const char *state_dir, SnapshotStore **ret);
SnapshotStore *snapshot_store_free(SnapshotStore *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(SnapshotStore *, snapshot_store_free);

const char *snapshot_store_root(const SnapshotStore *s);
/* "<root>/<id>": a snapshot's directory. */
int snapshot_store_dir(const SnapshotStore *s, const char *id, char **ret);

/* Any record, pending ones too; NULL when absent. Valid until it is removed. */
Snapshot *snapshot_store_get(const SnapshotStore *s, const char *id);
/* Complete records only: id, then name, then an id prefix of >= 3 characters (resolve.c's rules).
 * -ENOENT, -ENOTUNIQ (*ret_candidates, optional, gets the matching ids), -EINVAL (empty ref). */
int snapshot_store_resolve(const SnapshotStore *s, const char *ref, const Snapshot **ret,
                           char ***ret_candidates);
/* The record owning name, pending or not; NULL if none. */
const Snapshot *snapshot_store_get_by_name(const SnapshotStore *s, const char *name);

/* Registers snap as pending (takes it, also on failure): name taken -> -EEXIST; creates <root>/<id> (0700,
 * must not exist) and writes pending.json before anything else is written there. */
int snapshot_store_begin(SnapshotStore *s, Snapshot *snap);
/* The payload is complete: writes snapshot.json atomically (the snapshot is visible from now on, also to
 * the next manager), then drops pending.json. On failure the record stays pending. */
int snapshot_store_commit(SnapshotStore *s, const char *id);
/* Drops the record (its snapshot.json/pending.json first, so it is gone even if the rest is not) and the
 * index entry. The payload is the caller's to remove (rm_rf() of the directory, in a worker: it may be
 * gigabytes); a directory without a record is an orphan to GC. -ENOENT if there is no such record. */
int snapshot_store_forget(SnapshotStore *s, const char *id);

/* Iteration in no particular order over every record, pending ones too: start with *state = 0. */
bool snapshot_store_iterate(const SnapshotStore *s, size_t *state, Snapshot **ret);
size_t snapshot_store_count(const SnapshotStore *s); /* complete ones */
unsigned snapshot_store_corrupt_count(const SnapshotStore *s);

/* What GC removes: leftover pending records (dropped from the index here, their record files unlinked) and
 * directories under the root that are no record's (not quarantined ones). *ret_dirs (absolute) are the
 * caller's to rm_rf() in a worker. */
int snapshot_store_gc(SnapshotStore *s, char ***ret_dirs);
