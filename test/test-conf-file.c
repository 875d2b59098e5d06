/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for cocoon.conf parsing: defaults, every key, drop-in order, errors with file:line. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf-file.h"
#include "fs-util.h"
#include "hypervisor.h"
#include "macro.h"
#include "strv-util.h"
#include "time-util.h"

typedef struct Dir {
        char path[64];
        char *conf; /* <path>/cocoon.conf */
        char *dropins; /* <path>/cocoon.conf.d */
} Dir;

static int dir_setup(void **state) {
        Dir *d = calloc(1, sizeof(Dir));

        assert_non_null(d);
        strcpy(d->path, "/tmp/test-conf-file-XXXXXX");
        assert_non_null(mkdtemp(d->path));
        assert_true(asprintf(&d->conf, "%s/cocoon.conf", d->path) > 0);
        assert_true(asprintf(&d->dropins, "%s/cocoon.conf.d", d->path) > 0);
        *state = d;
        return 0;
}

static int dir_teardown(void **state) {
        Dir *d = *state;

        assert_int_equal(rm_rf(d->path), 0);
        free(d->conf);
        free(d->dropins);
        free(d);
        return 0;
}

static void put(const char *path, const char *text) {
        assert_int_equal(write_file_atomic_at(AT_FDCWD, path, text, strlen(text), 0644), 0);
}

static char *dropin(Dir *d, const char *name, const char *text) {
        char *p;

        assert_int_equal(mkdir_p(d->dropins, 0755), 0);
        assert_true(asprintf(&p, "%s/%s", d->dropins, name) > 0);
        if (text)
                put(p, text);
        return p;
}

/* One worker per CPU, at least eight. */
static unsigned default_pool_size(void) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);

        return n > 8 ? (unsigned) n : 8U;
}

static void assert_defaults(const CocoonConfig *c) {
        assert_int_equal(c->stop_timeout_usec, 30 * USEC_PER_SEC);
        assert_int_equal(c->kill_grace_usec, 5 * USEC_PER_SEC);
        assert_int_equal(c->pool_size, default_pool_size());
        assert_string_equal(c->default_backend, "auto");
        assert_int_equal(c->console_log_max_bytes, 1024 * 1024);
        assert_int_equal(c->qemu_accel, ACCEL_AUTO);
        assert_string_equal(c->qemu_binary, "qemu-system-x86_64");
        assert_null(c->network_dns);
        assert_string_equal(c->cloud_hypervisor_binary, "cloud-hypervisor");
        assert_string_equal(c->firecracker_binary, "firecracker");
        assert_null(c->warnings);
}

static void test_missing_file_is_defaults(void **state) {
        Dir *d = *state;
        _cleanup_(cocoon_config_done) CocoonConfig c = {};
        char *error = NULL;

        assert_int_equal(cocoon_config_load(d->conf, &c, &error), 0);
        assert_null(error);
        assert_defaults(&c);
}

static void test_empty_and_comments_only(void **state) {
        Dir *d = *state;
        _cleanup_(cocoon_config_done) CocoonConfig c = {};

        put(d->conf, "# nothing here\n\n   ; still nothing\n[Manager]\n");
        assert_int_equal(cocoon_config_load(d->conf, &c, NULL), 0);
        assert_defaults(&c);
}

