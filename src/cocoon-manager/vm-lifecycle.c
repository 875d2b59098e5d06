/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* io.cocoon.VM methods that change VMs: Create, Start, Stop, Restart, Kill, Delete, and Debug (the launch
 * command). */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "bus-unit.h"
#include "helpers.h"
#include "hypervisor.h"
#include "id.h"
#include "image-store.h"
#include "json-util.h"
#include "log.h"
#include "manager-operations.h"
#include "network-cni.h"
#include "network-netns.h"
#include "network-tap.h"
#include "qemu.h"
#include "resolve.h"
#include "strv-util.h"
#include "time-util.h"
#include "varlink-interfaces.h"
#include "vm-lifecycle.h"
#include "vm-task.h"
#include "vm-varlink.h"
#include "vm.h"

#define VM_DEFAULT_CPU 1U
#define VM_DEFAULT_MEMORY (UINT64_C(256) << 20)
#define VM_DEFAULT_STORAGE (UINT64_C(1) << 30)
/* COMMAND_LINE_SIZE of x86 Linux, the NUL included. */
#define KERNEL_CMDLINE_MAX 2048U

static int reply_invalid_configuration(Varlink *link, const char *field, const char *message) {
        return varlink_error_field(link, VM_ERROR_INVALID_CONFIGURATION, field, message);
}

/* A failed Create/Start reported to the caller with the fields its error declares. */
static int reply_task_error(Manager *m, Varlink *link, const char *error_id, const char *id,
                            const char *message, const char *field) {
        _cleanup_(json_object_putp) json_object *p = json_object_new_object();
        const VMRecord *r = store_get(m->store, id);
        if (!p || json_add_string(p, "id", id) < 0 || json_add_string(p, "message", message) < 0)
                return -ENOMEM;
        /* What a create can find wrong after validation: the image's files, the CNI network. */
        if (streq(error_id, VM_ERROR_INVALID_CONFIGURATION) &&
            json_add_string(p, "field", field ?: "image") < 0)
                return -ENOMEM;
        if (streq(error_id, VM_ERROR_INVALID_STATE) && r &&
            json_add_string(p, "state", vm_state_to_string(r->vm.state)) < 0)
                return -ENOMEM;
        return varlink_error(link, error_id, p);
}

/* ---- Create ---- */

typedef struct CreateRequest {
        char id[ID_LENGTH + 1];
        char default_name[VM_NAME_MAX + 1];
        const char *name, *image, *backend, *accel, *cmdline, *bridge, *network;
        int64_t cpu, memory, storage, nics; /* nics INT64_MIN: not given */
        bool start;
} CreateRequest;

/* No name given: "<image>-<first 8 characters of the id>", unique like the id. Of an OCI reference
 * (registry/path/name:tag or @digest) the last path component without tag or digest: "busybox" for
 * docker.io/library/busybox:latest, as a VM name has no '/' or ':'; other characters a name cannot have
 * become '-', and a stem that cannot start a name is "vm". */
static void default_vm_name(const char *image, const char *id, char ret[static VM_NAME_MAX + 1]) {
        const char *slash = strrchr(image, '/'), *base = slash ? slash + 1 : image;
        char stem[VM_NAME_MAX - 9 + 1];
        size_t n = MIN(strcspn(base, ":@"), sizeof(stem) - 1);

        for (size_t i = 0; i < n; i++)
                stem[i] = isalnum((unsigned char) base[i]) || strchr("._-", base[i]) ? base[i] : '-';
        stem[n] = '\0';
        bool usable = n > 0 && isalnum((unsigned char) stem[0]);
        snprintf(ret, VM_NAME_MAX + 1, "%s-%.8s", usable ? stem : "vm", id);
}

