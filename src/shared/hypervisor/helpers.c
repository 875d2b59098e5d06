/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Helpers every hypervisor backend shares: kernel ip= parameters, base files, blob pins, runtime files. */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <sys/un.h>

#include "fd-util.h"
#include "fs-util.h"
#include "helpers.h"
#include "image-blob.h"
#include "log.h"
#include "macro.h"
#include "strv-util.h"

static bool ipv4_is_valid(const char *s) {
        struct in_addr a;

        return s && inet_pton(AF_INET, s, &a) == 1;
}

static void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}

/* Appends " ip=…" for one NIC to f. */
static int append_ip_param(FILE *f, const NetworkAddress *a, size_t index, const char *vm_name,
                           char *const *dns) {
        _cleanup_free_ char *mask = NULL;
        int r;

        if (!ipv4_is_valid(a->ip) || (a->gateway && !ipv4_is_valid(a->gateway)) || a->prefix > 32)
                return -EINVAL;
        r = prefix_to_netmask((int) a->prefix, &mask);
        if (r < 0)
                return r;

        fprintf(f, " ip=%s::%s:%s:%s:eth%zu:off", a->ip, a->gateway ?: "", mask, vm_name, index);
        for (size_t i = 0; i < 2 && dns && dns[i]; i++)
                fprintf(f, ":%s", dns[i]);
        return 0;
}

/* What both renderings of the NICs' identity (the kernel's ip= and the fw_cfg item) take from the caller. */
static bool network_args_are_valid(const NetworkConfig *nics, size_t n, const char *vm_name, char *const *dns) {
        if ((n > 0 && !nics) || !vm_name_is_valid(vm_name))
                return false;
        for (size_t i = 0; i < 2 && dns && dns[i]; i++)
                if (!ipv4_is_valid(dns[i]))
                        return false;
        return true;
}

int build_ip_params(const NetworkConfig *nics, size_t n, const char *vm_name, char *const *dns, char **ret) {
        /* Declared before f so that it is freed after fclose() has written it on the error paths. */
        _cleanup_free_ char *buf = NULL;
        _cleanup_(fclosep) FILE *f = NULL;
        size_t size = 0;
        int r;

        if (!ret || !network_args_are_valid(nics, n, vm_name, dns))
                return -EINVAL;

        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;

        fprintf(f, " cocoon.hostname=%s", vm_name);
        for (size_t i = 0; i < n; i++) {
                if (!nics[i].address)
                        continue; /* DHCP: no parameter, but the index is still consumed */
                r = append_ip_param(f, nics[i].address, i, vm_name, dns);
                if (r < 0)
                        return r;
        }

        if (fflush(f) != 0 || ferror(f))
                return -ENOMEM;
        /* buf is only final after fclose(). */
        if (fclose(TAKE_PTR(f)) != 0)
                return -ENOMEM;

        *ret = TAKE_PTR(buf);
        return 0;
}

/* A MAC as the guest contract writes it: six colon-separated pairs of hex digits, nothing else. */
static bool mac_is_valid(const char *s) {
        if (!s || strlen(s) != 17)
                return false;
        for (size_t i = 0; i < 17; i++)
                if (i % 3 == 2 ? s[i] != ':' : !isxdigit((unsigned char) s[i]))
                        return false;
        return true;
}

int build_guest_network(const NetworkConfig *nics, size_t n, const char *vm_name, char *const *dns,
                        char **ret) {
        _cleanup_free_ char *buf = NULL;
        _cleanup_(fclosep) FILE *f = NULL;
        size_t size = 0;
        int r;

        if (!ret || !network_args_are_valid(nics, n, vm_name, dns))
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (nics[i].mac && !mac_is_valid(nics[i].mac))
                        return -EINVAL;

        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        fprintf(f, "cocoon.hostname=%s\n", vm_name);
        for (size_t i = 0; i < n; i++) {
                fprintf(f, "eth%zu", i);
                if (nics[i].mac)
                        fprintf(f, " mac=%s", nics[i].mac);
                if (nics[i].address) {
                        r = append_ip_param(f, nics[i].address, i, vm_name, dns);
                        if (r < 0)
                                return r;
                } else
                        fputs(" dhcp", f);
                fputc('\n', f);
        }
        if (fflush(f) != 0 || ferror(f))
                return -ENOMEM;
        if (fclose(TAKE_PTR(f)) != 0)
                return -ENOMEM;
        if (size > GUEST_NETWORK_SIZE)
                return -E2BIG;

        /* The guest's qemu_fw_cfg caches the item's size when it loads: always the same size. */
        char *padded = malloc(GUEST_NETWORK_SIZE + 1);
        if (!padded)
                return -ENOMEM;
        memcpy(padded, buf, size);
        memset(padded + size, '\n', GUEST_NETWORK_SIZE - size);
        padded[GUEST_NETWORK_SIZE] = 0;
        *ret = padded;
        return 0;
}

