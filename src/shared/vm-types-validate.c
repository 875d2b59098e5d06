/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Validation of the VM data model: Create-time limits and the invariants every stored record keeps. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "id.h"
#include "strv-util.h"
#include "vm-types.h"

/* Reports field and a formatted message; always returns -EINVAL (or -ENOMEM if the message cannot be
 * built). */
_printf_(4, 5) static int invalid(const char **ret_field, char **ret_message, const char *field,
                                  const char *format, ...) {
        if (ret_message) {
                va_list ap;
                char *m;

                va_start(ap, format);
                int k = vasprintf(&m, format, ap);
                va_end(ap);
                if (k < 0)
                        return -ENOMEM;
                *ret_message = m;
        }
        if (ret_field)
                *ret_field = field;
        return -EINVAL;
}

static bool has_control_chars(const char *s) {
        for (; *s; s++)
                if ((unsigned char) *s < 0x20 || *s == 0x7f)
                        return true;
        return false;
}

/* Absolute, and free of newlines and other control characters (they would break command lines, unit
 * properties and kernel parameters built from it). */
static bool path_is_valid_absolute(const char *p) {
        return p && p[0] == '/' && !has_control_chars(p);
}

static bool is_power_of_two(uint32_t x) {
        return x != 0 && (x & (x - 1)) == 0;
}

/* 0 (the hypervisor's default) or a power of two up to the virtio limit. */
static bool queue_size_is_valid(uint32_t q) {
        return q == 0 || (q >= 2 && q <= VIRTIO_QUEUE_SIZE_MAX && is_power_of_two(q));
}

