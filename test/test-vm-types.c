/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for vm-types: enum tables, JSON round trips, deep copies, and every validation rule both ways. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "json-util.h"
#include "macro.h"
#include "strv-util.h"
#include "vm-types.h"

#define ID_A "abcdefghijklmnopqrstuvwxyz"
#define ID_B "bbbbbbbbbbbbbbbbbbbbbbbbbb"
#define GIB (UINT64_C(1) << 30)
/* 2026-11-28T14:29:01.123456Z */
#define T1 UINT64_C(1795876141123456)

static char *xstrdup(const char *s) {
        char *c = strdup(s);
        assert_non_null(c);
        return c;
}

static void add_disk(VMRecord *r, const char *path, StorageRole role, bool ro, const char *serial,
                     const char *fs_type, const char *mount_point, int direct_io) {
        StorageConfig s = {
                .path = xstrdup(path),
                .read_only = ro,
                .serial = serial ? xstrdup(serial) : NULL,
                .role = role,
                .fs_type = fs_type ? xstrdup(fs_type) : NULL,
                .mount_point = mount_point ? xstrdup(mount_point) : NULL,
                .direct_io = direct_io,
        };
        assert_int_equal(vm_add_storage_config(&r->vm, &s), 0);
        assert_null(s.path); /* taken over */
}

static void add_nics(VMRecord *r) {
        NetworkConfig n = {
                .tap = xstrdup("tapabcdefgh-0"),
                .mac = xstrdup("02:ab:cd:ef:00:01"),
                .num_queues = 4,
                .queue_size = 512,
                .backend = NETWORK_BACKEND_CNI,
                .netns_path = xstrdup("/var/run/netns/cocoon-" ID_A),
        };
        n.address = calloc(1, sizeof(NetworkAddress));
        assert_non_null(n.address);
        n.address->ip = xstrdup("10.22.0.5");
        n.address->gateway = xstrdup("10.22.0.1");
        n.address->prefix = 16;
        assert_int_equal(strv_extend(&n.address->dns, "8.8.8.8"), 0);
        assert_int_equal(vm_add_network_config(&r->vm, &n), 0);

        n = (NetworkConfig){
                .tap = xstrdup("btabcdefgh-1"),
                .backend = NETWORK_BACKEND_BRIDGE,
                .bridge_dev = xstrdup("br0"),
        };
        assert_int_equal(vm_add_network_config(&r->vm, &n), 0);
}

/* A record with every field set. */
static VMRecord *make_record(void) {
        VMRecord *r;

        assert_int_equal(vm_record_new(&r), 0);
        r->vm.id = xstrdup(ID_A);
        r->vm.name = xstrdup("web-1");
        r->vm.backend = xstrdup("qemu");
        r->vm.state = VM_STATE_RUNNING;
        r->vm.config = (Config){
                .cpu = 2,
                .memory = GIB,
                .storage = 10 * GIB,
                .queue_size = 256,
                .disk_queue_size = 128,
                .image = xstrdup("ghcr.io/cocoonstack/cocoon/ubuntu:24.04"),
                .image_digest = xstrdup("sha256:0123"),
                .image_type = xstrdup("oci"),
                .network = xstrdup("cocoon"),
                .no_direct_io = true,
        };
        add_disk(r, "/var/lib/cocoon/images/blobs/aaa.erofs", STORAGE_ROLE_LAYER, true, "cocoon-layer0",
                 NULL, NULL, -1);
        add_disk(r, "/var/lib/cocoon/images/blobs/bbb.erofs", STORAGE_ROLE_LAYER, true, "cocoon-layer1",
                 NULL, NULL, -1);
        add_disk(r, "/var/lib/cocoon/vms/" ID_A "/cow.raw", STORAGE_ROLE_COW, false, "cocoon-cow", NULL,
                 NULL, -1);
        add_disk(r, "/var/lib/cocoon/vms/" ID_A "/cidata.img", STORAGE_ROLE_CIDATA, true, "cidata", NULL,
                 NULL, -1);
        add_disk(r, "/var/lib/cocoon/vms/" ID_A "/data-logs.raw", STORAGE_ROLE_DATA, false, "logs", "ext4",
                 "/mnt/logs", 1);
        add_disk(r, "/var/lib/cocoon/vms/" ID_A "/data-raw.raw", STORAGE_ROLE_DATA, false, "raw", "none",
                 NULL, 0);
        add_nics(r);
        r->vm.first_booted = true;
        assert_int_equal(vm_add_snapshot_id(&r->vm, ID_B), 1);
        r->vm.created_at = T1;
        r->vm.updated_at = T1 + 1;
        r->vm.started_at = T1 + 2;
        r->vm.stopped_at = T1 + 3;

        r->boot_config = calloc(1, sizeof(BootConfig));
        assert_non_null(r->boot_config);
        r->boot_config->kernel_path = xstrdup("/var/lib/cocoon/images/boot/bbb/vmlinux");
        r->boot_config->initrd_path = xstrdup("/var/lib/cocoon/images/boot/bbb/initrd.img");
        r->boot_config->cmdline = xstrdup("console=ttyS0 cocoon.hostname=web-1 \"quoted\"");
        assert_int_equal(strv_extend(&r->image_blob_ids, "aaa"), 0);
        assert_int_equal(strv_extend(&r->image_blob_ids, "bbb"), 0);
        r->run_dir = xstrdup("/run/cocoon/vms/" ID_A);
        r->log_dir = xstrdup("/var/log/cocoon/vms/" ID_A);
        r->error_reason = xstrdup("hypervisor exited with status 1");
        r->unit = xstrdup("cocoon-vm@" ID_A ".service");
        return r;
}

