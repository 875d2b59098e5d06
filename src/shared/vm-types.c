/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The VM data model: enum tables, lifetime (done/free), deep copies, equality, list building. */
#include <stdint.h>

#include "strv-util.h"
#include "vm-types.h"

static const char *const vm_state_table[_VM_STATE_MAX] = {
        [VM_STATE_CREATING] = "creating", [VM_STATE_CREATED] = "created", [VM_STATE_RUNNING] = "running",
        [VM_STATE_STOPPED] = "stopped",   [VM_STATE_ERROR] = "error",       [VM_STATE_STOPPING] = "stopping",
};

static const char *const storage_role_table[_STORAGE_ROLE_MAX] = {
        [STORAGE_ROLE_LAYER] = "layer",
        [STORAGE_ROLE_COW] = "cow",
        [STORAGE_ROLE_CIDATA] = "cidata",
        [STORAGE_ROLE_DATA] = "data",
};

static const char *const network_backend_table[_NETWORK_BACKEND_MAX] = {
        [NETWORK_BACKEND_CNI] = "cni",
        [NETWORK_BACKEND_BRIDGE] = "bridge",
};

static const char *const image_type_table[] = {"oci", "cloudimg"};

static const char *table_to_string(const char *const *table, size_t n, int i) {
        if (i < 0 || (size_t) i >= n)
                return NULL;
        return table[i];
}

static int table_from_string(const char *const *table, size_t n, const char *s) {
        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (table[i] && streq(table[i], s))
                        return (int) i;
        return -EINVAL;
}

const char *vm_state_to_string(VMState s) {
        return table_to_string(vm_state_table, ELEMENTSOF(vm_state_table), s);
}

VMState vm_state_from_string(const char *s) {
        return (VMState) table_from_string(vm_state_table, ELEMENTSOF(vm_state_table), s);
}

const char *storage_role_to_string(StorageRole r) {
        return table_to_string(storage_role_table, ELEMENTSOF(storage_role_table), r);
}

StorageRole storage_role_from_string(const char *s) {
        return (StorageRole) table_from_string(storage_role_table, ELEMENTSOF(storage_role_table), s);
}

const char *network_backend_to_string(NetworkBackend b) {
        return table_to_string(network_backend_table, ELEMENTSOF(network_backend_table), b);
}

NetworkBackend network_backend_from_string(const char *s) {
        return (NetworkBackend) table_from_string(network_backend_table, ELEMENTSOF(network_backend_table),
                                                  s);
}

