/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The blocking half of a restore (worker threads): the restored hypervisor started beside the running one as
 * the VM's other unit, the disks swapped only once it runs; the old unit retired after the record is
 * written. Whatever fails before that leaves the VM exactly as it was: same process, same disks, running. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend.h"
#include "bus-unit.h"
#include "console.h"
#include "cow-disk.h"
#include "fd-util.h"
#include "fs-util.h"
#include "helpers.h"
#include "log.h"
#include "probe.h"

/* Next to each writable disk while a restore runs: the snapshot's copy until it is swapped in, then the
 * disk it replaced until the old hypervisor is gone. The backup's name says which unit has it open (-r: the
 * alternate), so that what a killed manager left is put right from the record alone
 * (backend_restore_recover()). */
#define RESTORE_NEW_SUFFIX ".restore-new"
#define RESTORE_OLD_SUFFIX ".restore-old"
#define RESTORE_OLD_ALTERNATE_SUFFIX ".restore-old-r"
/* The run directory of the alternate unit, inside the VM's own. */
#define ALTERNATE_RUN_SUBDIR "r"

static char *path_with_suffix(const char *path, const char *suffix) {
        char *s;
        return asprintf(&s, "%s%s", path, suffix) < 0 ? NULL : s;
}

int backend_run_dir_for_unit(const VMRecord *r, const char *unit, char **ret) {
        char *s;

        if (!r->run_dir || !r->unit)
                return -EINVAL;
        bool now_alternate = unit_name_is_vm_alternate(r->unit),
             want_alternate = unit_name_is_vm_alternate(unit);
        if (now_alternate == want_alternate)
                s = strdup(r->run_dir);
        else if (want_alternate)
                s = path_with_suffix(r->run_dir, "/" ALTERNATE_RUN_SUBDIR);
        else {
                const char *slash = strrchr(r->run_dir, '/');
                if (!slash || slash == r->run_dir || !streq(slash + 1, ALTERNATE_RUN_SUBDIR))
                        return -EINVAL;
                s = strndup(r->run_dir, (size_t) (slash - r->run_dir));
        }
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

/* The new hypervisor's start: the VM's record with the other unit and run directory, its writable disks at
 * their temp names. */
static int incoming_prepare(BackendWork *w, BackendWork **ret) {
        _cleanup_(backend_work_freep) BackendWork *n = calloc(1, sizeof(BackendWork));
        VMRecord *rec;
        int r;

        if (!n)
                return -ENOMEM;
        n->console_fd = -EBADF;
        if ((r = vm_record_copy(w->record, &n->record)) < 0)
                return r;
        rec = n->record;
        free(rec->unit);
        rec->unit = NULL;
        free(rec->run_dir);
        rec->run_dir = NULL;
        if ((r = unit_name_vm_other(w->record->unit, &rec->unit)) < 0 ||
            (r = backend_run_dir_for_unit(w->record, rec->unit, &rec->run_dir)) < 0)
                return r;
        for (size_t i = 0; i < rec->vm.n_storage_configs; i++) {
                StorageConfig *s = rec->vm.storage_configs + i;
                if (s->read_only)
                        continue;
                char *p = path_with_suffix(s->path, RESTORE_NEW_SUFFIX);
                if (!p)
                        return -ENOMEM;
                free(s->path);
                s->path = p;
        }
        if (!(n->vm_dir = strdup(w->vm_dir)) || !(n->binary = strdup(w->binary)) ||
            !(n->snapshot_dir = strdup(w->snapshot_dir)) ||
            (w->stop_helper && !(n->stop_helper = strdup(w->stop_helper))) ||
            /* CNI NICs: the start asks the network helper whether the namespace and TAPs are there. */
            (w->network_address && !(n->network_address = strdup(w->network_address))) ||
            (w->cni_config_dir && !(n->cni_config_dir = strdup(w->cni_config_dir))) ||
            (w->cni_plugin_dir && !(n->cni_plugin_dir = strdup(w->cni_plugin_dir))))
                return -ENOMEM;
        n->hypervisor = w->hypervisor;
        n->accel = w->accel;
        n->tsc_khz = w->tsc_khz;
        n->kill_grace_usec = w->kill_grace_usec;
        n->timeout_usec = w->timeout_usec;
        n->cancel_fd = w->cancel_fd;
        /* The TAPs are multiqueue: the new QEMU attaches queues of its own beside the running one's, and
         * they are the VM's until both have stopped. */
        n->taps_shared = true;
        *ret = TAKE_PTR(n);
        return 0;
}

/* Removes every temp copy (and, with backups, every backup) of the VM's writable disks. */
static void remove_with_suffix(const VMRecord *rec, const char *suffix) {
        for (size_t i = 0; i < rec->vm.n_storage_configs; i++) {
                const StorageConfig *s = rec->vm.storage_configs + i;
                _cleanup_free_ char *p = NULL;
                if (s->read_only || !(p = path_with_suffix(s->path, suffix)))
                        continue;
                if (unlink(p) < 0 && errno != ENOENT)
                        log_debug_errno(-errno, "Cannot remove %s: %m", p);
        }
}

/* The suffix of the backups of the disks the record's unit (the old one during a restore) has open. */
static const char *old_suffix(const VMRecord *rec) {
        return unit_name_is_vm_alternate(rec->unit) ? RESTORE_OLD_ALTERNATE_SUFFIX : RESTORE_OLD_SUFFIX;
}

/* The snapshot's copy of each writable disk of the VM, at the disk's temp name; the COW grown to the
 * record's storage when that is larger (the start tells the guest). */
static int copy_disks(BackendWork *w, int dir_fd) {
        const VMRecord *rec = w->record;
        for (size_t i = 0; i < rec->vm.n_storage_configs; i++) {
                const StorageConfig *s = rec->vm.storage_configs + i;
                const char *name = strrchr(s->path, '/');
                _cleanup_free_ char *tmp = NULL;
                struct stat st;
                if (s->read_only)
                        continue;
                if (!name || isempty(name + 1))
                        return backend_fail(w, -EINVAL, "disk path %s has no file name", s->path);
                if (!(tmp = path_with_suffix(s->path, RESTORE_NEW_SUFFIX)))
                        return backend_fail(w, -ENOMEM, "out of memory");
                _cleanup_close_ int src = openat(dir_fd, name + 1, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                if (src < 0 || fstat(src, &st) < 0 || !S_ISREG(st.st_mode)) {
                        w->failure = BACKEND_FAILURE_IMAGE;
                        return backend_fail(w, src < 0 ? -errno : -EBADF,
                                            "the snapshot's copy of %s is missing or unusable", name + 1);
                }
                (void) unlink(tmp); /* what an interrupted restore left */
                _cleanup_close_ int dst =
                        open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
                if (dst < 0)
                        return backend_fail(w, -errno, "cannot create %s: %m", tmp);
                int r = cow_disk_copy(src, dst, (uint64_t) st.st_size);
                if (r >= 0 && s->role == STORAGE_ROLE_COW &&
                    rec->vm.config.storage > (uint64_t) st.st_size &&
                    ftruncate(dst, (off_t) rec->vm.config.storage) < 0)
                        r = -errno;
                if (r >= 0 && fsync(dst) < 0)
                        r = -errno;
                if (r < 0)
                        return backend_fail(w, r, "cannot copy %s from the snapshot: %m", name + 1);
        }
        return 0;
}

/* Device state does not cross hypervisor versions reliably: refused before anything is written. */
static int check_version(BackendWork *w) {
        _cleanup_free_ char *version = NULL;
        if (!w->hypervisor_version)
                return 0;
        int r = binary_version(w->binary, &version);
        if (r < 0)
                return backend_fail(w, r, "cannot tell the version of %s: %m", w->binary);
        if (!streq(version, w->hypervisor_version)) {
                w->failure = BACKEND_FAILURE_INCOMPATIBLE;
                return backend_fail(w, -EPROTONOSUPPORT, "the snapshot was taken with %s %s, %s is %s",
                                    w->hypervisor->type, w->hypervisor_version, w->binary, version);
        }
        return 0;
}

/* The new disks in place, the old ones kept under their backup names: the running hypervisor has its files
 * open and does not notice. All or nothing. */
static int swap_disks(BackendWork *w) {
        const VMRecord *rec = w->record;
        size_t i, done = 0;
        int r = 0;

        remove_with_suffix(rec, old_suffix(rec));
        for (i = 0; r >= 0 && i < rec->vm.n_storage_configs; i++) {
                const StorageConfig *s = rec->vm.storage_configs + i;
                _cleanup_free_ char *old = path_with_suffix(s->path, old_suffix(rec));
                if (s->read_only)
                        continue;
                if (!old)
                        r = -ENOMEM;
                else if (link(s->path, old) < 0)
                        r = backend_fail(w, -errno, "cannot keep %s while the restore runs: %m", s->path);
        }
        for (i = 0; r >= 0 && i < rec->vm.n_storage_configs; i++) {
                const StorageConfig *s = rec->vm.storage_configs + i;
                _cleanup_free_ char *tmp = path_with_suffix(s->path, RESTORE_NEW_SUFFIX);
                if (s->read_only)
                        continue;
                if (!tmp)
                        r = -ENOMEM;
                else if (rename(tmp, s->path) < 0)
                        r = backend_fail(w, -errno, "cannot put the restored %s in place: %m", s->path);
                else
                        done = i + 1;
        }
        if (r >= 0)
                return 0;
        /* The ones already swapped go back: their backups are the disks the running guest has open. */
        for (i = 0; i < done; i++) {
                const StorageConfig *s = rec->vm.storage_configs + i;
                _cleanup_free_ char *old = path_with_suffix(s->path, old_suffix(rec));
                if (!s->read_only && old && rename(old, s->path) < 0)
                        log_error_errno(-errno, "Cannot put %s back from %s: %m", s->path, old);
        }
        remove_with_suffix(rec, old_suffix(rec));
        return r;
}

static void remember_console(BackendWork *w) {
        if (w->console_pty_before)
                (void) console_pty_remember(w->record->log_dir, w->console_pty_before);
}

/* The new unit goes: stopped at once, its failed state and sockets cleared. */
static void incoming_stop(BackendWork *w) {
        BackendWork *n = w->incoming;
        if (!n)
                return;
        n->force = true;
        if (backend_stop(n) < 0)
                log_warning("Cannot stop %s after a failed restore: %s", n->record->unit, n->message ?: "?");
        n->console_fd = safe_close(n->console_fd);
}

int backend_restore(BackendWork *w) {
        const VMRecord *rec = w->record;
        int r;

        if (!rec->unit || !rec->log_dir)
                return backend_fail(w, -EINVAL, "the VM's record has no unit");
        /* The second hypervisor attaches queues of its own to the VM's TAPs: only multiqueue ones take it. */
        if (rec->vm.n_network_configs > 0 && !w->hypervisor->taps_multiqueue)
                return backend_fail(w, -EOPNOTSUPP, "%s opens TAPs single-queue: a VM with NICs cannot be "
                                    "restored", w->hypervisor->type);
        if (!w->hypervisor->clone)
                return backend_fail(w, -EOPNOTSUPP, "the %s backend cannot start from a snapshot",
                                    w->hypervisor->type);
        if ((r = check_version(w)) < 0)
                return r;
        _cleanup_close_ int dir_fd = open(w->snapshot_dir, O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (dir_fd < 0) {
                w->failure = BACKEND_FAILURE_IMAGE;
                return backend_fail(w, -errno, "cannot open the snapshot %s: %m", w->snapshot_dir);
        }
        if ((r = incoming_prepare(w, &w->incoming)) < 0)
                return backend_fail(w, r, "cannot prepare the restore: %s", strerror(-r));

        /* The start below remembers the new console; a failure puts the running one's back. */
        _cleanup_free_ char *link = NULL;
        char target[PATH_MAX];
        if (asprintf(&link, "%s/" CONSOLE_PTY_LINK_NAME, rec->log_dir) < 0)
                return backend_fail(w, -ENOMEM, "out of memory");
        ssize_t n = readlink(link, target, sizeof(target) - 1);
        if (n > 0 && !(w->console_pty_before = strndup(target, (size_t) n)))
                return backend_fail(w, -ENOMEM, "out of memory");

        r = copy_disks(w, dir_fd);
        if (r >= 0) {
                r = backend_start(w->incoming);
                if (r < 0) {
                        w->failure = w->incoming->failure;
                        backend_fail(w, r, "the restored hypervisor did not start: %s",
                                     w->incoming->message ?: strerror(-r));
                }
        }
        if (r >= 0 && (r = swap_disks(w)) < 0)
                incoming_stop(w);
        if (r < 0) {
                remove_with_suffix(rec, RESTORE_NEW_SUFFIX);
                remember_console(w);
                return r;
        }
        w->main_pid = w->incoming->main_pid;
        w->console_fd = TAKE_FD(w->incoming->console_fd);
        memcpy(w->invocation_id, w->incoming->invocation_id, sizeof(w->invocation_id));
        return 0;
}

int backend_restore_finish(BackendWork *w) {
        /* The old unit (w->record's) goes at once: its guest's state is what the restore discards. Its TAP
         * queues detach as it exits; the TAPs stay the restored hypervisor's. */
        w->force = true;
        w->taps_shared = true;
        int r = backend_stop(w);
        remove_with_suffix(w->record, old_suffix(w->record));
        return r;
}

int backend_restore_undo(BackendWork *w) {
        const VMRecord *rec = w->record;
        int r = 0;

        incoming_stop(w);
        /* The running guest's disks back under their names. */
        for (size_t i = 0; i < rec->vm.n_storage_configs; i++) {
                const StorageConfig *s = rec->vm.storage_configs + i;
                _cleanup_free_ char *old = path_with_suffix(s->path, old_suffix(rec));
                if (s->read_only)
                        continue;
                if (!old || rename(old, s->path) < 0)
                        r = backend_fail(w, old ? -errno : -ENOMEM, "cannot put %s back: %m", s->path);
        }
        remember_console(w);
        return r;
}

int backend_restore_recover(const VMRecord *rec) {
        bool alternate = unit_name_is_vm_alternate(rec->unit);
        int r = 0;

        for (size_t i = 0; i < rec->vm.n_storage_configs; i++) {
                const StorageConfig *s = rec->vm.storage_configs + i;
                _cleanup_free_ char *new = NULL, *mine = NULL, *other = NULL;
                if (s->read_only)
                        continue;
                new = path_with_suffix(s->path, RESTORE_NEW_SUFFIX);
                mine = path_with_suffix(s->path, alternate ? RESTORE_OLD_ALTERNATE_SUFFIX : RESTORE_OLD_SUFFIX);
                other = path_with_suffix(s->path, alternate ? RESTORE_OLD_SUFFIX : RESTORE_OLD_ALTERNATE_SUFFIX);
                if (!new || !mine || !other)
                        return -ENOMEM;
                /* A copy never swapped in, or the disk of a unit the record no longer names: garbage. */
                if ((unlink(new) < 0 && errno != ENOENT) || (unlink(other) < 0 && errno != ENOENT))
                        r = -errno;
                /* The record's unit has this one open: the swap happened, the record was never switched. */
                if (rename(mine, s->path) < 0 && errno != ENOENT)
                        r = -errno;
        }
        return r;
}