/* A record with only what is mandatory. */
static VMRecord *make_minimal_record(void) {
        VMRecord *r;

        assert_int_equal(vm_record_new(&r), 0);
        r->vm.id = xstrdup(ID_B);
        r->vm.name = xstrdup("m");
        r->vm.backend = xstrdup("firecracker");
        r->vm.config.cpu = 1;
        r->vm.config.memory = 64 << 20;
        r->vm.created_at = r->vm.updated_at = 1;
        return r;
}

static char *record_text(const VMRecord *r) {
        _cleanup_(json_object_putp) json_object *o = NULL;

        assert_int_equal(vm_record_to_json(r, &o), 0);
        return xstrdup(json_to_string(o));
}

static VMRecord *record_from_text(const char *text) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        VMRecord *r = NULL;
        const char *bad = "unset";

        assert_int_equal(json_parse(text, strlen(text), &o), 0);
        assert_int_equal(vm_record_from_json(o, &r, &bad), 0);
        assert_string_equal(bad, "unset"); /* untouched on success */
        return r;
}

static void test_enums(void **state) {
        for (int i = 0; i < _VM_STATE_MAX; i++) {
                assert_non_null(vm_state_to_string(i));
                assert_int_equal(vm_state_from_string(vm_state_to_string(i)), i);
        }
        assert_string_equal(vm_state_to_string(VM_STATE_CREATING), "creating");
        assert_string_equal(vm_state_to_string(VM_STATE_ERROR), "error");
        assert_null(vm_state_to_string(_VM_STATE_MAX));
        assert_null(vm_state_to_string(-1));
        assert_int_equal(vm_state_from_string("Running"), -EINVAL);
        assert_int_equal(vm_state_from_string(""), -EINVAL);
        assert_int_equal(vm_state_from_string(NULL), -EINVAL);

        for (int i = 0; i < _STORAGE_ROLE_MAX; i++)
                assert_int_equal(storage_role_from_string(storage_role_to_string(i)), i);
        assert_string_equal(storage_role_to_string(STORAGE_ROLE_CIDATA), "cidata");
        assert_null(storage_role_to_string(_STORAGE_ROLE_MAX));
        assert_int_equal(storage_role_from_string("root"), -EINVAL);

        for (int i = 0; i < _NETWORK_BACKEND_MAX; i++)
                assert_int_equal(network_backend_from_string(network_backend_to_string(i)), i);
        assert_string_equal(network_backend_to_string(NETWORK_BACKEND_BRIDGE), "bridge");
        assert_int_equal(network_backend_from_string("tap"), -EINVAL);

        /* Syntax only: which backends exist is the hypervisor table's (test-qemu). */
        assert_true(vm_backend_name_is_valid("qemu"));
        assert_true(vm_backend_name_is_valid("cloud-hypervisor"));
        assert_false(vm_backend_name_is_valid("QEMU"));
        assert_false(vm_backend_name_is_valid("qemu/../x"));
        assert_false(vm_backend_name_is_valid(""));
        assert_false(vm_backend_name_is_valid(NULL));
        assert_true(image_type_is_valid("oci"));
        assert_true(image_type_is_valid("cloudimg"));
        assert_false(image_type_is_valid("qcow2"));
}

static void test_json_round_trip(void **state) {
        _cleanup_(vm_record_freep) VMRecord *r = make_record(), *parsed = NULL, *m = make_minimal_record(),
                                            *mparsed = NULL;
        _cleanup_free_ char *text = NULL, *text2 = NULL, *mtext = NULL, *mtext2 = NULL;

        text = record_text(r);
        parsed = record_from_text(text);
        assert_true(vm_record_equal(r, parsed));
        text2 = record_text(parsed);
        assert_string_equal(text, text2);

        /* The wire names. */
        const char *keys[] = {
                "\"id\":\"" ID_A "\"",
                "\"backend\":\"qemu\"",
                "\"state\":\"running\"",
                "\"config\":{\"cpu\":2,\"memory\":1073741824",
                "\"diskQueueSize\":128",
                "\"noDirectIO\":true",
                "\"storageConfigs\":[{\"path\"",
                "\"readOnly\":true",
                "\"serial\":\"cocoon-cow\"",
                "\"role\":\"layer\"",
                "\"mountPoint\":\"/mnt/logs\"",
                "\"fsType\":\"none\"",
                "\"directIO\":true",
                "\"directIO\":false",
                "\"networkConfigs\":[{\"tap\"",
                "\"numQueues\":4",
                "\"netnsPath\":\"/var/run/netns/",
                "\"network\":{\"ip\":\"10.22.0.5\"",
                "\"bridgeDev\":\"br0\"",
                "\"firstBooted\":true",
                "\"snapshotIds\":[\"" ID_B "\"]",
                "\"createdAt\":\"2026-11-28T14:29:01.123456Z\"",
                "\"stoppedAt\":\"2026-11-28T14:29:01.123459Z\"",
                "\"bootConfig\":{\"kernelPath\"",
                "\"initrdPath\"",
                "\"imageBlobIds\":[\"aaa\",\"bbb\"]",
                "\"runDir\":\"/run/cocoon/vms/",
                "\"logDir\"",
                "\"errorReason\"",
                "\"unit\":\"cocoon-vm@",
        };
        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                if (!strstr(text, keys[i]))
                        fail_msg("%s not in %s", keys[i], text);
        /* directIO of an inheriting disk is omitted, not false. */
        assert_int_equal(strstr(text, "cocoon-layer0\",\"role\":\"layer\"}") != NULL, 1);

        mtext = record_text(m);
        mparsed = record_from_text(mtext);
        assert_true(vm_record_equal(m, mparsed));
        mtext2 = record_text(mparsed);
        assert_string_equal(mtext, mtext2);
        assert_null(strstr(mtext, "startedAt"));
        assert_null(strstr(mtext, "bootConfig"));
        assert_null(strstr(mtext, "errorReason"));
        assert_non_null(strstr(mtext, "\"storageConfigs\":[]"));
}

