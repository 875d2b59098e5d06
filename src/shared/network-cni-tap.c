/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A CNI NIC's TAP in the VM's network namespace, joined to the CNI veth by tc mirred redirects. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_ether.h>
#include <linux/if_tun.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/tc_act/tc_mirred.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "dlopen-nl.h"
#include "fd-util.h"
#include "macro.h"
#include "network-cni-tap.h"

static void nl_socket_freep(struct nl_sock **s) {
        if (*s)
                sym_nl_socket_free(*s);
}
static void rtnl_link_putp(struct rtnl_link **l) {
        if (*l)
                sym_rtnl_link_put(*l);
}
static void rtnl_qdisc_putp(struct rtnl_qdisc **q) {
        if (*q)
                sym_rtnl_qdisc_put(*q);
}
static void rtnl_cls_putp(struct rtnl_cls **c) {
        if (*c)
                sym_rtnl_cls_put(*c);
}
static void rtnl_act_putp(struct rtnl_act **a) {
        if (*a)
                sym_rtnl_act_put(*a);
}

static int nl_errno(int nlerr) {
        switch (abs(nlerr)) {
        case NLE_OBJ_NOTFOUND:
        case NLE_NODEV:
                return -ENODEV;
        case NLE_EXIST:
                return -EEXIST;
        case NLE_PERM:
                return -EPERM;
        case NLE_NOMEM:
                return -ENOMEM;
        case NLE_OPNOTSUPP:
                return -EOPNOTSUPP;
        default:
                return -EIO;
        }
}

static int tun_persist(const CniTap *t) {
        _cleanup_close_ int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
        struct ifreq ifr = {.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR};
        if (fd < 0)
                return -errno;
        if (t->multi_queue)
                ifr.ifr_flags |= IFF_MULTI_QUEUE;
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", t->tap);
        if (ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETOWNER, (unsigned long) t->uid) < 0 ||
            ioctl(fd, TUNSETGROUP, (unsigned long) t->gid) < 0 || ioctl(fd, TUNSETPERSIST, 1UL) < 0)
                return -errno;
        return 0;
}

static int tun_remove(const char *name) {
        _cleanup_close_ int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
        struct ifreq ifr = {.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR};
        if (fd < 0)
                return -errno;
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
        if (ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETPERSIST, 0UL) < 0)
                return -errno;
        return 0;
}

static int ingress_qdisc_add(struct nl_sock *s, int ifindex) {
        _cleanup_(rtnl_qdisc_putp) struct rtnl_qdisc *q = sym_rtnl_qdisc_alloc();
        if (!q)
                return -ENOMEM;
        sym_rtnl_tc_set_ifindex(TC_CAST(q), ifindex);
        sym_rtnl_tc_set_parent(TC_CAST(q), TC_H_INGRESS);
        sym_rtnl_tc_set_handle(TC_CAST(q), TC_HANDLE(0xffff, 0));
        int r = sym_rtnl_tc_set_kind(TC_CAST(q), "ingress");
        if (r < 0)
                return nl_errno(r);
        r = sym_rtnl_qdisc_add(s, q, NLM_F_CREATE);
        /* Taken over from an earlier run: it is the same qdisc. */
        return r < 0 && nl_errno(r) != -EEXIST ? nl_errno(r) : 0;
}

/* Every frame that enters from gets sent out of to: a u32 filter matching everything (0/0 at offset 0;
 * this kernel has no matchall classifier) with a mirred egress redirect. */
