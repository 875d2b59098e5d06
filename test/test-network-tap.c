/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for bridge-mode NIC helpers: TAP names, MACs, bridge checks (creating TAPs needs a network
 * namespace of its own: test/integration/test-network-bridge.sh does that in the sandbox). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "network-tap.h"
#include "strv-util.h"

static void test_tap_name(void **state) {
        char name[TAP_NAME_MAX + 1];

        assert_int_equal(tap_name_for_nic("abcdefghijklmnopqrstuvwxyz", 0, name), 0);
        assert_string_equal(name, "cocoonabcdefgh0");
        assert_int_equal(tap_name_for_nic("abcdefghijklmnopqrstuvwxyz", VM_NICS_MAX - 1, name), 0);
        assert_string_equal(name, "cocoonabcdefgh7");
        assert_int_equal(strlen(name), TAP_NAME_MAX);
        assert_int_equal(tap_name_for_nic("abcdefghijklmnopqrstuvwxyz", VM_NICS_MAX, name), -EINVAL);
        assert_int_equal(tap_name_for_nic("abc", 0, name), -EINVAL);
        assert_int_equal(tap_name_for_nic(NULL, 0, name), -EINVAL);
}

static void test_mac_random(void **state) {
        char a[18], b[18];

        assert_int_equal(mac_random(a), 0);
        assert_int_equal(mac_random(b), 0);
        assert_int_equal(strlen(a), 17);
        assert_string_not_equal(a, b);
        for (size_t i = 0; i < 17; i++)
                assert_true(i % 3 == 2 ? a[i] == ':' : strchr("0123456789abcdef", a[i]) != NULL);
        unsigned first;
        assert_int_equal(sscanf(a, "%2x", &first), 1);
        assert_int_equal(first & 0x03, 0x02); /* locally administered, unicast */
}

static void test_bridge_check(void **state) {
        /* Read-only netlink queries: loopback exists in every namespace and is no bridge. */
        assert_int_equal(bridge_check("lo"), -ENOTTY);
        assert_int_equal(bridge_check("cocoonnosuchbr"), -ENODEV);
        assert_int_equal(bridge_check(""), -EINVAL);
        assert_int_equal(bridge_check("a-name-that-is-too-long"), -EINVAL);
        assert_int_equal(bridge_check(NULL), -EINVAL);
        /* Removing what is not there is success; what is no TAP is not ours to remove. */
        assert_int_equal(tap_remove("cocoonnosuchtap"), 0);
        assert_int_equal(tap_remove("lo"), -ENOTTY);
}

/* A clone's NICs: TAP names of the new id, MACs new and still locally administered, the rest kept; CNI
 * ones in the clone's namespace. */
static void test_nics_renew(void **state) {
        NetworkConfig nics[3] = {
                { .backend = NETWORK_BACKEND_BRIDGE, .tap = strdup("cocoonsourceid0"),
                  .mac = strdup("02:00:00:00:00:01"), .bridge_dev = strdup("br0"), .num_queues = 4 },
                { .backend = NETWORK_BACKEND_CNI, .tap = strdup("tapother"),
                  .mac = strdup("02:00:00:00:00:02"), .netns_path = strdup("/run/netns/cocoon-source") },
                { .backend = NETWORK_BACKEND_BRIDGE, .tap = strdup("cocoonsourceid2"),
                  .mac = strdup("02:00:00:00:00:03"), .bridge_dev = strdup("br1") },
        };

        assert_int_equal(nics_renew(nics, 3, "clonedidabcdefghijklmnopqr"), 0);
        assert_string_equal(nics[0].tap, "cocoonclonedid0");
        assert_string_equal(nics[2].tap, "cocoonclonedid2");
        assert_string_not_equal(nics[0].mac, "02:00:00:00:00:01");
        assert_string_not_equal(nics[2].mac, "02:00:00:00:00:03");
        assert_string_not_equal(nics[0].mac, nics[2].mac);
        unsigned first;
        assert_int_equal(sscanf(nics[0].mac, "%2x", &first), 1);
        assert_int_equal(first & 0x03, 0x02);
        assert_string_equal(nics[0].bridge_dev, "br0");
        assert_string_equal(nics[2].bridge_dev, "br1");
        assert_int_equal(nics[0].num_queues, 4);
        /* A CNI NIC: the clone's namespace, no MAC or address until its own ADD; its TAP name is per
         * namespace, so it stays. */
        assert_string_equal(nics[1].tap, "tapother");
        assert_null(nics[1].mac);
        assert_null(nics[1].address);
        assert_string_equal(nics[1].netns_path, "/run/netns/cocoon-clonedidabcdefghijklmnopqr");
        assert_int_equal(nics_renew(nics, 3, "short"), -EINVAL);
        for (size_t i = 0; i < 3; i++)
                network_config_done(&nics[i]);
}

static void test_tun_links_list(void **state) {
        char **names = (char **) -1;
        /* Read-only too: whatever TAPs this namespace has, loopback is none of them. */
        assert_int_equal(tun_links_list(&names), 0);
        assert_true(names != (char **) -1);
        assert_false(strv_contains(names, "lo"));
        strv_free(names);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_tap_name),
                cmocka_unit_test(test_mac_random),
                cmocka_unit_test(test_bridge_check),
                cmocka_unit_test(test_tun_links_list),
                cmocka_unit_test(test_nics_renew),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