static void test_public_json(void **state) {
        _cleanup_(vm_record_freep) VMRecord *r = make_record();
        _cleanup_(json_object_putp) json_object *o = NULL;
        json_object *v;

        assert_int_equal(vm_record_to_public_json(r, &o), 0);
        assert_true(json_object_object_get_ex(o, "id", &v));
        assert_true(json_object_object_get_ex(o, "errorReason", &v));
        assert_true(json_object_object_get_ex(o, "storageConfigs", &v));
        assert_false(json_object_object_get_ex(o, "bootConfig", &v));
        assert_false(json_object_object_get_ex(o, "imageBlobIds", &v));
        assert_false(json_object_object_get_ex(o, "runDir", &v));
        assert_false(json_object_object_get_ex(o, "logDir", &v));
}

/* The listing's "ip": the NICs' static addresses, absent when no NIC has one. */
static void test_summary_json_ip(void **state) {
        _cleanup_(vm_record_freep) VMRecord *r = make_record();
        _cleanup_(json_object_putp) json_object *o = NULL, *none = NULL;
        json_object *v;

        assert_int_equal(vm_record_to_summary_json(r, &o), 0);
        assert_true(json_object_object_get_ex(o, "ip", &v));
        assert_string_equal(json_object_get_string(v), "10.22.0.5");
        assert_false(json_object_object_get_ex(o, "networkConfigs", &v));

        r->vm.network_configs[0].address = network_address_free(r->vm.network_configs[0].address);
        assert_int_equal(vm_record_to_summary_json(r, &none), 0);
        assert_false(json_object_object_get_ex(none, "ip", &v));
}

typedef void (*Mutation)(VMRecord *r);

static void mut_memory(VMRecord *r) {
        r->vm.config.memory++;
}
static void mut_serial(VMRecord *r) {
        r->vm.storage_configs[1].serial[strlen(r->vm.storage_configs[1].serial) - 1] = '7';
}
static void mut_direct_io(VMRecord *r) {
        r->vm.storage_configs[4].direct_io = -1;
}
static void mut_prefix(VMRecord *r) {
        r->vm.network_configs[0].address->prefix = 24;
}
static void mut_address(VMRecord *r) {
        r->vm.network_configs[0].address = network_address_free(r->vm.network_configs[0].address);
}
static void mut_cmdline(VMRecord *r) {
        r->boot_config->cmdline[0] = 'C';
}
static void mut_boot(VMRecord *r) {
        r->boot_config = boot_config_free(r->boot_config);
}
static void mut_blob_order(VMRecord *r) {
        char *t = r->image_blob_ids[0];
        r->image_blob_ids[0] = r->image_blob_ids[1];
        r->image_blob_ids[1] = t;
}
static void mut_snapshot(VMRecord *r) {
        assert_int_equal(vm_remove_snapshot_id(&r->vm, ID_B), 1);
}
static void mut_error_reason(VMRecord *r) {
        r->error_reason = mfree(r->error_reason);
}
static void mut_stopped_at(VMRecord *r) {
        r->vm.stopped_at = 0;
}
static void mut_one_disk_less(VMRecord *r) {
        storage_config_done(&r->vm.storage_configs[--r->vm.n_storage_configs]);
}
static void mut_image_null(VMRecord *r) {
        r->vm.config.image = mfree(r->vm.config.image);
}

static void test_copy_and_equal(void **state) {
        const Mutation mutations[] = {
                mut_memory,     mut_serial,        mut_direct_io,  mut_prefix,   mut_address,
                mut_cmdline,    mut_boot,          mut_blob_order, mut_snapshot, mut_error_reason,
                mut_stopped_at, mut_one_disk_less, mut_image_null,
        };
        _cleanup_(vm_record_freep) VMRecord *r = make_record();

        for (size_t i = 0; i < ELEMENTSOF(mutations); i++) {
                _cleanup_(vm_record_freep) VMRecord *c = NULL;

                assert_int_equal(vm_record_copy(r, &c), 0);
                assert_true(vm_record_equal(r, c));
                /* Deep: no string is shared. */
                assert_ptr_not_equal(c->vm.storage_configs[0].path, r->vm.storage_configs[0].path);
                assert_ptr_not_equal(c->boot_config, r->boot_config);
                mutations[i](c);
                if (vm_record_equal(r, c))
                        fail_msg("mutation %zu not detected", i);
        }
}

