/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The properties of a VM's transient unit, as StartTransientUnit takes them: what runs, and how confined. */
#include <inttypes.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>

#include "bus-unit-internal.h"
#include "strv-util.h"

static int append_string_property(sd_bus_message *m, const char *name, const char *value) {
        return sd_bus_message_append(m, "(sv)", name, "s", value);
}

static int append_strv_property(sd_bus_message *m, const char *name, char **l) {
        int r;

        r = sd_bus_message_open_container(m, 'r', "sv");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", name);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'v', "as");
        if (r >= 0)
                r = sd_bus_message_append_strv(m, l);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r;
}

/* ExecStart= a(sasb) (ex_flags NULL: a failure fails the unit unless ignore_failure) or an Ex property such
 * as ExecStopEx= a(sasas), whose flag strings can say more ("privileged"): one command, argv[0] its
 * absolute path. */
static int append_exec(sd_bus_message *m, const char *property, char **argv, char **ex_flags,
                       bool ignore_failure) {
        bool ex = ex_flags != NULL;
        int r;

        r = sd_bus_message_open_container(m, 'r', "sv");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", property);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'v', ex ? "a(sasas)" : "a(sasb)");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', ex ? "(sasas)" : "(sasb)");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'r', ex ? "sasas" : "sasb");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", argv[0]);
        if (r >= 0)
                r = sd_bus_message_append_strv(m, argv);
        if (r >= 0)
                r = ex ? sd_bus_message_append_strv(m, ex_flags)
                       : sd_bus_message_append(m, "b", ignore_failure);
        for (int i = 0; r >= 0 && i < 4; i++)
                r = sd_bus_message_close_container(m);
        return r;
}

/* Opens "(sv)" with the variant's contents of the given signature; closed by close_property(). */
static int open_property(sd_bus_message *m, const char *name, const char *contents) {
        int r = sd_bus_message_open_container(m, 'r', "sv");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", name);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'v', contents);
        return r;
}

static int close_property(sd_bus_message *m) {
        int r = sd_bus_message_close_container(m);
        return r < 0 ? r : sd_bus_message_close_container(m);
}

/* (bas): an allow-list (SystemCallFilter=, RestrictAddressFamilies=). */
static int append_allow_list(sd_bus_message *m, const char *name, char **l) {
        int r = open_property(m, name, "(bas)");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'r', "bas");
        if (r >= 0)
                r = sd_bus_message_append(m, "b", 1);
        if (r >= 0)
                r = sd_bus_message_append_strv(m, l);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r < 0 ? r : close_property(m);
}

/* a(ssbt): BindPaths=/BindReadOnlyPaths=, each path at the same place inside, not recursive. */
static int append_bind_paths(sd_bus_message *m, const char *name, char **paths) {
        int r = open_property(m, name, "a(ssbt)");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "(ssbt)");
        for (char **p = paths; r >= 0 && p && *p; p++)
                r = sd_bus_message_append(m, "(ssbt)", *p, *p, 0, (uint64_t) 0);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r < 0 ? r : close_property(m);
}

/* a(ssbt): BindPaths= of pairs, each source shown at its destination (a second BindPaths= adds to the
 * first). */
static int append_bind_redirects(sd_bus_message *m, char **pairs) {
        int r = open_property(m, "BindPaths", "a(ssbt)");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "(ssbt)");
        for (char **p = pairs; r >= 0 && p && p[0] && p[1]; p += 2)
                r = sd_bus_message_append(m, "(ssbt)", p[0], p[1], 0, (uint64_t) 0);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r < 0 ? r : close_property(m);
}

/* a(ss): (path, second) for each path: TemporaryFileSystem= (options), DeviceAllow= (access). */
static int append_path_pairs(sd_bus_message *m, const char *name, char **paths, const char *second) {
        int r = open_property(m, name, "a(ss)");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "(ss)");
        for (char **p = paths; r >= 0 && p && *p; p++)
                r = sd_bus_message_append(m, "(ss)", *p, second);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r < 0 ? r : close_property(m);
}

/* IPAddressDeny=any: no IPv4 or IPv6 traffic, even if a socket family slipped through. */
static int append_ip_deny_any(sd_bus_message *m) {
        static const uint8_t any[16] = {};
        int r = open_property(m, "IPAddressDeny", "a(iayu)");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "(iayu)");
        for (int i = 0; r >= 0 && i < 2; i++) {
                int family = i == 0 ? AF_INET : AF_INET6;
                r = sd_bus_message_open_container(m, 'r', "iayu");
                if (r >= 0)
                        r = sd_bus_message_append(m, "i", family);
                if (r >= 0)
                        r = sd_bus_message_append_array(m, 'y', any, family == AF_INET ? 4 : 16);
                if (r >= 0)
                        r = sd_bus_message_append(m, "u", (uint32_t) 0);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r < 0 ? r : close_property(m);
}

/* Switched on for every confined hypervisor. */
static const char *const sandbox_booleans[] = {
        "NoNewPrivileges", "PrivateTmp",          "RemoveIPC",          "ProtectKernelTunables",
        "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups", "ProtectClock",
        "ProtectHostname",      "RestrictRealtime",  "RestrictSUIDSGID",     "LockPersonality",
};

