/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The VM data model to and from JSON (camelCase keys), with static dispatch tables for parsing. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "json-util.h"
#include "record-dispatch.h"
#include "strv-util.h"
#include "time-util.h"
#include "vm-types.h"

/* ---- parsing ---- */

static int dispatch_vm_state(const char *name, json_object *v, void *p) {
        VMState s = vm_state_from_string(json_object_get_string(v));
        if (s < 0)
                return -EINVAL;
        *(VMState *) p = s;
        return 0;
}

static int dispatch_storage_role(const char *name, json_object *v, void *p) {
        StorageRole r = storage_role_from_string(json_object_get_string(v));
        if (r < 0)
                return -EINVAL;
        *(StorageRole *) p = r;
        return 0;
}

static int dispatch_network_backend(const char *name, json_object *v, void *p) {
        NetworkBackend b = network_backend_from_string(json_object_get_string(v));
        if (b < 0)
                return -EINVAL;
        *(NetworkBackend *) p = b;
        return 0;
}

static const JsonDispatch config_dispatch_table[] = {
        {"cpu", json_type_int, json_dispatch_uint32, offsetof(Config, cpu), JSON_MANDATORY},
        {"memory", json_type_int, json_dispatch_uint64, offsetof(Config, memory), JSON_MANDATORY},
        {"storage", json_type_int, json_dispatch_uint64, offsetof(Config, storage), 0},
        {"queueSize", json_type_int, json_dispatch_uint32, offsetof(Config, queue_size), 0},
        {"diskQueueSize", json_type_int, json_dispatch_uint32, offsetof(Config, disk_queue_size), 0},
        {"image", json_type_string, json_dispatch_string, offsetof(Config, image), JSON_NULLABLE},
        {"imageDigest", json_type_string, json_dispatch_string, offsetof(Config, image_digest),
         JSON_NULLABLE},
        {"imageType", json_type_string, json_dispatch_string, offsetof(Config, image_type), JSON_NULLABLE},
        {"network", json_type_string, json_dispatch_string, offsetof(Config, network), JSON_NULLABLE},
        {"accel", json_type_string, json_dispatch_string, offsetof(Config, accel), JSON_NULLABLE},
        {"noDirectIO", json_type_boolean, json_dispatch_bool, offsetof(Config, no_direct_io), 0},
        {"windows", json_type_boolean, json_dispatch_bool, offsetof(Config, windows), 0},
        {},
};

int config_from_json(json_object *o, Config *ret, const char **ret_bad_field) {
        Config c = {};
        int r;

        r = json_dispatch(o, config_dispatch_table, 0, &c, ret_bad_field);
        if (r < 0) {
                config_done(&c);
                return r;
        }
        config_done(ret);
        *ret = c;
        return 0;
}

static int dispatch_config(const char *name, json_object *v, void *p) {
        return config_from_json(v, p, NULL);
}

static const JsonDispatch storage_dispatch_table[] = {
        {"path", json_type_string, json_dispatch_string, offsetof(StorageConfig, path), JSON_MANDATORY},
        {"readOnly", json_type_boolean, json_dispatch_bool, offsetof(StorageConfig, read_only),
         JSON_MANDATORY},
        {"serial", json_type_string, json_dispatch_string, offsetof(StorageConfig, serial), JSON_NULLABLE},
        {"role", json_type_string, dispatch_storage_role, offsetof(StorageConfig, role), JSON_MANDATORY},
        {"mountPoint", json_type_string, json_dispatch_string, offsetof(StorageConfig, mount_point),
         JSON_NULLABLE},
        {"fsType", json_type_string, json_dispatch_string, offsetof(StorageConfig, fs_type), JSON_NULLABLE},
        {"directIO", json_type_boolean, json_dispatch_tristate, offsetof(StorageConfig, direct_io),
         JSON_NULLABLE},
        {},
};

