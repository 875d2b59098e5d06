/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The manager's configuration: /etc/cocoon/cocoon.conf plus cocoon.conf.d/ drop-ins, INI like systemd's. */
#pragma once

#include <errno.h>
#include <stdint.h>

/* How QEMU runs guests: kvm on hosts with hardware virtualization, tcg (emulation) anywhere; auto picks. */
typedef enum Accel {
        ACCEL_AUTO,
        ACCEL_KVM,
        ACCEL_TCG,
        _ACCEL_MAX,
        _ACCEL_INVALID = -EINVAL,
} Accel;

/* "auto", "kvm", "tcg". */
const char *accel_to_string(Accel a);
Accel accel_from_string(const char *s);

/* Defaults in brackets.
 * [Manager]         StopTimeoutSec= [30]   how long a graceful stop waits for the guest (seconds, > 0)
 *                   KillGraceSec= [5]      SIGTERM -> SIGKILL window of a VM's unit (seconds, > 0)
 *                   PoolSize= [online CPUs, at least 8] parallel items of a batch operation (1..1024)
 *                   DefaultBackend= [auto] a backend this build implements (hypervisor_table), or auto:
 *                                          cloud-hypervisor when its binary is available, else qemu
 *                   ConsoleLogMaxBytes= [1M] size cap of a VM's console.log (a size: 512K, 1M, 1048576; > 0)
 * [QEMU]            Accel= [auto]          auto | kvm | tcg
 *                   Binary= [qemu-system-x86_64] a name looked up in $PATH or an absolute path
 * [Network]         DNS= [none]            IPv4 name servers for guests with static NICs (the first two)
 *                   ConfigDirectory= [/etc/cni/net.d] where CNI conflists (*.conflist) are read
 *                   PluginDirectory= [/usr/lib/cni]   where CNI plugins are run from (absolute paths)
 * [Images]          PullParallel= [3]      layers an image pull fetches at once (1..64)
 *                   InsecureRegistries= [none] registries (host[:port], space-separated) pulled from over
 *                                          plain HTTP; a later assignment replaces the list
 *                   UnpackMemory= [a quarter of the RAM] memory (tmpfs) a pull unpacks layers in before
 *                                          making their images (a size; 0: on disk only)

 * [CloudHypervisor] Binary= [cloud-hypervisor]  the same
 * [Firecracker]     Binary= [firecracker]       the same */
typedef struct CocoonConfig {
        uint64_t stop_timeout_usec;
        uint64_t kill_grace_usec;
        unsigned pool_size;
        char *default_backend;
        uint64_t console_log_max_bytes;
        Accel qemu_accel;
        char *qemu_binary;
        char **network_dns; /* NULL: none */
        char *cni_config_dir;
        char *cni_plugin_dir;
        unsigned pull_parallel;
        char **insecure_registries; /* NULL: none */
        uint64_t unpack_memory;
        char *cloud_hypervisor_binary;
        char *firecracker_binary;
        /* What was ignored, one line each ("<file>:<line>: Unknown setting Foo= in [Manager], ignored."):
         * an unknown section (once, not per key in it) or an unknown key of a known section. NULL: none. */
        char **warnings;
} CocoonConfig;

#define COCOON_CONFIG_POOL_SIZE_MAX 1024U
#define COCOON_CONFIG_PULL_PARALLEL_MAX 64U

/* Frees the members; the struct may be reused after cocoon_config_defaults(). */
void cocoon_config_done(CocoonConfig *c);

/* Fills *ret with the built-in defaults. */
int cocoon_config_defaults(CocoonConfig *ret);

/* Loads the defaults, then path (NULL: the configured COCOON_CONF_FILE), then <path>.d/ *.conf in
 * lexical order; later files override earlier ones key by key. A missing file or drop-in directory is
 * fine. Syntax: [Section] headers, Key=Value lines, blank lines, comments starting with '#' or ';';
 * whitespace around names and values is trimmed; no line continuation. Unknown sections and keys are
 * ignored, so newer files work with older managers, and listed in ret->warnings for the caller to show (a
 * typo must not go unnoticed). A line that is not a section or
 * an assignment, an assignment before the first section, or a bad value is -EINVAL, and *ret_error
 * (optional, set only on failure) says "<file>:<line>: <what>"; other failures (e.g. -EACCES reading a
 * file) set it to "<file>: <error>". */
int cocoon_config_load(const char *path, CocoonConfig *ret, char **ret_error);

/* DefaultBackend= value that picks a backend by what the host has. */
#define COCOON_BACKEND_AUTO "auto"

/* The binary configured for a backend (hypervisor_table's type name), NULL for a backend without one. */
const char *cocoon_config_backend_binary(const CocoonConfig *c, const char *backend);
/* The same, as the field itself: the manager replaces it with the absolute path it resolved. */
char **cocoon_config_backend_binary_field(CocoonConfig *c, const char *backend);