/* Mutates the JSON of a full record and checks what the parser says. */
static void check_parse_error(const char *path_key, const char *key, json_object *value, int want_r,
                              const char *want_field) {
        _cleanup_(vm_record_freep) VMRecord *r = make_record(), *parsed = NULL;
        _cleanup_(json_object_putp) json_object *o = NULL;
        json_object *target;
        const char *bad = NULL;

        assert_int_equal(vm_record_to_json(r, &o), 0);
        target = o;
        if (path_key) {
                assert_true(json_object_object_get_ex(o, path_key, &target));
                if (json_object_is_type(target, json_type_array))
                        target = json_object_array_get_idx(target, 0);
        }
        if (value)
                json_object_object_add(target, key, value);
        else
                json_object_object_del(target, key);

        assert_int_equal(vm_record_from_json(o, &parsed, &bad), want_r);
        assert_null(parsed);
        assert_string_equal(bad, want_field);
}

static void test_parse_errors(void **state) {
        check_parse_error(NULL, "id", NULL, -ENXIO, "id");
        check_parse_error(NULL, "createdAt", NULL, -ENXIO, "createdAt");
        check_parse_error(NULL, "config", NULL, -ENXIO, "config");
        check_parse_error(NULL, "state", json_object_new_string("paused"), -EINVAL, "state");
        check_parse_error(NULL, "state", json_object_new_int(2), -EINVAL, "state");
        check_parse_error(NULL, "pid", json_object_new_int(0), -EADDRNOTAVAIL, "pid");
        check_parse_error(NULL, "createdAt", json_object_new_string("yesterday"), -EINVAL, "createdAt");
        check_parse_error(NULL, "firstBooted", json_object_new_string("yes"), -EINVAL, "firstBooted");
        check_parse_error(NULL, "snapshotIds", json_object_new_string(ID_B), -EINVAL, "snapshotIds");
        check_parse_error("config", "cpu", json_object_new_string("2"), -EINVAL, "config");
        check_parse_error("config", "memory", json_object_new_int(-1), -ERANGE, "config");
        check_parse_error("config", "cpu", NULL, -ENXIO, "config");
        check_parse_error("storageConfigs", "role", json_object_new_string("root"), -EINVAL,
                          "storageConfigs");
        check_parse_error("storageConfigs", "ro", json_object_new_boolean(1), -EADDRNOTAVAIL,
                          "storageConfigs");
        check_parse_error("storageConfigs", "path", NULL, -ENXIO, "storageConfigs");
        check_parse_error("networkConfigs", "backend", json_object_new_string("tap"), -EINVAL,
                          "networkConfigs");
        check_parse_error("networkConfigs", "network", json_object_new_string("dhcp"), -EINVAL,
                          "networkConfigs");
        check_parse_error("bootConfig", "kernel", json_object_new_string("/k"), -EADDRNOTAVAIL,
                          "bootConfig");
}

/* ---- validation ---- */

static void check_config(const VMConfig *c, bool valid, const char *want_field) {
        const char *field = NULL;
        _cleanup_free_ char *message = NULL;
        int r = vm_config_validate(c, NULL, &field, &message);

        if (valid) {
                if (r != 0)
                        fail_msg("unexpectedly invalid: %s: %s", field, message);
                assert_null(field);
                assert_null(message);
                return;
        }
        assert_int_equal(r, -EINVAL);
        assert_string_equal(field, want_field);
        assert_non_null(message);
        assert_true(strlen(message) > 0);
}

/* What the host can give: memory up to its RAM, storage up to the free space; both fields named. */
static void test_validate_vm_config_host(void **state) {
        VMHostLimits limits = { .memory_max = UINT64_C(2) << 30, .storage_max = UINT64_C(10) << 30 };
        VMConfig c = {
                .name = "big",
                .config = {.cpu = 1, .memory = UINT64_C(2) << 30, .storage = UINT64_C(10) << 30},
        };
        const char *field = NULL;
        _cleanup_free_ char *message = NULL;

        assert_int_equal(vm_config_validate(&c, &limits, &field, &message), 0);
        c.config.memory += UINT64_C(1) << 20;
        assert_int_equal(vm_config_validate(&c, &limits, &field, &message), -EINVAL);
        assert_string_equal(field, "memory");
        assert_non_null(strstr(message, "2048 MiB"));
        message = mfree(message);
        c.config.memory = UINT64_C(1) << 30;
        c.config.storage += UINT64_C(1) << 20;
        assert_int_equal(vm_config_validate(&c, &limits, &field, &message), -EINVAL);
        assert_string_equal(field, "storage");
        message = mfree(message);
        /* 0: no bound (unknown) */
        limits = (VMHostLimits){};
        assert_int_equal(vm_config_validate(&c, &limits, &field, &message), 0);
}

