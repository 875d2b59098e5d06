/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The hypervisor layer's shared Backend part: the blocking half of every VM operation, in worker threads. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include "backend.h"
#include "bus-unit.h"
#include "console.h"
#include "cow-disk.h"
#include "fd-util.h"
#include "fs-util.h"
#include "helpers.h"
#include "json-util.h"
#include "kernel-extract.h"
#include "log.h"
#include "network-tap.h"
#include "sandbox.h"
#include "snapshot-store.h"
#include "strv-util.h"
#include "time-util.h"
#include "unit-journal.h"

extern char **environ;

/* Generous: a loaded host (eight TCG guests starting on two cores) takes seconds to answer, and a hypervisor
 * that dies is noticed at once anyway (wait_for_socket watches its PID, QMP sees the socket close). */
#define HYPERVISOR_SOCKET_TIMEOUT_USEC (30 * USEC_PER_SEC)
#define QMP_TIMEOUT_USEC (30 * USEC_PER_SEC)
/* How long a resumed guest's links stay down at least and at most, and how often the manager looks whether
 * the guest took its NICs' MACs meanwhile (start_wait_guest_nics()). */
#define LINK_DOWN_MIN_USEC (200 * USEC_PER_MSEC)
#define LINK_DOWN_MAX_USEC (10 * USEC_PER_SEC)
#define LINK_DOWN_POLL_USEC (100 * USEC_PER_MSEC)
#define COW_FILE_NAME "cow.raw"
#define fail backend_fail
/* Loading a multi-GiB state under TCG on a loaded host. */
#define SNAPSHOT_LOAD_TIMEOUT_USEC (30 * 60 * USEC_PER_SEC)

static const char *const runtime_files[] = {
        API_SOCKET_NAME, STOP_TIMEOUT_FILE_NAME, MEMORY_FILE_NAME, CONSOLE_INPUT_FIFO_NAME, NULL,
};

void backend_work_free(BackendWork *w) {
        if (!w)
                return;
        vm_record_free(w->record);
        free(w->vm_dir);
        free(w->binary);
        free(w->stop_helper);
        free(w->message);
        free(w->snapshot_dir);
        free(w->hypervisor_version);
        strv_free(w->links);
        strv_free(w->dns);
        strv_free(w->removed_links);
        free(w->network_address);
        free(w->cni_config_dir);
        free(w->cni_plugin_dir);
        safe_close(w->console_fd);
        backend_work_free(w->incoming);
        free(w->console_pty_before);
        free(w);
}

int backend_fail(BackendWork *w, int r, const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        free(w->message);
        errno = -r;
        if (vasprintf(&w->message, format, ap) < 0)
                w->message = NULL;
        va_end(ap);
        return r;
}

static const StorageConfig *find_role(const VMRecord *r, StorageRole role) {
        for (size_t i = 0; i < r->vm.n_storage_configs; i++)
                if (r->vm.storage_configs[i].role == role)
                        return r->vm.storage_configs + i;
        return NULL;
}

/* A sparse raw file with an empty ext4 file system: the guest's writable layer. Copied from a template in
 * <state>/cache (vm_dir is <state>/vms/<id>). */
static int create_cow_disk(BackendWork *w, const char *path, uint64_t size) {
        _cleanup_free_ char *cache_dir = NULL;
        if (asprintf(&cache_dir, "%s/../../cache", w->vm_dir) < 0)
                return fail(w, -ENOMEM, "out of memory");
        int r = cow_disk_create(cache_dir, path, size);
        if (r < 0)
                return fail(w, r, "cannot create the COW disk %s: %m", path);
        return 0;
}

static int create_disks(BackendWork *w) {
        const VMRecord *rec = w->record;
        int r;

        if ((r = mkdir_p(w->vm_dir, 0700)) < 0)
                return fail(w, r, "cannot create %s: %m", w->vm_dir);
        if ((r = mkdir_p(rec->log_dir, 0700)) < 0)
                return fail(w, r, "cannot create %s: %m", rec->log_dir);

        _cleanup_free_ char *bad_path = NULL;
        r = verify_base_files(rec->vm.storage_configs, rec->vm.n_storage_configs, rec->boot_config, &bad_path);
        if (r < 0) {
                w->failure = BACKEND_FAILURE_IMAGE;
                return fail(w, r, "image file %s is missing or unusable: %m", bad_path ?: "?");
        }

        const StorageConfig *cow = find_role(rec, STORAGE_ROLE_COW);
        if (cow)
                return create_cow_disk(w, cow->path, rec->vm.config.storage);
        return 0;
}

int backend_create(BackendWork *w) {
        int r = create_disks(w);
        if (r >= 0)
                r = backend_network_add(w);
        if (r < 0) {
                /* Nothing stays behind a failed create: the disk and log directory go here, the placeholder
                 * record (and with it the empty VM directory) on the event loop. */
                const StorageConfig *cow = find_role(w->record, STORAGE_ROLE_COW);
                if (cow)
                        (void) unlink(cow->path);
                (void) rm_rf(w->record->log_dir);
        }
        return r;
}

static int open_bus(BackendWork *w, sd_bus **ret) {
        int r = sd_bus_open_system(ret);
        if (r < 0)
                return fail(w, r, "cannot connect to systemd: %m");
        return 0;
}

static int pidfd_open_compat(pid_t pid) {
        return (int) syscall(SYS_pidfd_open, pid, 0);
}

