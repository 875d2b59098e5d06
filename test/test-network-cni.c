/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for CNI networks: conflist checks and loading, result parsing (0.4.0 and 1.0.0 formats), and the
 * plugin chain run against small shell-script plugins that log what they were given. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fs-util.h"
#include "json-util.h"
#include "network-cni.h"

static char dir[] = "/tmp/test-network-cni-XXXXXX";
static char conf_dir[128], plugin_dir[128], log_path[128];

static void write_file(const char *path, const char *text, mode_t mode) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
        assert_int_equal(fchmod(fd, mode), 0);
        close(fd);
}

static void write_in(const char *d, const char *name, const char *text, mode_t mode) {
        char path[256];
        snprintf(path, sizeof(path), "%s/%s", d, name);
        write_file(path, text, mode);
}

/* A plugin that logs "<command> <type> <ifname> <args> <has prevResult>" and answers ADD with a result
 * (or passes prevResult on); "fail" answers every ADD with a CNI error. */
static const char plugin_script[] =
        "#!/bin/sh\n"
        "input=$(cat)\n"
        "prev=no; case \"$input\" in *prevResult*) prev=yes;; esac\n"
        "echo \"$CNI_COMMAND $(basename \"$0\") $CNI_IFNAME $CNI_ARGS $prev $CNI_CONTAINERID\" "
        ">>\"$(dirname \"$0\")/../log\"\n"
        "[ \"$CNI_COMMAND\" = ADD ] || exit 0\n"
        "case $(basename \"$0\") in\n"
        "fail) echo '{\"cniVersion\":\"1.0.0\",\"code\":11,\"msg\":\"no more "
        "addresses\",\"details\":\"pool\"}';"
        " exit 1;;\n"
        "garbage) echo 'this is not json'; exit 0;;\n"
        "esac\n"
        "if [ $prev = yes ]; then echo \"$input\" | sed 's/.*\"prevResult\"://; s/}$//'; exit 0; fi\n"
        "echo '{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"br9\",\"mac\":\"aa:bb:cc:dd:ee:01\"},"
        "{\"name\":\"'$CNI_IFNAME'\",\"mac\":\"0A:58:0A:16:00:05\",\"sandbox\":\"'$CNI_NETNS'\"}],"
        "\"ips\":[{\"address\":\"fd00::5/64\",\"interface\":1},{\"address\":\"10.22.0.5/16\","
        "\"gateway\":\"10.22.0.1\",\"interface\":1}],\"dns\":{\"nameservers\":[\"8.8.8.8\",\"::1\"]}}'\n";

static int setup(void **state) {
        assert_non_null(mkdtemp(dir));
        snprintf(conf_dir, sizeof(conf_dir), "%s/net.d", dir);
        snprintf(plugin_dir, sizeof(plugin_dir), "%s/bin", dir);
        snprintf(log_path, sizeof(log_path), "%s/log", dir);
        assert_int_equal(mkdir(conf_dir, 0755), 0);
        assert_int_equal(mkdir(plugin_dir, 0755), 0);
        write_in(plugin_dir, "ipam", plugin_script, 0755);
        write_in(plugin_dir, "pass", plugin_script, 0755);
        write_in(plugin_dir, "fail", plugin_script, 0755);
        write_in(plugin_dir, "garbage", plugin_script, 0755);
        write_in(plugin_dir, "notexec", plugin_script, 0644);
        return 0;
}

static int teardown(void **state) {
        (void) rm_rf(dir);
        return 0;
}

static char *read_log(void) {
        char *text = NULL;
        size_t size;
        if (read_full_file(log_path, &text, &size) < 0)
                return strdup("");
        (void) unlink(log_path);
        return text;
}

#define CONFLIST(name, plugins) "{\"cniVersion\":\"1.0.0\",\"name\":\"" name "\",\"plugins\":[" plugins "]}"

