/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for the properties of a VM's transient unit: the hypervisor's sandbox under KVM and TCG, as the
 * StartTransientUnit message carries it (built on an unconnected bus, read back, never sent). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "bus-unit-internal.h"
#include "sandbox.h"
#include "strv-util.h"

#define ID "abcdefghijklmnopqrstuvwxyz"

static VMRecord *new_record(void) {
        VMRecord *r;
        assert_int_equal(vm_record_new(&r), 0);
        r->vm.id = strdup(ID);
        r->vm.name = strdup("web");
        r->run_dir = strdup("/run/cocoon/vms/" ID);
        r->log_dir = strdup("/var/log/cocoon/vms/" ID);
        r->boot_config = calloc(1, sizeof(BootConfig));
        r->boot_config->kernel_path = strdup("/var/lib/cocoon/images/blobs/k.kernel");
        r->boot_config->initrd_path = strdup("/var/lib/cocoon/images/blobs/i.initrd");
        StorageConfig layer = { .path = strdup("/var/lib/cocoon/images/blobs/r.rootfs"),
                                .read_only = true,
                                .serial = strdup("cocoon-layer0"),
                                .role = STORAGE_ROLE_LAYER,
                                .direct_io = -1 };
        StorageConfig cow = { .path = strdup("/var/lib/cocoon/vms/" ID "/cow.raw"),
                              .serial = strdup("cocoon-cow"),
                              .role = STORAGE_ROLE_COW,
                              .direct_io = -1 };
        assert_int_equal(vm_add_storage_config(&r->vm, &layer), 0);
        assert_int_equal(vm_add_storage_config(&r->vm, &cow), 0);
        return r;
}

/* Appends "Name=value" to *l for the property the message is at; containers are rendered as below. */
static void read_value(sd_bus_message *m, const char *name, char ***l) {
        const char *contents, *s;
        char type, *line = NULL;
        int b = 0;

        assert_true(sd_bus_message_peek_type(m, &type, &contents) > 0);
        assert_int_equal(type, 'v');
        assert_true(sd_bus_message_enter_container(m, 'v', contents) > 0);
        if (streq(contents, "s")) {
                assert_true(sd_bus_message_read(m, "s", &s) > 0);
                assert_true(asprintf(&line, "%s=%s", name, s) > 0);
        } else if (streq(contents, "b")) {
                assert_true(sd_bus_message_read(m, "b", &b) > 0);
                assert_true(asprintf(&line, "%s=%s", name, b ? "yes" : "no") > 0);
        } else if (streq(contents, "t")) {
                uint64_t t;
                assert_true(sd_bus_message_read(m, "t", &t) > 0);
                assert_true(asprintf(&line, "%s=%llu", name, (unsigned long long) t) > 0);
        } else if (streq(contents, "u")) {
                uint32_t u;
                assert_true(sd_bus_message_read(m, "u", &u) > 0);
                assert_true(asprintf(&line, "%s=%04o", name, u) > 0);
        } else if (streq(contents, "as") || streq(contents, "(bas)")) {
                char **strv = NULL;
                if (contents[0] == '(') {
                        assert_true(sd_bus_message_enter_container(m, 'r', "bas") > 0);
                        assert_true(sd_bus_message_read(m, "b", &b) > 0);
                }
                assert_true(sd_bus_message_read_strv(m, &strv) >= 0);
                _cleanup_free_ char *j = strv_join(strv, " ");
                const char *negation = contents[0] == '(' && !b ? "~" : "";
                assert_true(asprintf(&line, "%s=%s%s", name, negation, j) > 0);
                strv_free(strv);
                if (contents[0] == '(')
                        assert_true(sd_bus_message_exit_container(m) > 0);
        } else if (streq(contents, "a(ss)") || streq(contents, "a(ssbt)")) {
                /* "source:second ..." for (ss), "source ..." for bind paths (always to the same place). */
                _cleanup_free_ char *j = strdup("");
                const char *a, *c;
                uint64_t flags;
                assert_true(sd_bus_message_enter_container(m, 'a', contents + 1) > 0);
                for (;;) {
                        int k = streq(contents, "a(ss)")
                                        ? sd_bus_message_read(m, "(ss)", &a, &c)
                                        : sd_bus_message_read(m, "(ssbt)", &a, &c, &b, &flags);
                        assert_true(k >= 0);
                        if (k == 0)
                                break;
                        char *n = NULL;
                        if (streq(contents, "a(ssbt)") && streq(a, c))
                                assert_true(asprintf(&n, "%s%s%s", j, *j ? " " : "", a) > 0);
                        else
                                assert_true(asprintf(&n, "%s%s%s:%s", j, *j ? " " : "", a, c) > 0);
                        free(j);
                        j = n;
                }
                assert_true(sd_bus_message_exit_container(m) > 0);
                assert_true(asprintf(&line, "%s=%s", name, j) > 0);
        } else {
                assert_true(sd_bus_message_skip(m, contents) >= 0);
                assert_true(asprintf(&line, "%s:%s", name, contents) > 0);
        }
        assert_true(sd_bus_message_exit_container(m) > 0);
        assert_int_equal(strv_push(l, line), 0);
}