static void test_every_key(void **state) {
        Dir *d = *state;
        _cleanup_(cocoon_config_done) CocoonConfig c = {};

        put(d->conf,
            "# cocoon manager settings\n"
            "[Manager]\n"
            "StopTimeoutSec = 45\n"
            "  KillGraceSec=7  \n"
            "PoolSize=3\r\n"
            "DefaultBackend=qemu\n"
            "ConsoleLogMaxBytes=512K\n"
            "\n"
            "; QEMU\n"
            "[QEMU]\n"
            "Accel=tcg\n"
            "Binary=/usr/local/bin/qemu-system-x86_64\n"
            "[Network]\n"
            "DNS=8.8.8.8  1.1.1.1 8.8.8.8\n"
            "ConfigDirectory=/srv/cni/net.d\n"
            "PluginDirectory=/opt/cni/bin\n"
            "[ Manager ]\n"
            "PoolSize=5\n"
            "[Images]\n"
            "PullParallel=4\n"
            "UnpackMemory=512M\n"
            "InsecureRegistries=ignored.example\n"
            "InsecureRegistries= 127.0.0.1:5000\t[fc00::1]:5000 \n");
        assert_int_equal(cocoon_config_load(d->conf, &c, NULL), 0);
        assert_int_equal(c.stop_timeout_usec, 45 * USEC_PER_SEC);
        assert_int_equal(c.kill_grace_usec, 7 * USEC_PER_SEC);
        assert_int_equal(c.pool_size, 5); /* a repeated section goes on; the last assignment wins */
        assert_string_equal(c.default_backend, "qemu");
        assert_int_equal(c.console_log_max_bytes, 512 * 1024);
        assert_int_equal(c.qemu_accel, ACCEL_TCG);
        assert_string_equal(c.qemu_binary, "/usr/local/bin/qemu-system-x86_64");
        assert_int_equal(strv_length(c.network_dns), 2);
        assert_string_equal(c.network_dns[0], "8.8.8.8");
        assert_string_equal(c.network_dns[1], "1.1.1.1");
        assert_string_equal(c.cni_config_dir, "/srv/cni/net.d");
        assert_string_equal(c.cni_plugin_dir, "/opt/cni/bin");
        assert_int_equal(c.pull_parallel, 4);
        assert_int_equal(c.unpack_memory, 512 * 1024 * 1024);
        /* a later list replaces the earlier one */
        assert_int_equal(strv_length(c.insecure_registries), 2);
        assert_string_equal(c.insecure_registries[0], "127.0.0.1:5000");
        assert_string_equal(c.insecure_registries[1], "[fc00::1]:5000");
        assert_null(c.warnings);
}

static void test_network_directories(void **state) {
        Dir *d = *state;
        static const char *const bad[] = { "relative/dir", "/a/../etc", "/a/./b", "/a/..", "/a:/b", "" };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_(cocoon_config_done) CocoonConfig c = {};
                _cleanup_free_ char *error = NULL;
                char text[128];
                snprintf(text, sizeof(text), "[Network]\nPluginDirectory=%s\n", bad[i]);
                put(d->conf, text);
                assert_int_equal(cocoon_config_load(d->conf, &c, &error), -EINVAL);
                assert_non_null(strstr(error, ":2:"));
        }
        _cleanup_(cocoon_config_done) CocoonConfig c = {};
        put(d->conf, "# defaults\n");
        assert_int_equal(cocoon_config_load(d->conf, &c, NULL), 0);
        assert_string_equal(c.cni_config_dir, "/etc/cni/net.d");
        assert_string_equal(c.cni_plugin_dir, "/usr/lib/cni");
}

static void test_images_section(void **state) {
        Dir *d = *state;
        _cleanup_(cocoon_config_done) CocoonConfig c = {};
        static const char *const bad[] = {
                "[Images]\nPullParallel=0\n",
                "[Images]\nPullParallel=65\n",
                "[Images]\nPullParallel=x\n",
                "[Images]\nInsecureRegistries=a/b\n",
                "[Images]\nInsecureRegistries=host;rm\n",
                "[Images]\nUnpackMemory=-1\n",
                "[Images]\nUnpackMemory=lots\n",
        };

        assert_int_equal(cocoon_config_defaults(&c), 0);
        assert_int_equal(c.pull_parallel, 3);
        assert_null(c.insecure_registries);
        /* A quarter of the RAM. */
        assert_int_equal(c.unpack_memory,
                         (uint64_t) sysconf(_SC_PHYS_PAGES) * (uint64_t) sysconf(_SC_PAGESIZE) / 4);
        cocoon_config_done(&c);
        /* 0: none, on disk only. */
        put(d->conf, "[Images]\nUnpackMemory=0\n");
        assert_int_equal(cocoon_config_load(d->conf, &c, NULL), 0);
        assert_int_equal(c.unpack_memory, 0);
        cocoon_config_done(&c);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_free_ char *error = NULL;
                put(d->conf, bad[i]);
                if (cocoon_config_load(d->conf, &c, &error) != -EINVAL)
                        fail_msg("accepted: %s", bad[i]);
                cocoon_config_done(&c);
        }
}

/* Every backend's binary is configurable; DefaultBackend= takes auto or a backend this build has (another
 * would fail every create), and a record's backend finds its binary only when the build has it. */