static void test_validate_vm_config(void **state) {
        char name63[64], name64[65];
        VMConfig c = {
                .name = "web-1",
                .config = {.cpu = 1, .memory = VM_MEMORY_MIN},
        };

        check_config(&c, true, NULL);

        /* name */
        memset(name63, 'a', 63);
        name63[63] = '\0';
        memset(name64, 'a', 64);
        name64[64] = '\0';
        const char *good_names[] = {"a", "A", "0", "web_1.prod-2", name63, ID_A};
        const char *bad_names[] = {"", "-a", ".a", "_a", "a b", "a/b", "a:b", "ä", name64};
        for (size_t i = 0; i < ELEMENTSOF(good_names); i++) {
                c.name = (char *) good_names[i];
                check_config(&c, true, NULL);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad_names); i++) {
                c.name = (char *) bad_names[i];
                check_config(&c, false, "name");
        }
        c.name = NULL;
        check_config(&c, false, "name");
        c.name = "web-1";

        /* cpu */
        c.config.cpu = 0;
        check_config(&c, false, "cpu");
        c.config.cpu = VM_CPU_MAX + 1;
        check_config(&c, false, "cpu");
        c.config.cpu = VM_CPU_MAX;
        check_config(&c, true, NULL);
        c.config.cpu = 1;

        /* memory: the floor is for typos, not for sizing */
        c.config.memory = VM_MEMORY_MIN - 1;
        check_config(&c, false, "memory");
        c.config.memory = 64;
        check_config(&c, false, "memory");
        c.config.memory = VM_MEMORY_MIN;
        check_config(&c, true, NULL);
        /* whole MiB only: QEMU would round down silently */
        c.config.memory = VM_MEMORY_MIN + 4096;
        check_config(&c, false, "memory");
        c.config.memory = VM_MEMORY_MIN;

        /* storage: 0 (no COW disk) or at least the minimum */
        c.config.storage = 0;
        check_config(&c, true, NULL);
        c.config.storage = VM_STORAGE_MIN - 1;
        check_config(&c, false, "storage");
        c.config.storage = VM_STORAGE_MIN;
        check_config(&c, true, NULL);

        /* queue sizes: 0 or a power of two within the virtio limit */
        c.config.queue_size = 3;
        check_config(&c, false, "queueSize");
        c.config.queue_size = 65536;
        check_config(&c, false, "queueSize");
        c.config.queue_size = 1024;
        check_config(&c, true, NULL);
        c.config.disk_queue_size = 1;
        check_config(&c, false, "diskQueueSize");
        c.config.disk_queue_size = 32768;
        check_config(&c, true, NULL);

        /* image type */
        c.config.image_type = "docker";
        check_config(&c, false, "imageType");
        c.config.image_type = "cloudimg";
        check_config(&c, true, NULL);

        /* user and password */
        c.user = "Root";
        check_config(&c, false, "user");
        c.user = "1user";
        check_config(&c, false, "user");
        c.user = "_svc-user9";
        check_config(&c, true, NULL);
        c.password = "line\nbreak";
        check_config(&c, false, "password");
        c.password = "p$ss`w;rd|&(){}\\<>!";
        check_config(&c, true, NULL);
}

/* Validates the disks of a fresh full record after mutate(); expects valid or the storageConfigs field. */
static void check_storage(void (*mutate)(VMRecord *r), bool valid) {
        _cleanup_(vm_record_freep) VMRecord *r = make_record();
        _cleanup_free_ char *message = NULL;
        const char *field = NULL;

        mutate(r);
        int k = storage_configs_validate(r->vm.storage_configs, r->vm.n_storage_configs, &field, &message);
        if (valid) {
                if (k != 0)
                        fail_msg("unexpectedly invalid: %s", message);
                return;
        }
        assert_int_equal(k, -EINVAL);
        assert_string_equal(field, "storageConfigs");
        assert_non_null(message);
}

#define DISK(i) (r->vm.storage_configs[i]) /* 0,1 layer; 2 cow; 3 cidata; 4 data ext4; 5 data none */

static void replace(char **s, const char *v) {
        free(*s);
        *s = v ? xstrdup(v) : NULL;
}

static void st_nothing(VMRecord *r) {
}
static void st_layer_rw(VMRecord *r) {
        DISK(0).read_only = false;
}
static void st_cidata_rw(VMRecord *r) {
        DISK(3).read_only = false;
}
static void st_cow_ro(VMRecord *r) {
        DISK(2).read_only = true;
}
static void st_data_ro(VMRecord *r) {
        DISK(4).read_only = true;
}
static void st_bad_role(VMRecord *r) {
        DISK(4).role = _STORAGE_ROLE_MAX;
}
static void st_layer_serial_zero_padded(VMRecord *r) {
        replace(&DISK(1).serial, "cocoon-layer01");
}
static void st_layer_serial_12(VMRecord *r) {
        replace(&DISK(1).serial, "cocoon-layer12");
}
static void st_layer_serial_word(VMRecord *r) {
        replace(&DISK(1).serial, "cocoon-layerx");
}
static void st_cow_serial(VMRecord *r) {
        replace(&DISK(2).serial, "cow");
}
static void st_data_serial_reserved(VMRecord *r) {
        replace(&DISK(4).serial, "cocoon-logs");
}
static void st_data_serial_upper(VMRecord *r) {
        replace(&DISK(4).serial, "Logs");
}
static void st_data_serial_21(VMRecord *r) {
        replace(&DISK(4).serial, "abcdefghijklmnopqrstu");
}
static void st_data_serial_20(VMRecord *r) {
        replace(&DISK(4).serial, "abcdefghij_klmnop-st");
}
static void st_data_serial_empty(VMRecord *r) {
        replace(&DISK(4).serial, NULL);
}
static void st_cidata_serial_comma(VMRecord *r) {
        replace(&DISK(3).serial, "ci,data");
}
static void st_cidata_serial_none(VMRecord *r) {
        replace(&DISK(3).serial, NULL);
}
static void st_direct_io_on_layer(VMRecord *r) {
        DISK(0).direct_io = 0;
}
static void st_fs_type_on_cow(VMRecord *r) {
        replace(&DISK(2).fs_type, "ext4");
}
static void st_mount_on_cidata(VMRecord *r) {
        replace(&DISK(3).mount_point, "/mnt");
}
static void st_fs_xfs(VMRecord *r) {
        replace(&DISK(4).fs_type, "xfs");
}
static void st_fs_missing(VMRecord *r) {
        replace(&DISK(4).fs_type, NULL);
}
static void st_none_with_mount(VMRecord *r) {
        replace(&DISK(5).mount_point, "/mnt/raw");
}
static void st_none_empty_mount(VMRecord *r) {
        replace(&DISK(5).mount_point, "");
}
static void st_mount_relative(VMRecord *r) {
        replace(&DISK(4).mount_point, "mnt/logs");
}
static void st_mount_newline(VMRecord *r) {
        replace(&DISK(4).mount_point, "/mnt/lo\ngs");
}
static void st_path_relative(VMRecord *r) {
        replace(&DISK(2).path, "cow.raw");
}
static void st_path_missing(VMRecord *r) {
        replace(&DISK(2).path, NULL);
}
static void st_two_cows(VMRecord *r) {
        DISK(4).role = STORAGE_ROLE_COW;
        replace(&DISK(4).serial, "cocoon-cow");
        replace(&DISK(4).fs_type, NULL);
        replace(&DISK(4).mount_point, NULL);
        DISK(4).direct_io = -1;
}
static void st_two_cidata(VMRecord *r) {
        DISK(1).role = STORAGE_ROLE_CIDATA;
        replace(&DISK(1).serial, "seed2");
}
static void st_duplicate_serial(VMRecord *r) {
        replace(&DISK(1).serial, "cocoon-layer0");
}
static void st_duplicate_data_serial(VMRecord *r) {
        replace(&DISK(5).serial, "logs");
}