static int create_request_parse(json_object *p, CreateRequest *req, const char **ret_bad) {
        static const JsonDispatch table[] = {
                { "name", json_type_string, json_dispatch_const_string, offsetof(CreateRequest, name), JSON_NULLABLE },
                { "image", json_type_string, json_dispatch_const_string, offsetof(CreateRequest, image), JSON_MANDATORY },
                { "backend", json_type_string, json_dispatch_const_string, offsetof(CreateRequest, backend), JSON_NULLABLE },
                { "accel", json_type_string, json_dispatch_const_string, offsetof(CreateRequest, accel), JSON_NULLABLE },
                { "cmdline", json_type_string, json_dispatch_const_string, offsetof(CreateRequest, cmdline), JSON_NULLABLE },
                { "cpu", json_type_int, json_dispatch_int64, offsetof(CreateRequest, cpu), JSON_NULLABLE },
                { "memory", json_type_int, json_dispatch_int64, offsetof(CreateRequest, memory), JSON_NULLABLE },
                { "storage", json_type_int, json_dispatch_int64, offsetof(CreateRequest, storage), JSON_NULLABLE },
                { "start", json_type_boolean, json_dispatch_bool, offsetof(CreateRequest, start), JSON_NULLABLE },
                { "nics", json_type_int, json_dispatch_int64, offsetof(CreateRequest, nics), JSON_NULLABLE },
                { "bridge", json_type_string, json_dispatch_const_string, offsetof(CreateRequest, bridge),
                  JSON_NULLABLE },
                { "network", json_type_string, json_dispatch_const_string, offsetof(CreateRequest, network),
                  JSON_NULLABLE },
                {},
        };
        *req = (CreateRequest){ .cpu = VM_DEFAULT_CPU, .memory = VM_DEFAULT_MEMORY,
                                .storage = VM_DEFAULT_STORAGE, .nics = INT64_MIN };
        int r = json_dispatch(p, table, 0, req, ret_bad);
        if (r < 0)
                return r;
        /* A bridge or a network alone means one NIC on it. */
        if (req->nics == INT64_MIN)
                req->nics = req->bridge || req->network ? 1 : 0;
        r = id_generate(req->id);
        if (r < 0)
                return r;
        if (!req->name) {
                default_vm_name(req->image, req->id, req->default_name);
                req->name = req->default_name;
        }
        return 0;
}

/* Whether VMs of the image get a COW disk: images with a root file system or layers. */
static bool image_has_layers(const Image *img) {
        return img->type == IMAGE_TYPE_OCI || image_file_present(&img->files[IMAGE_BLOB_ROOTFS]);
}

static int record_add_layer(Manager *m, VMRecord *r, const char *hex, ImageBlobKind kind, size_t j) {
        StorageConfig layer = { .read_only = true, .role = STORAGE_ROLE_LAYER, .direct_io = -1 };
        if (image_blob_path(m->images, hex, kind, &layer.path) < 0 ||
            asprintf(&layer.serial, VM_LAYER_SERIAL_PREFIX "%zu", j) < 0 ||
            vm_add_storage_config(&r->vm, &layer) < 0) {
                storage_config_done(&layer);
                return -ENOMEM;
        }
        return 0;
}

/* The storage list for an image: its root filesystem read-only as layer 0, or an OCI image's layers
 * (cocoon-layer<j>, base first: manifest order), plus a writable COW disk. */
static int record_add_storage(Manager *m, VMRecord *r, const Image *img, const char *vm_dir) {
        StorageConfig cow = { .read_only = false, .role = STORAGE_ROLE_COW, .direct_io = -1 };
        int k;

        if (img->type == IMAGE_TYPE_OCI) {
                for (size_t j = 0; j < img->n_layers; j++)
                        if ((k = record_add_layer(m, r, img->layers[j].blob, IMAGE_BLOB_LAYER, j)) < 0)
                                return k;
        } else if (image_file_present(&img->files[IMAGE_BLOB_ROOTFS])) {
                k = record_add_layer(m, r, img->files[IMAGE_BLOB_ROOTFS].blob, IMAGE_BLOB_ROOTFS, 0);
                if (k < 0)
                        return k;
        } else
                return 0;
        if (r->vm.config.storage == 0)
                return 0;
        if (asprintf(&cow.path, "%s/cow.raw", vm_dir) < 0 || !(cow.serial = strdup(VM_COW_SERIAL)) ||
            vm_add_storage_config(&r->vm, &cow) < 0) {
                storage_config_done(&cow);
                return -ENOMEM;
        }
        return 0;
}

/* CNI mode: NIC i is the CNI interface eth<i> in the VM's namespace cocoon-<id> and TAP tap<i> next to it;
 * MAC and address come from the network when the create sets it up (backend_network_add()). */
