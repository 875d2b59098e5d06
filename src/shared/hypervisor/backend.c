/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The hypervisor layer's shared Backend part: the blocking half of every VM operation, in worker threads. */
#include <errno.h>
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
#include "fd-util.h"
#include "fs-util.h"
#include "helpers.h"
#include "log.h"
#include "sandbox.h"
#include "strv-util.h"
#include "time-util.h"
#include "varlink-interfaces.h"

extern char **environ;

#define HYPERVISOR_SOCKET_TIMEOUT_USEC (10 * USEC_PER_SEC)
#define QMP_TIMEOUT_USEC (5 * USEC_PER_SEC)
#define COW_FILE_NAME "cow.raw"

static const char *const runtime_files[] = { API_SOCKET_NAME, CONSOLE_SOCKET_NAME, NULL };

void backend_work_free(BackendWork *w) {
        if (!w)
                return;
        vm_record_free(w->record);
        free(w->vm_dir);
        free(w->binary);
        free(w->message);
        safe_close(w->console_fd);
        free(w);
}

static int fail(BackendWork *w, int r, const char *format, ...) _printf_(3, 4);
static int fail(BackendWork *w, int r, const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        free(w->message);
        errno = -r;
        if (vasprintf(&w->message, format, ap) < 0)
                w->message = NULL;
        va_end(ap);
        return r;
}

