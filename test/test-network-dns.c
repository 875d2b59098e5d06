/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for network-dns: the DNS server list of cocoon.conf, and what of it reaches the kernel's ip=. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "helpers.h"
#include "network-dns.h"
#include "strv-util.h"

static void assert_parses(const char *value, const char *joined) {
        char **l = (char **) -1;
        assert_int_equal(dns_servers_parse(value, &l), 0);
        _cleanup_free_ char *s = l ? strv_join(l, ",") : strdup("");
        assert_string_equal(s, joined);
        strv_free(l);
}

static void assert_refused(const char *value) {
        char **l = (char **) -1;
        assert_int_equal(dns_servers_parse(value, &l), -EINVAL);
        assert_true(l == (char **) -1); /* untouched */
}

static void test_parse(void **state) {
        assert_parses("8.8.8.8 1.1.1.1", "8.8.8.8,1.1.1.1");
        assert_parses("  10.0.0.53\t\t10.0.0.54  9.9.9.9 ", "10.0.0.53,10.0.0.54,9.9.9.9");
        assert_parses("1.1.1.1 8.8.8.8 1.1.1.1", "1.1.1.1,8.8.8.8"); /* a duplicate is dropped */
        assert_parses("", "");
        assert_parses("   ", "");
        assert_refused("8.8.8");
        assert_refused("8.8.8.8,1.1.1.1"); /* whitespace separates, as in systemd's DNS= */
        assert_refused("::1");
        assert_refused("2001:4860:4860::8888");
        assert_refused("dns.example");
        assert_refused("256.1.1.1");
        assert_refused("0x8.8.8.8");
        assert_refused("8.8.8.8:53");
        assert_int_equal(dns_servers_parse(NULL, &(char **){ NULL }), -EINVAL);
}

/* The guest contract (cocoon-behavior.md 3.1): the configured servers follow each static NIC's ip=, at most
 * two; DHCP NICs keep their index and get no parameter. */
static void test_ip_params_with_dns(void **state) {
        NetworkAddress a0 = { .ip = (char *) "10.22.0.5", .gateway = (char *) "10.22.0.1", .prefix = 16 };
        NetworkAddress a2 = { .ip = (char *) "10.1.0.3", .gateway = (char *) "10.1.0.1", .prefix = 24 };
        NetworkConfig nics[3] = { { .address = &a0 }, {}, { .address = &a2 } };
        char **dns = NULL;
        char *s = NULL;

        assert_int_equal(dns_servers_parse("8.8.8.8 1.1.1.1 9.9.9.9", &dns), 0);
        assert_int_equal(build_ip_params(nics, 1, "web", dns, &s), 0);
        assert_string_equal(s, " cocoon.hostname=web "
                               "ip=10.22.0.5::10.22.0.1:255.255.0.0:web:eth0:off:8.8.8.8:1.1.1.1");
        free(s);
        assert_int_equal(build_ip_params(nics, 3, "web", dns + 2, &s), 0);
        assert_string_equal(s, " cocoon.hostname=web "
                               "ip=10.22.0.5::10.22.0.1:255.255.0.0:web:eth0:off:9.9.9.9 "
                               "ip=10.1.0.3::10.1.0.1:255.255.255.0:web:eth2:off:9.9.9.9");
        free(s);
        strv_free(dns);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse),
                cmocka_unit_test(test_ip_params_with_dns),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