bool vm_backend_name_is_valid(const char *s) {
        return !isempty(s) && strlen(s) <= 32 && s[strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-")] == '\0';
}

bool image_type_is_valid(const char *s) {
        return table_from_string(image_type_table, ELEMENTSOF(image_type_table), s) >= 0;
}

/* ---- lifetime ---- */

void config_done(Config *c) {
        if (!c)
                return;
        free(c->image);
        free(c->image_digest);
        free(c->image_type);
        free(c->network);
        free(c->accel);
        *c = (Config){};
}

void vm_config_done(VMConfig *c) {
        if (!c)
                return;
        free(c->name);
        config_done(&c->config);
        free(c->user);
        if (c->password) {
                /* Do not leave the password in freed heap memory. */
                explicit_bzero(c->password, strlen(c->password));
                free(c->password);
        }
        *c = (VMConfig){};
}

void storage_config_done(StorageConfig *s) {
        if (!s)
                return;
        free(s->path);
        free(s->serial);
        free(s->mount_point);
        free(s->fs_type);
        *s = (StorageConfig){.direct_io = -1};
}

NetworkAddress *network_address_free(NetworkAddress *a) {
        if (!a)
                return NULL;
        free(a->ip);
        free(a->gateway);
        strv_free(a->dns);
        return mfree(a);
}

void network_config_done(NetworkConfig *n) {
        if (!n)
                return;
        free(n->tap);
        free(n->mac);
        free(n->bridge_dev);
        free(n->netns_path);
        network_address_free(n->address);
        *n = (NetworkConfig){};
}

BootConfig *boot_config_free(BootConfig *b) {
        if (!b)
                return NULL;
        free(b->kernel_path);
        free(b->initrd_path);
        free(b->cmdline);
        free(b->firmware_path);
        return mfree(b);
}

void vm_done(VM *vm) {
        if (!vm)
                return;
        free(vm->id);
        free(vm->name);
        free(vm->backend);
        config_done(&vm->config);
        for (size_t i = 0; i < vm->n_storage_configs; i++)
                storage_config_done(&vm->storage_configs[i]);
        free(vm->storage_configs);
        for (size_t i = 0; i < vm->n_network_configs; i++)
                network_config_done(&vm->network_configs[i]);
        free(vm->network_configs);
        strv_free(vm->snapshot_ids);
        *vm = (VM){};
}

VMRecord *vm_record_free(VMRecord *r) {
        if (!r)
                return NULL;
        vm_done(&r->vm);
        boot_config_free(r->boot_config);
        strv_free(r->image_blob_ids);
        free(r->run_dir);
        free(r->log_dir);
        free(r->error_reason);
        free(r->unit);
        return mfree(r);
}

SnapshotConfig *snapshot_config_free(SnapshotConfig *s) {
        if (!s)
                return NULL;
        free(s->id);
        free(s->name);
        free(s->description);
        free(s->backend);
        strv_free(s->image_blob_ids);
        config_done(&s->config);
        return mfree(s);
}

int vm_record_new(VMRecord **ret) {
        VMRecord *r = calloc(1, sizeof(VMRecord));
        if (!r)
                return -ENOMEM;
        r->vm.state = VM_STATE_CREATING;
        *ret = r;
        return 0;
}

/* ---- deep copies ---- */

/* strdup() that maps NULL to NULL and reports failure. */
static int strdup_to(char **dst, const char *src) {
        if (!src) {
                *dst = NULL;
                return 0;
        }
        *dst = strdup(src);
        return *dst ? 0 : -ENOMEM;
}

int config_copy(Config *dst, const Config *src) {
        *dst = (Config){
                .cpu = src->cpu,
                .memory = src->memory,
                .storage = src->storage,
                .queue_size = src->queue_size,
                .disk_queue_size = src->disk_queue_size,
                .no_direct_io = src->no_direct_io,
                .windows = src->windows,
        };
        if (strdup_to(&dst->image, src->image) < 0 || strdup_to(&dst->image_digest, src->image_digest) < 0 ||
            strdup_to(&dst->image_type, src->image_type) < 0 || strdup_to(&dst->network, src->network) < 0 ||
            strdup_to(&dst->accel, src->accel) < 0) {
                config_done(dst);
                return -ENOMEM;
        }
        return 0;
}

int storage_config_copy(StorageConfig *dst, const StorageConfig *src) {
        *dst = (StorageConfig){
                .read_only = src->read_only,
                .role = src->role,
                .direct_io = src->direct_io,
        };
        if (strdup_to(&dst->path, src->path) < 0 || strdup_to(&dst->serial, src->serial) < 0 ||
            strdup_to(&dst->mount_point, src->mount_point) < 0 ||
            strdup_to(&dst->fs_type, src->fs_type) < 0) {
                storage_config_done(dst);
                return -ENOMEM;
        }
        return 0;
}

static int network_address_copy(const NetworkAddress *src, NetworkAddress **ret) {
        _cleanup_(network_address_freep) NetworkAddress *a = NULL;

        if (!src) {
                *ret = NULL;
                return 0;
        }
        a = calloc(1, sizeof(NetworkAddress));
        if (!a)
                return -ENOMEM;
        a->prefix = src->prefix;
        if (strdup_to(&a->ip, src->ip) < 0 || strdup_to(&a->gateway, src->gateway) < 0 ||
            (src->dns && strv_copy(src->dns, &a->dns) < 0))
                return -ENOMEM;
        *ret = TAKE_PTR(a);
        return 0;
}

int network_config_copy(NetworkConfig *dst, const NetworkConfig *src) {
        *dst = (NetworkConfig){
                .num_queues = src->num_queues,
                .queue_size = src->queue_size,
                .backend = src->backend,
        };
        if (strdup_to(&dst->tap, src->tap) < 0 || strdup_to(&dst->mac, src->mac) < 0 ||
            strdup_to(&dst->bridge_dev, src->bridge_dev) < 0 ||
            strdup_to(&dst->netns_path, src->netns_path) < 0 ||
            network_address_copy(src->address, &dst->address) < 0) {
                network_config_done(dst);
                return -ENOMEM;
        }
        return 0;
}

int boot_config_copy(const BootConfig *src, BootConfig **ret) {
        _cleanup_(boot_config_freep) BootConfig *b = NULL;

        if (!src) {
                *ret = NULL;
                return 0;
        }
        b = calloc(1, sizeof(BootConfig));
        if (!b)
                return -ENOMEM;
        if (strdup_to(&b->kernel_path, src->kernel_path) < 0 ||
            strdup_to(&b->initrd_path, src->initrd_path) < 0 || strdup_to(&b->cmdline, src->cmdline) < 0 ||
            strdup_to(&b->firmware_path, src->firmware_path) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(b);
        return 0;
}

static int vm_copy_lists(VM *dst, const VM *src) {
        if (src->n_storage_configs > 0) {
                dst->storage_configs = calloc(src->n_storage_configs, sizeof(StorageConfig));
                if (!dst->storage_configs)
                        return -ENOMEM;
                for (; dst->n_storage_configs < src->n_storage_configs; dst->n_storage_configs++)
                        if (storage_config_copy(&dst->storage_configs[dst->n_storage_configs],
                                                &src->storage_configs[dst->n_storage_configs]) < 0)
                                return -ENOMEM;
        }
        if (src->n_network_configs > 0) {
                dst->network_configs = calloc(src->n_network_configs, sizeof(NetworkConfig));
                if (!dst->network_configs)
                        return -ENOMEM;
                for (; dst->n_network_configs < src->n_network_configs; dst->n_network_configs++)
                        if (network_config_copy(&dst->network_configs[dst->n_network_configs],
                                                &src->network_configs[dst->n_network_configs]) < 0)
                                return -ENOMEM;
        }
        return strv_copy(src->snapshot_ids, &dst->snapshot_ids);
}

int vm_copy(VM *dst, const VM *src) {
        int r;

        *dst = (VM){
                .state = src->state,
                .first_booted = src->first_booted,
                .created_at = src->created_at,
                .updated_at = src->updated_at,
                .started_at = src->started_at,
                .stopped_at = src->stopped_at,
        };
        r = config_copy(&dst->config, &src->config);
        if (r < 0)
                return r;
        if (strdup_to(&dst->id, src->id) < 0 || strdup_to(&dst->name, src->name) < 0 ||
            strdup_to(&dst->backend, src->backend) < 0 || vm_copy_lists(dst, src) < 0) {
                vm_done(dst);
                return -ENOMEM;
        }
        return 0;
}

int vm_record_copy(const VMRecord *src, VMRecord **ret) {
        _cleanup_(vm_record_freep) VMRecord *r = NULL;

        r = calloc(1, sizeof(VMRecord));
        if (!r)
                return -ENOMEM;
        if (vm_copy(&r->vm, &src->vm) < 0 || boot_config_copy(src->boot_config, &r->boot_config) < 0 ||
            strv_copy(src->image_blob_ids, &r->image_blob_ids) < 0 ||
            strdup_to(&r->run_dir, src->run_dir) < 0 || strdup_to(&r->log_dir, src->log_dir) < 0 ||
            strdup_to(&r->error_reason, src->error_reason) < 0 || strdup_to(&r->unit, src->unit) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(r);
        return 0;
}

int snapshot_config_copy(const SnapshotConfig *src, SnapshotConfig **ret) {
        _cleanup_(snapshot_config_freep) SnapshotConfig *s = NULL;

        s = calloc(1, sizeof(SnapshotConfig));
        if (!s)
                return -ENOMEM;
        s->nics = src->nics;
        s->created_at = src->created_at;
        if (config_copy(&s->config, &src->config) < 0 || strdup_to(&s->id, src->id) < 0 ||
            strdup_to(&s->name, src->name) < 0 || strdup_to(&s->description, src->description) < 0 ||
            strdup_to(&s->backend, src->backend) < 0 ||
            strv_copy(src->image_blob_ids, &s->image_blob_ids) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(s);
        return 0;
}

/* ---- equality ---- */

bool config_equal(const Config *a, const Config *b) {
        return a->cpu == b->cpu && a->memory == b->memory && a->storage == b->storage &&
               a->queue_size == b->queue_size && a->disk_queue_size == b->disk_queue_size &&
               streq_ptr(a->image, b->image) && streq_ptr(a->image_digest, b->image_digest) &&
               streq_ptr(a->image_type, b->image_type) && streq_ptr(a->network, b->network) &&
               streq_ptr(a->accel, b->accel) && a->no_direct_io == b->no_direct_io &&
               a->windows == b->windows;
}

static bool storage_config_equal(const StorageConfig *a, const StorageConfig *b) {
        return streq_ptr(a->path, b->path) && a->read_only == b->read_only &&
               streq_ptr(a->serial, b->serial) && a->role == b->role &&
               streq_ptr(a->mount_point, b->mount_point) && streq_ptr(a->fs_type, b->fs_type) &&
               a->direct_io == b->direct_io;
}

static bool network_address_equal(const NetworkAddress *a, const NetworkAddress *b) {
        if (!a || !b)
                return a == b;
        return streq_ptr(a->ip, b->ip) && streq_ptr(a->gateway, b->gateway) && a->prefix == b->prefix &&
               strv_equal(a->dns, b->dns);
}

static bool network_config_equal(const NetworkConfig *a, const NetworkConfig *b) {
        return streq_ptr(a->tap, b->tap) && streq_ptr(a->mac, b->mac) && a->num_queues == b->num_queues &&
               a->queue_size == b->queue_size && a->backend == b->backend &&
               streq_ptr(a->bridge_dev, b->bridge_dev) && streq_ptr(a->netns_path, b->netns_path) &&
               network_address_equal(a->address, b->address);
}

static bool boot_config_equal(const BootConfig *a, const BootConfig *b) {
        if (!a || !b)
                return a == b;
        return streq_ptr(a->kernel_path, b->kernel_path) && streq_ptr(a->initrd_path, b->initrd_path) &&
               streq_ptr(a->cmdline, b->cmdline) && streq_ptr(a->firmware_path, b->firmware_path);
}

bool vm_equal(const VM *a, const VM *b) {
        if (!streq_ptr(a->id, b->id) || !streq_ptr(a->name, b->name) || !streq_ptr(a->backend, b->backend) ||
            a->state != b->state || !config_equal(&a->config, &b->config) ||
            a->first_booted != b->first_booted || !strv_equal(a->snapshot_ids, b->snapshot_ids) ||
            a->created_at != b->created_at || a->updated_at != b->updated_at ||
            a->started_at != b->started_at || a->stopped_at != b->stopped_at)
                return false;

        if (a->n_storage_configs != b->n_storage_configs || a->n_network_configs != b->n_network_configs)
                return false;
        for (size_t i = 0; i < a->n_storage_configs; i++)
                if (!storage_config_equal(&a->storage_configs[i], &b->storage_configs[i]))
                        return false;
        for (size_t i = 0; i < a->n_network_configs; i++)
                if (!network_config_equal(&a->network_configs[i], &b->network_configs[i]))
                        return false;
        return true;
}

bool vm_record_equal(const VMRecord *a, const VMRecord *b) {
        return vm_equal(&a->vm, &b->vm) && boot_config_equal(a->boot_config, b->boot_config) &&
               strv_equal(a->image_blob_ids, b->image_blob_ids) && streq_ptr(a->run_dir, b->run_dir) &&
               streq_ptr(a->log_dir, b->log_dir) && streq_ptr(a->error_reason, b->error_reason) &&
               streq_ptr(a->unit, b->unit);
}

/* ---- building ---- */

int vm_add_storage_config(VM *vm, StorageConfig *s) {
        StorageConfig *n;

        if (vm->n_storage_configs >= SIZE_MAX / sizeof(StorageConfig) - 1)
                return -ENOMEM;
        n = realloc(vm->storage_configs, (vm->n_storage_configs + 1) * sizeof(StorageConfig));
        if (!n)
                return -ENOMEM;
        vm->storage_configs = n;
        n[vm->n_storage_configs++] = *s;
        *s = (StorageConfig){.direct_io = -1};
        return 0;
}

int vm_add_network_config(VM *vm, NetworkConfig *c) {
        NetworkConfig *n;

        if (vm->n_network_configs >= SIZE_MAX / sizeof(NetworkConfig) - 1)
                return -ENOMEM;
        n = realloc(vm->network_configs, (vm->n_network_configs + 1) * sizeof(NetworkConfig));
        if (!n)
                return -ENOMEM;
        vm->network_configs = n;
        n[vm->n_network_configs++] = *c;
        *c = (NetworkConfig){};
        return 0;
}

int vm_add_snapshot_id(VM *vm, const char *id) {
        if (strv_contains(vm->snapshot_ids, id))
                return 0;
        int r = strv_extend(&vm->snapshot_ids, id);
        return r < 0 ? r : 1;
}

int vm_remove_snapshot_id(VM *vm, const char *id) {
        return strv_remove(vm->snapshot_ids, id) > 0 ? 1 : 0;
}