int virtio_disk_name(size_t i, char **ret) {
        char letters[16], *p = letters + sizeof(letters) - 1;

        *p = 0;
        /* Bijective base 26, as the kernel's virtblk_name_format(): the last letter is i % 26, then
         * i / 26 - 1 the same way (no i + 1 that would overflow at SIZE_MAX). */
        for (size_t k = i;; k = k / 26 - 1) {
                if (p == letters)
                        return -ERANGE;
                *--p = (char) ('a' + k % 26);
                if (k < 26)
                        break;
        }
        if (asprintf(ret, "vd%s", p) < 0)
                return -ENOMEM;
        return 0;
}

int guest_disk_ref(const StorageConfig *s, size_t i, bool by_path, char **ret) {
        if (!by_path) {
                if (isempty(s->serial))
                        return -EINVAL;
                char *c = strdup(s->serial);
                if (!c)
                        return -ENOMEM;
                *ret = c;
                return 0;
        }
        _cleanup_free_ char *name = NULL;
        int r = virtio_disk_name(i, &name);
        if (r < 0)
                return r;
        if (asprintf(ret, "/dev/%s", name) < 0)
                return -ENOMEM;
        return 0;
}

int build_overlay_cmdline(const char *head, bool by_path, const StorageConfig *storage, size_t n,
                          const char *extra, char **ret) {
        _cleanup_free_ char *layers = NULL, *cow = NULL;
        int r;

        if (isempty(head) || (n > 0 && !storage))
                return -EINVAL;
        /* Top layer first: the last layer in the list is the top one (manifest order, base first). */
        for (size_t i = n; i > 0; i--) {
                const StorageConfig *s = storage + i - 1;
                _cleanup_free_ char *ref = NULL;
                if (s->role == STORAGE_ROLE_COW && !cow) {
                        if ((r = guest_disk_ref(s, i - 1, by_path, &cow)) < 0)
                                return r;
                        continue;
                }
                if (s->role != STORAGE_ROLE_LAYER)
                        continue;
                if ((r = guest_disk_ref(s, i - 1, by_path, &ref)) < 0)
                        return r;
                char *joined;
                if (asprintf(&joined, "%s%s%s", layers ?: "", layers ? "," : "", ref) < 0)
                        return -ENOMEM;
                free(layers);
                layers = joined;
        }
        if (!layers || !cow)
                return -EINVAL;
        if (asprintf(ret,
                     "%s boot=cocoon-overlay cocoon.layers=%s cocoon.cow=%s clocksource=kvm-clock rw%s%s",
                     head, layers, cow, isempty(extra) ? "" : " ", extra ?: "") < 0)
                return -ENOMEM;
        return 0;
}