/* Runs argv, waits, and turns a non-zero exit into -EIO. */
static int run_command(char *const *argv) {
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
        pid_t pid;
        int r = posix_spawnp(&pid, argv[0], &actions, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&actions);
        if (r != 0)
                return -r;
        int status;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

static const StorageConfig *find_role(const VMRecord *r, StorageRole role) {
        for (size_t i = 0; i < r->vm.n_storage_configs; i++)
                if (r->vm.storage_configs[i].role == role)
                        return r->vm.storage_configs + i;
        return NULL;
}

/* A sparse raw file with an empty ext4 file system: the guest's writable layer. */
static int create_cow_disk(BackendWork *w, const char *path, uint64_t size) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
                return fail(w, -errno, "cannot create %s: %m", path);
        if (ftruncate(fd, (off_t) size) < 0)
                return fail(w, -errno, "cannot size %s: %m", path);
        fd = safe_close(fd);

        char *const argv[] = { (char *) "mkfs.ext4", (char *) "-q", (char *) "-F", (char *) "-E",
                               (char *) "nodiscard,lazy_itable_init=1", (char *) path, NULL };
        int r = run_command(argv);
        if (r < 0)
                return fail(w, r, "mkfs.ext4 failed on %s", path);
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
                w->error_id = VM_ERROR_INVALID_CONFIGURATION;
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

/* The unit runs; wait for QEMU's sockets, take the console, resume the guest. */
static int start_handshake(BackendWork *w, const char *unit) {
        const VMRecord *rec = w->record;
        _cleanup_free_ char *api = NULL, *console = NULL;
        if (asprintf(&api, "%s/%s", rec->run_dir, API_SOCKET_NAME) < 0 ||
            asprintf(&console, "%s/%s", rec->log_dir, CONSOLE_SPOOL_NAME) < 0)
                return -ENOMEM;

        int r = wait_for_socket(api, (pid_t) w->main_pid, HYPERVISOR_SOCKET_TIMEOUT_USEC);
        if (r == -ESRCH)
                return fail(w, r, "the hypervisor exited during start-up; see %s/hypervisor.log", rec->log_dir);
        if (r < 0)
                return fail(w, r, "the hypervisor's API socket did not come up: %m");

        /* The console first, while the guest is still paused (-S). The hypervisor records the output itself
         * (the spool); the pty is for input and for noticing its end. */
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

        _cleanup_free_ char *qmp_error = NULL;
        r = w->hypervisor->resume(rec->run_dir, QMP_TIMEOUT_USEC, &qmp_error);
        if (r < 0)
                return fail(w, r, "%s API: %s", w->hypervisor->type, qmp_error ?: strerror(-r));
        return 0;
}

static int build_unit_spec(BackendWork *w, char **argv, char **log_path, UnitSandbox *sandbox,
                           UnitSpec *spec) {
        const VMRecord *rec = w->record;
        if (asprintf(log_path, "%s/hypervisor.log", rec->log_dir) < 0)
                return -ENOMEM;
        int r = hypervisor_sandbox_build(rec, w->vm_dir, w->accel, sandbox);
        if (r < 0)
                return r;
        *spec = (UnitSpec){
                .slice = "cocoon.slice",
                .argv = argv,
                .working_directory = rec->run_dir,
                .stdout_path = *log_path,
                .timeout_stop_usec = w->kill_grace_usec,
                .sandbox = sandbox,
        };
        return 0;
}

int backend_start(BackendWork *w) {
        const VMRecord *rec = w->record;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_(hypervisor_sandbox_done) UnitSandbox sandbox = {};
        _cleanup_free_ char *bad_path = NULL, *log_path = NULL, *description = NULL, *unit_error = NULL;
        int r;

        r = verify_base_files(rec->vm.storage_configs, rec->vm.n_storage_configs, rec->boot_config, &bad_path);
        if (r < 0) {
                w->error_id = VM_ERROR_INVALID_CONFIGURATION;
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
        HypervisorLaunch launch = {
                .binary = w->binary,
                .accel = w->accel,
                .tsc_khz = w->tsc_khz,
                .start_paused = true,
        };
        r = w->hypervisor->build_argv(rec, &launch, &argv);
        if (r < 0)
                return fail(w, r, "cannot build the %s command line: %m", w->hypervisor->type);

        UnitSpec spec;
        if ((r = build_unit_spec(w, argv, &log_path, &sandbox, &spec)) < 0)
                return fail(w, r, "cannot confine the hypervisor: %m");
        if (asprintf(&description, "cocoon VM %s (%s)", rec->vm.name, rec->vm.id) < 0)
                return fail(w, -ENOMEM, "out of memory");
        spec.description = description;

        if ((r = open_bus(w, &bus)) < 0)
                return r;
        r = unit_start_transient(bus, rec->unit, &spec, &unit_error);
        if (r < 0)
                return fail(w, r, "systemd could not start %s: %s", rec->unit, unit_error ?: strerror(-r));

        UnitRuntime rt = {};
        r = unit_get_runtime(bus, rec->unit, &rt);
        w->main_pid = r >= 0 ? rt.main_pid : 0;
        unit_runtime_done(&rt);
        if (w->main_pid == 0)
                r = fail(w, -ESRCH, "the hypervisor exited at once; see %s", log_path);
        else
                r = start_handshake(w, rec->unit);
        if (r < 0) {
                /* Leave nothing behind: no process, no unit, no sockets. */
                (void) unit_stop(bus, rec->unit, true);
                (void) unit_reset_failed(bus, rec->unit);
                (void) cleanup_runtime_files(rec->run_dir, runtime_files);
                w->console_fd = safe_close(w->console_fd);
                return r;
        }
        return 0;
}

static int pidfd_open_compat(pid_t pid) {
        return (int) syscall(SYS_pidfd_open, pid, 0);
}

/* Asks the guest to power off and waits for the hypervisor to exit, up to the timeout. */
static bool request_poweroff(BackendWork *w, sd_bus *bus) {
        const VMRecord *rec = w->record;
        UnitRuntime rt = {};
        if (unit_get_runtime(bus, rec->unit, &rt) < 0 || rt.main_pid == 0) {
                unit_runtime_done(&rt);
                return true; /* already gone */
        }
        pid_t pid = (pid_t) rt.main_pid;
        unit_runtime_done(&rt);

        _cleanup_close_ int pidfd = pidfd_open_compat(pid);
        if (pidfd < 0)
                return errno == ESRCH;

        _cleanup_free_ char *qmp_error = NULL;
        if (w->hypervisor->request_shutdown(rec->run_dir, QMP_TIMEOUT_USEC, &qmp_error) < 0) {
                log_debug("system_powerdown on %s failed: %s", rec->vm.id, qmp_error ?: "?");
                return false;
        }
        struct pollfd p = { .fd = pidfd, .events = POLLIN };
        uint64_t deadline = now_usec(CLOCK_MONOTONIC) + w->timeout_usec;
        for (;;) {
                uint64_t now = now_usec(CLOCK_MONOTONIC);
                if (now >= deadline)
                        return false;
                int k = poll(&p, 1, (int) MIN((deadline - now) / USEC_PER_MSEC + 1, (uint64_t) INT32_MAX));
                if (k > 0)
                        return true;
                if (k < 0 && errno != EINTR)
                        return false;
        }
}

int backend_stop(BackendWork *w) {
        const VMRecord *rec = w->record;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        if ((r = open_bus(w, &bus)) < 0)
                return r;
        if (!w->force)
                w->powered_off = request_poweroff(w, bus);
        /* After a power-off the unit is already stopping; StopUnit waits for it. Otherwise systemd sends
         * SIGTERM, then SIGKILL after the unit's TimeoutStopUSec. */
        r = unit_stop(bus, rec->unit, true);
        if (r < 0 && r != -ENOENT)
                return fail(w, r, "systemd could not stop %s: %m", rec->unit);
        (void) unit_reset_failed(bus, rec->unit);
        (void) cleanup_runtime_files(rec->run_dir, runtime_files);
        return 0;
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
