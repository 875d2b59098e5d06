/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared by all hypervisor backends: kernel ip= parameters, base files, blob pins, runtime files, socket. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "time-util.h"
#include "vm-types.h"

/* Names inside a VM's run directory. */
#define API_SOCKET_NAME "api.sock"
/* The guest's RAM of a booted VM (tmpfs, like all of the run directory: never written back to a disk). */
#define MEMORY_FILE_NAME "ram"
/* In a VM's state directory (<state>/vms/<id>), for backends that take snapshot state by path
 * (Hypervisor.state_by_path): the one directory of it the hypervisor may write, where it saves and loads
 * its state. On the same file system as the snapshot store, so files move by rename and link. */
#define VMM_STATE_DIR_NAME "vmm-state"
/* The well-known virtio serial of the COW disk of OCI VMs; the guest's init looks for it. */
#define COW_SERIAL VM_COW_SERIAL
/* A record still "creating" after this long is a crash remnant that GC may remove. */
#define CREATING_STATE_GC_GRACE_USEC (UINT64_C(24) * 3600U * USEC_PER_SEC)

/* Kernel parameters for the NICs' static addresses, always starting with a space:
 *   " cocoon.hostname=<vm_name>" then, for every NIC i with an address,
 *   " ip=<ip>::<gateway>:<netmask>:<vm_name>:eth<i>:off" plus ":<dns0>" and ":<dns1>" when given.
 * NICs without an address keep their index (eth<i> follows the NIC's position). Only the first two DNS
 * servers are used (the kernel's ip= has two slots); dns may be NULL. The hostname part is emitted even for
 * n == 0: callers append the result only when the VM has at least one NIC (the guest contract).
 * Addresses, gateways and DNS servers must be IPv4 dotted quads and the name a valid VM name, else -EINVAL
 * (anything else could inject kernel parameters). */
int build_ip_params(const NetworkConfig *nics, size_t n, const char *vm_name, char *const *dns, char **ret);

/* The guest network contract beyond boot (docs/architecture.md, "The guest's network identity"): the text a
 * guest reads at any time, also after it resumed from another VM's memory (a clone), from the QEMU fw_cfg item
 * GUEST_NETWORK_FW_CFG_NAME. One line "cocoon.hostname=<vm_name>", then one line per NIC i:
 *   "eth<i>[ mac=<mac>] ip=<the NIC's ip= parameter, as build_ip_params() writes it>"  (static address)
 *   "eth<i>[ mac=<mac>] dhcp"                                                           (no address)
 * each ending in a newline, then newlines up to exactly GUEST_NETWORK_SIZE bytes: the guest's qemu_fw_cfg
 * driver reads an item's size once, when it loads, while it reads the contents live. *ret is that text,
 * NUL-terminated. -EINVAL for what build_ip_params() refuses and for a MAC other than six hex pairs,
 * -E2BIG when the text does not fit. */
#define GUEST_NETWORK_FW_CFG_NAME "opt/io.cocoon/network"
#define GUEST_NETWORK_SIZE 4096U
int build_guest_network(const NetworkConfig *nics, size_t n, const char *vm_name, char *const *dns,
                        char **ret);

/* The guest's name of the virtio disk at index i of the storage list, where disks get names in the order
 * they are attached: 0 -> "vda", 25 -> "vdz", 26 -> "vdaa", 27 -> "vdab", 52 -> "vdba". */
int virtio_disk_name(size_t i, char **ret);
/* How the guest finds s, disk i of the storage list, on its kernel command line: its serial, or with by_path
 * (Hypervisor.disks_by_path: the hypervisor gives disks no serial) its device path /dev/vd<x>. -EINVAL for
 * a disk without a serial when by serial. */
int guest_disk_ref(const StorageConfig *s, size_t i, bool by_path, char **ret);

/* The kernel command line of a VM booting an OCI image, as the guest contract (cocoon-behavior.md 4.1, 5.1,
 * 7.6) has it: "<head> boot=cocoon-overlay cocoon.layers=<layers, top first> cocoon.cow=<cow>
 * clocksource=kvm-clock rw", then " <extra>" when extra is not empty. Layers are the storage entries of
 * role layer, base first in the list (so listed in reverse order), each named by its serial, or with
 * by_path by its device path /dev/vd<x> (virtio_disk_name() of its index); the COW disk likewise.
 * -EINVAL without a layer, a COW disk or head. */