static void test_validate_storage(void **state) {
        const struct {
                void (*mutate)(VMRecord *r);
                bool valid;
        } cases[] = {
                {st_nothing, true},
                {st_layer_rw, false},
                {st_cidata_rw, false},
                {st_cow_ro, false},
                {st_data_ro, false},
                {st_bad_role, false},
                {st_layer_serial_zero_padded, false},
                {st_layer_serial_12, true},
                {st_layer_serial_word, false},
                {st_cow_serial, false},
                {st_data_serial_reserved, false},
                {st_data_serial_upper, false},
                {st_data_serial_21, false},
                {st_data_serial_20, true},
                {st_data_serial_empty, false},
                {st_cidata_serial_comma, false},
                {st_cidata_serial_none, true},
                {st_direct_io_on_layer, false},
                {st_fs_type_on_cow, false},
                {st_mount_on_cidata, false},
                {st_fs_xfs, false},
                {st_fs_missing, false},
                {st_none_with_mount, false},
                {st_none_empty_mount, true},
                {st_mount_relative, false},
                {st_mount_newline, false},
                {st_path_relative, false},
                {st_path_missing, false},
                {st_two_cows, false},
                {st_two_cidata, false},
                {st_duplicate_serial, false},
                {st_duplicate_data_serial, false},
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                print_message("storage case %zu\n", i);
                check_storage(cases[i].mutate, cases[i].valid);
        }
        /* No disks at all is fine (kernel + initramfs guests). */
        assert_int_equal(storage_configs_validate(NULL, 0, NULL, NULL), 0);
}

static void check_network(void (*mutate)(NetworkConfig *n), bool valid) {
        _cleanup_(vm_record_freep) VMRecord *r = make_record();
        _cleanup_free_ char *message = NULL;
        const char *field = NULL;

        mutate(r->vm.network_configs);
        int k = network_configs_validate(r->vm.network_configs, r->vm.n_network_configs, &field, &message);
        if (valid) {
                if (k != 0)
                        fail_msg("unexpectedly invalid: %s", message);
                return;
        }
        assert_int_equal(k, -EINVAL);
        assert_string_equal(field, "networkConfigs");
        assert_non_null(message);
}

static void nw_nothing(NetworkConfig *n) {
}
static void nw_tap_long(NetworkConfig *n) {
        replace(&n[0].tap, "tap0123456789abc"); /* 16 */
}
static void nw_tap_15(NetworkConfig *n) {
        replace(&n[0].tap, "tap0123456789ab");
}
static void nw_tap_slash(NetworkConfig *n) {
        replace(&n[0].tap, "tap/0");
}
static void nw_tap_missing(NetworkConfig *n) {
        replace(&n[0].tap, NULL);
}
static void nw_tap_duplicate(NetworkConfig *n) {
        replace(&n[1].tap, "tapabcdefgh-0");
}
static void nw_mac_bad(NetworkConfig *n) {
        replace(&n[0].mac, "02:ab:cd:ef:00");
}
static void nw_mac_sep(NetworkConfig *n) {
        replace(&n[0].mac, "02-ab-cd-ef-00-01");
}
static void nw_mac_upper(NetworkConfig *n) {
        replace(&n[0].mac, "02:AB:CD:EF:00:01");
}
static void nw_queues_odd(NetworkConfig *n) {
        n[0].num_queues = 3;
}
static void nw_queue_size(NetworkConfig *n) {
        n[0].queue_size = 500;
}
static void nw_bridge_without_dev(NetworkConfig *n) {
        replace(&n[1].bridge_dev, NULL);
}
static void nw_cni_with_dev(NetworkConfig *n) {
        replace(&n[0].bridge_dev, "br0");
}
static void nw_bad_backend(NetworkConfig *n) {
        n[0].backend = _NETWORK_BACKEND_MAX;
}
static void nw_netns_relative(NetworkConfig *n) {
        replace(&n[0].netns_path, "netns");
}
static void nw_ip_bad(NetworkConfig *n) {
        replace(&n[0].address->ip, "10.22.0.256");
}
static void nw_ip_v6(NetworkConfig *n) {
        replace(&n[0].address->ip, "fd00::1");
}
static void nw_prefix_33(NetworkConfig *n) {
        n[0].address->prefix = 33;
}
static void nw_prefix_32(NetworkConfig *n) {
        n[0].address->prefix = 32;
}
static void nw_gateway_bad(NetworkConfig *n) {
        replace(&n[0].address->gateway, "gw");
}
static void nw_gateway_none(NetworkConfig *n) {
        replace(&n[0].address->gateway, NULL);
}
static void nw_dns_v6(NetworkConfig *n) {
        (void) strv_extend(&n[0].address->dns, "fd00::53");
}
static void nw_dns_two(NetworkConfig *n) {
        (void) strv_extend(&n[0].address->dns, "1.1.1.1");
}