static int record_add_cni_nics(VMRecord *r, const CreateRequest *req) {
        _cleanup_free_ char *netns = NULL;
        int k = netns_path_for_vm(r->vm.id, &netns);
        if (k < 0)
                return k;
        if (req->network && !(r->vm.config.network = strdup(req->network)))
                return -ENOMEM;
        for (int64_t i = 0; i < req->nics; i++) {
                NetworkConfig n = { .backend = NETWORK_BACKEND_CNI,
                                    .num_queues = r->vm.config.cpu > 1 ? 2 * r->vm.config.cpu : 0 };
                if (asprintf(&n.tap, "tap%u", (unsigned) i) < 0 || !(n.netns_path = strdup(netns)) ||
                    vm_add_network_config(&r->vm, &n) < 0) {
                        network_config_done(&n);
                        return -ENOMEM;
                }
        }
        return 0;
}

/* Bridge mode: NIC i is TAP cocoon<id[0..8)><i> on the bridge, with a random locally administered MAC
 * (multiqueue with more than one vCPU); the guest asks the bridge's network for an address (DHCP), so the
 * record has none. */
static int record_add_nics(VMRecord *r, const CreateRequest *req) {
        if (req->nics > 0 && !req->bridge)
                return record_add_cni_nics(r, req);
        for (int64_t i = 0; i < req->nics; i++) {
                char tap[TAP_NAME_MAX + 1], mac[18];
                int k = tap_name_for_nic(r->vm.id, (unsigned) i, tap);
                if (k >= 0)
                        k = mac_random(mac);
                if (k < 0)
                        return k;
                /* Multiqueue with several vCPUs: a queue pair per vCPU. */
                NetworkConfig n = { .backend = NETWORK_BACKEND_BRIDGE,
                                    .num_queues = r->vm.config.cpu > 1 ? 2 * r->vm.config.cpu : 0 };
                if (!(n.tap = strdup(tap)) || !(n.mac = strdup(mac)) ||
                    !(n.bridge_dev = strdup(req->bridge)) || vm_add_network_config(&r->vm, &n) < 0) {
                        network_config_done(&n);
                        return -ENOMEM;
                }
        }
        return 0;
}

/* The guest contract: layer serials (top first) and the COW serial on the kernel command line. OCI images
 * have no command line of their own: theirs is cocoon-behavior.md 4.1's, as the backend's guests see their
 * console and disks (build_overlay_cmdline()). */
static int record_build_boot(Manager *m, VMRecord *r, const Image *img, const char *extra) {
        _cleanup_(boot_config_freep) BootConfig *b = calloc(1, sizeof(BootConfig));
        if (!b || image_blob_path(m->images, img->files[IMAGE_BLOB_KERNEL].blob, IMAGE_BLOB_KERNEL, &b->kernel_path) < 0)
                return -ENOMEM;
        if (image_file_present(&img->files[IMAGE_BLOB_INITRD]) &&
            image_blob_path(m->images, img->files[IMAGE_BLOB_INITRD].blob, IMAGE_BLOB_INITRD, &b->initrd_path) < 0)
                return -ENOMEM;
        if (img->type == IMAGE_TYPE_OCI) {
                const Hypervisor *h = hypervisor_find(r->vm.backend);
                if (!h)
                        return -EOPNOTSUPP;
                int k = build_overlay_cmdline(h->overlay_cmdline_head, h->disks_by_path,
                                              r->vm.storage_configs, r->vm.n_storage_configs, extra,
                                              &b->cmdline);
                if (k < 0)
                        return k;
                r->boot_config = TAKE_PTR(b);
                return 0;
        }
        /* A local image's root file system is the one layer; the guest finds it and the COW disk by serial,
         * or by device path where the hypervisor gives disks none (Firecracker). */
        const Hypervisor *h = hypervisor_find(r->vm.backend);
        bool by_path = h && h->disks_by_path;
        _cleanup_free_ char *layer = NULL, *cow = NULL;
        for (size_t i = 0; image_file_present(&img->files[IMAGE_BLOB_ROOTFS]) && i < r->vm.n_storage_configs;
             i++) {
                const StorageConfig *s = r->vm.storage_configs + i;
                char **ref = s->role == STORAGE_ROLE_LAYER ? &layer : s->role == STORAGE_ROLE_COW ? &cow : NULL;
                if (!ref || *ref)
                        continue;
                int k = guest_disk_ref(s, i, by_path, ref);
                if (k < 0)
                        return k;
        }
        if (asprintf(&b->cmdline, "%s%s%s%s%s%s%s", img->cmdline ?: "", layer ? " cocoon.layers=" : "",
                     layer ?: "", layer && cow ? " cocoon.cow=" : "", layer && cow ? cow : "",
                     isempty(extra) ? "" : " ", extra ?: "") < 0)
                return -ENOMEM;
        r->boot_config = TAKE_PTR(b);
        return 0;
}

