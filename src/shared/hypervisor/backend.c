/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The hypervisor layer's shared Backend part: the blocking half of every VM operation, in worker threads. */
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
#define COW_FILE_NAME "cow.raw"
#define fail backend_fail
/* Loading a multi-GiB state under TCG on a loaded host. */
#define SNAPSHOT_LOAD_TIMEOUT_USEC (30 * 60 * USEC_PER_SEC)

static const char *const runtime_files[] = {
        API_SOCKET_NAME, STOP_TIMEOUT_FILE_NAME, CONSOLE_INPUT_FIFO_NAME, NULL,
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
        safe_close(w->console_fd);
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

/* A clone: the guest's state from the snapshot, through the hypervisor's API, before it may run. */
static int start_load_snapshot(BackendWork *w) {
        _cleanup_close_ int dir_fd = open(w->snapshot_dir, O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        _cleanup_free_ char *error = NULL;
        if (dir_fd < 0)
                return fail(w, -errno, "cannot open the snapshot %s: %m", w->snapshot_dir);
        if (!w->hypervisor->clone)
                return fail(w, -EOPNOTSUPP, "the %s backend cannot start from a snapshot",
                            w->hypervisor->type);
        HypervisorSnapshotDir dir = { .path = w->snapshot_dir, .fd = dir_fd };
        int r = w->hypervisor->clone(w->record->run_dir, &dir, SNAPSHOT_LOAD_TIMEOUT_USEC, &error);
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

static int start_console_pty(BackendWork *w);

/* The unit runs; wait for the hypervisor's API socket, take the console, configure (backends configured by
 * API), resume the guest. */
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

        /* A console on stdio was taken before the unit started (start_console_fifo()). */
        if (!w->hypervisor->serial_on_stdio) {
                r = start_console_pty(w);
                if (r < 0)
                        return r;
        }

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
        r = w->hypervisor->resume(rec->run_dir, QMP_TIMEOUT_USEC, &qmp_error);
        if (r < 0)
                return fail(w, r, "%s API: %s", w->hypervisor->type, qmp_error ?: strerror(-r));
        return 0;
}

/* The hypervisor's pty: found through its API, while the guest is still paused (-S). The hypervisor
 * records the output itself (the spool); the pty is for input and for noticing its end. */
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
static int build_unit_spec(BackendWork *w, char **argv, UnitSandbox *sandbox, UnitSpec *spec) {
        const VMRecord *rec = w->record;
        int r = hypervisor_sandbox_build(rec, w->vm_dir, w->accel, sandbox);
        if (r < 0)
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
        };
        return 0;
}

/* Bridge-mode NICs: their TAPs exist while the VM runs, owned by the hypervisor's user. */
static int create_taps(BackendWork *w) {
        const VMRecord *rec = w->record;
        const char *bad = NULL;
        uid_t uid;
        gid_t gid;

        if (rec->vm.n_network_configs == 0)
                return 0;
        int r = hypervisor_user_lookup(&uid, &gid);
        if (r < 0)
                return fail(w, r, "cannot find user %s: %m", HYPERVISOR_USER);
        r = taps_create(rec->vm.network_configs, rec->vm.n_network_configs, uid, gid, &bad);
        if (r == -ENOTTY || r == -ENODEV)
                return fail(w, r, "cannot attach TAP %s: the bridge is missing or not a bridge", bad ?: "?");
        if (r < 0)
                return fail(w, r, "cannot create TAP %s: %m", bad ?: "?");
        return 0;
}

static void remove_taps(BackendWork *w) {
        const VMRecord *rec = w->record;
        int r = taps_remove(rec->vm.network_configs, rec->vm.n_network_configs);
        if (r < 0)
                log_debug_errno(r, "Cannot remove a TAP of %s: %m", rec->vm.id);
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
        if ((r = mkdir_p(rec->run_dir, 0700)) < 0 || (r = mkdir_p(rec->log_dir, 0700)) < 0)
                return fail(w, r, "cannot create the VM's directories: %m");
        (void) cleanup_runtime_files(rec->run_dir, runtime_files);
        /* The hypervisor runs as its own user: what it writes must be its own. */
        _cleanup_free_ char *unowned = NULL;
        if ((r = hypervisor_sandbox_own_files(rec, &unowned)) < 0) {
                if (r == -ESRCH)
                        return fail(w, r, "user %s does not exist (sysusers.d/cocoon.conf)",
                                    HYPERVISOR_USER);
                return fail(w, r, "cannot give %s to user %s: %m", unowned ?: "?", HYPERVISOR_USER);
        }

        if (w->binary[0] != '/')
                return fail(w, -ENOENT, "the %s binary %s was not found (see cocoon.conf)", w->hypervisor->type,
                            w->binary);
        if ((r = start_elf_kernel(w)) < 0)
                return r;
        HypervisorLaunch launch = {
                .binary = w->binary,
                .accel = w->accel,
                .tsc_khz = w->tsc_khz,
                .start_paused = true,
                .incoming = w->snapshot_dir != NULL,
                .vhost_net = w->accel == ACCEL_KVM && vhost_net_available(),
        };
        r = w->hypervisor->build_argv(rec, &launch, &argv);
        if (r < 0)
                return fail(w, r, "cannot build the %s command line: %m", w->hypervisor->type);

        UnitSpec spec;
        if ((r = build_unit_spec(w, argv, &sandbox, &spec)) < 0)
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
        char *stop_argv[] = { w->stop_helper, NULL };
        if (w->stop_helper)
                spec.exec_stop = stop_argv;

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
        /* The hypervisor is gone: its TAPs go too (start makes them again). */
        r = taps_remove(rec->vm.network_configs, rec->vm.n_network_configs);
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
        r = remove_vm_dirs(rec->run_dir, rec->log_dir);
        if (r < 0)
                return fail(w, r, "cannot remove the VM's directories: %m");
        /* Disks go; the record file itself is removed by the store on the event loop. */
        for (size_t i = 0; i < rec->vm.n_storage_configs; i++) {
                const StorageConfig *s = rec->vm.storage_configs + i;
                if (!s->read_only && unlink(s->path) < 0 && errno != ENOENT)
                        return fail(w, -errno, "cannot remove %s: %m", s->path);
        }
        return 0;
}