/* Waits for pid to exit, up to timeout_usec. 1: exited, 0: timed out, -ECANCELED: cancel_fd fired. */
static int wait_for_exit(pid_t pid, int cancel_fd, uint64_t timeout_usec) {
        _cleanup_close_ int pidfd = pidfd_open_compat(pid);
        if (pidfd < 0)
                return errno == ESRCH ? 1 : -errno;

        struct pollfd p[2] = { { .fd = pidfd, .events = POLLIN }, { .fd = cancel_fd, .events = POLLIN } };
        uint64_t deadline = now_usec(CLOCK_MONOTONIC) + timeout_usec;
        for (;;) {
                uint64_t now = now_usec(CLOCK_MONOTONIC);
                if (now >= deadline)
                        return 0;
                int k = poll(p, cancel_fd >= 0 ? 2 : 1,
                             (int) MIN((deadline - now) / USEC_PER_MSEC + 1, (uint64_t) INT32_MAX));
                if (k < 0 && errno != EINTR)
                        return -errno;
                if (k > 0 && p[0].revents)
                        return 1;
                if (k > 0 && p[1].revents)
                        return -ECANCELED;
        }
}

/* The one message of a hypervisor that died during start-up, whichever step noticed it. */
#define HYPERVISOR_EXITED_MESSAGE "the hypervisor exited during start-up"
/* How many of its last lines a failed start quotes, and how long journald may take to have them. */
#define START_FAILURE_LINES 10
#define START_FAILURE_JOURNAL_WAIT_USEC (2 * USEC_PER_SEC)
/* A step that failed because the hypervisor is exiting (its sockets closed first) sees it gone by then. */
#define START_FAILURE_EXIT_WAIT_USEC (1 * USEC_PER_SEC)

/* A start that failed once the unit ran: the message gets what the hypervisor said last (from the journal,
 * which callers of the API cannot read), or where to look. */
static void start_failure_add_output(BackendWork *w, uint64_t since) {
        const VMRecord *rec = w->record;
        _cleanup_strv_free_ char **lines = NULL;
        _cleanup_free_ char *output = NULL, *message = NULL;

        int r = unit_journal_tail(rec->unit, w->invocation_id, since, START_FAILURE_LINES,
                                  START_FAILURE_JOURNAL_WAIT_USEC, &lines);
        if (r < 0)
                log_debug_errno(r, "Cannot read the journal of %s: %m", rec->unit);
        if (lines && !(output = unit_journal_format(lines)))
                return;
        if (output && *output)
                r = asprintf(&message, "%s; its last output (journalctl -u %s):\n%s", w->message ?: "failed",
                             rec->unit, output);
        else
                r = asprintf(&message, "%s; see journalctl -u %s", w->message ?: "failed", rec->unit);
        if (r < 0)
                return;
        free(w->message);
        w->message = TAKE_PTR(message);
}

/* <vm_dir>/VMM_STATE_DIR_NAME for a backend with state_by_path, else NULL (*ret untouched: 0). */
static int exchange_path(BackendWork *w, char **ret) {
        if (!w->hypervisor->state_by_path)
                return 0;
        return asprintf(ret, "%s/%s", w->vm_dir, VMM_STATE_DIR_NAME) < 0 ? -ENOMEM : 0;
}

/* The directory the hypervisor saves and loads its state in: empty for each start (a stale state of an
 * earlier run must not be restored), its own. Emptied in place, never replaced: during a restore the VM's
 * running hypervisor has this directory bound into its sandbox, and keeps it if the restore fails (a new
 * directory would leave it writing its next snapshot where nobody looks). */
static int exchange_prepare(BackendWork *w) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        uid_t uid;
        gid_t gid;
        int r = exchange_path(w, &path);
        if (r < 0 || !path)
                return r;
        if ((r = hypervisor_user_lookup(&uid, &gid)) < 0)
                return r;
        if (mkdir(path, 0700) < 0 && errno != EEXIST)
                return -errno;
        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        if (fchown(fd, uid, gid) < 0 || fchmod(fd, 0700) < 0)
                return -errno;
        DIR *d = fdopendir(fd);
        if (!d)
                return -errno;
        TAKE_FD(fd);
        for (struct dirent *de; (de = readdir(d));)
                if (!streq(de->d_name, ".") && !streq(de->d_name, "..") && r >= 0)
                        r = rm_rf_at(dirfd(d), de->d_name);
        closedir(d);
        return r;
}