static void test_backend_settings(void **state) {
        Dir *d = *state;
        _cleanup_(cocoon_config_done) CocoonConfig c = {};
        _cleanup_free_ char *error = NULL;

        put(d->conf, "[CloudHypervisor]\nBinary=/opt/ch/cloud-hypervisor\n[Firecracker]\nBinary=fc\n");
        assert_int_equal(cocoon_config_load(d->conf, &c, NULL), 0);
        assert_null(c.warnings);
        assert_string_equal(c.cloud_hypervisor_binary, "/opt/ch/cloud-hypervisor");
        assert_string_equal(c.firecracker_binary, "fc");
        assert_string_equal(cocoon_config_backend_binary(&c, "qemu"), "qemu-system-x86_64");
        assert_null(cocoon_config_backend_binary(&c, "xen"));
        assert_null(cocoon_config_backend_binary(&c, NULL));
        static const char *const others[] = { "cloud-hypervisor", "firecracker" };
        for (size_t i = 0; i < ELEMENTSOF(others); i++) {
                const char *binary = cocoon_config_backend_binary(&c, others[i]);
                if (hypervisor_find(others[i]))
                        assert_non_null(binary);
                else
                        assert_null(binary);
        }
        cocoon_config_done(&c);

        put(d->conf, "[Manager]\nDefaultBackend=auto\n");
        assert_int_equal(cocoon_config_load(d->conf, &c, NULL), 0);
        assert_string_equal(c.default_backend, "auto");
        cocoon_config_done(&c);

        for (size_t i = 0; i < hypervisor_table_size; i++) {
                _cleanup_free_ char *text = NULL;
                const char *type = hypervisor_table[i]->type;
                assert_true(asprintf(&text, "[Manager]\nDefaultBackend=%s\n", type) > 0);
                put(d->conf, text);
                assert_int_equal(cocoon_config_load(d->conf, &c, NULL), 0);
                assert_string_equal(c.default_backend, hypervisor_table[i]->type);
                assert_non_null(cocoon_config_backend_binary(&c, hypervisor_table[i]->type));
                cocoon_config_done(&c);
        }

        put(d->conf, "[Manager]\nDefaultBackend=xen\n");
        assert_int_equal(cocoon_config_load(d->conf, &c, &error), -EINVAL);
        assert_non_null(strstr(error, ":2: Invalid value for [Manager] DefaultBackend=: \"xen\""));
}

static void test_unknown_ignored(void **state) {
        Dir *d = *state;
        _cleanup_(cocoon_config_done) CocoonConfig c = {};

        put(d->conf,
            "[Manager]\n"
            "FutureKnob=whatever\n"
            "PoolSize=2\n"
            "[Future]\n"
            "PoolSize=not-even-a-number\n"
            "Binary=\n");
        assert_int_equal(cocoon_config_load(d->conf, &c, NULL), 0);
        assert_int_equal(c.pool_size, 2);
        assert_string_equal(c.qemu_binary, "qemu-system-x86_64");

        /* Ignored, but not silently: one warning per unknown key of a known section, one per unknown
         * section (not per key in it), each naming file and line. */
        _cleanup_free_ char *key = NULL, *section = NULL, *in_dropin = NULL;
        assert_true(asprintf(&key, "%s:2: Unknown setting FutureKnob= in [Manager], ignored.", d->conf) > 0);
        assert_true(asprintf(&section, "%s:4: Unknown section [Future], its settings are ignored.",
                             d->conf) > 0);
        assert_int_equal(strv_length(c.warnings), 2);
        assert_string_equal(c.warnings[0], key);
        assert_string_equal(c.warnings[1], section);

        /* Drop-ins add theirs, in the order read. */
        _cleanup_free_ char *p = dropin(d, "10-typo.conf", "[QEMU]\nAcel=kvm\n");
        cocoon_config_done(&c);
        assert_int_equal(cocoon_config_load(d->conf, &c, NULL), 0);
        assert_true(asprintf(&in_dropin, "%s:2: Unknown setting Acel= in [QEMU], ignored.", p) > 0);
        assert_int_equal(strv_length(c.warnings), 3);
        assert_string_equal(c.warnings[2], in_dropin);
        assert_int_equal(c.qemu_accel, ACCEL_AUTO);
}

