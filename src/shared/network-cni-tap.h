/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A CNI NIC's TAP inside the VM's network namespace, joined to the CNI veth by tc: an ingress qdisc on each
 * and a match-all u32 filter redirecting (mirred egress) every frame to the other, both ways. The guest
 * takes the veth's MAC and MTU, so that the CNI network sees the guest where the plugin put its interface.
 * Each function works in the calling thread's network namespace (see netns_run()). */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

typedef struct CniTap {
        const char *veth; /* the CNI interface, eth<i> */
        const char *tap; /* tap<i> */
        bool multi_queue;
        uid_t uid; /* owner, so that the unprivileged hypervisor may attach */
        gid_t gid;
        char mac[18]; /* out: the veth's MAC */
} CniTap;

/* Creates (or takes over) the persistent TAP, gives it the veth's MTU, sets both up and installs the
 * redirects; fills t->mac. On failure the TAP is removed again. userdata is a CniTap (for netns_run()). */
int cni_tap_wire(void *userdata);
/* 0 when the TAP exists (and is a TAP), -ENODEV when not. userdata is a CniTap. */
int cni_tap_check(void *userdata);
