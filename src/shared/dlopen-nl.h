/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libnl-3 and libnl-route-3, loaded on first use (see dlopen-util.h): bridge-mode TAPs and CNI TAP redirects
 * over rtnetlink. */
#pragma once

#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/act/mirred.h>
#include <netlink/route/classifier.h>
#include <netlink/route/cls/u32.h>
#include <netlink/route/link.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/tc.h>

#include "dlopen-util.h"

#define DLOPEN_NL_SYMBOLS(X)       \
        X(nl_addr_get_binary_addr) \
        X(nl_addr_get_len)         \
        X(nl_cache_free)           \
        X(nl_cache_get_first)      \
        X(nl_cache_get_next)       \
        X(nl_connect)              \
        X(nl_socket_alloc)         \
        X(nl_socket_free)

DLOPEN_NL_SYMBOLS(DLOPEN_SYM_DECLARE)

#define DLOPEN_NL_ROUTE_SYMBOLS(X)   \
        X(rtnl_act_alloc)            \
        X(rtnl_act_put)              \
        X(rtnl_cls_add)              \
        X(rtnl_cls_alloc)            \
        X(rtnl_cls_put)              \
        X(rtnl_cls_set_prio)         \
        X(rtnl_cls_set_protocol)     \
        X(rtnl_link_alloc)           \
        X(rtnl_link_alloc_cache)     \
        X(rtnl_link_change)          \
        X(rtnl_link_delete)          \
        X(rtnl_link_get_addr)        \
        X(rtnl_link_get_ifindex)     \
        X(rtnl_link_get_kernel)      \
        X(rtnl_link_get_mtu)         \
        X(rtnl_link_get_name)        \
        X(rtnl_link_get_type)        \
        X(rtnl_link_put)             \
        X(rtnl_link_set_flags)       \
        X(rtnl_link_set_master)      \
        X(rtnl_link_set_mtu)         \
        X(rtnl_mirred_set_action)    \
        X(rtnl_mirred_set_ifindex)   \
        X(rtnl_mirred_set_policy)    \
        X(rtnl_qdisc_add)            \
        X(rtnl_qdisc_alloc)          \
        X(rtnl_qdisc_put)            \
        X(rtnl_tc_set_handle)        \
        X(rtnl_tc_set_ifindex)       \
        X(rtnl_tc_set_kind)          \
        X(rtnl_tc_set_parent)        \
        X(rtnl_u32_add_action)       \
        X(rtnl_u32_add_key_uint32)   \
        X(rtnl_u32_set_cls_terminal)

DLOPEN_NL_ROUTE_SYMBOLS(DLOPEN_SYM_DECLARE)

/* 0, or -EOPNOTSUPP when libnl-3.so.200 or libnl-route-3.so.200 cannot be loaded. Thread-safe. */
int dlopen_nl(void);