static void test_dropins_override(void **state) {
        Dir *d = *state;
        _cleanup_(cocoon_config_done) CocoonConfig c = {};
        _cleanup_free_ char *a = NULL, *b = NULL, *off = NULL, *hidden = NULL, *subdir = NULL;

        put(d->conf,
            "[Manager]\nPoolSize=2\nStopTimeoutSec=10\n[QEMU]\nAccel=kvm\n[Network]\nDNS=9.9.9.9\n");
        /* Written in reverse order: the name decides, not the creation order. */
        b = dropin(d, "20-b.conf", "[Manager]\nPoolSize=4\n[Network]\nDNS=\n"); /* empty: none */
        a = dropin(d, "10-a.conf", "[Manager]\nPoolSize=3\nKillGraceSec=9\n");
        off = dropin(d, "30-off.conf.disabled", "[Manager]\nPoolSize=99\n");
        hidden = dropin(d, ".40-hidden.conf", "[Manager]\nPoolSize=98\n");
        subdir = dropin(d, "50-dir.conf", NULL);
        assert_int_equal(mkdir(subdir, 0755), 0);

        assert_int_equal(cocoon_config_load(d->conf, &c, NULL), 0);
        assert_int_equal(c.pool_size, 4);                       /* 20-b over 10-a over the main file */
        assert_int_equal(c.kill_grace_usec, 9 * USEC_PER_SEC);  /* only 10-a sets it */
        assert_int_equal(c.stop_timeout_usec, 10 * USEC_PER_SEC); /* only the main file sets it */
        assert_int_equal(c.qemu_accel, ACCEL_KVM);
        assert_null(c.network_dns);                              /* 20-b emptied the main file's list */
        cocoon_config_done(&c);

        /* Drop-ins apply without a main file too. */
        assert_int_equal(unlink(d->conf), 0);
        assert_int_equal(cocoon_config_load(d->conf, &c, NULL), 0);
        assert_int_equal(c.pool_size, 4);
        assert_int_equal(c.stop_timeout_usec, 30 * USEC_PER_SEC);
}

static void assert_load_error(const char *path, const char *expected) {
        CocoonConfig c = { .pool_size = 12345 };
        _cleanup_free_ char *error = NULL;

        assert_int_equal(cocoon_config_load(path, &c, &error), -EINVAL);
        assert_non_null(error);
        if (!streq(error, expected))
                fail_msg("got \"%s\", expected \"%s\"", error, expected);
        /* Nothing written on failure. */
        assert_int_equal(c.pool_size, 12345);
        assert_null(c.qemu_binary);
}

static void test_errors_with_line_numbers(void **state) {
        Dir *d = *state;
        _cleanup_free_ char *e = NULL, *p = NULL;

        put(d->conf, "# comment\n[Manager]\nStopTimeoutSec=abc\n");
        assert_true(asprintf(&e, "%s:3: Invalid value for [Manager] StopTimeoutSec=: \"abc\"", d->conf) > 0);
        assert_load_error(d->conf, e);
        e = mfree(e);

        put(d->conf, "[Manager]\n\nPoolSize 4\n");
        assert_true(asprintf(&e, "%s:3: Expected [Section] or Key=Value", d->conf) > 0);
        assert_load_error(d->conf, e);
        e = mfree(e);

        put(d->conf, "PoolSize=4\n");
        assert_true(asprintf(&e, "%s:1: PoolSize= outside of a section", d->conf) > 0);
        assert_load_error(d->conf, e);
        e = mfree(e);

        put(d->conf, "[Manager\n");
        assert_true(asprintf(&e, "%s:1: Section header without ']'", d->conf) > 0);
        assert_load_error(d->conf, e);
        e = mfree(e);

        put(d->conf, "[Manager]\n=4\n");
        assert_true(asprintf(&e, "%s:2: Assignment without a key", d->conf) > 0);
        assert_load_error(d->conf, e);
        e = mfree(e);

        /* An error in a drop-in names the drop-in. */
        put(d->conf, "[Manager]\nPoolSize=2\n");
        p = dropin(d, "10-bad.conf", "[QEMU]\n\n\nAccel=hvf\n");
        assert_true(asprintf(&e, "%s:4: Invalid value for [QEMU] Accel=: \"hvf\"", p) > 0);
        assert_load_error(d->conf, e);

        /* Without ret_error the code alone. */
        CocoonConfig c = {};
        assert_int_equal(cocoon_config_load(d->conf, &c, NULL), -EINVAL);
}

