/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The QEMU backend: the command line a VM record launches with, and its QMP conversations. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "console.h"
#include "fs-util.h"
#include "helpers.h"
#include "json-util.h"
#include "log.h"
#include "probe.h"
#include "qemu.h"
#include "qmp.h"
#include "strv-util.h"
#include "time-util.h"

Accel accel_resolve(Accel a) {
        if (a != ACCEL_AUTO)
                return a;
        return host_has_hardware_virtualization() ? ACCEL_KVM : ACCEL_TCG;
}

#define QEMU_SANDBOX "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"

static int add_disks(char ***argv, const VMRecord *r) {
        for (size_t i = 0; i < r->vm.n_storage_configs; i++) {
                const StorageConfig *s = r->vm.storage_configs + i;
                bool qcow2 = strlen(s->path) > 6 && streq(s->path + strlen(s->path) - 6, ".qcow2");
                /* Commas in paths would split QEMU's option syntax; our paths never have them. */
                if (strchr(s->path, ','))
                        return -EINVAL;
                int k = strv_extend(argv, "-drive");
                if (k >= 0)
                        k = strv_extendf(argv, "file=%s,format=%s,if=none,id=disk%zu%s%s", s->path,
                                      qcow2 ? "qcow2" : "raw", i, s->read_only ? ",readonly=on" : "",
                                      s->read_only ? "" : ",discard=unmap");
                if (k >= 0)
                        k = strv_extend(argv, "-device");
                if (k >= 0)
                        k = strv_extendf(argv, "virtio-blk-device,drive=disk%zu%s%s", i,
                                      isempty(s->serial) ? "" : ",serial=", isempty(s->serial) ? "" : s->serial);
                if (k < 0)
                        return k;
        }
        return 0;
}

/* One virtio-net device per NIC on its TAP, which the manager created (and QEMU only attaches to: no
 * scripts). NIC i is the guest's eth<i>: devices probe in command-line order. */
static int add_nics(char ***argv, const VMRecord *r, const HypervisorLaunch *l) {
        for (size_t i = 0; i < r->vm.n_network_configs; i++) {
                const NetworkConfig *n = r->vm.network_configs + i;
                /* Validated names never hold a comma; check anyway, as for disk paths. */
                if (!n->tap || strchr(n->tap, ',') || (n->mac && strchr(n->mac, ',')))
                        return -EINVAL;
                /* A queue pair per vCPU when the NIC is multiqueue (numQueues counts rx and tx). Every TAP
                 * is multiqueue for QEMU (taps_create(), the network helper's multiQueue), so a restore's
                 * second QEMU attaches beside the first, and QEMU opens a TAP multiqueue only for queues=2
                 * and more: a single-pair NIC gets two TAP queues and a device without mq, whose guest uses
                 * the first (QEMU detaches the other). */
                char queues[32] = "";
                bool mq = n->num_queues > 2;
                uint32_t tap_queues = mq ? n->num_queues / 2 : 2;
                if (tap_queues > 1)
                        snprintf(queues, sizeof(queues), ",queues=%" PRIu32, tap_queues);
                int k = strv_extend(argv, "-netdev");
                if (k >= 0)
                        k = strv_extendf(argv, "tap,id=net%zu,ifname=%s,script=no,downscript=no%s%s", i, n->tap,
                                      queues, l->vhost_net ? ",vhost=on" : "");
                if (k >= 0)
                        k = strv_extend(argv, "-device");
                if (k >= 0)
                        k = strv_extendf(argv, "virtio-net-device,netdev=net%zu%s%s%s", i, n->mac ? ",mac=" : "",
                                      n->mac ?: "", mq ? ",mq=on" : "");
                if (k < 0)
                        return k;
        }
        return 0;
}

/* The guest's RAM is always a memory backend of this id: the id names the RAM block in the migration
 * stream, so a state saved from one kind of backend loads into another. It is the id microvm gives the
 * backend that -m alone creates, so states saved from VMs launched with plain -m (by earlier versions) load
 * too. A file: share=on writes through to
 * it (the run directory's tmpfs file, which a snapshot copies while the guest is paused); share=off maps a
 * snapshot's file copy-on-write, so the file never changes and every clone of it shares the pages it has
 * not written through the page cache. QEMU 7.2 opens the file read-write either way (8.1 falls back to
 * read-only for share=off; 7.2's readonly=on would make the guest's RAM itself read-only). No file: anonymous
 * memory (a clone of a stream snapshot). */
