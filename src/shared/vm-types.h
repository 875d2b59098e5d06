/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The VM data model: states, resource config, disks, NICs, boot, snapshots, the persisted VM record. */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

/* Limits checked at the Create boundary (vm_config_validate()), not when loading records: tightening a
 * limit later must never make existing VMs unreadable. */
#define VM_NAME_MAX 63
#define VM_CPU_MAX 255U /* x86 guests without x2APIC address at most 255 vCPUs */
/* The predecessor required 512 MiB. Our test guests (a 6.1 kernel and a busybox initramfs) boot in
 * 64 MiB, and a VM that is too small fails visibly in its own console, not on the host; so the floor only
 * catches typos such as "64" meaning MiB. */
#define VM_MEMORY_MIN (UINT64_C(64) << 20)
/* The COW disk; 0 means "no writable root disk" (kernel + initramfs guests). The predecessor required
 * 10 GiB; the file is sparse, so the size only bounds what the guest may write. */
#define VM_STORAGE_MIN (UINT64_C(64) << 20)
#define DATA_DISK_SIZE_MIN (UINT64_C(16) << 20)
/* Linux truncates /dev/disk/by-id/virtio-<serial> at 20 characters. */
#define STORAGE_SERIAL_MAX 20
/* Split virtqueues have at most 2^15 entries and a power-of-two size. */
#define VIRTIO_QUEUE_SIZE_MAX 32768U
#define VM_COW_SERIAL "cocoon-cow"
#define VM_LAYER_SERIAL_PREFIX "cocoon-layer"

typedef enum VMState {
        VM_STATE_CREATING, /* placeholder reserved, disks being built */
        VM_STATE_CREATED,
        VM_STATE_RUNNING,
        VM_STATE_STOPPED,
        VM_STATE_ERROR,
        /* A graceful stop is in flight (or systemd is stopping the unit). Never recorded: the record says
         * running until the stop is over; the manager shows stopping from what it knows. */
        VM_STATE_STOPPING,
        _VM_STATE_MAX,
        _VM_STATE_INVALID = -EINVAL,
} VMState;

typedef enum StorageRole {
        STORAGE_ROLE_LAYER, /* read-only image layer (EROFS), serial cocoon-layer<N> */
        STORAGE_ROLE_COW, /* the writable root overlay, serial cocoon-cow */
        STORAGE_ROLE_CIDATA, /* read-only cloud-init NoCloud seed */
        STORAGE_ROLE_DATA, /* user data disk, serial = its name */
        _STORAGE_ROLE_MAX,
        _STORAGE_ROLE_INVALID = -EINVAL,
} StorageRole;

typedef enum NetworkBackend {
        NETWORK_BACKEND_CNI, /* TAP inside a per-VM netns set up by CNI */
        NETWORK_BACKEND_BRIDGE, /* TAP on a host bridge */
        _NETWORK_BACKEND_MAX,
        _NETWORK_BACKEND_INVALID = -EINVAL,
} NetworkBackend;

const char *vm_state_to_string(VMState s);
VMState vm_state_from_string(const char *s);
const char *storage_role_to_string(StorageRole r);
StorageRole storage_role_from_string(const char *s);
const char *network_backend_to_string(NetworkBackend b);
NetworkBackend network_backend_from_string(const char *s);

/* A backend name's syntax (lowercase letters, digits, '-'; at most 32). Which backends exist is
 * hypervisor_find()'s to say: a record of a backend this build lacks still loads (and can be removed). */
bool vm_backend_name_is_valid(const char *s);
/* "oci", "cloudimg". */
bool image_type_is_valid(const char *s);
/* [A-Za-z0-9][A-Za-z0-9._-]{0,62} */
bool vm_name_is_valid(const char *s);
/* A Linux interface name: 1-15 bytes, no '/', ':' or whitespace, not "." or "..". */
bool ifname_is_valid(const char *s);
/* [a-z][a-z0-9_-]{0,19}, not starting with "cocoon-": a data disk's name, also its serial. */
bool data_disk_name_is_valid(const char *s);

/* The resource block shared by VMs and snapshots. JSON object "config". Strings may be NULL (omitted). */
typedef struct Config {
        uint32_t cpu;
        uint64_t memory; /* bytes */
        uint64_t storage; /* bytes of the COW disk; 0 = none */
        uint32_t queue_size; /* "queueSize": virtio-net ring entries, 0 = hypervisor default */
        uint32_t disk_queue_size; /* "diskQueueSize": virtio-blk ring entries, 0 = default */
        char *image; /* as the user typed it */
        char *image_digest; /* "imageDigest": "sha256:…" */
        char *image_type; /* "imageType": "oci" | "cloudimg" */
        char *network; /* CNI conflist name, NULL = default */
        char *accel; /* QEMU accelerator asked for: "auto", "kvm", "tcg"; NULL = the configured default */
        bool no_direct_io; /* "noDirectIO" */
        bool windows;
} Config;