static int redirect_add(struct nl_sock *s, int from, int to) {
        _cleanup_(rtnl_cls_putp) struct rtnl_cls *c = sym_rtnl_cls_alloc();
        _cleanup_(rtnl_act_putp) struct rtnl_act *a = sym_rtnl_act_alloc();
        int r;

        if (!c || !a)
                return -ENOMEM;
        sym_rtnl_tc_set_ifindex(TC_CAST(c), from);
        sym_rtnl_tc_set_parent(TC_CAST(c), TC_HANDLE(0xffff, 0));
        sym_rtnl_cls_set_protocol(c, ETH_P_ALL);
        sym_rtnl_cls_set_prio(c, 1);
        if ((r = sym_rtnl_tc_set_kind(TC_CAST(c), "u32")) < 0 ||
            (r = sym_rtnl_tc_set_kind(TC_CAST(a), "mirred")) < 0)
                return nl_errno(r);
        sym_rtnl_mirred_set_action(a, TCA_EGRESS_REDIR);
        sym_rtnl_mirred_set_policy(a, TC_ACT_STOLEN);
        sym_rtnl_mirred_set_ifindex(a, (uint32_t) to);
        if ((r = sym_rtnl_u32_add_key_uint32(c, 0, 0, 0, 0)) < 0 || (r = sym_rtnl_u32_set_cls_terminal(c)) < 0 ||
            (r = sym_rtnl_u32_add_action(c, a)) < 0)
                return nl_errno(r);
        r = sym_rtnl_cls_add(s, c, NLM_F_CREATE | NLM_F_EXCL);
        return r < 0 && nl_errno(r) != -EEXIST ? nl_errno(r) : 0;
}

static int wire(CniTap *t) {
        _cleanup_(nl_socket_freep) struct nl_sock *s = NULL;
        _cleanup_(rtnl_link_putp) struct rtnl_link *veth = NULL, *tap = NULL, *change = NULL;
        int r;

        if ((r = dlopen_nl()) < 0)
                return r;
        if (!(s = sym_nl_socket_alloc()))
                return -ENOMEM;
        if ((r = sym_nl_connect(s, NETLINK_ROUTE)) < 0)
                return nl_errno(r);
        if ((r = sym_rtnl_link_get_kernel(s, 0, t->veth, &veth)) < 0 ||
            (r = sym_rtnl_link_get_kernel(s, 0, t->tap, &tap)) < 0)
                return nl_errno(r);
        struct nl_addr *a = sym_rtnl_link_get_addr(veth);
        if (!a || sym_nl_addr_get_len(a) != 6)
                return -EADDRNOTAVAIL;
        const uint8_t *m = sym_nl_addr_get_binary_addr(a);
        snprintf(t->mac, sizeof(t->mac), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
                 m[5]);

        if (!(change = sym_rtnl_link_alloc()))
                return -ENOMEM;
        /* The veth's MTU: the CNI network's (a bridge plugin may lower it for an overlay). */
        sym_rtnl_link_set_mtu(change, sym_rtnl_link_get_mtu(veth));
        sym_rtnl_link_set_flags(change, IFF_UP);
        if ((r = sym_rtnl_link_change(s, tap, change, 0)) < 0)
                return nl_errno(r);
        sym_rtnl_link_put(change);
        if (!(change = sym_rtnl_link_alloc()))
                return -ENOMEM;
        sym_rtnl_link_set_flags(change, IFF_UP);
        if ((r = sym_rtnl_link_change(s, veth, change, 0)) < 0)
                return nl_errno(r);

        int v = sym_rtnl_link_get_ifindex(veth), p = sym_rtnl_link_get_ifindex(tap);
        if ((r = ingress_qdisc_add(s, v)) < 0 || (r = ingress_qdisc_add(s, p)) < 0 ||
            (r = redirect_add(s, v, p)) < 0 || (r = redirect_add(s, p, v)) < 0)
                return r;
        return 0;
}

int cni_tap_wire(void *userdata) {
        CniTap *t = userdata;
        int r = tun_persist(t);
        if (r < 0)
                return r;
        r = wire(t);
        if (r < 0)
                (void) tun_remove(t->tap);
        return r;
}

int cni_tap_check(void *userdata) {
        CniTap *t = userdata;
        _cleanup_(nl_socket_freep) struct nl_sock *s = NULL;
        _cleanup_(rtnl_link_putp) struct rtnl_link *l = NULL;
        int r;

        if ((r = dlopen_nl()) < 0)
                return r;
        if (!(s = sym_nl_socket_alloc()))
                return -ENOMEM;
        if ((r = sym_nl_connect(s, NETLINK_ROUTE)) < 0)
                return nl_errno(r);
        if ((r = sym_rtnl_link_get_kernel(s, 0, t->tap, &l)) < 0)
                return nl_errno(r);
        const char *type = sym_rtnl_link_get_type(l);
        return type && streq(type, "tun") ? 0 : -ENODEV;
}
