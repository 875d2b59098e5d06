/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cocoon-vm-stop: the ExecStop= of every VM unit. It waits for the hypervisor ($MAINPID) to exit after the
 * guest was asked to power off, up to the time cocoon-manager wrote to ./stop-timeout (the unit's working
 * directory is the VM's run directory); then systemd goes on with SIGTERM and SIGKILL. So a graceful stop
 * is systemd's job from the moment the manager asks for it, and goes on while no manager runs. No file:
 * nobody asked the guest (stop --force, systemctl stop), exit at once. A guest that did not power off in
 * time gets its backend's last call first (argv[1] names the backend; Cloud Hypervisor: vm.shutdown).
 * Always exits 0: a stop whose guest ignored the power button is still a stop, not a failed unit. It also
 * removes the guest's RAM file; as ExecStopPost= ($MAINPID unset) it does only that. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "backend.h"
#include "hypervisor.h"
#include "fd-util.h"
#include "helpers.h"
#include "macro.h"
#include "parse-util.h"
#include "time-util.h"

/* How long systemd should wait for us beyond the guest's time: reading the file, a late poll wakeup. */
#define EXTEND_SLACK_USEC (5 * USEC_PER_SEC)
/* The backend's last call before SIGTERM: within the slack above. */
#define FINAL_SHUTDOWN_TIMEOUT_USEC (3 * USEC_PER_SEC)

static int read_timeout(uint64_t *ret) {
        char buf[32] = {};
        _cleanup_close_ int fd = open(STOP_TIMEOUT_FILE_NAME, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        if (n < 0)
                return -errno;
        buf[strcspn(buf, "\n")] = 0;
        return parse_uint64(buf, ret);
}

int main(int argc, char *argv[]) {
        uint64_t timeout_usec, pid;

        /* The guest's RAM file (tmpfs) goes with the hypervisor, whether it is stopped or died: systemd runs
         * us as ExecStop= and ExecStopPost= (the only one after a crash), also when no manager runs. QEMU
         * keeps its mapping until it exits. */
        if (unlink(MEMORY_FILE_NAME) < 0 && errno != ENOENT)
                fprintf(stderr, "cocoon-vm-stop: cannot remove %s: %m\n", MEMORY_FILE_NAME);

        /* stderr goes to the unit's journal: say why the guest got no time, when it is not the
         * normal "nobody asked it". */
        int r = read_timeout(&timeout_usec);
        if (r < 0 && r != -ENOENT)
                fprintf(stderr, "cocoon-vm-stop: cannot read %s: %s\n", STOP_TIMEOUT_FILE_NAME, strerror(-r));
        if (r < 0 || timeout_usec == 0)
                return EXIT_SUCCESS;
        const char *e = getenv("MAINPID");
        if (!e || parse_uint64(e, &pid) < 0 || pid <= 1 || pid > INT32_MAX)
                return EXIT_SUCCESS; /* no main process: nothing to wait for */

        _cleanup_close_ int pidfd = (int) syscall(SYS_pidfd_open, (pid_t) pid, 0);
        if (pidfd < 0) {
                if (errno != ESRCH)
                        fprintf(stderr, "cocoon-vm-stop: cannot watch process %llu: %m\n",
                                (unsigned long long) pid);
                return EXIT_SUCCESS; /* gone already, or nothing we can wait for */
        }
        fprintf(stderr, "cocoon-vm-stop: giving the guest %llu s to power off\n",
                (unsigned long long) (timeout_usec / USEC_PER_SEC));

        /* TimeoutStopSec= is the kill grace: tell systemd this wait is longer (NotifyAccess=all). */
        (void) sd_notifyf(false, "EXTEND_TIMEOUT_USEC=%llu",
                          (unsigned long long) (timeout_usec + EXTEND_SLACK_USEC));

        uint64_t deadline = now_usec(CLOCK_MONOTONIC) + timeout_usec;
        for (;;) {
                uint64_t now = now_usec(CLOCK_MONOTONIC);
                if (now >= deadline)
                        break;
                struct pollfd p = { .fd = pidfd, .events = POLLIN };
                int k = poll(&p, 1, (int) MIN((deadline - now) / USEC_PER_MSEC + 1, (uint64_t) INT32_MAX));
                if (k > 0)
                        return EXIT_SUCCESS; /* the guest powered off */
                if (k < 0 && errno != EINTR)
                        break; /* poll failed: let systemd go on */
        }

        /* The guest kept running: its backend's last call (Cloud Hypervisor: vm.shutdown flushes the disk
         * backends), then systemd's SIGTERM. argv[1] is the backend (backend_start()); the working
         * directory is the VM's run directory. */
        const Hypervisor *h = argc > 1 ? hypervisor_find(argv[1]) : NULL;
        if (h && h->final_shutdown) {
                _cleanup_free_ char *run_dir = getcwd(NULL, 0), *error = NULL;
                r = run_dir ? h->final_shutdown(run_dir, FINAL_SHUTDOWN_TIMEOUT_USEC, &error) : -errno;
                if (r < 0)
                        fprintf(stderr, "cocoon-vm-stop: the last call to %s failed: %s\n", h->type,
                                error ?: strerror(-r));
        }
        return EXIT_SUCCESS;
}