/* A clone: the guest's state from the snapshot, through the hypervisor's API, before it may run. */
static int start_load_snapshot(BackendWork *w) {
        _cleanup_close_ int dir_fd = open(w->snapshot_dir, O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        _cleanup_free_ char *error = NULL;
        if (dir_fd < 0)
                return fail(w, -errno, "cannot open the snapshot %s: %m", w->snapshot_dir);
        if (!w->hypervisor->clone)
                return fail(w, -EOPNOTSUPP, "the %s backend cannot start from a snapshot",
                            w->hypervisor->type);
        _cleanup_free_ char *exchange = NULL;
        int r = exchange_path(w, &exchange);
        if (r < 0)
                return fail(w, r, "out of memory");
        /* The memory file decides how the state was saved (x-ignore-shared or not). */
        HypervisorSnapshotDir dir = {
                .path = w->snapshot_dir, .fd = dir_fd, .exchange = exchange, .record = w->record,
                .memory_file = faccessat(dir_fd, SNAPSHOT_MEMORY_FILE, F_OK, AT_SYMLINK_NOFOLLOW) >= 0,
        };
        r = w->hypervisor->clone(w->record->run_dir, &dir, SNAPSHOT_LOAD_TIMEOUT_USEC, &error);
        if (r < 0)
                return fail(w, r, "%s could not load the snapshot: %s", w->hypervisor->type,
                            error ?: strerror(-r));
        /* A COW disk grown for the clone: the saved guest still knows the old size until told. */
        for (size_t i = 0; w->hypervisor->disk_grown && i < w->record->vm.n_storage_configs; i++) {
                const StorageConfig *s = w->record->vm.storage_configs + i;
                struct stat st;
                if (s->role != STORAGE_ROLE_COW || stat(s->path, &st) < 0)
                        continue;
                error = mfree(error);
                r = w->hypervisor->disk_grown(w->record->run_dir, i, (uint64_t) st.st_size, QMP_TIMEOUT_USEC,
                                              &error);
                if (r < 0)
                        return fail(w, r, "%s could not take the new size of %s: %s", w->hypervisor->type,
                                    s->path, error ?: strerror(-r));
        }
        return 0;
}

/* Where the guest's RAM lives (HypervisorLaunch.memory_file): a booted guest's in a tmpfs file of its run
 * directory, which must have room for all of it (a full tmpfs would kill the guest on its next new page);
 * a clone of a snapshot with a memory file maps that file privately; a clone of a stream snapshot has
 * anonymous RAM (loading the stream into a tmpfs file would allocate every page of it, zeros included). */
static int memory_file_prepare(BackendWork *w, char **ret_path, bool *ret_private) {
        const VMRecord *rec = w->record;
        _cleanup_free_ char *path = NULL;
        struct statvfs sv;

        *ret_private = w->snapshot_dir != NULL;
        /* File-backed guest RAM is QEMU's (memory-backend-file); the others keep their own. */
        if (w->hypervisor != &hypervisor_qemu) {
                *ret_path = NULL;
                *ret_private = false;
                return 0;
        }
        if (w->snapshot_dir) {
                if (asprintf(&path, "%s/" SNAPSHOT_MEMORY_FILE, w->snapshot_dir) < 0)
                        return fail(w, -ENOMEM, "out of memory");
                _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
                if (fd < 0 && errno == ENOENT && !w->memory_file) {
                        *ret_path = NULL; /* a stream snapshot */
                        return 0;
                }
                struct stat st;
                if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
                    (uint64_t) st.st_size != rec->vm.config.memory) {
                        w->failure = BACKEND_FAILURE_IMAGE;
                        return fail(w, fd < 0 ? -errno : -EBADF,
                                    "the snapshot's memory file %s is unusable or not the guest's size",
                                    path);
                }
                /* QEMU 7.2 opens it read-write even for a private mapping: its user must be allowed to. */
                uid_t uid;
                gid_t gid;
                int r = hypervisor_user_lookup(&uid, &gid);
                if (r >= 0 && (st.st_uid != uid || (st.st_mode & 0777) != 0600) &&
                    (fchown(fd, uid, gid) < 0 || fchmod(fd, 0600) < 0))
                        r = -errno;
                if (r < 0)
                        return fail(w, r, "cannot give %s to user %s: %m", path, HYPERVISOR_USER);
                *ret_path = TAKE_PTR(path);
                return 0;
        }
        if (statvfs(rec->run_dir, &sv) < 0)
                return fail(w, -errno, "cannot tell the free space of %s: %m", rec->run_dir);
        /* The other guests' RAM files may still grow to their size: the room is what is left after them.
         * Their parent is <run>/vms (a restored VM's run directory is <run>/vms/<id>/r). */
        uint64_t avail = (uint64_t) sv.f_bavail * sv.f_frsize, unclaimed = 0;
        _cleanup_free_ char *vms = strdup(rec->run_dir);
        char *cut = vms ? strstr(vms, "/vms/") : NULL;
        if (cut) {
                cut[strlen("/vms")] = 0;
                (void) memory_files_unclaimed(vms, &unclaimed);
        }
        if (avail < unclaimed || avail - unclaimed < rec->vm.config.memory) {
                /* Not a failure: the guest runs on anonymous memory, and its snapshots carry the RAM in
                 * their state (memoryFormat "stream") instead of sharing it with their clones. */
                uint64_t room = avail > unclaimed ? avail - unclaimed : 0;
                log_warning("VM %s: %s has %llu MiB free for guest RAM files, the guest needs %llu MiB: "
                            "anonymous RAM, its snapshots will stream it",
                            rec->vm.id, rec->run_dir, (unsigned long long) (room >> 20),
                            (unsigned long long) (rec->vm.config.memory >> 20));
                *ret_path = NULL;
                return 0;
        }
        if (asprintf(&path, "%s/" MEMORY_FILE_NAME, rec->run_dir) < 0)
                return fail(w, -ENOMEM, "out of memory");
        *ret_path = TAKE_PTR(path);
        return 0;
}

static int start_console_pty(BackendWork *w);

/* The links of a guest resumed from a snapshot come up when it uses its NICs' MACs (it reset them), at the
 * latest after LINK_DOWN_MAX_USEC: a guest without the contract keeps what it had, as before, and at least
 * has its links back. At least LINK_DOWN_MIN_USEC, so that the guest surely saw its links go down. A
 * worker thread: the waits block no one. */
static int start_wait_guest_nics(BackendWork *w) {
        const VMRecord *rec = w->record;
        uint64_t start = now_usec(CLOCK_MONOTONIC);
        (void) usleep(LINK_DOWN_MIN_USEC);
        while (w->hypervisor->nics_current) {
                _cleanup_free_ char *qmp_error = NULL;
                bool current = false;
                int r = w->hypervisor->nics_current(rec->run_dir, rec->vm.network_configs,
                                                    rec->vm.n_network_configs, QMP_TIMEOUT_USEC, &current,
                                                    &qmp_error);
                if (r < 0)
                        return fail(w, r, "%s API: %s", w->hypervisor->type, qmp_error ?: strerror(-r));
                if (current) {
                        log_info("VM %s: its guest took its NICs' MACs, links up %llu ms after its resume",
                                 rec->vm.id,
                                 (unsigned long long) ((now_usec(CLOCK_MONOTONIC) - start) / USEC_PER_MSEC));
                        return 0;
                }
                if (now_usec(CLOCK_MONOTONIC) - start >= LINK_DOWN_MAX_USEC) {
                        log_warning("VM %s: its guest did not take its NICs' MACs within %llu s of its resume "
                                    "(no guest network contract?): links up anyway",
                                    rec->vm.id, (unsigned long long) (LINK_DOWN_MAX_USEC / USEC_PER_SEC));
                        return 0;
                }
                (void) usleep(LINK_DOWN_POLL_USEC);
        }
        return 0;
}

