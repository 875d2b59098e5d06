/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for the QEMU backend's command line and the backend table. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hypervisor.h"
#include "qemu.h"
#include "strv-util.h"

static VMRecord *new_record(bool with_disks) {
        VMRecord *r;
        assert_int_equal(vm_record_new(&r), 0);
        r->vm.id = strdup("abcdefghijklmnopqrstuvwxyz");
        r->vm.name = strdup("web");
        r->vm.backend = strdup("qemu");
        r->vm.config.cpu = 2;
        r->vm.config.memory = 256ULL << 20;
        r->run_dir = strdup("/run/cocoon/vms/abcdefghijklmnopqrstuvwxyz");
        r->log_dir = strdup("/var/log/cocoon/vms/abcdefghijklmnopqrstuvwxyz");
        r->boot_config = calloc(1, sizeof(BootConfig));
        r->boot_config->kernel_path = strdup("/blobs/k.kernel");
        r->boot_config->initrd_path = strdup("/blobs/i.initrd");
        r->boot_config->cmdline = strdup("console=ttyS0 cocoon.layers=cocoon-layer0");
        if (with_disks) {
                StorageConfig layer = { .path = strdup("/blobs/r.rootfs"), .read_only = true,
                                        .serial = strdup("cocoon-layer0"), .role = STORAGE_ROLE_LAYER, .direct_io = -1 };
                StorageConfig cow = { .path = strdup("/vms/x/cow.raw"), .serial = strdup("cocoon-cow"),
                                      .role = STORAGE_ROLE_COW, .direct_io = -1 };
                assert_int_equal(vm_add_storage_config(&r->vm, &layer), 0);
                assert_int_equal(vm_add_storage_config(&r->vm, &cow), 0);
        }
        return r;
}

/* The argument right after `option`, or NULL. */
static const char *arg_after(char **argv, const char *option) {
        for (size_t i = 0; argv[i]; i++)
                if (streq(argv[i], option))
                        return argv[i + 1];
        return NULL;
}