static const JsonDispatch address_dispatch_table[] = {
        {"ip", json_type_string, json_dispatch_string, offsetof(NetworkAddress, ip), JSON_MANDATORY},
        {"gateway", json_type_string, json_dispatch_string, offsetof(NetworkAddress, gateway),
         JSON_NULLABLE},
        {"prefix", json_type_int, json_dispatch_uint32, offsetof(NetworkAddress, prefix), JSON_MANDATORY},
        {"dns", json_type_array, json_dispatch_strv, offsetof(NetworkAddress, dns), JSON_NULLABLE},
        {},
};

static int dispatch_network_address(const char *name, json_object *v, void *p) {
        NetworkAddress **a = p;
        _cleanup_(network_address_freep) NetworkAddress *n = NULL;
        int r;

        if (v) {
                n = calloc(1, sizeof(NetworkAddress));
                if (!n)
                        return -ENOMEM;
                r = json_dispatch(v, address_dispatch_table, 0, n, NULL);
                if (r < 0)
                        return r;
        }
        network_address_free(*a);
        *a = TAKE_PTR(n);
        return 0;
}

static const JsonDispatch network_dispatch_table[] = {
        {"tap", json_type_string, json_dispatch_string, offsetof(NetworkConfig, tap), JSON_MANDATORY},
        {"mac", json_type_string, json_dispatch_string, offsetof(NetworkConfig, mac), JSON_NULLABLE},
        {"numQueues", json_type_int, json_dispatch_uint32, offsetof(NetworkConfig, num_queues), 0},
        {"queueSize", json_type_int, json_dispatch_uint32, offsetof(NetworkConfig, queue_size), 0},
        {"backend", json_type_string, dispatch_network_backend, offsetof(NetworkConfig, backend), 0},
        {"bridgeDev", json_type_string, json_dispatch_string, offsetof(NetworkConfig, bridge_dev),
         JSON_NULLABLE},
        {"netnsPath", json_type_string, json_dispatch_string, offsetof(NetworkConfig, netns_path),
         JSON_NULLABLE},
        {"network", json_type_object, dispatch_network_address, offsetof(NetworkConfig, address),
         JSON_NULLABLE},
        {},
};

/* storageConfigs: p is the VM. The whole list is parsed before the old one is replaced. */
static int dispatch_storage_configs(const char *name, json_object *v, void *p) {
        VM *vm = p, tmp = {};
        int r = 0;

        for (size_t i = 0; v && i < json_object_array_length(v); i++) {
                StorageConfig s = {.direct_io = -1};
                r = json_dispatch(json_object_array_get_idx(v, i), storage_dispatch_table, 0, &s, NULL);
                if (r >= 0)
                        r = vm_add_storage_config(&tmp, &s);
                storage_config_done(&s);
                if (r < 0)
                        break;
        }
        if (r >= 0) {
                StorageConfig *old = vm->storage_configs;
                size_t n_old = vm->n_storage_configs;
                vm->storage_configs = tmp.storage_configs;
                vm->n_storage_configs = tmp.n_storage_configs;
                tmp.storage_configs = old;
                tmp.n_storage_configs = n_old;
        }
        vm_done(&tmp);
        return r;
}

/* networkConfigs: p is the VM. */
static int dispatch_network_configs(const char *name, json_object *v, void *p) {
        VM *vm = p, tmp = {};
        int r = 0;

        for (size_t i = 0; v && i < json_object_array_length(v); i++) {
                NetworkConfig n = {};
                r = json_dispatch(json_object_array_get_idx(v, i), network_dispatch_table, 0, &n, NULL);
                if (r >= 0)
                        r = vm_add_network_config(&tmp, &n);
                network_config_done(&n);
                if (r < 0)
                        break;
        }
        if (r >= 0) {
                NetworkConfig *old = vm->network_configs;
                size_t n_old = vm->n_network_configs;
                vm->network_configs = tmp.network_configs;
                vm->n_network_configs = tmp.n_network_configs;
                tmp.network_configs = old;
                tmp.n_network_configs = n_old;
        }
        vm_done(&tmp);
        return r;
}

static const JsonDispatch boot_dispatch_table[] = {
        {"kernelPath", json_type_string, json_dispatch_string, offsetof(BootConfig, kernel_path),
         JSON_NULLABLE},
        {"initrdPath", json_type_string, json_dispatch_string, offsetof(BootConfig, initrd_path),
         JSON_NULLABLE},
        {"cmdline", json_type_string, json_dispatch_string, offsetof(BootConfig, cmdline), JSON_NULLABLE},
        {"firmwarePath", json_type_string, json_dispatch_string, offsetof(BootConfig, firmware_path),
         JSON_NULLABLE},
        {},
};