static const struct {
        const char *name;
        const char *value;
} sandbox_strings[] = {
        { "ProtectSystem", "strict" },
        { "ProtectHome", "yes" },
        { "DevicePolicy", "closed" },
        { "ProtectProc", "invisible" }, /* other processes are not even listed */
        { "ProcSubset", "pid" },        /* no /proc/sys, /proc/kallsyms, ... */
};

/* What QEMU 7.2 calls (TCG, and KVM's ioctls): @system-service, and seccomp() for its -sandbox filter. */
static char *const sandbox_syscalls[] = { (char *) "@system-service", (char *) "seccomp", NULL };
static char *const sandbox_families[] = { (char *) "AF_UNIX", NULL };
static char *const sandbox_architectures[] = { (char *) "native", NULL };

static int append_sandbox_properties(sd_bus_message *m, const UnitSpec *spec) {
        const UnitSandbox *sb = spec->sandbox;
        bool devices = sb->device_allow && sb->device_allow[0];
        int r = 0;

        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(sandbox_booleans); i++)
                if (!sb->allow_suid_sgid || !streq(sandbox_booleans[i], "RestrictSUIDSGID"))
                        r = sd_bus_message_append(m, "(sv)", sandbox_booleans[i], "b", 1);
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(sandbox_strings); i++)
                r = append_string_property(m, sandbox_strings[i].name, sandbox_strings[i].value);
        if (r >= 0)
                /* No capabilities (a helper: only those it names), none to gain, no namespaces of its own,
                 * files for itself only. */
                r = sd_bus_message_append(m, "(sv)(sv)(sv)(sv)", "CapabilityBoundingSet", "t",
                                          sb->capabilities,
                                          "AmbientCapabilities", "t", (uint64_t) 0,
                                          "RestrictNamespaces", "t", (uint64_t) 0,
                                          "UMask", "u", (uint32_t) 0077);
        if (r >= 0)
                r = sd_bus_message_append(m, "(sv)(sv)", "MemoryDenyWriteExecute", "b",
                                          !sb->allow_write_execute, "PrivateDevices", "b",
                                          !devices && !(sb->capabilities & (UINT64_C(1) << CAP_MKNOD)));
        if (r >= 0 && !spec->network_namespace_path && !sb->host_network)
                /* No NIC: nothing to reach, not even loopback. (A TAP is opened by name, in the namespace
                 * it lives in; QEMU reaches it through /dev/net/tun, no socket.) */
                r = sd_bus_message_append(m, "(sv)", "PrivateNetwork", "b", 1);
        if (r >= 0)
                r = append_strv_property(m, "SystemCallArchitectures", (char **) sandbox_architectures);
        if (r >= 0)
                r = append_allow_list(m, "SystemCallFilter", (char **) sandbox_syscalls);
        if (r >= 0)
                r = append_allow_list(m, "RestrictAddressFamilies", (char **) sandbox_families);
        if (r >= 0)
                r = append_ip_deny_any(m);
        if (r >= 0 && sb->user)
                r = append_string_property(m, "User", sb->user);
        /* The hidden directories first: the bind mounts below land inside them. */
        if (r >= 0)
                r = append_path_pairs(m, "TemporaryFileSystem", sb->hidden_paths, "ro");
        if (r >= 0 && sb->scratch_path) {
                char options[64], *paths[] = {(char *) sb->scratch_path, NULL};

                snprintf(options, sizeof(options), "mode=0700,size=%" PRIu64, sb->scratch_size);
                r = append_path_pairs(m, "TemporaryFileSystem", paths, options);
        }
        if (r >= 0)
                r = append_bind_paths(m, "BindPaths", sb->bind_paths);
        if (r >= 0)
                r = append_bind_paths(m, "BindReadOnlyPaths", sb->bind_read_only_paths);
        if (r >= 0 && sb->bind_redirects)
                r = append_bind_redirects(m, sb->bind_redirects);
        if (r >= 0)
                r = append_path_pairs(m, "DeviceAllow", sb->device_allow, "rw");
        return r;
}

