/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for the QEMU backend's command line and the backend table. */
#include <fcntl.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "fd-util.h"
#include "fs-util.h"
#include "helpers.h"
#include "hypervisor.h"
#include "json-util.h"
#include "qmp.h"
#include "qemu.h"
#include "strv-util.h"
#include "time-util.h"

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
        assert_string_equal(arg_after(argv, "-M"), "microvm,accel=tcg,memory-backend=microvm.ram");
        assert_string_equal(arg_after(argv, "-smp"), "2");
        assert_string_equal(arg_after(argv, "-m"), "256M");
        /* No memory file: anonymous RAM, under the id every kind of backend has (the stream names it), the
         * one microvm gives plain -m's. */
        assert_string_equal(arg_after(argv, "-object"), "memory-backend-ram,id=microvm.ram,size=256M");
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
        /* Every process a generation ID of its own (clones reseed); only clones wait for incoming state. */
        assert_true(strv_contains(argv, "vmgenid,guid=auto"));
        assert_null(arg_after(argv, "-incoming"));
        argv = strv_free(argv);
        l.incoming = true;
        assert_int_equal(qemu_build_argv(r, &l, &argv), 0);
        assert_string_equal(arg_after(argv, "-incoming"), "defer");
}

static void test_argv_kvm(void **state) {
        _cleanup_(vm_record_freep) VMRecord *r = new_record(false);
        _cleanup_strv_free_ char **argv = NULL;
        HypervisorLaunch l = { .binary = "/q", .accel = ACCEL_KVM, .tsc_khz = 2100000 };

        assert_int_equal(qemu_build_argv(r, &l, &argv), 0);
        assert_string_equal(arg_after(argv, "-M"), "microvm,accel=kvm,memory-backend=microvm.ram");
        assert_string_equal(arg_after(argv, "-cpu"), "host");
        /* KVM gives the guest a TSC frequency of its own: nothing is added. */
        assert_string_equal(arg_after(argv, "-append"), "console=ttyS0 cocoon.layers=cocoon-layer0");
        assert_false(strv_contains(argv, "-S"));
        assert_null(arg_after(argv, "-drive"));
}

