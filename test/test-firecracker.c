/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for the Firecracker backend: its command line, the kernel command line, and the configuration
 * calls in the spec's order with their bodies. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "firecracker.h"
#include "helpers.h"
#include "hypervisor.h"
#include "json-util.h"
#include "strv-util.h"

#define ID "abcdefghijklmnopqrstuvwxyz"

static VMRecord *new_record(size_t n_disks, size_t n_nics) {
        VMRecord *r;
        assert_int_equal(vm_record_new(&r), 0);
        r->vm.id = strdup(ID);
        r->vm.name = strdup("web");
        r->vm.backend = strdup("firecracker");
        r->vm.config.cpu = 2;
        r->vm.config.memory = 512ULL << 20;
        r->run_dir = strdup("/run/cocoon/vms/" ID);
        r->log_dir = strdup("/var/log/cocoon/vms/" ID);
        r->boot_config = calloc(1, sizeof(BootConfig));
        r->boot_config->kernel_path = strdup("/blobs/k.kernel.vmlinux");
        r->boot_config->initrd_path = strdup("/blobs/i.initrd");
        r->boot_config->cmdline = strdup("console=ttyS0 quiet");
        for (size_t i = 0; i < n_disks; i++) {
                char path[64];
                snprintf(path, sizeof(path), "/disks/%zu.raw", i);
                StorageConfig s = {.path = strdup(path),
                                   .read_only = i == 0,
                                   .role = STORAGE_ROLE_LAYER,
                                   .direct_io = -1};
                assert_int_equal(vm_add_storage_config(&r->vm, &s), 0);
        }
        for (size_t i = 0; i < n_nics; i++) {
                char tap[16], mac[32];
                snprintf(tap, sizeof(tap), "tap%zu", i);
                snprintf(mac, sizeof(mac), "02:00:00:00:00:%02zx", i);
                NetworkConfig n = {
                        .tap = strdup(tap), .mac = strdup(mac), .backend = NETWORK_BACKEND_BRIDGE};
                assert_int_equal(vm_add_network_config(&r->vm, &n), 0);
        }
        return r;
}

static void test_argv(void **state) {
        _cleanup_(vm_record_freep) VMRecord *r = new_record(1, 0);
        _cleanup_strv_free_ char **argv = NULL;
        HypervisorLaunch l = {.binary = "/usr/bin/firecracker", .accel = ACCEL_KVM};

        assert_int_equal(firecracker_build_argv(r, &l, &argv), 0);
        assert_int_equal(strv_length(argv), 5);
        assert_string_equal(argv[0], "/usr/bin/firecracker");
        assert_string_equal(argv[1], "--api-sock");
        assert_string_equal(argv[2], "/run/cocoon/vms/" ID "/api.sock");
        assert_string_equal(argv[3], "--id");
        assert_string_equal(argv[4], ID);

        /* No kernel (a UEFI record): Firecracker has no firmware to boot. */
        _cleanup_strv_free_ char **none = NULL;
        r->boot_config->kernel_path = mfree(r->boot_config->kernel_path);
        assert_int_equal(firecracker_build_argv(r, &l, &none), -EOPNOTSUPP);
        assert_null(none);
}

static void test_boot_args(void **state) {
        _cleanup_(vm_record_freep) VMRecord *r = new_record(1, 0);
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;

        assert_int_equal(firecracker_boot_args(r, &a), 0);
        assert_string_equal(a, "console=ttyS0 quiet reboot=k pci=off");
        /* What the image says already is not said twice, nor overridden. */
        free(r->boot_config->cmdline);
        r->boot_config->cmdline = strdup("reboot=t pci=on console=ttyS0");
        assert_int_equal(firecracker_boot_args(r, &b), 0);
        assert_string_equal(b, "reboot=t pci=on console=ttyS0");
        /* An empty command line gets no leading blank; "pcie" is not "pci". */
        free(r->boot_config->cmdline);
        r->boot_config->cmdline = strdup("");
        assert_int_equal(firecracker_boot_args(r, &c), 0);
        assert_string_equal(c, "reboot=k pci=off");
}