int bus_append_unit_properties(sd_bus_message *m, const UnitSpec *spec) {
        int r;

        r = sd_bus_message_open_container(m, 'a', "(sv)");
        if (r < 0)
                return r;

        r = sd_bus_message_append(m, "(sv)(sv)(sv)(sv)(sv)(sv)(sv)",
                                  /* exec failures fail the start job */
                                  "Type", "s", spec->oneshot ? "oneshot" : "exec",
                                  "KillMode", "s", "mixed",     /* SIGTERM the VMM, SIGKILL the rest */
                                  "SendSIGKILL", "b", 1,
                                  "CollectMode", "s", "inactive-or-failed",
                                  "AddRef", "b", 0,             /* the VM outlives our connection */
                                  "MemoryAccounting", "b", 1,   /* for MemoryCurrent and CPUUsageNSec */
                                  "CPUAccounting", "b", 1);
        if (r >= 0 && spec->description)
                r = append_string_property(m, "Description", spec->description);
        if (r >= 0 && spec->slice)
                r = append_string_property(m, "Slice", spec->slice);
        if (r >= 0 && spec->timeout_stop_usec > 0)
                r = sd_bus_message_append(m, "(sv)", "TimeoutStopUSec", "t", spec->timeout_stop_usec);
        if (r >= 0 && spec->working_directory)
                r = append_string_property(m, "WorkingDirectory", spec->working_directory);
        if (r >= 0 && spec->stdout_path)
                r = append_string_property(m, "StandardOutputFileToAppend", spec->stdout_path);
        if (r >= 0 && spec->stdout_path)
                r = append_string_property(m, "StandardErrorFileToAppend", spec->stdout_path);
        /* Said, not left to DefaultStandardOutput= of the host: the hypervisor's output is read back from
         * the journal when a start fails. stderr inherits it. */
        if (r >= 0 && !spec->stdout_path && spec->console_output_path)
                r = append_string_property(m, "StandardOutputFileToAppend", spec->console_output_path);
        if (r >= 0 && !spec->stdout_path && spec->console_output_path)
                r = append_string_property(m, "StandardError", "journal");
        if (r >= 0 && !spec->stdout_path && !spec->console_output_path)
                r = append_string_property(m, "StandardOutput", "journal");
        if (r >= 0 && spec->stdin_fd > 0)
                r = sd_bus_message_append(m, "(sv)", "StandardInputFileDescriptor", "h", spec->stdin_fd);
        if (r >= 0 && spec->environment && spec->environment[0])
                r = append_strv_property(m, "Environment", spec->environment);
        if (r >= 0 && spec->network_namespace_path)
                r = append_string_property(m, "NetworkNamespacePath", spec->network_namespace_path);
        if (r >= 0 && spec->sandbox)
                r = append_sandbox_properties(m, spec);
        if (r >= 0)
                /* A failing hypervisor fails the unit. */
                r = append_exec(m, "ExecStart", spec->argv, NULL, false);
        /* The stop helper may wait longer than TimeoutStopUSec= (the kill grace) for the guest and says so
         * with EXTEND_TIMEOUT_USEC=, which systemd takes only with NotifyAccess=all from a control process
         * (NotifyAccess=exec does not exist in systemd 252). Its failure never fails the unit. It runs
         * privileged ("+"), outside the hypervisor's sandbox: the helper may live where the VM user cannot
         * reach it (a build tree under /root, hidden by ProtectHome=), and it only reads ./stop-timeout and
         * waits for $MAINPID. */
        static char *const stop_flags[] = { (char *) "ignore-failure", (char *) "privileged", NULL };
        if (r >= 0 && spec->exec_stop)
                r = append_exec(m, "ExecStopEx", spec->exec_stop, (char **) stop_flags, true);
        if (r >= 0 && spec->exec_stop)
                r = append_string_property(m, "NotifyAccess", "all");
        if (r >= 0 && spec->exec_stop_post)
                r = append_exec(m, "ExecStopPostEx", spec->exec_stop_post, (char **) stop_flags, true);
        if (r < 0)
                return r;

        return sd_bus_message_close_container(m);
}

static bool strv_paths_absolute(char *const *l) {
        for (char *const *p = l; p && *p; p++)
                if ((*p)[0] != '/')
                        return false;
        return true;
}

static bool unit_sandbox_is_valid(const UnitSandbox *sb) {
        /* A hidden "/" would leave the hypervisor nothing to run. */
        for (char **p = sb->hidden_paths; p && *p; p++)
                if (streq(*p, "/"))
                        return false;
        /* Devices are paths or classes such as "char-pts". */
        for (char **d = sb->device_allow; d && *d; d++)
                if ((*d)[0] != '/' && strncmp(*d, "char-", 5) != 0 && strncmp(*d, "block-", 6) != 0)
                        return false;
        return (!sb->user || sb->user[0] != '\0') && strv_paths_absolute(sb->hidden_paths) &&
               strv_paths_absolute(sb->bind_paths) && strv_paths_absolute(sb->bind_read_only_paths) &&
               strv_paths_absolute(sb->bind_redirects) && strv_length(sb->bind_redirects) % 2 == 0;
}

bool unit_spec_is_valid(const UnitSpec *spec) {
        return spec && spec->argv && spec->argv[0] && spec->argv[0][0] == '/' &&
               (!spec->stdout_path || spec->stdout_path[0] == '/') &&
               (!spec->console_output_path || spec->console_output_path[0] == '/') &&
               (!spec->working_directory || spec->working_directory[0] == '/') &&
               (!spec->network_namespace_path || spec->network_namespace_path[0] == '/') &&
               (!spec->exec_stop || (spec->exec_stop[0] && spec->exec_stop[0][0] == '/')) &&
               (!spec->exec_stop_post || (spec->exec_stop_post[0] && spec->exec_stop_post[0][0] == '/')) &&
               (!spec->sandbox || unit_sandbox_is_valid(spec->sandbox));
}