static int record_new_placeholder(Manager *m, const CreateRequest *req, const Image *img, VMRecord **ret) {
        _cleanup_(vm_record_freep) VMRecord *r = NULL;
        _cleanup_free_ char *vm_dir = NULL;
        const char *id = req->id;
        int k;

        if ((k = vm_record_new(&r)) < 0)
                return k;
        uint64_t now = now_usec(CLOCK_REALTIME);
        r->vm.state = VM_STATE_CREATING;
        r->vm.created_at = r->vm.updated_at = now;
        r->vm.config.cpu = (uint32_t) req->cpu;
        r->vm.config.memory = (uint64_t) req->memory;
        r->vm.config.storage = image_has_layers(img) ? (uint64_t) req->storage : 0;
        if (!(r->vm.id = strdup(id)) || !(r->vm.name = strdup(req->name)) ||
            !(r->vm.backend = strdup(req->backend ?: manager_default_backend(m))) || !(r->vm.config.image = strdup(img->name)) ||
            !(r->vm.config.image_digest = strdup(img->digest)) ||
            (img->type == IMAGE_TYPE_OCI && !(r->vm.config.image_type = strdup("oci"))) ||
            (req->accel && !(r->vm.config.accel = strdup(req->accel))) ||
            asprintf(&r->run_dir, "%s/vms/%s", m->run_dir, id) < 0 ||
            asprintf(&r->log_dir, "%s/vms/%s", m->log_dir, id) < 0 || unit_name_for_vm(id, &r->unit) < 0 ||
            store_vm_dir(m->store, id, &vm_dir) < 0)
                return -ENOMEM;
        if ((k = record_add_storage(m, r, img, vm_dir)) < 0 ||
            (k = record_build_boot(m, r, img, req->cmdline)) < 0 || (k = record_add_nics(r, req)) < 0)
                return k;
        k = extract_blob_ids(r->vm.storage_configs, r->vm.n_storage_configs, r->boot_config, &r->image_blob_ids);
        if (k < 0)
                return k;
        *ret = TAKE_PTR(r);
        return 0;
}

/* What this host can give a new VM: its RAM, and the free space where the VM's disks go. */
static VMHostLimits host_limits(Manager *m) {
        VMHostLimits l = {};
        long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGESIZE);
        struct statvfs sv;

        if (pages > 0 && page_size > 0)
                l.memory_max = (uint64_t) pages * (uint64_t) page_size;
        if (statvfs(store_get_state_dir(m->store), &sv) >= 0)
                l.storage_max = (uint64_t) sv.f_bavail * sv.f_frsize;
        return l;
}

/* A negative size becomes one below every minimum, so that the validation refuses it naming the field. */
static uint64_t size_from_request(int64_t v) {
        return v < 0 ? 1 : (uint64_t) v;
}

/* NICs: bridge mode only so far. The bridge must exist in the manager's network namespace now (a quick
 * netlink query); start checks again, as it may have gone since. 1: fine, else the reply is sent. */
static int create_check_network(Varlink *link, const CreateRequest *req) {
        char message[256];

        if (req->nics < 0 || req->nics > (int64_t) VM_NICS_MAX) {
                snprintf(message, sizeof(message), "nics must be between 0 and %u", VM_NICS_MAX);
                return reply_invalid_configuration(link, "nics", message);
        }
        if (req->network && req->bridge)
                return reply_invalid_configuration(link, "network",
                                                   "a NIC is either on a CNI network or on a bridge, not both");
        if (req->network && !cni_name_is_valid(req->network))
                return reply_invalid_configuration(link, "network",
                                                   "network must name a CNI network (letters, digits, '_', "
                                                   "'.', '-')");
        if (req->network && req->nics == 0)
                return reply_invalid_configuration(link, "nics", "a network needs at least one NIC");
        /* Which networks exist is read from the conflist directory in the worker (no file reads here). */
        if (!req->bridge)
                return 1;
        if (req->nics == 0)
                return reply_invalid_configuration(link, "nics", "a bridge needs at least one NIC");
        if (!ifname_is_valid(req->bridge))
                return reply_invalid_configuration(link, "bridge",
                                                   "bridge must be an interface name of 1-15 characters");
        int r = bridge_check(req->bridge);
        if (r == -ENODEV)
                snprintf(message, sizeof(message), "bridge '%s' does not exist", req->bridge);
        else if (r == -ENOTTY)
                snprintf(message, sizeof(message), "'%s' is not a bridge", req->bridge);
        else if (r < 0)
                snprintf(message, sizeof(message), "cannot look up bridge '%s': %s", req->bridge,
                         strerror(-r));
        if (r < 0)
                return reply_invalid_configuration(link, "bridge", message);
        return 1;
}