#define MEMORY_BACKEND_ID "microvm.ram"

static int add_memory_backend(char ***argv, const VMRecord *r, const HypervisorLaunch *l) {
        int k = strv_extend(argv, "-object");
        if (k < 0)
                return k;
        if (!l->memory_file)
                return strv_extendf(argv, "memory-backend-ram,id=" MEMORY_BACKEND_ID ",size=%" PRIu64 "M",
                                 r->vm.config.memory >> 20);
        if (strchr(l->memory_file, ',') || l->memory_file[0] != '/')
                return -EINVAL;
        if (k >= 0)
                k = strv_extendf(argv, "memory-backend-file,id=" MEMORY_BACKEND_ID
                                    ",size=%" PRIu64 "M,mem-path=%s,share=%s",
                              r->vm.config.memory >> 20, l->memory_file, l->memory_private ? "off" : "on");
        return k;
}

/* The name servers the guest is told: those the first NIC's network gave (CNI), else cocoon.conf's DNS=. */
static char *const *nics_dns(const VMRecord *r) {
        for (size_t i = 0; i < r->vm.n_network_configs; i++) {
                const NetworkAddress *a = r->vm.network_configs[i].address;
                if (a && a->dns && a->dns[0])
                        return a->dns;
        }
        return NULL;
}

/* The NICs' identity as a fw_cfg item (build_guest_network()), on every launch: a guest resumed from a
 * snapshot (a clone) reads its own MACs and addresses there, which its kernel command line, from its
 * source's boot, does not have. An incoming migration carries no fw_cfg contents, only the guest's place in
 * them, so the item is always this launch's. */
static int add_guest_network(char ***argv, const VMRecord *r, const HypervisorLaunch *l) {
        _cleanup_free_ char *text = NULL;
        if (r->vm.n_network_configs == 0)
                return 0;
        int k = build_guest_network(r->vm.network_configs, r->vm.n_network_configs, r->vm.name,
                                    nics_dns(r) ?: l->dns, &text);
        if (k < 0)
                return k;
        /* A comma would end QEMU's string= value; validated names and addresses never have one. */
        if (strchr(text, ','))
                return -EINVAL;
        k = strv_extend(argv, "-fw_cfg");
        if (k >= 0)
                k = strv_extendf(argv, "name=" GUEST_NETWORK_FW_CFG_NAME ",string=%s", text);
        return k;
}

static int build_cmdline(const VMRecord *r, const HypervisorLaunch *l, char **ret) {
        const char *base = r->boot_config->cmdline ?: "";
        _cleanup_free_ char *ip = NULL;
        char *s;

        /* The guest contract (cocoon-behavior.md 3.1): with NICs, stable eth<i> names, the hostname and
         * each static address; NICs without one (bridge mode) use DHCP. */
        if (r->vm.n_network_configs > 0) {
                char *const *dns = nics_dns(r) ?: l->dns;
                int k = build_ip_params(r->vm.network_configs, r->vm.n_network_configs, r->vm.name, dns,
                                        &ip);
                if (k < 0)
                        return k;
        }
        if (asprintf(&s, "%s%s%s%s", base, ip && !isempty(base) ? " " : "", ip ? "net.ifnames=0" : "",
                     ip ?: "") < 0)
                return -ENOMEM;
        if (l->accel == ACCEL_TCG && l->tsc_khz > 0 && !strstr(base, "tsc_early_khz=")) {
                char *t;
                if (asprintf(&t, "%s%stsc_early_khz=%" PRIu64, s, isempty(s) ? "" : " ", l->tsc_khz) < 0) {
                        free(s);
                        return -ENOMEM;
                }
                free(s);
                s = t;
        }
        *ret = s;
        return 0;
}