int prefix_to_netmask(int prefix, char **ret) {
        struct in_addr a;
        char buf[INET_ADDRSTRLEN];
        uint32_t mask;
        char *s;

        if (prefix < 0 || prefix > 32 || !ret)
                return -EINVAL;

        /* A shift by 32 is undefined in C, hence the special case. */
        mask = prefix == 0 ? 0 : UINT32_MAX << (32 - prefix);
        a.s_addr = htonl(mask);
        if (!inet_ntop(AF_INET, &a, buf, sizeof(buf)))
                return negative_errno();

        s = strdup(buf);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

static bool path_is_erofs(const char *path) {
        size_t n = strlen(path), k = strlen(".erofs");
        return n > k && streq(path + n - k, ".erofs");
}

/* An EROFS image must hold the blocks its superblock counts (blocks << blkszbits, which mkfs.erofs makes
 * the image's size): a shorter file is a truncated or damaged blob, which the guest would find broken. */
static int verify_erofs_size(const char *path, uint64_t size) {
        uint8_t sb[EROFS_SUPER_SIZE];
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        ssize_t n = pread(fd, sb, sizeof(sb), EROFS_SUPER_OFFSET);
        if (n < 0)
                return negative_errno();
        if ((size_t) n < sizeof(sb))
                return -EBADMSG;
        uint32_t magic = (uint32_t) sb[0] | (uint32_t) sb[1] << 8 | (uint32_t) sb[2] << 16 |
                         (uint32_t) sb[3] << 24;
        uint32_t blocks = (uint32_t) sb[36] | (uint32_t) sb[37] << 8 | (uint32_t) sb[38] << 16 |
                          (uint32_t) sb[39] << 24;
        uint8_t blkszbits = sb[12];
        if (magic != EROFS_SUPER_MAGIC || blkszbits < 9 || blkszbits > 16)
                return -EBADMSG;
        if (((uint64_t) blocks << blkszbits) > size)
                return -EBADMSG;
        return 0;
}

static int verify_regular_file(const char *path) {
        struct stat st;

        if (stat(path, &st) < 0)
                return negative_errno();
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        if (path_is_erofs(path))
                return verify_erofs_size(path, (uint64_t) st.st_size);
        return 0;
}

static int verify_one(const char *path, char **ret_bad_path) {
        int r;

        r = verify_regular_file(path);
        if (r < 0) {
                log_debug_errno(r, "Base file %s is not usable: %m", path);
                if (ret_bad_path)
                        *ret_bad_path = strdup(path); /* best effort: NULL on OOM */
        }
        return r;
}

int verify_base_files(const StorageConfig *storage, size_t n, const BootConfig *boot, char **ret_bad_path) {
        int r;

        if (n > 0 && !storage)
                return -EINVAL;

        for (size_t i = 0; i < n; i++) {
                if (storage[i].role != STORAGE_ROLE_LAYER)
                        continue;
                if (isempty(storage[i].path))
                        return -EINVAL;
                r = verify_one(storage[i].path, ret_bad_path);
                if (r < 0)
                        return r;
        }

        if (!boot)
                return 0;
        const char *const boot_paths[] = { boot->kernel_path, boot->initrd_path, boot->firmware_path };
        for (size_t i = 0; i < ELEMENTSOF(boot_paths); i++) {
                if (isempty(boot_paths[i]))
                        continue;
                r = verify_one(boot_paths[i], ret_bad_path);
                if (r < 0)
                        return r;
        }
        return 0;
}

int blob_hex_from_path(const char *path, char **ret) {
        const char *base, *dot;
        size_t len;
        char *s;

        if (!path || !ret)
                return -EINVAL;

        base = strrchr(path, '/');
        base = base ? base + 1 : path;
        dot = strrchr(base, '.');
        len = dot ? (size_t) (dot - base) : strlen(base);
        if (len == 0)
                return -EINVAL;

        s = strndup(base, len);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

/* The digest a path pins (see extract_blob_ids()), or NULL in *ret when it pins none. */
static int blob_id_of_path(const char *path, char **ret) {
        _cleanup_free_ char *dir = NULL, *stem = NULL;
        const char *slash, *parent;
        int r;

        *ret = NULL;
        slash = strrchr(path, '/');
        if (!slash || slash == path)
                return 0;
        dir = strndup(path, (size_t) (slash - path));
        if (!dir)
                return -ENOMEM;
        parent = strrchr(dir, '/');
        parent = parent ? parent + 1 : dir;

        if (image_blob_hex_is_valid(parent)) {
                stem = strdup(parent);
                if (!stem)
                        return -ENOMEM;
                *ret = TAKE_PTR(stem);
                return 0;
        }
        if (!streq(parent, "blobs"))
                return 0;

        r = blob_hex_from_path(path, &stem);
        if (r == -EINVAL)
                return 0;
        if (r < 0)
                return r;
        if (image_blob_hex_is_valid(stem))
                *ret = TAKE_PTR(stem);
        return 0;
}

static int add_blob_id(char ***ids, const char *path) {
        _cleanup_free_ char *id = NULL;
        int r;

        if (isempty(path))
                return 0;
        r = blob_id_of_path(path, &id);
        if (r < 0 || !id || strv_contains(*ids, id))
                return r;
        r = strv_push(ids, id);
        if (r < 0)
                return r;
        TAKE_PTR(id);
        return 0;
}

int extract_blob_ids(const StorageConfig *storage, size_t n, const BootConfig *boot, char ***ret) {
        _cleanup_strv_free_ char **ids = NULL;
        int r;

        if ((n > 0 && !storage) || !ret)
                return -EINVAL;

        ids = calloc(1, sizeof(char *));
        if (!ids)
                return -ENOMEM;

        for (size_t i = 0; i < n; i++) {
                r = add_blob_id(&ids, storage[i].path);
                if (r < 0)
                        return r;
        }
        if (boot) {
                const char *const boot_paths[] = {
                        boot->kernel_path, boot->initrd_path, boot->firmware_path,
                };
                for (size_t i = 0; i < ELEMENTSOF(boot_paths); i++) {
                        r = add_blob_id(&ids, boot_paths[i]);
                        if (r < 0)
                                return r;
                }
        }

        strv_sort(ids);
        *ret = TAKE_PTR(ids);
        return 0;
}

int remove_vm_dirs(const char *run_dir, const char *log_dir) {
        int r = 0, k;

        if (!isempty(run_dir)) {
                k = rm_rf(run_dir);
                if (k < 0) {
                        log_debug_errno(k, "Failed to remove %s: %m", run_dir);
                        r = k;
                }
        }
        if (!isempty(log_dir)) {
                k = rm_rf(log_dir);
                if (k < 0) {
                        log_debug_errno(k, "Failed to remove %s: %m", log_dir);
                        if (r == 0)
                                r = k;
                }
        }
        return r;
}

int cleanup_runtime_files(const char *run_dir, const char *const *files) {
        _cleanup_close_ int dfd = -EBADF;
        int r = 0;

        if (isempty(run_dir))
                return -EINVAL;
        if (!files)
                return 0;

        dfd = open(run_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return errno == ENOENT ? 0 : negative_errno();

        for (const char *const *f = files; *f; f++) {
                if (isempty(*f) || strchr(*f, '/')) {
                        if (r == 0)
                                r = -EINVAL;
                        continue;
                }
                if (unlinkat(dfd, *f, 0) < 0 && errno != ENOENT) {
                        int k = negative_errno();

                        log_debug_errno(k, "Failed to remove %s/%s: %m", run_dir, *f);
                        if (r == 0)
                                r = k;
                }
        }
        return r;
}

/* 1 when connected, 0 when nobody accepts yet, or a negative errno for a hopeless path. */
static int try_connect(const struct sockaddr_un *sa, socklen_t len) {
        _cleanup_close_ int fd = -EBADF;

        /* Non-blocking: a full backlog gives EAGAIN (retry) instead of stalling past our deadline. */
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return negative_errno();
        if (connect(fd, (const struct sockaddr *) sa, len) >= 0)
                return 1;
        if (errno == ENOENT || errno == ECONNREFUSED || errno == EAGAIN || errno == EINTR)
                return 0;
        return negative_errno();
}

static struct timespec timespec_from_usec(uint64_t usec) {
        return (struct timespec) {
                .tv_sec = (time_t) (usec / USEC_PER_SEC),
                .tv_nsec = (long) ((usec % USEC_PER_SEC) * NSEC_PER_USEC),
        };
}

/* Polling interval for connect() when the directory cannot be watched, or between the socket's bind() and
 * listen() (no event marks the latter): starts short so a fast hypervisor is seen at once, grows to bound the
 * cost of a slow one. The pidfd is watched during the sleeps, so a death is never noticed late. */
#define SOCKET_POLL_MIN_USEC (UINT64_C(1) * USEC_PER_MSEC)
#define SOCKET_POLL_MAX_USEC (UINT64_C(20) * USEC_PER_MSEC)

/* An inotify fd watching the socket's directory for new entries, so that a socket bound in the middle of a
 * sleep is tried at once instead of at its end (up to SOCKET_POLL_MAX_USEC late); -errno when it cannot be
 * had (the caller then only polls). The watch is placed before the first connect(): nothing is missed. */
static int socket_dir_watch(const char *path) {
        _cleanup_free_ char *dir = NULL;
        const char *slash = strrchr(path, '/');

        if (!slash)
                dir = strdup(".");
        else
                dir = strndup(path, slash == path ? 1 : (size_t) (slash - path));
        if (!dir)
                return -ENOMEM;
        _cleanup_close_ int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        if (inotify_add_watch(fd, dir, IN_CREATE | IN_MOVED_TO | IN_ONLYDIR) < 0)
                return negative_errno();
        return TAKE_FD(fd);
}

/* Reads away the queued events: each wakeup means "try again", which one does not matter. */
static void inotify_drain(int fd) {
        _Alignas(struct inotify_event) char buf[4096];

        while (read(fd, buf, sizeof(buf)) > 0)
                ;
}

int wait_for_socket_pidfd(const char *path, int pidfd, uint64_t timeout_usec) {
        _cleanup_close_ int watch_fd = -EBADF;
        struct sockaddr_un sa;
        uint64_t deadline, interval = SOCKET_POLL_MIN_USEC;
        socklen_t len;
        int r;

        if (pidfd < 0)
                return -EINVAL;
        r = sockaddr_un_from_path(&sa, path, &len);
        if (r < 0)
                return r;
        watch_fd = socket_dir_watch(path);
        if (watch_fd < 0)
                log_debug_errno(watch_fd, "Cannot watch the directory of %s, polling only: %m", path);

        deadline = now_usec(CLOCK_MONOTONIC);
        deadline = timeout_usec > UINT64_MAX - deadline ? UINT64_MAX : deadline + timeout_usec;

        for (;;) {
                struct pollfd pfd[2] = {
                        { .fd = pidfd, .events = POLLIN },
                        { .fd = watch_fd, .events = POLLIN }, /* a negative fd is ignored by ppoll() */
                };
                uint64_t n, wait;
                struct timespec ts;

                r = try_connect(&sa, len);
                if (r != 0)
                        return r < 0 ? r : 0;

                n = now_usec(CLOCK_MONOTONIC);
                wait = n >= deadline ? 0 : MIN(interval, deadline - n);
                ts = timespec_from_usec(wait);
                /* A pidfd turns readable when the process exits, zombie or not. */
                r = ppoll(pfd, ELEMENTSOF(pfd), &ts, NULL);
                if (r < 0 && errno != EINTR)
                        return negative_errno();
                if (r > 0 && (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
                        return -ESRCH;
                if (r > 0 && pfd[1].revents) {
                        /* Something appeared: try now, and poll briefly again in case it was the socket
                         * bound but not yet listening. */
                        inotify_drain(watch_fd);
                        interval = SOCKET_POLL_MIN_USEC;
                        continue;
                }
                if (wait == 0)
                        return -ETIMEDOUT;
                interval = MIN(interval * 2, SOCKET_POLL_MAX_USEC);
        }
}

static int open_pidfd(pid_t pid) {
        int fd;

        fd = (int) syscall(SYS_pidfd_open, pid, 0);
        return fd < 0 ? negative_errno() : fd;
}

int wait_for_socket(const char *path, pid_t pid, uint64_t timeout_usec) {
        _cleanup_close_ int pidfd = -EBADF;

        if (pid <= 0)
                return -EINVAL;
        /* pidfd_open() on a pid that is already gone (reaped) fails with ESRCH: the same answer. */
        pidfd = open_pidfd(pid);
        if (pidfd < 0)
                return pidfd;
        return wait_for_socket_pidfd(path, pidfd, timeout_usec);
}

static uint64_t unclaimed_at(int dir_fd, const char *path) {
        struct stat st;
        if (fstatat(dir_fd, path, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
                return 0;
        uint64_t size = (uint64_t) st.st_size, have = (uint64_t) st.st_blocks * 512;
        return size > have ? size - have : 0;
}

int memory_files_unclaimed(const char *vms_run_dir, uint64_t *ret) {
        _cleanup_close_ int fd = open(vms_run_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        uint64_t sum = 0;
        if (fd < 0) {
                *ret = 0;
                return errno == ENOENT ? 0 : -errno;
        }
        int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
        if (!d) {
                int r = -errno;
                if (dup_fd >= 0)
                        close(dup_fd);
                return r;
        }
        struct dirent *de;
        while ((de = readdir(d))) {
                char path[NAME_MAX + 16];
                if (de->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof(path), "%s/%s", de->d_name, MEMORY_FILE_NAME);
                sum += unclaimed_at(fd, path);
                snprintf(path, sizeof(path), "%s/r/%s", de->d_name, MEMORY_FILE_NAME);
                sum += unclaimed_at(fd, path);
        }
        closedir(d);
        *ret = sum;
        return 0;
}