/* Create input: the name plus resources, and transient settings that are never persisted. */
typedef struct VMConfig {
        char *name;
        Config config;
        char *user; /* cloud-init user, [a-z_][a-z0-9_-]{0,31} */
        char *password; /* cloud-init password; no control characters */
} VMConfig;

/* One disk. JSON keys: path, readOnly, serial, role, mountPoint, fsType, directIO. */
typedef struct StorageConfig {
        char *path;
        bool read_only;
        char *serial; /* always serialized, "" when none */
        StorageRole role;
        char *mount_point; /* data disks only */
        char *fs_type; /* data disks only: "ext4" | "none" */
        int direct_io; /* data disks only: -1 inherit the VM setting (omitted), 0 off, 1 on */
} StorageConfig;

/* Static IPv4 address of a NIC; absent = DHCP / none. JSON object "network": ip, gateway, prefix, dns. */
typedef struct NetworkAddress {
        char *ip;
        char *gateway; /* may be NULL */
        uint32_t prefix;
        char **dns; /* IPv4 name servers the network gave (CNI result), may be NULL; omitted when none */
} NetworkAddress;

/* One NIC. JSON keys: tap, mac, numQueues, queueSize, backend, bridgeDev, netnsPath, network. */
typedef struct NetworkConfig {
        char *tap;
        char *mac; /* may be NULL: the hypervisor picks one */
        uint32_t num_queues; /* virtio queues (rx+tx pairs), 0 = default */
        uint32_t queue_size; /* 0 = default */
        NetworkBackend backend;
        char *bridge_dev; /* bridge mode only */
        char *netns_path; /* CNI mode: /var/run/netns/cocoon-<id> */
        NetworkAddress *address;
} NetworkConfig;

/* Direct kernel boot (kernel_path set) or UEFI (firmware_path). JSON keys: kernelPath, initrdPath, cmdline,
 * firmwarePath. */
typedef struct BootConfig {
        char *kernel_path;
        char *initrd_path;
        char *cmdline;
        char *firmware_path;
} BootConfig;

/* The public part of a VM. Times are microseconds since the epoch, 0 = unset (omitted), RFC 3339 in JSON.
 * snapshot_ids is a set (no duplicates), kept in insertion order. */
typedef struct VM {
        char *id;
        char *name;
        char *backend; /* a hypervisor_find() type; see vm_backend_name_is_valid() */
        VMState state;
        Config config;
        StorageConfig *storage_configs;
        size_t n_storage_configs;
        NetworkConfig *network_configs;
        size_t n_network_configs;
        bool first_booted;
        char **snapshot_ids;
        uint64_t created_at, updated_at, started_at, stopped_at;
} VM;

/* The persisted record: one vms/<id>/vm.json. image_blob_ids is a set of the image blobs this VM pins
 * against image GC. run_dir/log_dir are absolute paths captured at creation so that cleanup still works
 * after a configuration change. */
typedef struct VMRecord {
        VM vm;
        BootConfig *boot_config; /* NULL: absent */
        char **image_blob_ids;
        char *run_dir;
        char *log_dir;
        char *error_reason; /* why the VM went to error (e.g. the hypervisor's exit), NULL otherwise */
        char *unit; /* the transient unit, cocoon-vm@<id>.service */
} VMRecord;

/* What a snapshot carries besides its payload. JSON: id, name, description, backend, nics, imageBlobIds,
 * createdAt, config. */
typedef struct SnapshotConfig {
        char *id;
        char *name;
        char *description;
        char *backend; /* the backend it was taken on */
        uint32_t nics;
        char **image_blob_ids;
        uint64_t created_at;
        Config config;
} SnapshotConfig;