/* The properties the spec turns into, one "Name=value" each. */
static char **properties_of(const UnitSpec *spec) {
        sd_bus *bus = NULL;
        sd_bus_message *m = NULL;
        char **l = NULL;
        int fds[2];

        /* A message needs a bus that was started; it is never connected to anything. */
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
        assert_int_equal(sd_bus_new(&bus), 0);
        assert_int_equal(sd_bus_set_fd(bus, fds[0], fds[0]), 0);
        assert_true(sd_bus_start(bus) >= 0);
        assert_int_equal(sd_bus_message_new_method_call(bus, &m, SYSTEMD_BUS_NAME, SYSTEMD_BUS_PATH,
                                                        SYSTEMD_MANAGER_IFACE, "StartTransientUnit"),
                         0);
        assert_int_equal(bus_append_unit_properties(m, spec), 0);
        assert_int_equal(sd_bus_message_seal(m, 1, 0), 0);
        assert_true(sd_bus_message_rewind(m, true) >= 0);

        assert_true(sd_bus_message_enter_container(m, 'a', "(sv)") > 0);
        while (sd_bus_message_enter_container(m, 'r', "sv") > 0) {
                const char *name;
                assert_true(sd_bus_message_read(m, "s", &name) > 0);
                read_value(m, name, &l);
                assert_true(sd_bus_message_exit_container(m) > 0);
        }
        assert_true(sd_bus_message_exit_container(m) > 0);

        sd_bus_message_unref(m);
        sd_bus_close_unref(bus); /* no flush: it would wait for an authentication that never comes */
        close(fds[1]);
        return l;
}

static char **sandbox_properties(Accel accel) {
        _cleanup_(vm_record_freep) VMRecord *r = new_record();
        _cleanup_(hypervisor_sandbox_done) UnitSandbox sb = {};
        char *argv[] = { (char *) "/usr/bin/qemu-system-x86_64", NULL };

        assert_int_equal(hypervisor_sandbox_build(r, "/var/lib/cocoon/vms/" ID, accel, &sb), 0);
        UnitSpec spec = { .argv = argv, .sandbox = &sb };
        return properties_of(&spec);
}

static void assert_has(char **l, const char *line) {
        if (!strv_contains(l, line)) {
                _cleanup_free_ char *all = strv_join(l, "\n");
                fail_msg("missing %s in:\n%s", line, all);
        }
}

/* What holds for every accelerator. */
static void assert_common(char **l) {
        static const char *const lines[] = {
                "User=cocoon-vm",
                "CapabilityBoundingSet=0",
                "AmbientCapabilities=0",
                "NoNewPrivileges=yes",
                "SystemCallFilter=@system-service seccomp",
                "SystemCallArchitectures=native",
                "RestrictAddressFamilies=AF_UNIX",
                "PrivateNetwork=yes",
                "RestrictNamespaces=0",
                "ProtectProc=invisible",
                "ProcSubset=pid",
                "ProtectSystem=strict",
                "ProtectHome=yes",
                "PrivateTmp=yes",
                "LockPersonality=yes",
                "RestrictRealtime=yes",
                "RestrictSUIDSGID=yes",
                "ProtectClock=yes",
                "ProtectHostname=yes",
                "ProtectKernelLogs=yes",
                "ProtectKernelTunables=yes",
                "ProtectKernelModules=yes",
                "ProtectControlGroups=yes",
                "RemoveIPC=yes",
                "DevicePolicy=closed",
                "UMask=0077",
                "TemporaryFileSystem=/var/lib/cocoon:ro /run/cocoon:ro /var/log/cocoon:ro",
                "BindPaths=/run/cocoon/vms/" ID " /var/log/cocoon/vms/" ID "/console.spool "
                "/var/lib/cocoon/vms/" ID "/cow.raw",
                "BindReadOnlyPaths=/var/lib/cocoon/images/blobs/r.rootfs "
                "/var/lib/cocoon/images/blobs/k.kernel /var/lib/cocoon/images/blobs/i.initrd",
                "IPAddressDeny:a(iayu)",
        };
        for (size_t i = 0; i < ELEMENTSOF(lines); i++)
                assert_has(l, lines[i]);
        /* Without a NIC there is no network namespace to join. */
        for (char **p = l; *p; p++)
                assert_false(strncmp(*p, "NetworkNamespacePath=", 21) == 0);
}