int qemu_build_argv(const VMRecord *r, const HypervisorLaunch *l, char ***ret_argv) {
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_free_ char *cmdline = NULL;
        int k;

        if (!r->boot_config || isempty(r->boot_config->kernel_path))
                return -EOPNOTSUPP;
        if (l->accel != ACCEL_KVM && l->accel != ACCEL_TCG)
                return -EINVAL;
        k = build_cmdline(r, l, &cmdline);
        if (k < 0)
                return k;

        char machine[96], smp[16], memory[32], name[128], chardev[PATH_MAX + 64], qmp[PATH_MAX + 32];
        snprintf(machine, sizeof(machine), "microvm,accel=%s,memory-backend=" MEMORY_BACKEND_ID,
                 accel_to_string(l->accel));
        snprintf(smp, sizeof(smp), "%" PRIu32, r->vm.config.cpu);
        snprintf(memory, sizeof(memory), "%" PRIu64 "M", r->vm.config.memory >> 20);
        snprintf(name, sizeof(name), "%s,process=cocoon-%s", r->vm.name, r->vm.id);
        /* The serial console is a pty, and QEMU appends everything the guest prints to the spool itself: a
         * pty takes output whether or not the manager has it open (a socket would drop it while the manager
         * is away), so the console's record lives as long as the VM, not as long as the manager. */
        if (!r->log_dir || strchr(r->log_dir, ','))
                return -EINVAL;
        snprintf(chardev, sizeof(chardev), "pty,id=console,logfile=%s/%s,logappend=on", r->log_dir,
                 CONSOLE_SPOOL_NAME);
        snprintf(qmp, sizeof(qmp), "unix:%s/%s,server=on,wait=off", r->run_dir, API_SOCKET_NAME);

        /* -no-reboot: a guest reboot ends the process, which the manager records as a power-off.
         * -sandbox: QEMU's own seccomp filter on top of the unit's; once the guest runs, QEMU never needs to
         * start a program, change its privileges or scheduling, or call obsolete system calls. */
        k = strv_extend_many(&argv, l->binary, "-name", name, "-M", machine, "-smp", smp, "-m", memory,
                          "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
                          "-sandbox", QEMU_SANDBOX,
                          "-kernel", r->boot_config->kernel_path, "-append", cmdline, NULL);
        if (k >= 0)
                k = add_memory_backend(&argv, r, l);
        if (k >= 0 && l->accel == ACCEL_KVM)
                k = strv_extend_many(&argv, "-cpu", "host", NULL);
        if (k >= 0 && !isempty(r->boot_config->initrd_path))
                k = strv_extend_many(&argv, "-initrd", r->boot_config->initrd_path, NULL);
        if (k >= 0)
                k = add_disks(&argv, r);
        if (k >= 0)
                k = add_nics(&argv, r, l);
        if (k >= 0)
                k = add_guest_network(&argv, r, l);
        if (k >= 0)
                k = strv_extend_many(&argv, "-chardev", chardev, "-serial", "chardev:console", "-qmp", qmp, NULL);
        /* A generation ID of its own for every QEMU process: a guest resumed from a snapshot (a clone, a
         * restore) sees it change and reseeds its random pool instead of repeating its source's numbers. */
        if (k >= 0)
                k = strv_extend_many(&argv, "-device", "vmgenid,guid=auto", NULL);
        if (k >= 0 && l->start_paused)
                k = strv_extend_many(&argv, "-S", NULL);
        if (k >= 0 && l->incoming)
                k = strv_extend_many(&argv, "-incoming", "defer", NULL);
        if (k < 0)
                return k;
        *ret_argv = TAKE_PTR(argv);
        return 0;
}

static int qmp_open(const char *run_dir, uint64_t timeout_usec, Qmp **ret) {
        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "%s/%s", run_dir, API_SOCKET_NAME) < 0)
                return -ENOMEM;
        return qmp_connect(path, timeout_usec, ret);
}

int qemu_resume(const char *run_dir, uint64_t timeout_usec, char **ret_error) {
        _cleanup_(qmp_freep) Qmp *q = NULL;
        _cleanup_(json_object_putp) json_object *status = NULL;
        int r = qmp_open(run_dir, timeout_usec, &q);
        if (r < 0)
                return r;
        r = qmp_execute(q, "query-status", NULL, timeout_usec, &status, ret_error);
        if (r < 0)
                return r;
        json_object *running;
        if (json_object_object_get_ex(status, "running", &running) && json_object_get_boolean(running))
                return 0;
        /* A snapshot whose manager died may still be migrating; the guest runs on without it. */
        (void) qmp_execute(q, "migrate_cancel", NULL, timeout_usec, NULL, NULL);
        return qmp_execute(q, "cont", NULL, timeout_usec, NULL, ret_error);
}