/* The unit runs; wait for the hypervisor's API socket, load a clone's state or configure (backends configured
 * by API), take the console, resume the guest. */
static int start_handshake(BackendWork *w, const HypervisorLaunch *launch) {
        const VMRecord *rec = w->record;
        _cleanup_free_ char *api = NULL;
        if (asprintf(&api, "%s/%s", rec->run_dir, API_SOCKET_NAME) < 0)
                return -ENOMEM;

        int r = wait_for_socket(api, (pid_t) w->main_pid, HYPERVISOR_SOCKET_TIMEOUT_USEC);
        if (r == -ESRCH)
                return fail(w, r, HYPERVISOR_EXITED_MESSAGE);
        if (r < 0)
                return fail(w, r, "the hypervisor's API socket did not come up: %m");

        /* A clone's state first: some hypervisors (Cloud Hypervisor) have no VM, and no console, before it;
         * backends configured over their API (Firecracker) get their configuration. The guest stays paused
         * until resume(). */
        _cleanup_free_ char *qmp_error = NULL;
        if (w->snapshot_dir) {
                r = start_load_snapshot(w);
                if (r < 0)
                        return r;
        } else if (w->hypervisor->configure) {
                r = w->hypervisor->configure(rec, launch, QMP_TIMEOUT_USEC, &qmp_error);
                if (r < 0)
                        return fail(w, r, "%s API: %s", w->hypervisor->type, qmp_error ?: strerror(-r));
        }

        /* A console on stdio was taken before the unit started (start_console_fifo()). */
        if (!w->hypervisor->serial_on_stdio) {
                r = start_console_pty(w);
                if (r < 0)
                        return r;
        }

        /* A guest resumed from a snapshot runs with the network identity of the VM it was saved from (a
         * clone's source): its links are down when it starts to run, the guest contract's cue to read its
         * own and reset its NICs (docs/architecture.md, "The guest's network identity"), and up once it
         * did. Down, the guest sends nothing, so no frame with the source's MAC or address reaches the
         * network (the bridge would send the source's traffic to the clone). */
        bool flap = w->snapshot_dir && rec->vm.n_network_configs > 0 && w->hypervisor->set_links;
        if (flap) {
                r = w->hypervisor->set_links(rec->run_dir, rec->vm.n_network_configs, false, QMP_TIMEOUT_USEC,
                                             &qmp_error);
                if (r < 0)
                        return fail(w, r, "%s API: %s", w->hypervisor->type, qmp_error ?: strerror(-r));
        }

        r = w->hypervisor->resume(rec->run_dir, QMP_TIMEOUT_USEC, &qmp_error);
        if (r < 0)
                return fail(w, r, "%s API: %s", w->hypervisor->type, qmp_error ?: strerror(-r));

        if (flap) {
                r = start_wait_guest_nics(w);
                if (r < 0)
                        return r;
                r = w->hypervisor->set_links(rec->run_dir, rec->vm.n_network_configs, true, QMP_TIMEOUT_USEC,
                                             &qmp_error);
                if (r < 0)
                        return fail(w, r, "%s API: %s", w->hypervisor->type, qmp_error ?: strerror(-r));
        }
        return 0;
}

/* The hypervisor's pty: found through its API, while the guest is still paused (-S). The hypervisor
 * records the output itself (the spool), or the relay does; the pty is for input and for noticing its end. */
static int start_console_pty(BackendWork *w) {
        const VMRecord *rec = w->record;
        _cleanup_free_ char *console = NULL;
        int r;
        if (asprintf(&console, "%s/%s", rec->log_dir, CONSOLE_SPOOL_NAME) < 0)
                return -ENOMEM;
        _cleanup_free_ char *pty = NULL, *qmp_console_error = NULL;
        r = w->hypervisor->query_console(rec->run_dir, QMP_TIMEOUT_USEC, &pty, &qmp_console_error);
        if (r < 0)
                return fail(w, r, "cannot find the serial console: %s", qmp_console_error ?: strerror(-r));
        struct stat st;
        if (lstat(console, &st) < 0)
                return fail(w, -errno, "cannot find the console spool %s: %m", console);
        w->console_fd = console_pty_open(pty, st.st_uid);
        if (w->console_fd < 0)
                return fail(w, w->console_fd, "cannot attach to the serial console %s: %m", pty);
        r = console_pty_remember(rec->log_dir, pty);
        if (r < 0)
                return fail(w, r, "cannot remember the serial console in %s: %m", rec->log_dir);
        return 0;
}

/* A clone whose hypervisor reopens the disks at the paths its saved state recorded: each writable disk of
 * the clone is bound over the source's path of the same disk (the snapshot's record says which), in the
 * unit's mount namespace: the source VM's files are neither renamed nor replaced (cocoon-behavior.md 9.14). */