static void test_conflist_parse(void **state) {
        static const char *const bad[] = {
                "",
                "[]",
                "{\"name\":\"x\"}",
                CONFLIST("", "{\"type\":\"bridge\"}"),
                CONFLIST("bad name", "{\"type\":\"bridge\"}"),
                CONFLIST("n", ""),
                CONFLIST("n", "{\"type\":\"../../bin/sh\"}"),
                CONFLIST("n", "{\"type\":\"/bin/sh\"}"),
                CONFLIST("n", "{\"type\":\".hidden\"}"),
                CONFLIST("n", "{\"type\":1}"),
                CONFLIST("n", "{}"),
                CONFLIST("n", "\"bridge\""),
                "{\"cniVersion\":\"0.2.0\",\"name\":\"n\",\"plugins\":[{\"type\":\"bridge\"}]}",
                "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"disableCheck\":\"yes\",\"plugins\":[{\"type\":"
                "\"b\"}]}",
                "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"name\":\"m\",\"plugins\":[{\"type\":\"b\"}]}",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                CniConflist *c = NULL;
                char *error = NULL;
                assert_true(cni_conflist_parse(bad[i], strlen(bad[i]), &c, &error) < 0);
                assert_null(c);
                assert_non_null(error);
                free(error);
        }

        _cleanup_(cni_conflist_freep) CniConflist *c = NULL;
        const char *good = "{\"cniVersion\":\"0.4.0\",\"name\":\"net-1.a_b\",\"disableCheck\":true,"
                           "\"plugins\":[{\"type\":\"bridge\",\"bridge\":\"cni0\"},{\"type\":\"portmap\"}]}";
        assert_int_equal(cni_conflist_parse(good, strlen(good), &c, NULL), 0);
        assert_string_equal(c->name, "net-1.a_b");
        assert_string_equal(c->cni_version, "0.4.0");
        assert_true(c->disable_check);
        assert_int_equal(json_object_array_length(c->plugins), 2);

        assert_true(cni_version_has_check("0.4.0"));
        assert_true(cni_version_has_check("1.0.0"));
        assert_false(cni_version_has_check("0.3.1"));
        assert_false(cni_version_has_check("9.9.9"));
}

static void test_conflist_load(void **state) {
        _cleanup_(cni_conflist_freep) CniConflist *c = NULL;
        _cleanup_free_ char *error = NULL;

        assert_int_equal(cni_conflist_load(conf_dir, plugin_dir, NULL, &c, &error), -ENOENT);
        assert_non_null(strstr(error, "no *.conflist"));
        error = mfree(error);

        write_in(conf_dir, "20-second.conflist", CONFLIST("second", "{\"type\":\"ipam\"}"), 0644);
        write_in(conf_dir, "10-first.conflist", CONFLIST("first", "{\"type\":\"ipam\"},{\"type\":\"pass\"}"),
                 0644);
        write_in(conf_dir, "30-missing.conflist", CONFLIST("missing", "{\"type\":\"nosuchplugin\"}"), 0644);
        write_in(conf_dir, "40-notexec.conflist", CONFLIST("notexec", "{\"type\":\"notexec\"}"), 0644);
        write_in(conf_dir, "50-broken.conflist", "{", 0644);
        write_in(conf_dir, "05-ignored.conf", CONFLIST("ignored", "{\"type\":\"ipam\"}"), 0644);

        /* The first by file name; another by its name. */
        assert_int_equal(cni_conflist_load(conf_dir, plugin_dir, NULL, &c, NULL), 0);
        assert_string_equal(c->name, "first");
        assert_non_null(strstr(c->path, "10-first.conflist"));
        c = cni_conflist_free(c);
        assert_int_equal(cni_conflist_load(conf_dir, plugin_dir, "second", &c, NULL), 0);
        assert_string_equal(c->name, "second");
        c = cni_conflist_free(c);

        assert_int_equal(cni_conflist_load(conf_dir, plugin_dir, "ignored", &c, &error), -ENOENT);
        assert_non_null(strstr(error, "no CNI network 'ignored'"));
        assert_non_null(strstr(error, "50-broken.conflist"));
        error = mfree(error);
        assert_int_equal(cni_conflist_load(conf_dir, plugin_dir, "missing", &c, &error), -EINVAL);
        assert_non_null(strstr(error, "plugin 'nosuchplugin'"));
        error = mfree(error);
        assert_int_equal(cni_conflist_load(conf_dir, plugin_dir, "notexec", &c, &error), -EINVAL);
        error = mfree(error);
        assert_int_equal(cni_conflist_load("/nonexistent-cni-dir", plugin_dir, NULL, &c, &error), -ENOENT);
        assert_null(c);
}

