/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Named network namespaces under /run/netns, and running code inside one. */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fd-util.h"
#include "macro.h"
#include "network-netns.h"

#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif

bool netns_name_is_valid(const char *name) {
        size_t n = name ? strlen(name) : 0;
        if (n <= strlen(NETNS_VM_PREFIX) || n > 64 ||
            strncmp(name, NETNS_VM_PREFIX, strlen(NETNS_VM_PREFIX)) != 0)
                return false;
        for (const char *p = name; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                      *p == '-' || *p == '_'))
                        return false;
        return true;
}

int netns_name_for_vm(const char *id, char **ret) {
        char *s;
        if (asprintf(&s, NETNS_VM_PREFIX "%s", id ?: "") < 0)
                return -ENOMEM;
        if (!netns_name_is_valid(s)) {
                free(s);
                return -EINVAL;
        }
        *ret = s;
        return 0;
}

int netns_path_for_vm(const char *id, char **ret) {
        _cleanup_free_ char *name = NULL;
        int r = netns_name_for_vm(id, &name);
        if (r < 0)
                return r;
        return asprintf(ret, NETNS_RUN_DIR "/%s", name) < 0 ? -ENOMEM : 0;
}

/* iproute2's arrangement: /run/netns is a mount point with shared propagation, so that namespaces bound
 * there show in every mount namespace that shares it (also ones created later). */
static int run_dir_prepare(void) {
        if (mkdir(NETNS_RUN_DIR, 0755) < 0 && errno != EEXIST)
                return -errno;
        if (mount("", NETNS_RUN_DIR, "none", MS_SHARED | MS_REC, NULL) >= 0)
                return 0;
        if (errno != EINVAL)
                return -errno;
        if (mount(NETNS_RUN_DIR, NETNS_RUN_DIR, "none", MS_BIND | MS_REC, NULL) < 0 ||
            mount("", NETNS_RUN_DIR, "none", MS_SHARED | MS_REC, NULL) < 0)
                return -errno;
        return 0;
}

static void loopback_up(void) {
        _cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        struct ifreq ifr = {.ifr_name = "lo"};
        if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
                return;
        ifr.ifr_flags |= IFF_UP;
        (void) ioctl(fd, SIOCSIFFLAGS, &ifr);
}

/* In a thread of its own: a new network namespace for this thread only, bound onto the file. */
static void *create_thread(void *userdata) {
        const char *path = userdata;
        char self[64];
        if (unshare(CLONE_NEWNET) < 0)
                return (void *) (intptr_t) -errno;
        loopback_up();
        snprintf(self, sizeof(self), "/proc/self/task/%ld/ns/net", (long) syscall(SYS_gettid));
        if (mount(self, path, "none", MS_BIND, NULL) < 0)
                return (void *) (intptr_t) -errno;
        return NULL;
}

int netns_create(const char *name) {
        _cleanup_free_ char *path = NULL;
        pthread_t t;
        void *result;

        if (!netns_name_is_valid(name))
                return -EINVAL;
        if (asprintf(&path, NETNS_RUN_DIR "/%s", name) < 0)
                return -ENOMEM;
        int r = run_dir_prepare();
        if (r < 0)
                return r;
        int fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
        if (fd < 0)
                return -errno;
        safe_close(fd);
        r = -pthread_create(&t, NULL, create_thread, path);
        if (r >= 0) {
                r = -pthread_join(t, &result);
                if (r >= 0)
                        r = (int) (intptr_t) result;
        }
        if (r < 0)
                (void) unlink(path);
        return r;
}

int netns_remove(const char *name) {
        _cleanup_free_ char *path = NULL;
        if (!netns_name_is_valid(name))
                return -EINVAL;
        if (asprintf(&path, NETNS_RUN_DIR "/%s", name) < 0)
                return -ENOMEM;
        /* MNT_DETACH, as iproute2: a process still holding it keeps the namespace, not the name. */
        if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
                return -errno;
        if (unlink(path) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

int netns_exists(const char *name) {
        _cleanup_free_ char *path = NULL;
        struct statfs sf;
        if (!netns_name_is_valid(name))
                return -EINVAL;
        if (asprintf(&path, NETNS_RUN_DIR "/%s", name) < 0)
                return -ENOMEM;
        if (statfs(path, &sf) < 0)
                return errno == ENOENT ? 0 : -errno;
        return sf.f_type == NSFS_MAGIC;
}

typedef struct NetnsCall {
        int fd;
        int (*fn)(void *userdata);
        void *userdata;
} NetnsCall;

static void *run_thread(void *userdata) {
        NetnsCall *c = userdata;
        if (setns(c->fd, CLONE_NEWNET) < 0)
                return (void *) (intptr_t) -errno;
        return (void *) (intptr_t) c->fn(c->userdata);
}

int netns_run(const char *path, int (*fn)(void *userdata), void *userdata) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        NetnsCall c = {.fn = fn, .userdata = userdata};
        pthread_t t;
        void *result;

        if (fd < 0)
                return -errno;
        c.fd = fd;
        int r = -pthread_create(&t, NULL, run_thread, &c);
        if (r < 0)
                return r;
        r = -pthread_join(t, &result);
        return r < 0 ? r : (int) (intptr_t) result;
}
