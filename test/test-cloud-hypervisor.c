/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for the Cloud Hypervisor backend's command line: item formats, the whole argv, clones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cloud-hypervisor.h"
#include "helpers.h"
#include "hypervisor.h"
#include "json-util.h"
#include "macro.h"
#include "strv-util.h"

static VMRecord *new_record(bool with_disks) {
        VMRecord *r;
        assert_int_equal(vm_record_new(&r), 0);
        r->vm.id = strdup("abcdefghijklmnopqrstuvwxyz");
        r->vm.name = strdup("web");
        r->vm.backend = strdup("cloud-hypervisor");
        r->vm.config.cpu = 2;
        r->vm.config.memory = 1ULL << 30;
        r->run_dir = strdup("/run/cocoon/vms/abcdefghijklmnopqrstuvwxyz");
        r->log_dir = strdup("/var/log/cocoon/vms/abcdefghijklmnopqrstuvwxyz");
        r->boot_config = calloc(1, sizeof(BootConfig));
        r->boot_config->kernel_path = strdup("/blobs/k.kernel");
        r->boot_config->initrd_path = strdup("/blobs/i.initrd");
        r->boot_config->cmdline = strdup("console=ttyS0 cocoon.layers=cocoon-layer1,cocoon-layer0");
        if (with_disks) {
                StorageConfig layer = { .path = strdup("/blobs/r.erofs"), .read_only = true,
                                        .serial = strdup("cocoon-layer0"), .role = STORAGE_ROLE_LAYER,
                                        .direct_io = -1 };
                StorageConfig cow = { .path = strdup("/vms/x/cow.raw"), .serial = strdup("cocoon-cow"),
                                      .role = STORAGE_ROLE_COW, .direct_io = -1 };
                assert_int_equal(vm_add_storage_config(&r->vm, &layer), 0);
                assert_int_equal(vm_add_storage_config(&r->vm, &cow), 0);
        }
        return r;
}

static const char *arg_after(char **argv, const char *option) {
        for (size_t i = 0; argv[i]; i++)
                if (streq(argv[i], option))
                        return argv[i + 1];
        return NULL;
}

static void test_disk_items(void **state) {
        Config c = { .cpu = 2 };
        _cleanup_free_ char *layer = NULL, *cow = NULL, *qcow = NULL, *qcow_ro = NULL, *nodirect = NULL;
        StorageConfig s_layer = { .path = (char *) "/blobs/a.erofs", .read_only = true,
                                  .serial = (char *) "cocoon-layer0", .direct_io = -1 };
        StorageConfig s_cow = { .path = (char *) "/vms/x/cow.raw", .serial = (char *) "cocoon-cow",
                                .direct_io = -1 };
        StorageConfig s_qcow = { .path = (char *) "/vms/x/overlay.qcow2", .serial = (char *) "",
                                 .direct_io = -1 };
        StorageConfig s_qcow_ro = { .path = (char *) "/b/base.qcow2", .read_only = true, .direct_io = -1 };

        assert_int_equal(ch_disk_item(&s_layer, &c, &layer), 0);
        assert_string_equal(layer, "path=/blobs/a.erofs,readonly=on,image_type=raw,num_queues=2,"
                                   "queue_size=512,serial=cocoon-layer0");
        assert_int_equal(ch_disk_item(&s_cow, &c, &cow), 0);
        assert_string_equal(cow, "path=/vms/x/cow.raw,direct=on,sparse=on,image_type=raw,num_queues=2,"
                                 "queue_size=512,serial=cocoon-cow");
        assert_int_equal(ch_disk_item(&s_qcow, &c, &qcow), 0);
        assert_string_equal(qcow, "path=/vms/x/overlay.qcow2,direct=on,image_type=qcow2,backing_files=on,"
                                  "num_queues=2,queue_size=512");
        assert_int_equal(ch_disk_item(&s_qcow_ro, &c, &qcow_ro), 0);
        assert_string_equal(qcow_ro,
                            "path=/b/base.qcow2,readonly=on,image_type=qcow2,num_queues=2,queue_size=512");

        /* No direct I/O for the VM, the disk's own setting first, the record's queue size. */
        c.no_direct_io = true;
        c.disk_queue_size = 256;
        assert_int_equal(ch_disk_item(&s_cow, &c, &nodirect), 0);
        assert_null(strstr(nodirect, "direct=on"));
        assert_non_null(strstr(nodirect, "queue_size=256"));
        nodirect = mfree(nodirect);
        s_cow.direct_io = 1;
        assert_int_equal(ch_disk_item(&s_cow, &c, &nodirect), 0);
        assert_non_null(strstr(nodirect, ",direct=on"));

        /* A comma would split the item. */
        char *bad = NULL;
        StorageConfig s_bad = { .path = (char *) "/x/a,b.raw", .direct_io = -1 };
        assert_int_equal(ch_disk_item(&s_bad, &c, &bad), -EINVAL);
        assert_null(bad);
}