static void test_sandbox_kvm(void **state) {
        _cleanup_strv_free_ char **l = sandbox_properties(ACCEL_KVM);

        assert_common(l);
        /* KVM runs guest code natively: QEMU never needs memory that is writable and executable. */
        assert_has(l, "MemoryDenyWriteExecute=yes");
        /* /dev/kvm, and the console's pty (PrivateDevices= would bring it, but would hide /dev/kvm). */
        assert_has(l, "DeviceAllow=/dev/kvm:rw /dev/ptmx:rw char-pts:rw");
        assert_has(l, "PrivateDevices=no");
}

static void test_sandbox_tcg(void **state) {
        _cleanup_strv_free_ char **l = sandbox_properties(ACCEL_TCG);

        assert_common(l);
        /* TCG writes the host code it translates the guest's into. */
        assert_has(l, "MemoryDenyWriteExecute=no");
        /* No device at all: a private /dev. */
        assert_has(l, "DeviceAllow=");
        assert_has(l, "PrivateDevices=yes");
}

static void test_unsandboxed_spec(void **state) {
        char *argv[] = { (char *) "/bin/true", NULL };
        UnitSpec spec = { .argv = argv, .slice = "cocoon.slice" };
        _cleanup_strv_free_ char **l = properties_of(&spec);

        assert_has(l, "Type=exec");
        assert_has(l, "Slice=cocoon.slice");
        assert_has(l, "ExecStart:a(sasb)");
        for (char **p = l; *p; p++)
                assert_false(strncmp(*p, "User=", 5) == 0 || strncmp(*p, "SystemCallFilter=", 17) == 0 ||
                             strncmp(*p, "ExecStop", 8) == 0);
}

/* A root helper's sandbox (the layer unpacker): the capabilities it names, setuid files allowed, and
 * no PrivateDevices= (it would drop CAP_MKNOD), the device policy closed all the same. */
static void test_sandbox_capabilities(void **state) {
        char *argv[] = { (char *) "/usr/libexec/cocoon-unpack", NULL };
        UnitSandbox sb = { .capabilities = (UINT64_C(1) << 27) | (UINT64_C(1) << 0),
                           .allow_suid_sgid = true };
        UnitSpec spec = { .argv = argv, .sandbox = &sb };
        _cleanup_strv_free_ char **l = properties_of(&spec);

        assert_has(l, "CapabilityBoundingSet=134217729");
        assert_has(l, "AmbientCapabilities=0");
        assert_has(l, "PrivateDevices=no");
        assert_has(l, "DevicePolicy=closed");
        assert_has(l, "NoNewPrivileges=yes");
        assert_has(l, "PrivateNetwork=yes");
        for (char **p = l; *p; p++)
                assert_false(strncmp(*p, "RestrictSUIDSGID=", 17) == 0 || strncmp(*p, "User=", 5) == 0);
}

static void test_exec_stop(void **state) {
        char *argv[] = { (char *) "/bin/true", NULL };
        char *stop[] = { (char *) "/usr/libexec/cocoon-vm-stop", NULL };
        UnitSpec spec = { .argv = argv, .exec_stop = stop, .exec_stop_post = stop };
        _cleanup_strv_free_ char **l = properties_of(&spec);

        /* The stop helper runs privileged, outside the hypervisor's sandbox, and never fails the unit; it
         * extends the stop timeout with sd_notify from a control process. */
        assert_has(l, "ExecStopEx:a(sasas)");
        assert_has(l, "NotifyAccess=all");
        /* Also after a crash (no ExecStop= then): it removes the guest's RAM file. */
        assert_has(l, "ExecStopPostEx:a(sasas)");
}