static void test_validate_network(void **state) {
        const struct {
                void (*mutate)(NetworkConfig *n);
                bool valid;
        } cases[] = {
                {nw_nothing, true},       {nw_tap_long, false},    {nw_tap_15, true},
                {nw_tap_slash, false},    {nw_tap_missing, false}, {nw_tap_duplicate, false},
                {nw_mac_bad, false},      {nw_mac_sep, false},     {nw_mac_upper, true},
                {nw_queues_odd, false},   {nw_queue_size, false},  {nw_bridge_without_dev, false},
                {nw_cni_with_dev, false}, {nw_bad_backend, false}, {nw_netns_relative, false},
                {nw_ip_bad, false},       {nw_ip_v6, false},       {nw_prefix_33, false},
                {nw_prefix_32, true},     {nw_gateway_bad, false}, {nw_gateway_none, true},
                {nw_dns_v6, false},       {nw_dns_two, true},
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                print_message("network case %zu\n", i);
                check_network(cases[i].mutate, cases[i].valid);
        }
}

static void test_validate_boot(void **state) {
        const char *field = NULL;
        BootConfig b = {.kernel_path = "/k", .initrd_path = "/i", .cmdline = "console=ttyS0 quiet"};

        assert_int_equal(boot_config_validate(&b, &field, NULL), 0);
        assert_int_equal(boot_config_validate(NULL, &field, NULL), 0);
        assert_null(field);

        b.kernel_path = "k";
        assert_int_equal(boot_config_validate(&b, &field, NULL), -EINVAL);
        assert_string_equal(field, "bootConfig");
        b.kernel_path = NULL;
        assert_int_equal(boot_config_validate(&b, NULL, NULL), -EINVAL); /* initrd without kernel */
        b = (BootConfig){.firmware_path = "/usr/share/OVMF/OVMF_CODE.fd"};
        assert_int_equal(boot_config_validate(&b, NULL, NULL), 0);
        b.cmdline = "console=ttyS0";
        assert_int_equal(boot_config_validate(&b, NULL, NULL), -EINVAL); /* cmdline without kernel */
        b = (BootConfig){.kernel_path = "/k", .cmdline = "a\nb"};
        assert_int_equal(boot_config_validate(&b, NULL, NULL), -EINVAL);
        b = (BootConfig){.kernel_path = "/k", .initrd_path = "i"};
        assert_int_equal(boot_config_validate(&b, NULL, NULL), -EINVAL);
}

static void check_record(VMRecord *r, bool valid, const char *want_field) {
        _cleanup_free_ char *message = NULL;
        const char *field = NULL;
        int k = vm_record_validate(r, &field, &message);

        if (valid) {
                if (k != 0)
                        fail_msg("unexpectedly invalid: %s: %s", field, message);
                return;
        }
        assert_int_equal(k, -EINVAL);
        assert_string_equal(field, want_field);
        assert_non_null(message);
}