/* Rejects what cannot work before anything is written: reply sent, returns 0. */
static int create_check(Manager *m, Varlink *link, const CreateRequest *req, const Image **ret_image) {
        _cleanup_free_ char *invalid_message = NULL;
        const char *field = NULL;
        char message[256];
        const VMRecord *other;
        int r;

        if (isempty(req->image))
                return reply_invalid_configuration(link, "image", "image must name an image");
        r = image_store_get(m->images, req->image, ret_image);
        if (r == -ENOENT || r == -ENOTUNIQ || r == -EINVAL) {
                snprintf(message, sizeof(message), r == -ENOTUNIQ ? "image reference '%s' is ambiguous"
                                                                  : "no image '%s'; see cocoonctl image list",
                         req->image);
                return reply_invalid_configuration(link, "image", message);
        }
        if (r < 0)
                return r;
        /* A pulled image boots its own kernel and initramfs (kept at pull from boot/vmlinuz*,
         * boot/initrd.img*): the initramfs builds the root from the layers (cocoon-behavior.md 7.6). */
        const Image *img = *ret_image;
        bool kernel = image_file_present(&img->files[IMAGE_BLOB_KERNEL]);
        bool initrd = image_file_present(&img->files[IMAGE_BLOB_INITRD]);
        if (img->type == IMAGE_TYPE_OCI && (!kernel || !initrd)) {
                snprintf(message, sizeof(message),
                         "OCI image '%s' has no %s: booting it needs a kernel (boot/vmlinuz* or /vmlinuz*) "
                         "and an initramfs (boot/initrd.img* or /initrd.img*) in the image", img->name,
                         kernel ? "initramfs" : "kernel");
                return reply_invalid_configuration(link, "image", message);
        }
        if (img->type == IMAGE_TYPE_OCI && img->n_layers == 0)
                return reply_invalid_configuration(link, "image",
                                                   "the OCI image has no layers to boot from");
        if (img->type == IMAGE_TYPE_OCI && req->storage == 0)
                return reply_invalid_configuration(link, "storage",
                                                   "a VM of an OCI image needs a COW disk (storage > 0)");

        /* One validation of the configuration (vm_config_validate()), with what the host can give. */
        bool cow = image_has_layers(img);
        VMConfig config = {
                .name = (char *) req->name,
                .config = {
                        .cpu = req->cpu < 0 ? 0 : (uint32_t) MIN(req->cpu, (int64_t) UINT32_MAX),
                        .memory = size_from_request(req->memory),
                        .storage = cow ? size_from_request(req->storage) : 0,
                },
        };
        VMHostLimits limits = host_limits(m);
        if (vm_config_validate(&config, &limits, &field, &invalid_message) < 0)
                return reply_invalid_configuration(link, field ?: "config", invalid_message ?: "invalid");

        if ((other = store_get_by_name(m->store, req->name))) {
                _cleanup_(json_object_putp) json_object *p = json_object_new_object();
                snprintf(message, sizeof(message), "VM name '%s' is already used by %s", req->name, other->vm.id);
                if (!p || json_add_string(p, "name", req->name) < 0 || json_add_string(p, "id", other->vm.id) < 0 ||
                    json_add_string(p, "message", message) < 0)
                        return -ENOMEM;
                return varlink_error(link, VM_ERROR_NAME_IN_USE, p);
        }
        _cleanup_free_ char *unavailable = NULL;
        if (!manager_backend_available(m, req->backend ?: manager_default_backend(m), &unavailable)) {
                _cleanup_(json_object_putp) json_object *p = json_object_new_object();
                if (!p || json_add_string(p, "message", unavailable ?: "backend not available") < 0)
                        return -ENOMEM;
                return varlink_error(link, VM_ERROR_NOT_SUPPORTED, p);
        }
        if (req->accel && accel_from_string(req->accel) < 0)
                return reply_invalid_configuration(link, "accel", "accel must be auto, kvm or tcg");
        /* A backend without emulation cannot honour tcg; saying so beats a VM that silently uses KVM. */
        const Hypervisor *h = hypervisor_find(req->backend ?: manager_default_backend(m));
        if (h && h->kvm_only && req->accel && accel_from_string(req->accel) == ACCEL_TCG)
                return reply_invalid_configuration(link, "accel", "this backend runs guests on KVM only");
        if (req->cmdline && !image_cmdline_is_valid(req->cmdline))
                return reply_invalid_configuration(link, "cmdline", "cmdline must be printable ASCII");
        return create_check_network(link, req);
}