static void test_sandbox_layout(void **state) {
        _cleanup_(vm_record_freep) VMRecord *r = new_record();
        UnitSandbox sb = {};

        /* A directory that is not <root>/vms/<id> cannot be confined: refused, never "hide its parent". */
        assert_int_equal(hypervisor_sandbox_build(r, "/var/lib/cocoon/" ID, ACCEL_TCG, &sb), -EINVAL);
        assert_int_equal(hypervisor_sandbox_build(r, "/vms/" ID, ACCEL_TCG, &sb), -EINVAL);
        assert_int_equal(hypervisor_sandbox_build(r, "/var/lib/cocoon/vms/other", ACCEL_TCG, &sb), -EINVAL);
        free(r->run_dir);
        r->run_dir = strdup("/run/x" ID);
        assert_int_equal(hypervisor_sandbox_build(r, "/var/lib/cocoon/vms/" ID, ACCEL_TCG, &sb), -EINVAL);

        /* Roots in one place are hidden once; a trailing slash changes nothing. */
        free(r->run_dir);
        r->run_dir = strdup("/srv/cocoon/vms/" ID "/");
        free(r->log_dir);
        r->log_dir = strdup("/srv/cocoon/vms/" ID);
        assert_int_equal(hypervisor_sandbox_build(r, "/srv/cocoon/vms/" ID, ACCEL_TCG, &sb), 0);
        assert_int_equal(strv_length(sb.hidden_paths), 1);
        assert_string_equal(sb.hidden_paths[0], "/srv/cocoon");
        hypervisor_sandbox_done(&sb);

        /* The run directory of a restored VM's alternate unit is inside its own: the same root hidden. */
        free(r->run_dir);
        r->run_dir = strdup("/srv/cocoon/vms/" ID "/r");
        assert_int_equal(hypervisor_sandbox_build(r, "/srv/cocoon/vms/" ID, ACCEL_TCG, &sb), 0);
        assert_int_equal(strv_length(sb.hidden_paths), 1);
        assert_string_equal(sb.hidden_paths[0], "/srv/cocoon");
        assert_true(strv_contains(sb.bind_paths, "/srv/cocoon/vms/" ID "/r"));
        hypervisor_sandbox_done(&sb);

        /* A spec that would hide "/" is refused before anything is sent. */
        char *argv[] = { (char *) "/bin/true", NULL };
        char *hidden[] = { (char *) "/", NULL };
        UnitSandbox bad = { .hidden_paths = hidden };
        UnitSpec spec = { .argv = argv, .sandbox = &bad };
        assert_false(unit_spec_is_valid(&spec));
        bad.hidden_paths = NULL;
        assert_true(unit_spec_is_valid(&spec));
}

/* Firecracker's console is its stdio: stdout appended to the spool, stderr to the journal, stdin from the
 * FIFO passed as a descriptor. A clone's disks are bound over its source's paths. */
static void test_console_on_stdio_and_redirects(void **state) {
        char *argv[] = { (char *) "/usr/bin/firecracker", NULL };
        char *redirects[] = { (char *) "/var/lib/cocoon/vms/b/cow.raw", (char *) "/var/lib/cocoon/vms/a/cow.raw",
                              NULL };
        UnitSandbox sb = { .bind_redirects = redirects };
        UnitSpec spec = { .argv = argv,
                          .sandbox = &sb,
                          .console_output_path = "/var/log/cocoon/vms/b/console.spool",
                          .stdin_fd = STDERR_FILENO };
        _cleanup_strv_free_ char **l = properties_of(&spec);

        assert_has(l, "StandardOutputFileToAppend=/var/log/cocoon/vms/b/console.spool");
        assert_has(l, "StandardError=journal");
        assert_has(l, "StandardInputFileDescriptor:h");
        assert_false(strv_contains(l, "StandardOutput=journal"));
        assert_has(l, "BindPaths=/var/lib/cocoon/vms/b/cow.raw:/var/lib/cocoon/vms/a/cow.raw");
        assert_true(unit_spec_is_valid(&spec));
        /* An odd list (a source without its destination) or a relative path is refused. */
        redirects[1] = NULL;
        assert_false(unit_spec_is_valid(&spec));
        redirects[1] = (char *) "cow.raw";
        assert_false(unit_spec_is_valid(&spec));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_sandbox_kvm),
                cmocka_unit_test(test_sandbox_tcg),
                cmocka_unit_test(test_unsandboxed_spec),
                cmocka_unit_test(test_exec_stop),
                cmocka_unit_test(test_sandbox_capabilities),
                cmocka_unit_test(test_sandbox_layout),
                cmocka_unit_test(test_console_on_stdio_and_redirects),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
