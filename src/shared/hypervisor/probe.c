/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What this host can run: executables, their versions, hardware virtualization (the backends themselves
 * are listed once, in hypervisor.c). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fs-util.h"
#include "macro.h"
#include "probe.h"

extern char **environ;

static bool is_executable_file(const char *path) {
        struct stat st;
        return stat(path, &st) >= 0 && S_ISREG(st.st_mode) && access(path, X_OK) >= 0;
}

int find_executable(const char *name, char **ret_path) {
        if (strchr(name, '/')) {
                if (!is_executable_file(name))
                        return -ENOENT;
                char *p = realpath(name, NULL);
                if (!p)
                        return -errno;
                *ret_path = p;
                return 0;
        }

        const char *path = getenv("PATH") ?: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        _cleanup_free_ char *copy = strdup(path);
        if (!copy)
                return -ENOMEM;
        char *save = NULL;
        for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
                _cleanup_free_ char *candidate = NULL;
                if (dir[0] != '/' || asprintf(&candidate, "%s/%s", dir, name) < 0)
                        continue;
                if (is_executable_file(candidate)) {
                        *ret_path = TAKE_PTR(candidate);
                        return 0;
                }
        }
        return -ENOENT;
}

/* The first word that starts with a digit and contains a dot: "QEMU emulator version 7.2.22 (Debian …)"
 * gives "7.2.22", "cloud-hypervisor v40.0.0" gives "40.0.0". */
static int version_from_line(const char *line, char **ret) {
        for (const char *p = line; *p; p++) {
                if (!isdigit((unsigned char) *p) || (p > line && !isspace((unsigned char) p[-1]) && p[-1] != 'v'))
                        continue;
                size_t n = strspn(p, "0123456789.");
                if (n == 0 || !memchr(p, '.', n))
                        continue;
                char *v = strndup(p, n);
                if (!v)
                        return -ENOMEM;
                *ret = v;
                return 0;
        }
        return -EBADMSG;
}

int binary_version(const char *path, char **ret_version) {
        int pipefd[2];
        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return -errno;
        _cleanup_close_ int read_fd = pipefd[0];
        _cleanup_close_ int write_fd = pipefd[1];

        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, write_fd, STDOUT_FILENO);
        posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);

        char *const argv[] = { (char *) path, (char *) "--version", NULL };
        pid_t pid;
        int r = posix_spawn(&pid, path, &actions, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&actions);
        if (r != 0)
                return -r;
        write_fd = safe_close(write_fd);

        char buf[512];
        size_t n = 0;
        ssize_t k;
        while (n < sizeof(buf) - 1 && (k = read(read_fd, buf + n, sizeof(buf) - 1 - n)) > 0)
                n += (size_t) k;
        buf[n] = '\0';
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        buf[strcspn(buf, "\n")] = '\0';
        return version_from_line(buf, ret_version);
}

static bool cpuinfo_has_virt_flag(void) {
        _cleanup_free_ char *cpuinfo = NULL;
        if (read_full_file("/proc/cpuinfo", &cpuinfo, NULL) < 0)
                return false;
        for (char *line = cpuinfo; line && *line;) {
                char *end = strchr(line, '\n');
                if (end)
                        *end = '\0';
                if (strncmp(line, "flags", 5) == 0)
                        return strstr(line, " vmx") || strstr(line, " svm");
                line = end ? end + 1 : NULL;
        }
        return false;
}

bool host_has_hardware_virtualization(void) {
        bool hardware = access("/sys/module/kvm_intel", F_OK) >= 0 || access("/sys/module/kvm_amd", F_OK) >= 0 ||
                        cpuinfo_has_virt_flag();
        if (!hardware)
                return false;
        _cleanup_close_ int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
        return fd >= 0;
}

uint64_t host_tsc_khz(void) {
        _cleanup_free_ char *cpuinfo = NULL;
        if (read_full_file("/proc/cpuinfo", &cpuinfo, NULL) < 0)
                return 0;
        const char *p = strstr(cpuinfo, "cpu MHz");
        if (!p || !(p = strchr(p, ':')))
                return 0;
        double mhz = strtod(p + 1, NULL);
        return mhz > 0 ? (uint64_t) (mhz * 1000.0) : 0;
}