static int dispatch_boot_config(const char *name, json_object *v, void *p) {
        BootConfig **b = p;
        _cleanup_(boot_config_freep) BootConfig *n = NULL;
        int r;

        if (v) {
                n = calloc(1, sizeof(BootConfig));
                if (!n)
                        return -ENOMEM;
                r = json_dispatch(v, boot_dispatch_table, 0, n, NULL);
                if (r < 0)
                        return r;
        }
        boot_config_free(*b);
        *b = TAKE_PTR(n);
        return 0;
}

#define R(field) offsetof(VMRecord, field)
static const JsonDispatch vm_record_dispatch_table[] = {
        {"id", json_type_string, json_dispatch_string, R(vm.id), JSON_MANDATORY},
        {"name", json_type_string, json_dispatch_string, R(vm.name), JSON_MANDATORY},
        {"backend", json_type_string, json_dispatch_string, R(vm.backend), JSON_MANDATORY},
        {"state", json_type_string, dispatch_vm_state, R(vm.state), JSON_MANDATORY},
        {"config", json_type_object, dispatch_config, R(vm.config), JSON_MANDATORY},
        {"storageConfigs", json_type_array, dispatch_storage_configs, R(vm), JSON_NULLABLE},
        {"networkConfigs", json_type_array, dispatch_network_configs, R(vm), JSON_NULLABLE},
        {"firstBooted", json_type_boolean, json_dispatch_bool, R(vm.first_booted), 0},
        {"snapshotIds", json_type_array, json_dispatch_strv, R(vm.snapshot_ids), JSON_NULLABLE},
        {"createdAt", json_type_string, record_dispatch_timestamp, R(vm.created_at), JSON_MANDATORY},
        {"updatedAt", json_type_string, record_dispatch_timestamp, R(vm.updated_at), JSON_MANDATORY},
        {"startedAt", json_type_string, record_dispatch_timestamp, R(vm.started_at), JSON_NULLABLE},
        {"stoppedAt", json_type_string, record_dispatch_timestamp, R(vm.stopped_at), JSON_NULLABLE},
        {"bootConfig", json_type_object, dispatch_boot_config, R(boot_config), JSON_NULLABLE},
        {"imageBlobIds", json_type_array, json_dispatch_strv, R(image_blob_ids), JSON_NULLABLE},
        {"runDir", json_type_string, json_dispatch_string, R(run_dir), JSON_NULLABLE},
        {"logDir", json_type_string, json_dispatch_string, R(log_dir), JSON_NULLABLE},
        {"errorReason", json_type_string, json_dispatch_string, R(error_reason), JSON_NULLABLE},
        {"unit", json_type_string, json_dispatch_string, R(unit), JSON_NULLABLE},
        {},
};
#undef R

int vm_record_from_json(json_object *o, VMRecord **ret, const char **ret_bad_field) {
        _cleanup_(vm_record_freep) VMRecord *r = NULL;
        int k;

        k = vm_record_new(&r);
        if (k < 0)
                return k;
        k = json_dispatch(o, vm_record_dispatch_table, 0, r, ret_bad_field);
        if (k < 0)
                return k;
        *ret = TAKE_PTR(r);
        return 0;
}

#define S(field) offsetof(SnapshotConfig, field)
static const JsonDispatch snapshot_config_dispatch_table[] = {
        {"id", json_type_string, json_dispatch_string, S(id), JSON_NULLABLE},
        {"name", json_type_string, json_dispatch_string, S(name), JSON_NULLABLE},
        {"description", json_type_string, json_dispatch_string, S(description), JSON_NULLABLE},
        {"backend", json_type_string, json_dispatch_string, S(backend), JSON_NULLABLE},
        {"nics", json_type_int, json_dispatch_uint32, S(nics), 0},
        {"imageBlobIds", json_type_array, json_dispatch_strv, S(image_blob_ids), JSON_NULLABLE},
        {"createdAt", json_type_string, record_dispatch_timestamp, S(created_at), JSON_NULLABLE},
        {"config", json_type_object, dispatch_config, S(config), JSON_MANDATORY},
        {},
};
#undef S