int build_overlay_cmdline(const char *head, bool by_path, const StorageConfig *storage, size_t n,
                          const char *extra, char **ret);

/* Dotted IPv4 netmask of a /prefix: 24 -> "255.255.255.0". -EINVAL unless 0 <= prefix <= 32. */
int prefix_to_netmask(int prefix, char **ret);

/* EROFS (linux/fs/erofs/erofs_fs.h): the superblock's place, magic and the bytes of it we read (blkszbits at
 * 12, blocks at 36, little endian). */
#define EROFS_SUPER_OFFSET 1024
#define EROFS_SUPER_MAGIC UINT32_C(0xE0F5E1E2)
#define EROFS_SUPER_SIZE 40

/* Checks that every layer disk and the kernel, initrd and firmware (when set) exist and are regular files
 * (symlinks followed), and that each "*.erofs" file is an EROFS image at least as large as its superblock
 * says (its size is not recorded anywhere else). -ENOENT for a missing file, -EISDIR for a directory,
 * -EBADFD for another kind of file, -EBADMSG for a truncated or non-EROFS "*.erofs" file, or the stat() or
 * read error; on failure *ret_bad_path (optional) gets a copy of the offending path (NULL if
 * that copy fails). boot may be NULL. */
int verify_base_files(const StorageConfig *storage, size_t n, const BootConfig *boot, char **ret_bad_path);

/* The stem of a blob file: its basename without the last extension, as the seed's BlobHexFromPath:
 * ".../blobs/abc123.erofs" -> "abc123", "/x/a.tar.gz" -> "a.tar". A pure string operation (it does not check
 * for a digest: image_blob_hex_is_valid() does); -EINVAL when the stem is empty. */
int blob_hex_from_path(const char *path, char **ret);

/* The image blobs a VM pins against image GC, as a sorted strv of unique digests (never NULL, maybe empty).
 * Looks at every disk path and the kernel, initrd and firmware paths; a path pins digest <d> when it is
 *   .../blobs/<d>[.ext...]  (a content-addressed blob file), or
 *   .../<d>/<file>          (a file in a per-digest directory, e.g. a kernel extracted from layer <d>),
 * with <d> a valid blob hex. Anything else (the VM's own cow.raw, a system firmware file) pins nothing. */
int extract_blob_ids(const StorageConfig *storage, size_t n, const BootConfig *boot, char ***ret);

/* Removes both directories recursively; NULL, empty or missing is fine. Tries both, returns the first
 * error. */
int remove_vm_dirs(const char *run_dir, const char *log_dir);

/* What the guests' RAM files under vms_run_dir (<vms_run_dir>/<id>/ram, and <id>/r/ram of a restored VM) may
 * still claim of their file system: each file's size less the blocks it has. tmpfs reserves nothing, so a
 * start must leave room for these or a running guest dies (SIGBUS) on its next new page. A missing
 * directory counts nothing. */
int memory_files_unclaimed(const char *vms_run_dir, uint64_t *ret);

/* Unlinks each name (a plain file name, no '/') in run_dir; a missing file or run_dir is fine. files is
 * NULL-terminated. Tries all, returns the first error (-EINVAL for a name with '/'). */
int cleanup_runtime_files(const char *run_dir, const char *const *files);

/* Waits until the Unix stream socket at path accepts a connection (0), while the process pid lives.
 * The process is watched through a pidfd, so its death (a zombie counts as dead) is noticed at once:
 * -ESRCH. -ETIMEDOUT after timeout_usec; another connect() error (e.g. -EACCES) is returned as is. */
int wait_for_socket(const char *path, pid_t pid, uint64_t timeout_usec);
/* The same for a pidfd the caller owns (e.g. from pidfd_open() right after spawning). */
int wait_for_socket_pidfd(const char *path, int pidfd, uint64_t timeout_usec);