static int sandbox_add_clone_redirects(BackendWork *w, UnitSandbox *sb) {
        const VMRecord *rec = w->record;
        _cleanup_(snapshot_freep) Snapshot *snap = NULL;
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_free_ char *text = NULL;
        size_t size;
        int r;

        if (!w->snapshot_dir || !w->hypervisor->state_has_disk_paths)
                return 0;
        _cleanup_close_ int dir_fd = open(w->snapshot_dir, O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (dir_fd < 0)
                return -errno;
        if ((r = read_full_file_at(dir_fd, SNAPSHOT_RECORD_FILE, 4U * 1024U * 1024U, &text, &size)) < 0 ||
            (r = json_parse(text, size, &o)) < 0 || (r = snapshot_from_json(o, &snap, NULL)) < 0)
                return r;
        const VMRecord *src = snap->vm;
        if (!src || src->vm.n_storage_configs != rec->vm.n_storage_configs)
                return -EBADMSG;
        for (size_t i = 0; i < rec->vm.n_storage_configs; i++) {
                const StorageConfig *mine = rec->vm.storage_configs + i, *theirs = src->vm.storage_configs + i;
                if (mine->read_only || streq(mine->path, theirs->path))
                        continue;
                if (theirs->read_only || !theirs->path || theirs->path[0] != '/')
                        return -EBADMSG;
                if ((r = strv_extend(&sb->bind_redirects, mine->path)) < 0 ||
                    (r = strv_extend(&sb->bind_redirects, theirs->path)) < 0)
                        return r;
        }
        return 0;
}

/* The hypervisor's own output (stdout and stderr) goes to the journal under its unit, systemd's default:
 * `journalctl -u cocoon-vm@<id>` shows it, and a failed start quotes it (start_failure_add_output()). */
/* Whether the unit's PrivateTmp= or ProtectHome= hides path from the hypervisor. */
static bool path_hidden_by_sandbox(const char *path) {
        static const char *const hidden[] = { "/tmp/", "/var/tmp/", "/home/", "/root/", "/run/user/" };
        for (size_t i = 0; path && i < ELEMENTSOF(hidden); i++)
                if (strncmp(path, hidden[i], strlen(hidden[i])) == 0)
                        return true;
        return false;
}

static int build_unit_spec(BackendWork *w, char **argv, UnitSandbox *sandbox, UnitSpec *spec) {
        const VMRecord *rec = w->record;
        int r = hypervisor_sandbox_build(rec, w->vm_dir, w->accel, sandbox);
        if (r < 0)
                return r;
        /* A hypervisor binary configured where the sandbox hides (a build tree in /var/tmp or a home) is shown
         * to it, read-only, at its own path: systemd must still find it to execute it. */
        if (path_hidden_by_sandbox(w->binary) && !strv_contains(sandbox->bind_read_only_paths, w->binary) &&
            (r = strv_extend(&sandbox->bind_read_only_paths, w->binary)) < 0)
                return r;
        r = sandbox_add_clone_redirects(w, sandbox);
        if (r < 0)
                return r;
        *spec = (UnitSpec){
                .slice = "cocoon.slice",
                .argv = argv,
                .working_directory = rec->run_dir,
                .timeout_stop_usec = w->kill_grace_usec,
                .sandbox = sandbox,
                .network_namespace_path = backend_network_netns_path(rec),
        };
        return 0;
}

/* Bridge-mode NICs: their TAPs exist while the VM runs, owned by the hypervisor's user. */
static int create_taps(BackendWork *w) {
        const VMRecord *rec = w->record;
        const char *bad = NULL;
        uid_t uid;
        gid_t gid;

        if (rec->vm.n_network_configs == 0 || w->taps_shared)
                return 0;
        int r = hypervisor_user_lookup(&uid, &gid);
        if (r < 0)
                return fail(w, r, "cannot find user %s: %m", HYPERVISOR_USER);
        r = taps_create(rec->vm.network_configs, rec->vm.n_network_configs, w->hypervisor->taps_multiqueue, uid, gid,
                        &bad);
        if (r == -ENOTTY || r == -ENODEV)
                return fail(w, r, "cannot attach TAP %s: the bridge is missing or not a bridge", bad ?: "?");
        if (r < 0)
                return fail(w, r, "cannot create TAP %s: %m", bad ?: "?");
        return 0;
}

static void remove_taps(BackendWork *w) {
        const VMRecord *rec = w->record;
        if (w->taps_shared)
                return;
        int r = taps_remove(rec->vm.network_configs, rec->vm.n_network_configs);
        if (r < 0)
                log_debug_errno(r, "Cannot remove a TAP of %s: %m", rec->vm.id);
}

/* One TAP of backend_release_nics(); ret is the first failure so far, returned updated. */
static int release_link(BackendWork *w, const char *name, int ret) {
        if (!name || strv_contains(w->removed_links, name))
                return ret;
        int r = tap_remove(name);
        if (r > 0 && strv_extend(&w->removed_links, name) < 0)
                r = -ENOMEM;
        if (r < 0 && ret == 0)
                return fail(w, r, "cannot remove TAP %s: %m", name);
        return ret;
}

int backend_release_nics(BackendWork *w) {
        const VMRecord *rec = w->record;
        int ret = 0;

        for (size_t i = 0; i < rec->vm.n_network_configs; i++)
                if (rec->vm.network_configs[i].backend == NETWORK_BACKEND_BRIDGE)
                        ret = release_link(w, rec->vm.network_configs[i].tap, ret);
        for (char **l = w->links; l && *l; l++)
                ret = release_link(w, *l, ret);
        return ret;
}

/* The hypervisor's user, who owns the run directory (hypervisor_sandbox_own_files()). */
static uid_t sandbox_uid(const VMRecord *rec) {
        struct stat st;
        return stat(rec->run_dir, &st) < 0 ? (uid_t) -1 : st.st_uid;
}

/* A hypervisor that boots only ELF kernels gets the vmlinux of the record's bzImage, extracted once next
 * to it; the private copy of the record points there (the sandbox then shows that file). */
static int start_elf_kernel(BackendWork *w) {
        BootConfig *b = w->record->boot_config;
        char *vmlinux = NULL;
        if (!w->hypervisor->elf_kernel || !b || isempty(b->kernel_path))
                return 0;
        int r = kernel_ensure_vmlinux(b->kernel_path, &vmlinux);
        if (r < 0) {
                w->failure = BACKEND_FAILURE_IMAGE;
                return fail(w, r, "cannot extract an ELF kernel from %s: %m", b->kernel_path);
        }
        free(b->kernel_path);
        b->kernel_path = vmlinux;
        return 0;
}

/* A serial console on the hypervisor's stdio: output appended to the spool by systemd's stdout, input from
 * a FIFO whose read end the hypervisor's stdin holds. */
static int start_console_fifo(BackendWork *w, char **ret_output, int *ret_input) {
        const VMRecord *rec = w->record;
        uid_t uid;
        gid_t gid;
        int r = hypervisor_user_lookup(&uid, &gid);
        if (r < 0)
                return fail(w, r, "cannot find user %s: %m", HYPERVISOR_USER);
        if (asprintf(ret_output, "%s/%s", rec->log_dir, CONSOLE_SPOOL_NAME) < 0)
                return fail(w, -ENOMEM, "out of memory");
        /* A pty an earlier run remembered (Cloud Hypervisor had one) is no console of this one: a manager
         * started later would prefer it to the FIFO (console_reopen()). */
        _cleanup_free_ char *pty_link = NULL;
        if (asprintf(&pty_link, "%s/%s", rec->log_dir, CONSOLE_PTY_LINK_NAME) < 0)
                return fail(w, -ENOMEM, "out of memory");
        if (unlink(pty_link) < 0 && errno != ENOENT)
                return fail(w, -errno, "cannot remove %s: %m", pty_link);
        int fd = console_fifo_create(rec->run_dir, uid, gid);
        if (fd < 0)
                return fail(w, fd, "cannot create the console's input in %s: %m", rec->run_dir);
        *ret_input = fd;
        return 0;
}

int backend_start(BackendWork *w) {
        const VMRecord *rec = w->record;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_(hypervisor_sandbox_done) UnitSandbox sandbox = {};
        _cleanup_free_ char *bad_path = NULL, *description = NULL, *unit_error = NULL;
        uint64_t since = now_usec(CLOCK_REALTIME);
        int r;

        r = verify_base_files(rec->vm.storage_configs, rec->vm.n_storage_configs, rec->boot_config, &bad_path);
        if (r < 0) {
                w->failure = BACKEND_FAILURE_IMAGE;
                return fail(w, r, "file %s is missing or unusable: %m", bad_path ?: "?");
        }
        /* A clone created without a start: its first start resumes the saved guest (backend-resume.c). */
        _cleanup_free_ char *kept = NULL;
        if (!w->snapshot_dir && !rec->vm.first_booted && backend_resume_state_path(w, &kept) >= 0 &&
            access(kept, F_OK) >= 0 && !(w->snapshot_dir = strdup(kept)))
                return fail(w, -ENOMEM, "out of memory");
        if (kept && !w->snapshot_dir)
                kept = mfree(kept);
        if ((r = mkdir_p(rec->run_dir, 0700)) < 0 || (r = mkdir_p(rec->log_dir, 0700)) < 0)
                return fail(w, r, "cannot create the VM's directories: %m");
        (void) cleanup_runtime_files(rec->run_dir, runtime_files);
        /* Before the command line, which carries the addresses: a recreated network may have others. */
        if ((r = backend_network_ensure(w)) < 0)
                return r;
        /* The hypervisor runs as its own user: what it writes must be its own. */
        _cleanup_free_ char *unowned = NULL;
        if ((r = hypervisor_sandbox_own_files(rec, &unowned)) < 0) {
                if (r == -ESRCH)
                        return fail(w, r, "user %s does not exist (sysusers.d/cocoon.conf)",
                                    HYPERVISOR_USER);
                return fail(w, r, "cannot give %s to user %s: %m", unowned ?: "?", HYPERVISOR_USER);
        }
        if ((r = exchange_prepare(w)) < 0)
                return fail(w, r, "cannot create the hypervisor's state directory in %s: %m", w->vm_dir);

        if (w->binary[0] != '/')
                return fail(w, -ENOENT, "the %s binary %s was not found (see cocoon.conf)", w->hypervisor->type,
                            w->binary);
        _cleanup_free_ char *memory_file = NULL;
        bool memory_private = false;
        if ((r = memory_file_prepare(w, &memory_file, &memory_private)) < 0 || (r = start_elf_kernel(w)) < 0)
                return r;
        HypervisorLaunch launch = {
                .binary = w->binary,
                .accel = w->accel,
                .tsc_khz = w->tsc_khz,
                .start_paused = true,
                .incoming = w->snapshot_dir != NULL,
                .vhost_net = w->accel == ACCEL_KVM && vhost_net_available(),
                .dns = w->dns,
                .memory_file = memory_file,
                .memory_private = memory_private,
        };
        r = w->hypervisor->build_argv(rec, &launch, &argv);
        if (r < 0)
                return fail(w, r, "cannot build the %s command line: %m", w->hypervisor->type);

        UnitSpec spec;
        if ((r = build_unit_spec(w, argv, &sandbox, &spec)) < 0)
                return fail(w, r, "cannot confine the hypervisor: %m");
        /* A snapshot's memory file is the one file of the snapshot store the clone's hypervisor sees. */
        if (memory_private && memory_file && (r = strv_extend(&sandbox.bind_paths, memory_file)) < 0)
                return fail(w, r, "cannot confine the hypervisor: %m");
        _cleanup_free_ char *console_output = NULL;
        _cleanup_close_ int console_input = -EBADF;
        if (w->hypervisor->serial_on_stdio) {
                if ((r = start_console_fifo(w, &console_output, &console_input)) < 0)
                        return r;
                spec.console_output_path = console_output;
                spec.stdin_fd = console_input;
        }
        if (asprintf(&description, "cocoon VM %s (%s)", rec->vm.name, rec->vm.id) < 0)
                return fail(w, -ENOMEM, "out of memory");
        spec.description = description;
        /* The helper learns the backend from its argument: it may have a last call to make. */
        char *stop_argv[] = { w->stop_helper, (char *) w->hypervisor->type, NULL };
        if (w->stop_helper)
                spec.exec_stop = spec.exec_stop_post = stop_argv; /* post: it removes the RAM file */

        if ((r = open_bus(w, &bus)) < 0)
                return r;
        if ((r = create_taps(w)) < 0)
                return r;
        r = unit_start_transient(bus, rec->unit, &spec, &unit_error);
        if (r < 0) {
                remove_taps(w);
                return fail(w, r, "systemd could not start %s: %s", rec->unit, unit_error ?: strerror(-r));
        }

        /* systemd holds the hypervisor's stdin now; ours, a reader, would keep the FIFO open after it. */
        console_input = safe_close(console_input);
        if (w->hypervisor->serial_on_stdio) {
                w->console_fd = console_fifo_open(rec->run_dir, sandbox_uid(rec));
                if (w->console_fd < 0)
                        log_debug_errno(w->console_fd, "Cannot open the console input of %s: %m",
                                        rec->vm.id);
        }

        UnitRuntime rt = {};
        r = unit_get_runtime(bus, rec->unit, &rt);
        w->main_pid = r >= 0 ? rt.main_pid : 0;
        snprintf(w->invocation_id, sizeof(w->invocation_id), "%s", r >= 0 ? rt.invocation_id : "");
        unit_runtime_done(&rt);
        if (w->main_pid == 0)
                r = fail(w, -ESRCH, HYPERVISOR_EXITED_MESSAGE);
        else
                r = start_handshake(w, &launch);
        if (r < 0) {
                /* Whichever step noticed it, a hypervisor that died gives the one message that says so. */
                if (r != -ESRCH &&
                    wait_for_exit((pid_t) w->main_pid, -EBADF, START_FAILURE_EXIT_WAIT_USEC) == 1)
                        r = fail(w, -ESRCH, HYPERVISOR_EXITED_MESSAGE);
                start_failure_add_output(w, since);
                /* Leave nothing behind: no process, no unit, no sockets. */
                (void) unit_stop(bus, rec->unit, true);
                (void) unit_reset_failed(bus, rec->unit);
                (void) cleanup_runtime_files(rec->run_dir, runtime_files);
                remove_taps(w);
                w->console_fd = safe_close(w->console_fd);
                return r;
        }
        /* The guest runs from the kept state: it is the VM's disks and RAM now. */
        if (kept && rm_rf(kept) < 0)
                log_debug("Cannot remove %s", kept);
        return 0;
}

/* The time the unit's ExecStop= helper waits for the guest; written before the guest is asked, so that the
 * helper never misses it. */
static int write_stop_timeout(const char *run_dir, uint64_t timeout_usec) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        if (asprintf(&path, "%s/%s", run_dir, STOP_TIMEOUT_FILE_NAME) < 0 ||
            asprintf(&text, "%llu\n", (unsigned long long) timeout_usec) < 0)
                return -ENOMEM;
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return -errno;
        /* Readable whatever user the helper runs as (it holds no secret); our UMask= would leave it 0600. */
        if (fchmod(fd, 0644) < 0)
                return -errno;
        return loop_write(fd, text, strlen(text));
}