static void test_validate_record(void **state) {
        _cleanup_(vm_record_freep) VMRecord *r = make_record(), *m = make_minimal_record();

        check_record(r, true, NULL);
        check_record(m, true, NULL);

        /* Create-time limits do not apply to stored records: a later, stricter limit must not make a VM
         * unreadable. Structure still does. */
        m->vm.config.memory = 1 << 20;
        m->vm.config.cpu = 1000;
        check_record(m, true, NULL);
        m->vm.config.memory = 0;
        check_record(m, false, "memory");
        m->vm.config.memory = 1 << 20;
        m->vm.config.cpu = 0;
        check_record(m, false, "cpu");
        m->vm.config.cpu = 1;

        replace(&m->vm.id, "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
        check_record(m, false, "id");
        replace(&m->vm.id, ID_B);
        replace(&m->vm.name, "no spaces");
        check_record(m, false, "name");
        replace(&m->vm.name, "m");
        /* A backend this build lacks still loads (rm must work); a malformed name does not. */
        replace(&m->vm.backend, "kvmtool");
        check_record(m, true, NULL);
        replace(&m->vm.backend, "Kvm Tool");
        check_record(m, false, "backend");
        replace(&m->vm.backend, NULL);
        check_record(m, false, "backend");
        replace(&m->vm.backend, "cloud-hypervisor");
        m->vm.state = _VM_STATE_MAX;
        check_record(m, false, "state");
        m->vm.state = VM_STATE_ERROR;
        m->vm.created_at = 0;
        check_record(m, false, "createdAt");
        m->vm.created_at = 1;
        m->vm.updated_at = 0;
        check_record(m, false, "updatedAt");
        m->vm.updated_at = 1;
        check_record(m, true, NULL);

        assert_int_equal(strv_extend(&m->vm.snapshot_ids, "not-an-id"), 0);
        check_record(m, false, "snapshotIds");
        m->vm.snapshot_ids = strv_free(m->vm.snapshot_ids);
        assert_int_equal(strv_extend(&m->vm.snapshot_ids, ID_A), 0);
        assert_int_equal(strv_extend(&m->vm.snapshot_ids, ID_A), 0);
        check_record(m, false, "snapshotIds");
        m->vm.snapshot_ids = strv_free(m->vm.snapshot_ids);

        assert_int_equal(strv_extend(&m->image_blob_ids, "../etc"), 0);
        check_record(m, false, "imageBlobIds");
        m->image_blob_ids = strv_free(m->image_blob_ids);
        assert_int_equal(strv_extend(&m->image_blob_ids, "abc"), 0);
        assert_int_equal(strv_extend(&m->image_blob_ids, "abc"), 0);
        check_record(m, false, "imageBlobIds");
        m->image_blob_ids = strv_free(m->image_blob_ids);

        replace(&m->run_dir, "run/x");
        check_record(m, false, "runDir");
        replace(&m->run_dir, "/run/x");
        replace(&m->log_dir, "log");
        check_record(m, false, "logDir");
        replace(&m->log_dir, NULL);
        replace(&m->unit, "cocoon-vm@x.scope");
        check_record(m, false, "unit");
        replace(&m->unit, "a/b.service");
        check_record(m, false, "unit");
        replace(&m->unit, "cocoon-vm@" ID_B ".service");
        check_record(m, true, NULL);

        /* Nested rules are applied too, with their own field names. */
        r->vm.storage_configs[0].read_only = false;
        check_record(r, false, "storageConfigs");
        r->vm.storage_configs[0].read_only = true;
        r->vm.network_configs[0].address->prefix = 40;
        check_record(r, false, "networkConfigs");
        r->vm.network_configs[0].address->prefix = 16;
        replace(&r->boot_config->kernel_path, NULL);
        check_record(r, false, "bootConfig");
}

static void test_snapshot_id_set(void **state) {
        _cleanup_(vm_record_freep) VMRecord *r = make_minimal_record();

        assert_int_equal(vm_add_snapshot_id(&r->vm, ID_A), 1);
        assert_int_equal(vm_add_snapshot_id(&r->vm, ID_A), 0);
        assert_int_equal(vm_add_snapshot_id(&r->vm, ID_B), 1);
        assert_int_equal(strv_length(r->vm.snapshot_ids), 2);
        assert_int_equal(vm_remove_snapshot_id(&r->vm, ID_A), 1);
        assert_int_equal(vm_remove_snapshot_id(&r->vm, ID_A), 0);
        assert_int_equal(strv_length(r->vm.snapshot_ids), 1);
        assert_string_equal(r->vm.snapshot_ids[0], ID_B);
}

static void test_snapshot_config_json(void **state) {
        _cleanup_(snapshot_config_freep) SnapshotConfig *s = calloc(1, sizeof(SnapshotConfig)),
                                                        *parsed = NULL, *copy = NULL;
        _cleanup_(json_object_putp) json_object *o = NULL, *o2 = NULL, *bad = NULL;
        _cleanup_free_ char *text = NULL;
        const char *field = NULL;

        assert_non_null(s);
        s->id = xstrdup(ID_A);
        s->name = xstrdup("before-upgrade");
        s->backend = xstrdup("qemu");
        s->nics = 2;
        s->created_at = T1;
        s->config = (Config){.cpu = 4, .memory = 2 * GIB, .storage = 10 * GIB, .image = xstrdup("ubuntu")};
        assert_int_equal(strv_extend(&s->image_blob_ids, "aaa"), 0);

        assert_int_equal(snapshot_config_to_json(s, &o), 0);
        text = xstrdup(json_to_string(o));
        assert_non_null(strstr(text, "\"config\":{\"cpu\":4"));
        assert_null(strstr(text, "description"));
        assert_int_equal(snapshot_config_from_json(o, &parsed, NULL), 0);
        assert_string_equal(parsed->name, "before-upgrade");
        assert_int_equal(parsed->nics, 2);
        assert_true(parsed->created_at == T1);
        assert_true(config_equal(&parsed->config, &s->config));
        assert_true(strv_equal(parsed->image_blob_ids, s->image_blob_ids));

        assert_int_equal(snapshot_config_copy(parsed, &copy), 0);
        assert_int_equal(snapshot_config_to_json(copy, &o2), 0);
        assert_string_equal(json_to_string(o2), text);

        bad = json_object_new_object();
        assert_int_equal(snapshot_config_from_json(bad, &parsed, &field), -ENXIO);
        assert_string_equal(field, "config");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_enums),
                cmocka_unit_test(test_json_round_trip),
                cmocka_unit_test(test_public_json),
                cmocka_unit_test(test_summary_json_ip),
                cmocka_unit_test(test_copy_and_equal),
                cmocka_unit_test(test_parse_errors),
                cmocka_unit_test(test_validate_vm_config),
                cmocka_unit_test(test_validate_vm_config_host),
                cmocka_unit_test(test_validate_storage),
                cmocka_unit_test(test_validate_network),
                cmocka_unit_test(test_validate_boot),
                cmocka_unit_test(test_validate_record),
                cmocka_unit_test(test_snapshot_id_set),
                cmocka_unit_test(test_snapshot_config_json),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