/* A call whose tasks go on when its caller goes away: it holds its entry of the operations list (listed,
 * detached then) until its last task ended and the reply went out. */
typedef struct CreateCall {
        Manager *manager;
        Varlink *link;
        uint64_t operation; /* operations_hold()'s id */
        bool start;
} CreateCall;

static void create_call_free(CreateCall *c) {
        operations_end(c->manager->operations, c->operation);
        varlink_unref(c->link);
        free(c);
}

static void reply_vm(Manager *m, Varlink *link, const char *id) {
        const VMRecord *record = store_get(m->store, id);
        _cleanup_(json_object_putp) json_object *reply = json_object_new_object();
        json_object *vm;
        if (!record || !reply || vm_to_json(m, record, VM_VIEW_PUBLIC, &vm) < 0 || json_add_object(reply, "vm", vm) < 0) {
                (void) varlink_error_errno(link, ENOMEM);
                return;
        }
        (void) varlink_reply(link, reply);
}

static void on_create_started(Manager *m, const VmTask *t, const char *error_id, const char *message, void *userdata) {
        CreateCall *c = userdata;
        if (error_id)
                (void) reply_task_error(m, c->link, error_id, vm_task_id(t), message,
                                        vm_task_failure_field(t));
        else
                reply_vm(m, c->link, vm_task_id(t));
        create_call_free(c);
}

static void on_create_done(Manager *m, const VmTask *t, const char *error_id, const char *message, void *userdata) {
        CreateCall *c = userdata;
        if (error_id) {
                (void) reply_task_error(m, c->link, error_id, vm_task_id(t), message,
                                        vm_task_failure_field(t));
                return create_call_free(c);
        }
        if (!c->start) {
                reply_vm(m, c->link, vm_task_id(t));
                return create_call_free(c);
        }
        int r = vm_task_submit(m, VM_TASK_START, vm_task_id(t), NULL, on_create_started, c);
        if (r < 0) {
                (void) varlink_error_errno(c->link, -r);
                create_call_free(c);
        }
}

int vl_method_vm_create(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata) {
        Manager *m = userdata;
        _cleanup_(vm_record_freep) VMRecord *record = NULL;
        CreateRequest req;
        const char *bad = NULL;
        const Image *img;

        int r = create_request_parse(parameters, &req, &bad);
        if (r < 0)
                return varlink_error_invalid_parameter(link, bad ?: "parameters");
        r = create_check(m, link, &req, &img);
        if (r <= 0)
                return r;
        r = record_new_placeholder(m, &req, img, &record);
        if (r < 0)
                return r;
        /* x86 kernels take KERNEL_CMDLINE_MAX bytes; an OCI image's layers each add their serial. */
        if (record->boot_config && record->boot_config->cmdline &&
            strlen(record->boot_config->cmdline) >= KERNEL_CMDLINE_MAX)
                return reply_invalid_configuration(link, img->type == IMAGE_TYPE_OCI ? "image" : "cmdline",
                                                   "the kernel command line would be too long (too many "
                                                   "layers, or cmdline too long)");

        const char *field = NULL;
        _cleanup_free_ char *message = NULL;
        if (vm_record_validate(record, &field, &message) < 0)
                return reply_invalid_configuration(link, field ?: "config", message ?: "invalid configuration");

        /* The placeholder reserves name and id at once; GC leaves creating records alone for 24 h. */
        r = vm_add(m, record);
        if (r < 0)
                return r;

        CreateCall *c = calloc(1, sizeof(CreateCall));
        if (!c)
                return -ENOMEM;
        c->manager = m;
        c->link = varlink_ref(link);
        c->operation = operations_hold(m->operations, link);
        c->start = req.start;
        r = vm_task_submit(m, VM_TASK_CREATE, record->vm.id, NULL, on_create_done, c);
        if (r < 0) {
                create_call_free(c);
                (void) vm_remove(m, record->vm.id);
                return r;
        }
        return 0;
}

/* ---- Start, Stop, Delete: one result per reference ---- */