static void test_net_items(void **state) {
        Config c = { .cpu = 2 };
        _cleanup_free_ char *a = NULL, *b = NULL;
        NetworkConfig n = { .tap = (char *) "cocoon-t0", .mac = (char *) "52:54:00:aa:bb:cc",
                            .num_queues = 4 };
        NetworkConfig plain = { .tap = (char *) "cocoon-t1" };

        assert_int_equal(ch_net_item(&n, &c, &a), 0);
        assert_string_equal(a, "tap=cocoon-t0,mac=52:54:00:aa:bb:cc,num_queues=4,queue_size=256,"
                               "offload_tso=on,offload_ufo=on,offload_csum=on");
        c.queue_size = 1024;
        assert_int_equal(ch_net_item(&plain, &c, &b), 0);
        assert_string_equal(b, "tap=cocoon-t1,num_queues=2,queue_size=1024,offload_tso=on,offload_ufo=on,"
                               "offload_csum=on");
        char *bad = NULL;
        NetworkConfig no_tap = {};
        assert_int_equal(ch_net_item(&no_tap, &c, &bad), -EINVAL);
}

static void test_argv(void **state) {
        _cleanup_(vm_record_freep) VMRecord *r = new_record(true);
        _cleanup_strv_free_ char **argv = NULL;
        HypervisorLaunch l = { .binary = "/usr/bin/cloud-hypervisor", .accel = ACCEL_KVM,
                               .start_paused = true };

        assert_int_equal(ch_build_argv(r, &l, &argv), 0);
        const char *expected[] = {
                "/usr/bin/cloud-hypervisor",
                "--api-socket", "path=/run/cocoon/vms/abcdefghijklmnopqrstuvwxyz/api.sock",
                "--cpus", "boot=2,max=2",
                "--memory", "size=1073741824",
                "--kernel", "/blobs/k.kernel",
                "--initramfs", "/blobs/i.initrd",
                "--cmdline", "console=ttyS0 cocoon.layers=cocoon-layer1,cocoon-layer0",
                "--disk",
                "path=/blobs/r.erofs,readonly=on,image_type=raw,num_queues=2,queue_size=512,"
                "serial=cocoon-layer0",
                "path=/vms/x/cow.raw,direct=on,sparse=on,image_type=raw,num_queues=2,queue_size=512,"
                "serial=cocoon-cow",
                "--rng", "src=/dev/urandom",
                "--balloon", "size=268435456,deflate_on_oom=on,free_page_reporting=on",
                "--serial", "tty", "--console", "off",
        };
        assert_int_equal(strv_length(argv), ELEMENTSOF(expected));
        for (size_t i = 0; i < ELEMENTSOF(expected); i++)
                assert_string_equal(argv[i], expected[i]);
}

/* A VM of an OCI image: the guest contract's command line (cocoon-behavior.md 4.1, the console on the serial
 * port as this backend gives it) from the same disk list, and the NICs' parameters after it. */
