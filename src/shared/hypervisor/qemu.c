/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The QEMU backend: the command line a VM record launches with, and its QMP conversations. */
#include <errno.h>
#include <limits.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static int argv_add(char ***argv, const char *s) {
        return strv_extend(argv, s);
}

/* Appends every argument up to the terminating NULL. */
static int argv_add_many(char ***argv, ...) {
        va_list ap;
        int r = 0;
        va_start(ap, argv);
        for (const char *s = va_arg(ap, const char *); s && r >= 0; s = va_arg(ap, const char *))
                r = strv_extend(argv, s);
        va_end(ap);
        return r;
}

static int argv_addf(char ***argv, const char *format, ...) _printf_(2, 3);
static int argv_addf(char ***argv, const char *format, ...) {
        va_list ap;
        char *s;
        va_start(ap, format);
        int k = vasprintf(&s, format, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        int r = strv_push(argv, s);
        if (r < 0)
                free(s);
        return r;
}

static int add_disks(char ***argv, const VMRecord *r) {
        for (size_t i = 0; i < r->vm.n_storage_configs; i++) {
                const StorageConfig *s = r->vm.storage_configs + i;
                bool qcow2 = strlen(s->path) > 6 && streq(s->path + strlen(s->path) - 6, ".qcow2");
                /* Commas in paths would split QEMU's option syntax; our paths never have them. */
                if (strchr(s->path, ','))
                        return -EINVAL;
                int k = argv_add(argv, "-drive");
                if (k >= 0)
                        k = argv_addf(argv, "file=%s,format=%s,if=none,id=disk%zu%s%s", s->path,
                                      qcow2 ? "qcow2" : "raw", i, s->read_only ? ",readonly=on" : "",
                                      s->read_only ? "" : ",discard=unmap");
                if (k >= 0)
                        k = argv_add(argv, "-device");
                if (k >= 0)
                        k = argv_addf(argv, "virtio-blk-device,drive=disk%zu%s%s", i,
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
                /* A queue pair per vCPU when the TAP is multiqueue (numQueues counts rx and tx). */
                char queues[32] = "";
                bool mq = n->num_queues > 2;
                if (mq)
                        snprintf(queues, sizeof(queues), ",queues=%" PRIu32, n->num_queues / 2);
                int k = argv_add(argv, "-netdev");
                if (k >= 0)
                        k = argv_addf(argv, "tap,id=net%zu,ifname=%s,script=no,downscript=no%s%s", i, n->tap,
                                      queues, l->vhost_net ? ",vhost=on" : "");
                if (k >= 0)
                        k = argv_add(argv, "-device");
                if (k >= 0)
                        k = argv_addf(argv, "virtio-net-device,netdev=net%zu%s%s%s", i, n->mac ? ",mac=" : "",
                                      n->mac ?: "", mq ? ",mq=on" : "");
                if (k < 0)
                        return k;
        }
        return 0;
}

static int build_cmdline(const VMRecord *r, const HypervisorLaunch *l, char **ret) {
        const char *base = r->boot_config->cmdline ?: "";
        _cleanup_free_ char *ip = NULL;
        char *s;

        /* The guest contract (cocoon-behavior.md 3.1): with NICs, stable eth<i> names, the hostname and
         * each static address; NICs without one (bridge mode) use DHCP. */
        if (r->vm.n_network_configs > 0) {
                int k = build_ip_params(r->vm.network_configs, r->vm.n_network_configs, r->vm.name, NULL,
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

        char machine[64], smp[16], memory[32], name[128], chardev[PATH_MAX + 64], qmp[PATH_MAX + 32];
        snprintf(machine, sizeof(machine), "microvm,accel=%s", accel_to_string(l->accel));
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
        k = argv_add_many(&argv, l->binary, "-name", name, "-M", machine, "-smp", smp, "-m", memory,
                          "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
                          "-sandbox", QEMU_SANDBOX,
                          "-kernel", r->boot_config->kernel_path, "-append", cmdline, NULL);
        if (k >= 0 && l->accel == ACCEL_KVM)
                k = argv_add_many(&argv, "-cpu", "host", NULL);
        if (k >= 0 && !isempty(r->boot_config->initrd_path))
                k = argv_add_many(&argv, "-initrd", r->boot_config->initrd_path, NULL);
        if (k >= 0)
                k = add_disks(&argv, r);
        if (k >= 0)
                k = add_nics(&argv, r, l);
        if (k >= 0)
                k = argv_add_many(&argv, "-chardev", chardev, "-serial", "chardev:console", "-qmp", qmp, NULL);
        if (k >= 0 && l->start_paused)
                k = argv_add_many(&argv, "-S", NULL);
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

int qemu_request_powerdown(const char *run_dir, uint64_t timeout_usec, char **ret_error) {
        _cleanup_(qmp_freep) Qmp *q = NULL;
        int r = qmp_open(run_dir, timeout_usec, &q);
        if (r < 0)
                return r;
        return qmp_execute(q, "system_powerdown", NULL, timeout_usec, NULL, ret_error);
}

const Hypervisor hypervisor_qemu = {
        .type = "qemu",
        .default_binary = "qemu-system-x86_64",
        .build_argv = qemu_build_argv,
        .resume = qemu_resume,
        .request_shutdown = qemu_request_powerdown,
        .query_console = qemu_query_console,
};