static void test_result_parse(void **state) {
        _cleanup_(cni_result_freep) CniResult *r = NULL;
        /* 0.4.0: ips carry a version; the first IPv4 wins, IPv6 is skipped. */
        const char *v040 =
                "{\"cniVersion\":\"0.4.0\",\"interfaces\":[{\"name\":\"cni0\",\"mac\":\"aa:aa:aa:aa:aa:aa\"}"
                ","
                "{\"name\":\"eth0\",\"mac\":\"0a:58:0a:58:00:02\",\"sandbox\":\"/run/netns/x\"}],"
                "\"ips\":[{\"version\":\"6\",\"address\":\"fd00::2/64\"},{\"version\":\"4\","
                "\"address\":\"10.88.0.2/16\",\"gateway\":\"10.88.0.1\",\"interface\":1},"
                "{\"version\":\"4\",\"address\":\"10.99.0.2/24\"}],\"routes\":[{\"dst\":\"0.0.0.0/0\"}],"
                "\"dns\":{}}";
        assert_int_equal(cni_result_parse(v040, strlen(v040), "eth0", &r, NULL), 0);
        assert_string_equal(r->ip, "10.88.0.2");
        assert_int_equal(r->prefix, 16);
        assert_string_equal(r->gateway, "10.88.0.1");
        assert_string_equal(r->mac, "0a:58:0a:58:00:02");
        assert_null(r->dns);
        r = cni_result_free(r);

        /* 1.0.0, no gateway, DNS; the MAC of another interface name is not taken. */
        const char *v100 =
                "{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"eth1\",\"mac\":\"0A:58:0A:58:00:03\","
                "\"sandbox\":\"/run/netns/x\"}],\"ips\":[{\"address\":\"192.168.1.7/24\"}],"
                "\"dns\":{\"nameservers\":[\"1.1.1.1\",\"fd00::53\",\"9.9.9.9\"]}}";
        assert_int_equal(cni_result_parse(v100, strlen(v100), "eth0", &r, NULL), 0);
        assert_string_equal(r->ip, "192.168.1.7");
        assert_null(r->gateway);
        assert_null(r->mac);
        assert_string_equal(r->dns[0], "1.1.1.1");
        assert_string_equal(r->dns[1], "9.9.9.9");
        assert_null(r->dns[2]);
        r = cni_result_free(r);
        assert_int_equal(cni_result_parse(v100, strlen(v100), "eth1", &r, NULL), 0);
        assert_string_equal(r->mac, "0a:58:0a:58:00:03");
        r = cni_result_free(r);

        /* No IPAM: no address, the guest uses DHCP. */
        const char *none = "{\"cniVersion\":\"1.0.0\"}";
        assert_int_equal(cni_result_parse(none, strlen(none), "eth0", &r, NULL), 0);
        assert_null(r->ip);
        r = cni_result_free(r);

        static const char *const bad[] = {
                "",
                "null",
                "[]",
                "{\"cniVersion\":\"0.2.0\"}",
                "{}",
                "{\"cniVersion\":\"1.0.0\",\"ips\":{}}",
                "{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.0.0.1\"}]}",
                "{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.0.0.1/33\"}]}",
                "{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.0.0.256/24\"}]}",
                "{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.0.0.1/24\",\"gateway\":\"x\"}]}",
                "{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.0.0.1/24 \"}]}",
                "{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"eth0\",\"mac\":\"zz:zz:zz:zz:zz:zz\"}"
                "]}",
                "{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"mac\":\"aa:aa:aa:aa:aa:aa\"}]}",
                "{\"cniVersion\":\"1.0.0\",\"dns\":{\"nameservers\":[1]}}",
                "{\"cniVersion\":\"1.0.0\",\"dns\":[]}",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char *error = NULL;
                assert_true(cni_result_parse(bad[i], strlen(bad[i]), "eth0", &r, &error) < 0);
                assert_null(r);
                assert_non_null(error);
                free(error);
        }
}

static void test_error_message(void **state) {
        const char *e = "{\"cniVersion\":\"1.0.0\",\"code\":7,\"msg\":\"bad\",\"details\":\"worse\"}";
        _cleanup_free_ char *m = cni_error_message(e, strlen(e));
        assert_string_equal(m, "bad: worse (code 7)");
        assert_null(cni_error_message("oops", 4));
        assert_null(cni_error_message("{\"code\":1}", 10));
}

static CniConflist *conflist(const char *text) {
        CniConflist *c = NULL;
        assert_int_equal(cni_conflist_parse(text, strlen(text), &c, NULL), 0);
        return c;
}