static void test_boot_args_nics(void **state) {
        _cleanup_(vm_record_freep) VMRecord *r = new_record(1, 2);
        _cleanup_free_ char *a = NULL;
        assert_int_equal(firecracker_boot_args(r, &a), 0);
        /* The guest contract: stable eth<i> names and the hostname; DHCP without addresses. */
        assert_string_equal(a, "console=ttyS0 quiet net.ifnames=0 cocoon.hostname=web reboot=k pci=off");
}

/* A VM of an OCI image: cocoon-behavior.md 5.1's command line, the disks by path in drive order (Firecracker
 * gives them no serial), reboot=k and pci=off not repeated, the NICs' parameters after it. */
static void test_boot_args_oci(void **state) {
        _cleanup_(vm_record_freep) VMRecord *r = new_record(0, 1);
        _cleanup_free_ char *a = NULL;

        for (size_t i = 0; i < 4; i++) {
                char serial[32];
                snprintf(serial, sizeof(serial), "cocoon-layer%zu", i);
                StorageConfig s = { .path = strdup(i < 3 ? "/blobs/l.erofs" : "/vms/x/cow.raw"),
                                    .read_only = i < 3,
                                    .serial = strdup(i < 3 ? serial : "cocoon-cow"),
                                    .role = i < 3 ? STORAGE_ROLE_LAYER : STORAGE_ROLE_COW, .direct_io = -1 };
                assert_int_equal(vm_add_storage_config(&r->vm, &s), 0);
        }
        free(r->boot_config->cmdline);
        assert_int_equal(build_overlay_cmdline(hypervisor_firecracker.overlay_cmdline_head,
                                               hypervisor_firecracker.disks_by_path, r->vm.storage_configs,
                                               r->vm.n_storage_configs, NULL, &r->boot_config->cmdline),
                         0);
        assert_int_equal(firecracker_boot_args(r, &a), 0);
        assert_string_equal(a, "console=ttyS0 reboot=k loglevel=3 pci=off i8042.noaux 8250.nr_uarts=1 "
                               "boot=cocoon-overlay cocoon.layers=/dev/vdc,/dev/vdb,/dev/vda "
                               "cocoon.cow=/dev/vdd clocksource=kvm-clock rw net.ifnames=0 "
                               "cocoon.hostname=web");
}

static char *call(const VMRecord *r, size_t i, char **ret_body) {
        char *path = NULL;
        _cleanup_(json_object_putp) json_object *body = NULL;
        assert_int_equal(firecracker_config_call(r, i, &path, &body), 0);
        *ret_body = strdup(json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN));
        return path;
}

/* The order: /boot-source, every drive (drive_<i> is the guest's i-th virtio disk: vda, vdb, ...),
 * /machine-config, every NIC (eth<i>), then nothing. */
static void test_config_calls(void **state) {
        _cleanup_(vm_record_freep) VMRecord *r = new_record(3, 2);
        static const char *const paths[] = {
                "/boot-source",    "/drives/drive_0",          "/drives/drive_1",          "/drives/drive_2",
                "/machine-config", "/network-interfaces/eth0", "/network-interfaces/eth1",
        };
        static const char *const bodies[] = {
                "{\"kernel_image_path\":\"\\/blobs\\/k.kernel.vmlinux\",\"boot_args\":\"console=ttyS0 quiet "
                "net.ifnames=0 cocoon.hostname=web reboot=k "
                "pci=off\",\"initrd_path\":\"\\/blobs\\/i.initrd\"}",
                "{\"drive_id\":\"drive_0\",\"path_on_host\":\"\\/disks\\/0.raw\",\"is_root_device\":false,"
                "\"is_read_only\":true}",
                "{\"drive_id\":\"drive_1\",\"path_on_host\":\"\\/disks\\/1.raw\",\"is_root_device\":false,"
                "\"is_read_only\":false}",
                "{\"drive_id\":\"drive_2\",\"path_on_host\":\"\\/disks\\/2.raw\",\"is_root_device\":false,"
                "\"is_read_only\":false}",
                "{\"vcpu_count\":2,\"mem_size_mib\":512}",
                "{\"iface_id\":\"eth0\",\"host_dev_name\":\"tap0\",\"guest_mac\":\"02:00:00:00:00:00\"}",
                "{\"iface_id\":\"eth1\",\"host_dev_name\":\"tap1\",\"guest_mac\":\"02:00:00:00:00:01\"}",
        };
        for (size_t i = 0; i < ELEMENTSOF(paths); i++) {
                _cleanup_free_ char *body = NULL, *path = call(r, i, &body);
                assert_string_equal(path, paths[i]);
                assert_string_equal(body, bodies[i]);
        }
        char *path = NULL;
        json_object *body = NULL;
        assert_int_equal(firecracker_config_call(r, ELEMENTSOF(paths), &path, &body), -ENOENT);
        assert_null(path);
        assert_null(body);
}

