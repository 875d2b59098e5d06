/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Firecracker backend: the command line a VM record launches with, and its REST conversations. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cow-disk.h"
#include "fd-util.h"
#include "firecracker.h"
#include "helpers.h"
#include "json-util.h"
#include "strv-util.h"
#include "vmm-http.h"

int firecracker_build_argv(const VMRecord *r, const HypervisorLaunch *l, char ***ret_argv) {
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_free_ char *api = NULL;

        if (!r->boot_config || isempty(r->boot_config->kernel_path))
                return -EOPNOTSUPP; /* direct kernel boot only: Firecracker has no firmware */
        if (!r->run_dir || asprintf(&api, "%s/%s", r->run_dir, API_SOCKET_NAME) < 0)
                return -ENOMEM;
        if (strv_extend(&argv, l->binary) < 0 || strv_extend(&argv, "--api-sock") < 0 ||
            strv_extend(&argv, api) < 0 || strv_extend(&argv, "--id") < 0 ||
            strv_extend(&argv, r->vm.id) < 0)
                return -ENOMEM;
        *ret_argv = TAKE_PTR(argv);
        return 0;
}

static bool has_param(const char *cmdline, const char *param) {
        size_t n = strlen(param);
        for (const char *p = cmdline; p && (p = strstr(p, param)); p += n)
                if ((p == cmdline || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' ' || p[n] == '='))
                        return true;
        return false;
}

int firecracker_boot_args(const VMRecord *r, char **ret) {
        const char *base = r->boot_config && r->boot_config->cmdline ? r->boot_config->cmdline : "";
        _cleanup_free_ char *ip = NULL;
        char *s;
        int k;

        /* The guest contract (cocoon-behavior.md 3.1), as for QEMU. */
        if (r->vm.n_network_configs > 0) {
                k = build_ip_params(r->vm.network_configs, r->vm.n_network_configs, r->vm.name, NULL,
                                        &ip);
                if (k < 0)
                        return k;
        }
        if (asprintf(&s, "%s%s%s%s%s%s", base, ip && !isempty(base) ? " " : "", ip ? "net.ifnames=0" : "",
                     ip ?: "", has_param(base, "reboot") ? "" : " reboot=k",
                     has_param(base, "pci") ? "" : " pci=off") < 0)
                return -ENOMEM;
        /* No leading blank when the record had no command line. */
        if (s[0] == ' ')
                memmove(s, s + 1, strlen(s));
        *ret = s;
        return 0;
}