/* ---- lifetime: *_done() frees the members of a struct the caller owns; *_free() also the struct ---- */
void config_done(Config *c);
void vm_config_done(VMConfig *c);
void storage_config_done(StorageConfig *s);
void network_config_done(NetworkConfig *n);
NetworkAddress *network_address_free(NetworkAddress *a);
BootConfig *boot_config_free(BootConfig *b);
void vm_done(VM *vm);
VMRecord *vm_record_free(VMRecord *r);
SnapshotConfig *snapshot_config_free(SnapshotConfig *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(NetworkAddress *, network_address_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(BootConfig *, boot_config_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(VMRecord *, vm_record_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(SnapshotConfig *, snapshot_config_free);
static inline void vm_config_donep(VMConfig *c) {
        vm_config_done(c);
}

/* An empty record: state creating, all pointers NULL. */
int vm_record_new(VMRecord **ret);

/* ---- deep copies (dst is overwritten, not freed first; on failure dst is left empty) ---- */
int config_copy(Config *dst, const Config *src);
int storage_config_copy(StorageConfig *dst, const StorageConfig *src);
int network_config_copy(NetworkConfig *dst, const NetworkConfig *src);
int boot_config_copy(const BootConfig *src, BootConfig **ret); /* src NULL gives *ret NULL */
int vm_copy(VM *dst, const VM *src);
int vm_record_copy(const VMRecord *src, VMRecord **ret);
int snapshot_config_copy(const SnapshotConfig *src, SnapshotConfig **ret);

/* ---- deep equality ---- */
bool config_equal(const Config *a, const Config *b);
bool vm_equal(const VM *a, const VM *b);
bool vm_record_equal(const VMRecord *a, const VMRecord *b);

/* ---- building ---- */
/* Appends *s and takes over its members (*s is zeroed). */
int vm_add_storage_config(VM *vm, StorageConfig *s);
int vm_add_network_config(VM *vm, NetworkConfig *n);
/* Set operations on snapshot_ids: adding a present id and removing an absent one are no-ops (return 0);
 * otherwise 1. */
int vm_add_snapshot_id(VM *vm, const char *id);
int vm_remove_snapshot_id(VM *vm, const char *id);

/* ---- JSON (camelCase keys; see each type for the key list) ---- */
int config_to_json(const Config *c, json_object **ret);
int storage_config_to_json(const StorageConfig *s, json_object **ret);
int network_config_to_json(const NetworkConfig *n, json_object **ret);
int boot_config_to_json(const BootConfig *b, json_object **ret);
/* Adds the VM's fields to the object o. */
int vm_append_json(const VM *vm, json_object *o);
/* The public view: id, name, backend, state, config, storageConfigs, networkConfigs, firstBooted,
 * snapshotIds, createdAt, updatedAt, startedAt, stoppedAt, errorReason, unit. */
int vm_record_to_public_json(const VMRecord *r, json_object **ret);
/* The listing view: id, name, backend, state, config {cpu, memory}, createdAt, errorReason, ip (the NICs'
 * static addresses, comma-separated; absent when none). */
int vm_record_to_summary_json(const VMRecord *r, json_object **ret);
/* The persisted record: the public view plus bootConfig, imageBlobIds, runDir, logDir. */
int vm_record_to_json(const VMRecord *r, json_object **ret);

/* Parsers are strict: unknown keys, wrong types and missing mandatory keys are errors (-EINVAL, -ENXIO,
 * -EADDRNOTAVAIL or -ERANGE, see json_dispatch()), with *ret_bad_field (optional) naming the top-level key.
 * They check types and enums, not the rules of the *_validate() functions. */
int config_from_json(json_object *o, Config *ret, const char **ret_bad_field);
int vm_record_from_json(json_object *o, VMRecord **ret, const char **ret_bad_field);
int snapshot_config_to_json(const SnapshotConfig *s, json_object **ret);
int snapshot_config_from_json(json_object *o, SnapshotConfig **ret, const char **ret_bad_field);

/* ---- validation ----
 * Each returns 0 when valid, or -EINVAL with *ret_field (optional) set to the static camelCase name of the
 * offending field and *ret_message (optional, malloc'd) to a sentence for people; -ENOMEM if that sentence
 * cannot be allocated. Nothing is written on success. */
/* What the host can give a new VM; 0 = no bound. */
typedef struct VMHostLimits {
        uint64_t memory_max;  /* the host's RAM */
        uint64_t storage_max; /* free space of the file system the VM's disks go to */
} VMHostLimits;

/* Create input, the only check of it: name, resources against the limits above and (when limits is not
 * NULL) what the host can give, user, password. Memory must be a whole number of MiB: hypervisors take
 * MiB, and rounding silently would give the guest something else than asked for. */
int vm_config_validate(const VMConfig *c, const VMHostLimits *limits, const char **ret_field,
                       char **ret_message);
/* Disk list invariants: roles, layer/cidata read-only and cow/data read-write, serials (cocoon-layer<N>,
 * cocoon-cow, data disk names; unique), at most one cow and one cidata disk, directIO/fsType/mountPoint only
 * on data disks, fsType ext4|none, none without mount point, absolute paths. */
int storage_configs_validate(const StorageConfig *s, size_t n, const char **ret_field, char **ret_message);
/* NIC list: TAP and bridge names, MAC, queue counts and sizes, backend consistency, IPv4 address. */
int network_configs_validate(const NetworkConfig *n, size_t count, const char **ret_field,
                             char **ret_message);
/* Absolute paths; initrd or cmdline only with a kernel. */
int boot_config_validate(const BootConfig *b, const char **ret_field, char **ret_message);
/* A whole record, as read from disk: structure and invariants, not the Create-time limits. */
int vm_record_validate(const VMRecord *r, const char **ret_field, char **ret_message);