int qemu_query_console(const char *run_dir, uint64_t timeout_usec, char **ret_path, char **ret_error) {
        _cleanup_(qmp_freep) Qmp *q = NULL;
        _cleanup_(json_object_putp) json_object *chardevs = NULL;
        int r = qmp_open(run_dir, timeout_usec, &q);
        if (r < 0)
                return r;
        r = qmp_execute(q, "query-chardev", NULL, timeout_usec, &chardevs, ret_error);
        if (r < 0)
                return r;
        if (!json_object_is_type(chardevs, json_type_array))
                return -EBADMSG;
        for (size_t i = 0; i < json_object_array_length(chardevs); i++) {
                json_object *c = json_object_array_get_idx(chardevs, i), *label, *filename;
                if (!json_object_object_get_ex(c, "label", &label) ||
                    !streq_ptr(json_object_get_string(label), "console") ||
                    !json_object_object_get_ex(c, "filename", &filename))
                        continue;
                /* "pty:/dev/pts/N"; the caller checks the path before it opens anything. */
                const char *f = json_object_get_string(filename);
                if (!f || strncmp(f, "pty:", 4) != 0)
                        return -EBADMSG;
                char *path = strdup(f + 4);
                if (!path)
                        return -ENOMEM;
                *ret_path = path;
                return 0;
        }
        return -ENOENT;
}

int qemu_pause(const char *run_dir, uint64_t timeout_usec, char **ret_error) {
        _cleanup_(qmp_freep) Qmp *q = NULL;
        int r = qmp_open(run_dir, timeout_usec, &q);
        if (r < 0)
                return r;
        return qmp_execute(q, "stop", NULL, timeout_usec, NULL, ret_error);
}

/* The name the state file's descriptor has inside QEMU between getfd and the migration that takes it. */
#define MIGRATION_FD_NAME "cocoon-state"
/* QEMU 7.2 throttles migrations to 32 MiB/s by default; into a local file that only slows the save. */
#define MIGRATION_MAX_BANDWIDTH (UINT64_C(1) << 40)

static int set_error(char **ret_error, const char *message) {
        if (!ret_error)
                return 0;
        free(*ret_error);
        *ret_error = strdup(message);
        return *ret_error ? 0 : -ENOMEM;
}

static int add_capability(json_object *list, const char *name, bool state) {
        json_object *cap = json_object_new_object();
        if (!cap || json_add_string(cap, "capability", name) < 0 || json_add_bool(cap, "state", state) < 0 ||
            json_object_array_add(list, cap) < 0) {
                json_object_put(cap);
                return -ENOMEM;
        }
        return 0;
}

/* MIGRATION events are only sent with the "events" capability; the stream is a local file, so no limit.
 * x-ignore-shared leaves RAM blocks that are mapped shared out of the stream (the guest's RAM when it is a
 * file of its own); it changes the stream's format, so the loading side sets it as the saving side did. */
static int migration_setup(Qmp *q, bool ignore_shared, uint64_t timeout_usec, char **ret_error) {
        _cleanup_(json_object_putp) json_object *caps = json_object_new_object();
        _cleanup_(json_object_putp) json_object *params = json_object_new_object();
        json_object *list = json_object_new_array();
        if (!caps || !params || !list || json_add_object(caps, "capabilities", list) < 0)
                return -ENOMEM;
        if (add_capability(list, "events", true) < 0 ||
            add_capability(list, "x-ignore-shared", ignore_shared) < 0 ||
            json_object_object_add(params, "max-bandwidth",
                                   json_object_new_int64((int64_t) MIGRATION_MAX_BANDWIDTH)) < 0)
                return -ENOMEM;
        int r = qmp_execute(q, "migrate-set-capabilities", caps, timeout_usec, NULL, ret_error);
        if (r < 0)
                return r;
        return qmp_execute(q, "migrate-set-parameters", params, timeout_usec, NULL, ret_error);
}

/* Passes fd to QEMU under MIGRATION_FD_NAME. */
static int migration_pass_fd(Qmp *q, int fd, uint64_t timeout_usec, char **ret_error) {
        _cleanup_(json_object_putp) json_object *args = json_object_new_object();
        if (!args || json_add_string(args, "fdname", MIGRATION_FD_NAME) < 0)
                return -ENOMEM;
        return qmp_execute_with_fd(q, "getfd", args, fd, timeout_usec, NULL, ret_error);
}

