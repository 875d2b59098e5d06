/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* DNS servers for guests with static NICs: the list cocoon.conf's [Network] DNS= gives, and the part of it
 * the kernel's ip= parameter can carry. */
#pragma once

/* The kernel's ip= has two name server slots: servers beyond these are not passed to the guest. */
#define DNS_SERVERS_GUEST_MAX 2U

/* Parses a whitespace-separated list of IPv4 addresses (dotted quads; the kernel's ip= takes no IPv6)
 * into *ret, in order, duplicates dropped. An empty value is an empty list (*ret = NULL). -EINVAL for
 * anything that is not an IPv4 address. */
int dns_servers_parse(const char *value, char ***ret);