int snapshot_config_from_json(json_object *o, SnapshotConfig **ret, const char **ret_bad_field) {
        _cleanup_(snapshot_config_freep) SnapshotConfig *s = NULL;
        int r;

        s = calloc(1, sizeof(SnapshotConfig));
        if (!s)
                return -ENOMEM;
        r = json_dispatch(o, snapshot_config_dispatch_table, 0, s, ret_bad_field);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(s);
        return 0;
}

/* ---- formatting ---- */

static int json_add_timestamp(json_object *o, const char *key, uint64_t usec) {
        _cleanup_free_ char *s = NULL;
        int r;

        r = timestamp_format_rfc3339(usec, &s);
        if (r < 0)
                return r;
        return json_add_string(o, key, s);
}

/* Creates an object, lets append() fill it, and hands it out only if that worked. */
static int json_build(const void *data, int (*append)(const void *data, json_object *o), json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        int r;

        o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        r = append(data, o);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(o);
        return 0;
}

/* Adds key: built object, if build() worked. */
static int json_add_built(json_object *o, const char *key, const void *data,
                          int (*append)(const void *data, json_object *o)) {
        json_object *v;
        int r;

        r = json_build(data, append, &v);
        if (r < 0)
                return r;
        return json_add_object(o, key, v);
}

static int config_append_json(const void *data, json_object *o) {
        const Config *c = data;
        int r = 0;

        if (r >= 0)
                r = json_add_uint64(o, "cpu", c->cpu);
        if (r >= 0)
                r = json_add_uint64(o, "memory", c->memory);
        if (r >= 0)
                r = json_add_uint64(o, "storage", c->storage);
        if (r >= 0)
                r = json_add_uint64(o, "queueSize", c->queue_size);
        if (r >= 0)
                r = json_add_uint64(o, "diskQueueSize", c->disk_queue_size);
        if (r >= 0)
                r = json_add_string(o, "image", c->image);
        if (r >= 0)
                r = json_add_string(o, "imageDigest", c->image_digest);
        if (r >= 0)
                r = json_add_string(o, "imageType", c->image_type);
        if (r >= 0)
                r = json_add_string(o, "network", c->network);
        if (r >= 0)
                r = json_add_string(o, "accel", c->accel);
        if (r >= 0)
                r = json_add_bool(o, "noDirectIO", c->no_direct_io);
        if (r >= 0)
                r = json_add_bool(o, "windows", c->windows);
        return r;
}

int config_to_json(const Config *c, json_object **ret) {
        return json_build(c, config_append_json, ret);
}

static int storage_config_append_json(const void *data, json_object *o) {
        const StorageConfig *s = data;
        int r = 0;

        if (r >= 0)
                r = json_add_string(o, "path", s->path);
        if (r >= 0)
                r = json_add_bool(o, "readOnly", s->read_only);
        if (r >= 0)
                r = json_add_string(o, "serial", s->serial);
        if (r >= 0)
                r = json_add_string(o, "role", storage_role_to_string(s->role));
        if (r >= 0)
                r = json_add_string(o, "mountPoint", s->mount_point);
        if (r >= 0)
                r = json_add_string(o, "fsType", s->fs_type);
        if (r >= 0 && s->direct_io >= 0)
                r = json_add_bool(o, "directIO", s->direct_io > 0);
        return r;
}

int storage_config_to_json(const StorageConfig *s, json_object **ret) {
        return json_build(s, storage_config_append_json, ret);
}

static int network_address_append_json(const void *data, json_object *o) {
        const NetworkAddress *a = data;
        int r;

        r = json_add_string(o, "ip", a->ip);
        if (r >= 0)
                r = json_add_string(o, "gateway", a->gateway);
        if (r >= 0)
                r = json_add_uint64(o, "prefix", a->prefix);
        if (r >= 0 && a->dns && a->dns[0])
                r = json_add_strv(o, "dns", a->dns);
        return r;
}