static void test_config_no_initrd_no_disks(void **state) {
        _cleanup_(vm_record_freep) VMRecord *r = new_record(0, 0);
        r->boot_config->initrd_path = mfree(r->boot_config->initrd_path);
        _cleanup_free_ char *b0 = NULL, *b1 = NULL, *p0 = call(r, 0, &b0), *p1 = call(r, 1, &b1);
        assert_string_equal(p0, "/boot-source");
        assert_null(strstr(b0, "initrd_path"));
        assert_string_equal(p1, "/machine-config");
        char *path = NULL;
        json_object *body = NULL;
        assert_int_equal(firecracker_config_call(r, 2, &path, &body), -ENOENT);
}

/* /snapshot/load: the state and a File memory backend; a VM with NICs has them on its own TAPs
 * (network_overrides, firecracker.yaml's NetworkOverride), one without sends none. */
static void test_load_body(void **state) {
        _cleanup_(vm_record_freep) VMRecord *with = new_record(1, 2), *without = new_record(1, 0);
        _cleanup_(json_object_putp) json_object *a = NULL, *b = NULL, *c = NULL;

        assert_int_equal(firecracker_load_body(with, "/run/x/vmstate", "/run/x/mem", &a), 0);
        assert_string_equal(json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN),
                            "{\"mem_backend\":{\"backend_type\":\"File\","
                            "\"backend_path\":\"\\/run\\/x\\/mem\"},"
                            "\"snapshot_path\":\"\\/run\\/x\\/vmstate\",\"network_overrides\":["
                            "{\"iface_id\":\"eth0\",\"host_dev_name\":\"tap0\"},"
                            "{\"iface_id\":\"eth1\",\"host_dev_name\":\"tap1\"}]}");
        assert_int_equal(firecracker_load_body(without, "/s", "/m", &b), 0);
        assert_null(strstr(json_object_to_json_string(b), "network_overrides"));
        assert_int_equal(firecracker_load_body(NULL, "/s", "/m", &c), 0);
}

static void test_table_entry(void **state) {
        assert_ptr_equal(hypervisor_find("firecracker"), &hypervisor_firecracker);
        assert_string_equal(hypervisor_firecracker.default_binary, "firecracker");
        /* Its console is its stdio, its kernel must be ELF, and it is configured over its API. */
        assert_true(hypervisor_firecracker.serial_on_stdio);
        assert_true(hypervisor_firecracker.elf_kernel);
        assert_null(hypervisor_firecracker.query_console);
        assert_non_null(hypervisor_firecracker.configure);
        assert_non_null(hypervisor_firecracker.request_shutdown);
        /* No emulation: KVM whatever Accel= says, and tcg refused at create. */
        assert_true(hypervisor_firecracker.kvm_only);
        /* QEMU is the other way round. */
        assert_false(hypervisor_qemu.serial_on_stdio);
        assert_null(hypervisor_qemu.configure);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_argv),
                cmocka_unit_test(test_boot_args),
                cmocka_unit_test(test_boot_args_nics),
                cmocka_unit_test(test_boot_args_oci),
                cmocka_unit_test(test_config_calls),
                cmocka_unit_test(test_config_no_initrd_no_disks),
                cmocka_unit_test(test_load_body),
                cmocka_unit_test(test_table_entry),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
