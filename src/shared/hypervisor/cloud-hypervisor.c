/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Cloud Hypervisor backend: its command line and its REST API (vmm-http) on <run_dir>/api.sock. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cloud-hypervisor.h"
#include "cow-disk.h"
#include "fd-util.h"
#include "fs-util.h"
#include "helpers.h"
#include "json-util.h"
#include "strv-util.h"
#include "time-util.h"
#include "vmm-http.h"

static bool has_suffix(const char *s, const char *suffix) {
        size_t n = strlen(s), k = strlen(suffix);
        return n >= k && streq(s + n - k, suffix);
}

int ch_disk_item(const StorageConfig *s, const Config *c, char **ret) {
        bool qcow2 = has_suffix(s->path, ".qcow2");
        bool direct = !s->read_only && (s->direct_io >= 0 ? s->direct_io > 0 : !c->no_direct_io);
        char serial[128] = "";

        /* Commas would split Cloud Hypervisor's item syntax; validated paths and serials never have them. */
        if (strchr(s->path, ',') || (s->serial && strchr(s->serial, ',')))
                return -EINVAL;
        if (!isempty(s->serial))
                snprintf(serial, sizeof(serial), ",serial=%s", s->serial);
        if (asprintf(ret, "path=%s%s%s%s,image_type=%s%s,num_queues=%" PRIu32 ",queue_size=%" PRIu32 "%s",
                     s->path, s->read_only ? ",readonly=on" : "", direct ? ",direct=on" : "",
                     !s->read_only && !qcow2 ? ",sparse=on" : "", qcow2 ? "qcow2" : "raw",
                     qcow2 && !s->read_only ? ",backing_files=on" : "", MAX(c->cpu, 1U),
                     c->disk_queue_size ?: CH_DISK_QUEUE_SIZE_DEFAULT, serial) < 0)
                return -ENOMEM;
        return 0;
}

int ch_net_item(const NetworkConfig *n, const Config *c, char **ret) {
        char mac[64] = "";

        if (!n->tap || strchr(n->tap, ',') || (n->mac && strchr(n->mac, ',')))
                return -EINVAL;
        if (n->mac)
                snprintf(mac, sizeof(mac), ",mac=%s", n->mac);
        if (asprintf(ret, "tap=%s%s,num_queues=%" PRIu32 ",queue_size=%" PRIu32
                     ",offload_tso=on,offload_ufo=on,offload_csum=on",
                     n->tap, mac, n->num_queues ?: 2U,
                     n->queue_size ?: (c->queue_size ?: CH_NET_QUEUE_SIZE_DEFAULT)) < 0)
                return -ENOMEM;
        return 0;
}

int ch_kernel_cmdline(const VMRecord *r, char **ret) {
        const char *base = r->boot_config && r->boot_config->cmdline ? r->boot_config->cmdline : "";
        _cleanup_free_ char *ip = NULL;

        /* The guest contract (cocoon-behavior.md 3.1), as QEMU's: eth<i> names, hostname, addresses. */
        if (r->vm.n_network_configs > 0) {
                int k = build_ip_params(r->vm.network_configs, r->vm.n_network_configs, r->vm.name, NULL,
                                        &ip);
                if (k < 0)
                        return k;
        }
        if (asprintf(ret, "%s%s%s%s", base, ip && !isempty(base) ? " " : "", ip ? "net.ifnames=0" : "",
                     ip ?: "") < 0)
                return -ENOMEM;
        return 0;
}

/* A flag followed by one value per item (Cloud Hypervisor's --disk A B C); nothing without items. */
static int add_items(char ***argv, const char *flag, const VMRecord *r, bool disks) {
        size_t n = disks ? r->vm.n_storage_configs : r->vm.n_network_configs;
        int k;
        if (n == 0)
                return 0;
        if ((k = strv_extend(argv, flag)) < 0)
                return k;
        for (size_t i = 0; i < n; i++) {
                char *item;
                k = disks ? ch_disk_item(r->vm.storage_configs + i, &r->vm.config, &item)
                          : ch_net_item(r->vm.network_configs + i, &r->vm.config, &item);
                if (k < 0)
                        return k;
                if ((k = strv_push(argv, item)) < 0) {
                        free(item);
                        return k;
                }
        }
        return 0;
}