static int network_config_append_json(const void *data, json_object *o) {
        const NetworkConfig *n = data;
        int r = 0;

        if (r >= 0)
                r = json_add_string(o, "tap", n->tap);
        if (r >= 0)
                r = json_add_string(o, "mac", n->mac);
        if (r >= 0)
                r = json_add_uint64(o, "numQueues", n->num_queues);
        if (r >= 0)
                r = json_add_uint64(o, "queueSize", n->queue_size);
        if (r >= 0)
                r = json_add_string(o, "backend", network_backend_to_string(n->backend));
        if (r >= 0)
                r = json_add_string(o, "bridgeDev", n->bridge_dev);
        if (r >= 0)
                r = json_add_string(o, "netnsPath", n->netns_path);
        if (r >= 0 && n->address)
                r = json_add_built(o, "network", n->address, network_address_append_json);
        return r;
}

int network_config_to_json(const NetworkConfig *n, json_object **ret) {
        return json_build(n, network_config_append_json, ret);
}

static int boot_config_append_json(const void *data, json_object *o) {
        const BootConfig *b = data;
        int r;

        r = json_add_string(o, "kernelPath", b->kernel_path);
        if (r >= 0)
                r = json_add_string(o, "initrdPath", b->initrd_path);
        if (r >= 0)
                r = json_add_string(o, "cmdline", b->cmdline);
        if (r >= 0)
                r = json_add_string(o, "firmwarePath", b->firmware_path);
        return r;
}

int boot_config_to_json(const BootConfig *b, json_object **ret) {
        return json_build(b, boot_config_append_json, ret);
}

/* An array of n elements of size each, each built by append(). */
static int json_add_list(json_object *o, const char *key, const void *items, size_t n, size_t size,
                         int (*append)(const void *data, json_object *o)) {
        _cleanup_(json_object_putp) json_object *a = NULL;
        int r;

        a = json_object_new_array();
        if (!a)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_object *e;
                r = json_build((const uint8_t *) items + i * size, append, &e);
                if (r < 0)
                        return r;
                if (json_object_array_add(a, e) < 0) {
                        json_object_put(e);
                        return -ENOMEM;
                }
        }
        return json_add_object(o, key, TAKE_PTR(a));
}

int vm_append_json(const VM *vm, json_object *o) {
        int r = 0;

        if (r >= 0)
                r = json_add_string(o, "id", vm->id);
        if (r >= 0)
                r = json_add_string(o, "name", vm->name);
        if (r >= 0)
                r = json_add_string(o, "backend", vm->backend);
        if (r >= 0)
                r = json_add_string(o, "state", vm_state_to_string(vm->state));
        if (r >= 0)
                r = json_add_built(o, "config", &vm->config, config_append_json);
        if (r >= 0)
                r = json_add_list(o, "storageConfigs", vm->storage_configs, vm->n_storage_configs,
                                  sizeof(StorageConfig), storage_config_append_json);
        if (r >= 0)
                r = json_add_list(o, "networkConfigs", vm->network_configs, vm->n_network_configs,
                                  sizeof(NetworkConfig), network_config_append_json);
        if (r >= 0)
                r = json_add_bool(o, "firstBooted", vm->first_booted);
        if (r >= 0)
                r = json_add_strv(o, "snapshotIds", vm->snapshot_ids);
        if (r >= 0)
                r = json_add_timestamp(o, "createdAt", vm->created_at);
        if (r >= 0)
                r = json_add_timestamp(o, "updatedAt", vm->updated_at);
        if (r >= 0 && vm->started_at > 0)
                r = json_add_timestamp(o, "startedAt", vm->started_at);
        if (r >= 0 && vm->stopped_at > 0)
                r = json_add_timestamp(o, "stoppedAt", vm->stopped_at);
        return r;
}

static int vm_record_append_public_json(const void *data, json_object *o) {
        const VMRecord *rec = data;
        int r;

        r = vm_append_json(&rec->vm, o);
        if (r >= 0)
                r = json_add_string(o, "errorReason", rec->error_reason);
        if (r >= 0)
                r = json_add_string(o, "unit", rec->unit);
        return r;
}

