/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Named network namespaces as iproute2 keeps them (bind mounts under /run/netns, so `ip netns` lists
 * them), and running code inside one. Creating and removing need CAP_SYS_ADMIN in the host's mount
 * namespace: the network helper (cocoon-network) does it, not the sandboxed manager. */
#pragma once

#include <stdbool.h>

#define NETNS_RUN_DIR "/run/netns"
#define NETNS_VM_PREFIX "cocoon-"

/* "cocoon-<id>" and "/run/netns/cocoon-<id>"; -EINVAL for an id that is not a plain name. */
int netns_name_for_vm(const char *id, char **ret);
int netns_path_for_vm(const char *id, char **ret);
/* A name of ours (`cocoon-` and a plain name) that may stand under /run/netns. */
bool netns_name_is_valid(const char *name);

/* Creates /run/netns/<name> holding a new network namespace with its loopback up. -EEXIST when the name is
 * taken; on failure nothing is left. */
int netns_create(const char *name);
/* Unmounts and removes /run/netns/<name>; a missing one is success. */
int netns_remove(const char *name);
/* 1 when /run/netns/<name> is a network namespace, 0 when it is missing or an empty file (a namespace
 * whose bind mount is gone, e.g. after a reboot). */
int netns_exists(const char *name);

/* Runs fn(userdata) in a thread of its own that joined the network namespace at path (so the caller's
 * namespace never changes); returns what fn returned. */
int netns_run(const char *path, int (*fn)(void *userdata), void *userdata);