static bool char_is_alnum(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* [A-Za-z0-9._-]: harmless in file names, hypervisor command lines and kernel parameters. */
static bool char_is_safe(char c) {
        return char_is_alnum(c) || c == '.' || c == '_' || c == '-';
}

static bool char_is_lower(char c) {
        return c >= 'a' && c <= 'z';
}

static bool char_is_lower_or_underscore(char c) {
        return char_is_lower(c) || c == '_';
}

/* [a-z0-9_-] */
static bool char_is_lower_name(char c) {
        return char_is_lower(c) || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* s has 1 to max characters; the first passes first(), all others pass rest(). */
static bool string_matches(const char *s, size_t max, bool (*first)(char), bool (*rest)(char)) {
        if (isempty(s) || !first(s[0]))
                return false;
        for (size_t i = 1; s[i]; i++)
                if (i >= max || !rest(s[i]))
                        return false;
        return true;
}

bool vm_name_is_valid(const char *s) {
        return string_matches(s, VM_NAME_MAX, char_is_alnum, char_is_safe);
}

bool data_disk_name_is_valid(const char *s) {
        /* "cocoon-" is reserved for the serials cocoon itself assigns. */
        return string_matches(s, STORAGE_SERIAL_MAX, char_is_lower, char_is_lower_name) &&
               strncmp(s, "cocoon-", strlen("cocoon-")) != 0;
}

/* A cloud-init user name. */
static bool user_name_is_valid(const char *s) {
        return string_matches(s, 32, char_is_lower_or_underscore, char_is_lower_name);
}

/* Serial of a cloud-init seed: free-form but short, may be empty. */
static bool plain_serial_is_valid(const char *s) {
        return isempty(s) || string_matches(s, STORAGE_SERIAL_MAX, char_is_safe, char_is_safe);
}

/* A blob ID names a file under the image store: a plain file name component. */
static bool blob_id_is_valid(const char *s) {
        return !isempty(s) && s[0] != '.' && string_matches(s, 128, char_is_safe, char_is_safe);
}

/* The parts of the resource block that any stored record must satisfy. */
static int config_validate_structure(const Config *c, const char **ret_field, char **ret_message) {
        if (c->cpu < 1)
                return invalid(ret_field, ret_message, "cpu", "cpu must be at least 1");
        if (c->memory == 0)
                return invalid(ret_field, ret_message, "memory", "memory must not be 0");
        if (!queue_size_is_valid(c->queue_size))
                return invalid(ret_field, ret_message, "queueSize",
                               "queueSize must be 0 or a power of two between 2 and %u, not %" PRIu32,
                               VIRTIO_QUEUE_SIZE_MAX, c->queue_size);
        if (!queue_size_is_valid(c->disk_queue_size))
                return invalid(ret_field, ret_message, "diskQueueSize",
                               "diskQueueSize must be 0 or a power of two between 2 and %u, not %" PRIu32,
                               VIRTIO_QUEUE_SIZE_MAX, c->disk_queue_size);
        if (c->image_type && !image_type_is_valid(c->image_type))
                return invalid(ret_field, ret_message, "imageType",
                               "imageType must be oci or cloudimg, not '%s'", c->image_type);
        return 0;
}

int vm_config_validate(const VMConfig *c, const VMHostLimits *limits, const char **ret_field,
                       char **ret_message) {
        const Config *cfg = &c->config;
        int r;

        if (!vm_name_is_valid(c->name))
                return invalid(ret_field, ret_message, "name",
                               "name must be 1-%d characters of A-Z a-z 0-9 . _ - starting with a letter or "
                               "digit",
                               VM_NAME_MAX);
        r = config_validate_structure(cfg, ret_field, ret_message);
        if (r < 0)
                return r;
        if (cfg->cpu > VM_CPU_MAX)
                return invalid(ret_field, ret_message, "cpu", "cpu must be at most %u, not %" PRIu32,
                               VM_CPU_MAX, cfg->cpu);
        if (cfg->memory < VM_MEMORY_MIN)
                return invalid(ret_field, ret_message, "memory",
                               "memory must be at least %" PRIu64 " MiB, not %" PRIu64 " bytes",
                               VM_MEMORY_MIN >> 20, cfg->memory);
        if (cfg->memory % (UINT64_C(1) << 20) != 0)
                return invalid(ret_field, ret_message, "memory",
                               "memory must be a whole number of MiB, not %" PRIu64 " bytes", cfg->memory);
        if (limits && limits->memory_max > 0 && cfg->memory > limits->memory_max)
                return invalid(ret_field, ret_message, "memory",
                               "memory must be at most the host's %" PRIu64 " MiB, not %" PRIu64 " MiB",
                               limits->memory_max >> 20, cfg->memory >> 20);
        if (cfg->storage != 0 && cfg->storage < VM_STORAGE_MIN)
                return invalid(ret_field, ret_message, "storage",
                               "storage must be 0 (no COW disk) or at least %" PRIu64 " MiB, not %" PRIu64
                               " bytes",
                               VM_STORAGE_MIN >> 20, cfg->storage);
        if (limits && limits->storage_max > 0 && cfg->storage > limits->storage_max)
                return invalid(ret_field, ret_message, "storage",
                               "storage must be at most the %" PRIu64 " MiB free for VM disks, not %" PRIu64
                               " MiB",
                               limits->storage_max >> 20, cfg->storage >> 20);
        if (c->user && !user_name_is_valid(c->user))
                return invalid(ret_field, ret_message, "user",
                               "user must match [a-z_][a-z0-9_-]{0,31}, not '%s'", c->user);
        /* cloud-init gets the password quoted; only characters no quoting survives are refused. */
        if (c->password && has_control_chars(c->password))
                return invalid(ret_field, ret_message, "password",
                               "password must not contain control characters");
        return 0;
}

/* cocoon-layer<N>, N decimal without leading zeros. */
static bool layer_serial_is_valid(const char *s) {
        const char *n;

        if (!s || strncmp(s, VM_LAYER_SERIAL_PREFIX, strlen(VM_LAYER_SERIAL_PREFIX)) != 0)
                return false;
        n = s + strlen(VM_LAYER_SERIAL_PREFIX);
        if (n[0] == '\0' || (n[0] == '0' && n[1] != '\0') || strlen(s) > STORAGE_SERIAL_MAX)
                return false;
        for (; *n; n++)
                if (*n < '0' || *n > '9')
                        return false;
        return true;
}

static int storage_config_validate_role(const StorageConfig *s, size_t i, const char **ret_field,
                                        char **ret_message) {
        const char *serial = s->serial ?: "";
        bool ok;

        switch (s->role) {
        case STORAGE_ROLE_LAYER:
                ok = layer_serial_is_valid(serial);
                break;
        case STORAGE_ROLE_COW:
                ok = streq(serial, VM_COW_SERIAL);
                break;
        case STORAGE_ROLE_CIDATA:
                ok = plain_serial_is_valid(serial);
                break;
        case STORAGE_ROLE_DATA:
                ok = data_disk_name_is_valid(serial);
                break;
        default:
                return invalid(ret_field, ret_message, "storageConfigs", "storageConfigs[%zu]: invalid role",
                               i);
        }
        if (!ok)
                return invalid(ret_field, ret_message, "storageConfigs",
                               "storageConfigs[%zu]: serial '%s' is not valid for a %s disk", i, serial,
                               storage_role_to_string(s->role));

        /* Shared image layers and the seed are never written by the guest; its own disks always are. */
        bool want_ro = s->role == STORAGE_ROLE_LAYER || s->role == STORAGE_ROLE_CIDATA;
        if (s->read_only != want_ro)
                return invalid(ret_field, ret_message, "storageConfigs",
                               "storageConfigs[%zu]: a %s disk must be %s", i,
                               storage_role_to_string(s->role), want_ro ? "read-only" : "read-write");
        return 0;
}

/* directIO, fsType and mountPoint: data disks only. */
static int storage_config_validate_data(const StorageConfig *s, size_t i, const char **ret_field,
                                        char **ret_message) {
        if (s->role != STORAGE_ROLE_DATA) {
                if (s->direct_io >= 0 || s->fs_type || s->mount_point)
                        return invalid(ret_field, ret_message, "storageConfigs",
                                       "storageConfigs[%zu]: directIO, fsType and mountPoint apply to data "
                                       "disks only",
                                       i);
                return 0;
        }

        if (!s->fs_type || !(streq(s->fs_type, "ext4") || streq(s->fs_type, "none")))
                return invalid(ret_field, ret_message, "storageConfigs",
                               "storageConfigs[%zu]: fsType of a data disk must be ext4 or none", i);
        if (isempty(s->mount_point))
                return 0;
        if (streq(s->fs_type, "none"))
                return invalid(
                        ret_field, ret_message, "storageConfigs",
                        "storageConfigs[%zu]: a data disk without file system (fsType none) cannot have a "
                        "mountPoint",
                        i);
        if (!path_is_valid_absolute(s->mount_point))
                return invalid(ret_field, ret_message, "storageConfigs",
                               "storageConfigs[%zu]: mountPoint must be an absolute path without control "
                               "characters",
                               i);
        return 0;
}

int storage_configs_validate(const StorageConfig *s, size_t n, const char **ret_field, char **ret_message) {
        size_t n_cow = 0, n_cidata = 0;
        int r;

        for (size_t i = 0; i < n; i++) {
                if (!path_is_valid_absolute(s[i].path))
                        return invalid(
                                ret_field, ret_message, "storageConfigs",
                                "storageConfigs[%zu]: path must be absolute, without control characters", i);
                r = storage_config_validate_role(&s[i], i, ret_field, ret_message);
                if (r < 0)
                        return r;
                r = storage_config_validate_data(&s[i], i, ret_field, ret_message);
                if (r < 0)
                        return r;

                n_cow += s[i].role == STORAGE_ROLE_COW;
                n_cidata += s[i].role == STORAGE_ROLE_CIDATA;
                if (n_cow > 1 || n_cidata > 1)
                        return invalid(ret_field, ret_message, "storageConfigs",
                                       "storageConfigs[%zu]: a VM has at most one %s disk", i,
                                       storage_role_to_string(s[i].role));

                /* The guest finds its disks by serial: two alike would be ambiguous. */
                for (size_t j = 0; j < i; j++)
                        if (!isempty(s[i].serial) && streq_ptr(s[i].serial, s[j].serial))
                                return invalid(ret_field, ret_message, "storageConfigs",
                                               "storageConfigs[%zu]: serial '%s' is already used by "
                                               "storageConfigs[%zu]",
                                               i, s[i].serial, j);
        }
        return 0;
}

bool ifname_is_valid(const char *s) {
        size_t n;

        if (!s)
                return false;
        n = strlen(s);
        if (n == 0 || n > 15 || streq(s, ".") || streq(s, ".."))
                return false;
        for (; *s; s++)
                if (*s == '/' || *s == ':' || *s <= ' ' || *s == 0x7f)
                        return false;
        return true;
}

/* xx:xx:xx:xx:xx:xx, hex digits in either case. */
static bool mac_is_valid(const char *s) {
        if (!s || strlen(s) != 17)
                return false;
        for (size_t i = 0; i < 17; i++) {
                bool hex = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
                           (s[i] >= 'A' && s[i] <= 'F');
                if (i % 3 == 2 ? s[i] != ':' : !hex)
                        return false;
        }
        return true;
}

static bool ipv4_is_valid(const char *s) {
        struct in_addr a;
        return s && inet_pton(AF_INET, s, &a) == 1;
}

static int network_config_validate(const NetworkConfig *n, size_t i, const char **ret_field,
                                   char **ret_message) {
        if (!ifname_is_valid(n->tap))
                return invalid(ret_field, ret_message, "networkConfigs",
                               "networkConfigs[%zu]: tap must be an interface name of 1-15 characters", i);
        if (n->mac && !mac_is_valid(n->mac))
                return invalid(ret_field, ret_message, "networkConfigs",
                               "networkConfigs[%zu]: mac must look like 02:00:00:00:00:01", i);
        /* virtio-net queues come in rx/tx pairs. */
        if (n->num_queues % 2 != 0 || n->num_queues > 2 * VM_CPU_MAX)
                return invalid(ret_field, ret_message, "networkConfigs",
                               "networkConfigs[%zu]: numQueues must be 0 or an even number up to %u", i,
                               2 * VM_CPU_MAX);
        if (!queue_size_is_valid(n->queue_size))
                return invalid(ret_field, ret_message, "networkConfigs",
                               "networkConfigs[%zu]: queueSize must be 0 or a power of two between 2 and %u",
                               i, VIRTIO_QUEUE_SIZE_MAX);
        if (!network_backend_to_string(n->backend))
                return invalid(ret_field, ret_message, "networkConfigs",
                               "networkConfigs[%zu]: invalid backend", i);
        if ((n->backend == NETWORK_BACKEND_BRIDGE) != (n->bridge_dev != NULL) ||
            (n->bridge_dev && !ifname_is_valid(n->bridge_dev)))
                return invalid(
                        ret_field, ret_message, "networkConfigs",
                        "networkConfigs[%zu]: bridgeDev must name the bridge in bridge mode, and only there",
                        i);
        if (n->netns_path && !path_is_valid_absolute(n->netns_path))
                return invalid(ret_field, ret_message, "networkConfigs",
                               "networkConfigs[%zu]: netnsPath must be an absolute path", i);
        if (n->address) {
                if (!ipv4_is_valid(n->address->ip) || n->address->prefix > 32 ||
                    (n->address->gateway && !ipv4_is_valid(n->address->gateway)))
                        return invalid(
                                ret_field, ret_message, "networkConfigs",
                                "networkConfigs[%zu]: network needs an IPv4 ip, an optional IPv4 gateway "
                                "and a prefix of 0-32",
                                i);
                for (size_t j = 0; n->address->dns && n->address->dns[j]; j++)
                        if (j >= 16 || !ipv4_is_valid(n->address->dns[j]))
                                return invalid(ret_field, ret_message, "networkConfigs",
                                               "networkConfigs[%zu]: network.dns must be up to 16 IPv4 "
                                               "addresses", i);
        }
        return 0;
}

int network_configs_validate(const NetworkConfig *n, size_t count, const char **ret_field,
                             char **ret_message) {
        for (size_t i = 0; i < count; i++) {
                int r = network_config_validate(&n[i], i, ret_field, ret_message);
                if (r < 0)
                        return r;
                for (size_t j = 0; j < i; j++)
                        if (streq(n[i].tap, n[j].tap))
                                return invalid(ret_field, ret_message, "networkConfigs",
                                               "networkConfigs[%zu]: tap '%s' is already used by "
                                               "networkConfigs[%zu]",
                                               i, n[i].tap, j);
        }
        return 0;
}

int boot_config_validate(const BootConfig *b, const char **ret_field, char **ret_message) {
        if (!b)
                return 0;
        if (b->kernel_path && !path_is_valid_absolute(b->kernel_path))
                return invalid(ret_field, ret_message, "bootConfig",
                               "bootConfig: kernelPath must be absolute");
        if (b->initrd_path && !path_is_valid_absolute(b->initrd_path))
                return invalid(ret_field, ret_message, "bootConfig",
                               "bootConfig: initrdPath must be absolute");
        if (b->firmware_path && !path_is_valid_absolute(b->firmware_path))
                return invalid(ret_field, ret_message, "bootConfig",
                               "bootConfig: firmwarePath must be absolute");
        if (!b->kernel_path && (b->initrd_path || b->cmdline))
                return invalid(ret_field, ret_message, "bootConfig",
                               "bootConfig: initrdPath and cmdline need a kernelPath (direct boot)");
        /* One line: it ends up in a hypervisor argument and in the debug output. */
        if (b->cmdline && has_control_chars(b->cmdline))
                return invalid(ret_field, ret_message, "bootConfig",
                               "bootConfig: cmdline must not contain control characters");
        return 0;
}

static int vm_record_validate_sets(const VMRecord *r, const char **ret_field, char **ret_message) {
        for (char **i = r->vm.snapshot_ids; i && *i; i++)
                if (!id_is_valid(*i))
                        return invalid(ret_field, ret_message, "snapshotIds",
                                       "snapshotIds: '%s' is not an ID", *i);
        if (strv_has_duplicates(r->vm.snapshot_ids))
                return invalid(ret_field, ret_message, "snapshotIds", "snapshotIds: duplicate entry");
        for (char **i = r->image_blob_ids; i && *i; i++)
                if (!blob_id_is_valid(*i))
                        return invalid(ret_field, ret_message, "imageBlobIds",
                                       "imageBlobIds: '%s' is not a blob ID", *i);
        if (strv_has_duplicates(r->image_blob_ids))
                return invalid(ret_field, ret_message, "imageBlobIds", "imageBlobIds: duplicate entry");
        return 0;
}

static int vm_record_validate_paths(const VMRecord *r, const char **ret_field, char **ret_message) {
        if (r->run_dir && !path_is_valid_absolute(r->run_dir))
                return invalid(ret_field, ret_message, "runDir", "runDir must be an absolute path");
        if (r->log_dir && !path_is_valid_absolute(r->log_dir))
                return invalid(ret_field, ret_message, "logDir", "logDir must be an absolute path");
        if (r->unit && (strchr(r->unit, '/') || has_control_chars(r->unit) || strlen(r->unit) < 9 ||
                        !streq(r->unit + strlen(r->unit) - 8, ".service")))
                return invalid(ret_field, ret_message, "unit", "unit must be a service unit name");
        return 0;
}

int vm_record_validate(const VMRecord *r, const char **ret_field, char **ret_message) {
        const VM *vm = &r->vm;
        int k;

        if (!id_is_valid(vm->id))
                return invalid(ret_field, ret_message, "id", "id must be %d characters of a-z and 2-7",
                               ID_LENGTH);
        if (!vm_name_is_valid(vm->name))
                return invalid(ret_field, ret_message, "name", "name '%s' is not a valid VM name",
                               vm->name ?: "");
        if (!vm_backend_name_is_valid(vm->backend))
                return invalid(ret_field, ret_message, "backend", "backend must be a backend name");
        if (!vm_state_to_string(vm->state))
                return invalid(ret_field, ret_message, "state", "invalid state");
        if (vm->state == VM_STATE_STOPPING)
                return invalid(ret_field, ret_message, "state", "stopping is never recorded");
        if (vm->created_at == 0 || vm->updated_at == 0)
                return invalid(ret_field, ret_message, vm->created_at == 0 ? "createdAt" : "updatedAt",
                               "createdAt and updatedAt must be set");

        k = config_validate_structure(&vm->config, ret_field, ret_message);
        if (k < 0)
                return k;
        k = storage_configs_validate(vm->storage_configs, vm->n_storage_configs, ret_field, ret_message);
        if (k < 0)
                return k;
        k = network_configs_validate(vm->network_configs, vm->n_network_configs, ret_field, ret_message);
        if (k < 0)
                return k;
        k = boot_config_validate(r->boot_config, ret_field, ret_message);
        if (k < 0)
                return k;
        k = vm_record_validate_sets(r, ret_field, ret_message);
        if (k < 0)
                return k;
        return vm_record_validate_paths(r, ret_field, ret_message);
}