int ch_build_argv(const VMRecord *r, const HypervisorLaunch *l, char ***ret_argv) {
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_free_ char *cmdline = NULL;
        int k;

        if (!r->run_dir)
                return -EINVAL;
        if ((k = strv_extend(&argv, l->binary)) < 0 || (k = strv_extend(&argv, "--api-socket")) < 0 ||
            (k = strv_extendf(&argv, "path=%s/%s", r->run_dir, API_SOCKET_NAME)) < 0)
                return k;
        /* A clone's configuration and state come from the snapshot, through vm.restore. */
        if (l->incoming) {
                *ret_argv = TAKE_PTR(argv);
                return 0;
        }
        if (!r->boot_config || isempty(r->boot_config->kernel_path))
                return -EOPNOTSUPP;
        if ((k = ch_kernel_cmdline(r, &cmdline)) < 0)
                return k;

        /* max = boot: no CPU hot-plug, and no vCPU threads sized to the host. */
        uint32_t cpu = MAX(r->vm.config.cpu, 1U);
        if ((k = strv_extend(&argv, "--cpus")) < 0 ||
            (k = strv_extendf(&argv, "boot=%" PRIu32 ",max=%" PRIu32, cpu, cpu)) < 0 ||
            (k = strv_extend(&argv, "--memory")) < 0 ||
            (k = strv_extendf(&argv, "size=%" PRIu64, r->vm.config.memory)) < 0 ||
            (k = strv_extend_many(&argv, "--kernel", r->boot_config->kernel_path, NULL)) < 0)
                return k;
        if (!isempty(r->boot_config->initrd_path) &&
            (k = strv_extend_many(&argv, "--initramfs", r->boot_config->initrd_path, NULL)) < 0)
                return k;
        if ((k = strv_extend_many(&argv, "--cmdline", cmdline, NULL)) < 0 ||
            (k = add_items(&argv, "--disk", r, true)) < 0 || (k = add_items(&argv, "--net", r, false)) < 0 ||
            (k = strv_extend_many(&argv, "--rng", "src=/dev/urandom", NULL)) < 0)
                return k;
        /* What the guest does not use goes back to the host when it asks (free page reporting). */
        if (r->vm.config.memory >= CH_BALLOON_MEMORY_MIN && !r->vm.config.windows &&
            ((k = strv_extend(&argv, "--balloon")) < 0 ||
             (k = strv_extendf(&argv, "size=%" PRIu64 ",deflate_on_oom=on,free_page_reporting=on",
                            r->vm.config.memory / 4)) < 0))
                return k;
        /* The guest's ttyS0 on Cloud Hypervisor's stdin and stdout, as Firecracker's (serial_on_stdio):
         * systemd appends the output to the spool whether or not a manager runs. A pty would hold only
         * what fits its buffer while no manager reads it, and a socket= serial drops what comes with no
         * client. */
        if ((k = strv_extend_many(&argv, "--serial", "tty", "--console", "off", NULL)) < 0)
                return k;
        *ret_argv = TAKE_PTR(argv);
        return 0;
}

/* ---- the REST API ---- */

/* Calls within one conversation may take long (a snapshot); the caller's timeout bounds each. */
static int ch_call(const char *run_dir, VmmHttpMethod method, const char *endpoint, json_object *body,
                   bool idempotent, uint64_t timeout_usec, json_object **ret_json, char **ret_error) {
        _cleanup_free_ char *socket_path = NULL, *path = NULL;
        if (asprintf(&socket_path, "%s/%s", run_dir, API_SOCKET_NAME) < 0 ||
            asprintf(&path, "/api/v1/%s", endpoint) < 0)
                return -ENOMEM;
        VmmHttpRequest req = {
                .socket_path = socket_path,
                .method = method,
                .path = path,
                .body = body,
                .idempotent = idempotent,
                .timeout_usec = timeout_usec,
        };
        return vmm_http_call_ok(&req, ret_json, ret_error);
}