static void test_bad_values(void **state) {
        static const char *const bad[] = {
                "[Manager]\nStopTimeoutSec=0\n",
                "[Manager]\nStopTimeoutSec=-5\n",
                "[Manager]\nStopTimeoutSec=30s\n",
                "[Manager]\nStopTimeoutSec=99999999999999999999\n",
                "[Manager]\nKillGraceSec=\n",
                "[Manager]\nPoolSize=0\n",
                "[Manager]\nPoolSize=1025\n",
                "[Manager]\nDefaultBackend=xen\n",
                "[Manager]\nDefaultBackend=Auto\n",
                "[Manager]\nConsoleLogMaxBytes=0\n",
                "[Manager]\nConsoleLogMaxBytes=lots\n",
                "[QEMU]\nAccel=\n",
                "[QEMU]\nBinary=bin/qemu\n",
                "[QEMU]\nBinary=qemu -enable-kvm\n",
                "[QEMU]\nBinary=\n",
                "[Network]\nDNS=8.8.8.8,1.1.1.1\n",
                "[Network]\nDNS=2001:4860:4860::8888\n",
                "[Network]\nDNS=dns.example\n",
                "[CloudHypervisor]\nBinary=ch --x\n",
                "[Firecracker]\nBinary=./firecracker\n",
        };
        Dir *d = *state;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                CocoonConfig c = {};
                _cleanup_free_ char *error = NULL;

                put(d->conf, bad[i]);
                if (cocoon_config_load(d->conf, &c, &error) != -EINVAL)
                        fail_msg("accepted: %s", bad[i]);
                assert_non_null(strstr(error, ":2: Invalid value for"));
        }
}

static void test_good_edge_values(void **state) {
        Dir *d = *state;
        _cleanup_(cocoon_config_done) CocoonConfig c = {};

        put(d->conf, "[Manager]\nPoolSize=1024\nConsoleLogMaxBytes=1G\nDefaultBackend=qemu\n[QEMU]\n"
                     "Accel=auto\n");
        assert_int_equal(cocoon_config_load(d->conf, &c, NULL), 0);
        assert_int_equal(c.pool_size, 1024);
        assert_int_equal(c.console_log_max_bytes, 1024 * 1024 * 1024);
        assert_string_equal(c.default_backend, "qemu");
        assert_int_equal(c.qemu_accel, ACCEL_AUTO);
}

static void test_unreadable_is_an_error(void **state) {
        Dir *d = *state;
        CocoonConfig c = {};
        _cleanup_free_ char *error = NULL;

        /* A directory where the file should be: reading fails, the error names the file. */
        assert_int_equal(mkdir(d->conf, 0755), 0);
        assert_true(cocoon_config_load(d->conf, &c, &error) < 0);
        assert_non_null(error);
        assert_true(strncmp(error, d->conf, strlen(d->conf)) == 0);
}

static void test_accel_strings(void **state) {
        static const char *const names[] = { "auto", "kvm", "tcg" };

        assert_int_equal(ELEMENTSOF(names), _ACCEL_MAX);
        for (int a = 0; a < _ACCEL_MAX; a++) {
                assert_string_equal(accel_to_string(a), names[a]);
                assert_int_equal(accel_from_string(names[a]), a);
        }
        assert_null(accel_to_string(_ACCEL_MAX));
        assert_int_equal(accel_from_string("KVM"), _ACCEL_INVALID);
        assert_int_equal(accel_from_string(NULL), _ACCEL_INVALID);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_missing_file_is_defaults, dir_setup, dir_teardown),
                cmocka_unit_test_setup_teardown(test_empty_and_comments_only, dir_setup, dir_teardown),
                cmocka_unit_test_setup_teardown(test_network_directories, dir_setup, dir_teardown),
                cmocka_unit_test_setup_teardown(test_every_key, dir_setup, dir_teardown),
                cmocka_unit_test_setup_teardown(test_images_section, dir_setup, dir_teardown),
                cmocka_unit_test_setup_teardown(test_unknown_ignored, dir_setup, dir_teardown),
                cmocka_unit_test_setup_teardown(test_backend_settings, dir_setup, dir_teardown),
                cmocka_unit_test_setup_teardown(test_dropins_override, dir_setup, dir_teardown),
                cmocka_unit_test_setup_teardown(test_errors_with_line_numbers, dir_setup, dir_teardown),
                cmocka_unit_test_setup_teardown(test_bad_values, dir_setup, dir_teardown),
                cmocka_unit_test_setup_teardown(test_good_edge_values, dir_setup, dir_teardown),
                cmocka_unit_test_setup_teardown(test_unreadable_is_an_error, dir_setup, dir_teardown),
                cmocka_unit_test(test_accel_strings),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