static void remove_stop_timeout(const char *run_dir) {
        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "%s/%s", run_dir, STOP_TIMEOUT_FILE_NAME) >= 0)
                (void) unlink(path);
}

/* Asks the guest to power off: true when asked. */
static bool request_poweroff(BackendWork *w) {
        const VMRecord *rec = w->record;
        _cleanup_free_ char *qmp_error = NULL;

        if (w->hypervisor->request_shutdown(rec->run_dir, QMP_TIMEOUT_USEC, &qmp_error) < 0) {
                log_debug("system_powerdown on %s failed: %s", rec->vm.id, qmp_error ?: "?");
                return false;
        }
        return true;
}

int backend_stop(BackendWork *w) {
        const VMRecord *rec = w->record;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        UnitRuntime rt = {};
        int r;

        if ((r = open_bus(w, &bus)) < 0)
                return r;
        r = unit_get_runtime(bus, rec->unit, &rt);
        pid_t pid = r >= 0 ? (pid_t) rt.main_pid : 0;
        unit_runtime_done(&rt);

        /* The stop is systemd's from here on, whatever becomes of us: StopUnit runs the unit's ExecStop=
         * helper, which gives the guest its time (stop-timeout), then systemd sends SIGTERM and, after
         * TimeoutStopUSec, SIGKILL. Without a guest request (force, or it failed) the helper returns at once. */
        bool ask = !w->force && pid > 0;
        /* Written before the guest is asked, so that the helper never misses it; 0 when nobody asked it.
         * Its presence also tells the next manager that this stop was requested. */
        r = write_stop_timeout(rec->run_dir, ask ? w->timeout_usec : 0);
        if (r < 0)
                log_debug_errno(r, "Cannot write the stop timeout of %s: %m", rec->vm.id);
        if (ask && r >= 0 && !(w->powered_off = request_poweroff(w)))
                (void) write_stop_timeout(rec->run_dir, 0); /* nobody to wait for: SIGTERM at once */
        /* Forced: the guest gets no say, so its hypervisor need not tidy up either. SIGKILL before StopUnit
         * spares the hypervisor's own teardown on SIGTERM (QEMU: ~45 ms); the stop then only runs the
         * unit's ExecStop= and ExecStopPost=. The unit ends "failed" (signal), which our hold hides and
         * unit_reset_failed() below clears. */
        if (w->force && pid > 0) {
                r = unit_kill(bus, rec->unit, "main", SIGKILL);
                if (r < 0 && r != -ENOENT && r != -ESRCH)
                        log_debug_errno(r, "Cannot SIGKILL the hypervisor of %s, stopping it: %m", rec->vm.id);
        }
        r = unit_stop(bus, rec->unit, false);
        if (r < 0 && r != -ENOENT) {
                remove_stop_timeout(rec->run_dir);
                return fail(w, r, "systemd could not stop %s: %m", rec->unit);
        }

        /* Only then wait, for as long as systemd may take: the guest's time and twice the kill grace. The
         * manager's shutdown ends the wait; the stop goes on and the next manager records its outcome. */
        if (pid > 0) {
                uint64_t limit = (w->powered_off ? w->timeout_usec : 0) + 2 * w->kill_grace_usec +
                                 QMP_TIMEOUT_USEC;
                r = wait_for_exit(pid, w->cancel_fd, limit);
                if (r == -ECANCELED)
                        return fail(w, -EINPROGRESS, "cocoon-manager is shutting down; the stop goes on in "
                                    "systemd (%s) and the next manager records it", rec->unit);
        }
        /* The hypervisor is gone (or systemd took longer than it should): wait for the job to end. */
        r = unit_stop(bus, rec->unit, true);
        if (r < 0 && r != -ENOENT)
                return fail(w, r, "systemd could not stop %s: %m", rec->unit);
        (void) unit_reset_failed(bus, rec->unit);
        (void) cleanup_runtime_files(rec->run_dir, runtime_files);
        /* The hypervisor is gone: its TAPs go too (start makes them again), unless the other unit's uses
         * them (a restore). */
        r = w->taps_shared ? 0 : taps_remove(rec->vm.network_configs, rec->vm.n_network_configs);
        if (r < 0)
                return fail(w, r, "cannot remove the VM's TAPs: %m");
        return 0;
}