static int boot_source_body(const VMRecord *r, json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        _cleanup_free_ char *args = NULL;
        int k = firecracker_boot_args(r, &args);
        if (k < 0)
                return k;
        if (!o || json_add_string(o, "kernel_image_path", r->boot_config->kernel_path) < 0 ||
            json_add_string(o, "boot_args", args) < 0 ||
            (!isempty(r->boot_config->initrd_path) &&
             json_add_string(o, "initrd_path", r->boot_config->initrd_path) < 0))
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

/* Drive i is the guest's i-th virtio-blk device (/dev/vda, /dev/vdb, …): Firecracker attaches them in
 * the order they were configured. No root device: the guest finds its disks by the kernel parameters. */
static int drive_body(const StorageConfig *s, size_t i, char **ret_path, json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        char id[32];
        snprintf(id, sizeof(id), "drive_%zu", i);
        if (!o || json_add_string(o, "drive_id", id) < 0 ||
            json_add_string(o, "path_on_host", s->path) < 0 ||
            json_add_bool(o, "is_root_device", false) < 0 ||
            json_add_bool(o, "is_read_only", s->read_only) < 0)
                return -ENOMEM;
        if (asprintf(ret_path, "/drives/%s", id) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

static int machine_body(const VMRecord *r, json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        if (!o || json_add_int64(o, "vcpu_count", r->vm.config.cpu) < 0 ||
            json_add_int64(o, "mem_size_mib", (int64_t) (r->vm.config.memory >> 20)) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

static int nic_body(const NetworkConfig *n, size_t i, char **ret_path, json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        char id[32];
        if (!n->tap)
                return -EINVAL;
        snprintf(id, sizeof(id), "eth%zu", i);
        if (!o || json_add_string(o, "iface_id", id) < 0 ||
            json_add_string(o, "host_dev_name", n->tap) < 0 || json_add_string(o, "guest_mac", n->mac) < 0)
                return -ENOMEM;
        if (asprintf(ret_path, "/network-interfaces/%s", id) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

int firecracker_config_call(const VMRecord *r, size_t index, char **ret_path, json_object **ret_body) {
        size_t disks = r->vm.n_storage_configs, nics = r->vm.n_network_configs;
        _cleanup_(json_object_putp) json_object *body = NULL;
        const char *fixed = NULL;
        int k;

        if (!r->boot_config || isempty(r->boot_config->kernel_path))
                return -EOPNOTSUPP;
        /* The spec's order: the boot source, the drives, the machine, the NICs. */
        if (index == 0) {
                fixed = "/boot-source";
                k = boot_source_body(r, &body);
        } else if (index - 1 < disks)
                return drive_body(r->vm.storage_configs + index - 1, index - 1, ret_path, ret_body);
        else if (index - 1 == disks) {
                fixed = "/machine-config";
                k = machine_body(r, &body);
        } else if (index - 2 - disks < nics)
                return nic_body(r->vm.network_configs + index - 2 - disks, index - 2 - disks, ret_path,
                                ret_body);
        else
                return -ENOENT;
        if (k < 0)
                return k;
        char *path = strdup(fixed);
        if (!path)
                return -ENOMEM;
        *ret_path = path;
        *ret_body = TAKE_PTR(body);
        return 0;
}

static int api_socket(const char *run_dir, char **ret) {
        return asprintf(ret, "%s/%s", run_dir, API_SOCKET_NAME) < 0 ? -ENOMEM : 0;
}

/* One call that must answer 2xx. idempotent: see VmmHttpRequest (never for actions, snapshots). */
static int api_call(const char *run_dir, VmmHttpMethod method, const char *path, json_object *body,
                    bool idempotent, uint64_t timeout_usec, json_object **ret_json, char **ret_error) {
        _cleanup_free_ char *socket_path = NULL;
        int r = api_socket(run_dir, &socket_path);
        if (r < 0)
                return r;
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

/* Pre-boot configuration replaces what a path holds: sending it twice changes nothing. */
static int firecracker_configure(const VMRecord *r, const HypervisorLaunch *l, uint64_t timeout_usec,
                                 char **ret_error) {
        for (size_t i = 0;; i++) {
                _cleanup_free_ char *path = NULL;
                _cleanup_(json_object_putp) json_object *body = NULL;
                int k = firecracker_config_call(r, i, &path, &body);
                if (k == -ENOENT)
                        return 0;
                if (k < 0)
                        return k;
                k = api_call(r->run_dir, VMM_HTTP_PUT, path, body, true, timeout_usec, NULL, ret_error);
                if (k < 0)
                        return k;
        }
}

static int action(const char *run_dir, const char *type, uint64_t timeout_usec, char **ret_error) {
        _cleanup_(json_object_putp) json_object *body = json_object_new_object();
        if (!body || json_add_string(body, "action_type", type) < 0)
                return -ENOMEM;
        return api_call(run_dir, VMM_HTTP_PUT, "/actions", body, false, timeout_usec, NULL, ret_error);
}

static int set_vm_state(const char *run_dir, const char *state, uint64_t timeout_usec, char **ret_error) {
        _cleanup_(json_object_putp) json_object *body = json_object_new_object();
        if (!body || json_add_string(body, "state", state) < 0)
                return -ENOMEM;
        return api_call(run_dir, VMM_HTTP_PATCH, "/vm", body, true, timeout_usec, NULL, ret_error);
}

/* Whatever the guest's state, make it run: a fresh process boots (InstanceStart, sent once: a second
 * one after a lost reply would fail the start), a paused or loaded one resumes. */
static int firecracker_resume(const char *run_dir, uint64_t timeout_usec, char **ret_error) {
        _cleanup_(json_object_putp) json_object *info = NULL;
        const char *state = NULL;
        int r = api_call(run_dir, VMM_HTTP_GET, "/", NULL, true, timeout_usec, &info, ret_error);
        if (r < 0)
                return r;
        if (json_get_string(info, "state", &state) < 0)
                return -EBADMSG;
        if (streq(state, "Running"))
                return 0;
        if (streq(state, "Not started"))
                return action(run_dir, "InstanceStart", timeout_usec, ret_error);
        return set_vm_state(run_dir, "Resumed", timeout_usec, ret_error);
}

static int firecracker_pause(const char *run_dir, uint64_t timeout_usec, char **ret_error) {
        return set_vm_state(run_dir, "Paused", timeout_usec, ret_error);
}

/* reboot=k in the guest's command line: the guest's answer, a power-off, ends the process. */
static int firecracker_request_shutdown(const char *run_dir, uint64_t timeout_usec, char **ret_error) {
        return action(run_dir, "SendCtrlAltDel", timeout_usec, ret_error);
}

/* Moves name from the run directory (tmpfs, Firecracker's) to dir: a copy, as they are different file
 * systems, then the original goes. */
static int move_out(const char *run_dir, const char *name, int dir_fd) {
        _cleanup_free_ char *path = NULL;
        struct stat st;
        if (asprintf(&path, "%s/%s", run_dir, name) < 0)
                return -ENOMEM;
        _cleanup_close_ int src = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (src < 0 || fstat(src, &st) < 0 || !S_ISREG(st.st_mode))
                return src < 0 ? -errno : -EBADFD;
        _cleanup_close_ int dst =
                openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (dst < 0)
                return -errno;
        int r = cow_disk_copy(src, dst, (uint64_t) st.st_size);
        if (r >= 0 && fsync(dst) < 0)
                r = -errno;
        if (r < 0)
                (void) unlinkat(dir_fd, name, 0);
        (void) unlink(path);
        return r;
}

/* The reverse, for a clone: from the snapshot into the run directory, owned by the run directory's owner
 * (the hypervisor's user), which reads it. */
static int copy_in(int dir_fd, const char *name, const char *run_dir) {
        _cleanup_free_ char *path = NULL;
        struct stat st, run;
        if (asprintf(&path, "%s/%s", run_dir, name) < 0)
                return -ENOMEM;
        if (stat(run_dir, &run) < 0)
                return -errno;
        _cleanup_close_ int src = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (src < 0 || fstat(src, &st) < 0 || !S_ISREG(st.st_mode))
                return src < 0 ? -errno : -EBADFD;
        (void) unlink(path);
        _cleanup_close_ int dst = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (dst < 0)
                return -errno;
        int r = cow_disk_copy(src, dst, (uint64_t) st.st_size);
        if (r >= 0 && fchown(dst, run.st_uid, run.st_gid) < 0)
                r = -errno;
        if (r < 0)
                (void) unlink(path);
        return r;
}

static int snapshot_paths(const char *run_dir, char **ret_state, char **ret_mem) {
        if (asprintf(ret_state, "%s/%s", run_dir, FIRECRACKER_STATE_FILE_NAME) < 0)
                return -ENOMEM;
        if (asprintf(ret_mem, "%s/%s", run_dir, FIRECRACKER_MEMORY_FILE_NAME) < 0) {
                *ret_state = mfree(*ret_state);
                return -ENOMEM;
        }
        return 0;
}

/* A full snapshot, never retried: a second try would write over the first one's files mid-way. */
static int firecracker_snapshot(const char *run_dir, HypervisorSnapshotDir *dir, uint64_t timeout_usec,
                                char **ret_error) {
        _cleanup_free_ char *state = NULL, *mem = NULL;
        _cleanup_(json_object_putp) json_object *body = json_object_new_object();
        int r = snapshot_paths(run_dir, &state, &mem);
        if (r < 0)
                return r;
        (void) unlink(state);
        (void) unlink(mem);
        if (!body || json_add_string(body, "snapshot_path", state) < 0 ||
            json_add_string(body, "mem_file_path", mem) < 0 ||
            json_add_string(body, "snapshot_type", "Full") < 0)
                return -ENOMEM;
        r = api_call(run_dir, VMM_HTTP_PUT, "/snapshot/create", body, false, timeout_usec, NULL, ret_error);
        if (r >= 0)
                r = move_out(run_dir, FIRECRACKER_STATE_FILE_NAME, dir->fd);
        if (r >= 0)
                r = move_out(run_dir, FIRECRACKER_MEMORY_FILE_NAME, dir->fd);
        if (r < 0) {
                (void) unlink(state);
                (void) unlink(mem);
                (void) unlinkat(dir->fd, FIRECRACKER_STATE_FILE_NAME, 0);
        }
        return r;
}

int firecracker_load_body(const VMRecord *r, const char *state, const char *mem, json_object **ret) {
        _cleanup_(json_object_putp) json_object *body = json_object_new_object();
        json_object *backend = json_object_new_object();
        if (!body || !backend || json_add_string(backend, "backend_type", "File") < 0 ||
            json_add_string(backend, "backend_path", mem) < 0) {
                json_object_put(backend);
                return -ENOMEM;
        }
        if (json_add_object(body, "mem_backend", backend) < 0 ||
            json_add_string(body, "snapshot_path", state) < 0)
                return -ENOMEM;
        /* The VM's own TAPs instead of the ones the state names (the source's, for a clone). */
        if (r && r->vm.n_network_configs > 0) {
                json_object *overrides = json_object_new_array();
                if (!overrides || json_add_object(body, "network_overrides", overrides) < 0)
                        return -ENOMEM;
                for (size_t i = 0; i < r->vm.n_network_configs; i++) {
                        const NetworkConfig *n = r->vm.network_configs + i;
                        json_object *o = json_object_new_object();
                        char id[32];
                        snprintf(id, sizeof(id), "eth%zu", i);
                        if (!o || json_object_array_add(overrides, o) < 0) {
                                json_object_put(o);
                                return -ENOMEM;
                        }
                        if (!n->tap)
                                return -EINVAL;
                        if (json_add_string(o, "iface_id", id) < 0 ||
                            json_add_string(o, "host_dev_name", n->tap) < 0)
                                return -ENOMEM;
                }
        }
        *ret = TAKE_PTR(body);
        return 0;
}

/* Loads the state into a process that was given no configuration (Firecracker refuses a load after it);
 * the guest stays paused until resume(). */
static int firecracker_clone(const char *run_dir, const HypervisorSnapshotDir *dir, uint64_t timeout_usec,
                             char **ret_error) {
        _cleanup_free_ char *state = NULL, *mem = NULL;
        _cleanup_(json_object_putp) json_object *body = NULL;
        int r = snapshot_paths(run_dir, &state, &mem);
        if (r < 0 || (r = firecracker_load_body(dir->record, state, mem, &body)) < 0)
                return r;
        if ((r = copy_in(dir->fd, FIRECRACKER_STATE_FILE_NAME, run_dir)) < 0 ||
            (r = copy_in(dir->fd, FIRECRACKER_MEMORY_FILE_NAME, run_dir)) < 0)
                return r;
        r = api_call(run_dir, VMM_HTTP_PUT, "/snapshot/load", body, false, timeout_usec, NULL, ret_error);
        /* Loaded (Firecracker maps the memory file: it stays while mapped) or failed: the names go. */
        (void) unlink(state);
        (void) unlink(mem);
        return r;
}

static const char *const firecracker_start_calls[] = {
        "PUT /boot-source", "PUT /drives/drive_<i> (each disk, in order)", "PUT /machine-config",
        "PUT /network-interfaces/eth<i> (each NIC)", "GET /",
        "PUT /actions {\"action_type\": \"InstanceStart\"}", NULL,
};

/* Firecracker's CPU is the host's (KVM only). */
static const char *firecracker_cpu_model(Accel accel) {
        return "host";
}

const Hypervisor hypervisor_firecracker = {
        .type = "firecracker",
        .default_binary = "firecracker",
        .machine = "firecracker",
        .overlay_cmdline_head = "console=ttyS0 reboot=k loglevel=3 pci=off i8042.noaux 8250.nr_uarts=1",
        .disks_by_path = true,
        /* No emulation: Firecracker runs guests on KVM or not at all (the unit gets /dev/kvm, tcg is refused
         * at create). */
        .kvm_only = true,
        .serial_on_stdio = true,
        .console_spool = true, /* systemd appends its stdout to the spool */
        .elf_kernel = true,
        .state_has_disk_paths = true,
        .start_calls = firecracker_start_calls,
        .cpu_model = firecracker_cpu_model,
        .build_argv = firecracker_build_argv,
        .configure = firecracker_configure,
        .resume = firecracker_resume,
        .pause = firecracker_pause,
        .snapshot = firecracker_snapshot,
        .clone = firecracker_clone,
        .disk_grown = NULL, /* PATCH /drives after boot could do it; not yet */
        .request_shutdown = firecracker_request_shutdown,
        .query_console = NULL, /* serial_on_stdio */
};
