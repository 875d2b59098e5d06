/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for gc-network: which namespaces and lease files gc finds, and of which network. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../src/cocoon-manager/gc-network.h"
#include "fs-util.h"
#include "macro.h"
#include "strv-util.h"

#define ID_A "aaaaaaaaaaaaaaaaaaaaaaaaaa"
#define ID_B "bbbbbbbbbbbbbbbbbbbbbbbbbb"
#define ID_C "cccccccccccccccccccccccccc"

static char tmp[64];

static void put(const char *rel, const char *content) {
        _cleanup_free_ char *path = NULL, *dir = NULL;
        assert_true(asprintf(&path, "%s/%s", tmp, rel) > 0);
        dir = strdup(path);
        assert_non_null(dir);
        *strrchr(dir, '/') = 0;
        assert_int_equal(mkdir_p(dir, 0700), 0);
        assert_int_equal(write_file_atomic_at(AT_FDCWD, path, content, strlen(content), 0600), 0);
}

static const GcLease *find(const GcNetworkFound *f, const char *suffix) {
        for (size_t i = 0; i < f->n_leases; i++) {
                size_t n = strlen(f->leases[i].path), k = strlen(suffix);
                if (n >= k && streq(f->leases[i].path + n - k, suffix))
                        return f->leases + i;
        }
        return NULL;
}

static void test_list(void **state) {
        _cleanup_free_ char *netns = NULL, *conf = NULL, *defaults = NULL, *data = NULL, *text = NULL;
        _cleanup_strv_free_ char **ids = NULL;
        GcNetworkFound f = {};

        strcpy(tmp, "/tmp/test-gc-network-XXXXXX");
        assert_non_null(mkdtemp(tmp));
        assert_true(asprintf(&netns, "%s/netns", tmp) > 0);
        assert_true(asprintf(&conf, "%s/net.d", tmp) > 0);
        assert_true(asprintf(&defaults, "%s/networks", tmp) > 0);
        assert_true(asprintf(&data, "%s/ipam", tmp) > 0);
        put("netns/cocoon-" ID_A, "");
        put("netns/cocoon-not-an-id", "");
        put("netns/other", "");
        /* A conflist with host-local in a dataDir of its own, one with the default dataDir, a broken one. */
        assert_true(asprintf(&text,
                             "{\"cniVersion\":\"1.0.0\",\"name\":\"mine\",\"plugins\":[{\"type\":\"bridge\","
                             "\"ipam\":{\"type\":\"host-local\",\"dataDir\":\"%s\"}}]}",
                             data) > 0);
        put("net.d/10-mine.conflist", text);
        put("net.d/20-def.conflist",
            "{\"cniVersion\":\"1.0.0\",\"name\":\"def\",\"plugins\":[{\"type\":\"ptp\","
            "\"ipam\":{\"type\":\"host-local\"}}]}");
        put("net.d/30-bad.conflist", "{");
        put("ipam/mine/10.0.0.2", ID_B "\r\neth1");
        put("ipam/mine/10.0.0.3", "not-an-id\r\neth0");
        put("ipam/mine/last_reserved_ip.0", "10.0.0.3");
        put("ipam/mine/lock", "");
        put("networks/def/10.1.0.2", ID_C);
        put("networks/gone/10.2.0.2", ID_A "\r\neth0");

        assert_int_equal(gc_network_list(netns, conf, defaults, &f), 0);
        assert_int_equal(strv_length(f.netns_ids), 1);
        assert_string_equal(f.netns_ids[0], ID_A);
        assert_int_equal(f.n_leases, 3);
        const GcLease *l = find(&f, "/ipam/mine/10.0.0.2");
        assert_non_null(l);
        assert_string_equal(l->id, ID_B);
        assert_string_equal(l->network, "mine");
        assert_string_equal(l->ifname, "eth1");
        l = find(&f, "/networks/def/10.1.0.2");
        assert_non_null(l);
        assert_string_equal(l->id, ID_C);
        assert_string_equal(l->network, "def");
        assert_null(l->ifname);
        l = find(&f, "/networks/gone/10.2.0.2");
        assert_non_null(l);
        assert_string_equal(l->id, ID_A);
        assert_null(l->network); /* no conflist: removed as a file */

        assert_int_equal(gc_network_found_ids(&f, &ids), 0);
        assert_int_equal(strv_length(ids), 3); /* A once, though it has a namespace and a lease */
        assert_true(strv_contains(ids, ID_A) && strv_contains(ids, ID_B) && strv_contains(ids, ID_C));
        gc_network_found_done(&f);

        /* Nothing there at all: nothing found, no error. */
        assert_int_equal(
                gc_network_list("/nonexistent/netns", "/nonexistent/conf", "/nonexistent/leases", &f), 0);
        assert_null(f.netns_ids);
        assert_int_equal(f.n_leases, 0);
        assert_int_equal(rm_rf(tmp), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_list),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