/* Follows MIGRATION events to the end: completed is 0; failed or cancelled is -EIO with QEMU's reason. */
static int migration_wait(Qmp *q, uint64_t timeout_usec, char **ret_error) {
        for (;;) {
                _cleanup_(json_object_putp) json_object *data = NULL;
                const char *status = NULL;
                int r = qmp_wait_event(q, "MIGRATION", timeout_usec, &data);
                if (r < 0)
                        return r;
                (void) json_get_string(data, "status", &status);
                if (streq_ptr(status, "completed"))
                        return 0;
                if (!streq_ptr(status, "failed") && !streq_ptr(status, "cancelled"))
                        continue;

                _cleanup_(json_object_putp) json_object *info = NULL;
                const char *desc = NULL;
                if (qmp_execute(q, "query-migrate", NULL, timeout_usec, &info, NULL) >= 0)
                        (void) json_get_string(info, "error-desc", &desc);
                char message[512];
                snprintf(message, sizeof(message), "migration %s: %s", status, desc ?: "no reason given");
                r = set_error(ret_error, message);
                return r < 0 ? r : -EIO;
        }
}

static int migration_uri(json_object **ret) {
        _cleanup_(json_object_putp) json_object *args = json_object_new_object();
        if (!args || json_add_string(args, "uri", "fd:" MIGRATION_FD_NAME) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(args);
        return 0;
}

/* Whether the guest's RAM is our memory backend mapped shared (launched with a memory file of its own):
 * then x-ignore-shared leaves it out of the state and the file holds it. */
static int memory_is_shared_file(Qmp *q, uint64_t timeout_usec, bool *ret, char **ret_error) {
        _cleanup_(json_object_putp) json_object *memdevs = NULL;
        int r = qmp_execute(q, "query-memdev", NULL, timeout_usec, &memdevs, ret_error);
        if (r < 0)
                return r;
        if (!json_object_is_type(memdevs, json_type_array))
                return -EBADMSG;
        *ret = false;
        for (size_t i = 0; i < json_object_array_length(memdevs); i++) {
                json_object *d = json_object_array_get_idx(memdevs, i), *share;
                const char *id = NULL;
                if (json_get_string(d, "id", &id) >= 0 && streq_ptr(id, MEMORY_BACKEND_ID) &&
                    json_object_object_get_ex(d, "share", &share))
                        *ret = json_object_get_boolean(share);
        }
        return 0;
}

int qemu_snapshot(const char *run_dir, HypervisorSnapshotDir *dir, uint64_t timeout_usec,
                  char **ret_error) {
        _cleanup_(qmp_freep) Qmp *q = NULL;
        _cleanup_(json_object_putp) json_object *args = NULL;
        int r = qmp_open(run_dir, timeout_usec, &q);
        if (r < 0)
                return r;
        bool shared = false;
        r = memory_is_shared_file(q, timeout_usec, &shared, ret_error);
        if (r < 0)
                return r;
        _cleanup_close_ int fd = openat(dir->fd, QEMU_STATE_FILE_NAME,
                                        O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        if ((r = migration_setup(q, shared, timeout_usec, ret_error)) < 0 ||
            (r = migration_pass_fd(q, fd, timeout_usec, ret_error)) < 0 || (r = migration_uri(&args)) < 0 ||
            (r = qmp_execute(q, "migrate", args, timeout_usec, NULL, ret_error)) < 0 ||
            (r = migration_wait(q, timeout_usec, ret_error)) < 0 || (r = fsync(fd) < 0 ? -errno : 0) < 0) {
                /* A migration still writing must not go on into a file that is gone. */
                (void) qmp_execute(q, "migrate_cancel", NULL, timeout_usec, NULL, NULL);
                (void) unlinkat(dir->fd, QEMU_STATE_FILE_NAME, 0);
                return r;
        }
        dir->memory_file = shared;
        return 0;
}

int qemu_clone(const char *run_dir, const HypervisorSnapshotDir *dir, uint64_t timeout_usec,
               char **ret_error) {
        _cleanup_(qmp_freep) Qmp *q = NULL;
        _cleanup_(json_object_putp) json_object *args = NULL;
        int r = qmp_open(run_dir, timeout_usec, &q);
        if (r < 0)
                return r;
        _cleanup_close_ int fd = openat(dir->fd, QEMU_STATE_FILE_NAME, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        if ((r = migration_setup(q, dir->memory_file, timeout_usec, ret_error)) < 0 ||
            (r = migration_pass_fd(q, fd, timeout_usec, ret_error)) < 0 || (r = migration_uri(&args)) < 0 ||
            (r = qmp_execute(q, "migrate-incoming", args, timeout_usec, NULL, ret_error)) < 0)
                return r;
        return migration_wait(q, timeout_usec, ret_error);
}

int qemu_disk_grown(const char *run_dir, size_t index, uint64_t size, uint64_t timeout_usec,
                    char **ret_error) {
        _cleanup_(qmp_freep) Qmp *q = NULL;
        _cleanup_(json_object_putp) json_object *args = json_object_new_object();
        char device[32];
        snprintf(device, sizeof(device), "disk%zu", index);
        if (!args || json_add_string(args, "device", device) < 0 ||
            json_add_int64(args, "size", (int64_t) MIN(size, (uint64_t) INT64_MAX)) < 0)
                return -ENOMEM;
        int r = qmp_open(run_dir, timeout_usec, &q);
        if (r < 0)
                return r;
        return qmp_execute(q, "block_resize", args, timeout_usec, NULL, ret_error);
}

int qemu_set_links(const char *run_dir, size_t n_nics, bool up, uint64_t timeout_usec, char **ret_error) {
        _cleanup_(qmp_freep) Qmp *q = NULL;
        int r = qmp_open(run_dir, timeout_usec, &q);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n_nics; i++) {
                _cleanup_(json_object_putp) json_object *args = json_object_new_object();
                char netdev[32];
                /* The netdev's id (add_nics()): QEMU sets the link of the virtio-net device it backs. */
                snprintf(netdev, sizeof(netdev), "net%zu", i);
                if (!args || json_add_string(args, "name", netdev) < 0 || json_add_bool(args, "up", up) < 0)
                        return -ENOMEM;
                r = qmp_execute(q, "set_link", args, timeout_usec, NULL, ret_error);
                if (r < 0)
                        return r;
        }
        return 0;
}

int qemu_nics_current(const char *run_dir, const NetworkConfig *nics, size_t n_nics, uint64_t timeout_usec,
                      bool *ret, char **ret_error) {
        _cleanup_(qmp_freep) Qmp *q = NULL;
        _cleanup_(json_object_putp) json_object *filters = NULL;
        int r = qmp_open(run_dir, timeout_usec, &q);
        if (r < 0)
                return r;
        /* Every NIC's: QEMU names devices without an id itself, so match by MAC, not by name. */
        r = qmp_execute(q, "query-rx-filter", NULL, timeout_usec, &filters, ret_error);
        if (r < 0)
                return r;
        if (!json_object_is_type(filters, json_type_array))
                return -EBADMSG;
        *ret = true;
        for (size_t i = 0; i < n_nics; i++) {
                bool found = !nics[i].mac;
                for (size_t j = 0; !found && j < json_object_array_length(filters); j++) {
                        const char *mac = NULL;
                        (void) json_get_string(json_object_array_get_idx(filters, j), "main-mac", &mac);
                        found = mac && strcasecmp(mac, nics[i].mac) == 0;
                }
                if (!found)
                        *ret = false;
        }
        return 0;
}

int qemu_request_powerdown(const char *run_dir, uint64_t timeout_usec, char **ret_error) {
        _cleanup_(qmp_freep) Qmp *q = NULL;
        int r = qmp_open(run_dir, timeout_usec, &q);
        if (r < 0)
                return r;
        return qmp_execute(q, "system_powerdown", NULL, timeout_usec, NULL, ret_error);
}

/* What -cpu gives the guest: the host's CPU under KVM, QEMU's default model under TCG. */
static const char *qemu_cpu_model(Accel accel) {
        return accel == ACCEL_KVM ? "host" : "qemu64";
}

static const char *const qemu_start_calls[] = {
        "qmp_capabilities", "query-chardev (the console pty)", "query-status", "cont (when paused)",
        "from a snapshot, with NICs: set_link off before cont, query-rx-filter until the guest uses the NICs' "
        "MACs, set_link on",
        NULL,
};

const Hypervisor hypervisor_qemu = {
        .type = "qemu",
        .default_binary = "qemu-system-x86_64",
        .taps_multiqueue = true,
        .machine = "microvm",
        .overlay_cmdline_head = "console=ttyS0 loglevel=3",
        .console_spool = true,
        .start_calls = qemu_start_calls,
        .cpu_model = qemu_cpu_model,
        .build_argv = qemu_build_argv,
        .resume = qemu_resume,
        .pause = qemu_pause,
        .snapshot = qemu_snapshot,
        .clone = qemu_clone,
        .disk_grown = qemu_disk_grown,
        .set_links = qemu_set_links,
        .nics_current = qemu_nics_current,
        .request_shutdown = qemu_request_powerdown,
        .query_console = qemu_query_console,
};