static void test_argv_tcg(void **state) {
        _cleanup_(vm_record_freep) VMRecord *r = new_record(true);
        _cleanup_strv_free_ char **argv = NULL;
        HypervisorLaunch l = { .binary = "/usr/bin/qemu-system-x86_64", .accel = ACCEL_TCG, .tsc_khz = 2100000,
                               .start_paused = true };

        assert_int_equal(qemu_build_argv(r, &l, &argv), 0);
        assert_string_equal(argv[0], "/usr/bin/qemu-system-x86_64");
        assert_string_equal(arg_after(argv, "-M"), "microvm,accel=tcg");
        assert_string_equal(arg_after(argv, "-smp"), "2");
        assert_string_equal(arg_after(argv, "-m"), "256M");
        assert_string_equal(arg_after(argv, "-kernel"), "/blobs/k.kernel");
        assert_string_equal(arg_after(argv, "-initrd"), "/blobs/i.initrd");
        /* QEMU's own seccomp filter: no exec, no privilege or scheduling changes once it runs. */
        assert_string_equal(arg_after(argv, "-sandbox"),
                            "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
        /* microvm under TCG has nothing to calibrate the TSC against: the frequency goes on the cmdline. */
        assert_string_equal(arg_after(argv, "-append"),
                            "console=ttyS0 cocoon.layers=cocoon-layer0 tsc_early_khz=2100000");
        assert_null(arg_after(argv, "-cpu"));
        assert_true(strv_contains(argv, "-S"));
        assert_true(strv_contains(argv, "-nodefaults"));
        assert_true(strv_contains(argv, "-no-reboot"));
        assert_true(strv_contains(argv, "file=/blobs/r.rootfs,format=raw,if=none,id=disk0,readonly=on"));
        assert_true(strv_contains(argv, "virtio-blk-device,drive=disk0,serial=cocoon-layer0"));
        assert_true(strv_contains(argv, "file=/vms/x/cow.raw,format=raw,if=none,id=disk1,discard=unmap"));
        assert_true(strv_contains(argv, "virtio-blk-device,drive=disk1,serial=cocoon-cow"));
        assert_string_equal(arg_after(argv, "-qmp"),
                            "unix:/run/cocoon/vms/abcdefghijklmnopqrstuvwxyz/api.sock,server=on,wait=off");
        /* A pty, and QEMU's own record of everything the guest prints, manager or not. */
        assert_string_equal(arg_after(argv, "-chardev"),
                            "pty,id=console,logfile=/var/log/cocoon/vms/abcdefghijklmnopqrstuvwxyz/"
                            "console.spool,logappend=on");
        assert_string_equal(arg_after(argv, "-serial"), "chardev:console");
}

static void test_argv_kvm(void **state) {
        _cleanup_(vm_record_freep) VMRecord *r = new_record(false);
        _cleanup_strv_free_ char **argv = NULL;
        HypervisorLaunch l = { .binary = "/q", .accel = ACCEL_KVM, .tsc_khz = 2100000 };

        assert_int_equal(qemu_build_argv(r, &l, &argv), 0);
        assert_string_equal(arg_after(argv, "-M"), "microvm,accel=kvm");
        assert_string_equal(arg_after(argv, "-cpu"), "host");
        /* KVM gives the guest a TSC frequency of its own: nothing is added. */
        assert_string_equal(arg_after(argv, "-append"), "console=ttyS0 cocoon.layers=cocoon-layer0");
        assert_false(strv_contains(argv, "-S"));
        assert_null(arg_after(argv, "-drive"));
}

static void test_argv_refusals(void **state) {
        _cleanup_(vm_record_freep) VMRecord *r = new_record(false);
        _cleanup_strv_free_ char **argv = NULL;
        HypervisorLaunch l = { .binary = "/q", .accel = ACCEL_AUTO };

        /* auto must be resolved by the caller. */
        assert_int_equal(qemu_build_argv(r, &l, &argv), -EINVAL);
        l.accel = ACCEL_TCG;
        free(r->boot_config->cmdline);
        r->boot_config->cmdline = strdup("tsc_early_khz=1000");
        l.tsc_khz = 2100000;
        assert_int_equal(qemu_build_argv(r, &l, &argv), 0);
        assert_string_equal(arg_after(argv, "-append"), "tsc_early_khz=1000");
        argv = strv_free(argv);
        /* No kernel: UEFI boot, not on microvm. */
        free(r->boot_config->kernel_path);
        r->boot_config->kernel_path = NULL;
        assert_int_equal(qemu_build_argv(r, &l, &argv), -EOPNOTSUPP);
        /* A comma in the log directory would split QEMU's option syntax. */
        r->boot_config->kernel_path = strdup("/k");
        free(r->log_dir);
        r->log_dir = strdup("/var/log/a,b");
        assert_int_equal(qemu_build_argv(r, &l, &argv), -EINVAL);
}

static void add_bridge_nic(VMRecord *r, const char *tap, const char *mac) {
        NetworkConfig n = { .tap = strdup(tap), .mac = strdup(mac), .backend = NETWORK_BACKEND_BRIDGE,
                            .bridge_dev = strdup("br0") };
        assert_int_equal(vm_add_network_config(&r->vm, &n), 0);
}

/* The index of the first argv entry equal to s, or -1. */
static int arg_index(char **argv, const char *s) {
        for (int i = 0; argv[i]; i++)
                if (streq(argv[i], s))
                        return i;
        return -1;
}

static void test_argv_nics(void **state) {
        _cleanup_(vm_record_freep) VMRecord *r = new_record(false);
        _cleanup_strv_free_ char **argv = NULL, **kvm_argv = NULL, **none = NULL;
        HypervisorLaunch l = { .binary = "/usr/bin/qemu-system-x86_64", .accel = ACCEL_TCG };

        /* No NIC: no netdev, and no network parameters for the guest. */
        assert_int_equal(qemu_build_argv(r, &l, &none), 0);
        assert_null(arg_after(none, "-netdev"));
        assert_string_equal(arg_after(none, "-append"), "console=ttyS0 cocoon.layers=cocoon-layer0");

        add_bridge_nic(r, "cocoonabcdefgh0", "02:00:00:00:00:01");
        add_bridge_nic(r, "cocoonabcdefgh1", "02:00:00:00:00:02");
        assert_int_equal(qemu_build_argv(r, &l, &argv), 0);
        int i = arg_index(argv, "tap,id=net0,ifname=cocoonabcdefgh0,script=no,downscript=no");
        assert_true(i > 0);
        assert_string_equal(argv[i - 1], "-netdev");
        assert_string_equal(argv[i + 1], "-device");
        assert_string_equal(argv[i + 2], "virtio-net-device,netdev=net0,mac=02:00:00:00:00:01");
        assert_string_equal(argv[i + 4], "tap,id=net1,ifname=cocoonabcdefgh1,script=no,downscript=no");
        assert_string_equal(argv[i + 6], "virtio-net-device,netdev=net1,mac=02:00:00:00:00:02");
        /* Bridge NICs have no static address: the hostname only (the guest uses DHCP). */
        assert_string_equal(arg_after(argv, "-append"),
                            "console=ttyS0 cocoon.layers=cocoon-layer0 net.ifnames=0 cocoon.hostname=web");

        /* A static address becomes ip= in the 3.1 format; vhost-net when the caller says so (KVM). */
        NetworkAddress *a = calloc(1, sizeof(NetworkAddress));
        a->ip = strdup("10.0.0.2");
        a->gateway = strdup("10.0.0.1");
        a->prefix = 24;
        r->vm.network_configs[1].address = a;
        l.accel = ACCEL_KVM;
        l.vhost_net = true;
        assert_int_equal(qemu_build_argv(r, &l, &kvm_argv), 0);
        assert_true(arg_index(kvm_argv, "tap,id=net0,ifname=cocoonabcdefgh0,script=no,downscript=no,"
                                        "vhost=on") > 0);
        assert_string_equal(arg_after(kvm_argv, "-append"),
                            "console=ttyS0 cocoon.layers=cocoon-layer0 net.ifnames=0 cocoon.hostname=web"
                            " ip=10.0.0.2::10.0.0.1:255.255.255.0:web:eth1:off");

        /* A multiqueue NIC (numQueues counts rx and tx): a queue pair each, mq on the device. */
        _cleanup_strv_free_ char **mq_argv = NULL;
        r->vm.network_configs[0].num_queues = 4;
        assert_int_equal(qemu_build_argv(r, &l, &mq_argv), 0);
        assert_true(arg_index(mq_argv, "tap,id=net0,ifname=cocoonabcdefgh0,script=no,downscript=no,queues=2,"
                                       "vhost=on") > 0);
        assert_true(arg_index(mq_argv, "virtio-net-device,netdev=net0,mac=02:00:00:00:00:01,mq=on") > 0);

        /* A TAP name that would split QEMU's option syntax is refused. */
        _cleanup_strv_free_ char **bad = NULL;
        free(r->vm.network_configs[0].tap);
        r->vm.network_configs[0].tap = strdup("a,b");
        assert_int_equal(qemu_build_argv(r, &l, &bad), -EINVAL);
        assert_null(bad);
}

static void test_hypervisor_table(void **state) {
        assert_ptr_equal(hypervisor_find("qemu"), &hypervisor_qemu);
        assert_string_equal(hypervisor_qemu.default_binary, "qemu-system-x86_64");
        assert_null(hypervisor_find("firecracker"));
        /* The one list: every entry is found by its type, with a binary to look for. */
        assert_true(hypervisor_table_size >= 1);
        for (size_t i = 0; i < hypervisor_table_size; i++) {
                assert_ptr_equal(hypervisor_find(hypervisor_table[i]->type), hypervisor_table[i]);
                assert_non_null(hypervisor_table[i]->default_binary);
        }
        assert_null(hypervisor_find(NULL));
        assert_int_equal(accel_resolve(ACCEL_TCG), ACCEL_TCG);
        assert_int_equal(accel_resolve(ACCEL_KVM), ACCEL_KVM);
        Accel a = accel_resolve(ACCEL_AUTO);
        assert_true(a == ACCEL_KVM || a == ACCEL_TCG);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_argv_tcg),
                cmocka_unit_test(test_argv_kvm),
                cmocka_unit_test(test_argv_refusals),
                cmocka_unit_test(test_argv_nics),
                cmocka_unit_test(test_hypervisor_table),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