static void test_argv_oci_cmdline(void **state) {
        _cleanup_(vm_record_freep) VMRecord *r = new_record(true);
        _cleanup_strv_free_ char **argv = NULL;
        HypervisorLaunch l = { .binary = "/usr/bin/cloud-hypervisor", .accel = ACCEL_KVM };
        NetworkConfig n = { .tap = strdup("tap0"), .mac = strdup("02:00:00:00:00:01"),
                            .backend = NETWORK_BACKEND_BRIDGE };

        assert_int_equal(vm_add_network_config(&r->vm, &n), 0);
        free(r->boot_config->cmdline);
        assert_int_equal(build_overlay_cmdline(hypervisor_cloud_hypervisor.overlay_cmdline_head,
                                               hypervisor_cloud_hypervisor.disks_by_path,
                                               r->vm.storage_configs, r->vm.n_storage_configs, "quiet",
                                               &r->boot_config->cmdline),
                         0);
        assert_int_equal(ch_build_argv(r, &l, &argv), 0);
        assert_string_equal(arg_after(argv, "--cmdline"),
                            "console=ttyS0 loglevel=3 boot=cocoon-overlay cocoon.layers=cocoon-layer0 "
                            "cocoon.cow=cocoon-cow clocksource=kvm-clock rw quiet net.ifnames=0 "
                            "cocoon.hostname=web");
}

static void test_argv_balloon_rules(void **state) {
        _cleanup_(vm_record_freep) VMRecord *r = new_record(false);
        _cleanup_strv_free_ char **small = NULL, **windows = NULL, **edge = NULL;
        HypervisorLaunch l = { .binary = "ch", .accel = ACCEL_KVM };

        /* Below 256 MiB: no balloon; no disks: no --disk at all. */
        r->vm.config.memory = (256ULL << 20) - 1;
        assert_int_equal(ch_build_argv(r, &l, &small), 0);
        assert_null(arg_after(small, "--balloon"));
        assert_null(arg_after(small, "--disk"));
        r->vm.config.memory = 256ULL << 20;
        assert_int_equal(ch_build_argv(r, &l, &edge), 0);
        assert_string_equal(arg_after(edge, "--balloon"),
                            "size=67108864,deflate_on_oom=on,free_page_reporting=on");
        r->vm.config.windows = true;
        assert_int_equal(ch_build_argv(r, &l, &windows), 0);
        assert_null(arg_after(windows, "--balloon"));
}

static void test_argv_nics_cmdline(void **state) {
        _cleanup_(vm_record_freep) VMRecord *r = new_record(false);
        _cleanup_strv_free_ char **argv = NULL;
        HypervisorLaunch l = { .binary = "ch", .accel = ACCEL_KVM };
        NetworkConfig n = { .tap = strdup("cocoon-t0"), .mac = strdup("52:54:00:00:00:01") };

        assert_int_equal(vm_add_network_config(&r->vm, &n), 0);
        assert_int_equal(ch_build_argv(r, &l, &argv), 0);
        assert_string_equal(arg_after(argv, "--net"),
                            "tap=cocoon-t0,mac=52:54:00:00:00:01,num_queues=2,queue_size=256,offload_tso=on,"
                            "offload_ufo=on,offload_csum=on");
        /* One argv element, with the guest contract's NIC parameters. */
        assert_string_equal(arg_after(argv, "--cmdline"),
                            "console=ttyS0 cocoon.layers=cocoon-layer1,cocoon-layer0 net.ifnames=0 "
                            "cocoon.hostname=web");
}

static void test_argv_incoming_and_uefi(void **state) {
        _cleanup_(vm_record_freep) VMRecord *r = new_record(true);
        _cleanup_strv_free_ char **argv = NULL, **uefi = NULL;
        HypervisorLaunch l = { .binary = "ch", .accel = ACCEL_KVM, .incoming = true };

        /* A clone's configuration comes from the snapshot (vm.restore). */
        assert_int_equal(ch_build_argv(r, &l, &argv), 0);
        assert_int_equal(strv_length(argv), 3);
        assert_string_equal(argv[1], "--api-socket");

        l.incoming = false;
        r->boot_config->kernel_path = mfree(r->boot_config->kernel_path);
        assert_int_equal(ch_build_argv(r, &l, &uefi), -EOPNOTSUPP);
}