static void test_argv_memory_file(void **state) {
        _cleanup_(vm_record_freep) VMRecord *r = new_record(false);
        _cleanup_strv_free_ char **argv = NULL;
        HypervisorLaunch l = { .binary = "/usr/bin/qemu-system-x86_64", .accel = ACCEL_TCG,
                               .memory_file = "/run/cocoon/vms/x/ram" };

        /* A booted guest writes through to its file: a snapshot copies it and leaves RAM out of the state. */
        assert_int_equal(qemu_build_argv(r, &l, &argv), 0);
        assert_string_equal(arg_after(argv, "-object"),
                            "memory-backend-file,id=microvm.ram,size=256M,mem-path=/run/cocoon/vms/x/ram,"
                            "share=on");
        assert_string_equal(arg_after(argv, "-M"), "microvm,accel=tcg,memory-backend=microvm.ram");
        argv = strv_free(argv);
        /* A clone maps the snapshot's file copy-on-write. */
        l.memory_file = "/var/lib/cocoon/snapshots/s/ram";
        l.memory_private = true;
        l.incoming = true;
        assert_int_equal(qemu_build_argv(r, &l, &argv), 0);
        assert_string_equal(arg_after(argv, "-object"),
                            "memory-backend-file,id=microvm.ram,size=256M,mem-path=/var/lib/cocoon/snapshots/s/ram,"
                            "share=off");
        argv = strv_free(argv);
        /* A comma would end the path and start another option; a relative path would follow the cwd. */
        l.memory_file = "/run/x,share=on/ram";
        assert_int_equal(qemu_build_argv(r, &l, &argv), -EINVAL);
        l.memory_file = "ram";
        assert_int_equal(qemu_build_argv(r, &l, &argv), -EINVAL);
        assert_null(argv);
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
        /* A bridge NIC's TAP is multiqueue (a restore's second QEMU attaches beside the first): QEMU opens
         * it so only with two queues or more; one pair for the guest: no mq on the device. */
        int i = arg_index(argv, "tap,id=net0,ifname=cocoonabcdefgh0,script=no,downscript=no,queues=2");
        assert_true(i > 0);
        assert_string_equal(argv[i - 1], "-netdev");
        assert_string_equal(argv[i + 1], "-device");
        assert_string_equal(argv[i + 2], "virtio-net-device,netdev=net0,mac=02:00:00:00:00:01");
        assert_string_equal(argv[i + 4],
                            "tap,id=net1,ifname=cocoonabcdefgh1,script=no,downscript=no,queues=2");
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
                                        "queues=2,vhost=on") > 0);
        assert_string_equal(arg_after(kvm_argv, "-append"),
                            "console=ttyS0 cocoon.layers=cocoon-layer0 net.ifnames=0 cocoon.hostname=web"
                            " ip=10.0.0.2::10.0.0.1:255.255.255.0:web:eth1:off");

        /* The same identity as a fw_cfg item of fixed size, which a clone's guest reads after its resume. */
        const char *fw = arg_after(kvm_argv, "-fw_cfg");
        const char *text = "name=opt/io.cocoon/network,string=cocoon.hostname=web\n"
                           "eth0 mac=02:00:00:00:00:01 dhcp\n"
                           "eth1 mac=02:00:00:00:00:02 ip=10.0.0.2::10.0.0.1:255.255.255.0:web:eth1:off\n";
        assert_non_null(fw);
        assert_int_equal(strlen(fw), strlen("name=opt/io.cocoon/network,string=") + GUEST_NETWORK_SIZE);
        assert_memory_equal(fw, text, strlen(text));
        assert_null(arg_after(none, "-fw_cfg"));

        /* cocoon.conf's DNS= follows each static NIC's ip=: two servers at most (the kernel's slots). */
        _cleanup_strv_free_ char **dns_argv = NULL;
        char *dns[] = { "10.0.0.53", "10.0.0.54", "10.0.0.55", NULL };
        l.dns = dns;
        assert_int_equal(qemu_build_argv(r, &l, &dns_argv), 0);
        assert_string_equal(arg_after(dns_argv, "-append"),
                            "console=ttyS0 cocoon.layers=cocoon-layer0 net.ifnames=0 cocoon.hostname=web"
                            " ip=10.0.0.2::10.0.0.1:255.255.255.0:web:eth1:off:10.0.0.53:10.0.0.54");

        /* The name servers a CNI network gave go after each static address (3.1: at most two), and take the
         * place of cocoon.conf's. */
        _cleanup_strv_free_ char **cni_argv = NULL;
        assert_int_equal(strv_extend(&a->dns, "8.8.8.8"), 0);
        assert_int_equal(strv_extend(&a->dns, "1.1.1.1"), 0);
        assert_int_equal(strv_extend(&a->dns, "9.9.9.9"), 0);
        assert_int_equal(qemu_build_argv(r, &l, &cni_argv), 0);
        assert_string_equal(arg_after(cni_argv, "-append"),
                            "console=ttyS0 cocoon.layers=cocoon-layer0 net.ifnames=0 cocoon.hostname=web"
                            " ip=10.0.0.2::10.0.0.1:255.255.255.0:web:eth1:off:8.8.8.8:1.1.1.1");
        l.dns = NULL;

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
        assert_ptr_equal(hypervisor_find("firecracker"), &hypervisor_firecracker);
        assert_ptr_equal(hypervisor_find("cloud-hypervisor"), &hypervisor_cloud_hypervisor);
        assert_null(hypervisor_find("xen"));
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

/* ---- snapshot and clone against real QEMU processes (microvm, TCG, no guest: paused by -S) ---- */

typedef struct TestQemu {
        char run_dir[64];
        pid_t pid;
} TestQemu;

static const char *qemu_binary(void) {
        return getenv("COCOON_TEST_QEMU") ?: "/usr/bin/qemu-system-x86_64";
}

/* memory_file: the guest's RAM in that file (shared, or private when incoming), as the manager launches. */
static void test_qemu_start_with(TestQemu *t, const char *memory, bool incoming, const char *memory_file) {
        char qmp[128], log[128];
        snprintf(t->run_dir, sizeof(t->run_dir), "/tmp/test-qemu-XXXXXX");
        assert_non_null(mkdtemp(t->run_dir));
        snprintf(qmp, sizeof(qmp), "unix:%s/api.sock,server=on,wait=off", t->run_dir);
        snprintf(log, sizeof(log), "%s/qemu.log", t->run_dir);
        t->pid = fork();
        assert_true(t->pid >= 0);
        if (t->pid == 0) {
                int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                if (fd >= 0) {
                        dup2(fd, STDOUT_FILENO);
                        dup2(fd, STDERR_FILENO);
                }
                char object[256];
                snprintf(object, sizeof(object), "memory-backend-file,id=microvm.ram,size=%sM,mem-path=%s,share=%s",
                         memory, memory_file ?: "", incoming ? "off" : "on");
                if (memory_file)
                        execl(qemu_binary(), qemu_binary(), "-M", "microvm,accel=tcg,memory-backend=microvm.ram", "-m",
                              memory, "-object", object, "-nodefaults", "-no-user-config", "-display", "none",
                              "-S", "-device", "vmgenid,guid=auto", "-qmp", qmp,
                              incoming ? "-incoming" : NULL, "defer", (char *) NULL);
                else
                        execl(qemu_binary(), qemu_binary(), "-M", "microvm,accel=tcg", "-m", memory,
                              "-nodefaults", "-no-user-config", "-display", "none", "-S", "-device",
                              "vmgenid,guid=auto", "-qmp", qmp, incoming ? "-incoming" : NULL, "defer",
                              (char *) NULL);
                _exit(127);
        }
        char sock[128];
        snprintf(sock, sizeof(sock), "%s/api.sock", t->run_dir);
        assert_int_equal(wait_for_socket(sock, t->pid, 10 * USEC_PER_SEC), 0);
}

