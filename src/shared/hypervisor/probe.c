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
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

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
 * gives "7.2.22", "tool v40.0.0" gives "40.0.0". */
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

/* CPUID leaf 0x15 gives the TSC as a ratio of the core crystal clock (Intel since Skylake); when the crystal
 * frequency is left 0, leaf 0x16's base frequency is the TSC frequency, as the kernel's
 * native_calibrate_tsc() assumes. */
uint64_t tsc_khz_from_cpuid(uint32_t denominator, uint32_t numerator, uint32_t crystal_hz,
                            uint32_t base_mhz) {
        if (denominator == 0 || numerator == 0)
                return 0;
        if (crystal_hz != 0)
                return (uint64_t) crystal_hz * numerator / denominator / 1000;
        return (uint64_t) base_mhz * 1000;
}

/* The value of `key` in the first processor's block of /proc/cpuinfo text, or NULL. */
static const char *cpuinfo_value(const char *cpuinfo, const char *key, size_t *ret_len) {
        size_t key_len = strlen(key);
        for (const char *line = cpuinfo; line && *line;) {
                const char *end = strchrnul(line, '\n');
                if (line == end) /* an empty line ends the first processor */
                        return NULL;
                if (strncmp(line, key, key_len) == 0 && strchr(" \t:", line[key_len])) {
                        const char *v = memchr(line, ':', (size_t) (end - line));
                        if (!v)
                                return NULL;
                        v += strspn(v + 1, " \t") + 1;
                        *ret_len = (size_t) (end - v);
                        return v;
                }
                line = *end ? end + 1 : NULL;
        }
        return NULL;
}

static bool cpuinfo_has_flag(const char *cpuinfo, const char *flag) {
        size_t len, flag_len = strlen(flag);
        const char *flags = cpuinfo_value(cpuinfo, "flags", &len);
        for (const char *p = flags; p && p < flags + len;) {
                size_t n = strcspn(p, " \n");
                if (n == flag_len && strncmp(p, flag, n) == 0)
                        return true;
                p += n + 1;
        }
        return false;
}

/* On x86 the kernel derives the delay loop from its TSC calibration when the TSC is usable:
 * loops_per_jiffy = tsc_khz * 1000 / HZ and bogomips = loops_per_jiffy * HZ / 500000, i.e. bogomips =
 * tsc_khz / 500 whatever HZ is (to 5 kHz). "cpu MHz" is the current, scaled clock (APERF/MPERF) and says
 * nothing about the TSC. */
uint64_t tsc_khz_from_cpuinfo(const char *cpuinfo) {
        size_t len;
        if (!cpuinfo_has_flag(cpuinfo, "tsc") || !cpuinfo_has_flag(cpuinfo, "constant_tsc"))
                return 0;
        const char *v = cpuinfo_value(cpuinfo, "bogomips", &len);
        if (!v || len == 0 || !isdigit((unsigned char) *v))
                return 0;
        char *end;
        errno = 0;
        unsigned long long whole = strtoull(v, &end, 10);
        if (errno != 0 || whole > UINT64_MAX / 500)
                return 0;
        uint64_t khz = whole * 500;
        if (*end == '.' && isdigit((unsigned char) end[1])) {
                /* Two decimals (the kernel prints exactly two): hundredths of a bogomips are 5 kHz. */
                unsigned hundredths = (unsigned) (end[1] - '0') * 10;
                if (isdigit((unsigned char) end[2]))
                        hundredths += (unsigned) (end[2] - '0');
                khz += hundredths * 5;
        }
        return khz;
}

#if defined(__x86_64__) || defined(__i386__)
/* Hypervisors that know the TSC frequency publish it in kHz in leaf 0x40000010 (VMware's timing leaf, also
 * offered by KVM and others). */
static uint64_t tsc_khz_from_hypervisor_leaf(void) {
        unsigned eax, ebx, ecx, edx;
        __cpuid(1, eax, ebx, ecx, edx);
        if (!(ecx & (1U << 31))) /* no hypervisor */
                return 0;
        __cpuid(0x40000000, eax, ebx, ecx, edx);
        if (eax < 0x40000010 || eax > 0x400000ff)
                return 0;
        __cpuid(0x40000010, eax, ebx, ecx, edx);
        return eax;
}

static uint64_t tsc_khz_from_cpuid_leaves(void) {
        unsigned eax, ebx, ecx, edx, base_mhz = 0;
        unsigned max = __get_cpuid_max(0, NULL);
        if (max < 0x15)
                return 0;
        if (max >= 0x16) {
                __cpuid_count(0x16, 0, eax, ebx, ecx, edx);
                base_mhz = eax & 0xffff;
        }
        __cpuid_count(0x15, 0, eax, ebx, ecx, edx);
        return tsc_khz_from_cpuid(eax, ebx, ecx, base_mhz);
}
#else
static uint64_t tsc_khz_from_hypervisor_leaf(void) {
        return 0;
}
static uint64_t tsc_khz_from_cpuid_leaves(void) {
        return 0;
}
#endif

uint64_t host_tsc_khz(void) {
        uint64_t khz = tsc_khz_from_cpuid_leaves();
        if (khz == 0)
                khz = tsc_khz_from_hypervisor_leaf();
        if (khz == 0) {
                _cleanup_free_ char *cpuinfo = NULL;
                if (read_full_file("/proc/cpuinfo", &cpuinfo, NULL) >= 0)
                        khz = tsc_khz_from_cpuinfo(cpuinfo);
        }
        return khz;
}