static void test_config_for_clone(void **state) {
        _cleanup_(vm_record_freep) VMRecord *r = new_record(true);
        _cleanup_(json_object_putp) json_object *config = NULL, *state_json = NULL, *bad = NULL;
        _cleanup_strv_free_ char **old = NULL, **new = NULL;
        _cleanup_free_ char *error = NULL;
        const char *text =
                "{\"cpus\":{\"boot_vcpus\":2,\"max_vcpus\":2,\"max_phys_bits\":46},"
                "\"memory\":{\"size\":1073741824,\"shared\":true},\"platform\":{\"num_pci_segments\":1},"
                "\"disks\":[{\"path\":\"/blobs/r.erofs\",\"readonly\":true,\"id\":\"_disk0\"},"
                "{\"path\":\"/vms/src/cow.raw\",\"readonly\":false,\"id\":\"_disk1\"}],"
                "\"serial\":{\"mode\":\"Pty\",\"file\":\"/dev/pts/9\"},\"console\":{\"mode\":\"Off\"}}";

        assert_int_equal(json_parse(text, strlen(text), &config), 0);
        assert_int_equal(ch_config_for_clone(config, r, &old, &new, &error), 0);
        assert_null(error);
        const char *out = json_to_string(config);
        /* The clone's own disks by index; unknown fields and baked-in values stay. */
        assert_non_null(strstr(out, "{\"path\":\"/vms/x/cow.raw\",\"readonly\":false,\"id\":\"_disk1\"}"));
        assert_non_null(strstr(out, "\"platform\":{\"num_pci_segments\":1}"));
        assert_non_null(strstr(out, "\"max_phys_bits\":46"));
        assert_non_null(strstr(out, "\"shared\":true"));
        /* The serial on the new process's stdio (the source's pty was its own). */
        assert_non_null(
                strstr(out, "\"serial\":{\"mode\":\"Tty\",\"file\":null,\"socket\":null,\"iommu\":false}"));
        assert_string_equal(old[1], "/vms/src/cow.raw");
        assert_string_equal(new[1], "/vms/x/cow.raw");

        /* state.json: exact matches under path and disk_path only. */
        const char *state_text = "{\"a\":[{\"disk_path\":\"/vms/src/cow.raw\"},"
                                 "{\"path\":\"/vms/src/cow.raw0\"}],"
                                 "\"b\":{\"other\":\"/vms/src/cow.raw\",\"path\":\"/vms/src/cow.raw\"}}";
        assert_int_equal(json_parse(state_text, strlen(state_text), &state_json), 0);
        assert_int_equal(ch_rewrite_paths(state_json, old, new, strv_length(old)), 0);
        assert_string_equal(json_to_string(state_json),
                            "{\"a\":[{\"disk_path\":\"/vms/x/cow.raw\"},{\"path\":\"/vms/src/cow.raw0\"}],"
                            "\"b\":{\"other\":\"/vms/src/cow.raw\",\"path\":\"/vms/x/cow.raw\"}}");

        /* Another number of disks: device state is per disk. */
        const char *one = "{\"disks\":[{\"path\":\"/a\"}]}";
        _cleanup_strv_free_ char **o2 = NULL, **n2 = NULL;
        assert_int_equal(json_parse(one, strlen(one), &bad), 0);
        assert_int_equal(ch_config_for_clone(bad, r, &o2, &n2, &error), -EINVAL);
        assert_string_equal(error, "disk count mismatch: the snapshot has 1, the VM 2");
}

static void test_table(void **state) {
        assert_ptr_equal(hypervisor_find("cloud-hypervisor"), &hypervisor_cloud_hypervisor);
        assert_true(hypervisor_cloud_hypervisor.kvm_only);
        /* The serial is CH's stdio, its output appended to the spool by systemd, as Firecracker's. */
        assert_true(hypervisor_cloud_hypervisor.serial_on_stdio);
        assert_true(hypervisor_cloud_hypervisor.console_spool);
        assert_null(hypervisor_cloud_hypervisor.query_console);
        assert_true(hypervisor_find("qemu")->console_spool);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_disk_items),
                cmocka_unit_test(test_net_items),
                cmocka_unit_test(test_argv),
                cmocka_unit_test(test_argv_oci_cmdline),
                cmocka_unit_test(test_argv_balloon_rules),
                cmocka_unit_test(test_argv_nics_cmdline),
                cmocka_unit_test(test_argv_incoming_and_uefi),
                cmocka_unit_test(test_config_for_clone),
                cmocka_unit_test(test_table),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