static void sleep_usec(uint64_t usec) {
        struct timespec ts = { .tv_sec = usec / USEC_PER_SEC, .tv_nsec = (usec % USEC_PER_SEC) * 1000 };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* GET vm.info until the VM exists and was booted or restored (Cloud Hypervisor boots a command line's VM
 * just after its API comes up): *ret_info and its state. */
static int ch_info_booted(const char *run_dir, uint64_t timeout_usec, json_object **ret_info,
                          const char **ret_state, char **ret_error) {
        uint64_t deadline = now_usec(CLOCK_MONOTONIC) + timeout_usec;
        for (;;) {
                _cleanup_(json_object_putp) json_object *info = NULL;
                _cleanup_free_ char *error = NULL;
                const char *state = NULL;
                int r = ch_call(run_dir, VMM_HTTP_GET, "vm.info", NULL, false, timeout_usec, &info, &error);
                if (r >= 0 && json_get_string(info, "state", &state) >= 0 && !streq(state, "Created")) {
                        *ret_state = state;
                        *ret_info = TAKE_PTR(info);
                        return 0;
                }
                if (r >= 0 && !state)
                        return -EBADMSG;
                /* 404 (no VM yet) and Created are passing states; a connection error is not. */
                if ((r < 0 && r != -EIO) || now_usec(CLOCK_MONOTONIC) >= deadline) {
                        if (ret_error) {
                                free(*ret_error);
                                *ret_error = TAKE_PTR(error);
                        }
                        return r < 0 ? r : -ETIMEDOUT;
                }
                sleep_usec(50 * USEC_PER_MSEC);
        }
}

static int ch_resume(const char *run_dir, uint64_t timeout_usec, char **ret_error) {
        _cleanup_(json_object_putp) json_object *info = NULL;
        const char *state;
        int r = ch_info_booted(run_dir, timeout_usec, &info, &state, ret_error);
        if (r < 0)
                return r;
        if (streq(state, "Running"))
                return 0;
        if (streq(state, "Paused"))
                return ch_call(run_dir, VMM_HTTP_PUT, "vm.resume", NULL, true, timeout_usec, NULL,
                               ret_error);
        if (ret_error) {
                free(*ret_error);
                if (asprintf(ret_error, "the VM is %s", state) < 0)
                        *ret_error = NULL;
        }
        return -EIO;
}

static int ch_pause(const char *run_dir, uint64_t timeout_usec, char **ret_error) {
        return ch_call(run_dir, VMM_HTTP_PUT, "vm.pause", NULL, true, timeout_usec, NULL, ret_error);
}

/* The ACPI power button: the guest powers off and Cloud Hypervisor exits with it. */
static int ch_request_shutdown(const char *run_dir, uint64_t timeout_usec, char **ret_error) {
        return ch_call(run_dir, VMM_HTTP_PUT, "vm.power-button", NULL, true, timeout_usec, NULL, ret_error);
}

/* vm.shutdown: the VM ends and Cloud Hypervisor flushes its disks; its process stays for systemd's
 * SIGTERM. */
static int ch_final_shutdown(const char *run_dir, uint64_t timeout_usec, char **ret_error) {
        return ch_call(run_dir, VMM_HTTP_PUT, "vm.shutdown", NULL, true, timeout_usec, NULL, ret_error);
}

/* ---- snapshots: vm.snapshot into the exchange directory, vm.restore from it ---- */

/* The files of Cloud Hypervisor's snapshot (vmm/src/lib.rs: SNAPSHOT_CONFIG_FILE, SNAPSHOT_STATE_FILE and
 * the memory ranges). */
#define CH_CONFIG_FILE "config.json"
#define CH_STATE_FILE "state.json"
#define CH_MEMORY_PREFIX "memory-range"

static bool is_state_file(const char *name) {
        return streq(name, CH_CONFIG_FILE) || streq(name, CH_STATE_FILE) ||
               strncmp(name, CH_MEMORY_PREFIX, strlen(CH_MEMORY_PREFIX)) == 0;
}

static int set_error(char **ret_error, const char *format, ...) _printf_(2, 3);
static int set_error(char **ret_error, const char *format, ...) {
        va_list ap;
        if (!ret_error)
                return 0;
        free(*ret_error);
        va_start(ap, format);
        if (vasprintf(ret_error, format, ap) < 0)
                *ret_error = NULL;
        va_end(ap);
        return 0;
}

/* Empties a directory of regular files (the exchange directory never holds anything else). */
static int clear_dir(int dir_fd) {
        _cleanup_close_ int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        DIR *d = fdopendir(fd);
        if (!d)
                return -errno;
        TAKE_FD(fd);
        int r = 0;
        for (struct dirent *de; (de = readdir(d));)
                if (!streq(de->d_name, ".") && !streq(de->d_name, "..") &&
                    unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT && r == 0)
                        r = -errno;
        closedir(d);
        return r;
}

/* name from one directory to the other: a rename on one file system, else a copy. */
static int move_file(int from_fd, int to_fd, const char *name) {
        if (renameat(from_fd, name, to_fd, name) >= 0)
                return 0;
        if (errno != EXDEV)
                return -errno;
        _cleanup_close_ int src = openat(from_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        struct stat st;
        if (src < 0 || fstat(src, &st) < 0)
                return -errno;
        _cleanup_close_ int dst =
                openat(to_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (dst < 0)
                return -errno;
        int r = cow_disk_copy(src, dst, (uint64_t) st.st_size);
        if (r < 0)
                return r;
        return unlinkat(from_fd, name, 0) < 0 ? -errno : 0;
}

static int file_url(const char *path, json_object **ret_body, const char *key) {
        _cleanup_free_ char *url = NULL;
        _cleanup_(json_object_putp) json_object *body = json_object_new_object();
        if (!body || asprintf(&url, "file://%s", path) < 0 || json_add_string(body, key, url) < 0)
                return -ENOMEM;
        *ret_body = TAKE_PTR(body);
        return 0;
}

/* Of a paused guest: vm.snapshot writes config.json, state.json and the memory ranges into the exchange
 * directory (all the sandboxed hypervisor can write), and they move into the snapshot's payload. */
static int ch_snapshot(const char *run_dir, HypervisorSnapshotDir *dir, uint64_t timeout_usec,
                       char **ret_error) {
        _cleanup_(json_object_putp) json_object *body = NULL;
        if (!dir->exchange)
                return -EINVAL;
        _cleanup_close_ int ex_fd = open(dir->exchange, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (ex_fd < 0)
                return -errno;
        int r = clear_dir(ex_fd);
        if (r < 0 || (r = file_url(dir->exchange, &body, "destination_url")) < 0)
                return r;
        /* Never retried: a lost answer after the VMM wrote half a snapshot must not start another. */
        r = ch_call(run_dir, VMM_HTTP_PUT, "vm.snapshot", body, false, timeout_usec, NULL, ret_error);
        if (r >= 0) {
                DIR *d = fdopendir(ex_fd);
                if (!d)
                        r = -errno;
                else {
                        int fd_copy = dirfd(d);
                        for (struct dirent *de; r >= 0 && (de = readdir(d));) {
                                if (!is_state_file(de->d_name))
                                        continue;
                                r = move_file(fd_copy, dir->fd, de->d_name);
                                /* Clones get hard links of the memory ranges: read-only for every
                                 * hypervisor (they share one user), so none can change the snapshot. */
                                if (r >= 0 && (fchownat(dir->fd, de->d_name, 0, (gid_t) -1,
                                                        AT_SYMLINK_NOFOLLOW) < 0 ||
                                               fchmodat(dir->fd, de->d_name, 0440, 0) < 0))
                                        r = -errno;
                                if (r < 0)
                                        set_error(ret_error, "cannot move %s into the snapshot: %s",
                                                  de->d_name, strerror(-r));
                        }
                        ex_fd = -EBADF; /* closedir() closes it */
                        closedir(d);
                }
        }
        if (r >= 0 && faccessat(dir->fd, CH_CONFIG_FILE, F_OK, 0) < 0) {
                r = -EBADMSG;
                set_error(ret_error, "vm.snapshot wrote no %s", CH_CONFIG_FILE);
        }
        if (r >= 0)
                r = fsync_directory_at(dir->fd, NULL);
        _cleanup_close_ int again = open(dir->exchange, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (again >= 0)
                (void) clear_dir(again);
        return r;
}

/* Replaces, anywhere in the tree, a string under a key "path" or "disk_path" that equals one of old[i]
 * exactly (no prefixes: /vms/a1 never matches /vms/a10) with new[i]. */
int ch_rewrite_paths(json_object *o, char **old, char **new, size_t n) {
        if (json_object_is_type(o, json_type_array)) {
                for (size_t i = 0; i < json_object_array_length(o); i++) {
                        int r = ch_rewrite_paths(json_object_array_get_idx(o, i), old, new, n);
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        if (!json_object_is_type(o, json_type_object))
                return 0;
        json_object_object_foreach(o, key, value) {
                if ((streq(key, "path") || streq(key, "disk_path")) &&
                    json_object_is_type(value, json_type_string)) {
                        for (size_t i = 0; i < n; i++)
                                if (streq(json_object_get_string(value), old[i])) {
                                        if (json_add_string(o, key, new[i]) < 0)
                                                return -ENOMEM;
                                        break;
                                }
                        continue;
                }
                int r = ch_rewrite_paths(value, old, new, n);
                if (r < 0)
                        return r;
        }
        return 0;
}

static json_object *console_mode(const char *mode) {
        json_object *o = json_object_new_object();
        if (!o || json_add_string(o, "mode", mode) < 0 || json_object_object_add(o, "file", NULL) < 0 ||
            json_object_object_add(o, "socket", NULL) < 0 || json_add_bool(o, "iommu", false) < 0)
                return json_object_put(o), NULL;
        return o;
}

/* The snapshot's config.json for this VM (cocoon-behavior.md 4.9): its own disks by index, the same
 * number as the snapshot's (device state is per disk); its own TAPs and MACs; the serial on its stdio.
 * Unknown fields stay. The old and new disk paths are returned for state.json. */
int ch_config_for_clone(json_object *config, const VMRecord *r, char ***ret_old, char ***ret_new,
                        char **ret_error) {
        _cleanup_strv_free_ char **old = NULL, **new = NULL;
        json_object *disks = NULL, *nets = NULL;
        size_t n_disks = 0, n_nets = 0;

        if (!json_object_is_type(config, json_type_object))
                return -EBADMSG;
        if (json_object_object_get_ex(config, "disks", &disks) &&
            json_object_is_type(disks, json_type_array))
                n_disks = json_object_array_length(disks);
        if (json_object_object_get_ex(config, "net", &nets) && json_object_is_type(nets, json_type_array))
                n_nets = json_object_array_length(nets);
        if (n_disks != r->vm.n_storage_configs) {
                set_error(ret_error, "disk count mismatch: the snapshot has %zu, the VM %zu", n_disks,
                          r->vm.n_storage_configs);
                return -EINVAL;
        }
        if (n_nets != r->vm.n_network_configs) {
                set_error(ret_error, "NIC count mismatch: the snapshot has %zu, the VM %zu", n_nets,
                          r->vm.n_network_configs);
                return -EINVAL;
        }
        for (size_t i = 0; i < n_disks; i++) {
                json_object *d = json_object_array_get_idx(disks, i);
                const char *path = NULL;
                if (json_get_string(d, "path", &path) < 0)
                        return -EBADMSG;
                if (strv_extend(&old, path) < 0 || strv_extend(&new, r->vm.storage_configs[i].path) < 0 ||
                    json_add_string(d, "path", r->vm.storage_configs[i].path) < 0)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < n_nets; i++) {
                json_object *o = json_object_array_get_idx(nets, i);
                const NetworkConfig *nic = r->vm.network_configs + i;
                if (!json_object_is_type(o, json_type_object) || json_add_string(o, "tap", nic->tap) < 0 ||
                    (nic->mac && json_add_string(o, "mac", nic->mac) < 0))
                        return -ENOMEM;
        }
        if (json_add_object(config, "serial", console_mode("Tty")) < 0 ||
            json_add_object(config, "console", console_mode("Off")) < 0)
                return -ENOMEM;
        *ret_old = TAKE_PTR(old);
        *ret_new = TAKE_PTR(new);
        return 0;
}

/* Writes o as name in dir_fd, owned by uid/gid (the hypervisor reads it, as another user). */
static int write_json_owned(int dir_fd, const char *name, json_object *o, uid_t uid, gid_t gid) {
        const char *text = json_to_string(o);
        _cleanup_close_ int fd =
                openat(dir_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        if (fchown(fd, uid, gid) < 0)
                return -errno;
        return loop_write(fd, text, strlen(text));
}

static int read_json_at(int dir_fd, const char *name, json_object **ret) {
        _cleanup_free_ char *text = NULL;
        size_t size;
        int r = read_full_file_at(dir_fd, name, READ_FULL_FILE_MAX, &text, &size);
        if (r < 0)
                return r;
        return json_parse(text, size, ret);
}

/* The exchange directory for vm.restore: config.json and state.json rewritten for this VM, the memory
 * ranges linked from the snapshot (copied across file systems). */
static int clone_prepare(const HypervisorSnapshotDir *dir, int ex_fd, char **ret_error) {
        _cleanup_(json_object_putp) json_object *config = NULL, *state = NULL;
        _cleanup_strv_free_ char **old = NULL, **new = NULL;
        struct stat st;
        int r;

        if (fstat(ex_fd, &st) < 0)
                return -errno;
        if ((r = read_json_at(dir->fd, CH_CONFIG_FILE, &config)) < 0) {
                set_error(ret_error, "cannot read the snapshot's %s: %s", CH_CONFIG_FILE, strerror(-r));
                return r;
        }
        if ((r = read_json_at(dir->fd, CH_STATE_FILE, &state)) < 0) {
                set_error(ret_error, "cannot read the snapshot's %s: %s", CH_STATE_FILE, strerror(-r));
                return r;
        }
        if ((r = ch_config_for_clone(config, dir->record, &old, &new, ret_error)) < 0 ||
            (r = ch_rewrite_paths(state, old, new, strv_length(old))) < 0)
                return r;
        if ((r = write_json_owned(ex_fd, CH_CONFIG_FILE, config, st.st_uid, st.st_gid)) < 0 ||
            (r = write_json_owned(ex_fd, CH_STATE_FILE, state, st.st_uid, st.st_gid)) < 0)
                return r;

        _cleanup_close_ int fd = openat(dir->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d)
                return -errno;
        TAKE_FD(fd);
        bool memory = false;
        for (struct dirent *de; r >= 0 && (de = readdir(d));) {
                if (strncmp(de->d_name, CH_MEMORY_PREFIX, strlen(CH_MEMORY_PREFIX)) != 0)
                        continue;
                memory = true;
                if (linkat(dirfd(d), de->d_name, ex_fd, de->d_name, 0) >= 0)
                        continue;
                r = -errno;
                set_error(ret_error, "cannot link %s from the snapshot: %s", de->d_name, strerror(errno));
        }
        closedir(d);
        if (r >= 0 && !memory) {
                set_error(ret_error, "the snapshot has no %s files", CH_MEMORY_PREFIX);
                r = -EBADMSG;
        }
        return r;
}

/* Into a Cloud Hypervisor launched with only its API socket: vm.restore from the exchange directory. The
 * guest stays paused until resume(). */
static int ch_clone(const char *run_dir, const HypervisorSnapshotDir *dir, uint64_t timeout_usec,
                    char **ret_error) {
        _cleanup_(json_object_putp) json_object *body = NULL;
        if (!dir->exchange || !dir->record)
                return -EINVAL;
        _cleanup_close_ int ex_fd = open(dir->exchange, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (ex_fd < 0)
                return -errno;
        int r = clear_dir(ex_fd);
        if (r >= 0)
                r = clone_prepare(dir, ex_fd, ret_error);
        if (r >= 0)
                r = file_url(dir->exchange, &body, "source_url");
        /* Never retried, like the snapshot. */
        if (r >= 0)
                r = ch_call(run_dir, VMM_HTTP_PUT, "vm.restore", body, false, timeout_usec, NULL, ret_error);
        /* The restored guest's memory is its own now (not OnDemand: nothing maps the files). */
        (void) clear_dir(ex_fd);
        return r;
}

/* The guest CPU is the host's: Cloud Hypervisor has no emulation and no CPU models. */
static const char *ch_cpu_model(Accel accel) {
        return "host";
}

static const char *const ch_start_calls[] = {
        "GET /api/v1/vm.info (until the VM is booted or restored)",
        "PUT /api/v1/vm.resume (when paused)",
        NULL,
};

const Hypervisor hypervisor_cloud_hypervisor = {
        .type = "cloud-hypervisor",
        .default_binary = "cloud-hypervisor",
        .machine = "cloud-hypervisor",
        /* cocoon-behavior.md 4.1 says console=hvc0: our guests' console is the serial port (--serial pty) */
        .overlay_cmdline_head = "console=ttyS0 loglevel=3",
        .kvm_only = true,
        .cpu_model = ch_cpu_model,
        .build_argv = ch_build_argv,
        .resume = ch_resume,
        .pause = ch_pause,
        .state_by_path = true,
        .start_calls = ch_start_calls,
        .snapshot = ch_snapshot,
        .clone = ch_clone,
        .disk_grown = NULL,
        .request_shutdown = ch_request_shutdown,
        .final_shutdown = ch_final_shutdown,
        .serial_on_stdio = true,
        .console_spool = true, /* systemd appends its stdout to the spool */
        .query_console = NULL, /* serial_on_stdio */
};