static void test_qemu_start(TestQemu *t, const char *memory, bool incoming) {
        test_qemu_start_with(t, memory, incoming, NULL);
}

static void test_qemu_stop(TestQemu *t) {
        kill(t->pid, SIGKILL);
        waitpid(t->pid, NULL, 0);
        assert_int_equal(rm_rf(t->run_dir), 0);
}

/* "running", "paused", "postmigrate", ... of the QEMU in run_dir; and its generation ID. */
static void query(const TestQemu *t, char status[static 32], char guid[static 64]) {
        _cleanup_(qmp_freep) Qmp *q = NULL;
        _cleanup_(json_object_putp) json_object *st = NULL, *gen = NULL;
        char sock[128];
        const char *s = NULL, *g = NULL;
        snprintf(sock, sizeof(sock), "%s/api.sock", t->run_dir);
        assert_int_equal(qmp_connect(sock, 10 * USEC_PER_SEC, &q), 0);
        assert_int_equal(qmp_execute(q, "query-status", NULL, 10 * USEC_PER_SEC, &st, NULL), 0);
        assert_int_equal(qmp_execute(q, "query-vm-generation-id", NULL, 10 * USEC_PER_SEC, &gen, NULL), 0);
        assert_int_equal(json_get_string(st, "status", &s), 0);
        assert_int_equal(json_get_string(gen, "guid", &g), 0);
        snprintf(status, 32, "%s", s);
        snprintf(guid, 64, "%s", g);
}