static void test_chain(void **state) {
        _cleanup_(cni_conflist_freep) CniConflist *c =
                conflist(CONFLIST("net", "{\"type\":\"ipam\"},{\"type\":\"pass\"}"));
        _cleanup_(cni_result_freep) CniResult *r = NULL;
        _cleanup_free_ char *error = NULL, *log = NULL;
        CniRuntime rt = {.plugin_dir = plugin_dir,
                         .container_id = "VMID",
                         .netns = "/run/netns/cocoon-x",
                         .ifname = "eth0",
                         .args = "IgnoreUnknown=1;IP=10.22.0.5"};

        /* ADD in order, the second with the first's result; the final result is read. */
        assert_int_equal(cni_add(c, &rt, &r, &error), 0);
        assert_string_equal(r->ip, "10.22.0.5");
        assert_int_equal(r->prefix, 16);
        assert_string_equal(r->gateway, "10.22.0.1");
        assert_string_equal(r->mac, "0a:58:0a:16:00:05");
        assert_string_equal(r->dns[0], "8.8.8.8");
        log = read_log();
        assert_string_equal(log, "ADD ipam eth0 IgnoreUnknown=1;IP=10.22.0.5 no VMID\n"
                                 "ADD pass eth0 IgnoreUnknown=1;IP=10.22.0.5 yes VMID\n");
        log = mfree(log);

        /* DEL in reverse, each with prevResult; CHECK in order. */
        assert_int_equal(cni_del(c, &rt, r->json, &error), 0);
        log = read_log();
        assert_string_equal(log, "DEL pass eth0 IgnoreUnknown=1;IP=10.22.0.5 yes VMID\n"
                                 "DEL ipam eth0 IgnoreUnknown=1;IP=10.22.0.5 yes VMID\n");
        log = mfree(log);
        assert_int_equal(cni_check(c, &rt, r->json, &error), 0);
        log = read_log();
        assert_string_equal(log, "CHECK ipam eth0 IgnoreUnknown=1;IP=10.22.0.5 yes VMID\n"
                                 "CHECK pass eth0 IgnoreUnknown=1;IP=10.22.0.5 yes VMID\n");
}

static void test_chain_failure(void **state) {
        _cleanup_(cni_conflist_freep) CniConflist *c =
                conflist(CONFLIST("net", "{\"type\":\"ipam\"},{\"type\":\"fail\"}"));
        _cleanup_(cni_conflist_freep) CniConflist *g = conflist(CONFLIST("net", "{\"type\":\"garbage\"}"));
        _cleanup_(cni_conflist_freep) CniConflist *old =
                conflist("{\"cniVersion\":\"0.3.1\",\"name\":\"old\",\"plugins\":[{\"type\":\"ipam\"}]}");
        CniResult *r = NULL;
        _cleanup_free_ char *error = NULL, *log = NULL;
        CniRuntime rt = {.plugin_dir = plugin_dir,
                         .container_id = "VMID",
                         .netns = "/run/netns/cocoon-x",
                         .ifname = "eth1"};

        /* The second plugin fails: its message comes back, and both are deleted in reverse. */
        assert_int_equal(cni_add(c, &rt, &r, &error), -EPROTO);
        assert_null(r);
        assert_string_equal(error,
                            "network 'net': plugin fail (ADD) failed: no more addresses: pool (code 11)");
        log = read_log();
        assert_string_equal(log, "ADD ipam eth1  no VMID\nADD fail eth1  yes VMID\n"
                                 "DEL fail eth1  yes VMID\nDEL ipam eth1  yes VMID\n");
        log = mfree(log);
        error = mfree(error);

        assert_int_equal(cni_add(g, &rt, &r, &error), -EBADMSG);
        assert_non_null(strstr(error, "plugin garbage answered ADD with garbage"));
        error = mfree(error);
        log = mfree(read_log());

        /* A plugin that is not there. */
        CniRuntime nowhere = rt;
        nowhere.plugin_dir = "/nonexistent-cni-bin";
        assert_int_equal(cni_add(old, &nowhere, &r, &error), -ENOENT);
        assert_non_null(strstr(error, "cannot run plugin ipam"));
        error = mfree(error);

        /* 0.3.1 has no CHECK: nothing runs. */
        assert_int_equal(cni_check(old, &rt, NULL, &error), 0);
        log = read_log();
        assert_string_equal(log, "");
}

static void test_timeout(void **state) {
        _cleanup_(cni_conflist_freep) CniConflist *c = conflist(CONFLIST("slow", "{\"type\":\"sleepy\"}"));
        _cleanup_free_ char *error = NULL;
        CniResult *r = NULL;
        write_in(plugin_dir, "sleepy", "#!/bin/sh\nexec sleep 30\n", 0755);
        CniRuntime rt = {.plugin_dir = plugin_dir,
                         .container_id = "VMID",
                         .netns = "/x",
                         .ifname = "eth0",
                         .timeout_usec = 200 * 1000};
        assert_int_equal(cni_add(c, &rt, &r, &error), -ETIMEDOUT);
        assert_non_null(strstr(error, "did not answer in time"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_conflist_parse), cmocka_unit_test(test_conflist_load),
                cmocka_unit_test(test_result_parse),   cmocka_unit_test(test_error_message),
                cmocka_unit_test(test_chain),          cmocka_unit_test(test_chain_failure),
                cmocka_unit_test(test_timeout),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
