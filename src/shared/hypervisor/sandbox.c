/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Where a VM's hypervisor is confined: its unprivileged user, the files it may see, and their ownership. */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "console.h"
#include "fd-util.h"
#include "helpers.h"
#include "hypervisor.h"
#include "network-tap.h"
#include "sandbox.h"
#include "strv-util.h"

void hypervisor_sandbox_done(UnitSandbox *sb) {
        if (!sb)
                return;
        strv_free(sb->hidden_paths);
        strv_free(sb->bind_paths);
        strv_free(sb->bind_read_only_paths);
        strv_free(sb->bind_redirects);
        strv_free(sb->device_allow);
        *sb = (UnitSandbox) {};
}

/* <root>/vms/<id> -> <root>: the directory that holds every VM's (and the manager's) files of that kind. */
static int vm_dir_root(const char *dir, const char *id, char **ret) {
        size_t n = strlen(dir), k = strlen(id);

        while (n > 1 && dir[n - 1] == '/')
                n--;
        if (n < k + 6 || strncmp(dir + n - k, id, k) != 0 || strncmp(dir + n - k - 5, "/vms/", 5) != 0)
                return -EINVAL;
        n -= k + 5;
        if (n == 0 || dir[0] != '/')
                return -EINVAL; /* never hide "/" */
        char *s = strndup(dir, n);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

static int add_hidden_root(UnitSandbox *sb, const char *dir, const char *id) {
        _cleanup_free_ char *root = NULL;
        int r = vm_dir_root(dir, id, &root);
        if (r < 0)
                return r;
        if (strv_contains(sb->hidden_paths, root))
                return 0;
        return strv_extend(&sb->hidden_paths, root);
}

static int add_unique(char ***l, const char *path) {
        if (!path || !*path || strv_contains(*l, path))
                return 0;
        return strv_extend(l, path);
}

static const char *const kvm_devices[] = { "/dev/kvm", "/dev/ptmx", "char-pts" };
static const char *const pty_devices[] = { "/dev/ptmx", "char-pts" };

/* NICs: QEMU attaches to the TAPs through /dev/net/tun (and vhost-net with KVM), in the manager's network
 * namespace where bridge-mode TAPs are. */
static int sandbox_add_nics(const VMRecord *rec, Accel accel, UnitSandbox *sb) {
        int r;

        if (rec->vm.n_network_configs == 0)
                return 0;
        for (size_t i = 0; i < rec->vm.n_network_configs; i++)
                if (rec->vm.network_configs[i].backend == NETWORK_BACKEND_BRIDGE)
                        sb->host_network = true;
        if ((r = add_unique(&sb->device_allow, "/dev/net/tun")) < 0)
                return r;
        if (accel == ACCEL_KVM && vhost_net_available() &&
            (r = add_unique(&sb->device_allow, "/dev/vhost-net")) < 0)
                return r;
        /* Devices switch PrivateDevices= off, which brought the console's pty. */
        for (size_t i = 0; i < ELEMENTSOF(pty_devices); i++)
                if ((r = add_unique(&sb->device_allow, pty_devices[i])) < 0)
                        return r;
        return 0;
}

static int sandbox_fill(const VMRecord *rec, const char *vm_dir, Accel accel, UnitSandbox *sb) {
        const char *id = rec->vm.id;
        int r;

        if (!id || !rec->run_dir || !rec->log_dir || !vm_dir)
                return -EINVAL;
        /* Every VM's files, the manager's socket and records, other VMs' disks and consoles: out of sight,
         * even though all hypervisors share one user. */
        if ((r = add_hidden_root(sb, vm_dir, id)) < 0)
                return r;
        /* The run directory of the VM's alternate unit is <run>/vms/<id>/<sub> (backend-restore.c). */
        r = add_hidden_root(sb, rec->run_dir, id);
        if (r == -EINVAL) {
                _cleanup_free_ char *parent = strdup(rec->run_dir);
                char *slash = parent ? strrchr(parent, '/') : NULL;
                if (!parent)
                        return -ENOMEM;
                if (slash)
                        *slash = 0;
                r = add_hidden_root(sb, parent, id);
        }
        if (r < 0 || (r = add_hidden_root(sb, rec->log_dir, id)) < 0)
                return r;

        /* Its sockets go to the run directory, the console's output to the spool; its own output reaches
         * the journal through systemd. */
        _cleanup_free_ char *spool = NULL;
        if (asprintf(&spool, "%s/" CONSOLE_SPOOL_NAME, rec->log_dir) < 0)
                return -ENOMEM;
        if ((r = add_unique(&sb->bind_paths, rec->run_dir)) < 0 ||
            (r = add_unique(&sb->bind_paths, spool)) < 0)
                return r;
        for (size_t i = 0; i < rec->vm.n_storage_configs; i++) {
                const StorageConfig *s = rec->vm.storage_configs + i;
                r = add_unique(s->read_only ? &sb->bind_read_only_paths : &sb->bind_paths, s->path);
                if (r < 0)
                        return r;
        }
        const Hypervisor *h = hypervisor_find(rec->vm.backend);
        if (h && h->state_by_path) {
                _cleanup_free_ char *exchange = NULL;
                if (asprintf(&exchange, "%s/%s", vm_dir, VMM_STATE_DIR_NAME) < 0)
                        return -ENOMEM;
                if ((r = add_unique(&sb->bind_paths, exchange)) < 0)
                        return r;
        }
        if (rec->boot_config) {
                const BootConfig *b = rec->boot_config;
                if ((r = add_unique(&sb->bind_read_only_paths, b->kernel_path)) < 0 ||
                    (r = add_unique(&sb->bind_read_only_paths, b->initrd_path)) < 0 ||
                    (r = add_unique(&sb->bind_read_only_paths, b->firmware_path)) < 0)
                        return r;
        }

        /* With devices at all, PrivateDevices= is off: the console's pty needs allowing then
         * (PrivateDevices= brings /dev/ptmx and the pty slaves of its own accord). */
        if (accel == ACCEL_KVM)
                for (size_t i = 0; i < ELEMENTSOF(kvm_devices); i++)
                        if ((r = strv_extend(&sb->device_allow, kvm_devices[i])) < 0)
                                return r;
        if ((r = sandbox_add_nics(rec, accel, sb)) < 0)
                return r;
        sb->allow_write_execute = accel != ACCEL_KVM; /* TCG translates guest code into W+X pages */
        sb->user = HYPERVISOR_USER;
        return 0;
}

int hypervisor_sandbox_build(const VMRecord *rec, const char *vm_dir, Accel accel, UnitSandbox *ret) {
        UnitSandbox sb = {};

        if (!rec || !ret)
                return -EINVAL;
        int r = sandbox_fill(rec, vm_dir, accel, &sb);
        if (r < 0) {
                hypervisor_sandbox_done(&sb);
                return r;
        }
        *ret = sb;
        return 0;
}

int hypervisor_user_lookup(uid_t *ret_uid, gid_t *ret_gid) {
        _cleanup_free_ char *buf = NULL;
        struct passwd pw, *result = NULL;
        long size = sysconf(_SC_GETPW_R_SIZE_MAX);
        size_t n = size > 0 ? (size_t) size : 4096;

        for (;;) {
                free(buf);
                buf = malloc(n);
                if (!buf)
                        return -ENOMEM;
                int r = getpwnam_r(HYPERVISOR_USER, &pw, buf, n, &result);
                if (r == ERANGE && n < 1024 * 1024) {
                        n *= 2;
                        continue;
                }
                if (r != 0)
                        return -r;
                if (!result)
                        return -ESRCH;
                *ret_uid = pw.pw_uid;
                *ret_gid = pw.pw_gid;
                return 0;
        }
}

/* Opens path without following a symlink and makes it uid:gid with mode, if it is of the given type. */
static int own_path(const char *path, int flags, mode_t type, mode_t mode, uid_t uid, gid_t gid) {
        _cleanup_close_ int fd = open(path, flags | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        struct stat st;

        if (fd < 0 || fstat(fd, &st) < 0)
                return negative_errno();
        if ((st.st_mode & S_IFMT) != type)
                return type == S_IFDIR ? -ENOTDIR : -EBADFD;
        if ((st.st_uid != uid || st.st_gid != gid) && fchown(fd, uid, gid) < 0)
                return negative_errno();
        if ((st.st_mode & 07777) != mode && fchmod(fd, mode) < 0)
                return negative_errno();
        return 0;
}

/* The console spool, created if missing (it keeps what earlier runs printed and no relay took yet). */
static int create_spool(const char *log_dir, uid_t uid, gid_t gid) {
        _cleanup_free_ char *spool = NULL;
        if (!log_dir || asprintf(&spool, "%s/" CONSOLE_SPOOL_NAME, log_dir) < 0)
                return -ENOMEM;
        _cleanup_close_ int fd = open(spool, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
        if (fd < 0)
                return negative_errno();
        fd = safe_close(fd);
        return own_path(spool, O_RDONLY, S_IFREG, 0600, uid, gid);
}

int hypervisor_sandbox_own_files(const VMRecord *rec, char **ret_bad_path) {
        const char *bad = NULL;
        uid_t uid = (uid_t) -1;
        gid_t gid = (gid_t) -1;
        int r;

        if (!rec || !rec->run_dir)
                return -EINVAL;
        r = hypervisor_user_lookup(&uid, &gid);
        if (r < 0)
                return r;

        r = own_path(rec->run_dir, O_RDONLY | O_DIRECTORY, S_IFDIR, 0700, uid, gid);
        if (r < 0)
                bad = rec->run_dir;
        if (r >= 0) {
                r = create_spool(rec->log_dir, uid, gid);
                if (r < 0)
                        bad = rec->log_dir;
        }
        for (size_t i = 0; r >= 0 && i < rec->vm.n_storage_configs; i++) {
                const StorageConfig *s = rec->vm.storage_configs + i;
                if (s->read_only)
                        continue;
                r = own_path(s->path, O_RDONLY, S_IFREG, 0600, uid, gid);
                if (r < 0)
                        bad = s->path;
        }
        if (r < 0 && ret_bad_path)
                *ret_bad_path = strdup(bad);
        return r;
}
