/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Bridge-mode NICs on the host: checking a bridge, and the persistent TAP devices QEMU attaches to. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <unistd.h>

#include "dlopen-nl.h"
#include "fd-util.h"
#include "macro.h"
#include "network-netns.h"
#include "network-tap.h"
#include "strv-util.h"

int tap_name_for_nic(const char *id, unsigned index, char ret[static TAP_NAME_MAX + 1]) {
        if (!id || strlen(id) < 8 || index >= VM_NICS_MAX)
                return -EINVAL;
        snprintf(ret, TAP_NAME_MAX + 1, "cocoon%.8s%u", id, index);
        return 0;
}

int mac_random(char ret[static 18]) {
        uint8_t b[6];
        if (getrandom(b, sizeof(b), 0) != (ssize_t) sizeof(b))
                return -EIO;
        /* Locally administered (bit 1), unicast (bit 0 clear): never a vendor's address. */
        b[0] = (uint8_t) ((b[0] & 0xfc) | 0x02);
        snprintf(ret, 18, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
        return 0;
}

int nics_renew(NetworkConfig *nics, size_t n, const char *id) {
        for (size_t i = 0; i < n; i++) {
                char tap[TAP_NAME_MAX + 1], mac[18];
                char *new_tap, *new_mac;

                if (nics[i].backend == NETWORK_BACKEND_CNI) {
                        /* A namespace of its own; MAC and address come from its CNI ADD. */
                        char *netns = NULL;
                        int r = netns_path_for_vm(id, &netns);
                        if (r < 0)
                                return r;
                        free(nics[i].netns_path);
                        nics[i].netns_path = netns;
                        nics[i].mac = mfree(nics[i].mac);
                        nics[i].address = network_address_free(nics[i].address);
                        continue;
                }
                if (nics[i].backend != NETWORK_BACKEND_BRIDGE)
                        continue;
                int r = tap_name_for_nic(id, (unsigned) i, tap);
                if (r >= 0)
                        r = mac_random(mac);
                if (r < 0)
                        return r;
                new_tap = strdup(tap);
                new_mac = strdup(mac);
                if (!new_tap || !new_mac) {
                        free(new_tap);
                        free(new_mac);
                        return -ENOMEM;
                }
                free(nics[i].tap);
                free(nics[i].mac);
                nics[i].tap = new_tap;
                nics[i].mac = new_mac;
        }
        return 0;
}

static void nl_socket_freep(struct nl_sock **s) {
        if (*s)
                sym_nl_socket_free(*s);
}

static void rtnl_link_putp(struct rtnl_link **l) {
        if (*l)
                sym_rtnl_link_put(*l);
}

/* libnl's error codes are its own: the few that mean something to callers become errno values. */
static int nl_error_to_errno(int nlerr) {
        switch (abs(nlerr)) {
        case NLE_OBJ_NOTFOUND:
        case NLE_NODEV:
                return -ENODEV;
        case NLE_PERM:
                return -EPERM;
        case NLE_NOMEM:
                return -ENOMEM;
        case NLE_EXIST:
                return -EEXIST;
        case NLE_INVAL:
        case NLE_RANGE:
                return -EINVAL;
        case NLE_BUSY:
                return -EBUSY;
        default:
                return -EIO;
        }
}

/* Every libnl call here goes through a socket from this. */
static int route_socket(struct nl_sock **ret) {
        int r = dlopen_nl();
        if (r < 0)
                return r;
        _cleanup_(nl_socket_freep) struct nl_sock *s = sym_nl_socket_alloc();
        if (!s)
                return -ENOMEM;
        r = sym_nl_connect(s, NETLINK_ROUTE);
        if (r < 0)
                return nl_error_to_errno(r);
        *ret = TAKE_PTR(s);
        return 0;
}

static int link_get(struct nl_sock *s, const char *name, struct rtnl_link **ret) {
        int r = sym_rtnl_link_get_kernel(s, 0, name, ret);
        return r < 0 ? nl_error_to_errno(r) : 0;
}

static bool link_is_bridge(struct rtnl_link *l) {
        const char *type = sym_rtnl_link_get_type(l);
        return type && streq(type, "bridge");
}

int bridge_check(const char *name) {
        _cleanup_(nl_socket_freep) struct nl_sock *s = NULL;
        _cleanup_(rtnl_link_putp) struct rtnl_link *l = NULL;

        if (!name || strlen(name) == 0 || strlen(name) >= IFNAMSIZ)
                return -EINVAL;
        int r = route_socket(&s);
        if (r < 0)
                return r;
        r = link_get(s, name, &l);
        if (r < 0)
                return r;
        return link_is_bridge(l) ? 0 : -ENOTTY;
}

/* The kernel side of a TAP: TUNSETIFF creates it (or attaches to an existing persistent one), TUNSETOWNER
 * lets the hypervisor's user attach later, TUNSETPERSIST keeps it once this fd closes. */
static int tun_make_persistent(const char *name, bool multi_queue, uid_t uid, gid_t gid) {
        _cleanup_close_ int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
        struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };

        if (fd < 0)
                return -errno;
        if (multi_queue)
                ifr.ifr_flags |= IFF_MULTI_QUEUE;
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
        if (ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETOWNER, (unsigned long) uid) < 0 ||
            ioctl(fd, TUNSETGROUP, (unsigned long) gid) < 0 || ioctl(fd, TUNSETPERSIST, 1UL) < 0)
                return -errno;
        return 0;
}