static int vm_record_append_json(const void *data, json_object *o) {
        const VMRecord *rec = data;
        int r;

        r = vm_record_append_public_json(rec, o);
        if (r >= 0 && rec->boot_config)
                r = json_add_built(o, "bootConfig", rec->boot_config, boot_config_append_json);
        if (r >= 0)
                r = json_add_strv(o, "imageBlobIds", rec->image_blob_ids);
        if (r >= 0)
                r = json_add_string(o, "runDir", rec->run_dir);
        if (r >= 0)
                r = json_add_string(o, "logDir", rec->log_dir);
        return r;
}

int vm_record_to_public_json(const VMRecord *r, json_object **ret) {
        return json_build(r, vm_record_append_public_json, ret);
}

/* The NICs' static addresses, comma-separated, or NULL when none has one (bridge mode: DHCP). */
static int summary_ips(const VM *vm, char **ret) {
        _cleanup_free_ char *s = NULL;
        for (size_t i = 0; i < vm->n_network_configs; i++) {
                const NetworkAddress *a = vm->network_configs[i].address;
                char *t;
                if (!a || !a->ip)
                        continue;
                if (asprintf(&t, "%s%s%s", s ?: "", s ? "," : "", a->ip) < 0)
                        return -ENOMEM;
                free(s);
                s = t;
        }
        *ret = TAKE_PTR(s);
        return 0;
}

/* What a listing shows: identity, state, size and addresses, one flat level so that clients parse it
 * fast. */
static int vm_record_append_summary_json(const void *data, json_object *o) {
        const VMRecord *rec = data;
        json_object *config = json_object_new_object();
        _cleanup_free_ char *ips = NULL;
        int r = config ? 0 : -ENOMEM;

        if (r >= 0)
                r = json_add_uint64(config, "cpu", rec->vm.config.cpu);
        if (r >= 0)
                r = json_add_uint64(config, "memory", rec->vm.config.memory);
        if (r >= 0)
                r = json_add_string(o, "id", rec->vm.id);
        if (r >= 0)
                r = json_add_string(o, "name", rec->vm.name);
        if (r >= 0)
                r = json_add_string(o, "backend", rec->vm.backend);
        if (r >= 0)
                r = json_add_string(o, "state", vm_state_to_string(rec->vm.state));
        if (r >= 0)
                r = json_add_object(o, "config", TAKE_PTR(config));
        if (r >= 0 && rec->vm.created_at > 0)
                r = json_add_timestamp(o, "createdAt", rec->vm.created_at);
        if (r >= 0)
                r = json_add_string(o, "errorReason", rec->error_reason);
        if (r >= 0)
                r = summary_ips(&rec->vm, &ips);
        if (r >= 0)
                r = json_add_string(o, "ip", ips);
        json_object_put(config);
        return r;
}

int vm_record_to_summary_json(const VMRecord *r, json_object **ret) {
        return json_build(r, vm_record_append_summary_json, ret);
}

int vm_record_to_json(const VMRecord *r, json_object **ret) {
        return json_build(r, vm_record_append_json, ret);
}

static int snapshot_config_append_json(const void *data, json_object *o) {
        const SnapshotConfig *s = data;
        int r = 0;

        if (r >= 0)
                r = json_add_string(o, "id", s->id);
        if (r >= 0)
                r = json_add_string(o, "name", s->name);
        if (r >= 0)
                r = json_add_string(o, "description", s->description);
        if (r >= 0)
                r = json_add_string(o, "backend", s->backend);
        if (r >= 0)
                r = json_add_uint64(o, "nics", s->nics);
        if (r >= 0)
                r = json_add_strv(o, "imageBlobIds", s->image_blob_ids);
        if (r >= 0 && s->created_at > 0)
                r = json_add_timestamp(o, "createdAt", s->created_at);
        if (r >= 0)
                r = json_add_built(o, "config", &s->config, config_append_json);
        return r;
}

int snapshot_config_to_json(const SnapshotConfig *s, json_object **ret) {
        return json_build(s, snapshot_config_append_json, ret);
}