/* KillUnit; a unit that is not loaded, or has no such process left, has nothing to signal: success. */
static int kill_unit(BackendWork *w, const char *whom, int signo) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        if ((r = open_bus(w, &bus)) < 0)
                return r;
        r = unit_kill(bus, w->record->unit, whom, signo);
        if (r < 0 && r != -ENOENT && r != -ESRCH)
                return fail(w, r, "systemd could not signal %s: %m", w->record->unit);
        return 0;
}

int backend_kill_now(BackendWork *w) {
        return kill_unit(w, "all", SIGKILL);
}

int backend_kill(BackendWork *w) {
        /* The hypervisor only: a stop's ExecStop= helper sees it go and ends the stop by itself. */
        return kill_unit(w, "main", w->signal);
}

int backend_delete(BackendWork *w) {
        const VMRecord *rec = w->record;
        int r;

        /* Whatever the record says (an error state may hide a hypervisor still running), make sure the unit
         * is gone: StopUnit of a unit that is not loaded is a cheap -ENOENT. */
        w->force = true;
        r = backend_stop(w);
        if (r < 0)
                return r;
        /* Best effort: a network that cannot be told must not keep the VM (gc sweeps what is left). */
        (void) backend_network_del(w);
        /* From here on only files are removed: a failure is the file system's (a read-only state
         * directory), and the call answers io.cocoon.System as the other calls that write there do. */
        w->failure = BACKEND_FAILURE_SYSTEM;
        r = remove_vm_dirs(rec->run_dir, rec->log_dir);
        if (r < 0)
                return fail(w, r, "cannot remove the VM's directories: %m");
        /* A restored VM's run directory is inside the one of its first unit (backend-restore.c). */
        _cleanup_free_ char *first = NULL, *first_unit = NULL;
        if (unit_name_is_vm_alternate(rec->unit) && unit_name_vm_other(rec->unit, &first_unit) >= 0 &&
            backend_run_dir_for_unit(rec, first_unit, &first) >= 0 && (r = rm_rf(first)) < 0)
                return fail(w, r, "cannot remove %s: %m", first);
        _cleanup_free_ char *kept = NULL;
        if (backend_resume_state_path(w, &kept) >= 0 && (r = rm_rf(kept)) < 0)
                return fail(w, r, "cannot remove %s: %m", kept);
        _cleanup_free_ char *exchange = NULL;
        if (asprintf(&exchange, "%s/%s", w->vm_dir, VMM_STATE_DIR_NAME) < 0)
                return fail(w, -ENOMEM, "out of memory");
        r = rm_rf(exchange);
        if (r < 0 && r != -ENOENT)
                return fail(w, r, "cannot remove %s: %m", exchange);
        /* Disks go; the record file itself is removed by the store on the event loop. */
        for (size_t i = 0; i < rec->vm.n_storage_configs; i++) {
                const StorageConfig *s = rec->vm.storage_configs + i;
                if (!s->read_only && unlink(s->path) < 0 && errno != ENOENT)
                        return fail(w, -errno, "cannot remove %s: %m", s->path);
        }
        return 0;
}