static int tap_attach(const char *name, const char *bridge) {
        _cleanup_(nl_socket_freep) struct nl_sock *s = NULL;
        _cleanup_(rtnl_link_putp) struct rtnl_link *tap = NULL, *br = NULL, *change = NULL;

        int r = route_socket(&s);
        if (r < 0)
                return r;
        if ((r = link_get(s, bridge, &br)) < 0 || (r = link_get(s, name, &tap)) < 0)
                return r;
        if (!link_is_bridge(br))
                return -ENOTTY;
        change = sym_rtnl_link_alloc();
        if (!change)
                return -ENOMEM;
        /* The bridge's MTU, or the bridge would lower its own to the TAP's. */
        sym_rtnl_link_set_mtu(change, sym_rtnl_link_get_mtu(br));
        sym_rtnl_link_set_master(change, sym_rtnl_link_get_ifindex(br));
        sym_rtnl_link_set_flags(change, IFF_UP);
        r = sym_rtnl_link_change(s, tap, change, 0);
        return r < 0 ? nl_error_to_errno(r) : 0;
}

int tap_create(const char *name, const char *bridge, bool multi_queue, uid_t uid, gid_t gid) {
        if (!name || strlen(name) == 0 || strlen(name) > TAP_NAME_MAX || !bridge)
                return -EINVAL;
        int r = tun_make_persistent(name, multi_queue, uid, gid);
        if (r < 0)
                return r;
        r = tap_attach(name, bridge);
        if (r < 0)
                (void) tap_remove(name);
        return r;
}

int tap_remove(const char *name) {
        _cleanup_(nl_socket_freep) struct nl_sock *s = NULL;
        _cleanup_(rtnl_link_putp) struct rtnl_link *l = NULL;

        int r = route_socket(&s);
        if (r < 0)
                return r;
        r = link_get(s, name, &l);
        if (r == -ENODEV)
                return 0;
        if (r < 0)
                return r;
        /* Only a TAP of ours: a name that is something else now is not ours to delete. */
        const char *type = sym_rtnl_link_get_type(l);
        if (!type || !streq(type, "tun"))
                return -ENOTTY;
        r = sym_rtnl_link_delete(s, l);
        if (r < 0 && nl_error_to_errno(r) == -ENODEV)
                return 0; /* gone meanwhile */
        return r < 0 ? nl_error_to_errno(r) : 1;
}

static void nl_cache_freep(struct nl_cache **c) {
        if (*c)
                sym_nl_cache_free(*c);
}

int tun_links_list(char ***ret) {
        _cleanup_(nl_socket_freep) struct nl_sock *s = NULL;
        _cleanup_(nl_cache_freep) struct nl_cache *cache = NULL;
        _cleanup_strv_free_ char **names = NULL;

        int r = route_socket(&s);
        if (r < 0)
                return r;
        r = sym_rtnl_link_alloc_cache(s, AF_UNSPEC, &cache);
        if (r < 0)
                return nl_error_to_errno(r);
        for (struct nl_object *o = sym_nl_cache_get_first(cache); o; o = sym_nl_cache_get_next(o)) {
                struct rtnl_link *l = (struct rtnl_link *) o;
                const char *type = sym_rtnl_link_get_type(l), *name = sym_rtnl_link_get_name(l);
                if (type && streq(type, "tun") && name && strv_extend(&names, name) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(names);
        return 0;
}

int taps_create(const NetworkConfig *nics, size_t n, bool multiqueue, uid_t uid, gid_t gid,
                const char **ret_bad) {
        for (size_t i = 0; i < n; i++) {
                if (nics[i].backend != NETWORK_BACKEND_BRIDGE)
                        continue;
                int r = tap_create(nics[i].tap, nics[i].bridge_dev, multiqueue || nics[i].num_queues > 2, uid, gid);
                if (r < 0) {
                        (void) taps_remove(nics, i);
                        if (ret_bad)
                                *ret_bad = nics[i].tap;
                        return r;
                }
        }
        return 0;
}

int taps_remove(const NetworkConfig *nics, size_t n) {
        int ret = 0;
        for (size_t i = 0; i < n; i++) {
                if (nics[i].backend != NETWORK_BACKEND_BRIDGE)
                        continue;
                int r = tap_remove(nics[i].tap);
                if (r < 0 && ret == 0)
                        ret = r;
        }
        return ret;
}

bool vhost_net_available(void) {
        return access("/dev/vhost-net", F_OK) == 0;
}