static void test_snapshot_clone(void **state) {
        TestQemu src, dst, bad;
        char dir[] = "/tmp/test-qemu-snap-XXXXXX", status[32], guid_src[64], guid_dst[64];
        _cleanup_free_ char *error = NULL;
        assert_non_null(mkdtemp(dir));
        _cleanup_close_ int dir_fd = open(dir, O_DIRECTORY | O_CLOEXEC);
        HypervisorSnapshotDir d = { .path = dir, .fd = dir_fd };
        struct stat st;

        test_qemu_start(&src, "64", false);
        assert_int_equal(hypervisor_qemu.resume(src.run_dir, 10 * USEC_PER_SEC, &error), 0);
        query(&src, status, guid_src);
        assert_string_equal(status, "running");
        assert_int_equal(hypervisor_qemu.pause(src.run_dir, 10 * USEC_PER_SEC, &error), 0);
        query(&src, status, guid_src);
        assert_string_equal(status, "paused");

        /* The state goes into a file of ours that QEMU got as a descriptor. */
        assert_int_equal(hypervisor_qemu.snapshot(src.run_dir, &d, 60 * USEC_PER_SEC, &error), 0);
        assert_int_equal(fstatat(dir_fd, QEMU_STATE_FILE_NAME, &st, 0), 0);
        assert_true(st.st_size > 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        query(&src, status, guid_src);
        assert_string_equal(status, "postmigrate");
        /* The source runs on after the save. */
        assert_int_equal(hypervisor_qemu.resume(src.run_dir, 10 * USEC_PER_SEC, &error), 0);
        query(&src, status, guid_src);
        assert_string_equal(status, "running");
        /* A second save never overwrites the first's state. */
        assert_int_equal(hypervisor_qemu.pause(src.run_dir, 10 * USEC_PER_SEC, &error), 0);
        assert_int_equal(hypervisor_qemu.snapshot(src.run_dir, &d, 10 * USEC_PER_SEC, &error), -EEXIST);

        /* The clone loads it, stays paused until resumed, and has a generation ID of its own. */
        test_qemu_start(&dst, "64", true);
        assert_int_equal(hypervisor_qemu.clone(dst.run_dir, &d, 60 * USEC_PER_SEC, &error), 0);
        query(&dst, status, guid_dst);
        assert_string_equal(status, "paused");
        assert_string_not_equal(guid_src, guid_dst);
        assert_int_equal(hypervisor_qemu.resume(dst.run_dir, 10 * USEC_PER_SEC, &error), 0);
        query(&dst, status, guid_dst);
        assert_string_equal(status, "running");

        /* Other RAM than the snapshot's: QEMU refuses the state, and says so. */
        test_qemu_start(&bad, "128", true);
        error = mfree(error);
        assert_int_equal(hypervisor_qemu.clone(bad.run_dir, &d, 60 * USEC_PER_SEC, &error), -EIO);
        assert_non_null(error);
        assert_non_null(strstr(error, "failed"));

        test_qemu_stop(&src);
        test_qemu_stop(&dst);
        test_qemu_stop(&bad);
        assert_int_equal(rm_rf(dir), 0);
}

/* A guest whose RAM is a shared file: the state leaves the RAM out (x-ignore-shared, seen through
 * query-memdev), and a clone over a copy of the file, mapped privately, loads it. */
static void test_snapshot_clone_memory_file(void **state) {
        TestQemu src, dst;
        char dir[] = "/tmp/test-qemu-snap-XXXXXX", mem[] = "/tmp/test-qemu-mem-XXXXXX";
        char src_ram[64], dst_ram[80], status[32], guid[64];
        _cleanup_free_ char *error = NULL;
        assert_non_null(mkdtemp(dir));
        assert_non_null(mkdtemp(mem));
        snprintf(src_ram, sizeof(src_ram), "%s/ram", mem);
        snprintf(dst_ram, sizeof(dst_ram), "%s/ram", dir);
        _cleanup_close_ int dir_fd = open(dir, O_DIRECTORY | O_CLOEXEC);
        HypervisorSnapshotDir d = { .path = dir, .fd = dir_fd };
        struct stat st;

        test_qemu_start_with(&src, "64", false, src_ram);
        assert_int_equal(hypervisor_qemu.resume(src.run_dir, 10 * USEC_PER_SEC, &error), 0);
        assert_int_equal(hypervisor_qemu.pause(src.run_dir, 10 * USEC_PER_SEC, &error), 0);
        assert_int_equal(hypervisor_qemu.snapshot(src.run_dir, &d, 60 * USEC_PER_SEC, &error), 0);
        assert_true(d.memory_file);
        assert_int_equal(fstatat(dir_fd, QEMU_STATE_FILE_NAME, &st, 0), 0);
        /* 64 MiB of RAM, and the state has none of it: device state only. */
        assert_true(st.st_size > 0 && st.st_size < 1024 * 1024);

        /* The caller's copy of the file (backend-snapshot.c); the clone maps it privately. */
        _cleanup_close_ int in = open(src_ram, O_RDONLY | O_CLOEXEC);
        _cleanup_close_ int out = open(dst_ram, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        assert_true(in >= 0 && out >= 0);
        assert_true(copy_file_range(in, NULL, out, NULL, 64 << 20, 0) == 64 << 20);
        test_qemu_start_with(&dst, "64", true, dst_ram);
        assert_int_equal(hypervisor_qemu.clone(dst.run_dir, &d, 60 * USEC_PER_SEC, &error), 0);
        query(&dst, status, guid);
        assert_string_equal(status, "paused");
        assert_int_equal(hypervisor_qemu.resume(dst.run_dir, 10 * USEC_PER_SEC, &error), 0);
        query(&dst, status, guid);
        assert_string_equal(status, "running");

        /* A clone's own snapshot: its RAM is private, so the state holds it. */
        assert_int_equal(unlinkat(dir_fd, QEMU_STATE_FILE_NAME, 0), 0);
        assert_int_equal(hypervisor_qemu.pause(dst.run_dir, 10 * USEC_PER_SEC, &error), 0);
        d.memory_file = true;
        assert_int_equal(hypervisor_qemu.snapshot(dst.run_dir, &d, 60 * USEC_PER_SEC, &error), 0);
        assert_false(d.memory_file);

        test_qemu_stop(&src);
        test_qemu_stop(&dst);
        assert_int_equal(rm_rf(dir), 0);
        assert_int_equal(rm_rf(mem), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_argv_tcg),
                cmocka_unit_test(test_argv_kvm),
                cmocka_unit_test(test_argv_memory_file),
                cmocka_unit_test(test_argv_refusals),
                cmocka_unit_test(test_argv_nics),
                cmocka_unit_test(test_hypervisor_table),
                cmocka_unit_test(test_snapshot_clone),
                cmocka_unit_test(test_snapshot_clone_memory_file),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