typedef struct BatchCall {
        Manager *manager;
        Varlink *link;
        uint64_t operation; /* operations_hold()'s id: listed until the last item ended, as for Create */
        json_object *results; /* one slot per reference, filled as operations end */
        size_t pending;
} BatchCall;

typedef struct BatchItem {
        BatchCall *call;
        size_t index;
        bool then_start; /* Restart: the stop is done first, then this starts the VM */
} BatchItem;

/* Completes the result slot of one reference (created with its "reference" when the call came in). */
static void batch_set_result(BatchCall *b, size_t index, const char *id, const char *error_id, const char *message) {
        json_object *o = json_object_array_get_idx(b->results, index);
        if (!o)
                return;
        (void) json_add_string(o, "id", id);
        (void) json_add_string(o, "error", error_id);
        (void) json_add_string(o, "message", message);
}

static void batch_maybe_reply(BatchCall *b) {
        if (b->pending > 0)
                return;
        _cleanup_(json_object_putp) json_object *reply = json_object_new_object();
        if (reply && json_add_object(reply, "results", json_object_get(b->results)) >= 0)
                (void) varlink_reply(b->link, reply);
        else
                (void) varlink_error_errno(b->link, ENOMEM);
        operations_end(b->manager->operations, b->operation);
        varlink_unref(b->link);
        json_object_put(b->results);
        free(b);
}

static void on_batch_item_done(Manager *m, const VmTask *t, const char *error_id, const char *message,
                               void *userdata) {
        BatchItem *item = userdata;
        BatchCall *b = item->call;
        if (item->then_start && !error_id) {
                /* Queued behind whatever else waits on the VM, like any start. */
                item->then_start = false;
                int r = vm_task_submit(m, VM_TASK_START, vm_task_id(t), NULL, on_batch_item_done, item);
                if (r >= 0)
                        return;
                error_id = COCOON_ERROR_SYSTEM;
                message = strerror(-r);
        }
        batch_set_result(b, item->index, vm_task_id(t), error_id, message);
        free(item);
        b->pending--;
        batch_maybe_reply(b);
}

/* then_start: a restart (kind is the stop). */
static int batch_run(Manager *m, Varlink *link, json_object *parameters, VmTaskKind kind,
                     const VmTaskOptions *options, bool then_start) {
        json_object *refs;
        if (!json_object_object_get_ex(parameters, "refs", &refs) || json_object_array_length(refs) == 0)
                return varlink_error_invalid_parameter(link, "refs");

        BatchCall *b = calloc(1, sizeof(BatchCall));
        if (!b || !(b->results = json_object_new_array())) {
                free(b);
                return -ENOMEM;
        }
        b->manager = m;
        b->link = varlink_ref(link);
        b->operation = operations_hold(m->operations, link);
        size_t n = json_object_array_length(refs);
        b->pending = n + 1; /* +1: no reply before every item is submitted */

        for (size_t i = 0; i < n; i++) {
                const char *ref = json_object_get_string(json_object_array_get_idx(refs, i));
                _cleanup_strv_free_ char **candidates = NULL;
                const char *id;
                json_object *placeholder = json_object_new_object();
                (void) json_add_string(placeholder, "reference", ref);
                json_object_array_put_idx(b->results, i, placeholder);

                int r = store_resolve_ref(m->store, ref, &id, &candidates);
                if (r < 0) {
                        _cleanup_free_ char *joined = strv_join(candidates, ", ");
                        char message[512];
                        snprintf(message, sizeof(message), r == -ENOTUNIQ ? "'%s' matches several VMs: %s"
                                                                          : "no VM with id, name or id prefix '%s'%s",
                                 ref, r == -ENOTUNIQ ? joined ?: "" : "");
                        batch_set_result(b, i, NULL, r == -ENOTUNIQ ? VM_ERROR_AMBIGUOUS_REFERENCE : VM_ERROR_NO_SUCH_VM,
                                         message);
                        b->pending--;
                        continue;
                }
                BatchItem *item = calloc(1, sizeof(BatchItem));
                if (item) {
                        item->call = b;
                        item->index = i;
                        item->then_start = then_start;
                }
                r = item ? vm_task_submit(m, kind, id, options, on_batch_item_done, item) : -ENOMEM;
                if (r < 0) {
                        free(item);
                        batch_set_result(b, i, id, COCOON_ERROR_SYSTEM, strerror(-r));
                        b->pending--;
                }
        }
        b->pending--;
        batch_maybe_reply(b);
        return 0;
}

static int parse_force_timeout(json_object *parameters, VmTaskOptions *o) {
        json_object *v;
        *o = (VmTaskOptions){};
        if (json_object_object_get_ex(parameters, "force", &v) && json_object_is_type(v, json_type_boolean))
                o->force = json_object_get_boolean(v);
        if (json_object_object_get_ex(parameters, "timeoutSec", &v) && json_object_is_type(v, json_type_int)) {
                int64_t sec = json_object_get_int64(v);
                if (sec <= 0 || sec > 24 * 3600)
                        return -ERANGE;
                o->timeout_usec = (uint64_t) sec * USEC_PER_SEC;
        }
        return 0;
}

int vl_method_vm_start(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata) {
        return batch_run(userdata, link, parameters, VM_TASK_START, NULL, false);
}

int vl_method_vm_stop(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata) {
        VmTaskOptions o;
        if (parse_force_timeout(parameters, &o) < 0)
                return varlink_error_invalid_parameter(link, "timeoutSec");
        return batch_run(userdata, link, parameters, VM_TASK_STOP, &o, false);
}

int vl_method_vm_restart(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata) {
        VmTaskOptions o;
        if (parse_force_timeout(parameters, &o) < 0)
                return varlink_error_invalid_parameter(link, "timeoutSec");
        return batch_run(userdata, link, parameters, VM_TASK_STOP, &o, true);
}

/* The signals Kill sends, by the names kill(1) and systemctl kill use. */
static const struct {
        const char *name;
        int signo;
} kill_signal_table[] = {
        { "HUP", SIGHUP },   { "INT", SIGINT },   { "QUIT", SIGQUIT },
        { "KILL", SIGKILL }, { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 },
        { "TERM", SIGTERM }, { "CONT", SIGCONT }, { "STOP", SIGSTOP },
};

/* "KILL" or "SIGKILL" -> SIGKILL; -EINVAL for anything else. */
static int kill_signal_from_string(const char *s) {
        if (strncmp(s, "SIG", 3) == 0)
                s += 3;
        for (size_t i = 0; i < ELEMENTSOF(kill_signal_table); i++)
                if (streq(kill_signal_table[i].name, s))
                        return kill_signal_table[i].signo;
        return -EINVAL;
}

int vl_method_vm_kill(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata) {
        VmTaskOptions o = { .signal = SIGKILL };
        json_object *v;

        if (json_object_object_get_ex(parameters, "signal", &v) && !json_object_is_type(v, json_type_null)) {
                int signo = kill_signal_from_string(json_object_get_string(v));
                if (signo < 0)
                        return reply_invalid_configuration(
                                link, "signal",
                                "signal must be one of HUP, INT, QUIT, KILL, USR1, USR2, TERM, CONT, STOP "
                                "(SIG prefix optional)");
                o.signal = signo;
        }
        return batch_run(userdata, link, parameters, VM_TASK_KILL, &o, false);
}

int vl_method_vm_delete(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata) {
        VmTaskOptions o;
        (void) parse_force_timeout(parameters, &o);
        return batch_run(userdata, link, parameters, VM_TASK_DELETE, &o, false);
}

/* ---- Debug ---- */

int vl_method_vm_debug(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata) {
        Manager *m = userdata;
        const VMRecord *record;

        int r = manager_resolve_vm_parameter(m, link, parameters, &record);
        if (r <= 0)
                return r;

        HypervisorLaunch launch = {
                .binary = cocoon_config_backend_binary(&m->config, record->vm.backend),
                .accel = vm_accel(m, record),
                .tsc_khz = m->host_tsc_khz,
                .start_paused = true,
                .dns = m->config.network_dns,
        };
        launch.vhost_net = launch.accel == ACCEL_KVM && vhost_net_available();
        _cleanup_strv_free_ char **argv = NULL;
        const Hypervisor *h = hypervisor_find(record->vm.backend);
        if (!h || !launch.binary)
                return varlink_errorf(link, VM_ERROR_NOT_SUPPORTED, "backend %s is not available", record->vm.backend);
        r = h->build_argv(record, &launch, &argv);
        if (r < 0)
                return r;
        _cleanup_(json_object_putp) json_object *reply = json_object_new_object();
        if (!reply || json_add_string(reply, "unit", record->unit) < 0 || json_add_strv(reply, "argv", argv) < 0 ||
            json_add_strv(reply, "apiCalls", (char **) h->start_calls) < 0)
                return -ENOMEM;
        return varlink_reply(link, reply);
}
